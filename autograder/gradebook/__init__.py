"""The gradebook: tables, sessions, accounts, the job queue, and the queries mentors read.

    models.py      the tables (SQLAlchemy); migrations/ is their Alembic history (alembic.ini beside it)
    db.py          engine, sessions, `upgrade` (alembic upgrade head)
    accounts.py    users, cohorts, hashed tokens, who may see whom
    jobs.py        the queue in the gradebook: claim with a lease, retry, fail with the reason
    progress.py    grids, timelines, stuck and silent learners, exercise statistics, CSV export

Nothing here runs learner code, and the sandbox (autograder.grading.sandbox) imports nothing from here.
"""
