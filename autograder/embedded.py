"""The embedded default: a self-paced learner's service needs no set-up.

On start, `python -m autograder serve` makes sure two local accounts exist: the learner
"local" (in the cohort "local") and the instructor "local-instructor". Their tokens are
kept in the data directory (mode 0600), where `bootcamp submit` and the dashboard's
"log in as this machine's instructor" read them.
"""

from __future__ import annotations

import os
from pathlib import Path

from autograder.gradebook import accounts
from autograder.gradebook.db import Database
from autograder.gradebook.models import Role
from autograder.settings import Settings

LOCAL_LEARNER, LOCAL_INSTRUCTOR, LOCAL_COHORT = "local", "local-instructor", "local"


def token_file(settings: Settings, who: str) -> Path:
    return settings.data_path / f"{who}.token"


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def ensure_local_accounts(settings: Settings, db: Database) -> dict[str, str]:
    """Create the local learner and instructor if missing; return {username: token}."""
    settings.ensure_data_dir()
    tokens = {}
    with db.session() as s:
        cohort = accounts.create_cohort(s, LOCAL_COHORT)
        for who, role in ((LOCAL_LEARNER, Role.learner), (LOCAL_INSTRUCTOR, Role.instructor)):
            user = accounts.ensure_user(s, who, role, first_name="Local" if who == LOCAL_LEARNER else "")
            if role == Role.learner and cohort not in user.cohorts:
                user.cohorts.append(cohort)
            path = token_file(settings, who)
            token = path.read_text().strip() if path.is_file() else ""
            found = accounts.user_for_token(s, token) if token else None
            if found is None or found[0].id != user.id:
                token = accounts.issue_token(s, user, label="local (embedded default)")
                _write_secret(path, token)
            tokens[who] = token
    return tokens


def secret_key(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_path / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    import secrets

    key = secrets.token_hex(32)
    _write_secret(path, key)
    return key
