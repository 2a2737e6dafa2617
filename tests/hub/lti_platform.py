"""A local LTI 1.3 platform (an LMS's side) for the hub's tests, written from the IMS specs:
LTI Core 1.3 (OIDC third-party login initiation, a signed id_token POSTed to the tool), the
IMS Security Framework (RS256, the platform's JWKS, OAuth 2 client credentials with a JWT
client assertion signed by the tool's key, checked against the tool's JWKS), Assignment and
Grade Services 2.0 (line items, scores) and Names and Role Provisioning Services 2.0 (the
membership container). No real LMS runs in the tests; this plays Canvas or Moodle.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_SCOPES = ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
              "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
              "https://purl.imsglobal.org/spec/lti-ags/scope/score"]
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


class Platform:
    def __init__(self, tool_url: str):
        self.tool_url = tool_url.rstrip("/")
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "platform-key-1"
        self.client_id, self.deployment_id = "bootcamp-tool", "deployment-1"
        self.context = {"id": "course-42", "label": "INTERP101", "title": "Interpretability 101",
                        "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"]}
        self.members = [
            {"user_id": "u-ada", "name": "Ada Lovelace", "email": "ada.l@uni.example", "roles": [LEARNER], "status": "Active"},
            {"user_id": "u-bob", "name": "Bob Byte", "email": "bob.b@uni.example", "roles": [LEARNER], "status": "Active"},
            {"user_id": "u-tess", "name": "Tess Teacher", "email": "tess.t@uni.example", "roles": [INSTRUCTOR],
             "status": "Active"},
        ]
        self.lineitems: dict[str, dict] = {}
        self.scores: list[dict] = []
        self.tokens: dict[str, set] = {}
        self.targets: dict[str, str] = {}  # lti_message_hint -> target_link_uri
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()

    # what the tool's administrator types into the hub (pylti1p3's ToolConfDict form)
    def registration(self) -> dict:
        return {self.url: [{"default": True, "client_id": self.client_id, "auth_login_url": f"{self.url}/auth",
                            "auth_token_url": f"{self.url}/token", "key_set_url": f"{self.url}/jwks",
                            "deployment_ids": [self.deployment_id]}]}

    def initiation_url(self, user_id: str, lesson: str) -> str:
        """What the LMS's link does: third-party initiated login at the tool."""
        hint = secrets.token_urlsafe(8)
        self.targets[hint] = f"{self.tool_url}/hub/lti/launch?lesson={lesson}"
        return f"{self.tool_url}/hub/lti/login?" + urlencode({
            "iss": self.url, "login_hint": user_id, "target_link_uri": self.targets[hint],
            "lti_message_hint": hint, "client_id": self.client_id, "lti_deployment_id": self.deployment_id})

    def jwks(self) -> dict:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [dict(public, kid=self.kid, alg="RS256", use="sig")]}

    def id_token(self, member: dict, nonce: str, target: str, key=None) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url, "aud": self.client_id, "azp": self.client_id, "sub": member["user_id"], "iat": now,
            "exp": now + 300, "nonce": nonce, "name": member["name"], "email": member["email"],
            CLAIM + "deployment_id": self.deployment_id, CLAIM + "message_type": "LtiResourceLinkRequest",
            CLAIM + "version": "1.3.0", CLAIM + "roles": member["roles"], CLAIM + "context": self.context,
            CLAIM + "resource_link": {"id": "link-" + target.rsplit("=", 1)[-1], "title": "a lesson"},
            CLAIM + "target_link_uri": target,
            "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {
                "scope": AGS_SCOPES, "lineitems": f"{self.url}/lineitems"},
            "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
                "context_memberships_url": f"{self.url}/memberships", "service_versions": ["2.0"]},
        }
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})

    def _tool_key(self, kid: str | None):
        with urllib.request.urlopen(f"{self.tool_url}/hub/lti/jwks", timeout=10) as r:
            keys = json.loads(r.read())["keys"]
        found = [k for k in keys if kid is None or k.get("kid") == kid] or keys
        return RSAAlgorithm.from_jwk(json.dumps(found[0]))

    def _handler(self):
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code: int, body, ctype="application/json", headers=None):
                raw = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def _form(self) -> dict:
                n = int(self.headers.get("Content-Length") or 0)
                return {k: v[0] for k, v in parse_qs(self.rfile.read(n).decode()).items()}

            def _json_body(self) -> dict:
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n) or b"{}")

            def _authorised(self, scope: str) -> bool:
                token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                if scope not in platform.tokens.get(token, set()):
                    self._send(401, {"error": "invalid_token", "error_description": f"needs scope {scope}"})
                    return False
                return True

            def do_GET(self):
                u = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(u.query).items()}
                if u.path == "/jwks":
                    return self._send(200, platform.jwks())
                if u.path == "/auth":  # OIDC authentication request (implicit flow, form_post)
                    bad = [k for k, want in (("scope", "openid"), ("response_type", "id_token"),
                                             ("client_id", platform.client_id), ("response_mode", "form_post"),
                                             ("redirect_uri", f"{platform.tool_url}/hub/lti/launch"))
                           if q.get(k) != want]
                    member = next((m for m in platform.members if m["user_id"] == q.get("login_hint")), None)
                    target = platform.targets.get(q.get("lti_message_hint", ""))
                    if bad or member is None or not q.get("nonce") or target is None:
                        return self._send(400, {"error": "invalid_request", "bad": bad})
                    token = platform.id_token(member, q["nonce"], target)
                    page = (f"<form id='f' method='post' action='{html.escape(q['redirect_uri'])}'>"
                            f"<input type='hidden' name='id_token' value='{token}'>"
                            f"<input type='hidden' name='state' value='{html.escape(q.get('state', ''))}'></form>"
                            "<script>document.getElementById('f').submit()</script>")
                    return self._send(200, page, "text/html")
                if u.path == "/lineitems":
                    if not self._authorised(AGS_SCOPES[0]):
                        return None
                    items = [i for i in platform.lineitems.values()
                             if not q.get("resource_id") or i.get("resourceId") == q["resource_id"]]
                    return self._send(200, items, "application/vnd.ims.lis.v2.lineitemcontainer+json")
                if u.path == "/memberships":
                    if not self._authorised(NRPS_SCOPE):
                        return None
                    return self._send(200, {"id": f"{platform.url}/memberships", "context": platform.context,
                                            "members": platform.members},
                                      "application/vnd.ims.lti-nrps.v2.membershipcontainer+json")
                return self._send(404, {"error": "not found"})

            def do_POST(self):
                u = urlparse(self.path)
                if u.path == "/token":  # OAuth 2 client credentials, JWT client assertion (RFC 7523)
                    f = self._form()
                    try:
                        assert f.get("grant_type") == "client_credentials"
                        assert f.get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                        kid = jwt.get_unverified_header(f["client_assertion"]).get("kid")
                        claims = jwt.decode(f["client_assertion"], platform._tool_key(kid), algorithms=["RS256"],
                                            audience=f"{platform.url}/token")
                        assert claims["iss"] == claims["sub"] == platform.client_id
                    except Exception as err:  # noqa: BLE001
                        return self._send(400, {"error": "invalid_client", "error_description": str(err)})
                    token = secrets.token_urlsafe(16)
                    platform.tokens[token] = set(f.get("scope", "").split())
                    return self._send(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600,
                                            "scope": f.get("scope", "")})
                if u.path == "/lineitems":
                    if not self._authorised(AGS_SCOPES[0]):
                        return None
                    item = self._json_body()
                    item["id"] = f"{platform.url}/lineitems/{len(platform.lineitems) + 1}"
                    platform.lineitems[item["id"]] = item
                    return self._send(201, item, "application/vnd.ims.lis.v2.lineitem+json")
                m = re.fullmatch(r"/lineitems/(\d+)/scores", u.path)
                if m:
                    if not self._authorised(AGS_SCOPES[2]):
                        return None
                    score = self._json_body()
                    if f"{platform.url}/lineitems/{m.group(1)}" not in platform.lineitems:
                        return self._send(404, {"error": "no such line item"})
                    if not {"userId", "scoreGiven", "scoreMaximum", "activityProgress", "gradingProgress",
                            "timestamp"} <= set(score):
                        return self._send(400, {"error": "incomplete score", "got": sorted(score)})
                    platform.scores.append(dict(score, lineitem=f"{platform.url}/lineitems/{m.group(1)}"))
                    return self._send(200, {})
                return self._send(404, {"error": "not found"})

        return Handler
