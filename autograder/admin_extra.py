"""Issue 10's admin commands (`python -m autograder admin ...`, `bootcamp admin ...`):

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

from .accounts import AdminError

COMMANDS = ("digest", "projects")


def add_parsers(asub) -> None:
    d = asub.add_parser("digest", help="the weekly mentor digest of a cohort (Markdown; --send to the webhook)")
    d.add_argument("cohort")
    d.add_argument("--days", type=int, default=7, help="the period, in days (default 7)")
    d.add_argument("--html", metavar="FILE", help="also write the digest as an HTML page")
    d.add_argument("--send", action="store_true", help="post it to the chat webhook (BOOTCAMP_NUDGE_WEBHOOK_URL)")
    p = asub.add_parser("projects", help="import the course's proposals, or list proposals and claims")
    p.add_argument("action", choices=["import", "list"])


def run(args, s, settings) -> int:
    from sqlalchemy import select  # imported here: `python -m autograder worker` builds this parser too

    from . import accounts, digest, projects

    if args.admin_command == "digest":
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
    if args.action == "import":
        report = projects.import_course_proposals(s, settings.course_dir)
        for line in report.errors:
            print(f"error: {line}", file=sys.stderr)
        print(report.line())
        return 1 if report.errors else 0
    from .projects_models import Proposal

    for p in s.scalars(select(Proposal).order_by(Proposal.lesson, Proposal.id)):
        who = ", ".join(f"{c.user.username} ({c.status.value})" for c in p.claims) or "-"
        print(f"{p.id:>4}  {p.status.value:<6} {p.lesson:<18} d{p.difficulty}  {p.title[:60]:<60}  "
              f"[{p.source}{', ' + p.cohort.name if p.cohort else ''}]  claimed by: {who}")
    return 0
