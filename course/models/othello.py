"""Othello on a 6x6 board, and a small GPT that learns to play legal moves from transcripts (lesson 4.4).

    python -m course.models.train othello-gpt        # ships checkpoints/othello_gpt.pt
    bootcamp reproduce othello-gpt                   # retrains and compares the metrics

After Li et al. (2023, "Emergent World Representations") and Nanda et al. (2023, "Emergent
Linear Representations in World Models of Self-Supervised Sequence Models"): a GPT sees only
the sequence of moves of random legal games, is trained to predict the next move, and so
learns which moves are legal; the lesson then asks whether it represents the board.

**The game engine** (numpy, no torch) plays many games at once on bitboards: a board is two
36-bit integers (the black and the white stones, bit ``6 * row + col``), a direction is a
shift with a mask that stops it wrapping round an edge. Black moves first; the four centre
squares start filled, so 32 squares can be played and a game has at most 32 moves. A player
with no legal move passes; the game ends when neither can move. :func:`random_games` keeps
only games **without a pass**, so the player to move after ``t`` moves is black when ``t`` is
even: the "mine / theirs" labels of the lesson follow from the move number alone.

Why 6x6: the paper's 8x8 needs millions of games and hours of GPU training; 6x6 games are
at most 32 moves. The shipped model (d_model 64, 4 layers, 0.2M parameters, 12,000 steps of
64 games drawn from 250,000, about 12 minutes of CPU time on one thread) plays a legal top-1
move 95.6% of the time (the first version, 3,000 steps, 91.6%). It is still undertrained by the
papers' standard: linear probes read its board better in mine/theirs than in black/white (0.865
vs 0.753 at the best layer, all squares), and an edit along a probe that fills an empty square
removes that move from its predictions, but its board is far from perfectly linear, and
colour-flip edits did not work on the 3,000-step model (not tried again on this one).

**The model** is a pre-LayerNorm GPT (nanoGPT-style, written out here so that every
residual stream is one call away): tokens are the squares 0..35 and ``BOS`` (36); position 0
is ``BOS``, position t (1..32) is the t-th move, and the logits at position t predict move
t + 1 over the 36 squares. :meth:`OthelloGPT.residuals` returns the residual stream before
the first block and after every block; :meth:`OthelloGPT.forward_from` runs the rest of the
model from an (edited) residual stream: that is all an intervention needs.

Shapes in comments: B batch (games), T positions, D d_model, S = 36 squares.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SIZE = 6
SQUARES = SIZE * SIZE
MAX_MOVES = SQUARES - 4  # 32 playable squares
BOS = SQUARES  # token 36 starts every game
EMPTY, BLACK, WHITE = 0, 1, 2
FULL = (1 << SQUARES) - 1
_COL0 = sum(1 << (r * SIZE) for r in range(SIZE))
_COL5 = _COL0 << (SIZE - 1)
# (shift, mask of squares a shifted stone may land on): right, left, down, up and the diagonals
_DIRS = [
    (1, FULL & ~_COL0), (-1, FULL & ~_COL5), (SIZE, FULL), (-SIZE, FULL),
    (SIZE + 1, FULL & ~_COL0), (SIZE - 1, FULL & ~_COL5), (-SIZE + 1, FULL & ~_COL0), (-SIZE - 1, FULL & ~_COL5),
]


def square_name(sq: int) -> str:
    """0 -> 'A1', 7 -> 'B2': a row letter, then a column number (as the lesson's plots label them)."""
    return f"{'ABCDEF'[sq // SIZE]}{sq % SIZE + 1}"


def start_bitboards() -> tuple[int, int]:
    """(black, white) at the start: black on C4 and D3, white on C3 and D4 (the centre squares)."""
    c = SIZE // 2
    black = (1 << ((c - 1) * SIZE + c)) | (1 << (c * SIZE + c - 1))
    white = (1 << ((c - 1) * SIZE + c - 1)) | (1 << (c * SIZE + c))
    return black, white


def _shift(x, s: int, mask: int):
    return ((x << s) if s > 0 else (x >> -s)) & mask


def legal_bitboard(me, them):
    """The squares ``me`` may play (a bitboard), for int or uint64-array bitboards alike."""
    empty = ~(me | them) & FULL
    moves = me & 0
    for s, m in _DIRS:
        t = _shift(me, s, m) & them
        for _ in range(SIZE - 3):
            t = t | (_shift(t, s, m) & them)
        moves = moves | (_shift(t, s, m) & empty)
    return moves


def flips_bitboard(me, them, move):
    """The stones of ``them`` that playing the one-stone bitboard ``move`` turns over."""
    flips = me & 0
    for s, m in _DIRS:
        run = _shift(move, s, m) & them
        for _ in range(SIZE - 3):
            run = run | (_shift(run, s, m) & them)
        closed = (_shift(run, s, m) & me) != 0
        flips = flips | (run * closed if not isinstance(closed, bool) else (run if closed else 0))
    return flips


def _bits(x: np.ndarray) -> np.ndarray:
    """(...,) uint64 bitboards -> (..., 36) bool."""
    return ((x[..., None] >> np.arange(SQUARES, dtype=np.uint64)) & np.uint64(1)).astype(bool)


def random_games(n: int, seed: int = 0) -> np.ndarray:
    """(n, 32) int64 move sequences of random legal games without a pass, padded with -1.

    All games are played at once: each move is uniform over the legal moves of the player to
    move. Games in which a player must pass before the end are dropped and more are played
    until there are ``n``; so a game stops only when the player to move has no legal move
    (the board is full, or one colour is gone, or nobody can move).
    """
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    total = 0
    while total < n:
        batch = max(2 * (n - total), 256)
        b0, w0 = start_bitboards()
        black = np.full(batch, b0, dtype=np.uint64)
        white = np.full(batch, w0, dtype=np.uint64)
        moves = np.full((batch, MAX_MOVES), -1, dtype=np.int64)
        alive = np.ones(batch, dtype=bool)  # still playing
        passed = np.zeros(batch, dtype=bool)  # some player had to pass while the other could move
        for t in range(MAX_MOVES):
            me, them = (black, white) if t % 2 == 0 else (white, black)
            legal = _bits(legal_bitboard(me, them))  # (batch, 36)
            stuck = ~legal.any(-1) & alive
            # stuck now, but the other player could move: that would be a pass
            passed |= stuck & (legal_bitboard(them, me) != 0)
            alive &= ~stuck
            choice = np.argmax(rng.random(legal.shape) * legal, axis=-1)
            moves[alive, t] = choice[alive]
            bit = np.where(alive, np.left_shift(np.uint64(1), choice.astype(np.uint64)), np.uint64(0))
            flips = flips_bitboard(me, them, bit)
            me, them = me | bit | flips, them & ~flips
            black, white = (me, them) if t % 2 == 0 else (them, me)
        keep = moves[~passed]
        out.append(keep)
        total += len(keep)
    return np.concatenate(out)[:n]


def board_states(games: np.ndarray) -> np.ndarray:
    """(N, 32) move sequences -> (N, 33, 36) int8 boards in EMPTY/BLACK/WHITE.

    ``states[:, t]`` is the board after ``t`` moves (t = 0 is the start); after a game ends
    the board stays as it was. The games must have no pass (black plays the even moves).
    """
    n = len(games)
    b0, w0 = start_bitboards()
    black = np.full(n, b0, dtype=np.uint64)
    white = np.full(n, w0, dtype=np.uint64)
    states = np.zeros((n, MAX_MOVES + 1, SQUARES), dtype=np.int8)
    for t in range(MAX_MOVES + 1):
        states[:, t] = _bits(black) * BLACK + _bits(white) * WHITE
        if t == MAX_MOVES:
            break
        played = games[:, t] >= 0
        bit = np.where(played, np.left_shift(np.uint64(1), np.maximum(games[:, t], 0).astype(np.uint64)), np.uint64(0))
        me, them = (black, white) if t % 2 == 0 else (white, black)
        flips = flips_bitboard(me, them, bit)
        me, them = me | bit | flips, them & ~flips
        black, white = (me, them) if t % 2 == 0 else (them, me)
    return states


def legal_move_masks(states: np.ndarray) -> np.ndarray:
    """(..., 33, 36) boards (no pass: black to move at even t) -> (..., 33, 36) bool legal moves."""
    black = (states == BLACK)
    white = (states == WHITE)
    weights = np.left_shift(np.uint64(1), np.arange(SQUARES, dtype=np.uint64))
    b = (black * weights).sum(-1, dtype=np.uint64)
    w = (white * weights).sum(-1, dtype=np.uint64)
    t = np.arange(states.shape[-2])
    black_to_move = (t % 2 == 0)
    me = np.where(black_to_move, b, w)
    them = np.where(black_to_move, w, b)
    return _bits(legal_bitboard(me, them))


def tokens_of(games: np.ndarray) -> torch.Tensor:
    """(N, 32) moves padded with -1 -> (N, 33) int64 tokens: BOS, then the moves (padding -> BOS)."""
    moves = torch.as_tensor(games, dtype=torch.long)
    tokens = torch.cat([torch.full((len(moves), 1), BOS, dtype=torch.long), moves], dim=1)
    return tokens.masked_fill(tokens < 0, BOS)


def game_lengths(games: np.ndarray) -> np.ndarray:
    return (np.asarray(games) >= 0).sum(-1)


# --------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class OthelloConfig:
    d_vocab: int = SQUARES + 1  # 36 squares and BOS
    d_out: int = SQUARES  # logits over the squares
    n_ctx: int = MAX_MOVES + 1  # BOS + 32 moves
    d_model: int = 64
    n_layers: int = 4
    n_heads: int = 4
    d_mlp: int = 256
    init_std: float = 0.02

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class OthelloTrainConfig:
    n_games: int = 250_000  # random legal games, seed `seed`
    n_eval_games: int = 2000  # held-out games, seed `seed + 1`
    steps: int = 12000
    batch_size: int = 64
    lr: float = 3e-3
    warmup: int = 100
    weight_decay: float = 0.01
    seed: int = 0
    threads: int = 1  # one thread: the same numbers on any number of cores
    eval_every: int = 500

    def to_dict(self) -> dict:
        return asdict(self)


class Block(nn.Module):
    """A pre-LayerNorm transformer block: x + attn(ln(x)), then + mlp(ln(x))."""

    def __init__(self, cfg: OthelloConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_mlp), nn.GELU(), nn.Linear(cfg.d_mlp, cfg.d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        z = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, Dh)
        x = x + self.proj(z.transpose(1, 2).reshape(B, T, D))
        return x + self.mlp(self.ln2(x))


class OthelloGPT(nn.Module):
    def __init__(self, cfg: OthelloConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.d_vocab, cfg.d_model)
        self.pos = nn.Parameter(torch.zeros(cfg.n_ctx, cfg.d_model))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.unembed = nn.Linear(cfg.d_model, cfg.d_out)
        for name, p in self.named_parameters():
            if p.dim() >= 2 or name == "pos":
                nn.init.normal_(p, std=cfg.init_std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def residuals(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) tokens -> (n_layers + 1, B, T, D): the residual stream before block 0, and after each block."""
        T = tokens.shape[-1]
        if T > self.cfg.n_ctx:
            raise ValueError(f"{T} tokens is more than n_ctx={self.cfg.n_ctx}")
        x = self.embed(tokens) + self.pos[:T]
        out = [x]
        for block in self.blocks:
            x = block(x)
            out.append(x)
        return torch.stack(out)

    def forward_from(self, layer: int, resid: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, 36) from the residual stream after ``layer`` blocks (``residuals(...)[layer]``)."""
        x = resid
        for block in self.blocks[layer:]:
            x = block(x)
        return self.unembed(self.ln_f(x))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) int64 tokens -> (B, T, 36) logits; position t predicts move t + 1."""
        T = tokens.shape[-1]
        x = self.embed(tokens) + self.pos[:T]
        return self.forward_from(0, x)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


# --------------------------------------------------------------------------- measurements
def targets_of(games: np.ndarray) -> torch.Tensor:
    """(N, 32) moves -> (N, 33) targets: position t predicts move t + 1; -100 (ignored) past the end."""
    moves = torch.as_tensor(games, dtype=torch.long).masked_fill(torch.as_tensor(games) < 0, -100)
    return torch.cat([moves, torch.full((len(moves), 1), -100, dtype=torch.long)], dim=1)


@torch.no_grad()
def evaluate(model: OthelloGPT, games: np.ndarray, legal: np.ndarray | None = None, batch: int = 500) -> dict:
    """Next-move loss, and how often the top-1 prediction is legal, over every position with a next move."""
    was_training = model.training
    model.eval()
    legal = legal_move_masks(board_states(games)) if legal is None else legal
    tokens, targets = tokens_of(games), targets_of(games)
    loss_sum, n, hits = 0.0, 0, 0
    for i in range(0, len(games), batch):
        logits = model(tokens[i:i + batch])
        tg = targets[i:i + batch]
        valid = tg >= 0
        loss_sum += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tg.reshape(-1), ignore_index=-100,
                                    reduction="sum").item()
        n += int(valid.sum())
        top = logits.argmax(-1)  # (b, 33)
        ok = torch.as_tensor(legal[i:i + batch]).gather(-1, top[..., None])[..., 0]
        hits += int((ok & valid).sum())
    model.train(was_training)
    return {"loss": loss_sum / n, "legal_top1": hits / n}


def fp16_roundtrip(model: OthelloGPT) -> OthelloGPT:
    copy = OthelloGPT(model.cfg)
    copy.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    return copy.eval()


# --------------------------------------------------------------------------- training
def lr_at(step: int, tc: OthelloTrainConfig) -> float:
    """Linear warm-up, then cosine decay to a tenth."""
    if step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup
    progress = (step - tc.warmup) / max(1, tc.steps - tc.warmup)
    return tc.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))


def train(cfg: OthelloConfig, tc: OthelloTrainConfig, progress: bool = True,
          desc: str = "training") -> tuple[OthelloGPT, dict]:
    """Train a fresh model on ``tc.n_games`` random games; return it and the curve of the run."""
    games = random_games(tc.n_games, tc.seed)
    evals = random_games(tc.n_eval_games, tc.seed + 1)
    eval_legal = legal_move_masks(board_states(evals))
    tokens, targets = tokens_of(games), targets_of(games)
    torch.manual_seed(tc.seed)
    model = OthelloGPT(cfg)
    gen = torch.Generator().manual_seed(tc.seed + 2)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=tc.lr, betas=(0.9, 0.98))
    curve: dict[str, list] = {"step": [], "train_loss": [], "eval_loss": [], "legal_top1": []}

    def record(step: int, recent: list[float]) -> None:
        ev = evaluate(model, evals, eval_legal)
        curve["step"].append(step)
        curve["train_loss"].append(round(sum(recent) / len(recent), 4) if recent else None)
        curve["eval_loss"].append(round(ev["loss"], 4))
        curve["legal_top1"].append(round(ev["legal_top1"], 4))

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
                steps.set_postfix(legal_top1=f"{curve['legal_top1'][-1]:.3f}")
        idx = torch.randint(0, len(tokens), (tc.batch_size,), generator=gen)
        logits = model(tokens[idx])
        loss = F.cross_entropy(logits.reshape(-1, cfg.d_out), targets[idx].reshape(-1), ignore_index=-100)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, tc)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        recent.append(loss.item())
    record(tc.steps, recent)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return model.eval(), {"curve": curve, "seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1)}


# --------------------------------------------------------------------------- probes (the lesson's references)
def relative_states(states: np.ndarray) -> np.ndarray:
    """(N, 33, 36) EMPTY/BLACK/WHITE boards -> EMPTY/MINE/THEIRS (0/1/2), "mine" = the player to move.

    After t moves the player to move is black when t is even (the games have no pass).
    """
    states = np.asarray(states)
    white_to_move = (np.arange(states.shape[-2]) % 2 == 1)[:, None]
    mine = np.where(white_to_move, WHITE, BLACK)
    return np.where(states == EMPTY, EMPTY, np.where(states == mine, 1, 2)).astype(np.int8)


def probe_dataset(resid: torch.Tensor, labels: np.ndarray, lengths: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 33, D) residuals and (N, 33, 36) labels -> X (n, D), Y (n, 36) int64, for positions t <= length."""
    valid = torch.as_tensor(np.arange(resid.shape[1])[None, :] <= np.asarray(lengths)[:, None])
    return resid[valid], torch.as_tensor(np.asarray(labels))[valid].long()


def train_probe(X: torch.Tensor, Y: torch.Tensor, steps: int = 100,
                lr: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """A linear probe per square: W (D, 36, 3), b (36, 3), full-batch Adam from zeros on the cross-entropy."""
    W = torch.zeros(X.shape[1], Y.shape[1], 3, requires_grad=True)
    b = torch.zeros(Y.shape[1], 3, requires_grad=True)
    opt = torch.optim.Adam([W, b], lr=lr)
    # one scalar for the whole layer (so the probe stays linear in the residual stream): Adam's
    # steps then mean the same on every layer, whose residual norms differ several-fold
    scale = X.detach().pow(2).mean().sqrt()
    X = X.detach() / scale
    for _ in range(steps):
        logits = torch.einsum("nd,dsc->nsc", X, W) + b
        loss = F.cross_entropy(logits.reshape(-1, 3), Y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return W.detach() / scale, b.detach()


def probe_accuracy(W: torch.Tensor, b: torch.Tensor, X: torch.Tensor, Y: torch.Tensor) -> float:
    with torch.no_grad():
        return ((torch.einsum("nd,dsc->nsc", X, W) + b).argmax(-1) == Y).float().mean().item()


@torch.no_grad()
def probe_report(model: OthelloGPT, n_games: int = 500, seed: int = 3, steps: int = 100) -> dict:
    """Linear-probe test accuracy per layer in both bases, trained on 80% of ``n_games`` fresh games."""
    games = random_games(n_games, seed)
    states, lengths = board_states(games), game_lengths(games)
    resid = model.residuals(tokens_of(games))  # (L + 1, N, 33, D)
    split = int(0.8 * n_games)
    report = {}
    for basis, labels in (("black_white", states), ("mine_theirs", relative_states(states))):
        accs = []
        for layer in range(resid.shape[0]):
            Xtr, Ytr = probe_dataset(resid[layer, :split], labels[:split], lengths[:split])
            Xte, Yte = probe_dataset(resid[layer, split:], labels[split:], lengths[split:])
            with torch.enable_grad():
                W, b = train_probe(Xtr, Ytr, steps=steps)
            accs.append(round(probe_accuracy(W, b, Xte, Yte), 4))
        report[basis] = accs
    return report


def metrics_of(model: OthelloGPT, tc: OthelloTrainConfig) -> tuple[dict, dict]:
    """The headline numbers of a trained model, measured on its float16 weights (what ships)."""
    shipped = fp16_roundtrip(model)
    ev = evaluate(shipped, random_games(tc.n_eval_games, tc.seed + 1))
    probes = probe_report(shipped)
    metrics = {
        "eval_loss": round(ev["loss"], 4),
        "legal_top1": round(ev["legal_top1"], 4),
        "probe_black_white_best": max(probes["black_white"]),
        "probe_mine_theirs_best": max(probes["mine_theirs"]),
    }
    return metrics, probes


def metrics(model: OthelloGPT, tc: OthelloTrainConfig) -> dict:
    """The sidecar's metrics measured again on ``model`` (no training): ``bootcamp new-project``'s headline."""
    return metrics_of(model, tc)[0]


def run_spec(spec, out_dir: Path | None = None, steps: int | None = None, progress: bool = True) -> dict:
    """Train ``spec`` from scratch, save the float16 checkpoint and its JSON sidecar; return the sidecar."""
    from .registry import CHECKPOINT_DIR

    tc = spec.train if steps is None else replace(spec.train, steps=steps)
    threads = torch.get_num_threads()
    torch.set_num_threads(tc.threads)
    try:
        model, record = train(spec.config, tc, progress=progress)
        metrics, probes = metrics_of(model, tc)
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
        "metrics": metrics,
        "probe_accuracy_per_layer": probes,
        "seconds": record["seconds"],
        "cpu_seconds": record["cpu_seconds"],
        "curve": record["curve"],
    }
    path.with_suffix(".json").write_text(json.dumps(sidecar, separators=(",", ":")) + "\n")
    return sidecar


def specs() -> list:
    """The Othello family's shipped models (see :func:`course.models.registry.family_modules`)."""
    from .registry import ModelSpec

    return [
        ModelSpec(
            name="othello-gpt",
            family="othello",
            config=OthelloConfig(),
            train=OthelloTrainConfig(),
            checkpoint="othello_gpt.pt",
            lesson="4.4",
            description="4-layer GPT trained on random 6x6 Othello games to predict legal moves; linear "
                        "probes read its board better as mine/theirs than as black/white",
            tolerances={"eval_loss": 0.05, "legal_top1": 0.03, "probe_black_white_best": 0.05,
                        "probe_mine_theirs_best": 0.03},
        ),
    ]


def load_model(spec, dtype=None) -> OthelloGPT:
    """The shipped checkpoint of ``spec`` as a float32 (or ``dtype``) model in eval mode."""
    model = OthelloGPT(spec.config)
    state = torch.load(spec.path, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.to(dtype or torch.float32) for k, v in state.items()})
    if dtype is not None:
        model.to(dtype)
    return model.eval()
