"""Shared fixtures, and the lesson-duration table printed at the end of every run."""

from __future__ import annotations

import shutil
import textwrap

import pytest

from course.authoring.lessons import ROOT, Lesson

# Filled by test_lessons_run.py; printed by pytest_terminal_summary below.
LESSON_DURATIONS: dict[str, dict[str, float]] = {}

HEADER = """\
# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "{id}"
#     title: A tiny lesson
#     minutes: 5
# ---
"""


@pytest.fixture
def make_lesson(tmp_path):
    """Write a one-lesson course directory from a source body; return the Lesson."""

    def make(body: str, slug: str = "9.9-tiny") -> Lesson:
        root = tmp_path / "course"
        (root / "solutions" / slug).mkdir(parents=True)
        shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
        text = HEADER.format(id=slug.split("-")[0]) + "\n" + textwrap.dedent(body).lstrip("\n")
        (root / "solutions" / slug / f"{slug}.py").write_text(text)
        return Lesson(slug, root)

    return make


GOOD_BODY = '''
# %% [markdown]
# # A tiny lesson

# %%
from course import checks

# %% nbgrader={"solution": true, "grade_id": "double"} exercise={"difficulty": 1, "importance": 1, "minutes": 1}
def double(x):
    """Return 2 * x."""
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "double_test", "points": 1}
checks.assert_equal("double", double(2), 4)
### BEGIN HIDDEN TESTS
checks.assert_equal("double", double(-3), -6)
### END HIDDEN TESTS
'''


def pytest_terminal_summary(terminalreporter):
    if not LESSON_DURATIONS:
        return
    tr = terminalreporter
    tr.section("lesson durations (seconds on this machine; budget 300 s per solution, hard cap 600 s)")
    tr.write_line(f"{'lesson':<28} {'solution':>9} {'stubs':>7} {'hidden':>7} {'silent':>7}  budget")
    for slug, d in sorted(LESSON_DURATIONS.items()):
        sol = d.get("solution")
        verdict = "" if sol is None else ("ok" if sol <= 300 else "OVER BUDGET")
        cols = [f"{d[k]:>{w}.1f}" if k in d else f"{'-':>{w}}" for k, w in
                (("solution", 9), ("stubs", 7), ("hidden", 7), ("silent", 7))]
        tr.write_line(f"{slug:<28} " + " ".join(cols) + f"  {verdict}")


@pytest.fixture
def good_body() -> str:
    return GOOD_BODY
