"""The grading service: HTTP API, gradebook, sandboxed grading and the mentor dashboard.

Laid out by concern:

    settings.py    every setting, from BOOTCAMP_* environment variables (pydantic-settings)
    models.py      the gradebook (SQLAlchemy); migrations/ holds its Alembic history
    db.py          engine, sessions, `upgrade` (alembic upgrade head)
    accounts.py    users, cohorts, hashed tokens
    api.py         the HTTP API under /api (FastAPI); app.py puts it together with dashboard.py
    grading.py     nbgrader's preprocessors plus the sandbox step; the grade
    sandbox/       the warm zygote and the per-submission learner/test process pair (see its __init__)
    jobs.py        the queue in the gradebook: claim with a lease, retry, fail with the reason
    worker.py      the long-lived worker
    progress.py    grids, timelines, stuck and silent learners, exercise statistics, CSV export
    admin.py       `python -m autograder admin ...`; embedded.py: the local learner by default

`course/` never imports this package; it talks to the service over HTTP only
(course/client.py), and `bootcamp serve` / `bootcamp admin` run `python -m autograder`.
"""
