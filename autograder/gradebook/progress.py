"""What mentors look at: the cohort grid, timelines, the stuck and the silent, hard exercises.

Plain functions over the gradebook, shared by the dashboard and the API.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import timedelta

from sqlalchemy import select

from autograder.gradebook.models import Cohort, ExerciseResult, Submission, SubmissionStatus, User, utcnow

DONE = (SubmissionStatus.graded, SubmissionStatus.timed_out)


def _lesson_slugs(catalogue) -> list[str]:
    return [lesson.slug for lesson in catalogue.lessons()]


def learner_submissions(s, learner_ids: list[int]) -> dict[int, list[Submission]]:
    out: dict[int, list[Submission]] = defaultdict(list)
    if not learner_ids:
        return out
    rows = s.scalars(select(Submission).where(Submission.user_id.in_(learner_ids)).order_by(Submission.created_at))
    for sub in rows:
        out[sub.user_id].append(sub)
    return out


def cohort_grid(s, cohort: Cohort, catalogue) -> dict:
    """{"lessons": [...], "rows": [{"learner", "cells": {slug: {best, max, attempts, status}}}]}"""
    slugs = _lesson_slugs(catalogue)
    subs = learner_submissions(s, [u.id for u in cohort.learners])
    seen_slugs = {sub.lesson for rows in subs.values() for sub in rows}
    slugs += sorted(seen_slugs - set(slugs))
    rows = []
    for learner in cohort.learners:
        cells = {}
        for slug in slugs:
            mine = [x for x in subs.get(learner.id, []) if x.lesson == slug]
            if not mine:
                continue
            graded = [x for x in mine if x.status in DONE and x.score is not None]
            best = max(graded, key=lambda x: x.score, default=None)
            cells[slug] = {"best": best.score if best else None, "max": best.max_score if best else None,
                           "attempts": len(mine), "status": mine[-1].status.value,
                           "flagged": any(x.flags for x in mine)}
        rows.append({"learner": learner.username, "user_id": learner.id, "name": learner.display_name,
                     "cells": cells})
    return {"cohort": cohort.name, "lessons": slugs, "rows": rows}


def stuck_learners(s, learners: list[User], threshold: int) -> list[dict]:
    """Learners with at least ``threshold`` failed attempts at one exercise they have not passed since.

    Only real attempts count: a result still "not implemented yet" (status ``todo``) is an
    exercise the learner has not started, so it is neither a failure nor a reason to nudge."""
    out = []
    subs = learner_submissions(s, [u.id for u in learners])
    by_id = {u.id: u for u in learners}
    for uid, rows in subs.items():
        failures: dict[tuple[str, str], list[ExerciseResult]] = defaultdict(list)
        for sub in rows:
            for r in sub.results:
                key = (sub.lesson, r.exercise)
                if r.passed:
                    failures.pop(key, None)
                elif r.status != "todo":
                    failures[key].append(r)
        for (lesson, exercise), fails in failures.items():
            if len(fails) >= threshold:
                last = fails[-1]
                out.append({"learner": by_id[uid].username, "user_id": uid, "lesson": lesson, "exercise": exercise,
                            "failures": len(fails), "last_message": (last.message or last.status).splitlines()[0],
                            "nudge": nudge_message(by_id[uid], lesson, exercise, len(fails), last.message)})
    return sorted(out, key=lambda d: (-d["failures"], d["learner"]))


def silent_learners(s, learners: list[User], days: int) -> list[dict]:
    cutoff = utcnow() - timedelta(days=days)
    subs = learner_submissions(s, [u.id for u in learners])
    out = []
    for u in learners:
        rows = subs.get(u.id, [])
        last = rows[-1].created_at if rows else None
        if (last or u.created_at) < cutoff:
            idle = (utcnow() - (last or u.created_at)).days
            out.append({"learner": u.username, "user_id": u.id, "last_submission": last, "days": idle,
                        "nudge": silent_message(u, idle, rows[-1].lesson if rows else None)})
    return out


def nudge_message(user: User, lesson: str, exercise: str, failures: int, message: str) -> str:
    first = (message or "").splitlines()[0] if message else ""
    return (f"Hi {user.first_name or user.username}, I saw that `{exercise}` in lesson {lesson} has not passed "
            f"after {failures} tries" + (f" (last message: {first})" if first else "") +
            ". That one trips many people up. Want to pair on it for 15 minutes, or shall I send a hint?")


def silent_message(user: User, days: int, lesson: str | None) -> str:
    where = f" on lesson {lesson}" if lesson else ""
    if lesson is None:
        since = "you have not submitted anything yet"
    elif days < 1:
        since = f"your last submission{where} was today"
    else:
        since = f"it has been {days} day{'s' if days != 1 else ''} since your last submission{where}"
    return (f"Hi {user.first_name or user.username}, {since}. "
            "How is it going? If something is blocking you, reply here and we will sort it out together.")


def exercise_stats(s, learner_ids: list[int] | None, top: int = 3) -> list[dict]:
    q = select(ExerciseResult, Submission.lesson).join(Submission)
    if learner_ids is not None:
        q = q.where(Submission.user_id.in_(learner_ids))
    stats: dict[tuple[str, str], dict] = {}
    for r, lesson in s.execute(q):
        d = stats.setdefault((lesson, r.exercise), {"lesson": lesson, "exercise": r.exercise, "attempts": 0,
                                                     "failures": 0, "todo": 0, "messages": Counter()})
        d["attempts"] += 1
        if not r.passed:
            d["failures"] += 1
            d["todo"] += r.status == "todo"
            d["messages"][(r.message or r.status).splitlines()[0][:160]] += 1
    out = []
    for d in stats.values():
        d["failure_rate"] = d["failures"] / d["attempts"] if d["attempts"] else 0.0
        d["common"] = d.pop("messages").most_common(top)
        out.append(d)
    # real failures first (a wrong answer is what a mentor can help with); "not implemented yet" below them
    return sorted(out, key=lambda d: (-(d["failures"] - d["todo"]) / max(d["attempts"], 1), -d["failure_rate"],
                                      d["lesson"], d["exercise"]))


def timeline(s, learner: User) -> list[Submission]:
    return list(s.scalars(select(Submission).where(Submission.user_id == learner.id)
                          .order_by(Submission.created_at.desc())))


NBGRADER_COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                    "raw_score", "late_submission_penalty", "score", "max_score"]


def export_csv(s, learners: list[User]) -> str:
    """One row per learner and lesson (the latest graded submission), in nbgrader's export columns."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(NBGRADER_COLUMNS)
    subs = learner_submissions(s, [u.id for u in learners])
    for u in sorted(learners, key=lambda u: u.username):
        latest: dict[str, Submission] = {}
        for sub in subs.get(u.id, []):
            if sub.status in DONE:
                latest[sub.lesson] = sub
        for lesson, sub in sorted(latest.items()):
            w.writerow([lesson, "", sub.created_at.strftime("%Y-%m-%d %H:%M:%S.%f UTC"), u.username, u.last_name,
                        u.first_name, u.email, f"{sub.score or 0:g}", "0.0", f"{sub.score or 0:g}",
                        f"{sub.max_score or 0:g}"])
    return buf.getvalue()
