# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "1.1"
#     title: Backpropagation from scratch
#     minutes: 240
#     prerequisites: ["0.1", "0.3"]
# ---

# %% [markdown]
# # 1.1 Backpropagation from scratch
#
# In lesson 0.3 you called `loss.backward()` and PyTorch filled in `.grad` for every
# parameter. In this lesson you build the machinery behind that call: a small
# *reverse-mode automatic differentiation* engine on top of NumPy, in the spirit of
# Karpathy's micrograd but working on whole arrays. Then you train a neural network with
# it, with no PyTorch in the loop, and watch it learn to read handwritten digits.
#
# Every interpretability method later in the course (attribution, activation patching,
# gradient-based saliency, SAE training) reads or writes gradients. Knowing exactly what a
# gradient of a tensor *is*, what shape it has, and how it flows through a broadcast or an
# index, makes those methods transparent instead of magic.
#
# **After this lesson you can**
# - explain reverse-mode autodiff as "a topological sort of the computation graph, then
#   the chain rule applied node by node in reverse order";
# - write the backward function (the vector-Jacobian product) of `+`, `*`, `@`, `sum`,
#   `mean`, `exp`, `log`, `relu`, indexing, `reshape`, `permute` and `max`, for arrays of
#   any shape;
# - handle broadcasting in the backward pass (*un*-broadcasting: sum over the stretched axes);
# - check any gradient against `torch.autograd` and against central finite differences;
# - train a multi-layer perceptron with your own engine to over 90% test accuracy;
# - give the engine a `Module` abstraction, so a model finds its own parameters.
#
# **Prerequisites.** Lessons 0.1 (NumPy, broadcasting, `axis`/`keepdims`) and 0.3
# (PyTorch tensors, `autograd`, a training loop). Single-variable calculus: the chain
# rule and the derivatives of $e^x$ and $\log x$.
#
# **Time.** About 4 hours: nineteen graded exercises (40 points), most of them short.
#
# **How the exercises work.** Each exercise explains an idea, then gives you a function
# whose body is `raise NotImplementedError`. Replace that line with your code and run the
# test cell below it. A passing cell prints a line saying so; a failing one names the
# first wrong gradient, the index where it differs, both values, and a likely cause. The
# visible tests compare your gradients with `torch.autograd` (and, for whole graphs, with
# finite differences). When your notebook is graded, hidden tests probe the cases the
# docstring promises: broadcast shapes, size-0 and size-1 axes, repeated indices,
# non-contiguous arrays, very deep graphs.
#
# Each op's backward function is its own exercise with its own test, so you can do them
# in any order once the first part (the graph and `backward`) is done. From a terminal,
# `bootcamp check 1.1` runs the whole notebook and prints a table of every exercise.
# Each exercise says how hard it is (🔴, 1–5), how much it matters for the rest of the
# course (🔵, 1–5) and how long to try before opening the hint.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from course import checks, data
from course.checks import gradcheck

np.set_printoptions(precision=4, suppress=True)
torch.set_default_dtype(torch.float64)  # the engine computes in float64; compare like with like

# %% [markdown]
# ## Reverse mode in one picture
#
# Take $L = a \cdot b + c$ with $a = 2$, $b = -3$, $c = 10$. The forward pass computes
# $d = a b = -6$, then $L = d + c = 4$. Draw it as a graph: leaves $a, b, c$, one node per
# operation, arrows from inputs to outputs.
#
# The backward pass walks the same graph from $L$ back to the leaves, carrying
# $\partial L / \partial(\text{node})$, the *gradient* of each node:
#
# | node | gradient | why |
# |---|---|---|
# | $L$ | 1 | $\partial L/\partial L$ |
# | $d$, $c$ | 1, 1 | $L = d + c$: addition passes the gradient through unchanged |
# | $a$ | $b \cdot 1 = -3$ | $d = ab$: the gradient of one factor is the *other* factor times the incoming gradient |
# | $b$ | $a \cdot 1 = 2$ | same rule |
#
# Each node needed only two things: the gradient arriving from *its* output (called
# `grad_out` below), and a **local rule** for its own operation. That is the chain rule,
# organised so that every node is visited once.
#
# **Arrays instead of numbers.** When a node computes an array $y = f(x)$ and the final
# loss $L$ is a scalar, the gradient of $x$ is an array of $x$'s shape:
#
# $$\frac{\partial L}{\partial x_i} = \sum_j \frac{\partial L}{\partial y_j}\,\frac{\partial y_j}{\partial x_i}
# = \sum_j \texttt{grad\_out}_j \,\frac{\partial y_j}{\partial x_i}.$$
#
# That sum is a *vector-Jacobian product*. We never build the Jacobian
# $\partial y_j / \partial x_i$ (for a $1000 \times 1000$ matrix product it would have
# $10^{12}$ entries); each op's backward function computes the product directly, in a
# line or two of NumPy. One rule to hold on to through the whole lesson:
#
# > **A gradient always has the shape of the thing it is the gradient of.**
#
# Almost every bug in this lesson shows up first as a gradient of the wrong shape.

# %% [markdown]
# ## The `Tensor` class (given)
#
# Here is the engine's data structure, complete. A `Tensor` holds
#
# - `data`: a float64 NumPy array (the value);
# - `grad`: `None` until the backward pass gives it an array of the same shape;
# - `parents`: the tensors it was computed from (empty for a leaf: an input or a parameter);
# - `backward_fn`: a function `grad_out -> tuple of gradients`, one per parent, in order
#   (`None` for a leaf);
# - `op` and `name`: labels for printing and pictures.
#
# Each operation computes its value with NumPy and records its parents and a
# `backward_fn` that calls one of the backward functions *you* write below
# (`add_backward`, `mul_backward`, ...). Python looks those names up when the backward
# pass runs, not when the class is defined, so the class works as soon as you fill them
# in. Subtraction, negation and division by a number are built from `+` and `*`.
#
# Read `__add__` and `sum` carefully: every other op follows the same pattern.

# %%
class Tensor:
    """A float64 NumPy array that remembers how it was computed."""

    __array_ufunc__ = None  # `np_array * tensor` calls Tensor.__rmul__ instead of NumPy's multiply

    def __init__(self, data, parents=(), backward_fn=None, op="", name=""):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = None
        self.parents = tuple(parents)
        self.backward_fn = backward_fn
        self.op = op
        self.name = name

    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    def __repr__(self):
        label = self.name or self.op or "leaf"
        return f"Tensor({label}, shape={self.shape})"

    def backward(self):
        """Fill in .grad of every tensor this one depends on (see the exercise `backward`)."""
        backward(self)

    # ---- binary operations (with broadcasting)
    def __add__(self, other):
        other = as_tensor(other)
        a, b = self.data, other.data
        return Tensor(a + b, (self, other), lambda g: add_backward(g, a, b), op="add")

    def __mul__(self, other):
        other = as_tensor(other)
        a, b = self.data, other.data
        return Tensor(a * b, (self, other), lambda g: mul_backward(g, a, b), op="mul")

    def __matmul__(self, other):
        other = as_tensor(other)
        a, b = self.data, other.data
        return Tensor(a @ b, (self, other), lambda g: matmul_backward(g, a, b), op="matmul")

    __radd__ = __add__
    __rmul__ = __mul__

    def __rmatmul__(self, other):
        return as_tensor(other) @ self

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-as_tensor(other))

    def __rsub__(self, other):
        return as_tensor(other) + (-self)

    def __truediv__(self, number):
        if isinstance(number, Tensor):
            raise TypeError("this engine divides by plain numbers only")
        return self * (1.0 / number)

    # ---- reductions
    def sum(self, axis=None, keepdims=False):
        a = self.data
        return Tensor(a.sum(axis=axis, keepdims=keepdims), (self,),
                      lambda g: (sum_backward(g, a, axis, keepdims),), op="sum")

    def mean(self, axis=None, keepdims=False):
        a = self.data
        return Tensor(a.mean(axis=axis, keepdims=keepdims), (self,),
                      lambda g: (mean_backward(g, a, axis, keepdims),), op="mean")

    # ---- element-wise functions
    def exp(self):
        a = self.data
        out = np.exp(a)
        return Tensor(out, (self,), lambda g: (exp_backward(g, a, out),), op="exp")

    def log(self):
        a = self.data
        return Tensor(np.log(a), (self,), lambda g: (log_backward(g, a),), op="log")

    def relu(self):
        a = self.data
        return Tensor(np.maximum(a, 0.0), (self,), lambda g: (relu_backward(g, a),), op="relu")

    # ---- indexing
    def __getitem__(self, index):
        a = self.data
        return Tensor(a[index], (self,), lambda g: (getitem_backward(g, a, index),), op="getitem")


def as_tensor(x):
    """A Tensor as is; a number or array becomes a constant leaf."""
    return x if isinstance(x, Tensor) else Tensor(x, name="const")


# %% [markdown]
# Building an expression records a graph. Nothing is differentiated yet: the backward
# functions are only *stored*, inside the lambdas.

# %%
a = Tensor(2.0, name="a")
b = Tensor(-3.0, name="b")
c = Tensor(10.0, name="c")
d = a * b
L = d + c
print("L =", L.data, "made by", L.op, "from", L.parents)
print("d =", d.data, "made by", d.op, "from", d.parents)
print("a is a leaf:", a.parents, a.backward_fn)

# %% [markdown]
# # Part 1: the backward pass
#
# ## Exercise 1: topological sort
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 20 minutes, then look at the hint.
#
# The backward pass must call a node's `backward_fn` only once *all* of the gradient
# flowing into that node has arrived, that is, after every node that uses it has been
# processed. Listing the nodes so that every node comes after all of its parents (a
# **topological order**) and then walking that list backwards guarantees exactly that.
#
# ```
#      a ──┐
#          ├─ mul ─ d ──┐
#      b ──┘            ├─ add ─ L        one topological order: [a, b, d, c, L]
#                   c ──┘                 another:               [c, b, a, d, L]
# ```
#
# The classic algorithm is a depth-first search that appends a node *after* all of its
# parents (post-order):
#
# ```
# visit(node): if node not yet visited: mark it; visit each parent; append node
# ```
#
# Two things make it correct on real graphs. A node reachable by two paths (the same
# weight used twice, `x * x`) must appear **once**: keep a set of visited nodes (tensors
# hash by identity, so they go straight into a set). And graphs can be **deep**: a
# recurrent network unrolled over 5,000 steps is a chain 5,000 nodes long, while
# Python's recursion limit is about 1,000. A recursive `visit` crashes there; write the
# search with an explicit stack instead.
#
# <details><summary>Hint</summary>
#
# Keep a stack of `(node, parents_done)` pairs, starting with `[(root, False)]`. Pop a
# pair. If `parents_done` is true, append the node to the order. Otherwise, if the node
# is not yet visited: mark it visited, push `(node, True)`, then push `(parent, False)`
# for each parent. Because a stack is last-in-first-out, `(node, True)` pops only after
# everything pushed above it (all its ancestors) has been appended.
# </details>

# %% nbgrader={"solution": true, "grade_id": "topological_sort"} exercise={"difficulty": 3, "importance": 4, "minutes": 20}
def topological_sort(root: Tensor) -> list[Tensor]:
    """Every tensor that `root` depends on (through .parents), each once, parents first.

    root: a Tensor; the graph behind it may share nodes and be thousands of nodes deep.
    Returns a list of Tensors: every node reachable from root through .parents (leaves and
    root included), each exactly once, every node after all of its parents; root is last.
    Must not recurse (no recursion limit on deep graphs) and must not modify the graph.
    """
    ### BEGIN SOLUTION
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
        elif node not in visited:
            visited.add(node)
            stack.append((node, True))
            for parent in node.parents:
                if parent not in visited:
                    stack.append((parent, False))
    return order
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "topological_sort_test", "points": 3}
a, b, c = Tensor(2.0, name="a"), Tensor(-3.0, name="b"), Tensor(10.0, name="c")
L = a * b + c
gradcheck.check_topological_order("topological_sort", topological_sort(L), L)
checks.assert_true("topological_sort", topological_sort(L)[-1] is L, "the root is not last in the order")
x = Tensor([1.0, 2.0], name="x")
y = (x * x + x).sum()  # x is used three times: it must still appear once
gradcheck.check_topological_order("topological_sort", topological_sort(y), y,
                                  hint="keep a set of visited nodes so that a shared node is listed once")
print("topological_sort: visible tests pass")
### BEGIN HIDDEN TESTS
_leaf = Tensor(1.0, name="leaf")
gradcheck.check_topological_order("topological_sort", topological_sort(_leaf), _leaf,
                                  hint="a leaf on its own is a graph of one node")
_x = Tensor([0.5, -1.0], name="x")
_h = _x
for _ in range(16):  # a ladder of diamonds: 2**16 paths from the root to x
    _h = _h * 0.5 + _h
_root = _h.sum()
gradcheck.check_topological_order("topological_sort", topological_sort(_root), _root,
                                  hint="keep a set of visited nodes: every node has many paths to the root here")
_chain = Tensor(1.0, name="start")
for _i in range(5000):  # (no backward_fn: the order needs only .parents)
    _chain = Tensor(_i + 2.0, (_chain,), op="step")
try:
    _order = topological_sort(_chain)
except RecursionError:
    checks.assert_true("topological_sort", False, "RecursionError on a chain of 5000 nodes",
                       hint="Python's recursion limit is about 1000: use an explicit stack instead of recursion")
gradcheck.check_topological_order("topological_sort", _order, _chain)
_w = Tensor(np.ones((2, 2)), name="w")
_out = ((_w @ _w) * _w + (_w @ _w)).sum()
_before = [(n, n.parents) for n in gradcheck.reachable_nodes(_out)]
gradcheck.check_topological_order("topological_sort", topological_sort(_out), _out)
checks.assert_true("topological_sort", all(n.parents == p for n, p in _before),
                   "topological_sort changed the graph (a node's .parents)")
### END HIDDEN TESTS

# %% [markdown]
# With an order in hand we can draw any graph: put each node in the column given by its
# longest distance from a leaf, and draw an arrow from each parent to its child. Here is
# one neuron, `relu(x @ w + bias)` summed. Blue boxes are leaves, yellow ones operations,
# the red one the root. (This cell only needs your `topological_sort`.)

# %%
def draw_graph(root, ax=None, title=None):
    """Draw the computation graph behind `root`, left (leaves) to right (root)."""
    try:
        order = topological_sort(root)
    except NotImplementedError:
        print("(implement topological_sort to see the picture)")
        return
    if not isinstance(order, list):
        print("(topological_sort returned no list)")
        return
    depth = {}
    for node in order:
        depth[node] = 1 + max((depth[p] for p in node.parents), default=-1)
    for node in reversed(order):  # a leaf sits just left of its first consumer, not far away in column 0
        if not node.parents and node is not root:
            depth[node] = min(depth[c] for c in order if any(p is node for p in c.parents)) - 1
    columns = {}
    for node in order:
        columns.setdefault(depth[node], []).append(node)
    pos = {}
    for col, nodes in columns.items():
        for k, node in enumerate(nodes):
            pos[node] = (col, (len(nodes) - 1) / 2 - k)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(16, 1.5 * len(columns) + 1), 0.8 * max(len(v) for v in columns.values()) + 1.5))
    for node in order:
        for parent in node.parents:
            ax.annotate("", xy=pos[node], xytext=pos[parent],
                        arrowprops=dict(arrowstyle="->", color="gray", shrinkA=22, shrinkB=22))
    for node in order:
        color = "mistyrose" if node is root else ("lightyellow" if node.parents else "lightblue")
        shape = "scalar" if node.data.ndim == 0 else "×".join(map(str, node.data.shape))
        label = node.name or node.op or "const"
        ax.text(*pos[node], f"{label}\n{shape}", ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round", facecolor=color, edgecolor="gray"))
    ax.set_xlim(min(columns) - 0.6, max(columns) + 0.6)
    ax.set_ylim(min(y for _, y in pos.values()) - 0.7, max(y for _, y in pos.values()) + 0.7)
    ax.axis("off")
    ax.set_title(title or f"{len(order)} nodes, in topological order left to right")
    plt.show()


x = Tensor(np.ones((4, 3)), name="x")
w = Tensor(np.ones((3, 2)), name="w")
bias = Tensor(np.zeros(2), name="bias")
draw_graph((x @ w + bias).relu().sum(), title="relu(x @ w + bias).sum()")

# %% [markdown]
# ## Exercise 2: `backward`
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points (and 3 more at the end of Part 2) · about 15 minutes, then look at the hint.
#
# Now the backward pass itself, the function that `Tensor.backward()` calls:
#
# 1. Get the topological order of the graph behind `root`.
# 2. Seed the root: `root.grad = np.ones_like(root.data)` ($\partial L / \partial L = 1$).
# 3. Walk the order **in reverse** (root first). For each node that has a `backward_fn`
#    (not a leaf) and a gradient, call `node.backward_fn(node.grad)`: it returns one
#    gradient per parent, in the order of `node.parents`.
# 4. **Add** each of those gradients to its parent's `.grad` (a parent with `grad is None`
#    starts from zero). A node used twice, like `x` in `x * x + x`, receives a
#    contribution from each use, and its gradient is their sum: that is the multivariable
#    chain rule.
#
# Accumulate with `parent.grad = parent.grad + g`, not `parent.grad += g`: a backward
# function may return its `grad_out` array itself (addition does), and `+=` would then
# write into another node's gradient.
#
# The tests build graphs by hand, with `backward_fn`s written out as lambdas, so this
# exercise does not need any of the ops of Part 2. Leaves keep whatever gradient they
# had: calling `backward` on two losses that share a leaf adds up both gradients there,
# as in PyTorch.
#
# <details><summary>Hint</summary>
#
# Loop over `reversed(topological_sort(root))`. Skip a node whose `backward_fn` is `None`
# (a leaf) or whose `grad` is still `None` (nothing flowed into it). Otherwise `zip` its
# `parents` with the tuple its `backward_fn(node.grad)` returns, and for each pair set the
# parent's gradient to `g` if it has none yet, else to the old gradient `+ g`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "backward"} exercise={"difficulty": 3, "importance": 5, "minutes": 15}
def backward(root: Tensor) -> None:
    """Backpropagate from `root`: fill in .grad of every tensor root depends on.

    root: a Tensor of any shape (usually a scalar loss); its gradient is seeded with ones
    of its shape, replacing any gradient it had.
    Every other node's .grad (float64, the node's shape) is increased by the gradient of
    root with respect to it: None counts as zero, an existing gradient is added to.
    Each node's backward_fn is called exactly once, after all its consumers. Returns None.
    """
    ### BEGIN SOLUTION
    order = topological_sort(root)
    root.grad = np.ones_like(root.data)
    for node in reversed(order):
        if node.backward_fn is None or node.grad is None:
            continue
        for parent, g in zip(node.parents, node.backward_fn(node.grad)):
            parent.grad = g if parent.grad is None else parent.grad + g
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "backward_test", "points": 3}
# The example from the top: L = a * b + c, with the local rules written out by hand.
a, b, c = Tensor(2.0, name="a"), Tensor(-3.0, name="b"), Tensor(10.0, name="c")
d = Tensor(a.data * b.data, (a, b), lambda g: (g * b.data, g * a.data), op="mul")
L = Tensor(d.data + c.data, (d, c), lambda g: (g, g), op="add")
backward(L)
gradcheck.compare_gradients("backward", {"L": L.grad, "d": d.grad, "a": a.grad, "b": b.grad, "c": c.grad},
                            {"L": 1.0, "d": 1.0, "a": -3.0, "b": 2.0, "c": 1.0},
                            source="the chain rule by hand (the table at the top)", numbered=False,
                            if_none="backward did not set it (the root gets ones, every other node the sum of "
                                    "the gradients its consumers send)")

# A node with two consumers: h = 2x feeds both p = 3h and q = h + 1; loss = sum(p * q).
calls = {}


def counted(name, fn):
    """A backward_fn that counts how often it runs."""
    def wrapped(g):
        calls[name] = calls.get(name, 0) + 1
        return fn(g)
    return wrapped


x = Tensor([1.0, -2.0, 0.5], name="x")
h = Tensor(2 * x.data, (x,), counted("h", lambda g: (2 * g,)), op="h=2x")
p = Tensor(3 * h.data, (h,), counted("p", lambda g: (3 * g,)), op="p=3h")
q = Tensor(h.data + 1, (h,), counted("q", lambda g: (g,)), op="q=h+1")
pq = Tensor(p.data * q.data, (p, q), counted("pq", lambda g: (g * q.data, g * p.data)), op="mul")
loss = Tensor(pq.data.sum(), (pq,), counted("loss", lambda g: (g * np.ones(3),)), op="sum")
backward(loss)
# loss = sum(6x (2x + 1)) = sum(12 x^2 + 6x), so d loss / dx = 24 x + 6
gradcheck.compare_gradients("backward", {"x": x.grad}, {"x": 24 * x.data + 6}, source="calculus by hand",
                            numbered=False, hint="h has two consumers: add both contributions to h.grad before "
                            "calling h's backward_fn (reverse topological order does this)")
for name in ("loss", "pq", "p", "q", "h"):
    checks.assert_true("backward", calls.get(name) == 1,
                       f"the backward_fn of {name!r} ran {calls.get(name, 0)} times; expected exactly once",
                       hint="walk reversed(topological_sort(root)) and call each node's backward_fn once")
print("backward: visible tests pass")
### BEGIN HIDDEN TESTS
# a non-scalar root is seeded with ones of its shape
_x = Tensor(np.arange(6.0).reshape(2, 3), name="x")
_y = Tensor(_x.data * 2, (_x,), lambda g: (2 * g,), op="2x")
backward(_y)
gradcheck.compare_gradients("backward", {"root": _y.grad, "x": _x.grad}, {"root": np.ones((2, 3)),
                            "x": np.full((2, 3), 2.0)}, source="the chain rule", numbered=False,
                            hint="seed the root with np.ones_like(root.data), whatever its shape")
# leaves accumulate across two backward calls; the root's old gradient is replaced
_w = Tensor([1.0, 2.0], name="w")
_l1 = Tensor((_w.data * 3).sum(), (_w,), lambda g: (g * np.full(2, 3.0),), op="l1")
_l2 = Tensor((_w.data * 5).sum(), (_w,), lambda g: (g * np.full(2, 5.0),), op="l2")
backward(_l1)
backward(_l2)
gradcheck.compare_gradients("backward", {"w": _w.grad}, {"w": np.full(2, 8.0)}, source="3 + 5", numbered=False,
                            hint="add to an existing .grad (None counts as zero) instead of overwriting it")
_l1.grad = np.array(7.0)
backward(_l1)
gradcheck.compare_gradients("backward", {"root": _l1.grad}, {"root": 1.0}, source="the seed", numbered=False,
                            hint="the root's gradient is set to ones, not added to")
# a backward_fn returning grad_out itself must not be corrupted by +=
_a = Tensor([1.0, 1.0], name="a")
_s = Tensor(_a.data + _a.data, (_a, _a), lambda g: (g, g), op="a+a")
_t = Tensor(_s.data * 1.0, (_s,), lambda g: (g,), op="identity")
_u = Tensor(_t.data.sum(), (_t,), lambda g: (g * np.ones(2),), op="sum")
backward(_u)
gradcheck.compare_gradients("backward", {"t": _t.grad, "s": _s.grad, "a": _a.grad},
                            {"t": np.ones(2), "s": np.ones(2), "a": np.full(2, 2.0)}, source="the chain rule",
                            numbered=False, hint="accumulate with parent.grad = parent.grad + g, never +=")
### END HIDDEN TESTS

# %% [markdown]
# **What just happened.** Those eight lines are the whole of reverse-mode autodiff.
# Everything specific to an operation lives in its `backward_fn`; `backward` only
# schedules the calls (reverse topological order) and adds up contributions where paths
# merge. This is also, structurally, what `torch.autograd` does in C++: each tensor
# produced by an op has a `grad_fn` (PyTorch's name for our `backward_fn`) with links to
# the `grad_fn`s of its inputs (try `torch.ones(2, requires_grad=True).exp().sum().grad_fn.next_functions`).
# The cost of one backward pass is a small constant times the cost of the forward pass,
# whatever the number of parameters; that is why one can train models with billions of them.

# %% [markdown]
# # Part 2: the backward function of every op
#
# Each exercise in this part is one function `op_backward(grad_out, *inputs, ...)` that
# returns the gradient of each input (a tuple, for two inputs). They only see NumPy
# arrays: `grad_out` has the shape of the op's output, and each returned gradient must
# have the shape of its input. The tests call them directly and compare with
# `torch.autograd` on the same inputs and a random `grad_out`, so each one is graded on
# its own. A backward function must not modify its arguments.
#
# ## Exercise 3: un-broadcasting
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 15 minutes, then look at the hint.
#
# `x + b` with `x` of shape `(3, 4)` and a bias `b` of shape `(4,)` *uses every element
# of `b` three times*, once per row: broadcasting stretched `b` to `(3, 4)` without copying
# it. The output's gradient `grad_out` has shape `(3, 4)`, but `b.grad` must have shape
# `(4,)`. A value used several times receives the **sum** of the gradients of its uses
# (the same rule as a node with several consumers in Exercise 2), so
#
# $$\frac{\partial L}{\partial b_j} = \sum_i \texttt{grad\_out}_{ij}, \qquad
# \texttt{b.grad} = \texttt{grad\_out.sum(axis=0)}.$$
#
# In general, broadcasting does two things to a shape, and un-broadcasting undoes both:
#
# 1. it **adds leading axes** (`(4,)` is read as `(1, 4)`, then as `(1, 1, 4)` against a
#    3-D array): sum these away, without keeping them;
# 2. it **stretches axes of size 1** (`(3, 1)` → `(3, 4)`): sum along them *keeping* the
#    axis (`keepdims=True`), so the 1 stays.
#
# The picture shows both for a gradient of shape `(3, 4)`.

# %%
grad_demo = np.arange(12.0).reshape(3, 4)
fig, axes = plt.subplots(1, 3, figsize=(11, 2.8), gridspec_kw={"width_ratios": [4, 4, 1.2]})
for ax, arr, title in [(axes[0], grad_demo, "grad_out (3, 4)"),
                       (axes[1], grad_demo.sum(axis=0, keepdims=True), "for b of shape (4,) or (1, 4):\nsum over axis 0"),
                       (axes[2], grad_demo.sum(axis=1, keepdims=True), "for b of shape (3, 1):\nsum over axis 1")]:
    vmax = grad_demo.sum(axis=1).max()
    ax.imshow(arr, cmap="Blues", vmin=0, vmax=vmax)
    for (i, j), v in np.ndenumerate(arr):
        ax.text(j, i, f"{v:g}", ha="center", va="center", color="white" if v > 0.6 * vmax else "black")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()

# %% [markdown]
# Write `unbroadcast(grad, shape)`: reduce a gradient of the broadcast shape back to
# `shape`. If nothing was broadcast, return `grad` unchanged. You will use it in the
# backward functions of `+` and `*`.
#
# <details><summary>Hint</summary>
#
# **The idea.** Broadcasting copied `a` along some axes, so each copy got its own gradient; add the
# copies back up. Axes can be stretched in two ways: added in front, or grown from size 1.
#
# **A pointer.** First sum away the leading axes that `shape` does not have, then sum (keeping the
# dimension) over the axes where `shape` has a 1 and the gradient does not. `np.sum` takes a tuple
# of axes.
# </details>

# %% nbgrader={"solution": true, "grade_id": "unbroadcast"} exercise={"difficulty": 3, "importance": 5, "minutes": 15}
def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` over the axes that broadcasting added or stretched, to get back `shape`.

    grad: float array of shape S, where `shape` broadcasts to S (np.broadcast_shapes(shape, S) == S).
    shape: the original shape, e.g. (4,), (3, 1), (1, 4) or () against S = (3, 4).
    Returns an array of exactly `shape`, same dtype as grad: the sum of grad over the
    leading axes broadcasting added and over the axes where shape has 1 and S does not.
    """
    ### BEGIN SOLUTION
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True) if stretched else grad
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "unbroadcast_test", "points": 3}
def expected_unbroadcast(grad, shape):
    """torch's answer: the gradient of broadcast_to(x, grad.shape) for x of `shape`."""
    _, grads, _ = gradcheck.vjp(lambda t: t.broadcast_to(grad.shape), {"x": np.zeros(shape)}, grad_out=grad)
    return grads["x"]


rng = np.random.default_rng(0)
g = rng.standard_normal((3, 4))
for shape in [(3, 4), (4,), (1, 4), (3, 1), ()]:
    gradcheck.compare_gradients("unbroadcast", {"x": unbroadcast(g, shape)}, {"x": expected_unbroadcast(g, shape)},
                                numbered=False, if_none="did unbroadcast `return` the result?",
                                hint=f"unbroadcast(grad of shape {g.shape}, {shape}): sum away the leading axes "
                                     "broadcasting added, then sum with keepdims=True over the axes where shape has 1")
print("unbroadcast: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(10)
for _big, _shape in [((2, 3, 4), (3, 1)), ((2, 3, 4), (1, 1, 1)), ((2, 3, 4), (2, 1, 4)), ((5, 1, 3), (1, 1)),
                     ((2, 3, 4), ()), ((0, 4), (4,)), ((0, 4), (1, 4)), ((1, 1), (1,)), ((6,), (1,)), ((4, 5), (4, 1))]:
    _g = _rng.standard_normal(_big)
    gradcheck.compare_gradients("unbroadcast", {"x": unbroadcast(_g, _shape)}, {"x": expected_unbroadcast(_g, _shape)},
                                numbered=False, hint=f"unbroadcast(grad of shape {_big}, {_shape})")
_g32 = _rng.standard_normal((3, 4)).astype(np.float32)
checks.assert_dtype("unbroadcast", unbroadcast(_g32, (4,)), np.float32, hint="keep grad's dtype")
_gT = _rng.standard_normal((4, 3)).T
gradcheck.compare_gradients("unbroadcast", {"x": unbroadcast(_gT, (3, 1))},
                            {"x": expected_unbroadcast(np.ascontiguousarray(_gT), (3, 1))},
                            numbered=False, hint="a transposed (non-contiguous) grad must work too")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: addition
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 1 point · about 5 minutes, then look at the hint.
#
# $y = a + b$: each output element $y_{ij}$ depends on $a_{ij}$ with derivative 1, so
# the gradient passes through unchanged to both inputs, then is un-broadcast to each
# input's shape (a bias `b` of shape `(4,)` added to `(3, 4)` gets the column sums).
#
# <details><summary>Hint</summary>
#
# The local derivative is 1, so each input's gradient is `grad_out` itself, reduced to
# that input's shape with your `unbroadcast`. Return the two as a tuple `(grad_a, grad_b)`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "add_backward"} exercise={"difficulty": 1, "importance": 4, "minutes": 5}
def add_backward(grad_out: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of a + b (with broadcasting).

    grad_out: float64, shape np.broadcast_shapes(a.shape, b.shape).
    a, b: float64 arrays whose shapes broadcast together (either may be 0-d).
    Returns (grad_a, grad_b) with the shapes of a and b.
    """
    ### BEGIN SOLUTION
    return unbroadcast(grad_out, a.shape), unbroadcast(grad_out, b.shape)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "add_backward_test", "points": 1}
rng = np.random.default_rng(1)
gradcheck.check_backward("add_backward", add_backward, torch.add,
                         {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal((3, 4))})
gradcheck.check_backward("add_backward", add_backward, torch.add,
                         {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)},
                         hint="b was broadcast: un-broadcast its gradient to b's shape")
print("add_backward: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(11)
for _sa, _sb in [((3, 1), (1, 4)), ((2, 3, 4), (3, 1)), ((), (2, 3)), ((2, 3), ()), ((0, 4), (4,)), ((1,), (5,))]:
    gradcheck.check_backward("add_backward", add_backward, torch.add,
                             {"a": _rng.standard_normal(_sa), "b": _rng.standard_normal(_sb)},
                             hint=f"shapes {_sa} + {_sb}: un-broadcast each gradient to its input's shape")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: multiplication
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 8 minutes, then look at the hint.
#
# $y = a \odot b$ (element-wise): $\partial y_{ij} / \partial a_{ij} = b_{ij}$, so the
# gradient of `a` is `grad_out * b`: the incoming gradient times the **other** factor
# (as for $a$ in the table at the top). Broadcasting works as for addition: compute the
# product at the broadcast shape, then un-broadcast. For `x * x` both gradients are
# `grad_out * x`, and `backward` adds them up to $2x \cdot$ `grad_out`.
#
# <details><summary>Hint</summary>
#
# `grad_out * b` has the broadcast shape; `unbroadcast` it to `a.shape` to get `grad_a`.
# Then the same with the roles of `a` and `b` swapped.
# </details>

# %% nbgrader={"solution": true, "grade_id": "mul_backward"} exercise={"difficulty": 2, "importance": 4, "minutes": 8}
def mul_backward(grad_out: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of a * b (element-wise, with broadcasting).

    grad_out: float64, shape np.broadcast_shapes(a.shape, b.shape).
    a, b: float64 arrays whose shapes broadcast together (either may be 0-d).
    Returns (grad_a, grad_b) with the shapes of a and b.
    """
    ### BEGIN SOLUTION
    return unbroadcast(grad_out * b, a.shape), unbroadcast(grad_out * a, b.shape)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "mul_backward_test", "points": 2}
rng = np.random.default_rng(2)
gradcheck.check_backward("mul_backward", mul_backward, torch.mul,
                         {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal((3, 4))},
                         hint="the gradient of a is grad_out times the *other* input, b")
gradcheck.check_backward("mul_backward", mul_backward, torch.mul,
                         {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal((3, 1))},
                         hint="b was broadcast along axis 1: un-broadcast its gradient to b's shape")
print("mul_backward: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(12)
for _sa, _sb in [((3, 1), (1, 4)), ((2, 1, 3), (4, 1)), ((), (2, 3)), ((2, 3), ()), ((0, 3), (3,)), ((5,), (5,))]:
    gradcheck.check_backward("mul_backward", mul_backward, torch.mul,
                             {"a": _rng.standard_normal(_sa), "b": _rng.standard_normal(_sb)},
                             hint=f"shapes {_sa} * {_sb}: multiply by the other input, then un-broadcast")
_v = _rng.standard_normal((4, 6))[:, ::2]
gradcheck.check_backward("mul_backward", mul_backward, torch.mul, {"a": _v, "b": _v.T.T * 2},
                         hint="non-contiguous inputs must work")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: matrix multiplication
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 20 minutes, then look at the hint.
#
# $Y = A B$ with $A$ of shape $(n, k)$, $B$ of shape $(k, m)$, $Y$ of shape $(n, m)$:
# $Y_{ij} = \sum_p A_{ip} B_{pj}$. Then $\partial Y_{ij} / \partial A_{ip} = B_{pj}$,
# and summing over every output element that $A_{ip}$ touches (the whole row $i$ of $Y$):
#
# $$\frac{\partial L}{\partial A_{ip}} = \sum_j G_{ij} B_{pj} = (G B^\top)_{ip}, \qquad
# \frac{\partial L}{\partial B_{pj}} = \sum_i G_{ij} A_{ip} = (A^\top G)_{pj},$$
#
# with $G$ = `grad_out`. You do not need to memorise these: **the shapes force them**.
# `grad_a` must be $(n, k)$ and is built from $G$ $(n, m)$ and $B$ $(k, m)$; the only
# product of those two that gives $(n, k)$ is $G B^\top$. Likewise $(k, m)$ from $A$
# $(n, k)$ and $G$ $(n, m)$ can only be $A^\top G$.
#
# Worked example: $A = [[1, 2]]$ $(1, 2)$, $B = [[3], [4]]$ $(2, 1)$, $Y = [[11]]$. With
# $G = [[1]]$: `grad_a` $= G B^\top = [[3, 4]]$ (changing $A_{11}$ by $\varepsilon$ changes
# $Y$ by $3\varepsilon$) and `grad_b` $= A^\top G = [[1], [2]]$.
#
# <details><summary>Hint</summary>
#
# Each gradient is one matrix product of `grad_out` with the *other* input, one of the
# two transposed. Write the shapes under each candidate and keep the one whose result has
# the input's shape. If the test says your gradient equals the expected one transposed,
# you computed the right numbers as `(something).T`: swap the two factors and transpose
# each of them instead.
# </details>

# %% nbgrader={"solution": true, "grade_id": "matmul_backward"} exercise={"difficulty": 3, "importance": 5, "minutes": 20}
def matmul_backward(grad_out: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of a @ b for 2-D arrays.

    grad_out: float64, shape (n, m).
    a: float64, shape (n, k); b: float64, shape (k, m). Any of n, k, m may be 0 or 1;
    a and b may be non-contiguous views.
    Returns (grad_a of shape (n, k), grad_b of shape (k, m)).
    """
    ### BEGIN SOLUTION
    return grad_out @ b.T, a.T @ grad_out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "matmul_backward_test", "points": 3}
rng = np.random.default_rng(3)
matmul_hint = "the shapes decide: grad_a (n, k) = grad_out (n, m) @ b.T (m, k); grad_b (k, m) = a.T (k, n) @ grad_out (n, m)"
gradcheck.check_backward("matmul_backward", matmul_backward, torch.matmul,
                         {"a": rng.standard_normal((3, 3)), "b": rng.standard_normal((3, 3))}, hint=matmul_hint)
gradcheck.check_backward("matmul_backward", matmul_backward, torch.matmul,
                         {"a": rng.standard_normal((2, 3)), "b": rng.standard_normal((3, 4))}, hint=matmul_hint)
print("matmul_backward: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(13)
for _n, _k, _m in [(5, 1, 2), (1, 4, 1), (1, 1, 1), (0, 3, 2), (3, 0, 2), (4, 2, 0), (6, 5, 3)]:
    gradcheck.check_backward("matmul_backward", matmul_backward, torch.matmul,
                             {"a": _rng.standard_normal((_n, _k)), "b": _rng.standard_normal((_k, _m))},
                             hint=f"a ({_n}, {_k}) @ b ({_k}, {_m}): " + matmul_hint)
_big = _rng.standard_normal((4, 10))
gradcheck.check_backward("matmul_backward", matmul_backward, torch.matmul,
                         {"a": _big[:, ::2], "b": _rng.standard_normal((3, 5)).T},
                         hint="non-contiguous views (a[:, ::2], b.T) must work")
### END HIDDEN TESTS

# %% [markdown]
# **What just happened.** The two formulas are the same matrix product "turned around":
# the gradient of a linear map is the transposed map applied to the incoming gradient.
# That is why the backward pass through a linear layer costs two matrix products, about
# twice the forward pass, and why "the gradient with respect to the input" of a network is
# cheap. Interpretability uses it constantly: attribution methods multiply activations by
# exactly this kind of gradient.

# %% [markdown]
# ## Exercise 7: sum over axes
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 12 minutes, then look at the hint.
#
# $y = \sum_{\text{axis}} a$: every input element contributes to exactly one output
# element with derivative 1, so each input element gets the gradient of *its* output
# element. The backward pass is broadcasting run in reverse: copy `grad_out` back along
# the summed axes. `sum` is the mirror image of un-broadcasting.
#
# The catch is the shape. `a` of shape `(3, 4)` summed over `axis=1` gives `(3,)`; to
# broadcast `grad_out` back to `(3, 4)` it first needs the reduced axis back as a 1:
# `(3, 1)`. With `keepdims=True` it is already there. `axis` can be `None` (all axes),
# an int (possibly negative) or a tuple of ints.
#
# <details><summary>Hint</summary>
#
# Turn `axis` into a tuple of non-negative ints (`None` → all axes; `ax % a.ndim`). If
# not `keepdims`, `g = np.expand_dims(grad_out, axes)` (it accepts a tuple). Then
# `np.broadcast_to(g, a.shape)`, and `.copy()` it: `broadcast_to` returns a read-only view.
# </details>

# %% nbgrader={"solution": true, "grade_id": "sum_backward"} exercise={"difficulty": 3, "importance": 4, "minutes": 12}
def sum_backward(grad_out: np.ndarray, a: np.ndarray, axis=None, keepdims: bool = False) -> np.ndarray:
    """Gradient of a.sum(axis=axis, keepdims=keepdims).

    grad_out: float64, the shape of the sum.
    a: float64 array of any shape (0-d included); axis: None, an int (may be negative) or a
    tuple of ints, as np.sum takes it.
    Returns grad_a of a's shape: grad_out copied along the summed axes.
    """
    ### BEGIN SOLUTION
    if axis is None:
        axes = tuple(range(a.ndim))
    else:
        axes = tuple(ax % a.ndim for ax in (axis if isinstance(axis, tuple) else (axis,)))
    g = grad_out if keepdims else np.expand_dims(grad_out, axes)
    return np.broadcast_to(g, a.shape).copy()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sum_backward_test", "points": 2}
rng = np.random.default_rng(4)
a = rng.standard_normal((3, 4))
for axis, keepdims in [(None, False), (0, False), (1, False), (1, True), (None, True)]:
    gradcheck.check_backward("sum_backward", sum_backward, lambda t, axis=axis, keepdims=keepdims: t.sum(dim=axis, keepdim=keepdims), {"a": a},
                             args=(axis, keepdims), hint=f"a {a.shape}.sum(axis={axis}, keepdims={keepdims}): put the "
                             "reduced axes back as size 1 (np.expand_dims), then broadcast to a's shape")
checks.assert_close("sum_backward", sum_backward(np.array([1.0, 2.0]), np.zeros((2, 3)), 1, False),
                    np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]), name="sum_backward([1, 2], a of shape (2, 3), axis=1)",
                    hint="use the function's arguments, not the notebook's variables of the same name")
print("sum_backward: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(14)
for _shape, _axis, _keep in [((2, 3, 4), (0, 2), False), ((2, 3, 4), (0, 2), True), ((2, 3, 4), -1, False),
                             ((2, 3, 4), (-1, 0), False), ((5,), 0, False), ((5,), None, False), ((), None, False),
                             ((0, 3), 0, False), ((3, 1), 1, False), ((2, 3, 4), 1, True)]:
    gradcheck.check_backward("sum_backward", sum_backward, lambda t, _axis=_axis, _keep=_keep: t.sum(dim=_axis, keepdim=_keep),
                             {"a": _rng.standard_normal(_shape)}, args=(_axis, _keep),
                             hint=f"a of shape {_shape}, axis={_axis}, keepdims={_keep}")
_aT = _rng.standard_normal((4, 3)).T
gradcheck.check_backward("sum_backward", sum_backward, lambda t: t.sum(dim=0), {"a": _aT}, args=(0, False))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 8: mean over axes
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 8 minutes, then look at the hint.
#
# A mean is a sum divided by the number of elements averaged, $n$ = the product of the
# sizes of the reduced axes. So the gradient is `sum_backward`'s divided by $n$: each
# input element gets $1/n$ of its output element's gradient. For `a` of shape `(3, 4)`
# and `axis=1`, $n = 4$; for `axis=None`, $n = 12$.
#
# <details><summary>Hint</summary>
#
# Reuse `sum_backward(grad_out, a, axis, keepdims)`. For $n$: `a.size // out_size`,
# where `out_size = np.size(grad_out)`, fails when `a` is empty; it is safer to multiply
# `a.shape[ax]` over the reduced axes (`math.prod`).
# </details>

# %% nbgrader={"solution": true, "grade_id": "mean_backward"} exercise={"difficulty": 2, "importance": 3, "minutes": 8}
def mean_backward(grad_out: np.ndarray, a: np.ndarray, axis=None, keepdims: bool = False) -> np.ndarray:
    """Gradient of a.mean(axis=axis, keepdims=keepdims).

    grad_out: float64, the shape of the mean.
    a: float64 array of any shape, at least one element along the reduced axes; axis: None,
    an int (may be negative) or a tuple of ints.
    Returns grad_a of a's shape: grad_out copied along the reduced axes, divided by the
    number of elements averaged.
    """
    ### BEGIN SOLUTION
    if axis is None:
        axes = tuple(range(a.ndim))
    else:
        axes = tuple(ax % a.ndim for ax in (axis if isinstance(axis, tuple) else (axis,)))
    n = math.prod(a.shape[ax] for ax in axes)
    return sum_backward(grad_out, a, axis, keepdims) / n
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "mean_backward_test", "points": 1}
rng = np.random.default_rng(5)
a = rng.standard_normal((3, 4))
for axis, keepdims in [(None, False), (0, False), (1, True)]:
    gradcheck.check_backward("mean_backward", mean_backward, lambda t, axis=axis, keepdims=keepdims: t.mean(dim=axis, keepdim=keepdims),
                             {"a": a}, args=(axis, keepdims),
                             hint=f"axis={axis}: divide by the number of elements averaged, not by a.size")
checks.assert_close("mean_backward", mean_backward(np.ones(2), np.zeros((2, 5)), 1, False), np.full((2, 5), 0.2),
                    name="mean_backward(ones(2), a of shape (2, 5), axis=1)", hint="each of the 5 averaged entries gets 1/5; " + "use the function's arguments, not the notebook's variables of the same name")
print("mean_backward: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(15)
for _shape, _axis, _keep in [((2, 3, 4), (0, 2), False), ((2, 3, 4), -1, True), ((5,), None, False),
                             ((), None, False), ((1, 7), 0, False), ((0, 3), 1, False), ((2, 3, 4), (-2, -1), False)]:
    gradcheck.check_backward("mean_backward", mean_backward, lambda t, _axis=_axis, _keep=_keep: t.mean(dim=_axis, keepdim=_keep),
                             {"a": _rng.standard_normal(_shape)}, args=(_axis, _keep),
                             hint=f"a of shape {_shape}, axis={_axis}: n is the product of the reduced axes' sizes")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercises 9–11: `exp`, `log` and `relu`
#
# Element-wise functions are the easy case: $y_i = f(a_i)$ depends on $a_i$ alone, so the
# Jacobian is diagonal and the vector-Jacobian product is an element-wise product:
#
# $$\texttt{grad\_a} = \texttt{grad\_out} \odot f'(a).$$
#
# | $f(a)$ | $f'(a)$ | note |
# |---|---|---|
# | $e^a$ | $e^a$ | the forward output `out` is passed in: reuse it rather than computing `exp` again |
# | $\log a$ | $1/a$ | $a > 0$ |
# | $\max(a, 0)$ | 1 where $a > 0$, else 0 | at exactly $a = 0$ PyTorch (and we) use 0 |
#
# Forgetting the `grad_out ⊙` part is the classic mistake: it returns $f'(a)$, correct
# only when `grad_out` is all ones (as when the op is the last one before the loss).
#
# ### Exercise 9: `exp`
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 3 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# `grad_out` times the derivative of $e^a$, which is the forward output `out` itself.
# </details>

# %% nbgrader={"solution": true, "grade_id": "exp_backward"} exercise={"difficulty": 1, "importance": 3, "minutes": 3}
def exp_backward(grad_out: np.ndarray, a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Gradient of np.exp(a).

    grad_out, a, out: float64 arrays of the same shape; out == np.exp(a) (the forward result).
    Returns grad_a, a's shape.
    """
    ### BEGIN SOLUTION
    return grad_out * out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "exp_backward_test", "points": 1}
rng = np.random.default_rng(6)
a = rng.standard_normal((3, 4))
gradcheck.check_backward("exp_backward", exp_backward, torch.exp, {"a": a}, args=(np.exp(a),),
                         hint="chain rule: grad_out * exp(a)")
print("exp_backward: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(16)
for _a in [_rng.standard_normal((2, 3, 4)) * 3, np.array(0.7), np.zeros((0, 2)), _rng.standard_normal((6, 4))[::2].T]:
    gradcheck.check_backward("exp_backward", exp_backward, torch.exp, {"a": _a}, args=(np.exp(_a),),
                             hint=f"a of shape {_a.shape}: grad_out * exp(a)")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 10: `log`
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 3 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# `grad_out` times the derivative of $\log a$, which is $1/a$.
# </details>

# %% nbgrader={"solution": true, "grade_id": "log_backward"} exercise={"difficulty": 1, "importance": 3, "minutes": 3}
def log_backward(grad_out: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Gradient of np.log(a).

    grad_out, a: float64 arrays of the same shape, a > 0.
    Returns grad_a, a's shape.
    """
    ### BEGIN SOLUTION
    return grad_out / a
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "log_backward_test", "points": 1}
rng = np.random.default_rng(7)
gradcheck.check_backward("log_backward", log_backward, torch.log, {"a": rng.uniform(0.1, 3.0, size=(3, 4))},
                         hint="chain rule: grad_out * (1 / a)")
print("log_backward: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(17)
for _a in [_rng.uniform(1e-3, 1e3, size=(2, 3, 4)), np.array(2.5), np.ones((0, 3)), _rng.uniform(0.5, 2, (4, 6))[:, ::3]]:
    gradcheck.check_backward("log_backward", log_backward, torch.log, {"a": _a},
                             hint=f"a of shape {_a.shape}: grad_out / a")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 11: `relu`
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 1 point · about 5 minutes, then look at the hint.
#
# ReLU passes the gradient where its input was positive and blocks it elsewhere. A unit
# whose input is negative for every example gets no gradient at all, so its weights never
# change: a "dead" ReLU. You will meet the same phenomenon as dead latents in sparse
# autoencoders (lesson 4.3).
#
# <details><summary>Hint</summary>
#
# The comparison `a > 0` is a boolean array, and booleans multiply as 0 and 1.
# </details>

# %% nbgrader={"solution": true, "grade_id": "relu_backward"} exercise={"difficulty": 1, "importance": 4, "minutes": 5}
def relu_backward(grad_out: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Gradient of np.maximum(a, 0).

    grad_out, a: float64 arrays of the same shape.
    Returns grad_a, a's shape: grad_out where a > 0, and 0 where a <= 0 (a == 0 included).
    """
    ### BEGIN SOLUTION
    return grad_out * (a > 0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "relu_backward_test", "points": 1}
rng = np.random.default_rng(8)
gradcheck.check_backward("relu_backward", relu_backward, torch.relu, {"a": rng.standard_normal((3, 4))},
                         hint="grad_out where a > 0, 0 elsewhere")
checks.assert_close("relu_backward", relu_backward(np.ones(3), np.array([-1.0, 0.0, 2.0])), np.array([0.0, 0.0, 1.0]),
                    name="relu_backward at a = [-1, 0, 2]", hint="at a == 0 the gradient is 0: the mask is a > 0, not a >= 0")
print("relu_backward: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(18)
_a = np.array([[-1.0, 0.0, 2.0], [0.0, 3.0, -0.5]])
gradcheck.check_backward("relu_backward", relu_backward, torch.relu, {"a": _a},
                         hint="at exactly a == 0 the gradient is 0 (a > 0, not a >= 0)")
for _a in [np.array(1.5), np.array(-1.5), np.zeros((0, 4)), _rng.standard_normal((5, 6))[1::2, ::2]]:
    gradcheck.check_backward("relu_backward", relu_backward, torch.relu, {"a": _a}, hint=f"a of shape {_a.shape}")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 12: indexing
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 12 minutes, then look at the hint.
#
# `y = a[index]` picks elements of `a` (an int, a slice, an integer array, a boolean
# mask, or a tuple of these). Picked elements get the gradient of the place they went
# to; the others get 0. So: start from zeros of `a`'s shape and put `grad_out` back where
# the elements came from.
#
# The trap is an element picked **twice**. `a[[0, 2, 2]]` uses `a[2]` twice, so `a[2]`
# must receive the *sum* of two gradients (the same rule again: a value used twice gets the
# sum). Plain assignment `g[index] = grad_out` keeps only one of them, and
# `g[index] += grad_out` does too (NumPy's buffered `+=` on a fancy index adds each
# repeated position once). `np.add.at(g, index, grad_out)` is the unbuffered version that
# adds every occurrence. This is exactly how the gradient of an embedding table works: a
# token that appears three times in a batch gets three contributions.
#
# <details><summary>Hint</summary>
#
# **The idea.** Indexing picks some elements of `a`; the gradient flows back only to the elements
# that were picked, and an element picked twice receives both contributions.
#
# **A pointer.** Start from an array of zeros shaped like `a`. Plain `g[index] += grad_out` does not
# accumulate repeated indices (try it with `index = [0, 0]`); numpy has an unbuffered version of
# `add` for exactly this: look for its `.at` method.
# </details>

# %% nbgrader={"solution": true, "grade_id": "getitem_backward"} exercise={"difficulty": 3, "importance": 4, "minutes": 12}
def getitem_backward(grad_out: np.ndarray, a: np.ndarray, index) -> np.ndarray:
    """Gradient of a[index].

    grad_out: float64, the shape of a[index].
    a: float64 array; index: anything NumPy accepts: int, slice, int array (repeats
    allowed), boolean mask, Ellipsis, or a tuple of these.
    Returns grad_a of a's shape: zeros, plus grad_out added at every position it was
    picked from (a position picked k times gets the sum of its k gradients).
    """
    ### BEGIN SOLUTION
    g = np.zeros_like(a)
    np.add.at(g, index, grad_out)
    return g
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "getitem_backward_test", "points": 2}
rng = np.random.default_rng(9)
a = rng.standard_normal((4, 3))
repeat_hint = "a position picked twice must get both gradients: g[index] = ... keeps one; use np.add.at"
for index in [(slice(1, 3),), np.array([0, 2, 3]), np.array([2, 0, 2, 2])]:
    gradcheck.check_backward("getitem_backward", getitem_backward, lambda t, index=index: t[index], {"a": a}, args=(index,),
                             hint=repeat_hint)
checks.assert_close("getitem_backward", getitem_backward(np.ones(2), np.zeros(5), np.array([1, 1])),
                    np.array([0.0, 2.0, 0.0, 0.0, 0.0]), name="getitem_backward(ones(2), zeros(5), [1, 1])",
                    hint="position 1 is picked twice, so it gets both gradients (np.add.at); " + "use the function's arguments, not the notebook's variables of the same name")
print("getitem_backward: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(19)
_a = _rng.standard_normal((4, 3))
for _index in [1, (Ellipsis, 1), np.array([True, False, True, True]), (np.array([0, 1, 1, 3]), np.array([2, 0, 0, 2])),
               (slice(None), np.array([1, 1, 1])), (slice(None, None, 2), 0), np.array([], dtype=np.int64),
               np.array([[0, 3], [3, 3]])]:
    gradcheck.check_backward("getitem_backward", getitem_backward, lambda t, _index=_index: t[_index], {"a": _a},
                             args=(_index,), hint=f"index {_index!r}: " + repeat_hint)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercises 13–15: reshape, permute and max
#
# Three more ops, and every transformer uses all of them: attention reshapes
# `(batch, seq, d_model)` into `(batch, seq, n_heads, d_head)`, permutes the heads to the
# front, and a numerically stable softmax subtracts each row's **max**. Two of them move
# numbers around without changing any of them, so their backward passes only move the
# gradient back; the third picks one element per row, like indexing with an index it
# computes itself.
#
# The `Tensor` class gets them here (the class above stays as it was; these lines add methods
# to it, the way a library grows):

# %%
def _tensor_reshape(self, *shape):
    a = self.data
    return Tensor(a.reshape(*shape), (self,), lambda g: (reshape_backward(g, a),), op="reshape")


def _tensor_permute(self, *axes):
    a = self.data
    axes = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
    return Tensor(a.transpose(axes), (self,), lambda g: (permute_backward(g, a, axes),), op="permute")


def _tensor_max(self, axis=None, keepdims=False):
    a = self.data
    return Tensor(a.max(axis=axis, keepdims=keepdims), (self,),
                  lambda g: (max_backward(g, a, axis, keepdims),), op="max")


Tensor.reshape, Tensor.permute, Tensor.max = _tensor_reshape, _tensor_permute, _tensor_max

# %% [markdown]
# ### Exercise 13: `reshape`
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 4 minutes, then look at the hint.
#
# `y = a.reshape(new_shape)` reads `a`'s elements in row-major order and lays them out in a
# new shape. Element $k$ of the flat order is the same number before and after, so its
# gradient is too: the gradient of `a` is `grad_out`, laid out in `a`'s shape again.
#
# <details><summary>Hint</summary>
#
# **The idea.** Nothing is computed, only re-labelled: the gradient keeps its numbers and gets
# `a`'s labels (shape) back.
#
# **A pointer.** The shape to go back to is the shape of one of the arguments.
# </details>

# %% nbgrader={"solution": true, "grade_id": "reshape_backward"} exercise={"difficulty": 1, "importance": 3, "minutes": 4}
def reshape_backward(grad_out: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Gradient of a.reshape(...): grad_out (the new shape) laid out in a's shape."""
    ### BEGIN SOLUTION
    return grad_out.reshape(a.shape)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "reshape_backward_test", "points": 1}
rng = np.random.default_rng(31)
for shape, new_shape in [((2, 6), (3, 4)), ((2, 3, 4), (6, 4)), ((12,), (2, 2, 3))]:
    gradcheck.check_backward("reshape_backward", reshape_backward, lambda t, new_shape=new_shape: t.reshape(new_shape),
                             {"a": rng.standard_normal(shape)},
                             hint=f"a {shape} reshaped to {new_shape}: the gradient goes back to a's shape")
print("reshape_backward: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(32)
for _shape, _new in [((), (1, 1)), ((1, 1), ()), ((0, 3), (3, 0)), ((4, 3), (-1,)), ((2, 3, 4), (4, 3, 2))]:
    gradcheck.check_backward("reshape_backward", reshape_backward, lambda t, _new=_new: t.reshape(_new),
                             {"a": _rng.standard_normal(_shape)}, hint=f"a {_shape} reshaped to {_new}")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 14: `permute`
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# `y = a.permute(axes)` (NumPy: `a.transpose(axes)`) reorders the axes: axis `i` of `y` is
# axis `axes[i]` of `a`, so `y.shape[i] == a.shape[axes[i]]`. As with `reshape`, every
# number keeps its value, so the gradient only has to be put back in `a`'s axis order.
#
# Predict before you write it: for a matrix, `axes = (1, 0)`, and the way back is the same
# transpose again. Is the way back *always* `axes` again? Try `axes = (1, 2, 0)` on a tensor
# of shape `(2, 3, 4)` in a scratch cell, and look at the shapes.
#
# <details><summary>Hint</summary>
#
# **The idea.** You need the *inverse* permutation: the one that undoes `axes`. A swap is
# its own inverse; a cycle of three axes is not.
#
# **A pointer.** If `axes[i] == j` (output axis `i` came from input axis `j`), the inverse
# sends `j` back to `i`. NumPy has a function that returns, for each value, where it sits
# in a sorted order, which is exactly that.
# </details>

# %% nbgrader={"solution": true, "grade_id": "permute_backward"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def permute_backward(grad_out: np.ndarray, a: np.ndarray, axes: tuple) -> np.ndarray:
    """Gradient of a.transpose(axes).

    grad_out: the shape of a.transpose(axes).
    a: float64 array; axes: a permutation of range(a.ndim), as np.transpose takes it.
    Returns grad_a of a's shape.
    """
    ### BEGIN SOLUTION
    return grad_out.transpose(np.argsort(axes))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "permute_backward_test", "points": 2}
rng = np.random.default_rng(33)
cycle_hint = ("the way back is the inverse permutation: transposing by `axes` again only undoes a swap, "
              "not a cycle such as (1, 2, 0)")
for shape, axes in [((3, 4), (1, 0)), ((2, 3, 4), (0, 2, 1)), ((2, 3, 4), (1, 2, 0)), ((2, 3, 4), (2, 0, 1))]:
    gradcheck.check_backward("permute_backward", permute_backward, lambda t, axes=axes: t.permute(axes),
                             {"a": rng.standard_normal(shape)}, args=(axes,), hint=f"a {shape}, axes {axes}: {cycle_hint}")
g_perm = np.arange(24.0).reshape(3, 4, 2)  # the gradient of a (2, 3, 4) array permuted by (1, 2, 0)
checks.assert_close("permute_backward", permute_backward(g_perm, np.zeros((2, 3, 4)), (1, 2, 0)), g_perm.transpose(2, 0, 1),
                    name="permute_backward(g, a of shape (2, 3, 4), (1, 2, 0))",
                    hint="use the function's arguments, not the notebook's variables of the same name")
print("permute_backward: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(34)
for _shape, _axes in [((5,), (0,)), ((2, 3, 4, 5), (3, 1, 0, 2)), ((2, 3, 4, 5), (1, 2, 3, 0)), ((0, 2, 3), (2, 0, 1)),
                      ((2, 3, 4), (0, 1, 2))]:
    gradcheck.check_backward("permute_backward", permute_backward, lambda t, _axes=_axes: t.permute(_axes),
                             {"a": _rng.standard_normal(_shape)}, args=(_axes,), hint=f"a {_shape}, axes {_axes}: {cycle_hint}")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 15: `max` over axes
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 15 minutes, then look at the hint.
#
# `y = a.max(axis, keepdims)` keeps one element per reduced group, so only that element
# moves the output: it gets the group's gradient, and every other element gets 0. (That is
# why a stable softmax may subtract the max without a second thought: its gradient goes
# to one element per row, and it cancels anyway.)
#
# Two details:
# - **Shapes**, exactly as in `sum_backward`: put the reduced axes back as size 1 before
#   comparing or broadcasting. `axis` is `None`, an int (possibly negative) or a tuple.
# - **Ties.** When two elements of a group are both the maximum, the max is not
#   differentiable there. We follow `torch.amax`: the tied elements **share** the group's
#   gradient equally. Giving each of them the whole gradient would count it twice.
#
# <details><summary>Hint</summary>
#
# **The idea.** Build a mask of "this element equals its group's max", share each group's
# gradient among its mask's elements, and leave zeros elsewhere.
#
# **A pointer.** Reduce with `keepdims=True` so the max and the count of maxima per group
# broadcast against `a`; the axes tuple from your `sum_backward` helps for `grad_out` when
# `keepdims` is False.
# </details>

# %% nbgrader={"solution": true, "grade_id": "max_backward"} exercise={"difficulty": 3, "importance": 3, "minutes": 15}
def max_backward(grad_out: np.ndarray, a: np.ndarray, axis=None, keepdims: bool = False) -> np.ndarray:
    """Gradient of a.max(axis=axis, keepdims=keepdims), as torch.amax defines it.

    grad_out: float64, the shape of the max.
    a: float64 array (not empty along the reduced axes); axis: None, an int (may be negative)
    or a tuple of ints.
    Returns grad_a of a's shape: each group's gradient shared equally among the elements
    equal to the group's max, 0 elsewhere.
    """
    ### BEGIN SOLUTION
    if axis is None:
        axes = tuple(range(a.ndim))
    else:
        axes = tuple(ax % a.ndim for ax in (axis if isinstance(axis, tuple) else (axis,)))
    g = grad_out if keepdims else np.expand_dims(grad_out, axes)
    is_max = a == a.max(axis=axes, keepdims=True)
    return is_max * g / is_max.sum(axis=axes, keepdims=True)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "max_backward_test", "points": 2}
rng = np.random.default_rng(35)
a = rng.standard_normal((3, 4))
for axis, keepdims in [(None, False), (1, False), (0, True), (-1, True)]:
    gradcheck.check_backward("max_backward", max_backward, lambda t, axis=axis, keepdims=keepdims: t.amax(dim=axis, keepdim=keepdims) if axis is not None else t.amax(),
                             {"a": a}, args=(axis, keepdims),
                             hint=f"a {a.shape}.max(axis={axis}, keepdims={keepdims}): only the maximum of each group gets "
                             "its group's gradient; put the reduced axes back as size 1 first")
ties = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]])
checks.assert_close("max_backward", max_backward(np.array([1.0, 1.0]), ties.T, 0, False),
                    np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]]).T, name="max_backward(ones(2), [[1, 2], [3, 0], [3, -1]], axis=0)",
                    hint="two tied maxima share their row's gradient (0.5 each), as torch.amax does; "
                    "use the function's arguments, not the notebook's variables")
print("max_backward: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(36)
for _shape, _axis, _keep in [((2, 3, 4), (0, 2), False), ((2, 3, 4), (-1, 0), True), ((5,), 0, False), ((), None, False),
                             ((3, 1), 1, False), ((2, 3, 4), 1, True)]:
    gradcheck.check_backward("max_backward", max_backward,
                             lambda t, _axis=_axis, _keep=_keep: t.amax(dim=_axis, keepdim=_keep) if _axis is not None else t.amax(),
                             {"a": _rng.standard_normal(_shape)}, args=(_axis, _keep),
                             hint=f"a of shape {_shape}, axis={_axis}, keepdims={_keep}")
_tied = np.array([[2.0, 2.0, 2.0, 1.0], [5.0, 5.0, -1.0, 5.0]])
gradcheck.check_backward("max_backward", max_backward, lambda t: t.amax(dim=1), {"a": _tied}, args=(1, False),
                         hint="three tied maxima share the row's gradient in thirds")
gradcheck.check_backward("max_backward", max_backward, lambda t: t.amax(), {"a": _tied}, args=(None, False),
                         hint="axis=None: the whole array is one group; its three 5s share the gradient")
### END HIDDEN TESTS

# %% [markdown]
# Attention's reshape-and-permute, through your engine: split `(batch, seq, d_model)` into
# heads, move the head axis forward, take each row's max, and compare every gradient with
# torch.

# %%
def heads_then_max(x):
    """(2, 5, 6) -> (2, 3 heads, 5, 2) -> the max over each head's last axis, summed."""
    h = x.reshape(2, 5, 3, 2).permute(0, 2, 1, 3)
    return h.max(axis=-1).sum() if isinstance(x, Tensor) else h.amax(dim=-1).sum()


try:
    errors = gradcheck.check_graph("max_backward", heads_then_max, {"x": np.random.default_rng(37).standard_normal((2, 5, 6))},
                                   Tensor)
    print("reshape -> permute -> max through the engine:\n" + gradcheck.gradient_table(errors))
except NotImplementedError:
    print("(implement exercises 13-15 to run this)")


# %% [markdown]
# ## The whole engine against torch and finite differences
#
# Each op is right on its own. Now the real test: random functions built from all of
# them (shared nodes, broadcast shapes, reductions, repeated indices) run through your
# `Tensor` engine, forward and `.backward()`, compared with `torch.autograd` on the same
# function and with **central finite differences**, the definition of a derivative with
# a small step $\varepsilon$:
#
# $$\frac{\partial L}{\partial x_i} \approx \frac{L(x + \varepsilon e_i) - L(x - \varepsilon e_i)}{2 \varepsilon}.$$
#
# The central difference has an error of order $\varepsilon^2$; with $\varepsilon =
# 10^{-6}$ in float64 it agrees with the exact gradient to about 8 digits. It needs two
# forward passes *per input element*, which is why nobody trains with it, and why it is
# the gold standard for checking a gradient on a small input.
#
# `random_graph(seed)` (given) builds such a function from a seeded program of 5–9 ops
# over 2–3 inputs of shapes like `(3, 4)`, `(4,)`, `(3, 1)`, `()`. The functions only use
# operators and methods that torch tensors have as well (`+`, `*`, `@`, `.sum(axis=...)`,
# `.exp()`, `.relu()`, indexing), so the same Python function runs on both.

# %%
def random_graph(seed):
    """A random scalar function of 2-3 arrays built from the engine's ops.

    Returns (fn, inputs, description): fn(*tensors) works on Tensors and on torch tensors;
    inputs maps names to float64 arrays; description lists the program, one op per item.
    """
    rng = np.random.default_rng(seed)
    shapes = [(4,), (3, 1), (1, 4), (), (4, 2), (3, 4)]
    n_inputs = int(rng.integers(2, 4))
    picks = rng.choice(len(shapes), size=n_inputs - 1, replace=False, p=[0.15, 0.15, 0.15, 0.1, 0.3, 0.15])
    input_shapes = [(3, 4)] + [shapes[i] for i in picks]
    inputs = {f"x{i}": rng.standard_normal(s) for i, s in enumerate(input_shapes)}
    values, names = list(inputs.values()), list(inputs)  # numpy values, to choose well-behaved steps
    program, lines, used = [], [], set()
    n_steps = int(rng.integers(5, 10))
    while len(program) < n_steps:
        kind = str(rng.choice(["add", "mul", "matmul", "exp", "softplus", "relu", "sum", "mean", "getitem"]))
        unused = [k for k in range(len(values)) if k not in used]
        i = unused[0] if unused and rng.random() < 0.6 else int(rng.integers(len(values)))
        v, arg = values[i], None
        if kind in ("add", "mul"):
            partners = [j for j in range(len(values)) if _broadcasts(values[j].shape, v.shape)]
            arg = int(rng.choice(partners))
            new = v + values[arg] if kind == "add" else v * values[arg]
        elif kind == "matmul":
            partners = [j for j in range(len(values)) if v.ndim == 2 and values[j].ndim == 2
                        and values[j].shape[0] == v.shape[1] and values[j].size > 0]
            if not partners:
                continue
            arg = int(rng.choice(partners))
            new = v @ values[arg]
        elif kind == "exp":
            if v.size == 0 or np.abs(v).max() > 2:
                continue
            new = np.exp(v)
        elif kind == "softplus":  # log(exp(v) + 1): exercises exp, + with a number, log
            if v.size == 0 or v.max() > 10:
                continue
            new = np.log(np.exp(v) + 1)
        elif kind == "relu":
            new = np.maximum(v, 0)
        elif kind in ("sum", "mean"):
            if v.ndim == 0:
                continue
            arg = ([None, 0, -1][int(rng.integers(3))], bool(rng.integers(2)))
            new = getattr(v, kind)(axis=arg[0], keepdims=arg[1])
        else:  # getitem: rows picked with repeats, or columns
            if v.ndim == 0:
                continue
            rows = rng.integers(0, v.shape[0], size=3)
            arg = (slice(None), rng.integers(0, v.shape[1], size=3)) if v.ndim == 2 and rng.random() < 0.5 else rows
            new = v[arg]
        program.append((kind, i, arg))
        used.update({i} | ({arg} if isinstance(arg, int) else set()))
        names.append(f"v{len(values)}")
        values.append(new)
        lines.append(f"{names[-1]} = {_show(kind, names[i], arg, names)}  {tuple(new.shape)}")
    sinks = [k for k in range(len(values)) if k not in used]
    lines.append("out = " + " + ".join(f"{names[k]}.mean()" for k in sinks))

    def fn(*xs):
        vals = list(xs)
        for kind, i, arg in program:
            v = vals[i]
            if kind == "add":
                vals.append(v + vals[arg])
            elif kind == "mul":
                vals.append(v * vals[arg])
            elif kind == "matmul":
                vals.append(v @ vals[arg])
            elif kind == "exp":
                vals.append(v.exp())
            elif kind == "softplus":
                vals.append((v.exp() + 1.0).log())
            elif kind == "relu":
                vals.append(v.relu())
            elif kind in ("sum", "mean"):
                vals.append(getattr(v, kind)(axis=arg[0], keepdims=arg[1]))
            else:
                vals.append(v[arg])
        out = vals[sinks[0]].mean()
        for k in sinks[1:]:
            out = out + vals[k].mean()
        return out

    return fn, inputs, lines


def _broadcasts(s, t):
    try:
        np.broadcast_shapes(s, t)
        return True
    except ValueError:
        return False


def _show(kind, a, arg, names):
    if kind in ("add", "mul", "matmul"):
        return f"{a} {dict(add='+', mul='*', matmul='@')[kind]} {names[arg]}"
    if kind in ("sum", "mean"):
        return f"{a}.{kind}(axis={arg[0]}, keepdims={arg[1]})"
    if kind == "getitem":
        return f"{a}[{', '.join(':' if isinstance(x, slice) else str(x.tolist()) for x in arg)}]" if isinstance(
            arg, tuple) else f"{a}[{arg.tolist()}]"
    return f"{a}.{kind}()" if kind != "softplus" else f"({a}.exp() + 1).log()"


fn_demo, inputs_demo, lines_demo = random_graph(5)
print("random_graph(5), inputs", {k: v.shape for k, v in inputs_demo.items()})
print("\n".join("    " + line for line in lines_demo))

# %% [markdown]
# The test below runs 12 such graphs. For the first one it prints the Karpathy-style
# comparison: the largest difference between your gradient and torch's, and between your
# gradient and the finite differences. Expect about $10^{-16}$ against torch (the same
# arithmetic in a different order) and $10^{-9}$ to $10^{-11}$ against finite differences.
# If a graph fails, the message names the input whose gradient is wrong and lists the
# graph's program: look for the op your earlier tests did not cover. This is the second
# test of the `backward` exercise, worth 3 more points.

# %% nbgrader={"grade": true, "grade_id": "backward_test_2", "points": 3}
for seed in range(12):
    fn, inputs, lines = random_graph(seed)
    errors = gradcheck.check_graph("backward", fn, inputs, Tensor, hint=f"random_graph({seed}): " + "; ".join(lines))
    if seed == 0:
        print("random_graph(0):\n" + gradcheck.gradient_table(errors) + "\n")
print("backward: 12 random graphs match torch.autograd and finite differences")
### BEGIN HIDDEN TESTS
for _seed in range(100, 140):
    _fn, _inputs, _lines = random_graph(_seed)
    # forward and gradients both against torch: finite differences of the same forward add nothing
    # here (the visible graphs above show them), and cost two calls into the engine per element
    gradcheck.check_graph("backward", _fn, _inputs, Tensor, finite_differences=False,
                          hint=f"random_graph({_seed}): " + "; ".join(_lines))
### END HIDDEN TESTS

# %% [markdown]
# ## Why this matters for safety
#
# Gradients are the cheapest view of what a model responds to, and safety research uses them far
# beyond training. Saliency maps are the gradient of an output with respect to the input
# (Simonyan, Vedaldi and Zisserman 2014, "Deep Inside Convolutional Networks"). Attribution
# patching replaces thousands of activation-patching runs with one backward pass, a first-order
# estimate of every component's effect (Syed, Rager and Conmy 2023, "Attribution Patching
# Outperforms Automated Circuit Discovery"). Adversarial attacks, from image perturbations to the
# jailbreak suffixes of Zou et al. (2023), follow the gradient of a loss with respect to the input.
# Each of them is only as good as the vector-Jacobian products you just wrote, for every op and
# every broadcast shape. When an attribution looks strange, checking the gradient against finite
# differences tells you whether the model is strange or your code is.

# %% [markdown]
# # Part 3: training a network with your engine
#
# ## Exercise 16: cross-entropy from engine ops
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 20 minutes, then look at the hint.
#
# A classifier outputs *logits* $z \in \mathbb{R}^{n \times C}$ ($n$ examples, $C$
# classes). The cross-entropy loss is the mean over examples of minus the log-probability
# that the softmax gives the right class $y_i$:
#
# $$\log p_{ic} = z_{ic} - \log \sum_{c'} e^{z_{ic'}}, \qquad
# \mathcal{L} = -\frac1n \sum_i \log p_{i, y_i}.$$
#
# Build it from `Tensor` operations (`-`, `.exp()`, `.sum(axis=..., keepdims=True)`,
# `.log()`, indexing, `.mean()`) so that your engine differentiates it. You never write
# its gradient by hand. (It comes out as $(\mathrm{softmax}(z) - \mathrm{onehot}(y))/n$;
# the test checks yours against `F.cross_entropy`.)
#
# **Stability.** $e^{z}$ overflows for logits above about 709. As in lesson 0.1, subtract
# the row maximum first: $\log p$ does not change when every logit of a row moves by the
# same amount. Take the maximum from `logits.data` and wrap it as a constant
# `Tensor(...)`: it does not need a gradient, and because the result does not depend on
# it, treating it as a constant is exact.
#
# To pick $\log p_{i, y_i}$ for every row at once, index with two arrays:
# `logp[np.arange(n), y]` (a `getitem`, so its gradient flows).
#
# <details><summary>Hint</summary>
#
# Three lines. (1) `shifted` = `logits` minus a constant `Tensor` holding each row's
# maximum (`max(axis=1, keepdims=True)` of `logits.data`, so that it broadcasts over the
# row). (2) `logp` = `shifted` minus the log of the row sums (`keepdims=True` again) of
# `shifted.exp()`. (3) Pick `logp[np.arange(len(y)), y]`, take the mean, negate.
# </details>

# %% nbgrader={"solution": true, "grade_id": "cross_entropy"} exercise={"difficulty": 3, "importance": 5, "minutes": 20}
def cross_entropy(logits: Tensor, y: np.ndarray) -> Tensor:
    """Mean cross-entropy of softmax(logits) against integer labels, built from Tensor ops.

    logits: Tensor of shape (n, C), n >= 1; values may be large (e.g. 1000).
    y: int array of shape (n,), labels in [0, C).
    Returns a 0-d Tensor whose graph leads back to logits (so .backward() fills logits.grad).
    """
    ### BEGIN SOLUTION
    shifted = logits - Tensor(logits.data.max(axis=1, keepdims=True))
    logp = shifted - shifted.exp().sum(axis=1, keepdims=True).log()
    return -logp[np.arange(len(y)), y].mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "cross_entropy_test", "points": 3}
rng = np.random.default_rng(20)
logits = rng.standard_normal((5, 4))
y = np.array([0, 3, 3, 1, 2])
print(gradcheck.gradient_table(gradcheck.check_graph(
    "cross_entropy", lambda z: cross_entropy(z, y), {"logits": logits}, Tensor,
    torch_fn=lambda z: F.cross_entropy(z, torch.as_tensor(y)),
    hint="build the loss from Tensor ops only, so that the engine can differentiate it")))
far = np.array([[0.0, 1.0, 2.0], [-1000.0, -999.0, -998.0], [0.0, 800.0, 0.0]])
y_far = np.array([2, 0, 1])
checks.assert_close("cross_entropy", float(cross_entropy(Tensor(far), y_far).data),
                    float(F.cross_entropy(torch.as_tensor(far), torch.as_tensor(y_far))),
                    name="the loss of rows far apart (-1000 and 800)",
                    hint="subtract each ROW's max (axis=1, keepdims=True) before exp; " + "use the function's arguments, not the notebook's variables of the same name")
print("cross_entropy: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(21)
_big = _rng.standard_normal((4, 6)) * 300 + 800
_yb = np.array([5, 0, 2, 2])
gradcheck.check_graph("cross_entropy", lambda z: cross_entropy(z, _yb), {"logits": _big}, Tensor,
                      torch_fn=lambda z: F.cross_entropy(z, torch.as_tensor(_yb)), finite_differences=False,
                      hint="logits around 800: subtract each row's max (as a constant Tensor) before exp")
_one = _rng.standard_normal((1, 3))
gradcheck.check_graph("cross_entropy", lambda z: cross_entropy(z, np.array([2])), {"logits": _one}, Tensor,
                      torch_fn=lambda z: F.cross_entropy(z, torch.tensor([2])), hint="a batch of one example")
_y32 = np.array([1, 0, 1], dtype=np.int32)
_l3 = _rng.standard_normal((3, 2))
gradcheck.check_graph("cross_entropy", lambda z: cross_entropy(z, _y32), {"logits": _l3}, Tensor,
                      torch_fn=lambda z: F.cross_entropy(z, torch.as_tensor(_y32, dtype=torch.long)),
                      hint="int32 labels, two classes");
### END HIDDEN TESTS

# %% [markdown]
# **What just happened.** You got the gradient of a softmax cross-entropy without deriving
# it: five ops, each with a backward function you already tested, composed by `backward`.
# The constant-max trick is worth remembering: a quantity the result does not depend on
# can be detached (`.detach()` in PyTorch) at no cost in correctness. The same trick, the
# other way round, is a classic bug: detaching something the result *does* depend on
# silently gives wrong gradients, and only a check like this one catches it.

# %% [markdown]
# ## Exercise 17: an MLP forward pass
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 5 minutes, then look at the hint.
#
# A two-layer perceptron: $\text{logits} = \mathrm{relu}(x W_1 + b_1)\, W_2 + b_2$, with
# $x$ of shape $(n, 64)$ (an 8×8 digit, flattened), $W_1$ $(64, h)$, $b_1$ $(h,)$, $W_2$
# $(h, 10)$, $b_2$ $(10,)$. The biases broadcast over the batch: your `unbroadcast` sums
# their gradients over the examples. `init_mlp` (given) makes the parameters: weights
# drawn from $\mathcal{N}(0, 2/\text{fan\_in})$ (He initialisation, which keeps the
# activations' scale steady through ReLU layers), biases zero.

# %%
def init_mlp(sizes, seed=0):
    """Parameters of an MLP with layer sizes e.g. [64, 128, 10]: {"W1", "b1", "W2", "b2", ...} -> Tensor."""
    rng = np.random.default_rng(seed)
    params = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{i}"] = Tensor(rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in), name=f"W{i}")
        params[f"b{i}"] = Tensor(np.zeros(fan_out), name=f"b{i}")
    return params


# %% [markdown]
# <details><summary>Hint</summary>
#
# One line: the formula above, written with `@`, `+` and `.relu()` on the `Tensor`s in
# `params`. Python's `@` binds tighter than `+`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "mlp_forward"} exercise={"difficulty": 1, "importance": 3, "minutes": 5}
def mlp_forward(params: dict, x: Tensor) -> Tensor:
    """Logits of a one-hidden-layer ReLU MLP.

    params: {"W1": Tensor (d, h), "b1": Tensor (h,), "W2": Tensor (h, C), "b2": Tensor (C,)}.
    x: Tensor of shape (n, d).
    Returns a Tensor of shape (n, C): relu(x @ W1 + b1) @ W2 + b2, built from Tensor ops.
    """
    ### BEGIN SOLUTION
    return (x @ params["W1"] + params["b1"]).relu() @ params["W2"] + params["b2"]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "mlp_forward_test", "points": 1}
def mlp_with(W1, b1, W2, b2, x):
    return mlp_forward({"W1": W1, "b1": b1, "W2": W2, "b2": b2}, x)


rng = np.random.default_rng(22)
mlp_inputs = {"W1": rng.standard_normal((6, 5)), "b1": rng.standard_normal(5), "W2": rng.standard_normal((5, 3)),
              "b2": rng.standard_normal(3), "x": rng.standard_normal((4, 6))}
gradcheck.check_graph("mlp_forward", mlp_with, mlp_inputs, Tensor,
                      torch_fn=lambda W1, b1, W2, b2, x: torch.relu(x @ W1 + b1) @ W2 + b2,
                      hint="relu(x @ W1 + b1) @ W2 + b2, with Tensor operations")
print("mlp_forward: visible tests pass")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(23)
_inp = {"W1": _rng.standard_normal((3, 7)), "b1": _rng.standard_normal(7), "W2": _rng.standard_normal((7, 2)),
        "b2": _rng.standard_normal(2), "x": _rng.standard_normal((1, 3))}
gradcheck.check_graph("mlp_forward", mlp_with, _inp, Tensor, finite_differences=False,
                      torch_fn=lambda W1, b1, W2, b2, x: torch.relu(x @ W1 + b1) @ W2 + b2,
                      hint="a batch of one example");
### END HIDDEN TESTS

# %% [markdown]
# The graph of one training step's loss, on a batch of 4 digits with a hidden layer of
# 8 units, drawn with your `topological_sort`. The constant leaves come from `-` (a
# multiplication by −1) and the stability shift.

# %%
tiny = init_mlp([64, 8, 10], seed=0)
x_train, y_train, x_test, y_test = data.digits()
try:
    draw_graph(cross_entropy(mlp_forward(tiny, Tensor(x_train[:4], name="x")), y_train[:4]),
               title="cross_entropy(mlp_forward(params, x), y)")
except NotImplementedError:
    print("(implement mlp_forward and cross_entropy to see the picture)")

# %% [markdown]
# ## Exercise 18: train it
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 15 minutes, then look at the hint.
#
# The training loop from lesson 0.3, with your engine in place of PyTorch. For each epoch,
# shuffle the training set, and for each mini-batch:
#
# 1. forward: `loss = cross_entropy(mlp_forward(params, Tensor(xb)), yb)`;
# 2. clear the old gradients: `p.grad = None` for every parameter (otherwise `backward`
#    adds this step's gradients to the last step's);
# 3. `loss.backward()`;
# 4. stochastic gradient descent: `p.data -= lr * p.grad` for every parameter;
# 5. record `float(loss.data)`.
#
# Draw the shuffles from `rng = np.random.default_rng(seed)` (`rng.permutation(n)` once
# per epoch) and make the parameters with `init_mlp([64, hidden, 10], seed)`, so that a
# run is reproducible. Wrap the epoch loop in `tqdm` to see a progress bar. With the
# defaults, training takes a few seconds and reaches about 95% test accuracy; the test asks
# for 90%.
#
# <details><summary>Hint</summary>
#
# Two loops: over `tqdm(range(epochs))`, and, inside it, over the start positions
# `range(0, n, batch_size)` of a fresh permutation. The indices of a batch are a slice
# of the permutation; index `x_train` and `y_train` with them. The last batch of an
# epoch may be smaller than `batch_size`; that is fine.
# </details>

# %% nbgrader={"solution": true, "grade_id": "train_mlp"} exercise={"difficulty": 2, "importance": 4, "minutes": 15}
def train_mlp(x_train: np.ndarray, y_train: np.ndarray, hidden: int = 128, epochs: int = 20,
              batch_size: int = 32, lr: float = 0.2, seed: int = 0) -> tuple[dict, list[float]]:
    """Train a 64-hidden-10 ReLU MLP on digits with the engine and plain SGD.

    x_train: float32 or float64 array (n, 64); y_train: int array (n,) of labels 0-9.
    Returns (params, losses): params as made by init_mlp([64, hidden, 10], seed), trained;
    losses: a list of Python floats, the mini-batch loss of every step, in order
    (epochs * ceil(n / batch_size) of them).
    """
    ### BEGIN SOLUTION
    params = init_mlp([64, hidden, 10], seed)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in tqdm(range(epochs), desc="epochs"):
        perm = rng.permutation(len(x_train))
        for start in range(0, len(x_train), batch_size):
            batch = perm[start:start + batch_size]
            loss = cross_entropy(mlp_forward(params, Tensor(x_train[batch])), y_train[batch])
            for p in params.values():
                p.grad = None
            loss.backward()
            for p in params.values():
                p.data -= lr * p.grad
            losses.append(float(loss.data))
    return params, losses
    ### END SOLUTION


# %% [markdown]
# The test trains with the defaults on the fixed split of `course.data.digits` (1,438
# training and 359 test images) and seed 0, then plots the loss of every step and a
# moving average.

# %%
def accuracy(params, x, y):
    """Fraction of examples whose largest logit is the right label."""
    return float((mlp_forward(params, Tensor(x)).data.argmax(axis=1) == y).mean())


# %% nbgrader={"grade": true, "grade_id": "train_mlp_test", "points": 3}
def check_training(result, steps):
    """Check train_mlp's result with the default settings, then plot its losses."""
    checks.assert_true("train_mlp", isinstance(result, tuple) and len(result) == 2,
                       f"train_mlp returned {type(result).__name__}; expected a tuple (params, losses)")
    params, losses = result
    checks.assert_true("train_mlp", isinstance(losses, list) and len(losses) == steps,
                       f"losses should be a list of {steps} floats (one per step), got {type(losses).__name__} of "
                       f"length {len(losses) if hasattr(losses, '__len__') else '?'}")
    checks.assert_true("train_mlp", all(isinstance(v, float) for v in losses),
                       "losses should hold Python floats: append float(loss.data)")
    test_acc = accuracy(params, x_test, y_test)
    print(f"train accuracy {accuracy(params, x_train, y_train):.3f}, test accuracy {test_acc:.3f}, "
          f"first loss {losses[0]:.3f}, mean of the last 50 steps {np.mean(losses[-50:]):.3f}")
    checks.assert_true("train_mlp", test_acc >= 0.90, f"test accuracy {test_acc:.3f} is below 0.90",
                       details=[f"loss went from {losses[0]:.3f} to {np.mean(losses[-50:]):.3f} (mean of the last 50)"],
                       hint="clear p.grad before each backward, update p.data -= lr * p.grad, and shuffle every epoch")
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(losses, lw=0.6, alpha=0.5, label="mini-batch loss")
    ax.plot(np.arange(49, len(losses)), np.convolve(losses, np.ones(50) / 50, mode="valid"), label="mean of 50 steps")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats)")
    ax.set_yscale("log")
    ax.set_title(f"an MLP trained with your engine: test accuracy {test_acc:.1%}")
    ax.legend()
    plt.show()


check_training(train_mlp(x_train, y_train, seed=0), steps=20 * math.ceil(len(x_train) / 32))
# 33 examples, all labelled 3, in batches of 32: 2 steps per epoch, and a model that learns to answer 3
_x33, _y33 = x_train[100:133], np.full(33, 3)
_p33, _l33 = train_mlp(_x33, _y33, hidden=8, epochs=10, batch_size=32, seed=1)
checks.assert_true("train_mlp", len(_l33) == 20, f"33 examples, batch_size 32, 10 epochs: expected 20 losses, got {len(_l33)}",
                   hint="range(0, n, batch_size): the last batch holds the 1 example left over")
checks.assert_true("train_mlp", accuracy(_p33, _x33, _y33) > 0.9,
                   "trained on labels that are all 3, the model does not answer 3",
                   hint="train on the x_train and y_train arguments, not the notebook's variables")
checks.assert_true("train_mlp", train_mlp(_x33, _y33, hidden=8, epochs=1, seed=2)[1] != _l33[:2],
                   "seed=1 and seed=2 give the same losses", hint="init_mlp(..., seed) and the shuffle use the seed argument")
### BEGIN HIDDEN TESTS
_res = train_mlp(x_train[:200], y_train[:200], hidden=16, epochs=2, batch_size=50, lr=0.1, seed=1)
checks.assert_true("train_mlp", isinstance(_res, tuple) and len(_res) == 2, "train_mlp should return (params, losses)")
_params, _losses = _res
checks.assert_true("train_mlp", isinstance(_losses, list) and len(_losses) == 8,
                   f"200 examples, batch_size 50, 2 epochs: expected 8 losses, got {len(_losses)}",
                   hint="one loss per step, in order; use the batch_size argument")
checks.assert_true("train_mlp", 1.5 < _losses[0] < 4.0,
                   f"the first loss is {_losses[0]:.3f}; with init_mlp's initialisation it should be near ln(10) = 2.3",
                   hint="record the loss of each step before updating")
_init = init_mlp([64, 16, 10], seed=1)
checks.assert_true("train_mlp", set(_params) == set(_init) and _params["W1"].shape == (64, 16),
                   "params should be init_mlp([64, hidden, 10], seed)'s dictionary, trained",
                   hint="use the hidden and seed arguments")
checks.assert_true("train_mlp", not np.allclose(_params["W2"].data, _init["W2"].data),
                   "W2 did not change during training", hint="update every parameter: p.data -= lr * p.grad")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 19: a `Module`, so a model carries its own parameters
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 12 minutes, then look at the hint.
#
# `train_mlp` kept the parameters in a dictionary and `mlp_forward` knew its keys. That
# does not scale: a transformer has blocks inside blocks, and the training loop should not
# know their names. PyTorch's answer is `nn.Module` (lesson 0.3): a model is an object whose
# attributes are its parameters and its sub-modules, and `model.parameters()` finds all of
# them by walking those attributes. Here is the same idea on your engine. `Module`,
# `Linear`, `ReLU` and `Sequential` are given; the walk is yours:
#
# - every attribute that is a `Tensor` is a parameter;
# - every attribute that is a `Module`, or a list or tuple of `Module`s, is searched the same
#   way, recursively;
# - a parameter reached twice (the same `Tensor` object shared by two layers, as GPT-2 ties
#   its embedding and unembedding) is listed **once**, or SGD would update it twice;
# - the order is the attributes' order (`vars(module)` keeps the order they were set in),
#   depth first, so that two calls return the same list.
#
# <details><summary>Hint</summary>
#
# **The idea.** A depth-first walk over `vars(module).values()`, collecting tensors and
# descending into modules, with a record of what you have already collected.
#
# **A pointer.** Two different `Tensor`s may hold equal numbers, so "already collected" must
# compare objects, not values: compare with `is`, or keep a set of `id(...)`.
# </details>

# %%
class Module:
    """A layer or a model: its Tensor attributes are its parameters, its Module attributes its parts."""

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        raise NotImplementedError

    def parameters(self):
        return module_parameters(self)


class Linear(Module):
    def __init__(self, fan_in, fan_out, rng):
        self.W = Tensor(rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in), name="W")
        self.b = Tensor(np.zeros(fan_out), name="b")

    def forward(self, x):
        return x @ self.W + self.b


class ReLU(Module):
    def forward(self, x):
        return x.relu()


class Sequential(Module):
    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


# %% nbgrader={"solution": true, "grade_id": "module_parameters"} exercise={"difficulty": 2, "importance": 4, "minutes": 12}
def module_parameters(module: Module) -> list:
    """Every Tensor reachable from module's attributes, each object once, depth first.

    module: a Module. Its attributes may be Tensors (parameters), Modules, lists or tuples
    of Modules, or anything else (ignored: numbers, strings, arrays, functions).
    Returns a list of Tensor objects (the objects themselves, not copies), in the order a
    depth-first walk over vars(...) meets them, each object once even if it is reachable
    from several places.
    """
    ### BEGIN SOLUTION
    found, seen = [], set()

    def walk(m):
        for value in vars(m).values():
            children = value if isinstance(value, (list, tuple)) else [value]
            for child in children:
                if isinstance(child, Tensor) and id(child) not in seen:
                    seen.add(id(child))
                    found.append(child)
                elif isinstance(child, Module):
                    walk(child)

    walk(module)
    return found
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "module_parameters_test", "points": 2}
def check_parameters(module, expected, what):
    got = module_parameters(module)
    checks.assert_true("module_parameters", isinstance(got, list), f"{what}: returned a {type(got).__name__}, not a list")
    checks.assert_true("module_parameters", all(isinstance(p, Tensor) for p in got),
                       f"{what}: the list holds {sorted({type(p).__name__ for p in got})}; expected only Tensor objects",
                       hint="collect the Tensor objects themselves, not their .data")
    got_names = [getattr(p, "name", "?") for p in got]
    want_names = [p.name for p in expected]
    checks.assert_true("module_parameters", len(got) == len(expected) and all(g is e for g, e in zip(got, expected)),
                       f"{what}: got {len(got)} parameters {got_names}, expected {len(expected)} {want_names}, "
                       "the same objects in this order",
                       hint="walk vars(module) in order, descend into Modules and lists of Modules, list each Tensor once")


rng = np.random.default_rng(38)
mlp2 = Sequential(Linear(4, 3, rng), ReLU(), Linear(3, 2, rng))
check_parameters(mlp2, [mlp2.layers[0].W, mlp2.layers[0].b, mlp2.layers[2].W, mlp2.layers[2].b], "Sequential(Linear, ReLU, Linear)")
tied = Sequential(Linear(3, 3, rng), ReLU(), Linear(3, 3, rng))
tied.layers[2].W = tied.layers[0].W  # the same Tensor object in two layers
check_parameters(tied, [tied.layers[0].W, tied.layers[0].b, tied.layers[2].b], "a weight shared by two layers")
twins = Linear(2, 2, rng)
twins.b = Tensor(np.zeros(2), name="b")
twins.c = Tensor(np.zeros(2), name="c")  # equal numbers, another object: a parameter of its own
check_parameters(twins, [twins.W, twins.b, twins.c], "two different Tensors holding equal numbers")
print("module_parameters: visible tests pass")
### BEGIN HIDDEN TESTS
class _Block(Module):
    def __init__(self, rng):
        self.scale = 2.0
        self.note = "ignored"
        self.table = np.ones(3)
        self.inner = Sequential(Linear(3, 3, rng), ReLU())
        self.heads = (Linear(3, 1, rng), Linear(3, 1, rng))
        self.gain = Tensor(np.ones(3), name="gain")

    def forward(self, x):
        return x


_rng = np.random.default_rng(39)
_blk = _Block(_rng)
_expected = [_blk.inner.layers[0].W, _blk.inner.layers[0].b, _blk.heads[0].W, _blk.heads[0].b, _blk.heads[1].W,
             _blk.heads[1].b, _blk.gain]
check_parameters(_blk, _expected, "a block with numbers, strings, arrays, a nested Sequential, a tuple of heads")
_deep = Sequential(Sequential(Sequential(Linear(2, 2, _rng))))
check_parameters(_deep, [_deep.layers[0].layers[0].layers[0].W, _deep.layers[0].layers[0].layers[0].b], "three levels deep")
check_parameters(Sequential(ReLU(), ReLU()), [], "a model without parameters")
_shared = Linear(2, 2, _rng)
_two = Sequential(_shared, ReLU(), _shared)
check_parameters(_two, [_shared.W, _shared.b], "the same layer used twice")
_first, _second = module_parameters(_blk), module_parameters(_blk)
checks.assert_true("module_parameters", len(_first) == len(_second) and all(a is b for a, b in zip(_first, _second)),
                   "two calls return different lists", hint="start from an empty list and an empty record on every call")
### END HIDDEN TESTS

# %% [markdown]
# The same digits MLP, now as `Sequential(Linear(64, 128), ReLU(), Linear(128, 10))`: the
# training step no longer names a single parameter. Two epochs, to see it learn.

# %%
def train_module(model, x, y, epochs=2, batch_size=32, lr=0.2, seed=0):
    rng = np.random.default_rng(seed)
    for _ in tqdm(range(epochs), desc="epochs"):
        perm = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            batch = perm[start:start + batch_size]
            loss = cross_entropy(model(Tensor(x[batch])), y[batch])
            for p in model.parameters():
                p.grad = None
            loss.backward()
            for p in model.parameters():
                p.data -= lr * p.grad
    return model


try:
    digits_model = train_module(Sequential(Linear(64, 128, np.random.default_rng(0)), ReLU(),
                                           Linear(128, 10, np.random.default_rng(1))), x_train, y_train)
    test_accuracy = float((digits_model(Tensor(x_test)).data.argmax(axis=1) == y_test).mean())
    print(f"{len(digits_model.parameters())} parameter tensors; test accuracy after 2 epochs: {test_accuracy:.3f}")
except NotImplementedError:
    print("(implement module_parameters, cross_entropy and the backward functions to train this)")


# %% [markdown]
# **What just happened.** About a hundred lines of NumPy (the `Tensor` class, fifteen
# small functions, a loop) trained a neural network to read handwritten digits. Nothing
# in the engine knows about neural networks: it differentiates any composition of its
# ops. PyTorch is this idea plus a great deal of engineering: many more ops, GPU kernels,
# in-place operations with version counters, higher-order gradients, and a graph that is
# freed as soon as `backward` has used it.
#
# **Going further (not graded).**
# - Add `tanh` and `pow` to the engine, with tests written with `gradcheck.check_backward`.
# - Compare `train_mlp`'s speed with the same MLP in PyTorch (lesson 0.3). Where does the
#   engine spend its time? (`%prun` in Jupyter.)
# - `gradcheck.numerical_gradients` on the MLP's loss takes two forward passes per
#   parameter. Time it on the full-size MLP and you have the argument for backpropagation
#   in one number.
# - Write `softmax` with your `max`, `exp`, `sum` and a division by a Tensor (add `__truediv__`
#   for Tensors first: what is its backward?). Does subtracting the max change any gradient?
# - Build one attention head on the engine (reshape, permute, `@`, your softmax) and check it
#   against `torch.nn.functional.scaled_dot_product_attention` with `gradcheck.check_graph`.
# - `module_parameters` lists a shared weight once. What goes wrong, exactly, in a tied
#   embedding/unembedding if it is listed twice and SGD updates it twice? Predict, then try it.

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 1.1`), else from `bootcamp check 1.1` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("1.1")
