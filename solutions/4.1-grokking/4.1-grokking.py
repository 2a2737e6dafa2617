# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "4.1"
#     title: Grokking modular addition
#     minutes: 270
#     prerequisites: ["3.1"]
# ---

# %% [markdown]
# # 4.1 Grokking modular addition
#
# A small transformer trained on `(a + b) mod p` first **memorises** its training pairs:
# training loss falls to almost nothing while test loss rises and then sits on a plateau.
# Then, hundreds of epochs later, with nothing about the training changed, test loss
# collapses and test accuracy jumps to 100%. Power et al. (2022) called this **grokking**.
# Nanda, Chan, Lieberum, Smith and Steinhardt (2023), *Progress measures for grokking via
# mechanistic interpretability* (ICLR 2023, arXiv:2301.05217), reverse-engineered the
# trained model: it adds numbers by rotating points on circles, with a handful of
# frequencies of the discrete Fourier transform. Knowing that algorithm, they defined
# **progress measures** that move smoothly all through the long plateau, long before the
# test loss does. Grokking is a gradual process that only looks sudden.
#
# In this lesson you replicate the paper's central results on a CPU, with your own code:
#
# | the paper | here |
# |---|---|
# | train loss falls early, test loss late (log scale) | your training run, p = 53, 30% of pairs, about a minute |
# | the embedding is sparse in the Fourier basis: a few *key frequencies* | your Fourier basis, your norms per frequency |
# | ablating everything but the key frequencies keeps performance | your ablation of the embedding |
# | restricted loss falls and excluded loss rises while test loss stays flat | your progress measures over your own training snapshots, and your phase boundaries |
# | W_E and W_U become sparse in the Fourier basis (their Gini coefficient rises) | your Gini coefficient over your snapshots |
# | the neurons are periodic, clustered by frequency (84.6% explained by one frequency) | the neurons in your 2-D Fourier basis, your variance per frequency of every neuron |
# | the main run: p = 113, 30% of pairs as training data; other seeds | the course's checkpoint and two more seeds of your recipe, analysed with your functions |
#
# **After this lesson you can**
# - build a modular-arithmetic dataset with a seeded split, and train a transformer on it
#   full batch until it groks, reading the curve on a log scale;
# - write the real Fourier basis of Z_p and use it to find the frequencies a model uses;
# - project activations onto the directions `cos(w(a+b))`, `sin(w(a+b))` of the pair grid;
# - define, compute and interpret the paper's two progress measures, restricted and
#   excluded loss, over training snapshots, and split training into memorisation, circuit
#   formation and clean-up as the paper defines them;
# - measure how sparse weights are in the Fourier basis (a Gini coefficient) and how many
#   neurons one frequency explains;
# - check a mechanistic claim with an ablation.
#
# **Prerequisites.** 3.1 (TransformerLens: residual stream, attention, MLP neurons,
# ablations) and what it builds on (2.1: a transformer from scratch). No TransformerLens here:
# the model is plain PyTorch, `course/models/grokking.py`, about 100 lines. Read its
# `GrokTransformer.run` once; its parameter names are TransformerLens's.
#
# **Time.** About 4 hours 30 minutes: fifteen graded exercises (42 points), one of them an
# investigation. The solution notebook runs in about two minutes, most of it the training run.
#
# **How the exercises work.** Each exercise explains an idea, then gives you a function
# whose body is `raise NotImplementedError`. Replace that line with your code and run the
# test cell below it. A failing cell says what is wrong: the shape, the dtype, the first
# differing element and by how much, and a likely cause. The tests you see compare with
# PyTorch built-ins (`torch.fft`, `F.cross_entropy`) or small worked examples; hidden tests,
# run when your notebook is graded, probe edge cases (p = 3, empty frequency lists,
# float32 and non-contiguous inputs) and compare with reference implementations. From a
# terminal, `bootcamp check 4.1` runs the whole notebook and prints a table of every
# exercise. Each exercise says how hard it is (🔴, 1–5), how much it matters for the rest
# of the course (🔵, 1–5) and how long to try before opening the hint.

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from course import checks
from course.models import grokking, registry
from course.models.grokking import GrokConfig, GrokTransformer

# One thread: a second one only adds overhead for a model this small, and with one thread
# the training run below repeats to the last bit (and equals the course's checkpoint).
torch.set_num_threads(1)
torch.set_printoptions(precision=4, sci_mode=False)
_ = torch.manual_seed(0)


def learner_basis(exercise, p):
    """Your fourier_basis(p), checked first: the tests of Exercises 5, 7, 14 and 15 build on it."""
    B = fourier_basis(p)
    ok = (isinstance(B, torch.Tensor) and tuple(B.shape) == (p, p)
          and torch.allclose(B.double() @ B.double().T, torch.eye(p, dtype=torch.float64), atol=1e-8)
          and bool((torch.fft.rfft(B.double(), dim=1).abs().argmax(1) == (torch.arange(p) + 1) // 2).all()))
    checks.assert_true(exercise, ok, "this test uses your fourier_basis (Exercise 4), which does not pass yet: "
                       "make Exercise 4 pass first")
    return B


def need(exercise, *names):
    """Fail with a clear message if a cell that defines ``names`` has not run successfully."""
    missing = [n for n in names if n not in globals()]
    checks.assert_true(exercise, not missing, f"{', '.join(missing)} is not defined: run every cell above this one "
                       "first (the training run after Exercise 3 uses your evaluate and train)")


# %% [markdown]
# ## The task
#
# Fix a prime `p`. The model reads three tokens, `a b =`, where `a` and `b` are numbers
# `0 .. p-1` (token ids `0 .. p-1`) and `=` is token `p`, and must answer `(a + b) mod p` at
# the `=` position: a classification over `p` classes. There are only `p²` possible inputs,
# so the dataset is all of them, and we hold out part of it as a test set. With p = 53 that
# is 2,809 pairs, of which 30% (842) are for training.
#
# The paper used p = 113 with 30% of the pairs for training. On a CPU, p = 53 is four times
# smaller and runs in about a minute. The other settings were chosen by measuring (one
# thread, seed 0, lr 3e-3, the paper's AdamW otherwise); what decided was whether the test
# loss stays on a plateau while the progress measures move, as in the paper:
#
# | training pairs | weight decay | test > 99% at epoch | test loss when restricted loss has fallen 10x, vs its memorisation level |
# |---|---|---|---|
# | 50% | 2.0 | 390 | 1.79 vs 7.69: already down 4.3x (no plateau) |
# | 40% | 3.0 | 820 | 3.71 vs 11.3: down 3.1x |
# | 35% | 3.0 | 760 | 4.06 vs 12.3: down 3.0x |
# | 30% | 3.0 | 970 | 6.05 vs 14.2: down 2.3x (this lesson) |
# | 30% | 5.0 | not in 2,500 epochs | - |
# | 30% | 1.0 | not in 6,000 epochs | - |
#
# This is the paper's Appendix C.2.2 in small: with a large training fraction the model
# generalises almost at once, so there is no plateau to explain; and a small p needs more
# weight decay than the paper's 1.0 (at 30% of 53², weight decay 1.0 never groks) but not
# too much (5.0 did not either). The course also ships a p = 113 model with the paper's
# 30%, trained by the same code; the last section analyses it.

# %% [markdown]
# ## Exercise 1: the dataset and its split
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Row `i` of the dataset is the pair `a = i // p`, `b = i % p`: tokens `[a, b, p]`, label
# `(a + b) % p`. For p = 3:
#
# ```
# i      0  1  2  3  4  5  6  7  8
# a      0  0  0  1  1  1  2  2  2
# b      0  1  2  0  1  2  0  1  2
# label  0  1  2  1  2  0  2  0  1
# ```
#
# The split is a seeded random permutation of the rows: exactly
# `perm = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))`, the first
# `int(frac_train * p * p)` rows of `perm` are the training set, the rest the test set. (A
# generator of its own keeps the split independent of every other random draw.)
#
# <details><summary>Hint</summary>
#
# `torch.arange(p).repeat_interleave(p)` is `0 0 0 1 1 1 2 2 2` and `torch.arange(p).repeat(p)`
# is `0 1 2 0 1 2 0 1 2`; `torch.full_like(a, p)` is the `=` column, and
# `torch.stack([a, b, eq], dim=1)` makes the `(p*p, 3)` table.
# </details>

# %% nbgrader={"solution": true, "grade_id": "make_dataset"} exercise={"difficulty": 1, "importance": 3, "minutes": 10}
def make_dataset(p: int, frac_train: float, seed: int = 0) -> dict:
    """Every pair (a, b), 0 <= a, b < p, for (a + b) mod p, and a seeded train/test split.

    Returns a dict of int64 tensors:
      "tokens": (p*p, 3), row i = [i // p, i % p, p]   (p is the "=" token)
      "labels": (p*p,), (a + b) % p
      "train_idx": (n_train,), n_train = int(frac_train * p * p): the first n_train entries of
                   perm = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
      "test_idx": (p*p - n_train,), the rest of perm
    """
    ### BEGIN SOLUTION
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    tokens = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    perm = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n_train = int(frac_train * p * p)
    return {"tokens": tokens, "labels": (a + b) % p, "train_idx": perm[:n_train], "test_idx": perm[n_train:]}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "make_dataset_test", "points": 2}
_d = make_dataset(3, 0.5, seed=0)
checks.assert_true("make_dataset", isinstance(_d, dict) and {"tokens", "labels", "train_idx", "test_idx"} <= set(_d),
                   "make_dataset should return a dict with keys tokens, labels, train_idx, test_idx")
checks.assert_equal("make_dataset", _d["tokens"][:, 0], torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2]), name="tokens[:, 0] (a)",
                    hint="row i is a = i // p: torch.arange(p).repeat_interleave(p)")
checks.assert_equal("make_dataset", _d["tokens"][:, 1], torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2]), name="tokens[:, 1] (b)",
                    hint="row i is b = i % p: torch.arange(p).repeat(p)")
checks.assert_equal("make_dataset", _d["tokens"][:, 2], torch.full((9,), 3), name="tokens[:, 2] (the '=' token)")
checks.assert_equal("make_dataset", _d["labels"], torch.tensor([0, 1, 2, 1, 2, 0, 2, 0, 1]), name="labels")
_perm = torch.randperm(9, generator=torch.Generator().manual_seed(0))
checks.assert_equal("make_dataset", _d["train_idx"], _perm[:4], name="train_idx (p=3, frac 0.5, seed 0)",
                    hint="int(0.5 * 9) = 4 training rows: the first 4 of torch.randperm(9, generator=...manual_seed(0))")
checks.assert_equal("make_dataset", _d["test_idx"], _perm[4:], name="test_idx")
_d = make_dataset(53, 0.5, seed=1)
checks.assert_shape("make_dataset", _d["tokens"], (2809, 3), name="tokens (p=53)")
checks.assert_equal("make_dataset", torch.sort(torch.cat([_d["train_idx"], _d["test_idx"]])).values,
                    torch.arange(2809), name="train_idx and test_idx together", hint="every row exactly once")
print("make_dataset: visible tests pass")
### BEGIN HIDDEN TESTS
for _p, _f, _s in [(53, 0.5, 0), (113, 0.3, 3), (2, 1.0, 0), (5, 0.0, 7), (7, 0.31, 2)]:
    _mine, _ref = make_dataset(_p, _f, seed=_s), grokking.make_data(_p, _f, _s)
    for _k in ("tokens", "labels", "train_idx", "test_idx"):
        checks.assert_equal("make_dataset", _mine[_k], _ref[_k], name=f"{_k} for p={_p}, frac_train={_f}, seed={_s}")
### END HIDDEN TESTS

# %% [markdown]
# From here on the notebook uses the course's own copy of this function,
# `grokking.make_data`, which gives the same tensors as yours if your test passed (so that
# a bug in one exercise does not break the ones after it).

# %%
P = 53
FRAC_TRAIN = 0.3
data = grokking.make_data(P, FRAC_TRAIN, seed=0)
tokens, labels = data["tokens"], data["labels"]
train_idx, test_idx = data["train_idx"], data["test_idx"]
print(f"p = {P}: {len(tokens)} pairs, {len(train_idx)} for training, {len(test_idx)} for testing")
print("first rows:", tokens[:3].tolist(), "labels", labels[:3].tolist())

# %% [markdown]
# ## The model
#
# The paper's model, in `course/models/grokking.py`: one attention layer (4 heads of
# dimension 32) and one MLP layer (512 ReLU neurons) on a residual stream of width 128, **no
# LayerNorm**, no biases in attention, weights initialised from N(0, 1/d_model). The
# parameters carry TransformerLens's names and shapes: `W_E` (p+1, 128), `W_pos` (3, 128),
# `W_Q`, `W_K`, `W_V` (4, 128, 32), `W_O` (4, 32, 128), `W_in` (128, 512), `W_out` (512, 128),
# `W_U` (128, p).
#
# Only the `=` position is read, and in a one-layer model the other positions only serve as
# keys and values, so `forward` computes the residual stream at `=` alone: `model(tokens)` is
# `(batch, p)` logits. `model.run(tokens)` returns every intermediate at that position:
# `attn_pattern`, `resid_mid`, `mlp_pre`, `mlp_post` (the neurons), `resid_post`, `logits`.

# %%
cfg = GrokConfig(p=P)
torch.manual_seed(0)
model = GrokTransformer(cfg)
print(cfg)
print(f"{model.n_params():,} parameters:",
      ", ".join(f"{name} {tuple(w.shape)}" for name, w in model.named_parameters()))
out = model.run(tokens[:5])
print({k: tuple(v.shape) for k, v in out.items()})

# %% [markdown]
# ## Exercise 2: loss and accuracy, in float64
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points (one here, one on the p = 113 model at the end) · about 5 minutes, then look at the hint.
#
# `evaluate(model, tokens, labels)` returns the mean cross-entropy and the accuracy of the
# model's logits on the given rows, as Python floats, without building an autograd graph.
#
# One detail from the paper matters here: compute the cross-entropy in **float64**. Late in
# training the model is so confident that the loss on a pair is around 1e-9 or less. In
# float32, `log_softmax` computes `logit - logsumexp(logits)`, and when the other
# logits are 30 below the correct one, `logsumexp` is `30 + 1e-12`, which float32 rounds
# to 30: the loss comes out as exactly 0, and its gradient vanishes. Full-batch training
# with those rounding errors shows sudden loss spikes ("slingshots"). Convert the logits
# with `.double()` before the loss.
#
# <details><summary>Hint</summary>
#
# **The idea.** Run the model on all the pairs without building a graph, then two numbers: the mean
# cross-entropy of the logits against the labels, and the share of pairs whose largest logit is the
# right answer. Compute both in float64: late in training the loss is tiny and float32 rounds it.
#
# **A pointer.** `torch.no_grad()` around the forward pass; `F.cross_entropy` on logits made double;
# the prediction is the `argmax` over the last axis. Return Python floats.
# </details>

# %% nbgrader={"solution": true, "grade_id": "evaluate"} exercise={"difficulty": 1, "importance": 3, "minutes": 5}
def evaluate(model, tokens: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy (computed in float64) and accuracy of `model` on some rows.

    model: maps tokens (n, 3) int64 to logits (n, p) float32.
    tokens: (n, 3) int64; labels: (n,) int64, n >= 1.
    Returns (loss, accuracy) as Python floats; no autograd graph is built.
    """
    ### BEGIN SOLUTION
    with torch.no_grad():
        logits = model(tokens)
    loss = F.cross_entropy(logits.double(), labels).item()
    acc = (logits.argmax(-1) == labels).double().mean().item()
    return loss, acc
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "evaluate_test", "points": 1}
_res = evaluate(model, tokens[:100], labels[:100])
checks.assert_true("evaluate", isinstance(_res, tuple) and len(_res) == 2, "evaluate should return a tuple (loss, accuracy)")
checks.assert_true("evaluate", all(isinstance(v, float) for v in _res),
                   f"evaluate should return Python floats, got {tuple(type(v).__name__ for v in _res)}",
                   hint="tensor.item() turns a 0-d tensor into a Python float")
with torch.no_grad():
    _logits = model(tokens[:100])
checks.assert_close("evaluate", _res[0], F.cross_entropy(_logits.double(), labels[:100]).item(), rtol=1e-6, name="loss")
checks.assert_close("evaluate", _res[1], (_logits.argmax(-1) == labels[:100]).float().mean().item(), name="accuracy")


class _Confident(torch.nn.Module):
    """Logits 30 above the rest on the right answer: the true loss is log(1 + 52 e^-30) = 4.9e-12."""

    def forward(self, t):
        return 30 * F.one_hot((t[:, 0] + t[:, 1]) % P, P).float()


checks.assert_close("evaluate", evaluate(_Confident(), tokens[:10], labels[:10])[0], math.log1p(52 * math.exp(-30)),
                    rtol=1e-6, name="loss of a very confident model",
                    hint="in float32 the loss rounds to 0: convert the logits with .double() before the cross-entropy")
print("evaluate: visible tests pass")
### BEGIN HIDDEN TESTS
_one = evaluate(_Confident(), tokens[5:6], labels[5:6])
checks.assert_close("evaluate", _one[0], math.log1p(52 * math.exp(-30)), rtol=1e-6, name="loss on a single row")
checks.assert_close("evaluate", _one[1], 1.0, name="accuracy on a single row")
_wrong = labels[:50].clone()
_wrong[::2] = (_wrong[::2] + 1) % P
checks.assert_close("evaluate", evaluate(_Confident(), tokens[:50], _wrong)[1], 0.5, name="accuracy with half the labels wrong")
_g = torch.is_grad_enabled()
checks.assert_true("evaluate", _g, "evaluate must not switch autograd off for the code after it: use `with torch.no_grad():`")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: full-batch training
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 5 points (3 for the loop, 2 when your run groks) · about 20 minutes, then look at the hint.
#
# The paper trains **full batch**: every step sees all training pairs, so one step is one
# epoch. The optimiser is AdamW with a very large weight decay (the paper: 1.0, against a
# usual 0.01–0.1), betas (0.9, 0.98) and a learning rate warmed up linearly over the first
# 10 steps. `grokking.make_optimizer(model, tc)` builds exactly that (read it: three lines).
# Two settings differ from the paper's, to fit a CPU and a smaller p: learning rate 3e-3
# instead of 1e-3 (the paper's took about 19 minutes at p = 113 when the course was
# measured), and weight decay 3.0 instead of 1.0 (the table above: at p = 53 with 30% of the
# pairs, 1.0 never groks).
#
# Weight decay is why grokking happens at all. A memorising solution needs large weights
# (one "lookup" per training pair); the Fourier algorithm does the same job on the training
# set with much smaller weights. Weight decay pulls steadily towards the smaller solution,
# and once it is there, memorisation can be dropped.
#
# Write the training loop. At every epoch `e` (0, 1, ..., epochs - 1), in this order:
# 1. if `e % eval_every == 0`, append `e` and your `evaluate` on the training and the test
#    rows to the history;
# 2. if `e % snapshot_every == 0`, append `(e, copy of the state dict)` to the snapshots;
# 3. take one optimiser step on the full training set (the mean cross-entropy of
#    `model(train tokens)` in float64, as in `evaluate`), then `scheduler.step()`.
#
# After the last epoch, log and snapshot once more at `e = epochs`. Wrap the epochs in
# `tqdm` so a long run shows its progress (`bar.set_postfix(...)` can show the current
# losses). The copies matter: `model.state_dict()` returns the live tensors, which the
# optimiser keeps changing; `{k: v.detach().clone() for k, v in ...items()}` freezes them.
#
# <details><summary>Hint</summary>
#
# Index once before the loop: `data["tokens"][data["train_idx"]]` and the same for the labels
# and for the test rows. A small inner function `log(e)` that calls `evaluate` twice and
# appends to each list of `history` keeps the loop short:
#
# ```python
# for e in tqdm(range(epochs)):
#     if e % eval_every == 0: log(e)
#     if e % snapshot_every == 0: snapshots.append((e, {k: v.detach().clone() for k, v in ...}))
#     loss = ...  # F.cross_entropy on the float64 logits of the training rows
#     optimizer.zero_grad(); loss.backward(); optimizer.step(); scheduler.step()
# ```
# Then `log(epochs)` and a last snapshot.
# </details>

# %% nbgrader={"solution": true, "grade_id": "train"} exercise={"difficulty": 2, "importance": 4, "minutes": 20}
def train(model, data: dict, optimizer, scheduler, epochs: int, eval_every: int = 10,
          snapshot_every: int = 50, progress: bool = True) -> tuple[dict, list]:
    """Full-batch training of `model` on data["train_idx"]; returns (history, snapshots).

    data: as from make_dataset. optimizer, scheduler: from grokking.make_optimizer.
    history: dict of lists "epoch", "train_loss", "test_loss", "train_acc", "test_acc" (floats from
      `evaluate`), logged before the step of every epoch e with e % eval_every == 0, and after the
      last epoch with e = epochs.
    snapshots: list of (epoch, state_dict) with float32 tensors copied (not the live parameters),
      taken before the step of every epoch e with e % snapshot_every == 0, and at e = epochs.
    The loss to minimise is the mean cross-entropy of model(train tokens), in float64.
    progress: show a tqdm bar over the epochs.
    """
    ### BEGIN SOLUTION
    x_train, y_train = data["tokens"][data["train_idx"]], data["labels"][data["train_idx"]]
    x_test, y_test = data["tokens"][data["test_idx"]], data["labels"][data["test_idx"]]
    history = {k: [] for k in ("epoch", "train_loss", "test_loss", "train_acc", "test_acc")}
    snapshots = []

    def log(e):
        (tr_loss, tr_acc), (te_loss, te_acc) = evaluate(model, x_train, y_train), evaluate(model, x_test, y_test)
        for k, v in zip(history, (e, tr_loss, te_loss, tr_acc, te_acc)):
            history[k].append(v)

    def snapshot(e):
        snapshots.append((e, {k: v.detach().clone() for k, v in model.state_dict().items()}))

    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not progress)
    for e in bar:
        if e % eval_every == 0:
            log(e)
            bar.set_postfix(train=f"{history['train_loss'][-1]:.1e}", test=f"{history['test_loss'][-1]:.1e}",
                            test_acc=f"{history['test_acc'][-1]:.2f}")
        if e % snapshot_every == 0:
            snapshot(e)
        loss = F.cross_entropy(model(x_train).double(), y_train)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    log(epochs)
    snapshot(epochs)
    return history, snapshots
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "train_test", "points": 3}
_tc = grokking.GrokTrainConfig(epochs=60)
torch.manual_seed(0)
_m = GrokTransformer(cfg)
_w0 = _m.W_E.detach().clone()
_opt, _sched = grokking.make_optimizer(_m, _tc)
_t = time.perf_counter()
_res = train(_m, data, _opt, _sched, epochs=60, eval_every=10, snapshot_every=20, progress=False)
print(f"60 epochs in {time.perf_counter() - _t:.1f} s")
checks.assert_true("train", isinstance(_res, tuple) and len(_res) == 2, "train should return (history, snapshots)")
_hist, _snaps = _res
checks.assert_equal("train", list(_hist.get("epoch", [])), [0, 10, 20, 30, 40, 50, 60], name="history['epoch']",
                    hint="log at every e with e % eval_every == 0, then once more after the loop with e = epochs")
for _k in ("train_loss", "test_loss", "train_acc", "test_acc"):
    checks.assert_true("train", len(_hist.get(_k, [])) == 7, f"history[{_k!r}] should have 7 entries, like history['epoch']")
checks.assert_true("train", _hist["train_loss"][-1] < 0.1 * _hist["train_loss"][0],
                   f"the training loss went from {_hist['train_loss'][0]:.3f} to {_hist['train_loss'][-1]:.3f} in 60 epochs; "
                   "it should fall below a tenth of its start", hint="call optimizer.zero_grad(), loss.backward(), "
                   "optimizer.step() and scheduler.step() every epoch, on the training rows")
checks.assert_true("train", _hist["train_acc"][-1] > 0.9,
                   f"training accuracy after 60 epochs is {_hist['train_acc'][-1]:.3f}; the model should have memorised "
                   "over 90% of its training pairs by then")
checks.assert_true("train", _hist["test_acc"][-1] < 0.9,
                   f"test accuracy after 60 epochs is already {_hist['test_acc'][-1]:.3f}: are you training on the test rows?")
checks.assert_equal("train", [e for e, _ in _snaps], [0, 20, 40, 60], name="snapshot epochs")
checks.assert_close("train", _snaps[0][1]["W_E"], _w0, name="snapshots[0] W_E (the weights before any step)",
                    hint="copy the state dict: {k: v.detach().clone() for k, v in model.state_dict().items()}; "
                    "model.state_dict() alone holds the live parameters, which keep changing")
checks.assert_close("train", _snaps[-1][1]["W_E"], _m.W_E.detach(), name="snapshots[-1] W_E (the final weights)")
print("train: visible tests pass")
### BEGIN HIDDEN TESTS
_rtc = grokking.GrokTrainConfig(epochs=30, eval_every=10, snapshot_every=15)
_rm, _rrec, _rsnaps = grokking.train(cfg, _rtc, progress=False)
torch.manual_seed(_rtc.seed)
_m2 = GrokTransformer(cfg)
_o2, _s2 = grokking.make_optimizer(_m2, _rtc)
_h2, _sn2 = train(_m2, data, _o2, _s2, epochs=30, eval_every=10, snapshot_every=15, progress=False)
for _k in ("train_loss", "test_loss", "train_acc", "test_acc"):
    checks.assert_close("train", torch.tensor(_h2[_k]), torch.tensor(_rrec["curve"][_k]), rtol=1e-5, atol=1e-7,
                        name=f"history[{_k!r}] over 30 epochs vs the course's grokking.train",
                        hint="the loss is the float64 cross-entropy on the training rows only; one scheduler.step() per epoch")
checks.assert_equal("train", [e for e, _ in _sn2], [0, 15, 30], name="snapshot epochs with snapshot_every=15")
checks.assert_close("train", _sn2[1][1]["W_in"], _rsnaps[1][1]["W_in"], rtol=1e-4, atol=1e-6, name="snapshot at epoch 15, W_in")
checks.assert_true("train", all(v.dtype == torch.float32 for v in _sn2[-1][1].values()), "snapshots should keep float32 tensors")
### END HIDDEN TESTS

# %% [markdown]
# ## Train it until it groks
#
# The run below is the course's `grokking-p53` recipe: p = 53, 30% of the pairs for
# training, seed 0 for the weights and for the split, AdamW (lr 3e-3, weight decay 3.0,
# betas (0.9, 0.98)), 1,500 full-batch epochs, a snapshot of the weights every 25 epochs
# for the progress measures later. It takes about a minute on one core (more if your
# machine is busy): watch the test accuracy in the progress bar. The same seeds and code
# made the checkpoint that ships with the course (`python -m course.models.train
# grokking-p53`), so with one thread your final weights equal it.
#
# ### Predict, then look
#
# Before you run the training cell, commit to two guesses in the cell below. The model will fit
# all of its training pairs within the first hundred epochs or so.
#
# 1. `PREDICT_TEST_LOSS`: while the train loss falls by orders of magnitude to 100% train
#    accuracy, the test loss will `"fall"` with it, `"stay"` about where it started, or `"rise"`?
# 2. `PREDICT_GROK_EPOCH`: the first epoch at which test accuracy passes 99% (the run lasts
#    1,500 epochs; write `None` if you think it never will).
#
# Nothing grades these: a prediction is worth something only if you make it honestly, and the
# cell after the plot compares yours with your run's numbers.

# %%
PREDICT_TEST_LOSS = None   # "fall", "stay" or "rise"
PREDICT_GROK_EPOCH = None  # an int, or None for "never in 1,500 epochs"

# %%
spec = registry.get("grokking-p53")
tc = spec.train
print(tc)
torch.manual_seed(tc.seed)
live = GrokTransformer(cfg)
opt, sched = grokking.make_optimizer(live, tc)
t0 = time.perf_counter()
history, snapshots = train(live, data, opt, sched, tc.epochs, eval_every=tc.eval_every, snapshot_every=tc.snapshot_every)
print(f"{tc.epochs} epochs in {time.perf_counter() - t0:.0f} s; {len(snapshots)} snapshots kept")
print(f"final: train loss {history['train_loss'][-1]:.2e}, test loss {history['test_loss'][-1]:.2e}, "
      f"test accuracy {history['test_acc'][-1]:.4f}")

# %% [markdown]
# The paper plots the losses on a **log scale**, and so should you. Accuracy hides
# the interesting part: because `a + b = b + a`, a memorising model that saw `(a, b)` also
# tends to get `(b, a)` right, so test accuracy sits well above chance (1/53 ≈ 2%) during
# the plateau while test *loss* is still far above its starting value.

# %%
ep = np.array(history["epoch"])
grok = int(ep[np.argmax(np.array(history["test_acc"]) > 0.99)])
mem = int(ep[np.argmax(np.array(history["train_acc"]) == 1.0)])
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
ax1.semilogy(ep, history["train_loss"], label="train")
ax1.semilogy(ep, history["test_loss"], label="test")
ax1.axhline(math.log(P), ls=":", c="gray", label=f"uniform guess, ln {P}")
ax1.set(xlabel="epoch", ylabel="cross-entropy (log scale)", title=f"Grokking (a + b) mod {P}: loss")
ax2.plot(ep, history["train_acc"], label="train")
ax2.plot(ep, history["test_acc"], label="test")
ax2.axhline(1 / P, ls=":", c="gray", label="chance")
ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
for ax in (ax1, ax2):
    ax.axvline(mem, c="k", lw=0.8, ls="--")
    ax.axvline(grok, c="g", lw=0.8, ls="--")
    ax.legend(fontsize=8)
plt.show()
print(f"train accuracy 100% at epoch {mem}; test accuracy over 99% at epoch {grok}")
shipped = registry.load("grokking-p53")
diff = max((w.half().float() - shipped.state_dict()[k]).abs().max().item() for k, w in live.state_dict().items())
print(f"your weights rounded to float16 vs the shipped checkpoint: largest difference {diff:.1e}"
      + (" (identical: same code, same seeds, one thread)" if diff == 0 else " (another CPU or torch rounds differently)"))

# %% nbgrader={"grade": true, "grade_id": "train_test_2", "points": 2}
need("train", "live", "history", "snapshots")
checks.assert_true("train", history["train_acc"][-1] == 1.0,
                   f"final training accuracy is {history['train_acc'][-1]:.4f}, expected 1.0")
checks.assert_true("train", history["test_acc"][-1] > 0.99,
                   f"final test accuracy is {history['test_acc'][-1]:.4f}: the model has not grokked (expected > 0.99)",
                   hint="train with the recipe above (spec.train) and the seed set right before creating the model")
checks.assert_true("train", history["test_loss"][-1] < 0.05 * history["test_loss"][0],
                   f"test loss went from {history['test_loss'][0]:.3f} to {history['test_loss'][-1]:.3g} only")
print(f"train: your model grokked: test accuracy {history['test_acc'][-1]:.4f}, test loss {history['test_loss'][-1]:.2e}")
### BEGIN HIDDEN TESTS
need("train", "live")
_copy = GrokTransformer(cfg)
_copy.load_state_dict(live.state_dict())
_h3, _ = train(_copy, data, *grokking.make_optimizer(_copy, tc), epochs=0, progress=False)
checks.assert_true("train", _h3["test_acc"][-1] > 0.99, f"test accuracy of the trained model is {_h3['test_acc'][-1]:.4f}")
checks.assert_true("train", grokking.evaluate(live, tokens[test_idx], labels[test_idx])[1] > 0.99,
                   "the course's evaluate says the trained model has not grokked")
### END HIDDEN TESTS

# %% [markdown]
# Now compare with what you predicted:

# %%
_test_at_mem = history["test_loss"][list(ep).index(mem)]
_ratio = _test_at_mem / history["test_loss"][0]
_happened = "rise" if _ratio > 1.5 else "fall" if _ratio < 1 / 1.5 else "stay"
print(f"test loss: {history['test_loss'][0]:.2f} at epoch 0, {_test_at_mem:.2f} at epoch {mem} (train accuracy 100%): "
      f"x{_ratio:.1f}, so it did {_happened!r}; you predicted {PREDICT_TEST_LOSS!r}")
print(f"test accuracy passed 99% at epoch {grok}; you predicted {PREDICT_GROK_EPOCH!r}"
      + (f" ({abs(PREDICT_GROK_EPOCH - grok)} epochs off, {grok / mem:.0f}x the epochs memorisation took)"
         if isinstance(PREDICT_GROK_EPOCH, int) else ""))
if PREDICT_TEST_LOSS is None or PREDICT_GROK_EPOCH is None:
    print("(no prediction written: next time, write it before you run the cell that draws the plot)")

# %% [markdown]
# Before you read on, look at the two plots and answer for yourself:
#
# - What did the test loss do while the train loss collapsed, and what does that say the model
#   learnt first?
# - During the long stretch where the test loss hardly moves on the log scale, why is test
#   *accuracy* already far above chance (1/53)?
# - Did anything about the training (learning rate, data, loss) change at the epoch where the
#   test loss starts to fall?
#
# <details><summary>One reading (open after you have answered)</summary>
#
# Within about 60 epochs the model fit every training pair: train loss fell by orders of
# magnitude while test loss *rose* to about 3.5 times its starting value, the signature of
# memorisation. Then, for hundreds of epochs, test loss sat on a plateau (on the log scale it
# hardly moves) while test accuracy crept up from a few percent (mostly pairs whose mirror
# image `(b, a)` was memorised), and only after that did test loss fall by orders of magnitude
# and test accuracy pass 99% (the printout above gives your epochs; the course's run, the same
# as yours with one thread, is in the table at the end). Nothing in the training changed when
# test loss started to fall; the rest of the lesson finds what was changing underneath.
# </details>
#
# ## The Fourier basis of Z_p
#
# Functions of a number `x ∈ {0, ..., p-1}` form a p-dimensional space, and the discrete
# Fourier transform gives it an orthonormal basis of waves. For odd `p`, with
# `w_k = 2πk/p`:
#
# - the constant `1/√p`,
# - then for `k = 1, ..., (p-1)/2`: `cos(w_k x)` and `sin(w_k x)`, each scaled to norm 1
#   (both have squared norm `p/2` before scaling).
#
# That is `1 + 2·(p-1)/2 = p` vectors. Frequency `k` and frequency `p - k` are the same wave
# (up to the sign of the sine), so frequencies `1 .. (p-1)/2` are all there are.
# The paper's claim: the trained model represents each number `a` by `cos(w_k a)` and
# `sin(w_k a)` for a few **key frequencies** `k`, and computes with trigonometric identities:
#
# `cos(w(a+b)) = cos(wa) cos(wb) - sin(wa) sin(wb)`, and the logit of answer `c` is about
# `Σ_k cos(w_k (a + b - c))`, which is largest exactly when `c = (a + b) mod p`.

# %% [markdown]
# ## Exercise 4: the Fourier basis
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Build the `(p, p)` matrix whose **rows** are the basis vectors, in the order constant,
# `cos 1`, `sin 1`, `cos 2`, `sin 2`, ..., each of norm 1, in float64. For p = 5, row 1 is
# `cos(2π·1·x/5)` for `x = 0..4`, scaled by `√(2/5)`: `[0.632, 0.195, -0.512, -0.512, 0.195]`.
#
# Then `basis @ v` gives the coordinates of any vector `v` of length `p` in this basis,
# and `basis.T @ coords` turns them back (an orthonormal matrix's inverse is its transpose).
#
# <details><summary>Hint</summary>
#
# **The idea.** A basis of functions on `0 .. p-1`: the constant, then for each frequency `k` from 1
# to `p // 2` a cosine and a sine of `2πkx/p`, every row scaled to unit length.
#
# **A pointer.** One row per function, stacked in that order (constant, cos 1, sin 1, cos 2, ...),
# in float64. Normalise each row by its own norm (over the last axis, kept for broadcasting).
# </details>

# %% nbgrader={"solution": true, "grade_id": "fourier_basis"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def fourier_basis(p: int) -> torch.Tensor:
    """The real Fourier basis of functions on {0, ..., p-1}, p odd, as the rows of a (p, p) float64 matrix.

    Row 0: the constant 1/sqrt(p). Rows 2k-1 and 2k (k = 1 .. (p-1)/2): cos(2 pi k x / p) and
    sin(2 pi k x / p) for x = 0 .. p-1, each divided by its norm. The rows are orthonormal.
    """
    ### BEGIN SOLUTION
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.ones(p, dtype=torch.float64)]
    for k in range(1, p // 2 + 1):
        rows.append(torch.cos(2 * math.pi * k * x / p))
        rows.append(torch.sin(2 * math.pi * k * x / p))
    basis = torch.stack(rows)
    return basis / basis.norm(dim=1, keepdim=True)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "fourier_basis_test", "points": 2}
_B = fourier_basis(5)
checks.assert_shape("fourier_basis", _B, (5, 5))
checks.assert_dtype("fourier_basis", _B, torch.float64, hint="build x with dtype=torch.float64")
checks.assert_close("fourier_basis", _B[0], torch.full((5,), 1 / math.sqrt(5), dtype=torch.float64), name="row 0 (constant)")
checks.assert_close("fourier_basis", _B[1], torch.tensor([0.632456, 0.195440, -0.511667, -0.511667, 0.195440], dtype=torch.float64),
                    atol=1e-6, name="row 1 (cos, k = 1)", hint="cos(2 pi k x / p) divided by its norm sqrt(p / 2)")
checks.assert_close("fourier_basis", _B[2], torch.tensor([0.0, 0.601501, 0.371748, -0.371748, -0.601501], dtype=torch.float64),
                    atol=1e-6, name="row 2 (sin, k = 1)", hint="the order is constant, cos 1, sin 1, cos 2, sin 2, ...")
_B = fourier_basis(53)
checks.assert_close("fourier_basis", _B @ _B.T, torch.eye(53, dtype=torch.float64), atol=1e-10, name="basis @ basis.T (p = 53)",
                    hint="every row must have norm 1 and be orthogonal to the others")
print("fourier_basis: visible tests pass")
### BEGIN HIDDEN TESTS
def _ref_basis(p):
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.ones(p, dtype=torch.float64)]
    for k in range(1, p // 2 + 1):
        rows += [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
    b = torch.stack(rows)
    return b / b.norm(dim=1, keepdim=True)


for _p in (1, 3, 7, 113):
    checks.assert_close("fourier_basis", fourier_basis(_p), _ref_basis(_p), atol=1e-12, name=f"fourier_basis({_p})")
checks.assert_dtype("fourier_basis", fourier_basis(3), torch.float64)
### END HIDDEN TESTS

# %%
basis = fourier_basis(P)
fig, axes = plt.subplots(1, 4, figsize=(14, 2.5), sharey=True)
for ax, (row, name) in zip(axes, [(0, "constant"), (1, "cos, k=1"), (2, "sin, k=1"), (27, "cos, k=14")]):
    ax.bar(range(P), basis[row].numpy(), width=1.0)
    ax.set(title=f"row {row}: {name}", xlabel="x")
plt.show()

# %% [markdown]
# ## Exercise 5: the embedding's norm per frequency
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 2 points · about 10 minutes, then look at the hint.
#
# The embedding `W_E` has one row per token. Its first `p` rows (the numbers) are a function
# of the number, with values in `R^128`: each of the 128 columns is a vector of length `p`.
# `basis @ W_E[:p]` expresses every column in the Fourier basis: row `r` of the result is how
# much of basis vector `r` each column contains. The squared norm of frequency `k` is the
# sum of squares of the cos-`k` and sin-`k` rows (the two together, because the phase of a
# wave, cos or sin, is arbitrary). Frequency 0 is the constant row alone. Because the basis
# is orthonormal, the squared norms of all frequencies add up to `‖W‖²`.
#
# Write it for any `(p, d)` matrix `W`. The test compares with `torch.fft.rfft`, which
# computes the same thing with complex numbers: `|DFT_k|²·2/p` for `k ≥ 1`.
#
# <details><summary>Hint</summary>
#
# **The idea.** Express `W`'s rows in the Fourier basis, measure the energy of each basis row, then
# add each frequency's cosine and sine together: frequency 0 has one row, every other has two.
#
# **A pointer.** Basis times `W` (float64), squared, summed over the model dimension. The cosine and
# sine of frequency `k` are rows `2k - 1` and `2k`: strided slicing picks all the odd and all the
# even rows at once.
# </details>

# %% nbgrader={"solution": true, "grade_id": "freq_norms"} exercise={"difficulty": 2, "importance": 5, "minutes": 10}
def freq_norms(W: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Squared norm of W in each frequency of the Fourier basis, along W's first axis.

    W: (p, d) float (any float dtype, any strides); basis: (p, p) from fourier_basis(p), p odd.
    Returns (p // 2 + 1,) float64: entry 0 the constant component, entry k the cos-k and sin-k
    components together, summed over the d columns. The entries add up to (W ** 2).sum().
    """
    ### BEGIN SOLUTION
    sq = ((basis @ W.double()) ** 2).sum(-1)
    return torch.cat([sq[:1], sq[1::2] + sq[2::2]])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "freq_norms_test", "points": 2}
def _fft_norms(W):
    """The same with the complex DFT: |X_0|^2 / p, then 2 |X_k|^2 / p."""
    power = torch.fft.rfft(W.double(), dim=0).abs().pow(2).sum(-1) / W.shape[0]
    power[1:] *= 2
    return power


_W = torch.randn(7, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
_n = freq_norms(_W, learner_basis("freq_norms", 7))
checks.assert_shape("freq_norms", _n, (4,), hint="one entry for the constant and one per frequency 1 .. p // 2")
checks.assert_dtype("freq_norms", _n, torch.float64)
checks.assert_close("freq_norms", _n.sum(), (_W**2).sum(), name="sum over frequencies vs (W ** 2).sum()",
                    hint="square the coordinates basis @ W, and add every row to exactly one frequency")
checks.assert_close("freq_norms", _n, _fft_norms(_W), name="norms per frequency (p = 7) vs torch.fft.rfft",
                    hint="frequency k >= 1 is the sum of the cos-k row (2k - 1) and the sin-k row (2k)")
_cos3 = torch.cos(2 * math.pi * 3 * torch.arange(53.0) / 53)[:, None] * torch.tensor([[1.0, -2.0]])
checks.assert_close("freq_norms", freq_norms(_cos3, learner_basis("freq_norms", 53)), _fft_norms(_cos3), atol=1e-9,
                    name="norms of a pure k = 3 wave (p = 53)")
print("freq_norms: visible tests pass")
### BEGIN HIDDEN TESTS
_Wbig = torch.randn(128, 53, generator=torch.Generator().manual_seed(1))
_B53 = learner_basis("freq_norms", 53)
checks.assert_close("freq_norms", freq_norms(_Wbig.T, _B53), _fft_norms(_Wbig.T), rtol=1e-5,
                    name="norms of a float32 transposed (non-contiguous) W")
checks.assert_close("freq_norms", freq_norms(_Wbig[:1].T, _B53), _fft_norms(_Wbig[:1].T), rtol=1e-5, name="norms with d = 1")
checks.assert_close("freq_norms", freq_norms(torch.ones(3, 2), learner_basis("freq_norms", 3)),
                    torch.tensor([6.0, 0.0], dtype=torch.float64), atol=1e-12, name="norms of a constant W (p = 3)")
### END HIDDEN TESTS

# %% [markdown]
# Now the paper's picture of the embedding: the norm of your trained embedding per frequency, next to the
# same for its initial (random) weights. A random matrix spreads its norm evenly over all
# frequencies. The trained one does not.

# %%
W_E = live.W_E.detach()
norms_live = freq_norms(W_E[:P], basis)
norms_init = freq_norms(snapshots[0][1]["W_E"][:P], basis)
fig, ax = plt.subplots(figsize=(12, 3.5))
ax.bar(np.arange(P // 2 + 1) - 0.2, (norms_init / norms_init.sum()).numpy(), width=0.4, label="at initialisation")
ax.bar(np.arange(P // 2 + 1) + 0.2, (norms_live / norms_live.sum()).numpy(), width=0.4, label="after training")
ax.set(xlabel="frequency k (0 = constant)", ylabel="share of ‖W_E‖²", title="The embedding in the Fourier basis")
ax.set_xticks(range(0, P // 2 + 1, 2))
ax.legend()
plt.show()

# %% [markdown]
# ## Exercise 6: the key frequencies
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points (2 here, 1 for your model's key frequencies) · about 5 minutes, then look at the hint.
#
# Call a frequency `k ≥ 1` **key** when its norm is more than `threshold` (10% by default) of
# the largest non-constant frequency's. Return them sorted, together with their **share**:
# their summed norm divided by the total over all frequencies, constant included. That share
# is the number the paper's claim is about: after training, a handful of frequencies carry
# nearly all of the embedding.
#
# <details><summary>Hint</summary>
#
# **The idea.** A key frequency is one whose norm stands out: above `threshold` times the largest
# norm among the non-constant frequencies. Report them, and the share of the total norm they hold.
#
# **A pointer.** Leave frequency 0 out of the comparison (and remember the index shift it causes).
# Return plain Python ints and a float.
# </details>

# %% nbgrader={"solution": true, "grade_id": "key_frequencies"} exercise={"difficulty": 1, "importance": 4, "minutes": 5}
def key_frequencies(norms: torch.Tensor, threshold: float = 0.1) -> tuple[list[int], float]:
    """The key frequencies in a vector of norms per frequency, and their share of the total.

    norms: (p // 2 + 1,) float, entry 0 the constant (as from freq_norms).
    Returns (freqs, share): freqs the sorted Python ints k >= 1 with norms[k] > threshold * max(norms[1:]);
    share = norms[freqs].sum() / norms.sum(), a Python float.
    """
    ### BEGIN SOLUTION
    rest = norms[1:]
    freqs = [int(i) + 1 for i in torch.nonzero(rest > threshold * rest.max()).flatten()]
    return freqs, (norms[freqs].sum() / norms.sum()).item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "key_frequencies_test", "points": 2}
_res = key_frequencies(torch.tensor([5.0, 0.2, 3.0, 0.1, 1.0, 0.29, 0.31]))
checks.assert_true("key_frequencies", isinstance(_res, tuple) and len(_res) == 2, "return a tuple (freqs, share)")
checks.assert_equal("key_frequencies", list(_res[0]), [2, 4, 6], name="key frequencies of [5, 0.2, 3, 0.1, 1, 0.29, 0.31]",
                    hint="frequency 0 (the constant) is never key, and the threshold is 10% of the largest of norms[1:], 3.0")
checks.assert_true("key_frequencies", all(isinstance(k, int) for k in _res[0]), "return the frequencies as Python ints")
checks.assert_close("key_frequencies", _res[1], (3.0 + 1.0 + 0.31) / 9.9, rtol=1e-6, name="share",
                    hint="divide by the total over all frequencies, constant included")
checks.assert_equal("key_frequencies", list(key_frequencies(torch.tensor([0.0, 1.0, 0.5, 0.25]), threshold=0.5)[0]), [1],
                    name="key frequencies of [0, 1, 0.5, 0.25] with threshold 0.5",
                    hint="strictly more than threshold * max: 0.5 is not more than half of 1")
print("key_frequencies: visible tests pass")
### BEGIN HIDDEN TESTS
_f, _s = key_frequencies(torch.tensor([1.0, 2.0, 2.0, 2.0], dtype=torch.float64))
checks.assert_equal("key_frequencies", list(_f), [1, 2, 3], name="key frequencies when all are equal")
checks.assert_close("key_frequencies", _s, 6 / 7, name="share when all are equal")
_f, _s = key_frequencies(torch.tensor([0.0, 1.0, 0.5, 0.2]), threshold=0.5)
checks.assert_equal("key_frequencies", list(_f), [1], name="key frequencies with threshold 0.5 (0.5 is not over 50% of 1)")
_f, _s = key_frequencies(torch.tensor([9.0, 1.0]))
checks.assert_equal("key_frequencies", list(_f), [1], name="key frequencies for p = 3")
checks.assert_close("key_frequencies", _s, 0.1, name="share for p = 3")
### END HIDDEN TESTS

# %%
key_freqs, key_share = key_frequencies(norms_live)
print(f"key frequencies of your model: {key_freqs}, holding {key_share:.1%} of the embedding's squared norm")
print("the shipped checkpoint's, for comparison:", spec.sidecar()["key_freqs"],
      f"{spec.sidecar()['metrics']['key_freq_share']:.1%}")

# %% nbgrader={"grade": true, "grade_id": "key_frequencies_test_2", "points": 1}
KEY_SHARE_MIN = 0.85  # the course's run: 95.6% (seeds 1 and 2 of the recipe: 91.5%, and 82.6% before grokking)
need("key_frequencies", "live", "key_freqs", "key_share")
checks.assert_true("key_frequencies", 2 <= len(key_freqs) <= 8,
                   f"your model has {len(key_freqs)} key frequencies ({key_freqs}); expected a handful, 2 to 8 (the paper's "
                   "main run uses 5, its other seeds 3 or 4)")
checks.assert_true("key_frequencies", key_share > KEY_SHARE_MIN,
                   f"the key frequencies hold {key_share:.1%} of the embedding norm; expected over {KEY_SHARE_MIN:.0%}")
print(f"key_frequencies: {len(key_freqs)} key frequencies hold {key_share:.1%} of the embedding (> {KEY_SHARE_MIN:.0%})")
### BEGIN HIDDEN TESTS
need("key_frequencies", "live")
_f, _s = key_frequencies(grokking.freq_norms(live.W_E.detach()[:P]))
checks.assert_true("key_frequencies", _s > KEY_SHARE_MIN and 2 <= len(_f) <= 8, f"key frequencies {_f} hold {_s:.1%}")
### END HIDDEN TESTS

# %% [markdown]
# ## The neurons are periodic
#
# The MLP neurons at the `=` position are functions of the pair `(a, b)`: a `p × p` grid per
# neuron. The 2-D Fourier basis of the grid is every product of a basis vector in `a` and one
# in `b`, and `basis @ grid @ basis.T` gives a neuron's coordinates in it (row `r`, column
# `s`: basis vector `r` in `a` times basis vector `s` in `b`). The paper finds that almost
# all of a neuron's variance sits in the terms of **one** frequency `k`: the waves in `a`
# alone or `b` alone at `k`, and the products of a `k`-wave in `a` with a `k`-wave in `b`,
# which is exactly what `cos(w(a+b)) = cos(wa)cos(wb) - sin(wa)sin(wb)` needs. It reports
# that 84.6% of the neurons are explained by a single frequency, so the neurons fall into
# clusters, one per key frequency.
#
# ## Exercise 7: how much of each neuron one frequency explains
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 3 points (2 here, 1 for the neurons of the trained models) · about 20 minutes, then look at the hint.
#
# Write `neuron_frequencies(acts, basis)`. For each neuron (a column of `acts`, `p²` rows in
# pair order), put its activations on the `(a, b)` grid and take their 2-D Fourier
# coordinates `C = basis @ grid @ basis.T`. The neuron's variance over the pairs is the sum
# of the squares of every coordinate except the constant one `C[0, 0]` (orthonormal basis:
# squares add up; the constant term is the mean). The part of it in frequency `k`, with
# `r_k = [2k-1, 2k]` the cos-k and sin-k rows, is the sum of the squares of
# `C[r_k, 0]` (a alone), `C[0, r_k]` (b alone) and `C[r_k][:, r_k]` (the four products).
# Return, per neuron, the frequency with the largest part and that part's fraction of the
# neuron's variance (0 for a neuron that is constant over the pairs, such as a dead one).
#
# <details><summary>Hint</summary>
#
# `grid = acts.double().T.reshape(-1, p, p)` is `(neuron, a, b)` because row `i` is
# `a = i // p, b = i % p`; then `C = basis @ grid @ basis.T` works batched. Build the
# `(neuron, p // 2)` table of parts with a loop over `k` (three `.pow(2).sum(...)` terms),
# the total as `C.pow(2).sum((1, 2)) - C[:, 0, 0] ** 2`, and divide where the total is not 0
# (`torch.where`). `.max(1)` gives the values and the indices (add 1 for the frequency).
# </details>

# %% nbgrader={"solution": true, "grade_id": "neuron_frequencies"} exercise={"difficulty": 3, "importance": 3, "minutes": 20}
def neuron_frequencies(acts: torch.Tensor, basis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The frequency that explains most of each neuron's variance over the pairs, and how much.

    acts: (p*p, n) float, row i is the pair a = i // p, b = i % p (any float dtype, any strides).
    basis: (p, p) from fourier_basis(p), p odd.
    Returns (best, frac): best (n,) int64, each neuron's frequency in 1 .. p // 2 whose terms (a alone,
    b alone, and their products) hold the largest part of its variance; frac (n,) float64, that part
    divided by the neuron's variance over the p*p pairs (0 where the variance is 0).
    """
    ### BEGIN SOLUTION
    p = basis.shape[0]
    grid = acts.double().T.reshape(-1, p, p)
    C = basis @ grid @ basis.T
    parts = []
    for k in range(1, p // 2 + 1):
        r = [2 * k - 1, 2 * k]
        parts.append(C[:, r, 0].pow(2).sum(1) + C[:, 0, r].pow(2).sum(1) + C[:, r][:, :, r].pow(2).sum((1, 2)))
    parts = torch.stack(parts, 1)
    total = C.pow(2).sum((1, 2)) - C[:, 0, 0] ** 2
    top = parts.max(1)
    frac = torch.where(total > 0, top.values / total.clamp_min(1e-300), torch.zeros_like(total))
    return top.indices + 1, frac
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "neuron_frequencies_test", "points": 2}
def _fft_neuron_parts(acts, p):
    """The same parts with the 2-D DFT (Parseval), and the variance: the course's grokking.neuron_freq_variance."""
    return grokking.neuron_freq_variance(acts, p), acts.double().var(0, unbiased=False)


_p = 7
_a = torch.arange(_p).repeat_interleave(_p).double()
_b = torch.arange(_p).repeat(_p).double()
_w = 2 * math.pi / _p
_x = torch.stack([torch.cos(_w * 3 * (_a + _b)),  # frequency 3 only: all of it
                  torch.cos(_w * 2 * _a) + 2 * torch.sin(_w * 1 * _b),  # 1/5 at k = 2, 4/5 at k = 1
                  torch.full_like(_a, 5.0)], 1)  # constant: no variance
_B7 = learner_basis("neuron_frequencies", _p)
_res = neuron_frequencies(_x, _B7)
checks.assert_true("neuron_frequencies", isinstance(_res, tuple) and len(_res) == 2, "return a pair (best, frac)")
_best, _frac = _res
checks.assert_shape("neuron_frequencies", _frac, (3,), hint="one fraction per neuron (column of acts)")
checks.assert_dtype("neuron_frequencies", _frac, torch.float64)
checks.assert_equal("neuron_frequencies", _best[:2], torch.tensor([3, 1]), name="best frequency of cos(w3(a+b)) and cos(w2 a) + 2 sin(w1 b)",
                    hint="frequency k is basis rows 2k - 1 and 2k; add 1 to the index of the largest part")
checks.assert_close("neuron_frequencies", _frac, torch.tensor([1.0, 0.8, 0.0], dtype=torch.float64), atol=1e-9,
                    name="fractions (pure k = 3; 4/5 at k = 1; a constant neuron)",
                    hint="divide by the variance: every squared coordinate but C[0, 0]; a constant neuron gives 0, not nan")
_xr = torch.randn(49, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
_parts, _var = _fft_neuron_parts(_xr, _p)
_best, _frac = neuron_frequencies(_xr, _B7)
checks.assert_close("neuron_frequencies", _frac, _parts.max(1).values / _var, atol=1e-9, name="fractions of random neurons vs the 2-D FFT",
                    hint="the part of frequency k: C[r, 0], C[0, r] and the 2 x 2 block C[r][:, r], with r = [2k - 1, 2k]")
checks.assert_equal("neuron_frequencies", _best, _parts.argmax(1) + 1, name="best frequencies of random neurons")
checks.assert_close("neuron_frequencies", neuron_frequencies(_xr * 1e-3, _B7)[1], _frac, atol=1e-9,
                    name="fractions of the same neurons scaled by 1e-3 (variance under 1)",
                    hint="only a variance of exactly 0 gives 0: a fraction does not depend on the neuron's scale")
print("neuron_frequencies: visible tests pass")
### BEGIN HIDDEN TESTS
_xb = torch.randn(7, 53 * 53, generator=torch.Generator().manual_seed(1))
_parts, _var = _fft_neuron_parts(_xb.T, 53)
_best, _frac = neuron_frequencies(_xb.T, learner_basis("neuron_frequencies", 53))
checks.assert_close("neuron_frequencies", _frac, _parts.max(1).values / _var, rtol=1e-6, name="fractions of float32 transposed acts (p = 53)")
checks.assert_equal("neuron_frequencies", _best, _parts.argmax(1) + 1, name="best frequencies (p = 53)")
_best, _frac = neuron_frequencies(torch.zeros(9, 2), learner_basis("neuron_frequencies", 3))
checks.assert_close("neuron_frequencies", _frac, torch.zeros(2, dtype=torch.float64), name="fractions of dead neurons (p = 3)")
### END HIDDEN TESTS

# %% [markdown]
# Your function on your trained model, and on the course's p = 113 model (the paper's size).
# A neuron counts as *explained* when one frequency holds over 85% of its variance; neurons
# with (almost) no variance over the pairs are left out. On the left, the norm over all
# neurons of each 2-D component (the constant term left out, it would drown the rest); on the
# right, one neuron's activations on the grid.

# %%
NEURON_FRAC = 0.85


def explained_share(model, p, basis_p):
    """Share of the live neurons of `model` that one frequency explains, and the live neurons' best frequencies."""
    with torch.no_grad():
        acts = model.run(grokking.make_data(p, 1.0)["tokens"])["mlp_post"].double()
    var = acts.var(0, unbiased=False)
    alive = var > 1e-3 * var.max()
    best_k, frac_k = neuron_frequencies(acts[:, alive], basis_p)
    return (frac_k > NEURON_FRAC).double().mean().item(), int(alive.sum()), best_k


big = registry.load("grokking-p113")
share_live, n_live, best_live = explained_share(live, P, basis)
share_big, n_big, best_big = explained_share(big, 113, fourier_basis(113))
print(f"p = 53 (yours): {share_live:.1%} of {n_live} live neurons have over {NEURON_FRAC:.0%} of their variance in one frequency")
print(f"p = 113 (shipped): {share_big:.1%} of {n_big} live neurons; the paper: 84.6%")
print("your neurons per best frequency:", {int(k): int((best_live == k).sum()) for k in best_live.unique()},
      "- your key frequencies:", key_freqs)

with torch.no_grad():
    acts_live = live.run(tokens)["mlp_post"].double()  # (p*p, d_mlp), rows in pair order
grid = acts_live.reshape(P, P, -1).permute(2, 0, 1)  # (neuron, a, b)
coef2d = basis @ grid @ basis.T  # (neuron, Fourier component of a, Fourier component of b)
comp_norm = coef2d.pow(2).sum(0).sqrt()
comp_norm[0, 0] = 0
names = ["const"] + [f"{t}{k}" for k in range(1, P // 2 + 1) for t in ("cos", "sin")]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.5))
im = ax1.imshow(comp_norm.numpy(), cmap="Blues")
ticks = [0] + [2 * k - 1 for k in key_freqs]
ax1.set_xticks(ticks, [names[t] for t in ticks], rotation=90)
ax1.set_yticks(ticks, [names[t] for t in ticks])
ax1.set(title="neurons in the 2-D Fourier basis (norm over neurons)", xlabel="component in b", ylabel="component in a")
plt.colorbar(im, ax=ax1, shrink=0.8)
k0 = min(key_freqs)  # the slowest wave is the easiest to see
best_all, frac_all = neuron_frequencies(acts_live, basis)
neuron = int(torch.where(best_all == k0, frac_all * grid.var((1, 2)), torch.zeros_like(frac_all)).argmax())
ax2.imshow(grid[neuron].numpy(), cmap="RdBu_r")
ax2.set(title=f"neuron {neuron} (frequency {k0}): activation over (a, b)", xlabel="b", ylabel="a")
plt.show()

# %% nbgrader={"grade": true, "grade_id": "neuron_frequencies_test_2", "points": 1}
NEURONS_EXPLAINED_MIN = 0.6  # measured: 88.6% for the course's p = 53 run, 76.7% at p = 113; the paper: 84.6%
need("neuron_frequencies", "live", "big")
_s53, _n53, _ = explained_share(live, P, learner_basis("neuron_frequencies", P))
_s113, _n113, _ = explained_share(big, 113, learner_basis("neuron_frequencies", 113))
checks.assert_true("neuron_frequencies", _s113 > NEURONS_EXPLAINED_MIN,
                   f"by your neuron_frequencies, one frequency explains {_s113:.1%} of the p = 113 model's live neurons; "
                   f"expected over {NEURONS_EXPLAINED_MIN:.0%} (the paper: 84.6%)")
checks.assert_true("neuron_frequencies", _s53 > NEURONS_EXPLAINED_MIN,
                   f"by your neuron_frequencies, one frequency explains {_s53:.1%} of your model's live neurons; "
                   f"expected over {NEURONS_EXPLAINED_MIN:.0%}", hint="did your run grok (Exercise 3's second test)?")
print(f"neuron_frequencies: one frequency explains {_s53:.1%} (p = 53) and {_s113:.1%} (p = 113) of the live neurons")
### BEGIN HIDDEN TESTS
need("neuron_frequencies", "live", "big")
_s113h = explained_share(big, 113, learner_basis("neuron_frequencies", 113))[0]
with torch.no_grad():
    _acts113 = big.run(grokking.make_data(113, 1.0)["tokens"])["mlp_post"]
checks.assert_close("neuron_frequencies", _s113h, grokking.neurons_explained(_acts113, 113, NEURON_FRAC)["share"], atol=1e-9,
                    name="share of explained neurons at p = 113 vs the course's FFT version")
### END HIDDEN TESTS

# %% [markdown]
# ## Where the answer is computed: the directions cos(w(a+b)), sin(w(a+b))
#
# To output `(a + b) mod p`, the logits only need the part of the neurons that depends on
# `a + b`. For a frequency `k` this part lies in the plane spanned by two functions of the
# pair grid,
#
# `C_k(a, b) = cos(w_k (a + b))` and `S_k(a, b) = sin(w_k (a + b))`,
#
# two vectors of length `p²` (rows in pair order: row `i` is `a = i // p`, `b = i % p`). For
# different `k`, and for cos vs sin, they are orthogonal, and each has squared norm `p²/2`.
# Projecting a neuron (a column of `acts`) onto these planes for the key frequencies keeps
# its **key-frequency `a + b` part**, which the paper identifies as the generalising
# circuit; whatever the projection leaves out includes memorisation.
#
# ## Exercise 8: projecting onto the a + b directions
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 20 minutes, then look at the hint.
#
# Write `sum_freq_part(x, p, freqs)`: for each column of `x` (`p²` rows in pair order), its
# orthogonal projection onto the span of `C_k, S_k` for `k` in `freqs`. With the
# directions normalised to unit length and stacked as the rows of `D` (`2·len(freqs)` by
# `p²`), the projection is `Dᵀ (D x)`. An empty `freqs` projects onto nothing: zeros.
#
# <details><summary>Hint</summary>
#
# `a = torch.arange(p).repeat_interleave(p).double()`, `b = torch.arange(p).repeat(p).double()`.
# For each `k`: `w = 2 * math.pi * k / p`, rows `torch.cos(w * (a + b))` and `torch.sin(w * (a + b))`.
# Stack them, divide each row by its norm, then `D.T @ (D @ x.double())`. Handle `freqs == []`
# before stacking (`torch.stack([])` fails).
# </details>

# %% nbgrader={"solution": true, "grade_id": "sum_freq_part"} exercise={"difficulty": 3, "importance": 4, "minutes": 20}
def sum_freq_part(x: torch.Tensor, p: int, freqs: list[int]) -> torch.Tensor:
    """The part of each column of x along cos(w_k (a+b)) and sin(w_k (a+b)), k in freqs.

    x: (p*p, n) float, row i is the pair a = i // p, b = i % p (any float dtype, any strides).
    p: odd; freqs: frequencies in 1 .. (p-1)/2 (possibly empty).
    Returns (p*p, n) float64: the orthogonal projection of every column onto the span of those
    2 * len(freqs) directions (zeros if freqs is empty).
    """
    ### BEGIN SOLUTION
    if len(freqs) == 0:
        return torch.zeros(x.shape, dtype=torch.float64)
    a = torch.arange(p).repeat_interleave(p).double()
    b = torch.arange(p).repeat(p).double()
    dirs = []
    for k in freqs:
        w = 2 * math.pi * k / p
        dirs += [torch.cos(w * (a + b)), torch.sin(w * (a + b))]
    D = torch.stack(dirs)
    D = D / D.norm(dim=1, keepdim=True)
    return D.T @ (D @ x.double())
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sum_freq_part_test", "points": 3}
def _fft_sum_part(x, p, freqs):
    """The same with the 2-D DFT: cos/sin(w_k(a+b)) span the components (k, k) and (-k, -k)."""
    X = torch.fft.fft2(x.double().reshape(p, p, -1), dim=(0, 1))
    mask = torch.zeros(p, p, 1, dtype=torch.float64)
    for k in freqs:
        mask[k, k] = mask[-k, -k] = 1
    return torch.fft.ifft2(X * mask, dim=(0, 1)).real.reshape(p * p, -1)


_x = torch.randn(49, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
_y = sum_freq_part(_x, 7, [1, 3])
checks.assert_shape("sum_freq_part", _y, (49, 3))
checks.assert_dtype("sum_freq_part", _y, torch.float64)
_ab = (torch.arange(7).repeat_interleave(7) + torch.arange(7).repeat(7)).double()
_wave = torch.cos(2 * math.pi * 3 * _ab / 7)[:, None]
checks.assert_close("sum_freq_part", sum_freq_part(_wave, 7, [1, 3]), _wave, atol=1e-10, name="projection of cos(w_3 (a+b))",
                    hint="a direction in the span must come back unchanged: are your directions normalised to norm 1?")
checks.assert_close("sum_freq_part", sum_freq_part(_wave, 7, [2]), torch.zeros(49, 1, dtype=torch.float64), atol=1e-10,
                    name="projection of cos(w_3 (a+b)) onto frequency 2")
checks.assert_close("sum_freq_part", sum_freq_part(_wave, 7, [3]), _wave, atol=1e-10,
                    name="projection of cos(w_3 (a+b)) onto frequency 3 alone", hint="a list of one frequency is not empty")
checks.assert_close("sum_freq_part", sum_freq_part(_x, 7, []), torch.zeros(49, 3, dtype=torch.float64), atol=0,
                    name="projection onto no frequency", hint="no frequency: zeros of x's shape, in float64")
checks.assert_close("sum_freq_part", _y, _fft_sum_part(_x, 7, [1, 3]), atol=1e-10,
                    name="projection of random columns (p = 7, freqs [1, 3]) vs the 2-D FFT",
                    hint="row i is a = i // p and b = i % p; project onto cos and sin for each frequency")
print("sum_freq_part: visible tests pass")
### BEGIN HIDDEN TESTS
_xb = torch.randn(10, 53 * 53, generator=torch.Generator().manual_seed(2))
checks.assert_close("sum_freq_part", sum_freq_part(_xb.T, 53, [4, 17, 26]), _fft_sum_part(_xb.T, 53, [4, 17, 26]), atol=1e-8,
                    name="projection of a float32 transposed x (p = 53)")
checks.assert_close("sum_freq_part", sum_freq_part(_xb.T, 53, []), torch.zeros(53 * 53, 10, dtype=torch.float64),
                    name="projection onto no frequencies")
checks.assert_close("sum_freq_part", sum_freq_part(_xb.T[:9, :1] * 0 + 1, 3, [1]), torch.zeros(9, 1, dtype=torch.float64),
                    atol=1e-12, name="projection of a constant (p = 3)")
_x3 = torch.randn(9, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
checks.assert_close("sum_freq_part", sum_freq_part(_x3, 3, [1]), _fft_sum_part(_x3, 3, [1]), atol=1e-10, name="p = 3")
### END HIDDEN TESTS

# %% [markdown]
# ## The two progress measures
#
# The logits are linear in the neurons: `logits = resid_mid @ W_U + mlp_post @ W_out @ W_U
# + b_out @ W_U`. Write `W_logit = W_out @ W_U`, `(d_mlp, p)`. The paper's code splits the
# neurons' contribution in two, `key = sum_freq_part(acts, p, key_freqs)` and the rest, and
# defines (with the key frequencies of the *final* model):
#
# - **Restricted loss**: keep only each neuron's mean over the pairs plus its key part:
#   `restricted = (acts.mean(0) + key) @ W_logit`, shifted so that its mean over the pairs
#   equals that of the real logits (this restores the direct path and the biases):
#   `restricted += logits.mean(0) - restricted.mean(0)`. Cross-entropy on the **test**
#   pairs. Low restricted loss means the Fourier circuit *alone* already gets the answer
#   right on pairs it never trained on.
# - **Excluded loss**: remove the key part: `excluded = logits - key @ W_logit`.
#   Cross-entropy on the **training** pairs. While the model memorises, removing a few
#   frequencies costs little on the training set; as the training performance comes to
#   depend on the Fourier circuit, the excluded loss rises.
#
# (Since `key` has mean 0 over the pairs, `restricted` is just `logits.mean(0) + key @ W_logit`.)
# Compute both in float64, like every loss here.

# %% [markdown]
# ## Exercise 9: restricted loss
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 2 points · about 10 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# **The idea.** Keep only what the key frequencies explain of the neuron activations (plus their
# mean), map that through to the logits, and see how well it still predicts. The paper also keeps
# each logit's average over the inputs, so the model's bias toward some answers is not what is
# measured.
#
# **A pointer.** `sum_freq_part` gives the key-frequency part. Add the activations' mean, go to the
# logits with `W_logit` (all in float64), then shift every output so that its mean matches the real
# logits' mean. Cross-entropy on the pairs in `idx` only.
# </details>

# %% nbgrader={"solution": true, "grade_id": "restricted_loss"} exercise={"difficulty": 2, "importance": 5, "minutes": 10}
def restricted_loss(acts: torch.Tensor, logits: torch.Tensor, W_logit: torch.Tensor, freqs: list[int],
                    labels: torch.Tensor, idx: torch.Tensor) -> float:
    """Cross-entropy on rows idx of the logits rebuilt from the neurons' key-frequency a+b part.

    acts: (p*p, d_mlp) neuron activations at "=", rows in pair order (all p*p pairs).
    logits: (p*p, p) the model's logits on the same rows. W_logit: (d_mlp, p) = W_out @ W_U.
    freqs: the key frequencies. labels: (p*p,) int64. idx: the rows to score (the test pairs).
    Returns a Python float, computed in float64.
    """
    ### BEGIN SOLUTION
    p = logits.shape[1]
    key = sum_freq_part(acts, p, freqs)
    r = (acts.double().mean(0) + key) @ W_logit.double()
    r = r + logits.double().mean(0) - r.mean(0)
    return F.cross_entropy(r[idx], labels[idx]).item()
    ### END SOLUTION


# %% [markdown]
# ## Exercise 10: excluded loss
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 2 points · about 5 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# `e = logits.double() - sum_freq_part(acts, p, freqs) @ W_logit.double()`, then the
# cross-entropy on rows `idx`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "excluded_loss"} exercise={"difficulty": 2, "importance": 5, "minutes": 5}
def excluded_loss(acts: torch.Tensor, logits: torch.Tensor, W_logit: torch.Tensor, freqs: list[int],
                  labels: torch.Tensor, idx: torch.Tensor) -> float:
    """Cross-entropy on rows idx of the logits with the neurons' key-frequency a+b part removed.

    Arguments as in restricted_loss; idx: the rows to score (the training pairs).
    Returns a Python float, computed in float64.
    """
    ### BEGIN SOLUTION
    p = logits.shape[1]
    e = logits.double() - sum_freq_part(acts, p, freqs) @ W_logit.double()
    return F.cross_entropy(e[idx], labels[idx]).item()
    ### END SOLUTION


# %% [markdown]
# The tests for both use a made-up "model" whose neurons depend on `a + b` only:
# `acts = table[(a + b) % p]` for a random `table`, and `logits = acts @ W_logit + bias`.
# Every function of `a + b` is a combination of the constant and `C_k, S_k` over all
# frequencies, so keeping *all* frequencies restores the logits exactly (restricted loss =
# the model's loss), and excluding all of them leaves the same logits for every pair.

# %%
def toy_problem(p, n=6, seed=0):
    """Neurons that are a function of a + b only, and logits made from them."""
    g = torch.Generator().manual_seed(seed)
    lab = (torch.arange(p).repeat_interleave(p) + torch.arange(p).repeat(p)) % p
    table = torch.randn(p, n, generator=g, dtype=torch.float64)
    W = torch.randn(n, p, generator=g, dtype=torch.float64)
    bias = torch.randn(p, generator=g, dtype=torch.float64)
    acts = table[lab]
    return acts, acts @ W + bias, W, lab


# %% nbgrader={"grade": true, "grade_id": "restricted_loss_test", "points": 2}
_acts, _logits, _W, _lab = toy_problem(7)
_idx = torch.arange(0, 49, 3)
_r = restricted_loss(_acts, _logits, _W, [1, 2, 3], _lab, _idx)
checks.assert_true("restricted_loss", isinstance(_r, float), f"return a Python float, got {type(_r).__name__}",
                   hint="call .item() on the loss")
checks.assert_close("restricted_loss", _r, F.cross_entropy(_logits[_idx], _lab[_idx]).item(), rtol=1e-9,
                    name="restricted loss with every frequency kept (must equal the model's loss)",
                    hint="restricted = (acts.mean(0) + key) @ W_logit, then shifted by logits.mean(0) - restricted.mean(0)")
_r1 = restricted_loss(_acts, _logits, _W, [], _lab, _idx)
checks.assert_close("restricted_loss", _r1, F.cross_entropy(_logits.mean(0).expand(len(_idx), 7), _lab[_idx]).item(),
                    rtol=1e-9, name="restricted loss with no frequency kept (the mean logits for every pair)")
print("restricted_loss: visible tests pass")
### BEGIN HIDDEN TESTS
def _ref_restricted(acts, logits, W, freqs, lab, idx):
    key = _fft_sum_part(acts, logits.shape[1], freqs)
    r = logits.double().mean(0) + key @ W.double()
    return F.cross_entropy(r[idx], lab[idx]).item()


_acts, _logits, _W, _lab = toy_problem(11, seed=4)
_acts = _acts + torch.randn(_acts.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)  # not only a + b
for _fr, _ix in [([2], torch.arange(121)), ([1, 5], torch.tensor([7])), ([3, 4], torch.arange(0, 121, 2))]:
    checks.assert_close("restricted_loss", restricted_loss(_acts.float(), _logits.float(), _W.float(), _fr, _lab, _ix),
                        _ref_restricted(_acts, _logits, _W, _fr, _lab, _ix), rtol=1e-5,
                        name=f"restricted loss (p = 11, freqs {_fr}, {len(_ix)} rows, float32 inputs)")
_big = registry.load("grokking-p53")
_run = _big.run(tokens)
_args = (_run["mlp_post"].detach(), _run["logits"].detach(), (_big.W_out @ _big.W_U).detach(),
         spec.sidecar()["key_freqs"], labels, test_idx)
checks.assert_close("restricted_loss", restricted_loss(*_args), _ref_restricted(*_args), rtol=1e-6,
                    name="restricted loss of the shipped p = 53 model")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "excluded_loss_test", "points": 2}
_acts, _logits, _W, _lab = toy_problem(7)
_idx = torch.arange(1, 49, 2)
_e = excluded_loss(_acts, _logits, _W, [], _lab, _idx)
checks.assert_true("excluded_loss", isinstance(_e, float), f"return a Python float, got {type(_e).__name__}")
checks.assert_close("excluded_loss", _e, F.cross_entropy(_logits[_idx], _lab[_idx]).item(), rtol=1e-9,
                    name="excluded loss with nothing excluded (must equal the model's loss)",
                    hint="excluded = logits - key @ W_logit, scored on rows idx only")
_const = _logits.mean(0).expand(len(_idx), 7)
checks.assert_close("excluded_loss", excluded_loss(_acts, _logits, _W, [1, 2, 3], _lab, _idx),
                    F.cross_entropy(_const, _lab[_idx]).item(), rtol=1e-9,
                    name="excluded loss with every frequency excluded (the mean logits for every pair)",
                    hint="subtract the key part of the neurons times W_logit from the logits (not the mean)")
print("excluded_loss: visible tests pass")
### BEGIN HIDDEN TESTS
def _ref_excluded(acts, logits, W, freqs, lab, idx):
    e = logits.double() - _fft_sum_part(acts, logits.shape[1], freqs) @ W.double()
    return F.cross_entropy(e[idx], lab[idx]).item()


_acts, _logits, _W, _lab = toy_problem(11, seed=6)
_acts = _acts + torch.randn(_acts.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
for _fr, _ix in [([2], torch.arange(121)), ([1, 5], torch.tensor([7])), ([3, 4], torch.arange(0, 121, 2))]:
    checks.assert_close("excluded_loss", excluded_loss(_acts.float(), _logits.float(), _W.float(), _fr, _lab, _ix),
                        _ref_excluded(_acts, _logits, _W, _fr, _lab, _ix), rtol=1e-5,
                        name=f"excluded loss (p = 11, freqs {_fr}, {len(_ix)} rows, float32 inputs)")
_big = registry.load("grokking-p53")
_run = _big.run(tokens)
_args = (_run["mlp_post"].detach(), _run["logits"].detach(), (_big.W_out @ _big.W_U).detach(),
         spec.sidecar()["key_freqs"], labels, train_idx)
checks.assert_close("excluded_loss", excluded_loss(*_args), _ref_excluded(*_args), rtol=1e-6,
                    name="excluded loss of the shipped p = 53 model")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 11: progress measures over training
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 4 points (2 here, 2 for the claim about your run) · about 15 minutes, then look at the hint.
#
# Your training run kept a snapshot of the weights every 50 epochs. For each one, load it
# into a model, run the model on all `p²` pairs, and compute both losses with the key
# frequencies of the *final* model. Then plot them with the train and test loss: the
# paper's progress-measure plot.
#
# <details><summary>Hint</summary>
#
# Make one `GrokTransformer(cfg)` before the loop and `load_state_dict` each snapshot into
# it. Under `torch.no_grad()`, `.run(data["tokens"])` gives `"mlp_post"` and `"logits"`, and
# `W_logit` is `W_out @ W_U` of the loaded weights. Then
# `restricted_loss(acts, logits, W_logit, freqs, data["labels"], data["test_idx"])`, and
# `excluded_loss` with `data["train_idx"]`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "progress_measures"} exercise={"difficulty": 2, "importance": 5, "minutes": 15}
def progress_measures(snapshots: list, cfg: GrokConfig, data: dict, freqs: list[int]) -> dict:
    """Restricted loss (on data["test_idx"]) and excluded loss (on data["train_idx"]) of every snapshot.

    snapshots: list of (epoch, state_dict) as from train. cfg: the model's GrokConfig.
    data: as from make_dataset (all p*p pairs). freqs: the key frequencies of the final model.
    Returns {"epoch": [...], "restricted_loss": [...], "excluded_loss": [...]}, lists of equal
    length (ints, then Python floats), in the order of the snapshots.
    """
    ### BEGIN SOLUTION
    out = {"epoch": [], "restricted_loss": [], "excluded_loss": []}
    m = GrokTransformer(cfg)
    for epoch, state in snapshots:
        m.load_state_dict(state)
        with torch.no_grad():
            run = m.run(data["tokens"])
            W_logit = m.W_out @ m.W_U
        args = (run["mlp_post"], run["logits"], W_logit, freqs, data["labels"])
        out["epoch"].append(epoch)
        out["restricted_loss"].append(restricted_loss(*args, data["test_idx"]))
        out["excluded_loss"].append(excluded_loss(*args, data["train_idx"]))
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "progress_measures_test", "points": 2}
_shipped_freqs = spec.sidecar()["key_freqs"]
torch.manual_seed(0)
_two = [(0, GrokTransformer(cfg).state_dict()), (spec.train.epochs, registry.load("grokking-p53").state_dict())]
_pm = progress_measures(_two, cfg, data, _shipped_freqs)
checks.assert_true("progress_measures", isinstance(_pm, dict) and {"epoch", "restricted_loss", "excluded_loss"} <= set(_pm),
                   "return a dict with keys epoch, restricted_loss, excluded_loss")
checks.assert_equal("progress_measures", list(_pm["epoch"]), [0, spec.train.epochs], name="epochs")
checks.assert_true("progress_measures", len(_pm["restricted_loss"]) == len(_pm["excluded_loss"]) == 2,
                   "one restricted and one excluded loss per snapshot")
_m = registry.load("grokking-p53")
_run = _m.run(tokens)
_args = (_run["mlp_post"].detach(), _run["logits"].detach(), (_m.W_out @ _m.W_U).detach(), _shipped_freqs, labels)
checks.assert_close("progress_measures", _pm["restricted_loss"][1], restricted_loss(*_args, test_idx), rtol=1e-6,
                    name="restricted loss of the final snapshot vs restricted_loss on the shipped model",
                    hint="score the restricted loss on data['test_idx']")
checks.assert_close("progress_measures", _pm["excluded_loss"][1], excluded_loss(*_args, train_idx), rtol=1e-6,
                    name="excluded loss of the final snapshot vs excluded_loss on the shipped model",
                    hint="score the excluded loss on data['train_idx']")
checks.assert_true("progress_measures", _pm["restricted_loss"][0] > 3.0,
                   f"the restricted loss at initialisation is {_pm['restricted_loss'][0]:.3f}; a random model should be "
                   f"near ln {P} = {math.log(P):.2f}: did you load each snapshot's weights?")
torch.manual_seed(1)
_small_cfg = GrokConfig(p=11)  # another config, a random model and another split than the notebook's
_small, _small_data = GrokTransformer(_small_cfg), grokking.make_data(11, 0.5, seed=5)
_pm11 = progress_measures([(7, _small.state_dict())], _small_cfg, _small_data, [1, 3])
_ref11 = grokking.progress_measures(_small, _small_data, [1, 3])
for _k in ("restricted_loss", "excluded_loss"):
    checks.assert_close("progress_measures", _pm11[_k][0], _ref11[_k], rtol=1e-5,
                        name=f"{_k} of a random p = 11 model on its own split",
                        hint="build the model from the cfg argument and score the data argument, not the notebook's")
print("progress_measures: visible tests pass")
### BEGIN HIDDEN TESTS
_pm = progress_measures(_two, cfg, data, _shipped_freqs)
_probe = GrokTransformer(cfg)
for (_e, _st), _rl, _el in zip(_two, _pm["restricted_loss"], _pm["excluded_loss"]):
    _probe.load_state_dict(_st)
    _ref = grokking.progress_measures(_probe, data, _shipped_freqs)
    checks.assert_close("progress_measures", _rl, _ref["restricted_loss"], rtol=1e-5, name=f"restricted loss at epoch {_e}")
    checks.assert_close("progress_measures", _el, _ref["excluded_loss"], rtol=1e-5, name=f"excluded loss at epoch {_e}")
checks.assert_equal("progress_measures", list(progress_measures([], cfg, data, _shipped_freqs)["epoch"]), [],
                    name="epochs of no snapshots")
### END HIDDEN TESTS

# %%
t0 = time.perf_counter()
pm = progress_measures(snapshots, cfg, data, key_freqs)
print(f"{len(snapshots)} snapshots in {time.perf_counter() - t0:.1f} s")
snap_ep = np.array(pm["epoch"])
weight_norm = [sum((w.double() ** 2).sum().item() for w in st.values()) for _, st in snapshots]

fig, ax1 = plt.subplots(figsize=(9, 4.5))
ax1.semilogy(ep, history["train_loss"], label="train loss", c="C0")
ax1.semilogy(ep, history["test_loss"], label="test loss", c="C1")
ax1.semilogy(snap_ep, pm["restricted_loss"], "o-", ms=3, label="restricted loss (test pairs)", c="C2")
ax1.semilogy(snap_ep, pm["excluded_loss"], "o-", ms=3, label="excluded loss (train pairs)", c="C3")
ax1.set(xlabel="epoch", ylabel="cross-entropy (log scale)", title="Progress measures, as in the paper")
ax1.legend(fontsize=8)
plt.show()

# %% nbgrader={"grade": true, "grade_id": "progress_measures_test_2", "points": 2}
EXCLUDED_RISE, RESTRICTED_FALL = 10.0, 100.0  # the course's run: restricted 4.68 -> 4.6e-7, excluded 0.108 -> 7.86
need("progress_measures", "pm", "history")
_ep = np.array(pm["epoch"])
_rl, _el = np.array(pm["restricted_loss"]), np.array(pm["excluded_loss"])
_h_ep = np.array(history["epoch"])
_mem = int(_h_ep[np.argmax(np.array(history["train_acc"]) == 1.0)])  # end of memorisation
_i0 = int(np.argmin(np.abs(_ep - _mem)))
print(f"after memorisation (epoch {_ep[_i0]}): restricted loss {_rl[_i0]:.3g} -> lowest {_rl[_i0:].min():.3g}; "
      f"excluded loss lowest {_el[_i0:].min():.3g} -> highest {_el[_i0:].max():.3g}")
checks.assert_true("progress_measures", _rl[_i0:].min() < _rl[_i0] / RESTRICTED_FALL,
                   f"the restricted loss went from {_rl[_i0]:.3g} (end of memorisation) down to {_rl[_i0:].min():.3g} only; "
                   f"expected it to fall more than {RESTRICTED_FALL:.0f}x", hint="the restricted loss is scored on the test pairs")
checks.assert_true("progress_measures", _el[_i0:].max() > EXCLUDED_RISE * _el[_i0:].min(),
                   f"the excluded loss only went from {_el[_i0:].min():.3g} to {_el[_i0:].max():.3g} after memorisation; "
                   f"expected it to rise more than {EXCLUDED_RISE:.0f}x",
                   hint="the excluded loss is scored on the training pairs, with the final model's key frequencies")
print("progress_measures: after memorisation the restricted loss fell and the excluded loss rose")
### BEGIN HIDDEN TESTS
checks.assert_equal("progress_measures", list(progress_measures([], cfg, data, [1])["epoch"]), [], name="epochs of no snapshots")
need("progress_measures", "snapshots", "key_freqs")
_sub = [snapshots[_i0], snapshots[-1]]
_pm2 = progress_measures(_sub, cfg, data, key_freqs)
checks.assert_true("progress_measures", _pm2["restricted_loss"][1] < _pm2["restricted_loss"][0] / RESTRICTED_FALL,
                   f"restricted {_pm2['restricted_loss']}")
### END HIDDEN TESTS

# %% [markdown]
# ## The three phases, as the paper defines them
#
# Nanda et al. (§5.2) split training by what the train loss, the test loss and the progress
# measures do, not by accuracy:
#
# 1. **Memorisation**: train loss falls to nearly nothing, test loss rises; the excluded loss
#    falls with the train loss, because what is learnt first does not go through the key
#    frequencies. (Main run: epochs 0 to 1.4k.)
# 2. **Circuit formation**: train and test loss both stay flat, but underneath the Fourier
#    circuit grows: the restricted loss (the circuit alone, on pairs never trained on) falls
#    and the excluded loss (the model without the circuit, on the training pairs) rises.
#    The memorised lookup table is still there and still adds its errors on the test pairs,
#    so the test loss does not show the progress. (1.4k to 9.4k.)
# 3. **Clean-up**: weight decay removes the memorisation, which the circuit has made
#    unnecessary; the weight norm drops and **test loss falls** sharply. (9.4k to 14k.)
#
# Grokking, the jump in test accuracy, happens during clean-up: it is the *end* of a process
# the progress measures saw for thousands of epochs.
#
# To say "test loss stays flat while the restricted loss falls" with numbers, find, from a
# run's curve and its progress measures:
#
# - `mem`: the first logged epoch with train accuracy 1.0, and `test_at_mem`, the test loss
#   there (the memorisation level);
# - `r10`: the first snapshot at or after `mem` whose restricted loss is below a tenth of its
#   value at the snapshot nearest to `mem`; `e10`: the first snapshot at or after it whose
#   excluded loss is over ten times its lowest value from that snapshot on;
# - `test_at_r10`, `test_at_e10`: the test loss at the logged epoch nearest to those;
# - `half`: the first logged epoch after `mem` whose test loss is below `test_at_mem / 2`,
#   where the test loss has clearly started to fall.
#
# ## Exercise 12: where the phases fall
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 4 points (2 here, 2 for the claim over four runs) · about 20 minutes, then look at the hint.
#
# Any event that never happens is `-1` (and its test loss `-1.0`); if the model never reaches
# train accuracy 1.0, return only `{"mem": -1}`. "Nearest" breaks ties towards the earlier
# epoch.
#
# <details><summary>Hint</summary>
#
# `ep.index(mem)` finds the memorisation level. For the snapshot nearest to an epoch `e`,
# `min(range(len(se)), key=lambda i: abs(se[i] - e))` (the first of equals wins). Then one
# `next((... for i in range(i0, len(se)) if ...), -1)` per event.
# </details>

# %% nbgrader={"solution": true, "grade_id": "find_phases"} exercise={"difficulty": 2, "importance": 4, "minutes": 20}
def find_phases(curve: dict, pm: dict) -> dict:
    """Where memorisation ends, the progress measures move, and the test loss starts to fall.

    curve: lists "epoch", "train_acc", "test_loss" (as your history or a sidecar's "curve").
    pm: lists "epoch", "restricted_loss", "excluded_loss" (as progress_measures or a sidecar's "snapshots").
    Returns {"mem", "test_at_mem", "r10", "test_at_r10", "e10", "test_at_e10", "half"} as defined above
    (epochs as ints, -1 if the event never happens; losses as floats, -1.0 with it), or {"mem": -1}.
    """
    ### BEGIN SOLUTION
    ep, tl = list(curve["epoch"]), list(curve["test_loss"])
    mem = next((e for e, a in zip(ep, curve["train_acc"]) if a >= 1.0), -1)
    if mem < 0:
        return {"mem": -1}
    M = tl[ep.index(mem)]
    se, rl, el = list(pm["epoch"]), list(pm["restricted_loss"]), list(pm["excluded_loss"])
    i0 = min(range(len(se)), key=lambda i: abs(se[i] - mem))

    def test_at(e):
        return float(tl[min(range(len(ep)), key=lambda i: abs(ep[i] - e))]) if e >= 0 else -1.0

    r10 = next((int(se[i]) for i in range(i0, len(se)) if rl[i] < rl[i0] / 10), -1)
    e10 = next((int(se[i]) for i in range(i0, len(se)) if el[i] > 10 * min(el[i0:])), -1)
    half = next((int(e) for e, v in zip(ep, tl) if e > mem and v < M / 2), -1)
    return {"mem": int(mem), "test_at_mem": float(M), "r10": r10, "test_at_r10": test_at(r10), "e10": e10,
            "test_at_e10": test_at(e10), "half": half}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "find_phases_test", "points": 2}
_curve = {"epoch": [0, 10, 20, 30, 40, 50, 60], "train_acc": [0.1, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0],
          "test_loss": [4.0, 8.0, 12.0, 11.0, 9.0, 5.0, 0.1]}
_pm = {"epoch": [0, 15, 30, 45, 60], "restricted_loss": [4.0, 3.0, 1.0, 0.2, 0.01], "excluded_loss": [4.0, 0.5, 0.3, 3.5, 3.1]}
_got = find_phases(_curve, _pm)
checks.assert_true("find_phases", isinstance(_got, dict), f"return a dict, got {type(_got).__name__}")
_want = {"mem": 20, "test_at_mem": 12.0, "r10": 45, "test_at_r10": 9.0, "e10": 45, "test_at_e10": 9.0, "half": 50}
for _k, _v in _want.items():
    checks.assert_close("find_phases", _got.get(_k, float("nan")), _v, name=f"{_k} of a hand-made run",
                        hint={"mem": "the first epoch with train_acc 1.0", "r10": "compare with the restricted loss at the snapshot "
                              "nearest to mem (epoch 15 here): below 3.0 / 10", "e10": "over 10x the lowest excluded loss from "
                              "that snapshot on (0.3 here)", "half": "test loss below test_at_mem / 2 = 6",
                              "test_at_r10": "the test loss at the logged epoch nearest to r10 (40 and 50 are both 5 away from "
                              "45: the earlier wins)"}.get(_k))
checks.assert_equal("find_phases", find_phases({**_curve, "train_acc": [0.5] * 7}, _pm), {"mem": -1},
                    name="a run that never memorises")
_cases = [  # (what it checks, curve, progress measures, the answer)
    ("thresholds: the snapshot nearest to mem, not the first; lows before it do not count; M = 13",
     {"epoch": [0, 10, 20, 30, 40, 50, 60, 70], "train_acc": [0.2, 0.6, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
      "test_loss": [4.0, 9.0, 13.0, 12.0, 10.0, 6.2, 6.4, 1.0]},
     {"epoch": [0, 20, 30, 40, 50, 60], "restricted_loss": [100.0, 10.0, 1.05, 0.95, 0.5, 0.4],
      "excluded_loss": [0.01, 1.0, 9.5, 10.5, 12.0, 13.0]},
     {"mem": 20, "test_at_mem": 13.0, "r10": 40, "test_at_r10": 10.0, "e10": 40, "test_at_e10": 10.0, "half": 50}),
    ("ties: exactly a tenth, exactly ten times, exactly half are not enough",
     {"epoch": [0, 10, 20, 30, 40], "train_acc": [0.5, 1.0, 1.0, 1.0, 1.0], "test_loss": [3.0, 12.0, 6.0, 5.0, 1.0]},
     {"epoch": [0, 10, 20, 30, 40], "restricted_loss": [4.0, 4.0, 0.4, 0.3, 0.1], "excluded_loss": [2.0, 0.5, 5.0, 6.0, 7.0]},
     {"mem": 10, "test_at_mem": 12.0, "r10": 30, "test_at_r10": 5.0, "e10": 30, "test_at_e10": 5.0, "half": 30}),
    ("events that never happen",
     {"epoch": [0, 10, 20], "train_acc": [0.5, 1.0, 1.0], "test_loss": [3.0, 8.0, 7.0]},
     {"epoch": [0, 10, 20], "restricted_loss": [4.0, 3.0, 2.0], "excluded_loss": [1.0, 0.9, 0.8]},
     {"mem": 10, "test_at_mem": 8.0, "r10": -1, "test_at_r10": -1.0, "e10": -1, "test_at_e10": -1.0, "half": -1}),
    ("memorised at epoch 0, excluded loss already 10x its later low there",
     {"epoch": [0, 10, 20], "train_acc": [1.0, 1.0, 1.0], "test_loss": [5.0, 4.0, 2.0]},
     {"epoch": [0, 10, 20], "restricted_loss": [4.0, 3.0, 0.3], "excluded_loss": [11.0, 1.0, 2.0]},
     {"mem": 0, "test_at_mem": 5.0, "r10": 20, "test_at_r10": 2.0, "e10": 0, "test_at_e10": 5.0, "half": 20}),
]
for _what, _c, _p, _want in _cases:
    _got = checks.call("find_phases", find_phases, _c, _p, case=_what)
    checks.assert_equal("find_phases", {k: _got.get(k) for k in _want}, _want, name=_what,
                        hint="events at or after the snapshot nearest to mem, strict comparisons, -1 and -1.0 for what "
                             "never happens")
print("find_phases: visible tests pass")
### BEGIN HIDDEN TESTS
_never = find_phases(_curve, {**_pm, "excluded_loss": [4.0, 0.5, 0.3, 0.4, 0.5]})
checks.assert_true("find_phases", _never.get("e10") == -1 and _never.get("test_at_e10") == -1.0,
                   f"an excluded loss that never rises 10x should give e10 = -1, test_at_e10 = -1.0, got {_never}")
for _name, _c, _s in [("p = 113 (shipped)", registry.get("grokking-p113").sidecar()["curve"],
                       registry.get("grokking-p113").sidecar()["snapshots"])] + \
        [(f"seed {_r['seed']}", _r["curve"], _r["snapshots"]) for _r in spec.sidecar()["seed_runs"]]:
    _mine, _ref = find_phases(_c, _s), grokking.phase_summary(_c, _s)
    for _k in _want:
        checks.assert_close("find_phases", _mine[_k], _ref[_k], name=f"{_k} of the {_name} run")
### END HIDDEN TESTS

# %% [markdown]
# Your run, then the same recipe with two more seeds (weights and split; the course trained
# them when it made the checkpoint and kept their curves and progress measures in its
# sidecar), and the shipped p = 113 run.

# %%
side53 = spec.sidecar()
runs = {"yours (seed 0)": (history, pm)}
runs.update({f"p = 53, seed {r['seed']}": (r["curve"], r["snapshots"]) for r in side53["seed_runs"]})
side113 = registry.get("grokking-p113").sidecar()
runs["p = 113 (shipped)"] = (side113["curve"], side113["snapshots"])
phases = {name: find_phases(c, s) for name, (c, s) in runs.items()}
print(f"{'run':<20}{'mem':>5}{'test loss':>10}{'r10':>6}{'test loss':>10}{'e10':>6}{'test loss':>10}{'half':>6}")
for name, ph in phases.items():
    print(f"{name:<20}{ph['mem']:>5}{ph['test_at_mem']:>10.3g}{ph['r10']:>6}{ph['test_at_r10']:>10.3g}"
          f"{ph['e10']:>6}{ph['test_at_e10']:>10.3g}{ph['half']:>6}")

for name, (c, _) in runs.items():
    print(f"{name:<20} test accuracy {c['test_acc'][-1]:.3f} at epoch {c['epoch'][-1]}; over 99% from epoch "
          f"{grokking.grok_epoch(c) if grokking.grok_epoch(c) >= 0 else '(not yet)'}")

ph = phases["yours (seed 0)"]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
ax1.semilogy(ep, history["train_loss"], label="train loss", c="C0")
ax1.semilogy(ep, history["test_loss"], label="test loss", c="C1")
ax1.semilogy(snap_ep, pm["restricted_loss"], "o-", ms=3, label="restricted loss", c="C2")
ax1.semilogy(snap_ep, pm["excluded_loss"], "o-", ms=3, label="excluded loss", c="C3")
for x0, x1, colour, name in [(0, ph["mem"], "C0", "memorisation"), (ph["mem"], ph["half"], "C2", "circuit formation"),
                             (ph["half"], int(ep[-1]), "C1", "clean-up")]:
    ax1.axvspan(x0, x1, alpha=0.1, color=colour, label=f"{name} ({x0}-{x1})")
ax1.set(xlabel="epoch", ylabel="cross-entropy (log scale)", title="Your run, split as the paper does")
ax1.legend(fontsize=7)
for name, (c, s) in runs.items():
    if name.startswith("p = 113"):
        continue
    ax2.semilogy(c["epoch"], c["test_loss"], label=f"test loss, {name}")
    ax2.semilogy(s["epoch"], s["restricted_loss"], ":", label=f"restricted loss, {name}")
ax2.set(xlabel="epoch", ylabel="cross-entropy (log scale)", title="Three seeds of the same recipe")
ax2.legend(fontsize=7)
plt.show()

# %% nbgrader={"grade": true, "grade_id": "find_phases_test_2", "points": 2}
PLATEAU = 4.0  # test loss at r10 still over a quarter of its memorisation level (measured: 1.4x to 2.3x lower)
need("find_phases", "phases")
for _name, _ph in phases.items():
    checks.assert_true("find_phases", min(_ph.get(k, -1) for k in ("mem", "r10", "e10", "half")) >= 0,
                       f"{_name}: some phase boundary was not found: {_ph}", hint="did your run grok?")
    checks.assert_true("find_phases", _ph["test_at_r10"] > _ph["test_at_mem"] / PLATEAU,
                       f"{_name}: when the restricted loss had fallen 10x (epoch {_ph['r10']}) the test loss was "
                       f"{_ph['test_at_r10']:.3g}, already below 1/{PLATEAU:.0f} of its memorisation level {_ph['test_at_mem']:.3g}")
    checks.assert_true("find_phases", _ph["e10"] < _ph["half"],
                       f"{_name}: the excluded loss rose 10x at epoch {_ph['e10']}, not before the test loss halved "
                       f"(epoch {_ph['half']})")
print(f"find_phases: in all {len(phases)} runs the restricted loss fell 10x while the test loss stayed within "
      f"{PLATEAU:.0f}x of its memorisation level, and the excluded loss rose 10x before the test loss halved")
### BEGIN HIDDEN TESTS
need("find_phases", "history", "pm")
_mine, _ref = find_phases(history, pm), grokking.phase_summary(history, pm)
for _k in ("mem", "r10", "e10", "half", "test_at_r10"):
    checks.assert_close("find_phases", _mine[_k], _ref[_k], name=f"{_k} of your run vs the course's phase_summary")
checks.assert_true("find_phases", _ref["test_at_r10"] > _ref["test_at_mem"] / PLATEAU and _ref["e10"] < _ref["half"], f"{_ref}")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 13 (investigation): which hypothesis do your curves support?
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 15 minutes.
#
# Three stories about what happens between memorisation and grokking. Each says something
# different about the two facts your table of phases measures: was the test loss still near its
# memorisation level when the restricted loss had fallen tenfold (`test_at_r10` against
# `test_at_mem`), and did the excluded loss rise tenfold before the test loss halved (`e10`
# against `half`)?
#
# - `"A"`: **a sudden switch.** Nothing measurable happens on the plateau: the circuit appears
#   when the test loss falls, so the progress measures move only once the test loss already
#   has.
# - `"B"`: **a hidden circuit, then clean-up.** The Fourier circuit grows while the test loss
#   stays flat, and the training pairs come to depend on it (without it, they are lost); the
#   test loss falls only when the memorised table is removed.
# - `"C"`: **circuit first, dependence later.** The circuit grows on the plateau, but the model
#   keeps answering its training pairs from the memorised table until after the test loss has
#   fallen; only then does removing the circuit hurt them.
#
# Read your table and your left plot, then return `(HYPOTHESIS, GROK_PHASE)`: the letter your
# run supports, and the phase, as drawn in your plot (`"memorisation"`, `"circuit formation"`
# or `"clean-up"`), in which your test accuracy passed 99%. The test reads the answer off your
# own numbers (your `find_phases`, your run), so it is right for the run you made.
#
# <details><summary>Hint</summary>
#
# **The idea.** Each story predicts an order of events; your table gives the order. A falling
# restricted loss is the circuit working on unseen pairs; a rising excluded loss is the
# training pairs needing the circuit.
#
# **A pointer.** In the row `yours (seed 0)`, compare `test_at_r10` with a quarter of
# `test_at_mem`, and `e10` with `half`. The phase spans are in the legend of the left plot; the
# epoch at which test accuracy passed 99% is printed above it.
# </details>

# %% nbgrader={"solution": true, "grade_id": "phase_hypothesis"} exercise={"difficulty": 2, "importance": 5, "minutes": 15}
def phase_hypothesis() -> tuple[str, str]:
    """Your reading of your run: (HYPOTHESIS, GROK_PHASE), e.g. ("A", "memorisation"). Return constants."""
    ### BEGIN SOLUTION
    return "B", "clean-up"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "phase_hypothesis_test", "points": 3}
def _phase_reading(ph: dict, grok_at: int) -> tuple[str | None, str, str]:
    """What a run's phase table says: (the letter it supports or None, the phase of grokking, the evidence)."""
    early = ph["test_at_r10"] > ph["test_at_mem"] / PLATEAU   # circuit grew while the test loss was near its plateau
    depends = 0 <= ph["e10"] < ph["half"]                      # training pairs needed it before the test loss fell
    letter = {(True, True): "B", (True, False): "C", (False, False): "A"}.get((early, depends))
    phase = "memorisation" if grok_at <= ph["mem"] else "circuit formation" if grok_at < ph["half"] else "clean-up"
    evidence = (f"restricted loss down 10x at epoch {ph['r10']}, test loss then {ph['test_at_r10']:.3g} against "
                f"{ph['test_at_mem']:.3g} at memorisation (a quarter: {ph['test_at_mem'] / PLATEAU:.3g}); excluded loss up "
                f"10x at epoch {ph['e10']}, test loss halved at epoch {ph['half']}; test accuracy over 99% at epoch {grok_at}")
    return letter, phase, evidence


_ans = checks.call("phase_hypothesis", phase_hypothesis, case="your answers")
checks.assert_true("phase_hypothesis", isinstance(_ans, tuple) and len(_ans) == 2,
                   f"return a pair (HYPOTHESIS, GROK_PHASE), e.g. ('A', 'memorisation'); got {_ans!r}")
checks.assert_true("phase_hypothesis", _ans[0] in ("A", "B", "C")
                   and _ans[1] in ("memorisation", "circuit formation", "clean-up"),
                   "HYPOTHESIS is one of 'A', 'B', 'C' and GROK_PHASE one of 'memorisation', "
                   f"'circuit formation', 'clean-up'; got {_ans!r}")
need("phase_hypothesis", "phases", "history")
_letter, _phase, _evidence = _phase_reading(phases["yours (seed 0)"], grokking.grok_epoch(history))
checks.assert_true("phase_hypothesis", _letter is not None,
                   f"your phase table fits none of the three stories ({_evidence})",
                   hint="check find_phases (exercise 12) and that your run grokked")
checks.assert_true("phase_hypothesis", _ans[0] == _letter,
                   f"HYPOTHESIS = {_ans[0]!r} is not what your run shows: {_evidence}",
                   hint={"A": "story A says the progress measures move only after the test loss has fallen: is that what "
                              "test_at_r10 and e10 say?",
                         "B": "story B needs the test loss still near its plateau at r10 and the excluded loss up before "
                              "the test loss halved",
                         "C": "story C says the excluded loss rises only after the test loss has halved: compare e10 with "
                              "half"}[_ans[0]])
checks.assert_true("phase_hypothesis", _ans[1] == _phase,
                   f"GROK_PHASE = {_ans[1]!r}: your test accuracy passed 99% at epoch {grokking.grok_epoch(history)}, "
                   f"and your phases are memorisation to {phases['yours (seed 0)']['mem']}, circuit formation to "
                   f"{phases['yours (seed 0)']['half']}, clean-up after",
                   hint="grokking, the jump in test accuracy, is it the start of the story or its end?")
print(f"phase_hypothesis: your run supports {_letter!r}, and it grokked during {_phase}: {_evidence}")
### BEGIN HIDDEN TESTS
_ans = phase_hypothesis()
need("phase_hypothesis", "history", "pm")
_ref = grokking.phase_summary(history, pm)
_letter, _phase, _evidence = _phase_reading(_ref, _ref["grok"])
checks.assert_equal("phase_hypothesis", tuple(_ans), (_letter, _phase), name="(HYPOTHESIS, GROK_PHASE) against the course's "
                    f"phase_summary of your run ({_evidence})")
for _r in spec.sidecar()["seed_runs"]:
    _l, _, _ev = _phase_reading(grokking.phase_summary(_r["curve"], _r["snapshots"]), grokking.grok_epoch(_r["curve"]))
    checks.assert_equal("phase_hypothesis", _ans[0], _l, name=f"HYPOTHESIS against seed {_r['seed']} of the recipe ({_ev})")
### END HIDDEN TESTS

# %% [markdown]
# <details><summary>The paper's reading, next to yours (open after exercise 13 passes)</summary>
#
# - **Memorisation** (to `mem`, epoch 60 in the course's run): train loss plunges, test
#   loss rises to about 3.5 times ln 53. The excluded loss falls with the train loss: the
#   memorised answers do not go through the key frequencies.
# - **Circuit formation** (`mem` to `half`): train loss is tiny and the test loss sits on its
#   plateau, yet the restricted loss (the circuit alone, on unseen pairs) falls tenfold and
#   the excluded loss (the training pairs without the circuit) rises tenfold. In every run in
#   the table the test loss is still within a factor of 4 of its memorisation level when the
#   restricted loss has fallen tenfold, and the excluded loss has risen tenfold before the test
#   loss has halved: story B, the paper's.
# - **Clean-up** (from `half`): the memorisation goes, the weight norm falls, and the test
#   loss drops by orders of magnitude; test accuracy passes 99% in this phase.
#
# The same recipe with other seeds picks other key frequencies and groks at other epochs,
# but the order of events is the same. At p = 113 the plateau is longer and flatter, as in
# the paper.
# </details>
#
# ## Sparsity in the Fourier basis over training
#
# The paper's second kind of progress measure looks at the weights alone: how concentrated
# the embedding and the unembedding are on a few frequencies, measured by the **Gini
# coefficient** of their norms per frequency. Gini is 0 when every frequency has the same norm
# and `(n - 1) / n` when one of `n` frequencies holds everything. For values sorted in
# increasing order `x_1 <= ... <= x_n` (all >= 0, not all 0):
#
# `G = Σ_i (2i - n - 1) x_i / (n Σ_i x_i)`.
#
# ## Exercise 14: the Fourier Gini coefficient
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 3 points (2 here, 1 for your run) · about 10 minutes, then look at the hint.
#
# Write `fourier_gini(W, basis)`: the Gini coefficient of the **norms** (not squared) of `W`
# per frequency `1 .. p // 2`, cos and sin together, the constant left out. Use your
# `freq_norms`. For the unembedding, pass `W_U.T` (the numbers are its columns).
#
# <details><summary>Hint</summary>
#
# `x = freq_norms(W, basis)[1:].sqrt().sort().values`, `i = torch.arange(1, n + 1)`, then the
# formula; `.item()` at the end.
# </details>

# %% nbgrader={"solution": true, "grade_id": "fourier_gini"} exercise={"difficulty": 2, "importance": 3, "minutes": 10}
def fourier_gini(W: torch.Tensor, basis: torch.Tensor) -> float:
    """Gini coefficient of the norms of W (p, d) per frequency 1 .. p // 2 of the Fourier basis.

    W: (p, d) float, functions of the number along the first axis. basis: (p, p) from fourier_basis(p).
    Returns a Python float in [0, 1): 0 when all frequencies have the same norm.
    """
    ### BEGIN SOLUTION
    x = freq_norms(W, basis)[1:].sqrt().sort().values
    n = len(x)
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return (((2 * i - n - 1) * x).sum() / (n * x.sum())).item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "fourier_gini_test", "points": 2}
_B7 = learner_basis("fourier_gini", 7)
_g = fourier_gini(_B7[1:3].T * 3.0, _B7)  # frequency 1 only (cos and sin): one of 3 frequencies
checks.assert_true("fourier_gini", isinstance(_g, float), f"return a Python float, got {type(_g).__name__}")
checks.assert_close("fourier_gini", _g, 2 / 3, rtol=1e-9, name="Gini of a W with only frequency 1 (p = 7)",
                    hint="one of n = 3 frequencies holds everything: (n - 1) / n; leave the constant (entry 0) out")
checks.assert_close("fourier_gini", fourier_gini(_B7[1:].T, _B7), 0.0, atol=1e-9, name="Gini of every basis row once (equal norms)")
_W = torch.stack([2 * _B7[1], _B7[3], torch.zeros(7, dtype=torch.float64)], 1)  # norms 2, 1, 0 at k = 1, 2, 3
checks.assert_close("fourier_gini", fourier_gini(_W, _B7), (-2 * 0 + 0 * 1 + 2 * 2) / (3 * 3), rtol=1e-9,
                    name="Gini of norms (2, 1, 0)", hint="the norms, not the squared norms: take the square root of freq_norms")
print("fourier_gini: visible tests pass")
### BEGIN HIDDEN TESTS
_Wr = torch.randn(53, 20, generator=torch.Generator().manual_seed(3))
checks.assert_close("fourier_gini", fourier_gini(_Wr, learner_basis("fourier_gini", 53)), grokking.fourier_gini(_Wr), rtol=1e-6,
                    name="Gini of a random float32 W (p = 53)")
checks.assert_close("fourier_gini", fourier_gini(_Wr.T.contiguous().T, learner_basis("fourier_gini", 53)),
                    grokking.fourier_gini(_Wr), rtol=1e-6, name="Gini of a non-contiguous W")
### END HIDDEN TESTS

# %%
gini_E = [fourier_gini(st["W_E"][:P], basis) for _, st in snapshots]
gini_U = [fourier_gini(st["W_U"].T, basis) for _, st in snapshots]
fig, ax = plt.subplots(figsize=(9, 4))
ax.plot(snap_ep, gini_E, "o-", ms=3, label="Gini of W_E in the Fourier basis")
ax.plot(snap_ep, gini_U, "o-", ms=3, label="Gini of W_U in the Fourier basis")
axb = ax.twinx()
axb.plot(snap_ep, weight_norm, c="k", lw=0.8, label="sum of squared weights")
axb.set_ylabel("sum of squared weights")
for x, name in [(ph["mem"], "mem"), (ph["half"], "half")]:
    ax.axvline(x, c="gray", ls="--", lw=0.8)
    ax.text(x, 0.02, f" {name}", color="gray")
ax.set(xlabel="epoch", ylabel="Gini coefficient", title="The weights become sparse in the Fourier basis")
ax.legend(loc="center right", fontsize=8)
plt.show()
i_mem, i_half = (int(np.argmin(np.abs(snap_ep - ph[k]))) for k in ("mem", "half"))
print(f"Gini of W_E: {gini_E[0]:.3f} at initialisation, {gini_E[i_mem]:.3f} at mem, {gini_E[i_half]:.3f} at half, "
      f"{gini_E[-1]:.3f} at the end; W_U: {gini_U[0]:.3f}, {gini_U[i_mem]:.3f}, {gini_U[i_half]:.3f}, {gini_U[-1]:.3f}")

# %% nbgrader={"grade": true, "grade_id": "fourier_gini_test_2", "points": 1}
GINI_END_MIN, GINI_START_MAX = 0.5, 0.1  # the course's run: W_E 0.028 -> 0.591, W_U 0.026 -> 0.586
need("fourier_gini", "live", "snapshots")
_B = learner_basis("fourier_gini", P)
_g0 = [fourier_gini(snapshots[0][1]["W_E"][:P], _B), fourier_gini(snapshots[0][1]["W_U"].T, _B)]
_g1 = [fourier_gini(live.W_E.detach()[:P], _B), fourier_gini(live.W_U.detach().T, _B)]
checks.assert_true("fourier_gini", max(_g0) < GINI_START_MAX,
                   f"at initialisation your Gini coefficients of W_E and W_U are {_g0[0]:.3f} and {_g0[1]:.3f}; random "
                   f"weights should give under {GINI_START_MAX}")
checks.assert_true("fourier_gini", min(_g1) > GINI_END_MIN,
                   f"after training your Gini coefficients of W_E and W_U are {_g1[0]:.3f} and {_g1[1]:.3f}; expected over "
                   f"{GINI_END_MIN} (a few key frequencies)")
print(f"fourier_gini: W_E {_g0[0]:.3f} -> {_g1[0]:.3f}, W_U {_g0[1]:.3f} -> {_g1[1]:.3f}")
### BEGIN HIDDEN TESTS
need("fourier_gini", "live")
checks.assert_close("fourier_gini", fourier_gini(live.W_U.detach().T, learner_basis("fourier_gini", P)),
                    grokking.fourier_gini(live.W_U.detach().T), rtol=1e-6, name="Gini of your trained W_U")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 15: ablate everything but the key frequencies
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points (1 here, 1 for the ablation of your model) · about 10 minutes, then look at the hint.
#
# A mechanistic claim is tested by intervening. If the model reads only the key frequencies
# of each number's embedding, then projecting the embedding onto those frequencies (deleting
# the constant and every other frequency) should leave its accuracy intact, and deleting just
# the key frequencies should destroy it.
#
# Write `ablate_embedding(W_E, basis, freqs, keep)`: a new `(p+1, d)` embedding whose
# number rows `W_E[:p]` are projected onto the span of the basis rows of the frequencies in
# `freqs` (`keep=True`) or onto everything else (`keep=False`), and whose `=` row
# `W_E[p]` is unchanged. Frequency `k` is basis rows `2k-1` and `2k`.
#
# <details><summary>Hint</summary>
#
# **The idea.** Project the token embeddings onto the span of the chosen frequencies' cosine and sine
# rows (or onto everything else, when `keep=False`), leave the `=` token's row alone, and return a
# new tensor.
#
# **A pointer.** Frequency `k` owns basis rows `2k - 1` and `2k`. With orthonormal rows `B`,
# projecting a matrix onto their span is `B` transposed times `B` times it. Only the first `p` rows
# of `W_E` are numbers; concatenate the rest back unchanged, in `W_E`'s dtype.
# </details>

# %% nbgrader={"solution": true, "grade_id": "ablate_embedding"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def ablate_embedding(W_E: torch.Tensor, basis: torch.Tensor, freqs: list[int], keep: bool = True) -> torch.Tensor:
    """W_E with its number rows projected onto the frequencies `freqs` (keep=True) or onto all the others.

    W_E: (p + 1, d) float, rows 0..p-1 the numbers, row p the "=" token. basis: (p, p) from fourier_basis(p).
    keep=True: keep only the cos-k and sin-k components, k in freqs (the constant goes too).
    keep=False: remove exactly those components (the constant and other frequencies stay).
    Returns a new (p + 1, d) tensor of W_E's dtype; row p is unchanged; W_E itself is not modified.
    """
    ### BEGIN SOLUTION
    p = basis.shape[0]
    chosen = [r for k in freqs for r in (2 * k - 1, 2 * k)]
    rows = chosen if keep else [r for r in range(p) if r not in chosen]
    B = basis[rows]
    projected = B.T @ (B @ W_E[:p].double())
    return torch.cat([projected.to(W_E.dtype), W_E[p:]])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ablate_embedding_test", "points": 1}
_W = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
_W_copy = _W.clone()
_B7 = learner_basis("ablate_embedding", 7)
_kept, _rest = ablate_embedding(_W, _B7, [2], keep=True), ablate_embedding(_W, _B7, [2], keep=False)
checks.assert_shape("ablate_embedding", _kept, (8, 3))
checks.assert_dtype("ablate_embedding", _kept, torch.float32, hint="convert back with .to(W_E.dtype)")
checks.assert_close("ablate_embedding", _W, _W_copy, name="W_E after the call (it must not be modified)")
checks.assert_close("ablate_embedding", _kept[7], _W[7], name="the '=' row (keep=True)", hint="only rows 0..p-1 are projected")
checks.assert_close("ablate_embedding", _kept[:7] + _rest[:7], _W[:7], atol=1e-6,
                    name="keep=True plus keep=False (together they must give back W_E)")
_fft_kept = torch.fft.rfft(_kept[:7].double(), dim=0).abs()
checks.assert_close("ablate_embedding", _fft_kept[[0, 1, 3]], torch.zeros(3, 3, dtype=torch.float64), atol=1e-5,
                    name="|DFT| of the kept rows at frequencies 0, 1, 3 (keep=True, freqs [2])",
                    hint="frequency k is basis rows 2k - 1 (cos) and 2k (sin)")
print("ablate_embedding: visible tests pass")
### BEGIN HIDDEN TESTS
_W = torch.randn(54, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
_B53 = learner_basis("ablate_embedding", 53)
_Wk = ablate_embedding(_W, _B53, [3, 7, 20], keep=True)
checks.assert_close("ablate_embedding", grokking.freq_norms(_Wk[:P])[[3, 7, 20]], grokking.freq_norms(_W[:P])[[3, 7, 20]],
                    name="norms of the kept frequencies")
checks.assert_close("ablate_embedding", grokking.freq_norms(_Wk[:P]).sum(), grokking.freq_norms(_W[:P])[[3, 7, 20]].sum(),
                    name="total norm after keeping 3 frequencies")
checks.assert_close("ablate_embedding", ablate_embedding(_W, _B53, [], keep=False), _W, name="removing no frequency")
checks.assert_close("ablate_embedding", ablate_embedding(_W.T.contiguous().T, _B53, [], keep=True)[:P],
                    torch.zeros(P, 16, dtype=torch.float64), name="keeping no frequency (non-contiguous W_E)")
### END HIDDEN TESTS

# %%
def with_embedding(model, W_E_new):
    """A copy of `model` whose embedding is replaced."""
    m = GrokTransformer(model.cfg)
    m.load_state_dict(model.state_dict())
    with torch.no_grad():
        m.W_E.copy_(W_E_new)
    return m.eval()


x_test, y_test = tokens[test_idx], labels[test_idx]
only_key = with_embedding(live, ablate_embedding(live.W_E.detach(), basis, key_freqs, keep=True))
no_key = with_embedding(live, ablate_embedding(live.W_E.detach(), basis, key_freqs, keep=False))
ablation = {"trained model": evaluate(live, x_test, y_test),
            f"only the key frequencies {key_freqs}": evaluate(only_key, x_test, y_test),
            "everything but the key frequencies": evaluate(no_key, x_test, y_test)}
for name, (loss, acc) in ablation.items():
    print(f"{name:<45} test loss {loss:9.3g}   test accuracy {acc:.4f}")

# %% nbgrader={"grade": true, "grade_id": "ablate_embedding_test_2", "points": 1}
need("ablate_embedding", "only_key", "no_key")
_, _acc_key = evaluate(only_key, x_test, y_test)
_, _acc_rest = evaluate(no_key, x_test, y_test)
checks.assert_true("ablate_embedding", _acc_key > 0.99,
                   f"with only the key frequencies {key_freqs} the test accuracy is {_acc_key:.4f}; expected > 0.99")
checks.assert_true("ablate_embedding", _acc_rest < 0.1,
                   f"without the key frequencies the test accuracy is still {_acc_rest:.4f}; expected < 0.1 (chance is {1 / P:.3f})")
print(f"ablate_embedding: only the key frequencies: {_acc_key:.4f}; all but them: {_acc_rest:.4f}")
### BEGIN HIDDEN TESTS
_z = ablate_embedding(torch.ones(4, 2, dtype=torch.float64), torch.eye(3, dtype=torch.float64), [1], keep=True)
checks.assert_close("ablate_embedding", _z, torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0]], dtype=torch.float64),
                    name="ablate_embedding(ones(4, 2), eye(3), [1])")
need("ablate_embedding", "live", "key_freqs")
_m = with_embedding(live, ablate_embedding(live.W_E.detach(), learner_basis("ablate_embedding", P), key_freqs, keep=True))
checks.assert_true("ablate_embedding", grokking.evaluate(_m, x_test, y_test)[1] > 0.99, "ablation keeps accuracy")
### END HIDDEN TESTS

# %% [markdown]
# ## Why this matters for safety
#
# A capability that appears abruptly is hard to prepare for: the evaluation that would have
# warned you (here, the test loss) shows nothing until the change is nearly over. Wei et al.
# (2022), "Emergent Abilities of Large Language Models", catalogued abilities that appear
# abruptly with scale, and Schaeffer, Miranda and Koyejo (2023), "Are Emergent Abilities of Large
# Language Models a Mirage?", showed that some of the abruptness comes from the metric: accuracy
# jumps where a smoother measure of the same outputs does not. Grokking is the cleanest small case
# of the question. The outside metric stayed flat while, measured through the mechanism (the
# restricted and excluded losses you just computed), the change was steady and visible hundreds of
# epochs ahead, as Nanda et al. (2023) showed. What it does not show: these progress measures were
# designed *after* the algorithm was known. Finding such measures for a capability whose mechanism
# is unknown, in a large model, is open; treat this as evidence that hidden progress can be
# measurable, not as a recipe for predicting emergence.

# %% [markdown]
# ## The paper's size: p = 113
#
# The paper's main run has p = 113 and 30% of the 12,769 pairs for training. At that size
# a run takes several minutes on a CPU, so the course ships it as a checkpoint, made by the
# same code as your model (`python -m course.models.train grokking-p113`; `bootcamp reproduce
# grokking-p113` retrains it and compares). Its JSON sidecar holds its training curves and
# the progress measures computed by the course's code over its snapshots. Your functions
# work at any `p`: analyse it with them.

# %%
spec113 = registry.get("grokking-p113")
side113 = spec113.sidecar()
big = registry.load("grokking-p113")
P113 = big.cfg.p
data113 = grokking.make_data(P113, spec113.train.frac_train, spec113.train.data_seed)
t113, y113 = data113["tokens"], data113["labels"]
print(spec113.description)
print(spec113.train)
loss113, acc113 = evaluate(big, t113[data113["test_idx"]], y113[data113["test_idx"]])
basis113 = fourier_basis(P113)
norms113 = freq_norms(big.W_E.detach()[:P113], basis113)
freqs113, share113 = key_frequencies(norms113)
with torch.no_grad():
    run113 = big.run(t113)
    W_logit113 = big.W_out @ big.W_U
rl113 = restricted_loss(run113["mlp_post"], run113["logits"], W_logit113, freqs113, y113, data113["test_idx"])
el113 = excluded_loss(run113["mlp_post"], run113["logits"], W_logit113, freqs113, y113, data113["train_idx"])
only_key113 = with_embedding(big, ablate_embedding(big.W_E.detach(), basis113, freqs113, keep=True))
acc_key113 = evaluate(only_key113, t113[data113["test_idx"]], y113[data113["test_idx"]])[1]
print(f"p = {P113}: test loss {loss113:.2e}, test accuracy {acc113:.4f}")
print(f"key frequencies {freqs113} hold {share113:.1%} of the embedding; restricted loss {rl113:.2e}, "
      f"excluded loss {el113:.2f}; test accuracy with only the key frequencies {acc_key113:.4f}")

c113, s113 = side113["curve"], side113["snapshots"]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
ax1.semilogy(c113["epoch"], c113["train_loss"], label="train loss")
ax1.semilogy(c113["epoch"], c113["test_loss"], label="test loss")
ax1.semilogy(s113["epoch"], s113["restricted_loss"], "o-", ms=3, label="restricted loss (test pairs)")
ax1.semilogy(s113["epoch"], s113["excluded_loss"], "o-", ms=3, label="excluded loss (train pairs)")
ax1.set(xlabel="epoch", ylabel="cross-entropy (log scale)", title=f"p = {P113}, 30% training data (shipped run)")
ax1.legend(fontsize=8)
ax2.bar(range(P113 // 2 + 1), (norms113 / norms113.sum()).numpy(), width=1.0)
ax2.set(xlabel="frequency k", ylabel="share of ‖W_E‖²", title=f"p = {P113}: the embedding per frequency")
plt.show()

# %% nbgrader={"grade": true, "grade_id": "evaluate_test_2", "points": 1}
_spec113 = registry.get("grokking-p113")
_big = registry.load("grokking-p113")
_d113 = grokking.make_data(113, _spec113.train.frac_train, _spec113.train.data_seed)
_x113, _y113 = _d113["tokens"][_d113["test_idx"]], _d113["labels"][_d113["test_idx"]]
_res = evaluate(_big, _x113, _y113)
checks.assert_true("evaluate", isinstance(_res, tuple) and len(_res) == 2, "evaluate should return a tuple (loss, accuracy)")
_l, _a = _res
checks.assert_true("evaluate", _a > 0.99, f"your evaluate gives the p = 113 model a test accuracy of {_a:.4f}; "
                   "the shipped model has grokked (> 0.99)")
checks.assert_close("evaluate", _l, _spec113.sidecar()["metrics"]["test_loss"], rtol=0.05, atol=1e-6,
                    name="test loss of the p = 113 model vs its sidecar")
print(f"evaluate: the p = 113 model's test accuracy is {_a:.4f}")
### BEGIN HIDDEN TESTS
_res = evaluate(_big, _x113[::3], _y113[::3])
checks.assert_true("evaluate", isinstance(_res, tuple) and len(_res) == 2, "evaluate should return a tuple (loss, accuracy)")
_l, _a = _res
_rl, _ra = grokking.evaluate(_big, _x113[::3], _y113[::3])
checks.assert_close("evaluate", _l, _rl, rtol=1e-6, name="loss of the p = 113 model on a third of the test pairs")
checks.assert_close("evaluate", _a, _ra, name="accuracy of the p = 113 model on a third of the test pairs")
### END HIDDEN TESTS

# %% [markdown]
# ## The paper's numbers next to yours
#
# The paper's main run against the course's two runs (as measured when the course was
# made; the cell below prints yours). Epochs are full-batch steps.
#
# | | paper (Nanda et al. 2023, main run) | course, p = 53 (this notebook) | course, p = 113 (shipped) |
# |---|---|---|---|
# | pairs for training | 30% of 113² | 30% of 53² | 30% of 113² |
# | optimiser (AdamW, full batch) | lr 1e-3, weight decay 1.0 | lr 3e-3, weight decay 3.0 | lr 3e-3, weight decay 1.0 |
# | memorisation ends (train accuracy 100%) | ~1.4k epochs | 60 | 80 |
# | restricted loss 10x down (test loss then, vs at memorisation) | during circuit formation, 1.4k–9.4k | 525 (6.2 vs 14.2) | 1,000 (8.6 vs 16.1) |
# | excluded loss 10x up, then test loss halved | during circuit formation, then clean-up | 450, then 500 | 700, then 1,040 |
# | test accuracy > 99% ("grokking") | during clean-up, 9.4k–14k epochs | 970 | 1,520 |
# | key frequencies | 5 (14, 35, 41, 42, 52) | 3 (1, 6, 14) | 4 (1, 21, 29, 42) |
# | their share of ‖W_E‖² at the end | "sparse in the Fourier basis" (a plot, no number) | 96% | 99% |
# | Gini of W_E, W_U in the Fourier basis at the end | rises over training (a plot) | 0.59, 0.59 (0.03 at initialisation) | 0.76, 0.76 |
# | neurons one frequency explains (over 85% of variance) | 84.6% | 89% | 77% |
# | test accuracy with only the key frequencies in W_E | performance kept (ablating in the neurons and logits) | 100% (removing them: 1.8%, chance 1.9%) | 100% |
# | other seeds | key frequencies 3–4, same story | seed 1: 4 key frequencies, test > 99% at 1,110; seed 2: 6 key frequencies, test accuracy 74% at epoch 1,500 (not yet grokked); in both the restricted loss falls 10x on the plateau and the excluded loss rises 10x before the test loss halves | - |
# | training length | 40,000 full-batch epochs | 1,500 epochs, about a minute on one CPU core | 3,000 epochs, ~8 minutes on one CPU core |

# %%
def first_epoch(curve, key, above):
    return next((e for e, v in zip(curve["epoch"], curve[key]) if v > above), None)


rows = [("memorisation ends (epoch)", "~1,400", first_epoch(history, "train_acc", 0.9999),
         first_epoch(c113, "train_acc", 0.9999)),
        ("test accuracy > 99% (epoch)", "9,400-14,000 (clean-up)", first_epoch(history, "test_acc", 0.99),
         first_epoch(c113, "test_acc", 0.99)),
        ("key frequencies", "14, 35, 41, 42, 52", key_freqs, freqs113),
        ("their share of |W_E|^2", "-", f"{key_share:.1%}", f"{share113:.1%}"),
        ("test accuracy, only key frequencies", "kept", f"{ablation[f'only the key frequencies {key_freqs}'][1]:.4f}",
         f"{acc_key113:.4f}"),
        ("final test loss", "-", f"{history['test_loss'][-1]:.1e}", f"{loss113:.1e}")]
print(f"{'':<38}{'paper (p = 113)':<22}{'yours (p = 53)':<22}{'shipped (p = 113)':<22}")
for name, *vals in rows:
    print(f"{name:<38}" + "".join(f"{str(v):<22}" for v in vals))

# %% [markdown]
# ## Summary
#
# - A one-layer transformer on `(a + b) mod p`, trained full batch with strong weight
#   decay, memorises in tens of epochs and generalises hundreds of epochs later.
# - Its embedding puts nearly all its norm on a handful of Fourier frequencies; its neurons
#   are periodic in `a` and `b` at those frequencies, and the logits read out
#   `cos(w(a + b - c))`. Keeping only those frequencies keeps the accuracy; removing them
#   destroys it.
# - Knowing the algorithm gives progress measures: the restricted loss (the circuit alone)
#   falls tenfold and the excluded loss (the model without the circuit) rises tenfold while
#   the test loss stays on its plateau, splitting training into memorisation, circuit
#   formation and clean-up (the phase in which test loss falls), in three seeds at p = 53
#   and at p = 113.
# - The embedding and unembedding become sparse in the Fourier basis (their Gini coefficient
#   rises from near 0), and most neurons are explained by a single frequency.
#
# ## Going further
#
# Open questions you could take up with what you built here. Each names where to start in
# the course's code; `course/models/grokking.py` holds the model, `make_data`, `train` (with
# snapshots) and FFT versions of your analysis functions (`freq_norms`, `sum_freq_part`,
# `progress_measures`), so a sweep is a loop over `GrokTrainConfig`s.
#
# 1. **How does the grokking time depend on weight decay and learning rate?** At p = 53 with
#    30% of the pairs, weight decay 3.0 groks and 1.0 and 5.0 did not. Sweep `weight_decay` in
#    `GrokTrainConfig` (0.1 to 3) and a few `lr`s, and measure the three phase boundaries
#    (`grokking.grok_epoch` on `record["curve"]`, and your progress measures). Is the length
#    of circuit formation proportional to 1 / (lr · weight decay)? Start: `grokking.train`.
# 2. **Is the choice of key frequencies decided at initialisation?** Train several `seed`s and
#    compare each run's key frequencies with the Fourier norms of its *initial* `W_E`,
#    `W_in` and `W_U` (the first snapshot). Is there a "lottery ticket" frequency, and can you
#    force a frequency by boosting it at initialisation? Start: `snapshots[0]` and `freq_norms`.
# 3. **How little data groks, and how does it scale with p?** At p = 53 with 30% of the
#    pairs, weight decay 1.0 never grokked in 6,000 epochs, 3.0 groks, 5.0 did not in 2,500
#    (the table at the start). Map the region that groks in (training fraction, weight decay)
#    for p = 23, 53, 113, and find whether the progress measures predict failure early.
#    Start: `grokking.make_data(p, frac_train)` and `grokking.train`.
# 4. **Other operations.** Replace the labels in `make_data` by `(a - b) mod p`, `(a * b) mod p`
#    or `(a² + b²) mod p`. Subtraction should still use Fourier features; multiplication is
#    addition of discrete logarithms, so look for the Fourier basis of the multiplicative
#    group. Which ones grok, and what do the neurons compute? Start: the `labels` line of
#    `grokking.make_data`.
# 5. **Slingshots and float precision.** The loss here is computed in float64. Train with a
#    float32 loss (`F.cross_entropy(logits, labels)` in `grokking.loss_fn`) and look for the
#    sudden loss spikes that Thilak et al. (2022) called the slingshot mechanism. Do they
#    coincide with the phase boundaries your progress measures find?
# 6. **What does attention do?** Attention is the only place where `a` and `b` meet before
#    the MLP, and the pattern at `=` depends on the tokens. Freeze it to a fixed average over
#    `a` and `b` (the `pattern` line of `GrokTransformer.run`) and retrain: does the model
#    still grok, faster or slower, and with which key frequencies? Then look at
#    `run()["attn_pattern"]` of the trained model in the Fourier basis of `a` and `b`.
# 7. **A better progress measure?** Can you predict the grokking epoch from the first 20% of
#    training, across seeds and weight decays, using restricted loss, excluded loss, the
#    key-frequency share of `W_E` or the weight norm? Compare them honestly on held-out runs.
#    Start: the `curve` (with `weight_norm`) and `snapshots` records that `grokking.run_spec`
#    writes into a checkpoint's sidecar.

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 4.1`), else from `bootcamp check 4.1` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("4.1")
