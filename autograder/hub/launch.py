"""Start and stop a whole hub from Python (the tests and benchmarks/hub_servers.py use it):
``jupyterhub -f autograder/hub/jupyterhub_config.py`` in a session of its own, on free loopback
ports, with its directory and settings given as BOOTCAMP_HUB_* variables."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

_TOKEN_LOCK = threading.Lock()
CONFIG = Path(__file__).resolve().parent / "jupyterhub_config.py"
USER_PASSWORD = "learner-password"
ADMIN_PASSWORD = "instructor-password-of-at-least-32-characters"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing() -> str | None:
    """Why a hub cannot start here (None: it can)."""
    if shutil.which("configurable-http-proxy") is None:
        return "configurable-http-proxy is not installed (npm install -g configurable-http-proxy; ./run.sh hub does it)"
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        return "jupyterhub is not installed (pip install -e '.[hub]')"
    return None


@dataclass
class Hub:
    dir: Path
    groups: dict = field(default_factory=dict)
    admins: tuple = ("instructor",)
    cull_seconds: int = 3600
    extra_env: dict = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    grader_port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def grader_url(self) -> str:
        return f"http://127.0.0.1:{self.grader_port}"

    @property
    def log(self) -> Path:
        return self.dir / "hub.log"

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOOTCAMP_", "JUPYTERHUB_"))}
        env.update(BOOTCAMP_HUB_DIR=str(self.dir), BOOTCAMP_HUB_PORT=str(self.port),
                   BOOTCAMP_HUB_HUB_PORT=str(free_port()), BOOTCAMP_HUB_PROXY_API_PORT=str(free_port()),
                   BOOTCAMP_HUB_GRADER_PORT=str(self.grader_port), BOOTCAMP_HUB_GROUPS=json.dumps(self.groups),
                   BOOTCAMP_HUB_ADMINS=",".join(self.admins), BOOTCAMP_HUB_USER_PASSWORD=USER_PASSWORD,
                   BOOTCAMP_HUB_ADMIN_PASSWORD=ADMIN_PASSWORD, BOOTCAMP_HUB_CULL_SECONDS=str(self.cull_seconds),
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 120.0) -> Hub:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(CONFIG)], cwd=self.dir,
                                         env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the hub exited ({self.proc.returncode}):\n{self.tail()}")
            if self._up(f"{self.url}/hub/api/") and self._up(f"{self.grader_url}/healthz"):
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the hub was not up after {timeout:.0f} s:\n{self.tail()}")

    @staticmethod
    def _up(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.is_file() else ""

    def api(self, method: str, path: str, body: dict | None = None, token: str | None = None,
            timeout: float = 60) -> dict | None:
        """The hub's REST API with an admin's token (made once, kept in the hub directory)."""
        req = urllib.request.Request(f"{self.url}/hub/api{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"token {token or self.admin_token()}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def admin_token(self) -> str:
        with _TOKEN_LOCK:  # callers in many threads: make it once
            return self._admin_token()

    def _admin_token(self) -> str:
        path = self.dir / "admin.api-token"
        if path.is_file():
            return path.read_text().strip()
        out = subprocess.run([sys.executable, "-m", "jupyterhub", "token", "-f", str(CONFIG), self.admins[0]],
                             cwd=self.dir, env=self.env(), capture_output=True, text=True, timeout=60, check=True)
        token = out.stdout.strip().splitlines()[-1]
        path.write_text(token)
        return token

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to the hub (it stops its services and the learners' servers), then the rest of its session."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:  # the proxy, the services and the servers run in sessions of their own: note them first
            import psutil

            family = psutil.Process(self.proc.pid).children(recursive=True)
        except Exception:
            family = []
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever is left of the hub's own session
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        for child in family:  # whatever the hub did not stop itself
            try:
                child.kill()
            except Exception:
                pass
