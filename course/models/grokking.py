"""Grokking modular addition: the 1-layer transformer of Nanda et al. (2023), "Progress
measures for grokking via mechanistic interpretability" (arXiv:2301.05217).

    python -m course.models.train grokking-p53     # lesson 4.1's model (about a minute)
    python -m course.models.train grokking-p113    # the paper's size, p = 113 (about 5 minutes)

The task: the input is three tokens ``a b =`` (``a, b`` in ``0 .. p-1``, ``=`` is token
``p``) and the answer is ``(a + b) mod p``, read from the logits at the ``=`` position.
The dataset is all ``p * p`` pairs; a seeded permutation puts ``frac_train`` of them in
the training set. Training is full batch (every training pair in every step) with AdamW
and a large weight decay, as in the paper; the model memorises the training pairs in a
few dozen epochs and generalises ("groks") hundreds of epochs later.

The model follows the paper's: one attention layer and one ReLU MLP, no LayerNorm, no
attention biases, weights initialised N(0, 1/d_model) (the unembedding N(0, 1/d_vocab)).
Parameter names and shapes follow TransformerLens (``W_E: (d_vocab, d_model)``,
``W_Q: (n_heads, d_model, d_head)``, ...), so what you learn to read here reads the same
there. Since the model has one layer and only the ``=`` position is ever read, the forward
pass computes the residual stream at that position only: the other two positions only
serve as keys and values. That is the same function as the full model's last position,
three times cheaper in the MLP.

The training run keeps snapshots of the weights (every ``snapshot_every`` epochs); the
shipped sidecar records, for each snapshot, the progress measures of the paper
(restricted and excluded loss) and the key frequencies' share of the embedding, so the
whole story of a run is in its JSON without shipping the snapshots themselves. Lesson 4.1
trains the p = 53 model live and computes the same measures from its own snapshots.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class GrokConfig:
    p: int = 53  # the modulus (a prime); tokens 0..p-1 are numbers, token p is "="
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    n_ctx: int = 3  # "a b ="

    @property
    def d_vocab(self) -> int:
        return self.p + 1

    @property
    def d_vocab_out(self) -> int:
        return self.p

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GrokTrainConfig:
    # The defaults are lesson 4.1's p = 53 run. The paper: lr 1e-3, weight decay 1.0, p = 113,
    # 30% of the pairs; see specs() for the p = 113 run.
    epochs: int = 1500  # full-batch steps: one epoch is one optimiser step
    frac_train: float = 0.3  # the paper's fraction; at 0.5 the test loss falls right after memorisation (no plateau)
    lr: float = 3e-3
    weight_decay: float = 3.0  # small p needs more weight decay than the paper's 1.0 (its App. C.2.2)
    betas: tuple[float, float] = (0.9, 0.98)
    warmup: int = 10  # linear warm-up over the first steps, as in the paper
    seed: int = 0  # the initial weights (torch.manual_seed)
    data_seed: int = 0  # the train/test split
    threads: int = 1  # one thread: the numbers do not depend on how many cores a machine has
    eval_every: int = 10  # curve points
    snapshot_every: int = 25  # weights kept for the progress measures

    def to_dict(self) -> dict:
        return asdict(self)


class GrokTransformer(nn.Module):
    """One attention layer + one ReLU MLP, no LayerNorm; logits at the "=" position only."""

    def __init__(self, cfg: GrokConfig):
        super().__init__()
        self.cfg = cfg
        d, h, dh = cfg.d_model, cfg.n_heads, cfg.d_head

        def init(*shape, fan=d):
            return nn.Parameter(torch.randn(*shape) / math.sqrt(fan))

        self.W_E = init(cfg.d_vocab, d)
        self.W_pos = init(cfg.n_ctx, d)
        self.W_Q = init(h, d, dh)
        self.W_K = init(h, d, dh)
        self.W_V = init(h, d, dh)
        self.W_O = init(h, dh, d)
        self.W_in = init(d, cfg.d_mlp)
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out = init(cfg.d_mlp, d)
        self.b_out = nn.Parameter(torch.zeros(d))
        self.W_U = init(d, cfg.d_vocab_out, fan=cfg.d_vocab)

    def run(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate at the "=" position. tokens: (batch, 3) int64.

        Returns a dict of float tensors: ``attn_pattern`` (batch, heads, 3) [where "=" looks],
        ``resid_mid`` (batch, d_model) [after attention], ``mlp_pre`` and ``mlp_post``
        (batch, d_mlp) [the neurons before / after the ReLU], ``resid_post`` (batch, d_model)
        and ``logits`` (batch, p).
        """
        cfg = self.cfg
        # With three positions, the residual stream before attention takes only
        # n_ctx * d_vocab distinct values: W_E[token] + W_pos[position]. Keys and values are
        # computed once per (position, token) and then looked up, which is exact and ~30x
        # cheaper than a matrix product per input.
        table = self.W_E[None] + self.W_pos[:, None]  # (3, d_vocab, d_model)
        pos = torch.arange(cfg.n_ctx)

        def heads(x, W):  # (..., d_model) @ (heads, d_model, d_head) -> (..., heads, d_head)
            # the heads' (d_model, d_head) matrices side by side: one matrix product for all heads
            return (x @ W.transpose(0, 1).reshape(cfg.d_model, -1)).unflatten(-1, (cfg.n_heads, cfg.d_head))

        resid = table[pos, tokens]  # (batch, 3, d_model)
        q = heads(table[-1], self.W_Q)[tokens[:, -1]]  # (batch, heads, d_head): only "=" asks
        k = heads(table, self.W_K)[pos, tokens]  # (batch, 3, heads, d_head)
        v = heads(table, self.W_V)[pos, tokens]
        # "=" is the last position, so the causal mask lets it see all three positions.
        # (Products and sums rather than einsum: einsum makes thousands of tiny matrix products here.)
        scores = (q[:, :, None] * k.transpose(1, 2)).sum(-1) / math.sqrt(cfg.d_head)  # (batch, heads, 3)
        pattern = torch.softmax(scores, dim=-1)
        z = (pattern[..., None] * v.transpose(1, 2)).sum(2)  # (batch, heads, d_head)
        attn_out = z.flatten(1) @ self.W_O.flatten(0, 1)  # (batch, heads * d_head) @ (heads * d_head, d_model)
        resid_mid = resid[:, -1] + attn_out
        pre = resid_mid @ self.W_in + self.b_in
        post = torch.relu(pre)
        resid_post = resid_mid + post @ self.W_out + self.b_out
        return {"attn_pattern": pattern, "resid_mid": resid_mid, "mlp_pre": pre, "mlp_post": post,
                "resid_post": resid_post, "logits": resid_post @ self.W_U}

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (batch, 3) int64 -> logits (batch, p) at the "=" position."""
        return self.run(tokens)["logits"]

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


# --------------------------------------------------------------------------- data
def make_data(p: int, frac_train: float, seed: int = 0) -> dict[str, torch.Tensor]:
    """Every pair (a, b) as tokens ``[a, b, p]`` with label ``(a + b) % p``, and a seeded split.

    Row ``i`` is the pair ``a = i // p, b = i % p``. ``torch.randperm(p * p)`` with a generator
    seeded by ``seed`` orders the rows; the first ``int(frac_train * p * p)`` are training data.
    Returns ``tokens`` (p*p, 3) int64, ``labels`` (p*p,) int64, ``train_idx`` and ``test_idx``.
    """
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    tokens = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    perm = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n_train = int(frac_train * p * p)
    return {"tokens": tokens, "labels": (a + b) % p, "train_idx": perm[:n_train], "test_idx": perm[n_train:]}


def loss_fn(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy, computed in float64 as in the paper (float32 rounding of tiny
    losses late in training causes sudden loss spikes, "slingshots")."""
    return F.cross_entropy(logits.double(), labels)


@torch.no_grad()
def evaluate(model: GrokTransformer, tokens: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on the given rows."""
    logits = model(tokens)
    return loss_fn(logits, labels).item(), (logits.argmax(-1) == labels).double().mean().item()


def make_optimizer(model: GrokTransformer, tc: GrokTrainConfig):
    """AdamW on every parameter with a linear warm-up; returns (optimizer, scheduler)."""
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay, betas=tc.betas)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / tc.warmup))
    return opt, sched


def train(cfg: GrokConfig, tc: GrokTrainConfig, progress: bool = True) -> tuple[GrokTransformer, dict, list]:
    """Train a fresh model full-batch; return (model, record, snapshots).

    ``record`` holds the curves (every ``eval_every`` epochs: train/test loss and accuracy,
    the sum of squared weights) and the seconds taken; ``snapshots`` is a list of
    ``(epoch, state_dict)`` every ``snapshot_every`` epochs (and at the end), float32 copies.
    Deterministic for fixed seeds on CPU.
    """
    torch.set_num_threads(tc.threads)
    data = make_data(cfg.p, tc.frac_train, tc.data_seed)
    tokens, labels = data["tokens"], data["labels"]
    x_train, y_train = tokens[data["train_idx"]], labels[data["train_idx"]]
    x_test, y_test = tokens[data["test_idx"]], labels[data["test_idx"]]
    torch.manual_seed(tc.seed)
    model = GrokTransformer(cfg)
    opt, sched = make_optimizer(model, tc)

    curve = {k: [] for k in ("epoch", "train_loss", "test_loss", "train_acc", "test_acc", "weight_norm")}
    snapshots: list[tuple[int, dict]] = []

    def log(epoch: int) -> None:
        tr, te = evaluate(model, x_train, y_train), evaluate(model, x_test, y_test)
        curve["epoch"].append(epoch)
        for key, value in zip(("train_loss", "train_acc", "test_loss", "test_acc"), tr + te):
            curve[key].append(value)
        curve["weight_norm"].append(sum((w.detach().double() ** 2).sum().item() for w in model.parameters()))

    epochs = range(tc.epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc=f"grokking p={cfg.p}", unit="epoch")
    start = time.perf_counter()
    for epoch in epochs:
        if epoch % tc.eval_every == 0:
            log(epoch)
            if progress:
                epochs.set_postfix(train=f"{curve['train_loss'][-1]:.2e}", test=f"{curve['test_loss'][-1]:.2e}",
                                   test_acc=f"{curve['test_acc'][-1]:.3f}")
        if epoch % tc.snapshot_every == 0:
            snapshots.append((epoch, {k: v.detach().clone() for k, v in model.state_dict().items()}))
        loss = loss_fn(model(x_train), y_train)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    seconds = time.perf_counter() - start
    log(tc.epochs)
    snapshots.append((tc.epochs, {k: v.detach().clone() for k, v in model.state_dict().items()}))
    model.eval()
    record = {"curve": curve, "seconds": round(seconds, 1)}
    return model, record, snapshots


# --------------------------------------------------------------------------- the metrics
# Written with the FFT, so they are an independent check of what lesson 4.1 builds by hand
# with a real Fourier basis (the same quantities, another route).
def freq_norms(W: torch.Tensor) -> torch.Tensor:
    """(p // 2 + 1,) squared norm of ``W`` (p, d) per frequency 0..p//2 over its first axis.

    With an orthonormal real Fourier basis (constant, cos k, sin k, ...), frequency k >= 1 has
    squared norm (2 / p) |DFT_k|^2 summed over columns, frequency 0 has (1 / p) |DFT_0|^2.
    """
    p = W.shape[0]
    power = torch.fft.rfft(W.double(), dim=0).abs().pow(2).sum(-1) / p
    power[1:] *= 2
    if p % 2 == 0:  # the Nyquist frequency has no sine partner
        power[-1] /= 2
    return power


def key_frequencies(W_E: torch.Tensor, p: int, threshold: float = 0.1) -> list[int]:
    """Frequencies 1..p//2 whose embedding norm (squared) is over ``threshold`` of the largest."""
    norms = freq_norms(W_E[:p])[1:]
    return [k + 1 for k in range(len(norms)) if norms[k] > threshold * norms.max()]


def key_share(W_E: torch.Tensor, p: int, freqs: list[int]) -> float:
    """Share of the number tokens' embedding (squared Frobenius norm) in ``freqs``."""
    norms = freq_norms(W_E[:p])
    return (norms[freqs].sum() / norms.sum()).item()


def sum_freq_part(x: torch.Tensor, p: int, freqs: list[int]) -> torch.Tensor:
    """The part of ``x`` (p*p, n), rows in pair order, along cos(w_k(a+b)) and sin(w_k(a+b)).

    Those two functions of (a, b) span the same plane as the 2-D DFT components at
    (k, k) and (-k, -k): keep those components, transform back.
    """
    X = torch.fft.fft2(x.double().reshape(p, p, -1), dim=(0, 1))
    mask = torch.zeros(p, p, 1, dtype=torch.float64)
    for k in freqs:
        mask[k, k] = mask[-k, -k] = 1
    return torch.fft.ifft2(X * mask, dim=(0, 1)).real.reshape(p * p, -1)


@torch.no_grad()
def progress_measures(model: GrokTransformer, data: dict, freqs: list[int]) -> dict[str, float]:
    """Restricted and excluded loss, defined on the MLP neurons as in the paper's code.

    restricted: each neuron keeps its mean over pairs and its key-frequency part along
    cos/sin(w_k(a+b)); logits through W_out @ W_U, shifted to the real logits' mean; loss on
    the test pairs. excluded: the key-frequency part is removed from the neurons; loss on the
    training pairs.
    """
    p = model.cfg.p
    run = model.run(data["tokens"])
    acts, logits = run["mlp_post"].double(), run["logits"].double()
    W_logit = model.W_out.double() @ model.W_U.double()
    key = sum_freq_part(acts, p, freqs)
    restricted = (acts.mean(0) + key) @ W_logit
    restricted += logits.mean(0) - restricted.mean(0)
    excluded = logits - key @ W_logit
    y, tr, te = data["labels"], data["train_idx"], data["test_idx"]
    return {"restricted_loss": F.cross_entropy(restricted[te], y[te]).item(),
            "excluded_loss": F.cross_entropy(excluded[tr], y[tr]).item(),
            "restricted_acc": (restricted[te].argmax(-1) == y[te]).double().mean().item()}


def grok_epoch(curve: dict, threshold: float = 0.99) -> int:
    """The first logged epoch with test accuracy over ``threshold`` (-1 if never)."""
    return next((e for e, a in zip(curve["epoch"], curve["test_acc"]) if a > threshold), -1)


def fourier_gini(W: torch.Tensor) -> float:
    """Gini coefficient of the norms of ``W`` (p, d) per frequency 1..p//2 (cos and sin together).

    0 when every frequency has the same norm, near 1 when one frequency holds everything: the
    paper's measure of how sparse the embedding (``W_E[:p]``) and unembedding (``W_U.T``) are in
    the Fourier basis.
    """
    x = freq_norms(W)[1:].sqrt().sort().values
    n = len(x)
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return (((2 * i - n - 1) * x).sum() / (n * x.sum())).item()


def neuron_freq_variance(acts: torch.Tensor, p: int) -> torch.Tensor:
    """(n, p//2) each neuron's variance over the p*p pairs in the terms of frequency k = 1..p//2.

    ``acts`` (p*p, n), rows in pair order. The terms of frequency k are the 2-D Fourier
    components (k, 0), (0, k) and (k, k) with all their signs: a wave in a alone, in b alone,
    and the products of a wave in a with one in b (what cos(w(a+b)) needs). Parseval: the
    squared 2-D DFT divided by p*p adds up to the sum of squares.
    """
    X = torch.fft.fft2(acts.double().reshape(p, p, -1), dim=(0, 1))
    power = X.abs().pow(2) / (p * p * p * p)  # mean over the p*p pairs of the squared component
    out = []
    for k in range(1, p // 2 + 1):
        idx = {(k, 0), (-k, 0), (0, k), (0, -k), (k, k), (k, -k), (-k, k), (-k, -k)}
        out.append(sum(power[i % p, j % p] for i, j in idx))
    return torch.stack(out, 1)


def neurons_explained(acts: torch.Tensor, p: int, threshold: float = 0.85) -> dict[str, float | list]:
    """Share of the live neurons with more than ``threshold`` of their variance in one frequency.

    A neuron is live when its variance is over 1e-3 of the largest neuron's. Returns
    ``share`` (of live neurons), ``n_live`` and ``best`` (each live neuron's best frequency).
    """
    a = acts.double()
    var = a.var(0, unbiased=False)
    live = var > 1e-3 * var.max()
    per_freq = neuron_freq_variance(a[:, live], p)
    frac = per_freq.max(1).values / var[live]
    return {"share": (frac > threshold).double().mean().item(), "n_live": int(live.sum()),
            "best": (per_freq.argmax(1) + 1).tolist()}


def phase_summary(curve: dict, snaps: dict) -> dict[str, float]:
    """Where a run's phases fall, from its curve and its progress measures (as in a sidecar).

    mem: the first logged epoch with train accuracy 1; test_at_mem: the test loss there (the
    memorisation level). r10: the first snapshot after mem where the restricted loss is below a
    tenth of its value at mem; test_at_r10: the test loss then. e10: the first snapshot after
    mem where the excluded loss is over 10x its lowest value after mem; test_at_e10.
    half: the first logged epoch after mem with test loss below half of test_at_mem (where the
    test loss starts to fall); grok: test accuracy over 99%. Missing events are -1.
    """
    ep, tl = curve["epoch"], curve["test_loss"]
    mem = next((e for e, a in zip(ep, curve["train_acc"]) if a >= 1.0), -1)
    out = {"mem": mem, "grok": grok_epoch(curve)}
    if mem < 0:
        return out
    M = tl[ep.index(mem)]
    se, rl, el = snaps["epoch"], snaps["restricted_loss"], snaps["excluded_loss"]
    i0 = min(range(len(se)), key=lambda i: abs(se[i] - mem))
    el_min = min(el[i0:])

    def test_at(e):
        return tl[min(range(len(ep)), key=lambda i: abs(ep[i] - e))] if e >= 0 else -1.0

    r10 = next((se[i] for i in range(i0, len(se)) if rl[i] < rl[i0] / 10), -1)
    e10 = next((se[i] for i in range(i0, len(se)) if el[i] > 10 * el_min), -1)
    half = next((e for e, v in zip(ep, tl) if e > mem and v < M / 2), -1)
    out.update(test_at_mem=M, r10=r10, test_at_r10=test_at(r10), e10=e10, test_at_e10=test_at(e10), half=half)
    return out


# --------------------------------------------------------------------------- shipping
def fp16_roundtrip(model: GrokTransformer) -> GrokTransformer:
    """A float32 copy whose weights went through float16 (what a checkpoint stores)."""
    copy = GrokTransformer(model.cfg)
    copy.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    return copy.eval()


@torch.no_grad()
def sample_text(model: GrokTransformer, data: dict, n: int = 6) -> str:
    """A few of the model's answers on test pairs, as text (``python -m course.models.train`` prints it)."""
    rows = data["test_idx"][:n]
    answers = model(data["tokens"][rows]).argmax(-1)
    p = model.cfg.p
    return ", ".join(f"{a} + {b} = {int(c)} (mod {p})" for (a, b, _), c in zip(data["tokens"][rows].tolist(), answers))


def metrics(model: GrokTransformer, tc: GrokTrainConfig) -> dict[str, float]:
    """The headline numbers of a trained model (lesson 4.1 asserts the same ones)."""
    cfg = model.cfg
    data = make_data(cfg.p, tc.frac_train, tc.data_seed)
    t, y = data["tokens"], data["labels"]
    tr_loss, tr_acc = evaluate(model, t[data["train_idx"]], y[data["train_idx"]])
    te_loss, te_acc = evaluate(model, t[data["test_idx"]], y[data["test_idx"]])
    W_E = model.W_E.detach()
    freqs = key_frequencies(W_E, cfg.p)
    pm = progress_measures(model, data, freqs)
    return {"train_loss": tr_loss, "test_loss": te_loss, "train_acc": tr_acc, "test_acc": te_acc,
            "n_key_freqs": float(len(freqs)), "key_freq_share": key_share(W_E, cfg.p, freqs), **pm}


# Models trained again with other seeds (weights and split) when their checkpoint is made; the
# sidecar keeps those runs' curves and progress measures, not their weights.
EXTRA_SEEDS = {"grokking-p53": (1, 2)}


def _rounded_curve(curve: dict) -> dict:
    out = {k: [float(f"{v:.5g}") for v in vals] for k, vals in curve.items()}
    out["epoch"] = list(curve["epoch"])
    return out


def snapshot_measures(cfg: GrokConfig, data: dict, snapshots: list, freqs: list[int]) -> dict[str, list]:
    """Per snapshot: the key frequencies' share of W_E, restricted and excluded loss, Fourier Gini of W_E and W_U."""
    snap = {"epoch": [], "key_freq_share": [], "restricted_loss": [], "excluded_loss": [], "gini_W_E": [],
            "gini_W_U": []}
    probe = GrokTransformer(cfg)
    for epoch, state in snapshots:
        probe.load_state_dict(state)
        pm = progress_measures(probe, data, freqs)
        snap["epoch"].append(epoch)
        snap["key_freq_share"].append(round(key_share(state["W_E"], cfg.p, freqs), 5))
        snap["restricted_loss"].append(float(f"{pm['restricted_loss']:.5g}"))
        snap["excluded_loss"].append(float(f"{pm['excluded_loss']:.5g}"))
        snap["gini_W_E"].append(round(fourier_gini(state["W_E"][:cfg.p]), 5))
        snap["gini_W_U"].append(round(fourier_gini(state["W_U"].T), 5))
    return snap


def run_spec(spec, out_dir: Path | None = None, steps: int | None = None, progress: bool = True) -> dict:
    """Train ``spec`` from scratch, save the float16 checkpoint and its JSON sidecar; return the sidecar.

    ``steps`` overrides the number of epochs (for a quick look or a test, never for shipping).
    The sidecar's ``curve`` has the train/test loss and accuracy every ``eval_every`` epochs;
    ``snapshots`` has, every ``snapshot_every`` epochs, the key-frequency share of the
    embedding and the restricted/excluded losses (for the final model's key frequencies).
    """
    from .registry import CHECKPOINT_DIR

    cfg = spec.config
    tc = spec.train if steps is None else replace(spec.train, epochs=steps)
    model, record, snapshots = train(cfg, tc, progress=progress)
    shipped = fp16_roundtrip(model)
    m = metrics(shipped, tc)
    m_fp32 = metrics(model, tc)
    freqs = key_frequencies(shipped.W_E.detach(), cfg.p)
    data = make_data(cfg.p, tc.frac_train, tc.data_seed)
    snap = snapshot_measures(cfg, data, snapshots, freqs)
    curve = _rounded_curve(record["curve"])
    with torch.no_grad():
        neurons = neurons_explained(shipped.run(data["tokens"])["mlp_post"], cfg.p)
    seed_runs = []
    for seed in EXTRA_SEEDS.get(spec.name, ()):  # the same recipe with other seeds: curves and measures only
        tc_s = replace(tc, seed=seed, data_seed=seed)
        m_s, rec_s, snaps_s = train(cfg, tc_s, progress=progress)
        data_s = make_data(cfg.p, tc_s.frac_train, tc_s.data_seed)
        freqs_s = key_frequencies(m_s.W_E.detach(), cfg.p)
        c_s, sn_s = _rounded_curve(rec_s["curve"]), snapshot_measures(cfg, data_s, snaps_s, freqs_s)
        seed_runs.append({"seed": seed, "data_seed": seed, "key_freqs": freqs_s,
                          "key_freq_share": round(key_share(m_s.W_E.detach(), cfg.p, freqs_s), 5),
                          "phases": phase_summary(c_s, sn_s), "curve": c_s, "snapshots": sn_s})
    sidecar = {
        "name": spec.name,
        "lesson": spec.lesson,
        "seed": tc.seed,
        "command": f"python -m course.models.train {spec.name}" + (f" --steps {steps}" if steps is not None else ""),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "model_config": cfg.to_dict(),
        "train_config": tc.to_dict(),
        "n_params": model.n_params(),
        "dtype": "float16",
        "metrics": {**{k: round(v, 6) if abs(v) > 1e-3 else float(f"{v:.4g}") for k, v in m.items()},
                    "grok_epoch": float(grok_epoch(record["curve"])),
                    "test_acc_fp32": round(m_fp32["test_acc"], 6),
                    "gini_W_E": round(fourier_gini(shipped.W_E.detach()[:cfg.p]), 5),
                    "gini_W_U": round(fourier_gini(shipped.W_U.detach().T), 5),
                    "neurons_one_freq": round(neurons["share"], 5)},
        "phases": phase_summary(curve, snap),
        "key_freqs": freqs,
        "sample": sample_text(shipped, data),
        "seconds": record["seconds"],
        "curve": curve,
        "snapshots": snap,
        "seed_runs": seed_runs,
    }
    path = Path(out_dir or CHECKPOINT_DIR) / spec.checkpoint
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() for k, v in model.state_dict().items()}, path)
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=1) + "\n")
    return json.loads(path.with_suffix(".json").read_text())


def specs() -> list:
    """The grokking family's shipped models (see :func:`course.models.registry.family_modules`)."""
    from .registry import ModelSpec

    tol = {"test_acc": 0.01, "train_acc": 0.001, "key_freq_share": 0.05, "n_key_freqs": 2.0}
    return [
        ModelSpec(
            name="grokking-p53",
            family="grokking",
            config=GrokConfig(p=53),
            train=GrokTrainConfig(epochs=1500, frac_train=0.3, lr=3e-3, weight_decay=3.0),
            checkpoint="grokking_p53.pt",
            lesson="4.1",
            description="1-layer transformer trained on (a + b) mod 53 with 30% of the pairs: memorises, "
                        "forms the circuit on a test-loss plateau, then cleans up",
            tolerances={**tol, "grok_epoch": 200.0},
        ),
        ModelSpec(
            name="grokking-p113",
            family="grokking",
            config=GrokConfig(p=113),
            train=GrokTrainConfig(epochs=3000, frac_train=0.3, lr=3e-3, weight_decay=1.0, eval_every=20,
                                  snapshot_every=100),
            checkpoint="grokking_p113.pt",
            lesson="4.1",
            description="the paper's size: (a + b) mod 113 with 30% of the pairs as training data",
            tolerances={**tol, "grok_epoch": 1000.0},
        ),
    ]


def load_model(spec, dtype=None) -> GrokTransformer:
    """The shipped checkpoint of ``spec`` as a float32 (or ``dtype``) model in eval mode."""
    model = GrokTransformer(spec.config)
    state = torch.load(spec.path, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.to(dtype or torch.float32) for k, v in state.items()})
    return model.eval()
