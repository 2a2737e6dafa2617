"""Celery drives the grading workers (BOOTCAMP_TASK_QUEUE=celery): the job interface of
autograder/gradebook/jobs.py under a real distributed task queue, with its default broker (kombu's
SQLAlchemy transport, here beside the SQLite gradebook) and a real Celery worker."""

from __future__ import annotations

import time

import pytest

from .conftest import Service, make_settings

celery = pytest.importorskip("celery")


def _wait_graded(db, ids, timeout=90.0):
    from autograder.gradebook.models import Submission

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with db.session() as s:
            subs = [s.get(Submission, i) for i in ids]
            states = [x.status.value for x in subs]
            if all(st in ("graded", "failed", "timed_out") for st in states):
                return [(x.status.value, x.score) for x in subs]
        time.sleep(0.2)
    raise AssertionError(f"not graded within {timeout} s: {states}")


def test_celery_workers_grade_published_jobs_once_and_republish_finds_the_unpublished(
        course_root, tmp_path, grader, sub, monkeypatch):
    from celery.contrib.testing.worker import start_worker
    from sqlalchemy import select

    from autograder.gradebook.models import GradingJob
    from autograder.grading import taskqueue
    from autograder.grading.worker import Worker

    settings = make_settings(course_root, tmp_path / "data", task_queue="celery")
    service = Service(settings)
    app = taskqueue.app_for(settings)
    assert app.conf.broker_url == f"sqla+sqlite:///{settings.data_path / 'broker.db'}"
    app.bootcamp_runner._worker = Worker(settings, service.db, grader)  # the session's warm grader
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30):
            good = service.submit("lea", sub().solve().bytes())
            wrong = service.submit("leo", sub().solve(double="def double(x):\n    return x").bytes())
            assert good.status_code == wrong.status_code == 201
            ids = [good.json()["id"], wrong.json()["id"]]
            assert _wait_graded(service.db, ids) == [("graded", 5.0), ("graded", 3.0)]

            # the same job's message delivered again: claimed once, graded once
            with service.db.session() as s:
                job_id = s.scalar(select(GradingJob.id).where(GradingJob.submission_id == ids[0]))
            taskqueue.publish(app, job_id)

            # the broker was down when this one was stored: it waits in the gradebook until a
            # worker starts and publishes every waiting job again
            def broker_down(*a, **k):
                raise ConnectionError("broker unreachable")

            monkeypatch.setattr(taskqueue, "publish", broker_down)
            late = service.submit("lia", sub().solve().bytes())
            assert late.status_code == 201  # stored and acknowledged all the same
            time.sleep(1.0)
            assert _status(service.db, late.json()["id"]) == "queued"
            monkeypatch.undo()
            assert taskqueue.republish(app, service.db) == 1
            assert _wait_graded(service.db, [late.json()["id"]]) == [("graded", 5.0)]
        with service.db.session() as s:
            attempts = s.scalars(select(GradingJob.attempts).order_by(GradingJob.id)).all()
        assert attempts == [1, 1, 1]
    finally:
        app.bootcamp_runner._worker = None  # the session's grader is not this test's to stop
        service.db.dispose()


def _status(db, sub_id):
    from autograder.gradebook.models import Submission

    with db.session() as s:
        return s.get(Submission, sub_id).status.value


def test_a_celery_worker_process_grades_what_the_api_stored_and_picks_up_waiting_jobs(course_root, tmp_path, sub):
    """`python -m autograder celery-worker` in its own process, sharing only the database and the
    broker with the API: a job stored before it started is published again at its start, and a
    job submitted while it runs reaches it through Celery."""
    import os
    import signal
    import subprocess
    import sys

    from .conftest import FAST_WARM, ROOT

    settings = make_settings(course_root, tmp_path / "data", task_queue="celery")
    service = Service(settings)
    try:
        before = service.submit("lea", sub().solve().bytes()).json()["id"]  # no worker yet: it waits
        env = dict(os.environ, BOOTCAMP_COURSE_DIR=str(settings.course_dir), BOOTCAMP_DATA_DIR=str(settings.data_path),
                   BOOTCAMP_TASK_QUEUE="celery", BOOTCAMP_WARM_IMPORTS=FAST_WARM, BOOTCAMP_WALL_SECONDS="15")
        proc = subprocess.Popen([sys.executable, "-m", "autograder", "celery-worker", "--concurrency", "1"], env=env,
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            assert _wait_graded(service.db, [before], timeout=120) == [("graded", 5.0)]
            during = service.submit("leo", sub().solve(double="def double(x):\n    return x").bytes()).json()["id"]
            assert _wait_graded(service.db, [during], timeout=60) == [("graded", 3.0)]
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                out, _ = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, _ = proc.communicate()
        assert "published 1 waiting job(s) again" in out, out[-2000:]
    finally:
        service.db.dispose()
