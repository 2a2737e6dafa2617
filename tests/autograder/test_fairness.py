"""Class 5 of issue 16: fairness between learners.

One learner's notebooks must not make everyone else wait behind all of them, one learner must
not fill the gradebook's disk or flood the queue, and nobody's load may raise a lesson's time
limit for everyone for good."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import textwrap
import time

import pytest

from course.authoring.lessons import ROOT, Lesson, build

from .conftest import HEADER, Service, make_settings


def test_the_queue_takes_learners_in_turn(service, sub):
    from autograder.gradebook import jobs

    body = sub().solve().bytes()
    first = [service.submit("lea", body).json()["id"] for _ in range(4)]  # four notebooks at once
    other = service.submit("leo", body).json()["id"]
    late = service.submit("lia", body).json()["id"]
    order = []
    for _ in range(6):
        job_id = jobs.claim_next(service.db, "w1", 60)
        with service.db.session() as s:
            from autograder.gradebook.models import GradingJob

            order.append(s.get(GradingJob, job_id).submission_id)
    # lea's first, then each other learner's first, before lea's second
    assert order[:3] == [first[0], other, late], order
    assert sorted(order[3:]) == sorted(first[1:]), order


def test_a_learner_with_a_job_running_waits_behind_one_without():
    from autograder.gradebook.jobs import fair_order

    waiting = [(1, 7), (2, 7), (3, 8), (4, 9), (5, 8)]
    assert fair_order(waiting, {}) == [1, 3, 4, 2, 5]
    assert fair_order(waiting, {7: 2}) == [3, 4, 5, 1, 2]


def _limited(course_root, tmp_path, **kw):
    return Service(make_settings(course_root, tmp_path / "data", **kw))


def test_too_many_submissions_in_a_minute_get_a_clear_429(course_root, tmp_path, sub):
    svc = _limited(course_root, tmp_path, submissions_per_minute=3)
    try:
        body = sub().solve().bytes()
        assert [svc.submit("lea", body).status_code for _ in range(3)] == [201] * 3
        r = svc.submit("lea", body)
        assert r.status_code == 429, r.text
        assert "a minute" in r.json()["detail"]
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert svc.count() == 3  # nothing stored
        assert svc.submit("leo", body).status_code == 201  # another learner is not held back
    finally:
        svc.db.dispose()


def test_a_learners_daily_storage_quota_gets_a_clear_429(course_root, tmp_path, sub):
    body = sub().solve().bytes()
    svc = _limited(course_root, tmp_path, submissions_per_minute=0, upload_bytes_per_day=3 * len(body) + 100)
    try:
        assert [svc.submit("lea", body).status_code for _ in range(3)] == [201] * 3
        r = svc.submit("lea", body)
        assert r.status_code == 429 and "quota" in r.json()["detail"], r.text
        assert 1 <= int(r.headers["retry-after"]) <= 86400
        assert svc.count() == 3
        assert svc.submit("leo", body).status_code == 201
    finally:
        svc.db.dispose()


SLOW = "9.6-slow"
SLOW_BODY = '''
# %%
from course import checks

# %% nbgrader={"solution": true, "grade_id": "spin"} exercise={"difficulty": 1, "importance": 1, "minutes": 1}
def spin(n):
    """The sum of i * i for i below n, with a Python loop."""
    ### BEGIN SOLUTION
    total = 0
    for i in range(n):
        total += i * i
    return total
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "spin_test", "points": 1}
checks.assert_equal("spin", spin(6_000_000), sum(i * i for i in range(6_000_000)))
'''


def _burn(stop):
    while not stop.is_set():
        sum(range(100_000))


def test_a_cpu_burner_during_calibration_does_not_raise_the_lessons_limit(tmp_path):
    from autograder.grading.pipeline import Grader

    root = tmp_path / "course"
    (root / "solutions" / SLOW).mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "solutions" / SLOW / f"{SLOW}.py").write_text(
        HEADER.replace("9.8", "9.6").replace("A lesson to grade", "Slow") + "\n" + textwrap.dedent(SLOW_BODY).lstrip("\n"))
    build([Lesson(SLOW, root)], root=root)
    settings = make_settings(root, tmp_path / "data", wall_seconds=1, wall_factor=3.0, max_wall_seconds=300)
    settings.data_path.mkdir(parents=True, exist_ok=True)
    g = Grader(settings)
    g.start()
    try:
        def calibrate():
            (settings.data_path / "calibration.json").unlink(missing_ok=True)
            spec = g.catalogue.spec(SLOW)
            spec.mode, spec.solution_seconds = None, None
            assert g.mode_for(spec) == "split"
            return spec.wall_limit(settings)

        quiet = calibrate()
        stop = multiprocessing.Event()
        burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True)
                   for _ in range(3 * (os.cpu_count() or 1))]
        for b in burners:
            b.start()
        time.sleep(0.5)
        try:
            loaded = calibrate()
        finally:
            stop.set()
            for b in burners:
                b.join(10)
        # the solution's own CPU time, here (no sandbox): what the limit should follow, however busy the machine
        cpu = time.process_time()
        sum(i * i for i in range(6_000_000)) + sum(i * i for i in range(6_000_000))
        cpu = time.process_time() - cpu
        print(f"wall limit after a quiet calibration {quiet:.2f} s, with {len(burners)} CPU burners {loaded:.2f} s; "
              f"the solution's CPU time here {cpu:.2f} s")
        assert loaded <= 1.5 * quiet, (quiet, loaded)
        assert loaded <= max(settings.wall_seconds, 2 * settings.wall_factor * cpu), (loaded, cpu)
        kept = json.loads((settings.data_path / "calibration.json").read_text())[SLOW]
        assert kept["solution_seconds"] * settings.wall_factor <= 1.5 * quiet, kept
    finally:
        g.stop()


@pytest.mark.parametrize("name", ["submissions_per_minute", "upload_bytes_per_day"])
def test_the_limits_are_documented(name):
    assert f"BOOTCAMP_{name.upper()}" in (ROOT / "README.md").read_text()
