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


class Uvicorn:
    """The app under a real uvicorn server in a thread, on a free loopback port (as `serve` runs it)."""

    def __init__(self, app, **config):
        import threading

        import uvicorn

        try:
            from autograder.httpserver import uvicorn_options
        except ImportError:  # a checkout before issue 17 (to show the tests fail there): uvicorn's defaults
            def uvicorn_options(settings):
                return {}

        self.port = free_port()
        options = dict(uvicorn_options(app.state.settings), **config)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    **options))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        end = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < end and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


class DropFirstAnswer:
    """A loopback TCP proxy that forwards the first request but closes the connection before its
    answer reaches the client (the service stored it; the client never heard): every later
    connection is relayed both ways."""

    def __init__(self, upstream_port: int):
        import threading

        self.upstream = upstream_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.dropped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import threading

        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(client, self.connections == 1), daemon=True).start()

    def _handle(self, client, drop: bool):
        import threading

        up = socket.create_connection(("127.0.0.1", self.upstream))

        def pump(a, b):
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(client, up), daemon=True).start()
        if drop:
            up.recv(65536)  # the service answered: it stored the submission
            client.close()
            up.close()
            self.dropped.set()
        else:
            pump(up, client)

    def close(self):
        self.sock.close()
