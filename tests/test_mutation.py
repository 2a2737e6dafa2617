"""The mutation check itself (course/authoring/mutation.py), on a tiny synthetic lesson: fast, no torch."""

import textwrap

import pytest

from course.authoring import lessons, mutation

SOURCE = textwrap.dedent('''\
    # ---
    # jupyter:
    #   kernelspec: {display_name: Python 3, language: python, name: python3}
    #   course:
    #     id: "9.9"
    #     title: Synthetic
    #     minutes: 5
    # ---

    # %% [markdown]
    # # 9.9 Synthetic

    # %%
    import numpy as np
    from course import checks

    # %% nbgrader={"solution": true, "grade_id": "row_scale"} exercise={"difficulty": 1, "importance": 1, "minutes": 1}
    def row_scale(x):
        """Divide each row by its largest entry."""
        ### BEGIN SOLUTION
        return x / np.max(x, axis=-1, keepdims=True)
        ### END SOLUTION


    # %% nbgrader={"grade": true, "grade_id": "row_scale_test", "points": 1}
    checks.assert_close("row_scale", row_scale(np.array([[2.0, 4.0, 8.0]])), np.array([[0.25, 0.5, 1.0]]))
    ### BEGIN HIDDEN TESTS
    x = np.array([[1.0, 2.0], [4.0, 8.0]])
    checks.assert_close("row_scale", row_scale(x), np.array([[0.5, 1.0], [0.5, 1.0]]))
    ### END HIDDEN TESTS

    # %% nbgrader={"solution": true, "grade_id": "weak"} exercise={"difficulty": 1, "importance": 1, "minutes": 1}
    def weak(a, b):
        """a + b."""
        ### BEGIN SOLUTION
        return a + b
        ### END SOLUTION


    # %% nbgrader={"grade": true, "grade_id": "weak_test", "points": 1}
    checks.assert_true("weak", weak(0, 0) == 0, "0 + 0")
    ### BEGIN HIDDEN TESTS
    checks.assert_true("weak", weak(0, 0) == 0, "0 + 0")
    ### END HIDDEN TESTS
''')

CATALOGUE = '''
[[mutant]]
exercise = "row_scale"
name = "one max for the whole array"
replace = [["np.max(x, axis=-1, keepdims=True)", "np.max(x)"]]

[[mutant]]
exercise = "row_scale"
name = "stale"
replace = [["text that is not there", "x"]]

[[equivalent]]
exercise = "row_scale"
mutant = "L1 operator: `x / np.max(x, axis=-1, keepdims=True)` -> `x // np.max(x, axis=-1, keepdims=True)`"
reason = "marked equivalent only to test the marking"
'''


def test_auto_mutants_cover_the_usual_mistakes():
    src = SOURCE.split('grade_id": "row_scale"}')[1].split("# %%")[0].split("\n", 1)[1]
    labels = [m.label for m in mutation.auto_mutants("row_scale", src, {"x"})]
    kinds = " | ".join(labels)
    for what in ("operator", "no normalisation", "keepdims dropped", "another axis", "global reduction",
                 "max/min", "returns its input", "reads the notebook's global `x`"):
        assert what in kinds, f"no {what!r} mutant in: {kinds}"
    assert not any("global `x`" in m.label for m in mutation.auto_mutants("row_scale", src, set())), \
        "a global-reading mutant needs a global of that name"


@pytest.mark.notebooks
def test_mutation_run_on_a_synthetic_lesson(tmp_path):
    (tmp_path / "solutions" / "9.9-synthetic").mkdir(parents=True)
    (tmp_path / "solutions" / "9.9-synthetic" / "9.9-synthetic.py").write_text(SOURCE)
    (tmp_path / "mutants").mkdir()
    (tmp_path / "mutants" / "9.9-synthetic.toml").write_text(CATALOGUE)
    lesson = lessons.Lesson("9.9-synthetic", tmp_path)
    r = mutation.run_lesson(lesson, timeout=30, catalogue_dir=tmp_path / "mutants", log=lambda s: None)
    by = {(o.mutant.exercise, o.mutant.label): o for o in r.outcomes}
    assert not [p for p in r.problems if "stale" not in p], r.problems
    assert any("stale" in p for p in r.problems), "a catalogue edit that no longer applies must be reported"
    # one row in the visible test, two in the hidden one: a global max passes the first and fails the second
    assert by[("row_scale", "one max for the whole array")].killed_by == "hidden"
    assert by[("row_scale", "row_scale returns its input `x`")].killed_by == "visible"
    assert r.equivalent == 1 and not any(o.mutant.equivalent and o in r.counted() for o in r.outcomes)
    # weak(0, 0) == 0 cannot tell a + b from a - b, or from returning a
    survivors = {(o.mutant.exercise, o.mutant.label) for o in r.survivors()}
    assert ("weak", "L1 operator: `a + b` -> `a - b`") in survivors, survivors
    assert ("weak", "weak returns its input `a`") in survivors, survivors
    assert all(ex == "weak" for ex, _ in survivors), survivors
    assert r.killed_all == len(r.counted()) - len(survivors)
    assert "9.9-synthetic" in mutation.table([r])
