# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "4.6"
#     title: Latent knowledge without labels
#     minutes: 180
#     prerequisites: ["4.4"]
# ---

# %% [markdown]
# # 4.6 Latent knowledge without labels (after Burns et al. 2023, and Farquhar et al. 2023)
#
# A model can know something and not say it. If we could read what a model *believes* is
# true straight from its activations, we would not have to trust what it writes. A
# supervised probe (lesson 4.4) needs labels, and the labels come from us: a probe trained on
# our answers may learn "what a human would say" rather than "what the model knows". Burns,
# Ye, Klein and Steinhardt (2023, "Discovering Latent Knowledge in Language Models Without
# Supervision", ICLR, <https://arxiv.org/abs/2212.03827>) proposed a method that uses **no
# labels at all**: Contrast-Consistent Search (CCS). Take each yes/no question, write it
# twice, once answered "yes" (`x+`) and once "no" (`x-`); exactly one of the two is true. Look
# for a direction in activation space whose probability `p(x)` is **consistent** (`p(x+)` is
# close to `1 - p(x-)`) and **confident** (not both near 1/2). Truth satisfies both, so truth
# should be such a direction. On 6 models and 10 datasets they report that CCS beats the
# models' own zero-shot answers by 4% on average and stays accurate when the prompt pushes the
# model to answer wrongly.
#
# Farquhar, Varma, Kenton, Gasteiger, Mikulik and Shah (2023, "Challenges with unsupervised
# LLM knowledge discovery", <https://arxiv.org/abs/2312.10029>) then showed the catch: **any**
# binary feature that flips between `x+` and `x-` is just as consistent and confident as truth,
# and in their experiments CCS often found such a feature (a random word appended to each half
# of the pair, an opinion attributed to a character in the prompt) instead of the model's
# knowledge.
#
# You will reproduce both on a model the course trained to judge statements like `3 < 9`:
#
# | claim | where you check it |
# |---|---|
# | truth is linearly readable in the residual stream, from some layer on (a supervised probe) | exercises 1-4 |
# | CCS finds the same direction without labels, accurate up to a sign it cannot know | exercises 5-7 |
# | a direction for a salient non-truth feature has a CCS loss as low as truth's, and CCS finds it | exercise 8, and the distractor experiment |
# | even with no distractor, at the last layer CCS finds a consistent feature that is not truth | exercise 9 (investigation) |
#
# **After this lesson you can**
# - build contrast pairs and read a model's activations on both halves;
# - normalise each half separately, and say why that is needed;
# - train a supervised truth probe as a reference, and CCS with random restarts;
# - measure an unsupervised probe's accuracy up to its sign;
# - construct a non-truth feature that CCS prefers, and say what a CCS direction does and does
#   not establish.
#
# **Prerequisites.** 4.4 (residual streams of a course GPT, linear probes). From 0.3 a training
# loop with Adam.
#
# **Time.** About 3 hours: nine graded exercises (26 points).
#
# **How the exercises work.** Each exercise explains an idea, then gives you a function whose
# body is `raise NotImplementedError`. Replace it and run the test cell below. A failing cell
# says what is wrong and a likely cause. Hidden tests, run when your notebook is graded, try
# edge cases and compare with the course's own implementation. `bootcamp check 4.6` runs the
# whole notebook and prints a table of every exercise. Each exercise says how hard it is (🔴,
# 1–5), how much it matters for the rest of the course (🔵, 1–5) and how long to try before
# opening the hints (first the idea, then a pointer).
#
# Everything runs on a CPU, offline. The model was trained by
# `python -m course.models.train truth-gpt` (1,000 steps, about 20 s of CPU time);
# `bootcamp reproduce truth-gpt` retrains it and compares the numbers.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm.auto import tqdm

import course.models
from course import checks
from course.models import registry, truth

# One thread: the model is tiny, and one thread makes every run below repeat to the last bit.
torch.set_num_threads(1)
torch.set_printoptions(precision=4, sci_mode=False)
start = time.perf_counter()

# %% [markdown]
# ## The statements and the model
#
# Each statement compares two different numbers from 0 to 15, and is followed by a **tag**
# and the answer, 6 tokens in all:
#
# ```
# position   0      1   2     3   4        5
# token      <bos>  a   REL   b   TAG      ANS
# example    <bos>  3   <     9   <tag0>   True
# example    <bos>  3   >     9   <tag1>   No
# ```
#
# `REL` is `<` or `>`. The tag picks the answer's **format**: after `<tag0>` the answer is
# `True` / `False`, after `<tag1>` it is `Yes` / `No`. The tag is drawn at random, independent
# of the statement: it carries no information about truth, but the model must know it to
# write the answer in the right words. The model (`course.models.truth`, the GPT of lesson 4.4
# with 3 blocks, d_model 64) was trained to predict `ANS` at the tag's position (4), and it
# answers every one of the 960 possible statements right.
#
# The **contrast pair** for an ordered pair of numbers `(a, b)` is, as in Burns et al.,
# the statement written both ways, without the answer:
#
# ```
# x+ = <bos> a < b TAG        x- = <bos> a > b TAG
# ```
#
# Exactly one of the two is true; `y = (a < b)` says whether it is `x+`. We read the residual
# stream at position 4, the last token, where the model is about to answer.
# `model.residuals(tokens)` gives it before the first block (layer 0) and after each block
# (layers 1-3), shape `(4, n, 5, 64)`.

# %%
spec = registry.get("truth-gpt")
model = course.models.load("truth-gpt")
sidecar = spec.sidecar()
print(model.cfg)
print(f"{model.n_params():,} parameters; checkpoint {spec.size_bytes() / 1e3:.0f} kB ({sidecar['dtype']}); "
      f"trained in {sidecar['cpu_seconds']} s of CPU time; answers right: {sidecar['metrics']['answer_accuracy']:.1%}")
_examples = truth.statements([3, 3, 12, 5], [9, 9, 4, 5 + 1], [True, False, True, False], [0, 1, 1, 0], answer=False)
with torch.no_grad():
    _answers = model(_examples)[:, truth.READ_POS].argmax(-1)
for _row, _ans in zip(_examples, _answers):
    print(f"{truth.decode(_row):28s} -> the model answers {truth.TOKEN_NAMES[int(_ans)]}")

# Every ordered pair a != b (240), each written with tag 0 and with tag 1: 480 rows.
_pairs = truth.all_pairs()
a = np.concatenate([_pairs["a"], _pairs["a"]])
b = np.concatenate([_pairs["b"], _pairs["b"]])
y = torch.as_tensor(a < b)  # (480,) bool: x+ ("a < b") is the true one
tag = torch.as_tensor(np.repeat([0, 1], len(_pairs["a"])))  # (480,) the tag of x+
print(f"{len(a)} contrast pairs; x+ is true in {y.float().mean():.0%} of them")

# %% [markdown]
# ## Exercise 1: contrast pairs
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hints.
#
# Write `make_contrast_pairs(a, b, tag_pos, tag_neg)`: the token rows of `x+` and `x-`, each
# `(n, 5)` int64, `<bos> a < b TAG` and `<bos> a > b TAG`. The token ids are constants of
# `course.models.truth`: a number `k` is token `k`; `truth.LT`, `truth.GT`, `truth.BOS`; the
# tag `t` (0 or 1) is token `truth.TAG0 + t`. `x+` gets `tag_pos`, `x-` gets `tag_neg`:
# usually the same tag, but the distractor experiment later gives the two halves different
# ones.
#
# <details><summary>Hint</summary>
#
# **The idea.** Five columns side by side; three of them are the same constant in every row,
# the other two come from the inputs.
#
# **A pointer.** `torch.as_tensor(...)` turns the arrays into int64 tensors; `torch.full_like`
# makes a constant column; `torch.stack(columns, dim=1)` puts them side by side. The two rows
# differ only in the relation token and the tag.
# </details>

# %% nbgrader={"solution": true, "grade_id": "make_contrast_pairs"} exercise={"difficulty": 1, "importance": 3, "minutes": 10}
def make_contrast_pairs(a, b, tag_pos, tag_neg) -> tuple[torch.Tensor, torch.Tensor]:
    """x+ = <bos> a < b TAG, x- = <bos> a > b TAG.

    a, b: int arrays (n,), numbers 0..15; tag_pos, tag_neg: int arrays (n,) of 0 / 1.
    Returns x_pos, x_neg: int64 (n, 5).
    """
    ### BEGIN SOLUTION
    a, b = torch.as_tensor(np.asarray(a), dtype=torch.long), torch.as_tensor(np.asarray(b), dtype=torch.long)
    tp = torch.as_tensor(np.asarray(tag_pos), dtype=torch.long)
    tn = torch.as_tensor(np.asarray(tag_neg), dtype=torch.long)
    bos = torch.full_like(a, truth.BOS)
    x_pos = torch.stack([bos, a, torch.full_like(a, truth.LT), b, truth.TAG0 + tp], dim=1)
    x_neg = torch.stack([bos, a, torch.full_like(a, truth.GT), b, truth.TAG0 + tn], dim=1)
    return x_pos, x_neg
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "make_contrast_pairs_test", "points": 2}
_xp, _xn = checks.call("make_contrast_pairs", make_contrast_pairs, np.array([3, 12]), np.array([9, 4]),
                       np.array([0, 1]), np.array([1, 1]), case="two pairs: (3, 9) and (12, 4)")
checks.assert_shape("make_contrast_pairs", _xp, (2, 5), name="x_pos", hint="(n, 5): <bos> a REL b TAG")
checks.assert_dtype("make_contrast_pairs", _xp, torch.int64, name="x_pos")
checks.assert_equal("make_contrast_pairs", [truth.decode(r) for r in _xp], ["<bos> 3 < 9 <tag0>", "<bos> 12 < 4 <tag1>"],
                    name="x_pos as text", hint="x+ uses '<' (truth.LT) and tag_pos")
checks.assert_equal("make_contrast_pairs", [truth.decode(r) for r in _xn], ["<bos> 3 > 9 <tag1>", "<bos> 12 > 4 <tag1>"],
                    name="x_neg as text", hint="x- uses '>' (truth.GT) and its own tag, tag_neg")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(0)
_ha, _hb = _rng.integers(0, 16, 50), _rng.integers(0, 16, 50)
_ht, _hn = _rng.integers(0, 2, 50), _rng.integers(0, 2, 50)
_want = truth.contrast_pairs({"a": _ha, "b": _hb}, _ht, _hn)
_got = make_contrast_pairs(_ha, _hb, _ht, _hn)
checks.assert_equal("make_contrast_pairs", _got[0], _want[0], name="x_pos of 50 random pairs")
checks.assert_equal("make_contrast_pairs", _got[1], _want[1], name="x_neg of 50 random pairs")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: the activations of both halves
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hints.
#
# Write `contrast_activations(model, x_pos, x_neg)`: the residual stream at the **last
# position** (4, the tag) of both halves, at every layer, as two tensors `(4, n, 64)`. No
# gradients are needed.
#
# <details><summary>Hint</summary>
#
# **The idea.** One forward pass per half; keep every layer, all rows, and only the last
# position.
#
# **A pointer.** `model.residuals(tokens)` is `(layers, n, positions, D)`: index the position
# axis with `truth.READ_POS` (or -1). Wrap the passes in `torch.no_grad()`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "contrast_activations"} exercise={"difficulty": 1, "importance": 3, "minutes": 10}
def contrast_activations(model, x_pos: torch.Tensor, x_neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The residual stream at the last position of x+ and x-, every layer.

    x_pos, x_neg: int64 (n, 5). Returns h_pos, h_neg: float (n_layers + 1, n, D), without gradients.
    """
    ### BEGIN SOLUTION
    with torch.no_grad():
        return model.residuals(x_pos)[:, :, -1], model.residuals(x_neg)[:, :, -1]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "contrast_activations_test", "points": 2}
_ref_model = course.models.load("truth-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_xp, _xn = truth.contrast_pairs({"a": a[:40], "b": b[:40]}, tag[:40], tag[:40])
_hp, _hn = checks.call("contrast_activations", contrast_activations, model, _xp, _xn, case="40 contrast pairs")
checks.assert_shape("contrast_activations", _hp, (4, 40, 64), name="h_pos",
                    hint="(layers, pairs, D): layer 0 is the embeddings, then one per block")
checks.assert_true("contrast_activations", not _hp.requires_grad, "h_pos requires grad: use torch.no_grad()")
with torch.no_grad():
    _emb = _ref_model.embed(_xn[:, -1]) + _ref_model.pos[4]  # layer 0 at position 4: the tag's embedding + position 4
    _says = _ref_model.unembed(_ref_model.ln_f(_hp[-1])).argmax(-1)
checks.assert_close("contrast_activations", _hn[0], _emb, name="h_neg at layer 0",
                    hint="take the last position (4), not the first: layer 0 there is the tag's embedding")
_right = torch.where(_xp[:, -1] == truth.TAG0, torch.where(y[:40], truth.TRUE, truth.FALSE),
                     torch.where(y[:40], truth.YES, truth.NO))
checks.assert_equal("contrast_activations", _says, _right, name="the answer read off h_pos at the last layer",
                    hint="the last layer's residual at the last position is what the model answers from")
with torch.random.fork_rng(devices=[]):  # the notebook's own random numbers stay as they were
    torch.manual_seed(4)
    _other = truth.OthelloGPT(truth.model_config()).eval()  # another model of the same shape, random weights
_op, _on = contrast_activations(_other, _xp[:6], _xn[:6])
checks.assert_close("contrast_activations", _op, truth.read_activations(_other, _xp[:6]),
                    name="h_pos of a second, random model",
                    hint="use the model you are given (the argument), not the notebook's `model`")
### BEGIN HIDDEN TESTS
_ref_model = course.models.load("truth-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_xp, _xn = truth.contrast_pairs({"a": a[100:130], "b": b[100:130]}, tag[100:130], 1 - tag[100:130])
_got = contrast_activations(model, _xp, _xn)
checks.assert_close("contrast_activations", _got[0], truth.read_activations(_ref_model, _xp), name="h_pos of 30 pairs")
checks.assert_close("contrast_activations", _got[1], truth.read_activations(_ref_model, _xn), name="h_neg of 30 pairs")
### END HIDDEN TESTS

# %% [markdown]
# From here on the activations come from the course's `truth.read_activations` (the same numbers
# as yours once your function passes), so that the rest of the lesson runs whatever happened
# above. `train` marks a random half of the 240 number pairs (both of their rows): every probe
# below is trained on them and tested on the other half.

# %%
x_pos, x_neg = truth.contrast_pairs({"a": a, "b": b}, tag, tag)
h_pos, h_neg = truth.read_activations(model, x_pos), truth.read_activations(model, x_neg)  # (4, 480, 64) each
train = torch.as_tensor(np.tile(np.random.default_rng(0).permutation(240) < 120, 2))  # (480,) bool
LAYERS = h_pos.shape[0]
print("h_pos", tuple(h_pos.shape), "| training rows", int(train.sum()), "| test rows", int((~train).sum()))

# %% [markdown]
# ## Exercise 3: normalise each half on its own
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 15 minutes, then look at the hints.
#
# Every `x+` contains `<` and every `x-` contains `>`. A direction that reads only that token
# separates the two halves perfectly: `p(x+) = 1`, `p(x-) = 0` for every pair, which is
# perfectly consistent and confident, and says nothing about truth. Burns et al. remove it
# by normalising each half **separately**: subtract the mean over the examples of that half,
# and divide by the standard deviation, per unit (each of the 64 coordinates). What is left
# is how each example differs from the others of its own half.
#
# Write `normalize_side(h)`: `(n, D)` to `(n, D)`, mean 0 and standard deviation 1 in every
# column. Add `1e-6` to the standard deviation, so a unit that never varies gives 0, not NaN.
#
# <details><summary>Hint</summary>
#
# **The idea.** Statistics over the examples, one per unit: centre, then scale.
#
# **A pointer.** `mean(0)` and `std(0)` reduce over the first axis and broadcast back against
# `(n, D)`. Apply it to `h_pos` and to `h_neg` one at a time, never to the two stacked
# together (that would keep the `<`/`>` difference).
# </details>

# %% nbgrader={"solution": true, "grade_id": "normalize_side"} exercise={"difficulty": 2, "importance": 5, "minutes": 15}
def normalize_side(h: torch.Tensor) -> torch.Tensor:
    """(h - mean) / (std + 1e-6), statistics over the examples (axis 0), per unit.

    h: float (n, D). Returns float (n, D).
    """
    ### BEGIN SOLUTION
    centred = h - h.mean(0)
    return centred / (centred.std(0) + 1e-6)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "normalize_side_test", "points": 3}
_toy = torch.tensor([[1.0, 10.0, 5.0], [3.0, 30.0, 5.0], [5.0, 20.0, 5.0]])
_got = checks.call("normalize_side", normalize_side, _toy, case="3 examples, 3 units (the last constant)")
checks.assert_shape("normalize_side", _got, (3, 3))
checks.assert_close("normalize_side", _got[:, 0], torch.tensor([-1.0, 0.0, 1.0]), atol=1e-4, name="unit 0",
                    hint="statistics per unit over the examples: mean(0), std(0)")
checks.assert_close("normalize_side", _got[:, 2], torch.zeros(3), name="a constant unit",
                    hint="add 1e-6 to the std: a constant unit gives 0, not NaN")
_np, _nn = normalize_side(h_pos[2]), normalize_side(h_neg[2])
checks.assert_close("normalize_side", _np.std(0), torch.ones(64), atol=1e-3, name="std of each unit of x+, layer 2")
_gap = (h_pos[2].mean(0) - h_neg[2].mean(0)).norm().item()
print(f"layer 2: distance between the means of x+ and x-: {_gap:.2f} raw, "
      f"{(_np.mean(0) - _nn.mean(0)).norm().item():.1e} after normalising each half")
checks.assert_close("normalize_side", (_np.mean(0) - _nn.mean(0)).norm().item(), 0.0, atol=1e-4,
                    name="distance between the two halves' means after normalising",
                    hint="each half is centred on its own mean: what told '<' from '>' on average is gone")
### BEGIN HIDDEN TESTS
for _l in range(LAYERS):
    checks.assert_close("normalize_side", normalize_side(h_neg[_l]), truth.normalize(h_neg[_l]), rtol=1e-2, atol=1e-3,
                        name=f"h_neg normalised, layer {_l}")
checks.assert_true("normalize_side", normalize_side(_toy.double()).dtype == torch.float64,
                   "float64 in should give float64 out")
### END HIDDEN TESTS

# %% [markdown]
# The normalised activations of every layer (the course's `truth.normalize`, the same as yours):

# %%
n_pos = torch.stack([truth.normalize(h) for h in h_pos])  # (4, 480, 64)
n_neg = torch.stack([truth.normalize(h) for h in h_neg])

# %% [markdown]
# ## Exercise 4: a supervised truth probe, the reference
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 20 minutes, then look at the hints.
#
# Before searching without labels, find out where truth **can** be read with them. Burns et
# al.'s supervised reference is logistic regression on the difference of the two halves'
# normalised activations, `X = norm(x+) - norm(x-)`, predicting `y` (is `x+` the true one?).
#
# Write `train_truth_probe(X, y, steps, lr)`: logistic regression, `P(y) = sigmoid(X @ w + b)`,
# trained on the mean binary cross-entropy with full-batch Adam from `w = 0`, `b = 0`. Return
# `w (D,)` and `b` (a 0-d tensor), detached.
#
# Before running the test, **predict**: at which layer will truth first be readable? The tag's
# position sees the numbers only through attention, and layer 0 is the tag's embedding alone.
#
# <details><summary>Hint</summary>
#
# **The idea.** A one-output linear model and the logistic loss, as in 0.3; everything fits in
# one batch.
#
# **A pointer.** Two leaf tensors with `requires_grad=True`, `torch.optim.Adam([w, b], lr=lr)`,
# and `torch.nn.functional.binary_cross_entropy_with_logits(X @ w + b, y.float())` as the loss
# (it takes logits, so no sigmoid of your own). Return `.detach()`ed tensors.
# </details>

# %% nbgrader={"solution": true, "grade_id": "train_truth_probe"} exercise={"difficulty": 2, "importance": 4, "minutes": 20}
def train_truth_probe(X: torch.Tensor, y: torch.Tensor, steps: int = 300,
                      lr: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Logistic regression P(y) = sigmoid(X @ w + b), full-batch Adam from zeros.

    X: float (n, D); y: bool (n,). Returns w float (D,), b float 0-d, detached.
    """
    ### BEGIN SOLUTION
    w = torch.zeros(X.shape[1], requires_grad=True)
    bias = torch.zeros((), requires_grad=True)
    opt = torch.optim.Adam([w, bias], lr=lr)
    for _ in range(steps):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(X @ w + bias, y.float())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach(), bias.detach()
    ### END SOLUTION


def probe_accuracy(w: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows where sigmoid(X @ w + b) > 1/2 agrees with y (given)."""
    return ((X @ w + b > 0) == y).float().mean().item()


# %% nbgrader={"grade": true, "grade_id": "train_truth_probe_test", "points": 3}
_gen = torch.Generator().manual_seed(0)
_Xs = torch.randn(400, 5, generator=_gen)
_ys = _Xs[:, 1] - 0.5 * _Xs[:, 3] > 0.3  # a linear rule with an offset
_w, _b = checks.call("train_truth_probe", train_truth_probe, _Xs, _ys, 300, 0.05, case="a linear toy problem")
checks.assert_shape("train_truth_probe", _w, (5,), name="w")
checks.assert_shape("train_truth_probe", _b, (), name="b", hint="a 0-d tensor: torch.zeros(())")
checks.assert_close("train_truth_probe", _b, torch.tensor(-1.6927), atol=0.02, name="b after 300 steps on the toy problem",
                    hint="plain logistic regression: Adam from zeros on the logistic loss of the logits X @ w + b, "
                         "with no sigmoid of your own before it")
checks.assert_true("train_truth_probe", probe_accuracy(_w, _b, _Xs, _ys) > 0.95,
                   f"on a linearly separable toy problem the probe gets {probe_accuracy(_w, _b, _Xs, _ys):.3f} (want > 0.95)",
                   hint="the loss takes logits: binary_cross_entropy_with_logits(X @ w + b, y.float())")
probe_acc = []
for _l in range(LAYERS):
    _X = n_pos[_l] - n_neg[_l]
    _w, _b = train_truth_probe(_X[train], y[train])
    probe_acc.append(probe_accuracy(_w, _b, _X[~train], y[~train]))
print("supervised probe, test accuracy per layer:", [round(v, 3) for v in probe_acc])
checks.assert_true("train_truth_probe", probe_acc[0] < 0.6,
                   f"layer 0 (the tag's embedding) cannot know the truth, yet the probe gets {probe_acc[0]:.3f}",
                   hint="test on the held-out rows (~train), never on the rows you trained on")
checks.assert_true("train_truth_probe", min(probe_acc[2:]) > 0.97,
                   f"after blocks 2 and 3 a linear probe should read truth on > 97% of held-out pairs: {probe_acc}",
                   hint="X = norm(x+) - norm(x-); 300 steps of Adam at lr 0.05 from zeros")
### BEGIN HIDDEN TESTS
_wr, _br = truth.fit_logistic(_Xs, _ys, steps=300, lr=0.05, weight_decay=0.0)
_wl, _bl = train_truth_probe(_Xs, _ys, 300, 0.05)
checks.assert_close("train_truth_probe", probe_accuracy(_wl, _bl, _Xs, _ys), probe_accuracy(_wr, _br, _Xs, _ys),
                    atol=0.02, name="accuracy on the toy problem, against the course's probe")
_w1, _b1 = train_truth_probe(_Xs[:20], _ys[:20], 1, 0.05)
checks.assert_true("train_truth_probe", _w1.abs().max() > 0 and _b1.abs() > 0,
                   "after one step w or b is still zero: are both trained?")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: the CCS loss
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 10 minutes, then look at the hints.
#
# CCS's probe is the same shape as the supervised one, `p(x) = sigmoid(norm(x) @ w + b)`, but
# applied to each half on its own, and trained with no labels. Its loss has two parts,
# averaged over the pairs (Burns et al., section 2.2):
#
# - **consistency**: `(p(x+) - (1 - p(x-)))²`: the probabilities of a statement and its
#   opposite should sum to 1;
# - **confidence**: `min(p(x+), p(x-))²`: otherwise `p = 1/2` on both sides would be
#   perfectly consistent; this pushes one of the two towards 0.
#
# Write `ccs_loss(p_pos, p_neg)`: a 0-d tensor, the mean consistency plus the mean confidence,
# differentiable (it is what CCS minimises).
#
# <details><summary>Hint</summary>
#
# **The idea.** Two squared terms per pair, each averaged over the pairs, added.
#
# **A pointer.** `torch.minimum` takes the smaller of two tensors elementwise (`torch.min`
# with two tensors does too; `min()` of Python does not broadcast). Stay in torch so that
# gradients flow.
# </details>

# %% nbgrader={"solution": true, "grade_id": "ccs_loss"} exercise={"difficulty": 2, "importance": 5, "minutes": 10}
def ccs_loss(p_pos: torch.Tensor, p_neg: torch.Tensor) -> torch.Tensor:
    """mean((p+ - (1 - p-))^2) + mean(min(p+, p-)^2). p_pos, p_neg: float (n,) in [0, 1]. Returns a 0-d tensor."""
    ### BEGIN SOLUTION
    consistency = (p_pos - (1 - p_neg)).pow(2).mean()
    confidence = torch.minimum(p_pos, p_neg).pow(2).mean()
    return consistency + confidence
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ccs_loss_test", "points": 3}
_l = checks.call("ccs_loss", ccs_loss, torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), case="consistent and confident")
checks.assert_shape("ccs_loss", _l, (), hint="average over the pairs: a 0-d tensor")
checks.assert_close("ccs_loss", _l, 0.0, name="p+ = 1 - p-, one of them 0")
checks.assert_close("ccs_loss", ccs_loss(torch.tensor([0.5]), torch.tensor([0.5])), 0.25, name="both 1/2",
                    hint="consistent (0.5 + 0.5 = 1) but not confident: min(0.5, 0.5)² = 0.25")
checks.assert_close("ccs_loss", ccs_loss(torch.tensor([1.0]), torch.tensor([1.0])), 2.0, name="both 1",
                    hint="inconsistent: (1 - (1 - 1))² = 1; and min(1, 1)² = 1")
checks.assert_close("ccs_loss", ccs_loss(torch.tensor([0.9, 0.2]), torch.tensor([0.3, 0.6])), 0.105,
                    name="p+ = [0.9, 0.2], p- = [0.3, 0.6]",
                    hint="the consistency term is 0.04 here and the confidence term 0.065: check each, then add")
### BEGIN HIDDEN TESTS
_gen = torch.Generator().manual_seed(1)
_pp, _pn = torch.rand(50, generator=_gen, dtype=torch.float64), torch.rand(50, generator=_gen, dtype=torch.float64)
checks.assert_close("ccs_loss", ccs_loss(_pp, _pn), truth.ccs_loss(_pp, _pn), rtol=1e-9, name="50 random pairs")
_pp.requires_grad_(True)
ccs_loss(_pp, _pn).backward()
checks.assert_true("ccs_loss", _pp.grad is not None and _pp.grad.abs().sum() > 0, "no gradient reaches p_pos")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: CCS, with random restarts
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 4 points · about 25 minutes, then look at the hints.
#
# The loss has many minima: a probe and its negation `(-w, -b)` are equally good (if `p` is
# consistent and confident, so is `1 - p`), and other directions may be too. Burns et al. train
# from several random starts and keep the probe with the **lowest loss**; that choice uses no
# labels either.
#
# Write `train_ccs(h_pos, h_neg, restarts, steps, lr, seed)`, on normalised activations
# `(n, D)`. Make one `torch.Generator().manual_seed(seed)`; for each restart draw
# `w = torch.randn(D, generator=gen) / sqrt(D)` and set `b = 0`, train both with Adam (`lr`,
# `steps` full-batch steps) on `ccs_loss(sigmoid(h_pos @ w + b), sigmoid(h_neg @ w + b))`,
# then compute the loss of the trained probe. Return the `(w, b, loss)` of the restart with the
# lowest loss, `loss` a Python float.
#
# <details><summary>Hint</summary>
#
# **The idea.** The loop of exercise 4 with the CCS loss instead of the labels' loss, inside an
# outer loop over restarts; remember the best one so far.
#
# **A pointer.** Draw every restart's `w` from the same generator (so that `restarts=1` is the
# first of `restarts=5`). Compute the final loss under `torch.no_grad()` after the last step,
# and keep `(w.detach(), b.detach(), loss.item())` when it beats the best.
# </details>

# %% nbgrader={"solution": true, "grade_id": "train_ccs"} exercise={"difficulty": 3, "importance": 5, "minutes": 25}
def train_ccs(h_pos: torch.Tensor, h_neg: torch.Tensor, restarts: int = 10, steps: int = 300, lr: float = 0.01,
              seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, float]:
    """CCS: the probe (w (D,), b 0-d) with the lowest CCS loss over `restarts` random starts, and that loss.

    h_pos, h_neg: float (n, D), each half normalised on its own.
    """
    ### BEGIN SOLUTION
    gen = torch.Generator().manual_seed(seed)
    D = h_pos.shape[1]
    best = None
    for _ in range(restarts):
        w = (torch.randn(D, generator=gen) / D ** 0.5).requires_grad_()
        bias = torch.zeros((), requires_grad=True)
        opt = torch.optim.Adam([w, bias], lr=lr)
        for _ in range(steps):
            loss = ccs_loss(torch.sigmoid(h_pos @ w + bias), torch.sigmoid(h_neg @ w + bias))
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            final = ccs_loss(torch.sigmoid(h_pos @ w + bias), torch.sigmoid(h_neg @ w + bias)).item()
        if best is None or final < best[2]:
            best = (w.detach(), bias.detach(), final)
    return best
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "train_ccs_test", "points": 4}
READ = truth.READ_LAYER  # 2: the first layer where the supervised probe reads truth
_w, _b, _loss = checks.call("train_ccs", train_ccs, n_pos[READ][train], n_neg[READ][train], 3, 300, 0.01, 0,
                            case="layer 2, 3 restarts")
checks.assert_shape("train_ccs", _w, (64,), name="w")
checks.assert_true("train_ccs", isinstance(_loss, float), f"return the loss as a Python float, got {type(_loss).__name__}")
_again = truth.ccs_loss(torch.sigmoid(n_pos[READ][train] @ _w + _b), torch.sigmoid(n_neg[READ][train] @ _w + _b)).item()
checks.assert_close("train_ccs", _loss, _again, atol=1e-6, name="the loss you returned vs the loss of the (w, b) you returned",
                    hint="return the loss of the probe you return, measured after its last step")
print(f"CCS at layer {READ}, best of 3 restarts: loss {_loss:.2e}")
checks.assert_true("train_ccs", _loss < 0.01, f"CCS should reach a loss below 0.01 here, got {_loss:.4f}",
                   hint="Adam on both w and b, 300 steps at lr 0.01, from w = randn(D) / sqrt(D)")
_w5, _b5, _l5 = train_ccs(n_pos[READ][train], n_neg[READ][train], 1, 5, 0.01, 1)
checks.assert_close("train_ccs", _l5, truth.ccs_loss(torch.sigmoid(n_pos[READ][train] @ _w5 + _b5),
                                                     torch.sigmoid(n_neg[READ][train] @ _w5 + _b5)).item(), atol=1e-6,
                    name="the loss returned after 5 steps vs the loss of the (w, b) returned",
                    hint="measure the loss again after the last step: the loss computed before it is one step old")
_gen = torch.Generator().manual_seed(9)
_a, _c = torch.randn(60, 8, generator=_gen), torch.randn(60, 8, generator=_gen)  # random data: no good solution
checks.assert_close("train_ccs", train_ccs(_a, _c, 6, 50, 0.01, 3)[2], 0.16411, rtol=1e-3,
                    name="the loss of 6 restarts of 50 steps on random data, seed 3",
                    hint="the lowest final loss of the 6 restarts; one generator seeded once, w = randn(D) / sqrt(D), b = 0")
_one = train_ccs(n_pos[READ][train], n_neg[READ][train], 1, 100, 0.01, 5)[2]
_five = train_ccs(n_pos[READ][train], n_neg[READ][train], 5, 100, 0.01, 5)[2]
checks.assert_true("train_ccs", _five <= _one + 1e-9,
                   f"5 restarts gave a higher loss ({_five:.2e}) than 1 restart ({_one:.2e}) with the same seed",
                   hint="keep the restart with the lowest loss; draw every restart from one generator seeded once")
_by_r = [train_ccs(_a, _c, _r, 30, 0.01, 3)[2] for _r in range(1, 7)]  # restarts 1..r: a prefix of the same draws
checks.assert_true("train_ccs", all(_y <= _x + 1e-9 for _x, _y in zip(_by_r, _by_r[1:], strict=False))
                   and _by_r[-1] < _by_r[0] - 1e-3,  # here the third start ends lower than the first
                   "with the same seed, more restarts must keep the lowest loss of any start, and here a later start "
                   "beats the first: "
                   + ", ".join(f"{_r} restart(s): {_x:.4f}" for _r, _x in enumerate(_by_r, 1)),
                   hint="compare each restart's final loss with the best loss so far (the loss, not another element)")
### BEGIN HIDDEN TESTS
for _r in (1, 4):
    _wh, _bh, _lh = train_ccs(_a, _c, _r, 50, 0.01, 3)
    checks.assert_close("train_ccs", _lh, truth.ccs_loss(torch.sigmoid(_a @ _wh + _bh), torch.sigmoid(_c @ _wh + _bh)).item(),
                        atol=1e-6, name=f"returned loss of a {_r}-restart run on random data")
# a reference: the loss of every restart, drawn as the docstring says; the best must be kept
_genr = torch.Generator().manual_seed(3)
_ref_losses = []
for _ in range(6):
    _wr = (torch.randn(8, generator=_genr) / 8 ** 0.5).requires_grad_()
    _br = torch.zeros((), requires_grad=True)
    _opt = torch.optim.Adam([_wr, _br], lr=0.01)
    for _ in range(50):
        _lr = truth.ccs_loss(torch.sigmoid(_a @ _wr + _br), torch.sigmoid(_c @ _wr + _br))
        _opt.zero_grad()
        _lr.backward()
        _opt.step()
    with torch.no_grad():
        _ref_losses.append(truth.ccs_loss(torch.sigmoid(_a @ _wr + _br), torch.sigmoid(_c @ _wr + _br)).item())
checks.assert_close("train_ccs", train_ccs(_a, _c, 6, 50, 0.01, 3)[2], min(_ref_losses), rtol=1e-4,
                    name="the loss of 6 restarts on random data", hint="keep the restart with the lowest final loss")
_gen2 = torch.Generator().manual_seed(3)
_w0 = torch.randn(8, generator=_gen2) / 8 ** 0.5
_w1, _, _ = train_ccs(_a, _c, 1, 1, 0.01, 3)
checks.assert_true("train_ccs", (_w1 - _w0).abs().max() < 0.02 and (_w1 - _w0).abs().max() > 0,
                   "after one step from seed 3, w should be randn(8, generator) / sqrt(8) moved by one Adam step")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 7: accuracy up to a sign
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 15 minutes, then look at the hints.
#
# CCS predicts from both halves together, with the average belief that `x+` is true,
# `p̃ = (p(x+) + 1 - p(x-)) / 2`, and says "x+" when `p̃ > 1/2`. But nothing in the loss says
# which end of the direction means "true": `(w, b)` and `(-w, -b)` have the same loss. So its
# accuracy is measured **up to the sign**: `max(acc, 1 - acc)`. (To use CCS for real you would
# still need one labelled example, or another argument, to fix the sign.)
#
# Write `ccs_accuracy(w, b, h_pos, h_neg, y)`: a Python float.
#
# <details><summary>Hint</summary>
#
# **The idea.** Probabilities on each half, the average belief, a threshold at 1/2, compare with
# `y`, then forgive a global flip.
#
# **A pointer.** `torch.sigmoid(h @ w + b)` on each half; the comparison gives a bool tensor;
# `.float().mean().item()` is the accuracy; return the larger of it and one minus it.
# </details>

# %% nbgrader={"solution": true, "grade_id": "ccs_accuracy"} exercise={"difficulty": 2, "importance": 4, "minutes": 15}
def ccs_accuracy(w: torch.Tensor, b: torch.Tensor, h_pos: torch.Tensor, h_neg: torch.Tensor, y: torch.Tensor) -> float:
    """max(acc, 1 - acc) of the prediction (p(x+) + 1 - p(x-)) / 2 > 1/2 against y (bool (n,))."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        belief = 0.5 * (torch.sigmoid(h_pos @ w + b) + 1 - torch.sigmoid(h_neg @ w + b))
    acc = ((belief > 0.5) == y).float().mean().item()
    return max(acc, 1 - acc)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ccs_accuracy_test", "points": 3}
_hp = torch.tensor([[2.0], [-1.0], [3.0], [-2.0]])
_hn = torch.tensor([[-2.0], [1.0], [-3.0], [1.0]])
_acc = checks.call("ccs_accuracy", ccs_accuracy, torch.tensor([1.0]), torch.tensor(0.0), _hp, _hn,
                   torch.tensor([True, False, True, True]), case="4 pairs in 1-d")
checks.assert_true("ccs_accuracy", isinstance(_acc, float), f"return a Python float, got {type(_acc).__name__}")
checks.assert_close("ccs_accuracy", _acc, 0.75, hint="the beliefs say x+ for pairs 0 and 2, x- for 1 and 3; 3 of 4 right")
checks.assert_close("ccs_accuracy", ccs_accuracy(torch.tensor([-1.0]), torch.tensor(0.0), _hp, _hn,
                                                 torch.tensor([True, False, True, True])), 0.75,
                    name="the same probe negated", hint="up to the sign: max(acc, 1 - acc)")
checks.assert_close("ccs_accuracy", ccs_accuracy(torch.tensor([1.0]), torch.tensor(0.0), torch.tensor([[0.5], [2.0]]),
                                                 torch.tensor([[2.0], [-2.0]]), torch.tensor([False, True])), 1.0,
                    name="pair 0: p(x+) = 0.62 but p(x-) = 0.88",
                    hint="use both halves: the belief (p(x+) + 1 - p(x-)) / 2 is 0.37 for pair 0, so it says x-")
checks.assert_close("ccs_accuracy", ccs_accuracy(torch.tensor([1.0]), torch.tensor(0.0), torch.tensor([[1.0], [0.0], [0.0]]),
                                                 torch.tensor([[-1.0], [0.0], [0.0]]), torch.tensor([True, False, False])),
                    1.0, name="pairs 1 and 2 are ties: belief exactly 1/2",
                    hint="a belief of exactly 1/2 is not > 1/2: it says x-, as the docstring's strict > does")
ccs_acc = []
for _l in tqdm(range(LAYERS), desc="CCS per layer, 10 restarts each"):
    _w, _b, _ = train_ccs(n_pos[_l][train], n_neg[_l][train])
    ccs_acc.append(ccs_accuracy(_w, _b, n_pos[_l][~train], n_neg[_l][~train], y[~train]))
print("CCS (no labels), test accuracy up to sign per layer:", [round(v, 3) for v in ccs_acc])
print("supervised probe, for comparison:                   ", [round(v, 3) for v in probe_acc])
checks.assert_true("ccs_accuracy", abs(ccs_acc[READ] - probe_acc[READ]) < 0.03,
                   f"at layer {READ} CCS ({ccs_acc[READ]:.3f}) should be within 0.03 of the probe ({probe_acc[READ]:.3f})",
                   hint="belief = (p(x+) + 1 - p(x-)) / 2; predict x+ when it is above 1/2")
### BEGIN HIDDEN TESTS
_gen = torch.Generator().manual_seed(4)
_A, _B = torch.randn(100, 6, generator=_gen), torch.randn(100, 6, generator=_gen)
_wv, _yv = torch.randn(6, generator=_gen), torch.rand(100, generator=_gen) > 0.5
_pred = truth.ccs_predictions(_wv, torch.tensor(0.3), _A, _B)
checks.assert_close("ccs_accuracy", ccs_accuracy(_wv, torch.tensor(0.3), _A, _B, _yv),
                    truth.agreement_up_to_sign(_pred, _yv), atol=1e-6, name="100 random pairs in 6-d")
### END HIDDEN TESTS

# %% [markdown]
# Your numbers, layer by layer: where the supervised probe reads truth, and where CCS, without a
# single label, finds it too.

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.4))
ax.plot(probe_acc, "o-", label="supervised logistic probe")
ax.plot(ccs_acc, "s--", label="CCS (no labels), up to sign")
ax.axhline(0.5, ls=":", c="k", label="chance")
ax.set(xlabel="layer (0 = embeddings of the tag)", ylabel="held-out accuracy", xticks=range(LAYERS), ylim=(0.4, 1.03),
       title="reading truth at the last position")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Two things to notice. At layer 2 CCS matches the probe: the method works here, without
# labels. But at layer 3, the last, the supervised probe still reads truth perfectly while CCS
# does not: it found *something* consistent and confident (its loss is tiny) that is not
# truth. Exercise 9 asks you what. First, a way to see why that can happen at all.
#
# ## Exercise 8: any feature that flips is a CCS solution
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 20 minutes, then look at the hints.
#
# Farquhar et al.'s first theorem, in words: take **any** yes/no feature `f` of a pair, and
# suppose a probe says `p(x+) = f` and `p(x-) = 1 - f`. That probe is perfectly consistent and
# confident, so its CCS loss is 0, exactly as for truth. The loss cannot prefer truth over `f`.
# The only question is whether a *linear* probe can express `f`, and for a feature the model
# represents strongly it can.
#
# Build such a probe without any optimiser. Label every row of both halves: `x+` rows have
# label `f`, `x-` rows have label `not f`. The direction is the difference of the two labels'
# means over all `2n` rows, `w = mean(label 1) - mean(label 0)`, and the threshold sits half-way:
# `b = -w · (mean(label 1) + mean(label 0)) / 2`. Write `feature_probe(h_pos, h_neg, f)`.
#
# The test then builds the **distractor** experiment, after Farquhar et al.'s appended random
# words: the same statements, but `x+` gets a random tag and `x-` **the other one**. Now the tag
# flips between the halves, just like truth. It measures the CCS loss of your probe for truth and
# for the tag, on the plain pairs and on the distractor pairs.
#
# <details><summary>Hint</summary>
#
# **The idea.** Stack the two halves into one set of `2n` rows with `2n` labels, then the
# difference of means of lesson 4.4, with the midpoint as threshold.
#
# **A pointer.** `torch.cat([h_pos, h_neg])` and `torch.cat([f, ~f])`; boolean indexing picks
# the rows of each label; `b` is a 0-d tensor from a dot product (`@`) with the midpoint.
# </details>

# %% nbgrader={"solution": true, "grade_id": "feature_probe"} exercise={"difficulty": 3, "importance": 5, "minutes": 20}
def feature_probe(h_pos: torch.Tensor, h_neg: torch.Tensor, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A probe with p(x+) ~ f and p(x-) ~ 1 - f: difference of means, threshold at the midpoint.

    h_pos, h_neg: float (n, D); f: bool (n,). Returns w float (D,), b float 0-d.
    """
    ### BEGIN SOLUTION
    rows = torch.cat([h_pos, h_neg])
    labels = torch.cat([f, ~f])
    mean1, mean0 = rows[labels].mean(0), rows[~labels].mean(0)
    w = mean1 - mean0
    return w, -w @ (mean1 + mean0) / 2
    ### END SOLUTION


# %% [markdown]
# The distractor pairs: tag `t` on `x+` and `1 - t` on `x-` (given).

# %%
d_pos, d_neg = truth.contrast_pairs({"a": a, "b": b}, tag, 1 - tag)
print(truth.decode(d_pos[0]), "|", truth.decode(d_neg[0]))
dn_pos = torch.stack([truth.normalize(h) for h in truth.read_activations(model, d_pos)])  # (4, 480, 64)
dn_neg = torch.stack([truth.normalize(h) for h in truth.read_activations(model, d_neg)])


def loss_of(w, b, hp, hn) -> float:
    """The CCS loss of a fixed probe (given)."""
    return truth.ccs_loss(torch.sigmoid(hp @ w + b), torch.sigmoid(hn @ w + b)).item()


# %% nbgrader={"grade": true, "grade_id": "feature_probe_test", "points": 3}
_hp, _hn = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.0, 0.0], [4.0, 1.0]])
_w, _b = checks.call("feature_probe", feature_probe, _hp, _hn, torch.tensor([True, False]), case="2 pairs in 2-d")
checks.assert_close("feature_probe", _w, torch.tensor([3.0, 0.0]),
                    hint="label 1: x+ of pair 0 and x- of pair 1 (f is False there), mean [3, 0.5]; "
                         "label 0: the other two rows, mean [0, 0.5]")
checks.assert_close("feature_probe", _b, torch.tensor(-4.5), name="b", hint="b = -w · (mean1 + mean0) / 2")
losses = {}
for _name, (_hp, _hn) in {"plain": (n_pos[READ], n_neg[READ]), "distractor": (dn_pos[READ], dn_neg[READ])}.items():
    for _feat, _f in {"truth": y, "tag": tag.bool()}.items():
        losses[_name, _feat] = loss_of(*feature_probe(_hp, _hn, _f), _hp, _hn)
print(f"CCS loss of a difference-of-means probe at layer {READ}:")
for (_name, _feat), _v in losses.items():
    print(f"  {_name:10s} pairs, feature {_feat:5s}: {_v:.2e}")
checks.assert_true("feature_probe", losses["plain", "truth"] < 1e-3 and losses["distractor", "truth"] < 1e-3,
                   f"the truth probe should have a CCS loss < 1e-3: {losses}",
                   hint="x+ rows get label f, x- rows get label not f")
checks.assert_true("feature_probe", losses["plain", "tag"] > 0.1,
                   f"with the same tag on both halves, the tag cannot be consistent: loss {losses['plain', 'tag']:.3f}")
checks.assert_true("feature_probe", losses["distractor", "tag"] <= losses["distractor", "truth"] + 1e-6,
                   "with opposite tags, the tag probe's loss should be as low as truth's: "
                   f"{losses['distractor', 'tag']:.2e} vs {losses['distractor', 'truth']:.2e}")
### BEGIN HIDDEN TESTS
_gen = torch.Generator().manual_seed(2)
_A, _B = torch.randn(30, 4, generator=_gen, dtype=torch.float64), torch.randn(30, 4, generator=_gen, dtype=torch.float64)
_f = torch.rand(30, generator=_gen) > 0.4
_rows, _lab = torch.cat([_A, _B]), torch.cat([_f, ~_f])
_m1, _m0 = _rows[_lab].mean(0), _rows[~_lab].mean(0)
_wh, _bh = feature_probe(_A, _B, _f)
checks.assert_close("feature_probe", _wh, _m1 - _m0, rtol=1e-9, name="w on random data")
checks.assert_close("feature_probe", _bh, -(_m1 - _m0) @ (_m1 + _m0) / 2, rtol=1e-9, name="b on random data")
### END HIDDEN TESTS

# %% [markdown]
# ## The distractor experiment
#
# Now run CCS itself, as Burns et al. specify it (10 restarts, keep the lowest loss), on the
# distractor pairs at layer 2, where on the plain pairs it found truth. Which feature does the
# probe it returns agree with? And what about each restart on its own? (Your `train_ccs` with
# `restarts=1` and ten seeds.)

# %%
_w, _b, distractor_loss = train_ccs(dn_pos[READ][train], dn_neg[READ][train])
distractor_truth = ccs_accuracy(_w, _b, dn_pos[READ][~train], dn_neg[READ][~train], y[~train])
distractor_tag = ccs_accuracy(_w, _b, dn_pos[READ][~train], dn_neg[READ][~train], tag.bool()[~train])
print(f"distractor pairs, layer {READ}, best of 10 restarts (loss {distractor_loss:.1e}): "
      f"agrees with truth {distractor_truth:.3f}, with the tag {distractor_tag:.3f} (up to sign)")
restarts = []
for _seed in tqdm(range(10), desc="single restarts"):
    _w1, _b1, _l1 = train_ccs(dn_pos[READ][train], dn_neg[READ][train], restarts=1, seed=_seed)
    restarts.append((_l1, ccs_accuracy(_w1, _b1, dn_pos[READ][~train], dn_neg[READ][~train], y[~train]),
                     ccs_accuracy(_w1, _b1, dn_pos[READ][~train], dn_neg[READ][~train], tag.bool()[~train])))
fig, ax = plt.subplots(figsize=(5.5, 3.4))
for _l1, _t, _g in restarts:
    ax.scatter(_l1, _t, c="C0", marker="o")
    ax.scatter(_l1, _g, c="C3", marker="x")
ax.scatter([], [], c="C0", marker="o", label="agreement with truth")
ax.scatter([], [], c="C3", marker="x", label="agreement with the tag")
ax.set(xscale="log", xlabel="CCS loss of the restart (training pairs)", ylabel="agreement (up to sign), held out",
       title=f"10 single CCS restarts on the distractor pairs, layer {READ}")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
print(f"restarts that found the tag: {sum(g > 0.95 for _, _, g in restarts)} of 10; "
      f"that found truth: {sum(t > 0.95 for _, t, _ in restarts)} of 10")

# %% [markdown]
# ## Exercise 9 (investigation): which feature did CCS find?
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 15 minutes.
#
# Two questions, each answered with one of `"truth"`, `"tag"`, `"truth xor tag"` or `"nothing"`:
#
# 1. **The distractor pairs at layer 2.** Which feature does the best-of-10 CCS probe agree with
#    (look at the numbers printed above)?
# 2. **The plain pairs at layer 3**, where exercise 7's CCS did *not* agree with truth. The cell
#    below gives you the agreement of that layer's CCS probe with three candidate features. The
#    third is "truth xor tag": true for `<tag0>` statements that are true and `<tag1>` statements
#    that are false, that is, the model is about to write `True` or `No` rather than `False` or
#    `Yes`. Is it consistent? On `x-` the truth flips and the tag (the same on both halves here)
#    does not, so it flips too. Which feature did CCS find?
#
# Return both from `my_answers()`, e.g. `("truth", "nothing")`.

# %%
_w3, _b3, _loss3 = train_ccs(n_pos[3][train], n_neg[3][train])
candidates = {"truth": y, "tag": tag.bool(), "truth xor tag": y ^ tag.bool()}
last_layer_agreement = {name: ccs_accuracy(_w3, _b3, n_pos[3][~train], n_neg[3][~train], f[~train])
                        for name, f in candidates.items()}
print(f"plain pairs, layer 3, CCS loss {_loss3:.1e}; agreement up to sign with:",
      {k: round(v, 3) for k, v in last_layer_agreement.items()})


# %% nbgrader={"solution": true, "grade_id": "which_feature"} exercise={"difficulty": 2, "importance": 5, "minutes": 15}
def my_answers() -> tuple[str, str]:
    """(feature CCS found on the distractor pairs at layer 2, feature CCS found on the plain pairs at layer 3).

    Each one of "truth", "tag", "truth xor tag", "nothing". Return constants: this is your answer.
    """
    ### BEGIN SOLUTION
    return "tag", "truth xor tag"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "which_feature_test", "points": 3}
_answers = checks.call("which_feature", my_answers, case="your answers")
_options = ("truth", "tag", "truth xor tag", "nothing")
checks.assert_true("which_feature", isinstance(_answers, tuple) and len(_answers) == 2 and set(_answers) <= set(_options),
                   f"return two of {_options}, got {_answers!r}")


def _found(agreement: dict) -> str:
    best = max(agreement, key=agreement.get)
    return best if agreement[best] > 0.95 else "nothing"


_data_say = (_found({"truth": distractor_truth, "tag": distractor_tag}), _found(last_layer_agreement))
checks.assert_equal("which_feature", _answers[0], _data_say[0], name="the distractor pairs at layer 2",
                    hint="which of the two agreements printed by the distractor experiment is near 1?")
checks.assert_equal("which_feature", _answers[1], _data_say[1], name="the plain pairs at layer 3",
                    hint="which candidate does the layer-3 CCS probe agree with, above 0.95?")
### BEGIN HIDDEN TESTS
checks.assert_equal("which_feature", my_answers(), ("tag", "truth xor tag"), name="both answers",
                    hint="the distractor's tag flips between the halves; so does the answer token's identity")
### END HIDDEN TESTS

# %% [markdown]
# ## What CCS does and does not establish
#
# What this lesson showed, on a model where we know the ground truth:
#
# - **Does.** Where truth is a strong linear feature of the activations and nothing else of the
#   same kind competes, an objective that never sees a label recovers it: at layer 2, CCS
#   matches the supervised probe (exercise 7). Consistency is a real constraint; Burns et al.'s
#   result is not an accident of their datasets.
# - **Does not, 1: it is not specific to truth.** Every feature that flips between `x+` and `x-`
#   is an equally good minimum (exercise 8; Farquhar et al.'s theorems). When a salient one is
#   present, CCS returns it: the tag we made flip, or, with nothing injected at all, the
#   identity of the answer token at layer 3 (exercise 9). The lowest-loss rule did not save us:
#   the tag's restarts had losses as low as truth's or lower (your plot).
# - **Does not, 2: the sign is unknown.** Accuracy "up to sign" is a number you can only compute
#   with labels; without them CCS gives two candidate answers to every question.
# - **Does not, 3: a direction is not a belief.** Even where CCS agrees with truth, it shows that
#   the activations *contain* a consistent yes/no feature, not that the model *uses* it, or that
#   it is the model's own knowledge rather than, say, what a human or a character in the prompt
#   would say. Farquhar et al. found CCS tracking a simulated character's opinion; Levinstein and
#   Herrmann (2024, "Still no lie detector for language models", *Philosophical Studies*,
#   <https://arxiv.org/abs/2307.00175>) argue that probes of this kind, CCS included, fail simple
#   generalisation tests such as negation and that their success would not by itself show belief.
#   An intervention, as in lesson 4.4's exercise 9, is the next test.
#
# ## How ours compares with the paper
#
# | | Burns et al. 2023 (6 LMs, 10 datasets) | Farquhar et al. 2023 | this lesson (3 layers, d 64, comparisons of numbers) |
# |---|---|---|---|
# | supervised probe | logistic regression on the same activations, the reference | — | chance at layer 0 (asserted < 0.6), above 0.97 from layer 2 (asserted); per layer printed |
# | CCS without labels | beats zero-shot by 4% on average | — | within 0.03 of the probe at layer 2 (asserted); per layer printed |
# | non-truth features | — | a random word on each half, or a character's opinion, is found instead of the truth | the difference-of-means tag probe has a CCS loss no higher than truth's (asserted); CCS best of 10 agrees with the tag, not truth (exercise 9, asserted against your numbers) |
# | no distractor | — | prompt choices change what is found | at the last layer CCS agrees with "truth xor tag", not truth (exercise 9) |
#
# We reproduce the method and both papers' qualitative claims, not their numbers: no language
# model, no zero-shot baseline, no prompt-sensitivity study, and a task whose truth the model
# computes perfectly.
#
# ## Why this matters for safety
#
# The hope behind this lesson has a name: eliciting latent knowledge (ELK). ARC's report
# (Christiano, Cotra and Xu 2021, "Eliciting Latent Knowledge: How to tell if your eyes deceive
# you") frames it as training a reporter that says what a model believes about the world, where
# a reporter trained on human labels might learn to predict what a human would *think* instead;
# a method that needs no labels sidesteps that particular trap, which is why CCS drew so much
# attention. The distractor experiment is a miniature of the remaining danger: a model that
# represents a simulated human's view, or a persona's, carries another consistent yes/no feature,
# and an unsupervised search may latch onto it just as our CCS latched onto the tag (Farquhar et
# al. 2023). Before a truth or deception probe is used to audit a model, its direction has to be
# checked against competing features, and against interventions, on cases where the answer is
# known.
#
# ## Going further
#
# 1. **Does normalisation matter here?** Run `train_ccs` on the raw activations (no
#    `normalize_side`) at each layer. On our model the `<`/`>` difference did not capture CCS at
#    layer 2 when we tried; find a layer, a learning rate or an initial scale where it does, and
#    explain why the per-side mean removes it.
# 2. **Make truth win again.** Farquhar et al. report the distractor's effect depends on how
#    salient it is. Scale the tag's embedding down (edit `model.embed.weight[truth.TAG0:truth.TAG1 + 1]`
#    towards their mean) until CCS with restarts finds truth: where is the crossover, and does the
#    CCS loss tell you when you have crossed it?
# 3. **Which minimum does a restart reach?** Plot, for 50 restarts, the cosine of the initial `w`
#    with the truth and the tag directions (exercise 8's probes) against which feature the
#    restart found. Is the basin of each feature predictable from the start?
# 4. **Other unsupervised objectives.** Farquhar et al. show the same failure for PCA on the
#    contrast differences and for k-means. Implement PCA on `norm(x+) - norm(x-)`: which feature
#    is its first component, with and without the distractor?
# 5. **An intervention.** Move the layer-2 residual of `x+` along the CCS direction and run
#    `model.forward_from(2, ...)`: does the model's answer change? Compare the truth probe's
#    direction, the tag's, and a random one (lesson 4.4's exercise 9 is the template).
# 6. **Generalisation.** Train CCS on statements with `|a - b| > 3` and test on `|a - b| = 1`,
#    or on `<tag0>` rows and test on `<tag1>` rows (Levinstein and Herrmann's worry): does the
#    supervised probe transfer better than CCS?

# %%
print(f"lesson ran in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 4.6`), else from `bootcamp check 4.6` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("4.6")
