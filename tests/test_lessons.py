"""Lesson sources, the nbgrader build, staleness and leak detection, and the CLI's bad input."""

import json
import subprocess
import sys

import pytest

from course.authoring import lessons
from course.authoring.lessons import LessonError, LessonNotFound


def test_build_writes_an_exercise_without_solution_or_hidden_tests(make_lesson, good_body):
    lesson = make_lesson(good_body)
    [path] = lessons.build([lesson], root=lesson.root)
    text = path.read_text()
    assert "raise NotImplementedError" in text
    assert "return 2 * x" not in text and "double(-3)" not in text
    assert "BEGIN" not in text
    nb = json.loads(text)
    graded = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")]
    assert [c["metadata"]["nbgrader"]["points"] for c in graded] == [1]
    assert not lessons.leaks(lesson, root=lesson.root)
    # the .py source holds the solution: nbgrader must not copy it into the release
    assert not list((lesson.root / "exercises").rglob("*.py"))


def test_build_is_reproducible_and_staleness_is_detected(make_lesson, good_body):
    lesson = make_lesson(good_body)
    lessons.build([lesson], root=lesson.root)
    assert lessons.stale_exercises([lesson], root=lesson.root) == []
    lesson.source.write_text(lesson.source.read_text().replace("Return 2 * x", "Return twice x"))
    [problem] = lessons.stale_exercises([lesson], root=lesson.root)
    assert "exercises/9.9-tiny/9.9-tiny.ipynb is stale: run `bootcamp build 9.9`" in problem


def test_a_leaked_solution_line_is_found(make_lesson, good_body):
    lesson = make_lesson(good_body)
    [path] = lessons.build([lesson], root=lesson.root)
    nb = json.loads(path.read_text())
    nb["cells"][-1]["source"] += "\ncheckers = double(-3)  # checks.assert_equal(\"double\", double(-3), -6)"
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "### BEGIN SOLUTION", "id": "x"})
    path.write_text(json.dumps(nb))
    found = lessons.leaks(lesson, root=lesson.root)
    assert any("marker '### BEGIN SOLUTION'" in f for f in found), found


def test_hidden_test_line_leak_is_found(make_lesson, good_body):
    lesson = make_lesson(good_body)
    [path] = lessons.build([lesson], root=lesson.root)
    nb = json.loads(path.read_text())
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "id": "y",
                        "source": 'checks.assert_equal("double", double(-3), -6)'})
    path.write_text(json.dumps(nb))
    [found] = lessons.leaks(lesson, root=lesson.root)
    assert "solution or hidden-test line" in found


@pytest.mark.parametrize("body, expected", [
    ('# %% nbgrader={"solution": true, "grade_id": "a"} exercise={"difficulty": 1, "importance": 1}\n'
     'def a():\n    ### BEGIN SOLUTION\n    return 1\n\n# %%\nx = 1\n',
     "9.9-tiny.py:15: '### BEGIN SOLUTION' is not closed before the next cell (line 18)"),
    ('# %%\nx = 1\n### END SOLUTION\n', "9.9-tiny.py:15: '### END SOLUTION' without a matching"),
    ('# %%\n### BEGIN HIDDEN TESTS\nx = 1\n', "9.9-tiny.py:14: '### BEGIN HIDDEN TESTS' is never closed"),
    ('# %%\n### BEGIN SOLUTION\n### BEGIN SOLUTION\n',
     "9.9-tiny.py:15: '### BEGIN SOLUTION' inside the '### BEGIN SOLUTION' opened at line 14"),
])
def test_unbalanced_markers_name_file_and_line(make_lesson, body, expected):
    lesson = make_lesson(body)
    with pytest.raises(LessonError) as info:
        lessons.read_source(lesson.source)
    assert expected in str(info.value)


@pytest.mark.parametrize("body, expected", [
    ('# %%\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n',
     "has '### BEGIN SOLUTION' but no nbgrader"),
    ('# %% nbgrader={"solution": true, "grade_id": "f"}\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n'
     '    ### END SOLUTION\n', "needs exercise="),
    ('# %% nbgrader={"grade": true, "grade_id": "f_test"}\nassert 1\n', "is graded but has no positive 'points'"),
    ('# %% nbgrader={"grade": true, "grade_id": "g_test", "points": 1}\nassert 1\n',
     "test 'g_test' belongs to no exercise"),
])
def test_malformed_metadata_is_explained(make_lesson, body, expected):
    lesson = make_lesson(body)
    with pytest.raises(LessonError) as info:
        lessons.read_source(lesson.source)
    assert expected in str(info.value)


def test_unknown_lesson_lists_the_lessons(make_lesson, good_body):
    lesson = make_lesson(good_body)
    assert lessons.find_lesson("9.9", root=lesson.root) == lesson
    assert lessons.find_lesson("9.9-tiny", root=lesson.root) == lesson
    assert lessons.find_lesson("exercises/9.9-tiny/9.9-tiny.ipynb", root=lesson.root) == lesson
    with pytest.raises(LessonNotFound) as info:
        lessons.find_lesson("no-such-lesson", root=lesson.root)
    assert "no lesson called 'no-such-lesson'" in str(info.value)
    assert "9.9   9.9-tiny" in str(info.value)


def bootcamp(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "course", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_build_unknown_lesson_exits_2_and_lists_lessons():
    r = bootcamp("build", "no-such-lesson")
    assert r.returncode == 2
    assert "no lesson called 'no-such-lesson'. The lessons are:" in r.stderr
    assert "0.1" in r.stderr


def test_cli_check_on_a_file_that_is_not_a_notebook(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    r = bootcamp("check", "0.1", "--notebook", str(f))
    assert r.returncode == 2
    assert "not a notebook (expected a .ipynb file)" in r.stderr


def test_cli_check_on_a_corrupt_notebook(tmp_path):
    f = tmp_path / "broken.ipynb"
    f.write_text('{"cells": [')
    r = bootcamp("check", "0.1", "--notebook", str(f))
    assert r.returncode == 2
    assert "not a readable notebook" in r.stderr


def test_cli_check_on_a_notebook_that_is_not_a_lesson(tmp_path):
    import nbformat

    f = tmp_path / "other.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), f)
    r = bootcamp("check", "0.1", "--notebook", str(f))
    assert r.returncode == 2
    assert "has no graded test cells; is it a lesson notebook?" in r.stderr


def test_cli_check_unknown_lesson():
    r = bootcamp("check", "7.7")
    assert r.returncode == 2 and "no lesson called '7.7'" in r.stderr


def test_every_lesson_ends_with_its_progress_summary():
    """Issue 9: the last cell of every lesson shows the learner's progress on that lesson."""
    for lesson in lessons.all_lessons():
        source = lesson.source.read_text()
        tail = source[source.rfind("# %%"):]
        assert f'lesson_summary("{lesson.id}")' in tail, (
            f"{lesson.source}: end the lesson with a cell calling lesson_summary({lesson.id!r}) "
            "(see solutions/0.1-numpy/0.1-numpy.py)")
