"""Seed a gradebook directly (no grading): graded submissions with scores, results and flags,
dated in the past, for tests of what is computed from the gradebook (prerequisites,
transcripts, the digest)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from sqlalchemy import select

from autograder.gradebook.models import ExerciseResult, Flag, Submission, SubmissionStatus, User, utcnow

LESSON, OTHER = "9.8-grading", "9.9-stateful"


def user(s, username: str) -> User:
    return s.scalar(select(User).where(User.username == username))


def add_submission(db, username: str, lesson: str = LESSON, score: float | None = 5.0, max_score: float = 5.0,
                   days_ago: float = 0.0, status: str = "graded", results=(), flags=()) -> str:
    """One submission; ``results`` are (exercise, passed, message) triples."""
    with db.session() as s:
        raw = f"{username} {lesson} {score} {uuid.uuid4().hex}".encode()
        created = utcnow() - timedelta(days=days_ago)
        sub = Submission(user_id=user(s, username).id, lesson=lesson, notebook=raw,
                         sha256=hashlib.sha256(raw).hexdigest(), created_at=created,
                         status=SubmissionStatus(status), score=score, max_score=max_score if score is not None else None,
                         graded_at=created + timedelta(seconds=3) if status == "graded" else None)
        for i, (exercise, passed, message) in enumerate(results):
            sub.results.append(ExerciseResult(position=i, exercise=exercise, grade_id=f"{exercise}_test",
                                              points=1.0 if passed else 0.0, max_points=1.0, passed=passed,
                                              status="pass" if passed else "fail", message=message))
        for kind in flags:
            sub.flags.append(Flag(kind=kind, detail="seeded"))
        s.add(sub)
        s.flush()
        return sub.id


def pass_lesson(db, username: str, lesson: str = LESSON, days_ago: float = 0.0) -> str:
    return add_submission(db, username, lesson, 5.0, 5.0, days_ago)
