"""A two-layer attention-only transformer that learns induction heads (lesson 3.2).

    python -m course.models.train induction-2l          # ships checkpoints/induction_2l.pt
    bootcamp reproduce induction-2l                     # retrains and compares the metrics

The model is the one Elhage et al. (2021, "A Mathematical Framework for Transformer
Circuits") and Olsson et al. (2022, "In-context Learning and Induction Heads") study:
token and position embeddings, two layers of attention with nothing else (no MLP, no
LayerNorm, no biases), an unembedding. Every weight is a plain tensor named as in
TransformerLens (``W_E``, ``W_pos``, ``blocks.0.W_Q`` ...), one row per head, so that the
circuits of the lesson are products of these tensors and nothing else::

    x0 = W_E[tokens] + W_pos                      # the residual stream, (B, T, D)
    x1 = x0 + sum_h  A^{0,h} x0 W_V^{0,h} W_O^{0,h}
    x2 = x1 + sum_h  A^{1,h} x1 W_V^{1,h} W_O^{1,h}
    logits = x2 W_U

What makes induction heads appear in about a minute on a CPU (measured, see the
curriculum's table):

- **Periodic training data with a random period.** Each training row is a random block of
  ``period`` tokens (``period`` uniform in [8, 32]) tiled to 64 tokens. To predict a token
  after the first period, a model must find where the current token occurred before and
  copy what followed it: an induction head. With *fixed-length* "random tokens repeated
  twice" data, the repeat is always exactly L positions back, so a single layer-0 head can
  attend L - 1 positions back by position alone: the loss falls, but through that
  positional shortcut, and no induction head forms.
- **A small initialisation** (TransformerLens's N(0, 0.8 / sqrt(d_model)), ``W_O`` at half
  of that) and **no LayerNorm**. Torch's default init or a LayerNorm delay the phase
  change or prevent it within the budget.

Shapes in comments: B batch, T positions, D d_model, H heads, Dh d_head, V vocabulary.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

BOS = 0  # the beginning-of-sequence token that starts every row


@dataclass(frozen=True)
class AttnOnlyConfig:
    d_vocab: int = 64  # token 0 is BOS; random tokens are drawn from 1 .. d_vocab - 1
    n_ctx: int = 65  # BOS + 64 tokens
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_head: int = 16
    # TransformerLens's init for attention-only models: N(0, 0.8 / sqrt(d_model)) for every
    # weight; W_O at half that, so the heads' first writes into the residual stream are small.
    init_scale: float = 0.8
    w_o_scale: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class InductionTrainConfig:
    steps: int = 1500
    batch_size: int = 64
    lr: float = 3e-3  # constant: AdamW, no warm-up, no schedule, no weight decay
    weight_decay: float = 0.0
    seq_len: int = 64  # tokens per training row after BOS
    min_period: int = 8
    max_period: int = 32
    seed: int = 0
    threads: int = 1  # one thread: the same numbers on any number of cores
    eval_every: int = 25
    eval_batch: int = 128  # fixed "repeated twice" sequences, seed + 2
    eval_seq_len: int = 32  # each: BOS + 32 random tokens + the same 32 again

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- the model
class Attention(nn.Module):
    """Causal multi-head attention with per-head weight tensors and no biases."""

    def __init__(self, cfg: AttnOnlyConfig):
        super().__init__()
        H, D, Dh = cfg.n_heads, cfg.d_model, cfg.d_head
        self.d_head = Dh
        self.W_Q = nn.Parameter(torch.empty(H, D, Dh))
        self.W_K = nn.Parameter(torch.empty(H, D, Dh))
        self.W_V = nn.Parameter(torch.empty(H, D, Dh))
        self.W_O = nn.Parameter(torch.empty(H, Dh, D))
        mask = torch.triu(torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)  # True = a future position

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, D) -> the heads' summed output (B, T, D) and the pattern (B, H, T, T)."""
        T = x.shape[1]
        # 1/sqrt(d_head) applied to the queries: the same scores as dividing the (T, T)
        # scores, on a tensor T/Dh times smaller
        q = torch.einsum("btd,hde->bhte", x, self.W_Q / math.sqrt(self.d_head))  # (B, H, T, Dh)
        k = torch.einsum("btd,hde->bhte", x, self.W_K)
        v = torch.einsum("btd,hde->bhte", x, self.W_V)
        scores = (q @ k.transpose(-2, -1)).masked_fill(self.mask[:T, :T], float("-inf"))  # (B, H, Tq, Tk)
        pattern = scores.softmax(dim=-1)
        z = pattern @ v  # (B, H, T, Dh): each head's weighted sum of values
        out = torch.einsum("bhte,hed->btd", z, self.W_O)  # every head writes into the residual stream
        return out, pattern


class AttnOnlyTransformer(nn.Module):
    def __init__(self, cfg: AttnOnlyConfig):
        super().__init__()
        self.cfg = cfg
        self.W_E = nn.Parameter(torch.empty(cfg.d_vocab, cfg.d_model))
        self.W_pos = nn.Parameter(torch.empty(cfg.n_ctx, cfg.d_model))
        self.blocks = nn.ModuleList(Attention(cfg) for _ in range(cfg.n_layers))
        self.W_U = nn.Parameter(torch.empty(cfg.d_model, cfg.d_vocab))
        std = cfg.init_scale / math.sqrt(cfg.d_model)
        for name, p in self.named_parameters():
            nn.init.normal_(p, std=std * (cfg.w_o_scale if name.endswith("W_O") else 1.0))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) int64 tokens, T <= n_ctx -> (B, T, V) logits."""
        return self.run_with_patterns(tokens)[0]

    def run_with_patterns(self, tokens: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The logits and every layer's attention pattern (B, H, Tq, Tk), layer 0 first."""
        T = tokens.shape[-1]
        if T > self.cfg.n_ctx:
            raise ValueError(f"{T} tokens is more than n_ctx={self.cfg.n_ctx}")
        x = self.W_E[tokens] + self.W_pos[:T]
        patterns = []
        for block in self.blocks:
            out, pattern = block(x)
            x = x + out
            patterns.append(pattern)
        return x @ self.W_U, patterns

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


# --------------------------------------------------------------------------- data
def repeated_tokens(batch: int, seq_len: int, d_vocab: int = 64,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """(batch, 1 + 2 * seq_len) int64: BOS, ``seq_len`` random tokens, the same tokens again.

    The random tokens are ``torch.randint(1, d_vocab, (batch, seq_len), generator=generator)``.
    """
    first = torch.randint(1, d_vocab, (batch, seq_len), generator=generator)
    bos_col = torch.full((batch, 1), BOS, dtype=torch.long)
    return torch.cat([bos_col, first, first], dim=1)


def periodic_tokens(batch: int, seq_len: int, d_vocab: int = 64, min_period: int = 8, max_period: int = 32,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """(batch, 1 + seq_len) int64: BOS, then a random block of period p tiled to ``seq_len``.

    Each row draws its own period p uniformly from [min_period, max_period], then p random
    tokens from 1 .. d_vocab - 1, and repeats them: row[1 + i] = block[i % p].
    """
    periods = torch.randint(min_period, max_period + 1, (batch, 1), generator=generator)
    blocks = torch.randint(1, d_vocab, (batch, max_period), generator=generator)
    index = torch.arange(seq_len)[None, :] % periods  # (batch, seq_len): position within the block
    body = blocks.gather(1, index)
    return torch.cat([torch.full((batch, 1), BOS, dtype=torch.long), body], dim=1)


def text_tokens(batch: int, seq_len: int, d_vocab: int = 64, generator: torch.Generator | None = None) -> torch.Tensor:
    """(batch, 1 + seq_len) int64: BOS, then a window of Python source from the held-out stdlib files.

    Natural text in the model's vocabulary: the ``d_vocab - 2`` most common bytes of the stdlib
    corpus's training split become tokens 1 .. d_vocab - 2 (most common first), every other byte
    token ``d_vocab - 1``. The windows start at ``torch.randint`` offsets of the validation split
    (:func:`course.data.stdlib_corpus`), so the corpus of the running Python decides the text.
    """
    from course.data import stdlib_corpus

    corpus = stdlib_corpus()
    train = torch.from_numpy(corpus.tokens("train").astype("int64"))
    order = torch.bincount(train, minlength=256).argsort(descending=True, stable=True)
    lut = torch.full((256,), d_vocab - 1, dtype=torch.long)
    lut[order[: d_vocab - 2]] = torch.arange(1, d_vocab - 1)
    val = lut[torch.from_numpy(corpus.tokens("val").astype("int64"))]
    starts = torch.randint(0, len(val) - seq_len, (batch,), generator=generator)
    body = val[starts[:, None] + torch.arange(seq_len)[None, :]]
    return torch.cat([torch.full((batch, 1), BOS, dtype=torch.long), body], dim=1)


# --------------------------------------------------------------------------- measurements
def per_token_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """(B, T, V) logits, (B, T) tokens -> (B, T - 1) cross-entropy of predicting tokens[:, 1:]."""
    logprobs = logits[:, :-1].log_softmax(dim=-1)
    return -logprobs.gather(-1, tokens[:, 1:, None])[..., 0]


def head_scores(patterns: list[torch.Tensor], seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Previous-token and induction scores, each (n_layers, n_heads), on BOS + 2 x seq_len tokens.

    prev-token: mean attention from position i to i - 1 (i >= 1).
    induction: mean attention from a token of the repeated half (positions seq_len + 1 ..
    2 seq_len) to the token just after its first occurrence (offset seq_len - 1 back).
    """
    pattern = torch.stack(patterns)  # (L, B, H, T, T)
    prev = pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(1, -1))
    ind = pattern.diagonal(offset=-(seq_len - 1), dim1=-2, dim2=-1)[..., 2:].mean(dim=(1, -1))
    # the diagonal at offset -(seq_len - 1) starts at query seq_len - 1; the repeated half's
    # first token is at seq_len + 1, two further along
    return prev, ind


@torch.no_grad()
def ablated_logits(model: AttnOnlyTransformer, tokens: torch.Tensor, heads: list[tuple[int, int]],
                   positions: list[int] | torch.Tensor | None = None) -> torch.Tensor:
    """The logits with the (layer, head) pairs in ``heads`` zero-ablated: their z (weighted sum of
    values) set to 0 at the query ``positions`` (every position when None). A reference for 3.2's tests."""
    T = tokens.shape[-1]
    x = model.W_E[tokens] + model.W_pos[:T]
    where = slice(None) if positions is None else torch.as_tensor(positions, dtype=torch.long)
    for layer, block in enumerate(model.blocks):
        q = torch.einsum("btd,hde->bhte", x, block.W_Q / math.sqrt(block.d_head))
        k = torch.einsum("btd,hde->bhte", x, block.W_K)
        v = torch.einsum("btd,hde->bhte", x, block.W_V)
        scores = (q @ k.transpose(-2, -1)).masked_fill(block.mask[:T, :T], float("-inf"))
        z = scores.softmax(dim=-1) @ v  # (B, H, T, Dh)
        for ablated_layer, head in heads:
            if ablated_layer == layer:
                z[:, head, where] = 0.0
        x = x + torch.einsum("bhte,hed->btd", z, block.W_O)
    return x @ model.W_U


@torch.no_grad()
def evaluate(model: AttnOnlyTransformer, tokens: torch.Tensor, seq_len: int) -> dict:
    """Loss on each half of repeated sequences, and the head scores."""
    was_training = model.training
    model.eval()
    logits, patterns = model.run_with_patterns(tokens)
    loss = per_token_loss(logits, tokens)  # (B, 2 * seq_len); column j predicts token j + 1
    prev, ind = head_scores(patterns, seq_len)
    model.train(was_training)
    return {
        # predicting tokens 2 .. seq_len (the first is unpredictable after BOS, so it is left out)
        "first_half_loss": loss[:, 1:seq_len].mean().item(),
        # predicting tokens seq_len + 2 .. 2 seq_len: every one of them seen before, after the same token
        "repeated_loss": loss[:, seq_len + 1 :].mean().item(),
        "prev_token_scores": prev,
        "induction_scores": ind,
    }


def eval_tokens(tc: InductionTrainConfig, d_vocab: int) -> torch.Tensor:
    return repeated_tokens(tc.eval_batch, tc.eval_seq_len, d_vocab, torch.Generator().manual_seed(tc.seed + 2))


def fp16_roundtrip(model: AttnOnlyTransformer) -> AttnOnlyTransformer:
    copy = AttnOnlyTransformer(model.cfg)
    copy.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    return copy.eval()


# --------------------------------------------------------------------------- training
def train(cfg: AttnOnlyConfig, tc: InductionTrainConfig, progress: bool = True, desc: str = "training",
          batch_fn=None, on_eval=None) -> tuple[AttnOnlyTransformer, dict]:
    """Train a fresh model on periodic data; return it and the curve of the run.

    The curve has, every ``eval_every`` steps, the loss on both halves of fixed repeated
    sequences and every head's previous-token and induction score; and the training loss
    (mean over each ``eval_every`` steps). Deterministic for a fixed seed on CPU with one thread.
    ``batch_fn(batch_size, seq_len, d_vocab, min_period, max_period, generator)`` replaces
    :func:`periodic_tokens` (the lesson trains with the learner's own). ``on_eval(model, step)``,
    if given, is called (without gradients) at every evaluation, and its return values are kept in
    ``record["snapshots"]``, one per evaluated step (the lesson keeps per-token losses there).
    """
    batch_fn = batch_fn or periodic_tokens
    torch.manual_seed(tc.seed)  # the initial weights
    model = AttnOnlyTransformer(cfg)
    gen = torch.Generator().manual_seed(tc.seed + 1)  # the data order
    evals = eval_tokens(tc, cfg.d_vocab)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    curve: dict[str, list] = {"step": [], "train_loss": [], "first_half_loss": [], "repeated_loss": [],
                              "prev_token_scores": [], "induction_scores": []}
    snapshots: list = []

    def record(step: int, recent: list[float]) -> None:
        ev = evaluate(model, evals, tc.eval_seq_len)
        curve["step"].append(step)
        curve["train_loss"].append(round(sum(recent) / len(recent), 4) if recent else None)
        for key in ("first_half_loss", "repeated_loss"):
            curve[key].append(round(ev[key], 4))
        for key in ("prev_token_scores", "induction_scores"):
            curve[key].append([[round(v, 4) for v in row] for row in ev[key].tolist()])
        if on_eval is not None:
            with torch.no_grad():
                snapshots.append(on_eval(model, step))

    steps = range(tc.steps)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=desc, unit="step")
    recent: list[float] = []
    start, cpu_start = time.perf_counter(), time.process_time()
    for step in steps:
        if step % tc.eval_every == 0:
            record(step, recent)
            recent = []
            if progress:
                steps.set_postfix(repeated_loss=f"{curve['repeated_loss'][-1]:.2f}")
        tokens = batch_fn(tc.batch_size, tc.seq_len, cfg.d_vocab, tc.min_period, tc.max_period, gen)
        logits = model(tokens)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, cfg.d_vocab), tokens[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        recent.append(loss.item())
    record(tc.steps, recent)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    # wall-clock and CPU seconds: on a shared machine the wall clock also counts other processes
    record = {"curve": curve, "seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1)}
    if on_eval is not None:
        record["snapshots"] = snapshots
    return model.eval(), record


@torch.no_grad()
def sample_text(model: AttnOnlyTransformer, seq_len: int = 32, seed: int = 0) -> str:
    """What the model does with one random sequence repeated twice, as a line of text."""
    tokens = repeated_tokens(1, seq_len, model.cfg.d_vocab, torch.Generator().manual_seed(seed))
    predicted = model(tokens)[0, :-1].argmax(-1)
    right = (predicted == tokens[0, 1:])[seq_len + 1 :]  # tokens seq_len + 2 .. 2 seq_len
    first = " ".join(str(t) for t in tokens[0, 1:11].tolist())
    return (f"tokens 1-10 of a random sequence of {seq_len}, then repeated: {first} ...; "
            f"top-1 predictions right on the repeated half: {int(right.sum())}/{right.numel()}")


def phase_change_step(curve: dict, threshold: float = 0.3) -> int:
    """The first evaluated step at which some layer-1 head's induction score passes ``threshold``."""
    for step, scores in zip(curve["step"], curve["induction_scores"]):
        if max(scores[-1]) > threshold:
            return step
    return -1


def metrics_of(model: AttnOnlyTransformer, tc: InductionTrainConfig, curve: dict) -> dict:
    """The headline numbers of a trained model, measured on its float16 weights (what ships)."""
    ev = evaluate(fp16_roundtrip(model), eval_tokens(tc, model.cfg.d_vocab), tc.eval_seq_len)
    return {
        "repeated_loss": round(ev["repeated_loss"], 4),
        "first_half_loss": round(ev["first_half_loss"], 4),
        "max_induction_score": round(ev["induction_scores"][-1].max().item(), 4),
        "max_prev_token_score": round(ev["prev_token_scores"][0].max().item(), 4),
        "phase_change_step": float(phase_change_step(curve)),
    }


def run_spec(spec, out_dir: Path | None = None, steps: int | None = None, progress: bool = True) -> dict:
    """Train ``spec`` from scratch, save the float16 checkpoint and its JSON sidecar; return the sidecar."""
    from .registry import CHECKPOINT_DIR

    tc = spec.train if steps is None else replace(spec.train, steps=steps)
    threads = torch.get_num_threads()
    torch.set_num_threads(tc.threads)
    try:
        model, record = train(spec.config, tc, progress=progress)
    finally:
        torch.set_num_threads(threads)
    path = Path(out_dir or CHECKPOINT_DIR) / spec.checkpoint
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() for k, v in model.state_dict().items()}, path)
    command = f"python -m course.models.train {spec.name}" + (f" --steps {steps}" if steps is not None else "")
    sidecar = {
        "name": spec.name,
        "lesson": spec.lesson,
        "seed": tc.seed,
        "command": command,
        "model_config": spec.config.to_dict(),
        "train_config": tc.to_dict(),
        "n_params": model.n_params(),
        "dtype": "float16",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "metrics": metrics_of(model, tc, record["curve"]),
        "seconds": record["seconds"],
        "cpu_seconds": record["cpu_seconds"],
        "curve": record["curve"],
        "sample": sample_text(fp16_roundtrip(model)),
    }
    path.with_suffix(".json").write_text(json.dumps(sidecar, separators=(",", ":")) + "\n")
    return sidecar


def specs() -> list:
    """The attention-only family's shipped models (see :func:`course.models.registry.family_modules`)."""
    from .registry import ModelSpec

    return [
        ModelSpec(
            name="induction-2l",
            family="attn_only",
            config=AttnOnlyConfig(),
            train=InductionTrainConfig(),
            checkpoint="induction_2l.pt",
            lesson="3.2",
            description="2-layer attention-only transformer (d_model 64, 4 heads) with induction heads, "
                        "trained on periodic random tokens",
            # Chosen from two seeds (0 and 1), whose runs differ by 0.15, 0.055, 0.02, 0.04 and 50
            # steps: a retrain on another machine only differs by float rounding, far less than a seed.
            tolerances={"repeated_loss": 0.15, "first_half_loss": 0.1, "max_induction_score": 0.1,
                        "max_prev_token_score": 0.15, "phase_change_step": 100.0},
        ),
    ]


def load_model(spec, dtype=None) -> AttnOnlyTransformer:
    """The shipped checkpoint of ``spec`` as a float32 (or ``dtype``) model in eval mode."""
    model = AttnOnlyTransformer(spec.config)
    state = torch.load(spec.path, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.to(dtype or torch.float32) for k, v in state.items()})
    if dtype is not None:
        model.to(dtype)
    return model.eval()
