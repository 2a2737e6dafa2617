"""The mentor dashboard: server-rendered pages (templates/) and the weekly digest.

    pages.py       sign-in, the cohort grid, timelines, stuck and silent learners, nudges, CSV export
    digest.py      the weekly digest as Markdown/HTML, its API route and page
"""
