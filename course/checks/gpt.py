"""Compare a hand-written GPT with ``transformers``' GPT-2, sub-module by sub-module (lesson 2.1).

The reference is ``GPT2LMHeadModel`` built from a small :class:`GPTConfig` (the course model's own
config, :class:`course.models.gpt.GPTConfig`, re-exported here) with random
weights (no download). Every parameter is randomised, LayerNorm gains and all biases
included, so a bias left out or a LayerNorm without its affine part shows up.

- :func:`reference_gpt2` builds the reference model.
- :func:`copy_weights` copies its weights into a module of the learner's with the course model's
  parameter names (:mod:`course.models.gpt`: ``wte``, ``wpe``, ``blocks.0.ln_1``,
  ``blocks.0.attn.q`` / ``k`` / ``v`` / ``proj``, ``blocks.0.mlp.fc`` / ``proj``, ``ln_f``, ``unembed``):
  GPT-2's fused ``c_attn`` is split into q, k and v, its ``Conv1D`` weights (stored ``(in, out)``)
  become ``nn.Linear`` ones (``(out, in)``), and its token embedding ``wte`` is copied into both
  ``wte`` and ``unembed`` (GPT-2 ties them; the course model does not). :func:`gpt2_name` is
  the mapping, one name at a time.
- :func:`compare_module` checks one sub-module (LayerNorm, attention, MLP, block) against
  the reference's; :func:`compare_gpt` runs both whole models with forward hooks and
  compares every sub-module's output in the order the forward pass computes them.

A difference raises :class:`course.checks.CheckFailure` naming the first sub-module whose
output differs, by how much, what matched before it, and, where it can tell, the likely
cause. Causes are found by running the *reference's own* sub-module in a few wrong ways
(no causal mask, no 1/sqrt(d_head), a bias zeroed, the exact GELU, another LayerNorm eps,
...) and naming the one the learner's output equals::

    [gpt] block 0 attention (blocks.0.attn) output differs at 96 of 512 positions; ...
        these match: token embedding (wte), position embedding (wpe), embeddings (input of blocks.0), block 0 ln_1
        likely cause: the causal mask is missing: position t attends to positions after t

Lesson 2.4's modern blocks have references here too, from ``transformers``' Llama modules
built from a config (no download): :func:`reference_rms_norm`, :func:`reference_rope`,
:func:`reference_apply_rope`, :func:`reference_repeat_kv`, :func:`reference_swiglu`,
:func:`reference_llama_attention` and :func:`reference_llama_layer`. This is the one module of the
course that meets ``transformers``.

This module imports torch; ``transformers`` is imported when a reference is first built.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from course.checks import CheckFailure, assert_close
from course.models.gpt import GPTConfig  # one config for 2.1's GPT and the course's (d_vocab, d_mlp, ...)

__all__ = ["GPTConfig", "reference_gpt2", "copy_weights", "gpt2_name", "compare_module", "compare_gpt", "causal_mask_bias",
           "Comparison", "llama_config", "reference_rms_norm", "reference_rope", "reference_apply_rope",
           "reference_repeat_kv", "reference_swiglu", "reference_llama_attention", "reference_llama_layer"]

RTOL, ATOL = 1e-4, 1e-5  # float32: sums over d_model of products, in another order than the reference's


def reference_gpt2(cfg: GPTConfig, seed: int = 0) -> nn.Module:
    """``transformers.GPT2LMHeadModel`` of this shape, in eval mode, eager attention, no dropout,
    with every parameter drawn at random (fixed ``seed``; the global random state is untouched)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=cfg.d_vocab, n_positions=cfg.n_ctx, n_embd=cfg.d_model, n_head=cfg.n_heads,
                        n_inner=cfg.d_mlp,
                        n_layer=cfg.n_layers, layer_norm_epsilon=cfg.ln_eps, activation_function="gelu_new",
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0,
                        attn_implementation="eager")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config).eval()
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith(("wte.weight", "wpe.weight")):
                    p.normal_(0.0, 0.5)
                elif ".ln_" in name and name.endswith("weight"):
                    p.copy_(1.0 + 0.2 * torch.randn_like(p))
                else:  # linear weights and every bias
                    p.normal_(0.0, 0.2)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def causal_mask_bias(t: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The additive mask GPT-2's eager attention takes: 0 on and below the diagonal, a huge
    negative number above it. Shape (1, 1, t, t)."""
    upper = torch.ones(t, t, dtype=torch.bool).triu(1)
    return torch.zeros(t, t, dtype=dtype).masked_fill(upper, torch.finfo(dtype).min)[None, None]


# --------------------------------------------------------------------------- weights
_RENAMED = {"blocks": "h", "proj": "c_proj", "fc": "c_fc"}  # course name -> GPT-2 name, one dotted part at a time


def gpt2_name(name: str) -> tuple[str, int | None]:
    """The GPT-2 parameter a course-model parameter is copied from, and which third of GPT-2's fused
    ``c_attn`` it is (0 = q, 1 = k, 2 = v; None for the others). Works on names relative to any
    sub-module: ``"blocks.0.attn.k.bias"`` -> ``("h.0.attn.c_attn.bias", 1)``, ``"fc.weight"`` ->
    ``("c_fc.weight", None)``, ``"unembed.weight"`` -> ``("wte.weight", None)`` (GPT-2 ties them)."""
    if name == "unembed.weight":
        return "wte.weight", None
    parts = [_RENAMED.get(part, part) for part in name.split(".")]
    third = None
    if len(parts) >= 2 and parts[-2] in ("q", "k", "v"):
        third, parts[-2] = "qkv".index(parts[-2]), "c_attn"
    return ".".join(parts), third


def _course_names(ref_name: str) -> list[str]:
    """The inverse of :func:`gpt2_name`: the course parameters one GPT-2 parameter fills."""
    back = {v: k for k, v in _RENAMED.items()}
    parts = [back.get(part, part) for part in ref_name.split(".")]
    if len(parts) >= 2 and parts[-2] == "c_attn":
        return [".".join(parts[:-2] + [qkv, parts[-1]]) for qkv in "qkv"]
    return [".".join(parts)] + (["unembed.weight"] if ref_name == "wte.weight" else [])


def _hf_name(my_name: str, ref: nn.Module) -> str:
    names = dict(ref.named_parameters())
    for candidate in (my_name, "transformer." + my_name):
        if candidate in names:
            return candidate
    raise KeyError(my_name)


def copy_weights(exercise: str, mine: nn.Module, ref: nn.Module) -> None:
    """Copy ``ref``'s parameters (a GPT-2 model or sub-module) into ``mine`` (the same part with the
    course model's names, :func:`gpt2_name`): ``c_attn`` split into q, k, v, Conv1D weights transposed
    into ``nn.Linear``'s layout, ``wte`` copied into ``unembed`` too. Raises CheckFailure if a
    parameter is missing, extra, or of the wrong shape."""
    ref_params = dict(ref.named_parameters())
    ref_modules = dict(ref.named_modules())
    mine_params = dict(mine.named_parameters())
    wanted = {n for r in ref_params if not r.startswith("lm_head") for n in _course_names(_strip(r))}
    if not mine_params and ref_params:
        raise CheckFailure(exercise, f"{type(mine).__name__} has no parameters; expected {', '.join(sorted(wanted))}",
                           ["keep the parameters that __init__ creates (nn.Linear / nn.Parameter)"])
    missing = sorted(wanted - set(mine_params))
    extra = sorted(n for n in mine_params if n not in wanted)
    if missing or extra:
        details = []
        if missing:
            details.append(f"missing: {', '.join(missing[:6])}")
        if extra:
            details.append(f"not in the course model: {', '.join(extra[:6])}")
        raise CheckFailure(exercise, f"the parameters of your {type(mine).__name__} do not have the course model's "
                           "names (course/models/gpt.py)",
                           details + ["keep __init__ as given: the weights are copied from GPT-2 by name"])
    with torch.no_grad():
        for name, p in mine_params.items():
            ref_name, third = gpt2_name(name)
            src_name = _hf_name(ref_name, ref)
            src = ref_params[src_name]
            owner = ref_modules[src_name.rsplit(".", 1)[0] if "." in src_name else ""]
            if type(owner).__name__ == "Conv1D" and src.ndim == 2:
                src = src.T  # Conv1D computes x @ W with W of shape (in, out); nn.Linear stores (out, in)
            if third is not None:  # c_attn's output is [q | k | v]: rows of the (out, in) weight, entries of the bias
                d = src.shape[0] // 3
                src = src[third * d:(third + 1) * d]
            if tuple(p.shape) != tuple(src.shape):
                where = f"GPT-2's {src_name}" + (f" ({'qkv'[third]} third)" if third is not None else "")
                raise CheckFailure(exercise, f"parameter '{name}' has shape {tuple(p.shape)}; {where} (in "
                                   f"nn.Linear's layout) is {tuple(src.shape)}",
                                   ["nn.Linear(in_features, out_features).weight has shape (out, in)"])
            p.copy_(src.to(p.dtype))


def _strip(name: str) -> str:
    return name[len("transformer."):] if name.startswith("transformer.") else name


# --------------------------------------------------------------------------- running the reference
def _first(out):
    return out[0] if isinstance(out, tuple) else out


def _run_ref(ref: nn.Module, x: torch.Tensor, *, mask: bool = True) -> torch.Tensor:
    kind = type(ref).__name__
    if kind in ("GPT2Attention", "GPT2Block"):
        bias = causal_mask_bias(x.shape[-2], x.dtype) if mask else None
        return _first(ref(x, attention_mask=bias))
    return _first(ref(x))


def _with_scaling(attn: nn.Module, scaling: float) -> nn.Module:
    m = copy.deepcopy(attn)
    m.scaling = scaling
    return m


def _zeroed(module: nn.Module, param: str) -> nn.Module:
    m = copy.deepcopy(module)
    with torch.no_grad():
        m.get_parameter(param).zero_()
    return m


def _suspects(ref: nn.Module, x: torch.Tensor) -> list[tuple[str, Callable[[], torch.Tensor]]]:
    """(cause, output of the reference made wrong in that way) for the typical mistakes."""
    kind = type(ref).__name__
    if kind == "GPT2Attention":
        d_head = ref.head_dim
        return [
            ("the causal mask is missing: position t attends to positions after t (the last position is right, "
             "earlier ones are not)", lambda: _run_ref(ref, x, mask=False)),
            ("the scores are not divided by sqrt(d_head): scores = q @ k^T / sqrt(d_head)",
             lambda: _run_ref(_with_scaling(ref, 1.0), x)),
            ("the scores are divided by d_head; divide by sqrt(d_head)",
             lambda: _run_ref(_with_scaling(ref, 1.0 / d_head), x)),
            ("the scores are divided by sqrt(d_model); divide by sqrt(d_head), the size of one head",
             lambda: _run_ref(_with_scaling(ref, ref.embed_dim ** -0.5), x)),
            ("neither mask nor scale: mask the scores above the diagonal, and divide them by sqrt(d_head)",
             lambda: _run_ref(_with_scaling(ref, 1.0), x, mask=False)),
            ("the biases of q, k and v are left out (call the nn.Linear modules, or add their .bias)",
             lambda: _run_ref(_zeroed(ref, "c_attn.bias"), x)),
            ("the bias of proj (the output projection) is left out (call the nn.Linear module, or add its .bias)",
             lambda: _run_ref(_zeroed(ref, "c_proj.bias"), x)),
            ("the output projection proj is not applied",
             lambda: _run_ref(_with_identity_proj(ref), x)),
        ]
    if kind == "GPT2MLP":
        return [
            ("the exact (erf) GELU; GPT-2 uses the tanh approximation: F.gelu(x, approximate='tanh')",
             lambda: _mlp_with(ref, nn.GELU())(x)),
            ("ReLU where GPT-2 uses GELU (tanh approximation)", lambda: _mlp_with(ref, nn.ReLU())(x)),
            ("no activation between fc and proj", lambda: _mlp_with(ref, nn.Identity())(x)),
            ("the bias of fc is left out", lambda: _zeroed(ref, "c_fc.bias")(x)),
            ("the bias of proj is left out", lambda: _zeroed(ref, "c_proj.bias")(x)),
        ]
    if isinstance(ref, nn.LayerNorm):
        w, b, eps = ref.weight, ref.bias, ref.eps

        def ln(x, eps=eps, w=w, b=b, unbiased=False, std_eps=False):
            mean = x.mean(-1, keepdim=True)
            var = x.var(-1, keepdim=True, unbiased=unbiased)
            y = (x - mean) / (var.sqrt() + eps) if std_eps else (x - mean) / torch.sqrt(var + eps)
            return y * (1 if w is None else w) + (0 if b is None else b)

        return [
            ("the variance is the unbiased one (divides by n - 1): use x.var(-1, unbiased=False) or the mean of "
             "squares", lambda: ln(x, unbiased=True)),
            ("epsilon is missing: divide by sqrt(var + eps) with eps = 1e-5", lambda: ln(x, eps=0.0)),
            ("epsilon is not GPT-2's 1e-5 (1e-12?)", lambda: ln(x, eps=1e-12)),
            ("epsilon is not GPT-2's 1e-5 (1e-6?)", lambda: ln(x, eps=1e-6)),
            ("epsilon is added to the standard deviation; GPT-2 adds it to the variance: sqrt(var + eps)",
             lambda: ln(x, std_eps=True)),
            ("the gain (weight) is not applied", lambda: ln(x, w=None)),
            ("the bias is not added", lambda: ln(x, b=None)),
            ("neither gain nor bias is applied", lambda: ln(x, w=None, b=None)),
        ]
    if kind == "GPT2Block":
        attn, mlp, ln_1, ln_2 = ref.attn, ref.mlp, ref.ln_1, ref.ln_2

        def a(z):
            return _run_ref(attn, z)

        return [
            ("the residual connection around attention is missing: x = x + attn(ln_1(x))",
             lambda: (lambda h: h + mlp(ln_2(h)))(a(ln_1(x)))),
            ("the residual connection around the MLP is missing: x = x + mlp(ln_2(x))",
             lambda: (lambda h: mlp(ln_2(h)))(x + a(ln_1(x)))),
            ("LayerNorm after the residual add (post-LN, the original Transformer); GPT-2 normalises the input "
             "of each sub-layer: x + attn(ln_1(x))", lambda: (lambda h: ln_2(h + mlp(h)))(ln_1(x + a(x)))),
            ("the MLP reads ln_2 of the block's input; it must read the stream after the attention update",
             lambda: (lambda h: h + mlp(ln_2(x)))(x + a(ln_1(x)))),
            ("ln_1 is used twice; the MLP's input goes through ln_2",
             lambda: (lambda h: h + mlp(ln_1(h)))(x + a(ln_1(x)))),
        ]
    return []


def _mlp_with(mlp: nn.Module, act: nn.Module) -> nn.Module:
    m = copy.deepcopy(mlp)
    m.act = act
    return m


class _NoProj(nn.Module):
    def forward(self, x):
        return x


def _with_identity_proj(attn: nn.Module) -> nn.Module:
    m = copy.deepcopy(attn)
    m.c_proj = _NoProj()
    return m


def _likely_causes(ref: nn.Module, x: torch.Tensor, got: torch.Tensor) -> list[str]:
    causes = []
    with torch.no_grad():
        for cause, make in _suspects(ref, x):
            try:
                wrong = make()
            except Exception:  # a suspect that cannot run says nothing
                continue
            if wrong.shape == got.shape and torch.allclose(got, wrong.to(got.dtype), rtol=1e-3, atol=1e-4):
                causes.append(cause)
                break
    return causes


_GENERIC = {
    "GPT2Attention": "check the split into heads: self.q(x) is (batch, seq, d_model) -> (batch, seq, n_heads, "
                     "d_head), feature f in head f // d_head; z is (batch, seq, n_heads, d_head) and goes back "
                     "to (batch, seq, d_model) in the same feature order",
    "GPT2MLP": "the MLP is proj(gelu_tanh(fc(x)))",
    "LayerNorm": "normalise over the last dimension: (x - mean) / sqrt(var + eps) * weight + bias",
    "GPT2Block": "the block is x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))",
}


def _check(exercise: str, got, expected: torch.Tensor, name: str, ref: nn.Module | None, x: torch.Tensor | None,
           matched: list[str], hint: str | None) -> float:
    try:
        assert_close(exercise, got, expected, rtol=RTOL, atol=ATOL, name=name)
    except CheckFailure as err:
        details = []
        if matched:
            details.append("these match: " + ", ".join(matched))
        details += err.details
        if ref is not None and x is not None and isinstance(got, torch.Tensor) and got.shape == expected.shape:
            causes = _likely_causes(ref, x, got)
            if causes:  # a named cause beats assert_close's generic "the errors are tiny"
                details = [d for d in details if not d.startswith("likely cause: the errors are tiny")]
                details += [f"likely cause: {c}" for c in causes]
            else:
                generic = _GENERIC.get(type(ref).__name__)
                if generic:
                    details.append(f"check: {generic}")
        if hint:
            details.append(f"hint: {hint}")
        raise CheckFailure(exercise, err.summary, details) from None
    return float((got.detach().float() - expected.float()).abs().max()) if expected.numel() else 0.0


def _blame_earlier(failure: CheckFailure, layernorms: list) -> CheckFailure:
    """A LayerNorm that is off by less than the tolerance (another epsilon) passes its own check and
    shows up later, amplified. If an earlier LayerNorm's output equals a wrong variant of GPT-2's much
    more closely than GPT-2's own output, name it."""
    with torch.no_grad():
        for label, owner, x_in, got in layernorms:
            expected = owner(x_in)
            true_err = float((got - expected).abs().max())
            if true_err == 0.0:
                continue
            for cause, make in _suspects(owner, x_in):
                wrong = make()
                if wrong.shape == got.shape and float((got - wrong).abs().max()) < true_err / 10:
                    details = [d for d in failure.details if not d.startswith(("likely cause:", "check:"))]
                    details.append(f"likely cause: {label} is slightly off (max abs error {true_err:.1e}, within the "
                                   f"tolerance there, amplified here): {cause}")
                    return CheckFailure(failure.exercise, failure.summary, details)
    return failure


# --------------------------------------------------------------------------- one sub-module
def compare_module(exercise: str, mine: nn.Module, ref: nn.Module, x: torch.Tensor, *,
                   hint: str | None = None) -> float:
    """Copy ``ref``'s weights into ``mine``, run both on ``x`` (batch, seq, d_model) and compare.

    ``ref`` is a sub-module of :func:`reference_gpt2`'s model: a LayerNorm, ``GPT2Attention``
    (run with the causal mask), ``GPT2MLP`` or ``GPT2Block``. Returns the largest absolute
    difference; raises CheckFailure with a likely cause when the outputs differ.
    """
    copy_weights(exercise, mine, ref)
    x_ref = x.contiguous()  # GPT-2's Conv1D needs it; the learner's module gets x as it is
    with torch.no_grad():
        expected = _run_ref(ref, x_ref)
        got = mine(x)
    if isinstance(got, tuple):
        raise CheckFailure(exercise, f"your {type(mine).__name__} returned a tuple; return the output tensor only")
    try:
        return _check(exercise, got, expected, f"{type(mine).__name__} output", ref, x_ref, [], hint)
    except CheckFailure as failure:
        if type(ref).__name__ == "GPT2Block":
            raise _blame_part(failure, mine, ref, x_ref) from None
        raise


def _blame_part(failure: CheckFailure, mine: nn.Module, ref: nn.Module, x: torch.Tensor) -> CheckFailure:
    """A block that differs because one of its parts does: name the part, not the residual wiring."""
    with torch.no_grad():
        ln_1 = ref.ln_1(x)
        h = x + _run_ref(ref.attn, ln_1)
        ln_2 = ref.ln_2(h)
        parts = [("ln_1", ref.ln_1, x, ln_1), ("attn", ref.attn, ln_1, h - x), ("ln_2", ref.ln_2, h, ln_2),
                 ("mlp", ref.mlp, ln_2, ref.mlp(ln_2))]
        for name, ref_part, inp, expected in parts:
            part = getattr(mine, name, None)
            if not isinstance(part, nn.Module):
                continue
            try:
                got = part(inp)
            except NotImplementedError:
                raise
            except Exception:
                continue
            if not isinstance(got, torch.Tensor) or got.shape != expected.shape \
                    or not torch.allclose(got, expected, rtol=RTOL, atol=ATOL):
                causes = _likely_causes(ref_part, inp, got) if isinstance(got, torch.Tensor) and \
                    got.shape == expected.shape else []
                details = [d for d in failure.details if not d.startswith(("likely cause:", "check:"))]
                details.append(f"likely cause: the block's {name} ({type(part).__name__}) already differs from "
                               f"GPT-2's: fix that exercise first" + (f" ({causes[0]})" if causes else ""))
                return CheckFailure(failure.exercise, failure.summary, details)
    return failure


# --------------------------------------------------------------------------- the whole model
@dataclass
class Comparison:
    """Largest |yours - GPT-2| of each sub-module's output, in forward order."""

    rows: list[tuple[str, float]] = field(default_factory=list)

    def __str__(self) -> str:
        width = max((len(label) for label, _ in self.rows), default=10)
        lines = [f"{'sub-module':<{width}}  max |yours - GPT-2|"]
        lines += [f"{label:<{width}}  {err:.1e}" for label, err in self.rows]
        return "\n".join(lines)


def _plan(n_layers: int) -> list[tuple[str, str, str, str]]:
    """(label, my module, reference module, 'out' or 'in') in the order the forward pass computes them."""
    plan = [("token embedding (wte)", "wte", "transformer.wte", "out"),
            ("position embedding (wpe)", "wpe", "transformer.wpe", "out"),
            ("embeddings (input of blocks.0)", "blocks.0", "transformer.h.0", "in")]
    for i in range(n_layers):
        p, r = f"blocks.{i}", f"transformer.h.{i}"
        plan += [(f"block {i} ln_1", f"{p}.ln_1", f"{r}.ln_1", "out"),
                 (f"block {i} attention ({p}.attn)", f"{p}.attn", f"{r}.attn", "out"),
                 (f"block {i} stream after attention (input of {p}.ln_2)", f"{p}.ln_2", f"{r}.ln_2", "in"),
                 (f"block {i} ln_2", f"{p}.ln_2", f"{r}.ln_2", "out"),
                 (f"block {i} MLP ({p}.mlp)", f"{p}.mlp", f"{r}.mlp", "out"),
                 (f"block {i} output ({p})", p, r, "out")]
    plan.append(("final LayerNorm (ln_f)", "ln_f", "transformer.ln_f", "out"))
    return plan


def _record(model: nn.Module, names: set[str], store: dict) -> list:
    modules = dict(model.named_modules())
    handles = []
    for name in names:
        if name not in modules:
            continue

        def out_hook(mod, args, out, name=name):
            store.setdefault((name, "out"), _first(out))

        def in_hook(mod, args, kwargs, name=name):
            x = args[0] if args else next(iter(kwargs.values()), None)
            store.setdefault((name, "in"), x)

        handles.append(modules[name].register_forward_hook(out_hook))
        handles.append(modules[name].register_forward_pre_hook(in_hook, with_kwargs=True))
    return handles


def compare_gpt(exercise: str, mine: nn.Module, ref: nn.Module, tokens: torch.Tensor, *,
                hint: str | None = None) -> Comparison:
    """Copy ``ref``'s weights into ``mine`` (a GPT with the course model's names), run both on
    ``tokens`` (batch, seq) int64 and compare each sub-module's output in forward order, then
    the logits. Raises CheckFailure at the first difference, naming the sub-module, what
    matched before it, and a likely cause. Returns a :class:`Comparison` table."""
    copy_weights(exercise, mine, ref)
    n_layers = len(ref.transformer.h)
    plan = _plan(n_layers)
    mine_store: dict = {}
    ref_store: dict = {}
    handles = _record(mine, {m for _, m, _, _ in plan}, mine_store) + _record(ref, {r for _, _, r, _ in plan}, ref_store)
    try:
        with torch.no_grad():
            expected = ref(tokens).logits
            got = mine(tokens.clone())
    finally:
        for h in handles:
            h.remove()
    result = Comparison()
    matched: list[str] = []
    layernorms: list[tuple[str, nn.Module, torch.Tensor, torch.Tensor]] = []  # matched ones, to re-examine
    ref_modules = dict(ref.named_modules())
    for label, my_name, ref_name, where in plan:
        e = ref_store.get((ref_name, where))
        g = mine_store.get((my_name, where))
        if g is None:
            if where == "out" or my_name == "blocks.0":
                raise CheckFailure(exercise, f"your GPT never called '{my_name}', so its {label} cannot be checked",
                                   ["call the sub-modules that __init__ creates (self.wte, self.blocks[i].attn, ...), "
                                    "each once per forward pass"] + ([f"hint: {hint}"] if hint else []))
            continue
        if where == "out" and my_name == "wpe":  # (seq, d) or (1, seq, d) or (batch, seq, d): compare one row
            g = g.reshape(-1, *g.shape[-2:])[0] if isinstance(g, torch.Tensor) and g.ndim >= 2 else g
            e = e.reshape(-1, *e.shape[-2:])[0]
        owner = ref_modules[ref_name] if where == "out" else None
        x_in = ref_store.get((ref_name, "in")) if where == "out" else None
        if owner is not None and type(owner).__name__ == "Embedding":
            owner = None
        try:
            err = _check(exercise, g, e, f"{label} output", owner, x_in, matched, hint)
        except CheckFailure as failure:
            raise _blame_earlier(failure, layernorms) from None
        if isinstance(owner, nn.LayerNorm) and x_in is not None:
            layernorms.append((label, owner, x_in, g))
        result.rows.append((label, err))
        matched.append(label)
    if isinstance(got, tuple):
        raise CheckFailure(exercise, "your GPT returned a tuple; return the logits tensor only")
    try:
        err = _check(exercise, got, expected, "logits", None, None, matched,
                     hint or "logits = unembed(ln_f(x)); the test copied GPT-2's wte into unembed (GPT-2 ties them)")
    except CheckFailure as failure:
        raise _blame_earlier(failure, layernorms) from None
    result.rows.append(("logits", err))
    return result


# --------------------------------------------------------------------------- modern blocks (lesson 2.4)
# References from ``transformers``' Llama modules, built from a config with random weights (no
# download). The learner's functions take weight matrices in the ``x @ W`` layout, (d_in, d_out);
# nn.Linear stores (d_out, d_in), so the weights are transposed on the way in.
def llama_config(d_model: int = 32, n_heads: int = 4, n_kv_heads: int = 2, d_mlp: int = 48,
                 rope_base: float = 10000.0, eps: float = 1e-6, n_ctx: int = 64):
    """A ``transformers.LlamaConfig`` of this shape: eager attention, no biases, SiLU-gated MLP."""
    from transformers import LlamaConfig

    return LlamaConfig(hidden_size=d_model, num_attention_heads=n_heads, num_key_value_heads=n_kv_heads,
                       intermediate_size=d_mlp, rms_norm_eps=eps, max_position_embeddings=n_ctx, num_hidden_layers=1,
                       vocab_size=16, hidden_act="silu", attention_bias=False, mlp_bias=False,
                       rope_parameters={"rope_type": "default", "rope_theta": rope_base},
                       attn_implementation="eager")


def reference_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """``LlamaRMSNorm`` with this gain, applied to ``x`` (..., d)."""
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    norm = LlamaRMSNorm(x.shape[-1], eps=eps).to(weight.dtype)
    with torch.no_grad():
        norm.weight.copy_(weight)
        return norm(x)


def reference_rope(n_positions: int, d_head: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``LlamaRotaryEmbedding``'s (cos, sin) for positions 0..n_positions-1, each (n_positions, d_head)."""
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    cfg = llama_config(d_model=d_head, n_heads=1, n_kv_heads=1, rope_base=base, n_ctx=max(n_positions, 1))
    rope = LlamaRotaryEmbedding(cfg)
    x = torch.zeros(1, n_positions, d_head)
    cos, sin = rope(x, torch.arange(n_positions)[None])
    return cos[0], sin[0]


def reference_apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """``apply_rotary_pos_emb`` on ``x`` (batch, heads, seq, d_head) with (seq, d_head) tables."""
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    out, _ = apply_rotary_pos_emb(x, x, cos[None], sin[None])
    return out


def reference_repeat_kv(kv: torch.Tensor, n_rep: int) -> torch.Tensor:
    """``transformers``' ``repeat_kv``: (batch, n_kv_heads, seq, d) -> (batch, n_kv_heads * n_rep, seq, d)."""
    from transformers.models.llama.modeling_llama import repeat_kv

    return repeat_kv(kv, n_rep)


def _linear_from(layer: nn.Linear, W: torch.Tensor) -> None:
    with torch.no_grad():
        layer.weight.copy_(W.T)


def reference_swiglu(x: torch.Tensor, W_gate: torch.Tensor, W_up: torch.Tensor, W_down: torch.Tensor) -> torch.Tensor:
    """``LlamaMLP`` (SiLU-gated) with these weights, in the ``x @ W`` layout."""
    from transformers.models.llama.modeling_llama import LlamaMLP

    mlp = LlamaMLP(llama_config(d_model=W_gate.shape[0], d_mlp=W_gate.shape[1]))
    for layer, W in ((mlp.gate_proj, W_gate), (mlp.up_proj, W_up), (mlp.down_proj, W_down)):
        _linear_from(layer, W)
    with torch.no_grad():
        return mlp(x)


def reference_llama_attention(x: torch.Tensor, W_q, W_k, W_v, W_o, n_heads: int, n_kv_heads: int,
                              base: float = 10000.0) -> torch.Tensor:
    """``LlamaAttention`` (eager, causal, RoPE, grouped-query) with these weights on ``x`` (batch, seq, d_model)."""
    from transformers.models.llama.modeling_llama import LlamaAttention

    cfg = llama_config(d_model=x.shape[-1], n_heads=n_heads, n_kv_heads=n_kv_heads, rope_base=base,
                       n_ctx=x.shape[1])
    attn = LlamaAttention(cfg, layer_idx=0).eval()
    for layer, W in ((attn.q_proj, W_q), (attn.k_proj, W_k), (attn.v_proj, W_v), (attn.o_proj, W_o)):
        _linear_from(layer, W)
    cos, sin = reference_rope(x.shape[1], x.shape[-1] // n_heads, base)
    mask = causal_mask_bias(x.shape[1], x.dtype)
    with torch.no_grad():
        out, _ = attn(x, position_embeddings=(cos[None], sin[None]), attention_mask=mask)
    return out


def reference_llama_layer(x: torch.Tensor, params: dict, n_heads: int, n_kv_heads: int, eps: float = 1e-6,
                          base: float = 10000.0) -> torch.Tensor:
    """``LlamaDecoderLayer`` with ``params`` (keys ``attn_norm``, ``W_q``, ``W_k``, ``W_v``, ``W_o``,
    ``mlp_norm``, ``W_gate``, ``W_up``, ``W_down``) on ``x`` (batch, seq, d_model)."""
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    cfg = llama_config(d_model=x.shape[-1], n_heads=n_heads, n_kv_heads=n_kv_heads, d_mlp=params["W_gate"].shape[1],
                       rope_base=base, eps=eps, n_ctx=x.shape[1])
    layer = LlamaDecoderLayer(cfg, layer_idx=0).eval()
    a, m = layer.self_attn, layer.mlp
    for lin, key in ((a.q_proj, "W_q"), (a.k_proj, "W_k"), (a.v_proj, "W_v"), (a.o_proj, "W_o"),
                     (m.gate_proj, "W_gate"), (m.up_proj, "W_up"), (m.down_proj, "W_down")):
        _linear_from(lin, params[key])
    with torch.no_grad():
        layer.input_layernorm.weight.copy_(params["attn_norm"])
        layer.post_attention_layernorm.weight.copy_(params["mlp_norm"])
        cos, sin = reference_rope(x.shape[1], x.shape[-1] // n_heads, base)
        out = layer(x, attention_mask=causal_mask_bias(x.shape[1], x.dtype), position_embeddings=(cos[None], sin[None]))
    return out[0] if isinstance(out, tuple) else out
