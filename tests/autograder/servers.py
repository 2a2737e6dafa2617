"""Real servers a test starts and stops on a free loopback port: PostgreSQL (Debian's
postgresql: initdb + pg_ctl, as the 'postgres' user when the tests run as root) and Redis
(Debian's redis-server). Each skips the test, saying why, when its binaries are missing."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


INITDB, PG_CTL = _pg_bin("initdb"), _pg_bin("pg_ctl")
REDIS = shutil.which("redis-server")


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


class Postgres:
    """A throw-away PostgreSQL cluster with a 'gradebook' database; stop() and start() keep its data and port."""

    def __init__(self):
        if not (INITDB and PG_CTL):
            pytest.skip("PostgreSQL server binaries not found (apt-get install -y postgresql)")
        pytest.importorskip("psycopg", reason="psycopg is not installed")
        self.base = tempfile.mkdtemp(prefix="bootcamp-pg-", dir="/tmp")
        self.data = os.path.join(self.base, "data")
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        self.port = free_port()
        out = self._run([INITDB, "-D", self.data, "-U", "bootcamp", "--auth=trust", "-E", "UTF8", "--no-instructions"])
        assert out.returncode == 0, out.stderr
        self.start()
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=bootcamp dbname=postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE gradebook")
        self.url = f"postgresql+psycopg://bootcamp@127.0.0.1:{self.port}/gradebook"

    def _run(self, argv):
        return subprocess.run(_as_db_user(argv), capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        out = self._run([PG_CTL, "-D", self.data, "-l", os.path.join(self.base, "log"), "-w", "-t", "60",
                         "-o", f"-h 127.0.0.1 -p {self.port} -k {self.base} -c fsync=off -c max_connections=200",
                         "start"])
        assert out.returncode == 0, out.stderr + open(os.path.join(self.base, "log")).read()

    def stop(self, mode: str = "fast") -> None:
        self._run([PG_CTL, "-D", self.data, "-m", mode, "-w", "stop"])

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


class Redis:
    """redis-server on a free loopback port, no persistence, its own temporary directory."""

    def __init__(self):
        if not REDIS:
            pytest.skip("redis-server not found (apt-get install -y redis-server)")
        self.base = tempfile.mkdtemp(prefix="bootcamp-redis-", dir="/tmp")
        self.port = free_port()
        self.proc = subprocess.Popen([REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", self.base], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                time.sleep(0.1)
        else:
            self.close()
            raise AssertionError("redis-server did not answer PING within 20 s")
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.base, ignore_errors=True)
