"""Assertion helpers that every test cell uses.

A failing check raises :class:`CheckFailure` (an ``AssertionError``) whose first line
says what is wrong in one sentence, followed by the numbers a learner needs to find the
bug: expected vs actual shape and dtype, the first differing index with both values,
the largest absolute and relative error, NaN/inf counts, and a likely cause where one is
typical ("did you transpose?").

Every helper takes the exercise name first, so the message says which exercise failed::

    from course import checks
    checks.assert_close("softmax", softmax(x), expected)

Lesson-specific parts live beside it, each imported by the lessons that need it:
``gpt.py`` (2.1: a GPT layer by layer against transformers' GPT-2), ``optim.py`` (1.2:
optimisers step for step against torch.optim), ``gradcheck.py`` (1.1: gradients against
torch and finite differences), ``puzzles.py`` (0.2: the tensor puzzles' rule check and
hypothesis harness), ``code.py`` (which code a rule check reads: the code that runs, for
:func:`assert_no_loops` and the puzzles).

This module imports numpy only. Torch tensors are accepted (and converted) without
importing torch here, so ``import course.checks`` stays fast.
"""

from __future__ import annotations

import ast
import contextlib
import math
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CheckFailure",
    "assert_close",
    "assert_equal",
    "assert_shape",
    "assert_dtype",
    "assert_true",
    "assert_raises",
    "assert_no_loops",
    "call",
    "explain",
    "tolerance",
    "default_tolerance",
]


class CheckFailure(AssertionError):
    """A check failed. ``str(err)`` starts with ``[exercise] one-line summary``."""

    def __init__(self, exercise: str, summary: str, details: list[str] | None = None):
        self.exercise = exercise
        self.summary = summary
        self.details = list(details or [])
        lines = [f"[{exercise}] {summary}"] + [f"    {d}" for d in self.details]
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------- tolerances
# Defaults per dtype, close to torch.testing.assert_close's.
_DTYPE_TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
}
_FALLBACK_TOLERANCE = (1.3e-6, 1e-5)
_override: list[tuple[float | None, float | None]] = []


@contextlib.contextmanager
def tolerance(rtol: float | None = None, atol: float | None = None) -> Iterator[None]:
    """Loosen or tighten the default tolerances of every check inside the block.

    >>> with tolerance(rtol=1e-3, atol=1e-4):
    ...     assert_close("ex", [1.0], [1.0005])
    """
    _override.append((rtol, atol))
    try:
        yield
    finally:
        _override.pop()


def default_tolerance(dtype_name: str) -> tuple[float, float]:
    """(rtol, atol) used for a dtype when the call gives none."""
    rtol, atol = _DTYPE_TOLERANCES.get(dtype_name, _FALLBACK_TOLERANCE)
    for o_rtol, o_atol in _override:
        rtol = o_rtol if o_rtol is not None else rtol
        atol = o_atol if o_atol is not None else atol
    return rtol, atol


# --------------------------------------------------------------------------- conversion
@dataclass
class _Value:
    """An array-like turned into numpy, remembering what it was for messages."""

    array: np.ndarray
    kind: str  # "torch.Tensor", "numpy.ndarray", "scalar", "sequence"
    dtype: str  # as the learner would write it: "float32", "torch.float32", "int"


def _is_torch_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and issubclass(type(x), torch.Tensor)


# Checks look at ``type(x)``, never at ``isinstance`` alone: an object's ``__class__`` can claim
# to be an array. What is not an array, a tensor, a number or a list/tuple of them is refused
# here, before any of its methods could take part in a comparison (issue 16: in the grading
# service a learner's object is a proxy whose methods run in the learner's process).
def _library_object(x: Any) -> bool:
    """An object of Python's own, numpy's or torch's classes (a date, a path, a number): not one
    whose class the learner wrote, nor a grading proxy standing in for one."""
    top = (getattr(type(x), "__module__", None) or "").split(".")[0]
    return top in sys.stdlib_module_names or top in ("numpy", "torch")


def _not_an_array(x: Any) -> TypeError:
    return TypeError(f"a {type(x).__name__} is not an array, a tensor or a number")


def _convert(x: Any, strict: bool = True) -> _Value:
    """``strict`` for a learner's result; a test's expected value may be any array-like."""
    t = type(x)
    if _is_torch_tensor(x):
        t = x.detach()
        if t.is_complex():
            arr = t.cpu().numpy()
        elif t.dtype.is_floating_point and t.dtype not in _NUMPY_FLOATS_IN_TORCH():
            arr = t.float().cpu().numpy()  # bfloat16 and friends
        else:
            arr = t.cpu().numpy()
        return _Value(arr, "torch.Tensor", str(t.dtype))
    if issubclass(t, np.ndarray):
        return _Value(x, "numpy.ndarray", str(x.dtype))
    if issubclass(t, np.generic):
        return _Value(np.asarray(x), "numpy scalar", str(x.dtype))
    if issubclass(t, bool):
        return _Value(np.asarray(x), "scalar", "bool")
    if issubclass(t, (int, float, complex)):
        return _Value(np.asarray(x), "scalar", t.__name__ if t in (int, float, complex) else
                      next(b.__name__ for b in (int, float, complex) if issubclass(t, b)))
    if strict and not _library_object(x):
        raise _not_an_array(x)
    arr = np.asarray(x)
    if strict and arr.dtype == object:
        for e in arr.flat:
            if not _library_object(e):
                raise _not_an_array(e)
    return _Value(arr, "sequence", str(arr.dtype))


def _NUMPY_FLOATS_IN_TORCH() -> tuple:
    torch = sys.modules["torch"]
    return (torch.float16, torch.float32, torch.float64)


def _dtype_base(dtype: str) -> str:
    return dtype.replace("torch.", "")


def _dtype_family(dtype: str) -> str:
    d = _dtype_base(dtype)
    if d.startswith(("float", "bfloat", "half", "double")) or d == "float":
        return "float"
    if d.startswith(("int", "uint", "long")) or d == "int":
        return "int"
    if d.startswith("bool"):
        return "bool"
    if d.startswith("complex"):
        return "complex"
    return d


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return repr(v.item()) if isinstance(v, np.generic) else repr(v)


def _fmt_index(idx: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(int(i)) for i in idx) + ("," if len(idx) == 1 else "") + ")"


# --------------------------------------------------------------------------- diagnoses
def _shape_causes(actual: tuple, expected: tuple) -> list[str]:
    causes = []
    if len(actual) == len(expected) >= 2 and actual[:-2] + actual[-2:][::-1] == expected:
        causes.append("the last two dimensions are swapped: did you transpose?")
    elif len(actual) == len(expected) >= 2 and actual == expected[::-1]:
        causes.append("the dimensions are reversed: did you transpose?")
    if len(actual) == len(expected) - 1 and any(
        expected[:i] + expected[i + 1 :] == actual for i in range(len(expected))
    ):
        causes.append("a dimension is missing: did a sum/mean/max drop it? (keepdims=True keeps it)")
    if len(actual) == len(expected) + 1 and any(
        actual[:i] + actual[i + 1 :] == expected and actual[i] == 1 for i in range(len(actual))
    ):
        causes.append("there is an extra dimension of size 1: squeeze it, or reduce without keepdims")
    if (
        not causes
        and math.prod(actual) == math.prod(expected)
        and actual != expected
    ):
        causes.append("the number of elements is right: did you reshape or flatten the wrong axes?")
    if not causes and len(actual) == len(expected):
        try:
            np.broadcast_shapes(actual, expected)
            causes.append("the shapes broadcast together: did an operation broadcast where you meant it to match?")
        except ValueError:
            pass
    return causes


def _value_causes(a: np.ndarray, e: np.ndarray, close: Callable[[np.ndarray, np.ndarray], bool],
                  bad: np.ndarray) -> list[str]:
    causes: list[str] = []
    if a.ndim >= 2 and a.shape[-1] == a.shape[-2] and close(np.swapaxes(a, -1, -2), e):
        return ["your result equals the expected one transposed: did you transpose (or swap two indices)?"]
    if close(-a, e):
        return ["your result is the expected one with the sign flipped"]
    finite = np.isfinite(a) & np.isfinite(e)
    if a.size > 1 and finite.all() and np.issubdtype(a.dtype, np.number):
        nz = np.abs(e) > 1e-12
        if nz.sum() >= 2:
            ratio = a[nz] / e[nz]
            r0 = ratio.flat[0]
            if np.allclose(ratio, r0, rtol=1e-4) and abs(r0 - 1) > 1e-4 and abs(r0) > 1e-12:
                if abs(r0 - 2) < 1e-4:
                    why = "something counted twice (a gradient accumulated twice, a term added twice)?"
                elif abs(r0 - 0.5) < 1e-4:
                    why = "half of something missing (one of two contributions, a factor 2 in a derivative)?"
                else:
                    why = "a missing or extra normalisation or scale (a mean vs a sum, 1/n, 1/sqrt(d))?"
                causes.append(f"every value is off by the same factor ({_fmt(r0)}): {why}")
                return causes
        diff = a - e
        d0 = diff.flat[0]
        if np.allclose(diff, d0, rtol=0, atol=1e-6 + 1e-6 * abs(d0)) and abs(d0) > 0:
            causes.append(f"every value is off by the same amount ({_fmt(d0)}): a missing or extra offset?")
            return causes
        if a.ndim >= 1 and close(np.sort(a, axis=None).reshape(e.shape), np.sort(e, axis=None).reshape(e.shape)):
            causes.append("you have the right values in the wrong places: check the axis you used"
                          if a.ndim > 1 else "you have the right values in the wrong order")
            return causes
    if a.ndim >= 2 and a.shape[-1] == a.shape[-2] and a.shape[-1] > 1:
        n = a.shape[-1]
        upper = np.triu(np.ones((n, n), dtype=bool), k=1)
        bad_2d = bad.reshape(-1, n, n).any(axis=0)
        if bad_2d.any() and not (bad_2d & ~upper).any():
            causes.append("only values above the diagonal differ: did you forget the causal mask?")
        elif bad_2d.any() and not (bad_2d & upper).any():
            # Above the diagonal everything matches, so the mask itself is right: the values it
            # lets through are not (a scale, the softmax axis, the scores themselves).
            causes.append("values above the diagonal match (the mask looks right); those on or below it differ: "
                          "check the scores before the mask (scale, which axis)")
    return causes


# --------------------------------------------------------------------------- checks
def _fail(exercise: str, summary: str, details: list[str], hint: str | None) -> None:
    if hint:
        details = details + [f"hint: {hint}"]
    raise CheckFailure(exercise, summary, details)


def _compare_kinds(exercise: str, a: _Value, e: _Value, name: str, hint: str | None) -> None:
    if a.kind == "torch.Tensor" and e.kind != "torch.Tensor" and e.kind == "numpy.ndarray":
        _fail(exercise, f"{name}: expected a numpy.ndarray, got a torch.Tensor",
              ["convert with .numpy(), or use numpy functions throughout"], hint)
    if e.kind == "torch.Tensor" and a.kind != "torch.Tensor":
        _fail(exercise, f"{name}: expected a torch.Tensor, got {a.kind}",
              ["build the result with torch operations (torch.as_tensor converts)"], hint)
    if e.kind == "numpy.ndarray" and a.kind not in ("numpy.ndarray", "torch.Tensor") and e.array.ndim > 0:
        _fail(exercise, f"{name}: expected a numpy.ndarray, got {a.kind}",
              ["np.asarray(...) converts a list"], hint)


def _prepare(exercise: str, actual: Any, expected: Any, name: str, hint: str | None,
             check_dtype: bool) -> tuple[_Value, _Value]:
    if actual is None and expected is not None:
        _fail(exercise, f"{name} is None: did you forget to `return` the result?", [], hint)
    try:
        a = _convert(actual)
    except Exception as err:  # a value numpy cannot make an array of
        what = f"{type(actual).__name__}, which is not an array, a tensor or a number" \
            if "is not an array" in str(err) else f"{type(actual).__name__}, which is not an array ({err})"
        _fail(exercise, f"{name}: got {what}", ["return a numpy array, a torch tensor or a number"], hint)
    e = _convert(expected, strict=False)
    _compare_kinds(exercise, a, e, name, hint)
    if a.array.shape != e.array.shape:
        details = [f"likely cause: {c}" for c in _shape_causes(tuple(a.array.shape), tuple(e.array.shape))]
        _fail(exercise, f"{name} has the wrong shape: expected {tuple(e.array.shape)}, got "
              f"{tuple(a.array.shape)}", details, hint)
    if a.array.dtype == object or e.array.dtype == object:
        return a, e
    if check_dtype and _dtype_base(a.dtype) != _dtype_base(e.dtype) and a.kind != "scalar" and e.kind != "scalar":
        fa, fe = _dtype_family(a.dtype), _dtype_family(e.dtype)
        details = []
        if fe == "float" and fa == "int":
            details.append("likely cause: integer arithmetic: use / rather than //, or convert with .astype(float) / .float()")
        elif fe == "int" and fa == "float":
            details.append("likely cause: a division or mean made floats: use // or convert with .astype(int) / .long()")
        elif fe == "float" and fa == "float":
            details.append("likely cause: a constant or intermediate of another precision (np.float64 by default; torch.float32)")
        elif fe == "bool":
            details.append("likely cause: return the comparison itself (a boolean mask), not numbers")
        _fail(exercise, f"{name} has the wrong dtype: expected {e.dtype}, got {a.dtype}", details, hint)
    return a, e


def _nan_details(a: np.ndarray, e: np.ndarray) -> tuple[str | None, list[str]]:
    if not (np.issubdtype(a.dtype, np.inexact) or np.issubdtype(a.dtype, np.complexfloating)):
        return None, []
    for label, test in (("NaN", np.isnan), ("inf", np.isinf)):
        extra = test(a) & ~test(e)
        if extra.any():
            first = _fmt_index(tuple(np.argwhere(extra)[0])) if a.ndim else "()"
            cause = ("0/0, inf - inf, log or sqrt of a negative number, or exp overflowing "
                     "(subtract the max before exp)?" if label == "NaN" else "exp overflowing, or a division by zero?")
            return (f"has {int(extra.sum())} {label} value(s) where the expected is finite",
                    [f"first {label} at index {first}", f"likely cause: {cause}"])
    return None, []


def assert_close(exercise: str, actual: Any, expected: Any, *, rtol: float | None = None,
                 atol: float | None = None, name: str = "result", hint: str | None = None,
                 check_dtype: bool = True) -> None:
    """Check that ``actual`` equals ``expected`` within a tolerance.

    Accepts numpy arrays, torch tensors, Python scalars and nested lists. On failure the
    message names the exercise and gives shape, dtype, first differing index, max
    absolute/relative error, NaN/inf and a likely cause. ``rtol``/``atol`` default to
    per-dtype values (see :func:`tolerance` to change them for a block).
    """
    a, e = _prepare(exercise, actual, expected, name, hint, check_dtype)
    aa, ee = a.array, e.array
    if aa.dtype == object or ee.dtype == object:
        if not _objects_equal(actual, expected):
            _fail(exercise, f"{name} differs: expected {expected!r}, got {actual!r}", [], hint)
        return
    d_rtol, d_atol = default_tolerance(_dtype_base(e.dtype if e.kind != "scalar" else a.dtype))
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    if ee.dtype == bool or aa.dtype == bool:
        aa, ee = aa.astype(np.int64), ee.astype(np.int64)

    def close(x: np.ndarray, y: np.ndarray) -> bool:
        return bool(np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True))

    af = aa.astype(np.complex128 if np.iscomplexobj(aa) or np.iscomplexobj(ee) else np.float64)
    ef = ee.astype(af.dtype)
    with np.errstate(all="ignore"):
        bad = ~np.isclose(af, ef, rtol=rtol, atol=atol, equal_nan=True)
    if not bad.any():
        return
    nan_summary, nan_details = _nan_details(af, ef)
    with np.errstate(all="ignore"):
        abs_err = np.abs(af - ef)
        # relative error only where the expected value is not ~0 (else it means nothing)
        rel_ok = np.abs(ef) > max(atol, np.finfo(np.float64).tiny)
        rel_err = np.where(rel_ok, abs_err / np.where(rel_ok, np.abs(ef), 1.0), 0.0)
        finite_err = np.isfinite(abs_err)
    if aa.ndim == 0:
        summary = f"{name} differs: expected {_fmt(ee.item())}, got {_fmt(aa.item())}"
        details = []
    else:
        idx = tuple(np.argwhere(bad)[0])
        summary = (f"{name} differs at {int(bad.sum())} of {bad.size} positions; first at index "
                   f"{_fmt_index(idx)}: expected {_fmt(ee[idx])}, got {_fmt(aa[idx])}")
        details = []
    finite_err &= bad
    if finite_err.any():
        rel_part = (f", max rel error {_fmt(rel_err[finite_err & rel_ok].max())}"
                    if (finite_err & rel_ok).any() else "")  # relative to 0 means nothing
        details.append(f"max abs error {_fmt(abs_err[finite_err].max())}{rel_part} (rtol={rtol:g}, atol={atol:g})")
    if nan_summary:
        summary = f"{name} {nan_summary}"
        details = nan_details + details
    else:
        with np.errstate(all="ignore"):
            causes = _value_causes(af, ef, close, bad) if af.ndim else []
        small_rel = not (finite_err & rel_ok).any() or rel_err[finite_err & rel_ok].max() < 1e-3
        if not causes and finite_err.any() and small_rel and \
                abs_err[finite_err].max() < 1e-3 * max(1.0, float(np.abs(ef[np.isfinite(ef)]).max(initial=0))):
            causes.append("the errors are tiny: float precision? Compute in the expected dtype, or pass a looser rtol/atol")
        details += [f"likely cause: {c}" for c in causes]
    _fail(exercise, summary, details, hint)


def _objects_equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays inside lists: compare element-wise
        try:
            return bool(np.array_equal(np.asarray(a), np.asarray(b)))
        except Exception:
            return False


def assert_equal(exercise: str, actual: Any, expected: Any, *, name: str = "result",
                 hint: str | None = None, check_dtype: bool = True) -> None:
    """Exact equality: integer and boolean arrays, strings, lists, dicts, ``None``."""
    if isinstance(expected, (str, dict, set, frozenset)) or expected is None:
        if actual != expected:
            details = []
            if isinstance(expected, str) and isinstance(actual, str):
                i = next((k for k, (x, y) in enumerate(zip(actual, expected)) if x != y),
                         min(len(actual), len(expected)))
                details.append(f"first difference at character {i}: expected {expected[i:i+20]!r}, "
                               f"got {actual[i:i+20]!r}")
            elif isinstance(expected, dict) and isinstance(actual, dict):
                missing = sorted(map(repr, expected.keys() - actual.keys()))[:5]
                extra = sorted(map(repr, actual.keys() - expected.keys()))[:5]
                wrong = [k for k in expected if k in actual and actual[k] != expected[k]][:3]
                if missing:
                    details.append(f"missing keys: {', '.join(missing)}")
                if extra:
                    details.append(f"unexpected keys: {', '.join(extra)}")
                details += [f"at key {k!r}: expected {expected[k]!r}, got {actual[k]!r}" for k in wrong]
            _fail(exercise, f"{name} differs: expected {_short(expected)}, got {_short(actual)}", details, hint)
        return
    if isinstance(expected, tuple) or (isinstance(expected, list) and not _is_numeric_nested(expected)):
        if not isinstance(actual, (list, tuple)) or not _objects_equal(list(actual), list(expected)):
            details = []
            if isinstance(actual, (list, tuple)):
                if len(actual) != len(expected):
                    details.append(f"expected length {len(expected)}, got {len(actual)}")
                for k, (x, y) in enumerate(zip(actual, expected)):
                    if not _objects_equal(x, y):
                        details.append(f"first difference at position {k}: expected {y!r}, got {x!r}")
                        break
            _fail(exercise, f"{name} differs: expected {_short(expected)}, got {_short(actual)}", details, hint)
        return
    assert_close(exercise, actual, expected, rtol=0.0, atol=0.0, name=name, hint=hint, check_dtype=check_dtype)


def _is_numeric_nested(x: Any) -> bool:
    try:
        arr = np.asarray(x)
    except Exception:
        return False
    return arr.dtype != object and (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool)


def _short(x: Any, limit: int = 80) -> str:
    r = " ".join(repr(x).split())
    return r if len(r) <= limit else r[: limit - 3] + "..."


def assert_shape(exercise: str, actual: Any, shape: tuple, *, name: str = "result",
                 hint: str | None = None) -> None:
    """Check a shape; ``None`` in ``shape`` matches any size on that axis."""
    if actual is None:
        _fail(exercise, f"{name} is None: did you forget to `return` the result?", [], hint)
    try:
        got = tuple(actual.shape if hasattr(actual, "shape") else np.shape(actual))
    except Exception:
        _fail(exercise, f"{name}: got {type(actual).__name__}, which has no shape", [], hint)
    ok = len(got) == len(shape) and all(s is None or s == g for s, g in zip(shape, got))
    if not ok:
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        concrete = tuple(g if s is None else s for s, g in zip(shape, got)) if len(got) == len(shape) else tuple(
            s if s is not None else 1 for s in shape)
        details = [f"likely cause: {c}" for c in _shape_causes(got, concrete)]
        _fail(exercise, f"{name} has the wrong shape: expected {want}, got {got}", details, hint)


def assert_dtype(exercise: str, actual: Any, dtype: Any, *, name: str = "result",
                 hint: str | None = None) -> None:
    """Check a dtype: ``np.float32``, ``"float32"`` or ``torch.float32`` all work."""
    got = str(getattr(actual, "dtype", type(actual).__name__))
    want = str(np.dtype(dtype)) if not str(dtype).startswith("torch.") and not isinstance(dtype, str) else str(dtype)
    if _dtype_base(got) != _dtype_base(want):
        _fail(exercise, f"{name} has the wrong dtype: expected {want}, got {got}", [], hint)


def assert_true(exercise: str, condition: Any, message: str, *, details: list[str] | None = None,
                hint: str | None = None) -> None:
    """Fail with ``message`` unless ``condition`` is true (a bool, number, array or tensor: an
    object of the learner's own class does not get to say whether it is true)."""
    t = type(condition)
    if not _library_object(condition) and (hasattr(t, "__bool__") or hasattr(t, "__len__")):
        _fail(exercise, message, list(details or []) + [
            f"(the condition was a {type(condition).__name__} object, not True or False)"], hint)
    if not bool(condition):
        _fail(exercise, message, list(details or []), hint)


def assert_raises(exercise: str, exc_type: type[BaseException] | tuple, fn: Callable[..., Any],
                  *args: Any, match: str | None = None, hint: str | None = None, **kwargs: Any) -> BaseException:
    """Check that ``fn(*args, **kwargs)`` raises ``exc_type`` (and ``match`` is in its message)."""
    names = exc_type.__name__ if isinstance(exc_type, type) else "/".join(t.__name__ for t in exc_type)
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except exc_type as err:
        if match is not None and match not in str(err):
            _fail(exercise, f"raised {type(err).__name__} as it should, but its message does not mention {match!r}",
                  [f"message was: {str(err)!r}"], hint)
        return err
    except Exception as err:
        _fail(exercise, f"expected {names}, but {type(err).__name__} was raised: {err}", [], hint)
    _fail(exercise, f"expected {names} to be raised, but the call returned {_short(result)}", [], hint)
    raise AssertionError("unreachable")


def call(exercise: str, fn: Callable[..., Any], *args: Any, case: str, hint: str | None = None,
         **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, where an unexpected exception becomes a failure naming the case.

    >>> call("softmax", softmax, x.T, case="a transposed view")
    The stub's NotImplementedError passes through unchanged.
    """
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except CheckFailure:
        raise
    except Exception as err:
        name = getattr(fn, "__name__", "the function")
        first = " ".join(str(err).split())[:200]
        _fail(exercise, f"{name} raised {type(err).__name__} on {case}: {first}", explain(err), hint)


def _shape_text(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text))


def _right_aligned(a: tuple[int, ...], b: tuple[int, ...]) -> list[str]:
    """Where two shapes clash when lined up from the right (NumPy's and torch's broadcasting rule)."""
    n = max(len(a), len(b))
    pa, pb = (None,) * (n - len(a)) + a, (None,) * (n - len(b)) + b
    clash = [k for k in range(n) if pa[k] is not None and pb[k] is not None and pa[k] != pb[k] and 1 not in (pa[k], pb[k])]
    out = []
    for k in clash:
        out.append(f"lined up from the right, axis {k - n} has size {pa[k]} in one and {pb[k]} in the other; "
                   "sizes must be equal, or one of them 1")
    return out


def explain(err: BaseException) -> list[str]:
    """Known errors from inside learner code, translated: which shapes, and the usual cause.

    Returns detail lines for a CheckFailure (empty when the error is not one we know).
    """
    text = " ".join(str(err).split())
    m = re.search(r"operands could not be broadcast together with (?:remapped )?shapes ((?:\([\d, ]*\),? ?)+)", text)
    if m:  # numpy
        shapes = [_shape_text(x) for x in re.findall(r"\([\d, ]*\)", m.group(1))]
        lines = [f"numpy could not broadcast shapes {' and '.join(str(s) for s in shapes)}"]
        if len(shapes) >= 2:
            lines += _right_aligned(shapes[0], shapes[1])
        return lines + ["likely cause: a per-row quantity of shape (n,) used against an (n, m) array lines up with "
                        "the LAST axis; keep the reduced axis (keepdims=True) or add it back (x[:, None])"]
    m = re.search(r"The size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) "
                  r"at non-singleton dimension (\d+)", text)
    if m:  # torch
        a, b, dim = m.groups()
        return [f"torch could not broadcast: axis {dim} has size {a} in one tensor and {b} in the other",
                "likely cause: a reduction that dropped an axis (use keepdim=True), or a transposed operand; "
                "print both .shape just before the line that fails"]
    m = re.search(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)", text) or \
        re.search(r"shapes \(([\d]+),([\d]+)\) and \(([\d]+),([\d]+)\) not aligned", text)
    if m:
        r1, c1, r2, c2 = m.groups()
        return [f"a matrix product of ({r1}, {c1}) by ({r2}, {c2}): the inner sizes {c1} and {r2} must be equal",
                "likely cause: a weight stored as (out, in) used as (in, out): transpose it (W.T), or check which "
                "axis holds the features"]
    m = re.search(r"matmul: Input operand 1 has a mismatch in its core dimension 0.*\(size (\d+) is different from (\d+)\)",
                  text)
    if m:
        return [f"a matrix product whose inner sizes differ ({m.group(2)} columns on the left, {m.group(1)} rows on the "
                "right)", "likely cause: an operand that needs transposing (.T), or features on the wrong axis"]
    m = re.search(r"expected (?:scalar type|m1 and m2 to have the same dtype, but got:?) (\w+)", text)
    if m or "found dtype" in text or ("dtype" in text and "same dtype" in text):
        return ["two tensors of different dtypes met (float32 vs float64, or an int index)",
                "likely cause: a tensor made from a NumPy array is float64; use torch.float32 (.float()) throughout"]
    if "Expected all tensors to be on the same device" in text:
        return ["tensors on different devices met: create new tensors with device=x.device"]
    return []


def _explain_in_notebook(shell, etype, evalue, tb, tb_offset=None):
    """IPython's handler for errors raised in learner code outside `call`: the usual traceback, and
    the course's diagnosis added to the message (so `bootcamp check` and the grader show it too)."""
    lines = explain(evalue)
    if lines and not getattr(evalue, "_course_explained", False):
        try:
            evalue.args = (f"{evalue.args[0] if evalue.args else evalue}\n" + "\n".join(f"  {x}" for x in lines),
                           *evalue.args[1:])
            evalue._course_explained = True
        except (AttributeError, TypeError):
            pass
    shell.showtraceback((etype, evalue, tb), tb_offset=tb_offset)  # IPython shows nothing else for these
    return None


def _install_explainer() -> None:
    """In a Jupyter kernel, translate known errors (ValueError, RuntimeError) wherever they are raised."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get else None
    if shell is not None and not getattr(shell, "custom_exceptions", ()):
        shell.set_custom_exc((ValueError, RuntimeError), _explain_in_notebook)


_install_explainer()


_LOOP_KINDS = {
    ast.For: "a `for` loop",
    ast.AsyncFor: "an `async for` loop",
    ast.While: "a `while` loop",
    ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression",
}
_LOOPS_IN_DISGUISE = ("vectorize", "apply_along_axis", "apply_over_axes", "frompyfunc", "map")


def assert_no_loops(exercise: str, fn: Callable[..., Any], *, forbidden: tuple[str, ...] = (),
                    hint: str | None = None) -> None:
    """Fail if the code ``fn`` runs has a Python-level loop (or ``np.vectorize`` and friends, or
    any call or attribute named in ``forbidden``, e.g. ``("einsum", "matmul")``, under that name or
    any other: an alias, a default argument or a closure that holds it counts).

    The code read is the code that runs (``course/checks/code.py``): a decorator that only forwards
    is looked through; an alias of a library function, a ``functools.partial``, an object with
    ``__call__`` or a code object whose source cannot be found fails with a message saying so.
    The message names what was found and its line in the function.
    """
    from course.checks import code as _code

    try:
        judged = [(f, how, *_code.source_of(f)) for f, how in _code.with_helpers(fn)]
    except _code.NotInspectable as err:
        _fail(exercise, f"the rule check cannot read the code that runs for `{exercise}`: {err}", [], hint)
    found = []
    for k, (f, how, source, _first) in enumerate(judged):  # the function itself first, then its helpers
        where = f.__name__ if how is None else f"{f.__name__} ({how})"
        tree = ast.parse(textwrap.dedent(source))
        local = {v for c in _code.code_objects(f.__code__) for v in c.co_varnames + c.co_cellvars}
        defaults = _code.defaults(f)
        for node in ast.walk(tree):
            if type(node) in _LOOP_KINDS:
                found.append((k, node.lineno, _LOOP_KINDS[type(node)], where))
            name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
            if name in _LOOPS_IN_DISGUISE:
                found.append((k, node.lineno, f"`{name}` (a loop in disguise)", where))
            elif name in forbidden:
                found.append((k, node.lineno, f"`{name}`, which this exercise asks you not to use", where))
            elif isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, ast.MatMult) and "@" in forbidden:
                found.append((k, node.lineno, "the `@` operator, which this exercise asks you not to use", where))
            elif isinstance(node, ast.Name):  # what the name holds when the code runs: an alias counts
                obj = defaults.get(node.id, _code.MISSING) if node.id in local else _code.resolve(f, node.id)
                real = _code.library_name(obj) if obj is not _code.MISSING else None
                short = real.rsplit(".", 1)[-1] if real else None
                if short and (short in forbidden or short in _LOOPS_IN_DISGUISE):
                    found.append((k, node.lineno, f"`{node.id}` (which is {real}, not to be used here)", where))
    if found:
        found.sort()
        _, first_line, what, where = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        _fail(exercise, f"{where} uses {what} on line {first_line} of its definition{more}: write it with "
              "whole-array operations", [], hint)


def _record_cell_times() -> None:
    """In a learner's JupyterLab (``BOOTCAMP_RECORD_CELLS=1``, set by ``bootcamp lab`` and the hub),
    note when each cell runs so exercise times can be measured (``course/learner/timing.py``).
    Grading and ``bootcamp check`` never set it, so nothing is imported or recorded there."""
    import os

    if os.environ.get("BOOTCAMP_RECORD_CELLS") != "1":
        return
    try:
        from course.learner.timing import install

        install()
    except Exception:  # noqa: BLE001 - a measurement must never stop a lesson from starting
        return


_record_cell_times()
