"""Class 4 of issue 16: rule checks judge the code that runs.

A lesson's rule checks ("must not modify its input", "no loops, no matmul") used to judge what
a name points at: the source that ``inspect.getsource`` found for it, and the test's own copy of
an input. Here each hostile case computes a result the forbidden way (or changes its input in
place) and dresses it up; each must lose that exercise's points with a message that says why,
while a correct answer (plain, as a lambda, or behind a decorator that only forwards) keeps
full marks."""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest

from course.authoring.lessons import ROOT, Lesson, build

from .conftest import HEADER, Sub, make_settings

RULES = "9.7-rules"
BODY = '''
# %% [markdown]
# # Rules

# %%
import numpy as np
from course import checks

# %% nbgrader={"solution": true, "grade_id": "scale"} exercise={"difficulty": 1, "importance": 1, "minutes": 1}
def scale(x, k):
    """k * x as a new array; x is left as it was."""
    ### BEGIN SOLUTION
    return k * x
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "scale_test", "points": 2}
x = np.arange(4.0)
keep = x.copy()
checks.assert_close("scale", scale(x, 3.0), 3.0 * keep)
checks.assert_close("scale", x, keep, name="x after the call", hint="do not modify x in place")
### BEGIN HIDDEN TESTS
_y = np.arange(6.0).reshape(2, 3)[:, ::2]
_keep = _y.copy()
scale(_y, -1.0)
checks.assert_close("scale", _y, _keep, name="the input after the call", hint="do not modify x in place")
### END HIDDEN TESTS

# %% nbgrader={"solution": true, "grade_id": "bmm"} exercise={"difficulty": 1, "importance": 1, "minutes": 1}
def bmm(a, b):
    """The batched matrix product, without loops, @, matmul, dot or einsum."""
    ### BEGIN SOLUTION
    return (a[..., :, :, None] * b[..., None, :, :]).sum(-2)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "bmm_test", "points": 3}
_rng = np.random.default_rng(0)
_a, _b = _rng.normal(size=(2, 3, 4)), _rng.normal(size=(2, 4, 5))
checks.assert_close("bmm", bmm(_a, _b), _a @ _b)
checks.assert_no_loops("bmm", bmm, forbidden=("@", "matmul", "dot", "einsum"), hint="broadcast, then sum")
'''

CLEAN = "(a[..., :, :, None] * b[..., None, :, :]).sum(-2)"
LOOPS = '''
def _loops(a, b):
    out = np.zeros(a.shape[:-1] + b.shape[-1:])
    for i in range(a.shape[-2]):
        for j in range(b.shape[-1]):
            out[..., i, j] = (a[..., i, :] * b[..., :, j]).sum(-1)
    return out
'''


@pytest.fixture(scope="module")
def rules_grader(tmp_path_factory):
    from autograder.grading.pipeline import Grader

    root = tmp_path_factory.mktemp("rulescourse") / "course"
    (root / "solutions" / RULES).mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "solutions" / RULES / f"{RULES}.py").write_text(
        HEADER.replace("9.8", "9.7").replace("A lesson to grade", "Rules") + "\n" + textwrap.dedent(BODY).lstrip("\n"))
    build([Lesson(RULES, root)], root=root)
    g = Grader(make_settings(root, tmp_path_factory.mktemp("rulesdata"), wall_seconds=40))  # a loaded CI machine
    g.start()
    g.release = json.loads((root / "exercises" / RULES / f"{RULES}.ipynb").read_text())
    # every test of the lesson runs in the test process: what is measured here is the split
    assert g.mode_for(g.catalogue.spec(RULES)) == "split"
    yield g
    g.stop()


def grade(g, **sources):
    import nbformat

    s = Sub(nbformat.from_dict(g.release))
    for gid, src in {"scale": "def scale(x, k):\n    return k * x", "bmm": f"def bmm(a, b):\n    return {CLEAN}",
                     **sources}.items():
        s.nb.cells[s.index(gid)].source = textwrap.dedent(src).strip("\n")
    r = g.grade_bytes(RULES, s.bytes())
    assert r.status == "graded", r.status
    return {x.exercise: x for x in r.results}, r


# ------------------------------------------------------------------ in-place changes to an input
@pytest.mark.parametrize("body", [
    "x *= k\n    return x.copy()",
    "np.multiply(x, k, out=x)\n    return x.copy()",
    "x.reshape(-1)[...] = k * x.reshape(-1)\n    return x.copy()",
    "y = x.view()\n    y += (k - 1) * x\n    return y.copy()",
], ids=["imul", "out=", "through-reshape", "through-a-view"])
def test_changing_a_numpy_argument_in_place_is_seen(rules_grader, body):
    res, _ = grade(rules_grader, scale=f"def scale(x, k):\n    {body}")
    assert res["scale"].status == "fail" and res["scale"].points == 0, res["scale"].message
    assert "in place" in res["scale"].message, res["scale"].message


def test_a_correct_answer_keeps_full_marks(rules_grader):
    res, r = grade(rules_grader)
    assert r.score == r.max_score, [(x.exercise, x.message) for x in r.results]


# ------------------------------------------------------------------ the no-loops / no-matmul check
HOSTILE = {
    "a callable object": LOOPS + '''
class _Bmm:
    def __call__(self, a, b):
        return _loops(a, b)
bmm = _Bmm()
''',
    "a code object whose lines point at a decoy": LOOPS + f'''
def _decoy(a, b):
    return {CLEAN}
def bmm(a, b):
    return _loops(a, b) if False else np.matmul(a, b)
bmm.__code__ = bmm.__code__.replace(co_firstlineno=_decoy.__code__.co_firstlineno, co_name="_decoy")
''',
    "a function that swaps its code after it ran": f'''
def _clean(a, b):
    return {CLEAN}
def bmm(a, b):
    out = np.matmul(a, b)
    bmm.__code__ = _clean.__code__
    return out
''',
    "the code of another function put in place": f'''
def bmm(a, b):
    return {CLEAN}
def _cheat(a, b):
    return np.matmul(a, b)
bmm.__code__ = _cheat.__code__
''',
    "an alias of a library function": "bmm = np.matmul",
    "an alias used through a global name": "_mm = np.matmul\ndef bmm(a, b):\n    return _mm(a, b)",
    "a default argument": "def bmm(a, b, _f=np.matmul):\n    return _f(a, b)",
    "a lambda": "bmm = lambda a, b: np.einsum('...ij,...jk->...ik', a, b)",
    "functools.partial": "import functools\nbmm = functools.partial(np.einsum, '...ij,...jk->...ik')",
    "a decorator that does not just forward": f'''
import functools
def _deco(f):
    @functools.wraps(f)
    def wrapper(a, b):
        return np.matmul(a, b)
    return wrapper
@_deco
def bmm(a, b):
    return {CLEAN}
''',
    "a helper function where the loop lives": LOOPS + "def bmm(a, b):\n    return _loops(a, b)",
    "a helper of a helper": LOOPS + "def _mid(a, b):\n    return _loops(a, b)\ndef bmm(a, b):\n    return _mid(a, b)",
    "a helper calling np.matmul": "def _h(a, b):\n    return np.matmul(a, b)\ndef bmm(a, b):\n    return _h(a, b)",
    "a method of the notebook's class": LOOPS + '''
class _Ops:
    @staticmethod
    def mm(a, b):
        return _loops(a, b)
def bmm(a, b):
    return _Ops.mm(a, b)
''',
    "a method of an object of the notebook's": '''
class _Ops:
    def mm(self, a, b):
        return np.einsum("...ij,...jk->...ik", a, b)
_ops = _Ops()
def bmm(a, b):
    return _ops.mm(a, b)
''',
    "a helper in a closure": LOOPS + '''
def _make():
    def inner(a, b):
        return _loops(a, b)
    def outer(a, b):
        return inner(a, b)
    return outer
bmm = _make()
''',
    "a callable object as helper": LOOPS + '''
class _C:
    def __call__(self, a, b):
        return _loops(a, b)
_c = _C()
def bmm(a, b):
    return _c(a, b)
''',
    "helpers nested too deep": LOOPS + "".join(
        f"def _h{i}(a, b):\n    return _h{i + 1}(a, b)\n" for i in range(8)) + "_h8 = _loops\n"
        + "def bmm(a, b):\n    return _h0(a, b)",
    "a function made by exec": "exec('def bmm(a, b):\\n    return np.matmul(a, b)')",
    "other globals than the notebook's": f'''
import types
def _combine(a, b):
    return {CLEAN}
def _bmm(a, b):
    return _combine(a, b)
bmm = types.FunctionType(_bmm.__code__, {{**globals(), "_combine": np.matmul}})
''',
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_the_no_loops_check_judges_the_code_that_runs(rules_grader, case):
    res, _ = grade(rules_grader, bmm=HOSTILE[case])
    m = res["bmm"]
    assert m.status == "fail" and m.points == 0, (case, m.message)
    assert "bmm" in m.message and len(m.message.splitlines()[0]) < 300, m.message


CORRECT = {
    "behind functools.wraps": f'''
import functools
def _logged(f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        return f(*args, **kwargs)
    return wrapper
@_logged
def bmm(a, b):
    return {CLEAN}
''',
    "a lambda": f"bmm = lambda a, b: {CLEAN}",
    "a helper of the learner's": f"def _helper(a, b):\n    return {CLEAN}\ndef bmm(a, b):\n    return _helper(a, b)",
    "a helper of a helper": f"def _h2(a, b):\n    return {CLEAN}\ndef _h1(a, b):\n    return _h2(a, b)\n"
                            "def bmm(a, b):\n    return _h1(a, b)",
    "a recursive helper and data": f"_AXIS = -2\ndef _h(a, b, n=1):\n    return {CLEAN} if n == 0 else _h(a, b, n - 1)\n"
                                   "def bmm(a, b):\n    return _h(a, b)",
    "a method of an object of the notebook's": f'''
class _Ops:
    def mm(self, a, b):
        return {CLEAN}
_ops = _Ops()
def bmm(a, b):
    return _ops.mm(a, b)
''',
    "gc.collect() and a comment naming ctypes": f"import gc  # ctypes is not needed here\n"
                                                 f"def bmm(a, b):\n    gc.collect()\n    return {CLEAN}",
    "the installed version, read with importlib.metadata": f"from importlib.metadata import version\n"
                                                           f"_NP = version('numpy')\ndef bmm(a, b):\n    return {CLEAN}",
}


@pytest.mark.parametrize("case", list(CORRECT))
def test_a_correct_answer_in_another_shape_passes(rules_grader, case):
    res, _ = grade(rules_grader, bmm=CORRECT[case])
    assert res["bmm"].status == "pass", (case, res["bmm"].message[:2000])


def test_in_one_kernel_the_check_also_reads_the_code_that_runs():
    """The same checks run in a learner's own kernel (no sandbox): a lying line number and an
    alias are caught there too, and a forwarding decorator is followed."""
    import functools

    import numpy as np

    from course import checks

    def clean(a, b):
        return (a[..., :, :, None] * b[..., None, :, :]).sum(-2)

    def cheat(a, b):
        return np.matmul(a, b)

    liar = cheat
    liar.__code__ = cheat.__code__.replace(co_firstlineno=clean.__code__.co_firstlineno)
    for fn in (liar, np.matmul, functools.partial(np.einsum, "...ij,...jk->...ik")):
        with pytest.raises(checks.CheckFailure):
            checks.assert_no_loops("bmm", fn, forbidden=("matmul", "einsum"))

    @functools.wraps(clean)
    def forward(*args, **kwargs):
        return clean(*args, **kwargs)

    checks.assert_no_loops("bmm", forward, forbidden=("matmul", "einsum"))
    checks.assert_no_loops("bmm", clean, forbidden=("matmul", "einsum"))

    def looping(a, b):
        return np.stack([x @ y for x, y in zip(a, b)])

    def via_helper(a, b):
        return looping(a, b)

    def via_clean_helper(a, b):
        return clean(a, b)

    with pytest.raises(checks.CheckFailure, match="looping"):  # the helper is judged, and named
        checks.assert_no_loops("bmm", via_helper, forbidden=("matmul", "einsum"))
    checks.assert_no_loops("bmm", via_clean_helper, forbidden=("matmul", "einsum"))


# ------------------------------------------------------------------ class 6: what a test asks for
SPY = '''
import gc
LOG = []
for _o in gc.get_objects():
    if type(_o).__name__ == "_Learner":
        _orig = _o.handle
        def _spy(msg, _orig=_orig):
            if msg[0] == "get":
                LOG.append(sorted(msg[1]))
            return _orig(msg)
        _o.handle = _spy
def double(x):
    return 2 * x
def norm(x):
    return np.sqrt((x ** 2).sum())
'''


def test_the_names_a_test_asks_for_say_nothing_about_the_test(grader, sub):
    """A learner who records T's requests (here by wrapping L's request handler) sees the same
    request before every test cell (it depends on the learner's own cells, here all defined before
    the first test), not the names the next (hidden) test uses."""
    from .conftest import SLUG, outputs_text

    r = grader.grade_bytes(SLUG, sub().solve(double=SPY).after("norm_test", 'print("LOG", LOG)').bytes())
    assert r.score == r.max_score, [(x.exercise, x.message) for x in r.results]
    log = outputs_text(r).split("LOG", 1)[-1].strip()
    requests = eval(log.splitlines()[0])  # noqa: S307 - a list of lists of names, printed by the test's own cell
    assert len(requests) >= 2, log
    assert all(req == requests[0] for req in requests), requests


# ------------------------------------------------------------------ T does not believe L's reports
# The learner's code runs in L, next to the grader's side of L: it can rewrite what L reports. The
# verdicts must not rest on L saying "nothing changed" or "this is my code".
_LEARNER = "import autograder.grading.sandbox.learner as _l\n"
LIES_INPLACE = {
    "the reporting function says nothing changed": _LEARNER + '''
for _n in ("changed_arrays", "arguments_after"):
    setattr(_l._Learner, _n, lambda self, arrays: [])
''',
    "a forged reply without the report": _LEARNER + '''
_handle = _l._Learner.handle
def _forged(self, msg):
    out = _handle(self, msg)
    return out[:2] if type(out) is tuple and out[:1] == ("value",) else out
_l._Learner.handle = _forged
''',
}


@pytest.mark.parametrize("case", list(LIES_INPLACE))
def test_a_learner_process_that_lies_about_its_inputs_does_not_pass(rules_grader, case):
    res, _ = grade(rules_grader, scale="def scale(x, k):\n    x *= k\n    return x.copy()\n" + LIES_INPLACE[case])
    m = res["scale"]
    assert m.status == "fail" and m.points == 0, (case, m.message)


LIES_CODE = {
    "the describing function describes a decoy": LOOPS + f'''
def _decoy(a, b):
    return {CLEAN}
def bmm(a, b):
    return _loops(a, b)
import autograder.grading.sandbox.code as _c
_real = _c.describe
_c.describe = lambda obj, ran, refs, depth=0: _real(_decoy, (), refs, depth)
''',
    "a forged description": LOOPS + f'''
def _decoy(a, b):
    return {CLEAN}
def bmm(a, b):
    return _loops(a, b)
{_LEARNER}_l._Learner.describe_code = lambda self, obj, depth=0: __import__(
    "autograder.grading.sandbox.code", fromlist=["describe"]).describe(_decoy, (), self.refs, depth)
''',
}


@pytest.mark.parametrize("case", list(LIES_CODE))
def test_a_learner_process_that_lies_about_its_code_does_not_pass(rules_grader, case):
    res, _ = grade(rules_grader, bmm=LIES_CODE[case])
    m = res["bmm"]
    assert m.status == "fail" and m.points == 0, (case, m.message)
    assert "bmm" in m.message, m.message


def test_t_judges_its_own_compilation_of_a_plain_def_whatever_l_says():
    """Without the learner's process: a description that names a decoy's code, for a name the
    cells bind only with ``def``, is refused; the true description is taken."""
    from autograder.grading.sandbox import code
    from autograder.grading.sandbox.proxies import Remote

    cells = {"<cell 1>": LOOPS + f"def _decoy(a, b):\n    return {CLEAN}\ndef bmm(a, b):\n    return _loops(a, b)\n"}

    class Conn:
        sources = cells

        def __init__(self, target):
            self.target, self._c = target, {}

        def compiled(self, f):
            return self._c.setdefault(f, compile(self.sources[f], f, "exec", dont_inherit=True))

        def request(self, msg):
            top = self.compiled("<cell 1>")
            fn = next(c for c in top.co_consts if getattr(c, "co_name", None) == self.target)
            return {"codes": [code.fingerprint(fn)], "globals": {}, "builtins": True, "closure": [],
                    "defaults": [], "kwdefaults": {}, "wrapped": None, "forward": None}

    for said, ok in (("_decoy", False), ("bmm", True)):
        conn = Conn(said)
        remote = Remote(conn, 1, "function", True)
        code.name_remote(conn, remote, "bmm")
        try:
            got = code.judged(conn, remote)
        except TypeError as err:
            assert not ok and "def bmm" in str(err), err
        else:
            assert ok and got[0].__code__.co_name == "bmm", said


# ------------------------------------------------------------------ reaching into the interpreter
REACHING = {  # source -> the word that makes it fail closed (None: harmless, read as code)
    "import gc\ngc.collect()": None,
    "# neither gc nor ctypes here\nx = 1": None,
    "from importlib.metadata import version": None,
    "%timeit f()\nimport gc\ngc.collect()": None,
    "import gc\ngc.get_objects()": "gc",
    "import gc as g\ng.get_objects()": "gc",
    "from gc import collect, get_objects": "gc",
    "import gc\nm = gc.collect.__self__": "__self__",
    "import importlib.metadata as md\nmd.import_module('x')": "import_module",
    "import importlib\nimportlib.reload(m)": "importlib",
    "import sys\nsys.modules['a']": "sys.modules",
    "from sys import modules": "sys.modules",
    "exec('import ctypes')": "ctypes",
    "getattr(f, '__globals__')": "__globals__",
    "x = sys._getframe(1).f_back": "_getframe",
}


@pytest.mark.parametrize("src", list(REACHING))
def test_what_reaches_into_the_interpreter_is_read_as_code_not_as_text(src):
    """A comment never fails a notebook's rule checks, a string may (it can be exec'd), and the
    two harmless uses learners make (``gc.collect()``, ``importlib.metadata``) are allowed; the
    rest of each module still fails closed."""
    from autograder.grading.sandbox.code import _reaching_in_source

    assert _reaching_in_source(src) == REACHING[src]


def test_a_notebook_that_reaches_in_through_a_harmless_name_still_fails(rules_grader):
    res, _ = grade(rules_grader, bmm=LOOPS + "import gc\n_m = gc.collect.__self__\ndef bmm(a, b):\n"
                                              "    return _loops(a, b)")
    m = res["bmm"]
    assert m.status == "fail" and "__self__" in m.message, m.message
