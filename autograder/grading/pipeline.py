"""Grading one notebook: nbgrader's preprocessors, with the sandbox as one more step.

The pipeline, in the order a submission flows through it (each step one job, as in
nbgrader's own autograde):

1. ``RestoreReleasedMetadata``: every cell's nbgrader flags are the release's (a flipped flag is
   restored and flagged); then ``CheckCellMetadata`` (nbgrader): the metadata is well formed.
2. ``TrustedOverwriteCells`` (nbgrader's ``OverwriteCells``): every cell that carries a
   grade_id is compared with the *released* notebook (exercises/): cell type, locked
   status, points and, for locked cells, the checksum. A change is restored and recorded
   as tampering (nbgrader only logs it, and compares test cells with the hidden-test
   version, so it warns on every clean submission).
3. ``RestoreHiddenTests``: each graded test cell gets its full source from the lesson's
   single source (solutions/), hidden tests included; a test cell missing from the
   submission is recorded as deleted (it scores 0, it is not re-added).
4. ``ClearOutput`` (nbgrader).
5. ``SandboxExecute``: the learner's cells run in the learner process, the test cells in
   the trusted test process (see autograder.grading.sandbox).
6. ``LimitOutput`` (nbgrader): output is capped.
7. ``grade``: nbgrader's ``determine_grade`` on each test cell, except that text on
   stderr (a warning) is not an error; then deleted cells, patched helpers and a
   timed-out notebook score 0.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbconvert.exporters.exporter import ResourcesDict
from nbgrader import utils as nbutils
from nbgrader.api import MissingEntry
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, LimitOutput, OverwriteCells
from nbgrader.preprocessors.base import NbGraderPreprocessor

from autograder.grading.sandbox import RunOutcome, Zygote
from autograder.settings import Settings
from course.authoring.lessons import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    Lesson,
    LessonError,
    all_lessons,
    exercise_of,
    find_lesson,
    read_source,
)

log = logging.getLogger("autograder.grading.pipeline")


class SubmissionError(Exception):
    """The notebook cannot be accepted (the API answers 4xx with this one line)."""


# --------------------------------------------------------------------------- what a lesson is graded against
@dataclass
class _SourceCell:
    name: str
    cell_type: str
    locked: bool
    checksum: str
    source: str
    max_score: float = 0.0


@dataclass
class LessonSpec:
    lesson: Lesson
    release: nbformat.NotebookNode  # the learner's starting point, with nbgrader checksums
    tests: dict[str, str]  # grade_id -> full test source, hidden tests included
    points: dict[str, float]  # grade_id -> points
    order: list[str]  # graded test ids in notebook order
    trusted_imports: str  # the import statements of the released notebook's non-solution cells
    hidden_lines: set[str]
    release_dir: Path
    mtime: float
    mode: str | None = None  # "split", "mixed" or "shared", once calibrated (Grader.mode_for)
    shared_tests: frozenset[str] = frozenset()  # mode "mixed": the test cells that run in the learner's process
    solution_seconds: float | None = None  # the lesson's own solution, run in the sandbox at calibration

    def wall_limit(self, settings: Settings) -> float:
        """The notebook's wall-clock limit: a slow lesson gets the time its own solution needs."""
        if self.solution_seconds is None:
            return settings.wall_seconds
        return max(settings.wall_seconds, min(settings.max_wall_seconds, settings.wall_factor * self.solution_seconds))

    @property
    def max_score(self) -> float:
        return float(sum(self.points.values()))


class Catalogue:
    """The lessons of the course directory, and what each is graded against (cached)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = Path(settings.course_dir)
        self._specs: dict[str, LessonSpec] = {}
        self._lock = threading.Lock()

    def lessons(self) -> list[Lesson]:
        return all_lessons(self.root)

    def find(self, name: str) -> Lesson:
        try:
            return find_lesson(str(name), self.root)
        except LessonError as err:
            raise SubmissionError(f"unknown lesson {name!r}") from err

    def spec(self, slug: str) -> LessonSpec:
        lesson = self.find(slug)
        with self._lock:
            mtime = lesson.source.stat().st_mtime
            cached = self._specs.get(lesson.slug)
            if cached and cached.mtime == mtime:
                return cached
            spec = build_spec(lesson, self.settings)
            self._specs[lesson.slug] = spec
            return spec


def build_spec(lesson: Lesson, settings: Settings) -> LessonSpec:
    from course.authoring.lessons import build

    release_path = lesson.exercise_notebook
    if not release_path.is_file():
        # exercises/ is committed for real lessons; build it for a course that has none
        build([lesson], root=lesson.root, release_dir=settings.data_path / "release")
        release_path = settings.data_path / "release" / lesson.slug / f"{lesson.slug}.ipynb"
    release = nbformat.read(str(release_path), as_version=4)
    source = read_source(lesson.source)
    tests, points, order, hidden = {}, {}, [], set()
    for cell in source.cells:
        nbg = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and nbg.get("grade") and not nbg.get("solution"):
            gid = nbg["grade_id"]
            tests[gid] = cell.source
            points[gid] = float(nbg["points"])
            order.append(gid)
            inside = False
            for line in cell.source.splitlines():
                if HIDDEN_BEGIN in line:
                    inside = True
                elif HIDDEN_END in line:
                    inside = False
                elif inside and len(line.strip()) >= 8:
                    hidden.add(line.strip())
    # A hidden line the released notebook already shows (``model.train()`` in a visible hint)
    # is no secret: a visible test's message that quotes it is shown, not scrubbed.
    public = "\n".join(str(cell.source) for cell in release.cells)
    hidden = {line for line in hidden if line not in public}
    imports = []
    for cell in release.cells:
        nbg = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or nbg.get("solution") or nbg.get("grade"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        imports += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return LessonSpec(lesson, release, tests, points, order, "\n".join(dict.fromkeys(imports)), hidden,
                      release_path.parent, lesson.source.stat().st_mtime)


# --------------------------------------------------------------------------- validation (the API's step)
def lesson_mismatch(nb, spec: LessonSpec, lesson_id: str) -> str | None:
    """Why ``nb`` is not a notebook of ``spec``'s lesson, or None. A notebook says which lesson it
    is (``metadata.course.id``, set when the course is built); one without that must have more of
    the lesson's graded cells than of any other's: a grade id shared by two lessons is not enough."""
    course = nb.metadata.get("course") if isinstance(nb.metadata, dict) else None
    claimed = course.get("id") if isinstance(course, dict) else None
    if isinstance(claimed, str) and claimed != lesson_id:
        return f"this notebook is lesson {claimed[:20]}'s, not lesson {lesson_id}'s"

    def ids(cells):
        out = set()
        for c in cells:
            nbg = c.get("metadata", {}).get("nbgrader") if isinstance(c.get("metadata"), dict) else None
            gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
            if isinstance(gid, str):
                out.add(gid)
        return out

    mine, theirs = ids(nb.cells), ids(spec.release.cells)
    if not mine & theirs:
        return f"this notebook is not lesson {lesson_id}'s: none of its graded cells are in it"
    if len(mine - theirs) > len(mine & theirs):
        return (f"this notebook is not lesson {lesson_id}'s: {len(mine - theirs)} of its graded cells are not in the "
                f"lesson, {len(mine & theirs)} are")
    return None


def parse_notebook(raw: bytes, max_bytes: int) -> nbformat.NotebookNode:
    if len(raw) > max_bytes:
        raise SubmissionError(f"the notebook is {len(raw)} bytes; the limit is {max_bytes}")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SubmissionError(f"the notebook is not JSON ({type(err).__name__})") from err
    return validate_notebook(data)


def validate_notebook(data) -> nbformat.NotebookNode:
    if not isinstance(data, dict) or "cells" not in data:
        raise SubmissionError("not a notebook: a JSON object with 'cells' is expected")
    if data.get("nbformat") != 4:
        raise SubmissionError(f"nbformat {data.get('nbformat')!r} is not supported; version 4 is")
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)  # joins multi-line sources, upgrades 4.x
        nbformat.validate(nb)
    except Exception as err:  # nbformat.ValidationError and malformed structures
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise SubmissionError(f"not a valid nbformat 4 notebook: {first}") from err
    return nb


# --------------------------------------------------------------------------- the preprocessors
class _ReleaseGradebook:
    """What OverwriteCells asks nbgrader's Gradebook, answered from the released notebook."""

    def __init__(self, release):
        self.cells: dict[str, _SourceCell] = {}
        for cell in release.cells:
            nbg = cell.metadata.get("nbgrader", {})
            gid = nbg.get("grade_id")
            if not gid:
                continue
            checksum = nbg.get("checksum") or nbutils.compute_checksum(cell)
            self.cells[gid] = _SourceCell(gid, cell.cell_type, bool(nbg.get("locked")), checksum, cell.source,
                                          float(nbg.get("points", 0) or 0))

    def find_source_cell(self, grade_id, notebook_id, assignment_id):
        if grade_id not in self.cells:
            raise MissingEntry()
        return self.cells[grade_id]

    find_graded_cell = find_source_cell


_FLAG_KEYS = ("grade", "solution", "locked", "task", "points", "grade_id", "schema_version")


class _SchemaCheckedOnce(BaseMetadataValidator):
    """nbgrader's per-cell schema check, with the schema itself checked once instead of in every
    cell (``jsonschema.validate`` does both: 2 ms a cell, 40 ms of a 0.4 s grading, held under the
    worker's GIL, so its slots waited on each other; issue 25). Other schema versions: nbgrader's own."""

    def __init__(self) -> None:
        super().__init__()
        import jsonschema

        cls = jsonschema.validators.validator_for(self.schema)
        cls.check_schema(self.schema)
        self._validator = cls(self.schema)

    def validate_cell(self, cell) -> None:
        meta = cell.metadata.get("nbgrader")
        if meta is None or meta.get("schema_version", 0) != self.schema_version:
            return super().validate_cell(cell)
        import jsonschema

        error = jsonschema.exceptions.best_match(self._validator.iter_errors(meta))
        if error is not None:
            raise error


class _CellMetadataValidator(MetadataValidator, _SchemaCheckedOnce):
    """nbgrader's checks, in its order (its own ``validate_cell`` calls the schema check above first)."""


_metadata_validator: _CellMetadataValidator | None = None


class CheckCellMetadataOnce(CheckCellMetadata):
    """nbgrader's ``CheckCellMetadata``, with one validator for every grading (it is stateless)."""

    def preprocess(self, nb, resources):
        global _metadata_validator
        if _metadata_validator is None:
            _metadata_validator = _CellMetadataValidator()
        _metadata_validator.validate_nb(nb)
        return nb, resources


class RestoreReleasedMetadata(NbGraderPreprocessor):
    """A cell's nbgrader metadata is the release's, whatever the submission says (issue 16, class 6).

    A learner who flips a test cell's ``grade`` or ``solution`` flag, or turns an answer cell into a
    graded one, would otherwise make nbgrader's checksum step fail the whole submission, or score a cell
    the release never graded. Cells with a released grade id get the released metadata back; nbgrader
    metadata that is not an object, or that names no released cell yet claims to be graded, a solution or
    locked, is dropped (the cell stays, as an ordinary cell of the learner's). Each change is recorded.
    """

    def preprocess(self, nb, resources):
        import copy

        released = {}
        for cell in resources["bootcamp"]["spec"].release.cells:
            md = cell.metadata.get("nbgrader")
            if isinstance(md, dict) and isinstance(md.get("grade_id"), str):
                released.setdefault(md["grade_id"], (cell.cell_type, md))
        changes = resources["bootcamp"].setdefault("changes", [])
        for i, cell in enumerate(nb.cells):
            if "nbgrader" not in cell.metadata:
                continue
            md = cell.metadata["nbgrader"]
            gid = md.get("grade_id") if isinstance(md, dict) else None
            if isinstance(gid, str) and gid in released and released[gid][0] == cell.cell_type:
                want = released[gid][1]
                if any(md.get(k) != want.get(k) for k in _FLAG_KEYS):
                    cell.metadata["nbgrader"] = copy.deepcopy(want)
                    changes.append((gid, "nbgrader flags"))
                continue
            if not isinstance(md, dict) or any(md.get(k) for k in ("grade", "solution", "locked")):
                del cell.metadata["nbgrader"]
                changes.append((f"cell {i}" if not isinstance(gid, str) else gid, "nbgrader metadata"))
        return nb, resources


class TrustedOverwriteCells(OverwriteCells):
    """nbgrader's OverwriteCells against the released notebook; every change is recorded."""

    def preprocess(self, nb, resources):
        self.gradebook = resources["bootcamp"]["release_gradebook"]
        self.notebook_id = self.assignment_id = resources["nbgrader"]["notebook"]
        self.changes = resources["bootcamp"].setdefault("changes", [])
        return NbGraderPreprocessor.preprocess(self, nb, resources)

    def report_change(self, name, attr, old, new):
        self.changes.append((name, attr))
        super().report_change(name, attr, old, new)


class RestoreHiddenTests(NbGraderPreprocessor):
    """Graded test cells get their full, trusted source; missing ones are recorded."""

    def preprocess(self, nb, resources):
        spec: LessonSpec = resources["bootcamp"]["spec"]
        seen = set()
        for cell in nb.cells:
            nbg = cell.metadata.get("nbgrader", {})
            gid = nbg.get("grade_id")
            if cell.cell_type == "code" and nbg.get("grade") and gid in spec.tests and gid not in seen:
                cell.source = spec.tests[gid]
                nbg["points"] = spec.points[gid]
                seen.add(gid)
            elif nbg.get("grade") and gid in seen:  # a duplicate of a test cell: it is not a test
                nbg["grade"] = False
        resources["bootcamp"]["deleted"] = [gid for gid in spec.order if gid not in seen]
        return nb, resources


class SandboxExecute(NbGraderPreprocessor):
    """Run the notebook's code cells in the sandbox; fill in their outputs."""

    def preprocess(self, nb, resources):
        b = resources["bootcamp"]
        spec: LessonSpec = b["spec"]
        settings: Settings = b["settings"]
        cells = []
        visible = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in (spec.release or {}).get("cells", [])
                   if c.get("cell_type") == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade")}
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            nbg = cell.metadata.get("nbgrader", {})
            test = bool(nbg.get("grade")) and not nbg.get("solution") and nbg.get("grade_id") in spec.tests
            cells.append({"index": i, "kind": "test" if test else "code", "source": cell.source,
                          "in_learner": test and b["mode"] == "mixed" and nbg.get("grade_id") in b["shared"],
                          # what the learner's own notebook has of this test (never a hidden line): its
                          # definitions that later cells of the learner's use are run in L too (tests.py)
                          "visible": visible.get(nbg.get("grade_id"), "") if test else ""})
        job = {
            "slot": b["slot"], "uid_base": settings.sandbox_uid_base,
            "cpu_seconds": max(settings.cpu_seconds, int(2 * b["wall_seconds"])), "memory_bytes": settings.memory_bytes,
            "max_processes": settings.max_processes, "max_file_bytes": settings.max_file_bytes,
            "scratch_bytes": settings.scratch_bytes, "output_bytes": settings.output_bytes,
            "trusted_imports": spec.trusted_imports, "files_from": str(spec.release_dir), "mode": b["mode"],
            "hide": hidden_paths(settings), "fallback_scratch": str(b["fallback_scratch"]),
        }
        outcome: RunOutcome = b["zygote"].run(job, cells, b["wall_seconds"])
        for i, ev in outcome.cells.items():
            nb.cells[i].outputs = [nbformat.from_dict(o) for o in ev.get("outputs", [])]
            nb.cells[i].execution_count = i
        b["outcome"] = outcome
        return nb, resources


def hidden_paths(settings: Settings) -> list[str]:
    """What the sandbox must not see: every lesson source, the service's data, other course files."""
    from autograder.settings import REPO_ROOT

    paths = {Path(settings.course_dir) / "solutions", settings.data_path, REPO_ROOT / "solutions",
             REPO_ROOT / ".bootcamp", REPO_ROOT / ".git", Path(settings.course_dir) / ".git"}
    if settings.db_url.startswith("sqlite:///"):
        paths.add(Path(settings.db_url[len("sqlite:///"):]).parent)
    return sorted(str(p.resolve()) for p in paths if p.exists())


# --------------------------------------------------------------------------- the grade
@dataclass
class ExerciseOutcome:
    position: int
    exercise: str
    grade_id: str
    points: float
    max_points: float
    passed: bool
    status: str
    message: str


@dataclass
class GradeReport:
    status: str  # graded | timed_out | failed
    score: float
    max_score: float
    message: str
    results: list[ExerciseOutcome]
    flags: list[tuple[str, str]] = field(default_factory=list)
    execution_seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of the sandbox's two processes over the cells
    grading_seconds: float = 0.0
    isolation: dict = field(default_factory=dict)
    notebook: nbformat.NotebookNode | None = None


def _scrub(text: str, hidden: set[str]) -> str:
    for line in hidden:
        if line in text:
            return "a hidden test failed (its details are not shown)"
    return text


def _message(outputs, spec: LessonSpec, chars: int) -> tuple[str, str]:
    err = next((o for o in outputs if o.get("output_type") == "error"), None)
    if err is None:
        return "pass", ""
    ename, evalue = err.get("ename", ""), (err.get("evalue") or "").strip()
    if ename == "NotImplementedError":
        return "todo", "not implemented yet"
    if ename in ("CheckFailure",):
        text = evalue
    elif ename == "AssertionError" and not evalue:
        text = "a test assertion failed"
    else:
        text = f"{ename}: {evalue}" if evalue else ename
    status = "fail" if ename in ("CheckFailure", "AssertionError") else "error"
    text = _scrub(text, spec.hidden_lines)
    return status, text[:chars]


def grade(nb, resources, settings: Settings) -> GradeReport:
    b = resources["bootcamp"]
    spec: LessonSpec = b["spec"]
    outcome: RunOutcome = b["outcome"]
    flags: list[tuple[str, str]] = []
    tampered = sorted({name for name, _attr in b.get("changes", []) if name in spec.tests})
    for name in tampered:
        attrs = sorted({a for n, a in b.get("changes", []) if n == name})
        flags.append(("tampered_test_cell", f"test cell {name} was changed ({', '.join(attrs)}); "
                                            "the released version was restored and graded"))
    for name in b.get("deleted", []):
        flags.append(("deleted_test_cell", f"test cell {name} was deleted; it scores 0"))
    patch_from: int | None = None
    for index, names in outcome.patched + [(i, [f"`{n}` rebound" for n in r]) for i, r in outcome.rebound]:
        flags.append(("patched_helper", f"cell {index + 1} replaced what tests rely on: {', '.join(names[:8])}"))
        patch_from = index if patch_from is None else min(patch_from, index)

    index_of = {}
    for i, cell in enumerate(nb.cells):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade") and gid in spec.tests:
            index_of.setdefault(gid, i)

    results = []
    timed_out = outcome.status == "timeout"
    wall = round(b["wall_seconds"], 1)
    for pos, gid in enumerate(spec.order):
        maxp = spec.points[gid]
        ex = exercise_of(gid)

        def res(points, passed, status, message, _gid=gid, _pos=pos, _ex=ex, _maxp=maxp):
            return ExerciseOutcome(_pos, _ex, _gid, points, _maxp, passed, status, message)

        if gid not in index_of:
            results.append(res(0.0, False, "deleted", "the test cell was deleted from the notebook: it scores 0"))
            continue
        i = index_of[gid]
        cell = nb.cells[i]
        ran = i in outcome.cells
        if timed_out:
            results.append(res(0.0, False, "timed out",
                               f"the notebook did not finish within {wall:g} s (stopped in cell "
                               f"{(outcome.index or 0) + 1}; an infinite loop?): nothing scores"))
            continue
        if not ran:
            why = outcome.reason or "an earlier cell stopped the notebook"
            results.append(res(0.0, False, "not run", f"this test did not run: {why}"))
            continue
        if patch_from is not None and i > patch_from:
            results.append(res(0.0, False, "patched", "code before this test replaced functions that tests rely on "
                                                      "(assertion helpers or imports): it scores 0"))
            continue
        graded = nbformat.from_dict(dict(cell))
        # Warnings on stderr do not zero a correct answer; and no partial credit from a value the
        # cell displays (nbgrader reads a number there as points, and the value can come from the
        # learner's code, e.g. the exception returned by checks.assert_raises): pass or fail only.
        graded.outputs = [o for o in cell.outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
                          and o.get("output_type") != "execute_result"]
        points, _ = nbutils.determine_grade(graded, log)
        status, message = _message(cell.outputs, spec, settings.message_chars)
        points = float(points or 0.0)
        if status != "pass":
            points = 0.0
        results.append(res(points, status == "pass" and points > 0, status, message))

    score = sum(r.points for r in results)
    if timed_out:
        status, message = "timed_out", (f"timed out: the notebook did not finish within {wall:g} s "
                                         f"(stopped in cell {(outcome.index or 0) + 1})")
    elif outcome.status in ("crashed", "error"):
        status, message = "graded", f"the notebook stopped in cell {(outcome.index or 0) + 1}: {outcome.reason}"
    else:
        status, message = "graded", ""
    return GradeReport(status, score, spec.max_score, message, results, flags,
                       execution_seconds=outcome.seconds, cpu_seconds=outcome.cpu_seconds,
                       isolation=outcome.isolation, notebook=nb)


class Grader:
    """One per worker process: the catalogue, the zygote and the pipeline."""

    def __init__(self, settings: Settings, zygote: Zygote | None = None):
        self.settings = settings
        self.catalogue = Catalogue(settings)
        self.zygote = zygote or Zygote([m.strip() for m in settings.warm_imports.split(",") if m.strip()])
        self.scratch = settings.data_path / "scratch"
        self._calibrating = threading.Lock()

    def start(self) -> None:
        if self.zygote.proc is None:
            self.zygote.warm_imports = list(dict.fromkeys(self.zygote.warm_imports + self.lesson_imports()))
            self.zygote.start()

    def lesson_imports(self) -> list[str]:
        """Every module a lesson imports at top level: imported once by the zygote, not per notebook."""
        names: list[str] = []
        for lesson in self.catalogue.lessons():
            try:
                spec = self.catalogue.spec(lesson.slug)
            except Exception as err:  # a broken lesson must not stop the worker
                log.warning("lesson %s: %s", lesson.slug, err)
                continue
            for node in ast.parse(spec.trusted_imports).body:
                if isinstance(node, ast.Import):
                    names += [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.append(node.module)
        return names

    def stop(self) -> None:
        self.zygote.stop()

    def mode_for(self, spec: LessonSpec, slot: int = 0) -> str:
        """Where each test of a lesson runs, measured on the lesson's own solution.

        "split": every test runs in the separate test process. "mixed": the tests that the
        solution fails only because they need the learner's objects in the test (autograd
        through a learner's module, in-place changes to the test's own objects) run in the
        learner's process, and only those (``spec.shared_tests``); the choice is the lesson's,
        made once per worker, never the learner's. "shared": every test runs in the learner's
        process (when even the mixed run does not give the solution full marks).
        """
        if self.settings.grading_mode in ("split", "shared"):
            return self.settings.grading_mode
        with self._calibrating:
            if spec.mode is None and not self._load_calibration(spec):
                raw = json.dumps(solved_notebook(spec.lesson, spec.release)).encode()
                report = self._grade(spec, raw, slot, "split", wall=self.settings.max_wall_seconds)
                if report.status == "graded" and report.execution_seconds:
                    # CPU time, not wall time: a CPU burner running elsewhere while the lesson calibrates
                    # slows the solution's wall clock, not its CPU time, so it cannot raise the lesson's
                    # limit for everyone (issue 16, class 5); wall time only where no CPU time came back
                    spec.solution_seconds = min(report.cpu_seconds, report.execution_seconds) \
                        if report.cpu_seconds > 0 else report.execution_seconds
                full = report.status == "graded" and report.score == report.max_score
                failed = [r for r in report.results if not r.passed]
                if full:
                    spec.mode = "split"
                elif report.status == "graded":
                    shared = frozenset(r.grade_id for r in failed)
                    spec.mode = "shared"
                    for _ in range(3):  # a test that failed only after another one moved: move it too
                        again = self._grade(spec, raw, slot, "mixed", wall=self.settings.max_wall_seconds,
                                            shared=shared)
                        if again.status != "graded":
                            break
                        if again.score == again.max_score:
                            spec.mode, spec.shared_tests = "mixed", shared
                            break
                        more = frozenset(r.grade_id for r in again.results if not r.passed) - shared
                        if not more:
                            break
                        shared |= more
                else:
                    spec.mode = "shared"
                self._save_calibration(spec)
                if spec.mode != "split":
                    log.warning("lesson %s: %s test(s) run in the learner's process (%s); in a separate one the "
                                "solution fails %s", spec.lesson.slug,
                                len(spec.shared_tests) if spec.mode == "mixed" else "all", spec.mode,
                                "; ".join(f"{r.exercise} ({r.message.splitlines()[0][:80] if r.message else r.status})"
                                          for r in failed[:5]))
            return spec.mode

    # Calibration runs the solution up to four times: its result is kept in the data directory
    # (out of the sandbox's sight), keyed by the lesson and the grading code, so workers that
    # start later on this machine do not make the first learner of each lesson wait for it.
    def _calibration_key(self, spec: LessonSpec) -> str:
        import hashlib

        from autograder.grading import sandbox

        h = hashlib.sha256()
        code = [p.read_bytes() for p in sorted(Path(sandbox.__file__).parent.glob("*.py"))]
        for part in (spec.lesson.source.read_bytes(), json.dumps(spec.release, sort_keys=True).encode(),
                     *code, Path(__file__).read_bytes()):
            h.update(hashlib.sha256(part).digest())
        return h.hexdigest()

    def _load_calibration(self, spec: LessonSpec) -> bool:
        try:
            data = json.loads((self.settings.data_path / "calibration.json").read_text())[spec.lesson.slug]
            if data["key"] != self._calibration_key(spec) or data["mode"] not in ("split", "mixed", "shared"):
                return False
            seconds = data.get("solution_seconds")
            spec.solution_seconds = float(seconds) if seconds is not None else None
            spec.shared_tests = frozenset(str(g) for g in data.get("shared_tests", []))
            spec.mode = data["mode"]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return True

    def _save_calibration(self, spec: LessonSpec) -> None:
        import fcntl
        import os

        path = self.settings.data_path / "calibration.json"
        try:
            with open(path.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    data = json.loads(path.read_text())
                    if type(data) is not dict:
                        data = {}
                except (OSError, ValueError):
                    data = {}
                data[spec.lesson.slug] = {"key": self._calibration_key(spec), "mode": spec.mode,
                                          "shared_tests": sorted(spec.shared_tests),
                                          "solution_seconds": spec.solution_seconds}
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(data, indent=1))
                os.replace(tmp, path)
        except OSError as err:
            log.warning("could not keep the calibration of %s: %s", spec.lesson.slug, err)

    def grade_bytes(self, lesson: str, raw: bytes, slot: int = 0) -> GradeReport:
        spec = self.catalogue.spec(lesson)
        mode = self.mode_for(spec, slot)
        return self._grade(spec, raw, slot, mode, shared=spec.shared_tests)

    def _grade(self, spec: LessonSpec, raw: bytes, slot: int, mode: str, wall: float | None = None,
               shared: frozenset[str] = frozenset()) -> GradeReport:
        start = time.perf_counter()
        nb = validate_notebook(json.loads(raw))
        fallback = self.scratch / f"slot-{slot}"
        resources = ResourcesDict()
        resources.update({
            "nbgrader": {"notebook": spec.lesson.slug, "assignment": spec.lesson.slug, "db_url": None},
            "bootcamp": {"spec": spec, "settings": self.settings, "zygote": self.zygote, "slot": slot, "mode": mode,
                         "shared": shared if mode == "mixed" else frozenset(),
                         "wall_seconds": wall or spec.wall_limit(self.settings),
                         "release_gradebook": _ReleaseGradebook(spec.release), "fallback_scratch": fallback},
        })
        changes = resources["bootcamp"].setdefault("changes", [])
        nb, resources = RestoreReleasedMetadata().preprocess(nb, resources)
        try:
            nb, resources = CheckCellMetadataOnce().preprocess(nb, resources)
        except Exception:
            changes.append(("(notebook)", "nbgrader metadata"))
        for step in (TrustedOverwriteCells(), RestoreHiddenTests(), ClearOutput(), SandboxExecute(),
                     LimitOutput(max_lines=200, max_traceback=20)):
            nb, resources = step.preprocess(nb, resources)
        report = grade(nb, resources, self.settings)
        if ("(notebook)", "nbgrader metadata") in changes:
            report.flags.append(("tampered_metadata", "the notebook's nbgrader metadata did not validate"))
        for name, attr in changes:
            if attr == "nbgrader flags":
                report.flags.append(("tampered_metadata", f"{name}: its nbgrader flags differed from the release's; "
                                                          "the released ones were restored"))
            elif attr == "nbgrader metadata" and name != "(notebook)":
                report.flags.append(("tampered_metadata", f"{name}: nbgrader metadata the release does not have "
                                                          "was dropped"))
        report.grading_seconds = time.perf_counter() - start
        if mode == "mixed":
            in_learner = [r.exercise for r in report.results if r.grade_id in shared]
            report.isolation["tests"] = (f"separate process, except {len(in_learner)} of {len(report.results)} "
                                         f"in the learner process ({', '.join(in_learner)})")
            report.isolation["tests_in_learner_process"] = sorted(shared)
        else:
            report.isolation["tests"] = "separate process" if mode == "split" else "learner process"
        return report


def solved_notebook(lesson: Lesson, release=None) -> nbformat.NotebookNode:
    """The released notebook with every solution cell filled in from the lesson's source."""
    import copy

    nb = copy.deepcopy(release) if release is not None else nbformat.read(str(lesson.exercise_notebook), as_version=4)
    sol = {c.metadata["nbgrader"]["grade_id"]: c.source for c in read_source(lesson.source).cells
           if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and gid in sol:
            cell.source = "\n".join(line for line in sol[gid].splitlines()
                                    if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
    return nb


def feedback_text(report: GradeReport) -> str:
    lines = [f"score {report.score:g}/{report.max_score:g}" + (f" ({report.message})" if report.message else "")]
    for r in report.results:
        lines.append(f"  {r.exercise:<20} {r.points:g}/{r.max_points:g}  {r.status:<9} {r.message.splitlines()[0] if r.message else ''}")
    return "\n".join(lines)


_SLUG = re.compile(r"^[0-9][0-9A-Za-z._-]*$")
