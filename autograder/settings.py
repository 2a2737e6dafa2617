"""Every setting of the grading service, in one place, read from environment variables.

Each field is ``BOOTCAMP_<NAME>`` in the environment (``BOOTCAMP_DATABASE_URL``,
``BOOTCAMP_WALL_SECONDS``...). The defaults are the embedded, self-paced set-up: an
SQLite gradebook in the course directory, one worker, the service on 127.0.0.1.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOOTCAMP_", extra="ignore")

    # where the lessons live (solutions/ and exercises/): the repository by default
    course_dir: Path = REPO_ROOT
    # the service's own files (SQLite gradebook, secret key, local tokens); default <course_dir>/.bootcamp
    data_dir: Path | None = None
    # SQLAlchemy URL; default sqlite:///<data_dir>/gradebook.db. PostgreSQL: postgresql+psycopg://user@host/db
    database_url: str | None = None

    host: str = "127.0.0.1"
    port: int = 8765

    # connections (autograder/httpserver.py): an idle keep-alive connection is closed after
    # keepalive_seconds; one whose request headers are not complete after header_seconds too
    keepalive_seconds: float = 5.0
    header_seconds: float = 10.0
    max_header_bytes: int = 16 * 1024  # larger request headers: 431 JSON

    # submissions
    max_upload_bytes: int = 5 * 1024 * 1024
    # per learner (issue 16, class 5): more submissions than this in a minute, or more bytes stored
    # than this in a day, are answered 429 with Retry-After and nothing is stored; 0 turns a limit off
    submissions_per_minute: int = 6
    upload_bytes_per_day: int = 100 * 1024 * 1024

    # grading
    workers: int = 2  # notebooks graded at the same time by one worker process
    max_attempts: int = 3  # a job whose worker dies this many times is failed with the reason
    lease_seconds: float = 30.0  # a running job whose lease is not renewed for this long is retried
    poll_seconds: float = 0.2  # how often an idle worker looks for queued jobs
    # "database": workers poll the gradebook for jobs. "celery": the API also publishes each job
    # on a Celery broker and `python -m autograder celery-worker` processes take them (taskqueue.py)
    task_queue: str = "database"
    broker_url: str = ""  # Celery's broker; empty: the gradebook's own database (kombu's sqla transport)
    warm_imports: str = "numpy,torch,course.checks"  # imported once per worker, before any fork
    # where test cells run: "split" (a separate test process the learner's code cannot touch),
    # "shared" (the learner's process, as nbgrader does), or "auto": split, unless the lesson's
    # own solution does not get full marks that way (its tests need the learner's objects)
    grading_mode: str = "auto"

    # the sandbox (per submission)
    # The whole notebook's wall time, not per cell: at least wall_seconds, and wall_factor times
    # the CPU time of the lesson's own solution run (measured once per worker when it first grades
    # the lesson; CPU time, so that load on the machine then cannot raise the limit for good),
    # at most max_wall_seconds (the course's budget for a solution is 5 minutes on 2 cores).
    wall_seconds: float = 60.0
    wall_factor: float = 3.0
    max_wall_seconds: float = 600.0
    cpu_seconds: int = 120  # at least; raised to 2 x the notebook's wall limit for slow lessons
    memory_bytes: int = 4 * 1024**3  # address space above what the warm worker already maps
    max_processes: int = 64
    max_file_bytes: int = 64 * 1024**2
    scratch_bytes: int = 256 * 1024**2
    output_bytes: int = 64 * 1024  # stdout+stderr kept per cell
    message_chars: int = 400  # one exercise's feedback message
    sandbox_uid_base: int = 61000  # when the worker is root: learner code runs as base+i, tests as base+i+1000 (i leased)

    # dashboard
    secret_key: str | None = None  # signs login cookies; default: generated into data_dir
    silent_days: int = 7
    stuck_failures: int = 3
    nudge_webhook_url: str | None = None  # Slack/Mattermost-style incoming webhook: POST {"text": ...}
    public_url: str | None = None  # how learners reach the service, for messages

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir) if self.data_dir else Path(self.course_dir) / ".bootcamp"

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_path / 'gradebook.db'}"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def ensure_data_dir(self) -> Path:
        self.data_path.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            self.data_path.chmod(0o700)
        except OSError:
            pass
        return self.data_path


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
