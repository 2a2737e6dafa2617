"""Class 6 of issue 16: a notebook of one lesson is not graded as another's because a grade id
or two happen to be shared."""

from __future__ import annotations

import copy
import json

import nbformat
import pytest

from .conftest import STATEFUL


@pytest.fixture
def other_lesson(course_root):
    """Lesson 9.9's released notebook, with one cell whose grade id is also in lesson 9.8."""
    nb = nbformat.read(str(course_root / "exercises" / STATEFUL / f"{STATEFUL}.ipynb"), as_version=4)
    cell = nbformat.v4.new_code_cell("def double(x):\n    return 2 * x")
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False, "grade_id": "double",
                                 "schema_version": 3}
    nb.cells.append(cell)
    return nb


@pytest.mark.parametrize("claim", ["as released", "without its lesson id"])
def test_a_notebook_of_another_lesson_sharing_a_grade_id_is_refused(service, other_lesson, claim):
    nb = copy.deepcopy(other_lesson)
    if claim != "as released":
        nb.metadata.pop("course", None)
    before = service.count()
    r = service.submit("lea", json.dumps(nb).encode(), lesson="9.8")
    assert r.status_code == 422, r.text
    assert "9.8" in r.json()["detail"] and "\n" not in r.json()["detail"]
    assert service.count() == before
