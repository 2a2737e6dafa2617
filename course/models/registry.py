"""Every model the course ships: its config, its checkpoint, the lesson that uses it, its metrics.

The registry is plain data (no torch import at module import): ``bootcamp models`` reads it
to list the models, ``bootcamp reproduce`` to retrain one and compare, and :func:`load` to
give a lesson a ready model. Metrics come from each checkpoint's JSON sidecar, written by
:mod:`course.models.train`; tolerances live here, next to the config they belong to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
SIZE_BUDGET_BYTES = 2 * 1024 * 1024  # per checkpoint; the README states the same budget


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # the module under course.models that defines it
    config: object  # the family's config dataclass
    train: object  # course.models.train.TrainConfig
    checkpoint: str  # file name under CHECKPOINT_DIR
    lesson: str  # the lesson that trains / introduces it
    description: str
    # metric -> allowed absolute difference between a retrained run and the shipped sidecar
    tolerances: dict[str, float] = field(default_factory=dict)
    # looser tolerances when the corpus hash differs from the shipped one (another Python)
    tolerances_other_corpus: dict[str, float] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return CHECKPOINT_DIR / self.checkpoint

    @property
    def sidecar_path(self) -> Path:
        return self.path.with_suffix(".json")

    def sidecar(self) -> dict:
        """The metrics and provenance recorded when the checkpoint was trained ({} if missing)."""
        return json.loads(self.sidecar_path.read_text()) if self.sidecar_path.is_file() else {}

    def size_bytes(self) -> int:
        return self.path.stat().st_size if self.path.is_file() else 0


def _specs() -> dict[str, ModelSpec]:
    # Imported here, not at module import, so `import course.models` stays free of torch.
    from .gpt import GPTConfig
    from .train import TrainConfig

    specs = [
        ModelSpec(
            name="stdlib-gpt",
            family="gpt",
            config=GPTConfig(d_vocab=256, n_ctx=128, d_model=128, n_layers=2, n_heads=4, d_mlp=512),
            train=TrainConfig(steps=2000, batch_size=16, lr=3e-3, seed=0),
            checkpoint="stdlib_gpt.pt",
            lesson="2.2",
            description="byte-level GPT (2 layers, d_model 128) trained on Python's standard-library source",
            tolerances={"val_loss": 0.03, "val_accuracy": 0.01, "train_loss": 0.05},
            tolerances_other_corpus={"val_loss": 0.10, "val_accuracy": 0.03, "train_loss": 0.15},
        ),
    ]
    return {s.name: s for s in specs}


_CACHE: dict[str, ModelSpec] = {}


def all_models() -> list[ModelSpec]:
    if not _CACHE:
        _CACHE.update(_specs())
    return list(_CACHE.values())


def names() -> list[str]:
    return [s.name for s in all_models()]


def get(name: str) -> ModelSpec:
    for spec in all_models():
        if spec.name == name:
            return spec
    raise KeyError(f"no model called {name!r}; the course ships: {', '.join(names())}")


def load(name: str, dtype=None):
    """The shipped model ``name``, in eval mode, as float32 (or ``dtype``). No network."""
    import torch

    spec = get(name)
    if not spec.path.is_file():
        raise FileNotFoundError(f"{spec.path} is missing: run `python -m course.models.train {name}`")
    if spec.family != "gpt":
        raise ValueError(f"unknown model family {spec.family!r}")
    from .gpt import GPT

    model = GPT(spec.config)
    state = torch.load(spec.path, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.to(dtype or torch.float32) for k, v in state.items()})
    if dtype is not None:
        model.to(dtype)
    return model.eval()
