"""Users, cohorts and tokens: what `python -m autograder admin` and the embedded set-up do.

Tokens are 256-bit random strings; only their SHA-256 is stored (a slow password hash
adds nothing for a random token of this length, and every API call verifies one).
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from autograder.gradebook.models import Cohort, Role, Token, User, utcnow

TOKEN_PREFIX = "bc_"


class AdminError(Exception):
    """Bad input to an admin action; the message is one line for the operator."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(s: Session, user: User, label: str = "") -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    s.add(Token(user=user, token_hash=hash_token(token), label=label))
    s.flush()
    return token


def user_for_token(s: Session, token: str | None) -> tuple[User, Token] | None:
    """The user a valid, unrevoked token belongs to, else None."""
    if not token or len(token) > 200:
        return None
    row = s.scalar(select(Token).where(Token.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    return row.user, row


def revoke_tokens(s: Session, username: str, token_id: int | None = None) -> int:
    user = get_user(s, username)
    n = 0
    for t in user.tokens:
        if t.revoked_at is None and (token_id is None or t.id == token_id):
            t.revoked_at = utcnow()
            n += 1
    return n


def revoke_token(s: Session, token: str) -> bool:
    row = s.scalar(select(Token).where(Token.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True


def get_user(s: Session, username: str) -> User:
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise AdminError(f"no user called {username!r}")
    return user


def get_cohort(s: Session, name: str) -> Cohort:
    cohort = s.scalar(select(Cohort).where(Cohort.name == name))
    if cohort is None:
        raise AdminError(f"no cohort called {name!r} (create it with `admin cohort create {name}`)")
    return cohort


def create_cohort(s: Session, name: str) -> Cohort:
    name = name.strip()
    if not name:
        raise AdminError("a cohort needs a name")
    existing = s.scalar(select(Cohort).where(Cohort.name == name))
    if existing:
        return existing
    cohort = Cohort(name=name)
    s.add(cohort)
    s.flush()
    return cohort


def ensure_user(s: Session, username: str, role: Role | str, first_name: str = "", last_name: str = "",
                email: str = "") -> User:
    username = username.strip()
    if not username or len(username) > 120:
        raise AdminError(f"invalid username {username!r}")
    role = Role(role)
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username, role=role, first_name=first_name, last_name=last_name, email=email)
        s.add(user)
        s.flush()
    else:
        user.role = role
        user.first_name = first_name or user.first_name
        user.last_name = last_name or user.last_name
        user.email = email or user.email
    return user


def assign_mentor(s: Session, username: str, cohort_name: str) -> None:
    user, cohort = get_user(s, username), get_cohort(s, cohort_name)
    if user.role != Role.mentor:
        raise AdminError(f"{username} is a {user.role.value}, not a mentor")
    if cohort not in user.mentoring:
        user.mentoring.append(cohort)


def enrol_csv(s: Session, cohort_name: str, text: str, issue_tokens: bool = True) -> list[tuple[str, str | None]]:
    """Enrol learners from CSV with a header: username (or student_id), and optionally
    first_name, last_name, email. Returns (username, token or None) per row."""
    cohort = get_cohort(s, cohort_name)
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise AdminError("the CSV is empty")
    fields = [f.strip().lower() for f in reader.fieldnames]
    key = "username" if "username" in fields else "student_id" if "student_id" in fields else "id" if "id" in fields else None
    if key is None:
        raise AdminError(f"the CSV needs a 'username' (or 'student_id') column; it has {', '.join(fields)}")
    out = []
    for n, raw in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        name = row.get(key, "")
        if not name:
            raise AdminError(f"CSV line {n}: empty {key}")
        user = ensure_user(s, name, Role.learner, row.get("first_name", ""), row.get("last_name", ""),
                           row.get("email", ""))
        if cohort not in user.cohorts:
            user.cohorts.append(cohort)
        token = issue_token(s, user, label=f"enrolled in {cohort.name}") if issue_tokens else None
        out.append((user.username, token))
    return out


def visible_learner_ids(s: Session, user: User) -> set[int] | None:
    """The learners whose data ``user`` may see: None means all (instructor)."""
    if user.role == Role.instructor:
        return None
    if user.role == Role.mentor:
        return {learner.id for cohort in user.mentoring for learner in cohort.learners}
    return {user.id}


def can_see_cohort(user: User, cohort: Cohort) -> bool:
    return user.role == Role.instructor or (user.role == Role.mentor and cohort in user.mentoring)


def touch(token: Token) -> None:
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now


def fmt_time(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S") if dt else ""
