"""The service as a whole: a live server, concurrent submissions, killed workers,
restarts, migrations, the admin CLI and the embedded default."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from autograder.gradebook.models import GradingJob, JobState, Submission
from autograder.grading.worker import wait_idle

from .conftest import FAST_WARM, SLUG

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live(service):
    """uvicorn serving the test app on a free loopback port."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(service.app, host="127.0.0.1", port=port, log_level="warning",
                                          limit_concurrency=200, backlog=256))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    end = time.monotonic() + 20
    while not server.started and time.monotonic() < end:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    t.join(10)


def test_fifty_simultaneous_submissions_are_all_stored_and_graded(service, live, worker, sub):
    from course.learner import client

    good, bad = sub().solve().bytes(), sub().solve(norm="def norm(x):\n    return 0.0").bytes()
    tmp = Path(service.settings.data_path)
    (tmp / "good.ipynb").write_bytes(good)
    (tmp / "bad.ipynb").write_bytes(bad)
    learners = ["lea", "leo", "lia"]

    def one(i):
        path = "good.ipynb" if i % 2 == 0 else "bad.ipynb"
        body = (tmp / path).read_bytes()
        return i, client.request("POST", f"/api/submissions?lesson={SLUG}", body, tok=service.tokens[learners[i % 3]],
                                 url=live, content_type="application/x-ipynb+json")

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        acks = dict(pool.map(one, range(50)))
    assert len({a["id"] for a in acks.values()}) == 50
    assert service.count() == 50
    assert wait_idle(service.db, 240), "grading did not finish"
    with service.db.session() as s:
        for i, ack in acks.items():
            got = s.get(Submission, ack["id"])
            assert got.status.value == "graded", (got.status, got.message)
            assert got.score == (5.0 if i % 2 == 0 else 2.0)


def test_client_submit_and_status(service, live, worker, sub, monkeypatch, tmp_path):
    from course.learner import client

    path = tmp_path / "mine.ipynb"
    path.write_bytes(sub().solve().bytes())
    monkeypatch.setenv("BOOTCAMP_URL", live)
    monkeypatch.setenv("BOOTCAMP_TOKEN", service.tokens["lea"])
    import course.learner.client as mod
    from course.authoring import lessons

    monkeypatch.setattr(mod, "find_lesson", lambda name: lessons.find_lesson(name, service.settings.course_dir))
    ack = client.submit("9.8", path)
    got = client.wait(ack["id"], timeout=60)
    assert got["status"] == "graded" and got["score"] == 5
    assert client.status()["id"] == ack["id"]
    assert "double" in client.format_result(got)
    monkeypatch.setenv("BOOTCAMP_TOKEN", "bc_wrong")
    with pytest.raises(client.ServiceError, match="401: invalid or revoked token"):
        client.status(ack["id"])


# --------------------------------------------------------------------------- worker processes
def worker_env(settings, **extra) -> dict:
    env = dict(os.environ)
    env.update({"BOOTCAMP_COURSE_DIR": str(settings.course_dir), "BOOTCAMP_DATA_DIR": str(settings.data_path),
                "BOOTCAMP_WARM_IMPORTS": FAST_WARM, "BOOTCAMP_LEASE_SECONDS": "3", "BOOTCAMP_POLL_SECONDS": "0.05",
                "BOOTCAMP_WALL_SECONDS": "15", "BOOTCAMP_WORKERS": "1"})
    env.update(extra)
    return env


def wait_for(pred, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def job_of(service, sid) -> GradingJob:
    with service.db.session() as s:
        return s.scalars(select(GradingJob).where(GradingJob.submission_id == sid)).one()


def test_a_killed_worker_retries_then_fails_with_the_reason_and_queued_work_resumes(service, sub, monkeypatch):
    """Two notebooks are queued while no worker runs. A worker with two slots takes both and
    is killed (SIGKILL) in the middle. The next worker regrades the one with attempts left,
    and fails the one that had a single attempt, saying why."""
    slow = sub().solve().after("double", "import time\ntime.sleep(3)").bytes()
    retried = service.submit("lea", slow).json()["id"]
    monkeypatch.setattr(service.settings, "max_attempts", 1)
    failed = service.submit("leo", slow).json()["id"]
    env = {"BOOTCAMP_WORKERS": "2"}
    w1 = subprocess.Popen([sys.executable, "-m", "autograder", "worker"], env=worker_env(service.settings, **env),
                          cwd=REPO, stdout=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: all(job_of(service, i).state == JobState.running for i in (retried, failed)), 90)
        time.sleep(0.5)
        w1.send_signal(signal.SIGKILL)
        w1.wait(10)
    finally:
        w1.kill()
    assert job_of(service, retried).state == JobState.running  # the dead worker's lease is still there
    w2 = subprocess.Popen([sys.executable, "-m", "autograder", "worker"], env=worker_env(service.settings, **env),
                          cwd=REPO, stdout=subprocess.DEVNULL)
    try:
        assert wait_idle(service.db, 90)
    finally:
        w2.send_signal(signal.SIGTERM)
        w2.wait(30)
    job = job_of(service, retried)
    assert job.state == JobState.done and job.attempts == 2
    got = service.client.get(f"/api/submissions/{retried}", headers=service.h("lea")).json()
    assert got["status"] == "graded" and got["score"] == 5 and got["attempts"] == 2
    got = service.client.get(f"/api/submissions/{failed}", headers=service.h("leo")).json()
    assert got["status"] == "failed"
    assert "stopped 1 times" in got["message"] and "worker" in got["message"]


# --------------------------------------------------------------------------- schema, admin, embedded
def test_migrations_create_exactly_the_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from autograder.gradebook.db import make_engine, upgrade
    from autograder.gradebook.models import Base

    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


class Admin:
    """`python -m autograder admin ...`, in this process (one subprocess call proves the entry point)."""

    def __init__(self, settings, monkeypatch, capsys):
        self.capsys = capsys
        for k, v in worker_env(settings).items():
            if k.startswith("BOOTCAMP_"):
                monkeypatch.setenv(k, v)

    def __call__(self, *args):
        from autograder.__main__ import main

        self.capsys.readouterr()
        code = main(["admin", *args])
        out = self.capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)


def test_admin_cohorts_enrolment_and_tokens(settings, tmp_path, monkeypatch, capsys):
    from autograder.gradebook import accounts
    from autograder.gradebook.db import Database

    admin = Admin(settings, monkeypatch, capsys)
    entry = subprocess.run([sys.executable, "-m", "autograder", "admin", "cohort", "create", "spring"],
                           env=worker_env(settings), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert entry.returncode == 0 and "cohort spring" in entry.stdout, entry.stderr
    csv_path = tmp_path / "learners.csv"
    csv_path.write_text("username,first_name,last_name,email\nada,Ada,Lovelace,ada@example.org\nalan,Alan,Turing,\n")
    out = admin("enrol", "spring", str(csv_path))
    assert out.returncode == 0, out.stderr
    rows = dict(line.split(",") for line in out.stdout.strip().splitlines()[1:])
    assert set(rows) == {"ada", "alan"} and all(t.startswith("bc_") for t in rows.values())
    assert admin("user", "add", "mentor1", "--role", "mentor").returncode == 0
    assert admin("mentor", "assign", "mentor1", "spring").returncode == 0
    bad = admin("enrol", "autumn", str(csv_path))
    assert bad.returncode == 2 and "no cohort called 'autumn'" in bad.stderr
    db = Database(settings)
    with db.session() as s:
        assert accounts.user_for_token(s, rows["ada"])[0].username == "ada"
        stored = [t.token_hash for t in accounts.get_user(s, "ada").tokens]
        assert rows["ada"] not in stored  # only the hash is kept
        assert [c.name for c in accounts.get_user(s, "mentor1").mentoring] == ["spring"]
    assert "revoked 1 token" in admin("token", "revoke", "ada").stdout
    with db.session() as s:
        assert accounts.user_for_token(s, rows["ada"]) is None
    new = admin("token", "issue", "ada").stdout.strip()
    with db.session() as s:
        assert accounts.user_for_token(s, new)[0].username == "ada"
    listing = admin("token", "list", "ada").stdout
    assert "revoked" in listing and "active" in listing
    db.dispose()


def test_serve_starts_the_embedded_service_and_a_local_learner_can_submit(settings, sub, tmp_path):
    """What `./run.sh lab` starts beside JupyterLab: no set-up, the local token is there."""
    from course.learner import client

    port = free_port()
    env = worker_env(settings, BOOTCAMP_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "serve"], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        token_path = settings.data_path / "local.token"
        assert wait_for(lambda: token_path.is_file() and _up(url), 60), "the service did not start"
        assert oct(token_path.stat().st_mode & 0o777) == "0o600"
        tok = token_path.read_text().strip()
        nb = tmp_path / "n.ipynb"
        nb.write_bytes(sub().solve().bytes())
        ack = client.request("POST", f"/api/submissions?lesson={SLUG}", nb.read_bytes(), tok=tok, url=url)
        got = None
        end = time.monotonic() + 90
        while time.monotonic() < end:
            got = client.request("GET", f"/api/submissions/{ack['id']}", tok=tok, url=url)
            if got["status"] not in ("queued", "grading"):
                break
            time.sleep(0.2)
        assert got["status"] == "graded" and got["score"] == 5, got
        me = client.request("GET", "/api/me", tok=tok, url=url)
        assert me["username"] == "local" and me["role"] == "learner"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _up(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
            return json.loads(r.read())["ok"]
    except Exception:
        return False


def test_client_subcommands_parse_and_course_never_imports_autograder():
    import argparse

    from course.learner import client

    p = argparse.ArgumentParser()
    client.add_subcommands(p.add_subparsers(dest="command"))
    args = p.parse_args(["submit", "0.1", "--notebook", "x.ipynb", "--no-wait"])
    assert (args.func, args.lesson, args.notebook, args.no_wait) == (client.cmd_submit, "0.1", "x.ipynb", True)
    assert p.parse_args(["status"]).func is client.cmd_status
    assert p.parse_args(["admin", "token", "issue", "ada"]).admin_args == ["token", "issue", "ada"]
    code = "import sys, course.learner.client, course.cli; print(any(m.startswith('autograder') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "False", out.stderr
