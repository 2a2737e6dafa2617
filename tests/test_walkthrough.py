"""The third tier of help: `bootcamp hint LESSON EXERCISE --walkthrough` (course/learner/walkthrough.py)."""

from __future__ import annotations

import pytest

from course.authoring.lessons import ROOT, all_lessons, read_source
from course.cli import main
from course.learner import progress, walkthrough
from tests.test_progress import record


@pytest.fixture
def env(tmp_path, monkeypatch):
    """The learner's records in a scratch folder, and no grading service."""
    monkeypatch.setenv("BOOTCAMP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BOOTCAMP_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("BOOTCAMP_TOKEN", raising=False)

WITH_WALKTHROUGHS = [lesson for lesson in all_lessons() if (lesson.source.parent / walkthrough.FILE).is_file()]


def test_some_lessons_have_walkthroughs():
    assert len(WITH_WALKTHROUGHS) >= 10


@pytest.mark.parametrize("lesson", WITH_WALKTHROUGHS, ids=[lesson.id for lesson in WITH_WALKTHROUGHS])
def test_every_walkthrough_names_an_exercise_and_stays_out_of_the_release(lesson):
    exercises = {c.metadata["nbgrader"]["grade_id"] for c in read_source(lesson.source).cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    table = walkthrough.walkthroughs(lesson.slug)
    assert table and all(table.values()), f"{lesson.id}: an empty walkthroughs.md or section"
    unknown = sorted(set(table) - exercises)
    assert not unknown, f"{lesson.id}: walkthroughs for exercises it does not have: {unknown}"
    assert not (ROOT / "exercises" / lesson.slug / walkthrough.FILE).exists(), \
        "walkthroughs.md reached exercises/: it must stay in nbgrader_config.py's CourseDirectory.ignore"


def test_parse_reads_sections():
    got = walkthrough.parse("# title\n\nintro\n\n## softmax\n\nline 1\n\n## `one_hot`\ntext\n")
    assert got == {"softmax": "line 1", "one_hot": "text"}


def test_walkthrough_is_shown_and_counted_and_says_whether_it_passed(env, capsys):
    assert main(["hint", "2.1", "block", "--walkthrough"]) == 0
    out = capsys.readouterr().out
    assert "Walkthrough of block" in out and "self.ln_1" in out and "before it passed" in out
    record("2.1", {"block"})
    assert main(["hint", "2.1", "block_test", "--walkthrough"]) == 0
    assert "after you passed it" in capsys.readouterr().out
    recs = progress.read_records("walkthroughs.jsonl")
    assert [(r["exercise"], r["passed_before"]) for r in recs] == [("block", False), ("block", True)]


def test_a_hint_never_shows_the_walkthrough(env, capsys):
    assert main(["hint", "2.1", "block"]) == 0
    out = capsys.readouterr().out
    assert "pre-norm" in out and "self.ln_1" not in out


def test_an_exercise_without_a_walkthrough_is_bad_input(env, capsys):
    assert main(["hint", "0.1", "softmax", "--walkthrough"]) == 2
    err = capsys.readouterr().err
    assert "no walkthrough" in err and "bootcamp hint 0.1 softmax" in err
