"""The layout rules (DESIGN.md, "Layout inside the packages"), read off the source.

- no import cycles between the modules of `course` and `autograder`;
- `course` never imports `autograder` (it talks to the service over HTTP);
- the sandbox (the code that runs next to learner code) imports nothing of the gradebook,
  the API or the settings, directly or through another module of ours;
- no module over about 800 lines;
- every package's docstring names each of its modules, so "where is X" is answered by
  reading one `__init__.py`.

Imports are read with `ast`, inside functions too: an import deferred to call time is still
a dependency. An edge goes to the module named (`from a.b import c` is an edge to `a.b.c`
when `c` is a module, else to `a.b`); the implicit import of a parent package is not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("course", "autograder")
# Copied verbatim into learners' projects (course/scaffold) and Alembic's own scripts: not course code.
SKIP_PARTS = {"scaffold", "migrations"}
MAX_LINES = 800
# Modules allowed over MAX_LINES, each with the reason and the issue that removes it.
OVER_LIMIT: dict[str, str] = {}
SANDBOX = "autograder.grading.sandbox"
SANDBOX_MUST_NOT_REACH = ("autograder.gradebook", "autograder.api", "autograder.settings", "autograder.dashboard",
                          "autograder.projects", "autograder.transcripts", "autograder.grading.worker",
                          "autograder.grading.taskqueue")


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT)
            if SKIP_PARTS & set(rel.parts):
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _ours(name: str) -> str | None:
    """The module of ours that `name` (a module or `module.attribute`) lives in, if any."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> set[str]:
    base = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                target = f"{anchor}.{node.module}" if node.module else anchor
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    return {m for m in map(_ours, found) if m and m != module}


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(root):
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for w in GRAPH[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def test_the_graph_was_read():
    assert "course.checks" in MODULES and "autograder.grading.pipeline" in MODULES
    assert "course.authoring.lessons" in GRAPH["autograder.grading.pipeline"]


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles (break each by moving the shared part into its own module):\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_course_never_imports_autograder():
    bad = sorted(f"{m} imports {w}" for m, ws in GRAPH.items() if m.startswith("course") for w in ws
                 if w.startswith("autograder"))
    assert not bad, "course/ talks to the service over HTTP only (course/learner/client.py):\n" + "\n".join(bad)


def test_the_sandbox_imports_nothing_of_the_gradebook():
    sandbox = [m for m in MODULES if m == SANDBOX or m.startswith(SANDBOX + ".")]
    assert sandbox, f"no module {SANDBOX}: update this test with the sandbox's new place"
    bad = sorted(f"{m} reaches {w}" for m in sandbox for w in _reachable(m) if w.startswith(SANDBOX_MUST_NOT_REACH))
    assert not bad, "the sandbox runs beside learner code and must not even import the service's state:\n" + "\n".join(bad)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_over_the_line_limit(module):
    lines = len(MODULES[module].read_text().splitlines())
    if module in OVER_LIMIT:
        assert lines > MAX_LINES, f"{module} is {lines} lines now: remove it from OVER_LIMIT"
        return
    assert lines <= MAX_LINES, (f"{module} is {lines} lines (limit about {MAX_LINES}): split it by concern "
                                f"into a package, as autograder/grading/ and course/learner/ are")


PACKAGE_INITS = sorted(p for p in MODULES.values() if p.name == "__init__.py" and p.parent.name not in PACKAGES)


@pytest.mark.parametrize("init", PACKAGE_INITS, ids=[str(p.parent.relative_to(ROOT)) for p in PACKAGE_INITS])
def test_every_package_docstring_names_its_modules(init):
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    children = sorted(p.name for p in init.parent.glob("*.py") if p.name != "__init__.py")
    children += sorted(f"{d.name}/" for d in init.parent.iterdir()
                       if d.is_dir() and (d / "__init__.py").exists() and d.name not in SKIP_PARTS)
    missing = [c for c in children if c.removesuffix(".py").removesuffix("/") not in doc]
    assert not missing, f"{init.relative_to(ROOT)}: say in the docstring what {', '.join(missing)} hold(s)"
