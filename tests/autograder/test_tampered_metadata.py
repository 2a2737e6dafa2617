"""Issue 16, class 6: a learner who flips a cell's nbgrader flags gets the released cell back and a flag,
never a failed submission; nbgrader metadata of the wrong type is a clear 4xx, not a crash."""

from __future__ import annotations

import pytest

from autograder.grading.pipeline import SubmissionError

from .conftest import SLUG, result


def grade(grader, sub):
    return grader.grade_bytes(SLUG, sub.bytes())


@pytest.mark.parametrize("flip", [{"grade": False}, {"solution": True}, {"grade": False, "solution": True},
                                  {"locked": False}])
def test_a_test_cell_whose_flags_were_flipped_is_restored_and_flagged(grader, sub, flip):
    s = sub().solve()
    s.nb.cells[s.index("double_test")].metadata["nbgrader"].update(flip)
    r = grade(grader, s)
    assert r.status == "graded", (r.status, r.message)
    assert r.score == r.max_score == 5, [(x.exercise, x.points, x.status) for x in r.results]
    if flip != {"locked": False}:
        assert any(k in ("tampered_test_cell", "tampered_metadata") and "double_test" in d for k, d in r.flags), r.flags


def test_a_solution_cell_turned_into_a_graded_cell_earns_nothing(grader, sub):
    s = sub().solve()
    meta = s.nb.cells[s.index("double")].metadata["nbgrader"]
    meta.update({"grade": True, "points": 50})
    r = grade(grader, s)
    assert r.status == "graded", (r.status, r.message)
    assert r.max_score == 5 and r.score == 5
    assert result(r, "double").points == 2


@pytest.mark.parametrize("bad", [{"grade_id": 7}, {"points": "lots"}, {"grade": "yes"}, ["not", "a", "dict"]])
def test_nbgrader_metadata_of_the_wrong_type_is_bad_input(grader, sub, bad):
    s = sub().solve()
    cell = s.nb.cells[s.index("norm")]
    if isinstance(bad, dict):
        cell.metadata["nbgrader"].update(bad)
    else:
        cell.metadata["nbgrader"] = bad
    try:
        r = grade(grader, s)
    except SubmissionError as err:  # refused before grading: the API answers 4xx with this line
        assert str(err)
        return
    assert r.status == "graded", (r.status, r.message)


@pytest.mark.parametrize("bad", [{"grade_id": 7}, {"points": "lots"}, ["not", "a", "dict"], "text"])
def test_the_api_never_answers_5xx_to_odd_nbgrader_metadata(service, sub, bad):
    s = sub().solve()
    cell = s.nb.cells[s.index("norm")]
    if isinstance(bad, dict):
        cell.metadata["nbgrader"].update(bad)
    else:
        cell.metadata["nbgrader"] = bad
    r = service.submit("lea", s.bytes())
    assert r.status_code < 500, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")


def _metadata_variants(release):
    """A lesson's released notebook, unchanged and with its nbgrader metadata broken in each way we can think of."""
    import copy

    yield "unchanged", release
    first = next(i for i, c in enumerate(release.cells) if c.metadata.get("nbgrader", {}).get("grade"))
    md = next(i for i, c in enumerate(release.cells) if c.cell_type == "markdown")
    edits = {
        "grade_id not a string": lambda c: c.metadata.nbgrader.update(grade_id=7),
        "points a string": lambda c: c.metadata.nbgrader.update(points="lots"),
        "grade a string": lambda c: c.metadata.nbgrader.update(grade="yes"),
        "an unknown key": lambda c: c.metadata.nbgrader.update(shiny=True),
        "no grade_id": lambda c: c.metadata.nbgrader.pop("grade_id"),
        "empty grade_id": lambda c: c.metadata.nbgrader.update(grade_id=""),
        "no points": lambda c: c.metadata.nbgrader.pop("points"),
        "no locked": lambda c: c.metadata.nbgrader.pop("locked"),
        "schema too old": lambda c: c.metadata.nbgrader.update(schema_version=1),
        "schema too new": lambda c: c.metadata.nbgrader.update(schema_version=9),
        "schema_version a string": lambda c: c.metadata.nbgrader.update(schema_version="3"),
        "a list": lambda c: c.metadata.update(nbgrader=["not", "a", "dict"]),
        "negative points": lambda c: c.metadata.nbgrader.update(points=-1),
        "a markdown grade cell that is not a solution": lambda c: (setattr(c, "cell_type", "markdown"),
                                                                  c.metadata.nbgrader.update(solution=False)),
    }
    for name, edit in edits.items():
        nb = copy.deepcopy(release)
        edit(nb.cells[first])
        yield name, nb
    nb = copy.deepcopy(release)
    nb.cells[md].metadata["nbgrader"] = dict(copy.deepcopy(release.cells[first].metadata.nbgrader))
    yield "a duplicate grade_id on a markdown cell", nb


def test_the_metadata_check_refuses_exactly_what_nbgraders_own_refuses(release):
    # the grader checks the schema once instead of per cell (issue 25): its verdicts must be nbgrader's
    from nbformat import from_dict
    from nbgrader.preprocessors import CheckCellMetadata

    from autograder.grading.pipeline import CheckCellMetadataOnce

    def verdict(step, nb):
        try:
            step.preprocess(from_dict(nb), {})
            return "ok"
        except Exception as err:  # noqa: BLE001 - compared, not handled
            return type(err).__name__

    seen = set()
    for name, nb in _metadata_variants(release):
        ours, theirs = verdict(CheckCellMetadataOnce(), nb), verdict(CheckCellMetadata(), nb)
        assert ours == theirs, (name, ours, theirs)
        seen.add(theirs)
    assert "ok" in seen and len(seen) > 1, seen  # both accepted and refused notebooks were compared
