"""The JupyterHub configuration of a cohort: `./run.sh hub` (and the tests) load it through
``jupyterhub -f autograder/hub/jupyterhub_config.py``, which calls :func:`configure`.

Everything comes from ``BOOTCAMP_HUB_*`` environment variables (see :class:`HubSettings`), so
the same file serves the offline one-machine set-up, the tests (free ports, a temporary
directory) and a server (a systemd unit or a container that sets the variables):

* the hub, configurable-http-proxy (npm) and the hub's database: SQLite in the hub directory,
  or ``BOOTCAMP_HUB_DB_URL`` (PostgreSQL: ``postgresql+psycopg://user@host/hub``);
* a local process spawner: each learner's JupyterLab runs as a process of its own, in
  ``<hub dir>/users/<name>``, on ``workspace/`` holding the lessons (autograder/hub/singleuser.py);
* the grading service as a hub-managed service called ``grader`` (the hub starts, restarts
  and stops ``python -m autograder serve``) which signs people in with the hub's OAuth;
* jupyterhub-idle-culler as a second managed service: a server idle for
  ``BOOTCAMP_HUB_CULL_SECONDS`` is stopped (its files stay);
* sign-in: one shared password for learners and mentors and another for the hub's admins
  (the instructors) - JupyterHub's SharedPasswordAuthenticator - plus LTI 1.3 launches from an
  LMS (autograder/hub/lti.py). Only users the hub knows may sign in (made by an admin, by
  the LMS roster or by an LTI launch), never any name typed at the form.

Roles: the hub's admins are the course's instructors; members of the hub group ``mentors``
are mentors of each other group they belong to; every other group is a cohort.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder.settings import REPO_ROOT

SERVICE = "grader"
CULLER = "idle-culler"
MENTORS_GROUP = "mentors"


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"BOOTCAMP_HUB_{name}", default)


def _secret(path: Path, n: int) -> str:
    """A password kept in the hub directory (mode 0600), made the first time."""
    if path.is_file():
        return path.read_text().strip()
    value = secrets.token_urlsafe(n)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


@dataclass
class HubSettings:
    dir: Path = field(default_factory=lambda: Path(_env("DIR", str(REPO_ROOT / ".bootcamp" / "hub"))))
    ip: str = field(default_factory=lambda: _env("IP", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(_env("PORT", "8000")))
    hub_port: int = field(default_factory=lambda: int(_env("HUB_PORT", "8081")))
    proxy_api_port: int = field(default_factory=lambda: int(_env("PROXY_API_PORT", "8001")))
    grader_port: int = field(default_factory=lambda: int(_env("GRADER_PORT", "8765")))
    # how browsers reach the hub and the grading service (a server: its https:// names)
    public_url: str = field(default_factory=lambda: _env("PUBLIC_URL"))
    grader_public_url: str = field(default_factory=lambda: _env("GRADER_PUBLIC_URL"))
    db_url: str = field(default_factory=lambda: _env("DB_URL"))
    admins: list[str] = field(default_factory=lambda: [a for a in _env("ADMINS", "instructor").split(",") if a])
    # {"mentors": ["mentor"], "cohort-a": ["mentor", "ada", ...]}: made at start (added to, never removed)
    groups: dict = field(default_factory=lambda: json.loads(_env("GROUPS", "{}")))
    cull_seconds: int = field(default_factory=lambda: int(_env("CULL_SECONDS", "3600")))
    spawner: str = field(default_factory=lambda: _env("SPAWNER", "simple"))  # "simple" or "system" (system users)

    @property
    def url(self) -> str:
        return (self.public_url or f"http://{self.ip}:{self.port}").rstrip("/")

    @property
    def grader_url(self) -> str:
        """Where the hub, the learners' kernels and browsers reach the grading service."""
        return (self.grader_public_url or f"http://{self.ip}:{self.grader_port}").rstrip("/")

    @property
    def user_password(self) -> str:
        return _env("USER_PASSWORD") or _secret(self.dir / "user_password", 12)

    @property
    def admin_password(self) -> str:
        return _env("ADMIN_PASSWORD") or _secret(self.dir / "admin_password", 32)


def grader_environment(hs: HubSettings) -> dict[str, str]:
    """The grading service's environment: every BOOTCAMP_* setting given to the hub, its port,
    and its data in the hub directory unless BOOTCAMP_DATA_DIR says otherwise."""
    env = {k: v for k, v in os.environ.items() if k.startswith("BOOTCAMP_") and not k.startswith("BOOTCAMP_HUB_")}
    env.setdefault("BOOTCAMP_DATA_DIR", str(hs.dir / "grader"))
    env["BOOTCAMP_PORT"] = str(hs.grader_port)
    env["BOOTCAMP_HOST"] = hs.ip
    env["BOOTCAMP_PUBLIC_URL"] = hs.grader_url
    env["BOOTCAMP_HUB_URL"] = hs.url
    env["BOOTCAMP_LTI_DIR"] = str(hs.dir / "lti")  # launches.json: whose scores go back to which LMS course
    for k in ("PATH", "PYTHONPATH", "HOME", "LANG", "MPLBACKEND"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


def configure(c, hs: HubSettings | None = None) -> HubSettings:
    """Fill the traitlets config ``c`` (what ``get_config()`` returns in a jupyterhub_config.py)."""
    hs = hs or HubSettings()
    hs.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    py = sys.executable

    c.JupyterHub.bind_url = f"http://{hs.ip}:{hs.port}"
    c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{hs.hub_port}"
    c.JupyterHub.db_url = hs.db_url or f"sqlite:///{hs.dir / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(hs.dir / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(hs.dir / "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = True  # a stopped hub stops the learners' servers too
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hs.proxy_api_port}"
    c.ConfigurableHTTPProxy.pid_file = str(hs.dir / "proxy.pid")
    c.ConfigurableHTTPProxy.should_start = True
    if hs.public_url:
        c.JupyterHub.public_url = hs.public_url

    # sign-in
    c.JupyterHub.authenticator_class = "autograder.hub.authenticator.CourseAuthenticator"
    c.Authenticator.admin_users = set(hs.admins)
    c.SharedPasswordAuthenticator.admin_password = hs.admin_password
    c.SharedPasswordAuthenticator.user_password = hs.user_password
    c.Authenticator.allow_existing_users = True  # users the hub knows: made by an admin, the roster, a launch
    c.Authenticator.allowed_users = set(u for members in hs.groups.values() for u in members)
    c.JupyterHub.load_groups = {name: {"users": list(members)} for name, members in hs.groups.items()}
    c.CourseAuthenticator.hub_dir = str(hs.dir)

    # each learner's JupyterLab: a local process in their own directory, on their own workspace
    c.JupyterHub.spawner_class = ("jupyterhub.spawner.LocalProcessSpawner" if hs.spawner == "system"
                                  else "jupyterhub.spawner.SimpleLocalProcessSpawner")
    if hs.spawner != "system":
        c.SimpleLocalProcessSpawner.home_dir_template = str(hs.dir / "users" / "{username}")
    c.Spawner.cmd = [py, "-m", "autograder.hub.singleuser"]
    c.Spawner.default_url = "/lab"
    c.Spawner.args = ["--LabApp.expose_app_in_browser=True"]  # the submit button saves through it
    if hasattr(os, "geteuid") and os.geteuid() == 0 and hs.spawner != "system":
        c.Spawner.args.append("--allow-root")
    c.Spawner.environment = {"BOOTCAMP_URL": hs.grader_url, "BOOTCAMP_COURSE_DIR": str(REPO_ROOT),
                             "MPLBACKEND": "Agg"}
    c.Spawner.env_keep = ["PATH", "PYTHONPATH", "LANG", "LC_ALL", "VIRTUAL_ENV", "OMP_NUM_THREADS"]
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 120
    # the server's token ($JUPYTERHUB_API_TOKEN, which `bootcamp submit` sends) may reach the grader
    c.Spawner.server_token_scopes = ["users:activity!user", f"access:services!service={SERVICE}"]

    c.JupyterHub.services = [
        {"name": SERVICE, "url": hs.grader_url, "display": True,
         "command": [py, "-m", "autograder", "serve", "--no-local"],
         "environment": grader_environment(hs),
         "oauth_redirect_uri": f"{hs.grader_url}/hub/oauth_callback", "oauth_no_confirm": True},
        {"name": CULLER,
         "command": [py, "-m", "jupyterhub_idle_culler", f"--timeout={hs.cull_seconds}",
                     f"--cull-every={max(10, min(300, hs.cull_seconds // 2))}"]},
    ]
    c.JupyterHub.load_roles = [
        # every user may use the grading service (its API with their server's token, its pages by OAuth)
        {"name": "user", "scopes": ["self", f"access:services!service={SERVICE}"]},
        # the service reads who is an admin and in which groups, and makes cohort groups from an LMS roster
        {"name": "grader-service", "services": [SERVICE],
         "scopes": ["list:users", "read:users", "admin:users", "read:groups", "admin:groups", "list:groups"]},
        {"name": "culler", "services": [CULLER],
         "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]},
    ]
    return hs


def banner(hs: HubSettings | None = None) -> str:
    hs = hs or HubSettings()
    return (f"JupyterHub on {hs.url} (state: {hs.dir}); the dashboard: {hs.grader_url}/dashboard\n"
            f"  sign in: the admins ({', '.join(hs.admins)}) with the password in {hs.dir / 'admin_password'}, "
            f"learners and mentors with the one in {hs.dir / 'user_password'}\n"
            "  add people and cohorts (groups; 'mentors' for mentors) in the hub's admin page: /hub/admin")


if __name__ == "__main__":
    hs = HubSettings()
    hs.user_password, hs.admin_password  # noqa: B018 - made on first use
    print(banner(hs))
