"""LTI 1.3 against the local platform (tests/hub/lti_platform.py), through the real hub:

* a launch (OIDC login initiation -> the platform's auth endpoint -> the signed id_token POSTed
  to the hub) signs the learner in and sends them to the lesson in their JupyterLab;
* the roster (NRPS) makes the course's cohort group, with members who never launched, and the
  instructor a mentor;
* after grading, the lesson's line item (AGS) holds the learner's score, as the gradebook has it;
* a launch whose id_token is not signed by the platform is refused.
"""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser

import httpx
import pytest

from course.authoring.lessons import ROOT

from .test_hub_e2e import ANSWER


class _Form(HTMLParser):
    def __init__(self):
        super().__init__()
        self.action, self.fields = "", {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action", "")
        if tag == "input":
            self.fields[a.get("name")] = a.get("value", "")


def launch(client: httpx.Client, platform, user_id: str, lesson: str = "0.1", tamper=None) -> httpx.Response:
    """What a browser does: follow the LMS link to the platform's auth page, then post its form."""
    page = client.get(platform.initiation_url(user_id, lesson), follow_redirects=True)
    assert page.status_code == 200 and "id_token" in page.text, page.text[:300]
    form = _Form()
    form.feed(page.text)
    if tamper:
        form.fields["id_token"] = tamper(form.fields["id_token"])
    return client.post(form.action, data=form.fields, follow_redirects=False)


def test_a_launch_signs_in_opens_the_lesson_and_the_roster_makes_the_cohort(hub, platform):
    with httpx.Client(timeout=30) as client:
        r = launch(client, platform, "u-ada")
        assert r.status_code == 302, r.text[:300]
        assert r.headers["location"].endswith("/hub/user-redirect/lab/tree/0.1-numpy/0.1-numpy.ipynb")
        assert any(c.startswith("jupyterhub-session-id") or c.startswith("jupyterhub-hub-login")
                   for c in client.cookies.keys()), list(client.cookies.keys())
        home = client.get(f"{hub.url}/hub/home", follow_redirects=False)  # signed in: no redirect to the login form
    groups = {g["name"]: set(g["users"]) for g in hub.api("GET", "/groups")}
    assert groups["lti-interp101"] >= {"ada.l", "bob.b", "tess.t"}, groups  # bob never launched: the roster
    assert "tess.t" in groups["mentors"] and "ada.l" not in groups["mentors"]
    assert home.status_code == 200 and "ada.l" in home.text, (home.status_code, home.headers.get("location"))


def test_a_forged_id_token_is_refused(hub, platform):
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def forge(token: str) -> str:
        import jwt

        claims = jwt.decode(token, options={"verify_signature": False})
        claims["sub"] = "u-tess"  # try to become the instructor
        return jwt.encode(claims, other, algorithm="RS256", headers={"kid": platform.kid})

    with httpx.Client(timeout=30) as client:
        r = launch(client, platform, "u-bob", tamper=forge)
    assert r.status_code == 401, r.text[:300]


def test_the_lessons_score_reaches_the_lms_line_item(hub, platform):
    with httpx.Client(timeout=30) as client:
        assert launch(client, platform, "u-ada").status_code == 302
    token = hub.api("POST", "/users/ada.l/tokens", {"scopes": ["access:services!service=grader"],
                                                     "note": "test"})["token"]
    nb = json.loads((ROOT / "exercises" / "0.1-numpy" / "0.1-numpy.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "broadcast_shape":
            cell["source"] = ANSWER
    api = httpx.Client(base_url=hub.grader_url, headers={"Authorization": f"token {token}"}, timeout=30)
    sub = api.post("/api/submissions?lesson=0.1-numpy", content=json.dumps(nb).encode(),
                   headers={"Content-Type": "application/x-ipynb+json"})
    assert sub.status_code in (200, 201, 202), sub.text
    deadline = time.time() + 120
    while time.time() < deadline:
        got = api.get(f"/api/submissions/{sub.json()['id']}").json()
        if got["status"] not in ("queued", "grading"):
            break
        time.sleep(1)
    assert got["status"] == "graded" and got["score"] > 0, got
    while time.time() < deadline and not platform.scores:
        time.sleep(0.5)
    assert platform.scores, f"no score reached the platform\n{hub.tail()}"
    score = platform.scores[-1]
    item = platform.lineitems[score["lineitem"]]
    assert item["resourceId"] == "0.1-numpy" and re.match(r"0\.1 ", item["label"])
    assert item["scoreMaximum"] == pytest.approx(got["max_score"])
    assert score["userId"] == "u-ada" and score["scoreGiven"] == pytest.approx(got["score"])
    assert score["activityProgress"] == "Completed" and score["gradingProgress"] == "FullyGraded"
