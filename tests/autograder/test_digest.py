"""The weekly mentor digest, on a seeded gradebook: its content (Markdown and HTML), who may
see or send it, the webhook, and `admin digest`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from autograder.gradebook.models import User, utcnow

from .seeding import LESSON, OTHER, add_submission, pass_lesson
from .test_dashboard import webhook  # noqa: F401  (fixture: a chat webhook on loopback)
from .test_service import Admin

FAIL = [("double", True, ""), ("norm", False, "[norm] expected 5.0, got 25.0")]


@pytest.fixture
def seeded(service):
    """alpha: lea is stuck on norm (3 failures this week) and passed 9.9 this week, with a claimed
    project whose milestones are overdue, due soon, due later and done; leo enrolled 10 days ago
    and never submitted (silent); an old submission of lea's (20 days ago) is outside the week.
    beta: lia passed 9.8 this week."""
    db = service.db
    add_submission(db, "lea", OTHER, 0.0, 1.0, days_ago=20, results=[("counter", False, "[counter] n is 0")])
    for days in (3, 2, 1):
        add_submission(db, "lea", LESSON, 2.0, days_ago=days, results=FAIL)
    pass_lesson(db, "lea", OTHER, days_ago=0.5)
    pass_lesson(db, "lia", LESSON, days_ago=1)
    with db.session() as s:
        leo = s.query(User).filter_by(username="leo").one()
        leo.created_at = utcnow() - timedelta(days=10)
    pid = service.client.post("/api/proposals", json={"title": "Counters that count down", "lesson": "9.9",
                                                      "question": "What breaks when inc() is called concurrently?"},
                              headers=service.h("mo")).json()["id"]
    today = utcnow().date()
    ms = [{"title": "plan", "due": str(today - timedelta(days=9)), "done": True},
          {"title": "baseline", "due": str(today - timedelta(days=2))},
          {"title": "first result", "due": str(today + timedelta(days=3))},
          {"title": "write-up", "due": str(today + timedelta(days=30))}]
    r = service.client.post(f"/api/proposals/{pid}/claim", json={"milestones": ms}, headers=service.h("lea"))
    assert r.status_code == 201, r.text
    cohorts = {c["name"]: c["id"] for c in service.client.get("/api/cohorts", headers=service.h("ines")).json()}
    return {"pid": pid, "today": today, **cohorts}


def test_digest_content(service, seeded):
    from autograder.dashboard import digest

    with service.db.session() as s:
        from autograder.gradebook.models import Cohort

        d = digest.build(s, s.get(Cohort, seeded["alpha"]), service.settings)
    today = seeded["today"]
    assert d["cohort"] == "alpha" and d["learners"] == 2 and d["days"] == 7
    assert d["submissions"] == 4 and d["active_learners"] == 1 and d["lessons_passed"] == 1
    assert d["progress"] == [{"learner": "lea", "name": "Lea", "submissions": 4, "lessons": [LESSON, OTHER],
                              "passed": [OTHER]}]
    assert [(x["learner"], x["exercise"], x["failures"]) for x in d["stuck"]] == [("lea", "norm", 3)]
    assert d["stuck"][0]["last_message"] == "[norm] expected 5.0, got 25.0"
    assert [(x["learner"], x["days"], x["last_submission"]) for x in d["silent"]] == [("leo", 10, "")]
    assert d["projects"] == [{"learner": "lea", "proposal": seeded["pid"], "title": "Counters that count down",
                              "lesson": OTHER, "since": today.isoformat(), "milestones_done": 1, "milestones": 4,
                              "next": {"title": "baseline", "due": str(today - timedelta(days=2))}}]
    assert [(m["title"], m["overdue"]) for m in d["milestones_due"]] == [("baseline", True), ("first result", False)]

    md = digest.markdown(d)
    assert md.startswith("# Weekly digest: cohort alpha\n")
    for needle in ("4 submissions from 1 learner(s) · 1 lesson(s) newly passed",
                   f"| lea | 4 | {LESSON}, {OTHER} | {OTHER} |",
                   "- **lea**: 9.8-grading · `norm`, 3 failures; last: [norm] expected 5.0, got 25.0",
                   "- **leo**: 10 days (never submitted)",
                   f"- **lea**: #{seeded['pid']} Counters that count down (from {OTHER}), since {today}; milestones 1/4; "
                   f"next: baseline due {today - timedelta(days=2)}",
                   f"- {today - timedelta(days=2)} **overdue**: **lea**, baseline",
                   f"- {today + timedelta(days=3)}: **lea**, first result",
                   f"Dashboard: {service.settings.base_url}/cohorts/{seeded['alpha']}"):
        assert needle in md, needle
    assert "write-up" not in md and "lia" not in md and "plan" not in md.split("## Milestones due")[1]
    page = digest.html(d)
    assert page.startswith("<!doctype html>") and "Counters that count down" in page and "overdue" in page
    assert "leo" in page and "[norm] expected 5.0, got 25.0" in page


def test_an_empty_week_says_so(service):
    from autograder.dashboard import digest

    with service.db.session() as s:
        from autograder.gradebook.models import Cohort

        md = digest.markdown(digest.build(s, s.query(Cohort).filter_by(name="beta").one(), service.settings))
    for needle in ("No submissions this week.", "Nobody is stuck.", "Nobody is silent.", "No claimed projects.",
                   "No milestones due."):
        assert needle in md


def test_digest_access_rules(service, seeded):
    get = lambda who, c="alpha", q="": service.client.get(f"/api/cohorts/{seeded[c]}/digest{q}",  # noqa: E731
                                                          headers=service.h(who) if who else {})
    assert get(None).status_code == 401
    r = get("lea")
    assert r.status_code == 403 and r.json() == {"detail": "learners cannot see a cohort's digest"}
    assert get("mia").status_code == 404 and get("mia", "beta").status_code == 200
    assert get("mo").json()["cohort"] == "alpha" and get("ines", "beta").json()["cohort"] == "beta"
    r = get("mo", q="?format=markdown")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown") and "## Stuck" in r.text
    assert "<h2>Projects</h2>" in get("mo", q="?format=html").text
    for q in ("?format=pdf", "?days=0", "?days=x"):
        r = get("mo", q=q)
        assert r.status_code == 422 and "\n" not in r.json()["detail"], q
    assert service.client.get("/api/cohorts/999/digest", headers=service.h("ines")).status_code == 404


def test_sending_the_digest(service, seeded, webhook):  # noqa: F811
    hook_url, received = webhook
    send = lambda who, c="alpha": service.client.post(f"/api/cohorts/{seeded[c]}/digest/send",  # noqa: E731
                                                      headers=service.h(who) if who else {})
    r = send("mo")
    assert r.status_code == 409 and "no chat webhook is configured" in r.json()["detail"]
    service.settings.nudge_webhook_url = hook_url
    assert send(None).status_code == 401 and send("lea").status_code == 403 and send("mia").status_code == 404
    assert received == []
    r = send("mo")
    assert r.status_code == 200 and r.json()["sent"] is True
    assert len(received) == 1 and received[0]["text"].startswith("# Weekly digest: cohort alpha")
    assert "Counters that count down" in received[0]["text"]
    assert send("ines", "beta").status_code == 200 and len(received) == 2
    service.settings.nudge_webhook_url = "http://127.0.0.1:9/hook"  # nothing listens there
    r = send("mo")
    assert r.status_code == 502 and r.json()["detail"].startswith("the chat webhook failed")


def test_admin_digest(service, seeded, webhook, settings, monkeypatch, capsys, tmp_path):  # noqa: F811
    admin = Admin(settings, monkeypatch, capsys)
    out = admin("digest", "alpha")
    assert out.returncode == 0 and out.stdout.startswith("# Weekly digest: cohort alpha") and "Counters" in out.stdout
    page = tmp_path / "digest.html"
    assert admin("digest", "beta", "--days", "3", "--html", str(page)).returncode == 0
    assert "Weekly digest: cohort beta" in page.read_text()
    bad = admin("digest", "gamma")
    assert bad.returncode == 2 and "no cohort called 'gamma'" in bad.stderr
    bad = admin("digest", "alpha", "--send")
    assert bad.returncode == 2 and "no chat webhook is configured" in bad.stderr
    hook_url, received = webhook
    monkeypatch.setenv("BOOTCAMP_NUDGE_WEBHOOK_URL", hook_url)
    sent = admin("digest", "alpha", "--send")
    assert sent.returncode == 0 and "sent: the chat webhook answered 200" in sent.stderr
    assert received and received[0]["text"] == sent.stdout


def test_admin_projects_import_and_list(service, settings, monkeypatch, capsys):
    admin = Admin(settings, monkeypatch, capsys)
    service.client.post("/api/proposals", json={"title": "Norms", "lesson": "9.8", "question": "Any p-norm at all?"},
                        headers=service.h("mo"))
    out = admin("projects", "import")
    assert out.returncode == 0 and out.stdout.startswith("course proposals: 0 new")
    listing = admin("projects", "list").stdout
    assert "Norms" in listing and "[posted]" in listing and "claimed by: -" in listing


def test_the_digest_page_in_the_dashboard(service, seeded, webhook):  # noqa: F811
    c = service.client
    c.post("/login", data={"token": service.tokens["mo"], "next": "/projects"})
    r = c.get(f"/cohorts/{seeded['alpha']}/digest")
    assert r.status_code == 200 and "Counters that count down" in r.text and "Send (no webhook configured)" in r.text
    assert c.get(f"/cohorts/{seeded['beta']}/digest").status_code == 404
    assert c.get(f"/cohorts/{seeded['alpha']}/digest.md").text.startswith("# Weekly digest: cohort alpha")
    hook_url, received = webhook
    service.settings.nudge_webhook_url = hook_url
    r = c.post(f"/cohorts/{seeded['alpha']}/digest/send", data={"days": "7"})
    assert r.status_code == 200 and "Sent: the chat webhook answered 200" in r.text and len(received) == 1
