"""How long each exercise takes, measured where learners work, not guessed by the author.

**Recording.** JupyterLab started by ``bootcamp lab`` or by the hub sets ``BOOTCAMP_RECORD_CELLS=1``
(set it to ``0`` before starting JupyterLab to opt out). A lesson's first cell imports
``course.checks``, which calls :func:`install`: from then on an IPython ``post_run_cell`` hook appends
one line per cell run to ``<data>/cells.jsonl`` (the learner's own folder, see
``course.learner.progress.data_dir``)::

    {"at": "2026-12-06T18:40:12+00:00", "lesson": "0.1", "test": "softmax_test", "ok": false}

``test`` is the grade id of the released test cell that ran (recognised by its exact source, which
learners cannot edit), or null for any other cell; ``ok`` is whether the cell raised. Nothing else
is kept: no source, no outputs, no names. ``bootcamp check``, the grading service and CI never
record (their kernels run with ``BOOTCAMP_RECORD_CELLS`` unset or ``0``).

**Estimating.** For one learner and one lesson, an exercise is *done* at the first moment every one
of its released test cells has run without an error. Its time is the *active* time from the moment
the exercise before it (in the lesson's order) was done, or from the lesson's first cell run, to
that moment. Active time adds the gaps between consecutive cell runs, each gap capped at
:data:`IDLE_CAP` minutes, so a lunch break counts as a short pause. A lesson's time is the active
time from its first cell run to the moment its last exercise was done; lessons not finished give
exercise times but no lesson time.

``bootcamp timing [LESSON]`` shows a learner their own numbers beside the estimates;
``python -m course.authoring.timing`` pools many learners' folders (a cohort's hub) into the medians
the syllabus shows as measured.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from course.authoring.lessons import ROOT, exercise_of

CELLS_FILE = "cells.jsonl"
ENV = "BOOTCAMP_RECORD_CELLS"
IDLE_CAP = 15.0  # minutes: a longer gap between two cell runs counts as this much work


# --------------------------------------------------------------------------- the released test cells
def _digest(source: str) -> str:
    return hashlib.sha1(source.strip().encode("utf-8")).hexdigest()


def released_tests(slug: str, root: Path = ROOT) -> dict[str, str]:
    """{digest of a test cell's source: its grade id} for the released notebook ``exercises/<slug>/``."""
    path = Path(root) / "exercises" / slug / f"{slug}.ipynb"
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    out = {}
    for cell in nb.get("cells", []):
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and nbg.get("grade") and not nbg.get("solution"):
            src = cell.get("source", "")
            out[_digest("".join(src) if isinstance(src, list) else src)] = str(nbg.get("grade_id", ""))
    return out


def exercise_estimates(slug: str, root: Path = ROOT) -> dict[str, int]:
    """{exercise: the author's estimate in minutes}, in the lesson's order (its solution cells'
    ``exercise`` metadata in the released notebook; 0 where a cell gives none)."""
    path = Path(root) / "exercises" / slug / f"{slug}.ipynb"
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    out: dict[str, int] = {}
    for cell in nb.get("cells", []):
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        if nbg.get("solution") and nbg.get("grade_id") and cell.get("cell_type") == "code":
            ex = cell.get("metadata", {}).get("exercise", {})
            out.setdefault(str(nbg["grade_id"]), int(ex.get("minutes", 0) or 0) if isinstance(ex, dict) else 0)
    return out


def exercise_tests(slug: str, root: Path = ROOT) -> dict[str, set[str]]:
    """{exercise: the grade ids of its released test cells}."""
    out: dict[str, set[str]] = {}
    for gid in released_tests(slug, root).values():
        out.setdefault(exercise_of(gid), set()).add(gid)
    return out


# --------------------------------------------------------------------------- recording (in the kernel)
class _Recorder:
    """The post_run_cell hook. It must never raise into the learner's kernel, and stays cheap:
    one hash and one dictionary lookup per cell, one appended line."""

    def __init__(self, shell, root: Path):
        self.shell, self.root = shell, Path(root)
        self.lesson: str | None = None
        self.tests: dict[str, str] = {}
        self._identified = False
        self._lessons: dict[str, str] | None = None  # slug -> lesson id
        self._index: dict[str, str] | None = None  # digest of any lesson's test cell -> slug

    def _identify(self, digest: str) -> None:
        """Which lesson is this notebook? Its file name (ipykernel's ``__session__``) first, else the
        lesson whose released test cell this is (every lesson's test cells, read once)."""
        if self._lessons is None:
            from course.authoring.syllabus import load as load_syllabus

            self._lessons = {info.slug: info.id for info in load_syllabus(self.root).lessons.values() if info.slug}
        session = str(self.shell.user_ns.get("__session__", "") or "")
        stem = Path(session).stem if session else ""
        if stem in self._lessons:
            self.lesson, self.tests, self._identified = self._lessons[stem], released_tests(stem, self.root), True
            return
        if self._index is None:
            self._index = {d: slug for slug in self._lessons for d in released_tests(slug, self.root)}
        slug = self._index.get(digest)
        if slug is not None:
            self.lesson, self.tests, self._identified = self._lessons[slug], released_tests(slug, self.root), True

    def __call__(self, result) -> None:
        try:
            source = getattr(getattr(result, "info", None), "raw_cell", None)
            if not isinstance(source, str) or not source.strip():
                return
            digest = _digest(source)
            if not self._identified:
                self._identify(digest)
                if not self._identified:
                    return  # not a lesson notebook (yet): nothing to attribute the time to
            from course.learner.progress import _iso, append_record, now

            append_record(CELLS_FILE, {"at": _iso(now()), "lesson": self.lesson, "test": self.tests.get(digest),
                                       "ok": bool(result.success)}, self.root)
        except Exception:  # noqa: BLE001 - a measurement must never break the learner's notebook
            return


def install(root: Path = ROOT) -> bool:
    """Register the hook in the running IPython, once, if ``BOOTCAMP_RECORD_CELLS=1``. Returns whether
    it is (now) installed."""
    if os.environ.get(ENV) != "1":
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "events"):
        return False
    if getattr(shell, "_bootcamp_timing", None) is not None:
        return True
    recorder = _Recorder(shell, root)
    shell.events.register("post_run_cell", recorder)
    shell._bootcamp_timing = recorder
    return True


# --------------------------------------------------------------------------- estimating
@dataclass
class LessonTimes:
    """One learner's measured times in one lesson, in minutes."""

    lesson: str
    exercises: dict[str, float] = field(default_factory=dict)  # done exercises only
    total: float | None = None  # None: not every exercise is done yet
    active: float = 0.0  # all active time so far, finished or not


def active_minutes(times: list[datetime], start: datetime, end: datetime, cap: float = IDLE_CAP) -> float:
    """Active minutes between ``start`` and ``end``: the gaps between the sorted ``times`` inside that
    window (and the window's ends), each capped at ``cap`` minutes."""
    inside = [t for t in times if start <= t <= end]
    points = [start, *inside, end]
    limit = timedelta(minutes=cap)
    return sum(min(b - a, limit).total_seconds() for a, b in zip(points, points[1:], strict=False)) / 60.0


def lesson_times(events: list[dict], lesson: str, order: list[str], tests: dict[str, set[str]],
                 cap: float = IDLE_CAP) -> LessonTimes | None:
    """Estimate one learner's times in ``lesson`` from their ``cells.jsonl`` records.

    ``order`` is the lesson's exercises in order; ``tests`` each exercise's released test cells."""
    from course.learner.progress import parse_time

    runs = []
    for rec in events:
        t = parse_time(rec.get("at"))
        if t is not None and str(rec.get("lesson")) == lesson:
            runs.append((t, rec.get("test"), bool(rec.get("ok"))))
    if not runs:
        return None
    runs.sort(key=lambda r: r[0])
    times = [r[0] for r in runs]
    passed: dict[str, set[str]] = {}
    done_at: dict[str, datetime] = {}
    for t, gid, ok in runs:
        if not gid or not ok:
            continue
        ex = exercise_of(str(gid))
        passed.setdefault(ex, set()).add(str(gid))
        if ex not in done_at and tests.get(ex) and tests[ex] <= passed[ex]:
            done_at[ex] = t
    out = LessonTimes(lesson, active=active_minutes(times, times[0], times[-1], cap))
    for i, ex in enumerate(order):
        if ex not in done_at:
            continue
        earlier = [done_at[e] for e in order[:i] if e in done_at and done_at[e] <= done_at[ex]]
        start = max(earlier) if earlier else times[0]
        out.exercises[ex] = active_minutes(times, start, done_at[ex], cap)
    graded = [ex for ex in order if tests.get(ex)]
    if graded and all(ex in done_at for ex in graded):
        out.total = active_minutes(times, times[0], max(done_at[ex] for ex in graded), cap)
    return out


def read_events(folder: Path) -> list[dict]:
    """The records of one learner's folder (``<data>/learner``, or any folder holding cells.jsonl)."""
    out = []
    try:
        lines = (Path(folder) / CELLS_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def summary(values: list[float]) -> dict:
    """n, median and quartiles (minutes, rounded) of some learners' times."""
    if not values:
        return {"n": 0}
    v = sorted(values)
    q = statistics.quantiles(v, n=4, method="inclusive") if len(v) > 1 else [v[0], v[0], v[0]]
    return {"n": len(v), "median": round(statistics.median(v), 1), "q1": round(q[0], 1), "q3": round(q[2], 1)}


# --------------------------------------------------------------------------- `bootcamp timing`
def format_own(lesson: str | None = None, root: Path = ROOT) -> str:
    """A learner's own measured times, lesson by lesson (or one lesson's exercises), beside the estimates."""
    from course.authoring.syllabus import load as load_syllabus
    from course.learner.progress import _hours, data_dir

    syl = load_syllabus(root)
    events = read_events(data_dir(root))
    if not events:
        return (f"no cell runs recorded yet in {data_dir(root) / CELLS_FILE}: they are recorded while you work "
                f"in JupyterLab started by `bootcamp lab` or the hub (set {ENV}=0 before starting it to opt out)")
    infos = [syl.lesson(lesson)] if lesson else [i for i in syl.lessons.values() if i.slug]
    lines = []
    for info in infos:
        estimates = exercise_estimates(info.slug, root)
        lt = lesson_times(events, info.id, list(estimates), exercise_tests(info.slug, root))
        if lt is None:
            if lesson:
                lines.append(f"{info.id} {info.title}: no cell runs recorded for this lesson yet")
            continue
        total = f"finished in {_hours(round(lt.total))} of active time" if lt.total is not None else \
            f"{_hours(round(lt.active))} of active time so far"
        lines.append(f"{info.id} {info.title}: {total} (estimate {_hours(info.minutes)})")
        if lesson:
            for ex, est in estimates.items():
                got = f"{lt.exercises[ex]:5.0f} min" if ex in lt.exercises else "    -    "
                lines.append(f"    {ex:<32} {got}   (estimate {est} min)")
    lines.append(f"\nactive time: the gaps between your cell runs, each capped at {IDLE_CAP:g} minutes. Your "
                 f"records stay in {data_dir(root)}; a mentor sees them only if you share that folder.")
    return "\n".join(lines)


def cmd_timing(args) -> int:
    print(format_own(args.lesson))
    return 0


def add_subcommand(sub) -> None:
    s = sub.add_parser("timing", help="how long your lessons and exercises took (active time), beside the estimates")
    s.add_argument("lesson", nargs="?", metavar="LESSON", help="one lesson, exercise by exercise")
    s.set_defaults(func=cmd_timing)
