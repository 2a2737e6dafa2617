"""The course's training script: the one place a shipped checkpoint comes from.

    python -m course.models.train stdlib-gpt              # writes course/models/checkpoints/
    python -m course.models.train stdlib-gpt --out /tmp/x --steps 200

Everything that decides the result is fixed here or in the registry: the seed, the
thread count, the data order (drawn from a seeded generator), the corpus (whose sha256
goes into the sidecar). Run twice on the same machine and corpus, it gives the same
numbers; on another machine the float rounding of the matrix kernels may differ, which
is why ``bootcamp reproduce`` compares metrics within tolerances instead of bytes.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from .gpt import GPT, GPTConfig, decode, encode


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    batch_size: int = 16
    lr: float = 3e-3
    min_lr: float = 3e-4  # cosine decay ends here, not at 0: the last steps still learn
    warmup: int = 100  # linear warm-up: Adam's early moment estimates are noisy
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    seed: int = 0
    # One thread: the result does not depend on how many cores a machine has (kernels split
    # their reductions by thread), and on a shared 2-core machine one thread is no slower.
    threads: int = 1
    eval_every: int = 100
    eval_windows: int = 256  # validation windows, evenly spaced over the held-out files
    log_every: int = 10

    def to_dict(self) -> dict:
        return asdict(self)


def lr_at(step: int, tc: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``min_lr`` at the last step."""
    if step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup
    progress = (step - tc.warmup) / max(1, tc.steps - tc.warmup)
    return tc.min_lr + 0.5 * (tc.lr - tc.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def get_batch(data: torch.Tensor, batch_size: int, n_ctx: int, generator: torch.Generator) -> torch.Tensor:
    """(batch_size, n_ctx + 1) random windows of ``data``: inputs are [:, :-1], targets [:, 1:]."""
    starts = torch.randint(0, len(data) - n_ctx - 1, (batch_size,), generator=generator)
    return data[starts[:, None] + torch.arange(n_ctx + 1)]


def eval_windows(data: torch.Tensor, n_ctx: int, n_windows: int) -> torch.Tensor:
    """(n, n_ctx + 1) windows evenly spaced over ``data``: the same ones every time."""
    n_windows = max(1, min(n_windows, len(data) // (n_ctx + 1)))
    starts = torch.linspace(0, len(data) - n_ctx - 1, n_windows).long()
    return data[starts[:, None] + torch.arange(n_ctx + 1)]


@torch.no_grad()
def evaluate(model: GPT, windows: torch.Tensor, batch_size: int = 64) -> dict[str, float]:
    """Mean cross-entropy (nats per byte) and next-byte top-1 accuracy on fixed windows."""
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for i in range(0, len(windows), batch_size):
        chunk = windows[i : i + batch_size]
        logits = model(chunk[:, :-1])
        target = chunk[:, 1:]
        total_loss += F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="sum").item()
        correct += (logits.argmax(-1) == target).sum().item()
        count += target.numel()
    model.train(was_training)
    return {"loss": total_loss / count, "accuracy": correct / count}


def fp16_roundtrip(model: GPT) -> GPT:
    """A float32 copy of ``model`` whose weights went through float16 (what the checkpoint stores)."""
    copy = GPT(model.cfg)
    copy.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    return copy


@torch.no_grad()
def sample_text(model: GPT, prompt: str, n_new: int, temperature: float = 0.8, seed: int = 0) -> str:
    """Plain temperature sampling (no KV cache: lesson 2.2 builds the fast one)."""
    g = torch.Generator().manual_seed(seed)
    tokens = encode(prompt)[None]
    for _ in range(n_new):
        logits = model(tokens[:, -model.cfg.n_ctx :])[0, -1] / temperature
        nxt = torch.multinomial(logits.softmax(-1), 1, generator=g)
        tokens = torch.cat([tokens, nxt[None]], dim=1)
    return decode(tokens[0].tolist())


def train(
    model_cfg: GPTConfig,
    tc: TrainConfig,
    corpus=None,
    progress: bool = True,
) -> tuple[GPT, dict]:
    """Train a fresh GPT on the stdlib corpus; return the model and a record of the run.

    The record holds the metrics, the loss curve (train loss every ``log_every`` steps,
    averaged over those steps; validation loss every ``eval_every`` steps) and the corpus
    description. Deterministic for a fixed ``tc.seed`` on CPU.
    """
    from .. import data as course_data

    if corpus is None:
        corpus = course_data.stdlib_corpus()
    torch.set_num_threads(tc.threads)
    torch.manual_seed(tc.seed)  # the initial weights
    model = GPT(model_cfg)
    train_data = corpus.tokens("train", torch=True)
    val = eval_windows(corpus.tokens("val", torch=True), model_cfg.n_ctx, tc.eval_windows)
    gen = torch.Generator().manual_seed(tc.seed + 1)  # the data order, independent of the init

    # Weight decay on matrices only: decaying biases, LayerNorm gains or embeddings just
    # pulls them towards 0 for no regularising benefit (the nanoGPT / GPT-2 convention).
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "wte" not in n and "wpe" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "wte" not in n and "wpe" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": tc.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=tc.lr, betas=tc.betas,
    )

    curve = {"train_step": [], "train_loss": [], "val_step": [], "val_loss": []}
    recent: list[float] = []
    steps = range(tc.steps)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="training", unit="step")
    start = time.perf_counter()
    for step in steps:
        if step % tc.eval_every == 0:
            curve["val_step"].append(step)
            curve["val_loss"].append(round(evaluate(model, val)["loss"], 4))
        for group in opt.param_groups:
            group["lr"] = lr_at(step, tc)
        loss = model.loss(get_batch(train_data, tc.batch_size, model_cfg.n_ctx, gen))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        recent.append(loss.item())
        if (step + 1) % tc.log_every == 0 or step + 1 == tc.steps:
            curve["train_step"].append(step + 1)
            curve["train_loss"].append(round(sum(recent) / len(recent), 4))
            if progress:
                steps.set_postfix(loss=f"{curve['train_loss'][-1]:.3f}")
            recent = []
    seconds = time.perf_counter() - start
    model.eval()

    final = evaluate(model, val)
    final16 = evaluate(fp16_roundtrip(model), val)
    curve["val_step"].append(tc.steps)
    curve["val_loss"].append(round(final["loss"], 4))
    tail = curve["train_loss"][-max(1, 100 // tc.log_every) :]
    record = {
        "metrics": {
            "val_loss": round(final16["loss"], 4),  # of the shipped (float16) weights
            "val_accuracy": round(final16["accuracy"], 4),
            "train_loss": round(sum(tail) / len(tail), 4),  # mean of the last ~100 steps
            "val_loss_fp32": round(final["loss"], 4),
        },
        "curve": curve,
        "seconds": round(seconds, 1),
        "corpus": {"sha256": corpus.sha256, "python": corpus.python, "train_bytes": len(corpus.train),
                   "val_bytes": len(corpus.val), "matches_reference": corpus.matches_reference},
    }
    return model, record


def save_checkpoint(model: GPT, record: dict, path: Path, extra: dict | None = None) -> Path:
    """Write the float16 state dict to ``path`` and the JSON sidecar next to it (``.json``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() for k, v in model.state_dict().items()}, path)
    sidecar = {
        **(extra or {}),
        "model_config": model.cfg.to_dict(),
        "n_params": model.n_params(),
        "dtype": "float16",
        "torch": torch.__version__,
        "python": platform.python_version(),
        **record,
    }
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=1) + "\n")
    return path


def run(name: str, out_dir: Path | None = None, steps: int | None = None, progress: bool = True) -> dict:
    """Train registry model ``name`` from scratch and save it; return the sidecar as a dict.

    ``out_dir`` defaults to the shipped checkpoints folder; ``steps`` overrides the
    registry's step count (for a quick look, never for a shipped checkpoint).
    """
    from .registry import family, get

    spec = get(name)
    return family(spec).run_spec(spec, out_dir, steps, progress)


def run_spec(spec, out_dir: Path | None = None, steps: int | None = None, progress: bool = True) -> dict:
    """:func:`run` for a :class:`course.models.registry.ModelSpec` (tests pass a tiny one)."""
    from .registry import CHECKPOINT_DIR

    tc = spec.train if steps is None else replace(spec.train, steps=steps)
    model, record = train(spec.config, tc, progress=progress)
    record["train_config"] = tc.to_dict()
    record["sample"] = sample_text(fp16_roundtrip(model), "def ", 200)
    path = Path(out_dir or CHECKPOINT_DIR) / spec.checkpoint
    argv = f"python -m course.models.train {spec.name}" + (f" --steps {steps}" if steps is not None else "")
    save_checkpoint(model, record, path, extra={"name": spec.name, "lesson": spec.lesson, "seed": tc.seed,
                                                "command": argv})
    return json.loads(path.with_suffix(".json").read_text())


def specs() -> list:
    """The GPT family's shipped models (see :func:`course.models.registry.family_modules`)."""
    from .registry import ModelSpec

    return [
        ModelSpec(
            name="stdlib-gpt",
            family="gpt",
            config=GPTConfig(d_vocab=256, n_ctx=128, d_model=128, n_layers=2, n_heads=4, d_mlp=512),
            train=TrainConfig(steps=2000, batch_size=16, lr=3e-3, seed=0),
            checkpoint="stdlib_gpt.pt",
            lesson="2.2",
            used_in=("3.4", "4.3"),
            description="byte-level GPT (2 layers, d_model 128) trained on Python's standard-library source",
            tolerances={"val_loss": 0.03, "val_accuracy": 0.01, "train_loss": 0.05},
            tolerances_other_corpus={"val_loss": 0.10, "val_accuracy": 0.03, "train_loss": 0.15},
        ),
    ]


def load_model(spec, dtype=None) -> GPT:
    """The shipped checkpoint of ``spec`` as a float32 (or ``dtype``) GPT in eval mode."""
    model = GPT(spec.config)
    state = torch.load(spec.path, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.to(dtype or torch.float32) for k, v in state.items()})
    if dtype is not None:
        model.to(dtype)
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course.models.train", description=__doc__.split("\n")[0])
    p.add_argument("name", help="a model from the registry (bootcamp models lists them)")
    p.add_argument("--out", type=Path, default=None, help="folder for the checkpoint (default: the shipped one)")
    p.add_argument("--steps", type=int, default=None, help="override the number of steps (not for shipping)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    sidecar = run(args.name, args.out, args.steps, progress=not args.no_progress)
    print(json.dumps(sidecar["metrics"]), f"in {sidecar['seconds']} s")
    if sidecar.get("sample"):
        print(sidecar["sample"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
