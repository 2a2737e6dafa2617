# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "4.1"
#     title: Grokking modular addition
#     minutes: 200
#     prerequisites: ["3.1"]
# ---

# %% [markdown]
# # 4.1 Grokking modular addition
#
# A small transformer trained on `(a + b) mod p` first **memorises** its training pairs:
# training loss falls to almost nothing while test loss stays high (it even rises). Then,
# hundreds of epochs later, with nothing about the training changed, test loss collapses
# and test accuracy jumps to 100%. Power et al. (2022) called this **grokking**.
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
# | train loss falls early, test loss late (log scale) | your training run, p = 53, about a minute |
# | the embedding is sparse in the Fourier basis: a few *key frequencies* | your Fourier basis, your norms per frequency |
# | the neurons are periodic, clustered by frequency | the neurons in your 2-D Fourier basis |
# | ablating everything but the key frequencies keeps performance | your ablation of the embedding |
# | restricted loss falls and excluded loss rises long before test loss falls | your progress measures over your own training snapshots |
# | the main run: p = 113, 30% of pairs as training data | the course's checkpoint, analysed with your functions |
#
# **After this lesson you can**
# - build a modular-arithmetic dataset with a seeded split, and train a transformer on it
#   full batch until it groks, reading the curve on a log scale;
# - write the real Fourier basis of Z_p and use it to find the frequencies a model uses;
# - project activations onto the directions `cos(w(a+b))`, `sin(w(a+b))` of the pair grid;
# - define, compute and interpret the paper's two progress measures, restricted and
#   excluded loss, over training snapshots, and split training into memorisation, circuit
#   formation and clean-up;
# - check a mechanistic claim with an ablation.
#
# **Prerequisites.** 3.1 (TransformerLens: residual stream, attention, MLP neurons,
# ablations) and what it builds on (2.1: a transformer from scratch). No TransformerLens here:
# the model is plain PyTorch, `course/models/grokking.py`, about 100 lines. Read its
# `GrokTransformer.run` once; its parameter names are TransformerLens's.
#
# **Time.** About 3 hours 20 minutes: eleven graded exercises (29 points). The solution
# notebook runs in about two minutes, most of it the training run.
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
    """Your fourier_basis(p), checked first: the tests of Exercises 5 and 11 build on it."""
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
# is 2,809 pairs, of which half are for training.
#
# The paper used p = 113 with 30% of the pairs for training. On a CPU, p = 53 is four times
# smaller and groks in a minute; at p = 53, though, 30% of the pairs is too little data: it
# memorises and never generalises in 6,000 epochs (measured while writing this course). With
# half the pairs it groks reliably. The course also ships a p = 113 model, trained by the same
# code; the last section analyses it.

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
FRAC_TRAIN = 0.5
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
# Inside `with torch.no_grad():`, `logits = model(tokens)`, then
# `F.cross_entropy(logits.double(), labels).item()` and
# `(logits.argmax(-1) == labels).double().mean().item()`.
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
# Two settings differ from the paper's, to fit a CPU: learning rate 3e-3 instead of 1e-3,
# and weight decay 2.0 instead of 1.0. Measured while writing the course at p = 53: with
# weight decay 1.0 the model groks at about epoch 800 and needs about 2,000 epochs to clean
# up; with 2.0, at about epoch 400, clean by 1,500. The story is the same, twice as fast.
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
# The run below is the course's `grokking-p53` recipe: p = 53, half the pairs for
# training, seed 0 for the weights and for the split, AdamW (lr 3e-3, weight decay 2.0,
# betas (0.9, 0.98)), 1,500 full-batch epochs, a snapshot of the weights every 50 epochs
# for the progress measures later. It takes about a minute on one core (more if your
# machine is busy): watch the test accuracy in the progress bar. The same seeds and code
# made the checkpoint that ships with the course (`python -m course.models.train
# grokking-p53`), so with one thread your final weights equal it.

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
# **What just happened.** Within about 60 epochs the model fit every training pair: train
# loss fell by orders of magnitude while test loss *rose* above its starting value, the
# signature of memorisation. Test accuracy then sat near 50% (mostly the pairs whose mirror
# image `(b, a)` was memorised) for over a hundred epochs, climbed to 99% by about epoch 400
# (390 in the course's run), and test loss went on falling by five orders of magnitude. At
# p = 53, with half the pairs and this weight decay, the delay is short; at the paper's size
# it is much longer (in the last section, test loss stays above 5 until about epoch 1,200).
# Nothing in the training changed when test loss started to fall; the rest of the lesson
# finds what was changing underneath.
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
# `x = torch.arange(p, dtype=torch.float64)`; collect rows in a list: `torch.ones(p)`, then for
# each `k` in `range(1, p // 2 + 1)`, `torch.cos(2 * math.pi * k * x / p)` and the sine.
# `torch.stack` them, and divide each row by its norm (`basis.norm(dim=1, keepdim=True)`).
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
# `sq = ((basis @ W.double()) ** 2).sum(-1)` has one entry per basis row. Frequency 0 is
# `sq[0]`; frequency `k ≥ 1` is `sq[2k-1] + sq[2k]`, that is `sq[1::2] + sq[2::2]`.
# `torch.cat` the two.
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
# `rest = norms[1:]`; the key ones are `k = i + 1` for the indices `i` where
# `rest > threshold * rest.max()` (`torch.nonzero(...).flatten()` or a list comprehension).
# The share is `norms[freqs].sum() / norms.sum()`; return `[int(k) for k in ...]` and a float.
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
KEY_SHARE_MIN = 0.85  # the course's run: 96%; the curriculum measured 94-98% over seeds after clean-up
need("key_frequencies", "live", "key_freqs", "key_share")
checks.assert_true("key_frequencies", 2 <= len(key_freqs) <= 8,
                   f"your model has {len(key_freqs)} key frequencies ({key_freqs}); the paper's models use a handful (3 to 7)")
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
# in `b`, and `basis @ grid @ basis.T` gives a neuron's coordinates in it. The paper
# shows that almost all of the neurons' norm sits in a few places: the constant,
# the terms in `a` alone or `b` alone at a key frequency, and the products of a key
# frequency in `a` with the same frequency in `b`, which is exactly what
# `cos(w(a+b)) = cos(wa)cos(wb) - sin(wa)sin(wb)` needs. Below: the norm over all 512
# neurons of each 2-D component (the constant term left out, it would drown the rest), and
# one neuron's activations on the grid.

# %%
with torch.no_grad():
    acts_live = live.run(tokens)["mlp_post"].double()  # (p*p, d_mlp), rows in pair order
grid = acts_live.reshape(P, P, -1).permute(2, 0, 1)  # (neuron, a, b)
coef2d = basis @ grid @ basis.T  # (neuron, Fourier component of a, Fourier component of b)

# Each neuron's variance per frequency k: the terms in a alone, b alone, and the products of cos/sin k in both.
var_by_freq = torch.stack([coef2d[:, [2 * k - 1, 2 * k]][..., [0, 2 * k - 1, 2 * k]].pow(2).sum((1, 2))
                           + coef2d[:, 0, [2 * k - 1, 2 * k]].pow(2).sum(1) for k in range(1, P // 2 + 1)], 1)
total_var = coef2d.pow(2).sum((1, 2)) - coef2d[:, 0, 0].pow(2)
alive = total_var > 1e-3 * total_var.max()
best = var_by_freq.max(1)
print(f"{int(alive.sum())} of {len(alive)} neurons are alive; the median one has "
      f"{(best.values[alive] / total_var[alive]).median():.0%} of its variance in a single frequency")
print("neurons per dominant frequency:",
      {int(k) + 1: int((best.indices[alive] == k).sum()) for k in best.indices[alive].unique()})

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
neuron = int(torch.where(best.indices == k0 - 1, total_var, torch.zeros_like(total_var)).argmax())
ax2.imshow(grid[neuron].numpy(), cmap="RdBu_r")
ax2.set(title=f"neuron {neuron} (frequency {k0}): activation over (a, b)", xlabel="b", ylabel="a")
plt.show()

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
# ## Exercise 7: projecting onto the a + b directions
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
# ## Exercise 8: restricted loss
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 2 points · about 10 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# `p = logits.shape[1]`, `key = sum_freq_part(acts, p, freqs)`,
# `r = (acts.double().mean(0) + key) @ W_logit.double()`, then
# `r = r + logits.double().mean(0) - r.mean(0)` and
# `F.cross_entropy(r[idx], labels[idx]).item()`.
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
# ## Exercise 9: excluded loss
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
# ## Exercise 10: progress measures over training
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
share_over_time = []
for _, st in snapshots:
    n = freq_norms(st["W_E"][:P], basis)
    share_over_time.append((n[key_freqs].sum() / n.sum()).item())

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
ax1.semilogy(ep, history["train_loss"], label="train loss", c="C0")
ax1.semilogy(ep, history["test_loss"], label="test loss", c="C1")
ax1.semilogy(snap_ep, pm["restricted_loss"], "o-", ms=3, label="restricted loss (test pairs)", c="C2")
ax1.semilogy(snap_ep, pm["excluded_loss"], "o-", ms=3, label="excluded loss (train pairs)", c="C3")
for x0, x1, colour, name in [(0, mem, "C0", "memorisation"), (mem, grok, "C2", "circuit formation"),
                             (grok, int(ep[-1]), "C1", "clean-up")]:
    ax1.axvspan(x0, x1, alpha=0.1, color=colour, label=f"{name} ({x0}-{x1})")
ax1.set(xlabel="epoch", ylabel="cross-entropy (log scale)", title="Progress measures, as in the paper")
ax1.legend(fontsize=8)
ax2.plot(snap_ep, weight_norm, "o-", ms=3, c="k", label="sum of squared weights")
ax2.set(xlabel="epoch", ylabel="sum of squared weights", title="weight norm and the key frequencies' share of W_E")
ax2b = ax2.twinx()
ax2b.plot(snap_ep, share_over_time, "o-", ms=3, c="C4", label="key-frequency share of ‖W_E‖²")
ax2b.set_ylabel("share", color="C4")
ax2.legend(loc="center right", fontsize=8)
plt.show()

# %% nbgrader={"grade": true, "grade_id": "progress_measures_test_2", "points": 2}
EXCLUDED_RISE, RESTRICTED_FALL = 2.0, 100.0  # the course's run: x4.5 and x5600
need("progress_measures", "pm", "history")
_ep = np.array(pm["epoch"])
_rl, _el = np.array(pm["restricted_loss"]), np.array(pm["excluded_loss"])
_h_ep = np.array(history["epoch"])
_mem = int(_h_ep[np.argmax(np.array(history["train_acc"]) == 1.0)])  # end of memorisation
_grok = int(_h_ep[np.argmax(np.array(history["test_acc"]) > 0.99)])  # test accuracy over 99%
_i0, _i1 = int(np.argmin(np.abs(_ep - _mem))), int(np.argmin(np.abs(_ep - _grok)))
print(f"from epoch {_ep[_i0]} (memorised) to epoch {_ep[_i1]} (grokked): restricted loss {_rl[_i0]:.3g} -> {_rl[_i1]:.3g}, "
      f"excluded loss {_el[_i0]:.3g} -> {_el[_i1]:.3g}; test loss at the start {history['test_loss'][list(_h_ep).index(_mem)]:.3g}")
checks.assert_true("progress_measures", _i1 > _i0, "the model must memorise before it groks; check the training run")
checks.assert_true("progress_measures", _el[_i1] > EXCLUDED_RISE * _el[_i0],
                   f"excluded loss went from {_el[_i0]:.3g} to {_el[_i1]:.3g} between memorisation and grokking; "
                   f"expected it to rise more than {EXCLUDED_RISE}x",
                   hint="the excluded loss is scored on the training pairs, with the final model's key frequencies")
checks.assert_true("progress_measures", _rl[_i1] < _rl[_i0] / RESTRICTED_FALL,
                   f"restricted loss went from {_rl[_i0]:.3g} to {_rl[_i1]:.3g}; expected it to fall more than "
                   f"{RESTRICTED_FALL}x", hint="the restricted loss is scored on the test pairs")
_test_at = np.interp(_ep[_i0:_i1 + 1], _h_ep, history["test_loss"])
checks.assert_true("progress_measures", (_rl[_i0:_i1 + 1] < _test_at).mean() > 0.8,
                   "the restricted loss should be below the test loss through circuit formation: the Fourier "
                   "circuit alone does better on the test pairs than the whole (still memorising) model")
print("progress_measures: the excluded loss rose and the restricted loss fell before the test loss did")
### BEGIN HIDDEN TESTS
checks.assert_equal("progress_measures", list(progress_measures([], cfg, data, [1])["epoch"]), [], name="epochs of no snapshots")
need("progress_measures", "snapshots", "key_freqs")
_sub = [snapshots[_i0], snapshots[_i1]]
_pm2 = progress_measures(_sub, cfg, data, key_freqs)
checks.assert_true("progress_measures", _pm2["excluded_loss"][1] > EXCLUDED_RISE * _pm2["excluded_loss"][0]
                   and _pm2["restricted_loss"][1] < _pm2["restricted_loss"][0] / RESTRICTED_FALL,
                   f"restricted {_pm2['restricted_loss']}, excluded {_pm2['excluded_loss']}")
### END HIDDEN TESTS

# %% [markdown]
# **What just happened.** Read the left plot from left to right, as the paper does.
#
# - **Memorisation** (up to about epoch 60): train loss plunges, test loss rises. The
#   excluded loss falls with the train loss at first (from ln 53 ≈ 4 to about 1.4): most of
#   what the model learns first does not go through the key frequencies.
# - **Circuit formation** (epoch 60 to about 400): the Fourier circuit grows
#   inside the memorising model. The restricted loss, the circuit alone on *unseen* pairs,
#   falls by orders of magnitude, and the excluded loss rises: the training pairs now depend
#   on those frequencies. Test loss barely moves, because the memorised lookup table is still
#   there, adding noise on pairs it never saw.
# - **Clean-up** (from about epoch 400): weight decay removes the memorisation, which is no
#   longer needed; the weight norm drops, and only now does test loss fall. The "sudden"
#   generalisation is the *end* of a process the progress measures saw coming for hundreds
#   of epochs.
#
# ## Exercise 11: ablate everything but the key frequencies
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
# `rows = [r for k in freqs for r in (2 * k - 1, 2 * k)]`; `B = basis[rows]` (or the other rows
# when `keep=False`); `W_E[:p]` projected is `B.T @ (B @ W_E[:p].double())`. Build the result
# with `torch.cat([projected.to(W_E.dtype), W_E[p:]])` so the input is not modified.
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
# Sudden capabilities worry safety researchers because a model can go from unable to able with
# little warning. Wei et al. (2022), "Emergent Abilities of Large Language Models", catalogued
# abilities that appear abruptly with scale, and Schaeffer, Miranda and Koyejo (2023), "Are
# Emergent Abilities of Large Language Models a Mirage?", showed that some of the abruptness comes
# from the metric: accuracy jumps where a smoother measure of the same outputs does not. Grokking is
# the cleanest small case of the question. Test accuracy sits still and then jumps, while, as
# Nanda et al. (2023) showed, measures built from the mechanism (the restricted and excluded losses
# you just computed) start moving earlier, because the generalising circuit forms during the
# plateau. Progress measures of this kind are a candidate early warning; the open problem is
# finding them for models whose mechanism you do not already know.

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
# | pairs for training | 30% of 113² | 50% of 53² | 30% of 113² |
# | optimiser (AdamW, full batch) | lr 1e-3, weight decay 1.0 | lr 3e-3, weight decay 2.0 | lr 3e-3, weight decay 1.0 |
# | memorisation ends (train accuracy 100%) | ~1.4k epochs | 60 | 80 |
# | test accuracy > 99% ("grokking") | clean-up 9.4k–13k epochs | 390 | 1,520 |
# | key frequencies | 5 (14, 35, 41, 42, 52) | 3 (9, 23, 24) | 4 (1, 21, 29, 42) |
# | their share of ‖W_E‖² at the end | "sparse in the Fourier basis" (a plot, no number) | 96% | 99% |
# | test accuracy with only the key frequencies in W_E | performance kept (ablating in the neurons and logits) | 100% | 100% |
# | restricted loss falls, excluded loss rises before test loss falls | yes | yes: ×1/5600 and ×4.5 from epoch 50 to 400 | yes: 3.8 → 5e-6 and 0.06 → 20 from epoch 200 to 1,400 |
# | training length | 40,000 full-batch epochs | ~1 minute on one CPU core | ~5 minutes on one CPU core |

# %%
def first_epoch(curve, key, above):
    return next((e for e, v in zip(curve["epoch"], curve[key]) if v > above), None)


rows = [("memorisation ends (epoch)", "~1,400", first_epoch(history, "train_acc", 0.9999),
         first_epoch(c113, "train_acc", 0.9999)),
        ("test accuracy > 99% (epoch)", "~9,400-13,000", first_epoch(history, "test_acc", 0.99),
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
#   falls and the excluded loss (the model without the circuit) rises long before test
#   loss moves, splitting training into memorisation, circuit formation and clean-up.
#
# ## Going further
#
# Open questions you could take up with what you built here. Each names where to start in
# the course's code; `course/models/grokking.py` holds the model, `make_data`, `train` (with
# snapshots) and FFT versions of your analysis functions (`freq_norms`, `sum_freq_part`,
# `progress_measures`), so a sweep is a loop over `GrokTrainConfig`s.
#
# 1. **How does the grokking time depend on weight decay and learning rate?** Here, weight
#    decay 2.0 instead of 1.0 halved the grokking epoch at p = 53. Sweep `weight_decay` in
#    `GrokTrainConfig` (0.1 to 3) and a few `lr`s, and measure the three phase boundaries
#    (`grokking.grok_epoch` on `record["curve"]`, and your progress measures). Is the length
#    of circuit formation proportional to 1 / (lr · weight decay)? Start: `grokking.train`.
# 2. **Is the choice of key frequencies decided at initialisation?** Train several `seed`s and
#    compare each run's key frequencies with the Fourier norms of its *initial* `W_E`,
#    `W_in` and `W_U` (the first snapshot). Is there a "lottery ticket" frequency, and can you
#    force a frequency by boosting it at initialisation? Start: `snapshots[0]` and `freq_norms`.
# 3. **How little data groks, and how does it scale with p?** At p = 53, 30% of the pairs
#    never grokked in 6,000 epochs (weight decay 1.0) while 50% groks in a few hundred. Find the critical
#    `frac_train` for p = 23, 53, 113, and whether the progress measures predict failure
#    early. Start: `grokking.make_data(p, frac_train)`.
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
