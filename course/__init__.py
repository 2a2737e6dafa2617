"""The learner-side package of the interpretability bootcamp.

`import course` is deliberately light (no torch, transformers or TransformerLens):
lessons import what they need.

    checks/      the helpers every test cell uses (and lesson-specific checks beside them)
    data.py      offline data; models/ the course's models and shipped checkpoints
    diagrams.py  the lessons' static diagrams (residual stream, attention, patching, SAE), drawn by code
    learner/     the commands a learner runs; authoring/ what a course author runs
    cli.py       `bootcamp`, the one entry point; scaffold/ the new-project template
"""

__version__ = "0.1.0"
