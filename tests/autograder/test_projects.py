"""Mentor-proposed projects: every endpoint's access rule, prerequisites, bad input that stores
nothing, peer matching, and the proposals a course ships (projects/*.toml and the "Going
further" questions of replication lessons), imported idempotently."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select

from autograder.projects.models import Claim, Proposal

from .seeding import LESSON, OTHER, add_submission, pass_lesson
from .test_dashboard import CHROMIUM, browser, login  # noqa: F401  (fixture)
from .test_service import live  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[2]


def count(service, model=Proposal) -> int:
    with service.db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def body(**kw) -> dict:
    d = {"title": "Grokking for subtraction", "question": "Does the Fourier circuit change for (a - b) mod p?",
         "lesson": "9.8"}
    d.update(kw)
    return d


def post(service, who, **kw):
    return service.client.post("/api/proposals", json=body(**kw), headers=service.h(who) if who else {})


def cohort_id(service, name: str) -> int:
    return {c["name"]: c["id"] for c in service.client.get("/api/cohorts", headers=service.h("ines")).json()}[name]


def claim_id(service, who: str, proposal: int) -> int:
    rows = service.client.get(f"/api/claims?proposal={proposal}", headers=service.h(who)).json()
    return rows[0]["id"]


# --------------------------------------------------------------------------- tokens and logins
NEW_ENDPOINTS = [("GET", "/api/proposals"), ("POST", "/api/proposals"), ("GET", "/api/proposals/1"),
                 ("PATCH", "/api/proposals/1"), ("POST", "/api/proposals/1/claim"), ("GET", "/api/claims"),
                 ("PATCH", "/api/claims/1"), ("GET", "/api/peers"), ("PUT", "/api/peers/optin"),
                 ("DELETE", "/api/peers/optin"), ("GET", "/api/transcript"), ("GET", "/api/cohorts/1/digest"),
                 ("POST", "/api/cohorts/1/digest/send")]


@pytest.mark.parametrize("method,path", NEW_ENDPOINTS)
def test_every_new_endpoint_needs_a_valid_token(service, method, path):
    for headers, reason in (({}, "missing token"), ({"Authorization": "Bearer nope"}, "invalid or revoked token"),
                            ({"Authorization": "Basic xyz"}, "malformed")):
        r = service.client.request(method, path, headers=headers, json={"title": "t"})
        assert r.status_code == 401 and r.json()["detail"].startswith(reason), (method, path, r.text)


@pytest.mark.parametrize("method,path", [("GET", "/projects"), ("POST", "/projects/new"), ("POST", "/projects/1/claim"),
                                         ("POST", "/peers/optin"), ("GET", "/cohorts/1/digest"),
                                         ("GET", "/cohorts/1/digest.md"), ("GET", "/cohorts/1/digest.html"),
                                         ("POST", "/cohorts/1/digest/send"), ("GET", "/transcript")])
def test_every_new_page_needs_a_login(service, method, path):
    r = service.client.request(method, path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login"), (method, path, r.status_code)


# --------------------------------------------------------------------------- posting
def test_post_proposal_access_rules(service):
    assert post(service, None).status_code == 401
    r = post(service, "lea")
    assert r.status_code == 403 and r.json() == {"detail": "only a mentor or an instructor can post a proposal"}
    r = post(service, "mo", cohort="alpha")  # a mentor, to their own cohort
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["mentor"] == "mo" and got["cohort"] == "alpha" and got["lesson"] == LESSON
    assert got["prerequisites"] == [LESSON] and got["status"] == "open" and got["claimants"] == []
    r = post(service, "mo", cohort="beta")  # not their cohort: as if it did not exist
    assert r.status_code == 404 and r.json()["detail"] == "no cohort 'beta' that you can see"
    assert post(service, "mia").status_code == 201  # for every learner
    r = post(service, "ines", cohort="beta", mentor="mia", prerequisites=["9.8", "9.9-stateful"])
    assert r.status_code == 201 and r.json()["mentor"] == "mia" and r.json()["prerequisites"] == [LESSON, OTHER]
    r = post(service, "mo", mentor="mia")
    assert r.status_code == 403 and "another mentor's name" in r.json()["detail"]
    assert count(service) == 3


@pytest.mark.parametrize("payload,code,reason", [
    (b"{not json", 422, "JSON decode error"),
    (body(title=""), 422, "title: String should have at least 3 characters"),
    ({k: v for k, v in body().items() if k != "question"}, 422, "question: Field required"),
    (body(lesson="7.7"), 422, "unknown lesson '7.7'"),
    (body(prerequisites=["9.8", "nope"]), 422, "unknown lesson 'nope'"),
    (body(difficulty=9), 422, "difficulty: Input should be less than or equal to 5"),
    (body(max_claims=0), 422, "max_claims: Input should be greater than or equal to 1"),
    (body(owner="me"), 422, "owner: Extra inputs are not permitted"),
    (body(mentor="lea"), 422, "mentor: no mentor or instructor called 'lea'"),
    (body(cohort="gamma"), 404, "no cohort 'gamma' that you can see"),
])
def test_bad_proposals_are_4xx_one_line_and_store_nothing(service, payload, code, reason):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    r = service.client.post("/api/proposals", content=raw,
                            headers={**service.h("ines"), "Content-Type": "application/json"})
    assert r.status_code == code, r.text
    assert reason in r.json()["detail"] and "\n" not in r.json()["detail"]
    assert count(service) == 0


# --------------------------------------------------------------------------- seeing and claiming
def test_who_sees_which_proposal(service):
    alpha = post(service, "mo", cohort="alpha").json()["id"]
    everyone = post(service, "mia").json()["id"]
    get = lambda who, pid: service.client.get(f"/api/proposals/{pid}", headers=service.h(who))  # noqa: E731
    for who in ("lea", "leo", "mo", "ines"):
        assert get(who, alpha).status_code == 200, who
    for who in ("lia", "mia"):
        r = get(who, alpha)
        assert r.status_code == 404 and r.json()["detail"] == f"no proposal {alpha} that you can see"
    assert all(get(who, everyone).status_code == 200 for who in ("lea", "lia", "mo", "mia", "ines"))
    assert service.client.get(f"/api/proposals/{alpha}").status_code == 401
    listing = lambda who, q="": [p["id"] for p in service.client.get(f"/api/proposals{q}", headers=service.h(who)).json()]  # noqa: E731
    assert listing("mo") == [alpha, everyone] and listing("mia") == [everyone]
    assert listing("ines") == [alpha, everyone]
    assert listing("lea") == []  # nothing passed yet: nothing to claim
    assert listing("lea", "?all=true") == [alpha, everyone]
    assert listing("lia", "?all=true") == [everyone]
    pass_lesson(service.db, "lea")
    assert listing("lea") == [alpha, everyone]


def test_claiming_needs_the_prerequisites_and_names_the_missing_lessons(service):
    pid = post(service, "mo", cohort="alpha", prerequisites=["9.8", "9.9"]).json()["id"]
    claim = lambda who, **kw: service.client.post(f"/api/proposals/{pid}/claim", json=kw or None,  # noqa: E731
                                                  headers=service.h(who))
    r = claim("lea")
    assert r.status_code == 403
    assert r.json()["detail"].startswith(f"you have not passed the prerequisites of proposal {pid}: "
                                         f"{LESSON}, {OTHER}")
    assert r.json()["missing"] == [LESSON, OTHER]
    listed = service.client.get("/api/proposals?all=true", headers=service.h("lea")).json()[0]
    assert listed["eligible"] is False and listed["missing"] == [LESSON, OTHER]
    pass_lesson(service.db, "lea", LESSON)
    add_submission(service.db, "lea", OTHER, 4.0, 5.0)  # not every point: not passed
    add_submission(service.db, "lea", OTHER, None, status="queued")
    add_submission(service.db, "lea", OTHER, 5.0, 5.0, status="timed_out")
    r = claim("lea")
    assert r.status_code == 403 and r.json()["missing"] == [OTHER]
    assert count(service, Claim) == 0
    # every point, with a tampered test cell that the grader restored: a pass (the flag stays visible)
    add_submission(service.db, "lea", OTHER, 5.0, 5.0, flags=["tampered_test_cell"])
    r = claim("lea", note="with Leo", milestones=[{"title": "baseline", "due": "2030-01-10"},
                                                   {"title": "write-up", "due": "2030-02-01"}])
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["learner"] == "lea" and got["status"] == "active" and got["note"] == "with Leo"
    assert [(m["title"], m["due"], m["done"]) for m in got["milestones"]] == [
        ("baseline", "2030-01-10", False), ("write-up", "2030-02-01", False)]
    r = claim("lea")
    assert r.status_code == 409 and r.json()["detail"] == f"you already claimed proposal {pid} (claim {got['id']})"
    mine = service.client.get(f"/api/proposals/{pid}", headers=service.h("lea")).json()
    assert mine["claimed"] is True and mine["claims"] == 1 and "claimants" not in mine
    assert service.client.get(f"/api/proposals/{pid}", headers=service.h("mo")).json()["claimants"] == ["lea"]


def test_claim_rules(service):
    pid = post(service, "mo", cohort="alpha", max_claims=1).json()["id"]
    everyone = post(service, "ines").json()["id"]
    for who in ("lea", "leo", "lia"):
        pass_lesson(service.db, who)
    claim = lambda who, p=pid: service.client.post(f"/api/proposals/{p}/claim", headers=service.h(who) if who else {})  # noqa: E731
    assert claim(None).status_code == 401
    for who in ("mo", "mia", "ines"):
        r = claim(who)
        assert r.status_code == 403 and r.json()["detail"] == "only learners claim proposals"
    assert claim("lia").status_code == 404  # another cohort's proposal
    assert claim("lea").status_code == 201
    r = claim("leo")
    assert r.status_code == 409 and "is taken" in r.json()["detail"]
    assert claim("lia", everyone).status_code == 201 and claim("leo", everyone).status_code == 201
    r = service.client.patch(f"/api/proposals/{everyone}", json={"status": "closed"}, headers=service.h("ines"))
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert claim("lea", everyone).status_code == 404  # closed: gone for learners who did not claim it
    assert service.client.get(f"/api/proposals/{everyone}", headers=service.h("lia")).json()["status"] == "closed"
    service.client.patch(f"/api/claims/{claim_id(service, 'lia', everyone)}", json={"status": "dropped"},
                         headers=service.h("lia"))
    r = claim("lia", everyone)  # she sees it (she claimed it once), but it is closed
    assert r.status_code == 409 and r.json()["detail"] == f"proposal {everyone} is closed"
    r = service.client.post(f"/api/proposals/{pid}/claim", json={"milestones": [{"title": "x", "due": "soon"}]},
                            headers=service.h("leo"))
    assert r.status_code == 422 and r.json()["detail"].startswith("milestones.0.due")
    assert count(service, Claim) == 3


def test_change_a_proposal_rules(service):
    mine = post(service, "mo").json()["id"]  # global, mo's own
    alpha = post(service, "ines", cohort="alpha").json()["id"]
    patch = lambda who, pid, **kw: service.client.patch(f"/api/proposals/{pid}", json=kw,  # noqa: E731
                                                        headers=service.h(who) if who else {})
    assert patch(None, mine, status="closed").status_code == 401
    assert patch("lea", mine, status="closed").status_code == 403
    r = patch("mia", mine, status="closed")  # sees it, does not own it
    assert r.status_code == 403 and "not yours to change" in r.json()["detail"]
    assert patch("mia", alpha, status="closed").status_code == 404
    assert patch("mo", alpha, title="A better title").json()["title"] == "A better title"  # their cohort's
    r = patch("mo", mine, status="finished")
    assert r.status_code == 422 and r.json()["detail"].startswith("status:")
    assert patch("mo", mine, status="closed").json()["status"] == "closed"
    pass_lesson(service.db, "lea")
    listed = [p["id"] for p in service.client.get("/api/proposals?all=true", headers=service.h("lea")).json()]
    assert listed == [alpha]  # a closed global proposal is gone for learners
    assert patch("ines", mine, status="open").json()["status"] == "open"


def test_claims_listing_and_changes(service):
    pid = post(service, "mia").json()["id"]
    for who in ("lea", "lia"):
        pass_lesson(service.db, who)
    cid = service.client.post(f"/api/proposals/{pid}/claim", json={"milestones": [{"title": "plan", "due": "2030-01-01"}]},
                              headers=service.h("lea")).json()["id"]
    service.client.post(f"/api/proposals/{pid}/claim", headers=service.h("lia"))
    listing = lambda who: [c["learner"] for c in service.client.get("/api/claims", headers=service.h(who)).json()]  # noqa: E731
    assert listing("lea") == ["lea"] and listing("leo") == [] and listing("lia") == ["lia"]
    assert listing("mo") == ["lea"] and listing("mia") == ["lia"] and listing("ines") == ["lea", "lia"]
    assert service.client.get("/api/claims").status_code == 401
    patch = lambda who, **kw: service.client.patch(f"/api/claims/{cid}", json=kw, headers=service.h(who))  # noqa: E731
    for who in ("leo", "lia", "mia"):
        r = patch(who, status="done")
        assert r.status_code == 404 and r.json()["detail"] == f"no claim {cid} that you can see"
    r = patch("lea", milestones=[{"title": "plan", "due": "2030-01-01", "done": True},
                                 {"title": "first result", "due": "2030-02-01"}])
    assert r.status_code == 200 and [m["done"] for m in r.json()["milestones"]] == [True, False]
    assert patch("mo", note="checked in").json()["note"] == "checked in"
    assert patch("ines", status="done").json()["status"] == "done"
    r = patch("lea", status="abandoned")
    assert r.status_code == 422 and "\n" not in r.json()["detail"]
    assert patch("lea", status="dropped").status_code == 200
    assert listing("lea") == []  # dropped claims are left out unless asked for
    assert len(service.client.get("/api/claims?include_dropped=true", headers=service.h("lea")).json()) == 1


# --------------------------------------------------------------------------- peers
def test_peer_matching_is_opt_in(service):
    pid = post(service, "mia").json()["id"]  # every learner may claim it
    for who in ("lea", "leo", "lia"):
        pass_lesson(service.db, who, days_ago=1)
    add_submission(service.db, "leo", OTHER, 2.0, days_ago=0.5)  # leo is on 9.9 now, lea still on 9.8
    for who in ("lea", "lia"):
        assert service.client.post(f"/api/proposals/{pid}/claim", headers=service.h(who)).status_code == 201
    peers = lambda who: service.client.get("/api/peers", headers=service.h(who))  # noqa: E731
    assert peers("lea").json()["opted_in"] is False and peers("lea").json()["peers"] == []
    for who in ("mo", "ines"):
        assert peers(who).status_code == 403
        assert service.client.put("/api/peers/optin", json={}, headers=service.h(who)).status_code == 403
    assert service.client.get("/api/peers").status_code == 401
    r = service.client.put("/api/peers/optin", json={"contact": "@lea on chat"}, headers=service.h("lea"))
    assert r.status_code == 200 and r.json() == {"opted_in": True, "contact": "@lea on chat"}
    assert peers("lea").json()["peers"] == []  # nobody else opted in
    service.client.put("/api/peers/optin", headers=service.h("lia"))
    got = peers("lea").json()["peers"]
    assert [p["learner"] for p in got] == ["lia"] and got[0]["reasons"][0].startswith(f"also works on proposal {pid}")
    assert [p["contact"] for p in peers("lia").json()["peers"]] == ["@lea on chat"]
    service.client.put("/api/peers/optin", json={"contact": "leo@example.org"}, headers=service.h("leo"))
    assert [p["learner"] for p in peers("lea").json()["peers"]] == ["lia"]  # leo is on another lesson
    add_submission(service.db, "leo", LESSON, 3.0)  # now on lea's lesson, in her cohort
    got = {p["learner"]: p["reasons"] for p in peers("lea").json()["peers"]}
    assert got["leo"] == [f"also on lesson {LESSON}"]
    assert "lea" not in {p["learner"] for p in peers("lia").json()["peers"] if "lesson" in " ".join(p["reasons"])}
    r = service.client.put("/api/peers/optin", json={"contact": "x" * 300}, headers=service.h("lea"))
    assert r.status_code == 422 and r.json()["detail"].startswith("contact:")
    assert service.client.delete("/api/peers/optin", headers=service.h("lia")).json() == {"opted_in": False}
    assert "lia" not in {p["learner"] for p in peers("lea").json()["peers"]}
    assert peers("lia").json()["peers"] == []


# --------------------------------------------------------------------------- what a course ships
FIXTURE_LESSON = '''\
# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "4.7"
#     title: A replication to extend
#     minutes: 5
#     checkpoint: toy-grokking
# ---

# %% [markdown]
# # 4.7 A replication to extend

# %%
x = 1

# %% [markdown]
# ## What you did
#
# 1. Not a going-further question.

# %% [markdown]
# ## Going further
#
# Open questions; each is a project.
#
# 1. **Other operations.** Does grokking happen for subtraction and division, and do the key
#    frequencies change?
# 2. How does the weight decay change the time to grok? (difficulty 2)
# 3. Replace AdamW by SGD with momentum: does the model still grok?
#
#    Plot the restricted loss for both.
# 4. Does a 2-layer model use the same circuit?
# 5) Train with 10% label noise. What happens to the excluded loss? (difficulty: 5)
# 6. Which frequencies win when two seeds disagree?
#
# Where to start: the lesson's checkpoint.
'''


@pytest.fixture
def course_copy(course_root, tmp_path) -> Path:
    """The test course with a replication lesson (4.7) and a projects/ folder of its own."""
    root = tmp_path / "course"
    shutil.copytree(course_root / "solutions", root / "solutions", ignore=shutil.ignore_patterns("*.ipynb"))
    (root / "solutions" / "4.7-extend").mkdir()
    (root / "solutions" / "4.7-extend" / "4.7-extend.py").write_text(FIXTURE_LESSON)
    (root / "projects").mkdir()
    (root / "projects" / "mentors.toml").write_text(textwrap.dedent('''\
        [[proposal]]
        id = "double-triple"
        title = "Generalise double to any factor"
        question = "Can one function scale by any factor without losing the dtype?"
        lesson = "9.8"
        difficulty = 2
        prerequisites = ["9.8", "9.9"]
        mentor = "mo"
        cohort = "alpha"
        max_claims = 2

        [[proposal]]
        id = "norm-p"
        title = "p-norms"
        question = "Extend norm to any p, and test it against numpy.linalg.norm."
        lesson = "9.8-grading"
        mentor = "Dr. Outside"
        '''))
    return root


def test_going_further_questions_from_a_source_and_a_notebook(course_copy, tmp_path):
    import jupytext

    from autograder.projects.service import going_further_questions, split_question

    src = course_copy / "solutions" / "4.7-extend" / "4.7-extend.py"
    questions = going_further_questions(src)
    assert len(questions) == 6
    assert questions[0] == ("**Other operations.** Does grokking happen for subtraction and division, and do the key\n"
                            "frequencies change?")
    assert questions[2] == "Replace AdamW by SGD with momentum: does the model still grok?\n\nPlot the restricted loss for both."
    assert questions[4].startswith("Train with 10% label noise")
    assert "Where to start" not in questions[5]
    assert split_question(questions[0])[0] == "Other operations"
    assert split_question(questions[1]) == ("How does the weight decay change the time to grok?",
                                            "How does the weight decay change the time to grok?", 2)
    assert split_question(questions[4])[2] == 5
    nb_path = tmp_path / "4.7-extend.ipynb"
    jupytext.write(jupytext.read(src), nb_path)  # the same lesson as a notebook (exercises/ has these)
    assert going_further_questions(nb_path) == questions


def test_course_proposals_import_idempotently(service, course_copy):
    from autograder.projects.service import import_course_proposals

    with service.db.session() as s:
        report = import_course_proposals(s, course_copy)
    assert report.errors == [] and (report.created, report.updated, report.unchanged) == (8, 0, 0)
    with service.db.session() as s:
        rows = {p.key: p for p in s.scalars(select(Proposal))}
        gf = rows["going-further:4.7-extend:1"]
        assert gf.title == "4.7 #1: Other operations" and gf.lesson == "4.7-extend" and gf.prerequisites == ["4.7-extend"]
        assert gf.checkpoint == "toy-grokking" and gf.source == "going-further" and gf.mentor_id is None
        assert rows["going-further:4.7-extend:5"].difficulty == 5
        assert rows["going-further:4.7-extend:5"].question == "Train with 10% label noise. What happens to the excluded loss?"
        dt = rows["file:double-triple"]
        assert dt.mentor.username == "mo" and dt.cohort.name == "alpha" and dt.prerequisites == [LESSON, OTHER]
        assert dt.max_claims == 2 and dt.source_path == "projects/mentors.toml"
        assert rows["file:norm-p"].mentor_label == "Dr. Outside" and rows["file:norm-p"].cohort_id is None
    with service.db.session() as s:
        again = import_course_proposals(s, course_copy)
    assert (again.created, again.updated, again.unchanged, again.closed) == (0, 0, 8, 0)
    assert count(service) == 8

    # an edited entry is updated, a removed one closed; a broken file is reported and its proposals kept
    toml = course_copy / "projects" / "mentors.toml"
    only_norm = "[[proposal]]" + toml.read_text().split("[[proposal]]")[2]
    toml.write_text(only_norm.replace('"p-norms"', '"p-norms, p from 1 to infinity"'))
    (course_copy / "projects" / "broken.toml").write_text('[[proposal]]\nid = "x"\ntitle = "unterminated\n')
    (course_copy / "projects" / "bad.toml").write_text('[[proposal]]\nid = "y"\ntitle = "Starts nowhere"\n'
                                                       'question = "A question long enough"\nlesson = "7.7"\n')
    with service.db.session() as s:
        third = import_course_proposals(s, course_copy)
    assert (third.created, third.updated, third.closed) == (0, 1, 1), third
    assert len(third.errors) == 2 and all("\n" not in e for e in third.errors)
    assert third.errors[0].startswith("projects/bad.toml: proposal 1 (y): unknown lesson '7.7'")
    assert third.errors[1].startswith("projects/broken.toml: not readable TOML")
    with service.db.session() as s:
        rows = {p.key: p for p in s.scalars(select(Proposal))}
        assert rows["file:norm-p"].title == "p-norms, p from 1 to infinity"
        assert rows["file:double-triple"].status.value == "closed"


def test_the_service_imports_the_course_proposals_on_start(course_copy, tmp_path):
    from .conftest import Service, make_settings

    settings = make_settings(course_copy, tmp_path / "data")
    svc = Service(settings)
    try:
        assert count(svc) == 7  # "double-triple" is for cohort alpha, made after the app started: not yet
        from autograder.app import create_app

        create_app(settings, svc.db)  # a restart imports it
        assert count(svc) == 8
        create_app(settings, svc.db)  # and another adds nothing
        assert count(svc) == 8
        pass_lesson(svc.db, "lea", "4.7-extend")
        titles = [p["title"] for p in svc.client.get("/api/proposals", headers=svc.h("lea")).json()]
        assert "4.7 #1: Other operations" in titles and len([t for t in titles if t.startswith("4.7 #")]) == 6
        assert "p-norms" not in titles  # needs 9.8, not passed
    finally:
        svc.db.dispose()


def test_the_course_repository_proposals_import_cleanly(service):
    """projects/*.toml of this repository (and its replication lessons) import with no error."""
    from autograder.projects.service import ImportReport, course_proposals

    report = ImportReport()
    entries, failed = course_proposals(REPO, report)
    assert report.errors == [] and failed == set()
    assert len({e["key"] for e in entries}) == len(entries)
    assert any(e["source"] == "file" for e in entries)
    from course.authoring.lessons import all_lessons

    for lesson in all_lessons(REPO):  # every replication lesson ends with 5+ "Going further" questions
        if lesson.id.startswith("4."):
            n = sum(1 for e in entries if e["key"].startswith(f"going-further:{lesson.slug}:"))
            assert n >= 5, f"{lesson.slug}: {n} numbered questions under '## Going further' (want 5 or more)"


# --------------------------------------------------------------------------- the pages, in a real browser


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)")
def test_projects_pages_in_a_browser(service, live, browser):  # noqa: F811
    """A mentor posts a proposal in the dashboard, a learner who passed its lesson claims it
    with milestones, opts in to peer matching, and the mentor sees who works on what."""
    pass_lesson(service.db, "lea")
    pass_lesson(service.db, "leo")
    mentor = browser.new_page()
    login(mentor, live, service.tokens["mo"])
    mentor.click("header a:text-is('Projects')")
    mentor.wait_for_url("**/projects")
    assert "Nobody has claimed a proposal yet." in mentor.inner_text("#claims-none")
    mentor.fill("#p-title", "x")  # too short: refused, nothing stored, the form keeps what was typed
    mentor.fill("#p-question", "Does doubling commute with the norm for every input?")
    mentor.click("#post-proposal")
    assert "title: String should have at least 3 characters" in mentor.inner_text("#error")
    assert mentor.input_value("#p-question").startswith("Does doubling commute") and count(service) == 0
    mentor.fill("#p-title", "Doubling and norms")
    mentor.select_option("#p-lesson", LESSON)
    mentor.click("#post-proposal")
    mentor.wait_for_url("**/projects?notice=*")
    assert "Doubling and norms" in mentor.inner_text("#proposals")

    learner = browser.new_page()
    login(learner, live, service.tokens["lea"])
    learner.goto(live + "/projects")
    assert "Doubling and norms" in learner.inner_text("#eligible")
    learner.fill("#eligible textarea[name=milestones]", "2030-01-10 baseline\n2030-02-01 write-up")
    learner.click("#eligible button.claim")
    learner.wait_for_url("**/projects?notice=*")
    mine = learner.inner_text("#mine")
    assert "Doubling and norms" in mine and "2030-01-10 baseline" in mine
    learner.fill("#contact", "@lea")
    learner.click("#optin")
    learner.wait_for_url("**/projects")
    assert "No opted-in peer matches you yet." in learner.inner_text("#peers-none")
    learner.goto(live + "/transcript")
    assert "Transcript of Lea" in learner.inner_text("h1")

    other = browser.new_page()  # leo claims too and opts in: lea sees him
    login(other, live, service.tokens["leo"])
    other.goto(live + "/projects")
    other.click("#eligible button.claim")
    other.wait_for_url("**/projects?notice=*")
    other.click("#optin")
    other.wait_for_url("**/projects")
    assert "lea" in other.inner_text("#peers") and "@lea" in other.inner_text("#peers")

    mentor.goto(live + "/projects")
    claims = mentor.inner_text("#claims")
    assert "lea" in claims and "leo" in claims and "2030-01-10 baseline" in claims
    mentor.click("#digests a:text-is('alpha')")
    mentor.wait_for_url("**/digest")
    assert "Doubling and norms" in mentor.inner_text("#digest-projects")
    assert learner.request.get(live + f"/cohorts/{cohort_id(service, 'alpha')}/digest").status == 403


def test_learner_commands_proposals_claim_peers(service, live, monkeypatch, capsys):  # noqa: F811
    from course.cli import main

    pid = post(service, "mo", cohort="alpha", prerequisites=["9.8", "9.9"]).json()["id"]
    monkeypatch.setenv("BOOTCAMP_URL", live)
    monkeypatch.setenv("BOOTCAMP_TOKEN", service.tokens["lea"])
    run = lambda *argv: (main(list(argv)), capsys.readouterr())  # noqa: E731
    code, out = run("proposals")
    assert code == 0 and out.out.startswith("no open proposal you can claim yet")
    code, out = run("proposals", "--all")
    assert code == 0 and f"needs {LESSON}, {OTHER}" in out.out and "Grokking for subtraction" in out.out
    code, out = run("claim", str(pid))
    assert code == 2 and out.err.count("\n") == 1
    assert f"403: you have not passed the prerequisites of proposal {pid}: {LESSON}, {OTHER}" in out.err
    code, out = run("claim", str(pid), "--milestone", "tomorrow baseline")
    assert code == 2 and "write 'YYYY-MM-DD title'" in out.err
    pass_lesson(service.db, "lea", LESSON)
    pass_lesson(service.db, "lea", OTHER)
    code, out = run("claim", str(pid), "--milestone", "2030-01-10 baseline", "--milestone", "2030-02-01 write-up")
    assert code == 0 and out.out.startswith(f"claimed proposal {pid}: Grokking for subtraction")
    assert "2030-01-10  baseline" in out.out
    code, out = run("proposals")
    assert code == 0 and "claimed by you" in out.out
    code, out = run("peers")
    assert code == 0 and "you have not opted in" in out.out
    code, out = run("peers", "--opt-in", "@lea")
    assert code == 0 and "no opted-in peer" in out.out
    code, out = run("peers", "--opt-out")
    assert code == 0 and "peer matching is off" in out.out
    with service.db.session() as s:
        from autograder.projects.models import PeerOptIn

        assert s.get(PeerOptIn, 1) is None and s.scalar(select(func.count()).select_from(PeerOptIn)) == 0


# --------------------------------------------------------------------------- PostgreSQL
from .test_postgres import INITDB, PG_CTL, postgres_url  # noqa: E402,F401  (fixture)


@pytest.mark.skipif(not (INITDB and PG_CTL), reason="PostgreSQL server binaries not found (apt-get install -y postgresql)")
def test_projects_transcript_and_digest_on_postgresql(postgres_url, course_copy, tmp_path):  # noqa: F811
    """Migration 0002, the course import (JSON prerequisites compared on re-import), a claim with
    milestones, peers, a transcript and a digest, on a real PostgreSQL server."""
    from autograder.dashboard import digest
    from autograder.gradebook.models import Cohort
    from course.learner import transcript as tr

    from .conftest import Service, make_settings

    svc = Service(make_settings(course_copy, tmp_path / "data", database_url=postgres_url))
    try:
        from autograder.projects.service import import_course_proposals

        with svc.db.session() as s:  # the start-up import ran before the cohort "alpha" existed
            again = import_course_proposals(s, course_copy)
        assert again.errors == [] and (again.created, again.unchanged) == (1, 7)
        pass_lesson(svc.db, "lea", "4.7-extend")
        listed = svc.client.get("/api/proposals", headers=svc.h("lea")).json()
        pid = next(p["id"] for p in listed if p["title"].startswith("4.7 #2"))
        r = svc.client.post(f"/api/proposals/{pid}/claim", json={"milestones": [{"title": "plan", "due": "2030-01-01"}]},
                            headers=svc.h("lea"))
        assert r.status_code == 201, r.text
        assert svc.client.post(f"/api/proposals/{pid}/claim", headers=svc.h("leo")).status_code == 403
        svc.client.put("/api/peers/optin", json={"contact": "@lea"}, headers=svc.h("lea"))
        assert svc.client.get("/api/peers", headers=svc.h("lea")).json()["opted_in"] is True
        doc = svc.client.get("/api/transcript", headers=svc.h("lea")).json()
        key = tr.load_public_key(svc.client.get("/api/transcript/public-key?format=pem").text)
        assert tr.verify_text(tr.dump(doc), key).ok and doc["transcript"]["projects"][0]["status"] == "active"
        with svc.db.session() as s:
            d = digest.build(s, s.query(Cohort).filter_by(name="alpha").one(), svc.settings)
        assert d["projects"][0]["learner"] == "lea" and d["progress"][0]["passed"] == ["4.7-extend"]
    finally:
        svc.db.dispose()


def test_project_pages_access_rules(service):
    """Without a browser: who may post, claim and opt in through the dashboard's forms."""
    from fastapi.testclient import TestClient

    def as_(who):
        c = TestClient(service.app)
        c.post("/login", data={"token": service.tokens[who], "next": "/projects"})
        return c

    form = {"title": "Paged", "question": "A question that is long enough?", "lesson": LESSON}
    lea, mo, mia = as_("lea"), as_("mo"), as_("mia")
    assert lea.post("/projects/new", data=form).status_code == 403 and count(service) == 0
    r = mo.post("/projects/new", data={**form, "cohort": "beta"})
    assert r.status_code == 404 and "no cohort &#39;beta&#39; that you can see" in r.text and count(service) == 0
    r = mo.post("/projects/new", data={**form, "max_claims": "two"})
    assert r.status_code == 422 and "max claims: a whole number" in r.text and count(service) == 0
    assert mo.post("/projects/new", data={**form, "cohort": "alpha"}, follow_redirects=False).status_code == 303
    pid = service.client.get("/api/proposals", headers=service.h("mo")).json()[0]["id"]
    r = mo.post(f"/projects/{pid}/claim")
    assert r.status_code == 403 and "only learners claim proposals" in r.text
    assert mia.get("/projects").status_code == 200 and "Paged" not in mia.get("/projects").text  # beta's mentor
    r = lea.post(f"/projects/{pid}/claim")
    assert r.status_code == 403 and f"you have not passed the prerequisites of proposal {pid}: {LESSON}" in r.text
    pass_lesson(service.db, "lea")
    r = lea.post(f"/projects/{pid}/claim", data={"milestones": "2030-13-01 bad date"})
    assert r.status_code == 422 and "milestone line 1: write &#39;YYYY-MM-DD title&#39;" in r.text
    assert count(service, Claim) == 0
    assert lea.post(f"/projects/{pid}/claim", data={"milestones": "2030-01-01 plan"},
                    follow_redirects=False).status_code == 303
    assert as_("lia").post(f"/projects/{pid}/claim").status_code == 404  # another cohort's proposal
    r = mo.post("/peers/optin", data={"action": "in"})
    assert r.status_code == 403 and "peer matching is for learners" in r.text
    assert ">lea<" in mo.get("/projects").text and ">lea<" not in mia.get("/projects").text
