"""`bootcamp verify` offline, on a transcript signed here with a throw-away Ed25519 key (the
service's side is tested in tests/autograder/test_transcript.py)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from course.cli import main
from course.learner import transcript as tr


def signed(private) -> dict:
    body = {"format": tr.FORMAT, "issuer": {"service": "http://127.0.0.1:8765", "key_id": tr.key_id(private.public_key())},
            "issued_at": "2026-11-24T10:00:00Z", "learner": {"username": "ada", "name": "Ada L", "cohorts": ["spring"]},
            "passing_rule": "every point", "projects": [],
            "lessons": [{"lesson": "0.1-numpy", "id": "0.1", "title": "NumPy <and> vectorisation", "passed": True,
                         "score": 12.0, "max_score": 12.0, "attempts": 2, "submission": "ab" * 16, "sha256": "cd" * 32,
                         "submitted_at": "2026-11-20T09:00:00Z", "graded_at": "2026-11-20T09:00:03Z"},
                        {"lesson": "0.2-einops", "id": "0.2", "title": "einops", "passed": False, "score": 3.0,
                         "max_score": 10.0, "attempts": 1, "submission": "ef" * 16, "sha256": "01" * 32,
                         "submitted_at": "2026-11-21T09:00:00Z", "graded_at": "2026-11-21T09:00:03Z"}]}
    sig = private.sign(tr.canonical_json(body))
    return {"transcript": body, "signature": {"algorithm": "Ed25519", "key_id": tr.key_id(private.public_key()),
                                              "value": base64.b64encode(sig).decode()}}


@pytest.fixture
def files(tmp_path):
    private = Ed25519PrivateKey.generate()
    doc = signed(private)
    path = tmp_path / "transcript.json"
    path.write_text(tr.dump(doc))
    (tmp_path / tr.KEY_NAME).write_text(tr.public_pem(private.public_key()))
    return path, doc


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_canonical_json_is_sorted_compact_utf8():
    assert tr.canonical_json({"b": 1, "a": [1.5, "é"]}) == '{"a":[1.5,"é"],"b":1}'.encode()
    with pytest.raises(ValueError):
        tr.canonical_json({"x": float("nan")})


def test_verify_a_good_transcript_with_the_key_beside_it(files, capsys):
    path, _ = files
    code, out, err = run(capsys, "verify", str(path))
    assert code == 0 and err == ""
    assert out.startswith("valid: Ada L (ada): 1 lesson(s) passed of 2 graded; issued 2026-11-24T10:00:00Z")


@pytest.mark.parametrize("old,new", [('"score": 3.0', '"score": 9.0'), ("2026-11-20T09:00:00Z", "2026-11-20T08:00:00Z"),
                                     ('"lesson": "0.2-einops"', '"lesson": "0.3-einops"'),
                                     ('"passed": false', '"passed": true '), ('"username": "ada"', '"username": "adb"')])
def test_a_changed_score_date_or_lesson_fails(files, capsys, old, new):
    path, _ = files
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    code, out, err = run(capsys, "verify", str(path))
    assert code == 1 and out == ""
    assert err.startswith(f"INVALID {path}: ") and err.count("\n") == 1


def test_a_truncated_file_fails_with_one_line(files, capsys):
    path, _ = files
    text = path.read_text()
    for cut in (len(text) - 2, len(text) // 2, 5, 0):
        path.write_text(text[:cut])
        code, _, err = run(capsys, "verify", str(path))
        assert code == 1 and err.count("\n") == 1 and ("truncated" in err or "not a signed transcript" in err), err


def test_the_html_rendering_is_verifiable_and_escapes(files, capsys, tmp_path):
    path, doc = files
    page = tmp_path / "t.html"
    page.write_text(tr.render_html(doc))
    text = page.read_text()
    assert "NumPy &lt;and&gt; vectorisation" in text and "<and>" not in text
    assert run(capsys, "verify", str(page))[0] == 0
    page.write_text(text.replace("Ada L", "Ada X", 1))
    code, _, err = run(capsys, "verify", str(page))
    assert code == 1 and "visible text does not match" in err


def test_bad_input_exit_2(files, capsys, tmp_path):
    path, _ = files
    code, _, err = run(capsys, "verify", str(tmp_path / "missing.json"))
    assert code == 2 and "no such file" in err
    lonely = tmp_path / "sub"
    lonely.mkdir()
    (lonely / "t.json").write_text(path.read_text())
    code, _, err = run(capsys, "verify", str(lonely / "t.json"))
    assert code == 2 and "no public key: pass --public-key FILE" in err
    (tmp_path / "junk.pem").write_text("not a key")
    code, _, err = run(capsys, "verify", str(path), "--public-key", str(tmp_path / "junk.pem"))
    assert code == 2 and "not an Ed25519 public key" in err and err.count("\n") == 1


def test_another_key_fails(files, capsys, tmp_path):
    path, _ = files
    other = tmp_path / "other.pem"
    other.write_text(tr.public_pem(Ed25519PrivateKey.generate().public_key()))
    code, _, err = run(capsys, "verify", str(path), "--public-key", str(other))
    assert code == 1 and "signed with key" in err
    json.loads(path.read_text())  # the file itself is untouched
