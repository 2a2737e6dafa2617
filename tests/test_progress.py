"""`bootcamp progress`, `bootcamp hint` and a lesson's summary cell: service, check records, saved notebooks."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from course.authoring.lessons import ROOT, find_lesson
from course.authoring.runner import CellResult, RunResult
from course.authoring.syllabus import load as load_syllabus
from course.cli import main
from course.learner import progress
from course.learner.progress import lesson_exercises


@pytest.fixture
def env(tmp_path, monkeypatch):
    """The learner's records in a scratch folder, and no grading service."""
    monkeypatch.setenv("BOOTCAMP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BOOTCAMP_WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.setenv("BOOTCAMP_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("BOOTCAMP_TOKEN", raising=False)
    monkeypatch.delenv("BOOTCAMP_NO_SERVICE", raising=False)
    return tmp_path / "data" / "learner"


PLANNED_ENTRY = """
[[module.lesson]]
id = "5.9"
title = "A lesson not written yet"
minutes = 60
prerequisites = ["5.1"]
level = "research"
planned = true
objectives = ["something a future lesson teaches"]
"""


@pytest.fixture
def with_planned(tmp_path, monkeypatch):
    """The course's syllabus plus a planned lesson 5.9 (every lesson of the real one has landed)."""
    from course.authoring import syllabus as syllabus_module

    path = tmp_path / "syllabus.toml"
    path.write_text(syllabus_module.SYLLABUS_PATH.read_text() + PLANNED_ENTRY)
    monkeypatch.setattr(syllabus_module, "SYLLABUS_PATH", path)
    return "5.9"


def fake_run(lesson_id: str, passing: set[str], failing: set[str] | None = None) -> RunResult:
    info = load_syllabus().lesson(lesson_id)
    results = []
    for ex in lesson_exercises(info):
        if ex in passing:
            results.append(CellResult(ex, f"{ex}_test", 1, True, None, ""))
        elif failing is None or ex in failing:
            results.append(CellResult(ex, f"{ex}_test", 1, False, "NotImplementedError", "not implemented yet"))
    return RunResult(results, 1.0, [])


def record(lesson_id: str, passing: set[str] | None = None, **kw):
    lesson = find_lesson(lesson_id)
    passing = set(lesson_exercises(load_syllabus().lesson(lesson_id))) if passing is None else passing
    assert progress.record_check(lesson, fake_run(lesson_id, passing, **kw), lesson.exercise_notebook)


# --------------------------------------------------------------------------- local results
def test_nothing_done_recommends_the_first_lesson(env, with_planned):
    p = progress.collect()
    assert p.next == "0.1"
    assert p.lessons["0.1"].status == "ready" and p.lessons["0.2"].status == "locked"
    assert all(lp.status == "planned" for lp in p.lessons.values() if lp.info.planned)
    assert p.lessons[with_planned].status == "planned"  # in the syllabus, not written yet
    assert any("grading service not used" in s for s in p.sources)


def test_check_records_give_passed_total_last_attempt_and_next(env):
    record("0.1")  # every exercise passes
    record("0.2", {"digits_grid", "flip"})
    p = progress.collect()
    lp = p.lessons["0.1"]
    assert lp.done and lp.status == "done" and len(lp.passed) == len(lp.exercises) == 10
    assert lp.attempt.source == "check" and (datetime.now(UTC) - lp.attempt.at) < timedelta(minutes=1)
    assert p.lessons["0.2"].status == "started" and sorted(p.lessons["0.2"].passed) == ["digits_grid", "flip"]
    assert p.next == "0.2"
    text = progress.format_progress(p)
    assert "10/10" in text and "2/22" in text and "just now" in text and "bootcamp check" in text
    assert "next: continue 0.2 einops, einsum and tensor puzzles" in text


def test_the_newest_attempt_wins(env):
    record("0.1")
    record("0.1", {"softmax"})  # a later run with most exercises broken again
    lp = progress.collect().lessons["0.1"]
    assert lp.passed == ["softmax"] and lp.attempts == 2 and lp.status == "started"


def test_runs_of_the_solution_notebooks_are_not_progress(env):
    lesson = find_lesson("0.1")
    assert not progress.record_check(lesson, fake_run("0.1", set(lesson_exercises(load_syllabus().lesson("0.1")))),
                                     lesson.solution_notebook)
    assert progress.collect().lessons["0.1"].attempt is None


def test_bootcamp_check_records_its_run(env, monkeypatch, capsys):
    import course.authoring.runner

    monkeypatch.setattr(course.authoring.runner, "run_notebook", lambda path, timeout=600: fake_run("0.1", {"softmax"}))
    assert main(["check", "0.1"]) == 1
    (rec,) = progress.read_records("checks.jsonl")
    assert rec["lesson"] == "0.1" and rec["notebook"].endswith("workspace/0.1-numpy/0.1-numpy.ipynb")
    assert [r["exercise"] for r in rec["results"] if r["passed"]] == ["softmax"]


def test_saved_notebook_outputs_count_as_an_attempt(env, tmp_path):
    root = tmp_path / "course"
    for slug in ("0.1-numpy", "0.2-einops"):
        (root / "solutions" / slug).mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / slug / f"{slug}.py", root / "solutions" / slug)
        (root / "workspace" / slug).mkdir(parents=True)
        shutil.copy(ROOT / "exercises" / slug / f"{slug}.ipynb", root / "workspace" / slug)
    os.environ.pop("BOOTCAMP_WORKSPACE")  # the default: <course>/workspace
    nb_path = root / "workspace/0.1-numpy/0.1-numpy.ipynb"
    nb = json.loads(nb_path.read_text())
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id", "")
        if gid in ("softmax_test", "one_hot_test"):  # ran without an error: passed
            cell["execution_count"], cell["outputs"] = 7, [{"output_type": "stream", "name": "stdout", "text": "ok\n"}]
        elif gid == "top_k_test":  # ran and failed
            cell["execution_count"] = 8
            cell["outputs"] = [{"output_type": "error", "ename": "CheckFailure", "evalue": "[top_k] wrong",
                                "traceback": []}]
    nb_path.write_text(json.dumps(nb))
    p = progress.collect(root)
    lp = p.lessons["0.1"]
    assert lp.attempt.source == "notebook" and sorted(lp.passed) == ["one_hot", "softmax"]
    assert lp.attempt.exercises["top_k"] is False and lp.status == "started"
    assert p.lessons["0.2"].attempt is None  # untouched: no outputs, no attempt


def test_a_placement_skip_counts_as_done_for_what_follows(env):
    progress.write_json("placement.json", {"lessons": {"0.1": {"placed": True}, "0.2": {"placed": True}}})
    p = progress.collect()
    assert p.lessons["0.1"].status == "placed" and p.lessons["0.3"].status == "ready"
    assert p.next == "0.3"


def test_progress_command_prints_and_draws(env, capsys):
    record("0.1")
    assert main(["progress", "--png", str(env / "p.png")]) == 0
    out = capsys.readouterr().out
    assert "0.1 NumPy and vectorisation" in out and "10/10" in out and "next: 0.2" in out
    assert (env / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["progress", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["next"] == "0.2" and data["lessons"]["0.1"]["status"] == "done"


# --------------------------------------------------------------------------- the grading service
class FakeService(BaseHTTPRequestHandler):
    rows: list[dict] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.headers.get("Authorization") != "Bearer secret":
            body, code = {"detail": "bad token"}, 401
        elif self.path == "/api/me":
            body, code = {"username": "ada", "role": "learner"}, 200
        elif self.path.startswith("/api/submissions"):
            body, code = self.rows, 200
        else:
            body, code = {"detail": "not found"}, 404
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def service(env, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("BOOTCAMP_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("BOOTCAMP_TOKEN", "secret")
    yield FakeService
    server.shutdown()


def submission(lesson_slug, user, when, passed: dict[str, bool]):
    return {"id": f"s{len(FakeService.rows)}", "lesson": lesson_slug, "user": user, "status": "graded",
            "created_at": when.replace(tzinfo=None).isoformat() + "Z", "score": 1, "max_score": 2,
            "results": [{"exercise": ex, "grade_id": f"{ex}_test", "passed": ok, "points": 1, "max_points": 1,
                         "status": "passed" if ok else "failed", "message": ""} for ex, ok in passed.items()]}


def test_service_results_are_read_over_http(service):
    all_01 = dict.fromkeys(lesson_exercises(load_syllabus().lesson("0.1")), True)
    earlier = datetime.now(UTC) - timedelta(days=3)
    service.rows = [submission("0.1-numpy", "ada", earlier, all_01),
                    submission("0.2-einops", "bob", earlier, {"grid": True})]  # someone else's: not ours
    p = progress.collect()
    lp = p.lessons["0.1"]
    assert lp.status == "done" and lp.attempt.source == "service"
    assert progress.since(lp.attempt.at) == "3 days ago"
    assert p.lessons["0.2"].attempt is None and p.next == "0.2"
    assert any("1 submission(s) by ada" in s for s in p.sources)


def test_a_newer_local_check_beats_an_older_submission(service):
    service.rows = [submission("0.1-numpy", "ada", datetime.now(UTC) - timedelta(hours=2), {"softmax": True})]
    record("0.1")
    lp = progress.collect().lessons["0.1"]
    assert lp.attempt.source == "check" and lp.done and lp.attempts == 2


def test_service_down_falls_back_quickly(env):
    start = time.perf_counter()
    record("0.1")
    p = progress.collect()
    assert p.lessons["0.1"].done and time.perf_counter() - start < 5
    assert any("cannot reach the grading service" in s or "no token" in s for s in p.sources)


# --------------------------------------------------------------------------- hints
def test_hint_shows_the_folded_hint_and_counts_it(env, capsys):
    assert main(["hint", "0.1", "softmax"]) == 0
    out = capsys.readouterr().out
    assert "Hint for softmax" in out and "max" in out and "never counted against your grade" in out
    assert main(["hint", "0.1", "3"]) == 0  # by number: the third exercise is softmax
    assert "hint 2 times" in capsys.readouterr().out
    recs = progress.read_records("hints.jsonl")
    assert [(r["lesson"], r["exercise"], r["times"]) for r in recs] == [("0.1", "softmax", 1), ("0.1", "softmax", 2)]
    record("0.1")
    p = progress.collect()
    assert p.lessons["0.1"].hints == {"softmax": 2}
    assert p.lessons["0.1"].done  # a hint is never a penalty
    assert "hints used (counted, never penalised): 0.1 softmax ×2" in progress.format_progress(p)


def test_hint_records_failed_attempts_before_it(env):
    from course.learner.hints import take_hint

    record("0.1", {"one_hot"})
    record("0.1", {"one_hot"})
    got = take_hint("0.1", "softmax_test")  # a test's grade_id names its exercise too
    assert got["exercise"] == "softmax" and got["failed_attempts_before"] == 2


def test_hint_without_exercise_lists_them(env, capsys):
    assert main(["hint", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "exercises of 0.2" in out and "   1  digits_grid" in out


def test_hint_of_a_planned_lesson_is_bad_input(env, with_planned, capsys):
    assert main(["hint", with_planned, "edit"]) == 2
    assert "planned" in capsys.readouterr().err


# --------------------------------------------------------------------------- the summary cell
def test_lesson_summary_shows_that_lesson(env):
    record("0.1", {"softmax", "one_hot"})
    progress.append_record("hints.jsonl", {"lesson": "0.1", "exercise": "top_k", "at": "2026-11-22T10:00:00+00:00"})
    s = progress.lesson_summary("0.1")
    md = s._repr_markdown_()
    assert "0.1 NumPy and vectorisation: 2 of 10 exercises pass" in md
    assert "| `softmax` | ✅ pass |" in md and "| `top_k` | ❌ fail | 1 |" in md
    assert "next: 0.1" in md
    text = str(s)
    assert "softmax" in text and "hints used: 1" in text


def test_lesson_summary_never_raises(env):
    s = progress.lesson_summary("9.9")
    assert "not available here" in str(s) and "9.9" in s._repr_markdown_()


def test_progress_reads_a_corrupt_record_file(env):
    env.mkdir(parents=True)
    (env / "checks.jsonl").write_text('not json\n{"lesson": "0.1"}\n')
    (env / "placement.json").write_text("{ broken")
    assert progress.collect().next == "0.1"


def test_since_reads_like_a_person():
    ref = datetime(2026, 11, 22, 12, tzinfo=UTC)
    assert progress.since(ref - timedelta(seconds=20), ref) == "just now"
    assert progress.since(ref - timedelta(minutes=5), ref) == "5 min ago"
    assert progress.since(ref - timedelta(hours=3), ref) == "3 h ago"
    assert progress.since(ref - timedelta(days=1, hours=2), ref) == "1 day ago"
    assert progress.since(None) == "-"


def test_the_data_folder_follows_bootcamp_data_dir(env):
    assert progress.data_dir() == env
    assert Path(progress.data_dir(Path("/x"))).name == "learner"


# --------------------------------------------------------------------------- issue 18: pictures that do not mislead
def _pixels_near(png, hex_colour: str, tol: float = 1.5 / 255) -> int:
    """Pixels of exactly this colour (a filled area; anti-aliased edges blend into other colours)."""
    import matplotlib.colors
    import matplotlib.image
    import numpy as np

    img = matplotlib.image.imread(str(png))[..., :3]
    want = np.array(matplotlib.colors.to_rgb(hex_colour))
    return int((np.abs(img - want).max(axis=-1) < tol).sum())


def test_progress_picture_of_an_untouched_course_fills_no_track(env, tmp_path):
    empty = progress.plot_progress(progress.collect(use_service=False), tmp_path / "empty.png")
    for colour in (*progress.STATUS_COLOUR.values(), "#eceff1"):  # no status fill, and no grey full-width track
        assert _pixels_near(empty, colour) < 100, f"{colour} fills an area in the picture of a course with nothing passed"
    lesson = find_lesson("0.1")
    half = set(lesson_exercises(load_syllabus().lesson("0.1"))[:5])
    record("0.1", half)
    started = progress.plot_progress(progress.collect(use_service=False), tmp_path / "half.png")
    assert _pixels_near(started, progress.STATUS_COLOUR["started"]) > 500, lesson  # the passed half is filled


def test_map_edges_never_run_under_another_lesson_box():
    from course.learner.commands import _bezier, edge_routes, map_layout

    syl = load_syllabus()
    pos, _ = map_layout(syl)
    w, h = 2.05, 0.8

    def crosses(points, ends):
        return [o for o in pos if o not in ends and any(abs(x - pos[o][0]) < w / 2 and abs(y - pos[o][1]) < h / 2
                                                        for x, y in points)]

    straight = {(pre, lid): crosses(_bezier((pos[pre][0] + w / 2, pos[pre][1]), pos[lid], (pos[lid][0] - w / 2,
                                                                                            pos[lid][1]), 1), ())
                for lid, info in syl.lessons.items() for pre in info.prerequisites if pre in pos}
    routes = edge_routes(syl, pos, w, h)
    assert set(routes) == set(straight)
    bad = {e: crosses(list(_bezier(*r, n=200)), e) for e, r in routes.items()}
    assert not {e: b for e, b in bad.items() if b}, bad
    # the layout has edges that a straight line would draw under a box (2.1 -> 3.1 under 2.2 was the report)
    naive = {e for e in routes if crosses([(routes[e][0][0] + (routes[e][2][0] - routes[e][0][0]) * t / 50,
                                            routes[e][0][1] + (routes[e][2][1] - routes[e][0][1]) * t / 50)
                                           for t in range(51)], e)}
    assert naive, "no edge needed bending: this test would not catch an edge under a box"
