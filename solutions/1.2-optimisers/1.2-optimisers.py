# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "1.2"
#     title: Optimisers and schedules
#     minutes: 180
#     prerequisites: ["0.3", "1.1"]
# ---

# %% [markdown]
# # 1.2 Optimisers and schedules
#
# `loss.backward()` tells you which way is downhill; the **optimiser** decides how far to
# go, and in which direction exactly. Every model in this course is trained by one of
# four update rules (SGD with momentum, RMSprop, Adam, AdamW) with a learning rate that
# changes over training. In this lesson you write each of them from its equations, and
# you do not stop at "the loss goes down": your optimiser must move every parameter
# *exactly* as `torch.optim` does, step after step. That is the standard a research
# engineer needs. When you later read "AdamW, lr 3e-3, β₂ = 0.98, 100 warm-up steps, cosine
# decay" in a paper, you will know precisely what each number does.
#
# **After this lesson you can**
# - write SGD (momentum, dampening, Nesterov, weight decay), RMSprop, Adam and AdamW as
#   classes with `zero_grad()` and `step()`, equal to `torch.optim` to the last bit;
# - explain what momentum, the adaptive denominator $\sqrt{v}$, bias correction and
#   decoupled weight decay each change, and see it on a 2-D loss surface;
# - write a warm-up + cosine learning-rate schedule, as a function and as a `LambdaLR`
#   multiplier, and check it against torch's schedulers;
# - run a small learning-rate × optimiser sweep, tabulate and plot it, and read it.
#
# **Prerequisites.** 0.3 (PyTorch fundamentals: tensors, autograd, `nn.Module`, a training
# loop) and 1.1 (backpropagation from scratch: you know what `p.grad` holds and why).
#
# **Time.** About 3 hours: ten graded exercises (24 points) and several pictures.
#
# **How the exercises work.** Each exercise explains an idea, then gives you a class or a
# function in which `raise NotImplementedError` marks the lines to write. Replace them and
# run the test cell below. A passing cell prints a line saying so. For an optimiser the test
# trains two copies of one small network on one fixed batch, one with your optimiser and one
# with `torch.optim`, and compares every parameter after every step; a failure names the
# first step and parameter that differ, both values, and, where it can tell, the likely
# cause ("bias correction missing?", "Nesterov look-ahead missing?"). When your notebook
# is graded, hidden tests add awkward cases: a parameter that never receives a gradient, a
# transposed (non-contiguous) or empty parameter, float32, other hyperparameters.
#
# From a terminal, `bootcamp check 1.2` runs the whole notebook and prints a table of every
# exercise. Each exercise says how hard it is (🔴, 1–5), how much it matters for the rest of
# the course (🔵, 1–5) and how long to try before opening the hint.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course import checks, data
from course.checks import optim as optim_checks

# The models in this lesson are tiny: a second CPU thread only adds overhead.
torch.set_num_threads(1)
torch.set_printoptions(precision=4)

# %% [markdown]
# ## What an optimiser is
#
# An optimiser holds a list of parameters (leaf tensors with `requires_grad=True`) and
# knows two things: how to clear their gradients, and how to move them once
# `loss.backward()` has filled in `p.grad`. Every training loop in this course has this
# shape:
#
# ```python
# opt = torch.optim.SGD(model.parameters(), lr=0.1)
# for step in range(steps):
#     opt.zero_grad()              # forget the previous step's gradients
#     loss = loss_fn(model)        # forward
#     loss.backward()              # p.grad = d loss / d p, for every parameter
#     opt.step()                   # move every parameter, using p.grad (and its own state)
# ```
#
# Three details of PyTorch decide whether your own optimiser works at all:
#
# - **`backward()` adds** to `p.grad`, it does not overwrite it. Without `zero_grad()` the
#   gradients of all previous steps pile up. Setting `p.grad = None` is what torch does by
#   default (`set_to_none=True`); `p.grad.zero_()` works too.
# - **Update in place, without recording.** The parameter object is shared with the model:
#   the update must change *that* tensor (`p.add_(...)`, `p.mul_(...)`, `p -= ...`), not
#   bind a new one (`p = p - lr * g` changes only your local name). And autograd refuses an
#   in-place change of a leaf that requires grad, unless it happens inside
#   `torch.no_grad()`: the `@torch.no_grad()` decorator on `step` does that.
# - **`model.parameters()` is a generator**: it can be read once. Keep `list(params)`.
#
# A parameter whose `.grad` is `None` (frozen, or not used by this loss) is skipped: torch
# neither moves it nor updates any state for it.
#
# Here is the loop with torch's own SGD on the small problem the tests use: an MLP
# (6 → 16 → 16 → 3, tanh) on a fixed batch of 32 points, in float64.

# %%
model, loss_fn = optim_checks.default_problem(seed=0)
print(model)
opt = torch.optim.SGD(model.parameters(), lr=0.5)
for step in range(1, 61):
    opt.zero_grad()
    loss = loss_fn(model)
    loss.backward()
    opt.step()
    if step in (1, 2, 3, 10, 20, 40, 60):
        print(f"step {step:2d}: loss before the step {loss.item():.4f}")

# %% [markdown]
# ## Exercise 1: `zero_grad` and plain SGD
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 2 points · about 8 minutes, then look at the hint.
#
# Stochastic gradient descent moves every parameter $\theta$ against its gradient $g$, by
# the learning rate $\eta$:
#
# $$\theta \leftarrow \theta - \eta\, g .$$
#
# Worked example: $\theta = 1.0$, $g = 0.5$, $\eta = 0.1$ gives $\theta = 0.95$.
#
# Write two methods. `Optimiser.zero_grad` is shared by every optimiser of this lesson
# (they all inherit it): clear the gradient of every parameter. `PlainSGD.step` makes the
# update above for every parameter that has a gradient.
#
# <details><summary>Hint</summary>
#
# **The idea.** `zero_grad` forgets every gradient; `step` moves each parameter that has a gradient
# a distance `lr` against it, in place, so the model sees the change.
#
# **A pointer.** Setting `.grad` to `None` is what torch does by default. Skip parameters whose
# gradient is `None`. An in-place update (`add_` with `alpha`, or `-=`) keeps the same tensor; the
# decorator `@torch.no_grad()` is already there.
# </details>

# %% nbgrader={"solution": true, "grade_id": "plain_sgd"} exercise={"difficulty": 1, "importance": 5, "minutes": 8}
class Optimiser:
    """What every optimiser of this lesson shares: its list of parameters, and zero_grad."""

    def __init__(self, params):
        self.params = list(params)  # model.parameters() is a generator: read it once, keep a list

    def zero_grad(self):
        """Clear the gradient of every parameter, so that the next backward() starts from nothing."""
        ### BEGIN SOLUTION
        for p in self.params:
            p.grad = None
        ### END SOLUTION


class PlainSGD(Optimiser):
    """theta <- theta - lr * g, for every parameter whose .grad is not None.

    params: an iterable of tensors (any shape and float dtype; may be empty or non-contiguous).
    lr: the learning rate, a float.
    """

    def __init__(self, params, lr):
        super().__init__(params)
        self.lr = lr

    @torch.no_grad()
    def step(self):
        ### BEGIN SOLUTION
        for p in self.params:
            if p.grad is None:
                continue
            p.add_(p.grad, alpha=-self.lr)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "plain_sgd_test", "points": 2}
result = optim_checks.compare_with_torch(
    "plain_sgd", PlainSGD, torch.optim.SGD, dict(lr=0.1),
    hint="p.add_(p.grad, alpha=-self.lr) inside step; zero_grad sets every p.grad to None")
print(result)
print("plain_sgd: visible tests pass")
### BEGIN HIDDEN TESTS
optim_checks.compare_with_torch("plain_sgd", PlainSGD, torch.optim.SGD, dict(lr=0.7), steps=30, seed=3,
                                hint="any learning rate, any starting point")
optim_checks.compare_with_torch("plain_sgd", PlainSGD, torch.optim.SGD, dict(lr=0.3), dtype=torch.float32,
                                hint="float32 parameters stay float32")
optim_checks.compare_with_torch("plain_sgd", PlainSGD, torch.optim.SGD, dict(lr=0.2), problem=optim_checks.awkward_problem,
                                hint="skip parameters whose .grad is None; empty, 0-d and transposed parameters must work")
_p = torch.nn.Parameter(torch.ones(3))
_p.grad = torch.full((3,), 2.0)
_o = PlainSGD([_p], lr=0.5)
_o.zero_grad()
checks.assert_true("plain_sgd", _p.grad is None or bool((_p.grad == 0).all()),
                   f"after zero_grad(), p.grad is {_p.grad}; expected None (or zeros)", hint="p.grad = None for every parameter")
_o = PlainSGD((q for q in [_p]), lr=0.5)
_p.grad = torch.full((3,), 2.0)
_o.step()
checks.assert_close("plain_sgd", _p.detach(), torch.zeros(3), name="p after one step of lr 0.5 with gradient 2",
                    hint="1 - 0.5 * 2 = 0")
### END HIDDEN TESTS

# %% [markdown]
# ## Pictures: optimisers on a 2-D loss surface
#
# A network has thousands of parameters, but the way an optimiser behaves shows already in
# two dimensions. We use two classic surfaces:
#
# - an **ill-conditioned quadratic** $f(x, y) = \tfrac12 (x^2 + 10\, y^2)$: a long narrow
#   valley, ten times steeper across ($y$) than along ($x$);
# - **Rosenbrock's function** $f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2$: a curved banana-shaped
#   valley whose minimum is at $(1, 1)$, where $f = 0$. It is easy to reach the valley and
#   hard to travel along it.

# %%
def quadratic(xy):
    """0.5 * (x**2 + 10 * y**2); minimum 0 at (0, 0). xy: tensor of shape (2,)."""
    return 0.5 * (xy[0] ** 2 + 10 * xy[1] ** 2)


def rosenbrock(xy):
    """(1 - x)**2 + 100 * (y - x**2)**2; minimum 0 at (1, 1). xy: tensor of shape (2,)."""
    return (1 - xy[0]) ** 2 + 100 * (xy[1] - xy[0] ** 2) ** 2


def plot_paths(ax, fn, paths, xlim, ylim, minimum, levels, title):
    """Contours of fn (log-spaced levels) and one line per optimiser path (a (steps + 1, 2) tensor)."""
    xs, ys = np.linspace(*xlim, 200), np.linspace(*ylim, 200)
    grid_x, grid_y = np.meshgrid(xs, ys)
    z = fn(torch.tensor(np.stack([grid_x, grid_y]))).numpy()
    ax.contour(grid_x, grid_y, z, levels=levels, colors="lightgray", linewidths=0.8)
    for label, path in paths.items():
        p = path.numpy()
        ax.plot(p[:, 0], p[:, 1], ".-", markersize=2.5, linewidth=1.2, label=f"{label} ({len(p) - 1} steps)")
    ax.plot(*minimum, "k*", markersize=12)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")


QUAD_VIEW = dict(xlim=(-2.5, 2.5), ylim=(-1.3, 1.3), minimum=(0, 0), levels=np.geomspace(0.01, 20, 12))
ROSEN_VIEW = dict(xlim=(-2, 2), ylim=(-0.5, 2), minimum=(1, 1), levels=np.geomspace(0.05, 1000, 14))
ROSEN_START = (-1.2, 1.0)  # the classic starting point

# %% [markdown]
# ## Exercise 2: the path of an optimiser
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Write `trajectory(make_optimiser, loss_fn, start, steps)`: put the point `start` in a
# float64 tensor that requires grad, hand `[point]` to `make_optimiser` (a function that
# takes a list of parameters and returns an optimiser, yours or torch's), run `steps`
# ordinary training steps on `loss_fn(point)`, and return every position, the start
# included, as a `(steps + 1, 2)` float64 tensor.
#
# Worked example. On the quadratic, $\nabla f = (x,\ 10y)$, so one SGD step multiplies $x$
# by $1 - \eta$ and $y$ by $1 - 10\eta$. From $(2, 1)$ with $\eta = 0.05$ the path is
# $(2, 1), (1.9, 0.5), (1.805, 0.25), \dots$: after $k$ steps
# $(2 \cdot 0.95^k,\ 0.5^k)$.
#
# The trap: the point is one tensor that the optimiser changes in place. Appending it (or
# `point.detach()`, which shares its memory) to a list appends the same memory again and
# again, and every row ends up equal to the last position. Append a copy.
#
# <details><summary>Hint</summary>
#
# **The idea.** Make the point a leaf tensor that requires grad, give it to the optimiser, and
# record where it is before the first step and after every step.
#
# **A pointer.** The usual three calls per step (zero the gradient, backward on the loss, step).
# Record a *copy* detached from the graph each time: a view of the same tensor would change with it.
# `torch.stack` turns the list into `(steps + 1, 2)`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "trajectory"} exercise={"difficulty": 2, "importance": 3, "minutes": 10}
def trajectory(make_optimiser, loss_fn, start, steps):
    """The positions an optimiser visits on a 2-D function.

    make_optimiser: callable taking a list of parameters, returning an object with
        zero_grad() and step() (e.g. lambda params: torch.optim.SGD(params, lr=0.1)).
    loss_fn: maps a tensor of shape (2,) to a scalar tensor.
    start: the starting point, a pair of numbers (x, y).
    steps: the number of optimiser steps, an int >= 0.
    Returns a float64 tensor of shape (steps + 1, 2), not requiring grad: row 0 is start,
    row k the position after k steps.
    """
    ### BEGIN SOLUTION
    point = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = make_optimiser([point])
    path = [point.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(point).backward()
        opt.step()
        path.append(point.detach().clone())
    return torch.stack(path)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "trajectory_test", "points": 2}
path = trajectory(lambda params: torch.optim.SGD(params, lr=0.05), quadratic, (2.0, 1.0), steps=30)
checks.assert_shape("trajectory", path, (31, 2), hint="steps + 1 rows: the start, then one row per step")
checks.assert_dtype("trajectory", path, torch.float64)
k = torch.arange(31, dtype=torch.float64)
checks.assert_close("trajectory", path, torch.stack([2.0 * 0.95**k, 1.0 * 0.5**k], dim=1),
                    hint="row k is (2 * 0.95**k, 0.5**k). If every row is the last position, you appended the "
                         "same tensor each time: append point.detach().clone()")
print("trajectory: visible tests pass")
### BEGIN HIDDEN TESTS
_path = trajectory(lambda ps: torch.optim.SGD(ps, lr=0.1), quadratic, (1, 2), steps=0)
checks.assert_shape("trajectory", _path, (1, 2), hint="steps=0 gives just the start")
checks.assert_close("trajectory", _path, torch.tensor([[1.0, 2.0]], dtype=torch.float64),
                    hint="integer starts become float64")
checks.assert_true("trajectory", not _path.requires_grad, "the returned path requires grad; detach it")
_xy = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
_opt = torch.optim.Adam([_xy], lr=0.05)
_want = [_xy.detach().clone()]
for _ in range(40):
    _opt.zero_grad()
    rosenbrock(_xy).backward()
    _opt.step()
    _want.append(_xy.detach().clone())
checks.assert_close("trajectory", trajectory(lambda ps: torch.optim.Adam(ps, lr=0.05), rosenbrock, (-1.5, 2.0), 40),
                    torch.stack(_want), hint="an optimiser with state (Adam) must be created once, before the loop")
### END HIDDEN TESTS

# %% [markdown]
# Now look at plain SGD (yours) on both surfaces. On the quadratic, each coordinate is
# multiplied by $1 - \eta\lambda$ per step, where $\lambda$ is the curvature along it
# (1 along $x$, 10 along $y$). The steep direction limits the learning rate: with
# $\eta > 2/10$ the factor $1 - 10\eta$ is below $-1$ and $y$ grows, so SGD diverges;
# just below that limit $y$ flips sign at every step (the zig-zag), while along the
# shallow $x$ direction the factor $1 - \eta$ is close to 1 and progress is slow.

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
plot_paths(ax1, quadratic, {f"SGD lr={lr}": trajectory(lambda ps, lr=lr: PlainSGD(ps, lr=lr), quadratic, (-2.2, 1.0), 40)
                            for lr in (0.05, 0.18)}, title="Ill-conditioned quadratic", **QUAD_VIEW)
plot_paths(ax2, rosenbrock, {"SGD lr=1e-3": trajectory(lambda ps: PlainSGD(ps, lr=1e-3), rosenbrock, ROSEN_START, 400)},
           title="Rosenbrock", **ROSEN_VIEW)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Exercise 3: SGD with momentum, dampening, Nesterov and weight decay
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 5 points · about 25 minutes, then look at the hint.
#
# **Momentum** keeps a running direction $b$ (the "velocity buffer") and steps along it
# instead of along the raw gradient. Across the narrow valley the gradient flips sign at
# each step and these contributions cancel in $b$; along the valley they agree and add up,
# so the step grows to about $1/(1-\mu)$ times the gradient step (10× for $\mu = 0.9$).
# Here are the exact equations of `torch.optim.SGD` (see its documentation), for each
# parameter $\theta$ with gradient $g$, learning rate $\eta$, momentum $\mu$, dampening
# $\tau$ and weight decay $\lambda$:
#
# 1. **weight decay** (an L2 penalty $\tfrac{\lambda}{2}\lVert\theta\rVert^2$ added to the
#    loss, whose gradient is $\lambda\theta$): $\ g \leftarrow g + \lambda\,\theta$;
# 2. **momentum**, if $\mu \ne 0$: at the parameter's first step $b \leftarrow g$ (no
#    dampening), afterwards $b \leftarrow \mu\, b + (1 - \tau)\, g$; then
#    - **Nesterov**: $g \leftarrow g + \mu\, b$ (look ahead: the gradient plus one more
#      momentum step, using the *new* $b$);
#    - otherwise: $g \leftarrow b$;
# 3. $\theta \leftarrow \theta - \eta\, g$.
#
# Worked example, one parameter, $\eta = 0.1$, $\mu = 0.9$, $\tau = 0$, $\lambda = 0$ and the
# gradient $g = 1$ at every step: step 1 sets $b = 1$ and moves $\theta$ by $-0.1$; step 2
# sets $b = 0.9 + 1 = 1.9$ and moves by $-0.19$; step 3: $b = 2.71$, $-0.271$. With
# `nesterov=True` the moves are $-0.1\,(1 + 0.9 \cdot 1) = -0.19$, then $-0.1\,(1 + 0.9
# \cdot 1.9) = -0.271$, ...: Nesterov is one step ahead.
#
# Two things to write. In `__init__`, raise `ValueError` when `nesterov=True` but
# `momentum <= 0` or `dampening != 0` (torch refuses this combination too). In `step`, the
# three updates above. Keep each parameter's buffer in `self.buffers[i]` (`None` until its
# first step), so that it survives until the next call.
#
# <details><summary>Hint</summary>
#
# **The idea.** The update direction is built in stages, each optional: the gradient, plus weight
# decay times the parameter; then a momentum buffer that keeps a running sum of directions; with
# Nesterov, look one momentum step ahead. Finally step against that direction.
#
# **A pointer.** Each parameter has its own buffer (`self.buffers[i]`); on the first step it starts
# as a *copy* of the direction (without `clone()` it would be the gradient tensor itself, and later
# in-place updates would change both). Never modify `p.grad`. Check the Nesterov/dampening rule in
# the constructor.
# </details>

# %% nbgrader={"solution": true, "grade_id": "sgd"} exercise={"difficulty": 3, "importance": 4, "minutes": 25}
class SGD(Optimiser):
    """torch.optim.SGD: momentum, dampening, Nesterov momentum and (L2) weight decay.

    params: an iterable of tensors (any shape and float dtype).
    lr, momentum, dampening, weight_decay: floats >= 0; nesterov: bool.
    Raises ValueError if nesterov is True and momentum <= 0 or dampening != 0.
    State: self.buffers[i], the momentum buffer of parameter i (same shape and dtype), None
    until the parameter's first step.
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params)
        # Refuse nesterov=True without momentum or with dampening, as torch does (ValueError).
        ### BEGIN SOLUTION
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        ### END SOLUTION
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov
        self.buffers = [None] * len(self.params)

    @torch.no_grad()
    def step(self):
        ### BEGIN SOLUTION
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad
            if self.weight_decay != 0:
                g = g.add(p, alpha=self.weight_decay)
            if self.momentum != 0:
                buf = self.buffers[i]
                if buf is None:
                    buf = self.buffers[i] = g.clone()
                else:
                    buf.mul_(self.momentum).add_(g, alpha=1 - self.dampening)
                g = g.add(buf, alpha=self.momentum) if self.nesterov else buf
            p.add_(g, alpha=-self.lr)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sgd_test", "points": 3}
print(optim_checks.compare_with_torch("sgd", SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9),
                                      hint="step 1: buf = g; later buf = momentum * buf + (1 - dampening) * g; step along buf"))
print(optim_checks.compare_with_torch("sgd", SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.8, dampening=0.5),
                                      hint="the first step uses buf = g, undampened; dampening starts at step 2"))
print(optim_checks.compare_with_torch("sgd", SGD, torch.optim.SGD, dict(lr=0.2, weight_decay=0.1),
                                      hint="weight decay: g = g + weight_decay * p, before anything else"))
print("sgd: visible tests pass")
### BEGIN HIDDEN TESTS
optim_checks.compare_with_torch("sgd", SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.95, dampening=0.1, weight_decay=0.3),
                                steps=40, seed=5, hint="weight decay enters the gradient before the momentum buffer")
optim_checks.compare_with_torch("sgd", SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9), problem=optim_checks.awkward_problem,
                                hint="skip parameters whose .grad is None; a buffer per parameter (g.clone())")
optim_checks.compare_with_torch("sgd", SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01),
                                dtype=torch.float32, hint="float32 parameters, float32 buffers")
optim_checks.compare_with_torch("sgd", SGD, torch.optim.SGD, dict(lr=0.3), hint="momentum=0 is plain SGD")
optim_checks.compare_with_torch("sgd", SGD, torch.optim.SGD, dict(lr=0.3, dampening=0.5),
                                hint="momentum=0 is plain SGD, whatever the dampening: no buffer at all")
optim_checks.compare_with_torch("sgd", SGD, torch.optim.SGD, dict(lr=0.01, momentum=1.0, weight_decay=1.0), steps=5,
                                hint="momentum=1 and weight_decay=1 are values like any other");
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "sgd_test_2", "points": 2}
print(optim_checks.compare_with_torch("sgd", SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True),
                                      hint="Nesterov: g = g + momentum * buf, with the buffer already updated"))
print(optim_checks.compare_with_torch("sgd", SGD, torch.optim.SGD,
                                      dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05)))
checks.assert_raises("sgd", ValueError, SGD, [torch.nn.Parameter(torch.zeros(2))], lr=0.1, nesterov=True,
                     hint="nesterov=True needs momentum > 0: raise ValueError in __init__")
print("sgd: visible tests pass")
### BEGIN HIDDEN TESTS
checks.assert_raises("sgd", ValueError, SGD, [torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9,
                     dampening=0.1, nesterov=True, hint="nesterov=True needs dampening == 0: raise ValueError in __init__")
optim_checks.compare_with_torch("sgd", SGD, torch.optim.SGD, dict(lr=0.02, momentum=0.99, nesterov=True, weight_decay=0.2),
                                steps=40, problem=optim_checks.awkward_problem);
### END HIDDEN TESTS

# %% [markdown]
# Here are your SGD, momentum and Nesterov momentum on both surfaces, each with a learning
# rate at which plain SGD is stable.

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
quad_paths = {
    "SGD lr=0.05": trajectory(lambda ps: SGD(ps, lr=0.05), quadratic, (-2.2, 1.0), 40),
    "momentum 0.8": trajectory(lambda ps: SGD(ps, lr=0.05, momentum=0.8), quadratic, (-2.2, 1.0), 40),
    "Nesterov 0.8": trajectory(lambda ps: SGD(ps, lr=0.05, momentum=0.8, nesterov=True), quadratic, (-2.2, 1.0), 40),
}
rosen_paths = {
    "SGD lr=1e-3": trajectory(lambda ps: SGD(ps, lr=1e-3), rosenbrock, ROSEN_START, 400),
    "momentum 0.9": trajectory(lambda ps: SGD(ps, lr=1e-3, momentum=0.9), rosenbrock, ROSEN_START, 400),
    "Nesterov 0.9": trajectory(lambda ps: SGD(ps, lr=1e-3, momentum=0.9, nesterov=True), rosenbrock, ROSEN_START, 400),
}
plot_paths(ax1, quadratic, quad_paths, title="Ill-conditioned quadratic", **QUAD_VIEW)
plot_paths(ax2, rosenbrock, rosen_paths, title="Rosenbrock", **ROSEN_VIEW)
plt.tight_layout()
plt.show()
for label, p in rosen_paths.items():
    print(f"Rosenbrock, {label:13s}: final point ({p[-1, 0]:.3f}, {p[-1, 1]:.3f}), loss {rosenbrock(p[-1]).item():.4f}")

# %% [markdown]
# **What just happened.** On the quadratic, momentum builds speed along the shallow $x$
# direction, where successive gradients agree, and overshoots a little before settling;
# Nesterov's look-ahead damps that overshoot, because it already "sees" where the momentum
# is taking it. On Rosenbrock, plain SGD reaches the valley quickly and then crawls along
# its floor, where the gradient is tiny; momentum accumulates those tiny, consistent
# gradients and travels along the valley towards $(1, 1)$. The learning rate did not change:
# momentum changed the *effective* step along consistent directions only.

# %% [markdown]
# ## Moving averages and bias correction
#
# RMSprop and Adam keep **exponential moving averages** (EMA) of the gradient and of its
# square. An EMA with decay $\beta$ starts at $m_0 = 0$ and for $t = 1, 2, \dots$
#
# $$m_t = \beta\, m_{t-1} + (1 - \beta)\, x_t
#      = (1 - \beta) \sum_{s=1}^{t} \beta^{\,t-s} x_s .$$
#
# It averages over roughly the last $1/(1-\beta)$ values: 10 for $\beta = 0.9$, 1000 for
# $\beta = 0.999$. Because it starts at 0, it is biased towards 0 early on: for a constant
# input $x_t = c$ the sum is a geometric series and $m_t = c\,(1 - \beta^t)$, far below $c$
# while $t \ll 1/(1 - \beta)$. Dividing by that factor removes the bias exactly for a
# constant input, and approximately otherwise:
#
# $$\hat m_t = \frac{m_t}{1 - \beta^t}.$$
#
# This is Adam's **bias correction** (Kingma & Ba, 2015, section 3). Without it, Adam's first
# steps would be far too large: $v$, with $\beta_2 = 0.999$, starts about 30 times too small
# in square root, while $m$ only 10 times.

# %% [markdown]
# ## Exercise 4: a bias-corrected moving average
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Write `ema(xs, beta, debias=True)`: the moving average $m_t$ of a sequence `xs` along its
# first axis (one average per remaining element), divided by $1 - \beta^t$ when `debias`.
#
# Worked example: `xs = [1, 2, 3]`, $\beta = 0.5$: $m = [0.5,\ 1.25,\ 2.125]$; the
# corrections are $1 - 0.5^t = [0.5, 0.75, 0.875]$, so $\hat m = [1,\ 1.6667,\ 2.4286]$.
# Note that $\hat m_1 = x_1$ always.
#
# A loop over time is the right tool here (each $m_t$ depends on $m_{t-1}$).
#
# <details><summary>Hint</summary>
#
# `m = torch.zeros_like(xs[0])` fails for an empty sequence; `torch.zeros(xs.shape[1:],
# dtype=xs.dtype)` does not. Fill `out = torch.empty_like(xs)` row by row:
# `m = beta * m + (1 - beta) * xs[t]`, then `out[t] = m / (1 - beta ** (t + 1))` (Python
# counts from 0, the formula from 1).
# </details>

# %% nbgrader={"solution": true, "grade_id": "ema"} exercise={"difficulty": 2, "importance": 3, "minutes": 10}
def ema(xs, beta, debias=True):
    """Exponential moving average along axis 0, optionally bias-corrected.

    xs: float tensor of shape (T, ...) (T may be 0); beta: float in [0, 1).
    Returns a tensor of the same shape and dtype: out[t] = m_{t+1}, or m_{t+1} / (1 - beta**(t+1))
    if debias, where m_0 = 0 and m_t = beta * m_{t-1} + (1 - beta) * xs[t-1].
    """
    ### BEGIN SOLUTION
    m = torch.zeros(xs.shape[1:], dtype=xs.dtype)
    out = torch.empty_like(xs)
    for t in range(xs.shape[0]):
        m = beta * m + (1 - beta) * xs[t]
        out[t] = m / (1 - beta ** (t + 1)) if debias else m
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ema_test", "points": 2}
xs = torch.tensor([1.0, 2.0, 3.0])
checks.assert_close("ema", ema(xs, 0.5, debias=False), torch.tensor([0.5, 1.25, 2.125]),
                    hint="m_t = beta * m_{t-1} + (1 - beta) * x_t, starting from m_0 = 0")
checks.assert_close("ema", ema(xs, 0.5), torch.tensor([1.0, 1.25 / 0.75, 2.125 / 0.875]),
                    hint="divide m_t by 1 - beta**t, with t = 1 for the first element")
constant = torch.full((50,), 3.0, dtype=torch.float64)
checks.assert_close("ema", ema(constant, 0.9), constant,
                    hint="bias correction makes the average of a constant sequence exactly that constant")
checks.assert_close("ema", ema(constant, 0.9, debias=False), 3.0 * (1 - 0.9 ** torch.arange(1, 51, dtype=torch.float64)),
                    hint="without correction, a constant c gives c * (1 - beta**t)")
print("ema: visible tests pass")
### BEGIN HIDDEN TESTS
def _closed_form(xs, beta, debias):
    """m_t = (1 - beta) * sum_s beta**(t - s) x_s, as one weighted sum per t (float64)."""
    t = torch.arange(1, xs.shape[0] + 1, dtype=torch.float64)
    weights = (1 - beta) * beta ** (t[:, None] - t[None, :]) * (t[None, :] <= t[:, None])
    m = torch.einsum("ts,s...->t...", weights, xs.double())
    return m / (1 - beta**t).reshape(-1, *[1] * (xs.dim() - 1)) if debias else m


_rng = torch.Generator().manual_seed(0)
_xs = torch.randn(30, 4, 3, dtype=torch.float64, generator=_rng)
checks.assert_close("ema", ema(_xs, 0.8, debias=False), _closed_form(_xs, 0.8, False),
                    hint="one average per element of the remaining axes")
checks.assert_close("ema", ema(_xs, 0.8), _closed_form(_xs, 0.8, True))
checks.assert_close("ema", ema(_xs[:, ::2, 0], 0.8), _closed_form(_xs, 0.8, True)[:, ::2, 0],
                    hint="a strided (non-contiguous) input must work")
checks.assert_close("ema", ema(_xs, 0.0), _xs, hint="beta = 0 keeps only the latest value")
_x32 = _xs[:, 0, 0].float()
checks.assert_dtype("ema", ema(_x32, 0.99), torch.float32, hint="float32 in, float32 out")
checks.assert_close("ema", ema(_x32, 0.99), _closed_form(_x32, 0.99, True).float(), rtol=1e-5, atol=1e-6)
checks.assert_shape("ema", ema(torch.zeros(0, 5), 0.9), (0, 5), hint="an empty sequence gives an empty result")
_in = _xs.clone()
ema(_in, 0.5)
checks.assert_close("ema", _in, _xs, name="the input after the call", hint="do not modify xs in place")
### END HIDDEN TESTS

# %%
rng = torch.Generator().manual_seed(1)
noisy = 1.0 + 0.5 * torch.randn(200, generator=rng, dtype=torch.float64)
fig, ax = plt.subplots(figsize=(10, 3.5))
ax.plot(noisy, color="lightgray", label="x_t (mean 1, noise 0.5)")
for beta, color in ((0.9, "tab:blue"), (0.99, "tab:orange")):
    ax.plot(ema(noisy, beta, debias=False), "--", color=color, label=f"EMA β={beta}, no correction")
    ax.plot(ema(noisy, beta), color=color, label=f"EMA β={beta}, bias-corrected")
ax.set_xlabel("t")
ax.set_ylim(-0.2, 2.2)
ax.legend(fontsize=8, ncol=3, loc="lower right")
ax.set_title("Without correction the average starts at 0 and needs ~1/(1-β) steps to catch up")
plt.show()

# %% [markdown]
# ## Exercise 5: RMSprop
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 12 minutes, then look at the hint.
#
# SGD uses one learning rate for every parameter, so the steepest direction sets the limit
# for all of them (the quadratic above). **RMSprop** (Hinton, Coursera lecture 6e, 2012)
# divides each parameter's step by a running root-mean-square of its own gradients, so a
# direction with large gradients takes smaller steps and a flat one larger steps. The
# equations of `torch.optim.RMSprop` (without its `momentum` and `centered` options), with
# decay $\alpha$ and a small $\varepsilon$ that keeps the division finite:
#
# 1. $g \leftarrow g + \lambda\,\theta$ (weight decay, as in SGD);
# 2. $v \leftarrow \alpha\, v + (1 - \alpha)\, g^2$ (element-wise, $v$ starts at 0; no bias correction);
# 3. $\theta \leftarrow \theta - \eta\, \dfrac{g}{\sqrt{v} + \varepsilon}$.
#
# Worked example: $\alpha = 0.99$, $\eta = 0.01$, first step with $g = 2$: $v = 0.01 \cdot 4
# = 0.04$, $\sqrt v = 0.2$, so $\theta$ moves by $-0.01 \cdot 2 / 0.2 = -0.1$. The step size
# no longer depends on the scale of $g$: with $g = 200$ it is the same $-0.1$.
#
# Note where $\varepsilon$ goes: *outside* the square root, as in torch.
#
# <details><summary>Hint</summary>
#
# **The idea.** Keep a running average of squared gradients per parameter and divide each step by
# its square root (plus `eps`), so coordinates with large gradients take smaller steps.
#
# **A pointer.** Update `self.v[i]` in place (`mul_` then `addcmul_`), or assign the new tensor back
# to the list; `addcdiv_` does "add value times a over b" in place for the step. Weight decay goes
# into the gradient first.
# </details>

# %% nbgrader={"solution": true, "grade_id": "rmsprop"} exercise={"difficulty": 2, "importance": 3, "minutes": 12}
class RMSprop(Optimiser):
    """torch.optim.RMSprop without momentum and centering.

    params: an iterable of tensors; lr, alpha (in [0, 1)), eps, weight_decay: floats.
    State: self.v[i], the running average of the squared gradient of parameter i
    (same shape and dtype, starts at zeros).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(params)
        self.lr, self.alpha, self.eps, self.weight_decay = lr, alpha, eps, weight_decay
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self):
        ### BEGIN SOLUTION
        for p, v in zip(self.params, self.v):
            if p.grad is None:
                continue
            g = p.grad
            if self.weight_decay != 0:
                g = g.add(p, alpha=self.weight_decay)
            v.mul_(self.alpha).addcmul_(g, g, value=1 - self.alpha)
            p.addcdiv_(g, v.sqrt().add_(self.eps), value=-self.lr)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "rmsprop_test", "points": 2}
print(optim_checks.compare_with_torch("rmsprop", RMSprop, torch.optim.RMSprop, dict(lr=0.01),
                                      hint="v = alpha * v + (1 - alpha) * g**2; p -= lr * g / (sqrt(v) + eps)"))
print(optim_checks.compare_with_torch("rmsprop", RMSprop, torch.optim.RMSprop,
                                      dict(lr=0.003, alpha=0.9, eps=1e-3, weight_decay=0.1),
                                      hint="weight decay first: g = g + weight_decay * p"))
print("rmsprop: visible tests pass")
### BEGIN HIDDEN TESTS
optim_checks.compare_with_torch("rmsprop", RMSprop, torch.optim.RMSprop, dict(lr=0.02, alpha=0.5, eps=1e-6),
                                steps=40, seed=7)
optim_checks.compare_with_torch("rmsprop", RMSprop, torch.optim.RMSprop, dict(lr=0.01, weight_decay=0.05),
                                problem=optim_checks.awkward_problem)
optim_checks.compare_with_torch("rmsprop", RMSprop, torch.optim.RMSprop, dict(lr=0.001), dtype=torch.float32)
optim_checks.compare_with_torch("rmsprop", RMSprop, torch.optim.RMSprop, dict(lr=0.01, weight_decay=1.0), steps=5,
                                hint="weight_decay=1 is a value like any other: g = g + weight_decay * p");
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: Adam
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 20 minutes, then look at the hint.
#
# **Adam** (Kingma & Ba, 2015, Algorithm 1) combines momentum (an EMA $m$ of the gradient,
# decay $\beta_1$) with RMSprop's denominator (an EMA $v$ of the squared gradient, decay
# $\beta_2$), and bias-corrects both. It is the default optimiser for transformers, and the
# one you will use for nearly every model in this course. The equations of
# `torch.optim.Adam`, with a step count $t$ shared by all parameters:
#
# 1. $t \leftarrow t + 1$ (so $t = 1$ at the first step);
# 2. $g \leftarrow g + \lambda\,\theta$ (weight decay as an L2 penalty, as in SGD);
# 3. $m \leftarrow \beta_1 m + (1 - \beta_1)\, g$ and $v \leftarrow \beta_2 v + (1 - \beta_2)\, g^2$;
# 4. $\hat m = m / (1 - \beta_1^t)$ and $\hat v = v / (1 - \beta_2^t)$;
# 5. $\theta \leftarrow \theta - \eta\, \dfrac{\hat m}{\sqrt{\hat v} + \varepsilon}$.
#
# Worked example, first step: $\hat m = g$ and $\hat v = g^2$ exactly, so the update is
# $-\eta\, g / (|g| + \varepsilon) \approx -\eta \operatorname{sign}(g)$: every parameter
# moves by about $\eta$ at the first step, whatever the size of its gradient. Without bias
# correction, with the default betas, it would move by $\eta \cdot 0.1 / \sqrt{0.001}
# \approx 3.2\,\eta$.
#
# (torch counts $t$ per parameter, and a parameter without a gradient does not step. Here
# every parameter either gets a gradient at every step or never does, so one shared $t$ gives
# the same result.)
#
# <details><summary>Hint</summary>
#
# **The idea.** Two running averages per parameter: of the gradient (momentum, `m`) and of its
# square (`v`). Early on both are biased towards zero, so divide each by one minus its beta to the
# power of the step count, then step by `lr` times `m_hat / (sqrt(v_hat) + eps)`.
#
# **A pointer.** Count the step once per call, not once per parameter. Update `m` and `v` in place
# so the optimiser's state changes; `eps` goes after the square root.
# </details>

# %% nbgrader={"solution": true, "grade_id": "adam"} exercise={"difficulty": 3, "importance": 5, "minutes": 20}
class Adam(Optimiser):
    """torch.optim.Adam (without amsgrad), weight decay as an L2 penalty on the gradient.

    params: an iterable of tensors; lr, eps, weight_decay: floats; betas: (beta1, beta2),
    each in [0, 1).
    State: self.t, the number of steps taken (0 before the first); self.m[i] and self.v[i],
    the moving averages of the gradient and of its square (same shape and dtype as
    parameter i, starting at zeros).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self):
        ### BEGIN SOLUTION
        beta1, beta2 = self.betas
        self.t += 1
        correction1, correction2 = 1 - beta1**self.t, 1 - beta2**self.t
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            g = p.grad
            if self.weight_decay != 0:
                g = g.add(p, alpha=self.weight_decay)
            m.mul_(beta1).add_(g, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            p.sub_(self.lr * (m / correction1) / ((v / correction2).sqrt() + self.eps))
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "adam_test", "points": 3}
print(optim_checks.compare_with_torch("adam", Adam, torch.optim.Adam, dict(lr=0.01),
                                      hint="t = 1 at the first step; m_hat = m / (1 - beta1**t), v_hat = v / (1 - beta2**t)"))
print(optim_checks.compare_with_torch("adam", Adam, torch.optim.Adam,
                                      dict(lr=0.005, betas=(0.8, 0.99), eps=1e-4, weight_decay=0.1),
                                      hint="Adam's weight decay is added to the gradient, before m and v"))
print("adam: visible tests pass")
### BEGIN HIDDEN TESTS
optim_checks.compare_with_torch("adam", Adam, torch.optim.Adam, dict(lr=0.02, betas=(0.0, 0.9)), steps=30, seed=2,
                                hint="beta1 = 0 is allowed: no momentum")
optim_checks.compare_with_torch("adam", Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=1.0), steps=5,
                                hint="weight_decay=1 is a value like any other: g = g + weight_decay * p")
optim_checks.compare_with_torch("adam", Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.01),
                                problem=optim_checks.awkward_problem,
                                hint="skip parameters whose .grad is None; empty, 0-d and transposed parameters must work")
optim_checks.compare_with_torch("adam", Adam, torch.optim.Adam, dict(lr=0.001), dtype=torch.float32,
                                hint="float32 parameters, float32 state")
optim_checks.compare_with_torch("adam", Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.95, 0.98), eps=1e-12), steps=60);
### END HIDDEN TESTS

# %% [markdown]
# **What just happened.** Adam's step for each parameter is $\eta$ times a ratio
# $\hat m / \sqrt{\hat v}$ that has no units: rescale the loss by 1000 and the steps stay the
# same (apart from $\varepsilon$). That is why one learning rate (1e-3 to 3e-3) works for
# most transformers, and why Adam's learning rate reads as "how far each parameter may move
# per step". The ratio is near ±1 when the gradient's sign is consistent, and small when it
# flips from step to step (then $m$ averages out while $v$ does not). Bias correction makes
# this true from the very first step.

# %% [markdown]
# ## Exercise 7: AdamW, decoupled weight decay
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 2 points · about 10 minutes, then look at the hint.
#
# In Adam, weight decay is added to the gradient, so it passes through the adaptive
# denominator: a parameter with large gradients (large $\sqrt{\hat v}$) is barely decayed
# at all. Loshchilov & Hutter ("Decoupled weight decay regularization", ICLR 2019)
# proposed to take the decay *out* of the gradient and shrink the weights directly; with
# Adam this is **AdamW**, the optimiser most transformers are trained with today (nanoGPT's,
# for one). The
# equations of `torch.optim.AdamW` are Adam's with step 2 replaced by
#
# 2. $\theta \leftarrow \theta\,(1 - \eta\lambda)$, *before* the Adam update, and the
#    gradient is left alone.
#
# Every parameter shrinks by the same factor, whatever its gradients. (With plain SGD, no
# momentum, the two forms coincide; with an adaptive optimiser they do not.) Note that the decay is
# multiplied by the learning rate, so a schedule that lowers $\eta$ also lowers the decay.
#
# Worked example: $\eta = 0.01$, $\lambda = 0.1$: each step first multiplies every weight
# by $0.999$, then takes the Adam step.
#
# <details><summary>Hint</summary>
#
# Copy your Adam step, remove the weight-decay line that changes `g`, and before the
# `m`/`v` updates of each parameter write `p.mul_(1 - self.lr * self.weight_decay)`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "adamw"} exercise={"difficulty": 2, "importance": 5, "minutes": 10}
class AdamW(Adam):
    """torch.optim.AdamW (without amsgrad): Adam with decoupled weight decay.

    The same arguments and state as Adam; the default weight_decay is 1e-2, as in torch.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    @torch.no_grad()
    def step(self):
        ### BEGIN SOLUTION
        beta1, beta2 = self.betas
        self.t += 1
        correction1, correction2 = 1 - beta1**self.t, 1 - beta2**self.t
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            g = p.grad
            p.mul_(1 - self.lr * self.weight_decay)
            m.mul_(beta1).add_(g, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            p.sub_(self.lr * (m / correction1) / ((v / correction2).sqrt() + self.eps))
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "adamw_test", "points": 2}
print(optim_checks.compare_with_torch("adamw", AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1),
                                      hint="p *= 1 - lr * weight_decay first, then the Adam step on the untouched gradient"))
print(optim_checks.compare_with_torch("adamw", AdamW, torch.optim.AdamW, dict(lr=0.003, betas=(0.9, 0.98), weight_decay=1.0)))
print("adamw: visible tests pass")
### BEGIN HIDDEN TESTS
optim_checks.compare_with_torch("adamw", AdamW, torch.optim.AdamW, dict(lr=0.01), steps=30, seed=4,
                                hint="the default weight_decay of AdamW is 1e-2")
optim_checks.compare_with_torch("adamw", AdamW, torch.optim.AdamW, dict(lr=0.02, weight_decay=0.5),
                                problem=optim_checks.awkward_problem,
                                hint="a parameter without a gradient is not decayed either: skip it entirely")
optim_checks.compare_with_torch("adamw", AdamW, torch.optim.AdamW, dict(lr=0.001, weight_decay=0.1), dtype=torch.float32)
optim_checks.compare_with_torch("adamw", AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.0),
                                hint="weight_decay=0 is plain Adam");
### END HIDDEN TESTS

# %% [markdown]
# All your optimisers on Rosenbrock, from the same start, each at a learning rate that
# suits it. RMSprop's and Adam's steps are about $\eta$ per coordinate whatever the size
# of the gradient, so they take learning rates 10–100 times larger than SGD's here.

# %%
n = 400
paths = {
    "SGD lr=1e-3": trajectory(lambda ps: SGD(ps, lr=1e-3), rosenbrock, ROSEN_START, n),
    "momentum 0.9, lr=1e-3": trajectory(lambda ps: SGD(ps, lr=1e-3, momentum=0.9), rosenbrock, ROSEN_START, n),
    "Nesterov 0.9, lr=1e-3": trajectory(lambda ps: SGD(ps, lr=1e-3, momentum=0.9, nesterov=True), rosenbrock,
                                        ROSEN_START, n),
    "RMSprop lr=1e-2": trajectory(lambda ps: RMSprop(ps, lr=1e-2), rosenbrock, ROSEN_START, n),
    "Adam lr=0.1": trajectory(lambda ps: Adam(ps, lr=0.1), rosenbrock, ROSEN_START, n),
    "AdamW lr=0.1, wd=0.1": trajectory(lambda ps: AdamW(ps, lr=0.1, weight_decay=0.1), rosenbrock, ROSEN_START, n),
}
fig, axes = plt.subplots(2, 3, figsize=(15, 8), sharex=True, sharey=True)
for ax, (label, path) in zip(axes.flat, paths.items()):
    plot_paths(ax, rosenbrock, {label: path}, title=f"{label}: final loss {rosenbrock(path[-1]).item():.3f}",
               **ROSEN_VIEW)
plt.tight_layout()
plt.show()

fig, ax = plt.subplots(figsize=(9, 3.5))
for label, path in paths.items():
    ax.semilogy([rosenbrock(p).item() for p in path], label=label)
ax.set_xlabel("step")
ax.set_ylabel("loss (Rosenbrock)")
ax.legend(fontsize=8, ncol=2)
plt.show()

# %% [markdown]
# Read the pictures with the equations in mind:
#
# - **SGD** reaches the valley floor and then crawls: there the gradient is tiny, and its
#   step is proportional to the gradient.
# - **Momentum** and **Nesterov** add up the small but consistent gradients along the floor
#   and get close to $(1, 1)$.
# - **RMSprop** normalises the step, but $v$ (with $\alpha = 0.99$, a memory of about 100
#   steps) still remembers the large gradients of the descent into the valley; until they
#   fade, the steps along the floor are much smaller than $\eta$.
# - **Adam** moves about $\eta$ per coordinate from the first step (bias correction), and
#   its momentum carries it along the valley; it overshoots on the way down, as momentum does.
# - **AdamW** is Adam plus a pull towards $(0, 0)$: weight decay is a *regulariser*, it
#   trades training loss for smaller weights, so on this loss it ends behind Adam.
#
# These pictures are intuition, not a benchmark. On a real network, the next sections measure.

# %% [markdown]
# ## Learning-rate schedules: warm-up and cosine decay
#
# Almost every modern training run changes the learning rate as it goes. The common
# recipe, and the one this course uses for its transformers, is:
#
# - **linear warm-up** over the first $W$ steps, from a small fraction $f$ of the peak
#   learning rate up to the peak. At the start, Adam's $v$ is estimated from very few
#   gradients and the weights are random, so the first updates are the least reliable;
#   starting small avoids a few bad steps that the run never recovers from (Goyal et al.,
#   2017, introduced gradual warm-up for large-batch SGD);
# - **cosine decay** from the peak down to a minimum over the remaining steps, following
#   half a cosine (Loshchilov & Hutter, "SGDR", ICLR 2017, without its restarts): large
#   steps while far from a minimum, small ones at the end to settle into it.
#
# With peak $\eta_{\max}$, minimum $\eta_{\min}$, warm-up $W$, total $T$ and start factor $f$,
# the learning rate at step $s$ (counting from 0) is
#
# $$\eta(s) = \begin{cases}
# \eta_{\max}\left(f + (1 - f)\,\dfrac{s}{W}\right) & 0 \le s < W \\[2mm]
# \eta_{\min} + (\eta_{\max} - \eta_{\min})\,\dfrac{1 + \cos\!\big(\pi\,\tfrac{s - W}{T - W}\big)}{2} & W \le s \le T \\[2mm]
# \eta_{\min} & s > T
# \end{cases}$$
#
# This is exactly torch's `LinearLR(start_factor=f, end_factor=1, total_iters=W)` followed
# by `CosineAnnealingLR(T_max=T - W, eta_min=η_min)`, chained with
# `SequentialLR(milestones=[W])`, for $s \le T$. Past $T$, torch's cosine turns back *up*
# (it is periodic); we hold $\eta_{\min}$ instead.

# %% [markdown]
# ## Exercise 8: warm-up + cosine, as a function of the step
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 12 minutes, then look at the hint.
#
# Write `lr_at(step, *, max_lr, warmup_steps, total_steps, start_factor=0.01, min_lr=0.0)`
# following the formula above. `warmup_steps` may be 0 (pure cosine).
#
# Worked example: $\eta_{\max} = 1$, $f = 0.1$, $W = 5$, $T = 15$, $\eta_{\min} = 0$: steps
# 0 to 4 give $0.1, 0.28, 0.46, 0.64, 0.82$; step 5 gives 1; step 10, half-way through the
# cosine, $0.5$; step 15 and later, 0.
#
# <details><summary>Hint</summary>
#
# Three cases: `if step < warmup_steps: return max_lr * (start_factor + (1 - start_factor) *
# step / warmup_steps)`; `if step >= total_steps: return min_lr`; otherwise `progress =
# (step - warmup_steps) / (total_steps - warmup_steps)` and `math.cos(math.pi * progress)`.
# Return a Python `float`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "lr_at"} exercise={"difficulty": 2, "importance": 4, "minutes": 12}
def lr_at(step, *, max_lr, warmup_steps, total_steps, start_factor=0.01, min_lr=0.0):
    """The learning rate at `step` of a linear warm-up followed by a cosine decay.

    step: int >= 0 (the number of optimiser steps taken so far).
    max_lr: the peak, reached at step warmup_steps; min_lr: the value at total_steps and after.
    warmup_steps: int in [0, total_steps); total_steps: int > 0; start_factor: lr at step 0
    as a fraction of max_lr, in (0, 1].
    Returns a Python float.
    """
    ### BEGIN SOLUTION
    if step < warmup_steps:
        return float(max_lr * (start_factor + (1 - start_factor) * step / warmup_steps))
    if step >= total_steps:
        return float(min_lr)
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return float(min_lr + (max_lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "lr_at_test", "points": 2}
def torch_schedule(max_lr, warmup_steps, total_steps, start_factor, min_lr, steps=None):
    """The learning rates torch's LinearLR -> CosineAnnealingLR (via SequentialLR) gives at steps 0..total_steps."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=max_lr)
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=start_factor, end_factor=1.0, total_iters=warmup_steps)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps - warmup_steps, eta_min=min_lr)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[warmup_steps])
    lrs = []
    for _ in range((steps or total_steps) + 1):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


ours = [lr_at(s, max_lr=1.0, warmup_steps=5, total_steps=15, start_factor=0.1) for s in range(16)]
checks.assert_close("lr_at", ours[:6] + [ours[10], ours[15]], [0.1, 0.28, 0.46, 0.64, 0.82, 1.0, 0.5, 0.0],
                    hint="steps 0-4 warm up linearly from 0.1 to 1 (excluded); step 10 is half-way down the cosine")
expected = torch_schedule(3e-3, 10, 100, 0.01, 1e-4)
ours = [lr_at(s, max_lr=3e-3, warmup_steps=10, total_steps=100, start_factor=0.01, min_lr=1e-4) for s in range(101)]
checks.assert_close("lr_at", ours, expected, name="learning rates at steps 0..100",
                    hint="compare your first wrong step with the formula: warm-up below W, cosine from W to T")
checks.assert_true("lr_at", all(isinstance(v, float) for v in ours),
                   f"lr_at returned a {type(ours[0]).__name__}; return a Python float", hint="float(...)")
print("lr_at: visible tests pass")
### BEGIN HIDDEN TESTS
_exp = torch_schedule(0.5, 7, 40, 0.2, 0.05)
checks.assert_close("lr_at", [lr_at(s, max_lr=0.5, warmup_steps=7, total_steps=40, start_factor=0.2, min_lr=0.05)
                              for s in range(41)], _exp, name="learning rates with other settings")
_p = torch.nn.Parameter(torch.zeros(1))
_o = torch.optim.SGD([_p], lr=0.1)
_c = torch.optim.lr_scheduler.CosineAnnealingLR(_o, T_max=30)
_exp = []
for _ in range(31):
    _exp.append(_o.param_groups[0]["lr"])
    _o.step()
    _c.step()
checks.assert_close("lr_at", [lr_at(s, max_lr=0.1, warmup_steps=0, total_steps=30) for s in range(31)], _exp,
                    name="learning rates with no warm-up", hint="warmup_steps=0: a pure cosine from step 0 (do not divide by 0)")
checks.assert_close("lr_at", [lr_at(s, max_lr=0.1, warmup_steps=1, total_steps=10, start_factor=0.5) for s in (0, 1)],
                    [0.05, 0.1], hint="one warm-up step: start_factor * max_lr at step 0, max_lr at step 1")
checks.assert_close("lr_at", [lr_at(s, max_lr=0.1, warmup_steps=3, total_steps=10, min_lr=0.002) for s in (10, 11, 50)],
                    [0.002, 0.002, 0.002], hint="from total_steps on, hold min_lr (torch's cosine would turn back up)")
checks.assert_close("lr_at", lr_at(4, max_lr=2.0, warmup_steps=8, total_steps=20),
                    2.0 * (0.01 + 0.99 * 0.5), hint="the default start_factor is 0.01")
### END HIDDEN TESTS

# %%
T, W = 100, 10
steps = np.arange(131)
fig, ax = plt.subplots(figsize=(10, 3.5))
ax.plot(steps, [lr_at(int(s), max_lr=3e-3, warmup_steps=W, total_steps=T, min_lr=1e-4) for s in steps],
        linewidth=3, alpha=0.5, label="lr_at (yours)")
ax.plot(steps, torch_schedule(3e-3, W, T, 0.01, 1e-4, steps=130), "k--", linewidth=1,
        label="torch: LinearLR → CosineAnnealingLR")
ax.axvline(W, color="gray", linestyle=":")
ax.axvline(T, color="gray", linestyle=":")
ax.text(W + 1, 3.1e-3, "end of warm-up", fontsize=8)
ax.text(T + 1, 3.1e-3, "total_steps", fontsize=8)
ax.set_xlabel("step")
ax.set_ylabel("learning rate")
ax.legend()
ax.set_title("Warm-up + cosine: identical up to total_steps; past it torch's cosine turns back up")
plt.show()

# %% [markdown]
# ## Exercise 9: the same schedule as a `LambdaLR` multiplier
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 5 minutes, then look at the hint.
#
# `torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)` sets each parameter group's learning
# rate to *its own* initial learning rate times `lr_lambda(step)`. A schedule written as a
# multiplier therefore works unchanged for groups with different learning rates (say, a
# smaller one for the embeddings), and for any peak learning rate you later choose.
#
# Write `warmup_cosine_lambda(warmup_steps, total_steps, start_factor=0.01, min_factor=0.0)`:
# it returns a *function* of the step, the multiplier, which goes from `start_factor` up to 1
# and down to `min_factor`. Use `lr_at`.
#
# <details><summary>Hint</summary>
#
# **The idea.** `LambdaLR` multiplies the optimiser's base learning rate by a function of the step.
# Your `lr_at` already computes a schedule; with a peak of 1 it computes exactly that multiplier.
#
# **A pointer.** Return a function of `step` (a closure over the arguments) that calls `lr_at`
# with `max_lr=1.0` and the minimum given as a fraction.
# </details>

# %% nbgrader={"solution": true, "grade_id": "schedule_lambda"} exercise={"difficulty": 1, "importance": 3, "minutes": 5}
def warmup_cosine_lambda(warmup_steps, total_steps, start_factor=0.01, min_factor=0.0):
    """A multiplier for LambdaLR: warm-up from start_factor to 1, cosine down to min_factor.

    Returns a function f(step: int) -> float with f(step) = lr_at(step, max_lr=1.0, ...,
    min_lr=min_factor).
    """
    ### BEGIN SOLUTION
    def multiplier(step):
        return lr_at(step, max_lr=1.0, warmup_steps=warmup_steps, total_steps=total_steps,
                     start_factor=start_factor, min_lr=min_factor)

    return multiplier
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "schedule_lambda_test", "points": 1}
def lambda_lrs(make_lambda, group_lrs, steps):
    """Per-group learning rates of LambdaLR at steps 0..steps, with one parameter group per lr."""
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in group_lrs]
    opt = torch.optim.SGD(groups, lr=group_lrs[0])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, make_lambda)
    lrs = []
    for _ in range(steps + 1):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return lrs


multiplier = warmup_cosine_lambda(10, 100, start_factor=0.05, min_factor=0.1)
checks.assert_true("schedule_lambda", callable(multiplier),
                   f"warmup_cosine_lambda returned {multiplier!r}; return a function of the step")
checks.assert_close("schedule_lambda", [row[0] for row in lambda_lrs(multiplier, [0.3], 100)],
                    torch_schedule(0.3, 10, 100, 0.05, 0.03), name="LambdaLR learning rates, peak 0.3",
                    hint="the multiplier is lr_at with max_lr=1 and min_lr=min_factor")
print("schedule_lambda: visible tests pass")
### BEGIN HIDDEN TESTS
_mult = warmup_cosine_lambda(5, 50)
_got = lambda_lrs(_mult, [0.1, 0.002], 50)
checks.assert_close("schedule_lambda", [r[0] for r in _got], torch_schedule(0.1, 5, 50, 0.01, 0.0),
                    name="group 0 (lr 0.1), default factors", hint="defaults: start_factor=0.01, min_factor=0.0")
checks.assert_close("schedule_lambda", [r[1] for r in _got], torch_schedule(0.002, 5, 50, 0.01, 0.0),
                    name="group 1 (lr 0.002)", hint="a multiplier, not a learning rate: each group scales its own lr")
checks.assert_close("schedule_lambda", [warmup_cosine_lambda(0, 20, min_factor=0.5)(s) for s in (0, 10, 20, 25)],
                    [1.0, 0.75, 0.5, 0.5], hint="no warm-up: start at 1; hold min_factor after total_steps")
### END HIDDEN TESTS

# %% [markdown]
# Your own optimisers keep their learning rate in `self.lr`, so using a schedule with them
# is one line in the loop: `opt.lr = lr_at(step, ...)` before `opt.step()`. (torch's keep it
# in `opt.param_groups[i]["lr"]`, which is what its schedulers write.)

# %% [markdown]
# ## A learning-rate sweep
#
# Which optimiser is best, and at which learning rate? There is no answer in general, only
# for a given problem and budget, so you measure: train the same model from the same
# initialisation with each (optimiser, learning rate) pair, and compare. The problem here is
# the digits data set of lesson 0.3 (1,438 training images of 8×8 pixels, 10 classes), a small
# MLP (64 → 32 → 10, ReLU), full-batch training for a fixed number of steps, and the final
# training loss as the score: we compare how fast each optimiser *optimises*.
#
# Learning rates are swept on a log scale (1e-3, 3e-3, 1e-2, ...): what matters is the
# factor between two learning rates, not their difference.

# %%
def make_mlp(seed=0):
    """The sweep's model: 64 -> 32 -> 10 with a ReLU, initialised from torch.manual_seed(seed)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


x_train, y_train, x_test, y_test = data.digits(torch=True)
print("training images", tuple(x_train.shape), x_train.dtype, "labels", tuple(y_train.shape), y_train.dtype)

# %% [markdown]
# ## Exercise 10: the sweep
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 15 minutes, then look at the hint.
#
# Write `sweep(optimisers, lrs, x, y, steps=100, seed=0)`. `optimisers` maps a name to a
# function `make(params, lr)` that returns an optimiser. For every name (in the dict's
# order) and every learning rate (in the list's order): build a **fresh** model with
# `make_mlp(seed)` (every run starts from the same weights), its optimiser, and train for
# `steps` full-batch steps on `F.cross_entropy(model(x), y)`, recording each step's loss
# (the loss computed before that step's update) as a Python float. Collect one dict per run:
#
# ```python
# {"optimiser": name, "lr": lr, "losses": [loss_0, ..., loss_{steps-1}], "final_loss": losses[-1]}
# ```
#
# Return `(results, best)`: the list of these dicts, and the dict with the smallest
# `final_loss`. A run that diverged has a `final_loss` of `nan` or `inf`; it must never be
# "best" (careful: `min` with `nan` values depends on their order). Wrap the loop over
# runs in `tqdm` to see the progress.
#
# <details><summary>Hint</summary>
#
# ```python
# for name, make in optimisers.items(): for lr in lrs: ...   # or itertools.product, inside tqdm(...)
#     model = make_mlp(seed); opt = make(model.parameters(), lr)
#     ... the training loop of this lesson's first cell, appending loss.item() ...
# best = min(results, key=lambda r: r["final_loss"] if math.isfinite(r["final_loss"]) else math.inf)  # nan -> inf
# ```
# `loss.item()` gives a float; appending `loss` itself would keep every step's graph alive.
# </details>

# %% nbgrader={"solution": true, "grade_id": "sweep"} exercise={"difficulty": 2, "importance": 4, "minutes": 15}
def sweep(optimisers, lrs, x, y, steps=100, seed=0):
    """Train make_mlp(seed) once per (optimiser, learning rate) and collect the losses.

    optimisers: dict name -> make(params, lr) returning an optimiser (zero_grad(), step()).
    lrs: list of floats. x: float32 tensor (n, 64); y: int64 tensor (n,) of labels 0-9.
    steps: training steps per run (full batch); seed: the seed of make_mlp.
    Returns (results, best): results is a list of len(optimisers) * len(lrs) dicts with keys
    "optimiser" (str), "lr" (float), "losses" (list of `steps` floats, the loss before each
    update) and "final_loss" (float, losses[-1]), ordered by optimiser then lr; best is the
    dict of results with the smallest finite final_loss.
    """
    ### BEGIN SOLUTION
    configs = [(name, lr) for name in optimisers for lr in lrs]
    results = []
    for name, lr in tqdm(configs, desc="sweep", leave=False):
        model = make_mlp(seed)
        opt = optimisers[name](model.parameters(), lr)
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        results.append({"optimiser": name, "lr": lr, "losses": losses, "final_loss": losses[-1]})
    best = min(results, key=lambda r: r["final_loss"] if math.isfinite(r["final_loss"]) else math.inf)
    return results, best
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sweep_test", "points": 3}
torch_optimisers = {"sgd": lambda ps, lr: torch.optim.SGD(ps, lr=lr), "adam": lambda ps, lr: torch.optim.Adam(ps, lr=lr)}
out = sweep(torch_optimisers, [0.01, 0.1, 1.0], x_train[:256], y_train[:256], steps=20)
checks.assert_true("sweep", isinstance(out, tuple) and len(out) == 2,
                   f"sweep returned {type(out).__name__}; expected a tuple (results, best)")
results, best = out
checks.assert_equal("sweep", [(r.get("optimiser"), r.get("lr")) for r in results],
                    [("sgd", 0.01), ("sgd", 0.1), ("sgd", 1.0), ("adam", 0.01), ("adam", 0.1), ("adam", 1.0)],
                    name="the (optimiser, lr) of each result", hint="one dict per pair, optimiser-major, in the given order")
checks.assert_equal("sweep", sorted(results[0]), ["final_loss", "losses", "lr", "optimiser"], name="the keys of a result")
for r in results:
    checks.assert_true("sweep", len(r["losses"]) == 20 and all(isinstance(v, float) for v in r["losses"]),
                       f"losses of {r['optimiser']} lr={r['lr']} is not a list of 20 floats",
                       hint="append loss.item() at every step")
    checks.assert_close("sweep", r["final_loss"], r["losses"][-1], name=f"final_loss of {r['optimiser']} lr={r['lr']}")
with torch.no_grad():
    initial = F.cross_entropy(make_mlp(0)(x_train[:256]), y_train[:256]).item()
checks.assert_close("sweep", [r["losses"][0] for r in results], [initial] * 6, rtol=1e-5, atol=1e-6,
                    name="the first loss of every run",
                    hint="every run starts from a fresh make_mlp(seed): the first loss is the same for all")
finals = [r["final_loss"] for r in results]
checks.assert_true("sweep", best is results[finals.index(min(finals))],
                   f"best is {best!r:.80}; expected the result with the smallest final_loss",
                   hint="return the dict itself (an element of results), not its index or a copy")
print("sweep: visible tests pass")
### BEGIN HIDDEN TESTS
_model = make_mlp(3)
_opt = torch.optim.SGD(_model.parameters(), lr=0.5, momentum=0.9)
_ref = []
for _ in range(15):
    _opt.zero_grad()
    _loss = F.cross_entropy(_model(x_train[:128]), y_train[:128])
    _loss.backward()
    _opt.step()
    _ref.append(_loss.item())
_res, _best = sweep({"momentum": lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9)}, [0.5], x_train[:128],
                    y_train[:128], steps=15, seed=3)
checks.assert_close("sweep", _res[0]["losses"], _ref, rtol=1e-5, atol=1e-6, name="the losses of one run",
                    hint="zero_grad, loss = F.cross_entropy(model(x), y), backward, step; record loss.item()")
checks.assert_true("sweep", _best is _res[0], "with a single run, best must be that run")


class _Blows:
    """An 'optimiser' that sets every parameter to NaN: its run's final loss is NaN."""

    def __init__(self, params, lr):
        self.params = list(params)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        for p in self.params:
            p.fill_(float("nan"))


_res, _best = sweep({"nan": _Blows, "sgd": lambda ps, lr: torch.optim.SGD(ps, lr=lr)}, [0.1, 0.01], x_train[:64],
                    y_train[:64], steps=3)
checks.assert_true("sweep", len(_res) == 4 and math.isnan(_res[0]["final_loss"]),
                   "a diverging run must be kept in results, with its nan final_loss")
checks.assert_true("sweep", _best is _res[2], f"best is {_best['optimiser']} lr={_best['lr']}; expected sgd lr=0.1",
                   hint="nan is never the best: min(..., key=...) with nan depends on the order; map nan to inf")
### END HIDDEN TESTS

# %% [markdown]
# Now the real sweep, with your own optimisers: four of them × seven learning rates, 100
# full-batch steps each, on all 1,438 training images.

# %%
my_optimisers = {
    "SGD": lambda ps, lr: SGD(ps, lr=lr),
    "SGD momentum 0.9": lambda ps, lr: SGD(ps, lr=lr, momentum=0.9),
    "RMSprop": lambda ps, lr: RMSprop(ps, lr=lr),
    "Adam": lambda ps, lr: Adam(ps, lr=lr),
}
grid = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]
results, best = sweep(my_optimisers, grid, x_train, y_train, steps=100)

print("final training loss after 100 steps (* marks each optimiser's best learning rate)\n")
print(f"{'optimiser':18s}" + "".join(f"{lr:>10g}" for lr in grid))
for name in my_optimisers:
    row = [r for r in results if r["optimiser"] == name]
    best_here = min(row, key=lambda r: r["final_loss"] if math.isfinite(r["final_loss"]) else math.inf)
    print(f"{name:18s}" + "".join(f"{r['final_loss']:>9.3f}" + ("*" if r is best_here else " ") for r in row))
print(f"\nbest overall: {best['optimiser']} at lr={best['lr']:g}, final loss {best['final_loss']:.4f}")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
for name in my_optimisers:
    row = [r for r in results if r["optimiser"] == name]
    ax1.loglog([r["lr"] for r in row], [r["final_loss"] for r in row], "o-", label=name)
    best_here = min(row, key=lambda r: r["final_loss"] if math.isfinite(r["final_loss"]) else math.inf)
    ax2.semilogy(best_here["losses"], label=f"{name}, lr={best_here['lr']:g}")
ax1.set_xlabel("learning rate")
ax1.set_ylabel("final training loss (100 steps)")
ax1.set_title("Learning-rate sensitivity")
ax1.legend(fontsize=8)
ax2.set_xlabel("step")
ax2.set_ylabel("training loss")
ax2.set_title("Each optimiser at its best learning rate")
ax2.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Your reading of the sweep
#
# Write a few sentences in the cell below, from *your* table and plots (not graded, but
# this is the skill the sweep is for). Answer:
#
# 1. Which optimiser reaches the lowest loss? For each optimiser, over how many grid
#    points (how wide a range of learning rates) is its final loss below 0.2?
# 2. Why do SGD's good learning rates lie 10–100× higher than Adam's? And why is RMSprop's
#    best learning rate about 10× lower than Adam's? (Exercise 4 has a clue.)
# 3. For some optimisers the best learning rate is at the edge of the grid. What does that
#    tell you, and what would you run next?
# 4. What happens at the largest learning rates for the adaptive optimisers, and why?
#
# <details><summary>Our reading (open after writing yours)</summary>
#
# 1. Adam reaches the lowest loss (about 0.002, at lr 0.1). Adam, RMSprop and SGD with
#    momentum each stay below 0.2 over three grid points, about a decade of learning rates
#    (Adam 0.01–0.1, RMSprop 0.003–0.03, momentum 0.1–1); plain SGD only at lr 1.
# 2. SGD's step is $\eta g$, so its good $\eta$ depends on the size of the gradients, which
#    are small here. Adam's step is about $\eta$ per parameter whatever the gradient's size,
#    so $\eta$ directly sets how far each weight moves. RMSprop has no bias correction: at
#    the first step $v = (1 - \alpha) g^2$, so its step is $\eta / \sqrt{1 - \alpha} = 10\,\eta$,
#    and its early steps stay inflated until $v$ has filled up; the same $\eta$ moves the
#    weights about ten times further than Adam's.
# 3. The best value sits at the edge for both SGD variants (lr 1): the optimum may lie
#    beyond it, the grid is too small. Extend it (3, 10, ...) before concluding anything
#    about SGD; a sweep's best value should be an interior point with worse values on
#    both sides, as it is for Adam and RMSprop.
# 4. At lr 0.3–1 Adam and RMSprop move every weight by up to 0.3–1 per step, more than the
#    weights themselves, so the loss jumps about; at lr 1 the final loss is back at or
#    above $\ln 10 \approx 2.30$, the loss of a uniform guess over 10 classes. The network has
#    learnt nothing: with Adam at lr 1, all 32 hidden ReLUs end up dead (negative on every
#    training image), so the output no longer depends on the input.
# </details>

# %% [markdown]
# *Your reading here.*

# %% [markdown]
# ## Why this matters for safety
#
# A sweep like the one you just ran decides safety claims as much as capability claims. A
# robustness claim is a claim that an optimiser, the attack, failed: Madry et al. (2018), "Towards
# Deep Learning Models Resistant to Adversarial Attacks", frame robustness as a min-max problem
# whose inner maximisation is run by projected gradient descent, and Carlini et al. (2019), "On
# Evaluating Adversarial Robustness", name weak attacks (too few steps, a badly chosen step size)
# among the common reasons that defences looked robust and were not. The same holds when you train
# a probe, a sparse autoencoder or a steering vector: a negative result from an untuned learning
# rate says little about the model. Before reporting that something cannot be found, show that
# the optimiser looking for it was tuned, as this sweep does.

# %% [markdown]
# ## Putting the schedule to work
#
# The sweep says Adam's learning rate on this problem should stay at or below 0.1: at 0.3
# the constant-rate run ends far worse. A schedule changes that. Below, your Adam trains for
# 200 steps three times: at a safe constant 0.03, at a constant 0.3, and with warm-up (20
# steps) + cosine decay to a peak of 0.3. The schedule sets `opt.lr` before every step.

# %%
def train_with_schedule(lr_fn, steps=200, seed=0):
    """Full-batch training of make_mlp(seed) with your Adam; lr_fn(step) gives each step's lr.

    Returns (losses, test accuracy).
    """
    model = make_mlp(seed)
    opt = Adam(model.parameters())
    losses = []
    for step in range(steps):
        opt.lr = lr_fn(step)
        opt.zero_grad()
        loss = F.cross_entropy(model(x_train), y_train)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        accuracy = (model(x_test).argmax(dim=1) == y_test).float().mean().item()
    return losses, accuracy


runs = {
    "constant 0.03": lambda s: 0.03,
    "constant 0.3": lambda s: 0.3,
    "warm-up 20 + cosine, peak 0.3": lambda s: lr_at(s, max_lr=0.3, warmup_steps=20, total_steps=200),
}
fig, ax = plt.subplots(figsize=(10, 3.8))
for label, fn in tqdm(runs.items(), desc="schedules", leave=False):
    losses, accuracy = train_with_schedule(fn)
    ax.semilogy(losses, label=f"{label}: final loss {losses[-1]:.1e}, test accuracy {accuracy:.3f}")
    print(f"{label:30s} final training loss {losses[-1]:.2e}, test accuracy {accuracy:.3f}")
ax.set_xlabel("step")
ax.set_ylabel("training loss")
ax.set_title("Your Adam, 200 full-batch steps on digits")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **What just happened.** At a constant 0.3 every weight moves by up to 0.3 per step, more
# than the size of the weights themselves: the loss jumps about and the run ends poorly.
# With the same peak, the schedule trains well: the warm-up keeps the first steps small
# while the weights are random and Adam's $v$ rests on a handful of gradients, and the
# cosine decay shrinks the steps again at the end, so the run settles into a minimum
# instead of jittering around it. It ends with the lowest *training* loss of the three,
# though not the best test accuracy: the optimiser minimises the training loss, and
# generalisation is a separate question (1% of the 359 test images is 4 images). A
# schedule widens the range of usable learning rates, which is why it comes with nearly
# every transformer recipe. (At a safe constant learning rate, on a problem this small and
# smooth, a schedule buys little; decide by measuring, as here.)
#
# ## Summary
#
# - An optimiser is a loop over parameters that updates each one **in place** under
#   `torch.no_grad()`, skips those without a gradient, and keeps per-parameter state
#   between steps; `zero_grad()` is needed because `backward()` accumulates.
# - SGD steps along $-\eta g$; momentum accumulates consistent directions (×$1/(1-\mu)$),
#   Nesterov looks one momentum step ahead; L2 weight decay adds $\lambda\theta$ to $g$.
# - RMSprop divides by $\sqrt{v}$, a running RMS of the gradient, so every parameter moves
#   by about $\eta$; Adam adds momentum and bias correction ($\hat m = m / (1 - \beta_1^t)$);
#   AdamW shrinks the weights by $1 - \eta\lambda$ instead of adding decay to the gradient.
# - Match a reference step for step, in float64, and the smallest mistake shows up at the
#   step where it first matters.
# - Warm-up + cosine is a function of the step; as a `LambdaLR` multiplier it serves any peak
#   learning rate and any number of parameter groups.
# - Sweep learning rates on a log grid, check the best value is not at the edge, and read
#   the sensitivity curve, not just its minimum.
#
# **Next:** lesson 1.3 builds convolutional networks and ResNets, trained with the
# optimisers you just wrote.

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 1.2`), else from `bootcamp check 1.2` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("1.2")
