"""True and false comparisons of numbers, and a small GPT that judges them (lesson 4.6, CCS).

    python -m course.models.train truth-gpt        # ships checkpoints/truth_gpt.pt
    bootcamp reproduce truth-gpt                   # retrains and compares the metrics

Lesson 4.6 asks, after Burns et al. (2023, "Discovering Latent Knowledge in Language Models
Without Supervision"), whether a direction in a model's activations that tracks *truth* can be
found without labels. That needs a model whose residual stream represents truth; this module
trains one, on a task where truth is computed, not read off a token.

**The statements** compare two numbers ``0..15``, written as 6 tokens::

    BOS  a  REL  b  TAG  ANS          e.g.  <bos> 3 < 9 <tag1> True
             <       tag0  True                  <bos> 3 > 9 <tag0> False
             >       tag1  False

``a != b``; ``ANS`` is ``True`` when ``a REL b`` holds. ``TAG`` is one of two arbitrary tokens
drawn at random, independent of everything else: the model learns to ignore it, and the lesson
uses it as the salient non-truth feature of Farquhar et al. (2023). The model is trained to
predict ``ANS`` from the ``TAG`` position (index 4; the loss is the cross-entropy of the answer
token only): that is where the lesson reads the residual stream. The statement space
is small (16 x 15 ordered pairs x 2 relations x 2 tags = 960 sequences) and the model sees
all of it in training: the lesson is about what its activations represent, not about
generalisation.

**Contrast pairs**, as Burns et al. build them from a question and its two answers: for one
pair ``(a, b)``, ``x+`` is ``a < b`` and ``x-`` is ``a > b``. Exactly one of the two is true;
which one is the label ``y = [a < b]`` that the unsupervised method never sees.

**The model** is :class:`course.models.othello.OthelloGPT`'s pre-LayerNorm GPT with another
vocabulary and context (see :func:`model_config`): ``model.residuals(tokens)`` gives the
residual stream before the first block and after each. The sidecar records how often it
answers right, and per layer how well a supervised probe and CCS read truth at the TAG
position.

**What the shipped model shows** (1,000 steps of 128 statements, 19 s of CPU on one thread;
measured by :func:`probe_report` on the 240 held-out rows of :func:`lesson_data`): it answers
all 960 statements right. A logistic probe on ``norm(x+) - norm(x-)`` reads truth at chance
from the embeddings (0.49), partly after block 1 (0.61) and perfectly after blocks 2 and 3.
CCS (10 restarts, lowest loss) matches it at layer 2 (1.0), but at layer 3 it returns a
feature that is not truth (0.5): "truth xor tag", the identity of the answer token, which
also flips between ``x+`` and ``x-``. With opposite tags on the two halves (the distractor),
CCS agrees with the tag, not truth, at every layer. The lesson works at layer 2
(:data:`READ_LAYER`).

Why the answer-format tag: with a tag the model could ignore (same answer tokens after both
tags), a 2-layer version of this model shrank it, and CCS on its distractor pairs found truth,
not the tag, after both blocks (measured while writing the lesson); a tag the model must use to write its
answer is as salient as truth, which is the situation Farquhar et al. describe.
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
import torch.nn.functional as F

from .othello import OthelloConfig, OthelloGPT

P = 16  # numbers 0..15
LT, GT, TAG0, TAG1, TRUE, FALSE, YES, NO, BOS = range(P, P + 9)
VOCAB = P + 9
N_CTX = 6  # BOS a REL b TAG ANS
READ_POS = 4  # the TAG position: its logits predict ANS
READ_LAYER = 2  # the residual stream after block 2: where truth first reads perfectly (the lesson's layer)
TOKEN_NAMES = [str(i) for i in range(P)] + ["<", ">", "<tag0>", "<tag1>", "True", "False", "Yes", "No", "<bos>"]


def decode(tokens) -> str:
    """A row of token ids as text, e.g. '<bos> 3 < 9 <tag0> True'."""
    return " ".join(TOKEN_NAMES[int(t)] for t in tokens)


def statements(a, b, less, tag, answer: bool = True) -> torch.Tensor:
    """(n, 6) int64 token rows ``BOS a REL b TAG ANS`` (without ANS, (n, 5), if ``answer`` is False).

    a, b: ints 0..P-1 (arrays of length n, a != b); less: True for '<', False for '>'; tag: 0 or 1.
    ANS is ``True`` when ``a REL b`` holds.
    """
    a, b = (torch.as_tensor(np.asarray(v), dtype=torch.long).reshape(-1) for v in (a, b))
    less = torch.as_tensor(np.asarray(less), dtype=torch.bool).reshape(-1).expand(len(a))
    tag = torch.as_tensor(np.asarray(tag), dtype=torch.long).reshape(-1).expand(len(a))
    holds = (a < b) == less
    cols = [torch.full_like(a, BOS), a, torch.where(less, LT, GT), b, TAG0 + tag]
    if answer:
        cols.append(torch.where(tag == 0, torch.where(holds, TRUE, FALSE), torch.where(holds, YES, NO)))
    return torch.stack(cols, dim=1)


def contrast_pairs(pairs: dict, tag_pos, tag_neg) -> tuple[torch.Tensor, torch.Tensor]:
    """x+ = ``a < b TAG``, x- = ``a > b TAG`` as (n, 5) token rows (no answer token)."""
    x_pos = statements(pairs["a"], pairs["b"], True, tag_pos, answer=False)
    x_neg = statements(pairs["a"], pairs["b"], False, tag_neg, answer=False)
    return x_pos, x_neg


def training_batch(n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 6) random statements: a != b uniform, REL and TAG uniform."""
    a = torch.randint(0, P, (n,), generator=generator)
    b = (a + torch.randint(1, P, (n,), generator=generator)) % P
    less = torch.rand(n, generator=generator) < 0.5
    tag = torch.randint(0, 2, (n,), generator=generator)
    return statements(a, b, less, tag)


# --------------------------------------------------------------------------- the model
def model_config(d_model: int = 64, n_layers: int = 3, n_heads: int = 4, d_mlp: int = 256) -> OthelloConfig:
    """The GPT of :mod:`course.models.othello` with this task's vocabulary (23 tokens) and context (6)."""
    return OthelloConfig(d_vocab=VOCAB, d_out=VOCAB, n_ctx=N_CTX, d_model=d_model, n_layers=n_layers,
                         n_heads=n_heads, d_mlp=d_mlp)


@dataclass(frozen=True)
class TruthTrainConfig:
    steps: int = 1000
    batch_size: int = 128
    lr: float = 1e-3
    warmup: int = 50
    weight_decay: float = 0.01
    seed: int = 0
    threads: int = 1  # one thread: the same numbers on any number of cores
    eval_every: int = 100

    def to_dict(self) -> dict:
        return asdict(self)


def lr_at(step: int, tc: TruthTrainConfig) -> float:
    """Linear warm-up, then cosine decay to a tenth."""
    if step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup
    progress = (step - tc.warmup) / max(1, tc.steps - tc.warmup)
    return tc.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))


def all_statements() -> torch.Tensor:
    """(960, 6) every statement: each ordered pair a != b, both relations, both tags."""
    g = torch.cartesian_prod(torch.arange(P), torch.arange(P), torch.arange(2), torch.arange(2))
    g = g[g[:, 0] != g[:, 1]]
    return statements(g[:, 0], g[:, 1], g[:, 2].bool(), g[:, 3])


@torch.no_grad()
def answer_accuracy(model: OthelloGPT, tokens: torch.Tensor | None = None) -> float:
    """How often the model's logits at the TAG position rank the right answer above the wrong one."""
    tokens = all_statements() if tokens is None else tokens
    logits = model(tokens[:, :N_CTX - 1])[:, READ_POS]
    return (logits.argmax(-1) == tokens[:, -1]).float().mean().item()


def train(tc: TruthTrainConfig, cfg: OthelloConfig | None = None, progress: bool = True,
          desc: str = "training") -> tuple[OthelloGPT, dict]:
    """Train a fresh model on random statements: the cross-entropy of the answer token, predicted at TAG.

    (The next-token loss at every position also works, but spends its first ~700 steps on a plateau
    predicting random numbers; the answer-only loss learns the task in ~400 steps.)
    """
    cfg = cfg or model_config()
    torch.manual_seed(tc.seed)
    model = OthelloGPT(cfg)
    gen = torch.Generator().manual_seed(tc.seed + 1)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=tc.lr, betas=(0.9, 0.98))
    curve: dict[str, list] = {"step": [], "train_loss": [], "answer_accuracy": []}
    steps = range(tc.steps)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=desc, unit="step")
    recent: list[float] = []
    start, cpu_start = time.perf_counter(), time.process_time()
    for step in steps:
        if step % tc.eval_every == 0 or step == tc.steps - 1:
            model.eval()
            acc = answer_accuracy(model)
            model.train()
            curve["step"].append(step)
            curve["train_loss"].append(round(sum(recent) / len(recent), 4) if recent else None)
            curve["answer_accuracy"].append(round(acc, 4))
            recent = []
            if progress:
                steps.set_postfix(answer_accuracy=f"{acc:.3f}")
        batch = training_batch(tc.batch_size, gen)
        logits = model(batch[:, :-1])[:, READ_POS]  # the answer is the only thing worth predicting
        loss = F.cross_entropy(logits, batch[:, -1])
        for group in opt.param_groups:
            group["lr"] = lr_at(step, tc)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        recent.append(loss.item())
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return model.eval(), {"curve": curve, "seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1)}


# --------------------------------------------------------------------------- the lesson's references
@torch.no_grad()
def read_activations(model: OthelloGPT, tokens: torch.Tensor) -> torch.Tensor:
    """(n, 5) token rows -> (n_layers + 1, n, D): the residual stream at the TAG position, every layer."""
    return model.residuals(tokens)[:, :, READ_POS]


def normalize(h: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Burns et al.'s per-side normalisation: subtract the mean over examples, divide by the std (per unit)."""
    h = h - h.mean(0)
    return h / (h.std(0) + eps)


def fit_logistic(X: torch.Tensor, y: torch.Tensor, steps: int = 300, lr: float = 0.05,
                 weight_decay: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """A logistic-regression probe (w (D,), b ()) on X (n, D), labels y (n,) bool: full-batch Adam from zeros."""
    w = torch.zeros(X.shape[1], requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=lr)
    X, y = X.detach().float(), y.float()
    for _ in range(steps):
        loss = F.binary_cross_entropy_with_logits(X @ w + b, y) + weight_decay * w.pow(2).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return w.detach(), b.detach()


def ccs_loss(p_pos: torch.Tensor, p_neg: torch.Tensor) -> torch.Tensor:
    """Consistency (p+ = 1 - p-) plus confidence (not both near 1/2), averaged over pairs."""
    return ((p_pos - (1 - p_neg)) ** 2).mean() + (torch.minimum(p_pos, p_neg) ** 2).mean()


def fit_ccs(h_pos: torch.Tensor, h_neg: torch.Tensor, restarts: int = 10, steps: int = 300, lr: float = 0.01,
            seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, float]:
    """CCS on normalised activations (n, D): the (w, b) of the restart with the lowest loss, and that loss.

    The restarts train side by side (one (R, D) weight matrix; Adam is elementwise, so summing the
    restarts' losses trains each exactly as alone).
    """
    gen = torch.Generator().manual_seed(seed)
    W = (torch.randn(restarts, h_pos.shape[1], generator=gen) / h_pos.shape[1] ** 0.5).requires_grad_()
    b = torch.zeros(restarts, requires_grad=True)
    opt = torch.optim.Adam([W, b], lr=lr)

    def losses():
        p_pos, p_neg = torch.sigmoid(h_pos @ W.T + b), torch.sigmoid(h_neg @ W.T + b)  # (n, R)
        return ((p_pos - (1 - p_neg)) ** 2).mean(0) + (torch.minimum(p_pos, p_neg) ** 2).mean(0)

    for _ in range(steps):
        loss = losses().sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = losses()
    i = int(final.argmin())
    return W[i].detach().clone(), b[i].detach().clone(), float(final[i])


def ccs_predictions(w: torch.Tensor, b: torch.Tensor, h_pos: torch.Tensor, h_neg: torch.Tensor) -> torch.Tensor:
    """(n,) bool: the CCS probe says x+ is the true one (its average belief 0.5 (p+ + 1 - p-) > 0.5)."""
    with torch.no_grad():
        return 0.5 * (torch.sigmoid(h_pos @ w + b) + 1 - torch.sigmoid(h_neg @ w + b)) > 0.5


def agreement_up_to_sign(pred: torch.Tensor, labels: torch.Tensor) -> float:
    """max(acc, 1 - acc): CCS cannot know which end of its direction is 'true'."""
    acc = (torch.as_tensor(pred).bool() == torch.as_tensor(labels).bool()).float().mean().item()
    return max(acc, 1 - acc)


def all_pairs() -> dict[str, np.ndarray]:
    """Every ordered pair a != b (240 of them): int64 ``a, b`` and bool ``y = a < b`` (half are True)."""
    a, b = np.divmod(np.arange(P * P), P)
    keep = a != b
    return {"a": a[keep], "b": b[keep], "y": a[keep] < b[keep]}


def lesson_data(model: OthelloGPT, seed: int = 0) -> dict:
    """The lesson's contrast pairs: every ordered pair twice, with the same tag on both sides ("plain",
    tag t on x+ and x-) and with opposite tags ("distractor", t on x+ and 1 - t on x-), t = 0 and 1.

    Returns ``y`` (480,) bool (x+ is true), ``tag`` (480,) the tag of x+, ``train`` (480,) bool (a random
    half of the 240 pairs, both of its rows), and per dataset the activations at the TAG position,
    ``(h_pos, h_neg)`` each (n_layers + 1, 480, D).
    """
    pairs = all_pairs()
    n = len(pairs["a"])
    rows = {k: np.concatenate([v, v]) for k, v in pairs.items()}
    tag = np.repeat([0, 1], n)
    train_pairs = np.random.default_rng(seed).permutation(n) < n // 2
    out = {"y": torch.as_tensor(rows["y"]), "tag": torch.as_tensor(tag).bool(),
           "train": torch.as_tensor(np.concatenate([train_pairs, train_pairs])), "pairs": rows}
    for name, tag_neg in (("plain", tag), ("distractor", 1 - tag)):
        x_pos, x_neg = contrast_pairs(rows, tag, tag_neg)
        out[name] = (read_activations(model, x_pos), read_activations(model, x_neg))
    return out


def probe_report(model: OthelloGPT, seed: int = 0) -> dict:
    """Per layer, on the held-out half of the pairs: the supervised probe's accuracy (trained on
    norm(x+) - norm(x-)), CCS's accuracy up to sign, and with the distractor CCS's agreement with
    truth and with the tag."""
    data = lesson_data(model, seed)
    y, tag, tr = data["y"], data["tag"], data["train"]
    report: dict[str, list] = {"probe": [], "ccs": [], "ccs_distractor_truth": [], "ccs_distractor_tag": []}
    for layer in range(data["plain"][0].shape[0]):
        hp, hn = (normalize(h[layer]) for h in data["plain"])
        with torch.enable_grad():
            w, b = fit_logistic(hp[tr] - hn[tr], y[tr])
        report["probe"].append(round((((hp[~tr] - hn[~tr]) @ w + b > 0) == y[~tr]).float().mean().item(), 4))
        with torch.enable_grad():
            w, b, _ = fit_ccs(hp[tr], hn[tr])
        report["ccs"].append(round(agreement_up_to_sign(ccs_predictions(w, b, hp[~tr], hn[~tr]), y[~tr]), 4))
        dp, dn = (normalize(h[layer]) for h in data["distractor"])
        with torch.enable_grad():
            w, b, _ = fit_ccs(dp[tr], dn[tr])
        pred = ccs_predictions(w, b, dp[~tr], dn[~tr])
        report["ccs_distractor_truth"].append(round(agreement_up_to_sign(pred, y[~tr]), 4))
        report["ccs_distractor_tag"].append(round(agreement_up_to_sign(pred, tag[~tr]), 4))
    return report


# --------------------------------------------------------------------------- the family
def fp16_roundtrip(model: OthelloGPT) -> OthelloGPT:
    copy = OthelloGPT(model.cfg)
    copy.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    return copy.eval()


def metrics_of(model: OthelloGPT) -> tuple[dict, dict]:
    """The headline numbers, measured on the float16 weights (what ships)."""
    shipped = fp16_roundtrip(model)
    report = probe_report(shipped)
    metrics = {
        "answer_accuracy": round(answer_accuracy(shipped), 4),
        "probe_layer0": report["probe"][0],
        "probe_read_layer": report["probe"][READ_LAYER],
        "ccs_read_layer": report["ccs"][READ_LAYER],
        "ccs_distractor_tag_read_layer": report["ccs_distractor_tag"][READ_LAYER],
    }
    return metrics, report


def metrics(model: OthelloGPT, tc: TruthTrainConfig | None = None) -> dict:
    """The sidecar's metrics measured again on ``model`` (no training): ``bootcamp new-project``'s headline."""
    return metrics_of(model)[0]


def run_spec(spec, out_dir: Path | None = None, steps: int | None = None, progress: bool = True) -> dict:
    """Train ``spec`` from scratch, save the float16 checkpoint and its JSON sidecar; return the sidecar."""
    from .registry import CHECKPOINT_DIR

    tc = spec.train if steps is None else replace(spec.train, steps=steps)
    threads = torch.get_num_threads()
    torch.set_num_threads(tc.threads)
    try:
        model, record = train(tc, spec.config, progress=progress)
        metrics, report = metrics_of(model)
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
        "per_layer": report,
        "seconds": record["seconds"],
        "cpu_seconds": record["cpu_seconds"],
        "curve": record["curve"],
    }
    path.with_suffix(".json").write_text(json.dumps(sidecar, separators=(",", ":")) + "\n")
    return sidecar


def specs() -> list:
    """The truth family's shipped models (see :func:`course.models.registry.family_modules`)."""
    from .registry import ModelSpec

    return [
        ModelSpec(
            name="truth-gpt",
            family="truth",
            config=model_config(),
            train=TruthTrainConfig(),
            checkpoint="truth_gpt.pt",
            lesson="4.6",
            description="3-layer GPT that judges 'a < b' / 'a > b' statements; truth is linear in its "
                        "residual stream, and CCS finds it without labels unless a salient tag token is flipped",
            tolerances={"answer_accuracy": 0.02, "probe_layer0": 0.08, "probe_read_layer": 0.03,
                        "ccs_read_layer": 0.05, "ccs_distractor_tag_read_layer": 0.1},
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
