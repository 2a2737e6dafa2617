"""The HTTP API: every endpoint's access rule, bad input, and a submission's life."""

from __future__ import annotations

import json

import pytest

from autograder.grading.worker import wait_idle

from .conftest import SLUG


def test_health_needs_no_token(service):
    assert service.client.get("/healthz").json() == {"ok": True, "gradebook": "ok", "workers": []}


# --------------------------------------------------------------------------- tokens
@pytest.mark.parametrize("path", ["/api/me", "/api/lessons", "/api/submissions", "/api/cohorts",
                                  "/api/submissions/abc", "/api/cohorts/1/progress"])
def test_every_endpoint_needs_a_valid_token(service, path):
    for headers, reason in (({}, "missing token"), ({"Authorization": "Bearer nope"}, "invalid or revoked token"),
                            ({"Authorization": "Basic xyz"}, "malformed")):
        r = service.client.get(path, headers=headers)
        assert r.status_code == 401 and r.json()["detail"].startswith(reason), (path, r.text)
        assert "\n" not in r.json()["detail"]


def test_revoked_token_is_refused_and_submission_not_stored(service, sub):
    from autograder.gradebook import accounts

    with service.db.session() as s:
        accounts.revoke_tokens(s, "lea")
    before = service.count()
    r = service.submit("lea", sub().solve().bytes())
    assert r.status_code == 401 and r.json() == {"detail": "invalid or revoked token"}
    assert service.count() == before


def test_me_and_lessons(service):
    assert service.client.get("/api/me", headers=service.h("lea")).json()["cohorts"] == ["alpha"]
    assert service.client.get("/api/me", headers=service.h("mo")).json()["mentoring"] == ["alpha"]
    lessons = service.client.get("/api/lessons", headers=service.h("lia")).json()
    assert [x["slug"] for x in lessons] == [SLUG, "9.9-stateful"]


# --------------------------------------------------------------------------- bad input stores nothing
@pytest.mark.parametrize("body,lesson,code,reason", [
    (b"this is not json", "9.8", 400, "the notebook is not JSON"),
    (json.dumps({"nbformat": 3, "cells": []}).encode(), "9.8", 422, "nbformat 3 is not supported"),
    (json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "bogus"}], "metadata": {}}).encode(),
     "9.8", 422, "not a valid nbformat 4 notebook"),
    (json.dumps([1, 2]).encode(), "9.8", 422, "not a notebook"),
    (None, "7.7", 422, "unknown lesson '7.7'"),
])
def test_bad_input_is_4xx_json_with_one_line_and_stores_nothing(service, sub, body, lesson, code, reason):
    before = service.count()
    r = service.submit("lea", body if body is not None else sub().solve().bytes(), lesson=lesson)
    assert r.status_code == code, r.text
    assert r.json()["detail"].startswith(reason) and "\n" not in r.json()["detail"]
    assert service.count() == before


def test_oversized_upload_is_413(service, sub, monkeypatch):
    monkeypatch.setattr(service.settings, "max_upload_bytes", 2000)
    before = service.count()
    r = service.submit("lea", sub().solve().bytes())
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    assert service.count() == before


def test_a_notebook_of_another_lesson_is_refused(service):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    r = service.submit("lea", nbformat.writes(nb).encode())
    assert r.status_code == 422 and "not lesson 9.8's" in r.json()["detail"]


def test_missing_lesson_parameter_is_one_line(service, sub):
    r = service.client.post("/api/submissions", content=sub().bytes(), headers=service.h("lea"))
    assert r.status_code == 422 and r.json()["detail"] == "query.lesson: Field required"


# --------------------------------------------------------------------------- who sees what
def test_submission_visibility_by_role(service, sub):
    ids = {who: service.submit(who, sub().solve().bytes()).json()["id"] for who in ("lea", "leo", "lia")}
    get = lambda who, sid: service.client.get(f"/api/submissions/{sid}", headers=service.h(who))  # noqa: E731
    assert get("lea", ids["lea"]).status_code == 200
    r = get("lea", ids["leo"])  # another learner's id: same answer as a missing one
    assert r.status_code == 404 and r.json()["detail"].startswith("no submission")
    assert get("lea", "0" * 32).json() == {"detail": f"no submission {'0' * 32!r} that you can see"}
    assert get("mo", ids["lea"]).status_code == 200 and get("mo", ids["leo"]).status_code == 200
    assert get("mo", ids["lia"]).status_code == 404  # not mo's cohort
    assert get("mia", ids["lia"]).status_code == 200 and get("mia", ids["lea"]).status_code == 404
    assert all(get("ines", i).status_code == 200 for i in ids.values())
    listing = lambda who: {x["user"] for x in service.client.get("/api/submissions", headers=service.h(who)).json()}  # noqa: E731
    assert listing("lea") == {"lea"}
    assert listing("mo") == {"lea", "leo"}
    assert listing("mia") == {"lia"}
    assert listing("ines") == {"lea", "leo", "lia"}


def test_regrade_rules(service, sub):
    sid = service.submit("lea", sub().solve().bytes()).json()["id"]
    post = lambda who: service.client.post(f"/api/submissions/{sid}/regrade", headers=service.h(who))  # noqa: E731
    assert post("lea").status_code == 403
    assert post("mia").status_code == 404
    assert post("mo").status_code == 202
    assert post("ines").status_code == 202


def test_cohort_rules(service, sub):
    names = lambda who: [c["name"] for c in service.client.get("/api/cohorts", headers=service.h(who)).json()]  # noqa: E731
    assert service.client.get("/api/cohorts", headers=service.h("lea")).status_code == 403
    assert names("mo") == ["alpha"] and names("mia") == ["beta"] and names("ines") == ["alpha", "beta"]
    cohorts = {c["name"]: c["id"] for c in service.client.get("/api/cohorts", headers=service.h("ines")).json()}
    prog = lambda who, c: service.client.get(f"/api/cohorts/{cohorts[c]}/progress", headers=service.h(who))  # noqa: E731
    assert prog("lea", "alpha").status_code == 403
    assert prog("mia", "alpha").status_code == 404
    assert prog("mo", "alpha").status_code == 200
    assert [r["learner"] for r in prog("ines", "alpha").json()["rows"]] == ["lea", "leo"]


# --------------------------------------------------------------------------- a submission's life
def test_submit_store_grade_and_report(service, worker, sub):
    raw = sub().solve(norm="def norm(x):\n    return (x ** 2).sum()").bytes()
    r = service.submit("lea", raw)
    assert r.status_code == 201
    sid = r.json()["id"]
    from autograder.gradebook.models import Submission

    with service.db.session() as s:  # stored, bytes and all, before the answer came back
        assert s.get(Submission, sid).notebook == raw
    assert wait_idle(service.db, 60)
    got = service.client.get(f"/api/submissions/{sid}", headers=service.h("lea")).json()
    assert got["status"] == "graded" and got["score"] == 2 and got["max_score"] == 5
    norm = next(x for x in got["results"] if x["exercise"] == "norm")
    assert norm["status"] == "fail" and norm["message"].startswith("[norm]")
    assert "SECRET" not in json.dumps(got) and "HIDDEN" not in json.dumps(got)


def test_tampering_flag_is_in_the_api(service, worker, sub):
    sid = service.submit("lea", sub().solve().set("double_test", "pass").bytes()).json()["id"]
    assert wait_idle(service.db, 60)
    got = service.client.get(f"/api/submissions/{sid}", headers=service.h("mo")).json()
    assert [f["kind"] for f in got["flags"]] == ["tampered_test_cell"]
