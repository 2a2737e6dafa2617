"""Submit from JupyterLab without a terminal (issue 18), in a real headless browser.

`bootcamp lab` serves a workspace; the page opens a notebook, the learner types an answer and,
WITHOUT saving, clicks the "Submit for grading" button under the lesson's last cell. The
grading service here is a stand-in on loopback that records what it receives and answers with
a graded result: the test proves the notebook was saved before it was sent (the unsaved edit
arrives) and that the page shows every message in full.

Skipped, with the reason, where chromium or Playwright is missing (`apt-get install -y chromium`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.test_lab import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)")
LONG = ("[softmax] result differs: expected 0.09, got 0.33\n    first differing index (0, 0)\n"
        "    likely cause: the exponent was not taken, or the sum ran over the wrong axis; " + "x" * 150 + " END")


@pytest.fixture
def grading_stub():
    """POST /api/submissions records the notebook; GET returns it graded, with a long message."""
    received: list[bytes] = []

    class Stub(BaseHTTPRequestHandler):
        def _json(self, obj, code=200):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self._json({"id": "sub1", "status": "queued", "lesson": "0.1-numpy"}, 201)

        def do_GET(self):
            self._json({"id": "sub1", "lesson": "0.1-numpy", "status": "graded", "score": 3, "max_score": 5,
                        "message": "", "flags": [], "results": [
                            {"exercise": "broadcast_shape", "points": 3, "max_points": 3, "status": "pass",
                             "message": ""},
                            {"exercise": "softmax", "points": 0, "max_points": 2, "status": "fail", "message": LONG}]})

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()


def test_the_submit_button_saves_submits_and_shows_the_full_result(tmp_path, grading_stub):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    url, received = grading_stub
    ws = tmp_path / "ws"
    (ws / "0.1-numpy").mkdir(parents=True)
    nb = {"cells": [{"cell_type": "code", "id": "c1", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": "answer = 1"},
                    {"cell_type": "code", "id": "c2", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": "from course.learner.progress import lesson_summary\nlesson_summary('0.1')"}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    mine = ws / "0.1-numpy" / "mine.ipynb"
    mine.write_text(json.dumps(nb))
    port, token = free_port(), "test-token"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"),
               BOOTCAMP_WORKSPACE=str(ws), BOOTCAMP_URL=url, BOOTCAMP_TOKEN="bc_test",
               BOOTCAMP_DATA_DIR=str(tmp_path / "data"), BOOTCAMP_NO_SERVICE="1")
    bootcamp = Path(sys.executable).parent / "bootcamp"
    proc = subprocess.Popen(
        [str(bootcamp), "lab", "--no-browser", "--port", str(port), f"--IdentityProvider.token={token}",
         "--ServerApp.ip=127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/0.1-numpy/mine.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell .cm-content", timeout=90_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle'], "
                                   "#jp-main-statusbar :text('Idle')", timeout=90_000)
            cells = page.locator(".jp-Notebook .jp-Cell")

            def run_cell(k: int) -> None:
                """Shift+Enter on cell k until its prompt shows a number (the kernel may still be connecting)."""
                for _ in range(6):
                    cells.nth(k).locator(".cm-content").click()
                    page.keyboard.press("Shift+Enter")
                    try:
                        page.wait_for_function(
                            "k => /\\[\\d+\\]/.test(document.querySelectorAll('.jp-Notebook .jp-Cell')[k]"
                            ".querySelector('.jp-InputPrompt').textContent)", arg=k, timeout=20_000)
                        return
                    except sync_api.TimeoutError:
                        continue
                page.screenshot(path=str(tmp_path / "not-run.png"), full_page=True)
                raise AssertionError(f"cell {k} never ran (see not-run.png)")

            run_cell(0)  # the kernel is up
            cells.nth(0).locator(".cm-content").click()
            page.keyboard.press("End")
            page.keyboard.type("  # EDITED-NOT-SAVED")
            run_cell(1)
            button = page.locator(".bootcamp-submit button")
            try:
                button.wait_for(timeout=60_000)
            except Exception:
                page.screenshot(path=str(tmp_path / "no-button.png"), full_page=True)  # to look at: pytest --basetemp
                raise
            assert "EDITED-NOT-SAVED" not in mine.read_text()  # nothing saved yet
            button.click()
            page.wait_for_selector(".bootcamp-submitted", timeout=60_000)
            shown = page.locator(".bootcamp-submitted").inner_text()
            page.screenshot(path=str(tmp_path / "submitted.png"), full_page=True)
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        log = proc.communicate(timeout=20)[0]
    assert received, f"nothing reached the grading service\n{log[-2000:]}"
    assert b"EDITED-NOT-SAVED" in received[-1]  # the button saved the notebook before sending it
    assert "EDITED-NOT-SAVED" in mine.read_text()
    assert "score 3/5" in " ".join(shown.split()) and "x" * 150 + " END" in shown  # the message in full
    assert "likely cause: the exponent was not taken" in shown
