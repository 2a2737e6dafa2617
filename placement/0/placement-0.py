# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   placement:
#     module: "0"
#     title: "Placement quiz: Module 0, From Python to tensors"
#     minutes: 14
# ---

# %% [markdown]
# # Placement quiz: Module 0, From Python to tensors
#
# Eight short items, about 14 minutes in all. Each one is a small function to write, with
# a test cell below it, exactly like the exercises of the lessons. Do not look anything up
# that you would not look up at work, and skip an item rather than spending more than its
# time on it: an unanswered item simply means "do that lesson".
#
# When you are done, save the notebook and run, from the course directory:
#
# ```
# bootcamp placement 0
# ```
#
# It grades every item (with a few extra edge cases), then tells you which lessons of
# Module 0 you can skip, which one to start with, and, for an item that fails, which lesson
# teaches it. `bootcamp map` and `bootcamp progress` then count the lessons you skipped as
# done.

# %%
import numpy as np
import torch
from einops import rearrange  # noqa: F401 (for your answer to item 3)
from scipy.spatial.distance import cdist as _cdist
from scipy.special import logsumexp as _reference_lse
from torch import nn

from course import checks

# %% [markdown]
# ## 1. A stable log-sum-exp (about 2 minutes, lesson 0.1)
#
# `logsumexp(x)` returns `log(sum(exp(x)))` along the last axis, for an array of any
# shape, without overflowing when `x` holds values like 1000. Keep the input's float dtype.

# %% nbgrader={"solution": true, "grade_id": "logsumexp"} exercise={"difficulty": 2, "importance": 4, "minutes": 2} placement={"lessons": ["0.1"]}
def logsumexp(x: np.ndarray) -> np.ndarray:
    """x: float array (..., n). Returns (...,), log(sum(exp(x), axis=-1)), computed stably."""
    ### BEGIN SOLUTION
    m = x.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[..., 0]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "logsumexp_test", "points": 1}
_x = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, 999.0]])
checks.assert_close("logsumexp", logsumexp(_x), _reference_lse(_x, axis=-1),
                    hint="subtract the row maximum before exp, then add it back after the log")
### BEGIN HIDDEN TESTS
_y = np.random.default_rng(0).normal(size=(2, 3, 5)).astype(np.float32) * 50
checks.assert_close("logsumexp", logsumexp(_y), _reference_lse(_y, axis=-1).astype(np.float32))
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Pairwise squared distances (about 2 minutes, lesson 0.1)
#
# `pairwise_sq_dists(a, b)` returns the `(n, m)` matrix of squared Euclidean distances
# between the rows of `a` `(n, d)` and the rows of `b` `(m, d)`, with broadcasting and no
# Python loop.

# %% nbgrader={"solution": true, "grade_id": "pairwise_sq_dists"} exercise={"difficulty": 2, "importance": 4, "minutes": 2} placement={"lessons": ["0.1"]}
def pairwise_sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a: (n, d), b: (m, d). Returns (n, m) with out[i, j] = sum((a[i] - b[j]) ** 2)."""
    ### BEGIN SOLUTION
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "pairwise_sq_dists_test", "points": 1}
_a, _b = np.random.default_rng(1).normal(size=(4, 3)), np.random.default_rng(2).normal(size=(5, 3))
checks.assert_close("pairwise_sq_dists", pairwise_sq_dists(_a, _b), _cdist(_a, _b, "sqeuclidean"),
                    hint="a[:, None, :] - b[None, :, :] has shape (n, m, d)")
checks.assert_no_loops("pairwise_sq_dists", pairwise_sq_dists)
### BEGIN HIDDEN TESTS
checks.assert_close("pairwise_sq_dists", pairwise_sq_dists(_a[:1], _b[:0]), np.zeros((1, 0)))
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Images to patches with einops (about 2 minutes, lesson 0.2)
#
# `to_patches(images, p)` cuts a batch of images `(b, c, h, w)` into non-overlapping
# `p × p` patches and returns `(b, number_of_patches, c * p * p)`. Patches are numbered
# row by row; the last axis lists channel, then patch row, then patch column. Use
# `einops.rearrange`.

# %% nbgrader={"solution": true, "grade_id": "to_patches"} exercise={"difficulty": 2, "importance": 4, "minutes": 2} placement={"lessons": ["0.2"]}
def to_patches(images: torch.Tensor, p: int) -> torch.Tensor:
    """images: (b, c, h, w), h and w multiples of p. Returns (b, (h/p) * (w/p), c * p * p)."""
    ### BEGIN SOLUTION
    return rearrange(images, "b c (h p1) (w p2) -> b (h w) (c p1 p2)", p1=p, p2=p)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "to_patches_test", "points": 1}
_img = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
checks.assert_close("to_patches", to_patches(_img, 2), torch.nn.functional.unfold(_img, 2, stride=2).transpose(1, 2),
                    hint="split h into (h p1) and w into (w p2); the patch index is (h w), its contents (c p1 p2)")

# %% [markdown]
# ## 4. A batched bilinear form with einsum (about 1 minute, lesson 0.2)
#
# `bilinear(x, W, y)` returns, for each row `i`, the number `x[i] @ W @ y[i]`, with one
# `torch.einsum`.

# %% nbgrader={"solution": true, "grade_id": "bilinear"} exercise={"difficulty": 1, "importance": 4, "minutes": 1} placement={"lessons": ["0.2"]}
def bilinear(x: torch.Tensor, W: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x: (b, d), W: (d, e), y: (b, e). Returns (b,)."""
    ### BEGIN SOLUTION
    return torch.einsum("bd,de,be->b", x, W, y)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "bilinear_test", "points": 1}
_g = torch.Generator().manual_seed(0)
_x, _W, _y = torch.randn(5, 3, generator=_g), torch.randn(3, 4, generator=_g), torch.randn(5, 4, generator=_g)
checks.assert_close("bilinear", bilinear(_x, _W, _y), ((_x @ _W) * _y).sum(-1),
                    hint="the output keeps only the batch index: 'bd,de,be->b'")

# %% [markdown]
# ## 5. A running total without `cumsum` (about 2 minutes, lesson 0.2)
#
# `running_total(x)` returns the cumulative sum of a 1-D tensor, built from `torch.arange`,
# a broadcast comparison and a matrix product or a sum. `cumsum` and Python loops are not
# allowed.

# %% nbgrader={"solution": true, "grade_id": "running_total"} exercise={"difficulty": 3, "importance": 3, "minutes": 2} placement={"lessons": ["0.2"]}
def running_total(x: torch.Tensor) -> torch.Tensor:
    """x: (n,). Returns (n,), out[i] = x[0] + ... + x[i]."""
    ### BEGIN SOLUTION
    i = torch.arange(len(x))
    return ((i[None, :] <= i[:, None]).to(x.dtype) * x[None, :]).sum(-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "running_total_test", "points": 1}
_v = torch.tensor([3.0, -1.0, 4.0, 1.0, 5.0])
checks.assert_close("running_total", running_total(_v), torch.cumsum(_v, 0),
                    hint="a lower-triangular mask (j <= i) times x, summed over j")
checks.assert_no_loops("running_total", running_total, forbidden=("cumsum",))
### BEGIN HIDDEN TESTS
checks.assert_close("running_total", running_total(torch.ones(1)), torch.ones(1))
### END HIDDEN TESTS

# %% [markdown]
# ## 6. A gradient from autograd (about 1 minute, lesson 0.3)
#
# `mse_grad(X, y, w)` returns the gradient of `((X @ w - y) ** 2).mean()` with respect to
# `w`, computed by autograd. Leave the caller's `w` as it was (no `requires_grad` on it
# afterwards).

# %% nbgrader={"solution": true, "grade_id": "mse_grad"} exercise={"difficulty": 2, "importance": 5, "minutes": 1} placement={"lessons": ["0.3"]}
def mse_grad(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """X: (n, d), y: (n,), w: (d,). Returns (d,), d/dw of the mean squared error."""
    ### BEGIN SOLUTION
    w = w.detach().clone().requires_grad_(True)
    ((X @ w - y) ** 2).mean().backward()
    return w.grad
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "mse_grad_test", "points": 1}
_g = torch.Generator().manual_seed(1)
_X, _t, _w = torch.randn(6, 3, generator=_g), torch.randn(6, generator=_g), torch.randn(3, generator=_g)
checks.assert_close("mse_grad", mse_grad(_X, _t, _w), 2 / 6 * _X.T @ (_X @ _w - _t),
                    hint="make a leaf copy with requires_grad, compute the loss, call backward(), read .grad")
checks.assert_true("mse_grad", not _w.requires_grad, "mse_grad changed the caller's w (it now requires grad)",
                   hint="w.detach().clone().requires_grad_(True)")

# %% [markdown]
# ## 7. A linear layer as an `nn.Module` (about 2 minutes, lesson 0.3)
#
# `Affine(d_in, d_out)` holds a weight `(d_out, d_in)` and a bias `(d_out,)` as registered
# parameters (any initialisation) and computes `x @ weight.T + bias`.

# %% nbgrader={"solution": true, "grade_id": "affine"} exercise={"difficulty": 2, "importance": 5, "minutes": 2} placement={"lessons": ["0.3"]}
class Affine(nn.Module):
    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        ### BEGIN SOLUTION
        self.weight = nn.Parameter(torch.randn(d_out, d_in) / d_in**0.5)
        self.bias = nn.Parameter(torch.zeros(d_out))
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., d_in). Returns (..., d_out)."""
        ### BEGIN SOLUTION
        return x @ self.weight.T + self.bias
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "affine_test", "points": 1}
_layer = Affine(3, 2)
_params = dict(_layer.named_parameters())
checks.assert_true("affine", set(_params) == {"weight", "bias"},
                   f"Affine's registered parameters are {sorted(_params)}; expected ['bias', 'weight']",
                   hint="wrap the tensors in nn.Parameter and assign them to self")
checks.assert_shape("affine", _params["weight"], (2, 3), name="weight")
_inp = torch.randn(4, 3)
checks.assert_close("affine", _layer(_inp), torch.nn.functional.linear(_inp, _layer.weight, _layer.bias))

# %% [markdown]
# ## 8. One training step (about 2 minutes, lesson 0.3)
#
# `train_step(model, optimizer, x, y)` does one step of training on a classification
# batch with the cross-entropy loss, and returns the loss (before the step) as a Python
# float. Gradients left over from an earlier step must not leak into this one.

# %% nbgrader={"solution": true, "grade_id": "train_step"} exercise={"difficulty": 2, "importance": 5, "minutes": 2} placement={"lessons": ["0.3"]}
def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> float:
    """x: (b, ...) inputs, y: (b,) class indices. Returns the loss as a float."""
    ### BEGIN SOLUTION
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "train_step_test", "points": 1}
def _setup():
    torch.manual_seed(0)
    m = nn.Linear(4, 3)
    for p in m.parameters():
        p.grad = torch.full_like(p, 100.0)  # stale gradients from "an earlier step"
    return m, torch.optim.SGD(m.parameters(), lr=0.1)


_xb, _yb = torch.randn(8, 4, generator=torch.Generator().manual_seed(3)), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
_m1, _o1 = _setup()
_loss = train_step(_m1, _o1, _xb, _yb)
_m2, _o2 = _setup()
_o2.zero_grad()
_want = nn.functional.cross_entropy(_m2(_xb), _yb)
_want.backward()
_o2.step()
checks.assert_true("train_step", isinstance(_loss, float), f"train_step returned a {type(_loss).__name__}; "
                   "return loss.item()")
checks.assert_close("train_step", _loss, _want.item(), name="returned loss")
checks.assert_close("train_step", _m1.weight.detach(), _m2.weight.detach(), name="weight after the step",
                    hint="call optimizer.zero_grad() before backward(): gradients add up otherwise")
