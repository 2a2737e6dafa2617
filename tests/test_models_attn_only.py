"""course.models.attn_only: the induction-heads model family of lesson 3.2 and its shipped checkpoint."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from course.models import attn_only as ao  # noqa: E402
from course.models import cli, registry  # noqa: E402


def _tiny_spec():
    return replace(
        registry.get("induction-2l"),
        name="tiny-induction",
        train=replace(registry.get("induction-2l").train, steps=12, batch_size=8, eval_every=4, eval_batch=8),
        checkpoint="tiny_induction.pt",
    )


def test_registered_with_its_lesson():
    spec = registry.get("induction-2l")
    assert spec.module == "attn_only" and spec.lesson == "3.2"
    assert spec.config == ao.AttnOnlyConfig() and spec.train == ao.InductionTrainConfig()


def test_repeated_tokens():
    tokens = ao.repeated_tokens(5, 7, 64, torch.Generator().manual_seed(0))
    assert tokens.shape == (5, 15) and tokens.dtype == torch.int64
    assert (tokens[:, 0] == ao.BOS).all() and torch.equal(tokens[:, 1:8], tokens[:, 8:])
    assert tokens[:, 1:].min() >= 1 and tokens.max() < 64
    expected = torch.randint(1, 64, (5, 7), generator=torch.Generator().manual_seed(0))
    assert torch.equal(tokens[:, 1:8], expected)


def test_periodic_tokens():
    tokens = ao.periodic_tokens(200, 64, 64, 8, 32, torch.Generator().manual_seed(0))
    assert tokens.shape == (200, 65) and (tokens[:, 0] == ao.BOS).all() and tokens[:, 1:].min() >= 1
    body = tokens[:, 1:]
    periods = []
    for row in body:
        p = next(p for p in range(1, 65) if torch.equal(row[p:], row[:-p]))
        periods.append(p)
    # the smallest period of a row divides its drawn period; almost always it is the period itself
    assert 8 <= min(periods) and max(periods) <= 32 and len(set(periods)) > 15


def test_model_is_causal_and_patterns_are_distributions():
    torch.manual_seed(0)
    model = ao.AttnOnlyTransformer(ao.AttnOnlyConfig()).eval()
    a = ao.repeated_tokens(2, 32, generator=torch.Generator().manual_seed(1))
    b = a.clone()
    b[:, 40:] = (b[:, 40:] % 63) + 1
    with torch.no_grad():
        la, patterns = model.run_with_patterns(a)
        assert torch.allclose(model(b)[:, :40], la[:, :40])
    assert la.shape == (2, 65, 64) and len(patterns) == 2 and patterns[0].shape == (2, 4, 65, 65)
    assert torch.allclose(patterns[1].sum(-1), torch.ones(2, 4, 65))
    assert (patterns[0].triu(1) == 0).all()
    with pytest.raises(ValueError, match="n_ctx"):
        model(torch.zeros(1, 66, dtype=torch.long))


def test_head_scores_on_hand_made_patterns():
    seq_len, T = 4, 9
    prev = torch.zeros(1, 1, T, T)
    prev[0, 0, 0, 0] = 1
    prev[0, 0, torch.arange(1, T), torch.arange(T - 1)] = 1
    ind = torch.zeros(1, 1, T, T)
    ind[0, 0, :, 0] = 1  # everything on BOS ...
    q = torch.arange(seq_len + 1, T)
    ind[0, 0, q] = 0
    ind[0, 0, q, q - seq_len + 1] = 1  # ... except the repeated half, on the token after the first copy
    p_scores, i_scores = ao.head_scores([torch.cat([prev, ind], dim=1)], seq_len)
    assert torch.allclose(p_scores, torch.tensor([[1.0, 1 / 8]]))
    assert torch.allclose(i_scores, torch.tensor([[0.0, 1.0]]))


def test_per_token_loss_matches_cross_entropy():
    logits = torch.randn(3, 6, 10)
    tokens = torch.randint(0, 10, (3, 6))
    expected = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 10), tokens[:, 1:].reshape(-1),
                                                 reduction="none").view(3, 5)
    assert torch.allclose(ao.per_token_loss(logits, tokens), expected, atol=1e-6)


def test_run_spec_on_a_tiny_run_and_reproduce(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "CHECKPOINT_DIR", tmp_path)
    spec = _tiny_spec()
    side = ao.run_spec(spec, progress=False)
    assert spec.path.is_file() and spec.sidecar()["metrics"] == side["metrics"]
    for key in ("name", "lesson", "seed", "command", "torch", "python", "model_config", "train_config",
                "metrics", "curve", "seconds", "sample"):
        assert key in side, key
    assert side["command"] == "python -m course.models.train tiny-induction"
    assert all(isinstance(v, float) for v in side["metrics"].values())
    assert set(spec.tolerances) <= set(side["metrics"])
    assert side["curve"]["step"] == [0, 4, 8, 12]
    assert len(side["curve"]["induction_scores"][-1]) == 2 and len(side["curve"]["induction_scores"][-1][1]) == 4
    state = torch.load(spec.path, weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values())
    # The float16 checkpoint gives back the sidecar's numbers.
    model = ao.load_model(spec)
    got = ao.evaluate(model, ao.eval_tokens(spec.train, spec.config.d_vocab), spec.train.eval_seq_len)
    assert got["repeated_loss"] == pytest.approx(side["metrics"]["repeated_loss"], abs=1e-4)
    # Same machine, same seed, one thread: a retrain is bit-identical.
    assert cli.reproduce_spec(spec, progress=False) == 0
    out = capsys.readouterr().out
    assert "reproduced within tolerance" in out
    for line in out.splitlines():
        if line.startswith(tuple(spec.tolerances)):
            assert line.split()[3] == "0.0000", line
    side["metrics"]["repeated_loss"] += 1.0
    spec.sidecar_path.write_text(json.dumps(side))
    assert cli.reproduce_spec(spec, progress=False) == 1


def test_shipped_checkpoint_has_induction_heads():
    spec = registry.get("induction-2l")
    side = spec.sidecar()
    assert side["model_config"] == spec.config.to_dict() and side["train_config"] == spec.train.to_dict()
    assert 0 < spec.size_bytes() <= registry.SIZE_BUDGET_BYTES
    model = registry.load("induction-2l")
    assert not model.training and model.W_E.dtype == torch.float32
    tokens = ao.eval_tokens(spec.train, spec.config.d_vocab)
    got = ao.evaluate(model, tokens, spec.train.eval_seq_len)
    m = side["metrics"]
    assert got["repeated_loss"] == pytest.approx(m["repeated_loss"], abs=1e-3)
    assert got["first_half_loss"] == pytest.approx(m["first_half_loss"], abs=1e-3)
    assert got["induction_scores"][1].max().item() == pytest.approx(m["max_induction_score"], abs=1e-3)
    assert got["prev_token_scores"][0].max().item() == pytest.approx(m["max_prev_token_score"], abs=1e-3)
    # What lesson 3.2 relies on: in-context copying, done by layer-1 induction heads.
    assert m["repeated_loss"] < 1.0 < 3.5 < m["first_half_loss"]
    assert got["induction_scores"][1].max() > 0.5 and got["induction_scores"][0].max() < 0.1
    assert got["prev_token_scores"][0].max() > 0.35
    curve = side["curve"]
    assert curve["step"][-1] == spec.train.steps and len(curve["repeated_loss"]) == len(curve["step"])
    assert curve["repeated_loss"][0] > 3.5 and 0 < m["phase_change_step"] < spec.train.steps


def test_ablated_logits_zeroes_a_head_at_the_given_positions_only():
    torch.manual_seed(0)
    model = ao.AttnOnlyTransformer(ao.AttnOnlyConfig(n_ctx=12)).eval()
    tokens = torch.randint(1, 64, (3, 12))
    with torch.no_grad():
        assert torch.allclose(ao.ablated_logits(model, tokens, []), model(tokens), atol=1e-6)
        # Zeroing z everywhere is zeroing the head's W_O.
        edited = ao.AttnOnlyTransformer(model.cfg)
        edited.load_state_dict(model.state_dict())
        edited.blocks[0].W_O[2] = 0.0
        assert torch.allclose(ao.ablated_logits(model, tokens, [(0, 2)]), edited(tokens), atol=1e-5)
        # A layer-1 head ablated at position 7 changes the logits at position 7 and nowhere else.
        diff = (ao.ablated_logits(model, tokens, [(1, 0)], [7]) - model(tokens)).abs().amax(dim=(0, 2))
        assert diff[7] > 0 and torch.all(diff[torch.arange(12) != 7] == 0)


def test_text_tokens_are_windows_of_stdlib_source_in_the_vocabulary():
    got = ao.text_tokens(4, 20, 64, torch.Generator().manual_seed(0))
    assert got.shape == (4, 21) and got.dtype == torch.int64
    assert torch.all(got[:, 0] == ao.BOS) and got[:, 1:].min() >= 1 and got[:, 1:].max() <= 63
    assert torch.equal(got, ao.text_tokens(4, 20, 64, torch.Generator().manual_seed(0)))
    # The most common byte of Python source (the space) is token 1.
    assert (got[:, 1:] == 1).float().mean() > 0.1


def test_on_eval_keeps_a_snapshot_per_evaluation_and_changes_nothing():
    spec = _tiny_spec()
    seen = []
    _, plain = ao.train(spec.config, spec.train, progress=False)
    _, record = ao.train(spec.config, spec.train, progress=False,
                         on_eval=lambda m, step: seen.append((step, m.training)) or step)
    assert record["snapshots"] == [0, 4, 8, 12] and "snapshots" not in plain
    assert record["curve"] == plain["curve"]
