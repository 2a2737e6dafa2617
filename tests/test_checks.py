"""course.checks: the messages themselves are the product, so the tests read them."""

from pathlib import Path

import numpy as np
import pytest
import torch

from course import checks
from course.checks import CheckFailure


def message(fn, *args, **kwargs) -> str:
    with pytest.raises(CheckFailure) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_passing_checks_are_silent():
    checks.assert_close("ex", np.ones((2, 3)), np.ones((2, 3)))
    checks.assert_close("ex", torch.ones(3), torch.ones(3))
    checks.assert_equal("ex", np.arange(4), np.arange(4))
    checks.assert_equal("ex", "abc", "abc")
    checks.assert_shape("ex", np.zeros((2, 5)), (2, None))
    checks.assert_true("ex", True, "never shown")


def test_is_an_assertion_error_whose_first_line_names_the_exercise():
    with pytest.raises(AssertionError) as info:
        checks.assert_close("softmax", np.zeros(2), np.ones(2))
    assert str(info.value).splitlines()[0].startswith("[softmax] ")


def test_shape_mismatch_names_both_shapes_and_suggests_transpose():
    msg = message(checks.assert_close, "attn", np.zeros((4, 3)), np.zeros((3, 4)))
    assert "[attn] result has the wrong shape: expected (3, 4), got (4, 3)" in msg
    assert "did you transpose?" in msg


def test_missing_dimension_suggests_keepdims():
    msg = message(checks.assert_close, "norm", np.zeros(3), np.zeros((3, 1)))
    assert "expected (3, 1), got (3,)" in msg
    assert "keepdims=True" in msg


def test_dtype_mismatch_names_both_dtypes_and_the_typical_cause():
    msg = message(checks.assert_close, "mean", np.array([1, 2]), np.array([1.0, 2.0]))
    assert "wrong dtype: expected float64, got int64" in msg
    assert "integer arithmetic" in msg
    msg = message(checks.assert_close, "mean", torch.ones(2, dtype=torch.float64), torch.ones(2))
    assert "expected torch.float32, got torch.float64" in msg


def test_value_mismatch_gives_first_index_both_values_and_errors():
    expected = np.arange(6.0).reshape(2, 3)
    actual = expected.copy()
    actual[1, 2] = 7.5
    msg = message(checks.assert_close, "ex", actual, expected)
    first = msg.splitlines()[0]
    assert "differs at 1 of 6 positions; first at index (1, 2): expected 5, got 7.5" in first
    assert "max abs error 2.5, max rel error 0.5" in msg


def test_nan_is_reported_with_its_index_and_a_cause():
    actual = np.array([0.5, np.nan, 0.5])
    msg = message(checks.assert_close, "softmax", actual, np.array([0.5, 0.0, 0.5]))
    assert "1 NaN value(s) where the expected is finite" in msg
    assert "first NaN at index (1,)" in msg
    assert "subtract the max" in msg


def test_inf_is_reported():
    msg = message(checks.assert_close, "ex", np.array([np.inf, 1.0]), np.array([1.0, 1.0]))
    assert "1 inf value(s)" in msg


def test_transposed_values_are_recognised():
    e = np.arange(9.0).reshape(3, 3)
    msg = message(checks.assert_close, "matmul", e.T, e)
    assert "equals the expected one transposed" in msg


def test_constant_factor_is_recognised():
    e = np.array([1.0, 2.0, 3.0])
    msg = message(checks.assert_close, "scores", e / 8, e)
    assert "off by the same factor (0.125)" in msg


def test_constant_offset_and_sign_flip_are_recognised():
    e = np.array([1.0, 2.0, 3.0])
    assert "off by the same amount (1)" in message(checks.assert_close, "ex", e + 1, e)
    assert "sign flipped" in message(checks.assert_close, "ex", -e, e)


def test_permuted_values_are_recognised():
    msg = message(checks.assert_close, "topk", np.array([3.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    assert "right values in the wrong order" in msg


def test_causal_mask_hint():
    e = np.tril(np.ones((4, 4)))
    msg = message(checks.assert_close, "attn", np.ones((4, 4)), e)
    assert "causal mask" in msg


def test_none_means_a_forgotten_return():
    msg = message(checks.assert_close, "ex", None, np.ones(2))
    assert "is None: did you forget to `return`" in msg


def test_kind_mismatch_tensor_vs_array():
    msg = message(checks.assert_close, "ex", np.ones(2, dtype=np.float32), torch.ones(2))
    assert "expected a torch.Tensor, got numpy.ndarray" in msg


def test_tolerances_are_configurable_per_call_and_per_block():
    a, e = np.array([1.0005]), np.array([1.0])
    with pytest.raises(CheckFailure):
        checks.assert_close("ex", a, e)
    checks.assert_close("ex", a, e, rtol=1e-3)
    with checks.tolerance(rtol=1e-3):
        checks.assert_close("ex", a, e)
    with pytest.raises(CheckFailure) as info:
        checks.assert_close("ex", a, e)
    assert "rtol=1e-07" in str(info.value)


def test_float32_defaults_are_looser_than_float64():
    e = np.array([1.0], dtype=np.float32)
    checks.assert_close("ex", e * (1 + 1e-6), e)


def test_hint_is_appended():
    msg = message(checks.assert_close, "ex", np.zeros(2), np.ones(2), hint="look at the axis")
    assert msg.splitlines()[-1].strip() == "hint: look at the axis"


def test_assert_equal_on_strings_lists_and_dicts():
    assert "first difference at character 2: expected 'c'" in message(checks.assert_equal, "tok", "abx", "abc")
    msg = message(checks.assert_equal, "tok", ["a", "b"], ["a", "c", "d"])
    assert "expected length 3, got 2" in msg and "position 1: expected 'c', got 'b'" in msg
    msg = message(checks.assert_equal, "vocab", {"a": 1, "z": 3}, {"a": 2, "b": 1})
    assert "missing keys: 'b'" in msg and "unexpected keys: 'z'" in msg and "at key 'a': expected 2, got 1" in msg


def test_assert_equal_is_exact_for_integers():
    msg = message(checks.assert_equal, "onehot", np.array([0, 1, 1]), np.array([0, 1, 0]))
    assert "first at index (2,): expected 0, got 1" in msg


def test_assert_shape_with_wildcards():
    msg = message(checks.assert_shape, "ex", np.zeros((3, 2)), (None, 3))
    assert "expected (*, 3), got (3, 2)" in msg


def test_assert_raises():
    def bad(x):
        raise ValueError("x must be positive")

    checks.assert_raises("ex", ValueError, bad, 1, match="positive")
    assert "expected ValueError to be raised, but the call returned 2" in message(
        checks.assert_raises, "ex", ValueError, lambda: 2)
    assert "but TypeError was raised" in message(
        checks.assert_raises, "ex", ValueError, lambda: (_ for _ in ()).throw(TypeError("no")))


def test_assert_raises_lets_the_stub_through():
    def stub():
        raise NotImplementedError

    with pytest.raises(NotImplementedError):
        checks.assert_raises("ex", ValueError, stub)


def test_bfloat16_tensors_are_compared():
    checks.assert_close("ex", torch.ones(2, dtype=torch.bfloat16), torch.ones(2, dtype=torch.bfloat16))


def test_importing_course_stays_light():
    import subprocess
    import sys

    code = ("import sys, course, course.checks, course.authoring.lessons, course.authoring.runner, course.cli; "
            "print(sorted(m for m in ('torch','transformer_lens','transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"import course pulled in heavy modules: {out.strip()}"


def test_nan_cause_covers_sqrt_and_division():
    with np.errstate(invalid="ignore"):
        bad = np.sqrt(np.array([-1.0, 1.0]))
    msg = message(checks.assert_close, "dist", bad, np.array([0.0, 1.0]))
    assert "sqrt of a negative number" in msg and "0/0" in msg
    assert "max abs error" not in msg  # the only difference is the NaN: no "max abs error 0" line


def test_assert_raises_message_is_one_line_for_arrays():
    msg = message(checks.assert_raises, "ex", ValueError, lambda: np.zeros((2, 3)))
    assert len(msg.splitlines()) == 1 and "returned array([[0., 0., 0.], [0., 0., 0.]])" in msg


def test_tuples_compare_as_python_values():
    msg = message(checks.assert_equal, "broadcast_shape", (3, 4), (2, 3, 4))
    assert "expected (2, 3, 4), got (3, 4)" in msg and "expected length 3, got 2" in msg
    checks.assert_equal("ex", (2, 3), (2, 3))


def test_call_names_the_case_and_lets_the_stub_through():
    def f(x):
        return x.reshape(5)

    msg = message(checks.call, "ex", f, np.zeros(4), case="a (4,) array")
    assert msg.splitlines()[0].startswith("[ex] f raised ValueError on a (4,) array: cannot reshape")

    def stub(x):
        raise NotImplementedError

    with pytest.raises(NotImplementedError):
        checks.call("ex", stub, 1, case="anything")


def test_assert_no_loops_names_the_loop_and_its_line():
    def looped(x):
        out = 0
        for v in x:
            out += v
        return out

    def comp(x):
        return np.array([v * 2 for v in x])

    def vec(x):
        return np.vectorize(lambda v: v)(x)

    def uses_at(a, b):
        return a @ b

    assert "uses a `for` loop on line 3 of its definition" in message(checks.assert_no_loops, "ex", looped)
    assert "a list comprehension on line 2" in message(checks.assert_no_loops, "ex", comp)
    assert "`vectorize` (a loop in disguise)" in message(checks.assert_no_loops, "ex", vec)
    assert "the `@` operator" in message(checks.assert_no_loops, "ex", uses_at, forbidden=("@",))
    checks.assert_no_loops("ex", uses_at)
    checks.assert_no_loops("ex", lambda x: x + 1)


def test_factor_two_suggests_double_counting():
    e = np.array([1.0, 2.0, 3.0])
    assert "counted twice" in message(checks.assert_close, "grad", 2 * e, e)
    assert "half of something missing" in message(checks.assert_close, "grad", e / 2, e)


def test_no_relative_error_against_zero():
    msg = message(checks.assert_equal, "ex", np.array([1, 0]), np.array([0, 0]))
    assert "max abs error 1 (rtol=0, atol=0)" in msg and "rel" not in msg.split("max abs error")[1].split("(")[0]


def test_tiny_absolute_but_large_relative_errors_are_not_called_precision():
    e = np.array([0.01, 0.14])
    msg = message(checks.assert_close, "mlp", e + np.array([1e-3, 0.0]), e)
    assert "float precision" not in msg
    msg = message(checks.assert_close, "mlp", e * (1 + 1e-5) + np.array([0, 1e-7]), e)
    assert "float precision" in msg


def test_correctly_masked_patterns_that_differ_in_scale_do_not_blame_the_mask():
    import numpy as np

    rng = np.random.default_rng(0)
    s = rng.normal(size=(2, 3, 5, 5))
    upper = np.triu(np.ones((5, 5), dtype=bool), k=1)

    def pattern(x):
        x = np.where(upper, -np.inf, x)
        x = np.exp(x - x.max(-1, keepdims=True))
        return x / x.sum(-1, keepdims=True)

    with pytest.raises(checks.CheckFailure) as info:
        checks.assert_close("attn", pattern(s * 4), pattern(s))
    assert "mask looks right" in str(info.value) and "wrong side" not in str(info.value)


# --------------------------------------------------------------------------- issue 18: errors inside learner code
def test_a_broadcasting_error_in_learner_code_gets_the_shapes_and_the_usual_cause():
    def standardise(x):
        return x - x.mean(axis=1)  # the classic: a (2,) row mean against a (2, 3) array

    with pytest.raises(checks.CheckFailure) as info:
        checks.call("standardise", standardise, np.ones((2, 3)), case="a (2, 3) array")
    text = str(info.value)
    assert "shapes (2,3) (2,)" in text and "axis -1 has size 3 in one and 2 in the other" in text
    assert "keepdims=True" in text and "x[:, None]" in text


def test_explain_knows_torch_shape_and_dtype_errors_and_nothing_else():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError) as info:
        torch.ones(2, 3) @ torch.ones(2, 4)
    assert "inner sizes 3 and 2 must be equal" in checks.explain(info.value)[0]
    with pytest.raises(RuntimeError) as info:
        torch.ones(2, 3) - torch.ones(2)
    assert "axis 1 has size 3 in one tensor and 2" in checks.explain(info.value)[0]
    assert checks.explain(ValueError("something else")) == []


def test_in_a_kernel_an_error_outside_call_gets_the_diagnosis_in_its_message():
    """What `bootcamp check` and the grader read: the error output's evalue (IPython's custom handler)."""
    import nbformat

    from course.authoring.runner import execute

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np\nfrom course import checks"),
                nbformat.v4.new_code_cell("np.ones((2, 3)) - np.ones(2)"),
                nbformat.v4.new_code_cell("raise ValueError('not a known one')")]
    execute(nb, Path(__file__).parent, timeout=120)
    (err,) = nb.cells[1].outputs
    assert err["ename"] == "ValueError" and "shapes (2,3) (2,)" in err["evalue"]
    assert "likely cause" in err["evalue"] and any("likely cause" in line for line in err["traceback"])
    assert nb.cells[2].outputs[0]["evalue"] == "not a known one"
