"""The weekly mentor digest of a cohort: progress in the last N days (default 7), who is stuck
and who is silent (the dashboard's own definitions, autograder/gradebook/progress.py), the projects
learners work on, and the milestones that are overdue or due within the period.

    GET  /api/cohorts/{id}/digest?format=json|markdown|html&days=7   mentors of the cohort, instructors
    POST /api/cohorts/{id}/digest/send                               the same; posts the Markdown to
                                                                     BOOTCAMP_NUDGE_WEBHOOK_URL
    python -m autograder admin digest COHORT [--days N] [--html FILE] [--send]
"""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from sqlalchemy import select

from autograder.api.routes import DB, CurrentUser
from autograder.gradebook import progress
from autograder.gradebook.accounts import can_see_cohort
from autograder.gradebook.models import Cohort, Role, Submission, utcnow
from autograder.projects.models import Claim, ClaimStatus
from autograder.projects.service import is_pass

router = APIRouter(prefix="/api/cohorts")


def _day(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d") if dt else ""


def build(s, cohort: Cohort, settings, days: int = 7, now: datetime | None = None) -> dict:
    """Everything the digest says, as JSON-ready values."""
    now = now or utcnow()
    start = now - timedelta(days=days)
    learners = list(cohort.learners)
    subs = progress.learner_submissions(s, [u.id for u in learners])
    rows, total_subs, passed_total = [], 0, 0
    for u in learners:
        mine = subs.get(u.id, [])
        recent = [x for x in mine if x.created_at >= start]
        first_pass: dict[str, Submission] = {}
        for x in mine:
            if x.lesson not in first_pass and is_pass(x):
                first_pass[x.lesson] = x
        newly = sorted(slug for slug, x in first_pass.items() if x.created_at >= start)
        total_subs += len(recent)
        passed_total += len(newly)
        if recent:
            rows.append({"learner": u.username, "name": u.display_name, "submissions": len(recent),
                         "lessons": sorted({x.lesson for x in recent}), "passed": newly})
    stuck = [{k: d[k] for k in ("learner", "lesson", "exercise", "failures", "last_message")}
             for d in progress.stuck_learners(s, learners, settings.stuck_failures)]
    silent = [{"learner": d["learner"], "days": d["days"], "last_submission": _day(d["last_submission"])}
              for d in progress.silent_learners(s, learners, settings.silent_days)]
    ids = [u.id for u in learners]
    claims = s.scalars(select(Claim).where(Claim.user_id.in_(ids), Claim.status == ClaimStatus.active)
                       .order_by(Claim.claimed_at)).all() if ids else []
    horizon = (now + timedelta(days=days)).date()
    projects, due = [], []
    for c in claims:
        open_ms = [m for m in c.milestones if m.done_at is None]
        nxt = min(open_ms, key=lambda m: m.due, default=None)
        projects.append({"learner": c.user.username, "proposal": c.proposal_id, "title": c.proposal.title,
                         "lesson": c.proposal.lesson, "since": _day(c.claimed_at),
                         "milestones_done": len(c.milestones) - len(open_ms), "milestones": len(c.milestones),
                         "next": {"title": nxt.title, "due": nxt.due.isoformat()} if nxt else None})
        for m in open_ms:
            if m.due <= horizon:
                due.append({"learner": c.user.username, "project": c.proposal.title, "proposal": c.proposal_id,
                            "title": m.title, "due": m.due.isoformat(), "overdue": m.due < now.date()})
    due.sort(key=lambda d: (d["due"], d["learner"]))
    return {
        "cohort": cohort.name, "cohort_id": cohort.id, "days": days, "from": _day(start), "to": _day(now),
        "learners": len(learners), "submissions": total_subs, "active_learners": len(rows),
        "lessons_passed": passed_total, "progress": rows, "stuck": stuck, "silent": silent,
        "stuck_failures": settings.stuck_failures, "silent_days": settings.silent_days,
        "projects": projects, "milestones_due": due,
        "dashboard": f"{settings.base_url}/cohorts/{cohort.id}",
    }


def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(d: dict) -> str:
    out = [f"# Weekly digest: cohort {d['cohort']}",
           f"{d['from']} to {d['to']} · {d['learners']} learners · {d['submissions']} submissions from "
           f"{d['active_learners']} learner(s) · {d['lessons_passed']} lesson(s) newly passed", "",
           f"## Progress (last {d['days']} days)"]
    if d["progress"]:
        out += ["| learner | submissions | lessons worked on | newly passed |", "|---|---|---|---|"]
        out += [f"| {_md_cell(r['learner'])} | {r['submissions']} | {_md_cell(', '.join(r['lessons']))} | "
                f"{_md_cell(', '.join(r['passed']) or '–')} |" for r in d["progress"]]
    else:
        out.append("No submissions this week.")
    out += ["", f"## Stuck ({d['stuck_failures']}+ failed attempts at one exercise)"]
    out += [f"- **{x['learner']}**: {x['lesson']} · `{x['exercise']}`, {x['failures']} failures; last: {x['last_message']}"
            for x in d["stuck"]] or ["Nobody is stuck."]
    out += ["", f"## Silent (no submission for {d['silent_days']} days)"]
    out += [f"- **{x['learner']}**: {x['days']} days"
            + (f" (last submission {x['last_submission']})" if x["last_submission"] else " (never submitted)")
            for x in d["silent"]] or ["Nobody is silent."]
    out += ["", "## Projects"]
    out += [f"- **{p['learner']}**: #{p['proposal']} {p['title']} (from {p['lesson']}), since {p['since']}; "
            f"milestones {p['milestones_done']}/{p['milestones']}"
            + (f"; next: {p['next']['title']} due {p['next']['due']}" if p["next"] else "")
            for p in d["projects"]] or ["No claimed projects."]
    out += ["", f"## Milestones due (overdue or within {d['days']} days)"]
    out += [f"- {m['due']}{' **overdue**' if m['overdue'] else ''}: **{m['learner']}**, {m['title']} "
            f"(#{m['proposal']} {m['project']})" for m in d["milestones_due"]] or ["No milestones due."]
    out += ["", f"Dashboard: {d['dashboard']}", ""]
    return "\n".join(out)


def html(d: dict) -> str:
    from autograder.dashboard.pages import templates

    return templates.get_template("digest_email.html").render(d=d)


def post_webhook(url: str, text: str) -> tuple[bool, str]:
    """POST {"text": ...} to a Slack/Mattermost-style incoming webhook: (ok, one-line note)."""
    try:
        req = urllib.request.Request(url, data=json.dumps({"text": text}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return 200 <= resp.status < 300, f"the chat webhook answered {resp.status}"
    except Exception as err:  # any failure is reported, never raised into the caller
        return False, f"the chat webhook failed: {str(err).splitlines()[0] if str(err) else type(err).__name__}"


def _cohort(s, user, cohort_id: int) -> Cohort:
    if user.role == Role.learner:
        raise HTTPException(403, "learners cannot see a cohort's digest")
    cohort = s.get(Cohort, cohort_id)
    if cohort is None or not can_see_cohort(user, cohort):
        raise HTTPException(404, f"no cohort {cohort_id} that you can see")
    return cohort


Days = Annotated[int, Query(ge=1, le=62)]


@router.get("/{cohort_id}/digest")
def get_digest(cohort_id: int, request: Request, user: CurrentUser, s: DB, days: Days = 7,
               format: Annotated[str, Query(pattern="^(json|markdown|html)$")] = "json"):
    d = build(s, _cohort(s, user, cohort_id), request.app.state.settings, days)
    if format == "markdown":
        return PlainTextResponse(markdown(d), media_type="text/markdown; charset=utf-8")
    if format == "html":
        return HTMLResponse(html(d))
    return d


@router.post("/{cohort_id}/digest/send")
def send_digest(cohort_id: int, request: Request, user: CurrentUser, s: DB, days: Days = 7):
    cohort = _cohort(s, user, cohort_id)
    url = request.app.state.settings.nudge_webhook_url
    if not url:
        raise HTTPException(409, "no chat webhook is configured (BOOTCAMP_NUDGE_WEBHOOK_URL)")
    ok, note = post_webhook(url, markdown(build(s, cohort, request.app.state.settings, days)))
    if not ok:
        raise HTTPException(502, note)
    return {"sent": True, "cohort": cohort.name, "note": note}
