"""Every lesson, end to end: exercises/ is current and leaks nothing, the solution passes
all its tests, and every graded test fails on the stubs (visible, hidden, and when the
exercise silently returns None). Durations go to the table at the end of the run."""

import pytest

from course.authoring import lessons, verify
from tests.conftest import LESSON_DURATIONS

ALL = lessons.all_lessons()
ids = [lesson.slug for lesson in ALL]


def test_there_are_lessons():
    assert ALL, "no lesson sources found under solutions/"


def test_exercises_are_current_with_their_sources():
    problems = lessons.stale_exercises(ALL)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lesson", ALL, ids=ids)
def test_no_solution_or_hidden_test_reaches_exercises(lesson):
    found = lessons.leaks(lesson)
    assert not found, "\n".join(found)


@pytest.mark.notebooks
@pytest.mark.parametrize("lesson", ALL, ids=ids)
def test_solution_notebook_passes_all_its_tests(lesson):
    lessons.write_solution_notebook(lesson)
    v = verify.verify_solution(lesson)
    LESSON_DURATIONS.setdefault(lesson.slug, {})["solution"] = v.seconds
    assert v.results, f"{lesson.slug} has no graded tests"
    assert not v.problems, "\n".join(v.problems)


@pytest.mark.notebooks
@pytest.mark.parametrize("lesson", ALL, ids=ids)
def test_every_graded_test_fails_on_the_stubs(lesson):
    v = verify.verify_stubs(lesson)
    LESSON_DURATIONS.setdefault(lesson.slug, {})["stubs"] = v.seconds
    assert not v.problems, "\n".join(v.problems)


@pytest.mark.notebooks
@pytest.mark.parametrize("lesson", ALL, ids=ids)
def test_hidden_tests_fail_on_the_stubs_by_themselves(lesson):
    lessons.write_solution_notebook(lesson)
    v = verify.verify_hidden_tests(lesson)
    LESSON_DURATIONS.setdefault(lesson.slug, {})["hidden"] = v.seconds
    assert not v.problems, "\n".join(v.problems)


@pytest.mark.notebooks
@pytest.mark.parametrize("lesson", ALL, ids=ids)
def test_every_graded_test_fails_when_the_exercise_returns_none(lesson):
    lessons.write_solution_notebook(lesson)
    v = verify.verify_silent_stubs(lesson)
    LESSON_DURATIONS.setdefault(lesson.slug, {})["silent"] = v.seconds
    assert not v.problems, "\n".join(v.problems)


def test_ordinary_nbgrader_generate_assignment_still_works(tmp_path):
    """An instructor can use nbgrader's own CLI on this course directory."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    lesson = ALL[0]
    lessons.write_solution_notebook(lesson)
    root = tmp_path / "course"
    shutil.copytree(lessons.ROOT / "solutions" / lesson.slug, root / "solutions" / lesson.slug)
    shutil.copy(lessons.ROOT / "nbgrader_config.py", root)
    # as in an activated venv: nbgrader runs `alembic` from PATH to create the gradebook
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    r = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", lesson.slug],
                       cwd=root, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    released = root / "exercises" / lesson.slug / f"{lesson.slug}.ipynb"
    assert released.is_file()
    assert not list((root / "exercises").rglob("*.py")), "the .py lesson source leaked into the release"
