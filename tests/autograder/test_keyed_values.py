"""Issue 25: a large tensor of the learner's that T already holds crosses again by key only
(sandbox/keyed.py). Every test cell asks for every name any test uses, so a learner's activation
cache crossed by value once per test cell (3.3: 84 MB each time). The guarantees checked here: the
test sees exactly what L holds now (a change L's code made by any route, a change the test made to
its own copy), and a key resolves only to bytes L itself sent, within a bound."""

from __future__ import annotations

import textwrap

import pytest

from autograder.grading.pipeline import hidden_paths

torch = pytest.importorskip("torch")


def run(grader, *cells: tuple[str, str], wall: float = 60.0):
    """Run ("code" | "test", source) cells split; ([(ok, text)] of the test cells, T's channel stats)."""
    s = grader.settings
    job = {"slot": 0, "uid_base": s.sandbox_uid_base, "cpu_seconds": 120, "memory_bytes": s.memory_bytes,
           "max_processes": s.max_processes, "max_file_bytes": s.max_file_bytes, "scratch_bytes": s.scratch_bytes,
           "output_bytes": s.output_bytes, "trusted_imports": "import numpy as np\nimport torch\nfrom course import checks",
           "files_from": "", "mode": "split", "hide": hidden_paths(s),
           "fallback_scratch": str(s.data_path / "scratch" / "keyed")}
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
    return results, out.channel


CACHE = """
import torch
acts = {"a": torch.arange(100_000, dtype=torch.float32), "b": torch.ones(300, 400)}  # 400 kB and 480 kB
def total():
    return float(acts["a"].sum() + acts["b"].sum())
"""
READ = """
a, b = acts["a"], acts["b"]
checks.assert_equal("acts", float(a[12345]), 12345.0)
checks.assert_equal("acts", float(b.sum()), 120000.0)
a.zero_()  # the test's own copy: never L's, never the next test's
b[0] = 5.0
print("read", float(a.sum()))
"""


def test_a_large_tensor_crosses_by_value_once_and_each_test_gets_its_own_copy(torch_grader):
    """Five test cells read ``acts`` (880 kB): by value that is 4.4 MB from L; by key, one copy. Each
    test writes to what it got; the next test still sees L's values."""
    got, stats = run(torch_grader, ("code", CACHE), *[("test", READ)] * 5)
    assert all(ok for ok, _ in got), got
    assert stats["bytes_in"] < 2 * 880_000, stats["bytes_in"]


@pytest.mark.parametrize("how", [
    "acts['a'].numpy()[7] = -1.0",  # a numpy view: no version counter moves
    "acts['a'].data[7] = -1.0",  # .data: its own version counter
    "acts['a'][7] = -1.0",
    "acts['a'] = acts['a'].clone(); acts['a'][7] = -1.0",  # another tensor
])
def test_a_change_the_learners_code_makes_between_tests_is_seen(torch_grader, how):
    got, _stats = run(torch_grader, ("code", CACHE),
                      ("test", "checks.assert_equal('acts', float(acts['a'][7]), 7.0)"),
                      ("code", how),
                      ("test", "checks.assert_equal('acts', float(acts['a'][7]), -1.0)\n"
                               "checks.assert_equal('acts', float(acts['a'][8]), 8.0)"))
    assert all(ok for ok, _ in got), got


def test_a_test_sees_l_values_through_an_attribute_and_an_item_too(torch_grader):
    got, stats = run(torch_grader,
                     ("code", "import torch\nclass Box:\n    pass\nbox = Box()\nbox.t = torch.arange(50_000.)\n"
                              "items = [torch.full((40_000,), 3.0)]"),
                     *[("test", "checks.assert_equal('box', float(box.t[-1]), 49999.0)\n"
                                "checks.assert_equal('items', float(items[0].sum()), 120000.0)")] * 4)
    assert all(ok for ok, _ in got), got
    assert stats["bytes_in"] < 2 * 360_000, stats["bytes_in"]


HOSTILE = '''
import gc
import torch

_learner = next(o for o in gc.get_objects() if type(o).__name__ == "_Learner")
_honest = _learner.values.tag
MODE = {"m": None}

def _forged(v):
    m = MODE["m"]
    if m == "unsent" and v.numel() == 100_000:  # a key L never sent (the test's own tensors have small keys)
        return ("\\x00bc", "ptk", 1)
    if m == "reuse" and v.numel() == 100_000:  # a second tensor under a key already used
        _learner.values.next_key = 0
    return _honest(v)

_learner.values.tag = _forged
acts = {"a": torch.arange(100_000, dtype=torch.float32)}
other = torch.zeros(100_000)
'''


@pytest.mark.parametrize("mode, words", [("unsent", "never sent"), ("reuse", "had used")])
def test_a_key_resolves_only_to_bytes_the_learner_sent_under_it(torch_grader, mode, words):
    """Hostile: L names a key it never sent (the first key T ever gave a tensor of its own), or sends a
    second tensor under a key it used: T refuses the values, the run ends as unreadable, no test passes."""
    cells = [("code", HOSTILE), ("code", f"MODE['m'] = {mode!r}" if mode == "unsent" else "pass"),
             ("test", "checks.assert_equal('acts', float(acts['a'][3]), 3.0)\nprint('first')")]
    if mode == "reuse":
        cells += [("code", "MODE['m'] = 'reuse'\nacts['a'] = torch.full((100_000,), 9.0)"),
                  ("test", "checks.assert_equal('acts', float(acts['a'][3]), 9.0)\nprint('second')")]
    s = torch_grader.settings
    job = {"slot": 0, "uid_base": s.sandbox_uid_base, "cpu_seconds": 120, "memory_bytes": s.memory_bytes,
           "max_processes": s.max_processes, "max_file_bytes": s.max_file_bytes, "scratch_bytes": s.scratch_bytes,
           "output_bytes": s.output_bytes, "trusted_imports": "import torch\nfrom course import checks",
           "files_from": "", "mode": "split", "hide": hidden_paths(s),
           "fallback_scratch": str(s.data_path / "scratch" / "keyed")}
    out = torch_grader.zygote.run(job, [{"index": i, "kind": k, "source": src} for i, (k, src) in enumerate(cells)], 60)
    assert out.status in ("crashed", "error"), (out.status, out.reason)  # (both: "the notebook stopped in cell N")
    assert words in (out.reason or ""), out.reason
    last = len(cells) - 1
    assert not any(c.get("ok") for i, c in enumerate(out.cells) if i >= 2 and cells[i][0] == "test" and i == last)


FLOOD = '''
import gc
import torch

_learner = next(o for o in gc.get_objects() if type(o).__name__ == "_Learner")
_learner.values._room = lambda n: True  # never evict: keep sending new values to keep
import sys
sys.modules[type(_learner.values).__module__].CAP_BYTES = 1 << 40
chunks = []
'''


def test_t_keeps_no_more_than_its_bound_whatever_l_sends(torch_grader):
    """Hostile: L never evicts and sends 4 x 48 MB of new values, then 2 more: T stops at its bound
    (256 MB) and the run ends, instead of T's memory growing with what L sends."""
    cells = [("code", FLOOD)]
    for i in range(6):
        cells += [("code", f"chunks.append(torch.full(({12 << 20},), {float(i)}))"),
                  ("test", f"checks.assert_equal('chunks', len(chunks), {i + 1})")]
    s = torch_grader.settings
    job = {"slot": 0, "uid_base": s.sandbox_uid_base, "cpu_seconds": 120, "memory_bytes": s.memory_bytes,
           "max_processes": s.max_processes, "max_file_bytes": s.max_file_bytes, "scratch_bytes": s.scratch_bytes,
           "output_bytes": s.output_bytes, "trusted_imports": "import torch\nfrom course import checks",
           "files_from": "", "mode": "split", "hide": hidden_paths(s),
           "fallback_scratch": str(s.data_path / "scratch" / "keyed")}
    out = torch_grader.zygote.run(job, [{"index": i, "kind": k, "source": src} for i, (k, src) in enumerate(cells)], 120)
    assert out.status in ("crashed", "error"), (out.status, out.reason)
    assert "more values to keep than the grader holds" in (out.reason or ""), out.reason


# -- the two tables, in one process: L's bound, its evictions, and T's copy in step ------------------

def _deliver(sent, held):
    table = sent.envelope()
    if table is not None:
        held.receive(table)


def test_l_evicts_its_oldest_unnamed_values_and_t_follows(monkeypatch):
    from autograder.grading.sandbox import keyed

    monkeypatch.setattr(keyed, "CAP_BYTES", 1 << 20)  # 1 MB: three 400 kB tensors do not fit
    sent, held = keyed.SentValues(), keyed.HeldValues()
    ts = [torch.full((100_000,), float(i)) for i in range(4)]
    keys = []
    for t in ts:
        sent.begin("get")
        keys.append(sent.tag(t)[2])
        _deliver(sent, held)
        assert sent.size <= keyed.CAP_BYTES and held.size <= keyed.CAP_BYTES
        assert set(held.copies) == set(sent.entries)
    assert keys == [1, 2, 3, 4] and set(held.copies) == {3, 4}
    sent.begin("get")
    assert sent.tag(ts[3])[2] == 4  # unchanged: by key
    assert sent.tag(ts[0])[2] == 5  # evicted before: by value again, under a new key
    _deliver(sent, held)
    assert torch.equal(held.get(5), ts[0]) and torch.equal(held.get(4), ts[3])
    del ts[1:], t
    import gc

    gc.collect()
    sent.begin("get")
    _deliver(sent, held)
    assert set(held.copies) == {5}, "a tensor L's code dropped is forgotten on both sides"
    with pytest.raises(ValueError, match="never sent"):
        held.get(4)


def test_a_call_result_and_a_small_or_grad_tensor_go_by_value():
    from autograder.grading.sandbox import keyed

    sent = keyed.SentValues()
    big = torch.zeros(100_000)
    sent.begin("call")
    assert sent.tag(big) is None  # a call's result: almost always new
    sent.begin("get")
    assert sent.tag(torch.zeros(100)) is None
    assert sent.tag(torch.zeros(100_000, requires_grad=True)) is None
    assert sent.tag(big) is not None


BACK = """
import torch
acts = {"a": torch.arange(100_000, dtype=torch.float32)}
def head(x):
    return float(x[:3].sum())
def bump(x):
    x += 1.0  # in place: the test's tensor changes, as in one kernel
"""


def test_a_tests_unchanged_copy_goes_back_to_the_learner_by_key_and_a_changed_one_by_value(torch_grader):
    """T -> L: the test passes L's own values back (``patch(model, cache)``): an unchanged copy goes as
    the key (L rebuilds it from the bytes it sent), a copy the test wrote to goes with its new bytes, and
    a change the learner's code makes to it in place still reaches the test's tensor."""
    got, stats = run(torch_grader, ("code", BACK),
                     *[("test", "checks.assert_equal('head', head(acts['a']), 3.0)")] * 4,
                     ("test", "a = acts['a']\na[0] = 10.0\nchecks.assert_equal('head', head(a), 13.0)"),
                     ("test", "a = acts['a']\nbump(a)\nchecks.assert_equal('bump', float(a[5]), 6.0)\n"
                              "checks.assert_equal('head', head(a), 6.0)"))
    assert all(ok for ok, _ in got), got
    # by value each test would send 400 kB back: 6 x 400 kB; by key only the changed copy and the bumped one
    assert stats["bytes_out"] < 3 * 400_000 + 200_000, stats["bytes_out"]
