"""The learner-side package of the interpretability bootcamp.

`import course` is deliberately light (no torch, transformers or TransformerLens):
lessons import what they need. `course.checks` holds the helpers every test cell uses.
"""

__version__ = "0.1.0"
