"""Dashboard pages for projects, the weekly digest and the transcript (behind the same login).

    /projects                     staff: who works on what, every proposal they can see, a form
                                  to post one, links to their cohorts' digests; learners: the
                                  proposals they qualify for (claim button), their claims, peers
    /cohorts/{id}/digest          the weekly digest (.md and .html variants; POST .../send)
    /transcript                   a learner's own signed transcript, readable
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select

from autograder.dashboard import digest
from autograder.dashboard.pages import DB, Staff, Viewer, _cohort_for, page
from autograder.gradebook import accounts
from autograder.gradebook.models import Cohort, Role, User
from autograder.projects import service as projects
from autograder.projects.models import Claim, ClaimStatus
from autograder.projects.service import ClaimIn, MilestoneIn, ProjectError, ProposalIn

router = APIRouter(include_in_schema=False)


def _projects_page(request: Request, user: User, s, error: str = "", notice: str = "", status: int = 200,
                   form: dict | None = None):
    visible = accounts.visible_learner_ids(s, user)
    rows = projects.visible_proposals(s, user)
    ctx: dict = {"error": error, "notice": notice, "form": form or {}}
    if user.role == Role.learner:
        passed = projects.passed_lessons(s, user.id)
        items = [(p, projects.proposal_json(p, user, passed)) for p in rows]
        ctx["eligible"] = [(p, d) for p, d in items if d["status"] == "open" and d["eligible"] and not d["claimed"]]
        ctx["later"] = [(p, d) for p, d in items if d["status"] == "open" and not d["eligible"] and not d["claimed"]]
        ctx["mine"] = s.scalars(select(Claim).where(Claim.user_id == user.id).order_by(Claim.claimed_at)).all()
        ctx["peers"] = projects.peers(s, user)
    else:
        ctx["proposals"] = [(p, projects.proposal_json(p, user, None, visible)) for p in rows]
        q = select(Claim).where(Claim.status != ClaimStatus.dropped).order_by(Claim.claimed_at)
        if visible is not None:
            q = q.where(Claim.user_id.in_(visible))
        ctx["claims"] = s.scalars(q).all()
        ctx["cohorts"] = [c for c in s.scalars(select(Cohort).order_by(Cohort.name)) if accounts.can_see_cohort(user, c)]
        ctx["lessons"] = request.app.state.catalogue.lessons()
    resp = page(request, "projects.html", user, **ctx)
    resp.status_code = status
    return resp


@router.get("/projects", response_class=HTMLResponse)
def projects_page(request: Request, user: Viewer, s: DB, notice: str = ""):
    return _projects_page(request, user, s, notice=notice[:200])


@router.post("/projects/new", response_class=HTMLResponse)
def post_proposal(request: Request, user: Staff, s: DB, title: Annotated[str, Form()] = "",
                  question: Annotated[str, Form()] = "", lesson: Annotated[str, Form()] = "",
                  checkpoint: Annotated[str, Form()] = "", difficulty: Annotated[int, Form()] = 3,
                  prerequisites: Annotated[str, Form()] = "", cohort: Annotated[str, Form()] = "",
                  max_claims: Annotated[str, Form()] = ""):
    form = {"title": title, "question": question, "lesson": lesson, "checkpoint": checkpoint,
            "difficulty": difficulty, "prerequisites": prerequisites, "cohort": cohort, "max_claims": max_claims}
    try:
        prereqs = [x.strip() for x in prerequisites.replace(",", " ").split()] if prerequisites.strip() else None
        data = ProposalIn(title=title, question=question, lesson=lesson, checkpoint=checkpoint, difficulty=difficulty,
                          prerequisites=prereqs, cohort=cohort or None,
                          max_claims=int(max_claims) if max_claims.strip() else None)
        p = projects.create_proposal(s, user, data, request.app.state.settings.course_dir)
    except ValidationError as err:
        s.rollback()
        return _projects_page(request, user, s, error=projects.first_error(err), status=422, form=form)
    except ValueError:
        s.rollback()
        return _projects_page(request, user, s, error="max claims: a whole number", status=422, form=form)
    except ProjectError as err:
        s.rollback()
        return _projects_page(request, user, s, error=err.detail, status=err.status, form=form)
    s.commit()  # before the redirect is followed
    return RedirectResponse(f"/projects?notice=Posted+proposal+{p.id}", status_code=303)


def _milestones(text: str) -> list[MilestoneIn]:
    """One milestone a line: "YYYY-MM-DD title"."""
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        day, _, title = line.strip().partition(" ")
        try:
            out.append(MilestoneIn(title=title.strip(), due=date.fromisoformat(day)))
        except (ValueError, ValidationError):
            raise ProjectError(422, f"milestone line {n}: write 'YYYY-MM-DD title'") from None
    return out


@router.post("/projects/{proposal_id}/claim", response_class=HTMLResponse)
def claim(proposal_id: int, request: Request, user: Viewer, s: DB, milestones: Annotated[str, Form()] = "",
          note: Annotated[str, Form()] = ""):
    try:
        if user.role != Role.learner:
            raise ProjectError(403, "only learners claim proposals")
        p = projects.get_proposal(s, user, proposal_id)
        c = projects.claim(s, user, p, ClaimIn(note=note[:2000], milestones=_milestones(milestones)))
    except ProjectError as err:
        s.rollback()
        return _projects_page(request, user, s, error=err.detail, status=err.status)
    s.commit()
    return RedirectResponse(f"/projects?notice=You+claimed+proposal+{c.proposal_id}", status_code=303)


@router.post("/peers/optin", response_class=HTMLResponse)
def optin(request: Request, user: Viewer, s: DB, action: Annotated[str, Form()] = "in",
          contact: Annotated[str, Form()] = ""):
    try:
        projects.set_optin(s, user, contact[:200] if action == "in" else None)
    except ProjectError as err:
        return _projects_page(request, user, s, error=err.detail, status=err.status)
    s.commit()
    return RedirectResponse("/projects", status_code=303)


def _days(days: int) -> int:
    if not 1 <= days <= 62:
        raise HTTPException(422, "days: between 1 and 62")
    return days


@router.get("/cohorts/{cohort_id}/digest", response_class=HTMLResponse)
def digest_page(cohort_id: int, request: Request, user: Staff, s: DB, days: int = 7, note: str = ""):
    settings = request.app.state.settings
    d = digest.build(s, _cohort_for(s, user, cohort_id), settings, _days(days))
    return page(request, "digest.html", user, d=d, webhook=bool(settings.nudge_webhook_url), note=note[:300])


@router.get("/cohorts/{cohort_id}/digest.md", response_class=PlainTextResponse)
def digest_markdown(cohort_id: int, request: Request, user: Staff, s: DB, days: int = 7):
    d = digest.build(s, _cohort_for(s, user, cohort_id), request.app.state.settings, _days(days))
    return PlainTextResponse(digest.markdown(d), media_type="text/markdown; charset=utf-8")


@router.get("/cohorts/{cohort_id}/digest.html", response_class=HTMLResponse)
def digest_html(cohort_id: int, request: Request, user: Staff, s: DB, days: int = 7):
    d = digest.build(s, _cohort_for(s, user, cohort_id), request.app.state.settings, _days(days))
    return HTMLResponse(digest.html(d))


@router.post("/cohorts/{cohort_id}/digest/send", response_class=HTMLResponse)
def digest_send(cohort_id: int, request: Request, user: Staff, s: DB, days: Annotated[int, Form()] = 7):
    settings = request.app.state.settings
    d = digest.build(s, _cohort_for(s, user, cohort_id), settings, _days(days))
    if not settings.nudge_webhook_url:
        note = "No webhook is configured (BOOTCAMP_NUDGE_WEBHOOK_URL): copy the Markdown instead."
    else:
        ok, note = digest.post_webhook(settings.nudge_webhook_url, digest.markdown(d))
        note = ("Sent: " if ok else "Not sent: ") + note + "."
    return page(request, "digest.html", user, d=d, webhook=bool(settings.nudge_webhook_url), note=note)


@router.get("/transcript", response_class=HTMLResponse)
def transcript_page(request: Request, user: Viewer, s: DB):
    from autograder.transcripts.api import signed_transcript
    from course.learner.transcript import render_html

    return HTMLResponse(render_html(signed_transcript(request, s, user)))
