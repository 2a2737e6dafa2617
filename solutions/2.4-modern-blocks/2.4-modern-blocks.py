# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "2.4"
#     title: Modern transformer blocks
#     minutes: 180
#     prerequisites: ["2.1"]
# ---

# %% [markdown]
# # 2.4 Modern transformer blocks: RMSNorm, RoPE, SwiGLU and grouped-query attention
#
# The GPT you built in 2.1 is GPT-2 (2019). Open any model released since 2023 (Llama,
# Mistral, Qwen, Gemma, OLMo) and four of its parts have been replaced:
#
# | GPT-2 (lesson 2.1) | a 2024 open model | why |
# |---|---|---|
# | LayerNorm | **RMSNorm** | no mean subtraction, no bias: cheaper, as good (Zhang and Sennrich 2019) |
# | learned position embeddings added to the residual stream | **rotary embeddings (RoPE)** rotating q and k | attention scores depend on *relative* position (Su et al. 2021) |
# | GELU MLP | **SwiGLU**, a gated MLP | better loss at the same parameter count (Shazeer 2020) |
# | every head has its own keys and values | **grouped-query attention (GQA)** | a KV cache several times smaller (Ainslie et al. 2023) |
#
# In this lesson you write each of them, and every exercise checks your numbers against
# the implementation in Hugging Face `transformers`' Llama modules (built from a config with
# random weights; nothing is downloaded). At the end your pieces make a whole Llama decoder
# layer that matches `LlamaDecoderLayer` to float32 precision.
#
# **After this lesson you can**
# - write RMSNorm and say what it drops from LayerNorm, and what that means for reading a
#   residual stream;
# - build RoPE's cos/sin tables, rotate queries and keys with them, and show that the
#   attention score then depends only on the distance between two positions;
# - write a SwiGLU MLP and size its hidden layer the way Llama does;
# - implement grouped-query attention with `repeat_kv`, and compute what it saves in KV-cache memory;
# - assemble a Llama decoder layer and match `transformers`' to 1e-5.
#
# **Prerequisites.** 2.1 (multi-head causal attention, the pre-norm residual block). This
# lesson trains nothing: every exercise runs in milliseconds.
#
# **Time.** About 3 hours: eleven graded exercises (24 points).
#
# **How the exercises work.** As in 2.1: replace `raise NotImplementedError`, run the test
# cell, read the message. Weights here are plain tensors in the `x @ W` layout, `W` of
# shape `(d_in, d_out)`; the checks transpose them into `nn.Linear`'s layout for the reference.

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from course import checks
from course.checks import gpt as gpt_checks

torch.set_num_threads(1)
torch.set_printoptions(precision=4, sci_mode=False)


def rand(*shape, scale=0.3, seed=None):
    """A float32 tensor of N(0, scale^2) entries (seeded when seed is given)."""
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    return torch.randn(*shape, generator=g) * scale


# %% [markdown]
# ## Part 1: RMSNorm
#
# LayerNorm (2.1) subtracts each vector's mean, divides by its standard deviation, then
# applies a gain and a bias. RMSNorm keeps only the division and the gain:
#
# $$\mathrm{RMSNorm}(x) = \frac{x}{\sqrt{\tfrac{1}{d}\sum_i x_i^2 + \varepsilon}} \odot g .$$
#
# Zhang and Sennrich (2019) found that the re-centring contributes little, and one
# reduction is cheaper than two. Llama uses $\varepsilon = 10^{-6}$ (some models $10^{-5}$), added
# *inside* the square root. One detail matters for matching `transformers` exactly: it
# computes the normalisation in float32 even when the model runs in float16 or bfloat16, and
# casts back before multiplying by the gain.

# %% [markdown]
# ## Exercise 1: `rms_norm`
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 8 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# **The idea.** Divide each vector (the last dimension) by its root-mean-square, then scale
# by the gain. No mean is subtracted and there is no bias.
#
# **A pointer.** Keep the reduced dimension (`keepdim`) so the mean square broadcasts back
# over the vector; `torch.rsqrt` computes $1/\sqrt{\cdot}$. For the dtype rule: arithmetic in
# float32, back to the input's dtype, and only then the gain.
# </details>

# %% nbgrader={"solution": true, "grade_id": "rms_norm"} exercise={"difficulty": 1, "importance": 4, "minutes": 8}
def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm over the last dimension, as transformers' LlamaRMSNorm computes it.

    x: (..., d) float tensor (float32, float16 or bfloat16). weight: (d,) gain.
    Returns weight * (x / sqrt(mean(x^2) + eps)), the normalisation computed in float32
    and cast back to x's dtype before the gain is applied.
    """
    ### BEGIN SOLUTION
    x32 = x.float()
    normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)
    return weight * normed.to(x.dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "rms_norm_test", "points": 2}
x = rand(2, 5, 16, seed=1) + 2.0  # a mean far from 0: LayerNorm and RMSNorm differ
g = 1.0 + rand(16, scale=0.2, seed=2)
got = checks.call("rms_norm", rms_norm, x, g, case="x (2, 5, 16) with mean 2, eps 1e-6")
checks.assert_shape("rms_norm", got, (2, 5, 16))
checks.assert_close("rms_norm", got, gpt_checks.reference_rms_norm(x, g, 1e-6), name="rms_norm(x) vs LlamaRMSNorm",
                    hint="divide by sqrt(mean of squares + eps) over the last dim; subtract no mean, add no bias")
tiny = torch.full((1, 4), 1e-4)
checks.assert_close("rms_norm", rms_norm(tiny, torch.ones(4), 1e-2), gpt_checks.reference_rms_norm(tiny, torch.ones(4), 1e-2),
                    name="a tiny vector with eps=1e-2", hint="eps goes inside the square root, and use the eps argument")
print("rms_norm: visible tests pass")
### BEGIN HIDDEN TESTS
_x = rand(3, 7, scale=2.0, seed=3)
_g = rand(7, seed=4)
checks.assert_close("rms_norm", rms_norm(_x, _g, 1e-5), gpt_checks.reference_rms_norm(_x, _g, 1e-5), name="eps 1e-5, (3, 7)")
_xh = rand(2, 8, scale=30.0, seed=5).to(torch.bfloat16)
_gh = torch.ones(8, dtype=torch.bfloat16)
_got = rms_norm(_xh, _gh, 1e-6)
checks.assert_dtype("rms_norm", _got, torch.bfloat16, hint="cast the normalised vector back to x's dtype")
checks.assert_close("rms_norm", _got.float(), gpt_checks.reference_rms_norm(_xh, _gh, 1e-6).float(), name="bfloat16 input",
                    hint="compute the mean square in float32 (x.float()), then cast back before the gain")
### END HIDDEN TESTS

# %% [markdown]
# **Predict, then look.** LayerNorm's output never depends on a constant added to every
# coordinate of $x$ (it subtracts the mean). Does RMSNorm's? Decide before you run the cell:
# it adds $c \cdot \mathbf{1}$ to one vector for growing $c$ and prints the cosine similarity between
# RMSNorm's output and the original output.

# %%
try:
    base = rms_norm(x[0, 0], torch.ones(16))
    for c in (0.0, 0.5, 2.0, 10.0):
        shifted = rms_norm(x[0, 0] + c, torch.ones(16))
        print(f"c = {c:5.1f}: cosine(RMSNorm(x + c), RMSNorm(x)) = {F.cosine_similarity(base, shifted, dim=0):.3f}")
except NotImplementedError:
    print("(implement rms_norm to run this)")

# %% [markdown]
# The output turns towards the all-ones direction as $c$ grows: RMSNorm keeps a mean
# component that LayerNorm would remove. For interpretability this matters twice: a
# direction along $\mathbf{1}$ in a Llama residual stream is *not* invisible to the next
# layer, and "folding" the norm into the next weights (3.1's trick for LayerNorm) has no
# centring step to fold.

# %% [markdown]
# ## Part 2: rotary position embeddings
#
# GPT-2 adds a learned vector per position to the residual stream, so position is one more
# feature every layer must carry. RoPE instead *rotates* each query and key by an angle
# proportional to its position, just before their dot product. Pair up the coordinates of a
# head, $(x_i, x_{i + d/2})$ for $i < d/2$ (the "half-split" pairing Llama's code uses), and
# rotate pair $i$ at position $m$ by the angle $m\,\theta_i$ with
#
# $$\theta_i = \text{base}^{-2i/d}, \qquad i = 0, \dots, d/2 - 1,\quad \text{base} = 10000 .$$
#
# Pair 0 turns by one radian per position; the last pair barely turns at all. A rotation by
# $m\theta$ of the query and $n\theta$ of the key leaves their dot product depending on the
# *difference* $(m - n)\theta$ only, because rotations compose and preserve dot products. So
# attention scores see relative position, and nothing positional is written into the
# residual stream.
#
# ```
#   pair i = (x[i], x[i + d/2])          rotated by angle  m * theta_i
#   x'[i]       = x[i] cos(m theta_i) - x[i + d/2] sin(m theta_i)
#   x'[i + d/2] = x[i + d/2] cos(m theta_i) + x[i] sin(m theta_i)
# ```
#
# Implementations precompute two tables, `cos` and `sin`, of shape `(n_positions, d)`:
# entry `[m, j]` is the cosine (sine) of $m\,\theta_{j \bmod d/2}$, so the half-split layout is the
# $d/2$ angles written twice, side by side.

# %% [markdown]
# ## Exercise 2: the cos/sin tables
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# **The idea.** An outer product of positions and frequencies gives every angle $m\theta_i$;
# the table is those $d/2$ angles repeated once more along the last dimension.
#
# **A pointer.** `torch.arange(0, d_head, 2) / d_head` gives $2i/d$; `torch.outer` multiplies
# positions by frequencies; `torch.cat([a, a], dim=-1)` writes them twice. Work in float32.
# </details>

# %% nbgrader={"solution": true, "grade_id": "rope_tables"} exercise={"difficulty": 2, "importance": 3, "minutes": 10}
def rope_tables(n_positions: int, d_head: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """RoPE's (cos, sin) tables in the half-split layout, each (n_positions, d_head) float32.

    Entry [m, j] is cos (sin) of m * base ** (-2 * (j % (d_head // 2)) / d_head).
    d_head is even.
    """
    ### BEGIN SOLUTION
    inv_freq = 1.0 / (base ** (torch.arange(0, d_head, 2, dtype=torch.float32) / d_head))
    angles = torch.outer(torch.arange(n_positions, dtype=torch.float32), inv_freq)
    both = torch.cat([angles, angles], dim=-1)
    return both.cos(), both.sin()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "rope_tables_test", "points": 2}
got = checks.call("rope_tables", rope_tables, 12, 8, case="12 positions, d_head 8")
checks.assert_true("rope_tables", isinstance(got, tuple) and len(got) == 2, "return a pair (cos, sin)")
ref_cos, ref_sin = gpt_checks.reference_rope(12, 8)
checks.assert_shape("rope_tables", got[0], (12, 8), name="cos")
checks.assert_close("rope_tables", got[0], ref_cos, name="cos vs LlamaRotaryEmbedding",
                    hint="theta_i = base ** (-2i / d) for i < d/2; the table is the d/2 angles written twice (cat, not interleave)")
checks.assert_close("rope_tables", got[1], ref_sin, name="sin vs LlamaRotaryEmbedding", hint="the sine of the same angles")
cos_b, _ = rope_tables(4, 4, base=100.0)
checks.assert_close("rope_tables", cos_b, gpt_checks.reference_rope(4, 4, base=100.0)[0], name="cos with base 100",
                    hint="use the base argument")
print("rope_tables: visible tests pass")
### BEGIN HIDDEN TESTS
for _n, _d, _b in [(1, 2, 10000.0), (64, 16, 10000.0), (7, 32, 500000.0)]:
    _c, _s = rope_tables(_n, _d, _b)
    _rc, _rs = gpt_checks.reference_rope(_n, _d, _b)
    checks.assert_close("rope_tables", _c, _rc, name=f"cos, {_n} positions, d_head {_d}, base {_b}")
    checks.assert_close("rope_tables", _s, _rs, name=f"sin, {_n} positions, d_head {_d}, base {_b}")
    checks.assert_dtype("rope_tables", _c, torch.float32)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: rotating queries and keys
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# With the tables, the rotation of every pair at once is
# $x' = x \odot \cos + \mathrm{rot}(x) \odot \sin$, where $\mathrm{rot}(x)$ swaps the two halves of
# the last dimension and negates the (new) first half: $\mathrm{rot}([a, b]) = [-b, a]$. Check
# it against the formula for one pair above before you write it.
#
# <details><summary>Hint</summary>
#
# **The idea.** Two element-wise products and a sum; the only new piece is the half-swap with
# a sign, which turns each pair's cosine term into the rotation's sine term.
#
# **A pointer.** Split the last dimension in two halves with slicing (`x[..., :h]`), build
# the swapped tensor with `torch.cat`, and let the `(seq, d_head)` tables broadcast against
# `(batch, heads, seq, d_head)`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "apply_rope"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate queries or keys x (batch, heads, seq, d_head) with (seq, d_head) tables.

    Returns x * cos + rot(x) * sin, rot([a, b]) = [-b, a] over the two halves of the last dim.
    """
    ### BEGIN SOLUTION
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "apply_rope_test", "points": 2}
q = rand(2, 3, 6, 8, seed=6)
c6, s6 = gpt_checks.reference_rope(6, 8)
got = checks.call("apply_rope", apply_rope, q, c6, s6, case="q (2, 3, 6, 8)")
checks.assert_shape("apply_rope", got, (2, 3, 6, 8))
checks.assert_close("apply_rope", got, gpt_checks.reference_apply_rope(q, c6, s6), name="rotated q vs apply_rotary_pos_emb",
                    hint="rot([a, b]) = [-b, a]: the second half, negated, comes first; pairs are (i, i + d/2), not (2i, 2i+1)")
checks.assert_close("apply_rope", got.norm(dim=-1), q.norm(dim=-1), name="vector lengths after the rotation",
                    hint="a rotation keeps every vector's length: check the signs of rot(x)")
print("apply_rope: visible tests pass")
### BEGIN HIDDEN TESTS
_q = rand(1, 1, 9, 16, seed=7)
_c, _s = gpt_checks.reference_rope(9, 16, 1000.0)
checks.assert_close("apply_rope", apply_rope(_q, _c, _s), gpt_checks.reference_apply_rope(_q, _c, _s), name="d_head 16, base 1000")
_k = rand(3, 2, 1, 4, seed=8)
_c1, _s1 = gpt_checks.reference_rope(1, 4)
checks.assert_close("apply_rope", apply_rope(_k, _c1, _s1), _k, name="position 0 (no rotation)")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: relative position, measured
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 12 minutes, then look at the hint.
#
# The claim: with RoPE, the score between a query at position $m$ and a key at position $n$
# depends only on $m - n$. Measure it. Put the *same* query vector at every position and the
# same key vector at every position, rotate both with your `apply_rope`, and return the
# matrix of scores `S[m, n] = q'_m · k'_n`. If the claim holds, `S` is constant along each
# diagonal (a Toeplitz matrix).
#
# <details><summary>Hint</summary>
#
# **The idea.** Repeat each vector along a sequence axis, rotate the two sequences, and take
# every pairwise dot product.
#
# **A pointer.** `q.expand(n_positions, -1)` repeats without copying; `apply_rope` wants four
# dimensions, so add two leading ones with `[None, None]` and take them off again; the
# pairwise dot products of two `(n, d)` matrices are one matrix product with a transpose.
# </details>

# %% nbgrader={"solution": true, "grade_id": "rope_scores"} exercise={"difficulty": 2, "importance": 4, "minutes": 12}
def rope_scores(q: torch.Tensor, k: torch.Tensor, n_positions: int, base: float = 10000.0) -> torch.Tensor:
    """Scores S[m, n] = (q rotated to position m) . (k rotated to position n), (n_positions, n_positions).

    q, k: (d_head,) vectors. Use rope_tables and apply_rope.
    """
    ### BEGIN SOLUTION
    cos, sin = rope_tables(n_positions, q.shape[-1], base)
    qs = apply_rope(q.expand(n_positions, -1)[None, None], cos, sin)[0, 0]
    ks = apply_rope(k.expand(n_positions, -1)[None, None], cos, sin)[0, 0]
    return qs @ ks.T
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "rope_scores_test", "points": 3}
qv, kv = rand(16, scale=1.0, seed=9), rand(16, scale=1.0, seed=10)
S = checks.call("rope_scores", rope_scores, qv, kv, 20, case="16-dim q and k, 20 positions")
checks.assert_shape("rope_scores", S, (20, 20))
cos20, sin20 = gpt_checks.reference_rope(20, 16)
q_rot = gpt_checks.reference_apply_rope(qv.expand(20, -1)[None, None], cos20, sin20)[0, 0]
k_rot = gpt_checks.reference_apply_rope(kv.expand(20, -1)[None, None], cos20, sin20)[0, 0]
checks.assert_close("rope_scores", S, q_rot @ k_rot.T, name="scores vs the reference rotation", rtol=1e-4, atol=1e-4,
                    hint="row m is the query at position m, column n the key at position n: S = Q_rot @ K_rot.T")
checks.assert_close("rope_scores", S.diagonal(), torch.full((20,), float(qv @ kv)), name="scores at m == n", rtol=1e-4,
                    atol=1e-4, hint="at equal positions the rotations cancel: the score is the plain q . k")
print("rope_scores: visible tests pass")
### BEGIN HIDDEN TESTS
_qv, _kv = rand(8, scale=1.0, seed=11), rand(8, scale=1.0, seed=12)
_S = rope_scores(_qv, _kv, 10, base=50.0)
_c, _s = gpt_checks.reference_rope(10, 8, 50.0)
_qr = gpt_checks.reference_apply_rope(_qv.expand(10, -1)[None, None], _c, _s)[0, 0]
_kr = gpt_checks.reference_apply_rope(_kv.expand(10, -1)[None, None], _c, _s)[0, 0]
checks.assert_close("rope_scores", _S, _qr @ _kr.T, name="base 50, 10 positions", rtol=1e-4, atol=1e-4,
                    hint="pass the base argument on to rope_tables")
### END HIDDEN TESTS

# %% [markdown]
# **Predict, then look.** Before running the next cell: will the picture of `S` have stripes
# along the diagonals (↘), along the rows, or no pattern? And for a query and key that are
# the *same* vector, will the score be largest at distance 0 and fall with distance, or stay flat?

# %%
try:
    S_same = rope_scores(qv, qv, 64)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].imshow(S.numpy(), cmap="RdBu")
    axes[0].set_xlabel("key position n")
    axes[0].set_ylabel("query position m")
    axes[0].set_title("q'_m . k'_n: constant along each diagonal")
    axes[1].plot([S_same[m, 0].item() for m in range(64)])
    axes[1].set_xlabel("distance m - n")
    axes[1].set_ylabel("score")
    axes[1].set_title("q = k: the score against distance")
    plt.tight_layout()
    plt.show()
    diag_spread = max((S.diagonal(o).max() - S.diagonal(o).min()).item() for o in range(-19, 20))
    print(f"largest spread along any diagonal: {diag_spread:.2e} (float32 rounding)")
except NotImplementedError:
    print("(implement rope_tables, apply_rope and rope_scores to see this)")

# %% [markdown]
# The diagonals are constant: relative position, as promised. With $q = k$ the score is
# largest at distance 0 and falls, with ripples, as the fast pairs go out of phase; RoPE
# gives attention a built-in, soft preference for nearby tokens (Su et al. 2021, §3.4.3,
# call it long-term decay). Which pairs still carry information at long distances? The slow
# ones: pair $i$ needs $2\pi/\theta_i$ positions to turn once.

# %% [markdown]
# ## Exercise 5: which pair turns slowest? (investigation)
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 5 minutes.
#
# Use your `rope_tables` (not the formula by hand) to find the index `i` of the pair
# (0 ≤ i < d_head/2) whose angle grows slowest with position, and the number of positions it
# needs for one full turn, rounded to the nearest integer. Predict first: for `d_head = 64` and
# `base = 10000`, is one turn of the slowest pair shorter or longer than a 4,096-token context? The
# answer shows why models trained on 4,096 tokens can only tell positions apart so far with
# the slowest pairs, and why long-context models raise `base` (Llama 3 uses 500,000).
#
# <details><summary>Hint</summary>
#
# **The idea.** The angle of pair `i` at position 1 is its frequency; the slowest pair has
# the smallest one, and one turn takes $2\pi$ divided by it.
#
# **A pointer.** `torch.atan2(sin, cos)` recovers an angle from the tables at position 1;
# look only at the first half of the last dimension.
# </details>

# %% nbgrader={"solution": true, "grade_id": "slowest_pair"} exercise={"difficulty": 1, "importance": 3, "minutes": 5}
def slowest_pair(d_head: int = 64, base: float = 10000.0) -> tuple[int, int]:
    """(index of the pair whose angle grows slowest, positions it needs for one full turn, rounded).

    Read both from your rope_tables, not from the formula.
    """
    ### BEGIN SOLUTION
    cos, sin = rope_tables(2, d_head, base)
    angles = torch.atan2(sin[1, : d_head // 2], cos[1, : d_head // 2])
    pair = int(angles.argmin())
    return pair, round(2 * math.pi / float(angles[pair]))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "slowest_pair_test", "points": 1}
def check_slowest(d_head, base):
    got = checks.call("slowest_pair", slowest_pair, d_head, base, case=f"d_head {d_head}, base {base}")
    checks.assert_true("slowest_pair", isinstance(got, tuple) and len(got) == 2 and all(isinstance(v, int) for v in got),
                       f"return a pair of ints (pair index, positions per turn); got {got!r}")
    ref_c, ref_s = gpt_checks.reference_rope(2, d_head, base)
    freqs = torch.atan2(ref_s[1, : d_head // 2], ref_c[1, : d_head // 2])
    pair, turn = got
    checks.assert_true("slowest_pair", pair == int(freqs.argmin()),
                       f"pair {pair} is not the slowest (d_head {d_head}, base {base})",
                       hint="theta_i = base ** (-2i/d) shrinks as i grows; look at the angles at position 1")
    want = 2 * math.pi / float(freqs.min())
    checks.assert_true("slowest_pair", abs(turn - want) <= 0.51,
                       f"{turn} positions per turn, but that pair needs about {want:.0f}",
                       hint="one full turn is 2*pi radians: divide by the pair's angle per position, and round "
                            "to the nearest integer (round, not int or //)")
    return got


pair64, turn64 = check_slowest(64, 10000.0)
print(f"d_head 64, base 10,000: the slowest pair is {pair64}, one turn every {turn64:,} positions")
### BEGIN HIDDEN TESTS
check_slowest(16, 500.0)
check_slowest(128, 500000.0);
### END HIDDEN TESTS


# %% [markdown]
# ## Part 3: SwiGLU
#
# GPT-2's MLP is $W_\text{out}\,\mathrm{GELU}(W_\text{in} x)$. A **gated** MLP computes two
# projections and multiplies them: one passes through an activation and acts as a gate on the
# other,
#
# $$\mathrm{SwiGLU}(x) = \big(\mathrm{SiLU}(x W_\text{gate}) \odot x W_\text{up}\big)\, W_\text{down},
# \qquad \mathrm{SiLU}(z) = z\,\sigma(z) .$$
#
# Shazeer (2020) found this family beats ReLU and GELU MLPs at equal compute. It has three
# matrices instead of two, so to keep the parameter count of a $4d$-wide MLP the hidden width
# shrinks to $\tfrac{2}{3} \cdot 4d$, which Llama then rounds *up* to a multiple of 256 (for
# fast matrix kernels).

# %% [markdown]
# ## Exercise 6: `swiglu`
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 6 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# **The idea.** Two projections of the same input, the activation on one of them only, an
# element-wise product, and the down projection.
#
# **A pointer.** `F.silu` is SiLU (also called swish). Which projection goes through it
# matters: `transformers` applies it to the *gate*.
# </details>

# %% nbgrader={"solution": true, "grade_id": "swiglu"} exercise={"difficulty": 1, "importance": 4, "minutes": 6}
def swiglu(x: torch.Tensor, W_gate: torch.Tensor, W_up: torch.Tensor, W_down: torch.Tensor) -> torch.Tensor:
    """Llama's MLP: (silu(x @ W_gate) * (x @ W_up)) @ W_down.

    x: (..., d_model); W_gate, W_up: (d_model, d_mlp); W_down: (d_mlp, d_model).
    """
    ### BEGIN SOLUTION
    return (F.silu(x @ W_gate) * (x @ W_up)) @ W_down
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "swiglu_test", "points": 2}
xm = rand(2, 4, 16, scale=1.0, seed=13)
Wg, Wu, Wd = rand(16, 24, seed=14), rand(16, 24, seed=15), rand(24, 16, seed=16)
got = checks.call("swiglu", swiglu, xm, Wg, Wu, Wd, case="x (2, 4, 16), d_mlp 24")
checks.assert_shape("swiglu", got, (2, 4, 16))
checks.assert_close("swiglu", got, gpt_checks.reference_swiglu(xm, Wg, Wu, Wd), name="swiglu vs LlamaMLP",
                    hint="silu goes on x @ W_gate only; multiply by x @ W_up, then project down")
print("swiglu: visible tests pass")
### BEGIN HIDDEN TESTS
_x = rand(5, 8, scale=2.0, seed=17)
_Wg, _Wu, _Wd = rand(8, 12, seed=18), rand(8, 12, seed=19), rand(12, 8, seed=20)
checks.assert_close("swiglu", swiglu(_x, _Wg, _Wu, _Wd), gpt_checks.reference_swiglu(_x, _Wg, _Wu, _Wd), name="(5, 8), d_mlp 12")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 7: Llama's MLP width
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵⚪⚪⚪ · 2 points · about 8 minutes, then look at the hint.
#
# Llama's reference code sizes the MLP from `d_model` in three steps: start from $4d$, take
# two thirds of it (rounded down to an integer), then round *up* to the next multiple of
# `multiple_of`. For Llama 2 7B, $d = 4096$ and `multiple_of = 256`: check your function gives
# the 11,008 its config states.
#
# <details><summary>Hint</summary>
#
# **The idea.** Integer arithmetic only: a floor for the two thirds, a ceiling for the rounding.
#
# **A pointer.** With integers, `-(-a // b)` is the ceiling of `a / b`; `int(2 * h / 3)` the floor
# of two thirds.
# </details>

# %% nbgrader={"solution": true, "grade_id": "swiglu_width"} exercise={"difficulty": 2, "importance": 2, "minutes": 8}
def swiglu_width(d_model: int, multiple_of: int = 256) -> int:
    """Llama's MLP width: int(2 * (4 * d_model) / 3), rounded up to a multiple of multiple_of."""
    ### BEGIN SOLUTION
    hidden = int(2 * (4 * d_model) / 3)
    return multiple_of * -(-hidden // multiple_of)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "swiglu_width_test", "points": 2}
checks.assert_equal("swiglu_width", checks.call("swiglu_width", swiglu_width, 4096, case="Llama 2 7B"), 11008,
                    name="swiglu_width(4096, 256)", hint="two thirds of 4 * 4096 is 10922.67 -> 10922, rounded UP to 256s")
checks.assert_equal("swiglu_width", swiglu_width(768, 1), 2048, name="swiglu_width(768, 1)",
                    hint="multiple_of=1 rounds nothing: just int(2 * 4 * d / 3)")
checks.assert_equal("swiglu_width", swiglu_width(96, 64), 256, name="swiglu_width(96, 64)",
                    hint="int(2 * 384 / 3) = 256 is already a multiple of 64: round up, not to the next one")
print("swiglu_width: visible tests pass")
### BEGIN HIDDEN TESTS
for _d, _m, _want in [(5120, 256, 13824), (8192, 4096, 24576), (100, 32, 288), (3, 1, 8)]:
    checks.assert_equal("swiglu_width", swiglu_width(_d, _m), _want, name=f"swiglu_width({_d}, {_m})")
### END HIDDEN TESTS

# %% [markdown]
# Llama 2 70B's config says 28,672, not `swiglu_width(8192)` = 22,016: its code multiplies the
# two thirds by a further `ffn_dim_multiplier` of 1.3 and rounds up to a multiple of 4,096.
# Parameter counts per layer, for $d = 4096$: a GELU MLP of width $4d$ has $8d^2 = 134$M weights;
# a SwiGLU of width 11,008 has $3 \cdot 4096 \cdot 11008 = 135$M, nearly the same, as intended.

# %% [markdown]
# ## Part 4: grouped-query attention
#
# At inference, a model keeps every past key and value (the KV cache, 2.2). Its size is
# $2 \cdot n_\text{layers} \cdot n_\text{kv heads} \cdot d_\text{head} \cdot T$ numbers per sequence, and for long
# contexts it, not the weights, fills the GPU. Shazeer (2019) proposed multi-query attention:
# all query heads share **one** key head and one value head. Ainslie et al. (2023) found the
# middle ground: **groups** of $n_\text{heads} / n_\text{kv}$ query heads share a key/value head. Llama 2
# 70B has 64 query heads and 8 KV heads.
#
# ```
#   query heads   q0 q1 q2 q3 | q4 q5 q6 q7        (n_heads = 8)
#   kv heads         kv0      |    kv1             (n_kv_heads = 2, n_rep = 4)
#   head h reads kv head h // n_rep
# ```
#
# In code, the cheapest way to reuse 2.1's attention is to *repeat* each KV head `n_rep`
# times, so that there are as many as query heads, in the order the picture shows.

# %% [markdown]
# ## Exercise 8: `repeat_kv`
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 8 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# **The idea.** Each KV head must appear `n_rep` times *in a row* (kv0, kv0, kv1, kv1), not the
# whole set repeated (kv0, kv1, kv0, kv1), so that head `h` gets KV head `h // n_rep`.
#
# **A pointer.** `torch.repeat_interleave` along the head dimension does the first;
# `Tensor.repeat` does the second.
# </details>

# %% nbgrader={"solution": true, "grade_id": "repeat_kv"} exercise={"difficulty": 2, "importance": 3, "minutes": 8}
def repeat_kv(kv: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(batch, n_kv_heads, seq, d_head) -> (batch, n_kv_heads * n_rep, seq, d_head); head h is kv head h // n_rep."""
    ### BEGIN SOLUTION
    return torch.repeat_interleave(kv, n_rep, dim=1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "repeat_kv_test", "points": 2}
kv2 = rand(2, 2, 5, 4, seed=21)
got = checks.call("repeat_kv", repeat_kv, kv2, 3, case="2 kv heads, n_rep 3")
checks.assert_shape("repeat_kv", got, (2, 6, 5, 4))
checks.assert_close("repeat_kv", got, gpt_checks.reference_repeat_kv(kv2, 3), name="repeated kv vs transformers' repeat_kv",
                    hint="head h must be kv head h // n_rep: kv0, kv0, kv0, kv1, ... (repeat_interleave, not repeat)")
print("repeat_kv: visible tests pass")
### BEGIN HIDDEN TESTS
_kv = rand(1, 3, 2, 2, seed=22)
checks.assert_close("repeat_kv", repeat_kv(_kv, 1), _kv, name="n_rep 1 (plain multi-head attention)")
checks.assert_close("repeat_kv", repeat_kv(_kv, 4), gpt_checks.reference_repeat_kv(_kv, 4), name="3 kv heads, n_rep 4")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 9: grouped-query attention with RoPE
#
# **Difficulty** 🔴🔴🔴🔴⚪ · **Importance** 🔵🔵🔵🔵🔵 · 4 points · about 30 minutes, then look at the hint.
#
# Now the whole attention sub-layer of a Llama model. It is 2.1's causal multi-head
# attention with three changes: keys and values have `n_kv_heads` heads, repeated with your
# `repeat_kv`; queries and keys are rotated with your `apply_rope` (positions 0..T-1) after
# the projection and before the dot product; and there are no biases. Scale the scores by
# $1/\sqrt{d_\text{head}}$ and mask the future as in 2.1.
#
# Shapes: `x` is `(batch, T, d_model)`; `W_q` is `(d_model, n_heads·d_head)`, `W_k` and `W_v`
# are `(d_model, n_kv_heads·d_head)`, `W_o` is `(n_heads·d_head, d_model)`, with
# `d_head = d_model // n_heads`.
#
# <details><summary>Hint</summary>
#
# **The idea.** Project, split heads, rotate q and k, repeat k and v, then the 2.1
# attention (scores, mask, softmax, weighted sum), merge heads, project out.
#
# **A pointer.** `.view(B, T, n, d_head).transpose(1, 2)` splits heads into
# `(B, n, T, d_head)`; `rope_tables(T, d_head, base)` gives the tables; the mask is
# `torch.ones(T, T, dtype=torch.bool).triu(1)` filled with `-inf` via `masked_fill`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "gqa_attention"} exercise={"difficulty": 4, "importance": 5, "minutes": 30}
def gqa_attention(x: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor, W_v: torch.Tensor, W_o: torch.Tensor,
                  n_heads: int, n_kv_heads: int, base: float = 10000.0) -> torch.Tensor:
    """Causal grouped-query self-attention with rotary embeddings, as LlamaAttention computes it.

    x: (batch, T, d_model). Returns (batch, T, d_model).
    """
    ### BEGIN SOLUTION
    B, T, d_model = x.shape
    d_head = d_model // n_heads
    q = (x @ W_q).view(B, T, n_heads, d_head).transpose(1, 2)
    k = (x @ W_k).view(B, T, n_kv_heads, d_head).transpose(1, 2)
    v = (x @ W_v).view(B, T, n_kv_heads, d_head).transpose(1, 2)
    cos, sin = rope_tables(T, d_head, base)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    k, v = repeat_kv(k, n_heads // n_kv_heads), repeat_kv(v, n_heads // n_kv_heads)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_head)
    scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    z = scores.softmax(dim=-1) @ v
    return z.transpose(1, 2).reshape(B, T, n_heads * d_head) @ W_o
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "gqa_attention_test", "points": 4}
def attn_weights(d_model, n_heads, n_kv, seed):
    d_head = d_model // n_heads
    return (rand(d_model, n_heads * d_head, seed=seed), rand(d_model, n_kv * d_head, seed=seed + 1),
            rand(d_model, n_kv * d_head, seed=seed + 2), rand(n_heads * d_head, d_model, seed=seed + 3))


xa = rand(2, 7, 32, scale=1.0, seed=23)
Wa = attn_weights(32, 8, 2, seed=24)
got = checks.call("gqa_attention", gqa_attention, xa, *Wa, 8, 2, case="d_model 32, 8 query heads, 2 kv heads, T 7")
checks.assert_shape("gqa_attention", got, (2, 7, 32))
want = gpt_checks.reference_llama_attention(xa, *Wa, 8, 2)
checks.assert_close("gqa_attention", got[:, :1], want[:, :1], name="position 0's output",
                    hint="position 0 attends only to itself and is not rotated: check the projections, "
                         "the head split and repeat_kv's order")
checks.assert_close("gqa_attention", got, want, name="the output vs LlamaAttention",
                    hint="rotate q and k (both) after splitting heads; mask the future; scale by 1/sqrt(d_head)")
print("gqa_attention: visible tests pass")
### BEGIN HIDDEN TESTS
for _d, _h, _kvh, _T, _b in [(16, 4, 4, 5, 10000.0), (24, 6, 1, 9, 10000.0), (32, 4, 2, 12, 500.0)]:
    _x = rand(1, _T, _d, scale=1.0, seed=_d + _T)
    _W = attn_weights(_d, _h, _kvh, seed=_h * 7)
    checks.assert_close("gqa_attention", gqa_attention(_x, *_W, _h, _kvh, _b),
                        gpt_checks.reference_llama_attention(_x, *_W, _h, _kvh, _b),
                        name=f"d_model {_d}, {_h} heads, {_kvh} kv heads, T {_T}, base {_b}",
                        hint="n_kv_heads == n_heads is plain multi-head attention; n_kv_heads == 1 is multi-query")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 10: what GQA saves
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 5 minutes, then look at the hint.
#
# Write the KV cache's size in bytes for one batch: keys *and* values, for every layer, KV
# head, position and sequence. The cell below then prints it for a Llama-2-70B-shaped model
# (80 layers, 64 query heads of 128 dimensions) at 4,096 tokens in bfloat16, with
# multi-head, grouped-query (8) and multi-query (1) attention.
#
# <details><summary>Hint</summary>
#
# **The idea.** A product of every size that the cache has one entry per, times two (K and
# V), times the bytes per number.
# </details>

# %% nbgrader={"solution": true, "grade_id": "kv_cache_bytes"} exercise={"difficulty": 1, "importance": 3, "minutes": 5}
def kv_cache_bytes(n_layers: int, n_kv_heads: int, d_head: int, seq_len: int, batch: int = 1,
                   bytes_per_value: int = 2) -> int:
    """Bytes held by a KV cache: keys and values of every layer, kv head, position and sequence."""
    ### BEGIN SOLUTION
    return 2 * n_layers * n_kv_heads * d_head * seq_len * batch * bytes_per_value
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "kv_cache_bytes_test", "points": 1}
checks.assert_equal("kv_cache_bytes", checks.call("kv_cache_bytes", kv_cache_bytes, 1, 1, 1, 1, case="one of everything"), 4,
                    name="kv_cache_bytes(1, 1, 1, 1)", hint="keys AND values (x2), 2 bytes each by default")
checks.assert_equal("kv_cache_bytes", kv_cache_bytes(2, 3, 4, 5, batch=6, bytes_per_value=1), 2 * 2 * 3 * 4 * 5 * 6,
                    name="kv_cache_bytes(2, 3, 4, 5, batch=6, bytes_per_value=1)", hint="use every argument once")
print("kv_cache_bytes: visible tests pass")
### BEGIN HIDDEN TESTS
checks.assert_equal("kv_cache_bytes", kv_cache_bytes(80, 8, 128, 4096), 1_342_177_280, name="Llama-2-70B shape, GQA 8")
checks.assert_equal("kv_cache_bytes", kv_cache_bytes(32, 32, 128, 100, batch=3, bytes_per_value=4), 314_572_800,
                    name="(32, 32, 128, 100, batch=3, 4 bytes)")
### END HIDDEN TESTS

# %%
try:
    for label, n_kv in (("multi-head (64 kv heads)", 64), ("grouped-query (8)", 8), ("multi-query (1)", 1)):
        print(f"{label:>26}: {kv_cache_bytes(80, n_kv, 128, 4096) / 2**30:6.2f} GiB per 4,096-token sequence")
except NotImplementedError:
    print("(implement kv_cache_bytes to see the table)")

# %% [markdown]
# Ten gibibytes per sequence with multi-head attention is why a 70B model with full KV heads
# could serve only a handful of long conversations per GPU; eight KV heads cut it eightfold,
# and Ainslie et al. report quality close to multi-head attention at that setting.

# %% [markdown]
# ## Exercise 11: a whole Llama decoder layer
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 15 minutes, then look at the hint.
#
# The block is 2.1's pre-norm residual block with the new parts swapped in:
#
# $$x \leftarrow x + \mathrm{GQA}(\mathrm{RMSNorm}_1(x)), \qquad x \leftarrow x + \mathrm{SwiGLU}(\mathrm{RMSNorm}_2(x)) .$$
#
# `p` holds `attn_norm`, `W_q`, `W_k`, `W_v`, `W_o`, `mlp_norm`, `W_gate`, `W_up`, `W_down`.
#
# <details><summary>Hint</summary>
#
# **The idea.** Two residual updates, each reading a normalised copy of the stream and adding
# its output back; every piece is one of your functions above.
#
# **A pointer.** Pass the `eps`, `n_heads`, `n_kv_heads` and `base` arguments through to
# the functions that take them.
# </details>

# %% nbgrader={"solution": true, "grade_id": "llama_layer"} exercise={"difficulty": 3, "importance": 5, "minutes": 15}
def llama_layer(x: torch.Tensor, p: dict, n_heads: int, n_kv_heads: int, eps: float = 1e-6,
                base: float = 10000.0) -> torch.Tensor:
    """One Llama decoder layer on x (batch, T, d_model), as LlamaDecoderLayer computes it."""
    ### BEGIN SOLUTION
    x = x + gqa_attention(rms_norm(x, p["attn_norm"], eps), p["W_q"], p["W_k"], p["W_v"], p["W_o"], n_heads, n_kv_heads,
                          base)
    return x + swiglu(rms_norm(x, p["mlp_norm"], eps), p["W_gate"], p["W_up"], p["W_down"])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "llama_layer_test", "points": 3}
def layer_params(d_model, n_heads, n_kv, d_mlp, seed):
    W_q, W_k, W_v, W_o = attn_weights(d_model, n_heads, n_kv, seed)
    return {"attn_norm": 1.0 + rand(d_model, scale=0.2, seed=seed + 10), "W_q": W_q, "W_k": W_k, "W_v": W_v, "W_o": W_o,
            "mlp_norm": 1.0 + rand(d_model, scale=0.2, seed=seed + 11), "W_gate": rand(d_model, d_mlp, seed=seed + 12),
            "W_up": rand(d_model, d_mlp, seed=seed + 13), "W_down": rand(d_mlp, d_model, seed=seed + 14)}


xl = rand(2, 6, 32, scale=1.0, seed=30)
pl = layer_params(32, 4, 2, 48, seed=31)
got = checks.call("llama_layer", llama_layer, xl, pl, 4, 2, case="d_model 32, 4 heads, 2 kv heads, d_mlp 48")
checks.assert_shape("llama_layer", got, (2, 6, 32))
checks.assert_close("llama_layer", got, gpt_checks.reference_llama_layer(xl, pl, 4, 2), name="the layer vs LlamaDecoderLayer",
                    hint="x + attn(rms_norm(x, attn_norm)), then + swiglu(rms_norm(x, mlp_norm)): each reads the UPDATED stream")
print("llama_layer: visible tests pass")
### BEGIN HIDDEN TESTS
_x = rand(1, 10, 24, scale=1.0, seed=40)
_p = layer_params(24, 6, 3, 40, seed=41)
checks.assert_close("llama_layer", llama_layer(_x, _p, 6, 3, eps=1e-5, base=1000.0),
                    gpt_checks.reference_llama_layer(_x, _p, 6, 3, eps=1e-5, base=1000.0),
                    name="eps 1e-5, base 1000, 6 heads, 3 kv heads", hint="pass eps and base through")
### END HIDDEN TESTS

# %% [markdown]
# ## Why this matters for safety
#
# The models that safety research studies now, and the ones it will have to audit, are built
# from these blocks, and each changes how an interpretability method reads them. With RoPE,
# no position vector is ever written into the residual stream: positional information lives
# only inside attention, so a probe for "position" on the stream finds something else, and a
# head's positional behaviour must be read from its rotated queries and keys. With RMSNorm
# there is no centring to fold away. With grouped-query attention, the heads of a group share
# keys and values, so head-level attributions and ablations of a key or value are shared too.
# Open interpretability tooling for today's models is built around exactly these details:
# Gemma Scope released sparse autoencoders for every layer of Gemma 2 (Lieberum et al. 2024,
# "Gemma Scope: Open Sparse Autoencoders Everywhere All At Once on Gemma 2"), a model with RMSNorm,
# RoPE and grouped-query attention. Knowing each line of the forward pass is what lets you tell a
# finding about the model from an artefact of a tool written for GPT-2.

# %% [markdown]
# ## Summary
#
# - RMSNorm divides by the root-mean-square and scales; it keeps the mean direction that
#   LayerNorm removes.
# - RoPE rotates pairs of query/key coordinates by position-proportional angles, so scores
#   depend on relative position only, with a soft decay with distance; `base` sets how far
#   the slowest pairs reach.
# - SwiGLU gates one projection with the SiLU of another; Llama sizes it at two thirds of
#   $4d$, rounded up.
# - Grouped-query attention shares each key/value head among a group of query heads:
#   `repeat_kv`, then ordinary attention, and a KV cache `n_heads / n_kv_heads` times smaller.
#
# **Papers.** Zhang and Sennrich 2019, "Root Mean Square Layer Normalization"; Su et al. 2021,
# "RoFormer: Enhanced Transformer with Rotary Position Embedding"; Shazeer 2020, "GLU Variants
# Improve Transformer"; Shazeer 2019, "Fast Transformer Decoding: One Write-Head is All You
# Need"; Ainslie et al. 2023, "GQA: Training Generalized Multi-Query Transformer Models from
# Multi-Head Checkpoints"; Touvron et al. 2023, "Llama 2". What is reproduced here: each block's
# forward pass, equal to `transformers`' Llama implementation to float32 precision, RoPE's
# relative-position property, and Llama 2's MLP width and KV-cache arithmetic; no model is trained.
#
# ## Going further (not graded)
#
# - Train 2.2's model twice on the standard-library corpus, once as GPT-2 and once with your
#   four blocks at the same parameter count. Which reaches the lower loss in the same time?
# - Write the KV-cached version of `gqa_attention` (2.2's `forward_with_cache`): what must the
#   cache store, rotated or unrotated keys?
# - RoPE scaling: Llama 3 raised `base` to 500,000 and later models interpolate positions
#   (Chen et al. 2023, "Extending Context Window of Large Language Models via Positional
#   Interpolation"). Plot `rope_scores` for a long range at both bases: what changes?
# - Some models apply RoPE to only part of each head (GPT-NeoX's `rotary_pct`). What does the
#   un-rotated part let a head do that a fully rotated one cannot?
# - Gemma adds 1 to its RMSNorm gain (`(1 + weight) * x_normed`). Why might a lab choose that
#   parameterisation, and what does it mean for weight decay?
# - Does a model with RoPE still represent absolute position anywhere in its residual stream?
#   Design a probe that would tell (and a control for it).

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 2.4`), else from `bootcamp check 2.4` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("2.4")
