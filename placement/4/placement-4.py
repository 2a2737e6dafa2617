# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   placement:
#     module: "4"
#     title: "Placement quiz: Module 4, replications"
#     minutes: 14
# ---

# %% [markdown]
# # Placement quiz: Module 4, replications
#
# Ten short items, about 14 minutes in all: one checks the interpretability tools you need
# from Module 3, the others the replication lessons of Module 4 (grokking, superposition,
# sparse autoencoders, world models, editing knowledge, latent knowledge). Everything works on small tensors you are given: no
# model is trained or loaded. Skip an item rather than spending more than its time on it:
# an unanswered item simply means "do that lesson".
#
# When you are done, save the notebook and run `bootcamp placement 4` from the course
# directory. It says which lessons of Module 4 you can skip, which one to start with, and
# which lesson to go back to for each item that fails, Module 3's included.

# %%
import math

import torch

from course import checks

# %% [markdown]
# ## 1. Mean-ablating a head (about 1 minute, lesson 3.1)
#
# `mean_ablate(z, head)` takes the per-head outputs of one layer, `(batch, pos, n_heads,
# d_head)`, and returns a new tensor in which head `head`'s output is replaced, at every
# position, by its mean over the batch; the other heads are unchanged and so is `z`.

# %% nbgrader={"solution": true, "grade_id": "mean_ablate"} exercise={"difficulty": 2, "importance": 4, "minutes": 1} placement={"lessons": ["3.1"]}
def mean_ablate(z: torch.Tensor, head: int) -> torch.Tensor:
    """z: (B, P, H, D). Returns a new tensor of the same shape."""
    ### BEGIN SOLUTION
    out = z.clone()
    out[:, :, head] = z[:, :, head].mean(dim=0, keepdim=True)
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "mean_ablate_test", "points": 1}
_gen = torch.Generator().manual_seed(0)
_z = torch.randn(4, 3, 2, 5, generator=_gen)
_keep = _z.clone()
_got = mean_ablate(_z, 1)
checks.assert_close("mean_ablate", _got[:, :, 0], _z[:, :, 0], name="the other head")
checks.assert_close("mean_ablate", _got[2, 1, 1], _z[:, 1, 1].mean(0), name="head 1 at position 1",
                    hint="the mean over the BATCH (dim 0), one per position and feature, not over positions")
checks.assert_close("mean_ablate", _z, _keep, name="the input after the call", hint="work on a clone")
### BEGIN HIDDEN TESTS
_z1 = torch.randn(1, 2, 3, 4, generator=_gen)
checks.assert_close("mean_ablate", mean_ablate(_z1, 2), _z1, name="a batch of one")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Modular addition data (about 1 minute, lesson 4.1)
#
# `mod_add_pairs(p)` returns every pair `(a, b)` with `a, b` in `0 .. p-1`, as an int64
# tensor `(p * p, 2)` with `a` varying slowest, and the labels `(a + b) mod p`, `(p * p,)`.

# %% nbgrader={"solution": true, "grade_id": "mod_add_pairs"} exercise={"difficulty": 1, "importance": 3, "minutes": 1} placement={"lessons": ["4.1"]}
def mod_add_pairs(p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (pairs (p*p, 2) int64, labels (p*p,) int64)."""
    ### BEGIN SOLUTION
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    return torch.stack([a, b], dim=1), (a + b) % p
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "mod_add_pairs_test", "points": 1}
_pairs, _labels = mod_add_pairs(5)
checks.assert_shape("mod_add_pairs", _pairs, (25, 2))
checks.assert_equal("mod_add_pairs", _pairs[:6].tolist(), [[0, 0], [0, 1], [0, 2], [0, 3], [0, 4], [1, 0]],
                    name="the first pairs", hint="a varies slowest: repeat_interleave for a, repeat for b")
checks.assert_equal("mod_add_pairs", _labels.tolist(), [(a + b) % 5 for a in range(5) for b in range(5)],
                    name="the labels")
### BEGIN HIDDEN TESTS
_pairs1, _labels1 = mod_add_pairs(1)
checks.assert_equal("mod_add_pairs", (_pairs1.tolist(), _labels1.tolist()), ([[0, 0]], [0]), name="p = 1")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Energy per Fourier frequency (about 2 minutes, lesson 4.1)
#
# `freq_energy(W)` takes an embedding `W` of shape `(p, d)` (one row per input number, `p`
# odd) and returns, for each frequency `k = 0 .. (p-1)/2`, the share of `W`'s squared
# Frobenius norm that lies in the span of `cos(2πkx/p)` and `sin(2πkx/p)` (for `k = 0`, the
# constant), summed over the `d` columns. The shares add up to 1.

# %% nbgrader={"solution": true, "grade_id": "freq_energy"} exercise={"difficulty": 3, "importance": 4, "minutes": 2} placement={"lessons": ["4.1"]}
def freq_energy(W: torch.Tensor) -> torch.Tensor:
    """W: (p, d), p odd. Returns ((p + 1) // 2,) shares that sum to 1."""
    ### BEGIN SOLUTION
    p = W.shape[0]
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.ones(p, dtype=torch.float64)]
    for k in range(1, (p - 1) // 2 + 1):
        rows += [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
    basis = torch.stack(rows)
    basis = basis / basis.norm(dim=1, keepdim=True)
    sq = ((basis @ W.double()) ** 2).sum(-1)
    energy = torch.cat([sq[:1], sq[1::2] + sq[2::2]])
    return energy / energy.sum()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "freq_energy_test", "points": 1}
_x = torch.arange(7, dtype=torch.float64)
_W = torch.stack([3 * torch.cos(2 * math.pi * 2 * _x / 7 + 0.3), torch.ones(7), torch.sin(2 * math.pi * 3 * _x / 7)], 1)
_want = torch.tensor([7.0, 0.0, 9 * 3.5, 3.5], dtype=torch.float64)
checks.assert_close("freq_energy", freq_energy(_W), _want / _want.sum(),
                    hint="project W's columns onto an ORTHONORMAL Fourier basis (each row divided by its norm), "
                         "square, add the cosine and sine of each frequency")
### BEGIN HIDDEN TESTS
_R = torch.randn(11, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
_F = torch.fft.rfft(_R, dim=0).abs() ** 2
_F[1:] *= 2
checks.assert_close("freq_energy", freq_energy(_R), _F.sum(1) / _F.sum(), name="random W against torch.fft")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Which features are represented? (about 1 minute, lesson 4.2)
#
# In a toy model of superposition, `W` maps `n_features` into `n_hidden` dimensions;
# feature `i` is represented when its column has norm above `threshold`.
# `represented(W, threshold)` returns a boolean tensor, one entry per feature.

# %% nbgrader={"solution": true, "grade_id": "represented"} exercise={"difficulty": 1, "importance": 3, "minutes": 1} placement={"lessons": ["4.2"]}
def represented(W: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """W: (n_hidden, n_features). Returns (n_features,) bool."""
    ### BEGIN SOLUTION
    return W.norm(dim=0) > threshold
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "represented_test", "points": 1}
_W = torch.tensor([[1.0, 0.0, 0.3, -0.9], [0.0, 0.2, 0.3, 0.1]])
checks.assert_equal("represented", represented(_W).tolist(), [True, False, False, True],
                    hint="one norm per feature: the feature's COLUMN, over the hidden axis")
### BEGIN HIDDEN TESTS
checks.assert_equal("represented", represented(torch.zeros(2, 3)).tolist(), [False] * 3, name="an empty model")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Interference (about 2 minutes, lesson 4.2)
#
# `max_interference(W)` returns, for each feature, the largest absolute cosine similarity
# between its column of `W` and any *other* feature's column. A feature whose column is
# zero has interference 0.

# %% nbgrader={"solution": true, "grade_id": "max_interference"} exercise={"difficulty": 2, "importance": 4, "minutes": 2} placement={"lessons": ["4.2"]}
def max_interference(W: torch.Tensor) -> torch.Tensor:
    """W: (n_hidden, n_features). Returns (n_features,)."""
    ### BEGIN SOLUTION
    unit = W / W.norm(dim=0, keepdim=True).clamp_min(1e-12)
    cos = (unit.T @ unit).abs()
    cos.fill_diagonal_(0.0)
    return cos.max(dim=1).values
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "max_interference_test", "points": 1}
_W = torch.tensor([[1.0, -2.0, 0.0], [0.0, 0.0, 3.0]])
checks.assert_close("max_interference", max_interference(_W), torch.tensor([1.0, 1.0, 0.0]),
                    hint="cosines of unit columns; leave out each feature's cosine with itself (always 1)")
### BEGIN HIDDEN TESTS
_Wz = torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
checks.assert_close("max_interference", max_interference(_Wz), torch.tensor([0.0, 1 / math.sqrt(2), 1 / math.sqrt(2)]),
                    name="a zero column")
### END HIDDEN TESTS

# %% [markdown]
# ## 6. A sparse autoencoder's forward pass (about 2 minutes, lesson 4.3)
#
# `sae_forward(x, W_enc, b_enc, W_dec, b_dec)` returns `(f, x_hat)`: the latent
# activations `f = relu((x - b_dec) W_enc + b_enc)` and the reconstruction
# `x_hat = f W_dec + b_dec`.

# %% nbgrader={"solution": true, "grade_id": "sae_forward"} exercise={"difficulty": 1, "importance": 4, "minutes": 2} placement={"lessons": ["4.3"]}
def sae_forward(x, W_enc, b_enc, W_dec, b_dec):
    """x: (N, d); W_enc: (d, m); b_enc: (m,); W_dec: (m, d); b_dec: (d,). Returns (f (N, m), x_hat (N, d))."""
    ### BEGIN SOLUTION
    f = torch.relu((x - b_dec) @ W_enc + b_enc)
    return f, f @ W_dec + b_dec
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sae_forward_test", "points": 1}
_gen = torch.Generator().manual_seed(6)
_x = torch.randn(5, 4, generator=_gen)
_We, _be, _Wd, _bd = (torch.randn(4, 6, generator=_gen), torch.randn(6, generator=_gen),
                      torch.randn(6, 4, generator=_gen), torch.randn(4, generator=_gen))
_f, _xh = sae_forward(_x, _We, _be, _Wd, _bd)
_f_want = torch.clamp(torch.stack([(_x[i] - _bd) @ _We + _be for i in range(5)]), min=0)
checks.assert_close("sae_forward", _f, _f_want, name="f",
                    hint="subtract the DECODER bias before encoding; the ReLU comes after the encoder bias")
checks.assert_close("sae_forward", _xh, _f_want @ _Wd + _bd, name="x_hat")
### BEGIN HIDDEN TESTS
_f0, _ = sae_forward(_bd[None], _We, -_be.abs() - 1, _Wd, _bd)
checks.assert_close("sae_forward", _f0, torch.zeros(1, 6), name="negative pre-activations")
### END HIDDEN TESTS

# %% [markdown]
# ## 7. Dead latents (about 1 minute, lesson 4.3)
#
# A latent is dead on a batch when it never fires (its activation is never above 0).
# `dead_fraction(f)` returns the fraction of latents that are dead in `f` `(N, m)`, as a float.

# %% nbgrader={"solution": true, "grade_id": "dead_fraction"} exercise={"difficulty": 1, "importance": 3, "minutes": 1} placement={"lessons": ["4.3"]}
def dead_fraction(f: torch.Tensor) -> float:
    """f: (N, m), non-negative. Returns a float in [0, 1]."""
    ### BEGIN SOLUTION
    return (~(f > 0).any(dim=0)).float().mean().item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "dead_fraction_test", "points": 1}
_f = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 3.0, 0.0, 0.0]])
checks.assert_close("dead_fraction", dead_fraction(_f), 0.5,
                    hint="a latent is alive if it fires on ANY example: reduce over the examples (dim 0) first")
### BEGIN HIDDEN TESTS
checks.assert_close("dead_fraction", dead_fraction(torch.ones(2, 3)), 0.0, name="every latent alive")
### END HIDDEN TESTS

# %% [markdown]
# ## 8. A board in the player's own terms (about 2 minutes, lesson 4.4)
#
# Nanda et al. found that an Othello-playing GPT represents the board not as black and
# white but as *mine* and *theirs*, from the point of view of the player about to move.
# `to_mine_theirs(boards, black_to_move)` takes boards `(n, squares)` with 0 = empty,
# 1 = black, 2 = white, and a boolean per board, and returns boards with 0 = empty,
# 1 = a stone of the player to move, 2 = a stone of the opponent.

# %% nbgrader={"solution": true, "grade_id": "to_mine_theirs"} exercise={"difficulty": 2, "importance": 4, "minutes": 2} placement={"lessons": ["4.4"]}
def to_mine_theirs(boards: torch.Tensor, black_to_move: torch.Tensor) -> torch.Tensor:
    """boards: (n, S) int64 in {0, 1, 2}; black_to_move: (n,) bool. Returns (n, S) int64 in {0, 1, 2}."""
    ### BEGIN SOLUTION
    swapped = torch.where(boards == 0, boards, 3 - boards)
    return torch.where(black_to_move[:, None], boards, swapped)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "to_mine_theirs_test", "points": 1}
_boards = torch.tensor([[0, 1, 2, 1], [0, 1, 2, 2]])
checks.assert_equal("to_mine_theirs", to_mine_theirs(_boards, torch.tensor([True, False])).tolist(),
                    [[0, 1, 2, 1], [0, 2, 1, 1]],
                    hint="when white is to move, black's stones are theirs (2) and white's are mine (1); empty stays 0")
### BEGIN HIDDEN TESTS
checks.assert_equal("to_mine_theirs", to_mine_theirs(torch.zeros(2, 3, dtype=torch.long), torch.tensor([False, True])).tolist(),
                    [[0, 0, 0], [0, 0, 0]], name="empty boards")
### END HIDDEN TESTS

# %% [markdown]
# ## 9. A rank-one edit (about 1 minute, lesson 4.5)
#
# `rank_one_edit(W, k, v)` returns a new weight matrix `W2` (shape of `W`, `(d_out, d_in)`)
# such that `W2 @ k == v` and `W2 @ x == W @ x` for every `x` orthogonal to `k`: the smallest
# change to `W` that maps the key `k` to the new value `v`. `W` is not modified.

# %% nbgrader={"solution": true, "grade_id": "rank_one_edit"} exercise={"difficulty": 2, "importance": 4, "minutes": 1} placement={"lessons": ["4.5"]}
def rank_one_edit(W: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """W: (d_out, d_in); k: (d_in,); v: (d_out,). Returns the edited (d_out, d_in) matrix."""
    ### BEGIN SOLUTION
    return W + torch.outer(v - W @ k, k) / (k @ k)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "rank_one_edit_test", "points": 1}
_W = torch.tensor([[1.0, 2.0], [0.0, 1.0], [3.0, -1.0]])
_k, _v = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0, 1.0])
_W2 = rank_one_edit(_W, _k, _v)
checks.assert_close("rank_one_edit", _W2 @ _k, _v, name="the edited W applied to k", hint="the update's column space is "
                    "(v - W k); divide by k . k so that W2 k = v exactly")
checks.assert_close("rank_one_edit", _W2 @ torch.tensor([0.0, 1.0]), _W @ torch.tensor([0.0, 1.0]),
                    name="a vector orthogonal to k", hint="the update is an outer product with k: orthogonal inputs see no change")
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(0)
_W3, _k3, _v3 = torch.randn(4, 5, generator=_g), torch.randn(5, generator=_g), torch.randn(4, generator=_g)
_before = _W3.clone()
checks.assert_close("rank_one_edit", rank_one_edit(_W3, _k3, _v3) @ _k3, _v3, name="a random 4x5 W", atol=1e-5)
checks.assert_close("rank_one_edit", _W3, _before, name="W after the call", hint="return a new matrix")
### END HIDDEN TESTS

# %% [markdown]
# ## 10. The CCS loss (about 1 minute, lesson 4.6)
#
# `ccs_loss(p_pos, p_neg)` takes a probe's probabilities on the two halves of each contrast
# pair ("X is true" and "X is false"), each `(n,)`, and returns the mean over pairs of the
# consistency term `(p_pos - (1 - p_neg))**2` plus the confidence term `min(p_pos, p_neg)**2`.

# %% nbgrader={"solution": true, "grade_id": "ccs_loss"} exercise={"difficulty": 1, "importance": 4, "minutes": 1} placement={"lessons": ["4.6"]}
def ccs_loss(p_pos: torch.Tensor, p_neg: torch.Tensor) -> torch.Tensor:
    """p_pos, p_neg: (n,) in [0, 1]. Returns a 0-d tensor."""
    ### BEGIN SOLUTION
    return ((p_pos - (1 - p_neg)) ** 2 + torch.minimum(p_pos, p_neg) ** 2).mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ccs_loss_test", "points": 1}
checks.assert_close("ccs_loss", ccs_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])), torch.tensor(0.0),
                    name="a consistent, confident probe", hint="p_pos = 1 - p_neg and one side at 0: both terms vanish")
checks.assert_close("ccs_loss", ccs_loss(torch.tensor([0.5]), torch.tensor([0.5])), torch.tensor(0.25),
                    name="p = 0.5 on both sides", hint="consistent (0.5 = 1 - 0.5) but not confident: min(0.5, 0.5)**2")
### BEGIN HIDDEN TESTS
checks.assert_close("ccs_loss", ccs_loss(torch.tensor([0.9, 0.2]), torch.tensor([0.3, 0.6])),
                    torch.tensor(((0.9 - 0.7) ** 2 + 0.3 ** 2 + (0.2 - 0.4) ** 2 + 0.2 ** 2) / 2), name="two pairs",
                    hint="the mean over pairs of both terms")
### END HIDDEN TESTS
