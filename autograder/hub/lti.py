"""LTI 1.3 at the hub, with pylti1p3: a launch from an LMS signs the learner in and opens the lesson.

Registering a platform (Canvas, Moodle, ...) is one file, ``<hub dir>/lti/platforms.json``, in
pylti1p3's ToolConfDict form: ``{"<issuer>": [{"client_id", "auth_login_url", "auth_token_url",
"key_set_url", "deployment_ids", "default": true}]}``. The tool's own RSA key is made on first use
(``lti/private.pem``); the platform reads its public half at ``/hub/lti/jwks``. The LMS is told:
OIDC login initiation URL ``/hub/lti/login``, redirect (launch) URL ``/hub/lti/launch``, target
link URI ``/hub/lti/launch?lesson=0.1`` (or a custom parameter ``lesson=0.1``).

A launch (OIDC login initiation -> the platform's auth endpoint -> a signed id_token POSTed to
``/hub/lti/launch``, validated by pylti1p3: signature against the platform's JWKS, issuer,
audience, deployment, nonce, state cookie) then:

* makes (or finds) the hub user - the e-mail's local part, else ``lti-<sub>`` - and signs them in;
* puts them in the course's cohort group ``lti-<context label>``; an Instructor or Teaching
  Assistant also goes into ``mentors``;
* with Names and Role Provisioning in the launch, reads the course's roster and makes every
  member a hub user in that cohort (so mentors see everyone before they first launch);
* records the Assignment and Grade Services endpoint of the course and each member's LTI
  ``sub`` in ``lti/launches.json``, from which the grading service passes scores back
  (autograder/hub/ags.py);
* redirects to the lesson in the learner's JupyterLab (``/hub/user-redirect/lab/tree/...``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from pylti1p3.cookie import CookieService
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.oidc_login import OIDCLogin
from pylti1p3.redirect import Redirect
from pylti1p3.request import Request
from pylti1p3.session import SessionService
from pylti1p3.tool_config import ToolConfDict

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
STAFF_ROLES = ("#Instructor", "#TeachingAssistant", "#ContentDeveloper", "#Mentor")
_LOCK = threading.Lock()
_SESSION: dict = {}  # pylti1p3's nonces and state: one hub process, so in memory


# ----------------------------------------------------------------------------- the tool's files
def lti_dir(hub_dir: str | Path) -> Path:
    return Path(hub_dir) / "lti"


def ensure_key(d: Path) -> tuple[str, str]:
    """The tool's RSA key pair (PEM), made once (private key mode 0600)."""
    priv, pub = d / "private.pem", d / "public.pem"
    if not priv.is_file():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        fd = os.open(priv, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv.read_text(), pub.read_text()


def tool_conf(d: Path) -> ToolConfDict:
    """pylti1p3's configuration: the registered platforms and the tool's key for each."""
    path = d / "platforms.json"
    platforms = json.loads(path.read_text()) if path.is_file() else {}
    conf = ToolConfDict(platforms)
    private, public = ensure_key(d)
    for iss, regs in platforms.items():
        for reg in regs if isinstance(regs, list) else [regs]:
            conf.set_private_key(iss, private, client_id=reg["client_id"])
            conf.set_public_key(iss, public, client_id=reg["client_id"])
    return conf


def tool_jwks(d: Path) -> dict:
    from jwcrypto import jwk

    key = jwk.JWK.from_pem(ensure_key(d)[1].encode())
    public = json.loads(key.export_public())
    return {"keys": [dict(public, alg="RS256", use="sig", kid=key.thumbprint())]}


def read_launches(d: Path) -> dict:
    path = d / "launches.json"
    return json.loads(path.read_text()) if path.is_file() else {"contexts": {}, "users": {}}


def record(d: Path, update) -> None:
    """Change launches.json under a lock, written whole (a reader never sees half a file)."""
    with _LOCK:
        data = read_launches(d)
        update(data)
        tmp = d / "launches.json.tmp"
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(d / "launches.json")


# ----------------------------------------------------------------------------- names
def _clean(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.")[:limit]


def username(member: dict) -> str:
    """A hub name for an LTI user (a launch's claims or an NRPS member)."""
    email = member.get("email") or ""
    local = _clean(email.split("@")[0]) if "@" in email else ""
    return local or f"lti-{_clean(member.get('sub') or member.get('user_id') or 'anonymous', 32)}"


def cohort_name(context: dict) -> str:
    return "lti-" + (_clean(context.get("label") or "") or _clean(context.get("id") or "course"))


def is_staff(roles) -> bool:
    return any(str(r).endswith(STAFF_ROLES) for r in roles or [])


def lesson_of(data: dict) -> str | None:
    custom = data.get(CLAIM + "custom") or {}
    if custom.get("lesson"):
        return str(custom["lesson"])
    query = parse_qs(urlparse(data.get(CLAIM + "target_link_uri", "")).query)
    return (query.get("lesson") or [None])[0]


def lesson_path(lesson: str | None) -> str:
    """Where in JupyterLab a lesson opens ('lab' alone when none or unknown)."""
    if not lesson:
        return "lab"
    from course.authoring.lessons import LessonError, find_lesson

    try:
        slug = find_lesson(lesson).slug
    except LessonError:
        return "lab"
    return f"lab/tree/{slug}/{slug}.ipynb"


# ----------------------------------------------------------------------------- pylti1p3 on tornado
class _Request(Request):
    def __init__(self, handler):
        super().__init__()
        self.handler = handler

    @property
    def session(self):
        return _SESSION

    def get_param(self, key):
        return self.handler.get_argument(key, None)

    def get_cookie(self, key):
        return self.handler.get_cookie(key)

    def is_secure(self) -> bool:
        return self.handler.request.protocol == "https"


class _Cookies(CookieService):
    def __init__(self, request: _Request):
        self._request = request
        self.to_set: dict = {}

    def _get_key(self, key):
        return f"{self._cookie_prefix}-{key}"

    def get_cookie(self, name):
        return self._request.get_cookie(self._get_key(name))

    def set_cookie(self, name, value, exp=3600):
        self.to_set[self._get_key(name)] = (value, exp)

    def apply(self, handler) -> None:
        secure = self._request.is_secure()
        for key, (value, exp) in self.to_set.items():
            extra = {"samesite": "None", "secure": True} if secure else {"samesite": "Lax"}
            handler.set_cookie(key, value, expires_days=exp / 86400, path="/", httponly=True, **extra)


class _Redirect(Redirect):
    def __init__(self, location: str):
        self.location = location

    def do_redirect(self):
        return self.location

    def do_js_redirect(self):
        return self.location

    def set_redirect_url(self, location):
        self.location = location

    def get_redirect_url(self):
        return self.location


class _Login(OIDCLogin):
    def get_redirect(self, url):
        return _Redirect(url)


class _Launch(MessageLaunch):
    def _get_request_param(self, key):
        return self._request.get_param(key)


def handlers(authenticator) -> list:
    """The hub's LTI routes (relative to /hub/)."""
    from jupyterhub.handlers import BaseHandler
    from jupyterhub.utils import url_path_join
    from tornado import web

    d = lti_dir(authenticator.hub_dir or ".")

    class JWKSHandler(BaseHandler):
        def get(self):
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(tool_jwks(d)))

    class LoginHandler(BaseHandler):
        """OIDC login initiation: the platform sends iss, login_hint, target_link_uri, client_id."""

        def check_xsrf_cookie(self):  # a cross-site POST from the LMS, by design
            return None

        def _go(self):
            request = _Request(self)
            cookies = _Cookies(request)
            login = _Login(request, tool_conf(d), session_service=SessionService(request), cookie_service=cookies)
            try:
                url = login.redirect(self.request.full_url().split("/lti/login")[0] + "/lti/launch")
            except Exception as err:  # unknown issuer, client or deployment: say which, no traceback
                raise web.HTTPError(400, f"LTI login refused: {err}") from None
            cookies.apply(self)
            self.redirect(url)

        get = post = _go

    class LaunchHandler(BaseHandler):
        """The platform's signed id_token arrives here (form_post): validate, sign in, open the lesson."""

        def check_xsrf_cookie(self):
            return None

        async def post(self):
            request = _Request(self)
            launch = _Launch(request, tool_conf(d), session_service=SessionService(request),
                             cookie_service=_Cookies(request))
            try:
                # signature (the platform's JWKS), iss, aud, nonce, deployment, state cookie; off the
                # event loop, as every call to the platform (which may call the hub back for our JWKS)
                data = await asyncio.to_thread(launch.get_launch_data)
            except Exception as err:
                raise web.HTTPError(401, f"LTI launch refused: {err}") from None
            context = data.get(CLAIM + "context") or {"id": data.get(CLAIM + "deployment_id", "course")}
            cohort = cohort_name(context)
            name = username(data)
            staff = is_staff(data.get(CLAIM + "roles"))
            user = await self.auth_to_user({"name": name})
            self._join(user.orm_user, cohort, staff)
            key = f"{data['iss']}|{data['aud'] if isinstance(data['aud'], str) else data['aud'][0]}|{context['id']}"
            members = []
            if launch.has_nrps():
                try:
                    members = await asyncio.to_thread(lambda: launch.get_nrps().get_members())
                except Exception as err:  # the roster is a convenience: the launch itself goes on
                    self.log.warning("LTI roster of %s could not be read: %s", cohort, err)
            for m in members:
                if (m.get("status") or "Active") != "Active":
                    continue
                member = self.user_from_username(username(m))
                self._join(member.orm_user, cohort, is_staff(m.get("roles")))
            self.db.commit()

            def update(rec):
                rec["contexts"][key] = {"iss": data["iss"], "client_id": key.split("|")[1], "cohort": cohort,
                                        "ags": data.get(AGS_CLAIM), "title": context.get("title", "")}
                for m in members:
                    rec["users"][username(m)] = {"context": key, "sub": m.get("user_id")}
                rec["users"][name] = {"context": key, "sub": data["sub"]}

            record(d, update)
            self.set_login_cookie(user)
            self.redirect(url_path_join(self.hub.base_url, "user-redirect", lesson_path(self.get_argument(
                "lesson", None) or lesson_of(data))))

        def _join(self, orm_user, cohort: str, staff: bool) -> None:
            from jupyterhub import orm

            for group_name in (cohort, "mentors") if staff else (cohort,):
                group = orm.Group.find(self.db, group_name)
                if group is None:
                    group = orm.Group(name=group_name)
                    self.db.add(group)
                if orm_user not in group.users:
                    group.users.append(orm_user)
            self.db.commit()

    return [(r"/lti/jwks", JWKSHandler), (r"/lti/login", LoginHandler), (r"/lti/launch", LaunchHandler)]
