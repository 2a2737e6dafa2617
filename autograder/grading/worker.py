"""The long-lived grading worker: ``python -m autograder worker``.

One process holds one zygote (numpy, torch and course.checks imported once) and grades
``settings.workers`` submissions at a time, each in its own sandboxed pair of processes.
Jobs come from the gradebook (autograder.gradebook.jobs); the lease is renewed while a notebook is
graded, so a worker killed in the middle leaves a job that another worker, or this one
restarted, takes again.

The worker survives its dependencies: a database error anywhere in the grading loop (claim,
lease renewal, writing the grade) is logged and retried with backoff, never allowed to end a
grading thread; a grade already computed is kept in memory and written once the gradebook is
back. ``run_forever`` supervises its own threads (one that died is started again) and exits
non-zero when a thread is stuck, so that ``serve`` or systemd starts a fresh process. Its
health (threads alive, each ticked recently, the last database error) is written to
``<data_dir>/worker-<pid>.health`` every second, which ``/healthz`` reads.
"""

from __future__ import annotations

import json
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
        self.db_errors = 0  # database errors met (and retried) in the grading loop
        self.last_db_error = ""
        self.last_retry = ""  # what the last retried call was ("writing the grade of job 7")
        self.restarts = 0  # grading threads that died and were started again
        self.ticks: dict[int, float] = {}  # slot -> time.monotonic() of its last sign of life

    # ------------------------------------------------------------------ resilience
    def retry(self, what: str, fn, *args, slot: int | None = None, max_wait: float = 10.0):
        """``fn(*args)`` until it succeeds or the worker stops: a database or broker error is
        logged and retried with exponential backoff (0.5 s doubling to ``max_wait``); the
        slot keeps ticking, since waiting for the gradebook is not being stuck."""
        delay = 0.5
        while True:
            try:
                return fn(*args)
            except Exception as err:  # noqa: BLE001 - OperationalError, a pool timeout, a broker's ConnectionError...
                self.db_errors += 1
                self.last_retry = what
                self.last_db_error = f"{what}: {type(err).__name__}: {str(err).strip().splitlines()[0][:200] if str(err).strip() else ''}"
                log.warning("%s failed (%s); retrying in %.1f s", what, self.last_db_error, delay)
                if slot is not None:
                    self.tick(slot)
                if self.stopping.wait(delay):
                    raise
                delay = min(max_wait, delay * 2)

    def tick(self, slot: int) -> None:
        self.ticks[slot] = time.monotonic()

    def stale_after(self) -> float:
        """A slot silent for this long is stuck (it ticks every poll, and every third of a lease while grading)."""
        return max(60.0, 3 * self.settings.lease_seconds)

    def health(self) -> dict:
        now = time.monotonic()
        alive = [t.is_alive() for t in self.threads]
        ages = [round(now - self.ticks.get(slot, now), 1) for slot in range(len(self.threads))]
        ok = bool(alive) and all(alive) and all(a < self.stale_after() for a in ages)
        return {"ok": ok, "pid": os.getpid(), "threads_alive": sum(alive), "slots": len(alive),
                "seconds_since_tick": max(ages, default=0.0), "graded": self.graded, "db_errors": self.db_errors,
                "last_db_error": self.last_db_error, "restarts": self.restarts}

    def health_file(self) -> str:
        return str(self.settings.data_path / f"worker-{os.getpid()}.health")

    def write_health(self) -> None:
        path = self.health_file()
        try:
            self.settings.data_path.mkdir(parents=True, exist_ok=True)
            with open(path + ".tmp", "w") as f:
                json.dump(dict(self.health(), at=time.time()), f)
            os.replace(path + ".tmp", path)
        except OSError:  # a full disk: still alive, so say that much (a new time needs no space)
            try:
                os.utime(path)
            except OSError:
                pass

    def supervise(self) -> bool:
        """Start again any grading thread that died; False when one is alive but stuck."""
        for slot, t in enumerate(self.threads):
            if not t.is_alive() and not self.stopping.is_set():
                log.error("grading thread %d died; starting it again", slot)
                self.restarts += 1
                self.threads[slot] = self._spawn(slot)
        return self.health()["ok"]

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
            self.threads.append(self._spawn(slot))

    def _spawn(self, slot: int) -> threading.Thread:
        self.tick(slot)
        t = threading.Thread(target=self._loop, args=(slot,), name=f"grader-{slot}", daemon=True)
        t.start()
        return t

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout)
        self.grader.stop()

    def run_forever(self) -> int:
        """Grade until SIGTERM (0), or until a grading thread is stuck (3: the process
        supervisor, `serve` or systemd, starts a fresh worker and the leases bring its jobs back)."""
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
        code = 0
        while not self.stopping.is_set():
            self.stopping.wait(1.0)
            if supervisor and os.getppid() != supervisor:
                log.warning("worker %s: the service that started it is gone; stopping", os.getpid())
                self.stopping.set()
            if not self.supervise():
                log.error("worker %s is unhealthy (%s); exiting so that a fresh one is started",
                          os.getpid(), self.health())
                code = 3
                self.stopping.set()
            self.write_health()
        self.stop(timeout=2.0 if code else 10.0)
        try:
            os.unlink(self.health_file())
        except OSError:
            pass
        return code

    def _loop(self, slot: int) -> None:
        owner = self.owner(slot)
        delay = 0.5
        while not self.stopping.is_set():
            self.tick(slot)
            try:
                job_id = jobs.claim_next(self.db, owner, self.settings.lease_seconds)
                if job_id is None:
                    self.stopping.wait(self.settings.poll_seconds)
                    continue
                self.grade_job(job_id, owner, slot)
                delay = 0.5
            except Exception as err:  # noqa: BLE001 - nothing may end a grading thread
                self.db_errors += 1
                self.last_db_error = f"grading loop: {type(err).__name__}: {str(err).strip()[:200]}"
                log.exception("grading slot %d: %s; again in %.1f s", slot, type(err).__name__, delay)
                self.stopping.wait(delay)
                delay = min(10.0, delay * 2)

    def grade_job(self, job_id: int, owner: str, slot: int) -> None:
        def load():
            with self.db.session() as s:
                job = s.get(GradingJob, job_id)
                return job.submission.lesson, job.submission.notebook

        lesson, raw = self.retry(f"reading job {job_id}", load, slot=slot)
        beat_stop = threading.Event()

        def beat():
            while not beat_stop.wait(self.settings.lease_seconds / 3):
                self.tick(slot)
                try:
                    jobs.heartbeat(self.db, job_id, owner, self.settings.lease_seconds)
                except Exception as err:  # noqa: BLE001 - renewed at the next beat; the lease may lapse meanwhile
                    self.db_errors += 1
                    self.last_db_error = f"lease renewal: {type(err).__name__}"
                    log.warning("lease renewal of job %s failed: %s", job_id, type(err).__name__)

        hb = threading.Thread(target=beat, daemon=True)
        hb.start()
        try:  # the lease is renewed until the outcome is written, database outages included
            self._grade_and_write(job_id, owner, slot, lesson, raw)
        finally:
            beat_stop.set()

    def _grade_and_write(self, job_id: int, owner: str, slot: int, lesson: str, raw: bytes) -> None:
        try:
            report = self.grader.grade_bytes(lesson, raw, slot=slot)
        except SubmissionError as err:  # cannot ever be graded: say why, do not retry
            reason = str(err)

            def never():
                with self.db.session() as s:
                    s.execute(update(GradingJob).where(GradingJob.id == job_id)
                              .values(attempts=GradingJob.max_attempts))
                jobs.give_up(self.db, job_id, owner, reason)

            self.retry(f"failing job {job_id}", never, slot=slot)
            return
        except Exception as err:
            log.exception("grading job %s failed", job_id)
            self.retry(f"giving up job {job_id}", jobs.give_up, self.db, job_id, owner,
                       f"{type(err).__name__}: {err}", slot=slot)
            return
        # The grade is computed: keep it until the gradebook takes it (a database restart, a
        # full disk). If the lease lapsed meanwhile and another worker took the job, finish()
        # says False and this grade is dropped: the job is still graded exactly once.
        if self.retry(f"writing the grade of job {job_id}", jobs.finish, self.db, job_id, owner, report, slot=slot):
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


def read_health(data_path, stale_seconds: float = 10.0) -> list[dict]:
    """The health of every worker process on this machine that writes into ``data_path``
    (a file of a process that is gone is removed; one not rewritten for ``stale_seconds`` is not ok)."""
    from pathlib import Path

    found = []
    for path in sorted(Path(data_path).glob("worker-*.health")):
        try:
            pid = int(path.stem.split("-", 1)[1])
            if not _alive(pid):
                path.unlink(missing_ok=True)
                continue
            h = json.loads(path.read_text())
            age = time.time() - max(h.pop("at", 0.0), path.stat().st_mtime)
        except (ValueError, OSError):
            continue
        if age > stale_seconds:
            h.update(ok=False, stale=f"not updated for {age:.0f} s")
        found.append(h)
    return found


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
