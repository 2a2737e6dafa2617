"""Scores back to the LMS (LTI 1.3 Assignment and Grade Services), from the grading service.

A thread of the service (started when the hub started it and ``BOOTCAMP_LTI_DIR`` names the
hub's lti/ directory) looks every few seconds for graded submissions of learners who came
through an LTI launch (``launches.json``, written by autograder/hub/lti.py) and, for each:

* finds the course's line item for the lesson (``resourceId`` = the lesson's slug), or makes it
  (label: the lesson's title, ``scoreMaximum``: the lesson's points);
* posts the score (``scoreGiven``, ``scoreMaximum``, ``activityProgress: Completed``,
  ``gradingProgress: FullyGraded``, the learner's LTI ``sub`` as ``userId``).

pylti1p3 gets the OAuth 2 access token (client credentials with a JWT signed by the tool's key)
and makes the requests. What was sent is remembered in ``passed_back.json`` (submission ids), so
each submission is sent once; a platform that is down is tried again on the next round.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from autograder.gradebook.models import Submission, SubmissionStatus

log = logging.getLogger(__name__)
ENV = "BOOTCAMP_LTI_DIR"


def lti_dir() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def _done(d: Path) -> set[str]:
    path = d / "passed_back.json"
    return set(json.loads(path.read_text())) if path.is_file() else set()


def _save_done(d: Path, done: set[str]) -> None:
    tmp = d / "passed_back.json.tmp"
    tmp.write_text(json.dumps(sorted(done)))
    tmp.replace(d / "passed_back.json")


def pass_back_once(db, d: Path) -> list[str]:
    """Send every graded, not yet sent submission of an LTI learner; return their ids."""
    from pylti1p3.assignments_grades import AssignmentsGradesService
    from pylti1p3.grade import Grade
    from pylti1p3.lineitem import LineItem
    from pylti1p3.service_connector import ServiceConnector

    from autograder.hub import lti

    launches = lti.read_launches(d)
    if not launches["users"]:
        return []
    done = _done(d)
    sent = []
    conf = None
    with db.session() as s:
        rows = s.scalars(select(Submission).where(Submission.status == SubmissionStatus.graded)
                         .order_by(Submission.graded_at)).all()
        todo = [(sub.id, sub.user.username, sub.lesson, sub.score, sub.max_score, sub.graded_at) for sub in rows
                if sub.id not in done and sub.user.username in launches["users"]]
    for sub_id, name, slug, score, max_score, graded_at in todo:
        who = launches["users"][name]
        ctx = launches["contexts"].get(who["context"])
        if not ctx or not ctx.get("ags") or not who.get("sub"):
            done.add(sub_id)  # a course without grade passback: nothing to send, ever
            continue
        conf = conf or lti.tool_conf(d)
        reg = conf.find_registration_by_params(ctx["iss"], ctx["client_id"])
        ags = AssignmentsGradesService(ServiceConnector(reg), ctx["ags"])
        try:
            item = ags.find_or_create_lineitem(
                LineItem().set_resource_id(slug).set_tag(slug).set_label(_title(slug))
                .set_score_maximum(max_score or 0), find_by="resource_id")
            when = (graded_at or datetime.now(UTC)).replace(tzinfo=UTC).isoformat()
            ags.put_grade(Grade().set_score_given(score or 0).set_score_maximum(max_score or 0)
                          .set_timestamp(when).set_activity_progress("Completed")
                          .set_grading_progress("FullyGraded").set_user_id(who["sub"]), item)
        except Exception as err:  # the platform down or refusing: try again next round
            log.warning("LTI grade passback of %s for %s failed: %s", slug, name, str(err).splitlines()[0])
            continue
        done.add(sub_id)
        sent.append(sub_id)
    _save_done(d, done)
    return sent


def _title(slug: str) -> str:
    try:
        from course.authoring.lessons import find_lesson

        lesson = find_lesson(slug)
        return f"{lesson.id} {lesson.title}"
    except Exception:
        return slug


def start(app, every: float = 3.0) -> threading.Thread | None:
    """The passback thread, when the service runs under the hub with LTI set up."""
    d = lti_dir()
    if d is None:
        return None
    stop = threading.Event()

    def loop():
        while not stop.wait(every):
            try:
                if (d / "launches.json").is_file():
                    pass_back_once(app.state.db, d)
            except Exception as err:  # never let the thread die
                log.warning("LTI grade passback: %s", err)

    t = threading.Thread(target=loop, name="lti-passback", daemon=True)
    t.start()
    app.state.lti_passback_stop = stop
    return t
