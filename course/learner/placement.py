"""Placement quizzes: ``bootcamp placement MODULE`` says what to skip, where to start, where to go back.

Where they live. ``placement/<module>/placement-<module>.py`` is the quiz's single
source, in exactly the lessons' format (a jupytext percent script with nbgrader
metadata, solutions and hidden tests between markers), so an author writes a quiz the
way they write a lesson, ruff lints it, and the same validation applies. Each item is a
solution cell whose metadata also says which lesson(s) it tests::

    # %% nbgrader={"solution": true, "grade_id": "softmax"} exercise={...} placement={"lessons": ["0.1"]}

``bootcamp placement --build`` runs the lessons' build (``course.authoring.lessons.build``, that is
nbgrader's GenerateAssignment) on it and writes the learner's quiz beside it,
``placement/<module>/placement-<module>.ipynb``, which is committed like ``exercises/``;
``tests/test_placement.py`` fails if it is stale or leaks a solution. Quizzes are kept
out of ``solutions/`` so that they are not lessons: not in ``bootcamp list``, the
syllabus, the grading service's catalogue or the lesson CI.

The learner's copy. As with lessons, the learner answers in their workspace, never in the
committed notebook: ``workspace/placement/<module>/placement-<module>.ipynb``
(:func:`learner_copy`), copied from ``placement/`` the first time ``bootcamp lab`` or
``bootcamp placement`` needs it (answers already written in ``placement/`` come along), so
JupyterLab, which opens on ``workspace/``, shows it and ``git pull`` never meets it.

Grading. The learner fills in the quiz in JupyterLab and saves it; ``bootcamp
placement 0`` restores every test cell from the source (hidden tests included, so a
tampered test does not count), runs the notebook headlessly, and scores each item: it
passes when all its test cells pass. Then, per lesson of the module: every item that
tests it passes → skip it; otherwise do it. The first lesson to do (in course order) is
where to start; an item that fails names the lesson that teaches it ("go back to"),
which may be in an earlier module (Module 1's quiz checks the PyTorch of 0.3). The
verdict is saved in ``.bootcamp/learner/placement.json``: ``bootcamp progress`` and
``map`` count skipped lessons as done, and a later quiz that finds a gap un-skips it.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from course.authoring.lessons import ROOT, LessonError, exercise_of
from course.authoring.syllabus import Syllabus
from course.authoring.syllabus import load as load_syllabus
from course.learner.progress import _iso, now, read_json, write_json

_HIDDEN_MARKER = re.compile(r"^\s*#+\s*(BEGIN|END)\s+HIDDEN TESTS\b.*$\n?", re.M)


def placement_dir(root: Path = ROOT) -> Path:
    return Path(root) / "placement"


@dataclass
class Item:
    grade_id: str
    lessons: tuple[str, ...]
    minutes: int
    tests: list[str] = field(default_factory=list)  # grade_ids of its test cells
    title: str = ""


@dataclass
class Quiz:
    module: str
    source: Path
    items: list[Item]
    tests: dict[str, str]  # test grade_id -> the full test source (hidden tests included, markers removed)
    title: str
    minutes: int

    @property
    def slug(self) -> str:
        return f"placement-{self.module}"

    @property
    def notebook(self) -> Path:
        return self.source.with_suffix(".ipynb")


def learner_copy(quiz: Quiz, root: Path = ROOT, create: bool = True) -> Path:
    """The learner's quiz in their workspace, copied from ``placement/`` the first time (``create``)."""
    from course.learner.workspace import workspace_dir

    dest = workspace_dir(root) / "placement" / quiz.module / quiz.notebook.name
    if create and not dest.is_file() and quiz.notebook.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(quiz.notebook, dest)
    return dest


def open_all(root: Path = ROOT, syl: Syllabus | None = None) -> list[Path]:
    """Copy every quiz the workspace does not hold yet (``bootcamp lab``); return the new copies."""
    new = []
    for module in available(root):
        quiz = read_quiz(module, root, syl)
        if not learner_copy(quiz, root, create=False).is_file():
            new.append(learner_copy(quiz, root))
    return new


def available(root: Path = ROOT) -> dict[str, Path]:
    """{module id: quiz source} for every placement/<module>/placement-<module>.py."""
    base = placement_dir(root)
    if not base.is_dir():
        return {}
    found = {d.name: d / f"placement-{d.name}.py" for d in base.iterdir() if d.is_dir()}
    return {m: p for m, p in sorted(found.items()) if p.is_file()}


def read_quiz(module: str, root: Path = ROOT, syllabus: Syllabus | None = None) -> Quiz:
    syl = syllabus or load_syllabus(root)
    mod = syl.module(module)
    quizzes = available(root)
    if mod.id not in quizzes:
        have = ", ".join(quizzes) or "none"
        raise LessonError(f"module {mod.id} ({mod.title}) has no placement quiz yet (quizzes exist for: {have})")
    from course.authoring.lessons import read_source

    source = quizzes[mod.id]
    nb = read_source(source)
    meta = nb.metadata.get("placement", {})
    items: dict[str, Item] = {}
    tests: dict[str, str] = {}
    for i, cell in enumerate(nb.cells):
        nbg = cell.metadata.get("nbgrader", {})
        gid = nbg.get("grade_id")
        if cell.cell_type == "code" and nbg.get("solution"):
            lessons = tuple(str(x) for x in (cell.metadata.get("placement") or {}).get("lessons", []))
            if not lessons:
                raise LessonError(f"{source}: cell {i + 1} ({gid}) needs placement={{\"lessons\": [...]}}: "
                                  "the lesson(s) this item tests")
            for lid in lessons:
                syl.lesson(lid)  # unknown lesson -> SyllabusError
            items[gid] = Item(gid, lessons, int(cell.metadata.get("exercise", {}).get("minutes", 0)))
        elif cell.cell_type == "code" and nbg.get("grade"):
            tests[gid] = _HIDDEN_MARKER.sub("", cell.source)
            ex = exercise_of(gid)
            if ex in items:
                items[ex].tests.append(gid)
    for item in items.values():
        if not item.tests:
            raise LessonError(f"{source}: item {item.grade_id} has no test cell ({item.grade_id}_test)")
    return Quiz(mod.id, source, list(items.values()), tests, str(meta.get("title", f"Placement quiz, module {mod.id}")),
                int(meta.get("minutes", sum(i.minutes for i in items.values()))))


# --------------------------------------------------------------------------- grading
@dataclass
class ItemResult:
    item: Item
    status: str  # pass | todo | FAIL | not run
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"


def grading_notebook(quiz: Quiz, learner_nb):
    """The learner's notebook with every test cell restored from the source (hidden tests too)."""
    for cell in learner_nb.cells:
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and nbg.get("grade") and nbg.get("grade_id") in quiz.tests:
            cell.source = quiz.tests[nbg["grade_id"]]
            cell.outputs, cell.execution_count = [], None
    return learner_nb


def grade(quiz: Quiz, notebook: Path | None = None, timeout: int = 120) -> list[ItemResult]:
    """Run the learner's quiz (default: the one beside the source) and score each item."""
    from course.authoring.runner import collect, execute, load_notebook

    path = Path(notebook) if notebook else quiz.notebook
    nb = grading_notebook(quiz, load_notebook(path))
    execute(nb, path.parent, timeout=timeout)
    results, _ = collect(nb)
    by_test = {r.grade_id: r for r in results}
    out = []
    for item in quiz.items:
        rs = [by_test.get(t) for t in item.tests]
        if any(r is None for r in rs):
            out.append(ItemResult(item, "FAIL", "its test cell is missing from your notebook"))
        elif all(r.passed for r in rs):
            out.append(ItemResult(item, "pass"))
        else:
            first = next(r for r in rs if not r.passed)
            out.append(ItemResult(item, first.status, first.message))
    return out


# --------------------------------------------------------------------------- the verdict
@dataclass
class Verdict:
    module: str
    skip: list[str]  # lessons of the module that every item testing them passed
    todo: list[str]  # lessons of the module to do (an item failed, was not answered, or none tests it)
    start_with: str | None
    go_back: list[tuple[str, str]]  # (item grade_id, lesson id) for each item that failed
    below: list[str]  # lessons of earlier modules with a failing item
    answered: int
    passed: int
    total: int

    @property
    def skip_module(self) -> bool:
        return not self.todo and not self.below and self.answered > 0


def decide(syl: Syllabus, module: str, results: list[ItemResult]) -> Verdict:
    mod = syl.module(module)
    in_module = list(mod.lessons)
    tested: dict[str, list[ItemResult]] = {}
    for r in results:
        for lid in r.item.lessons:
            tested.setdefault(lid, []).append(r)
    skip = [lid for lid in in_module if tested.get(lid) and all(r.passed for r in tested[lid])]
    todo = [lid for lid in in_module if lid not in skip and syl.lessons[lid].available]
    go_back = [(r.item.grade_id, lid) for r in results if not r.passed for lid in r.item.lessons]
    below = [lid for lid in syl.order() if lid not in in_module and lid in tested
             and not all(r.passed for r in tested[lid])]
    order = syl.order()
    candidates = sorted(set(todo) | set(below), key=order.index)
    answered = sum(1 for r in results if r.status != "todo")
    return Verdict(mod.id, skip, todo, candidates[0] if candidates else None, go_back, below, answered,
                   sum(r.passed for r in results), len(results))


def record(verdict: Verdict, results: list[ItemResult], root: Path = ROOT) -> Path | None:
    """Save the verdict for progress and map: skipped lessons placed, failing ones un-placed."""
    data = read_json("placement.json", root)
    lessons = data.setdefault("lessons", {})
    at = _iso(now())
    for lid in verdict.skip:
        lessons[lid] = {"placed": True, "module": verdict.module, "at": at,
                        "items": [r.item.grade_id for r in results if lid in r.item.lessons]}
    for lid in set(verdict.below) | {lid for _, lid in verdict.go_back}:
        lessons[lid] = {"placed": False, "module": verdict.module, "at": at,
                        "failed": [g for g, x in verdict.go_back if x == lid]}
    data.setdefault("modules", {})[verdict.module] = {
        "at": at, "passed": verdict.passed, "total": verdict.total,
        "items": {r.item.grade_id: r.status for r in results}}
    return write_json("placement.json", data, root)


def format_verdict(syl: Syllabus, quiz: Quiz, results: list[ItemResult], verdict: Verdict,
                   notebook: str | None = None) -> str:
    mod = syl.module(verdict.module)

    def name(lid: str) -> str:
        return f"{lid} {syl.lessons[lid].title}"

    lines = [f"{quiz.title}: {verdict.passed} of {verdict.total} items pass", ""]
    rows = [("item", "lesson", "result", "")] + [
        (r.item.grade_id, ", ".join(r.item.lessons), r.status, r.message[:90]) for r in results]
    w = [max(len(row[k]) for row in rows) for k in range(3)]
    lines += ["  " + "  ".join(c.ljust(w[k]) for k, c in enumerate(row[:3])) + ("  " + row[3] if row[3] else "")
              for row in rows]
    lines.append("")
    if verdict.answered == 0:
        where = notebook or quiz.notebook.relative_to(quiz.source.parents[2])
        lines.append(f"You have not answered any item yet: fill in {where} "
                     f"(about {quiz.minutes} minutes) and run `bootcamp placement {mod.id}` again, "
                     f"or simply start with {name(mod.lessons[0])}.")
        return "\n".join(lines)
    if verdict.skip_module:
        lines.append(f"skip Module {mod.id} ({mod.title}): every item passes.")
    elif verdict.skip:
        lines.append("skip:        " + "; ".join(name(x) for x in verdict.skip))
    if verdict.start_with:
        lines.append(f"start with:  {name(verdict.start_with)}")
    for gid, lid in verdict.go_back:
        level = syl.lessons[lid].level
        where = "" if lid in mod.lessons else f" (an earlier module, {level})"
        lines.append(f"go back to:  {name(lid)}{where}: item {gid} did not pass")
    return "\n".join(lines)


# --------------------------------------------------------------------------- building the quiz
def build(module: str, root: Path = ROOT, dest: Path | None = None) -> Path:
    """Write the learner's quiz notebook from its source with the lessons' build (nbgrader)."""
    from course.authoring.lessons import Lesson
    from course.authoring.lessons import build as build_lessons

    quiz = read_quiz(module, root)
    dest = Path(dest or quiz.notebook)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        shutil.copy(Path(root) / "nbgrader_config.py", scratch / "nbgrader_config.py")
        (scratch / "solutions" / quiz.slug).mkdir(parents=True)
        shutil.copy(quiz.source, scratch / "solutions" / quiz.slug / f"{quiz.slug}.py")
        (out,) = build_lessons([Lesson(quiz.slug, scratch)], root=scratch, release_dir=scratch / "release")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, dest)
    return dest


def leaks(module: str, root: Path = ROOT, notebook: Path | None = None) -> list[str]:
    """Solution or hidden-test lines of the source found in the quiz notebook."""
    from course.authoring.lessons import Lesson
    from course.authoring.lessons import leaks as lesson_leaks

    quiz = read_quiz(module, root)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        (scratch / "solutions" / quiz.slug).mkdir(parents=True)
        (scratch / "exercises" / quiz.slug).mkdir(parents=True)
        shutil.copy(quiz.source, scratch / "solutions" / quiz.slug / f"{quiz.slug}.py")
        shutil.copy(notebook or quiz.notebook, scratch / "exercises" / quiz.slug / f"{quiz.slug}.ipynb")
        return [p.replace(f"exercises/{quiz.slug}/", f"placement/{quiz.module}/")
                for p in lesson_leaks(Lesson(quiz.slug, scratch), root=scratch)]


def stale(module: str, root: Path = ROOT) -> bool:
    """True when the committed quiz notebook is not what its source builds today."""
    quiz = read_quiz(module, root)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = build(module, root, Path(tmp) / "quiz.ipynb")
        if not quiz.notebook.is_file():
            return True
        return json.loads(fresh.read_text()) != json.loads(quiz.notebook.read_text())
