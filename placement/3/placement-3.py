# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   placement:
#     module: "3"
#     title: "Placement quiz: Module 3, interpretability tools"
#     minutes: 14
# ---

# %% [markdown]
# # Placement quiz: Module 3, interpretability tools
#
# Eight short items, about 14 minutes in all: one checks the attention you need from
# Module 2, the others the four lessons of Module 3 (TransformerLens, induction heads,
# circuits, steering). Everything here works on small tensors you are given: no model is loaded.
# Skip an item rather than spending more than its time on it: an unanswered item simply
# means "do that lesson".
#
# When you are done, save the notebook and run `bootcamp placement 3` from the course
# directory. It says which lessons of Module 3 you can skip, which one to start with, and
# which lesson to go back to for each item that fails, Module 2's included.

# %%
import torch

from course import checks

# %% [markdown]
# ## 1. What one head writes (about 2 minutes, lesson 2.1)
#
# A head's result at each position is its attention-weighted sum of value vectors, mapped
# into the residual stream by its output matrix. `head_write(pattern, v, W_O)` returns it,
# given the head's pattern `(q_pos, k_pos)` (rows sum to 1), its values `(k_pos, d_head)`
# and `W_O` `(d_head, d_model)`.

# %% nbgrader={"solution": true, "grade_id": "head_write"} exercise={"difficulty": 1, "importance": 4, "minutes": 2} placement={"lessons": ["2.1"]}
def head_write(pattern: torch.Tensor, v: torch.Tensor, W_O: torch.Tensor) -> torch.Tensor:
    """Returns (q_pos, d_model)."""
    ### BEGIN SOLUTION
    return pattern @ v @ W_O
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "head_write_test", "points": 1}
_gen = torch.Generator().manual_seed(0)
_pat = torch.randn(4, 5, generator=_gen).softmax(-1)
_v, _WO = torch.randn(5, 3, generator=_gen), torch.randn(3, 6, generator=_gen)
_want = torch.stack([sum(_pat[q, k] * _v[k] for k in range(5)) @ _WO for q in range(4)])
checks.assert_close("head_write", head_write(_pat, _v, _WO), _want,
                    hint="row q of the result: the values weighted by row q of the pattern, then through W_O")
### BEGIN HIDDEN TESTS
checks.assert_close("head_write", head_write(torch.eye(5), _v, _WO), _v @ _WO, name="a pattern that attends to itself")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Direct logit attribution (about 2 minutes, lesson 3.1)
#
# The residual stream at the last position is a sum of components (the embedding, each
# head's output, each MLP's output). `logit_attribution(components, W_U, correct, wrong)`
# returns each component's direct contribution to the logit difference between the tokens
# `correct` and `wrong`: a tensor with one number per component. (Ignore the final
# LayerNorm: assume it has been folded in.)

# %% nbgrader={"solution": true, "grade_id": "logit_attribution"} exercise={"difficulty": 2, "importance": 5, "minutes": 2} placement={"lessons": ["3.1"]}
def logit_attribution(components: torch.Tensor, W_U: torch.Tensor, correct: int, wrong: int) -> torch.Tensor:
    """components: (n_components, d_model); W_U: (d_model, d_vocab). Returns (n_components,)."""
    ### BEGIN SOLUTION
    return components @ (W_U[:, correct] - W_U[:, wrong])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "logit_attribution_test", "points": 1}
_gen = torch.Generator().manual_seed(1)
_comps, _WU = torch.randn(5, 8, generator=_gen), torch.randn(8, 11, generator=_gen)
_got = logit_attribution(_comps, _WU, 3, 7)
checks.assert_shape("logit_attribution", _got, (5,), hint="one number per component: project each onto one direction")
_logits = _comps.sum(0) @ _WU
checks.assert_close("logit_attribution", _got.sum(), _logits[3] - _logits[7], name="the sum over components",
                    hint="the contributions must add up to the logit difference: use the difference of the two "
                         "unembedding columns")
### BEGIN HIDDEN TESTS
checks.assert_close("logit_attribution", logit_attribution(_comps, _WU, 2, 2), torch.zeros(5),
                    name="a token against itself")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. How much did patching restore? (about 1 minute, lesson 3.1)
#
# In activation patching you run the model on a corrupted input, patch in one activation
# from the clean run, and measure a metric. `patching_effect(patched, clean, corrupted)`
# returns the share of the clean-minus-corrupted gap that the patch restored: 1 when the
# patched metric equals the clean one, 0 when it equals the corrupted one. It works on
# tensors of any shape, elementwise.

# %% nbgrader={"solution": true, "grade_id": "patching_effect"} exercise={"difficulty": 1, "importance": 4, "minutes": 1} placement={"lessons": ["3.1"]}
def patching_effect(patched: torch.Tensor, clean: float, corrupted: float) -> torch.Tensor:
    """Returns a tensor shaped like `patched`."""
    ### BEGIN SOLUTION
    return (patched - corrupted) / (clean - corrupted)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "patching_effect_test", "points": 1}
_got = patching_effect(torch.tensor([[1.0, 3.0], [2.0, 0.0]]), 3.0, 1.0)
checks.assert_close("patching_effect", _got, torch.tensor([[0.0, 1.0], [0.5, -0.5]]),
                    hint="(patched - corrupted) over (clean - corrupted)")
### BEGIN HIDDEN TESTS
checks.assert_close("patching_effect", patching_effect(torch.tensor([-2.0]), -4.0, 0.0), torch.tensor([0.5]),
                    name="a clean metric below the corrupted one")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. An induction score (about 2 minutes, lesson 3.2)
#
# On a sequence made of a random block of length `L` followed by the same block again, an
# induction head at a position `t` of the second block attends to the token right *after*
# the previous occurrence of the current token: position `t - L + 1`.
# `induction_score(pattern, L)` takes one head's pattern over such a sequence,
# `(2L, 2L)`, and returns the mean attention from each position `t` in `L .. 2L - 1` to
# `t - L + 1`.

# %% nbgrader={"solution": true, "grade_id": "induction_score"} exercise={"difficulty": 2, "importance": 5, "minutes": 2} placement={"lessons": ["3.2"]}
def induction_score(pattern: torch.Tensor, L: int) -> float:
    """pattern: (2L, 2L). Returns a float in [0, 1]."""
    ### BEGIN SOLUTION
    return pattern.diagonal(offset=-(L - 1))[1:].mean().item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "induction_score_test", "points": 1}
_L = 4
_perfect = torch.zeros(2 * _L, 2 * _L)
for _t in range(2 * _L):
    _perfect[_t, _t - _L + 1 if _t >= _L else 0] = 1.0
checks.assert_close("induction_score", induction_score(_perfect, _L), 1.0, name="a perfect induction head",
                    hint="position t of the second block looks at t - L + 1, one AFTER the earlier copy of its token")
_prev = torch.zeros(2 * _L, 2 * _L)
_prev[0, 0] = 1.0
for _t in range(1, 2 * _L):
    _prev[_t, _t - 1] = 1.0
checks.assert_close("induction_score", induction_score(_prev, _L), 0.0, name="a previous-token head")
### BEGIN HIDDEN TESTS
_uni = torch.tril(torch.ones(10, 10))
_uni = _uni / _uni.sum(-1, keepdim=True)
_want = sum(_uni[t, t - 4] for t in range(5, 10)) / 5
checks.assert_close("induction_score", induction_score(_uni, 5), float(_want), name="uniform causal attention, L = 5")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. A composition score (about 2 minutes, lesson 3.2)
#
# How much does head B read what head A writes? `composition_score(W_A, W_B)` is
# $\lVert W_A W_B\rVert_F / (\lVert W_A\rVert_F \lVert W_B\rVert_F)$, the Frobenius norm of
# the product over the product of the norms (Elhage et al. 2021).

# %% nbgrader={"solution": true, "grade_id": "composition_score"} exercise={"difficulty": 1, "importance": 3, "minutes": 2} placement={"lessons": ["3.2"]}
def composition_score(W_A: torch.Tensor, W_B: torch.Tensor) -> float:
    """W_A: (d, d); W_B: (d, d). Returns a float."""
    ### BEGIN SOLUTION
    return (torch.linalg.matrix_norm(W_A @ W_B) / (torch.linalg.matrix_norm(W_A) * torch.linalg.matrix_norm(W_B))).item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "composition_score_test", "points": 1}
_gen = torch.Generator().manual_seed(5)
_A, _B = torch.randn(6, 6, generator=_gen), torch.randn(6, 6, generator=_gen)
checks.assert_close("composition_score", composition_score(_A, _B),
                    ((_A @ _B) ** 2).sum().sqrt().item() / (((_A ** 2).sum().sqrt() * (_B ** 2).sum().sqrt()).item()),
                    hint="the Frobenius norm is the square root of the sum of squares of every entry")
### BEGIN HIDDEN TESTS
_P = torch.zeros(6, 6)
_P[0, 0] = 1.0
_Q = torch.zeros(6, 6)
_Q[1, 1] = 1.0
checks.assert_close("composition_score", composition_score(_P, _Q), 0.0, name="a head that reads what A never writes")
### END HIDDEN TESTS

# %% [markdown]
# ## 6. The logit difference (about 1 minute, lesson 3.3)
#
# For indirect object identification, the metric is the logit of the indirect object
# minus the logit of the subject, averaged over prompts. `logit_diff(logits, io, s)` takes
# the final position's logits `(batch, d_vocab)` and the two token ids per prompt.

# %% nbgrader={"solution": true, "grade_id": "logit_diff"} exercise={"difficulty": 1, "importance": 5, "minutes": 1} placement={"lessons": ["3.3"]}
def logit_diff(logits: torch.Tensor, io: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """logits: (B, V); io, s: (B,) int64. Returns a scalar tensor."""
    ### BEGIN SOLUTION
    rows = torch.arange(logits.shape[0])
    return (logits[rows, io] - logits[rows, s]).mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "logit_diff_test", "points": 1}
_lg = torch.tensor([[1.0, 5.0, 2.0], [0.0, 1.0, 4.0]])
checks.assert_close("logit_diff", logit_diff(_lg, torch.tensor([1, 2]), torch.tensor([0, 1])), torch.tensor(3.5),
                    hint="each prompt's own io and s: logits[row, io[row]] - logits[row, s[row]], then the mean; "
                         "logits[:, io] would pick every io for every row")
### BEGIN HIDDEN TESTS
checks.assert_close("logit_diff", logit_diff(_lg[:1], torch.tensor([0]), torch.tensor([1])), torch.tensor(-4.0),
                    name="a prompt the model gets wrong")
### END HIDDEN TESTS

# %% [markdown]
# ## 7. Attribution patching (about 2 minutes, lesson 3.3)
#
# Attribution patching estimates the effect of patching each head without running the
# model again: the metric's gradient at the clean activation times the change the patch
# would make, (corrupted − clean), summed over the activation's features.
# `attribution(clean, corrupted, grad)` takes one activation per head, each
# `(n_heads, d_head)`, and returns one estimate per head.

# %% nbgrader={"solution": true, "grade_id": "attribution"} exercise={"difficulty": 2, "importance": 4, "minutes": 2} placement={"lessons": ["3.3"]}
def attribution(clean: torch.Tensor, corrupted: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """All three: (n_heads, d_head). Returns (n_heads,)."""
    ### BEGIN SOLUTION
    return ((corrupted - clean) * grad).sum(-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "attribution_test", "points": 1}
_gen = torch.Generator().manual_seed(7)
_w = torch.randn(3, 4, generator=_gen, dtype=torch.float64)
_clean, _corr = torch.randn(3, 4, generator=_gen, dtype=torch.float64), torch.randn(3, 4, generator=_gen, dtype=torch.float64)


def _metric(act):  # a linear metric: attribution patching is exact for it
    return (act * _w).sum(-1)


checks.assert_close("attribution", attribution(_clean, _corr, _w), _metric(_corr) - _metric(_clean),
                    hint="(corrupted - clean) times the gradient, summed over d_head (not over heads)")
### BEGIN HIDDEN TESTS
checks.assert_close("attribution", attribution(_clean, _clean, _w), torch.zeros(3, dtype=torch.float64),
                    name="a patch that changes nothing")
### END HIDDEN TESTS

# %% [markdown]
# ## 8. A steering vector from contrast prompts (about 2 minutes, lesson 3.4)
#
# Activation addition steers a model with the difference between the residual streams of
# prompts with and without a concept. `contrast_vector(pos, neg)` takes the residual
# streams of the two sets of prompts, `(n_prompts, seq, d_model)` each, and returns the
# mean over prompts of the **last** position's vector in `pos`, minus the same for `neg`.

# %% nbgrader={"solution": true, "grade_id": "contrast_vector"} exercise={"difficulty": 1, "importance": 4, "minutes": 2} placement={"lessons": ["3.4"]}
def contrast_vector(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """pos: (n_pos, seq, d_model), neg: (n_neg, seq, d_model). Returns (d_model,)."""
    ### BEGIN SOLUTION
    return pos[:, -1].mean(0) - neg[:, -1].mean(0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "contrast_vector_test", "points": 1}
_pos = torch.tensor([[[9.0, 9.0], [1.0, 2.0]], [[9.0, 9.0], [3.0, 4.0]]])
_neg = torch.tensor([[[5.0, 5.0], [0.0, 1.0]]])
checks.assert_close("contrast_vector", contrast_vector(_pos, _neg), torch.tensor([2.0, 2.0]),
                    hint="the LAST position of each prompt, averaged over the prompts; positive minus negative")
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(3)
_p, _n = torch.randn(4, 5, 3, generator=_g), torch.randn(2, 5, 3, generator=_g)
checks.assert_close("contrast_vector", contrast_vector(_p, _n), _p[:, -1].mean(0) - _n[:, -1].mean(0), name="another shape")
### END HIDDEN TESTS
