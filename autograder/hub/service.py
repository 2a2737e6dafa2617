"""The grading service as a hub-managed service: who a request comes from, asked of the hub.

When the hub starts the service it sets ``JUPYTERHUB_API_TOKEN``, ``JUPYTERHUB_SERVICE_NAME``
and the OAuth client's variables; then (and only then) :func:`enabled` is true and:

* the API accepts a hub token (``Authorization: token|Bearer <token>``): a learner's server
  token ($JUPYTERHUB_API_TOKEN in their kernels, scope ``access:services!service=grader``) or an
  OAuth token. Course tokens issued by ``admin`` keep working beside them;
* the dashboard's sign-in is the hub's OAuth (``/hub/login`` -> the hub -> ``/hub/oauth_callback``);
  no token to paste;
* each signed-in hub user is mirrored into the gradebook (:func:`sync_user`): a hub admin is an
  instructor, a member of the ``mentors`` group a mentor of every other group they are in,
  anyone else a learner in each of their groups; every group but ``mentors`` is a cohort.
"""

from __future__ import annotations

import os
import secrets
import time
from functools import lru_cache
from typing import Annotated
from urllib.parse import quote

import httpx
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from autograder.gradebook import accounts
from autograder.gradebook.models import Role, Token, User

MENTORS_GROUP = "mentors"
STATE_COOKIE = "bootcamp_hub_oauth_state"
SESSION_LABEL = "hub sign-in"
router = APIRouter(include_in_schema=False)


def enabled() -> bool:
    return bool(os.environ.get("JUPYTERHUB_API_TOKEN") and os.environ.get("JUPYTERHUB_SERVICE_NAME"))


@lru_cache(maxsize=1)
def oauth():
    from jupyterhub.services.auth import HubOAuth

    # every setting from the JUPYTERHUB_* variables the hub set; browsers are sent to the hub's
    # public address (this service has a port of its own, so a path alone would come back here)
    own = os.environ.get("BOOTCAMP_PUBLIC_URL", "").rstrip("/")
    return HubOAuth(cache_max_age=30, hub_host=os.environ.get("BOOTCAMP_HUB_URL", "").rstrip("/"),
                    **({"oauth_redirect_uri": f"{own}/hub/oauth_callback"} if own else {}))


def hub_api(method: str, path: str, **kw) -> httpx.Response:
    """The hub's REST API with the service's own token."""
    url = os.environ["JUPYTERHUB_API_URL"].rstrip("/") + path
    return httpx.request(method, url, headers={"Authorization": f"token {os.environ['JUPYTERHUB_API_TOKEN']}"},
                         timeout=10.0, **kw)


_MODELS: dict[str, tuple[float, dict]] = {}
MODEL_SECONDS = 30.0  # a change of groups or admin at the hub shows here within this long


def hub_user_model(name: str, fresh: bool = False) -> dict:
    """The hub's user model (admin, groups), kept for MODEL_SECONDS: one hub call per learner per half minute."""
    hit = _MODELS.get(name)
    if hit and not fresh and time.monotonic() - hit[0] < MODEL_SECONDS:
        return hit[1]
    r = hub_api("GET", f"/users/{quote(name)}")
    r.raise_for_status()
    _MODELS[name] = (time.monotonic(), r.json())
    return _MODELS[name][1]


def sync_user(s, model: dict) -> User:
    """The gradebook's user for a hub user (made or updated): role and cohorts from the hub."""
    groups = [g for g in model.get("groups", []) if g]
    role = Role.instructor if model.get("admin") else Role.mentor if MENTORS_GROUP in groups else Role.learner
    user = accounts.ensure_user(s, model["name"], role)
    for g in groups:
        if g == MENTORS_GROUP:
            continue
        cohort = accounts.create_cohort(s, g)
        if role == Role.mentor and cohort not in user.mentoring:
            user.mentoring.append(cohort)
        if role == Role.learner and cohort not in user.cohorts:
            user.cohorts.append(cohort)
    return user


def user_for_hub_token(s, token: str) -> User | None:
    """The gradebook user a hub token belongs to (None: the hub does not know it, or it may not use us)."""
    if not enabled() or not token or len(token) > 400:
        return None
    try:
        who = oauth().user_for_token(token, sync=True)
    except Exception:  # the hub refused or is unreachable: not authenticated
        return None
    if not who:
        return None
    return sync_user(s, hub_user_model(who["name"]))


def session_token(s, user: User) -> Token:
    """The token row a dashboard cookie names for a hub sign-in (one per user, made once)."""
    row = s.scalar(select(Token).where(Token.user_id == user.id, Token.label == SESSION_LABEL,
                                       Token.revoked_at.is_(None)))
    if row is None:
        accounts.issue_token(s, user, label=SESSION_LABEL)  # the secret itself is never used: the cookie is signed
        row = s.scalar(select(Token).where(Token.user_id == user.id, Token.label == SESSION_LABEL,
                                           Token.revoked_at.is_(None)))
    return row


def login_url(next_url: str) -> str:
    return f"/hub/login?next={quote(next_url)}"


@router.get("/hub/login")
def hub_login(next: str = "/dashboard"):
    """Start the hub's OAuth: the browser signs in at the hub (once) and comes back."""
    if not enabled():
        raise HTTPException(404, "this service was not started by JupyterHub: sign in at /login")
    auth = oauth()
    nonce = secrets.token_urlsafe(16)
    state = auth.generate_state(next_url=next if next.startswith("/") and not next.startswith("//") else "/dashboard",
                                nonce=nonce)
    resp = RedirectResponse(f"{auth.login_url}&state={quote(state)}", status_code=303)
    resp.set_cookie(STATE_COOKIE, f"{state}:{nonce}", httponly=True, samesite="lax", max_age=600)
    return resp


@router.get("/hub/oauth_callback")
def hub_oauth_callback(request: Request, code: Annotated[str, Query(max_length=400)] = "",
                       state: Annotated[str, Query(max_length=200)] = ""):
    from autograder.dashboard import pages

    if not enabled():
        raise HTTPException(404, "this service was not started by JupyterHub: sign in at /login")
    auth = oauth()
    cookie = request.cookies.get(STATE_COOKIE, "")
    saved = auth._decode_state(state) if state else {}
    if not code or not saved or cookie != f"{state}:{saved.get('nonce')}":
        return RedirectResponse(login_url("/dashboard"), status_code=303)  # stale or forged: start again
    token = auth.token_for_code(code, sync=True)
    who = auth.user_for_token(token, sync=True)
    auth.clear_oauth_state(state)
    with request.app.state.db.session() as s:
        user = sync_user(s, hub_user_model(who["name"], fresh=True))
        tok = session_token(s, user)
        value = pages.sign_session(request, tok.id)
    resp = RedirectResponse(saved.get("next_url") or "/dashboard", status_code=303)
    resp.delete_cookie(STATE_COOKIE)
    resp.set_cookie(pages.COOKIE, value, httponly=True, samesite="lax", max_age=pages.SESSION_SECONDS)
    return resp



def start_passback(app) -> None:
    """The LTI grade passback thread (autograder/hub/ags.py), when the hub set BOOTCAMP_LTI_DIR."""
    if enabled() and os.environ.get("BOOTCAMP_LTI_DIR"):
        from autograder.hub import ags

        ags.start(app)
