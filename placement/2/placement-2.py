# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   placement:
#     module: "2"
#     title: "Placement quiz: Module 2, transformers from scratch"
#     minutes: 14
# ---

# %% [markdown]
# # Placement quiz: Module 2, transformers from scratch
#
# Nine short items, about 14 minutes in all: one checks the training-loop habits you need
# from Module 1, three the GPT of lesson 2.1, three the training and sampling of lesson 2.2,
# one learning from preferences (2.3), one the modern blocks of lesson 2.4.
# Skip an item rather than spending more than its time on it: an unanswered item simply
# means "do that lesson".
#
# When you are done, save the notebook and run `bootcamp placement 2` from the course
# directory. It says which lessons of Module 2 you can skip, which one to start with, and
# which lesson to go back to for each item that fails, Module 1's included.

# %%
import math  # noqa: F401 (for your answers)

import torch
import torch.nn.functional as F

from course import checks

# %% [markdown]
# ## 1. Next-token targets (about 1 minute, lesson 1.4)
#
# A language model reads `tokens[:, :-1]` and is trained to predict, at every position,
# the token that comes next. `next_token_loss(logits, tokens)` returns the mean
# cross-entropy, where `logits` has shape `(batch, seq - 1, vocab)` (one prediction per
# input position) and `tokens` has shape `(batch, seq)`.

# %% nbgrader={"solution": true, "grade_id": "next_token_loss"} exercise={"difficulty": 2, "importance": 5, "minutes": 1} placement={"lessons": ["1.4", "2.2"]}
def next_token_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """logits: (B, S-1, V) float; tokens: (B, S) int64. Returns a scalar tensor."""
    ### BEGIN SOLUTION
    targets = tokens[:, 1:]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "next_token_loss_test", "points": 1}
_gen = torch.Generator().manual_seed(0)
_tok = torch.randint(0, 7, (3, 6), generator=_gen)
_lg = torch.randn(3, 5, 7, generator=_gen)
_want = -torch.log_softmax(_lg, -1).gather(-1, _tok[:, 1:, None]).mean()
checks.assert_close("next_token_loss", next_token_loss(_lg, _tok), _want,
                    hint="the target at position i is the token at position i + 1")
### BEGIN HIDDEN TESTS
_tok1 = torch.randint(0, 4, (1, 2), generator=_gen)
_lg1 = torch.randn(1, 1, 4, generator=_gen)
checks.assert_close("next_token_loss", next_token_loss(_lg1, _tok1),
                    -torch.log_softmax(_lg1, -1)[0, 0, _tok1[0, 1]], name="a sequence of two tokens")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. LayerNorm (about 2 minutes, lesson 2.1)
#
# `layer_norm(x, w, b, eps)` normalises each vector along the last axis (subtract its
# mean, divide by the square root of its *biased* variance plus `eps`), then scales by `w`
# and shifts by `b`, as `torch.nn.LayerNorm` does.

# %% nbgrader={"solution": true, "grade_id": "layer_norm"} exercise={"difficulty": 2, "importance": 5, "minutes": 2} placement={"lessons": ["2.1"]}
def layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """x: (..., D); w, b: (D,). Returns a tensor shaped like x."""
    ### BEGIN SOLUTION
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps) * w + b
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "layer_norm_test", "points": 1}
_gen = torch.Generator().manual_seed(1)
_x = torch.randn(2, 3, 8, generator=_gen) * 4 + 2
_w, _b = torch.randn(8, generator=_gen), torch.randn(8, generator=_gen)
checks.assert_close("layer_norm", layer_norm(_x, _w, _b), F.layer_norm(_x, (8,), _w, _b, eps=1e-5),
                    hint="statistics over the last axis only, with keepdim=True; the variance is the biased one")
### BEGIN HIDDEN TESTS
_x1 = torch.randn(5, 1, generator=_gen)
checks.assert_close("layer_norm", layer_norm(_x1, torch.ones(1), torch.zeros(1)),
                    F.layer_norm(_x1, (1,), eps=1e-5), name="vectors of length 1")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. A causal attention pattern (about 2 minutes, lesson 2.1)
#
# `causal_pattern(q, k)` returns the attention probabilities of one head: the scores
# `q @ k.T` scaled by `1 / sqrt(d_head)`, with every position after the query's own
# masked out, then a softmax over the keys. Row `i` is how much query position `i`
# attends to each key position.

# %% nbgrader={"solution": true, "grade_id": "causal_pattern"} exercise={"difficulty": 2, "importance": 5, "minutes": 2} placement={"lessons": ["2.1"]}
def causal_pattern(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """q, k: (seq, d_head). Returns (seq_q, seq_k) probabilities; each row sums to 1."""
    ### BEGIN SOLUTION
    scores = q @ k.T / math.sqrt(q.shape[-1])
    n = q.shape[0]
    future = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
    return scores.masked_fill(future, float("-inf")).softmax(-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "causal_pattern_test", "points": 1}
_gen = torch.Generator().manual_seed(2)
_q, _k = torch.randn(5, 4, generator=_gen), torch.randn(5, 4, generator=_gen)
_want = F.scaled_dot_product_attention(_q[None], _k[None], torch.eye(5)[None], is_causal=True)[0]
checks.assert_close("causal_pattern", causal_pattern(_q, _k), _want,
                    hint="mask the scores strictly above the diagonal with -inf before the softmax; scale by "
                         "1/sqrt(d_head)")
### BEGIN HIDDEN TESTS
_q1 = torch.randn(1, 3, generator=_gen)
checks.assert_close("causal_pattern", causal_pattern(_q1, _q1), torch.ones(1, 1), name="a single position")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Splitting into heads (about 1 minute, lesson 2.1)
#
# `split_heads(x, n_heads)` turns activations `(batch, seq, n_heads * d_head)` into
# `(batch, n_heads, seq, d_head)`, where head `h` gets the features
# `h * d_head ... (h + 1) * d_head - 1`, as GPT-2 splits its queries, keys and values.

# %% nbgrader={"solution": true, "grade_id": "split_heads"} exercise={"difficulty": 2, "importance": 4, "minutes": 1} placement={"lessons": ["2.1"]}
def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """x: (B, S, H * Dh). Returns (B, H, S, Dh)."""
    ### BEGIN SOLUTION
    b, s, d = x.shape
    return x.reshape(b, s, n_heads, d // n_heads).transpose(1, 2)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "split_heads_test", "points": 1}
_x = torch.arange(2 * 3 * 6, dtype=torch.float32).reshape(2, 3, 6)
_got = split_heads(_x, 2)
checks.assert_shape("split_heads", _got, (2, 2, 3, 3), hint="(B, S, H*Dh) -> (B, S, H, Dh) -> swap S and H")
checks.assert_close("split_heads", _got, torch.stack([_x[:, :, 0:3], _x[:, :, 3:6]], dim=1),
                    hint="reshape the last axis into (H, Dh) first, then move H in front of S: a plain "
                         "reshape to (B, H, S, Dh) mixes positions into heads")
### BEGIN HIDDEN TESTS
_x3 = torch.randn(1, 4, 12, generator=torch.Generator().manual_seed(3))
checks.assert_close("split_heads", split_heads(_x3, 3), _x3.view(1, 4, 3, 4).permute(0, 2, 1, 3),
                    name="three heads")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. RMSNorm (about 1 minute, lesson 2.4)
#
# `rms_norm(x, weight, eps)` is the normalisation of Llama-style models: divide each vector
# (the last dimension) by the square root of the mean of its squares plus `eps`, then
# multiply by the gain `weight`. Unlike LayerNorm it subtracts no mean and adds no bias.

# %% nbgrader={"solution": true, "grade_id": "rms_norm"} exercise={"difficulty": 1, "importance": 4, "minutes": 1} placement={"lessons": ["2.4"]}
def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """x: (..., d) float; weight: (d,). Returns weight * x / sqrt(mean(x**2, last dim) + eps)."""
    ### BEGIN SOLUTION
    return weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "rms_norm_test", "points": 1}
_xr = torch.tensor([[3.0, 4.0], [1.0, 1.0]])
checks.assert_close("rms_norm", rms_norm(_xr, torch.ones(2), 0.0), torch.stack([_xr[0] / math.sqrt(12.5), _xr[1]]),
                    name="rms_norm of [[3, 4], [1, 1]], eps 0",
                    hint="no mean is subtracted: [1, 1] has root-mean-square 1 and stays [1, 1]")
checks.assert_close("rms_norm", rms_norm(torch.full((1, 4), 2.0), torch.arange(4.0), 1.0), torch.arange(4.0)[None] * 2.0 / math.sqrt(5.0),
                    name="rms_norm(2s, gain [0, 1, 2, 3], eps 1)", hint="eps goes inside the square root; the gain multiplies last")
### BEGIN HIDDEN TESTS
_x3 = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(0))
_g3 = torch.rand(5, generator=torch.Generator().manual_seed(1))
checks.assert_close("rms_norm", rms_norm(_x3, _g3, 1e-5), _g3 * _x3 / (_x3.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt(),
                    name="a (2, 3, 5) batch")
### END HIDDEN TESTS


# %% [markdown]
# ## 6. Temperature (about 1 minute, lesson 2.2)
#
# `temperature_probs(logits, t)` returns the probabilities a sampler draws from at
# temperature `t > 0`: the softmax of the logits divided by `t`, over the last axis.

# %% nbgrader={"solution": true, "grade_id": "temperature_probs"} exercise={"difficulty": 1, "importance": 4, "minutes": 1} placement={"lessons": ["2.2"]}
def temperature_probs(logits: torch.Tensor, t: float) -> torch.Tensor:
    """logits: (..., V). Returns probabilities, same shape."""
    ### BEGIN SOLUTION
    return torch.softmax(logits / t, dim=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "temperature_probs_test", "points": 1}
_lg = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
checks.assert_close("temperature_probs", temperature_probs(_lg, 0.5), torch.softmax(_lg * 2, -1),
                    name="t = 0.5", hint="divide the logits by t before the softmax (not the probabilities)")
checks.assert_close("temperature_probs", temperature_probs(_lg, 4.0), torch.softmax(_lg / 4, -1), name="t = 4")
### BEGIN HIDDEN TESTS
checks.assert_close("temperature_probs", temperature_probs(torch.tensor([1000.0, 0.0]), 1.0),
                    torch.tensor([1.0, 0.0]), name="large logits")
### END HIDDEN TESTS

# %% [markdown]
# ## 7. Top-k filtering (about 2 minutes, lesson 2.2)
#
# `top_k_logits(logits, k)` keeps the `k` largest logits of each row and sets every other
# entry to `-inf`, so that sampling from the softmax picks only among the top `k`. Ties at
# the k-th value may keep more than `k`.

# %% nbgrader={"solution": true, "grade_id": "top_k_logits"} exercise={"difficulty": 2, "importance": 4, "minutes": 2} placement={"lessons": ["2.2"]}
def top_k_logits(logits: torch.Tensor, k: int) -> torch.Tensor:
    """logits: (B, V). Returns a new (B, V) tensor; the input is unchanged."""
    ### BEGIN SOLUTION
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "top_k_logits_test", "points": 1}
_lg = torch.tensor([[1.0, 5.0, 3.0, 2.0], [-1.0, -2.0, -3.0, 0.0]])
_keep = _lg.clone()
_got = top_k_logits(_lg, 2)
_ninf = float("-inf")
checks.assert_close("top_k_logits", _got, torch.tensor([[_ninf, 5.0, 3.0, _ninf], [-1.0, _ninf, _ninf, 0.0]]),
                    hint="find each ROW's k-th largest value (topk along the last axis), then mask what is below it")
checks.assert_close("top_k_logits", _lg, _keep, name="the input after the call", hint="return a new tensor")
### BEGIN HIDDEN TESTS
_big = torch.randn(3, 10, generator=torch.Generator().manual_seed(4))
_g = top_k_logits(_big, 10)
checks.assert_close("top_k_logits", _g, _big, name="k = vocabulary size")
checks.assert_equal("top_k_logits", int(torch.isfinite(top_k_logits(_big, 1)).sum()), 3, name="k = 1 keeps one per row")
### END HIDDEN TESTS

# %% [markdown]
# ## 8. A KV cache's memory (about 2 minutes, lesson 2.2)
#
# While generating, a KV cache keeps every layer's keys and values for every position so
# far. `kv_cache_floats(n_layers, n_heads, d_head, seq, batch)` is how many numbers the
# cache holds after `seq` positions (keys and values both).

# %% nbgrader={"solution": true, "grade_id": "kv_cache_floats"} exercise={"difficulty": 1, "importance": 3, "minutes": 2} placement={"lessons": ["2.2"]}
def kv_cache_floats(n_layers: int, n_heads: int, d_head: int, seq: int, batch: int = 1) -> int:
    """Returns the number of stored values (an int)."""
    ### BEGIN SOLUTION
    return 2 * n_layers * batch * n_heads * seq * d_head
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "kv_cache_floats_test", "points": 1}
def _cache_size(n_layers, n_heads, d_head, seq, batch):
    cache = [(torch.zeros(batch, n_heads, seq, d_head), torch.zeros(batch, n_heads, seq, d_head))
             for _ in range(n_layers)]
    return sum(k.numel() + v.numel() for k, v in cache)


checks.assert_equal("kv_cache_floats", kv_cache_floats(2, 4, 16, 10), _cache_size(2, 4, 16, 10, 1),
                    hint="one key AND one value vector per layer, head and position")
### BEGIN HIDDEN TESTS
checks.assert_equal("kv_cache_floats", kv_cache_floats(3, 2, 8, 5, batch=4), _cache_size(3, 2, 8, 5, 4),
                    name="a batch of 4")
### END HIDDEN TESTS
# %% [markdown]
# ## 9. A reward model's loss (about 1 minute, lesson 2.3)
#
# `bradley_terry_loss(r_chosen, r_rejected)` takes a reward model's scores for the preferred
# and the rejected completion of each pair, each `(n,)`, and returns the mean negative
# log-likelihood of the preferences under the Bradley-Terry model, in which the chosen one
# wins with probability `sigmoid(r_chosen - r_rejected)`.

# %% nbgrader={"solution": true, "grade_id": "bradley_terry_loss"} exercise={"difficulty": 1, "importance": 4, "minutes": 1} placement={"lessons": ["2.3"]}
def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """r_chosen, r_rejected: (n,) float. Returns a 0-d tensor."""
    ### BEGIN SOLUTION
    return -F.logsigmoid(r_chosen - r_rejected).mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "bradley_terry_loss_test", "points": 1}
checks.assert_close("bradley_terry_loss", bradley_terry_loss(torch.zeros(3), torch.zeros(3)), torch.tensor(math.log(2.0)),
                    name="equal rewards", hint="equal scores: each preference has probability 1/2, so the loss is ln 2")
checks.assert_close("bradley_terry_loss", bradley_terry_loss(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 2.0])),
                    torch.tensor(-(math.log(1 / (1 + math.exp(-2))) + math.log(1 / (1 + math.exp(2)))) / 2),
                    name="one pair right, one wrong", hint="-log sigmoid(chosen - rejected), averaged over pairs")
### BEGIN HIDDEN TESTS
checks.assert_close("bradley_terry_loss", bradley_terry_loss(torch.tensor([200.0]), torch.tensor([0.0])), torch.tensor(0.0),
                    atol=1e-6, name="a very confident right pair", hint="use a stable log-sigmoid (F.logsigmoid)")
checks.assert_true("bradley_terry_loss", torch.isfinite(bradley_terry_loss(torch.tensor([0.0]), torch.tensor([200.0]))),
                   "a very confident wrong pair gives inf or nan", hint="log(sigmoid(-200)) underflows: use F.logsigmoid")
### END HIDDEN TESTS


