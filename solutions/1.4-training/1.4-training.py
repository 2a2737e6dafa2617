# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "1.4"
#     title: Training infrastructure
#     minutes: 180
#     prerequisites: ["0.3", "1.2"]
# ---

# %% [markdown]
# # 1.4 Training infrastructure
#
# A research result is only as good as the run that produced it. Before we train
# transformers and take them apart, we build the plumbing that makes a run something you
# can trust: run it twice and get the same numbers, stop it and resume it without a trace,
# notice when it goes wrong, find out why it is slow, and keep a record of every run.
#
# **After this lesson you can**
# - seed every random number generator and write a training function whose losses are
#   bitwise the same from one run to the next;
# - save a checkpoint with everything a run needs (weights, optimizer, scheduler, random
#   state) and resume it so that the losses equal an uninterrupted run *exactly*;
# - stop on a validation plateau (early stopping), clip gradients by their norm exactly as
#   `torch.nn.utils.clip_grad_norm_` does, and find the module where a NaN is born with
#   forward hooks (and `torch.autograd.detect_anomaly` for the backward pass);
# - profile a slow data pipeline with `cProfile`, fix it, and measure the speed-up;
# - run a sweep that logs every run to a JSON-lines file, resumes where it stopped, and
#   plot the results.
#
# **Prerequisites.** 0.3 (PyTorch fundamentals: `nn.Module`, `DataLoader`, a training
# loop) and 1.2 (optimisers and learning-rate schedules: what `optimizer.step()` and
# `scheduler.step()` keep in their state).
#
# **Time.** About 3 hours: ten graded exercises (23 points) and several pictures.
#
# **How the exercises work.** Each exercise explains an idea, then gives you a function (or
# a class) whose body is `raise NotImplementedError`. Replace that line with your code and
# run the test cell below it. A passing cell prints a line saying so; a failing one says
# what is wrong: which value, expected against got, and a likely cause. The tests you see
# compare against torch's own implementations (`clip_grad_norm_`), against an
# uninterrupted run, or against small worked examples. When your notebook is graded,
# hidden tests add the awkward cases the docstring promises: a NaN loss, a parameter
# without a gradient, a generator of parameters, a NaN born in a nested module, a results
# file cut short in the middle of a line.
#
# From a terminal, `bootcamp check 1.4` runs the whole notebook and prints a table of every
# exercise. Each exercise says how hard it is (🔴, 1–5), how much it matters for the rest of
# the course (🔵, 1–5) and how long to try before opening the hint. Every model here is
# tiny (the 8x8 digits), so the whole notebook runs in well under a minute on a laptop CPU.

# %%
import cProfile
import io
import json
import math
import os
import pstats
import random
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from course import checks, data

# Our models are tiny: a second thread costs more in coordination than it saves in
# arithmetic (and the number of threads can change the last bits of a result; see Part 1).
torch.set_num_threads(1)

x_train, y_train, x_test, y_test = data.digits(torch=True)
print("train", tuple(x_train.shape), x_train.dtype, tuple(y_train.shape), y_train.dtype)
print("test ", tuple(x_test.shape), x_test.dtype, tuple(y_test.shape), y_test.dtype)


def make_model(hidden: int = 64, p_drop: float = 0.1) -> nn.Module:
    """The small MLP every exercise trains: 64 pixels -> hidden -> 10 logits, with dropout."""
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(p_drop), nn.Linear(hidden, 10))


# %% [markdown]
# ## Part 1: Reproducibility
#
# A training run draws random numbers in many places: the initial weights, the order of the
# examples, dropout masks, data augmentation, sometimes NumPy or Python's `random` inside a
# library. Each comes from a **pseudo-random generator**: a deterministic machine whose
# output depends only on its *state*. Seeding sets the state. Three generators matter here:
#
# | generator | who uses it | how to seed it |
# |---|---|---|
# | Python's `random` | your own code, some libraries | `random.seed(s)` |
# | NumPy's global generator | `np.random.rand`, scikit-learn, old code | `np.random.seed(s)` |
# | torch's default generator | `torch.rand`, `nn.Linear` init, dropout, `DataLoader(shuffle=True)` | `torch.manual_seed(s)` (CPU and every GPU) |
#
# Two things seeding does *not* do. Setting `os.environ["PYTHONHASHSEED"]` inside a running
# process changes nothing for that process (it only affects processes started afterwards).
# And seeding makes a run repeatable only on the same software and hardware: another
# torch version, a GPU instead of the CPU, or another number of threads can change the last
# bits of a sum, which a few hundred steps of training amplify into visibly different
# numbers. We measure that at the end of this part.
#
# ## Exercise 1: `seed_everything`
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 1 point · about 5 minutes, then look at the hint.
#
# Write `seed_everything(seed)`, which seeds the three generators of the table.
#
# <details><summary>Hint</summary>
#
# One line per row of the table. NumPy's legacy seed must lie in $[0, 2^{32})$, so do not
# transform the seed; pass it as it is.
# </details>

# %% nbgrader={"solution": true, "grade_id": "seed_everything"} exercise={"difficulty": 1, "importance": 4, "minutes": 5}
def seed_everything(seed: int) -> None:
    """Seed Python's `random`, NumPy's global generator and torch's default generator.

    seed: an int in [0, 2**32). Returns None. After `seed_everything(s)`, `random.random()`,
    `np.random.rand()` and `torch.rand(1)` give what they give after `random.seed(s)`,
    `np.random.seed(s)` and `torch.manual_seed(s)` respectively.
    """
    ### BEGIN SOLUTION
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds the CPU generator and every CUDA device's
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "seed_everything_test", "points": 1}
def _draws():
    return random.random(), float(np.random.rand()), torch.rand(1).item()


def _check_seed(seed):
    random.seed(999), np.random.seed(999), torch.manual_seed(999)  # move every generator elsewhere first
    seed_everything(seed)
    got = _draws()
    random.seed(seed), np.random.seed(seed), torch.manual_seed(seed)
    want = _draws()
    hints = {"random": "seed Python's generator: random.seed(seed)",
             "numpy": "seed NumPy's global generator: np.random.seed(seed)",
             "torch": "seed torch's default generator: torch.manual_seed(seed)"}
    for (name, hint), g, w in zip(hints.items(), got, want):
        checks.assert_equal("seed_everything", g, w, name=f"the first {name} draw after seed_everything({seed})",
                            hint=hint)


_check_seed(3)
print("seed_everything: visible tests pass")
### BEGIN HIDDEN TESTS
_check_seed(0)
_check_seed(2**32 - 1)
seed_everything(7)
_first = _draws()
seed_everything(7)
checks.assert_equal("seed_everything", list(_draws()), list(_first), name="draws after seeding 7 twice")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: a reproducible training run
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Write `train_run(seed, n_steps)`: build `make_model()`, train it on `(x_train, y_train)` with
# SGD (momentum 0.9) on shuffled minibatches, and return the loss of every step. Dropout is
# on (the model is in training mode), so the run draws random numbers at every step as well
# as at initialisation and for every shuffle.
#
# The test runs it twice with the same seed, with other code using every generator in
# between (as a notebook does), and expects **bitwise equal** lists; another seed must give
# other losses. Bitwise, not "close": if two runs of the same code differ at all, you cannot
# tell a real effect of a change from noise, and a bug that makes runs differ is a bug.
#
# A loss of $\ln 10 \approx 2.30$ at the first step is what an untrained 10-way classifier
# should give (uniform predictions); the test checks that too, and that the loss falls.
#
# <details><summary>Hint</summary>
#
# Call `seed_everything(seed)` at the very *start* of the function, before the model is
# built: everything random after that point is then determined by the seed. A
# `torch.utils.data.DataLoader(TensorDataset(x_train, y_train), batch_size=..., shuffle=True,
# drop_last=True)` reshuffles each time you iterate over it; loop over it again (a new epoch)
# until you have `n_steps` losses. `loss.item()` is a Python float.
# </details>

# %% nbgrader={"solution": true, "grade_id": "train_run"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def train_run(seed: int, n_steps: int, batch_size: int = 32, lr: float = 0.1) -> list[float]:
    """Train `make_model()` on (x_train, y_train) for `n_steps` SGD steps; return the losses.

    seed: int, fixes everything random in the run. n_steps: int >= 0. batch_size: int,
    at most len(x_train); each step uses `batch_size` examples (x float32 (batch_size, 64),
    y int64 (batch_size,)) of a fresh shuffle per epoch, dropping the last incomplete batch,
    and as many epochs as n_steps needs. The model stays in training mode (dropout on).
    Optimizer: torch.optim.SGD(lr=lr, momentum=0.9); loss: F.cross_entropy.
    Returns a list of n_steps Python floats: the loss of each step, before its update.
    Two calls with the same arguments return bitwise-equal lists, whatever ran in between.
    """
    ### BEGIN SOLUTION
    seed_everything(seed)
    model = make_model()
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    dataset = torch.utils.data.TensorDataset(x_train, y_train)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)
    losses = []
    while len(losses) < n_steps:
        for xb, yb in loader:  # each pass over the loader is a new shuffle
            if len(losses) == n_steps:
                break
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "train_run_test", "points": 2}
def _check_loss_list(losses, n):
    checks.assert_true("train_run", isinstance(losses, list), f"train_run should return a list, got {type(losses).__name__}",
                       hint="collect loss.item() of every step in a list and return it")
    checks.assert_equal("train_run", len(losses), n, name="the number of losses")
    bad = [type(v).__name__ for v in losses if type(v) is not float]
    checks.assert_true("train_run", not bad, f"every loss should be a Python float, got {bad[:1]}",
                       hint="loss.item() turns a 0-dim tensor into a float")


def _check_two_runs():
    a = train_run(seed=0, n_steps=60)
    _check_loss_list(a, 60)
    torch.rand(5), np.random.rand(), random.random()  # other code uses the generators in between
    b = train_run(seed=0, n_steps=60)
    checks.assert_equal("train_run", b, a, name="the losses of a second run with seed 0",
                        hint="call seed_everything(seed) at the start of train_run, before the model is built")
    c = train_run(seed=1, n_steps=60)
    checks.assert_true("train_run", c != a, "seeds 0 and 1 gave the same losses: does train_run use its seed?")
    checks.assert_close("train_run", a[0], math.log(10), atol=0.2, rtol=0, name="the first loss",
                        hint="an untrained classifier over 10 classes has a loss near ln 10; is the model new?")
    checks.assert_true("train_run", np.mean(a[-10:]) < np.mean(a[:10]) - 0.5,
                       f"the loss did not fall: mean of the first 10 steps {np.mean(a[:10]):.3f}, "
                       f"of the last 10 {np.mean(a[-10:]):.3f}",
                       hint="zero_grad, backward, step, in that order, at every step")


_check_two_runs()
print("train_run: visible tests pass")
### BEGIN HIDDEN TESTS
checks.assert_equal("train_run", train_run(seed=5, n_steps=0), [], name="the losses of a 0-step run")
# several epochs: 1438 // 200 = 7 batches per epoch, so 16 steps need 3 epochs
_d = train_run(seed=2, n_steps=16, batch_size=200, lr=0.05)
_check_loss_list(_d, 16)
torch.manual_seed(123)
checks.assert_equal("train_run", train_run(seed=2, n_steps=16, batch_size=200, lr=0.05), _d,
                    name="the losses of a 16-step run with batch_size 200 (3 epochs), run twice",
                    hint="reshuffle for every epoch, as many epochs as n_steps needs")
checks.assert_true("train_run", train_run(seed=3, n_steps=16, batch_size=200, lr=0.05) != _d,
                   "seeds 2 and 3 gave the same losses")
### END HIDDEN TESTS

# %% [markdown]
# Two seeds, and the same seed twice: the curves of the same seed lie exactly on top of
# each other (the difference is printed), the other seed follows its own path.

# %%
_runs = {s: train_run(seed=s, n_steps=120) for s in (0, 1)}
_again = train_run(seed=0, n_steps=120)
print("largest difference between two runs with seed 0:", max(abs(a - b) for a, b in zip(_runs[0], _again)))
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(_runs[0], label="seed 0")
ax.plot(_again, "--", label="seed 0, again")
ax.plot(_runs[1], alpha=0.7, label="seed 1")
ax.set(xlabel="step", ylabel="training loss", title="Same seed, same losses")
ax.legend()
plt.show()

# %% [markdown]
# **Threads change the last bits.** A matrix product split across two threads adds its
# partial sums in another order than one thread does, and floating-point addition is not
# associative. Run the same seed with 1 and with 2 threads (the difference is zero on some
# machines and small but not zero on most); then remember that "reproducible" always means
# "on the same set-up", and record the set-up (torch version, device, threads) with every
# result.

# %%
_one = train_run(seed=0, n_steps=20)
torch.set_num_threads(2)
_two = train_run(seed=0, n_steps=20)
torch.set_num_threads(1)
print(f"torch {torch.__version__}; largest difference between 1 and 2 threads over 20 steps: "
      f"{max(abs(a - b) for a, b in zip(_one, _two)):.3g}")

# %% [markdown]
# ## Why this matters for safety
#
# A safety claim is often a claim about a small difference: an intervention lowers a harmful
# behaviour by a few points, or one training method generalises slightly better than another.
# Henderson et al. (2018), "Deep Reinforcement Learning that Matters", showed that runs of the same
# algorithm with different random seeds could differ as much as the algorithms that papers
# compared, so that reported improvements were sometimes seed noise. Bitwise reproducibility, as in
# exercise 2, lets you and a reviewer rerun exactly the experiment behind a figure. Seeds varied on
# purpose, as in lesson 5.1's comparison with a baseline, tell you how much of an effect is noise.
# Both matter more when the result is used to decide whether a model or a mitigation can be trusted.

# %% [markdown]
# ## Part 2: Checkpoint and resume
#
# Long runs get interrupted: a pre-empted machine, a time limit, a crash at step 90,000. A
# checkpoint must hold **everything** the next step depends on, or the resumed run is a
# different run. For the loop below that is:
#
# | state | where it lives | what goes wrong without it |
# |---|---|---|
# | weights | `model.state_dict()` | you start from scratch |
# | Adam's moment estimates and step count | `optimizer.state_dict()` | the first steps after resuming are too large (bias correction restarts) |
# | learning-rate schedule position | `scheduler.state_dict()` | the warm-up or decay starts over |
# | the data order | `data_rng.get_state()` (a `torch.Generator`) | the model sees other batches |
# | dropout's random numbers | `torch.get_rng_state()` (the default generator) | other dropout masks |
# | the step number | an int | logging and the schedule's end go wrong |
#
# `make_training(seed)` builds all of it and `train_steps` runs the loop; read them, they are
# the code you will checkpoint.

# %%
def make_training(seed: int):
    """Model, AdamW, a cosine learning-rate schedule and a data-order generator, from one seed."""
    torch.manual_seed(seed)
    model = make_model(hidden=32, p_drop=0.2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=60)
    data_rng = torch.Generator().manual_seed(seed + 1)
    return model, optimizer, scheduler, data_rng


def train_steps(model, optimizer, scheduler, data_rng, n_steps: int, batch_size: int = 64) -> list[float]:
    """Run n_steps steps on random minibatches of the digits; return the losses."""
    model.train()
    losses = []
    for _ in range(n_steps):
        idx = torch.randint(len(x_train), (batch_size,), generator=data_rng)  # data order: data_rng
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])  # dropout: torch's default generator
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return losses


_m, _o, _s, _g = make_training(0)
print("losses of the first 5 steps:", [round(v, 4) for v in train_steps(_m, _o, _s, _g, 5)])
print("optimizer state of the first weight matrix:", list(_o.state_dict()["state"][0]))
print("scheduler state:", _s.state_dict())

# %% [markdown]
# ## Exercise 3: `save_checkpoint`
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 2 points · about 10 minutes, then look at the hint.
#
# Save one dict with `torch.save`, with exactly these keys:
# `"step"` (int), `"model"`, `"optimizer"`, `"scheduler"` (their `state_dict()`s),
# `"data_rng"` (`data_rng.get_state()`) and `"torch_rng"` (`torch.get_rng_state()`).
#
# Two habits worth having from the start:
# - **Everything must load with `torch.load(path, weights_only=True)`.** Unpickling runs
#   arbitrary code, so `weights_only=True` (torch's default since 2.6) accepts only tensors,
#   numbers, strings and containers of them. State dicts and RNG states (uint8 tensors)
#   qualify; NumPy arrays and arbitrary objects do not.
# - **Write atomically.** A crash in the middle of `torch.save` leaves half a file, and you
#   have just overwritten your last good checkpoint with it. Save to `path + ".tmp"` and then
#   `os.replace(tmp, path)`: a rename is atomic, so `path` is always either the old or the new
#   checkpoint.
#
# <details><summary>Hint</summary>
#
# ```python
# state = {"step": step, "model": model.state_dict(), ...}
# torch.save(state, tmp)
# os.replace(tmp, path)
# ```
# `path` may be a `str` or a `pathlib.Path`: `str(path) + ".tmp"` works for both.
# </details>

# %% nbgrader={"solution": true, "grade_id": "save_checkpoint"} exercise={"difficulty": 2, "importance": 5, "minutes": 10}
CHECKPOINT_KEYS = ("step", "model", "optimizer", "scheduler", "data_rng", "torch_rng")


def save_checkpoint(path, step: int, model: nn.Module, optimizer, scheduler, data_rng: torch.Generator) -> None:
    """Save everything needed to resume training to `path` (str or Path), atomically.

    The file holds one dict with the keys CHECKPOINT_KEYS: "step" (int), "model",
    "optimizer", "scheduler" (their state_dict()), "data_rng" (data_rng.get_state(), a
    uint8 tensor) and "torch_rng" (torch.get_rng_state(), a uint8 tensor). It must load with
    torch.load(path, weights_only=True). Overwrites an existing file. Returns None.
    """
    ### BEGIN SOLUTION
    state = {
        "step": int(step),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "data_rng": data_rng.get_state(),
        "torch_rng": torch.get_rng_state(),
    }
    tmp_path = str(path) + ".tmp"
    torch.save(state, tmp_path)
    os.replace(tmp_path, path)  # atomic: path is always a complete checkpoint
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "save_checkpoint_test", "points": 2}
def _load_saved(path):
    checks.assert_true("save_checkpoint", os.path.isfile(path), f"no file at {path} after save_checkpoint",
                       hint="torch.save(state, ...) and, if you write a .tmp file first, os.replace it onto path")
    try:
        ck = torch.load(path, weights_only=True)
    except Exception as err:
        checks.assert_true("save_checkpoint", False, f"torch.load(path, weights_only=True) failed: {str(err)[:150]}",
                           hint="save only tensors, numbers and state dicts (no NumPy arrays or other objects)")
    checks.assert_true("save_checkpoint", isinstance(ck, dict), f"the checkpoint should be a dict, got {type(ck).__name__}")
    checks.assert_equal("save_checkpoint", sorted(ck), sorted(CHECKPOINT_KEYS), name="the checkpoint's keys")
    return ck


def _check_saved(ck, step, model, optimizer, scheduler, torch_rng, data_rng):
    name = "save_checkpoint"
    checks.assert_equal(name, ck["step"], step, name='ck["step"]')
    for k, v in model.state_dict().items():
        checks.assert_equal(name, ck["model"][k], v, name=f'ck["model"][{k!r}]')
    want = optimizer.state_dict()
    for i, st in want["state"].items():
        for k, v in st.items():
            checks.assert_equal(name, ck["optimizer"]["state"][i][k], v, name=f'ck["optimizer"]["state"][{i}][{k!r}]',
                                hint="save optimizer.state_dict(): Adam's moments live there")
    checks.assert_equal(name, ck["optimizer"]["param_groups"][0]["lr"], want["param_groups"][0]["lr"],
                        name="the saved learning rate")
    checks.assert_equal(name, ck["scheduler"], scheduler.state_dict(), name='ck["scheduler"]')
    checks.assert_equal(name, ck["torch_rng"], torch_rng, name='ck["torch_rng"]',
                        hint="torch.get_rng_state() at the moment of saving")
    checks.assert_equal(name, ck["data_rng"], data_rng, name='ck["data_rng"]', hint="data_rng.get_state()")


with tempfile.TemporaryDirectory() as _tmp:
    _path = os.path.join(_tmp, "ckpt.pt")
    _m, _o, _s, _g = make_training(0)
    train_steps(_m, _o, _s, _g, 5)
    _rng, _drng = torch.get_rng_state(), _g.get_state()
    save_checkpoint(_path, 5, _m, _o, _s, _g)
    _check_saved(_load_saved(_path), 5, _m, _o, _s, _rng, _drng)
print("save_checkpoint: visible tests pass")
### BEGIN HIDDEN TESTS
with tempfile.TemporaryDirectory() as _tmp:
    _path = Path(_tmp) / "ckpt.pt"  # a Path, and a file that already exists
    _m, _o, _s, _g = make_training(1)
    save_checkpoint(_path, 0, _m, _o, _s, _g)
    _check_saved(_load_saved(_path), 0, _m, _o, _s, torch.get_rng_state(), _g.get_state())
    train_steps(_m, _o, _s, _g, 3)
    _rng, _drng = torch.get_rng_state(), _g.get_state()
    save_checkpoint(_path, 3, _m, _o, _s, _g)
    checks.assert_equal("save_checkpoint", torch.get_rng_state(), _rng, name="torch's RNG state after saving",
                        hint="saving must not draw random numbers")
    _check_saved(_load_saved(_path), 3, _m, _o, _s, _rng, _drng)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: `load_checkpoint`, and a resume that leaves no trace
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 15 minutes, then look at the hint.
#
# `load_checkpoint` restores a checkpoint into *fresh* objects (built by `make_training` with
# any seed) and returns the step. The test is the real thing:
#
# ```
# uninterrupted:  make_training(0) ── 40 steps ──────────────────────────────▶ losses L[0:40]
# interrupted:    make_training(0) ── 20 steps ─ save ┐
#                   (other code uses torch's RNG)      │
#                 make_training(123) ── load ─────────┘── 20 steps ─────────▶ losses R[0:20]
# ```
#
# and `L[20:40] == R` must hold **bitwise**.
#
# <details><summary>Hint</summary>
#
# `torch.load(path, weights_only=True)`, then `load_state_dict` on the model, the optimizer
# and the scheduler (optimizer first: the scheduler's state refers to the optimizer's
# learning rate), `data_rng.set_state(...)` and `torch.set_rng_state(...)`. Restoring
# torch's generator must come *last*: nothing may draw a random number between it and the
# next training step.
# </details>

# %% nbgrader={"solution": true, "grade_id": "load_checkpoint"} exercise={"difficulty": 3, "importance": 5, "minutes": 15}
def load_checkpoint(path, model: nn.Module, optimizer, scheduler, data_rng: torch.Generator) -> int:
    """Restore a checkpoint written by save_checkpoint into the given objects; return its step.

    path: str or Path. model, optimizer, scheduler, data_rng: built by make_training (any
    seed); they are modified in place, as is torch's default generator. Returns the int
    saved as "step". After it, training continues exactly as the saved run would have.
    """
    ### BEGIN SOLUTION
    ck = torch.load(path, weights_only=True)
    model.load_state_dict(ck["model"])
    optimizer.load_state_dict(ck["optimizer"])
    scheduler.load_state_dict(ck["scheduler"])
    data_rng.set_state(ck["data_rng"])
    torch.set_rng_state(ck["torch_rng"])
    return int(ck["step"])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "load_checkpoint_test", "points": 3}
def _check_resume(n, fresh_seed, tmp):
    """Train 2n steps straight, then n + save + load into fresh objects + n; compare."""
    path = os.path.join(tmp, "ckpt.pt")
    full = train_steps(*make_training(0), 2 * n)
    m, o, s, g = make_training(0)
    first = train_steps(m, o, s, g, n)
    save_checkpoint(path, n, m, o, s, g)
    rng_at_save = torch.get_rng_state()
    torch.rand(1000)  # other code uses torch's generator between saving and resuming
    m2, o2, s2, g2 = make_training(fresh_seed)
    step = load_checkpoint(path, m2, o2, s2, g2)
    name = "load_checkpoint"
    checks.assert_equal(name, step, n, name="the returned step")
    for (k, v), v2 in zip(m.state_dict().items(), m2.state_dict().values()):
        checks.assert_equal(name, v2, v, name=f"the restored weights {k!r}", hint="model.load_state_dict(ck['model'])")
    checks.assert_equal(name, o2.param_groups[0]["lr"], o.param_groups[0]["lr"], name="the restored learning rate",
                        hint="optimizer.load_state_dict and scheduler.load_state_dict")
    checks.assert_equal(name, s2.last_epoch, s.last_epoch, name="the restored scheduler.last_epoch",
                        hint="scheduler.load_state_dict(ck['scheduler'])")
    checks.assert_equal(name, g2.get_state(), g.get_state(), name="the restored data_rng state",
                        hint="data_rng.set_state(ck['data_rng'])")
    checks.assert_equal(name, torch.get_rng_state(), rng_at_save, name="torch's RNG state after loading",
                        hint="torch.set_rng_state(ck['torch_rng']), after everything else")
    rest = train_steps(m2, o2, s2, g2, n)
    checks.assert_equal(name, first, full[:n], name="the losses before saving")
    checks.assert_equal(name, rest, full[n:], name="the losses after resuming",
                        hint="the optimizer's state (Adam's moments) must be restored too: optimizer.load_state_dict")


with tempfile.TemporaryDirectory() as _tmp:
    _check_resume(20, 123, _tmp)
print("load_checkpoint: visible tests pass")
### BEGIN HIDDEN TESTS
with tempfile.TemporaryDirectory() as _tmp:
    _check_resume(1, 7, _tmp)  # resume right after the first step
    # resume twice in a chain: 3 x 10 steps equal 30 steps straight
    _full = train_steps(*make_training(4), 30)
    _path = os.path.join(_tmp, "chain.pt")
    _objs = make_training(4)
    _got = train_steps(*_objs, 10)
    for _k in (1, 2):
        save_checkpoint(_path, 10 * _k, *_objs)
        torch.rand(3)
        _objs = make_training(100 + _k)
        checks.assert_equal("load_checkpoint", load_checkpoint(_path, *_objs), 10 * _k, name="the returned step")
        _got += train_steps(*_objs, 10)
    checks.assert_equal("load_checkpoint", _got, _full, name="the losses of 3 x 10 resumed steps vs 30 straight")
    # rewinding: load an older checkpoint into objects that trained further
    _objs = make_training(5)
    train_steps(*_objs, 4)
    save_checkpoint(_path, 4, *_objs)
    _ref = train_steps(*_objs, 6)
    checks.assert_equal("load_checkpoint", load_checkpoint(_path, *_objs), 4, name="the returned step")
    checks.assert_equal("load_checkpoint", train_steps(*_objs, 6), _ref,
                        name="the losses after rewinding to step 4 in the same objects")
### END HIDDEN TESTS

# %% [markdown]
# **What just happened.** The resumed run is the *same* run: every number that influences
# step 21 (weights, Adam's two moment estimates and step count, the schedule's position, the
# two generators) came back exactly. Leave one out and the test finds it. Try it: comment
# out the optimizer line in your `load_checkpoint` and rerun the test; the losses after
# resuming differ from the first step on, because Adam's bias correction restarts at step 1
# and takes a step of full size in every direction.
#
# What this loop did *not* need, and a bigger one would: a `DataLoader` iterator part-way
# through an epoch (save the epoch and the position within it, and reseed the sampler per
# epoch), a `GradScaler` for mixed precision (it has a `state_dict` too), NumPy's and
# Python's generators if the data pipeline uses them, and one generator per worker process.

# %% [markdown]
# ## Part 3: Watching a run
#
# ### Early stopping
#
# Validation loss usually falls, flattens and then rises as the model starts to memorise the
# training set. Early stopping watches it and ends the run once it has not improved for
# `patience` epochs in a row. "Improved" means better than the best so far *by more than*
# `min_delta`, so noise of the size of `min_delta` does not count as progress:
#
# $$\text{improved at epoch } t \iff L_t < L_\text{best} - \delta_\text{min}.$$
#
# A loss exactly $\delta_\text{min}$ below the best is *not* an improvement (strict
# inequality, as in Keras and PyTorch Lightning). A NaN or infinite loss stops the run at
# once: nothing good comes after it. Picture it:

# %%
_val = [1.0, 0.7, 0.55, 0.5, 0.49, 0.52, 0.51, 0.56, 0.6, 0.62]
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(_val, "o-", label="validation loss")
ax.axhline(0.5 - 0.02, color="gray", ls=":", label="best − min_delta after epoch 3 (0.48)")
ax.axvspan(3.5, 6.5, color="tab:red", alpha=0.1, label="3 epochs without improvement")
ax.axvline(6, color="tab:red", label="stop (patience 3)")
ax.set(xlabel="epoch", ylabel="loss", title="patience=3, min_delta=0.02: 0.49 is not enough of an improvement")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Exercise 5: `EarlyStopping`
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 15 minutes, then look at the hint.
#
# A class with `step(val_loss) -> bool`, called once per epoch (epochs numbered 0, 1, ...),
# that returns `True` when training should stop. It keeps `best` (the best loss so far,
# `math.inf` before the first call), `best_epoch` (the epoch of `best`, `-1` before the first
# improvement) and `bad_epochs` (the number of epochs in a row without improvement). With the
# picture above, `step` returns `False` for epochs 0 to 5 and `True` at epoch 6, with
# `best == 0.5`, `best_epoch == 3`, `bad_epochs == 3`.
#
# <details><summary>Hint</summary>
#
# Count the epoch first. If the loss is not finite (`math.isfinite`), return `True` and touch
# nothing else. Otherwise compare with `self.best - self.min_delta` (with `best = inf`, the
# first finite loss always improves), update `best`/`best_epoch` and reset `bad_epochs` on an
# improvement, else add one to `bad_epochs`; return `self.bad_epochs >= self.patience`.
# Accept a 0-dim tensor as well as a float: `float(val_loss)`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "early_stopping"} exercise={"difficulty": 2, "importance": 3, "minutes": 15}
class EarlyStopping:
    """Stop when the validation loss has not improved by more than min_delta for `patience` epochs.

    patience: int >= 1. min_delta: float >= 0. Attributes: best (float, math.inf at first),
    best_epoch (int, -1 at first), bad_epochs (int, 0 at first).
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0):
        ### BEGIN SOLUTION
        self.patience = patience
        self.min_delta = min_delta
        self.best = math.inf
        self.best_epoch = -1
        self.bad_epochs = 0
        self.epoch = -1
        ### END SOLUTION

    def step(self, val_loss) -> bool:
        """Record one epoch's validation loss (float or 0-dim tensor); return True to stop.

        Improvement: val_loss < best - min_delta (strictly). A NaN or infinite val_loss
        returns True and changes neither best nor best_epoch.
        """
        ### BEGIN SOLUTION
        self.epoch += 1
        val_loss = float(val_loss)
        if not math.isfinite(val_loss):
            return True
        if val_loss < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = val_loss, self.epoch, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "early_stopping_test", "points": 2}
def _first_stop(losses, patience, min_delta=0.0):
    """Feed the losses in; return (the epoch of the first True or None, the stopper)."""
    es = EarlyStopping(patience=patience, min_delta=min_delta)
    for epoch, loss in enumerate(losses):
        if es.step(loss):
            return epoch, es
    return None, es


def _check_stop(losses, patience, min_delta, want_epoch, want_best, want_best_epoch, hint=None):
    what = f"losses {losses}, patience {patience}, min_delta {min_delta}"
    epoch, es = _first_stop(losses, patience, min_delta)
    said = "never stops" if epoch is None else f"stops at epoch {epoch}"
    want = "never stops" if want_epoch is None else f"stops at epoch {want_epoch}"
    checks.assert_equal("early_stopping", said, want, name=f"when step() first returns True for {what}", hint=hint)
    checks.assert_equal("early_stopping", es.best, want_best, name=f"best for {what}")
    checks.assert_equal("early_stopping", es.best_epoch, want_best_epoch, name=f"best_epoch for {what}")


_check_stop([1.0, 0.7, 0.55, 0.5, 0.49, 0.52, 0.51, 0.56, 0.6, 0.62], 3, 0.02, 6, 0.5, 3)
_check_stop([1.0, 0.8, 0.9, 0.85, 0.81, 0.7], 3, 0.0, 4, 0.8, 1,
            hint="stop once bad_epochs reaches patience (>=), counting consecutive epochs without improvement")
_check_stop([1.0, 0.75, 0.5], 1, 0.25, 1, 1.0, 0,
            hint="an improvement of exactly min_delta is NOT an improvement: use val_loss < best - min_delta")
print("early_stopping: visible tests pass")
### BEGIN HIDDEN TESTS
_check_stop([3.0, 2.0, 1.0, 0.5], 2, 0.0, None, 0.5, 3)  # never stops
_check_stop([1.0, 2.0, 3.0, 0.5, 2.0, 3.0, 4.0], 3, 0.0, 6, 0.5, 3,
            hint="an improvement resets the count of bad epochs to 0")
_check_stop([1.0, 0.5, float("nan"), 0.1], 5, 0.0, 2, 0.5, 1, hint="a NaN loss stops at once")
_check_stop([float("nan")], 5, 0.0, 0, math.inf, -1, hint="a NaN loss stops at once and leaves best untouched")
_check_stop([2.0, float("inf")], 5, 0.0, 1, 2.0, 0, hint="an infinite loss stops at once too")
_check_stop([1.0, 1.0], 1, 0.0, 1, 1.0, 0, hint="an equal loss is not an improvement")
_check_stop([torch.tensor(1.0), torch.tensor(0.875), torch.tensor(0.875)], 1, 0.0, 2, 0.875, 1)
_e, _es = _first_stop([1.0, 0.9, 0.95, 0.97], 2, 0.0)
checks.assert_equal("early_stopping", _es.bad_epochs, 2, name="bad_epochs when it stops")
checks.assert_equal("early_stopping", EarlyStopping().bad_epochs, 0, name="bad_epochs before the first step")
### END HIDDEN TESTS

# %% [markdown]
# The stopper in a real loop: full-batch training on only 150 digits over-fits fast. We keep
# the weights of the best epoch (a copy of the `state_dict`) and put them back at the end,
# which is what "early stopping" means in practice.

# %%
torch.manual_seed(0)
_model = make_model(hidden=256, p_drop=0.0)
_opt = torch.optim.Adam(_model.parameters(), lr=3e-3)
_xs, _ys, _xv, _yv = x_train[:150], y_train[:150], x_test, y_test
_stopper, _best_state, _hist = EarlyStopping(patience=20, min_delta=1e-3), None, []
for _epoch in range(400):
    _model.train()
    _loss = F.cross_entropy(_model(_xs), _ys)
    _opt.zero_grad()
    _loss.backward()
    _opt.step()
    _model.eval()
    with torch.no_grad():
        _vl = F.cross_entropy(_model(_xv), _yv).item()
    _hist.append((_loss.item(), _vl))
    _stop = _stopper.step(_vl)
    if _stopper.best_epoch == _epoch:
        _best_state = {k: v.clone() for k, v in _model.state_dict().items()}
    if _stop:
        break
_model.load_state_dict(_best_state)
print(f"stopped at epoch {_epoch}; best validation loss {_stopper.best:.4f} at epoch {_stopper.best_epoch}")
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot([h[0] for h in _hist], label="train loss (150 examples)")
ax.plot([h[1] for h in _hist], label="validation loss")
ax.axvline(_stopper.best_epoch, color="gray", ls=":", label="best epoch (weights restored)")
ax.axvline(_epoch, color="tab:red", label="stopped")
ax.set(xlabel="epoch", ylabel="loss", yscale="log")
ax.legend()
plt.show()

# %% [markdown]
# ### Gradient clipping
#
# One bad batch can produce a gradient a hundred times larger than usual, and one step along
# it can throw the weights somewhere the run never recovers from (a loss spike). Clipping by
# the *global* norm rescales all gradients together so their joint norm is at most
# `max_norm`, keeping the *direction* of the step and only shortening it.
#
# With the gradients $g_1, \dots, g_k$ of the parameters (those whose `.grad` is not `None`)
# seen as one long vector,
#
# $$\|g\|_p = \Big\|\big(\|g_1\|_p, \dots, \|g_k\|_p\big)\Big\|_p, \qquad
# c = \min\Big(1,\ \frac{\text{max\_norm}}{\|g\|_p + 10^{-6}}\Big), \qquad g_i \leftarrow c\, g_i,$$
#
# where $\|v\|_p = (\sum_j |v_j|^p)^{1/p}$ and $\|v\|_\infty = \max_j |v_j|$. (The norm of
# the norms is the norm of the concatenation, for every $p$.) The $10^{-6}$ keeps a zero
# gradient from dividing by zero. It returns $\|g\|_p$ *before* clipping: log it, it is one
# of the most useful curves of a run. A worked example: gradients $(3, 4)$ and $(12,)$ have
# 2-norms $5$ and $12$, so $\|g\|_2 = \sqrt{25 + 144} = 13$; with `max_norm=1.3` each is
# multiplied by $1.3 / 13.000001 \approx 0.1$.

# %%
_rng = np.random.default_rng(3)
_vecs = _rng.normal(size=(8, 2)) * _rng.uniform(0.3, 2.5, size=(8, 1))
fig, ax = plt.subplots(figsize=(4, 4))
ax.add_patch(plt.Circle((0, 0), 1.0, fill=False, ls="--", color="gray"))
for v in _vecs:
    n = np.linalg.norm(v)
    c = min(1.0, 1.0 / (n + 1e-6))
    ax.annotate("", xy=v, xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="lightgray"))
    ax.annotate("", xy=c * v, xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="tab:blue"))
ax.set(xlim=(-3, 3), ylim=(-3, 3), aspect="equal", title="clip to max_norm = 1: grey before, blue after")
plt.show()

# %% [markdown]
# ## Exercise 6: `clip_grad_norm`
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 15 minutes, then look at the hint.
#
# Write `clip_grad_norm(parameters, max_norm, norm_type)` that does what
# `torch.nn.utils.clip_grad_norm_` does: modify the gradients in place, return the total
# norm. `parameters` may be a single tensor, a list, or a generator such as
# `model.parameters()` (which you can iterate over only once). Parameters whose `.grad` is
# `None` (frozen or unused) are skipped; with no gradients at all, return `torch.tensor(0.0)`.
#
# <details><summary>Hint</summary>
#
# **The idea.** One norm for all gradients together: the norm of the per-tensor norms. If it is
# above `max_norm`, scale every gradient by the same factor, in place; return the norm from before.
#
# **A pointer.** Accept a single tensor too, and skip parameters without a gradient (collect them
# in a list first: a generator can be iterated only once). `torch.linalg.vector_norm` takes any
# shape and `ord=inf`. The factor is `max_norm / (total + 1e-6)`, capped at 1; `mul_` changes a
# gradient in place, `g = g * c` only rebinds a name.
# </details>

# %% nbgrader={"solution": true, "grade_id": "clip_grad_norm"} exercise={"difficulty": 2, "importance": 4, "minutes": 15}
def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0) -> torch.Tensor:
    """Scale the gradients in place so their global p-norm is at most max_norm.

    parameters: a tensor, or an iterable (list, generator) of tensors; those with
    .grad None are skipped. max_norm: float > 0 (may be inf). norm_type: p >= 1 or
    float("inf"). Returns the total norm of all gradients before clipping: a 0-dim tensor
    of the gradients' dtype (torch.tensor(0.0) when there are none). Every gradient is
    multiplied by min(1, max_norm / (total + 1e-6)).
    """
    ### BEGIN SOLUTION
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = torch.stack([torch.linalg.vector_norm(g, norm_type) for g in grads])
    total = torch.linalg.vector_norm(norms, norm_type)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef)
    return total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "clip_grad_norm_test", "points": 2}
def _param_pairs(seed, scale, shapes=((4, 3), (3,), (2, 2)), none_at=(2,), dtype=torch.float32):
    """Two identical lists of parameters with gradients (None at the indices none_at)."""
    gen = torch.Generator().manual_seed(seed)
    ours, theirs = [], []
    for i, shape in enumerate(shapes):
        p = torch.randn(shape, generator=gen, dtype=dtype)
        a, b = p.clone().requires_grad_(), p.clone().requires_grad_()
        if i not in none_at:
            g = scale * torch.randn(shape, generator=gen, dtype=dtype)
            a.grad, b.grad = g.clone(), g.clone()
        ours.append(a)
        theirs.append(b)
    return ours, theirs


def _check_clip(ours, theirs, max_norm, norm_type=2.0, what="", hint=None):
    total = clip_grad_norm(ours, max_norm, norm_type)
    want = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    checks.assert_close("clip_grad_norm", total, want, name=f"the returned total norm {what}", hint=hint)
    pairs = [(ours, theirs)] if isinstance(ours, torch.Tensor) else zip(ours, theirs)
    for i, (a, b) in enumerate(pairs):
        if b.grad is None:
            checks.assert_true("clip_grad_norm", a.grad is None, f"parameter {i} had grad None and should keep it {what}")
        else:
            checks.assert_close("clip_grad_norm", a.grad, b.grad, name=f"parameter {i}'s gradient after clipping {what}",
                                hint=hint or "scale every gradient in place by min(1, max_norm / (total + 1e-6))")


_check_clip(*_param_pairs(0, 5.0), 1.0, what="(large gradients, one grad None)",
            hint="the total norm is the norm of all gradients together, before clipping")
_check_clip(*_param_pairs(1, 0.01), 1.0, what="(small gradients: nothing to clip)",
            hint="never scale a gradient up: the coefficient is at most 1")
_check_clip(*_param_pairs(2, 5.0), 0.5, float("inf"), what="(norm_type inf)",
            hint="the inf-norm is the largest absolute entry over all gradients")
print("clip_grad_norm: visible tests pass")
### BEGIN HIDDEN TESTS
_check_clip(*_param_pairs(3, 5.0), float("inf"), what="(max_norm inf)")
_check_clip(*_param_pairs(4, 5.0), 2.0, 1.0, what="(norm_type 1)")
_check_clip(*_param_pairs(5, 3.0, dtype=torch.float64), 0.1, what="(float64)")
_o, _t = _param_pairs(6, 4.0, none_at=())
_check_clip(_o[0], _t[0], 1.0, what="(a single tensor)", hint="a single tensor is one parameter: wrap it in a list")
_o, _t = _param_pairs(7, 4.0, none_at=())
_check_clip(iter(_o), iter(_t), 1.0, what="(a generator)",
            hint="a generator can be iterated only once: make a list first")
for _p in _o:
    checks.assert_true("clip_grad_norm", _p.grad.norm() <= 1.0 + 1e-4,
                       "after clipping a generator of parameters, a gradient is still too large",
                       hint="a generator can be iterated only once: make a list first")
_o, _t = _param_pairs(8, 1.0, none_at=(0, 1, 2))
_got = clip_grad_norm(_o, 1.0)
checks.assert_close("clip_grad_norm", _got, torch.tensor(0.0), name="the total norm with every grad None")
_a = torch.zeros(3, 5, requires_grad=True)
_b = torch.zeros(3, 5, requires_grad=True)
_g = torch.randn(5, 3, generator=torch.Generator().manual_seed(9)) * 4
_a.grad, _b.grad = _g.clone().T, _g.clone().T  # non-contiguous gradients
_check_clip([_a], [_b], 1.0, what="(a non-contiguous gradient)", hint="use reshape or vector_norm, not .view")
_o, _t = _param_pairs(10, 0.0, none_at=())
_check_clip(_o, _t, 1.0, what="(all-zero gradients)")
### END HIDDEN TESTS

# %% [markdown]
# In a training loop clipping goes between `backward()` and `step()`, and the returned norm
# is worth logging every step:
#
# ```python
# loss.backward()
# grad_norm = clip_grad_norm(model.parameters(), max_norm=1.0)
# optimizer.step()
# ```
#
# ### Hunting a NaN
#
# A NaN anywhere in a forward pass spreads to everything downstream: by the time you see
# `loss = nan`, every activation after the culprit is NaN too, and the final output tells
# you nothing about where it started. The usual births of a NaN or inf:
# `log(0) = -inf`, `sqrt(x < 0) = nan`, `0 / 0 = nan`, `exp(large) = inf`, then
# `inf - inf = nan` and `0 * inf = nan` downstream.
#
# **Forward hooks** find it. `module.register_forward_hook(fn)` makes torch call
# `fn(module, inputs, output)` right after `module.forward` returns, and gives back a handle
# whose `.remove()` unregisters it. A module finishes *after* its children (the whole model
# last), so the first hook to see a non-finite output belongs to the module where the NaN
# was born, in *execution* order, which need not be the order the modules were defined in.
#
# Here is a model with a planted bug. Its output is all NaN; which module is to blame?

# %%
class LogFeatures(nn.Module):
    """log-compress features: fine for positive inputs, -inf for a 0."""

    def forward(self, x):
        return torch.log(x)


class PlantedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, 32), nn.ReLU())
        self.features = LogFeatures()
        self.mixer = nn.Sequential(nn.Linear(32, 32), nn.Tanh())
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(self.mixer(self.features(self.encoder(x))))


torch.manual_seed(0)
planted = PlantedNet()
_x_nan = x_test[:16]
print("output:", planted(_x_nan)[0, :4], "...")
print("modules in definition order:", [name for name, _ in planted.named_modules()])

# %% [markdown]
# ## Exercise 7: `find_nan_source`
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 20 minutes, then look at the hint.
#
# Return the name (as in `model.named_modules()`; the model itself is `""`) of the first
# module, in execution order, whose output contains a NaN or an inf; `None` if there is none.
# An output may be a tensor or a tuple/list of tensors (check every tensor in it; ignore
# anything else). Leave the model as you found it: remove every hook, even when the forward
# pass raises.
#
# <details><summary>Hint</summary>
#
# ```python
# found = []
# def make_hook(name):
#     def hook(module, inputs, output):
#         ...  # if found is empty and some tensor in output is not all finite: found.append(name)
#     return hook
# handles = [m.register_forward_hook(make_hook(name)) for name, m in model.named_modules()]
# try:
#     with torch.no_grad():
#         model(x)
# finally:
#     for h in handles:
#         h.remove()
# ```
# `torch.isfinite(t).all()` is False when `t` has a NaN or an inf. The `make_hook(name)`
# factory matters: a `lambda` defined in the loop would see only the last `name`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "find_nan_source"} exercise={"difficulty": 3, "importance": 4, "minutes": 20}
def find_nan_source(model: nn.Module, x: torch.Tensor) -> str | None:
    """Name of the first module (execution order) whose output has a NaN or inf, else None.

    model: any nn.Module; x: its input, e.g. float32 (batch, features). Runs one forward
    pass without gradients. Names are those of model.named_modules() ("" is the model
    itself). Every hook registered is removed before returning.
    """
    ### BEGIN SOLUTION
    found: list[str] = []

    def tensors_in(output):
        if isinstance(output, torch.Tensor):
            return [output]
        if isinstance(output, (tuple, list)):
            return [t for o in output for t in tensors_in(o)]
        return []

    def hook_for(name):
        def record(module, inputs, output):
            if not found and any(not torch.isfinite(t).all() for t in tensors_in(output)):
                found.append(name)
        return record

    handles = [module.register_forward_hook(hook_for(name)) for name, module in model.named_modules()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return found[0] if found else None
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "find_nan_source_test", "points": 3}
def _check_no_hooks(model):
    left = [name for name, m in model.named_modules() if m._forward_hooks]
    checks.assert_true("find_nan_source", not left, f"hooks are still registered on {left[:3]} after find_nan_source",
                       hint="keep the handles of register_forward_hook and call .remove() on each (in a finally:)")


checks.assert_equal("find_nan_source", find_nan_source(planted, _x_nan), "features", name="the culprit in PlantedNet",
                    hint="report the FIRST module whose output is not finite; torch.isfinite(t).all() checks a tensor")
_check_no_hooks(planted)
torch.manual_seed(0)
_healthy = make_model()
checks.assert_equal("find_nan_source", find_nan_source(_healthy, x_test[:16]), None, name="the culprit in a healthy model",
                    hint="return None when every output is finite")
_check_no_hooks(_healthy)
print("find_nan_source: visible tests pass")
### BEGIN HIDDEN TESTS
class _Sqrt(nn.Module):
    def forward(self, x):
        return torch.sqrt(x)


class _Deep(nn.Module):
    """The bug sits in a nested module: blocks.1.2 (sqrt of a negative)."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(64, 16), nn.ReLU()),
                                     nn.Sequential(nn.Linear(16, 16), nn.Tanh(), _Sqrt()),
                                     nn.Sequential(nn.Linear(16, 10))])

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


class _Reordered(nn.Module):
    """Modules defined in another order than they run: head (defined first) is NaN too, but later."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8, 3)
        self.norm = nn.LayerNorm(8)
        self.gate = _Exp()
        self.proj = nn.Linear(64, 8)

    def forward(self, x):
        return self.head(self.norm(self.gate(1000 * self.proj(x))))


class _Exp(nn.Module):
    def forward(self, x):
        return torch.exp(x)


class _Pair(nn.Module):
    def forward(self, x):
        return x, 1.0 / (x - x)  # second output is NaN/inf


class _TupleOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(64, 8)
        self.split = _Pair()
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        a, b = self.split(self.lin(x))
        return self.out(a), b


class _OwnBug(nn.Module):
    """Every submodule is fine; the model's own forward divides 0 by 0."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(64, 4)

    def forward(self, x):
        h = torch.relu(self.lin(x)) * 0
        return h / h.sum()


class _Raises(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(64, 4)

    def forward(self, x):
        self.lin(x)
        raise ValueError("boom")


torch.manual_seed(1)
for _model, _want in ((_Deep(), "blocks.1.2"), (_Reordered(), "gate"), (_TupleOut(), "split"), (_OwnBug(), "")):
    checks.assert_equal("find_nan_source", find_nan_source(_model, x_test[:8]), _want,
                        name=f"the culprit in a hidden variant ({type(_model).__name__.strip('_')})",
                        hint="first in EXECUTION order (the first hook to fire), tuples of tensors included, "
                             "the model itself is ''")
    _check_no_hooks(_model)
_model = _Raises()
try:
    find_nan_source(_model, x_test[:8])
except ValueError:
    pass
_check_no_hooks(_model)
### END HIDDEN TESTS

# %% [markdown]
# **What just happened.** The NaN's family tree, for `PlantedNet`: `encoder` ends in a ReLU,
# so some features are exactly 0; `features` takes their log, $-\infty$; `mixer`'s linear
# layer adds $+\infty$ and $-\infty$ from weights of both signs, NaN; everything after is
# NaN. The hooks fired in the order `encoder.0, encoder.1, encoder, features, ...`, and
# `features` was the first with a non-finite output. The fix is in `features`
# (`torch.log(x + eps)`, or `log1p`), not in the layer where the loss turned NaN.
#
# **NaNs born in the backward pass.** Sometimes the forward pass is finite and only a
# gradient is NaN: $\sqrt{u}$ at $u = 0$ is $0$, but its derivative $1/(2\sqrt{u})$ is
# infinite, and the chain rule then multiplies it by $0$. The norm of a zero vector is the
# classic case. `torch.autograd.detect_anomaly()` checks the output of every backward
# function and raises at the first NaN, naming the function (and it prints the traceback of
# the forward operation that created it). Below it names `PowBackward0`, the backward of
# `v**2`, not the square root: `SqrtBackward0` returned $+\infty$ (anomaly mode looks for
# NaN only), and the NaN was born one step later, where that $\infty$ met the $0$ of
# $\partial (v^2) / \partial v = 2v$. Anomaly mode slows everything down: use it to debug,
# never to train.

# %%
_v = torch.zeros(3, requires_grad=True)  # e.g. a difference of two equal embeddings
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # anomaly mode warns on entry and prints the forward traceback
    with torch.autograd.detect_anomaly():
        try:
            _norm = torch.sqrt((_v**2).sum())
            print("forward is finite:", _norm.item())
            _norm.backward()
        except RuntimeError as err:
            print("detect_anomaly:", str(err).splitlines()[0])

# %% [markdown]
# ## Part 4: Finding out why it is slow
#
# Below is a data pipeline. The data arrive as text records (`"label|p0,p1,...,p63"`, as
# from a CSV file), `decode` parses one, and `slow_batches` yields standardised, shuffled
# minibatches for several epochs. It works and it is slow. Do not guess why: *measure*.
# `cProfile` records every Python function call; sorted by `tottime` (time inside the
# function itself) the top entries say where the time goes.

# %%
CALLS = Counter()  # how many times decode runs


def decode(record: str) -> tuple[torch.Tensor, int]:
    """Parse 'label|p0,...,p63' into (float32 pixels of shape (64,) in [0, 1], int label)."""
    CALLS["decode"] += 1
    label, pixels = record.split("|")
    x = torch.tensor([int(v) for v in pixels.split(",")], dtype=torch.float32) / 16.0
    return x, int(label)


RECORDS = [f"{int(y)}|" + ",".join(str(v) for v in (16 * x).round().int().tolist()) for x, y in zip(x_train, y_train)]
PIXEL_MEAN = x_train.mean(dim=0)
PIXEL_STD = x_train.std(dim=0) + 0.1  # + 0.1: some border pixels are always 0


def slow_batches(records: list[str], batch_size: int, n_epochs: int, seed: int):
    """Yield (x float32 (b, 64) standardised, y int64 (b,)) minibatches, reshuffled each epoch."""
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n_epochs):
        order = torch.randperm(len(records), generator=gen)
        for start in range(0, len(records), batch_size):
            xs, ys = [], []
            for i in order[start : start + batch_size].tolist():
                x, y = decode(records[i])
                xs.append((x - PIXEL_MEAN) / PIXEL_STD)
                ys.append(y)
            yield torch.stack(xs), torch.tensor(ys)


print(RECORDS[0][:70], "...")
_profile = cProfile.Profile()
_profile.enable()
_batches = list(slow_batches(RECORDS, batch_size=64, n_epochs=3, seed=0))
_profile.disable()
_out = io.StringIO()
pstats.Stats(_profile, stream=_out).sort_stats("tottime").print_stats(8)
print("\n".join(line for line in _out.getvalue().splitlines() if line.strip())[:2500])
print(f"decode ran {CALLS['decode']} times for {len(RECORDS)} records")

# %% [markdown]
# Read the profile (`tottime`: time in the function itself; `cumtime`: including what it
# calls). Nearly all of it is below `decode`: `torch.tensor` on a list of 64 Python ints,
# the list comprehension that parses them (`<listcomp>`; Python 3.12 and later inline it
# into `decode`), and `decode`'s own string work. And `decode` ran $3 \times 1438$ times:
# every record is parsed again in every epoch although it never changes. What is left
# (`slow_batches`' own time) is per-example tensor work: a subtraction and a division for
# each of the 64 examples of a batch, each paying Python's and torch's per-call overhead
# for 64 numbers.
#
# ## Exercise 8: `fast_batches`
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 20 minutes, then look at the hint.
#
# Write `fast_batches` with the signature of `slow_batches` that yields **exactly the same
# batches** (bitwise) and calls `decode` **at most once per record** (the test counts the
# calls in `CALLS["decode"]`). Decode everything once, up front, into one tensor; standardise
# it in one operation; then each batch is one indexing operation.
#
# Bitwise the same? Standardising one row at a time or the whole matrix at once performs the
# same float32 subtraction and division on every element, so the results are identical. The
# random order must come from the same generator calls in the same order.
#
# <details><summary>Hint</summary>
#
# ```python
# pairs = [decode(r) for r in records]
# X = (torch.stack([p[0] for p in pairs]) - PIXEL_MEAN) / PIXEL_STD   # (n, 64)
# Y = torch.tensor([p[1] for p in pairs], dtype=torch.int64)          # (n,)
# ```
# Then copy the loops of `slow_batches`, replacing the inner loop with
# `idx = order[start : start + batch_size]` and `yield X[idx], Y[idx]`. With an empty list
# of records `torch.stack` fails: there are no batches then, so return before stacking.
# </details>

# %% nbgrader={"solution": true, "grade_id": "fast_batches"} exercise={"difficulty": 3, "importance": 4, "minutes": 20}
def fast_batches(records: list[str], batch_size: int, n_epochs: int, seed: int):
    """The batches of slow_batches(records, batch_size, n_epochs, seed), bitwise, computed fast.

    records: list of 'label|p0,...,p63' strings; yields (x float32 (b, 64), y int64 (b,))
    with b = batch_size except for a smaller last batch of each epoch. Calls decode at most
    once per record. May be a generator function.
    """
    ### BEGIN SOLUTION
    if not records or n_epochs <= 0:
        return
    decoded = [decode(record) for record in records]  # the only parsing: once per record
    X = (torch.stack([x for x, _ in decoded]) - PIXEL_MEAN) / PIXEL_STD  # (n, 64), one operation
    Y = torch.tensor([y for _, y in decoded], dtype=torch.int64)  # (n,)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n_epochs):
        order = torch.randperm(len(records), generator=gen)
        for start in range(0, len(records), batch_size):
            idx = order[start : start + batch_size]
            yield X[idx], Y[idx]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "fast_batches_test", "points": 3}
def _check_fast(records, batch_size, n_epochs, seed):
    what = f"({len(records)} records, batch_size {batch_size}, {n_epochs} epochs, seed {seed})"
    want = list(slow_batches(records, batch_size, n_epochs, seed))
    CALLS["decode"] = 0
    out = fast_batches(records, batch_size, n_epochs, seed)
    checks.assert_true("fast_batches", out is not None, "fast_batches returned None",
                       hint="yield the batches (a generator function) or return a list of them")
    got = list(out)
    checks.assert_true("fast_batches", CALLS["decode"] <= len(records),
                       f"decode ran {CALLS['decode']} times for {len(records)} records {what}",
                       hint="decode every record once, before the epoch loop, and reuse the result")
    checks.assert_equal("fast_batches", len(got), len(want), name=f"the number of batches {what}")
    for i, ((gx, gy), (wx, wy)) in enumerate(zip(got, want)):
        checks.assert_equal("fast_batches", gx, wx, name=f"x of batch {i} {what}",
                            hint="same generator, same torch.randperm calls in the same order; standardise with "
                                 "PIXEL_MEAN and PIXEL_STD")
        checks.assert_equal("fast_batches", gy, wy, name=f"y of batch {i} {what}")


_check_fast(RECORDS, 64, 3, 0)
print("fast_batches: visible tests pass")
### BEGIN HIDDEN TESTS
_check_fast(RECORDS[:100], 7, 2, 5)  # a smaller last batch in each epoch
_check_fast(RECORDS[:10], 64, 3, 1)  # one batch per epoch, smaller than batch_size
_check_fast(RECORDS[:5], 1, 1, 2)
_check_fast(RECORDS[:20], 4, 0, 3)  # no epochs: no batches
_check_fast(RECORDS[::-1][:300], 100, 2, 4)
### END HIDDEN TESTS

# %% [markdown]
# The speed-up, measured (not graded: timings depend on the machine and on what else runs).

# %%
def _time(fn, repeat=3):
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in fn(RECORDS, 64, 5, 0):
            pass
        best = min(best, time.perf_counter() - t0)
    return best


_t_slow, _t_fast = _time(slow_batches), _time(fast_batches)
print(f"5 epochs: slow {1000 * _t_slow:.0f} ms, fast {1000 * _t_fast:.0f} ms, speed-up {_t_slow / _t_fast:.1f}x")

# %% [markdown]
# **What just happened.** The fast version does the same arithmetic minus the repetition:
# the parsing happens once instead of once per epoch, and the per-example tensor operations
# became three whole-matrix ones. At 5 epochs the parsing (done once either way) is most of
# what remains, so the speed-up grows with the number of epochs. The profile told us where
# to look; the counter in the test makes sure the fix stays fixed. For a training step
# rather than Python code, `torch.profiler.profile()` plays `cProfile`'s role and shows time
# per torch operator.
#
# ## Part 5: A logged sweep
#
# A sweep trains the same model under several configurations. Three rules keep its results
# trustworthy:
# 1. **Write every run down the moment it finishes**, config and metrics together, one JSON
#    object per line ("JSON lines"). Appending a line does not touch earlier results, and a
#    crash loses at most the run in progress.
# 2. **Resume, do not restart**: configs already in the file are skipped.
# 3. **Read the file, not your memory**: plots and tables come from the file.
#
# A run killed in the middle of writing leaves a last line without its end (a partial
# JSON object). A reader must tolerate that, and only that: a bad line in the *middle* of the
# file means something else is wrong, and should fail loudly.
#
# ```
# {"config": {"lr": 0.1, "hidden": 16}, "metrics": {"test_acc": 0.93, "final_loss": 0.21}, "seconds": 0.2}
# {"config": {"lr": 0.3, "hidden": 16}, "metrics": {"test_acc": 0.95, "final_loss": 0.12}, "seconds": 0.2}
# {"config": {"lr": 1.0, "hid
# ```
#
# ## Exercise 9: `load_results`
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# `Path(path).read_text().splitlines()`, skip lines that are empty after `.strip()`, and
# `json.loads` the others. When one fails (`json.JSONDecodeError`), ignore it if it is the
# last non-empty line, else raise a `ValueError` that names the line number.
# </details>

# %% nbgrader={"solution": true, "grade_id": "load_results"} exercise={"difficulty": 2, "importance": 3, "minutes": 10}
def load_results(path) -> list[dict]:
    """Read a JSON-lines results file: one dict per non-blank line, in file order.

    path: str or Path. A missing file gives []. Blank lines are skipped. A last line that
    is not valid JSON (a write cut short) is ignored; an invalid line anywhere else raises
    ValueError naming its line number (1-based).
    """
    ### BEGIN SOLUTION
    path = Path(path)
    if not path.exists():
        return []
    lines = [(n, line) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if line.strip()]
    records = []
    for k, (n, line) in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            if k == len(lines) - 1:
                break  # a write cut short
            raise ValueError(f"{path}: line {n} is not valid JSON: {err}") from err
    return records
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "load_results_test", "points": 2}
_recs = [{"config": {"lr": 0.1, "hidden": 16}, "metrics": {"acc": 0.5}},
         {"config": {"lr": 0.3, "hidden": 16}, "metrics": {"acc": 0.75, "curve": [1.0, 0.5]}}]
with tempfile.TemporaryDirectory() as _tmp:
    _path = Path(_tmp) / "results.jsonl"
    _path.write_text("".join(json.dumps(r) + "\n" for r in _recs))
    checks.assert_equal("load_results", load_results(_path), _recs, name="the records of a 2-line file")
    _path.write_text("".join(json.dumps(r) + "\n" for r in _recs) + '{"config": {"lr": 1.0, "hid')
    checks.assert_equal("load_results", load_results(str(_path)), _recs, name="the records of a file cut short",
                        hint="ignore a last line that is not valid JSON (a write cut short)")
print("load_results: visible tests pass")
### BEGIN HIDDEN TESTS
with tempfile.TemporaryDirectory() as _tmp:
    _path = Path(_tmp) / "results.jsonl"
    checks.assert_equal("load_results", load_results(_path), [], name="the records of a missing file")
    _path.write_text("")
    checks.assert_equal("load_results", load_results(_path), [], name="the records of an empty file")
    _path.write_text("\n" + json.dumps(_recs[0]) + "\n\n" + json.dumps(_recs[1]) + "\n\n")
    checks.assert_equal("load_results", load_results(_path), _recs, name="the records of a file with blank lines")
    _path.write_text(json.dumps(_recs[0]) + "\n" + json.dumps(_recs[1]))  # no final newline, but complete
    checks.assert_equal("load_results", load_results(_path), _recs, name="the records when the last line has no newline")
    _path.write_text(json.dumps(_recs[0]) + "\n{oops\n" + json.dumps(_recs[1]) + "\n")
    checks.assert_raises("load_results", ValueError, load_results, _path, match="2",
                         hint="a bad line in the middle is an error: raise ValueError with its line number")
    _path.write_text('{"config": {"lr"')
    checks.assert_equal("load_results", load_results(_path), [], name="the records of a file holding only a cut line")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 10: `run_sweep`
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 20 minutes, then look at the hint.
#
# `run_sweep(configs, path, train_fn)` runs `train_fn(**config)` (which returns a dict of
# metrics) for each config that is not yet in the file, appending one line
# `{"config": ..., "metrics": ..., "seconds": ...}` per run as soon as it finishes, and
# returns every record of the file (old and new) in file order. Show a tqdm bar over the
# configs.
#
# Details that matter:
# - "In the file" compares configs *after* a JSON round trip (`json.loads(json.dumps(c))`):
#   a tuple comes back from the file as a list, so compare like with like. A config given
#   twice runs once.
# - Append (`open(path, "a")`), write the whole line with its `"\n"` in one `write`, and
#   `flush()` before the next run starts.
# - If the file ends in a line cut short, first rewrite the file with the complete records
#   only; otherwise your first new line would be glued onto the broken one.
#
# <details><summary>Hint</summary>
#
# ```python
# records = load_results(path)
# text = Path(path).read_text() if Path(path).exists() else ""
# if text and not text.endswith("\n"):   # a cut line, or a complete one without its newline
#     Path(path).write_text("".join(json.dumps(r) + "\n" for r in records))
# done = [r["config"] for r in records]
# with open(path, "a") as f:
#     for config in tqdm(configs):
#         ...
# ```
# </details>

# %% nbgrader={"solution": true, "grade_id": "run_sweep"} exercise={"difficulty": 3, "importance": 4, "minutes": 20}
def run_sweep(configs: list[dict], path, train_fn) -> list[dict]:
    """Run train_fn(**config) for every config not already in the JSON-lines file at path.

    configs: list of JSON-serialisable dicts. path: str or Path (created if missing).
    train_fn: called with a config's items as keyword arguments; returns a dict of
    JSON-serialisable metrics. Each finished run appends one line
    {"config": config, "metrics": metrics, "seconds": wall time} and flushes it. A config
    equal (after a JSON round trip) to one in the file, or earlier in `configs`, is skipped.
    Returns load_results(path) as it is at the end: old and new records, in file order.
    """
    ### BEGIN SOLUTION
    path = Path(path)
    old = load_results(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if text and not text.endswith("\n"):  # repair a line cut short before appending
        path.write_text("".join(json.dumps(rec) + "\n" for rec in old), encoding="utf-8")
    done = [rec["config"] for rec in old]
    with open(path, "a", encoding="utf-8") as f:
        for config in tqdm(configs, desc="sweep"):
            key = json.loads(json.dumps(config))
            if key in done:
                continue
            t0 = time.perf_counter()
            metrics = train_fn(**config)
            record = {"config": key, "metrics": metrics, "seconds": round(time.perf_counter() - t0, 3)}
            f.write(json.dumps(record) + "\n")
            f.flush()
            done.append(key)
    return load_results(path)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "run_sweep_test", "points": 3}
def _fake_train(calls):
    def train(lr, hidden, tag=None):
        calls.append(f"lr={lr}, hidden={hidden}")
        return {"final_loss": round(1.0 / (lr * hidden), 6), "curve": [lr, hidden]}
    return train


def _check_file(path, configs):
    """Every line parses, and the lines hold exactly these configs with the fake metrics, in order."""
    lines = Path(path).read_text().splitlines()
    checks.assert_equal("run_sweep", len(lines), len(configs), name=f"the number of lines in {Path(path).name}",
                        hint="one line per run, ending in \\n; configs already in the file are skipped")
    for n, (line, c) in enumerate(zip(lines, configs), start=1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            checks.assert_true("run_sweep", False, f"line {n} of the file is not valid JSON: {line[:60]!r}",
                               hint="write each record as json.dumps(record) + '\\n' in one write; if the file "
                                    "ends in a line cut short, rewrite it with the complete records first")
        checks.assert_true("run_sweep", isinstance(rec, dict) and {"config", "metrics"} <= set(rec),
                           f"line {n} should be a JSON object with keys 'config' and 'metrics', got {line[:60]!r}")
        checks.assert_equal("run_sweep", rec["config"], c, name=f"the config on line {n}")
        checks.assert_equal("run_sweep", rec["metrics"], _fake_train([])(**c), name=f"the metrics on line {n}")


_configs = [{"lr": lr, "hidden": h} for h in (16, 32) for lr in (0.1, 0.3)]
with tempfile.TemporaryDirectory() as _tmp:
    _path = Path(_tmp) / "sweep.jsonl"
    _calls = []
    _got = run_sweep(_configs[:3], _path, _fake_train(_calls))
    checks.assert_true("run_sweep", isinstance(_got, list), f"run_sweep should return a list, got {type(_got).__name__}",
                       hint="return load_results(path) at the end")
    checks.assert_equal("run_sweep", len(_calls), 3, name="the number of train_fn calls of the first sweep")
    _check_file(_path, _configs[:3])
    checks.assert_equal("run_sweep", [r["config"] for r in _got], _configs[:3], name="the configs returned")
    _calls.clear()
    _got = run_sweep(_configs, _path, _fake_train(_calls))  # resume: only the 4th config is new
    checks.assert_equal("run_sweep", _calls, ["lr=0.3, hidden=32"], name="the train_fn calls when resuming",
                        hint="skip every config already in the file")
    _check_file(_path, _configs)
    checks.assert_equal("run_sweep", [r["metrics"] for r in _got], [_fake_train([])(**c) for c in _configs],
                        name="the metrics returned after resuming (old and new records)")
print("run_sweep: visible tests pass")
### BEGIN HIDDEN TESTS
with tempfile.TemporaryDirectory() as _tmp:
    _path = Path(_tmp) / "sweep.jsonl"
    _calls = []
    # a config given twice, and tuples (lists after a JSON round trip)
    _cfgs = [{"lr": 0.5, "hidden": 2, "tag": (1, 2)}, {"lr": 0.5, "hidden": 2, "tag": (1, 2)},
             {"lr": 0.25, "hidden": 4, "tag": None}]
    _got = run_sweep(_cfgs, str(_path), _fake_train(_calls))
    checks.assert_equal("run_sweep", len(_calls), 2, name="train_fn calls for a config given twice",
                        hint="compare configs after json.loads(json.dumps(config))")
    _calls.clear()
    run_sweep(_cfgs, _path, _fake_train(_calls))
    checks.assert_equal("run_sweep", len(_calls), 0, name="the number of train_fn calls when every config "
                        "(some holding tuples) is in the file already",
                        hint="the file holds [1, 2] where the config has (1, 2): compare after a JSON round trip")
    # a run killed mid-write: the file ends in a line cut short
    _text = _path.read_text()
    _path.write_text(_text + '{"config": {"lr": 9')
    _got = run_sweep([{"lr": 1.0, "hidden": 1}], _path, _fake_train(_calls))
    _check_file(_path, [json.loads(json.dumps(c)) for c in _cfgs[::2]] + [{"lr": 1.0, "hidden": 1}])
    checks.assert_equal("run_sweep", len(_got), 3, name="the number of records after repairing a cut line")
    # an empty sweep on a new file
    checks.assert_equal("run_sweep", run_sweep([], Path(_tmp) / "new.jsonl", _fake_train([])), [],
                        name="the records of an empty sweep")
### END HIDDEN TESTS

# %% [markdown]
# Now a real sweep: learning rate × width of the MLP on the digits, 10 runs of 200 steps
# each, logged to a file in a fresh temporary directory.

# %%
def train_digits(lr: float, hidden: int, steps: int = 200, seed: int = 0) -> dict:
    """Train make_model(hidden) with SGD; return JSON-friendly metrics."""
    seed_everything(seed)
    model = make_model(hidden=hidden, p_drop=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    gen = torch.Generator().manual_seed(seed)
    curve = []
    for _ in range(steps):
        idx = torch.randint(len(x_train), (64,), generator=gen)
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve.append(loss.item())
    with torch.no_grad():
        acc = (model(x_test).argmax(dim=1) == y_test).float().mean().item()
    return {"test_acc": acc, "final_loss": float(np.mean(curve[-20:])), "curve": curve[::5]}


SWEEP_PATH = Path(tempfile.mkdtemp(prefix="bootcamp-1.4-")) / "sweep.jsonl"
SWEEP = [{"lr": lr, "hidden": h} for h in (16, 128) for lr in (0.003, 0.01, 0.03, 0.1, 0.3)]
_results = run_sweep(SWEEP, SWEEP_PATH, train_digits)
print(f"{len(_results)} runs in {SWEEP_PATH}; first line:")
print(SWEEP_PATH.read_text().splitlines()[0][:150], "...")

# %% [markdown]
# Run it again: every config is in the file, so nothing trains. Then the plots, from the
# file.

# %%
_t0 = time.perf_counter()
_results = run_sweep(SWEEP, SWEEP_PATH, train_digits)
print(f"second call: {len(_results)} records, {time.perf_counter() - _t0:.3f} s")

_results = load_results(SWEEP_PATH)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.5))
for h in sorted({r["config"]["hidden"] for r in _results}):
    runs = sorted((r for r in _results if r["config"]["hidden"] == h), key=lambda r: r["config"]["lr"])
    ax1.plot([r["config"]["lr"] for r in runs], [r["metrics"]["test_acc"] for r in runs], "o-", label=f"hidden {h}")
for r in _results:
    if r["config"]["hidden"] == 128:
        ax2.plot(np.arange(len(r["metrics"]["curve"])) * 5, r["metrics"]["curve"], label=f"lr {r['config']['lr']}")
ax1.set(xscale="log", xlabel="learning rate", ylabel="test accuracy", title="test accuracy after 200 steps")
ax2.set(yscale="log", xlabel="step", ylabel="training loss", title="hidden 128")
ax1.legend()
ax2.legend(fontsize=8)
plt.show()
print("\n".join(f"lr {r['config']['lr']:<6} hidden {r['config']['hidden']:<4} test acc {r['metrics']['test_acc']:.3f}"
                for r in sorted(_results, key=lambda r: -r["metrics"]["test_acc"])[:3]))

# %% [markdown]
# **What just happened.** Every number in those plots came from the file, and the file would
# have survived a crash at any point: at worst the last line is cut, which `load_results`
# ignores and `run_sweep` repairs. Add a config to `SWEEP` and rerun: only the new one trains.
#
# ## Summary
#
# - **Reproducibility**: seed every generator at the start of a run; runs on the same set-up
#   then agree bitwise, and a difference always means something.
# - **Checkpoints**: weights, optimizer, scheduler, every generator and the step, saved
#   atomically and loadable with `weights_only=True`; a resumed run equals an uninterrupted
#   one, and you have a test that proves it.
# - **Watching**: early stopping on the validation loss (with `min_delta` and a NaN guard),
#   the gradient norm logged and clipped, forward hooks and `detect_anomaly` to find where a
#   NaN is born.
# - **Speed**: profile before you optimise; the usual culprits are repeated work and
#   per-example Python loops.
# - **Sweeps**: one JSON line per finished run, resume by skipping what is done, plot from
#   the file.
#
# Next: 2.1 builds a GPT from scratch, and 2.2 trains it with exactly this infrastructure.

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 1.4`), else from `bootcamp check 1.4` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("1.4")
