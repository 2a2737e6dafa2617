"""The grading service heals itself (issue 17), tested with real faults: a PostgreSQL server
stopped and started again while notebooks are graded, the SQLite gradebook's filesystem (a
small tmpfs) filled and then freed, a grading thread that dies or hangs."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest
from sqlalchemy import func, select

from autograder.grading.worker import Worker, wait_idle

from .conftest import Service, make_settings
from .servers import Postgres

SLOW = "import time\ntime.sleep(2.5)"  # a cell that keeps a notebook in grading long enough to pull the plug


def _start(w: Worker, slots: int = 2) -> None:
    """The worker's grading threads, as Worker.start does, without starting the shared grader."""
    w.release_dead_leases()
    w.threads = [threading.Thread(target=w._loop, args=(slot,), daemon=True) for slot in range(slots)]
    for t in w.threads:
        t.start()


def _stop(w: Worker) -> None:
    w.stopping.set()
    for t in w.threads:
        t.join(20)


def _wait_status(db, ids, wanted, timeout=60.0):
    from autograder.gradebook.models import Submission

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with db.session() as s:
            states = [s.get(Submission, i).status.value for i in ids]
        if all(st in wanted for st in states):
            return states
        time.sleep(0.1)
    raise AssertionError(f"still {states} after {timeout} s, waiting for {wanted}")


def _graded_once(svc, ids):
    """Each submission: graded with full marks, one job, one row per exercise (never written twice)."""
    from autograder.gradebook.models import ExerciseResult, GradingJob, Submission

    with svc.db.session() as s:
        for i in ids:
            sub = s.get(Submission, i)
            assert (sub.status.value, sub.score) == ("graded", 5.0), (i, sub.status, sub.score, sub.message)
            assert s.scalar(select(func.count()).select_from(GradingJob).where(GradingJob.submission_id == i)) == 1
            assert s.scalar(select(func.count()).select_from(ExerciseResult)
                            .where(ExerciseResult.submission_id == i)) == 2


def _until_a_grade_could_not_be_written(w: Worker, timeout: float = 40.0) -> None:
    """Wait until the worker failed to write a finished grade, or one of its threads died."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and all(t.is_alive() for t in w.threads):
        if getattr(w, "last_retry", "").startswith("writing the grade"):
            return
        time.sleep(0.1)


def _assert_503(r):
    assert r.status_code == 503, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json") and "Retry-After" in r.headers
    line = r.json()["detail"]
    assert "\n" not in line and "not stored" in line and "try again" in line, line


def test_postgresql_stopped_and_started_again_mid_grading(course_root, tmp_path, grader, sub):
    """On main: the OperationalError raised by jobs.finish ended both grading threads, and every
    later submission waited forever; a submission while the database was down was a plain 500."""
    pg = Postgres()
    svc = w = None
    try:
        svc = Service(make_settings(course_root, tmp_path / "data", database_url=pg.url))
        svc.client = type(svc.client)(svc.app, raise_server_exceptions=False)
        w = Worker(svc.settings, svc.db, grader)
        _start(w)
        ids = [svc.submit(who, sub().solve().after("double", SLOW).bytes()).json()["id"] for who in ("lea", "leo")]
        _wait_status(svc.db, ids, {"grading"})
        pg.stop("fast")  # both notebooks are being graded: their grades cannot be written
        _until_a_grade_could_not_be_written(w)
        assert all(t.is_alive() for t in w.threads), "a database error ended a grading thread"
        assert w.db_errors > 0, "the outage was not seen: the test did not test anything"
        _assert_503(svc.submit("lia", sub().solve().bytes()))
        h = svc.client.get("/healthz")
        assert h.status_code == 503 and h.json()["gradebook"].startswith("unavailable"), h.text
        pg.start()
        assert wait_idle(svc.db, 120), "jobs still queued or running two minutes after the database came back"
        later = svc.submit("lia", sub().solve().bytes()).json()["id"]  # the threads still grade
        assert wait_idle(svc.db, 60)
        _graded_once(svc, [*ids, later])
        assert svc.client.get("/healthz").status_code == 200
    finally:
        if w is not None:
            _stop(w)
        if svc is not None:
            svc.db.dispose()
        pg.close()


@pytest.fixture
def small_fs(tmp_path):
    """A 24 MiB tmpfs (root only): the SQLite gradebook's disk, to fill."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {out.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(path) -> int:
    n = 0
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
                n += 65536
        except OSError:
            pass
    return n


def test_a_full_disk_under_the_sqlite_gradebook_then_freed(course_root, small_fs, grader, sub):
    """On main: 'database or disk is full' raised by jobs.finish ended the grading threads for good."""
    from sqlalchemy import text

    svc = Service(make_settings(course_root, small_fs / "data"))
    svc.client = type(svc.client)(svc.app, raise_server_exceptions=False)
    w = Worker(svc.settings, svc.db, grader)
    _start(w)
    filler = small_fs / "filler"
    try:
        ids = [svc.submit(who, sub().solve().after("double", SLOW).bytes()).json()["id"] for who in ("lea", "leo")]
        _wait_status(svc.db, ids, {"grading"})
        with svc.db.engine.connect() as conn:  # an empty WAL: the next commits must grow it
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        assert _fill(filler) > 0
        _until_a_grade_could_not_be_written(w)
        assert all(t.is_alive() for t in w.threads), "a full disk ended a grading thread"
        assert w.db_errors > 0, "the full disk was not seen: the test did not test anything"
        _assert_503(svc.submit("lia", sub().solve().bytes()))  # its notebook cannot be stored
        filler.unlink()
        assert wait_idle(svc.db, 120), "jobs still queued or running two minutes after the disk was freed"
        later = svc.submit("lia", sub().solve().bytes()).json()["id"]
        assert wait_idle(svc.db, 60)
        _graded_once(svc, [*ids, later])
        with svc.db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        filler.unlink(missing_ok=True)
        _stop(w)
        svc.db.dispose()


class _NoGrader:
    zygote = type("Z", (), {"warm_seconds": 0.0})()

    def start(self):
        pass

    def stop(self):
        pass


def test_a_dead_grading_thread_is_started_again_and_a_stuck_one_ends_the_process(service, monkeypatch):
    """On main a grading thread that died stayed dead in a live process, which no supervisor restarts."""
    settings = service.settings
    w = Worker(settings, service.db, _NoGrader())
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    w.threads = [dead]
    w.tick(0)
    assert w.health()["ok"] is False and w.health()["threads_alive"] == 0
    w.stopping.clear()
    assert w.supervise() is True and w.restarts == 1 and w.threads[0].is_alive()
    w.stopping.set()
    w.threads[0].join(10)

    # a slot that stops ticking (hung in a call that never returns): run_forever exits 3
    hang = threading.Event()
    w2 = Worker(settings, service.db, _NoGrader())
    monkeypatch.setattr(w2, "_loop", lambda slot: hang.wait(30))
    monkeypatch.setattr(w2, "stale_after", lambda: 2.5)
    monkeypatch.setattr("signal.signal", lambda *a: None)
    seen = []
    done = threading.Thread(target=lambda: seen.append(w2.run_forever()))
    done.start()
    time.sleep(1.5)  # healthy for 2.5 s: its health file is written every second
    from autograder.grading.worker import read_health

    health = read_health(settings.data_path)
    done.join(20)
    hang.set()
    assert seen == [3], seen
    assert health and health[0]["slots"] == settings.workers, health
    assert read_health(settings.data_path) == []  # its health file goes with it


# --------------------------------------------------------------------------- idempotent submission
def test_the_same_idempotency_key_answers_the_same_submission(service, sub):
    """On main: the same notebook sent 3 times made 3 rows and 3 gradings."""
    from autograder.gradebook.models import GradingJob

    body = sub().solve().bytes()
    key = {"Idempotency-Key": "4f1c0b7e-retry-me"}
    first = service.client.post("/api/submissions?lesson=9.8", content=body, headers={**service.h("lea"), **key})
    assert first.status_code == 201, first.text
    for _ in range(2):
        again = service.client.post("/api/submissions?lesson=9.8", content=body, headers={**service.h("lea"), **key})
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"], again.text
        assert again.json()["replayed"] is True
    assert service.count() == 1
    with service.db.session() as s:
        assert s.scalar(select(func.count()).select_from(GradingJob)) == 1
    # another notebook under the same key: refused, saying why
    other = service.client.post("/api/submissions?lesson=9.8", content=sub().solve(double="def double(x):\n    return x")
                                .bytes(), headers={**service.h("lea"), **key})
    assert other.status_code == 422 and "already used for a different notebook" in other.json()["detail"], other.text
    # another learner's key is theirs alone
    theirs = service.client.post("/api/submissions?lesson=9.8", content=body, headers={**service.h("leo"), **key})
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    bad = service.client.post("/api/submissions?lesson=9.8", content=body,
                              headers={**service.h("lea"), "Idempotency-Key": "x" * 201})
    assert bad.status_code == 400 and "Idempotency-Key" in bad.json()["detail"]
    assert service.count() == 2


def test_bootcamp_submit_sends_again_after_a_lost_answer_and_makes_no_duplicate(service, sub):
    """On main the client sent no key and did not retry: a lost answer was an error for the
    learner, and sending again made a second submission."""
    from course.learner import client

    from .servers import DropFirstAnswer, Uvicorn

    srv = Uvicorn(service.app)
    proxy = DropFirstAnswer(srv.port)
    try:
        got = client.post_notebook("9.8", sub().solve().bytes(), tok=service.tokens["lea"],
                                   url=f"http://127.0.0.1:{proxy.port}", delays=(0.2, 0.5))
        assert proxy.dropped.is_set() and proxy.connections == 2
        assert service.count() == 1, "the retry stored the notebook a second time"
        assert got["replayed"] is True and got["id"] == service.client.get(
            "/api/submissions", headers=service.h("lea")).json()[0]["id"]
    finally:
        proxy.close()
        srv.close()


# --------------------------------------------------------------------------- connections and error answers
def _closed_within(sock, seconds: float) -> bool:
    """True if the server closes the connection (EOF or reset) within ``seconds``."""

    sock.settimeout(0.2)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return True
        if data == b"":
            return True
    return False


def test_idle_and_half_sent_connections_are_closed(course_root, tmp_path):
    """On main: a connection that never completed its request's headers was held for ever (three
    were still open after 75 s), a file descriptor each."""
    import socket

    from .servers import Uvicorn

    svc = Service(make_settings(course_root, tmp_path / "data", keepalive_seconds=1, header_seconds=1.5))
    srv = Uvicorn(svc.app)
    socks = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(3)]
    try:
        socks[1].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        socks[2].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # answered, then idle (keep-alive)
        answer = b""
        while b'"ok":true' not in answer and len(answer) < 65536:  # headers and body may come apart
            chunk = socks[2].recv(65536)
            assert chunk, f"closed before the answer was complete: {answer!r}"
            answer += chunk
        closed = [_closed_within(s, 8.0) for s in socks]
        assert closed == [True, True, True], f"still open after 8 s (idle, half-sent headers, kept alive): {closed}"
    finally:
        for s in socks:
            s.close()
        srv.close()
        svc.db.dispose()


def test_oversized_headers_and_deep_json_answer_4xx_json(service, sub):
    """On main: JSON nested 100,000 deep was a 500, oversized headers uvicorn's plain-text 400."""
    import json as jsonlib
    import socket

    from .servers import Uvicorn

    deep = b"[" * 100_000 + b"]" * 100_000
    r = service.client.post("/api/submissions?lesson=9.8", content=deep, headers=service.h("lea"))
    assert r.status_code == 400 and "nested too deeply" in r.json()["detail"], r.text[:300]
    r = service.client.post("/api/proposals", content=b'{"title": ' + deep + b"}",
                            headers={**service.h("ines"), "Content-Type": "application/json"})
    assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith("application/json"), r.text[:300]
    assert service.count() == 0
    srv = Uvicorn(service.app)
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(b"GET /api/me HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 431") and b"application/json" in head, raw[:300]
        assert "headers over" in jsonlib.loads(body)["detail"]
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            raw = s.recv(65536)
        assert raw.startswith(b"HTTP/1.1 400") and raw.endswith(b'{"detail": "malformed HTTP request"}'), raw
    finally:
        srv.close()


def test_a_gradebook_that_cannot_be_opened_is_one_line_naming_the_file(tmp_path):
    """On main: a raw traceback."""
    import sys

    from .conftest import ROOT

    data = tmp_path / "data"
    data.mkdir()
    (data / "gradebook.db").write_bytes(b"this is not an SQLite database, it only has the name of one" * 4)
    env = dict(os.environ, BOOTCAMP_DATA_DIR=str(data), BOOTCAMP_COURSE_DIR=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "autograder", "serve", "--workers", "0", "--no-local", "--port", "1"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 2, (out.returncode, out.stderr[-1500:])
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr[-1500:]
    assert str(data / "gradebook.db") in lines[0] and "fix:" in lines[0], lines[0]
