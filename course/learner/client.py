"""The learner's side of the grading service: `bootcamp submit`, `bootcamp status`,
and `bootcamp serve` / `bootcamp admin`, which run the service as a subprocess.

This module talks to the service over HTTP only (urllib from the standard library) and
never imports ``autograder``. Where it sends and with which token:

* ``BOOTCAMP_URL`` (default ``http://127.0.0.1:8765``, the embedded service that
  ``./run.sh lab`` starts);
* ``BOOTCAMP_TOKEN``; else, in a JupyterLab the course's JupyterHub started, that server's
  hub token ``JUPYTERHUB_API_TOKEN`` (the grading service asks the hub whose it is); else the
  local learner's token that the embedded service writes
  to ``<course>/.bootcamp/local.token``.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from course.authoring.lessons import ROOT, LessonError, find_lesson

DEFAULT_URL = "http://127.0.0.1:8765"


class ServiceError(LessonError):
    """The service refused or could not be reached; the message is one line for the learner.
    ``retryable``: the service was unreachable, the answer was lost, or it said 502/503/504."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


def service_url() -> str:
    return os.environ.get("BOOTCAMP_URL", DEFAULT_URL).rstrip("/")


def token(root: Path = ROOT) -> str:
    tok = os.environ.get("BOOTCAMP_TOKEN", "").strip()
    if tok:
        return tok
    hub = os.environ.get("JUPYTERHUB_API_TOKEN", "").strip()
    if hub and os.environ.get("BOOTCAMP_URL"):  # a JupyterLab the course's hub started: its own hub token
        return hub
    data = Path(os.environ.get("BOOTCAMP_DATA_DIR", root / ".bootcamp"))
    path = data / "local.token"
    if path.is_file():
        return path.read_text().strip()
    raise ServiceError(f"no token: set BOOTCAMP_TOKEN (from your mentor), or start the local service with "
                       f"`bootcamp serve` (it writes {path})")


def request(method: str, path: str, body: bytes | None = None, tok: str | None = None, url: str | None = None,
            content_type: str = "application/json", timeout: float = 30.0, headers: dict | None = None):
    req = urllib.request.Request((url or service_url()) + path, data=body, method=method)
    req.add_header("Authorization", f"Bearer {tok or token()}")
    if body is not None:
        req.add_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        try:
            detail = json.loads(err.read()).get("detail", "")
        except Exception:
            detail = err.reason
        raise ServiceError(f"the grading service said {err.code}: {detail}", retryable=err.code in (502, 503, 504)) \
            from None
    except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as err:
        raise ServiceError(f"cannot reach the grading service at {url or service_url()} ({getattr(err, 'reason', err)}); "
                           "is it running? `./run.sh lab` starts it, or `bootcamp serve`", retryable=True) from None


def submit(lesson_name: str, notebook: Path | None = None, **kw) -> dict:
    lesson = find_lesson(lesson_name)
    if notebook:
        path = Path(notebook)
    else:
        from course.learner import workspace

        for line in workspace.migrate(ROOT, slugs=[lesson.slug]).lines(ROOT):
            print(line, file=sys.stderr)
        path = workspace.open_lesson(lesson.slug, ROOT, migrate_first=False)
    if not path.is_file():
        raise LessonError(f"{path}: no such notebook")
    raw = path.read_bytes()
    try:  # a notebook saved mid-edit: say so here, with where the last good copy is, not as the service's 400
        json.loads(raw)
    except ValueError as err:
        from course.authoring.runner import RECOVER

        raise LessonError(f"{path}: not a readable notebook, nothing was sent ({type(err).__name__}: "
                          f"{str(err)[:80]}); {RECOVER}") from None
    return post_notebook(lesson.slug, raw, **kw)


RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)  # after a lost connection or a 502/503/504: 15 s in all


def post_notebook(slug: str, raw: bytes, key: str | None = None, delays=RETRY_DELAYS, **kw) -> dict:
    """POST the notebook with an Idempotency-Key, sending it again (same key) when the
    connection is lost or the service is briefly unavailable: the service answers a repeated
    key with the submission it already stored, so a retry never makes a second one."""
    key = key or uuid.uuid4().hex
    for wait_s in (*delays, None):
        try:
            return request("POST", f"/api/submissions?lesson={slug}", raw, content_type="application/x-ipynb+json",
                           headers={"Idempotency-Key": key}, **kw)
        except ServiceError as err:
            if not err.retryable or wait_s is None:
                raise
            print(f"{err}; sending it again in {wait_s:g} s (same Idempotency-Key: it cannot be stored twice)",
                  file=sys.stderr, flush=True)
            time.sleep(wait_s)
    raise AssertionError("unreachable")


def status(submission_id: str | None = None, lesson: str | None = None, **kw) -> dict:
    if submission_id:
        return request("GET", f"/api/submissions/{submission_id}", **kw)
    q = f"?limit=1&lesson={find_lesson(lesson).slug}" if lesson else "?limit=1"
    rows = request("GET", f"/api/submissions{q}", **kw)
    if not rows:
        raise ServiceError("you have no submissions yet: `bootcamp submit LESSON`")
    return rows[0]


def submissions(lesson: str | None = None, limit: int = 20, **kw) -> list[dict]:
    """Your submissions, newest first."""
    q = f"?limit={int(limit)}" + (f"&lesson={find_lesson(lesson).slug}" if lesson else "")
    return request("GET", f"/api/submissions{q}", **kw) or []


def format_list(rows: list[dict]) -> str:
    if not rows:
        return "you have no submissions yet: `bootcamp submit LESSON`"
    table = [("id", "lesson", "submitted", "status", "score")]
    for r in rows:
        when = (r.get("created_at") or "").replace("T", " ")[:16]
        score = f"{r['score']:g}/{r['max_score']:g}" if r.get("score") is not None else "-"
        table.append((str(r["id"]), r["lesson"], when, r["status"], score))
    w = [max(len(t[k]) for t in table) for k in range(5)]
    lines = ["  ".join(c.ljust(w[k]) for k, c in enumerate(t)).rstrip() for t in table]
    lines.insert(1, "  ".join("-" * x for x in w))
    lines.append("`bootcamp status ID` shows one submission's messages in full")
    return "\n".join(lines)


def wait(submission_id: str, timeout: float = 120.0, **kw) -> dict:
    end = time.monotonic() + timeout
    while True:
        got = status(submission_id, **kw)
        if got["status"] not in ("queued", "grading") or time.monotonic() > end:
            return got
        time.sleep(0.3)


def _width() -> int:
    import shutil

    return max(60, shutil.get_terminal_size((100, 24)).columns)


def format_result(got: dict, width: int | None = None) -> str:
    """A submission and its results; every message in full, wrapped to ``width`` (never cut)."""
    from course.authoring.runner import wrap

    width = width or _width()
    lines = wrap(f"submission {got['id']} of {got['lesson']}: {got['status']}"
                 + (f", score {got['score']:g}/{got['max_score']:g}" if got.get("score") is not None else ""), width, 2)
    if got.get("message"):
        lines += ["  " + x for x in wrap(got["message"], width - 2, 2)]
    rows = [(r["exercise"], f"{r['points']:g}/{r['max_points']:g}", r["status"], (r["message"] or "").strip())
            for r in got.get("results", [])]
    if rows:
        w = [max(len(x[k]) for x in rows + [("exercise", "points", "result", "")]) for k in range(3)]
        lines.append("  " + "  ".join(h.ljust(w[k]) for k, h in enumerate(("exercise", "points", "result"))) + "  message")
        indent = 2 + sum(w) + 6
        for row in rows:
            head = "  " + "  ".join(row[k].ljust(w[k]) for k in range(3)) + "  "
            lines.append((head + "\n".join(wrap(row[3], width, indent))).rstrip())
    for f in got.get("flags", []):
        lines += ["  " + x for x in wrap(f"flag: {f['kind']}: {f['detail']}", width - 2, 4)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI commands
def cmd_submit(args) -> int:
    got = submit(args.lesson, args.notebook)
    print(f"submitted {got['lesson']}: id {got['id']}", flush=True)
    if args.no_wait:
        return 0
    got = wait(got["id"], timeout=args.timeout)
    print(format_result(got))
    if got["status"] in ("queued", "grading"):
        print(f"still {got['status']}: `bootcamp status {got['id']}` later")
        return 0
    # graded is success, whatever the score (a partial score is feedback, not an error); 1 only when
    # grading itself failed (the notebook could not run, the service gave up)
    return 0 if got.get("score") is not None else 1


def cmd_status(args) -> int:
    if args.id:
        print(format_result(status(args.id)))
        return 0
    rows = submissions(args.lesson, limit=args.limit)
    print(format_list(rows))
    if rows:
        print()
        print(format_result(status(rows[0]["id"])))
    return 0


def _service(argv: list[str]) -> int:
    """Run the service (a separate package) as a subprocess: course never imports it."""
    env = dict(os.environ)
    env.setdefault("BOOTCAMP_COURSE_DIR", str(ROOT))
    try:
        return subprocess.call([sys.executable, "-m", "autograder", *argv], env=env)
    except KeyboardInterrupt:
        return 130


def cmd_serve(args) -> int:
    argv = ["serve"]
    if args.port:
        argv += ["--port", str(args.port)]
    if args.host:
        argv += ["--host", args.host]
    return _service(argv)


def cmd_admin(args) -> int:
    return _service(["admin", *args.admin_args])


def add_subcommands(sub) -> None:
    """Register submit, status, serve and admin on `bootcamp`'s subparsers."""
    s = sub.add_parser("submit", help="send a lesson notebook to the grading service and show the result")
    s.add_argument("lesson", metavar="LESSON")
    s.add_argument("--notebook", metavar="PATH", help="notebook to send (default: your copy, workspace/<lesson>/<lesson>.ipynb)")
    s.add_argument("--no-wait", action="store_true", help="do not wait for the grade")
    s.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the grade (default 120)")
    s.set_defaults(func=cmd_submit)

    s = sub.add_parser("status", help="your submissions, and the latest one's results (or one submission's)")
    s.add_argument("id", nargs="?", metavar="SUBMISSION_ID")
    s.add_argument("--lesson", help="only this lesson's submissions")
    s.add_argument("--limit", type=int, default=20, help="how many to list (default 20)")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("serve", help="run the grading service (API, dashboard, worker) on 127.0.0.1")
    s.add_argument("--port", type=int)
    s.add_argument("--host")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("admin", help="cohorts, enrolment and tokens (python -m autograder admin --help)",
                       add_help=False)
    s.add_argument("admin_args", nargs="...", metavar="ARGS")
    s.set_defaults(func=cmd_admin)
