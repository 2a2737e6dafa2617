"""The FastAPI application: the API, the dashboard, the feature routers (projects, transcripts,
the digest), the proposals a course ships (imported at start), and one-line JSON errors."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from autograder.gradebook.db import Database
from autograder.grading.pipeline import Catalogue
from autograder.projects.service import ProjectError, import_course_proposals
from autograder.settings import Settings, get_settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, db: Database | None = None, migrate: bool = True) -> FastAPI:
    settings = settings or get_settings()
    db = db or Database(settings)
    if migrate:
        db.migrate()
    app = FastAPI(title="Interpretability bootcamp grading service", docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.settings = settings
    app.state.db = db
    app.state.catalogue = Catalogue(settings)

    from autograder.api import routes as api
    from autograder.dashboard import pages as dashboard
    from autograder.hub import service as hub

    app.include_router(api.router)
    app.include_router(dashboard.router)
    app.include_router(hub.router)  # /hub/login and /hub/oauth_callback: in use when JupyterHub started us
    hub.start_passback(app)  # LTI scores back to the LMS: only when the hub set BOOTCAMP_LTI_DIR
    _install_features(app)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if not request.url.path.startswith("/api") and exc.status_code == 401:
            return dashboard.login_redirect(request)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse({"detail": detail.splitlines()[0] if detail else "error"}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        if errors:
            e = errors[0]
            where = ".".join(str(x) for x in e.get("loc", []) if x not in ("body",))
            line = f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg", "invalid request"))
        else:
            line = "invalid request"
        return JSONResponse({"detail": line}, status_code=422)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    async def gradebook_unavailable(request: Request, exc: Exception):
        """A server-side outage (the database down, its disk full, the pool exhausted): 503 with
        Retry-After and what the learner should do, never a traceback."""
        if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError | InterfaceError) \
                and not exc.connection_invalidated:
            return await internal_error(request, exc)
        log.warning("gradebook unavailable on %s %s: %s", request.method, request.url.path,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        what = "your notebook was not stored" if request.url.path == "/api/submissions" else (
            "nothing was changed" if request.method not in ("GET", "HEAD") else "nothing could be read")
        return JSONResponse({"detail": f"the gradebook is unavailable; {what}; try again in a minute"},
                            status_code=503, headers={"Retry-After": "60"})

    @app.exception_handler(RecursionError)
    async def too_deep(request: Request, exc: RecursionError):
        return JSONResponse({"detail": "the request body is nested too deeply to be read"}, status_code=400)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); it is in the service's log"},
                            status_code=500)

    @app.get("/healthz")
    def healthz():
        """200 when the gradebook answers and every grading worker on this machine is healthy
        (threads alive, ticked recently: autograder/grading/worker.py); else 503, saying which."""
        return health_response(app)

    return app


def health_response(app: FastAPI) -> JSONResponse:
    from sqlalchemy import text

    from autograder.grading.worker import read_health

    out: dict = {"ok": True, "gradebook": "ok"}
    try:
        with app.state.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as err:  # noqa: BLE001
        out.update(ok=False, gradebook=f"unavailable ({type(err).__name__})")
    out["workers"] = read_health(app.state.settings.data_path)
    if any(not w["ok"] for w in out["workers"]):
        out["ok"] = False
    return JSONResponse(out, status_code=200 if out["ok"] else 503)


def _install_features(app: FastAPI) -> None:
    """Mentor-proposed projects and peers, signed transcripts, the weekly digest."""
    from autograder.dashboard import digest
    from autograder.projects import api as projects_api
    from autograder.projects import pages as projects_pages
    from autograder.transcripts import api as transcript

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
