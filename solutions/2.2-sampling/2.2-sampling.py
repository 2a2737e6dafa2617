# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "2.2"
#     title: Training and sampling
#     minutes: 210
#     prerequisites: ["2.1"]
# ---

# %% [markdown]
# # 2.2 Training and sampling
#
# In 2.1 you built a GPT and checked that its logits equal a reference. A model with random
# weights writes noise, though. This lesson trains one on a corpus every machine has,
# Python's own standard-library source, and then turns its logits into text: greedily,
# with a temperature, with top-k and top-p (nucleus) sampling and with beam search. Last,
# you make generation fast with a **KV cache**, the trick every production language model
# server relies on, and measure the speed-up.
#
# **After this lesson you can**
# - cut a corpus into training batches of next-token prediction and write a training step
#   with gradient clipping;
# - read a loss curve in nats per character and say what a number like 1.5 means;
# - implement greedy decoding, temperature, top-k and top-p sampling, and test a sampler
#   *statistically* (a chi-square test of sampled frequencies);
# - implement beam search and say when it beats greedy decoding;
# - implement a KV cache whose logits equal the uncached ones, and measure what it saves.
#
# **Prerequisites.** 2.1 (a GPT from scratch: embeddings, causal attention, the block,
# the unembedding). Here the model is the course's own, `course.models.gpt.GPT`: the model
# you wrote in 2.1, with the same names (`wte`, `wpe`, `blocks.i.attn.q`/`k`/`v`/`proj`,
# `blocks.i.mlp.fc`/`proj`, `ln_f`, `unembed`), the same `GPTConfig` and the same untied
# unembedding. 2.1's last test loaded your model's `state_dict` into it and got your
# logits, so everything trained here would load back into your own class. New there: the
# initialisation (`reset_parameters`, GPT-2's), a `loss` method, and an attention that
# moves the head axis first (`split_heads`) because batched matrix products want it there
# (the same function as yours); read `course/models/gpt.py` once before you start, it is short.
#
# **Time.** About 3½ hours: ten graded exercises (23 points).
#
# **How the exercises work.** Each exercise explains an idea, then gives you a function in
# which `raise NotImplementedError` marks the code to write. Replace it and run the test
# cell below. A failing cell says what is wrong (shape, dtype, which element, by how much)
# and a likely cause. Hidden tests, run when your notebook is graded, probe edge cases:
# batch size 1, a context longer than the model's, uint8 data, float64 logits, a KV cache
# filled in uneven chunks. From a terminal, `bootcamp check 2.2` runs the whole notebook
# and prints a table of every exercise. Each exercise says how hard it is (🔴, 1–5), how
# much it matters for the rest of the course (🔵, 1–5) and how long to try before opening
# the hint.
#
# Everything runs on a CPU, offline. The model you train live here only gets a few dozen
# steps; the full run (2,000 steps, about 7 minutes) made the checkpoint that ships with
# the course, and `bootcamp reproduce stdlib-gpt` remakes it from scratch.

# %%
import math
import os
import time
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn
from tqdm.auto import tqdm

from course import checks, data
from course.models import registry
from course.models.gpt import GPT, GPTConfig, decode, encode

# One thread: these models are small, a second thread only adds overhead on 2 cores, and
# one thread makes every run below repeat to the last bit.
torch.set_num_threads(1)
torch.set_printoptions(precision=4, sci_mode=False)
_ = torch.manual_seed(0)

# %% [markdown]
# ## The corpus: Python's standard library
#
# `data.stdlib_corpus()` reads a fixed list of about 150 standard-library modules
# (`argparse.py`, `typing.py`, `json/decoder.py`, ...) from this Python's installation and
# joins them: about 5 MB. The **validation split is whole files** that are never trained on
# (`textwrap.py`, `heapq.py`, `fractions.py`, ...), so a low validation loss means the model
# learned Python, not the neighbouring lines of a file it saw.
#
# The model reads **bytes**: the vocabulary is the 256 byte values, so there is no
# tokenizer to train or ship, and `encode`/`decode` are one line each. The stdlib is
# almost all ASCII, so a byte is a character, and the loss is in *nats per character*.
#
# One gotcha: the standard library differs between Python versions, so the corpus does
# too. It carries a sha256; the shipped checkpoint records the hash it was trained on, and
# `corpus.matches_reference` says whether yours is the same.

# %%
corpus = data.stdlib_corpus()
print(corpus.describe())
train_data = corpus.tokens("train", torch=True)
val_data = corpus.tokens("val", torch=True)
print("train tokens:", train_data.shape, train_data.dtype, "| first line:", decode(train_data[:60]).splitlines()[0])
print("encode('def f():') =", encode("def f():").tolist())

# %% [markdown]
# ## Exercise 1: batches of next-token prediction
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# A language model is trained to predict token `t+1` from tokens `0..t`, at every position
# at once. A training example is a window of `n_ctx + 1` consecutive tokens: the input
# `x` is its first `n_ctx`, the target `y` its last `n_ctx` (the same window shifted by
# one). For the corpus `d e f _ f` and `n_ctx = 3`, the window starting at 0 gives
#
# ```
# x = d e f        the model sees    d    d e    d e f
# y = e f _        and must predict  e     f      _
# ```
#
# Write `get_batch`, which draws `batch_size` windows at random start positions. So that
# a batch is reproducible (and so that the hidden tests can check yours exactly), draw the
# starts with exactly this call:
# `torch.randint(0, len(data) - n_ctx, (batch_size,), generator=generator)`.
#
# <details><summary>Hint</summary>
#
# With `starts` of shape `(B,)`, `starts[:, None] + torch.arange(n_ctx + 1)` is a `(B, n_ctx + 1)`
# table of indices; `data[idx]` gathers every window at once. Then `x = w[:, :-1]`,
# `y = w[:, 1:]`, and `.long()` makes both int64 whatever the dtype of `data`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "get_batch"} exercise={"difficulty": 1, "importance": 4, "minutes": 10}
def get_batch(data: torch.Tensor, batch_size: int, n_ctx: int,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of `data` for next-token prediction.

    data: (N,) integer tensor of token ids (any integer dtype), N > n_ctx.
    Draws starts = torch.randint(0, N - n_ctx, (batch_size,), generator=generator).
    Returns (x, y), both int64 of shape (batch_size, n_ctx):
    x[b] = data[starts[b] : starts[b] + n_ctx], y[b] = data[starts[b] + 1 : starts[b] + n_ctx + 1].
    """
    ### BEGIN SOLUTION
    starts = torch.randint(0, len(data) - n_ctx, (batch_size,), generator=generator)
    windows = data[starts[:, None] + torch.arange(n_ctx + 1)].long()
    return windows[:, :-1], windows[:, 1:]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "get_batch_test", "points": 2}
ramp = torch.arange(1000)
out = checks.call("get_batch", get_batch, ramp, 4, 8, torch.Generator().manual_seed(0), case="a ramp 0..999")
checks.assert_true("get_batch", isinstance(out, tuple) and len(out) == 2, "get_batch should return a pair (x, y)")
x, y = out
checks.assert_shape("get_batch", x, (4, 8), name="x")
checks.assert_shape("get_batch", y, (4, 8), name="y")
checks.assert_dtype("get_batch", x, torch.int64, name="x")
checks.assert_equal("get_batch", x[:, 1:], y[:, :-1], name="x[:, 1:] vs y[:, :-1]",
                    hint="y is x shifted left by one: both come from one window of n_ctx + 1 tokens")
checks.assert_equal("get_batch", x[:, 1:] - x[:, :-1], torch.ones(4, 7, dtype=torch.long),
                    name="steps within a row of x (data is a ramp)", hint="each row must be consecutive tokens of data")
checks.assert_equal("get_batch", y - x, torch.ones(4, 8, dtype=torch.long), name="y - x (data is a ramp)",
                    hint="the target of position t is the token at t + 1")
x2, _ = get_batch(ramp, 4, 8, torch.Generator().manual_seed(0))
checks.assert_equal("get_batch", x2, x, name="x for the same seed", hint="draw the starts with generator=generator")
### BEGIN HIDDEN TESTS
def _ref_get_batch(d, b, n, g):
    s = torch.randint(0, len(d) - n, (b,), generator=g)
    w = d[s[:, None] + torch.arange(n + 1)].long()
    return w[:, :-1], w[:, 1:]


for _seed, _b, _n, _d in [(1, 16, 32, ramp), (2, 1, 5, ramp[:6]), (3, 7, 3, torch.randint(0, 256, (50,)).to(torch.uint8))]:
    got = checks.call("get_batch", get_batch, _d, _b, _n, torch.Generator().manual_seed(_seed),
                      case=f"batch_size={_b}, n_ctx={_n}, data of {len(_d)} {_d.dtype}")
    want = _ref_get_batch(_d, _b, _n, torch.Generator().manual_seed(_seed))
    checks.assert_equal("get_batch", got[0], want[0], name=f"x ({_d.dtype} data, n_ctx={_n})",
                        hint="use exactly torch.randint(0, len(data) - n_ctx, (batch_size,), generator=generator), "
                             "and return int64")
    checks.assert_equal("get_batch", got[1], want[1], name=f"y ({_d.dtype} data, n_ctx={_n})")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: one training step
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 2 points · about 15 minutes, then look at the hint.
#
# The loss is the mean cross-entropy of the next token over every position of every row:
# with logits of shape `(B, T, V)` and targets `(B, T)`, flatten both to `(B*T, V)` and
# `(B*T,)` for `F.cross_entropy`. Before the optimiser step, **clip the gradient norm**:
# `torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)` rescales all gradients
# together so that their global L2 norm is at most `grad_clip`. A language model sees the
# odd batch with a huge gradient (a file of base64, a table of numbers); clipping keeps one
# such batch from undoing hundreds of steps.
#
# The order matters: zero the old gradients, forward, loss, backward, clip, step. Return
# the loss as a Python float (computed before the step), for logging.
#
# <details><summary>Hint</summary>
#
# **The idea.** One step of training: clear old gradients, compute the loss of the model's next-token
# predictions, backpropagate, clip the gradient norm, step, and report the loss as a number.
#
# **A pointer.** Cross-entropy wants `(N, V)` logits and `(N,)` targets: flatten batch and
# positions together. torch has a gradient clipper in `torch.nn.utils`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "train_step"} exercise={"difficulty": 2, "importance": 5, "minutes": 15}
def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               grad_clip: float = 1.0) -> float:
    """One optimisation step of next-token cross-entropy.

    model: maps int64 tokens (B, T) to float logits (B, T, V).
    x, y: int64 (B, T) inputs and targets.
    Zeroes the gradients, computes the mean cross-entropy over all B*T positions,
    back-propagates, clips the global gradient norm to `grad_clip`, steps the optimizer.
    Returns the loss before the step as a Python float.
    """
    ### BEGIN SOLUTION
    optimizer.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "train_step_test", "points": 2}
tiny_cfg = GPTConfig(d_vocab=256, n_ctx=16, d_model=32, n_layers=1, n_heads=2, d_mlp=64)
torch.manual_seed(0)
tiny = GPT(tiny_cfg)
xb, yb = torch.randint(0, 256, (3, 16)), torch.randint(0, 256, (3, 16))
with torch.no_grad():
    loss_before = F.cross_entropy(tiny(xb).reshape(-1, 256), yb.reshape(-1)).item()
w_before = tiny.wte.weight.detach().clone()
got = checks.call("train_step", train_step, tiny, torch.optim.SGD(tiny.parameters(), lr=0.1), xb, yb,
                  case="a 1-layer GPT and SGD")
checks.assert_true("train_step", isinstance(got, float), f"return the loss as a Python float; got {type(got).__name__}",
                   hint="loss.item() turns a 0-d tensor into a float")
checks.assert_close("train_step", got, loss_before, name="returned loss", atol=1e-5,
                    hint="the mean cross-entropy over all B*T positions, computed before optimizer.step()")
checks.assert_true("train_step", not torch.equal(tiny.wte.weight, w_before),
                   "the parameters did not change: call optimizer.step()")
### BEGIN HIDDEN TESTS
import copy as _copy


def _ref_step(m, opt, x_, y_, clip):
    opt.zero_grad()
    lo = F.cross_entropy(m(x_).reshape(-1, m(x_).shape[-1]), y_.reshape(-1))
    lo.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), clip)
    opt.step()
    return lo.item()


torch.manual_seed(1)
m_a = GPT(tiny_cfg)
m_b = _copy.deepcopy(m_a)
opt_a, opt_b = torch.optim.SGD(m_a.parameters(), lr=1.0), torch.optim.SGD(m_b.parameters(), lr=1.0)
for _i in range(2):  # twice: a missing zero_grad accumulates the first gradient into the second
    xs, ys = torch.randint(0, 256, (2, 9)), torch.randint(0, 256, (2, 9))
    checks.call("train_step", train_step, m_a, opt_a, xs, ys, 0.01, case="grad_clip=0.01, two steps")
    _ref_step(m_b, opt_b, xs, ys, 0.01)
    for (name, p_a), p_b in zip(m_a.named_parameters(), m_b.parameters()):
        checks.assert_close("train_step", p_a, p_b, name=f"{name} after step {_i + 1}", atol=1e-6,
                            hint="clip with torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip) "
                                 "after backward and before step; zero the gradients first")
### END HIDDEN TESTS

# %% [markdown]
# ## Training, live for a few seconds, then the real run
#
# Below, your two functions train a fresh 2-layer GPT (`d_model` 128, 4 heads, context
# 128: the shipped model's configuration) with AdamW for a few dozen steps, so you can see
# the loss start to fall. A loss of `ln 256 ≈ 5.55` nats is a uniform guess over the 256
# bytes; the model gets below 3 within a few dozen steps by learning which bytes are
# common (spaces, `e`, `t`, newlines), and below 2 once it knows words and indentation.

# %%
cfg = registry.get("stdlib-gpt").config
print(cfg)
torch.manual_seed(0)
live = GPT(cfg)
opt = torch.optim.AdamW(live.parameters(), lr=3e-3, betas=(0.9, 0.99), weight_decay=0.1)
gen = torch.Generator().manual_seed(1)
live_losses = []
for _step in (bar := tqdm(range(40), desc="live training", unit="step")):
    xb, yb = get_batch(train_data, 16, cfg.n_ctx, gen)
    live_losses.append(train_step(live, opt, xb, yb, grad_clip=1.0))
    bar.set_postfix(loss=f"{live_losses[-1]:.3f}")
print(f"{len(live_losses)} steps: loss {live_losses[0]:.2f} -> {live_losses[-1]:.2f} nats/char")

# %% [markdown]
# The full run is `python -m course.models.train stdlib-gpt` (about 7 minutes on one core):
# 2,000 steps of batch 16, AdamW with a warm-up and a cosine schedule, seed 0. Its checkpoint ships with the course in float16 (under 1 MB), next to a JSON
# sidecar with its metrics, loss curve, seed, command, torch version and corpus hash.
# `course.models.load` gives it back with no network.

# %%
spec = registry.get("stdlib-gpt")
sidecar = spec.sidecar()
model = registry.load("stdlib-gpt")
print(f"{spec.name}: {model.n_params():,} parameters, {spec.size_bytes() / 1e6:.2f} MB on disk ({sidecar['dtype']})")
print("shipped metrics:", sidecar["metrics"])
print("trained on:", sidecar["corpus"]["python"], sidecar["corpus"]["sha256"][:12],
      "| this corpus is the same:", corpus.sha256 == sidecar["corpus"]["sha256"])

curve = sidecar["curve"]
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(curve["train_step"], curve["train_loss"], label="shipped run: train (mean of 10 steps)")
ax.plot(curve["val_step"], curve["val_loss"], "o-", label="shipped run: validation (held-out files)")
ax.plot(range(1, len(live_losses) + 1), live_losses, label="your live run: train")
ax.axhline(math.log(256), ls=":", c="gray", label="uniform guess, ln 256")
ax.set(xlabel="step", ylabel="loss (nats per character)", ylim=(1, 6), title="Training the stdlib GPT")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# What does 1.5 nats per character mean? `e^1.5 ≈ 4.5`: at each character the model is,
# on average, as unsure as a uniform choice among four or five bytes. For comparison, gzip
# compresses the validation files to 2.1 bits per character (1.5 nats) and xz to 2.0 bits
# (1.36 nats): a half-million-parameter model that sees 128 characters at a time predicts
# Python about as well as gzip, which can look back 32 KB.
#
# ## From logits to text
#
# A model gives a distribution over the next token; **decoding** chooses from it, appends
# the choice, and repeats. Every method below is a different answer to "which token?".
# To test them we also use a model simple enough to reason about: a **bigram model**,
# whose next-token distribution depends only on the last token, given by a table.

# %%
class Bigram(nn.Module):
    """A stand-in language model: logits for the next token depend only on the last token.

    table: (V, V) probabilities, row = current token. forward((B, T)) -> (B, T, V) log-probs.
    Raises if given more than n_ctx tokens, like a real GPT.
    """

    def __init__(self, table, n_ctx: int = 64):
        super().__init__()
        self.table = torch.as_tensor(table, dtype=torch.float32)
        self.cfg = SimpleNamespace(n_ctx=n_ctx, d_vocab=self.table.shape[0])
        self.calls = 0

    def forward(self, tokens):
        if tokens.shape[-1] > self.cfg.n_ctx:
            raise ValueError(f"{tokens.shape[-1]} tokens is more than n_ctx={self.cfg.n_ctx}")
        self.calls += 1
        return self.table.log()[tokens]


# Token i is followed by i + 1 (mod 5) with probability 0.6.
counter = Bigram(0.1 * torch.ones(5, 5) + 0.5 * torch.roll(torch.eye(5), 1, dims=1), n_ctx=8)
print(counter(torch.tensor([[0, 3]])).exp())

# %% [markdown]
# ## Exercise 3: greedy decoding
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Greedy decoding always takes the most likely token: `argmax` of the last position's
# logits. It is deterministic, and for a small model it soon falls into a loop
# (`self.self.self.`), because the most likely continuation of a loop is more loop.
#
# The model has a maximum context `model.cfg.n_ctx`: feed it only the **last** `n_ctx`
# tokens of the sequence so far (the position embedding has no row for position 128).
# Generation needs no gradients: wrap it in `torch.no_grad()`.
#
# <details><summary>Hint</summary>
#
# **The idea.** Repeatedly run the model on what you have, take the single most likely next token,
# append it, and go on; the model sees at most its context length.
#
# **A pointer.** Keep the tokens as a `(1, T)` batch; the prediction for the next token is at the
# last position. Crop the input to the last `n_ctx` tokens, and turn off autograd.
# </details>

# %% nbgrader={"solution": true, "grade_id": "greedy_decode"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def greedy_decode(model: nn.Module, prompt: torch.Tensor, n_new: int) -> torch.Tensor:
    """Append `n_new` tokens to `prompt`, each the argmax of the model's next-token logits.

    model: maps (1, T) int64 tokens (T <= model.cfg.n_ctx) to (1, T, V) logits.
    prompt: (T0,) int64, T0 >= 1; it may be longer than model.cfg.n_ctx.
    Returns (T0 + n_new,) int64: the prompt followed by the new tokens.
    """
    ### BEGIN SOLUTION
    tokens = prompt.long().view(1, -1)
    with torch.no_grad():
        for _ in range(n_new):
            logits = model(tokens[:, -model.cfg.n_ctx:])
            nxt = logits[0, -1].argmax()
            tokens = torch.cat([tokens, nxt.view(1, 1)], dim=1)
    return tokens[0]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "greedy_decode_test", "points": 2}
got = checks.call("greedy_decode", greedy_decode, counter, torch.tensor([2]), 6, case="the counting bigram model")
checks.assert_shape("greedy_decode", got, (7,))
checks.assert_equal("greedy_decode", got, torch.tensor([2, 3, 4, 0, 1, 2, 3]),
                    hint="the counting model always prefers last token + 1 (mod 5); take argmax of logits[0, -1]")
tiny.eval()
got = checks.call("greedy_decode", greedy_decode, tiny, torch.tensor([1, 2, 3]), 5, case="a 1-layer GPT")
with torch.no_grad():
    check_logits = tiny(got[None, :-1])[0]
checks.assert_equal("greedy_decode", got[3:], check_logits[2:].argmax(-1), name="new tokens vs argmax of the model",
                    hint="each new token is the argmax of the logits at the LAST position")
### BEGIN HIDDEN TESTS
got = checks.call("greedy_decode", greedy_decode, counter, torch.tensor([0, 1, 2, 3, 4, 0, 1, 2, 3, 4]), 3,
                  case="a prompt of 10 tokens for a model with n_ctx=8")
checks.assert_equal("greedy_decode", got[-3:], torch.tensor([0, 1, 2]), name="tokens after a long prompt",
                    hint="feed the model only the last model.cfg.n_ctx tokens")
got = checks.call("greedy_decode", greedy_decode, counter, torch.tensor([4]), 0, case="n_new=0")
checks.assert_equal("greedy_decode", got, torch.tensor([4]), name="n_new=0 returns the prompt")
got = checks.call("greedy_decode", greedy_decode, tiny, torch.tensor([5] * 20), 4, case="a GPT with n_ctx=16, prompt of 20")
with torch.no_grad():
    want = tiny(got[None, -20:-1][:, -16:])[0, -1].argmax()
checks.assert_equal("greedy_decode", got[-1], want, name="last token with a cropped context")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: temperature
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 1 point · about 5 minutes, then look at the hint.
#
# Sampling draws the next token from the model's distribution instead of taking its top.
# The **temperature** `T` reshapes the distribution first: `softmax(logits / T)`. At
# `T = 1` it is the model's own; as `T → 0` it approaches greedy (all mass on the argmax);
# as `T → ∞` it approaches uniform. Low temperatures give safe, repetitive text; high ones
# give variety and, soon, nonsense. The picture shows one distribution at three temperatures.

# %%
demo_logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0])
fig, axes = plt.subplots(1, 3, figsize=(9, 2.5), sharey=True)
for ax, T in zip(axes, (0.5, 1.0, 2.0)):
    ax.bar(range(5), torch.softmax(demo_logits / T, -1))
    ax.set(title=f"T = {T}", xlabel="token")
axes[0].set_ylabel("probability")
plt.tight_layout()
plt.show()

# %% [markdown]
# Write `softmax_with_temperature`. A temperature of 0 or less is not a distribution:
# raise `ValueError` (greedy decoding is the `T → 0` limit; call it by its name).
#
# <details><summary>Hint</summary>
#
# **The idea.** Temperature divides the logits before the softmax: below 1 it sharpens the
# distribution, above 1 it flattens it. Zero or negative makes no sense and should be refused.
#
# **A pointer.** Check the argument first and raise a `ValueError` that says what was passed;
# the softmax is over the vocabulary axis.
# </details>

# %% nbgrader={"solution": true, "grade_id": "softmax_with_temperature"} exercise={"difficulty": 1, "importance": 4, "minutes": 5}
def softmax_with_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Probabilities softmax(logits / temperature) over the last dimension.

    logits: (..., V) float. temperature: > 0, else ValueError.
    Returns (..., V) of logits' dtype, each row summing to 1.
    """
    ### BEGIN SOLUTION
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return torch.softmax(logits / temperature, dim=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "softmax_with_temperature_test", "points": 1}
for T in (1.0, 0.5, 3.0):
    got = checks.call("softmax_with_temperature", softmax_with_temperature, demo_logits, T, case=f"T={T}")
    checks.assert_close("softmax_with_temperature", got, F.softmax(demo_logits / T, dim=-1), name=f"probabilities at T={T}",
                        hint="divide the logits by T (do not multiply) before the softmax")
checks.assert_raises("softmax_with_temperature", ValueError, softmax_with_temperature, demo_logits, 0.0,
                     hint="T = 0 divides by zero: raise ValueError instead")
batch2 = torch.stack([demo_logits, demo_logits.flip(-1)])
checks.assert_close("softmax_with_temperature", softmax_with_temperature(batch2, 2.0), F.softmax(batch2 / 2.0, dim=-1),
                    name="a batch of two rows", hint="normalise each row: softmax over the last dimension (dim=-1)")
### BEGIN HIDDEN TESTS
big = torch.tensor([[1000.0, 999.0, -1000.0]], dtype=torch.float64)
got = checks.call("softmax_with_temperature", softmax_with_temperature, big, 0.1, case="large float64 logits at T=0.1")
checks.assert_dtype("softmax_with_temperature", got, torch.float64)
checks.assert_close("softmax_with_temperature", got, F.softmax(big / 0.1, -1), name="probabilities of large logits",
                    hint="torch.softmax is stable for large logits; a hand-written exp() overflows")
checks.assert_raises("softmax_with_temperature", ValueError, softmax_with_temperature, demo_logits, -1.0)
x3 = torch.randn(2, 3, 7)
checks.assert_close("softmax_with_temperature", softmax_with_temperature(x3, 2.0), F.softmax(x3 / 2.0, -1),
                    name="a (2, 3, 7) batch", hint="normalise over the last dimension")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: top-k filtering
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# A model puts a little probability on thousands of bad tokens; sampled often enough,
# one of them comes up and derails the text. **Top-k** sampling (Fan et al. 2018) keeps
# only the `k` most likely tokens: set every other logit to `-inf`, so the softmax gives
# them probability 0 and renormalises the rest. Worked example: probabilities
# `[0.4, 0.3, 0.15, 0.1, 0.05]` with `k = 2` become `[4/7, 3/7, 0, 0, 0]`.
#
# Filters work on logits (not probabilities) so that they compose: temperature, then
# top-k, then top-p, then one softmax.
#
# <details><summary>Hint</summary>
#
# **The idea.** Keep each row's `k` largest logits and make every other one impossible (minus
# infinity), so the softmax gives it probability 0. Ties with the k-th value may stay.
#
# **A pointer.** `torch.topk` gives each row's k-th largest value (keep it as a column so it
# broadcasts); `masked_fill` what lies below it. A `k` larger than the vocabulary must not crash.
# </details>

# %% nbgrader={"solution": true, "grade_id": "top_k_filter"} exercise={"difficulty": 2, "importance": 3, "minutes": 10}
def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row; set the others to -inf.

    logits: (..., V) float (assume no ties at the k-th largest value). k >= 1; k >= V keeps all.
    Returns a new tensor of logits' shape and dtype; `logits` is not modified.
    """
    ### BEGIN SOLUTION
    k = min(k, logits.shape[-1])
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "top_k_filter_test", "points": 2}
p5 = torch.tensor([0.4, 0.3, 0.15, 0.1, 0.05])
got = checks.call("top_k_filter", top_k_filter, p5.log(), 2, case="k=2 of 5")
checks.assert_shape("top_k_filter", got, (5,))
checks.assert_close("top_k_filter", got.softmax(-1), torch.tensor([4 / 7, 3 / 7, 0, 0, 0]), name="softmax of the result",
                    hint="the two largest logits stay as they are; every other becomes -inf")
got = checks.call("top_k_filter", top_k_filter, torch.tensor([[0.0, 3.0, 1.0, 2.0]]), 3, case="an unsorted row")
checks.assert_equal("top_k_filter", got, torch.tensor([[-math.inf, 3.0, 1.0, 2.0]]),
                    hint="the kept logits keep their places: filter, do not sort")
### BEGIN HIDDEN TESTS
rows = torch.randn(6, 50, dtype=torch.float64)
before = rows.clone()
got = checks.call("top_k_filter", top_k_filter, rows, 7, case="a (6, 50) float64 batch")
checks.assert_equal("top_k_filter", rows, before, name="the input after the call", hint="do not modify logits in place")
checks.assert_dtype("top_k_filter", got, torch.float64)
checks.assert_equal("top_k_filter", torch.isfinite(got).sum(-1), torch.full((6,), 7), name="kept logits per row",
                    hint="find the k-th largest per row (dim=-1), not over the whole batch")
checks.assert_equal("top_k_filter", got[torch.isfinite(got)], rows[torch.isfinite(got)], name="the kept values")
checks.assert_equal("top_k_filter", top_k_filter(p5.log(), 10), p5.log(), name="k > V keeps everything",
                    hint="clamp k to the vocabulary size")
checks.assert_equal("top_k_filter", torch.isfinite(top_k_filter(rows.T, 1)).sum(-1), torch.ones(50, dtype=torch.long),
                    name="k=1 on a transposed view")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: top-p (nucleus) filtering
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 3 points · about 20 minutes, then look at the hint.
#
# A fixed `k` is wrong both ways: after `def` almost any name is possible (k is too small),
# after `retur` only `n` is (k is too big). **Top-p** (Holtzman et al. 2020, "nucleus
# sampling") keeps the smallest set of most likely tokens whose probabilities add up to at
# least `p`, so the set grows and shrinks with the model's certainty. Worked example:
# probabilities `[0.4, 0.3, 0.15, 0.1, 0.05]` with `p = 0.8`: the running totals of the
# sorted probabilities are `0.4, 0.7, 0.85`, so the first three stay, and the result is
# `[0.4, 0.3, 0.15, 0, 0] / 0.85`. The most likely token always stays, even if its
# probability alone exceeds `p`.
#
# <details><summary>Hint</summary>
#
# Sort descending (`torch.sort(logits, descending=True)` gives values and indices),
# `probs = softmax(sorted)`, `cum = probs.cumsum(-1)`. A token is dropped when the tokens
# *before* it already reach p: `drop = cum - probs >= p`. Then put the mask back in the
# original order: `mask = torch.zeros_like(drop).scatter(-1, indices, drop)`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "top_p_filter"} exercise={"difficulty": 3, "importance": 3, "minutes": 20}
def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probabilities sum to >= p; others -inf.

    logits: (..., V) float. p in (0, 1]. The most likely token is always kept.
    Probabilities are softmax(logits) over the last dimension.
    Returns a new tensor of logits' shape and dtype; `logits` is not modified.
    """
    ### BEGIN SOLUTION
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    cum = probs.cumsum(dim=-1)
    drop_sorted = (cum - probs) >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "top_p_filter_test", "points": 3}
got = checks.call("top_p_filter", top_p_filter, p5.log(), 0.8, case="p=0.8 on [0.4, 0.3, 0.15, 0.1, 0.05]")
checks.assert_shape("top_p_filter", got, (5,))
checks.assert_close("top_p_filter", got.softmax(-1), torch.tensor([0.4, 0.3, 0.15, 0, 0]) / 0.85, name="softmax of the result",
                    hint="keep tokens until the running total reaches p, including the one that crosses it")
shuffled = p5.log()[torch.tensor([3, 0, 4, 2, 1])]
got = checks.call("top_p_filter", top_p_filter, shuffled, 0.8, case="the same probabilities, shuffled")
checks.assert_equal("top_p_filter", torch.isfinite(got), torch.tensor([False, True, False, True, True]), name="kept tokens",
                    hint="sort to decide, but return the logits in their original order (scatter the mask back)")
got = checks.call("top_p_filter", top_p_filter, p5.log(), 0.1, case="p=0.1, below the top probability")
checks.assert_equal("top_p_filter", torch.isfinite(got).sum(), torch.tensor(1), name="tokens kept at p=0.1",
                    hint="the most likely token always stays")
got = checks.call("top_p_filter", top_p_filter, torch.zeros(4), 0.5, case="four equal tokens (0.25 each), p=0.5")
checks.assert_equal("top_p_filter", torch.isfinite(got).sum(), torch.tensor(2), name="tokens kept when two reach p exactly",
                    hint="two tokens already sum to p = 0.5, so a third is not needed: a token is dropped when the total "
                    "BEFORE it is >= p")
two_rows = torch.stack([p5.log(), p5.log().flip(0)])
got = checks.call("top_p_filter", top_p_filter, two_rows, 0.8, case="a (2, 5) batch: p5 and p5 reversed")
checks.assert_equal("top_p_filter", torch.isfinite(got), torch.tensor([[True, True, True, False, False],
                                                                     [False, False, True, True, True]]),
                    name="kept tokens per row", hint="sort, softmax and cumsum over the LAST dimension (dim=-1), one row at a time")
### BEGIN HIDDEN TESTS
def _ref_top_p(lg, p):
    s, o = torch.sort(lg, dim=-1, descending=True)
    pr = s.softmax(-1)
    d = (pr.cumsum(-1) - pr) >= p
    return lg.masked_fill(torch.zeros_like(d).scatter(-1, o, d), float("-inf"))


rows = 3 * torch.randn(5, 40, dtype=torch.float64)
before = rows.clone()
for p in (0.3, 0.9, 1.0):
    got = checks.call("top_p_filter", top_p_filter, rows, p, case=f"a (5, 40) float64 batch, p={p}")
    checks.assert_equal("top_p_filter", torch.isfinite(got), torch.isfinite(_ref_top_p(rows, p)), name=f"kept tokens at p={p}",
                        hint="per row: the running total over the last dimension; p=1.0 keeps every token")
    checks.assert_dtype("top_p_filter", got, torch.float64)
checks.assert_equal("top_p_filter", rows, before, name="the input after the call", hint="do not modify logits in place")
got = checks.call("top_p_filter", top_p_filter, rows.T, 0.5, case="a transposed (non-contiguous) view")
checks.assert_equal("top_p_filter", torch.isfinite(got), torch.isfinite(_ref_top_p(rows.T, 0.5)), name="kept tokens of rows.T")
### END HIDDEN TESTS

# %% [markdown]
# ## Why this matters for safety
#
# How a model is sampled decides what an evaluation measures. Huang et al. (2023), "Catastrophic
# Jailbreak of Open-source LLMs via Exploiting Generation", found that changing only the decoding
# settings (temperature, top-k, top-p) of safety-tuned open models made them produce harmful output
# far more often than under the default settings they had been evaluated with. Capability
# evaluations count tries for the same reason: pass@k (Chen et al. 2021, "Evaluating Large Language
# Models Trained on Code") is the chance that one of k samples succeeds, and an attacker samples
# many times. A refusal rate or a capability score is a property of a model *and* a sampler, so
# report both. Test a sampler statistically, as the next exercise does, rather than by reading a
# few of its outputs.

# %% [markdown]
# ## Exercise 7: sampling, tested statistically
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 15 minutes, then look at the hint.
#
# Put it together: scale by the temperature, filter with top-k, then top-p (each only if
# given), softmax, and draw one token per row with
# `torch.multinomial(probs, 1, generator=generator)`.
#
# How do you test a random function? Draw many samples and compare their frequencies with
# the distribution they should follow. **Pearson's chi-square test** sums
# `(observed − expected)² / expected` over the tokens; if the sampler is right, that
# statistic follows a chi-square distribution, and a p-value below, say, 0.001 means "this
# is very unlikely to be the right distribution". With a fixed seed the test is
# deterministic. It is also sensitive: 20,000 draws tell a temperature of 1.0 from 1.1.
#
# <details><summary>Hint</summary>
#
# **The idea.** Compose what you have written: scale by the temperature, apply the filters that
# were asked for, turn the logits into probabilities, draw one token per row with the given
# generator.
#
# **A pointer.** Filters work on logits, so apply them before the softmax; skip a filter whose
# argument is `None`. `torch.multinomial` draws indices; it returns a column, the test wants `(B,)`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "sample_next"} exercise={"difficulty": 2, "importance": 4, "minutes": 15}
def sample_next(logits: torch.Tensor, generator: torch.Generator, temperature: float = 1.0,
                top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Draw one token per row from softmax(filtered(logits / temperature)).

    logits: (B, V) float. Applies, in order: temperature (> 0, else ValueError), top-k (if
    top_k is not None), top-p (if top_p is not None), softmax, then
    torch.multinomial(probs, 1, generator=generator).
    Returns (B,) int64 token ids.
    """
    ### BEGIN SOLUTION
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    scaled = logits / temperature
    if top_k is not None:
        scaled = top_k_filter(scaled, top_k)
    if top_p is not None:
        scaled = top_p_filter(scaled, top_p)
    probs = scaled.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sample_next_test", "points": 2}
def chi_square_check(name, samples, expected_probs, case):
    """Fail unless the sampled token frequencies fit `expected_probs` (chi-square p-value >= 0.001)."""
    checks.assert_true(name, isinstance(samples, torch.Tensor) and samples.dtype == torch.int64,
                       f"return an int64 tensor of token ids; got {getattr(samples, 'dtype', type(samples))}")
    counts = torch.bincount(samples, minlength=len(expected_probs)).double()
    expected = expected_probs.double() / expected_probs.double().sum() * len(samples)
    outside = int(counts[expected == 0].sum())
    checks.assert_true(name, outside == 0, f"{case}: sampled {outside} token(s) that have probability 0",
                       hint="the filtered logits must be -inf, and sample from them, not from the original logits")
    keep = expected > 0
    chi2, pval = stats.chisquare(counts[keep].numpy(), expected[keep].numpy())
    checks.assert_true(name, pval >= 1e-3,
                       f"{case}: sampled frequencies do not fit the target distribution (chi2={chi2:.1f}, p={pval:.2g})",
                       details=[f"observed {np.round(counts.numpy() / len(samples), 3).tolist()}",
                                f"expected {np.round(expected_probs.numpy(), 3).tolist()}"],
                       hint="softmax(logits / temperature), then filter; draw with torch.multinomial")


n_draws = 20_000
rows = p5.log().expand(n_draws, 5)
got = checks.call("sample_next", sample_next, rows, torch.Generator().manual_seed(0), case="temperature 1")
checks.assert_shape("sample_next", got, (n_draws,))
chi_square_check("sample_next", got, p5, "temperature 1")
got = sample_next(rows, torch.Generator().manual_seed(1), temperature=0.5)
chi_square_check("sample_next", got, F.softmax(p5.log() / 0.5, -1), "temperature 0.5")
got = sample_next(rows, torch.Generator().manual_seed(2), top_k=2)
chi_square_check("sample_next", got, torch.tensor([4 / 7, 3 / 7, 0, 0, 0]), "top_k=2")
checks.assert_raises("sample_next", ValueError, sample_next, rows[:2], torch.Generator().manual_seed(6), temperature=0.0,
                     hint="temperature 0 would divide by zero: raise ValueError (greedy decoding is argmax, not T=0)")
### BEGIN HIDDEN TESTS
got = checks.call("sample_next", sample_next, rows, torch.Generator().manual_seed(3), top_p=0.8, case="top_p=0.8")
chi_square_check("sample_next", got, torch.tensor([0.4, 0.3, 0.15, 0, 0]) / 0.85, "top_p=0.8")
_q = F.softmax(p5.log() / 2.0, -1)  # [0.30, 0.26, 0.18, 0.15, 0.11]: top-p 0.5 then keeps 2
got = checks.call("sample_next", sample_next, rows, torch.Generator().manual_seed(4), temperature=2.0, top_p=0.5,
                  case="temperature 2 then top_p=0.5")
chi_square_check("sample_next", got, torch.tensor([_q[0], _q[1], 0, 0, 0]) / (_q[0] + _q[1]),
                 "temperature 2.0 then top_p=0.5 (temperature first)")
got = checks.call("sample_next", sample_next, rows, torch.Generator().manual_seed(5), temperature=1.5, top_k=3, top_p=0.6,
                  case="temperature 1.5, top_k=3, top_p=0.6")
_r = F.softmax(p5.log()[:3] / 1.5, -1)
_keep = ((_r.cumsum(0) - _r) < 0.6).float()
chi_square_check("sample_next", got, torch.cat([_r * _keep / (_r * _keep).sum(), torch.zeros(2)]),
                 "temperature 1.5, top_k=3, top_p=0.6 (in that order)")
g1 = sample_next(torch.randn(4, 9), torch.Generator().manual_seed(7))
checks.assert_shape("sample_next", g1, (4,), hint="one token per row: squeeze the sample dimension")
checks.assert_raises("sample_next", ValueError, sample_next, rows[:2], torch.Generator(), 0.0);
### END HIDDEN TESTS

# %% [markdown]
# Now the shipped model, writing Python from the prompt `def `, with a few settings. Low
# temperature repeats itself; high temperature invents bytes; top-k and top-p cut the
# nonsense tail while keeping variety.

# %%
@torch.no_grad()
def generate(model, prompt: str, n_new: int, seed: int = 0, **sampling) -> str:
    tokens = encode(prompt)[None]
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_new):
        logits = model(tokens[:, -model.cfg.n_ctx:])[:, -1]
        tokens = torch.cat([tokens, sample_next(logits, g, **sampling)[:, None]], dim=1)
    return decode(tokens[0])


print("greedy:", repr(decode(greedy_decode(model, encode("def "), 80))), "\n")
for settings in ({"temperature": 0.5}, {"temperature": 1.0}, {"temperature": 1.6}, {"top_k": 5}, {"top_p": 0.9}):
    print(f"--- {settings}\n{generate(model, 'def ', 150, **settings)}\n")

# %% [markdown]
# ## Exercise 8: beam search
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵⚪⚪⚪ · 3 points · about 25 minutes, then look at the hint.
#
# Greedy decoding maximises each step, not the whole sequence. With the bigram model below,
# from token 0 greedy takes token 1 (probability 0.6), after which every token is
# unlikely (0.34 at best): total 0.20. Token 2 (0.4) is followed by 2 again with 0.9: total
# 0.36. **Beam search** keeps the `beam_width` best partial sequences by total
# log-probability; at each step it extends each by every token, and keeps the best
# `beam_width` of all the extensions. Width 1 is greedy; width `V^n` is exhaustive search.
#
# ```
# step 1:  [0,1] log 0.6    [0,2] log 0.4                      (keep 2)
# step 2:  [0,1,0] log 0.20 [0,1,1] ... [0,2,2] log 0.36 ...   (keep the 2 best of 6)
# ```
#
# Beam search suits tasks with one right answer (translation, a code completion that must
# compile); for open-ended text it finds bland, repetitive sequences, which is why chat
# models sample.
#
# <details><summary>Hint</summary>
#
# Keep `beams` as a `(W, T)` tensor and `scores` as `(W,)` total log-probabilities (start
# with the prompt and score 0). Each step: `logp = model(beams[:, -n_ctx:])[:, -1].log_softmax(-1)`,
# `total = scores[:, None] + logp` of shape `(W, V)`, `torch.topk(total.flatten(), min(width, total.numel()))`,
# and recover beam and token from the flat index with `// V` and `% V`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "beam_search"} exercise={"difficulty": 3, "importance": 2, "minutes": 25}
def beam_search(model: nn.Module, prompt: torch.Tensor, n_new: int, beam_width: int) -> tuple[torch.Tensor, float]:
    """The `n_new`-token continuation of `prompt` with the highest total log-probability a beam search finds.

    model: maps (W, T) int64 tokens to (W, T, V) logits (T <= model.cfg.n_ctx; feed the last n_ctx).
    prompt: (T0,) int64. beam_width >= 1.
    Returns (tokens, logprob): tokens (T0 + n_new,) int64, the prompt then the continuation;
    logprob a float, the sum of log softmax probabilities of the n_new new tokens.
    """
    ### BEGIN SOLUTION
    beams = prompt.long().view(1, -1)
    scores = torch.zeros(1, dtype=torch.float64)
    with torch.no_grad():
        for _ in range(n_new):
            logp = model(beams[:, -model.cfg.n_ctx:])[:, -1].double().log_softmax(-1)
            total = scores[:, None] + logp
            V = total.shape[-1]
            best = torch.topk(total.flatten(), min(beam_width, total.numel()))
            beam_idx, token = best.indices // V, best.indices % V
            beams = torch.cat([beams[beam_idx], token[:, None]], dim=1)
            scores = best.values
    return beams[0], float(scores[0])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "beam_search_test", "points": 3}
trap = Bigram([[0.001, 0.599, 0.4], [0.34, 0.33, 0.33], [0.05, 0.05, 0.9]])
out = checks.call("beam_search", beam_search, trap, torch.tensor([0]), 2, 2, case="the trap bigram, width 2")
checks.assert_true("beam_search", isinstance(out, tuple) and len(out) == 2, "return a pair (tokens, logprob)")
tokens, logprob = out
checks.assert_equal("beam_search", tokens, torch.tensor([0, 2, 2]), name="tokens with width 2",
                    hint="rank extensions by the TOTAL log-probability of the sequence, not the last step's")
checks.assert_close("beam_search", logprob, math.log(0.4 * 0.9), name="logprob with width 2", atol=1e-4,
                    hint="sum the log-softmax of each chosen token (the prompt scores 0)")
tokens, logprob = beam_search(trap, torch.tensor([0]), 2, 1)
checks.assert_equal("beam_search", tokens, torch.tensor([0, 1, 0]), name="tokens with width 1 (greedy)")
checks.assert_close("beam_search", logprob, math.log(0.599 * 0.34), name="logprob with width 1", atol=1e-4)
### BEGIN HIDDEN TESTS
import itertools as _it

torch.manual_seed(3)
_tab = torch.softmax(2 * torch.randn(4, 4), -1)
rand_bigram = Bigram(_tab, n_ctx=3)
_best = max(_it.product(range(4), repeat=4),
            key=lambda s: sum(math.log(_tab[a, b]) for a, b in zip((1,) + s[:-1], s)))
_best_lp = sum(math.log(_tab[a, b]) for a, b in zip((1,) + _best[:-1], _best))
tokens, logprob = checks.call("beam_search", beam_search, rand_bigram, torch.tensor([2, 1]), 4, 64,
                              case="width 64 = exhaustive over 4 tokens, 4 steps, n_ctx=3")
checks.assert_equal("beam_search", tokens, torch.tensor((2, 1) + _best), name="tokens of an exhaustive-width search",
                    hint="with a width this large the result is the best of all 256 sequences; "
                         "feed only the last n_ctx tokens")
checks.assert_close("beam_search", logprob, _best_lp, name="logprob of an exhaustive-width search", atol=1e-4)
tokens, logprob = checks.call("beam_search", beam_search, tiny, torch.tensor([7, 8]), 3, 1, case="a GPT, width 1")
checks.assert_equal("beam_search", tokens, greedy_decode(tiny, torch.tensor([7, 8]), 3), name="width 1 equals greedy")
tokens, logprob = checks.call("beam_search", beam_search, trap, torch.tensor([0]), 0, 3, case="n_new=0")
checks.assert_equal("beam_search", tokens, torch.tensor([0]), name="n_new=0 returns the prompt")
### END HIDDEN TESTS

# %% [markdown]
# ## A KV cache
#
# Generating `n` tokens with `greedy_decode` runs the model on the whole sequence `n`
# times, though only the last position's logits are used, and the keys and values of every
# earlier position are the same each time (causal attention: a position never sees later
# ones). A **KV cache** keeps each layer's keys and values; each step then feeds only the
# new token, computes its query, key and value, appends the key and value to the cache,
# and attends over the whole cache. The work per step drops from a full forward pass to
# one position's: quadratic-in-length generation becomes linear (attention itself still
# reads the whole cache).
#
# ```
#            keys/values                       new query attends over
# step t:   [k0 k1 ... k(t-1)] + k(t)  -->   all t+1 keys; nothing else is recomputed
# ```
#
# The one subtle part is **positions**: the new token sits at position `T_past` (the
# cache length), so its position embedding is `wpe[T_past]`, `model.embed(tokens,
# start=T_past)`, and the causal mask for `T_new` new queries over `T_past + T_new` keys lets
# query `i` see keys `0 .. T_past + i`.
#
# ## Exercise 9: a forward pass with a KV cache
#
# **Difficulty** 🔴🔴🔴🔴⚪ · **Importance** 🔵🔵🔵🔵⚪ · 4 points · about 40 minutes, then look at the hint.
#
# Write `forward_with_cache(model, tokens, cache)` for a course `GPT` (read
# `course/models/gpt.py`: `model.blocks[i]` has `ln_1`, `attn` (with `q`, `k`, `v`, `proj`,
# `split_heads`, `mask`), `ln_2`, `mlp`; then `model.ln_f` and `model.unembed`). `cache` is
# `None` (nothing seen yet) or a list with one `(k, v)` pair per layer, each of shape
# `(B, H, T_past, d_head)`. Return the logits of the new tokens and the updated cache. The
# logits must equal `model(all tokens so far)[:, -T_new:]`.
#
# <details><summary>Hint</summary>
#
# **The idea.** The model's forward pass, written out so that each layer's keys and values for the
# new tokens are *appended* to those of the past instead of recomputed. Only the new tokens need
# queries; their positions start after the past ones, and the causal mask is the matching slice.
#
# **A pointer.** The past length is the size of the cached keys' sequence axis. Embed with the right
# start position, and per block: project, split heads, concatenate the past along the sequence
# axis, attend with the mask rows of the new positions, then the MLP as usual. Return the new cache.
# </details>

# %% nbgrader={"solution": true, "grade_id": "forward_with_cache"} exercise={"difficulty": 4, "importance": 4, "minutes": 40}
def forward_with_cache(model: GPT, tokens: torch.Tensor,
                       cache: list[tuple[torch.Tensor, torch.Tensor]] | None = None):
    """Logits of `tokens` given the keys and values of everything before them.

    model: a course GPT. tokens: (B, T_new) int64, the tokens after the cached ones.
    cache: None, or per layer (k, v), each (B, n_heads, T_past, d_head). T_past + T_new <= n_ctx.
    Returns (logits, new_cache): logits (B, T_new, d_vocab) float32, equal to
    model(all tokens)[:, -T_new:]; new_cache like `cache` with T_past + T_new positions.
    """
    ### BEGIN SOLUTION
    B, T_new = tokens.shape
    T_past = 0 if cache is None else cache[0][0].shape[2]
    x = model.embed(tokens, start=T_past)
    new_cache = []
    for i, block in enumerate(model.blocks):
        attn = block.attn
        h = block.ln_1(x)
        q, k, v = attn.split_heads(attn.q(h)), attn.split_heads(attn.k(h)), attn.split_heads(attn.v(h))
        if cache is not None:
            k = torch.cat([cache[i][0], k], dim=2)
            v = torch.cat([cache[i][1], v], dim=2)
        new_cache.append((k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(attn.d_head)
        scores = scores.masked_fill(attn.mask[T_past:T_past + T_new, :T_past + T_new], float("-inf"))
        z = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T_new, -1)
        x = x + attn.proj(z)
        x = x + block.mlp(block.ln_2(x))
    return model.unembed(model.ln_f(x)), new_cache
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "forward_with_cache_test", "points": 4}
torch.manual_seed(0)
kv_model = GPT(GPTConfig(d_vocab=256, n_ctx=16, d_model=32, n_layers=2, n_heads=4, d_mlp=64)).eval()
seq = torch.randint(0, 256, (2, 10))
with torch.no_grad():
    full = kv_model(seq)
    out = checks.call("forward_with_cache", forward_with_cache, kv_model, seq, None, case="no cache, 10 tokens")
    checks.assert_true("forward_with_cache", isinstance(out, tuple) and len(out) == 2, "return a pair (logits, new_cache)")
    logits, cache = out
    checks.assert_close("forward_with_cache", logits, full, name="logits without a cache", atol=1e-5,
                        hint="with no cache this is an ordinary forward pass: embed, every block, ln_f, unembed")
    checks.assert_true("forward_with_cache", len(cache) == 2, f"the cache needs one (k, v) per layer (2); got {len(cache)}")
    checks.assert_shape("forward_with_cache", cache[0][0], (2, 4, 10, 8), name="layer 0 keys")
    logits, cache = forward_with_cache(kv_model, seq[:, :6], None)
    for t in range(6, 10):
        logits, cache = checks.call("forward_with_cache", forward_with_cache, kv_model, seq[:, t:t + 1], cache,
                                    case=f"one new token at position {t}")
        checks.assert_close("forward_with_cache", logits[:, -1], full[:, t], name=f"logits of position {t}", atol=1e-5,
                            hint="a new token at position T_past needs wpe[T_past] (model.embed(tokens, start=T_past)) "
                                 "and must attend over the cached keys AND its own")
    checks.assert_shape("forward_with_cache", cache[1][1], (2, 4, 10, 8), name="layer 1 values after 10 tokens")
    torch.manual_seed(1)
    one_layer = GPT(GPTConfig(d_vocab=256, n_ctx=16, d_model=32, n_layers=1, n_heads=4, d_mlp=64)).eval()
    full1 = one_layer(seq)
    _, cache1 = forward_with_cache(one_layer, seq[:, :9], None)
    logits1, _ = checks.call("forward_with_cache", forward_with_cache, one_layer, seq[:, 9:], cache1,
                             case="a 1-layer GPT, one new token after 9 cached")
    checks.assert_close("forward_with_cache", logits1[:, -1], full1[:, 9], name="logits of a 1-layer GPT", atol=1e-5,
                        hint="read T_past from the cache of layer 0, which every model has")
### BEGIN HIDDEN TESTS
with torch.no_grad():
    seq16 = torch.randint(0, 256, (1, 16))
    full16 = kv_model(seq16)
    cache, pieces = None, []
    for lo, hi in [(0, 1), (1, 5), (5, 12), (12, 16)]:  # uneven chunks: the mask must be offset by T_past
        logits, cache = checks.call("forward_with_cache", forward_with_cache, kv_model, seq16[:, lo:hi], cache,
                                    case=f"a chunk of {hi - lo} tokens after {lo} cached")
        pieces.append(logits)
    checks.assert_close("forward_with_cache", torch.cat(pieces, dim=1), full16, name="logits fed in chunks 1, 4, 7, 4",
                        atol=1e-5, hint="for several new tokens, query i sees keys 0 .. T_past + i: "
                                        "mask[T_past:T_past + T_new, :T_past + T_new]")
    checks.assert_shape("forward_with_cache", cache[0][1], (1, 4, 16, 8), name="values after 16 tokens")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 10: greedy generation with the cache
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Use `forward_with_cache` for greedy generation: one call on the whole prompt (the
# "prefill"), then one call per new token on that token alone. The output must equal
# `greedy_decode`'s. The cache cannot slide past `n_ctx` positions (the position
# embedding ends there), so raise `ValueError` if `len(prompt) + n_new > n_ctx`.
#
# <details><summary>Hint</summary>
#
# `logits, cache = forward_with_cache(model, prompt.view(1, -1), None)`; then repeat:
# `nxt = logits[0, -1].argmax()`, append it, and
# `logits, cache = forward_with_cache(model, nxt.view(1, 1), cache)`. Skip the model call
# after the last token.
# </details>

# %% nbgrader={"solution": true, "grade_id": "generate_cached"} exercise={"difficulty": 2, "importance": 3, "minutes": 10}
def generate_cached(model: GPT, prompt: torch.Tensor, n_new: int) -> torch.Tensor:
    """Greedy decoding with a KV cache; the same output as greedy_decode(model, prompt, n_new).

    prompt: (T0,) int64 with T0 >= 1 and T0 + n_new <= model.cfg.n_ctx (else ValueError).
    Returns (T0 + n_new,) int64.
    """
    ### BEGIN SOLUTION
    if len(prompt) + n_new > model.cfg.n_ctx:
        raise ValueError(f"{len(prompt)} + {n_new} tokens do not fit in n_ctx={model.cfg.n_ctx}")
    tokens = [int(t) for t in prompt]
    with torch.no_grad():
        logits, cache = forward_with_cache(model, prompt.long().view(1, -1), None)
        for i in range(n_new):
            nxt = logits[0, -1].argmax()
            tokens.append(int(nxt))
            if i + 1 < n_new:
                logits, cache = forward_with_cache(model, nxt.view(1, 1), cache)
    return torch.tensor(tokens, dtype=torch.long)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "generate_cached_test", "points": 2}
got = checks.call("generate_cached", generate_cached, kv_model, torch.tensor([3, 1, 4]), 9, case="a 2-layer GPT, 9 new tokens")
checks.assert_shape("generate_cached", got, (12,))
checks.assert_dtype("generate_cached", got, torch.int64)
with torch.no_grad():
    check_logits = kv_model(got[None, :-1])[0]
checks.assert_equal("generate_cached", got[3:], check_logits[2:].argmax(-1), name="new tokens vs argmax of the full model",
                    hint="append the argmax of the last logits, then feed ONLY that token with the cache")
checks.assert_raises("generate_cached", ValueError, generate_cached, kv_model, torch.tensor([1, 2]), 15,
                     hint="2 + 15 tokens do not fit in n_ctx=16")
### BEGIN HIDDEN TESTS
got = checks.call("generate_cached", generate_cached, kv_model, torch.tensor([9]), 15, case="filling n_ctx exactly (1 + 15)")
with torch.no_grad():
    check_logits = kv_model(got[None, :-1])[0]
checks.assert_equal("generate_cached", got[1:], check_logits.argmax(-1), name="tokens when filling the context",
                    hint="the last token needs no model call: 1 + 15 = n_ctx is allowed")
got = checks.call("generate_cached", generate_cached, kv_model, torch.tensor([9, 8]), 0, case="n_new=0")
checks.assert_equal("generate_cached", got, torch.tensor([9, 8]), name="n_new=0 returns the prompt")
### END HIDDEN TESTS

# %% [markdown]
# ### How much does the cache save?
#
# Not graded (timings depend on the machine): 100 new tokens after a 20-character prompt,
# with and without the cache, on the shipped model.

# %%
prompt = encode("import os\nimport sys\n")
n_new = 100
timings = {}
for name, fn in (("no cache", greedy_decode), ("KV cache", generate_cached)):
    start = time.perf_counter()
    out_tokens = fn(model, prompt, n_new)
    timings[name] = time.perf_counter() - start
    print(f"{name:>9}: {timings[name]:.2f} s, {n_new / timings[name]:.0f} tokens/s")
print(f"speed-up: {timings['no cache'] / timings['KV cache']:.1f}x; "
      f"same text: {torch.equal(greedy_decode(model, prompt, 30), generate_cached(model, prompt, 30))}")
print(decode(out_tokens))

# %% [markdown]
# What just happened: without the cache, step `t` runs both layers on `t` positions,
# so 100 steps cost about `Σ t ≈ 100 · 70` position-passes; with it, the prompt once and
# then one position per step. The speed-up grows with the length; the price is memory,
# `2 · n_layers · T · d_model` numbers per sequence, which for a large model at long
# context is gigabytes and the reason inference servers manage cache memory like pages
# (vLLM's PagedAttention).
#
# ## Optional: GPT-2 small (needs a network; never graded)
#
# With internet and the environment variable `BOOTCAMP_ONLINE=1`, this cell downloads
# GPT-2 small (124M parameters, 500 MB) and samples from it with your `sample_next`.
# Without them it prints one line and does nothing.

# %%
def network_available(host: str = "huggingface.co", timeout: float = 0.5) -> bool:
    import socket

    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


if os.environ.get("BOOTCAMP_ONLINE") != "1" or os.environ.get("HF_HUB_OFFLINE") == "1" or not network_available():
    print("GPT-2 small skipped: set BOOTCAMP_ONLINE=1 on a machine with internet to run this cell.")
else:
    try:
        from transformers import GPT2LMHeadModel, GPT2TokenizerFast

        tok = GPT2TokenizerFast.from_pretrained("gpt2")
        gpt2 = GPT2LMHeadModel.from_pretrained("gpt2").eval()
        ids = tok("def fibonacci(n):", return_tensors="pt").input_ids
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for _ in range(40):
                ids = torch.cat([ids, sample_next(gpt2(ids).logits[:, -1], g, top_p=0.9)[:, None]], dim=1)
        print(tok.decode(ids[0]))
    except Exception as err:  # a network or hub problem must not break the lesson
        print(f"GPT-2 small skipped: {type(err).__name__}: {err}")

# %% [markdown]
# ## Summary
#
# - A language model is trained on windows of the corpus, predicting each next token;
#   its loss in nats per character says how many bytes it is still choosing between.
# - Decoding is a choice: greedy and beam search look for likely sequences (and loop);
#   temperature, top-k and top-p sample, trading safety for variety.
# - A sampler is tested like any random procedure: many draws, a fixed seed, a chi-square
#   test against the distribution it claims to sample.
# - A KV cache makes each generation step cost one position instead of the whole sequence;
#   its logits equal the uncached ones exactly (up to float rounding).
#
# Next, Module 3 opens this same model with TransformerLens:
# `course.models.tlens.load_bridge("stdlib-gpt")`.

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 2.2`), else from `bootcamp check 2.2` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("2.2")
