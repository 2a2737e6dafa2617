"""Gradient checks for lesson 1.1 (backpropagation from scratch).

Each check runs the learner's code and torch.autograd on the same function of the same
named inputs and raises :class:`course.checks.CheckFailure` naming the first wrong
gradient, for example::

    [matmul_backward] gradient of b (input 2) differs at 6 of 12 positions; first at index (1, 0): expected 0.31, got -1.2
        max abs error 2.1, max rel error 3.4 (rtol=1e-07, atol=1e-07)
        likely cause: your result equals the expected one transposed: did you transpose ...?

- :func:`check_backward` tests one backward function alone, ``backward_fn(grad_out,
  *inputs, *args) -> gradient(s)``, against torch's vector-Jacobian product.
- :func:`check_graph` runs a whole function through the learner's ``Tensor`` engine
  (forward, then ``.backward()``) and compares every input's ``.grad`` with
  torch.autograd and with central finite differences.
- :func:`vjp`, :func:`numerical_gradients` and :func:`compare_gradients` are the pieces,
  usable on their own.

Everything runs in float64. torch is imported inside the functions, so importing this
module is cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from course.checks import CheckFailure, assert_close

__all__ = [
    "vjp",
    "numerical_gradients",
    "compare_gradients",
    "check_backward",
    "check_graph",
    "gradient_table",
    "check_topological_order",
    "reachable_nodes",
    "describe_node",
]


def _label(name: str, position: int | None) -> str:
    return f"gradient of {name}" + (f" (input {position})" if position is not None else "")


def _shape(x: Any) -> tuple:
    return tuple(getattr(x, "shape", np.shape(x)))


def _fmt_shape(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


# --------------------------------------------------------------------------- references
def vjp(torch_fn: Callable[..., Any], inputs: Mapping[str, Any], grad_out: Any = None,
        seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """torch.autograd's vector-Jacobian product of ``torch_fn`` at ``inputs``.

    ``torch_fn`` takes one float64 torch tensor per input (in the order of ``inputs``) and
    returns a tensor. ``grad_out`` (the gradient flowing into the output) defaults to
    standard-normal values drawn from a generator seeded with ``seed`` (plus a fixed offset). Returns ``(output, grads, grad_out)`` as
    numpy arrays; an input the output does not depend on gets a zero gradient.
    """
    import torch

    tensors = [torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for v in inputs.values()]
    out = torch_fn(*tensors)
    if grad_out is None:
        # offset, so that grad_out never equals an input drawn with the same small seed
        grad_out = np.random.default_rng(seed + 1_000_003).standard_normal(tuple(out.shape))
    grad_out = np.asarray(grad_out, dtype=np.float64)
    grads = torch.autograd.grad(out, tensors, torch.as_tensor(grad_out), allow_unused=True)
    result = {
        name: (np.zeros(t.shape) if g is None else g.detach().numpy())
        for name, t, g in zip(inputs, tensors, grads)
    }
    return out.detach().numpy(), result, grad_out


def numerical_gradients(f: Callable[..., Any], inputs: Mapping[str, Any], eps: float = 1e-6) -> dict[str, np.ndarray]:
    """Central finite differences of a scalar function: (f(x + eps) - f(x - eps)) / 2 eps.

    ``f`` takes one float64 numpy array per input (in the order of ``inputs``) and returns
    a number. Each element of each input is nudged in turn, so keep inputs small.
    """
    arrays = {k: np.array(v, dtype=np.float64) for k, v in inputs.items()}
    grads = {}
    for name, x in arrays.items():
        g = np.zeros_like(x)
        for idx in np.ndindex(*x.shape):
            old = x[idx]
            x[idx] = old + eps
            up = float(f(*arrays.values()))
            x[idx] = old - eps
            down = float(f(*arrays.values()))
            x[idx] = old
            g[idx] = (up - down) / (2 * eps)
        grads[name] = g
    return grads


# --------------------------------------------------------------------------- comparison
def _shape_cause(name: str, got: tuple, want: tuple) -> str | None:
    if len(got) == len(want) >= 2 and got[:-2] + got[-2:][::-1] == want:
        return "the last two dimensions are swapped: did you transpose?"
    try:
        broadcast = np.broadcast_shapes(got, want)
    except ValueError:
        broadcast = None
    if broadcast == got and got != want:
        return (f"{name} was broadcast from {_fmt_shape(want)} to {_fmt_shape(got)} in the forward pass: "
                f"sum the gradient over the broadcast axes (unbroadcast) so it has {name}'s shape")
    if len(got) < len(want) and all(w == 1 for w in want[: len(want) - len(got)]) or (
        len(got) == len(want) - 1 and any(want[:i] + want[i + 1:] == got for i in range(len(want)))
    ):
        return "a dimension is missing: a reduction dropped it? (keepdims=True, or np.expand_dims)"
    return None


def compare_gradients(exercise: str, got: Mapping[str, Any], expected: Mapping[str, Any], *,
                      source: str = "torch.autograd", hint: str | None = None,
                      rtol: float | None = None, atol: float | None = None, numbered: bool = True,
                      if_none: str = "no gradient reached it") -> None:
    """Compare gradients input by input, in the order of ``expected``; raise on the first wrong one.

    ``got`` maps each input name to the learner's gradient (``None`` or missing counts as
    "no gradient"); ``expected`` maps it to the reference. ``source`` says where the
    expected values come from, for the message. ``numbered=False`` leaves "(input k)" out
    of the names (for gradients that are not a function's inputs); ``if_none`` ends the
    message for a missing gradient.
    """
    for position, (name, want) in enumerate(expected.items(), start=1):
        label = _label(name, position if numbered else None)
        have = got.get(name)
        if have is None:
            raise CheckFailure(exercise, f"{label} is None: {if_none}", [
                "every input needs a gradient of its own shape (zeros if the output does not depend on it)",
            ] + ([f"hint: {hint}"] if hint else []))
        want = np.asarray(want)
        if _shape(have) != want.shape:
            details = []
            cause = _shape_cause(name, _shape(have), want.shape)
            if cause:
                details.append(f"likely cause: {cause}")
            if hint:
                details.append(f"hint: {hint}")
            raise CheckFailure(exercise, f"{label} has the wrong shape: expected {_fmt_shape(want.shape)} "
                               f"(the shape of {name}), got {_fmt_shape(_shape(have))}", details)
        try:
            assert_close(exercise, have, want, name=label, hint=hint, rtol=rtol, atol=atol, check_dtype=False)
        except CheckFailure as err:
            raise CheckFailure(exercise, err.summary, [f"expected values from {source}"] + err.details) from None


def _call(exercise: str, fn: Callable[..., Any], fn_name: str, args: Sequence[Any], arg_names: Sequence[str],
          hint: str | None) -> Any:
    """Call learner code; turn an unexpected exception into a message that shows the shapes."""
    try:
        return fn(*args)
    except (NotImplementedError, AssertionError):
        raise
    except Exception as err:
        shapes = ", ".join(f"{n} {_fmt_shape(_shape(a))}" for n, a in zip(arg_names, args) if hasattr(a, "shape"))
        details = [f"the call had {shapes}" if shapes else "", "the traceback above shows the line"]
        if hint:
            details.append(f"hint: {hint}")
        first = str(err).splitlines()[0] if str(err) else ""
        raise CheckFailure(exercise, f"{fn_name} raised {type(err).__name__}: {first}",
                           [d for d in details if d]) from err


# --------------------------------------------------------------------------- one op
def check_backward(exercise: str, backward_fn: Callable[..., Any], torch_fn: Callable[..., Any],
                   inputs: Mapping[str, Any], *, args: Sequence[Any] = (), grad_out: Any = None,
                   seed: int = 0, hint: str | None = None, rtol: float | None = None,
                   atol: float | None = None) -> None:
    """Check one backward function against torch.autograd.

    Calls ``backward_fn(grad_out, *inputs.values(), *args)``. It must return the gradient
    (one input) or a tuple of gradients, one per input in order, each of its input's shape.
    ``torch_fn(*tensors)`` is the forward operation in torch. ``grad_out`` is random
    (``seed``) unless given. Also fails when ``backward_fn`` changes ``grad_out`` or an
    input in place.
    """
    names = list(inputs)
    arrays = [inputs[n] for n in names]
    _, expected, g = vjp(torch_fn, inputs, grad_out=grad_out, seed=seed)
    fn_name = getattr(backward_fn, "__name__", "the backward function")
    before = [np.array(a, copy=True) for a in [g, *arrays]]
    result = _call(exercise, backward_fn, fn_name, [g, *arrays, *args], ["grad_out", *names], hint)
    for label, old, new in zip(["grad_out", *names], before, [g, *arrays]):
        if not np.array_equal(old, new, equal_nan=True):
            raise CheckFailure(exercise, f"{fn_name} changed {label} in place", [
                "a backward function must not modify its arguments: write `x = x + ...`, not `x += ...`",
            ])
    if result is None:
        raise CheckFailure(exercise, f"{fn_name} returned None: did you forget to `return` the gradient(s)?",
                           [f"hint: {hint}"] if hint else [])
    if len(names) == 1:
        if isinstance(result, tuple):
            raise CheckFailure(exercise, f"{fn_name} returned a tuple of {len(result)}; expected one array, "
                               f"the gradient of {names[0]}")
        got = {names[0]: result}
    else:
        if not isinstance(result, (tuple, list)):
            raise CheckFailure(exercise, f"{fn_name} returned a {type(result).__name__}; expected a tuple of "
                               f"{len(names)} gradients ({', '.join('grad_' + n for n in names)})")
        if len(result) != len(names):
            raise CheckFailure(exercise, f"{fn_name} returned {len(result)} gradient(s) for {len(names)} inputs",
                               [f"return one gradient per input, in order: ({', '.join('grad_' + n for n in names)})"])
        got = dict(zip(names, result))
    for name, value in got.items():
        if value is not None and not isinstance(value, (np.ndarray, np.generic, float, int)):
            raise CheckFailure(exercise, f"{_label(name, names.index(name) + 1)} is a {type(value).__name__}, "
                               "not a numpy array", ["backward functions work on plain numpy arrays"])
    compare_gradients(exercise, got, expected, hint=hint, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- whole graphs
def check_graph(exercise: str, fn: Callable[..., Any], inputs: Mapping[str, Any], tensor_cls: type, *,
                torch_fn: Callable[..., Any] | None = None, finite_differences: bool = True,
                eps: float = 1e-6, seed: int = 0, hint: str | None = None) -> dict[str, dict[str, float]]:
    """Run ``fn`` through the learner's engine and compare every input's gradient.

    ``fn(*tensors)`` is called once with ``tensor_cls`` objects (the learner's ``Tensor``:
    it needs ``.data``, ``.grad``, ``.backward()``, ``*`` and ``.sum()``) and once with
    float64 torch tensors (or ``torch_fn`` is, when the engine's code does not run on
    torch). A non-scalar output is reduced to ``(out * W).sum()`` with fixed random ``W``.
    Checks, in this order: the forward value, each gradient against torch.autograd, each
    gradient against central finite differences of the engine's own forward pass.
    Returns ``{name: {"torch": max abs diff, "numeric": max abs diff}}`` for a table.
    """
    names = list(inputs)
    arrays = {n: np.array(inputs[n], dtype=np.float64) for n in names}
    torch_fn = torch_fn or fn
    rng = np.random.default_rng(seed + 1_000_003)
    weights: dict[str, np.ndarray] = {}

    def engine_forward(arrs):
        ts = [tensor_cls(a) for a in arrs]
        out = _call(exercise, fn, "the function", ts, names, hint)
        if out is None:
            raise CheckFailure(exercise, "the function returned None: did you forget to `return` the result?",
                               [f"hint: {hint}"] if hint else [])
        if not isinstance(out, tensor_cls):
            raise CheckFailure(exercise, f"the function returned a {type(out).__name__}, not a "
                               f"{tensor_cls.__name__}: build the result with {tensor_cls.__name__} operations",
                               [f"hint: {hint}"] if hint else [])
        return ts, out, np.asarray(out.data)

    def engine_scalar(*arrs, keep):
        ts, out, value = engine_forward(arrs)
        if value.shape != ():
            if "w" not in weights:
                weights["w"] = rng.standard_normal(value.shape)
            out = (out * tensor_cls(weights["w"])).sum()
        keep.extend(ts)
        return out, value

    def engine_value(*arrs) -> float:
        """The same scalar as engine_scalar's, for finite differences: only the forward value is
        needed, so the reduction (out * W).sum() is done here in numpy, not with the engine's ops."""
        value = engine_forward(arrs)[2]
        return float((value * weights["w"]).sum()) if value.shape != () else float(value)

    def torch_scalar(*tensors):
        import torch

        out = torch_fn(*tensors)
        if out.dim() == 0:
            return out
        if "w" not in weights:
            weights["w"] = rng.standard_normal(tuple(out.shape))
        return (out * torch.as_tensor(weights["w"])).sum()

    leaves: list[Any] = []
    out, value = engine_scalar(*arrays.values(), keep=leaves)
    # forward value first: a wrong forward makes every gradient look wrong
    import torch

    with torch.no_grad():
        ref_value = torch_fn(*[torch.as_tensor(a) for a in arrays.values()]).numpy()
    assert_close(exercise, value, ref_value, name="the output (forward pass)", check_dtype=False, hint=hint)
    _, expected, _ = vjp(torch_scalar, arrays, grad_out=np.array(1.0))
    _call(exercise, lambda: out.backward(), "backward()", [], [], hint)
    got = {n: (None if t.grad is None else np.asarray(t.grad)) for n, t in zip(names, leaves)}
    compare_gradients(exercise, got, expected, source="torch.autograd", hint=hint)
    errors = {n: {"torch": float(np.max(np.abs(got[n] - expected[n]), initial=0.0))} for n in names}
    if finite_differences:
        numeric = numerical_gradients(engine_value, arrays, eps=eps)
        compare_gradients(exercise, got, numeric, source=f"central finite differences (eps={eps:g})",
                          hint=hint, rtol=1e-5, atol=1e-6)
        for n in names:
            errors[n]["numeric"] = float(np.max(np.abs(got[n] - numeric[n]), initial=0.0))
    return errors


def gradient_table(errors: Mapping[str, Mapping[str, float]]) -> str:
    """Format :func:`check_graph`'s result: one line per input, max |engine - reference|."""
    lines = [f"{'input':<10} {'max |yours - torch|':>20} {'max |yours - numeric|':>22}"]
    for name, e in errors.items():
        numeric = f"{e['numeric']:.2e}" if "numeric" in e else "-"
        lines.append(f"{name:<10} {e['torch']:>20.2e} {numeric:>22}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- graph order
def describe_node(node: Any) -> str:
    """'x (3, 4)' or 'matmul (3, 5)': a node's name, else its op, and its shape."""
    label = getattr(node, "name", "") or getattr(node, "op", "") or "leaf"
    return f"{label!r} {_fmt_shape(_shape(getattr(node, 'data', ())))}"


def reachable_nodes(root: Any) -> list[Any]:
    """Every node reachable from ``root`` through ``.parents`` (iteratively; any order)."""
    seen = {id(root)}
    nodes, stack = [root], [root]
    while stack:
        for parent in stack.pop().parents:
            if id(parent) not in seen:
                seen.add(id(parent))
                nodes.append(parent)
                stack.append(parent)
    return nodes


def check_topological_order(exercise: str, order: Any, root: Any, *, hint: str | None = None) -> None:
    """Check that ``order`` lists every node reachable from ``root`` once, parents first.

    Nodes need a ``.parents`` tuple; they are compared by identity.
    """
    extra = [f"hint: {hint}"] if hint else []
    if order is None:
        raise CheckFailure(exercise, "the order is None: did you forget to `return` the list?", extra)
    if not isinstance(order, list):
        raise CheckFailure(exercise, f"the order is a {type(order).__name__}; expected a list of nodes", extra)
    nodes = reachable_nodes(root)
    wanted = {id(n) for n in nodes}
    counts: dict[int, int] = {}
    for n in order:
        counts[id(n)] = counts.get(id(n), 0) + 1
    for n in order:
        if id(n) not in wanted:
            raise CheckFailure(exercise, f"the order contains {describe_node(n)}, which is not reachable from the "
                               "root through .parents", extra)
        if counts[id(n)] > 1:
            raise CheckFailure(exercise, f"node {describe_node(n)} appears {counts[id(n)]} times; each node must "
                               "appear once", ["likely cause: a node reached by two paths is visited twice: keep a "
                                               "set of visited nodes"] + extra)
    missing = [n for n in nodes if id(n) not in counts]
    if missing:
        raise CheckFailure(exercise, f"node {describe_node(missing[0])} is missing: {len(order)} nodes in the order, "
                           f"{len(nodes)} reachable from the root", [
                               "the order must hold every node reachable from the root through .parents, "
                               "the root and the leaves included"] + extra)
    position = {id(n): i for i, n in enumerate(order)}
    for i, n in enumerate(order):
        for parent in n.parents:
            if position[id(parent)] > i:
                raise CheckFailure(exercise, f"node {describe_node(n)} at position {i} comes before its parent "
                                   f"{describe_node(parent)} at position {position[id(parent)]}", [
                                       "every node must come after all of its parents (the root last): append a "
                                       "node only once all of its parents are in the list"] + extra)
