"""course.models.othello: the 6x6 Othello engine, the move-sequence GPT of lesson 4.4 and its checkpoint."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from course.models import cli, registry  # noqa: E402
from course.models import othello as oth  # noqa: E402


def _naive_legal(board, player):
    board = np.asarray(board).reshape(6, 6)
    out = np.zeros(36, dtype=bool)
    for r in range(6):
        for c in range(6):
            if board[r, c]:
                continue
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc, n = r + dr, c + dc, 0
                    while (dr or dc) and 0 <= rr < 6 and 0 <= cc < 6 and board[rr, cc] == 3 - player:
                        rr, cc, n = rr + dr, cc + dc, n + 1
                    if n and 0 <= rr < 6 and 0 <= cc < 6 and board[rr, cc] == player:
                        out[6 * r + c] = True
    return out


def _naive_play(board, player, sq):
    new = np.array(board).reshape(6, 6)
    r, c = divmod(sq, 6)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            rr, cc, line = r + dr, c + dc, []
            while (dr or dc) and 0 <= rr < 6 and 0 <= cc < 6 and new[rr, cc] == 3 - player:
                line.append((rr, cc))
                rr, cc = rr + dr, cc + dc
            if line and 0 <= rr < 6 and 0 <= cc < 6 and new[rr, cc] == player:
                for a, b in line:
                    new[a, b] = player
    new[r, c] = player
    return new.reshape(-1)


def test_registered_with_its_lesson_and_within_budget():
    spec = registry.get("othello-gpt")
    assert spec.module == "othello" and spec.lesson == "4.4"
    assert spec.config == oth.OthelloConfig() and spec.train == oth.OthelloTrainConfig()
    if spec.path.is_file():
        assert spec.size_bytes() <= registry.SIZE_BUDGET_BYTES
        assert set(spec.tolerances) <= set(spec.sidecar()["metrics"])


def test_the_engine_agrees_with_a_plain_loop_implementation():
    games = oth.random_games(60, seed=11)
    states, lengths = oth.board_states(games), oth.game_lengths(games)
    legal = oth.legal_move_masks(states)
    assert games.shape == (60, 32) and states.shape == (60, 33, 36) and legal.shape == (60, 33, 36)
    assert [oth.square_name(s) for s in np.flatnonzero(legal[0, 0])] == ["B3", "C2", "D5", "E4"]
    for i in range(60):
        n = lengths[i]
        assert (games[i, n:] == -1).all() and (games[i, :n] >= 0).all()
        for t in range(n + 1):
            player = 1 + t % 2
            assert np.array_equal(legal[i, t], _naive_legal(states[i, t], player)), (i, t)
            if t < n:
                assert legal[i, t, games[i, t]]
                assert np.array_equal(states[i, t + 1], _naive_play(states[i, t], player, games[i, t])), (i, t)
        # the game ended because the player to move had no move, and it was not a pass: nobody can move
        assert not legal[i, n].any()
        if n < 32:
            assert not _naive_legal(states[i, n], 2 - n % 2).any()
        assert (states[i, n + 1:] == states[i, n]).all()


def test_random_games_are_seeded_and_labels_relative():
    a, b = oth.random_games(20, seed=3), oth.random_games(20, seed=3)
    assert np.array_equal(a, b) and not np.array_equal(a, oth.random_games(20, seed=4))
    states = oth.board_states(a)
    rel = oth.relative_states(states)
    assert (rel[:, 0][states[:, 0] == oth.BLACK] == 1).all()  # black to move at t = 0: black is "mine"
    assert (rel[:, 1][states[:, 1] == oth.WHITE] == 1).all()
    assert ((rel == 0) == (states == 0)).all()
    tokens = oth.tokens_of(a)
    assert tokens.shape == (20, 33) and (tokens[:, 0] == oth.BOS).all()


def test_model_is_causal_and_forward_from_matches():
    torch.manual_seed(0)
    model = oth.OthelloGPT(oth.OthelloConfig(d_model=32, n_layers=2, d_mlp=64)).eval()
    tokens = oth.tokens_of(oth.random_games(3, seed=1))
    other = tokens.clone()
    other[:, 20:] = (other[:, 20:] + 1) % 36
    with torch.no_grad():
        logits = model(tokens)
        assert torch.allclose(model(other)[:, :20], logits[:, :20], atol=1e-6)
        resid = model.residuals(tokens)
        assert resid.shape == (3, 3, 33, 32)
        assert torch.allclose(model.forward_from(1, resid[1]), logits, atol=1e-5)
        assert torch.allclose(model.forward_from(2, resid[2]), logits, atol=1e-5)
    with pytest.raises(ValueError, match="n_ctx"):
        model.residuals(torch.zeros(1, 34, dtype=torch.long))


def test_probe_reads_a_planted_linear_board():
    games = oth.random_games(80, seed=5)
    rel = oth.relative_states(oth.board_states(games))
    onehot = torch.nn.functional.one_hot(torch.as_tensor(rel).long(), 3).float().reshape(80, 33, 108)
    resid = onehot @ torch.randn(108, 128, generator=torch.Generator().manual_seed(0))  # a linear embedding of the board
    X, Y = oth.probe_dataset(resid, rel, oth.game_lengths(games))
    W, b = oth.train_probe(X[:1500], Y[:1500])
    assert oth.probe_accuracy(W, b, X[1500:], Y[1500:]) > 0.97


def test_run_spec_on_a_tiny_run_and_reproduce(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "CHECKPOINT_DIR", tmp_path)
    base = registry.get("othello-gpt")
    spec = replace(base, name="tiny-othello", checkpoint="tiny_othello.pt",
                   config=oth.OthelloConfig(d_model=16, n_layers=1, n_heads=2, d_mlp=32),
                   train=replace(base.train, steps=6, batch_size=4, n_games=64, n_eval_games=16, eval_every=3))
    monkeypatch.setattr(oth, "probe_report", lambda model, **kw: {"black_white": [0.5, 0.6], "mine_theirs": [0.5, 0.7]})
    side = oth.run_spec(spec, progress=False)
    assert spec.path.is_file() and spec.sidecar()["metrics"] == side["metrics"]
    for key in ("name", "lesson", "seed", "command", "torch", "python", "model_config", "train_config",
                "metrics", "curve", "seconds", "probe_accuracy_per_layer"):
        assert key in side, key
    assert side["command"] == "python -m course.models.train tiny-othello"
    assert all(isinstance(v, float) for v in side["metrics"].values())
    assert side["metrics"]["probe_mine_theirs_best"] == 0.7
    assert side["curve"]["step"] == [0, 3, 6]
    assert all(v.dtype == torch.float16 for v in torch.load(spec.path, weights_only=True).values())
    model = oth.load_model(spec)
    ev = oth.evaluate(model, oth.random_games(16, spec.train.seed + 1))
    assert ev["legal_top1"] == pytest.approx(side["metrics"]["legal_top1"], abs=1e-4)
    assert oth.metrics(model, spec.train) == side["metrics"]
    # Same machine, same seed, one thread: a retrain is bit-identical.
    assert cli.reproduce_spec(spec, progress=False) == 0
    assert "reproduced within tolerance" in capsys.readouterr().out
    side["metrics"]["legal_top1"] += 0.5
    spec.sidecar_path.write_text(json.dumps(side))
    assert cli.reproduce_spec(spec, progress=False) == 1
