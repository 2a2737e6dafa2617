"""course.models.toy: the shipped feature-dimensionality sweep ``toy-sticky`` and its training code."""

from __future__ import annotations

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from course.models import registry, toy  # noqa: E402


def test_dimensionality_measures_on_known_shapes():
    pair = torch.tensor([[[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]])  # an antipodal pair and a feature of its own
    assert torch.allclose(toy.feature_dimensionality(pair), torch.tensor([[0.5, 0.5, 1.0]]))
    assert torch.allclose(toy.dims_per_feature(pair), torch.tensor([2 / 3]))
    assert toy.feature_dimensionality(torch.zeros(1, 2, 3)).eq(0).all(), "a zero column has D_i = 0, not NaN"


def test_sticky_config_and_training_are_deterministic():
    cfg = replace(toy.sticky_config(n_levels=3), n_features=12, n_hidden=3)
    assert cfg.probabilities()[0] == 1.0 and abs(float(cfg.probabilities()[-1]) - 10 ** -1.3) < 1e-6
    tc = toy.StickyTrainConfig(steps=30, batch_size=32)
    a, rec = toy.train_sticky(cfg, tc, progress=False)
    b, _ = toy.train_sticky(cfg, tc, progress=False)
    assert torch.equal(a.W, b.W) and a.W.shape == (3, 3, 12) and not a.training
    assert rec["step"][0] == 0 and rec["step"][-1] == 29 and len(rec["dstar"][0]) == 3
    x = a.batch(8, torch.Generator().manual_seed(0))
    assert a(x).shape == x.shape  # the trained weights load into the ordinary ToyModel


def test_shipped_toy_sticky_matches_its_sidecar():
    spec = registry.get("toy-sticky")
    side = spec.sidecar()
    model = registry.load("toy-sticky")
    W = model.W.detach()
    assert W.shape == (16, 30, 400) and side["model_config"]["importance_decay"] == 1.0
    assert torch.allclose(toy.dims_per_feature(W), torch.tensor(side["dstar"]), atol=1e-4)
    assert side["metrics"] == toy.sticky_metrics(W, model.probability)
    assert side["represented"] == (W.norm(dim=1) > 0.5).sum(-1).tolist()
    # What lesson 4.2 asserts on it: D* sticks at 1 and at 1/2, not at 3/4.
    dstar = toy.dims_per_feature(W)
    assert int(((dstar - 1).abs() < 0.05).sum()) >= 3 and int(((dstar - 0.5).abs() < 0.05).sum()) >= 3
    assert int(((dstar - 0.75).abs() < 0.05).sum()) <= 1
