"""Grading a submission: nbgrader's steps around a sandbox, and the workers that run them.

    pipeline.py    nbgrader's preprocessors plus the sandbox step; calibration; the grade
    sandbox.py     the warm zygote and the per-submission learner/test process pair
    worker.py      the long-lived polling worker (leases, retries)
    taskqueue.py   the Celery backend (BOOTCAMP_TASK_QUEUE=celery), the only module that imports celery
"""
