"""Issue 16, "calibration still places all of the course's graded tests in the separate process":
the crossings that four lessons' solutions needed (tests/autograder/test_calibration.py listed them
as KNOWN), each reproduced on a few cells, with the hostile case that goes with it.

* 0.3: a learner's tensor that L sent for a name the test cell did not use (T never decoded it)
  came back later by key only, for a tensor T had never built.
* 1.1: a hidden test derives a class from the learner's ``Module`` (``class _Block(Module)``).
* 2.3 and 4.6: see their own tests below."""

from __future__ import annotations

import textwrap

from autograder.grading.pipeline import hidden_paths


def run(grader, *cells: tuple[str, str], wall: float = 60.0):
    """Run ("code" | "test", source) cells in a sandboxed pair, split; each test cell's (ok, text)."""
    s = grader.settings
    job = {"slot": 0, "uid_base": s.sandbox_uid_base, "cpu_seconds": 120, "memory_bytes": s.memory_bytes,
           "max_processes": s.max_processes, "max_file_bytes": s.max_file_bytes, "scratch_bytes": s.scratch_bytes,
           "output_bytes": s.output_bytes, "trusted_imports": "import numpy as np\nfrom course import checks",
           "files_from": "", "mode": "split", "hide": hidden_paths(s),
           "fallback_scratch": str(s.data_path / "scratch" / "crossings")}
    job_cells = [{"index": i, "kind": kind, "source": textwrap.dedent(src)} for i, (kind, src) in enumerate(cells)]
    out = grader.zygote.run(job, job_cells, wall)
    assert out.status == "done", (out.status, out.reason, out.cells)
    results = []
    for i, (kind, _src) in enumerate(cells):
        text = "".join(o.get("text", "") + o.get("evalue", "") for o in out.cells[i]["outputs"])
        if kind == "code":
            assert out.cells[i]["ok"], text
        else:
            results.append((out.cells[i]["ok"], text))
    return results


# -- 0.3: every value L sends is decoded, in order, and held until the next request -------------

def test_a_learners_tensor_sent_for_a_name_the_test_did_not_use_still_crosses_later(torch_grader):
    """Every test cell asks L for every name any test uses; T decoded only the names of the cell
    about to run, so L counted ``w`` (a leaf that requires grad, kept in step by key) as held by T,
    and sent it by key only when a later test named it: "the learner process returned a tensor the
    test no longer holds", and the rest of the notebook did not run."""
    got = run(torch_grader,
              ("code", "import torch\nw = torch.tensor(2.0, requires_grad=True)\ndef double(x):\n    return 2 * x"),
              ("test", "import torch\nchecks.assert_close('double', double(torch.arange(3.0)), torch.tensor([0., 2., 4.]))"),
              ("test", "import torch\nchecks.assert_close('w', w.detach(), torch.tensor(2.0))\nprint('w crossed')"),
              ("test", "import torch\nw.data.add_(1.0)\nchecks.assert_close('w', w.detach(), torch.tensor(3.0))"),
              ("code", "print('L sees', float(w))"),
              ("test", "checks.assert_close('double', double(w.detach()), torch.tensor(6.0))\nprint('still')"))
    assert all(ok for ok, _ in got), got
    assert "w crossed" in got[1][1] and "still" in got[3][1]


HOSTILE_KEY = '''
import gc
import torch

_learner = next(o for o in gc.get_objects() if type(o).__name__ == "_Learner")
_keys = []
_honest = _learner.refs.tensor_hook

def _forged(v):
    """Name, instead of this result, the first tensor the test ever gave (the test dropped it)."""
    if getattr(v, "forge", False) and _keys:
        return ("\\x00bc", "ptt", _keys[0])
    return _honest(v)

_learner.refs.tensor_hook = _forged

def double(x):
    _keys.append(_learner.sync.key_of(x))
    out = torch.zeros_like(x)
    out.forge = len(_keys) > 1
    return out if len(_keys) > 1 else 2 * x
'''


def test_a_result_named_by_the_key_of_a_tensor_the_test_dropped_is_refused(torch_grader):
    """Hostile: L's reply names, by key, a tensor the test has dropped (T holds its own tensors
    weakly, so the key cannot resolve to anything else the test made since, its expected value
    included): the call fails, and the test with it."""
    got = run(torch_grader, ("code", HOSTILE_KEY),
              ("test", "import torch\nfirst = torch.tensor([1.0, 2.0])\n"
                       "checks.assert_close('double', double(first), torch.tensor([2.0, 4.0]))\ndel first\n"
                       "want = torch.tensor([10.0, 10.0])\n"
                       "checks.assert_close('double', double(torch.tensor([5.0, 5.0])), want)\nprint('passed')"),
              ("test", "checks.assert_true('x', True, 'the run goes on')\nprint('next test ran')"))
    (ok, text), (ok2, text2) = got
    assert not ok and "passed" not in text and "no longer holds" in text, text
    assert ok2 and "next test ran" in text2


KEY_LOG = '''
import gc
import torch

_learner = next(o for o in gc.get_objects() if type(o).__name__ == "_Learner")
SEEN = []

def double(x):
    SEEN.append(_learner.sync.key_of(x))
    return 2 * x

def keys_seen():
    return [len(SEEN), len(set(SEEN))]
'''


def test_a_key_the_test_dropped_is_never_given_to_a_tensor_it_makes_later(torch_grader):
    """T named its tensors by ``id()``, which CPython hands again to the next tensor at the same
    address: a forged reply naming a dropped key could then resolve to whatever the test made
    next (the test above failed in CI that way, on the test's next input). Keys are never reused."""
    got = run(torch_grader, ("code", KEY_LOG),
              ("test", "import torch\nfor i in range(40):\n"
                       "    checks.assert_close('double', double(torch.full((3,), float(i))), torch.full((3,), 2.0 * i))\n"
                       "n, distinct = keys_seen()\n"
                       "checks.assert_true('keys', n == 40 and distinct == 40, f'{distinct} distinct keys for {n} tensors')\n"
                       "print('distinct', distinct)"))
    (ok, text), = got
    assert ok and "distinct 40" in text, text


# -- 1.1: a test's class derived from a learner's class is made in L; its methods run in T -------

COUNTER = '''
FOUND = []

class Counter:
    def __init_subclass__(cls, **kwargs):
        """Hostile: look for the test's code in what L is given of the test's class."""
        import gc, types
        seen = [repr(v) for v in vars(cls).values()]
        for v in vars(cls).values():
            for f in (v, getattr(v, "__wrapped__", None)):
                code = getattr(f, "__code__", None)
                if code is not None:
                    seen += [repr(c) for c in code.co_consts] + [repr(getattr(c, "cell_contents", None))
                                                                for c in (f.__closure__ or ())]
        FOUND.extend(s for s in seen if "SECRET" in s)

    def __init__(self):
        self.n = 0

    def inc(self):
        self.n += 1
'''


def test_a_test_can_derive_a_class_from_a_learners_class(grader):
    got = run(grader, ("code", COUNTER),
              ("test", '''
                  class Twice(Counter):
                      label = "twice"

                      def inc(self):
                          Counter.inc(self)
                          Counter.inc(self)

                      def total(self, k):
                          return self.n * k

                  t = Twice()
                  t.inc()
                  checks.assert_true("counter", t.n == 2, f"n is {t.n}")
                  checks.assert_true("counter", isinstance(t, Counter) and isinstance(t, Twice), "isinstance")
                  checks.assert_true("counter", t.total(3) == 6 and t.label == "twice", "a method, an attribute")
                  print("derived", type(t).__name__)
              '''),
              ("code", "print('FOUND', FOUND)"))
    (ok, text), = got
    assert ok and "derived Twice" in text, text


def test_the_learners_base_class_never_sees_the_code_of_the_tests_class(grader):
    """Hostile: the test's methods stay in T (L calls them back): a learner's ``__init_subclass__``
    that reads everything L is given of the class finds none of the test's code or constants."""
    s = grader.settings
    job = {"slot": 0, "uid_base": s.sandbox_uid_base, "cpu_seconds": 120, "memory_bytes": s.memory_bytes,
           "max_processes": s.max_processes, "max_file_bytes": s.max_file_bytes, "scratch_bytes": s.scratch_bytes,
           "output_bytes": s.output_bytes, "trusted_imports": "from course import checks", "files_from": "",
           "mode": "split", "hide": hidden_paths(s), "fallback_scratch": str(s.data_path / "scratch" / "crossings")}
    cells = [{"index": 0, "kind": "code", "source": COUNTER},
             {"index": 1, "kind": "test", "source": textwrap.dedent('''
                  class Probe(Counter):
                      def check(self):
                          return "SECRET-IN-A-TEST-METHOD"
                  p = Probe()
                  checks.assert_true("counter", p.check() == "SECRET-IN-A-TEST-METHOD", "the method ran")
              ''')},
             {"index": 2, "kind": "code", "source": "print('FOUND', FOUND)"}]
    out = grader.zygote.run(job, cells, 60.0)
    assert out.status == "done" and out.cells[1]["ok"], out.cells
    text = "".join(o.get("text", "") for o in out.cells[2]["outputs"])
    assert "FOUND []" in text, text


# -- 2.3: backward() through a learner's result after the test dropped what it passed ----------

def test_backward_through_a_learners_result_reaches_inputs_the_test_no_longer_holds(torch_grader):
    """``(loss(a @ w, b @ w) + penalty).backward()``: the products are temporaries, so T forgets
    them (and tells L) before backward() asks L for their gradient. L now keeps, with each result
    it sends with its graph, its copies of the test's tensors that went into the call; before, the
    gradient through the learner's function was silently dropped (2.3: "the penalised loss is not
    at its minimum", on the solution)."""
    got = run(torch_grader,
              ("code", "import torch\ndef bt_loss(r_chosen, r_rejected):\n"
                       "    return -torch.nn.functional.logsigmoid(r_chosen - r_rejected).mean()"),
              ("test", '''
                  import torch
                  a, b = torch.tensor([[1.0, 2.0], [0.5, -1.0]]), torch.tensor([[0.0, 1.0], [2.0, 0.0]])
                  w = torch.tensor([0.3, -0.2], requires_grad=True)
                  (bt_loss(a @ w, b @ w) + 0.5 * (w ** 2).sum()).backward()
                  mine = w.detach().clone().requires_grad_(True)
                  (-torch.nn.functional.logsigmoid(a @ mine - b @ mine).mean() + 0.5 * (mine ** 2).sum()).backward()
                  checks.assert_close("bt", w.grad, mine.grad, name="the gradient through the learner's loss")
                  print("gradient", w.grad.tolist())
              '''))
    (ok, text), = got
    assert ok and "gradient" in text, text
    assert "not a leaf" not in text, text  # torch's warning on reading .grad of the test's a @ w, when sent


# -- 4.6: requires_grad_() on a tensor L already has; a test's definitions in the order they ran ---

def test_requires_grad_set_on_a_tensor_already_sent_reaches_the_learners_copy(torch_grader):
    """4.6's hidden test compares ``ccs_loss(p, q)`` with the reference, then ``p.requires_grad_(True)``
    and ``ccs_loss(p, q).backward()``: L's copy of ``p`` kept requires_grad=False, so the result came
    back without a graph ("element 0 of tensors does not require grad")."""
    got = run(torch_grader,
              ("code", "import torch\ndef sq(p):\n    return (p ** 2).sum()"),
              ("test", '''
                  import torch
                  p = torch.tensor([1.0, -2.0])
                  checks.assert_close("sq", sq(p), torch.tensor(5.0))
                  p.requires_grad_(True)
                  sq(p).backward()
                  checks.assert_close("sq", p.grad, torch.tensor([2.0, -4.0]), name="the gradient")
                  p.requires_grad_(False)
                  checks.assert_true("sq", not sq(p).requires_grad, "no graph once requires_grad is off again")
                  print("gradient", p.grad.tolist())
              '''))
    (ok, text), = got
    assert ok and "gradient" in text, text


def test_a_tests_definitions_shared_with_later_cells_run_in_the_order_they_ran(grader):
    """A visible test defines ``READ`` and then ``_w = f(READ)``; an earlier test had defined ``_w``
    too. A later learner cell uses both, so both are run in L too: in the order they ran (4.6:
    ``READ`` came after ``_w``'s first place, "name 'READ' is not defined"); and a name assigned in
    a top-level ``with`` block (3.3: ``with torch.no_grad(): one_ld_clean = ...``) goes too."""
    s = grader.settings
    job = {"slot": 0, "uid_base": s.sandbox_uid_base, "cpu_seconds": 120, "memory_bytes": s.memory_bytes,
           "max_processes": s.max_processes, "max_file_bytes": s.max_file_bytes, "scratch_bytes": s.scratch_bytes,
           "output_bytes": s.output_bytes, "trusted_imports": "from course import checks", "files_from": "",
           "mode": "split", "hide": hidden_paths(s), "fallback_scratch": str(s.data_path / "scratch" / "crossings")}
    first = "_w = 1\nchecks.assert_true('a', _w == 1, 'one')"
    second = ("import contextlib\nREAD = 2\n_w = READ * 10\nwith contextlib.nullcontext():\n    inner = READ + 1\n"
              "checks.assert_true('b', _w == 20, 'twenty')")
    cells = [{"index": 0, "kind": "code", "source": "x = 1"},
             {"index": 1, "kind": "test", "source": first, "visible": first},
             {"index": 2, "kind": "test", "source": second, "visible": second},
             {"index": 3, "kind": "code", "source": "print('later cell', READ, _w, inner)"}]
    out = grader.zygote.run(job, cells, 60.0)
    assert out.status == "done", (out.status, out.reason)
    text = "".join(o.get("text", "") + o.get("evalue", "") for o in out.cells[3]["outputs"])
    assert out.cells[3]["ok"] and "later cell 2 20 3" in text, text


SHARED = """
import torch
CALLS = []
def score(i):
    CALLS.append(i)  # the work a test does through the learner's function, counted where it runs
    return float(i) / 2
"""


def _shared_job(grader):
    s = grader.settings
    return {"slot": 0, "uid_base": s.sandbox_uid_base, "cpu_seconds": 120, "memory_bytes": s.memory_bytes,
            "max_processes": s.max_processes, "max_file_bytes": s.max_file_bytes, "scratch_bytes": s.scratch_bytes,
            "output_bytes": s.output_bytes, "trusted_imports": "import torch\nfrom course import checks",
            "files_from": "", "mode": "split", "hide": hidden_paths(s),
            "fallback_scratch": str(s.data_path / "scratch" / "crossings")}


def test_a_visible_tests_data_reaches_later_cells_as_computed_once(grader):
    """Issue 25: a visible test binds plain data that a later learner cell uses (4.4's probe accuracies):
    L gets the value the test computed, as in one kernel, instead of running the learner's work a second
    time; a function the test defines still runs in L (by its definition), and so does a name the hidden
    lines mention, so that nothing a hidden line did to it reaches the learner."""
    visible = ("scores = [score(i) for i in range(3)]\nt = torch.arange(4.0) * scores[1]\n"
               "def helper(x):\n    return x + 1\nseen = [score(9)]\nchecks.assert_true('s', len(scores) == 3, 'three')")
    full = visible + "\n_x = seen\nseen.append(-1.0)  # a hidden line touches `seen`"
    cells = [{"index": 0, "kind": "code", "source": SHARED},
             {"index": 1, "kind": "test", "source": full, "visible": visible},
             {"index": 2, "kind": "code", "source": "print('later', scores, float(t.sum()), helper(1), seen, len(CALLS))"}]
    out = grader.zygote.run(_shared_job(grader), cells, 60.0)
    assert out.status == "done", (out.status, out.reason)
    text = "".join(o.get("text", "") + o.get("evalue", "") for o in out.cells[2]["outputs"])
    # 3 calls for `scores` (by the test only) and 2 for `seen` (the test's, then its definition run in L)
    assert out.cells[2]["ok"] and "later [0.0, 0.5, 1.0] 3.0 2 [4.5] 5" in text, text
