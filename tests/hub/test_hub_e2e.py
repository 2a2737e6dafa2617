"""The course on a real JupyterHub, end to end in a real browser (issue 24).

The test starts `jupyterhub -f autograder/hub/jupyterhub_config.py` (configurable-http-proxy
from npm, the local process spawner, the grading service as a hub-managed service, the idle
culler) on free loopback ports, then in headless chromium:

1. the learner "ada" signs in at the hub, her JupyterLab opens on her own workspace, she opens
   lesson 0.1, answers an exercise, clicks "Submit for grading" and sees the grade - the kernel
   sent her server's hub token; there was no token to copy;
2. the mentor "mentor" opens the dashboard, is sent to the hub to sign in (OAuth), and sees
   ada's grade on the cohort's page.

Skipped, with the reason, where chromium, Playwright or configurable-http-proxy is missing
(`./run.sh hub` installs the proxy; `apt-get install chromium`).
"""

from __future__ import annotations

import re
import shutil

import pytest

from autograder.hub import launch

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)"),
    pytest.mark.skipif(launch.missing() is not None, reason=str(launch.missing())),
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
ANSWER = """def broadcast_shape(a, b):
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for p, q in zip(a, b):
        if p != q and 1 not in (p, q):
            raise ValueError(f"sizes {p} and {q} clash")
        out.append(q if p == 1 else p)
    return tuple(out)
"""


def sign_in(page, name: str, password: str) -> None:
    page.wait_for_selector("#username_input", timeout=60_000)
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")


def test_learner_submits_from_jupyterlab_and_the_mentor_sees_the_grade(hub, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{hub.url}/hub/login")
            sign_in(page, "ada", launch.USER_PASSWORD)
            page.wait_for_url(re.compile(r".*/user/ada/lab.*"), timeout=120_000)  # her server, spawned
            assert (hub.dir / "users" / "ada" / "workspace" / "0.1-numpy" / "0.1-numpy.ipynb").is_file()
            page.goto(f"{hub.url}/user/ada/lab/tree/0.1-numpy/0.1-numpy.ipynb")
            page.wait_for_selector(".jp-Notebook .jp-CodeCell .cm-content", timeout=90_000)  # a markdown cell's editor stays hidden
            cells = page.locator(".jp-Notebook .jp-CodeCell")
            exercise = cells.filter(has_text="def broadcast_shape(").first
            exercise.locator(".cm-content").click()
            page.keyboard.press("Control+a")
            page.keyboard.insert_text(ANSWER)

            last = cells.filter(has_text='lesson_summary("0.1")').last  # its submit button
            for _ in range(6):  # Shift+Enter until the last cell ran (the kernel may still be starting)
                last.locator(".cm-content").click()
                page.keyboard.press("Shift+Enter")
                try:
                    page.locator(".bootcamp-submit button").wait_for(timeout=30_000)
                    break
                except sync_api.TimeoutError:
                    continue
            page.locator(".bootcamp-submit button").click()
            try:
                page.wait_for_selector(".bootcamp-submitted", timeout=150_000)
            except sync_api.TimeoutError:
                page.screenshot(path=str(tmp_path / "not-graded.png"), full_page=True)
                raise AssertionError(f"no grade shown (see {tmp_path}/not-graded.png)\n{hub.tail()}") from None
            shown = " ".join(page.locator(".bootcamp-submitted").inner_text().split())
            got = re.search(r"score (\d+)/(\d+)", shown)
            assert got and int(got.group(1)) > 0, f"the learner saw no points for her answer: {shown[:400]}"
            score = f"{got.group(1)}/{got.group(2)}"

            mentor = browser.new_context().new_page()
            mentor.goto(f"{hub.grader_url}/dashboard")  # not signed in: off to the hub, then back (OAuth)
            sign_in(mentor, "mentor", launch.USER_PASSWORD)
            mentor.wait_for_url(re.compile(re.escape(hub.grader_url) + r"/(cohorts|dashboard).*"), timeout=60_000)
            text = " ".join(mentor.locator("body").inner_text().split())
            assert "cohort-a" in text and "ada" in text, text[:600]
            learner_link = mentor.locator("a", has_text="ada").first
            learner_link.click()
            page_text = " ".join(mentor.locator("body").inner_text().split())
            assert score.split("/")[0] in page_text and "0.1" in page_text, page_text[:800]
        finally:
            browser.close()
