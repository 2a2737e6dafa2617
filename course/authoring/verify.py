"""What CI proves about every lesson.

- The solution notebook runs top to bottom and every graded test passes.
- Every graded test FAILS on the untouched stubs of the exercise notebook: a test that
  passes on a stub asserts nothing.
- Every graded test fails when the exercise does nothing and returns None (a test that
  only calls the function, without checking the result, asserts nothing either).
- The hidden part of every test fails on the stubs by itself too (it is what grades a
  submission, so it must not be a no-op either).
- Plain ``nbgrader autograde`` would give the solution full marks too: nbgrader zeroes a test
  cell that writes to stderr, and reads a number a cell displays as partial credit (a test
  that ends in ``checks.assert_close(...)`` shows the error it measured, 0.0, and scored 0).
  A test cell ends in a statement, or its last expression ends in ``;``. And no cell runs for
  more than half of the per-cell timeout in ``nbgrader_config.py`` (nbgrader's own default is 30 s).

A test "fails" when it raises NotImplementedError (from the stub) or an AssertionError
(course.checks raises CheckFailure, a subclass). Any other error on a stub (NameError,
SyntaxError, TypeError) means the test itself is broken, and is reported as such.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field
from pathlib import Path

from course.authoring.lessons import HIDDEN_BEGIN, HIDDEN_END, ROOT, Lesson, graded_cells
from course.authoring.runner import CellResult, collect, execute, load_notebook

FAILS_ON_STUB = {"NotImplementedError", "AssertionError", "CheckFailure"}
HARD_CAP_SECONDS = 600  # CI fails past this; the 5-minute budget is held by benchmarks/


@dataclass
class Verdict:
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    results: list[CellResult] = field(default_factory=list)


def verify_solution(lesson: Lesson, timeout: int = HARD_CAP_SECONDS) -> Verdict:
    """Execute the solution notebook; every graded cell must pass, no other cell may error."""
    nb = load_notebook(lesson.solution_notebook)
    seconds = execute(nb, lesson.solution_notebook.parent, timeout=timeout, record_timing=True)
    results, other = collect(nb)
    v = Verdict(seconds, [], results)
    for r in results:
        if not r.passed:
            v.problems.append(f"{lesson.slug}: solution fails its own test {r.grade_id}: {r.message}")
    v.problems += [f"{lesson.slug}: solution notebook error in {e}" for e in other]
    v.problems += nbgrader_problems(lesson.slug, nb)
    if seconds > HARD_CAP_SECONDS:
        v.problems.append(f"{lesson.slug}: solution took {seconds:.0f} s, past the hard cap of {HARD_CAP_SECONDS} s")
    return v


def nbgrader_problems(slug: str, nb) -> list[str]:
    """The graded cells of an executed notebook that plain nbgrader would not give full marks, by
    nbgrader's own rule (``nbgrader.utils.determine_grade``), and why; and the cells that display a
    value, which nbgrader reads as partial credit when it is a number (and warns about otherwise:
    "future releases may treat as error")."""
    from nbgrader.utils import determine_grade

    problems = []
    for g in graded_cells(nb):
        cell = nb.cells[g["index"]]
        score, max_score = determine_grade(cell)
        if score is None:
            continue
        why = "it raised an error" if score < max_score else None
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                why = f"it wrote to stderr ({out.get('text', '').strip().splitlines()[0][:120]!r})"
                break
            if out.get("output_type") == "execute_result":
                shown = out.get("data", {}).get("text/plain", "")
                why = (f"its last line displays {shown[:60]!r}, which nbgrader reads as partial credit if it is a "
                       "number: end that line with `;`")
                break
        if why:
            problems.append(f"{slug}: plain nbgrader autograde gives the solution {score:g}/{max_score:g} for "
                            f"{g['grade_id']}: {why}")
    limit = nbgrader_cell_timeout()
    for i, cell in enumerate(nb.cells):
        ran = _cell_seconds(cell)
        if ran is not None and limit is not None and ran > limit / 2:
            what = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {i}"
            problems.append(f"{slug}: {what} ran {ran:.0f} s, more than half of plain nbgrader's per-cell timeout "
                            f"({limit} s, nbgrader_config.py): on a slower machine nbgrader would stop it and "
                            "score what depends on it 0")
    return problems


def nbgrader_cell_timeout() -> int | None:
    """The per-cell timeout `nbgrader autograde` runs the course with: ``c.Execute.timeout`` in the
    course's nbgrader_config.py, else nbgrader's default (30 s); None: no limit."""
    from traitlets.config.loader import PyFileConfigLoader

    try:
        cfg = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    except Exception:
        return 30
    return cfg.Execute.timeout if "Execute" in cfg and "timeout" in cfg.Execute else 30


def _cell_seconds(cell) -> float | None:
    """How long a cell ran, from nbclient's record_timing metadata."""
    from datetime import datetime

    t = cell.get("metadata", {}).get("execution", {})
    try:
        start, end = (datetime.fromisoformat(t[k].replace("Z", "+00:00"))
                      for k in ("iopub.execute_input", "shell.execute_reply"))
    except (KeyError, TypeError, ValueError):
        return None
    return (end - start).total_seconds()


def _stub_problems(slug: str, results: list[CellResult], what: str) -> list[str]:
    problems = []
    for r in results:
        if r.passed:
            problems.append(f"{slug}: {what} {r.grade_id} PASSES on the stub: it asserts nothing about the exercise")
        elif r.error_name not in FAILS_ON_STUB:
            problems.append(
                f"{slug}: {what} {r.grade_id} breaks on the stub with {r.error_name} ({r.message}) instead of "
                f"failing: the test itself has a bug"
            )
    return problems


def verify_stubs(lesson: Lesson, exercise_notebook: Path | None = None, timeout: int = 120) -> Verdict:
    """Execute the exercise notebook as released: every graded test must fail."""
    path = exercise_notebook or lesson.exercise_notebook
    nb = load_notebook(path)
    seconds = execute(nb, path.parent, timeout=timeout)
    results, _ = collect(nb)
    if not results:
        return Verdict(seconds, [f"{lesson.slug}: the exercise notebook has no graded test cells"], [])
    return Verdict(seconds, _stub_problems(lesson.slug, results, "test"), results)


def _clear_solutions(nb, code_stub: str | None = None):
    """nbgrader's own ClearSolutions with the course's config (optionally another stub)."""
    from nbgrader.preprocessors import ClearSolutions
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    from course.authoring.lessons import ROOT

    config = Config()
    if (ROOT / "nbgrader_config.py").is_file():
        config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    if code_stub is not None:
        config.merge(Config({"ClearSolutions": {"code_stub": {"python": code_stub}}}))
    nb, _ = ClearSolutions(config=config).preprocess(copy.deepcopy(nb), {})
    return nb


def verify_silent_stubs(lesson: Lesson, timeout: int = 120) -> Verdict:
    """Replace every solution by `pass` (a function that returns None): every graded test,
    hidden part included, must still fail. A test that merely calls the exercise, without
    checking what comes back, passes here and is reported."""
    nb = _clear_solutions(load_notebook(lesson.solution_notebook), code_stub="pass")
    seconds = execute(nb, lesson.solution_notebook.parent, timeout=timeout)
    results, _ = collect(nb)
    problems = [f"{lesson.slug}: test {r.grade_id} PASSES when the exercise does nothing and returns None: "
                f"it does not check the result" for r in results if r.passed]
    return Verdict(seconds, problems, results)


def hidden_only(nb):
    """The solution notebook with solutions cleared (nbgrader's own ClearSolutions) and each
    test cell's visible assertions neutralised, so only its hidden part can fail.

    Visible statements are kept (hidden tests may use the inputs they define) but each runs
    inside ``try/except Exception``, so nothing in the visible part can fail the cell. Returns the notebook and
    the grade_ids that have hidden tests.
    """
    nb = _clear_solutions(nb)
    with_hidden = []
    for g in graded_cells(nb):
        cell = nb.cells[g["index"]]
        src = cell.source
        if HIDDEN_BEGIN not in src:
            cell.metadata["nbgrader"]["grade"] = False  # nothing hidden to verify here
            cell.source = ""
            continue
        before, rest = src.split(HIDDEN_BEGIN, 1)
        hidden, after = rest.split(HIDDEN_END, 1)
        cell.source = _neutralise(before) + "\n" + hidden + "\n" + _neutralise(after)
        with_hidden.append(g["grade_id"])
    return nb, with_hidden


def _neutralise(code: str) -> str:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code  # execution will report it
    out = []
    for stmt in tree.body:
        seg = ast.get_source_segment(code, stmt) or ""
        body = "\n".join("    " + line for line in seg.splitlines()) or "    pass"
        out.append(f"try:\n{body}\nexcept Exception:\n    pass")
    return "\n".join(out)


def verify_hidden_tests(lesson: Lesson, timeout: int = 120) -> Verdict:
    """Every test cell with hidden tests must fail on the stubs through its hidden part alone."""
    nb, with_hidden = hidden_only(load_notebook(lesson.solution_notebook))
    seconds = execute(nb, lesson.solution_notebook.parent, timeout=timeout)
    results, _ = collect(nb)
    results = [r for r in results if r.grade_id in with_hidden]
    return Verdict(seconds, _stub_problems(lesson.slug, results, "hidden part of test"), results)
