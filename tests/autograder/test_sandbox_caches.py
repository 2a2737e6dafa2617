"""What T keeps between reads of the same cell text (issue 16's "grading is no slower").

T reads the submitted and the tests' cells many times: the names a test uses, the definitions a test
leaves, which cells bind a checked name (``code.static_def``), whether a cell reaches into the
interpreter, a function's source for a rule check. Each reader is a function of the cell's text
alone, so its answer is kept keyed by that exact text, never by a name or anything the learner's
process says. These tests show that what is kept cannot go stale: a later cell that binds a name
again is read, an answer handed out cannot be changed by its caller, and a rule check reads the
source of the code object it is given (the cell it came from), not of a name."""

from __future__ import annotations

import ast
import inspect
import types

import pytest

from autograder.grading.sandbox import code, definitions
from autograder.grading.sandbox.tests import _Conn

SOURCES = [
    "import numpy as np\nx = np.arange(3)\n\ndef f(a):\n    return a + 1\n",
    "W_Q, W_K = 1, 2\r\nclass C:\r\n    pass\r\nwith open('f') as fh:\r\n    data = fh.read()\r\n",
    "a = 'é€'; b = 2\rc = [1,\n 2]\x0cd = 3\n",
    "def g(\n    x,\n):\n    return 'ü' * x\n\n\nz: int = g(\n2)",
    "from os import path as p, sep\nimport os.path\n",
    "def broken(:\n",
]


def _reference_definitions(src: str) -> dict[str, str]:
    """The readers' answer as it was before it was kept: ast.get_source_segment per statement."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return {}
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [(a.asname or a.name).split(".")[0] for a in node.names]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            names = definitions._assigned(node)
        elif isinstance(node, ast.With):
            names = [n for c in node.body if isinstance(c, (ast.Assign, ast.AnnAssign)) for n in definitions._assigned(c)]
        else:
            continue
        segment = ast.get_source_segment(src, node)
        out.update({n: segment for n in names if segment})
    return out


@pytest.mark.parametrize("src", SOURCES)
def test_definitions_read_once_are_what_ast_reads_every_time(src):
    """Line ends of every kind (\\r\\n, \\r, a form feed that is not one), text beyond ASCII."""
    for _ in range(2):  # the second answer comes from what was kept
        assert definitions._top_level_definitions(src) == _reference_definitions(src)
        tree = definitions._tree(src)
        want = set() if tree is None else {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert definitions._names_in(src) == want


def test_an_answer_handed_out_cannot_change_what_is_kept():
    src = SOURCES[0]
    got = definitions._top_level_definitions(src)
    got["x"] = "x = 'changed'"
    got["new"] = "new = 1"
    assert definitions._top_level_definitions(src) == _reference_definitions(src)
    with pytest.raises(AttributeError):
        definitions._names_in(src).add("y")  # a frozenset: nothing to change


class _Cells:
    """A test's stand-in for T's connection: the submitted cells, compiled by T."""

    def __init__(self, *cells: str):
        self.sources = {f"<cell {i}>": src for i, src in enumerate(cells)}
        self._c: dict = {}

    def compiled(self, f):
        return self._c.setdefault(f, compile(self.sources[f], f, "exec", dont_inherit=True))


DEF = "def bmm(a, b):\n    return a * b\n"


@pytest.mark.parametrize("later, plain", [
    ("y = 1\n", True),  # the same first cell, read before: still T's own def
    ("bmm = lambda a, b: a @ b\n", False),  # bound again by a later cell: no plain def
    ("import numpy as np\nfrom numpy import matmul as bmm\n", False),
    ("def helper():\n    global bmm\n    bmm = None\n", False),
    ("@staticmethod\ndef bmm(a, b):\n    return a\n", False),
    ("def bmm(a, b):\n    return b * a\n", True),  # a later plain def: that one runs
])
def test_a_later_cell_that_binds_the_name_again_is_read(later, plain):
    first = _Cells(DEF, "y = 1\n")
    assert code.static_def(first, "bmm") is not None  # the first cell's text is now kept
    cells = _Cells(DEF, later)
    got = code.static_def(cells, "bmm")
    assert (got is not None) == plain, later
    if plain:
        f = "<cell 1>" if later.startswith("def bmm") else "<cell 0>"
        assert got.co_filename == f and got in cells.compiled(f).co_consts


def test_reaching_in_is_read_for_every_cell_whatever_was_read_before():
    clean = _Cells(DEF)
    assert code._reaching_in(clean) is None
    dirty = _Cells(DEF, "import ctypes\n")
    assert code._reaching_in(dirty) == "`ctypes` in cell 1"


def test_a_rule_check_reads_each_cell_s_own_source_without_walking_sys_modules(monkeypatch):
    """T registers each submitted cell as belonging to no module, so inspect does not look for its
    module in every module T has imported (~4,000 with torch), twice per source read; what it reads
    is still the text of the cell the code object was compiled from, even for one name defined in
    two cells."""
    from course.checks.code import source_of

    conn = _Conn(None, None, 0)
    first, second = "def bmm(a, b):\n    return a * b\n", "x = 1\n\ndef bmm(a, b):\n    return (a * b).sum(-2)\n"
    conn.add_source("<cell 901>", first)
    conn.add_source("<cell 902>", second)
    walked = []
    monkeypatch.setattr(inspect, "getabsfile", lambda *a, **k: walked.append(a) or "/nowhere")
    for f, src, line in (("<cell 901>", first, 1), ("<cell 902>", second, 3)):
        top = conn.compiled(f)
        fn = next(c for c in top.co_consts if isinstance(c, types.CodeType) and c.co_name == "bmm")
        got = source_of(types.FunctionType(fn, {}))
        assert got == (src.split("\n\n")[-1], line)
        assert inspect.getmodule(fn, f) is None  # as before: no module holds a cell
    assert walked == []
