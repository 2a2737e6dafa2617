# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   placement:
#     module: "1"
#     title: "Placement quiz: Module 1, ML engineering from scratch"
#     minutes: 14
# ---

# %% [markdown]
# # Placement quiz: Module 1, ML engineering from scratch
#
# Eight short items, about 14 minutes in all: one checks the PyTorch you need from
# Module 0, the others the four lessons of Module 1. Skip an item rather than spending
# more than its time on it: an unanswered item simply means "do that lesson".
#
# When you are done, save the notebook and run `bootcamp placement 1` from the course
# directory. It says which lessons of Module 1 you can skip, which one to start with, and
# which lesson to go back to for each item that fails, Module 0's included.

# %%
import math  # noqa: F401 (for your answer to item 5)

import numpy as np
import torch
from torch import nn

from course import checks

# %% [markdown]
# ## 1. A gradient with `torch.autograd.grad` (about 1 minute, lesson 0.3)
#
# `input_grad(f, x)` returns the gradient of the scalar `f(x)` with respect to the tensor
# `x`, without changing `x` (no `requires_grad` on it afterwards, no `.grad` left on it).

# %% nbgrader={"solution": true, "grade_id": "input_grad"} exercise={"difficulty": 1, "importance": 5, "minutes": 1} placement={"lessons": ["0.3"]}
def input_grad(f, x: torch.Tensor) -> torch.Tensor:
    """f: a function from a tensor shaped like x to a scalar tensor. Returns df/dx, shaped like x."""
    ### BEGIN SOLUTION
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x)
    return g
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "input_grad_test", "points": 1}
_x = torch.tensor([1.0, -2.0, 3.0])
checks.assert_close("input_grad", input_grad(lambda t: (t**3).sum(), _x), 3 * _x**2,
                    hint="make a leaf copy that requires grad, then torch.autograd.grad(f(x), x)")
checks.assert_true("input_grad", not _x.requires_grad and _x.grad is None, "input_grad changed the caller's x")

# %% [markdown]
# ## 2. Un-broadcasting a gradient (about 2 minutes, lesson 1.1)
#
# In `out = a + b`, `a` of shape `shape` was broadcast to `grad.shape`. `unbroadcast(grad,
# shape)` returns the gradient with respect to `a`: `grad` summed over every axis along
# which `a` was stretched, with the shape `shape`.

# %% nbgrader={"solution": true, "grade_id": "unbroadcast"} exercise={"difficulty": 3, "importance": 5, "minutes": 2} placement={"lessons": ["1.1"]}
def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """grad: an array whose shape `shape` broadcasts to. Returns an array of shape `shape`."""
    ### BEGIN SOLUTION
    extra = grad.ndim - len(shape)
    g = grad.sum(axis=tuple(range(extra))) if extra else grad
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "unbroadcast_test", "points": 1}
for _shape in [(3, 1), (4,), (2, 3, 4), (1, 1, 4), ()]:
    _a = torch.zeros(_shape, dtype=torch.float64, requires_grad=True)
    _up = torch.randn(2, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ((_a + torch.zeros(2, 3, 4, dtype=torch.float64)) * _up).sum().backward()
    checks.assert_close("unbroadcast", unbroadcast(_up.numpy(), _shape), _a.grad.numpy(),
                        hint=f"for shape {_shape}: sum the leading extra axes away, then the size-1 axes with keepdims")

# %% [markdown]
# ## 3. A topological order (about 2 minutes, lesson 1.1)
#
# `topo_order(output, parents)` lists every node that `output` depends on, `output`
# included, so that each node comes after all of its parents. `parents` maps a node to
# the list of nodes it was computed from (a leaf maps to `[]`).

# %% nbgrader={"solution": true, "grade_id": "topo_order"} exercise={"difficulty": 2, "importance": 4, "minutes": 2} placement={"lessons": ["1.1"]}
def topo_order(output: str, parents: dict[str, list[str]]) -> list[str]:
    """Returns a list of node names, parents before children, ending with `output`."""
    ### BEGIN SOLUTION
    order, seen = [], set()

    def visit(node):
        if node in seen:
            return
        seen.add(node)
        for p in parents.get(node, []):
            visit(p)
        order.append(node)

    visit(output)
    return order
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "topo_order_test", "points": 1}
_graph = {"loss": ["h", "y"], "h": ["W", "x", "b"], "W": [], "x": [], "b": [], "y": [], "unused": ["x"]}
_order = topo_order("loss", _graph)
checks.assert_true("topo_order", sorted(_order) == ["W", "b", "h", "loss", "x", "y"],
                   f"topo_order returned {_order}; it should hold each node loss depends on exactly once")
checks.assert_true("topo_order", all(_order.index(p) < _order.index(n) for n in _order for p in _graph[n]),
                   f"topo_order returned {_order}: a node comes before one of its parents",
                   hint="a depth-first search that appends a node after visiting all its parents")
### BEGIN HIDDEN TESTS
_diamond = {"d": ["b", "c"], "b": ["a"], "c": ["a"], "a": []}
_o = topo_order("d", _diamond)
checks.assert_true("topo_order", _o.count("a") == 1 and _o[-1] == "d" and _o[0] == "a",
                   f"on a diamond graph topo_order returned {_o}")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. One Adam step (about 2 minutes, lesson 1.2)
#
# `adam_step(p, g, m, v, t, lr, beta1, beta2, eps)` returns the new `(p, m, v)` after the
# `t`-th Adam step (t counts from 1), with bias correction, exactly as `torch.optim.Adam`
# computes it. Do not modify the inputs.

# %% nbgrader={"solution": true, "grade_id": "adam_step"} exercise={"difficulty": 2, "importance": 4, "minutes": 2} placement={"lessons": ["1.2"]}
def adam_step(p, g, m, v, t: int, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
    """p, g, m, v: tensors of one shape. Returns (new p, new m, new v)."""
    ### BEGIN SOLUTION
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return p - lr * m_hat / (v_hat.sqrt() + eps), m, v
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "adam_step_test", "points": 1}
_gen = torch.Generator().manual_seed(0)
_p0 = torch.randn(5, dtype=torch.float64, generator=_gen)
_param = nn.Parameter(_p0.clone())
_opt = torch.optim.Adam([_param], lr=0.1)
_p, _m, _v = _p0.clone(), torch.zeros(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)
for _t in (1, 2, 3):
    _grad = torch.randn(5, dtype=torch.float64, generator=_gen)
    _param.grad = _grad.clone()
    _opt.step()
    _p, _m, _v = adam_step(_p, _grad, _m, _v, _t, lr=0.1)
    checks.assert_close("adam_step", _p, _param.detach(), name=f"parameter after step {_t}",
                        hint="m and v are bias-corrected by 1 - beta**t; eps is added after the square root")

# %% [markdown]
# ## 5. Warm-up, then cosine decay (about 2 minutes, lesson 1.2)
#
# `warmup_cosine(step, warmup, total, peak)` is the learning rate at `step` (from 0): it
# rises linearly from `peak / warmup` at step 0 to `peak` at step `warmup - 1`, then
# follows half a cosine from `peak` at step `warmup` down to 0 at step `total`.

# %% nbgrader={"solution": true, "grade_id": "warmup_cosine"} exercise={"difficulty": 2, "importance": 3, "minutes": 2} placement={"lessons": ["1.2"]}
def warmup_cosine(step: int, warmup: int, total: int, peak: float) -> float:
    """Returns the learning rate (a float) at `step`."""
    ### BEGIN SOLUTION
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "warmup_cosine_test", "points": 1}
_lrs = [warmup_cosine(s, 4, 20, 1.0) for s in range(21)]
checks.assert_close("warmup_cosine", _lrs[:4], [0.25, 0.5, 0.75, 1.0], name="the warm-up",
                    hint="(step + 1) / warmup of the peak")
checks.assert_close("warmup_cosine", _lrs[4], 1.0, name="the first step after warm-up")
checks.assert_close("warmup_cosine", _lrs[12], 0.5, name="half-way through the decay")
checks.assert_close("warmup_cosine", _lrs[20], 0.0, atol=1e-12, name="the last step")

# %% [markdown]
# ## 6. A convolution's output size (about 1 minute, lesson 1.3)
#
# `conv_out(n, k, stride, padding)` is the length of the output of a 1-D convolution of
# an input of length `n` with a kernel of size `k`.

# %% nbgrader={"solution": true, "grade_id": "conv_out"} exercise={"difficulty": 1, "importance": 4, "minutes": 1} placement={"lessons": ["1.3"]}
def conv_out(n: int, k: int, stride: int = 1, padding: int = 0) -> int:
    """Returns the output length (an int)."""
    ### BEGIN SOLUTION
    return (n + 2 * padding - k) // stride + 1
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "conv_out_test", "points": 1}
for _n, _k, _s, _pad in [(10, 3, 1, 0), (10, 3, 2, 1), (7, 7, 1, 0), (28, 5, 3, 2), (9, 4, 2, 0)]:
    _want = nn.functional.conv1d(torch.zeros(1, 1, _n), torch.zeros(1, 1, _k), stride=_s, padding=_pad).shape[-1]
    checks.assert_equal("conv_out", conv_out(_n, _k, _s, _pad), _want,
                        name=f"conv_out({_n}, {_k}, stride={_s}, padding={_pad})",
                        hint="(n + 2 * padding - k) // stride + 1")

# %% [markdown]
# ## 7. Batch norm in training mode (about 2 minutes, lesson 1.3)
#
# `batchnorm_train(x, eps)` normalises a batch of images `(N, C, H, W)` per channel, as
# `BatchNorm2d` does in training mode (no learned scale or shift): subtract the channel's
# mean over the batch and the spatial positions, divide by the square root of its
# *biased* variance plus `eps`.

# %% nbgrader={"solution": true, "grade_id": "batchnorm_train"} exercise={"difficulty": 2, "importance": 4, "minutes": 2} placement={"lessons": ["1.3"]}
def batchnorm_train(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """x: (N, C, H, W). Returns the normalised tensor, same shape."""
    ### BEGIN SOLUTION
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "batchnorm_train_test", "points": 1}
_imgs = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(2)) * 3 + 1
checks.assert_close("batchnorm_train", batchnorm_train(_imgs),
                    nn.functional.batch_norm(_imgs, None, None, training=True, eps=1e-5),
                    hint="statistics over dims (0, 2, 3) with keepdim=True; the variance is the biased one")

# %% [markdown]
# ## 8. Clipping gradients by their global norm (about 2 minutes, lesson 1.4)
#
# `clip_global_norm(grads, max_norm)` returns new gradient tensors scaled so that their
# global L2 norm (all tensors together) is at most `max_norm`, and that norm before
# clipping, as `torch.nn.utils.clip_grad_norm_` does (it scales by
# `max_norm / (norm + 1e-6)` when that is below 1).

# %% nbgrader={"solution": true, "grade_id": "clip_global_norm"} exercise={"difficulty": 2, "importance": 4, "minutes": 2} placement={"lessons": ["1.4"]}
def clip_global_norm(grads: list[torch.Tensor], max_norm: float) -> tuple[list[torch.Tensor], float]:
    """Returns (the clipped gradients, the global norm before clipping as a float)."""
    ### BEGIN SOLUTION
    norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
    scale = min(1.0, max_norm / (norm.item() + 1e-6))
    return [g * scale for g in grads], norm.item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "clip_global_norm_test", "points": 1}
_gen = torch.Generator().manual_seed(4)
_gs = [torch.randn(3, 4, generator=_gen), torch.randn(5, generator=_gen)]
_ps = [nn.Parameter(torch.zeros_like(g)) for g in _gs]
for _p, _g in zip(_ps, _gs):
    _p.grad = _g.clone()
_total = torch.nn.utils.clip_grad_norm_(_ps, 1.0)
_clipped, _norm = clip_global_norm(_gs, 1.0)
checks.assert_close("clip_global_norm", _norm, _total.item(), name="the norm before clipping", rtol=1e-5)
for _i, (_c, _p) in enumerate(zip(_clipped, _ps)):
    checks.assert_close("clip_global_norm", _c, _p.grad, name=f"clipped gradient {_i}",
                        hint="one norm over all the tensors together, not one per tensor")
_small, _ = clip_global_norm([g * 1e-3 for g in _gs], 1.0)
checks.assert_close("clip_global_norm", _small[0], _gs[0] * 1e-3, name="a gradient already under the limit",
                    hint="scale only when the norm is above max_norm")
