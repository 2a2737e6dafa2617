"""course.models.ioi: the IOI task, the hooked forward pass, and the shipped checkpoint of lesson 3.3."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from course.models import cli, ioi, registry  # noqa: E402


def _tiny_spec():
    spec = registry.get("ioi-3l")
    return replace(spec, name="tiny-ioi", checkpoint="tiny_ioi.pt",
                   train=replace(spec.train, steps=12, batch_size=8, eval_every=4, eval_batch=16))


def test_registered_with_its_lesson():
    spec = registry.get("ioi-3l")
    assert spec.module == "ioi" and spec.lesson == "3.3"
    assert spec.config == ioi.model_config() and spec.train == ioi.IOITrainConfig()


def test_prompts_put_every_name_where_the_batch_says():
    batch = ioi.make_batch(200, torch.Generator().manual_seed(0))
    rows = torch.arange(200)
    assert batch.tokens.shape == (200, ioi.N_CTX) and batch.tokens.dtype == torch.int64
    assert (batch.tokens[:, 0] == ioi.TOKEN[ioi.BOS]).all()
    assert torch.equal(batch.tokens[rows, batch.io_pos], batch.io)
    assert torch.equal(batch.tokens[rows, batch.s1_pos], batch.s)
    assert torch.equal(batch.tokens[rows, batch.s2_pos], batch.s)
    assert (batch.io != batch.s).all()
    assert (batch.s1_pos < batch.s2_pos).all() and (batch.io_pos < batch.s2_pos).all() and (batch.s2_pos < batch.end).all()
    assert torch.equal(batch.abba, batch.io_pos < batch.s1_pos)
    assert (batch.tokens[rows, batch.end] == ioi.TOKEN["to"]).all()
    after_end = torch.arange(ioi.N_CTX)[None, :] > batch.end[:, None]
    assert (batch.tokens[after_end] == ioi.TOKEN[ioi.PAD]).all()
    assert len(set(batch.template.tolist())) == len(ioi.TEMPLATES) and 0.35 < batch.abba.float().mean() < 0.65
    words = [ioi.VOCAB[t] for t in ioi.make_batch(1, template=0, names=torch.tensor([[0, 1]])).tokens[0, 1:]]
    assert words[:4] in (["When", "Mary", "and", "John"], ["When", "John", "and", "Mary"])
    assert words[9] == "John"


def test_abc_corruption_changes_only_the_names():
    gen = torch.Generator().manual_seed(1)
    batch = ioi.make_batch(100, gen)
    corrupted = ioi.abc_corrupt(batch, gen)
    rows = torch.arange(100)
    changed = corrupted != batch.tokens
    name_pos = torch.zeros_like(changed)
    for pos in (batch.io_pos, batch.s1_pos, batch.s2_pos):
        name_pos[rows, pos] = True
    assert not changed[~name_pos].any()
    names = torch.stack([corrupted[rows, p] for p in (batch.io_pos, batch.s1_pos, batch.s2_pos)], 1)
    assert all(len(set(r)) == 3 for r in names.tolist()) and torch.isin(names, ioi.NAME_IDS).all()


def test_run_with_hooks_matches_the_model_and_patches():
    torch.manual_seed(0)
    model = ioi.AttnOnlyTransformer(ioi.model_config()).eval()
    batch = ioi.make_batch(8, torch.Generator().manual_seed(2))
    cache = {}
    with torch.no_grad():
        logits = ioi.run_with_hooks(model, batch.tokens, cache=cache)
        assert torch.allclose(logits, model(batch.tokens), atol=1e-5)
        assert cache["blocks.1.attn.hook_z"].shape == (8, ioi.N_CTX, 4, 16)
        assert cache["blocks.2.attn.hook_pattern"].shape == (8, 4, ioi.N_CTX, ioi.N_CTX)
        # zeroing every head's z leaves the embeddings alone
        zero = {f"blocks.{i}.attn.hook_z": torch.zeros_like for i in range(3)}
        x0 = model.W_E[batch.tokens] + model.W_pos[: ioi.N_CTX]
        assert torch.allclose(ioi.run_with_hooks(model, batch.tokens, zero), x0 @ model.W_U, atol=1e-5)


def test_logit_diff():
    logits = torch.randn(3, ioi.N_CTX, len(ioi.VOCAB))
    batch = ioi.make_batch(3, torch.Generator().manual_seed(3))
    want = torch.stack([logits[b, batch.end[b], batch.io[b]] - logits[b, batch.end[b], batch.s[b]] for b in range(3)])
    assert torch.allclose(ioi.logit_diff(logits, batch), want)


def test_run_spec_on_a_tiny_run_and_reproduce(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "CHECKPOINT_DIR", tmp_path)
    spec = _tiny_spec()
    side = ioi.run_spec(spec, progress=False)
    assert spec.path.is_file() and spec.sidecar()["metrics"] == side["metrics"]
    for key in ("name", "lesson", "seed", "command", "torch", "python", "model_config", "train_config",
                "metrics", "curve", "seconds", "sample"):
        assert key in side, key
    assert side["command"] == "python -m course.models.train tiny-ioi"
    assert set(spec.tolerances) <= set(side["metrics"]) and side["curve"]["step"] == [0, 4, 8, 12]
    state = torch.load(spec.path, weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values())
    model = ioi.load_model(spec)
    assert ioi.metrics(model, spec.train)["loss"] == pytest.approx(side["metrics"]["loss"], abs=1e-4)
    assert cli.reproduce_spec(spec, progress=False) == 0
    assert "reproduced within tolerance" in capsys.readouterr().out
    side["metrics"]["accuracy"] += 1.0
    spec.sidecar_path.write_text(json.dumps(side))
    assert cli.reproduce_spec(spec, progress=False) == 1


def test_shipped_checkpoint_solves_the_task():
    spec = registry.get("ioi-3l")
    side = spec.sidecar()
    assert side["model_config"] == spec.config.to_dict() and side["train_config"] == spec.train.to_dict()
    assert 0 < spec.size_bytes() <= registry.SIZE_BUDGET_BYTES
    model = registry.load("ioi-3l")
    got = ioi.metrics(model, spec.train)
    for key, value in got.items():
        assert value == pytest.approx(side["metrics"][key], abs=1e-3), key
    # What lesson 3.3 relies on: the task solved with a large margin, after a plateau.
    assert side["metrics"]["accuracy"] > 0.99 and side["metrics"]["logit_diff"] > 8
    assert 0 < side["metrics"]["phase_change_step"] < spec.train.steps
    assert side["curve"]["accuracy"][0] < 0.2


def test_the_shipped_model_as_a_transformer_bridge():
    pytest.importorskip("transformer_lens")
    from course.models import tlens

    model = registry.load("ioi-3l")
    bridge = tlens.load_bridge("ioi-3l")
    batch = ioi.make_batch(4, torch.Generator().manual_seed(4))
    with torch.no_grad():
        logits, cache = bridge.run_with_cache(batch.tokens)
        ours = {}
        assert torch.allclose(logits, ioi.run_with_hooks(model, batch.tokens, cache=ours), atol=1e-4)
    # the hook names of ioi.run_with_hooks are the bridge's
    assert torch.allclose(cache["blocks.2.attn.hook_pattern"], ours["blocks.2.attn.hook_pattern"], atol=1e-5)
    assert torch.allclose(cache["blocks.1.attn.hook_z"], ours["blocks.1.attn.hook_z"], atol=1e-5)
