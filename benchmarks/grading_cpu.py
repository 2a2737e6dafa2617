"""CPU time per graded notebook, two versions of the service side by side (root, cgroups).

For each lesson and source tree, in turn for R rounds, a fresh process starts the worker's Grader
(a warm zygote, the lesson's calibration), then grades the lesson's solved notebook N times. The
process runs in a cgroup of its own, so its CPU time counts every process of the grading: the
worker's side, the zygote, each run's init, the learner's and the test process, whatever they
fork. Load on a shared machine inflates wall time far more than CPU time; both are printed, and the CPU
time split into user and kernel (sys) time: the kernel's share (forks, namespaces, page faults) moves with
load more than the user share does.

Unlike ``grading_ab.py`` this needs nothing from the trees but ``Grader`` and
``solved_notebook``: it compares any two commits, e.g. main against the commit before issue 16's
trusted grading:

    git worktree add /tmp/before-16 509d40f
    .venv/bin/python benchmarks/grading_cpu.py 0.1 3.1 --trees /tmp/before-16 . [-n 2] [--rounds 2]

Needs root and a cgroup v1 ``cpuacct`` hierarchy or cgroup v2 (the group is made under this
process's own cgroup, and removed after).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ONE = r'''
import json, os, sys, tempfile, time
from pathlib import Path
sys.modules.setdefault("rfc3987_syntax", None)
import torch
torch.set_num_threads(1)
from autograder.grading.pipeline import Grader, solved_notebook
from autograder.settings import Settings
usage_file, lesson_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def usage():
    text = Path(usage_file).read_text()
    if usage_file.endswith("cpu.stat"):
        return int(next(l.split()[1] for l in text.splitlines() if l.startswith("usage_usec"))) / 1e6
    return int(text) / 1e9
def user_sys():  # the kernel's share (forks, namespaces, mounts, page faults) varies with load more than the user share
    if usage_file.endswith("cpu.stat"):
        d = dict(l.split() for l in Path(usage_file).read_text().splitlines())
        return int(d["user_usec"]) / 1e6, int(d["system_usec"]) / 1e6
    d = dict(l.split() for l in Path(usage_file).with_name("cpuacct.stat").read_text().splitlines())
    return int(d["user"]) / os.sysconf("SC_CLK_TCK"), int(d["system"]) / os.sysconf("SC_CLK_TCK")
with tempfile.TemporaryDirectory() as tmp:
    kw = dict(data_dir=Path(tmp), workers=1, wall_seconds=600)
    try:
        settings = Settings(**kw, submissions_per_minute=0, upload_bytes_per_day=0)
    except TypeError:  # a version before rate limits
        settings = Settings(**kw)
    g = Grader(settings)
    g.start()
    spec = g.catalogue.spec(lesson_id)
    mode = g.mode_for(spec)
    raw = json.dumps(solved_notebook(spec.lesson, spec.release)).encode()
    c0, w0, s0 = usage(), time.perf_counter(), user_sys()
    scores = [g.grade_bytes(spec.lesson.slug, raw).score for _ in range(n)]
    c1, w1, s1 = usage(), time.perf_counter(), user_sys()
    g.stop()
print(json.dumps({"slug": spec.lesson.slug, "mode": mode, "cpu": (c1 - c0) / n, "wall": (w1 - w0) / n,
                  "scores": scores, "load": os.getloadavg()[0], "user": (s1[0] - s0[0]) / n,
                  "sys": (s1[1] - s0[1]) / n}))
'''


def _group() -> tuple[Path, str]:
    """A new cgroup to run one measurement in, and the file holding its CPU time."""
    name = f"bootcamp-bench-{os.getpid()}-{time.monotonic_ns()}"
    v1 = Path("/sys/fs/cgroup/cpuacct")
    if (v1 / "cpuacct.usage").exists():
        g = v1 / name
        g.mkdir()
        return g, str(g / "cpuacct.usage")
    own = next((line.split("::", 1)[1] for line in Path("/proc/self/cgroup").read_text().splitlines()
                if line.startswith("0::")), None)
    if own is not None and Path("/sys/fs/cgroup/cgroup.controllers").exists():
        g = Path("/sys/fs/cgroup") / own.strip().lstrip("/") / name
        g.mkdir()
        return g, str(g / "cpu.stat")
    raise SystemExit("no cgroup to count CPU time in (needs root and cpuacct v1 or cgroup v2)")


def measure(tree: Path, lesson: str, n: int) -> dict:
    group, usage = _group()
    try:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        proc = subprocess.run(
            [sys.executable, "-c", ONE, usage, lesson, str(n)], cwd=tree, env=env, capture_output=True, text=True,
            preexec_fn=lambda: (group / "cgroup.procs").write_text(str(os.getpid())))
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            raise SystemExit(f"{tree}: {lesson} failed:\n{proc.stderr[-3000:]}")
        return json.loads(lines[-1])
    finally:
        try:
            group.rmdir()
        except OSError:
            pass


def commit(tree: Path) -> str:
    out = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h"], capture_output=True, text=True)
    return out.stdout.strip() or tree.name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("lessons", nargs="+")
    ap.add_argument("--trees", nargs=2, type=Path, required=True, help="the baseline tree, then the new one")
    ap.add_argument("-n", type=int, default=2, help="gradings per process (default 2)")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    trees = [t.resolve() for t in args.trees]
    names = [commit(t) for t in trees]
    rows: dict = {}
    for r in range(args.rounds):
        for lesson in args.lessons:
            for tree, name in zip(trees, names):
                m = measure(tree, lesson, args.n)
                rows.setdefault(m["slug"], {}).setdefault(name, []).append(m)
                print(f"round {r + 1} {m['slug']:<22} {name:<9} {m['mode']:<6} CPU {m['cpu']:6.2f} s/nb (user "
                      f"{m['user']:.2f}, sys {m['sys']:.2f})  wall {m['wall']:6.2f} s/nb  score {m['scores'][-1]}  "
                      f"load {m['load']:.1f}", flush=True)
    print(f"\nCPU s per notebook (mean of {args.rounds} rounds x {args.n}), {names[0]} -> {names[1]}:")
    for slug, by in rows.items():
        a, b = (sum(x["cpu"] for x in by[nm]) / len(by[nm]) for nm in names)
        ua, ub = (sum(x["user"] for x in by[nm]) / len(by[nm]) for nm in names)
        modes = "/".join(by[nm][-1]["mode"] for nm in names)
        print(f"  {slug:<22} {a:6.2f} -> {b:6.2f}  ({b / a:.2f}x; user {ua:.2f} -> {ub:.2f}; modes {modes})")


if __name__ == "__main__":
    main()
