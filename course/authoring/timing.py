"""Measured lesson and exercise times: pool learners' records, compare them with the estimates,
and record the medians beside the syllabus.

The estimates (each lesson header's ``minutes``, each exercise's ``exercise.minutes``) are an
author's guess. What learners actually spend is recorded in their own folders by their JupyterLab
(``course/learner/timing.py`` says how, and how an exercise's time is counted)::

    python -m course.authoring.timing FOLDER...            # print estimate vs measured
    python -m course.authoring.timing FOLDER... --write    # and record course/authoring/timing.json

A FOLDER is a learner's data folder (it holds ``cells.jsonl``) or any folder above several, e.g.
a cohort's hub: ``.bootcamp/hub/users`` (each learner's ``.bootcamp/learner``). Only numbers from
at least ``--min-learners`` learners (default 5) are written; ``bootcamp map`` and a lesson's card
then show the measured median beside the estimate, with the number of learners it comes from.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from course.authoring.lessons import ROOT

MEASURED_PATH = Path(__file__).with_name("timing.json")


def learner_folders(paths: list[Path]) -> list[Path]:
    """Every folder holding a ``cells.jsonl`` at or under ``paths`` (each learner once)."""
    from course.learner.timing import CELLS_FILE

    found: list[Path] = []
    for p in paths:
        p = Path(p)
        hits = [p] if (p / CELLS_FILE).is_file() else sorted(f.parent for f in p.rglob(CELLS_FILE))
        found += [h.resolve() for h in hits if h.resolve() not in found]
    return found


def pool(folders: list[Path], root: Path = ROOT, cap: float | None = None) -> dict:
    """{lesson id: {"estimate", "total": [minutes of learners who finished], "active": [...],
    "exercises": {ex: {"estimate", "times": [...]}}}} over the learners' folders."""
    from course.authoring.syllabus import load as load_syllabus
    from course.learner import timing

    syl = load_syllabus(root)
    out: dict = {}
    records = [timing.read_events(f) for f in folders]
    for info in syl.lessons.values():
        if not info.slug:
            continue
        estimates = timing.exercise_estimates(info.slug, root)
        tests = timing.exercise_tests(info.slug, root)
        entry = {"estimate": info.minutes, "total": [], "active": [],
                 "exercises": {ex: {"estimate": m, "times": []} for ex, m in estimates.items() if tests.get(ex)}}
        for events in records:
            kwargs = {"cap": cap} if cap is not None else {}
            lt = timing.lesson_times(events, info.id, list(estimates), tests, **kwargs)
            if lt is None:
                continue
            entry["active"].append(lt.active)
            if lt.total is not None:
                entry["total"].append(lt.total)
            for ex, minutes in lt.exercises.items():
                if ex in entry["exercises"]:
                    entry["exercises"][ex]["times"].append(minutes)
        out[info.id] = entry
    return out


def measured_table(pooled: dict, min_learners: int) -> dict:
    """What ``--write`` records: medians and quartiles where at least ``min_learners`` contributed."""
    from course.learner.timing import summary

    lessons = {}
    for lid, entry in pooled.items():
        total = summary(entry["total"])
        exercises = {ex: summary(e["times"]) for ex, e in entry["exercises"].items()
                     if len(e["times"]) >= min_learners}
        if total["n"] >= min_learners or exercises:
            lessons[lid] = {"minutes": total if total["n"] >= min_learners else {"n": total["n"]},
                            "exercises": exercises}
    return lessons


def report(pooled: dict, n_learners: int) -> str:
    from course.learner.timing import IDLE_CAP, summary

    lines = [f"{n_learners} learner folder(s); active time = gaps between cell runs, each capped at "
             f"{IDLE_CAP:g} min; an exercise is done when all its released test cells have passed", ""]
    for lid, entry in pooled.items():
        if not entry["active"]:
            continue
        s = summary(entry["total"])
        measured = (f"median {s['median']:g} min [{s['q1']:g}-{s['q3']:g}], {s['n']} finished"
                    if s["n"] else "nobody finished yet")
        lines.append(f"{lid}: estimate {entry['estimate']} min; measured {measured}; "
                     f"{len(entry['active'])} started")
        for ex, e in entry["exercises"].items():
            s = summary(e["times"])
            got = f"median {s['median']:g} [{s['q1']:g}-{s['q3']:g}] (n={s['n']})" if s["n"] else "-"
            lines.append(f"    {ex:<32} estimate {e['estimate']:>3} min   measured {got}")
    if len(lines) == 2:
        lines.append("no records yet: learners' JupyterLab records them as they work (bootcamp lab, the hub)")
    return "\n".join(lines)


@cache
def measured(path: Path = MEASURED_PATH) -> dict:
    """The recorded medians ({lesson id: {"minutes": {...}, "exercises": {...}}}), or {} if none."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    lessons = data.get("lessons", {}) if isinstance(data, dict) else {}
    return lessons if isinstance(lessons, dict) else {}


def measured_text(lesson_id: str) -> str:
    """' (measured: 3.4 h, 12 learners)' for a lesson with recorded times, else ''."""
    m = measured().get(lesson_id, {}).get("minutes", {})
    if not isinstance(m, dict) or not m.get("median"):
        return ""
    from course.learner.progress import _hours

    return f" (measured: {_hours(round(m['median']))}, {m['n']} learners)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m course.authoring.timing", description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", type=Path, metavar="FOLDER")
    ap.add_argument("--write", action="store_true", help=f"record the medians in {MEASURED_PATH.name}")
    ap.add_argument("--min-learners", type=int, default=5, help="write only numbers from this many (default 5)")
    ap.add_argument("--cap", type=float, default=None, help="idle cap in minutes (default: the recorder's)")
    args = ap.parse_args(argv)
    folders = learner_folders(args.folders)
    pooled = pool(folders, cap=args.cap)
    print(report(pooled, len(folders)))
    if args.write:
        table = measured_table(pooled, args.min_learners)
        data = {"measured_on": datetime.now(UTC).date().isoformat(), "learners": len(folders),
                "min_learners": args.min_learners, "lessons": table}
        MEASURED_PATH.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"\nwrote {MEASURED_PATH} ({len(table)} lesson(s) with enough learners)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
