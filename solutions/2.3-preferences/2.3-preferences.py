# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "2.3"
#     title: Learning from preferences
#     minutes: 240
#     prerequisites: ["2.2"]
# ---

# %% [markdown]
# # 2.3 Learning from preferences
#
# The model you trained in 2.2 writes whatever is likely in the standard library. A
# deployed assistant is a language model that was then pushed toward what people
# *prefer*: first by supervised fine-tuning on demonstrations (SFT), then with a reward
# model learned from comparisons and an optimiser that climbs it (RLHF, Christiano et al.
# 2017; Ouyang et al. 2022), or directly from the comparisons with DPO (Rafailov et al.
# 2023). This lesson runs that whole pipeline on the course's own model, offline, in under
# a minute of CPU, on a behaviour we can score exactly, so that you can see not only that it works
# but **how it fails**: a reward model with a flaw is climbed, its score rises, and the
# behaviour it was meant to measure gets worse (Gao, Schulman and Hilton 2022).
#
# **After this lesson you can**
# - fine-tune a language model on demonstrations with a loss on the completion only (SFT);
# - score a completion under a model (the sum of its tokens' log-probabilities), the number
#   DPO, KL estimates and RLHF all rest on;
# - train a Bradley-Terry reward model on preference pairs and measure its pairwise
#   accuracy on held-out pairs;
# - implement the DPO loss, train with it, and report the rise in true reward together with
#   the KL divergence to the reference model, estimated on samples;
# - optimise against a flawed reward model with best-of-n and with REINFORCE (a KL-penalised
#   policy gradient), read off the KL it costs, and show the proxy reward rising while the
#   true reward does not.
#
# **Prerequisites.** 2.2 (training and sampling: a training step, sampling, the KV cache).
# The model is the shipped `stdlib-gpt` (2 layers, d_model 128, byte-level).
#
# **Time.** About 4 hours: twelve graded exercises (30 points).
#
# **Papers, and what is reproduced here.**
# - Christiano et al. 2017, *Deep reinforcement learning from human preferences*: a reward
#   model fitted to pairwise comparisons with the Bradley-Terry model (their section 2.2.3).
#   Reproduced: the loss, and a reward model that orders held-out pairs well above chance.
# - Ouyang et al. 2022, *Training language models to follow instructions with human
#   feedback* (InstructGPT): the SFT → reward model → optimisation pipeline. Reproduced in
#   miniature: SFT on demonstrations raises the target behaviour; the reward model ranks
#   completions of the SFT model; RL against it with a KL penalty, as REINFORCE (Williams
#   1992) with a batch-mean baseline instead of their PPO.
# - Rafailov et al. 2023, *Direct Preference Optimization*: the DPO loss (their equation 7).
#   Reproduced: a few dozen DPO steps from the SFT reference raise the true reward, at a KL
#   cost to the reference that we estimate on samples.
# - Gao, Schulman and Hilton 2022, *Scaling Laws for Reward Model Overoptimization*:
#   best-of-n against a proxy reward model, with KL = log n − (n−1)/n. Reproduced
#   qualitatively: against a flawed proxy the proxy score rises with n while the true
#   ("gold") reward falls; against a better proxy the true reward rises. Their fitted
#   functional forms are not reproduced.
#
# Everything runs on a CPU, offline, from the shipped checkpoint; the longest cell trains
# for a few seconds.

# %%
import copy
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from course import checks, data
from course.models import registry
from course.models.gpt import GPT, GPTConfig, decode, encode

torch.set_num_threads(1)
torch.set_printoptions(precision=4, sci_mode=False)
_ = torch.manual_seed(0)

# %% [markdown]
# ## The setting: a preference we can compute
#
# In real RLHF the preference comes from people, and nobody can write it down as a
# function: that is why a reward model is learned at all. To *see* what the pipeline does,
# we replace the people with a rule we can evaluate exactly, the **true reward**, and then
# pretend we cannot read it: the learning algorithms only ever see demonstrations and
# pairwise comparisons, as they would in practice. Our rule: the labellers like
# `snake_case`. The true reward of a completion is the number of **snake-case joints** in
# it, underscores with a lowercase ASCII letter on each side (`max_len` has one, `a_b_c`
# two, `__init__` and `x_1` none).
#
# Prompts are 16-byte windows of the standard-library source; a completion is the next 16
# bytes, sampled from a model. The sampler below is the KV-cache sampler you wrote in 2.2,
# batched (given, not graded).

# %%
corpus = data.stdlib_corpus()
train_tokens, val_tokens = corpus.tokens("train", torch=True), corpus.tokens("val", torch=True)
base = registry.load("stdlib-gpt")
for p in base.parameters():
    p.requires_grad_(False)
PROMPT_LEN, COMPLETION_LEN = 16, 16


def random_prompts(tokens: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, PROMPT_LEN) int64: windows of `tokens` at random starts."""
    starts = torch.randint(0, len(tokens) - PROMPT_LEN - COMPLETION_LEN, (n,), generator=generator)
    return tokens[starts[:, None] + torch.arange(PROMPT_LEN)].long()


@torch.no_grad()
def sample_completions(model: GPT, prompts: torch.Tensor, generator: torch.Generator,
                       n_new: int = COMPLETION_LEN, temperature: float = 1.0) -> torch.Tensor:
    """(B, T) prompts -> (B, n_new) sampled continuations, with a KV cache (lesson 2.2)."""
    B, T = prompts.shape
    keys, values = [None] * len(model.blocks), [None] * len(model.blocks)

    def last_logits(tokens, start):
        x = model.embed(tokens, start)
        for i, block in enumerate(model.blocks):
            attn, h = block.attn, block.ln_1(x)
            q, k, v = (attn.split_heads(f(h)) for f in (attn.q, attn.k, attn.v))
            keys[i] = k if keys[i] is None else torch.cat([keys[i], k], dim=2)
            values[i] = v if values[i] is None else torch.cat([values[i], v], dim=2)
            n_q, n_k = q.shape[2], keys[i].shape[2]
            future = torch.ones(n_q, n_k, dtype=torch.bool).triu(n_k - n_q + 1)
            scores = (q @ keys[i].transpose(-2, -1) / math.sqrt(attn.d_head)).masked_fill(future, float("-inf"))
            x = x + attn.proj((scores.softmax(-1) @ values[i]).transpose(1, 2).reshape(B, n_q, -1))
            x = x + block.mlp(block.ln_2(x))
        return model.unembed(model.ln_f(x[:, -1]))

    logits, out = last_logits(prompts, 0), []
    for t in range(n_new):
        out.append(torch.multinomial((logits / temperature).softmax(-1), 1, generator=generator))
        if t < n_new - 1:
            logits = last_logits(out[-1], T + t)
    return torch.cat(out, dim=1)


def show(prompts: torch.Tensor, completions: torch.Tensor, k: int = 4) -> None:
    for p, c in zip(prompts[:k], completions[:k]):
        print(f"{decode(p)!r:>22} -> {decode(c)!r}")


eval_prompts = random_prompts(val_tokens, 128, torch.Generator().manual_seed(1))
base_samples = sample_completions(base, eval_prompts, torch.Generator().manual_seed(2))
show(eval_prompts, base_samples)

# %% [markdown]
# ## Exercise 1: the true reward
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 10 minutes, then look at the hint.
#
# Write `snake_reward`: for each row of byte tokens, count the positions `i` with
# `tokens[i] == ord("_")` and both neighbours, `tokens[i - 1]` and `tokens[i + 1]`, in
# `ord("a")..ord("z")`. The first and last bytes cannot be joints (a neighbour is missing).
# Work on the whole batch at once: the reward is computed on thousands of samples below.
#
# <details><summary>Hint</summary>
#
# **Idea.** Three boolean tables of shape `(N, L-2)`: "the byte before is a lowercase
# letter", "this byte is an underscore", "the byte after is a lowercase letter"; a joint is
# where all three hold.
#
# **Pointer.** Shifted slices of the same tensor line up the neighbours (columns `:-2`,
# `1:-1` and `2:`); `&` combines boolean tensors; sum along the sequence and return floats.
# </details>

# %% nbgrader={"solution": true, "grade_id": "snake_reward"} exercise={"difficulty": 1, "importance": 3, "minutes": 10}
def snake_reward(tokens: torch.Tensor) -> torch.Tensor:
    """(N, L) int64 byte tokens -> (N,) float32: the number of snake-case joints per row."""
    ### BEGIN SOLUTION
    def lower(t):
        return (t >= ord("a")) & (t <= ord("z"))

    joint = lower(tokens[:, :-2]) & (tokens[:, 1:-1] == ord("_")) & lower(tokens[:, 2:])
    return joint.float().sum(dim=1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "snake_reward_test", "points": 1}
_cases = ["max_len = z_b_c", "__init__(self) ", "x_1 = A_b + c_D", "_a_b_c_d_e_f_g_", "_______________"]
got = checks.call("snake_reward", snake_reward, torch.stack([encode(s) for s in _cases]), case="five strings")
checks.assert_shape("snake_reward", got, (5,))
checks.assert_dtype("snake_reward", got, torch.float32, hint="return .float() counts")
checks.assert_equal("snake_reward", got, torch.tensor([3.0, 0.0, 0.0, 6.0, 0.0]), name="joints per string",
                    hint="'max_len = z_b_c' has 3 joints; '__init__' none (an underscore next to an underscore); "
                         "'x_1' and 'A_b' none (digits and capitals do not count); the ends cannot be joints")
### BEGIN HIDDEN TESTS
import re  # noqa: E402

_rng = torch.Generator().manual_seed(11)
_alphabet = torch.tensor([ord(c) for c in "ab_Z1 "])
_rows = _alphabet[torch.randint(0, len(_alphabet), (300, 9), generator=_rng)]
_want = torch.tensor([float(len(re.findall(r"(?<=[a-z])_(?=[a-z])", decode(r)))) for r in _rows])
checks.assert_equal("snake_reward", snake_reward(_rows), _want, name="random rows of 'ab_Z1 '")
checks.assert_equal("snake_reward", snake_reward(encode("a_b")[None]), torch.tensor([1.0]), name="'a_b' (L=3)")
### END HIDDEN TESTS

# %%
print(f"base model: {snake_reward(base_samples).mean():.2f} snake-case joints per 16-byte completion")

# %% [markdown]
# ## Exercise 2: the log-probability of a completion
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 20 minutes, then look at the hint.
#
# Everything below needs one number per (prompt, completion): the log-probability the model
# gives the whole completion,
#
# $$\log \pi(y \mid x) = \sum_{t=1}^{L} \log \pi(y_t \mid x, y_{<t}).$$
#
# SFT maximises it on demonstrations, DPO compares it between two models, and the KL
# between two models is its expected difference. One forward pass on the concatenation
# `[x, y]` gives every term at once: the logits at position `j` predict token `j + 1`, so
# the completion's tokens are predicted by the positions from `len(x) - 1` to the
# second-to-last. Gradients must flow (DPO trains through this function).
#
# <details><summary>Hint</summary>
#
# **Idea.** Concatenate along the sequence; run the model on all but the last token; take
# log-softmax over the vocabulary; pick out the log-probability of the token that actually
# came next; keep only the completion's positions; sum.
#
# **Pointer.** `torch.gather` along the last dimension with the next tokens as an index of
# shape `(B, T-1, 1)`. The classic mistake is an off-by-one: the first completion token is
# predicted at position `PROMPT_LEN - 1`, not `PROMPT_LEN`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "completion_logprob"} exercise={"difficulty": 2, "importance": 5, "minutes": 20}
def completion_logprob(model: GPT, prompts: torch.Tensor, completions: torch.Tensor) -> torch.Tensor:
    """log pi(completion | prompt), summed over the completion's tokens.

    prompts: (B, P) int64, P >= 1; completions: (B, L) int64. Returns (B,) float, differentiable.
    """
    ### BEGIN SOLUTION
    tokens = torch.cat([prompts, completions], dim=1)
    logprobs = model(tokens[:, :-1]).log_softmax(dim=-1)
    picked = logprobs.gather(-1, tokens[:, 1:, None])[..., 0]
    return picked[:, prompts.shape[1] - 1:].sum(dim=1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "completion_logprob_test", "points": 3}
torch.manual_seed(0)
tiny = GPT(GPTConfig(d_vocab=8, n_ctx=16, d_model=16, n_layers=1, n_heads=2, d_mlp=32, init_std=0.5))
_p, _c = torch.tensor([[1, 2, 3], [4, 5, 6]]), torch.tensor([[7, 0], [1, 1]])
got = checks.call("completion_logprob", completion_logprob, tiny, _p, _c, case="a tiny GPT, P=3, L=2")
checks.assert_shape("completion_logprob", got, (2,))
with torch.no_grad():
    _lp = tiny(torch.cat([_p, _c], 1)).log_softmax(-1)
_want = _lp[torch.arange(2), 2, _c[:, 0]] + _lp[torch.arange(2), 3, _c[:, 1]]
checks.assert_close("completion_logprob", got, _want, name="log pi(y|x)", atol=1e-5,
                    hint="y_1 is predicted by the logits at the LAST prompt position (index P-1); "
                         "do not count the prompt's own tokens")
checks.assert_true("completion_logprob", got.requires_grad,
                   "the result has no gradient: do not wrap the forward pass in torch.no_grad()")
### BEGIN HIDDEN TESTS
_p1, _c1 = torch.tensor([[3]]), torch.tensor([[2, 5, 7, 1]])
with torch.no_grad():
    _lp1 = tiny(torch.cat([_p1, _c1], 1)).log_softmax(-1)[0]
_want1 = sum(_lp1[t, _c1[0, t]] for t in range(4))
checks.assert_close("completion_logprob", completion_logprob(tiny, _p1, _c1), _want1[None], atol=1e-5,
                    name="a one-token prompt")
### END HIDDEN TESTS

# %% [markdown]
# ## Supervised fine-tuning on demonstrations
#
# InstructGPT's first step is SFT: collect demonstrations of the behaviour you want and
# fine-tune on them with the ordinary language-model loss, **on the completion only** (the
# prompt is given, not something the model should learn to write). Our demonstrations are
# real standard-library windows whose 16-byte continuation has at least two snake-case
# joints, the equivalent of "examples a labeller wrote".
#
# ## Exercise 3: the SFT loss
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Write `sft_loss`: the mean cross-entropy, in nats per token, of the completion's tokens
# given the prompt and the completion so far. The prompt's tokens are not targets.
#
# <details><summary>Hint</summary>
#
# **Idea.** It is exercise 2 again, averaged instead of summed, with the sign flipped: the
# negative log-likelihood per completion token, averaged over the batch.
#
# **Pointer.** Reuse `completion_logprob` and divide by the number of completion tokens; or
# slice the logits at the completion's positions and call `F.cross_entropy` on them.
# </details>

# %% nbgrader={"solution": true, "grade_id": "sft_loss"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def sft_loss(model: GPT, prompts: torch.Tensor, completions: torch.Tensor) -> torch.Tensor:
    """Scalar: mean negative log-likelihood per completion token (nats). Differentiable."""
    ### BEGIN SOLUTION
    return -completion_logprob(model, prompts, completions).mean() / completions.shape[1]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sft_loss_test", "points": 2}
_c3 = torch.tensor([[7, 0, 5], [1, 1, 2]])
got = checks.call("sft_loss", sft_loss, tiny, _p, _c3, case="a tiny GPT, P=3, L=3")
checks.assert_shape("sft_loss", got, ())
with torch.no_grad():
    _logits = tiny(torch.cat([_p, _c3], 1)[:, :-1])
_want = F.cross_entropy(_logits[:, 2:].reshape(-1, 8), _c3.reshape(-1))
checks.assert_close("sft_loss", got, _want, name="loss", atol=1e-5,
                    hint="average over completion tokens only: the prompt is context, not a target")
### BEGIN HIDDEN TESTS
_c2 = torch.tensor([[7, 0, 3, 3, 2], [1, 1, 0, 6, 4]])
with torch.no_grad():
    _logits2 = tiny(torch.cat([_p, _c2], 1)[:, :-1])
checks.assert_close("sft_loss", sft_loss(tiny, _p, _c2), F.cross_entropy(_logits2[:, 2:].reshape(-1, 8), _c2.reshape(-1)),
                    atol=1e-5, name="loss with L=5", hint="divide by the number of completion tokens")
### END HIDDEN TESTS

# %% [markdown]
# Below, your loss fine-tunes a copy of the shipped model for 30 steps on the
# demonstrations (a few seconds). The copy becomes the **reference model** `sft`: the
# starting point of everything that follows, and the model every KL is measured against.

# %%
_gen = torch.Generator().manual_seed(0)
_starts = torch.randint(0, len(train_tokens) - PROMPT_LEN - COMPLETION_LEN, (40_000,), generator=_gen)
_windows = train_tokens[_starts[:, None] + torch.arange(PROMPT_LEN + COMPLETION_LEN)].long()
demos = _windows[snake_reward(_windows[:, PROMPT_LEN:]) >= 2]
print(f"{len(demos)} demonstrations, e.g.")
show(demos[:, :PROMPT_LEN], demos[:, PROMPT_LEN:], 3)

torch.manual_seed(0)
sft = copy.deepcopy(base)
for p in sft.parameters():
    p.requires_grad_(True)
opt = torch.optim.AdamW(sft.parameters(), lr=1e-3, weight_decay=0.0)
sft_losses = []
for _step in (bar := tqdm(range(30), desc="SFT", unit="step")):
    batch = demos[torch.randint(0, len(demos), (32,), generator=_gen)]
    loss = sft_loss(sft, batch[:, :PROMPT_LEN], batch[:, PROMPT_LEN:])
    opt.zero_grad()
    loss.backward()
    opt.step()
    sft_losses.append(loss.item())
    bar.set_postfix(loss=f"{loss.item():.3f}")
sft.eval()
for p in sft.parameters():
    p.requires_grad_(False)
sft_samples = sample_completions(sft, eval_prompts, torch.Generator().manual_seed(2))
reward_base, reward_sft = snake_reward(base_samples).mean().item(), snake_reward(sft_samples).mean().item()
print(f"true reward: base {reward_base:.2f} -> SFT {reward_sft:.2f} joints per completion")
show(eval_prompts, sft_samples)

# %% nbgrader={"grade": true, "grade_id": "sft_loss_test_2", "points": 1}
checks.call("sft_loss", sft_loss, tiny, _p, _c, case="a tiny GPT")
checks.assert_true("sft_loss", reward_sft > reward_base + 0.8,
                   f"SFT raised the true reward only from {reward_base:.2f} to {reward_sft:.2f} "
                   "(expected a rise of at least 0.8 joints per completion)",
                   hint="is the loss on the completion's tokens, with the right sign (minimise the NLL)?")
### BEGIN HIDDEN TESTS
checks.assert_true("sft_loss", sft_loss(tiny, _p, _c).item() > 0, "the loss is a negative log-likelihood: positive")
### END HIDDEN TESTS

# %% [markdown]
# ## Preference pairs and the Bradley-Terry model
#
# Demonstrations are expensive; comparisons are cheap. For each prompt we sample two
# completions from the SFT model and ask a labeller which is better. The Bradley-Terry
# model (1952), which Christiano et al. (2017) use, says a labeller with a hidden score
# `r` prefers `a` to `b` with probability
#
# $$P(a \succ b) = \sigma\big(r(a) - r(b)\big), \qquad \sigma(z) = \frac{1}{1 + e^{-z}}.$$
#
# Our simulated labeller follows it exactly with `r` = the true reward, so its labels are
# noisy: a completion with one more joint wins only 73% of the time. Pairs with equal
# reward carry no information about it, and a labeller would mark them as ties: we drop them.

# %%
def label_pairs(a, b, score, generator):
    """Bradley-Terry labeller: returns (chosen, rejected), a preferred with prob sigmoid(score(a) - score(b))."""
    a_wins = torch.rand(len(a), generator=generator) < torch.sigmoid(score(a) - score(b))
    return torch.where(a_wins[:, None], a, b), torch.where(a_wins[:, None], b, a)


_gen = torch.Generator().manual_seed(3)
pair_prompts = random_prompts(train_tokens, 768, _gen)
comp_a = sample_completions(sft, pair_prompts, _gen)
comp_b = sample_completions(sft, pair_prompts, _gen)
chosen, rejected = label_pairs(comp_a, comp_b, snake_reward, _gen)
informative = snake_reward(comp_a) != snake_reward(comp_b)
pair_prompts, chosen, rejected = pair_prompts[informative], chosen[informative], rejected[informative]
n_train = int(0.75 * len(chosen))
print(f"{len(chosen)} informative pairs ({(~informative).sum().item()} ties dropped); "
      f"{n_train} to train on, {len(chosen) - n_train} held out")
for i in range(3):
    print(f"  chosen {decode(chosen[i])!r:24} over {decode(rejected[i])!r}")
agree = (snake_reward(chosen) > snake_reward(rejected)).float().mean().item()
print(f"the labeller agrees with the true reward on {agree:.0%} of the pairs (the rest is Bradley-Terry noise)")

# %% [markdown]
# ## Exercise 4: the Bradley-Terry loss
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 2 points · about 10 minutes, then look at the hint.
#
# A reward model `r_θ` is fitted by maximum likelihood under Bradley-Terry: minimise the
# mean of `−log σ(r_θ(chosen) − r_θ(rejected))` over the pairs. Write it for batches of
# reward values. It must stay finite when the model is very wrong (a margin of −200).
#
# <details><summary>Hint</summary>
#
# **Idea.** The negative log of the probability the model gives to the observed choice,
# averaged over pairs.
#
# **Pointer.** `torch.sigmoid(z).log()` underflows to `-inf` for very negative `z`;
# `F.logsigmoid` computes the same quantity stably.
# </details>

# %% nbgrader={"solution": true, "grade_id": "bradley_terry_loss"} exercise={"difficulty": 1, "importance": 5, "minutes": 10}
def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """(N,), (N,) rewards -> scalar: mean of -log sigmoid(r_chosen - r_rejected)."""
    ### BEGIN SOLUTION
    return -F.logsigmoid(r_chosen - r_rejected).mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "bradley_terry_loss_test", "points": 2}
got = checks.call("bradley_terry_loss", bradley_terry_loss, torch.tensor([0.0, 2.0]), torch.tensor([0.0, 1.0]),
                  case="margins 0 and 1")
checks.assert_shape("bradley_terry_loss", got, ())
checks.assert_close("bradley_terry_loss", got, torch.tensor((math.log(2) + math.log(1 + math.exp(-1))) / 2),
                    name="loss", hint="mean over pairs of -log sigmoid(chosen - rejected); check the sign of the margin")
got = bradley_terry_loss(torch.tensor([-100.0]), torch.tensor([100.0]))
checks.assert_true("bradley_terry_loss", torch.isfinite(got).item(),
                   f"loss for a margin of -200 is {got.item()}", hint="use F.logsigmoid, not log(sigmoid(.))")
checks.assert_close("bradley_terry_loss", got, torch.tensor(200.0), name="loss for a margin of -200")
### BEGIN HIDDEN TESTS
_rc, _rr = torch.randn(50, dtype=torch.float64), torch.randn(50, dtype=torch.float64)
checks.assert_close("bradley_terry_loss", bradley_terry_loss(_rc, _rr), torch.log1p(torch.exp(_rr - _rc)).mean(),
                    name="float64 batch of 50")
### END HIDDEN TESTS

# %% [markdown]
# ## A reward model
#
# InstructGPT's reward model is the language model with a scalar head. Ours is smaller and
# can be read: a **bag of bytes**, one weight per byte value, `r_w(y) = Σ_b w_b · count_b(y)`.
# It cannot see order (it cannot tell `a_b` from `_ab`), so it is a *proxy* for the true
# reward, as every learned reward model is; it can still learn that underscores help.
#
# ## Exercise 5: byte-count features
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵⚪⚪⚪ · 1 point · about 5 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# **Idea.** One-hot encode every byte into 256 columns, then add the rows of each completion.
#
# **Pointer.** `F.one_hot(tokens, 256)` has shape `(N, L, 256)`; sum over `L`; make it float.
# </details>

# %% nbgrader={"solution": true, "grade_id": "byte_counts"} exercise={"difficulty": 1, "importance": 2, "minutes": 5}
def byte_counts(tokens: torch.Tensor) -> torch.Tensor:
    """(N, L) int64 bytes -> (N, 256) float32: how many times each byte value occurs in each row."""
    ### BEGIN SOLUTION
    return F.one_hot(tokens, 256).sum(dim=1).float()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "byte_counts_test", "points": 1}
got = checks.call("byte_counts", byte_counts, torch.stack([encode("a_b_"), encode("zzzz")]), case="'a_b_', 'zzzz'")
checks.assert_shape("byte_counts", got, (2, 256))
checks.assert_dtype("byte_counts", got, torch.float32)
checks.assert_equal("byte_counts", got[:, [ord("a"), ord("_"), ord("b"), ord("z")]],
                    torch.tensor([[1.0, 2.0, 1.0, 0.0], [0.0, 0.0, 0.0, 4.0]]), name="counts of a, _, b, z",
                    hint="count per row (sum over the sequence), not over the batch")
### BEGIN HIDDEN TESTS
_t = torch.randint(0, 256, (7, 33), generator=torch.Generator().manual_seed(4))
checks.assert_equal("byte_counts", byte_counts(_t), torch.stack([torch.bincount(r, minlength=256) for r in _t]).float(),
                    name="random rows vs bincount")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: train the reward model
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 20 minutes, then look at the hint.
#
# Fit `w` (256 weights, starting at zero) with Adam on your Bradley-Terry loss, full batch,
# plus an L2 penalty `weight_decay · Σ w²` (without it, bytes seen in one pair get
# arbitrarily large weights). Then the test measures the **pairwise accuracy** on the
# held-out pairs: how often the reward model ranks the completion with more joints higher.
#
# <details><summary>Hint</summary>
#
# **Idea.** The reward of every chosen and rejected completion is a matrix-vector product of
# its features with `w`; the loss is exercise 4 on those rewards plus the penalty; take
# `steps` optimiser steps.
#
# **Pointer.** `w = torch.zeros(256, requires_grad=True)` and `torch.optim.Adam([w], lr=lr)`;
# return `w.detach()` so the caller gets a plain tensor.
# </details>

# %% nbgrader={"solution": true, "grade_id": "train_reward_model"} exercise={"difficulty": 2, "importance": 4, "minutes": 20}
def train_reward_model(feats_chosen: torch.Tensor, feats_rejected: torch.Tensor, steps: int = 200,
                       lr: float = 0.1, weight_decay: float = 1e-2) -> torch.Tensor:
    """(N, F), (N, F) features of chosen / rejected completions -> (F,) weights w of r(y) = feats(y) @ w."""
    ### BEGIN SOLUTION
    w = torch.zeros(feats_chosen.shape[1], requires_grad=True)
    opt = torch.optim.Adam([w], lr=lr)
    for _ in range(steps):
        loss = bradley_terry_loss(feats_chosen @ w, feats_rejected @ w) + weight_decay * (w ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach()
    ### END SOLUTION


# %%
def pairwise_accuracy(w, a, b):
    """How often the reward model w ranks the completion with more true reward higher (ties in truth skipped)."""
    truth = snake_reward(a) - snake_reward(b)
    pred = byte_counts(a) @ w - byte_counts(b) @ w
    keep = truth != 0
    return ((pred[keep] > 0) == (truth[keep] > 0)).float().mean().item()


# %% nbgrader={"grade": true, "grade_id": "train_reward_model_test", "points": 3}
def synthetic_pairs(n_features, n_pairs, seed):
    """Bradley-Terry pairs of random feature vectors whose hidden score is feats @ w_true."""
    g = torch.Generator().manual_seed(seed)
    w_true = torch.randn(n_features, generator=g)
    fa, fb = torch.randn(n_pairs, n_features, generator=g), torch.randn(n_pairs, n_features, generator=g)
    a_wins = torch.rand(n_pairs, generator=g) < torch.sigmoid(fa @ w_true - fb @ w_true)
    return w_true, torch.where(a_wins[:, None], fa, fb), torch.where(a_wins[:, None], fb, fa)


_w_true, _fc, _fr = synthetic_pairs(6, 2000, seed=5)
_w = checks.call("train_reward_model", train_reward_model, _fc, _fr, steps=300, lr=0.05, weight_decay=0.0,
                 case="synthetic pairs with 6 features")
checks.assert_shape("train_reward_model", _w, (6,))
checks.assert_true("train_reward_model", not _w.requires_grad, "return w.detach()")
checks.assert_true("train_reward_model", F.cosine_similarity(_w, _w_true, dim=0) > 0.95,
                   f"on synthetic Bradley-Terry data the weights point away from the true ones "
                   f"(cosine {F.cosine_similarity(_w, _w_true, dim=0):.2f})",
                   hint="is the margin chosen - rejected (not the reverse)? Does the optimiser take `steps` steps?")
_w = train_reward_model(_fc, _fr, steps=300, lr=0.05, weight_decay=0.5)
_w_check = _w.clone().requires_grad_(True)
(bradley_terry_loss(_fc @ _w_check, _fr @ _w_check) + 0.5 * (_w_check ** 2).sum()).backward()
checks.assert_true("train_reward_model", _w_check.grad.norm() < 1e-3,
                   f"with weight_decay=0.5 the penalised loss is not at its minimum at your w "
                   f"(gradient norm {_w_check.grad.norm():.3g})",
                   hint="the penalty is weight_decay * (sum of w squared), added to the Bradley-Terry loss")
rm_honest = train_reward_model(byte_counts(chosen[:n_train]), byte_counts(rejected[:n_train]))
acc_honest = pairwise_accuracy(rm_honest, chosen[n_train:], rejected[n_train:])
print(f"held-out pairwise accuracy on the snake-case pairs: {acc_honest:.1%} (chance 50%)")
checks.assert_true("train_reward_model", acc_honest >= 0.8,
                   f"held-out pairwise accuracy {acc_honest:.1%}, expected at least 80%")
checks.assert_true("train_reward_model", rm_honest.argmax().item() == ord("_"),
                   f"the byte with the largest weight is {chr(rm_honest.argmax().item())!r}, expected '_'",
                   hint="with the L2 penalty the underscore should dominate; without it rare bytes blow up")
### BEGIN HIDDEN TESTS
_w_true2, _fc2, _fr2 = synthetic_pairs(10, 3000, seed=6)
_w2 = train_reward_model(_fc2, _fr2, steps=300, lr=0.05, weight_decay=1e-3)
checks.assert_true("train_reward_model", F.cosine_similarity(_w2, _w_true2, dim=0) > 0.95,
                   "10 features, a small penalty: the fitted weights do not point along the true ones")
### END HIDDEN TESTS

# %% [markdown]
# ## Direct preference optimisation
#
# RLHF fits a reward model and then runs an RL algorithm (PPO in InstructGPT) to maximise
# `E[r(y)] − β · KL(π ‖ π_ref)`: more reward, but not too far from the reference model.
# Rafailov et al. (2023) noticed that this objective's optimum is known in closed form,
# `π*(y|x) ∝ π_ref(y|x) · exp(r(y)/β)`, so the reward can be written through the policy,
# `r(y) = β log(π(y|x) / π_ref(y|x)) + const`. Substitute that into the Bradley-Terry loss
# and the reward model disappears: the policy is trained on the pairs directly,
#
# $$\mathcal{L}_\text{DPO} = -\log \sigma\Big(\beta \big[\log\tfrac{\pi(y_c|x)}{\pi_\text{ref}(y_c|x)}
#   - \log\tfrac{\pi(y_r|x)}{\pi_\text{ref}(y_r|x)}\big]\Big),$$
#
# averaged over pairs (their equation 7), where `y_c` was chosen and `y_r` rejected.
#
# ## Exercise 7: the DPO loss
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 15 minutes, then look at the hint.
#
# The inputs are the completions' log-probabilities (exercise 2) under the policy and under
# the frozen reference.
#
# <details><summary>Hint</summary>
#
# **Idea.** Each model's "implicit reward" of a completion is β times its log-ratio to the
# reference; the loss is exercise 4 applied to those implicit rewards.
#
# **Pointer.** Two log-ratios (chosen, rejected), their difference scaled by `beta`, then the
# stable log-sigmoid. When the policy equals the reference, the loss is exactly `log 2`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "dpo_loss"} exercise={"difficulty": 2, "importance": 5, "minutes": 15}
def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """(N,) log pi(y|x) of chosen/rejected under the policy and the reference -> scalar DPO loss."""
    ### BEGIN SOLUTION
    margin = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin).mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "dpo_loss_test", "points": 3}
_z = torch.tensor([-3.0, -7.0])
got = checks.call("dpo_loss", dpo_loss, _z, _z + 1, _z, _z + 1, 0.1, case="policy = reference")
checks.assert_shape("dpo_loss", got, ())
checks.assert_close("dpo_loss", got, torch.tensor(math.log(2)), name="loss when the policy is the reference",
                    hint="only log-RATIOS to the reference enter the loss")
_pc, _pr = torch.tensor([-2.0, -5.0], requires_grad=True), torch.tensor([-4.0, -1.0], requires_grad=True)
_refc, _refr = torch.tensor([-3.0, -4.0]), torch.tensor([-3.0, -2.0])
got = dpo_loss(_pc, _pr, _refc, _refr, 0.5)
_margins = torch.tensor([(-2.0 + 3.0) - (-4.0 + 3.0), (-5.0 + 4.0) - (-1.0 + 2.0)])
checks.assert_close("dpo_loss", got, -F.logsigmoid(0.5 * _margins).mean(), name="loss, beta=0.5",
                    hint="margin = (log pi_c - log ref_c) - (log pi_r - log ref_r), scaled by beta")
got.backward()
checks.assert_true("dpo_loss", bool((_pc.grad < 0).all() and (_pr.grad > 0).all()),
                   "minimising the loss should raise log pi(chosen) and lower log pi(rejected): check the signs")
### BEGIN HIDDEN TESTS
checks.assert_close("dpo_loss", dpo_loss(torch.tensor([-500.0]), torch.tensor([0.0]), torch.tensor([0.0]),
                                         torch.tensor([-500.0]), 1.0), torch.tensor(1000.0), name="a margin of -1000",
                    hint="use F.logsigmoid")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 8: the KL divergence to the reference, estimated on samples
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 20 minutes, then look at the hint.
#
# A reward number means little without its price: how far did the policy move? The
# standard measure (InstructGPT's penalty, DPO's constraint, Gao et al.'s x-axis) is
#
# $$\mathrm{KL}(\pi \,\|\, \pi_\text{ref}) = \mathbb{E}_{x}\,\mathbb{E}_{y \sim \pi(\cdot|x)}
#   \big[\log \pi(y|x) - \log \pi_\text{ref}(y|x)\big],$$
#
# in nats per completion. Over 16 bytes there are 256¹⁶ completions, so we cannot sum over
# them; but the expectation is over samples **from the policy**, so a Monte-Carlo average
# over completions drawn from `π` estimates it without bias. Write the estimator: given
# completions already sampled from `policy`, return the mean log-ratio. (The samples must
# come from the policy, not from the reference: with reference samples the same average
# estimates `−KL(π_ref ‖ π)`, a different and negative number.)
#
# <details><summary>Hint</summary>
#
# **Idea.** Score the same completions under both models with exercise 2; the estimate is the
# mean difference.
#
# **Pointer.** No gradient is needed: `torch.no_grad()`. Return a Python float.
# </details>

# %% nbgrader={"solution": true, "grade_id": "kl_to_reference"} exercise={"difficulty": 3, "importance": 5, "minutes": 20}
def kl_to_reference(policy: GPT, reference: GPT, prompts: torch.Tensor, completions: torch.Tensor) -> float:
    """Monte-Carlo KL(policy || reference) in nats per completion; completions (B, L) were sampled from policy."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        ratio = completion_logprob(policy, prompts, completions) - completion_logprob(reference, prompts, completions)
    return ratio.mean().item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "kl_to_reference_test", "points": 3}
torch.manual_seed(1)
tiny_ref = GPT(GPTConfig(d_vocab=8, n_ctx=16, d_model=16, n_layers=1, n_heads=2, d_mlp=32, init_std=0.5))
_prompts1 = torch.tensor([[1, 2, 3]]).repeat(4000, 1)
_samples1 = sample_completions(tiny, _prompts1, torch.Generator().manual_seed(6), n_new=1)
got = checks.call("kl_to_reference", kl_to_reference, tiny, tiny, _prompts1[:10], _samples1[:10],
                  case="a model against itself")
checks.assert_true("kl_to_reference", isinstance(got, float), f"return a Python float, got {type(got).__name__}")
checks.assert_close("kl_to_reference", got, 0.0, name="KL(pi || pi)", atol=1e-6)
with torch.no_grad():
    _lp_pi = tiny(_prompts1[:1]).log_softmax(-1)[0, -1]
    _lp_ref = tiny_ref(_prompts1[:1]).log_softmax(-1)[0, -1]
_exact = (_lp_pi.exp() * (_lp_pi - _lp_ref)).sum().item()
got = kl_to_reference(tiny, tiny_ref, _prompts1, _samples1)
print(f"one-token completions: exact KL {_exact:.4f}, your estimate from 4000 samples {got:.4f}")
checks.assert_close("kl_to_reference", got, _exact, name="KL estimate vs exact (one token, 4000 samples)",
                    atol=0.05, hint="log pi - log pi_ref on samples FROM pi (not the reverse ratio)")
### BEGIN HIDDEN TESTS
_samples_ref = sample_completions(tiny_ref, _prompts1, torch.Generator().manual_seed(7), n_new=1)
_rev = (_lp_ref.exp() * (_lp_ref - _lp_pi)).sum().item()
checks.assert_close("kl_to_reference", kl_to_reference(tiny_ref, tiny, _prompts1, _samples_ref), _rev, atol=0.05,
                    name="KL(ref || pi) from ref's samples")
### END HIDDEN TESTS

# %% [markdown]
# ## DPO, live
#
# Below, your `dpo_loss` trains a copy of the SFT model on the training pairs for 24 steps
# (batch 32, Adam, learning rate 3·10⁻⁴, β = 0.1), and every 6 steps samples 128
# completions from the policy to measure the true reward and your KL estimate. Before you
# run it, predict: will the KL grow steadily, or jump and then level off?

# %%
BETA = 0.1
with torch.no_grad():
    ref_chosen = completion_logprob(sft, pair_prompts[:n_train], chosen[:n_train])
    ref_rejected = completion_logprob(sft, pair_prompts[:n_train], rejected[:n_train])

torch.manual_seed(0)
policy = copy.deepcopy(sft)
for p in policy.parameters():
    p.requires_grad_(True)
opt = torch.optim.Adam(policy.parameters(), lr=3e-4)
_gen = torch.Generator().manual_seed(8)
dpo_log = {"step": [], "true_reward": [], "kl": []}


def evaluate(step):
    policy.eval()
    samples = sample_completions(policy, eval_prompts, torch.Generator().manual_seed(2))
    dpo_log["step"].append(step)
    dpo_log["true_reward"].append(snake_reward(samples).mean().item())
    dpo_log["kl"].append(kl_to_reference(policy, sft, eval_prompts, samples))
    policy.train()
    return samples


evaluate(0)
for step in (bar := tqdm(range(1, 25), desc="DPO", unit="step")):
    idx = torch.randint(0, n_train, (32,), generator=_gen)
    loss = dpo_loss(completion_logprob(policy, pair_prompts[idx], chosen[idx]),
                    completion_logprob(policy, pair_prompts[idx], rejected[idx]),
                    ref_chosen[idx], ref_rejected[idx], BETA)
    opt.zero_grad()
    loss.backward()
    opt.step()
    bar.set_postfix(loss=f"{loss.item():.3f}")
    if step % 6 == 0:
        dpo_samples = evaluate(step)
policy.eval()
for s, r, k in zip(*dpo_log.values()):
    print(f"step {s:2d}: true reward {r:.2f}, KL to the SFT reference {k:5.2f} nats")
show(eval_prompts, dpo_samples)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
ax1.plot(dpo_log["step"], dpo_log["true_reward"], "o-", label="DPO policy")
ax1.axhline(reward_sft, ls=":", c="gray", label="SFT reference")
ax1.axhline(reward_base, ls="--", c="gray", label="base model")
ax1.set(xlabel="DPO step", ylabel="true reward (joints per completion)", title="what DPO buys")
ax1.legend(fontsize=8)
ax2.plot(dpo_log["kl"], dpo_log["true_reward"], "o-")
ax2.set(xlabel="KL(policy || SFT), nats per completion", ylabel="true reward", title="... and what it costs")
plt.tight_layout()
plt.show()

# %% nbgrader={"grade": true, "grade_id": "dpo_loss_test_2", "points": 2}
checks.call("dpo_loss", dpo_loss, _z, _z, _z, _z, 0.1, case="policy = reference")
_rise, _kl = dpo_log["true_reward"][-1] - dpo_log["true_reward"][0], dpo_log["kl"][-1]
checks.assert_true("dpo_loss", _rise >= 0.7,
                   f"DPO raised the true reward by {_rise:.2f} joints per completion; expected at least 0.7",
                   hint="is the loss minimised when log pi(chosen) rises? Compare your signs with the formula")
checks.assert_true("dpo_loss", 0.5 <= _kl <= 40,
                   f"KL to the reference after DPO is {_kl:.2f} nats; expected between 0.5 and 40",
                   hint="a negative or ~0 KL means the estimator or the samples are wrong (exercise 8)")
### BEGIN HIDDEN TESTS
checks.assert_close("dpo_loss", dpo_loss(_z, _z, _z, _z, 0.1), torch.tensor(math.log(2)), name="loss at the reference")
### END HIDDEN TESTS

# %% [markdown]
# What just happened: the SFT model writes about one and a half joints per completion; two
# dozen DPO steps nearly double that, and the KL to the reference grows to several nats
# per 16-byte completion. Read the samples: the policy has learnt to string short
# lowercase fragments together with underscores, which the true reward counts and which
# reads less like Python than before. A KL of several nats is a large move: the policy
# gives its typical completion `e^KL` times the probability the reference gives it. In
# InstructGPT, the KL penalty is what keeps the policy close to text the reward model
# was trained on; here only β and the number of steps do.

# %% [markdown]
# ## Reward hacking: a reward model with a known flaw
#
# Now suppose the labellers had a second, unintended taste: shown code, they also favoured
# completions that *looked tidy*, with plenty of whitespace. Their choices follow
# Bradley-Terry with the score `snake joints + 1.0 × spaces`. Nothing in the data says so;
# the reward model trained on their labels (your exercise 6, same pairs, new labels) simply
# learns whatever predicts their choices.

# %%
def tidy_labeller_score(tokens):
    return snake_reward(tokens) + 1.0 * (tokens == ord(" ")).float().sum(1)


_gen = torch.Generator().manual_seed(9)
chosen_t, rejected_t = label_pairs(comp_a, comp_b, tidy_labeller_score, _gen)
_keep = tidy_labeller_score(comp_a) != tidy_labeller_score(comp_b)
chosen_t, rejected_t = chosen_t[_keep], rejected_t[_keep]
n_train_t = int(0.75 * len(chosen_t))
rm_flawed = train_reward_model(byte_counts(chosen_t[:n_train_t]), byte_counts(rejected_t[:n_train_t]))
for name, w in (("honest RM", rm_honest), ("flawed RM", rm_flawed)):
    top = w.topk(4).indices.tolist()
    print(f"{name}: largest weights " + ", ".join(f"{chr(b)!r} {w[b]:+.2f}" for b in top))
_margin = byte_counts(chosen_t[n_train_t:]) @ rm_flawed - byte_counts(rejected_t[n_train_t:]) @ rm_flawed
acc_flawed_labels = (_margin > 0).float().mean().item()
acc_flawed_truth = pairwise_accuracy(rm_flawed, chosen[n_train:], rejected[n_train:])
print(f"flawed RM, held-out pairwise accuracy: {acc_flawed_labels:.1%} against its own labellers' choices, "
      f"{acc_flawed_truth:.1%} against the true reward (honest RM: {acc_honest:.1%})")

# %% [markdown]
# Validated the way it would be in practice, on held-out choices of the same labellers, the
# flawed reward model looks good: the validation pairs share the labellers' taste. Only
# against the true reward, which in practice nobody has, is it worse than the honest one.
# And even a modest accuracy gap says little about what happens when something
# *optimises* against the model.
#
# The simplest optimiser is **best-of-n**: sample `n` completions from the reference, keep
# the one the reward model scores highest. Gao et al. (2022) use it because its KL to the
# reference is known in closed form without any sampling: for `n` samples,
#
# $$\mathrm{KL}_{\text{best-of-}n} = \log n - \frac{n-1}{n}$$
#
# (exact when no two samples tie; an upper bound otherwise). Below, 32 completions from
# the SFT model for each of 48 prompts are scored by both reward models and by the truth.

# %%
N_MAX = 32
bon_prompts = eval_prompts[:48]
bon_samples = sample_completions(sft, bon_prompts.repeat_interleave(N_MAX, 0), torch.Generator().manual_seed(10))
true_scores = snake_reward(bon_samples).view(48, N_MAX)
honest_scores = (byte_counts(bon_samples) @ rm_honest).view(48, N_MAX)
flawed_scores = (byte_counts(bon_samples) @ rm_flawed).view(48, N_MAX)
print(f"{bon_samples.shape[0]} samples; true reward of a random one: {true_scores.mean():.2f}")

# %% [markdown]
# ## Exercise 9: best-of-n
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 5 minutes, then look at the hint.
#
# Given a `(prompts, N_MAX)` table of proxy scores, return for each prompt the index of the
# best among its **first** `n` samples (the first `n` of `N_MAX` independent samples are
# `n` independent samples).
#
# <details><summary>Hint</summary>
#
# **Idea.** Restrict each row to its first `n` columns, then take the position of the maximum.
#
# **Pointer.** A column slice and `argmax` along the last dimension.
# </details>

# %% nbgrader={"solution": true, "grade_id": "best_of_n"} exercise={"difficulty": 1, "importance": 3, "minutes": 5}
def best_of_n(proxy: torch.Tensor, n: int) -> torch.Tensor:
    """(P, N_MAX) proxy scores -> (P,) int64 index in [0, n) of the highest-scoring of the first n."""
    ### BEGIN SOLUTION
    return proxy[:, :n].argmax(dim=1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "best_of_n_test", "points": 1}
_proxy = torch.tensor([[1.0, 5.0, 2.0, 9.0], [3.0, 0.0, 4.0, 1.0]])
got = checks.call("best_of_n", best_of_n, _proxy, 3, case="n=3 of 4")
checks.assert_equal("best_of_n", got, torch.tensor([1, 2]), name="chosen indices",
                    hint="only the first n columns may be chosen (9.0 is sample 4, not among the first 3)")
### BEGIN HIDDEN TESTS
checks.assert_equal("best_of_n", best_of_n(_proxy, 1), torch.tensor([0, 0]), name="n=1")
checks.assert_equal("best_of_n", best_of_n(_proxy, 4), torch.tensor([3, 2]), name="n=4")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 10: the KL of best-of-n
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 5 minutes.
#
# Write the formula above. It grows only like `log n`: best-of-1000 is under 6 nats from the reference.

# %% nbgrader={"solution": true, "grade_id": "best_of_n_kl"} exercise={"difficulty": 1, "importance": 3, "minutes": 5}
def best_of_n_kl(n: int) -> float:
    """KL(best-of-n || reference) in nats, log n - (n - 1) / n."""
    ### BEGIN SOLUTION
    return math.log(n) - (n - 1) / n
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "best_of_n_kl_test", "points": 1}
got = checks.call("best_of_n_kl", best_of_n_kl, 1, case="n=1")
checks.assert_close("best_of_n_kl", got, 0.0, name="KL for n=1 (the reference itself)")
checks.assert_close("best_of_n_kl", best_of_n_kl(2), math.log(2) - 0.5, name="KL for n=2")
### BEGIN HIDDEN TESTS
checks.assert_close("best_of_n_kl", best_of_n_kl(1000), math.log(1000) - 0.999, name="KL for n=1000")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 11 (investigation): predict, then look
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 10 minutes.
#
# Before the plot below exists, read the two reward models' largest weights (printed above)
# and answer, by returning constants from `my_answers`:
#
# 1. `SPURIOUS_BYTE`: the byte (a one-character string) the flawed reward model pays for
#    that the true reward does not care about: the byte whose weight rose most from the
#    honest model to the flawed one.
# 2. `PREDICTION`: as `n` grows from 1 to 32, best-of-n against the **flawed** reward model will
#    - `"A"`: raise the true reward, a little less than best-of-n against the honest model;
#    - `"B"`: raise its own proxy score while the true reward **falls** below the reference's;
#    - `"C"`: change neither the proxy score nor the true reward much, since the KL stays under 3 nats.
#
# The test grades both against your own numbers, not against a fixed answer.

# %% nbgrader={"solution": true, "grade_id": "hacking_answers"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def my_answers() -> tuple[str, str]:
    """(SPURIOUS_BYTE, PREDICTION), e.g. ("x", "A"). Return constants: this is your answer."""
    ### BEGIN SOLUTION
    return " ", "B"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "hacking_answers_test", "points": 2}
answers = checks.call("hacking_answers", my_answers, case="your answers")
checks.assert_true("hacking_answers", isinstance(answers, tuple) and len(answers) == 2,
                   f"return a pair (SPURIOUS_BYTE, PREDICTION), got {answers!r}")
SPURIOUS_BYTE, PREDICTION = answers
_moved = (rm_flawed - rm_honest).argmax().item()
checks.assert_true("hacking_answers", SPURIOUS_BYTE == chr(_moved),
                   f"SPURIOUS_BYTE = {SPURIOUS_BYTE!r} is not the byte whose weight rose most in your reward models",
                   hint="compare rm_flawed[b] - rm_honest[b] across bytes b; the flaw was about how code looks")
_idx_first, _idx_last = torch.zeros(48, dtype=torch.long)[:, None], best_of_n(flawed_scores, N_MAX)[:, None]
_true_first, _true_last = true_scores.gather(1, _idx_first).mean(), true_scores.gather(1, _idx_last).mean()
_proxy_rise = flawed_scores.gather(1, _idx_last).mean() - flawed_scores.gather(1, _idx_first).mean()
_data_says = "B" if (_true_last < _true_first and _proxy_rise > 0) else ("A" if _true_last > _true_first else "C")
checks.assert_true("hacking_answers", PREDICTION == _data_says,
                   f"PREDICTION = {PREDICTION!r} is not what your numbers show",
                   hint="what does choosing the sample with the most of the spurious byte do to the room left for underscores?")
### BEGIN HIDDEN TESTS
checks.assert_equal("hacking_answers", my_answers()[0], " ", name="SPURIOUS_BYTE")
checks.assert_equal("hacking_answers", my_answers()[1], "B", name="PREDICTION")
### END HIDDEN TESTS

# %% [markdown]
# Now the curve, Gao et al.'s figure 1 in miniature: the x-axis is the KL of best-of-n
# (exercise 10), the y-axis the score of the chosen samples, under the proxy that chose
# them and under the truth.

# %%
ns = [1, 2, 4, 8, 16, 32]
bon = {key: [] for key in ("kl", "flawed_proxy", "flawed_true", "honest_proxy", "honest_true")}
for n in ns:
    bon["kl"].append(best_of_n_kl(n))
    for name, proxy in (("flawed", flawed_scores), ("honest", honest_scores)):
        pick = best_of_n(proxy, n)[:, None]
        bon[f"{name}_proxy"].append(proxy.gather(1, pick).mean().item())
        bon[f"{name}_true"].append(true_scores.gather(1, pick).mean().item())
for i, n in enumerate(ns):
    print(f"n={n:2d} KL {bon['kl'][i]:.2f}: flawed proxy {bon['flawed_proxy'][i]:5.2f}, true {bon['flawed_true'][i]:.2f}"
          f" | honest proxy {bon['honest_proxy'][i]:5.2f}, true {bon['honest_true'][i]:.2f}")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
ax1.plot(bon["kl"], bon["flawed_proxy"], "o-", c="C3", label="proxy (flawed RM) score")
ax1.plot(bon["kl"], bon["flawed_true"], "o--", c="C3", label="true reward")
ax1.set(xlabel="KL of best-of-n (nats)", ylabel="score of the chosen sample", title="optimising the flawed RM")
ax1.legend(fontsize=8)
ax2.plot(bon["kl"], bon["honest_proxy"], "o-", c="C0", label="proxy (honest RM) score")
ax2.plot(bon["kl"], bon["honest_true"], "o--", c="C0", label="true reward")
ax2.set(xlabel="KL of best-of-n (nats)", title="optimising the honest RM")
ax2.legend(fontsize=8)
plt.tight_layout()
plt.show()
print("best-of-32 against the flawed RM, e.g.:")
show(bon_prompts, bon_samples.view(48, N_MAX, -1)[torch.arange(48), best_of_n(flawed_scores, N_MAX)], 3)

# %% nbgrader={"grade": true, "grade_id": "best_of_n_test_2", "points": 2}
checks.call("best_of_n", best_of_n, _proxy, 3, case="n=3 of 4")
checks.assert_true("best_of_n", bon["flawed_proxy"][-1] > bon["flawed_proxy"][0] + 2,
                   f"the flawed proxy's score rose only from {bon['flawed_proxy'][0]:.2f} to {bon['flawed_proxy'][-1]:.2f}",
                   hint="best_of_n must pick the HIGHEST proxy score among the first n")
checks.assert_true("best_of_n", bon["flawed_true"][-1] < bon["flawed_true"][0] - 0.5,
                   f"the true reward under the flawed RM went from {bon['flawed_true'][0]:.2f} to "
                   f"{bon['flawed_true'][-1]:.2f}; expected a fall of at least 0.5")
checks.assert_true("best_of_n", bon["honest_true"][-1] > bon["honest_true"][0] + 0.5,
                   f"the true reward under the honest RM went from {bon['honest_true'][0]:.2f} to "
                   f"{bon['honest_true'][-1]:.2f}; expected a rise of at least 0.5")
### BEGIN HIDDEN TESTS
_proxy2 = torch.tensor([[0.0, 2.0, 1.0, 3.0], [5.0, 1.0, 6.0, 0.0], [1.0, 1.5, 0.5, 2.0]])
checks.assert_equal("best_of_n", best_of_n(_proxy2, 2), torch.tensor([1, 0, 1]), name="n=2 of 4, three prompts")
### END HIDDEN TESTS

# %% [markdown]
# What just happened: the flawed reward model passes its own validation, yet choosing the
# best of 32 by its score selects completions that are mostly indentation, and the true
# reward of what is chosen ends below that of a random sample (it may tick up at n = 2
# first: the underscore weight still matters when few samples compete). The honest reward model, also a crude bag of bytes, raises the true reward over
# the same range of KL. Gao et al. (2022) found this shape with real reward models: the
# gold reward first rises and then falls as best-of-n or RL pushes further from the
# reference, and the larger the reward model, the later the fall. Our flaw is strong, so
# the fall comes almost at once; whether a weaker flaw (try `0.3 ×` spaces)
# delays it is not measured here: Going further 2.
#
# ## RL against the flawed reward model: REINFORCE with a KL penalty
#
# Best-of-n only selects; RLHF *trains* the policy. InstructGPT uses PPO; its core is the
# policy gradient, which fits here in its simplest form, REINFORCE (Williams 1992). Sample
# completions `y` from the policy, give each the reward InstructGPT's PPO maximises,
#
# $$R(y) = r_\text{RM}(y) - \beta_\text{KL} \big(\log \pi(y|x) - \log \pi_\text{ref}(y|x)\big),$$
#
# and raise the log-probability of each sample in proportion to its **advantage** `R − mean(R)`
# (subtracting the batch mean, a baseline, leaves the gradient unbiased and cuts its variance).
# The surrogate loss whose gradient is the policy gradient is
# `−mean(advantage · log π(y|x))` with the advantage treated as a constant.
#
# ## Exercise 12: the REINFORCE loss with a KL penalty
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 20 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# **Idea.** Penalised reward per sample, minus its batch mean, times the sample's
# log-probability; average and negate. Only the log-probability may carry a gradient.
#
# **Pointer.** `.detach()` the advantage (and the KL term inside it): a gradient through the
# reward would train the policy to change its own score of the sample, not to sample better.
# </details>

# %% nbgrader={"solution": true, "grade_id": "reinforce_loss"} exercise={"difficulty": 3, "importance": 4, "minutes": 20}
def reinforce_loss(logprobs: torch.Tensor, rewards: torch.Tensor, ref_logprobs: torch.Tensor,
                   kl_coef: float) -> torch.Tensor:
    """Scalar REINFORCE surrogate loss with a batch-mean baseline and a KL penalty.

    logprobs: (B,) log pi(y|x) of the policy's own samples, differentiable;
    rewards: (B,) reward-model scores; ref_logprobs: (B,) log pi_ref(y|x).
    """
    ### BEGIN SOLUTION
    penalised = rewards - kl_coef * (logprobs - ref_logprobs)
    advantage = (penalised - penalised.mean()).detach()
    return -(advantage * logprobs).mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "reinforce_loss_test", "points": 2}
_lp = torch.tensor([-3.0, -5.0, -4.0], requires_grad=True)
_rw, _ref = torch.tensor([2.0, 0.0, 1.0]), torch.tensor([-3.5, -4.0, -4.0])
got = checks.call("reinforce_loss", reinforce_loss, _lp, _rw, _ref, 0.5, case="three samples, kl_coef=0.5")
checks.assert_shape("reinforce_loss", got, ())
_pen = _rw - 0.5 * (_lp.detach() - _ref)  # 1.75, 0.5, 1.0; mean 13/12
checks.assert_close("reinforce_loss", got, -((_pen - _pen.mean()) * _lp.detach()).mean(), name="loss",
                    hint="advantage = (reward - kl_coef * (logp - ref_logp)) minus its batch mean")
got.backward()
checks.assert_close("reinforce_loss", _lp.grad, -(_pen - _pen.mean()) / 3, name="d loss / d logprobs",
                    hint="detach the advantage: the gradient must flow only through the log-probability factor")
### BEGIN HIDDEN TESTS
_lp2 = torch.tensor([-1.0, -2.0], requires_grad=True)
reinforce_loss(_lp2, torch.tensor([5.0, 5.0]), torch.tensor([-1.0, -2.0]), 0.1).backward()
checks.assert_close("reinforce_loss", _lp2.grad, torch.zeros(2), name="gradient when every sample scores the same",
                    hint="subtract the batch mean (the baseline)")
### END HIDDEN TESTS

# %% [markdown]
# Your loss now trains a copy of the SFT model against the **flawed** reward model for 30
# steps of 64 samples (Adam, learning rate 10⁻⁴, `kl_coef` 0.05), recording each batch's
# proxy score, true reward and KL to the reference (the same estimator as exercise 8).

# %%
KL_COEF = 0.05
torch.manual_seed(0)
rl_policy = copy.deepcopy(sft)
for p in rl_policy.parameters():
    p.requires_grad_(True)
opt = torch.optim.Adam(rl_policy.parameters(), lr=1e-4)
_gen = torch.Generator().manual_seed(11)
rl_log = {"proxy": [], "true_reward": [], "kl": []}
for _step in (bar := tqdm(range(30), desc="REINFORCE", unit="step")):
    prompts = random_prompts(train_tokens, 64, _gen)
    rl_policy.eval()
    samples = sample_completions(rl_policy, prompts, _gen)
    rl_policy.train()
    logprobs = completion_logprob(rl_policy, prompts, samples)
    with torch.no_grad():
        ref_logprobs = completion_logprob(sft, prompts, samples)
        proxy = byte_counts(samples) @ rm_flawed
    loss = reinforce_loss(logprobs, proxy, ref_logprobs, KL_COEF)
    opt.zero_grad()
    loss.backward()
    opt.step()
    rl_log["proxy"].append(proxy.mean().item())
    rl_log["true_reward"].append(snake_reward(samples).mean().item())
    rl_log["kl"].append((logprobs.detach() - ref_logprobs).mean().item())
    bar.set_postfix(proxy=f"{rl_log['proxy'][-1]:.2f}", true=f"{rl_log['true_reward'][-1]:.2f}")
rl_policy.eval()


def first_last(key, k=5):
    return sum(rl_log[key][:k]) / k, sum(rl_log[key][-k:]) / k


for key in rl_log:
    print(f"{key:>11}: mean of the first 5 batches {first_last(key)[0]:.2f}, of the last 5 {first_last(key)[1]:.2f}")
print("samples at the last step:")
show(prompts, samples, 3)
fig, ax = plt.subplots(figsize=(7, 3.4))
ax.plot(rl_log["proxy"], label="proxy (flawed RM) score")
ax.plot(rl_log["true_reward"], label="true reward")
ax.plot(rl_log["kl"], label="KL to the SFT reference (nats)")
ax.set(xlabel="REINFORCE step (64 samples each)", title="RL against the flawed reward model")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# What just happened: the policy gradient found the same exploit as best-of-n, by itself:
# the proxy score climbs, the samples fill with indentation, and the true reward of what the
# policy writes does not rise (in the course's run it ends lower than it started), while
# the KL to the reference grows step after step. The penalty does not stop the drift: with
# `kl_coef` 0.05 a nat of KL costs far less than the flawed model pays for one more space
# (its weight is printed above). A KL penalty limits how far the policy moves, not in which
# direction; try a larger `KL_COEF` and see how much of the exploit survives (not measured here).

# %% nbgrader={"grade": true, "grade_id": "reinforce_loss_test_2", "points": 1}
checks.call("reinforce_loss", reinforce_loss, _lp.detach().requires_grad_(), _rw, _ref, 0.5, case="three samples")
(_p0, _p1), (_t0, _t1) = first_last("proxy"), first_last("true_reward")
checks.assert_true("reinforce_loss", _p1 - _p0 >= 1.5,
                   f"the proxy score rose only from {_p0:.2f} to {_p1:.2f} (means of 5 batches); expected at least 1.5",
                   hint="the loss must raise log pi of samples with a high penalised reward: check the sign")
checks.assert_true("reinforce_loss", _t1 - _t0 <= 0.2,
                   f"the true reward rose from {_t0:.2f} to {_t1:.2f} while the flawed proxy was optimised; "
                   "expected no real rise (at most 0.2)")
### BEGIN HIDDEN TESTS
_lp3 = torch.tensor([-2.0, -2.0], requires_grad=True)
reinforce_loss(_lp3, torch.tensor([1.0, 0.0]), torch.tensor([-2.0, -2.0]), 0.0).backward()
checks.assert_close("reinforce_loss", _lp3.grad, torch.tensor([-0.25, 0.25]), name="gradient, two samples, no KL")
### END HIDDEN TESTS

# %% [markdown]
# ## Why this matters for safety
#
# Reinforcement learning from human feedback, in the form Ouyang et al. (2022) describe, is
# how nearly every deployed assistant is aligned today, and every part of it was on this
# page: demonstrations, a learned reward, an optimiser and a KL leash. Its failure modes are
# the ones you just produced on purpose. A reward model learns whatever predicts the
# labellers, including their mistakes and tastes; Casper et al. (2023, *Open Problems and
# Fundamental Limitations of RLHF*) catalogue these, and Sharma et al. (2023, *Towards
# Understanding Sycophancy in Language Models*) show that preference data rewards agreeing
# with the user, so optimised assistants learn to flatter. Optimising harder against such a
# proxy makes it worse, not better (Gao et al. 2022), and a held-out accuracy number does not
# warn you: only measuring the true objective along the optimisation does. That is why
# safety researchers audit reward models (which features does it pay for?), track KL and
# gold-standard evaluations during training, and work on scalable oversight for the cases
# where no labeller can tell the better answer.
#
# ## Summary
#
# - SFT is next-token training on demonstrations, with the loss on the completion only.
# - `log π(y|x)`, summed over the completion, is the quantity SFT, DPO and the KL use.
# - A Bradley-Terry reward model learns from comparisons; held-out pairwise accuracy says
#   how well it ranks, not whether it can be optimised against.
# - DPO trains the policy on the pairs directly; report the reward it buys with the KL it costs.
# - A flawed proxy, optimised, is exploited: its score rises while the true reward falls.
#
# ## Going further
#
# 1. **From REINFORCE to PPO.** Add PPO's clipped ratio and several updates per batch
#    (Schulman et al. 2017) to exercise 12's loop. At equal KL, does PPO exploit the flawed
#    reward model faster or slower than REINFORCE, and than best-of-n? Gao et al. compare
#    RL with best-of-n in their figure 1.
# 2. **The rise-then-fall.** Vary the labellers' weight on spaces from 0 to 1 and find where
#    the true-reward curve of best-of-n changes from rising to falling. Fit Gao et al.'s form
#    `d (α − β d)` with `d = √KL` to each curve; how do α and β depend on the flaw?
# 3. **Reward-model size.** Give the reward model bigram features (256² weights, with a
#    penalty) so it can see `a_b`. Does it resist best-of-n longer, as Gao et al.'s larger
#    reward models do?
# 4. **DPO's implicit reward.** `β log π/π_ref` is a reward model in disguise. Measure its
#    held-out pairwise accuracy during DPO training: does it overfit the pairs, and does
#    the true reward stop rising when it does? (Compare IPO, Azar et al. 2023.)
# 5. **DPO on flawed labels.** Train DPO on the tidy labellers' pairs. Does it pick up the
#    whitespace taste as strongly as the reward model did, and how does β change that?
# 6. **Which circuit changed?** Compare the SFT and DPO models with the tools of Module 3:
#    which heads or neurons moved most, and does a single direction in the residual stream
#    account for the new behaviour? (Lee et al. 2024 study DPO on toxicity this way.)

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 2.3`), else from `bootcamp check 2.3` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary  # noqa: E402

lesson_summary("2.3")
