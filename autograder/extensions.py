"""Issue 10's parts of the service, wired into the app with one call (``install(app)``):
mentor-proposed projects and peer matching, signed transcripts, the weekly digest, and the
proposals a course ships (imported at start-up; idempotent).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .projects import ProjectError, import_course_proposals

log = logging.getLogger(__name__)


def install(app: FastAPI) -> None:
    from . import digest, projects_api, projects_pages, transcript

    for module in (projects_api, transcript, digest, projects_pages):
        app.include_router(module.router)

    @app.exception_handler(ProjectError)
    async def project_error(request: Request, exc: ProjectError):
        return JSONResponse({"detail": exc.detail.splitlines()[0], **exc.extra}, status_code=exc.status)

    import_on_start(app)


def import_on_start(app: FastAPI):
    """Import projects/*.toml and the replication lessons' "Going further" questions. A broken
    file is reported in the log and skipped; it never stops the service."""
    state = app.state
    try:
        with state.db.session() as s:
            report = import_course_proposals(s, state.settings.course_dir)
    except Exception as err:  # e.g. two API processes importing at once: the other one did it
        log.warning("could not import the course's proposals: %s", str(err).splitlines()[0] if str(err) else err)
        return None
    for line in report.errors:
        log.warning("course proposals: %s", line)
    if report.created or report.updated or report.closed:
        log.info(report.line())
    return report
