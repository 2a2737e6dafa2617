"""Where a learner stands: exercises passed per lesson, the last attempt, the next lesson.

Results come from three places, and for each lesson the newest attempt wins:

* **the grading service** (``bootcamp submit``), read over HTTP with the learner's token
  (``course/learner/client.py``): graded with the hidden tests, the most authoritative;
* **``bootcamp check``**, which records each run's table in ``.bootcamp/learner/checks.jsonl``;
* **the saved notebook** itself: the outputs of its test cells, as of the last save in
  JupyterLab (a test cell that ran without an error passed).

When the service is not running (or there is no token) the last two are all there is;
``bootcamp progress`` says which sources it used. Hints (``bootcamp hint``) and the
placement quizzes (``bootcamp placement``) write to the same folder, and show here: a
lesson the placement quiz said to skip counts as done for what comes after it, and a hint
is counted, never penalised.

The folder is ``$BOOTCAMP_DATA_DIR/learner`` (default ``<course>/.bootcamp/learner``,
git-ignored). Nothing here imports torch or matplotlib until a picture is drawn.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from course.authoring.lessons import ROOT, exercise_of
from course.authoring.syllabus import LessonInfo, Syllabus
from course.authoring.syllabus import load as load_syllabus

SOURCE_NAMES = {"service": "grading service", "check": "bootcamp check", "notebook": "saved notebook"}
STATUS_ORDER = ("done", "placed", "started", "ready", "locked", "planned")
STATUS_TEXT = {"done": "done", "placed": "skipped (placement)", "started": "in progress", "ready": "ready",
               "locked": "locked", "planned": "planned"}
STATUS_MARK = {"done": "✓", "placed": "»", "started": "◐", "ready": "○", "locked": "·", "planned": "-"}
STATUS_COLOUR = {"done": "#2e7d32", "placed": "#81c784", "started": "#f9a825", "ready": "#1e88e5",
                 "locked": "#b0bec5", "planned": "#eceff1"}


# --------------------------------------------------------------------------- the learner's folder
def data_dir(root: Path = ROOT) -> Path:
    """``$BOOTCAMP_DATA_DIR/learner`` (the service's data folder) or ``<course>/.bootcamp/learner``."""
    base = os.environ.get("BOOTCAMP_DATA_DIR")
    return (Path(base) if base else Path(root) / ".bootcamp") / "learner"


def now() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        t = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def append_record(name: str, record: dict, root: Path = ROOT) -> bool:
    """Append one JSON line to ``<data>/<name>``; never raises (a read-only disk only loses the record)."""
    try:
        folder = data_dir(root)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / name, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        return True
    except OSError as err:
        print(f"note: could not record to {data_dir(root) / name}: {err}", file=sys.stderr)
        return False


def read_records(name: str, root: Path = ROOT) -> list[dict]:
    """The JSON lines of ``<data>/<name>``, skipping any line that is not a JSON object."""
    path = data_dir(root) / name
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
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


def read_json(name: str, root: Path = ROOT) -> dict:
    try:
        data = json.loads((data_dir(root) / name).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(name: str, data: dict, root: Path = ROOT) -> Path | None:
    path = data_dir(root) / name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path
    except OSError as err:
        print(f"note: could not write {path}: {err}", file=sys.stderr)
        return None


def record_check(lesson, run, notebook: Path, root: Path = ROOT) -> bool:
    """Called by ``bootcamp check`` after a run: one line in ``checks.jsonl``.

    Runs of the solution notebooks (an author checking a lesson) are not the learner's
    progress and are not recorded.
    """
    try:
        notebook = Path(notebook).resolve()
        if (Path(root) / "solutions").resolve() in notebook.parents:
            return False
        results = [{"exercise": r.exercise, "grade_id": r.grade_id, "passed": bool(r.passed), "status": r.status}
                   for r in run.results]
        return append_record("checks.jsonl", {"lesson": lesson.id, "slug": lesson.slug, "at": _iso(now()),
                                              "notebook": str(notebook), "results": results}, root)
    except Exception as err:  # recording must never break `bootcamp check`
        print(f"note: could not record this check: {err}", file=sys.stderr)
        return False


def hint_counts(root: Path = ROOT) -> dict[str, dict[str, int]]:
    """{lesson id: {exercise: times the hint was shown}} from ``hints.jsonl``."""
    out: dict[str, dict[str, int]] = {}
    for rec in read_records("hints.jsonl", root):
        lesson, ex = str(rec.get("lesson", "")), str(rec.get("exercise", ""))
        if lesson and ex:
            out.setdefault(lesson, {})
            out[lesson][ex] = out[lesson].get(ex, 0) + 1
    return out


def placed_out(root: Path = ROOT) -> dict[str, dict]:
    """{lesson id: record} for lessons the latest placement quiz said to skip."""
    lessons = read_json("placement.json", root).get("lessons", {})
    return {k: v for k, v in lessons.items() if isinstance(v, dict) and v.get("placed")}


# --------------------------------------------------------------------------- exercises of a lesson
_CELL_META = re.compile(r"^# %%(?!\s*\[markdown\]).*?\bnbgrader=(\{[^{}]*\})")


def lesson_exercises(info: LessonInfo, root: Path = ROOT) -> list[str]:
    """The lesson's exercises (solution cells' grade_ids), in order, read from its source."""
    if not info.slug:
        return []
    src = Path(root) / "solutions" / info.slug / f"{info.slug}.py"
    out = []
    try:
        lines = src.read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        m = _CELL_META.match(line)
        if not m:
            continue
        try:
            meta = json.loads(m.group(1))
        except json.JSONDecodeError:
            continue
        if meta.get("solution") and meta.get("grade_id") and meta["grade_id"] not in out:
            out.append(str(meta["grade_id"]))
    return out


def _by_exercise(results: list[dict]) -> dict[str, bool]:
    """Test-cell results -> {exercise: every one of its test cells passed}."""
    out: dict[str, bool] = {}
    for r in results:
        ex = str(r.get("exercise") or exercise_of(str(r.get("grade_id", ""))))
        out[ex] = out.get(ex, True) and bool(r.get("passed"))
    return out


# --------------------------------------------------------------------------- attempts
@dataclass
class Attempt:
    lesson: str  # lesson id
    source: str  # "service", "check" or "notebook"
    at: datetime
    exercises: dict[str, bool]  # exercise -> passed
    count: int = 1  # attempts this source holds for the lesson (submissions, check runs)
    detail: str = ""


def notebook_attempt(info: LessonInfo, root: Path = ROOT) -> Attempt | None:
    """What the saved learner notebook's test-cell outputs say, if any test cell has run."""
    if not info.slug:
        return None
    from course.learner.workspace import notebook_path

    path = notebook_path(info.slug, root)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    results, ran_any = [], False
    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        nbg = (cell.get("metadata") or {}).get("nbgrader") or {}
        if cell.get("cell_type") != "code" or not nbg.get("grade"):
            continue
        outputs = cell.get("outputs") or []
        ran = cell.get("execution_count") is not None or bool(outputs)
        error = any(o.get("output_type") == "error" for o in outputs)
        ran_any |= ran
        gid = str(nbg.get("grade_id", ""))
        results.append({"exercise": exercise_of(gid), "grade_id": gid, "passed": ran and not error})
    if not ran_any:
        return None
    return Attempt(info.id, "notebook", mtime, _by_exercise(results), 1, str(path))


def check_attempts(root: Path = ROOT) -> dict[str, Attempt]:
    """The latest ``bootcamp check`` run per lesson id, with the number of runs."""
    latest: dict[str, Attempt] = {}
    counts: dict[str, int] = {}
    for rec in read_records("checks.jsonl", root):
        at, lesson = parse_time(rec.get("at")), str(rec.get("lesson", ""))
        if at is None or not lesson:
            continue
        counts[lesson] = counts.get(lesson, 0) + 1
        if lesson not in latest or at >= latest[lesson].at:
            latest[lesson] = Attempt(lesson, "check", at, _by_exercise(rec.get("results") or []), 1,
                                     str(rec.get("notebook", "")))
    for lesson, a in latest.items():
        a.count = counts[lesson]
    return latest


def service_attempts(timeout: float = 3.0, root: Path = ROOT) -> tuple[dict[str, Attempt], str]:
    """The learner's submissions on the grading service, per lesson id, and a line saying
    where they came from or why there are none. Never raises."""
    from course.learner.client import ServiceError, request, service_url, token

    url = service_url()
    try:
        tok = token(root)
        me = request("GET", "/api/me", tok=tok, url=url, timeout=timeout)
        rows = request("GET", "/api/submissions?limit=500", tok=tok, url=url, timeout=timeout)
    except ServiceError as err:
        return {}, f"grading service not used: {err}"
    except Exception as err:  # a malformed answer is no reason to fail `bootcamp progress`
        return {}, f"grading service not used: {type(err).__name__}: {err}"
    username = (me or {}).get("username")
    by_lesson: dict[str, list[dict]] = {}
    for row in rows or []:
        if username and row.get("user") not in (None, username):
            continue  # an instructor's token sees everyone's: keep the learner's own
        lesson = str(row.get("lesson", "")).split("-", 1)[0]
        by_lesson.setdefault(lesson, []).append(row)
    out = {}
    for lesson, subs in by_lesson.items():
        subs.sort(key=lambda r: parse_time(r.get("created_at")) or datetime.min.replace(tzinfo=UTC))
        finished = [r for r in subs if r.get("results")]
        if not finished:
            continue
        last = finished[-1]
        at = parse_time(last.get("created_at")) or now()
        out[lesson] = Attempt(lesson, "service", at, _by_exercise(last.get("results") or []), len(subs),
                              f"submission {last.get('id', '?')}")
    n = sum(len(s) for s in by_lesson.values())
    return out, f"grading service at {url}: {n} submission(s)" + (f" by {username}" if username else "")


# --------------------------------------------------------------------------- progress
@dataclass
class LessonProgress:
    info: LessonInfo
    exercises: list[str]
    attempt: Attempt | None = None  # the newest, from whichever source
    attempts: int = 0  # all sources together
    hints: dict[str, int] = field(default_factory=dict)
    placed: bool = False
    status: str = "locked"

    @property
    def passed(self) -> list[str]:
        got = self.attempt.exercises if self.attempt else {}
        return [ex for ex in self.exercises if got.get(ex)]

    @property
    def done(self) -> bool:
        return bool(self.exercises) and len(self.passed) == len(self.exercises)

    @property
    def hint_total(self) -> int:
        return sum(self.hints.values())


@dataclass
class Progress:
    syllabus: Syllabus
    lessons: dict[str, LessonProgress]
    next: str | None
    sources: list[str]
    root: Path = ROOT

    def for_lesson(self, lesson_id: str) -> LessonProgress:
        return self.lessons[lesson_id]


def collect(root: Path = ROOT, use_service: bool = True, syllabus: Syllabus | None = None,
            timeout: float = 3.0) -> Progress:
    syl = syllabus or load_syllabus(root)
    sources = []
    service: dict[str, Attempt] = {}
    if use_service:
        service, line = service_attempts(timeout, root)
        sources.append(line)
    checks = check_attempts(root)
    hints = hint_counts(root)
    placed = placed_out(root)
    lessons: dict[str, LessonProgress] = {}
    for lid, info in syl.lessons.items():
        lp = LessonProgress(info, lesson_exercises(info, root), hints=hints.get(lid, {}), placed=lid in placed)
        candidates = [a for a in (service.get(lid), checks.get(lid), notebook_attempt(info, root)) if a]
        if candidates:
            lp.attempt = max(candidates, key=lambda a: a.at)
            lp.attempts = sum(a.count for a in candidates)
        lessons[lid] = lp
    local = sum(1 for lp in lessons.values() if lp.attempt and lp.attempt.source != "service")
    sources.append(f"local results: {len(checks)} lesson(s) with `bootcamp check` runs, "
                   f"{sum(1 for lp in lessons.values() if lp.attempt and lp.attempt.source == 'notebook')} "
                   f"from saved notebooks ({local} used)")
    _assign_statuses(syl, lessons)
    return Progress(syl, lessons, recommend(syl, lessons), sources, Path(root))


def _satisfied(lp: LessonProgress) -> bool:
    return lp.status in ("done", "placed")


def _assign_statuses(syl: Syllabus, lessons: dict[str, LessonProgress]) -> None:
    from course.authoring.syllabus import topological_order

    for lid in topological_order(syl):
        lp = lessons[lid]
        if lp.info.planned:
            lp.status = "planned"
        elif lp.done:
            lp.status = "done"
        elif lp.placed:
            lp.status = "placed"
        elif lp.attempt is not None:
            lp.status = "started"
        elif all(p in lessons and _satisfied(lessons[p]) for p in lp.info.prerequisites):
            lp.status = "ready"
        else:
            lp.status = "locked"


def recommend(syl: Syllabus, lessons: dict[str, LessonProgress]) -> str | None:
    """The first lesson in course order that exists, is not done (or skipped), and whose
    prerequisites are all done or skipped."""
    for lid in syl.order():
        lp = lessons[lid]
        if lp.info.available and not _satisfied(lp) and \
                all(p in lessons and _satisfied(lessons[p]) for p in lp.info.prerequisites):
            return lid
    return None


# --------------------------------------------------------------------------- text
def since(t: datetime | None, ref: datetime | None = None) -> str:
    if t is None:
        return "-"
    s = max(0, int(((ref or now()) - t).total_seconds()))
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            n = s // size
            return f"{n} {unit}{'s' if unit == 'day' and n > 1 else ''} ago"
    return "just now"


def _when(t: datetime | None) -> str:
    return t.astimezone().strftime("%Y-%m-%d %H:%M") if t else "-"


def format_progress(p: Progress, ref: datetime | None = None) -> str:
    rows = [("", "lesson", "exercises", "last attempt", "since", "hints", "from", "status")]
    for lid, lp in p.lessons.items():
        if lp.info.planned:
            continue
        a = lp.attempt
        ex = f"{len(lp.passed)}/{len(lp.exercises)}" if lp.exercises else "-"
        rows.append((STATUS_MARK[lp.status], f"{lid} {lp.info.title}", ex, _when(a.at if a else None),
                     since(a.at if a else None, ref), str(lp.hint_total) if lp.hint_total else "-",
                     SOURCE_NAMES.get(a.source, a.source) if a else "-", STATUS_TEXT[lp.status]))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(widths[k]) for k, c in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    planned = [lid for lid, lp in p.lessons.items() if lp.info.planned]
    if planned:
        lines.append(f"planned, not yet written: {', '.join(planned)}")
    done = sum(1 for lp in p.lessons.values() if lp.status == "done")
    skipped = [lid for lid, lp in p.lessons.items() if lp.status == "placed"]
    avail = sum(1 for lp in p.lessons.values() if lp.info.available)
    lines.append("")
    lines.append(f"{done} of {avail} lessons done" + (f"; skipped after placement: {', '.join(skipped)}" if skipped else ""))
    hinted = [(lid, ex, n) for lid, lp in p.lessons.items() for ex, n in lp.hints.items()]
    if hinted:
        lines.append("hints used (counted, never penalised): " +
                     ", ".join(f"{lid} {ex}" + (f" ×{n}" if n > 1 else "") for lid, ex, n in hinted))
    lines.append(next_line(p))
    lines += [f"  source: {s}" for s in p.sources]
    return "\n".join(lines)


def next_line(p: Progress) -> str:
    if p.next:
        info = p.syllabus.lessons[p.next]
        started = p.lessons[p.next].status == "started"
        from course.learner.workspace import notebook_path, shown

        return (f"next: {'continue ' if started else ''}{info.id} {info.title} (~{_hours(info.minutes)}): "
                f"{shown(notebook_path(info.slug, p.root), p.root)}")
    planned = [lid for lid, lp in p.lessons.items() if lp.info.planned]
    if all(_satisfied(lp) for lp in p.lessons.values() if lp.info.available):
        return "next: every lesson that exists is done" + (f"; coming: {', '.join(planned)}" if planned else "")
    return "next: nothing is unlocked (a prerequisite is planned but not written yet)"


def _hours(minutes: int) -> str:
    return f"{minutes} min" if minutes < 90 else f"{minutes / 60:.1f} h".replace(".0 h", " h")


# --------------------------------------------------------------------------- pictures
def plot_progress(p: Progress, path: Path) -> Path:
    """A horizontal bar per lesson: the share of exercises passed, coloured by status."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [lp for lp in p.lessons.values() if lp.info.available]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(shown) + 1.6))
    for y, lp in enumerate(reversed(shown)):
        total = max(1, len(lp.exercises))
        frac = 1.0 if lp.status == "placed" else len(lp.passed) / total
        # the track is an empty outline (white inside), so a lesson with nothing passed reads as empty;
        # only the passed share is filled
        ax.barh(y, 1, color="white", edgecolor="#78909c", linewidth=0.8, zorder=1)
        if frac > 0:
            ax.barh(y, frac, color=STATUS_COLOUR[lp.status], edgecolor="#90a4ae", zorder=2)
        note = f"{len(lp.passed)}/{len(lp.exercises)}  {STATUS_TEXT[lp.status]}"
        if lp.attempt:
            note += f" · {since(lp.attempt.at)}"
        if lp.hint_total:
            note += f" · {lp.hint_total} hint{'s' if lp.hint_total > 1 else ''}"
        ax.text(1.02, y, note, va="center", fontsize=9)
    ax.set_yticks(range(len(shown)), [f"{lp.info.id} {lp.info.title}" for lp in reversed(shown)], fontsize=9)
    ax.set_xlim(0, 1.6)
    ax.set_xticks([0, 0.5, 1], ["0", "50%", "100%"])
    ax.set_xlabel("share of the lesson's exercises passed (filled); the outline is the whole lesson", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    title = "Your progress"
    if p.next:
        title += f" — next: {p.next} {p.syllabus.lessons[p.next].title}"
    ax.set_title(title, fontsize=11, loc="left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- a lesson's last cell
@dataclass
class LessonSummary:
    """What the summary cell at the end of a lesson shows. Jupyter renders it as Markdown."""

    progress: LessonProgress
    next: str | None
    next_title: str = ""
    error: str = ""

    def rows(self) -> list[tuple[str, str, str]]:
        lp = self.progress
        got = lp.attempt.exercises if lp.attempt else {}
        out = []
        for ex in lp.exercises:
            result = "pass" if got.get(ex) else ("fail" if ex in got else "not run")
            n = lp.hints.get(ex, 0)
            out.append((ex, result, f"{n}" if n else ""))
        return out

    def headline(self) -> str:
        lp = self.progress
        a = lp.attempt
        head = f"{lp.info.id} {lp.info.title}: {len(lp.passed)} of {len(lp.exercises)} exercises pass"
        if a:
            head += (f" (last attempt {_when(a.at)}, {since(a.at)}, from the {SOURCE_NAMES.get(a.source, a.source)}"
                     + (", as of its last save" if a.source == "notebook" else "") + ")")
        else:
            head += (" (no results yet: run the test cells and save, `bootcamp check "
                     f"{lp.info.id}`, or `bootcamp submit {lp.info.id}`)")
        return head

    def tail(self) -> list[str]:
        lp = self.progress
        lines = []
        if lp.hint_total:
            lines.append(f"hints used: {lp.hint_total} (counted, never penalised)")
        if self.next:
            lines.append(f"next: {self.next} {self.next_title}" + (" (this one)" if self.next == lp.info.id else ""))
        return lines

    def __str__(self) -> str:
        if self.error:
            return self.error
        rows = [("exercise", "result", "hints")] + self.rows()
        w = [max(len(r[k]) for r in rows) for k in range(3)]
        table = ["  " + "  ".join(c.ljust(w[k]) for k, c in enumerate(r)).rstrip() for r in rows]
        return "\n".join([self.headline(), *table, *self.tail()])

    def _repr_markdown_(self) -> str:
        if self.error:
            return self.error
        lines = [f"**{self.headline()}**", "", "| exercise | result | hints |", "|---|---|---|"]
        marks = {"pass": "✅ pass", "fail": "❌ fail", "not run": "⬜ not run"}
        lines += [f"| `{ex}` | {marks[r]} | {h} |" for ex, r, h in self.rows()]
        tail = self.tail()
        return "\n".join(lines + ([""] + [f"{t}  " for t in tail] if tail else []))

    __repr__ = __str__


def lesson_summary(lesson: str, root: Path = ROOT, use_service: bool = True, timeout: float = 2.0):
    """The summary cell at the end of every lesson: ``from course.learner.progress import lesson_summary;
    lesson_summary("0.1")``. Shows the same as ``bootcamp progress`` for that one lesson. It
    never raises: a notebook's last cell must not fail (in CI, in the grading sandbox).

    In JupyterLab it also shows a "Submit for grading" button (course/learner/jupyter.py)."""
    _show_submit_button(lesson)
    try:
        use_service = use_service and not os.environ.get("BOOTCAMP_NO_SERVICE")
        p = collect(root, use_service=use_service, timeout=timeout)
        info = p.syllabus.lesson(lesson)
        nxt = p.next
        return LessonSummary(p.lessons[info.id], nxt, p.syllabus.lessons[nxt].title if nxt else "")
    except Exception as err:
        dummy = LessonProgress(LessonInfo(str(lesson), "", str(lesson), 0, (), ""), [])
        return LessonSummary(dummy, None, error=f"(progress for {lesson} is not available here: {err})")


def _show_submit_button(lesson: str) -> None:
    """Only in a kernel that a Jupyter server started: never in `bootcamp check` or the grader."""
    if not os.environ.get("JPY_SESSION_NAME"):
        return
    try:
        from IPython.display import display

        from course.learner.jupyter import submit_button

        button = submit_button(lesson)
        if button is not None:
            display(button)
    except Exception:  # noqa: BLE001  (the summary must still show)
        pass
