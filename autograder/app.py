"""The FastAPI application: the API, the dashboard, one-line JSON errors."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .db import Database
from .grading import Catalogue
from .settings import Settings, get_settings


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

    from . import api, dashboard

    app.include_router(api.router)
    app.include_router(dashboard.router)
    from . import extensions  # projects, transcripts, digest (issue 10)

    extensions.install(app)

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

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    return app
