"""Every solution notebook's run time against the lesson budget (5 minutes on 2 cores).

CI reports the same durations in a table and fails only past a hard cap of 10 minutes;
this benchmark is what holds the 5-minute budget.

    .venv/bin/python benchmarks/lesson_durations.py [LESSON...]
"""

from __future__ import annotations

import os
import sys

from course.authoring.lessons import all_lessons, find_lesson, write_solution_notebook
from course.authoring.verify import verify_solution

BUDGET_S = 300


def main(argv: list[str]) -> int:
    lessons = [find_lesson(a) for a in argv] or all_lessons()
    print(f"{os.cpu_count()} CPU cores; budget {BUDGET_S} s per solution notebook")
    print(f"{'lesson':<28}{'seconds':>9}{'tests':>7}  verdict")
    over = 0
    for lesson in lessons:
        write_solution_notebook(lesson)
        v = verify_solution(lesson)
        ok = v.seconds <= BUDGET_S and not v.problems
        over += not ok
        passed = sum(r.passed for r in v.results)
        verdict = "ok" if ok else ("OVER BUDGET" if v.seconds > BUDGET_S else "TESTS FAIL")
        print(f"{lesson.slug:<28}{v.seconds:>9.1f}{passed:>4}/{len(v.results):<3} {verdict}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
