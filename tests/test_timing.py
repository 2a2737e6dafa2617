"""Measured exercise times (course/learner/timing.py, course/authoring/timing.py): the kernel hook
records what it should and nothing else, check runs are not recorded, and the estimates follow
the rules the module states (idle gaps capped, an exercise done when all its test cells passed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import nbformat
import pytest

from course.authoring import timing as pooled_timing
from course.authoring.lessons import ROOT
from course.learner import timing

SLUG = "0.1-numpy"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _released():
    return nbformat.read(ROOT / "exercises" / SLUG / f"{SLUG}.ipynb", as_version=4)


def _cells(nb, pred):
    return [c for c in nb.cells if c.cell_type == "code" and pred(c.metadata.get("nbgrader", {}))]


@pytest.fixture
def shell(monkeypatch, tmp_path):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("BOOTCAMP_DATA_DIR", str(tmp_path))
    sh = InteractiveShell.instance()
    yield sh
    rec = getattr(sh, "_bootcamp_timing", None)
    if rec is not None:
        sh.events.unregister("post_run_cell", rec)
        sh._bootcamp_timing = None
    InteractiveShell.clear_instance()


def _records(tmp_path):
    path = tmp_path / "learner" / timing.CELLS_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_hook_records_test_cells_by_grade_id_and_nothing_of_the_source(shell, monkeypatch, tmp_path):
    monkeypatch.setenv(timing.ENV, "1")
    assert timing.install()
    assert timing.install()  # a second import of course.checks does not register twice
    nb = _released()
    setup = nb.cells[[c.cell_type for c in nb.cells].index("code")]
    stub = _cells(nb, lambda m: m.get("solution"))[0]
    test = _cells(nb, lambda m: m.get("grade") and not m.get("solution"))[0]
    shell.user_ns["__session__"] = f"/somewhere/workspace/{SLUG}.ipynb"
    for cell in (setup, stub, test):
        shell.run_cell(cell.source)
    shell.run_cell("secret_answer = 42  # not a lesson cell")
    recs = _records(tmp_path)
    assert [r["lesson"] for r in recs] == ["0.1"] * 4
    assert [r["test"] for r in recs] == [None, None, test.metadata.nbgrader.grade_id, None]
    assert [r["ok"] for r in recs] == [True, True, False, True]  # the stub's test fails
    text = (tmp_path / "learner" / timing.CELLS_FILE).read_text()
    assert "secret_answer" not in text and "def " not in text  # no source is kept
    assert set(recs[0]) == {"at", "lesson", "test", "ok"}


def test_the_lesson_is_found_from_a_test_cell_when_the_file_name_says_nothing(shell, monkeypatch, tmp_path):
    monkeypatch.setenv(timing.ENV, "1")
    timing.install()
    shell.user_ns["__session__"] = "/tmp/Untitled3.ipynb"
    shell.run_cell("x = 1")  # not attributable yet: not recorded
    test = _cells(_released(), lambda m: m.get("grade") and not m.get("solution"))[1]
    shell.run_cell(test.source)
    shell.run_cell("y = 2")
    recs = _records(tmp_path)
    assert [(r["lesson"], r["test"]) for r in recs] == [("0.1", test.metadata.nbgrader.grade_id), ("0.1", None)]


def test_nothing_is_recorded_unless_the_lab_asked_for_it(shell, monkeypatch, tmp_path):
    monkeypatch.delenv(timing.ENV, raising=False)
    assert not timing.install()
    shell.run_cell("1 + 1")
    monkeypatch.setenv(timing.ENV, "0")
    assert not timing.install()
    assert _records(tmp_path) == []


def test_a_check_run_is_not_recorded(monkeypatch, tmp_path):
    """`bootcamp check` from a JupyterLab terminal inherits BOOTCAMP_RECORD_CELLS=1: its kernel must not record."""
    from course.authoring.runner import execute

    monkeypatch.setenv(timing.ENV, "1")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os; print(os.environ.get('BOOTCAMP_RECORD_CELLS'))")])
    execute(nb, tmp_path, timeout=120)
    assert nb.cells[0].outputs[0]["text"].strip() == "None"
    import os

    assert os.environ[timing.ENV] == "1"  # and the caller's environment is left as it was


def _ev(minute, test=None, ok=True, lesson="9.9"):
    return {"at": (T0 + timedelta(minutes=minute)).isoformat(), "lesson": lesson, "test": test, "ok": ok}


TESTS = {"a": {"a_test"}, "b": {"b_test", "b_test_2"}, "c": {"c_test"}}


def test_active_time_caps_idle_gaps_and_an_exercise_is_done_when_all_its_tests_pass():
    events = [_ev(0), _ev(5, "a_test", False), _ev(12, "a_test"), _ev(16, "b_test"), _ev(20, "b_test_2", False),
              _ev(200, "b_test_2"),  # back from a three-hour break
              _ev(201, "x", lesson="0.1")]  # another lesson's run does not count here
    lt = timing.lesson_times(events, "9.9", ["a", "b", "c"], TESTS)
    assert lt.exercises["a"] == pytest.approx(12)
    assert lt.exercises["b"] == pytest.approx(4 + 4 + timing.IDLE_CAP)  # 12 -> 16 -> 20, then a capped gap
    assert "c" not in lt.exercises and lt.total is None  # c never passed: the lesson is not finished
    assert lt.active == pytest.approx(12 + 8 + timing.IDLE_CAP)
    done = timing.lesson_times([*events, _ev(230, "c_test")], "9.9", ["a", "b", "c"], TESTS)
    assert done.exercises["c"] == pytest.approx(timing.IDLE_CAP) and done.total == pytest.approx(35 + 15)
    assert timing.lesson_times(events, "7.7", ["a"], TESTS) is None


def test_exercises_done_out_of_order_are_timed_from_the_last_one_done_before_them():
    events = [_ev(0), _ev(10, "b_test"), _ev(11, "b_test_2"), _ev(14, "a_test")]
    lt = timing.lesson_times(events, "9.9", ["a", "b", "c"], TESTS)
    assert lt.exercises["b"] == pytest.approx(11)
    assert lt.exercises["a"] == pytest.approx(14)  # nothing before a in the lesson's order was done first


def test_a_cohort_pools_into_medians_only_where_enough_learners_contributed(tmp_path, monkeypatch):
    est = timing.exercise_estimates(SLUG)
    tests = timing.exercise_tests(SLUG)
    order = [ex for ex in est if tests.get(ex)]
    for k, per in enumerate((5, 7, 9)):  # three learners, each `per` minutes an exercise (gaps of 1 min)
        events, t = [_ev(0, lesson="0.1")], 0
        for ex in order[: 2 if k == 2 else len(order)]:  # the third stops after two exercises
            for gid in sorted(tests[ex]):
                t += per
                events += [_ev(t - per + 1 + i, lesson="0.1") for i in range(per - 1)]
                events.append(_ev(t, gid, lesson="0.1"))
        folder = tmp_path / "hub" / f"learner{k}" / ".bootcamp" / "learner"
        folder.mkdir(parents=True)
        (folder / timing.CELLS_FILE).write_text("".join(json.dumps(e) + "\n" for e in events))
    folders = pooled_timing.learner_folders([tmp_path / "hub"])
    assert len(folders) == 3
    pooled = pooled_timing.pool(folders)
    entry = pooled["0.1"]
    assert len(entry["active"]) == 3 and len(entry["total"]) == 2
    first = entry["exercises"][order[0]]["times"]
    assert sorted(first) == pytest.approx([5 * len(tests[order[0]]), 7 * len(tests[order[0]]), 9 * len(tests[order[0]])])
    table = pooled_timing.measured_table(pooled, min_learners=3)
    assert table["0.1"]["minutes"] == {"n": 2}  # two finished: too few for a median
    assert table["0.1"]["exercises"][order[0]]["median"] == pytest.approx(7 * len(tests[order[0]]))
    assert order[-1] not in table["0.1"]["exercises"]
    assert "0.2" not in table
    text = pooled_timing.report(pooled, 3)
    assert "0.1: estimate" in text and "2 finished" in text
    path = tmp_path / "timing.json"
    path.write_text(json.dumps({"lessons": pooled_timing.measured_table(pooled, 2)}))
    assert pooled_timing.measured(path)["0.1"]["minutes"]["n"] == 2
