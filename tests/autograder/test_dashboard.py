"""The mentor dashboard in a real headless browser (Debian's chromium, driven by Playwright).

Skipped, with the reason, where chromium or Playwright is missing: `apt-get install -y chromium`.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from autograder.grading.worker import wait_idle

from .conftest import SLUG
from .test_service import live  # noqa: F401  (fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def webhook():
    """A chat tool's incoming webhook, on loopback: records what it is sent."""
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()


def login(page, base, token):
    page.goto(base + "/dashboard")
    assert "/login" in page.url
    page.fill("#token", token)
    page.click("#login")


def test_dashboard_pages_in_a_browser(service, worker, live, browser, sub, webhook, tmp_path):  # noqa: F811
    from autograder.gradebook.models import User, utcnow

    hook_url, received = webhook
    service.settings.nudge_webhook_url = hook_url
    wrong = sub().solve(norm="def norm(x):\n    return (x ** 2).sum()").bytes()
    for _ in range(3):
        assert service.submit("lea", wrong).status_code == 201
    tampered = sub().solve(norm="def norm(x):\n    return 0.0").set("double_test", "pass").bytes()
    assert service.submit("lea", tampered).status_code == 201
    assert wait_idle(service.db, 60)
    with service.db.session() as s:  # leo enrolled 10 days ago and never submitted: silent
        leo = s.query(User).filter_by(username="leo").one()
        leo.created_at = utcnow() - timedelta(days=10)
        alpha = leo.cohorts[0].id

    page = browser.new_page()
    page.goto(live + "/dashboard")
    page.fill("#token", "bc_not_a_token")
    page.click("#login")
    assert "not valid" in page.inner_text("#error")
    page.fill("#token", service.tokens["mo"])
    page.click("#login")
    assert page.url.endswith(f"/cohorts/{alpha}")  # mo mentors one cohort: straight to it

    grid = page.inner_text("#grid")
    assert SLUG.split("-")[0] in grid and "lea" in grid and "×4" in grid and "2/5" in grid
    assert page.locator(f"#grid th[title='{SLUG}']").count() == 1  # the lesson's id, its slug on hover
    assert page.locator("#grid .att[title='4 attempts']").count() == 1
    stuck = page.inner_text("#stuck")
    assert "lea" in stuck and "norm" in stuck and "4 failures" in stuck
    assert "leo" in page.inner_text("#silent")
    ex = page.inner_text("#exercises")
    assert "norm" in ex and "100%" in ex and "[norm]" in ex
    page.screenshot(path=str(tmp_path / "cohort.png"), full_page=True)

    # nudge the stuck learner through the webhook
    page.locator("#stuck button").first.click()
    page.wait_for_url("**/nudge")
    assert "@lea" in page.inner_text("#nudge-text")
    assert "Sent" in page.inner_text("#nudge-result")
    assert received and received[0]["text"].startswith("@lea Hi Lea") and "norm" in received[0]["text"]

    # a learner's timeline, then one submission's feedback: no hidden test in it
    page.goto(live + f"/cohorts/{alpha}")
    page.click("#grid a:text-is('lea')")
    page.wait_for_url("**/learners/*")
    rows = page.locator("#timeline tr")
    assert rows.count() == 5  # header + 4 attempts
    assert "tampered_test_cell" in page.inner_text("#timeline")
    page.locator("#timeline a").last.click()
    page.wait_for_url("**/submissions/*")
    results = page.inner_text("#results")
    assert "[norm]" in results and "SECRET" not in page.content()

    # CSV export in nbgrader's gradebook columns
    resp = page.request.get(live + f"/cohorts/{alpha}/export.csv")
    table = list(csv.DictReader(io.StringIO(resp.text())))
    assert list(table[0]) == ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                              "raw_score", "late_submission_penalty", "score", "max_score"]
    assert [(r["student_id"], r["score"], r["max_score"]) for r in table] == [("lea", "2", "5")]

    # another cohort's mentor sees nothing of alpha; a learner sees only their own page
    other = browser.new_page()
    login(other, live, service.tokens["mia"])
    assert ">lea<" not in other.content() and ">lia<" in other.content()
    r = other.request.get(live + f"/cohorts/{alpha}")
    assert r.status == 404
    learner = browser.new_page()
    login(learner, live, service.tokens["lea"])
    assert "/learners/" in learner.url and "Timeline" in learner.content()
    assert learner.request.get(live + f"/cohorts/{alpha}").status == 403
    assert learner.request.get(live + f"/cohorts/{alpha}/export.csv").status == 403


# --------------------------------------------------------------------------- issue 18: what mentors see
def add_graded(service, who: str, lesson: str, results: list[tuple[str, str, str]], score: float = 1.0,
               max_score: float = 5.0, days_ago: float = 0.0):
    """A graded submission written straight into the gradebook: results are (exercise, status, message)."""
    from autograder.gradebook.models import ExerciseResult, Submission, SubmissionStatus, User, utcnow

    with service.db.session() as s:
        user = s.query(User).filter_by(username=who).one()
        sub = Submission(user_id=user.id, lesson=lesson, notebook=b"{}", sha256="0" * 64, status=SubmissionStatus.graded,
                         score=score, max_score=max_score, created_at=utcnow() - timedelta(days=days_ago))
        for n, (exercise, status, message) in enumerate(results):
            sub.results.append(ExerciseResult(position=n, exercise=exercise, grade_id=f"{exercise}_test", points=0.0,
                                              max_points=1.0, passed=status == "pass", status=status, message=message))
        s.add(sub)


def test_grid_with_20_lessons_fits_1280_px_and_is_the_landing_page(service, live, browser):  # noqa: F811
    for k in range(1, 21):
        add_graded(service, "lea", f"{k // 10}.{k % 10}-lesson-with-a-long-name", [("ex", "pass", "")], 4, 5)
    add_graded(service, "lia", "0.1-lesson-with-a-long-name", [("ex", "pass", "")], 5, 5)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    login(page, live, service.tokens["ines"])  # an instructor sees both cohorts: the landing page holds both grids
    page.wait_for_url("**/dashboard")
    assert page.locator("table.grid").count() == 2
    grid = page.locator("table.grid").first
    assert grid.locator("th").count() >= 1 + 20  # learner + the 20 lessons (+ the test course's own)
    assert "4/5" in grid.inner_text() and "×1" in grid.inner_text()
    for url in (live + "/dashboard", live + "/cohorts/" + page.locator("h2 a").first.get_attribute("href").rsplit("/", 1)[1]):
        page.goto(url)
        width = page.evaluate("document.documentElement.scrollWidth")
        right = page.evaluate("Math.max(...[...document.querySelectorAll('table.grid')].map("
                              "t => t.getBoundingClientRect().right))")
        assert width <= 1280 and right <= 1280, f"{url}: the page is {width} px wide, the grid ends at {right} px"


def test_stuck_counts_only_attempted_exercises_and_todo_sorts_last(service):
    from autograder.gradebook import progress
    from autograder.gradebook.models import User

    tried = [("norm", "fail", "[norm] expected 5.0, got 25.0"), ("double", "todo", "not implemented yet"),
             ("triple", "todo", "not implemented yet")]
    for _ in range(3):
        add_graded(service, "lea", "9.8-tiny", tried)
    add_graded(service, "leo", "9.8-tiny", [("norm", "pass", ""), ("double", "todo", "not implemented yet"),
                                           ("triple", "pass", "")])
    with service.db.session() as s:
        learners = s.query(User).filter(User.username.in_(["lea", "leo"])).all()
        stuck = progress.stuck_learners(s, learners, 3)
        assert [(d["learner"], d["exercise"], d["failures"]) for d in stuck] == [("lea", "norm", 3)]
        assert "has not passed after 3 tries" in stuck[0]["nudge"]
        stats = progress.exercise_stats(s, [u.id for u in learners])
        # double fails 4 of 4 times but was never attempted; norm's 3 of 4 are real failures: norm first
        assert [d["exercise"] for d in stats][:1] == ["norm"]
        assert [d["exercise"] for d in stats].index("double") > [d["exercise"] for d in stats].index("norm")


def test_silent_nudge_never_says_0_days():
    from autograder.gradebook.models import User
    from autograder.gradebook.progress import silent_message

    u = User(username="local", first_name="")
    assert "0 days" not in silent_message(u, 0, "0.1-numpy") and "today" in silent_message(u, 0, "0.1-numpy")
    assert "1 day since" in silent_message(u, 1, "0.1-numpy")
    assert "have not submitted anything yet" in silent_message(u, 0, None)
