"""The grading service: HTTP API, gradebook, sandboxed grading and the mentor dashboard.

Laid out by concern (each package's ``__init__`` says what its modules hold):

    api/           the HTTP API under /api (FastAPI)
    gradebook/     tables and migrations, sessions, accounts, the job queue, progress queries
    grading/       the nbgrader pipeline, the sandbox, the workers (polling and Celery)
    dashboard/     the mentor dashboard's pages and templates, the weekly digest
    projects/      proposals, claims, milestones, peers: tables, rules, routes, pages
    transcripts/   signed transcripts: the key, the routes
    hub/           cohorts on JupyterHub (`./run.sh hub`): its config, hub OAuth and tokens, LTI 1.3
    app.py         the FastAPI app put together; settings.py every setting (BOOTCAMP_*)
    admin.py       `python -m autograder admin ...`; embedded.py the local accounts by default
    httpserver.py  how `serve` runs uvicorn: header and keep-alive timeouts, JSON 400/431

`course/` never imports this package; it talks to the service over HTTP only
(course/learner/client.py), and `bootcamp serve` / `bootcamp admin` run `python -m autograder`.
"""
