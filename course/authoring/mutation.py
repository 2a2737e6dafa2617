"""Mutation testing for course authors: do a lesson's graded tests catch wrong answers?

For every exercise of a lesson this makes *mutants* of the reference solution, small wrong
versions of it, and runs the exercise's graded test cells on each. A mutant is **killed**
when a test cell fails on it (any error, as nbgrader counts it; a mutant that hangs past the
timeout is killed too). A mutant that survives is a wrong answer a learner can submit for
full marks, unless it is *equivalent* (it computes the same thing), which the author marks
with a reason in the lesson's catalogue.

Two sources of mutants:

- automatic, from the AST of the solution region (between the solution markers):
  swapped operators and comparisons, integer constants off by one, a dropped ``keepdims``,
  another ``axis``/``dim`` or none (a global reduction instead of a per-row one), max/min
  and sum/mean swapped, a dropped division or subtraction (a missing normalisation), a
  dropped statement (a mask or an in-place update skipped), a dropped slice step, ``and``/
  ``or`` swapped, the function returning its input, and a parameter read from the notebook's
  globals instead of the argument (generated only when a global of that name exists);
- hand-written, from ``mutants/<slug>.toml``: the mistakes learners actually make, as text
  replacements in the solution cell (see ``mutants/README.md``).

It is fast because the solution notebook runs once, in one kernel: for each mutant only the
exercise's cell is redefined, the code cells between it and its last test re-run, and the
exercise's test cells run, the visible part first, then the hidden part. The reference cell
and its test cells run again (and must pass) before and after an exercise's mutants, which
also restores the state for the exercises after it.

    python -m course.authoring.mutation 0.1 2.1            # per-lesson table and the survivors
    python -m course.authoring.mutation 0.1 --exercise softmax --list   # show the mutants, run nothing

The exit status is 1 when a non-equivalent mutant survives the tests.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .lessons import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    ROOT,
    SOLUTION_BEGIN,
    SOLUTION_END,
    Lesson,
    exercise_of,
    find_lesson,
    write_solution_notebook,
)

CATALOGUE_DIR = ROOT / "mutants"


# --------------------------------------------------------------------------- mutants
@dataclass
class Mutant:
    exercise: str
    label: str  # stable id, e.g. "L3 binop: `a + b` -> `a - b`", or the catalogue's name
    source: str  # the whole solution cell, mutated
    kind: str = "auto"  # "auto" or "catalogue"
    why: str = ""  # catalogue: the learner's mistake it stands for
    equivalent: str = ""  # the reason, when the author marked it equivalent


_BINOP_SWAPS = {
    ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.Div], ast.Div: [ast.Mult, ast.FloorDiv],
    ast.FloorDiv: [ast.Div], ast.Pow: [ast.Mult], ast.MatMult: [ast.Mult], ast.Mod: [ast.FloorDiv],
}
_CMP_SWAPS = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
_NAME_SWAPS = {
    "max": "min", "min": "max", "amax": "amin", "amin": "amax", "argmax": "argmin", "argmin": "argmax",
    "sum": "mean", "mean": "sum", "maximum": "minimum", "minimum": "maximum", "log_softmax": "softmax",
    "softmax": "log_softmax", "triu": "tril", "tril": "triu",
}
_REDUCTIONS = {
    "sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin", "std", "var", "prod", "logsumexp",
    "softmax", "log_softmax", "norm", "cumsum", "all", "any", "median", "count_nonzero",
}
_AXIS_KW = ("axis", "dim")


def _short(node: ast.AST, limit: int = 60) -> str:
    text = ast.unparse(node).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _call_name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _solution_lines(source: str) -> tuple[int, int]:
    """1-based line numbers of the solution markers (the region strictly between is mutated)."""
    begin = end = None
    for n, line in enumerate(source.splitlines(), 1):
        if SOLUTION_BEGIN in line and begin is None:
            begin = n
        elif SOLUTION_END in line:
            end = n
    if begin is None or end is None:
        return 0, 10**9
    return begin, end


def _node_edits(node: ast.AST, parent: ast.AST | None) -> list[tuple[str, ast.AST | None]]:
    """(what, replacement) pairs for one node; replacement None means: delete the statement."""
    out: list[tuple[str, ast.AST | None]] = []
    if isinstance(node, ast.BinOp):
        for new in _BINOP_SWAPS.get(type(node.op), []):
            m = copy.deepcopy(node)
            m.op = new()
            out.append(("operator", m))
        if isinstance(node.op, ast.Div):
            out.append(("no normalisation", copy.deepcopy(node.left)))
        if isinstance(node.op, ast.Sub):
            out.append(("nothing subtracted", copy.deepcopy(node.left)))
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in _CMP_SWAPS:
                m = copy.deepcopy(node)
                m.ops[i] = _CMP_SWAPS[type(op)]()
                out.append(("comparison", m))
    elif isinstance(node, ast.BoolOp):
        m = copy.deepcopy(node)
        m.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        out.append(("and/or", m))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        if isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, int):
            v = -node.operand.value
            for w in (v - 1, v + 1):
                out.append(("off by one", ast.Constant(w) if w >= 0 else ast.UnaryOp(ast.USub(), ast.Constant(-w))))
        else:
            out.append(("sign", copy.deepcopy(node.operand)))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        out.append(("not dropped", copy.deepcopy(node.operand)))
    elif (isinstance(node, ast.Constant) and type(node.value) is int
          and not (isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub))):
        for w in (node.value - 1, node.value + 1):
            out.append(("off by one", ast.Constant(w)))
    elif isinstance(node, ast.Constant) and node.value is True and isinstance(parent, ast.keyword):
        pass  # keyword booleans are handled with their call
    elif isinstance(node, ast.Slice) and node.step is not None:
        m = copy.deepcopy(node)
        m.step = None
        out.append(("slice step dropped", m))
    elif isinstance(node, ast.Call):
        name = _call_name(node)
        kws = [k.arg for k in node.keywords]
        if "keepdims" in kws or "keepdim" in kws:
            m = copy.deepcopy(node)
            m.keywords = [k for k in m.keywords if k.arg not in ("keepdims", "keepdim")]
            out.append(("keepdims dropped", m))
        for i, k in enumerate(node.keywords):
            if k.arg in _AXIS_KW:
                m = copy.deepcopy(node)
                v = ast.unparse(k.value)
                m.keywords[i].value = ast.parse("0" if v in ("-1", "axis", "dim") else "-1", mode="eval").body
                out.append(("another axis", m))
        if name in _REDUCTIONS:
            m = copy.deepcopy(node)
            m.keywords = [k for k in m.keywords if k.arg not in _AXIS_KW]
            if isinstance(node.func, ast.Attribute) and not isinstance(node.func.value, ast.Name):
                m.args = []  # x.sum(-1): the method form's positional argument is the axis
            elif isinstance(node.func, ast.Attribute) and node.func.value.id in ("np", "torch", "F", "jnp"):
                m.args = m.args[:1]  # np.sum(x, 0)
            elif isinstance(node.func, ast.Attribute):
                m.args = []
            if ast.dump(m) != ast.dump(node):
                out.append(("global reduction", m))
        if name in _NAME_SWAPS:
            m = copy.deepcopy(node)
            if isinstance(m.func, ast.Attribute):
                m.func.attr = _NAME_SWAPS[name]
            else:
                m.func.id = _NAME_SWAPS[name]
            out.append(("max/min, sum/mean", m))
    if isinstance(node, ast.stmt) and isinstance(parent, (ast.FunctionDef, ast.For, ast.While, ast.If, ast.With)):
        body = getattr(parent, "body", [])
        targets_reused = False
        if isinstance(node, ast.Assign):
            read = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
            for t in node.targets:
                if isinstance(t, (ast.Subscript, ast.Attribute)):
                    targets_reused = True
                elif isinstance(t, ast.Name) and t.id in read:
                    targets_reused = True
        is_docstring = (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                        and isinstance(node.value.value, str))
        if not is_docstring and (isinstance(node, (ast.AugAssign, ast.Expr)) or targets_reused):
            if node in body and len(body) > 1:
                out.append(("statement dropped", None))
    return out


def _replace(parent: ast.AST, old: ast.AST, new: ast.AST | None) -> None:
    for fname, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, fname, new)
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is old:
                    if new is None:
                        del value[i]
                        if not value:
                            value.append(ast.Pass())
                    else:
                        value[i] = new
                    return
    raise ValueError("node not found in its parent")


def _walk_with_parents(tree: ast.AST) -> list[tuple[ast.AST, ast.AST | None]]:
    out = [(tree, None)]
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            out.append((child, parent))
    return out


def _uniq(label: str, seen: dict[str, int]) -> str:
    seen[label] = seen.get(label, 0) + 1
    return label if seen[label] == 1 else f"{label} #{seen[label]}"


def auto_mutants(exercise: str, source: str, notebook_globals: set[str] = frozenset()) -> list[Mutant]:
    """The automatic mutants of one solution cell (only nodes inside the solution region)."""
    tree = ast.parse(source)
    reference = ast.unparse(tree)
    begin, end = _solution_lines(source)
    mutants: list[Mutant] = []
    seen_src = {reference}
    seen_label: dict[str, int] = {}

    def add(label: str, new_tree: ast.AST) -> None:
        try:
            src = ast.unparse(ast.fix_missing_locations(new_tree))
            compile(src, "<mutant>", "exec")
        except (SyntaxError, ValueError, TypeError):
            return
        if src in seen_src:
            return
        seen_src.add(src)
        mutants.append(Mutant(exercise, _uniq(label, seen_label), src))

    nodes = _walk_with_parents(tree)
    for idx, (node, parent) in enumerate(nodes):
        line = getattr(node, "lineno", None)
        if line is None or not begin < line < end:
            continue
        for what, replacement in _node_edits(node, parent):
            t2 = copy.deepcopy(tree)
            n2, p2 = _walk_with_parents(t2)[idx]
            try:
                _replace(p2, n2, replacement)
            except ValueError:
                continue
            after = "(dropped)" if replacement is None else f"`{_short(replacement)}`"
            where = f" in `{_short(parent, 50)}`" if what == "off by one" and parent is not None else ""
            add(f"L{line - begin} {what}: `{_short(node)}` -> {after}{where}", t2)

    # whole-function mutants: return the input; read a notebook global instead of a parameter
    for idx, (node, _parent) in enumerate(nodes):
        if not isinstance(node, ast.FunctionDef):
            continue
        params = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs if a.arg != "self"]
        has_solution_body = any(begin < getattr(s, "lineno", 0) < end for s in node.body)
        if not params or not has_solution_body:
            continue
        t2 = copy.deepcopy(tree)
        f2 = _walk_with_parents(t2)[idx][0]
        doc = 1 if ast.get_docstring(f2) is not None else 0
        f2.body.insert(doc, ast.Return(ast.Name(params[0], ast.Load())))
        add(f"{node.name} returns its input `{params[0]}`", t2)
        for p in params:
            if p not in notebook_globals:
                continue
            t2 = copy.deepcopy(tree)
            f2 = _walk_with_parents(t2)[idx][0]
            names = [n for s in f2.body for n in ast.walk(s) if isinstance(n, ast.Name) and n.id == p]
            if not names or any(not isinstance(n.ctx, ast.Load) for n in names):
                continue
            for n in names:
                parent_map = {c: par for par in ast.walk(f2) for c in ast.iter_child_nodes(par)}
                _replace(parent_map[n], n, ast.parse(f"globals()[{p!r}]", mode="eval").body)
            add(f"{node.name} reads the notebook's global `{p}` instead of its argument", t2)
    return mutants


def load_catalogue(slug: str, directory: Path | None = None) -> dict:
    path = (directory or CATALOGUE_DIR) / f"{slug}.toml"
    if not path.is_file():
        return {"mutant": [], "equivalent": []}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data.setdefault("mutant", [])
    data.setdefault("equivalent", [])
    return data


def catalogue_mutants(catalogue: dict, solutions: dict[str, str]) -> tuple[list[Mutant], list[str]]:
    """The hand-written mutants; problems lists entries that no longer apply to the source."""
    out, problems = [], []
    for entry in catalogue["mutant"]:
        ex, name = entry.get("exercise", ""), entry.get("name", "?")
        if ex not in solutions:
            problems.append(f"catalogue mutant {name!r}: no exercise {ex!r} in the lesson")
            continue
        src = solutions[ex]
        if "source" in entry:
            src = entry["source"]
        for old, new in entry.get("replace", []):
            if old not in src:
                problems.append(f"catalogue mutant {ex}: {name!r}: the text {old!r} is not in the solution cell")
                src = None
                break
            src = src.replace(old, new)
        if src is not None:
            out.append(Mutant(ex, name, src, "catalogue", entry.get("why", "")))
    return out, problems


# --------------------------------------------------------------------------- kernel
class Kernel:
    """One IPython kernel, run cell by cell; a cell past the timeout is interrupted."""

    def __init__(self, cwd: Path, timeout: float, memory_gb: int = 4):
        from jupyter_client.manager import start_new_kernel

        env = dict(os.environ, MPLBACKEND="agg", TQDM_DISABLE="1")
        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=str(cwd), env=env,
                                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
        self.timeout = timeout
        # a mutant that loops while appending must not take the machine's memory: cap the kernel's heap
        self.run(f"import resource as _r; _r.setrlimit(_r.RLIMIT_DATA, ({memory_gb} << 30, {memory_gb} << 30)); del _r")

    def run(self, code: str, timeout: float | None = None) -> str | None:
        """None when the cell ran cleanly, else 'ErrorName: first line'."""
        if not code.strip():
            return None
        try:
            reply = self.kc.execute_interactive(code, timeout=timeout or self.timeout, output_hook=lambda msg: None,
                                                store_history=False)
        except TimeoutError:
            self.km.interrupt_kernel()
            try:  # drain the interrupted cell's reply
                self.kc.get_shell_msg(timeout=30)
            except Exception:  # noqa: BLE001 (queue.Empty): the kernel is slow to stop; the next cell waits
                pass
            return f"Timeout: past {timeout or self.timeout:.0f} s"
        c = reply["content"]
        if c["status"] == "ok":
            return None
        first = (c.get("evalue") or "").strip().splitlines()
        return f"{c.get('ename', 'Error')}: {first[0] if first else ''}"[:200]

    def global_names(self) -> set[str]:
        reply = self.kc.execute_interactive(
            "", user_expressions={"g": "sorted(k for k in globals() if not k.startswith('_'))"},
            output_hook=lambda msg: None, store_history=False, timeout=60)
        data = reply["content"]["user_expressions"]["g"]
        return set(ast.literal_eval(data["data"]["text/plain"])) if data.get("status") == "ok" else set()

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


# --------------------------------------------------------------------------- running
@dataclass
class Outcome:
    mutant: Mutant
    killed_by: str  # "visible", "hidden", "" (survived)
    message: str = ""


@dataclass
class LessonReport:
    slug: str
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def counted(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.mutant.equivalent]

    @property
    def equivalent(self) -> int:
        return sum(1 for o in self.outcomes if o.mutant.equivalent)

    @property
    def killed_visible(self) -> int:
        return sum(1 for o in self.counted() if o.killed_by == "visible")

    @property
    def killed_all(self) -> int:
        return sum(1 for o in self.counted() if o.killed_by)

    def survivors(self) -> list[Outcome]:
        return [o for o in self.counted() if not o.killed_by]


def _split_test(src: str) -> tuple[str, str, str]:
    if HIDDEN_BEGIN not in src:
        return src, "", ""
    before, rest = src.split(HIDDEN_BEGIN, 1)
    hidden, after = rest.split(HIDDEN_END, 1)
    return before, hidden, after


def _exercises(nb) -> dict[str, dict]:
    """exercise -> {"solution": cell index, "tests": [indices], "between": [indices of plain code cells]}."""
    found: dict[str, dict] = {}
    for i, cell in enumerate(nb.cells):
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or "grade_id" not in nbg:
            continue
        if nbg.get("solution") and not nbg.get("grade"):
            found.setdefault(nbg["grade_id"], {"tests": []})["solution"] = i
        elif nbg.get("grade"):
            found.setdefault(exercise_of(nbg["grade_id"]), {"tests": []})["tests"].append(i)
    marked = {i for e in found.values() for i in [e.get("solution", -1), *e["tests"]]}
    out = {}
    for name, e in found.items():
        if "solution" not in e or not e["tests"]:
            continue
        last = max(e["tests"])
        e["between"] = [i for i in range(e["solution"] + 1, last)
                        if nb.cells[i].cell_type == "code" and i not in marked
                        and not nb.cells[i].get("metadata", {}).get("nbgrader", {}).get("solution")]
        out[name] = e
    return out


def _run_tests(k: Kernel, nb, ex: dict) -> tuple[str, str]:
    """('', '') when every test cell passes, else (which part failed, message)."""
    for part in ("visible", "hidden"):
        for t in ex["tests"]:
            pieces = _split_test(nb.cells[t].source)
            code = pieces[0] + "\n" + pieces[2] if part == "visible" else pieces[1]
            if part == "hidden" and not code.strip():
                continue
            if part == "hidden":  # the hidden part may use what the visible part defines: run it again first
                err = k.run(pieces[0])
                if err:
                    return "visible", err
            err = k.run(code)
            if err:
                return part, err
    return "", ""


def _try(k: Kernel, nb, ex: dict, solution_source: str) -> tuple[str, str]:
    err = k.run(solution_source)
    if err:
        return "visible", f"the cell itself: {err}"
    for i in ex["between"]:
        k.run(nb.cells[i].source)  # an error here is not a kill: only graded tests grade
    return _run_tests(k, nb, ex)


def _summary(outcomes: list[Outcome]) -> str:
    n = [o for o in outcomes if not o.mutant.equivalent]
    vis = sum(o.killed_by == "visible" for o in n)
    return f"{len(n)} mutants, {vis} killed by visible tests, {sum(bool(o.killed_by) for o in n)} by all"


def _mutate_exercise(k: Kernel, nb, name: str, ex: dict, hand: list[Mutant], auto: bool,
                     equivalents: dict, used_equivalents: set, report: LessonReport) -> None:
    reference = nb.cells[ex["solution"]].source
    t0 = time.perf_counter()
    part, err = _try(k, nb, ex, reference)
    if part:
        report.problems.append(f"{name}: the reference fails its tests when re-run ({err}); skipped")
        return
    # a mutant that loops forever is killed; wait for it 10 times the reference's time, within the cap
    cap, k.timeout = k.timeout, min(k.timeout, max(5.0, 10 * (time.perf_counter() - t0)))
    mutants = [m for m in hand if m.exercise == name]
    if auto:
        mutants += auto_mutants(name, reference, k.global_names())
    for m in mutants:
        key = (m.exercise, m.label)
        if key in equivalents:
            m.equivalent = equivalents[key] or "(no reason given)"
            used_equivalents.add(key)
        part, err = _try(k, nb, ex, m.source)
        report.outcomes.append(Outcome(m, part, err))
    k.timeout = cap
    part, err = _try(k, nb, ex, reference)  # restore the reference's state for what follows
    if part:
        report.problems.append(f"{name}: the reference fails after its mutants ({err}): state leaked")


def run_lesson(lesson: Lesson, exercises: list[str] | None = None, timeout: float = 60,
               catalogue_dir: Path | None = None, auto: bool = True, log=print) -> LessonReport:
    from .runner import load_notebook

    start = time.perf_counter()
    report = LessonReport(lesson.slug)
    nb = load_notebook(write_solution_notebook(lesson))
    exs = _exercises(nb)
    if exercises:
        unknown = set(exercises) - set(exs)
        if unknown:
            report.problems.append(f"no such exercise: {', '.join(sorted(unknown))} (have {', '.join(exs)})")
        exs = {n: e for n, e in exs.items() if n in exercises}
    catalogue = load_catalogue(lesson.slug, catalogue_dir)
    solutions = {n: nb.cells[e["solution"]].source for n, e in exs.items()}
    hand, problems = catalogue_mutants(
        {**catalogue, "mutant": [m for m in catalogue["mutant"] if m.get("exercise") in exs]}, solutions)
    report.problems += problems
    equivalents = {(e["exercise"], e["mutant"]): e.get("reason", "") for e in catalogue["equivalent"]}
    used_equivalents: set[tuple[str, str]] = set()

    # Mutants run where the notebook reaches an exercise's last test cell, so the state they see is the
    # state its tests saw in a top-to-bottom run (later cells may rebind names the tests use).
    due: dict[int, list[str]] = {}
    for name, ex in exs.items():
        due.setdefault(max(ex["tests"]), []).append(name)
    k = Kernel(lesson.solution_notebook.parent, timeout)
    try:
        for i, cell in enumerate(nb.cells[: max(due, default=-1) + 1]):
            if cell.cell_type != "code":
                continue
            err = k.run(cell.source, timeout=max(timeout, 600))
            if err and cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
                report.problems.append(f"the solution fails its own test in cell {i + 1}: {err}")
            for name in due.get(i, []):
                _mutate_exercise(k, nb, name, exs[name], hand, auto, equivalents, used_equivalents, report)
                log(f"  {lesson.id} {name}: " + _summary([o for o in report.outcomes if o.mutant.exercise == name]))
    finally:
        k.close()
    for key in set(equivalents) - used_equivalents:
        if auto and (not exercises or key[0] in exercises):
            report.problems.append(f"catalogue marks {key[0]}: {key[1]!r} equivalent, but no such mutant exists now")
    report.seconds = time.perf_counter() - start
    return report


# --------------------------------------------------------------------------- report
def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.0f}%" if b else "-"


def table(reports: list[LessonReport]) -> str:
    rows = [("lesson", "mutants", "equivalent", "killed by visible tests", "killed by all tests", "survivors")]
    for r in reports:
        n = len(r.counted())
        rows.append((r.slug, str(n), str(r.equivalent), f"{r.killed_visible} ({_pct(r.killed_visible, n)})",
                     f"{r.killed_all} ({_pct(r.killed_all, n)})", str(len(r.survivors()))))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def details(r: LessonReport) -> str:
    out = [f"{r.slug} ({r.seconds:.0f} s)"]
    out += [f"  PROBLEM {p}" for p in r.problems]
    for o in r.survivors():
        tag = f" [{o.mutant.why}]" if o.mutant.why else ""
        out.append(f"  SURVIVES {o.mutant.exercise}: {o.mutant.label}{tag}")
    for o in r.counted():
        if o.killed_by == "hidden":
            out.append(f"  hidden only {o.mutant.exercise}: {o.mutant.label}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course.authoring.mutation", description=__doc__.split("\n\n")[0])
    p.add_argument("lessons", nargs="+", help="lesson ids or slugs, e.g. 0.1 2.1")
    p.add_argument("--exercise", action="append", help="only this exercise (repeatable)")
    p.add_argument("--catalogue-only", action="store_true", help="only the hand-written mutants")
    p.add_argument("--timeout", type=float, default=60, help="seconds per cell before a mutant counts as hanging")
    p.add_argument("--list", action="store_true", help="print the mutants and run nothing")
    p.add_argument("--json", type=Path, help="also write every outcome to this file")
    p.add_argument("--catalogue", type=Path, default=None, help=f"the catalogue folder (default {CATALOGUE_DIR})")
    args = p.parse_args(argv)

    reports = []
    for name in args.lessons:
        lesson = find_lesson(name)
        if args.list:
            from .runner import load_notebook

            nb = load_notebook(write_solution_notebook(lesson))
            for ex_name, ex in _exercises(nb).items():
                if args.exercise and ex_name not in args.exercise:
                    continue
                src = nb.cells[ex["solution"]].source
                hand, _ = catalogue_mutants(load_catalogue(lesson.slug, args.catalogue), {ex_name: src})
                for m in hand + ([] if args.catalogue_only else auto_mutants(ex_name, src)):
                    print(f"{lesson.id} {m.exercise}: {m.label}")
            continue
        print(f"{lesson.slug}: running", flush=True)
        r = run_lesson(lesson, args.exercise, args.timeout, catalogue_dir=args.catalogue, auto=not args.catalogue_only,
                       log=lambda s: print(s, flush=True))
        reports.append(r)
        print(details(r), flush=True)
    if args.list:
        return 0
    print()
    print(table(reports))
    if args.json:
        args.json.write_text(json.dumps([
            {"lesson": r.slug, "seconds": round(r.seconds, 1), "problems": r.problems,
             "outcomes": [{"exercise": o.mutant.exercise, "mutant": o.mutant.label, "kind": o.mutant.kind,
                           "killed_by": o.killed_by, "message": o.message, "equivalent": o.mutant.equivalent}
                          for o in r.outcomes]} for r in reports], indent=1))
    bad = any(r.survivors() or r.problems for r in reports)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
