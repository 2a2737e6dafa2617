"""course.models.truth: the comparison statements, contrast pairs, the CCS references and the model of lesson 4.6."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from course.models import cli, registry  # noqa: E402
from course.models import truth as tr  # noqa: E402


def test_registered_with_its_lesson_and_within_budget():
    spec = registry.get("truth-gpt")
    assert spec.module == "truth" and spec.lesson == "4.6"
    assert spec.config == tr.model_config() and spec.train == tr.TruthTrainConfig()
    if spec.path.is_file():
        assert spec.size_bytes() <= registry.SIZE_BUDGET_BYTES
        assert set(spec.tolerances) <= set(spec.sidecar()["metrics"])


def test_statements_and_contrast_pairs_say_what_they_mean():
    rows = tr.statements([3, 3, 12, 12], [9, 9, 4, 4], [True, False, True, False], [0, 1, 1, 0])
    assert [tr.decode(r) for r in rows] == ["<bos> 3 < 9 <tag0> True", "<bos> 3 > 9 <tag1> No",
                                           "<bos> 12 < 4 <tag1> No", "<bos> 12 > 4 <tag0> True"]
    every = tr.all_statements()
    assert every.shape == (960, 6) and len({tuple(r.tolist()) for r in every}) == 960
    pairs = tr.all_pairs()
    assert len(pairs["a"]) == 240 and pairs["y"].mean() == 0.5 and (pairs["a"] != pairs["b"]).all()
    x_pos, x_neg = tr.contrast_pairs(pairs, 0, 1)
    assert x_pos.shape == x_neg.shape == (240, 5)
    assert (x_pos[:, 2] == tr.LT).all() and (x_neg[:, 2] == tr.GT).all()
    assert (x_pos[:, 4] == tr.TAG0).all() and (x_neg[:, 4] == tr.TAG1).all()
    batch = tr.training_batch(500, torch.Generator().manual_seed(0))
    assert (batch[:, 1] != batch[:, 3]).all()
    holds = (batch[:, 1] < batch[:, 3]) == (batch[:, 2] == tr.LT)
    want = torch.where(batch[:, 4] == tr.TAG0, torch.where(holds, tr.TRUE, tr.FALSE), torch.where(holds, tr.YES, tr.NO))
    assert torch.equal(batch[:, 5], want)


def test_ccs_references_on_a_planted_feature():
    gen = torch.Generator().manual_seed(0)
    n, d = 300, 8
    y = torch.rand(n, generator=gen) > 0.5
    noise_p, noise_n = torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)
    h_pos = noise_p + 4.0 * torch.outer(y.float() * 2 - 1, torch.eye(d)[0]) + 3.0  # truth on unit 0, plus an offset
    h_neg = noise_n - 4.0 * torch.outer(y.float() * 2 - 1, torch.eye(d)[0]) - 3.0
    hp, hn = tr.normalize(h_pos), tr.normalize(h_neg)
    assert hp.mean(0).abs().max() < 1e-5 and (hp.std(0) - 1).abs().max() < 1e-4
    assert tr.ccs_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])).item() == 0.0
    assert tr.ccs_loss(torch.tensor([0.5]), torch.tensor([0.5])).item() == pytest.approx(0.25)
    w, b, loss = tr.fit_ccs(hp, hn, restarts=4, steps=200)
    assert loss < 0.05 and tr.agreement_up_to_sign(tr.ccs_predictions(w, b, hp, hn), y) > 0.95
    w_lr, b_lr = tr.fit_logistic(hp - hn, y)
    assert (((hp - hn) @ w_lr + b_lr > 0) == y).float().mean() > 0.95
    assert tr.agreement_up_to_sign(~y, y) == 1.0


def test_shipped_model_answers_and_keeps_its_per_layer_story():
    spec = registry.get("truth-gpt")
    if not spec.path.is_file():
        pytest.skip("no shipped checkpoint")
    model = registry.load("truth-gpt")
    assert tr.answer_accuracy(model) == 1.0
    side = spec.sidecar()
    assert side["metrics"]["probe_layer0"] < 0.6 and side["metrics"]["probe_read_layer"] > 0.97
    assert side["metrics"]["ccs_distractor_tag_read_layer"] > 0.95


def test_run_spec_on_a_tiny_run_and_reproduce(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "CHECKPOINT_DIR", tmp_path)
    base = registry.get("truth-gpt")
    spec = replace(base, name="tiny-truth", checkpoint="tiny_truth.pt",
                   config=tr.model_config(d_model=16, n_layers=1, n_heads=2, d_mlp=32),
                   train=replace(base.train, steps=6, batch_size=8, eval_every=3))
    fake = {"probe": [0.5, 0.9], "ccs": [0.5, 0.8], "ccs_distractor_truth": [0.5, 0.5], "ccs_distractor_tag": [1.0, 1.0]}
    monkeypatch.setattr(tr, "READ_LAYER", 1)
    monkeypatch.setattr(tr, "probe_report", lambda model, **kw: fake)
    side = tr.run_spec(spec, progress=False)
    assert spec.path.is_file() and spec.sidecar()["metrics"] == side["metrics"]
    for key in ("name", "lesson", "seed", "command", "torch", "python", "model_config", "train_config",
                "metrics", "curve", "seconds", "per_layer"):
        assert key in side, key
    assert side["command"] == "python -m course.models.train tiny-truth"
    assert side["metrics"]["ccs_read_layer"] == 0.8
    assert side["curve"]["step"] == [0, 3, 5]
    assert all(v.dtype == torch.float16 for v in torch.load(spec.path, weights_only=True).values())
    model = tr.load_model(spec)
    assert tr.metrics(model, spec.train) == side["metrics"]
    assert np.isclose(tr.answer_accuracy(model), side["metrics"]["answer_accuracy"], atol=1e-4)
    # Same machine, same seed, one thread: a retrain is bit-identical.
    assert cli.reproduce_spec(spec, progress=False) == 0
    assert "reproduced within tolerance" in capsys.readouterr().out
    side["metrics"]["answer_accuracy"] += 0.5
    spec.sidecar_path.write_text(json.dumps(side))
    assert cli.reproduce_spec(spec, progress=False) == 1
