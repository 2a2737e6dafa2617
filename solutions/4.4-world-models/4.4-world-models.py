# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "4.4"
#     title: Linear probes and world models
#     minutes: 240
#     prerequisites: ["3.1"]
# ---

# %% [markdown]
# # 4.4 Linear probes and world models (after Li et al. 2023 and Nanda et al. 2023)
#
# Does a model trained only to predict the next token build a picture of the world that
# produced the tokens? Li et al. (2023, "Emergent World Representations: Exploring a
# Sequence Model Trained on a Synthetic Task", <https://arxiv.org/abs/2210.13382>) trained a
# GPT on nothing but the move sequences of Othello games. It learned to play legal moves,
# and they could read the board off its activations, but only with **nonlinear** probes (an
# MLP): linear probes for "empty / black / white" did little better than chance. Nanda,
# Lee and Wattenberg (2023, "Emergent Linear Representations in World Models of
# Self-Supervised Sequence Models", <https://arxiv.org/abs/2309.00941>) then found that the
# board *is* linear, in another basis: **"empty / mine / theirs"**, relative to the player
# whose move it is. And the representation is used: editing the activations along the
# probe's directions changes which moves the model predicts, as if the board had changed.
#
# You will reproduce both findings on a model the course trained on a 6×6 board:
#
# | claim | where you check it |
# |---|---|
# | a GPT trained on random legal games predicts legal moves | exercises 1-4 |
# | linear probes read the board better in empty/mine/theirs than in empty/black/white | exercises 5-7 |
# | a difference of class means reads the colours about as well as a trained probe | exercise 8 |
# | writing a stone onto a legal square along the probe's direction removes that move from the predictions, as on the edited board | exercise 9 |
#
# **After this lesson you can**
# - write the rules of a board game as array code, and label every position of a game;
# - collect residual-stream activations and train a linear probe per layer;
# - compare probes in two bases, and say what a weak probe does and does not prove;
# - build a probe without training (difference of means) and compare it with a trained one;
# - test a representation causally, by editing it and checking the model's behaviour.
#
# **Prerequisites.** 3.1 (residual streams, interventions on activations). From 2.1 the GPT
# block; from 0.3 a training loop with Adam.
#
# **Time.** About 4 hours: nine graded exercises (27 points).
#
# **How the exercises work.** Each exercise explains an idea, then gives you a function
# whose body is `raise NotImplementedError`. Replace it and run the test cell below. A failing
# cell says what is wrong and a likely cause. Hidden tests, run when your notebook is graded,
# try edge cases and compare with the course's own implementation. `bootcamp check 4.4` runs
# the whole notebook and prints a table of every exercise. Each exercise says how hard it is
# (🔴, 1–5), how much it matters for the rest of the course (🔵, 1–5) and how long to try
# before opening the hints (first the idea, then a pointer).
#
# Everything runs on a CPU, offline. The model was trained by
# `python -m course.models.train othello-gpt` (12,000 steps of 64 random games, about 12
# minutes of CPU time on one thread); `bootcamp reproduce othello-gpt` retrains it and compares the numbers.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

import course.models
from course import checks
from course.models import othello, registry

# One thread: the model is tiny, and one thread makes every run below repeat to the last bit.
torch.set_num_threads(1)
torch.set_printoptions(precision=4, sci_mode=False)
start = time.perf_counter()

# %% [markdown]
# ## The game, the data and the model
#
# Othello on a 6×6 board. Squares are numbered `6 * row + col` (0 = A1 top left, 35 = F6).
# A board is an array of 36 ints: `0` empty, `1` black, `2` white. Black moves first; the four
# centre squares start filled. A move puts a stone on an empty square such that, in at least
# one of the 8 directions, a line of one or more **opponent** stones runs from it and is
# closed by a stone of the mover's colour; every such line is turned over ("flipped").
#
# ```
#     1 2 3 4 5 6            1 2 3 4 5 6
#  A  . . . . . .         A  . . . . . .
#  B  . . . . . .         B  . . . . . .
#  C  . . o x . .   x C2  C  . x x x . .     black plays C2: the white stone on C3 is
#  D  . . x o . .  ---->  D  . . x o . .     between C2 and black's C4, so it flips
#  E  . . . . . .         E  . . . . . .
#  F  . . . . . .         F  . . . . . .
# ```
#
# The course's engine, `course.models.othello`, plays many random games at once (each move
# uniform over the legal ones) and keeps the games without a *pass* (a player with no legal
# move), so after `t` moves it is black's turn when `t` is even. A game is a row of 32 moves,
# padded with `-1` if it ended early. The model sees `BOS` then the moves; **the logits at
# position `t` predict move `t + 1`**, and the board after `t` moves is `states[:, t]`:
#
# ```
# position      0     1      2      3    ...
# token        BOS   move1  move2  move3
# board       start  after1 after2 after3      states[:, t]
# predicts    move1  move2  move3  move4
# ```
#
# The model is a 4-layer pre-LayerNorm GPT (d_model 64, 4 heads, MLP 256). Read
# `OthelloGPT` in `course/models/othello.py`: `model.residuals(tokens)` gives the residual
# stream before the first block and after each block, shape `(5, B, T, 64)`, and
# `model.forward_from(layer, resid)` runs the rest of the model from a residual stream you
# may have edited.

# %%
spec = registry.get("othello-gpt")
model = course.models.load("othello-gpt")
sidecar = spec.sidecar()
print(model.cfg)
print(f"{model.n_params():,} parameters; checkpoint {spec.size_bytes() / 1e3:.0f} kB ({sidecar['dtype']}); "
      f"trained in {sidecar['cpu_seconds']} s of CPU time")
print("shipped metrics:", sidecar["metrics"])

games = othello.random_games(400, seed=2024)  # (400, 32) moves, -1 = game over
states = othello.board_states(games)  # (400, 33, 36): EMPTY/BLACK/WHITE after t moves
lengths = othello.game_lengths(games)  # (400,)
tokens = othello.tokens_of(games)  # (400, 33): BOS + moves
legal = othello.legal_move_masks(states)  # (400, 33, 36) bool: legal moves after t moves
with torch.no_grad():
    resid = model.residuals(tokens)  # (5, 400, 33, 64)
    logits = model(tokens)  # (400, 33, 36)
print("games", games.shape, "mean length", lengths.mean(), "| residuals", tuple(resid.shape))


def show_board(ax, board, title="", marks=()):
    """Draw a (36,) board: black and white stones, and an 'x' on each square in `marks`."""
    board = np.asarray(board).reshape(6, 6)
    ax.imshow(np.ones((6, 6, 3)) * [0.2, 0.6, 0.3], extent=(-0.5, 5.5, 5.5, -0.5))
    for r in range(6):
        for c in range(6):
            if board[r, c]:
                ax.add_patch(plt.Circle((c, r), 0.4, color="black" if board[r, c] == 1 else "white", ec="k"))
    for sq in marks:
        ax.text(sq % 6, sq // 6, "x", ha="center", va="center", color="gold", fontsize=14, weight="bold")
    ax.set(xticks=range(6), xticklabels=range(1, 7), yticks=range(6), yticklabels=list("ABCDEF"), title=title)


fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
for ax, t in zip(axes, [0, 1, 10, 20]):
    show_board(ax, states[0, t], f"game 0 after {t} moves", marks=np.flatnonzero(legal[0, t]))
plt.suptitle("x: the legal moves of the player to move")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Exercise 1: legal moves
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 3 points · about 20 minutes, then look at the hints.
#
# Everything below is about what the model knows of the board; to check it you need the
# rules. Write `legal_moves(board, player)`: a boolean array of 36, `True` where `player`
# (1 black, 2 white) may play. Plain loops are fine: clarity beats speed here.
#
# <details><summary>Hint 1 (the idea)</summary>
#
# A square is legal if it is empty and, in some direction `(dr, dc)`, walking from it you meet
# one or more opponent stones and then one of your own, without leaving the board.
# </details>
# <details><summary>Hint 2 (a pointer)</summary>
#
# Loop over the 8 pairs `(dr, dc)` with `dr, dc in (-1, 0, 1)`, not both 0. Count the
# opponent stones you walk over; the direction counts only if the count is at least one and
# the square you stop on is yours. Check `0 <= r < 6 and 0 <= c < 6` before reading.
# </details>

# %% nbgrader={"solution": true, "grade_id": "legal_moves"} exercise={"difficulty": 2, "importance": 3, "minutes": 20}
def legal_moves(board: np.ndarray, player: int) -> np.ndarray:
    """The squares `player` may play on `board`.

    board: int (36,), 0 empty / 1 black / 2 white, square = 6 * row + col. player: 1 or 2.
    Returns bool (36,).
    """
    ### BEGIN SOLUTION
    board = np.asarray(board).reshape(6, 6)
    other = 3 - player
    out = np.zeros(36, dtype=bool)
    for r in range(6):
        for c in range(6):
            if board[r, c] != 0:
                continue
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    if dr == dc == 0:
                        continue
                    rr, cc, seen = r + dr, c + dc, 0
                    while 0 <= rr < 6 and 0 <= cc < 6 and board[rr, cc] == other:
                        rr, cc, seen = rr + dr, cc + dc, seen + 1
                    if seen and 0 <= rr < 6 and 0 <= cc < 6 and board[rr, cc] == player:
                        out[6 * r + c] = True
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "legal_moves_test", "points": 3}
_start = states[0, 0]
got = checks.call("legal_moves", legal_moves, _start, 1, case="the start position, black to move")
checks.assert_shape("legal_moves", got, (36,))
checks.assert_dtype("legal_moves", got, bool)
checks.assert_equal("legal_moves", [othello.square_name(s) for s in np.flatnonzero(got)], ["B3", "C2", "D5", "E4"],
                    name="black's first legal moves",
                    hint="a move must close a line of opponent stones with one of your own, in any of 8 directions")
_white = checks.call("legal_moves", legal_moves, _start, 2, case="the start position, white to move")
checks.assert_equal("legal_moves", [othello.square_name(s) for s in np.flatnonzero(_white)], ["B4", "C5", "D2", "E3"],
                    name="white's legal moves at the start", hint="player 2 plays white: the opponent is 1")
for _t in (5, 17, 26):
    checks.assert_equal("legal_moves", legal_moves(states[1, _t], 1 + _t % 2), legal[1, _t],
                        name=f"legal moves of game 1 after {_t} moves",
                        hint="diagonals too; a line must contain at least one opponent stone; stay on the board")
for _t in range(int(lengths[3])):  # every position of game 3, for both players (the colours swapped for white)
    _swapped = np.where(states[3, _t] == 0, 0, 3 - states[3, _t])
    for _p, _board in ((1, states[3, _t]), (2, _swapped)):
        checks.assert_equal("legal_moves", legal_moves(states[3, _t], _p), othello.legal_move_masks(_board[None])[0],
                            name=f"legal moves of player {_p} in game 3 after {_t} moves",
                            hint="diagonals too; a line must contain at least one opponent stone; stay on the board")
_edge = np.zeros(36, dtype=np.int8)
_edge[[0, 30, 5]] = [2, 1, 1]  # white at A1; black at F1 and A6, where a line running off the board would wrap to
checks.assert_equal("legal_moves", legal_moves(_edge, 1), np.zeros(36, dtype=bool), name="a white stone in the corner",
                    hint="a line that leaves the board is not closed: check the row and column are in 0..5 before "
                         "reading the board (a negative index wraps around in numpy)")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(5)
for _i, _t in zip(_rng.integers(0, 400, 60), _rng.integers(0, 33, 60)):
    _b = states[_i, _t]
    _swapped = np.where(_b == 0, 0, 3 - _b)  # colours swapped: white's moves are black's moves here
    for _p, _board in ((1, _b), (2, _swapped)):
        _want = othello.legal_move_masks(_board[None, None])[0, 0]  # t = 0: black to move
        checks.assert_equal("legal_moves", legal_moves(_b.copy(), _p), _want,
                            name=f"legal moves of player {_p}, game {_i} after {_t} moves")
_full = np.ones(36, dtype=np.int8)
checks.assert_equal("legal_moves", legal_moves(_full, 2), np.zeros(36, dtype=bool), name="a full board")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: playing a move
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵⚪⚪⚪ · 2 points · about 15 minutes, then look at the hints.
#
# Write `play_move(board, player, square)`: the board after `player` plays `square`, with
# every closed line flipped. Return a new array (leave `board` unchanged) and raise
# `ValueError` if the move is not legal.
#
# <details><summary>Hint 1 (the idea)</summary>
#
# The same walk as in exercise 1, from `square`: in each direction collect the opponent
# stones you pass; if the walk ends on your own stone, all of them flip.
# </details>
# <details><summary>Hint 2 (a pointer)</summary>
#
# `new = np.array(board).reshape(6, 6)` copies; keep a list `line` of `(rr, cc)` per
# direction and set `new[rr, cc] = player` for each when the line is closed; finally set the
# square itself. Check legality with your `legal_moves` first.
# </details>

# %% nbgrader={"solution": true, "grade_id": "play_move"} exercise={"difficulty": 2, "importance": 2, "minutes": 15}
def play_move(board: np.ndarray, player: int, square: int) -> np.ndarray:
    """The board after `player` (1 or 2) plays `square` (0..35); a new array, same dtype.

    Raises ValueError if the move is not legal.
    """
    ### BEGIN SOLUTION
    if not legal_moves(board, player)[square]:
        raise ValueError(f"square {square} is not a legal move for player {player}")
    new = np.array(board).reshape(6, 6)
    r, c = divmod(square, 6)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == dc == 0:
                continue
            rr, cc, line = r + dr, c + dc, []
            while 0 <= rr < 6 and 0 <= cc < 6 and new[rr, cc] == 3 - player:
                line.append((rr, cc))
                rr, cc = rr + dr, cc + dc
            if line and 0 <= rr < 6 and 0 <= cc < 6 and new[rr, cc] == player:
                for a, b in line:
                    new[a, b] = player
    new[r, c] = player
    return new.reshape(-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "play_move_test", "points": 2}
_before = states[0, 0].copy()
got = checks.call("play_move", play_move, _before, 1, 13, case="black plays C2 (square 13) at the start")
checks.assert_shape("play_move", got, (36,))
checks.assert_equal("play_move", got[[13, 14, 15]], np.array([1, 1, 1], dtype=got.dtype), name="C2, C3, C4 after C2",
                    hint="C3 lies between C2 and black's C4: it flips to black")
checks.assert_equal("play_move", _before, states[0, 0], name="the board you were given",
                    hint="copy the board before changing it (np.array(board) copies)")
for _t in (3, 12, 25):
    checks.assert_equal("play_move", play_move(states[2, _t], 1 + _t % 2, int(games[2, _t])), states[2, _t + 1],
                        name=f"game 2, move {_t + 1}", hint="flip every closed line, in all 8 directions")
checks.assert_raises("play_move", ValueError, play_move, states[0, 0], 1, 0, hint="A1 is not legal at the start")
for _t in range(int(lengths[4])):  # every move of game 4
    checks.assert_equal("play_move", play_move(states[4, _t].copy(), 1 + _t % 2, int(games[4, _t])), states[4, _t + 1],
                        name=f"game 4, move {_t + 1}", hint="flip every closed line, in all 8 directions, and no other")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(6)
for _i in _rng.integers(0, 400, 40):
    for _t in range(0, int(lengths[_i]), 3):
        checks.assert_equal("play_move", play_move(states[_i, _t].copy(), 1 + _t % 2, int(games[_i, _t])),
                            states[_i, _t + 1], name=f"game {_i}, move {_t + 1}")
checks.assert_raises("play_move", ValueError, play_move, states[0, 0], 1, 14, hint="an occupied square is never legal");
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: mine and theirs
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hints.
#
# Li et al. asked whether the model knows where the **black** and **white** stones are. But a
# model that predicts moves has little reason to care about colour: the rules are the same for
# both players, relative to *whoever moves next*. Nanda et al.'s change of basis labels each
# square **empty (0), mine (1) or theirs (2)**, where "mine" means a stone of the player to
# move. After `t` moves the player to move is black when `t` is even.
#
# Write `to_mine_theirs(states)`: `(N, 33, 36)` EMPTY/BLACK/WHITE boards, index 1 = `t`, to
# the same shape in EMPTY/MINE/THEIRS, dtype int8.
#
# <details><summary>Hint 1 (the idea)</summary>
#
# At even `t` black stones are "mine"; at odd `t` white ones are. Empty stays empty.
# </details>
# <details><summary>Hint 2 (a pointer)</summary>
#
# A column of the player to move, `np.where(np.arange(T) % 2 == 0, 1, 2)[:, None]`, broadcast
# against `states`; then two nested `np.where`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "to_mine_theirs"} exercise={"difficulty": 1, "importance": 4, "minutes": 10}
def to_mine_theirs(states: np.ndarray) -> np.ndarray:
    """(N, T, 36) boards in 0 empty / 1 black / 2 white after t = 0..T-1 moves -> 0 empty / 1 mine / 2 theirs.

    "Mine" = the player to move after t moves: black at even t, white at odd t. Returns int8, same shape.
    """
    ### BEGIN SOLUTION
    to_move = np.where(np.arange(states.shape[1]) % 2 == 0, 1, 2)[:, None]
    return np.where(states == 0, 0, np.where(states == to_move, 1, 2)).astype(np.int8)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "to_mine_theirs_test", "points": 2}
_toy = np.array([[[0, 1, 2], [0, 1, 2], [1, 1, 2]]])  # one game, 3 positions, 3 squares
got = checks.call("to_mine_theirs", to_mine_theirs, _toy, case="a 3-square toy board")
checks.assert_dtype("to_mine_theirs", got, np.int8)
checks.assert_equal("to_mine_theirs", got, np.array([[[0, 1, 2], [0, 2, 1], [1, 1, 2]]], dtype=np.int8),
                    hint="t = 0 and 2: black (1) is mine; t = 1: white (2) is mine; empty stays 0")
checks.assert_equal("to_mine_theirs", (to_mine_theirs(states)[:, 0] == 1).sum(), 2 * len(states),
                    name="'mine' stones at the start",
                    hint="at t = 0 black is to move, with two stones")
### BEGIN HIDDEN TESTS
checks.assert_equal("to_mine_theirs", to_mine_theirs(states[:7, :5]), othello.relative_states(states[:7, :5]),
                    name="the first 5 positions of 7 games")
checks.assert_equal("to_mine_theirs", to_mine_theirs(states), othello.relative_states(states), name="all games")
### END HIDDEN TESTS

# %% [markdown]
# From here on, the mine/theirs labels come from the course's engine (the same numbers as yours
# once your function passes), so that the rest of the lesson runs whatever happened above.

# %%
relative = othello.relative_states(states)  # (400, 33, 36): 0 empty, 1 mine, 2 theirs

# %% [markdown]
# ## Exercise 4: does the model play legal moves?
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 3 points · about 15 minutes, then look at the hints.
#
# The model was only ever told which move *was* played, never which moves *could* be. In
# random games every legal move is equally likely next, so the best a model can do is spread
# its probability evenly over the legal moves; its top-1 guess is then always legal. Li et al.
# report an error rate of 0.01% for their top-1 predictions on synthetic games.
#
# Write `legal_move_accuracy(logits, legal, lengths)`: the fraction of positions whose top-1
# prediction is a legal move. Count only positions that have a next move: in a game of
# length `L`, positions `0 .. L-1` (position `L` has seen the whole game).
#
# <details><summary>Hint 1 (the idea)</summary>
#
# Take the argmax square per position, look it up in `legal` at the same position, and
# average over the positions that count.
# </details>
# <details><summary>Hint 2 (a pointer)</summary>
#
# `legal.gather(-1, top[..., None])` picks the entry of the argmax; a mask
# `torch.arange(T)[None, :] < lengths[:, None]` marks the positions that count.
# </details>

# %% nbgrader={"solution": true, "grade_id": "legal_move_accuracy"} exercise={"difficulty": 2, "importance": 3, "minutes": 15}
def legal_move_accuracy(logits: torch.Tensor, legal: torch.Tensor, lengths: torch.Tensor) -> float:
    """Fraction of positions t < length whose argmax square is legal.

    logits: float (N, T, 36); legal: bool (N, T, 36); lengths: int (N,). Returns a Python float.
    """
    ### BEGIN SOLUTION
    top = logits.argmax(-1)
    ok = legal.gather(-1, top[..., None])[..., 0]
    counted = torch.arange(logits.shape[1])[None, :] < lengths[:, None]
    return (ok & counted).sum().item() / counted.sum().item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "legal_move_accuracy_test", "points": 3}
_lg = torch.tensor([[[0.0, 5.0, 1.0], [3.0, 0.0, 0.0], [0.0, 0.0, 9.0]]])  # 1 game, 3 positions, 3 squares
_le = torch.tensor([[[False, True, False], [False, True, True], [True, False, False]]])
got = checks.call("legal_move_accuracy", legal_move_accuracy, _lg, _le, torch.tensor([2]), case="a toy game of length 2")
checks.assert_true("legal_move_accuracy", isinstance(got, float), f"return a Python float, got {type(got).__name__}")
checks.assert_close("legal_move_accuracy", got, 0.5, hint="positions 0 and 1 count (length 2); position 0 is legal, 1 is not")
accuracy = legal_move_accuracy(logits, torch.as_tensor(legal), torch.as_tensor(lengths))
print(f"top-1 prediction legal at {accuracy:.2%} of {int(lengths.sum()):,} positions "
      f"(shipped sidecar, on its own held-out games: {sidecar['metrics']['legal_top1']:.2%})")
checks.assert_close("legal_move_accuracy", accuracy, sidecar["metrics"]["legal_top1"], atol=0.02,
                    name="accuracy on 400 fresh games", hint="count positions t < length only, in every game")
### BEGIN HIDDEN TESTS
_ev = othello.evaluate(model, games[:50])
checks.assert_close("legal_move_accuracy", legal_move_accuracy(logits[:50], torch.as_tensor(legal[:50]),
                                                               torch.as_tensor(lengths[:50])),
                    _ev["legal_top1"], atol=1e-6, name="accuracy on the first 50 games")
_z = torch.zeros(2, 4, 3)
_z[..., 2] = 1.0
_lm = torch.zeros(2, 4, 3, dtype=torch.bool)
_lm[0, :, 2] = True
checks.assert_close("legal_move_accuracy", legal_move_accuracy(_z, _lm, torch.tensor([1, 3])), 0.25,
                    name="two games of lengths 1 and 3", hint="divide by the number of counted positions, 4")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: a linear probe
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 25 minutes, then look at the hints.
#
# A **linear probe** is a linear classifier trained to read a property off activations. Here
# one probe reads all 36 squares at once: for each square `s` a `(64, 3)` weight matrix and 3
# biases, giving 3 logits (empty, and the two kinds of stone) from one residual vector.
# Stack them as `W` of shape `(D, 36, 3)` and `b` of shape `(36, 3)`; the logits are
# `einsum("nd,dsc->nsc", X, W) + b`, trained with the cross-entropy against the labels.
#
# `othello.probe_dataset(resid_layer, labels, lengths)` (given) turns one layer's residuals
# `(N, 33, D)` and labels `(N, 33, 36)` into `X (n, D)` and `Y (n, 36)`, keeping the
# positions `t <= length`. Write `train_linear_probe(X, Y, steps, lr)`: full-batch Adam from
# `W = 0`, `b = 0`. The residual stream's scale differs from layer to layer; divide `X` by one
# number, its root-mean-square, before training, and return `W` divided by it too, so that
# the probe still applies to the raw `X` (it stays linear: one scalar).
#
# <details><summary>Hint 1 (the idea)</summary>
#
# This is multinomial logistic regression, 36 of them side by side sharing the input: the
# cross-entropy of `(n, 36, 3)` logits flattened to `(n * 36, 3)` against `Y` flattened.
# </details>
# <details><summary>Hint 2 (a pointer)</summary>
#
# `scale = X.pow(2).mean().sqrt()`; `W = torch.zeros(D, 36, 3, requires_grad=True)`;
# `torch.optim.Adam([W, b], lr=lr)`; the usual `zero_grad` / `backward` / `step` for
# `steps` steps; return `W.detach() / scale, b.detach()`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "train_linear_probe"} exercise={"difficulty": 3, "importance": 5, "minutes": 25}
def train_linear_probe(X: torch.Tensor, Y: torch.Tensor, steps: int = 100,
                       lr: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """A linear probe per square: logits = einsum("nd,dsc->nsc", X, W) + b.

    X: float (n, D); Y: int64 (n, S), classes 0..2. Full-batch Adam from zeros on X / rms(X).
    Returns W float (D, S, 3), scaled back to apply to X itself, and b float (S, 3).
    """
    ### BEGIN SOLUTION
    scale = X.pow(2).mean().sqrt()
    Xs = X.detach() / scale
    W = torch.zeros(X.shape[1], Y.shape[1], 3, requires_grad=True)
    b = torch.zeros(Y.shape[1], 3, requires_grad=True)
    opt = torch.optim.Adam([W, b], lr=lr)
    for _ in range(steps):
        logits = torch.einsum("nd,dsc->nsc", Xs, W) + b
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 3), Y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return W.detach() / scale, b.detach()
    ### END SOLUTION


def probe_accuracy(W: torch.Tensor, b: torch.Tensor, X: torch.Tensor, Y: torch.Tensor) -> float:
    """Fraction of (position, square) pairs the probe labels right (given)."""
    return ((torch.einsum("nd,dsc->nsc", X, W) + b).argmax(-1) == Y).float().mean().item()


# %% [markdown]
# The data the test uses beyond a toy problem: layer 3, mine/theirs labels, 300 games to train
# on and 100 to test on.

# %%
X3, Y3 = othello.probe_dataset(resid[3, :300], relative[:300], lengths[:300])
Xt3, Yt3 = othello.probe_dataset(resid[3, 300:], relative[300:], lengths[300:])
print("train", tuple(X3.shape), tuple(Y3.shape), "| test", tuple(Xt3.shape))

# %% nbgrader={"grade": true, "grade_id": "train_linear_probe_test", "points": 3}
_gen = torch.Generator().manual_seed(0)
_Xs = 10.0 * torch.randn(600, 8, generator=_gen)  # a toy problem a linear probe solves: 2 "squares"
_Ys = torch.stack([_Xs[:, 0:3].argmax(-1), _Xs[:, 3:6].argmax(-1)], dim=1)  # class = the largest of 3 coordinates
_W, _b = checks.call("train_linear_probe", train_linear_probe, _Xs, _Ys, 200, 0.1, case="a separable toy problem")
checks.assert_shape("train_linear_probe", _W, (8, 2, 3), name="W", hint="(D, squares, 3)")
checks.assert_shape("train_linear_probe", _b, (2, 3), name="b")
_acc = probe_accuracy(_W, _b, _Xs, _Ys)
checks.assert_true("train_linear_probe", _acc > 0.95,
                   f"on a problem a linear probe solves, the accuracy on the raw X is {_acc:.3f} (want > 0.95)",
                   hint="did you divide W by the scale before returning it? the test applies it to X, not X / scale")
# The recipe itself, 5 steps on 100 toy points, against the course's trainer (the same recipe, in course/models/othello.py)
_Wr, _br = othello.train_probe(_Xs[:100], _Ys[:100], steps=5, lr=0.1)
_W5, _b5 = checks.call("train_linear_probe", train_linear_probe, _Xs[:100], _Ys[:100], 5, 0.1, case="5 steps, 100 toy points")
_how = ("full-batch Adam with the lr given, from zeros, on X / rms(X) (one scalar: the root of the mean of X's squares); "
        "the mean cross-entropy over every (point, square); W divided by that scale at the end")
checks.assert_close("train_linear_probe", _W5, _Wr, rtol=1e-4, atol=1e-6, name="W after 5 steps", hint=_how)
checks.assert_close("train_linear_probe", _b5, _br, rtol=1e-4, atol=1e-6, name="b after 5 steps", hint=_how)
W3, b3 = checks.call("train_linear_probe", train_linear_probe, X3, Y3, case="layer 3, mine/theirs")
acc3 = probe_accuracy(W3, b3, Xt3, Yt3)
print(f"layer 3, mine/theirs: test accuracy {acc3:.3f} on {len(Xt3):,} positions x 36 squares")
checks.assert_true("train_linear_probe", acc3 > 0.75, f"a mine/theirs probe on layer 3 should pass 0.75, got {acc3:.3f}",
                   hint="train on X / rms(X) with Adam (lr 0.1, 100 steps), from zeros")
### BEGIN HIDDEN TESTS
_Wr, _br = othello.train_probe(X3[:2000], Y3[:2000], steps=100, lr=0.1)
_Wl, _bl = train_linear_probe(X3[:2000], Y3[:2000], 100, 0.1)
checks.assert_close("train_linear_probe", probe_accuracy(_Wl, _bl, Xt3, Yt3), probe_accuracy(_Wr, _br, Xt3, Yt3),
                    atol=0.02, name="accuracy of a probe trained on 2000 positions",
                    hint="full-batch Adam on the mean cross-entropy over positions and squares")
_W1, _ = train_linear_probe(_Xs[:50], _Ys[:50], 1, 0.1)
checks.assert_true("train_linear_probe", _W1.abs().max() > 0, "after one step W is still zero: is W trainable?")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: probes at every layer, in both bases
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 4 points · about 15 minutes, then look at the hints.
#
# Now the experiment of both papers. Write `accuracy_per_layer(resid, labels, lengths, n_train)`:
# for each layer (the residual stream before block 0 and after each block), train a probe on
# the first `n_train` games with your `train_linear_probe` and return its test accuracy on
# the other games, as a list of floats. The test runs it in both bases.
#
# Before you run it, **predict**: which basis will the probes read better, and from which
# layer on? The embeddings (layer 0) only know the current move and position.
#
# <details><summary>Hint 1 (the idea)</summary>
#
# Split by game, not by position: positions of one game are correlated, and a probe tested on
# games it was trained on looks better than it is.
# </details>
# <details><summary>Hint 2 (a pointer)</summary>
#
# For `layer in range(resid.shape[0])`: `othello.probe_dataset(resid[layer, :n_train], labels[:n_train], lengths[:n_train])`,
# the same for `[n_train:]`, then `train_linear_probe` and `probe_accuracy`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "accuracy_per_layer"} exercise={"difficulty": 2, "importance": 5, "minutes": 15}
def accuracy_per_layer(resid: torch.Tensor, labels: np.ndarray, lengths: np.ndarray, n_train: int) -> list[float]:
    """Test accuracy of a linear probe per layer.

    resid: (L + 1, N, 33, D); labels: int (N, 33, 36); lengths: (N,). Train on games [:n_train],
    test on games [n_train:]. Returns L + 1 Python floats.
    """
    ### BEGIN SOLUTION
    out = []
    for layer in range(resid.shape[0]):
        X, Y = othello.probe_dataset(resid[layer, :n_train], labels[:n_train], lengths[:n_train])
        Xt, Yt = othello.probe_dataset(resid[layer, n_train:], labels[n_train:], lengths[n_train:])
        W, b = train_linear_probe(X, Y)
        out.append(probe_accuracy(W, b, Xt, Yt))
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "accuracy_per_layer_test", "points": 4}
acc_bw = checks.call("accuracy_per_layer", accuracy_per_layer, resid, states, lengths, 300, case="black/white")
acc_mt = accuracy_per_layer(resid, relative, lengths, 300)
print("layer:        ", "  ".join(f"{i:>5}" for i in range(len(acc_mt))))
print("black/white:  ", "  ".join(f"{a:5.3f}" for a in acc_bw))
print("mine/theirs:  ", "  ".join(f"{a:5.3f}" for a in acc_mt))
checks.assert_equal("accuracy_per_layer", len(acc_bw), 5, name="number of layers", hint="5 residual streams: embeddings + 4 blocks")
checks.assert_true("accuracy_per_layer", all(isinstance(a, float) for a in acc_bw), "return a list of Python floats")
# The numbers of the shipped model (printed above), with tolerances wider than a probe's run-to-run noise
checks.assert_true("accuracy_per_layer", max(acc_mt) > 0.84,
                   f"the best mine/theirs probe should pass 0.84; got {max(acc_mt):.3f}",
                   hint="labels in the mine/theirs basis are to_mine_theirs(states)")
checks.assert_true("accuracy_per_layer", max(acc_bw) < 0.76,
                   f"the best black/white probe should stay under 0.76; got {max(acc_bw):.3f}")
for _l in range(1, 5):
    checks.assert_true("accuracy_per_layer", acc_mt[_l] > acc_bw[_l] + 0.08,
                       f"layer {_l}: mine/theirs {acc_mt[_l]:.3f} should beat black/white {acc_bw[_l]:.3f} by 0.08",
                       hint="test on the games you did not train on")
### BEGIN HIDDEN TESTS
_small = accuracy_per_layer(resid[:2, :120], relative[:120], lengths[:120], 90)
_want = []
for _l in range(2):
    _X, _Y = othello.probe_dataset(resid[_l, :90], relative[:90], lengths[:90])
    _Xt, _Yt = othello.probe_dataset(resid[_l, 90:120], relative[90:120], lengths[90:120])
    _Wq, _bq = othello.train_probe(_X, _Y, steps=100, lr=0.1)
    _want.append(probe_accuracy(_Wq, _bq, _Xt, _Yt))
checks.assert_close("accuracy_per_layer", _small, _want, atol=0.02, name="2 layers, 90 training games, 30 test games",
                    hint="train on games [:n_train], test on games [n_train:], one probe per layer")
### END HIDDEN TESTS

# %% [markdown]
# Your numbers, as a picture. Empty squares are easy in either basis (which squares have been
# played is a simple function of the moves seen), so the right panel counts only occupied
# squares: there the difference between the bases is clearer.

# %%
occupied = {}
for basis, labels in (("black/white", states), ("mine/theirs", relative)):
    accs = []
    for layer in range(5):
        X, Y = othello.probe_dataset(resid[layer, :300], labels[:300], lengths[:300])
        Xt, Yt = othello.probe_dataset(resid[layer, 300:], labels[300:], lengths[300:])
        W, b = train_linear_probe(X, Y)
        pred = (torch.einsum("nd,dsc->nsc", Xt, W) + b).argmax(-1)
        accs.append(((pred == Yt) & (Yt > 0)).sum().item() / (Yt > 0).sum().item())
    occupied[basis] = accs
for basis, accs in occupied.items():
    print(f"occupied squares, {basis:>11}: " + "  ".join(f"{a:5.3f}" for a in accs))
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
ax1.plot(acc_bw, "o-", label="empty / black / white (Li et al.)")
ax1.plot(acc_mt, "o-", label="empty / mine / theirs (Nanda et al.)")
ax1.set(xlabel="layer (0 = embeddings)", ylabel="test accuracy, all squares", title="linear probes per layer", ylim=(0.3, 1.01))
ax1.legend(fontsize=8)
for basis, accs in occupied.items():
    ax2.plot(accs, "o-", label=basis)
ax2.axhline(0.5, ls=":", c="k", label="chance between two colours")
ax2.set(xlabel="layer", ylabel="accuracy on occupied squares", title="the colour of the stones", ylim=(0.3, 1.01))
ax2.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Exercise 7 (investigation): where does "mine / theirs" appear?
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes.
#
# Look at the right panel. Which is the **first layer** (0-4) at which the mine/theirs probe
# tells the player to move's stones from the opponent's on at least 60% of occupied squares
# (chance between two colours is 50%)? Set `FIRST_LAYER` to it. Then pick `HYPOTHESIS`, the letter the data support best, and return
# both from `my_answers`:
#
# - `"A"`: the board, relative to the player to move, is already in the embeddings;
# - `"B"`: the blocks compute it: from some block on, a linear probe reads mine/theirs clearly
#   better than black/white, though far from perfectly;
# - `"C"`: neither basis reads the colour of a stone above chance at any layer.

# %% nbgrader={"solution": true, "grade_id": "first_layer"} exercise={"difficulty": 2, "importance": 3, "minutes": 10}
def my_answers() -> tuple[int, str]:
    """Your reading of the plot: (FIRST_LAYER, HYPOTHESIS), e.g. (4, "C"). Return constants: this is your answer."""
    ### BEGIN SOLUTION
    return 1, "B"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "first_layer_test", "points": 2}
answers = checks.call("first_layer", my_answers, case="your answers")
checks.assert_true("first_layer", isinstance(answers, tuple) and len(answers) == 2,
                   f"return a pair (FIRST_LAYER, HYPOTHESIS), got {answers!r}")
FIRST_LAYER, HYPOTHESIS = answers
_truth = [i for i, a in enumerate(occupied["mine/theirs"]) if a >= 0.6]
checks.assert_true("first_layer", len(_truth) > 0 and FIRST_LAYER == _truth[0],
                   f"FIRST_LAYER = {FIRST_LAYER} does not match your plot's right panel",
                   hint="the first point of the mine/theirs curve at or above 0.6 (layer 0 is the embeddings)")
### BEGIN HIDDEN TESTS
checks.assert_equal("first_layer", my_answers()[1], "B", name="HYPOTHESIS",
                    hint="the embeddings read colour near chance; the blocks' outputs read mine/theirs better")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 8: a probe without training
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 15 minutes, then look at the hints.
#
# The simplest probe needs no optimiser: for each square, the **difference of means**
# between the activations where it is "mine" and where it is "theirs". Project an activation
# on that direction; call the square "mine" if the projection is above the midpoint of the
# two class means. If the representation is linear and roughly symmetric, this direction and
# the trained probe's "mine minus theirs" direction, `W[:, s, 1] - W[:, s, 2]`, should point
# the same way; on a model whose board is only partly linear they may not (the cell prints
# their cosine similarity).
#
# Write `diff_of_means_probe(X, Y)` returning `directions (36, D)`, `mean(mine) - mean(theirs)`
# per square, and `thresholds (36,)`, `direction · (mean(mine) + mean(theirs)) / 2`. A square
# with no example of a class (on a tiny set) gets a zero direction and threshold.
#
# <details><summary>Hint 1 (the idea)</summary>
#
# A class mean per square is a masked mean: sum the rows of `X` where `Y[:, s] == 1`, divide
# by their count. All squares at once: a one-hot mask `(n, 36)` times `X` `(n, D)`.
# </details>
# <details><summary>Hint</summary>
#
# **The idea.** A class mean per square is a masked mean: sum the rows of `X` where the square is
# "mine", divide by their count; the same for "theirs". The direction is the difference of the two
# means, and the threshold sits half-way between them along that direction.
#
# **A pointer.** All 36 squares at once: a one-hot mask `(n, 36)`, transposed, times `X` `(n, D)`
# gives the sums; clamp the counts so an empty class does not divide by zero, and give a square
# with an empty class a zero direction.
# </details>

# %% nbgrader={"solution": true, "grade_id": "diff_of_means_probe"} exercise={"difficulty": 2, "importance": 4, "minutes": 15}
def diff_of_means_probe(X: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per square: direction = mean(X | mine) - mean(X | theirs), threshold = direction . midpoint.

    X: float (n, D); Y: int64 (n, S) in 0 empty / 1 mine / 2 theirs.
    Returns directions float (S, D) and thresholds float (S,); zero where a class has no example.
    """
    ### BEGIN SOLUTION
    mine, theirs = (Y == 1).to(X.dtype), (Y == 2).to(X.dtype)
    mean_mine = (mine.T @ X) / mine.sum(0).clamp(min=1)[:, None]
    mean_theirs = (theirs.T @ X) / theirs.sum(0).clamp(min=1)[:, None]
    ok = ((mine.sum(0) > 0) & (theirs.sum(0) > 0)).float()[:, None]
    directions = (mean_mine - mean_theirs) * ok
    thresholds = (directions * (mean_mine + mean_theirs) / 2).sum(-1)
    return directions, thresholds
    ### END SOLUTION


def colour_accuracy(directions: torch.Tensor, thresholds: torch.Tensor, X: torch.Tensor, Y: torch.Tensor) -> float:
    """Fraction of occupied (position, square) pairs called right by "mine if x . d > threshold" (given)."""
    score = X @ directions.T - thresholds  # (n, S)
    occupied_ = Y > 0
    return ((score > 0) == (Y == 1))[occupied_].float().mean().item()


# %% nbgrader={"grade": true, "grade_id": "diff_of_means_probe_test", "points": 3}
_Xd = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
_Yd = torch.tensor([[1, 0], [1, 2], [2, 0], [0, 0]])
_dirs, _thr = checks.call("diff_of_means_probe", diff_of_means_probe, _Xd, _Yd, case="4 points, 2 squares")
checks.assert_shape("diff_of_means_probe", _dirs, (2, 2), name="directions", hint="(squares, D)")
checks.assert_close("diff_of_means_probe", _dirs[0], torch.tensor([2.0, -2.0]), name="direction of square 0",
                    hint="mean of rows 0, 1 (mine) = (2, 0); of row 2 (theirs) = (0, 2)")
checks.assert_close("diff_of_means_probe", _thr[0], 2.0 * 1.0 - 2.0 * 1.0, name="threshold of square 0",
                    hint="direction . (mean_mine + mean_theirs) / 2")
checks.assert_close("diff_of_means_probe", _dirs[1], torch.zeros(2), name="direction of square 1 (no 'mine' example)",
                    hint="no example of a class: a zero direction, not NaN")
checks.assert_close("diff_of_means_probe", _thr[1], 0.0, name="threshold of square 1 (no 'mine' example)",
                    hint="a zero direction gives a zero threshold")
_gen = torch.Generator().manual_seed(1)
_Xr = torch.randn(40, 5, generator=_gen, dtype=torch.float64)
_Yr = torch.randint(0, 3, (40, 4), generator=_gen)
_Yr[:, 1] = torch.where((_Yr[:, 1] == 1) & (torch.arange(40) > int((_Yr[:, 1] == 1).nonzero()[0])), 0, _Yr[:, 1])  # one 'mine'
_Yr[:, 2] = torch.where(_Yr[:, 2] == 1, 0, _Yr[:, 2])  # square 2: no 'mine' example
_Yr[:, 3] = torch.where(_Yr[:, 3] == 2, 0, _Yr[:, 3])  # square 3: no 'theirs' example
_dirs, _thr = checks.call("diff_of_means_probe", diff_of_means_probe, _Xr, _Yr, case="40 random points, 4 squares")
for _s in (0, 1):
    _mm, _mt = _Xr[_Yr[:, _s] == 1].mean(0), _Xr[_Yr[:, _s] == 2].mean(0)
    checks.assert_close("diff_of_means_probe", _dirs[_s], _mm - _mt, rtol=1e-6, atol=1e-9, name=f"direction of square {_s}",
                        hint="the mean of the rows labelled 1 minus the mean of the rows labelled 2, for this square alone")
    checks.assert_close("diff_of_means_probe", _thr[_s], (_mm - _mt) @ (_mm + _mt) / 2, rtol=1e-6, atol=1e-9,
                        name=f"threshold of square {_s}", hint="direction . (mean_mine + mean_theirs) / 2")
for _s, _what in ((2, "no 'mine'"), (3, "no 'theirs'")):
    checks.assert_close("diff_of_means_probe", _dirs[_s], torch.zeros(5, dtype=torch.float64), name=f"square {_s} ({_what})",
                        hint="no example of either class: a zero direction (and threshold)")
layer = 3
dirs, thr = diff_of_means_probe(X3, Y3)
dom_acc = colour_accuracy(dirs, thr, Xt3, Yt3)
probe_dirs = (W3[:, :, 1] - W3[:, :, 2]).T  # (36, D): the trained probe's "mine minus theirs"
probe_thr = -(b3[:, 1] - b3[:, 2])
trained_acc = colour_accuracy(probe_dirs, probe_thr, Xt3, Yt3)
_centre = torch.tensor([14, 15, 20, 21])  # the centre squares are occupied from the start
_cos = torch.nn.functional.cosine_similarity(dirs, probe_dirs, dim=-1)
print(f"layer {layer}, occupied squares: difference of means {dom_acc:.3f}, trained probe {trained_acc:.3f}; "
      f"cosine between their directions: median {_cos.median():.2f}, centre squares {_cos[_centre].mean():.2f}")
checks.assert_true("diff_of_means_probe", dom_acc > 0.58,
                   f"the difference-of-means probe should read the colour of > 58% of occupied squares, got {dom_acc:.3f}",
                   hint="mine = label 1, theirs = label 2; the threshold is the projection of the midpoint")
checks.assert_true("diff_of_means_probe", dom_acc > trained_acc - 0.15,
                   f"difference of means {dom_acc:.3f} vs trained {trained_acc:.3f}: expected within 0.15")
### BEGIN HIDDEN TESTS
_Xh, _Yh = X3[:3000].double(), Y3[:3000]
_dh, _th = diff_of_means_probe(_Xh, _Yh)
for _s in (0, 14, 35):
    _mm, _mt = _Xh[_Yh[:, _s] == 1].mean(0), _Xh[_Yh[:, _s] == 2].mean(0)
    checks.assert_close("diff_of_means_probe", _dh[_s], _mm - _mt, rtol=1e-6, atol=1e-8, name=f"direction of square {_s}")
    checks.assert_close("diff_of_means_probe", _th[_s], (_mm - _mt) @ (_mm + _mt) / 2, rtol=1e-6, atol=1e-8,
                        name=f"threshold of square {_s}")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 9: editing the board inside the model
#
# **Difficulty** 🔴🔴🔴🔴⚪ · **Importance** 🔵🔵🔵🔵🔵 · 5 points · about 30 minutes, then look at the hints.
#
# A probe that reads a property shows the property is *there*; it does not show the model
# *uses* it. The test of use is an intervention: change the representation and see whether
# behaviour changes the way it should (Li et al. section 4; Nanda et al. section 4). Here we
# take a position and a square that is **empty and legal**, and write "a stone of mine is
# here" into the model: in the residual stream after block `layer`, at that position only, we
# move the activation across the probe's boundary between *empty* and *mine* for that square.
# Then we run the remaining blocks (`model.forward_from(layer, resid)`). On the edited board
# the square is occupied, so it is no longer a legal move: if the model reads its board from
# this direction, it should stop predicting the square.
#
# Write `flip_along(x, direction, threshold, alpha)`. With `u = direction / |direction|` and
# `c = x · u - threshold / |direction|` (the signed distance of `x` from the boundary along `u`),
# return `x - (1 + alpha) * c * u`: the component along `u` is mirrored to the other side of
# the boundary and scaled by `alpha`; the rest of `x` is untouched. `x` may have any leading
# shape `(..., D)`. For the probe of exercise 5, the boundary between classes 0 (empty) and 1
# (mine) of square `s` is `x · (W[:, s, 1] - W[:, s, 0]) = b[s, 0] - b[s, 1]`.
#
# <details><summary>Hint 1 (the idea)</summary>
#
# A reflection across the hyperplane `x · u = threshold / |direction|`, stretched: after the
# edit, the signed distance is `-alpha * c`.
# </details>
# <details><summary>Hint</summary>
#
# **The idea.** A reflection across the probe's decision boundary, stretched: measure the signed
# distance of `x` from the boundary along the unit direction, then move `x` back across it so that
# afterwards the signed distance is `-alpha` times what it was.
#
# **A pointer.** The boundary is where `x · direction = threshold`; divide through by the
# direction's norm to get distances. The move is along the unit direction only, so every other
# component of `x` is unchanged; keep the leading axes of `x` by broadcasting.
# </details>

# %% nbgrader={"solution": true, "grade_id": "flip_along"} exercise={"difficulty": 4, "importance": 5, "minutes": 30}
def flip_along(x: torch.Tensor, direction: torch.Tensor, threshold: float, alpha: float) -> torch.Tensor:
    """Mirror x to the other side of the boundary x . direction = threshold, at alpha times its distance.

    x: float (..., D); direction: float (D,); threshold: float. Returns the same shape as x.
    """
    ### BEGIN SOLUTION
    norm = direction.norm()
    u = direction / norm
    c = x @ u - threshold / norm
    return x - (1 + alpha) * c[..., None] * u
    ### END SOLUTION


# %% [markdown]
# The experiment around your function (given): 200 cases `(game, t, square)` from the games the
# probes were not trained on, each a legal move after `t` moves. For each, the model's top
# `k - 1` predicted squares, where `k` is the number of legal moves, with three treatments
# of the residual stream at position `t`: no edit; your edit along the probe; and, as a
# control, a step of the **same length in a random direction**. A case succeeds when the
# square is not among the top `k - 1`.

# %%
edit_layer, edit_alpha = 3, 3.0
_X, _Y = othello.probe_dataset(resid[edit_layer, :300], relative[:300], lengths[:300])
W_edit, b_edit = othello.train_probe(_X, _Y)  # the course's probe (the same as yours once exercise 5 passes)
_rng = np.random.default_rng(0)
cases = []
while len(cases) < 200:
    g, t = int(_rng.integers(300, 400)), int(_rng.integers(4, 26))
    if t < lengths[g] and legal[g, t].sum() >= 2:
        cases.append((g, t, int(_rng.choice(np.flatnonzero(legal[g, t])))))


def fill_square(kind: str, layer: int = edit_layer, alpha: float = edit_alpha, seed: int = 0) -> float:
    """Fraction of cases whose square leaves the model's top k - 1 moves after treatment `kind`."""
    gen = torch.Generator().manual_seed(seed)
    hits = 0
    for g, t, sq in cases:
        r = resid[layer, g:g + 1, : t + 1].clone()  # (1, t + 1, D): the game so far
        if kind != "none":
            edited = flip_along(r[0, t], W_edit[:, sq, 1] - W_edit[:, sq, 0], float(b_edit[sq, 0] - b_edit[sq, 1]), alpha)
            if kind == "random":
                step = torch.randn(r.shape[-1], generator=gen)
                edited = r[0, t] + (edited - r[0, t]).norm() * step / step.norm()
            r[0, t] = edited
        with torch.no_grad():
            out = model.forward_from(layer, r)[0, t]
        hits += sq not in out.topk(int(legal[g, t].sum()) - 1).indices.tolist()
    return hits / len(cases)


# %% nbgrader={"grade": true, "grade_id": "flip_along_test", "points": 5}
_x = torch.tensor([3.0, 1.0])
got = checks.call("flip_along", flip_along, _x, torch.tensor([2.0, 0.0]), 2.0, 1.0, case="a 2-d point, boundary x0 = 1")
checks.assert_close("flip_along", got, torch.tensor([-1.0, 1.0]), hint="x0 = 3 is 2 above the boundary x0 = 1; "
                    "with alpha 1 it lands 2 below: -1. The other coordinate does not move")
checks.assert_close("flip_along", flip_along(_x[None, None], torch.tensor([0.0, 1.0]), 0.0, 2.0),
                    torch.tensor([[[3.0, -2.0]]]), name="shape (1, 1, 2), boundary x1 = 0, alpha 2",
                    hint="work on the last axis; c has shape x.shape[:-1]")
success = {kind: fill_square(kind) for kind in ("none", "probe", "random")}
print(f"square gone from the model's top k - 1 moves, {len(cases)} cases, after block {edit_layer}, alpha {edit_alpha}: "
      f"no edit {success['none']:.1%}, edit along the probe {success['probe']:.1%}, "
      f"random direction of the same length {success['random']:.1%}")
checks.assert_true("flip_along", success["probe"] > success["none"] + 0.3,
                   f"the edit should remove the square far more often than no edit: {success['probe']:.1%} vs "
                   f"{success['none']:.1%}", hint="after your edit, the projection on u must be on the other side")
checks.assert_true("flip_along", success["probe"] > success["random"] + 0.3,
                   f"the probe's direction should matter, not only the size of the step: {success['probe']:.1%} vs "
                   f"{success['random']:.1%} for a random direction", hint="change only the component along u")
### BEGIN HIDDEN TESTS
_gen = torch.Generator().manual_seed(3)
_xs, _d = torch.randn(4, 5, 64, generator=_gen, dtype=torch.float64), torch.randn(64, generator=_gen, dtype=torch.float64)
for _a in (0.0, 1.0, 2.5):
    _got = flip_along(_xs, _d, 0.7, _a)
    _u = _d / _d.norm()
    _c = _xs @ _u - 0.7 / _d.norm()
    checks.assert_close("flip_along", _got @ _u - 0.7 / _d.norm(), -_a * _c, rtol=1e-6, atol=1e-9,
                        name=f"signed distance after the edit, alpha {_a}")
    _perp = _got - (_got @ _u)[..., None] * _u
    checks.assert_close("flip_along", _perp, _xs - (_xs @ _u)[..., None] * _u, rtol=1e-6, atol=1e-9,
                        name="the part of x orthogonal to the direction", hint="only the component along u changes")
### END HIDDEN TESTS

# %% [markdown]
# How the effect grows with the size of the edit, and which layer it works from (your numbers):

# %%
alphas = [0.0, 1.0, 3.0]
curves = {layer: [fill_square("probe", layer, a) for a in alphas] for layer in (edit_layer,)}
fig, ax = plt.subplots(figsize=(5, 3.2))
for layer, ys in curves.items():
    ax.plot(alphas, ys, "o-", label=f"edit after block {layer}")
ax.axhline(success["none"], ls=":", c="k", label="no edit")
ax.axhline(success["random"], ls="--", c="gray", label="random direction (alpha 3)")
ax.set(xlabel="alpha (0 = moved onto the boundary)", ylabel="square gone from top k - 1", ylim=(0, 1))
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## How ours compares with the papers
#
# | | Li et al. 2023 (8×8, 8 layers, d 512, millions of games) | Nanda et al. 2023 (Li et al.'s model) | this lesson (6×6, 4 layers, d 64, 768k games seen) |
# |---|---|---|---|
# | top-1 prediction legal | error rate 0.01% on synthetic games | — | about 95.6% (sidecar `legal_top1`; exercise 4 asserts yours within 0.02 of it) |
# | linear probe, empty/black/white | weak; they needed a nonlinear (MLP) probe | — | best layer below 0.76 (asserted), near chance on the colour of occupied squares (printed) |
# | linear probe, empty/mine/theirs | — | high accuracy, close to the nonlinear probes | best layer above 0.84, at least 0.08 above black/white at every layer after the embeddings (asserted); colour of occupied squares (printed above) |
# | difference of means vs trained probe | — | — | within 0.15 of each other on occupied squares (asserted) |
# | intervention | editing the board (nonlinear probe, gradient steps) changes the predicted legal moves | flipping a square along a linear probe does too | writing "mine" on a legal empty square removes it from the predictions at least 30 points more often than no edit or a random step (asserted) |
#
# The exact values of our rows are printed by the cells above. We reproduce the *direction* of
# both papers' findings: mine/theirs reads better than black/white, linearly, and the probe's
# directions are causal. We do **not** reproduce their size. Our model is small and
# undertrained (its illegal-move rate is about 4%, theirs 0.01%), its board is only partly
# linear even in mine/theirs, and the edit that flips a stone's colour (Nanda's main
# intervention) did not change our model's predictions more than no edit when we tried it
# on the first, shorter-trained model (3,000 steps) while writing this lesson, and has not
# been tried again on this one; the edit that fills an empty square does. We do not reproduce the
# nonlinear probes, Li et al.'s attribution maps or the championship-game dataset.
#
# ## Why this matters for safety
#
# Interpretability for safety hopes to read what a model believes, not just what it says, and
# to test those readings by intervention. This lesson is a small, complete instance of that
# loop and of one trap in it: the weak linear probes of Li et al. (2023) were a fact about
# their *basis*, not about the model, whose own variables were "mine/theirs" (Nanda et al. 2023).
# A probe that fails in a human basis says little about whether a model represents something,
# and a probe that succeeds shows the information is *there*, not that it is *used*; Belinkov
# (2022), "Probing Classifiers: Promises, Shortcomings, and Advances", surveys both limits. Only
# an intervention like exercise 9's shows use. The same questions decide whether a "truth" or
# "deception" probe on a language model can be trusted, as Burns et al. (2023) found for
# truth directions learned without labels (lesson 4.6).
#
# ## Going further
#
# 1. **A nonlinear probe in the black/white basis.** Li et al. needed a 2-layer MLP. Train one
#    per layer (a `(64, 256, 36 * 3)` MLP on `probe_dataset`): does it close the gap with the
#    linear mine/theirs probe, and from which layer? Is it learning the model's board or
#    computing colour from mine/theirs plus the parity of the move number (give it `t % 2`)?
# 2. **"Flipped" squares.** Nanda et al. also probed whether a square was flipped by the last
#    move. Write labels with `board_states` (compare `t` and `t - 1`) and probe them; which
#    layer first knows?
# 3. **Flipping a colour.** Nanda's main intervention flips a stone from mine to theirs along
#    the probe, and checks that the predicted moves become those of the flipped board. On this
#    model it did not beat no edit when we tried it at one layer and one position. Edit every
#    block's output from `layer` on (a probe per layer), or train the model longer
#    (`OthelloTrainConfig(steps=...)`): which one makes colour edits work?
# 4. **How the model computes legality.** Ablate each MLP neuron of the last block
#    (`model.blocks[3].mlp`) and measure the legal-move accuracy: are there neurons that fire
#    when a given square is legal, as Nanda found on 8×8?
# 5. **Scaling and training.** Retrain with `course.models.othello.train` at other sizes
#    (`OthelloConfig(d_model=32)`, 2 layers, fewer steps): when do the mine/theirs probes
#    appear, relative to the legal-move accuracy? Does the representation appear before or after
#    the model stops making illegal moves?
# 6. **Championship games.** Li et al. also trained on human championship games, whose moves are
#    not uniform. Make a biased player (prefer corners and edges) in `random_games` and compare
#    the probes: does the world model depend on the data being random?

# %%
print(f"lesson ran in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 4.4`), else from `bootcamp check 4.4` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("4.4")
