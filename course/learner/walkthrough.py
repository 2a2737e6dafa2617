"""The third tier of help: an annotated walkthrough of an exercise, on request and counted.

A lesson's notebook holds two tiers above each exercise, folded under "Hint": the idea,
then a pointer (which function, which axis). Neither shows the code. The third tier, the
annotated walkthrough of a solution, is not in the notebook: it lives in
``solutions/<slug>/walkthroughs.md`` (kept out of exercises/ by nbgrader_config.py), one
``## <exercise>`` section per exercise, and is shown by

    bootcamp hint LESSON EXERCISE --walkthrough

which prints it and appends a line to ``.bootcamp/learner/walkthroughs.jsonl`` (the lesson,
the exercise, the time, and whether the exercise had passed before: a walkthrough read
after passing is a review, one read before is help, and a mentor may want to know which).
Like hints, it never changes a grade.
"""

from __future__ import annotations

import re
from pathlib import Path

from course.authoring.lessons import ROOT, LessonError
from course.authoring.syllabus import load as load_syllabus
from course.learner.hints import failed_attempts, hint_table
from course.learner.progress import _iso, append_record, check_attempts, notebook_attempt, now

FILE = "walkthroughs.md"
_SECTION = re.compile(r"^## +`?([A-Za-z_][\w]*)`? *$", re.M)


def parse(text: str) -> dict[str, str]:
    """{exercise: its walkthrough} from a walkthroughs.md (sections headed ``## exercise``)."""
    heads = list(_SECTION.finditer(text))
    return {m.group(1): text[m.end():heads[i + 1].start() if i + 1 < len(heads) else len(text)].strip()
            for i, m in enumerate(heads)}


def walkthroughs(slug: str, root: Path = ROOT) -> dict[str, str]:
    path = Path(root) / "solutions" / slug / FILE
    return parse(path.read_text(encoding="utf-8")) if path.is_file() else {}


def passed_before(info, exercise: str, root: Path = ROOT) -> bool:
    """Did the learner's latest local attempt (a `bootcamp check` run or the saved notebook) pass it?"""
    latest = check_attempts(root).get(info.id)
    nb = notebook_attempt(info, root)
    newest = max((a for a in (latest, nb) if a is not None), key=lambda a: a.at, default=None)
    return bool(newest and newest.exercises.get(exercise))


def take_walkthrough(lesson: str, exercise: str, root: Path = ROOT, record: bool = True) -> dict:
    info = load_syllabus(root).lesson(lesson)
    if not info.slug:
        raise LessonError(f"lesson {info.id} ({info.title}) is planned and has no exercises yet")
    names = list(hint_table(info, root))
    key = exercise.strip()
    if key.isdigit() and 1 <= int(key) <= len(names):
        key = names[int(key) - 1]
    key = key.removesuffix("_test")
    table = walkthroughs(info.slug, root)
    if key not in table:
        have = ", ".join(sorted(table)) or "none yet"
        raise LessonError(f"lesson {info.id} has no walkthrough for {exercise!r} (walkthroughs: {have}); "
                          f"`bootcamp hint {info.id} {exercise}` shows its hint")
    rec = {"lesson": info.id, "exercise": key, "at": _iso(now()), "passed_before": passed_before(info, key, root),
           "failed_attempts_before": failed_attempts(info, key, root)}
    if record:
        append_record("walkthroughs.jsonl", rec, root)
    return {**rec, "walkthrough": table[key], "title": info.title}


def format_walkthrough(got: dict) -> str:
    lines = [f"Walkthrough of {got['exercise']} ({got['lesson']} {got['title']}):", ""]
    lines += ["  " + line if line else "" for line in got["walkthrough"].splitlines()]
    when = ("after you passed it: a review" if got["passed_before"]
            else "before it passed: close it and try once more on your own before you copy anything")
    lines += ["", f"(walkthrough read {when}; recorded for your progress, never counted against your grade)"]
    return "\n".join(lines)
