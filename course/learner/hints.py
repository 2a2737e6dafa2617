"""Hints on demand: ``bootcamp hint LESSON EXERCISE``, or ``hint("0.1", "softmax")`` in a notebook.

The hint is the folded ``<details><summary>Hint</summary> ... </details>`` block that the
lesson already has above each exercise. Asking for it here prints (or, in a notebook,
displays) it and appends one line to ``.bootcamp/learner/hints.jsonl``: the lesson, the
exercise, the time, how many times this hint has been asked for, and how many failed
attempts at the exercise were recorded before. ``bootcamp progress`` and a lesson's
summary cell show the count. A hint never changes a grade: the grading service is not
told, and no points depend on it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from course.authoring.lessons import ROOT, LessonError, did_you_mean, exercise_of
from course.authoring.syllabus import LessonInfo
from course.authoring.syllabus import load as load_syllabus
from course.learner.progress import _iso, append_record, check_attempts, notebook_attempt, now, read_records

_HINT = re.compile(r"<details>\s*<summary>\s*Hint[^<]*</summary>(.*?)</details>", re.S | re.I)


def _cells_from_notebook(path: Path) -> list[dict]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [{"cell_type": c.get("cell_type"), "source": "".join(c.get("source") or []) if isinstance(c.get("source"), list)
             else c.get("source") or "", "metadata": c.get("metadata") or {}} for c in nb.get("cells", [])]


def _cells_from_source(path: Path) -> list[dict]:
    from course.authoring.lessons import read_source

    return [{"cell_type": c.cell_type, "source": c.source, "metadata": dict(c.metadata)} for c in read_source(path).cells]


def exercises_and_hints(cells: list[dict]) -> dict[str, str | None]:
    """{exercise grade_id: its hint text (the nearest Hint block above it), or None}."""
    out: dict[str, str | None] = {}
    pending: str | None = None
    for c in cells:
        nbg = c["metadata"].get("nbgrader") or {}
        if c["cell_type"] == "markdown":
            found = _HINT.findall(c["source"])
            if found:
                pending = found[-1].strip()
        elif c["cell_type"] == "code" and nbg.get("solution") and nbg.get("grade_id"):
            out[str(nbg["grade_id"])] = pending
            pending = None
    return out


def hint_table(info: LessonInfo, root: Path = ROOT) -> dict[str, str | None]:
    """{exercise: hint} for a lesson, from the learner's workspace notebook (else the release), else the source."""
    if not info.slug:
        raise LessonError(f"lesson {info.id} ({info.title}) is planned and has no exercises yet")
    table: dict[str, str | None] = {}
    from course.learner.workspace import notebook_path

    mine = notebook_path(info.slug, root)  # the learner's copy when there is one, else the release
    nb = mine if mine.is_file() else info.exercise_notebook(root)
    try:
        table = exercises_and_hints(_cells_from_notebook(nb))
    except (OSError, ValueError, AttributeError):
        pass
    src = Path(root) / "solutions" / info.slug / f"{info.slug}.py"
    if (not table or not all(table.values())) and src.is_file():
        from_source = exercises_and_hints(_cells_from_source(src))
        table = {k: table.get(k) or v for k, v in from_source.items()}
    return table


def find_hint(info: LessonInfo, exercise: str, root: Path = ROOT) -> tuple[str, str]:
    """(exercise grade_id, hint text). The exercise may be its grade_id, a test's grade_id
    or its number (1-based). Unknown exercise -> LessonError listing them."""
    table = hint_table(info, root)
    names = list(table)
    key = exercise.strip()
    if key.isdigit() and 1 <= int(key) <= len(names):
        key = names[int(key) - 1]
    key = exercise_of(key) if key not in table else key
    if key not in table:
        listing = "\n".join(f"  {n:>2}  {name}" for n, name in enumerate(names, 1)) or "  (none)"
        hint = did_you_mean(exercise, {name: name for name in names})
        raise LessonError(f"lesson {info.id} has no exercise called {exercise!r}. Its exercises are:\n{listing}"
                          + (f"\n{hint}" if hint else ""))
    if not table[key]:
        raise LessonError(f"exercise {key!r} of lesson {info.id} has no hint (no <details><summary>Hint</summary> "
                          "block above it)")
    return key, table[key]


def failed_attempts(info: LessonInfo, exercise: str, root: Path = ROOT) -> int:
    """Recorded local attempts at which this exercise did not pass (check runs + the saved notebook)."""
    n = 0
    for rec in read_records("checks.jsonl", root):
        if str(rec.get("lesson")) != info.id:
            continue
        mine = [r for r in rec.get("results") or [] if exercise_of(str(r.get("grade_id", ""))) == exercise]
        if mine and not all(r.get("passed") for r in mine):
            n += 1
    nb = notebook_attempt(info, root)
    if nb and exercise in nb.exercises and not nb.exercises[exercise]:
        latest = check_attempts(root).get(info.id)
        if latest is None or nb.at > latest.at:
            n += 1
    return n


def take_hint(lesson: str, exercise: str, root: Path = ROOT, record: bool = True) -> dict:
    """Find the hint and record that it was shown. Returns the record (with the hint text)."""
    info = load_syllabus(root).lesson(lesson)
    key, text = find_hint(info, exercise, root)
    asked = sum(1 for r in read_records("hints.jsonl", root)
                if str(r.get("lesson")) == info.id and r.get("exercise") == key) + 1
    rec = {"lesson": info.id, "exercise": key, "at": _iso(now()), "times": asked,
           "failed_attempts_before": failed_attempts(info, key, root)}
    if record:
        append_record("hints.jsonl", rec, root)
    return {**rec, "hint": text, "title": info.title}


def format_hint(got: dict) -> str:
    lines = [f"Hint for {got['exercise']} ({got['lesson']} {got['title']}):", ""]
    lines += ["  " + line if line else "" for line in got["hint"].splitlines()]
    n = got["times"]
    lines += ["", f"(hint {n} time{'s' if n > 1 else ''} for this exercise; recorded for your progress, "
                  "never counted against your grade)"]
    return "\n".join(lines)


def hint(lesson: str, exercise: str):
    """In a notebook: ``from course.learner.hints import hint; hint("0.1", "softmax")`` shows the hint
    as Markdown and records it, like ``bootcamp hint``."""
    got = take_hint(lesson, exercise)
    try:
        from IPython.display import Markdown, display

        display(Markdown(f"**Hint for `{got['exercise']}`** (recorded, never penalised)\n\n{got['hint']}"))
    except ImportError:
        print(format_hint(got))
