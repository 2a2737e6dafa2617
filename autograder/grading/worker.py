"""The long-lived grading worker: ``python -m autograder worker``.

One process holds one zygote (numpy, torch and course.checks imported once) and grades
``settings.workers`` submissions at a time, each in its own sandboxed pair of processes.
Jobs come from the gradebook (autograder.gradebook.jobs); the lease is renewed while a notebook is
graded, so a worker killed in the middle leaves a job that another worker, or this one
restarted, takes again.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from datetime import timedelta

from sqlalchemy import select, update

from autograder.gradebook import jobs
from autograder.gradebook.db import Database
from autograder.gradebook.models import GradingJob, JobState, utcnow
from autograder.grading.pipeline import Grader, SubmissionError
from autograder.settings import Settings

log = logging.getLogger("autograder.grading.worker")


class Worker:
    def __init__(self, settings: Settings, db: Database | None = None, grader: Grader | None = None):
        self.settings = settings
        self.db = db or Database(settings)
        self.grader = grader or Grader(settings)
        self.stopping = threading.Event()
        self.host = socket.gethostname()
        self.threads: list[threading.Thread] = []
        self.graded = 0

    def owner(self, slot: int) -> str:
        return f"{self.host}:{os.getpid()}:{slot}"

    def release_dead_leases(self) -> int:
        """Jobs held by a worker of this machine that no longer runs are claimable now."""
        n = 0
        with self.db.session() as s:
            rows = s.scalars(select(GradingJob).where(GradingJob.state == JobState.running)).all()
            for job in rows:
                host, _, rest = (job.lease_owner or "").partition(":")
                pid = rest.split(":")[0]
                if host == self.host and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                    job.lease_expires_at = utcnow() - timedelta(seconds=1)
                    job.last_error = f"the worker (pid {pid}) stopped while grading"
                    n += 1
        return n

    def start(self) -> None:
        self.grader.start()
        self.release_dead_leases()
        for slot in range(max(1, self.settings.workers)):
            t = threading.Thread(target=self._loop, args=(slot,), name=f"grader-{slot}", daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout)
        self.grader.stop()

    def run_forever(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        self.start()
        log.info("worker %s: %d slot(s), zygote warm in %.1f s", os.getpid(), len(self.threads),
                 self.grader.zygote.warm_seconds)
        print(f"autograder worker ready: {len(self.threads)} slot(s), imports warm in "
              f"{self.grader.zygote.warm_seconds:.1f} s", flush=True)
        # Started by `serve`? Then stop with it, however it ended (uvicorn re-raises SIGTERM
        # after its own shutdown, so serve's clean-up does not always get to run).
        supervisor = int(os.environ.get("BOOTCAMP_SUPERVISOR_PID", "0") or 0)
        while not self.stopping.is_set():
            self.stopping.wait(1.0)
            if supervisor and os.getppid() != supervisor:
                log.warning("worker %s: the service that started it is gone; stopping", os.getpid())
                self.stopping.set()
        self.stop()

    def _loop(self, slot: int) -> None:
        owner = self.owner(slot)
        while not self.stopping.is_set():
            try:
                job_id = jobs.claim_next(self.db, owner, self.settings.lease_seconds)
            except Exception:
                log.exception("claiming a job failed")
                self.stopping.wait(1.0)
                continue
            if job_id is None:
                self.stopping.wait(self.settings.poll_seconds)
                continue
            self.grade_job(job_id, owner, slot)

    def grade_job(self, job_id: int, owner: str, slot: int) -> None:
        with self.db.session() as s:
            job = s.get(GradingJob, job_id)
            lesson, raw = job.submission.lesson, job.submission.notebook
        beat_stop = threading.Event()

        def beat():
            while not beat_stop.wait(self.settings.lease_seconds / 3):
                try:
                    jobs.heartbeat(self.db, job_id, owner, self.settings.lease_seconds)
                except Exception:
                    log.exception("lease renewal failed")

        hb = threading.Thread(target=beat, daemon=True)
        hb.start()
        try:
            report = self.grader.grade_bytes(lesson, raw, slot=slot)
        except SubmissionError as err:  # cannot ever be graded: say why, do not retry
            with self.db.session() as s:
                s.execute(update(GradingJob).where(GradingJob.id == job_id).values(attempts=GradingJob.max_attempts))
            jobs.give_up(self.db, job_id, owner, str(err))
            return
        except Exception as err:
            log.exception("grading job %s failed", job_id)
            jobs.give_up(self.db, job_id, owner, f"{type(err).__name__}: {err}")
            return
        finally:
            beat_stop.set()
        if jobs.finish(self.db, job_id, owner, report):
            self.graded += 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_idle(db: Database, timeout: float = 60.0) -> bool:
    """Until no job is queued or running (tests and the benchmark)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with db.session() as s:
            busy = s.scalar(select(GradingJob.id).where(GradingJob.state.in_([JobState.queued, JobState.running]))
                            .limit(1))
        if busy is None:
            return True
        time.sleep(0.1)
    return False
