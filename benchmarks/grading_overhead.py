"""Grading time per notebook: plain `nbgrader autograde` against the grading service, side by side.

For each lesson, the same solved notebook is graded N times by

  nbgrader      `nbgrader autograde` (a Jupyter kernel per notebook, one after another);
  service, 1    the grading service with one worker slot: POSTed to the API, graded in a sandboxed
                pair of processes (learner code in one, tests in the other) forked from a warm zygote;
  service, 2    the same with two slots (two notebooks at once: on a 2-core machine, 2 cores);

and the notebook's own run in a Jupyter kernel (nbclient, the sum of its cells' run times) is
measured alongside. The measurements are interleaved in rounds (nbgrader, the kernel, 1 slot,
2 slots; again), so that a machine whose load changes (a shared one) weighs on every column
alike; the load average is printed with each round.

The headline is time per notebook, isolation included (nothing is subtracted):

  per notebook  nbgrader: its wall time / N. service: wall time from the first upload to the last
                stored grade / N (the time a notebook costs the server, queueing and the worker's
                polling included). The mean grading latency of one notebook is printed too.
  throughput    notebooks per second, N / wall time.
  ratios        service (1 slot) / nbgrader, service (1 slot) / the notebook's own kernel run, and
                2 slots' throughput / 1 slot's. Targets (issue 25): <= 0.5, <= 1.3, >= 1.8.
  cores busy    the whole machine's busy CPU time during a service step (/proc/stat: every process, the
                kernel's forks, exits and page faults for them included) / its wall time. One slot uses more
                than one core where the worker's own part, the next pair's start and the last pair's exit
                overlap the running pair. A notebook costs the same CPU with 1 or 2 slots (perf, 5.0: 365 and
                357 ms), so 2 slots on C cores give at most C / (1 slot's cores busy) times 1 slot's
                throughput (2 cores, 1.17 cores busy: 1.71x), whatever the worker does; a machine whose speed
                changes between steps (a shared one) can seem to beat it.

The worker's one-time start (imports, the lesson's calibration) is printed apart. With
``--profile`` the script also grades one notebook in-process and prints the round trips between
the test and learner processes by kind (what the split costs, and where).

    .venv/bin/python benchmarks/grading_overhead.py 1.1 [-n 4] [--rounds 2] [--profile]
    .venv/bin/python benchmarks/grading_overhead.py --all [-n 2] [--rounds 1] [--min-seconds 10]
                                         # every graded lesson; writes README's table. --min-seconds: more
                                         # notebooks per step for a lesson graded in a second or two, so
                                         # that 2 slots are measured busy (a batch of 2 such notebooks
                                         # measures one grading's start, not throughput)
"""

from __future__ import annotations

import argparse
import json
import os
import re
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

BEGIN, END = "<!-- grading-speed:begin -->", "<!-- grading-speed:end -->"


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat: all but idle and iowait), every
    process and the kernel's own work for them (forks, exits, page faults) counted; 0.0 where there is none."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def own_execution(lesson, nb) -> float:
    """Sum of the cells' run times (hidden tests in place) in a fresh Jupyter kernel."""
    from nbclient import NotebookClient

    tests = {c.metadata["nbgrader"]["grade_id"]: c.source for c in read_source(lesson.source).cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    run = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in run.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in tests and cell.metadata["nbgrader"].get("grade"):
            cell.source = tests[gid]
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
    return total


def run_nbgrader(lesson, nb, n: int, course: Path) -> tuple[float, list]:
    """One `nbgrader autograde` call over n submissions in a fresh course directory: (wall, scores)."""
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


class Service:
    """The grading service (API, database, a worker with `slots` slots), started once per lesson."""

    def __init__(self, lesson, slots: int, work: Path):
        from fastapi.testclient import TestClient

        from autograder.app import create_app
        from autograder.embedded import ensure_local_accounts
        from autograder.gradebook.db import Database
        from autograder.grading.worker import Worker
        from autograder.settings import Settings

        self.lesson = lesson
        self.settings = Settings(data_dir=work / f"service-{slots}", workers=slots, wall_seconds=600,
                                 poll_seconds=0.02, submissions_per_minute=0,
                                 upload_bytes_per_day=0)  # one learner sends all N: no rate limit or quota
        self.db = Database(self.settings)
        self.db.migrate()
        self.token = ensure_local_accounts(self.settings, self.db)["local"]
        self.client = TestClient(create_app(self.settings, self.db, migrate=False))
        self.worker = Worker(self.settings, self.db)
        t0 = time.perf_counter()
        self.worker.start()
        spec = self.worker.grader.catalogue.spec(lesson.slug)
        self.worker.grader.mode_for(spec)  # calibration, once
        self.warm = time.perf_counter() - t0
        self.solution_seconds = spec.solution_seconds or 0.0  # the solution's run at calibration

    def pause(self) -> None:
        """Idle while another step is measured: an idle worker polling every 20 ms takes 12-14% of a core
        (its queries, in this process), which 2 busy slots or nbgrader would otherwise lose to it."""
        self.settings.poll_seconds = 2.0

    def resume(self) -> None:
        self.settings.poll_seconds = 0.02
        time.sleep(2.1)  # every slot's last long wait has ended before the clock starts

    def grade(self, raw: bytes, n: int) -> dict:
        from autograder.gradebook.models import Submission
        from autograder.grading.worker import wait_idle

        start, busy = time.perf_counter(), machine_busy()
        ids = []
        for _ in range(n):
            r = self.client.post(f"/api/submissions?lesson={self.lesson.slug}", content=raw,
                                 headers={"Authorization": f"Bearer {self.token}"})
            r.raise_for_status()
            ids.append(r.json()["id"])
        assert wait_idle(self.db, 3600)
        wall, busy = time.perf_counter() - start, machine_busy() - busy
        with self.db.session() as s:
            subs = [s.get(Submission, i) for i in ids]
            return {"wall": wall, "busy": busy, "scores": [x.score for x in subs],
                    "latency": [x.grading_seconds for x in subs]}

    def stop(self) -> None:
        self.worker.stop()
        self.db.dispose()


def profile(lesson, raw: bytes, work: Path) -> dict:
    """Grade one notebook in-process; T's count of round trips to L, by kind, and its wait."""
    from autograder.grading.pipeline import Grader
    from autograder.settings import Settings

    (work / "profile").mkdir(parents=True, exist_ok=True)
    g = Grader(Settings(data_dir=work / "profile", wall_seconds=600))
    g.start()
    outcomes = []
    run = g.zygote.run

    def keep(*a, **k):
        out = run(*a, **k)
        outcomes.append(out)
        return out

    g.zygote.run = keep
    try:
        g.mode_for(g.catalogue.spec(lesson.slug))
        report = g.grade_bytes(lesson.slug, raw)
    finally:
        g.stop()
    last = outcomes[-1]
    return {"seconds": report.grading_seconds, "score": report.score, "cells_seconds": last.seconds,
            "cpu_seconds": last.cpu_seconds, **last.channel}


def steady_n(n: int, min_seconds: float, solution_seconds: float, most: int = 16) -> int:
    """Notebooks per step: at least ``n``, and enough that one slot grades for ``min_seconds``, so that
    a lesson graded in a second is measured busy, not on its first grading's start (at most ``most``). Even,
    so that 2 slots never end on one notebook alone (5 notebooks on 2 slots take 3 gradings' time:
    1.67x at best)."""
    if min_seconds <= 0 or solution_seconds <= 0:
        return n
    k = max(n, min(most, -(-int(min_seconds * 10) // max(1, int(solution_seconds * 10)))))
    return k + k % 2


def measure(lesson_id: str, n: int, rounds: int, slots: list[int], skip_nbgrader: bool, want_profile: bool,
            min_seconds: float = 0.0, most: int = 16) -> dict:
    lesson = find_lesson(lesson_id)
    nb = solved_notebook(lesson)
    raw = json.dumps(nb).encode()
    res: dict = {"lesson": lesson.id, "slug": lesson.slug, "n": n, "rounds": rounds, "own": [], "nbgrader": [],
                 "service": {s: [] for s in slots}, "load": [], "scores": set()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if want_profile:
            res["profile"] = profile(lesson, raw, work)
            p = res["profile"]
            busiest = sorted(p.get("cells", {}).items(), key=lambda kv: -kv[1])[:3]
            print(f"  profile: one grading {p['seconds']:.2f} s (its cells {p['cells_seconds']:.2f} s, CPU of both "
                  f"processes {p['cpu_seconds']:.2f} s), {p.get('round_trips', 0)} round trips to the learner "
                  f"process ({p.get('wait_seconds', 0):.2f} s waiting on them; {p.get('attribute_hits', 0)} attribute "
                  f"reads answered without one; {p.get('deferred', 0)} constructor calls not waited for); by kind: "
                  f"{p.get('ops')}; most in cells "
                  f"{', '.join(f'{c}: {k}' for c, k in busiest)}", flush=True)
            heavy = sorted(p.get("cells_bytes_in", {}).items(), key=lambda kv: -kv[1])[:5]
            slow = sorted(p.get("cells_wait", {}).items(), key=lambda kv: -kv[1])[:5]
            print(f"  profile: {p.get('bytes_in', 0) / 1e6:.1f} MB from the learner process, "
                  f"{p.get('bytes_out', 0) / 1e6:.1f} MB to it; most received in cells "
                  f"{', '.join(f'{c}: {b / 1e6:.1f} MB' for c, b in heavy)}; most waited in cells "
                  f"{', '.join(f'{c}: {w:.2f} s' for c, w in slow)}", flush=True)
        services = {}
        for s in slots:
            services[s] = Service(lesson, s, work)
            print(f"  service with {s} slot(s) started: imports and the lesson's calibration {services[s].warm:.1f} s "
                  "(once per worker)", flush=True)
        n = res["n"] = steady_n(n, min_seconds, services[slots[0]].solution_seconds, most)
        print(f"lesson {lesson.slug}: {n} identical solved submissions per step, {rounds} round(s)", flush=True)
        try:
            for s in services.values():
                s.pause()
            for r in range(rounds):
                res["load"].append(os.getloadavg()[0])
                if not skip_nbgrader:
                    wall, scores = run_nbgrader(lesson, nb, n, work / f"nbgrader-{r}")
                    res["nbgrader"].append(wall / n)
                    res["scores"].update(f"nbgrader {x:g}" for x in scores if x is not None)
                res["own"].append(own_execution(lesson, nb))
                res["load"].append(os.getloadavg()[0])
                for s in slots:
                    services[s].resume()
                    got = services[s].grade(raw, n)
                    services[s].pause()
                    res["service"][s].append(got)
                    res["load"].append(os.getloadavg()[0])
                    res["scores"].update(f"service {x:g}" for x in got["scores"] if x is not None)
                print(f"  round {r + 1}: load up to {max(res['load']):.1f}; nbgrader "
                      f"{res['nbgrader'][-1] if res['nbgrader'] else float('nan'):.2f} s/nb; own run "
                      f"{res['own'][-1]:.2f} s; " + "; ".join(
                          f"{s} slot(s) {res['service'][s][-1]['wall'] / n:.2f} s/nb, "
                          f"{res['service'][s][-1]['busy'] / res['service'][s][-1]['wall']:.2f} cores busy"
                          for s in slots), flush=True)
        finally:
            for s in services.values():
                s.stop()
    return summarise(res, slots)


def summarise(res: dict, slots: list[int]) -> dict:
    n, rounds = res["n"], res["rounds"]
    out = {"lesson": res["lesson"], "slug": res["slug"], "n": n * rounds, "step": n, "load": max(res["load"]),
           "own": statistics.median(res["own"]), "scores": sorted(res["scores"])}
    if res["nbgrader"]:
        out["nbgrader"] = statistics.mean(res["nbgrader"])
    for s in slots:
        runs = res["service"][s]
        wall = sum(x["wall"] for x in runs)
        out[f"service{s}"] = wall / (n * rounds)
        out[f"latency{s}"] = statistics.mean(v for x in runs for v in x["latency"])
        out[f"throughput{s}"] = n * rounds / wall
        out[f"cores{s}"] = sum(x["busy"] for x in runs) / wall  # the machine's busy CPU seconds per second
    if "profile" in res:
        out["round_trips"] = res["profile"].get("round_trips")
    return out


def table(rows: list[dict]) -> str:
    head = ("| lesson | nbgrader, s/notebook | own run in a kernel, s | service 1 slot, s/notebook | "
            "service 2 slots, s/notebook | throughput 1 / 2 slots, nb/s | service / nbgrader | service / own run "
            "| 2 slots / 1 slot | load | notebooks per step | cores busy, 1 / 2 slots |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        nbg = r.get("nbgrader")
        lines.append(
            f"| {r['lesson']} | {nbg:.2f} | {r['own']:.2f} | {r['service1']:.2f} | {r['service2']:.2f} | "
            f"{r['throughput1']:.2f} / {r['throughput2']:.2f} | {r['service1'] / nbg:.2f}x | "
            f"{r['service1'] / r['own']:.2f}x | {r['throughput2'] / r['throughput1']:.2f}x | {r['load']:.1f} | "
            f"{r['step']} | {r['cores1']:.2f} / {r['cores2']:.2f} |"
            if nbg else
            f"| {r['lesson']} | - | {r['own']:.2f} | {r['service1']:.2f} | {r['service2']:.2f} | "
            f"{r['throughput1']:.2f} / {r['throughput2']:.2f} | - | {r['service1'] / r['own']:.2f}x | "
            f"{r['throughput2'] / r['throughput1']:.2f}x | {r['load']:.1f} | {r['step']} | "
            f"{r['cores1']:.2f} / {r['cores2']:.2f} |")
    return "\n".join(lines)


def write_readme(rows: list[dict], command: str) -> None:
    """Put the table between README's markers; rows of lessons not measured this time are kept."""
    path = ROOT / "README.md"
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} markers")
    before, rest = text.split(BEGIN, 1)
    old, after = rest.split(END, 1)
    kept = {}
    for line in old.splitlines():
        m = re.match(r"\| (\d+\.\d+) \|", line)
        if m:  # a row from before a column was added at the end: "-" there
            cells = line.count("|") - 1
            kept[m.group(1)] = line + " - |" * max(0, table([]).splitlines()[0].count("|") - 1 - cells)
    new = {r["lesson"]: line for r, line in zip(rows, table(rows).splitlines()[2:])}
    merged = {**kept, **new}
    order = sorted(merged, key=lambda x: tuple(int(p) for p in x.split(".")))
    header = table([]).splitlines()
    body = "\n".join([*header, *(merged[k] for k in order)])
    stamp = (f"\nMeasured with `{command}` on {os.cpu_count()} cores, "
             f"{datetime.now().strftime('%Y-%m-%d')}; load = the highest 1-minute load average seen during the "
             "lesson's rounds, sampled between its steps (the machine is shared: the columns of one row were measured "
             "interleaved).\n")
    path.write_text(before + BEGIN + "\n" + body + "\n" + stamp + END + after)


def graded_lessons() -> list[str]:
    from autograder.grading.pipeline import Catalogue
    from autograder.settings import Settings

    cat = Catalogue(Settings(data_dir=Path(tempfile.mkdtemp())))
    out = []
    for lesson in cat.lessons():
        try:
            if cat.spec(lesson.slug).tests:
                out.append(lesson.id)
        except Exception as err:
            print(f"skipping {lesson.slug}: {err}", file=sys.stderr)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("lessons", nargs="*", default=[], help="lesson ids (default 0.1)")
    ap.add_argument("--all", action="store_true", help="every graded lesson; writes the table into README.md")
    ap.add_argument("-n", type=int, default=4, help="submissions per round and grader (default 4)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    ap.add_argument("--min-seconds", type=float, default=0.0,
                    help="grade more than N notebooks per step where fewer would keep one slot busy for less than "
                         "this (the solution's calibrated run time times N; at most --most): throughput at steady "
                         "state")
    ap.add_argument("--most", type=int, default=16, help="with --min-seconds: at most this many notebooks per step "
                    "(default 16; nbgrader grades as many, at 4-7 s each on a lesson graded in under a second)")
    ap.add_argument("--slots", type=int, nargs="+", default=[1, 2], help="service worker slots to measure")
    ap.add_argument("--skip-nbgrader", action="store_true")
    ap.add_argument("--profile", action="store_true", help="count the round trips of one grading")
    ap.add_argument("--write-readme", action="store_true", help="write the measured rows into README.md")
    args = ap.parse_args()
    lessons = graded_lessons() if args.all else (args.lessons or ["0.1"])
    if sorted(args.slots) != [1, 2]:
        args.write_readme = False
    rows = []
    for lesson_id in lessons:
        rows.append(measure(lesson_id, args.n, args.rounds, args.slots, args.skip_nbgrader, args.profile,
                            args.min_seconds, args.most))
        print(f"  scores: {', '.join(rows[-1]['scores'])}", flush=True)
    print()
    if sorted(args.slots) == [1, 2]:
        print(table(rows))
    else:
        for r in rows:
            print(r)
    if (args.all or args.write_readme) and not args.skip_nbgrader and sorted(args.slots) == [1, 2]:
        write_readme(rows, "benchmarks/grading_overhead.py " + " ".join(sys.argv[1:]))
        print("\nREADME.md: table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
