"""What a newcomer's first mistakes print (a new-user trial of the course): a mistyped lesson or
exercise gets a suggestion, a test that fails only because its exercise's cell did not run
names that cell, and a notebook saved mid-edit says where the last good copy is."""

from __future__ import annotations

import nbformat
import pytest

from course import cli
from course.authoring.lessons import LessonError, did_you_mean, find_lesson
from course.authoring.runner import CellResult, collect, format_table


@pytest.mark.parametrize("typed, suggested", [("numpy", "0.1 (0.1-numpy)"), ("01", "0.1 (0.1-numpy)"),
                                              ("0.1-nunpy", "0.1 (0.1-numpy)")])
def test_a_mistyped_lesson_gets_a_suggestion(typed, suggested):
    with pytest.raises(LessonError) as info:
        find_lesson(typed)
    text = str(info.value)
    assert text.startswith(f"no lesson called {typed!r}. The lessons are:"), text  # the listing stays
    assert text.splitlines()[-1] == f"Did you mean {suggested}?", text


def test_nothing_close_suggests_nothing():
    assert did_you_mean("zzzz", {"0.1": "0.1", "numpy": "0.1"}) == ""
    with pytest.raises(LessonError) as info:
        find_lesson("zzzz")
    assert "Did you mean" not in str(info.value)


def test_the_map_and_a_mistyped_exercise_get_a_suggestion(capsys):
    assert cli.main(["map", "numpy"]) == 2
    assert "Did you mean 0.1 (0.1-numpy)?" in capsys.readouterr().err
    assert cli.main(["hint", "0.1", "broadcast"]) == 2
    err = capsys.readouterr().err
    assert "no exercise called 'broadcast'" in err and err.rstrip().endswith("Did you mean broadcast_shape?"), err


def _cell(source, grade_id=None, solution=False, grade=False, error=None):
    cell = nbformat.v4.new_code_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": solution, "grade": grade,
                                     "points": 3 if grade else 0}
    cell.execution_count = 1
    if error:
        cell.outputs = [nbformat.v4.new_output("error", ename=error[0], evalue=error[1], traceback=[])]
    return cell


def test_a_test_that_fails_because_its_exercise_cell_broke_names_that_cell():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 0.1"),
        _cell("def softmax(x):\n    return e / e.sum(", "softmax", solution=True,
              error=("SyntaxError", "incomplete input (1.py, line 2)")),
        _cell("checks.assert_close('softmax', softmax(x), y)", "softmax_test", grade=True,
              error=("NameError", "name 'softmax' is not defined")),
        _cell("out = one_hot(labels)\nplot(out)", error=("NotImplementedError", "replace this line")),
    ]
    results, other = collect(nb)
    assert len(results) == 1 and not results[0].passed
    msg = results[0].message
    assert msg.startswith("`softmax` is not defined because cell 2 (your answer to softmax) raised SyntaxError"), msg
    assert msg.endswith("fix that cell first"), msg
    assert other == ["cell 2 (your answer to softmax): SyntaxError: incomplete input (1.py, line 2)",
                     "cell 4 (`out = one_hot(labels)`): not implemented yet"]


def test_a_plain_name_error_is_left_as_it_is():
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell("softmax(x)", "softmax_test", grade=True, error=("NameError", "name 'x' is not defined"))]
    (result,), _ = collect(nb)
    assert result.message == "NameError: name 'x' is not defined"


def test_the_check_tip_names_the_lesson():
    failing = CellResult("softmax", "softmax_test", 3, False, "CheckFailure", "[softmax] wrong", "[softmax] wrong\nmore")
    assert "`bootcamp check 0.1 -v` shows" in format_table([failing], lesson="0.1")


def test_a_notebook_saved_mid_edit_is_named_and_not_sent(tmp_path, capsys, monkeypatch):
    broken = tmp_path / "0.1-numpy.ipynb"
    broken.write_text('{\n "cells": [\n  {\n   "cell_type": "mark')
    monkeypatch.setenv("BOOTCAMP_URL", "http://127.0.0.1:9")  # nothing listens: it must fail before sending
    assert cli.main(["submit", "0.1", "--notebook", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "not a readable notebook, nothing was sent" in err and "Revert Notebook to Checkpoint" in err, err
    assert cli.main(["check", "0.1", "--notebook", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "not a readable notebook" in err and ".ipynb_checkpoints/" in err, err


def test_placement_quizzes_are_answered_in_the_workspace_that_jupyterlab_shows(tmp_path, monkeypatch, capsys):
    from course.authoring.lessons import ROOT
    from course.learner import placement

    monkeypatch.setenv("BOOTCAMP_WORKSPACE", str(tmp_path / "ws"))
    made = placement.open_all(ROOT)
    quiz = placement.read_quiz("0", ROOT)
    copy = tmp_path / "ws" / "placement" / "0" / "placement-0.ipynb"
    assert copy in made and copy.read_bytes() == quiz.notebook.read_bytes()
    copy.write_text("{}")  # the learner's answers are never overwritten
    assert placement.open_all(ROOT) == [] and placement.learner_copy(quiz, ROOT) == copy and copy.read_text() == "{}"
    assert cli.main(["placement"]) == 0
    assert str(copy) in capsys.readouterr().out


def test_cells_waiting_for_an_exercise_are_one_note_and_real_errors_stay():
    notes = cli._outside_notes(["cell 17 (your answer to softmax): SyntaxError: incomplete input",
                                "cell 26 (`from sklearn.datasets import load_digits`): not implemented yet",
                                "cell 36 (`rng = np.random.default_rng(0)`): not implemented yet"])
    assert notes[0] == "note: an error outside the tests, cell 17 (your answer to softmax): SyntaxError: incomplete input"
    assert len(notes) == 2 and notes[1].startswith("note: 2 other cell(s) (26, 36;"), notes
