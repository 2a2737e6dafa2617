"""Lessons: finding them, reading their one source file, and building exercises/.

A lesson is one directory ``solutions/<slug>/`` holding ``<slug>.py``, a jupytext
"percent" script whose cells carry nbgrader metadata. ``bootcamp build`` turns it into
``solutions/<slug>/<slug>.ipynb`` (a build artefact, git-ignored) and then runs nbgrader's
own ``generate_assignment`` to write ``exercises/<slug>/<slug>.ipynb``.

The repository root is the nbgrader course directory (see ``nbgrader_config.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
_MARKERS = re.compile(r"#+\s*(BEGIN|END)\s+(SOLUTION|HIDDEN TESTS)\b")


class LessonError(Exception):
    """A problem with a lesson or its source that an author or learner must fix."""


class LessonNotFound(LessonError):
    pass


@dataclass(frozen=True)
class Lesson:
    slug: str  # directory name and nbgrader assignment id, e.g. "0.1-numpy"
    root: Path = field(default=ROOT, compare=False)

    @property
    def id(self) -> str:
        """The short id the curriculum uses, e.g. "0.1"."""
        return self.slug.split("-", 1)[0]

    @property
    def source(self) -> Path:
        return self.root / "solutions" / self.slug / f"{self.slug}.py"

    @property
    def solution_notebook(self) -> Path:
        return self.root / "solutions" / self.slug / f"{self.slug}.ipynb"

    @property
    def exercise_notebook(self) -> Path:
        return self.root / "exercises" / self.slug / f"{self.slug}.ipynb"

    def metadata(self) -> dict:
        """The ``course:`` block of the source header (title, minutes, prerequisites)."""
        return dict(read_source(self.source).metadata.get("course", {}))

    @property
    def title(self) -> str:
        return str(self.metadata().get("title", self.slug))


def all_lessons(root: Path = ROOT) -> list[Lesson]:
    base = root / "solutions"
    if not base.is_dir():
        return []
    found = [Lesson(d.name, root) for d in base.iterdir() if d.is_dir() and (d / f"{d.name}.py").is_file()]
    return sorted(found, key=lambda lesson: _sort_key(lesson.slug))


def _sort_key(slug: str) -> tuple:
    head = slug.split("-", 1)[0]
    parts = tuple(int(p) if p.isdigit() else 10**6 for p in head.split("."))
    return parts + (slug,)


def did_you_mean(key: str, candidates: dict[str, str]) -> str:
    """"Did you mean X?" for a mistyped name, or "" when nothing is close.

    candidates maps what a learner might have typed (an id, a slug, a slug's name part, an
    exercise name) to what to suggest; a unique substring match wins, else difflib's closest.
    """
    import difflib

    key = key.strip().lower()
    if not key:
        return ""
    hits = sorted({v for k, v in candidates.items() if key in k.lower()})
    if len(hits) != 1:
        close = difflib.get_close_matches(key, [k.lower() for k in candidates], n=3, cutoff=0.6)
        lowered = {k.lower(): v for k, v in candidates.items()}
        hits = list(dict.fromkeys(lowered[c] for c in close))
    return f"Did you mean {' or '.join(hits[:3])}?" if hits else ""


def lesson_names(pairs) -> dict[str, str]:
    """What a learner might type for each (id, slug): the id, the slug and the slug's name ("numpy")."""
    names = {}
    for lid, slug in pairs:
        suggestion = f"{lid} ({slug})"
        names[lid] = names[slug] = names[slug.split("-", 1)[-1]] = suggestion
    return names


def find_lesson(name: str, root: Path = ROOT) -> Lesson:
    """Find a lesson by id ("0.1"), slug ("0.1-numpy") or path to its directory/notebook."""
    lessons = all_lessons(root)
    key = name.strip().rstrip("/")
    p = Path(key)
    if p.suffix in (".ipynb", ".py"):
        key = p.stem
    elif len(p.parts) > 1:
        key = p.name
    for lesson in lessons:
        if key in (lesson.slug, lesson.id):
            return lesson
    listing = "\n".join(f"  {lesson.id:<5} {lesson.slug}" for lesson in lessons) or "  (none)"
    hint = did_you_mean(key, lesson_names((lesson.id, lesson.slug) for lesson in lessons))
    raise LessonNotFound(f"no lesson called {name!r}. The lessons are:\n{listing}"
                         + (f"\n{hint}" if hint else ""))


# --------------------------------------------------------------------------- source
def check_markers(text: str, filename: str) -> None:
    """Raise LessonError naming file and line for an unbalanced or misplaced marker."""
    open_marker: tuple[str, int] | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.startswith("# %%"):
            if open_marker:
                kind, start = open_marker
                raise LessonError(
                    f"{filename}:{start}: '### BEGIN {kind}' is not closed before the next cell "
                    f"(line {lineno}); add '### END {kind}'"
                )
            continue
        m = _MARKERS.search(line)
        if not m:
            continue
        which, kind = m.group(1), m.group(2)
        if which == "BEGIN":
            if open_marker:
                raise LessonError(
                    f"{filename}:{lineno}: '### BEGIN {kind}' inside the '### BEGIN {open_marker[0]}' "
                    f"opened at line {open_marker[1]}; close that one first"
                )
            open_marker = (kind, lineno)
        else:
            if not open_marker:
                raise LessonError(f"{filename}:{lineno}: '### END {kind}' without a matching '### BEGIN {kind}'")
            if open_marker[0] != kind:
                raise LessonError(
                    f"{filename}:{lineno}: '### END {kind}' closes '### BEGIN {open_marker[0]}' "
                    f"opened at line {open_marker[1]}"
                )
            open_marker = None
    if open_marker:
        kind, start = open_marker
        raise LessonError(f"{filename}:{start}: '### BEGIN {kind}' is never closed; add '### END {kind}'")


def read_source(path: Path):
    """Read a lesson source into an nbformat notebook, validating markers and metadata."""
    import jupytext  # lazy: a build-time dependency, not needed to import course

    if not path.is_file():
        raise LessonError(f"{path}: lesson source not found")
    text = path.read_text(encoding="utf-8")
    check_markers(text, str(path))
    try:
        nb = jupytext.reads(text, fmt="py:percent")
    except Exception as err:
        raise LessonError(f"{path}: jupytext could not read it as a percent script: {err}") from err
    _normalise(nb, path)
    return nb


def _normalise(nb, path: Path) -> None:
    """Fill nbgrader's boilerplate metadata so authors write only what matters.

    A solution cell needs ``nbgrader={"solution": true, "grade_id": ...}`` and
    ``exercise={"difficulty": 1-5, "importance": 1-5, "minutes": N}``; a graded test
    cell needs ``nbgrader={"grade": true, "grade_id": ..., "points": N}``.
    """
    nb.metadata.pop("jupytext", None)
    # Cell ids must not change from one build to the next, or exercises/ would always be
    # "stale": name graded cells after their grade_id and the rest after their content.
    used: set[str] = set()
    for cell in nb.cells:
        cell.metadata.pop("lines_to_next_cell", None)
        gid = (cell.metadata.get("nbgrader") or {}).get("grade_id")
        base = str(gid) if gid else hashlib.sha1(cell.source.encode()).hexdigest()[:10]
        cid, n = base[:60], 1
        while cid in used:
            n += 1
            cid = f"{base[:56]}-{n}"
        used.add(cid)
        cell.id = cid
    seen: dict[str, int] = {}
    exercises: set[str] = set()
    tests: list[tuple[str, int]] = []
    for i, cell in enumerate(nb.cells):
        nbg = cell.metadata.get("nbgrader")
        where = f"{path}: cell {i + 1}"
        src = cell.source
        has_solution = SOLUTION_BEGIN in src
        has_hidden = HIDDEN_BEGIN in src
        if nbg is None:
            if has_solution:
                raise LessonError(f"{where} has '{SOLUTION_BEGIN}' but no nbgrader={{\"solution\": true, ...}} metadata")
            if has_hidden:
                raise LessonError(f"{where} has '{HIDDEN_BEGIN}' but is not a graded test cell (nbgrader={{\"grade\": true, ...}})")
            continue
        gid = nbg.get("grade_id")
        if not gid or not re.fullmatch(r"[A-Za-z0-9_\-]+", str(gid)):
            raise LessonError(f"{where}: nbgrader metadata needs a grade_id of letters, digits, '_' or '-'")
        if gid in seen:
            raise LessonError(f"{where}: grade_id {gid!r} is already used by cell {seen[gid] + 1}")
        seen[gid] = i
        solution, grade = bool(nbg.get("solution")), bool(nbg.get("grade"))
        if cell.cell_type == "code" and solution and not has_solution:
            raise LessonError(f"{where} ({gid}) is a solution cell without '{SOLUTION_BEGIN}'")
        if has_solution and not solution:
            raise LessonError(f"{where} ({gid}) has '{SOLUTION_BEGIN}' but is not marked solution: true")
        if has_hidden and not grade:
            raise LessonError(f"{where} ({gid}) has hidden tests but is not marked grade: true")
        if grade:
            points = nbg.get("points")
            if not isinstance(points, (int, float)) or points <= 0:
                raise LessonError(f"{where} ({gid}) is graded but has no positive 'points'")
            tests.append((gid, i))
        if solution and cell.cell_type == "code":
            ex = cell.metadata.get("exercise")
            if not ex or not all(isinstance(ex.get(k), int) and 1 <= ex[k] <= 5 for k in ("difficulty", "importance")):
                raise LessonError(
                    f"{where} ({gid}) needs exercise={{\"difficulty\": 1-5, \"importance\": 1-5, \"minutes\": N}}"
                )
            exercises.add(gid)
        if solution and grade and cell.cell_type == "markdown":
            exercises.add(gid)  # nbgrader's "manually graded answer": its own exercise, graded by a mentor
        full = {
            "grade": grade,
            "solution": solution,
            "locked": not solution,
            "grade_id": gid,
            "schema_version": 3,
        }
        if grade:
            full["points"] = nbg["points"]
        if cell.cell_type == "markdown" and not solution and not grade:
            full["locked"] = True
        cell.metadata["nbgrader"] = full
    for gid, i in tests:
        if exercise_of(gid) not in exercises:
            raise LessonError(
                f"{path}: cell {i + 1}: test {gid!r} belongs to no exercise (expected a solution cell "
                f"with grade_id {exercise_of(gid)!r})"
            )


def exercise_of(test_grade_id: str) -> str:
    """'softmax_test' and 'softmax_test_2' both belong to the exercise 'softmax'."""
    return re.sub(r"_test(_\w+)?$", "", test_grade_id)


def graded_cells(nb) -> list[dict]:
    """The graded test cells of a notebook, in order, with exercise name and points."""
    out = []
    for i, cell in enumerate(nb.cells):
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and nbg.get("grade"):
            gid = nbg.get("grade_id", f"cell-{i}")
            out.append({"index": i, "grade_id": gid, "exercise": exercise_of(gid), "points": nbg.get("points", 0)})
    return out


def write_solution_notebook(lesson: Lesson, dest: Path | None = None) -> Path:
    import nbformat

    nb = read_source(lesson.source)
    dest = dest or lesson.solution_notebook
    dest.parent.mkdir(parents=True, exist_ok=True)
    text = nbformat.writes(nb) + "\n"
    if not dest.exists() or dest.read_text(encoding="utf-8") != text:
        dest.write_text(text, encoding="utf-8")
    return dest


# --------------------------------------------------------------------------- build
def build(lessons: list[Lesson], root: Path = ROOT, release_dir: Path | None = None) -> list[Path]:
    """Generate exercise notebooks with nbgrader's GenerateAssignment.

    ``release_dir`` (default ``root/exercises``) lets CI build into a scratch directory
    and compare with what is committed.
    """
    from nbgrader.apps.generateassignmentapp import GenerateAssignmentApp  # noqa: F401 (config classes)
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    release_dir = Path(release_dir or root / "exercises")
    outputs = []
    for lesson in lessons:
        write_solution_notebook(lesson)
        config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
        config.merge(Config({
            "CourseDirectory": {"root": str(root), "release_directory": str(release_dir)},
            # exercises/ is a build output: keep the instructor's gradebook out of it (nbgrader's --no-db)
            "GenerateAssignment": {"force": True, "no_database": True, "create_assignment": True},
            "SaveCells": {"enabled": False},
        }))
        coursedir = CourseDirectory(config=config)
        coursedir.assignment_id = lesson.slug
        target = release_dir / lesson.slug
        generator = GenerateAssignment(coursedir=coursedir, config=config)
        errors = _capture_errors(generator.log)
        try:
            generator.start()
        except Exception as err:
            detail = "\n".join(errors.messages[-3:]) or str(err)
            raise LessonError(f"nbgrader generate_assignment failed for {lesson.slug}:\n{detail}") from err
        finally:
            generator.log.removeHandler(errors)
        nb_path = target / f"{lesson.slug}.ipynb"
        if not nb_path.is_file():
            raise LessonError(f"nbgrader wrote no notebook for {lesson.slug} in {target}")
        outputs.append(nb_path)
    return outputs


class _capture_errors(logging.Handler):
    """Keep nbgrader's error log lines (it logs the real cause, then raises a generic error)."""

    def __init__(self, log: logging.Logger):
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []
        log.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().strip().splitlines()[-1])

def stale_exercises(lessons: list[Lesson], root: Path = ROOT) -> list[str]:
    """Rebuild into a scratch directory; return a line per exercise file that differs."""
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "exercises"
        build(lessons, root=root, release_dir=scratch)
        for lesson in lessons:
            fresh_dir, committed_dir = scratch / lesson.slug, root / "exercises" / lesson.slug
            fresh, committed = _release_files(fresh_dir), _release_files(committed_dir)
            for rel in sorted(fresh | committed):
                a, b = fresh_dir / rel, committed_dir / rel
                if not b.exists():
                    problems.append(f"exercises/{lesson.slug}/{rel} is missing: run `bootcamp build {lesson.id}`")
                elif not a.exists():
                    problems.append(f"exercises/{lesson.slug}/{rel} is not produced by the source: delete it")
                elif _normalised_bytes(a) != _normalised_bytes(b):
                    problems.append(f"exercises/{lesson.slug}/{rel} is stale: run `bootcamp build {lesson.id}`")
    return problems


def _release_files(folder: Path) -> set[Path]:
    """Files nbgrader released, less what running a notebook leaves behind (.hypothesis/,
    .ipynb_checkpoints/, __pycache__/): those are the learner's, not the build's."""
    if not folder.is_dir():
        return set()
    out = set()
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if p.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            out.add(rel)
    return out


def _normalised_bytes(p: Path) -> bytes:
    if p.suffix == ".ipynb":
        return json.dumps(json.loads(p.read_text(encoding="utf-8")), sort_keys=True).encode()
    return p.read_bytes()


def leaks(lesson: Lesson, root: Path = ROOT) -> list[str]:
    """Lines of solution code or hidden tests (or the markers) found under exercises/<slug>/."""
    text = lesson.source.read_text(encoding="utf-8")
    secret, public = set(), set()
    region = None
    for line in text.splitlines():
        m = _MARKERS.search(line)
        if m:
            region = None if m.group(1) == "END" else m.group(2)
            continue
        stripped = line.strip()
        (secret if region else public).add(stripped)
    # A line that also appears outside every marked region (a bare `return out`, say) is
    # not a leak when it shows up in the exercise.
    secret = {s for s in secret - public if len(s) >= 12 and not s.startswith("#")}
    found = []
    target = root / "exercises" / lesson.slug
    for path in sorted(target.rglob("*")) if target.is_dir() else []:
        if not path.is_file():
            continue
        content = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".ipynb":
            lines = []
            for cell in json.loads(content).get("cells", []):
                src = cell.get("source", "")
                lines += ("".join(src) if isinstance(src, list) else src).splitlines()
        else:
            lines = content.splitlines()
        rel = path.relative_to(root)
        for line in lines:
            if _MARKERS.search(line):
                found.append(f"{rel}: marker {line.strip()!r}")
            elif line.strip() in secret:
                found.append(f"{rel}: solution or hidden-test line {line.strip()!r}")
    return found


