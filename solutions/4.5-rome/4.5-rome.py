# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "4.5"
#     title: Locating and editing knowledge (after Meng et al. 2022, ROME)
#     minutes: 240
#     prerequisites: ["3.1"]
# ---

# %% [markdown]
# # 4.5 Locating and editing knowledge (after Meng et al. 2022, ROME)
#
# Where does a language model keep the fact that the Eiffel Tower is in Paris? Meng, Bau,
# Andonian and Belinkov (2022, "Locating and Editing Factual Associations in GPT") answered in
# two steps. **Causal tracing**: corrupt the subject's tokens with noise so the model no longer
# knows the answer, then restore one hidden state at a time from a clean run; the states whose
# restoration brings the answer back carry the fact. In GPT-2 XL the MLP outputs mattered most
# at the **last subject token**, in the **middle layers**. **ROME** (Rank-One Model Editing)
# then treats one such MLP as a key-value memory: the key is the subject's representation, the
# value what the MLP writes, and one rank-one change to its output matrix makes the model say a
# new object, for the subject's paraphrases too, and for no one else.
#
# This lesson does both, offline on a CPU, on a 6-layer GPT the course trained on invented
# facts (`python -m course.models.train facts-gpt`). We reproduce the *shape* of the paper's
# findings, not its numbers on GPT-2 XL:
#
# | claim (Meng et al. 2022, on GPT-2 XL) | what this lesson finds on its model | where |
# |---|---|---|
# | corrupting the subject destroys the prediction; restoring the clean residual stream at the last token, late, brings it back (their Figure 1) | the same | exercises 1-3 |
# | restoring the residual stream at the last subject token, in early and middle layers, brings most of it back; the MLPs' effect peaks there (their Figures 1-2) | **not on our model**: the subject's positions bring back little, and the MLP effect is near zero there; the answer is assembled at the last token. Nor on the variants we trained to provoke it (see the end of the lesson) | exercises 4-5 |
# | a rank-one edit of one MLP, key at the last subject token averaged over prefixes, value solved for, covariance from the model's own activations, changes one fact (their section 3) | it changes the fact in a minority of our edits, and then for the paraphrases too | exercises 6-10 |
# | ROME keeps neighbours' facts where fine-tuning the same layer damages them (their Table 1) | half of it: unconstrained fine-tuning edits more often and damages the neighbours; but fine-tuning with its weight change bounded (FT+L, the bound tuned on our model) edits as often, keeps most neighbours, and beats ROME here | exercise 11 |
#
# That our small model differs from GPT-2 XL is part of the lesson: tracing tells you where *a
# given model* reads a fact, and the edit then behaves as that reading predicts.
#
# **After this lesson you can**
# - run causal tracing with noise on the subject and read a per-layer, per-token indirect effect;
# - redraw the paper's heatmaps from your own numbers and say where a fact is read;
# - write ROME's closed-form rank-one update and the optimisation that finds its value;
# - evaluate an edit with efficacy, paraphrase and neighbourhood scores, against fine-tuning.
#
# **Prerequisites.** 3.1 (hooks, caches, activation patching on clean/corrupted pairs); the
# GPT of 2.1 (this model is that class: `course.models.gpt.GPT`).
#
# **Time.** About 4 hours: eleven graded exercises (37 points).
#
# **How the exercises work.** Each exercise explains an idea, then gives you a function whose
# body is `raise NotImplementedError`. Replace it and run the test cell below. A failing cell
# says what is wrong and a likely cause; hidden tests, run when your notebook is graded, use
# other prompts, layers and subjects. `bootcamp check 4.5` runs the whole notebook from a terminal.

# %%
import copy
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

import course.models
from course import checks
from course.models import facts, registry

torch.set_num_threads(1)
torch.set_printoptions(precision=3, sci_mode=False, linewidth=120)
lesson_start = time.perf_counter()

# %% [markdown]
# ## The facts and the model
#
# Every subject is an invented name of **three tokens** (`Ka vel dor`). Each token is shared by
# many of the 150 subjects, so the model can only know who is meant once it has seen all three:
# the last subject token is the first place a fact can be looked up. Each subject has three
# facts (a city, a job, a language), asked by five paraphrases each, after a random prefix of
# 0-6 filler words:
#
# ```
# <bos> so then  Ka vel dor  lives in          ->  Oslo
# <bos>          the job of  Ka vel dor  is     ->  baker
# ```
#
# One paraphrase of every (subject, relation) pair was **held out** of training; the model
# answers it too (the sidecar's `held_out_accuracy`), so it stored each fact once, about the
# subject, not once per sentence. The model is lesson 2.1's `GPT` (six layers, `d_model` 48,
# MLPs of 192, LayerNorm), trained only on the object token.
#
# `facts.encode(subject, relation, template, prefix)` returns a `Prompt` with `.tokens` and
# `.subject_pos` (the three positions of the subject); `facts.pad(prompts)` gives `tokens (B, T)`
# and `end (B,)`; `facts.answer(subject, relation)` the object's token id.
# `facts.run_with_hooks(model, tokens, hooks, cache)` runs the model with TransformerLens-style
# hook names: `hook_embed` (the token embeddings), `blocks.{l}.hook_attn_out`,
# `blocks.{l}.hook_mlp_out`, `blocks.{l}.hook_resid_post` (B, T, D) and `blocks.{l}.mlp.hook_post`
# (B, T, d_mlp), the MLP's hidden activation. Read it once in `course/models/facts.py`.

# %%
spec = registry.get("facts-gpt")
model = course.models.load("facts-gpt")
for p in model.parameters():
    p.requires_grad_(False)
cfg = model.cfg
L, D = cfg.n_layers, cfg.d_model
sidecar = spec.sidecar()
print(cfg)
print(f"{model.n_params():,} parameters; checkpoint {spec.size_bytes() / 1e3:.0f} kB; "
      f"trained in {sidecar['seconds']:.0f} s (wall, a loaded machine); shipped metrics {sidecar['metrics']}")
for s, r, t in [(0, "city", 0), (1, "job", 2), (2, "language", 4)]:
    pr = facts.encode(s, r, t, ("so", "then"))
    print(" ".join(facts.VOCAB[i] for i in pr.tokens[1:]), "->", facts.VOCAB[facts.answer(s, r)],
          "(held out)" if t == facts.held_out_template(s, r) else "")

curve = sidecar["curve"]
fig, ax = plt.subplots(figsize=(7, 2.6))
ax.plot(curve["step"], curve["train_accuracy"], label="training paraphrases")
ax.plot(curve["step"], curve["held_out_accuracy"], label="held-out paraphrase")
ax.set(xlabel="training step", ylabel="accuracy", title="the shipped run")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Causal tracing
#
# Three runs of the same prompt:
#
# 1. **clean**: the model as it is; it gives the object with probability $P(o)$;
# 2. **corrupted**: Gaussian noise added to the embeddings of the subject's tokens, so the
#    model no longer knows who is meant; $P_*(o)$ falls;
# 3. **corrupted-with-restoration**: the corrupted run again, except one hidden state $h$ (one
#    layer, one token) is replaced by its value in the clean run; $P_{*,\,\text{clean}\ h}(o)$.
#
# The **indirect effect** of $h$ is $P_{*,\,\text{clean}\ h}(o) - P_*(o)$: how much of the
# answer that one state brings back on its own. Meng et al. computed it for every layer and
# token, for three kinds of state: the residual stream after each block, each MLP's output and
# each attention layer's output. A state with a large effect is *sufficient* to carry what the
# noise destroyed.
#
# We trace 150 prompts at once (every subject, one relation, one paraphrase, with the same
# two-word prefix, so every position means the same thing in every row), each with its own
# noise, and average the probabilities over the batch.

# %% [markdown]
# ## Exercise 1: how much noise
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 5 minutes, then look at the hint.
#
# The paper scales the noise to the embeddings: $\nu = 3\sigma$, where $\sigma$ is the standard
# deviation of the embedding vectors of the tokens it corrupts (their appendix B.1). Return $3\sigma$
# for the given token ids: the standard deviation of *every entry* of their embedding vectors,
# as a Python float.
#
# <details><summary>Hint</summary>
#
# **Idea.** Look up the rows of the embedding matrix for those ids, and take one standard
# deviation over all their numbers, not one per dimension.
#
# **Pointer.** `model.wte.weight` is `(d_vocab, d_model)`; index it with the id tensor. `.std()`
# with no `dim` reduces over every entry; `.item()` makes a float.
# </details>

# %% nbgrader={"solution": true, "grade_id": "noise_level"} exercise={"difficulty": 1, "importance": 3, "minutes": 5}
def noise_level(model, token_ids: torch.Tensor) -> float:
    """3 x the standard deviation of the embedding entries of ``token_ids`` (1-D int64). A float."""
    ### BEGIN SOLUTION
    return 3 * model.wte.weight[token_ids].std().item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "noise_level_test", "points": 2}
class _Toy(torch.nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.wte = torch.nn.Embedding.from_pretrained(weight)


_toy = _Toy(torch.tensor([[1.0, -1.0], [100.0, 100.0], [3.0, -3.0]]))
_got = checks.call("noise_level", noise_level, _toy, torch.tensor([0, 2]), case="rows 0 and 2")
checks.assert_true("noise_level", isinstance(_got, float), f"return a Python float, got {type(_got).__name__}")
checks.assert_close("noise_level", _got, 3 * float(np.std([1.0, -1.0, 3.0, -3.0], ddof=1)), rtol=1e-5,
                    hint="only the given rows (not row 1), one std over all their entries, times 3")
### BEGIN HIDDEN TESTS
_w = torch.randn(7, 5, generator=torch.Generator().manual_seed(3))
checks.assert_close("noise_level", noise_level(_Toy(_w), torch.tensor([1, 4, 6])), 3 * _w[[1, 4, 6]].std().item(),
                    rtol=1e-5, name="a random embedding")
### END HIDDEN TESTS

# %%
SUBJECT_TOKENS = torch.tensor(sorted({facts.TOKEN[w] for s in facts.SUBJECTS for w in s}))
try:
    NOISE = noise_level(model, SUBJECT_TOKENS)
    print(f"noise scale nu = {NOISE:.3f} (3 x the std of the {len(SUBJECT_TOKENS)} subject tokens' embeddings)")
except NotImplementedError:
    NOISE = 1.0
    print("noise_level is not written yet: the cells below use nu = 1.0 until it is")

# %% [markdown]
# The prompts we trace, with their noise. `trace_set(relation, template)` builds a batch:
# every subject, the same prefix, the clean tokens, where the subject is, the target object,
# and one noise draw per prompt of shape `(B, 3, D)` (three subject tokens), seeded so that every
# run below corrupts the same way.

# %%
PREFIX = ("so", "then")
N_TRACE = min(150, facts.N_SUBJECTS)  # the first 150 subjects: enough for a smooth average, and quick


def trace_set(relation: str, template: int, seed: int = 0) -> dict:
    prompts = [facts.encode(s, relation, template, PREFIX) for s in range(N_TRACE)]
    tokens, end = facts.pad(prompts)
    target = torch.tensor([facts.answer(s, relation) for s in range(N_TRACE)])
    noise = NOISE * torch.randn(len(prompts), 3, D, generator=torch.Generator().manual_seed(seed))
    return {"tokens": tokens, "end": end, "target": target, "subject_pos": prompts[0].subject_pos, "noise": noise,
            "words": [facts.VOCAB[t] for t in tokens[0]]}


city = trace_set("city", 0)
print(" ".join(city["words"]), "| subject at", city["subject_pos"], "| answer read at", int(city["end"][0]))

# %% [markdown]
# ## Exercise 2: a corrupted run, with or without one restored state
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 20 minutes, then look at the hints.
#
# Return the probability of `target` at the position `end`, one per prompt, `(B,)`, for a run
# in which `noise (B, len(subject_pos), D)` is **added** to the token embeddings (`hook_embed`) at
# the positions `subject_pos`. If `restore = (hook_name, position)` is given, that activation at
# that position is replaced, in every prompt, by its value in `clean_cache` (a dict filled by a
# clean `facts.run_with_hooks(model, tokens, cache=clean_cache)`). Never modify the tensors the
# hooks receive in place: clone first.
#
# <details><summary>Hint</summary>
#
# **Idea.** Two hooks in one dictionary: one for the embeddings (add the noise where the subject
# is), one for the restored activation (copy the clean value at one position). Then a softmax
# over the vocabulary at each prompt's last position, and pick out the target.
#
# **Pointer.** Indexing `x[:, subject_pos]` with a list selects `(B, 3, D)`, the same shape as
# `noise`. `logits[torch.arange(B), end]` is `(B, V)`. Forgetting the softmax (returning logits)
# is the usual mistake; so is restoring at every position instead of one.
# </details>

# %% nbgrader={"solution": true, "grade_id": "corrupted_run"} exercise={"difficulty": 3, "importance": 5, "minutes": 20}
def corrupted_run(model, tokens: torch.Tensor, end: torch.Tensor, target: torch.Tensor, subject_pos: list[int],
                  noise: torch.Tensor, restore: tuple[str, int] | None = None,
                  clean_cache: dict | None = None) -> torch.Tensor:
    """P(target) at ``end`` (B,) with noise on the subject embeddings, optionally one clean state restored."""
    ### BEGIN SOLUTION
    def corrupt(x):
        x = x.clone()
        x[:, subject_pos] = x[:, subject_pos] + noise
        return x

    hooks = {"hook_embed": corrupt}
    if restore is not None:
        name, pos = restore

        def put_back(x):
            x = x.clone()
            x[:, pos] = clean_cache[name][:, pos]
            return x

        hooks[name] = put_back
    logits = facts.run_with_hooks(model, tokens, hooks)
    rows = torch.arange(len(end))
    return logits[rows, end].softmax(-1)[rows, target]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "corrupted_run_test", "points": 3}
_ref_model = course.models.load("facts-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_t = {k: city[k] for k in ("tokens", "end", "target", "subject_pos")}
_clean_p = _ref_model(city["tokens"])[torch.arange(N_TRACE), city["end"]].softmax(-1)[
    torch.arange(N_TRACE), city["target"]]
_zero = checks.call("corrupted_run", corrupted_run, model, **_t, noise=torch.zeros_like(city["noise"]),
                    case="zero noise")
checks.assert_shape("corrupted_run", _zero, (N_TRACE,))
checks.assert_close("corrupted_run", _zero, _clean_p, atol=1e-5, name="zero noise = the clean run",
                    hint="return probabilities (softmax over the vocabulary), at each prompt's end position")
p_corrupt = corrupted_run(model, **_t, noise=city["noise"])
checks.assert_true("corrupted_run", p_corrupt.mean() < 0.5 * _clean_p.mean(),
                   f"noise on the subject should destroy most of the answer: clean {_clean_p.mean():.3f}, "
                   f"corrupted {p_corrupt.mean():.3f}", hint="add the noise at subject_pos of hook_embed")
clean_cache = {}
facts.run_with_hooks(_ref_model, city["tokens"], cache=clean_cache)
_last = city["subject_pos"][-1]
_full = corrupted_run(model, **_t, noise=city["noise"], restore=(f"blocks.{L - 1}.hook_resid_post", int(city["end"][0])),
                      clean_cache=clean_cache)
checks.assert_close("corrupted_run", _full, _clean_p, atol=1e-5, name="restoring the last layer at the last token",
                    hint="the final residual stream at the answer position decides everything: restore it there")
with torch.random.fork_rng(devices=[]):  # the notebook's own random numbers stay as they were
    torch.manual_seed(5)
    _other = facts.GPT(facts.model_config()).eval()  # a second model of the same shape, random weights
_four = {k: (v[:4] if torch.is_tensor(v) else v) for k, v in city.items()}
_t4 = {k: _four[k] for k in ("tokens", "end", "target", "subject_pos")}
with torch.no_grad():
    _other_clean = _other(_t4["tokens"])[torch.arange(4), _t4["end"]].softmax(-1)[torch.arange(4), _t4["target"]]
_other_cache = {}
facts.run_with_hooks(_other, _t4["tokens"], cache=_other_cache)
checks.assert_close("corrupted_run", corrupted_run(_other, **_t4, noise=torch.zeros_like(_four["noise"])), _other_clean,
                    atol=1e-5, name="zero noise on a second, random model",
                    hint="run the model you are given (the argument), not the notebook's `model`")
checks.assert_close("corrupted_run", corrupted_run(_other, **_t4, noise=_four["noise"],
                                                   restore=(f"blocks.{L - 1}.hook_resid_post", int(city["end"][0])),
                                                   clean_cache=_other_cache), _other_clean, atol=1e-5,
                    name="the second model, its last layer restored from its own clean cache",
                    hint="restore from the clean_cache you are given, not the notebook's")
print(f"P(object): clean {_clean_p.mean():.3f}, corrupted {p_corrupt.mean():.3f}")
### BEGIN HIDDEN TESTS
_ref_model = course.models.load("facts-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_name = "blocks.2.hook_mlp_out"


def _ref(restore):
    def corrupt(x):
        x = x.clone()
        x[:, city["subject_pos"]] += city["noise"]
        return x

    hooks = {"hook_embed": corrupt}
    if restore:
        def put(x):
            x = x.clone()
            x[:, _last] = clean_cache[_name][:, _last]
            return x
        hooks[_name] = put
    lg = facts.run_with_hooks(_ref_model, city["tokens"], hooks)[torch.arange(N_TRACE), city["end"]]
    return lg.softmax(-1)[torch.arange(N_TRACE), city["target"]]


checks.assert_close("corrupted_run", corrupted_run(model, **_t, noise=city["noise"]), _ref(False), atol=1e-5,
                    name="corrupted run")
checks.assert_close("corrupted_run", corrupted_run(model, **_t, noise=city["noise"], restore=(_name, _last),
                                                   clean_cache=clean_cache), _ref(True), atol=1e-5,
                    name="layer 2's MLP restored at the last subject token")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: the indirect effect of every state
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 15 minutes, then look at the hints.
#
# Return a `(n_layers, T)` tensor: entry `[l, t]` is the **mean over prompts** of
# $P_{*,\,\text{clean}\ h}(o) - P_*(o)$ where $h$ is the activation `hook_name.format(l)` at
# position `t`. `hook_name` is one of `"blocks.{}.hook_resid_post"`, `"blocks.{}.hook_mlp_out"`,
# `"blocks.{}.hook_attn_out"`. Use your `corrupted_run`; run the clean model once for the cache.
# A progress bar over layers is welcome (there are `n_layers x T` runs).
#
# <details><summary>Hint</summary>
#
# **Idea.** One clean run to fill a cache, one corrupted run for the baseline $P_*$, then a
# double loop: restore one (layer, position) at a time, subtract the baseline, average.
#
# **Pointer.** `str.format(l)` fills the layer. Subtract the corrupted probability *per prompt*
# or after averaging: the same thing. Forgetting the baseline gives $P_{*,\,\text{clean}\ h}$,
# which is never negative and never near zero: the test says so.
# </details>

# %% nbgrader={"solution": true, "grade_id": "trace_effects"} exercise={"difficulty": 2, "importance": 5, "minutes": 15}
def trace_effects(model, batch: dict, hook_name: str, progress: bool = True) -> torch.Tensor:
    """(n_layers, T) mean indirect effect of restoring ``hook_name.format(layer)`` at each position.

    ``batch`` is a dict from ``trace_set``: tokens, end, target, subject_pos, noise.
    """
    ### BEGIN SOLUTION
    args = {k: batch[k] for k in ("tokens", "end", "target", "subject_pos", "noise")}
    cache = {}
    facts.run_with_hooks(model, batch["tokens"], cache=cache)
    base = corrupted_run(model, **args)
    T = batch["tokens"].shape[1]
    out = torch.zeros(model.cfg.n_layers, T)
    layers = tqdm(range(model.cfg.n_layers), desc=hook_name.split(".")[-1], leave=False, disable=not progress)
    for layer in layers:
        for pos in range(T):
            restored = corrupted_run(model, **args, restore=(hook_name.format(layer), pos), clean_cache=cache)
            out[layer, pos] = (restored - base).mean()
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "trace_effects_test", "points": 3}
_small = {k: (v[:20] if torch.is_tensor(v) else v) for k, v in city.items()}
_g = checks.call("trace_effects", trace_effects, model, _small, "blocks.{}.hook_resid_post", False, case="20 prompts")
T_city = city["tokens"].shape[1]
checks.assert_shape("trace_effects", _g, (L, T_city))
checks.assert_true("trace_effects", _g[:, 0].abs().max() < 1e-5,
                   f"restoring position 0 (<bos>, before the subject) cannot help, got {_g[:, 0].abs().max():.3f}",
                   hint="subtract the corrupted run's probability: this is an effect, not a probability")
_end = int(city["end"][0])
_clean20 = _clean_p[:20].mean()
checks.assert_close("trace_effects", _g[L - 1, _end], _clean20 - p_corrupt[:20].mean(), atol=1e-4,
                    name="the last layer at the last token", hint="restoring it gives the clean probability back")
_g2 = trace_effects(_other, _four, "blocks.{}.hook_resid_post", False)
_base2 = corrupted_run(_other, **_t4, noise=_four["noise"])
checks.assert_close("trace_effects", _g2[L - 1, _end], (_other_clean - _base2).mean(), atol=1e-5,
                    name="the second, random model: its last layer at the last token",
                    hint="trace the model you are given (the argument), not the notebook's `model`")
effects = {kind: trace_effects(model, city, f"blocks.{{}}.hook_{kind}") for kind in ("resid_post", "mlp_out", "attn_out")}
### BEGIN HIDDEN TESTS
_ref_model = course.models.load("facts-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_a = trace_effects(model, _small, "blocks.{}.hook_mlp_out", False)
_cache = {}
facts.run_with_hooks(_ref_model, _small["tokens"], cache=_cache)
_args = {k: _small[k] for k in ("tokens", "end", "target", "subject_pos", "noise")}
_b = corrupted_run(model, **_args)
for _l, _p in [(1, _last), (3, _end - 1), (0, 1)]:
    checks.assert_close("trace_effects", _a[_l, _p],
                        (corrupted_run(model, **_args, restore=(f"blocks.{_l}.hook_mlp_out", _p), clean_cache=_cache)
                         - _b).mean(), atol=1e-5, name=f"MLP {_l} at position {_p}")
### END HIDDEN TESTS

# %% [markdown]
# The paper's Figure 1, from your numbers: one heatmap per kind of state, layers across, tokens
# down, the subject's tokens marked with `*`.

# %%
def plot_traces(effects: dict, words: list[str], subject_pos: list[int], title: str = "") -> None:
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    labels = [w + ("*" if i in subject_pos else "") for i, w in enumerate(words)]
    for ax, (kind, cmap) in zip(axes, [("resid_post", "Purples"), ("mlp_out", "Greens"), ("attn_out", "Reds")]):
        im = ax.imshow(effects[kind].T.numpy(), cmap=cmap, aspect="auto", vmin=0)
        ax.set(xlabel="layer", title=f"restoring {kind}", xticks=range(effects[kind].shape[0]))
        ax.set_yticks(range(len(labels)), labels)
        fig.colorbar(im, ax=ax, fraction=0.05)
    fig.suptitle(title + " (indirect effect on P(object))")
    plt.tight_layout()
    plt.show()


plot_traces(effects, city["words"], city["subject_pos"], "'" + " ".join(city["words"][1:]) + "'")

# %% [markdown]
# ## Exercise 4: the paper's token groups
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 3 points · about 15 minutes, then look at the hint.
#
# One prompt is noisy evidence. The paper's Figure 2 averages many prompts of different shapes,
# so it groups the tokens by their role: **first subject token, middle subject tokens, last
# subject token, first subsequent token, further tokens, last token**. Write `by_group`: given
# a `(n_layers, T)` grid, the subject's positions and the last position `end`, return a
# `(6, n_layers)` tensor, each row the mean over that group's positions (layer by layer).
# The rules:
#
# - tokens before the subject (`<bos>`, the prefix) belong to no group;
# - the last token `end` is only in "last token", never in "first subsequent" or "further";
# - "first subsequent" is the position right after the subject, "further" the ones between it
#   and `end`;
# - a group with no position (a three-token subject has one middle token; `{S} speaks` has no
#   subsequent token) is a row of `nan`.
#
# <details><summary>Hint</summary>
#
# **Idea.** Make six lists of positions, then average the grid's columns in each list.
#
# **Pointer.** The middle tokens are `subject_pos[1:-1]`; the first subsequent token exists only
# if `subject_pos[-1] + 1 < end`. `grid[:, positions].mean(1)` averages columns; for an empty
# list, fill with `float("nan")` yourself (a mean over nothing gives nan too, with a warning).
# </details>

# %% nbgrader={"solution": true, "grade_id": "by_group"} exercise={"difficulty": 2, "importance": 3, "minutes": 15}
GROUPS = ["first subject token", "middle subject tokens", "last subject token", "first subsequent token",
          "further tokens", "last token"]


def by_group(grid: torch.Tensor, subject_pos: list[int], end: int) -> torch.Tensor:
    """(n_layers, T) -> (6, n_layers): the mean over each of GROUPS' positions (nan if it has none)."""
    ### BEGIN SOLUTION
    last = subject_pos[-1]
    groups = [[subject_pos[0]], list(subject_pos[1:-1]), [last],
              [last + 1] if last + 1 < end else [], list(range(last + 2, end)), [end]]
    out = torch.full((6, grid.shape[0]), float("nan"))
    for i, positions in enumerate(groups):
        if positions:
            out[i] = grid[:, positions].mean(1)
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "by_group_test", "points": 3}
_grid = torch.arange(2 * 9, dtype=torch.float32).reshape(2, 9)  # 2 layers, 9 positions; [l, t] = 9 l + t
_got = checks.call("by_group", by_group, _grid, [2, 3, 4], 8, case="subject at 2-4, end 8")
checks.assert_shape("by_group", _got, (6, 2))
checks.assert_close("by_group", _got[:, 0], torch.tensor([2.0, 3.0, 4.0, 5.0, 6.5, 8.0]),
                    hint="further tokens here are positions 6 and 7 (not 5, the first subsequent, nor 8, the last)")
_got = by_group(_grid, [1, 2, 3], 4)
checks.assert_true("by_group", bool(torch.isnan(_got[3:5]).all()) and _got[5, 1] == 13.0,
                   f"subject at 1-3 and end 4: no subsequent or further token (nan), last token = 4; got {_got}")
### BEGIN HIDDEN TESTS
_got = by_group(_grid, [0, 1, 2, 3], 5)
checks.assert_close("by_group", _got[1], torch.tensor([1.5, 10.5]), name="two middle tokens")
checks.assert_close("by_group", _got[3], torch.tensor([4.0, 13.0]), name="first subsequent, no further")
checks.assert_true("by_group", bool(torch.isnan(_got[4]).all()), "no further token: a row of nan")
### END HIDDEN TESTS

# %% [markdown]
# Now the average over prompts of every shape: the three relations, each with a paraphrase whose
# subject comes first and one where it comes later (30 subjects each, to keep it quick), grouped
# and averaged. This is the paper's Figure 2, from your numbers.
#
# The cell below draws it and asserts what the figures showed when we wrote the lesson, on your numbers:
# the residual stream at the last token in the last layer brings back most of the answer (more
# than 0.5), no state at the subject's positions brings back more than 0.3, the MLPs' effect at
# the last subject token stays under 0.05 in every layer, and the largest MLP effect is at the
# last token. (When we ran it: 0.87, 0.09, 0.018, and the last token's layer 5.)

# %% nbgrader={"grade": true, "grade_id": "by_group_test_2", "points": 2}
grouped = {kind: [] for kind in ("resid_post", "mlp_out", "attn_out")}
for relation, template in tqdm([("city", 0), ("city", 2), ("job", 1), ("job", 3), ("language", 0), ("language", 1)],
                               desc="tracing"):
    ts = trace_set(relation, template, seed=1)
    ts = {k: (v[:30] if torch.is_tensor(v) else v) for k, v in ts.items()}
    for kind in grouped:
        grid = trace_effects(model, ts, f"blocks.{{}}.hook_{kind}", progress=False)
        grouped[kind].append(by_group(grid, ts["subject_pos"], int(ts["end"][0])))
grouped = {kind: torch.stack(v).nanmean(0) for kind, v in grouped.items()}

fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
for ax, (kind, cmap) in zip(axes, [("resid_post", "Purples"), ("mlp_out", "Greens"), ("attn_out", "Reds")]):
    im = ax.imshow(grouped[kind].numpy(), cmap=cmap, aspect="auto", vmin=0)
    ax.set(xlabel="layer", title=f"average indirect effect, {kind}", xticks=range(L))
    ax.set_yticks(range(6), GROUPS)
    fig.colorbar(im, ax=ax, fraction=0.05)
plt.tight_layout()
plt.show()
print("MLP effect at the last subject token, per layer:", grouped["mlp_out"][2])
print("residual stream at the last token, per layer:", grouped["resid_post"][5])
print("largest residual-stream effect at the subject's positions:", grouped["resid_post"][:3].max())

checks.assert_true("by_group", grouped["resid_post"][5, L - 1] > 0.5,
                   f"the last token's residual stream in the last layer should restore most of P(object), "
                   f"got {grouped['resid_post'][5, L - 1]:.3f}", hint="check trace_effects and the row order of by_group")
checks.assert_true("by_group", grouped["resid_post"][:3].max() < 0.3,
                   f"the subject's positions restore {grouped['resid_post'][:3].max():.3f} at most: expected < 0.3")
checks.assert_true("by_group", grouped["mlp_out"][2].abs().max() < 0.05,
                   f"MLP effect at the last subject token: {grouped['mlp_out'][2]}, expected < 0.05 in every layer")
checks.assert_equal("by_group", divmod(int(torch.nan_to_num(grouped["mlp_out"], nan=-1.0).argmax()), L)[0], 5,
                    name="the group of the largest MLP effect", hint="row 5 is the last token")

# %% [markdown]
# ## Rank-one model editing
#
# Meng et al. read an MLP's output matrix $W$ (here `model.blocks[l].mlp.proj.weight`,
# `(d_model, d_mlp)`) as a linear **associative memory**: the hidden activation $k$ at a token
# (the *key*, `blocks.{l}.mlp.hook_post`) is mapped to $Wk$, what the MLP adds to the residual
# stream (the *value*). If the fact "subject → object" is read at the last subject token of
# layer $l$, then changing the value stored under that subject's key should change the fact.
#
# Three ingredients:
#
# 1. **the key** $k_*$: the subject's key at its last token, averaged over several random
#    prefixes, so that it does not depend on the words in front of it;
# 2. **the value** $v_*$: a vector that, written by the MLP at the subject's last token instead
#    of $Wk_*$, makes the model say the new object. It is found by gradient descent on a vector
#    $\delta$ added to the MLP's output there, with $v_* = Wk_* + \delta$;
# 3. **the covariance** $C = \mathbb{E}[kk^\top]$ of keys over ordinary text, from the model's
#    own activations. The edit should change $W$ as little as possible *on the keys the model
#    actually meets*.
#
# Minimising $\lVert \hat W K - W K\rVert$ over all keys $K$ the model sees, subject to
# $\hat W k_* = v_*$, has a closed form (their equation 2):
#
# $$\hat W = W + \frac{(v_* - Wk_*)\,(C^{-1}k_*)^\top}{(C^{-1}k_*)^\top k_*}.$$
#
# The change is rank one, and a key $k$ with $(C^{-1}k_*)^\top k = 0$ passes through unchanged.

# %% [markdown]
# ## Exercise 5 (investigation): where does *this* model read the fact?
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes.
#
# Read the three panels above (and the printed row). First, in the **MLP** panel, find the
# largest entry: which group (an index into `GROUPS`) and which layer? Then choose `HYPOTHESIS`,
# the statement your figures support best:
#
# - `"A"`: as in GPT-2 XL: the MLPs' effect peaks at the last subject token in the middle
#   layers, and restoring the residual stream there brings most of the answer back;
# - `"B"`: the subject's own positions carry little on their own (restoring the residual stream
#   there brings back a small part of the answer, and less with every layer); the answer is
#   assembled at the last token, where the residual stream's effect grows layer by layer, with
#   attention (which brings the subject's tokens there) and the last layers doing the work;
# - `"C"`: no single state brings back a noticeable part of the answer: tracing cannot localise it.
#
# Return `(GROUP, LAYER, HYPOTHESIS)` from `my_reading`.

# %% nbgrader={"solution": true, "grade_id": "my_reading"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def my_reading() -> tuple[int, int, str]:
    """Your reading of the figures: (GROUP, LAYER, HYPOTHESIS), e.g. (2, 3, "A"). Return constants: this is your answer."""
    ### BEGIN SOLUTION
    return 5, 5, "B"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "my_reading_test", "points": 2}
answers = checks.call("my_reading", my_reading, case="your answers")
checks.assert_true("my_reading", isinstance(answers, tuple) and len(answers) == 3,
                   f"return a triple (GROUP, LAYER, HYPOTHESIS), got {answers!r}")
_mlp = torch.nan_to_num(grouped["mlp_out"], nan=-1.0)
_where = divmod(int(_mlp.argmax()), L)
checks.assert_equal("my_reading", tuple(answers[:2]), _where, name="(GROUP, LAYER) of the largest MLP effect",
                    hint="rows are GROUPS (0 = first subject token ... 5 = last token), columns are layers")
### BEGIN HIDDEN TESTS
checks.assert_equal("my_reading", my_reading()[2], "B", name="HYPOTHESIS",
                    hint="compare the residual panel's subject rows with its last-token row, layer by layer")
### END HIDDEN TESTS

# %% [markdown]
# **Which layer?** Your trace says this model does not read its facts at the subject's last
# token as GPT-2 XL does, so tracing cannot pick the layer for us. We edit layer 2, the middle of
# six (the paper edits GPT-2 XL's layer 17 of 48, in its early-middle MLP band). It is not the
# layer that edits best. While writing the lesson we ran the twelve edits of the comparison at
# the end of this notebook with ROME at layers 0-4 (not part of this notebook; printed, not
# asserted; before one no-op edit among them was replaced, see the comparison below): efficacy / paraphrase / neighbourhood 0.58 / 0.50 / 0.93 at layer 0,
# 0.50 / 0.35 / 0.98 at layer 1, 0.33 / 0.38 / 1.00 at layer 2, 0.33 / 0.31 / 1.00 at layer 3
# and 0.25 / 0.21 / 0.99 at layer 4. The earlier the layer, the more often the edit takes and
# the more it leaks to the neighbours; no layer comes near the paper's ~100%. Going further
# asks you to sweep it and set it beside your trace.

# %%
EDIT_LAYER = 2

# %% [markdown]
# ## Exercise 6: the subject's key
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 15 minutes, then look at the hint.
#
# Return $k_*$, `(d_mlp,)`: the key `blocks.{layer}.mlp.hook_post` at the **last subject token**
# of each prompt, averaged over the prompts. The prompts are `facts.Prompt`s with different
# prefixes, so the subject is not at the same position in each: use each one's `subject_pos`.
#
# <details><summary>Hint</summary>
#
# **Idea.** One padded batch, one cached run, then pick for every row the key at that row's own
# last subject position, and average the rows.
#
# **Pointer.** `facts.pad(prompts)` pads; `p.subject_pos[-1]` is the last subject position;
# `keys[torch.arange(B), positions]` picks one position per row. Taking the last position of the
# row (where the answer is read) is the usual mistake.
# </details>

# %% nbgrader={"solution": true, "grade_id": "subject_key"} exercise={"difficulty": 2, "importance": 4, "minutes": 15}
def subject_key(model, layer: int, prompts: list) -> torch.Tensor:
    """(d_mlp,) the mean over ``prompts`` of layer ``layer``'s MLP key at each prompt's last subject token."""
    ### BEGIN SOLUTION
    tokens, _ = facts.pad(prompts)
    cache = {}
    facts.run_with_hooks(model, tokens, cache=cache)
    keys = cache[f"blocks.{layer}.mlp.hook_post"]
    last = torch.tensor([p.subject_pos[-1] for p in prompts])
    return keys[torch.arange(len(prompts)), last].mean(0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "subject_key_test", "points": 3}
_ref_model = course.models.load("facts-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
def edit_prompts(subject: int, relation: str, template: int = 0, n: int = 10, seed: int = 0) -> list:
    """The edit's prompts: one paraphrase, ``n`` random filler prefixes (the first one empty)."""
    g = torch.Generator().manual_seed(seed)
    return [facts.encode(subject, relation, template, () if i == 0 else facts.random_prefix(g)) for i in range(n)]


_pr = edit_prompts(7, "city")
_one = facts.encode(7, "city", 0, ("so",))
_c = {}
facts.run_with_hooks(_ref_model, torch.tensor([_one.tokens]), cache=_c)
_got = checks.call("subject_key", subject_key, model, 1, [_one], case="one prompt")
checks.assert_shape("subject_key", _got, (cfg.d_mlp,))
checks.assert_close("subject_key", _got, _c["blocks.1.mlp.hook_post"][0, _one.subject_pos[-1]], atol=1e-5,
                    hint="the key at the subject's LAST token (position subject_pos[-1]), not at the end of the prompt")
_other = copy.deepcopy(model)
_other.blocks[1].mlp.fc.weight.mul_(-1)
_pair = [_one, facts.encode(8, "job", 1)]
_ref2 = []
for _p in _pair:
    _c = {}
    facts.run_with_hooks(_other, torch.tensor([_p.tokens]), cache=_c)
    _ref2.append(_c["blocks.1.mlp.hook_post"][0, _p.subject_pos[-1]])
checks.assert_close("subject_key", subject_key(_other, 1, _pair), torch.stack(_ref2).mean(0), atol=1e-5,
                    name="two prompts, another model", hint="the MEAN over the prompts, of the model passed in")
### BEGIN HIDDEN TESTS
_ref_model = course.models.load("facts-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_ref = []
for _p in _pr:
    _c = {}
    facts.run_with_hooks(_ref_model, torch.tensor([_p.tokens]), cache=_c)
    _ref.append(_c["blocks.3.mlp.hook_post"][0, _p.subject_pos[-1]])
checks.assert_close("subject_key", subject_key(model, 3, _pr), torch.stack(_ref).mean(0), atol=1e-5,
                    name="ten prompts with different prefixes, layer 3")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 7: the keys' second moment
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# ROME's $C = \mathbb{E}[kk^\top]$ (uncentred: no mean is subtracted) over the keys of layer
# `layer` at **every real token** of some text: here a batch of training prompts, padded with
# `<pad>` (id `facts.TOKEN["<pad>"]`), whose padding positions must not count. Return
# `(d_mlp, d_mlp)`.
#
# <details><summary>Hint</summary>
#
# **Idea.** Collect the keys of all non-padding positions as the rows of a matrix $K$
# `(N, d_mlp)`; then $C = K^\top K / N$.
#
# **Pointer.** A boolean mask `tokens != pad_id` of shape `(B, T)` indexes a `(B, T, d_mlp)`
# tensor into `(N, d_mlp)`. `torch.cov` subtracts the mean: not what the formula wants.
# </details>

# %% nbgrader={"solution": true, "grade_id": "key_second_moment"} exercise={"difficulty": 1, "importance": 3, "minutes": 10}
def key_second_moment(model, layer: int, tokens: torch.Tensor) -> torch.Tensor:
    """(d_mlp, d_mlp) the mean of k k^T over the non-padding positions of ``tokens`` (B, T)."""
    ### BEGIN SOLUTION
    cache = {}
    facts.run_with_hooks(model, tokens, cache=cache)
    keys = cache[f"blocks.{layer}.mlp.hook_post"][tokens != facts.TOKEN[facts.PAD]]
    return keys.T @ keys / len(keys)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "key_second_moment_test", "points": 2}
_ref_model = course.models.load("facts-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
text_tokens, _, _ = facts.training_batch(600, torch.Generator().manual_seed(5))
_two = torch.tensor([[facts.TOKEN[facts.BOS], facts.TOKEN["so"], facts.TOKEN[facts.PAD]]])
_c = {}
facts.run_with_hooks(_ref_model, _two, cache=_c)
_k = _c["blocks.0.mlp.hook_post"][0, :2]
_got = checks.call("key_second_moment", key_second_moment, model, 0, _two, case="two tokens and one <pad>")
checks.assert_shape("key_second_moment", _got, (cfg.d_mlp, cfg.d_mlp))
checks.assert_close("key_second_moment", _got, _k.T @ _k / 2, atol=1e-5,
                    hint="the mean of k k^T over the two real tokens: no padding, no mean subtracted")
_other = copy.deepcopy(model)
_other.blocks[0].mlp.fc.weight.mul_(-1)
_c = {}
facts.run_with_hooks(_other, _two, cache=_c)
_k = _c["blocks.0.mlp.hook_post"][0, :2]
checks.assert_close("key_second_moment", key_second_moment(_other, 0, _two), _k.T @ _k / 2, atol=1e-5,
                    name="another model", hint="run the model passed in, not the notebook's `model`")
### BEGIN HIDDEN TESTS
_ref_model = course.models.load("facts-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_c = {}
facts.run_with_hooks(_ref_model, text_tokens[:40], cache=_c)
_m = text_tokens[:40] != facts.TOKEN[facts.PAD]
_K = _c["blocks.2.mlp.hook_post"][_m]
checks.assert_close("key_second_moment", key_second_moment(model, 2, text_tokens[:40]),
                    torch.einsum("ni,nj->ij", _K, _K) / _m.sum(), atol=1e-5, name="40 prompts, layer 2")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 8: the value, by gradient descent
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 4 points · about 25 minutes, then look at the hints.
#
# Find $\delta$ `(d_model,)` such that adding it to `blocks.{layer}.hook_mlp_out` **at each
# prompt's last subject token** (and nowhere else) makes the model give `new_object` at each
# prompt's end. Minimise the mean cross-entropy of `new_object` over the prompts plus
# `weight_decay * ||delta||^2` (which keeps $\delta$ small; the paper also bounds it), with
# `torch.optim.Adam([delta], lr=lr)` for `steps` steps from $\delta = 0$. Return $\delta$ detached.
# The model's own weights stay frozen: only $\delta$ has a gradient.
#
# <details><summary>Hint</summary>
#
# **Idea.** A leaf tensor `delta` with `requires_grad=True`, a hook that adds it at the right
# positions, and an ordinary training loop on it alone.
#
# **Pointer.** In the hook, `x = x.clone()` then `x[rows, last] = x[rows, last] + delta` with
# `rows = torch.arange(B)` and `last` the last subject positions (they differ between prompts).
# `F.cross_entropy(logits[rows, end], targets)` with `targets` filled with `new_object`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "solve_delta"} exercise={"difficulty": 3, "importance": 4, "minutes": 25}
def solve_delta(model, layer: int, prompts: list, new_object: int, steps: int = 60, lr: float = 0.1,
                weight_decay: float = 1e-3) -> torch.Tensor:
    """(d_model,) the vector added to layer ``layer``'s MLP output at the last subject token that makes
    the model say ``new_object`` (a token id) on every prompt."""
    ### BEGIN SOLUTION
    tokens, end = facts.pad(prompts)
    rows = torch.arange(len(prompts))
    last = torch.tensor([p.subject_pos[-1] for p in prompts])
    targets = torch.full((len(prompts),), new_object)
    delta = torch.zeros(model.cfg.d_model, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)

    def add(x):
        x = x.clone()
        x[rows, last] = x[rows, last] + delta
        return x

    for _ in range(steps):
        logits = facts.run_with_hooks(model, tokens, {f"blocks.{layer}.hook_mlp_out": add})[rows, end]
        loss = F.cross_entropy(logits, targets) + weight_decay * delta.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return delta.detach()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "solve_delta_test", "points": 4}
_ref_model = course.models.load("facts-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
def p_of(model, prompts: list, objects: list[int]) -> torch.Tensor:
    """(len(prompts), len(objects)) the probability of each object at each prompt's end."""
    tokens, end = facts.pad(prompts)
    return model(tokens)[torch.arange(len(prompts)), end].softmax(-1)[:, objects]


def with_delta(layer, prompts, delta):
    rows = torch.arange(len(prompts))
    last = torch.tensor([p.subject_pos[-1] for p in prompts])

    def add(x):
        x = x.clone()
        x[rows, last] += delta
        return x

    tokens, end = facts.pad(prompts)
    return facts.run_with_hooks(_ref_model, tokens, {f"blocks.{layer}.hook_mlp_out": add})[rows, end].softmax(-1)


_s, _r = 3, "city"
_pr = edit_prompts(_s, _r)
_old = facts.answer(_s, _r)
_new = int(facts.OBJECT_IDS[_r][(facts.FACTS[_r][_s] + 1) % 10])  # the next city in the list
_delta = checks.call("solve_delta", solve_delta, model, EDIT_LAYER, _pr, _new,
                     case=f"{' '.join(facts.SUBJECTS[_s])} -> {facts.VOCAB[_new]}")
checks.assert_shape("solve_delta", _delta, (D,))
checks.assert_true("solve_delta", not _delta.requires_grad and not model.blocks[0].mlp.fc.weight.requires_grad,
                   "return delta.detach(), and leave the model's parameters frozen")
_p = with_delta(EDIT_LAYER, _pr, _delta)
checks.assert_true("solve_delta", bool((_p[:, _new] > 0.5).all()),
                   f"with delta added, P(new object) should pass 0.5 on every prompt; got {_p[:, _new]}",
                   hint="add delta at each prompt's last SUBJECT token, and minimise the new object's cross-entropy")
_dO = solve_delta(_other, EDIT_LAYER, _pr, _new, steps=3, weight_decay=0.5)
_rows, _lastO = torch.arange(len(_pr)), torch.tensor([q.subject_pos[-1] for q in _pr])
_tokO, _endO = facts.pad(_pr)


def _p_new_other(d):
    def add(x):
        x = x.clone()
        x[_rows, _lastO] += d
        return x
    return facts.run_with_hooks(_other, _tokO, {f"blocks.{EDIT_LAYER}.hook_mlp_out": add})[_rows, _endO].softmax(-1)[:, _new]


checks.assert_true("solve_delta", bool(_p_new_other(_dO).mean() > _p_new_other(torch.zeros(D)).mean()),
                   "3 steps on a second, random model should raise its P(new object)",
                   hint="optimise delta through the model you are given (the argument), not the notebook's `model`")
### BEGIN HIDDEN TESTS
_rows, _lastO = torch.arange(len(_pr)), torch.tensor([q.subject_pos[-1] for q in _pr])
_tokO, _endO = facts.pad(_pr)
_dO = solve_delta(_other, EDIT_LAYER, _pr, _new, steps=3, weight_decay=0.5)
_dref = torch.zeros(D, requires_grad=True)
_optref = torch.optim.Adam([_dref], lr=0.1)
for _ in range(3):
    def _addref(x):
        x = x.clone()
        x[_rows, _lastO] = x[_rows, _lastO] + _dref
        return x
    _lg = facts.run_with_hooks(_other, _tokO, {f"blocks.{EDIT_LAYER}.hook_mlp_out": _addref})[_rows, _endO]
    _lref = F.cross_entropy(_lg, torch.full((len(_pr),), _new)) + 0.5 * _dref.pow(2).sum()
    _optref.zero_grad()
    _lref.backward()
    _optref.step()
checks.assert_close("solve_delta", _dO, _dref.detach(), atol=1e-5, name="3 steps with weight_decay 0.5 on another model",
                    hint="loss = cross-entropy + weight_decay * (delta ** 2).sum(); zero the gradient every step")
_d2 = solve_delta(model, EDIT_LAYER, _pr, _new, steps=0)
checks.assert_close("solve_delta", _d2, torch.zeros(D), name="zero steps", hint="start from delta = 0")
_pr3 = edit_prompts(91, "language", template=2, n=6, seed=3)
_new3 = int(facts.OBJECT_IDS["language"][(facts.FACTS["language"][91] + 9) % 8])
_p3 = with_delta(EDIT_LAYER, _pr3, solve_delta(model, EDIT_LAYER, _pr3, _new3))
checks.assert_true("solve_delta", bool((_p3[:, _new3] > 0.5).all()), "another subject, relation and template")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 9: the rank-one update
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 4 points · about 20 minutes, then look at the hints.
#
# Write the closed form above: given $W$ `(d_out, d_in)` (the layout of `nn.Linear.weight`, so
# the value of a key is `W @ k`), $C$ `(d_in, d_in)`, $k_*$ `(d_in,)` and $v_*$ `(d_out,)`, return
# $\hat W$ with $\hat Wk_* = v_*$ and $\hat W - W$ of rank one. Do not invert $C$ explicitly.
#
# <details><summary>Hint</summary>
#
# **Idea.** Solve $Cu = k_*$ for $u = C^{-1}k_*$, then add the outer product of the residual
# $v_* - Wk_*$ with $u$, divided by the number $u^\top k_*$.
#
# **Pointer.** `torch.linalg.solve(C, k)` solves; `torch.outer(a, b)` is `a b^T`. The outer
# product must be `(d_out, d_in)`: residual first. With $C = I$ this is the minimal-norm edit.
# </details>

# %% nbgrader={"solution": true, "grade_id": "rank_one_update"} exercise={"difficulty": 3, "importance": 5, "minutes": 20}
def rank_one_update(W: torch.Tensor, C: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """W (d_out, d_in) -> W + (v - W k)(C^-1 k)^T / ((C^-1 k)^T k), a new tensor."""
    ### BEGIN SOLUTION
    u = torch.linalg.solve(C, k)
    return W + torch.outer(v - W @ k, u) / (u @ k)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "rank_one_update_test", "points": 4}
_W = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]])
_got = checks.call("rank_one_update", rank_one_update, _W, torch.eye(3), torch.tensor([1.0, 0.0, 0.0]),
                   torch.tensor([5.0, 5.0]), case="C = I, k = e1")
checks.assert_shape("rank_one_update", _got, (2, 3))
checks.assert_close("rank_one_update", _got, torch.tensor([[5.0, 0.0, 2.0], [5.0, 1.0, 0.0]]),
                    hint="with C = I and k = e1 only the first column changes, to v")
_g = torch.Generator().manual_seed(0)
_A = torch.randn(6, 6, generator=_g)
_C, _k, _v, _W = _A @ _A.T + 0.1 * torch.eye(6), torch.randn(6, generator=_g), torch.randn(4, generator=_g), torch.randn(4, 6, generator=_g)
_new_W = rank_one_update(_W, _C, _k, _v)
checks.assert_close("rank_one_update", _new_W @ _k, _v, atol=1e-4, name="W_hat k* = v*")
checks.assert_close("rank_one_update", torch.linalg.matrix_rank(_new_W - _W), torch.tensor(1), name="rank of the change")
_x = torch.randn(6, generator=_g)
_x = _x - (_x @ torch.linalg.solve(_C, _k)) / (_k @ torch.linalg.solve(_C, _k)) * _k  # (C^-1 k)^T x = 0
checks.assert_close("rank_one_update", _new_W @ _x, _W @ _x, atol=1e-4, name="a key C^-1-orthogonal to k*",
                    hint="the row vector of the outer product is C^-1 k (solve C u = k), not k")
### BEGIN HIDDEN TESTS
_new_W = rank_one_update(_W, _C, _k, _v)
_x = torch.randn(6, generator=_g)
_x = _x - (_x @ torch.linalg.solve(_C, _k)) / (_k @ torch.linalg.solve(_C, _k)) * _k  # (C^-1 k)^T x = 0
checks.assert_close("rank_one_update", _new_W @ _x, _W @ _x, atol=1e-4, name="a key C^-1-orthogonal to k*",
                    hint="the change is (v - W k) times (C^-1 k)^T x / (...): use C^-1 k, not k, on the right")
_W0 = _W.clone()
rank_one_update(_W, _C, _k, _v)
checks.assert_close("rank_one_update", _W, _W0, name="W itself is not modified", hint="return a new tensor")
### END HIDDEN TESTS

# %% [markdown]
# ## One edit, end to end
#
# Your four functions make ROME. `rome_edit` below takes a model, a (subject, relation) and a new
# object, and returns an edited copy: key from ten prefixed prompts, $\delta$ from the same
# prompts, $v_* = Wk_* + \delta$, and the update of `blocks[EDIT_LAYER].mlp.proj.weight`. $C$ comes
# from 600 training prompts, with a small ridge ($10^{-4}$ of its mean diagonal) because many of
# the 192 GELU units are almost never active and $C$ is nearly singular without it.

# %%
def rome_edit(model, subject: int, relation: str, new_object: int, layer: int = EDIT_LAYER, C: torch.Tensor | None = None,
              template: int = 0):
    prompts = edit_prompts(subject, relation, template)
    k = subject_key(model, layer, prompts)
    C = C_edit if C is None else C
    delta = solve_delta(model, layer, prompts, new_object)
    edited = copy.deepcopy(model)
    W = edited.blocks[layer].mlp.proj.weight
    W.data = rank_one_update(W.data, C, k, W.data @ k + delta)
    return edited


C_edit = key_second_moment(model, EDIT_LAYER, text_tokens)
C_edit = C_edit + 1e-4 * C_edit.diagonal().mean() * torch.eye(cfg.d_mlp)
edited = rome_edit(model, _s, _r, _new)
for t in range(facts.N_TEMPLATES):
    pr = facts.encode(_s, _r, t)
    before, after = p_of(model, [pr], [_old, _new])[0], p_of(edited, [pr], [_old, _new])[0]
    print(f"{' '.join(facts.VOCAB[i] for i in pr.tokens[1:]):40s} P({facts.VOCAB[_old]}) {before[0]:.2f} -> "
          f"{after[0]:.2f}   P({facts.VOCAB[_new]}) {before[1]:.2f} -> {after[1]:.2f}"
          + ("   (the edit's paraphrase)" if t == 0 else ""))

# %% [markdown]
# ## Exercise 10: efficacy, paraphrase, neighbourhood
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 20 minutes, then look at the hints.
#
# The paper's three scores for an edit "subject: old → new" (their section 4.2, for CounterFact),
# each the fraction of prompts, in `[0, 1]`, where one object is more probable than the other:
#
# - **efficacy**: on the edit's own paraphrase (template `template`, no prefix), $P(\text{new}) > P(\text{old})$;
# - **paraphrase**: on the subject's **other** templates of the same relation, $P(\text{new}) > P(\text{old})$;
# - **neighbourhood**: on every template of the same relation for each subject in `neighbours`,
#   $P(\text{their true object}) > P(\text{new})$: other subjects must keep their facts.
#
# Return a dict with those three keys, floats. `p_of(model, prompts, objects)` above gives the
# probabilities; `facts.answer(subject, relation)` a subject's true object.
#
# <details><summary>Hint</summary>
#
# **Idea.** Build three lists of prompts, compute the probabilities of the two objects compared
# in each, and average the comparisons.
#
# **Pointer.** Paraphrases are `range(facts.N_TEMPLATES)` without `template`. For the
# neighbourhood the true object changes from subject to subject: take the probability of each
# prompt's own answer (a gather), not `old`. `(a > b).float().mean().item()` is a score.
# </details>

# %% nbgrader={"solution": true, "grade_id": "edit_scores"} exercise={"difficulty": 2, "importance": 5, "minutes": 20}
def edit_scores(model, subject: int, relation: str, old: int, new: int, neighbours: list[int],
                template: int = 0) -> dict:
    """{"efficacy", "paraphrase", "neighbourhood"}: fractions of prompts, as floats."""
    ### BEGIN SOLUTION
    eff = p_of(model, [facts.encode(subject, relation, template)], [new, old])
    para = p_of(model, [facts.encode(subject, relation, t) for t in range(facts.N_TEMPLATES) if t != template],
                [new, old])
    prompts = [facts.encode(j, relation, t) for j in neighbours for t in range(facts.N_TEMPLATES)]
    tokens, end = facts.pad(prompts)
    probs = model(tokens)[torch.arange(len(prompts)), end].softmax(-1)
    true = torch.tensor([facts.answer(p.subject, relation) for p in prompts])
    nb = probs[torch.arange(len(prompts)), true] > probs[:, new]
    return {"efficacy": (eff[:, 0] > eff[:, 1]).float().mean().item(),
            "paraphrase": (para[:, 0] > para[:, 1]).float().mean().item(),
            "neighbourhood": nb.float().mean().item()}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "edit_scores_test", "points": 3}
def neighbours_of(subject: int, relation: str, new: int) -> list[int]:
    """The subjects that share two of their three tokens with ``subject`` (the easiest to disturb),
    less those whose true object is already ``new``."""
    me = facts.SUBJECTS[subject]
    return [j for j, other in enumerate(facts.SUBJECTS)
            if j != subject and sum(a == b for a, b in zip(me, other)) == 2 and facts.answer(j, relation) != new]


_nb = neighbours_of(_s, _r, _new)
_before = checks.call("edit_scores", edit_scores, model, _s, _r, _old, _new, _nb, case="the unedited model")
checks.assert_equal("edit_scores", sorted(_before), ["efficacy", "neighbourhood", "paraphrase"], name="keys")
checks.assert_equal("edit_scores", (_before["efficacy"], _before["paraphrase"]), (0.0, 0.0),
                    name="efficacy and paraphrase before the edit", hint="P(new) > P(old): the model still says old")
checks.assert_close("edit_scores", _before["neighbourhood"], 1.0, atol=0.05, name="neighbourhood before the edit",
                    hint="compare each neighbour's OWN answer with the new object")
_pt = p_of(_other, [facts.encode(_s, _r, t) for t in range(facts.N_TEMPLATES)], list(range(len(facts.VOCAB))))
_a, _b = next((i, j) for i in facts.OBJECT_IDS[_r].tolist() for j in facts.OBJECT_IDS[_r].tolist()
              if 0 < int((_pt[:, i] > _pt[:, j]).sum()) < facts.N_TEMPLATES)  # two objects the random model ranks
_wins = (_pt[:, _a] > _pt[:, _b]).float()                                    # differently in different templates
for _tmp in range(facts.N_TEMPLATES):
    _eo = edit_scores(_other, _s, _r, _b, _a, _nb[:2], template=_tmp)
    checks.assert_close("edit_scores", (_eo["efficacy"], _eo["paraphrase"]),
                        (_wins[_tmp].item(), (_wins.sum() - _wins[_tmp]).item() / (facts.N_TEMPLATES - 1)), atol=1e-6,
                        name=f"efficacy and paraphrase of a second, random model, the edit's template {_tmp}",
                        hint="efficacy: the template you are given; paraphrase: the mean over every OTHER template")
_after = edit_scores(edited, _s, _r, _old, _new, _nb)
print("before the edit:", _before, "\nafter the edit: ", _after)
checks.assert_close("edit_scores", _after["efficacy"], 1.0, name="efficacy after the edit")
### BEGIN HIDDEN TESTS
# a fake "edit": the new object's unembedding pushed up, so every prompt of every subject prefers it
_fake = copy.deepcopy(model)
_fake.unembed.weight[_new] += 2 * _fake.unembed.weight[_old]
_got = edit_scores(_fake, _s, _r, _old, _new, _nb)
_pp = p_of(_fake, [facts.encode(j, _r, t) for j in _nb for t in range(facts.N_TEMPLATES)], list(range(len(facts.VOCAB))))
_tr = torch.tensor([facts.answer(j, _r) for j in _nb for t in range(facts.N_TEMPLATES)])
checks.assert_close("edit_scores", _got["neighbourhood"],
                    (_pp[torch.arange(len(_tr)), _tr] > _pp[:, _new]).float().mean().item(), name="neighbourhood, fake edit",
                    hint="each neighbour's own answer against the new object")
_p2 = p_of(_fake, [facts.encode(_s, _r, t) for t in (0, 1, 3, 4)], [_new, _old])
_e2 = p_of(_fake, [facts.encode(_s, _r, 2)], [_new, _old])
_got2 = edit_scores(_fake, _s, _r, _old, _new, _nb, template=2)
checks.assert_close("edit_scores", _got2["paraphrase"], (_p2[:, 0] > _p2[:, 1]).float().mean().item(),
                    name="paraphrase when the edit's template is 2", hint="the paraphrases are the OTHER templates")
checks.assert_close("edit_scores", _got2["efficacy"], (_e2[:, 0] > _e2[:, 1]).float().mean().item(),
                    name="efficacy when the edit's template is 2")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 11: the paper's comparison, fine-tuning the same layer
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 4 points · about 20 minutes, then look at the hints.
#
# Is ROME's closed form better than simply training the same weights on the new fact? Meng et
# al. compared fine-tuning one layer, unconstrained (FT) and with every weight's change bounded
# in $L_\infty$ norm (FT+L, after Zhu et al. 2020). Write `finetune_edit`: a **copy** of the
# model in which only `blocks[layer].mlp.proj.weight` is trained, with
# `torch.optim.Adam([W], lr=lr)` for `steps` steps, on the mean cross-entropy of `new_object`
# at the end of each prompt. If `max_change` is given, after every step clamp each entry of the
# weight to within `max_change` of its original value. Return the copy, with no parameter
# requiring a gradient.
#
# <details><summary>Hint</summary>
#
# **Idea.** Deep-copy the model, make that one weight trainable, run a small training loop, and
# after each step project the weight back into the box around its starting value.
#
# **Pointer.** `copy.deepcopy(model)`; keep `W0 = W.detach().clone()`. The projection goes
# under `torch.no_grad()`: `W.copy_(W0 + (W - W0).clamp(-max_change, max_change))`. Training the
# original model instead of the copy changes `model` for every later cell: the test checks.
# </details>

# %% nbgrader={"solution": true, "grade_id": "finetune_edit"} exercise={"difficulty": 3, "importance": 4, "minutes": 20}
def finetune_edit(model, layer: int, prompts: list, new_object: int, steps: int = 40, lr: float = 1e-2,
                  max_change: float | None = None):
    """A copy of ``model`` with ``blocks[layer].mlp.proj.weight`` fine-tuned to say ``new_object`` on ``prompts``."""
    ### BEGIN SOLUTION
    tuned = copy.deepcopy(model)
    W = tuned.blocks[layer].mlp.proj.weight
    W0 = W.detach().clone()
    W.requires_grad_(True)
    opt = torch.optim.Adam([W], lr=lr)
    tokens, end = facts.pad(prompts)
    rows = torch.arange(len(prompts))
    targets = torch.full((len(prompts),), new_object)
    for _ in range(steps):
        loss = F.cross_entropy(tuned(tokens)[rows, end], targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if max_change is not None:
            with torch.no_grad():
                W.copy_(W0 + (W - W0).clamp(-max_change, max_change))
    W.requires_grad_(False)
    return tuned
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "finetune_edit_test", "points": 4}
_pr = edit_prompts(_s, _r)
_W_before = model.blocks[EDIT_LAYER].mlp.proj.weight.clone()
_ft = checks.call("finetune_edit", finetune_edit, model, EDIT_LAYER, _pr, _new, case="the same edit, unconstrained")
checks.assert_close("finetune_edit", model.blocks[EDIT_LAYER].mlp.proj.weight, _W_before, name="the original model",
                    hint="deep-copy the model and train the copy")
checks.assert_true("finetune_edit", not any(p.requires_grad for p in _ft.parameters()),
                   "return the copy with requires_grad off on every parameter")
_params = dict(model.named_parameters())
_changed = [n for n, p in _ft.named_parameters() if not torch.equal(p, _params[n])]
checks.assert_equal("finetune_edit", _changed, [f"blocks.{EDIT_LAYER}.mlp.proj.weight"], name="parameters changed",
                    hint="train only that one weight matrix")
checks.assert_true("finetune_edit", bool((p_of(_ft, _pr, [_new])[:, 0] > 0.5).all()),
                   "after fine-tuning, P(new object) should pass 0.5 on the edit's prompts")
_ftl = finetune_edit(model, EDIT_LAYER, _pr, _new, max_change=1e-3)
_dw = (_ftl.blocks[EDIT_LAYER].mlp.proj.weight - _W_before).abs().max()
checks.assert_true("finetune_edit", 0 < _dw <= 1e-3 + 1e-6, f"with max_change 1e-3 the largest change is {_dw:.2e}",
                   hint="clamp W - W0 after every step, not the gradient")
_ftO = finetune_edit(_other, EDIT_LAYER, _pr, _new, steps=3)
_params = dict(_other.named_parameters())
_sameO = [n for n, q in _ftO.named_parameters() if torch.equal(q, _params[n])]
checks.assert_equal("finetune_edit", len(_sameO), len(list(_other.parameters())) - 1,
                    name="parameters equal to the second model's after 3 steps on it",
                    hint="copy the model you are given (the argument), not the notebook's `model`")
### BEGIN HIDDEN TESTS
_rows, _tokO, _endO = torch.arange(len(_pr)), *facts.pad(_pr)
_ftO = finetune_edit(_other, EDIT_LAYER, _pr, _new, steps=3)
_Wref = copy.deepcopy(_other).blocks[EDIT_LAYER].mlp.proj.weight.detach().clone().requires_grad_(True)
_twin = copy.deepcopy(_other)
_twin.blocks[EDIT_LAYER].mlp.proj.weight = torch.nn.Parameter(_Wref)
_optW = torch.optim.Adam([_twin.blocks[EDIT_LAYER].mlp.proj.weight], lr=1e-2)
for _ in range(3):
    _lw = F.cross_entropy(_twin(_tokO)[_rows, _endO], torch.full((len(_pr),), _new))
    _optW.zero_grad()
    _lw.backward()
    _optW.step()
checks.assert_close("finetune_edit", _ftO.blocks[EDIT_LAYER].mlp.proj.weight, _twin.blocks[EDIT_LAYER].mlp.proj.weight,
                    atol=1e-6, name="3 Adam steps on another model", hint="zero the gradient every step")
_ft0 = finetune_edit(model, 2, _pr, _new, steps=0)
checks.assert_close("finetune_edit", _ft0.blocks[2].mlp.proj.weight, model.blocks[2].mlp.proj.weight, name="zero steps")
_ft2 = finetune_edit(model, 2, edit_prompts(91, "language", 2), _new3, steps=40, max_change=5e-3)
checks.assert_true("finetune_edit", (_ft2.blocks[2].mlp.proj.weight - model.blocks[2].mlp.proj.weight).abs().max()
                   <= 5e-3 + 1e-6, "layer 2, max_change 5e-3")
### END HIDDEN TESTS

# %% [markdown]
# ## The comparison, on twelve edits
#
# Twelve edits (four subjects per relation, each to an object it does not have), each made three
# ways at the same layer: ROME, FT and FT+L (`max_change` 0.1). The scores are the means of
# exercise 10's, and the table is the analogue of the paper's Table 1 on CounterFact. The cell
# below asserts what we measured when writing this lesson (it runs your functions, so it also
# tests them).
#
# The paper tuned FT+L's bound; so did we, at layer 2 (printed, not part of this notebook;
# efficacy / paraphrase / neighbourhood). We ran the sweep before noticing that one of the twelve
# edits asked for the subject's own object (a no-op edit every method fails, now replaced), so
# there efficacy could reach 0.92 at most: $5\cdot10^{-3}$ and $10^{-2}$ change nothing
# (0 / 0 / 1.00), $2\cdot10^{-2}$ gives 0 / 0.02 / 0.99, $5\cdot10^{-2}$ 0.33 / 0.27 / 0.92,
# 0.1 0.92 / 0.83 / 0.83 and 0.2 0.92 / 0.90 / 0.66 (unconstrained FT: 0.92 / 0.92 / 0.64).
# 0.1 is the smallest bound of the sweep at which FT+L edits as often as FT. The entries of this
# weight are 0.024 in absolute value on average and 0.23 at most, so 0.1 is a loose box.

# %% nbgrader={"grade": true, "grade_id": "finetune_edit_test_2", "points": 2}
cases = []
for i in range(12):
    subject, relation = 11 * i + 3, facts.REL_NAMES[i % 3]
    objects = facts.OBJECT_IDS[relation]
    shift = 1 + i if (1 + i) % len(objects) else 2 + i  # never the subject's own object
    cases.append((subject, relation, facts.answer(subject, relation),
                  int(objects[(facts.FACTS[relation][subject] + shift) % len(objects)])))
methods = {
    "ROME": lambda s, r, new: rome_edit(model, s, r, new),
    "FT": lambda s, r, new: finetune_edit(model, EDIT_LAYER, edit_prompts(s, r), new),
    "FT+L": lambda s, r, new: finetune_edit(model, EDIT_LAYER, edit_prompts(s, r), new, max_change=0.1),
}
table = {m: [] for m in methods}
for subject, relation, old, new in tqdm(cases, desc="edits"):
    for m, make in methods.items():
        table[m].append(edit_scores(make(subject, relation, new), subject, relation, old, new, neighbours_of(subject, relation, new)))
summary = {m: {k: float(np.mean([row[k] for row in rows])) for k in ("efficacy", "paraphrase", "neighbourhood")}
           for m, rows in table.items()}
print(f"{'':6s} {'efficacy':>9s} {'paraphrase':>11s} {'neighbourhood':>14s}")
for m, sc in summary.items():
    print(f"{m:6s} {sc['efficacy']:9.2f} {sc['paraphrase']:11.2f} {sc['neighbourhood']:14.2f}")
fig, ax = plt.subplots(figsize=(7, 2.8))
for j, m in enumerate(summary):
    ax.bar(np.arange(3) + 0.27 * (j - 1), list(summary[m].values()), width=0.27, label=m)
ax.set_xticks(range(3), ["efficacy", "paraphrase", "neighbourhood"])
ax.set(ylim=(0, 1.05), title=f"12 edits at layer {EDIT_LAYER}: ROME vs fine-tuning the same weights")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
# What we measured when writing the lesson (efficacy, paraphrase, neighbourhood): ROME 0.33, 0.38, 1.00;
# FT 1.00, 1.00, 0.625; FT+L (0.1) 1.00, 0.90, 0.85. Asserted with margins:
checks.assert_true("finetune_edit", summary["FT"]["efficacy"] > summary["ROME"]["efficacy"] + 0.3,
                   f"fine-tuning should change the fact more often than ROME on this model: {summary}")
checks.assert_true("finetune_edit", summary["ROME"]["neighbourhood"] > summary["FT"]["neighbourhood"] + 0.2,
                   f"ROME should keep the neighbours' facts better than unconstrained fine-tuning: {summary}")
checks.assert_true("finetune_edit", summary["FT+L"]["efficacy"] > summary["ROME"]["efficacy"] + 0.3,
                   f"with every weight held within 0.1, fine-tuning should still change the fact more often than "
                   f"ROME on this model: {summary}", hint="clamp W - W0 after each step, not W itself")
checks.assert_true("finetune_edit", summary["FT"]["neighbourhood"] + 0.1 < summary["FT+L"]["neighbourhood"]
                   < summary["ROME"]["neighbourhood"] - 0.05,
                   f"the bound should keep more neighbours than FT, fewer than ROME: {summary}")

# %% [markdown]
# ## What we reproduced, and what we did not
#
# **Causal tracing** (exercises 1-5) reproduces the method and the paper's plots, and the
# first half of its finding: corrupting the subject destroys the answer (P(object) 0.997 → 0.085
# on the city prompts, printed) and the residual stream at the last token brings it back,
# more with every layer. It does **not** reproduce the second half on our model: the states at
# the subject's positions restore about a tenth of the answer at most, and the MLPs' effect at the
# last subject token is near zero in every layer (asserted < 0.05); the largest MLP effect is
# the last layer's, at the last token. Our model gathers the subject's three tokens into the last
# position with attention and looks the fact up there. GPT-2 XL, trained on text where a subject's
# attributes are needed right after it, enriches the subject itself (Geva et al. 2023,
# "Dissecting Recall of Factual Associations in Auto-Regressive Language Models", describe both
# steps in real models).
#
# **The edit** (exercises 6-10) behaves as that reading predicts. A value written at the last
# subject token changes the fact in 4 of 12 edits at layer 2 (efficacy 0.33, printed; paraphrases
# 0.38), and when it does, the paraphrases follow; the neighbours, who share two of the three
# tokens, keep their facts (1.00). Why so few? While writing the lesson we checked each
# ingredient (printed, not part of this notebook; on these twelve edits before the no-op one
# described above was replaced, so at most 11 could succeed). The key is not the problem: on the edit's own
# prompt, $(C^{-1}k_*)^\top k / (C^{-1}k_*)^\top k_*$ at the last subject token is 0.95-1.09 in
# the ten edits we checked, so the edited matrix writes almost exactly $\delta$ there. Neither is
# the closed form: $\delta$ added directly at the last subject token, with no rank-one step,
# leaves P(new) below P(old) on the edit's own prompt in 5 of the 9 real edits we checked. More
# optimisation barely helps (200 steps for $\delta$ instead of 60 and $C$ from 2,000 prompts
# instead of 600: efficacy 0.42; the key averaged over 30 prefixes instead of 10: 0.33). On this
# model, for many subjects, no vector written at the last subject token of layer 2 changes the
# answer: the fact is read elsewhere, as the trace said. Fine-tuning the same matrix on the same
# prompts changes the fact in all 12 edits and the paraphrases with it, but then more than a third of the neighbours'
# prompts prefer the new object (0.625): the paper's trade-off, asserted above with margins. With
# the bound tuned (every weight within 0.1 of its value, FT+L) fine-tuning still changes the fact
# in all 12 (paraphrases 0.90) and keeps 0.85 of the neighbours: on our model the constrained
# fine-tuning beats ROME on efficacy, the reverse of the paper's Table 1, where FT+L's efficacy
# and paraphrase scores fall far below ROME's. We read it as one more sign that our model does
# not hold its facts at the last subject token: ROME writes only there, fine-tuning adapts the
# layer at every position, including the last token where this model reads the fact.
# We do not reproduce CounterFact, the paper's essence and fluency scores, or MEMIT.
#
# **What we tried to make the paper's picture appear.** The claim we wanted to assert was the
# paper's: the MLPs' effect peaks at the last subject token in a middle layer. We trained
# variants of the model meant to push the fact lookup there, each with the shipped training
# recipe except as listed: "bio" lines (`facts.FactsTrainConfig(bio=64)`: 64 lines
# `<bos> prefix Ka vel dor Oslo baker Welsh` per batch, so the last subject token must itself
# predict the city), narrower MLPs, more names and fewer syllables per slot (`facts.use_subjects(300, 7)`:
# every pair of tokens is then shared by about six names, so only the three together say who it
# is), a deeper model, and, to test our reading of the first rows, local attention in the first
# layers (below the table). Each was traced as in exercise 4 (the six paraphrases, here the first
# 150 names, one noise draw; printed, not part of this notebook; 4-23 minutes of one core each,
# training and tracing, on a loaded machine; `benchmarks/facts_variants.py` trains and traces a
# variant, and gives the "bio 64, 150 names, MLP 64" row to the digit). MLP effect at the last
# subject token, by layer:
#
# | variant | held-out | MLP at the last subject token, layer 0, 1, ... | restoring 2 MLP layers there, best | residual at the last subject token, best |
# |---|---|---|---|---|
# | shipped (no bio lines, 150 names of 10³, MLP 192, 3,000 steps) | 0.96 | 0.005, 0.004, −0.008, 0.003, −0.009, 0 | 0.001 (layers 2-3) | 0.087 (layer 0) |
# | bio 64, 300 names of 10³, MLP 96, 2,500 steps | 1.00 | **0.103**, 0.000, −0.005, 0.006, −0.003, 0 | 0.124 (layers 0-1) | 0.151 (layer 0) |
# | bio 64, 150 names of 10³, MLP 64, 2,000 steps | 1.00 | **0.068**, 0.036, 0.013, 0.003, 0.007, 0 | 0.101 (layers 0-1) | 0.191 (layer 0) |
# | bio 64, 300 names of 7³, MLP 96, 2,500 steps | 1.00 | **0.058**, 0.011, −0.001, −0.002, 0.001, 0 | 0.067 (layers 0-1) | 0.117 (layer 2) |
# | bio 64, 300 names of 7³, MLP 64, 2,500 steps | 1.00 | **0.046**, 0.003, 0.007, 0.007, 0.000, 0 | 0.060 (layers 0-1) | 0.118 (layer 1) |
# | bio 192, 150 names of 10³, MLP 64, 1,500 steps | 1.00 | **0.058**, 0.024, 0.009, 0.019, 0.023, 0 | 0.090 (layers 0-1) | 0.256 (layer 1) |
# | bio 64, 150 names of 10³, MLP 64, **8 layers**, 2,000 steps | 1.00 | **0.095**, 0.027, 0.005, 0.005, 0.002, 0.001, 0.001, 0 | 0.105 (layers 0-1) | 0.139 (layer 0) |
# | bio 64, 150 names of 10³, MLP 64, 2,000 steps, **attention windows 1, 2, 2, −, −, −** | 1.00 | 0.003, **0.024**, −0.002, 0.008, 0.022, 0 | 0.029 (layers 3-4) | 0.382 (layer 3) |
# | bio 64, 150 names of 10³, MLP 192, 2,000 steps, **windows 1, 2, 2, −, −, −** | 0.99 | 0.005, **0.042**, 0.008, 0.017, 0.010, 0 | 0.053 (layers 0-1) | 0.288 (layer 2) |
# | bio 64, 150 names of 10³, MLP 192, 2,000 steps, **windows 1, 2, 2, 2, 2, −** | 0.97 | 0.018, 0.042, 0.015, 0.005, **0.046**, 0 | 0.063 (layers 0-1) | 0.375 (layer 4) |
# | bio 64, 150 names of 10³, MLP 192, 2,000 steps, **windows 1, 1, 3, −, −, −** | 0.98 | 0.032, 0.000, 0.028, 0.038, **0.046**, 0 | 0.085 (layers 3-4) | 0.381 (layer 2) |
# | bio 64, 300 names of 7³, MLP 192, 2,500 steps, **windows 1, 2, 2, −, −, −** | 0.97 | 0.013, 0.009, 0.002, −0.003, **0.018**, 0 | 0.021 (layers 0-1) | 0.247 (layer 2) |
# | bio 64, 150 names of 10³, MLP 192, 2,000 steps, **windows 1, 1, 3, 2, 2, −** | 0.96 | **0.041**, 0.000, 0.008, 0.006, −0.004, 0 | 0.042 (layers 0-1) | 0.454 (layer 4) |
# | **bio 192**, 150 names of 10³, MLP 192, 1,500 steps, **windows 1, 1, 3, −, −, −** | 0.99 | **0.097**, 0.001, 0.044, 0.064, 0.072, 0 | 0.139 (layers 3-4) | 0.457 (layer 2) |
#
# The bio lines do move an MLP effect to the last subject token, as subject enrichment predicts
# (Geva et al. 2023), but without local attention always into **layer 0**, with six layers or
# eight. Narrower MLPs spread it over a second and third layer (0.068, 0.036, 0.013) without
# moving the peak, and harder names make the whole effect smaller, not later; three times as many
# bio lines leave a small second bump in layers 3-4 (0.019, 0.023) under the layer-0 peak. In every
# variant without local attention the residual stream at the last subject token restores 0.26 of
# P(object) at most: the paraphrases are still answered at the last token, from the subject's
# tokens gathered there. So this lesson asserts what its shipped model does
# (exercise 4) and keeps the paper's middle-layer peak as **not reproduced**.
#
# **Testing our reading: local attention in the first layers.** Our reading of the rows above was
# that the first attention layer already brings the three tokens together at the last one, so
# the first MLP can look the fact up at once, and nothing makes a later layer do it instead.
# GPT-2 XL assembles a subject of several tokens over several layers; that its early heads look
# mostly at nearby tokens is our assumption here, not something we measured or cite. To test the
# reading, `GPTConfig(attn_window=...)` gives each layer how far back its heads may look
# (1 = only the token itself, − = everywhere, the last rows of the table). With windows
# 1, 2, 2 in layers 0-2, MLP 0 sees one token and cannot tell the names apart, and the three
# subject tokens first meet at the last one in the attention of layers 1-2 (with 1, 1, 3: of
# layer 2 exactly); the later layers look everywhere, so the last token can still read the
# subject. The windows do move where the subject is assembled: it is now built at its last token
# in the middle layers, where restoring the residual stream brings back up to 0.45 of P(object)
# with 64 bio lines and 0.46 with 192 (layers 2-4), against 0.26 at most without windows. They do
# not make a middle-layer MLP take the lookup over. With 64 bio lines the MLP effect at the
# last subject token stays below 0.05 in every layer, spread over layers 0-4; its largest layer
# is 1 in two variants (with MLP 192 in three noise draws, 0.042, 0.025 and 0.035, with layer 3
# or 4 next at 0.017, 0.018 and 0.016), 4 in three and 0 in one, and two adjacent MLPs restore
# 0.085 at most. With 192 bio lines it rises through layers 2-4 (0.044, 0.064, 0.072; 0.139 for
# layers 3-4 together), the last layer whose output there the answer can read: a slope, not a
# middle-layer peak. And layer 0 is not empty even where it cannot look anything up: with
# windows 1, 1, 3, MLPs 0 and 1 see only their own token, yet MLP 0 restores 0.032, 0.041 (64
# bio lines) and 0.097 (192 bio lines), the largest entry of the last two rows. Restoring it hands
# the last subject token's own identity back clean, so part of the layer-0 "peaks" above may be
# that, not a lookup. Our
# reading now: what the last subject token carries in the middle layers is built there by
# several layers together, and a trace that restores one state at a time cannot single one MLP
# out; the shipped model is unchanged.
#
# **Does ROME follow the trace?** We ran this notebook's twelve edits with ROME on four of the
# variants too (printed; efficacy / paraphrase / neighbourhood). The shipped model: 0.67 / 0.58 /
# 0.90 at layer 0, 0.33 / 0.38 / 1.00 at layer 2. Bio lines, MLP 64: 0.75 / 0.73 / 0.73 at layer 0,
# 0.50 / 0.52 / 0.92 at layer 2. Bio lines, 300 names, MLP 96: 0.83 / 0.83 / 0.86 at layer 0 and
# **0.92 / 0.92 / 0.92 at layer 2**, a layer where its trace shows no MLP effect at the subject at
# all; fine-tuning layer 2 there gives 1.00 / 1.00 / 0.69 (FT) and 1.00 / 1.00 / 0.89 (FT+L, 0.1).
# At layer 2 only: 300 names of 7³, MLP 96: 0.75 / 0.75 / 0.93; 192 bio lines, MLP 64: 0.75 / 0.79 / 0.94.
# In every variant the bio lines made the facts easier to edit at the last subject token, but the
# layer that edits best is not the one tracing picks: Hase et al. (2023)'s finding on GPT-J, in miniature.
#
# On two of the windowed variants (`benchmarks/facts_variants.py NAME --trace-only --rome 0,1,2,3,4`,
# which runs this notebook's own functions and gives its numbers on the shipped model; printed).
# Windows 1, 2, 2, MLP 192, ROME at layers 0-4: 0.92 / 0.83 / 0.64, 0.92 / 0.92 / 0.90,
# 0.92 / 0.90 / 0.89, 0.75 / 0.73 / 0.97, 0.58 / 0.56 / 0.98. Windows 1, 1, 3 with 192 bio lines:
# 1.00 / 0.98 / 0.42, 1.00 / 1.00 / 0.39, 1.00 / 1.00 / 0.80, **0.92 / 0.94 / 0.98** and
# 0.83 / 0.92 / 1.00. In its layers 0-1 the MLP sees only the last subject token itself, so the
# key is that token's, shared by every name that ends with it, and the edit reaches the
# neighbours who share it (0.42, 0.39): a check that the key is what ROME edits. At layer 3, one of
# the layers where its trace rises, ROME behaves as in the paper's Table 1: the fact and its
# paraphrases change and the neighbours keep theirs, while fine-tuning the same layer changes the
# fact (1.00 / 1.00) and most of the neighbours' too (neighbourhood 0.07; FT+L with the bound of 0.1
# tuned on the shipped model: 1.00 / 1.00 / 0.08). So on this variant the paper's editing result
# appears, without its trace's middle-layer peak.
#
# ## Why this matters for safety
#
# Editing and unlearning are the tools proposed for removing what a model should not know
# (a hazardous procedure, a private fact) and for auditing what it does know; both rely on
# finding *where* the knowledge sits. This lesson shows the two halves can come apart: on our
# model causal tracing finds little at the subject's positions, yet an edit there works, which
# is the gap Hase, Bansal, Kim and Ghandeharioun (2023, "Does Localization Inform Editing?")
# measured on GPT-J, where the layer that tracing picks does not predict which layer edits best.
# The neighbourhood score matters as much as efficacy: an edit that also changes the subject's
# other facts, or its neighbours', is a new failure, and Cohen et al. (2024, "Evaluating the
# Ripple Effects of Knowledge Editing") show that edits also fail to propagate to what follows
# from the fact. An unlearning claim should therefore be backed by paraphrases, neighbours and
# extraction attempts, not by the one prompt that was edited (Lynch et al. 2024, "Eight Methods
# to Evaluate Robust Unlearning in LLMs").
#
# ## Going further
#
# 1. **Make the paper's picture appear.** None of our variants (the table above) put a clear
#    MLP peak in a middle layer: without local attention it sits in layer 0; with it, it spreads
#    over layers 1-4 or rises towards layer 4, the last one read there. Try what we did not: more relations per subject (so enriching the
#    subject once pays more), a tokeniser that splits names into a varying number of tokens, or
#    longer training with stronger weight decay. Our knobs were `facts.use_subjects(n, syllables)`,
#    `dataclasses.replace(facts.model_config(), d_mlp=64, attn_window=(1, 2, 2, None, None, None))`
#    and `facts.train(config, facts.FactsTrainConfig(bio=64, steps=2000))`
#    (`benchmarks/facts_variants.py` does it from the command line and traces the result).
# 2. **Windows of layers.** The paper restores a window of 10 of its 48 MLP layers at once.
#    Restore windows of 2 and 3 of our six layers on the shipped model and on a bio variant:
#    in the table, on every bio variant without local attention, the best window of 2 was layers
#    0-1 and added 0.033 at most to layer 0 alone; with it, layers 3-4 restore 0.139 at most. Is a window the right analogue for a model this shallow?
# 3. **Which layer edits best?** Run the twelve-edit comparison at every layer and plot the
#    three scores against the layer, next to the tracing effects, as Hase et al. did: is
#    there any correlation?
# 4. **Many edits at once.** MEMIT (Meng et al. 2023, "Mass-Editing Memory in a Transformer")
#    spreads thousands of edits over several layers. Apply 20 ROME edits one after another:
#    how fast do efficacy and the neighbourhood score of earlier edits degrade?
# 5. **The subject's other facts.** Measure, for each method, whether the edited subject still
#    knows its other two relations (`facts.answer(subject, other_relation)`): is "where it
#    lives" stored separately from "its job"?
# 6. **Unlearning instead of editing.** Solve for a value that makes the model *unsure*
#    (uniform over the relation's objects) rather than wrong. Can the old fact be recovered by
#    fine-tuning a few steps on other facts (Lynch et al. 2024)?

# %%
print(f"lesson ran in {time.perf_counter() - lesson_start:.0f} s")

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 4.5`), else from `bootcamp check 4.5` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("4.5")
