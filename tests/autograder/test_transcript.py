"""Signed transcripts: the key (generated once, 0600, never served), who may fetch whose
transcript, what it says, and that a changed score, date or lesson fails verification."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course.learner import transcript as tr

from .seeding import LESSON, OTHER, add_submission, pass_lesson
from .test_service import live  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[2]


def key_of(service):
    return tr.load_public_key(service.client.get("/api/transcript/public-key?format=pem").text)


def fetch(service, who="lea", username=None):
    q = f"?username={username}" if username else ""
    return service.client.get(f"/api/transcript{q}", headers=service.h(who) if who else {})


def seed(service):
    """lea: fails 9.8 once, then passes it; 9.9 only partly. leo: nothing."""
    add_submission(service.db, "lea", LESSON, 2.0, days_ago=3)
    good = pass_lesson(service.db, "lea", LESSON, days_ago=2)
    add_submission(service.db, "lea", OTHER, 0.0, 1.0, days_ago=1)
    add_submission(service.db, "lea", LESSON, 5.0, days_ago=0.5)  # a later full score does not replace the first
    return good


def test_the_key_is_made_once_kept_private_and_only_its_public_half_served(service):
    r = service.client.get("/api/transcript/public-key")  # no token needed: anyone may verify
    assert r.status_code == 200
    got = r.json()
    assert got["algorithm"] == "Ed25519" and len(got["key_id"]) == 16 and got["pem"].startswith("-----BEGIN PUBLIC KEY")
    path = service.settings.data_path / "transcript-ed25519.pem"
    assert path.is_file() and oct(path.stat().st_mode & 0o777) == "0o600"
    assert "PRIVATE" not in r.text and "PRIVATE" not in service.client.get("/api/transcript/public-key?format=pem").text
    assert tr.key_id(tr.load_public_key(got["pem"])) == got["key_id"] == tr.key_id(tr.load_public_key(got["public_key"]))
    r = service.client.get("/api/transcript/public-key?format=der")
    assert r.status_code == 422 and "\n" not in r.json()["detail"]
    from fastapi.testclient import TestClient

    from autograder.app import create_app

    again = TestClient(create_app(service.settings, service.db)).get("/api/transcript/public-key").json()
    assert again["key_id"] == got["key_id"]  # a restart signs with the same key


def test_transcript_access_rules(service):
    pass_lesson(service.db, "lea")
    assert fetch(service, None).status_code == 401
    assert fetch(service, "lea").json()["transcript"]["learner"]["username"] == "lea"
    assert fetch(service, "lea", "lea").status_code == 200
    r = fetch(service, "lea", "leo")  # another learner's: as if there were none
    assert r.status_code == 404 and r.json() == {"detail": "no learner 'leo' that you can see"}
    assert fetch(service, "mo", "lea").json()["transcript"]["learner"]["username"] == "lea"
    assert fetch(service, "mia", "lea").status_code == 404
    assert fetch(service, "mia", "lia").status_code == 200
    assert fetch(service, "ines", "lea").status_code == 200 and fetch(service, "ines", "nobody").status_code == 404


def test_what_a_transcript_says_and_that_it_verifies(service):
    good = seed(service)
    doc = fetch(service).json()
    t = doc["transcript"]
    assert t["format"] == tr.FORMAT and t["learner"] == {"username": "lea", "name": "Lea", "cohorts": ["alpha"]}
    assert t["issuer"]["key_id"] == doc["signature"]["key_id"] and t["issuer"]["service"] == service.settings.base_url
    by = {x["lesson"]: x for x in t["lessons"]}
    assert set(by) == {LESSON, OTHER}
    from autograder.gradebook.models import Submission

    with service.db.session() as s:
        sub = s.get(Submission, good)
        sha, submitted = sub.sha256, sub.created_at.replace(microsecond=0).isoformat() + "Z"
    assert by[LESSON] | {"title": None} == {
        "lesson": LESSON, "id": "9.8", "title": None, "passed": True, "score": 5.0, "max_score": 5.0, "attempts": 3,
        "submission": good, "sha256": sha, "flags": [], "submitted_at": submitted, "graded_at": by[LESSON]["graded_at"]}
    assert by[LESSON]["title"] == "A lesson to grade"
    assert by[OTHER]["passed"] is False and by[OTHER]["score"] == 0.0 and by[OTHER]["max_score"] == 1.0
    v = tr.verify_document(doc, key_of(service))
    assert v.ok and v.reason == "signature valid"


@pytest.mark.parametrize("edit", ["score", "date", "lesson", "passed", "sha256", "learner", "drop a lesson",
                                  "signature", "key id"])
def test_a_changed_transcript_fails(service, edit):
    seed(service)
    doc = fetch(service).json()
    bad = copy.deepcopy(doc)
    first = bad["transcript"]["lessons"][0]
    if edit == "score":
        first["score"] = 4.0
    elif edit == "date":
        first["submitted_at"] = first["submitted_at"].replace(first["submitted_at"][:4], "2019")
    elif edit == "lesson":
        first["lesson"] = "9.9-stateful"
    elif edit == "passed":
        bad["transcript"]["lessons"][1]["passed"] = True
    elif edit == "sha256":
        first["sha256"] = ("1" if first["sha256"][0] == "0" else "0") + first["sha256"][1:]  # always a change
    elif edit == "learner":
        bad["transcript"]["learner"]["username"] = "leo"
    elif edit == "drop a lesson":
        bad["transcript"]["lessons"].pop(1)
    elif edit == "signature":
        bad["signature"]["value"] = "A" + bad["signature"]["value"][1:]
    elif edit == "key id":
        bad["signature"]["key_id"] = "0" * 16
    key = key_of(service)
    v = tr.verify_text(tr.dump(bad), key)
    assert not v.ok and "\n" not in v.reason, v.reason
    assert tr.verify_text(tr.dump(doc), key).ok


def test_every_one_character_edit_of_a_value_fails(service):
    seed(service)
    doc = fetch(service).json()
    text, key = tr.dump(doc), key_of(service)
    assert tr.verify_text(text, key).ok
    checked = 0
    for i, ch in enumerate(text):
        if not (ch.isalnum()):
            continue
        swapped = text[:i] + ("1" if ch != "1" else "2") + text[i + 1:]
        assert not tr.verify_text(swapped, key).ok, (i, text[max(0, i - 20):i + 20])
        checked += 1
    assert checked > 500


def test_truncated_and_foreign_files_fail_with_one_line(service, tmp_path):
    seed(service)
    text, key = tr.dump(fetch(service).json()), key_of(service)
    for cut in (0, 1, len(text) // 3, len(text) - 3):
        v = tr.verify_text(text[:cut], key)
        assert not v.ok and "\n" not in v.reason and ("truncated" in v.reason or "not JSON" in v.reason), v.reason
    v = tr.verify_text(json.dumps({"transcript": {}}), key)
    assert not v.ok and "needs 'transcript' and 'signature'" in v.reason
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate().public_key()
    v = tr.verify_text(text, other)
    assert not v.ok and v.reason.startswith("signed with key")


def test_the_html_rendering_verifies_and_fails_when_edited(service):
    seed(service)
    doc, key = fetch(service).json(), key_of(service)
    page = tr.render_html(doc)
    assert "Transcript of Lea" in page and "A lesson to grade" in page and doc["transcript"]["lessons"][0]["sha256"] in page
    assert tr.verify_text(page, key).ok
    v = tr.verify_text(page.replace("5 / 5", "6 / 5", 1), key)  # the visible table, not the embedded data
    assert not v.ok and "visible text does not match" in v.reason
    v = tr.verify_text(page[: len(page) // 2], key)
    assert not v.ok and "truncated" in v.reason


def test_the_dashboard_shows_a_learners_own_transcript(service):
    pass_lesson(service.db, "lea")
    c = service.client
    c.post("/login", data={"token": service.tokens["lea"], "next": "/transcript"})
    r = c.get("/transcript")
    assert r.status_code == 200 and "Transcript of Lea" in r.text and tr.verify_text(r.text, key_of(service)).ok


# --------------------------------------------------------------------------- the CLI against a live service
def test_bootcamp_transcript_then_verify_offline(service, live, tmp_path, monkeypatch, capsys):  # noqa: F811
    from course.cli import main

    seed(service)
    monkeypatch.setenv("BOOTCAMP_URL", live)
    monkeypatch.setenv("BOOTCAMP_TOKEN", service.tokens["lea"])
    out, page = tmp_path / "t.json", tmp_path / "t.html"
    assert main(["transcript", "--out", str(out), "--html", str(page)]) == 0
    said = capsys.readouterr().out
    key_file = tmp_path / tr.KEY_NAME
    assert out.is_file() and page.is_file() and key_file.is_file()
    assert "Lea (lea): 1 lesson(s) passed of 2 graded" in said and tr.key_id(tr.load_public_key(key_file.read_text())) in said
    assert "PRIVATE" not in key_file.read_text()

    monkeypatch.setenv("BOOTCAMP_URL", "http://127.0.0.1:9")  # offline from here on
    assert main(["verify", str(out)]) == 0 and capsys.readouterr().out.startswith("valid: Lea (lea)")
    assert main(["verify", str(page), "--public-key", str(key_file)]) == 0
    capsys.readouterr()
    text = out.read_text()
    i = text.index('"score": 5.0') + len('"score": ')
    out.write_text(text[:i] + "6" + text[i + 1:])  # one character
    assert main(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"INVALID {out}: the signature does not match") and err.count("\n") == 1
    out.write_text(text[: len(text) // 2])
    assert main(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "truncated" in err and err.count("\n") == 1

    # a mentor fetches a learner's; a learner cannot fetch another's
    monkeypatch.setenv("BOOTCAMP_URL", live)
    monkeypatch.setenv("BOOTCAMP_TOKEN", service.tokens["mo"])
    assert main(["transcript", "--user", "lea", "--out", str(tmp_path / "lea.json")]) == 0
    monkeypatch.setenv("BOOTCAMP_TOKEN", service.tokens["leo"])
    assert main(["transcript", "--user", "lea", "--out", str(tmp_path / "x.json")]) == 2
    assert "404: no learner 'lea' that you can see" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_verify_as_a_process_exits_nonzero_with_one_line(service, tmp_path):
    seed(service)
    doc = fetch(service).json()
    key_file = tmp_path / "key.pem"
    key_file.write_text(service.client.get("/api/transcript/public-key?format=pem").text)
    path = tmp_path / "t.json"
    path.write_text(tr.dump(doc)[:-40])
    env = {k: v for k, v in os.environ.items() if k not in ("BOOTCAMP_URL", "BOOTCAMP_TOKEN")}
    p = subprocess.run([sys.executable, "-m", "course", "verify", str(path), "--public-key", str(key_file)],
                       capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert p.returncode == 1 and p.stdout == "" and p.stderr.count("\n") == 1 and "INVALID" in p.stderr, p
