"""Signed transcripts: what a learner has done, in a form someone else can check offline.

    GET /api/transcript/public-key       anyone, no token: the service's Ed25519 public key
                                         (JSON, or ?format=pem); never the private key
    GET /api/transcript                  the caller's own transcript, signed
    GET /api/transcript?username=NAME    mentors (their cohorts' learners) and instructors

A transcript lists every lesson with a graded submission: the submission that counts (the
first that passed, else the best), its score, attempts, submitted and graded dates and the
sha256 of the notebook bytes the service stored; plus the projects the learner claimed.
The format and the checks are in course/learner/transcript.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import select

from autograder.api.routes import DB, CurrentUser
from autograder.gradebook.accounts import visible_learner_ids
from autograder.gradebook.models import Submission, SubmissionStatus, User, utcnow
from autograder.projects.models import Claim, ClaimStatus
from autograder.projects.service import is_pass, lesson_titles
from autograder.transcripts import signing
from course.learner.transcript import FORMAT

router = APIRouter(prefix="/api/transcript")
PASSING_RULE = ("A lesson is passed when a graded submission has every auto-graded point (hidden tests included); "
                "scores are the first such submission's, or the best one's if none passed. Flags name integrity "
                "checks that fired on it (tampered test cells are restored before grading).")


def _iso(dt) -> str | None:
    return dt.replace(microsecond=0).isoformat() + "Z" if dt else None


def build(s, learner: User, course_dir, service: str, key_id: str) -> dict:
    titles = lesson_titles(course_dir)
    subs = s.scalars(select(Submission).where(Submission.user_id == learner.id).order_by(Submission.created_at)).all()
    by_lesson: dict[str, list[Submission]] = {}
    for sub in subs:
        by_lesson.setdefault(sub.lesson, []).append(sub)
    lessons = []
    order = list(titles) + sorted(set(by_lesson) - set(titles))
    for slug in order:
        mine = by_lesson.get(slug, [])
        graded = [x for x in mine if x.status == SubmissionStatus.graded and x.score is not None]
        if not graded:
            continue
        passing = [x for x in graded if is_pass(x)]
        best = passing[0] if passing else max(graded, key=lambda x: (x.score, x.created_at))
        lessons.append({"lesson": slug, "id": slug.split("-", 1)[0], "title": titles.get(slug, slug),
                        "passed": bool(passing), "score": float(best.score), "max_score": float(best.max_score or 0),
                        "attempts": len(mine), "submission": best.id, "sha256": best.sha256,
                        "flags": sorted({f.kind for f in best.flags}),
                        "submitted_at": _iso(best.created_at), "graded_at": _iso(best.graded_at)})
    claims = s.scalars(select(Claim).where(Claim.user_id == learner.id, Claim.status != ClaimStatus.dropped)
                       .order_by(Claim.claimed_at)).all()
    return {
        "format": FORMAT,
        "issuer": {"service": service, "key_id": key_id},
        "issued_at": _iso(utcnow()),
        "learner": {"username": learner.username, "name": learner.display_name,
                    "cohorts": sorted(c.name for c in learner.cohorts)},
        "passing_rule": PASSING_RULE,
        "lessons": lessons,
        "projects": [{"title": c.proposal.title, "lesson": c.proposal.lesson, "status": c.status.value,
                      "claimed_at": _iso(c.claimed_at)} for c in claims],
    }


def signing_key(request: Request) -> signing.SigningKey:
    state = request.app.state
    key = getattr(state, "signing_key", None)
    if key is None:
        key = state.signing_key = signing.load_or_create(state.settings)
    return key


def signed_transcript(request: Request, s, learner: User) -> dict:
    key = signing_key(request)
    settings = request.app.state.settings
    return key.sign(build(s, learner, settings.course_dir, settings.base_url, key.key_id))


@router.get("/public-key")
def public_key(request: Request, format: Annotated[str, Query(pattern="^(json|pem)$")] = "json"):
    key = signing_key(request)
    if format == "pem":
        return PlainTextResponse(key.public_pem(), media_type="application/x-pem-file")
    return key.public_json()


@router.get("")
def transcript(request: Request, user: CurrentUser, s: DB,
               username: Annotated[str | None, Query(max_length=120)] = None):
    learner = user
    if username and username != user.username:
        allowed = visible_learner_ids(s, user)
        learner = s.scalar(select(User).where(User.username == username))
        if learner is None or (allowed is not None and learner.id not in allowed):
            raise HTTPException(404, f"no learner {username!r} that you can see")
    return signed_transcript(request, s, learner)
