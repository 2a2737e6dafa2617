"""course.models.facts: the synthetic facts, the hooked forward pass, and the shipped checkpoint of lesson 4.5."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from course.models import cli, facts, registry  # noqa: E402
from course.models.gpt import GPT  # noqa: E402


def _tiny_spec():
    spec = registry.get("facts-gpt")
    return replace(spec, name="tiny-facts", checkpoint="tiny_facts.pt",
                   train=replace(spec.train, steps=8, batch_size=8, eval_every=4, warmup=2))


def test_registered_with_its_lesson():
    spec = registry.get("facts-gpt")
    assert spec.module == "facts" and spec.lesson == "4.5"
    assert spec.config == facts.model_config() and spec.train == facts.FactsTrainConfig()


def test_subjects_are_distinct_three_token_names_and_prompts_say_where():
    assert len(set(facts.SUBJECTS)) == facts.N_SUBJECTS and all(len(s) == 3 for s in facts.SUBJECTS)
    # no single token identifies a subject
    assert all(sum(s[0] == f for s in facts.SUBJECTS) > 1 for f in facts.FIRST)
    p = facts.encode(3, "job", 2, ("so", "then"))
    words = [facts.VOCAB[t] for t in p.tokens]
    assert words[:6] == ["<bos>", "so", "then", "the", "job", "of"] and words[-1] == "is"
    assert tuple(words[i] for i in p.subject_pos) == facts.SUBJECTS[3]
    assert facts.VOCAB[facts.answer(3, "job")] in facts.RELATIONS["job"][0]
    assert max(len(q.tokens) for q in facts.all_prompts(False, ("so",) * facts.MAX_PREFIX)) <= facts.N_CTX


def test_training_never_shows_the_held_out_paraphrase(monkeypatch):
    monkeypatch.setattr(facts, "random_prefix", lambda g, max_len=facts.MAX_PREFIX: [])
    tokens, end, target = facts.training_batch(600, torch.Generator().manual_seed(0))
    held = {tuple(p.tokens) for p in facts.all_prompts(held_out=True)}
    seen = {tuple(row[: e + 1]) for row, e in zip(tokens.tolist(), end.tolist())}
    assert not seen & held
    assert len(seen & {tuple(p.tokens) for p in facts.all_prompts(held_out=False)}) == len(seen)
    assert len(held) == facts.N_SUBJECTS * len(facts.REL_NAMES)


def test_run_with_hooks_matches_the_model_and_patches():
    torch.manual_seed(0)
    model = GPT(facts.model_config()).eval()
    tokens, _, _ = facts.training_batch(6, torch.Generator().manual_seed(2))
    cache = {}
    with torch.no_grad():
        logits = facts.run_with_hooks(model, tokens, cache=cache)
        assert torch.allclose(logits, model(tokens), atol=1e-5)
        assert cache["blocks.1.mlp.hook_post"].shape == (6, tokens.shape[1], model.cfg.d_mlp)
        # zeroing every MLP and attention output leaves the embeddings alone
        zero = {f"blocks.{i}.hook_{k}_out": torch.zeros_like for i in range(model.cfg.n_layers) for k in ("mlp", "attn")}
        x0 = model.wte(tokens) + model.wpe(torch.arange(tokens.shape[1]))
        assert torch.allclose(facts.run_with_hooks(model, tokens, zero), model.unembed(model.ln_f(x0)), atol=1e-5)


def test_run_spec_on_a_tiny_run_and_reproduce(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "CHECKPOINT_DIR", tmp_path)
    spec = _tiny_spec()
    side = facts.run_spec(spec, progress=False)
    assert spec.path.is_file() and spec.sidecar()["metrics"] == side["metrics"]
    for key in ("name", "lesson", "seed", "command", "torch", "python", "model_config", "train_config",
                "metrics", "curve", "seconds"):
        assert key in side, key
    assert set(spec.tolerances) <= set(side["metrics"]) and side["curve"]["step"] == [0, 4, 8]
    state = torch.load(spec.path, weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values())
    assert facts.metrics(facts.load_model(spec)) == side["metrics"]
    assert cli.reproduce_spec(spec, progress=False) == 0
    assert "reproduced within tolerance" in capsys.readouterr().out
    side["metrics"]["train_accuracy"] += 1.0
    spec.sidecar_path.write_text(json.dumps(side))
    assert cli.reproduce_spec(spec, progress=False) == 1


def test_shipped_checkpoint_knows_its_facts():
    spec = registry.get("facts-gpt")
    side = spec.sidecar()
    assert side["model_config"] == spec.config.to_dict() and side["train_config"] == spec.train.to_dict()
    assert 0 < spec.size_bytes() <= registry.SIZE_BUDGET_BYTES
    got = facts.metrics(registry.load("facts-gpt"))
    for key, value in got.items():
        assert value == pytest.approx(side["metrics"][key], abs=1e-3), key
    # What lesson 4.5 relies on: every trained fact known, and the held-out paraphrase mostly answered.
    assert side["metrics"]["train_accuracy"] > 0.99 and side["metrics"]["held_out_accuracy"] > 0.9


def test_use_subjects_rebinds_the_names_and_restores_the_shipped_ones():
    shipped = list(facts.SUBJECTS)
    try:
        facts.use_subjects(300, 7)
        assert facts.N_SUBJECTS == 300 and len(set(facts.SUBJECTS)) == 300
        assert {s[0] for s in facts.SUBJECTS} == set(facts.FIRST[:7]) and {s[2] for s in facts.SUBJECTS} == set(facts.LAST[:7])
        assert all(len(v) == 300 for v in facts.FACTS.values())
        assert len(facts.all_prompts(held_out=True)) == 300 * len(facts.REL_NAMES)
        with pytest.raises(ValueError):
            facts.use_subjects(400, 7)
    finally:
        facts.use_subjects()
    assert facts.SUBJECTS == shipped and facts.N_SUBJECTS == 150
