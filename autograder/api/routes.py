"""The HTTP API under /api. Every answer to bad input is 4xx JSON: {"detail": "<one line>"}.

Access rules (each has a test in tests/autograder/test_api_access.py):

| endpoint | learner | mentor | instructor |
|---|---|---|---|
| GET /api/me, GET /api/lessons | yes | yes | yes |
| POST /api/submissions | own | own | own |
| GET /api/submissions, /api/submissions/{id} | own only | learners of assigned cohorts | all |
| POST /api/submissions/{id}/regrade | no | learners of assigned cohorts | all |
| GET /api/cohorts, /api/cohorts/{id}/progress | no | assigned cohorts | all |

Another learner's submission answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from autograder.gradebook import jobs
from autograder.gradebook.accounts import can_see_cohort, touch, user_for_token, visible_learner_ids
from autograder.gradebook.models import Cohort, Role, Submission, User, utcnow
from autograder.grading.pipeline import SubmissionError, lesson_mismatch, parse_notebook

log = logging.getLogger("autograder.api.routes")

router = APIRouter(prefix="/api")


# --------------------------------------------------------------------------- dependencies
def get_session(request: Request):
    with request.app.state.db.session() as s:
        yield s


DB = Annotated[object, Depends(get_session)]


def current_user(request: Request, s: DB) -> User:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise HTTPException(401, "missing token: send the header 'Authorization: Bearer <token>'")
    if scheme.lower() not in ("bearer", "token") or not token.strip():
        raise HTTPException(401, "malformed Authorization header: expected 'Bearer <token>'")
    found = user_for_token(s, token.strip())
    if found is None:
        from autograder.hub import service as hub

        user = hub.user_for_hub_token(s, token.strip())  # under JupyterHub: a learner's server token
        if user is not None:
            return user
        raise HTTPException(401, "invalid or revoked token")
    user, tok = found
    touch(tok)
    return user


def submitter_id(request: Request) -> int:
    """Authenticate without holding a database connection for the rest of the request (uploads)."""
    with request.app.state.db.session() as s:
        return current_user(request, s).id


CurrentUser = Annotated[User, Depends(current_user)]


def _visible_submission(s, user: User, submission_id: str) -> Submission:
    sub = s.get(Submission, submission_id) if len(submission_id) <= 64 else None
    allowed = visible_learner_ids(s, user)
    if sub is None or (allowed is not None and sub.user_id not in allowed):
        raise HTTPException(404, f"no submission {submission_id!r} that you can see")
    return sub


def submission_json(sub: Submission) -> dict:
    return {
        "id": sub.id,
        "lesson": sub.lesson,
        "user": sub.user.username,
        "status": sub.status.value,
        "created_at": sub.created_at.isoformat() + "Z",
        "graded_at": sub.graded_at.isoformat() + "Z" if sub.graded_at else None,
        "score": sub.score,
        "max_score": sub.max_score,
        "message": sub.message,
        "attempts": max((j.attempts for j in sub.jobs), default=0),
        "results": [
            {"exercise": r.exercise, "grade_id": r.grade_id, "points": r.points, "max_points": r.max_points,
             "passed": r.passed, "status": r.status, "message": r.message}
            for r in sub.results
        ],
        "flags": [{"kind": f.kind, "detail": f.detail} for f in sub.flags],
    }


# --------------------------------------------------------------------------- routes
@router.get("/me")
def me(user: CurrentUser):
    return {"username": user.username, "role": user.role.value, "name": user.display_name,
            "cohorts": [c.name for c in user.cohorts], "mentoring": [c.name for c in user.mentoring]}


@router.get("/lessons")
def lessons(request: Request, user: CurrentUser):
    return [{"id": lesson.id, "slug": lesson.slug, "title": lesson.title}
            for lesson in request.app.state.catalogue.lessons()]


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the notebook is {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the notebook is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")


@router.post("/submissions", status_code=201)
async def submit(request: Request, response: Response, lesson: Annotated[str, Query(max_length=120)],
                 user_id: Annotated[int, Depends(submitter_id)]):
    """The body is the .ipynb file itself. Stored (committed) before the answer is sent.

    With an ``Idempotency-Key`` header, the same key from the same learner answers the same
    submission (200, ``"replayed": true``) however often it is sent: a client whose answer was
    lost sends it again without making a second row or a second grading."""
    settings = request.app.state.settings
    key = request.headers.get("idempotency-key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise HTTPException(400, "the Idempotency-Key header must be 1 to 200 printable ASCII characters "
                                 "without spaces (a random UUID is ideal)")
    raw = await _read_body(request, settings.max_upload_bytes)
    from starlette.concurrency import run_in_threadpool

    found, sub_id, job_id = await run_in_threadpool(_store, request.app.state, lesson, raw, user_id, key)
    if job_id is None:  # the same request again: its submission, nothing new stored or graded
        response.status_code = 200
        return {"id": sub_id, "status": "queued", "lesson": found.slug, "url": f"/api/submissions/{sub_id}",
                "replayed": True}
    # committed: only now is it acknowledged (and, with a task queue, published)
    if settings.task_queue == "celery":
        await run_in_threadpool(_publish, settings, job_id)
    return {"id": sub_id, "status": "queued", "lesson": found.slug, "url": f"/api/submissions/{sub_id}"}


def _replay(state, user_id: int, key: str, slug: str, sha: str) -> str | None:
    """The submission this learner already made under this key, if any (422 if it was another notebook)."""
    with state.db.session() as s:
        old = s.scalar(select(Submission).where(Submission.user_id == user_id, Submission.idempotency_key == key))
        if old is None:
            return None
        if old.sha256 != sha or old.lesson != slug:
            raise HTTPException(422, f"Idempotency-Key {key[:40]!r} was already used for a different notebook "
                                     f"or lesson (submission {old.id}); send a new key for a new submission")
        return old.id


def _store(state, lesson: str, raw: bytes, user_id: int, key: str | None = None):
    settings, catalogue = state.settings, state.catalogue
    sha = hashlib.sha256(raw).hexdigest()
    try:
        found = catalogue.find(lesson)
        if key is not None and (old := _replay(state, user_id, key, found.slug, sha)) is not None:
            return found, old, None
        nb = parse_notebook(raw, settings.max_upload_bytes)
        spec = catalogue.spec(found.slug)
    except SubmissionError as err:
        code = 413 if "limit" in str(err) else 400 if "not JSON" in str(err) else 422
        raise HTTPException(code, str(err)) from err
    except RecursionError as err:
        raise HTTPException(400, "the notebook is not JSON a notebook can be: it is nested too deeply") from err
    wrong = lesson_mismatch(nb, spec, found.id)
    if wrong:
        raise HTTPException(422, wrong)
    try:
        with state.db.session() as s:
            _check_quota(s, settings, user_id, len(raw))
            sub = Submission(user_id=user_id, lesson=found.slug, notebook=raw, sha256=sha, idempotency_key=key)
            s.add(sub)
            job = jobs.enqueue(s, sub, settings.max_attempts)
            s.flush()
            return found, sub.id, job.id
    except IntegrityError:  # the same key, sent twice at once: the other request stored it
        if key is None or (old := _replay(state, user_id, key, found.slug, sha)) is None:
            raise
        return found, old, None


def _check_quota(s, settings, user_id: int, size: int) -> None:
    """429 (with Retry-After, in seconds) when this learner has sent ``submissions_per_minute``
    notebooks in the last minute, or would store more than ``upload_bytes_per_day`` in a day.
    Checked in the transaction that stores the notebook; two requests at the same instant may
    both pass (the limit is for floods, not for exact accounting)."""
    now = utcnow()
    if settings.submissions_per_minute > 0:
        since = now - timedelta(minutes=1)
        recent = s.scalars(select(Submission.created_at).where(Submission.user_id == user_id,
                                                               Submission.created_at > since)
                           .order_by(Submission.created_at)).all()
        if len(recent) >= settings.submissions_per_minute:
            wait = max(1, math.ceil((recent[-settings.submissions_per_minute] - since).total_seconds()))
            raise HTTPException(429, f"too many submissions: at most {settings.submissions_per_minute} a minute; "
                                     f"try again in {wait} s", headers={"Retry-After": str(wait)})
    if settings.upload_bytes_per_day > 0:
        since = now - timedelta(days=1)
        rows = s.execute(select(Submission.created_at, func.length(Submission.notebook))
                         .where(Submission.user_id == user_id, Submission.created_at > since)
                         .order_by(Submission.created_at)).all()
        stored = sum(int(n or 0) for _, n in rows)
        if stored + size > settings.upload_bytes_per_day:
            freed, wait = stored + size - settings.upload_bytes_per_day, 86400
            for created, n in rows:  # the day's oldest uploads age out first
                freed -= int(n or 0)
                if freed <= 0:
                    wait = max(1, math.ceil((created - since).total_seconds()))
                    break
            raise HTTPException(429, f"storage quota: {stored} bytes stored in the last day and this notebook is "
                                     f"{size}; the limit is {settings.upload_bytes_per_day} a day; try again in "
                                     f"{wait} s", headers={"Retry-After": str(wait)})


def _publish(settings, job_id: int) -> None:
    """Hand the stored job to Celery. If the broker is down the job stays queued in the
    gradebook, and a Celery worker publishes it again when it starts."""
    from autograder.grading.taskqueue import app_for, publish

    try:
        publish(app_for(settings), job_id)
    except Exception as err:  # noqa: BLE001
        log.warning("job %s stored but not published to the task queue: %s", job_id, err)


@router.get("/submissions")
def list_submissions(user: CurrentUser, s: DB, lesson: str | None = None, username: str | None = None,
                     limit: Annotated[int, Query(le=500)] = 50):
    q = select(Submission).order_by(Submission.created_at.desc()).limit(limit)
    allowed = visible_learner_ids(s, user)
    if allowed is not None:
        q = q.where(Submission.user_id.in_(allowed))
    if lesson:
        q = q.where((Submission.lesson == lesson) | Submission.lesson.startswith(lesson + "-"))
    if username:
        q = q.join(User).where(User.username == username)
    return [submission_json(sub) for sub in s.scalars(q).all()]


@router.get("/submissions/{submission_id}")
def get_submission(submission_id: str, user: CurrentUser, s: DB):
    return submission_json(_visible_submission(s, user, submission_id))


@router.post("/submissions/{submission_id}/regrade", status_code=202)
def regrade(submission_id: str, request: Request, user: CurrentUser, s: DB):
    if user.role == Role.learner:
        raise HTTPException(403, "only a mentor or an instructor can ask for a regrade")
    sub = _visible_submission(s, user, submission_id)
    jobs.regrade(s, sub, request.app.state.settings.max_attempts)
    return {"id": sub.id, "status": "queued"}


@router.get("/cohorts")
def cohorts(user: CurrentUser, s: DB):
    if user.role == Role.learner:
        raise HTTPException(403, "learners cannot list cohorts")
    rows = s.scalars(select(Cohort).order_by(Cohort.name)).all()
    return [{"id": c.id, "name": c.name, "learners": len(c.learners), "mentors": [m.username for m in c.mentors]}
            for c in rows if can_see_cohort(user, c)]


@router.get("/cohorts/{cohort_id}/progress")
def cohort_progress(cohort_id: int, request: Request, user: CurrentUser, s: DB):
    from autograder.gradebook.progress import cohort_grid

    cohort = s.get(Cohort, cohort_id)
    if user.role == Role.learner:
        raise HTTPException(403, "learners cannot see a cohort's progress")
    if cohort is None or not can_see_cohort(user, cohort):
        raise HTTPException(404, f"no cohort {cohort_id} that you can see")
    return cohort_grid(s, cohort, request.app.state.catalogue)


def error_json(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)
