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
    done: list[str] = []  # what each task said (a message is a turn: it takes the next job in turn)
    real_run = app.bootcamp_runner.run
    app.bootcamp_runner.run = lambda job_id: done.append(real_run(job_id)) or done[-1]
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
            end = time.monotonic() + 60
            while len(done) < 3 and time.monotonic() < end:  # taken, and nothing left to claim
                time.sleep(0.1)
            assert done[2:] == ["nothing claimable (graded, or taken by another worker)"], done

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


@pytest.mark.parametrize("broker", ["sqla", "redis"])
def test_a_celery_worker_killed_mid_grade_its_job_is_retried_within_the_lease_and_graded_once(
        course_root, tmp_path, sub, broker):
    """Two `celery-worker` processes; the one grading is killed with SIGKILL. On main the job sat
    in "grading" with an expired lease until some Celery worker started (6.5 minutes measured):
    kombu's SQLAlchemy transport had dropped the message, and nothing swept leases."""
    import os
    import signal
    import subprocess
    import sys

    from sqlalchemy import func, select

    from autograder.gradebook.models import ExerciseResult, GradingJob

    from .conftest import FAST_WARM, ROOT
    from .servers import Redis

    redis = None
    if broker == "redis":
        pytest.importorskip("redis", reason="the redis client is not installed (pip install redis)")
        redis = Redis()
    lease = 4.0
    settings = make_settings(course_root, tmp_path / "data", task_queue="celery", lease_seconds=lease,
                             broker_url=redis.url if redis else "")
    service = Service(settings)
    env = dict(os.environ, BOOTCAMP_COURSE_DIR=str(settings.course_dir), BOOTCAMP_DATA_DIR=str(settings.data_path),
               BOOTCAMP_TASK_QUEUE="celery", BOOTCAMP_WARM_IMPORTS=FAST_WARM, BOOTCAMP_WALL_SECONDS="30",
               BOOTCAMP_LEASE_SECONDS=str(lease), BOOTCAMP_BROKER_URL=settings.broker_url)
    procs = [subprocess.Popen([sys.executable, "-m", "autograder", "celery-worker", "--concurrency", "1"], env=env,
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
             for _ in range(2)]
    try:
        warm = service.submit("lia", sub().solve().bytes()).json()["id"]  # both workers up and warm
        assert _wait_graded(service.db, [warm], timeout=180) == [("graded", 5.0)]
        slow = sub().solve().after("double", "import time\ntime.sleep(4)").bytes()
        sid = service.submit("lea", slow).json()["id"]
        end = time.monotonic() + 60
        while True:
            with service.db.session() as s:
                job = s.scalar(select(GradingJob).where(GradingJob.submission_id == sid))
                owner = job.lease_owner
            if owner:
                break
            assert time.monotonic() < end, "the slow job was never taken"
            time.sleep(0.05)
        victim = int(owner.split(":")[1])
        assert victim in [p.pid for p in procs], owner
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        assert _wait_graded(service.db, [sid], timeout=lease + 60) == [("graded", 5.0)]
        took = time.monotonic() - killed_at
        with service.db.session() as s:
            job = s.scalar(select(GradingJob).where(GradingJob.submission_id == sid))
            assert job.attempts == 2, (job.attempts, job.last_error)
            rows = s.scalar(select(func.count()).select_from(ExerciseResult).where(ExerciseResult.submission_id == sid))
        assert rows == 2  # written once
        # retried within the lease plus a sweep, then graded (4 s of sleep on a loaded machine)
        assert took < lease + lease / 3 + 40, took
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(30)
        service.db.dispose()
        if redis:
            redis.close()


def test_the_sweeper_publishes_again_an_expired_lease_and_a_job_whose_message_was_lost(
        course_root, tmp_path, sub, monkeypatch):
    """Without a worker running: a job whose worker vanished mid-grade and a job queued long ago
    whose message the broker never got are each published again, once, by one sweeper."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from autograder.gradebook import jobs
    from autograder.gradebook.models import GradingJob, utcnow
    from autograder.grading import taskqueue

    settings = make_settings(course_root, tmp_path / "data", task_queue="celery")
    service = Service(settings)
    sent: list[int] = []
    monkeypatch.setattr(taskqueue, "publish", lambda app, job_id: sent.append(job_id))
    try:
        ids = [service.submit(who, sub().solve().bytes()).json()["id"] for who in ("lea", "leo", "lia")]
        sent.clear()  # what the API published
        with service.db.session() as s:
            a, b, c = (s.scalar(select(GradingJob.id).where(GradingJob.submission_id == i)) for i in ids)
        assert jobs.claim(service.db, a, "elsewhere:1:0", lease_seconds=-1)  # its lease has already expired
        with service.db.session() as s:
            s.execute(update(GradingJob).where(GradingJob.id == b).values(updated_at=utcnow() - timedelta(hours=1)))
        one, two = (taskqueue.Sweeper(None, service.db, settings) for _ in range(2))
        assert sorted(one.sweep() + two.sweep()) == [a]
        assert sorted(sent) == [a, b], sent  # c is simply waiting its turn: not published twice
        assert one.sweep() == [] and sorted(sent) == [a, b]
    finally:
        service.db.dispose()


def test_celery_tasks_take_turns_between_learners(course_root, tmp_path, sub, monkeypatch):
    """Issue 16, class 5, on the Celery path: one learner's four uploads, published before another
    learner's one, do not all run first. A task claims the next job in the same round-robin as the
    polling worker, whatever job its message names (the broker hands messages out in order)."""
    from types import SimpleNamespace

    from sqlalchemy import select

    from autograder.gradebook.models import GradingJob
    from autograder.grading import taskqueue

    settings = make_settings(course_root, tmp_path / "data", task_queue="celery")
    service = Service(settings)
    sent: list[int] = []
    monkeypatch.setattr(taskqueue, "publish", lambda app, job_id: sent.append(job_id))
    graded: list[int] = []
    fake = SimpleNamespace(db=service.db, host="test", retry=lambda what, fn, *a, **k: fn(*a),
                           grade_job=lambda job_id, owner, slot: graded.append(job_id))
    runner = taskqueue._Runner(settings)
    monkeypatch.setattr(runner, "worker", lambda: fake)
    try:
        ids = [service.submit(who, sub().solve().bytes()).json()["id"] for who in ("lea",) * 4 + ("leo",)]
        with service.db.session() as s:
            job = {i: s.scalar(select(GradingJob.id).where(GradingJob.submission_id == i)) for i in ids}
        published = sorted(sent) or [job[i] for i in ids]
        for job_id in published:  # the broker's order: the order the API published them
            runner.run(job_id)
        lea, leo = [job[i] for i in ids[:4]], job[ids[4]]
        assert graded[:2] == [lea[0], leo], f"learner leo waited behind lea's uploads: graded in order {graded}"
        assert sorted(graded) == sorted(published), graded
    finally:
        service.db.dispose()
