"""Sparse autoencoders (Bricken et al. 2023, "Towards Monosemanticity"), and the one the course ships.

    f     = ReLU((x - b_dec) @ W_enc + b_enc)        the latents ("features"), mostly zero
    x_hat = f @ W_dec + b_dec                        the reconstruction; rows of W_dec have norm 1
    loss  = mean_b ||x - x_hat||^2 + l1 * mean_b ||f||_1

Lesson 4.3 has learners write every piece of this file themselves; this is the course's own
copy, which trains the shipped ``stdlib-gpt-sae``: an SAE on the 512 MLP neurons of layer 0 of
``stdlib-gpt`` (the byte-level GPT of lesson 2.2), the same kind of site as the paper's (the
512-neuron MLP of a one-layer transformer), at a size a CPU trains in a few minutes:

    python -m course.models.train stdlib-gpt-sae      # writes course/models/checkpoints/
    bootcamp reproduce stdlib-gpt-sae                 # retrains and compares the metrics

What follows the paper (section "Problem setup" and its appendix on autoencoder training):
the pre-encoder bias (``b_dec`` is subtracted before encoding and added back after decoding,
initialised to the geometric median of a sample of activations); unit-norm decoder rows,
kept so by removing the gradient's component parallel to each row before the optimiser step
and renormalising after it; Adam; and resampling of dead latents (re-initialised towards
inputs the SAE reconstructs badly, picked with probability proportional to the square of
their loss, encoder row scaled to 0.2 x the mean norm of the alive encoder rows, bias 0,
Adam state of those rows reset). What differs, to fit a CPU: 2M activations instead of 8B, a
1.5x dictionary instead of up to 256x, a constant learning rate of 1e-3.

Shapes: B batch (tokens), D d_in (512 neurons), S d_sae (latents).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


# --------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class SAEConfig:
    d_in: int = 512  # the activations' width (stdlib-gpt's d_mlp)
    d_sae: int = 768  # latents: 1.5x (the paper went from 1x to 256x; 768 x 512 x 2 in float16 fits 2 MiB)
    model: str = "stdlib-gpt"  # the shipped model whose activations it reads
    layer: int = 0  # blocks[layer].mlp: the MLP hidden activations after the GELU
    seed: int = 0  # the initial weights

    def to_dict(self) -> dict:
        return asdict(self)


class SparseAutoencoder(nn.Module):
    """x (B, D) -> (x_hat (B, D), f (B, S)). Decoder directions are the rows of ``W_dec``."""

    def __init__(self, cfg: SAEConfig):
        super().__init__()
        self.cfg = cfg
        g = torch.Generator().manual_seed(cfg.seed)
        W = torch.randn(cfg.d_sae, cfg.d_in, generator=g)
        W = W / W.norm(dim=1, keepdim=True)
        self.W_enc = nn.Parameter(W.T.clone())  # (D, S): the encoder starts as the decoder's transpose
        self.b_enc = nn.Parameter(torch.zeros(cfg.d_sae))
        self.W_dec = nn.Parameter(W.clone())  # (S, D), unit rows
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_in))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu((x - self.b_dec) @ self.W_enc + self.b_enc)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.encode(x)
        return self.decode(f), f


def sae_loss(x: torch.Tensor, x_hat: torch.Tensor, f: torch.Tensor, l1: float):
    """(total, reconstruction, sparsity): squared error summed over D, L1 summed over S, both batch means."""
    recon = (x_hat - x).pow(2).sum(-1).mean()
    sparsity = f.abs().sum(-1).mean()
    return recon + l1 * sparsity, recon, sparsity


@torch.no_grad()
def remove_parallel_grad_(W_dec: torch.Tensor) -> None:
    """Project each row's gradient onto the plane orthogonal to the (unit) row: the step then
    rotates a decoder direction instead of growing it (the L1 penalty would reward growth)."""
    W_dec.grad -= (W_dec.grad * W_dec).sum(-1, keepdim=True) * W_dec


@torch.no_grad()
def normalise_decoder_(W_dec: torch.Tensor) -> None:
    W_dec /= W_dec.norm(dim=-1, keepdim=True)


def train_step(sae: SparseAutoencoder, opt: torch.optim.Optimizer, x: torch.Tensor, l1: float) -> dict:
    x_hat, f = sae(x)
    loss, recon, _ = sae_loss(x, x_hat, f, l1)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    remove_parallel_grad_(sae.W_dec)
    opt.step()
    normalise_decoder_(sae.W_dec)
    return {"loss": loss.item(), "mse": recon.item(), "l0": (f > 0).float().sum(-1).mean().item(), "fired": (f > 0).any(0)}


@torch.no_grad()
def resample_dead_(sae: SparseAutoencoder, opt: torch.optim.Adam, x: torch.Tensor, dead: torch.Tensor,
                   generator: torch.Generator) -> int:
    """Bricken et al.'s resampling of the latents in ``dead`` (bool (S,)), towards badly reconstructed
    rows of ``x`` (B, D); returns how many were resampled."""
    idx = dead.nonzero().squeeze(-1)
    if idx.numel() == 0:
        return 0
    x_hat, _ = sae(x)
    weight = (x_hat - x).pow(2).sum(-1).pow(2)  # probability proportional to the square of the loss
    if weight.sum() <= 0:
        weight = torch.ones_like(weight)
    pick = torch.multinomial(weight, idx.numel(), replacement=idx.numel() > int((weight > 0).sum()),
                             generator=generator)
    v = x[pick] / x[pick].norm(dim=-1, keepdim=True).clamp_min(1e-8)
    alive = ~dead
    enc_norm = sae.W_enc[:, alive].norm(dim=0).mean() if alive.any() else torch.tensor(1.0)
    sae.W_dec[idx] = v
    sae.W_enc[:, idx] = (0.2 * enc_norm * v).T
    sae.b_enc[idx] = 0.0
    for p, where in ((sae.W_dec, (idx,)), (sae.W_enc, (slice(None), idx)), (sae.b_enc, (idx,))):
        state = opt.state.get(p, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key][where] = 0.0
    return int(idx.numel())


@torch.no_grad()
def geometric_median(x: torch.Tensor, iters: int = 50) -> torch.Tensor:
    """Weiszfeld's algorithm: the point minimising the sum of distances to the rows of x (B, D)."""
    m = x.mean(0)
    for _ in range(iters):
        w = 1.0 / (x - m).norm(dim=-1).clamp_min(1e-6)
        m = (w[:, None] * x).sum(0) / w.sum()
    return m


# --------------------------------------------------------------------------- the GPT's activations
@torch.no_grad()
def mlp_activations(gpt, tokens: torch.Tensor, layer: int) -> torch.Tensor:
    """(B, T) tokens -> (B, T, d_mlp): blocks[layer]'s MLP hidden activations, after the GELU.

    A forward *pre*-hook on ``mlp.proj`` sees exactly its input: the activations we want."""
    store = []
    handle = gpt.blocks[layer].mlp.proj.register_forward_pre_hook(lambda mod, args: store.append(args[0]))
    try:
        gpt(tokens)
    finally:
        handle.remove()
    return store[0]


@torch.no_grad()
def loss_with_replaced_mlp(gpt, windows: torch.Tensor, layer: int, replace_fn=None, batch_size: int = 64) -> float:
    """Mean next-byte cross-entropy of ``windows`` (N, T+1) with blocks[layer]'s MLP hidden activations
    replaced by ``replace_fn(acts)`` (None: unchanged)."""
    def hook(mod, args):
        return None if replace_fn is None else (replace_fn(args[0]),)

    handle = gpt.blocks[layer].mlp.proj.register_forward_pre_hook(hook)
    total, count = 0.0, 0
    try:
        for i in range(0, len(windows), batch_size):
            chunk = windows[i : i + batch_size]
            logits = gpt(chunk[:, :-1])
            total += F.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten(), reduction="sum").item()
            count += chunk[:, 1:].numel()
    finally:
        handle.remove()
    return total / count


@torch.no_grad()
def evaluate(sae: SparseAutoencoder, gpt, windows: torch.Tensor, layer: int, batch_size: int = 64) -> dict:
    """Reconstruction MSE, fraction of variance unexplained, L0, dead fraction (latents that never fire on
    these windows) and the fraction of the MLP's loss contribution recovered by the spliced-in SAE."""
    acts = torch.cat([mlp_activations(gpt, windows[i : i + batch_size, :-1], layer).flatten(0, 1)
                      for i in range(0, len(windows), batch_size)])
    x_hat, f = sae(acts)
    err = (x_hat - acts).pow(2).sum(-1)
    fvu = err.sum() / (acts - acts.mean(0)).pow(2).sum()
    clean = loss_with_replaced_mlp(gpt, windows, layer, None, batch_size)
    zero = loss_with_replaced_mlp(gpt, windows, layer, torch.zeros_like, batch_size)
    spliced = loss_with_replaced_mlp(gpt, windows, layer, lambda a: sae(a)[0], batch_size)
    return {
        "mse": err.mean().item(),
        "fvu": fvu.item(),
        "l0": (f > 0).float().sum(-1).mean().item(),
        "dead_fraction": ((f > 0).sum(0) == 0).float().mean().item(),
        "ce_clean": clean,
        "ce_zero_ablation": zero,
        "ce_spliced": spliced,
        "loss_recovered": (zero - spliced) / (zero - clean),
    }


def highlight(tokens, pos: int, before: int = 30, after: int = 10) -> str:
    """The text around byte ``pos`` of ``tokens`` (a 1-D sequence of byte values) on one line, that
    byte in ⟦ ⟧; newlines show as ⏎ and tabs as ⇥."""
    from .gpt import decode

    def show(seq) -> str:
        return decode(seq).replace("\n", "⏎").replace("\t", "⇥")

    tokens = [int(t) for t in tokens]
    return show(tokens[max(0, pos - before) : pos]) + "⟦" + show(tokens[pos : pos + 1]) + "⟧" + show(
        tokens[pos + 1 : pos + 1 + after])


@torch.no_grad()
def top_contexts(sae: SparseAutoencoder, gpt, windows: torch.Tensor, layer: int, latent: int, k: int = 5) -> list[str]:
    """The ``k`` contexts of ``windows`` (N, T) where ``latent`` fires hardest, highlighted."""
    f = torch.cat([sae.encode(mlp_activations(gpt, windows[i : i + 64], layer))[..., latent]
                   for i in range(0, len(windows), 64)])  # (N, T)
    values, flat = f.flatten().topk(k)
    rows, cols = flat // f.shape[1], flat % f.shape[1]
    return [f"{v:6.2f}  {highlight(windows[r], c)}" for v, r, c in zip(values.tolist(), rows.tolist(), cols.tolist())]


# --------------------------------------------------------------------------- training
@dataclass(frozen=True)
class SAETrainConfig:
    steps: int = 2000
    windows_per_batch: int = 8  # x 128 positions = 1024 activations per step
    lr: float = 1e-3
    l1: float = 1.0
    resample_every: int = 400  # resample at steps 400, 800, ... up to resample_until
    resample_until: int = 1600  # then let the dictionary settle (the paper stops at 100k of 1M)
    dead_window: int = 200  # a latent is dead when it has not fired for this many steps (200k activations)
    resample_windows: int = 32  # inputs scored for resampling: 32 x 128 = 4096
    median_windows: int = 16  # the sample b_dec is initialised from (its geometric median)
    seed: int = 0  # the data order
    threads: int = 1  # results do not depend on the machine's core count
    log_every: int = 25
    eval_windows: int = 128  # held-out validation windows for the metrics
    # The GPT's held-out text starts windows at evenly spaced offsets (train.eval_windows).

    def to_dict(self) -> dict:
        return asdict(self)


def train(cfg: SAEConfig, tc: SAETrainConfig, gpt=None, corpus=None, progress: bool = True):
    """Train a fresh SAE on ``cfg.model``'s activations; return (sae, record). Deterministic on CPU."""
    from .. import data as course_data
    from .registry import load
    from .train import eval_windows, get_batch

    torch.set_num_threads(tc.threads)
    gpt = gpt if gpt is not None else load(cfg.model)
    corpus = corpus if corpus is not None else course_data.stdlib_corpus()
    train_tokens = corpus.tokens("train", torch=True)
    n_ctx = gpt.cfg.n_ctx
    gen = torch.Generator().manual_seed(tc.seed + 1)
    resample_gen = torch.Generator().manual_seed(tc.seed + 2)

    def batch(n_windows: int) -> torch.Tensor:
        return mlp_activations(gpt, get_batch(train_tokens, n_windows, n_ctx, gen)[:, :-1], cfg.layer).flatten(0, 1)

    sae = SparseAutoencoder(cfg)
    with torch.no_grad():
        sae.b_dec.copy_(geometric_median(batch(tc.median_windows)))
    opt = torch.optim.Adam(sae.parameters(), lr=tc.lr)
    steps_since_fired = torch.zeros(cfg.d_sae, dtype=torch.long)
    curve = {"step": [], "mse": [], "l0": [], "dead_fraction": [], "resample_step": [], "resampled": []}
    recent = {"mse": [], "l0": []}
    it = range(tc.steps)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="SAE on stdlib-gpt", unit="step")
    start = time.perf_counter()
    for step in it:
        out = train_step(sae, opt, batch(tc.windows_per_batch), tc.l1)
        steps_since_fired = torch.where(out["fired"], 0, steps_since_fired + 1)
        recent["mse"].append(out["mse"])
        recent["l0"].append(out["l0"])
        done = step + 1
        if done % tc.resample_every == 0 and done <= tc.resample_until:
            n = resample_dead_(sae, opt, batch(tc.resample_windows), steps_since_fired >= tc.dead_window, resample_gen)
            curve["resample_step"].append(done)
            curve["resampled"].append(n)
            steps_since_fired[steps_since_fired >= tc.dead_window] = 0  # the new latents get a full window
        if done % tc.log_every == 0 or done == tc.steps:
            curve["step"].append(done)
            curve["mse"].append(round(sum(recent["mse"]) / len(recent["mse"]), 4))
            curve["l0"].append(round(sum(recent["l0"]) / len(recent["l0"]), 2))
            curve["dead_fraction"].append(round((steps_since_fired >= tc.dead_window).float().mean().item(), 4))
            recent = {"mse": [], "l0": []}
            if progress:
                it.set_postfix(mse=f"{curve['mse'][-1]:.3f}", l0=f"{curve['l0'][-1]:.1f}")
    seconds = time.perf_counter() - start
    sae.eval()
    val = eval_windows(corpus.tokens("val", torch=True), n_ctx, tc.eval_windows)
    sae16 = fp16_roundtrip(sae)
    metrics = {k: round(v, 4) for k, v in evaluate(sae16, gpt, val, cfg.layer).items()}
    sample = [f"latent {i}: {top_contexts(sae16, gpt, val[:, :-1], cfg.layer, i, k=1)[0]}" for i in range(4)]
    record = {
        "metrics": metrics,
        "sample": "\n".join(sample),
        "curve": curve,
        "seconds": round(seconds, 1),
        "corpus": {"sha256": corpus.sha256, "python": corpus.python, "matches_reference": corpus.matches_reference},
    }
    return sae, record


def fp16_roundtrip(sae: SparseAutoencoder) -> SparseAutoencoder:
    """A float32 copy whose weights went through float16 (what the checkpoint stores)."""
    copy = SparseAutoencoder(sae.cfg)
    copy.load_state_dict({k: v.half().float() for k, v in sae.state_dict().items()})
    return copy.eval()


@torch.no_grad()
def metrics(model: SparseAutoencoder, tc: SAETrainConfig, corpus=None) -> dict:
    """The sidecar's metrics measured again on ``model`` (no training), on the same held-out windows of the
    stdlib corpus: ``bootcamp new-project``'s headline. Reads the GPT named by ``model.cfg``."""
    from .. import data as course_data
    from .registry import load
    from .train import eval_windows

    corpus = corpus if corpus is not None else course_data.stdlib_corpus()
    gpt = load(model.cfg.model)
    val = eval_windows(corpus.tokens("val", torch=True), gpt.cfg.n_ctx, tc.eval_windows)
    return {k: round(v, 4) for k, v in evaluate(model.float().eval(), gpt, val, model.cfg.layer).items()}


# --------------------------------------------------------------------------- the family plug-in
def specs() -> list:
    """The SAE family's shipped models (see :func:`course.models.registry.family_modules`)."""
    from .registry import ModelSpec

    return [
        ModelSpec(
            name="stdlib-gpt-sae",
            family="sae",
            config=SAEConfig(),
            train=SAETrainConfig(),
            checkpoint="sae_stdlib_gpt_l0.pt",
            lesson="4.3",
            used_in=("3.4",),
            description="sparse autoencoder (768 latents) on the 512 layer-0 MLP neurons of stdlib-gpt",
            tolerances={"fvu": 0.01, "l0": 1.5, "dead_fraction": 0.03, "loss_recovered": 0.02},
            tolerances_other_corpus={"fvu": 0.03, "l0": 4.0, "dead_fraction": 0.08, "loss_recovered": 0.06},
        ),
    ]


def run_spec(spec, out_dir: Path | None = None, steps: int | None = None, progress: bool = True) -> dict:
    """Train ``spec`` from scratch, save its float16 state dict and JSON sidecar; return the sidecar."""
    from .registry import CHECKPOINT_DIR, get

    tc = spec.train if steps is None else replace(spec.train, steps=steps,
                                                  resample_until=min(spec.train.resample_until, steps))
    sae, record = train(spec.config, tc, progress=progress)
    path = Path(out_dir or CHECKPOINT_DIR) / spec.checkpoint
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() for k, v in sae.state_dict().items()}, path)
    gpt_side = get(spec.config.model).sidecar()
    sidecar = {
        "name": spec.name,
        "lesson": spec.lesson,
        "seed": tc.seed,
        "command": f"python -m course.models.train {spec.name}" + (f" --steps {steps}" if steps is not None else ""),
        "model_config": spec.config.to_dict(),
        "train_config": tc.to_dict(),
        "n_params": sum(p.numel() for p in sae.parameters()),
        "dtype": "float16",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "reads": {"model": spec.config.model, "model_metrics": gpt_side.get("metrics", {})},
        **record,
    }
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=1) + "\n")
    return sidecar


def load_model(spec, dtype=None) -> SparseAutoencoder:
    """The shipped checkpoint of ``spec`` as a float32 (or ``dtype``) SAE in eval mode."""
    sae = SparseAutoencoder(spec.config)
    state = torch.load(spec.path, map_location="cpu", weights_only=True)
    sae.load_state_dict({k: v.to(dtype or torch.float32) for k, v in state.items()})
    if dtype is not None:
        sae.to(dtype)
    return sae.eval()
