"""How much time does `bootcamp check` add to a notebook's own run time? (budget: < 2 s)

Runs each of these N times on the same notebook and prints the medians side by side:
  notebook alone     nbclient executing the notebook in this (warm) process: kernel start
                     plus the cells, nothing else. This is "the notebook's own run time".
  nbconvert          `jupyter nbconvert --to notebook --execute`: what a learner would
                     run by hand to execute a notebook headlessly (a fresh process).
  bootcamp check     `bootcamp check LESSON --notebook PATH`: a fresh process that runs
                     the notebook and prints the table.

    .venv/bin/python benchmarks/check_overhead.py [LESSON] [--notebook PATH] [-n 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course.authoring.lessons import find_lesson, write_solution_notebook
from course.authoring.runner import execute, load_notebook

BUDGET_S = 2.0


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("lesson", nargs="?", default="0.1")
    ap.add_argument("--notebook", help="default: the lesson's solution notebook (every cell runs)")
    ap.add_argument("-n", type=int, default=3, help="repetitions (median is reported)")
    args = ap.parse_args()
    lesson = find_lesson(args.lesson)
    path = Path(args.notebook) if args.notebook else write_solution_notebook(lesson)
    bin_dir = Path(sys.executable).parent

    def alone():
        execute(load_notebook(path), path.parent)

    def nbconvert():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                            "--output-dir", tmp, str(path)], check=True, capture_output=True)

    def check():
        r = subprocess.run([str(bin_dir / "bootcamp"), "check", lesson.id, "--notebook", str(path)],
                           capture_output=True, text=True)
        if r.returncode not in (0, 1):
            raise SystemExit(f"bootcamp check failed to run:\n{r.stderr}")

    alone()  # warm the disk cache and this process's imports
    rows = {}
    for name, fn in (("notebook alone (nbclient, in-process)", alone), ("jupyter nbconvert --execute", nbconvert),
                     ("bootcamp check", check)):
        rows[name] = [timed(fn) for _ in range(args.n)]
    base = statistics.median(rows["notebook alone (nbclient, in-process)"])
    print(f"notebook: {path}  ({args.n} runs each, median; this machine)")
    print(f"{'':<40}{'median s':>10}{'min s':>8}{'max s':>8}{'added s':>9}")
    for name, ts in rows.items():
        med = statistics.median(ts)
        print(f"{name:<40}{med:>10.2f}{min(ts):>8.2f}{max(ts):>8.2f}{med - base:>+9.2f}")
    overhead = statistics.median(rows["bootcamp check"]) - base
    verdict = "within" if overhead < BUDGET_S else "OVER"
    print(f"\nbootcamp check adds {overhead:.2f} s to the notebook's own run time: {verdict} the {BUDGET_S:.0f} s budget")
    return 0 if overhead < BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
