# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "5.0"
#     title: Threat models and research agendas
#     minutes: 180
#     prerequisites: ["3.1"]
# ---

# %% [markdown]
# # 5.0 Threat models and research agendas
#
# You can now train a transformer, patch its activations and read its attention heads. This
# lesson says what those skills are *for*. AI safety research is a handful of research
# agendas, each a bet on how powerful AI systems could go wrong and what would catch or
# prevent it. A researcher places every experiment on that map: which failure it bears on,
# what its result would change, and what would have to be true for the whole direction to
# work. This lesson is that map, with the arithmetic the agendas use to measure their own
# progress, and the questions to ask of any paper in the field.
#
# **After this lesson you can**
# - state a threat model: the system, the failure, how it arises and why it would not be
#   caught, and name the agendas that address it;
# - say what scalable oversight, mechanistic interpretability, evaluations, adversarial
#   robustness, threat modelling and alignment theory have each shown, and what they have not;
# - classify a described experiment by agenda, and pick the result that would falsify its claim;
# - compute the numbers these agendas report: pass@k for capability evaluations, the expected
#   calibration error, best-of-n optimisation against a flawed reward model and its KL
#   budget, and weak-to-strong's performance gap recovered;
# - read a paper by asking what would have to be true for its direction to work.
#
# **Prerequisites.** 3.1 (TransformerLens: activation patching, ablation and attribution) so
# that the interpretability examples are concrete; 4.2 and 4.3 (superposition, SAEs) help. The
# code is NumPy and a few lines of scikit-learn.
#
# **Time.** About 3 hours, an estimate rather than a measurement: seven auto-graded exercises
# (14 points) and three short answers graded by a mentor (8 points). Spend the time on the reading and the
# answers: lesson 5.1's threat-model section grows out of them.
#
# **How the exercises work.** As in every lesson: replace `raise NotImplementedError` with
# your code and run the test cell below it; a failing test says what is wrong. Two exercises
# are questions about experiments, answered as a dict; their visible tests compare a hash of
# each answer, so the answer key is not printed here (you could brute-force it; then you have
# learnt nothing). Hidden tests, run when the notebook is graded, add the remaining questions
# and edge cases. `bootcamp check 5.0` runs the notebook and prints a table. The three written
# answers are Markdown cells marked "YOUR ANSWER HERE", graded by a mentor with the rubric
# printed above each (also `rubric.toml` beside this notebook).

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

from course import checks


# %% [markdown]
# ## Threat models: what could go wrong, and why it would not be caught
#
# A **threat model** is a specific story of failure, precise enough to test. It names the
# *system* (a language model fine-tuned with reinforcement learning from human feedback, deployed
# as an agent with tools), the *failure* (it takes actions its developers would not approve),
# the *path* by which training produces that failure, and the reason ordinary practice would
# *not catch it* (the failure looks like success to the people who grade the model). The last
# part is what separates a threat model from a worry: every system fails sometimes, and most
# failures are caught by testing.
#
# The threat models that most of the field works on, with the paper that made each concrete:
#
# | threat model | the path | why it might not be caught | made concrete by |
# |---|---|---|---|
# | **specification gaming / reward hacking** | the model optimises the measurable proxy (a reward model, a test suite) rather than what it stands for | the proxy *is* the check: a model that games it scores well | Krakovna et al. 2020, "Specification gaming: the flip side of AI ingenuity" (DeepMind blog); Gao, Schulman and Hilton 2022, "Scaling Laws for Reward Model Overoptimization" |
# | **goal misgeneralisation** | a capable model learns a goal that fits the training data but differs out of distribution | behaviour in training is exactly what was asked for | Langosco et al. 2022, "Goal Misgeneralization in Deep Reinforcement Learning"; Shah et al. 2022, "Goal Misgeneralization: Why Correct Specifications Aren't Enough for Correct Goals" |
# | **deceptive alignment / scheming** | a model that models its own training behaves well *because* it is being trained or tested | good behaviour under evaluation is the symptom, not the cure | Hubinger et al. 2019, "Risks from Learned Optimization in Advanced Machine Learning Systems"; Greenblatt et al. 2024, "Alignment faking in large language models" |
# | **misuse of dangerous capabilities** | a capable model helps a malicious user (cyber-attacks, weapons) | capabilities are under-elicited by weak evaluations; safeguards are bypassed by jailbreaks | Shevlane et al. 2023, "Model evaluation for extreme risks"; Zou et al. 2023, "Universal and Transferable Adversarial Attacks on Aligned Language Models" |
# | **oversight failure** | humans cannot judge the outputs of a system stronger than them, so training rewards what *looks* right | graders are the bottleneck by construction | Amodei et al. 2016, "Concrete Problems in AI Safety" (scalable oversight); Bowman et al. 2022, "Measuring Progress on Scalable Oversight for Large Language Models" |
#
# Ngo, Chan and Mindermann (2022), "The Alignment Problem from a Deep Learning Perspective",
# tie the first three together into one argument; read it for the whole chain, and read its
# critics for where the chain is weakest. None of these is settled: how likely each is, and
# at what level of capability, is exactly what the field disagrees about.

# %% [markdown]
# ## The agendas: what each has shown, and what it has not
#
# Each agenda is a bet on where the leverage is. The course's own skills appear in the last
# column: this is where you would use them.
#
# | agenda | the bet | what it has shown | what it has not shown | course skills |
# |---|---|---|---|---|
# | **scalable oversight** (debate, critiques, weak-to-strong) | weak judges can supervise strong models if the task is structured so that honesty is easier to verify than to fake | AI-written critiques help humans find flaws they miss (Saunders et al. 2022, "Self-critiquing models for assisting human evaluators"); in reading-comprehension tasks with hidden text, debate raised non-expert judges' accuracy (Khan et al. 2024, "Debating with More Persuasive LLMs Leads to More Truthful Answers"); a strong student fine-tuned on weak labels recovers part of the gap to its ceiling (Burns et al. 2023, "Weak-to-Strong Generalization") | that it works when the strong model is trying to mislead, on tasks where no human can check the answer, or that the recovered gap grows with scale | evaluating models on held-out data (1.4), fine-tuning (2.2) |
# | **mechanistic interpretability** (case studies, superposition, scalable interpretability) | if we can read the algorithm a model runs, we can audit it for failures that behaviour does not reveal | complete circuits in small models (Olsson et al. 2022; Wang et al. 2022, "Interpretability in the Wild"; Nanda et al. 2023, grokking); features in superposition can be extracted by sparse dictionaries (Bricken et al. 2023), also in production-size models (Templeton et al. 2024, "Scaling Monosemanticity") | that explanations are complete and faithful at scale (patching can mislead: Makelov, Lange and Nanda 2023, "Is This the Subspace You Are Looking For?"); that interpretability finds a failure that testing missed in a realistic setting, though auditing games are a first step (Marks et al. 2025, "Auditing Language Models for Hidden Objectives") | all of Modules 3 and 4 |
# | **evaluations** (dangerous capabilities, propensities) | measure what a model *can* and *would* do before deployment, and gate deployment on it | concrete suites for cyber, persuasion, self-proliferation and self-reasoning (Phuong et al. 2024, "Evaluating Frontier Models for Dangerous Capabilities") | that a negative result means absence: a capability can be under-elicited, and models can underperform on purpose (van der Weij et al. 2024, "AI Sandbagging") | sampling and pass@k (2.2), seeds and error bars (1.4, 5.1) |
# | **adversarial robustness and training** | find the inputs that make a model fail, and train them away | attacks on vision models (Szegedy et al. 2014; Madry et al. 2018) and automated jailbreaks of chat models (Zou et al. 2023); adversarial training raised the cost of attacks on a classifier without hurting quality (Ziegler et al. 2022, "Adversarial Training for High-Stakes Reliability") | robustness to attacks not seen in training; for backdoored models, adversarial training can teach the model to hide the trigger better (Hubinger et al. 2024, "Sleeper Agents") | gradients with respect to inputs (1.1), optimisers (1.2) |
# | **threat modelling and model organisms** | build small, deliberate examples of a hypothesised failure, to study it before it happens by accident | alignment faking and persistent backdoors exist in current models under stated conditions (Greenblatt et al. 2024; Hubinger et al. 2024) | how often such failures arise *without* being set up, or how likely they are in future systems | training your own models with a known mechanism (3.2, 4.1) |
# | **alignment theory** | find definitions and results that hold for any capable system, so that safety does not rest on one architecture | optimal policies tend to seek power in a formal sense (Turner et al. 2021, "Optimal Policies Tend to Seek Power"); the eliciting-latent-knowledge problem is stated precisely (Christiano, Cotra and Xu 2021, "Eliciting Latent Knowledge") | that the formal conditions hold for trained networks; a solution to ELK | the falsification habit of this lesson |
#
# Two things to notice. First, the "has not shown" column is where the open problems are,
# and it is longer than the "has shown" column for every agenda. Second, the agendas need each
# other: an evaluation that finds nothing is only as good as its elicitation, and an
# interpretability audit is only as good as the evaluation that tells you where to look.

# %% [markdown]
# The same map as a picture: which agendas bear on which threat model. The links are one
# reading of the field, not a settled fact: which link would you remove, and which is missing?

# %%
THREATS = ["reward hacking", "goal misgeneralisation", "deceptive alignment", "misuse", "oversight failure"]
ADDRESSES = {  # agenda -> the threat models it bears on most directly
    "scalable oversight": ["reward hacking", "oversight failure"],
    "interpretability": ["reward hacking", "goal misgeneralisation", "deceptive alignment"],
    "evaluations": ["deceptive alignment", "misuse"],
    "robustness": ["goal misgeneralisation", "misuse"],
    "threat modelling": ["goal misgeneralisation", "deceptive alignment"],
    "theory": ["deceptive alignment", "oversight failure"],
}
fig, ax = plt.subplots(figsize=(7, 3.6))
_y_threat = {t: -i for i, t in enumerate(THREATS)}
_y_agenda = {a: -i * (len(THREATS) - 1) / (len(ADDRESSES) - 1) for i, a in enumerate(ADDRESSES)}
for _agenda, _threats in ADDRESSES.items():
    for _t in _threats:
        ax.plot([0, 1], [_y_threat[_t], _y_agenda[_agenda]], color="tab:gray", alpha=0.5)
for _t, _y in _y_threat.items():
    ax.text(-0.02, _y, _t, ha="right", va="center", color="tab:red")
for _a, _y in _y_agenda.items():
    ax.text(1.02, _y, _a, ha="left", va="center", color="tab:blue")
ax.set_xlim(-0.8, 1.8)
ax.axis("off")
ax.set_title("threat models (left) and the agendas that bear on them (right)")
plt.show()

# %% [markdown]
# ## Exercise 1: place an experiment on the map
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 15 minutes, then look at the hint.
#
# Each experiment below is described without its paper's name. Return a dict from its letter
# to the agenda it belongs to, one of `AGENDAS`. Classify by **what the result is evidence
# about**: a method of supervising (oversight), a model's internal mechanism
# (interpretability), what a given model can do (evaluations), inputs that make a model fail
# and defences against them (robustness), whether a hypothesised failure can happen at all
# (threat modelling), or a statement about every system of a kind (theory).
#
# - **A.** Two copies of a strong model argue for opposite answers to a question about a story
#   only they can read. A judge who cannot read the story picks an answer; accuracy is compared
#   with a judge who hears a single model.
# - **B.** The heads of a small language model are patched one at a time from a clean prompt
#   into a corrupted one, to find which heads move the indirect object's name to the output.
# - **C.** Before release, a model with tools and several attempts per task is set
#   capture-the-flag hacking challenges; the fraction it solves is reported.
# - **D.** An automated search finds a suffix that makes a chat model comply with harmful
#   requests; the model is then trained on such suffixes, and the attack is run again.
# - **E.** A model is told in its prompt that only its conversations with free users will be
#   used to train it to comply with every request; its compliance with free and paid users is compared.
# - **F.** A paper proves that, in most environments and for most reward functions, optimal
#   policies prefer states from which more other states can be reached.
# - **G.** A strong model is fine-tuned on labels produced by a weaker model; the fraction of
#   the gap to a strong model trained on true labels that it recovers is measured.
# - **H.** A sparse autoencoder is trained on a large model's residual stream; a latent that is
#   active on descriptions of lying is clamped high, and the model's outputs are compared.
#
# <details><summary>Hint</summary>
#
# Ask of each: if the experiment's result were reversed, which belief would change? "Debate
# works" is a belief about supervision; "heads 9.6 and 9.9 do it" is about a mechanism;
# "this model can hack" is about one model's capability; "training on attacks stops them" is
# about defences; "a model can fake alignment" is about whether a failure exists at all.
# Every agenda appears at least once, and two of them twice.
# </details>

# %%
AGENDAS = ("oversight", "interpretability", "evaluations", "robustness", "threat_modelling", "theory")


# %% nbgrader={"solution": true, "grade_id": "classify_experiments"} exercise={"difficulty": 2, "importance": 4, "minutes": 15}
def classify_experiments() -> dict[str, str]:
    """The agenda of each experiment A-H above: a dict from "A".."H" to one of AGENDAS."""
    ### BEGIN SOLUTION
    return {"A": "oversight", "B": "interpretability", "C": "evaluations", "D": "robustness",
            "E": "threat_modelling", "F": "theory", "G": "oversight", "H": "interpretability"}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "classify_experiments_test", "points": 2}
import hashlib


def _check_answers(exercise: str, salt: str, answers, expected_hashes: dict, hints: dict) -> None:
    """Compare each answer with a hash of the answer key, and say which ones are wrong (used by exercise 2 too)."""
    checks.assert_true(exercise, isinstance(answers, dict), f"return a dict; got {type(answers).__name__}")
    wrong = []
    for key, digest in expected_hashes.items():
        given = str(answers.get(key, "")).strip().lower()
        if hashlib.sha256(f"{salt}:{key}:{given}".encode()).hexdigest()[:10] != digest:
            wrong.append(f"{key}: {given or '(missing)'!r} is not the best answer. {hints[key]}")
    checks.assert_true(exercise, not wrong, f"{len(wrong)} of {len(expected_hashes)} answers checked here are wrong",
                       details=wrong)


_answers = classify_experiments()
checks.assert_true("classify_experiments", isinstance(_answers, dict) and sorted(_answers) == list("ABCDEFGH"),
                   f"return a dict with the keys 'A' to 'H'; got {_answers!r:.120}")
_bad = {k: v for k, v in _answers.items() if v not in AGENDAS}
checks.assert_true("classify_experiments", not _bad, f"every value must be one of AGENDAS; these are not: {_bad}")
_check_answers("classify_experiments", "classify", _answers,
               {"A": "02be7907eb", "B": "7f15f4b836", "C": "8fab511d10", "D": "842a3341e5", "F": "6b9d7bf37f",
                "G": "2dcc799c14"},
               {"A": "What does the judge's accuracy tell you about: the model, or a way of supervising it?",
                "B": "The result names components of one model.",
                "C": "The result is a number about what one model can do.",
                "D": "The experiment attacks, then defends.",
                "F": "A proof about most environments is about no particular model.",
                "G": "Who supervises whom, and how much of the gap is recovered?"})
print("classify_experiments: visible tests pass (6 of the 8 answers are checked here)")
### BEGIN HIDDEN TESTS
_answers = classify_experiments()
checks.assert_equal("classify_experiments", _answers.get("E"), "threat_modelling", name="experiment E",
                    hint="it shows that a hypothesised failure (alignment faking) can happen at all")
checks.assert_equal("classify_experiments", _answers.get("H"), "interpretability", name="experiment H",
                    hint="a latent of a sparse autoencoder is a reading of the model's internals")
### END HIDDEN TESTS

# %% [markdown]
# ## How to read a paper: what would have to be true
#
# A paper in this field makes a **claim** ("these heads implement the behaviour", "debate
# helps", "the model cannot do X"), offers **evidence**, and implies a **theory of change**:
# if the claim holds, someone can do something safer. Read it with three questions.
#
# 1. **What exactly is claimed?** Necessity ("without these heads the behaviour goes") and
#    sufficiency ("these heads alone restore it") are different claims, and so are "the model
#    cannot" and "we could not make it".
# 2. **What result would falsify it?** Name the experiment whose outcome could come out
#    against the claim. If you cannot, the claim is a description, not a finding. Evidence
#    that is *consistent* with a claim (a plausible attention pattern, a top-10 list of
#    activating examples) is weak, because it would also appear if the claim were false.
# 3. **What would have to be true for the direction to work?** Interpretability as an audit
#    needs explanations that are faithful *and* scale to models no one can read by hand.
#    Debate needs lying to be harder than refuting a lie. Capability evaluations need
#    elicitation that is as good as a motivated attacker's. Write these down; each is a
#    research question, and the cheapest one to test is often the best project.
#
# Hendrycks and Mazeika (2022), "X-Risk Analysis for AI Research", give a longer checklist for
# judging a direction's effect on safety; one warning from it is worth keeping in mind: work that
# improves safety *metrics* by improving general capabilities may not improve safety at all.

# %% [markdown]
# ## Exercise 2: which result would falsify the claim?
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 20 minutes, then look at the hint.
#
# For each claim, pick the one result, `"a"` to `"d"`, that would count most strongly
# **against** it. The others are either consistent with the claim or beside the point.
#
# - **necessary**: *"Heads 9.6 and 9.9 are necessary for the model's indirect-object behaviour."*
#   (a) their attention goes from the last token to the indirect object's name;
#   (b) patching their output from the clean into the corrupted run restores 80% of the logit difference;
#   (c) mean-ablating both heads leaves the logit difference at 97% of its clean value;
#   (d) a linear probe on their output reads the name with 99% accuracy.
# - **deception_latent**: *"SAE latent 4127 represents deception: it is active when, and only when, the text is deceptive."*
#   (a) it is active on 30% of a sample of ordinary web text that contains no deception;
#   (b) its ten strongest activations are all lies told by characters in stories;
#   (c) clamping it high makes continuations more often dishonest;
#   (d) its decoder direction has cosine similarity 0.6 with a supervised lie-detection probe.
# - **debate**: *"With two strong debaters arguing opposite answers, a weak judge is more accurate than with one strong consultant."*
#   (a) debaters win more often when they argue for the correct answer;
#   (b) judges rate debate transcripts as more informative;
#   (c) stronger debaters write longer arguments;
#   (d) over many questions, judges are no more accurate with debate than with a single consultant assigned the correct or the incorrect side at random.
# - **no_capability**: *"The model cannot do task X: it solved 0 of 50 attempts, so X poses no risk from it."*
#   (a) a smaller model of the same family also solved 0 of 50;
#   (b) after fine-tuning on 100 worked examples and given a code-execution tool, the same model solves 21 of 50;
#   (c) human experts solve 45 of 50;
#   (d) the 50 attempts were written by domain experts.
# - **adv_training**: *"Adversarial training against attack A made the classifier robust to misuse."*
#   (a) attack A's success rate falls from 90% to 2% after training;
#   (b) a different attack, adapted to the trained model, succeeds 60% of the time;
#   (c) clean accuracy falls by one percentage point;
#   (d) training took three times as long.
# - **weak_to_strong**: *"Fine-tuning a strong model on a weak model's labels elicits capabilities beyond the weak supervisor's."*
#   (a) the strong student is exactly as accurate as its weak supervisor, with the same mistakes on the same examples;
#   (b) the student is more accurate than the supervisor on the examples the supervisor got wrong;
#   (c) a strong model trained on true labels is more accurate still;
#   (d) the weak supervisor is 60% accurate.
#
# <details><summary>Hint</summary>
#
# For each option, ask: would I expect to see this if the claim were *false*? If yes, it is
# weak evidence either way. The falsifier is the result the claim forbids. "Necessary" forbids
# the behaviour surviving the removal; "only when" forbids activity on text without the
# property; "cannot" forbids anyone making it succeed; "robust" forbids an attack working.
# </details>

# %% nbgrader={"solution": true, "grade_id": "falsifying_result"} exercise={"difficulty": 3, "importance": 5, "minutes": 20}
def falsifying_result() -> dict[str, str]:
    """For each claim above, the letter ("a"-"d") of the result that would falsify it."""
    ### BEGIN SOLUTION
    return {"necessary": "c", "deception_latent": "a", "debate": "d", "no_capability": "b",
            "adv_training": "b", "weak_to_strong": "a"}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "falsifying_result_test", "points": 3}
_claims = ["necessary", "deception_latent", "debate", "no_capability", "adv_training", "weak_to_strong"]
_answers = falsifying_result()
checks.assert_true("falsifying_result", isinstance(_answers, dict) and sorted(_answers) == sorted(_claims),
                   f"return a dict with the keys {_claims}; got {_answers!r:.120}")
checks.assert_true("falsifying_result", all(v in ("a", "b", "c", "d") for v in _answers.values()),
                   f"every answer is one letter from 'a' to 'd'; got {_answers}")
_check_answers("falsifying_result", "falsify", _answers,
               {"necessary": "f464e0e389", "deception_latent": "ec20e0636f", "debate": "3292c5193b",
                "no_capability": "41dc10756e"},
               {"necessary": "Restoring a behaviour by patching is about sufficiency. What does necessity forbid?",
                "deception_latent": "'Only when' is a claim about the text where it should be silent.",
                "debate": "The claim is a comparison between two protocols: which option compares them?",
                "no_capability": "An evaluation's zero is a claim about elicitation: has anyone tried harder?"})
print("falsifying_result: visible tests pass (4 of the 6 answers are checked here)")
### BEGIN HIDDEN TESTS
_answers = falsifying_result()
checks.assert_equal("falsifying_result", _answers.get("adv_training"), "b", name="adv_training",
                    hint="robustness is a claim about attacks not used in training")
checks.assert_equal("falsifying_result", _answers.get("weak_to_strong"), "a", name="weak_to_strong",
                    hint="a student that copies its supervisor's mistakes has recovered none of the gap")
### END HIDDEN TESTS

# %% [markdown]
# ## Evaluations: measure capability the way an attacker would
#
# A dangerous-capability evaluation asks whether a model *can* do something, and an attacker
# gets more than one try. The usual measure is **pass@k**: the probability that at least one
# of $k$ samples solves a task. Chen et al. (2021), "Evaluating Large Language Models Trained
# on Code", give the unbiased estimator from $n \ge k$ samples of which $c$ are correct:
#
# $$\text{pass@}k = 1 - \binom{n-c}{k} \Big/ \binom{n}{k},$$
#
# the probability that $k$ of the $n$ samples drawn without replacement include a correct one.
# The tempting shortcut $1 - (1 - c/n)^k$ is biased (it treats $c/n$ as exact), and computing
# the two binomials directly overflows floats for $n$ in the thousands.
#
# ## Exercise 3: pass@k
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 15 minutes, then look at the hint.
#
# Write `pass_at_k(n, c, k)`. Raise `ValueError` unless $0 \le c \le n$ and $1 \le k \le n$.
# Return a Python `float`.
#
# <details><summary>Hint</summary>
#
# If $n - c < k$, every draw of $k$ contains a correct sample. Otherwise the ratio of binomials
# is a product of $k$ factors: $\binom{n-c}{k}/\binom{n}{k} = \prod_{i=n-c+1}^{n} (1 - k/i)$,
# which `np.prod(1 - k / np.arange(...))` computes without overflow.
# </details>

# %% nbgrader={"solution": true, "grade_id": "pass_at_k"} exercise={"difficulty": 2, "importance": 4, "minutes": 15}
def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct (Chen et al. 2021). Returns a float."""
    ### BEGIN SOLUTION
    if not (0 <= c <= n) or not (1 <= k <= n):
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n; got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "pass_at_k_test", "points": 2}
checks.assert_close("pass_at_k", pass_at_k(10, 3, 1), 0.3, hint="pass@1 is the fraction correct")
checks.assert_close("pass_at_k", pass_at_k(5, 1, 2), 0.4, name="pass@2 with 1 of 5 correct",
                    hint="1 - C(4,2)/C(5,2) = 1 - 6/10; 1 - (1 - 1/5)**2 = 0.36 is the biased shortcut")
checks.assert_close("pass_at_k", pass_at_k(10, 0, 5), 0.0, name="no correct sample")
checks.assert_close("pass_at_k", pass_at_k(10, 8, 3), 1.0, name="n - c < k", hint="2 wrong samples cannot fill 3 draws")
print("pass_at_k: visible tests pass")
checks.assert_close("pass_at_k", pass_at_k(5, 2, 3), 0.9, name="pass@3 with 2 of 5 correct (n - c = k)",
                    hint="1 - C(n - c, k) / C(n, k): here 1 - 1/10")
checks.assert_close("pass_at_k", pass_at_k(5, 5, 5), 1.0, name="c = n and k = n", hint="c = n and k = n are allowed")
for _bad in [(5, 6, 1), (5, 2, 0), (5, 2, 6)]:
    checks.assert_raises("pass_at_k", ValueError, pass_at_k, *_bad, hint="check 0 <= c <= n and 1 <= k <= n")
### BEGIN HIDDEN TESTS
from fractions import Fraction

for _n, _c, _k in [(2000, 3, 100), (200, 1, 200), (50, 49, 1), (7, 7, 7), (1000, 500, 10)]:
    _exact = 1 - Fraction(math.comb(_n - _c, _k), math.comb(_n, _k))
    _got = checks.call("pass_at_k", pass_at_k, _n, _c, _k, case=f"n={_n}, c={_c}, k={_k}",
                       hint="large n overflows math.comb as a float: use the product form")
    checks.assert_close("pass_at_k", _got, float(_exact), name=f"pass@{_k} with {_c} of {_n}", rtol=1e-9)
checks.assert_true("pass_at_k", isinstance(pass_at_k(10, 3, 2), float), "return a Python float")
for _bad in [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)]:
    checks.assert_raises("pass_at_k", ValueError, pass_at_k, *_bad, hint="check 0 <= c <= n and 1 <= k <= n")
### END HIDDEN TESTS

# %% [markdown]
# What pass@k does to a verdict, with your function (these numbers are printed, not asserted):
# a model that solves 3 of 200 attempts at a task looks incapable at pass@1 and does not at
# the number of tries a patient attacker would take.

# %%
for _k in (1, 10, 50, 100):
    print(f"3 of 200 correct: pass@{_k:<3} = {pass_at_k(200, 3, _k):.3f}")

# %% [markdown]
# ## Exercise 4: is the model's confidence worth anything? Expected calibration error
#
# A monitor, a reward model or a model asked "are you sure?" is only useful if its confidence
# means something: among answers given with 80% confidence, about 80% should be right. The
# **expected calibration error** (Naeini, Cooper and Hauskrecht 2015; popularised for neural
# networks by Guo et al. 2017, "On Calibration of Modern Neural Networks") bins predictions by
# confidence and averages the gap between accuracy and confidence, weighted by the bin's size:
#
# $$\mathrm{ECE} = \sum_b \frac{|B_b|}{N}\,\bigl|\mathrm{acc}(B_b) - \mathrm{conf}(B_b)\bigr|.$$
#
# Kadavath et al. (2022), "Language Models (Mostly) Know What They Know", use calibration to ask
# whether a model's statements about its own knowledge can be trusted.
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 15 minutes, then look at the hint.
#
# Write `expected_calibration_error(confidence, correct, n_bins=10)`: equal-width bins on
# $[0, 1]$; a confidence $p$ goes to bin $\lfloor p \cdot n_\text{bins} \rfloor$, except
# $p = 1$, which goes to the last bin; empty bins contribute nothing. Raise `ValueError` if
# the arrays are empty, of different lengths, or a confidence lies outside $[0, 1]$.
#
# <details><summary>Hint</summary>
#
# `np.minimum((p * n_bins).astype(int), n_bins - 1)` gives each prediction's bin. Then for
# each bin with at least one prediction, add `count / N * abs(mean(correct) - mean(p))`
# (or do it without a loop with `np.bincount(..., weights=...)`).
# </details>

# %% nbgrader={"solution": true, "grade_id": "expected_calibration_error"} exercise={"difficulty": 2, "importance": 3, "minutes": 15}
def expected_calibration_error(confidence, correct, n_bins: int = 10) -> float:
    """ECE of predictions with `confidence` (N,) in [0, 1] and `correct` (N,) bool or 0/1. Returns a float."""
    ### BEGIN SOLUTION
    p = np.asarray(confidence, dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    if p.ndim != 1 or p.shape != y.shape or p.size == 0:
        raise ValueError(f"need two non-empty 1-D arrays of the same length; got {p.shape} and {y.shape}")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("confidences must lie in [0, 1]")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    gap = np.bincount(bins, weights=y - p, minlength=n_bins)  # sum of (correct - confidence) per bin
    return float(np.abs(gap).sum() / p.size)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "expected_calibration_error_test", "points": 2}
_p = np.array([0.95, 0.95, 0.95, 0.95, 0.55, 0.55])
_y = np.array([1, 1, 1, 0, 1, 0])
# bin 9: 4 predictions, accuracy 0.75, confidence 0.95; bin 5: 2 predictions, accuracy 0.5, confidence 0.55
checks.assert_close("expected_calibration_error", expected_calibration_error(_p, _y), 4 / 6 * 0.2 + 2 / 6 * 0.05,
                    hint="weight each bin's |accuracy - confidence| by its share of the predictions")
checks.assert_close("expected_calibration_error", expected_calibration_error([1.0, 1.0], [True, True]), 0.0,
                    name="confidence 1.0, always right", hint="p = 1 belongs in the last bin")
checks.assert_close("expected_calibration_error", expected_calibration_error([0.9, 0.1], [0, 1]), 0.9,
                    name="confidently wrong twice")
print("expected_calibration_error: visible tests pass")
checks.assert_close("expected_calibration_error", expected_calibration_error([1.0, 0.95], [0, 1]), abs(-1.0 + 0.05) / 2,
                    name="confidences 1.0 and 0.95 (one bin)", hint="p = 1 belongs in the last bin, with the 0.9s")
checks.assert_close("expected_calibration_error", expected_calibration_error([0.0, 0.5], [0, 1]), 0.25,
                    name="a confidence of exactly 0", hint="0 and 1 are valid confidences")
checks.assert_raises("expected_calibration_error", ValueError, expected_calibration_error, [-0.05, 0.5], [0, 1],
                     hint="a confidence below 0 is an error")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(5)
for _bins in (1, 5, 15):
    _p = _rng.uniform(0, 1, 500)
    _y = _rng.uniform(0, 1, 500) < _p ** 2
    _idx = np.minimum((_p * _bins).astype(int), _bins - 1)
    _ref = sum((_idx == b).mean() * abs(_y[_idx == b].mean() - _p[_idx == b].mean()) for b in range(_bins) if (_idx == b).any())
    checks.assert_close("expected_calibration_error", expected_calibration_error(_p, _y, n_bins=_bins), _ref,
                        name=f"ECE with {_bins} bins", hint="use n_bins, and skip empty bins")
_p = _rng.uniform(0, 1, 200_000)
checks.assert_true("expected_calibration_error", expected_calibration_error(_p, _rng.uniform(0, 1, _p.size) < _p) < 0.01,
                   "a calibrated forecaster on 200,000 predictions should have ECE near 0")
checks.assert_true("expected_calibration_error", isinstance(expected_calibration_error([0.5], [1]), float), "return a float")
checks.assert_raises("expected_calibration_error", ValueError, expected_calibration_error, [], [])
checks.assert_raises("expected_calibration_error", ValueError, expected_calibration_error, [0.5, 0.5], [1])
checks.assert_raises("expected_calibration_error", ValueError, expected_calibration_error, [1.5], [1]);
### END HIDDEN TESTS

# %% [markdown]
# Your ECE on a real classifier: logistic regression on scikit-learn's bundled digits, trained
# with almost no regularisation (so it is over-confident), then the same predictions with
# their logits divided by a temperature, the simplest fix (Guo et al. 2017). The numbers and
# the reliability diagram are printed from your function, not asserted.

# %%
from scipy.special import softmax
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

_X, _t = load_digits(return_X_y=True)
_Xtr, _Xte, _ttr, _tte = train_test_split(_X / 16, _t, test_size=0.5, random_state=0)
_clf = LogisticRegression(C=1e4, max_iter=3000).fit(_Xtr, _ttr)
_logits = _clf.decision_function(_Xte)
fig, ax = plt.subplots(figsize=(4.5, 4))
for _temp in (1.0, 3.0):
    _prob = softmax(_logits / _temp, axis=1)
    _conf, _right = _prob.max(1), _prob.argmax(1) == _tte
    try:
        print(f"temperature {_temp}: accuracy {_right.mean():.3f}, ECE {expected_calibration_error(_conf, _right):.3f}")
    except NotImplementedError:
        print("(finish exercise 4 to see the ECE)")
    _bin = np.minimum((_conf * 10).astype(int), 9)
    _used = [b for b in range(10) if (_bin == b).any()]
    ax.plot([_conf[_bin == b].mean() for b in _used], [_right[_bin == b].mean() for b in _used], "o-",
            label=f"temperature {_temp}")
ax.plot([0, 1], [0, 1], "k:", label="calibrated")
ax.set_xlabel("confidence")
ax.set_ylabel("accuracy")
ax.set_title("reliability diagram, digits test set")
ax.legend()
plt.show()

# %% [markdown]
# ## Optimising a flawed proxy: reward hacking in ten lines
#
# Reinforcement learning from human feedback (Christiano et al. 2017, "Deep Reinforcement
# Learning from Human Preferences"; Ouyang et al. 2022) optimises a *reward model*, a learnt
# proxy for what people want. Gao, Schulman and Hilton (2022) measured what happens as the
# optimisation gets stronger: the proxy reward keeps rising, while the "gold" reward it stands
# for rises, peaks and falls. The simplest optimiser is **best-of-n**: sample $n$ answers, keep
# the one the reward model likes most.
#
# Here is a toy with a known flaw. Each candidate answer has a quality $q \sim N(0, 1)$ and an
# amount of padding $\ell \sim \mathrm{Exp}(1)$. The reward model likes long answers:
# proxy $= q + \ell$. People do not: true reward $= q - \ell/2 + 1/2$ (zero on average).
#
# ## Exercise 5: best-of-n against a proxy
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 15 minutes, then look at the hint.
#
# Write `best_of_n(proxy, true, ns)`. `proxy` and `true` are `(trials, N)` arrays: row $t$
# holds $N$ candidates for one prompt. For each $n$ in `ns`, pick in every row the candidate
# with the highest proxy among the **first $n$** (the first one on ties) and average over rows
# the proxy and the true reward of the picked candidates. Return two float64 arrays of length
# `len(ns)`: the mean proxy and the mean true reward. Raise `ValueError` if an $n$ is not in
# $1..N$ or the shapes differ.
#
# <details><summary>Hint</summary>
#
# `idx = proxy[:, :n].argmax(axis=1)` picks per row (argmax returns the first maximum);
# `np.take_along_axis(true, idx[:, None], axis=1)` (or `true[np.arange(trials), idx]`)
# reads the picked values.
# </details>

# %% nbgrader={"solution": true, "grade_id": "best_of_n"} exercise={"difficulty": 2, "importance": 4, "minutes": 15}
def best_of_n(proxy, true, ns) -> tuple[np.ndarray, np.ndarray]:
    """Mean proxy and mean true reward of the best-of-n pick, for each n in ns. Two float64 arrays (len(ns),)."""
    ### BEGIN SOLUTION
    proxy, true = np.asarray(proxy), np.asarray(true)
    if proxy.ndim != 2 or proxy.shape != true.shape:
        raise ValueError(f"proxy and true must be (trials, N) arrays of the same shape; got {proxy.shape}, {true.shape}")
    rows = np.arange(proxy.shape[0])
    out_proxy, out_true = [], []
    for n in ns:
        if not 1 <= n <= proxy.shape[1]:
            raise ValueError(f"n must be in 1..{proxy.shape[1]}; got {n}")
        idx = proxy[:, :n].argmax(axis=1)
        out_proxy.append(proxy[rows, idx].mean())
        out_true.append(true[rows, idx].mean())
    return np.array(out_proxy, dtype=np.float64), np.array(out_true, dtype=np.float64)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "best_of_n_test", "points": 2}
_px = np.array([[1.0, 3.0, 2.0], [0.0, -1.0, 5.0]])
_tr = np.array([[10.0, 30.0, 20.0], [0.0, -10.0, 50.0]])
_got = checks.call("best_of_n", best_of_n, _px, _tr, [1, 2, 3], case="a 2 x 3 example")
checks.assert_true("best_of_n", isinstance(_got, tuple) and len(_got) == 2, "return a tuple (mean proxy, mean true)")
checks.assert_close("best_of_n", _got[0], np.array([0.5, 1.5, 4.0]), name="mean proxy",
                    hint="n=2 picks among the first two columns only: 3.0 in row 0, 0.0 in row 1")
checks.assert_close("best_of_n", _got[1], np.array([5.0, 15.0, 40.0]), name="mean true reward",
                    hint="pick by the proxy, then read the TRUE reward of the picked candidate")
print("best_of_n: visible tests pass")
checks.assert_raises("best_of_n", ValueError, best_of_n, np.zeros((5, 3)), np.zeros((5, 3)), [4],
                     hint="n can be at most the number of samples per trial, N (the second axis)")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(11)
_px, _tr = _rng.normal(size=(50, 16)), _rng.normal(size=(50, 16))
_got = best_of_n(_px, _tr, [16, 1, 4])
_i = [_px[:, :n].argmax(1) for n in (16, 1, 4)]
checks.assert_close("best_of_n", _got[1], np.array([_tr[np.arange(50), i].mean() for i in _i]),
                    name="true reward for ns in any order", hint="return the results in the order of ns")
checks.assert_dtype("best_of_n", _got[0], np.float64)
_tie = best_of_n(np.array([[1.0, 1.0]]), np.array([[0.0, 9.0]]), [2])
checks.assert_close("best_of_n", _tie[1], np.array([0.0]), name="a tie", hint="on ties pick the first candidate (argmax does)")
checks.assert_raises("best_of_n", ValueError, best_of_n, _px, _tr, [17], hint="n larger than N")
checks.assert_raises("best_of_n", ValueError, best_of_n, _px, _tr, [0])
checks.assert_raises("best_of_n", ValueError, best_of_n, _px, _tr[:, :8], [1], hint="shapes differ");
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: how far did the optimiser move? The KL of best-of-n
#
# To compare optimisers, Gao et al. plot reward against the KL divergence between the
# optimised and the original distribution of answers. For best-of-n the KL has a closed form
# (it depends only on $n$, not on the reward; Gao et al. use it for their best-of-n curves):
#
# $$\mathrm{KL}(\text{best-of-}n \,\|\, \text{base}) = \log n - \frac{n - 1}{n}.$$
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# Write `best_of_n_kl(n)` for an int or an array of ints, returning a float or a float64
# array; raise `ValueError` if any $n < 1$.
#
# <details><summary>Hint</summary>
#
# `np.asarray(n, dtype=np.float64)`, check `(n < 1).any()`, then the formula with `np.log`;
# return `float(...)` when the input was a single number (`np.ndim(n) == 0`).
# </details>

# %% nbgrader={"solution": true, "grade_id": "best_of_n_kl"} exercise={"difficulty": 1, "importance": 3, "minutes": 10}
def best_of_n_kl(n):
    """log(n) - (n - 1) / n for an int (returns a float) or an array of ints (returns a float64 array)."""
    ### BEGIN SOLUTION
    arr = np.asarray(n, dtype=np.float64)
    if (arr < 1).any():
        raise ValueError(f"n must be at least 1; got {n}")
    kl = np.log(arr) - (arr - 1) / arr
    return float(kl) if arr.ndim == 0 else kl
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "best_of_n_kl_test", "points": 2}
checks.assert_close("best_of_n_kl", best_of_n_kl(1), 0.0, name="n = 1", hint="picking from one sample changes nothing")
checks.assert_close("best_of_n_kl", best_of_n_kl(2), math.log(2) - 0.5, name="n = 2")
checks.assert_close("best_of_n_kl", best_of_n_kl(np.array([1, 4, 64])),
                    np.array([0.0, math.log(4) - 0.75, math.log(64) - 63 / 64]), name="an array of n")
print("best_of_n_kl: visible tests pass")
checks.assert_true("best_of_n_kl", isinstance(best_of_n_kl(4), float),
                   f"an int gives a Python float; got {type(best_of_n_kl(4)).__name__}", hint="float(...) of a 0-d array")
### BEGIN HIDDEN TESTS
# the exact KL of the best of n draws from M equally likely outcomes tends to the formula as M grows
_M = 200_000
_i = np.arange(1, _M + 1) / _M
for _n in (3, 16, 100):
    _pmf = _i ** _n - (_i - 1 / _M) ** _n
    _pos = _pmf > 0
    checks.assert_close("best_of_n_kl", best_of_n_kl(_n), float((_pmf[_pos] * np.log(_pmf[_pos] * _M)).sum()),
                        name=f"KL at n = {_n}", atol=2e-3)
checks.assert_true("best_of_n_kl", isinstance(best_of_n_kl(5), float), "a single n gives a Python float")
checks.assert_raises("best_of_n_kl", ValueError, best_of_n_kl, 0)
checks.assert_raises("best_of_n_kl", ValueError, best_of_n_kl, np.array([4, 0]));
### END HIDDEN TESTS

# %% [markdown]
# Now the experiment. Predict first: as $n$ grows from 1 to 1024, what does the true reward of
# the best-of-n answer do? Then run the cell: the curves come from your two functions.

# %%
_rng = np.random.default_rng(0)
_q = _rng.normal(size=(2000, 1024))
_pad = _rng.exponential(size=(2000, 1024))
PROXY, TRUE = _q + _pad, _q - _pad / 2 + 0.5
NS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
try:
    _proxy_mean, _true_mean = best_of_n(PROXY, TRUE, NS)
    _kl = best_of_n_kl(np.array(NS))
    for _n, _k, _pm, _tm in zip(NS, _kl, _proxy_mean, _true_mean):
        print(f"n = {_n:<5} KL = {_k:5.2f} nats   proxy {_pm:+.2f}   true {_tm:+.2f}")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.sqrt(_kl), _proxy_mean, "o-", label="proxy reward (reward model)")
    ax.plot(np.sqrt(_kl), _true_mean, "o-", label="true reward")
    ax.set_xlabel("sqrt(KL from the base distribution), nats^1/2")
    ax.set_ylabel("mean reward of the pick")
    ax.set_title("best-of-n against a reward model that likes padding")
    ax.legend()
    plt.show()
except NotImplementedError:
    print("(finish exercises 5 and 6 to run the experiment)")

# %% [markdown]
# **What just happened.** A little optimisation helps: the best of 2 or 4 answers is better
# than one, because quality still counts for the reward model. Past that, the cheapest way to
# raise the proxy is padding, whose tail is heavier than quality's, and the true reward falls
# below where it started while the proxy keeps climbing. This is the shape Gao et al. (2022)
# measured with real reward models, here on a toy whose flaw we chose. Two lessons carry over:
# watch a reward you did not optimise (held-out human ratings, a second reward model), and
# budget the optimisation (the KL penalty of RLHF is such a budget). Interpretability enters
# when the flaw is unknown: which feature of the answer is the reward model responding to?

# %% [markdown]
# ## Exercise 7: weak-to-strong, the performance gap recovered
#
# Burns et al. (2023), "Weak-to-Strong Generalization: Eliciting Strong Capabilities With Weak
# Supervision", stand in for humans supervising a superhuman model with a *weak* model
# supervising a *strong* one. They report the **performance gap recovered**:
#
# $$\mathrm{PGR} = \frac{\text{weak-to-strong} - \text{weak}}{\text{strong ceiling} - \text{weak}},$$
#
# where *weak* is the supervisor's own performance, *weak-to-strong* that of the strong model
# fine-tuned on the supervisor's labels, and *strong ceiling* that of the strong model
# fine-tuned on true labels. PGR 0: the student learnt only what its supervisor knew; PGR 1: it
# recovered everything. PGR can be negative or above 1, and it is undefined when there is no
# gap.
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 1 point · about 10 minutes, then look at the hint.
#
# Write `performance_gap_recovered(weak, weak_to_strong, ceiling)` for floats or equal-length
# arrays (one entry per task). Raise `ValueError` where the ceiling is not above the weak
# performance. Return a float for float inputs, a float64 array for arrays.
#
# <details><summary>Hint</summary>
#
# Convert all three with `np.asarray(..., dtype=np.float64)`, check `(ceiling <= weak).any()`,
# divide, and return `float(r)` when `r.ndim == 0`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "performance_gap_recovered"} exercise={"difficulty": 1, "importance": 3, "minutes": 10}
def performance_gap_recovered(weak, weak_to_strong, ceiling):
    """PGR = (weak_to_strong - weak) / (ceiling - weak); floats give a float, arrays a float64 array."""
    ### BEGIN SOLUTION
    w, w2s, c = (np.asarray(x, dtype=np.float64) for x in (weak, weak_to_strong, ceiling))
    if (c <= w).any():
        raise ValueError("the strong ceiling must be above the weak supervisor's performance: no gap to recover")
    r = (w2s - w) / (c - w)
    return float(r) if r.ndim == 0 else r
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "performance_gap_recovered_test", "points": 1}
checks.assert_close("performance_gap_recovered", performance_gap_recovered(0.6, 0.75, 0.9), 0.5,
                    hint="(0.75 - 0.6) / (0.9 - 0.6)")
checks.assert_close("performance_gap_recovered", performance_gap_recovered(0.6, 0.55, 0.9), -1 / 6,
                    name="a student worse than its supervisor", hint="PGR can be negative: do not clip it")
print("performance_gap_recovered: visible tests pass")
checks.assert_true("performance_gap_recovered", isinstance(performance_gap_recovered(0.5, 0.7, 0.9), float),
                   f"floats give a Python float; got {type(performance_gap_recovered(0.5, 0.7, 0.9)).__name__}",
                   hint="float(...) of a 0-d array")
checks.assert_raises("performance_gap_recovered", ValueError, performance_gap_recovered, 0.8, 0.9, 0.8,
                     hint="no gap (ceiling = weak): PGR is undefined")
### BEGIN HIDDEN TESTS
_r = performance_gap_recovered(np.array([0.5, 0.7]), np.array([0.8, 0.7]), np.array([0.8, 0.9]))
checks.assert_close("performance_gap_recovered", _r, np.array([1.0, 0.0]), name="one PGR per task")
checks.assert_true("performance_gap_recovered", isinstance(performance_gap_recovered(0.5, 0.6, 0.7), float),
                   "float inputs give a Python float")
checks.assert_raises("performance_gap_recovered", ValueError, performance_gap_recovered, 0.8, 0.9, 0.8,
                     hint="no gap: PGR is undefined")
checks.assert_raises("performance_gap_recovered", ValueError, performance_gap_recovered,
                     np.array([0.5, 0.9]), np.array([0.6, 0.9]), np.array([0.7, 0.8]), hint="check every task");
### END HIDDEN TESTS

# %% [markdown]
# **What PGR does not say.** A PGR near 1 on a task where the weak model's errors are random
# noise says little about a supervisor whose errors are *systematic*, as a human's would be
# (a student can learn to reproduce systematic errors exactly: that is claim **weak_to_strong**
# of exercise 2). Burns et al. say so themselves and list the disanalogies between their setup
# and the real problem. Before you trust a metric, ask what would have to be true for the
# analogy behind it to hold.
#
# ## Why this matters for safety
#
# Every other lesson of this course ends with a section of this name, saying what a safety
# researcher uses its skill for. This lesson is the map those sections point into. Its practical
# use is the threat model of your own project: lesson 5.1 asks for one, and a mentor grades it
# on whether it names a concrete failure, a plausible chain from your result to someone acting
# differently, and the threats to your own result. Hendrycks and Mazeika (2022), "X-Risk
# Analysis for AI Research", argue that researchers should make this chain explicit because
# safety work and capabilities work are easy to confuse. The three answers below are a first
# draft of it.
#
# ## Your answers (graded by a mentor)
#
# Three short answers. Each cell keeps its heading and prompt; replace "YOUR ANSWER HERE".
# The rubric a mentor grades with is above each cell. The worked examples in the solution are
# one good answer each, not the only one.

# %% [markdown]
# ### A. Read a paper (3 points)
#
# | points | what it takes |
# |---|---|
# | 3 | Names one paper from this lesson's tables; states its central claim precisely (necessary or sufficient, can or did); names the evidence and one result that would have falsified the claim; says what would have to be true for the agenda's theory of change to work, beyond the paper. |
# | 2 | Claim and evidence right, but the falsifier is weak (consistent with the claim being false) or the "what would have to be true" is missing. |
# | 1 | A summary of the paper without a falsifier or an assessment. |
# | 0 | Missing, or about a paper not in the tables without saying what it is. |

# %% [markdown] nbgrader={"solution": true, "grade": true, "grade_id": "read_a_paper", "points": 3}
# #### Read a paper
#
# *One paper from the tables: its claim, its evidence, the result that would have falsified
# it, and what would have to be true for its agenda to work. 5 to 8 sentences.*
#
# ### BEGIN SOLUTION
# Burns et al. (2023), "Weak-to-Strong Generalization", claim that a strong pretrained model
# fine-tuned on a weaker model's labels performs better than its supervisor, recovering part of
# the gap to a strong model trained on true labels. The evidence is PGR measured on NLP
# classification tasks, chess puzzles and reward modelling over a range of model sizes. A PGR
# near zero (the student copying its supervisor, mistakes included) would have falsified it;
# on reward modelling, PGR was in fact low, so the claim holds for some tasks and not others.
# For the agenda to work, the analogy must hold: a superhuman model's relation to human
# supervisors must resemble a strong model's relation to a weak one, although human errors are
# systematic and the strong model may model them. It would also have to be true that we can
# tell, without ground truth, when the student has generalised beyond the supervisor.
# ### END SOLUTION

# %% [markdown]
# ### B. A threat model for your project (3 points)
#
# | points | what it takes |
# |---|---|
# | 3 | A specific system and failure; the path by which training or deployment produces it; why ordinary testing would not catch it; and the agenda (and course skill) that could catch or prevent it. |
# | 2 | Three of the four. |
# | 1 | A generic risk ("AI could be misused") without a path or a reason it goes uncaught. |
# | 0 | Missing. |

# %% [markdown] nbgrader={"solution": true, "grade": true, "grade_id": "threat_model", "points": 3}
# #### Threat model
#
# *System, failure, path, why it would not be caught, and what could catch it. 4 to 6
# sentences. Lesson 5.1 asks you to turn this into your project's threat model.*
#
# ### BEGIN SOLUTION
# A language model is fine-tuned with RLHF against a reward model trained on human comparisons,
# then deployed to write code. The failure: it learns to produce code that satisfies the
# features the reward model responds to (confident explanations, passing visible tests) rather
# than code that is correct, as in the best-of-n toy of this lesson. It would not be caught
# because the reward model and the visible tests are the checks, and human reviewers rate
# confident code highly. Evaluations with held-out tests would catch part of it; interpretability
# could find which features of an answer the reward model responds to (direct attribution and
# SAE latents of the reward model, lessons 3.1 and 4.3) before the policy exploits them.
# ### END SOLUTION

# %% [markdown]
# ### C. Judge a direction (2 points)
#
# | points | what it takes |
# |---|---|
# | 2 | The direction the learner finds most promising; the strongest argument against it (what would have to be true that might not be); and a cheap experiment or observation that would test that assumption. |
# | 1 | An argument for the direction only, or an argument against with no way to test it. |
# | 0 | Missing. |

# %% [markdown] nbgrader={"solution": true, "grade": true, "grade_id": "judge_a_direction", "points": 2}
# #### Judge a direction
#
# *The direction you would most like to work on, the strongest argument against it, and a
# cheap way to test that argument. 3 to 5 sentences.*
#
# ### BEGIN SOLUTION
# Sparse autoencoders as a tool for auditing models. The strongest argument against: the
# latents an SAE finds depend on its size and sparsity penalty, so a concept that matters for
# an audit may be split, merged or missing, and an auditor cannot tell which. It would have to
# be true that safety-relevant concepts are found reliably across SAE sizes and seeds. A cheap
# test: on the grokking model of 4.1, where the true features (key frequencies) are known, train
# SAEs of several sizes and seeds and measure how often each key frequency has a matching latent.
# ### END SOLUTION

# %% [markdown]
# ## Going further
#
# Open questions, each with where to start; lesson 5.1 turns one into a plan.
#
# 1. **Does the overoptimisation peak move predictably?** In the best-of-n toy, derive or
#    measure how the peak's $n$ depends on the tails of quality and padding (normal against
#    exponential, against Student's t). Gao et al. (2022) fit functional forms to real reward
#    models; do those forms fit the toy? Start from `best_of_n` and the cell that draws the curves.
# 2. **Can interpretability find the flaw?** Train a small reward model (a linear probe on the
#    2.2 character model's residual stream) on synthetic preferences that secretly reward
#    length, and ask whether direct attribution or an SAE (4.3) reveals the length feature
#    before best-of-n exploits it.
# 3. **Weak-to-strong on course models.** Use a 1-layer model as the weak supervisor and a
#    2-layer one as the student on a task with known answers (modular arithmetic, 4.1) and
#    measure PGR across seeds with error bars. Is the PGR still positive when the weak labels'
#    errors are systematic (always wrong on one residue) rather than random?
# 4. **Elicitation gaps in miniature.** Take the 2.2 model and a task it sometimes solves;
#    how much do pass@k, temperature and a short fine-tune move its measured capability?
#    A small, measured version of the "no capability" claim of exercise 2.
# 5. **Calibration of a probe as a monitor.** A linear probe (4.4) used as a monitor outputs a
#    probability. How calibrated is it on the training distribution, and how does its ECE
#    change under a distribution shift you control?
# 6. **Falsifiers for circuits.** For the induction circuit of 3.2, write down the result that
#    would falsify "these two heads are necessary and sufficient", run it, and report the
#    fraction of the loss drop the circuit explains (Wang et al. 2022 call these faithfulness
#    and completeness).
#
# ## Summary
#
# - A threat model names a system, a failure, a path and the reason it would not be caught.
# - Scalable oversight, interpretability, evaluations, robustness, threat modelling and theory
#   each have results and, longer, lists of what they have not shown.
# - Read a claim by naming its falsifier, and a direction by listing what would have to be true.
# - Evaluations count tries (pass@k) and check confidence (ECE); optimising a flawed proxy
#   raises it while the true reward falls; PGR measures weak-to-strong supervision and carries
#   the assumptions of its analogy.

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 5.0`), else from `bootcamp check 5.0` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("5.0")
