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

With ``--baselines`` it measures, in the same way and in the same rounds, the CPU of issue 25's two
baselines for each lesson: ``nbgrader autograde`` over N copies of the solved notebook (its own start
and database included, divided by N), and the notebook's own run in a started Jupyter kernel (every
cell, hidden tests in place; the kernel's start is not counted, the client's messaging is). The
ratios of CPU per notebook are what a loaded machine measures far better than wall time; on an idle
2-core machine a grading that keeps one core busy takes about its CPU time in wall time too:

    .venv/bin/python benchmarks/grading_cpu.py 0.3 1.1 --trees . . --baselines

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

USAGE = r'''
from pathlib import Path
def usage():
    text = Path(usage_file).read_text()
    if usage_file.endswith("cpu.stat"):
        return int(next(l.split()[1] for l in text.splitlines() if l.startswith("usage_usec"))) / 1e6
    return int(text) / 1e9
'''

NBGRADER = r'''
import json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
sys.modules.setdefault("rfc3987_syntax", None)
import nbformat
from autograder.grading.pipeline import solved_notebook
from course.authoring.lessons import ROOT, find_lesson, write_solution_notebook
usage_file, lesson_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
''' + USAGE + r'''
lesson = find_lesson(lesson_id)
nb = solved_notebook(lesson)
with tempfile.TemporaryDirectory() as tmp:
    course = Path(tmp)
    (course / "solutions" / lesson.slug).mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copy(write_solution_notebook(lesson), course / "solutions" / lesson.slug / f"{lesson.slug}.ipynb")
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    subprocess.run([str(bin_dir / "nbgrader"), "generate_assignment", lesson.slug, "--force"], cwd=course,
                   check=True, capture_output=True, env=env)
    for i in range(n):
        d = course / "submitted" / f"learner{i:02d}" / lesson.slug
        d.mkdir(parents=True)
        nbformat.write(nb, str(d / f"{lesson.slug}.ipynb"))
    c0, w0 = usage(), time.perf_counter()
    proc = subprocess.run([str(bin_dir / "nbgrader"), "autograde", lesson.slug, "--create", "--force"], cwd=course,
                          capture_output=True, text=True, env=env)
    c1, w1 = usage(), time.perf_counter()
    if proc.returncode != 0:
        sys.exit(proc.stderr[-2000:])
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = [gb.find_submission(lesson.slug, f"learner{i:02d}").score for i in range(n)]
print(json.dumps({"slug": lesson.slug, "mode": "nbgrader", "cpu": (c1 - c0) / n, "wall": (w1 - w0) / n,
                  "scores": scores, "load": os.getloadavg()[0]}))
'''

KERNEL = r'''
import json, os, sys, time
from pathlib import Path
sys.modules.setdefault("rfc3987_syntax", None)
import nbformat
from nbclient import NotebookClient
from autograder.grading.pipeline import solved_notebook
from course.authoring.lessons import find_lesson, read_source
usage_file, lesson_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
''' + USAGE + r'''
lesson = find_lesson(lesson_id)
nb = solved_notebook(lesson)
tests = {c.metadata["nbgrader"]["grade_id"]: c.source for c in read_source(lesson.source).cells
         if c.metadata.get("nbgrader", {}).get("grade")}
cpu, wall = 0.0, 0.0
for _ in range(n):
    run = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in run.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in tests and cell.metadata["nbgrader"].get("grade"):
            cell.source = tests[gid]
    client = NotebookClient(run, timeout=600, allow_errors=True,
                            resources={"metadata": {"path": str(lesson.exercise_notebook.parent)}},
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    with client.setup_kernel():
        c0, w0 = usage(), time.perf_counter()
        for i, cell in enumerate(run.cells):
            client.execute_cell(cell, i)
        c1, w1 = usage(), time.perf_counter()
    cpu, wall = cpu + c1 - c0, wall + w1 - w0
print(json.dumps({"slug": lesson.slug, "mode": "kernel", "cpu": cpu / n, "wall": wall / n,
                  "scores": ["-"], "load": os.getloadavg()[0]}))
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


def measure(tree: Path, lesson: str, n: int, script: str = ONE) -> dict:
    group, usage = _group()
    try:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        proc = subprocess.run(
            [sys.executable, "-c", script, usage, lesson, str(n)], cwd=tree, env=env, capture_output=True, text=True,
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
    ap.add_argument("--trees", nargs="+", type=Path, required=True,
                    help="the baseline tree, then the new one (or one tree, with --baselines)")
    ap.add_argument("-n", type=int, default=2, help="gradings per process (default 2)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--baselines", action="store_true",
                    help="also nbgrader autograde and the notebook's own kernel run, on the new tree")
    args = ap.parse_args()
    if not 1 <= len(args.trees) <= 2 or (len(args.trees) == 1 and not args.baselines):
        ap.error("--trees takes two trees, or one with --baselines")
    trees = [t.resolve() for t in args.trees]
    names = [commit(t) for t in trees]
    rows: dict = {}
    for r in range(args.rounds):
        for lesson in args.lessons:
            for tree, name in zip(trees, names):
                m = measure(tree, lesson, args.n)
                rows.setdefault(m["slug"], {}).setdefault(name, []).append(m)
                show(r, m, name)
            if args.baselines:
                for script in (NBGRADER, KERNEL):
                    m = measure(trees[-1], lesson, args.n, script)
                    rows.setdefault(m["slug"], {}).setdefault(m["mode"], []).append(m)
                    show(r, m, m["mode"])
    if len(trees) == 2:
        print(f"\nCPU s per notebook (mean of {args.rounds} rounds x {args.n}), {names[0]} -> {names[1]}:")
    for slug, by in rows.items() if len(trees) == 2 else ():
        a, b = (sum(x["cpu"] for x in by[nm]) / len(by[nm]) for nm in names)
        ua, ub = (sum(x["user"] for x in by[nm]) / len(by[nm]) for nm in names)
        modes = "/".join(by[nm][-1]["mode"] for nm in names)
        print(f"  {slug:<22} {a:6.2f} -> {b:6.2f}  ({b / a:.2f}x; user {ua:.2f} -> {ub:.2f}; modes {modes})")
    if args.baselines:
        print(f"\nCPU s per notebook, {names[-1]} against issue 25's baselines (targets: <= 0.5x nbgrader, "
              "<= 1.3x the kernel run):")
        for slug, by in rows.items():
            b, nbg, own = (sum(x["cpu"] for x in by[k]) / len(by[k]) for k in (names[-1], "nbgrader", "kernel"))
            print(f"  {slug:<22} service {b:6.2f}  nbgrader {nbg:6.2f} ({b / nbg:.2f}x)  "
                  f"kernel run {own:6.2f} ({b / own:.2f}x)")


def show(r: int, m: dict, name: str) -> None:
    split = f" (user {m['user']:.2f}, sys {m['sys']:.2f})" if "user" in m else ""
    print(f"round {r + 1} {m['slug']:<22} {name:<9} {m['mode']:<8} CPU {m['cpu']:6.2f} s/nb{split}  "
          f"wall {m['wall']:6.2f} s/nb  score {m['scores'][-1]}  load {m['load']:.1f}", flush=True)


if __name__ == "__main__":
    main()
