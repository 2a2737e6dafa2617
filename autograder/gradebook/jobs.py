"""The grading queue, kept in the gradebook: enqueue, claim with a lease, finish, retry.

The interface is a few functions on a job id, so that a distributed task queue can drive
workers on other machines: autograder/grading/taskqueue.py does it with Celery, whose task body
claims the job its message names (``claim``) and grades it; the lease, the attempt count
and the "failed with the reason" rule stay here, in the database, where every API process
and the dashboard can see them, whichever way the job reached its worker.

Claiming is an optimistic conditional UPDATE (``... WHERE id = ? AND state = 'queued'``
or the lease has expired), which works the same on SQLite and PostgreSQL and lets any
number of workers compete for jobs without double grading.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, func, or_, select, update

from autograder.gradebook.db import Database
from autograder.gradebook.models import (
    ExerciseResult,
    Flag,
    GradingJob,
    JobState,
    Submission,
    SubmissionStatus,
    utcnow,
)

log = logging.getLogger("autograder.gradebook.jobs")


def enqueue(s, submission: Submission, max_attempts: int) -> GradingJob:
    job = GradingJob(submission=submission, state=JobState.queued, max_attempts=max_attempts)
    submission.status = SubmissionStatus.queued
    s.add(job)
    return job


def _claimable(now):
    return or_(
        GradingJob.state == JobState.queued,
        and_(GradingJob.state == JobState.running, GradingJob.lease_expires_at < now,
             GradingJob.attempts < GradingJob.max_attempts),
    )


def fail_exhausted(db: Database) -> int:
    """Jobs whose lease expired after their last attempt: failed, with the reason."""
    now = utcnow()
    n = 0
    with db.session() as s:
        rows = s.scalars(select(GradingJob).where(
            GradingJob.state == JobState.running, GradingJob.lease_expires_at < now,
            GradingJob.attempts >= GradingJob.max_attempts)).all()
        for job in rows:
            reason = (f"grading stopped {job.attempts} times without finishing (the worker died or was killed "
                      f"while grading); last error: {job.last_error or 'lease expired'}")
            _mark_failed(s, job, reason)
            n += 1
    return n


def _mark_failed(s, job: GradingJob, reason: str) -> None:
    job.state = JobState.failed
    job.last_error = reason
    job.lease_owner = None
    job.updated_at = utcnow()
    sub = job.submission
    sub.status = SubmissionStatus.failed
    sub.message = reason[:1000]
    sub.graded_at = utcnow()


def fair_order(waiting: list[tuple[int, int]], running: dict[int, int]) -> list[int]:
    """Job ids in the order workers should take them: round-robin between learners.

    ``waiting`` is (job id, learner id) oldest first; ``running`` counts each learner's jobs being
    graded now. A learner's n-th waiting job comes after every other learner's (n-1)-th, counting
    the jobs it already has running: one learner's four slow notebooks make another learner wait
    behind one of them at most, not behind all four (issue 16, class 5). Within a round, oldest
    first."""
    seen: dict[int, int] = {}
    keyed = []
    for job_id, user in waiting:
        rank = running.get(user, 0) + seen.get(user, 0)
        seen[user] = seen.get(user, 0) + 1
        keyed.append((rank, job_id))
    return [job_id for _, job_id in sorted(keyed)]


def claim_next(db: Database, owner: str, lease_seconds: float) -> int | None:
    """Claim the next claimable job for ``owner`` in fair order (:func:`fair_order`); its id or None."""
    fail_exhausted(db)
    now = utcnow()
    with db.session() as s:
        waiting = s.execute(select(GradingJob.id, Submission.user_id).join(Submission)
                            .where(_claimable(now)).order_by(GradingJob.id).limit(500)).all()
        if not waiting:
            return None
        busy = s.execute(select(Submission.user_id, func.count()).join(GradingJob)
                         .where(GradingJob.state == JobState.running, GradingJob.lease_expires_at >= now)
                         .group_by(Submission.user_id)).all()
    order = fair_order([(j, u) for j, u in waiting], {u: n for u, n in busy})
    for job_id in order[:5]:
        if claim(db, job_id, owner, lease_seconds):
            return job_id
    return None


def claim(db: Database, job_id: int, owner: str, lease_seconds: float) -> bool:
    """Claim this job for ``owner`` if it is claimable (a task queue's message names the job).

    A conditional UPDATE: of two workers handed the same job (a redelivered message, or a
    queue worker and the database poll), exactly one gets it; the other is told False."""
    now = utcnow()
    with db.session() as s:
        res = s.execute(
            update(GradingJob)
            .where(GradingJob.id == job_id, _claimable(now))
            .values(state=JobState.running, lease_owner=owner, attempts=GradingJob.attempts + 1,
                    lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if res.rowcount != 1:
            return False
        job = s.get(GradingJob, job_id)
        job.submission.status = SubmissionStatus.grading
        return True


def requeue_expired(db: Database) -> list[int]:
    """Running jobs whose lease expired (their worker was killed, or lost the database) go back
    to queued, attempts left permitting; the ids returned are this caller's alone (a conditional
    UPDATE per job: of several sweepers, one wins each job), for it to publish again."""
    fail_exhausted(db)
    now = utcnow()
    with db.session() as s:
        expired = s.scalars(select(GradingJob.id).where(
            GradingJob.state == JobState.running, GradingJob.lease_expires_at < now,
            GradingJob.attempts < GradingJob.max_attempts)).all()
    won = []
    for job_id in expired:
        with db.session() as s:
            res = s.execute(
                update(GradingJob)
                .where(GradingJob.id == job_id, GradingJob.state == JobState.running,
                       GradingJob.lease_expires_at < now)
                .values(state=JobState.queued, lease_owner=None, updated_at=now,
                        last_error="the lease expired: its worker stopped renewing it (killed, or cut off)")
                .execution_options(synchronize_session=False))
            if res.rowcount == 1:
                s.get(GradingJob, job_id).submission.status = SubmissionStatus.queued
                won.append(job_id)
    return won


def stale_queued(db: Database, older_than: float) -> list[int]:
    """Queued jobs untouched for ``older_than`` seconds (their message was lost: the broker was
    down when the API published, or it lost it). Each is touched, so that of several sweepers
    one takes it, and it comes back at most once per ``older_than``."""
    now = utcnow()
    cutoff = now - timedelta(seconds=older_than)
    with db.session() as s:
        ids = s.scalars(select(GradingJob.id).where(GradingJob.state == JobState.queued,
                                                    GradingJob.updated_at < cutoff)).all()
    won = []
    for job_id in ids:
        with db.session() as s:
            res = s.execute(update(GradingJob).where(GradingJob.id == job_id, GradingJob.state == JobState.queued,
                                                     GradingJob.updated_at < cutoff)
                            .values(updated_at=now).execution_options(synchronize_session=False))
            if res.rowcount == 1:
                won.append(job_id)
    return won


def claimable_ids(db: Database) -> list[int]:
    """Jobs waiting for a worker (queued, or leased by a worker that stopped renewing)."""
    with db.session() as s:
        return list(s.scalars(select(GradingJob.id).where(_claimable(utcnow())).order_by(GradingJob.id)).all())


def heartbeat(db: Database, job_id: int, owner: str, lease_seconds: float) -> bool:
    """Renew the lease; False if the job is no longer ours (it was reclaimed)."""
    now = utcnow()
    with db.session() as s:
        res = s.execute(
            update(GradingJob)
            .where(GradingJob.id == job_id, GradingJob.lease_owner == owner, GradingJob.state == JobState.running)
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return res.rowcount == 1


def finish(db: Database, job_id: int, owner: str, report) -> bool:
    """Write the grade: only the worker that holds the lease, from its own GradeReport."""
    with db.session() as s:
        job = s.get(GradingJob, job_id)
        if job is None or job.lease_owner != owner or job.state != JobState.running:
            return False
        sub = job.submission
        for r in list(sub.results):
            s.delete(r)
        for f in list(sub.flags):
            s.delete(f)
        s.flush()
        for r in report.results:
            s.add(ExerciseResult(submission=sub, position=r.position, exercise=r.exercise, grade_id=r.grade_id,
                                 points=r.points, max_points=r.max_points, passed=r.passed, status=r.status,
                                 message=r.message))
        for kind, detail in report.flags:
            s.add(Flag(submission=sub, kind=kind, detail=detail[:2000]))
        sub.status = SubmissionStatus(report.status)
        sub.score, sub.max_score = report.score, report.max_score
        sub.message = report.message[:1000]
        sub.graded_at = utcnow()
        sub.grading_seconds = report.grading_seconds
        sub.execution_seconds = report.execution_seconds
        job.state = JobState.done
        job.lease_owner = None
        job.updated_at = utcnow()
        return True


def give_up(db: Database, job_id: int, owner: str, reason: str) -> None:
    """A grading error that is not the learner's: retry while attempts remain, else fail."""
    with db.session() as s:
        job = s.get(GradingJob, job_id)
        if job is None or job.lease_owner != owner:
            return
        job.last_error = reason[:2000]
        if job.attempts >= job.max_attempts:
            _mark_failed(s, job, f"grading failed {job.attempts} times: {reason}")
        else:
            job.state = JobState.queued
            job.lease_owner = None
            job.submission.status = SubmissionStatus.queued
        job.updated_at = utcnow()


def regrade(s, submission: Submission, max_attempts: int) -> GradingJob:
    return enqueue(s, submission, max_attempts)
