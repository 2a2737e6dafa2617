"""`python -m autograder serve | worker | admin ... | migrate` (`bootcamp serve` and
`bootcamp admin` run these as a subprocess, so the course package never imports this one)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time

# jsonschema (imported by nbformat) imports rfc3987_syntax when it is installed, and that
# compiles a grammar for 6-8 s on import; notebook validation never checks IRI formats.
# The service's processes skip it (the course's own CLI pays it on every call: worth a look).
sys.modules.setdefault("rfc3987_syntax", None)

from autograder.settings import Settings  # noqa: E402


def open_gradebook(settings: Settings):
    """The gradebook, migrated; or one line naming the file (or server) and the fix, and exit 2."""
    from autograder.gradebook.db import Database

    try:
        db = Database(settings)
        db.migrate()
        return db
    except Exception as err:  # noqa: BLE001 - whatever it is, the operator needs one line, not a traceback
        reason = (str(getattr(err, "orig", None) or err).strip().splitlines() or [type(err).__name__])[0][:200]
        if settings.db_url.startswith("sqlite"):
            where = settings.db_url.removeprefix("sqlite:///")
            fix = ("check that it is an SQLite file this user can read and write in a writable directory "
                   "(restore it from a backup, or move it away to start a new one), or set BOOTCAMP_DATA_DIR")
        else:
            where = _safe_url(settings.db_url)
            fix = "start the database server, or correct BOOTCAMP_DATABASE_URL"
        print(f"autograder: cannot open the gradebook {where}: {reason}; fix: {fix}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def cmd_migrate(args, settings: Settings) -> int:
    open_gradebook(settings)
    print(f"gradebook at {_safe_url(settings.db_url)} is at the newest schema")
    return 0


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def cmd_worker(args, settings: Settings) -> int:
    from autograder.grading.worker import Worker

    if args.slots:
        settings.workers = args.slots
    return Worker(settings).run_forever()  # 3: unhealthy, so that serve or systemd starts a fresh one


def cmd_celery_worker(args, settings: Settings) -> int:
    from autograder.grading.taskqueue import run_worker

    run_worker(settings, args.concurrency or settings.workers)
    return 0


def cmd_serve(args, settings: Settings) -> int:
    import uvicorn

    from autograder.app import create_app
    from autograder.embedded import ensure_local_accounts, token_file
    from autograder.httpserver import uvicorn_options

    if args.port:
        settings.port = args.port
    if args.host:
        settings.host = args.host
    db = open_gradebook(settings)
    if not args.no_local:
        ensure_local_accounts(settings, db)
    app = create_app(settings, db, migrate=False)
    stop = threading.Event()
    worker: dict = {}

    def supervise():  # the worker is a separate process: if it dies, start another; leases bring its job back
        while not stop.is_set():
            env = dict(_worker_env(settings), BOOTCAMP_SUPERVISOR_PID=str(os.getpid()))
            proc = subprocess.Popen([sys.executable, "-m", "autograder", "worker"], env=env)
            worker["proc"] = proc
            while proc.poll() is None and not stop.is_set():
                time.sleep(0.5)
                if _hung(settings, proc.pid):  # wrote its health once, then stopped: its own watch is stuck too
                    print(f"autograder: the worker {proc.pid} stopped reporting its health; killing it", file=sys.stderr)
                    proc.kill()
            if not stop.is_set():
                print(f"autograder: the worker exited ({proc.returncode}); starting another", file=sys.stderr)
                time.sleep(1.0)

    if args.workers != 0:
        threading.Thread(target=supervise, daemon=True).start()
    if settings.task_queue == "celery":  # jobs of a killed Celery worker are retried, even with no worker here
        from autograder.grading.taskqueue import Sweeper, app_for

        Sweeper(app_for(settings), db, settings).start()
    print(f"grading service on http://{settings.host}:{settings.port}  (dashboard: /dashboard, API: /api/docs)",
          flush=True)
    if not args.no_local:
        print(f"  self-paced learner token: {token_file(settings, 'local')}; "
              f"dashboard login token: {token_file(settings, 'local-instructor')}", flush=True)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", **uvicorn_options(settings))
    finally:
        stop.set()
        proc = worker.get("proc")
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


def _hung(settings: Settings, pid: int, after: float = 60.0) -> bool:
    path = settings.data_path / f"worker-{pid}.health"
    try:
        return time.time() - path.stat().st_mtime > after
    except OSError:  # not written yet (still warming its imports), or already removed
        return False


def _worker_env(settings: Settings) -> dict:
    env = dict(os.environ)
    env["BOOTCAMP_COURSE_DIR"] = str(settings.course_dir)
    env["BOOTCAMP_DATA_DIR"] = str(settings.data_path)
    if settings.database_url:
        env["BOOTCAMP_DATABASE_URL"] = settings.database_url
    return env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder", description="The bootcamp's grading service.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="the API and dashboard (uvicorn) plus a grading worker")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--workers", type=int, default=1, help="worker processes to supervise (0: none, run them apart)")
    s.add_argument("--no-local", action="store_true", help="do not create the local learner and instructor")
    s.set_defaults(func=cmd_serve)
    s = sub.add_parser("worker", help="a long-lived grading worker")
    s.add_argument("--slots", type=int, help="notebooks graded at once (default BOOTCAMP_WORKERS)")
    s.set_defaults(func=cmd_worker)
    s = sub.add_parser("celery-worker", help="a grading worker fed by Celery (BOOTCAMP_TASK_QUEUE=celery)")
    s.add_argument("--concurrency", type=int, help="notebooks graded at once (default BOOTCAMP_WORKERS)")
    s.set_defaults(func=cmd_celery_worker)
    s = sub.add_parser("migrate", help="bring the gradebook's schema up to date (alembic upgrade head)")
    s.set_defaults(func=cmd_migrate)
    from autograder.admin import add_parser as add_admin

    add_admin(sub)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings()
    return args.func(args, settings)


if __name__ == "__main__":
    sys.exit(main())
