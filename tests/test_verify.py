"""The CI checks themselves: they must reject tests that cannot fail."""

import pytest

from course.authoring import lessons, verify


def built(make_lesson, body):
    lesson = make_lesson(body)
    lessons.build([lesson], root=lesson.root)
    return lesson


def test_a_good_lesson_passes_every_check(make_lesson, good_body):
    lesson = built(make_lesson, good_body)
    sol = verify.verify_solution(lesson)
    assert sol.problems == [] and [r.passed for r in sol.results] == [True]
    stubs = verify.verify_stubs(lesson)
    assert stubs.problems == []
    assert [r.status for r in stubs.results] == ["todo"]
    assert verify.verify_hidden_tests(lesson).problems == []
    assert verify.verify_silent_stubs(lesson).problems == []


def test_stub_check_rejects_a_test_that_asserts_nothing(make_lesson, good_body):
    body = good_body.replace('checks.assert_equal("double", double(2), 4)',
                             'try:\n    double(2)\nexcept Exception:\n    pass')
    lesson = built(make_lesson, body)
    [problem] = verify.verify_stubs(lesson).problems
    assert "test double_test PASSES on the stub: it asserts nothing" in problem


def test_stub_check_rejects_a_test_that_only_calls_the_exercise(make_lesson, good_body):
    body = good_body.replace('checks.assert_equal("double", double(2), 4)', 'double(2)').replace(
        'checks.assert_equal("double", double(-3), -6)', 'double(-3)')
    lesson = built(make_lesson, body)
    assert verify.verify_stubs(lesson).problems == []  # it does fail on the stub...
    [problem] = verify.verify_silent_stubs(lesson).problems  # ...but not when the stub returns None
    assert "PASSES when the exercise does nothing and returns None" in problem


def test_hidden_check_rejects_hidden_tests_that_assert_nothing(make_lesson, good_body):
    body = good_body.replace('checks.assert_equal("double", double(-3), -6)', 'print("hidden tests ran")')
    lesson = built(make_lesson, body)
    [problem] = verify.verify_hidden_tests(lesson).problems
    assert "hidden part of test double_test PASSES on the stub" in problem


def test_a_broken_test_is_not_counted_as_failing(make_lesson, good_body):
    body = good_body.replace('checks.assert_equal("double", double(2), 4)', 'checks.assert_equal("double", dbl(2), 4)')
    lesson = built(make_lesson, body)
    [problem] = verify.verify_stubs(lesson).problems
    assert "breaks on the stub with NameError" in problem


def test_solution_check_reports_a_failing_solution(make_lesson, good_body):
    lesson = built(make_lesson, good_body.replace("return 2 * x", "return 2 + x"))
    problems = verify.verify_solution(lesson).problems
    assert any("solution fails its own test double_test: [double] result differs" in p for p in problems), problems



NBGRADER_CASES = {  # the hidden test's last line -> what the check must say (None: nothing)
    "abs(double(0.5) - 1.0)": "gives the solution 0/1 for double_test: its last line displays '0.0'",
    "abs(double(0.5) - 1.0);": None,
    'import sys\nprint("findfont: not found", file=sys.stderr)': "wrote to stderr ('findfont: not found')",
}


@pytest.mark.parametrize("last", list(NBGRADER_CASES))
def test_solution_check_rejects_what_plain_nbgrader_would_not_give_full_marks(make_lesson, good_body, last):
    """nbgrader reads a number a test cell displays as partial credit, and zeroes a cell that writes to
    stderr: a correct solution graded with `nbgrader autograde` would lose the points."""
    body = good_body.replace('checks.assert_equal("double", double(-3), -6)',
                             'checks.assert_equal("double", double(-3), -6)\n' + last)
    problems = verify.verify_solution(built(make_lesson, body)).problems
    if NBGRADER_CASES[last] is None:
        assert problems == []
    else:
        [problem] = problems
        assert "plain nbgrader autograde" in problem and NBGRADER_CASES[last] in problem, problem


def test_solution_check_flags_a_cell_near_plain_nbgraders_timeout(make_lesson, good_body, monkeypatch):
    """nbgrader stops a cell at its per-cell timeout (30 s unless nbgrader_config.py says otherwise) and
    scores what depends on it 0: a correct 4.4 scored 23/27 that way. A cell that takes more than half
    of it is flagged; the course's own lessons stay well under the configured one."""
    assert verify.nbgrader_cell_timeout() >= 300  # the course's config, not nbgrader's default
    monkeypatch.setattr(verify, "nbgrader_cell_timeout", lambda: 2)
    body = good_body.replace('checks.assert_equal("double", double(-3), -6)',
                             'checks.assert_equal("double", double(-3), -6)\nimport time\ntime.sleep(1.5)')
    lesson = built(make_lesson, body)
    [problem] = verify.verify_solution(lesson).problems
    assert "double_test ran 2 s, more than half of plain nbgrader's per-cell timeout (2 s" in problem, problem
    monkeypatch.setattr(verify, "nbgrader_cell_timeout", lambda: 10)
    assert verify.verify_solution(lesson).problems == []
