"""Grading overhead: plain `nbgrader autograde` against the grading service, side by side.

The same N submissions of a lesson (default: 20 learners who solved lesson 0.1) are graded

  nbgrader     one `nbgrader autograde LESSON` call over all N (a kernel per notebook, serial);
  service      the grading service: POSTed to the API, graded by a worker with 1, then 2
               slots (a sandboxed pair of processes forked from a warm zygote per notebook).

and the script prints, per notebook, the total grading time, the notebook's own execution
(the sum of its cells' run times in a warm Jupyter kernel, measured once with nbclient,
the same number for every column), the overhead (total minus own execution) and the
throughput. The zygote's one-time start (imports) is printed apart: a worker pays it
once, not per notebook.

    .venv/bin/python benchmarks/grading_overhead.py [LESSON] [-n 20] [--slots 1 2] [--skip-nbgrader]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.modules.setdefault("rfc3987_syntax", None)  # see autograder/__main__.py: 6-8 s of import for nothing

import nbformat  # noqa: E402

from autograder.grading.pipeline import solved_notebook  # noqa: E402
from course.authoring.lessons import ROOT, find_lesson, read_source, write_solution_notebook  # noqa: E402


def own_execution(lesson, nb, repeats: int = 3) -> float:
    """Sum of the cells' run times (hidden tests in place), median of `repeats` runs, warm kernel."""
    from nbclient import NotebookClient

    tests = {c.metadata["nbgrader"]["grade_id"]: c.source for c in read_source(lesson.source).cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    graded = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in graded.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in tests and cell.metadata["nbgrader"].get("grade"):
            cell.source = tests[gid]
    sums = []
    for _ in range(repeats):
        run = nbformat.from_dict(json.loads(json.dumps(graded)))
        NotebookClient(run, timeout=600, allow_errors=True, record_timing=True,
                       resources={"metadata": {"path": str(lesson.exercise_notebook.parent)}},
                       extra_arguments=["--IPKernelApp.log_level=ERROR"]).execute()
        total = 0.0
        for cell in run.cells:
            ex = cell.get("metadata", {}).get("execution", {})
            if "iopub.execute_input" in ex and "shell.execute_reply" in ex:
                start = datetime.fromisoformat(ex["iopub.execute_input"].replace("Z", "+00:00"))
                end = datetime.fromisoformat(ex["shell.execute_reply"].replace("Z", "+00:00"))
                total += (end - start).total_seconds()
        sums.append(total)
    return statistics.median(sums)


def run_nbgrader(lesson, nb, n: int, work: Path) -> tuple[float, list[float]]:
    course = work / "nbgrader-course"
    (course / "solutions" / lesson.slug).mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copy(write_solution_notebook(lesson), course / "solutions" / lesson.slug / f"{lesson.slug}.ipynb")
    bin_dir = Path(sys.executable).parent
    nbgrader = [str(bin_dir / "nbgrader")]
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}  # nbgrader runs `alembic` itself
    subprocess.run(nbgrader + ["generate_assignment", lesson.slug, "--force"], cwd=course, check=True,
                   capture_output=True, env=env)
    for i in range(n):
        d = course / "submitted" / f"learner{i:02d}" / lesson.slug
        d.mkdir(parents=True)
        nbformat.write(nb, str(d / f"{lesson.slug}.ipynb"))
    start = time.perf_counter()
    proc = subprocess.run(nbgrader + ["autograde", lesson.slug, "--create", "--force"], cwd=course,
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = [gb.find_submission(lesson.slug, f"learner{i:02d}").score for i in range(n)]
    return wall, scores


def run_service(lesson, raw: bytes, n: int, slots: int, work: Path) -> dict:
    from fastapi.testclient import TestClient

    from autograder.app import create_app
    from autograder.embedded import ensure_local_accounts
    from autograder.gradebook.db import Database
    from autograder.gradebook.models import Submission
    from autograder.grading.worker import Worker, wait_idle
    from autograder.settings import Settings

    settings = Settings(data_dir=work / f"service-{slots}", workers=slots, wall_seconds=600, poll_seconds=0.02,
                        submissions_per_minute=0, upload_bytes_per_day=0)  # one learner sends all N
    db = Database(settings)
    db.migrate()
    token = ensure_local_accounts(settings, db)["local"]
    client = TestClient(create_app(settings, db, migrate=False))
    worker = Worker(settings, db)
    t0 = time.perf_counter()
    worker.start()
    worker.grader.mode_for(worker.grader.catalogue.spec(lesson.slug))  # one-time calibration, like the imports
    warm = time.perf_counter() - t0
    start = time.perf_counter()
    ids = []
    for _ in range(n):
        r = client.post(f"/api/submissions?lesson={lesson.slug}", content=raw,
                        headers={"Authorization": f"Bearer {token}"})
        r.raise_for_status()
        ids.append(r.json()["id"])
    assert wait_idle(db, 3600)
    wall = time.perf_counter() - start
    worker.stop()
    with db.session() as s:
        subs = [s.get(Submission, i) for i in ids]
        out = {"wall": wall, "warm": warm, "scores": [x.score for x in subs],
               "latency": [x.grading_seconds for x in subs], "sandbox_exec": [x.execution_seconds for x in subs],
               "isolation": None}
    db.dispose()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("lesson", nargs="?", default="0.1")
    ap.add_argument("-n", type=int, default=20, help="submissions (default 20)")
    ap.add_argument("--slots", type=int, nargs="+", default=[1, 2], help="service worker slots to measure")
    ap.add_argument("--skip-nbgrader", action="store_true")
    args = ap.parse_args()
    lesson = find_lesson(args.lesson)
    nb = solved_notebook(lesson)
    raw = json.dumps(nb).encode()
    print(f"lesson {lesson.slug}: {args.n} identical solved submissions", flush=True)
    own = own_execution(lesson, nb)
    print(f"the notebook's own execution in a Jupyter kernel (sum of cell times, median of 3): {own:.2f} s",
          flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_nbgrader:
            wall, scores = run_nbgrader(lesson, nb, args.n, work)
            rows.append(("nbgrader autograde (1 CLI call, serial)", wall / args.n, own, wall, scores))
            print(f"  nbgrader done in {wall:.1f} s", flush=True)
        for slots in args.slots:
            res = run_service(lesson, raw, args.n, slots, work)
            rows.append((f"service, {slots} slot(s)", statistics.mean(res["latency"]),
                         statistics.mean(res["sandbox_exec"]), res["wall"], res["scores"]))
            print(f"  service with {slots} slot(s) done in {res['wall']:.1f} s (worker start: imports and the "
                  f"lesson's calibration, {res['warm']:.1f} s, once)", flush=True)
    print()
    head = f"{'grader':<42} {'per notebook':>12} {'own exec':>9} {'overhead':>9} {'throughput':>12}  scores"
    print(head)
    print("-" * len(head))
    base = None
    for name, per, own_here, wall, scores in rows:
        overhead = per - own_here
        base = overhead if base is None else base
        ratio = f"  ({base / overhead:.0f}x lower)" if 0 < overhead < base else ""
        got = sorted(set(f"{s:g}" if s is not None else "none" for s in scores))
        print(f"{name:<42} {per:>10.2f} s {own_here:>7.2f} s {overhead:>7.2f} s {args.n / wall:>8.2f} nb/s  "
              f"{','.join(got)}{ratio}")
    print("\nper notebook: nbgrader = its wall time / N (one CLI call, serial); service = the mean time from a "
          "worker's claim to the stored result.\nown exec: nbgrader = the cells' run time in a Jupyter kernel "
          "(nbclient, median of 3); service = the cells' run time in the sandbox, RPC between the learner and "
          "test processes included\n(it is shorter: no kernel messaging and no inline figure rendering). "
          "throughput = N / wall time from the first upload to the last grade; 2 slots use 2 cores.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
