"""Grading a submission: nbgrader's steps around a sandbox, and the workers that run them.

    pipeline.py    nbgrader's preprocessors plus the sandbox step; calibration; the grade
    sandbox/       the warm zygote and the per-submission learner/test process pair: the channel, the value
                   boundary (boundary.py: what may cross into a verdict), proxies, shared state, isolation
    worker.py      the long-lived polling worker (leases, retries)
    taskqueue.py   the Celery backend (BOOTCAMP_TASK_QUEUE=celery), the only module that imports celery
"""
