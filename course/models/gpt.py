"""A small GPT-2-style byte-level language model, written to be read (in the spirit of nanoGPT).

One config dataclass, one module per part, no framework magic. It is the model lesson 2.1
builds piece by piece, trained by :mod:`course.models.train` on Python's standard-library
source (lesson 2.2), and loaded into TransformerLens by :mod:`course.models.tlens` (Module 3).

Shapes in comments: B batch, T sequence length, D d_model, H heads, Dh d_head, V vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GPTConfig:
    # 256: one token per byte. A byte vocabulary needs no tokenizer file and is the same on
    # every machine, so a checkpoint never depends on the corpus it was trained on.
    d_vocab: int = 256
    n_ctx: int = 128  # the longest context the position embedding knows
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_mlp: int = 512  # GPT-2's 4 * d_model
    ln_eps: float = 1e-5  # GPT-2's LayerNorm epsilon
    init_std: float = 0.02  # GPT-2's initialisation
    # Optional local attention, one entry per layer: layer l's query at t sees only the keys in
    # (t - w, t], w = attn_window[l] (1 = itself only); None (the default, or an entry) = all of
    # [0, t]. Lesson 4.5's variants use it to make early layers local, as in GPT-2's early layers.
    attn_window: tuple[int | None, ...] | None = None

    def __post_init__(self):
        if self.attn_window is not None:
            window = tuple(None if w is None else int(w) for w in self.attn_window)  # a JSON list is fine
            if len(window) != self.n_layers or any(w is not None and w < 1 for w in window):
                raise ValueError(f"attn_window needs one entry >= 1 (or None) per layer ({self.n_layers}), "
                                 f"got {self.attn_window}")
            object.__setattr__(self, "attn_window", window)

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["attn_window"] is None:  # left out, so the sidecars of models without windows stay as they were
            del d["attn_window"]
        return d


class CausalSelfAttention(nn.Module):
    """Multi-head attention where position t only sees positions <= t.

    Separate q/k/v projections (GPT-2 fuses them into one matrix) because the per-head
    weights are what interpretability reads, and a reader should not have to un-fuse them.
    """

    def __init__(self, cfg: GPTConfig, window: int | None = None):
        super().__init__()
        assert cfg.d_model % cfg.n_heads == 0, "d_model must split evenly into heads"
        self.n_heads, self.d_head = cfg.n_heads, cfg.d_head
        self.q = nn.Linear(cfg.d_model, cfg.d_model)
        self.k = nn.Linear(cfg.d_model, cfg.d_model)
        self.v = nn.Linear(cfg.d_model, cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)  # "W_O": heads back into the residual stream
        # True above the diagonal = "may not look at the future". A buffer, not a parameter:
        # it moves with .to(device) but is not trained or saved.
        mask = torch.triu(torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool), diagonal=1)
        if window is not None:  # also hide the keys at or before t - window
            mask |= torch.tril(torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool), diagonal=-window)
        self.register_buffer("mask", mask, persistent=False)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, H, T, Dh)."""
        B, T, _ = x.shape
        return x.view(B, T, self.n_heads, self.d_head).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.split_heads(self.q(x)), self.split_heads(self.k(x)), self.split_heads(self.v(x))
        # Dividing by sqrt(d_head) keeps the scores' variance ~1 at initialisation, so the
        # softmax does not start saturated (Vaswani et al. 2017, section 3.2.1).
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, H, T, T)
        scores = scores.masked_fill(self.mask[:T, :T], float("-inf"))
        pattern = scores.softmax(dim=-1)
        z = (pattern @ v).transpose(1, 2).reshape(B, T, D)  # heads side by side again
        return self.proj(z)


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.d_mlp)
        self.proj = nn.Linear(cfg.d_mlp, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # GPT-2's "gelu_new" is the tanh approximation; using it keeps logits equal to GPT-2's.
        return self.proj(F.gelu(self.fc(x), approximate="tanh"))


class Block(nn.Module):
    """Pre-LayerNorm residual block: x + attn(ln(x)), then x + mlp(ln(x)).

    Normalising the *input* of each sub-layer (GPT-2) rather than the sum (the original
    Transformer) leaves the residual stream an unnormalised sum of every layer's output,
    which trains stably without warm-up tricks and is what interpretability decomposes.
    """

    def __init__(self, cfg: GPTConfig, layer: int = 0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model, eps=cfg.ln_eps)
        self.attn = CausalSelfAttention(cfg, None if cfg.attn_window is None else cfg.attn_window[layer])
        self.ln_2 = nn.LayerNorm(cfg.d_model, eps=cfg.ln_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """tokens (B, T) int64 in [0, d_vocab) -> logits (B, T, d_vocab) float32."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.d_vocab, cfg.d_model)  # token embedding
        self.wpe = nn.Embedding(cfg.n_ctx, cfg.d_model)  # learned position embedding
        self.blocks = nn.ModuleList(Block(cfg, layer) for layer in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model, eps=cfg.ln_eps)
        # Not tied to wte (GPT-2 ties them): with 256 tokens tying saves little, and separate
        # embed/unembed matrices are easier to reason about in Module 3.
        self.unembed = nn.Linear(cfg.d_model, cfg.d_vocab, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2's initialisation: N(0, 0.02) everywhere, zero biases, LayerNorm = identity,
        and the two projections that write into the residual stream scaled by 1/sqrt(2 n_layers)
        so the stream's variance does not grow with depth (GPT-2 paper, section 2.3)."""
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "ln" in name:
                nn.init.ones_(p)
            elif name.endswith("proj.weight"):
                nn.init.normal_(p, std=self.cfg.init_std / math.sqrt(2 * self.cfg.n_layers))
            else:
                nn.init.normal_(p, std=self.cfg.init_std)

    def embed(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Token plus position embedding; ``start`` is the position of tokens[:, 0] (for a KV cache)."""
        T = tokens.shape[1]
        if start + T > self.cfg.n_ctx:
            raise ValueError(f"sequence of {start + T} tokens is longer than n_ctx={self.cfg.n_ctx}")
        pos = torch.arange(start, start + T, device=tokens.device)
        return self.wte(tokens) + self.wpe(pos)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.unembed(self.ln_f(x))

    def loss(self, tokens: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy (nats per byte) of tokens (B, T+1): predict [:, 1:] from [:, :-1]."""
        logits = self(tokens[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def encode(text: str) -> torch.Tensor:
    """str -> (T,) int64 byte values (UTF-8)."""
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)


def decode(tokens) -> str:
    """A sequence of byte values -> str; a multi-byte character cut in half becomes U+FFFD."""
    return bytes(int(t) for t in tokens).decode("utf-8", errors="replace")
