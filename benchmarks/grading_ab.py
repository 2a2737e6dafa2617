"""One grading, two versions of the service, interleaved: where did a change to the sandbox help?

Grades a lesson's solved notebook in-process (the worker's Grader: a warm zygote, the lesson's
calibration once, then K gradings), once with each source tree given, in turn, for R rounds, so that
a shared machine's changing load weighs on both alike. Each grading prints one line: its wall time,
the wall time of its cells, the CPU time of both processes over the cells (not inflated by load),
the round trips between the test and the learner's process, and the load average. Wall times on a
shared machine are noisy; CPU time and round trips are not.

    .venv/bin/python benchmarks/grading_ab.py 1.1 --trees /tmp/main-export . [-k 2] [--rounds 1]

A tree is a checkout (``git archive main | tar -x -C /tmp/main-export`` gives one of main).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ONE = r'''
import json, os, sys, tempfile, time
from pathlib import Path
sys.modules.setdefault("rfc3987_syntax", None)
from autograder.grading.pipeline import Grader, solved_notebook
from autograder.settings import Settings
from course.authoring.lessons import find_lesson
lesson, k = find_lesson(sys.argv[1]), int(sys.argv[2])
raw = json.dumps(solved_notebook(lesson)).encode()
with tempfile.TemporaryDirectory() as tmp:
    g = Grader(Settings(data_dir=Path(tmp), wall_seconds=600))
    g.start()
    outs, run = [], g.zygote.run
    g.zygote.run = lambda *a, **kw: outs.append(run(*a, **kw)) or outs[-1]
    try:
        g.mode_for(g.catalogue.spec(lesson.slug))
        for _ in range(k):
            t0 = time.perf_counter()
            rep = g.grade_bytes(lesson.slug, raw)
            o = outs[-1]
            print(json.dumps({"wall": round(time.perf_counter() - t0, 2), "cells": round(o.seconds, 2),
                              "cpu": round(o.cpu_seconds, 2), "round_trips": o.channel.get("round_trips"),
                              "score": rep.score, "load": round(os.getloadavg()[0], 1)}), flush=True)
    finally:
        g.stop()
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("lesson")
    ap.add_argument("--trees", nargs="+", required=True, help="source trees to compare (checkouts)")
    ap.add_argument("-k", type=int, default=2, help="gradings per tree and round (default 2)")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    for _ in range(args.rounds):
        for tree in args.trees:
            root = str(Path(tree).resolve())
            env = {**os.environ, "PYTHONPATH": root}
            proc = subprocess.run([sys.executable, "-c", ONE, args.lesson, str(args.k)], cwd=root, env=env,
                                  capture_output=True, text=True)
            lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
            if proc.returncode or not lines:
                print(f"{tree}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            for line in lines:
                print(json.dumps({"lesson": args.lesson, "tree": tree, **json.loads(line)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
