# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "0.3"
#     title: PyTorch fundamentals
#     minutes: 210
#     prerequisites: ["0.1", "0.2"]
# ---

# %% [markdown]
# # 0.3 PyTorch fundamentals
#
# PyTorch is NumPy with three additions: tensors that can live on a GPU, **autograd**
# (every operation can record itself so that `loss.backward()` computes gradients), and a
# small framework for models (`nn.Module`) and data (`Dataset`, `DataLoader`). Every
# lesson after this one is written in it. Here you learn each piece by building it, check
# it against PyTorch's own, and then put them together into a training loop that
# classifies handwritten digits. You finish by debugging a training loop that looks right
# and does not learn.
#
# **After this lesson you can**
# - create tensors of the dtype and on the device you mean, predict the dtype of mixed
#   arithmetic, and move data between NumPy, the CPU and a GPU;
# - derive a gradient by hand, check it against autograd, and explain what `backward()`
#   does to `.grad` when you call it twice, and what `torch.no_grad()` is for;
# - write an `nn.Module` whose parameters are registered, initialised like torch's and
#   interchangeable with `nn.Linear`;
# - wrap data in a `Dataset`, batch and shuffle it reproducibly with a `DataLoader`;
# - write a training loop and an evaluation function, and train an MLP to over 95% test
#   accuracy in a few seconds on a CPU;
# - debug a training loop by overfitting one batch.
#
# **Prerequisites.** 0.1 (NumPy: shapes, broadcasting, axes) and 0.2 (einops, einsum and
# tensor puzzles: you can already write tensor code). The calculus you need is the chain
# rule; the softmax and cross-entropy are recalled where they are used.
#
# **Time.** About 3½ hours: twelve graded exercises (27 points) and a few pictures.
#
# **How the exercises work.** Each exercise explains an idea, then gives you a function or
# a class in which `raise NotImplementedError` marks the code to write. Replace it and run
# the test cell below. A passing cell prints a line saying so; a failing one says what is
# wrong (the shape, the dtype, the first differing element and by how much) and a likely
# cause. The tests you see compare with PyTorch's built-ins or small worked examples. When
# your notebook is graded, hidden tests probe the cases the docstring promises: empty and
# size-1 batches, float64, transposed (non-contiguous) inputs, very large values, extra
# batch dimensions, the `meta` device. If your code does what its docstring says, it
# passes them. Everything runs on a CPU; a GPU is used only where the text says so.
#
# From a terminal, `bootcamp check 0.3` runs the whole notebook and prints a table of every
# exercise. Each exercise says how hard it is (🔴, 1–5), how much it matters for the rest of
# the course (🔵, 1–5) and how long to try before opening the hint.

# %%
import copy
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from tqdm.auto import tqdm

from course import checks, data

# The models in this lesson are tiny: a second CPU thread only adds overhead, and one
# thread also makes every training run below repeat to the last bit.
torch.set_num_threads(1)
torch.set_printoptions(precision=4, sci_mode=False)
_ = torch.manual_seed(0)

# %% [markdown]
# ## Tensors in five minutes
#
# A `torch.Tensor` is a NumPy array with a **device**. Like an array it has a `shape`, a
# `dtype` and `strides` (how many *elements* to step along each axis), and slicing or
# transposing returns a *view* of the same memory. Three differences from NumPy matter
# from the first line you write:
#
# - **The default float is `float32`**, not `float64`: `torch.tensor([1.0])` is float32,
#   and so are the weights of every layer. A NumPy array keeps its dtype when converted:
#   `torch.from_numpy(np.zeros(3))` is float64, and a float64 batch fed to a float32 model
#   raises `mat1 and mat2 must have the same dtype`.
# - **Class labels are `int64`** (`torch.long`): `F.cross_entropy(logits, y)` wants `y` as
#   int64 class indices.
# - **A tensor lives on a device**: `cpu`, `cuda` (an NVIDIA GPU), `mps` (Apple), or
#   `meta` (a tensor with a shape and a dtype but no data, handy to check shapes without
#   allocating anything). An operation needs all its tensors on one device, or it raises
#   `Expected all tensors to be on the same device`. `t.to(device)` returns a copy on that
#   device (or `t` itself if it is already there); `t.to(torch.float32)` converts the dtype,
#   and `t.to(device, dtype)` does both at once. The idiom that runs everywhere is
#   `device = "cuda" if torch.cuda.is_available() else "cpu"`.
#
# `torch.from_numpy(a)` and `torch.as_tensor(a)` share memory with the NumPy array where
# they can (writing into one changes the other); `torch.tensor(a)` always copies. Torch
# has no negative strides, so a reversed view such as `a[::-1]` cannot be shared: it must be
# copied first (`a.copy()` or `np.ascontiguousarray(a)`).

# %%
a = np.arange(6, dtype=np.float64).reshape(2, 3)
t = torch.from_numpy(a)  # shares memory with a
print("from_numpy:", t.dtype, t.device, "shape", tuple(t.shape), "strides", t.stride())
a[0, 0] = 100.0
print("after writing into the numpy array, t[0, 0] =", t[0, 0].item())
print("t.T is a view: strides", t.T.stride(), "contiguous?", t.T.is_contiguous())
print("torch.tensor([1.0]) is", torch.tensor([1.0]).dtype, "; torch.tensor([1]) is", torch.tensor([1]).dtype)
print("t.to(torch.float32):", t.to(torch.float32).dtype, "| t.float() is the same:", t.float().dtype)
print("on the meta device:", torch.zeros(2, 3).to("meta"))
try:
    torch.from_numpy(a[::-1])
except ValueError as err:
    print("from_numpy(a[::-1]) fails:", str(err).split(".")[0])
device = "cuda" if torch.cuda.is_available() else "cpu"
print("this machine's device:", device)

# %% [markdown]
# ## Exercise 1: a batch of the right dtype on the right device
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Data arrives as NumPy arrays (often float64 features and int32 or int64 labels), as
# Python lists, or as tensors on some device. A model wants float32 features and int64
# labels, both on the model's device. Write `to_batch(x, y, device)` that does this
# conversion once, correctly, whatever it is given.
#
# - `device=None` means "the best one here": `"cuda"` if `torch.cuda.is_available()`,
#   else `"cpu"`. Otherwise `device` is a string (`"cpu"`, `"meta"`, ...) or a
#   `torch.device`.
# - Inputs may be NumPy arrays of any numeric dtype (including views with negative strides
#   such as `x[::-1]`), nested lists, or tensors of any dtype on any device.
# - Do not modify the inputs.
#
# Worked example: `to_batch(np.zeros((2, 3)), np.array([1, 0], dtype=np.int32), "cpu")`
# returns a float32 tensor of zeros of shape `(2, 3)` and `tensor([1, 0])` (int64), both on
# the CPU.
#
# <details><summary>Hint</summary>
#
# Turn anything that is not a tensor into one first; `torch.as_tensor(np.array(a))`
# works for lists and for every NumPy array (`np.array` copies, which removes negative
# strides). Then one call, `t.to(device=device, dtype=dtype)`, converts and moves.
# </details>

# %% nbgrader={"solution": true, "grade_id": "to_batch"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def to_batch(x, y, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and labels as a training batch on `device`.

    x: array-like of shape (n, ...): a NumPy array (any numeric dtype, possibly a view with
       negative strides), a nested list, or a tensor (any dtype, any device).
    y: array-like of shape (n,) holding whole-number class labels.
    device: None ("cuda" if available, else "cpu"), a string or a torch.device.
    Returns (xb, yb): xb float32 of x's shape, yb int64 of shape (n,), both on `device`,
    with the same values as x and y. The inputs are not modified.
    """
    ### BEGIN SOLUTION
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)

    def convert(a, dtype):
        if not isinstance(a, torch.Tensor):
            a = torch.as_tensor(np.array(a))  # np.array copies: no negative strides left
        return a.to(device=device, dtype=dtype)

    return convert(x, torch.float32), convert(y, torch.int64)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "to_batch_test", "points": 2}
def _pair(out, what="to_batch(...)"):
    """Check that `out` is a pair of tensors and return it."""
    checks.assert_true("to_batch", isinstance(out, tuple) and len(out) == 2,
                       f"{what} should return a pair (xb, yb); got {type(out).__name__}",
                       hint="return xb, yb")
    checks.assert_true("to_batch", all(isinstance(t, torch.Tensor) for t in out),
                       f"{what} should return two torch tensors; got {[type(t).__name__ for t in out]}",
                       hint="torch.as_tensor(np.array(a)) turns a list or an array into a tensor")
    return out


expected_device = "cuda" if torch.cuda.is_available() else "cpu"
x_np = np.linspace(0.0, 1.0, 12).reshape(4, 3)  # float64
y_np = np.array([3, 0, 9, 1], dtype=np.int32)
xb, yb = _pair(checks.call("to_batch", to_batch, x_np, y_np, case="float64 features and int32 labels"))
checks.assert_dtype("to_batch", xb, torch.float32, name="xb",
                    hint="features must be float32, the dtype of a model's weights: .to(torch.float32) or .float()")
checks.assert_dtype("to_batch", yb, torch.int64, name="yb",
                    hint="F.cross_entropy wants class labels as int64 (torch.long): .to(torch.int64) or .long()")
checks.assert_true("to_batch", xb.device.type == expected_device and yb.device.type == expected_device,
                   f"with device=None the batch belongs on {expected_device!r}; got xb on {xb.device}, yb on {yb.device}",
                   hint='device=None means "cuda" if torch.cuda.is_available() else "cpu"')
checks.assert_close("to_batch", xb, torch.from_numpy(x_np).float(), name="xb")
checks.assert_equal("to_batch", yb, torch.from_numpy(y_np).long(), name="yb")
xb, yb = _pair(checks.call("to_batch", to_batch, [[1, 2], [3, 4]], [1.0, 0.0], "cpu", case="nested lists"))
checks.assert_close("to_batch", xb, torch.tensor([[1.0, 2.0], [3.0, 4.0]]), name="xb from a list of ints")
checks.assert_equal("to_batch", yb, torch.tensor([1, 0]), name="yb from a list of floats")
checks.assert_true("to_batch", xb.device.type == "cpu", f'device="cpu" should put xb on the CPU, not {xb.device}')
print("to_batch: visible tests pass")
### BEGIN HIDDEN TESTS
_x = np.linspace(-2.0, 2.0, 15).reshape(5, 3)
_y = np.array([0, 1, 2, 3, 4], dtype=np.int64)
_xb, _yb = _pair(checks.call("to_batch", to_batch, _x, _y, "meta", case='device="meta"'))
checks.assert_true("to_batch", _xb.device.type == "meta" and _yb.device.type == "meta",
                   f'device="meta" should put both tensors on the meta device; got {_xb.device} and {_yb.device}',
                   hint="move the tensors with .to(device)")
checks.assert_dtype("to_batch", _xb, torch.float32, name="xb on meta")
checks.assert_dtype("to_batch", _yb, torch.int64, name="yb on meta")
checks.assert_shape("to_batch", _xb, (5, 3), name="xb on meta")
_xb, _yb = _pair(checks.call("to_batch", to_batch, _x, _y, torch.device("cpu"), case="a torch.device"))
checks.assert_true("to_batch", _xb.device.type == "cpu", f"device=torch.device('cpu') should give CPU tensors, not {_xb.device}")
_xb, _yb = _pair(checks.call("to_batch", to_batch, _x[::-1], _y[::-1], "cpu", case="NumPy views with negative strides (x[::-1])",
                             hint="torch has no negative strides: copy the array first (np.array(a) or a.copy())"))
checks.assert_close("to_batch", _xb, torch.from_numpy(_x[::-1].copy()).float(), name="xb from x[::-1]")
checks.assert_equal("to_batch", _yb, torch.from_numpy(_y[::-1].copy()), name="yb from y[::-1]")
_xt = torch.arange(12, dtype=torch.float64).reshape(3, 4).T  # non-contiguous float64 tensor
_yt = torch.tensor([2.0, 1.0, 0.0, 1.0], dtype=torch.float64)
_xb, _yb = _pair(checks.call("to_batch", to_batch, _xt, _yt, "cpu", case="a transposed float64 tensor and float labels"))
checks.assert_close("to_batch", _xb, _xt.float(), name="xb from a transposed tensor")
checks.assert_equal("to_batch", _yb, torch.tensor([2, 1, 0, 1]), name="yb from float labels")
checks.assert_dtype("to_batch", _xt, torch.float64, name="the input tensor after the call",
                    hint="do not modify the input: .to() returns a new tensor")
_xb, _yb = _pair(checks.call("to_batch", to_batch, np.zeros((0, 64)), np.zeros(0, dtype=np.int32), "cpu",
                             case="an empty batch"))
checks.assert_shape("to_batch", _xb, (0, 64), name="xb of an empty batch")
checks.assert_dtype("to_batch", _yb, torch.int64, name="yb of an empty batch")
_xb, _yb = _pair(checks.call("to_batch", to_batch, np.ones((2, 1, 8, 8), dtype=np.uint8), np.array([7, 7]), "cpu",
                             case="uint8 images of shape (2, 1, 8, 8)"))
checks.assert_close("to_batch", _xb, torch.ones(2, 1, 8, 8), name="xb from uint8 images")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: predict the dtype
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 10 minutes, then look at the hint.
#
# When an operation mixes dtypes, PyTorch **promotes** to a common one. The rules (the
# [type promotion](https://pytorch.org/docs/stable/tensor_attributes.html#type-promotion-doc)
# section of the docs) fit in four lines:
#
# 1. Categories are ordered: bool < integer < floating point < complex.
# 2. Tensors with at least one dimension decide first: the result is the smallest dtype
#    that holds all of theirs (`float16` with `float32` gives `float32`; `uint8` with
#    `int8` needs `int16`, because neither holds the other's range).
# 3. Zero-dimensional tensors (`torch.tensor(1.0)`) and Python numbers count only if they
#    are of a *higher category* than the dimensioned tensors. Then a zero-dim tensor brings
#    its own dtype, and a Python number the default dtype of its category (`int64` for an
#    `int`, `float32` for a `float`). So `float16 + 2.0` stays `float16`, `int32 + 1.5`
#    becomes `float32`, and `int32 + torch.tensor(1.0, dtype=torch.float64)` is `float64`.
# 4. Some operations fix their result's dtype: `/` always gives a float (true division),
#    comparisons give `bool`, and `sum` of a bool or integer tensor gives `int64` (no
#    overflow).
#
# Why care? A float64 constant turns a float32 model's activations into float64 (twice the
# memory, and an error at the next layer); `mask.mean()` on a bool tensor raises; an
# integer division where you meant a float one silently floors.
#
# Predict the dtype of each expression in `QUIZ` below, *then* write your predictions into
# `dtype_quiz`. The test tells you which ones you got wrong and the rule that decides them.
# (You could just evaluate the expressions. Then you have learnt nothing.)
#
# <details><summary>Hint</summary>
#
# Go through the four rules in order. For the last two: a comparison gives a bool tensor,
# and `sum` of bools counts them as `int64`.
# </details>

# %%
QUIZ = [
    "torch.tensor([1, 2])",
    "torch.tensor([1.0, 2.0])",
    "torch.from_numpy(np.zeros(3))",
    "torch.tensor([1, 2]) / 2",
    "torch.tensor([1, 2]) // 2",
    "torch.tensor([1, 2], dtype=torch.int32) + 1",
    "torch.tensor([1, 2], dtype=torch.int32) + 1.5",
    "torch.ones(2, dtype=torch.float16) + torch.ones(2)",
    "torch.ones(2, dtype=torch.float16) + torch.tensor(1.0)",
    "torch.ones(2, dtype=torch.uint8) + torch.ones(2, dtype=torch.int8)",
    "(torch.arange(4) > 1).sum()",
    "(torch.arange(4) > 1).float().mean()",
]
for i, expr in enumerate(QUIZ):
    print(f"QUIZ[{i:2d}]  {expr}")


# %% nbgrader={"solution": true, "grade_id": "dtype_quiz"} exercise={"difficulty": 2, "importance": 3, "minutes": 10}
def dtype_quiz() -> list[torch.dtype]:
    """Your predicted dtype of each expression in QUIZ, in order.

    Returns a list of len(QUIZ) torch dtypes, e.g. [torch.int64, torch.float32, ...].
    """
    ### BEGIN SOLUTION
    return [
        torch.int64,  # Python ints
        torch.float32,  # Python floats: the default float dtype
        torch.float64,  # NumPy's default float, kept
        torch.float32,  # true division
        torch.int64,  # floor division stays integer
        torch.int32,  # a Python int does not widen an int32 tensor
        torch.float32,  # a Python float raises the category, with the default size
        torch.float32,  # two dimensioned tensors: the larger float
        torch.float16,  # a zero-dim tensor of the same category does not widen
        torch.int16,  # the smallest type holding both uint8 and int8
        torch.int64,  # sum of bools counts in int64
        torch.float32,  # mean of a float32 tensor
    ]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "dtype_quiz_test", "points": 1}
QUIZ_RULES = [
    "a tensor made from Python ints is int64",
    "a tensor made from Python floats gets the default float dtype, float32",
    "torch.from_numpy keeps NumPy's dtype, and NumPy's default float is float64",
    "`/` is true division: an integer tensor divided gives the default float dtype",
    "`//` is floor division: integers stay integers",
    "a Python int is of the same category as an int32 tensor, so it does not change its dtype",
    "a Python float is of a higher category: the result is a float of the default size, float32",
    "two tensors with dimensions: the result is the larger of their dtypes",
    "a zero-dim tensor of the same category (float) does not widen a dimensioned tensor",
    "neither uint8 nor int8 holds the other's range: the smallest that holds both is int16",
    "a comparison gives bool, and summing bools counts them in int64",
    "after .float() the tensor is float32, and mean keeps it",
]


def _check_quiz(answers):
    checks.assert_true("dtype_quiz", isinstance(answers, (list, tuple)) and len(answers) == len(QUIZ),
                       f"dtype_quiz() should return a list of {len(QUIZ)} dtypes, one per QUIZ entry; got "
                       f"{type(answers).__name__}" + (f" of length {len(answers)}" if isinstance(answers, (list, tuple)) else ""))
    not_dtypes = [i for i, a in enumerate(answers) if not isinstance(a, torch.dtype)]
    checks.assert_true("dtype_quiz", not not_dtypes,
                       f"answer {not_dtypes[0] if not_dtypes else ''} is {answers[not_dtypes[0]] if not_dtypes else ''!r}, "
                       "not a torch dtype", hint="write torch.float32, not 'float32' or np.float32")
    wrong = []
    for i, (expr, answer) in enumerate(zip(QUIZ, answers)):
        actual = eval(expr).dtype
        if answer != actual:
            wrong.append((i, expr, answer, actual))
    if wrong:
        i, expr, answer, actual = wrong[0]
        checks.assert_true("dtype_quiz", False,
                           f"{len(wrong)} of {len(QUIZ)} predictions are wrong; the first is QUIZ[{i}]: "
                           f"{expr} is {actual}, not {answer}",
                           details=[f"the rule: {QUIZ_RULES[i]}",
                                    "wrong: " + ", ".join(f"QUIZ[{w[0]}]" for w in wrong)])


_check_quiz(dtype_quiz())
print("dtype_quiz: all predictions right")
### BEGIN HIDDEN TESTS
_answers = dtype_quiz()
_check_quiz(_answers)
checks.assert_true("dtype_quiz", all(a.is_floating_point == eval(e).dtype.is_floating_point for a, e in zip(_answers, QUIZ)),
                   "a prediction has the wrong category (integer vs float)")
### END HIDDEN TESTS

# %% [markdown]
# ## Autograd
#
# Set `requires_grad=True` on a tensor and every operation on it is recorded: the result
# carries a `grad_fn`, a node of a graph that knows how to send gradients back to its
# inputs. `loss.backward()` walks that graph from `loss` (a scalar) back to the **leaves**
# (tensors you created with `requires_grad=True`, such as a model's parameters) and
# stores $\partial\,\mathrm{loss} / \partial\,\mathrm{leaf}$ in each leaf's `.grad`.
# Intermediate tensors get no `.grad` (unless you ask with `.retain_grad()`).
#
# A worked example: $f(a, b) = (a b + b)^2$ at $a = 2, b = 3$. With $u = ab + b = 9$,
# the chain rule gives $\partial f/\partial a = 2u \cdot b = 54$ and
# $\partial f/\partial b = 2u\,(a + 1) = 54$.

# %%
a = torch.tensor(2.0, requires_grad=True)
b = torch.tensor(3.0, requires_grad=True)
u = a * b + b
f = u**2
print("f =", f.item(), "| f.grad_fn =", f.grad_fn, "| u.grad_fn =", u.grad_fn)
print("leaves:", a.is_leaf, b.is_leaf, "| u is a leaf?", u.is_leaf)
f.backward()
print("autograd: df/da =", a.grad.item(), " df/db =", b.grad.item(), " (by hand: 54 and 54)")
print("u is not a leaf, so backward() keeps no u.grad (u.retains_grad =", u.retains_grad, ")")

# %% [markdown]
# ## Exercise 3: the gradient of softmax regression, by hand
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 25 minutes, then look at the hint.
#
# Softmax regression (multinomial logistic regression) is the one-layer classifier: for
# inputs $x \in \mathbb{R}^{n \times d}$, weights $W \in \mathbb{R}^{d \times k}$ and bias
# $b \in \mathbb{R}^k$ the **logits** are $z = xW + b$ (shape $n \times k$, one score per
# class), the probabilities are $p_i = \mathrm{softmax}(z_i)$ and the loss is the mean
# cross-entropy, `F.cross_entropy(z, y)`:
#
# $$L = -\frac1n \sum_{i=1}^n \log p_{i, y_i}, \qquad p_{ic} = \frac{e^{z_{ic}}}{\sum_{c'} e^{z_{ic'}}}.$$
#
# The gradient with respect to the logits is the one formula of deep learning worth knowing
# by heart. Write $\log p_{i,y_i} = z_{i,y_i} - \log \sum_{c'} e^{z_{ic'}}$ and differentiate:
#
# $$\frac{\partial L}{\partial z_{ic}} = \frac1n\left(p_{ic} - [c = y_i]\right),
# \qquad\text{or, for the whole batch,}\qquad \frac{\partial L}{\partial z} = \frac1n\,(p - Y),$$
#
# where $Y$ is the one-hot matrix of the labels: the predicted probabilities minus the
# truth. The rest is the chain rule through $z = xW + b$. Each $W_{jc}$ touches every
# example's logit $z_{ic}$ through $x_{ij}$, and each $b_c$ touches every $z_{ic}$ with
# weight 1:
#
# $$\frac{\partial L}{\partial W} = x^\top \frac{\partial L}{\partial z} \quad (d \times k),
# \qquad \frac{\partial L}{\partial b} = \sum_{i} \frac{\partial L}{\partial z_{i}} \quad (k).$$
#
# (Check the shapes: $x^\top$ is $d \times n$, $\partial L/\partial z$ is $n \times k$.)
# Worked example with $n = 1$, $k = 2$: $z = [0, 0]$, $y = 0$ gives $p = [0.5, 0.5]$ and
# $\partial L/\partial z = [-0.5, 0.5]$: push the true class up, the other down.
#
# Write `softmax_regression_grads` without autograd; the test calls it under
# `torch.no_grad()` and compares with what `backward()` computes. Large logits must not
# overflow: use `torch.softmax` (or subtract the row maximum, as in lesson 0.1).
#
# <details><summary>Hint</summary>
#
# **The idea.** For softmax with cross-entropy, the gradient with respect to the logits is
# "probabilities minus the one-hot labels", divided by `n` for a mean loss. The chain rule through
# `x @ W + b` does the rest.
#
# **A pointer.** `F.one_hot` makes the labels' matrix (match the dtype of the probabilities). The
# weight gradient is a product of `x` (transposed) with the logits' gradient; the bias gradient
# sums that gradient over the batch.
# </details>

# %% nbgrader={"solution": true, "grade_id": "softmax_regression_grads"} exercise={"difficulty": 3, "importance": 5, "minutes": 25}
def softmax_regression_grads(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor,
                             y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of L = F.cross_entropy(x @ W + b, y) (the mean over examples), by hand.

    W: (d, k) float32 or float64; b: (k,); x: (n, d), n >= 1, same dtype (possibly a
    non-contiguous view); y: (n,) int64 class labels in [0, k).
    Returns (dL/dW of shape (d, k), dL/db of shape (k,)), in W's dtype.
    Uses no autograd (no .backward(), no torch.autograd); safe for very large logits.
    """
    ### BEGIN SOLUTION
    n, k = x.shape[0], W.shape[1]
    p = torch.softmax(x @ W + b, dim=-1)
    dz = (p - F.one_hot(y, k).to(p.dtype)) / n
    return x.T @ dz, dz.sum(dim=0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "softmax_regression_grads_test", "points": 3}
def autograd_grads(W, b, x, y):
    """What backward() says: the reference the by-hand gradient must equal."""
    W, b = W.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    F.cross_entropy(x @ W + b, y).backward()
    return W.grad, b.grad


def hand_grads(*args, case):
    """Call the exercise under no_grad and check that it returns a pair of tensors."""
    with torch.no_grad():
        out = checks.call("softmax_regression_grads", softmax_regression_grads, *args, case=case,
                          hint="compute the gradient with tensor operations, not autograd: "
                               "the test calls your function under torch.no_grad()")
    checks.assert_true("softmax_regression_grads", isinstance(out, tuple) and len(out) == 2,
                       f"return a pair (dW, db); got {type(out).__name__}")
    return out


g = torch.Generator().manual_seed(0)
W_sr, b_sr = torch.randn(5, 3, generator=g), torch.randn(3, generator=g)
x_sr, y_sr = torch.randn(8, 5, generator=g), torch.randint(0, 3, (8,), generator=g)
dW, db = hand_grads(W_sr, b_sr, x_sr, y_sr, case="d=5, k=3, n=8")
dW_ref, db_ref = autograd_grads(W_sr, b_sr, x_sr, y_sr)
checks.assert_shape("softmax_regression_grads", dW, (5, 3), name="dW",
                    hint="dL/dW has W's shape (d, k): x.T @ dz")
checks.assert_shape("softmax_regression_grads", db, (3,), name="db",
                    hint="dL/db has b's shape (k,): sum dz over the batch axis")
checks.assert_close("softmax_regression_grads", db, db_ref, name="db",
                    hint="dL/dz = (softmax(z) - one_hot(y)) / n, and db sums it over the batch")
checks.assert_close("softmax_regression_grads", dW, dW_ref, name="dW", hint="dL/dW = x.T @ dL/dz")
for name, mine, ref in (("dW", dW, dW_ref), ("db", db, db_ref)):
    print(f"{name}: exact {torch.equal(mine, ref)!s:5}  approximate {torch.allclose(mine, ref)!s:5}  "
          f"maxdiff {(mine - ref).abs().max().item():.2e}")
print("softmax_regression_grads: visible tests pass")
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(1)
# float64 stays float64
_W, _b = torch.randn(4, 6, generator=_g, dtype=torch.float64), torch.randn(6, generator=_g, dtype=torch.float64)
_x, _y = torch.randn(10, 4, generator=_g, dtype=torch.float64), torch.randint(0, 6, (10,), generator=_g)
_dW, _db = hand_grads(_W, _b, _x, _y, case="float64 inputs")
_rW, _rb = autograd_grads(_W, _b, _x, _y)
checks.assert_dtype("softmax_regression_grads", _dW, torch.float64, name="dW for float64 inputs",
                    hint="keep the input dtype: F.one_hot gives int64, convert it with .to(p.dtype)")
checks.assert_close("softmax_regression_grads", _dW, _rW, name="dW (float64)")
checks.assert_close("softmax_regression_grads", _db, _rb, name="db (float64)")
# a single example
_dW, _db = hand_grads(_W, _b, _x[:1], _y[:1], case="a batch of one example")
_rW, _rb = autograd_grads(_W, _b, _x[:1], _y[:1])
checks.assert_close("softmax_regression_grads", _dW, _rW, name="dW for n=1")
checks.assert_close("softmax_regression_grads", _db, _rb, name="db for n=1")
# non-contiguous views
_xbig = torch.randn(7, 12, generator=_g)
_Wt = torch.randn(3, 6, generator=_g).T  # (6, 3), a transposed view
_bv = torch.randn(6, generator=_g)[::2]
_yv = torch.randint(0, 3, (7,), generator=_g)
_dW, _db = hand_grads(_Wt, _bv, _xbig[:, ::2], _yv, case="non-contiguous views (x[:, ::2], W.T)")
_rW, _rb = autograd_grads(_Wt, _bv, _xbig[:, ::2], _yv)
checks.assert_close("softmax_regression_grads", _dW, _rW, name="dW for non-contiguous inputs")
checks.assert_close("softmax_regression_grads", _db, _rb, name="db for non-contiguous inputs")
# very large logits (float32 exp overflows above ~88)
_Wl, _bl = torch.randn(5, 4, generator=_g) * 100, torch.zeros(4)
_xl, _yl = torch.randn(6, 5, generator=_g) * 10, torch.randint(0, 4, (6,), generator=_g)
_dW, _db = hand_grads(_Wl, _bl, _xl, _yl, case="logits in the thousands")
_rW, _rb = autograd_grads(_Wl, _bl, _xl, _yl)
with checks.tolerance(rtol=1e-4, atol=1e-4):
    checks.assert_close("softmax_regression_grads", _dW, _rW, name="dW for huge logits",
                        hint="exp of a logit above ~88 overflows in float32: torch.softmax, or subtract the row max")
    checks.assert_close("softmax_regression_grads", _db, _rb, name="db for huge logits")
# one class: the loss is 0 whatever the weights
_dW, _db = hand_grads(torch.randn(3, 1, generator=_g), torch.randn(1, generator=_g), torch.randn(4, 3, generator=_g),
                      torch.zeros(4, dtype=torch.int64), case="k=1 (a single class)")
checks.assert_close("softmax_regression_grads", _dW, torch.zeros(3, 1), name="dW for k=1")
checks.assert_close("softmax_regression_grads", _db, torch.zeros(1), name="db for k=1")
### END HIDDEN TESTS

# %% [markdown]
# Each dot below is one entry of $\partial L/\partial W$ on a random problem, by hand
# (horizontal) against autograd (vertical). They sit on the diagonal.

# %%
g = torch.Generator().manual_seed(3)
W_demo, b_demo = torch.randn(20, 10, generator=g), torch.randn(10, generator=g)
x_demo, y_demo = torch.randn(64, 20, generator=g), torch.randint(0, 10, (64,), generator=g)
with torch.no_grad():
    dW_hand, _ = softmax_regression_grads(W_demo, b_demo, x_demo, y_demo)
dW_auto, _ = autograd_grads(W_demo, b_demo, x_demo, y_demo)
plt.figure(figsize=(4, 4))
plt.scatter(dW_hand.flatten(), dW_auto.flatten(), s=6)
lim = dW_auto.abs().max().item() * 1.1
plt.plot([-lim, lim], [-lim, lim], ":", color="gray")
plt.xlabel("by hand")
plt.ylabel("autograd")
plt.title(f"dL/dW, 200 entries; max |diff| = {(dW_hand - dW_auto).abs().max():.1e}")
plt.show()

# %% [markdown]
# **What just happened.** Autograd applies exactly the chain rule you applied, one
# operation at a time: `F.cross_entropy` sends back $(p - Y)/n$, the `+ b` node sums it over
# the batch for `b`, and the matmul node multiplies by $x^\top$ for `W`. Your version did
# the same products in one go, so the two agree to float rounding (around $10^{-8}$).
# Comparing with autograd, or with finite differences, is how you check any gradient you
# derive; lesson 1.1 builds the whole engine.
#
# ## `backward()` accumulates
#
# `backward()` does not overwrite `.grad`: it **adds** to it. And by default it frees the
# graph's saved tensors as it goes, so calling it twice on the same graph raises an error
# unless the first call passed `retain_graph=True`.

# %%
w = torch.tensor([1.0, -2.0], requires_grad=True)
loss = (w**2).sum()  # d loss / dw = 2w = [2, -4]
loss.backward(retain_graph=True)
print("after one backward:   w.grad =", w.grad)
loss.backward()
print("after a second one:   w.grad =", w.grad, "(added, not replaced)")
try:
    loss.backward()
except RuntimeError as err:
    print("a third one fails:    ", str(err).split(".")[0])
w.grad = None  # what optimizer.zero_grad() does to every parameter
((w**2).sum()).backward()
print("after zeroing:        w.grad =", w.grad)

# %% [markdown]
# That is why every training loop calls `optimizer.zero_grad()` each step. It is also a
# feature: to train with a batch too large for memory, split it into **micro-batches** and
# call `backward()` on each; the gradients add up. To get the gradient of the *mean* loss
# over the full batch of $n$ examples, weight each micro-batch's mean loss by its share:
#
# $$L = \frac1n \sum_{i=1}^n \ell_i = \sum_{\text{micro-batches } m} \frac{n_m}{n}
# \underbrace{\frac{1}{n_m}\sum_{i \in m} \ell_i}_{\text{mean loss of } m}.$$
#
# ## Exercise 4: gradient accumulation
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 15 minutes, then look at the hint.
#
# Write `accumulate_grad(model, x, y, micro_batch_size)`: afterwards every parameter's
# `.grad` holds the gradient of `F.cross_entropy(model(x), y)` over the whole batch, but
# the model never sees more than `micro_batch_size` examples at a time. Gradients left
# over from before the call must not count. Return the full-batch mean loss as a Python
# float.
#
# Worked example: `n = 10`, `micro_batch_size = 4` gives micro-batches of 4, 4 and 2
# examples, weighted 0.4, 0.4 and 0.2.
#
# <details><summary>Hint</summary>
#
# `model.zero_grad()` first. Then `for start in range(0, n, micro_batch_size)`: slice
# `x[start:start + micro_batch_size]`, compute the micro-batch's mean loss, multiply it by
# `len(chunk) / n`, call `backward()` on that, and add its `.item()` to a running total.
# </details>

# %% nbgrader={"solution": true, "grade_id": "accumulate_grad"} exercise={"difficulty": 3, "importance": 4, "minutes": 15}
def accumulate_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor, micro_batch_size: int) -> float:
    """Set each parameter's .grad to d F.cross_entropy(model(x), y) / d parameter.

    model: maps (m, ...) inputs to (m, k) logits; x: (n, ...) float; y: (n,) int64, n >= 1.
    micro_batch_size: the most examples `model` may be called on at once (>= 1).
    Gradients present before the call are discarded. Returns the full-batch mean loss as
    a Python float.
    """
    ### BEGIN SOLUTION
    model.zero_grad()
    n = x.shape[0]
    total = 0.0
    for start in range(0, n, micro_batch_size):
        xb, yb = x[start:start + micro_batch_size], y[start:start + micro_batch_size]
        loss = F.cross_entropy(model(xb), yb) * (xb.shape[0] / n)
        loss.backward()
        total += loss.item()
    return total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "accumulate_grad_test", "points": 2}
def accumulation_case(n, micro, seed, prefill=None):
    """Run accumulate_grad on a fresh MLP and compare with one full-batch backward()."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 6, generator=gen), torch.randint(0, 4, (n,), generator=gen)
    ref = copy.deepcopy(net)
    full = F.cross_entropy(ref(x), y)
    full.backward()
    if prefill is not None:
        for p in net.parameters():
            p.grad = torch.full_like(p, prefill)
    seen = []
    hook = net.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].shape[0]))
    case = f"n={n}, micro_batch_size={micro}" + (" with stale gradients" if prefill is not None else "")
    try:
        loss = checks.call("accumulate_grad", accumulate_grad, net, x, y, micro, case=case)
    finally:
        hook.remove()
    checks.assert_true("accumulate_grad", isinstance(loss, float),
                       f"accumulate_grad should return the loss as a Python float; got {type(loss).__name__} ({case})",
                       hint="loss.item() turns a one-element tensor into a float")
    checks.assert_close("accumulate_grad", loss, full.item(), name=f"the returned loss ({case})",
                        hint="add up each micro-batch's weighted mean loss: weight len(chunk) / n")
    checks.assert_true("accumulate_grad", seen and max(seen) <= micro,
                       f"the model was called on {max(seen) if seen else 0} examples at once; at most {micro} allowed ({case})",
                       hint="slice x into chunks of micro_batch_size and run the model on each")
    for (name, p), p_ref in zip(net.named_parameters(), ref.parameters()):
        checks.assert_true("accumulate_grad", p.grad is not None,
                           f"{name}.grad is None after accumulate_grad ({case})",
                           hint="call .backward() on each micro-batch's loss")
        checks.assert_close("accumulate_grad", p.grad, p_ref.grad, name=f"{name}.grad ({case})",
                            hint="zero the gradients first (model.zero_grad()), and scale each micro-batch's mean loss "
                                 "by len(chunk) / n before backward()")


accumulation_case(n=12, micro=4, seed=0)
accumulation_case(n=12, micro=12, seed=1)
accumulation_case(n=10, micro=4, seed=2)  # uneven: 4 + 4 + 2 (a mean of the three means is not the mean)
print("accumulate_grad: visible tests pass")
### BEGIN HIDDEN TESTS
accumulation_case(n=11, micro=3, seed=7)  # uneven: 3 + 3 + 3 + 2
accumulation_case(n=10, micro=4, seed=3, prefill=7.0)  # stale gradients must go
accumulation_case(n=5, micro=1, seed=4)
accumulation_case(n=3, micro=100, seed=5)
accumulation_case(n=1, micro=2, seed=6, prefill=-1.0)
### END HIDDEN TESTS

# %% [markdown]
# ## `torch.no_grad()`, and updating parameters
#
# Autograd records every operation on a tensor that requires grad. Two situations need it
# off:
#
# - **Evaluation.** Under `with torch.no_grad():` nothing is recorded: results have no
#   `grad_fn`, no intermediate activations are kept for a backward pass (less memory), and
#   it is faster. Use it whenever you only need numbers out of a model.
# - **Updating parameters.** The update $p \leftarrow p - \eta\, \nabla_p L$ must change the
#   parameter *in place*: the model and the optimiser hold references to that very tensor,
#   and `p = p - lr * p.grad` only rebinds your local name `p` to a new tensor (which is no
#   longer a leaf, and has a `grad_fn`). But autograd refuses an in-place change to a leaf
#   that requires grad, because it could not differentiate through it. Inside
#   `torch.no_grad()` the change is simply not recorded, and allowed.
#
# (`model.eval()` is something else: it switches layers such as dropout and batch norm to
# their evaluation behaviour and does not touch autograd. Evaluation usually wants both.)

# %%
p = torch.ones(3, requires_grad=True)
(p * 2).sum().backward()
try:
    p -= 0.1 * p.grad
except RuntimeError as err:
    print("in place, with autograd on:", str(err).split(".")[0])
q = p - 0.1 * p.grad
print("out of place: q is a new tensor; q.is_leaf =", q.is_leaf, "and p is unchanged:", p.detach())
with torch.no_grad():
    p -= 0.1 * p.grad
print("in place under no_grad: p =", p.detach(), "| still a leaf:", p.is_leaf, "| requires grad:", p.requires_grad)
with torch.no_grad():
    r = p * 2
print("computed under no_grad: r.requires_grad =", r.requires_grad, ", r.grad_fn =", r.grad_fn)

# %% [markdown]
# ## Exercise 5: one step of gradient descent
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Write `sgd_step(params, lr)`, the heart of `torch.optim.SGD.step()` plus `zero_grad()`:
# for every parameter that has a gradient, $p \leftarrow p - \eta\,p.\mathrm{grad}$ in place;
# then clear its gradient (set `p.grad = None`). A parameter whose `.grad` is `None` (it
# took no part in the loss) is left alone. `params` may be a generator such as
# `model.parameters()`, which can be iterated only once.
#
# <details><summary>Hint</summary>
#
# ```python
# with torch.no_grad():
#     for param in params:
#         ...  # skip it if param.grad is None; param -= lr * param.grad; param.grad = None
# ```
# </details>

# %% nbgrader={"solution": true, "grade_id": "sgd_step"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def sgd_step(params, lr: float) -> None:
    """Update every parameter in place, p <- p - lr * p.grad, then set p.grad = None.

    params: an iterable (a list, or a generator such as model.parameters()) of leaf
        tensors with requires_grad=True; those whose .grad is None are skipped.
    lr: the learning rate, a float >= 0.
    Returns None. The parameters stay the same tensor objects, leaves that require grad.
    """
    ### BEGIN SOLUTION
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            p -= lr * p.grad
            p.grad = None
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sgd_step_test", "points": 2}
def check_sgd(params, lr, case, pass_generator_of=None):
    """Run sgd_step on `params` (or on pass_generator_of.parameters()) and check the result."""
    before = [p.detach().clone() for p in params]
    grads = [None if p.grad is None else p.grad.clone() for p in params]
    arg = pass_generator_of.parameters() if pass_generator_of is not None else params
    checks.call("sgd_step", sgd_step, arg, lr, case=case,
                hint="update in place inside `with torch.no_grad():` (autograd forbids in-place changes to leaves)")
    for i, (p, old, grad) in enumerate(zip(params, before, grads)):
        want = old if grad is None else old - lr * grad
        checks.assert_close("sgd_step", p.detach(), want, name=f"parameter {i} after the step ({case})",
                            hint="`p = p - lr * p.grad` only rebinds the name p; change the tensor itself: "
                                 "`p -= lr * p.grad` under torch.no_grad()" if grad is not None else
                            "a parameter whose .grad is None must not change")
        checks.assert_true("sgd_step", p.is_leaf and p.requires_grad and p.grad_fn is None,
                           f"parameter {i} is no longer a leaf that requires grad ({case})",
                           hint="do the update under torch.no_grad(), in place")
        checks.assert_true("sgd_step", p.grad is None,
                           f"parameter {i}'s .grad should be None after the step ({case}); it still holds a gradient",
                           hint="set p.grad = None once p is updated, as optimizer.zero_grad() does "
                                "(params may be a generator: it can be iterated only once)")


torch.manual_seed(0)
lin = nn.Linear(3, 2)
F.cross_entropy(lin(torch.randn(4, 3)), torch.tensor([0, 1, 1, 0])).backward()
check_sgd(list(lin.parameters()), 0.1, case="nn.Linear(3, 2), lr=0.1")
print("sgd_step: visible tests pass")
### BEGIN HIDDEN TESTS
torch.manual_seed(1)
_net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
F.cross_entropy(_net(torch.randn(6, 4)), torch.tensor([0, 1, 2, 0, 1, 2])).backward()
check_sgd(list(_net.parameters()), 0.5, case="model.parameters(), a generator", pass_generator_of=_net)
_used = nn.Parameter(torch.tensor([1.0, 2.0]))
_unused = nn.Parameter(torch.tensor([3.0]))
(_used**2).sum().backward()
check_sgd([_unused, _used], 0.25, case="a parameter with no gradient")
_z = nn.Parameter(torch.randn(2, 3).T)  # a non-contiguous parameter
(_z * torch.arange(6.0).reshape(3, 2)).sum().backward()
check_sgd([_z], 0.0, case="lr=0 on a transposed parameter")
### END HIDDEN TESTS

# %% [markdown]
# Exercises 3 and 5 together are enough to train a classifier. Below, softmax regression
# on the digits (the data set of the rest of this lesson; more about it soon) runs 200
# steps of full-batch gradient descent with your gradient and your update. The problem is
# convex and the gradient exact, so a large learning rate is fine. It reaches about 95%
# test accuracy.

# %%
split = data.digits(torch=True)  # 1,438 training and 359 test images, 8 x 8 pixels flattened to 64
W_lr = torch.zeros(64, 10, requires_grad=True)
b_lr = torch.zeros(10, requires_grad=True)
for _ in range(200):
    with torch.no_grad():
        W_lr.grad, b_lr.grad = softmax_regression_grads(W_lr, b_lr, split.x_train, split.y_train)
    sgd_step([W_lr, b_lr], lr=4.0)
with torch.no_grad():
    test_acc = ((split.x_test @ W_lr + b_lr).argmax(dim=1) == split.y_test).float().mean().item()
    train_loss = F.cross_entropy(split.x_train @ W_lr + b_lr, split.y_train).item()
print(f"softmax regression after 200 steps: training loss {train_loss:.3f}, test accuracy {test_acc:.1%}")

# %% [markdown]
# ## Modules
#
# An `nn.Module` is a Python object that holds **parameters** and defines `forward`.
# What makes it more than a class is bookkeeping done by `nn.Module.__setattr__`: when you
# assign an `nn.Parameter` (a tensor wrapper with `requires_grad=True`) to an attribute,
# the module *registers* it under that name; a sub-module assigned as an attribute is
# registered too. From that registry come `model.parameters()` (what the optimiser
# updates), `model.named_parameters()`, `model.state_dict()` (what is saved and loaded),
# `model.to(device)` and `model.double()` (which convert every parameter), and
# `model.zero_grad()`. A plain tensor attribute is invisible to all of them: the optimiser
# never updates it and `.to("cuda")` leaves it behind. An optional parameter that is
# absent is registered as `None` with `self.register_parameter("bias", None)`. Calling
# `model(x)` runs `forward` (through hooks, which lesson 3.1 uses).
#
# `nn.Linear(in_features, out_features)` computes $y = x W^\top + b$ with `weight` of
# shape `(out_features, in_features)` and `bias` of shape `(out_features,)`. The matmul
# treats every leading dimension of `x` as a batch dimension: `(..., in)` in,
# `(..., out)` out.
#
# **Initialisation.** Torch draws both from the uniform distribution
# $U\!\left(-1/\sqrt{\text{in}},\ 1/\sqrt{\text{in}}\right)$. In its code this is
# `nn.init.kaiming_uniform_(weight, a=math.sqrt(5))`: Kaiming-uniform uses the bound
# $\text{gain}\cdot\sqrt{3/\text{fan\_in}}$ with gain $\sqrt{2/(1 + a^2)}$, and
# $a = \sqrt5$ gives gain $\sqrt{1/3}$, hence the bound $1/\sqrt{\text{fan\_in}}$. The
# point of the $1/\sqrt{\text{in}}$ is the scale: an output sums `in` products, so weights
# of standard deviation $\sigma$ give outputs of standard deviation about
# $\sigma\sqrt{\text{in}}$ times the input's, and $\sigma = 1/\sqrt{3\,\text{in}}$ keeps
# activations from growing layer after layer. The histogram is `nn.Linear(256, 128)`'s
# weight.

# %%
torch.manual_seed(0)
ref_layer = nn.Linear(256, 128)
print("registered parameters:", [(name, tuple(p.shape)) for name, p in ref_layer.named_parameters()])
bound = 1 / math.sqrt(256)
plt.figure(figsize=(6, 2.8))
plt.hist(ref_layer.weight.detach().flatten(), bins=60)
for edge in (-bound, bound):
    plt.axvline(edge, color="tab:red", linestyle=":")
plt.title(f"nn.Linear(256, 128).weight: uniform on ±1/√256 = ±{bound:.4f}")
plt.xlabel("weight value")
plt.show()
x_demo = torch.randn(1000, 256)
print(f"std of the inputs {x_demo.std():.3f}; of the outputs {ref_layer(x_demo).std():.3f} "
      f"(≈ √256 · {1 / math.sqrt(3 * 256):.4f} = {math.sqrt(256) / math.sqrt(3 * 256):.3f})")

# %% [markdown]
# ## Exercise 6: a linear layer as a module
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 4 points (two test cells) · about 25 minutes, then look at the hint.
#
# Write `Linear`, a drop-in replacement for `nn.Linear`:
#
# - `__init__(in_features, out_features, bias=True)` registers `weight`, shape
#   `(out_features, in_features)`, and `bias`, shape `(out_features,)`, as parameters.
#   With `bias=False` the module has no bias parameter and `self.bias` is `None`.
#   `super().__init__()` is already called for you: it sets up the registry.
# - `reset_parameters()` initialises them as torch does: the weight first, then the bias,
#   each drawn in place from $U(-1/\sqrt{\text{in}}, 1/\sqrt{\text{in}})$ with
#   `Tensor.uniform_` (or `nn.init.kaiming_uniform_(w, a=math.sqrt(5))` for the weight).
#   Drawn in that order, after the same `torch.manual_seed`, your layer holds exactly
#   `nn.Linear`'s numbers.
# - `forward(x)` maps `(..., in_features)` to `(..., out_features)`: $x W^\top + b$.
#
# Its `state_dict()` then has the keys `weight` and `bias`, so `nn.Linear`'s weights load
# into it and the outputs agree.
#
# <details><summary>Hint</summary>
#
# `self.weight = nn.Parameter(torch.empty(out_features, in_features))` registers without
# drawing random numbers (`torch.empty` does not touch the generator). The bias is
# either the same with shape `(out_features,)` or `self.register_parameter("bias", None)`;
# then call `self.reset_parameters()`. In `reset_parameters`, `torch.no_grad()` plus
# `self.weight.uniform_(-bound, bound)`. In `forward`, `x @ self.weight.T`, plus the bias
# if there is one.
# </details>

# %% nbgrader={"solution": true, "grade_id": "Linear"} exercise={"difficulty": 3, "importance": 5, "minutes": 25}
class Linear(nn.Module):
    """y = x @ weight.T + bias, like nn.Linear.

    weight: parameter (out_features, in_features); bias: parameter (out_features,) or None.
    Both initialised from U(-1/sqrt(in_features), 1/sqrt(in_features)), weight first.
    forward: x of shape (..., in_features), any float dtype matching the parameters ->
    (..., out_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        ### BEGIN SOLUTION
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        ### END SOLUTION

    def reset_parameters(self) -> None:
        ### BEGIN SOLUTION
        bound = 1 / math.sqrt(self.in_features)
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        out = x @ self.weight.T
        if self.bias is not None:
            out = out + self.bias
        return out
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "Linear_test", "points": 2}
def new_linear(*args, case, **kwargs):
    return checks.call("Linear", Linear, *args, case=case, **kwargs)


def check_registered(layer, in_f, out_f, has_bias, case):
    """The layer's parameters: names, shapes, and that they are nn.Parameters."""
    names = [name for name, _ in layer.named_parameters()]
    want = ["weight", "bias"] if has_bias else ["weight"]
    checks.assert_equal("Linear", sorted(names), sorted(want), name=f"the registered parameter names ({case})",
                        hint="assign nn.Parameter(...) to self.weight (and self.bias): a plain tensor attribute is not "
                             "registered; with bias=False, self.register_parameter('bias', None)")
    params = dict(layer.named_parameters())
    checks.assert_shape("Linear", params["weight"], (out_f, in_f), name=f"weight ({case})",
                        hint="torch stores the weight as (out_features, in_features)")
    if has_bias:
        checks.assert_shape("Linear", params["bias"], (out_f,), name=f"bias ({case})")
    else:
        checks.assert_true("Linear", getattr(layer, "bias", "missing") is None,
                           f"with bias=False, layer.bias should be None; got {getattr(layer, 'bias', 'no attribute')!r}",
                           hint="self.register_parameter('bias', None) makes self.bias None")


def check_forward(layer, x, case):
    out = checks.call("Linear", layer, x, case=case)
    checks.assert_close("Linear", out, F.linear(x, layer.weight, layer.bias), name=f"the output ({case})",
                        hint="y = x @ weight.T + bias; weight is (out, in)")


torch.manual_seed(0)
layer = new_linear(5, 3, case="Linear(5, 3)")
check_registered(layer, 5, 3, True, "Linear(5, 3)")
check_forward(layer, torch.randn(4, 5), "a (4, 5) batch")
check_forward(layer, torch.randn(2, 6, 5), "a (2, 6, 5) input: two batch dimensions")
layer_nb = new_linear(5, 3, bias=False, case="Linear(5, 3, bias=False)")
check_registered(layer_nb, 5, 3, False, "bias=False")
check_forward(layer_nb, torch.randn(4, 5), "bias=False")
layer(torch.randn(4, 5)).sum().backward()
checks.assert_true("Linear", layer.weight.grad is not None and layer.bias.grad is not None,
                   "after backward() the weight and the bias should have gradients",
                   hint="use the parameters themselves in forward (not .data or a detached copy)")
print("Linear: visible tests of registration and forward pass")
### BEGIN HIDDEN TESTS
torch.manual_seed(1)
_l = new_linear(1, 1, case="Linear(1, 1)")
check_registered(_l, 1, 1, True, "Linear(1, 1)")
check_forward(_l, torch.randn(7, 1), "in_features = out_features = 1")
_l = new_linear(4, 6, bias=False, case="Linear(4, 6, bias=False)")
check_forward(_l, torch.randn(2, 3, 5, 4), "bias=False with three batch dimensions")
check_forward(_l, torch.randn(4, 9).T, "a transposed (non-contiguous) input")
check_forward(_l, torch.randn(0, 4), "an empty batch")
_l = new_linear(4, 6, case="Linear(4, 6)").double()
checks.assert_dtype("Linear", _l.weight, torch.float64, name="weight after .double()",
                    hint="only registered parameters are converted by .double() / .to()")
check_forward(_l, torch.randn(3, 4, dtype=torch.float64), "float64, after .double()")
_l = new_linear(3, 2, case="Linear(3, 2)").to("meta")
checks.assert_true("Linear", _l.weight.device.type == "meta" and _l.bias.device.type == "meta",
                   "after .to('meta') both parameters should be on the meta device",
                   hint="register the parameters so that .to(device) moves them")
_out = checks.call("Linear", _l, torch.randn(5, 3, device="meta"), case="the meta device")
checks.assert_shape("Linear", _out, (5, 2), name="the output on the meta device")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "Linear_test_2", "points": 2}
def check_init(in_f, out_f, case):
    """Uniform on ±1/sqrt(in_f), for the weight and the bias."""
    torch.manual_seed(0)
    layer = new_linear(in_f, out_f, case=case)
    bound = 1 / math.sqrt(in_f)
    for name, p in (("weight", layer.weight), ("bias", layer.bias)):
        p = p.detach()
        checks.assert_true("Linear", p.abs().max() <= bound * (1 + 1e-6),
                           f"{name} ({case}) should lie within ±1/sqrt(in_features) = ±{bound:.4f}; "
                           f"its largest |value| is {p.abs().max():.4f}",
                           hint="draw from a uniform distribution (uniform_), which never exceeds its bound; torch's bound is "
                                "1/sqrt(in_features) (kaiming_uniform_ needs a=math.sqrt(5) for that)")
        if p.numel() >= 1000:
            checks.assert_close("Linear", p.std().item(), bound / math.sqrt(3), rtol=0.05,
                                name=f"the standard deviation of {name} ({case})",
                                hint="a uniform on ±B has standard deviation B/sqrt(3): draw with uniform_, not randn")
            checks.assert_true("Linear", p.min() < -0.95 * bound and p.max() > 0.95 * bound,
                               f"{name} ({case}) should fill the whole range ±{bound:.4f}; it spans "
                               f"[{p.min():.4f}, {p.max():.4f}]", hint="uniform_(-bound, bound)")


check_init(256, 128, "Linear(256, 128)")
check_init(8, 2000, "Linear(8, 2000)")
for in_f, out_f in ((7, 4), (64, 10)):
    torch.manual_seed(123)
    mine = new_linear(in_f, out_f, case=f"Linear({in_f}, {out_f})")
    torch.manual_seed(123)
    ref = nn.Linear(in_f, out_f)
    checks.assert_close("Linear", mine.weight, ref.weight, name=f"weight after torch.manual_seed(123), Linear({in_f}, {out_f})",
                        hint="draw in place with uniform_: the weight first, then the bias, and nothing else from the "
                             "random generator (torch.empty, not torch.randn, to create the tensors)")
    checks.assert_close("Linear", mine.bias, ref.bias, name=f"bias after torch.manual_seed(123), Linear({in_f}, {out_f})",
                        hint="the bias is drawn right after the weight, from the same ±1/sqrt(in_features)")
torch.manual_seed(5)
ref = nn.Linear(10, 4)
mine = new_linear(10, 4, case="Linear(10, 4)")
checks.call("Linear", mine.load_state_dict, ref.state_dict(), case="load_state_dict(nn.Linear(10, 4).state_dict())",
            hint="the state_dict keys must be 'weight' and 'bias', with nn.Linear's shapes")
x_lin = torch.randn(3, 10)
checks.assert_close("Linear", checks.call("Linear", mine, x_lin, case="nn.Linear's weights"), ref(x_lin),
                    name="the output with nn.Linear's weights")
print("Linear: visible tests of initialisation and nn.Linear compatibility pass")
### BEGIN HIDDEN TESTS
check_init(1, 3000, "Linear(1, 3000)")
check_init(1000, 3, "Linear(1000, 3)")
torch.manual_seed(9)
_mine = new_linear(33, 2, bias=False, case="Linear(33, 2, bias=False)")
torch.manual_seed(9)
_ref = nn.Linear(33, 2, bias=False)
checks.assert_close("Linear", _mine.weight, _ref.weight, name="weight after the same seed, bias=False")
_ref2 = nn.Linear(33, 2, bias=False)
checks.call("Linear", _mine.load_state_dict, _ref2.state_dict(), case="load_state_dict with bias=False")
_x = torch.randn(4, 5, 33)
checks.assert_close("Linear", checks.call("Linear", _mine, _x, case="nn.Linear's weights, bias=False"), _ref2(_x),
                    name="the output with nn.Linear's weights, bias=False")
_mine.reset_parameters()
checks.assert_true("Linear", not torch.equal(_mine.weight, _ref2.weight),
                   "reset_parameters() should draw new weights", hint="reset_parameters re-initialises in place")
### END HIDDEN TESTS

# %% [markdown]
# ## Data: `Dataset` and `DataLoader`
#
# The data of this lesson is scikit-learn's bundled **digits**: 1,797 handwritten digits,
# 8 × 8 pixels in 17 grey levels, shipped inside scikit-learn (no download).
# `course.data.digits()` splits it reproducibly into 1,438 training and 359 test images,
# stratified by label, with pixels scaled to [0, 1].
#
# PyTorch separates *what the data is* from *how it is served*:
#
# - a **`Dataset`** is anything with `__len__` (how many examples) and `__getitem__(i)`
#   (example `i`, typically a pair `(features, label)` of tensors);
# - a **`DataLoader`** draws indices (in order, or shuffled by a *sampler*), fetches the
#   examples, and **collates** them into batches: `default_collate` stacks `batch_size`
#   feature tensors of shape `(64,)` into one `(batch_size, 64)` tensor, and the 0-d labels
#   into `(batch_size,)`. The last batch is smaller unless `drop_last=True`.
#
# Shuffling draws a new order at every epoch from a random generator. By default that is
# torch's global one, so the order changes whenever anything else in the program consumes
# random numbers. Pass the loader its own `torch.Generator().manual_seed(seed)` and the
# sequence of epochs is the same on every run.

# %%
fig, axes = plt.subplots(2, 10, figsize=(10, 2.3))
for ax, i in zip(axes.flat, range(20)):
    ax.imshow(split.x_train[i].reshape(8, 8), cmap="gray_r")
    ax.set_title(int(split.y_train[i]), fontsize=9)
    ax.axis("off")
plt.suptitle("The first 20 training digits and their labels")
plt.show()

# %% [markdown]
# Networks train faster when every input feature has a similar scale. The border pixels
# of these digits are nearly always 0, the central ones vary a lot; we **standardise** each
# pixel with the *training* set's mean and standard deviation (never the test set's: the
# model must not see anything of the test data). A few pixels are constant, so we add 0.1
# to the standard deviation rather than divide by zero. `x_train_std` and `x_test_std` are
# used from here on.

# %%
pixel_mean = split.x_train.mean(dim=0)
pixel_std = split.x_train.std(dim=0) + 0.1
x_train_std = (split.x_train - pixel_mean) / pixel_std
x_test_std = (split.x_test - pixel_mean) / pixel_std
print("x_train_std", tuple(x_train_std.shape), x_train_std.dtype, "| y_train", tuple(split.y_train.shape), split.y_train.dtype)
print(f"pixel means now {x_train_std.mean(0).abs().max():.1e} at most; labels {torch.bincount(split.y_train).tolist()}")

# %% [markdown]
# ## Exercise 7: a `Dataset`
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Write `DigitsDataset(x, y)`: it stores features and labels (NumPy arrays or tensors),
# and serves example `i` as a pair of tensors: the features as float32 of shape
# `(n_features,)` and the label as an int64 tensor of shape `()`. A negative `i` counts
# from the end, as for a list. If `x` and `y` have different lengths, raise `ValueError`
# at construction, when the mistake is made, not at the first bad batch.
#
# <details><summary>Hint</summary>
#
# In `__init__`, compare lengths, then convert once: `torch.as_tensor(np.array(x)).float()`
# for a NumPy array (or `x.float()` for a tensor) and `.long()` for `y`. `__len__` returns
# `len(self.y)`; `__getitem__` returns `self.x[i], self.y[i]`: tensor indexing handles
# negative `i` for you.
# </details>

# %% nbgrader={"solution": true, "grade_id": "DigitsDataset"} exercise={"difficulty": 1, "importance": 4, "minutes": 10}
class DigitsDataset(Dataset):
    """(features, label) pairs.

    x: (n, n_features) NumPy array or tensor of any numeric dtype; y: (n,) integer labels.
    ds[i] -> (float32 tensor of shape (n_features,), int64 tensor of shape ()); negative i
    counts from the end. len(ds) == n. Raises ValueError if len(x) != len(y).
    """

    def __init__(self, x, y):
        ### BEGIN SOLUTION
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} examples but y has {len(y)} labels")
        as_tensor = (lambda a: a if isinstance(a, torch.Tensor) else torch.as_tensor(np.array(a)))
        self.x = as_tensor(x).to(torch.float32)
        self.y = as_tensor(y).to(torch.int64)
        ### END SOLUTION

    def __len__(self) -> int:
        ### BEGIN SOLUTION
        return len(self.y)
        ### END SOLUTION

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        ### BEGIN SOLUTION
        return self.x[i], self.y[i]
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "DigitsDataset_test", "points": 2}
def check_dataset(x, y, case, indices=(0, 3)):
    ds = checks.call("DigitsDataset", DigitsDataset, x, y, case=case)
    n = checks.call("DigitsDataset", ds.__len__, case=f"len() of {case}")
    checks.assert_true("DigitsDataset", n == len(y), f"len(ds) should be {len(y)} ({case}); got {n!r}",
                       hint="__len__ returns the number of examples")
    x_ref = (x if isinstance(x, torch.Tensor) else torch.from_numpy(np.array(x))).float()
    y_ref = (y if isinstance(y, torch.Tensor) else torch.from_numpy(np.array(y))).long()
    for i in indices:
        item = checks.call("DigitsDataset", ds.__getitem__, i, case=f"ds[{i}] of {case}")
        checks.assert_true("DigitsDataset", isinstance(item, tuple) and len(item) == 2
                           and all(isinstance(t, torch.Tensor) for t in item),
                           f"ds[{i}] should be a pair of tensors (features, label); got {type(item).__name__} ({case})")
        xi, yi = item
        checks.assert_dtype("DigitsDataset", xi, torch.float32, name=f"the features of ds[{i}] ({case})",
                            hint="convert the features to float32 once, in __init__")
        checks.assert_close("DigitsDataset", xi, x_ref[i], name=f"the features of ds[{i}] ({case})")
        checks.assert_dtype("DigitsDataset", yi, torch.int64, name=f"the label of ds[{i}] ({case})",
                            hint="labels as int64: .long()")
        checks.assert_equal("DigitsDataset", yi, y_ref[i], name=f"the label of ds[{i}] ({case})",
                            hint="a label is a 0-d tensor: self.y[i], not self.y[i:i + 1]")
    return ds


ds = check_dataset(split.x_train, split.y_train, "the digits training set", indices=(0, 5, 1437))
xb_ds, yb_ds = next(iter(DataLoader(ds, batch_size=4)))
checks.assert_shape("DigitsDataset", xb_ds, (4, 64), name="a DataLoader batch of features")
checks.assert_shape("DigitsDataset", yb_ds, (4,), name="a DataLoader batch of labels")
checks.assert_raises("DigitsDataset", ValueError, DigitsDataset, split.x_train[:10], split.y_train[:9],
                     hint="compare len(x) and len(y) in __init__ and raise ValueError")
print("DigitsDataset: visible tests pass")
### BEGIN HIDDEN TESTS
_x = np.arange(20, dtype=np.float64).reshape(5, 4) / 3
_y = np.array([4, 3, 2, 1, 0], dtype=np.int32)
check_dataset(_x, _y, "NumPy float64 features and int32 labels", indices=(0, 4, -1, -5))
check_dataset(torch.arange(30).reshape(6, 5)[:, ::2].T, torch.arange(3),
              "a non-contiguous integer tensor", indices=(0, 2, -1))
check_dataset(_x[:1], _y[:1], "a single example", indices=(0, -1))
checks.assert_raises("DigitsDataset", ValueError, DigitsDataset, _x, _y[:0],
                     hint="compare len(x) and len(y) in __init__ and raise ValueError")
_ds = checks.call("DigitsDataset", DigitsDataset, _x, _y, case="NumPy inputs")
_ = checks.assert_raises("DigitsDataset", IndexError, _ds.__getitem__, 5, hint="an index past the end raises IndexError")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 8: reproducible loaders
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Write `make_loaders(train_ds, test_ds, batch_size, seed)` returning
# `(train_loader, test_loader)`:
#
# - the training loader shuffles, with its own generator seeded with `seed`: two loaders
#   made with the same seed serve the same sequence of epochs, whatever else uses torch's
#   global random numbers in between, and each epoch has a new order;
# - the test loader serves the test set in order (nothing to gain from shuffling when you
#   only measure);
# - both keep the last, smaller batch.
#
# <details><summary>Hint</summary>
#
# `DataLoader(train_ds, batch_size=batch_size, shuffle=True,
# generator=torch.Generator().manual_seed(seed))`, and `shuffle=False` for the test set.
# </details>

# %% nbgrader={"solution": true, "grade_id": "make_loaders"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def make_loaders(train_ds: Dataset, test_ds: Dataset, batch_size: int, seed: int) -> tuple[DataLoader, DataLoader]:
    """A shuffled training loader (own generator, seeded) and an ordered test loader.

    train_ds, test_ds: map-style datasets; batch_size >= 1; seed: an int.
    Returns (train_loader, test_loader), both DataLoaders of batch_size examples, the last
    batch possibly smaller.
    """
    ### BEGIN SOLUTION
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train_ds, batch_size=batch_size, shuffle=True, generator=generator)
    test_loader = DataLoader(test_ds, batch_size=batch_size, shuffle=False)
    return train_loader, test_loader
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "make_loaders_test", "points": 2}
def loaders(*args, case):
    out = checks.call("make_loaders", make_loaders, *args, case=case)
    checks.assert_true("make_loaders", isinstance(out, tuple) and len(out) == 2
                       and all(isinstance(dl, DataLoader) for dl in out),
                       f"make_loaders should return a pair of DataLoaders; got {type(out).__name__} ({case})")
    return out


def same_list(got, want, name, hint=None):
    """Compare two lists, showing the start of both."""
    def show(v):
        return str(v[:12])[:-1] + (", ...]" if len(v) > 12 else "]")
    checks.assert_true("make_loaders", got == want, f"{name}: expected {show(want)}, got {show(got)}", hint=hint)


def epoch_order(loader):
    """The example indices in the order one epoch serves them (datasets of torch.arange)."""
    return torch.cat([batch[0] for batch in loader]).tolist()


index_train, index_test = TensorDataset(torch.arange(50)), TensorDataset(torch.arange(20))
train_dl, test_dl = loaders(index_train, index_test, 8, 0, case="batch_size=8, seed=0")
first_epoch = list(train_dl)
same_list([len(batch[0]) for batch in first_epoch], [8] * 6 + [2],
                    name="the training batch sizes", hint="batch_size=batch_size, and keep the last batch (drop_last=False)")
first, second = epoch_order(first_epoch), epoch_order(train_dl)
same_list(sorted(first), list(range(50)), name="the examples served in one epoch",
                    hint="every example exactly once per epoch")
checks.assert_true("make_loaders", first != list(range(50)), "the training loader serves the examples in order",
                   hint="shuffle=True")
checks.assert_true("make_loaders", first != second, "two epochs of the training loader have the same order",
                   hint="create the generator once, in make_loaders: the loader draws a new order from it every epoch")
again, _ = loaders(index_train, index_test, 8, 0, case="the same seed again")
same_list(epoch_order(again), first, name="the first epoch of a second loader with seed=0",
                    hint="give the loader its own generator: generator=torch.Generator().manual_seed(seed)")
same_list(epoch_order(test_dl), list(range(20)), name="the test loader's order",
                    hint="the test loader does not shuffle")
same_list([len(batch[0]) for batch in test_dl], [8, 8, 4], name="the test batch sizes")
print("make_loaders: visible tests pass")
### BEGIN HIDDEN TESTS
_a, _ = loaders(index_train, index_test, 5, 7, case="seed=7")
torch.manual_seed(100)
_first_a = epoch_order(_a)
_b, _ = loaders(index_train, index_test, 5, 7, case="seed=7 again")
torch.manual_seed(200)
torch.rand(10)
_first_b = epoch_order(_b)
same_list(_first_b, _first_a,
                    name="the order of two loaders with the same seed, after different global seeds",
                    hint="the order must not depend on torch's global generator: pass generator=... to the DataLoader")
_c, _ = loaders(index_train, index_test, 5, 8, case="seed=8")
checks.assert_true("make_loaders", epoch_order(_c) != _first_a, "seeds 7 and 8 give the same order",
                   hint="seed the generator with `seed`")
_big, _big_test = loaders(index_train, index_test, 100, 0, case="batch_size larger than the data set")
same_list([len(b[0]) for b in _big], [50], name="the batches when batch_size > len(train_ds)")
same_list(epoch_order(_big_test), list(range(20)), name="the test order, batch_size=100")
_, _t = loaders(index_train, index_test, 3, 0, case="batch_size=3")
same_list([epoch_order(_t), epoch_order(_t)], [list(range(20))] * 2,
                    name="two epochs of the test loader", hint="the test loader never shuffles")
### END HIDDEN TESTS

# %% [markdown]
# ## Models and training
#
# A multilayer perceptron (MLP) alternates linear layers and a non-linearity: without the
# non-linearity, a stack of linear layers is one linear layer. `nn.Sequential(a, b, c)` is
# the module whose `forward` is `c(b(a(x)))`. The last layer outputs **logits**, one
# unnormalised score per class, with no activation after it: `F.cross_entropy` applies the
# log-softmax itself.
#
# A training loop repeats, for every batch of every epoch: forward, loss, `zero_grad`,
# `backward`, `step`. We use **Adam**, the optimiser of most of this course (lesson 1.2
# derives it). Measure accuracy on data the model was not trained on, in evaluation mode
# and without autograd.
#
# ## Exercise 9: an MLP
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 5 minutes, then look at the hint.
#
# Write `make_mlp(sizes)`: for `sizes = [64, 128, 10]` it returns
# `nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))`. In general, one
# `nn.Linear` per consecutive pair of sizes, a `nn.ReLU()` between two linear layers, none
# after the last. Use `nn.Linear` (your `Linear` would do as well, but the tests want
# torch's): created in order, after `torch.manual_seed(s)`, the weights are the same as in
# the network written out by hand.
#
# <details><summary>Hint</summary>
#
# **The idea.** Consecutive sizes are the input and output of each linear layer; a ReLU follows
# every linear layer except the last one (the output is logits).
#
# **A pointer.** Pair each size with the next (`zip` of two slices), collect the layers in a list,
# and hand the list to `nn.Sequential` (unpacked).
# </details>

# %% nbgrader={"solution": true, "grade_id": "make_mlp"} exercise={"difficulty": 1, "importance": 3, "minutes": 5}
def make_mlp(sizes: list[int]) -> nn.Sequential:
    """nn.Sequential of nn.Linear(sizes[i], sizes[i + 1]) with nn.ReLU() between them.

    sizes: at least two layer widths, input first, number of classes last.
    Returns a module mapping (batch, sizes[0]) to (batch, sizes[-1]) logits; no activation
    after the last linear layer.
    """
    ### BEGIN SOLUTION
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "make_mlp_test", "points": 1}
def check_mlp(sizes):
    torch.manual_seed(0)
    mlp = checks.call("make_mlp", make_mlp, sizes, case=f"sizes={sizes}")
    checks.assert_true("make_mlp", isinstance(mlp, nn.Sequential),
                       f"make_mlp({sizes}) should return an nn.Sequential; got {type(mlp).__name__}")
    want = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        want += [f"Linear({a}, {b})", "ReLU"]
    got = [f"Linear({m.in_features}, {m.out_features})" if isinstance(m, nn.Linear) else type(m).__name__ for m in mlp]
    checks.assert_equal("make_mlp", got, want[:-1], name=f"the layers of make_mlp({sizes})",
                        hint="a ReLU between linear layers, none after the last: the logits must be free to be negative")
    torch.manual_seed(0)
    by_hand = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
    x = torch.randn(5, sizes[0])
    expected = x
    for i, lin in enumerate(by_hand):
        expected = lin(expected) if i == len(by_hand) - 1 else torch.relu(lin(expected))
    checks.assert_close("make_mlp", checks.call("make_mlp", mlp, x, case=f"make_mlp({sizes})(x)"), expected,
                        name=f"make_mlp({sizes})(x) after torch.manual_seed(0)",
                        hint="create the nn.Linear layers in order, with their default initialisation")


check_mlp([64, 32, 10])
print("make_mlp: visible tests pass")
### BEGIN HIDDEN TESTS
check_mlp([3, 2])
check_mlp([4, 8, 8, 2])
check_mlp([1, 5, 1, 5, 1])
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 10: accuracy
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Write `accuracy(model, loader)`: the fraction of examples whose largest logit is the
# true class, over the whole loader, as a Python float. Three details:
#
# - count correct predictions over all examples and divide once at the end: the mean of
#   per-batch accuracies over-weights the smaller last batch;
# - evaluate without autograd (`torch.no_grad()`) and in evaluation mode
#   (`model.eval()`); afterwards put the model back in the mode it was in
#   (`model.training` says which), so that a training loop that calls `accuracy` keeps
#   training in training mode;
# - a bool tensor has no mean: `(pred == y).sum()` counts, `.item()` makes a Python number.
#
# Worked example: logits `[[2, 1], [0, 3], [1, 0]]` with labels `[0, 0, 0]` predict classes
# `[0, 1, 0]`: 2 of 3 are right, accuracy 0.667.
#
# <details><summary>Hint</summary>
#
# **The idea.** Evaluation must not change the model: switch to eval mode, turn off autograd, count
# correct predictions over the whole loader, then put the model back in the mode it was in.
#
# **A pointer.** Remember `model.training` before `model.eval()`; `torch.no_grad()` around the loop;
# a prediction is the `argmax` over the class axis; `model.train(...)` takes the mode to restore.
# </details>

# %% nbgrader={"solution": true, "grade_id": "accuracy"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def accuracy(model: nn.Module, loader) -> float:
    """Fraction of examples in `loader` whose argmax logit equals the label.

    model: maps (b, ...) inputs to (b, k) logits; loader: yields (xb, yb) with yb of shape
    (b,) int64; at least one example in all.
    Runs under torch.no_grad() with the model in eval mode, and restores the model's mode.
    Returns a Python float in [0, 1].
    """
    ### BEGIN SOLUTION
    was_training = model.training
    model.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for xb, yb in loader:
            correct += (model(xb).argmax(dim=-1) == yb).sum().item()
            total += len(yb)
    model.train(was_training)
    return correct / total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "accuracy_test", "points": 2}
def check_accuracy(model, loader, want, case):
    acc = checks.call("accuracy", accuracy, model, loader, case=case)
    checks.assert_true("accuracy", isinstance(acc, float), f"accuracy should return a Python float; got "
                       f"{type(acc).__name__} ({case})", hint="a one-element tensor becomes a float with .item()")
    checks.assert_close("accuracy", acc, want, name=f"the accuracy ({case})",
                        hint="count the correct predictions over all examples and divide once by the number of "
                             "examples (the last batch may be smaller)")


logits_acc = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [4.0, 0.0, 1.0],
                           [0.0, 1.0, 0.0], [1.0, 2.0, 3.0], [3.0, 1.0, 2.0]])
labels_acc = torch.tensor([0, 1, 1, 0, 2, 2, 0])  # predictions 0, 1, 2, 0, 1, 2, 0: 5 of 7 right
check_accuracy(nn.Identity(), DataLoader(TensorDataset(logits_acc, labels_acc), batch_size=7), 5 / 7, "one batch")
check_accuracy(nn.Identity(), DataLoader(TensorDataset(logits_acc, labels_acc), batch_size=3), 5 / 7,
               "batches of 3, 3 and 1")
print("accuracy: visible tests pass")
### BEGIN HIDDEN TESTS
class _Probe(nn.Module):
    """A linear model that records whether autograd and training mode were on in forward."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.seen = []

    def forward(self, x):
        self.seen.append((torch.is_grad_enabled(), self.training))
        return self.lin(x)


torch.manual_seed(0)
_probe = _Probe()
_x, _y = torch.randn(23, 4), torch.randint(0, 3, (23,))
with torch.no_grad():
    _want = (_probe.lin(_x).argmax(1) == _y).sum().item() / 23
_probe.train()
check_accuracy(_probe, DataLoader(TensorDataset(_x, _y), batch_size=5), _want, "a linear model, batches of 5")
checks.assert_true("accuracy", all(not grad for grad, _ in _probe.seen),
                   "the model ran with autograd on", hint="wrap the loop in torch.no_grad()")
checks.assert_true("accuracy", all(not training for _, training in _probe.seen),
                   "the model ran in training mode", hint="call model.eval() before evaluating")
checks.assert_true("accuracy", _probe.training, "the model was in training mode before accuracy(), and is in eval mode after",
                   hint="remember model.training and restore it with model.train(was_training)")
_probe.eval()
check_accuracy(_probe, DataLoader(TensorDataset(_x, _y), batch_size=23), _want, "a model in eval mode")
checks.assert_true("accuracy", not _probe.training, "a model in eval mode before accuracy() is in training mode after",
                   hint="restore the mode the model was in: model.train(was_training)")
check_accuracy(nn.Identity(), DataLoader(TensorDataset(torch.tensor([[0.0, 1.0]]), torch.tensor([0])), batch_size=4),
               0.0, "a single wrong example")
check_accuracy(nn.Identity(), [(logits_acc[:2], labels_acc[:2]), (logits_acc[2:], labels_acc[2:])], 5 / 7,
               "a plain list of (xb, yb) batches")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 11: the training loop
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 15 minutes, then look at the hint.
#
# Write `train(model, loader, epochs, lr)`: put the model in training mode, create
# `torch.optim.Adam(model.parameters(), lr=lr)`, and for each epoch, for each batch
# `(xb, yb)` of the loader: compute `F.cross_entropy(model(xb), yb)`, zero the gradients,
# `backward()`, `step()`. Return the list of every step's loss as Python floats. Wrap the
# epoch loop in `tqdm(..., disable=not progress)` to see a progress bar (the tests turn it
# off).
#
# The test trains `64 → 128 → 10` on the standardised digits for 10 epochs (about 450
# steps; a few seconds) with a fixed seed and a fixed loader generator, and asks for at
# least 95% test accuracy; a correct loop reaches about 97%.
#
# <details><summary>Hint</summary>
#
# ```python
# for epoch in tqdm(range(epochs), disable=not progress):
#     for x_batch, y_batch in loader:
#         loss = F.cross_entropy(model(x_batch), y_batch)
#         ...  # zero_grad, backward, step
#         losses.append(loss.item())
# ```
# </details>

# %% nbgrader={"solution": true, "grade_id": "train"} exercise={"difficulty": 2, "importance": 5, "minutes": 15}
def train(model: nn.Module, loader, epochs: int, lr: float, progress: bool = True) -> list[float]:
    """Train `model` with Adam(lr) on the mean cross-entropy, one step per batch.

    model: maps (b, ...) to (b, k) logits; loader: yields (xb, yb), yb int64 of shape (b,);
    epochs >= 0. Puts the model in training mode first.
    Returns the loss of every step, as Python floats, in order (epochs * len(loader)).
    """
    ### BEGIN SOLUTION
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    bar = tqdm(range(epochs), desc="epochs", disable=not progress)
    for _ in bar:
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    return losses
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "train_test", "points": 3}
def digits_loader(batch_size=32, seed=0, n=None):
    """The standardised training digits, shuffled by their own generator."""
    ds = TensorDataset(x_train_std[:n], split.y_train[:n])
    return DataLoader(ds, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))


def check_losses(losses, n_steps, case):
    checks.assert_true("train", isinstance(losses, list), f"train should return a list of losses; got "
                       f"{type(losses).__name__} ({case})", hint="losses.append(loss.item()) at every step")
    checks.assert_true("train", len(losses) == n_steps, f"train returned {len(losses)} losses; expected one per step, "
                       f"epochs * len(loader) = {n_steps} ({case})")
    checks.assert_true("train", all(isinstance(v, float) for v in losses),
                       f"the losses should be Python floats ({case})", hint="loss.item(), not loss: "
                       "keeping the tensors also keeps every step's graph in memory")


torch.manual_seed(0)
mlp = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
loader_tr = digits_loader()
losses = checks.call("train", train, mlp, loader_tr, 10, 3e-3, progress=False, case="64 -> 128 -> 10, 10 epochs")
check_losses(losses, 10 * len(loader_tr), "10 epochs")
early, late = np.mean(losses[:20]), np.mean(losses[-20:])
checks.assert_true("train", late < early / 5, f"the loss barely fell: {early:.3f} over the first 20 steps, {late:.3f} "
                   "over the last 20", hint="Adam(model.parameters(), lr=lr); at every batch zero the gradients, backward(), then "
                        "optimizer.step()")
with torch.no_grad():
    test_accuracy = (mlp(x_test_std).argmax(dim=1) == split.y_test).float().mean().item()
checks.assert_true("train", test_accuracy >= 0.95,
                   f"test accuracy after training is {test_accuracy:.1%}; at least 95% expected (about 97%)",
                   hint="Adam(model.parameters(), lr=lr), F.cross_entropy on the logits, one step per batch")
print(f"train: visible tests pass; test accuracy {test_accuracy:.1%}")
### BEGIN HIDDEN TESTS
def _reference_train(model, loader, epochs, lr):
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    out = []
    for _ in range(epochs):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            out.append(loss.item())
    return out


torch.manual_seed(1)
_net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 10))
_net.eval()  # train() must switch it to training mode
_ref_net = copy.deepcopy(_net)
torch.manual_seed(2)
_mine = checks.call("train", train, _net, digits_loader(16, seed=3, n=200), 2, 1e-2, progress=False,
                    case="a model with dropout, 2 epochs")
torch.manual_seed(2)
_ref = _reference_train(_ref_net, digits_loader(16, seed=3, n=200), 2, 1e-2)
check_losses(_mine, len(_ref), "2 epochs on 200 examples")
with checks.tolerance(rtol=1e-4, atol=1e-5):
    checks.assert_close("train", _mine, _ref, name="the losses step by step, against a reference loop",
                        hint="model.train() first; Adam(lr=lr); per batch: loss, zero_grad, backward, step; "
                             "record loss.item() of each step")
checks.assert_true("train", _net.training, "after train() the model should be in training mode", hint="model.train()")
_before = [p.detach().clone() for p in _net.parameters()]
_none = checks.call("train", train, _net, digits_loader(16, n=50), 0, 1e-2, progress=False, case="epochs=0")
checks.assert_equal("train", _none, [], name="the losses of 0 epochs")
checks.assert_true("train", all(torch.equal(a, b) for a, b in zip(_before, _net.parameters())),
                   "train with epochs=0 changed the parameters")
### END HIDDEN TESTS

# %% [markdown]
# Now all the pieces together: your `DigitsDataset`, `make_loaders`, `make_mlp`, `train`
# and `accuracy`, with the same seeds as the test. The bar shows the epochs.

# %%
torch.manual_seed(0)
train_ds, test_ds = DigitsDataset(x_train_std, split.y_train), DigitsDataset(x_test_std, split.y_test)
train_loader, test_loader = make_loaders(train_ds, test_ds, batch_size=32, seed=0)
model = make_mlp([64, 128, 10])
losses = train(model, train_loader, epochs=10, lr=3e-3)
print(f"train accuracy {accuracy(model, train_loader):.1%}, test accuracy {accuracy(model, test_loader):.1%}")

steps_per_epoch = len(train_loader)
smooth = np.convolve(losses, np.ones(steps_per_epoch) / steps_per_epoch, mode="valid")
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(losses, alpha=0.35, label="loss of each step (one batch)")
ax.plot(np.arange(steps_per_epoch - 1, len(losses)), smooth, label="mean over the last epoch's steps")
ax.set_yscale("log")
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy (nats)")
ax.set_title("Training an MLP on the digits")
ax.legend()
plt.show()

# %% [markdown]
# And the test digits it gets wrong, with the predicted label first:

# %%
with torch.no_grad():
    predicted = model(x_test_std).argmax(dim=1)
wrong = torch.nonzero(predicted != split.y_test).flatten()
fig, axes = plt.subplots(1, min(len(wrong), 10), figsize=(10, 1.6), squeeze=False)
for ax, i in zip(axes.flat, wrong[:10]):
    ax.imshow(split.x_test[i].reshape(8, 8), cmap="gray_r")
    ax.set_title(f"{predicted[i].item()} (true {split.y_test[i].item()})", fontsize=8)
    ax.axis("off")
plt.suptitle(f"{len(wrong)} of {len(split.y_test)} test digits misclassified")
plt.show()

# %% [markdown]
# **What just happened.** The loss falls by two orders of magnitude in 450 steps, and the
# per-step curve is noisy because every step sees a different batch of 32. Training
# accuracy ends near 100% and test accuracy near 97%: the model has nearly memorised the
# training set, and what it learnt still transfers. Softmax regression (no hidden layer)
# gave about 95%; the hidden layer buys the rest. With a fixed `torch.manual_seed` for the
# weights and a fixed generator for the loader, the run repeats exactly, which is what let
# a test assert an accuracy.

# %% [markdown]
# ## Why this matters for safety
#
# Much of safety research is training small models on top of large ones: a linear probe for a
# concept, a sparse autoencoder, a reward model. These loops fail silently. A loop with a missing
# `zero_grad` or a model left in training mode still draws a loss curve, and the probe's accuracy
# becomes the finding. Adebayo et al. (2018), "Sanity Checks for Saliency Maps", showed that some
# popular explanation methods gave nearly the same pictures for a trained network and for the same
# network with random weights, so those pictures said little about what the model had learnt. The
# habit of the next exercises, checking a loop on a case whose answer you know (a single batch it
# must be able to memorise) before trusting what it reports, is their sanity check applied
# to your own code.

# %% [markdown]
# ## Debugging: overfit one batch
#
# A training loop with a bug rarely crashes. It runs, the loss goes down a little, and the
# model is mediocre, which looks just like a model that needs more tuning. The first test
# of any new loop (Karpathy's *A Recipe for Training Neural Networks*, 2019, calls it
# "overfit one batch") is to train on **one** small batch for a few dozen steps. A
# network with thousands of parameters can memorise 32 examples, so the loss must go to
# nearly 0. If it does not, the bug is in the loop, not in the data or the model size.
#
# Here is a loop with two bugs planted. Run it and look at the curve.

# %%
def buggy_overfit_one_batch(model, x, y, steps=60, lr=1e-2):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        logits = model(x)
        probs = torch.softmax(logits, dim=-1)
        loss = F.cross_entropy(probs, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


x_one, y_one = x_train_std[:32], split.y_train[:32]
torch.manual_seed(0)
net_buggy = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
net_init = copy.deepcopy(net_buggy)  # the same starting point, for the fixed loop below
buggy_losses = buggy_overfit_one_batch(net_buggy, x_one, y_one)
with torch.no_grad():
    print(f"last reported loss {buggy_losses[-1]:.4f}; the real cross-entropy of the logits now "
          f"{F.cross_entropy(net_buggy(x_one), y_one).item():.4f}; accuracy on the batch "
          f"{(net_buggy(x_one).argmax(1) == y_one).float().mean().item():.0%}")
plt.figure(figsize=(6, 3))
plt.plot(buggy_losses)
plt.xlabel("step")
plt.ylabel("reported loss")
plt.title("The buggy loop on one batch of 32")
plt.show()

# %% [markdown]
# ## Exercise 12: find the bugs, fix the loop
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 20 minutes, then look at the hint.
#
# The reported loss stalls around 1.5, and the real cross-entropy of the logits ends far
# from 0 (it grew, to about 4). Find both bugs in `buggy_overfit_one_batch` and write
# the fixed loop, `overfit_one_batch`, with the same signature, the same optimiser (Adam,
# `lr`), the same loss function and one step per iteration, recording each step's loss.
# The test runs it from a fixed initialisation: the loss must be below 0.01 over each of
# the last 20 of 60 steps, and after two steps the gradients must be those of the second
# step alone.
#
# Clues: why 1.46? If the "logits" given to `F.cross_entropy` are probabilities, each lies
# in $[0, 1]$; work out the smallest cross-entropy possible for 10 classes. And what does
# `optimizer.step()` use, the second time round?
#
# <details><summary>Hint</summary>
#
# `F.cross_entropy` applies log-softmax itself: give it the logits. With probabilities the
# best it can do is $-\log\frac{e^1}{e^1 + 9e^0} = \log(1 + 9/e) \approx 1.461$. The
# second bug: `backward()` adds to `.grad`, and nothing clears it, so every step follows
# the sum of all the gradients so far. Call `optimizer.zero_grad()` before `backward()`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "overfit_one_batch"} exercise={"difficulty": 3, "importance": 5, "minutes": 20}
def overfit_one_batch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 60,
                      lr: float = 1e-2) -> list[float]:
    """The fixed buggy_overfit_one_batch: `steps` Adam(lr) steps on F.cross_entropy(model(x), y).

    model: maps (b, d) to (b, k) logits; x: (b, d) float32; y: (b,) int64.
    Returns the loss of each step (before its update) as Python floats.
    """
    ### BEGIN SOLUTION
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "overfit_one_batch_test", "points": 3}
def run_overfit(init, x, y, steps, lr, case):
    net = copy.deepcopy(init)
    losses = checks.call("overfit_one_batch", overfit_one_batch, net, x, y, steps, lr, case=case)
    checks.assert_true("overfit_one_batch", isinstance(losses, list) and len(losses) == steps
                       and all(isinstance(v, float) for v in losses),
                       f"overfit_one_batch should return a list of {steps} floats, one loss per step ({case}); got "
                       f"{type(losses).__name__}" + (f" of length {len(losses)}" if isinstance(losses, list) else ""))
    return net, losses


def check_overfits(init, x, y, case, steps=60, lr=1e-2):
    net, losses = run_overfit(init, x, y, steps, lr, case)
    checks.assert_true("overfit_one_batch", min(losses) < 1.0,
                       f"the reported loss never gets below {min(losses):.3f} in {steps} steps ({case})",
                       hint="a loss stuck near log(1 + 9/e) = 1.461 means F.cross_entropy was given probabilities: "
                            "give it the logits (it applies log-softmax itself)")
    with torch.no_grad():
        real = F.cross_entropy(net(x), y).item()
    checks.assert_true("overfit_one_batch", real < 0.01,
                       f"after {steps} steps the cross-entropy of the logits is {real:.3f}; below 0.01 expected ({case})",
                       hint="F.cross_entropy on the logits, zero_grad before backward, one Adam step per iteration")
    checks.assert_true("overfit_one_batch", max(losses[-20:]) < 0.01,
                       f"the loss does not stay down: it reaches {max(losses[-20:]):.3f} in the last 20 steps ({case})",
                       hint="a loss that jumps back up is typical of gradients piling up across steps: zero_grad()")


def check_fresh_gradients(init, x, y, lr=1e-2):
    """After 2 steps, .grad must hold the second step's gradient (or be cleared), not the sum of both."""
    one, _ = run_overfit(init, x, y, 1, lr, "1 step")
    probe = copy.deepcopy(one)
    probe.zero_grad()
    F.cross_entropy(probe(x), y).backward()
    two, _ = run_overfit(init, x, y, 2, lr, "2 steps")
    for (name, p), q in zip(two.named_parameters(), probe.parameters()):
        if p.grad is None or not p.grad.any():
            continue  # cleared after the step: fine
        checks.assert_close("overfit_one_batch", p.grad, q.grad,
                            name=f"{name}.grad after 2 steps (the gradient of step 2 alone)",
                            hint="backward() adds to .grad: without optimizer.zero_grad() step 2 follows the sum of "
                                 "both steps' gradients")


check_overfits(net_init, x_one, y_one, "one batch of 32 digits")
check_fresh_gradients(net_init, x_one, y_one)
print("overfit_one_batch: visible tests pass")
### BEGIN HIDDEN TESTS
def _reference_overfit(model, x, y, steps, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    out = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(loss.item())
    return out


torch.manual_seed(4)
_init = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10))
_x, _y = x_train_std[100:124], split.y_train[100:124]
_net, _mine = run_overfit(_init, _x, _y, 30, 5e-3, "24 other digits, 30 steps, lr=5e-3")
_ref_net = copy.deepcopy(_init)
_ref = _reference_overfit(_ref_net, _x, _y, 30, 5e-3)
with checks.tolerance(rtol=1e-4, atol=1e-5):
    checks.assert_close("overfit_one_batch", _mine, _ref, name="the losses step by step, against a correct loop",
                        hint="keep Adam(lr) and F.cross_entropy on the logits; zero_grad before backward; one step "
                             "per iteration; record loss.item() before the update")
    for (_name, _p), _q in zip(_net.named_parameters(), _ref_net.parameters()):
        checks.assert_close("overfit_one_batch", _p, _q, name=f"{_name} after 30 steps, against a correct loop")
check_fresh_gradients(_init, _x, _y, lr=5e-3)
check_overfits(_init, x_train_std[200:216], split.y_train[200:216], "16 other digits", steps=60, lr=1e-2)
### END HIDDEN TESTS

# %% [markdown]
# The fixed loop from the same starting point, next to the buggy one:

# %%
fixed_losses = overfit_one_batch(copy.deepcopy(net_init), x_one, y_one)
plt.figure(figsize=(6, 3))
plt.semilogy(buggy_losses, label="buggy (softmax before the loss, no zero_grad)")
plt.semilogy(fixed_losses, label="fixed")
plt.axhline(math.log(1 + 9 / math.e), color="gray", linestyle=":", label="log(1 + 9/e) ≈ 1.461")
plt.xlabel("step")
plt.ylabel("reported loss")
plt.legend(fontsize=8)
plt.show()

# %% [markdown]
# **What just happened.** Two bugs, two signatures. Softmax before `F.cross_entropy`
# squashed the logits into $[0, 1]$, and the loss of such inputs can never go below
# $\log(1 + 9/e) \approx 1.461$ (the true class at 1, the nine others at 0): a plateau at
# a suspicious constant is a sign that the loss function is fed the wrong thing. Behind
# that plateau the logits grew huge, so the few examples the model got wrong were wrong
# with great confidence: the real cross-entropy rose to about 4. The missing `zero_grad`
# made every step follow the sum of all past gradients, a very heavy momentum: the loss
# overshoots and jumps back up instead of settling. Overfitting one batch caught both in
# 60 steps and well under a second, before any real training. Do it first whenever a loop
# is new or changed.
#
# ## Summary
#
# - Tensors: float32 features, int64 labels, one device for everything; `t.to(device,
#   dtype)`; `torch.from_numpy` shares memory and keeps float64. Dtypes promote by
#   category, and scalars do not widen a tensor.
# - Autograd: `backward()` fills `.grad` of the leaves by the chain rule, and *adds* to
#   it; check a hand-derived gradient against it. For cross-entropy on logits,
#   $\partial L/\partial z = (p - Y)/n$.
# - `torch.no_grad()` for evaluation and for in-place parameter updates; `model.eval()`
#   for layers that behave differently at test time.
# - `nn.Module`: assign `nn.Parameter`s as attributes to register them; torch initialises
#   `nn.Linear` from $U(\pm 1/\sqrt{\text{in}})$.
# - `Dataset` serves examples, `DataLoader` batches and shuffles them; give it its own
#   seeded generator for reproducible runs.
# - A new training loop must first overfit one batch.
#
# **Next:** lesson 1.1 builds autograd itself, lesson 1.2 the optimisers behind
# `torch.optim`, and lesson 1.4 the infrastructure (checkpoints, determinism, NaN hunts)
# around the loop you just wrote.

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 0.3`), else from `bootcamp check 0.3` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("0.3")
