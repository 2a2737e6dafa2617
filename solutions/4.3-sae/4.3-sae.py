# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "4.3"
#     title: Sparse autoencoders
#     minutes: 300
#     prerequisites: ["4.2"]
# ---

# %% [markdown]
# # 4.3 Sparse autoencoders (replicating Bricken et al. 2023)
#
# In 4.2 you watched a small ReLU model store more features than it has dimensions:
# *superposition*. A model in superposition is hard to read, because no single neuron means one
# thing. Bricken et al. (2023), "Towards Monosemanticity: Decomposing Language Models With
# Dictionary Learning" (<https://transformer-circuits.pub/2023/monosemantic-features>), undo it
# with a **sparse autoencoder** (SAE): a wide, one-layer autoencoder trained to rebuild a model's
# activations from a few active "latents" at a time. Its decoder directions are candidates for
# the features the model really uses. They trained SAEs on the 512-neuron MLP of a one-layer
# transformer and found thousands of latents that each fire on one recognisable thing (Arabic
# script, DNA sequences, base64, ...), where the neurons fire on mixtures.
#
# This lesson rebuilds that method and checks it twice: first on a **toy model whose true
# features are known** (so "did the SAE find them?" has a number for an answer), then on the
# course's own byte-level language model, `stdlib-gpt` from 2.2, whose layer-0 MLP also has 512
# neurons.
#
# **After this lesson you can**
# - write an SAE the way the paper does: pre-encoder bias, ReLU encoder, unit-norm decoder rows,
#   L1 penalty, and the gradient projection that keeps the decoder norms fixed;
# - initialise the pre-encoder bias at the geometric median, and say what goes wrong without it;
# - detect dead latents and resample them as the paper does (towards badly reconstructed inputs,
#   with a scaled encoder and a reset optimiser state), on latents that died in training, against a
#   random re-initialisation control, and say which claim the data support;
# - measure an SAE: reconstruction MSE, fraction of variance unexplained, L0, dead fraction, the
#   language-model loss with the SAE spliced in, and, on a toy, recovery of the true features
#   (mean max cosine similarity);
# - capture and replace a model's activations with PyTorch hooks;
# - interpret latents from their top-activating contexts, and test an interpretation with a
#   number (how selective a latent is for a class of characters), compared with the neurons;
# - score automatic explanations of every latent and neuron (F1 on held-out text) and say what
#   the comparison shows and what it cannot; pick the latent that best explains a class.
#
# **Prerequisites.** 4.2 (toy models of superposition: the model here is the course's copy,
# `course/models/toy.py`), 2.2 (the byte-level GPT and its corpus; read `course/models/gpt.py`
# once, it is short) and 0.3 (PyTorch training loops).
#
# **Time.** About 5 hours: seventeen graded exercises (42 points), then an open-ended part where
# you interpret latents.
#
# **How the exercises work.** Each exercise explains an idea, then gives you a function in which
# `raise NotImplementedError` marks the code to write. Replace it and run the test cell below. A
# failing cell says what is wrong (shape, dtype, which element, by how much) and a likely cause.
# Hidden tests, run when your notebook is graded, probe edge cases: empty batches, float64,
# transposed (non-contiguous) inputs, a batch of one. From a terminal, `bootcamp check 4.3` runs
# the whole notebook and prints a table of every exercise. Each exercise says how hard it is (🔴,
# 1–5), how much it matters for the rest of the course (🔵, 1–5) and how long to try before
# opening the hint.
#
# Everything runs on a CPU, offline. The big SAE on the language model takes a few minutes to
# train, too long for a notebook, so the course ships one (`stdlib-gpt-sae`, made by
# `course/models/sae.py`; `bootcamp reproduce stdlib-gpt-sae` retrains it from scratch and
# compares). You start the same training here with your own code for a few dozen steps.

# %%
import copy
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course import checks, data
from course.models import registry
from course.models.gpt import decode, encode
from course.models.toy import ToyConfig, represented, train_toy
from course.models.train import eval_windows, get_batch

# One thread: these models are small, a second thread only adds overhead on 2 cores, and one
# thread makes every run below repeat to the last bit (the graded numbers depend on it).
torch.set_num_threads(1)
torch.set_printoptions(precision=4, sci_mode=False)
_ = torch.manual_seed(0)

# %% [markdown]
# ## Part 1: a toy whose features we know
#
# The toy model of 4.2 compresses `n_features` sparse features $x \in [0,1]^{n}$ into
# `n_hidden` dimensions, $h = W x$, and is trained to get them back, $\hat x = \mathrm{ReLU}(W^\top
# h + b)$. Feature $i$ is written into the hidden space along column $i$ of $W$. When features are
# sparse, the model packs many more features than dimensions, at the price of some interference.
#
# Here: **20 features in 8 dimensions**, each present with probability 0.02 (then uniform in
# [0, 1]), all equally important. At this sparsity the toy represents all 20. Its hidden vector
# $h$ is what the SAE will see, and the 20 columns of $W$ are the ground truth the SAE should
# recover *without ever seeing $W$ or $x$*.
#
# Why not the 5-features-in-2-dimensions pentagon of 4.2? It trains, but it cannot *grade* an SAE:
# in 2 dimensions ten random directions already have a mean max cosine similarity of about 0.93
# with five fixed ones (in 8 dimensions, forty random directions score about 0.70), so "the SAE
# recovered the features" would be true of an untrained one.
#
# One more ingredient. The activations of a real model are not centred: the GELU outputs of our
# language model's MLP have a mean vector of norm about 2.3, against a typical activation norm of
# 9. We give the toy the same problem by adding a constant **offset** to $h$. The true features are
# still the columns of $W$ (directions *from* the offset).

# %%
toy_cfg = ToyConfig(n_features=20, n_hidden=8, n_instances=1, importance_decay=1.0, feature_probability=(0.02,))
toy = train_toy(toy_cfg, steps=1000, lr=1e-2, batch_size=1024, seed=0)
print("features represented by the toy:", int(represented(toy).sum()), "of", toy_cfg.n_features)

true_features = toy.W.detach()[0].T.contiguous()  # (20, 8): row i is feature i's direction in the hidden space
OFFSET = 2.0 * torch.ones(toy_cfg.n_hidden) / math.sqrt(toy_cfg.n_hidden)  # (8,), norm 2


def toy_batches(seed: int, batch_size: int = 1024):
    """A function that returns a fresh (batch_size, 8) float32 batch of the toy's activations h + OFFSET
    on every call; the sequence of batches depends only on `seed`."""
    gen = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def next_batch(n: int = batch_size) -> torch.Tensor:
        return toy.hidden(toy.batch(n, gen))[:, 0] + OFFSET

    return next_batch


toy_x = toy_batches(seed=999)(20_000)  # a fixed evaluation set
print("toy activations:", tuple(toy_x.shape), toy_x.dtype, "| inputs with no feature at all:",
      f"{((toy_x - OFFSET).norm(dim=1) == 0).float().mean():.0%}")

# %% [markdown]
# The left picture is the interference between features: the cosine similarity of every pair of
# feature directions. Twenty directions in eight dimensions cannot all be orthogonal, and they are
# not. The right one shows why an SAE can still separate them: most inputs contain no feature or
# one, so each input points (from the offset) along a single feature direction most of the time.

# %%
_unit = true_features / true_features.norm(dim=1, keepdim=True)
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
im = axes[0].imshow(_unit @ _unit.T, cmap="RdBu", vmin=-1, vmax=1)
axes[0].set_title("cosine similarity between the toy's 20 features")
axes[0].set_xlabel("feature")
axes[0].set_ylabel("feature")
plt.colorbar(im, ax=axes[0])
_n_active = (toy.batch(20_000, torch.Generator().manual_seed(5)) > 0).sum(-1).flatten()
axes[1].bar(*np.unique(_n_active.numpy(), return_counts=True))
axes[1].set_xlabel("features present in an input")
axes[1].set_ylabel("inputs (of 20,000)")
axes[1].set_title("the inputs are sparse")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Part 2: the sparse autoencoder
#
# An SAE maps an activation $x \in \mathbb{R}^{d}$ to $S$ latents $f \in \mathbb{R}^S_{\ge 0}$ with
# $S > d$, and back:
#
# $$ f = \mathrm{ReLU}\big((x - b_\text{dec}) W_\text{enc} + b_\text{enc}\big), \qquad \hat x = f\,
# W_\text{dec} + b_\text{dec} $$
#
# with $W_\text{enc}$ of shape $(d, S)$ and $W_\text{dec}$ of shape $(S, d)$. Row $j$ of
# $W_\text{dec}$ is latent $j$'s **decoder direction**: the reconstruction is $b_\text{dec}$ plus a
# weighted sum of the rows of the latents that fire. (The paper writes $W_d$ as a $d \times S$
# matrix whose *columns* are the directions; rows here, so that `f @ W_dec` reads left to right.)
#
# Three choices from the paper:
# - **The pre-encoder bias.** The same vector $b_\text{dec}$ is subtracted before encoding and
#   added after decoding: the SAE works on $x - b_\text{dec}$, activations measured from a
#   "centre", so a latent can fire for "this direction away from the centre".
# - **ReLU**: latents are non-negative and exactly zero most of the time.
# - **Unit-norm decoder rows** (Exercise 3 keeps them so).
#
# ```
#   x (d) ──(− b_dec)──▶ @ W_enc (d×S) ──(+ b_enc)──▶ ReLU ──▶ f (S, mostly 0) ──▶ @ W_dec (S×d) ──(+ b_dec)──▶ x̂ (d)
# ```
#
# ## Exercise 1: the SAE's forward pass
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 2 points · about 10 minutes, then look at the hint.
#
# Fill in `encode`, `decode` and `forward`. The initialisation is given: decoder rows are random
# unit vectors, the encoder starts as the decoder's transpose (so latent $j$ first responds to
# inputs along its own direction), and the biases start at zero. Every method works on any
# number of leading dimensions: `x` of shape `(..., d_in)`, `f` of shape `(..., d_sae)`.
#
# Worked example (the visible test): $d = 2$, $S = 3$, $W_\text{enc} = \begin{pmatrix} 1 & 0 & 1
# \\ 0 & 1 & 1 \end{pmatrix}$, $b_\text{enc} = (0, -1, 0)$, $b_\text{dec} = (1, 1)$ and $x = (3,
# 1)$: $x - b_\text{dec} = (2, 0)$, times $W_\text{enc}$ is $(2, 0, 2)$, plus $b_\text{enc}$ is $(2,
# -1, 2)$, and the ReLU gives $f = (2, 0, 2)$.
#
# <details><summary>Hint</summary>
#
# `encode`: `F.relu((x - self.b_dec) @ self.W_enc + self.b_enc)`. `decode`: `f @ self.W_dec +
# self.b_dec`. `forward`: `f = self.encode(x)` then `return self.decode(f), f`. Broadcasting
# handles the leading dimensions.
# </details>

# %%
from course import diagrams

diagrams.sparse_autoencoder()
plt.show()

# %% nbgrader={"solution": true, "grade_id": "sae"} exercise={"difficulty": 1, "importance": 5, "minutes": 10}
class SparseAutoencoder(nn.Module):
    """A sparse autoencoder with a pre-encoder bias (Bricken et al. 2023).

    Parameters: W_enc (d_in, d_sae), b_enc (d_sae,), W_dec (d_sae, d_in) with unit-norm rows,
    b_dec (d_in,), all float32 (or whatever dtype the module is moved to).
    """

    def __init__(self, d_in: int, d_sae: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        W = torch.randn(d_sae, d_in, generator=g)
        W = W / W.norm(dim=1, keepdim=True)
        self.W_enc = nn.Parameter(W.T.clone())  # (d_in, d_sae)
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.W_dec = nn.Parameter(W.clone())  # (d_sae, d_in), unit rows
        self.b_dec = nn.Parameter(torch.zeros(d_in))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., d_in) -> f: (..., d_sae), non-negative: ReLU((x - b_dec) @ W_enc + b_enc)."""
        ### BEGIN SOLUTION
        return F.relu((x - self.b_dec) @ self.W_enc + self.b_enc)
        ### END SOLUTION

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """f: (..., d_sae) -> x_hat: (..., d_in): f @ W_dec + b_dec."""
        ### BEGIN SOLUTION
        return f @ self.W_dec + self.b_dec
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (..., d_in) -> (x_hat (..., d_in), f (..., d_sae))."""
        ### BEGIN SOLUTION
        f = self.encode(x)
        return self.decode(f), f
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sae_test", "points": 2}
def _hand_sae() -> SparseAutoencoder:
    """The worked example: d_in = 2, d_sae = 3."""
    sae = SparseAutoencoder(2, 3)
    with torch.no_grad():
        sae.W_enc.copy_(torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]))
        sae.b_enc.copy_(torch.tensor([0.0, -1.0, 0.0]))
        sae.W_dec.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]))
        sae.b_dec.copy_(torch.tensor([1.0, 1.0]))
    return sae


_sae = _hand_sae()
_x = torch.tensor([[3.0, 1.0], [0.0, 0.0]])
_f = checks.call("sae", _sae.encode, _x, case="the worked example")
checks.assert_shape("sae", _f, (2, 3), name="encode(x)")
checks.assert_close("sae", _f, torch.tensor([[2.0, 0.0, 2.0], [0.0, 0.0, 0.0]]), name="encode(x)",
                    hint="subtract b_dec from x BEFORE multiplying by W_enc, add b_enc after, then ReLU "
                         "(without the subtraction you would get [3, 0, 4] in the first row)")
_xh = checks.call("sae", _sae.decode, _f, case="decoding the worked example's latents")
checks.assert_close("sae", _xh, torch.tensor([[4.2, 2.6], [1.0, 1.0]]), name="decode(f)",
                    hint="f @ W_dec + b_dec: each latent adds its decoder ROW, scaled by its activation")
_out = checks.call("sae", _sae, _x, case="forward on the worked example")
checks.assert_true("sae", isinstance(_out, tuple) and len(_out) == 2, "forward should return a pair (x_hat, f)")
checks.assert_close("sae", _out[0], torch.tensor([[4.2, 2.6], [1.0, 1.0]]), name="forward(x)[0] (x_hat)")
checks.assert_close("sae", _out[1], torch.tensor([[2.0, 0.0, 2.0], [0.0, 0.0, 0.0]]), name="forward(x)[1] (f)",
                    hint="forward returns (x_hat, f), in that order")
_f3 = checks.call("sae", _sae.encode, _x[None].expand(4, 2, 2), case="x of shape (4, 2, 2) (leading dimensions)")
checks.assert_shape("sae", _f3, (4, 2, 3), name="encode of a (4, 2, 2) input")
print("sae: visible tests pass")
### BEGIN HIDDEN TESTS
def _ref_sae(sae, x):
    f = torch.relu((x - sae.b_dec) @ sae.W_enc + sae.b_enc)
    return f @ sae.W_dec + sae.b_dec, f


torch.manual_seed(1)
_big = SparseAutoencoder(6, 11, seed=3)
with torch.no_grad():
    _big.b_enc.normal_()
    _big.b_dec.normal_()
for _xx, _case in [(torch.randn(5, 6), "a random batch"), (torch.randn(6, 7).T, "a transposed (non-contiguous) batch"),
                   (torch.randn(0, 6), "an empty batch"), (torch.randn(1, 3, 6), "a (1, 3, 6) batch"),
                   (1e3 * torch.randn(4, 6), "large inputs")]:
    _got = checks.call("sae", _big, _xx, case=_case)
    _want = _ref_sae(_big, _xx)
    checks.assert_close("sae", _got[0], _want[0], name=f"x_hat on {_case}", rtol=1e-5, atol=1e-4)
    checks.assert_close("sae", _got[1], _want[1], name=f"f on {_case}", rtol=1e-5, atol=1e-4)
_big64 = SparseAutoencoder(6, 11, seed=3).double()
_xx = torch.randn(3, 6, dtype=torch.float64)
_got = checks.call("sae", _big64, _xx, case="a float64 SAE")
checks.assert_dtype("sae", _got[0], torch.float64, name="x_hat of a float64 SAE")
checks.assert_close("sae", _got[0], _ref_sae(_big64, _xx)[0], name="x_hat of a float64 SAE")
_xh, _ff = _big(torch.randn(4, 6))
(_xh.sum() + _ff.sum()).backward()
checks.assert_true("sae", all(p.grad is not None for p in _big.parameters()),
                   "a parameter gets no gradient from forward: use all four (W_enc, b_enc, W_dec, b_dec)")
### END HIDDEN TESTS

# %% [markdown]
# ## The loss, and why the decoder norms must be fixed
#
# The SAE is trained to reconstruct $x$ while keeping $f$ sparse:
#
# $$ \mathcal{L} = \frac{1}{B}\sum_{b=1}^{B} \Big( \lVert x_b - \hat x_b \rVert_2^2 + \lambda
# \lVert f_b \rVert_1 \Big) $$
#
# The squared error is **summed over the $d$ dimensions** and averaged over the batch, as is the
# L1 norm over the $S$ latents (the paper's convention; `F.mse_loss`'s default would average over
# the dimensions too, which changes what a given $\lambda$ means). L1 is the convex stand-in for
# what we actually want, a small **L0** (number of active latents): it charges every unit of
# activation, so a latent only fires when it pays for itself in reconstruction.
#
# ## Exercise 2: the SAE loss
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 8 minutes, then look at the hint.
#
# Worked example (the visible test): $x = \begin{pmatrix}1 & 2\\3 & 4\end{pmatrix}$, $\hat x =
# \begin{pmatrix}1 & 0\\3 & 5\end{pmatrix}$: squared errors per row $4$ and $1$, so the
# reconstruction term is $2.5$ (not $1.25$, the mean over all four entries). With $f =
# \begin{pmatrix}1 & 0 & 2\\0 & 0 & 0.5\end{pmatrix}$ the L1 term is $(3 + 0.5)/2 = 1.75$, and with
# $\lambda = 0.1$ the total is $2.675$.
#
# <details><summary>Hint</summary>
#
# **The idea.** Two terms: how well the SAE reconstructs `x` (squared error summed over the
# activation dimension) and how many latents it uses (an L1 penalty on the latent activations),
# each averaged over the batch; the loss adds them with weight `l1`.
#
# **A pointer.** Sum over the last axis first, then take the mean over the batch, for both terms.
# Return the total and both parts, in the order the docstring gives.
# </details>

# %% nbgrader={"solution": true, "grade_id": "sae_loss"} exercise={"difficulty": 1, "importance": 4, "minutes": 8}
def sae_loss(x: torch.Tensor, x_hat: torch.Tensor, f: torch.Tensor,
             l1: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The SAE training loss and its two terms.

    x, x_hat: (B, d_in) float; f: (B, d_sae) float, the latents.
    Returns three 0-d tensors (differentiable, in the inputs' dtype):
    total = recon + l1 * sparsity, recon = mean over the batch of ||x - x_hat||^2 (summed over d_in),
    sparsity = mean over the batch of ||f||_1 (summed over d_sae).
    """
    ### BEGIN SOLUTION
    recon = (x_hat - x).pow(2).sum(-1).mean()
    sparsity = f.abs().sum(-1).mean()
    return recon + l1 * sparsity, recon, sparsity
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sae_loss_test", "points": 2}
_x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
_xh = torch.tensor([[1.0, 0.0], [3.0, 5.0]])
_f = torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 0.5]])
_out = checks.call("sae_loss", sae_loss, _x, _xh, _f, 0.1, case="the worked example")
checks.assert_true("sae_loss", isinstance(_out, tuple) and len(_out) == 3,
                   "sae_loss should return a triple (total, recon, sparsity)")
checks.assert_close("sae_loss", _out[1], torch.tensor(2.5), name="recon",
                    hint="sum the squared error over the d_in dimensions, then average over the batch "
                         "(1.25 would be the mean over all entries)")
checks.assert_close("sae_loss", _out[2], torch.tensor(1.75), name="sparsity",
                    hint="the L1 norm of each row of f (a sum over latents), averaged over the batch")
checks.assert_close("sae_loss", _out[0], torch.tensor(2.675), name="total", hint="total = recon + l1 * sparsity")
print("sae_loss: visible tests pass")
### BEGIN HIDDEN TESTS
torch.manual_seed(2)
_x, _xh, _f = torch.randn(7, 5), torch.randn(7, 5, requires_grad=True), torch.rand(7, 9, requires_grad=True)
_out = checks.call("sae_loss", sae_loss, _x, _xh, _f, 0.3, case="a random batch")
checks.assert_close("sae_loss", _out[0], ((_xh - _x) ** 2).sum(-1).mean() + 0.3 * _f.sum(-1).mean(), name="total")
_out[0].backward()
checks.assert_true("sae_loss", _xh.grad is not None and _f.grad is not None,
                   "the total loss must be differentiable with respect to x_hat and f: no .item() or detach")
checks.assert_close("sae_loss", _f.grad, torch.full((7, 9), 0.3 / 7), name="d total / d f",
                    hint="the L1 term is l1 * mean over the batch of the sum over latents")
_out = checks.call("sae_loss", sae_loss, _x[:1].double(), _x[:1].double() + 1, torch.ones(1, 3, dtype=torch.float64),
                   2.0, case="a float64 batch of one")
checks.assert_dtype("sae_loss", _out[0], torch.float64, name="total of float64 inputs")
checks.assert_close("sae_loss", _out[0], torch.tensor(5.0 + 6.0, dtype=torch.float64), name="total (batch of one)")
_out = checks.call("sae_loss", sae_loss, _x.T.contiguous().T, _xh.detach().T.contiguous().T, _f.detach(), 0.0,
                   case="non-contiguous inputs and l1 = 0")
checks.assert_close("sae_loss", _out[0], ((_xh.detach() - _x) ** 2).sum(-1).mean(), name="total with l1 = 0")
### END HIDDEN TESTS

# %% [markdown]
# There is a cheat hidden in that loss. Scale latent $j$'s decoder row up by $c$ and its encoder
# column down by $c$: the reconstruction is unchanged, and the L1 penalty shrinks by $c$. Left
# alone, training would grow the decoder norms forever and the penalty would mean nothing. The
# paper fixes every decoder row to **unit norm**, in two steps around each optimiser step:
#
# 1. **Before** the step, remove from each row's gradient its component along the row,
#    $g_j \leftarrow g_j - (g_j \cdot w_j)\, w_j$ (for a unit row $w_j$). What is left moves $w_j$
#    *around* the unit sphere, not off it (to first order).
# 2. **After** the step, divide each row by its norm, which puts back the small second-order drift
#    (and whatever Adam's per-coordinate scaling did to the direction of the update).
#
# ```
#         g (gradient of row w)            after step 1: g − (g·w) w
#           ↗                                   →  (tangent to the circle)
#   ──────w────── unit circle            ──────w──────
# ```
#
# ## Exercise 3: keeping the decoder rows on the unit sphere
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 12 minutes, then look at the hint.
#
# Write both functions; both change `W_dec` (or its `.grad`) **in place** and return nothing.
# `W_dec` is an `nn.Parameter`, so PyTorch refuses in-place arithmetic on it while it records
# gradients: work inside `with torch.no_grad():`.
#
# Worked example: the unit row $w = (0.6, 0.8)$ with gradient $g = (1, 1)$ has $g \cdot w = 1.4$,
# so the new gradient is $(1, 1) - 1.4\,(0.6, 0.8) = (0.16, -0.12)$, orthogonal to $w$.
#
# <details><summary>Hint</summary>
#
# **The idea.** Each decoder row should stay a unit vector. A gradient step along the row's own
# direction only changes its length, which the renormalisation undoes anyway, so remove that part
# of the gradient before the step, and renormalise after it.
#
# **A pointer.** For each row, the component of the gradient along the row is (their dot product)
# times the row. Row-wise dot products: multiply and sum over the last axis, keeping it so the
# result broadcasts. Edit the tensors in place under `torch.no_grad()`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "decoder_norm"} exercise={"difficulty": 2, "importance": 4, "minutes": 12}
def remove_parallel_grad(W_dec: torch.Tensor) -> None:
    """In place: W_dec.grad[j] -= (W_dec.grad[j] . W_dec[j]) * W_dec[j] for every row j.

    W_dec: (d_sae, d_in) float tensor (usually an nn.Parameter) with unit-norm rows and a .grad of the
    same shape. Returns None.
    """
    ### BEGIN SOLUTION
    with torch.no_grad():
        W_dec.grad -= (W_dec.grad * W_dec).sum(-1, keepdim=True) * W_dec
    ### END SOLUTION


def normalise_decoder(W_dec: torch.Tensor) -> None:
    """In place: divide every row of W_dec (d_sae, d_in) by its L2 norm. Returns None."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        W_dec /= W_dec.norm(dim=-1, keepdim=True)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "decoder_norm_test", "points": 2}
_W = nn.Parameter(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]))
_W.grad = torch.tensor([[2.0, 3.0], [1.0, -1.0], [1.0, 1.0]])
_r = checks.call("decoder_norm", remove_parallel_grad, _W, case="the worked example (an nn.Parameter)",
                 hint="in-place arithmetic on a Parameter needs `with torch.no_grad():`")
checks.assert_true("decoder_norm", _r is None, "remove_parallel_grad should change W_dec.grad in place and return None")
checks.assert_close("decoder_norm", _W.grad, torch.tensor([[0.0, 3.0], [1.0, 0.0], [0.16, -0.12]]),
                    name="W_dec.grad after remove_parallel_grad",
                    hint="per ROW j: g_j - (g_j . w_j) w_j; the dot product is a sum over the last dimension")
checks.assert_close("decoder_norm", _W, torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]), name="W_dec itself",
                    hint="only the gradient changes here, not the weights")
_W2 = nn.Parameter(torch.tensor([[3.0, 4.0], [0.0, -2.0]]))
_ptr = _W2.data_ptr()
_r = checks.call("decoder_norm", normalise_decoder, _W2, case="rows (3, 4) and (0, -2) (an nn.Parameter)",
                 hint="in-place arithmetic on a Parameter needs `with torch.no_grad():`")
checks.assert_true("decoder_norm", _r is None and _W2.data_ptr() == _ptr,
                   "normalise_decoder should divide W_dec in place (W_dec /= ...) and return None")
checks.assert_close("decoder_norm", _W2, torch.tensor([[0.6, 0.8], [0.0, -1.0]]), name="normalised W_dec",
                    hint="divide each ROW by its own norm: norm(dim=-1, keepdim=True)")
print("decoder_norm: visible tests pass")
### BEGIN HIDDEN TESTS
torch.manual_seed(3)
_W = nn.Parameter(F.normalize(torch.randn(13, 7, dtype=torch.float64), dim=-1))
_g = torch.randn(13, 7, dtype=torch.float64)
_W.grad = _g.clone()
checks.call("decoder_norm", remove_parallel_grad, _W, case="a float64 (13, 7) decoder")
checks.assert_close("decoder_norm", _W.grad, _g - (_g * _W.detach()).sum(-1, keepdim=True) * _W.detach(),
                    name="float64 gradient after the projection")
checks.assert_close("decoder_norm", (_W.grad * _W.detach()).sum(-1), torch.zeros(13, dtype=torch.float64),
                    name="row-wise dot of the new gradient with W_dec", atol=1e-12)
_W1 = nn.Parameter(torch.tensor([[0.0, 0.0, 5.0]]))
checks.call("decoder_norm", normalise_decoder, _W1, case="a single row")
checks.assert_close("decoder_norm", _W1, torch.tensor([[0.0, 0.0, 1.0]]), name="a single normalised row")
_W3 = nn.Parameter(1e4 * torch.randn(6, 4))
checks.call("decoder_norm", normalise_decoder, _W3, case="large rows")
checks.assert_close("decoder_norm", _W3.norm(dim=-1), torch.ones(6), name="row norms after normalise_decoder")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: one training step
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 15 minutes, then look at the hint.
#
# Put it together. In this order:
# 1. `opt.zero_grad()`; forward: `x_hat, f = sae(x)`; `total, recon, sparsity = sae_loss(...)`;
# 2. `total.backward()`;
# 3. `remove_parallel_grad(sae.W_dec)`, then `opt.step()`, then `normalise_decoder(sae.W_dec)`.
#
# Return a dict of Python floats for logging, `"loss"` (the total), `"recon"`, `"l0"` (the mean
# number of latents with $f > 0$ per input), plus `"f"`: the latents, detached, for the dead-latent
# bookkeeping of Part 4. Leave the gradients in `.grad` after the step (do not zero them at the
# end): the test reads them.
#
# <details><summary>Hint</summary>
#
# `l0 = (f > 0).float().sum(-1).mean().item()`; `loss = total.item()`; `"f": f.detach()`. Zero the
# gradients *before* the backward pass, never between backward and step.
# </details>

# %% nbgrader={"solution": true, "grade_id": "training_step"} exercise={"difficulty": 2, "importance": 5, "minutes": 15}
def training_step(sae: SparseAutoencoder, opt: torch.optim.Optimizer, x: torch.Tensor, l1: float) -> dict:
    """One optimiser step on the batch x (B, d_in), keeping the decoder rows at unit norm.

    Returns {"loss": float, "recon": float, "l0": float, "f": (B, d_sae) tensor, detached}, the
    values measured in the forward pass BEFORE the step.
    """
    ### BEGIN SOLUTION
    opt.zero_grad()
    x_hat, f = sae(x)
    total, recon, _ = sae_loss(x, x_hat, f, l1)
    total.backward()
    remove_parallel_grad(sae.W_dec)
    opt.step()
    normalise_decoder(sae.W_dec)
    return {"loss": total.item(), "recon": recon.item(), "l0": (f > 0).float().sum(-1).mean().item(), "f": f.detach()}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "training_step_test", "points": 3}
_sae = SparseAutoencoder(8, 40, seed=1)
_x = toy_x[:256]
with torch.no_grad():
    _sae.b_dec.copy_(_x.mean(0))
    _xh0 = _sae.decode(_sae.encode(_x))
    _f0 = _sae.encode(_x)
_W_before = _sae.W_dec.detach().clone()
_want_loss = (F.mse_loss(_xh0, _x, reduction="sum") / 256 + 0.2 * _f0.sum() / 256).item()
_opt = torch.optim.SGD(_sae.parameters(), lr=0.05)
_out = checks.call("training_step", training_step, _sae, _opt, _x, 0.2, case="a toy batch of 256 with SGD")
checks.assert_true("training_step", isinstance(_out, dict) and {"loss", "recon", "l0", "f"} <= set(_out),
                   "training_step should return a dict with keys 'loss', 'recon', 'l0' and 'f'")
checks.assert_true("training_step", all(isinstance(_out[k], float) for k in ("loss", "recon", "l0")),
                   "'loss', 'recon' and 'l0' should be Python floats (use .item())")
checks.assert_close("training_step", _out["loss"], _want_loss, rtol=1e-5, name="the returned loss",
                    hint="return the total loss of the forward pass before the step: recon + l1 * sparsity")
checks.assert_close("training_step", _out["l0"], (_f0 > 0).float().sum(-1).mean().item(), rtol=1e-6, name="l0",
                    hint="l0 is the number of latents with f > 0 in each input, averaged over the batch")
checks.assert_shape("training_step", _out["f"], (256, 40), name="the returned f")
checks.assert_true("training_step", not _out["f"].requires_grad, "return f detached (f.detach())")
checks.assert_true("training_step", not torch.equal(_sae.W_dec.detach(), _W_before),
                   "W_dec did not change: did you call opt.step()?")
checks.assert_close("training_step", _sae.W_dec.detach().norm(dim=-1), torch.ones(40), name="decoder row norms after the step",
                    hint="call normalise_decoder(sae.W_dec) after opt.step()")
checks.assert_true("training_step", _sae.W_dec.grad is not None, "W_dec.grad is None: leave the gradients in .grad")
checks.assert_close("training_step", (_sae.W_dec.grad * _W_before).sum(-1), torch.zeros(40), atol=1e-5,
                    name="row-wise dot of W_dec.grad with the old rows",
                    hint="call remove_parallel_grad(sae.W_dec) after backward() and BEFORE opt.step()")
print("training_step: visible tests pass")
### BEGIN HIDDEN TESTS
import copy as _copy


def _ref_step(sae, opt, x, l1):
    opt.zero_grad()
    f = torch.relu((x - sae.b_dec) @ sae.W_enc + sae.b_enc)
    xh = f @ sae.W_dec + sae.b_dec
    loss = ((xh - x) ** 2).sum(-1).mean() + l1 * f.sum(-1).mean()
    loss.backward()
    with torch.no_grad():
        sae.W_dec.grad -= (sae.W_dec.grad * sae.W_dec).sum(-1, keepdim=True) * sae.W_dec
    opt.step()
    with torch.no_grad():
        sae.W_dec /= sae.W_dec.norm(dim=-1, keepdim=True)
    return loss.item()


_a = SparseAutoencoder(8, 24, seed=4)
with torch.no_grad():
    _a.b_dec.copy_(toy_x[:512].mean(0))
_b = _copy.deepcopy(_a)
_oa, _ob = torch.optim.Adam(_a.parameters(), lr=1e-2), torch.optim.Adam(_b.parameters(), lr=1e-2)
for _i in range(3):
    _xb = toy_x[512 * _i : 512 * (_i + 1)]
    _got = checks.call("training_step", training_step, _a, _oa, _xb, 0.5, case=f"Adam step {_i + 1}")
    _want = _ref_step(_b, _ob, _xb, 0.5)
    checks.assert_close("training_step", _got["loss"], _want, rtol=1e-5, name=f"loss at Adam step {_i + 1}")
    for (_n, _pa), _pb in zip(_a.named_parameters(), _b.parameters()):
        checks.assert_close("training_step", _pa.detach(), _pb.detach(), rtol=1e-4, atol=1e-6,
                            name=f"{_n} after Adam step {_i + 1}",
                            hint="zero_grad, forward, backward, remove_parallel_grad, step, normalise_decoder")
_one = checks.call("training_step", training_step, _a, _oa, toy_x[:1], 0.5, case="a batch of one")
checks.assert_shape("training_step", _one["f"], (1, 24), name="f for a batch of one")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: the geometric median, where the pre-encoder bias starts
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 15 minutes, then look at the hint.
#
# Where should $b_\text{dec}$ start? It is the point the SAE measures every activation from, so it
# should sit in the middle of the data. The paper initialises it at the **geometric median**, the
# point $m$ that minimises the sum of *distances* $\sum_i \lVert x_i - m \rVert$ (the mean minimises
# the sum of *squared* distances, so a few far-away points pull it much harder). With sparse
# features, most activations sit exactly at the offset and a minority stick out along a feature:
# the median stays at the crowd, the mean drifts towards the features.
#
# There is no closed form. **Weiszfeld's algorithm** (1937) iterates a weighted mean where each
# point's weight is the inverse of its distance to the current estimate:
#
# $$ m \leftarrow \frac{\sum_i w_i\, x_i}{\sum_i w_i}, \qquad w_i = \frac{1}{\max(\lVert x_i - m
# \rVert,\ \varepsilon)} $$
#
# Start from the mean; $\varepsilon$ keeps a point that coincides with $m$ from dividing by zero.
#
# <details><summary>Hint</summary>
#
# `m = x.mean(0)`, then `iters` times: `w = 1 / (x - m).norm(dim=-1).clamp_min(eps)`, `m = (w[:,
# None] * x).sum(0) / w.sum()`. Return `m` (shape `(d,)`, the dtype of `x`).
# </details>

# %% nbgrader={"solution": true, "grade_id": "geometric_median"} exercise={"difficulty": 2, "importance": 3, "minutes": 15}
def geometric_median(x: torch.Tensor, iters: int = 100, eps: float = 1e-6) -> torch.Tensor:
    """The geometric median of the rows of x (N, d), N >= 1, by `iters` Weiszfeld iterations from the mean.

    Returns a (d,) tensor of x's dtype.
    """
    ### BEGIN SOLUTION
    m = x.mean(0)
    for _ in range(iters):
        w = 1.0 / (x - m).norm(dim=-1).clamp_min(eps)
        m = (w[:, None] * x).sum(0) / w.sum()
    return m
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "geometric_median_test", "points": 2}
from scipy.optimize import minimize

_pts = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [10.0, 10.0]], dtype=torch.float64)
_m = checks.call("geometric_median", geometric_median, _pts, case="four corners of a square and a far point")
checks.assert_shape("geometric_median", _m, (2,), name="the median")
_best = minimize(lambda m: np.linalg.norm(_pts.numpy() - m, axis=1).sum(), _pts.numpy().mean(0), method="Nelder-Mead",
                 options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5000}).x
checks.assert_close("geometric_median", _m, torch.tensor(_best), atol=1e-4, name="the median (vs scipy's minimiser)",
                    hint="weights are 1 / distance to the CURRENT estimate; recompute them every iteration")
checks.assert_true("geometric_median", float(_m.max()) < 1.0,
                   f"the far point (10, 10) should barely move the median, but it is at {_m.tolist()}: "
                   "is it still the mean (2.4, 2.4)?")
_line = torch.tensor([[0.0], [1.0], [10.0]])
checks.assert_close("geometric_median", checks.call("geometric_median", geometric_median, _line, case="0, 1, 10 on a line"),
                    torch.tensor([1.0]), atol=1e-2, name="the median of 0, 1, 10",
                    hint="in one dimension the geometric median is the ordinary median")
_pts2 = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 1.0], [3.0, 2.0]], dtype=torch.float64)
_w0 = 1.0 / (_pts2 - _pts2.mean(0)).norm(dim=-1)
checks.assert_close("geometric_median", checks.call("geometric_median", geometric_median, _pts2, 1, case="one iteration"),
                    (_w0[:, None] * _pts2).sum(0) / _w0.sum(), atol=1e-9, name="the estimate after ONE iteration",
                    hint="start from the mean of the rows, x.mean(0), then take exactly `iters` Weiszfeld steps")
print("geometric_median: visible tests pass")
### BEGIN HIDDEN TESTS
torch.manual_seed(5)
_cloud = torch.randn(200, 6, dtype=torch.float64)
_best = minimize(lambda m: np.linalg.norm(_cloud.numpy() - m, axis=1).sum(), _cloud.numpy().mean(0), method="BFGS",
                 options={"gtol": 1e-10}).x
_m = checks.call("geometric_median", geometric_median, _cloud, case="a (200, 6) float64 cloud")
checks.assert_dtype("geometric_median", _m, torch.float64, name="the median of float64 points")
checks.assert_close("geometric_median", _m, torch.tensor(_best), atol=1e-5, name="the median of a random cloud")
_single = torch.tensor([[3.0, -2.0, 7.0]])
checks.assert_close("geometric_median", checks.call("geometric_median", geometric_median, _single, case="a single point"),
                    _single[0], name="the median of one point", hint="clamp the distances: a point at distance 0")
_dup = torch.tensor([[1.0, 1.0]] * 5 + [[5.0, 5.0]])
checks.assert_close("geometric_median", checks.call("geometric_median", geometric_median, _dup, case="five equal points"),
                    torch.tensor([1.0, 1.0]), atol=1e-4, name="the median of five equal points and one other")
def _ref_gm(x, iters=100, eps=1e-6):
    m = x.mean(0)
    for _ in range(iters):
        w = 1.0 / (x - m).norm(dim=-1).clamp_min(eps)
        m = (w[:, None] * x).sum(0) / w.sum()
    return m


_t = torch.randn(4, 300).T
checks.assert_close("geometric_median", checks.call("geometric_median", geometric_median, _t, case="a transposed cloud"),
                    _ref_gm(_t.contiguous()), atol=1e-5, name="the median of a non-contiguous cloud")
### END HIDDEN TESTS

# %% [markdown]
# ## Training an SAE on the toy
#
# The loop below is all there is to training: draw a batch of activations, take a step. The SAE
# has 40 latents for the toy's 20 features (twice as many: the SAE does not know how many features
# there are), $\lambda = 0.2$, Adam with a learning rate of $3 \times 10^{-3}$, 1,000 steps of 1,024
# activations. $b_\text{dec}$ starts at the geometric median of 2,048 activations.

# %%
def train_simple(sae: SparseAutoencoder, next_batch, steps: int, l1: float, lr: float, desc: str) -> dict:
    """Train `sae` for `steps` steps on batches from next_batch(); return the logged curves."""
    opt = torch.optim.Adam(sae.parameters(), lr=lr)
    curve = {"loss": [], "recon": [], "l0": []}
    for _ in tqdm(range(steps), desc=desc, unit="step"):
        out = training_step(sae, opt, next_batch(), l1)
        for key in curve:
            curve[key].append(out[key])
    return curve


TOY_L1, TOY_LR, TOY_STEPS, TOY_D_SAE = 0.2, 3e-3, 1000, 40
toy_curve = None
toy_sae = SparseAutoencoder(toy_cfg.n_hidden, TOY_D_SAE, seed=0)
with torch.no_grad():
    toy_sae.b_dec.copy_(geometric_median(toy_batches(seed=1)(2048)))
toy_curve = train_simple(toy_sae, toy_batches(seed=2), TOY_STEPS, TOY_L1, TOY_LR, desc="SAE on the toy")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
axes[0].semilogy(toy_curve["recon"], label="reconstruction ||x − x̂||²")
axes[0].semilogy(toy_curve["loss"], label="total loss", alpha=0.7)
axes[0].set_xlabel("step")
axes[0].legend()
axes[1].plot(toy_curve["l0"])
axes[1].axhline(toy_cfg.n_features * 0.02, color="gray", ls="--", label="true features per input (0.4)")
axes[1].set_xlabel("step")
axes[1].set_ylabel("L0 (active latents per input)")
axes[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Most inputs contain no feature at all, so an SAE that has found the features should have an L0
# near the true number of features per input, 0.4. (A little more is normal: a feature whose
# direction interferes with another's can wake a second latent.)
#
# ## Part 3: measuring an SAE
#
# An SAE trades reconstruction against sparsity, so it is judged by several numbers at once:
#
# - **MSE**: the mean over inputs of $\lVert x - \hat x \rVert^2$ (the training loss's first term).
# - **Fraction of variance unexplained** (FVU): the squared error divided by the total variance
#   of the data, $\sum_b \lVert x_b - \hat x_b\rVert^2 / \sum_b \lVert x_b - \bar x \rVert^2$ with
#   $\bar x$ the mean activation. It is $1 - R^2$: 0 is perfect, 1 is no better than always
#   predicting the mean. Unlike the MSE it does not depend on the activations' scale.
# - **L0**: the mean number of latents active ($f > 0$) per input.
# - **Dead fraction**: the fraction of latents that fire on *none* of the inputs. A dead latent
#   gets no gradient (the ReLU is flat there), so it will never come back by itself: it is wasted
#   capacity.
#
# ## Exercise 6: the metrics
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 2 points · about 12 minutes, then look at the hint.
#
# Worked example (the visible test): $x$ is the four corners $(0,0), (2,0), (0,2), (2,2)$, so $\bar x
# = (1,1)$ and the total variance is $4 \times 2 = 8$; with $\hat x$ off by 1 in one coordinate of
# two rows, the squared error is 2, the MSE $2/4 = 0.5$ and the FVU $2/8 = 0.25$. (Dividing by
# $\sum \lVert x \rVert^2 = 16$ instead would give 0.125: the variance is measured around the mean.)
#
# <details><summary>Hint</summary>
#
# `err = (x_hat - x).pow(2).sum(-1)` (one number per input); `mse = err.mean()`; `fvu = err.sum() /
# (x - x.mean(0)).pow(2).sum()`; `l0 = (f > 0).sum(-1).float().mean()`; `dead = ((f > 0).sum(0) ==
# 0).float().mean()`. Return each with `.item()`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "sae_metrics"} exercise={"difficulty": 2, "importance": 5, "minutes": 12}
def sae_metrics(x: torch.Tensor, x_hat: torch.Tensor, f: torch.Tensor) -> dict[str, float]:
    """Metrics of an SAE on N inputs.

    x, x_hat: (N, d_in) float; f: (N, d_sae) float (non-negative latents), N >= 2.
    Returns Python floats: {"mse": mean over inputs of ||x - x_hat||^2,
    "fvu": sum ||x - x_hat||^2 / sum ||x - mean(x)||^2, "l0": mean number of latents with f > 0 per input,
    "dead_fraction": fraction of latents with f > 0 on no input}.
    """
    ### BEGIN SOLUTION
    err = (x_hat - x).pow(2).sum(-1)
    return {
        "mse": err.mean().item(),
        "fvu": (err.sum() / (x - x.mean(0)).pow(2).sum()).item(),
        "l0": (f > 0).sum(-1).float().mean().item(),
        "dead_fraction": ((f > 0).sum(0) == 0).float().mean().item(),
    }
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sae_metrics_test", "points": 2}
_x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
_xh = _x + torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, -1.0]])
_f = torch.tensor([[0.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
_m = checks.call("sae_metrics", sae_metrics, _x, _xh, _f, case="the worked example")
checks.assert_true("sae_metrics", isinstance(_m, dict) and {"mse", "fvu", "l0", "dead_fraction"} <= set(_m),
                   "sae_metrics should return a dict with keys 'mse', 'fvu', 'l0', 'dead_fraction'")
checks.assert_true("sae_metrics", all(isinstance(_m[k], float) for k in ("mse", "fvu", "l0", "dead_fraction")),
                   "every metric should be a Python float (use .item())")
checks.assert_close("sae_metrics", _m["mse"], 0.5, name="mse", hint="sum the squared error over d_in, mean over inputs")
checks.assert_close("sae_metrics", _m["fvu"], 0.25, name="fvu",
                    hint="divide by the total variance: the squared distances of x from its MEAN row, summed")
checks.assert_close("sae_metrics", _m["l0"], 0.75, name="l0", hint="count latents with f > 0 in each row, then average")
checks.assert_close("sae_metrics", _m["dead_fraction"], 1 / 3, rtol=1e-6, name="dead_fraction",
                    hint="a latent is dead when it is 0 in EVERY row; the fraction is over latents")
print("sae_metrics: visible tests pass")
### BEGIN HIDDEN TESTS
def _ref_metrics(x, xh, f):
    x, xh, f = x.double().numpy(), xh.double().numpy(), f.double().numpy()
    err = ((xh - x) ** 2).sum(-1)
    return {"mse": err.mean(), "fvu": err.sum() / ((x - x.mean(0)) ** 2).sum(), "l0": (f > 0).sum(-1).mean(),
            "dead_fraction": ((f > 0).sum(0) == 0).mean()}


torch.manual_seed(6)
_cases = [(torch.randn(50, 7), torch.randn(50, 7), torch.relu(torch.randn(50, 30) - 1.5), "a random batch"),
          (torch.randn(7, 50).T, torch.randn(7, 50).T, torch.relu(torch.randn(30, 50) - 1).T, "transposed inputs"),
          (torch.randn(2, 3, dtype=torch.float64), torch.zeros(2, 3, dtype=torch.float64),
           torch.zeros(2, 4, dtype=torch.float64), "two float64 rows, every latent dead"),
          (1e3 * torch.randn(20, 5) + 1e4, 1e3 * torch.randn(20, 5) + 1e4, torch.rand(20, 3), "large offset values")]
for _x, _xh, _f, _case in _cases:
    _got = checks.call("sae_metrics", sae_metrics, _x, _xh, _f, case=_case)
    _want = _ref_metrics(_x, _xh, _f)
    for _k in ("mse", "fvu", "l0", "dead_fraction"):
        checks.assert_close("sae_metrics", _got[_k], float(_want[_k]), rtol=1e-4, name=f"{_k} on {_case}")
### END HIDDEN TESTS

# %% [markdown]
# ## Did the SAE find the toy's features?
#
# For each true feature $i$, take the cosine similarity between its direction and every latent's
# decoder direction, and keep the best: $\max_j \cos(w^{\text{true}}_i, W_{\text{dec}, j})$. The mean
# over features is the **mean max cosine similarity** (MMCS), the measure Sharkey, Braun and Millidge
# (2022, "Taking features out of superposition with sparse autoencoders") introduced for exactly
# this test; Bricken et al. build on their work. An MMCS of 1 means every feature has a latent
# pointing exactly along it. The cosine is *signed*: a latent pointing opposite to a feature does
# not represent it, since a ReLU latent can only add its direction, never subtract it.
#
# ## Exercise 7: mean max cosine similarity
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Worked example (the visible test): features $(1, 0)$ and $(0, 3)$, latents $(0.6, 0.8)$, $(-1, 0)$
# and $(0, 2)$. Feature 0's cosines with the three latents are $0.6, -1, 0$: its best is $0.6$, by
# latent 0 (not $1$ by latent 1, which points the other way). Feature 1's are $0.8, 0, 1$: best $1$,
# latent 2.
#
# <details><summary>Hint</summary>
#
# Normalise the rows of both (`F.normalize(t, dim=-1)`), then `cos = features_n @ W_dec_n.T` has
# shape `(n_features, d_sae)`; `cos.max(dim=1)` gives the values and the indices.
# </details>

# %% nbgrader={"solution": true, "grade_id": "max_cosine"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def max_cosine_similarity(W_dec: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each true feature, its best-matching latent.

    W_dec: (d_sae, d) decoder directions; features: (n_features, d) true feature directions; rows of
    both have any non-zero norm. Returns (best, which): best (n_features,) float, the largest (signed)
    cosine similarity of each feature with any latent; which (n_features,) int64, that latent's index.
    """
    ### BEGIN SOLUTION
    cos = F.normalize(features, dim=-1) @ F.normalize(W_dec, dim=-1).T
    best, which = cos.max(dim=1)
    return best, which
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "max_cosine_test", "points": 2}
_lat = torch.tensor([[0.6, 0.8], [-1.0, 0.0], [0.0, 2.0]])
_feat = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
_out = checks.call("max_cosine", max_cosine_similarity, _lat, _feat, case="the worked example")
checks.assert_true("max_cosine", isinstance(_out, tuple) and len(_out) == 2, "return a pair (best, which)")
_best, _which = _out
checks.assert_shape("max_cosine", _best, (2,), name="best",
                    hint="one value per true FEATURE: take the max over latents (dim=1 of a (features, latents) matrix)")
checks.assert_close("max_cosine", _best, torch.tensor([0.6, 1.0]), name="best",
                    hint="normalise both the latents and the features; keep the sign (no abs): latent 1 points "
                         "AWAY from feature 0")
checks.assert_equal("max_cosine", _which, torch.tensor([0, 2]), name="which")
print("max_cosine: visible tests pass")
### BEGIN HIDDEN TESTS
torch.manual_seed(7)
_lat, _feat = torch.randn(30, 9), torch.randn(12, 9) * torch.rand(12, 1) * 5
_cos = (_feat / _feat.norm(dim=1, keepdim=True)) @ (_lat / _lat.norm(dim=1, keepdim=True)).T
_best, _which = checks.call("max_cosine", max_cosine_similarity, _lat, _feat, case="30 latents, 12 features")
checks.assert_close("max_cosine", _best, _cos.max(1).values, rtol=1e-5, atol=1e-6, name="best (random)")
checks.assert_equal("max_cosine", _which, _cos.max(1).indices, name="which (random)")
checks.assert_dtype("max_cosine", _which, torch.int64, name="which")
_best, _which = checks.call("max_cosine", max_cosine_similarity, _lat.T.contiguous().T.double(), _feat[:1].double(),
                            case="one float64 feature and non-contiguous latents")
checks.assert_dtype("max_cosine", _best, torch.float64, name="best (float64)")
checks.assert_close("max_cosine", _best, _cos[:1].max(1).values.double(), rtol=1e-5, name="best (one feature)")
_b, _w = checks.call("max_cosine", max_cosine_similarity, 100.0 * _feat[:3], _feat, case="latents equal to 3 features")
checks.assert_close("max_cosine", _b[:3], torch.ones(3), rtol=1e-5, name="best of features that have an exact latent")
### END HIDDEN TESTS

# %% [markdown]
# Now the replication's first number. The threshold, stated before looking: **mean max cosine
# similarity ≥ 0.95** (random directions score about 0.70 here). The picture is the paper's kind of
# evidence in miniature: each row is a true feature, each column a latent (sorted by the feature it
# matches best); a clean SAE shows one bright cell per row.

# %%
MMCS_THRESHOLD = 0.95
toy_best = None
with torch.no_grad():
    toy_xh, toy_f = toy_sae(toy_x)
print("toy SAE:", {k: round(v, 4) for k, v in sae_metrics(toy_x, toy_xh, toy_f).items()})
toy_best, toy_which = max_cosine_similarity(toy_sae.W_dec.detach(), true_features)
print(f"mean max cosine similarity {toy_best.mean():.4f} (threshold {MMCS_THRESHOLD}), worst feature {toy_best.min():.4f}")

_cos = F.normalize(true_features, dim=-1) @ F.normalize(toy_sae.W_dec.detach(), dim=-1).T  # (20, 40)
_matched = list(dict.fromkeys(toy_which.tolist()))  # each feature's best latent, in feature order, once
_order = torch.tensor(_matched + [j for j in range(TOY_D_SAE) if j not in _matched])
fig, ax = plt.subplots(figsize=(11, 4))
im = ax.imshow(_cos[:, _order], cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
ax.set_xlabel("latent (sorted: the best match of feature 0, of feature 1, ..., then the rest)")
ax.set_ylabel("true feature")
ax.set_title(f"cosine similarity, true features vs SAE decoder directions (MMCS {toy_best.mean():.3f})")
plt.colorbar(im, ax=ax)
plt.show()

# %% nbgrader={"grade": true, "grade_id": "max_cosine_test_2", "points": 2}
checks.assert_true("max_cosine", toy_best is not None,
                   "the toy SAE was not evaluated: run the cells above (they need exercises 1-7)")
_best, _ = max_cosine_similarity(toy_sae.W_dec.detach(), true_features)
checks.assert_true("max_cosine", float(_best.mean()) >= MMCS_THRESHOLD,
                   f"the SAE recovers the toy's features with MMCS {float(_best.mean()):.3f} < {MMCS_THRESHOLD}",
                   details=[f"per feature: {[round(v, 2) for v in _best.tolist()]}"],
                   hint="check training_step (the decoder constraint) and that b_dec starts at the geometric median")
_m = sae_metrics(toy_x, *toy_sae(toy_x))
checks.assert_true("max_cosine", _m["fvu"] < 0.15 and _m["dead_fraction"] == 0.0,
                   f"the toy SAE should reconstruct well with no dead latents; got {_m}")
print(f"max_cosine: the SAE recovers all {len(_best)} features, MMCS {float(_best.mean()):.3f} >= {MMCS_THRESHOLD}")

# %% [markdown]
# **What just happened.** The SAE saw 8-dimensional vectors and nothing else, yet it has a latent
# aligned with each of the 20 directions the toy used to write its features, to a cosine of about
# 0.99. That is the whole promise of dictionary learning: if a model stores sparse features along
# directions, sparsity plus reconstruction is enough to find the directions again. The extra 20
# latents are not wasted either: look at the grey columns on the right of the picture, they are
# mostly near-copies of a feature (the L1 penalty lets two latents share a feature cheaply).
#
# How much did the pre-encoder bias's starting point matter? Train the same SAE with $b_\text{dec}$
# starting at zero instead of the geometric median:

# %%
zero_init_sae = SparseAutoencoder(toy_cfg.n_hidden, TOY_D_SAE, seed=0)  # b_dec stays at 0
_ = train_simple(zero_init_sae, toy_batches(seed=2), TOY_STEPS, TOY_L1, TOY_LR, desc="same SAE, b_dec starts at 0")
for _name, _s in [("b_dec from the geometric median", toy_sae), ("b_dec from zero", zero_init_sae)]:
    with torch.no_grad():
        _m = sae_metrics(toy_x, *_s(toy_x))
    print(f"{_name:<32} MMCS {max_cosine_similarity(_s.W_dec.detach(), true_features)[0].mean():.3f}  "
          f"FVU {_m['fvu']:.3f}  L0 {_m['l0']:.2f}  dead {_m['dead_fraction']:.0%}")

# %% [markdown]
# Starting from zero, every input looks like "the offset plus a bit" to the SAE, so latents spend
# their effort rebuilding the offset (L0 of several per input, when the truth is 0.4) and the
# feature directions come out blurred. $b_\text{dec}$ does learn the offset eventually, but by then
# the dictionary has settled. One initialisation line is worth a lot here.
#
# ## Part 4: dead latents and resampling
#
# In a big SAE on a real model many latents stop firing during training, and once dead they never
# recover (a ReLU that is 0 on every input passes no gradient). Bricken et al. report that
# resampling dead latents improved their SAEs, and their recipe (the appendix on autoencoder
# training) is:
#
# 1. Track, for every latent, how many steps it has gone without firing. A latent that has not
#    fired for a whole **window** of steps is dead. (The paper: 12,500 steps.)
# 2. Every so often (the paper: at 25k, 50k, 75k and 100k steps) compute the SAE's loss on a sample
#    of inputs. Pick one input per dead latent, with probability **proportional to the square of
#    its loss** $\lVert x - \hat x\rVert^2$: the inputs the SAE reconstructs worst, which are
#    likely to contain a feature no latent has claimed.
# 3. For each dead latent and its input $x$: decoder row $\leftarrow x / \lVert x \rVert$; encoder
#    column $\leftarrow 0.2 \times (\text{mean norm of the alive latents' encoder columns}) \times x /
#    \lVert x \rVert$; encoder bias $\leftarrow 0$.
# 4. Reset Adam's running averages (`exp_avg`, `exp_avg_sq`) of the modified entries to zero, so the
#    new latent does not inherit the momentum of the dead one.
#
# ## Exercise 8: detecting dead latents
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 5 minutes, then look at the hint.
#
# Write the counter update for step 1: after a batch with latents `f`, a latent that fired (`f > 0`
# for at least one input of the batch) is back to 0 steps; every other latent is one step older.
# Return a new tensor; leave the input unchanged. `dead = steps_since_fired >= window` is then the
# dead mask.
#
# <details><summary>Hint</summary>
#
# **The idea.** A latent that fired (activation above 0) for any example of the batch resets its
# counter to 0; every other latent's counter goes up by one.
#
# **A pointer.** "Any example" is a reduction over the batch axis; `torch.where` picks between the
# reset and the increment per latent.
# </details>

# %% nbgrader={"solution": true, "grade_id": "steps_since_fired"} exercise={"difficulty": 1, "importance": 3, "minutes": 5}
def update_steps_since_fired(steps_since_fired: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """steps_since_fired: (d_sae,) int64; f: (B, d_sae) latents of one batch (B may be 0).

    Returns a new (d_sae,) int64 tensor: 0 for every latent with f > 0 somewhere in the batch,
    steps_since_fired + 1 for the others.
    """
    ### BEGIN SOLUTION
    return torch.where((f > 0).any(dim=0), 0, steps_since_fired + 1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "steps_since_fired_test", "points": 1}
_c = torch.tensor([0, 5, 99, 2])
_f = torch.tensor([[0.0, 0.3, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 1.2, 0.0, 0.1]])
_new = checks.call("steps_since_fired", update_steps_since_fired, _c, _f, case="4 latents, a batch of 3")
checks.assert_dtype("steps_since_fired", _new, torch.int64, name="the new counter")
checks.assert_equal("steps_since_fired", _new, torch.tensor([1, 0, 100, 0]), name="the new counter",
                    hint="a latent fired if f > 0 in ANY row of the batch (reduce over dim 0)")
checks.assert_equal("steps_since_fired", _c, torch.tensor([0, 5, 99, 2]), name="the input counter",
                    hint="return a new tensor; do not modify steps_since_fired in place")
print("steps_since_fired: visible tests pass")
### BEGIN HIDDEN TESTS
_c = torch.arange(6)
_new = checks.call("steps_since_fired", update_steps_since_fired, _c, torch.zeros(0, 6), case="an empty batch")
checks.assert_equal("steps_since_fired", _new, torch.arange(1, 7), name="counter after an empty batch")
_ft = torch.tensor([[0.0, 2.0], [0.0, 0.0], [0.0, 0.0], [3.0, 0.0], [0.0, 0.0], [0.0, 0.0]]).T  # (2, 6), non-contiguous
_new = checks.call("steps_since_fired", update_steps_since_fired, _c, _ft, case="a transposed batch")
checks.assert_equal("steps_since_fired", _new, torch.tensor([0, 2, 3, 0, 5, 6]), name="counter after a transposed batch")
_new = checks.call("steps_since_fired", update_steps_since_fired, _c, -torch.ones(4, 6, dtype=torch.float64),
                   case="negative float64 values (f > 0 nowhere)")
checks.assert_equal("steps_since_fired", _new, torch.arange(1, 7), name="counter when nothing is positive",
                    hint="fired means f > 0, not f != 0")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 9: resampling dead latents
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 3 points · about 30 minutes, then look at the hint.
#
# Implement steps 2–4 of the recipe. To make the random draw checkable, draw the inputs with
# exactly this call, `pick = torch.multinomial(weights, n_dead, replacement=False,
# generator=generator)`, where `weights` is the per-input loss squared (unnormalised is fine:
# `multinomial` normalises), and give the `k`-th dead latent (in increasing index order) the
# input `x[pick[k]]`.
#
# Adam keeps its running averages in `opt.state[param]["exp_avg"]` and `opt.state[param]["exp_avg_sq"]`,
# tensors of the parameter's shape (they exist once the optimiser has taken a step). Only the
# modified entries are reset: the columns `idx` of `W_enc`'s state, the rows `idx` of `W_dec`'s,
# the entries `idx` of `b_enc`'s.
#
# ```
#   dead latent j ──▶ pick an input x with probability ∝ ||x − x̂||⁴  ──▶  W_dec[j] = x/|x|
#                                                                        W_enc[:, j] = 0.2 · (mean alive |W_enc col|) · x/|x|
#                                                                        b_enc[j] = 0,  Adam state of those entries = 0
# ```
#
# <details><summary>Hint</summary>
#
# Work inside `with torch.no_grad():`. `idx = dead.nonzero().squeeze(-1)`; return 0 if it is empty.
# `x_hat, _ = sae(x)`; `weights = (x_hat - x).pow(2).sum(-1).pow(2)`; if `weights.sum() == 0`,
# `weights = torch.ones(len(x))`. `v = x[pick] / x[pick].norm(dim=-1, keepdim=True)`. The mean alive
# norm is `sae.W_enc[:, ~dead].norm(dim=0).mean()` (1.0 if `(~dead).any()` is False); compute it
# **before** you overwrite anything. `sae.W_enc[:, idx] = (0.2 * norm * v).T`. For the optimiser:
# `state = opt.state.get(param, {})`, then for each key in `("exp_avg", "exp_avg_sq")` present in
# `state`, `state[key][idx] = 0` (or `state[key][:, idx] = 0` for `W_enc`).
# </details>

# %% nbgrader={"solution": true, "grade_id": "resample"} exercise={"difficulty": 3, "importance": 3, "minutes": 30}
def resample_dead_latents(sae: SparseAutoencoder, opt: torch.optim.Adam, x: torch.Tensor, dead: torch.Tensor,
                          generator: torch.Generator) -> int:
    """Bricken et al.'s resampling, in place on `sae` and `opt`.

    sae: the SAE; opt: the torch.optim.Adam training it; x: (N, d_in) float, a sample of inputs with at
    least as many rows of non-zero loss as there are dead latents; dead: (d_sae,) bool; generator: for
    the draw. Returns the number of latents resampled (int).
    """
    ### BEGIN SOLUTION
    with torch.no_grad():
        idx = dead.nonzero().squeeze(-1)
        if idx.numel() == 0:
            return 0
        x_hat, _ = sae(x)
        weights = (x_hat - x).pow(2).sum(-1).pow(2)
        if weights.sum() <= 0:
            weights = torch.ones(len(x), dtype=x.dtype)
        pick = torch.multinomial(weights, idx.numel(), replacement=False, generator=generator)
        v = x[pick] / x[pick].norm(dim=-1, keepdim=True)
        alive = ~dead
        norm = sae.W_enc[:, alive].norm(dim=0).mean() if alive.any() else torch.tensor(1.0)
        sae.W_dec[idx] = v
        sae.W_enc[:, idx] = (0.2 * norm * v).T
        sae.b_enc[idx] = 0.0
        for param, where in ((sae.W_dec, (idx,)), (sae.W_enc, (slice(None), idx)), (sae.b_enc, (idx,))):
            state = opt.state.get(param, {})
            for key in ("exp_avg", "exp_avg_sq"):
                if key in state:
                    state[key][where] = 0.0
    return int(idx.numel())
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "resample_test", "points": 3}
def _sae_with_adam_state(seed: int = 0, killed: int = 10):
    """An SAE on the toy whose first `killed` latents are dead, and an Adam that has taken 3 steps."""
    sae = SparseAutoencoder(8, 40, seed=seed)
    with torch.no_grad():
        sae.b_dec.copy_(toy_x.mean(0))
        sae.b_enc[:killed] = -10.0
    opt = torch.optim.Adam(sae.parameters(), lr=1e-2)
    for i in range(3):
        opt.zero_grad()
        xb = toy_x[1000 * i : 1000 * (i + 1)]
        ((sae(xb)[0] - xb) ** 2).sum(-1).mean().backward()
        opt.step()
    return sae, opt


_sae, _opt = _sae_with_adam_state()
_before = {n: p.detach().clone() for n, p in _sae.named_parameters()}
_state_before = {n: {k: v.clone() for k, v in _opt.state[p].items()} for n, p in _sae.named_parameters()}
_alive_norm = _before["W_enc"][:, 10:].norm(dim=0).mean()
_dead = torch.arange(40) < 10
_xs = toy_x[:4096]
_n = checks.call("resample", resample_dead_latents, _sae, _opt, _xs, _dead, torch.Generator().manual_seed(0),
                 case="10 dead latents of 40 on the toy")
checks.assert_equal("resample", _n, 10, name="the number of latents resampled")
_Wd, _We, _be = _sae.W_dec.detach(), _sae.W_enc.detach(), _sae.b_enc.detach()
checks.assert_close("resample", _Wd[10:], _before["W_dec"][10:], name="decoder rows of the ALIVE latents",
                    hint="change only the rows of dead latents")
checks.assert_close("resample", _We[:, 10:], _before["W_enc"][:, 10:], name="encoder columns of the alive latents")
checks.assert_close("resample", _Wd[:10].norm(dim=-1), torch.ones(10), name="norms of the resampled decoder rows",
                    hint="W_dec[j] = x / ||x||: a unit vector")
_cos_to_inputs = (F.normalize(_Wd[:10], dim=-1) @ F.normalize(_xs, dim=-1).T).max(1).values
checks.assert_close("resample", _cos_to_inputs, torch.ones(10), atol=1e-5,
                    name="max cosine of each resampled decoder row with the inputs x",
                    hint="each resampled decoder row is one of the inputs (a row of x), normalised")
checks.assert_close("resample", _We[:, :10].norm(dim=0), torch.full((10,), 0.2 * float(_alive_norm)), rtol=1e-4,
                    name="norms of the resampled encoder columns",
                    hint="0.2 x the mean norm of the ALIVE latents' encoder columns, measured before any change")
checks.assert_close("resample", F.normalize(_We[:, :10].T, dim=-1), _Wd[:10], atol=1e-5,
                    name="directions of the resampled encoder columns", hint="the encoder column points along x too")
checks.assert_close("resample", _be[:10], torch.zeros(10), name="b_enc of the resampled latents")
checks.assert_close("resample", _be[10:], _before["b_enc"][10:], name="b_enc of the alive latents")
for _name, _p, _sl, _keep in [("W_dec", _sae.W_dec, (slice(0, 10),), (slice(10, None),)),
                              ("W_enc", _sae.W_enc, (slice(None), slice(0, 10)), (slice(None), slice(10, None))),
                              ("b_enc", _sae.b_enc, (slice(0, 10),), (slice(10, None),))]:
    for _key in ("exp_avg", "exp_avg_sq"):
        checks.assert_close("resample", _opt.state[_p][_key][_sl], torch.zeros_like(_opt.state[_p][_key][_sl]),
                            name=f"Adam's {_key} of {_name} for the resampled latents",
                            hint="opt.state[param][key][idx] = 0 (columns idx for W_enc)")
        checks.assert_close("resample", _opt.state[_p][_key][_keep], _state_before[_name][_key][_keep],
                            name=f"Adam's {_key} of {_name} for the alive latents")
_p = SparseAutoencoder(3, 4)  # b_dec = 0 and b_enc = -1: nothing fires on these tiny inputs, so x_hat = 0
with torch.no_grad():
    _p.b_enc.fill_(-1.0)
_xt = torch.zeros(20, 3)
_xt[7] = torch.tensor([0.01, 0.02, 0.02])  # the only input with a loss (0.0009; its weight 8.1e-7)
_n = checks.call("resample", resample_dead_latents, _p, torch.optim.Adam(_p.parameters()), _xt,
                 torch.tensor([True, False, False, False]), torch.Generator().manual_seed(0),
                 case="one input with a tiny loss, 19 with none")
checks.assert_close("resample", _p.W_dec.detach()[0], torch.tensor([1 / 3, 2 / 3, 2 / 3]), rtol=1e-5,
                    name="the decoder row resampled towards the only input with a loss",
                    hint="weights = loss ** 2, however small; fall back to uniform weights only when they are ALL 0")
print("resample: visible tests pass")
### BEGIN HIDDEN TESTS
import copy as _copy


def _ref_resample(sae, opt, x, dead, gen):
    with torch.no_grad():
        idx = dead.nonzero().squeeze(-1)
        if idx.numel() == 0:
            return 0
        f = torch.relu((x - sae.b_dec) @ sae.W_enc + sae.b_enc)
        w = ((f @ sae.W_dec + sae.b_dec - x) ** 2).sum(-1) ** 2
        if w.sum() <= 0:
            w = torch.ones(len(x), dtype=x.dtype)
        pick = torch.multinomial(w, idx.numel(), replacement=False, generator=gen)
        v = x[pick] / x[pick].norm(dim=-1, keepdim=True)
        norm = sae.W_enc[:, ~dead].norm(dim=0).mean() if (~dead).any() else torch.tensor(1.0)
        sae.W_dec[idx] = v
        sae.W_enc[:, idx] = (0.2 * norm * v).T
        sae.b_enc[idx] = 0
        for p, where in ((sae.W_dec, (idx,)), (sae.W_enc, (slice(None), idx)), (sae.b_enc, (idx,))):
            for k in ("exp_avg", "exp_avg_sq"):
                if k in opt.state.get(p, {}):
                    opt.state[p][k][where] = 0
    return int(idx.numel())


def _twin(sae, opt):
    sae2 = _copy.deepcopy(sae)
    opt2 = torch.optim.Adam(sae2.parameters(), lr=1e-2)
    opt2.load_state_dict(_copy.deepcopy(opt.state_dict()))
    return sae2, opt2


for _case, _dead in [("scattered dead latents", torch.arange(40) % 7 == 3), ("no dead latent", torch.zeros(40, dtype=torch.bool)),
                     ("every latent dead", torch.ones(40, dtype=torch.bool))]:
    _a, _oa = _sae_with_adam_state(seed=2, killed=0)
    _b, _ob = _twin(_a, _oa)
    _n = checks.call("resample", resample_dead_latents, _a, _oa, toy_x[:3000], _dead, torch.Generator().manual_seed(9),
                     case=_case)
    _want = _ref_resample(_b, _ob, toy_x[:3000], _dead, torch.Generator().manual_seed(9))
    checks.assert_equal("resample", _n, _want, name=f"number resampled ({_case})")
    for (_nm, _pa), _pb in zip(_a.named_parameters(), _b.parameters()):
        checks.assert_close("resample", _pa.detach(), _pb.detach(), atol=1e-6, name=f"{_nm} after resampling ({_case})",
                            hint="draw with torch.multinomial(loss ** 2, n_dead, replacement=False, generator=generator); "
                                 "mean alive encoder norm, 1.0 when none is alive")
        for _k in ("exp_avg", "exp_avg_sq"):
            checks.assert_close("resample", _oa.state[_pa][_k], _ob.state[_pb][_k], atol=1e-7,
                                name=f"Adam's {_k} of {_nm} ({_case})")
# An SAE that reconstructs every input exactly (x = b_dec): every loss is 0, so the draw is uniform.
_p = SparseAutoencoder(3, 4)
with torch.no_grad():
    _p.b_dec.copy_(torch.tensor([1.0, 2.0, 2.0]))
    _p.b_enc.fill_(-1.0)
_n = checks.call("resample", resample_dead_latents, _p, torch.optim.Adam(_p.parameters()), _p.b_dec.detach().repeat(6, 1),
                 torch.tensor([True, False, True, False]), torch.Generator().manual_seed(0),
                 case="a perfect reconstruction (every loss 0), before any optimiser step")
checks.assert_equal("resample", _n, 2, name="number resampled when every loss is 0",
                    hint="if every weight is 0, use torch.ones(N) as the weights")
checks.assert_close("resample", _p.W_dec.detach()[[0, 2]], torch.tensor([[1 / 3, 2 / 3, 2 / 3]] * 2), rtol=1e-5,
                    name="decoder rows resampled from a perfect reconstruction")
### END HIDDEN TESTS

# %% [markdown]
# ## The training loop, with the paper's bookkeeping
#
# The loop now does what the recipe above asks: the counter of exercise 8 after every step,
# and the resampling of exercise 9 every `resample_every` steps. Part 5 trains with it.

# %%
def train_sae(sae: SparseAutoencoder, next_batch, steps: int, l1: float, lr: float, resample_every: int | None = None,
              resample_until: int | None = None, dead_window: int = 50, resample_batch: int = 4096, seed: int = 0,
              desc: str = "training") -> dict:
    """The paper's training loop: training_step, the steps-since-fired counter, and resampling of the latents
    that have been dead for `dead_window` steps, every `resample_every` steps up to `resample_until`."""
    opt = torch.optim.Adam(sae.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    steps_since_fired = torch.zeros(sae.W_dec.shape[0], dtype=torch.long)
    curve = {"loss": [], "recon": [], "l0": [], "dead_fraction": [], "resampled": []}
    for step in tqdm(range(steps), desc=desc, unit="step"):
        out = training_step(sae, opt, next_batch(), l1)
        steps_since_fired = update_steps_since_fired(steps_since_fired, out["f"])
        dead = steps_since_fired >= dead_window
        for key in ("loss", "recon", "l0"):
            curve[key].append(out[key])
        curve["dead_fraction"].append(dead.float().mean().item())
        if resample_every and (step + 1) % resample_every == 0 and step + 1 <= (resample_until or steps):
            n = resample_dead_latents(sae, opt, next_batch(resample_batch), dead, gen)
            steps_since_fired[dead] = 0  # the new latents get a full window to prove themselves
            curve["resampled"].append((step + 1, n))
    return curve


# %% [markdown]
# ## Latents that die on their own
#
# The toy SAE above lost no latent: at the learning rate of Part 2 nothing dies on this toy (with
# 20, 40 and 160 latents, we measured 0% dead after 1,000 steps). What kills latents here is a learning
# rate that is too high at the start. Adam without a warm-up at $\eta = 0.1$ (33 times Part 2's)
# makes the first steps so large that some encoder columns are thrown to where their pre-activation is
# negative on every input; the ReLU then passes them no gradient, and they never come back. We
# measured, on the toy with 40 latents, 42–52% of the latents dead after 150 such steps (seeds 0–3;
# the cell below prints seeds 0 and 1),
# and the survivors missing one or two of the 20 features. Nobody killed them by hand: the
# training did. (At $\eta = 0.03$ latents die too, 35% of them in our run of 1,000 steps, but only surplus ones:
# the 26 survivors still covered all 20 features, MMCS 1.00. Death costs something only when it
# eats into the features, which is why we use 0.1.)
#
# So here is the experiment, from **the same dead state**:
#
# 1. train 150 steps at $\eta = 0.1$ (the latents die);
# 2. copy the SAE, its Adam state and its steps-since-fired counter three times, lower the learning
#    rate to Part 2's $3 \times 10^{-3}$, and train each copy 300 more steps:
#    - **no resampling**: as is;
#    - **resampling** (Bricken et al.): exercise 9 every 100 steps (steps 0, 100 and 200 of this
#      phase), dead window 50 steps;
#    - **random re-init**, the control: at the same steps, the same latents re-initialised in exactly
#      the same way (decoder row, encoder column at 0.2 × the mean alive norm, bias 0, Adam state
#      reset), except that the directions are random instead of badly reconstructed inputs.
#
# The control separates two claims that are easy to run together: "dead latents should be given a
# second chance" and "the second chance should point at what the SAE reconstructs badly". Two seeds,
# because one run can mislead.
#
# ## Exercise 9b: the control
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 5 minutes, then look at the hint.
#
# Write `random_reinit_dead_latents(sae, opt, dead, generator)`: re-initialise the latents in `dead`
# exactly as exercise 9 does, but towards `n_dead` directions drawn with `torch.randn(n_dead, d_in,
# generator=generator)` (normalised) instead of towards inputs. Which dead latent gets which of those
# directions does not matter (they are independent and identically distributed). Return the number
# re-initialised.
#
# <details><summary>Hint</summary>
#
# **The idea.** Everything but the source of the directions is exercise 9, which you already wrote.
# If the only "inputs" exercise 9 may choose from are exactly `n_dead` random vectors, drawing
# without replacement takes every one of them.
#
# **A pointer.** Draw the random matrix first (shape: the number of dead latents by `sae.W_dec.shape[1]`),
# then hand it to `resample_dead_latents` in place of `x`, with the same generator.
# </details>

# %% nbgrader={"solution": true, "grade_id": "random_reinit"} exercise={"difficulty": 1, "importance": 3, "minutes": 5}
def random_reinit_dead_latents(sae: SparseAutoencoder, opt: torch.optim.Adam, dead: torch.Tensor,
                               generator: torch.Generator) -> int:
    """The control for resampling: the dead latents (dead: (d_sae,) bool) re-initialised as in exercise 9, towards
    the normalised rows of torch.randn(n_dead, d_in, generator=generator) (in any order). Returns n_dead (int)."""
    ### BEGIN SOLUTION
    n_dead = int(dead.sum())
    if n_dead == 0:
        return 0
    directions = torch.randn(n_dead, sae.W_dec.shape[1], generator=generator)
    return resample_dead_latents(sae, opt, directions, dead, generator)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "random_reinit_test", "points": 1}
def _reinit_case(seed: int, dead: torch.Tensor):
    sae, opt = _sae_with_adam_state(seed=seed, killed=0)
    before = {n: p.detach().clone() for n, p in sae.named_parameters()}
    alive_norm = before["W_enc"][:, ~dead].norm(dim=0).mean() if (~dead).any() else torch.tensor(1.0)
    n = checks.call("random_reinit", random_reinit_dead_latents, sae, opt, dead, torch.Generator().manual_seed(seed),
                    case=f"{int(dead.sum())} dead latents of {len(dead)}")
    want_dirs = F.normalize(torch.randn(int(dead.sum()), 8, generator=torch.Generator().manual_seed(seed)), dim=-1)
    return sae, opt, before, alive_norm, n, want_dirs


_dead = torch.arange(40) % 4 == 1
_sae, _opt, _before, _alive_norm, _n, _want_dirs = _reinit_case(3, _dead)
checks.assert_equal("random_reinit", _n, 10, name="the number of latents re-initialised")
_Wd = _sae.W_dec.detach()
checks.assert_close("random_reinit", _Wd[~_dead], _before["W_dec"][~_dead], name="decoder rows of the alive latents",
                    hint="change only the dead latents")
_match = (_Wd[_dead] @ _want_dirs.T)  # (10, 10): each new row against each expected direction
checks.assert_close("random_reinit", _match.max(1).values, torch.ones(10), atol=1e-5,
                    name="max cosine of each new decoder row with the normalised rows of torch.randn(n_dead, d_in, generator)",
                    hint="draw the directions FIRST from the generator, with shape (n_dead, d_in), and normalise them")
checks.assert_equal("random_reinit", sorted(_match.argmax(1).tolist()), list(range(10)),
                    name="which random directions were used (each once)")
checks.assert_close("random_reinit", _sae.W_enc.detach()[:, _dead].norm(dim=0), torch.full((10,), 0.2 * float(_alive_norm)),
                    rtol=1e-4, name="norms of the new encoder columns", hint="as in exercise 9: 0.2 x the mean alive norm")
for _p in (_sae.W_dec, _sae.b_enc):
    checks.assert_close("random_reinit", _opt.state[_p]["exp_avg"][_dead], torch.zeros_like(_opt.state[_p]["exp_avg"][_dead]),
                        name="Adam's exp_avg of the re-initialised latents", hint="as in exercise 9: reset their Adam state")
for _seed, _dead in [(5, torch.zeros(40, dtype=torch.bool)), (7, torch.arange(40) == 39)]:
    _n = _reinit_case(_seed, _dead)[4]
    checks.assert_equal("random_reinit", _n, int(_dead.sum()), name=f"the number re-initialised with {int(_dead.sum())} dead",
                        hint="return the number of dead latents, 0 when there are none")
print("random_reinit: visible tests pass")
### BEGIN HIDDEN TESTS
for _seed, _dead in [(5, torch.zeros(40, dtype=torch.bool)), (6, torch.ones(40, dtype=torch.bool)),
                     (7, torch.arange(40) == 39)]:
    _sae, _opt, _before, _alive_norm, _n, _want_dirs = _reinit_case(_seed, _dead)
    checks.assert_equal("random_reinit", _n, int(_dead.sum()), name=f"the number re-initialised ({int(_dead.sum())} dead)")
    if _dead.any():
        checks.assert_close("random_reinit", (_sae.W_dec.detach()[_dead] @ _want_dirs.T).max(1).values,
                            torch.ones(int(_dead.sum())), atol=1e-5, name=f"new directions ({int(_dead.sum())} dead)")
        checks.assert_close("random_reinit", _sae.b_enc.detach()[_dead], torch.zeros(int(_dead.sum())),
                            name="b_enc of the re-initialised latents")
    else:
        for (_nm, _pa) in _sae.named_parameters():
            checks.assert_close("random_reinit", _pa.detach(), _before[_nm], name=f"{_nm} when no latent is dead")
### END HIDDEN TESTS

# %% [markdown]
# The experiment. `kill_by_training` is step 1; `repair` is step 2 for one arm, starting from a copy of
# the dead state. Six runs of 300 steps and two of 150: about 15 seconds.

# %%
DEATH_LR, DEATH_STEPS, REPAIR_STEPS, DEAD_WINDOW = 0.1, 150, 300, 50
RESAMPLE_EVERY, RESAMPLE_UNTIL = 100, 200
ARMS = ("no resampling", "resampling", "random re-init")
SEEDS = (0, 1)


def kill_by_training(seed: int):
    """Step 1: the SAE of Part 2 (40 latents, b_dec at the geometric median), 150 steps of Adam at lr 0.1.
    Returns (sae, opt, steps_since_fired)."""
    sae = SparseAutoencoder(toy_cfg.n_hidden, TOY_D_SAE, seed=seed)
    with torch.no_grad():
        sae.b_dec.copy_(geometric_median(toy_batches(seed=1)(2048)))
    opt = torch.optim.Adam(sae.parameters(), lr=DEATH_LR)
    next_batch = toy_batches(seed=100 + seed)
    counter = torch.zeros(TOY_D_SAE, dtype=torch.long)
    for _ in range(DEATH_STEPS):
        counter = update_steps_since_fired(counter, training_step(sae, opt, next_batch(), TOY_L1)["f"])
    return sae, opt, counter


def copy_state(sae: SparseAutoencoder, opt: torch.optim.Adam, counter: torch.Tensor):
    """An independent copy of an SAE, its Adam (state included) and its counter."""
    sae2 = copy.deepcopy(sae)
    opt2 = torch.optim.Adam(sae2.parameters(), lr=DEATH_LR)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    return sae2, opt2, counter.clone()


def repair(sae: SparseAutoencoder, opt: torch.optim.Adam, counter: torch.Tensor, arm: str, seed: int) -> dict:
    """Step 2 for one arm: 300 steps at Part 2's learning rate, re-initialising the latents dead for DEAD_WINDOW
    steps at steps 0, 100, 200 (arm "resampling": exercise 9; "random re-init": exercise 9b)."""
    for group in opt.param_groups:
        group["lr"] = TOY_LR
    gen, next_batch = torch.Generator().manual_seed(seed), toy_batches(seed=200 + seed)
    curve = {"recon": [], "dead_fraction": [], "reinitialised": []}
    for step in range(REPAIR_STEPS):
        if arm != "no resampling" and step % RESAMPLE_EVERY == 0 and step <= RESAMPLE_UNTIL:
            dead, sample = counter >= DEAD_WINDOW, next_batch(4096)
            if arm == "resampling":
                n = resample_dead_latents(sae, opt, sample, dead, gen)
            else:
                n = random_reinit_dead_latents(sae, opt, dead, gen)
            counter[dead] = 0
            curve["reinitialised"].append((step, n))
        out = training_step(sae, opt, next_batch(), TOY_L1)
        counter = update_steps_since_fired(counter, out["f"])
        curve["recon"].append(out["recon"])
        curve["dead_fraction"].append((counter >= DEAD_WINDOW).float().mean().item())
    return curve


def evaluate_toy_sae(sae: SparseAutoencoder) -> dict:
    with torch.no_grad():
        m = sae_metrics(toy_x, *sae(toy_x))
    m["mmcs"] = max_cosine_similarity(sae.W_dec.detach(), true_features)[0].mean().item()
    return m


rs_results, rs_curves = None, None
_results, _curves = {}, {}
with tqdm(total=len(SEEDS) * (1 + len(ARMS)), desc="natural death, then three arms", unit="run") as _bar:
    for _seed in SEEDS:
        _dead_state = kill_by_training(_seed)
        _results[_seed] = {"dead state": evaluate_toy_sae(_dead_state[0])}
        _bar.update()
        for _arm in ARMS:
            _s, _o, _c = copy_state(*_dead_state)
            _curves[_seed, _arm] = repair(_s, _o, _c, _arm, _seed)
            _results[_seed][_arm] = evaluate_toy_sae(_s)
            _bar.update()
rs_results, rs_curves = _results, _curves
for _seed in SEEDS:
    for _name, _m in rs_results[_seed].items():
        print(f"seed {_seed}  {_name:<15} dead {_m['dead_fraction']:4.0%}  FVU {_m['fvu']:.3f}  MMCS {_m['mmcs']:.3f}  "
              f"L0 {_m['l0']:.2f}")
print("re-initialised at (step, latents), seed 0:", {a: rs_curves[0, a]["reinitialised"] for a in ARMS[1:]})

# %% [markdown]
# **Predict, then look.** Before running the next cell (it draws the three arms' reconstruction
# loss), write down what you expect: which arm ends with the lowest reconstruction loss, and does
# the paper's choice of directions beat random ones? Put it in `MY_RESAMPLING_PREDICTION`; it is
# recorded in your notebook, not graded. Exercise 9c then asks what the data say.

# %%
MY_RESAMPLING_PREDICTION = "resampling lowest; random re-init in between; no resampling worst"  # your guess here

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
for _arm, _color in zip(ARMS, ("tab:gray", "tab:blue", "tab:orange")):
    for _seed, _ls in zip(SEEDS, ("-", ":")):
        axes[0].semilogy(rs_curves[_seed, _arm]["recon"], color=_color, ls=_ls, label=f"{_arm}, seed {_seed}")
        axes[1].plot(rs_curves[_seed, _arm]["dead_fraction"], color=_color, ls=_ls, label=f"{_arm}, seed {_seed}")
axes[0].set_xlabel("step after the high learning rate")
axes[0].set_ylabel("reconstruction loss")
axes[1].set_xlabel("step after the high learning rate")
axes[1].set_ylabel(f"latents silent for >= {DEAD_WINDOW} steps")
axes[1].legend(fontsize=7)
plt.tight_layout()
plt.show()
print("your prediction was:", MY_RESAMPLING_PREDICTION)

# %% nbgrader={"grade": true, "grade_id": "resample_test_2", "points": 2}
checks.assert_true("resample", rs_results is not None and set(rs_results) == set(SEEDS),
                   "the natural-death experiment did not run: run the cells above (they need exercises 1-9b)")
for _seed in SEEDS:
    _r = rs_results[_seed]
    checks.assert_true("resample", _r["dead state"]["dead_fraction"] >= 0.3,
                       f"seed {_seed}: 150 steps at lr 0.1 should leave >= 30% of the latents dead on the evaluation set; "
                       f"got {_r['dead state']['dead_fraction']:.0%}",
                       hint="a latent is dead when f > 0 on none of the inputs (exercise 6); check training_step")
    checks.assert_true("resample", _r["no resampling"]["dead_fraction"] >= _r["dead state"]["dead_fraction"] - 0.05,
                       f"seed {_seed}: without resampling, dead latents should stay dead (dead "
                       f"{_r['dead state']['dead_fraction']:.0%} -> {_r['no resampling']['dead_fraction']:.0%})")
    _none, _rs, _rand = (_r[a]["fvu"] for a in ARMS)
    checks.assert_true("resample", _rand < _none - 0.01 and _r["random re-init"]["mmcs"] >= MMCS_THRESHOLD,
                       f"seed {_seed}: random re-init should lower the FVU by more than 0.01 ({_rand:.3f} vs {_none:.3f}) "
                       f"and recover every feature (MMCS {_r['random re-init']['mmcs']:.3f} >= {MMCS_THRESHOLD})",
                       hint="check random_reinit_dead_latents and that the counter is reset after a re-initialisation")
    checks.assert_true("resample", _rs <= _none + 0.002,
                       f"seed {_seed}: resampling should not reconstruct worse than no resampling (FVU {_rs:.3f} vs "
                       f"{_none:.3f}, tolerance 0.002)", hint="check resample_dead_latents (exercise 9)")
    checks.assert_true("resample", _rs >= _rand - 0.005,
                       f"seed {_seed}: in the reference runs the paper's resampling does not beat the random control "
                       f"(FVU {_rs:.3f} vs {_rand:.3f}, tolerance 0.005); if yours does, compare your exercise 9 with "
                       "its spec", details=["this is a finding of the reference runs, not a law: see Going further 7"])
print("resample: " + "; ".join(
    f"seed {s}: FVU " + " / ".join(f"{rs_results[s][a]['fvu']:.3f}" for a in ARMS) for s in SEEDS) + f" ({' / '.join(ARMS)})")

# %% [markdown]
# ## Exercise 9c (investigation): what do the data support?
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Read `rs_results` (the table printed above, both seeds) and return the one statement your data
# support. "Helps" and "better" mean a final FVU lower by more than 0.005 on **every** seed.
#
# - `"A"`: re-initialising does not help: neither arm reconstructs better than leaving the latents dead.
# - `"B"`: both re-initialisations help, and the paper's (towards badly reconstructed inputs) is better
#   than random directions.
# - `"C"`: re-initialising helps, but the paper's choice of directions is **not** better than random
#   directions here.
# - `"D"`: resampling revives every dead latent for good: none is dead at the end.
#
# The test grades your answer against your own `rs_results`, not against a fixed letter.
#
# <details><summary>Hint</summary>
#
# **The idea.** Compare each re-initialising arm with "no resampling", then the two with each other,
# seed by seed; a claim holds only if it holds on both seeds.
#
# **A pointer.** The keys are `rs_results[seed][arm]["fvu"]` and `["dead_fraction"]`; the end of the
# dead-fraction curves shows whether any latent is still silent.
# </details>

# %% nbgrader={"solution": true, "grade_id": "resampling_verdict"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def resampling_verdict() -> str:
    """"A", "B", "C" or "D" (see the exercise). Return a constant: this is your answer."""
    ### BEGIN SOLUTION
    return "C"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "resampling_verdict_test", "points": 2}
def _verdict_from(results: dict, margin: float = 0.005) -> str:
    """The statement the results support (exercise 9c's rule)."""
    fvu = {s: {a: results[s][a]["fvu"] for a in ARMS} for s in results}
    if all(results[s]["resampling"]["dead_fraction"] == 0 for s in results):
        return "D"
    helps = all(min(fvu[s]["resampling"], fvu[s]["random re-init"]) < fvu[s]["no resampling"] - margin for s in fvu)
    paper_better = all(fvu[s]["resampling"] < fvu[s]["random re-init"] - margin for s in fvu)
    return "A" if not helps else ("B" if paper_better else "C")


_answer = checks.call("resampling_verdict", resampling_verdict, case="your answer")
checks.assert_true("resampling_verdict", _answer in ("A", "B", "C", "D"), f'answer "A", "B", "C" or "D", got {_answer!r}')
checks.assert_true("resampling_verdict", rs_results is not None, "run the natural-death experiment first")
_says = _verdict_from(rs_results)
checks.assert_true("resampling_verdict", _answer == _says,
                   f'you answered "{_answer}"; your data support "{_says}": final FVU (no resampling / resampling / random '
                   "re-init) " + "; ".join(f"seed {s}: " + " / ".join(f"{rs_results[s][a]['fvu']:.3f}" for a in ARMS)
                                          for s in rs_results)
                   + "; dead at the end with resampling: "
                   + ", ".join(f"{rs_results[s]['resampling']['dead_fraction']:.0%}" for s in rs_results),
                   hint="a claim holds only if it holds on every seed, by more than 0.005 of FVU")
print(f'resampling_verdict: "{_answer}" is what your data support')
### BEGIN HIDDEN TESTS
_ans = checks.call("resampling_verdict", resampling_verdict, case="your answer")
_fv = {s: [rs_results[s][a]["fvu"] for a in ARMS] for s in rs_results}
_c_holds = all(min(v[1], v[2]) < v[0] - 0.005 and v[1] >= v[2] - 0.005 for v in _fv.values())
_d_holds = all(rs_results[s]["resampling"]["dead_fraction"] == 0 for s in rs_results)
if _c_holds and not _d_holds:
    checks.assert_equal("resampling_verdict", _ans, "C", name="the statement the FVUs support",
                        hint="re-initialising helps on every seed, and the paper's directions are not better than random")
### END HIDDEN TESTS

# %% [markdown]
# **What just happened.** High-learning-rate Adam killed about half of the 40 latents in 150 steps,
# and the survivors left one or two of the 20 features without a latent (MMCS about 0.95). Left
# alone, the dead stay dead. Both ways of re-initialising them gave the SAE its missing features
# back on at least one seed and lowered the reconstruction error. But in this run the control, random
# directions, did **at least as well** as the paper's loss-weighted choice on both seeds (on seed 0 the
# paper's resampling only just beat doing nothing, and did not recover the missing feature). The
# claims, sorted:
#
# - holds (asserted, both seeds): latents die on their own at a too-high learning rate (≥ 30% dead;
#   we saw 47–52%); without resampling they stay dead; random re-initialisation lowers the FVU by more
#   than 0.01 and recovers every feature (MMCS ≥ 0.95); the paper's resampling never does worse than
#   doing nothing (FVU at most 0.002 above) and does not beat the random control (its FVU is not lower
#   by more than 0.005);
# - does not hold here: "resampling towards badly reconstructed inputs beats random re-initialisation".
#   On a toy with 8 dimensions a random direction already lies near some feature, and the inputs the
#   SAE reconstructs worst often hold two features at once, so the paper's choice can point *between*
#   features. Whether the advantage appears in a high-dimensional SAE, where a random direction points
#   at nothing, is Going further, question 7;
# - not measured: any effect of resampling on the language-model SAE, which never had a dead latent.

# %% [markdown]
# ## Part 5: an SAE on a language model
#
# Now the real thing, at the paper's kind of site. Bricken et al. decomposed the 512 MLP neurons of
# a one-layer transformer trained on the Pile. We take the course's own `stdlib-gpt` (2 layers,
# trained in 2.2 on Python's standard library, byte by byte) and its **layer-0 MLP**, which also has
# 512 neurons: the activations after the GELU, one 512-vector per byte position.
#
# To read those activations we use a **hook**: a function PyTorch calls during the forward pass.
# `module.register_forward_pre_hook(fn)` calls `fn(module, args)` just *before* `module` runs,
# with the tuple of its positional inputs; if `fn` returns a tuple, that replaces the inputs. The
# MLP computes `proj(gelu(fc(x)))` (see `course/models/gpt.py`), and there is no module for the
# GELU alone, so the activations we want are exactly the input of `mlp.proj`. `register_...`
# returns a handle; `handle.remove()` takes the hook out again, and it must run even if the forward
# pass fails, or the hook stays for ever: use `try: ... finally: handle.remove()`.
#
# ```
#   bytes ─▶ embed ─▶ [block 0: x + attn(ln_1 x) ─▶ ln_2 ─▶ fc ─▶ GELU ─▶ ✋ proj ─▶ + x] ─▶ block 1 ─▶ logits
#                                                                    (pre-hook on mlp.proj sees these 512 numbers)
# ```

# %%
gpt = registry.load("stdlib-gpt")  # eval mode, float32
corpus = data.stdlib_corpus()
print(corpus.describe())
train_tokens = corpus.tokens("train", torch=True)
N_CTX, LAYER = gpt.cfg.n_ctx, 0
val_windows = eval_windows(corpus.tokens("val", torch=True), N_CTX, 128)  # (128, 129): held-out files
print("validation windows:", tuple(val_windows.shape), "=", val_windows[:, :-1].numel(), "byte positions")

# %% [markdown]
# ## Exercise 10: capturing activations with a hook
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 2 points · about 15 minutes, then look at the hint.
#
# Write `mlp_activations(gpt, tokens, layer)`: run `gpt` on `tokens` (under `torch.no_grad()`) and
# return the input of `gpt.blocks[layer].mlp.proj`, shape `(B, T, d_mlp)`. The model's output must
# not change, and no hook may be left behind, even when the forward pass raises.
#
# <details><summary>Hint</summary>
#
# Make an empty list `store`; register on `gpt.blocks[layer].mlp.proj` a pre-hook
# `lambda module, args: store.append(args[0])` and keep the handle it returns. Run the model inside
# `try:` (and `torch.no_grad()`), remove the handle in the `finally:` block, and return the one
# tensor the hook stored. The lambda returns `None` (what `append` returns), so the input is left as
# it is.
# </details>

# %% nbgrader={"solution": true, "grade_id": "mlp_activations"} exercise={"difficulty": 2, "importance": 5, "minutes": 15}
def mlp_activations(gpt: nn.Module, tokens: torch.Tensor, layer: int) -> torch.Tensor:
    """The MLP hidden activations (after the GELU) of blocks[layer] of a course GPT.

    gpt: a course.models.gpt.GPT; tokens: (B, T) int64, T <= n_ctx. Returns (B, T, d_mlp) float32, no grad.
    Leaves no hook behind, even if the forward pass raises.
    """
    ### BEGIN SOLUTION
    store = []
    handle = gpt.blocks[layer].mlp.proj.register_forward_pre_hook(lambda module, args: store.append(args[0]))
    try:
        with torch.no_grad():
            gpt(tokens)
    finally:
        handle.remove()
    return store[0]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "mlp_activations_test", "points": 2}
def _hooks_left(model: nn.Module) -> int:
    return sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules())


_tok = encode("def f(x):\n    return x + 1\n")[None]
_acts = checks.call("mlp_activations", mlp_activations, gpt, _tok, 0, case="one line of Python, layer 0")
checks.assert_shape("mlp_activations", _acts, (1, _tok.shape[1], 512), name="activations")
checks.assert_true("mlp_activations", _hooks_left(gpt) == 0, "a hook is still registered: call handle.remove()")
_mlp_out = []
_h = gpt.blocks[0].mlp.register_forward_hook(lambda m, a, out: _mlp_out.append(out))
with torch.no_grad():
    gpt(_tok)
_h.remove()
with torch.no_grad():
    checks.assert_close("mlp_activations", gpt.blocks[0].mlp.proj(_acts), _mlp_out[0], rtol=1e-5, atol=1e-5,
                        name="mlp.proj(your activations) vs the MLP's output",
                        hint="capture the INPUT of blocks[layer].mlp.proj (a forward PRE-hook), i.e. after the GELU")
from course.models.gpt import GPT as _GPT, GPTConfig as _GPTConfig

with torch.random.fork_rng():  # a second model, so that a function reading the notebook's `gpt` fails
    torch.manual_seed(43)
    _small = _GPT(_GPTConfig(n_ctx=16, d_model=32, n_heads=2, d_mlp=64)).eval()
_tok_s = torch.randint(0, 256, (2, 9), generator=torch.Generator().manual_seed(43))
_acts_s = checks.call("mlp_activations", mlp_activations, _small, _tok_s, 1, case="a small random GPT (d_mlp 64), layer 1")
checks.assert_shape("mlp_activations", _acts_s, (2, 9, 64), name="activations of the small GPT",
                    hint="use the gpt argument, not the notebook's gpt")
_out_s = []
_h = _small.blocks[1].mlp.register_forward_hook(lambda m, a, out: _out_s.append(out))
with torch.no_grad():
    _small(_tok_s)
_h.remove()
with torch.no_grad():
    checks.assert_close("mlp_activations", _small.blocks[1].mlp.proj(_acts_s), _out_s[0], rtol=1e-5, atol=1e-6,
                        name="small GPT: mlp.proj(your layer-1 activations) vs its MLP's output")
print("mlp_activations: visible tests pass")
### BEGIN HIDDEN TESTS
def _manual_acts(model, tokens, layer):
    with torch.no_grad():
        x = model.embed(tokens)
        for blk in model.blocks[:layer]:
            x = blk(x)
        blk = model.blocks[layer]
        x = x + blk.attn(blk.ln_1(x))
        return F.gelu(blk.mlp.fc(blk.ln_2(x)), approximate="tanh")


_tok3 = val_windows[:3, :50]
for _layer in (0, 1):
    _got = checks.call("mlp_activations", mlp_activations, gpt, _tok3, _layer, case=f"3 windows, layer {_layer}")
    checks.assert_close("mlp_activations", _got, _manual_acts(gpt, _tok3, _layer), rtol=1e-4, atol=1e-5,
                        name=f"layer-{_layer} activations", hint="use blocks[layer], not always block 0")
    checks.assert_true("mlp_activations", not _got.requires_grad, "return activations without grad (torch.no_grad())")
_one = checks.call("mlp_activations", mlp_activations, gpt, _tok3[:1, :1], 1, case="a single byte")
checks.assert_shape("mlp_activations", _one, (1, 1, 512), name="activations of a single byte")
checks.assert_raises("mlp_activations", ValueError, mlp_activations, gpt, torch.zeros(1, N_CTX + 1, dtype=torch.long), 0,
                     hint="a sequence longer than n_ctx makes the GPT raise ValueError; let it propagate")
checks.assert_true("mlp_activations", _hooks_left(gpt) == 0,
                   "a hook is left behind after the forward pass raised: remove it in a `finally:` block")
### END HIDDEN TESTS

# %% [markdown]
# ## The shipped SAE, and the start of its training
#
# `course/models/sae.py` trains the shipped SAE with the same recipe you just built: 768 latents
# (1.5 × 512; the paper went from 1 × to 256 ×, we stop where the checkpoint still fits the
# course's 2 MiB budget), $\lambda = 1$, Adam at $10^{-3}$, 2,000 steps of 1,024 activations (8
# random windows of 128 bytes), $b_\text{dec}$ from the geometric median of 2,048 activations,
# resampling every 400 steps until step 1,600 with a 200-step dead window. That takes a few minutes,
# so here you run **its first 50 steps with your own code**, same seed, same data order: your curve
# should sit on the first points of the shipped one.

# %%
sae_spec = registry.get("stdlib-gpt-sae")
sae_side = sae_spec.sidecar()
print("shipped:", sae_spec.description)
print("recorded metrics:", sae_side["metrics"])


def lm_batches(seed: int, windows: int):
    """Batches of layer-LAYER MLP activations of random training windows, drawn like course/models/sae.py draws them:
    next_batch() gives (windows * 128, 512); next_batch(n) about n activations."""
    gen = torch.Generator().manual_seed(seed)

    def next_batch(n: int | None = None) -> torch.Tensor:
        w = windows if n is None else max(1, n // N_CTX)
        return mlp_activations(gpt, get_batch(train_tokens, w, N_CTX, gen)[:, :-1], LAYER).flatten(0, 1)

    return next_batch


LIVE_STEPS = 50
_tc = sae_spec.train
live_sae = SparseAutoencoder(512, sae_spec.config.d_sae, seed=sae_spec.config.seed)
_batches = lm_batches(seed=_tc.seed + 1, windows=_tc.windows_per_batch)
with torch.no_grad():
    live_sae.b_dec.copy_(geometric_median(_batches(_tc.median_windows * N_CTX)))
live_curve = train_sae(live_sae, _batches, LIVE_STEPS, _tc.l1, _tc.lr, desc="your SAE on stdlib-gpt, first steps")

_c = sae_side["curve"]
_every = _tc.log_every  # the shipped curve is the mean of every 25 steps, plotted at the 25th
fig, axes = plt.subplots(1, 3, figsize=(14, 3.5))
for ax, key, label in [(axes[0], "mse", "reconstruction MSE"), (axes[1], "l0", "L0")]:
    mine = np.array(live_curve["recon" if key == "mse" else "l0"])
    ax.plot(_c["step"], _c[key], label=f"shipped run (mean of {_every} steps)")
    ax.plot(range(1, LIVE_STEPS + 1), mine, label="your first steps", alpha=0.6, lw=0.8)
    ax.plot(range(_every, LIVE_STEPS + 1, _every), mine[: LIVE_STEPS // _every * _every].reshape(-1, _every).mean(1),
            "o", mfc="none", ms=9, label=f"your mean of {_every} steps")
    ax.set_xscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(label)
    ax.legend()
axes[2].plot(_c["step"], _c["dead_fraction"])
for _s, _n in zip(_c["resample_step"], _c["resampled"]):
    axes[2].axvline(_s, color="gray", ls=":", lw=0.8)
    axes[2].annotate(f"{_n} resampled", (_s, 0.05), rotation=90, fontsize=8)
axes[2].set_ylim(-0.005, 0.1)
axes[2].set_xlabel("step (dotted: resampling)")
axes[2].set_ylabel("dead fraction (200-step window)")
plt.tight_layout()
plt.show()
print(f"mean MSE of steps 1-{_every}: yours {np.mean(live_curve['recon'][:_every]):.3f}, shipped {_c['mse'][0]:.3f}")

# %% [markdown]
# Load the shipped weights into **your** `SparseAutoencoder` (same parameter names and shapes) and
# measure it on the 128 held-out validation windows with your `sae_metrics`. The course recorded the
# same numbers when it trained the checkpoint (`course/models/checkpoints/sae_stdlib_gpt_l0.json`);
# the next test compares.

# %%
shipped_sae = SparseAutoencoder(512, sae_spec.config.d_sae)
shipped_sae.load_state_dict(registry.load("stdlib-gpt-sae").state_dict())
shipped_sae.eval()
val_acts = None
val_tokens = val_windows[:, :-1]  # (128, 128): the bytes the activations belong to
val_acts = torch.cat([mlp_activations(gpt, val_tokens[i : i + 32], LAYER) for i in range(0, len(val_tokens), 32)])
val_acts_flat = val_acts.flatten(0, 1)  # (16384, 512)
with torch.no_grad():
    val_xh, val_f = shipped_sae(val_acts_flat)
lm_metrics = sae_metrics(val_acts_flat, val_xh, val_f)
print("your metrics:    ", {k: round(v, 4) for k, v in lm_metrics.items()})
print("recorded metrics:", {k: sae_side["metrics"][k] for k in lm_metrics})

# %% [markdown]
# Two things to notice. The FVU, 0.136, is more than twice the toy's (0.061): real activations are
# not exactly sparse sums of a few hundred directions, and 768 latents trained on 2 million
# activations is a small dictionary (the paper's A/1 saw 8 billion). And no latent is dead, at any
# point of the shipped run (the right-hand plot above): at this size and sparsity, resampling never
# had anything to do. So resampling is shown in this lesson only on the toy (Part 4, latents that
# died at a too-high learning rate), not on this SAE; whether the paper's choice of directions beats
# random ones on activations like these is Going further, question 7.

# %% nbgrader={"grade": true, "grade_id": "sae_metrics_test_2", "points": 2}
checks.assert_true("sae_metrics", val_acts is not None, "the validation activations were not computed: run the cells "
                   "above (they need mlp_activations)")
_m = sae_metrics(val_acts_flat, *shipped_sae(val_acts_flat))
if corpus.matches_reference:
    for _k, _tol in [("mse", 2e-3), ("fvu", 2e-4), ("l0", 2e-3), ("dead_fraction", 1e-4)]:
        checks.assert_close("sae_metrics", _m[_k], sae_side["metrics"][_k], rtol=0, atol=_tol,
                            name=f"{_k} of the shipped SAE on the validation windows (vs the recorded value)")
else:
    print(f"({corpus.describe()}: the recorded metrics are for another corpus; the hidden tests check yours)")
print("sae_metrics: the shipped SAE's metrics agree with the recorded ones")
### BEGIN HIDDEN TESTS
_acts8 = mlp_activations(gpt, val_tokens[::16], LAYER).flatten(0, 1)  # 8 windows spread over the validation text
_got = sae_metrics(_acts8, *shipped_sae(_acts8))
_a = _acts8.double().numpy()
with torch.no_grad():
    _fh = torch.relu((_acts8 - shipped_sae.b_dec) @ shipped_sae.W_enc + shipped_sae.b_enc)
    _xhh = (_fh @ shipped_sae.W_dec + shipped_sae.b_dec).double().numpy()
_fh = _fh.double().numpy()
_err = ((_xhh - _a) ** 2).sum(-1)
checks.assert_close("sae_metrics", _got["fvu"], _err.sum() / ((_a - _a.mean(0)) ** 2).sum(), rtol=1e-3, name="fvu (LM)")
checks.assert_close("sae_metrics", _got["l0"], (_fh > 0).sum(-1).mean(), rtol=1e-5, name="l0 (LM)")
checks.assert_close("sae_metrics", _got["dead_fraction"], ((_fh > 0).sum(0) == 0).mean(), atol=1e-9, name="dead (LM)")
### END HIDDEN TESTS

# %% [markdown]
# An FVU of 0.136 (the shipped SAE misses about 14% of the activations' variance; the test above
# checks your number against the recorded one) does not say, on its own, whether that is good
# enough: the question that matters is whether the model still
# works when it reads the SAE's reconstruction instead of its own activations. **Splice** the SAE
# into the forward pass (a pre-hook on `mlp.proj` that returns `(sae(acts)[0],)`) and measure the
# language-model loss. Two reference points bracket it: the clean loss, and the loss when the MLP's
# activations are replaced by zeros (**zero ablation**: the MLP then adds only its output bias).
# The fraction of the MLP's contribution the SAE keeps is
#
# $$ \text{loss recovered} = \frac{L_\text{zero} - L_\text{SAE}}{L_\text{zero} - L_\text{clean}} $$
#
# 1 means the spliced model is as good as the original, 0 as bad as having no MLP activations.
#
# ## Exercise 11: the spliced loss
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 20 minutes, then look at the hint.
#
# Write `spliced_loss(gpt, windows, layer, replace_fn)`: the mean next-byte cross-entropy (nats per
# byte) of `windows` (each row `T + 1` bytes: predict `[:, 1:]` from `[:, :-1]`, as `gpt.loss`
# does), with the MLP activations of `blocks[layer]` replaced by `replace_fn(acts)` (`acts` of shape
# `(b, T, d_mlp)`), or left alone when `replace_fn` is None. Process the windows `batch_size` rows
# at a time and average over every predicted byte. No hook may be left behind.
#
# <details><summary>Hint</summary>
#
# The pre-hook: `def hook(module, args): return None if replace_fn is None else (replace_fn(args[0]),)`.
# Register it once, then for each chunk `logits = gpt(chunk[:, :-1])` and accumulate
# `F.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten(), reduction="sum")` and the number
# of targets; divide at the end. `torch.no_grad()` around it all, `handle.remove()` in `finally`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "spliced_loss"} exercise={"difficulty": 3, "importance": 4, "minutes": 20}
def spliced_loss(gpt: nn.Module, windows: torch.Tensor, layer: int, replace_fn=None, batch_size: int = 32) -> float:
    """Mean next-byte cross-entropy of windows (N, T+1) int64 with blocks[layer]'s MLP activations (after the
    GELU) replaced by replace_fn(acts) (a function (b, T, d_mlp) -> (b, T, d_mlp)); None = unchanged.
    Returns a Python float (nats per byte). Leaves no hook behind.
    """
    ### BEGIN SOLUTION
    def hook(module, args):
        return None if replace_fn is None else (replace_fn(args[0]),)

    handle = gpt.blocks[layer].mlp.proj.register_forward_pre_hook(hook)
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for i in range(0, len(windows), batch_size):
                chunk = windows[i : i + batch_size]
                logits = gpt(chunk[:, :-1])
                total += F.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten(), reduction="sum").item()
                count += chunk[:, 1:].numel()
    finally:
        handle.remove()
    return total / count
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "spliced_loss_test", "points": 2}
from course.models.train import evaluate as _evaluate

_w = val_windows[:24]
_clean = checks.call("spliced_loss", spliced_loss, gpt, _w, 0, None, case="24 windows, nothing replaced")
checks.assert_true("spliced_loss", isinstance(_clean, float), f"return a Python float, got {type(_clean).__name__}")
checks.assert_close("spliced_loss", _clean, _evaluate(gpt, _w)["loss"], rtol=1e-5, name="the loss with nothing replaced",
                    hint="predict windows[:, 1:] from windows[:, :-1]; average over every predicted byte")
checks.assert_close("spliced_loss", spliced_loss(gpt, _w, 0, lambda a: a, batch_size=5), _clean, rtol=1e-5,
                    name="the loss with the identity replacement, in chunks of 5",
                    hint="weight each chunk by its number of targets (sum the losses, then divide once)")
_zero = spliced_loss(gpt, _w, 0, torch.zeros_like)
checks.assert_true("spliced_loss", _zero > _clean + 0.5,
                   f"zero-ablating the layer-0 MLP should hurt a lot, but the loss went {_clean:.3f} -> {_zero:.3f}",
                   hint="the hook must RETURN a tuple (replace_fn(args[0]),) for the replacement to take effect")
checks.assert_true("spliced_loss", _hooks_left(gpt) == 0, "a hook is still registered: call handle.remove()")
_w_s = torch.randint(0, 256, (3, 10), generator=torch.Generator().manual_seed(44))
with torch.no_grad():
    _want_s = F.cross_entropy(_small(_w_s[:, :-1]).flatten(0, 1), _w_s[:, 1:].flatten()).item()
checks.assert_close("spliced_loss", checks.call("spliced_loss", spliced_loss, _small, _w_s, 0, None,
                                                case="the small random GPT of exercise 10's test"),
                    _want_s, rtol=1e-5, name="the loss of a second model", hint="use the gpt argument, not the notebook's gpt")
print("spliced_loss: visible tests pass")
### BEGIN HIDDEN TESTS
def _manual_loss(model, wins, layer, fn):
    with torch.no_grad():
        x = model.embed(wins[:, :-1])
        for i, blk in enumerate(model.blocks):
            if i == layer:
                x = x + blk.attn(blk.ln_1(x))
                a = F.gelu(blk.mlp.fc(blk.ln_2(x)), approximate="tanh")
                x = x + blk.mlp.proj(fn(a))
            else:
                x = blk(x)
        logits = model.unembed(model.ln_f(x))
        return F.cross_entropy(logits.flatten(0, 1), wins[:, 1:].flatten()).item()


_w = val_windows[30:37, :65]
for _layer, _fn, _name in [(1, torch.zeros_like, "zero-ablated layer 1"), (0, lambda a: 2 * a, "doubled layer-0 activations")]:
    _got = checks.call("spliced_loss", spliced_loss, gpt, _w, _layer, _fn, case=_name)
    checks.assert_close("spliced_loss", _got, _manual_loss(gpt, _w, _layer, _fn), rtol=1e-5, name=f"loss with {_name}",
                        hint="replace blocks[layer]'s activations, in every chunk")
_got = checks.call("spliced_loss", spliced_loss, gpt, _w[:1], 0, torch.zeros_like, batch_size=64, case="a single window")
checks.assert_close("spliced_loss", _got, _manual_loss(gpt, _w[:1], 0, torch.zeros_like), rtol=1e-5, name="one window")


def _boom(a):
    raise RuntimeError("replace_fn failed")


checks.assert_raises("spliced_loss", RuntimeError, spliced_loss, gpt, _w, 0, _boom)
checks.assert_true("spliced_loss", _hooks_left(gpt) == 0,
                   "a hook is left behind after replace_fn raised: remove it in a `finally:` block")
### END HIDDEN TESTS

# %%
loss_clean = spliced_loss(gpt, val_windows, LAYER)
loss_zero = spliced_loss(gpt, val_windows, LAYER, torch.zeros_like)
loss_sae = spliced_loss(gpt, val_windows, LAYER, lambda a: shipped_sae(a)[0])
loss_recovered = (loss_zero - loss_sae) / (loss_zero - loss_clean)
print(f"clean {loss_clean:.4f}  zero-ablated {loss_zero:.4f}  SAE spliced in {loss_sae:.4f} nats/byte")
print(f"loss recovered {loss_recovered:.1%} (recorded when the checkpoint was trained: "
      f"{sae_side['metrics']['loss_recovered']:.1%})")

# %% [markdown]
# ## Part 6: what do the latents mean?
#
# The paper's main evidence is qualitative: for each latent, look at the inputs where it fires
# hardest, and see whether they have something in common. Here an input is a byte in its context,
# so we print the text before and after it, with the byte itself in ⟦ ⟧ (newlines show as ⏎).
#
# ## Exercise 12: top-activating contexts
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 1 point · about 8 minutes, then look at the hint.
#
# Given one latent's activations over a set of windows, `acts` of shape `(N, T)`, return the `k`
# largest values and where they are: the window (row) and position (column) of each, largest
# first.
#
# <details><summary>Hint</summary>
#
# **The idea.** The `k` largest entries of the whole `(examples, latents)` matrix, with the row and
# column of each.
#
# **A pointer.** Flatten, take `topk`, then turn each flat index back into a row and a column: a
# flat index counts `n_latents` entries per row (integer division and remainder).
# </details>

# %% nbgrader={"solution": true, "grade_id": "top_activations"} exercise={"difficulty": 1, "importance": 4, "minutes": 8}
def top_activations(acts: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k largest entries of acts (N, T), 0 <= k <= N * T.

    Returns (values (k,) of acts' dtype, sorted descending; rows (k,) int64; cols (k,) int64), with
    acts[rows[i], cols[i]] == values[i].
    """
    ### BEGIN SOLUTION
    values, flat = acts.flatten().topk(k)
    return values, flat // acts.shape[1], flat % acts.shape[1]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "top_activations_test", "points": 1}
_a = torch.tensor([[0.0, 5.0, 1.0], [7.0, 0.0, 2.0]])
_out = checks.call("top_activations", top_activations, _a, 3, case="a (2, 3) example, k = 3")
checks.assert_true("top_activations", isinstance(_out, tuple) and len(_out) == 3, "return a triple (values, rows, cols)")
checks.assert_close("top_activations", _out[0], torch.tensor([7.0, 5.0, 2.0]), name="values", hint="largest first")
checks.assert_equal("top_activations", _out[1], torch.tensor([1, 0, 1]), name="rows")
checks.assert_equal("top_activations", _out[2], torch.tensor([0, 1, 2]), name="cols",
                    hint="for a flat index i into an (N, T) tensor, the row is i // T and the column i % T")
print("top_activations: visible tests pass")
### BEGIN HIDDEN TESTS
torch.manual_seed(8)
_a = torch.randn(9, 13, dtype=torch.float64)
for _x, _k, _case in [(_a, 5, "float64 (9, 13)"), (_a.T, 7, "a transposed (13, 9) view"), (_a, 0, "k = 0"),
                      (_a[:1], 13, "one row, k = all")]:
    _v, _r, _c = checks.call("top_activations", top_activations, _x, _k, case=_case)
    _want = np.sort(_x.numpy().ravel())[::-1][:_k].copy()
    checks.assert_close("top_activations", _v, torch.from_numpy(_want), name=f"values ({_case})")
    checks.assert_close("top_activations", _x[_r, _c], _v, name=f"acts[rows, cols] ({_case})",
                        hint="rows = flat // T and cols = flat % T, with T the number of COLUMNS of this tensor")
    checks.assert_dtype("top_activations", _r, torch.int64, name="rows")
### END HIDDEN TESTS

# %% [markdown]
# The cell below prints the top contexts of a few latents. Pick others (any index below 768) and
# look: many latents of a byte-level model at layer 0 respond to "this byte, in this kind of
# context" (a digit inside a number, a space that is indentation, a letter after `self.`), which is
# also what the paper found for the single-layer model ("token-in-context" features).

# %%
def highlight(tokens: torch.Tensor, pos: int, before: int = 40, after: int = 12) -> str:
    """The text around byte `pos` of the 1-D byte tensor `tokens`, on one line, with that byte in ⟦ ⟧."""
    def show(seq) -> str:
        return decode(seq.tolist()).replace("\n", "⏎").replace("\t", "⇥")

    return show(tokens[max(0, pos - before) : pos]) + "⟦" + show(tokens[pos : pos + 1]) + "⟧" + show(
        tokens[pos + 1 : pos + 1 + after])


val_f_windows = val_f.reshape(len(val_tokens), N_CTX, -1)  # (128 windows, 128 positions, 768 latents)


def show_latent(j: int, k: int = 8) -> None:
    values, rows, cols = top_activations(val_f_windows[:, :, j], k)
    freq = (val_f_windows[:, :, j] > 0).float().mean().item()
    print(f"latent {j}: fires on {freq:.2%} of bytes; top {k}:")
    for v, r, c in zip(values.tolist(), rows.tolist(), cols.tolist()):
        print(f"   {v:6.2f}  {highlight(val_tokens[r], c)}")


for _j in (0, 1, 2, 3):
    show_latent(_j)

# %% [markdown]
# Eyeballing is the start, not the end: a latent's top examples can all look alike while it also
# fires, more weakly, on a thousand other things. The paper therefore checks an interpretation
# against its *whole* activation distribution. A simple version: if latent $j$ "means digit",
# most of its activation should fall on digits. Its **selectivity** for a class of bytes is
#
# $$ \text{sel}_j = \frac{\sum_{n \in \text{class}} f_{n,j}}{\sum_{n} f_{n,j}} $$
#
# the fraction of its total activation that lands on bytes of the class (0 for a latent that never
# fires). Applied to neurons (their positive part, since GELU outputs can be slightly negative) it
# tests the paper's central claim: latents are more *monosemantic* than neurons.
#
# ## Exercise 13: selectivity for a class of inputs
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Worked example: activations $\begin{pmatrix}1 & 0\\3 & 0\end{pmatrix}$ (2 inputs, 2 latents) with
# only input 1 in the class: latent 0 has $3 / (1 + 3) = 0.75$; latent 1 never fires, so 0.
#
# <details><summary>Hint</summary>
#
# **The idea.** Of a latent's total activation, the share that falls on examples of the class; a
# latent that never fires has selectivity 0, not NaN.
#
# **A pointer.** Sum activations over examples, once for all examples and once with the class mask
# applied (a boolean mask can select rows, or multiply as a column). Divide only where the total is
# positive: `torch.where` with a safe denominator avoids 0/0.
# </details>

# %% nbgrader={"solution": true, "grade_id": "selectivity"} exercise={"difficulty": 2, "importance": 3, "minutes": 10}
def class_selectivity(acts: torch.Tensor, in_class: torch.Tensor) -> torch.Tensor:
    """acts: (N, S) non-negative float activations of S units on N inputs; in_class: (N,) bool.

    Returns (S,) of acts' dtype: for each unit, the fraction of its total activation that falls on inputs
    in the class; 0 for a unit whose total activation is 0.
    """
    ### BEGIN SOLUTION
    total = acts.sum(0)
    inside = (acts * in_class[:, None]).sum(0)
    safe = torch.where(total > 0, total, torch.ones_like(total))
    return torch.where(total > 0, inside / safe, torch.zeros_like(total))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "selectivity_test", "points": 2}
_s = checks.call("selectivity", class_selectivity, torch.tensor([[1.0, 0.0], [3.0, 0.0]]), torch.tensor([False, True]),
                 case="the worked example")
checks.assert_close("selectivity", _s, torch.tensor([0.75, 0.0]), name="selectivity",
                    hint="a unit that never fires has selectivity 0, not NaN: guard the division by 0")
_s = checks.call("selectivity", class_selectivity, torch.tensor([[2.0, 1.0, 0.0], [2.0, 0.0, 5.0], [0.0, 3.0, 5.0]]),
                 torch.tensor([True, True, False]), case="3 inputs, 3 units")
checks.assert_close("selectivity", _s, torch.tensor([1.0, 0.25, 0.5]), name="selectivity",
                    hint="divide the activation on class inputs by the unit's TOTAL activation (sum over inputs)")
_s = checks.call("selectivity", class_selectivity, torch.tensor([[0.1, 0.02], [0.3, 0.0]]), torch.tensor([False, True]),
                 case="weak units (total activation 0.4 and 0.02)")
checks.assert_close("selectivity", _s, torch.tensor([0.75, 0.0]), name="selectivity of weak units",
                    hint="only a total of exactly 0 needs the guard: a unit with a small total is still divided by it")
print("selectivity: visible tests pass")
### BEGIN HIDDEN TESTS
torch.manual_seed(9)
_a = torch.relu(torch.randn(40, 7, dtype=torch.float64))
_a[:, 3] = 0
_m = torch.rand(40) < 0.3
_want = torch.tensor([(_a[_m, j].sum() / _a[:, j].sum()).item() if _a[:, j].sum() > 0 else 0.0 for j in range(7)],
                     dtype=torch.float64)
for _x, _cls, _case in [(_a, _m, "float64, one silent unit"), (_a.T.contiguous().T, _m, "a non-contiguous view")]:
    _got = checks.call("selectivity", class_selectivity, _x, _cls, case=_case)
    checks.assert_dtype("selectivity", _got, torch.float64, name=f"selectivity ({_case})")
    checks.assert_close("selectivity", _got, _want, name=f"selectivity ({_case})")
_got = checks.call("selectivity", class_selectivity, _a.float(), torch.zeros(40, dtype=torch.bool), case="an empty class")
checks.assert_close("selectivity", _got, torch.zeros(7), name="selectivity for an empty class")
_got = checks.call("selectivity", class_selectivity, torch.zeros(0, 4), torch.zeros(0, dtype=torch.bool), case="no inputs")
checks.assert_close("selectivity", _got, torch.zeros(4), name="selectivity with no inputs")
### END HIDDEN TESTS

# %% [markdown]
# ## Why this matters for safety
#
# Sparse autoencoders are being tried as monitors and audit tools. Templeton et al. (2024),
# "Scaling Monosemanticity", trained SAEs on a production model (Claude 3 Sonnet) and found latents
# related to deception, sycophancy and dangerous content, some of which changed the model's
# behaviour when clamped. Marks et al. (2025), "Auditing Language Models for Hidden Objectives",
# trained a model with a hidden objective and found that auditing teams using SAEs, among other
# tools, could uncover it. What has not been shown is that a latent fires on *all and only* the cases
# a monitor must catch. A top-activating list like exercise 12's shows where a latent fires, not
# where it stays silent, which is why exercise 13 measures selectivity on a class of inputs. Treat a
# latent's label as a hypothesis with a falsifier, as exercise 2 of lesson 5.0 asks.

# %% [markdown]
# ## Latents against neurons
#
# Below, a few classes of bytes: some defined by the byte alone (digits, capitals, brackets), some by
# context (a space that is indentation, a byte inside a comment). For each class, find the latent
# and the neuron most selective for it. Rare units are easily "selective" by luck (a latent that
# fired once, on a digit, scores 1.0), so only units that fire on at least a fifth of the class's
# bytes compete. The same rule applies to both.

# %%
def byte_class(tokens: torch.Tensor, chars: str) -> torch.Tensor:
    """Bool mask of the bytes of `tokens` that are one of `chars`."""
    return torch.isin(tokens, torch.tensor(list(chars.encode())))


def line_context_masks(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(indentation, in_comment) bool masks of a (N, T) byte tensor: a space with only spaces before it on
    its line (and a newline seen in the window), and any byte after a '#' on its line."""
    indent, comment = torch.zeros_like(tokens, dtype=torch.bool), torch.zeros_like(tokens, dtype=torch.bool)
    for r, row in enumerate(tokens.tolist()):
        at_line_start, in_comment = False, False
        for c, b in enumerate(row):
            if b == 10:  # newline
                at_line_start, in_comment = True, False
                continue
            indent[r, c] = at_line_start and b == 32
            at_line_start = at_line_start and b == 32
            comment[r, c] = in_comment
            in_comment = in_comment or b == 35  # '#'
    return indent, comment


_indent, _comment = line_context_masks(val_tokens)
CLASSES = {
    "digit": byte_class(val_tokens, "0123456789"),
    "capital letter": byte_class(val_tokens, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    "( or [": byte_class(val_tokens, "(["),
    ") or ]": byte_class(val_tokens, ")]"),
    "quote": byte_class(val_tokens, "'\""),
    "underscore": byte_class(val_tokens, "_"),
    "dot": byte_class(val_tokens, "."),
    "indentation": _indent,
    "inside a comment": _comment & ~byte_class(val_tokens, "\n"),
}
for _name, _mask in CLASSES.items():
    print(f"{_name:<18} {_mask.float().mean():6.2%} of the validation bytes")

# %%
def most_selective(acts: torch.Tensor, mask: torch.Tensor, min_recall: float = 0.2) -> tuple[int, float, float]:
    """(unit, selectivity, recall) of the unit most selective for `mask` among those firing on >= min_recall of it
    ((-1, 0.0, 0.0) if no unit fires that often on the class)."""
    sel = class_selectivity(acts, mask)
    recall = (acts[mask] > 0).float().mean(0)
    eligible = recall >= min_recall
    if not eligible.any():
        return -1, 0.0, 0.0
    j = int(torch.where(eligible, sel, torch.full_like(sel, -1.0)).argmax())
    return j, float(sel[j]), float(recall[j])


selectivity_table = None
neurons_pos = val_acts_flat.clamp_min(0)  # the neurons' positive part: GELU outputs can be slightly negative
selectivity_table = {}
for _name, _mask in CLASSES.items():
    _m = _mask.flatten()
    selectivity_table[_name] = {"latent": most_selective(val_f, _m), "neuron": most_selective(neurons_pos, _m)}
    (_lj, _ls, _lr), (_nj, _ns, _nr) = selectivity_table[_name]["latent"], selectivity_table[_name]["neuron"]
    print(f"{_name:<18} best latent {_lj:>4}: selectivity {_ls:.2f} (fires on {_lr:.0%} of the class)   "
          f"best neuron {_nj:>4}: {_ns:.2f} ({_nr:.0%})")

_names = list(selectivity_table)
fig, ax = plt.subplots(figsize=(11, 3.8))
_xpos = np.arange(len(_names))
ax.bar(_xpos - 0.2, [selectivity_table[n]["neuron"][1] for n in _names], 0.4, label="best neuron")
ax.bar(_xpos + 0.2, [selectivity_table[n]["latent"][1] for n in _names], 0.4, label="best SAE latent")
ax.set_xticks(_xpos, _names, rotation=20)
ax.set_ylabel("selectivity (share of activation on the class)")
ax.set_title("how much of the best unit's activation falls on each class (units firing on ≥ 20% of it)")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# The paper shows each feature's activations as a histogram split by whether a proxy for the
# interpretation holds (for example, whether the text is Arabic script). Here is that picture for the
# most digit-selective latent and the most digit-selective neuron: each activation that is not zero,
# coloured by whether the byte is a digit.

# %%
digit_mask = CLASSES["digit"].flatten()
digit_latent = selectivity_table["digit"]["latent"][0]
digit_neuron = selectivity_table["digit"]["neuron"][0]
fig, axes = plt.subplots(1, 2, figsize=(12, 3.5))
for ax, acts, j, kind in [(axes[0], val_f, digit_latent, "latent"), (axes[1], val_acts_flat, digit_neuron, "neuron")]:
    a = acts[:, j]
    on = a > 0 if kind == "latent" else a > 0.05
    bins = np.linspace(0, float(a.max()), 40)
    ax.hist([a[on & digit_mask].numpy(), a[on & ~digit_mask].numpy()], bins=bins, stacked=True,
            label=["byte is a digit", "any other byte"], color=["tab:green", "tab:gray"])
    ax.set_yscale("log")
    ax.set_xlabel(f"activation of {kind} {j}")
    ax.set_ylabel("bytes")
    ax.legend()
axes[0].set_title("the most digit-selective SAE latent")
axes[1].set_title("the most digit-selective neuron (activations > 0.05)")
plt.tight_layout()
plt.show()
show_latent(digit_latent, k=10)

# %% [markdown]
# The latent puts over 90% of its activation on digits, the best neuron about a third: the neuron is
# polysemantic (it also fires on many other bytes, the grey mass on the right), the latent is not.
# Now read the latent's top contexts. Is it a "digit" latent, or something narrower that also fires
# weakly on other digits? That is the kind of question the selectivity of a finer class (one digit,
# digits inside numbers) answers; try it in the open part below. Note also the classes where
# neither unit does well ("inside a comment"): a class is only as good as the model's reasons to
# represent it at layer 0.

# %% nbgrader={"grade": true, "grade_id": "selectivity_test_2", "points": 2}
checks.assert_true("selectivity", selectivity_table is not None and "digit" in selectivity_table,
                   "the selectivity table was not computed: run the cells above (they need exercises 10-13)")
_j = most_selective(val_f, digit_mask)[0]
_sel = class_selectivity(val_f, digit_mask)
_nsel = class_selectivity(neurons_pos, digit_mask)
_recall = (val_f[digit_mask] > 0).float().mean(0)
_v, _r, _c = top_activations(val_f_windows[:, :, _j], 20)
_on_digits = CLASSES["digit"][_r, _c]
checks.assert_true("selectivity", float(_sel[_j]) >= 0.85 and float(_recall[_j]) >= 0.2,
                   f"the shipped SAE should have a digit latent (selectivity >= 0.85, firing on >= 20% of digits); "
                   f"the best has selectivity {float(_sel[_j]):.2f}, recall {float(_recall[_j]):.2f}")
checks.assert_true("selectivity", bool(_on_digits.all()),
                   f"all 20 top contexts of latent {_j} should be digits; {int((~_on_digits).sum())} are not",
                   hint="check top_activations: rows index windows, cols positions")
_nrecall = (neurons_pos[digit_mask] > 0).float().mean(0)
_best_neuron = float(torch.where(_nrecall >= 0.2, _nsel, torch.zeros_like(_nsel)).max())
checks.assert_true("selectivity", float(_sel[_j]) > _best_neuron,
                   f"the digit latent ({float(_sel[_j]):.2f}) should be more selective than every neuron that fires on "
                   f">= 20% of digits (best {_best_neuron:.2f})")
print(f"selectivity: latent {_j} is a digit latent (selectivity {float(_sel[_j]):.2f} vs {_best_neuron:.2f} for the best "
      f"neuron), and its 20 top contexts are all digits")

# %% [markdown]
# ## Many units, scored automatically
#
# One digit latent is an anecdote: the paper's claim is about most latents. Its evidence at scale
# is automatic: propose an explanation for each unit, then score how well the explanation
# predicts where the unit fires on text the explanation was not chosen on. Here is a small,
# checkable version of that. The explanations are a fixed library of byte classes: character
# kinds, the frequent bytes one by one, a few contexts (indentation, inside a comment, after a
# dot) and the 80 most frequent byte pairs ("`s` after `e`"). For each unit, on the **first half**
# of the validation windows, pick the class and a firing threshold (activation above 0, or above
# the unit's 50th, 90th or 99th percentile) that best predict "the unit fires"; then score that
# same choice on the **second half**. Every latent and every neuron gets the same library and
# the same freedom.
#
# The score is F1: with $n_\text{both}$ the bytes where the unit fires *and* the byte is in the
# class, precision $= n_\text{both} / n_\text{fires}$ (when it fires, is it the class?) and
# recall $= n_\text{both} / n_\text{class}$ (does it fire on the whole class?), and
#
# $$ F_1 = \frac{2\,\text{precision}\cdot\text{recall}}{\text{precision} + \text{recall}}
#        = \frac{2\, n_\text{both}}{n_\text{fires} + n_\text{class}} .$$
#
# ## Exercise 14: F1 of every unit against every class
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Write `explanation_f1(fires, in_class)`: `fires` (N, U) bool says whether each of U units fires
# on each of N bytes, `in_class` (N, C) bool whether each byte is in each of C classes; return the
# (U, C) float32 matrix of F1 scores, 0 where a unit never fires and the class is empty. Worked
# example: 4 bytes, one unit firing on bytes 0 and 1, one class holding bytes 1, 2 and 3:
# $n_\text{both} = 1$, so $F_1 = 2 / (2 + 3) = 0.4$. No loop over units or classes: the number of
# bytes in both, for every pair at once, is one matrix product.
#
# <details><summary>Hint</summary>
#
# **The idea.** Three counts per (unit, class) pair: the bytes where the unit fires, the bytes
# in the class, and the bytes in both. The first two are column sums; the third pairs every
# column of one matrix with every column of the other.
#
# **A pointer.** Convert both masks to float first. Counting the bytes in both for all pairs is
# `fires.T @ in_class`; broadcast the two column sums to (U, C) with `[:, None]` and `[None, :]`,
# and divide only where the denominator is positive (`torch.where`, as in exercise 13).
# </details>

# %% nbgrader={"solution": true, "grade_id": "explanation_f1"} exercise={"difficulty": 2, "importance": 3, "minutes": 10}
def explanation_f1(fires: torch.Tensor, in_class: torch.Tensor) -> torch.Tensor:
    """fires: (N, U) bool, whether each unit fires on each byte; in_class: (N, C) bool, whether each byte is in
    each class. Returns (U, C) float32: the F1 score of "unit u fires" as a prediction of "the byte is in class c",
    2 * n_both / (n_fires + n_class); 0 where n_fires + n_class = 0.
    """
    ### BEGIN SOLUTION
    f, c = fires.float(), in_class.float()
    both = f.T @ c
    denom = f.sum(0)[:, None] + c.sum(0)[None, :]
    return torch.where(denom > 0, 2 * both / denom.clamp_min(1), torch.zeros_like(both))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "explanation_f1_test", "points": 2}
_fires = torch.tensor([[True], [True], [False], [False]])
_cls = torch.tensor([[False], [True], [True], [True]])
_got = checks.call("explanation_f1", explanation_f1, _fires, _cls, case="the worked example")
checks.assert_shape("explanation_f1", _got, (1, 1), name="F1 of 1 unit against 1 class")
checks.assert_close("explanation_f1", _got, torch.tensor([[0.4]]), atol=1e-6, name="F1 of the worked example",
                    hint="F1 = 2 * n_both / (n_fires + n_class): here 2 * 1 / (2 + 3)")
_fires = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.bool)  # 3 units
_cls = torch.tensor([[1, 0], [1, 0], [0, 0], [0, 0], [0, 0]], dtype=torch.bool)  # 2 classes, the second empty
_got = checks.call("explanation_f1", explanation_f1, _fires, _cls, case="3 units, 2 classes")
checks.assert_shape("explanation_f1", _got, (3, 2), name="F1 of 3 units against 2 classes",
                    hint="one row per unit (the columns of fires), one column per class (the columns of in_class)")
checks.assert_dtype("explanation_f1", _got, torch.float32, name="F1")
checks.assert_true("explanation_f1", not bool(torch.isnan(_got).any()),
                   "unit 2 never fires and class 1 is empty: their F1 is 0, not NaN", hint="guard the division by 0")
checks.assert_close("explanation_f1", _got, torch.tensor([[0.8, 0.0], [0.5, 0.0], [0.0, 0.0]]), atol=1e-6,
                    name="F1 of 3 units against 2 classes",
                    hint="n_fires is each unit's column sum of fires, n_class each class's column sum of in_class")
print("explanation_f1: visible tests pass")
### BEGIN HIDDEN TESTS
torch.manual_seed(14)
_fr, _cl = torch.rand(300, 9) < 0.2, torch.rand(300, 5) < 0.3
_want = torch.zeros(9, 5)
for _u in range(9):
    for _c in range(5):
        _both = float((_fr[:, _u] & _cl[:, _c]).sum())
        _den = float(_fr[:, _u].sum() + _cl[:, _c].sum())
        _want[_u, _c] = 2 * _both / _den if _den > 0 else 0.0
_got = checks.call("explanation_f1", explanation_f1, _fr, _cl, case="300 random bytes, 9 units, 5 classes")
checks.assert_close("explanation_f1", _got, _want, atol=1e-5, name="F1 (random)")
_got = checks.call("explanation_f1", explanation_f1, _fr[::2], _cl[::2], case="a strided view")
checks.assert_close("explanation_f1", _got, explanation_f1(_fr[::2].contiguous(), _cl[::2].contiguous()), atol=1e-6,
                    name="F1 of a view")
_got = checks.call("explanation_f1", explanation_f1, torch.zeros(0, 3, dtype=torch.bool), torch.zeros(0, 2, dtype=torch.bool),
                   case="no bytes")
checks.assert_close("explanation_f1", _got, torch.zeros(3, 2), name="F1 with no bytes")
### END HIDDEN TESTS

# %% [markdown]
# The class library and the two halves. Each unit's explanation is chosen on the first 64
# windows and scored on the other 64 (the validation windows come from different files, so the
# halves do not share text).

# %%
def explanation_library(tokens: torch.Tensor, n_pairs: int = 80) -> dict[str, torch.Tensor]:
    """Named bool masks, each shaped like ``tokens`` (N, T): character kinds, contexts, frequent bytes and pairs."""
    prev = torch.cat([torch.zeros_like(tokens[:, :1]), tokens[:, :-1]], 1)  # the byte before (0 at a window's start)
    indent, comment = line_context_masks(tokens)
    letters = "abcdefghijklmnopqrstuvwxyz"
    lib = {
        "digit": byte_class(tokens, "0123456789"), "capital letter": byte_class(tokens, letters.upper()),
        "lower-case letter": byte_class(tokens, letters), "opening bracket": byte_class(tokens, "([{"),
        "closing bracket": byte_class(tokens, ")]}"), "quote": byte_class(tokens, "'\""),
        "operator": byte_class(tokens, "+-*/%=<>!&|^~"), "punctuation": byte_class(tokens, ".,:;"),
        "indentation": indent, "inside a comment": comment & (tokens != 10),
        "after a dot": prev == ord("."), "after an opening bracket": byte_class(prev, "([{"),
        "first byte after a space": (prev == 32) & (tokens != 32),
        "letter after a letter": byte_class(tokens, letters) & byte_class(prev, letters + letters.upper() + "_"),
    }
    counts = torch.bincount(tokens.flatten(), minlength=256)
    for b in counts.argsort(descending=True)[:40].tolist():  # single bytes holding >= 0.2% of the text
        if counts[b] >= 0.002 * tokens.numel():
            lib[f"byte {chr(b)!r}"] = tokens == b
    pairs = prev * 256 + tokens
    for k in torch.bincount(pairs.flatten(), minlength=65536).argsort(descending=True)[:n_pairs].tolist():
        lib[f"pair {chr(k // 256) + chr(k % 256)!r}"] = pairs == k
    return lib


THRESHOLD_QUANTILES = (0.0, 0.5, 0.9, 0.99)  # "fires" = activation above max(0, this quantile of the unit's)


def explain_units(acts: torch.Tensor, classes: torch.Tensor, n_first: int):
    """For each unit (column of acts (N, U)), the class (column of classes (N, C)) and threshold with the best F1
    on rows [:n_first]; returns (class index (U,), F1 there (U,), F1 of the same choice on rows [n_first:] (U,))."""
    a_fit, a_test, c_fit, c_test = acts[:n_first], acts[n_first:], classes[:n_first], classes[n_first:]
    best = torch.full((acts.shape[1],), -1.0)
    best_class = torch.zeros(acts.shape[1], dtype=torch.long)
    best_thr = torch.zeros(acts.shape[1])
    for q in THRESHOLD_QUANTILES:
        thr = torch.quantile(a_fit, q, dim=0).clamp_min(0) if q > 0 else torch.zeros(acts.shape[1])
        f1, cls = explanation_f1(a_fit > thr, c_fit).max(1)
        better = f1 > best
        best, best_class, best_thr = torch.where(better, f1, best), torch.where(better, cls, best_class), \
            torch.where(better, thr, best_thr)
    f1_test = explanation_f1(a_test > best_thr, c_test).gather(1, best_class[:, None]).squeeze(1)
    return best_class, best, f1_test


# %% [markdown]
# **Predict, then look.** The next cell scores all 768 latents and all 512 neurons and draws their
# held-out F1, best first. Before you run it: will the median latent or the median neuron be
# explained better by this library, and by roughly how much? Write it down (recorded, not graded);
# the paper's claim would have the latents ahead.

# %%
MY_F1_PREDICTION = "latents ahead by about 0.2"  # your guess here


# %%
autointerp = None
library = explanation_library(val_tokens)
library_names = list(library)
library_masks = torch.stack([library[n].flatten() for n in library_names], 1)  # (16384, C)
n_first = val_f.shape[0] // 2  # the first 64 windows
autointerp = {}
for _kind, _acts in tqdm([("latents", val_f), ("neurons", neurons_pos)], desc="explaining every unit"):
    autointerp[_kind] = explain_units(_acts, library_masks, n_first)
print(f"{len(library_names)} candidate explanations")
for _kind, (_cls, _fit, _test) in autointerp.items():
    print(f"{_kind:<8} ({len(_test)}): held-out F1 median {_test.median():.3f} (on the half it was chosen on "
          f"{_fit.median():.3f}), quartiles {_test.quantile(0.25):.3f}-{_test.quantile(0.75):.3f}, "
          f"F1 >= 0.5: {(_test >= 0.5).float().mean():.1%}, >= 0.7: {(_test >= 0.7).float().mean():.1%}")
    _common = torch.bincount(_cls, minlength=len(library_names)).argsort(descending=True)[:5].tolist()
    print("          most common explanations:", ", ".join(library_names[i] for i in _common))

fig, ax = plt.subplots(figsize=(10, 3.5))
for _kind, (_cls, _fit, _test) in autointerp.items():
    _sorted = np.sort(_test.numpy())[::-1]
    ax.plot(np.arange(1, len(_sorted) + 1) / len(_sorted), _sorted, label=f"{_kind} ({len(_sorted)})")
ax.set_xlabel("fraction of units (sorted by held-out F1, best first)")
ax.set_ylabel("held-out F1 of the unit's best explanation")
ax.set_title("how well one byte class explains each unit, on text the class was not chosen on")
ax.legend()
plt.tight_layout()
plt.show()
print("your prediction was:", MY_F1_PREDICTION)

# %% [markdown]
# Read the curves before the paper's conclusion. With this library, the typical **neuron** is
# explained *better* than the typical latent (median held-out F1 0.27 for latents, 0.36 for
# neurons; the test below asserts both, ± 0.03), and the two curves cross only near the top fifth:
# among the best-explained units latents pull ahead, and not by much (F1 ≥ 0.5 for 19% of latents
# and 17% of neurons, printed).
# Look at the most common explanations: neurons win with broad classes ("lower-case letter",
# "letter after a letter", "first byte after a space"); at layer 0 of a byte model, much of what a
# dense neuron does is coarse and byte-shaped, and a broad class earns it a decent F1. The median
# latent fires on about 1.3% of the bytes (the density histogram below), less than most classes
# hold, so a broad class gives it low
# recall, and the narrow thing it may track (a byte in one kind of identifier, a digit in a version
# number) is not in the library. So this score does **not** reproduce the paper's comparison: it
# measures how well *this library* explains each unit, and a library of byte classes suits dense
# units. The paper scored with a language model writing free-text explanations and with human
# raters, which can name narrow contexts. A richer library (longer contexts, the position in an
# identifier, inside a string) is Going further, question 5.

# %% nbgrader={"grade": true, "grade_id": "explanation_f1_test_2", "points": 1}
checks.assert_true("explanation_f1", autointerp is not None and set(autointerp) == {"latents", "neurons"},
                   "the comparison was not computed: run the cells above (they need exercises 10-14)")
_lat, _neu = autointerp["latents"][2], autointerp["neurons"][2]
checks.assert_true("explanation_f1", len(_lat) >= 50 and len(_neu) >= 50 and bool(torch.isfinite(_lat).all()),
                   "every latent and every neuron should have a finite held-out F1")
if corpus.matches_reference:
    checks.assert_close("explanation_f1", float(_lat.median()), 0.269, atol=0.03, name="median held-out F1 of the latents")
    checks.assert_close("explanation_f1", float(_neu.median()), 0.358, atol=0.03, name="median held-out F1 of the neurons")
    checks.assert_true("explanation_f1", float(_neu.median()) > float(_lat.median()) + 0.05,
                       f"with this library the median neuron should be explained better than the median latent, "
                       f"got {float(_neu.median()):.3f} vs {float(_lat.median()):.3f}")
else:
    print(f"({corpus.describe()}: the measured medians are for another corpus; only the checks above apply)")
print(f"explanation_f1: median held-out F1 {float(_lat.median()):.3f} (latents) vs {float(_neu.median()):.3f} (neurons)")

# %% [markdown]
# ## Exercise 15 (investigation): pick the latent
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 15 minutes, then look at the hint.
#
# The median says little about any one unit. Find, among the 768 latents, the one that best
# explains each of three byte classes: `"="`, `"digit"` and `"colon"` (the bytes `=`, `0` to `9`,
# and `:`). "Best explains" means here: the highest F1 of "the latent fires" ($f > 0$) as a
# prediction of "the byte is in the class", measured on the **second half** of the validation bytes
# (`val_f[n_first:]`), the half no explanation was chosen on. Return the three latent ids from
# `pick_latents` (constants, or code that computes them). Then read each one's top contexts with
# `show_latent`: is the class the whole story?
#
# The test recomputes the F1 of every latent from your `val_f` and accepts a latent within 0.01 of
# the best.
#
# <details><summary>Hint</summary>
#
# **The idea.** One class is one column of `in_class`; exercise 14 then gives the F1 of every
# latent against it at once, and the best latent is where that column peaks.
#
# **A pointer.** Build each class's mask with `byte_class(val_tokens, ...)`, flatten it, keep the
# rows from `n_first` on (the same rows as `val_f[n_first:]`), and use `(val_f[n_first:] > 0)` as
# `fires`; `argmax` over the (768, 1) result.
# </details>

# %% nbgrader={"solution": true, "grade_id": "pick_latents"} exercise={"difficulty": 2, "importance": 4, "minutes": 15}
PICK_CLASSES = {"=": "=", "digit": "0123456789", "colon": ":"}  # class name -> its bytes


def pick_latents() -> dict[str, int]:
    """{class name: the id of the latent with the highest held-out F1 for it} for the three PICK_CLASSES."""
    ### BEGIN SOLUTION
    fires = val_f[n_first:] > 0
    masks = torch.stack([byte_class(val_tokens, chars).flatten()[n_first:] for chars in PICK_CLASSES.values()], 1)
    return dict(zip(PICK_CLASSES, explanation_f1(fires, masks).argmax(0).tolist()))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "pick_latents_test", "points": 2}
picked = checks.call("pick_latents", pick_latents, case="your picks")
checks.assert_true("pick_latents", isinstance(picked, dict) and set(picked) == set(PICK_CLASSES),
                   f"return a dict with the keys {list(PICK_CLASSES)}, got {picked!r}")
_held = (val_f[n_first:] > 0).float()
for _name, _chars in PICK_CLASSES.items():
    _m = byte_class(val_tokens, _chars).flatten()[n_first:].float()
    _f1 = 2 * (_held * _m[:, None]).sum(0) / (_held.sum(0) + _m.sum()).clamp_min(1)  # every latent's held-out F1
    _j = int(picked[_name])
    checks.assert_true("pick_latents", 0 <= _j < len(_f1) and float(_f1[_j]) >= float(_f1.max()) - 0.01,
                       f'latent {_j} is not the best explanation of "{_name}" on held-out text: its F1 is '
                       f"{float(_f1[_j]) if 0 <= _j < len(_f1) else float('nan'):.3f}, the best latent's {float(_f1.max()):.3f}",
                       hint="F1 of (val_f[n_first:] > 0) against the class's mask on the same rows, for every latent; "
                            "pick the largest, not the one that looked best on the first half")
print("pick_latents:", ", ".join(f'"{k}" -> latent {v}' for k, v in picked.items()))
### BEGIN HIDDEN TESTS
_again = checks.call("pick_latents", pick_latents, case="your picks, asked twice")
checks.assert_equal("pick_latents", dict(_again), dict(picked), name="the picks, asked a second time")
if corpus.matches_reference:
    checks.assert_equal("pick_latents", {k: int(v) for k, v in _again.items()}, {"=": 119, "digit": 277, "colon": 746},
                        name="the best latents of the shipped SAE (held-out F1 0.80, 0.68, 0.69)")
### END HIDDEN TESTS

# %%
_held_n = (neurons_pos[n_first:] > 0)
for _name, _chars in {**PICK_CLASSES, "space": " "}.items():
    _m = byte_class(val_tokens, _chars).flatten()[n_first:, None]
    _lat, _neu = explanation_f1(val_f[n_first:] > 0, _m)[:, 0], explanation_f1(_held_n, _m)[:, 0]
    _on_first = int(explanation_f1(val_f[:n_first] > 0, byte_class(val_tokens, _chars).flatten()[:n_first, None]).argmax())
    print(f'"{_name}": best latent {int(_lat.argmax())} held-out F1 {float(_lat.max()):.2f}, '
          f"best neuron {int(_neu.argmax())} {float(_neu.max()):.2f}; chosen on the first half: latent {_on_first}, "
          f"held-out F1 {float(_lat[_on_first]):.2f}")
for _name, _j in picked.items():
    print(f'--- "{_name}": latent {_j}')
    show_latent(_j, k=4)

# %% [markdown]
# Read the printout. On the reference corpus the three picks have held-out F1 of about 0.8, 0.68
# and 0.69, against about 0.2 for the best neuron under the same rule (fires when its output is
# above 0; all printed): for these rare classes a latent is a far better one-class explanation than
# any neuron. For a broad class, the space, it is the other way round (about 0.35 against 0.85,
# printed), which is what pulled the median of the comparison above towards the neurons. The last
# column is the latent you would have picked on the **first** half: for the digits and the colon it
# is another latent, which scores lower on the second half (printed). A choice scored on the text it
# was made on flatters itself. Now the top contexts: does the `=` latent fire on `==` as well as on
# assignments? Does the digit latent fire on every digit, or on digits in one kind of number? A
# class that explains a latent well is still a hypothesis; the contexts are where you look for its
# exceptions.

# %% [markdown]
# ## Your turn: interpret some latents (not graded)
#
# Pick five latents: the most selective one of two or three classes above, and two or three of your
# own choosing (try `show_latent(j, k=15)` for random `j`, and some that fire often or rarely:
# `(val_f > 0).float().mean(0)` gives every latent's firing frequency). For each, write one line:
# what it fires on, how sure you are, and a test that would prove you wrong (a class whose
# selectivity you could compute, a context where it should *not* fire). Then compute that test for
# one of them with `class_selectivity` and a mask of your own.
#
# Things to watch for, all of which the paper discusses: latents that fire on a byte only in one
# context (a digit in a version number vs. in a variable name); several latents that split one
# concept between them; latents whose top examples are clean but whose weak activations are not.

# %% [markdown]
# YOUR NOTES HERE: latent, interpretation, confidence, the test that would refute it.

# %% [markdown]
# ## How often do latents fire?
#
# The paper's feature-density histograms show, for every latent, the log of the fraction of tokens on
# which it fires. A healthy dictionary has most latents rare but not silent; dead latents would pile
# up at the far left (we draw them at $10^{-5}$, below one in our 16,384 bytes). Neurons, for
# comparison, are active (GELU output > 0) on a large share of bytes each: they are dense, which is
# the symptom of superposition.

# %%
_lat_freq = (val_f > 0).float().mean(0)
_neu_freq = (val_acts_flat > 0).float().mean(0)
fig, ax = plt.subplots(figsize=(10, 3.5))
_bins = np.linspace(-5.2, 0, 60)
ax.hist(np.log10(_lat_freq.clamp_min(1e-5).numpy()), bins=_bins, alpha=0.7, label=f"SAE latents ({len(_lat_freq)})")
ax.hist(np.log10(_neu_freq.clamp_min(1e-5).numpy()), bins=_bins, alpha=0.7, label=f"MLP neurons ({len(_neu_freq)})")
ax.set_xlabel("log10(fraction of bytes on which the unit fires)")
ax.set_ylabel("units")
ax.legend()
plt.show()
print(f"latents: median firing frequency {_lat_freq.median():.2%}, dead {(_lat_freq == 0).float().mean():.1%}; "
      f"neurons: median {_neu_freq.median():.1%}")

# %% [markdown]
# ## The replication, in one table
#
# | | Bricken et al. 2023 | this lesson |
# |---|---|---|
# | site | the 512-neuron MLP of a one-layer transformer trained on the Pile | the 512-neuron layer-0 MLP of `stdlib-gpt` (2 layers, bytes of Python source) |
# | SAE | 512 to 131,072 latents (the detailed study, A/1: 4,096), ~8 billion activations | 768 latents, 2 million activations (toy: 40 latents, 1 million) |
# | recipe | pre-encoder bias at the geometric median, unit-norm decoder with the parallel gradient removed, L1, Adam, resampling of dead neurons | the same, written by you |
# | ground truth | none in that paper (Sharkey et al. 2022 used toy data with known features) | toy with 20 known features in 8 dimensions: every feature recovered, MMCS ≥ 0.95 (asserted) |
# | dead latents | resampling reported to help | latents that died on their own (high learning rate, 47–52% dead): re-initialising them lowers the FVU and recovers the missing features (asserted, 2 seeds), but the paper's loss-weighted resampling does not beat a random-direction control (asserted, tolerance 0.005 FVU): the paper's advantage not reproduced on this toy |
# | interpretability | most features interpretable and more monosemantic than neurons (Arabic script, DNA, base64, ...) | a digit latent: selectivity ≥ 0.85 and all 20 top contexts digits, more selective than any comparably active neuron (asserted); but scored automatically over all 768 latents and 512 neurons with a library of byte classes, the median neuron is explained better than the median latent (held-out F1, asserted): not reproduced with this library |
#
# The exact numbers your run produced are printed above; the shipped SAE's are in
# `course/models/checkpoints/sae_stdlib_gpt_l0.json` (and `bootcamp models`).
#
# ## Going further
#
# Open questions an alumnus of this lesson could take up. Each names where in the course's code to
# start; `course/models/sae.py` is a single-file version of everything you wrote here, with the
# training loop that made the shipped checkpoint.
#
# 1. **Feature splitting.** The paper's most striking result is that one feature in a small
#    dictionary splits into several finer ones in a bigger dictionary. Train 256, 768 and 3,072
#    latents on the same site: does the digit latent split (leading digit? digits in numbers vs in
#    names?), and can you draw the family tree from decoder cosine similarities? Start at
#    `SAEConfig.d_sae` and `train()` in `course/models/sae.py` (the 2 MiB limit only binds shipped
#    checkpoints).
# 2. **The sparsity–fidelity frontier.** Sweep `l1` and plot loss recovered against L0. Then
#    replace the L1 penalty by a TopK activation (keep the k largest pre-activations; Gao et al.
#    2024): is it a better frontier on this model, and does it change which latents are dead? Start
#    at `SparseAutoencoder.encode` and `evaluate` in `course/models/sae.py`.
# 3. **Deeper sites.** Train on layer 1's MLP (`SAEConfig.layer=1`) or on the residual stream (a
#    pre-hook on `blocks[1]`). Are layer-1 latents about longer units (keywords, identifiers, the
#    structure of a line) rather than bytes? Start at `mlp_activations` in `course/models/sae.py`.
# 4. **When does toy recovery break?** Vary the toy's sparsity, the ratio of features to
#    dimensions, correlated features, and the offset. Where does MMCS fall below 0.95, and does it
#    track the geometry of 4.2 (features in antipodal pairs or polytopes are harder to separate)?
#    Start at `ToyConfig` in `course/models/toy.py` and this notebook's `toy_batches`.
# 5. **A richer explanation library.** Exercise 14's library of byte classes favoured dense neurons.
#    Add narrow, contextual classes (the n-th byte of an identifier, inside a string, a digit in a
#    number vs in a name, keywords) and score by correlation with the activation as well as F1: does
#    the latents' curve move above the neurons', and which latents stay unexplained? Start at
#    `explanation_library` and `explain_units` here.
# 6. **Do latents cause what they mean?** Clamp the digit latent to a high value while the model
#    generates (splice `decode(f')` with `f'` edited, as in `spliced_loss`): does the model write
#    digits? Measure the effect on the next-byte distribution rather than eyeballing samples. Start
#    at `loss_with_replaced_mlp` in `course/models/sae.py` and `sample_text` in
#    `course/models/train.py`.
# 7. **When does aiming at bad reconstructions pay?** On the toy, the random control did at least
#    as well as the paper's resampling. Is that the low dimension (in 8 dimensions a random
#    direction is never far from some feature; in 512 it is far from all of them), or the choice of
#    inputs (the worst-reconstructed inputs often hold two features)? Repeat exercise 9c's
#    experiment on a toy with 100 features in 40 dimensions, and on the language model's
#    activations with a learning rate that kills latents, and check how many features each chosen
#    input contains. Start at `kill_by_training` and `repair` here and `resample_dead_` in
#    `course/models/sae.py`.

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 4.3`), else from `bootcamp check 4.3` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("4.3")
