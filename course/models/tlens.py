"""The one module where the course meets TransformerLens (version 4).

Everything the course knows about TransformerLens's API lives here, so an upstream
change (TransformerLens 4.0 removed ``HookedTransformer``; names of configs and hooks move
between releases) is a change in this file and nowhere else.

    from course.models import tlens
    bridge = tlens.load_bridge("stdlib-gpt")          # a shipped checkpoint
    bridge = tlens.to_bridge(model)                   # any course GPT in memory
    logits, cache = bridge.run_with_cache(tokens)     # cache["blocks.0.attn.hook_pattern"], ...

``import transformer_lens`` takes 7-15 s (it imports ``transformers``), so it happens inside
the functions, never at module import.
"""

from __future__ import annotations

# course.models.gpt parameter name -> TransformerBridge state-dict name. Per block, with
# "{i}" the layer. The bridge's NativeModel is GPT-2 shaped (pre-LN, learned positions,
# separate q/k/v with biases, GELU MLP), so each tensor maps to exactly one tensor of the
# same shape; only names differ.
_GLOBAL_NAMES = {
    "wte.weight": "embed.weight",
    "wpe.weight": "pos_embed.weight",
    "ln_f.weight": "ln_final.weight",
    "ln_f.bias": "ln_final.bias",
    "unembed.weight": "unembed.weight",
}
_BLOCK_NAMES = {
    "ln_1": "ln1",
    "ln_2": "ln2",
    "attn.q": "attn.q",
    "attn.k": "attn.k",
    "attn.v": "attn.v",
    "attn.proj": "attn.o",
    "mlp.fc": "mlp.in",
    "mlp.proj": "mlp.out",
}


def bridge_config(cfg):
    """A ``TransformerBridgeConfig`` describing a :class:`course.models.gpt.GPTConfig`."""
    from transformer_lens.config import TransformerBridgeConfig

    return TransformerBridgeConfig(
        d_model=cfg.d_model,
        d_head=cfg.d_head,
        n_layers=cfg.n_layers,
        n_ctx=cfg.n_ctx,
        n_heads=cfg.n_heads,
        d_vocab=cfg.d_vocab,
        d_mlp=cfg.d_mlp,
        act_fn="gelu_new",  # the tanh approximation course.models.gpt uses
        # Passed explicitly: the default is "LN" even for attention-only models, and a
        # course model without LayerNorm would otherwise get one silently.
        normalization_type="LN",
        eps=cfg.ln_eps,
        attention_dir="causal",
        positional_embedding_type="standard",
        tokenizer_prepends_bos=False,  # bytes, no BOS token
        init_weights=False,  # every weight is overwritten by the checkpoint anyway
        seed=0,
    )


def convert_state_dict(state: dict, n_layers: int) -> dict:
    """course GPT state dict -> TransformerBridge state dict (float32 tensors, same shapes)."""
    import torch

    out = {}
    for ours, theirs in _GLOBAL_NAMES.items():
        out[theirs] = state[ours].float()
    for i in range(n_layers):
        for ours, theirs in _BLOCK_NAMES.items():
            for kind in ("weight", "bias"):
                out[f"blocks.{i}.{theirs}.{kind}"] = state[f"blocks.{i}.{ours}.{kind}"].float()
    # The bridge's unembedding has a bias; GPT-2's (and ours) has none.
    out["unembed.bias"] = torch.zeros(state["unembed.weight"].shape[0])
    return out


def to_bridge(model):
    """A ``TransformerBridge`` computing the same logits as ``model`` (a course GPT), float32, CPU.

    The bridge owns copies of the weights: editing one model does not change the other.
    """
    from transformer_lens.model_bridge import TransformerBridge

    bridge = TransformerBridge.boot_native(bridge_config(model.cfg), model_name="course-gpt")
    converted = convert_state_dict(model.state_dict(), model.cfg.n_layers)
    result = bridge.load_state_dict(converted, strict=True)
    if result.missing_keys or result.unexpected_keys:  # strict=True raises first; belt and braces
        raise RuntimeError(f"weights did not map onto the bridge: {result}")
    return bridge.eval()


def load_bridge(name: str):
    """The shipped checkpoint ``name`` (e.g. ``"stdlib-gpt"``) as a ``TransformerBridge``. No network."""
    from .registry import load

    return to_bridge(load(name))
