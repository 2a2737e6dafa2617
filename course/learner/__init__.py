"""What a learner runs: the `bootcamp` commands behind map, placement, progress, update, hint,
submit and status (the grading service's client, HTTP only), proposals, new-project and transcripts.

    commands.py    map, placement, progress, update, hint, timing (registered by course.cli)
    progress.py    where a learner stands; `lesson_summary` for a lesson's last cell
    workspace.py   the learner's own copies of the lessons (workspace/), apart from the release in exercises/
    jupyter.py     submit from JupyterLab: the button under every lesson, and `submit("0.1")`
    update.py      a new release without losing a line of learner work
    placement.py   the placement quizzes
    hints.py       hints on demand, counted (never in the grade)
    walkthrough.py the third tier: an annotated walkthrough on request, counted
    timing.py      measured exercise times: the kernel hook that notes cell runs, `bootcamp timing`
    client.py      submit / status / serve / admin: talks to the service over HTTP, never imports autograder
    proposals.py   proposals, claims, peers
    transcript.py  signed transcripts: fetch, render, verify offline
    newproject.py  `bootcamp new-project`: a standalone project from a replication (template in course/scaffold/)
"""
