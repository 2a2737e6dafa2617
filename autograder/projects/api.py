"""Project proposals, claims and peer matching under /api. Bad input is 4xx JSON with a
one-line "detail" and stores nothing (the session rolls back).

| endpoint | learner | mentor | instructor |
|---|---|---|---|
| GET /api/proposals | open ones of their cohorts and global; qualified only, unless ?all=true (then with "missing") | global + assigned cohorts', with claimants of their learners | all |
| POST /api/proposals | 403 | yes (global or an assigned cohort) | yes (may name the mentor) |
| GET /api/proposals/{id} | if visible (404 otherwise) | if visible | all |
| PATCH /api/proposals/{id} | 403 | their own, or an assigned cohort's (403 otherwise) | all |
| POST /api/proposals/{id}/claim | own, with the prerequisites passed (403 naming the missing lessons) | 403 | 403 |
| GET /api/claims | own | their cohorts' learners | all |
| PATCH /api/claims/{id} | own (404 otherwise) | their cohorts' learners (404 otherwise) | all |
| GET /api/peers, PUT/DELETE /api/peers/optin | own | 403 | 403 |
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from sqlalchemy import select

from autograder.api.routes import DB, CurrentUser
from autograder.gradebook.accounts import visible_learner_ids
from autograder.gradebook.models import Role, User
from autograder.projects import service as projects
from autograder.projects.models import Claim, ClaimStatus
from autograder.projects.service import ClaimIn, ClaimPatch, OptIn, ProjectError, ProposalIn, ProposalPatch

router = APIRouter(prefix="/api")


def _root(request: Request):
    return request.app.state.settings.course_dir


def _json(s, user: User, p, passed=None) -> dict:
    return projects.proposal_json(p, user, passed, visible_learner_ids(s, user))


@router.get("/proposals")
def list_proposals(user: CurrentUser, s: DB, all: bool = False,
                   lesson: Annotated[str | None, Query(max_length=120)] = None):
    rows = projects.visible_proposals(s, user)
    if lesson:
        rows = [p for p in rows if p.lesson == lesson or p.lesson.split("-", 1)[0] == lesson]
    passed = projects.passed_lessons(s, user.id) if user.role == Role.learner else None
    out = [_json(s, user, p, passed) for p in rows]
    if user.role == Role.learner and not all:
        out = [d for d in out if d["status"] == "open" and (d["eligible"] or d["claimed"])]
    return out


@router.post("/proposals", status_code=201)
def post_proposal(request: Request, user: CurrentUser, s: DB, data: ProposalIn):
    p = projects.create_proposal(s, user, data, _root(request))
    s.commit()  # before the answer: a client that reads right after must see it
    return _json(s, user, p)


@router.get("/proposals/{proposal_id}")
def get_proposal(proposal_id: int, user: CurrentUser, s: DB):
    p = projects.get_proposal(s, user, proposal_id)
    passed = projects.passed_lessons(s, user.id) if user.role == Role.learner else None
    return _json(s, user, p, passed)


@router.patch("/proposals/{proposal_id}")
def patch_proposal(proposal_id: int, user: CurrentUser, s: DB, data: ProposalPatch):
    if user.role == Role.learner:
        raise ProjectError(403, "only a mentor or an instructor can change a proposal")
    p = projects.update_proposal(s, user, projects.get_proposal(s, user, proposal_id), data)
    s.commit()
    return _json(s, user, p)


@router.post("/proposals/{proposal_id}/claim", status_code=201)
def claim_proposal(proposal_id: int, user: CurrentUser, s: DB,
                   data: Annotated[ClaimIn | None, Body()] = None):
    if user.role != Role.learner:
        raise ProjectError(403, "only learners claim proposals")
    p = projects.get_proposal(s, user, proposal_id)
    c = projects.claim(s, user, p, data or ClaimIn())
    s.commit()
    return projects.claim_json(c)


@router.get("/claims")
def list_claims(user: CurrentUser, s: DB, proposal: int | None = None, include_dropped: bool = False):
    q = select(Claim).order_by(Claim.claimed_at)
    allowed = visible_learner_ids(s, user)
    if allowed is not None:
        q = q.where(Claim.user_id.in_(allowed))
    if proposal is not None:
        q = q.where(Claim.proposal_id == proposal)
    if not include_dropped:
        q = q.where(Claim.status != ClaimStatus.dropped)
    return [projects.claim_json(c) for c in s.scalars(q).all()]


@router.patch("/claims/{claim_id}")
def patch_claim(claim_id: int, user: CurrentUser, s: DB, data: ClaimPatch):
    c = projects.visible_claim(s, user, claim_id)
    projects.update_claim(s, user, c, data)
    s.commit()
    return projects.claim_json(c)


@router.get("/peers")
def get_peers(user: CurrentUser, s: DB):
    return projects.peers(s, user)


@router.put("/peers/optin")
def opt_in(user: CurrentUser, s: DB, data: Annotated[OptIn | None, Body()] = None):
    row = projects.set_optin(s, user, (data or OptIn()).contact)
    s.commit()
    return {"opted_in": True, "contact": row.contact}


@router.delete("/peers/optin")
def opt_out(user: CurrentUser, s: DB):
    projects.set_optin(s, user, None)
    s.commit()
    return {"opted_in": False}
