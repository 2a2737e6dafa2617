"""How much of each exercise's solution its hint gives away.

A hint should say the idea, then point (which function, which axis), never hand over the
code: once a hint shows the solution, opening it teaches nothing. This module measures
that, per exercise, as the share of the solution's code 3-grams (three consecutive tokens)
that also appear in the code of the hint (its `inline code` and fenced blocks):

    reveal = |3-grams(solution) ∩ 3-grams(hint code)| / |3-grams(solution)|

0 means the hint shows none of the solution's code, 1 all of it. Short solutions give noisy
shares, so exercises whose solution has fewer than ``MIN_GRAMS`` 3-grams are reported but
not held to the limit. ``python -m course.authoring.hint_leak [LESSON...]`` prints the table;
``tests/test_hint_leaks.py`` holds every lesson to ``LIMIT``.
"""

from __future__ import annotations

import re
import statistics
import sys
from dataclasses import dataclass

from course.authoring.lessons import Lesson, all_lessons, find_lesson, read_source

LIMIT = 0.5  # no hint may show half of its solution's code (see README, "Hints")
MIN_GRAMS = 8
_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d*)?(?:e-?\d+)?|\*\*|//|==|!=|<=|>=|->|[^\s\w]")
_SOLUTION = re.compile(r"#+\s*BEGIN SOLUTION.*?\n(.*?)#+\s*END SOLUTION", re.S)
_HINT = re.compile(r"<details>\s*<summary>\s*Hint[^<]*</summary>(.*?)</details>", re.S | re.I)
_FENCED = re.compile(r"```[a-z]*\n(.*?)```", re.S)
_INLINE = re.compile(r"`([^`\n]+)`")


@dataclass
class Reveal:
    lesson: str
    exercise: str
    share: float
    grams: int  # the solution's distinct 3-grams

    @property
    def held(self) -> bool:
        return self.grams >= MIN_GRAMS


def tokens(code: str) -> list[str]:
    code = re.sub(r"#[^\n]*", "", code)  # comments are prose
    return _TOKEN.findall(code)


def grams(code: str, n: int = 3) -> set[tuple[str, ...]]:
    t = tokens(code)
    return {tuple(t[i:i + n]) for i in range(len(t) - n + 1)}


def hint_code(hint: str) -> str:
    blocks = _FENCED.findall(hint)
    rest = _FENCED.sub("", hint)
    return "\n".join(blocks + _INLINE.findall(rest))


def lesson_reveals(lesson: Lesson) -> list[Reveal]:
    out, pending = [], None
    for cell in read_source(lesson.source).cells:
        nbg = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown":
            found = _HINT.findall(cell.source)
            if found:
                pending = "\n".join(found)
        elif nbg.get("solution") and nbg.get("grade_id") and cell.cell_type == "code":
            body = "\n".join(_SOLUTION.findall(cell.source))
            sol = grams(body)
            shown = grams(hint_code(pending or ""))
            share = len(sol & shown) / len(sol) if sol else 0.0
            out.append(Reveal(lesson.id, str(nbg["grade_id"]), share, len(sol)))
            pending = None
    return out


def table(lessons: list[Lesson]) -> list[str]:
    lines = [f"{'lesson':<8}{'exercises':>10}{'mean':>8}{'max':>8}  over {LIMIT:.0%} (held exercises)"]
    for lesson in lessons:
        rs = lesson_reveals(lesson)
        if not rs:
            continue
        over = [f"{r.exercise} {r.share:.0%}" for r in rs if r.held and r.share >= LIMIT]
        lines.append(f"{lesson.id:<8}{len(rs):>10}{statistics.mean(r.share for r in rs):>8.0%}"
                     f"{max(r.share for r in rs):>8.0%}  {', '.join(over) or '-'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    lessons = [find_lesson(a) for a in argv] if argv else all_lessons()
    print("\n".join(table(lessons)))
    every = [r for lesson in lessons for r in lesson_reveals(lesson)]
    if every:
        print(f"all: {len(every)} exercises, mean {statistics.mean(r.share for r in every):.0%}, "
              f"{sum(r.held and r.share >= LIMIT for r in every)} over {LIMIT:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
