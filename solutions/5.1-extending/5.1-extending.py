# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "5.1"
#     title: Extending a replication
#     minutes: 240
#     prerequisites: ["4.1", "5.0"]
# ---

# %% [markdown]
# # 5.1 Extending a replication
#
# You have replicated a paper: you trained its model, or loaded the course's checkpoint,
# and reproduced its headline number. This lesson turns that replication into a research
# project of your own. Most of it is thinking and writing: a research plan that a mentor
# reads and grades. The rest is the tooling that keeps a small project honest: a checker
# for your plan, a scaffolded project with an experiment log, and the statistics that say
# whether a difference is bigger than the noise between seeds.
#
# **After this lesson you can**
# - pick an extension question that is small enough to answer on a CPU in a few weeks, and
#   state it with a hypothesis, a baseline and a number decided in advance;
# - write a threat model and a theory of change: why the answer matters, and what could make
#   your own result wrong;
# - plan dated milestones with an early baseline and a go/no-go point;
# - check a plan automatically (sections, a measurable result, a baseline, dates in order);
# - scaffold a standalone project from a replication with `bootcamp new-project`, run its
#   experiments, and read every run back from its log;
# - tell an effect from seed noise with a two-sample comparison.
#
# **Prerequisites.** One replication lesson: 4.1 (grokking) is the one this notebook's
# examples use, and any of 3.2 or 4.1–4.4 works for your own plan. Lesson 5.0 (threat models
# and research agendas) is where the plan's threat model comes from: its answer B is a first
# draft of section 4 below. Lesson 1.4 (training infrastructure: seeds, logged sweeps) helps.
#
# **Time.** About 4 hours: eight auto-graded exercises (18 points) and five answers graded
# by a mentor (12 points). Spend most of the time on the plan.
#
# **How the exercises work.** The eight code exercises work as in every lesson: replace
# `raise NotImplementedError` with your code and run the test cell below it; a failing
# test says what is wrong. Hidden tests, run when the notebook is graded, probe edge cases.
# `bootcamp check 5.1` runs the notebook and prints a table of those eight. The five plan
# answers are Markdown cells marked "YOUR ANSWER HERE": double-click one, replace that
# line, and run the cell to render it. No test can grade them: a mentor does, with the
# rubric printed above each answer (it is also `rubric.toml` beside this notebook, and
# `RUBRIC.md` in every project you scaffold). `bootcamp submit 5.1` sends the whole
# notebook; the code is graded at once, the plan when a mentor has read it.

# %%
import itertools
import json
import math
import re
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from course import checks
from course.learner import newproject

# %% [markdown]
# ## From a replication to a question
#
# A replication ends with a number that matches the paper: in 4.1, a one-layer transformer
# that learnt $(a + b) \bmod 53$ with test accuracy over 99%, and whose embedding puts
# 94–98% of its norm on three or four key Fourier frequencies. An *extension* asks what
# that number depends on, or whether the mechanism behind it holds somewhere new.
#
# Good first extensions share a shape:
#
# - **One thing changes.** Weight decay, the training fraction, the operation ($a - b$,
#   $a \cdot b$, $a^2 + b^2$), the model width, the data distribution. Everything else stays
#   as in the replication, whose checkpoint is your baseline.
# - **The answer is a number you can name now.** "The key frequencies hold less than 80% of
#   the norm at weight decay 0.3" can be true or false. "I will look at the embeddings" cannot.
# - **It fits the compute.** The course's models train in seconds to minutes on a CPU, so a
#   sweep over three settings and three seeds is an afternoon, not a cluster.
# - **A null result is still a result.** If the mechanism does not change, say so, with the
#   spread over seeds that makes "does not change" mean something.
#
# ### Open problems, by replication
#
# Each replication lesson ends with a "Going further" section; these are the ones sized
# for a first project. The grading service lists them as project proposals that mentors can
# add to, and `bootcamp models` lists the checkpoint each starts from.
#
# | lesson | checkpoint | open problems sized for a CPU |
# |---|---|---|
# | 3.2 Induction heads | `induction-2l` | Does the phase-change step move with the range of periods in the training data? Which K-composition term (through which layer-0 head) carries the induction, and does ablating it delay the phase change in a retrain? Can a 1-layer model with a longer context learn a positional shortcut that *looks* like induction on your scores? |
# | 4.1 Grokking | `grokking-p53`, `grokking-p113` | How do the grok epoch and the key frequencies depend on weight decay and on the training fraction? Do other operations ($a - b$, $a^2 + b^2$, $a \cdot b$) use Fourier features too? Can the restricted loss predict the grok epoch before the test loss moves? Is the set of key frequencies determined by the initialisation (retrain with the same seed and a different data split)? |
# | 4.2 Superposition | trained live (about 20 s) | How does the geometry change with correlated or anti-correlated features? With non-uniform sparsity? Where exactly does a pentagon appear as the importance decay varies (a finer phase diagram)? Does a model that must *compute* (e.g. absolute value) store features the same way? |
# | 4.3 Sparse autoencoders | the 4.1 and 4.2 models | Do the SAE latents of the grokking MLP align with its key frequencies? How do dead latents depend on the L1 coefficient and the resampling rule? TopK against L1 at equal L0: which recovers the toy model's true features better? |
# | 4.4 Linear probes | the board-game GPT | Is "mine/theirs" more linear than "black/white" at every layer? How large must an intervention be to flip a prediction, and does the edit generalise across board positions? |
#
# The rest of this notebook uses one running example, a plan to ask how the grokking
# model's Fourier solution depends on weight decay, and a project scaffolded from 4.1.

# %% [markdown]
# ## A plan a program can check
#
# A mentor grades the substance of your plan. A program can check its form, and catch the
# omissions that make a plan unreadable before a mentor spends time on it: a missing
# section, a hypothesis with no number, no baseline, milestones that go backwards. The next
# five exercises build that checker. Here is the plan it should pass, the worked example of
# this lesson:

# %%
EXAMPLE_PLAN = """\
# Research plan: grokking and weight decay

## Question

Does the grokking model of lesson 4.1 (`grokking-p53`) generalise through the same few key
frequencies when it is trained with weight decay 0.3 instead of 1.0?

## Hypothesis, baseline and measurable result

Weight decay is what pushes the embedding onto a few frequencies. At weight decay 0.3 the
key frequencies should hold less than 80% of the embedding's norm. The baseline is the
shipped checkpoint retrained with three seeds at weight decay 1.0, where they hold about 95%.
The hypothesis is refuted if the share at 0.3 is within the baseline's seed spread.

## Method: the first experiments

1. `python run.py run reproduce`: the headline numbers of the checkpoint.
2. `retrain` with `--sweep train.weight_decay=[0.3,1.0] --sweep seed=[0,1,2]`: six runs of
   about two minutes each.

## Threat model and theory of change

Interpretability reads a mechanism off one training run. If the mechanism depends on a
hyperparameter, claims about models trained with other recipes may not transfer.

## Milestones

- 2026-03-02: baseline reproduced with the scaffold
- 2026-03-09: weight-decay sweep done, three seeds
- 2026-03-23: go/no-go: a difference beyond the seed spread, or write up the null result
- 2026-04-06: write-up
"""

PLAN_START = date(2026, 3, 1)  # the day the example project starts
print(EXAMPLE_PLAN[:300] + "...")

# %% [markdown]
# ## Exercise 1: split a plan into sections
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 15 minutes, then look at the hint.
#
# Write `split_sections(markdown)`, which returns a dict from each heading to the text under
# it. The rules, which are a small part of Markdown's own:
#
# - A **heading** is a line that starts (at its first character) with 1 to 6 `#` followed
#   by a space. `#hashtag` and `####### seven` are not headings. Lines inside a fenced code
#   block (between two lines starting with three backticks) are never headings.
# - The **key** is the heading's text in lower case, with any closing `#`s and a trailing
#   colon removed and runs of whitespace made one space: `## Threat   Model:` → `"threat model"`.
# - The **value** is every line after the heading up to the next heading (of any level),
#   joined with `"\n"` and stripped of leading and trailing whitespace; it may be `""`.
# - Text before the first heading goes under the key `""`, but only if it is not blank.
# - A heading that appears twice keeps both texts, joined by a blank line (`"\n\n"`), so no
#   part of a plan is lost.
#
# Worked example: `"Hi\n# A\none\n## B:\ntwo\nthree"` →
# `{"": "Hi", "a": "one", "b": "two\nthree"}`.
#
# <details><summary>Hint</summary>
#
# Walk `markdown.splitlines()` once, with a `current` key (start with `""`), a dict of lists
# of lines, and an `in_code` flag that flips on every line starting with three backticks.
# `re.match(r"(#{1,6}) (.*)", line)` finds a heading. For the key:
# `" ".join(text.strip().rstrip("#").strip().rstrip(":").lower().split())`.
# At the end, join each key's lines and strip; drop `""` if its text is blank. For a repeated
# heading, keep a list of blocks per key and join the blocks with `"\n\n"`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "split_sections"} exercise={"difficulty": 2, "importance": 3, "minutes": 15}
def split_sections(markdown: str) -> dict[str, str]:
    """The sections of a Markdown document: {normalised heading: text under it}.

    markdown: str, any length (may be empty). Returns a dict of str -> str, in the order the
    headings first appear; the key "" holds non-blank text before the first heading.
    """
    ### BEGIN SOLUTION
    blocks: dict[str, list[list[str]]] = {"": [[]]}
    current = ""
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"(#{1,6}) (.*)", line)
        if m:
            current = " ".join(m.group(2).strip().rstrip("#").strip().rstrip(":").lower().split())
            blocks.setdefault(current, []).append([])
            continue
        blocks[current][-1].append(line)
    out = {}
    for key, parts in blocks.items():
        texts = ["\n".join(lines).strip() for lines in parts]
        out[key] = "\n\n".join(texts) if len(texts) > 1 else texts[0]
    if not out[""]:
        del out[""]
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "split_sections_test", "points": 2}
checks.assert_equal("split_sections", split_sections("Hi\n# A\none\n## B:\ntwo\nthree"),
                    {"": "Hi", "a": "one", "b": "two\nthree"}, hint="the worked example above")
_sections = split_sections(EXAMPLE_PLAN)
checks.assert_equal("split_sections", list(_sections),
                    ["research plan: grokking and weight decay", "question", "hypothesis, baseline and measurable result",
                     "method: the first experiments", "threat model and theory of change", "milestones"],
                    name="the keys of EXAMPLE_PLAN", hint="lower-case the heading text and drop the '#'s")
checks.assert_true("split_sections", _sections["question"].endswith("instead of 1.0?"),
                   f"the 'question' section is {_sections['question'][-60:]!r}; expected it to end with the question",
                   hint="a section's text runs to the next heading, stripped")
checks.assert_equal("split_sections", split_sections("## Threat   Model:  \nx"), {"threat model": "x"},
                    hint="collapse runs of whitespace, drop a trailing colon")
print("split_sections: visible tests pass")
checks.assert_equal("split_sections", split_sections(""), {}, name="the sections of an empty document")
checks.assert_equal("split_sections", split_sections("\n\n# Only\n"), {"only": ""},
                    hint="blank text before the first heading has no '' key; an empty section is ''")
checks.assert_equal("split_sections", split_sections("#hashtag\n####### seven\n# Real\nbody"),
                    {"": "#hashtag\n####### seven", "real": "body"}, hint="a heading is 1 to 6 '#' then a space")
checks.assert_equal("split_sections", split_sections("## Method\n```python\n# not a heading\nx = 1\n```\nafter"),
                    {"method": "```python\n# not a heading\nx = 1\n```\nafter"},
                    hint="lines inside a ``` code block are never headings")
checks.assert_equal("split_sections", split_sections("## Milestones ##\n- a\n# Notes\nn\n## milestones\n- b"),
                    {"milestones": "- a\n\n- b", "notes": "n"},
                    hint="closing #s are dropped; a repeated heading keeps both texts, joined by a blank line")
### BEGIN HIDDEN TESTS
checks.assert_equal("split_sections", split_sections("# A\r\none\r\n\r\ntwo\r\n"), {"a": "one\n\ntwo"},
                    hint="Windows line endings: splitlines() handles them")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: parse the milestones
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 15 minutes, then look at the hint.
#
# A milestone is a list item that starts with an ISO date: `- 2026-03-02: baseline
# reproduced`. Write `parse_milestones(text)`, which returns `(datetime.date, description)`
# pairs in the order they are written (not sorted: the next exercise checks the order).
#
# - A **list item** is a line whose first non-space characters are `-`, `*` or `+`, or a
#   number followed by `.` or `)`, and then a space. Other lines (prose, a prompt in italics)
#   are ignored.
# - A list item must be `DATE SEP DESCRIPTION`: `DATE` is `YYYY-MM-DD` and a real calendar
#   date, `SEP` is `:` or a dash (`-`, `–` or `—`) with optional spaces around it, and
#   `DESCRIPTION` is not empty. The description is stripped.
# - A list item that does not fit raises `ValueError` with the line in the message, so the
#   learner sees which line to fix. A list item is a promise of a milestone; a milestone
#   without a date is a wish.
#
# <details><summary>Hint</summary>
#
# `re.match(r"\s*(?:[-*+]|\d+[.)])\s+(.*)", line)` finds a list item and its content;
# `re.fullmatch(r"(\d{4}-\d{2}-\d{2})\s*[:\-–—]\s*(.*\S)\s*", content)` splits it.
# `date.fromisoformat` raises `ValueError` on `2026-02-30` by itself; re-raise with the line.
# </details>

# %% nbgrader={"solution": true, "grade_id": "parse_milestones"} exercise={"difficulty": 2, "importance": 3, "minutes": 15}
def parse_milestones(text: str) -> list[tuple[date, str]]:
    """(date, description) for each list item of `text`, in the order written.

    text: str, the Markdown of a milestones section. Returns a list of (datetime.date, str).
    Raises ValueError naming the line when a list item is not `YYYY-MM-DD: description`.
    """
    ### BEGIN SOLUTION
    out = []
    for line in text.splitlines():
        item = re.match(r"\s*(?:[-*+]|\d+[.)])\s+(.*)", line)
        if not item:
            continue
        m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})\s*[:\-–—]\s*(.*\S)\s*", item.group(1))
        if not m:
            raise ValueError(f"not a milestone (expected '- YYYY-MM-DD: description'): {line.strip()!r}")
        try:
            day = date.fromisoformat(m.group(1))
        except ValueError:
            raise ValueError(f"not a calendar date in {line.strip()!r}") from None
        out.append((day, m.group(2).strip()))
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "parse_milestones_test", "points": 2}
_text = "*One line per milestone.*\n\n- 2026-03-02: baseline reproduced\n- 2026-03-16 – first sweep done\n* 2026-04-01 — write-up\n"
checks.assert_equal("parse_milestones", parse_milestones(_text),
                    [(date(2026, 3, 2), "baseline reproduced"), (date(2026, 3, 16), "first sweep done"),
                     (date(2026, 4, 1), "write-up")],
                    hint="skip lines that are not list items; ':' or a dash separates the date from the description")
_got = split_sections(EXAMPLE_PLAN)["milestones"]
checks.assert_equal("parse_milestones", len(parse_milestones(_got)), 4, name="the number of milestones in EXAMPLE_PLAN")
checks.assert_raises("parse_milestones", ValueError, parse_milestones, "- next week: start", match="next week",
                     hint="a list item without a date raises ValueError naming the line")
print("parse_milestones: visible tests pass")
checks.assert_equal("parse_milestones", parse_milestones(""), [], name="the milestones of an empty text")
checks.assert_equal("parse_milestones", parse_milestones("1. 2026-01-05: a\n2) 2026-01-02 - b: c\n   + 2026-02-01 :d  "),
                    [(date(2026, 1, 5), "a"), (date(2026, 1, 2), "b: c"), (date(2026, 2, 1), "d")],
                    hint="numbered items count; keep the order written; a colon inside the description stays")
checks.assert_equal("parse_milestones", parse_milestones("Plan: 2026-01-05 is a Monday.\nNo items here."), [],
                    hint="lines that are not list items are ignored, even with a date in them")
checks.assert_raises("parse_milestones", ValueError, parse_milestones, "- 2026-02-30: impossible", match="2026-02-30",
                     hint="2026-02-30 is not a calendar date")
checks.assert_raises("parse_milestones", ValueError, parse_milestones, "- 2026-01-05:", match="2026-01-05",
                     hint="a milestone needs a description")
### BEGIN HIDDEN TESTS
checks.assert_raises("parse_milestones", ValueError, parse_milestones, "- 5/1/2026: US dates", match="5/1/2026",
                     hint="only ISO dates, YYYY-MM-DD");
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: milestones that can be kept
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 15 minutes, then look at the hint.
#
# Write `milestone_problems(milestones, start, max_gap_days=21, min_count=3)`, the list of
# what is wrong with a schedule, one string per problem (an empty list: nothing is wrong).
# Check, in this order:
#
# 1. fewer than `min_count` milestones: one problem that mentions the count;
# 2. each milestone dated before `start`: a problem that mentions its date (ISO format,
#    `str(d)`);
# 3. each milestone that is not strictly after the one written before it: a problem that
#    mentions its date;
# 4. each pair of consecutive milestones, in the order written, whose dates are increasing
#    but more than `max_gap_days` apart: a problem that mentions both dates. Three weeks
#    without a milestone is three weeks without finding out that something is wrong.
#
# Do not reorder or change the list you are given.
#
# <details><summary>Hint</summary>
#
# `(later - earlier).days` is the gap. `zip(milestones, milestones[1:])` gives the
# consecutive pairs. Each rule appends a message, e.g.
# `f"{d}: not after the milestone before it ({prev})"`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "milestone_problems"} exercise={"difficulty": 2, "importance": 4, "minutes": 15}
def milestone_problems(milestones: list[tuple[date, str]], start: date, max_gap_days: int = 21,
                       min_count: int = 3) -> list[str]:
    """What is wrong with a schedule of (date, description) milestones: a list of str, [] if nothing.

    start: datetime.date, the project's first day. The list is not modified.
    """
    ### BEGIN SOLUTION
    problems = []
    if len(milestones) < min_count:
        problems.append(f"only {len(milestones)} milestone(s): plan at least {min_count}")
    for day, _ in milestones:
        if day < start:
            problems.append(f"{day}: before the start date {start}")
    for (prev, _), (day, _) in zip(milestones, milestones[1:]):
        if day <= prev:
            problems.append(f"{day}: not after the milestone before it ({prev})")
    for (prev, _), (day, _) in zip(milestones, milestones[1:]):
        if day > prev and (day - prev).days > max_gap_days:
            problems.append(f"{prev} to {day}: {(day - prev).days} days without a milestone (at most {max_gap_days})")
    return problems
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "milestone_problems_test", "points": 2}
_good = [(date(2026, 3, 2), "a"), (date(2026, 3, 9), "b"), (date(2026, 3, 23), "c")]
checks.assert_equal("milestone_problems", milestone_problems(_good, start=date(2026, 3, 1)), [],
                    name="the problems of a good schedule")
_bad = [(date(2026, 3, 9), "b"), (date(2026, 3, 2), "a"), (date(2026, 4, 30), "c")]
_problems = milestone_problems(_bad, start=date(2026, 3, 1))
checks.assert_true("milestone_problems", isinstance(_problems, list) and len(_problems) == 2,
                   f"expected 2 problems (2026-03-02 goes backwards; 2026-03-02 to 2026-04-30 is 59 days), got {_problems}")
checks.assert_true("milestone_problems", "2026-03-02" in _problems[0] and "2026-04-30" in _problems[1],
                   f"problems should name their dates, in the order of the rules: {_problems}",
                   hint="str(d) of a datetime.date is its ISO form, 2026-03-02")
print("milestone_problems: visible tests pass")
_p = milestone_problems([], start=date(2026, 1, 1))
checks.assert_true("milestone_problems", len(_p) == 1 and "0" in _p[0], f"no milestones: one problem with the count; got {_p}")
_p = milestone_problems([(date(2026, 1, 1), "a"), (date(2026, 1, 8), "b")], start=date(2026, 1, 1), min_count=2)
checks.assert_equal("milestone_problems", _p, [], name="problems with min_count=2",
                    hint="a milestone on the start date is fine; use min_count")
_p = milestone_problems([(date(2025, 12, 20), "a"), (date(2026, 1, 2), "b"), (date(2026, 1, 2), "c")],
                        start=date(2026, 1, 1))
checks.assert_true("milestone_problems", len(_p) == 2 and "2025-12-20" in _p[0] and "2026-01-02" in _p[1],
                   f"one milestone before the start and one on the same day as the previous: 2 problems; got {_p}",
                   hint="'strictly after': the same date twice is a problem")
_p = milestone_problems([(date(2026, 1, 1), "a"), (date(2026, 1, 22), "b"), (date(2026, 2, 13), "c")],
                        start=date(2026, 1, 1))
checks.assert_true("milestone_problems", len(_p) == 1 and "2026-01-22" in _p[0] and "2026-02-13" in _p[0],
                   f"gaps of 21 days are allowed, 22 are not: expected one problem for 2026-01-22 to 2026-02-13; got {_p}")
_p = milestone_problems([(date(2026, 1, 1), "a"), (date(2026, 1, 9), "b"), (date(2026, 1, 12), "c")],
                        start=date(2026, 1, 1), max_gap_days=7)
checks.assert_true("milestone_problems", len(_p) == 1 and "2026-01-09" in _p[0], f"max_gap_days=7: got {_p}")
_p = milestone_problems([(date(2026, 3, 20), "a"), (date(2026, 3, 27), "b"), (date(2026, 4, 3), "c")],
                        start=date(2026, 1, 1))
checks.assert_equal("milestone_problems", _p, [], name="the problems of a schedule whose first milestone is late",
                    hint="the gap rule is between milestones; the start date only bounds how early one may be")
### BEGIN HIDDEN TESTS
_frozen = [(date(2026, 3, 9), "b"), (date(2026, 3, 2), "a"), (date(2026, 3, 20), "c")]
milestone_problems(_frozen, start=date(2026, 3, 1))
checks.assert_equal("milestone_problems", _frozen[0][0], date(2026, 3, 9), name="the first milestone after the call",
                    hint="do not sort the list you are given")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: find the measurable claims
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 20 minutes, then look at the hint.
#
# A hypothesis is testable when it names a number and says which side of it the result
# will fall: "test accuracy stays **above 99%**", "the key frequencies hold **less than
# 80%** of the norm", "within 0.01 of the baseline". Write `measurable_claims(text)`, the
# sentences of `text` that contain both
#
# - a **number** (a digit: `re.search(r"\d", sentence)`), and
# - a **comparison**: one of the `COMPARATORS` below. Symbols count wherever they appear;
#   words count only as whole words, in any case (`"Above"` counts, `"aboveground"` does not).
#
# Sentences: split `text` into lines, then each line after every `.`, `!` or `?` that is
# followed by whitespace (so `0.99` is not split); strip each piece and drop empty ones.
# Return the matching sentences, stripped, in order.
#
# This is a heuristic, and a mentor reads the plan anyway: it catches the hypothesis that
# has no number at all, which is the common failure.
#
# <details><summary>Hint</summary>
#
# `re.split(r"(?<=[.!?])\s+", line)` splits a line after sentence ends. For a word
# comparator `w`, `re.search(rf"\b{re.escape(w)}\b", sentence, re.IGNORECASE)`; for a
# symbol, `w in sentence`. `w[0].isalpha()` tells them apart.
# </details>

# %%
COMPARATORS = (">=", "<=", ">", "<", "≥", "≤", "at least", "at most", "more than", "less than", "fewer than",
               "above", "below", "within", "exceeds")


# %% nbgrader={"solution": true, "grade_id": "measurable_claims"} exercise={"difficulty": 3, "importance": 4, "minutes": 20}
def measurable_claims(text: str) -> list[str]:
    """The sentences of `text` that contain a digit and one of COMPARATORS.

    text: str. Returns a list of str (stripped sentences, in order).
    """
    ### BEGIN SOLUTION
    out = []
    for line in text.splitlines():
        for sentence in re.split(r"(?<=[.!?])\s+", line):
            sentence = sentence.strip()
            if not sentence or not re.search(r"\d", sentence):
                continue
            for word in COMPARATORS:
                if word[0].isalpha():
                    found = re.search(rf"\b{re.escape(word)}\b", sentence, re.IGNORECASE)
                else:
                    found = word in sentence
                if found:
                    out.append(sentence)
                    break
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "measurable_claims_test", "points": 2}
_text = ("We expect test accuracy above 99% after the ablation. The loss should fall.\n"
         "Key frequencies hold at least 90 % of the norm! Layer 1 matters.")
checks.assert_equal("measurable_claims", measurable_claims(_text),
                    ["We expect test accuracy above 99% after the ablation.", "Key frequencies hold at least 90 % of the norm!"],
                    hint="a claim needs both a digit and a comparison; 'Layer 1 matters.' has no comparison")
_hyp = split_sections(EXAMPLE_PLAN)["hypothesis, baseline and measurable result"]
checks.assert_equal("measurable_claims", measurable_claims(_hyp),
                    ["key frequencies should hold less than 80% of the embedding's norm.",
                     "The hypothesis is refuted if the share at 0.3 is within the baseline's seed spread."],
                    name="the claims of EXAMPLE_PLAN's hypothesis",
                    hint="split into lines first, then each line into sentences: a sentence does not span lines")
print("measurable_claims: visible tests pass")
checks.assert_equal("measurable_claims", measurable_claims(""), [], name="the claims of an empty text")
checks.assert_equal("measurable_claims", measurable_claims("Accuracy above 0.99 at epoch 1000. Fine."),
                    ["Accuracy above 0.99 at epoch 1000."], hint="'0.99' is not the end of a sentence")
checks.assert_equal("measurable_claims", measurable_claims("The aboveground share is 3. AT LEAST 3 seeds?  Yes."),
                    ["AT LEAST 3 seeds?"], hint="words count as whole words, in any case")
checks.assert_equal("measurable_claims", measurable_claims("- loss <= 0.1\n- share ≥ 90%\n- within 0.01 of shipped\n- n>2"),
                    ["- loss <= 0.1", "- share ≥ 90%", "- within 0.01 of shipped", "- n>2"],
                    hint="symbols count wherever they appear; each line is split on its own")
checks.assert_equal("measurable_claims", measurable_claims("   Accuracy rises above 90%.  \n\tLoss below 0.1!"),
                    ["Accuracy rises above 90%.", "Loss below 0.1!"], hint="strip each sentence: no spaces or tabs around it")
### BEGIN HIDDEN TESTS
checks.assert_equal("measurable_claims", measurable_claims("It exceeds the baseline. It exceeds 5 points!"),
                    ["It exceeds 5 points!"], hint="a comparison without a digit is not measurable")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: the plan checker
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 3 points · about 25 minutes, then look at the hint.
#
# Put exercises 1–4 together. `plan_problems(markdown, start)` returns a list of problems,
# each a string that starts with the name of what it concerns and a colon:
#
# 1. For each name of `REQUIRED` (in that order) that is not contained in any section key:
#    `"missing section: NAME"`. A key *contains* a name when the name is a substring of it:
#    the key `"threat model and theory of change"` satisfies both `"threat model"` and
#    `"theory of change"`. The section *for* a name is the first key that contains it.
# 2. A required section whose text still contains `STUB` (nbgrader's "YOUR ANSWER HERE"):
#    `"NAME: not answered yet"`, and no other check of that section.
# 3. `"question: ..."` if the question section has no `?`.
# 4. `"hypothesis: ..."` if the hypothesis section has no measurable claim, and another
#    `"hypothesis: ..."` if it names no baseline: none of `BASELINE_WORDS` as a whole word,
#    in any case.
# 5. For the milestones section: `"milestones: " + str(err)` if `parse_milestones` raises
#    `ValueError`, else `"milestones: " + p` for each `p` of `milestone_problems(parsed, start)`.
#
# An empty list means the plan passes the checks a program can make. A mentor checks the rest.
#
# <details><summary>Hint</summary>
#
# `sections = split_sections(markdown)`, then a helper
# `def find(name): return next((k for k in sections if name in k), None)`. Loop over
# `REQUIRED` once to collect the missing ones and the stubs, then run the three content
# checks only for sections that exist and are answered.
# </details>

# %%
REQUIRED = ("question", "hypothesis", "threat model", "theory of change", "milestones")
BASELINE_WORDS = ("baseline", "compared with", "compared to", "control", "versus", "vs")
STUB = "YOUR ANSWER HERE"


# %% nbgrader={"solution": true, "grade_id": "plan_problems"} exercise={"difficulty": 3, "importance": 4, "minutes": 25}
def plan_problems(markdown: str, start: date) -> list[str]:
    """What a program can find wrong with a research plan: a list of "NAME: problem" strings.

    markdown: str, the plan. start: datetime.date, the project's first day. [] if nothing.
    """
    ### BEGIN SOLUTION
    sections = split_sections(markdown)

    def find(name):
        return next((k for k in sections if name in k), None)

    problems, answered = [], {}
    for name in REQUIRED:
        key = find(name)
        if key is None:
            problems.append(f"missing section: {name}")
        elif STUB in sections[key]:
            problems.append(f"{name}: not answered yet")
        else:
            answered[name] = sections[key]
    if "question" in answered and "?" not in answered["question"]:
        problems.append("question: no question mark; state the question as a question")
    if "hypothesis" in answered:
        text = answered["hypothesis"]
        if not measurable_claims(text):
            problems.append("hypothesis: no measurable result (a number with a comparison, e.g. 'above 99%')")
        if not any(re.search(rf"\b{re.escape(w)}\b", text, re.IGNORECASE) for w in BASELINE_WORDS):
            problems.append("hypothesis: no baseline named (what do you compare with?)")
    if "milestones" in answered:
        try:
            parsed = parse_milestones(answered["milestones"])
        except ValueError as err:
            problems.append(f"milestones: {err}")
        else:
            problems += [f"milestones: {p}" for p in milestone_problems(parsed, start)]
    return problems
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "plan_problems_test", "points": 3}
checks.assert_equal("plan_problems", plan_problems(EXAMPLE_PLAN, PLAN_START), [],
                    name="the problems of EXAMPLE_PLAN", hint="the worked example passes every check")
_bad_plan = """## Question
Grokking and weight decay.
## Hypothesis
Accuracy stays above 99%.
## Threat model
Mechanisms may not transfer.
"""
_prefixes = sorted(p.split(":")[0] for p in plan_problems(_bad_plan, PLAN_START))
checks.assert_equal("plan_problems", _prefixes, ["hypothesis", "missing section", "missing section", "question"],
                    name="the kinds of problem in a plan with no '?', no baseline, no theory of change, no milestones",
                    hint="each problem starts with what it concerns and a colon")
print("plan_problems: visible tests pass")
_p = plan_problems("", PLAN_START)
checks.assert_equal("plan_problems", _p, [f"missing section: {n}" for n in REQUIRED], name="the problems of an empty plan")
_stubbed = EXAMPLE_PLAN.replace("Does the grokking model", STUB + "\nDoes the grokking model")
checks.assert_equal("plan_problems", plan_problems(_stubbed, PLAN_START), ["question: not answered yet"],
                    hint="a section with the stub is 'not answered yet', and is not checked further")


def _with_hypothesis(text):
    return re.sub(r"(## Hypothesis, baseline and measurable result\n\n).*?(\n\n## Method)",
                  lambda m: m.group(1) + text + m.group(2), EXAMPLE_PLAN, flags=re.S)


for _hyp_text, _want in [
        ("Weight decay shapes the embedding. The baseline is the shipped checkpoint.", ["hypothesis"]),
        ("The share falls below 80% at weight decay 0.3.", ["hypothesis"]),
        ("The share falls below 80% with the controller at 0.3.", ["hypothesis"]),
        ("Weight decay shapes the embedding.", ["hypothesis", "hypothesis"]),
        ("The share falls below 80% at 0.3,\nCompared TO the shipped recipe.", []),
        ("Share below 80% at 0.3 vs. 95% at 1.0.", [])]:
    _p = plan_problems(_with_hypothesis(_hyp_text), PLAN_START)
    checks.assert_true("plan_problems", isinstance(_p, list) and [p.split(":")[0] for p in _p] == _want,
                       f"hypothesis {_hyp_text!r}: expected {len(_want)} 'hypothesis: ...' problem(s), got {_p}",
                       hint="a measurable claim, and a baseline word as a whole word in any case ('controller' is not "
                            "'control'; 'vs.' is 'vs')")
_late = EXAMPLE_PLAN.replace("2026-03-02", "2026-02-20")
_p = plan_problems(_late, PLAN_START)
checks.assert_true("plan_problems", len(_p) == 1 and _p[0].startswith("milestones: ") and "2026-02-20" in _p[0],
                   f"a milestone before the start: one 'milestones: ...' problem; got {_p}")
_broken = EXAMPLE_PLAN.replace("- 2026-03-09:", "- soon:")
_p = plan_problems(_broken, PLAN_START)
checks.assert_true("plan_problems", len(_p) == 1 and _p[0].startswith("milestones: ") and "soon" in _p[0],
                   f"a milestone without a date: 'milestones: ' + the ValueError's message; got {_p}")
### BEGIN HIDDEN TESTS
_renamed = EXAMPLE_PLAN.replace("## Threat model and theory of change", "## Theory of change\nx\n## Threat model")
checks.assert_equal("plan_problems", plan_problems(_renamed, PLAN_START), [],
                    hint="two sections can satisfy the two names separately")
### END HIDDEN TESTS

# %% [markdown]
# ## Why this matters for safety
#
# The threat model is the part of a plan that connects a small experiment to the failure it is
# meant to help prevent. Lesson 5.0 is the map to draw it from, and its answer B is a first draft.
# Hubinger (2020), "An overview of 11 proposals for building safe advanced AI", judges each proposal
# by what would have to be true for it to work, under separate headings for outer alignment, inner
# alignment and competitiveness; asking the same of your project tells you which of its outcomes
# would change what someone does. An extension of a replication usually bears on the reliability
# of interpretability itself: whether a mechanism found in one run holds across seeds, recipes and
# sizes decides whether an audit built on it can be trusted. Write down which outcome would change
# whose decision before you run the experiment.

# %% [markdown]
# ## Your research plan
#
# Now the part no test can grade. Write your own plan in the five cells below, for an
# extension of any replication you did (the table of open problems above is a start; so is
# anything that surprised you). Each cell keeps its heading and prompt; replace "YOUR
# ANSWER HERE" with your answer. Above each cell is the rubric a mentor grades it with.
#
# Two pieces of advice from people who supervise first projects:
#
# - **Shrink the question until you can answer it in two weeks**, then plan six: the first
#   result always takes three times longer than planned.
# - **Decide the number before you run the experiment.** A threshold chosen after seeing the
#   result is a description, not a test.
#
# When you have written all five, save the notebook: the cell after them runs your
# `plan_problems` on your own plan.

# %% [markdown]
# ### 1. Question (2 points)
#
# | points | what it takes |
# |---|---|
# | 2 | One specific question whose answer is not known in advance; it names the replication and model, and could be answered in about six weeks on a CPU. |
# | 1 | A topic rather than a question, several questions at once, or a question too large for the time and compute. |
# | 0 | Missing, or not about a model you can run. |

# %% [markdown] nbgrader={"solution": true, "grade": true, "grade_id": "plan_question", "points": 2}
# ## Question
#
# *One question, ending in a question mark, that your project answers. Name the replication
# and the model you start from.*
#
# ### BEGIN SOLUTION
# Does the grokking model of lesson 4.1 (`grokking-p53`) generalise through the same few key
# frequencies when it is trained with weight decay 0.3 instead of 1.0?
# ### END SOLUTION

# %% [markdown]
# ### 2. Hypothesis, baseline and measurable result (3 points)
#
# | points | what it takes |
# |---|---|
# | 3 | A falsifiable hypothesis with a reason; a named baseline (the shipped checkpoint, other seeds, an ablated or random model); a measurable result with a threshold, and the result that would refute the hypothesis. |
# | 2 | Two of the three, or all three with a threshold that no outcome could miss. |
# | 1 | One of the three. |
# | 0 | Missing, or a hope rather than a hypothesis ("I will find interesting features"). |

# %% [markdown] nbgrader={"solution": true, "grade": true, "grade_id": "plan_hypothesis", "points": 3}
# ## Hypothesis, baseline and measurable result
#
# *What you expect and why; the baseline you compare with; the measurable result, with a
# number decided now, that would confirm it, and the result that would refute it.*
#
# ### BEGIN SOLUTION
# Weight decay is what pushes the embedding onto a few frequencies: it penalises the norm of
# every weight that does not pay for itself. With weight decay 0.3 instead of 1.0, I expect
# grokking to come later and the key frequencies to hold less than 80% of the embedding's
# norm. The baseline is the recipe of the shipped checkpoint (weight decay 1.0) retrained
# with three seeds, where the key frequencies hold about 95%. The hypothesis is refuted if
# the share at 0.3 is within the baseline's seed spread (|t| < 2 between the two groups).
# ### END SOLUTION

# %% [markdown]
# ### 3. Method: the first experiments (2 points)
#
# | points | what it takes |
# |---|---|
# | 2 | Two or three experiments someone else could run from the description: function, settings and sweep, at least three seeds where a difference is claimed, a CPU-time estimate that fits the milestones. |
# | 1 | Experiments named but not runnable as described, or no seeds, or a compute estimate that does not fit. |
# | 0 | Missing. |

# %% [markdown] nbgrader={"solution": true, "grade": true, "grade_id": "plan_method", "points": 2}
# ## Method: the first experiments
#
# *The first two or three experiments, concrete enough to run: which function of the
# project's `experiments.py` (or a new one), the settings and sweep, how many seeds, and
# about how many CPU minutes each takes.*
#
# ### BEGIN SOLUTION
# 1. `python run.py run reproduce` in a project from `bootcamp new-project 4.1`: the
#    checkpoint's headline numbers (a minute).
# 2. `python run.py run retrain --sweep train.weight_decay=[0.3,1.0] --sweep seed=[0,1,2]`:
#    six runs of 2,500 epochs, about two minutes each on one core; results are the key
#    frequencies' share, the grok epoch and the test accuracy.
# 3. If a run at 0.3 has not grokked by epoch 2,500, rerun that setting with
#    `--set train.epochs=6000` before comparing.
# ### END SOLUTION

# %% [markdown]
# ### 4. Threat model and theory of change (3 points)
#
# | points | what it takes |
# |---|---|
# | 3 | A concrete way AI systems could fail or be misunderstood that the work bears on; a plausible chain from either outcome to someone acting differently; at least one specific threat to the result's own validity, with how it will be checked. |
# | 2 | Two of the three. |
# | 1 | One of the three, or generic statements ("this helps safety") without a chain. |
# | 0 | Missing. |
#
# Start from your answer B of lesson 5.0 (threat models and research agendas): its table of
# threat models says which failures the field works on and which agendas address them.

# %% [markdown] nbgrader={"solution": true, "grade": true, "grade_id": "plan_threat_model", "points": 3}
# ## Threat model and theory of change
#
# *Threat model: which way AI systems could fail, or be misunderstood, that this work bears
# on. Theory of change: if you get the result (or its opposite), who would do what
# differently? And the threats to your own result.*
#
# ### BEGIN SOLUTION
# Threat model: interpretability reads a mechanism off one trained model and generalises
# from it. If the mechanism a network learns depends on a training hyperparameter, a
# circuit found under one recipe can be absent under another, and a safety argument built
# on it fails silently. Theory of change: a clear dependence tells people who use progress
# measures (restricted and excluded loss) to watch training that those measures must be
# recalibrated per recipe; independence supports using them across recipes. Threats to my
# result: seed noise (three seeds per setting, compared with a two-sample t statistic); the
# key-frequency threshold (10% of the largest) can change the count, so I report the share
# at two thresholds; a slower run may simply be earlier in its clean-up, so I also compare
# the runs 1,000 epochs after each one's grok epoch.
# ### END SOLUTION

# %% [markdown]
# ### 5. Milestones (2 points)
#
# | points | what it takes |
# |---|---|
# | 2 | Dated milestones in order (the automatic check passes), the baseline reproduced within the first week, a go/no-go point with what happens after a null result, a write-up at the end. |
# | 1 | Dates in order but no early baseline, no go/no-go point, or an unrealistic pace. |
# | 0 | Missing, or no dates. |

# %% [markdown] nbgrader={"solution": true, "grade": true, "grade_id": "plan_milestones", "points": 2}
# ## Milestones
#
# *One line per milestone, `- YYYY-MM-DD: what exists by then`, dates in order: the baseline
# reproduced within a week, a go/no-go point, the write-up at the end.*
#
# ### BEGIN SOLUTION
# - 2026-03-02: project scaffolded, `reproduce` passes, baseline sweep started
# - 2026-03-09: weight-decay sweep done, three seeds per setting, plots in `runs/plots/`
# - 2026-03-23: go/no-go: a difference beyond the seed spread, or write up the null result
# - 2026-04-06: write-up done and sent to my mentor
# ### END SOLUTION

# %% [markdown]
# Save the notebook (Ctrl-S), then run the next cell. It reads your five answers from the
# saved file and runs your checker on them, with today as the start date (the worked
# example's dates are its own). It is a help, not a grade: a mentor grades the plan.

# %%
_notebook = Path("5.1-extending.ipynb")
if _notebook.is_file():
    _cells = newproject.plan_cells(_notebook)
    _mine = "\n\n".join(text for _, text in _cells)
    _today = date.today()
    try:
        _first = parse_milestones(split_sections(_mine).get("milestones", "")) if STUB not in _mine else []
    except ValueError:
        _first = []
    except NotImplementedError:
        _first = None
    _start = min([_today] + [d for d, _ in (_first or [])[:1]])  # a plan written earlier may start before today
    try:
        _found = plan_problems(_mine, _start) if _first is not None else ["(finish exercises 1-5 first)"]
    except NotImplementedError:
        _found = ["(finish exercises 1-5 first)"]
    print(f"{len(_cells)} plan cells read from {_notebook}; start date {_start}")
    print("\n".join(f"- {p}" for p in _found) or "no problems a program can find: now ask a mentor")
else:
    print(f"{_notebook} not found: save the notebook first, or run this from its folder")

# %% [markdown]
# ## A project of your own: `bootcamp new-project`
#
# A plan needs a place to run. `bootcamp new-project LESSON NAME` writes a folder that
# starts from a replication and does not need the course to run:
#
# ```text
# $ bootcamp new-project 4.1 ~/grokking-weight-decay
# $ tree ~/grokking-weight-decay
# ├── PLAN.md            your plan: the five answers above, read from this notebook once saved
# ├── RUBRIC.md          what a mentor grades the plan against
# ├── WRITEUP.md         question, method, results, limitations, next steps
# ├── README.md          how to run it; the lesson's "Going further" problems
# ├── config.toml        the experiments, their settings and sweeps
# ├── experiments.py     one function per experiment: reproduce, weight_noise, retrain; add yours
# ├── run.py             the runner: logs every run to runs/runs.jsonl and runs.csv, plots them
# ├── tests/             pytest, ~20 s: checkpoints intact, headline reproduced, runner logs
# ├── notebooks/         your 4.1 notebook as it was
# └── replication/       the course's own code for the model, copied: models/grokking.py,
#     ├── PROVENANCE.json   models/registry.py ...; the checkpoints; their sha256 and metrics
#     └── models/checkpoints/grokking_p53.pt ...
# ```
#
# Then, in the new folder:
#
# ```bash
# python -m pytest -q                                  # the project's own tests pass
# python run.py run reproduce                          # the lesson's headline numbers, from the checkpoint
# python run.py run weight_noise                       # an example sweep: noise levels x seeds
# python run.py run retrain --set train.weight_decay=0.3 --sweep seed=[0,1,2]   # your extension
# python run.py plot                                   # runs/plots/*.png
# ```
#
# An **experiment** is a function `name(settings) -> dict` in `experiments.py` and a table
# `[experiments.name]` in `config.toml`; lists in its `sweep` table become one run per
# combination. Every run, failed ones too, is one JSON line in `runs/runs.jsonl` with its
# settings, results, time, versions and the hash of the code that ran. That file is your
# lab notebook: the write-up cites its run ids.
#
# Below, the same command from Python scaffolds a project from lesson 4.1 into a temporary
# folder; the next three exercises use it.

# %%
PROJECT_LESSON = "4.1"
_workdir = Path(tempfile.mkdtemp(prefix="bootcamp-5.1-"))
summary = newproject.scaffold(PROJECT_LESSON, _workdir / "grokking-project")
PROJECT = summary["path"]
print(f"scaffolded {PROJECT} with model(s) {summary['models']}")
print("files:", sorted(str(p.relative_to(PROJECT)) for p in PROJECT.rglob("*") if p.is_file() and "__pycache__" not in p.parts))
print((PROJECT / "config.toml").read_text()[:900])

# %% [markdown]
# ## Exercise 6: a sweep is a product
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · 2 points · about 10 minutes, then look at the hint.
#
# The runner turns an experiment's settings and its sweep into one settings dict per run.
# Write that step: `expand_sweep(settings, sweep)` returns a list of dicts, one per
# combination of the sweep's values, each a copy of `settings` with the swept keys set.
#
# - Order: the order of `itertools.product` over the sweep's values in key order, so the
#   **last key varies fastest**: `{"noise": [0, 1], "seed": [7, 8]}` gives noise 0 with seeds
#   7 and 8, then noise 1 with seeds 7 and 8.
# - An empty sweep gives one run: `[copy of settings]`.
# - A sweep value that is not a non-empty list raises `ValueError`: a sweep over nothing is
#   a typo, not zero runs.
# - Neither argument is changed, and no two runs share a mutable value (use `copy.deepcopy`):
#   an experiment that appends to a list in its settings must not change the next run's.
#
# (`run.py`'s own `expand_sweep` does the same, with dotted keys for sub-tables.)
#
# <details><summary>Hint</summary>
#
# `for combo in itertools.product(*sweep.values()):` then
# `run = copy.deepcopy(settings); run.update(zip(sweep, combo))`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "expand_sweep"} exercise={"difficulty": 2, "importance": 3, "minutes": 10}
def expand_sweep(settings: dict, sweep: dict[str, list]) -> list[dict]:
    """One settings dict per combination of the sweep's values (the last key varies fastest).

    settings: dict of any values; sweep: dict of str -> non-empty list. Returns a list of dicts.
    Raises ValueError if a sweep value is not a non-empty list.
    """
    ### BEGIN SOLUTION
    import copy

    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"sweep {key!r} needs a non-empty list of values, got {values!r}")
    runs = []
    for combo in itertools.product(*sweep.values()):
        run = copy.deepcopy(settings)
        run.update(copy.deepcopy(dict(zip(sweep, combo))))
        runs.append(run)
    return runs
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "expand_sweep_test", "points": 2}
_runs = expand_sweep({"model": "grokking-p53", "noise": 0.0}, {"noise": [0, 1], "seed": [7, 8]})
checks.assert_equal("expand_sweep", _runs,
                    [{"model": "grokking-p53", "noise": 0, "seed": 7}, {"model": "grokking-p53", "noise": 0, "seed": 8},
                     {"model": "grokking-p53", "noise": 1, "seed": 7}, {"model": "grokking-p53", "noise": 1, "seed": 8}],
                    name="the runs", hint="itertools.product: the last key varies fastest; swept keys override settings")
checks.assert_equal("expand_sweep", expand_sweep({"a": 1}, {}), [{"a": 1}], name="the runs of an empty sweep")
print("expand_sweep: visible tests pass")
_settings = {"tags": ["x"], "train": {"lr": 1.0}}
_sweep = {"seed": [0, 1, 2]}
_runs = expand_sweep(_settings, _sweep)
checks.assert_equal("expand_sweep", len(_runs), 3, name="the number of runs")
_runs[0]["tags"].append("changed")
_runs[0]["train"]["lr"] = 9.0
checks.assert_true("expand_sweep", _runs[1]["tags"] == ["x"] and _runs[1]["train"] == {"lr": 1.0}
                   and _settings == {"tags": ["x"], "train": {"lr": 1.0}},
                   "changing one run's list or sub-dict changed another run or the settings",
                   hint="copy.deepcopy(settings) for every run")
checks.assert_equal("expand_sweep", _sweep, {"seed": [0, 1, 2]}, name="the sweep after the call")
checks.assert_raises("expand_sweep", ValueError, expand_sweep, {}, {"seed": []}, hint="an empty list of values is an error")
checks.assert_raises("expand_sweep", ValueError, expand_sweep, {}, {"seed": 3}, hint="a value that is not a list is an error")
### BEGIN HIDDEN TESTS
checks.assert_equal("expand_sweep", len(expand_sweep({}, {"a": [1, 2], "b": [1, 2, 3], "c": [0]})), 6,
                    name="the number of runs of a 2 x 3 x 1 sweep")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 7: an effect, or seed noise?
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · 3 points · about 20 minutes, then look at the hint.
#
# Retrain a model with another seed and every number moves a little. Before you claim that a
# change (weight decay 0.3, a noisier embedding) moved a metric, compare the difference with
# that spread. The simplest honest comparison is Welch's two-sample *t* statistic: with
# $n_b$ baseline values of mean $\bar b$ and sample variance $s_b^2$ (divide by $n - 1$),
# and the same for the treatment,
#
# $$ d = \bar t - \bar b, \qquad \mathrm{se} = \sqrt{\frac{s_b^2}{n_b} + \frac{s_t^2}{n_t}}, \qquad t = \frac{d}{\mathrm{se}}. $$
#
# As a rule of thumb for a first project, call the effect **clear** when $|t| \ge 2$ (with
# three seeds per group that is not a significance test, and the write-up should say so;
# it is a floor below which you have nothing to report).
#
# Write `compare_to_baseline(baseline, treatment)` returning
# `{"difference": d, "stderr": se, "t": t, "clear": bool}` (floats and a bool). Each group
# needs at least two values (else `ValueError`: one seed measures no spread). When
# `se == 0` (every value equal within each group), `t` is `math.inf` with the sign of `d`,
# or `0.0` if `d == 0`.
#
# <details><summary>Hint</summary>
#
# `np.asarray(x, dtype=float)`, `.mean()`, `.var(ddof=1)`. `math.copysign(math.inf, d)`.
# Cast with `float(...)` and `bool(...)` so the dict holds plain Python values.
# </details>

# %% nbgrader={"solution": true, "grade_id": "compare_to_baseline"} exercise={"difficulty": 3, "importance": 5, "minutes": 20}
def compare_to_baseline(baseline, treatment) -> dict:
    """Welch's comparison of two groups of per-seed results.

    baseline, treatment: sequences of numbers, at least 2 each. Returns
    {"difference": float, "stderr": float, "t": float, "clear": bool}.
    """
    ### BEGIN SOLUTION
    b = np.asarray(baseline, dtype=float)
    t = np.asarray(treatment, dtype=float)
    if b.size < 2 or t.size < 2:
        raise ValueError("each group needs at least two values (seeds) to measure its spread")
    d = float(t.mean() - b.mean())
    se = float(math.sqrt(b.var(ddof=1) / b.size + t.var(ddof=1) / t.size))
    if se == 0:
        stat = math.copysign(math.inf, d) if d != 0 else 0.0
    else:
        stat = d / se
    return {"difference": d, "stderr": se, "t": float(stat), "clear": bool(abs(stat) >= 2)}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "compare_to_baseline_test", "points": 3}
_b, _t = [0.95, 0.96, 0.94], [0.80, 0.85, 0.78]
_r = compare_to_baseline(_b, _t)
_welch = stats.ttest_ind(_t, _b, equal_var=False)
checks.assert_close("compare_to_baseline", _r["difference"], np.mean(_t) - np.mean(_b), name="difference",
                    hint="treatment mean minus baseline mean")
checks.assert_close("compare_to_baseline", _r["t"], _welch.statistic, name="t",
                    hint="sample variances (ddof=1), each divided by its own group size")
checks.assert_close("compare_to_baseline", _r["stderr"], _r["difference"] / _welch.statistic, name="stderr")
checks.assert_true("compare_to_baseline", _r["clear"] is True, f"|t| = {abs(_welch.statistic):.1f} >= 2 is clear; got {_r['clear']!r}")
checks.assert_true("compare_to_baseline", compare_to_baseline([1.0, 2.0], [1.5, 2.5])["clear"] is False,
                   "a difference of 0.5 with a spread of 0.7 per group is not clear")
print("compare_to_baseline: visible tests pass")
_rng = np.random.default_rng(0)
for _nb, _nt in [(2, 2), (3, 7), (10, 4)]:
    _x, _y = _rng.normal(0, 1, _nb), _rng.normal(0.5, 2, _nt)
    _r = compare_to_baseline(list(_x), tuple(_y))
    checks.assert_close("compare_to_baseline", _r["t"], stats.ttest_ind(_y, _x, equal_var=False).statistic, name="t",
                        hint="unequal group sizes: divide each variance by its own n")
    checks.assert_true("compare_to_baseline", isinstance(_r["clear"], bool) and isinstance(_r["t"], float),
                       f"return plain Python values (float, bool); got {type(_r['t']).__name__}, {type(_r['clear']).__name__}",
                       hint="float(...) and bool(...) around numpy values")
_r = compare_to_baseline([1, 1, 1], [2, 2])
checks.assert_true("compare_to_baseline", _r["t"] == math.inf and _r["clear"] is True and _r["stderr"] == 0.0,
                   f"no spread and a difference: t = inf; got {_r}", hint="math.copysign(math.inf, d)")
_r = compare_to_baseline([3, 3], [1, 1])
checks.assert_true("compare_to_baseline", _r["t"] == -math.inf, f"a negative difference with no spread: t = -inf; got {_r}")
_r = compare_to_baseline([2, 2], [2, 2])
checks.assert_true("compare_to_baseline", _r["t"] == 0.0 and _r["clear"] is False, f"no difference, no spread: t = 0; got {_r}")
checks.assert_raises("compare_to_baseline", ValueError, compare_to_baseline, [1.0], [1.0, 2.0],
                     hint="one seed measures no spread")
checks.assert_raises("compare_to_baseline", ValueError, compare_to_baseline, [1.0, 2.0], [3.0],
                     hint="each group needs two values: one seed measures no spread")
for _tv, _clear in [(2.0, True), (1.5, False), (2.5, True)]:  # baseline spread 1 exactly, treatment none: t = its mean
    _r = compare_to_baseline([-1.0, 1.0], [_tv, _tv])
    checks.assert_true("compare_to_baseline", _r["t"] == _tv and _r["clear"] is _clear,
                       f"t = {_tv}: clear should be {_clear} (|t| >= 2), got t = {_r['t']}, clear = {_r['clear']!r}",
                       hint="clear means |t| >= 2, with 2 itself counting as clear")
### BEGIN HIDDEN TESTS
checks.assert_raises("compare_to_baseline", ValueError, compare_to_baseline, np.array([1.0, 2.0]), [],
                     hint="an empty group is an error too");
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 8: run an experiment in the project
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · 2 points · about 15 minutes, then look at the hint.
#
# A project's experiments run from its own folder, with its own code, in a fresh process:
# exactly what you would type in a terminal. Write `run_in_project(project, experiment,
# settings=None)`:
#
# - run `[sys.executable, "run.py", "run", experiment]`, plus `--set KEY=VALUE` for each
#   item of `settings` with the value written as JSON (`json.dumps(value)`: numbers, strings
#   in double quotes, `true`, lists; all of them valid TOML, which `run.py` reads), with
#   `cwd=project`, capturing the output as text;
# - if it exits with status 2 (bad input: an unknown experiment, a bad setting), raise
#   `RuntimeError` with its stderr in the message;
# - otherwise return the records this call appended to `project/runs/runs.jsonl` (the file
#   may not exist before the first run, and may hold earlier runs): a list of dicts, one per
#   run, each with `"settings"`, `"results"`, `"status"` ... A run that failed is in the
#   list with `"status": "error"`: the runner exits with 1 then, and that is not an error
#   of this function.
#
# The first experiment of every project is `reproduce`: it evaluates the shipped checkpoint
# and compares the lesson's headline numbers with the ones recorded when it was trained.
#
# <details><summary>Hint</summary>
#
# Count the lines of `runs.jsonl` before the call (0 if it does not exist), run
# `subprocess.run(cmd, cwd=project, capture_output=True, text=True)`, then
# `[json.loads(line) for line in lines[before:] if line.strip()]`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "run_in_project"} exercise={"difficulty": 2, "importance": 4, "minutes": 15}
def run_in_project(project: Path, experiment: str, settings: dict | None = None) -> list[dict]:
    """Run `python run.py run EXPERIMENT [--set K=V ...]` in `project`; return the new run records.

    project: Path of a scaffolded project. settings: dict of str -> JSON-able value, or None.
    Returns a list of dicts (one per run logged by this call). Raises RuntimeError on exit status 2.
    """
    ### BEGIN SOLUTION
    log = Path(project) / "runs" / "runs.jsonl"
    before = len(log.read_text().splitlines()) if log.is_file() else 0
    cmd = [sys.executable, "run.py", "run", experiment]
    for key, value in (settings or {}).items():
        cmd += ["--set", f"{key}={json.dumps(value)}"]
    done = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
    if done.returncode == 2:
        raise RuntimeError(f"run.py refused {experiment!r}: {done.stderr.strip()}")
    lines = log.read_text().splitlines() if log.is_file() else []
    return [json.loads(line) for line in lines[before:] if line.strip()]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "run_in_project_test", "points": 2}
_records = checks.call("run_in_project", run_in_project, PROJECT, "reproduce", case="the reproduce experiment")
checks.assert_true("run_in_project", isinstance(_records, list) and len(_records) == 1,
                   f"reproduce is one run: expected a list of 1 record, got {_records!r:.200}",
                   hint="return only the lines this call appended to runs/runs.jsonl, parsed with json.loads")
_rec = _records[0]
checks.assert_equal("run_in_project", _rec["status"], "ok", name="the run's status", hint=f"the run's error: {_rec.get('error')}")
checks.assert_true("run_in_project", _rec["results"]["test_acc"] > 0.99 and _rec["results"]["reproduced"] == 1.0,
                   f"the shipped checkpoint's test accuracy is over 99% and reproduces: {_rec['results']}")
print(f"reproduce: test accuracy {_rec['results']['test_acc']:.4f}, key frequencies hold "
      f"{_rec['results']['key_freq_share']:.1%} of the embedding's norm")
print("run_in_project: visible tests pass")
### BEGIN HIDDEN TESTS
_again = run_in_project(PROJECT, "weight_noise", {"noise": 0.0, "seed": 3})
checks.assert_true("run_in_project", isinstance(_again, list) and len(_again) == 1 and _again[0]["settings"]["noise"] == 0.0
                   and _again[0]["settings"]["seed"] == 3,
                   f"--set noise=0.0 --set seed=3 fixes the sweep to one run with those settings; got "
                   f"{[r.get('settings') for r in _again]}", hint="pass each setting as --set KEY=json.dumps(VALUE)")
checks.assert_close("run_in_project", _again[0]["results"]["test_acc"], _rec["results"]["test_acc"],
                    name="test accuracy with no noise", hint="only the records of this call, not earlier ones")
checks.assert_raises("run_in_project", RuntimeError, run_in_project, PROJECT, "no_such_experiment",
                     match="no_such_experiment", hint="exit status 2: raise RuntimeError with the runner's stderr")
_fresh = newproject.scaffold(PROJECT_LESSON, _workdir / "second-project")["path"]
_first = run_in_project(_fresh, "weight_noise", {"noise": 0.1, "seed": 0, "model": "grokking-p53"})
checks.assert_true("run_in_project", isinstance(_first, list) and len(_first) == 1
                   and _first[0]["settings"]["model"] == "grokking-p53",
                   f"a project with no runs.jsonl yet: expected one record; got {_first!r:.200}",
                   hint="runs/runs.jsonl does not exist before the first run; strings go as JSON, in double quotes")
### END HIDDEN TESTS

# %% [markdown]
# ### A first sweep, read back
#
# With the runner in hand, here is the example extension every project starts with:
# add Gaussian noise to every weight tensor (a fraction `noise` of its own standard
# deviation) and watch the headline numbers fall. Each noise level runs with three seeds,
# so that exercise 7 can say which drops are bigger than the noise between seeds.

# %%
_sweep = subprocess.run([sys.executable, "run.py", "run", "weight_noise", "--sweep", "noise=[0.25,0.5,0.75,1.0]",
                         "--sweep", "seed=[0,1,2]"], cwd=PROJECT, capture_output=True, text=True)
print(_sweep.stdout[-1500:] or _sweep.stderr[-1500:])
subprocess.run([sys.executable, "run.py", "plot", "weight_noise"], cwd=PROJECT, check=True, capture_output=True)

_runs = [json.loads(line) for line in (PROJECT / "runs" / "runs.jsonl").read_text().splitlines()]
_by_noise: dict[float, list[float]] = {}
for _run in _runs:
    if _run["experiment"] == "weight_noise" and _run["status"] == "ok":
        _by_noise.setdefault(_run["settings"]["noise"], []).append(_run["results"]["test_acc"])
_levels = sorted(lv for lv in _by_noise if len(_by_noise[lv]) >= 2)  # the levels of this sweep (3 seeds each)
fig, ax = plt.subplots(figsize=(6, 3.5))
for _level in _levels:
    ax.scatter([_level] * len(_by_noise[_level]), _by_noise[_level], color="tab:blue", alpha=0.6)
ax.plot(_levels, [np.mean(_by_noise[lv]) for lv in _levels], color="tab:blue")
ax.set_xlabel("noise (fraction of each weight tensor's std)")
ax.set_ylabel("test accuracy")
ax.set_title("grokking-p53 under weight noise: one dot per seed")
plt.show()
try:
    for _lo, _hi in zip(_levels, _levels[1:]):
        _c = compare_to_baseline(_by_noise[_lo], _by_noise[_hi])
        print(f"noise {_lo} -> {_hi}: test accuracy {_c['difference']:+.4f}, t = {_c['t']:.1f}, "
              f"{'clear' if _c['clear'] else 'NOT clear'} with {len(_by_noise[_hi])} seeds")
except (NotImplementedError, TypeError, KeyError, ValueError) as _err:
    print(f"(finish exercise 7 to compare the levels: {type(_err).__name__})")

# %% [markdown]
# **What just happened.** The project ran its own copy of the course's code in a fresh
# process, logged twelve runs with their settings, and drew `runs/plots/weight_noise.png`.
# With three seeds per level you can say which steps down are clear, and you know the
# spread to expect before you compare a retrained model with the baseline. The same loop
# (a function in `experiments.py`, a table in `config.toml`, `run.py run`, read the log)
# is the whole of the project's machinery; everything else is your question.
#
# ## What to do next
#
# 1. Submit this notebook (`bootcamp submit 5.1`): the code is graded at once, the plan by a
#    mentor with the rubric. Revise the plan with their comments; it is meant to change.
# 2. `bootcamp new-project 4.1 ~/my-project` (or 3.2, or any lesson `bootcamp models`
#    lists). Save this notebook first: PLAN.md is read from it.
# 3. Reproduce first (`python run.py run reproduce`, `python -m pytest`), then run the
#    first experiment of your method, and write a paragraph of WRITEUP.md the same day.
# 4. Keep to the milestones. At the go/no-go point, a null result with its seed spread is
#    worth writing up: it is the result most often missing from the literature.
#
# ## Summary
#
# - A good extension changes one thing, names its number in advance, has a baseline, and
#   fits the compute.
# - A plan's form can be checked by a program (sections, a measurable claim, a baseline,
#   milestones in order); its substance is read by a mentor against a rubric.
# - `bootcamp new-project` gives a standalone project with the replication's code and
#   checkpoint, an experiment runner that logs every run, a write-up template and tests.
# - Compare a change with the spread over seeds before calling it an effect.

# %%
import shutil

shutil.rmtree(_workdir, ignore_errors=True)  # the two temporary projects of this notebook

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 5.1`), else from `bootcamp check 5.1` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("5.1")
