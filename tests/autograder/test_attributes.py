"""Issue 25: a plain learner object's attributes cross with its reference (fewer round trips).

The test process (T) answers ``node.parents`` or ``isinstance(node, Tensor)`` from what the
learner process (L) sent in its last message, and only until T next sends anything (only then
can the learner's code run). These tests pin down that this changes nothing a test can see: a
property, ``__getattribute__`` or ``__getattr__`` still runs in L on every read; a value the
learner's code changes later is read again; a test that changes its copy changes nothing in L;
values still cross by value as plain base classes (issue 16, class 1); and a learner's process
that forges the attributes it sends decides nothing a check compares."""

from __future__ import annotations

import textwrap

from autograder.grading.pipeline import hidden_paths


def run(grader, learner: str, test: str, wall: float = 60.0):
    """Run one learner cell and one test cell in a sandboxed pair; the test's output and T's channel stats."""
    s = grader.settings
    job = {"slot": 0, "uid_base": s.sandbox_uid_base, "cpu_seconds": 120, "memory_bytes": s.memory_bytes,
           "max_processes": s.max_processes, "max_file_bytes": s.max_file_bytes, "scratch_bytes": s.scratch_bytes,
           "output_bytes": s.output_bytes, "trusted_imports": "import numpy as np", "files_from": "",
           "mode": "split", "hide": hidden_paths(s), "fallback_scratch": str(s.data_path / "scratch" / "attrs")}
    cells = [{"index": 0, "kind": "code", "source": textwrap.dedent(learner)},
             {"index": 1, "kind": "test", "source": textwrap.dedent(test)}]
    out = grader.zygote.run(job, cells, wall)
    assert out.status == "done", (out.status, out.reason, out.cells)
    assert out.cells[0]["ok"], out.cells[0]
    text = "".join(o.get("text", "") + o.get("evalue", "") for o in out.cells[1]["outputs"])
    assert out.cells[1]["ok"], text
    return text, out.channel


NODE = '''
import numpy as np

class Node:
    def __init__(self, data, parents=()):
        self.data = np.asarray(data, dtype=float)
        self.parents = tuple(parents)
        self.grad = None

    def bump(self):
        self.data = self.data + 1

def chain(n):
    x = Node(0.0)
    for i in range(n):
        x = Node(float(i + 1), (x,))
    return x
'''


def test_a_walk_over_a_learners_graph_costs_a_few_round_trips_not_one_per_node(grader):
    text, stats = run(grader, NODE, '''
        from course.checks import gradcheck
        root = chain(300)
        nodes = gradcheck.reachable_nodes(root)
        total = sum(float(n.data) for n in nodes)
        ok = all(isinstance(n, Node) for n in nodes) and type(root.data) is np.ndarray
        print("RESULT", len(nodes), total, ok)
    ''')
    assert "RESULT 301 45150.0 True" in text
    assert stats["round_trips"] < 20, stats  # one per node (and per .data, per isinstance) before
    assert stats["attribute_hits"] > 600, stats


def test_a_value_the_learners_code_changes_later_is_read_again(grader):
    text, _ = run(grader, NODE, '''
        n = Node(1.0)
        a = n.data
        n.bump()                  # the learner's code runs: what T kept of n is stale
        b = n.data
        a += 100                  # the test's copy: nothing in L changes
        print("RESULT", float(b), float(n.data), float(a))
    ''')
    assert "RESULT 2.0 2.0 101.0" in text


def test_a_callback_sees_the_learners_object_as_it_is_at_that_moment(grader):
    text, _ = run(grader, NODE + '''
def step(node, report):
    node.data = np.asarray(5.0)
    report(node)              # calls back into the test while step runs
    node.data = np.asarray(7.0)
''', '''
        seen = []
        n = Node(1.0)
        float(n.data)
        step(n, lambda m: seen.append(float(m.data)))
        print("RESULT", seen, float(n.data))
    ''')
    assert "RESULT [5.0] 7.0" in text


def test_properties_getattribute_and_getattr_still_run_in_the_learners_process_on_every_read(grader):
    text, stats = run(grader, '''
import numpy as np
CALLS = []

class WithProperty:
    def __init__(self):
        self.raw = 1.0
    @property
    def value(self):
        CALLS.append("property")
        return self.raw * len(CALLS)

class Shadowed:
    value = property(lambda self: CALLS.append("shadow") or len(CALLS))
    def __init__(self):
        self.__dict__["value"] = -1   # the property wins over the instance dict

class Intercepts:
    def __init__(self):
        self.x = 1
    def __getattribute__(self, name):
        CALLS.append("getattribute")
        return object.__getattribute__(self, name)

class Fallback:
    def __getattr__(self, name):
        CALLS.append("getattr")
        return len(CALLS)

def count():
    return len(CALLS)
''', '''
        p, s, i, f = WithProperty(), Shadowed(), Intercepts(), Fallback()
        before = count()
        got = [p.value, p.value, s.value, s.value, i.x, i.x, f.anything, f.anything]
        print("RESULT", count() - before, got[0] != got[1], got[2] != got[3], got[6] != got[7])
    ''')
    assert "RESULT 8 True True True" in text


def test_values_from_the_attributes_are_plain_and_a_subclass_still_crosses_as_its_base(grader):
    text, _ = run(grader, '''
import numpy as np

class Mirror(np.ndarray):
    def __eq__(self, other):
        return True

class Holder:
    def __init__(self):
        self.small = np.arange(3.0)
        self.big = np.ones(100_000)
        self.sub = np.zeros(3).view(Mirror)
        self.items = [1, (2.0, "x"), {"k": np.int64(3)}]
''', '''
        h = Holder()
        kinds = [type(h.small).__name__, type(h.big).__name__, type(h.sub).__name__, type(h.items).__name__]
        again = h.items
        again.append("mine")      # the test's copy
        print("RESULT", kinds, float(h.big.sum()), (h.sub == 1).any(), h.items)
    ''')
    assert "RESULT ['ndarray', 'ndarray', 'ndarray', 'list'] 100000.0 False [1, (2.0, 'x'), {'k': np.int64(3)}]" in text


def test_isinstance_is_answered_locally_only_for_plain_classes(grader):
    text, stats = run(grader, '''
class Meta(type):
    def __instancecheck__(cls, obj):
        return True               # a class that claims everything

class Base:
    pass

class Child(Base):
    pass

class Claims(metaclass=Meta):
    pass

class Other:
    pass
''', '''
        c, b = Child(), Base()
        print("RESULT", isinstance(c, Base), isinstance(c, Child), isinstance(b, Child), isinstance(b, Claims),
              isinstance(c, Other))
    ''')
    assert "RESULT True True False True False" in text


FORGE = NODE + '''
import sys

class Agrees:
    def __eq__(self, other):
        return True
    def __sub__(self, other):
        return 0.0

n, m = Node(3.0), Agrees()
_L = sys.modules["autograder.grading.sandbox.learner"]
_drain = _L._Refs.drain

def forged(self):
    self[id(m)] = m
    return FORGED

_L._Refs.drain = forged
'''


def test_a_forged_attribute_is_still_decoded_by_value_and_refused_by_the_checks(grader):
    """L's code can replace what L sends (it runs there): T decodes it as it decodes any reply,
    so a forged attribute can name a learner's object, which no check accepts as a value."""
    text, _ = run(grader, FORGE + '''
FORGED = {id(n): ([("data", ("\\x00bc", "ref", id(m), "Agrees", False))], [])}
''', '''
        from course import checks
        try:
            checks.assert_close("node", n.data, 3.0)
            print("RESULT accepted")
        except AssertionError as err:
            print("RESULT refused", type(n.data).__name__)
    ''')
    assert "RESULT refused Agrees" in text


def test_a_malformed_attributes_table_ends_the_run_as_unreadable(grader):
    s = grader.settings
    job = {"slot": 0, "uid_base": s.sandbox_uid_base, "cpu_seconds": 120, "memory_bytes": s.memory_bytes,
           "max_processes": s.max_processes, "max_file_bytes": s.max_file_bytes, "scratch_bytes": s.scratch_bytes,
           "output_bytes": s.output_bytes, "trusted_imports": "", "files_from": "", "mode": "split",
           "hide": hidden_paths(s), "fallback_scratch": str(s.data_path / "scratch" / "attrs")}
    cells = [{"index": 0, "kind": "code", "source": FORGE + "FORGED = {id(n): 'not a pair'}\n"},
             {"index": 1, "kind": "test", "source": "print(float(n.data))"}]
    out = grader.zygote.run(job, cells, 60)
    assert out.status == "crashed", (out.status, out.reason)  # at the first reply that carries it
    assert "unreadable" in out.reason


def test_a_learners_object_whose_class_the_learners_code_changes_is_asked_again(grader):
    text, stats = run(grader, '''
import torch

class Plain:
    pass

class Net(torch.nn.Module):
    pass

x = Plain()

def morph():
    x.__class__ = Net
''', '''
        import torch
        before = [x.__class__ for _ in range(3)]
        morph()
        print("RESULT", before[0].__name__, len(set(before)), x.__class__ is torch.nn.Module,
              isinstance(x, torch.nn.Module))
    ''')
    assert "RESULT object 1 True True" in text
    assert stats["ops"].get("classof", 0) <= 3, stats  # three reads before morph(): one question
