"""The HTTP API under /api (FastAPI): who is asking, submissions, lessons, cohorts.

    routes.py      the core routes and the request dependencies (`DB`, `CurrentUser`) other routers reuse

Feature routers live with their feature: autograder.projects.api, autograder.transcripts.api,
autograder.dashboard.digest.
"""
