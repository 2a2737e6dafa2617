"""Issue 25: constructor calls of the learner's own classes that T does not wait for.

Once a learner's class has made DEFER_AFTER clean instances (tests._Conn.construct), T sends a
call to it without waiting: the message goes with the next request, in one write, and L's reply
with that request's. These tests pin down that this changes nothing a verdict rests on: values
are the same, an error of such a constructor fails the test cell it belongs to and no ``except``
of the test or a check can catch it (a late error never passes a test that expects one), and a
constructor called inside ``try`` or ``with`` is waited for, so the test sees its exception there."""

from __future__ import annotations

import textwrap

import pytest

from autograder.grading.pipeline import hidden_paths

BOX = '''
import numpy as np

class Box:
    made = 0

    def __init__(self, x):
        Box.made += 1
        if x < 0:
            raise ValueError("a negative box")
        self.x = np.asarray(x, dtype=float)

def total(boxes):
    return float(sum(b.x for b in boxes))
'''


def run(grader, learner: str, test: str):
    s = grader.settings
    job = {"slot": 0, "uid_base": s.sandbox_uid_base, "cpu_seconds": 120, "memory_bytes": s.memory_bytes,
           "max_processes": s.max_processes, "max_file_bytes": s.max_file_bytes, "scratch_bytes": s.scratch_bytes,
           "output_bytes": s.output_bytes, "trusted_imports": "import numpy as np", "files_from": "",
           "mode": "split", "hide": hidden_paths(s), "fallback_scratch": str(s.data_path / "scratch" / "deferred")}
    cells = [{"index": 0, "kind": "code", "source": textwrap.dedent(learner)},
             {"index": 1, "kind": "test", "source": textwrap.dedent(test)}]
    out = grader.zygote.run(job, cells, 60.0)
    assert out.status == "done", (out.status, out.reason, out.cells)
    assert out.cells[0]["ok"], out.cells[0]
    text = "".join(o.get("text", "") + o.get("ename", "") + ": " + o.get("evalue", "") for o in out.cells[1]["outputs"])
    return out.cells[1]["ok"], text, out.channel


def test_constructions_go_without_waiting_and_give_the_same_values(grader):
    ok, text, stats = run(grader, BOX, '''
        boxes = [Box(i) for i in range(40)]
        assert all(type(b).__name__ == "Box" for b in boxes)
        assert total(boxes) == sum(range(40)), total(boxes)
        assert float(boxes[-1].x) == 39.0 and float(boxes[7].x) == 7.0
        assert isinstance(boxes[5], Box)
        print("values ok")
    ''')
    assert ok, text
    assert "values ok" in text
    assert stats["deferred"] >= 30, stats
    assert stats["round_trips"] < 30, stats  # 40 constructions, 3 waited for, the rest in a few writes


def test_a_late_constructor_error_fails_the_cell_and_no_except_catches_it(grader):
    ok, text, stats = run(grader, BOX, '''
        for i in range(5):
            Box(i)
        b = Box(-1)  # raises in L; T did not wait
        try:
            total([Box(1)])
        except Exception as err:
            print(repr(err), "the test's except caught it: a late error could pass a test that expects one")
        print("reached the end")
    ''')
    assert stats["deferred"] >= 1, stats
    assert not ok, text
    assert "ConstructorError" in text and "a negative box" in text, text
    assert "caught it" not in text and "reached the end" not in text, text


def test_a_constructor_inside_try_is_waited_for(grader):
    ok, text, stats = run(grader, BOX, '''
        for i in range(5):
            Box(i)
        try:
            Box(-1)
        except ValueError as err:
            print("caught:", err)
        with open("/dev/null"):
            try:
                Box(-2)
            except ValueError:
                print("caught again")
    ''')
    assert ok, text
    assert "caught: a negative box" in text and "caught again" in text, text


# A constructor that changes the test's numpy argument in place, only once T has stopped waiting for
# its class (its first DEFER_AFTER calls are clean). T judges the change itself, from the arguments L
# sends back by value with each reply, as for a call it waits for (issue 16, class 4); a reply that
# does not bring them back counts as a change, so a learner process that rewrites its report fails too.
SCALE = '''
import numpy as np

class Scale:
    made = 0

    def __init__(self, x):
        Scale.made += 1
        if Scale.made > 5:
            x *= 2
        self.x = x.copy()
'''
LIARS = {
    "the report says nothing came back": '''
import autograder.grading.sandbox.learner as _l
_after, _seen = _l._Learner.arguments_after, []
def _lie(self, arrays):  # honest while T waits (the first calls), silent once it does not
    _seen.append(1)
    return _after(self, arrays) if len(_seen) <= 3 else []
_l._Learner.arguments_after = _lie
''',
    "a forged reply without the report": '''
import autograder.grading.sandbox.learner as _l
_handle = _l._Learner.handle
def _forged(self, msg):
    out = _handle(self, msg)
    deferred = type(msg) is tuple and len(msg) > 4  # a call T did not wait for
    return out[:2] if deferred and type(out) is tuple and out[:1] == ("value",) else out
_l._Learner.handle = _forged
''',
}
IN_PLACE = '''
    xs = [np.ones(3) for _ in range(8)]
    made = [Scale(x) for x in xs]
    assert all(float(x.sum()) == 3.0 for x in xs)  # T's own arrays never change: its check cannot see it
    print("reached the end")
'''


def test_a_deferred_constructor_that_changes_its_numpy_argument_fails_the_cell(grader):
    ok, text, stats = run(grader, SCALE, IN_PLACE)
    assert stats["deferred"] >= 1, stats
    assert not ok, text
    assert "changed a numpy array it was given" in text, text


@pytest.mark.parametrize("case", list(LIARS))
def test_a_learner_process_that_hides_the_arguments_of_a_deferred_constructor_fails(grader, case):
    ok, text, stats = run(grader, SCALE + LIARS[case], IN_PLACE)
    assert stats["deferred"] >= 1, stats
    assert not ok, text
    assert "did not send back the numpy array" in text, text


def test_a_deferred_constructor_that_leaves_its_argument_alone_passes(grader):
    ok, text, stats = run(grader, SCALE.replace("x *= 2", "x = x * 2"), IN_PLACE)
    assert stats["deferred"] >= 1, stats
    assert ok, text
