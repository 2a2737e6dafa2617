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
    if getattr(cfg, "attn_window", None) is not None:
        raise ValueError("local attention windows (GPTConfig.attn_window) have no TransformerLens equivalent here")
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
    """The shipped checkpoint ``name`` (``"stdlib-gpt"``, ``"induction-2l"``, ``"ioi-3l"``) as a ``TransformerBridge``. No network."""
    from .registry import get, load

    model = load(name)
    if get(name).module in ("attn_only", "ioi"):  # both are course.models.attn_only.AttnOnlyTransformer
        return attn_only_bridge(model)
    return to_bridge(model)


# --------------------------------------------------------------------------- attention-only models (lesson 3.2)
def attn_only_bridge_config(cfg):
    """A ``TransformerBridgeConfig`` for a :class:`course.models.attn_only.AttnOnlyConfig`."""
    from transformer_lens.config import TransformerBridgeConfig

    return TransformerBridgeConfig(
        d_model=cfg.d_model,
        d_head=cfg.d_head,
        n_layers=cfg.n_layers,
        n_ctx=cfg.n_ctx,
        n_heads=cfg.n_heads,
        d_vocab=cfg.d_vocab,
        attn_only=True,  # no MLPs
        normalization_type=None,  # no LayerNorm: the default would be "LN", even with attn_only
        attention_dir="causal",
        positional_embedding_type="standard",
        tokenizer_prepends_bos=False,  # our token tensors carry their own BOS
        init_weights=False,  # every weight is overwritten below
        seed=0,
    )


def attn_only_state_dict(model) -> dict:
    """course attention-only model -> TransformerBridge state dict (float32).

    Ours stores one matrix per head, ``W_Q[h]`` of shape (d_model, d_head), used as ``x @ W_Q[h]``;
    the bridge's native model has ``nn.Linear`` layers whose weight is (n_heads * d_head, d_model),
    used as ``x @ weight.T``, heads side by side. Biases (ours has none) are zero.
    """
    import torch

    cfg = model.cfg
    H, D, Dh = cfg.n_heads, cfg.d_model, cfg.d_head
    out = {
        "embed.weight": model.W_E.detach().float(),
        "pos_embed.weight": model.W_pos.detach().float(),
        "unembed.weight": model.W_U.detach().float().T,
        "unembed.bias": torch.zeros(cfg.d_vocab),
    }
    for i, block in enumerate(model.blocks):
        for ours, theirs in (("W_Q", "q"), ("W_K", "k"), ("W_V", "v")):
            w = getattr(block, ours).detach().float()  # (H, D, Dh)
            out[f"blocks.{i}.attn.{theirs}.weight"] = w.permute(0, 2, 1).reshape(H * Dh, D)
            out[f"blocks.{i}.attn.{theirs}.bias"] = torch.zeros(H * Dh)
        out[f"blocks.{i}.attn.o.weight"] = block.W_O.detach().float().reshape(H * Dh, D).T
        out[f"blocks.{i}.attn.o.bias"] = torch.zeros(D)
    return {k: v.contiguous() for k, v in out.items()}


def attn_only_bridge(model):
    """A ``TransformerBridge`` computing the same logits as ``model`` (a course attention-only model).

    Float32, CPU, eval mode; the bridge owns copies of the weights. Its cache has the usual
    hook names (``blocks.1.attn.hook_pattern``, ``blocks.0.attn.hook_z``, ...) and its
    ``W_Q``/``W_K``/``W_V``/``W_O`` (n_layers, n_heads, ...) equal ``model.blocks[l].W_Q`` etc.
    """
    from transformer_lens.model_bridge import TransformerBridge

    bridge = TransformerBridge.boot_native(attn_only_bridge_config(model.cfg), model_name="course-attn-only")
    result = bridge.load_state_dict(attn_only_state_dict(model), strict=True)
    if result.missing_keys or result.unexpected_keys:  # strict=True raises first; belt and braces
        raise RuntimeError(f"weights did not map onto the bridge: {result}")
    return bridge.eval()
