"""A verifiable transcript: `bootcamp transcript` and `bootcamp verify`.

The grading service signs a learner's transcript (every lesson with a graded submission:
score, dates, the submission's sha256, whether it passed) with its Ed25519 key. A transcript
file is JSON::

    {"transcript": {...}, "signature": {"algorithm": "Ed25519", "key_id": "...", "value": "<base64>"}}

The signature is over ``canonical_json(transcript)``: UTF-8 JSON with sorted keys and no
whitespace, so the file's own indentation is not signed, every value is. Anyone can check a
transcript offline with the service's public key (``GET /api/transcript/public-key``, which
``bootcamp transcript`` saves beside the transcript) and compare the key id it prints with
the one the service publishes. The HTML rendering embeds the signed JSON; `bootcamp verify`
accepts it too, and fails it when its visible text was edited.

This module talks to the service over HTTP (course/learner/client.py) and never imports ``autograder``;
the service imports ``canonical_json`` and ``render_html`` from here, so both sides agree.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import re
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

FORMAT = "bootcamp-transcript/1"
KEY_NAME = "transcript-key.pem"
_EMBED_ID = "bootcamp-transcript"


class TranscriptError(Exception):
    """Bad input (a missing file, an unreadable key): one line."""


def canonical_json(obj) -> bytes:
    """The bytes that are signed: sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def dump(signed: dict) -> str:
    """How a transcript file is written."""
    return json.dumps(signed, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- keys
def load_public_key(text: str | bytes):
    """An Ed25519 public key from PEM, from the service's JSON answer, or from raw base64."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    raw = text.encode() if isinstance(text, str) else text
    stripped = raw.strip()
    try:
        if stripped.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(stripped)
        elif stripped.startswith(b"{"):
            return load_public_key(json.loads(stripped)["public_key"])
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(stripped, validate=True))
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError) as err:
        raise TranscriptError(f"not an Ed25519 public key ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise TranscriptError("the public key is not an Ed25519 key")
    return key


def key_id(public) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public) -> str:
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


# --------------------------------------------------------------------------- verification
@dataclass
class Verdict:
    ok: bool
    reason: str  # one line
    transcript: dict | None = None
    key_id: str = ""


def parse(text: str, name: str = "the transcript") -> dict:
    """The signed document in a transcript file (.json, or the HTML rendering)."""
    if text.lstrip().startswith("<"):
        m = re.search(rf'<script type="application/json" id="{_EMBED_ID}">(.*?)</script>', text, re.DOTALL)
        if not m:
            raise ValueError(f"{name} is HTML without an embedded transcript (truncated, or not a transcript)")
        text = m.group(1)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{name} is truncated or not JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("transcript"), dict) or not isinstance(doc.get("signature"), dict):
        raise ValueError(f"{name} is not a signed transcript: it needs 'transcript' and 'signature' objects")
    return doc


def verify_document(doc: dict, public) -> Verdict:
    """Check a parsed {"transcript", "signature"} against an Ed25519 public key."""
    from cryptography.exceptions import InvalidSignature

    sig, body, kid = doc["signature"], doc["transcript"], key_id(public)
    if sig.get("algorithm") != "Ed25519":
        return Verdict(False, f"unsupported signature algorithm {sig.get('algorithm')!r}", key_id=kid)
    if sig.get("key_id") != kid:
        return Verdict(False, f"signed with key {sig.get('key_id')!r}, not with the given public key ({kid})", key_id=kid)
    text = str(sig.get("value", ""))
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        value = b""
    if not value or base64.b64encode(value).decode() != text:  # canonical base64 only: no spare bits to flip
        return Verdict(False, "the signature is not canonical base64 (edited or truncated)", key_id=kid)
    try:
        public.verify(value, canonical_json(body))
    except (InvalidSignature, ValueError):
        return Verdict(False, "the signature does not match the content: the transcript was changed after signing",
                       key_id=kid)
    if body.get("format") != FORMAT:
        return Verdict(False, f"unknown transcript format {body.get('format')!r}", key_id=kid)
    return Verdict(True, "signature valid", body, kid)


def verify_text(text: str, public, name: str = "the transcript") -> Verdict:
    try:
        doc = parse(text, name)
    except ValueError as err:
        return Verdict(False, str(err))
    verdict = verify_document(doc, public)
    if verdict.ok and text.lstrip().startswith("<") and text != render_html(doc):
        return Verdict(False, "the HTML's visible text does not match its signed data: it was edited "
                       "(or made by another version of bootcamp; verify the .json file instead)", key_id=verdict.key_id)
    return verdict


def summary(t: dict) -> str:
    learner = t.get("learner", {})
    lessons = t.get("lessons", [])
    passed = sum(1 for x in lessons if x.get("passed"))
    return (f"{learner.get('name') or learner.get('username')} ({learner.get('username')}): {passed} lesson(s) passed "
            f"of {len(lessons)} graded; issued {t.get('issued_at')} by {t.get('issuer', {}).get('service')}")


# --------------------------------------------------------------------------- HTML
_CSS = """body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#1d232a}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #d6dbe0;padding:.3em .6em;text-align:left}
th{background:#eef1f4}.pass{background:#d8f3dc}.part{background:#fff3bf}code{font-size:12px}.muted{color:#6b7580}"""


def _fmt(x) -> str:
    return "" if x is None else f"{x:g}" if isinstance(x, int | float) else str(x)


def render_html(doc: dict) -> str:
    """A readable page of a signed transcript, with the signed JSON embedded (deterministic:
    `bootcamp verify` renders it again and compares)."""
    e = html.escape
    t, sig = doc["transcript"], doc["signature"]
    learner = t.get("learner", {})
    name = learner.get("name") or learner.get("username", "")
    rows = []
    for x in t.get("lessons", []):
        cls = "pass" if x.get("passed") else "part"
        rows.append(
            f'<tr class="{cls}"><td>{e(_fmt(x.get("id")))}</td><td>{e(_fmt(x.get("title")))}</td>'
            f'<td>{"passed" if x.get("passed") else "not yet"}'
            + (f' <span class="muted">(flags: {e(", ".join(map(str, x["flags"])))})</span>' if x.get("flags") else "")
            + "</td>"
            f'<td>{e(_fmt(x.get("score")))} / {e(_fmt(x.get("max_score")))}</td><td>{e(_fmt(x.get("attempts")))}</td>'
            f'<td>{e(_fmt(x.get("submitted_at")))}</td><td>{e(_fmt(x.get("graded_at")))}</td>'
            f'<td><code>{e(_fmt(x.get("sha256")))}</code></td></tr>')
    projects = [f"<li>{e(_fmt(p.get('title')))} <span class=\"muted\">(from {e(_fmt(p.get('lesson')))}, "
                f"{e(_fmt(p.get('status')))} since {e(_fmt(p.get('claimed_at')))})</span></li>"
                for p in t.get("projects", [])]
    embedded = json.dumps(doc, sort_keys=True, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e") \
        .replace("&", "\\u0026")
    service = _fmt(t.get("issuer", {}).get("service"))
    return "\n".join([
        "<!doctype html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>Transcript of {e(name)}</title><style>{_CSS}</style></head><body>',
        f"<h1>Transcript of {e(name)} <span class=\"muted\">{e(_fmt(learner.get('username')))}</span></h1>",
        f"<p>Issued {e(_fmt(t.get('issued_at')))} by the grading service at <code>{e(service)}</code>"
        + (f"; cohorts: {e(', '.join(learner.get('cohorts', [])))}" if learner.get("cohorts") else "") + ".</p>",
        f"<p class=\"muted\">{e(_fmt(t.get('passing_rule')))}</p>",
        '<table id="lessons"><tr><th>lesson</th><th>title</th><th>result</th><th>score</th><th>attempts</th>'
        "<th>submitted (UTC)</th><th>graded (UTC)</th><th>submission sha256</th></tr>",
        *rows,
        "</table>",
        *(["<h2>Projects</h2>", "<ul>", *projects, "</ul>"] if projects else []),
        f"<p class=\"muted\">Signed with Ed25519, key id <code>{e(_fmt(sig.get('key_id')))}</code>. To check this page "
        f"or its JSON: <code>bootcamp verify FILE --public-key {KEY_NAME}</code>, with the key the service publishes at "
        f"<code>{e(service)}/api/transcript/public-key?format=pem</code>. Any change to this page fails the check.</p>",
        f'<script type="application/json" id="{_EMBED_ID}">{embedded}</script>',
        "</body></html>",
        "",
    ])


# --------------------------------------------------------------------------- CLI
def _read_key(spec: str):
    if spec.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(spec, timeout=15) as resp:
                return load_public_key(resp.read())
        except OSError as err:
            raise TranscriptError(f"cannot fetch the public key from {spec} ({err})") from None
    path = Path(spec)
    if not path.is_file():
        raise TranscriptError(f"{path}: no such public key file")
    return load_public_key(path.read_bytes())


def cmd_transcript(args) -> int:
    from course.learner import client

    q = f"?username={args.user}" if args.user else ""
    signed = client.request("GET", f"/api/transcript{q}")
    key_answer = client.request("GET", "/api/transcript/public-key")
    public = load_public_key(key_answer["pem"])
    verdict = verify_document(signed, public)
    if not verdict.ok:  # the service and its published key disagree: write nothing
        raise client.ServiceError(f"the service's transcript does not verify against its own key: {verdict.reason}")
    out = Path(args.out)
    key_out = Path(args.public_key) if args.public_key else out.with_name(KEY_NAME)
    out.write_text(dump(signed), encoding="utf-8")
    key_out.write_text(public_pem(public), encoding="utf-8")
    print(f"wrote {out}: {summary(signed['transcript'])}")
    if args.html:
        Path(args.html).write_text(render_html(signed), encoding="utf-8")
        print(f"wrote {args.html} (readable; `bootcamp verify` checks it too)")
    print(f"wrote {key_out}: the service's public key, id {verdict.key_id} "
          f"(anyone can fetch it from {client.service_url()}/api/transcript/public-key?format=pem)")
    return 0


def cmd_verify(args) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise TranscriptError(f"{path}: no such file")
    key_spec = args.public_key or str(path.with_name(KEY_NAME))
    if not args.public_key and not Path(key_spec).is_file():
        raise TranscriptError(f"no public key: pass --public-key FILE (the service publishes it at "
                              f"/api/transcript/public-key?format=pem); {key_spec} does not exist")
    public = _read_key(key_spec)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        text = ""
    verdict = verify_text(text, public, name=str(path))
    if not verdict.ok:
        print(f"INVALID {path}: {verdict.reason}", file=sys.stderr)
        return 1
    print(f"valid: {summary(verdict.transcript)}; Ed25519 key {verdict.key_id} ({key_spec})")
    return 0


def _guard(func):
    def run(args) -> int:
        try:
            return func(args)
        except TranscriptError as err:
            print(f"bootcamp: {err}", file=sys.stderr)
            return 2

    return run


def add_subcommands(subparsers) -> None:
    """Register ``transcript`` and ``verify`` on the ``bootcamp`` argparse sub-parsers."""
    s = subparsers.add_parser("transcript", help="download your signed transcript (JSON, optionally HTML)")
    s.add_argument("--out", default="transcript.json", metavar="FILE", help="where to write it (default transcript.json)")
    s.add_argument("--html", metavar="FILE", help="also write a readable HTML rendering (verifiable too)")
    s.add_argument("--public-key", metavar="FILE",
                   help=f"where to save the service's public key (default {KEY_NAME} beside --out)")
    s.add_argument("--user", metavar="USERNAME", help="mentors and instructors: a learner's transcript")
    s.set_defaults(func=_guard(cmd_transcript))
    s = subparsers.add_parser("verify", help="check a transcript's signature offline (exit 1 if it is invalid)")
    s.add_argument("file", metavar="FILE", help="a transcript (.json or .html)")
    s.add_argument("--public-key", metavar="FILE",
                   help=f"the service's public key: a PEM file or an http(s) URL (default {KEY_NAME} beside FILE)")
    s.set_defaults(func=_guard(cmd_verify))
