"""course.checks.puzzles: the rule check's messages and the hypothesis harness (lesson 0.2)."""

from __future__ import annotations

import os
import textwrap

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("hypothesis")

from hypothesis import strategies as st  # noqa: E402

from course.checks import CheckFailure, puzzles  # noqa: E402
from course.checks.puzzles import arange, check_puzzle, check_rules, rule_violations, vectors, where  # noqa: E402


# --------------------------------------------------------------------------- puzzles used below
def triu(j):
    return where(arange(j)[:, None] <= arange(j), 1, 0)


def cumsum(a):
    return a @ triu(a.shape[0])


def cumsum_builtin(a):
    n = a.shape[0]
    return torch.cumsum(a, 0) + n * 0


def cumsum_method(a):
    return a.cumsum(0)


def cumsum_loop(a):
    out = a.clone()
    for i in range(1, len(a)):
        out[i] += out[i - 1]
    return out


def cumsum_stub(a):
    """A released stub: the rule check must let it through, the call must raise."""
    # YOUR CODE HERE
    raise NotImplementedError("replace this line with your code")


def cumsum_silent(a):
    pass


def cumsum_wrong_from_3(a):
    return a @ triu(a.shape[0]) * (a.shape[0] < 3)


def cumsum_crash_from_3(a):
    return a @ triu(a.shape[0] + (a.shape[0] >= 3))


def cumsum_todo_when_long(a):
    if a.shape[0] > 4:
        raise NotImplementedError("long vectors")
    return a @ triu(a.shape[0])


def cumsum_recursive(a):
    return cumsum_recursive(a[:-1])


def reference(a):
    return torch.cumsum(a, 0)


INPUTS = st.tuples(vectors())


def _line(fn, offset: int) -> int:
    """The line number check_rules reports: ``offset`` lines below the ``def``."""
    return fn.__code__.co_firstlineno + offset


# --------------------------------------------------------------------------- rule check
def test_rule_check_names_the_builtin_and_its_line():
    with pytest.raises(CheckFailure) as info:
        check_rules("cumsum", cumsum_builtin)
    first = str(info.value).splitlines()[0]
    assert first == (f"[cumsum] uses torch.cumsum (line {_line(cumsum_builtin, 2)}): build it from arange, "
                     "where, indexing and broadcasting only")
    assert "allowed: arange, where, @" in str(info.value)


def test_rule_check_names_a_method_call():
    with pytest.raises(CheckFailure, match=r"^\[cumsum\] uses the method \.cumsum\(\) \(on a\) \(line \d+\)"):
        check_rules("cumsum", cumsum_method)


def test_rule_check_reports_loops_and_the_other_violations():
    with pytest.raises(CheckFailure) as info:
        check_rules("cumsum", cumsum_loop)
    text = str(info.value)
    assert text.startswith(f"[cumsum] uses the method .clone() (on a) (line {_line(cumsum_loop, 1)})")
    assert f"a for loop (line {_line(cumsum_loop, 2)})" in text
    assert "range" in text


def test_rule_check_lets_the_stub_and_the_silent_stub_through():
    check_rules("cumsum", cumsum_stub)
    check_rules("cumsum", cumsum_silent)


def test_rule_check_allows_arange_where_operators_and_other_puzzles():
    check_rules("cumsum", cumsum)
    check_rules("triu", triu)


def test_rule_check_forbids_calling_itself():
    with pytest.raises(CheckFailure, match=r"uses cumsum_recursive"):
        check_rules("cumsum_recursive", cumsum_recursive)


@pytest.mark.parametrize("source, what", [
    ("def f(a):\n    return torch.flip(a, (0,))\n", "torch.flip"),
    ("def f(a):\n    return sum(a)\n", "sum"),
    ("def f(a):\n    return ones(3)\n", "ones (which is torch.ones)"),
    ("def f(a):\n    return rearrange(a, 'i -> i')\n", "rearrange (which is einops.rearrange)"),
    ("def f(a):\n    return [x for x in a]\n", "a list comprehension"),
    ("def f(a):\n    while True:\n        return a\n", "a while loop"),
    ("def f(a):\n    import numpy\n    return a\n", "an import"),
    ("def f(a):\n    return (a * 2).sum()\n", "the method .sum() (on a * 2)"),
    ("def f(a):\n    g = torch.arange\n    return g(3)\n", "g"),
])
def test_rule_violations_name_what_they_found(source, what):
    import einops

    namespace = {"torch": torch, "ones": torch.ones, "rearrange": einops.rearrange}
    found = rule_violations(source, namespace, own_name="f")
    assert found and found[0][1] == what, found


def test_rule_violations_allow_the_allowed_list():
    source = textwrap.dedent("""
        def f(a, j):
            n = len(a) + int(a.shape[0]) - a.shape[0]
            m = torch.where(torch.arange(n)[:, None] < arange(n), 1, 0)
            return where(m == 1, a[arange(n)] @ m, -a) & ~(a | 1) // 2 % 3 ** 1, ones(j), lambda x: x[None]
    """)
    def ones(i):
        return i

    namespace = {"torch": torch, "arange": arange, "where": where, "ones": ones}
    assert rule_violations(source, namespace, own_name="f") == []


def test_rule_violations_count_lines_from_first_line():
    found = rule_violations("def f(a):\n    x = 1\n    return torch.cumsum(a, 0)\n", {"torch": torch},
                            own_name="f", first_line=10)
    assert found == [(12, "torch.cumsum")]


def test_a_name_rebound_to_a_builtin_is_not_a_puzzle():
    source = "def f(a):\n    return cumsum(a)\n"
    assert rule_violations(source, {"cumsum": torch.cumsum}, own_name="f") == [(2, "cumsum (which is torch.cumsum)")]
    assert rule_violations(source, {"cumsum": cumsum}, own_name="f") == []


# --------------------------------------------------------------------------- check_puzzle
def test_a_correct_puzzle_passes():
    check_puzzle("cumsum", cumsum, reference, INPUTS, examples=[(torch.tensor([1, 2, 3]),)])


def test_a_forbidden_call_fails_even_when_the_results_are_right():
    with pytest.raises(CheckFailure, match=r"uses torch\.cumsum"):
        check_puzzle("cumsum", cumsum_builtin, reference, INPUTS, examples=[(torch.tensor([1]),)])


def test_the_stub_raises_not_implemented_error_itself():
    with pytest.raises(NotImplementedError, match="replace this line") as info:
        check_puzzle("cumsum", cumsum_stub, reference, INPUTS, examples=[(torch.tensor([1, 2]),)])
    assert type(info.value) is NotImplementedError
    with pytest.raises(NotImplementedError) as info:  # no examples: raised inside hypothesis
        check_puzzle("cumsum", cumsum_stub, reference, INPUTS)
    assert type(info.value) is NotImplementedError


def test_not_implemented_error_found_by_the_search_stays_itself():
    with pytest.raises(NotImplementedError, match="long vectors") as info:
        check_puzzle("cumsum", cumsum_todo_when_long, reference, INPUTS)
    assert type(info.value) is NotImplementedError


def test_calling_an_unsolved_puzzle_names_it():
    def triu_stub(j):
        raise NotImplementedError("replace this line with your code")

    triu_stub.__code__ = triu_stub.__code__.replace(co_name="triu")

    def cumsum_using_stub(a):
        return a @ triu_stub(a.shape[0])

    for examples in ([(torch.tensor([1, 2]),)], []):  # found by an example, then by the search
        with pytest.raises(CheckFailure) as info:
            check_puzzle("cumsum", cumsum_using_stub, reference, INPUTS, examples=examples, rules=False)
        assert str(info.value).splitlines()[0] == (
            "[cumsum] calls triu, which is not solved yet (it raises NotImplementedError)")
        assert isinstance(info.value.__cause__, NotImplementedError)


def test_returning_none_says_so_with_the_input():
    with pytest.raises(CheckFailure) as info:
        check_puzzle("cumsum", cumsum_silent, reference, INPUTS, examples=[(torch.tensor([1, 2]),)])
    assert str(info.value).splitlines()[0] == (
        "[cumsum] returned None for a = tensor([1, 2]): did you forget to `return` the result?")
    with pytest.raises(CheckFailure, match=r"returned None for a = tensor\(\[\]"):
        check_puzzle("cumsum", cumsum_silent, reference, INPUTS)


def test_a_wrong_result_shows_the_shrunk_counterexample():
    with pytest.raises(CheckFailure) as info:
        check_puzzle("cumsum", cumsum_wrong_from_3, reference, INPUTS, examples=[(torch.tensor([1, 2]),)])
    lines = str(info.value).splitlines()
    # hypothesis shrinks to the smallest failing input: three elements, two zeros and a one
    assert lines[0] == "[cumsum] wrong result for a = tensor([0, 0, 1])"
    assert lines[1].strip() == "expected tensor([0, 0, 1])"
    assert lines[2].strip() == "got      tensor([0, 0, 0])"
    assert "first at index (2,)" in lines[3]


def test_the_search_is_deterministic():
    messages = []
    for _ in range(2):
        with pytest.raises(CheckFailure) as info:
            check_puzzle("cumsum", cumsum_wrong_from_3, reference, INPUTS)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_an_exception_becomes_a_check_failure_naming_the_input():
    with pytest.raises(CheckFailure) as info:
        check_puzzle("cumsum", cumsum_crash_from_3, reference, INPUTS)
    first = str(info.value).splitlines()[0]
    assert first.startswith("[cumsum] raised RuntimeError for a = tensor([0, 0, 0]): ")
    assert isinstance(info.value.__cause__, RuntimeError)


def test_a_wrong_dtype_is_reported():
    def cumsum_float(a):
        return a @ triu(a.shape[0]) * 1.0

    with pytest.raises(CheckFailure, match=r"wrong result for a = .*\n.*\n.*\n.*wrong dtype: expected torch.int64"):
        check_puzzle("cumsum", cumsum_float, reference, INPUTS, examples=[(torch.tensor([1]),)])


def test_a_flaky_puzzle_still_reports_a_check_failure():
    calls = {"n": 0}

    def cumsum_flaky(a):
        calls["n"] += 1
        return a @ triu(a.shape[0]) + (calls["n"] % 7 == 0)

    with pytest.raises(CheckFailure, match=r"^\[cumsum\] wrong result for a = "):
        check_puzzle("cumsum", cumsum_flaky, reference, INPUTS, rules=False)


def test_inputs_are_copied_so_in_place_changes_do_not_fool_the_reference():
    def cumsum_in_place(a):
        a[:] = a @ triu(a.shape[0])
        return a

    check_puzzle("cumsum", cumsum_in_place, reference, INPUTS, rules=False)


def test_arguments_are_named_after_the_parameters():
    assert puzzles.describe_inputs(lambda values, j: None, (torch.tensor([[1, 2], [3, 4]]), 3)) == (
        "values = tensor([[1, 2], [3, 4]]), j = 3")


def test_no_hypothesis_directory_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_puzzle("cumsum", cumsum, reference, INPUTS, max_examples=10)
    with pytest.raises(CheckFailure):
        check_puzzle("cumsum", cumsum_wrong_from_3, reference, INPUTS)
    assert os.listdir(tmp_path) == []


def test_strategies_draw_int64_tensors_of_the_asked_shapes():
    seen = []

    def record(a, m):
        seen.append((a, m))
        return a

    check_puzzle("record", record, lambda a, m: a, st.tuples(vectors(0, 3, 1, 4), puzzles.square_matrices(max_n=3)),
                 max_examples=20, rules=False)
    for a, m in seen:
        assert a.dtype == torch.long and 1 <= len(a) <= 4 and int(a.min()) >= 0 and int(a.max()) <= 3
        assert m.dtype == torch.long and m.ndim == 2 and m.shape[0] == m.shape[1] <= 3
