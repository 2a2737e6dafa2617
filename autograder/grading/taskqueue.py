"""Grading workers on other machines, driven by Celery (``BOOTCAMP_TASK_QUEUE=celery``).

The only module that meets Celery. The gradebook stays the record of every job: the API
stores the submission and its GradingJob row before it answers (autograder.gradebook.jobs), then,
with this queue switched on, publishes the job's id as a ``bootcamp.grade`` task.
``python -m autograder celery-worker`` runs Celery workers, on any machine that reaches
the database and the broker; each task claims the job its message names (``jobs.claim``:
a conditional UPDATE, so a redelivered message or a polling worker that got there first
costs nothing), grades it with the process's warm Grader (one zygote per worker process:
imports paid once) and writes the grade, as the polling worker does. Leases, retries, the
attempt limit and "failed with the reason" stay in jobs.py. A message that is lost is not
a lost submission: the job is still queued in the database, and a worker publishes every
claimable job again when it starts (``republish``), as the polling worker would take it.

The broker defaults to the gradebook's database server (kombu's SQLAlchemy transport: the
same PostgreSQL database, or ``broker.db`` beside an SQLite gradebook; nothing more to run);
``BOOTCAMP_BROKER_URL`` points it at Redis or RabbitMQ for a large cohort.
"""

from __future__ import annotations

import logging
import os
import threading

from celery import Celery

from autograder.gradebook import jobs
from autograder.gradebook.db import Database
from autograder.settings import Settings

log = logging.getLogger("autograder.grading.taskqueue")
TASK = "bootcamp.grade"


def broker_url(settings: Settings) -> str:
    if settings.broker_url:
        return settings.broker_url
    if settings.db_url.startswith("sqlite:"):  # its own file: kombu's tables stay out of the gradebook's schema
        return f"sqla+sqlite:///{settings.data_path / 'broker.db'}"
    return f"sqla+{settings.db_url}"


def make_app(settings: Settings) -> Celery:
    app = Celery("bootcamp", broker=broker_url(settings))
    app.conf.update(
        task_serializer="json", accept_content=["json"],  # a message is a job id, nothing a worker would unpickle
        task_acks_late=True, task_reject_on_worker_lost=True,  # a worker killed mid-task: the message comes back
        worker_prefetch_multiplier=1,  # a slow lesson does not hold other jobs behind it
        task_ignore_result=True,  # results live in the gradebook
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    runner = _Runner(settings)

    @app.task(name=TASK)
    def grade(job_id: int) -> str:
        return runner.run(int(job_id))

    app.bootcamp_runner = runner
    return app


class _Runner:
    """The per-process side of a Celery worker: the database, a warm Grader, slots by thread."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._worker = None
        self._lock = threading.Lock()
        self._slots = threading.local()
        self._next_slot = 0

    def worker(self):
        from autograder.grading.worker import Worker

        with self._lock:
            if self._worker is None:
                self._worker = Worker(self.settings)
                self._worker.grader.start()
            return self._worker

    def slot(self) -> int:
        if not hasattr(self._slots, "n"):
            with self._lock:
                self._slots.n, self._next_slot = self._next_slot, self._next_slot + 1
        return self._slots.n

    def run(self, job_id: int) -> str:
        """A message is a turn, not a job: the task claims the next job in the same per-learner
        round-robin as the polling worker (``jobs.claim_next``: issue 16, class 5), which is the
        job its message names only when that one is next. The broker hands out messages in the
        order the API published them, so claiming the named job would let one learner's four
        uploads run before another's one. Every job is published at least once, so every job
        gets a turn; a message that finds nothing claimable costs nothing."""
        w = self.worker()
        slot = self.slot()
        owner = f"{w.host}:{os.getpid()}:celery-{slot}"

        def claim() -> int | None:
            return jobs.claim_next(w.db, owner, self.settings.lease_seconds)

        # the gradebook down: wait for it (the message is this job's only one; acked_late, a
        # task that raised would be acknowledged and the queued job left without a message)
        got = w.retry(f"claiming a job (message for job {job_id})", claim)
        if got is None:
            return "nothing claimable (graded, or taken by another worker)"
        w.grade_job(got, owner, slot)
        return "graded" if got == job_id else f"graded job {got} (its turn came first)"

    def stop(self) -> None:
        with self._lock:
            if self._worker is not None:
                self._worker.grader.stop()
                self._worker.db.dispose()
                self._worker = None


def publish(app: Celery, job_id: int) -> None:
    app.send_task(TASK, args=[int(job_id)])


def republish(app: Celery, db: Database) -> int:
    """Publish every job still waiting in the gradebook (after a restart or a lost message)."""
    ids = jobs.claimable_ids(db)
    for job_id in ids:
        publish(app, job_id)
    return len(ids)


class Sweeper:
    """Every third of a lease: requeue and publish again the jobs whose lease expired."""

    def __init__(self, app: Celery, db: Database, settings: Settings):
        self.app, self.db, self.settings = app, db, settings
        self.stopping = threading.Event()
        self.unpublished: set[int] = set()  # requeued, but the broker was down: published at the next sweep
        self.swept = 0

    def sweep(self) -> list[int]:
        ids = jobs.requeue_expired(self.db)
        if ids:
            log.warning("sweeper: job(s) %s had an expired lease; queued and published again", ids)
        self.swept += len(ids)
        # a job queued long ago whose message is gone (the broker was down when the API published)
        lost = jobs.stale_queued(self.db, max(300.0, 10 * self.settings.lease_seconds))
        if lost:
            log.warning("sweeper: job(s) %s waited over 5 minutes in the queue; published again", lost)
        todo, self.unpublished = sorted(self.unpublished | set(ids) | set(lost)), set()
        for job_id in todo:
            try:
                publish(self.app, job_id)
            except Exception as err:  # noqa: BLE001 - the broker is down: next time
                log.warning("sweeper: could not publish job %s: %s", job_id, err)
                self.unpublished.add(job_id)
        return ids

    def run(self) -> None:
        delay = 0.5
        while not self.stopping.wait(max(0.5, self.settings.lease_seconds / 3)):
            try:
                self.sweep()
                delay = 0.5
            except Exception as err:  # noqa: BLE001 - the gradebook is down: retried, never fatal
                log.warning("sweeper: %s: %s; again in %.1f s", type(err).__name__, err, delay)
                self.stopping.wait(delay)
                delay = min(10.0, delay * 2)

    def start(self) -> Sweeper:
        threading.Thread(target=self.run, name="lease-sweeper", daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()


_apps: dict[str, Celery] = {}


def app_for(settings: Settings) -> Celery:
    """One Celery app per broker in this process (the API publishes through it)."""
    url = broker_url(settings)
    if url not in _apps:
        _apps[url] = make_app(settings)
    return _apps[url]


def run_worker(settings: Settings, concurrency: int) -> None:
    """``python -m autograder celery-worker``: a Celery worker, threads sharing one warm grader."""
    app = make_app(settings)
    db = Database(settings)
    n = republish(app, db)
    if n:
        print(f"published {n} waiting job(s) again", flush=True)
    sweeper = Sweeper(app, db, settings).start()
    try:
        app.worker_main(["worker", "--pool=threads", f"--concurrency={max(1, concurrency)}", "--loglevel=INFO",
                         "--without-gossip", "--without-mingle", "--without-heartbeat"])
    finally:
        sweeper.stop()
        app.bootcamp_runner.stop()
