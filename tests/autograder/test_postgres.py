"""The gradebook on a real PostgreSQL server that this test starts (Debian's postgresql).

Skipped with the reason when the server binaries are missing (`apt-get install -y postgresql`).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from autograder.grading.worker import wait_idle

from .conftest import Service


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


INITDB, PG_CTL = _bin("initdb"), _bin("pg_ctl")
pytestmark = pytest.mark.skipif(not (INITDB and PG_CTL),
                                reason="PostgreSQL server binaries not found (apt-get install -y postgresql)")


def _as_db_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    if shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as an unprivileged user")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to run the server as")
    return ["runuser", "-u", "postgres", "--", *argv]


@pytest.fixture(scope="module")
def postgres_url():
    pytest.importorskip("psycopg", reason="psycopg is not installed")
    base = tempfile.mkdtemp(prefix="bootcamp-pg-", dir="/tmp")
    data = os.path.join(base, "data")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = lambda argv: subprocess.run(_as_db_user(argv), capture_output=True, text=True, timeout=120)  # noqa: E731
    out = run([INITDB, "-D", data, "-U", "bootcamp", "--auth=trust", "-E", "UTF8", "--no-instructions"])
    assert out.returncode == 0, out.stderr
    out = run([PG_CTL, "-D", data, "-l", os.path.join(base, "log"), "-w", "-t", "60",
               "-o", f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off -c max_connections=200", "start"])
    assert out.returncode == 0, out.stderr + open(os.path.join(base, "log")).read()
    try:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={port} user=bootcamp dbname=postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE gradebook")
        yield f"postgresql+psycopg://bootcamp@127.0.0.1:{port}/gradebook"
    finally:
        run([PG_CTL, "-D", data, "-m", "immediate", "stop"])
        shutil.rmtree(base, ignore_errors=True)


def test_the_service_on_postgresql(postgres_url, course_root, tmp_path, grader, sub):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from autograder.gradebook.models import Base
    from autograder.grading.worker import Worker

    from .conftest import make_settings

    settings = make_settings(course_root, tmp_path / "data", database_url=postgres_url)
    svc = Service(settings)  # runs the Alembic migrations against the server
    with svc.db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    w = Worker(settings, svc.db, grader)
    import threading

    threads = [threading.Thread(target=w._loop, args=(slot,), daemon=True) for slot in range(2)]
    for t in threads:
        t.start()
    try:
        ids = [svc.submit(who, sub().solve().bytes()).json()["id"] for who in ("lea", "leo", "lia") * 4]
        assert len(set(ids)) == 12
        assert wait_idle(svc.db, 120)
        scores = [svc.client.get(f"/api/submissions/{i}", headers=svc.h("ines")).json()["score"] for i in ids]
        assert scores == [5.0] * 12
        assert svc.client.get(f"/api/submissions/{ids[0]}", headers=svc.h("leo")).status_code == 404
    finally:
        w.stopping.set()
        for t in threads:
            t.join(15)
        svc.db.dispose()
    time.sleep(0.1)
