"""course.models: shipped checkpoints, the registry, the corpus, reproduction, the TransformerLens bridge."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from course import data  # noqa: E402
from course.models import cli, registry  # noqa: E402
from course.models.gpt import GPT, GPTConfig, decode, encode  # noqa: E402
from course.models.train import TrainConfig, eval_windows, evaluate  # noqa: E402


@pytest.fixture(scope="module")
def corpus():
    c = data.stdlib_corpus()
    print(c.describe())  # -rA shows which corpus a run used
    return c


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_import_course_models_is_light():
    code = "import sys, course.models, course.models.registry, course.models.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "importing course.models must not import torch"


def test_corpus_hash_and_split(corpus, tmp_path):
    assert len(corpus.train) > 1_000_000 and len(corpus.val) > 50_000
    assert corpus.sha256 == data.corpus_sha256(corpus.train, corpus.val)
    assert data.stdlib_corpus().sha256 == corpus.sha256, "the corpus must be the same on every call"
    assert not set(data.STDLIB_TRAIN_FILES) & set(data.STDLIB_VALIDATION_FILES), "validation files are held out"
    assert corpus.tokens("val", torch=True).dtype == torch.int64
    # A different stdlib (another Python version) gives a different hash, and says so.
    (tmp_path / "abc.py").write_text("x = 1\r\n")
    (tmp_path / "heapq.py").write_text("y = 2\n")
    other = data.stdlib_corpus(tmp_path)
    assert other.train == b"x = 1\n" and other.val == b"y = 2\n"
    assert not other.matches_reference and "NOT the reference" in other.describe()
    assert "argparse.py" in other.missing and "abc.py" not in other.missing
    assert other.sha256 == data.corpus_sha256(b"x = 1\n", b"y = 2\n") != corpus.sha256


def test_registry_matches_files():
    """Every family's shipped models: checkpoint present, within budget, sidecar consistent."""
    assert "stdlib-gpt" in registry.names() and len(set(registry.names())) == len(registry.names())
    for spec in registry.all_models():
        assert spec.module in registry.family_modules(), f"{spec.name}: no family module"
        assert spec.path.is_file(), f"{spec.name}: checkpoint {spec.path} missing"
        assert 0 < spec.size_bytes() <= registry.SIZE_BUDGET_BYTES, f"{spec.name}: over the size budget"
        side = spec.sidecar()
        for key in ("name", "lesson", "seed", "command", "torch", "metrics", "model_config", "seconds"):
            assert key in side, f"{spec.name}: sidecar lacks {key!r}"
        assert side["name"] == spec.name and side["lesson"] == spec.lesson
        assert side["command"] == f"python -m course.models.train {spec.name}"
        assert set(spec.tolerances) <= set(side["metrics"]) and set(spec.tolerances_other_corpus) <= set(side["metrics"])
        model = registry.load(spec.name)  # every shipped model loads offline, in eval mode
        assert not model.training


def test_gpt_family_checkpoint_matches_its_config():
    spec = registry.get("stdlib-gpt")
    side = spec.sidecar()
    assert side["model_config"] == spec.config.to_dict(), "sidecar config differs from the registry's"
    assert side["train_config"]["steps"] == spec.train.steps and side["seed"] == spec.train.seed
    assert len(side["corpus"]["sha256"]) == 64
    state = torch.load(spec.path, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values())
    expected = {k: v.shape for k, v in GPT(spec.config).state_dict().items()}
    assert {k: v.shape for k, v in state.items()} == expected


def test_checkpoint_loads_offline_and_matches_its_metrics(no_network, corpus):
    spec = registry.get("stdlib-gpt")
    model = registry.load("stdlib-gpt")
    assert not model.training and model.wte.weight.dtype == torch.float32
    side = spec.sidecar()
    if corpus.sha256 != side["corpus"]["sha256"]:
        pytest.skip(f"a different corpus ({corpus.describe()}): the shipped metrics do not apply")
    windows = eval_windows(corpus.tokens("val", torch=True), spec.config.n_ctx, spec.train.eval_windows)
    got = evaluate(model, windows)
    assert got["loss"] == pytest.approx(side["metrics"]["val_loss"], abs=1e-3)
    assert got["accuracy"] == pytest.approx(side["metrics"]["val_accuracy"], abs=1e-3)
    assert side["metrics"]["val_loss"] < 1.8, "the shipped model should write plausible Python"


def test_encode_decode_roundtrip():
    text = "def f(x):\n    return x  # é"
    assert decode(encode(text)) == text
    assert encode("A").tolist() == [65]


def test_model_is_causal():
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_ctx=16, d_model=32, n_layers=1, n_heads=2, d_mlp=64)).eval()
    a = torch.randint(0, 256, (1, 12))
    b = a.clone()
    b[0, 8:] = (b[0, 8:] + 1) % 256
    with torch.no_grad():
        assert torch.allclose(model(a)[0, :8], model(b)[0, :8])
    with pytest.raises(ValueError, match="n_ctx"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_attention_window_limits_what_each_layer_sees():
    """attn_window: layer l's query at t reads only keys in (t - w, t]; None is plain causal attention."""
    base = GPTConfig(d_vocab=20, n_ctx=10, d_model=16, n_layers=2, n_heads=2, d_mlp=32)
    assert base.attn_window is None and "attn_window" not in base.to_dict()  # old sidecars unchanged
    torch.manual_seed(0)
    plain = GPT(base).eval()
    same = GPT(replace(base, attn_window=[None, None])).eval()  # a JSON list is accepted and made a tuple
    assert same.cfg.attn_window == (None, None)
    same.load_state_dict(plain.state_dict())  # no new parameters or buffers in the checkpoint
    x = torch.randint(0, 20, (2, 10))
    with torch.no_grad():
        assert torch.equal(plain(x), same(x))
    # windows of 1 then 2: position t depends on tokens t-1 and t only (one layer reaches one step back)
    local = GPT(replace(base, attn_window=(1, 2))).eval()
    for changed, moves in [(5, [5, 6]), (0, [0, 1])]:
        y = x.clone()
        y[:, changed] = (y[:, changed] + 1) % 20
        with torch.no_grad():
            diff = (local(x) - local(y)).abs().amax((0, 2))
        assert (diff[moves] > 0).all() and diff[[t for t in range(10) if t not in moves]].max() == 0, diff
    # layer 0 with a window of 1: its attention returns each token's own value, whatever the others are
    attn = local.blocks[0].attn
    h = torch.randn(1, 10, 16)
    with torch.no_grad():
        own = attn.proj(attn.v(h))
        assert torch.allclose(attn(h), own, atol=1e-6)
    with pytest.raises(ValueError, match="attn_window"):
        GPTConfig(n_layers=2, attn_window=(1,))
    with pytest.raises(ValueError, match="attn_window"):
        GPTConfig(n_layers=1, attn_window=(0,))


def _tiny_spec():
    return replace(
        registry.get("stdlib-gpt"),
        name="tiny-test",
        config=GPTConfig(n_ctx=16, d_model=16, n_layers=1, n_heads=2, d_mlp=32),
        train=TrainConfig(steps=6, batch_size=4, warmup=2, eval_every=3, eval_windows=8, log_every=2),
        checkpoint="tiny_test.pt",
    )


def test_reproduce_on_a_tiny_config(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "CHECKPOINT_DIR", tmp_path)
    spec = _tiny_spec()
    from course.models.train import run_spec

    shipped = run_spec(spec, progress=False)  # "ship" it into tmp_path
    assert spec.path.is_file() and spec.sidecar()["metrics"] == shipped["metrics"]
    assert cli.reproduce_spec(spec, progress=False) == 0
    out = capsys.readouterr().out
    assert "reproduced within tolerance" in out and "shipped" in out and "retrained" in out
    # Same machine, same seed, one thread: bit-identical, not just within tolerance.
    for line in out.splitlines():
        if line.startswith(("val_loss", "train_loss", "val_accuracy")):
            assert line.split()[3] == "0.0000", line
    # A shipped metric outside the tolerance makes reproduce fail.
    side = spec.sidecar()
    side["metrics"]["val_loss"] += 1.0
    spec.sidecar_path.write_text(json.dumps(side))
    assert cli.reproduce_spec(spec, progress=False) == 1
    assert "OUTSIDE" in capsys.readouterr().out


def test_compare_rows():
    rows, ok = cli.compare({"a": 1.0, "b": 2.0}, {"a": 1.02, "b": 2.5}, {"a": 0.03, "b": 0.1})
    assert not ok and [r[-1] for r in rows] == [True, False]
    rows, ok = cli.compare({"a": 1.0}, {}, {"a": 0.1})
    assert not ok and "-" in cli.format_rows(rows)


def test_cli_models_lists_every_model(capsys):
    parser = argparse.ArgumentParser(prog="bootcamp")
    cli.add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["models"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "stdlib-gpt" in out and "lesson 2.2" in out and "val_loss" in out and "MB" in out
    args = parser.parse_args(["reproduce", "no-such-model"])
    assert args.func(args) == 2


def test_bridge_logits_equal_the_course_model(no_network):
    from course.models import tlens

    model = registry.load("stdlib-gpt")
    bridge = tlens.to_bridge(model)
    tokens = encode("def main(argv):\n    parser = argparse.ArgumentParser()\n")[None]
    with torch.no_grad():
        ours, theirs = model(tokens), bridge(tokens)
    assert theirs.shape == ours.shape
    assert torch.allclose(theirs, ours, atol=1e-4), f"max |diff| {(theirs - ours).abs().max():.2e}"
    _, cache = bridge.run_with_cache(tokens)
    assert cache["blocks.0.attn.hook_pattern"].shape == (1, 4, tokens.shape[1], tokens.shape[1])


def test_toy_model_shapes_and_determinism():
    from course.models import toy

    cfg = toy.ToyConfig(n_features=5, n_hidden=2, n_instances=3, feature_probability=(1.0, 0.1, 0.01))
    a = toy.train_toy(cfg, steps=20, batch_size=64, progress=False)
    b = toy.train_toy(cfg, steps=20, batch_size=64, progress=False)
    assert torch.equal(a.W, b.W), "same seed, same weights"
    x = a.batch(7)
    assert x.shape == (7, 3, 5) and a(x).shape == (7, 3, 5) and a.hidden(x).shape == (7, 3, 2)
    assert toy.represented(a).shape == (3, 5)
    with pytest.raises(ValueError, match="levels"):
        toy.ToyConfig(n_instances=2, feature_probability=(1.0,)).probabilities()
