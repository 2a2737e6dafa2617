"""The toy model of superposition (Elhage et al. 2022, "Toy Models of Superposition"), batched.

    h = W x,    x' = ReLU(W^T h + b)

``n_features`` sparse features in ``n_hidden`` dimensions; each feature is present with
probability ``feature_probability`` and then uniform in [0, 1]; the loss weighs feature i
by its importance (``importance_decay ** i`` by default). Many instances with different
sparsities train at once as one batched model (one instance per sparsity level), which is
how the paper's sweeps are cheap: 8 instances x 10k steps take about 18 s on 2 CPU cores.

Lesson 4.2 has learners write this model themselves; lesson 4.3 (sparse autoencoders)
uses this one as the toy whose true features are known (the columns of ``W``).
No shipped checkpoint: training is seeded and takes seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

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
