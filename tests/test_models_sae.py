"""course.models.sae: the SAE family (lesson 4.3): its pieces, a tiny reproducible run, the shipped checkpoint."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from course import data  # noqa: E402
from course.models import cli, registry  # noqa: E402
from course.models import sae as S  # noqa: E402
from course.models.train import eval_windows  # noqa: E402


def _tiny_spec():
    spec = registry.get("stdlib-gpt-sae")
    return replace(
        spec,
        name="tiny-sae-test",
        config=replace(spec.config, d_sae=32),
        train=replace(spec.train, steps=6, windows_per_batch=2, resample_every=3, resample_until=6, dead_window=2,
                      resample_windows=2, median_windows=2, eval_windows=4, log_every=2),
        checkpoint="tiny_sae_test.pt",
    )


def test_forward_loss_and_decoder_constraint():
    torch.manual_seed(0)
    sae = S.SparseAutoencoder(S.SAEConfig(d_in=6, d_sae=10))
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(10))
    x = torch.randn(32, 6)
    x_hat, f = sae(x)
    assert x_hat.shape == (32, 6) and f.shape == (32, 10) and (f >= 0).all()
    opt = torch.optim.SGD(sae.parameters(), lr=0.1)
    before = sae.W_dec.detach().clone()
    out = S.train_step(sae, opt, x, l1=0.5)
    assert set(out) >= {"loss", "mse", "l0", "fired"}
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(10), atol=1e-6), "decoder rows stay unit-norm"
    assert torch.allclose((sae.W_dec.grad * before).sum(-1), torch.zeros(10), atol=1e-6), "parallel gradient removed"
    total, recon, sparsity = S.sae_loss(x, x_hat, f, 0.5)
    assert torch.isclose(total, recon + 0.5 * sparsity)


def test_resampling_revives_dead_latents_and_resets_adam():
    torch.manual_seed(1)
    sae = S.SparseAutoencoder(S.SAEConfig(d_in=5, d_sae=12))
    with torch.no_grad():
        sae.b_enc[:4] = -100.0  # latents 0..3 can never fire
    opt = torch.optim.Adam(sae.parameters(), lr=1e-2)
    x = torch.randn(256, 5)
    S.train_step(sae, opt, x, l1=0.1)
    dead = torch.arange(12) < 4
    alive_before = sae.W_dec.detach()[4:].clone()
    assert S.resample_dead_(sae, opt, x, dead, torch.Generator().manual_seed(0)) == 4
    assert torch.equal(sae.W_dec.detach()[4:], alive_before)
    assert torch.allclose(sae.W_dec.detach()[:4].norm(dim=1), torch.ones(4))
    assert (sae.b_enc.detach()[:4] == 0).all()
    assert (opt.state[sae.W_enc]["exp_avg"][:, :4] == 0).all() and (opt.state[sae.W_dec]["exp_avg_sq"][:4] == 0).all()
    assert S.resample_dead_(sae, opt, x, torch.zeros(12, dtype=torch.bool), torch.Generator()) == 0


def test_geometric_median_ignores_an_outlier():
    pts = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [100.0, 100.0]])
    m = S.geometric_median(pts)
    assert m.max() < 1.0 < pts.mean(0).max()


def test_tiny_run_is_reproducible(tmp_path, monkeypatch, capsys):
    gpt_spec = registry.get("stdlib-gpt")  # the SAE reads the shipped GPT: make it visible in tmp_path too
    for path in (gpt_spec.path, gpt_spec.sidecar_path):
        (tmp_path / path.name).symlink_to(path)
    monkeypatch.setattr(registry, "CHECKPOINT_DIR", tmp_path)
    spec = _tiny_spec()
    shipped = S.run_spec(spec, progress=False)  # "ship" it into tmp_path
    for key in ("name", "lesson", "seed", "command", "torch", "python", "model_config", "train_config", "metrics",
                "curve", "seconds", "sample"):
        assert key in shipped, key
    assert shipped["command"] == "python -m course.models.train tiny-sae-test"
    assert set(spec.tolerances) <= set(shipped["metrics"])
    assert shipped["curve"]["resample_step"] == [3, 6]
    loaded = S.load_model(spec)
    assert not loaded.training and loaded.W_dec.shape == (32, 512)
    # Same machine, same seed, one thread: the retrain matches exactly, and reproduce says so.
    assert cli.reproduce_spec(spec, progress=False) == 0
    assert "reproduced within tolerance" in capsys.readouterr().out
    side = json.loads(spec.sidecar_path.read_text())
    side["metrics"]["fvu"] += 1.0
    spec.sidecar_path.write_text(json.dumps(side))
    assert cli.reproduce_spec(spec, progress=False) == 1


def test_shipped_checkpoint_matches_its_sidecar():
    spec = registry.get("stdlib-gpt-sae")
    side = spec.sidecar()
    assert side["model_config"] == spec.config.to_dict() and side["train_config"] == spec.train.to_dict()
    state = torch.load(spec.path, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values())
    sae = registry.load("stdlib-gpt-sae")
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(spec.config.d_sae), atol=2e-3)
    corpus = data.stdlib_corpus()
    if corpus.sha256 != side["corpus"]["sha256"]:
        pytest.skip(f"a different corpus ({corpus.describe()}): the shipped metrics do not apply")
    gpt = registry.load(spec.config.model)
    windows = eval_windows(corpus.tokens("val", torch=True), gpt.cfg.n_ctx, spec.train.eval_windows)[:, :-1]
    acts = torch.cat([S.mlp_activations(gpt, windows[i : i + 64], spec.config.layer) for i in range(0, len(windows), 64)])
    acts = acts.flatten(0, 1)
    with torch.no_grad():
        x_hat, f = sae(acts)
    fvu = ((x_hat - acts) ** 2).sum() / ((acts - acts.mean(0)) ** 2).sum()
    assert float(fvu) == pytest.approx(side["metrics"]["fvu"], abs=2e-4)
    assert float((f > 0).float().sum(-1).mean()) == pytest.approx(side["metrics"]["l0"], abs=2e-3)
    assert side["metrics"]["loss_recovered"] > 0.8, "the shipped SAE should keep most of the MLP's contribution"


def test_metrics_remeasures_the_sidecar_without_training():
    """``metrics`` is what ``bootcamp new-project``'s ``run.py run reproduce`` calls for the SAE family."""
    spec = registry.get("stdlib-gpt-sae")
    side = spec.sidecar()
    corpus = data.stdlib_corpus()
    if corpus.sha256 != side["corpus"]["sha256"]:
        pytest.skip(f"a different corpus ({corpus.describe()}): the shipped metrics do not apply")
    got = S.metrics(registry.load("stdlib-gpt-sae"), spec.train, corpus=corpus)
    assert set(got) == set(side["metrics"])
    for key, want in side["metrics"].items():
        assert got[key] == pytest.approx(want, abs=1e-3), key
