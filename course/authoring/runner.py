"""Run a notebook headlessly and report what every graded test cell said.

Used by `bootcamp check` and by the CI tests that execute every solution (all tests
pass) and every exercise (every graded test fails on the untouched stubs).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# nbformat imports jsonschema, which imports the optional IRI format checker rfc3987_syntax
# when it is installed (jupyter-events pulls it in); that module builds a large grammar at
# import time (1.5 s here, idle) for a format no notebook schema uses. Keep it out of this
# process: jsonschema treats the missing module as "no IRI checker".
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

from course.authoring.lessons import LessonError, graded_cells  # noqa: E402 (after the sys.modules entry above)


@dataclass
class CellResult:
    exercise: str
    grade_id: str
    points: float
    passed: bool
    error_name: str | None  # "CheckFailure", "NotImplementedError", ...
    message: str  # first line of what the learner sees; "" when it passed
    detail: str = ""  # the whole message: the numbers, the likely cause, the hint (`bootcamp check -v`)

    @property
    def status(self) -> str:
        if self.passed:
            return "pass"
        if self.error_name == "NotImplementedError":
            return "todo"
        if self.error_name == "NotRun":
            return "not run"
        return "FAIL"


@dataclass
class RunResult:
    results: list[CellResult]
    seconds: float
    errors_outside_tests: list[str]  # errors in cells that are not graded tests
    title: str = ""  # the lesson title from the notebook's metadata


def load_notebook(path: Path):
    """Read a notebook, turning every way it can be broken into a LessonError."""
    import nbformat

    path = Path(path)
    if not path.is_file():
        raise LessonError(f"{path}: no such file")
    if path.suffix != ".ipynb":
        raise LessonError(f"{path}: not a notebook (expected a .ipynb file)")
    try:
        raw = path.read_text(encoding="utf-8")
        nb = nbformat.reads(raw, as_version=4)
    except (UnicodeDecodeError, json.JSONDecodeError, nbformat.reader.NotJSONError) as err:
        raise LessonError(f"{path}: not a readable notebook ({type(err).__name__}: {str(err)[:120]}); "
                          f"{RECOVER}") from err
    except Exception as err:  # nbformat validation and version errors
        raise LessonError(f"{path}: not a valid notebook ({str(err).splitlines()[0][:160]})") from err
    return nb


# A notebook saved half-written (or edited by hand) is no longer JSON: say where the last good copies are.
RECOVER = ("if it was saved mid-edit, JupyterLab's File > Revert Notebook to Checkpoint (or the copy in "
            ".ipynb_checkpoints/ beside it) restores the last checkpoint; `bootcamp update` backups are in "
            ".bootcamp/learner/backups/")


def _first_line(ename: str, evalue: str) -> str:
    text = (evalue or "").strip()
    if ename == "NotImplementedError":
        return "not implemented yet"
    line = text.splitlines()[0] if text else ""
    return f"{ename}: {line}" if ename not in ("CheckFailure",) else line


def execute(nb, cwd: Path, timeout: int = 600, kernel_name: str = "python3", record_timing: bool = False):
    """Execute ``nb`` in place with nbclient, continuing past errors. Returns seconds taken."""
    from nbclient import NotebookClient

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        allow_errors=True,
        resources={"metadata": {"path": str(cwd)}},
        record_timing=record_timing,  # (verify: how long each cell ran, against nbgrader's timeout)
        # ipykernel warns on every start that loopback TCP is unencrypted; keep output readable
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    start = time.perf_counter()
    # an author's or learner's check run is not time spent on the lesson (course/learner/timing.py)
    saved = os.environ.pop("BOOTCAMP_RECORD_CELLS", None)
    try:
        client.execute()
    finally:
        if saved is not None:
            os.environ["BOOTCAMP_RECORD_CELLS"] = saved
    return time.perf_counter() - start


def _cell_label(cell) -> str:
    """How a learner finds a cell: the exercise whose answer it holds, else its first line of code."""
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and grade_id:
        return f"your answer to {grade_id}"
    first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip() and not ln.strip().startswith("#")), "")
    return f"`{first[:60]}`" if first else "an empty cell"


def _broken_definitions(nb) -> dict[str, str]:
    """Names that an earlier cell meant to define but did not, because that cell raised: name -> why."""
    broken = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        err = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
        if err is None or err["ename"] == "NotImplementedError":
            continue
        for name in re.findall(r"^(?:def|class)\s+(\w+)", cell.source, flags=re.M):
            broken.setdefault(name, f"cell {i + 1} ({_cell_label(cell)}) raised {_first_line(err['ename'], err['evalue'])}")
    return broken


def collect(nb) -> tuple[list[CellResult], list[str]]:
    results = []
    graded = {g["index"]: g for g in graded_cells(nb)}
    broken = _broken_definitions(nb)
    other_errors = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        err = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
        if i in graded:
            g = graded[i]
            ran = cell.get("execution_count") is not None or bool(cell.get("outputs"))
            missing = re.match(r"name '(\w+)' is not defined", err["evalue"] or "") if err is not None else None
            if missing and err["ename"] == "NameError" and missing.group(1) in broken:
                # the test's NameError is a symptom: the cell that defines the function failed first
                name = missing.group(1)
                results.append(CellResult(g["exercise"], g["grade_id"], g["points"], False, "NameError",
                                          f"`{name}` is not defined because {broken[name]}; fix that cell first",
                                          err["evalue"] or ""))
            elif err is not None:
                results.append(CellResult(g["exercise"], g["grade_id"], g["points"], False,
                                          err["ename"], _first_line(err["ename"], err["evalue"]),
                                          "" if err["ename"] == "NotImplementedError" else (err["evalue"] or "")))
            elif not ran:
                results.append(CellResult(g["exercise"], g["grade_id"], g["points"], False, "NotRun",
                                          "this cell did not run"))
            else:
                results.append(CellResult(g["exercise"], g["grade_id"], g["points"], True, None, ""))
        elif err is not None:
            other_errors.append(f"cell {i + 1} ({_cell_label(cell)}): {_first_line(err['ename'], err['evalue'])}")
    return results, other_errors


def run_notebook(path: Path, timeout: int = 600, cwd: Path | None = None) -> RunResult:
    path = Path(path)
    nb = load_notebook(path)
    if not graded_cells(nb):
        raise LessonError(f"{path}: has no graded test cells; is it a lesson notebook?")
    seconds = execute(nb, cwd or path.parent, timeout=timeout)
    results, other = collect(nb)
    title = str(nb.metadata.get("course", {}).get("title", ""))
    return RunResult(results, seconds, other, title)


def wrap(text: str, width: int, indent: int) -> list[str]:
    """``text`` wrapped to ``width`` columns, every line after the first indented; never cut."""
    import textwrap

    room = max(20, width - indent)
    out: list[str] = []
    for line in text.splitlines() or [""]:
        lead = len(line) - len(line.lstrip())
        out += textwrap.wrap(line, room, subsequent_indent=" " * (lead + 2), break_long_words=True,
                             break_on_hyphens=False) or [""]
    return out[:1] + [" " * indent + x for x in out[1:]]


def format_table(results: list[CellResult], verbose: bool = False, width: int = 100, lesson: str = "LESSON") -> str:
    """One row per test; messages wrap to ``width`` (never cut). ``verbose``: the whole message."""
    rows = [("exercise", "points", "result", "message")]
    for r in results:
        pts = f"{r.points:g}/{r.points:g}" if r.passed else f"0/{r.points:g}"
        msg = r.message
        if verbose and r.detail and r.error_name != "NotImplementedError":
            msg = r.detail.strip() if r.error_name == "CheckFailure" else f"{r.error_name}: {r.detail.strip()}"
        rows.append((r.exercise, pts, r.status, msg))
    widths = [max(len(row[k]) for row in rows) for k in range(3)]
    indent = sum(widths) + 6
    lines = []
    for n, row in enumerate(rows):
        head = "  ".join(cell.ljust(widths[k]) for k, cell in enumerate(row[:3])) + "  "
        lines.append((head + "\n".join(wrap(row[3], width, indent))).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 7)
    total = sum(r.points for r in results)
    got = sum(r.points for r in results if r.passed)
    lines.append(f"\nscore {got:g}/{total:g}; {sum(r.passed for r in results)} of {len(results)} tests pass")
    if not verbose and any(r.detail.strip() != r.message for r in results if r.detail):
        lines += wrap(f"`bootcamp check {lesson} -v` shows each failure in full: the numbers, the likely cause, the hint",
                      width, 2)
    return "\n".join(lines)
