"""Step-for-step comparison of a hand-written optimiser with ``torch.optim`` (lesson 1.2).

:func:`compare_with_torch` trains two copies of one small model on one fixed batch, one
copy with the learner's optimiser and one with the ``torch.optim`` class it imitates, and
compares every parameter after every step. The first difference raises
:class:`course.checks.CheckFailure` naming the step, the parameter, the element, both
values, and, where it can tell, the likely cause::

    [adam] parameters differ from torch.optim.Adam(lr=0.01) at step 1 of 20, first in '0.weight' ...
        likely cause: bias correction missing? ...

How the cause is found. Most mistakes in an optimiser are *another* optimiser that torch
can run: forgetting Nesterov's look-ahead gives ``SGD(nesterov=False)``; weight decay
added to the gradient inside AdamW gives ``Adam(weight_decay=...)``; a missing bias
correction gives, at the first step, Adam with a rescaled ``lr`` and ``eps``. When the
parameters differ, the helper re-runs each such "suspect" configuration of torch's own
optimiser from the same start and names the one the learner's parameters match. No
optimiser is implemented in this module: the suspects are ``torch.optim`` itself, plus a
one-line formula for the first step with eps inside the square root (which no torch
setting reproduces). Failing that, the message says how the update compares with torch's
(a constant factor, the sign, a small relative difference) and whether step 1 was right.

This module imports torch; ``import course`` does not import it.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course.checks import CheckFailure

__all__ = ["compare_with_torch", "default_problem", "awkward_problem", "Comparison", "tolerance_for"]

# (rtol, atol) per parameter dtype. float64 is tight enough to tell "weight decay before
# the update" from "after it" (a difference of lr**2 * weight_decay per step), and loose
# enough for any order of the same floating-point operations.
_TOLERANCES = {torch.float64: (1e-9, 1e-12), torch.float32: (1e-5, 1e-6)}


def tolerance_for(dtype: torch.dtype) -> tuple[float, float]:
    """The (rtol, atol) that :func:`compare_with_torch` uses for parameters of ``dtype``."""
    return _TOLERANCES.get(dtype, (1e-3, 1e-4))


def default_problem(seed: int = 0, dtype: torch.dtype = torch.float64) -> tuple[nn.Module, Callable]:
    """A small MLP (6 -> 16 -> 16 -> 3, tanh) and a fixed batch of 32 labelled points.

    Returns ``(model, loss_fn)`` where ``loss_fn(model)`` is the cross-entropy of the
    model on the batch (a scalar tensor). The global random state is left untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3)).to(dtype)
        x = torch.randn(32, 6, dtype=dtype)
        y = torch.randint(0, 3, (32,))

    def loss_fn(m: nn.Module) -> torch.Tensor:
        return F.cross_entropy(m(x), y)

    return model, loss_fn


class _Awkward(nn.Module):
    """Parameters of every awkward kind: transposed, 0-d, empty, unused, frozen."""

    def __init__(self, dtype: torch.dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, 6, dtype=dtype).T)  # (6, 3), not contiguous
        self.scale = nn.Parameter(torch.tensor(1.5, dtype=dtype))  # 0-d
        self.empty = nn.Parameter(torch.zeros(0, 4, dtype=dtype))  # no elements (its grad has none either)
        self.bias = nn.Parameter(torch.randn(1, 3, dtype=dtype))  # size-1 first dimension
        self.unused = nn.Parameter(torch.randn(5, dtype=dtype))  # not used by the loss: .grad stays None
        self.frozen = nn.Parameter(torch.randn(3, dtype=dtype), requires_grad=False)  # .grad stays None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * torch.tanh(x @ self.weight) + self.bias + self.frozen + self.empty.sum()


def awkward_problem(seed: int = 0, dtype: torch.dtype = torch.float64) -> tuple[nn.Module, Callable]:
    """Like :func:`default_problem`, with the parameters an optimiser most often gets wrong.

    A transposed (non-contiguous) weight, a 0-d scale, an empty parameter, a bias of shape
    (1, 3), a parameter the loss never uses and a frozen one (``requires_grad=False``): the
    last two keep ``.grad is None`` and must not move.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _Awkward(dtype)
        x = torch.randn(32, 6, dtype=dtype)
        y = torch.randint(0, 3, (32,))

    def loss_fn(m: nn.Module) -> torch.Tensor:
        return F.cross_entropy(m(x), y)

    return model, loss_fn


@dataclass
class Comparison:
    """What a successful comparison measured."""

    reference: str  # e.g. "torch.optim.Adam(lr=0.01)"
    steps: int
    max_abs_error: list[float] = field(default_factory=list)  # per step, over every parameter
    losses: list[float] = field(default_factory=list)  # the reference's loss before each step

    def __str__(self) -> str:
        worst = max(self.max_abs_error, default=0.0)
        return (f"{self.steps} steps on the same model and batch as {self.reference}: "
                f"largest |yours - torch| over all parameters and steps = {worst:.1e}")


# --------------------------------------------------------------------------- the comparison
def compare_with_torch(exercise: str, mine: Callable[..., Any], reference: Callable[..., Any],
                       hyper: dict | None = None, *, steps: int = 20,
                       problem: Callable[[], tuple[nn.Module, Callable]] | None = None,
                       dtype: torch.dtype = torch.float64, seed: int = 0, rtol: float | None = None,
                       atol: float | None = None, hint: str | None = None) -> Comparison:
    """Check that ``mine(params, **hyper)`` moves the parameters exactly as ``reference(params, **hyper)``.

    exercise: the exercise name, first in every message.
    mine: your optimiser class (or any callable ``(params, **hyper) -> optimiser`` with
        ``zero_grad()`` and ``step()``).
    reference: the ``torch.optim`` class it imitates, e.g. ``torch.optim.Adam``.
    hyper: hyperparameters passed to both, e.g. ``dict(lr=0.01, betas=(0.8, 0.99))``.
    steps: training steps to compare (each: ``zero_grad()``, forward, ``backward()``, ``step()``).
    problem: a callable returning ``(model, loss_fn)``; default :func:`default_problem`.
        The model is copied, so both optimisers start from the same parameters.
    dtype: the parameter dtype of the default problem (float64 makes small mistakes visible).

    Returns a :class:`Comparison`; raises :class:`CheckFailure` at the first step where a
    parameter differs, with the step, the parameter, the element and a likely cause.
    ``NotImplementedError`` from an unfinished exercise is passed through unchanged.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the model is tiny: a second thread only adds overhead (10x on a busy machine)
    try:
        return _compare(exercise, mine, reference, dict(hyper or {}), steps, problem, dtype, seed, rtol, atol, hint)
    finally:
        torch.set_num_threads(threads)


def _compare(exercise, mine, reference, hyper, steps, problem, dtype, seed, rtol, atol, hint) -> Comparison:
    model, loss_fn = problem() if problem is not None else default_problem(seed, dtype)
    ref_model, my_model = copy.deepcopy(model), copy.deepcopy(model)
    names = [name for name, _ in ref_model.named_parameters()]
    ref_params, my_params = list(ref_model.parameters()), list(my_model.parameters())
    ref_opt = reference(ref_model.parameters(), **hyper)
    label = _describe(reference, hyper)
    ctx = _Context(exercise, label, steps, hint)
    my_opt = ctx.call(lambda: mine(my_model.parameters(), **hyper), "creating your optimiser", 0)
    result = Comparison(label, steps)
    for step in range(1, steps + 1):
        before = [p.detach().clone() for p in my_params]
        ref_before = [p.detach().clone() for p in ref_params]
        ctx.call(my_opt.zero_grad, "zero_grad()", step)
        _check_zeroed(ctx, step, names, my_params)
        ref_opt.zero_grad()
        my_loss = loss_fn(my_model)
        my_loss.backward()
        ref_loss = loss_fn(ref_model)
        ref_loss.backward()
        result.losses.append(float(ref_loss.detach()))
        ctx.call(my_opt.step, "step()", step)
        ref_opt.step()
        worst = 0.0
        for i, (p, q) in enumerate(zip(my_params, ref_params)):
            r_tol, a_tol = rtol, atol
            if r_tol is None or a_tol is None:
                d_rtol, d_atol = tolerance_for(q.dtype)
                r_tol = d_rtol if r_tol is None else r_tol
                a_tol = d_atol if a_tol is None else a_tol
            if p.dtype != q.dtype or p.shape != q.shape:
                ctx.fail(f"after step {step}, parameter '{names[i]}' is {p.dtype} of shape {tuple(p.shape)}; "
                         f"torch's is {q.dtype} of shape {tuple(q.shape)}",
                         ["update the parameter in place (p.add_(...), p.mul_(...)); do not give it new data"])
            a, e = p.detach(), q.detach()
            if not torch.allclose(a, e, rtol=r_tol, atol=a_tol):
                _diagnose(ctx, step, i, names, model, loss_fn, mine, reference, hyper, ref_opt,
                          my_params, ref_params, before, ref_before, r_tol, a_tol, result)
            if a.numel():
                worst = max(worst, float((a - e).abs().max()))
        result.max_abs_error.append(worst)
    return result


class _Context:
    """The exercise, the reference and the learner's hint, for every message."""

    def __init__(self, exercise: str, label: str, steps: int, hint: str | None):
        self.exercise, self.label, self.steps, self.hint = exercise, label, steps, hint

    def fail(self, summary: str, details: list[str]) -> None:
        if self.hint:
            details = details + [f"hint: {self.hint}"]
        raise CheckFailure(self.exercise, summary, details)

    def call(self, fn: Callable[[], Any], what: str, step: int) -> Any:
        try:
            return fn()
        except (NotImplementedError, CheckFailure):
            raise
        except Exception as err:
            when = "" if step == 0 else f" at step {step}"
            summary = f"{what} raised {type(err).__name__}{when}: {str(err).splitlines()[0] if str(err) else ''}"
            try:
                self.fail(summary, [f"likely cause: {c}" for c in _exception_causes(err)])
            except CheckFailure as failure:
                raise failure from err


def _exception_causes(err: Exception) -> list[str]:
    text = str(err)
    if "leaf Variable that requires grad" in text or "requires grad is being used in an in-place" in text:
        return ["parameters require grad, so update them inside `with torch.no_grad():` "
                "(or decorate step with @torch.no_grad())"]
    if "NoneType" in text:
        return ["a parameter whose .grad is None (frozen, or not used by the loss) must be skipped, "
                "as torch does: `if p.grad is None: continue`"]
    if "result type" in text or "expected scalar type" in text or "dtype" in text:
        return ["a buffer of another dtype than its parameter: create buffers with torch.zeros_like(p)"]
    if "size of tensor" in text or "shape" in text:
        return ["a buffer of the wrong shape: each parameter needs its own buffer (torch.zeros_like(p))"]
    return []


def _check_zeroed(ctx: _Context, step: int, names: list[str], params: list[torch.Tensor]) -> None:
    for name, p in zip(names, params):
        if p.grad is not None and bool((p.grad != 0).any()):
            ctx.fail(f"after zero_grad() at step {step}, parameter '{name}' still has a non-zero .grad",
                     ["likely cause: zero_grad() must clear the gradient of every parameter "
                      "(p.grad = None, or p.grad.zero_()); otherwise backward() adds to the old one"])


def _describe(reference: Any, hyper: dict) -> str:
    name = getattr(reference, "__qualname__", None) or getattr(reference, "__name__", None) or repr(reference)
    module = getattr(reference, "__module__", "") or ""
    if module.startswith("torch.optim"):
        name = f"torch.optim.{name}"
    args = ", ".join(f"{k}={v!r}" for k, v in hyper.items())
    return f"{name}({args})"


def _fmt_pair(expected: float, got: float) -> str:
    """'expected X, got Y' with enough digits to show that they differ."""
    for digits in (6, 9, 12, 17):
        e, g = f"{expected:.{digits}g}", f"{got:.{digits}g}"
        if e != g:
            break
    return f"{e}, got {g}"


# --------------------------------------------------------------------------- diagnosis
def _diagnose(ctx, step, first, names, model, loss_fn, mine, reference, hyper, ref_opt,
              my_params, ref_params, before, ref_before, rtol, atol, result) -> None:
    a, e = my_params[first].detach(), ref_params[first].detach()
    bad = ~torch.isclose(a, e, rtol=rtol, atol=atol)
    idx = tuple(int(i) for i in torch.nonzero(bad)[0]) if a.dim() else ()
    where = f" at index {idx}" if idx else ""
    summary = (f"parameters differ from {ctx.label} at step {step} of {ctx.steps}, first in '{names[first]}' "
               f"(shape {tuple(a.shape)}){where}: expected {_fmt_pair(float(e[idx]), float(a[idx]))}")
    n_bad = sum(not torch.allclose(p.detach(), q.detach(), rtol=rtol, atol=atol) for p, q in zip(my_params, ref_params))
    diffs = [(p.detach() - q.detach()).abs() for p, q in zip(my_params, ref_params)]
    finite = [d[torch.isfinite(d)] for d in diffs]
    max_err = max((float(d.max()) for d in finite if d.numel()), default=float("nan"))
    details = [f"{n_bad} of {len(my_params)} parameters differ; max abs error {max_err:.3g} "
               f"(rtol={rtol:g}, atol={atol:g}, {str(e.dtype).replace('torch.', '')})"]
    if step > 1:
        details.append(f"steps 1 to {step - 1} matched torch (max error "
                       f"{max(result.max_abs_error):.1e}); the difference starts at step {step}")
    causes = _causes(ctx, step, names, model, loss_fn, mine, reference, hyper, ref_opt,
                     my_params, ref_params, before, ref_before, rtol, atol)
    details += [f"likely cause: {c}" for c in causes]
    ctx.fail(summary, details)


def _causes(ctx, step, names, model, loss_fn, mine, reference, hyper, ref_opt,
            my_params, ref_params, before, ref_before, rtol, atol) -> list[str]:
    mine_now = [p.detach() for p in my_params]
    if not all(bool(torch.isfinite(p).all()) for p in mine_now):
        return ["a NaN or inf in your parameters: a division by zero? eps must be added to sqrt(v) "
                "(the denominator), and a bias correction 1 - beta ** t needs t counted from 1, not 0"]
    moved = [not torch.equal(p, b) for p, b in zip(mine_now, before)]
    ref_moved = [not torch.equal(p.detach(), b) for p, b in zip(ref_params, ref_before)]
    if not any(moved) and any(ref_moved):
        cause = ("step() did not change any parameter: update each parameter in place inside torch.no_grad() "
                 "(p.add_(...), p -= ...); `p = p - lr * g` only gives a local name a new tensor")
        if step > 1:
            cause += (". It worked at step 1: did you keep the parameters as a list? model.parameters() "
                      "is a generator, empty the second time it is read")
        return [cause]
    stuck = [names[i] for i in range(len(moved)) if ref_moved[i] and not moved[i]]
    if stuck:
        return [f"step() left {', '.join(repr(s) for s in stuck[:3])} unchanged while torch moved "
                f"{'it' if len(stuck) == 1 else 'them'}: does your loop visit every parameter?"]

    for cause, kind, make in _suspects(ref_opt):
        try:
            if kind == "run":  # the same mistake at every step, from the start
                theirs = _run(make, model, loss_fn, step)
            elif kind == "fresh":  # a new optimiser for this one step, from the parameters before it
                theirs = _run(functools.partial(_call_at, make, step), model, loss_fn, 1, start=before)
            else:  # "formula": the parameter after a mistaken step, from the parameter and its gradient
                theirs = _formula_step(make, step, model, loss_fn, before)
        except _NotApplicable:
            continue
        except Exception:
            continue
        if all(torch.allclose(p, q, rtol=rtol, atol=atol) for p, q in zip(mine_now, theirs)):
            return [cause]

    causes = []
    d_mine = torch.cat([(p - b).flatten() for p, b in zip(mine_now, before)])
    d_ref = torch.cat([(p.detach() - b).flatten() for p, b in zip(ref_params, ref_before)])
    ref_norm = float(d_ref.norm())
    if ref_norm > 0:
        c = float(d_mine @ d_ref) / ref_norm**2
        if float((d_mine - c * d_ref).norm()) <= 1e-6 * ref_norm and abs(c) > 1e-12 and abs(c - 1) > 1e-3:
            causes.append(_ratio_cause(c, hyper, step))
    if step > 1:
        causes.append("step 1 was right, so the update rule is right for a fresh state: look at what is carried "
                      "from one step to the next (the buffers, the step count t, where weight decay enters). "
                      "`buf = momentum * buf + g` gives a local name a new tensor: store it back, or update in "
                      "place (buf.mul_(momentum).add_(g))")
    moving = d_ref.abs() > 0
    if bool(moving.any()):
        # the typical element, not the worst: eps in the wrong place changes only the smallest gradients much
        rel = float(((d_mine - d_ref).abs()[moving] / d_ref.abs()[moving]).median())
        if rel < 1e-2:
            causes.append(f"your update is close to torch's (typical relative difference {rel:.1e}) but not equal: a "
                          "buffer kept in float32 for float64 parameters (torch.zeros_like(p) keeps the dtype), or eps "
                          "in the wrong place (torch adds it after the square root: sqrt(v) + eps)?")
    return causes


def _ratio_cause(c: float, hyper: dict, step: int) -> str:
    text = f"your update at step {step} is {c:.4g} times torch's"
    lr = hyper.get("lr")
    if abs(c + 1) < 1e-6:
        return text + ": the sign is flipped; step against the gradient (p -= lr * update)"
    if lr and abs(c * lr - 1) < 1e-6:
        return text + " (1 / lr): the learning rate is not applied"
    if lr and abs(c - lr) < 1e-6 * max(1.0, lr):
        return text + " (= lr): the learning rate is applied twice"
    return text + ": a factor is missing or extra (lr, 1 - beta, 1 - dampening, a bias correction?)"


def _formula_step(formula: Callable, step: int, model: nn.Module, loss_fn: Callable,
                  before: list[torch.Tensor]) -> list[torch.Tensor]:
    m = copy.deepcopy(model)
    with torch.no_grad():
        for p, value in zip(m.parameters(), before):
            p.copy_(value)
    loss_fn(m).backward()
    with torch.no_grad():
        return [p.detach().clone() if p.grad is None else formula(p.detach(), p.grad, step) for p in m.parameters()]


def _call_at(make: Callable, step: int, params: Any) -> Any:
    return make(params, step)


class _NotApplicable(Exception):
    """A "fresh" suspect that does not apply at this step."""


def _run(make: Callable, model: nn.Module, loss_fn: Callable, steps: int,
         start: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
    m = copy.deepcopy(model)
    if start is not None:
        with torch.no_grad():
            for p, value in zip(m.parameters(), start):
                p.copy_(value)
    opt = make(m.parameters())
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(m).backward()
        opt.step()
    return [p.detach() for p in m.parameters()]


# --------------------------------------------------------------------------- suspects
# A suspect is (likely cause, kind, factory), and its factory builds a torch optimiser that
# makes exactly that mistake:
#   "run":   factory(params), run from the start for as many steps as the learner's;
#   "fresh": factory(params, step), a new optimiser taking this one step from the
#            parameters before it (mistakes that lose the state, or only show at step 1);
#            it raises _NotApplicable at steps where it says nothing;
#   "formula": factory(p, g, step) -> p after the mistaken step, for the one mistake that
#            no torch setting reproduces (eps inside the square root), at step 1 only.
Suspect = tuple[str, str, Callable]
_EPS_INSIDE = "eps inside the square root? torch adds it after: sqrt(v) + eps, not sqrt(v + eps)"


def _suspects(ref_opt: Any) -> list[Suspect]:
    if not isinstance(ref_opt, torch.optim.Optimizer) or len(ref_opt.param_groups) != 1:
        return []
    d = ref_opt.defaults
    if d.get("maximize") or d.get("amsgrad"):
        return []
    if isinstance(ref_opt, torch.optim.SGD):
        return _sgd_suspects(d)
    if isinstance(ref_opt, torch.optim.RMSprop):
        return _rmsprop_suspects(d)
    if isinstance(ref_opt, torch.optim.Adam):  # AdamW is a subclass
        decoupled = isinstance(ref_opt, torch.optim.AdamW) or bool(d.get("decoupled_weight_decay"))
        return _adam_suspects(d, decoupled)
    return []


def _run_with(cls: type, **kwargs: Any) -> tuple[str, Callable]:
    return "run", lambda params: cls(params, **kwargs)


def _first_step_with(cls: type, **kwargs: Any) -> tuple[str, Callable]:
    def make(params, step):
        if step != 1:
            raise _NotApplicable
        return cls(params, **kwargs)

    return "fresh", make


def _sgd_suspects(d: dict) -> list[Suspect]:
    lr, mu, damp, wd, nest = d["lr"], d["momentum"], d["dampening"], d["weight_decay"], d["nesterov"]
    base = dict(lr=lr, momentum=mu, dampening=damp, weight_decay=wd, nesterov=nest)
    SGD = torch.optim.SGD
    out = []
    if lr != 1:
        out.append(("the learning rate is not applied: your step equals torch's with lr=1",
                    *_run_with(SGD, **{**base, "lr": 1.0})))
    if nest:
        out.append(("Nesterov look-ahead missing? With nesterov=True the step is g + momentum * buf "
                    "(the gradient plus the new buffer), not buf", *_run_with(SGD, **{**base, "nesterov": False})))
    if mu:
        out.append(("momentum has no effect: is the buffer stored on self and reused at the next step "
                    "(buf = momentum * buf + (1 - dampening) * g)?",
                    *_run_with(SGD, **{**base, "momentum": 0.0, "dampening": 0.0, "nesterov": False})))
    if damp and mu:
        out.append(("dampening ignored? The buffer update is buf = momentum * buf + (1 - dampening) * g",
                    *_run_with(SGD, **{**base, "dampening": 0.0})))
        out.append(("dampening applied at the first step? torch starts the buffer at the gradient itself "
                    "(buf = g at step 1, no factor 1 - dampening); only later steps are dampened",
                    *_first_step_with(SGD, **{**base, "lr": lr * (1 - damp)})))
    if wd:
        out.append(("weight decay missing? Add weight_decay * p to the gradient first: g = g + weight_decay * p",
                    *_run_with(SGD, **{**base, "weight_decay": 0.0})))
        if not mu and lr * wd != 1:
            # (p - lr g)(1 - lr wd) == p - lr' (g + wd' p) with lr' = lr (1 - lr wd), wd' = wd / (1 - lr wd)
            out.append(("weight decay applied after the update? torch adds weight_decay * p to the gradient "
                        "before the step, so both use the same p",
                        *_run_with(SGD, **{**base, "lr": lr * (1 - lr * wd), "weight_decay": wd / (1 - lr * wd)})))
    return out


def _rmsprop_suspects(d: dict) -> list[Suspect]:
    if d.get("momentum") or d.get("centered"):
        return []
    lr, alpha, eps, wd = d["lr"], d["alpha"], d["eps"], d["weight_decay"]
    base = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=wd)
    RMS = torch.optim.RMSprop
    out = []
    if lr != 1:
        out.append(("the learning rate is not applied: your step equals torch's with lr=1",
                    *_run_with(RMS, **{**base, "lr": 1.0})))
    if alpha != 0.5:
        out.append(("alpha used the wrong way round? v = alpha * v + (1 - alpha) * g**2",
                    *_run_with(RMS, **{**base, "alpha": 1 - alpha})))
    out.append(("the running average v is not kept between steps (it starts from zero at every step)? "
                "Store it back on self (or update it in place)", "fresh", lambda params, step: RMS(params, **base)))
    if alpha < 1:
        s = math.sqrt(1 - alpha)
        # v / (1 - alpha) = g**2 at step 1: the same as torch's step with lr and eps multiplied by s
        out.append(("a bias correction v / (1 - alpha**t)? torch's RMSprop has none (unlike Adam)",
                    *_first_step_with(RMS, **{**base, "lr": lr * s, "eps": eps * s})))
    if eps:
        out.append(("eps missing? The denominator is sqrt(v) + eps", *_run_with(RMS, **{**base, "eps": 0.0})))

        def eps_inside(p, g, step):  # step 1: v = (1 - alpha) g**2
            if step != 1:
                raise _NotApplicable
            g = g + wd * p
            return p - lr * g / ((1 - alpha) * g * g + eps).sqrt()

        out.append((_EPS_INSIDE, "formula", eps_inside))
    if wd:
        out.append(("weight decay missing? Add weight_decay * p to the gradient first: g = g + weight_decay * p",
                    *_run_with(RMS, **{**base, "weight_decay": 0.0})))
    return out


def _adam_suspects(d: dict, decoupled: bool) -> list[Suspect]:
    lr, (b1, b2), eps, wd = d["lr"], d["betas"], d["eps"], d["weight_decay"]
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    base = dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)

    def rescaled(lr_new: float, eps_new: float) -> dict:
        """The same hyperparameters with another lr and eps; for AdamW the decay lr * wd is kept."""
        wd_new = wd * lr / lr_new if decoupled and lr_new else wd
        return {**base, "lr": lr_new, "eps": eps_new, "weight_decay": wd_new}

    def stateless(params, step):
        # m and v restart from zero at every step while t counts on: m_hat = (1 - b1) g / (1 - b1**t),
        # v_hat = (1 - b2) g**2 / (1 - b2**t): a fresh optimiser's first step with a rescaled lr and eps.
        c1, c2 = (1 - b1) / (1 - b1**step), math.sqrt((1 - b2) / (1 - b2**step))
        return cls(params, **rescaled(lr * c1 / c2, eps / c2))

    s2 = math.sqrt(1 - b2)
    out = []
    if lr != 1:
        out.append(("the learning rate is not applied to the Adam step: yours equals torch's with lr=1",
                    *_run_with(cls, **rescaled(1.0, eps))))
    # At step 1, m = (1 - b1) g and v = (1 - b2) g**2; without correction the step is
    # lr (1 - b1) g / (s2 |g| + eps) == lr' g / (|g| + eps') with lr' = lr (1 - b1) / s2, eps' = eps / s2.
    out.append(("bias correction missing? Divide m by (1 - beta1**t) and v by (1 - beta2**t), with t = 1 "
                "at the first step", *_first_step_with(cls, **rescaled(lr * (1 - b1) / s2, eps / s2))))
    out.append(("v is not bias-corrected? v_hat = v / (1 - beta2**t)", *_first_step_with(cls, **rescaled(lr / s2, eps / s2))))
    if b1:
        out.append(("m is not bias-corrected? m_hat = m / (1 - beta1**t)",
                    *_first_step_with(cls, **rescaled(lr * (1 - b1), eps))))
    if b1 != b2:
        out.append(("beta1 and beta2 swapped? beta1 (0.9) averages the gradient, beta2 (0.999) its square",
                    *_run_with(cls, **{**base, "betas": (b2, b1)})))
    out.append(("m and v are not kept between steps (they restart from zero)? `m = beta1 * m + ...` gives a "
                "local name a new tensor: store it back (self.m[i] = ...) or update in place (m.mul_(...).add_(...))",
                "fresh", stateless))
    out.append(("m, v and the step count t are not kept between steps (every step looks like the first)? "
                "Keep them on self", "fresh", lambda params, step: cls(params, **base)))
    if eps:
        out.append(("eps missing? The denominator is sqrt(v_hat) + eps", *_run_with(cls, **{**base, "eps": 0.0})))

        def eps_inside(p, g, step):  # step 1: m_hat = g, v_hat = g**2
            if step != 1:
                raise _NotApplicable
            if decoupled:
                p = p * (1 - lr * wd)
            else:
                g = g + wd * p
            return p - lr * g / (g * g + eps).sqrt()

        out.append((_EPS_INSIDE, "formula", eps_inside))
    if wd:
        out.append(("weight decay missing?", *_run_with(cls, **{**base, "weight_decay": 0.0})))
        if decoupled:
            out.append(("weight decay added to the gradient (that is Adam's L2 penalty)? AdamW shrinks the "
                        "weights directly, p = p * (1 - lr * weight_decay), and leaves the gradient alone",
                        *_run_with(torch.optim.Adam, **base)))
            out.append(("weight decay not scaled by the learning rate? AdamW multiplies p by "
                        "1 - lr * weight_decay", *_run_with(cls, **{**base, "weight_decay": wd / lr})))
            if lr * wd != 1:
                # (p - lr u)(1 - lr wd) == p (1 - lr' wd') - lr' u with lr' = lr (1 - lr wd), wd' = wd / (1 - lr wd)
                out.append(("weight decay applied after the update? torch shrinks the weights first, "
                            "p = p * (1 - lr * weight_decay), then takes the Adam step",
                            *_run_with(cls, **{**base, "lr": lr * (1 - lr * wd), "weight_decay": wd / (1 - lr * wd)})))
        else:
            out.append(("weight decay applied directly to the weights (that is AdamW)? Adam adds "
                        "weight_decay * p to the gradient, before m and v are updated",
                        *_run_with(torch.optim.AdamW, **base)))
    return out
