"""The gradebook: SQLAlchemy models. Alembic (autograder/gradebook/migrations) owns the schema.

A submission's notebook bytes are stored with it (before the API acknowledges it); a
grading job is the unit of work a worker claims with a lease; results and flags are
written only by the worker, from what its trusted test process reports.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # stored naive, always UTC


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    pass


class Role(enum.StrEnum):
    instructor = "instructor"
    mentor = "mentor"
    learner = "learner"


class SubmissionStatus(enum.StrEnum):
    queued = "queued"
    grading = "grading"
    graded = "graded"
    timed_out = "timed_out"
    failed = "failed"  # the grader could not grade it (after max_attempts), with the reason


class JobState(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


cohort_learners = Table(
    "cohort_learners",
    Base.metadata,
    Column("cohort_id", ForeignKey("cohorts.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)

cohort_mentors = Table(
    "cohort_mentors",
    Base.metadata,
    Column("cohort_id", ForeignKey("cohorts.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    first_name: Mapped[str] = mapped_column(String(120), default="")
    last_name: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    cohorts: Mapped[list[Cohort]] = relationship(secondary=cohort_learners, back_populates="learners")
    mentoring: Mapped[list[Cohort]] = relationship(secondary=cohort_mentors, back_populates="mentors")
    tokens: Mapped[list[Token]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @property
    def display_name(self) -> str:
        full = f"{self.first_name} {self.last_name}".strip()
        return full or self.username


class Cohort(Base):
    __tablename__ = "cohorts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    learners: Mapped[list[User]] = relationship(secondary=cohort_learners, back_populates="cohorts",
                                                order_by="User.username")
    mentors: Mapped[list[User]] = relationship(secondary=cohort_mentors, back_populates="mentoring")


class Token(Base):
    """An API token. Only its SHA-256 is stored; the token itself is shown once, when issued."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    user: Mapped[User] = relationship(back_populates="tokens")


class Submission(Base):
    __tablename__ = "submissions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    lesson: Mapped[str] = mapped_column(String(120), index=True)  # the lesson slug, e.g. "0.1-numpy"
    notebook: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    status: Mapped[SubmissionStatus] = mapped_column(Enum(SubmissionStatus, native_enum=False, length=20),
                                                     default=SubmissionStatus.queued)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")  # one line: "timed out after 60 s in cell 4", ...
    graded_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    grading_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    execution_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    # the client's Idempotency-Key header: a request sent again (its answer was lost) gets this
    # same submission back; unique per learner (NULLs, submissions without a key, never collide)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)

    __table_args__ = (UniqueConstraint("user_id", "idempotency_key", name="uq_submissions_user_idempotency_key"),)

    user: Mapped[User] = relationship()
    results: Mapped[list[ExerciseResult]] = relationship(back_populates="submission", cascade="all, delete-orphan",
                                                         order_by="ExerciseResult.position")
    flags: Mapped[list[Flag]] = relationship(back_populates="submission", cascade="all, delete-orphan")
    jobs: Mapped[list[GradingJob]] = relationship(back_populates="submission", cascade="all, delete-orphan")


class GradingJob(Base):
    """One attempt-counted request to grade a submission (a regrade is a new job).

    A worker claims it by setting ``lease_owner`` and ``lease_expires_at`` and renews the
    lease while it grades; a job whose lease expires is claimed again, up to
    ``max_attempts`` claims, then failed with the reason.
    """

    __tablename__ = "grading_jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    state: Mapped[JobState] = mapped_column(Enum(JobState, native_enum=False, length=20), default=JobState.queued,
                                            index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_owner: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    submission: Mapped[Submission] = relationship(back_populates="jobs")


class ExerciseResult(Base):
    """One graded test cell of one submission."""

    __tablename__ = "exercise_results"
    __table_args__ = (UniqueConstraint("submission_id", "grade_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    exercise: Mapped[str] = mapped_column(String(120), index=True)
    grade_id: Mapped[str] = mapped_column(String(120))
    points: Mapped[float] = mapped_column(Float, default=0.0)
    max_points: Mapped[float] = mapped_column(Float, default=0.0)
    passed: Mapped[bool] = mapped_column(Boolean, default=False)
    # pass | fail | todo | error | deleted | tampered | patched | timed out | not run
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")

    submission: Mapped[Submission] = relationship(back_populates="results")


class Flag(Base):
    """Something a mentor should look at: a tampered test cell, a patched assertion helper."""

    __tablename__ = "flags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # tampered_test_cell | deleted_test_cell | patched_helper | ...
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    submission: Mapped[Submission] = relationship(back_populates="flags")

