"""The toy model of superposition (Elhage et al. 2022, "Toy Models of Superposition"), batched.

    h = W x,    x' = ReLU(W^T h + b)

``n_features`` sparse features in ``n_hidden`` dimensions; each feature is present with
probability ``feature_probability`` and then uniform in [0, 1]; the loss weighs feature i
by its importance (``importance_decay ** i`` by default). Many instances with different
sparsities train at once as one batched model (one instance per sparsity level), which is
how the paper's sweeps are cheap: 8 instances x 10k steps take about 18 s on 2 CPU cores.

Lesson 4.2 has learners write this model themselves; lesson 4.3 (sparse autoencoders)
uses this one as the toy whose true features are known (the columns of ``W``).
The 5-in-2 models need no checkpoint: training is seeded and takes seconds.

The one shipped model, ``toy-sticky``, is the paper's feature-dimensionality experiment
(section "Feature Dimensionality"): ``n = 400`` features of equal importance in ``m = 30``
dimensions, one instance per sparsity level, trained by :func:`train_sticky`
(``python -m course.models.train toy-sticky``, about 10 minutes on one core) so that lesson
4.2 can measure ``D* = m / ||W||_F^2`` and the ``D_i`` on it without the wait.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class ToyConfig:
    n_features: int = 5
    n_hidden: int = 2
    n_instances: int = 8
    importance_decay: float = 0.9
    # One feature probability per instance; None = 8 levels log-spaced from 1 (dense) to 0.01
    feature_probability: tuple[float, ...] | None = None

    def probabilities(self) -> torch.Tensor:
        if self.feature_probability is not None:
            p = torch.tensor(self.feature_probability, dtype=torch.float32)
            if p.shape != (self.n_instances,):
                raise ValueError(f"feature_probability has {p.numel()} levels for {self.n_instances} instances")
            return p
        return torch.logspace(0, -2, self.n_instances)

    def to_dict(self) -> dict:
        return asdict(self)


class ToyModel(nn.Module):
    """``n_instances`` independent toy models, evaluated together."""

    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.cfg = cfg
        self.W = nn.Parameter(nn.init.xavier_normal_(torch.empty(cfg.n_instances, cfg.n_hidden, cfg.n_features)))
        self.b = nn.Parameter(torch.zeros(cfg.n_instances, cfg.n_features))
        self.register_buffer("importance", cfg.importance_decay ** torch.arange(cfg.n_features, dtype=torch.float32))
        self.register_buffer("probability", cfg.probabilities())

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, instances, features) -> (batch, instances, hidden)."""
        return torch.einsum("ihf,bif->bih", self.W, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, instances, features) -> the reconstruction, same shape."""
        return torch.relu(torch.einsum("ihf,bih->bif", self.W, self.hidden(x)) + self.b)

    def batch(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Sparse features: each present with its instance's probability, then uniform in [0, 1]."""
        shape = (batch_size, self.cfg.n_instances, self.cfg.n_features)
        values = torch.rand(shape, generator=generator)
        present = torch.rand(shape, generator=generator) < self.probability[None, :, None]
        return values * present

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Importance-weighted squared error, summed over instances (each is trained on its own)."""
        per = (self.importance * (self(x) - x) ** 2).mean(dim=(0, 2))
        return per.sum()


def train_toy(cfg: ToyConfig = ToyConfig(), steps: int = 10_000, batch_size: int = 1024, lr: float = 1e-3,
              seed: int = 0, progress: bool = True) -> ToyModel:
    """A trained :class:`ToyModel` (Adam, constant learning rate); deterministic for a seed on CPU."""
    torch.manual_seed(seed)
    model = ToyModel(cfg)
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    it = range(steps)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="toy models", unit="step")
    for _ in it:
        loss = model.loss(model.batch(batch_size, gen))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


def represented(model: ToyModel, threshold: float = 0.5) -> torch.Tensor:
    """(instances, features) bool: feature i is represented when its column of W has norm > ``threshold``."""
    return model.W.detach().norm(dim=1) > threshold


# --- the shipped feature-dimensionality sweep (the family's `specs`, `run_spec`, `load_model`) -------------


@dataclass(frozen=True)
class StickyTrainConfig:
    """How ``toy-sticky`` is trained: Adam, a cosine decay to ``lr_floor * lr``, one thread."""

    steps: int = 3000
    batch_size: int = 256
    lr: float = 3e-3
    lr_floor: float = 0.05
    seed: int = 0
    threads: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def sticky_config(n_levels: int = 16, log10_p_min: float = -1.3) -> ToyConfig:
    """The paper's n = 400, m = 30 with equal importance; feature probabilities log-spaced from 1 to 10^log10_p_min.

    The default goes from 1 to about 0.05, 1/(1-S) from 1 to 20, where the paper's D* falls from 1 through 1/2.
    """
    p = torch.logspace(0, log10_p_min, n_levels)
    return ToyConfig(n_features=400, n_hidden=30, n_instances=n_levels, importance_decay=1.0,
                     feature_probability=tuple(p.tolist()))


def dims_per_feature(W: torch.Tensor) -> torch.Tensor:
    """D* = m / ||W||_F^2 per instance; W (instances, hidden, features)."""
    return W.shape[1] / (W ** 2).sum(dim=(1, 2))


def feature_dimensionality(W: torch.Tensor) -> torch.Tensor:
    """D_i = ||W_i||^2 / sum_j (W_hat_i . W_j)^2 per instance and feature (0 for a zero column)."""
    norms = W.norm(dim=1)
    W_hat = W / norms[:, None, :].clamp_min(1e-12)
    return norms ** 2 / (torch.einsum("ihf,ihg->ifg", W_hat, W) ** 2).sum(-1).clamp_min(1e-12)


def train_sticky(cfg: ToyConfig, tc: StickyTrainConfig, progress: bool = True) -> tuple[ToyModel, dict]:
    """Train every sparsity level of ``cfg`` at once, as one batched model; deterministic for a seed on CPU.

    The same model and loss as :class:`ToyModel`, laid out (instances, batch, features) so
    that both products are ``bmm``; a feature is present when ``u < p`` for one uniform ``u``
    and then takes the value ``u / p`` (uniform in [0, 1)), one draw instead of two.
    Returns the model and a record: the loss and D* of every level every 100 steps.
    """
    torch.set_num_threads(tc.threads)
    g = torch.Generator().manual_seed(tc.seed)
    K, m, n = cfg.n_instances, cfg.n_hidden, cfg.n_features
    W = (torch.randn(K, m, n, generator=g) * (1 / n) ** 0.5).requires_grad_(True)
    b = torch.zeros(K, 1, n, requires_grad=True)
    importance = cfg.importance_decay ** torch.arange(n, dtype=torch.float32)
    p = cfg.probabilities()[:, None, None]
    opt = torch.optim.Adam([W, b], lr=tc.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: tc.lr_floor + (1 - tc.lr_floor) * 0.5 * (1 + math.cos(math.pi * s / tc.steps)))
    steps = range(tc.steps)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="toy-sticky", unit="step")
    record = {"step": [], "loss": [], "dstar": []}
    t0 = time.perf_counter()
    for s in steps:
        u = torch.rand(K, tc.batch_size, n, generator=g)
        x = torch.where(u < p, u / p, 0.0)
        out = torch.relu(torch.bmm(torch.bmm(x, W.transpose(1, 2)), W) + b)
        per = (importance * (out - x) ** 2).mean(dim=(1, 2))
        opt.zero_grad(set_to_none=True)
        per.sum().backward()
        opt.step()
        sched.step()
        if s % 100 == 0 or s == tc.steps - 1:
            record["step"].append(s)
            record["loss"].append([float(f"{v:.5g}") for v in per.tolist()])
            record["dstar"].append([round(v, 5) for v in dims_per_feature(W.detach()).tolist()])
    record["seconds"] = round(time.perf_counter() - t0, 1)
    model = ToyModel(cfg)
    with torch.no_grad():
        model.W.copy_(W.detach())
        model.b.copy_(b.detach()[:, 0])
    return model.eval(), record


def sticky_metrics(W: torch.Tensor, probability: torch.Tensor) -> dict:
    """D* per level and how many levels sit within 0.05 of 1 and of 1/2 (the paper's sticky values)."""
    dstar = dims_per_feature(W)
    return {"dstar_first": round(float(dstar[0]), 5), "dstar_last": round(float(dstar[-1]), 5),
            "levels_near_1": float((dstar - 1).abs().lt(0.05).sum()),
            "levels_near_half": float((dstar - 0.5).abs().lt(0.05).sum())}


def sticky_sidecar(spec, tc: StickyTrainConfig, model: ToyModel, record: dict, steps: int | None = None) -> dict:
    """The JSON sidecar of a trained ``toy-sticky``: metrics, D* and the D_i summary per level, the training record."""
    W = model.W.detach()
    D = feature_dimensionality(W)
    rep = W.norm(dim=1) > 0.5
    record = dict(record)
    return {
        "name": spec.name,
        "lesson": spec.lesson,
        "seed": tc.seed,
        "command": f"python -m course.models.train {spec.name}" + (f" --steps {steps}" if steps is not None else ""),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "model_config": spec.config.to_dict(),
        "train_config": tc.to_dict(),
        "dtype": "float32",
        "n_params": sum(t.numel() for t in model.parameters()),
        "metrics": sticky_metrics(W, spec.config.probabilities()),
        "dstar": [round(v, 5) for v in dims_per_feature(W).tolist()],
        "represented": rep.sum(-1).tolist(),
        "share_D_i_near_half": [round(float(((D[k][rep[k]] - 0.5).abs() < 0.05).float().mean()), 4) if rep[k].any()
                                else 0.0 for k in range(W.shape[0])],
        "seconds": record.pop("seconds", None),
        "record": record,
    }


def run_spec(spec, out_dir: Path | None = None, steps: int | None = None, progress: bool = True) -> dict:
    """Train ``spec`` from scratch, save W and b (float32) and the JSON sidecar; return the sidecar."""
    from .registry import CHECKPOINT_DIR

    tc = spec.train if steps is None else replace(spec.train, steps=steps)
    model, record = train_sticky(spec.config, tc, progress=progress)
    sidecar = sticky_sidecar(spec, tc, model, record, steps)
    path = Path(out_dir or CHECKPOINT_DIR) / spec.checkpoint
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"W": model.W.detach().clone(), "b": model.b.detach().clone()}, path)
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=1) + "\n")
    return json.loads(path.with_suffix(".json").read_text())


def specs() -> list:
    """The toy family's shipped model (see :func:`course.models.registry.family_modules`)."""
    from .registry import ModelSpec

    return [
        ModelSpec(
            name="toy-sticky",
            family="toy",
            config=sticky_config(),
            train=StickyTrainConfig(),
            checkpoint="toy_sticky.pt",
            lesson="4.2",
            description="400 features of equal importance in 30 dimensions at 16 sparsity levels: the paper's "
                        "feature-dimensionality sweep, where D* = m / ||W||_F^2 sticks at 1 and 1/2",
            tolerances={"dstar_first": 0.02, "levels_near_1": 1.0, "levels_near_half": 1.0},
        ),
    ]


def load_model(spec, dtype=None) -> ToyModel:
    """The shipped ``spec`` as an eval-mode :class:`ToyModel` (float32, or ``dtype``)."""
    state = torch.load(spec.path, map_location="cpu", weights_only=True)
    model = ToyModel(spec.config)
    with torch.no_grad():
        model.W.copy_(state["W"])
        model.b.copy_(state["b"])
    return model.to(dtype or torch.float32).eval()
