"""The mentor dashboard: server-rendered HTML (Jinja2) behind a login.

Login is with an API token (an instructor or mentor issues them with `admin`); the
browser then holds a signed, HttpOnly cookie naming the token, checked (and so revocable)
on every page. Mentors see their assigned cohorts only; a learner sees their own page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from autograder.embedded import secret_key
from autograder.gradebook import accounts, progress
from autograder.gradebook.models import Cohort, Role, Submission, Token, User

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
COOKIE = "bootcamp_session"
SESSION_SECONDS = 12 * 3600


def _sign(request: Request, payload: str) -> str:
    key = request.app.state.__dict__.setdefault("_secret", secret_key(request.app.state.settings)).encode()
    mac = hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
    return base64.urlsafe_b64encode(f"{payload}|{mac}".encode()).decode()


def _unsign(request: Request, value: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(value.encode()).decode()
        payload, mac = raw.rsplit("|", 1)
    except Exception:
        return None
    good = _sign(request, payload)
    return payload if hmac.compare_digest(good, value) else None


def under_hub() -> bool:
    """Started by JupyterHub as its service (autograder/hub/service.py serves /hub/login): sign in there."""
    return bool(os.environ.get("JUPYTERHUB_API_TOKEN") and os.environ.get("JUPYTERHUB_SERVICE_NAME"))


def login_redirect(request: Request) -> RedirectResponse:
    if under_hub():  # the hub's OAuth: no token to paste
        return RedirectResponse(f"/hub/login?next={quote(request.url.path)}", status_code=303)
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


def sign_session(request: Request, token_id: int) -> str:
    """The cookie value of a dashboard session for a token row (a pasted token or a hub sign-in)."""
    return _sign(request, f"{token_id}:{time.time() + SESSION_SECONDS:.0f}")


def get_session(request: Request):
    with request.app.state.db.session() as s:
        yield s


DB = Annotated[object, Depends(get_session)]


def viewer(request: Request, s: DB) -> User:
    payload = _unsign(request, request.cookies.get(COOKIE, ""))
    if not payload:
        raise HTTPException(401, "log in")
    token_id, expires = payload.split(":")
    tok = s.get(Token, int(token_id))
    if tok is None or tok.revoked_at is not None or float(expires) < time.time():
        raise HTTPException(401, "log in")
    return tok.user


Viewer = Annotated[User, Depends(viewer)]


def staff(user: Viewer) -> User:
    if user.role == Role.learner:
        raise HTTPException(403, "mentors and instructors only")
    return user


Staff = Annotated[User, Depends(staff)]


def _cohort_for(s, user: User, cohort_id: int) -> Cohort:
    cohort = s.get(Cohort, cohort_id)
    if cohort is None or not accounts.can_see_cohort(user, cohort):
        raise HTTPException(404, "no such cohort that you can see")
    return cohort


def _learner_for(s, user: User, learner_id: int) -> User:
    allowed = accounts.visible_learner_ids(s, user)
    learner = s.get(User, learner_id)
    if learner is None or (allowed is not None and learner_id not in allowed):
        raise HTTPException(404, "no such learner that you can see")
    return learner


def page(request: Request, name: str, user: User | None, **ctx) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"user": user, **ctx})


@router.get("/", response_class=HTMLResponse)
def index():
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/dashboard", error: str = ""):
    if under_hub():
        return RedirectResponse(f"/hub/login?next={quote(next if next.startswith('/') else '/dashboard')}",
                                status_code=303)
    return page(request, "login.html", None, next=next if next.startswith("/") else "/dashboard", error=error)


@router.post("/login")
def login(request: Request, token: Annotated[str, Form()], s: DB, next: Annotated[str, Form()] = "/dashboard"):
    found = accounts.user_for_token(s, token.strip())
    if found is None:
        return page(request, "login.html", None, next=next, error="That token is not valid (or was revoked).")
    _user, tok = found
    resp = RedirectResponse(next if next.startswith("/") and not next.startswith("//") else "/dashboard",
                            status_code=303)
    value = sign_session(request, tok.id)
    resp.set_cookie(COOKIE, value, httponly=True, samesite="strict", max_age=SESSION_SECONDS)
    return resp


@router.get("/logout")
def logout():
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE)
    return resp


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, user: Viewer, s: DB):
    if user.role == Role.learner:
        return RedirectResponse(f"/learners/{user.id}", status_code=303)
    cohorts = [c for c in s.scalars(select(Cohort).order_by(Cohort.name)) if accounts.can_see_cohort(user, c)]
    if len(cohorts) == 1:
        return RedirectResponse(f"/cohorts/{cohorts[0].id}", status_code=303)
    # the landing page is the grid: every cohort's, each linking to its full page
    grids = [(c, progress.cohort_grid(s, c, request.app.state.catalogue)) for c in cohorts]
    return page(request, "cohorts.html", user, cohorts=cohorts, grids=grids)


@router.get("/cohorts/{cohort_id}", response_class=HTMLResponse)
def cohort_page(cohort_id: int, request: Request, user: Staff, s: DB):
    settings = request.app.state.settings
    cohort = _cohort_for(s, user, cohort_id)
    learners = list(cohort.learners)
    grid = progress.cohort_grid(s, cohort, request.app.state.catalogue)
    return page(request, "cohort.html", user, cohort=cohort, grid=grid,
                stuck=progress.stuck_learners(s, learners, settings.stuck_failures),
                silent=progress.silent_learners(s, learners, settings.silent_days),
                stats=progress.exercise_stats(s, [u.id for u in learners]),
                settings=settings, webhook=bool(settings.nudge_webhook_url))


@router.get("/cohorts/{cohort_id}/export.csv")
def export(cohort_id: int, user: Staff, s: DB):
    cohort = _cohort_for(s, user, cohort_id)
    return Response(progress.export_csv(s, list(cohort.learners)), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="grades-{cohort.name}.csv"'})


@router.get("/learners/{learner_id}", response_class=HTMLResponse)
def learner_page(learner_id: int, request: Request, user: Viewer, s: DB):
    learner = _learner_for(s, user, learner_id)
    return page(request, "learner.html", user, learner=learner, submissions=progress.timeline(s, learner),
                webhook=bool(request.app.state.settings.nudge_webhook_url),
                silent_msg=progress.silent_message(learner, 0, None))


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def submission_page(submission_id: str, request: Request, user: Viewer, s: DB):
    sub = s.get(Submission, submission_id)
    allowed = accounts.visible_learner_ids(s, user)
    if sub is None or (allowed is not None and sub.user_id not in allowed):
        raise HTTPException(404, "no such submission that you can see")
    return page(request, "submission.html", user, sub=sub)


@router.post("/learners/{learner_id}/nudge", response_class=HTMLResponse)
def nudge(learner_id: int, request: Request, message: Annotated[str, Form()], user: Staff,
          s: DB):
    learner = _learner_for(s, user, learner_id)
    url = request.app.state.settings.nudge_webhook_url
    text = f"@{learner.username} {message.strip()}"
    if not url:
        return page(request, "nudged.html", user, learner=learner, text=text, sent=False,
                    note="No webhook is configured (BOOTCAMP_NUDGE_WEBHOOK_URL): copy the message above.")
    try:
        req = urllib.request.Request(url, data=json.dumps({"text": text}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            ok, note = 200 <= resp.status < 300, f"The chat webhook answered {resp.status}."
    except Exception as err:
        ok, note = False, f"The chat webhook failed: {err}"
    return page(request, "nudged.html", user, learner=learner, text=text, sent=ok, note=note)


@router.get("/robots.txt", response_class=PlainTextResponse)
def robots():
    return "User-agent: *\nDisallow: /\n"
