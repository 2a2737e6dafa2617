"""course.models.grokking: the model, the data, the FFT analysis, the shipped checkpoints."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from course.models import cli, grokking, registry  # noqa: E402
from course.models.grokking import GrokConfig, GrokTrainConfig, GrokTransformer  # noqa: E402


def _naive_logits(model: GrokTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """The textbook computation: every position, per-head einsums, a causal mask, last position read."""
    cfg = model.cfg
    x = model.W_E[tokens] + model.W_pos
    q = torch.einsum("bsm,hmd->bhsd", x, model.W_Q)
    k = torch.einsum("bsm,hmd->bhsd", x, model.W_K)
    v = torch.einsum("bsm,hmd->bhsd", x, model.W_V)
    scores = q @ k.transpose(-1, -2) / math.sqrt(cfg.d_head)
    mask = torch.triu(torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool), 1)
    pattern = scores.masked_fill(mask, float("-inf")).softmax(-1)
    x = x + torch.einsum("bhsd,hdm->bsm", pattern @ v, model.W_O)
    x = x + torch.relu(x @ model.W_in + model.b_in) @ model.W_out + model.b_out
    return (x @ model.W_U)[:, -1]


def test_forward_equals_the_textbook_transformer():
    torch.manual_seed(0)
    model = GrokTransformer(GrokConfig(p=11, d_model=16, n_heads=2, d_head=8, d_mlp=32))
    with torch.no_grad():
        for p_ in model.parameters():  # non-zero biases too
            p_.add_(0.1 * torch.randn_like(p_))
    tokens = grokking.make_data(11, 1.0)["tokens"]
    with torch.no_grad():
        assert torch.allclose(model(tokens), _naive_logits(model, tokens), atol=1e-5)
        run = model.run(tokens[:4])
    assert run["attn_pattern"].shape == (4, 2, 3) and run["mlp_post"].shape == (4, 32)
    assert torch.allclose(run["attn_pattern"].sum(-1), torch.ones(4, 2))


def test_make_data():
    d = grokking.make_data(5, 0.4, seed=1)
    assert d["tokens"].shape == (25, 3) and d["tokens"].dtype == torch.int64
    assert d["tokens"][7].tolist() == [1, 2, 5] and d["labels"][7] == 3 and d["labels"][24] == 3
    assert len(d["train_idx"]) == 10 and len(d["test_idx"]) == 15
    assert sorted(torch.cat([d["train_idx"], d["test_idx"]]).tolist()) == list(range(25))
    assert torch.equal(grokking.make_data(5, 0.4, seed=1)["train_idx"], d["train_idx"])
    assert not torch.equal(grokking.make_data(5, 0.4, seed=2)["train_idx"], d["train_idx"])


def _real_basis(p: int) -> torch.Tensor:
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.ones(p, dtype=torch.float64)]
    for k in range(1, p // 2 + 1):
        rows += [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
    b = torch.stack(rows)
    return b / b.norm(dim=1, keepdim=True)


def test_fft_analysis_equals_the_real_fourier_basis():
    p = 13
    g = torch.Generator().manual_seed(0)
    W = torch.randn(p, 5, generator=g, dtype=torch.float64)
    sq = ((_real_basis(p) @ W) ** 2).sum(-1)
    assert torch.allclose(grokking.freq_norms(W), torch.cat([sq[:1], sq[1::2] + sq[2::2]]))
    # sum_freq_part: the projection onto cos/sin(w_k (a + b)), built explicitly
    x = torch.randn(p * p, 4, generator=g, dtype=torch.float64)
    a = torch.arange(p).repeat_interleave(p).double()
    b = torch.arange(p).repeat(p).double()
    D = torch.stack([f(2 * math.pi * k * (a + b) / p) for k in (2, 5) for f in (torch.cos, torch.sin)])
    D = D / D.norm(dim=1, keepdim=True)
    assert torch.allclose(grokking.sum_freq_part(x, p, [2, 5]), D.T @ (D @ x), atol=1e-10)
    assert torch.allclose(grokking.sum_freq_part(x, p, []), torch.zeros_like(x))
    assert grokking.freq_norms(torch.ones(7, 1)).tolist()[1:] == pytest.approx([0.0] * 3, abs=1e-12)
    W_E = torch.zeros(8, 3)
    W_E[:7, 0] = torch.cos(2 * math.pi * 2 * torch.arange(7) / 7)
    W_E[:7, 1] = 0.2 * torch.sin(2 * math.pi * 3 * torch.arange(7) / 7)
    assert grokking.key_frequencies(W_E, 7) == [2] and grokking.key_share(W_E, 7, [2, 3]) == pytest.approx(1.0)


def test_progress_measures_with_no_key_frequency():
    """Excluding nothing leaves the model's train loss; restricting to nothing leaves the mean logits."""
    p = 7
    model = GrokTransformer(GrokConfig(p=p, d_model=8, n_heads=1, d_head=8, d_mlp=6))
    data = grokking.make_data(p, 0.5)
    pm_none = grokking.progress_measures(model, data, [])
    logits = model(data["tokens"]).double()
    y, tr = data["labels"], data["train_idx"]
    assert pm_none["excluded_loss"] == pytest.approx(torch.nn.functional.cross_entropy(logits[tr], y[tr]).item())
    te = data["test_idx"]
    mean = logits.mean(0).expand(len(te), p)
    assert pm_none["restricted_loss"] == pytest.approx(torch.nn.functional.cross_entropy(mean, y[te]).item())


def _tiny_spec():
    spec = registry.get("grokking-p53")
    return replace(spec, name="grokking-tiny", config=GrokConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32),
                   train=GrokTrainConfig(epochs=20, eval_every=5, snapshot_every=10), checkpoint="grokking_tiny.pt")


def test_run_spec_and_reproduce_on_a_tiny_config(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "CHECKPOINT_DIR", tmp_path)
    spec = _tiny_spec()
    side = grokking.run_spec(spec, progress=False)
    assert spec.path.is_file() and spec.sidecar()["metrics"] == side["metrics"]
    for key in ("name", "lesson", "seed", "command", "torch", "python", "model_config", "train_config", "metrics",
                "curve", "snapshots", "seconds", "key_freqs"):
        assert key in side, key
    assert side["command"] == "python -m course.models.train grokking-tiny"
    assert side["curve"]["epoch"] == [0, 5, 10, 15, 20] and side["snapshots"]["epoch"] == [0, 10, 20]
    assert set(spec.tolerances) <= set(side["metrics"])
    model = grokking.load_model(spec)
    assert not model.training and model.W_E.dtype == torch.float32
    # Same machine, same seeds, one thread: bit-identical metrics.
    assert cli.reproduce_spec(spec, progress=False) == 0
    out = capsys.readouterr().out
    assert "reproduced within tolerance" in out


@pytest.mark.parametrize("name", ["grokking-p53", "grokking-p113"])
def test_shipped_checkpoint_matches_its_sidecar(name):
    spec = registry.get(name)
    assert spec.path.is_file(), f"{spec.path} missing: run python -m course.models.train {name}"
    assert 0 < spec.size_bytes() <= registry.SIZE_BUDGET_BYTES
    side = spec.sidecar()
    assert side["model_config"] == spec.config.to_dict() and side["train_config"]["epochs"] == spec.train.epochs
    assert side["command"] == f"python -m course.models.train {name}"
    model = registry.load(name)
    got = grokking.metrics(model, spec.train)
    for key in ("test_acc", "train_acc", "key_freq_share", "n_key_freqs"):
        assert got[key] == pytest.approx(side["metrics"][key], abs=1e-4), key
    assert got["test_loss"] == pytest.approx(side["metrics"]["test_loss"], rel=1e-3, abs=1e-7)
    assert got["test_acc"] > 0.99, "the shipped model has grokked"
    assert side["key_freqs"] == grokking.key_frequencies(model.W_E.detach(), spec.config.p)


def test_fourier_gini_limits():
    p = 11
    basis = _real_basis(p)
    one = basis[[3, 4]].T.contiguous()  # frequency 2 only (cos and sin): one of 5 frequencies
    assert grokking.fourier_gini(one) == pytest.approx(4 / 5)
    assert grokking.fourier_gini(basis[1:].T) == pytest.approx(0.0, abs=1e-9)  # every frequency equally
    W = torch.stack([2 * basis[1], basis[3], torch.zeros(p, dtype=torch.float64)], 1)  # norms 2, 1, 0, 0, 0
    assert grokking.fourier_gini(W) == pytest.approx((2 * 1 + 4 * 2) / (5 * 3))


def test_neuron_freq_variance_equals_the_real_basis():
    p = 7
    g = torch.Generator().manual_seed(0)
    acts = torch.randn(p * p, 3, generator=g, dtype=torch.float64)
    B = _real_basis(p)
    C = B @ acts.T.reshape(-1, p, p) @ B.T
    want = torch.stack([C[:, [2 * k - 1, 2 * k], 0].pow(2).sum(1) + C[:, 0, [2 * k - 1, 2 * k]].pow(2).sum(1)
                        + C[:, [2 * k - 1, 2 * k]][:, :, [2 * k - 1, 2 * k]].pow(2).sum((1, 2)) for k in range(1, 4)], 1)
    assert torch.allclose(grokking.neuron_freq_variance(acts, p), want / (p * p), atol=1e-12)
    a = torch.arange(p).repeat_interleave(p).double()
    pure = torch.stack([torch.cos(2 * math.pi * 2 * (a + torch.arange(p).repeat(p)) / p), torch.zeros(p * p)], 1)
    res = grokking.neurons_explained(pure, p)
    assert res["n_live"] == 1 and res["share"] == 1.0 and res["best"] == [2]


def test_phase_summary_on_a_hand_made_run():
    curve = {"epoch": [0, 10, 20, 30, 40, 50, 60], "train_acc": [0.1, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0],
             "test_loss": [4.0, 8.0, 12.0, 11.0, 9.0, 5.0, 0.1], "test_acc": [0, 0, 0, 0, 0, 0.5, 1.0]}
    snaps = {"epoch": [0, 15, 30, 45, 60], "restricted_loss": [4.0, 3.0, 1.0, 0.2, 0.01],
             "excluded_loss": [4.0, 0.5, 0.3, 3.5, 3.1]}
    assert grokking.phase_summary(curve, snaps) == {"mem": 20, "grok": 60, "test_at_mem": 12.0, "r10": 45,
                                                    "test_at_r10": 9.0, "e10": 45, "test_at_e10": 9.0, "half": 50}


PLATEAU = 4.0  # lesson 4.1's find_phases_test_2


def _runs_with_phases():
    side53, side113 = registry.get("grokking-p53").sidecar(), registry.get("grokking-p113").sidecar()
    runs = [("p53 seed 0", side53["curve"], side53["snapshots"]), ("p113", side113["curve"], side113["snapshots"])]
    return runs + [(f"p53 seed {r['seed']}", r["curve"], r["snapshots"]) for r in side53["seed_runs"]]


def test_shipped_runs_show_the_plateau():
    """What the README and lesson 4.1 claim: in every shipped run (p = 53, three seeds; p = 113) the restricted
    loss falls 10x while the test loss stays within 4x of its memorisation level, and the excluded loss rises 10x
    before the test loss halves."""
    runs = _runs_with_phases()
    assert len(runs) == 4
    for name, curve, snaps in runs:
        ph = grokking.phase_summary(curve, snaps)
        assert min(ph["mem"], ph["r10"], ph["e10"], ph["half"]) >= 0, (name, ph)
        assert ph["test_at_r10"] > ph["test_at_mem"] / PLATEAU, (name, ph)
        assert ph["e10"] < ph["half"], (name, ph)
    side53 = registry.get("grokking-p53").sidecar()
    assert side53["phases"] == grokking.phase_summary(side53["curve"], side53["snapshots"])
