# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "3.1"
#     title: TransformerLens
#     minutes: 260
#     prerequisites: ["2.1", "2.2"]
# ---

# %% [markdown]
# # 3.1 TransformerLens
#
# In 2.2 you trained a byte-level GPT on Python's standard library, and it writes text that
# looks like Python. This lesson opens it up. You will read its activations, find which
# attention heads do a small job, and prove it by intervening on them. The tool is
# **TransformerLens** (version 4), the library most interpretability research code is
# written with. Its `TransformerBridge` wraps a model so that every intermediate activation
# has a name, can be cached, and can be changed by a *hook* while the model runs.
#
# The job to explain: **closing a string with the right quote.** After `name = 'invalid value`
# a Python programmer closes with `'`; after `name = "invalid value` with `"`. The shipped
# model gets this right on every prompt we try. By the end you will know which heads move
# "which quote opened this string" to the place where the model predicts the next byte.
#
# **After this lesson you can**
# - load a model into a `TransformerBridge`, run it with a cache, and find any activation by
#   its hook name (and say which hooks are aliases of which);
# - reproduce a cache with plain PyTorch forward hooks, and recompute an attention pattern
#   from the cached queries and keys;
# - split the final residual stream into per-head, per-MLP and embedding contributions and
#   compute each one's **direct logit attribution**, with the final LayerNorm handled correctly;
# - say what `enable_compatibility_mode()` changes (folding LayerNorm, centring weights,
#   folding value biases) and when it matters;
# - apply the **logit lens**, and **zero- and mean-ablate** a head with a hook;
# - run **activation patching** over layers × positions and over heads on clean/corrupted
#   pairs, and read the heatmaps.
#
# **Prerequisites.** 2.1 (a GPT from scratch: embeddings, LayerNorm, attention, the
# residual stream) and 2.2 (the shipped `stdlib-gpt` model, byte tokens, `encode`/`decode`).
# Read `course/models/gpt.py` once before you start (it is short): the hidden tests compare
# your answers with that plain PyTorch model.
#
# **Time.** About 4 hours 20 minutes: twelve graded exercises (35 points, one an investigation)
# and many pictures.
#
# **How the exercises work.** Each exercise explains an idea, then gives you a function whose
# body is `raise NotImplementedError`. Replace it and run the test cell below. A passing cell
# prints a line saying so; a failing one says what is wrong (shape, dtype, which element, by
# how much) and a likely cause. The visible tests check your function against the model's
# own numbers or an identity it must satisfy (the contributions must add up to the logit
# difference, say). When your notebook is graded, hidden tests recompute the same
# quantities independently from the plain PyTorch model, and add edge cases: one prompt,
# one position, float64, non-contiguous inputs. From a terminal, `bootcamp check 3.1` runs
# the whole notebook and prints a table of every exercise. Each exercise says how hard it is
# (🔴, 1–5), how much it matters for the rest of the course (🔵, 1–5) and how long to try
# before opening the hint.
#
# Everything runs offline on a CPU. The model is the course's own checkpoint; GPT-2 small
# appears only in an optional cell at the end that needs internet.

# %%
import copy
import itertools
import math
import os
import textwrap
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

import course.models
from course import checks
from course.models import tlens
from course.models.gpt import decode, encode

torch.set_num_threads(1)  # small model: one thread is as fast, and repeats to the last bit
torch.set_grad_enabled(False)  # nothing is trained in this lesson
torch.set_printoptions(precision=3, sci_mode=False, linewidth=120)

# %% [markdown]
# ## The model and the bridge
#
# `course.models.load("stdlib-gpt")` gives the plain PyTorch model of lesson 2.2 (2 layers,
# `d_model` 128, 4 heads of 32 dimensions, an MLP of 512, 256 byte tokens, context 128).
# `tlens.load_bridge("stdlib-gpt")` gives the *same weights* inside a TransformerLens
# `TransformerBridge`. `course/models/tlens.py` is the only file of the course that imports
# TransformerLens: it describes our architecture with a `TransformerBridgeConfig`, boots a
# bridge with `TransformerBridge.boot_native` and copies the weights in under
# TransformerLens's names. (TransformerLens 4 removed the `HookedTransformer` class that
# older tutorials use; the bridge replaces it.)
#
# The first call imports `transformer_lens`, which takes several seconds.

# %%
model = course.models.load("stdlib-gpt")
cfg = model.cfg
start = time.perf_counter()
bridge = tlens.load_bridge("stdlib-gpt")
print(f"bridge ready in {time.perf_counter() - start:.1f} s: {type(bridge).__name__}, "
      f"{cfg.n_layers} layers, {cfg.n_heads} heads of {cfg.d_head}, d_model {cfg.d_model}, d_mlp {cfg.d_mlp}")

prompt = "def main(argv):\n    parser = argparse.ArgumentParser()\n"
tokens = encode(prompt)[None]  # (batch 1, pos)
plain_logits = model(tokens)
bridge_logits = bridge(tokens)
print("logits", tuple(bridge_logits.shape), "| max |bridge - plain| =",
      f"{(bridge_logits - plain_logits).abs().max():.1e}")

# %% [markdown]
# ## The cache and hook names
#
# `bridge.run_with_cache(tokens)` runs the model once and returns the logits and an
# `ActivationCache`: a dictionary from **hook names** to the activation that passed through
# each hook. Every layer of the bridge is wrapped in `HookPoint`s, identity modules whose
# only job is to give an activation a name and a place to attach a function. The names
# you will use most, for layer `L`:
#
# | hook name | shape | what it is |
# |---|---|---|
# | `hook_embed`, `hook_pos_embed` | (batch, pos, d_model) | token and position embeddings |
# | `blocks.L.hook_resid_pre` | (batch, pos, d_model) | the residual stream entering block L |
# | `blocks.L.ln1.hook_scale` | (batch, pos, 1) | LayerNorm's $\sqrt{\mathrm{var} + \varepsilon}$ |
# | `blocks.L.attn.hook_q`, `hook_k`, `hook_v` | (batch, pos, head, d_head) | queries, keys, values |
# | `blocks.L.attn.hook_attn_scores` | (batch, head, query, key) | scores before the softmax |
# | `blocks.L.attn.hook_pattern` | (batch, head, query, key) | the attention pattern |
# | `blocks.L.attn.hook_z` | (batch, pos, head, d_head) | pattern-weighted values, one per head |
# | `blocks.L.hook_attn_out` | (batch, pos, d_model) | what attention adds to the stream |
# | `blocks.L.hook_resid_mid` | (batch, pos, d_model) | the stream between attention and MLP |
# | `blocks.L.mlp.hook_pre`, `hook_post` | (batch, pos, d_mlp) | MLP neurons before / after GELU |
# | `blocks.L.hook_mlp_out` | (batch, pos, d_model) | what the MLP adds |
# | `blocks.L.hook_resid_post` | (batch, pos, d_model) | the stream leaving block L |
# | `ln_final.hook_scale`, `ln_final.hook_normalized` | | the final LayerNorm |
#
# `cache["pattern", 1]` is a shorthand for `cache["blocks.1.attn.hook_pattern"]`.
#
# Many names are **aliases**. The bridge's own modules are named after the wrapped model's
# structure (`blocks.0.hook_in`, `blocks.0.attn.o.hook_in`), and the familiar names
# (`blocks.0.hook_resid_pre`, `blocks.0.attn.hook_z`) point at the same `HookPoint`. Inside
# a hook function, `hook.name` is the *canonical* name. The cache holds both names, so
# either works as a key.

# %%
logits, cache = bridge.run_with_cache(tokens)
print(f"{len(cache.keys())} cached activations; those of block 0:")
for name in cache.keys():
    if name.startswith("blocks.0.") and not any(f".attn.{x}." in name for x in "qkv"):
        print(f"  {name:34s} {tuple(cache[name].shape)}")
aliases = {name: hp.name for name, hp in bridge.hook_dict.items() if name != hp.name}
print("\nsome aliases (alias -> canonical name):")
for name in ["hook_embed", "blocks.0.hook_resid_pre", "blocks.0.hook_resid_post", "blocks.0.attn.hook_z",
             "blocks.0.hook_attn_out", "blocks.0.mlp.hook_pre", "blocks.0.hook_mlp_out"]:
    print(f"  {name:26s} -> {aliases.get(name, '(itself)')}")

# %% [markdown]
# ## Exercise 1: the same cache with plain PyTorch hooks
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 20 minutes, then look at the hint.
#
# TransformerLens is convenient, not magic. PyTorch itself lets you attach a function to
# any `nn.Module`:
#
# - `module.register_forward_hook(fn)` calls `fn(module, inputs, output)` after the module
#   runs (`inputs` is the tuple of positional arguments);
# - `module.register_forward_pre_hook(fn)` calls `fn(module, inputs)` before it runs.
#
# Each returns a handle; `handle.remove()` detaches the hook. A hook you forget to remove
# stays on the model and runs on every later call (a classic source of slowdowns and of
# caches that fill up memory), so remove them in a `finally:` block, which runs even when
# the forward pass raises.
#
# Write `torch_cache(model, tokens)`: run the plain course GPT once and return a dict with
# the residual-stream activations under TransformerLens's names. In the course model
# (`course/models/gpt.py`):
#
# | name | where it is in `GPT` |
# |---|---|
# | `hook_embed` | output of `model.wte` |
# | `hook_pos_embed` | output of `model.wpe`, shape (pos, d_model): repeat it over the batch |
# | `blocks.{i}.hook_resid_pre` | input of `model.blocks[i]` |
# | `blocks.{i}.hook_attn_out` | output of `model.blocks[i].attn` |
# | `blocks.{i}.hook_resid_mid` | input of `model.blocks[i].ln_2` (the stream after attention) |
# | `blocks.{i}.hook_mlp_out` | output of `model.blocks[i].mlp` |
# | `blocks.{i}.hook_resid_post` | output of `model.blocks[i]` |
#
# <details><summary>Hint</summary>
#
# A small factory makes one hook per name: `def save(name): def hook(module, inputs, output):
# cache[name] = output.detach(); return hook`, and a second one for pre-hooks that saves
# `inputs[0]`. Keep every handle in a list; `try: ... model(tokens) ... finally: for h in
# handles: h.remove()`. For the position embedding, `output.expand(batch, -1, -1)`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "torch_cache"} exercise={"difficulty": 3, "importance": 4, "minutes": 20}
def torch_cache(model, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    """Residual-stream activations of a course GPT, captured with PyTorch forward hooks.

    model: a course.models.gpt.GPT. tokens: (batch, pos) int64.
    Returns a dict with exactly these keys, each a float32 tensor of shape (batch, pos, d_model),
    detached: "hook_embed", "hook_pos_embed", and for every block i "blocks.{i}.hook_resid_pre",
    "blocks.{i}.hook_attn_out", "blocks.{i}.hook_resid_mid", "blocks.{i}.hook_mlp_out",
    "blocks.{i}.hook_resid_post". Leaves no hook on the model, even if the forward pass raises.
    """
    ### BEGIN SOLUTION
    found: dict[str, torch.Tensor] = {}
    batch = tokens.shape[0]

    def save_output(name, expand=False):
        def hook(module, inputs, output):
            out = output.detach()
            found[name] = out.expand(batch, -1, -1) if expand else out
        return hook

    def save_input(name):
        def hook(module, inputs):
            found[name] = inputs[0].detach()
        return hook

    handles = []
    try:
        handles.append(model.wte.register_forward_hook(save_output("hook_embed")))
        handles.append(model.wpe.register_forward_hook(save_output("hook_pos_embed", expand=True)))
        for i, block in enumerate(model.blocks):
            handles.append(block.register_forward_pre_hook(save_input(f"blocks.{i}.hook_resid_pre")))
            handles.append(block.attn.register_forward_hook(save_output(f"blocks.{i}.hook_attn_out")))
            handles.append(block.ln_2.register_forward_pre_hook(save_input(f"blocks.{i}.hook_resid_mid")))
            handles.append(block.mlp.register_forward_hook(save_output(f"blocks.{i}.hook_mlp_out")))
            handles.append(block.register_forward_hook(save_output(f"blocks.{i}.hook_resid_post")))
        with torch.no_grad():
            model(tokens)
    finally:
        for handle in handles:
            handle.remove()
    return found
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "torch_cache_test", "points": 3}
### BEGIN HIDDEN TESTS
_ref_model = course.models.load("stdlib-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
# (This hidden part comes first: the reference forward below is used by the hidden tests of
# later exercises, so it must be defined even when this exercise's own tests fail.)
def _ref_forward(model, tokens, edit_resid=None, edit_z=None):
    """A plain-PyTorch forward of a course GPT that exposes residuals, patterns and z,
    with optional edits: edit_resid(layer, resid) for layer 0..n_layers (n_layers = the final
    stream), edit_z(layer, z) with z of shape (batch, pos, head, d_head)."""
    _B, _T = tokens.shape
    x = model.embed(tokens)
    out = {"resid": [], "pattern": [], "z": [], "attn_out": [], "mlp_out": [], "resid_mid": []}
    _mask = torch.triu(torch.ones(_T, _T, dtype=torch.bool), diagonal=1)
    for _l, _blk in enumerate(model.blocks):
        if edit_resid is not None:
            x = edit_resid(_l, x.clone())
        out["resid"].append(x)
        _a = _blk.attn
        _h = _blk.ln_1(x)
        _q, _k, _v = _a.split_heads(_a.q(_h)), _a.split_heads(_a.k(_h)), _a.split_heads(_a.v(_h))
        _pat = (_q @ _k.transpose(-2, -1) / math.sqrt(_a.d_head)).masked_fill(_mask, float("-inf")).softmax(-1)
        _z = (_pat @ _v).transpose(1, 2)
        if edit_z is not None:
            _z = edit_z(_l, _z.clone())
        out["pattern"].append(_pat)
        out["z"].append(_z)
        _ao = _a.proj(_z.reshape(_B, _T, -1))
        out["attn_out"].append(_ao)
        x = x + _ao
        out["resid_mid"].append(x)
        _mo = _blk.mlp(_blk.ln_2(x))
        out["mlp_out"].append(_mo)
        x = x + _mo
    if edit_resid is not None:
        x = edit_resid(len(model.blocks), x.clone())
    out["resid"].append(x)
    return model.unembed(model.ln_f(x)), out


_names = ["hook_embed", "hook_pos_embed"] + [f"blocks.{i}.hook_{kind}" for i in range(cfg.n_layers)
                                            for kind in ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post")]
for _toks in (encode("    self.name = name")[None], encode("x")[None],
              torch.stack([encode("while True:\n"), encode("for i in x:\n"), encode("if a and b:\n")])):
    _lg, _ref = _ref_forward(_ref_model, _toks)
    _got = checks.call("torch_cache", torch_cache, model, _toks, case=f"tokens of shape {tuple(_toks.shape)}")
    checks.assert_equal("torch_cache", sorted(_got), sorted(_names), name="the dict's keys")
    _expect = {"hook_embed": _ref_model.wte(_toks), "hook_pos_embed": _ref_model.wpe(torch.arange(_toks.shape[1])).expand(_toks.shape[0], -1, -1)}
    for _i in range(cfg.n_layers):
        _expect[f"blocks.{_i}.hook_resid_pre"] = _ref["resid"][_i]
        _expect[f"blocks.{_i}.hook_attn_out"] = _ref["attn_out"][_i]
        _expect[f"blocks.{_i}.hook_resid_mid"] = _ref["resid_mid"][_i]
        _expect[f"blocks.{_i}.hook_mlp_out"] = _ref["mlp_out"][_i]
        _expect[f"blocks.{_i}.hook_resid_post"] = _ref["resid"][_i + 1]
    with checks.tolerance(rtol=1e-4, atol=1e-5):
        for _name, _want in _expect.items():
            checks.assert_close("torch_cache", _got[_name], _want, name=f'cache["{_name}"] on {tuple(_toks.shape)} tokens',
                                hint="model.wpe returns (pos, d_model): expand it to (batch, pos, d_model)"
                                if _name == "hook_pos_embed" else None)
    checks.assert_true("torch_cache", not any(v.requires_grad for v in _got.values()),
                       "some cached tensors still require grad", hint="store output.detach()")
_too_long = torch.zeros(1, cfg.n_ctx + 1, dtype=torch.long)
try:
    torch_cache(model, _too_long)
except ValueError:
    pass
_left = [n for n, m in model.named_modules() if m._forward_hooks or m._forward_pre_hooks]
checks.assert_true("torch_cache", not _left,
                   f"after a forward pass that raised (tokens longer than n_ctx), hooks are still attached to {_left[:3]}",
                   hint="remove the handles in a finally: block, so they go even when model(tokens) raises")
### END HIDDEN TESTS
_names = ["hook_embed", "hook_pos_embed"] + [f"blocks.{i}.hook_{kind}" for i in range(cfg.n_layers)
                                            for kind in ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post")]
_tokens = torch.stack([encode("import os\nimport sys\n"), encode("def f(x): return x+1\n")])
_, _bcache = bridge.run_with_cache(_tokens)
_twice = course.models.load("stdlib-gpt")  # another model: the shipped one (the test's own) with its token embeddings doubled
with torch.no_grad():
    _twice.wte.weight.mul_(2.0)
got = torch_cache(model, _tokens)
checks.assert_true("torch_cache", isinstance(got, dict), f"torch_cache returned {type(got).__name__}, not a dict",
                   hint="return the dict your hooks filled")
with torch.no_grad():
    checks.assert_close("torch_cache", torch_cache(_twice, _tokens)["hook_embed"], _twice.wte(_tokens),
                        name='cache["hook_embed"] of another model (token embeddings doubled)',
                        hint="hook the `model` argument, not the notebook's `model`")
del _twice  # not needed again: a model a test hands to your code is kept in step with the grader's copy while it lives
checks.assert_equal("torch_cache", sorted(got), sorted(_names), name="the dict's keys",
                    hint="one entry per name in the table, with TransformerLens's exact spelling")
with checks.tolerance(rtol=1e-4, atol=1e-4):
    for _name in _names:
        checks.assert_shape("torch_cache", got[_name], tuple(_bcache[_name].shape), name=f'cache["{_name}"]',
                            hint="hook_pos_embed: model.wpe returns (pos, d_model); expand it over the batch")
        checks.assert_close("torch_cache", got[_name], _bcache[_name], name=f'cache["{_name}"]',
                            hint="resid_pre is a block's INPUT (a pre-hook), resid_post its OUTPUT; resid_mid "
                                 "is the input of ln_2")
_left = [n for n, m in model.named_modules() if m._forward_hooks or m._forward_pre_hooks]
checks.assert_true("torch_cache", not _left, f"hooks are still attached to {_left[:3]} after the call",
                   hint="keep every handle register_forward_hook returns and call handle.remove() in a finally: block")
print("torch_cache: visible tests pass")

# %% [markdown]
# Your hooks and the bridge agree: the bridge *is* the same computation, with names. From now
# on we use the bridge's cache.
#
# ## The task: closing the right quote
#
# Every prompt below has the same layout, so that position 11 is always the opening quote
# and the last position is always the last letter of the string:
#
# ```
#     name = 'invalid value         clean: the model should close with '
#     name = "invalid value         corrupted: the same prompt with the other quote
# ```
#
# The four-letter variable, the two words and the quote vary. Half the clean prompts open
# with `'` and half with `"`; the corrupted prompt of each pair swaps the quote. The
# **correct** answer of a pair is the clean prompt's quote, the **wrong** one the other
# quote, and the metric is the **logit difference** logit(correct) − logit(wrong) at the
# last position. The logit difference isolates "which quote" from "does the string end
# here". The model's favourite next byte is often a space (the string could go on), but
# between the two quote characters it should prefer the right one.

# %%
VARS = ["name", "text", "line", "path", "mode", "kind", "attr", "data"]
FIRST = ["invalid", "unknown", "missing", "expects", "default", "illegal", "unicode", "another"]
SECOND = ["value", "error", "token", "field", "entry", "bytes", "items", "lines"]
QUOTE_POS = 11  # "    name = " is 11 bytes: the opening quote is byte 11
SINGLE, DOUBLE = ord("'"), ord('"')  # 39 and 34


def quote_pairs(n: int, seed: int = 0):
    """n clean/corrupted prompt pairs: (clean, corrupted) (n, 25) int64, and the correct and wrong
    quote byte of each pair, (n,) int64. Even rows open with ', odd rows with "."""
    combos = list(itertools.product(VARS, FIRST, SECOND))
    order = torch.randperm(len(combos), generator=torch.Generator().manual_seed(seed))[:n]
    quotes = ["'" if i % 2 == 0 else '"' for i in range(n)]
    clean = torch.stack([encode(f"    {combos[j][0]} = {q}{combos[j][1]} {combos[j][2]}") for j, q in zip(order, quotes)])
    correct = clean[:, QUOTE_POS].clone()
    wrong = torch.where(correct == SINGLE, DOUBLE, SINGLE)
    corrupted = clean.clone()
    corrupted[:, QUOTE_POS] = wrong
    return clean, corrupted, correct, wrong


N_PROMPTS = 16
clean_tokens, corrupted_tokens, correct, wrong = quote_pairs(N_PROMPTS)
clean_logits, clean_cache = bridge.run_with_cache(clean_tokens)
corrupted_logits, corrupted_cache = bridge.run_with_cache(corrupted_tokens)
for i in range(4):
    print(repr(decode(clean_tokens[i])), "  corrupted:", repr(decode(corrupted_tokens[i])))
probs = model(clean_tokens[:1])[0, -1].softmax(-1)
top = probs.topk(5)
print("\nthe model's top 5 next bytes after", repr(decode(clean_tokens[0])), ":",
      ", ".join(f"{chr(int(t))!r} {float(p):.2f}" for p, t in zip(top.values, top.indices)))

# %% [markdown]
# ## Exercise 2: the logit difference
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 8 minutes, then look at the hint.
#
# Write `logit_diff(logits, correct, wrong)`: for each prompt `b`, the logit of
# `correct[b]` minus the logit of `wrong[b]`, both at the **last** position. `correct` and
# `wrong` are either one int for every prompt or a (batch,) tensor with one token per
# prompt. Example: logits at the last position `[[1, 5, 2], [0, 0, 3]]`, correct `[1, 2]`,
# wrong `[0, 0]` give `[5 − 1, 3 − 0] = [4, 3]`.
#
# <details><summary>Hint</summary>
#
# `last = logits[:, -1]` is (batch, vocab). Turn the ints into tensors of length batch with
# `torch.as_tensor(correct).expand(batch)`; then `last[torch.arange(batch), correct]`
# picks one logit per row (or use `last.gather(1, correct[:, None])[:, 0]`).
# </details>

# %% nbgrader={"solution": true, "grade_id": "logit_diff"} exercise={"difficulty": 1, "importance": 4, "minutes": 8}
def logit_diff(logits: torch.Tensor, correct, wrong) -> torch.Tensor:
    """logit(correct) - logit(wrong) at the last position of each prompt.

    logits: (batch, pos, vocab) float. correct, wrong: an int, or (batch,) int64 tensors.
    Returns (batch,), the dtype of logits.
    """
    ### BEGIN SOLUTION
    last = logits[:, -1]
    batch = last.shape[0]
    rows = torch.arange(batch)
    correct = torch.as_tensor(correct).expand(batch)
    wrong = torch.as_tensor(wrong).expand(batch)
    return last[rows, correct] - last[rows, wrong]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "logit_diff_test", "points": 2}
_ref_model = course.models.load("stdlib-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_lg = torch.tensor([[[9.0, 9.0, 9.0], [1.0, 5.0, 2.0]], [[9.0, 9.0, 9.0], [0.0, 0.0, 3.0]]])
checks.assert_close("logit_diff", logit_diff(_lg, torch.tensor([1, 2]), torch.tensor([0, 0])), torch.tensor([4.0, 3.0]),
                    hint="use the LAST position, logits[:, -1], and one (correct, wrong) pair per prompt")
checks.assert_close("logit_diff", logit_diff(_lg, 2, 1), torch.tensor([-3.0, 3.0]),
                    hint="an int applies to every prompt")
print("logit_diff: visible tests pass")
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(5)
_big = torch.randn(6, 4, 7, generator=_g, dtype=torch.float64)
_c, _w = torch.tensor([0, 6, 3, 3, 1, 2]), torch.tensor([1, 0, 3, 2, 6, 5])
_want = _big[torch.arange(6), -1, _c] - _big[torch.arange(6), -1, _w]
_got = checks.call("logit_diff", logit_diff, _big, _c, _w, case="float64 logits")
checks.assert_dtype("logit_diff", _got, torch.float64, hint="keep the logits' dtype")
checks.assert_close("logit_diff", _got, _want, hint="one (correct, wrong) pair per prompt, at the last position")
_view = torch.randn(7, 4, 6, generator=_g).transpose(0, 2)  # (6, 4, 7), non-contiguous
checks.assert_close("logit_diff", checks.call("logit_diff", logit_diff, _view, _c, _w, case="a non-contiguous view"),
                    _view[torch.arange(6), -1, _c] - _view[torch.arange(6), -1, _w])
checks.assert_close("logit_diff", checks.call("logit_diff", logit_diff, _big[:1], 4, 2, case="one prompt, int tokens"),
                    _big[:1, -1, 4] - _big[:1, -1, 2])
checks.assert_close("logit_diff", logit_diff(_big, torch.tensor(3), torch.tensor(5)), _big[:, -1, 3] - _big[:, -1, 5],
                    hint="a 0-d tensor also applies to every prompt")
_lg1 = _ref_model(clean_tokens[:4])
checks.assert_close("logit_diff", logit_diff(_lg1, correct[:4], wrong[:4]),
                    _lg1[torch.arange(4), -1, correct[:4]] - _lg1[torch.arange(4), -1, wrong[:4]])
### END HIDDEN TESTS

# %% [markdown]
# Now measure, before explaining anything, that the model does the task: every clean prompt
# should get a clearly positive logit difference, every corrupted one a negative one.

# %%
clean_ld = logit_diff(clean_logits, correct, wrong)
corrupted_ld = logit_diff(corrupted_logits, correct, wrong)
CLEAN_LD, CORRUPTED_LD = clean_ld.mean().item(), corrupted_ld.mean().item()
print(f"clean:     mean logit diff {CLEAN_LD:+.2f}, min {clean_ld.min():+.2f}, right quote preferred in "
      f"{(clean_ld > 0).float().mean():.0%} of {len(clean_ld)} prompts")
print(f"corrupted: mean logit diff {CORRUPTED_LD:+.2f}, max {corrupted_ld.max():+.2f} (the model follows the new quote)")

fig, ax = plt.subplots(figsize=(8, 2.8))
ax.bar(np.arange(N_PROMPTS) - 0.2, clean_ld.numpy(), width=0.4, label="clean")
ax.bar(np.arange(N_PROMPTS) + 0.2, corrupted_ld.numpy(), width=0.4, label="corrupted")
ax.axhline(0, color="black", lw=0.8)
ax.set_xlabel("prompt (even: opens with ', odd: opens with \")")
ax.set_ylabel("logit(correct) − logit(wrong)")
ax.set_title("The model closes with the quote that opened the string")
ax.legend()
plt.show()

# %% [markdown]
# A logit difference of 3 means the right quote is $e^3 \approx 20$ times as likely as the
# wrong one. We will explain the clean runs, and use the corrupted ones as the
# counterfactual: the pair differs in exactly one byte, so any internal activation that
# differs between the two runs carries "which quote".
#
# ## Exercise 3: attention patterns from queries and keys
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 12 minutes, then look at the hint.
#
# The cache holds the attention pattern, but recomputing it from `hook_q` and `hook_k` is
# the best check that you know what it is. For a head with queries $q_i$ and keys $k_j$
# (rows of length $d_\text{head}$):
#
# $$\text{score}_{ij} = \frac{q_i \cdot k_j}{\sqrt{d_\text{head}}}, \qquad
# \text{pattern}_{ij} = \operatorname{softmax}_j\big(\text{score}_{ij}\big) \text{ over } j \le i,$$
#
# and 0 for $j > i$ (the causal mask: a position never reads the future). Note the layouts:
# the cache stores `q` and `k` as (batch, pos, head, d_head) but the pattern as (batch,
# head, query_pos, key_pos). They are the layouts of lesson 2.1's `attention_pattern`, chosen
# there for this cache: your 2.1 function would pass this test as it is, and here it meets
# real activations.
#
# <details><summary>Hint</summary>
#
# **The idea.** Scores are query-key dot products per head, scaled by one over the square root of
# `d_head`; a query may not look at later positions, so those become minus infinity before the
# softmax over keys. As in 2.1, the head axis comes *after* the position axis on the way in.
#
# **A pointer.** One einsum from `(b, q, h, d)` and `(b, k, h, d)` to `(b, h, q, k)`; a boolean mask
# strictly above the diagonal (`triu` with an offset), on `q`'s device.
# </details>

# %% nbgrader={"solution": true, "grade_id": "attention_pattern"} exercise={"difficulty": 2, "importance": 5, "minutes": 12}
def attention_pattern(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Causal attention pattern of every head.

    q, k: (batch, pos, head, d_head) float (as in cache["blocks.L.attn.hook_q"]).
    Returns (batch, head, query_pos, key_pos), same dtype; each row sums to 1 and is 0 above
    the diagonal.
    """
    ### BEGIN SOLUTION
    T, d_head = q.shape[1], q.shape[-1]
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(d_head)
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    return scores.masked_fill(mask, float("-inf")).softmax(dim=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "attention_pattern_test", "points": 3}
_ref_model = course.models.load("stdlib-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_future = torch.ones(25, 25, dtype=torch.bool).triu(1)  # key after query
for _layer in range(cfg.n_layers):
    _got = attention_pattern(clean_cache["q", _layer], clean_cache["k", _layer])
    checks.assert_shape("attention_pattern", _got, (N_PROMPTS, cfg.n_heads, 25, 25),
                        hint="the pattern is (batch, head, query_pos, key_pos); q and k are (batch, pos, head, d_head)")
    checks.assert_true("attention_pattern", bool((_got[..., _future] == 0).all()),
                       f"layer {_layer}: some attention goes to later positions (above the diagonal)",
                       hint="mask the scores with -inf where key_pos > query_pos: torch.ones(T, T, dtype=torch.bool).triu(1)")
    with checks.tolerance(rtol=1e-4, atol=1e-5):
        checks.assert_close("attention_pattern", _got.sum(-1), torch.ones(N_PROMPTS, cfg.n_heads, 25),
                            name=f"layer {_layer}: sum of each row over the keys", hint="softmax over the LAST axis (the keys)")
        checks.assert_close("attention_pattern", _got[..., ~_future], clean_cache["pattern", _layer][..., ~_future],
                            name=f"layer {_layer}'s pattern on and below the diagonal (batch, head, flattened (query, key))",
                            hint="scores are q·k / sqrt(d_head): did you forget or misplace the scale?")
print("attention_pattern: visible tests pass")
### BEGIN HIDDEN TESTS
_toks = torch.stack([encode("class A:\n    def f(self):\n"), encode("from os import path as p\n\n")])
_, _ref = _ref_forward(_ref_model, _toks)
_B, _T = _toks.shape
for _layer in range(cfg.n_layers):
    _blk = _ref_model.blocks[_layer]
    _h = _blk.ln_1(_ref["resid"][_layer])
    _q = _blk.attn.q(_h).view(_B, _T, cfg.n_heads, cfg.d_head)
    _k = _blk.attn.k(_h).view(_B, _T, cfg.n_heads, cfg.d_head)
    with checks.tolerance(rtol=1e-4, atol=1e-6):
        checks.assert_close("attention_pattern", checks.call("attention_pattern", attention_pattern, _q, _k, case="the plain model's q, k"),
                            _ref["pattern"][_layer], name=f"the plain model's layer {_layer} pattern")
_g = torch.Generator().manual_seed(3)
_q1, _k1 = torch.randn(2, 1, 3, 8, generator=_g), torch.randn(2, 1, 3, 8, generator=_g)
checks.assert_close("attention_pattern", checks.call("attention_pattern", attention_pattern, _q1, _k1, case="one position"),
                    torch.ones(2, 3, 1, 1), hint="with one position, each query attends fully to itself")
_q64 = torch.randn(3, 6, 2, 4, generator=_g, dtype=torch.float64) * 100  # huge scores
_k64 = torch.randn(3, 6, 2, 4, generator=_g, dtype=torch.float64) * 100
_s = torch.einsum("bqhd,bkhd->bhqk", _q64, _k64) / 2.0
_want = torch.where(torch.ones(6, 6, dtype=torch.bool).triu(1), -torch.inf, _s).softmax(-1)
_got = checks.call("attention_pattern", attention_pattern, _q64, _k64, case="float64 inputs with huge scores")
checks.assert_dtype("attention_pattern", _got, torch.float64, hint="keep the input's dtype")
checks.assert_close("attention_pattern", _got, _want,
                    hint="huge scores must not overflow: torch.softmax is stable, a hand-written exp is not")
_qv = torch.randn(5, 4, 6, 2, generator=_g).permute(2, 1, 3, 0)  # (6, 4, 2, 5): a non-contiguous view
_kv = torch.randn(5, 4, 6, 2, generator=_g).permute(2, 1, 3, 0)
_s = torch.einsum("bqhd,bkhd->bhqk", _qv, _kv) / math.sqrt(_qv.shape[-1])
_want = torch.where(torch.ones(4, 4, dtype=torch.bool).triu(1), -torch.inf, _s).softmax(-1)
checks.assert_close("attention_pattern", checks.call("attention_pattern", attention_pattern, _qv, _kv, case="non-contiguous views"),
                    _want, hint="d_head is q.shape[-1]; a permuted view must work like any tensor")
### END HIDDEN TESTS

# %% [markdown]
# ### Looking at the heads
#
# A pattern is a (query, key) matrix per head: row $i$ says where position $i$ reads from.
# Below, all eight heads on one clean prompt. Rows are the position doing the reading; the
# last row is the position that must predict the closing quote. Look for a head whose last
# row lights up at the opening quote (column 11).

# %%
def byte_labels(toks) -> list[str]:
    """Readable labels for byte tokens: a space shows as ␣, a newline as ⏎, other unprintable bytes as ·."""
    names = {ord(" "): "␣", ord("\n"): "⏎"}
    return [names.get(int(t), chr(int(t)) if 32 < int(t) < 127 else "·") for t in toks]


def show_patterns(patterns, labels, titles, suptitle, ncols=4):
    """Draw several (query, key) attention patterns side by side."""
    nrows = math.ceil(len(patterns) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 3.4 * nrows), squeeze=False)
    for i, (ax, pat, title) in enumerate(zip(axes.flat, patterns, titles)):
        ax.imshow(pat, cmap="Blues", vmin=0, vmax=1)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(len(labels)), labels, fontsize=6)
        ax.set_yticks(range(len(labels)), labels if i % ncols == 0 else [], fontsize=6)
        ax.set_xlabel("key (read from)", fontsize=8)
    for ax in axes.flat[len(patterns):]:
        ax.axis("off")
    fig.suptitle(suptitle)
    plt.tight_layout()
    plt.show()


example = 0
labels = byte_labels(clean_tokens[example])
show_patterns([clean_cache["pattern", layer][example, head] for layer in range(cfg.n_layers) for head in range(cfg.n_heads)],
              labels, [f"L{layer}H{head}" for layer in range(cfg.n_layers) for head in range(cfg.n_heads)],
              f"Attention patterns on {decode(clean_tokens[example])!r} (rows: query, columns: key)")

to_quote = torch.stack([clean_cache["pattern", layer][:, :, -1, QUOTE_POS].mean(0) for layer in range(cfg.n_layers)])
to_previous = torch.stack([clean_cache["pattern", layer].diagonal(-1, -2, -1).mean((0, -1)) for layer in range(cfg.n_layers)])
print("attention from the last position to the opening quote (mean over prompts), rows = layers:\n", to_quote)
print("attention to the previous position (mean over prompts and positions):\n", to_previous)

# %% [markdown]
# Two layer-1 heads, L1H0 and L1H1, read the opening quote from the last position, across
# fifteen bytes of text. Layer-0 heads mostly look at recent bytes (L0H1 often at the
# previous one). Attention shows where a head *reads*, not what it writes or whether the
# output matters. The next three sections measure what the heads write.
#
# ## Direct logit attribution
#
# The residual stream at the last position is a **sum**: the token and position
# embeddings, plus what every attention layer and every MLP wrote into it. An attention
# layer's output is itself a sum over heads. Write $z_h$ (a row of `hook_z`) for head $h$'s
# pattern-weighted value vector and $W_O^h$ (`bridge.W_O[layer, h]`, $d_\text{head} \times
# d_\text{model}$) for its slice of the output projection. Then
#
# $$\text{attn\_out} = \sum_h z_h W_O^h + b_O .$$
#
# The final residual is $x = \sum_c x_c$ over components $c$: embed, pos_embed, each head,
# each layer's $b_O$, each MLP. The logits are
# $\text{LN}(x)\,W_U$, with the final LayerNorm
#
# $$\text{LN}(x) = \frac{x - \operatorname{mean}(x)}{s}\odot w + b, \qquad s = \sqrt{\operatorname{var}(x) + \varepsilon} .$$
#
# Everything here is linear in $x$ except the scale $s$. If we **freeze** $s$ at the value
# it had on this input (the cache stores it: `ln_final.hook_scale`), the logit difference
# splits exactly into one term per component plus a constant:
#
# $$\text{logit}(a) - \text{logit}(b) = \sum_c \underbrace{\frac{x_c - \operatorname{mean}(x_c)}{s}\cdot
# \big(w \odot (W_U[:, a] - W_U[:, b])\big)}_{\text{direct logit attribution of } c}
# \; + \; b \cdot (W_U[:, a] - W_U[:, b]) + b_U[a] - b_U[b].$$
#
# "Direct" because it counts only what $c$ writes straight to the logits. A component whose
# output is read by a later head or MLP gets no credit for that here: patching (below)
# measures total effects.
#
# ## Exercise 4: each head's output
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Write `head_outputs(z, W_O)`: what each head of one layer writes into the residual stream,
# $z_h W_O^h$, kept separate per head.
#
# <details><summary>Hint</summary>
#
# **The idea.** Each head writes its own result to the residual stream: its `z` vectors times its
# own slice of `W_O`. Keep the head axis instead of summing over it.
#
# **A pointer.** One einsum over `d_head`: write the index letters for `z` and `W_O`, and keep `h`
# in the output. Compare the sum over heads of your result with the attention output to check it.
# </details>

# %% nbgrader={"solution": true, "grade_id": "head_outputs"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def head_outputs(z: torch.Tensor, W_O: torch.Tensor) -> torch.Tensor:
    """Each head's contribution to the residual stream, before the output bias.

    z: (batch, pos, head, d_head) (cache["blocks.L.attn.hook_z"]).
    W_O: (head, d_head, d_model) (bridge.W_O[L]).
    Returns (batch, pos, head, d_model); summed over heads, plus b_O, it is hook_attn_out.
    """
    ### BEGIN SOLUTION
    return torch.einsum("bphd,hdm->bphm", z, W_O)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "head_outputs_test", "points": 2}
_ref_model = course.models.load("stdlib-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
for _layer in range(cfg.n_layers):
    _got = head_outputs(clean_cache["z", _layer], bridge.W_O[_layer])
    checks.assert_shape("head_outputs", _got, (N_PROMPTS, 25, cfg.n_heads, cfg.d_model),
                        hint="keep the head axis: (batch, pos, head, d_model)")
    with checks.tolerance(rtol=1e-4, atol=1e-5):
        checks.assert_close("head_outputs", _got.sum(2) + bridge.b_O[_layer], clean_cache[f"blocks.{_layer}.hook_attn_out"],
                            name=f"layer {_layer}: sum over heads + b_O",
                            hint="contract z's d_head axis with W_O's d_head axis, one head at a time (h in both)")
print("head_outputs: visible tests pass")
### BEGIN HIDDEN TESTS
_toks = torch.stack([encode("    return self._xyz\n"), encode("    raise ValueError(")])
_, _ref = _ref_forward(_ref_model, _toks)
for _layer in range(cfg.n_layers):
    _Wo = _ref_model.blocks[_layer].attn.proj.weight.T.reshape(cfg.n_heads, cfg.d_head, cfg.d_model)
    _got = checks.call("head_outputs", head_outputs, _ref["z"][_layer], _Wo, case="the plain model's z")
    for _h in range(cfg.n_heads):
        _want = _ref["z"][_layer][:, :, _h] @ _ref_model.blocks[_layer].attn.proj.weight[:, _h * cfg.d_head:(_h + 1) * cfg.d_head].T
        with checks.tolerance(rtol=1e-4, atol=1e-6):
            checks.assert_close("head_outputs", _got[:, :, _h], _want, name=f"layer {_layer} head {_h}'s output")
_g = torch.Generator().manual_seed(4)
_z = torch.randn(3, 2, 5, 4, generator=_g, dtype=torch.float64).transpose(1, 2)  # (3, 5, 2, 4) view
_W = torch.randn(2, 6, 4, generator=_g, dtype=torch.float64).transpose(1, 2)  # (2, 4, 6) view
_got = checks.call("head_outputs", head_outputs, _z, _W, case="float64 non-contiguous inputs")
checks.assert_dtype("head_outputs", _got, torch.float64)
checks.assert_close("head_outputs", _got, torch.stack([_z[:, :, h] @ _W[h] for h in range(2)], dim=2))
checks.assert_shape("head_outputs", checks.call("head_outputs", head_outputs, _z[:0], _W, case="an empty batch"), (0, 5, 2, 6))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: the residual stream as a stack of components
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 15 minutes, then look at the hint.
#
# Write `component_stack(cache, W_O, b_O)`: every term that adds up to the final residual
# stream, stacked along a new first axis, with a label for each, in this order:
#
# `"embed"`, `"pos_embed"`, then for each layer L: `"L{L}H0"` … `"L{L}H{n_heads-1}"`
# (the heads, from your `head_outputs`), `"L{L} b_O"` (the output bias, the same vector at
# every position), `"L{L} MLP"` (`hook_mlp_out`).
#
# For our model that is 2 + 2 × (4 + 2) = 14 components, and their sum must equal
# `cache["blocks.1.hook_resid_post"]`. The number of layers and heads comes from
# `W_O.shape`.
#
# <details><summary>Hint</summary>
#
# Build two lists, `parts` and `labels`. `heads = head_outputs(cache[f"blocks.{L}.attn.hook_z"],
# W_O[L])` is (batch, pos, head, d_model); `heads.unbind(dim=2)` gives one tensor per
# head. `b_O[L].expand_as(embed)` repeats the bias over batch and positions. Finish with
# `torch.stack(parts)`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "component_stack"} exercise={"difficulty": 3, "importance": 4, "minutes": 15}
def component_stack(cache, W_O: torch.Tensor, b_O: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
    """The final residual stream split into components.

    cache: an ActivationCache from bridge.run_with_cache (batch, pos).
    W_O: (n_layers, n_heads, d_head, d_model), b_O: (n_layers, d_model) (bridge.W_O, bridge.b_O).
    Returns (stack, labels): stack (n_components, batch, pos, d_model) whose sum over the first
    axis is the final residual stream; labels, a list of n_components strings in the order
    "embed", "pos_embed", then per layer L: "L{L}H{h}" for each head h, "L{L} b_O", "L{L} MLP".
    """
    ### BEGIN SOLUTION
    n_layers, n_heads = W_O.shape[:2]
    embed = cache["hook_embed"]
    parts = [embed, cache["hook_pos_embed"].expand_as(embed)]
    labels = ["embed", "pos_embed"]
    for layer in range(n_layers):
        heads = head_outputs(cache[f"blocks.{layer}.attn.hook_z"], W_O[layer])
        parts += list(heads.unbind(dim=2))
        labels += [f"L{layer}H{h}" for h in range(n_heads)]
        parts.append(b_O[layer].expand_as(embed))
        labels.append(f"L{layer} b_O")
        parts.append(cache[f"blocks.{layer}.hook_mlp_out"])
        labels.append(f"L{layer} MLP")
    return torch.stack(parts), labels
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "component_stack_test", "points": 3}
_ref_model = course.models.load("stdlib-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_want_labels = ["embed", "pos_embed"] + [lab for _l in range(cfg.n_layers)
                                         for lab in [f"L{_l}H{_h}" for _h in range(cfg.n_heads)] + [f"L{_l} b_O", f"L{_l} MLP"]]
_out = component_stack(clean_cache, bridge.W_O, bridge.b_O)
checks.assert_true("component_stack", isinstance(_out, tuple) and len(_out) == 2,
                   f"component_stack should return (stack, labels), got {type(_out).__name__}")
_stack, _labels = _out
checks.assert_equal("component_stack", list(_labels), _want_labels, name="labels",
                    hint="per layer: the heads, then 'L{L} b_O', then 'L{L} MLP'")
checks.assert_shape("component_stack", _stack, (len(_want_labels), N_PROMPTS, 25, cfg.d_model))
with checks.tolerance(rtol=1e-4, atol=1e-4):
    checks.assert_close("component_stack", _stack.sum(0), clean_cache["blocks.1.hook_resid_post"],
                        name="the sum of all components",
                        hint="did you forget a component (the position embedding, b_O) or count one twice?")
    checks.assert_close("component_stack", _stack[_labels.index("L1 MLP")], clean_cache["blocks.1.hook_mlp_out"],
                        name='the "L1 MLP" component')
print("component_stack: visible tests pass")
### BEGIN HIDDEN TESTS
_toks = torch.stack([encode("    def __init__(self, x="), encode("        return None  # ok")])
_lg, _ref = _ref_forward(_ref_model, _toks)
_, _c = bridge.run_with_cache(_toks)
_st, _lb = checks.call("component_stack", component_stack, _c, bridge.W_O, bridge.b_O, case="a new batch")
checks.assert_equal("component_stack", list(_lb), _want_labels, name="labels")
with checks.tolerance(rtol=1e-4, atol=1e-4):
    checks.assert_close("component_stack", _st.sum(0), _ref["resid"][-1], name="the sum vs the plain model's final residual")
    for _l in range(cfg.n_layers):
        for _h in range(cfg.n_heads):
            _w = _ref["z"][_l][:, :, _h] @ _ref_model.blocks[_l].attn.proj.weight[:, _h * cfg.d_head:(_h + 1) * cfg.d_head].T
            checks.assert_close("component_stack", _st[_lb.index(f"L{_l}H{_h}")], _w, name=f"component L{_l}H{_h}")
        checks.assert_close("component_stack", _st[_lb.index(f"L{_l} b_O")], _ref_model.blocks[_l].attn.proj.bias.expand(2, _toks.shape[1], -1),
                            name=f"component L{_l} b_O", hint="the bias is the same vector at every batch row and position")
    checks.assert_close("component_stack", _st[1], _ref_model.wpe.weight[:_toks.shape[1]].expand(2, -1, -1), name="pos_embed")
_one = encode("x")[None]
_, _c1 = bridge.run_with_cache(_one)
_st1, _ = checks.call("component_stack", component_stack, _c1, bridge.W_O, bridge.b_O, case="one token")
checks.assert_shape("component_stack", _st1, (len(_want_labels), 1, 1, cfg.d_model))
# Only the first layer's weights: the stack then sums to the stream leaving block 0
_st2, _lb2 = checks.call("component_stack", component_stack, _c, bridge.W_O[:1], bridge.b_O[:1], case="W_O and b_O of layer 0 only")
checks.assert_equal("component_stack", list(_lb2), _want_labels[:8], name="labels for W_O of shape (1, 4, 32, 128)",
                    hint="take n_layers and n_heads from W_O.shape")
with checks.tolerance(rtol=1e-4, atol=1e-4):
    checks.assert_close("component_stack", _st2.sum(0), _ref["resid"][1], name="the sum of layer 0's stack vs resid_post of block 0")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: direct logit attribution
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 15 minutes, then look at the hint.
#
# Write `direct_logit_attribution(components, scale, ln_weight, W_U, correct, wrong)`, the
# boxed term of the formula above for every component, at one position (we take the last):
#
# $$\text{DLA}_c = \frac{x_c - \operatorname{mean}(x_c)}{s} \cdot \big(w \odot (W_U[:, a] - W_U[:, b])\big).$$
#
# Two details are easy to miss. Each component is **centred** (its own mean over `d_model`
# subtracted) because LayerNorm subtracts the mean of the sum, which is the sum of the
# means. And the LayerNorm **weight** $w$ sits between the residual stream and $W_U$; forget
# it and the numbers look plausible and are wrong. `correct`/`wrong` may differ per
# prompt, as in `logit_diff`.
#
# The test checks the identity the decomposition must satisfy: the sum of your
# attributions, plus the constant $b \cdot (W_U[:,a]-W_U[:,b]) + b_U[a] - b_U[b]$, equals the
# plain model's logit difference.
#
# <details><summary>Hint</summary>
#
# `centred = components - components.mean(-1, keepdim=True)`; `directions = (W_U[:, correct]
# - W_U[:, wrong]).T * ln_weight` is (batch, d_model) once `correct` is a (batch,) tensor;
# then `torch.einsum("cbd,bd->cb", centred / scale, directions)` (`scale` is (batch, 1) and
# broadcasts).
# </details>

# %% nbgrader={"solution": true, "grade_id": "direct_logit_attribution"} exercise={"difficulty": 3, "importance": 5, "minutes": 15}
def direct_logit_attribution(components: torch.Tensor, scale: torch.Tensor, ln_weight: torch.Tensor,
                             W_U: torch.Tensor, correct, wrong) -> torch.Tensor:
    """Each component's direct contribution to logit(correct) - logit(wrong), through a frozen final LayerNorm.

    components: (n_components, batch, d_model), the stack at one position.
    scale: (batch, 1), the final LayerNorm's scale at that position (cache["ln_final.hook_scale"][:, -1]).
    ln_weight: (d_model,), the final LayerNorm's weight. W_U: (d_model, d_vocab).
    correct, wrong: an int, or (batch,) int64 tensors.
    Returns (n_components, batch), the dtype of components.
    """
    ### BEGIN SOLUTION
    batch = components.shape[1]
    correct = torch.as_tensor(correct).expand(batch)
    wrong = torch.as_tensor(wrong).expand(batch)
    directions = (W_U[:, correct] - W_U[:, wrong]).T * ln_weight  # (batch, d_model)
    centred = components - components.mean(-1, keepdim=True)
    return torch.einsum("cbd,bd->cb", centred / scale, directions)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "direct_logit_attribution_test", "points": 3}
_ref_model = course.models.load("stdlib-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
# A coarse decomposition built by hand: embeddings, then each layer's attention and MLP output.
_parts = torch.stack([clean_cache["hook_embed"], clean_cache["hook_pos_embed"]]
                     + [clean_cache[f"blocks.{_l}.hook_{k}_out"] for _l in range(cfg.n_layers) for k in ("attn", "mlp")])[:, :, -1]
_scale = clean_cache["ln_final.hook_scale"][:, -1]
_lnw, _lnb, _WU = _ref_model.ln_f.weight, _ref_model.ln_f.bias, _ref_model.unembed.weight.T
_got = direct_logit_attribution(_parts, _scale, _lnw, _WU, correct, wrong)
checks.assert_shape("direct_logit_attribution", _got, (_parts.shape[0], N_PROMPTS), hint="one number per (component, prompt)")
_flat = torch.full((1, N_PROMPTS, cfg.d_model), 5.0)  # the same value in every direction
checks.assert_close("direct_logit_attribution", direct_logit_attribution(_flat, _scale, _lnw, _WU, correct, wrong),
                    torch.zeros(1, N_PROMPTS), atol=1e-4, name="attribution of a component that is constant over d_model",
                    hint="LayerNorm subtracts the mean, so a constant vector contributes nothing: centre each component")
_plain = _ref_model(clean_tokens)[:, -1]
_target = _plain[torch.arange(N_PROMPTS), correct] - _plain[torch.arange(N_PROMPTS), wrong]
_const = (_WU[:, correct] - _WU[:, wrong]).T @ _lnb
with checks.tolerance(rtol=1e-3, atol=1e-3):
    checks.assert_close("direct_logit_attribution", _got.sum(0) + _const, _target,
                        name="sum of attributions + LayerNorm-bias constant vs the model's logit difference",
                        hint="centre each component over d_model, divide by the frozen scale, and multiply by the "
                             "LayerNorm weight before the W_U direction")
print("direct_logit_attribution: visible tests pass")
### BEGIN HIDDEN TESTS
_toks = torch.stack([encode("    kind = 'unknown token"), encode('    kind = "unknown token')])
_lg, _ref = _ref_forward(_ref_model, _toks)
_x = _ref["resid"][-1][:, -1]
_s = (_x.var(-1, unbiased=False, keepdim=True) + cfg.ln_eps).sqrt()
_ca, _wr = torch.tensor([SINGLE, DOUBLE]), torch.tensor([DOUBLE, SINGLE])
_comps = torch.stack([_ref["attn_out"][1][:, -1], _ref["mlp_out"][0][:, -1], _x - _ref["attn_out"][1][:, -1] - _ref["mlp_out"][0][:, -1]])
_got = checks.call("direct_logit_attribution", direct_logit_attribution, _comps, _s, _lnw, _WU, _ca, _wr, case="per-prompt tokens")
_dirs = (_WU[:, _ca] - _WU[:, _wr]).T * _lnw
_want = torch.stack([((c - c.mean(-1, keepdim=True)) / _s * _dirs).sum(-1) for c in _comps])
with checks.tolerance(rtol=1e-4, atol=1e-5):
    checks.assert_close("direct_logit_attribution", _got, _want, name="attributions of three components")
    checks.assert_close("direct_logit_attribution", _got.sum(0) + (_WU[:, _ca] - _WU[:, _wr]).T @ _lnb,
                        _lg[torch.arange(2), -1, _ca] - _lg[torch.arange(2), -1, _wr], name="sum + constant")
# int tokens, float64, non-contiguous components
_g = torch.Generator().manual_seed(6)
_c64 = torch.randn(3, 5, 4, generator=_g, dtype=torch.float64).transpose(0, 1) + 3.0  # (5, 3, 4), large means
_s64 = torch.rand(3, 1, generator=_g, dtype=torch.float64) + 0.5
_w64 = torch.rand(4, generator=_g, dtype=torch.float64) + 0.5
_U64 = torch.randn(4, 7, generator=_g, dtype=torch.float64)
_got = checks.call("direct_logit_attribution", direct_logit_attribution, _c64, _s64, _w64, _U64, 2, 5, case="float64, int tokens")
checks.assert_dtype("direct_logit_attribution", _got, torch.float64)
_want = ((_c64 - _c64.mean(-1, keepdim=True)) / _s64) @ (_w64 * (_U64[:, 2] - _U64[:, 5]))
checks.assert_close("direct_logit_attribution", _got, _want,
                    hint="components with a large mean: centre each one (subtract its mean over d_model) first")
### END HIDDEN TESTS

# %% [markdown]
# ### Which components write "the right quote"?
#
# Below, the attribution of all 14 components at the last position, averaged over the 16
# clean prompts.
#
# ### Predict, then look
#
# You have seen where each head *reads* (the attention patterns). Before you run the next
# cell, write down which component you expect to write the most towards the right quote, and
# whether the layer-0 MLP helps or hurts. Not graded: the cell after the chart compares your
# guess with your numbers, and a guess is only worth something if you make it first.

# %%
PREDICT_TOP_COMPONENT = None  # one label of component_stack, e.g. "L0H2", "L1 MLP" or "embed"
PREDICT_MLP0_SIGN = None      # "+" if the layer-0 MLP pushes towards the right quote, "-" if against it

# %%
stack, stack_labels = component_stack(clean_cache, bridge.W_O, bridge.b_O)
final_scale = clean_cache["ln_final.hook_scale"][:, -1]
W_U_raw = bridge.W_U  # (d_model, d_vocab)
dla = direct_logit_attribution(stack[:, :, -1], final_scale, model.ln_f.weight, W_U_raw, correct, wrong)
constant = ((W_U_raw[:, correct] - W_U_raw[:, wrong]).T @ model.ln_f.bias).mean()
print(f"sum of attributions {dla.sum(0).mean():.3f} + LayerNorm-bias constant {constant:.3f} "
      f"= {dla.sum(0).mean() + constant:.3f}; the model's mean logit diff is {CLEAN_LD:.3f}")
print("(the constant b·(W_U[:, a] - W_U[:, b]) flips sign between ' and \" prompts, so its mean is about 0)")


def bar_chart(values, labels, title, ylabel="contribution to logit diff"):
    fig, ax = plt.subplots(figsize=(9, 3))
    colors = ["tab:red" if v < 0 else "tab:blue" for v in values]
    ax.bar(range(len(values)), values, color=colors)
    ax.set_xticks(range(len(values)), labels, rotation=45, ha="right")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    plt.tight_layout()
    plt.show()


bar_chart(dla.mean(1).numpy(), stack_labels, "Direct logit attribution at the last position (mean over 16 clean prompts)")

# %%
_mean_dla = dla.mean(1)
_top = stack_labels[int(_mean_dla.argmax())]
_mlp0 = float(_mean_dla[stack_labels.index("L0 MLP")])
print(f"largest direct attribution: {_top} ({float(_mean_dla.max()):+.2f}); you predicted {PREDICT_TOP_COMPONENT!r}")
print(f"layer-0 MLP: {_mlp0:+.2f}, so {'+' if _mlp0 > 0 else '-'}; you predicted {PREDICT_MLP0_SIGN!r}")
if PREDICT_TOP_COMPONENT is None or PREDICT_MLP0_SIGN is None:
    print("(no prediction written: next time, write it before you run the cell that draws the chart)")

# %% [markdown]
# Before reading on, answer for yourself: which heads carry most of the logit difference, and
# how does that fit with where they attend? Why can nothing before layer 1 write the answer at
# the last position? And what does freezing the LayerNorm scale assume?
#
# <details><summary>One reading (open after you have answered)</summary>
#
# L1H0 and L1H1, the two heads that attend to the opening quote, write more than the whole
# logit difference directly (about 2.3 and 0.8). Nothing else comes close. The layer-0 MLP at
# the last position pushes a little *against* the answer, and the embeddings and layer-0 heads
# contribute almost nothing, because nothing at the last position knows which quote opened the
# string until layer 1 fetches it. The sum matches the model's logit difference because the
# decomposition is exact once the LayerNorm scale is frozen. That frozen scale is also the
# method's main caveat: it treats LayerNorm as linear, which is only true for this one input.
# </details>
#
# ## LayerNorm folding and `enable_compatibility_mode()`
#
# Carrying $w$, $b$ and the centring around by hand is error-prone. Older TransformerLens
# (`HookedTransformer`) rewrote the weights at load time so that the simple formula
# $\text{resid}/s \cdot W_U$ is right. A `TransformerBridge` by default keeps the model's
# own weights (so its activations match the original model's), and
# `bridge.enable_compatibility_mode()` applies the same rewrites. Reading
# `transformer_lens/model_bridge/transformer_bridge.py` (`enable_compatibility_mode` →
# `process_weights`) and `transformer_lens/weight_processing.py` (`ProcessWeights.process_weights`)
# shows four steps, each on by default:
#
# 1. **`fold_ln`.** Each LayerNorm's weight $w$ and bias $b$ move into the matrices that
#    read its output: $W \leftarrow \operatorname{diag}(w)\,W$, bias $\leftarrow$ bias $+\, b\,W$,
#    for $W_Q, W_K, W_V$ (after `ln1`), $W_\text{in}$ (after `ln2`) and $W_U$ (after
#    `ln_final`). The LayerNorms keep only "centre and divide by $s$" (their weights become 1,
#    their biases 0). Those reading matrices are also centred over `d_model`, which changes
#    nothing because a LayerNorm's output has mean 0.
# 2. **`center_writing_weights`.** Every matrix that writes into the residual stream ($W_E$,
#    $W_\text{pos}$, $W_O$, $W_\text{out}$ and their biases) has its mean over `d_model`
#    removed. The next LayerNorm subtracts the mean anyway, so the function does not
#    change, but now every component, and the residual stream itself, has mean 0.
# 3. **`center_unembed`.** $W_U$ and $b_U$ lose their mean over the vocabulary. Every logit
#    at a position shifts by the same amount, so log-probabilities, the argmax, the loss and
#    logit *differences* are unchanged. The logits themselves are not.
# 4. **`fold_value_biases`.** Attention rows sum to 1, so a head's value bias $b_V^h$ adds
#    the constant $b_V^h W_O^h$ at every position. It is moved into $b_O$. A head's output
#    then contains no constant term.
#
# It also switches on legacy hook aliases. Processing cannot be undone on a bridge (a
# second call is skipped with a warning), so we make a second bridge from the same model.

# %%
folded = tlens.to_bridge(model)
folded.enable_compatibility_mode(disable_warnings=True)
folded_logits, folded_cache = folded.run_with_cache(clean_tokens)

# %%
print("max |logits folded - raw|            :", f"{(folded_logits - clean_logits).abs().max():.2f}  (center_unembed)")
print("max |log-probs folded - raw|         :", f"{(folded_logits.log_softmax(-1) - clean_logits.log_softmax(-1)).abs().max():.1e}")
print("max |logit diffs folded - raw|       :", f"{(logit_diff(folded_logits, correct, wrong) - clean_ld).abs().max():.1e}")
print("final LayerNorm weight, raw / folded :", model.ln_f.weight[:4], next(folded.ln_final.parameters())[:4])
print("mean over d_model of resid_post 1    : raw", f"{clean_cache['blocks.1.hook_resid_post'].mean(-1).abs().max():.3f}",
      "| folded", f"{folded_cache['blocks.1.hook_resid_post'].mean(-1).abs().max():.1e}")

# %% [markdown]
# ## Exercise 7: fold the final LayerNorm into the unembedding
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 3 points · about 15 minutes, then look at the hint.
#
# Do steps 1 and 3 yourself for the last LayerNorm. With $\hat x = (x - \operatorname{mean}(x))/s$
# (the LayerNorm without its weight and bias),
#
# $$(\hat x \odot w + b)\,W_U + b_U = \hat x\,\underbrace{\big(\operatorname{diag}(w)\,W_U\big)}_{W_U'}
# + \underbrace{b\,W_U + b_U}_{b_U'} .$$
#
# Then centre over the vocabulary: subtract from each row of $W_U'$ its mean over the
# vocabulary, and from $b_U'$ its mean. Return $(W_U', b_U')$. Then
# $\hat x W_U' + b_U'$ differs from the model's logits by one constant per position, and the
# log-probabilities are equal. That is what the test checks, with the model's own
# activations.
#
# <details><summary>Hint</summary>
#
# **The idea.** The final LayerNorm's scale and bias are linear after normalisation, so they can be
# moved into the unembedding: scale each residual direction's row of `W_U` by its weight, and turn
# the LayerNorm bias into an extra logit bias. Logits are only defined up to a constant, so centre
# what you return.
#
# **A pointer.** Scaling *rows* means broadcasting `ln_weight` as a column. The bias passes through
# `W_U` like any residual vector. Centre the new weight over the vocabulary axis, and the bias too.
# </details>

# %% nbgrader={"solution": true, "grade_id": "fold_ln_into_unembed"} exercise={"difficulty": 3, "importance": 3, "minutes": 15}
def fold_ln_into_unembed(ln_weight: torch.Tensor, ln_bias: torch.Tensor, W_U: torch.Tensor,
                         b_U: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold a LayerNorm's weight and bias into the unembedding that reads it, then centre over the vocabulary.

    ln_weight, ln_bias: (d_model,). W_U: (d_model, d_vocab). b_U: (d_vocab,). All the same float dtype.
    Returns (W_U_folded (d_model, d_vocab), b_U_folded (d_vocab,)), each with mean 0 over the
    vocabulary, such that normalized(x) @ W_U_folded + b_U_folded equals
    (normalized(x) * ln_weight + ln_bias) @ W_U + b_U up to one constant per row.
    """
    ### BEGIN SOLUTION
    W = ln_weight[:, None] * W_U
    b = ln_bias @ W_U + b_U
    return W - W.mean(-1, keepdim=True), b - b.mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "fold_ln_into_unembed_test", "points": 3}
_ref_model = course.models.load("stdlib-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_out = fold_ln_into_unembed(_ref_model.ln_f.weight, _ref_model.ln_f.bias, _ref_model.unembed.weight.T, torch.zeros(cfg.d_vocab))
checks.assert_true("fold_ln_into_unembed", isinstance(_out, tuple) and len(_out) == 2,
                   f"expected a pair (W_U_folded, b_U_folded), got {type(_out).__name__}")
_Wf, _bf = _out
checks.assert_shape("fold_ln_into_unembed", _Wf, (cfg.d_model, cfg.d_vocab), name="W_U_folded")
checks.assert_shape("fold_ln_into_unembed", _bf, (cfg.d_vocab,), name="b_U_folded")
_normed = F.layer_norm(clean_cache["blocks.1.hook_resid_post"], (cfg.d_model,), eps=cfg.ln_eps)  # no weight, no bias
_plain = _ref_model(clean_tokens)
with checks.tolerance(rtol=1e-4, atol=1e-4):
    checks.assert_close("fold_ln_into_unembed", (_normed @ _Wf + _bf).log_softmax(-1), _plain.log_softmax(-1),
                        name="log-probabilities from the folded unembedding",
                        hint="scale row i of W_U by ln_weight[i]; the LayerNorm bias becomes ln_bias @ W_U, added to b_U")
    checks.assert_close("fold_ln_into_unembed", _Wf.mean(-1), torch.zeros(cfg.d_model), name="W_U_folded's mean over the vocabulary",
                        hint="centre over the vocabulary (the last axis), not over d_model")
    checks.assert_close("fold_ln_into_unembed", _bf.mean(), torch.tensor(0.0), name="b_U_folded's mean")
print("fold_ln_into_unembed: visible tests pass")
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(7)
_w = torch.rand(6, generator=_g, dtype=torch.float64) * 2 + 0.1
_b = torch.randn(6, generator=_g, dtype=torch.float64)
_U = torch.randn(9, 6, generator=_g, dtype=torch.float64).T  # (6, 9), non-contiguous like model.unembed.weight.T
_bu = torch.randn(9, generator=_g, dtype=torch.float64)
_Wf, _bf = checks.call("fold_ln_into_unembed", fold_ln_into_unembed, _w, _b, _U, _bu, case="float64, a nonzero b_U")
checks.assert_dtype("fold_ln_into_unembed", _Wf, torch.float64, name="W_U_folded")
_xh = F.layer_norm(torch.randn(5, 6, generator=_g, dtype=torch.float64), (6,))
_diff = (_xh @ _Wf + _bf) - ((_xh * _w + _b) @ _U + _bu)
checks.assert_close("fold_ln_into_unembed", _diff - _diff.mean(-1, keepdim=True), torch.zeros(5, 9, dtype=torch.float64),
                    name="folded logits minus true logits, minus their per-row mean",
                    hint="the difference must be a constant per row: fold the weight AND the bias, and keep b_U")
checks.assert_close("fold_ln_into_unembed", _Wf.mean(-1), torch.zeros(6, dtype=torch.float64), name="W_U_folded's mean over the vocabulary")
checks.assert_close("fold_ln_into_unembed", _bf.mean(), torch.tensor(0.0, dtype=torch.float64), name="b_U_folded's mean")
_U0 = _U.clone()
fold_ln_into_unembed(_w, _b, _U, _bu)
checks.assert_close("fold_ln_into_unembed", _U, _U0, name="W_U after the call", hint="do not modify the inputs in place")
### END HIDDEN TESTS

# %% [markdown]
# The compatibility-mode bridge did the same to its `W_U`, and one thing more: it also
# centred $W_U'$ over `d_model` (the rows), which changes nothing because $\hat x$ has mean
# 0. Compare:

# %%
W_fold, b_fold = fold_ln_into_unembed(model.ln_f.weight, model.ln_f.bias, model.unembed.weight.T, torch.zeros(cfg.d_vocab))
print("max |yours - folded.W_U|, after centring yours over d_model:",
      f"{(W_fold - W_fold.mean(0, keepdim=True) - folded.W_U).abs().max():.1e}")
print("max |yours - folded.b_U|:", f"{(b_fold - folded.b_U).abs().max():.1e}")

# %% [markdown]
# ### When does folding matter?
#
# On the raw bridge, the tempting one-liner `resid / scale @ (W_U[:, a] - W_U[:, b])` forgets
# $w$ and the centring. On the folded bridge the same one-liner is right, because $w$ lives
# inside `folded.W_U` and every component already has mean 0. This is what TransformerLens's
# own `cache.apply_ln_to_stack` assumes. Compare three bars per component:

# %%
naive_raw = torch.einsum("cbd,db->cb", stack[:, :, -1] / final_scale, W_U_raw[:, correct] - W_U_raw[:, wrong])
folded_stack, _ = component_stack(folded_cache, folded.W_O, folded.b_O)
folded_scale = folded_cache["ln_final.hook_scale"][:, -1]
naive_folded = torch.einsum("cbd,db->cb", folded_stack[:, :, -1] / folded_scale, folded.W_U[:, correct] - folded.W_U[:, wrong])
x = np.arange(len(stack_labels))
fig, ax = plt.subplots(figsize=(10, 3.4))
ax.bar(x - 0.27, dla.mean(1).numpy(), width=0.27, label="correct formula, raw bridge (your DLA)")
ax.bar(x, naive_raw.mean(1).numpy(), width=0.27, label="naive one-liner, raw bridge: WRONG")
ax.bar(x + 0.27, naive_folded.mean(1).numpy(), width=0.27, label="naive one-liner, folded bridge")
ax.set_xticks(x, stack_labels, rotation=45, ha="right")
ax.axhline(0, color="black", lw=0.8)
ax.set_ylabel("contribution to logit diff")
ax.set_title("Direct logit attribution: LayerNorm folding decides whether the simple formula is right")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
for label in ["L1H0", "L1H1", "L1 b_O", "L0 MLP"]:
    i = stack_labels.index(label)
    print(f"{label:7s} yours {dla[i].mean():+.3f} | naive raw {naive_raw[i].mean():+.3f} | folded {naive_folded[i].mean():+.3f}")
b_U_term = (folded.b_U[correct] - folded.b_U[wrong]).mean()
print(f"totals: yours {dla.sum(0).mean() + constant:.3f} | naive raw {naive_raw.sum(0).mean():.3f} | "
      f"folded {naive_folded.sum(0).mean() + b_U_term:.3f} (with b_U) | the model's logit diff {CLEAN_LD:.3f}")

# %% [markdown]
# Read the chart. The naive formula on the raw bridge shrinks every bar by about a fifth
# here, and its total no longer adds up to the logit difference. This model's final LayerNorm
# weights all lie between 0.98 and 1.46 (most near 1.25), so leaving $w$ out mainly rescales. A LayerNorm
# with a few large weights would distort the bars unevenly, and could change which
# component looks biggest. On the folded bridge the one-liner agrees with your careful
# formula for the MLPs and embeddings. The heads and the `b_O` bars differ a little, and correctly so: with
# `fold_value_biases` each head's constant term $b_V^h W_O^h$ moved into `b_O`, so "what a
# head writes" has a slightly different meaning on the two bridges. Both decompositions
# are exact; they split the constant differently.
#
# So folding matters when you **read numbers off single components or weights**: DLA, the
# logit lens through a frozen scale, products like $W_E W_U$ or $W_O W_U$ (on the raw
# bridge a LayerNorm weight sits between them), residual-stream norms. It does not matter
# for anything that only runs the model: logit differences, losses, activation patching.
# One trap remains: zero-ablating a head (next section) removes $b_V^h W_O^h$ on the raw
# bridge but not on the folded one, so zero-ablation numbers differ slightly between the two.
#
# ## The logit lens
#
# The final LayerNorm and unembedding turn the last residual stream into logits. The
# **logit lens** (nostalgebraist, 2020) applies them to the residual stream *after every
# layer*, as if the model stopped there: what would it predict so far? Unlike DLA, each
# layer's stream gets its *own* LayerNorm scale; nothing is frozen.
#
# ## Exercise 8: the logit lens
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 12 minutes, then look at the hint.
#
# Write `logit_lens(resid_stack, ln_weight, ln_bias, W_U, b_U, eps)`: LayerNorm (with
# `eps`, weight and bias) over the last axis, then the unembedding, for a stack of residual
# streams of any leading shape. For the last entry of the stack (the final stream) you must
# get the model's logits.
#
# <details><summary>Hint</summary>
#
# `F.layer_norm(resid_stack, (d_model,), ln_weight, ln_bias, eps) @ W_U + b_U`, or by hand:
# centre, divide by `sqrt(var + eps)` (population variance, `unbiased=False`), scale,
# shift.
# </details>

# %% nbgrader={"solution": true, "grade_id": "logit_lens"} exercise={"difficulty": 2, "importance": 4, "minutes": 12}
def logit_lens(resid_stack: torch.Tensor, ln_weight: torch.Tensor, ln_bias: torch.Tensor, W_U: torch.Tensor,
               b_U: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """The final LayerNorm and unembedding applied to any residual streams.

    resid_stack: (..., d_model), e.g. (n_layers + 1, batch, pos, d_model).
    ln_weight, ln_bias: (d_model,). W_U: (d_model, d_vocab). b_U: (d_vocab,). eps: LayerNorm's epsilon.
    Returns (..., d_vocab) logits, same dtype as resid_stack.
    """
    ### BEGIN SOLUTION
    centred = resid_stack - resid_stack.mean(-1, keepdim=True)
    normed = centred / (centred.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    return (normed * ln_weight + ln_bias) @ W_U + b_U
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "logit_lens_test", "points": 3}
_ref_model = course.models.load("stdlib-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_resids = torch.stack([clean_cache["blocks.0.hook_resid_pre"], clean_cache["blocks.1.hook_resid_pre"],
                       clean_cache["blocks.1.hook_resid_post"]])
_got = logit_lens(_resids, _ref_model.ln_f.weight, _ref_model.ln_f.bias, _ref_model.unembed.weight.T, torch.zeros(cfg.d_vocab), cfg.ln_eps)
checks.assert_shape("logit_lens", _got, (3, N_PROMPTS, 25, cfg.d_vocab), hint="keep every leading axis; replace d_model by d_vocab")
with checks.tolerance(rtol=1e-4, atol=1e-4):
    checks.assert_close("logit_lens", _got[-1], _ref_model(clean_tokens), name="the lens on the final residual stream vs the model's logits",
                        hint="LayerNorm over the last axis: centre, divide by sqrt(var + eps), times weight, plus bias; then @ W_U + b_U")
print("logit_lens: visible tests pass")
### BEGIN HIDDEN TESTS
_toks = torch.stack([encode("import collections.abc\n"), encode("    for key, value in d")])
_, _ref = _ref_forward(_ref_model, _toks)
_rs = torch.stack(_ref["resid"])
_got = checks.call("logit_lens", logit_lens, _rs, _ref_model.ln_f.weight, _ref_model.ln_f.bias, _ref_model.unembed.weight.T,
                   torch.zeros(cfg.d_vocab), cfg.ln_eps, case="the plain model's residual streams")
with checks.tolerance(rtol=1e-4, atol=1e-4):
    for _l in range(len(_rs)):
        checks.assert_close("logit_lens", _got[_l], _ref_model.unembed(_ref_model.ln_f(_rs[_l])), name=f"the lens at layer {_l}",
                            hint="each stream gets its own mean and variance: nothing is frozen in the logit lens")
_g = torch.Generator().manual_seed(8)
_r64 = torch.randn(2, 3, 5, generator=_g, dtype=torch.float64) * 0.01  # tiny variance: eps matters
_w64, _b64 = torch.rand(5, generator=_g, dtype=torch.float64), torch.randn(5, generator=_g, dtype=torch.float64)
_U64, _bu64 = torch.randn(5, 4, generator=_g, dtype=torch.float64), torch.randn(4, generator=_g, dtype=torch.float64)
_got = checks.call("logit_lens", logit_lens, _r64, _w64, _b64, _U64, _bu64, 1e-3, case="float64 with eps=1e-3")
checks.assert_dtype("logit_lens", _got, torch.float64)
checks.assert_close("logit_lens", _got, F.layer_norm(_r64, (5,), _w64, _b64, 1e-3) @ _U64 + _bu64,
                    hint="use the eps argument, inside the square root, and the population variance; add b_U")
checks.assert_close("logit_lens", checks.call("logit_lens", logit_lens, _r64[0, 0], _w64, _b64, _U64, _bu64, 1e-5, case="a single vector"),
                    F.layer_norm(_r64[0, 0], (5,), _w64, _b64, 1e-5) @ _U64 + _bu64)
### END HIDDEN TESTS

# %% [markdown]
# ### The lens on the quote task, and on real code
#
# First, the logit difference at each depth for clean and corrupted prompts. Then, for a
# piece of real code, the top prediction at every position after each layer, coloured by
# the probability it gives to the byte that actually comes next.

# %%
resid_stack, resid_labels = clean_cache.accumulated_resid(return_labels=True)  # TransformerLens builds the stack
corrupted_stack = corrupted_cache.accumulated_resid()
lens_args = (model.ln_f.weight, model.ln_f.bias, bridge.W_U, bridge.b_U, cfg.ln_eps)
lens_clean = torch.stack([logit_diff(lg, correct, wrong).mean() for lg in logit_lens(resid_stack, *lens_args)])
lens_corrupted = torch.stack([logit_diff(lg, correct, wrong).mean() for lg in logit_lens(corrupted_stack, *lens_args)])
print("stack labels:", resid_labels)

code = "    def __init__(self, name, value=None):\n        self.name = name\n        self.value = value\n"
code_tokens = encode(code)[None]
_, code_cache = bridge.run_with_cache(code_tokens)
code_lens = logit_lens(code_cache.accumulated_resid()[:, 0], *lens_args).softmax(-1)  # (3, pos, vocab)
targets = code_tokens[0, 1:]
p_next = code_lens[:, :-1].gather(-1, targets.expand(3, -1)[..., None])[..., 0]  # (3, pos-1)
top1 = code_lens[:, :-1].argmax(-1)

fig = plt.figure(figsize=(13, 5))
ax0 = fig.add_axes([0.05, 0.58, 0.25, 0.36])
ax0.plot(range(3), lens_clean.numpy(), "o-", label="clean")
ax0.plot(range(3), lens_corrupted.numpy(), "s-", label="corrupted")
ax0.set_xticks(range(3), ["embed", "after L0", "after L1"])
ax0.axhline(0, color="black", lw=0.8)
ax0.set_ylabel("mean logit diff")
ax0.set_title("Quote task through the logit lens")
ax0.legend()
accuracy = (top1 == targets).float().mean(-1)
ax1 = fig.add_axes([0.38, 0.58, 0.25, 0.36])
ax1.bar(range(3), accuracy.numpy())
ax1.set_xticks(range(3), ["embed", "after L0", "after L1"])
ax1.set_ylabel("top-1 accuracy")
ax1.set_title("Next-byte accuracy on the snippet")
n_show = 44
ax2 = fig.add_axes([0.05, 0.05, 0.9, 0.38])
ax2.imshow(p_next[:, :n_show].numpy(), cmap="Greens", vmin=0, vmax=1, aspect="auto")
for layer in range(3):
    for pos in range(n_show):
        ax2.text(pos, layer, byte_labels([top1[layer, pos]])[0], ha="center", va="center", fontsize=8,
                 color="white" if p_next[layer, pos] > 0.6 else "black")
ax2.set_yticks(range(3), ["embed", "after L0", "after L1"])
ax2.set_xticks(range(n_show), byte_labels(code_tokens[0, :n_show]), fontsize=7)
ax2.set_xlabel("input byte (the letter in each cell is the lens's top prediction for the NEXT byte; green = p(true next byte))")
plt.show()

# %% [markdown]
# The quote information reaches the last position only in layer 1: through the lens, the
# stream after layer 0 gives nearly the same logit difference for clean and corrupted
# prompts. On the code snippet, the embeddings alone decode to almost nothing useful (the
# unembedding was trained to read the stream *after* the layers, not the raw embedding: the
# lens is only meaningful once the stream "speaks the unembedding's language"). After
# layer 0 most next bytes are already right, and layer 1 adds the rest. In deep models the
# lens gets more informative layer by layer; in a 2-layer model there are only three
# rows to look at.
#
# ## Ablation: what breaks when a head is removed?
#
# DLA says what a head writes directly to the logits. **Ablation** asks what the model
# does without it. A **hook** replaces the head's output while the model runs:
#
# ```python
# def hook(z, hook):            # z: the activation at this hook point, (batch, pos, head, d_head)
#     z[:, :, head] = 0.0       # edit it (in place is fine)
#     return z                  # the returned tensor replaces the activation
# logits = bridge.run_with_hooks(tokens, fwd_hooks=[("blocks.1.attn.hook_z", hook)])
# ```
#
# `run_with_hooks` removes the hooks when it returns (use `bridge.add_hook` only if you mean
# a hook to stay, and `bridge.reset_hooks()` to clear it).
#
# - **Zero ablation** sets the head's $z$ to 0. Simple, but 0 may be a value the head never
#   produces, which pushes later layers off the distribution they were trained on.
# - **Mean ablation** sets it to its mean over a reference batch (here: per position,
#   averaged over the prompts). It keeps what the head does on *every* prompt and removes
#   only what varies between prompts. The reference batch matters: if every reference
#   prompt opened with `'`, the mean would still say "`'`".
#
# ## Exercise 9: zero and mean ablation with a hook
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 20 minutes, then look at the hint.
#
# Write `ablate_head(bridge, tokens, layer, head, mode, reference_tokens=None)`. It returns
# the logits with that head's `hook_z` replaced, for `mode="zero"` by zeros and for
# `mode="mean"` by the mean of the head's `hook_z` over the batch of `reference_tokens`
# (default: `tokens` itself), position by position. Any other mode raises `ValueError`.
#
# <details><summary>Hint</summary>
#
# `name = f"blocks.{layer}.attn.hook_z"`. For the mean: `_, ref_cache =
# bridge.run_with_cache(reference, names_filter=name)`, then
# `ref_cache[name][:, :, head].mean(0)` is (pos, d_head) and broadcasts over the batch. In
# the hook: `z[:, :, head] = replacement; return z`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "ablate_head"} exercise={"difficulty": 3, "importance": 5, "minutes": 20}
def ablate_head(bridge, tokens: torch.Tensor, layer: int, head: int, mode: str = "zero",
                reference_tokens: torch.Tensor | None = None) -> torch.Tensor:
    """Logits with one attention head zero- or mean-ablated through a hook on hook_z.

    bridge: a TransformerBridge. tokens: (batch, pos) int64.
    mode: "zero" (z of that head set to 0) or "mean" (set to its mean over the batch of
    reference_tokens, separately at each position; reference_tokens default to tokens and
    have the same number of positions). Raises ValueError for any other mode.
    Returns (batch, pos, d_vocab) float32 logits. Leaves no hook on the bridge.
    """
    ### BEGIN SOLUTION
    name = f"blocks.{layer}.attn.hook_z"
    if mode == "zero":
        replacement = 0.0
    elif mode == "mean":
        reference = tokens if reference_tokens is None else reference_tokens
        _, ref_cache = bridge.run_with_cache(reference, names_filter=name)
        replacement = ref_cache[name][:, :, head].mean(0)  # (pos, d_head)
    else:
        raise ValueError(f"mode must be 'zero' or 'mean', not {mode!r}")

    def hook(z, hook):
        z[:, :, head] = replacement
        return z

    return bridge.run_with_hooks(tokens, fwd_hooks=[(name, hook)])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ablate_head_test", "points": 3}
_ref_model = course.models.load("stdlib-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_m2 = course.models.load("stdlib-gpt")  # another model (layer 0's attention output doubled), and a bridge around it
with torch.no_grad():
    _m2.blocks[0].attn.proj.weight.mul_(2.0)
_bridge2 = tlens.to_bridge(_m2)
_toks = clean_tokens[:6]
_got = ablate_head(bridge, _toks, 1, 0, "zero")
checks.assert_shape("ablate_head", _got, (6, 25, cfg.d_vocab), hint="return the logits of the ablated run")
# Zeroing head 0's z is the same as zeroing its columns of the output projection (W_O) in a copy of the plain model.
_m = course.models.load("stdlib-gpt")
_m.blocks[1].attn.proj.weight[:, 0:cfg.d_head] = 0.0
with checks.tolerance(rtol=1e-4, atol=1e-4):
    checks.assert_close("ablate_head", _got, _m(_toks), name="zero-ablated logits vs the plain model with L1H0's W_O zeroed",
                        hint="hook blocks.{layer}.attn.hook_z and set z[:, :, head] = 0 (axis 2 is the head)")
    # Mean ablation over a batch of ONE prompt replaces z by itself: nothing changes.
    checks.assert_close("ablate_head", ablate_head(bridge, _toks[:1], 1, 0, "mean"), _ref_model(_toks[:1]),
                        name="mean ablation over a batch of one prompt (must change nothing)",
                        hint="the mean is over the BATCH axis only, separately at each position")
_m2z = copy.deepcopy(_m2)
with torch.no_grad():
    _m2z.blocks[1].attn.proj.weight[:, 0:cfg.d_head] = 0.0
    checks.assert_close("ablate_head", ablate_head(_bridge2, _toks, 1, 0, "zero"), _m2z(_toks), rtol=1e-4, atol=1e-4,
                        name="zero ablation through a bridge around another model",
                        hint="run the `bridge` argument, not the notebook's `bridge`")
checks.assert_close("ablate_head", bridge(_toks), _ref_model(_toks), rtol=1e-4, atol=1e-4, name="the bridge's logits after ablate_head",
                    hint="a hook is still attached: use run_with_hooks, or bridge.reset_hooks() at the end")
print("ablate_head: visible tests pass")
### BEGIN HIDDEN TESTS
_ref_toks = torch.cat([clean_tokens[6:12], corrupted_tokens[6:12]])
for _layer, _head in ((1, 0), (0, 2), (1, 3)):
    _, _rr = _ref_forward(_ref_model, _ref_toks)
    _mean_z = _rr["z"][_layer][:, :, _head].mean(0)

    def _edit(lay, z, _layer=_layer, _head=_head, _mean_z=_mean_z):
        if lay == _layer:
            z[:, :, _head] = _mean_z
        return z

    _want, _ = _ref_forward(_ref_model, _toks, edit_z=_edit)
    _got = checks.call("ablate_head", ablate_head, bridge, _toks, _layer, _head, "mean", _ref_toks, case=f"mean ablation of L{_layer}H{_head}")
    with checks.tolerance(rtol=1e-4, atol=1e-4):
        checks.assert_close("ablate_head", _got, _want, name=f"L{_layer}H{_head} mean-ablated over a reference batch",
                            hint="the mean comes from reference_tokens' run, per position: mean over axis 0 only")

    def _zero(lay, z, _layer=_layer, _head=_head):
        if lay == _layer:
            z[:, :, _head] = 0.0
        return z

    _want, _ = _ref_forward(_ref_model, _toks[:2], edit_z=_zero)
    with checks.tolerance(rtol=1e-4, atol=1e-4):
        checks.assert_close("ablate_head", checks.call("ablate_head", ablate_head, bridge, _toks[:2], _layer, _head, "zero",
                                                       case=f"zero ablation of L{_layer}H{_head}"), _want,
                            name=f"L{_layer}H{_head} zero-ablated")


def _self_mean(lay, z):
    if lay == 1:
        z[:, :, 1] = z[:, :, 1].mean(0)
    return z


_want, _ = _ref_forward(_ref_model, _toks, edit_z=_self_mean)
with checks.tolerance(rtol=1e-4, atol=1e-4):
    checks.assert_close("ablate_head", checks.call("ablate_head", ablate_head, bridge, _toks, 1, 1, "mean", case="mean, default reference"),
                        _want, name="L1H1 mean-ablated over its own batch")
checks.assert_raises("ablate_head", ValueError, ablate_head, bridge, _toks, 1, 0, "bogus",
                     hint="an unknown mode must raise ValueError")
checks.assert_close("ablate_head", bridge(_toks), _ref_model(_toks), rtol=1e-4, atol=1e-4, name="the bridge's logits after ablate_head")
_got = checks.call("ablate_head", ablate_head, folded, _toks, 1, 0, "zero", case="the folded bridge")
checks.assert_shape("ablate_head", _got, (6, 25, cfg.d_vocab))
### END HIDDEN TESTS

# %% [markdown]
# ### Every head, both ways
#
# The effect of ablating each head on the mean logit difference of the clean prompts.
# Mean ablation uses the clean prompts as reference, half of which open with each quote.

# %%
effects = {"zero": torch.zeros(cfg.n_layers, cfg.n_heads), "mean": torch.zeros(cfg.n_layers, cfg.n_heads)}
for mode, layer, head in itertools.product(effects, range(cfg.n_layers), range(cfg.n_heads)):
    ablated = ablate_head(bridge, clean_tokens, layer, head, mode)
    effects[mode][layer, head] = logit_diff(ablated, correct, wrong).mean() - CLEAN_LD

fig, axes = plt.subplots(1, 2, figsize=(10, 3))
for ax, (mode, eff) in zip(axes, effects.items()):
    im = ax.imshow(eff.numpy(), cmap="RdBu", vmin=-CLEAN_LD, vmax=CLEAN_LD)
    for layer, head in itertools.product(range(cfg.n_layers), range(cfg.n_heads)):
        ax.text(head, layer, f"{eff[layer, head]:+.2f}", ha="center", va="center")
    ax.set_xticks(range(cfg.n_heads), [f"H{h}" for h in range(cfg.n_heads)])
    ax.set_yticks(range(cfg.n_layers), [f"L{layer}" for layer in range(cfg.n_layers)])
    ax.set_title(f"{mode} ablation: change in logit diff")
fig.colorbar(im, ax=axes)
plt.show()

same_quote = clean_tokens[correct == SINGLE]  # only the prompts that open with '
only_single = ablate_head(bridge, same_quote, 1, 0, "mean")
mixed_ref = ablate_head(bridge, same_quote, 1, 0, "mean", reference_tokens=clean_tokens)
print(f"prompts opening with ': clean logit diff {logit_diff(bridge(same_quote), SINGLE, DOUBLE).mean():+.2f}; "
      f"L1H0 mean-ablated over those same prompts {logit_diff(only_single, SINGLE, DOUBLE).mean():+.2f}, "
      f"over the mixed batch {logit_diff(mixed_ref, SINGLE, DOUBLE).mean():+.2f}")

# %% [markdown]
# Read the two heatmaps before you read on. Which heads cost the most whichever way they are
# ablated? Is there a head that zero ablation calls important and mean ablation does not, and
# which of the two would you trust for it? What does the last printed line say about the
# reference batch? (Exercise 12 asks for your answers.)
#
# <details><summary>One reading (open after you have answered)</summary>
#
# Ablating L1H0 costs the most, then L1H1, whichever way they are ablated. Now look at L0H1:
# zero-ablating it costs almost two logits, mean-ablating it almost nothing. L0H1 (the
# previous-byte head) does much the same on every prompt, and later layers rely on its typical
# output. Replacing that output with zeros, a value it never produces, breaks them for reasons
# that have nothing to do with quotes. That is why mean ablation (or resampling from other
# prompts) is usually preferred. The last line shows the reference-batch trap in numbers.
# Mean-ablating L1H0 with a reference batch that always opened with `'` changes almost
# nothing, because its mean output still says "`'`". Ablation tells you what a head is needed
# for *relative to the reference you chose*.
# </details>
#
# ## Activation patching
#
# Ablation destroys information. **Activation patching** (also called causal tracing;
# Meng et al. 2022 for ROME, Wang et al. 2022 for IOI) moves it. Run the **corrupted**
# prompt, but at one place (a layer, a position, a head) paste in the activation from the
# **clean** run. If the logit difference comes back, that activation carried the
# information that distinguishes the two prompts. The score is normalised so that 0 means
# "still corrupted" and 1 means "fully restored":
#
# $$\text{score} = \frac{\text{LD}_\text{patched} - \text{LD}_\text{corrupted}}{\text{LD}_\text{clean} - \text{LD}_\text{corrupted}} .$$
#
# The two prompts differ in one byte, so before that byte the clean and corrupted runs are
# identical, and patching there can change nothing: a free sanity check.

# %%
from course import diagrams

diagrams.patching(clean='name = "invalid value  -> closes with "',
                  corrupted="name = 'invalid value  -> closes with '")
plt.show()

# %%
def patching_metric(logits: torch.Tensor) -> torch.Tensor:
    """0 when the logit difference is the corrupted run's, 1 when it is the clean run's."""
    return (logit_diff(logits, correct, wrong).mean() - CORRUPTED_LD) / (CLEAN_LD - CORRUPTED_LD)


print(f"metric(clean) = {patching_metric(clean_logits):.3f}, metric(corrupted) = {patching_metric(corrupted_logits):.3f}")

# %% [markdown]
# ## Exercise 10: patching the residual stream, over layers and positions
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 4 points · about 25 minutes, then look at the hint.
#
# Write `patch_residual(bridge, clean_tokens, corrupted_tokens, metric)`. Row `L < n_layers`
# patches `blocks.{L}.hook_resid_pre` (the stream entering block L). The last row, `L =
# n_layers`, patches the stream leaving the last block, `blocks.{n_layers-1}.hook_resid_post`.
# Entry `[L, p]` is `metric(logits)` of the corrupted run in which the residual stream at
# that point and at position `p` only (for every prompt of the batch) is replaced by the clean
# run's. `metric` maps logits to a number (a 0-d tensor or a float).
#
# <details><summary>Hint</summary>
#
# Cache the clean run once: `_, clean_cache = bridge.run_with_cache(clean_tokens)`. Loop over
# the hook names and positions. The hook copies one position: `resid[:, p] =
# clean_cache[name][:, p]; return resid`. Then
# `float(metric(bridge.run_with_hooks(corrupted_tokens, fwd_hooks=[(name, hook)])))`. (A hook
# defined in a loop reads the loop variables when it *runs*; that is fine here because
# `run_with_hooks` runs it at once, but bind them as default arguments, `def hook(resid, hook,
# p=p)`, if you ever collect hooks to run later.)
# </details>

# %% nbgrader={"solution": true, "grade_id": "patch_residual"} exercise={"difficulty": 3, "importance": 5, "minutes": 25}
def patch_residual(bridge, clean_tokens: torch.Tensor, corrupted_tokens: torch.Tensor, metric) -> torch.Tensor:
    """Activation patching of the residual stream at every (layer, position).

    bridge: a TransformerBridge. clean_tokens, corrupted_tokens: (batch, pos) int64, same shape.
    metric: a function from logits (batch, pos, d_vocab) to a number.
    Returns (n_layers + 1, pos) float32: row L < n_layers patches blocks.{L}.hook_resid_pre, the
    last row blocks.{n_layers-1}.hook_resid_post; entry [L, p] is the metric of the corrupted run
    with that stream at position p replaced by the clean run's.
    """
    ### BEGIN SOLUTION
    n_layers = bridge.cfg.n_layers
    names = [f"blocks.{layer}.hook_resid_pre" for layer in range(n_layers)]
    names.append(f"blocks.{n_layers - 1}.hook_resid_post")
    _, clean_cache = bridge.run_with_cache(clean_tokens)
    n_pos = clean_tokens.shape[1]
    result = torch.zeros(len(names), n_pos)
    for row, name in enumerate(names):
        for pos in range(n_pos):
            def hook(resid, hook, pos=pos, name=name):
                resid[:, pos] = clean_cache[name][:, pos]
                return resid

            logits = bridge.run_with_hooks(corrupted_tokens, fwd_hooks=[(name, hook)])
            result[row, pos] = float(metric(logits))
    return result
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "patch_residual_test", "points": 4}
_ref_model = course.models.load("stdlib-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_c, _r = clean_tokens[:4], corrupted_tokens[:4]


def _logprob_quote(logits):  # mean log-probability of ' at the last position: a metric of another kind
    return logits[:, -1].log_softmax(-1)[:, ord("'")].mean()


_got = patch_residual(bridge, _c, _r, _logprob_quote)
checks.assert_shape("patch_residual", _got, (cfg.n_layers + 1, 25),
                    hint="rows: resid_pre of each layer, then resid_post of the last layer; columns: positions")
_m_clean, _m_corr = float(_logprob_quote(_ref_model(_c))), float(_logprob_quote(_ref_model(_r)))
_other = [p for p in range(25) if p != QUOTE_POS]
with checks.tolerance(rtol=1e-3, atol=1e-3):
    checks.assert_close("patch_residual", _got[0, _other], torch.full((24,), _m_corr),
                        name="row 0 (the embeddings) away from the quote: the runs agree there, so nothing can change",
                        hint="patch ONE position at a time, in the CORRUPTED run, with the clean run's activation")
    checks.assert_close("patch_residual", _got[0, QUOTE_POS], torch.tensor(_m_clean),
                        name="row 0 at the quote: restoring the embedding of the only differing byte restores everything",
                        hint="replace resid[:, p] by the clean cache's value at the same hook name and position")
    checks.assert_close("patch_residual", _got[-1, -1], torch.tensor(_m_clean),
                        name="last row, last position: the final stream is the whole answer",
                        hint="the last row patches blocks.{n_layers-1}.hook_resid_post")
    with torch.no_grad():
        checks.assert_close("patch_residual", patch_residual(_bridge2, _c, _r, _logprob_quote)[-1, -1],
                            _logprob_quote(_m2(_c)), name="last row, last position, through a bridge around another model",
                            hint="run the `bridge` argument, not the notebook's `bridge`")
print("patch_residual: visible tests pass")
### BEGIN HIDDEN TESTS
_c, _r = clean_tokens[8:11], corrupted_tokens[8:11]
_, _clean_ref = _ref_forward(_ref_model, _c)
_got = checks.call("patch_residual", patch_residual, bridge, _c, _r, _logprob_quote, case="three prompt pairs")
checks.assert_shape("patch_residual", _got, (cfg.n_layers + 1, 25))
_want = torch.zeros(cfg.n_layers + 1, 25)
for _l in range(cfg.n_layers + 1):
    for _p in range(25):
        def _edit(lay, x, _l=_l, _p=_p):
            if lay == _l:
                x[:, _p] = _clean_ref["resid"][_l][:, _p]
            return x

        _want[_l, _p] = _logprob_quote(_ref_forward(_ref_model, _r, edit_resid=_edit)[0])
with checks.tolerance(rtol=1e-3, atol=1e-3):
    checks.assert_close("patch_residual", _got, _want, name="the whole (layer, position) table vs patching the plain model",
                        hint="row L < n_layers: the stream ENTERING block L (hook_resid_pre); the last row the final stream")
checks.assert_close("patch_residual", bridge(_r), _ref_model(_r), rtol=1e-4, atol=1e-4, name="the bridge's logits after patching",
                    hint="a hook is still attached to the bridge")
_short_c, _short_r = encode("x = (1")[None], encode("x = [1")[None]
_got = checks.call("patch_residual", patch_residual, bridge, _short_c, _short_r, lambda lg: lg[0, -1, ord(")")] - lg[0, -1, ord("]")],
                   case="a 6-byte bracket pair")
_, _sref = _ref_forward(_ref_model, _short_c)
checks.assert_shape("patch_residual", _got, (cfg.n_layers + 1, 6))
for _l, _p in ((1, 4), (0, 4), (1, 5), (2, 5)):
    _v = _ref_forward(_ref_model, _short_r, edit_resid=lambda lay, x, _l=_l, _p=_p: x if lay != _l else torch.cat([x[:, :_p], _sref["resid"][_l][:, _p:_p + 1], x[:, _p + 1:]], 1))[0]
    with checks.tolerance(rtol=1e-3, atol=1e-3):
        checks.assert_close("patch_residual", _got[_l, _p], _v[0, -1, ord(")")] - _v[0, -1, ord("]")],
                            name=f"entry [{_l}, {_p}] of the bracket pair")
### END HIDDEN TESTS

# %%
start = time.perf_counter()
resid_patching = patch_residual(bridge, clean_tokens, corrupted_tokens, patching_metric)
print(f"{resid_patching.numel()} patched runs in {time.perf_counter() - start:.1f} s")
position_labels = byte_labels(clean_tokens[0])
position_labels[4:8] = ["v", "a", "r", "·"]  # the variable differs between prompts
position_labels[QUOTE_POS] = "q"  # ' or ", depending on the prompt
rows = [f"resid_pre {layer}" for layer in range(cfg.n_layers)] + [f"resid_post {cfg.n_layers - 1}"]
fig, ax = plt.subplots(figsize=(11, 2.6))
im = ax.imshow(resid_patching.numpy(), cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
ax.set_xticks(range(25), [f"{lab}\n{p}" for p, lab in enumerate(position_labels)], fontsize=7)
ax.set_yticks(range(len(rows)), rows)
ax.set_title("Patching the residual stream (clean → corrupted): fraction of the logit difference restored")
fig.colorbar(im, ax=ax)
plt.show()

# %% [markdown]
# Read the heatmap top to bottom before you read on: at which positions does patching restore
# the answer before layer 0, between the layers, and after layer 1? What must layer 1 do, and
# which part of a transformer can do it?
#
# <details><summary>One reading (open after you have answered)</summary>
#
# Before layer 0, only the quote's own position matters: that is where the two prompts differ.
# Between the layers it *still* only matters at the quote's position: after layer 0 the
# information has not moved. After layer 1 it lives entirely at the last position. So
# something in layer 1 carries the quote type from position 11 to the last position, across
# about fourteen bytes. Attention is the only part of a transformer that moves information
# between positions. Which heads?
# </details>
#
# ## Exercise 11: patching heads
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 15 minutes, then look at the hint.
#
# Write `patch_heads(bridge, clean_tokens, corrupted_tokens, metric, position=None)`: entry
# `[L, h]` is the metric of the corrupted run with head h's `blocks.{L}.attn.hook_z`
# replaced by the clean run's, at every position (`position=None`) or at that one position
# only.
#
# <details><summary>Hint</summary>
#
# The same loop as `patch_residual`, over (layer, head). The hook: `z[:, where, head] =
# clean_cache[name][:, where, head]`, with `where = slice(None)` for every position or the
# given int.
# </details>

# %% nbgrader={"solution": true, "grade_id": "patch_heads"} exercise={"difficulty": 3, "importance": 4, "minutes": 15}
def patch_heads(bridge, clean_tokens: torch.Tensor, corrupted_tokens: torch.Tensor, metric,
                position: int | None = None) -> torch.Tensor:
    """Activation patching of every attention head's output (hook_z).

    bridge: a TransformerBridge. clean_tokens, corrupted_tokens: (batch, pos) int64, same shape.
    metric: a function from logits to a number. position: None (patch every position) or an int.
    Returns (n_layers, n_heads) float32: entry [L, h] is the metric of the corrupted run with head
    h of layer L's z replaced by the clean run's (at every position, or at `position` only).
    """
    ### BEGIN SOLUTION
    n_layers, n_heads = bridge.cfg.n_layers, bridge.cfg.n_heads
    _, clean_cache = bridge.run_with_cache(clean_tokens)
    where = slice(None) if position is None else position
    result = torch.zeros(n_layers, n_heads)
    for layer in range(n_layers):
        name = f"blocks.{layer}.attn.hook_z"
        for head in range(n_heads):
            def hook(z, hook, head=head, name=name):
                z[:, where, head] = clean_cache[name][:, where, head]
                return z

            logits = bridge.run_with_hooks(corrupted_tokens, fwd_hooks=[(name, hook)])
            result[layer, head] = float(metric(logits))
    return result
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "patch_heads_test", "points": 3}
_ref_model = course.models.load("stdlib-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
_c, _r = clean_tokens[:4], corrupted_tokens[:4]
_m_clean, _m_corr = float(_logprob_quote(_ref_model(_c))), float(_logprob_quote(_ref_model(_r)))
_got = patch_heads(bridge, _c, _r, _logprob_quote)
checks.assert_shape("patch_heads", _got, (cfg.n_layers, cfg.n_heads), hint="one number per (layer, head)")
_early = patch_heads(bridge, _c, _r, _logprob_quote, position=3)
with checks.tolerance(rtol=1e-3, atol=1e-3):
    checks.assert_close("patch_heads", _early, torch.full((cfg.n_layers, cfg.n_heads), _m_corr),
                        name="patching at position 3, before the quote: the runs agree there, so nothing can change",
                        hint="position=p patches z[:, p, head] only")
    with torch.no_grad():
        _m2_corr = float(_logprob_quote(_m2(_r)))
    checks.assert_close("patch_heads", patch_heads(_bridge2, _c, _r, _logprob_quote, position=3),
                        torch.full((cfg.n_layers, cfg.n_heads), _m2_corr),
                        name="patching at position 3 through a bridge around another model",
                        hint="run the `bridge` argument, not the notebook's `bridge`")
checks.assert_true("patch_heads", float(_got.max()) > _m_corr + 0.5 * (_m_clean - _m_corr),
                   f"no head restores even half of the clean metric (clean {_m_clean:.2f}, corrupted {_m_corr:.2f}, "
                   f"best patched head {float(_got.max()):.2f})",
                   hint="patch z of one head (axis 2) at every position, in the CORRUPTED run, with the clean cache's values")
checks.assert_true("patch_heads", float((_got.max(dim=1).values - _got.min(dim=1).values).max()) > 1e-3,
                   f"the heads of a layer score alike ({[[round(float(v), 2) for v in row] for row in _got]}): "
                   f"each entry should patch one head, not the whole layer",
                   hint="index the head axis: z[:, where, head] = clean_z[:, where, head], not z[:, where]")
print("patch_heads: visible tests pass")
### BEGIN HIDDEN TESTS
_c, _r = clean_tokens[13:16], corrupted_tokens[13:16]
_, _clean_ref = _ref_forward(_ref_model, _c)
for _pos in (None, 24, QUOTE_POS):
    _got = checks.call("patch_heads", patch_heads, bridge, _c, _r, _logprob_quote, _pos, case=f"position={_pos}")
    checks.assert_shape("patch_heads", _got, (cfg.n_layers, cfg.n_heads))
    _want = torch.zeros(cfg.n_layers, cfg.n_heads)
    _where = slice(None) if _pos is None else _pos
    for _l in range(cfg.n_layers):
        for _h in range(cfg.n_heads):
            def _edit(lay, z, _l=_l, _h=_h, _where=_where):
                if lay == _l:
                    z[:, _where, _h] = _clean_ref["z"][_l][:, _where, _h]
                return z

            _want[_l, _h] = _logprob_quote(_ref_forward(_ref_model, _r, edit_z=_edit)[0])
    with checks.tolerance(rtol=1e-3, atol=1e-3):
        checks.assert_close("patch_heads", _got, _want, name=f"the (layer, head) table at position={_pos} vs the plain model",
                            hint="position=None patches every position; an int patches only that one")
checks.assert_close("patch_heads", bridge(_r), _ref_model(_r), rtol=1e-4, atol=1e-4, name="the bridge's logits after patching",
                    hint="a hook is still attached to the bridge")
### END HIDDEN TESTS

# %%
head_patching = patch_heads(bridge, clean_tokens, corrupted_tokens, patching_metric)
# Before the quote the two runs are identical (the test checked it), so every patch there scores 0: skip them.
head_position = torch.zeros(cfg.n_layers * cfg.n_heads, 25)
for pos in tqdm(range(QUOTE_POS, 25), desc="patching heads at each position"):
    head_position[:, pos] = patch_heads(bridge, clean_tokens, corrupted_tokens, patching_metric, position=pos).flatten()

fig = plt.figure(figsize=(13, 3.4))
ax0 = fig.add_axes([0.04, 0.15, 0.2, 0.7])
ax0.imshow(head_patching.numpy(), cmap="RdBu", vmin=-1, vmax=1)
for layer, head in itertools.product(range(cfg.n_layers), range(cfg.n_heads)):
    ax0.text(head, layer, f"{head_patching[layer, head]:.2f}", ha="center", va="center", fontsize=9)
ax0.set_xticks(range(cfg.n_heads), [f"H{h}" for h in range(cfg.n_heads)])
ax0.set_yticks(range(cfg.n_layers), [f"L{layer}" for layer in range(cfg.n_layers)])
ax0.set_title("heads, all positions")
ax1 = fig.add_axes([0.3, 0.15, 0.62, 0.7])
im = ax1.imshow(head_position.numpy(), cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
ax1.set_yticks(range(cfg.n_layers * cfg.n_heads), [f"L{layer}H{head}" for layer in range(cfg.n_layers) for head in range(cfg.n_heads)])
ax1.set_xticks(range(25), [f"{lab}\n{p}" for p, lab in enumerate(position_labels)], fontsize=7)
ax1.set_title("heads × positions")
fig.colorbar(im, ax=ax1)
plt.show()

# %% [markdown]
# ## Exercise 12 (investigation): name the quote movers, and the head the ablations disagree on
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 15 minutes.
#
# You now have four kinds of evidence about the same eight heads: attention patterns, direct
# logit attribution (exercise 6), zero and mean ablation (exercise 9) and patching (exercise
# 11). Read your own plots and return two answers:
#
# - `MOVERS`: the heads that move the quote type to the last position and write the answer
#   there: each restores more than 10% of the clean-corrupted gap when patched alone (the
#   left heatmap above) **and** writes more than 10% of the clean logit difference directly
#   (the DLA bar chart). List them as `(layer, head)` pairs, largest patching score first.
# - `DISAGREE`: the `(layer, head)` for which zero and mean ablation disagree most, zero
#   ablation costing far more than mean ablation (the two ablation heatmaps).
#
# The test reads the answers off your own `head_patching`, `dla` and `effects`, then checks
# them against its own computation. Then open the reading below and compare with yours.
#
# <details><summary>Hint</summary>
#
# **The idea.** A mover passes two tests at once: it carries the information (patching) and
# it writes the answer itself (direct attribution); a head that passes only the first acts
# through others. For the second answer, look for the largest gap between the two ablations'
# numbers for the same head.
#
# **A pointer.** Print `head_patching`, `dla.mean(1) / CLEAN_LD` with `stack_labels`, and
# `effects["mean"] - effects["zero"]`; each answer is a handful of comparisons.
# </details>

# %% nbgrader={"solution": true, "grade_id": "quote_movers"} exercise={"difficulty": 2, "importance": 5, "minutes": 15}
def quote_movers() -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """Your reading of your plots: (MOVERS, DISAGREE), e.g. ([(0, 3)], (1, 2)). Return constants."""
    ### BEGIN SOLUTION
    return [(1, 0), (1, 1)], (0, 1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "quote_movers_test", "points": 3}
_ref_model = course.models.load("stdlib-gpt")  # the test's own copy of the shipped model: no reference comes from the notebook's objects
def _movers_from(patching: torch.Tensor, head_dla: torch.Tensor, gap: torch.Tensor):
    """The answers a (layer, head) table of patching scores, of DLA shares and of mean-minus-zero ablation effects give."""
    heads = [lh for lh in np.ndindex(*patching.shape) if patching[lh] > 0.1 and head_dla[lh] > 0.1]
    return sorted(heads, key=lambda lh: -float(patching[lh])), tuple(int(i) for i in np.unravel_index(int(gap.argmax()), gap.shape))


_ans = checks.call("quote_movers", quote_movers, case="your answers")
checks.assert_true("quote_movers", isinstance(_ans, tuple) and len(_ans) == 2 and isinstance(_ans[0], list)
                   and all(isinstance(lh, tuple) and len(lh) == 2 for lh in [*_ans[0], _ans[1]]),
                   f"return (MOVERS, DISAGREE): a list of (layer, head) tuples and one (layer, head) tuple; got {_ans!r}")
_movers, _disagree = [tuple(int(v) for v in lh) for lh in _ans[0]], tuple(int(v) for v in _ans[1])
_dla_share = torch.tensor([[float(dla[stack_labels.index(f"L{_l}H{_h}")].mean()) / CLEAN_LD for _h in range(cfg.n_heads)]
                           for _l in range(cfg.n_layers)])
_want_movers, _want_disagree = _movers_from(head_patching, _dla_share, effects["mean"] - effects["zero"])
for _lh in _movers:
    checks.assert_true("quote_movers", _lh in _want_movers,
                       f"L{_lh[0]}H{_lh[1]} is in MOVERS, but your numbers give it a patching score of "
                       f"{float(head_patching[_lh]):.2f} and a direct attribution of {float(_dla_share[_lh]):.0%} of the logit "
                       "difference: it fails at least one of the two tests",
                       hint="a head that matters when patched but writes nothing directly acts through other heads")
checks.assert_equal("quote_movers", _movers, _want_movers, name="MOVERS",
                    hint="every head over 10% on both tests, the largest patching score first")
checks.assert_equal("quote_movers", _disagree, _want_disagree, name="DISAGREE",
                    hint="the head whose zero-ablation cost is far larger than its mean-ablation cost: subtract the two "
                         "heatmaps")
print(f"quote_movers: your movers {_movers} and the head the ablations disagree on, L{_disagree[0]}H{_disagree[1]}, "
      "are what your numbers show")
print("patching score / direct share / mean minus zero ablation, per head:\n" + "\n".join(
    f"  L{_l}H{_h}: {float(head_patching[_l, _h]):+.2f} / {float(_dla_share[_l, _h]):+.0%} / "
    f"{float(effects['mean'][_l, _h] - effects['zero'][_l, _h]):+.2f}" for _l, _h in np.ndindex(cfg.n_layers, cfg.n_heads)))
### BEGIN HIDDEN TESTS
_ans = quote_movers()
_rows16 = torch.arange(len(clean_tokens))


def _ld_ref(lg):
    return (lg[_rows16, -1, correct] - lg[_rows16, -1, wrong]).mean()


with torch.no_grad():
    _lg_c, _rc = _ref_forward(_ref_model, clean_tokens)
    _lg_r, _ = _ref_forward(_ref_model, corrupted_tokens)
    _ldc, _ldr = _ld_ref(_lg_c), _ld_ref(_lg_r)
    _pt, _gp = torch.zeros(cfg.n_layers, cfg.n_heads), torch.zeros(cfg.n_layers, cfg.n_heads)
    for _l, _h in np.ndindex(cfg.n_layers, cfg.n_heads):
        def _patch(lay, z, _l=_l, _h=_h):
            if lay == _l:
                z[:, :, _h] = _rc["z"][_l][:, :, _h]
            return z

        def _abl(lay, z, _l=_l, _h=_h, _mean=False):
            if lay == _l:
                z[:, :, _h] = z[:, :, _h].mean(0) if _mean else 0.0
            return z

        _pt[_l, _h] = (_ld_ref(_ref_forward(_ref_model, corrupted_tokens, edit_z=_patch)[0]) - _ldr) / (_ldc - _ldr)
        _gp[_l, _h] = (_ld_ref(_ref_forward(_ref_model, clean_tokens, edit_z=lambda lay, z, _f=_abl: _f(lay, z, _mean=True))[0])
                       - _ld_ref(_ref_forward(_ref_model, clean_tokens, edit_z=_abl)[0]))
    _dirs = (bridge.W_U[:, correct] - bridge.W_U[:, wrong]).T * _ref_model.ln_f.weight  # (B, d_model)
    _scale = clean_cache["ln_final.hook_scale"][:, -1]  # (B, 1)
    _share = torch.zeros(cfg.n_layers, cfg.n_heads)
    for _l, _h in np.ndindex(cfg.n_layers, cfg.n_heads):
        _out = _rc["z"][_l][:, -1, _h] @ bridge.W_O[_l, _h]  # (B, d_model)
        _share[_l, _h] = (((_out - _out.mean(-1, keepdim=True)) / _scale * _dirs).sum(-1).mean()) / _ldc
_ref_movers, _ref_disagree = _movers_from(_pt, _share, _gp)
checks.assert_equal("quote_movers", [tuple(int(v) for v in lh) for lh in _ans[0]], _ref_movers,
                    name="MOVERS against the test's own patching and attribution")
checks.assert_equal("quote_movers", tuple(int(v) for v in _ans[1]), _ref_disagree,
                    name="DISAGREE against the test's own ablations")
### END HIDDEN TESTS

# %% [markdown]
# <details><summary>One reading of all four methods (open after exercise 12 passes)</summary>
#
# Patching L1H0 alone restores about three quarters of the logit
# difference, L1H1 most of the rest, and only at the last position: these are the heads
# that carry the quote type to where it is needed. It fits everything else: they attend
# from the last position to the opening quote (attention patterns), they write the answer
# directly (DLA), and removing them hurts (ablation). Layer-0 heads barely matter when
# patched (a few percent, at the quote's position). What L1H0 and L1H1 read is the
# residual stream at position 11, which after layer 0 still carries everything (row
# `resid_pre 1` of the first heatmap). Four methods, one story: a two-head "quote mover".
# A fuller circuit analysis would patch *paths* (does L1H0 get the quote type through its
# value vectors, or through its choice of where to look?), which is the first item below.
# </details>

# %% [markdown]
# ## Why this matters for safety
#
# Activation patching and ablation are how researchers find which components drive a behaviour,
# the first step towards auditing it. Wang et al. (2022), "Interpretability in the Wild", used path
# patching to find a circuit of 26 attention heads that performs indirect object identification in
# GPT-2 small, and Conmy et al. (2023), "Towards Automated Circuit Discovery for Mechanistic
# Interpretability", automated the search (ACDC). The same methods can mislead: the choice of
# metric and of corruption changes which components look important (Zhang and Nanda 2024,
# "Towards Best Practices of Activation Patching in Language Models"), which is why this lesson
# compares zero with mean ablation and patches over layers and positions. An audit needs both
# halves: the components that matter for a behaviour, and evidence strong enough that someone
# would act on it.

# %% [markdown]
# ## Summary
#
# - A `TransformerBridge` wraps a model so that every activation has a hook name;
#   `run_with_cache` records them, `run_with_hooks` changes them. Many names are aliases,
#   and a hook sees the canonical one.
# - The residual stream is a sum of components. With the final LayerNorm's scale frozen,
#   each component's direct effect on a logit difference is a dot product: centre, divide
#   by the scale, multiply by the LN weight, project on $W_U[:,a]-W_U[:,b]$.
# - `enable_compatibility_mode()` folds LayerNorm weights into the next matrices, centres the
#   writing weights and the unembedding, and moves value biases into $b_O$. It changes the
#   logits by a per-position constant but never the log-probs. It makes the simple DLA
#   formula right, and slightly changes what "a head's output" means.
# - The logit lens decodes the stream after each layer. Ablation (zero or mean, against a
#   reference you choose) tests what a head is needed for. Activation patching on
#   clean/corrupted pairs localises where information lives, by layer, position and head.
#
# ## Going further (not graded)
#
# - **Path patching.** Patch L1H0's *value* input (`hook_v`) and its *query/key* input
#   separately (see `bridge.set_use_split_qkv_input(True)`) to find out whether the head
#   learns *what* quote it reads or *where* the quote is.
# - **Other tasks for the same model.** Closing a bracket with its own type (`foo(a, b` →
#   `)` vs `foo[a, b` → `]`) and `self.` after the indentation of a method body. Build
#   clean/corrupted pairs, check that the model does the task first, then run your patching
#   functions unchanged.
# - **Attribution patching** (Nanda 2023; Syed et al. 2023): a gradient-based linear
#   approximation that scores every (layer, position, head) patch with two forward passes
#   and one backward pass instead of one forward pass per patch. Compare it with your
#   heatmaps.
# - **TransformerLens's own helpers.** `cache.decompose_resid`, `cache.stack_head_results`,
#   `cache.apply_ln_to_stack` and `transformer_lens.patching` implement what you wrote here;
#   read their source and check that they agree with yours on the folded bridge.
# - Lesson **3.2** trains a small attention-only model and finds **induction heads** with
#   these same tools.
#
# ## Optional: GPT-2 small (needs a network; never graded)
#
# With internet and the environment variable `BOOTCAMP_ONLINE=1`, the same functions run on
# GPT-2 small through `TransformerBridge.boot_transformers("gpt2")`. The cell below runs
# your `patch_residual` on the indirect-object-identification task (Wang et al. 2022):
# "When Mary and John went to the store, John gave a drink to" → " Mary". Without a
# network it prints one line and does nothing.

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
        from transformer_lens.model_bridge import TransformerBridge

        gpt2 = TransformerBridge.boot_transformers("gpt2")
        gpt2.enable_compatibility_mode(disable_warnings=True)
        ioi_clean = gpt2.to_tokens("When Mary and John went to the store, John gave a drink to")
        ioi_corrupted = gpt2.to_tokens("When Mary and John went to the store, Mary gave a drink to")
        io, s = gpt2.to_single_token(" Mary"), gpt2.to_single_token(" John")
        ld_clean = logit_diff(gpt2(ioi_clean), io, s).item()
        ld_corrupted = logit_diff(gpt2(ioi_corrupted), io, s).item()
        print(f"GPT-2 small: logit diff clean {ld_clean:+.2f}, corrupted {ld_corrupted:+.2f}")
        table = patch_residual(gpt2, ioi_clean, ioi_corrupted,
                               lambda lg: (logit_diff(lg, io, s).mean() - ld_corrupted) / (ld_clean - ld_corrupted))
        fig, ax = plt.subplots(figsize=(10, 5))
        ax.imshow(table.numpy(), cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
        ax.set_xticks(range(ioi_clean.shape[1]), gpt2.to_str_tokens(ioi_clean), rotation=60, fontsize=8)
        ax.set_ylabel("layer (resid_pre; last row resid_post)")
        ax.set_title("GPT-2 small, IOI: residual-stream patching")
        plt.show()
    except Exception as err:  # a network or hub problem must not break the lesson
        print(f"GPT-2 small skipped: {type(err).__name__}: {err}")

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 3.1`), else from `bootcamp check 3.1` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("3.1")
