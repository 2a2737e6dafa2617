# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "3.2"
#     title: Induction heads (replicating Olsson et al. 2022)
#     minutes: 315
#     prerequisites: ["3.1"]
# ---

# %% [markdown]
# # 3.2 Induction heads (replicating Olsson et al. 2022)
#
# Show a language model `... Harry Potter ... Harry` and it predicts `Potter`, even if it
# never saw that name in training. The mechanism is a pair of attention heads called an
# **induction head** circuit: a *previous-token head* in an early layer writes "the token
# before me was `Harry`" into each position, and an *induction head* in a later layer,
# sitting on the second `Harry`, looks for the position whose previous token was `Harry`
# (that is `Potter`) and copies it. Olsson et al. (2022, "In-context Learning and
# Induction Heads") argue that these heads are a large part of in-context learning in
# transformers of every size, and that they form in a sudden **phase change** during
# training. Elhage et al. (2021, "A Mathematical Framework for Transformer Circuits")
# worked out the circuit in two-layer attention-only models, the model of this lesson.
#
# You will find that circuit in a model the course trained from scratch on your CPU, and
# check every piece of the story with numbers:
#
# | claim | where you check it |
# |---|---|
# | the loss on repeated tokens drops suddenly during training (a phase change) | the shipped run's curve and your live run, exercises 3-4 |
# | layer 0 has previous-token heads, layer 1 has induction heads | attention scores, exercises 5-7 |
# | the induction heads read the previous-token heads through their **keys** (K-composition) | composition scores, exercises 8-10 |
# | the induction head's OV circuit copies, its QK circuit matches "token before the key" with "my token" | factored circuits, exercises 11-13 |
# | removing the induction heads destroys in-context copying; removing other heads does not | ablation with hooks, exercises 14-15 |
# | the previous-token heads matter at the keys' positions, not at the queries' (a control of matched size) | ablation at chosen positions, exercises 17-18 |
# | in-context learning (loss late in the context minus early) appears at the phase change | the ICL score over your live run, exercise 19 |
#
# **After this lesson you can**
# - generate the data that makes induction heads appear, and say why the obvious data does not;
# - measure the per-token loss on repeated text and read the phase change in a loss curve;
# - score every head as a previous-token or induction head from its attention pattern;
# - compute composition scores between heads from their weights alone, against a random baseline;
# - read a head's QK and OV circuits as low-rank `FactoredMatrix` objects;
# - test a circuit hypothesis by ablating heads with hooks, one at a time, in groups and at chosen
#   positions, against a control of matched size;
# - compute Olsson et al.'s in-context learning score and say what it shows on synthetic data and on text.
#
# **Prerequisites.** 3.1 (TransformerLens: `TransformerBridge`, `run_with_cache`, hook
# names, ablation with hooks). From 2.1 you know attention, `W_Q`, `W_K`, `W_V`, `W_O`
# and the residual stream.
#
# **Time.** About 5 hours 15 minutes: nineteen graded exercises (44 points, two of them
# investigations) and many pictures.
#
# **How the exercises work.** Each exercise explains an idea, then gives you a function
# whose body is `raise NotImplementedError`. Replace it and run the test cell below. A
# failing cell says what is wrong (shape, dtype, which element, by how much) and a likely
# cause. Hidden tests, run when your notebook is graded, probe edge cases (a batch of one,
# non-contiguous views, float64) and compare your numbers on the shipped model with
# quantities computed independently from the course's own model. From a terminal,
# `bootcamp check 3.2` runs the whole notebook and prints a table of every exercise.
# Each exercise says how hard it is (🔴, 1–5), how much it matters for the rest of the
# course (🔵, 1–5) and how long to try before opening the hint.
#
# Everything runs on a CPU, offline, in a few minutes. The model was trained by
# `python -m course.models.train induction-2l` (1,500 steps, one to two minutes on an idle
# core); `bootcamp reproduce induction-2l` retrains it and compares the numbers.

# %%
import math
import time
from dataclasses import replace
from importlib.metadata import version

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import course.models
from course import checks
from course.models import attn_only, registry, tlens

# One thread: the models are tiny, and one thread makes every run below repeat to the last bit.
torch.set_num_threads(1)
torch.set_printoptions(precision=4, sci_mode=False)

start = time.perf_counter()
import transformer_lens  # the only import of TransformerLens (it imports `transformers`: 7-15 s)
from transformer_lens import FactoredMatrix

print(f"transformer_lens {version('transformer_lens')} imported in {time.perf_counter() - start:.1f} s")

# %% [markdown]
# ## The model: attention and nothing else
#
# `course.models.attn_only.AttnOnlyTransformer` is about as small as a transformer gets:
# a token embedding `W_E`, a position embedding `W_pos`, two layers of four attention heads
# each (`d_model` 64, `d_head` 16), an unembedding `W_U`. **No MLPs, no LayerNorm, no biases.**
# The residual stream is then a sum of terms you can write down:
#
# $$x_0 = W_E[t] + W_{pos}, \qquad x_1 = x_0 + \sum_h A^{0,h} x_0 W_V^{0,h} W_O^{0,h}, \qquad
# x_2 = x_1 + \sum_h A^{1,h} x_1 W_V^{1,h} W_O^{1,h}, \qquad \text{logits} = x_2 W_U$$
#
# where $A^{l,h}$ is head $h$ of layer $l$'s attention pattern (a `T × T` matrix,
# each row a probability distribution over earlier positions). Each head has its own
# `W_Q[h]`, `W_K[h]`, `W_V[h]` of shape `(d_model, d_head)` and `W_O[h]` of shape
# `(d_head, d_model)`: the same layout as TransformerLens, so everything you learn here
# transfers. The file is short: read `course/models/attn_only.py` once.
#
# The vocabulary has 64 tokens: token 0 is **BOS** (beginning of sequence), and tokens
# 1-63 are meaningless symbols. The model has no language to learn; the only thing it
# can get better at is copying what it has already seen.

# %%
spec = registry.get("induction-2l")
model = course.models.load("induction-2l")
cfg = model.cfg
sidecar = spec.sidecar()
print(cfg)
print(f"{model.n_params():,} parameters; checkpoint {spec.size_bytes() / 1e3:.0f} kB ({sidecar['dtype']}); "
      f"trained in {sidecar['cpu_seconds']} s of CPU time")
print({name: tuple(p.shape) for name, p in model.named_parameters()})
print("shipped metrics:", sidecar["metrics"])

# The sequences every analysis below uses: 64 rows of BOS + 32 random tokens + the same 32 again
# (made by the course's own generator, the one exercise 1 asks you to write).
tokens = attn_only.repeated_tokens(64, 32, cfg.d_vocab, torch.Generator().manual_seed(1))
print("tokens:", tuple(tokens.shape), tokens[0, :8].tolist(), "...", tokens[0, 33:40].tolist(), "...")

# %% [markdown]
# ## Exercise 1: repeated random tokens
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# The standard test of an induction head is a sequence of random tokens followed by the
# same tokens again. Nothing in the first half can be predicted (the loss is about
# `ln 63 ≈ 4.14`), and everything in the second half can, *if* the model looks back:
#
# ```
# position   0    1   2   3   4    5   6   7   8
# token     BOS  17  42   5  33   17  42   5  33      seq_len = 4
#                 first half      |  repeated half
# ```
#
# At position 6 (token 42) an induction head attends to position 3, the token *after*
# the earlier 42, and predicts 5.
#
# Write `generate_repeated_tokens`. Draw the random tokens with exactly
# `torch.randint(1, d_vocab, (batch, seq_len), generator=generator)` (so BOS, token 0, never
# appears among them, and the test can check your draws).
#
# <details><summary>Hint</summary>
#
# **The idea.** A batch of random sequences, each followed by itself once more, behind a BOS token:
# in the second half, every next token can be predicted by looking back one period.
#
# **A pointer.** Draw tokens in `[1, d_vocab)` (0 is BOS) with the given generator, make a column
# of BOS, and concatenate along the sequence axis.
# </details>

# %% nbgrader={"solution": true, "grade_id": "generate_repeated_tokens"} exercise={"difficulty": 1, "importance": 4, "minutes": 10}
def generate_repeated_tokens(batch: int, seq_len: int, d_vocab: int, generator: torch.Generator) -> torch.Tensor:
    """BOS, then `seq_len` random tokens, then the same `seq_len` tokens again.

    The random tokens are torch.randint(1, d_vocab, (batch, seq_len), generator=generator).
    Returns int64 of shape (batch, 1 + 2 * seq_len); column 0 is BOS (token 0).
    """
    ### BEGIN SOLUTION
    first = torch.randint(1, d_vocab, (batch, seq_len), generator=generator)
    bos = torch.zeros(batch, 1, dtype=torch.long)
    return torch.cat([bos, first, first], dim=1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "generate_repeated_tokens_test", "points": 2}
got = checks.call("generate_repeated_tokens", generate_repeated_tokens, 3, 5, 64, torch.Generator().manual_seed(0),
                  case="batch 3, seq_len 5")
checks.assert_shape("generate_repeated_tokens", got, (3, 11), hint="BOS + seq_len + seq_len columns")
checks.assert_dtype("generate_repeated_tokens", got, torch.int64)
checks.assert_equal("generate_repeated_tokens", got[:, 0], torch.zeros(3, dtype=torch.long), name="column 0 (BOS)")
checks.assert_equal("generate_repeated_tokens", got[:, 6:], got[:, 1:6], name="the repeated half",
                    hint="the second half is the first half again, in the same order")
checks.assert_equal("generate_repeated_tokens", got[:, 1:6],
                    torch.randint(1, 64, (3, 5), generator=torch.Generator().manual_seed(0)), name="the first half",
                    hint="draw with exactly torch.randint(1, d_vocab, (batch, seq_len), generator=generator)")
### BEGIN HIDDEN TESTS
for _b, _s, _v, _seed in [(1, 1, 64, 1), (4, 32, 64, 2), (2, 7, 2, 3), (3, 0, 64, 4)]:
    _got = checks.call("generate_repeated_tokens", generate_repeated_tokens, _b, _s, _v,
                       torch.Generator().manual_seed(_seed), case=f"batch {_b}, seq_len {_s}, d_vocab {_v}")
    _want = attn_only.repeated_tokens(_b, _s, _v, torch.Generator().manual_seed(_seed))
    checks.assert_equal("generate_repeated_tokens", _got, _want, name=f"tokens (batch {_b}, seq_len {_s}, d_vocab {_v})",
                        hint="int64; BOS column first; with seq_len 0 the result is just the BOS column")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: training data that leaves no shortcut
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 15 minutes, then look at the hint.
#
# The obvious training set is the test itself: random tokens of length 32, repeated twice.
# **It fails.** Every repeated token is then exactly 32 positions after its first copy, so
# a single layer-0 head can learn to attend 31 positions back *by position alone* (its
# query at position 40 matches the key at position 9 through `W_pos`, whatever the tokens
# are). The loss on the repeated half falls through that positional shortcut, and no
# induction head ever forms (measured when the course was written, with the settings of
# `course/models/attn_only.py`; this notebook does not rerun it: the best induction score
# stayed near its value at initialisation).
#
# The course's model is trained on data where the shortcut does not exist: each row is a
# random block of `p` tokens, with the period `p` drawn **per row** from [8, 32], tiled to
# 64 tokens:
#
# ```
# p = 3:   BOS  7 51 20  7 51 20  7 51 20  7 ...
# p = 5:   BOS 12  3 60 44  9 12  3 60 44  9 ...
# ```
#
# A token repeats at a distance the model cannot know in advance, so the only way to
# predict it is to find the earlier copy of the current token by *content* and read what
# came next: induction. (A small initialisation and no LayerNorm matter too: with torch's
# default initialisation or a LayerNorm the phase change comes much later or not at all
# within the budget.)
#
# Write `periodic_tokens`. Draw, in this order, `periods = torch.randint(min_period,
# max_period + 1, (batch,), generator=generator)` and then the blocks
# `torch.randint(1, d_vocab, (batch, max_period), generator=generator)`; row `b` uses the
# first `periods[b]` tokens of its block: token `i` after BOS is `blocks[b, i % periods[b]]`.
#
# <details><summary>Hint</summary>
#
# `index = torch.arange(seq_len)[None, :] % periods[:, None]` is a `(batch, seq_len)` table
# of positions within each row's block; `blocks.gather(1, index)` reads them all at once.
# Then put the BOS column in front.
# </details>

# %% nbgrader={"solution": true, "grade_id": "periodic_tokens"} exercise={"difficulty": 2, "importance": 3, "minutes": 15}
def periodic_tokens(batch: int, seq_len: int, d_vocab: int, min_period: int, max_period: int,
                    generator: torch.Generator) -> torch.Tensor:
    """BOS, then a random block of period p (p drawn per row from [min_period, max_period]) tiled to seq_len.

    Draws periods = torch.randint(min_period, max_period + 1, (batch,), generator=generator),
    then blocks = torch.randint(1, d_vocab, (batch, max_period), generator=generator).
    Returns int64 (batch, 1 + seq_len): out[b, 0] = 0 (BOS), out[b, 1 + i] = blocks[b, i % periods[b]].
    """
    ### BEGIN SOLUTION
    periods = torch.randint(min_period, max_period + 1, (batch,), generator=generator)
    blocks = torch.randint(1, d_vocab, (batch, max_period), generator=generator)
    index = torch.arange(seq_len)[None, :] % periods[:, None]
    body = blocks.gather(1, index)
    return torch.cat([torch.zeros(batch, 1, dtype=torch.long), body], dim=1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "periodic_tokens_test", "points": 2}
got = checks.call("periodic_tokens", periodic_tokens, 6, 40, 64, 3, 9, torch.Generator().manual_seed(0),
                  case="batch 6, seq_len 40, periods 3..9")
checks.assert_shape("periodic_tokens", got, (6, 41), hint="BOS + seq_len columns")
checks.assert_dtype("periodic_tokens", got, torch.int64)
checks.assert_equal("periodic_tokens", got[:, 0], torch.zeros(6, dtype=torch.long), name="column 0 (BOS)")
_g = torch.Generator().manual_seed(0)
_periods = torch.randint(3, 10, (6,), generator=_g)
_blocks = torch.randint(1, 64, (6, 9), generator=_g)
for _b in range(6):
    _p = int(_periods[_b])
    checks.assert_equal("periodic_tokens", got[_b, 1 : 1 + _p], _blocks[_b, :_p],
                        name=f"row {_b}: its first period (p = {_p})",
                        hint="draw the periods first, then the blocks, each with generator=generator")
    checks.assert_equal("periodic_tokens", got[_b, 1 + _p :], got[_b, 1 : 41 - _p], name=f"row {_b} shifted by p = {_p}",
                        hint="token i after BOS is blocks[b, i % periods[b]]: the row repeats with period p")
### BEGIN HIDDEN TESTS
for _args in [(1, 64, 64, 8, 32, 1), (5, 4, 64, 8, 32, 2), (3, 20, 5, 4, 4, 3), (64, 64, 64, 8, 32, 4)]:
    _got = checks.call("periodic_tokens", periodic_tokens, *_args[:5], torch.Generator().manual_seed(_args[5]),
                       case=f"batch, seq_len, d_vocab, min_period, max_period = {_args[:5]}")
    _want = attn_only.periodic_tokens(*_args[:5], torch.Generator().manual_seed(_args[5]))
    checks.assert_equal("periodic_tokens", _got, _want, name=f"tokens for {_args[:5]}",
                        hint="also when seq_len is shorter than the period, and when min_period == max_period")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: the loss at every position
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 2 points · about 10 minutes, then look at the hint.
#
# A training loss averages over positions; to see in-context learning you need the loss
# **per position**: the logits at position `t` predict the token at `t + 1`, so from
# `(B, T, V)` logits and `(B, T)` tokens you get `(B, T - 1)` losses
#
# $$\ell_{b,t} = -\log \operatorname{softmax}(\text{logits}_{b,t})[\text{tokens}_{b,t+1}].$$
#
# Use `log_softmax` (it subtracts the maximum first, so large logits do not overflow) and
# `gather` to pick the right token's log-probability. Keep the dtype of the logits.
#
# <details><summary>Hint</summary>
#
# **The idea.** Position `i`'s logits predict token `i + 1`, so the last position predicts nothing
# and the first token is never predicted. The loss is minus the log-probability of the true next
# token.
#
# **A pointer.** Drop the last position of the logits and the first of the tokens. `log_softmax`
# over the vocabulary, then pick each position's true token with `gather` (it wants an index with
# the same number of dimensions as the input).
# </details>

# %% nbgrader={"solution": true, "grade_id": "per_token_loss"} exercise={"difficulty": 2, "importance": 5, "minutes": 10}
def per_token_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of predicting each next token.

    logits: float (B, T, V); tokens: int64 (B, T).
    Returns (B, T - 1), the dtype of `logits`: out[b, t] = -log softmax(logits[b, t])[tokens[b, t + 1]].
    """
    ### BEGIN SOLUTION
    logprobs = logits[:, :-1].log_softmax(dim=-1)
    return -logprobs.gather(-1, tokens[:, 1:, None])[..., 0]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "per_token_loss_test", "points": 2}
torch.manual_seed(0)
_logits, _tokens = torch.randn(2, 6, 10), torch.randint(0, 10, (2, 6))
got = checks.call("per_token_loss", per_token_loss, _logits, _tokens, case="random logits (2, 6, 10)")
checks.assert_shape("per_token_loss", got, (2, 5), hint="T - 1 losses per row: the last position predicts nothing")
_want = F.cross_entropy(_logits[:, :-1].reshape(-1, 10), _tokens[:, 1:].reshape(-1), reduction="none").view(2, 5)
checks.assert_close("per_token_loss", got, _want, atol=1e-5,
                    hint="logits at position t are scored against the token at t + 1, not t")
### BEGIN HIDDEN TESTS
_big = torch.randn(3, 8, 5, dtype=torch.float64) * 1e4
_tk = torch.randint(0, 5, (3, 8))
_got = checks.call("per_token_loss", per_token_loss, _big, _tk, case="float64 logits of size 1e4")
checks.assert_dtype("per_token_loss", _got, torch.float64, hint="keep the logits' dtype")
checks.assert_close("per_token_loss", _got, attn_only.per_token_loss(_big, _tk), name="loss of huge logits",
                    hint="log_softmax, not log(softmax): softmax underflows to 0 for logits this large")
_nc = torch.randn(5, 4, 7).transpose(0, 1)  # (4, 5, 7), not contiguous
_tk = torch.randint(0, 7, (4, 5))
checks.assert_close("per_token_loss", per_token_loss(_nc, _tk), attn_only.per_token_loss(_nc, _tk),
                    name="a non-contiguous view", atol=1e-5)
checks.assert_shape("per_token_loss", per_token_loss(torch.randn(1, 1, 3), torch.zeros(1, 1, dtype=torch.long)), (1, 0),
                    name="a single position")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: the loss on each half
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# On a sequence `BOS, a_1 .. a_n, a_1 .. a_n` (`n = seq_len`) the per-token loss has `2n`
# columns; column `t` predicts the token at position `t + 1`. Two kinds of positions are
# meaningful:
#
# - **first half**: predicting `a_2 .. a_n` (columns `1 .. n-1`), where nothing can be
#   known; `a_1` right after BOS is left out, as it is unpredictable in every half;
# - **repeated half**: predicting the second `a_2 .. a_n` (columns `n+1 .. 2n-1`), where
#   the model has seen each token, after the same token, before. The second `a_1` (column
#   `n`) is left out: it follows `a_n`, which never preceded `a_1` before.
#
# Write `loss_by_half`, returning the two means (over the batch and those columns) as a
# tensor `[first, repeated]`. The test then checks the shipped model: the repeated half
# should be nearly free.
#
# <details><summary>Hint</summary>
#
# `loss[:, 1:n].mean()` and `loss[:, n + 1:].mean()`, stacked with `torch.stack`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "loss_by_half"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def loss_by_half(loss: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Mean loss on the first and on the repeated half of BOS + 2 x seq_len tokens.

    loss: float (B, 2 * seq_len), column t = loss of predicting the token at position t + 1.
    Returns float (2,), the dtype of `loss`: [mean of columns 1 .. seq_len - 1,
    mean of columns seq_len + 1 .. 2 * seq_len - 1], each over the whole batch.
    """
    ### BEGIN SOLUTION
    return torch.stack([loss[:, 1:seq_len].mean(), loss[:, seq_len + 1 :].mean()])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "loss_by_half_test", "points": 2}
_ref_model = course.models.load("induction-2l")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_ramp = torch.arange(8.0).repeat(2, 1)  # columns 0..7, seq_len 4
got = checks.call("loss_by_half", loss_by_half, _ramp, 4, case="a ramp 0..7, seq_len 4")
checks.assert_shape("loss_by_half", got, (2,))
checks.assert_close("loss_by_half", got, torch.tensor([2.0, 6.0]),
                    hint="first half: columns 1, 2, 3 (mean 2); repeated half: columns 5, 6, 7 (mean 6)")
with torch.no_grad():
    _halves = loss_by_half(attn_only.per_token_loss(_ref_model(tokens), tokens), 32)
print(f"shipped model: first half {_halves[0]:.3f}, repeated half {_halves[1]:.3f} nats")
checks.assert_true("loss_by_half", _halves[0] > 3.5 and _halves[1] < 1.0,
                   f"on the shipped model expected first half > 3.5 and repeated half < 1.0, got {_halves.tolist()}")
### BEGIN HIDDEN TESTS
_l = torch.rand(3, 10, dtype=torch.float64)
_got = checks.call("loss_by_half", loss_by_half, _l, 5, case="float64 losses, seq_len 5")
checks.assert_dtype("loss_by_half", _got, torch.float64)
checks.assert_close("loss_by_half", _got, torch.stack([_l[:, 1:5].mean(), _l[:, 6:].mean()]), name="halves, seq_len 5")
_l = torch.rand(12, 4).T  # (4, 12): non-contiguous, seq_len 6
checks.assert_close("loss_by_half", loss_by_half(_l, 6), torch.stack([_l[:, 1:6].mean(), _l[:, 7:].mean()]),
                    name="halves of a non-contiguous view")
_tok = attn_only.repeated_tokens(32, 32, 64, torch.Generator().manual_seed(5))
with torch.no_grad():
    _ref = attn_only.evaluate(_ref_model, _tok, 32)
    _got = loss_by_half(attn_only.per_token_loss(_ref_model(_tok), _tok), 32)
checks.assert_close("loss_by_half", _got, torch.tensor([_ref["first_half_loss"], _ref["repeated_loss"]]), atol=1e-4,
                    name="the shipped model's halves")
### END HIDDEN TESTS

# %% [markdown]
# Here is the loss at every position, averaged over 64 sequences. Left of the dashed line
# the model guesses; right of it, after one token of delay, it copies. The first half is
# even a little *worse* than a uniform guess: trained on data in which everything
# repeats, the model bets on repeats that do not come.

# %%
with torch.no_grad():
    position_loss = per_token_loss(model(tokens), tokens)
shipped_halves = loss_by_half(position_loss, 32)
print(f"first half {shipped_halves[0]:.3f} nats, repeated half {shipped_halves[1]:.3f} nats")
position_loss = position_loss.mean(0)
fig, ax = plt.subplots(figsize=(8, 3))
ax.plot(range(1, 65), position_loss, marker=".")
ax.axvline(32.5, ls="--", c="gray")
ax.axhline(math.log(63), ls=":", c="gray", label="uniform guess, ln 63")
ax.set(xlabel="position of the predicted token", ylabel="loss (nats)",
       title="Shipped model, random tokens repeated twice")
ax.legend()
plt.show()

# %% [markdown]
# ## The phase change
#
# The shipped run evaluated the model every 25 steps on fixed repeated sequences; the
# sidecar keeps that curve. For about 200 steps the loss on the repeated half barely moves
# (the model learns little more than which tokens are common); then, within the next 200
# steps, it collapses (the cell below prints the shipped curve at steps 200, 400 and the
# end), and slowly improves after that. Olsson et al. saw the same sudden change, as a bump
# in the training loss, in every model with more than one layer that they trained on text.
#
# Below, **your** `periodic_tokens` trains a fresh model with the shipped run's settings
# (seed 0, AdamW lr 3e-3, batch 64) for 400 steps, about 30 s: enough to see the curve
# start to fall. If your data generator draws exactly as specified, your curve lies on top
# of the shipped one. At every evaluation the run also keeps the loss at every position on
# two fixed batches, one of training-like periodic rows and one of Python source (exercise
# 19 reads them: the in-context learning score of Olsson et al.).
#
# ### Predict, then look
#
# Before you run the next two cells, commit to two guesses about the shipped run's curve over
# its 1,500 steps (not graded: the cell after the plot compares them with the data, and a
# guess is only worth something if you write it first):
#
# 1. `PREDICT_SHAPE`: the loss on the repeated half falls `"steadily"` (about as much in every
#    stretch of training) or `"suddenly"` (more than half of its whole fall within 200 steps)?
# 2. `PREDICT_FIRST_HALF`: by the end, is the loss on the *first* half, which has nothing to
#    copy, `"lower"` than at step 0, about the `"same"`, or `"higher"`?

# %%
PREDICT_SHAPE = None       # "steadily" or "suddenly"
PREDICT_FIRST_HALF = None  # "lower", "same" or "higher"

# %%
icl_batches = {
    "periodic": attn_only.periodic_tokens(256, 64, cfg.d_vocab, 8, 32, torch.Generator().manual_seed(11)),
    "text": attn_only.text_tokens(256, 64, cfg.d_vocab, torch.Generator().manual_seed(12)),
}


def keep_position_losses(m, step):
    """Called by the training loop at every evaluation: the per-token loss (256, 64) on each batch."""
    return {name: attn_only.per_token_loss(m(batch), batch) for name, batch in icl_batches.items()}


live_steps = 400
live_model, live_record = attn_only.train(cfg, replace(spec.train, steps=live_steps), desc="live training",
                                          batch_fn=periodic_tokens, on_eval=keep_position_losses)
live = live_record["curve"]
print(f"{live_steps} steps in {live_record['seconds']} s ({live_record['cpu_seconds']} s of CPU); repeated-half loss "
      f"{live['repeated_loss'][0]:.2f} -> {live['repeated_loss'][-1]:.2f}")

# %%
curve = sidecar["curve"]
best_induction = [max(scores[1]) for scores in curve["induction_scores"]]
for half in ("repeated_loss", "first_half_loss"):
    print(f"shipped run, {half}:", {f"step {s}": curve[half][curve["step"].index(s)] for s in (0, 200, 400, curve["step"][-1])})
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.5))
ax1.plot(curve["step"], curve["first_half_loss"], label="shipped: first half")
ax1.plot(curve["step"], curve["repeated_loss"], label="shipped: repeated half")
ax1.plot(live["step"], live["repeated_loss"], "--", label="your live run: repeated half")
ax1.axvline(sidecar["metrics"]["phase_change_step"], c="gray", ls=":")
ax1.set(xlabel="training step", ylabel="loss (nats)", title="Loss on repeated random tokens")
ax1.legend(fontsize=8)
ax2.plot(curve["step"], best_induction, c="C3", label="best layer-1 induction score")
ax2.plot(curve["step"], [max(s[0]) for s in curve["prev_token_scores"]], c="C4", label="best layer-0 prev-token score")
ax2.axvline(sidecar["metrics"]["phase_change_step"], c="gray", ls=":")
ax2.set(xlabel="training step", ylabel="attention score", ylim=(0, 1), title="Head scores during training")
ax2.legend(fontsize=8)
plt.show()

# %%
_rep, _steps = np.array(curve["repeated_loss"]), np.array(curve["step"])
_total = _rep[0] - _rep[-1]
_window = max(_rep[i] - _rep[np.searchsorted(_steps, s + 200, side="right") - 1] for i, s in enumerate(_steps))
_shape = "suddenly" if _window > _total / 2 else "steadily"
_first = curve["first_half_loss"][-1] - curve["first_half_loss"][0]
_first_says = "lower" if _first < -0.1 else "higher" if _first > 0.1 else "same"
print(f"repeated half: {_window / _total:.0%} of its whole fall ({_total:.2f} nats) happened within 200 steps, so it fell "
      f"{_shape!r}; you predicted {PREDICT_SHAPE!r}")
print(f"first half: {curve['first_half_loss'][0]:.2f} -> {curve['first_half_loss'][-1]:.2f} nats, {_first_says!r}; "
      f"you predicted {PREDICT_FIRST_HALF!r}")
if PREDICT_SHAPE is None or PREDICT_FIRST_HALF is None:
    print("(no prediction written: next time, write it before you run the cells that draw the plot)")

# %% [markdown]
# The right panel uses the head scores of exercises 5 and 6 (computed during training by
# the course's own code): the loss falls exactly when the induction score jumps. That
# coincidence is Olsson et al.'s first argument, here in miniature. Now the detective work:
# *which* heads, and how do they work?

# %% [markdown]
# ## Why this matters for safety
#
# Olsson et al. (2022), "In-context Learning and Induction Heads", argue that induction heads are a
# large part of how transformers learn from their context, and a phase change like the one you just
# watched is their main evidence: the heads and the in-context learning ability appear together, in
# a narrow window of training. For safety this is a small, fully understood case of a capability
# that arrives abruptly; predicting such transitions from a model's internals, rather than noticing
# them afterwards, is what progress measures (lesson 4.1) aim at. In-context learning is also a
# channel for misuse: Anil et al. (2024), "Many-shot Jailbreaking", showed that a long prompt full
# of faked dialogues can override a model's safety training, more reliably the more examples it
# holds. Knowing the mechanism by which models use their context is one route to defences that do
# not depend on spotting each new prompt.

# %% [markdown]
# ## Into TransformerLens
#
# `tlens.attn_only_bridge(model)` builds a `TransformerBridge` (3.1) around a copy of the
# weights: the same logits, plus caches and hooks under the usual names. Each attention
# pattern is in the cache as `blocks.{layer}.attn.hook_pattern`, shape
# `(batch, head, query position, key position)`.

# %%
bridge = tlens.attn_only_bridge(model)
with torch.no_grad():
    bridge_logits, cache = bridge.run_with_cache(tokens)
    print("max |bridge - model| logits:", (bridge_logits - model(tokens)).abs().max().item())
patterns = [cache[f"blocks.{layer}.attn.hook_pattern"] for layer in range(cfg.n_layers)]
print("pattern shape:", tuple(patterns[0].shape))

fig, axes = plt.subplots(2, 4, figsize=(13, 6.5))
for layer in range(2):
    for head in range(4):
        ax = axes[layer, head]
        ax.imshow(patterns[layer][0, head], cmap="Blues", vmin=0, vmax=1)
        ax.set_title(f"L{layer}H{head}", fontsize=9)
        ax.set_xticks([0, 32, 64])
        ax.set_yticks([0, 32, 64])
fig.suptitle("Attention patterns on one repeated sequence (rows: query position, columns: key position)")
plt.tight_layout()
plt.show()

# %% [markdown]
# Two kinds of stripes are visible. In the first half, three layer-0 heads put all their
# weight just below the diagonal: each position attends to the **previous** position.
# Layer-1 heads, in the second half, put it on a stripe `seq_len - 1` below the diagonal:
# position `t` attends to `t - 31`, the token *after* the earlier copy of the current
# token. (In the repeated half the layer-0 heads' attention spreads out. The circuit does
# not need them there: the keys an induction head reads, "my previous token was `a`",
# are at the earlier copy, in the first half.) Exercises 5 and 6 turn those stripes into
# numbers.
#
# ## Exercise 5: previous-token score
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# A head's **previous-token score** is its mean attention from each position to the one
# before it: the mean of `pattern[b, h, t, t - 1]` over the batch and over `t = 1 .. T-1`
# (position 0 has no previous position). A perfect previous-token head scores 1.
#
# <details><summary>Hint</summary>
#
# **The idea.** A previous-token head puts its attention of each position on the position just
# before it: average, over the batch and the positions, the attention from `t + 1` to `t`.
#
# **A pointer.** Those entries lie on the diagonal just below the main one; `diagonal` takes an
# offset and the two axes to read it from. Average over everything but the head axis.
# </details>

# %% nbgrader={"solution": true, "grade_id": "prev_token_score"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def prev_token_score(pattern: torch.Tensor) -> torch.Tensor:
    """Mean attention to the previous position, per head.

    pattern: float (B, H, T, T), pattern[b, h, query, key], T >= 2.
    Returns float (H,), the dtype of `pattern`: mean over b and t = 1 .. T-1 of pattern[b, h, t, t - 1].
    """
    ### BEGIN SOLUTION
    return pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, -1))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "prev_token_score_test", "points": 2}
_ref_model = course.models.load("induction-2l")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
T = 6
_prev = torch.zeros(T, T)
_prev[0, 0] = 1
_prev[torch.arange(1, T), torch.arange(T - 1)] = 1  # every position on the previous one
_uniform = torch.tril(torch.ones(T, T))
_uniform = _uniform / _uniform.sum(-1, keepdim=True)  # position t spreads 1/(t+1) over 0..t
_bos = torch.zeros(T, T)
_bos[:, 0] = 1  # everything on BOS
_hand = torch.stack([_prev, _uniform, _bos])[None]  # (1, 3, T, T)
got = checks.call("prev_token_score", prev_token_score, _hand, case="three hand-made heads")
checks.assert_shape("prev_token_score", got, (3,), hint="one score per head: average over the batch and positions")
checks.assert_close("prev_token_score", got, torch.tensor([1.0, sum(1 / (t + 1) for t in range(1, T)) / (T - 1), 1 / (T - 1)]),
                    atol=1e-6, hint="head 0 always attends to t - 1 (score 1); head 1 is uniform (1/(t+1) at t); "
                    "head 2 attends to BOS, which is the previous position only for t = 1")
### BEGIN HIDDEN TESTS
torch.manual_seed(2)
_p = torch.randn(3, 5, 9, 9, dtype=torch.float64).masked_fill(torch.ones(9, 9).triu(1).bool(), -1e9).softmax(-1)
_got = checks.call("prev_token_score", prev_token_score, _p, case="random float64 patterns (3, 5, 9, 9)")
checks.assert_dtype("prev_token_score", _got, torch.float64)
checks.assert_close("prev_token_score", _got, torch.stack([_p[:, :, t, t - 1] for t in range(1, 9)], -1).mean((0, 2)),
                    name="scores of random patterns")
_pt = _p.transpose(0, 1)  # non-contiguous: heads and batch swapped
checks.assert_close("prev_token_score", prev_token_score(_pt), torch.stack([_pt[:, :, t, t - 1] for t in range(1, 9)], -1).mean((0, 2)),
                    name="scores of a non-contiguous view")
_tok = attn_only.repeated_tokens(8, 32, 64, torch.Generator().manual_seed(6))
with torch.no_grad():
    _ref_prev, _ = attn_only.head_scores(_ref_model.run_with_patterns(_tok)[1], 32)
    _, _c = bridge.run_with_cache(_tok)
for _layer in range(2):
    checks.assert_close("prev_token_score", prev_token_score(_c[f"blocks.{_layer}.attn.hook_pattern"]), _ref_prev[_layer],
                        atol=1e-4, name=f"the shipped model's layer-{_layer} scores")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: induction score
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 15 minutes, then look at the hint.
#
# On `BOS, a_1 .. a_n, a_1 .. a_n`, the query at position `t` of the repeated half
# (`t = n+1 .. 2n`) holds the token that first appeared at `t - n`. An induction head
# attends to the position **after** that first copy: `t - n + 1`. The **induction score**
# is the mean of `pattern[b, h, t, t - n + 1]` over the batch and `t = n+1 .. 2n`.
#
# Careful with the off-by-one: a head that attends to `t - n` (the earlier copy of the
# *same* token, a "duplicate-token head") is not an induction head, and scores 0 here.
#
# <details><summary>Hint</summary>
#
# The entries `[t, t - (n - 1)]` lie on the diagonal at `offset=-(seq_len - 1)`. That
# diagonal starts at query `n - 1`; the repeated half starts two entries later, so take
# `[..., 2:]` of it. Or index directly: `q = torch.arange(n + 1, 2 * n + 1)`,
# `pattern[:, :, q, q - n + 1]`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "induction_score"} exercise={"difficulty": 3, "importance": 5, "minutes": 15}
def induction_score(pattern: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Mean attention from each repeated token to the token after its first occurrence, per head.

    pattern: float (B, H, T, T) on sequences BOS + 2 x seq_len tokens (T = 1 + 2 * seq_len), seq_len >= 2.
    Returns float (H,), the dtype of `pattern`: the mean over b and t = seq_len + 1 .. 2 * seq_len
    of pattern[b, h, t, t - seq_len + 1].
    """
    ### BEGIN SOLUTION
    q = torch.arange(seq_len + 1, 2 * seq_len + 1)
    return pattern[:, :, q, q - seq_len + 1].mean(dim=(0, -1))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "induction_score_test", "points": 3}
_ref_model = course.models.load("induction-2l")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
n = 4
T = 2 * n + 1
_q = torch.arange(n + 1, T)
_ind = torch.zeros(T, T)
_ind[:, 0] = 1
_ind[_q] = 0
_ind[_q, _q - n + 1] = 1  # the repeated half attends to the token after the first copy
_dup = torch.zeros(T, T)
_dup[:, 0] = 1
_dup[_q] = 0
_dup[_q, _q - n] = 1  # ... to the first copy itself: a duplicate-token head
_prev9 = torch.zeros(T, T)
_prev9[0, 0] = 1
_prev9[torch.arange(1, T), torch.arange(T - 1)] = 1
_hand = torch.stack([_ind, _dup, _prev9, torch.zeros(T, T).index_fill_(1, torch.tensor([0]), 1.0)])[None]
got = checks.call("induction_score", induction_score, _hand, n, case="four hand-made heads, seq_len 4")
checks.assert_shape("induction_score", got, (4,))
checks.assert_true("induction_score", not (got[1] > 0.99 and got[0] < 0.01),
                   "your score gives the duplicate-token head (attending to t - seq_len, the earlier copy of the same "
                   "token) 1 and the induction head 0: an induction head attends one position further, to t - seq_len + 1")
checks.assert_close("induction_score", got, torch.tensor([1.0, 0.0, 0.0, 0.0]), atol=1e-6,
                    hint="head 0 is a perfect induction head (key t - seq_len + 1); head 1 attends to t - seq_len, "
                         "the same token, which does not count; heads 2 and 3 are previous-token and BOS heads")
for _q, _where in [(n + 1, "first"), (2 * n, "last")]:
    _one = torch.zeros(T, T)
    _one[:, 0] = 1
    _one[_q] = 0
    _one[_q, _q - n + 1] = 1  # induction only at one query position of the repeated half
    checks.assert_close("induction_score", induction_score(_one[None, None], n), torch.tensor([1 / n]), atol=1e-6,
                        name=f"a head that does induction only at the {_where} position of the repeated half",
                        hint=f"average over all {n} queries t = seq_len + 1 .. 2 * seq_len, both ends included")
induction_scores = torch.stack([induction_score(p, 32) for p in patterns])  # (layer, head)
print("induction scores (rows: layers):\n", induction_scores)
checks.assert_true("induction_score", induction_scores[1].min() > 0.5 > 0.1 > induction_scores[0].max(),
                   "on the shipped model expected every layer-1 head above 0.5 and every layer-0 head below 0.1, "
                   f"got {induction_scores.tolist()}")
### BEGIN HIDDEN TESTS
torch.manual_seed(3)
_T = 2 * 6 + 1
_p = torch.randn(2, 3, _T, _T, dtype=torch.float64).masked_fill(torch.ones(_T, _T).triu(1).bool(), -1e9).softmax(-1)
_got = checks.call("induction_score", induction_score, _p, 6, case="random float64 patterns, seq_len 6")
checks.assert_dtype("induction_score", _got, torch.float64)
checks.assert_close("induction_score", _got, torch.stack([_p[:, :, t, t - 5] for t in range(7, 13)], -1).mean((0, 2)),
                    name="scores of random patterns (seq_len 6)")
_pt = _p.transpose(0, 1)
checks.assert_close("induction_score", induction_score(_pt, 6),
                    torch.stack([_pt[:, :, t, t - 5] for t in range(7, 13)], -1).mean((0, 2)), name="a non-contiguous view")
_T = 2 * 2 + 1
_p = torch.rand(1, 2, _T, _T)
checks.assert_close("induction_score", induction_score(_p, 2), (_p[:, :, 3, 2] + _p[:, :, 4, 3]).mean(0) / 2,
                    name="seq_len 2")
_tok = attn_only.repeated_tokens(8, 32, 64, torch.Generator().manual_seed(7))
with torch.no_grad():
    _, _ref_ind = attn_only.head_scores(_ref_model.run_with_patterns(_tok)[1], 32)
    _, _c = bridge.run_with_cache(_tok)
for _layer in range(2):
    checks.assert_close("induction_score", induction_score(_c[f"blocks.{_layer}.attn.hook_pattern"], 32),
                        _ref_ind[_layer], atol=1e-4, name=f"the shipped model's layer-{_layer} scores")
### END HIDDEN TESTS

# %% [markdown]
# Both scores for every head, as heatmaps:

# %%
def score_heatmap(ax, scores, title):
    ax.imshow(scores, cmap="Reds", vmin=0, vmax=1)
    for (layer, head), value in np.ndenumerate(scores.numpy()):
        ax.text(head, layer, f"{value:.2f}", ha="center", va="center", fontsize=10)
    ax.set(xticks=range(scores.shape[1]), yticks=range(scores.shape[0]), xlabel="head", ylabel="layer", title=title)


prev_scores = torch.stack([prev_token_score(p) for p in patterns])  # (layer, head)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 2.8))
score_heatmap(ax1, prev_scores, "previous-token score")
score_heatmap(ax2, induction_scores, "induction score")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Exercise 7: name the heads
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 5 minutes, then look at the hint.
#
# Turn a `(n_layers, n_heads)` table of scores into the list of heads above a threshold,
# as `(layer, head)` pairs of Python ints, **highest score first**. We use it to name the
# previous-token heads (layer-0 prev-token score above 0.3) and the induction heads
# (induction score above 0.3).
#
# <details><summary>Hint</summary>
#
# `torch.nonzero(scores > threshold)` lists the `(layer, head)` index pairs; sort them
# with `key=lambda lh: -scores[lh]`, and convert each entry with `int(...)`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "find_heads"} exercise={"difficulty": 1, "importance": 3, "minutes": 5}
def find_heads(scores: torch.Tensor, threshold: float) -> list[tuple[int, int]]:
    """The heads whose score is above `threshold`, highest first.

    scores: float (n_layers, n_heads). Returns a list of (layer, head) tuples of Python ints,
    sorted by decreasing score (ties: lower layer, then lower head, first); [] when none.
    """
    ### BEGIN SOLUTION
    found = [(int(layer), int(head)) for layer, head in torch.nonzero(scores > threshold)]
    return sorted(found, key=lambda lh: (-float(scores[lh]), lh))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "find_heads_test", "points": 1}
_ref_model = course.models.load("induction-2l")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
got = checks.call("find_heads", find_heads, torch.tensor([[0.1, 0.9, 0.0], [0.5, 0.2, 0.7]]), 0.4, case="a 2 x 3 table")
checks.assert_equal("find_heads", got, [(0, 1), (1, 2), (1, 0)], hint="(layer, head) pairs above 0.4, highest score first")
checks.assert_true("find_heads", all(type(x) is int for pair in got for x in pair),
                   "the pairs should hold Python ints, not tensors", hint="int(layer), int(head)")
checks.assert_equal("find_heads", find_heads(torch.zeros(2, 4), 0.5), [], name="no head above the threshold")
checks.assert_equal("find_heads", find_heads(torch.tensor([[0.5, 0.7]]), 0.5), [(0, 1)], name="a score equal to the threshold",
                    hint="strictly above the threshold: a score of exactly 0.5 is not above 0.5")
with torch.no_grad():
    _ref_prev, _ref_ind = attn_only.head_scores(_ref_model.run_with_patterns(tokens)[1], 32)
_found = find_heads(_ref_ind, 0.3)
_others = [_ref_ind[lh] for lh in np.ndindex(2, 4) if lh not in _found]
checks.assert_true("find_heads", len(_found) > 0 and min(_ref_ind[lh] for lh in _found) > 3 * max(_others),
                   "the induction heads of the shipped model should score far above every other head",
                   details=[f"found {_found}; scores {_ref_ind.tolist()}"])
### BEGIN HIDDEN TESTS
_s = torch.tensor([[0.3, 0.8, 0.8], [0.8, 0.31, 0.1]], dtype=torch.float64)
_got = checks.call("find_heads", find_heads, _s, 0.3, case="ties and a score equal to the threshold")
checks.assert_equal("find_heads", _got, [(0, 1), (0, 2), (1, 0), (1, 1)],
                    hint="strictly above the threshold; equal scores in (layer, head) order")
checks.assert_equal("find_heads", find_heads(torch.tensor([[0.9]]), 0.5), [(0, 0)], name="a single head")
checks.assert_equal("find_heads", find_heads(torch.rand(6, 2).T, 2.0), [], name="a non-contiguous table, none above")
_t = torch.rand(4, 3).T
checks.assert_equal("find_heads", find_heads(_t, 0.5),
                    sorted([(a, b) for a in range(3) for b in range(4) if _t[a, b] > 0.5], key=lambda lh: -float(_t[lh])),
                    name="a non-contiguous table")
### END HIDDEN TESTS

# %%
induction_heads = find_heads(induction_scores, 0.3)
prev_token_heads = find_heads(prev_scores[:1], 0.3)  # layer 0 only
print("induction heads:", induction_heads, "| previous-token heads:", prev_token_heads)

# %% [markdown]
# ## How the heads talk: composition
#
# Attention heads communicate only through the residual stream: a layer-0 head writes
# `x W_V W_O` into it, and a layer-1 head reads it through one of three doors. Write the
# two low-rank `d_model × d_model` matrices of a head (TransformerLens's convention: row
# vectors, `x @ W`):
#
# $$W_{OV}^h = W_V^h W_O^h, \qquad W_{QK}^h = W_Q^h (W_K^h)^\top, \qquad
# \text{score}(x_q, x_k) = x_q W_{QK} x_k^\top .$$
#
# A layer-1 head can use what a layer-0 head wrote in its **queries** (Q-composition), its
# **keys** (K-composition) or its **values** (V-composition). The induction circuit is
# K-composition: the key at position `j` must contain "my previous token was `A`", and
# that is exactly what a previous-token head writes at `j`. If a layer-0 head's output
# `y W_{OV}` feeds the keys, the score becomes `x_q W_{QK} (y W_{OV})^\top =
# x_q W_{QK} W_{OV}^\top y^\top`, so the matrix that matters is `W_{OV}^\top` next to
# `W_{QK}`, or, transposing the whole thing, the product $W_{OV}^{0,i}\,(W_{QK}^{1,j})^\top$.
#
# Elhage et al. measure how much of one matrix "goes through" the other with the
# **composition score**
#
# $$\text{comp}(W_A, W_B) = \frac{\lVert W_A W_B \rVert_F}{\lVert W_A \rVert_F\, \lVert W_B \rVert_F}$$
#
# (Frobenius norms). It is 1 when `W_A`'s output space is `W_B`'s input space and both are
# rank one, and 0 when they are orthogonal:
#
# - Q-composition: `comp(W_OV[0, i], W_QK[1, j])`
# - K-composition: `comp(W_OV[0, i], W_QK[1, j].T)`
# - V-composition: `comp(W_OV[0, i], W_OV[1, j])`

# %%
from course import diagrams

diagrams.induction_circuit()
plt.show()

# %% [markdown]
# ## Exercise 8: the composition score
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Write it for stacks of matrices: any leading dimensions broadcast, like `@` does.
#
# <details><summary>Hint</summary>
#
# `torch.linalg.matrix_norm(x)` is the Frobenius norm over the last two axes (its default).
# </details>

# %% nbgrader={"solution": true, "grade_id": "composition_score"} exercise={"difficulty": 1, "importance": 3, "minutes": 10}
def composition_score(W_A: torch.Tensor, W_B: torch.Tensor) -> torch.Tensor:
    """||W_A @ W_B||_F / (||W_A||_F ||W_B||_F), over the last two axes.

    W_A: float (..., m, n); W_B: float (..., n, k); leading dimensions broadcast.
    Returns float (...) (a 0-d tensor for two matrices), the dtype of the inputs.
    """
    ### BEGIN SOLUTION
    norm = torch.linalg.matrix_norm
    return norm(W_A @ W_B) / (norm(W_A) * norm(W_B))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "composition_score_test", "points": 2}
_e = torch.eye(4)
_p0, _p1 = torch.diag(torch.tensor([1.0, 0, 0, 0])), torch.diag(torch.tensor([0, 1.0, 0, 0]))
got = checks.call("composition_score", composition_score, _e, _e, case="identity, identity")
checks.assert_shape("composition_score", got, ())
checks.assert_close("composition_score", got, torch.tensor(0.5), hint="||I||_F = 2 for a 4 x 4 identity: 2 / (2 * 2)")
checks.assert_close("composition_score", composition_score(_p0, _p0), torch.tensor(1.0), name="the same rank-1 projection")
checks.assert_close("composition_score", composition_score(_p0, _p1), torch.tensor(0.0), name="orthogonal projections")
checks.assert_close("composition_score", composition_score(torch.tensor([[0.0, 1.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, 0.0]])),
                    torch.tensor(1.0), name="[[0, 1], [0, 0]] then [[0, 0], [1, 0]]",
                    hint="W_A @ W_B is the matrix product (here [[1, 0], [0, 0]]), not the elementwise product")
checks.assert_close("composition_score", composition_score(torch.stack([_p0, _p0, _e]), torch.stack([_p0, _p1, _e])),
                    torch.tensor([1.0, 0.0, 0.5]), name="a stack of three pairs", hint="norm over the last two axes only")
### BEGIN HIDDEN TESTS
torch.manual_seed(4)
_A, _B = torch.randn(5, 1, 6, 3, dtype=torch.float64), torch.randn(4, 3, 7, dtype=torch.float64)
_got = checks.call("composition_score", composition_score, _A, _B, case="broadcast stacks (5, 1, 6, 3) @ (4, 3, 7)")
checks.assert_shape("composition_score", _got, (5, 4))
checks.assert_dtype("composition_score", _got, torch.float64)
_want = torch.tensor([[float(torch.linalg.norm(_A[i, 0] @ _B[j]) / (torch.linalg.norm(_A[i, 0]) * torch.linalg.norm(_B[j])))
                       for j in range(4)] for i in range(5)], dtype=torch.float64)
checks.assert_close("composition_score", _got, _want, name="scores of random stacks")
_A = torch.randn(6, 6)
checks.assert_close("composition_score", composition_score(_A.T, _A), torch.linalg.norm(_A.T @ _A) / torch.linalg.norm(_A) ** 2,
                    name="a transposed (non-contiguous) input")
checks.assert_close("composition_score", composition_score(_A * 1e3, _A.T * 1e-3), composition_score(_A, _A.T),
                    name="scale invariance", rtol=1e-5)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 9: K-composition between the two layers
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 15 minutes, then look at the hint.
#
# Write `k_composition_scores`: for every layer-0 head `i` and layer-1 head `j`,
# `comp(W_OV[0, i], W_QK[1, j].T)`. Build all the `W_OV` and `W_QK` at once with batched
# `@` (per-head weights stacked on the first axis), then let `composition_score` broadcast.
#
# <details><summary>Hint</summary>
#
# **The idea.** K-composition asks how much of what a layer-0 head writes (its OV circuit) is read
# by a layer-1 head's keys. Build each layer-0 head's OV matrix and each layer-1 head's QK matrix,
# then score every pair with the `composition_score` you wrote.
#
# **A pointer.** Products of per-head matrices keep the head axis in front. To score all
# `(H0, H1)` pairs in one call, give the two stacks singleton axes in different places so they
# broadcast. Which side of `W_QK` does the key side sit on, and does it need a transpose?
# </details>

# %% nbgrader={"solution": true, "grade_id": "k_composition_scores"} exercise={"difficulty": 2, "importance": 4, "minutes": 15}
def k_composition_scores(W_V0: torch.Tensor, W_O0: torch.Tensor, W_Q1: torch.Tensor,
                         W_K1: torch.Tensor) -> torch.Tensor:
    """K-composition scores from every layer-0 head into every layer-1 head.

    W_V0: (H0, d_model, d_head), W_O0: (H0, d_head, d_model): layer 0's value and output weights.
    W_Q1, W_K1: (H1, d_model, d_head): layer 1's query and key weights.
    Returns float (H0, H1): [i, j] = composition_score(W_V0[i] @ W_O0[i], (W_Q1[j] @ W_K1[j].T).T).
    """
    ### BEGIN SOLUTION
    W_OV = W_V0 @ W_O0
    W_QK = W_Q1 @ W_K1.transpose(-1, -2)
    return composition_score(W_OV[:, None], W_QK.transpose(-1, -2)[None])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "k_composition_scores_test", "points": 3}
_ref_model = course.models.load("induction-2l")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
# A hand-made pair of layers in d_model = 4 with d_head = 1, e_i the basis vectors:
# layer-0 head 0 copies e0 into e1, head 1 copies e0 into e3; layer-1 head 0 has keys that
# read e1 (queries e2), head 1 has queries that read e1 (keys e2).
_E = torch.eye(4)
_V0 = torch.stack([_E[:, [0]], _E[:, [0]]])  # (2, 4, 1)
_O0 = torch.stack([_E[[1]], _E[[3]]])  # (2, 1, 4)
_Q1 = torch.stack([_E[:, [2]], _E[:, [1]]])
_K1 = torch.stack([_E[:, [1]], _E[:, [2]]])
got = checks.call("k_composition_scores", k_composition_scores, _V0, _O0, _Q1, _K1, case="hand-made heads in d_model 4")
checks.assert_shape("k_composition_scores", got, (2, 2), hint="rows: layer-0 heads, columns: layer-1 heads")
checks.assert_true("k_composition_scores", not torch.allclose(got, torch.tensor([[0.0, 1.0], [0.0, 0.0]]), atol=1e-4),
                   "you computed Q-composition: layer-1 head 1 reads e1 with its queries, head 0 with its keys",
                   hint="K-composition uses the transpose of W_QK = W_Q @ W_K.T: composition_score(W_OV, W_QK.T)")
checks.assert_close("k_composition_scores", got, torch.tensor([[1.0, 0.0], [0.0, 0.0]]), atol=1e-6,
                    hint="only layer-1 head 0 reads e1 with its KEYS; head 1 reads it with its queries "
                         "(that is Q-composition): use W_QK transposed")
W_Q, W_K, W_V, W_O = (getattr(bridge, name).detach() for name in ("W_Q", "W_K", "W_V", "W_O"))  # (layer, head, ...)
k_comp = k_composition_scores(W_V[0], W_O[0], W_Q[1], W_K[1])
print("K-composition scores (rows: layer-0 heads, columns: layer-1 heads):\n", k_comp)
with torch.no_grad():
    _ref_prev, _ref_ind = attn_only.head_scores(_ref_model.run_with_patterns(tokens)[1], 32)
_prev_rows = [h for h in range(4) if _ref_prev[0, h] > 0.3]  # the previous-token heads
_ind_cols = [h for h in range(4) if _ref_ind[1, h] > 0.3]  # the induction heads
_circuit = k_comp[_prev_rows][:, _ind_cols]
_outside = k_comp[[h for h in range(4) if h not in _prev_rows]]
checks.assert_true("k_composition_scores", _circuit.min() > max(0.16, _outside.max()),
                   "in the shipped model every previous-token head should K-compose with every induction head "
                   "(score above 0.16, the random baseline is 0.125) more than the other layer-0 heads do",
                   details=[f"rows: layer-0 heads {_prev_rows} are previous-token heads; got {k_comp.tolist()}"])
### BEGIN HIDDEN TESTS
torch.manual_seed(5)
_V0, _O0 = torch.randn(3, 8, 2, dtype=torch.float64), torch.randn(3, 2, 8, dtype=torch.float64)
_Q1, _K1 = torch.randn(2, 8, 2, dtype=torch.float64), torch.randn(2, 8, 2, dtype=torch.float64)
_got = checks.call("k_composition_scores", k_composition_scores, _V0, _O0, _Q1, _K1, case="3 x 2 random float64 heads")
checks.assert_shape("k_composition_scores", _got, (3, 2))
_want = torch.tensor([[float(torch.linalg.norm(_V0[i] @ _O0[i] @ _K1[j] @ _Q1[j].T)
                             / (torch.linalg.norm(_V0[i] @ _O0[i]) * torch.linalg.norm(_Q1[j] @ _K1[j].T)))
                       for j in range(2)] for i in range(3)], dtype=torch.float64)
checks.assert_close("k_composition_scores", _got, _want, name="random heads")
_ours = [_ref_model.blocks[0].W_V.detach(), _ref_model.blocks[0].W_O.detach(), _ref_model.blocks[1].W_Q.detach(), _ref_model.blocks[1].W_K.detach()]
_want = torch.tensor([[float(torch.linalg.norm(_ours[0][i] @ _ours[1][i] @ _ours[3][j] @ _ours[2][j].T)
                             / (torch.linalg.norm(_ours[0][i] @ _ours[1][i]) * torch.linalg.norm(_ours[2][j] @ _ours[3][j].T)))
                       for j in range(4)] for i in range(4)])
checks.assert_close("k_composition_scores", k_composition_scores(*_ours), _want, atol=1e-5, name="the shipped model's scores")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 10: how big is "big"? A random baseline
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Even two unrelated matrices have a composition score above 0: in `d_model = 64`
# dimensions, two random rank-16 subspaces overlap a little. To read the table above we
# need that baseline. Estimate it: draw `n_samples` pairs of random matrices **of the same
# shape and rank as the real ones**, `W_A = X_1 X_2` and `W_B = Y_1 Y_2` with `X_1, Y_1` of
# shape `(d_model, d_head)` and `X_2, Y_2` of shape `(d_head, d_model)`, all entries
# standard normal, and return the mean composition score. (The scale of the entries does
# not matter: the score is scale-invariant.)
#
# Draw with exactly four calls, in this order:
# `torch.randn(n_samples, d_model, d_head, generator=generator)` (X_1), then
# `(n_samples, d_head, d_model)` (X_2), then the same two shapes for `Y_1`, `Y_2`.
#
# <details><summary>Hint</summary>
#
# Batched: `W_A = X1 @ X2` is `(n_samples, d_model, d_model)`; your `composition_score(W_A, W_B)`
# gives `(n_samples,)`; return `.mean().item()`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "composition_baseline"} exercise={"difficulty": 2, "importance": 3, "minutes": 10}
def composition_baseline(d_model: int, d_head: int, n_samples: int, generator: torch.Generator) -> float:
    """Mean composition score of random rank-d_head (d_model x d_model) matrix pairs, as a Python float."""
    ### BEGIN SOLUTION
    X1 = torch.randn(n_samples, d_model, d_head, generator=generator)
    X2 = torch.randn(n_samples, d_head, d_model, generator=generator)
    Y1 = torch.randn(n_samples, d_model, d_head, generator=generator)
    Y2 = torch.randn(n_samples, d_head, d_model, generator=generator)
    return composition_score(X1 @ X2, Y1 @ Y2).mean().item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "composition_baseline_test", "points": 2}
got = checks.call("composition_baseline", composition_baseline, 64, 16, 500, torch.Generator().manual_seed(0),
                  case="d_model 64, d_head 16, 500 samples")
checks.assert_true("composition_baseline", isinstance(got, float), f"return a Python float, got {type(got).__name__}",
                   hint=".mean().item()")
checks.assert_close("composition_baseline", got, 0.125, atol=0.003,
                    hint="about 1/sqrt(d_model) = 0.125 for these shapes; draw W_A = X1 @ X2, W_B = Y1 @ Y2")
checks.assert_close("composition_baseline", composition_baseline(16, 16, 500, torch.Generator().manual_seed(0)), 0.25,
                    atol=0.005, name="full-rank 16 x 16 matrices")
baseline = composition_baseline(cfg.d_model, cfg.d_head, 1000, torch.Generator().manual_seed(0))
print(f"random baseline: {baseline:.3f}")
### BEGIN HIDDEN TESTS
_got = checks.call("composition_baseline", composition_baseline, 32, 4, 300, torch.Generator().manual_seed(9),
                   case="d_model 32, d_head 4")
_g = torch.Generator().manual_seed(9)
_X1, _X2 = torch.randn(300, 32, 4, generator=_g), torch.randn(300, 4, 32, generator=_g)
_Y1, _Y2 = torch.randn(300, 32, 4, generator=_g), torch.randn(300, 4, 32, generator=_g)
_AB = torch.linalg.matrix_norm((_X1 @ _X2) @ (_Y1 @ _Y2))
_want = (_AB / (torch.linalg.matrix_norm(_X1 @ _X2) * torch.linalg.matrix_norm(_Y1 @ _Y2))).mean().item()
checks.assert_close("composition_baseline", _got, _want, rtol=1e-4, name="the mean for d_model 32, d_head 4",
                    hint="draw X1, X2, Y1, Y2 in that order with the shapes given")
checks.assert_close("composition_baseline", composition_baseline(8, 1, 2000, torch.Generator().manual_seed(1)), 0.29,
                    atol=0.015, name="rank-1 matrices in d_model 8")
### END HIDDEN TESTS

# %% [markdown]
# Against that baseline, the three composition types between the two layers (Q and V
# computed with your `composition_score` too):

# %%
W_OV = W_V @ W_O  # (layer, head, d_model, d_model)
W_QK = W_Q @ W_K.transpose(-1, -2)
comps = {
    "Q-composition": composition_score(W_OV[0][:, None], W_QK[1][None]),
    "K-composition": composition_score(W_OV[0][:, None], W_QK[1].transpose(-1, -2)[None]),
    "V-composition": composition_score(W_OV[0][:, None], W_OV[1][None]),
}
vmax = max(float(c.max()) for c in comps.values())
fig, axes = plt.subplots(1, 3, figsize=(12, 3.3))
for ax, (name, c) in zip(axes, comps.items()):
    im = ax.imshow(c, cmap="Purples", vmin=0, vmax=vmax)
    for (i, j), value in np.ndenumerate(c.numpy()):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=9)
    ax.set(xticks=range(4), yticks=range(4), xlabel="layer-1 head", ylabel="layer-0 head",
           title=f"{name}\n(random baseline {baseline:.2f})")
plt.tight_layout()
plt.show()

# %% [markdown]
# Before reading on: which of the three kinds of composition stands out against the random
# baseline, and for which pairs of heads? Is there a layer-0 head whose row looks like the
# baseline, and does that fit your previous-token scores?
#
# <details><summary>One reading (open after you have answered)</summary>
#
# From the weights alone, without running the model, the circuit
# stands out: what the previous-token heads write lands where the induction heads' keys
# read, at about 1.5 times the random baseline (0.17-0.21 against 0.125), while the
# layer-0 head that is not a previous-token head sits at the baseline. Q- and
# V-composition are *below* the baseline: the layer-1 heads' queries and values read
# directions that layer 0 mostly leaves alone, so the token at the query position arrives
# undisturbed. Elhage et al. (2021) use the same scores to find the induction circuit in
# their two-layer attention-only models trained on text.
# </details>
#
# ## Circuits as factored matrices
#
# A head's effect from tokens to logits is a product of matrices. For a layer-1 head
# attending to a position holding token `b`, the **full OV circuit**
#
# $$W_E\, W_V^h\, W_O^h\, W_U \qquad (d_{vocab} \times d_{vocab})$$
#
# says how much the head raises each output logit (column) when it attends to each token
# (row). A copying head has a large diagonal. (Strictly the value at a layer-1 position
# also holds position embeddings and layer-0 outputs; the token embedding is the direct
# part.) The product has rank at most `d_head = 16`, so it is wasteful to multiply it out;
# `transformer_lens.FactoredMatrix(A, B)` keeps `A @ B` as its two factors and computes
# norms, SVDs and eigenvalues from them. `.AB` multiplies it out when you want to look.

# %%
fm = FactoredMatrix(bridge.W_E.detach() @ W_V[1, 0], W_O[1, 0] @ bridge.W_U.detach())
print(fm, "| factors", tuple(fm.A.shape), tuple(fm.B.shape), "| Frobenius norm", fm.norm().item())
print("top singular values:", fm.S[:5])

# %% [markdown]
# ## Exercise 11: the full OV circuit
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Write `full_ov_circuit(bridge, layer, head)` returning the `FactoredMatrix` of
# `W_E W_V W_O W_U` for that head, factored through `d_head`: the left factor
# `(d_vocab, d_head)`, the right factor `(d_head, d_vocab)`. Read the weights from the
# bridge: `bridge.W_E`, `bridge.W_V[layer, head]`, `bridge.W_O[layer, head]`, `bridge.W_U`.
#
# <details><summary>Hint</summary>
#
# `FactoredMatrix(W_E @ W_V[layer, head], W_O[layer, head] @ W_U)`. `.detach()` the weights
# if you want to keep autograd out of it.
# </details>

# %% nbgrader={"solution": true, "grade_id": "full_ov_circuit"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def full_ov_circuit(bridge, layer: int, head: int) -> FactoredMatrix:
    """The full OV circuit W_E W_V[layer, head] W_O[layer, head] W_U of one head.

    Returns a FactoredMatrix of shape (d_vocab, d_vocab) with inner dimension d_head:
    A = W_E @ W_V[layer, head] (d_vocab, d_head), B = W_O[layer, head] @ W_U (d_head, d_vocab).
    """
    ### BEGIN SOLUTION
    W_E, W_U = bridge.W_E.detach(), bridge.W_U.detach()
    W_V, W_O = bridge.W_V[layer, head].detach(), bridge.W_O[layer, head].detach()
    return FactoredMatrix(W_E @ W_V, W_O @ W_U)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "full_ov_circuit_test", "points": 2}
_ref_model = course.models.load("induction-2l")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
# another model, every weight of `model` times 2, and a bridge around it (the later tests use them too)
_doubled = attn_only.AttnOnlyTransformer(_ref_model.cfg)
_doubled.load_state_dict({k: 2 * v for k, v in _ref_model.state_dict().items()})
_bridge2 = tlens.attn_only_bridge(_doubled)
got = checks.call("full_ov_circuit", full_ov_circuit, bridge, 1, 2, case="layer 1, head 2 of the shipped model")
checks.assert_true("full_ov_circuit", isinstance(got, FactoredMatrix),
                   f"return a transformer_lens.FactoredMatrix, got {type(got).__name__}")
checks.assert_shape("full_ov_circuit", got, (64, 64))
checks.assert_equal("full_ov_circuit", got.mdim, 16, name="inner dimension (mdim)",
                    hint="factor through d_head: A = W_E @ W_V (64 x 16), B = W_O @ W_U (16 x 64)")
_blk = _ref_model.blocks[1]
checks.assert_close("full_ov_circuit", got.AB, _ref_model.W_E @ _blk.W_V[2] @ _blk.W_O[2] @ _ref_model.W_U, atol=1e-4,
                    name="the product .AB", hint="W_E, then W_V and W_O of this head, then W_U, in that order")
_blk2 = _doubled.blocks[1]
checks.assert_close("full_ov_circuit", full_ov_circuit(_bridge2, 1, 2).AB,
                    (_doubled.W_E @ _blk2.W_V[2] @ _blk2.W_O[2] @ _doubled.W_U).detach(), atol=1e-2, rtol=1e-4,
                    name="the product for a bridge around another model (every weight doubled)",
                    hint="read the weights from the `bridge` argument, not from the notebook's `bridge` or `model`")
_blk0 = _ref_model.blocks[0]
checks.assert_close("full_ov_circuit", full_ov_circuit(bridge, 0, 3).AB, _ref_model.W_E @ _blk0.W_V[3] @ _blk0.W_O[3] @ _ref_model.W_U,
                    atol=1e-4, name="layer 0, head 3", hint="use the `layer` and `head` arguments")
### BEGIN HIDDEN TESTS
for _layer, _head in [(0, 0), (0, 3), (1, 1)]:
    _got = checks.call("full_ov_circuit", full_ov_circuit, bridge, _layer, _head, case=f"layer {_layer}, head {_head}")
    _blk = _ref_model.blocks[_layer]
    checks.assert_close("full_ov_circuit", _got.AB, (_ref_model.W_E @ _blk.W_V[_head] @ _blk.W_O[_head] @ _ref_model.W_U).detach(),
                        atol=1e-4, name=f"the product for layer {_layer}, head {_head}")
    checks.assert_equal("full_ov_circuit", _got.mdim, 16, name=f"inner dimension for layer {_layer}, head {_head}")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 12: how much of a circuit is on the diagonal?
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# A simple summary of a `(d_vocab, d_vocab)` circuit: the fraction of rows whose largest
# entry is on the diagonal. For an OV circuit, "attending to token `b` raises the logit of
# `b` more than any other": copying. Accept a tensor or a `FactoredMatrix`.
#
# <details><summary>Hint</summary>
#
# **The idea.** For each input token (a row), is the output token it most increases (the row's
# largest entry) the same token? The score is the fraction of rows where it is.
#
# **A pointer.** A `FactoredMatrix` becomes an ordinary tensor through its `.AB`. Compare each
# row's `argmax` with the row index, and return a Python float.
# </details>

# %% nbgrader={"solution": true, "grade_id": "top1_diagonal_fraction"} exercise={"difficulty": 2, "importance": 3, "minutes": 10}
def top1_diagonal_fraction(matrix) -> float:
    """Fraction of rows i whose argmax is column i.

    matrix: a square (n, n) float tensor, or a FactoredMatrix of that shape. Returns a Python float in [0, 1].
    """
    ### BEGIN SOLUTION
    m = matrix.AB if isinstance(matrix, FactoredMatrix) else matrix
    return (m.argmax(dim=-1) == torch.arange(m.shape[0])).float().mean().item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "top1_diagonal_fraction_test", "points": 2}
_ref_model = course.models.load("induction-2l")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
got = checks.call("top1_diagonal_fraction", top1_diagonal_fraction, torch.eye(5), case="the 5 x 5 identity")
checks.assert_true("top1_diagonal_fraction", isinstance(got, float), f"return a Python float, got {type(got).__name__}")
checks.assert_close("top1_diagonal_fraction", got, 1.0)
_m = torch.eye(4)[[1, 0, 2, 3]]  # rows 0 and 1 swapped: 2 of 4 rows peak on the diagonal
checks.assert_close("top1_diagonal_fraction", top1_diagonal_fraction(_m), 0.5, name="a permutation",
                    hint="compare each row's argmax with the row's own index (argmax over the last axis)")
checks.assert_close("top1_diagonal_fraction", top1_diagonal_fraction(FactoredMatrix(torch.eye(3), 2 * torch.eye(3))), 1.0,
                    name="a FactoredMatrix", hint="multiply it out with .AB")
checks.assert_close("top1_diagonal_fraction", top1_diagonal_fraction(torch.tensor([[1.0, 0, 0], [0, 1, 0], [9, 9, 0]])), 2 / 3,
                    name="[[1, 0, 0], [0, 1, 0], [9, 9, 0]]", hint="the largest entry of each ROW (argmax over the last axis)")
ov_diag = torch.tensor([[top1_diagonal_fraction(full_ov_circuit(bridge, layer, head)) for head in range(4)]
                        for layer in range(2)])
print("OV circuit, fraction of tokens copied (top-1 on the diagonal):\n", ov_diag)
with torch.no_grad():
    _, _ref_ind = attn_only.head_scores(_ref_model.run_with_patterns(tokens)[1], 32)
checks.assert_true("top1_diagonal_fraction", min(ov_diag[1, h] for h in range(4) if _ref_ind[1, h] > 0.3) > 0.5,
                   f"the shipped model's induction heads should copy (top-1 on the diagonal for most tokens); got\n{ov_diag}")
### BEGIN HIDDEN TESTS
torch.manual_seed(6)
_m = torch.randn(7, 7, dtype=torch.float64)
_got = checks.call("top1_diagonal_fraction", top1_diagonal_fraction, _m, case="a random 7 x 7 float64 matrix")
checks.assert_close("top1_diagonal_fraction", _got, sum(int(_m[i].argmax() == i) for i in range(7)) / 7, name="random matrix")
_m = torch.randn(6, 6) + 5 * torch.eye(6)
checks.assert_close("top1_diagonal_fraction", top1_diagonal_fraction(_m.T), sum(int(_m.T[i].argmax() == i) for i in range(6)) / 6,
                    name="a transposed (non-contiguous) matrix")
checks.assert_close("top1_diagonal_fraction", top1_diagonal_fraction(torch.tensor([[3.0]])), 1.0, name="a 1 x 1 matrix")
_A, _B = torch.randn(9, 2), torch.randn(2, 9)
checks.assert_close("top1_diagonal_fraction", top1_diagonal_fraction(FactoredMatrix(_A, _B)),
                    sum(int((_A @ _B)[i].argmax() == i) for i in range(9)) / 9, name="a random FactoredMatrix")
_ref = torch.tensor([[float(((_ref_model.W_E @ b.W_V[h] @ b.W_O[h] @ _ref_model.W_U).argmax(-1) == torch.arange(64)).float().mean())
                      for h in range(4)] for b in _ref_model.blocks])
checks.assert_close("top1_diagonal_fraction", torch.tensor([[top1_diagonal_fraction(full_ov_circuit(bridge, _l, h))
                                                             for h in range(4)] for _l in range(2)]), _ref,
                    atol=1.5 / 64, name="the shipped model's OV circuits")
### END HIDDEN TESTS

# %% [markdown]
# The OV circuit of an induction head, multiplied out: a bright diagonal (copy the token
# attended to) on a dim background. For comparison, a layer-0 head's OV circuit (layer 0
# moves information about tokens, not logits, so its direct effect means little).

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
for ax, (layer, head) in zip(axes, [induction_heads[0], (0, prev_token_heads[0][1])]):
    m = full_ov_circuit(bridge, layer, head).AB
    lim = float(m.abs().max())
    im = ax.imshow(m, cmap="RdBu", vmin=-lim, vmax=lim)
    ax.set(title=f"full OV circuit of L{layer}H{head} (diag {top1_diagonal_fraction(m):.0%})",
           xlabel="output logit (token)", ylabel="attended-to token")
    plt.colorbar(im, ax=ax, fraction=0.046)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Exercise 13: the K-composition QK circuit
#
# **Difficulty** 🔴🔴🔴🔴⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 25 minutes, then look at the hint.
#
# The OV circuit says *what* an induction head copies. Its QK circuit says *where* it
# looks: a query holding token `a` should attend to a key whose **previous** token was `a`.
# Follow the key side through the previous-token heads: a key position `j` whose previous
# token is `b` holds (roughly) `W_E[b] W_{OV}^{0,p}` from each previous-token head `p`, so
# the induction head's score is
#
# $$\underbrace{W_E\, W_Q^{1,h}}_{\text{query: my token } a}\;
# \Big(\underbrace{W_E \textstyle\sum_p W_{OV}^{0,p}\, W_K^{1,h}}_{\text{key: previous token } b}\Big)^{\!\top}
# \qquad (d_{vocab} \times d_{vocab}).$$
#
# Rows are the query's token, columns the key's *previous* token; an induction head has a
# bright diagonal. Return it as a `FactoredMatrix` with inner dimension `d_head`. (This
# ignores how strongly each previous-token head actually attends back, and the positional
# parts: it is the token-to-token part of the K-composition path.)
#
# <details><summary>Hint</summary>
#
# `ov = sum((W_V[0, p] @ W_O[0, p] for p in prev_heads), torch.zeros(d_model, d_model))` (start
# the sum from a zero matrix, so that an empty list gives one);
# `query = W_E @ W_Q[1, h]` and `key = W_E @ ov @ W_K[1, h]`, both `(d_vocab, d_head)`;
# `FactoredMatrix(query, key.T)`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "induction_qk_circuit"} exercise={"difficulty": 4, "importance": 4, "minutes": 25}
def induction_qk_circuit(bridge, head: int, prev_heads: list[int]) -> FactoredMatrix:
    """Token-to-token QK circuit of layer-1 `head` through the layer-0 heads `prev_heads` (K-composition).

    Returns a FactoredMatrix (d_vocab, d_vocab), inner dimension d_head:
    A = W_E @ W_Q[1, head]; B = (W_E @ (sum over p in prev_heads of W_V[0, p] @ W_O[0, p]) @ W_K[1, head]).T.
    Row a, column b: how much a query holding token a attends to a key whose previous token is b.
    """
    ### BEGIN SOLUTION
    W_E = bridge.W_E.detach()
    W_V, W_O, W_Q, W_K = (getattr(bridge, n).detach() for n in ("W_V", "W_O", "W_Q", "W_K"))
    ov = sum((W_V[0, p] @ W_O[0, p] for p in prev_heads), torch.zeros(W_E.shape[1], W_E.shape[1]))
    query = W_E @ W_Q[1, head]
    key = W_E @ ov @ W_K[1, head]
    return FactoredMatrix(query, key.T)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "induction_qk_circuit_test", "points": 3}
_ref_model = course.models.load("induction-2l")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
with torch.no_grad():
    _ref_prev, _ref_ind = attn_only.head_scores(_ref_model.run_with_patterns(tokens)[1], 32)
_prev = [h for h in range(4) if _ref_prev[0, h] > 0.3]  # the previous-token heads
_ind = int(_ref_ind[1].argmax())  # the strongest induction head
got = checks.call("induction_qk_circuit", induction_qk_circuit, bridge, _ind, _prev,
                  case=f"induction head L1H{_ind} through previous-token heads {_prev}")
checks.assert_true("induction_qk_circuit", isinstance(got, FactoredMatrix),
                   f"return a transformer_lens.FactoredMatrix, got {type(got).__name__}")
checks.assert_shape("induction_qk_circuit", got, (64, 64))
checks.assert_equal("induction_qk_circuit", got.mdim, 16, name="inner dimension (mdim)")
_b0, _b1 = _ref_model.blocks
_ov = sum(_b0.W_V[p] @ _b0.W_O[p] for p in _prev)
checks.assert_close("induction_qk_circuit", got.AB, (_ref_model.W_E @ _b1.W_Q[_ind]) @ (_ref_model.W_E @ _ov @ _b1.W_K[_ind]).T,
                    atol=1e-3, rtol=1e-4, name="the product .AB",
                    hint="rows: W_E @ W_Q (the query's token); columns: W_E @ W_OV(prev heads) @ W_K (the key's previous token)")
_d0, _d1 = _doubled.blocks
_ov2 = sum(_d0.W_V[p] @ _d0.W_O[p] for p in _prev)
checks.assert_close("induction_qk_circuit", induction_qk_circuit(_bridge2, _ind, _prev).AB,
                    ((_doubled.W_E @ _d1.W_Q[_ind]) @ (_doubled.W_E @ _ov2 @ _d1.W_K[_ind]).T).detach(),
                    atol=1e-2, rtol=1e-4, name="the product for a bridge around another model (every weight doubled)",
                    hint="read every weight from the `bridge` argument, not from the notebook's `bridge` or `model`")
for _h in range(4):
    checks.assert_close("induction_qk_circuit", induction_qk_circuit(bridge, _h, _prev).AB,
                        (_ref_model.W_E @ _b1.W_Q[_h]) @ (_ref_model.W_E @ _ov @ _b1.W_K[_h]).T, atol=1e-3, rtol=1e-4,
                        name=f"the product for L1H{_h}", hint="use the `head` argument")
qk_diag = {h: top1_diagonal_fraction(induction_qk_circuit(bridge, h, _prev)) for h in range(4)}
print("QK circuits of the layer-1 heads via the previous-token heads, top-1 on the diagonal:",
      {f"L1H{h}": round(v, 2) for h, v in qk_diag.items()})
### BEGIN HIDDEN TESTS
for _h, _ps in [(0, [1]), (3, [0, 2]), (1, [])]:
    _got = checks.call("induction_qk_circuit", induction_qk_circuit, bridge, _h, _ps, case=f"head {_h}, prev heads {_ps}")
    _ov = sum((_b0.W_V[p] @ _b0.W_O[p] for p in _ps), torch.zeros(64, 64))
    checks.assert_close("induction_qk_circuit", _got.AB,
                        ((_ref_model.W_E @ _b1.W_Q[_h]) @ (_ref_model.W_E @ _ov @ _b1.W_K[_h]).T).detach(), atol=1e-3, rtol=1e-4,
                        name=f"the product for head {_h} through {_ps}",
                        hint="sum the OV matrices of exactly the heads in prev_heads (none: a zero matrix)")
### END HIDDEN TESTS

# %% [markdown]
# Multiplied out: queries (rows) light up on keys whose previous token is the same
# token (columns), the "find where my token was before" half of the algorithm.

# %%
ind_head = induction_heads[0][1]
m = induction_qk_circuit(bridge, ind_head, [h for _, h in prev_token_heads]).AB
fig, ax = plt.subplots(figsize=(5, 4.2))
lim = float(m.abs().max())
im = ax.imshow(m, cmap="RdBu", vmin=-lim, vmax=lim)
ax.set(title=f"QK circuit of L1H{ind_head} via previous-token heads\n(diag {top1_diagonal_fraction(m):.0%})",
       xlabel="key's previous token", ylabel="query token")
plt.colorbar(im, ax=ax, fraction=0.046)
plt.show()

# %% [markdown]
# ## Exercise 14: ablation confirms the circuit
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 4 points · about 20 minutes, then look at the hint.
#
# Scores and weights suggest a circuit; an intervention tests it. **Zero-ablate** a set of
# heads: set their output to zero and measure the repeated-half loss again. Each head's
# output is `z_h W_O^h`, where `z_h` (`blocks.{layer}.attn.hook_z`, shape
# `(batch, position, head, d_head)`) is its attention-weighted sum of values; zeroing
# `z[:, :, h]` removes head `h` exactly. (Mean ablation, replacing it by its average over
# a batch, is gentler and often preferred; in a model without biases zero is a fair
# "off".)
#
# Write `ablated_repeated_loss`: run the bridge with one hook per affected layer (3.1:
# `bridge.run_with_hooks(tokens, fwd_hooks=[(name, hook_fn), ...])`, a hook function
# `hook_fn(z, hook)` returns the edited tensor), then return the repeated-half loss with
# your `per_token_loss` and `loss_by_half`.
#
# <details><summary>Hint</summary>
#
# Group the heads by layer. For each layer, a hook that clones nothing and does
# `z[:, :, heads_of_this_layer] = 0.0; return z`. Bind the list with a default argument
# (`def hook(z, hook, hs=hs)`) so each hook keeps its own. Use `torch.no_grad()`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "ablated_repeated_loss"} exercise={"difficulty": 3, "importance": 5, "minutes": 20}
def ablated_repeated_loss(bridge, tokens: torch.Tensor, seq_len: int, heads: list[tuple[int, int]]) -> float:
    """Repeated-half loss of `bridge` on `tokens` with the (layer, head) pairs in `heads` zero-ablated.

    tokens: int64 (B, 1 + 2 * seq_len), BOS + a sequence repeated twice. heads may be empty (no ablation).
    Returns a Python float: loss_by_half(per_token_loss(logits, tokens), seq_len)[1].
    """
    ### BEGIN SOLUTION
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)

    def make_hook(hs):
        def hook(z, hook):
            z[:, :, hs] = 0.0
            return z

        return hook

    hooks = [(f"blocks.{layer}.attn.hook_z", make_hook(hs)) for layer, hs in by_layer.items()]
    with torch.no_grad():
        logits = bridge.run_with_hooks(tokens, fwd_hooks=hooks)
    return loss_by_half(per_token_loss(logits, tokens), seq_len)[1].item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ablated_repeated_loss_test", "points": 4}
_ref_model = course.models.load("induction-2l")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
clean = checks.call("ablated_repeated_loss", ablated_repeated_loss, bridge, tokens, 32, [], case="no heads ablated")
checks.assert_true("ablated_repeated_loss", isinstance(clean, float), f"return a Python float, got {type(clean).__name__}")
checks.assert_close("ablated_repeated_loss", clean, shipped_halves[1].item(), atol=1e-4, name="loss with nothing ablated",
                    hint="with heads=[] the result is the plain repeated-half loss")
_tokB = attn_only.repeated_tokens(8, 20, 64, torch.Generator().manual_seed(20))
with torch.no_grad():
    _wantB = loss_by_half(per_token_loss(_ref_model(_tokB), _tokB), 20)[1].item()
checks.assert_close("ablated_repeated_loss", ablated_repeated_loss(bridge, _tokB, 20, []), _wantB, atol=1e-4,
                    name="nothing ablated, on 8 other rows of seq_len 20",
                    hint="use the `tokens` and `seq_len` arguments, not the notebook's")
_clean2 = ablated_repeated_loss(_bridge2, tokens, 32, [])
checks.assert_true("ablated_repeated_loss", abs(_clean2 - clean) > 1e-3,
                   f"a bridge around another model (every weight doubled) gives the same loss ({_clean2:.4f})",
                   hint="run the `bridge` argument, not the notebook's `bridge`")
with torch.no_grad():
    _ref_prev, _ref_ind = attn_only.head_scores(_ref_model.run_with_patterns(tokens)[1], 32)
_circuit_ind = [(1, h) for h in range(4) if _ref_ind[1, h] > 0.3]
_outside = [(0, h) for h in range(4) if _ref_prev[0, h] <= 0.3]  # layer-0 heads that are not previous-token heads
ablate_ind = ablated_repeated_loss(bridge, tokens, 32, _circuit_ind)
ablate_out = ablated_repeated_loss(bridge, tokens, 32, _outside)
print(f"repeated-half loss: clean {clean:.3f}, induction heads {_circuit_ind} ablated {ablate_ind:.3f}, "
      f"heads outside the circuit {_outside} ablated {ablate_out:.3f}")
checks.assert_true("ablated_repeated_loss", ablate_ind != clean,
                   f"ablating {_circuit_ind} did not change the repeated-half loss at all ({clean:.4f})",
                   details=["did your hooks run (names like 'blocks.1.attn.hook_z'; each returns the edited z)?",
                            "do they zero the head axis? z is (batch, position, head, d_head): z[:, :, h], not z[:, h]"])
checks.assert_true("ablated_repeated_loss", ablate_ind > clean + 2.0,
                   f"ablating the induction heads should raise the repeated-half loss by more than 2 nats: "
                   f"{clean:.3f} -> {ablate_ind:.3f}",
                   hint="z has shape (batch, position, head, d_head): zero z[:, :, h] for each induction head h")
checks.assert_true("ablated_repeated_loss", ablate_out < clean + 0.5,
                   f"ablating heads outside the circuit should change the loss little: {clean:.3f} -> {ablate_out:.3f}",
                   hint="zero only the heads listed, in their own layer")
### BEGIN HIDDEN TESTS
def _ref_ablated(tok, n, heads):
    edited = attn_only.AttnOnlyTransformer(_ref_model.cfg)
    edited.load_state_dict(_ref_model.state_dict())
    with torch.no_grad():
        for _l, _h in heads:
            edited.blocks[_l].W_O[_h] = 0.0  # z_h W_O^h = 0: the head is gone
        return attn_only.evaluate(edited, tok, n)["repeated_loss"]


_tok = attn_only.repeated_tokens(16, 20, 64, torch.Generator().manual_seed(8))
for _heads in [[(1, 0)], [(0, 1), (1, 3)], [(0, 0), (0, 1), (0, 2), (0, 3)], [(1, 2), (1, 1), (1, 0), (1, 3)], []]:
    _got = checks.call("ablated_repeated_loss", ablated_repeated_loss, bridge, _tok, 20, _heads, case=f"heads {_heads}")
    checks.assert_close("ablated_repeated_loss", _got, _ref_ablated(_tok, 20, _heads), atol=1e-3,
                        name=f"repeated-half loss with {_heads} ablated (seq_len 20)",
                        hint="one hook per layer that zeroes every listed head of that layer; use seq_len, not 32")
### END HIDDEN TESTS

# %% [markdown]
# Exercise 14's test printed three numbers: the clean loss, the loss with the induction
# heads ablated, and the loss with the layer-0 head outside the circuit ablated. Group
# ablations answer "does this set of heads matter?". The next exercises ask sharper
# questions: does each head matter **alone**, does the previous-token half of the circuit
# matter, compared with **what** (a control of the same size), and **where** in the
# sequence must it act?
#
# ## Exercise 15: one head at a time
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Write `single_head_effects`: for every head of every layer, the **increase** in the
# repeated-half loss when that head alone is zero-ablated (ablated minus clean), as a
# `(n_layers, n_heads)` float tensor. Reuse your `ablated_repeated_loss`. The bridge knows
# its own shape: `bridge.W_Q` is `(n_layers, n_heads, d_model, d_head)`.
#
# Before you run it, predict: the three previous-token heads and the four induction heads
# each carry part of the copying. Does removing any **one** of them break copying the way
# removing its whole group does?
#
# <details><summary>Hint</summary>
#
# **The idea.** One clean run gives the baseline; then one ablated run per head, each
# compared with that baseline.
#
# **A pointer.** Read the number of layers and heads from the leading axes of the bridge's
# query weights (not from the notebook's `cfg`); collect the differences in nested loops and
# make a tensor of them at the end.
# </details>

# %% nbgrader={"solution": true, "grade_id": "single_head_effects"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def single_head_effects(bridge, tokens: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Increase of the repeated-half loss when each head alone is zero-ablated.

    tokens: int64 (B, 1 + 2 * seq_len), BOS + a sequence repeated twice.
    Returns float32 (n_layers, n_heads): [l, h] = ablated_repeated_loss(bridge, tokens, seq_len, [(l, h)])
    minus ablated_repeated_loss(bridge, tokens, seq_len, []).
    """
    ### BEGIN SOLUTION
    n_layers, n_heads = bridge.W_Q.shape[:2]
    clean = ablated_repeated_loss(bridge, tokens, seq_len, [])
    effects = [[ablated_repeated_loss(bridge, tokens, seq_len, [(layer, head)]) - clean for head in range(n_heads)]
               for layer in range(n_layers)]
    return torch.tensor(effects, dtype=torch.float32)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "single_head_effects_test", "points": 2}
_ref_model = course.models.load("induction-2l")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
got = checks.call("single_head_effects", single_head_effects, bridge, tokens, 32, case="the shipped model, seq_len 32")
checks.assert_shape("single_head_effects", got, (2, 4), hint="rows: layers, columns: heads")
checks.assert_dtype("single_head_effects", got, torch.float32)
_clean = ablated_repeated_loss(bridge, tokens, 32, [])
_want = torch.tensor([[ablated_repeated_loss(bridge, tokens, 32, [(_l, _h)]) - _clean for _h in range(4)] for _l in range(2)])
checks.assert_close("single_head_effects", got, _want, atol=1e-4,
                    hint="entry [l, h]: the loss with head h of layer l ablated, minus the loss with nothing ablated")
_tok20 = attn_only.repeated_tokens(8, 20, 64, torch.Generator().manual_seed(21))
_clean2 = ablated_repeated_loss(_bridge2, _tok20, 20, [])
checks.assert_close("single_head_effects", single_head_effects(_bridge2, _tok20, 20),
                    torch.tensor([[ablated_repeated_loss(_bridge2, _tok20, 20, [(_l, _h)]) - _clean2 for _h in range(4)]
                                  for _l in range(2)]), atol=1e-3,
                    name="another bridge (every weight doubled) on 8 rows of seq_len 20",
                    hint="use the `bridge`, `tokens` and `seq_len` arguments, not the notebook's")
head_effects = got
print("repeated-half loss increase, one head ablated (rows: layers):\n", head_effects)
checks.assert_true("single_head_effects", float(head_effects.max()) < 0.5,
                   f"expected no single head of the shipped model to raise the loss by 0.5 nats, got {head_effects.tolist()}")
### BEGIN HIDDEN TESTS
_tok = attn_only.repeated_tokens(16, 12, 64, torch.Generator().manual_seed(22))
with torch.no_grad():
    _ref_clean = attn_only.per_token_loss(_ref_model(_tok), _tok)[:, 13:].mean()
    _ref = torch.stack([torch.stack([attn_only.per_token_loss(attn_only.ablated_logits(_ref_model, _tok, [(_l, _h)]), _tok)[:, 13:].mean()
                                     for _h in range(4)]) for _l in range(2)]) - _ref_clean
_got = checks.call("single_head_effects", single_head_effects, bridge, _tok, 12, case="16 rows of seq_len 12")
checks.assert_close("single_head_effects", _got, _ref, atol=1e-3, name="effects on seq_len 12 (an independent reference)")
### END HIDDEN TESTS

# %% [markdown]
# Now the single heads next to whole groups:

# %%
groups = {
    "none": [],
    "previous-token heads": prev_token_heads,
    "induction heads": induction_heads,
    "outside the circuit": [(0, h) for h in range(4) if (0, h) not in prev_token_heads],
}
group_loss = {name: ablated_repeated_loss(bridge, tokens, 32, hs) for name, hs in groups.items()}
print({name: round(loss, 3) for name, loss in group_loss.items()})
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [1, 1.4]})
score_heatmap(ax1, head_effects, "increase of the repeated-half loss,\none head ablated (nats)")
ax1.images[0].set_clim(0, float(shipped_halves[0]))  # the same scale as the bars
ax2.bar([name.replace(" ", "\n", 1) for name in group_loss], list(group_loss.values()), color=["gray", "C4", "C3", "C2"])
ax2.axhline(shipped_halves[0], ls=":", c="k", label="first half (no copying possible)")
ax2.set(ylabel="repeated-half loss (nats)", title="ablating groups of heads")
ax2.legend(fontsize=8, loc="center right")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Exercise 16 (investigation): what do the ablations support?
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 10 minutes.
#
# Read the heatmap and the bars above (and the group losses printed over them), then choose
# the statement your numbers support, and name the head:
#
# - `HYPOTHESIS`:
#   - `"A"`: every head of the circuit is **necessary** on its own: ablating any one of your
#     previous-token or induction heads breaks copying (raises the repeated-half loss by more
#     than 1 nat);
#   - `"B"`: the heads of each group are **redundant**: no single head costs much (under 0.5
#     nats), but ablating either whole group breaks copying (more than 2 nats);
#   - `"C"`: copying does **not need the previous-token heads**: ablating all of them costs
#     less than 1 nat, so the induction heads work alone.
# - `WEAKEST`: the head of the circuit (one of your `prev_token_heads` or `induction_heads`)
#   whose ablation alone costs the least.
#
# The test derives both answers from your own `head_effects`, `group_loss`,
# `prev_token_heads` and `induction_heads`.
#
# <details><summary>Hint</summary>
#
# **The idea.** A statement about single heads is read off the heatmap; one about groups off
# the bars. Each statement above names its threshold.
#
# **A pointer.** Compare the bars with the "none" bar, not with zero; for `WEAKEST`, look up
# the circuit heads in `head_effects` and take the smallest.
# </details>

# %% nbgrader={"solution": true, "grade_id": "ablation_reading"} exercise={"difficulty": 2, "importance": 5, "minutes": 10}
def ablation_reading() -> tuple[str, tuple[int, int]]:
    """Your reading of the ablations: (HYPOTHESIS, WEAKEST), e.g. ("A", (1, 2)). Return constants."""
    ### BEGIN SOLUTION
    return "B", (0, 3)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ablation_reading_test", "points": 3}
_ref_model = course.models.load("induction-2l")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
def _ablation_says(effects: torch.Tensor, group: dict, prev: list, ind: list):
    """The statement and the weakest circuit head that a single-head table and group losses support (None: no statement)."""
    circuit = list(prev) + list(ind)
    single = max(float(effects[lh]) for lh in circuit)
    prev_group, ind_group = group["previous-token heads"] - group["none"], group["induction heads"] - group["none"]
    letter = ("A" if single > 1.0 else "C" if prev_group < 1.0
              else "B" if single < 0.5 and prev_group > 2.0 and ind_group > 2.0 else None)
    weakest = min(circuit, key=lambda lh: float(effects[lh]))
    return letter, weakest, (f"largest single-head effect in the circuit {single:.2f} nats; groups: previous-token heads "
                             f"+{prev_group:.2f}, induction heads +{ind_group:.2f}")


_ans = checks.call("ablation_reading", ablation_reading, case="your answers")
checks.assert_true("ablation_reading", isinstance(_ans, tuple) and len(_ans) == 2 and _ans[0] in ("A", "B", "C")
                   and isinstance(_ans[1], tuple) and len(_ans[1]) == 2,
                   f"return (HYPOTHESIS, WEAKEST): a letter 'A', 'B' or 'C' and a (layer, head) tuple; got {_ans!r}")
_letter, _weakest, _evidence = _ablation_says(head_effects, group_loss, prev_token_heads, induction_heads)
checks.assert_true("ablation_reading", _letter is not None, f"your numbers fit none of the statements ({_evidence})",
                   hint="check exercises 14 and 15, and the heads you found in exercise 7")
checks.assert_true("ablation_reading", _ans[0] == _letter, f"HYPOTHESIS = {_ans[0]!r} is not what your numbers show: {_evidence}",
                   hint={"A": "is any single circuit head over 1 nat in the heatmap?",
                         "B": "check each threshold of B against the heatmap and the bars",
                         "C": "compare the previous-token bar with the 'none' bar"}[_ans[0]])
_circuit = prev_token_heads + induction_heads
checks.assert_true("ablation_reading", tuple(int(v) for v in _ans[1]) in _circuit,
                   f"WEAKEST = {_ans[1]!r} is not one of your circuit heads {_circuit}",
                   hint="the layer-0 head outside the circuit does not count")
checks.assert_equal("ablation_reading", tuple(int(v) for v in _ans[1]), _weakest, name="WEAKEST",
                    hint="the circuit head with the smallest number in the single-head heatmap")
print(f"ablation_reading: your numbers support {_letter!r} ({_evidence}); weakest circuit head {_weakest}")
### BEGIN HIDDEN TESTS
_ans = ablation_reading()
_tok = attn_only.repeated_tokens(16, 32, 64, torch.Generator().manual_seed(31))
with torch.no_grad():
    _rp, _ri = attn_only.head_scores(_ref_model.run_with_patterns(_tok)[1], 32)
    _prev = [(0, _h) for _h in range(4) if _rp[0, _h] > 0.3]
    _ind = [(1, _h) for _h in range(4) if _ri[1, _h] > 0.3]

    def _loss(_heads):
        return attn_only.per_token_loss(attn_only.ablated_logits(_ref_model, tokens, _heads), tokens)[:, 33:].mean().item()

    _eff = torch.tensor([[_loss([(_l, _h)]) for _h in range(4)] for _l in range(2)]) - _loss([])
    _grp = {"none": _loss([]), "previous-token heads": _loss(_prev), "induction heads": _loss(_ind)}
_l2, _w2, _ev2 = _ablation_says(_eff, _grp, _prev, _ind)
checks.assert_equal("ablation_reading", (_ans[0], tuple(int(v) for v in _ans[1])), (_l2, _w2),
                    name=f"(HYPOTHESIS, WEAKEST) against the test's own ablations ({_ev2})")
### END HIDDEN TESTS

# %% [markdown]
# <details><summary>One reading (open after exercise 16 passes)</summary>
#
# One head at a time, every effect is small (the test asserts that
# none reaches 0.5 nats): the heads of each group are **redundant**, each group able to do
# most of the job with a member missing. Together they are not: the printed group losses
# put the induction heads and the previous-token heads each near the level of guessing. One
# previous-token head even matters *less* alone than the layer-0 head outside the circuit.
# That is common in trained networks, and it is why ablating one component at a time can
# badly understate what a group does.
# </details>
#
# ## A control of matched size
#
# It also leaves a gap. "Ablating the previous-token heads breaks copying; ablating the
# other head does not" compares three heads with one. A fair control removes **as much**
# from the model, somewhere the hypothesis says should not matter. In this model there is
# no such set of heads: three of the four layer-0 heads are previous-token heads, and all
# four layer-1 heads are induction heads. But the circuit makes a sharper prediction than
# "these heads matter", one that comes with its own control of matched size.
#
# ## Exercise 17: ablating heads at some positions only
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 20 minutes, then look at the hint.
#
# Write `ablated_repeated_loss_at`: as `ablated_repeated_loss`, but each listed head's
# output is zeroed only at the **query positions** in `positions` (indices into the
# sequence, 0 is BOS); everywhere else the head works as usual. Same hook point,
# `blocks.{layer}.attn.hook_z`, shape `(batch, position, head, d_head)`.
#
# <details><summary>Hint</summary>
#
# **The idea.** The same hooks as in exercise 14, but each one now zeroes a block of `z`:
# some positions *and* some heads, every combination of the two.
#
# **A pointer.** Indexing `z` with two lists at once pairs them up element by element (and
# fails when their lengths differ); to get every combination, give the positions an extra
# axis of size one so that the two index tensors broadcast to a grid. Chained indexing,
# `z[:, positions][..., heads, :] = 0`, writes into a copy and changes nothing.
# </details>

# %% nbgrader={"solution": true, "grade_id": "ablated_repeated_loss_at"} exercise={"difficulty": 3, "importance": 4, "minutes": 20}
def ablated_repeated_loss_at(bridge, tokens: torch.Tensor, seq_len: int, heads: list[tuple[int, int]],
                             positions: list[int]) -> float:
    """Repeated-half loss with the (layer, head) pairs in `heads` zero-ablated at the query `positions` only.

    tokens: int64 (B, 1 + 2 * seq_len); positions: indices 0 .. 2 * seq_len (0 is BOS), may be empty.
    Returns a Python float: loss_by_half(per_token_loss(logits, tokens), seq_len)[1].
    """
    ### BEGIN SOLUTION
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)
    where = torch.as_tensor(list(positions), dtype=torch.long)[:, None]  # (P, 1): broadcasts against the heads

    def make_hook(hs):
        def hook(z, hook):
            z[:, where, torch.tensor(hs)] = 0.0
            return z

        return hook

    hooks = [(f"blocks.{layer}.attn.hook_z", make_hook(hs)) for layer, hs in by_layer.items()]
    with torch.no_grad():
        logits = bridge.run_with_hooks(tokens, fwd_hooks=hooks)
    return loss_by_half(per_token_loss(logits, tokens), seq_len)[1].item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ablated_repeated_loss_at_test", "points": 3}
_ref_model = course.models.load("induction-2l")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_heads = [(0, 1), (1, 0), (1, 2)]
got = checks.call("ablated_repeated_loss_at", ablated_repeated_loss_at, bridge, tokens, 32, _heads, list(range(65)),
                  case=f"heads {_heads} at every position")
checks.assert_true("ablated_repeated_loss_at", isinstance(got, float), f"return a Python float, got {type(got).__name__}")
checks.assert_close("ablated_repeated_loss_at", got, ablated_repeated_loss(bridge, tokens, 32, _heads), atol=1e-4,
                    name="every position: the same as ablated_repeated_loss",
                    hint="zero the listed heads at the listed positions: z[:, positions x heads]; is anything zeroed?")
checks.assert_close("ablated_repeated_loss_at", ablated_repeated_loss_at(bridge, tokens, 32, _heads, []),
                    ablated_repeated_loss(bridge, tokens, 32, []), atol=1e-4, name="no position: nothing ablated",
                    hint="zero the heads only at the listed query positions (axis 1 of z), not everywhere")
checks.assert_close("ablated_repeated_loss_at", ablated_repeated_loss_at(bridge, tokens, 32, [(1, 1), (1, 3)], list(range(33))),
                    ablated_repeated_loss(bridge, tokens, 32, []), atol=1e-4,
                    name="layer-1 heads at positions 0 .. 32 (they only feed the first half's predictions)",
                    hint="positions index axis 1 of z, the query position; the repeated half's losses are read at 33 .. 64")
_base = ablated_repeated_loss(bridge, tokens, 32, [])
_one = [ablated_repeated_loss_at(bridge, tokens, 32, [(1, 0), (1, 2)], p) - _base for p in ([40], [52], [40, 52])]
checks.assert_close("ablated_repeated_loss_at", _one[2], _one[0] + _one[1], atol=1e-5,
                    name="layer-1 heads at [40, 52]: the sum of their effects at [40] and at [52] (each position "
                         "changes only its own prediction)",
                    hint="every listed head at every listed position: index z with positions[:, None] and the heads")
checks.assert_true("ablated_repeated_loss_at", abs(_one[0]) > 1e-5 and abs(_one[1]) > 1e-5,
                   f"ablating L1H0 and L1H2 at position 40 (or 52) alone changed nothing: {_one}",
                   hint="a single position is a list of one index: positions [40] zero z[:, 40, heads]")
_tokB = attn_only.repeated_tokens(8, 20, 64, torch.Generator().manual_seed(20))
checks.assert_close("ablated_repeated_loss_at", ablated_repeated_loss_at(bridge, _tokB, 20, _heads, list(range(41))),
                    ablated_repeated_loss(bridge, _tokB, 20, _heads), atol=1e-4,
                    name="every position, on 8 other rows of seq_len 20",
                    hint="use the `tokens` and `seq_len` arguments, not the notebook's")
_d = ablated_repeated_loss_at(_bridge2, tokens, 32, [(0, 2)], list(range(1, 33)))
checks.assert_true("ablated_repeated_loss_at",
                   abs(_d - ablated_repeated_loss_at(bridge, tokens, 32, [(0, 2)], list(range(1, 33)))) > 1e-3,
                   "a bridge around another model (every weight doubled) gives the same loss",
                   hint="run the `bridge` argument, not the notebook's `bridge`")
### BEGIN HIDDEN TESTS
_tok = attn_only.repeated_tokens(16, 20, 64, torch.Generator().manual_seed(23))
for _heads, _pos in [([(0, 1), (0, 2), (0, 3)], list(range(1, 21))), ([(0, 1)], [5, 9, 30]),
                     ([(1, 2), (0, 0)], list(range(21, 41))), ([(1, 3)], [25]), ([(0, 0), (0, 3), (1, 1)], list(range(41)))]:
    _got = checks.call("ablated_repeated_loss_at", ablated_repeated_loss_at, bridge, _tok, 20, _heads, _pos,
                       case=f"heads {_heads} at {len(_pos)} positions, seq_len 20")
    with torch.no_grad():
        _want = attn_only.per_token_loss(attn_only.ablated_logits(_ref_model, _tok, _heads, _pos), _tok)[:, 21:].mean().item()
    checks.assert_close("ablated_repeated_loss_at", _got, _want, atol=1e-3,
                        name=f"heads {_heads} at positions {_pos[:4]}... (seq_len 20)",
                        hint="every listed head at every listed position, and nothing else; use seq_len, not 32")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 18: predict, then look. Where do the previous-token heads matter?
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 2 points · about 10 minutes, then look at the hint.
#
# Take the previous-token heads you found from **your** scores (`prev_token_heads`, from
# exercise 7) and ablate them at the positions of one half of the sequence only:
#
# - **first**: at positions `1 .. 32` (the first copy of the random tokens);
# - **repeated**: at positions `33 .. 64` (the repeated copy, where the loss is measured).
#
# The two ablations remove the same heads at the same number of positions: each is the
# other's control, of exactly matched size. Follow the circuit: at a repeated-half query
# holding token `a`, the induction head looks for the key whose *previous* token was `a`.
# Where is that key, and who wrote "my previous token was `a`" into it?
#
# **Before running anything**, write your prediction in `predict_prev_token_ablation`:
# `"first"` (only the first-half ablation breaks copying), `"repeated"` (only the
# repeated-half one), `"both"` (each alone breaks it) or `"neither"` (only ablating
# everywhere does). The test measures both with your `ablated_repeated_loss_at` and tells
# you what the data say. ("Breaks" here: raises the repeated-half loss by more than 1 nat.)
#
# <details><summary>Hint</summary>
#
# **The idea.** An induction head's query is in the repeated half; the key it attends to is
# the token *after* the earlier copy, and that key must already carry "the token before me
# was `a`" when layer 1 reads it.
#
# **A pointer.** Look back at the attention patterns: which half do the attended-to keys
# sit in? The previous-token information has to be written at the key's position, not at
# the query's.
# </details>

# %% nbgrader={"solution": true, "grade_id": "predict_prev_token_ablation"} exercise={"difficulty": 2, "importance": 5, "minutes": 10}
def predict_prev_token_ablation() -> str:
    """Your prediction: "first", "repeated", "both" or "neither" (see the exercise)."""
    ### BEGIN SOLUTION
    return "first"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "predict_prev_token_ablation_test", "points": 2}
_ref_model = course.models.load("induction-2l")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
prediction = checks.call("predict_prev_token_ablation", predict_prev_token_ablation, case="your prediction")
checks.assert_true("predict_prev_token_ablation", prediction in ("first", "repeated", "both", "neither"),
                   f'answer "first", "repeated", "both" or "neither", got {prediction!r}')
_base = ablated_repeated_loss(bridge, tokens, 32, [])
half_effects = {
    "everywhere": ablated_repeated_loss(bridge, tokens, 32, prev_token_heads) - _base,
    "first": ablated_repeated_loss_at(bridge, tokens, 32, prev_token_heads, list(range(1, 33))) - _base,
    "repeated": ablated_repeated_loss_at(bridge, tokens, 32, prev_token_heads, list(range(33, 65))) - _base,
}
print(f"previous-token heads {prev_token_heads} ablated; increase of the repeated-half loss: everywhere "
      f"{half_effects['everywhere']:.3f}, first-half positions {half_effects['first']:.3f}, repeated-half positions "
      f"{half_effects['repeated']:.3f} nats")
checks.assert_true("predict_prev_token_ablation",
                   half_effects["everywhere"] > 2.5 and half_effects["first"] > 2.5 and half_effects["repeated"] < 0.3,
                   "expected ablating the previous-token heads everywhere or at the first half's positions to raise the "
                   f"loss by more than 2.5 nats, and at the repeated half's by less than 0.3; got {half_effects}",
                   details=[f"prev_token_heads (from your scores, exercise 7) = {prev_token_heads}",
                            "if they look wrong, check exercises 5 and 7; if the numbers do, exercise 17"])
_data_say = {(True, False): "first", (False, True): "repeated", (True, True): "both", (False, False): "neither"}[
    (half_effects["first"] > 1.0, half_effects["repeated"] > 1.0)]
checks.assert_true("predict_prev_token_ablation", prediction == _data_say,
                   f'you predicted "{prediction}"; the data say "{_data_say}": '
                   f"first-half positions +{half_effects['first']:.2f} nats, repeated-half positions "
                   f"+{half_effects['repeated']:.2f}",
                   hint="the key an induction head reads holds 'my previous token was a' only if a previous-token "
                        "head wrote it there: in which half is that key?")
### BEGIN HIDDEN TESTS
_tok = attn_only.repeated_tokens(32, 24, 64, torch.Generator().manual_seed(24))
with torch.no_grad():
    _ref_prev, _ = attn_only.head_scores(_ref_model.run_with_patterns(_tok)[1], 24)
    _ph = [(0, h) for h in range(4) if _ref_prev[0, h] > 0.3]
    _loss = [attn_only.per_token_loss(attn_only.ablated_logits(_ref_model, _tok, _ph, _p), _tok)[:, 25:].mean().item()
             for _p in (None, range(1, 25), range(25, 49))]
    _clean = attn_only.per_token_loss(_ref_model(_tok), _tok)[:, 25:].mean().item()
checks.assert_true("predict_prev_token_ablation",
                   predict_prev_token_ablation() == "first" and _loss[1] - _clean > 1.0 > _loss[2] - _clean,
                   f'on other sequences (seq_len 24) the data say "first": {[round(v - _clean, 2) for v in _loss]}')
### END HIDDEN TESTS

# %% [markdown]
# Your prediction has met the data. Before reading on, say in one sentence why the half that
# matters is the one it is, and which earlier measurement (from the weights alone) predicted it.
#
# <details><summary>One reading (open after you have answered)</summary>
#
# The same three heads, ablated at the same number of positions:
# at the first copy they destroy copying, at the repeated copy (where the loss is measured,
# and where the induction heads' queries are) they barely matter. That is what
# K-composition predicts and exercise 9 measured from the weights: the previous-token heads
# serve the induction heads' **keys**, which sit in the first copy. A matched control
# turned "these heads matter" into "these heads matter *there*, for the reason the circuit
# says".
# </details>
#
# ## Exercise 19: the in-context learning score
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Olsson et al. (2022) measure in-context learning without any special data: the **loss of
# the 500th token of a context minus the loss of the 50th**, averaged over a dataset. A
# model that uses its context gets better later in it, so the score is negative, and in
# their models it fell abruptly at the same point of training as the induction heads
# formed. Our contexts have 64 tokens, so we scale their positions by a tenth: token 60
# minus token 6.
#
# Write `icl_score(loss, early, late)`: `loss` is a per-token loss from your
# `per_token_loss` (column `t` is the loss of predicting the token at position `t + 1`);
# return the mean loss of the token at position `late` minus the mean loss of the token at
# position `early` (positions count BOS as 0), as a Python float.
#
# The live run of "The phase change" kept, at every evaluation, the per-token loss on 256
# periodic rows (like its training data) and on 256 windows of Python source
# (`attn_only.text_tokens`: the 62 most common bytes of the standard library's source as
# tokens 1-62, every other byte as 63). The test applies your score to every snapshot.
#
# <details><summary>Hint</summary>
#
# **The idea.** Two columns of the loss table, each averaged over the batch, subtracted.
#
# **A pointer.** The token at position `k` is predicted by the logits at position `k - 1`,
# so its loss is in column `k - 1`. Return `.item()` of the difference.
# </details>

# %% nbgrader={"solution": true, "grade_id": "icl_score"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def icl_score(loss: torch.Tensor, early: int, late: int) -> float:
    """In-context learning score: mean loss of the token at position `late` minus at position `early`.

    loss: float (B, T - 1), column t = loss of predicting the token at position t + 1 (BOS is position 0).
    1 <= early, late <= T - 1. Returns a Python float (negative when the model does better later).
    """
    ### BEGIN SOLUTION
    return (loss[:, late - 1].mean() - loss[:, early - 1].mean()).item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "icl_score_test", "points": 2}
_ref_model = course.models.load("induction-2l")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_ramp = torch.arange(1.0, 11.0).repeat(3, 1)  # (3, 10): column t holds t + 1, the position it predicts
got = checks.call("icl_score", icl_score, _ramp, 2, 9, case="a ramp whose column t holds t + 1")
checks.assert_true("icl_score", isinstance(got, float), f"return a Python float, got {type(got).__name__}")
checks.assert_close("icl_score", got, 7.0, hint="the loss of the token at position 9 is in column 8; at 2, column 1")
_l = torch.tensor([[1.0, 5.0, 2.0, 0.0], [3.0, 1.0, 0.0, 4.0]])
checks.assert_close("icl_score", icl_score(_l, 1, 4), 0.0, name="two rows, positions 1 and 4",
                    hint="average each column over the batch, then subtract: (0 + 4)/2 - (1 + 3)/2")
checks.assert_close("icl_score", icl_score(_l, 3, 2), 2.0, name="early after late",
                    hint="late minus early, in that order: (5 + 1)/2 - (2 + 0)/2")
icl_curves = {name: [icl_score(snap[name], 6, 60) for snap in live_record["snapshots"]] for name in icl_batches}
live_phase = attn_only.phase_change_step(live)  # first evaluation with a layer-1 induction score above 0.3
_drops = [b - a for a, b in zip(icl_curves["periodic"], icl_curves["periodic"][1:])]
steepest = live["step"][1 + int(np.argmin(_drops))]
print(f"ICL score (token 60 - token 6) on periodic rows: {icl_curves['periodic'][0]:.2f} at step 0, "
      f"{icl_curves['periodic'][-1]:.2f} at step {live['step'][-1]}; steepest fall at step {steepest}; "
      f"induction score passes 0.3 at step {live_phase}")
checks.assert_true("icl_score", abs(icl_curves["periodic"][0]) < 0.1 and icl_curves["periodic"][-1] < -2.5,
                   f"on periodic rows expected about 0 at step 0 and below -2.5 at the end, got {icl_curves['periodic']}")
checks.assert_true("icl_score", 250 <= live_phase <= 350 and abs(steepest - live_phase) <= 50,
                   f"expected the phase change between steps 250 and 350 and the ICL score's steepest fall within 50 "
                   f"steps of it; got {live_phase} and {steepest}")
with torch.no_grad():
    shipped_text_icl = icl_score(attn_only.per_token_loss(_ref_model(icl_batches["text"]), icl_batches["text"]), 6, 60)
print(f"the shipped model's ICL score on Python source: {shipped_text_icl:.2f}")
checks.assert_true("icl_score", shipped_text_icl > 0.5,
                   f"expected the shipped model to do worse late in a window of Python source (score > 0.5), "
                   f"got {shipped_text_icl:.3f}")
### BEGIN HIDDEN TESTS
torch.manual_seed(25)
_l = torch.rand(5, 30, dtype=torch.float64)
for _e, _t in [(6, 30), (1, 1), (30, 2)]:
    _got = checks.call("icl_score", icl_score, _l, _e, _t, case=f"random (5, 30) losses, early {_e}, late {_t}")
    checks.assert_close("icl_score", _got, (_l[:, _t - 1].mean() - _l[:, _e - 1].mean()).item(), atol=1e-9,
                        name=f"early {_e}, late {_t}")
_nc = torch.rand(12, 7).T  # (7, 12), not contiguous
checks.assert_close("icl_score", icl_score(_nc, 3, 11), (_nc[:, 10].mean() - _nc[:, 2].mean()).item(), atol=1e-6,
                    name="a non-contiguous view")
### END HIDDEN TESTS

# %% [markdown]
# The score over the live run, next to the induction score it should track:

# %%
fig, ax1 = plt.subplots(figsize=(8, 3.3))
ax1.plot(live["step"], icl_curves["periodic"], marker=".", label="ICL score, periodic rows")
ax1.plot(live["step"], icl_curves["text"], marker=".", label="ICL score, Python source")
ax1.axhline(0, c="k", lw=0.5)
ax1.axvline(live_phase, c="gray", ls=":", label="induction score passes 0.3")
ax1.set(xlabel="training step (your live run)", ylabel="loss(token 60) - loss(token 6)")
ax2 = ax1.twinx()
ax2.plot(live["step"], [max(s[1]) for s in live["induction_scores"]], c="C3", alpha=0.4, label="best induction score")
ax2.set(ylabel="induction score", ylim=(0, 1))
fig.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.1, 0.2))
plt.show()
print("ICL score on Python source over the live run:", [round(v, 2) for v in icl_curves["text"]])

# %% [markdown]
# Before reading on: when does the score on periodic rows fall, compared with the dotted line?
# Does it move at all before it? And what sign does the score on Python source have, and what
# would that mean about the model's copying on text?
#
# <details><summary>One reading (open after you have answered)</summary>
#
# On data like its training data the score falls from 0 to
# strongly negative at the phase change, the steepest fall within one evaluation of the
# moment the induction scores jump: Olsson et al.'s co-occurrence, in miniature. (It also
# drifts down a little *before* the phase change: tokens already in the context are more
# likely to come again, which a model can use without induction heads.)
#
# On Python source the picture is different, and it is the honest limit of this lesson. The
# shipped model's score on text is **positive** (printed above): it does *worse* late in a
# window of source code. Trained on data where every token repeats its whole block, it
# copies confidently whatever followed the last occurrence of the current token; in code,
# where `e` or a space is followed by something new most of the time, that confidence is
# punished, and more so the more context there is to copy from. On periodic data copying
# is the only thing to learn; on text, a model has to learn *when* to copy, and that needs
# training on text. Olsson et al.'s claim is about models trained on natural text; this
# lesson reproduces the mechanism and the co-occurrence on synthetic data, not that.
# </details>

# %% [markdown]
# ## Summary
#
# What this lesson reproduced, and what it did not:
#
# - **Reproduced** (Olsson et al. 2022; Elhage et al. 2021), on a 2-layer attention-only
#   model trained on synthetic periodic tokens: a phase change in the loss on repeated
#   tokens, coinciding with the appearance of induction heads in layer 1 and with the
#   fall of the in-context learning score (token 60 minus token 6) on data like the
#   training data; previous-token heads in layer 0; K-composition between them well above
#   a random baseline; an induction head's OV circuit that copies and a QK circuit that
#   matches a query token to the key's previous token; ablations that remove in-context
#   copying only when they hit the circuit, and previous-token heads that matter at the
#   keys' positions and not at the queries' (a control of matched size).
# - **Not reproduced**: in-context learning on natural text. On Python source this model's
#   ICL score is positive (it copies where it should not); Olsson et al.'s models were
#   trained on text, and so were their larger models, and the claim that induction heads
#   account for most of in-context learning in large models is not tested here. The model
#   here was given data in which copying is the only thing to learn.
#
# Next: 4.x replicates more papers with the same tools. Where there is internet,
# `TransformerBridge.boot_transformers("gpt2")` and the functions you wrote here find the
# induction heads of GPT-2 small (layers 5-6 in the published analyses).
#
# ## Going further
#
# Open questions an alumnus could take up, each with a place to start:
#
# 1. **Induction heads on text.** Train the same model on the standard-library corpus
#    (`attn_only.text_tokens` shows the mapping; `attn_only.train` takes any `batch_fn`),
#    alone and mixed with tiled text blocks. Does a phase change appear within a CPU budget,
#    and does the ICL score on held-out source turn negative when it does?
# 2. **When to copy.** A model trained on a mix of periodic rows and plain text must learn
#    when copying pays. Which head, or which part of a QK circuit, decides it? Start from
#    the per-position loss of exercise 3 on rows that switch from text to repeats midway.
# 3. **Redundancy, measured.** Exercise 15 showed single-head ablations understate group
#    effects. Compute all 2^8 subsets of heads (cheap here) and fit the loss as a function of
#    the ablated set: is it close to "broken once any group is empty"? Compare with Shapley
#    values of the heads.
# 4. **Mean and resample ablation.** Repeat exercises 14-18 with mean ablation (the head's
#    average `z` over a batch) and resample ablation (its `z` on other sequences). Which
#    conclusions change, and why does zero ablation suffice in a model without biases?
# 5. **What drives the phase change?** Record the K-composition score (exercise 9) and the
#    QK diagonal (exercise 13) at every evaluation of a live run (the `on_eval` argument of
#    `attn_only.train`). Which one moves first: the previous-token heads, or the
#    induction heads' keys? Olsson et al. (2022, argument 2) discuss this ordering.
# 6. **Longer periods, longer contexts.** Train with periods up to 64 and a context of 128:
#    does the model learn induction at distances it never saw during training, and where
#    does the ICL score at token 120 minus token 12 stop improving?
# 7. **Fuzzy induction.** Olsson et al. describe heads that copy *similar* rather than
#    identical tokens. Give the vocabulary a structure (pairs of tokens that are synonyms,
#    swapped at random in the repeat) and look for the pattern in the QK circuit.

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 3.2`), else from `bootcamp check 3.2` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("3.2")
