# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "4.2"
#     title: Toy models of superposition
#     minutes: 195
#     prerequisites: ["1.4"]
# ---

# %% [markdown]
# # 4.2 Toy models of superposition (Elhage et al. 2022)
#
# If every neuron of a network stood for one clean concept, interpretability would be a
# matter of reading neurons. It is not: real neurons respond to several unrelated things
# (they are *polysemantic*). Elhage et al., [Toy Models of
# Superposition](https://transformer-circuits.pub/2022/toy_model/index.html) (Anthropic,
# 2022), propose the reason. When the features a model wants to represent are **sparse**
# (each rarely active), the model can store *more features than it has dimensions*, giving
# them non-orthogonal directions and letting a ReLU filter out the interference. They call
# this **superposition**, and they show it happening in a model small enough to see
# completely: 5 features squeezed into 2 dimensions.
#
# In this lesson you build that model yourself, train a whole sparsity sweep at once, and
# redraw the paper's pictures from your own numbers: as the features get sparser, the model
# goes from two orthogonal features to **antipodal pairs** to a **pentagon**.
#
# **After this lesson you can**
# - write the ReLU toy model $x' = \mathrm{ReLU}(W^\top W x + b)$ for many independent
#   instances at once with `einsum`, with sparse synthetic features and an
#   importance-weighted loss;
# - train a sparsity sweep as one batched model, with a progress bar, in seconds;
# - read superposition off the weights: which features are represented, how much each
#   interferes with the others, antipodal pairs and the pentagon, from $W^\top W$ and from
#   angles;
# - measure the paper's **dimensions per feature** $D^* = m / \lVert W\rVert_F^2$ and the
#   per-feature dimensionality $D_i$, on your sweep and on the paper's own experiment
#   (400 features in 30 dimensions, shipped as a checkpoint), and test the paper's claim
#   that $D^*$ "sticks" at 1 and 1/2;
# - decide from the weights which hypothesis explains a measured $D^* = 1/2$;
# - say which of these results depend on the random seed, and assert only what holds over
#   several seeds.
#
# **Prerequisites.** 1.4 (training infrastructure: seeding, reproducible training loops,
# sweeps and their plots). You need `einsum` (0.2) and an `nn.Module`-free training loop
# with `torch.optim.Adam` (0.3, 1.2). No transformer is needed: the whole model is one
# weight matrix and a bias.
#
# **Time.** About 3 hours 15 minutes: eleven graded exercises (36 points) and the paper's figures.
#
# **How the exercises work.** Each exercise explains an idea, then gives you a function
# whose body is `raise NotImplementedError`. Replace that line with your code and run the
# test cell below it. A passing cell prints a line saying so; a failing one says what is
# wrong: the shape, the dtype, the first differing element and by how much, and a likely
# cause. The tests you see compare against small worked examples and plain `torch`
# operations. When your notebook is graded, hidden tests add the awkward cases the
# docstrings promise (a batch of size 0, one hidden dimension, a feature whose weights are
# exactly zero, non-contiguous views, float64) and train your model again on fresh seeds.
# From a terminal, `bootcamp check 4.2` runs the whole notebook and prints a table of
# every exercise. Each exercise says how hard it is (🔴, 1–5), how much it matters for the
# rest of the course (🔵, 1–5) and how long to try before opening the hint.
#
# Everything runs on a CPU in well under two minutes; the one big training run (32 toy
# models at once) has a progress bar.

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import Normalize
from tqdm.auto import tqdm

from course import checks

# The models are tiny: one thread is faster than two here, and keeps runs bit-for-bit
# repeatable (lesson 1.4).
torch.set_num_threads(1)
torch.set_printoptions(precision=3, sci_mode=False)

# %% [markdown]
# ## Part 1: the model
#
# ### Features, sparsity and importance
#
# The toy world has $n$ **features** $x_1, \dots, x_n$. Think of them as properties of an
# input that a model would like to know ("this is French", "there is a dog's ear"). Each
# is **sparse**: it is 0 with probability $S$, the *sparsity*, and otherwise uniform in
# $[0, 1]$. We mostly speak of the **feature probability** $p = 1 - S$: at $p = 1$ every
# feature is present in every input (dense), at $p = 0.01$ a feature is present once in a
# hundred inputs. Features are independent of each other.
#
# Features also differ in **importance** $I_i$: how much the loss cares about getting
# feature $i$ right. Here $I_i = 0.9^i$, so feature 0 matters most and feature 4 about
# two thirds as much.
#
# ### The ReLU output model
#
# The model must squeeze the $n$ features through $m < n$ hidden dimensions and recover
# them:
#
# $$h = W x \in \mathbb{R}^m, \qquad x' = \mathrm{ReLU}(W^\top h + b) = \mathrm{ReLU}(W^\top W x + b),$$
#
# with $W$ of shape $(m, n)$ and a bias $b \in \mathbb{R}^n$. Column $W_i$ (shape $(m,)$)
# is the **direction** in hidden space that the model gives feature $i$; its length
# $\lVert W_i\rVert$ says how strongly the feature is represented. The same $W$ encodes and
# decodes (the weights are *tied*), so $W^\top W$ (shape $(n, n)$) says everything: its
# diagonal holds $\lVert W_i\rVert^2$, and entry $(i, j)$ is how much feature $j$ leaks into
# the reconstruction of feature $i$. The loss is the importance-weighted squared error,
#
# $$L = \mathbb{E}_x \sum_i I_i \, (x_i - x'_i)^2 .$$
#
# With $n = 5$ and $m = 2$ the model cannot give every feature its own dimension. A
# *linear* model (no ReLU) would keep the two most important features on orthogonal
# directions and drop the rest: that is what PCA does. The paper's claim is that the ReLU
# model does something else once features are sparse: it packs several features into the
# two dimensions, accepting that they interfere, because the interference is rarely
# there (two sparse features are rarely active together) and the ReLU with a negative bias
# cuts off the small leaks.
#
# ### Many models at once
#
# We want one model per sparsity level, and several random seeds of each. Instead of a
# Python loop over models, we stack them: `W` gets shape `(instances, hidden, features)`,
# `b` shape `(instances, features)`, and a batch of inputs shape
# `(batch, instances, features)`. Instance $k$ sees only its own slice of the batch and
# its own weights, so the instances are completely independent models that happen to be
# trained by the same optimiser step. The loss is summed over instances: the gradient of a
# sum with respect to instance $k$'s weights is the gradient of instance $k$'s own loss.
# 32 models cost little more than one.

# %% [markdown]
# ## Exercise 1: sparse features
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Write `generate_batch(batch_size, probability, n_features, generator)`: a batch of
# shape `(batch_size, instances, n_features)` where each entry is independently present
# with its **instance's** feature probability, and then uniform in $[0, 1)$; an absent
# entry is exactly 0.
#
# So that your batches equal everyone else's for the same seed, draw the random numbers in
# this order: first the values, `torch.rand(shape, generator=generator)`, then a second
# `torch.rand` of the same shape, which is compared with the probability (an entry is
# present where the second draw is `< p`).
#
# Worked example: `probability = torch.tensor([1.0, 0.0])` gives a batch whose instance 0
# is dense (every entry in $(0, 1)$) and whose instance 1 is all zeros.
#
# <details><summary>Hint</summary>
#
# `probability` has shape `(instances,)`; to compare it with a `(batch, instances,
# features)` tensor it needs shape `(instances, 1)` (broadcasting aligns from the right):
# `probability[:, None]`. Multiply the values by the boolean mask (`values * mask` turns
# the mask into 0/1), or use `torch.where(mask, values, 0.0)`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "generate_batch"} exercise={"difficulty": 2, "importance": 3, "minutes": 10}
def generate_batch(batch_size: int, probability: torch.Tensor, n_features: int,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """A batch of sparse features for every instance.

    probability: float32 (instances,), the feature probability p = 1 - S of each instance.
    generator: the source of randomness (None: torch's global generator).
    Returns float32 (batch_size, instances, n_features). Entry [b, k, i] is present with
    probability probability[k], independently of all others, and then uniform in [0, 1);
    absent entries are 0. Draws, in order: values = torch.rand(shape), then
    torch.rand(shape) < p for presence, both with `generator`.
    """
    ### BEGIN SOLUTION
    shape = (batch_size, probability.shape[0], n_features)
    values = torch.rand(shape, generator=generator)
    present = torch.rand(shape, generator=generator) < probability[:, None]
    return values * present
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "generate_batch_test", "points": 2}
p = torch.tensor([1.0, 0.3, 0.0])
x = checks.call("generate_batch", generate_batch, 20_000, p, 4, torch.Generator().manual_seed(0),
                case="3 instances of 4 features",
                hint="probability has shape (instances,): probability[:, None] has shape (instances, 1), which "
                     "broadcasts against (batch, instances, features)")
checks.assert_shape("generate_batch", x, (20_000, 3, 4), hint="(batch_size, instances, n_features)")
checks.assert_dtype("generate_batch", x, torch.float32)
checks.assert_true("generate_batch", bool(((x >= 0) & (x < 1)).all()),
                   f"values must lie in [0, 1); got min {x.min().item():.3g}, max {x.max().item():.3g}",
                   hint="values come from torch.rand, then are multiplied by a 0/1 mask")
present = (x != 0).float().mean(dim=(0, 2))
checks.assert_close("generate_batch", present, torch.tensor([1.0, 0.3, 0.0]), atol=0.01, rtol=0,
                    name="the fraction of present entries per instance (expected [1, 0.3, 0])",
                    hint="instance k uses probability[k]: compare with probability[:, None], which broadcasts over "
                         "the features (probability[:, None, None] or [None, :] would pick the wrong axis)")
checks.assert_close("generate_batch", x[:, 1][x[:, 1] != 0].mean(), 0.5, atol=0.01, rtol=0,
                    name="the mean of the present values (uniform in [0, 1) has mean 0.5)",
                    hint="a present entry is uniform in [0, 1): use the first torch.rand draw as its value")
a = generate_batch(8, p, 4, torch.Generator().manual_seed(1))
b = generate_batch(8, p, 4, torch.Generator().manual_seed(1))
checks.assert_equal("generate_batch", a, b, name="two batches drawn with the same seed",
                    hint="draw every random number from `generator` (torch.rand(shape, generator=generator))")
print("generate_batch: visible tests pass; fraction present per instance", present.tolist())
### BEGIN HIDDEN TESTS
from course.models.toy import ToyConfig as _ToyConfig
from course.models.toy import ToyModel as _ToyModel

_probs = (0.9, 0.05, 0.5, 0.2)
_ref_model = _ToyModel(_ToyConfig(n_features=6, n_hidden=2, n_instances=4, feature_probability=_probs))
_want = _ref_model.batch(64, torch.Generator().manual_seed(5))
_got = checks.call("generate_batch", generate_batch, 64, torch.tensor(_probs), 6, torch.Generator().manual_seed(5),
                   case="four instances with different probabilities")
checks.assert_equal("generate_batch", _got, _want, name="the batch for a fixed seed",
                    hint="draw the values first, then the presence mask, both as torch.rand(shape, generator=generator)")
_e = checks.call("generate_batch", generate_batch, 0, torch.tensor([0.5, 0.5]), 3, torch.Generator().manual_seed(0),
                 case="batch_size=0")
checks.assert_shape("generate_batch", _e, (0, 2, 3))
_one = checks.call("generate_batch", generate_batch, 5, torch.tensor([0.5]), 1, torch.Generator().manual_seed(0),
                   case="one instance, one feature")
checks.assert_shape("generate_batch", _one, (5, 1, 1))
checks.assert_dtype("generate_batch", _one, torch.float32)
_p = torch.linspace(0, 1, 6)[::2]  # a non-contiguous view: [0, 0.4, 0.8]
_x = checks.call("generate_batch", generate_batch, 30_000, _p, 2, torch.Generator().manual_seed(3),
                 case="a non-contiguous probability tensor")
checks.assert_close("generate_batch", (_x != 0).float().mean(dim=(0, 2)), torch.tensor([0.0, 0.4, 0.8]), atol=0.01,
                    rtol=0, name="the fraction present per instance")
torch.manual_seed(11)
_g1 = generate_batch(4, torch.tensor([0.5]), 3)
torch.manual_seed(11)
_g2 = generate_batch(4, torch.tensor([0.5]), 3)
checks.assert_equal("generate_batch", _g1, _g2, name="two batches with generator=None after the same manual_seed",
                    hint="with generator=None, torch.rand(shape, generator=None) uses torch's global generator")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: the batched forward pass
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 15 minutes, then look at the hint.
#
# Write `toy_forward(W, b, x)`, the model $x' = \mathrm{ReLU}(W^\top W x + b)$ for every
# instance at once, with `torch.einsum` and no Python loop. Name the axes: `i` instance,
# `h` hidden, `f` feature, `b` batch (or any letters you like). Then
#
# - the hidden activations are $h_{b,i,h} = \sum_f W_{i,h,f}\, x_{b,i,f}$: `einsum("ihf,bif->bih", W, x)`;
# - the reconstruction before the ReLU is $\sum_h W_{i,h,f}\, h_{b,i,h} + b_{i,f}$.
#
# An index that appears in the inputs but not in the output is summed over; an index in
# every input and the output (`i`, `b`) is a batch dimension that is kept. Computing
# $h$ first costs $O(mn)$ per example; computing $W^\top W$ first and then applying it is
# just as good here (both are tiny), but the two-step version is the one that generalises
# to real models, where $h$ is the activation you would study.
#
# <details><summary>Hint</summary>
#
# **The idea.** The model squeezes `n_features` into `n_hidden` with `W`, then reads them back with
# the same `W` transposed, adds a bias and applies a ReLU; every instance has its own `W`.
#
# **A pointer.** Two einsums with the instance index in every term (the batch axis is in `x`, the
# instance axis in both). Check the shapes after each step against the docstring.
# </details>

# %% nbgrader={"solution": true, "grade_id": "toy_forward"} exercise={"difficulty": 2, "importance": 5, "minutes": 15}
def toy_forward(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The ReLU output model of every instance: ReLU(W^T W x + b).

    W: float (instances, hidden, features); b: float (instances, features);
    x: float (batch, instances, features). Any of them may be a non-contiguous view.
    Returns (batch, instances, features), the dtype of the inputs. No Python loops.
    """
    ### BEGIN SOLUTION
    hidden = torch.einsum("ihf,bif->bih", W, x)
    return torch.relu(torch.einsum("ihf,bih->bif", W, hidden) + b)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "toy_forward_test", "points": 3}
# A worked example: one instance, 2 features, 1 hidden dimension, W = [[1, -1]], b = [0.5, -0.5].
# W^T W = [[1, -1], [-1, 1]], so x = [1, 0.25] gives ReLU([0.75 + 0.5, -0.75 - 0.5]) = [1.25, 0].
W = torch.tensor([[[1.0, -1.0]]])
b = torch.tensor([[0.5, -0.5]])
checks.assert_close("toy_forward", toy_forward(W, b, torch.tensor([[[1.0, 0.25]]])), torch.tensor([[[1.25, 0.0]]]),
                    hint="x' = ReLU(W^T (W x) + b): encode with W, decode with the same W transposed, add b, then ReLU")
torch.manual_seed(0)
W = torch.randn(3, 2, 5)
b = torch.randn(3, 5)
x = torch.rand(7, 3, 5)
expected = torch.stack([torch.relu(x[:, k] @ W[k].T @ W[k] + b[k]) for k in range(3)], dim=1)
out = toy_forward(W, b, x)
checks.assert_shape("toy_forward", out, (7, 3, 5), hint="(batch, instances, features), like x")
checks.assert_close("toy_forward", out, expected, rtol=1e-5, atol=1e-6,
                    hint="instance k must use only W[k], b[k] and x[:, k] (the instance letter belongs in both einsum "
                         "inputs and the output), and the ReLU comes last, after adding b")
checks.assert_close("toy_forward", toy_forward(W[1:], 2 * b[1:], x[:4, 1:]), expected_2 := torch.stack(
    [torch.relu(x[:4, k] @ W[k].T @ W[k] + 2 * b[k]) for k in (1, 2)], dim=1), rtol=1e-5, atol=1e-6,
                    name="the output for the last two instances, bias doubled",
                    hint="use the arguments W, b and x, not variables of the notebook")
print("toy_forward: visible tests pass")
### BEGIN HIDDEN TESTS
from course.models.toy import ToyConfig as _ToyConfig
from course.models.toy import ToyModel as _ToyModel

_cfg = _ToyConfig(n_features=5, n_hidden=2, n_instances=3, feature_probability=(1.0, 0.5, 0.1))
_ref = _ToyModel(_cfg)
torch.manual_seed(1)
with torch.no_grad():
    _ref.W.copy_(torch.randn(3, 2, 5))
    _ref.b.copy_(torch.randn(3, 5))
_x = torch.rand(9, 3, 5)
with torch.no_grad():
    _want = _ref(_x)
checks.assert_close("toy_forward", toy_forward(_ref.W.detach(), _ref.b.detach(), _x), _want, rtol=1e-5, atol=1e-6,
                    name="the output against course.models.toy.ToyModel")
_Wt = torch.randn(3, 5, 2)  # (instances, features, hidden): its transpose is a non-contiguous W
_xb = torch.rand(9, 3, 10)[:, :, ::2]  # a non-contiguous x
_bb = torch.randn(5, 3).T  # a non-contiguous b
_W = _Wt.transpose(1, 2)
_want = torch.stack([torch.relu(_xb[:, k] @ _W[k].T @ _W[k] + _bb[k]) for k in range(3)], dim=1)
checks.assert_close("toy_forward", checks.call("toy_forward", toy_forward, _W, _bb, _xb, case="non-contiguous inputs"),
                    _want, rtol=1e-5, atol=1e-6, name="the output for non-contiguous W, b and x")
_e = checks.call("toy_forward", toy_forward, _W, _bb, torch.rand(0, 3, 5), case="a batch of size 0")
checks.assert_shape("toy_forward", _e, (0, 3, 5))
_W1 = torch.randn(4, 1, 3, dtype=torch.float64)
_b1 = torch.randn(4, 3, dtype=torch.float64)
_x1 = torch.rand(6, 4, 3, dtype=torch.float64)
_want = torch.relu(_W1.transpose(1, 2) @ _W1 @ _x1.permute(1, 2, 0) + _b1[:, :, None]).permute(2, 0, 1)
_got = checks.call("toy_forward", toy_forward, _W1, _b1, _x1, case="one hidden dimension, float64")
checks.assert_dtype("toy_forward", _got, torch.float64, hint="do not convert the inputs to float32")
checks.assert_close("toy_forward", _got, _want, name="the output with one hidden dimension (float64)")
checks.assert_no_loops("toy_forward", toy_forward, hint="one einsum to encode, one to decode")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: the importance-weighted loss
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 8 minutes, then look at the hint.
#
# Write `weighted_loss(x_hat, x, importance)`: for every instance, the mean over the batch
# and the features of $I_i (x_i - x'_i)^2$. It returns one number **per instance**, shape
# `(instances,)`; the training loop sums them. (Mean or sum over features only rescales the
# loss by $n$; we use the mean, like `course/models/toy.py`.)
#
# `importance` has shape `(features,)` (the same importances for every instance) or
# `(instances, features)` (per instance); broadcasting handles both if you write the
# product the natural way.
#
# Worked example: one instance, a batch of two, two features, importance `[1, 0.5]`,
# `x = [[1, 0], [0, 1]]`, `x_hat = [[0, 0], [0, 0]]`. The weighted squared errors are
# `[[1, 0], [0, 0.5]]`, whose mean is `1.5 / 4 = 0.375`.
#
# <details><summary>Hint</summary>
#
# **The idea.** The error of each feature is weighted by its importance, then averaged over
# everything except the instances, so each instance gets its own loss.
#
# **A pointer.** Which axes are the batch and the features in `x`'s shape? Average over those two
# at once (`mean` takes a tuple of dims); importance broadcasts along the batch.
# </details>

# %% nbgrader={"solution": true, "grade_id": "weighted_loss"} exercise={"difficulty": 1, "importance": 4, "minutes": 8}
def weighted_loss(x_hat: torch.Tensor, x: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """Importance-weighted squared error, one value per instance.

    x_hat, x: float (batch, instances, features); importance: float (features,) or
    (instances, features). Returns (instances,): the mean over batch and features of
    importance * (x_hat - x) ** 2, in the dtype of x.
    """
    ### BEGIN SOLUTION
    return (importance * (x_hat - x) ** 2).mean(dim=(0, 2))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "weighted_loss_test", "points": 2}
checks.assert_close("weighted_loss",
                    weighted_loss(torch.zeros(2, 1, 2), torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]), torch.tensor([1.0, 0.5])),
                    torch.tensor([0.375]), name="the worked example",
                    hint="one number per instance: the mean over the batch (axis 0) and the features (axis 2)")
torch.manual_seed(0)
x_hat, x = torch.rand(16, 3, 5), torch.rand(16, 3, 5)
importance = 0.9 ** torch.arange(5.0)
expected = torch.stack([(importance * (x_hat[:, k] - x[:, k]) ** 2).mean() for k in range(3)])
loss = weighted_loss(x_hat, x, importance)
checks.assert_shape("weighted_loss", loss, (3,), hint="keep the instance axis: reduce over dims 0 and 2 only")
checks.assert_close("weighted_loss", loss, expected, rtol=1e-5, atol=1e-7,
                    hint="the importance multiplies the squared error of each feature before the mean")
print("weighted_loss: visible tests pass")
### BEGIN HIDDEN TESTS
from course.models.toy import ToyConfig as _ToyConfig
from course.models.toy import ToyModel as _ToyModel

_cfg = _ToyConfig(n_features=5, n_hidden=2, n_instances=3, feature_probability=(1.0, 0.5, 0.1))
_ref = _ToyModel(_cfg)
_x = _ref.batch(32, torch.Generator().manual_seed(2))
with torch.no_grad():
    _want = _ref.loss(_x)
    _got = checks.call("weighted_loss", weighted_loss, _ref(_x), _x, _ref.importance, case="the toy model's own batch")
checks.assert_close("weighted_loss", _got.sum(), _want, rtol=1e-5, atol=1e-7,
                    name="the summed loss against course.models.toy.ToyModel.loss")
_imp = torch.rand(3, 5)
_got = checks.call("weighted_loss", weighted_loss, x_hat, x, _imp, case="importance of shape (instances, features)")
checks.assert_close("weighted_loss", _got, torch.stack([(_imp[k] * (x_hat[:, k] - x[:, k]) ** 2).mean() for k in range(3)]),
                    rtol=1e-5, atol=1e-7, name="the loss with a per-instance importance",
                    hint="importance (instances, features) broadcasts against (batch, instances, features)")
_x64 = torch.rand(4, 2, 3, dtype=torch.float64)
_got = checks.call("weighted_loss", weighted_loss, _x64 * 0, _x64, torch.ones(3, dtype=torch.float64), case="float64")
checks.assert_dtype("weighted_loss", _got, torch.float64)
checks.assert_close("weighted_loss", _got, (_x64 ** 2).mean(dim=(0, 2)), name="the loss in float64")
_v = torch.rand(5, 8, 3)[:, ::2]  # non-contiguous (5, 4, 3)
checks.assert_close("weighted_loss", checks.call("weighted_loss", weighted_loss, _v, _v + 2.0, torch.ones(3),
                                                 case="a non-contiguous view"),
                    torch.full((4,), 4.0), name="the loss of an error of 2 everywhere")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: training a sweep in one go
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 4 points · about 20 minutes, then look at the hint.
#
# The initial weights are given: `init_toy_params` below draws `W` from a normal
# distribution with standard deviation 0.1 (small, so that every feature starts close to
# unrepresented and must earn its place) and sets `b` to zeros.
#
# Write `train_toy_models(W0, b0, probability, importance, steps, batch_size, lr, seed,
# progress)`, a training loop with Adam (constant learning rate) that trains all instances
# at once:
#
# 1. copy the initial parameters into fresh leaf tensors that require gradients
#    (`W0.detach().clone().requires_grad_(True)`, the same for `b0`); never modify `W0`, `b0`;
# 2. `generator = torch.Generator().manual_seed(seed)`, `torch.optim.Adam([W, b], lr=lr)`;
# 3. for each of `steps` steps: a batch from `generate_batch(batch_size, probability,
#    n_features, generator)`, the per-instance loss `weighted_loss(toy_forward(W, b, x), x,
#    importance)`, and one optimiser step on its **sum** over instances; record the
#    per-instance loss of the step;
# 4. wrap the loop in `tqdm(range(steps), disable=not progress)` for a progress bar;
# 5. return `(W, b, losses)`: the trained `W` and `b` **detached**, and `losses`, a float32
#    tensor of shape `(steps, instances)`.
#
# Following the order exactly makes your run reproduce everyone else's for the same seed,
# which is what the hidden test compares.
#
# <details><summary>Hint</summary>
#
# The loop, in outline:
#
# ```python
# for step in tqdm(range(steps), disable=not progress):
#     x = ...              # one batch from generate_batch, drawn with `generator`
#     loss = ...           # weighted_loss of toy_forward's output: shape (instances,)
#     ...                  # zero the gradients, backward through loss.sum(), one optimiser step
#     losses[step] = ...   # this step's per-instance losses, detached
# ```
#
# with `losses = torch.zeros(steps, W.shape[0])` before the loop. The number of features is
# `W.shape[2]`.
# </details>

# %%
def init_toy_params(n_instances: int, n_features: int, n_hidden: int, seed: int = 0,
                    std: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Initial (W, b): W float32 (n_instances, n_hidden, n_features) ~ N(0, std^2), b zeros (n_instances, n_features)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n_instances, n_hidden, n_features, generator=g) * std, torch.zeros(n_instances, n_features)


# %% nbgrader={"solution": true, "grade_id": "train_toy_models"} exercise={"difficulty": 3, "importance": 5, "minutes": 20}
def train_toy_models(W0: torch.Tensor, b0: torch.Tensor, probability: torch.Tensor, importance: torch.Tensor,
                     steps: int = 2000, batch_size: int = 512, lr: float = 1e-2, seed: int = 0,
                     progress: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train every instance of the toy model at once with Adam.

    W0: float32 (instances, hidden, features) and b0: float32 (instances, features), the
    initial parameters (not modified). probability: float32 (instances,), each instance's
    feature probability. importance: float32 (features,) or (instances, features).
    Each step: x = generate_batch(batch_size, probability, features, generator) with
    generator = torch.Generator().manual_seed(seed); the loss is the sum over instances of
    weighted_loss(toy_forward(W, b, x), x, importance). progress: show a tqdm bar.
    Returns (W, b, losses): the trained W and b (detached, shapes as W0 and b0) and losses,
    float32 (steps, instances), the per-instance loss at every step.
    """
    ### BEGIN SOLUTION
    W = W0.detach().clone().requires_grad_(True)
    b = b0.detach().clone().requires_grad_(True)
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([W, b], lr=lr)
    curve = torch.zeros(steps, W.shape[0])
    for i in tqdm(range(steps), disable=not progress, desc="toy models", unit="step"):
        batch = generate_batch(batch_size, probability, W.shape[2], generator)
        per_instance = weighted_loss(toy_forward(W, b, batch), batch, importance)
        opt.zero_grad()
        per_instance.sum().backward()
        opt.step()
        curve[i] = per_instance.detach()
    return W.detach(), b.detach(), curve
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "train_toy_models_test", "points": 4}
# Two dense features in three dimensions, four instances: the model can, and should, give each feature its own
# direction. (Four instances, three hidden, two features: an axis mixed up gives a wrong shape.)
W_init, b_init = init_toy_params(4, 2, 3, seed=0)
W_init_before = W_init.clone()
result = train_toy_models(W_init, b_init, torch.ones(4), torch.ones(2), steps=300, batch_size=256, progress=False)
checks.assert_true("train_toy_models", isinstance(result, tuple) and len(result) == 3,
                   f"train_toy_models returned {type(result).__name__}; return the tuple (W, b, losses)")
W_2, b_2, losses_2 = result
checks.assert_shape("train_toy_models", W_2, (4, 3, 2), name="W")
checks.assert_shape("train_toy_models", b_2, (4, 2), name="b")
checks.assert_shape("train_toy_models", losses_2, (300, 4), name="losses",
                    hint="one row per step, one column per instance (W.shape[0])")
checks.assert_true("train_toy_models", not W_2.requires_grad, "the returned W still requires grad",
                   hint="return W.detach()")
checks.assert_equal("train_toy_models", W_init, W_init_before, name="W_init after training",
                    hint="train a copy: W = W0.detach().clone().requires_grad_(True)")
checks.assert_true("train_toy_models", bool((losses_2[-20:].mean(0) < 0.2 * losses_2[:20].mean(0)).all()),
                   f"the loss did not fall: first steps {losses_2[:20].mean(0).tolist()}, last steps "
                   f"{losses_2[-20:].mean(0).tolist()}", hint="zero_grad, backward on the summed loss, optimizer.step()")
gram = W_2.transpose(1, 2) @ W_2  # (instances, features, features) = W^T W
checks.assert_close("train_toy_models", gram, torch.eye(2).expand(4, 2, 2), atol=0.1, rtol=0,
                    name="W^T W after training two dense features in three dimensions (expected the identity)",
                    hint="with room for both, each feature gets its own orthogonal unit direction")
sparse_p = torch.tensor([1.0, 0.3, 0.1, 0.03])
W_a, _, losses_a = train_toy_models(W_init, b_init, sparse_p, torch.ones(2), steps=20, progress=False)
W_b, _, losses_b = train_toy_models(W_init, b_init, sparse_p, torch.ones(2), steps=20, progress=False)
checks.assert_equal("train_toy_models", losses_a, losses_b, name="the losses of two runs with the same seed",
                    hint="draw every batch from generator = torch.Generator().manual_seed(seed)")
checks.assert_close("train_toy_models", losses_a.sum(0), torch.tensor([3.5272, 1.3220, 0.5321, 0.16136]), rtol=1e-3,
                    atol=0, name="the per-instance losses summed over 20 steps (seed 0, lr 0.01, batch 512)",
                    hint="each step in the docstring's order: one generate_batch from the seeded generator, "
                         "zero_grad, backward through the summed loss, step (without zero_grad the gradients add up)")
print("train_toy_models: visible tests pass; W^T W of the four dense instances:\n", gram)
### BEGIN HIDDEN TESTS
from course.models.toy import ToyConfig as _ToyConfig
from course.models.toy import ToyModel as _ToyModel


def _ref_train(W0, b0, probs, decay, steps, batch_size, lr, seed):
    model = _ToyModel(_ToyConfig(n_features=W0.shape[2], n_hidden=W0.shape[1], n_instances=W0.shape[0],
                                 importance_decay=decay, feature_probability=tuple(probs)))
    with torch.no_grad():
        model.W.copy_(W0)
        model.b.copy_(b0)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve = []
    for _ in range(steps):
        x = model.batch(batch_size, gen)
        per = (model.importance * (model(x) - x) ** 2).mean(dim=(0, 2))
        opt.zero_grad()
        per.sum().backward()
        opt.step()
        curve.append(per.detach())
    return model.W.detach(), model.b.detach(), torch.stack(curve)


_probs = (1.0, 0.2, 0.05)
_W0, _b0 = init_toy_params(3, 5, 2, seed=4)
_b0 = _b0 + 0.01
_imp = 0.8 ** torch.arange(5.0)
_got = checks.call("train_toy_models", train_toy_models, _W0, _b0, torch.tensor(_probs), _imp, steps=25, batch_size=64,
                   lr=3e-3, seed=9, progress=False, case="25 steps of three instances")
checks.assert_true("train_toy_models", isinstance(_got, tuple) and len(_got) == 3, "return the tuple (W, b, losses)")
_rW, _rb, _rl = _ref_train(_W0, _b0, _probs, 0.8, 25, 64, 3e-3, 9)
checks.assert_close("train_toy_models", _got[2], _rl, rtol=1e-4, atol=1e-6, name="the per-step losses",
                    hint="follow the docstring's order: a fresh Generator seeded with `seed`, one generate_batch per "
                         "step, Adam on [W, b] with lr, the loss summed over instances")
checks.assert_close("train_toy_models", _got[0], _rW, rtol=1e-4, atol=1e-5, name="W after 25 steps")
checks.assert_close("train_toy_models", _got[1], _rb, rtol=1e-4, atol=1e-5, name="b after 25 steps",
                    hint="the bias is trained too: pass [W, b] to the optimiser, and start from b0 (here not zero)")
checks.assert_dtype("train_toy_models", _got[2], torch.float32, name="losses")
_one = checks.call("train_toy_models", train_toy_models, _W0[:1], _b0[:1], torch.tensor([0.5]), torch.ones(5), steps=1,
                   batch_size=8, progress=False, case="one instance, one step")
checks.assert_shape("train_toy_models", _one[2], (1, 1), name="losses of one step of one instance")
### END HIDDEN TESTS

# %% [markdown]
# ### The sweep
#
# Now the real run, the setting of the paper's opening figure: 5 features of decreasing
# importance in 2 hidden dimensions, at increasing sparsity. The numbers are ours:
# importance $0.9^i$ and 8 feature probabilities log-spaced from 1 (dense) to 0.01. Superposition geometry depends on the random seed (the same sparsity can end in
# a pentagon for one seed and in antipodal pairs for another), so we train **4
# replicas** of every level, 32 models in all, in one batched model. Instance
# `r * 8 + l` is replica `r` at level `l`, so `.reshape(REPLICAS, LEVELS)` sorts any
# per-instance result into a table.
#
# These settings (Adam at learning rate 0.01, batches of 512, 2,000 steps, initial
# standard deviation 0.1) were chosen to be fast, and checked on 16 further replicas
# outside this notebook. `course/models/toy.py` trains the same model longer (10,000 steps
# at learning rate 0.001, batches of 1,024) and gives the same picture.

# %%
N_FEATURES, N_HIDDEN = 5, 2
IMPORTANCE = 0.9 ** torch.arange(N_FEATURES, dtype=torch.float32)
LEVEL_P = torch.logspace(0, -2, 8)  # feature probability of each level: 1 (dense) ... 0.01
LEVELS, REPLICAS = len(LEVEL_P), 4
SWEEP_P = LEVEL_P.repeat(REPLICAS)  # instance r * LEVELS + l has probability LEVEL_P[l]
print("feature probability per level:", [round(p, 3) for p in LEVEL_P.tolist()])
print("sparsity S = 1 - p per level:  ", [round(1 - p, 3) for p in LEVEL_P.tolist()])

sweep_W0, sweep_b0 = init_toy_params(LEVELS * REPLICAS, N_FEATURES, N_HIDDEN, seed=0)
_t0 = time.perf_counter()
sweep_W, sweep_b, sweep_losses = train_toy_models(sweep_W0, sweep_b0, SWEEP_P, IMPORTANCE, steps=2000, batch_size=512,
                                                  lr=1e-2, seed=0)
print(f"{LEVELS * REPLICAS} models trained in {time.perf_counter() - _t0:.1f} s")

fig, ax = plt.subplots(figsize=(8, 3.5))
colors = plt.cm.viridis(np.linspace(0, 0.9, LEVELS))
smooth = sweep_losses.reshape(-1, 50, REPLICAS, LEVELS).mean(dim=(1, 2))  # mean over 50 steps and the replicas
for lv in range(LEVELS):
    ax.plot(np.arange(len(smooth)) * 50, smooth[:, lv], color=colors[lv], label=f"p = {LEVEL_P[lv]:.3f}")
ax.set(yscale="log", xlabel="step", ylabel="loss (mean of 4 replicas)", title="Training the sparsity sweep")
ax.legend(fontsize=7, ncol=2)
plt.show()

# %% [markdown]
# The sparser the features, the smaller the loss (most inputs are all zeros, which is easy),
# so compare curves by their shape, not their height. Every curve has flattened by the end.
#
# ## Part 2: reading the weights
#
# ## Exercise 5: which features are represented?
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 1 point · about 5 minutes, then look at the hint.
#
# A feature is **represented** when its direction $W_i$ (column `i` of the instance's `W`,
# a vector of length `hidden`) is long: its norm is above a threshold, 0.5 by default.
# Trained features end up with norms close to 1 (often slightly above, to make up for the
# negative bias) or close to 0, with a few in between, so the threshold is not delicate.
#
# Write `count_represented(W, threshold)`: the number of represented features of each
# instance.
#
# <details><summary>Hint</summary>
#
# `W.norm(dim=1)` takes the norm over the **hidden** axis and has shape `(instances,
# features)`: one length per feature. Compare with `threshold`, then `.sum(dim=-1)`, which
# counts the `True`s as an int64.
# </details>

# %% nbgrader={"solution": true, "grade_id": "count_represented"} exercise={"difficulty": 1, "importance": 4, "minutes": 5}
def count_represented(W: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Number of represented features of each instance.

    W: float (instances, hidden, features). A feature is represented when the norm of its
    column W[k, :, i] is strictly greater than `threshold`.
    Returns int64 (instances,).
    """
    ### BEGIN SOLUTION
    return (W.norm(dim=1) > threshold).sum(dim=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "count_represented_test", "points": 1}
W = torch.tensor([[[0.6, 0.6, 0.6], [0.0, 0.0, 0.0]],  # three columns of norm 0.6: 3 represented
                  [[1.0, 0.1, 0.0], [0.0, 0.2, -2.0]]])  # norms 1, 0.22, 2: 2 represented
got = count_represented(W)
checks.assert_dtype("count_represented", got, torch.int64, hint="sum a boolean tensor: (norms > threshold).sum(-1)")
checks.assert_equal("count_represented", got, torch.tensor([3, 2]),
                    hint="a feature's direction is a column W[k, :, i]: take the norm over the hidden axis (dim=1), "
                         "not over the features")
checks.assert_equal("count_represented", count_represented(W, threshold=1.5), torch.tensor([0, 1]),
                    name="the counts with threshold=1.5", hint="use the threshold argument")
print("count_represented: visible tests pass")
### BEGIN HIDDEN TESTS
_W = torch.zeros(3, 2, 4)
_W[0, 0, 0] = 0.5  # exactly the threshold: not represented (strictly greater)
_W[1, :, 1] = torch.tensor([0.0, -0.5])  # norm 0.5 again
_W[2, :, 2] = torch.tensor([0.3, 0.41])
checks.assert_equal("count_represented", count_represented(_W), torch.tensor([0, 0, 1]),
                    name="counts at the threshold", hint="represented means norm > threshold, strictly")
_W1 = torch.tensor([[[0.7, -0.9, 0.2, 0.0]]], dtype=torch.float64)  # one hidden dimension
checks.assert_equal("count_represented", checks.call("count_represented", count_represented, _W1,
                                                     case="one hidden dimension, float64"), torch.tensor([2]))
_Wt = torch.tensor([[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]]).transpose(1, 2)  # non-contiguous (1, 2, 3)
checks.assert_equal("count_represented", count_represented(_Wt), torch.tensor([2]), name="the count of a transposed view")
checks.assert_shape("count_represented", count_represented(torch.zeros(0, 2, 5)), (0,))
### END HIDDEN TESTS

# %% [markdown]
# ### How many features does each level represent?
#
# Your trained sweep, one row per replica. The test below asserts, with a margin, what
# held in every sweep we tried (seven sweeps of 4 replicas): 2 features when dense, 5 at
# the sparse end, and more features as the features get sparser.

# %%
sweep_counts = count_represented(sweep_W).reshape(REPLICAS, LEVELS)
print("feature probability " + " ".join(f"{p:6.3f}" for p in LEVEL_P.tolist()))
for r in range(REPLICAS):
    print(f"replica {r}           " + " ".join(f"{c:6d}" for c in sweep_counts[r].tolist()))
print("mean                " + " ".join(f"{c:6.2f}" for c in sweep_counts.float().mean(0).tolist()))

# %% nbgrader={"grade": true, "grade_id": "count_represented_test_2", "points": 3}
count_represented(torch.zeros(1, 2, 5))  # your function first (a stub stops here), then your trained sweep
checks.assert_true("count_represented", "sweep_W" in globals(),
                   "sweep_W does not exist: run the sweep's training cell above (it needs train_toy_models)")
counts = count_represented(sweep_W).reshape(REPLICAS, LEVELS)
checks.assert_equal("count_represented", counts[:, 0], torch.full((REPLICAS,), 2),
                    name="represented features at p = 1 (dense), per replica",
                    hint="dense features: the model keeps the 2 most important on orthogonal directions. If your counts "
                         "are off, check train_toy_models (importance, learning rate, steps) and the norm axis")
checks.assert_true("count_represented", int((counts[:, -3:] == 5).sum()) >= 10,
                   f"expected all 5 features represented at p <= 0.04 in at least 10 of 12 models; got counts "
                   f"{counts[:, -3:].tolist()}", hint="sparse features: the model packs all 5 into 2 dimensions")
mean_counts = counts.float().mean(0)
checks.assert_true("count_represented", bool(mean_counts[2:5].min() >= 3),
                   f"expected at least 3 features (mean of the replicas) at p = 0.27, 0.14 and 0.07; got "
                   f"{[round(c, 2) for c in mean_counts.tolist()]}")
checks.assert_true("count_represented", bool((mean_counts.diff() >= -0.75).all()),
                   f"expected the mean count to grow (give or take 0.75) as p falls; got "
                   f"{[round(c, 2) for c in mean_counts.tolist()]}")
print("count_represented: the sweep's counts pass; mean per level", [round(c, 2) for c in mean_counts.tolist()])
### BEGIN HIDDEN TESTS
# Fresh seeds: the dense and the sparsest level, three new replicas each, trained with your code.
_p = torch.tensor([1.0, 0.01]).repeat(3)
_W0, _b0 = init_toy_params(6, 5, 2, seed=101)
_out = checks.call("count_represented", train_toy_models, _W0, _b0, _p, IMPORTANCE, steps=2000, batch_size=512,
                   lr=1e-2, seed=102, progress=False, case="a fresh-seed sweep")
checks.assert_true("count_represented", isinstance(_out, tuple), "train_toy_models must return (W, b, losses)")
_c = count_represented(_out[0]).reshape(3, 2)
checks.assert_equal("count_represented", _c[:, 0], torch.full((3,), 2), name="dense counts on fresh seeds")
checks.assert_true("count_represented", int((_c[:, 1] == 5).sum()) >= 2,
                   f"on fresh seeds, expected 5 features at p = 0.01 in at least 2 of 3 models; got {_c[:, 1].tolist()}")
### END HIDDEN TESTS

# %% [markdown]
# ### The paper's opening figure, from your weights
#
# Each panel below is one trained model, drawn in its 2-dimensional hidden space: a line
# from the origin to $W_i$ for every feature, coloured by importance (yellow = feature 0,
# the most important). The unit circle is grey.
#
# Read the top row from left to right. Dense: two orthogonal features and nothing else,
# which is what PCA would do. A little sparser: two features share one dimension by
# pointing in **opposite** directions (an *antipodal pair*: $W_j \approx -W_i$), while a
# third keeps the other dimension to itself. Sparser still: two antipodal pairs, 4
# features in 2 dimensions. At the sparse end: all 5 features on a regular
# **pentagon**, each 72° from its neighbours. The rows are replicas: the picture is the
# same in outline but the level at which each change happens moves with the seed.

# %%
def plot_directions(W: torch.Tensor, titles: list[str], ncols: int, size: float = 1.6) -> None:
    """Draw every instance's feature directions (W: (instances, 2, features)) in a grid."""
    n = W.shape[0]
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    imp_colors = plt.cm.viridis_r(np.linspace(0, 1, W.shape[2]))
    circle = np.linspace(0, 2 * np.pi, 100)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= n:
            continue
        ax.plot(np.cos(circle), np.sin(circle), color="0.85", lw=0.8)
        for i in range(W.shape[2]):
            ax.plot([0, W[k, 0, i]], [0, W[k, 1, i]], color=imp_colors[i], lw=2)
            ax.scatter([W[k, 0, i]], [W[k, 1, i]], color=imp_colors[i], s=10, zorder=3)
        ax.set(xlim=(-1.4, 1.4), ylim=(-1.4, 1.4), aspect="equal")
        ax.set_title(titles[k], fontsize=7)
    plt.tight_layout()
    plt.show()


plot_directions(sweep_W, [f"p={LEVEL_P[k % LEVELS]:.3f}\n{int(c)} features" for k, c in
                          enumerate(count_represented(sweep_W))], ncols=LEVELS)

# %% [markdown]
# ## Exercise 6: interference
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 15 minutes, then look at the hint.
#
# How much does feature $i$ share its direction with the others? The paper measures it as
#
# $$\mathrm{interference}_i = \sum_{j \ne i} \left(\hat W_i \cdot W_j\right)^2,
# \qquad \hat W_i = \frac{W_i}{\lVert W_i\rVert},$$
#
# the squared length of the other features' projections onto feature $i$'s direction. It
# is 0 for a feature whose direction no other feature touches (the dense model's two
# features), 1 for a unit feature with an antipodal partner ($\hat W_i \cdot W_j = -1$),
# and for a unit pentagon $2\cos^2 72° + 2\cos^2 144° = 1.5$. The paper colours the bars of
# $\lVert W_i\rVert$ with it, so you can see at a glance which features are in
# superposition.
#
# All the dot products at once are one `einsum`: `torch.einsum("ihf,ihg->ifg", W_hat, W)`
# has entry `[k, i, j]` $= \hat W_i \cdot W_j$ for instance $k$ (for `W_hat = W` it is
# $W^\top W$). A feature whose column is exactly zero has no direction: give it
# interference 0, not NaN (divide by the norm clamped to at least `1e-12`).
#
# <details><summary>Hint</summary>
#
# **The idea.** How much of feature `i`'s direction other features share: for each `j != i`, the
# squared dot product of `i`'s unit vector with `j`'s column, summed over `j`.
#
# **A pointer.** Normalise the columns of `W` over the hidden axis (guard against zero columns),
# compute all dot products for an instance with one einsum, square, sum over `j`, and remove the
# `j = i` term (a diagonal, or a mask of `1 - eye`).
# </details>

# %%
# A unit regular pentagon, W of shape (1, 2, 5): the tests below use it.
_angles = torch.arange(5) * 72.0 * math.pi / 180
PENTAGON = torch.stack([torch.cos(_angles), torch.sin(_angles)])[None]
print("W^T W of a unit pentagon:\n", PENTAGON[0].T @ PENTAGON[0])


# %% nbgrader={"solution": true, "grade_id": "interference"} exercise={"difficulty": 3, "importance": 4, "minutes": 15}
def interference(W: torch.Tensor) -> torch.Tensor:
    """The paper's superposition measure of every feature: sum over j != i of (W_hat_i . W_j)^2.

    W: float (instances, hidden, features); W_hat_i = W_i / max(||W_i||, 1e-12), so a zero
    column has interference 0. Returns (instances, features), the dtype of W.
    """
    ### BEGIN SOLUTION
    norms = W.norm(dim=1, keepdim=True)
    W_hat = W / norms.clamp_min(1e-12)
    sq = torch.einsum("ihf,ihg->ifg", W_hat, W) ** 2
    return sq.sum(dim=-1) - torch.diagonal(sq, dim1=-2, dim2=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "interference_test", "points": 3}
checks.assert_close("interference", interference(PENTAGON), torch.full((1, 5), 1.5), rtol=1e-5, atol=1e-6,
                    name="the interference of a unit pentagon (expected 2 cos^2 72 + 2 cos^2 144 = 1.5)",
                    hint="sum the squared dot products over the OTHER features: leave out j = i")
pairs = torch.tensor([[[1.0, -1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, -2.0, 0.0]]])  # two antipodal pairs, one unused
checks.assert_close("interference", interference(pairs), torch.tensor([[1.0, 1.0, 4.0, 4.0, 0.0]]), rtol=1e-5, atol=1e-6,
                    name="the interference of two antipodal pairs (norms 1 and 2) and a zero feature",
                    hint="normalise W_i (the feature being measured) but not W_j; a zero column gets 0, not NaN")
print("interference: visible tests pass")
### BEGIN HIDDEN TESTS
def _ref_interference(W):
    out = torch.zeros(W.shape[0], W.shape[2], dtype=W.dtype)
    for k in range(W.shape[0]):
        for i in range(W.shape[2]):
            n = W[k, :, i].norm()
            if n == 0:
                continue
            for j in range(W.shape[2]):
                if j != i:
                    out[k, i] += (W[k, :, i] @ W[k, :, j] / n) ** 2
    return out


torch.manual_seed(3)
_W = torch.randn(4, 3, 6, dtype=torch.float64)
_W[1, :, 2] = 0
_got = checks.call("interference", interference, _W, case="random float64 weights with a zero column")
checks.assert_dtype("interference", _got, torch.float64)
checks.assert_close("interference", _got, _ref_interference(_W), name="interference of random 3-dim weights")
_Wt = torch.randn(2, 5, 2).transpose(1, 2)  # non-contiguous
checks.assert_close("interference", checks.call("interference", interference, _Wt, case="a transposed view"),
                    _ref_interference(_Wt), rtol=1e-5, atol=1e-6, name="interference of a non-contiguous W")
_s = torch.randn(1, 2, 4)
_scaled = _s.clone()
_scaled[:, :, 0] *= 10.0  # scaling feature 0 leaves its own interference unchanged
checks.assert_close("interference", interference(_scaled)[:, 0], interference(_s)[:, 0], rtol=1e-4, atol=1e-6,
                    name="feature 0's interference after scaling W_0 by 10",
                    hint="divide W_i by its norm: the measure depends on feature i's direction only")
checks.assert_close("interference", interference(torch.zeros(1, 2, 3)), torch.zeros(1, 3),
                    name="interference of an all-zero W", hint="clamp the norm to at least 1e-12 before dividing")
### END HIDDEN TESTS

# %% [markdown]
# ### The paper's $W^\top W$ and norm plots
#
# For replica 0 at every level: $W^\top W$ (blue positive, red negative) with the bias as
# an extra column, and under it a bar per feature of length $\lVert W_i\rVert$, coloured by
# interference (dark: a feature of its own; bright: in superposition). The dense model's
# $W^\top W$ is the identity on features 0 and 1 and zero elsewhere, with a positive bias
# on the dropped features (the model predicts their mean instead). The sparse models'
# $W^\top W$ have large negative off-diagonal entries, matched by a negative bias: the
# ReLU cuts the leaks off.

# %%
def plot_gram_and_norms(W: torch.Tensor, b: torch.Tensor, titles: list[str]) -> None:
    """W^T W (with the bias as a last column) and ||W_i|| bars coloured by interference, per instance."""
    n, nf = W.shape[0], W.shape[2]
    gram = (W.transpose(1, 2) @ W).numpy()
    inter, norms = interference(W).numpy(), W.norm(dim=1).numpy()
    fig, axes = plt.subplots(2, n, figsize=(1.5 * n, 3.6), gridspec_kw={"height_ratios": [1.1, 1]})
    cmap, norm = plt.cm.plasma, Normalize(0, max(1.5, float(inter.max())))
    for k in range(n):
        ax = axes[0, k]
        ax.imshow(np.concatenate([gram[k], np.full((nf, 1), np.nan), b[k].numpy()[:, None]], axis=1),
                  cmap="RdBu", vmin=-1.3, vmax=1.3)
        ax.set_title(titles[k], fontsize=7)
        ax.set_xticks([nf + 1])
        ax.set_xticklabels(["b"], fontsize=6)
        ax.set_yticks([])
        ax = axes[1, k]
        ax.barh(np.arange(nf), norms[k], color=cmap(norm(inter[k])))
        ax.set(xlim=(0, 1.4), ylim=(nf - 0.5, -0.5))
        ax.tick_params(labelsize=6)
        if k == 0:
            ax.set_ylabel("feature", fontsize=7)
    axes[1, 0].set_xlabel("||W_i||", fontsize=7)
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes[1, :].tolist(), fraction=0.02,
                 label="interference")
    plt.show()


plot_gram_and_norms(sweep_W[:LEVELS], sweep_b[:LEVELS], [f"p = {p:.3f}" for p in LEVEL_P.tolist()])

# %% [markdown]
# ### A wider sweep: 20 features in 5 dimensions (not graded)
#
# The paper's section "Demonstrating superposition" shows the same kind of sweep for a
# bigger model, 20 features in 5 dimensions. Here it is with your functions, importance
# $0.7^i$, sparsities from 0 to 0.999 and only 1,500 steps (the sparsest model sees a
# feature about once in 4 batches, and is still settling).
# Dense: the 5 most important features, orthogonal, the rest dropped. Sparser: more and
# more features, the less important ones first in superposition (bright bars).

# %%
WIDE_S = torch.tensor([0.0, 0.7, 0.9, 0.97, 0.99, 0.999])
wide_W0, wide_b0 = init_toy_params(len(WIDE_S), 20, 5, seed=1)
wide_W, wide_b, _ = train_toy_models(wide_W0, wide_b0, 1 - WIDE_S, 0.7 ** torch.arange(20.0), steps=1500,
                                     batch_size=256, lr=1e-2, seed=1)
plot_gram_and_norms(wide_W, wide_b, [f"S = {s:g}\n{int(c)} features" for s, c in zip(WIDE_S.tolist(),
                                                                                  count_represented(wide_W))])

# %% [markdown]
# ## Part 3: the geometry
#
# ## Exercise 7: antipodal pairs
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Two represented features $i \ne j$ form an **antipodal pair** when they point in
# opposite directions: the cosine of the angle between them,
# $\cos\theta_{ij} = \hat W_i \cdot \hat W_j$, is below `cos_max` (default $-0.9$, an angle
# above about 154°). An antipodal pair is the cheapest way to put two features on one
# dimension: when feature $i$ is on, feature $j$'s reconstruction goes *negative*, and the
# ReLU removes it completely. The price is paid only when both are on at once, which for
# sparse features is rare.
#
# Write `antipodal_pairs(W, threshold, cos_max)`: the number of unordered pairs of
# represented features (norm above `threshold`) whose cosine is below `cos_max`, for each
# instance, in any number of hidden dimensions.
#
# <details><summary>Hint</summary>
#
# Normalise the columns, `cos = einsum("ihf,ihg->ifg", W_hat, W_hat)` (shape `(instances,
# features, features)`), and build a mask of represented features `rep` (instances,
# features). A pair counts when `cos < cos_max` and both are represented:
# `rep[:, :, None] & rep[:, None, :]`. The diagonal never counts (cos = 1), and every pair
# appears twice in the matrix, once as `(i, j)` and once as `(j, i)`: halve the sum (or
# keep the upper triangle, `torch.triu(mask, diagonal=1)`).
# </details>

# %% nbgrader={"solution": true, "grade_id": "antipodal_pairs"} exercise={"difficulty": 2, "importance": 3, "minutes": 10}
def antipodal_pairs(W: torch.Tensor, threshold: float = 0.5, cos_max: float = -0.9) -> torch.Tensor:
    """Number of antipodal pairs of represented features, per instance.

    W: float (instances, hidden, features), any hidden size. A pair i < j counts when both
    columns have norm > threshold and cos(W_i, W_j) < cos_max (strictly).
    Returns int64 (instances,).
    """
    ### BEGIN SOLUTION
    norms = W.norm(dim=1)
    W_hat = W / norms[:, None, :].clamp_min(1e-12)
    cos = torch.einsum("ihf,ihg->ifg", W_hat, W_hat)
    rep = norms > threshold
    mask = (cos < cos_max) & rep[:, :, None] & rep[:, None, :]
    return torch.triu(mask, diagonal=1).sum(dim=(1, 2))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "antipodal_pairs_test", "points": 2}
W = torch.stack([
    torch.tensor([[1.0, -1.0, 0.0, 0.0, 0.1], [0.0, 0.0, 1.0, -1.0, 0.0]]),  # two pairs (and an unused feature)
    PENTAGON[0] * 1.1,  # a pentagon: no pair (cos 144 = -0.81 is not below -0.9)
    torch.tensor([[1.0, -1.0, 0.0, -0.2, 0.0], [0.0, 0.1, 1.0, 0.0, 0.0]]),  # one pair; feature 3 too short to count
    torch.tensor([[0.0, -0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0]]),  # 1 and 2 opposite, but of norm exactly 0.5
])
got = antipodal_pairs(W)
checks.assert_dtype("antipodal_pairs", got, torch.int64)
checks.assert_equal("antipodal_pairs", got, torch.tensor([2, 0, 1, 0]),
                    hint="count each unordered pair once (the cosine matrix has it twice), only between represented "
                         "features (norm > threshold, strictly), with cos < cos_max")
print("antipodal_pairs: visible tests pass")
### BEGIN HIDDEN TESTS
_W3 = torch.zeros(2, 3, 6, dtype=torch.float64)
_W3[0, :, 0], _W3[0, :, 1] = torch.tensor([1.0, 1.0, 0.0]), torch.tensor([-1.0, -1.0, 0.1])  # a pair in 3D
_W3[0, :, 2], _W3[0, :, 3] = torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.0, 0.0, -1.0])  # another
_W3[0, :, 4] = torch.tensor([0.0, 0.0, -2.0])  # also opposite feature 2: pairs (2, 4) ...
_W3[1, :, 0], _W3[1, :, 1] = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([-0.8, 0.6, 0.0])  # cos -0.8: not a pair
_got = checks.call("antipodal_pairs", antipodal_pairs, _W3, case="3 hidden dimensions, float64")
checks.assert_equal("antipodal_pairs", _got, torch.tensor([3, 0]), name="pairs in 3 dimensions",
                    hint="instance 0 has the pairs (0, 1), (2, 3) and (2, 4); features 3 and 4 point the same way. "
                         "Compare cosines (normalise both columns), in any number of hidden dimensions")
checks.assert_equal("antipodal_pairs", antipodal_pairs(_W3, cos_max=-0.75), torch.tensor([3, 1]),
                    name="pairs with cos_max=-0.85", hint="use the cos_max argument")
checks.assert_equal("antipodal_pairs", antipodal_pairs(_W3, threshold=1.5), torch.tensor([0, 0]),
                    name="pairs with threshold=1.5", hint="only represented features (norm > threshold) count")
_Wt = torch.tensor([[[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]]).transpose(1, 2)
checks.assert_equal("antipodal_pairs", antipodal_pairs(_Wt), torch.tensor([1]), name="pairs in a transposed view")
_W0 = torch.zeros(1, 2, 3)
checks.assert_equal("antipodal_pairs", antipodal_pairs(_W0), torch.tensor([0]), name="pairs of an all-zero W")
_exact = torch.tensor([[[1.0, -1.0], [0.0, 0.0]]])  # cos exactly -1
checks.assert_equal("antipodal_pairs", antipodal_pairs(_exact, cos_max=-1.0), torch.tensor([0]),
                    name="an exactly antipodal pair with cos_max=-1", hint="cos < cos_max, strictly")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 8: naming the geometry
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 3 points · about 20 minutes, then look at the hint.
#
# In two hidden dimensions a feature's direction is an angle,
# $\theta_i = \mathrm{atan2}(W_{1,i}, W_{0,i})$. Sort the angles of the represented features
# and look at the **gaps** between neighbours around the circle (the last gap wraps round:
# from the largest angle to the smallest plus 360°). A regular pentagon has five gaps of
# 72°; two orthogonal features have a gap of 90° (and one of 270°).
#
# Write `classify_geometry(W, threshold, tol)`, which names each instance's arrangement of
# its represented features (norm above `threshold`), trying the names in this order:
#
# | name | when |
# |---|---|
# | `"orthogonal"` | exactly 2 features, and the angle between them is within `tol` degrees of 90° |
# | `"antipodal pairs"` | 2 or more features, and every one of them has **exactly one** antipodal partner (cos < −0.9) among them |
# | `"pentagon"` | exactly 5 features, and all five gaps are within `tol` degrees of 72° |
# | `"other"` | anything else (0 or 1 feature, 3 features, a pair plus a loner, ...) |
#
# It works for 2 hidden dimensions only: raise `ValueError` otherwise.
#
# <details><summary>Hint</summary>
#
# Loop over instances (a Python loop is fine: there are few, and each needs a different
# number of features). For instance `k`: `idx = torch.nonzero(W[k].norm(dim=0) >
# threshold).flatten()`; `V = W[k][:, idx]`. Angles in degrees:
# `torch.rad2deg(torch.atan2(V[1], V[0])) % 360`, sorted; gaps:
# `torch.diff(torch.cat([a, a[:1] + 360]))`. For two features the angle between them is
# the smaller gap. Partners: the cosine matrix of the normalised `V`, `(cos < -0.9).sum(dim=1)`,
# which must equal 1 for every feature.
# </details>

# %% nbgrader={"solution": true, "grade_id": "classify_geometry"} exercise={"difficulty": 3, "importance": 3, "minutes": 20}
def classify_geometry(W: torch.Tensor, threshold: float = 0.5, tol: float = 10.0) -> list[str]:
    """Name each instance's arrangement of represented features in 2 hidden dimensions.

    W: float (instances, 2, features). Represented: column norm > threshold. Returns a list
    of one str per instance, the first that applies of "orthogonal" (2 features, angle
    90 +- tol degrees), "antipodal pairs" (>= 2 features, each with exactly one partner of
    cosine < -0.9), "pentagon" (5 features, every gap between neighbouring angles
    72 +- tol degrees), else "other". Raises ValueError if W.shape[1] != 2.
    """
    ### BEGIN SOLUTION
    if W.ndim != 3 or W.shape[1] != 2:
        raise ValueError(f"classify_geometry needs W of shape (instances, 2, features), got {tuple(W.shape)}")
    names = []
    for k in range(W.shape[0]):
        idx = torch.nonzero(W[k].norm(dim=0) > threshold).flatten()
        V = W[k][:, idx]
        n = V.shape[1]
        a = torch.sort(torch.rad2deg(torch.atan2(V[1], V[0])) % 360).values
        gaps = torch.diff(torch.cat([a, a[:1] + 360]))
        V_hat = V / V.norm(dim=0)
        partners = ((V_hat.T @ V_hat) < -0.9).sum(dim=1)
        if n == 2 and abs(float(gaps.min()) - 90) <= tol:
            names.append("orthogonal")
        elif n >= 2 and bool((partners == 1).all()):
            names.append("antipodal pairs")
        elif n == 5 and bool(((gaps - 72).abs() <= tol).all()):
            names.append("pentagon")
        else:
            names.append("other")
    return names
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "classify_geometry_test", "points": 3}
def _polar(degrees, norms=None):
    """(2, n) columns at the given angles (degrees) with the given norms (default 1)."""
    t = torch.tensor(degrees, dtype=torch.float32) * math.pi / 180
    r = torch.ones(len(degrees)) if norms is None else torch.tensor(norms)
    return torch.stack([r * torch.cos(t), r * torch.sin(t)])


W = torch.stack([
    _polar([10, 100, 0, 0, 0], [1, 1, 0.1, 0.05, 0]),  # orthogonal, three tiny features
    _polar([20, 200, 110, 290, 0], [1, 1, 1, 1, 0.2]),  # two antipodal pairs
    _polar([5, 77, 149, 221, 293]),  # a pentagon
    _polar([0, 180, 90, 0, 0], [1, 1, 1, 0, 0]),  # a pair plus a loner
    _polar([0, 60, 0, 0, 0], [1, 1, 0, 0, 0]),  # two features at 60 degrees
    _polar([0, 80, 160, 240, 320]),  # gaps of 80 degrees, and 40 from 320 back round to 360 = 0
    _polar([20, 200, 110, 290, 0], [0.6, 0.6, 0.7, 0.7, 0.1]),  # two short antipodal pairs
    _polar([30, 210, 0, 0, 0], [1, 1, 0, 0, 0]),  # a single antipodal pair
    torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, -0.5, 0.0, 0.0]]),  # orthogonal; feature 2's norm is exactly 0.5
])
got = classify_geometry(W)
checks.assert_true("classify_geometry", isinstance(got, list) and len(got) == 9,
                   f"classify_geometry returned {got!r}; return a list with one name per instance")
checks.assert_equal("classify_geometry", got, ["orthogonal", "antipodal pairs", "pentagon", "other", "other", "other",
                                               "antipodal pairs", "antipodal pairs", "orthogonal"],
                    hint="only features with norm > threshold take part; see the table for the order of the names; "
                         "the gaps include the one that wraps round from the largest angle to the smallest + 360; "
                         "partners compare cosines, so normalise the columns")
checks.assert_equal("classify_geometry", classify_geometry(torch.stack([W[0], _polar([359.5, 71.5, 143.5, 215.5, 287.5])]),
                                                           tol=0.5), ["orthogonal", "pentagon"],
                    name="an exact right angle and a pentagon through 359.5 degrees, with tol=0.5",
                    hint="angles modulo 360, the wrap-around gap + 360, and 90 (72) exactly")
checks.assert_raises("classify_geometry", ValueError, classify_geometry, torch.randn(2, 3, 5),
                     hint="W must have exactly 2 hidden dimensions: raise ValueError otherwise")
print("classify_geometry: visible tests pass")
### BEGIN HIDDEN TESTS
_W = torch.stack([
    _polar([100, 172, 244, 316, 28]),  # a pentagon in a scrambled feature order, crossing 0 degrees
    _polar([0, 75, 140, 218, 290], [0.8, 1.2, 1.0, 0.9, 1.1]),  # an irregular but within-tolerance pentagon
    _polar([0, 90, 180, 270, 30], [1, 1, 1, 1, 0.3]),  # a square = two antipodal pairs
    _polar([30, 210, 0, 0, 0], [1, 1, 0, 0, 0]),  # a single antipodal pair
    _polar([0, 72, 144, 216, 288], [1, 1, 1, 1, 0.4]),  # a pentagon missing a feature
    _polar([0, 50, 144, 216, 288]),  # five features, one gap of 50 degrees
    _polar([0, 0, 0, 0, 0], [0, 0, 0, 0, 0]),  # nothing represented
    _polar([358, 85, 0, 0, 0], [1, 1, 0, 0, 0]),  # orthogonal across 0 degrees (87 degrees apart)
])
_got = checks.call("classify_geometry", classify_geometry, _W, case="eight 2-dimensional instances")
_want = ["pentagon", "pentagon", "antipodal pairs", "antipodal pairs", "other", "other", "other", "orthogonal"]
checks.assert_equal("classify_geometry", _got, _want,
                    hint="sort the angles (mod 360) before taking gaps, include the wrap-around gap, and allow any "
                         "feature order and norms")
checks.assert_equal("classify_geometry", classify_geometry(_W[:1], tol=0.5), ["pentagon"], name="a pentagon with tol=0.5")
checks.assert_equal("classify_geometry", classify_geometry(_W[1:2], tol=2.0), ["other"],
                    name="an irregular pentagon with tol=2", hint="use the tol argument")
checks.assert_equal("classify_geometry", classify_geometry(_W[2:3], threshold=1.5), ["other"],
                    name="a square with threshold=1.5", hint="use the threshold argument")
checks.assert_raises("classify_geometry", ValueError, classify_geometry, torch.randn(2, 3, 5),
                     hint="W must have exactly 2 hidden dimensions")
checks.assert_equal("classify_geometry", classify_geometry(_W.double()[:2]), ["pentagon", "pentagon"],
                    name="float64 pentagons")
### END HIDDEN TESTS

# %% [markdown]
# ### The geometry across the sweep
#
# The same picture as before, now named by your function, and a table of how often each
# arrangement appears per level. The test asserts, with a margin, what held in every sweep
# we tried: orthogonal when dense, a pentagon at the sparse end (feature probability 0.04 and below,
# in at least 10 of the 12 models), and antipodal pairs in between.

# %%
sweep_geometry = classify_geometry(sweep_W)
plot_directions(sweep_W, [f"p={LEVEL_P[k % LEVELS]:.3f}\n{g}" for k, g in enumerate(sweep_geometry)], ncols=LEVELS)
names = ["orthogonal", "antipodal pairs", "pentagon", "other"]
print(f"{'feature probability':>20} " + " ".join(f"{p:6.3f}" for p in LEVEL_P.tolist()))
for name in names:
    row = [sum(sweep_geometry[r * LEVELS + lv] == name for r in range(REPLICAS)) for lv in range(LEVELS)]
    print(f"{name:>20} " + " ".join(f"{c:6d}" for c in row))
print(f"{'with >= 1 pair':>20} " + " ".join(f"{c:6d}" for c in
                                           (antipodal_pairs(sweep_W) > 0).reshape(REPLICAS, LEVELS).sum(0).tolist()))

# %% nbgrader={"grade": true, "grade_id": "classify_geometry_test_2", "points": 3}
classify_geometry(PENTAGON)  # your function first (a stub stops here), then your trained sweep
checks.assert_true("classify_geometry", "sweep_W" in globals(),
                   "sweep_W does not exist: run the sweep's training cell above (it needs train_toy_models)")
geometry = np.array(classify_geometry(sweep_W)).reshape(REPLICAS, LEVELS)
checks.assert_true("classify_geometry", bool((geometry[:, 0] == "orthogonal").all()),
                   f"expected the dense models to be 'orthogonal'; got {geometry[:, 0].tolist()}")
n_pentagons = int((geometry[:, -3:] == "pentagon").sum())
checks.assert_true("classify_geometry", n_pentagons >= 10,
                   f"expected a pentagon at p <= 0.04 in at least 10 of 12 models; got {n_pentagons}: "
                   f"{geometry[:, -3:].tolist()}")
with_pairs = antipodal_pairs(sweep_W).reshape(REPLICAS, LEVELS)
checks.assert_true("classify_geometry", int((with_pairs[:, 1:4] > 0).sum()) >= 6,
                   f"expected an antipodal pair in at least 6 of the 12 models at p = 0.52, 0.27, 0.14; got "
                   f"{with_pairs[:, 1:4].tolist()} pairs")
checks.assert_true("classify_geometry", int((geometry[:, 1:5] == "antipodal pairs").sum()) >= 2,
                   f"expected 'antipodal pairs' in at least 2 of the 16 models at intermediate sparsity; got "
                   f"{geometry[:, 1:5].tolist()}")
print(f"classify_geometry: the sweep's geometry passes ({n_pentagons} pentagons of 12 at the sparse end)")
### BEGIN HIDDEN TESTS
# Fresh seeds: dense and very sparse, trained with your code, named by your function.
_p = torch.tensor([1.0, 0.02, 0.01]).repeat(2)
_W0, _b0 = init_toy_params(6, 5, 2, seed=201)
_out = checks.call("classify_geometry", train_toy_models, _W0, _b0, _p, IMPORTANCE, steps=2000, batch_size=512,
                   lr=1e-2, seed=202, progress=False, case="a fresh-seed sweep")
checks.assert_true("classify_geometry", isinstance(_out, tuple), "train_toy_models must return (W, b, losses)")
_g = np.array(classify_geometry(_out[0])).reshape(2, 3)
checks.assert_true("classify_geometry", bool((_g[:, 0] == "orthogonal").all()),
                   f"on fresh seeds, expected the dense models to be 'orthogonal'; got {_g[:, 0].tolist()}")
checks.assert_true("classify_geometry", int((_g[:, 1:] == "pentagon").sum()) >= 3,
                   f"on fresh seeds, expected a pentagon at p <= 0.02 in at least 3 of 4 models; got {_g[:, 1:].tolist()}")
### END HIDDEN TESTS

# %% [markdown]
# **What just happened.** Nobody told the model about pentagons. Gradient descent on a
# squared error found, for sparse enough features, that five features in two dimensions
# cost less than two, provided they sit as far apart as possible: with equal importance the
# best packing of five directions in a plane is the regular pentagon, and the importances
# here ($0.9^i$) are close enough to equal. In between, the model chose antipodal pairs,
# which cost nothing while only one feature of the pair is active. Which of the two
# arrangements wins at a middle sparsity depends on the seed (see the table): several
# arrangements are local minima, and the lesson's tests assert only what held across
# seeds.

# %% [markdown]
# ## Why this matters for safety
#
# Superposition is the main reason a model cannot be audited one neuron at a time. If a model
# stores more features than it has dimensions, each neuron responds to several unrelated features,
# and a check that reads neurons will miss some features and confuse others. Elhage et al. (2022)
# argue that undoing superposition is what it would take to enumerate every feature a model uses,
# and an audit that wants to conclude "no feature of this dangerous kind is present" needs exactly
# that enumeration. Sparse autoencoders (lesson 4.3) are the field's main attempt to undo it. The
# antipodal pairs and the pentagon you just found are the simplest case on which such methods can
# be checked against a known truth.

# %% [markdown]
# ## Part 4: dimensionality
#
# ## Exercise 9: dimensions per feature
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 5 minutes, then look at the hint.
#
# How many features does the model store per dimension? $\lVert W\rVert_F^2 = \sum_i
# \lVert W_i\rVert^2$ counts a unit-norm represented feature as 1 and an unrepresented one
# as about 0, so it estimates the number of represented features. The paper's
# **dimensions per feature** is
#
# $$D^* = \frac{m}{\lVert W\rVert_F^2}.$$
#
# The dense model has $D^* = 2/2 = 1$ (a whole dimension per feature); a unit pentagon has
# $2/5 = 0.4$. Write `dims_per_feature(W)`, one $D^*$ per instance, with $m$ the number of
# hidden dimensions.
#
# <details><summary>Hint</summary>
#
# **The idea.** Elhage et al.'s "dimensions per feature" is the number of hidden dimensions divided
# by how many features are represented, measured by the squared Frobenius norm of `W`.
#
# **A pointer.** For each instance: the hidden size over the sum of squares of that instance's
# `W`. Which axis of `W` is the hidden one?
# </details>

# %% nbgrader={"solution": true, "grade_id": "dims_per_feature"} exercise={"difficulty": 1, "importance": 3, "minutes": 5}
def dims_per_feature(W: torch.Tensor) -> torch.Tensor:
    """The paper's D* = m / ||W||_F^2 of every instance.

    W: float (instances, hidden, features); m = hidden. Returns (instances,), the dtype of W.
    """
    ### BEGIN SOLUTION
    return W.shape[1] / (W ** 2).sum(dim=(1, 2))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "dims_per_feature_test", "points": 1}
W = torch.stack([torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0]]), PENTAGON[0]])
checks.assert_close("dims_per_feature", dims_per_feature(W), torch.tensor([1.0, 0.4]), rtol=1e-5, atol=1e-6,
                    hint="m is the number of hidden dimensions (W.shape[1]); ||W||_F^2 sums the squares over both "
                         "the hidden and the feature axes")
print("dims_per_feature: visible tests pass")
### BEGIN HIDDEN TESTS
_W = torch.randn(3, 4, 7, dtype=torch.float64)
_got = checks.call("dims_per_feature", dims_per_feature, _W, case="4 hidden dimensions, float64")
checks.assert_dtype("dims_per_feature", _got, torch.float64)
checks.assert_close("dims_per_feature", _got, 4 / torch.linalg.matrix_norm(_W) ** 2, name="D* with m = 4",
                    hint="m is W.shape[1], the hidden size, not 2")
_Wt = (torch.randn(2, 6, 3)).transpose(1, 2)
checks.assert_close("dims_per_feature", dims_per_feature(_Wt), 3 / torch.linalg.matrix_norm(_Wt) ** 2, rtol=1e-5,
                    atol=1e-6, name="D* of a transposed view")
checks.assert_close("dims_per_feature", dims_per_feature(2 * W), torch.tensor([0.25, 0.1]), rtol=1e-5, atol=1e-6,
                    name="D* of weights scaled by 2", hint="||W||_F^2 is the sum of SQUARES")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 10: the dimensionality of each feature
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 3 points · about 15 minutes, then look at the hint.
#
# $D^*$ is an average. The paper also gives each feature its own **dimensionality**,
#
# $$D_i = \frac{\lVert W_i\rVert^2}{\sum_j \left(\hat W_i \cdot W_j\right)^2},$$
#
# the fraction of a dimension feature $i$ gets: its own squared norm, divided by everything
# that lands on its direction, itself included. Note that the denominator is
# $\lVert W_i\rVert^2 + \mathrm{interference}_i$, and that $D_i$ does not change when all
# the features are scaled together. Values to check your intuition:
#
# - a feature with a dimension of its own: $D_i = 1$;
# - each feature of an antipodal pair: $1 / (1 + 1) = 1/2$;
# - each feature of a regular pentagon: $1 / (1 + 1.5) = 2/5$;
# - in general, $k$ features spread evenly over $d$ dimensions (a triangle in 2D:
#   $2/3$; a tetrahedron in 3D: $3/4$): $d / k$.
#
# A feature whose column is zero gets $D_i = 0$, not NaN (clamp the denominator, or the
# norm of $\hat W_i$, as in exercise 6).
#
# <details><summary>Hint</summary>
#
# **The idea.** Elhage et al.'s $D_i$: the squared norm of feature `i`'s column, divided by the sum
# over all `j` of its squared overlap with feature `j` (itself included). An orthogonal feature has
# $D_i = 1$; one sharing a pair of antipodal directions, 1/2.
#
# **A pointer.** The overlaps are those of `interference` with the `j = i` term kept. A zero column
# must give 0, not NaN: clamp the denominator.
# </details>

# %% nbgrader={"solution": true, "grade_id": "feature_dimensionality"} exercise={"difficulty": 3, "importance": 3, "minutes": 15}
def feature_dimensionality(W: torch.Tensor) -> torch.Tensor:
    """The paper's per-feature dimensionality D_i = ||W_i||^2 / sum_j (W_hat_i . W_j)^2.

    W: float (instances, hidden, features). A zero column has D_i = 0.
    Returns (instances, features), the dtype of W, each value in [0, 1].
    """
    ### BEGIN SOLUTION
    norms = W.norm(dim=1)
    W_hat = W / norms[:, None, :].clamp_min(1e-12)
    denominator = (torch.einsum("ihf,ihg->ifg", W_hat, W) ** 2).sum(dim=-1)
    return norms ** 2 / denominator.clamp_min(1e-12)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "feature_dimensionality_test", "points": 3}
W = torch.stack([torch.tensor([[1.0, 0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0]]), 1.2 * PENTAGON[0]])
checks.assert_close("feature_dimensionality", feature_dimensionality(W),
                    torch.tensor([[0.5, 0.0, 0.5, 1.0, 0.0], [0.4, 0.4, 0.4, 0.4, 0.4]]), rtol=1e-5, atol=1e-6,
                    hint="antipodal pair 1/2, own dimension 1, zero column 0, pentagon 2/5 whatever its scale; the "
                         "denominator includes j = i")
print("feature_dimensionality: visible tests pass")
### BEGIN HIDDEN TESTS
def _ref_dimensionality(W):
    out = torch.zeros(W.shape[0], W.shape[2], dtype=W.dtype)
    for k in range(W.shape[0]):
        for i in range(W.shape[2]):
            n = W[k, :, i].norm()
            if n > 0:
                out[k, i] = n ** 2 / sum((W[k, :, i] @ W[k, :, j] / n) ** 2 for j in range(W.shape[2]))
    return out


_tet = torch.tensor([[1.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]],
                    dtype=torch.float64).T[None] / math.sqrt(3)  # a regular tetrahedron in 3D
_got = checks.call("feature_dimensionality", feature_dimensionality, _tet, case="a tetrahedron, float64")
checks.assert_dtype("feature_dimensionality", _got, torch.float64)
checks.assert_close("feature_dimensionality", _got, torch.full((1, 4), 0.75, dtype=torch.float64),
                    name="the dimensionality of a tetrahedron's features (expected 3/4)")
torch.manual_seed(5)
_W = torch.randn(3, 3, 6)
_W[2, :, 1] = 0
checks.assert_close("feature_dimensionality", checks.call("feature_dimensionality", feature_dimensionality, _W,
                                                          case="random weights with a zero column"),
                    _ref_dimensionality(_W), rtol=1e-4, atol=1e-6, name="D_i of random 3-dim weights")
_Wt = torch.randn(2, 5, 2).transpose(1, 2)
checks.assert_close("feature_dimensionality", feature_dimensionality(_Wt), _ref_dimensionality(_Wt), rtol=1e-4,
                    atol=1e-6, name="D_i of a transposed view")
checks.assert_close("feature_dimensionality", feature_dimensionality(torch.zeros(1, 2, 3)), torch.zeros(1, 3),
                    name="D_i of an all-zero W", hint="clamp the norm and the denominator: 0/0 must give 0")
### END HIDDEN TESTS

# %% [markdown]
# ### Dimensionality across your sweep
#
# The line is $D^*$ per sparsity level (the mean over the 4 replicas) against
# $1/(1 - S) = 1/p$ (log scale); the dots are the $D_i$ of every represented feature.
# Dense features get a whole dimension each; the antipodal pairs sit at 1/2 and the
# pentagons at 2/5. Those two values follow from the geometry alone (exercise 10's
# worked values): they say *which* arrangement the model chose, not that the model prefers
# it. $D^*$ itself drifts below 0.4 at the sparse end, because the pentagon's features grow
# longer than 1, which $\lVert W\rVert_F^2$ counts as "more features".

# %%
FRACTIONS = {"1": 1.0, "3/4": 0.75, "2/3": 2 / 3, "1/2": 0.5, "2/5": 0.4, "3/8": 0.375}


def plot_dimensionality(ax, W: torch.Tensor, p: torch.Tensor, p_levels: torch.Tensor, title: str) -> None:
    """D* (the mean over replicas) against 1/p, and the D_i of every represented feature as dots."""
    inv = (1 / p).numpy()
    D = feature_dimensionality(W)
    rep = W.norm(dim=1) > 0.5
    for k in range(W.shape[0]):
        d = D[k][rep[k]].numpy()
        ax.scatter(np.full(len(d), inv[k]) * np.exp(np.random.default_rng(k).normal(0, 0.02, len(d))), d, s=6,
                   color="tab:blue", alpha=0.25, lw=0)
    dstar = dims_per_feature(W).reshape(-1, len(p_levels)).mean(0)
    ax.plot((1 / p_levels).numpy(), dstar.numpy(), "k.-", lw=1.5, label="D*")
    for label, y in FRACTIONS.items():
        ax.axhline(y, color="0.6", lw=0.7, ls="--")
        ax.text(inv.max() * 1.08, y, label, fontsize=7, va="center")
    ax.set(xscale="log", xlabel="1 / (1 - S)", ylabel="dimensions per feature", ylim=(0, 1.1), title=title)
    ax.legend(loc="lower left", fontsize=8)


fig, ax = plt.subplots(figsize=(6, 3.5))
plot_dimensionality(ax, sweep_W, SWEEP_P, LEVEL_P, "5 features in 2 dims (your sweep, 4 replicas)")
plt.show()
D_sweep = feature_dimensionality(sweep_W).reshape(REPLICAS, LEVELS, N_FEATURES)
rep_sweep = (sweep_W.norm(dim=1) > 0.5).reshape(REPLICAS, LEVELS, N_FEATURES)
for lv in (0, 2, LEVELS - 1):
    print(f"p = {LEVEL_P[lv]:.3f}: D_i of the represented features, mean {D_sweep[:, lv][rep_sweep[:, lv]].mean():.3f}; "
          f"D* per replica {[round(v, 3) for v in dims_per_feature(sweep_W).reshape(REPLICAS, LEVELS)[:, lv].tolist()]}")

# %% nbgrader={"grade": true, "grade_id": "feature_dimensionality_test_2", "points": 2}
feature_dimensionality(PENTAGON)  # your function first (a stub stops here), then your trained sweep
checks.assert_true("feature_dimensionality", "sweep_W" in globals(),
                   "sweep_W does not exist: run the sweep's training cell above (it needs train_toy_models)")
_D = feature_dimensionality(sweep_W).reshape(REPLICAS, LEVELS, N_FEATURES)
_rep = (sweep_W.norm(dim=1) > 0.5).reshape(REPLICAS, LEVELS, N_FEATURES)
_means = [float(_D[:, lv][_rep[:, lv]].mean()) for lv in (0, 2, LEVELS - 1)]
for _lv, _want, _tol, _what in [(0, 1.0, 0.02, "p = 1: two orthogonal features"),
                                (2, 0.5, 0.03, "p = 0.27: antipodal pairs"),
                                (LEVELS - 1, 0.4, 0.02, "p = 0.01: pentagons")]:
    _got = float(_D[:, _lv][_rep[:, _lv]].mean())
    checks.assert_true("feature_dimensionality", abs(_got - _want) <= _tol,
                       f"mean D_i of the represented features at {_what}: expected {_want} +- {_tol}, got {_got:.3f}",
                       hint="D_i depends only on the directions: check that the denominator sums over every j, "
                            "itself included, and that the features are columns (the norm over dim=1)")
print("feature_dimensionality: your sweep's mean D_i", [round(v, 3) for v in _means])

# %% [markdown]
# ## Part 5: the paper's feature-dimensionality experiment
#
# Five features in two dimensions can only show a few arrangements. The paper's section
# "Feature Dimensionality" asks the question at a larger size: $n = 400$ features in
# $m = 30$ dimensions, all of **equal** importance and sparsity (what the paper calls
# *uniform* superposition), one model per sparsity level. Its finding is about $D^*$, not
# about single features: as the features get sparser, $D^*$ does not fall smoothly; it
# **sticks** at 1 and at 1/2 (60 features in 30 antipodal pairs) over ranges of
# sparsity, and between and below those plateaus the
# features' $D_i$ cluster at the fractions of simple shapes: 3/4 (a tetrahedron), 2/3 (a
# triangle), 1/2 (a pair), 2/5 (a pentagon), 3/8 (a square antiprism).
#
# Training 16 sparsity levels of that model takes about 17 minutes on one busy core,
# too long for this notebook, so the course ships the result: the model `toy-sticky`,
# trained by the code of `python -m course.models.train toy-sticky` (in
# `course/models/toy.py`: the same model, Adam with a cosine decay, 3,000 steps of batches
# of 256, feature probabilities log-spaced from 1 to 0.05, that is $1/(1-S)$ from 1 to 20).
# `bootcamp reproduce toy-sticky` retrains it and compares. You measure it with your own
# functions.

# %%
from course.models import load as load_shipped

sticky_model = load_shipped("toy-sticky")
STICKY_W = sticky_model.W.detach()  # (16 levels, 30 hidden, 400 features)
STICKY_P = sticky_model.probability  # the feature probability of each level
print("W:", tuple(STICKY_W.shape), " 1/(1-S) per level:", [round(v, 2) for v in (1 / STICKY_P).tolist()])

# %% [markdown]
# **Predict, then look.** Before you run the next cell, write down your guesses: what is
# $D^*$ of the densest level (all 400 features present in every input, 30 dimensions)?
# Of the sparsest (a feature is present in one input in 20)? In between, will $D^*$ fall
# smoothly as $1/(1-S)$ grows, or in steps, and if in steps, where? Put them in
# `MY_PREDICTION` (not graded; the next cell prints them next to the data).

# %%
MY_PREDICTION = {"D* dense": None, "D* sparsest": None, "smooth or steps": None}

# %%
sticky_dstar = dims_per_feature(STICKY_W)
sticky_D = feature_dimensionality(STICKY_W)
sticky_rep = STICKY_W.norm(dim=1) > 0.5
fig, axes = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [1.6, 1]})
plot_dimensionality(axes[0], STICKY_W, STICKY_P, STICKY_P, "400 features in 30 dims (toy-sticky)")
axes[1].hist(sticky_D[sticky_rep].numpy(), bins=np.linspace(0, 1.05, 106), color="tab:blue")
for y in FRACTIONS.values():
    axes[1].axvline(y, color="0.6", lw=0.7, ls="--")
axes[1].set(xlabel="D_i of the represented features, all levels", ylabel="features", yscale="log",
            title="where the D_i fall")
plt.tight_layout()
plt.show()
print("your prediction:", MY_PREDICTION)
print(f"{'1/(1-S)':>8} {'D*':>6} {'represented':>12} {'D_i within 0.05 of 1/2':>24}")
for k in range(len(STICKY_P)):
    d = sticky_D[k][sticky_rep[k]]
    print(f"{1 / STICKY_P[k]:8.2f} {sticky_dstar[k]:6.3f} {int(sticky_rep[k].sum()):12d} "
          f"{float(((d - 0.5).abs() < 0.05).float().mean()) if len(d) else 0.0:24.2f}")

# %% [markdown]
# **What the shipped sweep shows.** The numbers are the ones your functions just printed;
# the test below asserts the sticky values with the tolerances it names.
#
# - **Dense** ($1/(1-S) \le 1.5$): $D^* = 1.00$, yet *no* feature has a column longer
#   than 0.5. With equal importance every 30-dimensional subspace is as good as any
#   other, and the model spreads one over most of the 400 features (at $1/(1-S) = 1$, 347
#   columns longer than 0.1, median 0.28, longest 0.40). A projection onto 30 dimensions has $\lVert W\rVert_F^2 = 30$ however it
#   is spread, so "one dimension per feature" is an average here, not one feature per
#   dimension. The paper notes the same: dense basis features cannot be told apart from
#   any other directions, which is why its $D_i$ plot has no line at 1.
# - **The step down** is fast: $D^* = 0.94$ at 1.8 and $0.62$ at 2.2.
# - **The plateau at 1/2**: $D^* = 0.512, 0.500, 0.458$ at $1/(1-S) = 2.7, 3.3, 4.0$.
#   That is three levels within 0.05 of 1/2 and none within 0.05 of 3/4, a band of the
#   same width. At those levels 58 to 63 features are represented ($2m = 60$), and 81% to
#   100% of them have $D_i$ within 0.05 of 1/2: antipodal pairs. $D_i$ reaches 1/2 a
#   level earlier than $D^*$ (at 2.2, 89% of the 46 represented features are near 1/2),
#   because the short leftover columns still count in $\lVert W\rVert_F^2$.
# - **Sparser**: $D^*$ falls steadily, from 0.38 at 4.9 to 0.14 at 20, with no further
#   plateau at this resolution. At 4.9, 87% of the represented features have $D_i$ within
#   0.03 of 2/5 or 3/8 (the two are too close to tell apart here); beyond that the $D_i$
#   fall below 0.3.
# - **Not reproduced**: the paper's $D_i$ clusters at 3/4 and 2/3 (tetrahedra and
#   triangles) do not appear at any of our 16 levels, and we see no plateau below 1/2.
#   A finer sweep around $1/(1-S) = 2$ and longer training (see "Going further") would
#   show whether they are missing or between our levels.

# %% nbgrader={"grade": true, "grade_id": "dims_per_feature_test_2", "points": 2}
dims_per_feature(PENTAGON)  # your function first (a stub stops here), then the shipped sweep
_dstar = dims_per_feature(STICKY_W)
_dstar = dims_per_feature(STICKY_W)
_D = feature_dimensionality(STICKY_W)
_rep = STICKY_W.norm(dim=1) > 0.5
checks.assert_close("dims_per_feature", _dstar[0], 1.0, atol=0.01, rtol=0,
                    name="D* of the densest level (a 30-dimensional projection: ||W||_F^2 = m)",
                    hint="m is W.shape[1] = 30, and ||W||_F^2 sums the squares of all 30 x 400 weights of a level")
_near_one, _near_half, _near_3_4 = [int(((_dstar - v).abs() < 0.05).sum()) for v in (1.0, 0.5, 0.75)]
checks.assert_true("dims_per_feature", _near_one >= 3 and _near_half >= 3 and _near_3_4 <= 1,
                   f"expected D* to stick: at least 3 levels within 0.05 of 1 and of 1/2, at most 1 within 0.05 of "
                   f"3/4; got {_near_one}, {_near_half} and {_near_3_4} (D* per level "
                   f"{[round(v, 3) for v in _dstar.tolist()]})",
                   hint="D* = m / ||W||_F^2 per level: W.shape[1] over the sum of squares over dims 1 and 2")
_half_levels = ((_dstar - 0.5).abs() < 0.05).nonzero().flatten().tolist()
for _k in _half_levels:
    _d = _D[_k][_rep[_k]]
    _share = float(((_d - 0.5).abs() < 0.05).float().mean()) if len(_d) else 0.0
    checks.assert_true("dims_per_feature", _share >= 0.75,
                       f"at 1/(1-S) = {1 / STICKY_P[_k]:.2f} (D* = {_dstar[_k]:.3f}) expected at least 75% of the "
                       f"represented features to have D_i within 0.05 of 1/2; got {_share:.0%}",
                       hint="check feature_dimensionality: on a pair of opposite unit columns it gives 1/2 each")
print(f"dims_per_feature: toy-sticky's D* sticks: {_near_one} levels within 0.05 of 1, {_near_half} of 1/2, "
      f"{_near_3_4} of 3/4")
### BEGIN HIDDEN TESTS
from course.models import registry as _registry

_shipped = torch.tensor(_registry.get("toy-sticky").sidecar()["dstar"])
checks.assert_close("dims_per_feature", dims_per_feature(STICKY_W), _shipped, atol=1e-4, rtol=0,
                    name="D* of every level of toy-sticky (against the values recorded when it was trained)")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 11 (investigation): what is $D^* = 1/2$ made of?
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 15 minutes, then look at the hint.
#
# $D^*$ is an average over all 400 features, so the same $D^* = 1/2$ can come from very
# different weights. Take the level of `toy-sticky` whose $D^*$ is closest to 1/2 and
# decide which hypothesis its weights support:
#
# | answer | hypothesis | what you would see |
# |---|---|---|
# | `"pairs"` | about $2m = 60$ features are represented, nearly all in antipodal pairs | most represented features have $D_i$ within 0.05 of 1/2 |
# | `"mixture"` | some features keep a dimension of their own and others share one more tightly; the average happens to be 1/2 | many represented features with $D_i > 0.95$, many others well below 1/2 |
# | `"spread"` | no arrangement: the features' dimensionalities are spread out | neither: few $D_i$ near 1/2 and few near 1 |
#
# Measure it with your functions (`dims_per_feature`, `feature_dimensionality`, the norms
# of the columns), then return your answer. The test recomputes the evidence from
# `STICKY_W` and checks that your answer is the one it supports.
#
# <details><summary>Hint</summary>
#
# **The idea.** Pick the level, keep only its represented features (norm above 0.5), and
# look at how their $D_i$ are distributed: what fraction lies near 1/2, what fraction near 1?
#
# **A pointer.** `dims_per_feature(STICKY_W)` has one value per level: the level you want is
# where its distance to 0.5 is smallest. Then index `feature_dimensionality(STICKY_W)` with
# that level and a boolean mask of the represented features, and take means of comparisons.
# </details>

# %% nbgrader={"solution": true, "grade_id": "plateau_geometry"} exercise={"difficulty": 2, "importance": 3, "minutes": 15}
def plateau_geometry() -> str:
    """Which hypothesis the toy-sticky level with D* closest to 1/2 supports: "pairs", "mixture" or "spread"."""
    ### BEGIN SOLUTION
    return "pairs"  # 58 represented features (2m = 60), all 58 with D_i within 0.05 of 1/2
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "plateau_geometry_test", "points": 2}
answer = checks.call("plateau_geometry", plateau_geometry, case="your answer")
checks.assert_true("plateau_geometry", answer in ("pairs", "mixture", "spread"),
                   f"expected one of 'pairs', 'mixture', 'spread'; got {answer!r}")
_k = int((dims_per_feature(STICKY_W) - 0.5).abs().argmin())
_rep = STICKY_W[_k].norm(dim=0) > 0.5
_d = feature_dimensionality(STICKY_W)[_k][_rep]
_near_half, _near_one = float(((_d - 0.5).abs() < 0.05).float().mean()), float((_d > 0.95).float().mean())
_supported = "pairs" if _near_half >= 0.7 else "mixture" if _near_one >= 0.2 else "spread"
checks.assert_equal("plateau_geometry", answer, _supported,
                    name=f"the hypothesis the level with D* = {float(dims_per_feature(STICKY_W)[_k]):.3f} supports",
                    hint="count the represented features of that level and look at the fraction of their D_i near "
                         "1/2 (within 0.05) and near 1 (above 0.95)")
print(f"plateau_geometry: {answer!r}: {int(_rep.sum())} features represented, {_near_half:.0%} with D_i near 1/2, "
      f"{_near_one:.0%} near 1")
### BEGIN HIDDEN TESTS
_a = checks.call("plateau_geometry", plateau_geometry, case="your answer, again")
checks.assert_equal("plateau_geometry", _a, _supported, name="the answer")
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# The paper's results next to yours, computed from your sweep (4 replicas of 8 sparsity
# levels, seed 0, 2,000 steps):

# %%
_counts = count_represented(sweep_W).reshape(REPLICAS, LEVELS)
_geometry = np.array(classify_geometry(sweep_W)).reshape(REPLICAS, LEVELS)
_pairs = (antipodal_pairs(sweep_W) > 0).reshape(REPLICAS, LEVELS)
_D = feature_dimensionality(sweep_W).reshape(REPLICAS, LEVELS, N_FEATURES)
_rep = (sweep_W.norm(dim=1) > 0.5).reshape(REPLICAS, LEVELS, N_FEATURES)
_sparse = LEVEL_P <= 0.04
_middle = (LEVEL_P > 0.1) & (LEVEL_P < 1)
rows = [
    ("dense: the 2 most important features, orthogonal",
     f"p = 1: {_counts[:, 0].float().mean():.2f} features; 'orthogonal' in {(_geometry[:, 0] == 'orthogonal').sum()} of "
     f"{REPLICAS}"),
    ("sparser: more features than dimensions",
     "mean features per level " + ", ".join(f"{c:.2f}" for c in _counts.float().mean(0).tolist())),
    ("antipodal pairs at intermediate sparsity",
     f"a pair in {int(_pairs[:, _middle].sum())} of {int(_middle.sum()) * REPLICAS} models at 0.1 < p < 1"),
    ("5 features in 2 dimensions: a pentagon when sparse",
     f"pentagon in {int((_geometry[:, _sparse.numpy()] == 'pentagon').sum())} of {int(_sparse.sum()) * REPLICAS} "
     f"models at p <= 0.04"),
    ("D_i: 1 alone, 1/2 in a pair, 2/5 in a pentagon (geometry)",
     f"mean D_i: {_D[:, 0][_rep[:, 0]].mean():.3f} at p = 1, {_D[:, 2][_rep[:, 2]].mean():.3f} at p = 0.27, "
     f"{_D[:, -1][_rep[:, -1]].mean():.3f} at p = 0.01"),
    ("n = 400, m = 30: D* sticks at 1 and 1/2",
     f"toy-sticky: {int(((sticky_dstar - 1).abs() < 0.05).sum())} levels within 0.05 of 1, "
     f"{int(((sticky_dstar - 0.5).abs() < 0.05).sum())} of 1/2, {int(((sticky_dstar - 0.75).abs() < 0.05).sum())} of 3/4"),
    ("D_i cluster at 3/4, 2/3, 1/2, 2/5, 3/8",
     "1/2 (antipodal pairs) and 2/5-3/8 seen; 3/4 and 2/3 not seen at our 16 levels"),
]
print(f"{'Elhage et al. 2022':<52} | this notebook")
print("-" * 52 + "-+-" + "-" * 60)
for paper, ours in rows:
    print(f"{paper:<52} | {ours}")

# %% [markdown]
# - The toy model is $x' = \mathrm{ReLU}(W^\top W x + b)$; a batch of models is one
#   `einsum` with an instance axis, trained by one optimiser on the summed loss.
# - Sparsity, not size, decides whether features go into superposition; importance decides
#   which features are dropped first.
# - $W^\top W$, the norms $\lVert W_i\rVert$, interference and $D_i$ are four views of the
#   same weights; antipodal pairs and polygons are what interference looks like when it is
#   organised.
# - The geometry depends on the seed: replicate, and assert what holds across replicas.
#
# Next: 4.3 trains a sparse autoencoder on this model's hidden activations and checks
# that it recovers the columns of $W$, the features you now know are there
# (`course/models/toy.py` holds the course's own copy of the model you wrote).

# %% [markdown]
# ## Going further
#
# Open questions an alumnus could take up. Each is small enough to start in an afternoon
# and open enough to become a project (lesson 5.1 turns one into a plan).
#
# 1. **Does the initial scale decide the geometry?** With `init_toy_params(..., std=0.5)`
#    instead of 0.1 we saw the sparsest models end in antipodal pairs instead of a pentagon
#    in about 1 run in 8. Map the basin: the fraction of pentagons against the initial
#    standard deviation and the learning rate, with enough replicas for error bars. Is the
#    pair configuration a true local minimum (does a long run at a small learning rate stay
#    there)? Start from `init_toy_params` and `train_toy_models` in this notebook, and note
#    that `course/models/toy.py` initialises with `xavier_normal_` over the whole
#    `(instances, hidden, features)` tensor, so its initial scale changes with the number
#    of instances.
# 2. **The phase diagram of one feature.** The paper's section on superposition as a
#    phase change trains 2 features in 1 dimension and maps, against sparsity and the
#    relative importance of the second feature, whether that feature is dropped, given its
#    own dimension or stored in superposition (antipodal to the first). Reproduce the
#    diagram as one batched model (an instance per grid cell: `weighted_loss` already
#    accepts an importance per instance) and locate the boundary. Start from
#    `train_toy_models` with `n_features=2, n_hidden=1`.
# 3. **How the pentagon forms.** Record `W` every 20 steps (add a snapshot list to
#    `train_toy_models`) and follow the features' norms and angles: does a sparse model
#    pass through antipodal pairs on its way to the pentagon, and do the features join one
#    at a time, in order of importance? The paper has a section on learning dynamics;
#    measure them here, on many seeds. Start from `train_toy_models` and
#    `plot_directions`.
# 4. **Correlated features.** `generate_batch` draws features independently. The paper
#    reports that correlated features prefer orthogonal directions and anti-correlated ones
#    antipodal pairs. Write a generator with a tunable correlation between two groups of
#    features and measure `antipodal_pairs` and the angles between groups as the
#    correlation varies. Start from `generate_batch`.
# 5. **The missing clusters.** `toy-sticky` shows $D^*$ sticking at 1 and 1/2 but none of
#    the paper's $D_i$ clusters at 3/4 and 2/3. Are they between our levels, or do they
#    need longer training? Retrain with 40 levels between $1/(1-S) = 1.5$ and 3 (change
#    `sticky_config` and `StickyTrainConfig` in `course/models/toy.py`; about a minute per
#    level per 1,000 steps on one core), and measure the fraction of features whose $D_i$
#    lies within 0.02 of each $d/k$. Do the plateaus of $D^*$ sharpen with training time?
# 6. **Can a sparse autoencoder tell a pentagon from pairs?** Lesson 4.3 recovers the
#    columns of `W` with an SAE. Does recovery (mean max cosine similarity) get worse as
#    the model moves from pairs to the pentagon, i.e. as interference grows, and does the
#    L1 coefficient that works for one geometry fail for the other? Start from
#    `course/models/toy.py` and lesson 4.3's SAE.

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 4.2`), else from `bootcamp check 4.2` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("4.2")
