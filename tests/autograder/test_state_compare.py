"""What each side compares after every message (sandbox/state.py): the fast paths give the same
verdicts as the slow ones they replaced, and catch what the grading relies on them to catch."""

from __future__ import annotations

import torch

from autograder.grading.sandbox import state


def test_a_write_through_data_is_seen_by_comparing_bytes():
    p = torch.nn.Parameter(torch.randn(384, 128))
    snap = state._snapshot(p)
    assert state._same(p, snap)
    p.data[3, 5] += 1.0  # no version bump: only the bytes tell
    assert state._same(p, snap, content=False), "without content, version counters only (T's own tensors)"
    assert not state._same(p, snap), "L compares the bytes of what its code may have written"
    p.grad = torch.zeros_like(p)
    snap = state._snapshot(p)
    p.grad.data[0, 0] = 2.0
    assert not state._same(p, snap), "and of its gradient"


def test_nan_is_no_change_and_a_sign_of_zero_is_one():
    t = torch.tensor([float("nan"), 0.0, 1.0])
    snap = state._snapshot(t)
    assert state._same(t, snap), "NaN equals itself byte for byte: not resent after every message"
    t.data[1] = -0.0
    assert not state._same(t, snap), "-0.0 is a change (torch.equal called it none)"


def test_bytes_compare_every_dtype_and_shape():
    for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16, torch.int64, torch.bool,
                  torch.complex64, torch.uint8):
        a = (torch.arange(12) % 3).to(dtype).reshape(3, 4)
        assert state._same_bytes(a, a.clone()), dtype
        b = a.clone()
        flat = b.view(-1)
        flat[7] = torch.logical_not(flat[7]) if dtype is torch.bool else flat[7] + 1
        assert not state._same_bytes(a, b), dtype
    assert state._same_bytes(torch.zeros(0), torch.zeros(0))
    z = torch.tensor([1 + 2j, 3 - 1j])
    assert not state._same_bytes(z.conj(), z), "a lazy conjugate shares its bytes, not its values"
    assert state._same_bytes(z.conj(), z.conj().resolve_conj())
    assert not state._same_bytes(torch.zeros(2, 3), torch.zeros(3, 2)), "another shape"
    assert not state._same_bytes(torch.zeros(4), torch.zeros(4, dtype=torch.float64)), "another dtype"


def test_the_module_snapshot_sees_every_change_of_mode_and_hooks():
    m = torch.nn.Sequential(torch.nn.Linear(2, 2))
    snap = state._snapshot(m)
    assert snap == ("module", True, tuple((a, tuple((k, id(h)) for k, h in d.items()))
                                          for a, d in state._hook_dicts(m).items())), "the value it had before"
    assert state._same(m, snap)
    m.eval()
    assert not state._same(m, snap), "train/eval"
    m.train()
    h = m.register_forward_hook(lambda *a: None)
    assert not state._same(m, snap), "a hook added"
    snap = state._snapshot(m)
    key = next(iter(m._forward_hooks))
    m._forward_hooks[key] = lambda *a: None  # the same key, another hook
    assert not state._same(m, snap), "a hook replaced in place"
    snap = state._snapshot(m)
    h.remove()
    assert not state._same(m, snap), "a hook removed"
    snap = state._snapshot(m)
    m.register_forward_pre_hook(lambda *a: None)
    assert not state._same(m, snap), "a pre-hook"
    assert not state._same(torch.zeros(1), snap), "a module's snapshot never matches a tensor"


def test_base_of_finds_a_view_of_a_test_tensor_among_modules():
    sync = state._Sync()
    m = torch.nn.Linear(3, 3)
    x = torch.arange(6.0)
    sync.put(1, m)
    sync.put(2, x)
    sync.put(-5, torch.zeros(2))  # one of L's own: never a base
    assert sync.base_of(x[2:]) == 2
    assert sync.base_of(torch.arange(6.0)) is None
    sync.forget([2])
    assert sync.base_of(x[2:]) is None


def test_base_of_sees_a_test_tensor_given_new_memory_once_l_may_have_run():
    """base_of indexes T's tensors by storage once per message (4.5: a reply with 100 parameters walked
    hundreds of T's tensors per parameter); L's code that runs between messages may move a tensor's
    memory, and the index must follow it."""
    sync = state._Sync()
    x = torch.arange(6.0)
    sync.put(2, x)
    assert sync.base_of(x[1:]) == 2
    x.data = torch.arange(10.0)  # L's code, between two messages
    sync.storages_may_change()
    assert sync.base_of(x[3:]) == 2
    assert sync.base_of(torch.arange(3.0)) is None
