"""`python -m autograder admin ...`: cohorts, learners from CSV, mentors, tokens.

    admin cohort create NAME
    admin cohort list
    admin enrol COHORT learners.csv        (columns: username or student_id; first_name, last_name, email)
    admin user add USERNAME --role instructor|mentor|learner [--cohort NAME]
    admin mentor assign USERNAME COHORT
    admin token issue USERNAME [--label TEXT]     prints the token once; only its hash is stored
    admin token revoke USERNAME [--id N]          revokes all of a user's tokens (or one)
    admin token list USERNAME
    admin digest COHORT [--days N] [--html FILE] [--send]
                         the weekly mentor digest as Markdown; --html also writes the HTML page;
                         --send posts the Markdown to BOOTCAMP_NUDGE_WEBHOOK_URL
    admin projects import    import projects/*.toml and the "Going further" questions now (the
                             service also does it on every start; idempotent)
    admin projects list      every proposal, with who claimed it
"""

from __future__ import annotations

import sys
from pathlib import Path

from autograder.gradebook import accounts
from autograder.gradebook.accounts import AdminError
from autograder.gradebook.db import Database
from autograder.gradebook.models import Role


def add_parser(sub) -> None:
    a = sub.add_parser("admin", help="cohorts, enrolment, tokens")
    asub = a.add_subparsers(dest="admin_command", required=True)
    c = asub.add_parser("cohort", help="create or list cohorts")
    c.add_argument("action", choices=["create", "list"])
    c.add_argument("name", nargs="?")
    e = asub.add_parser("enrol", help="enrol learners from a CSV file and issue each a token")
    e.add_argument("cohort")
    e.add_argument("csv", help="CSV file ('-' for standard input)")
    e.add_argument("--tokens-out", help="write username,token lines here (mode 0600) instead of printing them")
    u = asub.add_parser("user", help="add a user")
    u.add_argument("action", choices=["add"])
    u.add_argument("username")
    u.add_argument("--role", choices=[r.value for r in Role], required=True)
    u.add_argument("--cohort")
    u.add_argument("--email", default="")
    m = asub.add_parser("mentor", help="assign a mentor to a cohort")
    m.add_argument("action", choices=["assign"])
    m.add_argument("username")
    m.add_argument("cohort")
    t = asub.add_parser("token", help="issue, revoke or list tokens")
    t.add_argument("action", choices=["issue", "revoke", "list"])
    t.add_argument("username")
    t.add_argument("--label", default="")
    t.add_argument("--id", type=int)
    d = asub.add_parser("digest", help="the weekly mentor digest of a cohort (Markdown; --send to the webhook)")
    d.add_argument("cohort")
    d.add_argument("--days", type=int, default=7, help="the period, in days (default 7)")
    d.add_argument("--html", metavar="FILE", help="also write the digest as an HTML page")
    d.add_argument("--send", action="store_true", help="post it to the chat webhook (BOOTCAMP_NUDGE_WEBHOOK_URL)")
    p = asub.add_parser("projects", help="import the course's proposals, or list proposals and claims")
    p.add_argument("action", choices=["import", "list"])
    a.set_defaults(func=run)


def run(args, settings) -> int:
    db = Database(settings)
    db.migrate()
    try:
        with db.session() as s:
            if args.admin_command == "digest":
                return _digest(args, s, settings)
            if args.admin_command == "projects":
                return _projects(args, s, settings)
            return _run(args, s)
    except AdminError as err:
        print(f"admin: {err}", file=sys.stderr)
        return 2


def _run(args, s) -> int:
    cmd = args.admin_command
    if cmd == "cohort":
        if args.action == "create":
            if not args.name:
                raise AdminError("cohort create needs a NAME")
            c = accounts.create_cohort(s, args.name)
            print(f"cohort {c.name} (id {c.id})")
        else:
            from sqlalchemy import select

            from autograder.gradebook.models import Cohort

            for c in s.scalars(select(Cohort).order_by(Cohort.name)):
                print(f"{c.id:>4}  {c.name:<24} {len(c.learners)} learners; mentors: "
                      f"{', '.join(m.username for m in c.mentors) or '-'}")
        return 0
    if cmd == "enrol":
        text = sys.stdin.read() if args.csv == "-" else Path(args.csv).read_text(encoding="utf-8-sig")
        rows = accounts.enrol_csv(s, args.cohort, text)
        if args.tokens_out:
            import os

            fd = os.open(args.tokens_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("username,token\n" + "".join(f"{u},{t}\n" for u, t in rows))
            print(f"enrolled {len(rows)} learner(s) in {args.cohort}; tokens in {args.tokens_out}")
        else:
            print("username,token")
            for u, t in rows:
                print(f"{u},{t}")
        return 0
    if cmd == "user":
        user = accounts.ensure_user(s, args.username, args.role, email=args.email)
        if args.cohort:
            cohort = accounts.get_cohort(s, args.cohort)
            if user.role == Role.mentor:
                user.mentoring.append(cohort)
            else:
                user.cohorts.append(cohort)
        print(f"{user.username}: {user.role.value}")
        return 0
    if cmd == "mentor":
        accounts.assign_mentor(s, args.username, args.cohort)
        print(f"{args.username} mentors {args.cohort}")
        return 0
    if cmd == "token":
        if args.action == "issue":
            user = accounts.get_user(s, args.username)
            print(accounts.issue_token(s, user, label=args.label))
        elif args.action == "revoke":
            n = accounts.revoke_tokens(s, args.username, args.id)
            print(f"revoked {n} token(s) of {args.username}")
        else:
            user = accounts.get_user(s, args.username)
            for t in user.tokens:
                state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
                print(f"{t.id:>4}  {state:<18} created {t.created_at:%Y-%m-%d %H:%M}  {t.label}")
        return 0
    raise AdminError(f"unknown admin command {cmd}")


def _digest(args, s, settings) -> int:
    from autograder.dashboard import digest

    if not 1 <= args.days <= 62:
        raise AdminError("--days must be between 1 and 62")
    if args.send and not settings.nudge_webhook_url:
        raise AdminError("no chat webhook is configured: set BOOTCAMP_NUDGE_WEBHOOK_URL")
    d = digest.build(s, accounts.get_cohort(s, args.cohort), settings, args.days)
    text = digest.markdown(d)
    print(text, end="")
    if args.html:
        Path(args.html).write_text(digest.html(d), encoding="utf-8")
        print(f"wrote {args.html}", file=sys.stderr)
    if args.send:
        ok, note = digest.post_webhook(settings.nudge_webhook_url, text)
        print(("sent: " if ok else "NOT sent: ") + note, file=sys.stderr)
        return 0 if ok else 1
    return 0


def _projects(args, s, settings) -> int:
    from sqlalchemy import select  # imported here: `python -m autograder worker` builds this parser too

    from autograder.projects import service as projects

    if args.action == "import":
        report = projects.import_course_proposals(s, settings.course_dir)
        for line in report.errors:
            print(f"error: {line}", file=sys.stderr)
        print(report.line())
        return 1 if report.errors else 0
    from autograder.projects.models import Proposal

    for p in s.scalars(select(Proposal).order_by(Proposal.lesson, Proposal.id)):
        who = ", ".join(f"{c.user.username} ({c.status.value})" for c in p.claims) or "-"
        print(f"{p.id:>4}  {p.status.value:<6} {p.lesson:<18} d{p.difficulty}  {p.title[:60]:<60}  "
              f"[{p.source}{', ' + p.cohort.name if p.cohort else ''}]  claimed by: {who}")
    return 0
