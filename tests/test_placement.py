"""Placement quizzes: built like lessons, graded with their hidden tests, mapped to lessons."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from course.authoring.lessons import ROOT
from course.authoring.syllabus import load as load_syllabus
from course.cli import main
from course.learner import placement, progress
from course.learner.placement import Item, ItemResult, decide

MODULES = ("0", "1", "2", "3", "4")
_SOLUTION_MARK = re.compile(r"^\s*#+\s*(BEGIN|END)\s+SOLUTION\b.*$\n?", re.M)


def filled_quiz(module: str, wrong: dict[str, str] | None = None, tamper: dict[str, str] | None = None) -> dict:
    """The released quiz as a learner who knows the answers fills it in (some answers wrong,
    some test cells edited, if asked)."""
    from course.authoring.lessons import read_source

    source = ROOT / "placement" / module / f"placement-{module}.py"
    answers = {c.metadata["nbgrader"]["grade_id"]: _SOLUTION_MARK.sub("", c.source)
               for c in read_source(source).cells if c.metadata.get("nbgrader", {}).get("solution")}
    nb = json.loads(source.with_suffix(".ipynb").read_text())
    for c in nb["cells"]:
        nbg = c["metadata"].get("nbgrader", {})
        gid = nbg.get("grade_id")
        if nbg.get("solution") and wrong is not None:
            c["source"] = wrong.get(gid, answers[gid])
        if gid in (tamper or {}):
            c["source"] = tamper[gid]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Each quiz notebook below, graded once (each run starts a kernel and imports torch)."""
    tmp = tmp_path_factory.mktemp("quizzes")
    cases = {
        "0-correct": ("0", filled_quiz("0", wrong={})),
        "0-running_total-wrong": ("0", filled_quiz("0", wrong={"running_total": "def running_total(x):\n"
                                                                               "    return x.clone()\n"})),
        # untouched, except that the learner "fixed" a test so that it passes: it is restored from the source
        "0-untouched": ("0", filled_quiz("0", tamper={"logsumexp_test": "pass"})),
        "1-input_grad-wrong": ("1", filled_quiz("1", wrong={"input_grad": "def input_grad(f, x):\n"
                                                                           "    return torch.zeros_like(x)\n"})),
        # the mistake the item is about: a plain reshape to (B, H, S, Dh) mixes positions into heads
        # encoding x without first subtracting the decoder bias
        "4-sae_forward-wrong": ("4", filled_quiz("4", wrong={"sae_forward": "def sae_forward(x, W_enc, b_enc, W_dec, b_dec):\n"
                                                                             "    f = torch.relu(x @ W_enc + b_enc)\n"
                                                                             "    return f, f @ W_dec + b_dec\n"})),
        # indexing every io for every row: logits[:, io] is (B, B), and its mean is not the metric
        "3-logit_diff-wrong": ("3", filled_quiz("3", wrong={"logit_diff": "def logit_diff(logits, io, s):\n"
                                                                           "    return (logits[:, io] - logits[:, s]).mean()\n"})),
        "2-split_heads-wrong": ("2", filled_quiz("2", wrong={"split_heads": "def split_heads(x, n_heads):\n"
                                                                             "    b, s, d = x.shape\n"
                                                                             "    return x.reshape(b, n_heads, s, d // n_heads)\n"})),
    }
    out = {}
    for name, (module, nb) in cases.items():
        path = tmp / f"{name}.ipynb"
        path.write_text(json.dumps(nb))
        quiz = placement.read_quiz(module)
        out[name] = (quiz, placement.grade(quiz, path), path)
    return out


def verdict_of(graded, name):
    quiz, results, _ = graded[name]
    return decide(load_syllabus(), quiz.module, results)


# --------------------------------------------------------------------------- the quizzes themselves
@pytest.mark.parametrize("module", MODULES)
def test_quiz_notebook_is_current_and_leaks_nothing(module):
    assert not placement.stale(module), f"run `bootcamp placement --build {module}`"
    assert placement.leaks(module) == []


@pytest.mark.parametrize("module", MODULES)
def test_quiz_is_short_and_covers_every_lesson_of_its_module(module):
    syl = load_syllabus()
    quiz = placement.read_quiz(module)
    assert 5 <= len(quiz.items) <= 10
    assert sum(i.minutes for i in quiz.items) < 15 and quiz.minutes < 15
    tested = {lid for item in quiz.items for lid in item.lessons}
    assert set(syl.module(module).lessons) & {lid for lid, i in syl.lessons.items() if i.available} <= tested


# --------------------------------------------------------------------------- grading real notebooks
def test_a_correct_quiz_says_skip_module_0(graded):
    quiz, results, _ = graded["0-correct"]
    assert [r.status for r in results] == ["pass"] * len(results)
    v = verdict_of(graded, "0-correct")
    assert v.skip_module and v.skip == ["0.1", "0.2", "0.3"] and v.start_with is None
    assert "skip Module 0 (From Python to tensors): every item passes." in \
        placement.format_verdict(load_syllabus(), quiz, results, v)


def test_a_wrong_item_recommends_the_lesson_it_tests(graded):
    quiz, results, _ = graded["0-running_total-wrong"]
    status = {r.item.grade_id: r.status for r in results}
    assert status.pop("running_total") == "FAIL" and set(status.values()) == {"pass"}
    v = verdict_of(graded, "0-running_total-wrong")
    assert not v.skip_module and v.skip == ["0.1", "0.3"] and v.start_with == "0.2"
    assert v.go_back == [("running_total", "0.2")]
    text = placement.format_verdict(load_syllabus(), quiz, results, v)
    assert "start with:  0.2 einops, einsum and tensor puzzles" in text
    assert "go back to:  0.2 einops, einsum and tensor puzzles: item running_total did not pass" in text


def test_the_untouched_quiz_fails_every_item_and_says_where_to_start(graded):
    quiz, results, _ = graded["0-untouched"]
    assert {r.status for r in results} == {"todo"}  # the tampered test was restored: still not answered
    v = verdict_of(graded, "0-untouched")
    assert v.answered == 0 and not v.skip_module
    assert "You have not answered any item yet" in placement.format_verdict(load_syllabus(), quiz, results, v)


def test_module_1_sends_a_learner_back_to_module_0(graded):
    quiz, results, _ = graded["1-input_grad-wrong"]
    assert [r.item.grade_id for r in results if not r.passed] == ["input_grad"]
    v = verdict_of(graded, "1-input_grad-wrong")
    assert v.skip == ["1.1", "1.2", "1.3", "1.4"] and v.below == ["0.3"] and v.start_with == "0.3"
    text = placement.format_verdict(load_syllabus(), quiz, results, v)
    assert "go back to:  0.3 PyTorch fundamentals (an earlier module, introductory): item input_grad" in text


def test_module_2_catches_a_head_split_that_mixes_positions(graded):
    v = verdict_of(graded, "2-split_heads-wrong")
    assert "2.1" not in v.skip and "2.2" in v.skip
    assert ("split_heads", "2.1") in v.go_back
    _, results, _ = graded["2-split_heads-wrong"]
    failed = [r for r in results if r.item.grade_id == "split_heads"][0]
    assert failed.status == "FAIL" and "differs" in failed.message


def test_module_3_catches_a_logit_difference_that_mixes_prompts(graded):
    v = verdict_of(graded, "3-logit_diff-wrong")
    assert v.skip == ["3.1", "3.2", "3.4"] and v.start_with == "3.3"
    assert ("logit_diff", "3.3") in v.go_back


def test_module_4_catches_an_sae_that_forgets_the_decoder_bias(graded):
    v = verdict_of(graded, "4-sae_forward-wrong")
    assert "4.3" not in v.skip and {"4.1", "4.2"} <= set(v.skip)
    assert ("sae_forward", "4.3") in v.go_back


def test_placement_command_grades_records_and_moves_progress_on(graded, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BOOTCAMP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BOOTCAMP_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("BOOTCAMP_TOKEN", raising=False)
    quiz, results, path = graded["0-correct"]
    monkeypatch.setattr(placement, "grade", lambda q, nb, timeout=120: results)  # graded above already
    assert main(["placement", "0", "--notebook", str(path)]) == 0
    out = capsys.readouterr().out
    assert "skip Module 0" in out and "next: 1.1 Backpropagation from scratch" in out
    p = progress.collect(use_service=False)
    assert [lid for lid, lp in p.lessons.items() if lp.status == "placed"] == ["0.1", "0.2", "0.3"]
    # a later quiz that finds a gap in 0.3 un-skips it
    _, results1, path1 = graded["1-input_grad-wrong"]
    monkeypatch.setattr(placement, "grade", lambda q, nb, timeout=120: results1)
    assert main(["placement", "1", "--notebook", str(path1)]) == 0
    p = progress.collect(use_service=False)
    assert p.lessons["0.3"].status == "ready" and p.lessons["1.4"].status == "placed" and p.next == "0.3"


def test_placement_without_a_module_lists_the_quizzes(capsys):
    assert main(["placement"]) == 0
    out = capsys.readouterr().out
    assert "placement/0/placement-0.ipynb" in out and "(no quiz yet)" in out


def test_a_corrupt_quiz_notebook_is_bad_input(tmp_path, capsys):
    bad = tmp_path / "quiz.ipynb"
    bad.write_text("{ not json")
    assert main(["placement", "0", "--notebook", str(bad)]) == 2
    assert "not a readable notebook" in capsys.readouterr().err


# --------------------------------------------------------------------------- the decision alone
def results_of(statuses: dict[str, tuple[str, ...]], failing: set[str] = frozenset(), todo: set[str] = frozenset()):
    out = []
    for gid, lessons in statuses.items():
        status = "FAIL" if gid in failing else "todo" if gid in todo else "pass"
        out.append(ItemResult(Item(gid, lessons, 1, [f"{gid}_test"]), status))
    return out


ITEMS_0 = {"a": ("0.1",), "b": ("0.1",), "c": ("0.2",), "d": ("0.3",), "e": ("0.3",)}


def test_decide_every_item_of_a_lesson_must_pass_to_skip_it():
    v = decide(load_syllabus(), "0", results_of(ITEMS_0, failing={"b"}, todo={"e"}))
    assert v.skip == ["0.2"] and v.todo == ["0.1", "0.3"] and v.start_with == "0.1"
    assert v.go_back == [("b", "0.1"), ("e", "0.3")] and v.answered == 4


def test_decide_an_item_testing_two_lessons_sends_back_to_both():
    items = {**ITEMS_0, "f": ("0.2", "0.3")}
    v = decide(load_syllabus(), "0", results_of(items, failing={"f"}))
    assert v.skip == ["0.1"] and v.go_back == [("f", "0.2"), ("f", "0.3")] and v.start_with == "0.2"


def test_every_quiz_item_names_a_lesson_that_exists():
    syl = load_syllabus()
    for module in MODULES:
        quiz = placement.read_quiz(module, syllabus=syl)
        assert Path(quiz.notebook).is_file()
        for item in quiz.items:
            assert all(lid in syl.lessons and syl.lessons[lid].available for lid in item.lessons)
