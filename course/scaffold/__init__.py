"""The template of a research project, copied by ``bootcamp new-project`` (see :mod:`course.newproject`).

``project/`` is the project as it is written out, less what depends on the lesson: the
course code and checkpoints (copied from :mod:`course.models`), the headline evaluation of
the lesson's model family in ``experiments.py``, and the ``{{...}}`` fields of the
Markdown and TOML files. Nothing here is imported by the course.
"""
