# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "0.1"
#     title: NumPy and vectorisation
#     minutes: 150
#     prerequisites: []
# ---

# %% [markdown]
# # 0.1 NumPy and vectorisation
#
# Nearly everything in this course is arithmetic on arrays: a batch of images, a
# sequence of token embeddings, a stack of attention patterns. The same work written as
# Python loops is slow, and the loop version also hides the *shape* of the computation,
# which is the thing you most need to see. This lesson teaches you to think in whole
# arrays.
#
# **After this lesson you can**
# - predict the shape of any broadcasting expression, and say why two shapes do not fit;
# - reduce along an axis without losing track of which axis is which (`axis`, `keepdims`);
# - replace a Python loop with indexing, comparison and broadcasting: softmax, one-hot,
#   pairwise distances, matrix products, moving averages, top-k, per-class means;
# - write functions that keep their input's dtype and work on empty, size-1 and
#   non-contiguous arrays;
# - measure a speed-up properly (warm-up, repeats, the minimum) and plot it.
#
# **Prerequisites.** Fluent Python (functions, loops, comprehensions, exceptions) and the
# linear algebra of dot products and matrix multiplication. No NumPy experience is assumed.
#
# **Time.** About 2½ hours: ten graded exercises (24 points) and a few pictures.
#
# **How the exercises work.** Each exercise explains an idea, then gives you a function
# whose body is `raise NotImplementedError`. Replace that line with your code and run the
# test cell below it. A passing cell prints a line saying so; a failing one says what is
# wrong: the shape, the dtype, the first differing element and by how much, and a likely
# cause. The tests you see compare against NumPy/SciPy built-ins or small worked
# examples. When your notebook is graded, further hidden tests probe the cases the
# docstring promises: empty and size-1 dimensions, float32 input, non-contiguous views,
# very large values and, where the exercise says "no Python loops", a check of your
# source. If your function does what its docstring says, it passes them.
#
# From a terminal, `bootcamp check 0.1` runs the whole notebook and prints a table of
# every exercise. Each exercise says how hard it is (🔴, 1–5), how much it matters for
# the rest of the course (🔵, 1–5) and how long to try before opening the hint.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from course import checks

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## Arrays in five minutes
#
# A NumPy array is a block of numbers of one **dtype** (`float64`, `float32`, `int64`,
# `bool`, ...) with a **shape**, a tuple giving the size of each **axis**. Arithmetic
# works element by element, and runs in compiled code rather than in the Python
# interpreter. Reductions (`sum`, `mean`, `max`, ...) take an `axis` argument that names
# the axis to *remove*.
#
# Two details matter in every exercise below:
#
# - **dtype.** `float32` is the dtype of most neural-network weights. A function that
#   turns float32 input into float64 output doubles the memory and silently changes
#   results downstream. In this lesson every function keeps the float dtype it is
#   given; integer input becomes `float64` where the answer is fractional.
# - **Views.** Slicing (`x[:, ::2]`) and transposing (`x.T`) do not copy: they return a
#   *view* of the same memory read with different **strides** (bytes to step per axis).
#   Writing into a view writes into the original array, which is one reason the
#   functions below never modify their inputs. A view is usually not *contiguous*;
#   whole-array NumPy operations handle that, but code that assumes a memory layout
#   does not.

# %%
x = np.arange(12, dtype=np.float32).reshape(3, 4)
print("x =\n", x)
print("shape", x.shape, "dtype", x.dtype, "strides", x.strides)
print("sum over axis 0 (down the columns):", x.sum(axis=0), "shape", x.sum(axis=0).shape)
print("sum over axis 1 (along the rows):  ", x.sum(axis=1), "shape", x.sum(axis=1).shape)
print("... with keepdims=True the axis stays, with size 1:", x.sum(axis=1, keepdims=True).shape)
print("x.T is a view: strides", x.T.strides, "contiguous?", x.T.flags["C_CONTIGUOUS"])
print("x[:, ::2] is a view too: strides", x[:, ::2].strides, "contiguous?", x[:, ::2].flags["C_CONTIGUOUS"])
print("float32 + a Python float stays float32:", (x + 0.5).dtype, "; float32 + a float64 array does not:",
      (x + np.ones(4)).dtype)

# %% [markdown]
# ## Broadcasting
#
# Arithmetic between arrays of *different* shapes follows one rule. Line the two shapes
# up **from the right**. Two sizes in the same column are compatible when they are equal
# or when one of them is 1; a missing size counts as 1. In each column the result takes
# the size that is not 1 (or 1, if both are). A size-1 axis is *stretched*: its single
# value is reused along that axis, without copying any memory.
#
# Below, `a` has shape `(3, 1)` and `b` has shape `(4,)`. Aligned from the right, `b` is
# treated as `(1, 4)`. `a` is stretched along the columns and `b` along the rows, and
# `a + b` has shape `(3, 4)`. Faded boxes are values that are reused, not stored.

# %%
def draw_grid(ax, values, x0, real, title, color):
    """Draw a 2-D array as boxes with their values; cells where `real` is False are faded."""
    rows, cols = values.shape
    for i in range(rows):
        for j in range(cols):
            solid = bool(real[i, j])
            ax.add_patch(plt.Rectangle((x0 + j, rows - 1 - i), 1, 1, facecolor=color, alpha=0.85 if solid else 0.2,
                                       edgecolor="black", linestyle="-" if solid else ":"))
            ax.text(x0 + j + 0.5, rows - 0.5 - i, f"{values[i, j]:g}", ha="center", va="center", fontsize=12,
                    color="black" if solid else "gray")
    ax.text(x0 + cols / 2, rows + 0.25, title, ha="center", va="bottom", fontsize=11)


a = np.array([[0], [10], [20]])  # shape (3, 1)
b = np.array([0, 1, 2, 3])  # shape (4,)
shape = (3, 4)
fig, ax = plt.subplots(figsize=(11, 3))
draw_grid(ax, np.broadcast_to(a, shape), 0, np.broadcast_to(np.arange(4) == 0, shape),
          "a: shape (3, 1)\nstretched along axis 1", "tab:blue")
draw_grid(ax, np.broadcast_to(b, shape), 5.5, np.broadcast_to(np.arange(3)[:, None] == 0, shape),
          "b: shape (4,), read as (1, 4)\nstretched along axis 0", "tab:orange")
draw_grid(ax, a + b, 11, np.ones(shape, dtype=bool), "a + b: shape (3, 4)", "tab:green")
ax.text(4.75, 1.5, "+", fontsize=22, ha="center", va="center")
ax.text(10.25, 1.5, "=", fontsize=22, ha="center", va="center")
ax.set_xlim(-0.3, 15.3)
ax.set_ylim(-0.3, 4.6)
ax.set_aspect("equal")
ax.axis("off")
plt.show()

# %% [markdown]
# The stretching is real in one sense only: NumPy reads a stretched axis with a stride of
# 0 bytes, so the same value is read again and again. `np.broadcast_to` shows the view
# NumPy builds. Shapes of several axes are checked column by column; here is the example
# from NumPy's broadcasting guide
# (<https://numpy.org/doc/stable/user/basics.broadcasting.html>), and a pair that fails.

# %%
def show_alignment(*shapes):
    """Print shapes aligned from the right, and the shape they broadcast to."""
    width = max(len(s) for s in shapes)
    for name, s in zip("ABCDEFGH", shapes):
        cells = [""] * (width - len(s)) + [str(n) for n in s]
        print(f"{name:<7}" + "".join(f"{c:>4}" for c in cells))
    try:
        print(f"{'result':<7}" + "".join(f"{n:>4}" for n in np.broadcast_shapes(*shapes)))
    except ValueError as err:
        print(f"{'result':<7}  ValueError: {err}")
    print()


print("b stretched to (3, 4) has strides", np.broadcast_to(b, (3, 4)).strides, "(0 bytes per row step)\n")
show_alignment((3, 1), (4,))
show_alignment((8, 1, 6, 1), (7, 1, 5))
show_alignment((2, 3), (3, 2))

# %% [markdown]
# ## Exercise 1: the broadcasting rule, by hand
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 8 minutes, then look at the hint.
#
# Write `broadcast_shape(a, b)`: the shape that `np.zeros(a) + np.zeros(b)` would have,
# computed with the rule above in plain Python, *without* NumPy (no `np.broadcast_shapes`,
# and no `np.zeros(a) + np.zeros(b)` either: the hidden tests read your source). If the
# shapes are not compatible, raise `ValueError` with a message naming the two sizes that
# clash.
#
# Worked example: `(8, 1, 6, 1)` with `(7, 1, 5)`. Pad the shorter one on the left:
# `(1, 7, 1, 5)`. Column by column: (8, 1) → 8, (1, 7) → 7, (6, 1) → 6, (1, 5) → 5, so
# `(8, 7, 6, 5)`. Note that a size of 0 is an ordinary size: `(0,)` with `(1,)` gives
# `(0,)`, but `(0,)` with `(3,)` does not broadcast.
#
# This is plain Python: a loop is the right tool here.
#
# <details><summary>Hint</summary>
#
# Pad both shapes to the same length with leading 1s (`(1,) * k + shape`), then `zip` them.
# For each pair `(p, q)`: if `p == q` or `q == 1` the result is `p`; if `p == 1` it is
# `q`; otherwise raise. Return `tuple(result)`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "broadcast_shape"} exercise={"difficulty": 2, "importance": 4, "minutes": 8}
def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The shape that arrays of shapes `a` and `b` broadcast to.

    a, b: shapes, tuples of non-negative ints (either may be `()`, a scalar's shape).
    Returns a tuple of ints of length max(len(a), len(b)).
    Raises ValueError if the shapes are not compatible.
    """
    ### BEGIN SOLUTION
    ndim = max(len(a), len(b))
    a_pad = (1,) * (ndim - len(a)) + tuple(a)
    b_pad = (1,) * (ndim - len(b)) + tuple(b)
    result = []
    for axis, (p, q) in enumerate(zip(a_pad, b_pad)):
        if p == q or q == 1:
            result.append(p)
        elif p == 1:
            result.append(q)
        else:
            raise ValueError(f"shapes {a} and {b} do not broadcast: sizes {p} and {q} clash "
                             f"at axis {axis - ndim} (counting from the right)")
    return tuple(result)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "broadcast_shape_test", "points": 2}
for shape_a, shape_b in [((3, 1), (4,)), ((8, 1, 6, 1), (7, 1, 5)), ((5, 4), (1,)), ((), (2, 3)), ((2, 1), (2, 1))]:
    want = np.broadcast_shapes(shape_a, shape_b)
    try:
        got = broadcast_shape(shape_a, shape_b)
    except ValueError as err:
        raise checks.CheckFailure("broadcast_shape", f"broadcast_shape({shape_a}, {shape_b}) raised ValueError "
                                  f"({err}), but these shapes broadcast to {want}",
                                  ["hint: align the shapes from the right, padding the shorter one with 1s on the left"]) from None
    checks.assert_true("broadcast_shape", isinstance(got, tuple),
                       f"broadcast_shape({shape_a}, {shape_b}) returned a {type(got).__name__}; return a tuple",
                       hint="tuple(a_list) converts a list")
    checks.assert_true("broadcast_shape", got == want,
                       f"broadcast_shape({shape_a}, {shape_b}) returned {got}; expected {want}",
                       hint="align from the right; sizes must be equal or one of them 1; a missing size counts as 1")
checks.assert_raises("broadcast_shape", ValueError, broadcast_shape, (3,), (4,),
                     hint="3 and 4 differ and neither is 1, so the shapes do not broadcast")
print("broadcast_shape: visible tests pass")
### BEGIN HIDDEN TESTS
import ast as _ast
import inspect as _inspect
import textwrap as _textwrap

_cases = [((), ()), ((0,), (1,)), ((1,), (0,)), ((1, 1, 1), (5,)), ((4, 1), (1, 0)), ((2, 3, 4), (3, 1)),
          ((1,), ()), ((6, 1, 1), (1, 5, 1))]
_bad = [((0,), (3,)), ((2, 3), (3, 2)), ((2, 3, 4), (2, 1, 5)), ((4,), (1, 3))]
_rng = np.random.default_rng(1)
for _ in range(300):
    _sa = tuple(int(s) for s in _rng.choice([0, 1, 2, 3], size=_rng.integers(0, 5)))
    _sb = tuple(int(s) for s in _rng.choice([0, 1, 2, 3], size=_rng.integers(0, 5)))
    try:
        np.broadcast_shapes(_sa, _sb)
        _cases.append((_sa, _sb))
    except ValueError:
        _bad.append((_sa, _sb))
for _sa, _sb in _cases:
    _want = np.broadcast_shapes(_sa, _sb)
    try:
        _got = broadcast_shape(_sa, _sb)
    except ValueError as _err:
        raise checks.CheckFailure("broadcast_shape", f"broadcast_shape({_sa}, {_sb}) raised ValueError ({_err}), "
                                  f"but these shapes broadcast to {_want}",
                                  ["hint: a size of 0 is an ordinary size (0 with 1 gives 0); () is a scalar's shape"]) from None
    checks.assert_true("broadcast_shape", isinstance(_got, tuple) and _got == _want,
                       f"broadcast_shape({_sa}, {_sb}) returned {_got!r}; expected {_want}",
                       hint="a size of 0 is an ordinary size (0 with 1 gives 0); () is a scalar's shape")
for _sa, _sb in _bad:
    checks.assert_raises("broadcast_shape", ValueError, broadcast_shape, _sa, _sb,
                         hint=f"{_sa} and {_sb} do not broadcast")
_tree = _ast.parse(_textwrap.dedent(_inspect.getsource(broadcast_shape)))
_used = [f"{n.id} on line {n.lineno}" for n in _ast.walk(_tree) if isinstance(n, _ast.Name) and n.id in ("np", "numpy")]
checks.assert_true("broadcast_shape", not _used,
                   f"broadcast_shape uses NumPy ({_used[0] if _used else ''} of its source)",
                   hint="this exercise is plain Python: work the rule out yourself, without asking NumPy")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: reductions that keep their axis
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 8 minutes, then look at the hint.
#
# Standardising (subtract the mean, divide by the standard deviation) is the core of
# every normalisation layer; LayerNorm in lesson 2.1 is exactly this along the last
# axis. For an array `x` and an `axis`,
#
# $$\mathrm{standardise}(x) = \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}}, \qquad
# \mu = \operatorname{mean}(x), \quad \sigma^2 = \operatorname{mean}\big((x - \mu)^2\big)$$
#
# where both means are taken along `axis` (the population variance, dividing by $n$), and
# the small $\varepsilon$ keeps a constant slice from dividing 0 by 0.
#
# The trap is the shape of $\mu$. For `x` of shape `(N, D)`, `x.mean(axis=0)` has shape
# `(D,)`, which broadcasts back against `(N, D)` as intended. `x.mean(axis=1)` has shape
# `(N,)`: it fails to broadcast against `(N, D)`, or, worse, when `N == D` it broadcasts
# *along the wrong axis* and gives wrong numbers with no error at all. `keepdims=True`
# keeps the reduced axis with size 1, `(N, 1)`, which broadcasts correctly whatever the
# axis.
#
# Worked example: the row `[1, 2, 3]` has mean 2 and variance $\tfrac{1 + 0 + 1}{3} =
# \tfrac23$, so with $\varepsilon = 0$ it becomes $[-1, 0, 1] / \sqrt{2/3} \approx
# [-1.2247, 0, 1.2247]$.
#
# <details><summary>Hint</summary>
#
# `mean = x.mean(axis=axis, keepdims=True)`, the same for the variance of `x - mean`, then
# one line of broadcasting arithmetic. `axis` may be a tuple such as `(1, 2)`; `mean` and
# `var` accept tuples too. Put `eps` inside the square root.
# </details>

# %% nbgrader={"solution": true, "grade_id": "standardise"} exercise={"difficulty": 2, "importance": 4, "minutes": 8}
def standardise(x: np.ndarray, axis: int | tuple[int, ...] = -1, eps: float = 1e-5) -> np.ndarray:
    """Zero mean and unit variance along `axis`.

    x: float array of any shape (float32 or float64), possibly a non-contiguous view.
    axis: the axis, or tuple of axes, to standardise over.
    Returns (x - mean) / sqrt(var + eps), mean and population variance taken along `axis`;
    same shape and dtype as x. Does not modify x.
    """
    ### BEGIN SOLUTION
    mean = x.mean(axis=axis, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axis, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "standardise_test", "points": 2}
from scipy.stats import zscore

x = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])
s = np.sqrt(1.5)
checks.assert_close("standardise", standardise(x, axis=-1, eps=0.0), np.array([[-s, 0.0, s], [-s, 0.0, s]]))
rng = np.random.default_rng(0)
x = rng.normal(3.0, 2.0, size=(6, 4))
x_before = x.copy()
expected_0, expected_1 = zscore(x, axis=0), zscore(x, axis=1)
checks.assert_close("standardise", standardise(x, axis=0, eps=0.0), expected_0,
                    hint="axis=0: every column should end up with mean 0 and variance 1")
checks.assert_close("standardise", x, x_before, name="x after the call",
                    hint="standardise must not modify its input: write x - mean, not x -= mean")
checks.assert_close("standardise", standardise(x, axis=1, eps=0.0), expected_1,
                    hint="axis=1: every row should end up with mean 0 and variance 1; keepdims=True keeps the shapes aligned")
print("standardise: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(2)
_inp = _rng.normal(size=(3, 4))
_keep = _inp.copy()
checks.call("standardise", standardise, _inp, case="a (3, 4) array")
checks.assert_close("standardise", _inp, _keep, name="the input after the call",
                    hint="standardise must not modify x in place: write x - mean, not x -= mean")
_sq = _rng.normal(size=(5, 5)) * np.arange(1, 6)[:, None] + np.arange(5)[:, None]
checks.assert_close("standardise", checks.call("standardise", standardise, _sq, axis=1, eps=0.0, case="a square (5, 5) array"),
                    zscore(_sq, axis=1),
                    hint="on a square input, x - x.mean(axis=1) broadcasts the row means along the wrong axis: use keepdims=True")
_x = _rng.normal(size=(4, 7))
_want = (_x - _x.mean(axis=-1, keepdims=True)) / np.sqrt(_x.var(axis=-1, keepdims=True) + 1e-5)
checks.assert_close("standardise", standardise(_x), _want,
                    hint="the default eps=1e-5 is added to the variance, inside the square root: (x - mean) / sqrt(var + eps)")
_small = np.array([[1.0, 1.002, 0.998, 1.0]])
_want = (_small - _small.mean(axis=-1, keepdims=True)) / np.sqrt(_small.var(axis=-1, keepdims=True) + 1e-5)
checks.assert_close("standardise", standardise(_small, eps=1e-5), _want,
                    hint="eps goes inside the square root: (x - mean) / sqrt(var + eps)")
checks.assert_close("standardise", checks.call("standardise", standardise, np.full((3, 5), 7.0), case="constant rows"), np.zeros((3, 5)),
                    hint="a constant row has variance 0: eps inside the square root avoids 0/0")
_x32 = _rng.normal(size=(3, 8)).astype(np.float32)
_e32 = zscore(_x32.astype(np.float64), axis=-1).astype(np.float32)
with checks.tolerance(rtol=1e-4, atol=1e-4):
    checks.assert_close("standardise", standardise(_x32, eps=0.0), _e32,
                        hint="float32 in, float32 out: avoid mixing in float64 arrays")
_x3 = _rng.normal(size=(2, 3, 4))
_want = (_x3 - _x3.mean(axis=(1, 2), keepdims=True)) / np.sqrt(_x3.var(axis=(1, 2), keepdims=True) + 1e-5)
checks.assert_close("standardise", checks.call("standardise", standardise, _x3, axis=(1, 2), case="axis=(1, 2)"), _want,
                    hint="axis may be a tuple: standardise over all the axes it names together")
_view = _rng.normal(size=(6, 4)).T
_want = zscore(_view.copy(), axis=-1)
checks.assert_close("standardise", checks.call("standardise", standardise, _view, axis=-1, eps=0.0, case="a transposed view"), _want,
                    hint="a transposed (non-contiguous) view must work like any other array")
checks.assert_shape("standardise", checks.call("standardise", standardise, np.ones((0, 3)), axis=-1, case="an empty (0, 3) batch"), (0, 3))
### END HIDDEN TESTS

# %% [markdown]
# ## Why this matters for safety
#
# Most interpretability results are one number reduced from a large array: a logit difference
# averaged over a batch, an attention score summed over positions, a patching effect divided by
# a baseline. If the reduction runs over the wrong axis, or broadcasting quietly stretches a
# `(batch,)` array against a `(batch, 1)` one, the code runs and prints a plausible number that
# answers a different question. Kapoor and Narayanan (2023), "Leakage and the Reproducibility
# Crisis in Machine-Learning-based Science", found published results in many fields that rested
# on leakage, an error in the data pipeline rather than in the model, in code that ran without complaint.
# Naming axes, keeping dimensions and testing on empty, size-1 and awkward shapes, as these
# exercises do, is the cheapest defence. A safety claim such as "ablating this head removes the
# behaviour" is only as trustworthy as the last reduction it rests on.

# %% [markdown]
# ## Exercise 3: a numerically stable softmax
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 10 minutes, then look at the hint.
#
# Softmax turns a vector of scores (a model's *logits*) into probabilities:
#
# $$\mathrm{softmax}(x)_i = \frac{e^{x_i}}{\sum_j e^{x_j}}.$$
#
# You will use it in every model of this course: over the vocabulary for next-token
# probabilities, and over positions for attention patterns. Written literally it breaks:
# `np.exp(710.0)` is `inf` in float64 (the largest float64 is about $e^{709.8}$), and in
# float32 `exp` overflows already above about 88.7. Large scores do happen (a badly
# scaled layer, a model that has become very confident), and `inf / inf` is `nan`. Very
# negative scores fail the other way: every $e^{x_j}$ underflows to 0, and $0/0$ is
# `nan` too.
#
# The fix is one line of algebra. For any constant $c$,
#
# $$\frac{e^{x_i - c}}{\sum_j e^{x_j - c}} = \frac{e^{-c}\, e^{x_i}}{e^{-c} \sum_j e^{x_j}}
# = \mathrm{softmax}(x)_i ,$$
#
# so choose $c = \max_j x_j$. Then every exponent is $\le 0$ (no overflow) and the largest
# is exactly $e^0 = 1$ (the sum is at least 1, never 0).
#
# Worked example: $x = [1, 2, 3]$. Subtract 3: $[-2, -1, 0]$; exponentiate: $[0.1353,
# 0.3679, 1]$; the sum is 1.5032; divide: $[0.0900, 0.2447, 0.6652]$. The same steps
# give the same answer for $x = [1001, 1002, 1003]$, where the literal formula returns
# `nan`.
#
# Your softmax works along any `axis` of an array of any shape (for an attention pattern
# of shape `(batch, heads, query, key)` the axis is the last). Entries equal to `-inf`
# (masked positions) must get probability exactly 0. Do not modify the input.
#
# <details><summary>Hint</summary>
#
# `np.max(x, axis=axis, keepdims=True)` keeps the reduced axis so that `x - max`
# broadcasts; the same goes for the sum. Avoid `x -= ...`, which writes into the
# caller's array.
# </details>

# %% nbgrader={"solution": true, "grade_id": "softmax"} exercise={"difficulty": 2, "importance": 5, "minutes": 10}
def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along `axis`, safe for very large and very negative inputs.

    x: float array of shape (..., n, ...) (float32 or float64); may contain -inf, at most
       all but one entry along `axis`.
    Returns an array of the same shape and dtype whose entries are in [0, 1] and sum to 1
    along `axis`. Does not modify x.
    """
    ### BEGIN SOLUTION
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "softmax_test", "points": 3}
from scipy.special import softmax as scipy_softmax

checks.assert_close("softmax", softmax(np.array([1.0, 2.0, 3.0])),
                    np.array([0.09003057317038046, 0.24472847105479767, 0.6652409557748219]))
rng = np.random.default_rng(0)
x = rng.normal(size=(4, 6))
checks.assert_close("softmax", softmax(x), scipy_softmax(x, axis=-1), hint="each row should sum to 1")
checks.assert_close("softmax", softmax(x, axis=0), scipy_softmax(x, axis=0), hint="with axis=0 each column sums to 1")
big = np.array([[1000.0, 1001.0, 1002.0]])
checks.assert_close("softmax", softmax(big), scipy_softmax(big, axis=-1),
                    hint="np.exp(1000.0) overflows to inf: subtract the max along the axis before exp")
print("softmax: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(3)
_inp = _rng.normal(size=(3, 4)) * 10
_keep = _inp.copy()
checks.call("softmax", softmax, _inp, case="a (3, 4) array")
checks.assert_close("softmax", _inp, _keep, name="the input after the call",
                    hint="softmax must not modify x in place: write shifted = x - max, not x -= max")
_neg = np.array([[-1000.0, -1001.0, -1002.0], [-800.0, -1000.0, -1200.0]])
checks.assert_close("softmax", softmax(_neg), scipy_softmax(_neg, axis=-1),
                    hint="every exp underflows to 0 and 0/0 is nan: subtract the max along the axis before exp")
_x = _rng.normal(size=(5, 7)) * 300
checks.assert_close("softmax", softmax(_x), scipy_softmax(_x, axis=-1),
                    hint="large logits overflow exp: subtract the max along the axis before exp")
_x3 = _rng.normal(size=(2, 3, 4))
checks.assert_close("softmax", checks.call("softmax", softmax, _x3, axis=1, case="a (2, 3, 4) array with axis=1"),
                    scipy_softmax(_x3, axis=1), hint="the max and the sum must be taken along `axis` (keepdims=True)")
_x32 = (_rng.normal(size=(3, 9)) * 40).astype(np.float32)
checks.assert_close("softmax", softmax(_x32), scipy_softmax(_x32.astype(np.float64), axis=-1).astype(np.float32),
                    hint="float32 in, float32 out (and float32 exp overflows above ~88.7)")
_base = _rng.normal(size=(6, 8))
checks.assert_close("softmax", checks.call("softmax", softmax, _base.T, case="a transposed view"), scipy_softmax(_base.T.copy(), axis=-1),
                    hint="a transposed (non-contiguous) input must work")
checks.assert_close("softmax", checks.call("softmax", softmax, _base[:, ::2], axis=0, case="a strided view with axis=0"),
                    scipy_softmax(_base[:, ::2].copy(), axis=0), hint="a strided (non-contiguous) input must work")
_masked = np.array([[0.0, -np.inf, 0.0], [-np.inf, 5.0, -np.inf]])
checks.assert_close("softmax", checks.call("softmax", softmax, _masked, case="input with -inf entries"),
                    np.array([[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]]),
                    hint="-inf entries (masked positions) get probability exactly 0")
checks.assert_close("softmax", checks.call("softmax", softmax, _rng.normal(size=(5, 1)), case="an axis of size 1"), np.ones((5, 1)),
                    hint="softmax over an axis of size 1 is 1")
checks.assert_shape("softmax", checks.call("softmax", softmax, np.zeros((0, 7)), case="an empty (0, 7) batch"), (0, 7),
                    hint="an empty batch gives an empty result")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: one-hot encoding, and comparisons that broadcast
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 8 minutes, then look at the hint.
#
# A classifier's labels are integers; its loss wants them as one-hot vectors, and
# so do the token embeddings of lesson 2.1 (an embedding lookup is a one-hot vector times
# a matrix). `one_hot([2, 0, 1], 3)` is
#
# ```
# [[0, 0, 1],
#  [1, 0, 0],
#  [0, 1, 0]]
# ```
#
# Comparisons (`==`, `<`, ...) broadcast exactly like arithmetic and return booleans. For
# example, with `scores` of shape `(N,)` and `thresholds` of shape `(T,)`,
# `scores[:, None] > thresholds` has shape `(N, T)` and says, for every score, which
# thresholds it exceeds. `x[:, None]` (or `x[..., None]` for any number of leading axes)
# inserts a new axis of size 1; `.astype(dtype)` converts booleans to numbers.
#
# Labels outside `[0, num_classes)` must raise `ValueError`. NumPy would not stop you:
# a negative index counts from the end, so label `-1` would quietly become the last
# class.
#
# No Python loops (`for`, `while`, comprehensions): the hidden tests read your source.
#
# <details><summary>Hint</summary>
#
# `labels[..., None] == np.arange(num_classes)`: shape `(..., 1)` against `(C,)` gives
# `(..., C)`. Check the range first with `labels.min()` and `labels.max()` (only when
# `labels.size > 0`: the min of an empty array is an error).
# </details>

# %% nbgrader={"solution": true, "grade_id": "one_hot"} exercise={"difficulty": 2, "importance": 4, "minutes": 8}
def one_hot(labels: np.ndarray, num_classes: int, dtype=np.float32) -> np.ndarray:
    """One-hot encode integer labels.

    labels: integer array of any shape (...), values in [0, num_classes); may be empty.
    Returns an array of shape (..., num_classes) and the given dtype, with a 1 at each
    label's position and 0 elsewhere.
    Raises ValueError if a label is negative or >= num_classes.
    """
    ### BEGIN SOLUTION
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}); got values from {labels.min()} to {labels.max()}")
    return (labels[..., None] == np.arange(num_classes)).astype(dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "one_hot_test", "points": 2}
expected = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
checks.assert_equal("one_hot", one_hot(np.array([2, 0, 1, 2]), 3), expected,
                    hint="row i has a single 1, in column labels[i]")
checks.assert_shape("one_hot", one_hot(np.zeros((2, 5), dtype=np.int64), 4), (2, 5, 4),
                    hint="the class axis is added last: (..., num_classes)")
checks.assert_raises("one_hot", ValueError, one_hot, np.array([0, 3]), 3,
                     hint="label 3 is out of range for 3 classes: check and raise ValueError")
print("one_hot: visible tests pass")
### BEGIN HIDDEN TESTS


_rng = np.random.default_rng(4)
_labels = _rng.integers(0, 6, size=(4, 5))
checks.assert_equal("one_hot", checks.call("one_hot", one_hot, _labels, 6, case="(4, 5) labels"), np.eye(6, dtype=np.float32)[_labels],
                    hint="entry [..., c] is 1 exactly where labels[...] == c")
checks.assert_equal("one_hot", one_hot(_labels, 9, dtype=np.int64), np.eye(9, dtype=np.int64)[_labels],
                    hint="use the dtype argument; classes that never occur still get a column of zeros")
checks.assert_equal("one_hot", checks.call("one_hot", one_hot, _labels[:, ::2], 6, dtype=bool, case="strided labels"),
                    np.eye(6, dtype=bool)[_labels[:, ::2]],
                    hint="strided (non-contiguous) labels must work; dtype=bool gives booleans")
checks.assert_equal("one_hot", checks.call("one_hot", one_hot, np.array([], dtype=np.int64), 4, case="an empty array of labels"),
                    np.zeros((0, 4), dtype=np.float32),
                    hint="no labels gives shape (0, num_classes); .min() of an empty array raises, so check size first")
checks.assert_equal("one_hot", checks.call("one_hot", one_hot, np.array(1), 3, case="a 0-d label"), np.array([0, 1, 0], dtype=np.float32),
                    hint="a single (0-d) label gives shape (num_classes,)")
checks.assert_raises("one_hot", ValueError, one_hot, np.array([1, -1]), 3,
                     hint="label -1 is out of range: np.eye(3)[-1] would silently give the last class")
checks.assert_raises("one_hot", ValueError, one_hot, np.array([[0, 5], [1, 2]]), 5,
                     hint="labels must be < num_classes")
checks.assert_no_loops("one_hot", one_hot, hint="build the whole result with one broadcast comparison")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: pairwise distances
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 15 minutes, then look at the hint.
#
# Given `n` points `x` and `m` points `y`, each a row of `d` features, compute the
# `(n, m)` matrix of Euclidean distances:
#
# $$D_{ij} = \lVert x_i - y_j \rVert = \sqrt{\textstyle\sum_{f} (x_{if} - y_{jf})^2}.$$
#
# The loop version is two nested loops over `i` and `j`. The vectorised version turns
# each loop into an *axis*: lay the `n` points of `x` along axis 0, the `m` points of `y`
# along axis 1, and keep the features on axis 2. Broadcasting then forms every difference
# at once:
#
# ```
# x[:, None, :]   shape (n, 1, d)
# y[None, :, :]   shape (1, m, d)
# difference      shape (n, m, d)    -> square, sum over the last axis -> (n, m)
# ```
#
# This "one axis per loop index" move is the most useful trick in the lesson; the next
# exercise uses it again.
#
# No Python loops (`for`, `while`, comprehensions): the hidden tests read your source.
# Your function must keep float32 input as float32, work for `n`, `m` or `d` of size 1 or
# `m = 0`, and give exactly 0 (not `nan`) for identical points.
#
# <details><summary>Hint</summary>
#
# **The idea.** Every pair of a row of `x` and a row of `y` at once: give the two arrays axes that
# broadcast against each other, so the difference is a `(n, m, d)` array, then reduce over `d`.
#
# **A pointer.** Insert a new axis in the middle of `x` and at the front of `y`. If you use the
# expansion $\lVert x\rVert^2 - 2x\cdot y + \lVert y\rVert^2$ instead, rounding can make it a
# tiny bit negative: clamp before the square root.
# </details>

# %% nbgrader={"solution": true, "grade_id": "pairwise_distances"} exercise={"difficulty": 3, "importance": 5, "minutes": 15}
def pairwise_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean distance between every row of x and every row of y, without Python loops.

    x: float array of shape (n, d); y: float array of shape (m, d), same dtype.
    Returns D of shape (n, m) and the dtype of x, with D[i, j] = ||x[i] - y[j]||.
    """
    ### BEGIN SOLUTION
    diff = x[:, None, :] - y[None, :, :]
    return np.sqrt(np.sum(diff * diff, axis=-1))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "pairwise_distances_test", "points": 3}
from scipy.spatial.distance import cdist

x = np.array([[0.0, 0.0], [3.0, 4.0]])
y = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
checks.assert_close("pairwise_distances", pairwise_distances(x, y),
                    np.array([[0.0, 1.0, 3.0], [5.0, np.sqrt(20.0), 4.0]]),
                    hint="D[i, j] is the distance from x[i] to y[j]; the result has shape (n, m)")
rng = np.random.default_rng(0)
x, y = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
checks.assert_close("pairwise_distances", pairwise_distances(x, y), cdist(x, y),
                    hint="square the differences, sum over the feature axis, then take the square root")
print("pairwise_distances: visible tests pass")
### BEGIN HIDDEN TESTS


_rng = np.random.default_rng(5)
_x, _y = _rng.normal(size=(7, 4)) * 10, _rng.normal(size=(3, 4)) * 10
checks.assert_close("pairwise_distances", pairwise_distances(_x, _y), cdist(_x, _y))
_many = _rng.normal(size=(100, 30))
checks.assert_close("pairwise_distances", pairwise_distances(_many, _many), cdist(_many, _many), atol=1e-6,
                    hint="identical points must give 0, not nan: if rounding makes a squared distance "
                         "slightly negative, clamp it at 0 before the square root")
_x32, _y32 = _rng.normal(size=(6, 5)).astype(np.float32), _rng.normal(size=(4, 5)).astype(np.float32)
with checks.tolerance(rtol=1e-4, atol=1e-4):
    checks.assert_close("pairwise_distances", pairwise_distances(_x32, _y32),
                        cdist(_x32.astype(np.float64), _y32.astype(np.float64)).astype(np.float32),
                        hint="float32 in, float32 out: avoid float64 intermediates")
_xt = _rng.normal(size=(3, 8)).T  # (8, 3), non-contiguous
_ys = _rng.normal(size=(10, 3))[::2]  # (5, 3), strided
checks.assert_close("pairwise_distances", checks.call("pairwise_distances", pairwise_distances, _xt, _ys, case="non-contiguous views"),
                    cdist(_xt.copy(), _ys.copy()),
                    hint="transposed and strided views must work")
checks.assert_close("pairwise_distances", checks.call("pairwise_distances", pairwise_distances, np.array([[2.0]]), np.array([[0.0], [5.0], [2.0], [-1.0]]),
                                                 case="n = 1, d = 1"),
                    np.array([[2.0, 3.0, 0.0, 3.0]]), hint="with d = 1 the distance is |x - y|")
checks.assert_shape("pairwise_distances", checks.call("pairwise_distances", pairwise_distances, _rng.normal(size=(2, 3)), np.zeros((0, 3)),
                                                 case="m = 0 points in y"), (2, 0),
                    hint="m = 0 points gives an (n, 0) result")
checks.assert_no_loops("pairwise_distances", pairwise_distances, hint="put i on axis 0, j on axis 1 and the features on axis 2, and let broadcasting do the loops")
### END HIDDEN TESTS

# %% [markdown]
# Here is what the function is for. `load_digits` (bundled with scikit-learn, no
# download) holds 8×8 images of handwritten digits as 64-dimensional vectors. Sort 300 of
# them by label and look at all 90,000 distances at once: the dark blocks on the diagonal
# say that images of the same digit are closer to each other than to other digits, and
# the off-diagonal blocks show which digits look alike.

# %%
from sklearn.datasets import load_digits

digits = load_digits()
order = np.argsort(digits.target[:300], kind="stable")
images = digits.data[:300][order]
sorted_labels = digits.target[:300][order]
distances = pairwise_distances(images, images)

fig, ax = plt.subplots(figsize=(6.5, 5.5))
im = ax.imshow(distances, cmap="magma")
for boundary in np.flatnonzero(np.diff(sorted_labels)) + 0.5:
    ax.axhline(boundary, color="white", lw=0.4)
    ax.axvline(boundary, color="white", lw=0.4)
centres = [np.flatnonzero(sorted_labels == c).mean() for c in range(10)]
ax.set_xticks(centres, range(10))
ax.set_yticks(centres, range(10))
ax.set_xlabel("digit")
ax.set_ylabel("digit")
ax.set_title("Distances between 300 digit images, sorted by label")
fig.colorbar(im, ax=ax, label="Euclidean distance")
plt.show()

# %% [markdown]
# **What just happened.** Two nested loops became two axes. `x[:, None, :] - y[None, :, :]`
# built an `(n, m, d)` array in which every pair `(i, j)` has its own row of differences,
# and a reduction over the last axis collapsed it to `(n, m)`. The price is memory: the
# intermediate holds `n·m·d` numbers, which for 10,000 × 10,000 points in 512 dimensions is
# 400 GB of float64. Libraries avoid it with the expansion
# $\lVert x - y\rVert^2 = \lVert x\rVert^2 - 2\,x\cdot y + \lVert y\rVert^2$, whose middle
# term is one matrix product of size `(n, m)`. scikit-learn's `euclidean_distances` works
# this way, and its docstring warns that the formula can suffer from "catastrophic
# cancellation": when points are far from the origin compared with the distances between
# them, the two large terms nearly cancel and rounding errors dominate. Rounding can even
# make the squared distance between a point and itself slightly negative, which is why
# the hint clamps at 0. Each approach has a cost; knowing both is what lets you choose.

# %% [markdown]
# ## Exercise 6: a batched matrix product from broadcasting
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 15 minutes, then look at the hint.
#
# A matrix product is a broadcast product followed by a sum:
#
# $$C_{ij} = \sum_k A_{ik} B_{kj}.$$
#
# There are three indices, `i`, `k` and `j`. As in the last exercise, give each index its
# own axis: arrange `A` (indices `i, k`) and `B` (indices `k, j`) so that their product
# has shape `(n, k, m)`, then sum over the `k` axis.
#
# Transformers do this constantly for a whole *batch* of matrices at once: attention
# multiplies `(batch, heads, query, d_head)` by `(batch, heads, d_head, key)`. NumPy's `@`
# treats every axis before the last two as a batch axis, and broadcasts those batch axes
# against each other. So `(2, 1, 3, 4) @ (5, 4, 2)` has shape `(2, 5, 3, 2)`, and a plain
# `(3, 4)` matrix on the right is applied to every matrix in the batch. Write
# `batched_matmul(a, b)` with the same behaviour, using only broadcasting and `sum`:
# no `@`, `np.matmul`, `np.dot`, `np.einsum`, `np.tensordot` or `np.inner`, and no Python
# loops.
#
# One more duty: if the inner sizes differ, raise `ValueError`. Broadcasting will not
# always catch this for you: when `a` ends in size `k = 1` and `b` has `k = 3`, the
# product silently stretches `a` and returns a plausible-looking wrong answer.
#
# <details><summary>Hint</summary>
#
# `a[..., :, :, None]` has shape `(..., n, k, 1)` and `b[..., None, :, :]` has shape
# `(..., 1, k, m)`. Their product is `(..., n, k, m)`; sum over `axis=-2`. Check
# `a.shape[-1] != b.shape[-2]` first.
# </details>

# %% nbgrader={"solution": true, "grade_id": "batched_matmul"} exercise={"difficulty": 3, "importance": 5, "minutes": 15}
def batched_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Matrix product of the last two axes, broadcasting the leading (batch) axes, like a @ b.

    a: array of shape (..., n, k); b: array of shape (..., k, m); at least 2-D each.
    Returns an array of shape (broadcast(batch_a, batch_b)..., n, m), with the dtype of a @ b
    for float and int64 inputs. Uses broadcasting and sum only.
    Raises ValueError if a.shape[-1] != b.shape[-2].
    """
    ### BEGIN SOLUTION
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"both arguments must be at least 2-D; got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"inner sizes differ: a is (..., {a.shape[-2]}, {a.shape[-1]}), "
                         f"b is (..., {b.shape[-2]}, {b.shape[-1]})")
    return (a[..., :, :, None] * b[..., None, :, :]).sum(axis=-2)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "batched_matmul_test", "points": 3}
checks.assert_equal("batched_matmul", batched_matmul(np.array([[1, 2], [3, 4]]), np.array([[5, 6], [7, 8]])),
                    np.array([[19, 22], [43, 50]]), hint="C[i, j] = sum over k of A[i, k] * B[k, j]")
rng = np.random.default_rng(0)
a, b = rng.normal(size=(4, 2, 3)), rng.normal(size=(4, 3, 5))
checks.assert_close("batched_matmul", batched_matmul(a, b), a @ b,
                    hint="one matrix product per batch entry: result[t] = a[t] @ b[t]")
checks.assert_raises("batched_matmul", ValueError, batched_matmul, np.ones((2, 3)), np.ones((4, 2)),
                     hint="a is (2, 3) and b is (4, 2): the inner sizes 3 and 4 differ")
print("batched_matmul: visible tests pass")
### BEGIN HIDDEN TESTS


_rng = np.random.default_rng(6)
_a, _b = _rng.normal(size=(2, 1, 3, 4)), _rng.normal(size=(5, 4, 2))
checks.assert_close("batched_matmul", checks.call("batched_matmul", batched_matmul, _a, _b, case="shapes (2, 1, 3, 4) and (5, 4, 2)"), _a @ _b,
                    hint="the batch axes broadcast: (2, 1) with (5,) gives (2, 5)")
_a, _b = _rng.normal(size=(6, 3, 4)), _rng.normal(size=(4, 2))
checks.assert_close("batched_matmul", checks.call("batched_matmul", batched_matmul, _a, _b, case="shapes (6, 3, 4) and (4, 2)"), _a @ _b,
                    hint="a 2-D b is applied to every matrix in the batch of a")
_a, _b = _rng.normal(size=(3, 4)), _rng.normal(size=(4, 5))
checks.assert_close("batched_matmul", checks.call("batched_matmul", batched_matmul, _a, _b, case="2-D matrices"), _a @ _b,
                    hint="plain 2-D matrices must work")
_a32, _b32 = _rng.normal(size=(2, 3, 4)).astype(np.float32), _rng.normal(size=(2, 4, 3)).astype(np.float32)
with checks.tolerance(rtol=1e-5, atol=1e-5):
    checks.assert_close("batched_matmul", batched_matmul(_a32, _b32), _a32 @ _b32, hint="float32 in, float32 out")
_ai, _bi = _rng.integers(-5, 5, size=(3, 2, 4)), _rng.integers(-5, 5, size=(3, 4, 3))
checks.assert_equal("batched_matmul", batched_matmul(_ai, _bi), _ai @ _bi, hint="int64 in, exact int64 out")
_base = _rng.normal(size=(2, 5, 3))
_at = _base.transpose(0, 2, 1)  # (2, 3, 5), non-contiguous
_bs = _rng.normal(size=(2, 10, 4))[:, ::2]  # (2, 5, 4), strided
checks.assert_close("batched_matmul", checks.call("batched_matmul", batched_matmul, _at, _bs, case="non-contiguous views"), _at @ _bs,
                    hint="non-contiguous views must work")
checks.assert_close("batched_matmul", checks.call("batched_matmul", batched_matmul, np.ones((2, 3, 0)), np.ones((2, 0, 4)), case="k = 0"),
                    np.zeros((2, 3, 4)),
                    hint="with k = 0 the sums are empty, so the result is all zeros of shape (..., n, m)")
checks.assert_raises("batched_matmul", ValueError, batched_matmul, np.ones((2, 3, 1)), np.ones((2, 3, 4)),
                     hint="a has k = 1 and b has k = 3: broadcasting would stretch a silently, so check the sizes yourself")
checks.assert_raises("batched_matmul", ValueError, batched_matmul, np.ones((2, 3, 4)), np.ones((2, 1, 5)),
                     hint="a has k = 4 and b has k = 1: check a.shape[-1] == b.shape[-2] yourself")
checks.assert_no_loops("batched_matmul", batched_matmul,
                        forbidden=("@", "matmul", "dot", "einsum", "tensordot", "inner", "vdot", "multi_dot"),
                        hint="build the product with broadcasting and .sum only: no loops, @, matmul, dot or einsum")
### END HIDDEN TESTS

# %% [markdown]
# **What just happened.** You wrote a matrix product as "align the indices on axes,
# multiply, sum out the shared one". Every linear-algebra expression can be read this way,
# and lesson 0.2's `einsum` is a notation for exactly that: `np.einsum("...nk,...km->...nm",
# a, b)` names the indices instead of placing them by hand. Your version materialises the
# whole `(..., n, k, m)` product before summing, so it uses `k` times more memory than the
# answer and is much slower than `@`, which calls an optimised BLAS routine that never
# builds it. Use `@` in real code; the broadcasting form is how you *think* about it, and
# how you will check shapes in every model you write.

# %% [markdown]
# ## Exercise 7: a moving average with cumulative sums
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 12 minutes, then look at the hint.
#
# Loss curves are noisy; you will smooth them in every training lesson. The moving
# average with window `w` replaces each run of `w` consecutive values by its mean. We keep
# only complete windows (NumPy's `mode="valid"`), so a series of length `n` gives
# `n - w + 1` averages.
#
# Summing each window separately costs `w` additions per output. Cumulative sums do it in
# one pass. Let $S_0 = 0$ and $S_i = x_0 + \dots + x_{i-1}$. Then the sum of the window
# starting at position $i$ is $S_{i+w} - S_i$: the difference of two shifted slices of one
# array.
#
# Worked example: `x = [1, 2, 3, 4, 5]`, `w = 2`. `S = [0, 1, 3, 6, 10, 15]`;
# `S[2:] - S[:-2] = [3, 5, 7, 9]`; divide by 2: `[1.5, 2.5, 3.5, 4.5]`.
#
# Your function averages along the last axis of an array of any shape (a batch of
# series), keeps float32 as float32, turns integers into float64, raises `ValueError`
# unless `1 <= window <= n`, and uses no Python loops.
#
# <details><summary>Hint</summary>
#
# `np.cumsum(x, axis=-1)` gives $S_1 \dots S_n$; put a zero in front with
# `np.concatenate([np.zeros(x.shape[:-1] + (1,), dtype=x.dtype), c], axis=-1)`. Then slice
# with `...` so that leading axes are left alone: `S[..., window:] - S[..., :-window]`.
# (`np.lib.stride_tricks.sliding_window_view` is another loop-free route.)
# </details>

# %% nbgrader={"solution": true, "grade_id": "moving_average"} exercise={"difficulty": 3, "importance": 3, "minutes": 12}
def moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of every run of `window` consecutive values along the last axis ("valid" mode).

    x: array of shape (..., n), float32, float64 or integer.
    Returns shape (..., n - window + 1); float dtypes are kept, integers give float64.
    Raises ValueError unless 1 <= window <= n. Does not modify x.
    """
    ### BEGIN SOLUTION
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    n = x.shape[-1]
    if not 1 <= window <= n:
        raise ValueError(f"window must be between 1 and {n} (the length of the last axis); got {window}")
    zero = np.zeros(x.shape[:-1] + (1,), dtype=x.dtype)
    sums = np.concatenate([zero, np.cumsum(x, axis=-1)], axis=-1)
    return (sums[..., window:] - sums[..., :-window]) / window
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "moving_average_test", "points": 2}
checks.assert_close("moving_average", moving_average(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 2),
                    np.array([1.5, 2.5, 3.5, 4.5]), hint="a series of length n gives n - window + 1 averages")
rng = np.random.default_rng(0)
x = rng.normal(size=20)
checks.assert_close("moving_average", moving_average(x, 5), np.convolve(x, np.ones(5) / 5, mode="valid"),
                    hint="output k is the mean of x[k], ..., x[k + window - 1]")
checks.assert_raises("moving_average", ValueError, moving_average, x, 21, hint="a window longer than the series")
print("moving_average: visible tests pass")
### BEGIN HIDDEN TESTS


def _reference(rows, w):
    return np.stack([np.convolve(r, np.ones(w) / w, mode="valid") for r in rows.reshape(-1, rows.shape[-1])]
                    ).reshape(rows.shape[:-1] + (rows.shape[-1] - w + 1,))


_rng = np.random.default_rng(7)
_x = _rng.normal(size=(3, 50))
checks.assert_close("moving_average", moving_average(_x, 7), _reference(_x, 7),
                    hint="average along the last axis only; slice with [..., a:b] so that leading axes stay")
_x3 = _rng.normal(size=(2, 3, 12))
checks.assert_close("moving_average", checks.call("moving_average", moving_average, _x3, 4, case="a (2, 3, 12) array"), _reference(_x3, 4),
                    hint="any number of leading axes")
checks.assert_close("moving_average", checks.call("moving_average", moving_average, _x, 1, case="window = 1"), _x,
                    hint="window = 1 returns x itself (as floats)")
checks.assert_close("moving_average", checks.call("moving_average", moving_average, _x, 50, case="window = n"), _x.mean(axis=-1, keepdims=True),
                    hint="window = n gives one average per series, shape (..., 1)")
_xi = _rng.integers(0, 10, size=(2, 9))
checks.assert_close("moving_average", checks.call("moving_average", moving_average, _xi, 3, case="integer input"),
                    _reference(_xi.astype(np.float64), 3),
                    hint="integer input gives float64 averages")
_x32 = _rng.normal(size=(3, 40)).astype(np.float32)
with checks.tolerance(rtol=1e-5, atol=1e-5):
    checks.assert_close("moving_average", moving_average(_x32, 6),
                        _reference(_x32.astype(np.float64), 6).astype(np.float32), hint="float32 in, float32 out")
_xs = _rng.normal(size=(4, 30))[::2, ::3]
checks.assert_close("moving_average", checks.call("moving_average", moving_average, _xs, 3, case="a strided view"), _reference(_xs.copy(), 3),
                    hint="strided (non-contiguous) views must work")
checks.assert_shape("moving_average", checks.call("moving_average", moving_average, np.zeros((0, 10)), 4, case="an empty (0, 10) batch"), (0, 7),
                    hint="an empty batch gives an empty result of shape (0, n - window + 1)")
_keep = _x.copy()
moving_average(_x, 5)
checks.assert_close("moving_average", _x, _keep, name="the input after the call", hint="do not modify x in place")
checks.assert_raises("moving_average", ValueError, moving_average, _x, 0, hint="window = 0 is not a window")
checks.assert_raises("moving_average", ValueError, moving_average, _x, 51, hint="window > n has no complete window")
checks.assert_no_loops("moving_average", moving_average, hint="the difference of two slices of one cumulative sum needs no loop")
### END HIDDEN TESTS

# %% [markdown]
# Smoothing a noisy series with a few window sizes. A longer window gives a smoother curve
# but blurs quick changes, and a shorter output: `window - 1` points fewer than the series,
# so we plot each average at the centre of its window.

# %%
rng = np.random.default_rng(0)
steps = np.arange(400)
noisy = np.exp(-steps / 120) + 0.15 * rng.normal(size=steps.size)
fig, ax = plt.subplots(figsize=(8, 3.5))
ax.plot(steps, noisy, color="lightgray", label="raw")
for w in (5, 25, 75):
    ax.plot(steps[(w - 1) // 2: (w - 1) // 2 + steps.size - w + 1], moving_average(noisy, w), label=f"window {w}")
ax.set_xlabel("step")
ax.set_ylabel("loss (synthetic)")
ax.legend()
plt.show()

# %% [markdown]
# ## Exercise 8: top-k per row
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 12 minutes, then look at the hint.
#
# "Which 5 tokens does the model rank highest at each position?" "Which 10 inputs
# activate this neuron most?" Top-k is how you look at what a model is doing, and top-k
# sampling (lesson 2.2) uses it to generate text.
#
# Three tools do the work:
# - `np.argsort(x, axis=-1)` returns, for each row, the *indices* that would sort it
#   (ascending). `np.argpartition(x, kth, axis=-1)` is cheaper (linear time rather than
#   `n log n`): it only guarantees that position `kth` holds the value it would hold if
#   the row were sorted, with no larger value before it and no smaller value after it;
#   the order within each side is undefined.
# - Indices per row cannot be used as `x[indices]`: that indexes axis 0.
#   `np.take_along_axis(x, indices, axis=-1)` picks `x[..., indices[..., j]]` row by row.
# - Reversing the last axis: `a[..., ::-1]`.
#
# For example, with `x = [[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]]` and `k = 2`, the values are
# `[[5, 4], [9, 6]]` and the indices `[[4, 2], [0, 2]]`.
#
# Return the `k` largest values of each row in descending order, with their indices.
# When values tie, any of the tied indices is acceptable, as long as
# `values == take_along_axis(x, indices)` and no index repeats within a row. `k = 0` gives
# empty results; `k < 0` or `k > n` raises `ValueError`. No Python loops.
#
# <details><summary>Hint</summary>
#
# Simplest: `order = np.argsort(x, axis=-1)[..., ::-1][..., :k]`, then
# `np.take_along_axis(x, order, axis=-1)`. Faster for large `n`: `np.argpartition(x, n - k,
# axis=-1)[..., n - k:]` gives the `k` largest unordered; sort just those (another argsort
# and a `take_along_axis` on the indices). Watch out for `k = 0` with `argpartition`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "top_k"} exercise={"difficulty": 3, "importance": 4, "minutes": 12}
def top_k(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest entries along the last axis, largest first, and where they are.

    x: array of shape (..., n), any real dtype.
    Returns (values, indices), both of shape (..., k): values has x's dtype and is sorted in
    descending order along the last axis; indices is an integer array with
    values == np.take_along_axis(x, indices, axis=-1) and no repeated index within a row.
    Raises ValueError unless 0 <= k <= n.
    """
    ### BEGIN SOLUTION
    x = np.asarray(x)
    n = x.shape[-1]
    if not 0 <= k <= n:
        raise ValueError(f"k must be between 0 and {n} (the length of the last axis); got {k}")
    if k == 0:
        indices = np.zeros(x.shape[:-1] + (0,), dtype=np.intp)
    else:
        candidates = np.argpartition(x, n - k, axis=-1)[..., n - k:]  # the k largest, unordered
        order = np.argsort(np.take_along_axis(x, candidates, axis=-1), axis=-1)[..., ::-1]
        indices = np.take_along_axis(candidates, order, axis=-1)
    return np.take_along_axis(x, indices, axis=-1), indices
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "top_k_test", "points": 3}
x = np.array([[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]])
result = top_k(x, 2)
checks.assert_true("top_k", isinstance(result, tuple) and len(result) == 2,
                   f"top_k should return a pair (values, indices); got {type(result).__name__}")
values, indices = result
checks.assert_equal("top_k", values, np.array([[5, 4], [9, 6]]), name="values",
                    hint="the k largest of each row, largest first")
checks.assert_equal("top_k", indices, np.array([[4, 2], [0, 2]]), name="indices",
                    hint="indices are positions within each row (along the last axis)")
rng = np.random.default_rng(0)
x = rng.normal(size=(3, 10))
values, indices = top_k(x, 4)
checks.assert_close("top_k", values, np.sort(x, axis=-1)[:, ::-1][:, :4], name="values",
                    hint="descending order: the largest value comes first")
checks.assert_equal("top_k", np.take_along_axis(x, indices, axis=-1), values, name="x at your indices",
                    hint="x at your indices should give your values")
print("top_k: visible tests pass")
### BEGIN HIDDEN TESTS


def _check_top_k(x, k, what):
    got = checks.call("top_k", top_k, x, k, case=what, hint="with k = 0, argpartition's kth = n - k is out of range: "
                "return empty (..., 0) arrays" if k == 0 else None)
    checks.assert_true("top_k", isinstance(got, tuple) and len(got) == 2, f"top_k({what}) should return a pair")
    vals, idx = got
    want = np.sort(x, axis=-1)[..., ::-1][..., :k]
    checks.assert_equal("top_k", vals, want, name=f"values for {what}", hint="the k largest along the last axis, largest first, in x's dtype")
    checks.assert_true("top_k", np.issubdtype(np.asarray(idx).dtype, np.integer),
                       f"indices for {what} have dtype {np.asarray(idx).dtype}; expected an integer dtype")
    checks.assert_shape("top_k", idx, x.shape[:-1] + (k,), name=f"indices for {what}")
    checks.assert_equal("top_k", np.take_along_axis(x, idx, axis=-1), vals, name=f"x at your indices for {what}",
                        hint="values must equal np.take_along_axis(x, indices, axis=-1)")
    sorted_idx = np.sort(idx, axis=-1)
    checks.assert_true("top_k", not (sorted_idx[..., 1:] == sorted_idx[..., :-1]).any(),
                       f"an index repeats within a row for {what}", hint="each position may be chosen once")


_rng = np.random.default_rng(8)
_check_top_k(_rng.normal(size=(6, 100)), 5, "a (6, 100) float array, k=5")
_check_top_k(_rng.normal(size=(2, 3, 7)), 3, "a (2, 3, 7) array, k=3")
_check_top_k(_rng.normal(size=9), 4, "a 1-D array, k=4")
_check_top_k(_rng.integers(-50, 50, size=(4, 8)).astype(np.int32), 3, "an int32 array")
_check_top_k(_rng.integers(0, 3, size=(5, 12)), 6, "an array with many ties")
_check_top_k(_rng.normal(size=(3, 6)), 6, "k = n")
_check_top_k(_rng.normal(size=(3, 6)), 0, "k = 0")
_check_top_k(_rng.normal(size=(8, 10)).T[:, ::2], 2, "a non-contiguous view")
checks.assert_raises("top_k", ValueError, top_k, np.ones((2, 4)), 5, hint="k > n must raise ValueError")
checks.assert_raises("top_k", ValueError, top_k, np.ones((2, 4)), -1, hint="k < 0 must raise ValueError")
checks.assert_no_loops("top_k", top_k, hint="argsort / argpartition and take_along_axis work on every row at once")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 9: vectorise a given loop, per-class means
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 12 minutes, then look at the hint.
#
# The mean of some vectors per class, say the mean activation of a layer for each
# label, is the first thing to compute when asking whether a model represents a concept:
# the difference of two class means is the simplest candidate for a direction that
# separates them, and you will meet it again with the probes of Module 4. Here is a
# correct, slow version. Rewrite it without Python loops.

# %%
def class_means_loop(x, labels, num_classes):
    """Mean of the rows of x for each class; zeros for a class with no rows."""
    n, d = x.shape
    sums = np.zeros((num_classes, d))
    counts = np.zeros(num_classes)
    for i in range(n):
        sums[labels[i]] += x[i]
        counts[labels[i]] += 1
    means = np.zeros((num_classes, d))
    for c in range(num_classes):
        if counts[c] > 0:
            means[c] = sums[c] / counts[c]
    return means


# %% [markdown]
# Two loop-free routes, both worth knowing:
#
# 1. **A matrix product.** With `M` the `(n, C)` one-hot matrix of the labels (Exercise 4),
#    `M.T @ x` has shape `(C, d)` and row `c` is the sum of the rows of `x` with label `c`;
#    `M.sum(axis=0)` counts them. Scatter-and-sum is a matrix product.
# 2. **Unbuffered in-place addition.** `np.add.at(sums, labels, x)` adds `x[i]` into
#    `sums[labels[i]]` for every `i`, *including repeated labels*. The plain
#    `sums[labels] += x` does not: with repeated indices only one of the additions
#    survives, a classic silent bug. `np.bincount(labels, minlength=C)` counts.
#
# Either way, a class with no rows must give zeros, not `0 / 0 = nan`, and the result
# is float64 whatever the dtype of `x`, like the loop's.
#
# <details><summary>Hint</summary>
#
# **The idea.** A mean is a sum divided by a count, and both can be had for every class at once
# without a loop: build a `(n, C)` matrix that says which sample belongs to which class, and one
# matrix product sums the rows of `x` per class.
#
# **A pointer.** Compare `labels` (made a column) with `np.arange(num_classes)` (a row) to get that
# matrix; its transpose times `x` gives the sums, and its column sums give the counts. An empty class
# has count 0: what can you divide by so that its mean comes out 0 instead of NaN?
# </details>

# %% nbgrader={"solution": true, "grade_id": "class_means"} exercise={"difficulty": 3, "importance": 4, "minutes": 12}
def class_means(x: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Mean of the rows of x for each class, without Python loops.

    x: float array of shape (n, d); labels: int array of shape (n,), values in [0, num_classes).
    Returns a float64 array of shape (num_classes, d); row c is the mean of the rows of x
    whose label is c, or zeros if there are none. Equals class_means_loop(x, labels, num_classes).
    """
    ### BEGIN SOLUTION
    onehot = (labels[:, None] == np.arange(num_classes)).astype(np.float64)  # (n, C)
    sums = onehot.T @ x  # (C, d)
    counts = onehot.sum(axis=0)  # (C,)
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float64)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "class_means_test", "points": 2}
x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
checks.assert_close("class_means", class_means(x, np.array([0, 1, 0]), 3), np.array([[3.0, 4.0], [3.0, 4.0], [0.0, 0.0]]),
                    hint="class 0 averages rows 0 and 2 (sums[labels] += x would add only one of them: use np.add.at "
                         "or a matrix product); class 2 has no rows, so it is zeros")
rng = np.random.default_rng(0)
x = rng.normal(size=(20, 3))
labels = rng.integers(0, 4, size=20)
checks.assert_close("class_means", class_means(x, labels, 4), class_means_loop(x, labels, 4),
                    hint="with repeated labels, sums[labels] += x adds only once per label: use np.add.at or a matrix product")
print("class_means: visible tests pass")
### BEGIN HIDDEN TESTS


_rng = np.random.default_rng(9)
_x = _rng.normal(size=(200, 8))
_labels = _rng.integers(0, 10, size=200)
checks.assert_close("class_means", class_means(_x, _labels, 10), class_means_loop(_x, _labels, 10))
_labels_gap = _rng.choice([0, 2, 5], size=50)
_xg = _rng.normal(size=(50, 3))
checks.assert_close("class_means", checks.call("class_means", class_means, _xg, _labels_gap, 7, case="classes with no rows"),
                    class_means_loop(_xg, _labels_gap, 7),
                    hint="classes with no rows must be zeros, not nan (0 / 0)")
checks.assert_close("class_means", checks.call("class_means", class_means, np.zeros((0, 4)), np.zeros(0, dtype=np.int64), 3, case="n = 0 rows"),
                    np.zeros((3, 4)),
                    hint="no rows at all: every class is zeros, shape (num_classes, d)")
_x32 = _rng.normal(size=(30, 5)).astype(np.float32)
_l32 = _rng.integers(0, 3, size=30)
with checks.tolerance(rtol=1e-6, atol=1e-6):
    checks.assert_close("class_means", class_means(_x32, _l32, 3), class_means_loop(_x32, _l32, 3),
                        hint="the result is float64 whatever the dtype of x, like class_means_loop's")
_xs = _rng.normal(size=(5, 40)).T[::2]  # (20, 5), non-contiguous
_ls = _rng.integers(0, 4, size=40)[::2]
checks.assert_close("class_means", checks.call("class_means", class_means, _xs, _ls, 4, case="non-contiguous views"), class_means_loop(_xs, _ls, 4),
                    hint="non-contiguous views must work")
checks.assert_close("class_means", class_means(np.arange(6.0).reshape(6, 1), np.zeros(6, dtype=np.int64), 1),
                    np.array([[2.5]]), hint="all rows in one class: the mean of all of them")
checks.assert_no_loops("class_means", class_means, hint="a one-hot matrix product, or np.add.at with np.bincount, needs no loop")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 10: measuring a speed-up
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 8 minutes, then look at the hint.
#
# "Vectorised code is faster" is a claim; measure it. Timing code is easy to get subtly
# wrong:
#
# - **Warm up.** The first call often pays one-off costs (memory allocation, caches, lazy
#   imports). Call the function once, untimed, before timing it.
# - **Repeat, and keep the minimum.** Other processes interrupt yours at random, and
#   interruptions only ever add time. The fastest of several runs is the best estimate of
#   what the code itself costs. Python's own `timeit` module says so in the note of
#   `help(timeit.Timer.repeat)`: "the min() of the result is probably the only number you
#   should be interested in".
# - **Use a monotonic, high-resolution clock:** `time.perf_counter`, not `time.time`.
#
# Write `time_fn(fn, *args, repeats=5, clock=time.perf_counter)`: call `fn(*args)` once to
# warm up, then `repeats` times, each time reading `clock()` just before and just after the
# call, and return the smallest elapsed time in seconds, as a float. Raise `ValueError` if
# `repeats < 1`.
#
# Why a `clock` argument? So that the test can hand you a fake clock whose time advances by
# known amounts, and check your arithmetic exactly, without depending on how busy the
# machine is. Injecting the clock is a habit worth keeping for any code that reads time.
#
# <details><summary>Hint</summary>
#
# ```
# fn(*args)                       # warm-up, not timed
# for each of the repeats:
#     start = clock(); fn(*args); elapsed = clock() - start
# return the min of the elapsed times (as a float)
# ```
# </details>

# %% nbgrader={"solution": true, "grade_id": "time_fn"} exercise={"difficulty": 2, "importance": 3, "minutes": 8}
def time_fn(fn, *args, repeats: int = 5, clock=time.perf_counter) -> float:
    """The fastest of `repeats` timed calls of fn(*args), in seconds, after one untimed warm-up call.

    fn: any callable; args: passed to it unchanged; repeats: number of timed calls (>= 1);
    clock: a function returning the current time in seconds (float).
    Calls fn exactly repeats + 1 times. Returns a float. Raises ValueError if repeats < 1.
    """
    ### BEGIN SOLUTION
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}")
    fn(*args)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        fn(*args)
        best = min(best, clock() - start)
    return float(best)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "time_fn_test", "points": 2}
class FakeWork:
    """A function to time and the clock to time it with: each call advances the clock by the next duration."""

    def __init__(self, durations):
        self.durations = list(durations)
        self.now = 0.0
        self.calls = []

    def clock(self):
        return self.now

    def __call__(self, *args):
        self.calls.append(args)
        self.now += self.durations[len(self.calls) - 1] if len(self.calls) <= len(self.durations) else 1000.0


def explain_time(result, work, repeats):
    """Name the statistic a wrong result equals, if any."""
    timed = work.durations[1:repeats + 1]
    guesses = {"the warm-up call's time": work.durations[0], "the first timed call's time": timed[0],
               "the mean of the timed calls": np.mean(timed), "the median of the timed calls": np.median(timed),
               "the slowest timed call": max(timed), "the total of the timed calls": sum(timed),
               "the total including the warm-up": sum(work.durations[:repeats + 1])}
    names = [name for name, value in guesses.items() if result is not None and np.isclose(result, value)]
    if names:
        return f"{result} is {names[0]}: return the minimum of the timed calls"
    if result is not None and 0 <= result < 1e-3:
        return "the value is tiny: did you read time.perf_counter() instead of the clock argument?"
    return "time each call with clock() before and after, and return the smallest difference"


work = FakeWork([100.0, 4.0, 1.0, 3.0, 8.0, 2.0])  # warm-up, then 5 timed calls
result = time_fn(work, "a", 2, repeats=5, clock=work.clock)
checks.assert_true("time_fn", len(work.calls) == 6,
                   f"fn was called {len(work.calls)} times; expected 6 (one warm-up call, then repeats=5 timed calls)")
checks.assert_true("time_fn", all(call == ("a", 2) for call in work.calls),
                   f"fn received the arguments {work.calls[0]}; expected ('a', 2)", hint="call fn(*args)")
checks.assert_true("time_fn", isinstance(result, float), f"time_fn returned a {type(result).__name__}; return a float")
checks.assert_close("time_fn", result, 1.0, name="the time", hint=explain_time(result, work, 5))
print("time_fn: visible tests pass")
### BEGIN HIDDEN TESTS
_work = FakeWork([50.0, 7.0])
_res = time_fn(_work, repeats=1, clock=_work.clock)
checks.assert_true("time_fn", len(_work.calls) == 2, f"with repeats=1, fn was called {len(_work.calls)} times; expected 2")
checks.assert_close("time_fn", _res, 7.0, name="the time with repeats=1", hint=explain_time(_res, _work, 1))
_rng = np.random.default_rng(10)
_durations = [float(v) for v in _rng.uniform(0.5, 9.5, size=10)]
_work = FakeWork(_durations)
_res = time_fn(_work, np.zeros(3), repeats=9, clock=_work.clock)
checks.assert_true("time_fn", len(_work.calls) == 10, f"with repeats=9, fn was called {len(_work.calls)} times; expected 10")
checks.assert_close("time_fn", _res, min(_durations[1:]), name="the time with repeats=9", hint=explain_time(_res, _work, 9))
_work = FakeWork([3.0, 5.0, 2.0, 6.0, 9.0, 4.0])
_res = time_fn(_work, clock=_work.clock)
checks.assert_true("time_fn", len(_work.calls) == 6, f"with the default repeats, fn was called {len(_work.calls)} times; expected 6",
                   hint="the default is repeats=5")
checks.assert_close("time_fn", _res, 2.0, name="the time with the default repeats", hint=explain_time(_res, _work, 5))
checks.assert_raises("time_fn", ValueError, time_fn, FakeWork([1.0]), repeats=0, hint="repeats=0 times nothing: raise ValueError")
_real = time_fn(sum, range(1000), repeats=3)
checks.assert_true("time_fn", isinstance(_real, float) and 0 <= _real < 1,
                   f"with the real clock, timing sum(range(1000)) gave {_real!r}", hint="the default clock is time.perf_counter")
### END HIDDEN TESTS

# %% [markdown]
# Now the measurement this lesson has been building towards: the loop version of
# pairwise distances against your vectorised one, for a range of sizes. The loop does
# the same arithmetic, one pair at a time in the Python interpreter.

# %%
def pairwise_distances_loop(x, y):
    """The two nested loops that Exercise 5 replaced."""
    out = np.empty((len(x), len(y)), dtype=x.dtype)
    for i in range(len(x)):
        for j in range(len(y)):
            out[i, j] = np.sqrt(np.sum((x[i] - y[j]) ** 2))
    return out


rng = np.random.default_rng(0)
sizes = [8, 16, 32, 64, 128, 256, 512]
loop_sizes = sizes[:5]  # the loop is slow: at n = 256 it can take a second per call
loop_times, vector_times = [], []
for n in sizes:
    points = rng.normal(size=(n, 16))
    vector_times.append(time_fn(pairwise_distances, points, points, repeats=5))
    line = f"n = {n:4d}: vectorised {vector_times[-1] * 1e3:8.3f} ms"
    if n in loop_sizes:
        if n <= 32:  # the two versions agree
            assert np.allclose(pairwise_distances_loop(points, points), pairwise_distances(points, points))
        loop_times.append(time_fn(pairwise_distances_loop, points, points, repeats=2))
        line += f", loop {loop_times[-1] * 1e3:9.3f} ms, speed-up {loop_times[-1] / vector_times[-1]:6.1f}x"
    print(line)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.loglog(loop_sizes, loop_times, "o-", label="Python loops")
ax1.loglog(sizes, vector_times, "s-", label="broadcasting")
guide = loop_times[-1] * (np.array(sizes) / loop_sizes[-1]) ** 2
ax1.loglog(sizes, guide, ":", color="gray", label="slope 2 (time ∝ n²)")
ax1.set_xlabel("n (points in x and in y)")
ax1.set_ylabel("seconds (fastest of several runs)")
ax1.set_title("Pairwise distances, d = 16")
ax1.legend()
ax2.semilogx(loop_sizes, np.array(loop_times) / np.array(vector_times[:len(loop_sizes)]), "o-", color="tab:green")
ax2.set_xlabel("n")
ax2.set_ylabel("speed-up (loop time / vectorised time)")
ax2.set_ylim(bottom=0)
ax2.set_title("How many times faster")
plt.tight_layout()
plt.show()

# %% [markdown]
# **What just happened.** On a log-log plot a cost that grows like $n^2$ is a straight
# line of slope 2, and beyond the smallest sizes the loop follows the dotted line: each of
# its $n^2$ pairs pays the same interpreter overhead, microseconds that dwarf the 16
# subtractions it actually needs. The vectorised version pays Python's overhead a handful of times per
# *call* rather than per pair, so at small `n` its time barely changes (it is nearly all
# fixed cost), and the speed-up grows with `n`. At larger `n` its curve bends up towards
# slope 2 as well, and often a little above: the `(n, n, d)` intermediate outgrows the
# processor's caches, and moving memory, not arithmetic, sets the pace. That is the memory
# cost from Exercise 5 showing up as time. Your numbers depend on your machine and on what
# else it is doing; the shape of the curves does not.

# %% [markdown]
# ## Summary
#
# - Broadcasting aligns shapes from the right; size-1 axes stretch, at no memory cost.
#   Insert axes with `None` to make an operation happen "for every pair".
# - Reduce with `keepdims=True` whenever the result is combined with the input again.
# - Turn each loop index into an axis, compute on the whole block, then reduce the axes you
#   summed over. Watch the memory of the intermediate.
# - Broadcasting can hide a shape bug (a size 1 where you expected `k`, a square matrix):
#   check the shapes you rely on, and raise a clear error.
# - Keep dtypes, do not write into your inputs, and test the empty, size-1 and
#   non-contiguous cases.
# - Time with a warm-up, several repeats and the minimum, and plot the result.
#
# **Next:** lesson 0.2 replaces most of the index bookkeeping of this lesson with
# `einops` and `einsum`, where the axes have names.

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 0.1`), else from `bootcamp check 0.1` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("0.1")
