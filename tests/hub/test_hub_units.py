"""The hub's pieces without a hub (fast): the configuration, hub users mirrored into the
gradebook, LTI names, the learner's token under the hub, the dashboard's sign-in redirect."""

from __future__ import annotations

import pytest
from traitlets.config import Config

from autograder.hub import config, lti, service
from course.learner import client


def test_the_config_wires_the_proxy_spawner_grader_culler_and_roles(tmp_path, monkeypatch):
    monkeypatch.setenv("BOOTCAMP_HUB_DIR", str(tmp_path))
    monkeypatch.setenv("BOOTCAMP_HUB_GROUPS", '{"mentors": ["mo"], "cohort-a": ["mo", "ada"]}')
    c = Config()
    hs = config.configure(c)
    assert c.JupyterHub.db_url == f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}"
    assert c.JupyterHub.spawner_class.endswith("SimpleLocalProcessSpawner")
    assert c.Spawner.cmd[-1] == "autograder.hub.singleuser"
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert services["grader"]["command"][-3:] == ["autograder", "serve", "--no-local"]
    assert services["grader"]["oauth_redirect_uri"] == f"{hs.grader_url}/hub/oauth_callback"
    assert services["grader"]["environment"]["BOOTCAMP_LTI_DIR"] == str(tmp_path / "lti")
    assert "jupyterhub_idle_culler" in services["idle-culler"]["command"]
    assert "access:services!service=grader" in c.Spawner.server_token_scopes
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert "delete:servers" in roles["culler"]["scopes"] and "admin:groups" in roles["grader-service"]["scopes"]
    assert c.Authenticator.allowed_users == {"mo", "ada"} and c.JupyterHub.load_groups["cohort-a"]["users"] == ["mo", "ada"]
    assert len(c.SharedPasswordAuthenticator.admin_password) >= 32  # made and kept, mode 0600
    assert (tmp_path / "admin_password").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("BOOTCAMP_HUB_DB_URL", "postgresql+psycopg://hub@db/jupyterhub")
    c2 = Config()
    config.configure(c2)
    assert c2.JupyterHub.db_url == "postgresql+psycopg://hub@db/jupyterhub"


@pytest.fixture
def db(tmp_path):
    from autograder.gradebook.db import Database
    from autograder.settings import Settings

    d = Database(Settings(data_dir=tmp_path))
    d.migrate()
    return d


def test_hub_admins_mentors_and_groups_become_roles_and_cohorts(db):
    with db.session() as s:
        boss = service.sync_user(s, {"name": "ivy", "admin": True, "groups": []})
        mo = service.sync_user(s, {"name": "mo", "admin": False, "groups": ["mentors", "cohort-a"]})
        ada = service.sync_user(s, {"name": "ada", "admin": False, "groups": ["cohort-a"]})
        assert boss.role.value == "instructor" and mo.role.value == "mentor" and ada.role.value == "learner"
        assert [c.name for c in mo.mentoring] == ["cohort-a"] and [c.name for c in ada.cohorts] == ["cohort-a"]
        assert not mo.cohorts and "mentors" not in {c.name for c in ada.cohorts}
        again = service.sync_user(s, {"name": "ada", "admin": False, "groups": ["cohort-a", "cohort-b"]})
        assert again.id == ada.id and sorted(c.name for c in again.cohorts) == ["cohort-a", "cohort-b"]


def test_without_a_hub_hub_tokens_are_not_accepted(db, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    with db.session() as s:
        assert service.user_for_hub_token(s, "anything") is None


def test_lti_names_cohorts_roles_and_lessons():
    assert lti.username({"email": "Ada.L@uni.example", "sub": "x"}) == "ada.l"
    assert lti.username({"sub": "8f3e/22"}) == "lti-8f3e-22"
    assert lti.username({"user_id": "u-bob"}) == "lti-u-bob"  # an NRPS member without e-mail
    assert lti.cohort_name({"id": "c1", "label": "INTERP 101"}) == "lti-interp-101"
    assert lti.cohort_name({"id": "Course-42"}) == "lti-course-42"
    assert lti.is_staff(["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"])
    assert not lti.is_staff(["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"])
    assert lti.lesson_of({lti.CLAIM + "custom": {"lesson": "1.1"}}) == "1.1"
    assert lti.lesson_of({lti.CLAIM + "target_link_uri": "https://h/hub/lti/launch?lesson=0.1"}) == "0.1"
    assert lti.lesson_path("0.1") == "lab/tree/0.1-numpy/0.1-numpy.ipynb"
    assert lti.lesson_path("no-such-lesson") == "lab" and lti.lesson_path(None) == "lab"


def test_the_tools_jwks_is_its_public_key_only(tmp_path):
    keys = lti.tool_jwks(tmp_path)["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and "d" not in keys[0] and keys[0]["kid"]
    assert lti.tool_jwks(tmp_path) == {"keys": keys}  # the same key every time
    assert (tmp_path / "private.pem").stat().st_mode & 0o077 == 0


def test_a_learner_under_the_hub_sends_their_servers_token(monkeypatch, tmp_path):
    monkeypatch.delenv("BOOTCAMP_TOKEN", raising=False)
    monkeypatch.setenv("BOOTCAMP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-token-1")
    monkeypatch.setenv("BOOTCAMP_URL", "http://127.0.0.1:1")
    assert client.token() == "hub-token-1"
    monkeypatch.setenv("BOOTCAMP_TOKEN", "bc_mine")
    assert client.token() == "bc_mine"  # an explicit course token still wins


def test_the_dashboard_sends_browsers_to_the_hub_when_the_hub_started_it(db, monkeypatch):
    from fastapi.testclient import TestClient

    from autograder.app import create_app

    app = create_app(db.settings, db, migrate=False)
    with TestClient(app) as tc:
        assert tc.get("/dashboard", follow_redirects=False).headers["location"].startswith("/login")
        assert tc.get("/hub/login", follow_redirects=False).status_code == 404  # no hub: no hub sign-in
        monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "x")
        monkeypatch.setenv("JUPYTERHUB_SERVICE_NAME", "grader")
        assert tc.get("/dashboard", follow_redirects=False).headers["location"] == "/hub/login?next=/dashboard"
        assert tc.get("/login", follow_redirects=False).headers["location"] == "/hub/login?next=/dashboard"
