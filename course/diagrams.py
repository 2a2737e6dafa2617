"""Static diagrams for the lessons, drawn by code so that they stay true to the course.

Each function returns a matplotlib ``Figure``; a lesson shows one with
``diagrams.residual_stream(); plt.show()``. They are pictures of *ideas* (where things are
read and written, which shapes flow where), not plots of results: the lessons' plots of
results are drawn from the learner's own numbers.

    residual_stream()     the residual stream, and the block that reads from and writes to it (2.1, 3.1)
    attention_shapes()    causal multi-head self-attention, one tensor shape per step (2.1)
    patching()            clean -> corrupted activation patching, and what the metric compares (3.1, 3.3)
    induction_circuit()   a previous-token head and an induction head, joined by K-composition (3.2)
    sparse_autoencoder()  an SAE on an activation: encoder, ReLU, sparse latents, decoder, loss (4.3)

The shape names (``batch``, ``seq``, ``d_model``, ``n_heads``, ``d_head``) are the ones the
lessons' docstrings use. ``tests/test_diagrams.py`` draws each diagram and checks its labels.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = ["residual_stream", "attention_shapes", "patching", "induction_circuit", "sparse_autoencoder"]

_COLOURS = {
    "stream": "#4c72b0",
    "attn": "#dd8452",
    "mlp": "#55a868",
    "io": "#8172b3",
    "clean": "#55a868",
    "corrupt": "#c44e52",
    "note": "#555555",
}


def _canvas(width: float, height: float, title: str):
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=12)
    return fig, ax


def _box(ax, x: float, y: float, w: float, h: float, text: str, colour: str, fontsize: int = 9):
    """A rounded box centred on (x, y), with its label."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04",
                                facecolor=colour, alpha=0.22, edgecolor=colour, linewidth=1.5))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, colour: str = "black", text: str | None = None, style: str = "-|>",
           dashed: bool = False, rad: float = 0.0, fontsize: int = 8):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=colour,
                                 linewidth=1.3, linestyle="--" if dashed else "-",
                                 connectionstyle=f"arc3,rad={rad}"))
    if text:
        ax.text((start[0] + end[0]) / 2 + 0.08, (start[1] + end[1]) / 2, text, fontsize=fontsize,
                color=colour, va="center")


def residual_stream(n_layers: int = 2):
    """The residual stream: every component reads it, and adds its output back into it."""
    height = 2.2 + 2.0 * n_layers
    fig, ax = _canvas(7.5, height, "The residual stream: each block reads it and adds to it")
    x = 2.0
    ax.plot([x, x], [0.6, height - 0.55], color=_COLOURS["stream"], linewidth=6, alpha=0.5)
    _box(ax, x, 0.35, 2.6, 0.45, "tokens -> embed + pos_embed", _COLOURS["io"])
    y = 1.2
    for layer in range(n_layers):
        for name, colour, kind in (("attention", _COLOURS["attn"], "attn"), ("MLP", _COLOURS["mlp"], "mlp")):
            _box(ax, x + 2.75, y + 0.45, 2.3, 0.55, f"{kind}{layer}: LayerNorm -> {name}", colour, 7)
            _arrow(ax, (x + 0.1, y), (x + 1.6, y + 0.3), _COLOURS["note"])
            _arrow(ax, (x + 1.6, y + 0.62), (x + 0.1, y + 0.95), colour, style="-|>")
            ax.text(x - 0.15, y + 0.95, "+", ha="right", va="center", fontsize=14, color=colour)
            y += 1.0
    _box(ax, x, height - 0.3, 2.6, 0.45, "LayerNorm -> unembed -> logits", _COLOURS["io"])
    ax.text(x + 4.0, 0.9, "resid[batch, seq, d_model]\nis a sum: embed + every\nblock's output",
            fontsize=8, color=_COLOURS["note"], va="bottom")
    ax.text(x + 4.0, height - 0.8, "reads: LayerNorm of the stream\nwrites: added back (+),\nnever overwritten",
            fontsize=8, color=_COLOURS["note"], va="top")
    return fig


def attention_shapes():
    """One step of causal multi-head self-attention per row, with the tensor's shape."""
    rows = [
        ("x = LayerNorm(resid)", "[batch, seq, d_model]", _COLOURS["stream"]),
        ("q, k, v = x @ W_Q, W_K, W_V (GPT-2: one c_attn)", "each [batch, seq, n_heads, d_head]", _COLOURS["attn"]),
        ("scores = q . k / sqrt(d_head)", "[batch, n_heads, q_pos, k_pos]", _COLOURS["attn"]),
        ("mask k_pos > q_pos with -inf", "[batch, n_heads, q_pos, k_pos]", _COLOURS["corrupt"]),
        ("pattern = softmax over k_pos", "[batch, n_heads, q_pos, k_pos], rows sum to 1", _COLOURS["attn"]),
        ("z = pattern @ v", "[batch, seq, n_heads, d_head]", _COLOURS["attn"]),
        ("out = concat(z) @ W_O (2.1: proj)", "[batch, seq, d_model], added to resid", _COLOURS["stream"]),
    ]
    fig, ax = _canvas(8.0, 0.85 * len(rows) + 0.4, "Attention, one shape per step")
    for i, (step, shape, colour) in enumerate(rows):
        y = 0.85 * (len(rows) - i) - 0.25
        _box(ax, 2.4, y, 4.2, 0.5, step, colour, 8)
        ax.text(4.8, y, shape, va="center", fontsize=8, family="monospace")
        if i:
            _arrow(ax, (2.4, y + 0.6), (2.4, y + 0.27))
    return fig


def patching(clean: str = "When John and Mary went ..., John gave it to",
             corrupted: str = "When John and Mary went ..., Mary gave it to"):
    """Activation patching: run corrupted, but with one activation taken from the clean run.

    ``clean`` and ``corrupted`` are the two prompts shown (IOI-style by default, as in 3.3).
    """
    fig, ax = _canvas(8.5, 3.6, "Activation patching: clean -> corrupted, one activation at a time")
    for y, label, colour, prompt in ((2.8, "clean run", _COLOURS["clean"], clean),
                                     (1.0, "corrupted run", _COLOURS["corrupt"], corrupted)):
        ax.text(0.1, y + 0.45 if y > 2 else y - 0.55, f"{label}: \"{prompt}\"", fontsize=8, color=colour)
        for j, name in enumerate(("embed", "layer 0", "layer 1", "layer 2", "logits")):
            _box(ax, 0.8 + 1.7 * j, y, 1.2, 0.45, name, colour, 8)
            if j:
                _arrow(ax, (0.8 + 1.7 * j - 1.05, y), (0.8 + 1.7 * j - 0.62, y), colour)
    _arrow(ax, (4.2, 2.55), (4.2, 1.27), _COLOURS["clean"], text="cache the clean activation,\nwrite it in here",
           dashed=True)
    ax.set_ylim(-0.6, 3.6)
    ax.text(8.4, -0.35, "metric: logit difference (correct - wrong),\n0 = corrupted baseline, 1 = clean",
            fontsize=8, ha="right", color=_COLOURS["note"])
    return fig


def induction_circuit():
    """The two-head induction circuit on ``... A B ... A -> B``."""
    fig, ax = _canvas(8.5, 4.2, "An induction circuit: previous-token head, then K-composition")
    tokens = ["...", "A", "B", "...", "A", "?"]
    xs = [0.7 + 1.35 * i for i in range(len(tokens))]
    for x, tok in zip(xs, tokens):
        ax.text(x, 0.3, tok, ha="center", fontsize=12, family="monospace")
        ax.plot([x, x], [0.6, 3.6], color=_COLOURS["stream"], alpha=0.3, linewidth=4)
    _box(ax, xs[2], 1.5, 1.3, 0.5, "layer 0:\nprev-token head", _COLOURS["attn"], 7)
    _arrow(ax, (xs[1], 0.8), (xs[2] - 0.4, 1.35), _COLOURS["attn"], text=None)
    ax.text(xs[2] + 0.75, 1.6, "writes \"the token before\nme was A\" into B's stream",
            fontsize=7, color=_COLOURS["note"], va="center")
    _box(ax, xs[4], 3.0, 1.3, 0.5, "layer 1:\ninduction head", _COLOURS["mlp"], 7)
    _arrow(ax, (xs[2] + 0.1, 1.8), (xs[4] - 0.6, 2.9), _COLOURS["mlp"], dashed=True, rad=-0.15)
    ax.text(xs[2] - 0.6, 2.75, "query \"A\" matches key\n\"preceded by A\":\nK-composition", fontsize=7,
            color=_COLOURS["mlp"], va="center", ha="right")
    _arrow(ax, (xs[4] + 0.65, 3.0), (xs[5], 3.4), _COLOURS["mlp"], text="copies B (OV)")
    return fig


def sparse_autoencoder():
    """A sparse autoencoder on a model activation, and its loss."""
    fig, ax = _canvas(8.5, 3.0, "A sparse autoencoder: many latents, few active at once")
    _box(ax, 0.8, 1.5, 1.1, 0.6, "x\n[d_model]", _COLOURS["stream"], 8)
    _box(ax, 2.7, 1.5, 1.6, 0.6, "ReLU((x - b_dec) W_enc\n+ b_enc)", _COLOURS["attn"], 7)
    _box(ax, 4.8, 1.5, 1.4, 1.6, "f\n[d_sae]\nmostly 0", _COLOURS["mlp"], 8)
    _box(ax, 6.8, 1.5, 1.4, 0.6, "x_hat = f W_dec\n+ b_dec", _COLOURS["attn"], 7)
    for a, b in ((1.35, 1.9), (3.5, 4.1), (5.5, 6.1)):
        _arrow(ax, (a, 1.5), (b, 1.5))
    ax.text(4.25, 0.2, "loss = ||x - x_hat||^2 (reconstruction) + lambda * ||f||_1 (sparsity)",
            ha="center", fontsize=8, color=_COLOURS["note"])
    ax.text(4.8, 2.55, "d_sae > d_model: each latent one direction (a decoder column)",
            ha="center", fontsize=7, color=_COLOURS["note"])
    return fig
