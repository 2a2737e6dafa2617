"""Tensor puzzles (lesson 0.2): the rule check and the hypothesis test harness.

A puzzle re-builds a torch built-in (``cumsum``, ``bincount``, ...) from a few allowed
pieces only, in the spirit of Sasha Rush's Tensor Puzzles. :func:`check_puzzle` first
reads the puzzle's source and rejects any forbidden call (naming it and its line), then
lets hypothesis search for an input on which the puzzle differs from the built-in, and
reports the smallest one it found::

    from course.checks.puzzles import arange, where, check_puzzle, vectors
    check_puzzle("cumsum", cumsum, lambda a: torch.cumsum(a, 0), st.tuples(vectors()))

The allowed pieces (:data:`RULES` says the same in words):

- ``arange`` and ``where`` (this module's, or ``torch.arange`` / ``torch.where``);
- the operators: ``@``, arithmetic, comparisons, ``&``, ``|``, ``~``;
- indexing and slicing, including ``None`` (new axes) and integer or boolean tensors;
- attributes that are not called (``a.shape``, ``a.dtype``, ``a.T``), and ``len``/``int``;
- the other puzzles (any function named in :data:`PUZZLES`), so ``cumsum`` may call ``triu``.

Anything else that is called (``torch.cumsum``, a method such as ``a.sum()``, ``range``) is
forbidden, and so are Python loops and comprehensions. ``raise`` statements are exempt, so
an unsolved stub (``raise NotImplementedError(...)``) passes the rule check and fails
where it should: when it is called.

This module imports torch and hypothesis; only lesson 0.2 imports it.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import os
import re
import tempfile
import textwrap
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from hypothesis import HealthCheck, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from course.checks import CheckFailure, assert_equal

__all__ = [
    "PUZZLES",
    "RULES",
    "arange",
    "where",
    "rule_violations",
    "check_rules",
    "check_puzzle",
    "describe_inputs",
    "sizes",
    "tensors",
    "vectors",
    "square_matrices",
]

#: The puzzles of lesson 0.2, in order. A puzzle may call any other puzzle.
PUZZLES = (
    "ones", "sum", "outer", "diag", "eye", "triu", "cumsum", "diff", "roll", "flip",
    "sequence_mask", "bincount", "scatter_add",
)

RULES = (
    "allowed: arange, where, @, arithmetic, comparisons, & | ~, indexing and slicing "
    "(a[:, None], a[idx]), a.shape, len, int, and the other puzzles"
)

#: ``arange(n)`` is ``torch.arange(n)``: the int64 tensor ``[0, 1, ..., n-1]``.
arange = torch.arange
#: ``where(cond, x, y)`` is ``torch.where``: ``x`` where ``cond`` is true, else ``y``.
where = torch.where

# Hypothesis caches what it learns in ./.hypothesis by default: that would litter the
# lesson's folder (and exercises/, which CI compares with a fresh build). Keep it in /tmp.
if not os.getenv("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "interp-bootcamp-hypothesis"))

_ALLOWED_OBJECTS = (torch.arange, torch.where)
_ALLOWED_BUILTINS = {"len": builtins.len, "int": builtins.int}
_LOOPS = {
    ast.For: "a for loop",
    ast.AsyncFor: "a for loop",
    ast.While: "a while loop",
    ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.Import: "an import",
    ast.ImportFrom: "an import",
}
_MISSING = object()


# --------------------------------------------------------------------------- rule check
def _resolve(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """The object a ``name`` or ``name.attr.attr`` expression refers to, or _MISSING."""
    if isinstance(node, ast.Name):
        if node.id in namespace:
            return namespace[node.id]
        return getattr(builtins, node.id, _MISSING)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, namespace)
        if base is _MISSING or not inspect.ismodule(base):
            return _MISSING  # only look attributes up on modules: never run a property
        return getattr(base, node.attr, _MISSING)
    return _MISSING


def _is_puzzle(obj: Any) -> bool:
    # A grader may hand over a proxy for the learner's function: its __wrapped__ is the function.
    fn = obj if inspect.isfunction(obj) else getattr(obj, "__wrapped__", None)
    return inspect.isfunction(fn) and fn.__name__ in PUZZLES


def _allowed_call(func: ast.expr, namespace: dict[str, Any], own_name: str) -> bool:
    obj = _resolve(func, namespace)
    if obj is _MISSING:
        return False
    if isinstance(func, ast.Name):
        if func.id in PUZZLES and func.id != own_name and _is_puzzle(obj):
            return True
        if func.id in _ALLOWED_BUILTINS and obj is _ALLOWED_BUILTINS[func.id]:
            return True
    return any(obj is allowed for allowed in _ALLOWED_OBJECTS)


def _call_name(func: ast.expr, namespace: dict[str, Any]) -> str:
    text = ast.unparse(func)
    if isinstance(func, ast.Attribute) and _resolve(func.value, namespace) is _MISSING:
        return f"the method .{func.attr}() (on {ast.unparse(func.value)})"
    obj = _resolve(func, namespace)
    module = getattr(obj, "__module__", None) or ""
    qual = getattr(obj, "__name__", None)
    if isinstance(func, ast.Name) and qual and module.split(".")[0] in ("torch", "numpy", "einops") \
            and f"{module}.{qual}" != text:
        short = "torch" if module.startswith("torch") else module.split(".")[0]
        return f"{text} (which is {short}.{qual})"
    return text


def rule_violations(source: str, namespace: dict[str, Any] | None = None, own_name: str | None = None,
                    first_line: int = 1) -> list[tuple[int, str]]:
    """``(line, what)`` for every forbidden call, loop or import in ``source``.

    ``namespace`` resolves names (the puzzle's globals): a name bound to ``torch.arange``
    or to another puzzle is allowed, anything else called is not. Calls inside ``raise``
    statements are exempt. Lines count from ``first_line`` (the line of the ``def``).
    """
    namespace = dict(namespace or {})
    tree = ast.parse(textwrap.dedent(source))
    found: list[tuple[int, str]] = []
    exempt: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise):
            exempt.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        line = first_line + getattr(node, "lineno", 1) - 1
        if id(node) in exempt:
            continue
        if type(node) in _LOOPS:
            found.append((line, _LOOPS[type(node)]))
        elif isinstance(node, ast.Call) and not _allowed_call(node.func, namespace, own_name or ""):
            found.append((line, _call_name(node.func, namespace)))
    found.sort()
    return found


def check_rules(name: str, fn: Callable) -> None:
    """Raise CheckFailure naming the first forbidden call in the code ``fn`` runs and its line.

    The code read is the code that runs (``course/checks/code.py``): a forwarding decorator is
    looked through, and anything whose code cannot be read (a library function, a partial, an
    object with ``__call__``, a code object changed at run time) fails. Names resolve as they do
    when the code runs: the function's own globals and closure. Line numbers count in the cell
    (or file) where ``fn`` is defined.
    """
    from course.checks import code as _code

    try:
        judged = [(f, *_code.source_of(f)) for f, _how in _code.with_helpers(fn)]
    except _code.NotInspectable as err:
        raise CheckFailure(name, f"the rule check cannot read the code that runs for `{name}`: {err}", [RULES]) from None
    for f, source, first in judged:
        _check_one(name, f, source, first)


def _check_one(name: str, fn: Callable, source: str, first: int) -> None:
    namespace = dict(fn.__globals__)
    if fn.__closure__:
        for var, cell in zip(fn.__code__.co_freevars, fn.__closure__):
            try:
                namespace[var] = cell.cell_contents
            except ValueError:  # an empty cell
                pass
    violations = rule_violations(source, namespace, own_name=fn.__name__, first_line=first)
    if violations:
        line, what = violations[0]
        details = [RULES]
        if len(violations) > 1:
            more = ", ".join(f"{w} (line {ln})" for ln, w in violations[1:4])
            details.insert(0, f"also: {more}" + (" ..." if len(violations) > 4 else ""))
        if what.startswith("the method .size()"):
            details.append("hint: a.shape[0] gives the length without a call")
        raise CheckFailure(name, f"uses {what} (line {line}): build it from arange, where, indexing and "
                                 f"broadcasting only", details)


# --------------------------------------------------------------------------- hypothesis search
def _short_repr(x: Any, limit: int = 300) -> str:
    if isinstance(x, torch.Tensor):
        text = re.sub(r"\s+", " ", repr(x)).replace("[ ", "[").replace(" ]", "]")
    else:
        text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_inputs(fn: Callable, args: Sequence[Any]) -> str:
    """``a = tensor([1, 2]), j = 3``: the arguments, named after ``fn``'s parameters."""
    try:
        names = [p for p in inspect.signature(fn).parameters][: len(args)]
    except (TypeError, ValueError):
        names = []
    names += [f"arg{i}" for i in range(len(names), len(args))]
    return ", ".join(f"{n} = {_short_repr(a)}" for n, a in zip(names, args))


def _copy(args: Sequence[Any]) -> tuple:
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


class _Counterexample(Exception):
    """Raised inside the hypothesis search to carry the failing input out of it."""

    def __init__(self, args: tuple, error: BaseException, expected: Any = None, actual: Any = None):
        super().__init__(repr(error))
        self.args_ = args
        self.error = error
        self.expected = expected
        self.actual = actual


class _Unsolved(Exception):
    """fn works but calls another puzzle that is still a stub; carries the CheckFailure to raise."""

    def __init__(self, failure: CheckFailure):
        super().__init__(str(failure))
        self.failure = failure


def _unsolved_puzzle(err: BaseException, fn: Callable) -> str | None:
    """The name of the other puzzle that raised ``err``, when it was not ``fn`` itself."""
    tb = err.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code
        tb = tb.tb_next
    code = getattr(fn, "__code__", None)
    if last is None or last is code or last.co_name not in PUZZLES or last.co_name == getattr(fn, "__name__", ""):
        return None
    return last.co_name


def _try_one(fn: Callable, reference: Callable, args: Sequence[Any], name: str) -> None:
    """Compare ``fn(*args)`` with ``reference(*args)``; raise _Counterexample if they differ."""
    expected = reference(*_copy(args))
    try:
        actual = fn(*_copy(args))
    except NotImplementedError as err:
        other = _unsolved_puzzle(err, fn)
        if other is None:
            raise  # fn itself is the stub: "not implemented yet" is the right answer
        raise _Unsolved(CheckFailure(name, f"calls {other}, which is not solved yet (it raises NotImplementedError)",
                                     [f"solve {other} first, or write {name} without it"])) from err
    except Exception as err:
        raise _Counterexample(tuple(args), err) from err
    try:
        assert_equal(name, actual, expected)
    except CheckFailure as err:
        raise _Counterexample(tuple(args), err, expected, actual) from err


def _report(name: str, fn: Callable, found: _Counterexample, hint: str | None) -> CheckFailure:
    inputs = describe_inputs(fn, found.args_)
    err = found.error
    if isinstance(err, CheckFailure) and found.actual is None:
        summary = f"returned None for {inputs}: did you forget to `return` the result?"
        details = [f"expected {_short_repr(found.expected)}"]
    elif isinstance(err, CheckFailure):
        summary = f"wrong result for {inputs}"
        details = [f"expected {_short_repr(found.expected)}", f"got      {_short_repr(found.actual)}",
                   err.summary] + err.details
    else:
        first = (str(err).strip().splitlines() or [""])[0]
        summary = f"raised {type(err).__name__} for {inputs}: {first}"
        details = ["the traceback above the message shows where"]
    if hint:
        details.append(f"hint: {hint}")
    return CheckFailure(name, summary, details)


def _find(exc: BaseException, kind: type) -> BaseException | None:
    """The first exception of ``kind`` in ``exc``, its exception groups and its causes."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, kind):
            return e
        if isinstance(e, BaseExceptionGroup):
            stack.extend(e.exceptions)
        stack.extend([e.__cause__, e.__context__])
    return None


def check_puzzle(name: str, fn: Callable, reference: Callable, inputs: st.SearchStrategy,
                 examples: Iterable[Sequence[Any]] = (), *, max_examples: int = 50,
                 hint: str | None = None, rules: bool = True) -> None:
    """Check a puzzle: the rule check, the given ``examples``, then a hypothesis search.

    ``inputs`` draws tuples of positional arguments; ``reference`` (a torch built-in) gives
    the expected result. The search is deterministic (``derandomize=True``), writes no
    example database, and stops at the first failure, shrinks it, and raises
    :class:`~course.checks.CheckFailure` naming the smallest input found, e.g.
    ``[cumsum] wrong result for a = tensor([0, 1]): ...``. A ``NotImplementedError`` from
    ``fn`` propagates unchanged (it is what an unsolved stub raises).
    """
    if rules:
        check_rules(name, fn)
    for args in examples:
        try:
            _try_one(fn, reference, tuple(args), name)
        except _Counterexample as found:
            raise _report(name, fn, found, hint) from found.error
        except _Unsolved as unsolved:
            raise unsolved.failure from unsolved.__cause__

    @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
              report_multiple_bugs=False, print_blob=False)
    @given(inputs)
    def search(args: tuple) -> None:
        _try_one(fn, reference, tuple(args), name)

    try:
        search()
    except BaseException as err:  # hypothesis may wrap: Flaky, ExceptionGroup, notes
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        found = _find(err, _Counterexample)
        if found is not None:
            raise _report(name, fn, found, hint) from found.error  # type: ignore[arg-type]
        unsolved = _find(err, _Unsolved)
        if unsolved is not None:
            raise unsolved.failure from unsolved.__cause__  # type: ignore[attr-defined]
        todo = _find(err, NotImplementedError)
        if todo is not None:
            raise todo from None
        raise


# --------------------------------------------------------------------------- strategies
def sizes(lo: int = 0, hi: int = 8) -> st.SearchStrategy[int]:
    """Integers in [lo, hi]: lengths for ``ones``, ``eye``, ``triu``."""
    return st.integers(lo, hi)


def tensors(shape: Sequence[int], lo: int = -9, hi: int = 9) -> st.SearchStrategy[torch.Tensor]:
    """int64 tensors of a fixed ``shape`` with values in [lo, hi]."""
    shape = tuple(int(n) for n in shape)
    count = 1
    for n in shape:
        count *= n
    return st.lists(st.integers(lo, hi), min_size=count, max_size=count).map(
        lambda xs: torch.tensor(xs, dtype=torch.long).reshape(shape))


def vectors(lo: int = -9, hi: int = 9, min_len: int = 0, max_len: int = 8) -> st.SearchStrategy[torch.Tensor]:
    """1-D int64 tensors with values in [lo, hi] and lengths in [min_len, max_len]."""
    return st.integers(min_len, max_len).flatmap(lambda n: tensors((n,), lo, hi))


def square_matrices(lo: int = -9, hi: int = 9, max_n: int = 6) -> st.SearchStrategy[torch.Tensor]:
    """(n, n) int64 tensors with values in [lo, hi], n in [0, max_n]."""
    return st.integers(0, max_n).flatmap(lambda n: tensors((n, n), lo, hi))
