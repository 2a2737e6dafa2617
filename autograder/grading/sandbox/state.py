"""What one kernel shares, kept in step between L and T: random generators, grad mode, the test's
tensors, modules, optimisers and generators by identity, the learner's parameters, views, autograd."""

from __future__ import annotations

import ctypes
import io
import operator
import pickle
import sys
from collections import OrderedDict

from .proxies import Remote, _LearnerHook
from .values import (
    _SYNC_DTYPES,
    _as_list,
    _int,
    _is_generator,
    _is_hook_handle,
    _is_module,
    _is_optimizer,
    _local_callable,
    _syncable,
    _TRef,
)


def _rng_state():
    torch, np = sys.modules.get("torch"), sys.modules.get("numpy")
    import random

    t = bytes(torch.get_rng_state().numpy().tobytes()) if torch is not None else None
    n = None
    if np is not None:
        name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
        n = (str(name), bytes(np.asarray(keys, dtype=np.uint32).tobytes()), int(pos), int(has_gauss), float(cached))
    version, internal, gauss = random.getstate()
    return (t, n, (int(version), tuple(int(x) for x in internal), gauss if gauss is None else float(gauss)))


_PY_RANDOM: list = []  # [random's generator, whether its twister's memory is where _py_random_raw reads it]


def _py_random_raw():
    """``random``'s Mersenne Twister as raw memory (its index and 624 words: 0.5 us, against 8 us
    for ``random.getstate()``), when this process has checked once that the memory there is the
    state ``getstate()`` reports; else ``getstate()`` itself."""
    import random

    inst = random._inst
    if not _PY_RANDOM or _PY_RANDOM[0] is not inst:
        ok = False
        try:
            import struct

            raw = ctypes.string_at(id(inst) + 16, 4 + 624 * 4)
            _v, internal, _g = random.Random.getstate(inst)
            ok = type(inst).__mro__[-2].__basicsize__ >= 16 + len(raw) and \
                struct.unpack("i", raw[:4])[0] == internal[-1] and struct.unpack("624I", raw[4:]) == internal[:624]
        except Exception:
            ok = False
        _PY_RANDOM[:] = [inst, ok]
    if _PY_RANDOM[1]:
        return ctypes.string_at(id(inst) + 16, 4 + 624 * 4), inst.gauss_next
    return random.getstate()


def _rng_fingerprint():
    """Cheap to take after every message (about 5 us, against 230 us for the full states): what
    changes when any of the generators draws. numpy's and random's are their Mersenne Twisters'
    raw memory (numpy's cached second normal, which a draw can use without moving the twister, is
    not in it)."""
    torch, np = sys.modules.get("torch"), sys.modules.get("numpy")

    t = torch.get_rng_state().numpy().tobytes() if torch is not None else None
    n = None
    if np is not None:
        try:
            n = ctypes.string_at(np.random.mtrand._rand._bit_generator.ctypes.state_address, 624 * 4 + 8)
        except Exception:
            n = _rng_state()[1]
    return (t, n, _py_random_raw())


def _set_rng_state(state) -> None:
    """Apply the other side's generator states (checked: they may come from learner code)."""
    torch, np = sys.modules.get("torch"), sys.modules.get("numpy")
    import random

    t, n, r = state
    if torch is not None and type(t) is bytes and len(t) == torch.get_rng_state().numel():
        torch.set_rng_state(torch.frombuffer(bytearray(t), dtype=torch.uint8))
    if np is not None and type(n) is tuple and len(n) == 5 and type(n[1]) is bytes and len(n[1]) == 624 * 4:
        np.random.set_state((str(n[0]), np.frombuffer(n[1], dtype=np.uint32).copy(), int(n[2]), int(n[3]),
                             float(n[4])))
    if type(r) is tuple and len(r) == 3 and type(r[1]) is tuple and len(r[1]) == 625 and \
            all(type(x) is int for x in r[1]) and (r[2] is None or type(r[2]) is float):
        random.setstate((int(r[0]), r[1], r[2]))


def _grad(t):
    """``t.grad``, without torch's warning for a tensor that is not a leaf (a test's ``a @ w`` sent to
    L: it appeared in the learner's test output)."""
    return t.grad if t.is_leaf or t.retains_grad else None


def _plain(t):
    return t.detach().to("cpu").contiguous()


def _tensor_payload(t, pack_hooks=None):
    if _is_module(t):
        return ("module", bool(t.training), pack_hooks(t) if pack_hooks is not None else None)
    if _is_generator(t) or _is_optimizer(t):
        return _snapshot(t)
    d = _plain(t)
    g = _grad(t)
    grad = None if g is None else (str(g.dtype).split(".")[-1], list(g.shape), _plain(g).numpy().tobytes())
    return (str(d.dtype).split(".")[-1], list(d.shape), d.numpy().tobytes(), bool(t.requires_grad),
            type(t).__name__ == "Parameter", grad)


def _tensor_build(dtype: str, shape, raw):
    import numpy as np
    import torch

    if type(dtype) is not str or dtype not in _SYNC_DTYPES or type(raw) is not bytes:
        raise ValueError("refused a tensor")
    shape = tuple(_int(n) for n in _as_list(shape))
    out = torch.empty(shape, dtype=getattr(torch, dtype))
    # copied into memory torch allocated: numpy's own copy asks for huge pages (madvise), and the
    # kernel's compaction for them stalled a 200 MB copy for 1.5 s now and then (30 ms otherwise)
    out.numpy()[...] = np.frombuffer(raw, dtype=out.numpy().dtype).reshape(shape)
    return out


# Contents are compared for small tensors (a test's parameters, inputs, gradients); a large
# one (a model's weight) counts as changed when its version counter, storage or gradient
# does: in-place writes through ``.data`` to a large tensor are not seen. Comparing every
# large tensor's contents after every message made a lesson whose tests call the learner's
# model thousands of times 15x slower.
_COMPARE_NUMEL = 1 << 16


def _meta(t):
    g = _grad(t)
    return (t._version, t.data_ptr(), tuple(t.shape), t.dtype, bool(t.requires_grad),
            None if g is None else (id(g), g._version, g.data_ptr(), tuple(g.shape)))


_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
               "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called")


_DICT_TYPES = (dict, OrderedDict)


def _hook_dicts(m) -> dict:
    return {a: d for a in _HOOK_DICTS if type(d := m.__dict__.get(a)) in _DICT_TYPES}


_ALL_HOOKS = operator.itemgetter(*_HOOK_DICTS)
_NO_HOOKS = tuple((a, ()) for a in _HOOK_DICTS)
_HOOK_DICT_TYPES = frozenset(_DICT_TYPES)


def _module_snapshot(m) -> tuple:
    """A module's mode and its hooks (a test's counter, a learner's forgotten hook): what ``_same``
    compares after every message, for every module either side holds of the other's (a bridge has
    about 180), so written for speed: 1-2 us a module with no hook (most of them), against 8 us
    through ``_hook_dicts``; the same value either way."""
    d = m.__dict__
    try:
        dicts = _ALL_HOOKS(d)
    except Exception:
        dicts = None
    if dicts is not None and _HOOK_DICT_TYPES.issuperset(map(type, dicts)) and not any(dicts):
        return ("module", bool(m.training), _NO_HOOKS)
    hooks = []
    for a in _HOOK_DICTS:
        x = d.get(a)
        if type(x) is dict or type(x) is OrderedDict:
            hooks.append((a, tuple([(k, id(h)) for k, h in x.items()]) if x else ()))
    return ("module", bool(m.training), tuple(hooks))


def _snapshot(t):
    if _is_optimizer(t):
        return ("optim", None)  # by identity only: its state (momentum) lives where step() runs
    if _is_module(t):
        return _module_snapshot(t)
    if _is_generator(t):
        return ("gen", bytes(t.get_state().numpy().tobytes()))
    g = _grad(t)
    small = t.numel() <= _COMPARE_NUMEL
    return (_meta(t), _plain(t).clone() if small else None,
            _plain(g).clone() if small and g is not None else None)


def _same(t, snap, content: bool = True) -> bool:
    """Whether ``t`` still holds what ``snap`` saw. With ``content`` False, an unchanged version
    counter, storage and gradient count as unchanged: only a write through ``.data`` escapes that,
    which the course's tests never do (T), and which learner code does (L: its side compares)."""

    kind = snap[0]
    if type(kind) is str:  # a module, a generator or an optimizer
        if kind == "module":
            return _is_module(t) and _module_snapshot(t) == snap
        return (_is_module(t) or _is_generator(t) or _is_optimizer(t)) and _snapshot(t) == snap
    meta, data, grad = snap
    now = _meta(t)
    if now == meta:
        if data is None or not content:
            return True
    elif data is None or now[2:5] != meta[2:5] or (now[5] is None) != (meta[5] is None):
        return False
    if not _same_bytes(_plain(t), data):
        return False
    g = _grad(t)
    if g is None:
        return True
    return grad is not None and g.shape == grad.shape and g.dtype == grad.dtype and _same_bytes(_plain(g), grad)


_MEMCMP: list = []


def _same_bytes(a, b) -> bool:
    """Whether two contiguous CPU tensors of one shape and dtype hold the same bytes. L compares every
    test tensor its code may have written after every message (a test's model: 40 tensors of 50,000
    floats): memcmp takes a fifth of ``torch.equal``'s time, and says what changed, where equal
    values do not (NaN is unequal to itself, -0.0 equal to 0.0)."""
    import torch

    if a.shape != b.shape or a.dtype != b.dtype or not (a.is_contiguous() and b.is_contiguous()):
        return False
    if a.is_conj() or b.is_conj() or a.is_neg() or b.is_neg():  # a lazy conjugate's bytes are not its values
        return torch.equal(a.resolve_conj().resolve_neg(), b.resolve_conj().resolve_neg())
    n = a.numel() * a.element_size()
    if n == 0:
        return True
    if not _MEMCMP:
        try:
            fn = ctypes.CDLL(None).memcmp
            fn.restype, fn.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
            _MEMCMP.append(fn)
        except Exception:
            _MEMCMP.append(None)
    fn = _MEMCMP[0]
    if fn is None:
        return torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8))
    return fn(a.data_ptr(), b.data_ptr(), n) == 0


def _apply_payload(t, payload, unpack_hooks=None) -> None:
    """Make ``t`` (this side's tensor) hold what the other side's copy holds now, in place."""
    import torch

    if len(payload) == 3:  # a module: its mode, and its hooks as the other side holds them now
        if payload[0] != "module" or type(payload[1]) is not bool or not _is_module(t):
            return
        t.training = payload[1]
        hooks = unpack_hooks(payload[2]) if unpack_hooks is not None and payload[2] is not None else None
        if type(hooks) is dict:
            mine = _hook_dicts(t)
            for a, items in hooks.items():
                if a in mine and type(items) is list:
                    mine[a].clear()  # in place: the handles that registered them still remove them
                    mine[a].update((k, h) for k, h in items if type(k) is int)
        return
    if len(payload) == 2:  # a module: model.train() / model.eval() on either side; a generator's state
        if payload[0] == "module" and type(payload[1]) is bool and _is_module(t):
            t.training = payload[1]
        elif payload[0] == "gen" and type(payload[1]) is bytes and _is_generator(t) and \
                len(payload[1]) == t.get_state().numel():
            t.set_state(torch.frombuffer(bytearray(payload[1]), dtype=torch.uint8))
        return
    dtype, shape, raw, rg, _param, grad = payload
    new = _tensor_build(dtype, shape, raw)
    with torch.no_grad():
        if new.shape == t.shape and new.dtype == t.dtype:
            t.copy_(new)
        else:
            t.data = new
    if type(rg) is bool and rg != t.requires_grad and t.is_leaf and (t.is_floating_point() or not rg):
        t.requires_grad_(rg)  # ``x.requires_grad_()`` on a tensor the other side already has (4.6)
    if grad is None:
        t.grad = None
    elif grad == "keep":
        pass
    elif t.requires_grad:
        t.grad = _tensor_build(*grad)


class _Sync:
    """One side's view of the shared state: what the other side was last told or told us.

    T holds its tensors weakly: a tensor the test no longer holds (the input of one call in a
    loop) is forgotten on both sides at the next message, so what is compared after each
    message stays what the test still holds."""

    def __init__(self, weak: bool = False):
        import weakref

        self.rng = None  # the generators' fingerprint when last told or sent
        self.grad_mode = None
        self.weak = weak
        self._weakref = weakref.ref
        self.tensors: dict[int, object] = {}  # tid -> this side's tensor (T: a weak reference)
        self.snaps: dict[int, tuple] = {}
        self.dead: list[int] = []
        self.rev: dict[int, int] = {}  # L: id of its copy -> the key T knows it by
        self.alias: dict[int, object] = {}  # T: the storage of its copies of L's tensors
        self.lkeys: dict[int, int] = {}  # T: id of its copy of an L tensor -> that tensor's key
        self.lkey_ids: dict[int, int] = {}
        self.pack_hooks = self.unpack_hooks = None  # how a module's hooks cross, from each side
        self.touched: set[int] = set()  # L: the tensors of T's that came with messages since the last reply
        self.graphs: dict[int, object] = {}  # L: key -> a result with an autograd graph T may backpropagate
        self.graph_inputs: dict[int, dict] = {}  # L: key -> {tid: L's copy} of T's tensors the call was given
        self.test_tensors: dict[int, None] = {}  # L: the keys of T's tensors among them (not modules), for base_of
        # T: the key each of the test's objects goes by. Never reused: a key the test dropped can
        # name nothing the test makes later, however CPython reuses the address (an id would)
        self.tkeys: dict[int, int] = {}  # id of a test's object -> its key
        self.tkey_ids: dict[int, int] = {}  # its key -> that id, to forget
        self._next_tkey = 0
        self._storages: dict[int, list] | None = None  # L: base_of's index (storage address -> keys)
        self.held = None  # T: its copies of L's large tensors (keyed.HeldValues)

    def get(self, tid):
        t = self.tensors.get(tid)
        return t() if self.weak and t is not None else t

    def tkey(self, obj):
        """T: the key one of the test's objects was sent by, while it lives (else None)."""
        key = self.tkeys.get(id(obj))
        return key if key is not None and self.get(key) is obj else None

    def new_tkey(self, obj) -> int:
        """T: a fresh key for one of the test's objects, held weakly."""
        self._next_tkey += 1
        key = self._next_tkey
        self.tkeys[id(obj)] = key
        self.tkey_ids[key] = id(obj)
        self.put(key, obj)
        return key

    def put(self, tid, t) -> None:
        self._storages = None
        if self.weak:
            self.tensors[tid] = self._weakref(t, lambda _r, tid=tid: self.dead.append(tid))
            if tid < 0 and _syncable(t):
                # one of L's tensors (``model.bn.weight``): keep its storage, so a write to it just
                # before the test drops it (``net.head.weight.zero_()``) still reaches L
                self.alias[tid] = t.detach()
                self.lkeys[id(t)] = tid
                self.lkey_ids[tid] = id(t)
        else:
            old = self.tensors.get(tid)
            if old is not None:
                self.rev.pop(id(old), None)
            self.tensors[tid] = t
            self.rev[id(t)] = tid
            torch = sys.modules.get("torch")
            if tid > 0 and torch is not None and isinstance(t, torch.Tensor):
                self.test_tensors[tid] = None
            else:
                self.test_tensors.pop(tid, None)

    def forget(self, tids) -> None:
        self._storages = None
        for tid in tids:
            self.test_tensors.pop(tid, None)
            old = self.tensors.pop(tid, None)
            if old is not None and not self.weak and self.rev.get(id(old)) == tid:
                del self.rev[id(old)]
            self.snaps.pop(tid, None)
            self.graphs.pop(tid, None)
            self.graph_inputs.pop(tid, None)
            self.alias.pop(tid, None)
            oid = self.tkey_ids.pop(tid, None)
            if oid is not None and self.tkeys.get(oid) == tid:
                del self.tkeys[oid]
            if self.weak and tid in self.lkey_ids:
                self.lkeys.pop(self.lkey_ids.pop(tid), None)

    def _last_change(self, tid):
        """The final contents of a copy of L's tensor that the test dropped, if it changed them."""
        import torch

        a, snap = self.alias.get(tid), self.snaps.get(tid)
        if a is None or snap is None or type(snap[0]) is str or len(snap) != 3:
            return None
        meta, data, _grad = snap
        if data is not None:
            changed = a.shape != data.shape or not torch.equal(_plain(a), data)
        else:
            changed = (a._version, a.data_ptr()) != meta[:2]
        if not changed:
            return None
        d = _plain(a)
        return (str(d.dtype).split(".")[-1], list(d.shape), d.numpy().tobytes(), bool(meta[4]), False, "keep")

    def lkey_of(self, obj):
        """T: the key of the L tensor that ``obj`` is T's copy of (else None)."""
        key = self.lkeys.get(id(obj))
        return key if key is not None and self.get(key) is obj else None

    def base_of(self, v):
        """L: the key of T's tensor whose memory ``v`` views, if any."""
        try:
            ptr = v.untyped_storage().data_ptr()
        except Exception:
            return None
        if not ptr:
            return None
        if self._storages is None:
            # T's tensors by storage, built once per message L makes: a reply with a learner's 100
            # parameters walked T's hundreds of tensors once per parameter (4.5: 45 ms a reply, 6 s a
            # grading). L's code runs only between messages (after ``storages_may_change``).
            index: dict[int, list] = {}
            tensors = self.tensors
            for tid in self.test_tensors:
                t = tensors[tid]
                if _syncable(t):
                    p = t.untyped_storage().data_ptr()
                    if p:
                        index.setdefault(p, []).append(tid)
            self._storages = index
        for tid in self._storages.get(ptr, ()):
            t = self.tensors.get(tid)
            if t is not None and t is not v and _syncable(t) and t.untyped_storage().data_ptr() == ptr:
                return tid
        return None

    def storages_may_change(self) -> None:
        """L: its code may run (a message was sent): base_of's index is built again when next used."""
        self._storages = None

    def key_of(self, obj):
        """L: the key T knows this object by, when it is L's copy of one of T's (else None)."""
        tid = self.rev.get(id(obj))
        return tid if tid is not None and self.tensors.get(tid) is obj else None

    def outgoing(self, only_known: bool) -> dict | None:
        out = {}
        rng = _rng_fingerprint()
        if rng != self.rng:
            out["rng"], self.rng = _rng_state(), rng
        torch = sys.modules.get("torch")
        grad_mode = bool(torch.is_grad_enabled()) if torch is not None else None
        if grad_mode != self.grad_mode:  # torch.no_grad() around a call reaches the other side, both ways
            out["grad_mode"], self.grad_mode = grad_mode, grad_mode
        changed = {}
        if self.dead:  # gone since the last message, and not reused by a tensor sent in this one
            dead, self.dead = [tid for tid in self.dead if self.get(tid) is None], []
            for tid in dead:
                last = self._last_change(tid)
                if last is not None:
                    changed[tid] = last
            if dead:
                self.forget(dead)
                out["forget"] = dead
        if only_known:
            for tid in list(self.tensors):
                t = self.get(tid)
                if t is None or tid not in self.snaps:
                    continue
                # L compares the contents of what its code can have written (``p.data -= lr *
                # p.grad``): what came with the message just answered, and what its code holds (a
                # tensor only this table holds has refcount 3: table, t, argument)
                content = not self.weak and (tid in self.touched or sys.getrefcount(t) > 3)
                if not _same(t, self.snaps[tid], content=content):
                    changed[tid] = _tensor_payload(t, self.pack_hooks)
                    self.snaps[tid] = _snapshot(t)
        self.touched.clear()
        if changed:
            out["tensors"] = changed
        return out or None

    def incoming(self, sync) -> None:
        if type(sync) is not dict:
            return
        if "rng" in sync and type(sync["rng"]) is tuple and len(sync["rng"]) == 3:
            _set_rng_state(sync["rng"])
            self.rng = _rng_fingerprint()
        torch = sys.modules.get("torch")
        if type(sync.get("grad_mode")) is bool and torch is not None:
            torch.set_grad_enabled(sync["grad_mode"])
            self.grad_mode = sync["grad_mode"]
        tensors = sync.get("tensors")
        if type(tensors) is dict:
            for tid, payload in tensors.items():
                t = self.get(tid) if type(tid) is int else None
                if t is None or type(payload) is not tuple or len(payload) not in (2, 3, 6) or \
                        (len(payload) == 6 and not _syncable(t)):
                    continue  # (a key T holds a graph by is not a tensor to overwrite)
                _apply_payload(t, payload, self.unpack_hooks)
                self.snaps[tid] = _snapshot(t)
        if not self.weak and type(sync.get("forget")) is list:  # after: a dropped tensor's last change
            self.forget(sync["forget"])


_PLAIN_TYPES = frozenset({str, int, float, bool, bytes, tuple, list, dict, set, type(None), complex, slice})


class _TPickler(pickle.Pickler):
    """T's messages to L: the test's tensors go by identity, with their contents when changed."""

    sent = None
    arrays = None  # a call's numpy arguments, numbered: L says which of them the call changed in place

    def __init__(self, f, sync: _Sync, trefs: dict | None = None, root=None):
        super().__init__(f, protocol=5)
        self.sync, self.trefs, self.root = sync, trefs, root
        self._array_index: dict[int, int] = {}

    def _array_id(self, obj):
        """A test's numpy array in a call's arguments: by value, numbered, so that L can report a
        change the call made to its copy (issue 16, class 4: "must not modify its input")."""
        i = self._array_index.get(id(obj))
        if i is not None:
            return ("bc-nd", i, None, None, None)  # the same array twice is one array in L
        i = self._array_index[id(obj)] = len(self.arrays)
        self.arrays.append(obj)
        np = sys.modules["numpy"]
        return ("bc-nd", i, obj.dtype.str, list(obj.shape), np.ascontiguousarray(obj).tobytes())

    def _module_id(self, obj):
        """A library module (nn.Sequential, nn.Linear), optimizer or generator of the test's: by
        identity, like its tensors, with a module's training flag and a generator's state kept in
        step on both sides (an optimizer's momentum stays with the copy that steps)."""
        tid = self.sync.tkey(obj)
        if tid is not None and tid in self.sync.snaps:
            return ("bc-module", tid, None)
        if tid is None:
            tid = self.sync.new_tkey(obj)
        self.sync.snaps[tid] = _snapshot(obj)
        buf = io.BytesIO()
        inner = _TPickler(buf, self.sync, self.trefs, root=obj)
        inner.sent = self.sent
        inner.dump(obj)
        return ("bc-module", tid, buf.getvalue())

    def reducer_override(self, obj):
        """A class defined inside a library's function (a TransformerLens bridge's hook conversions,
        ``AttentionBridge._setup_qkv_hook_reshaping.<locals>.ReshapeForAttentionHeads``) has no name
        L could import it by, so it goes by value. Safe this way round: T's code may run in L, L's
        never runs in T. Without this, a test that passes its own bridge to the learner's function
        ran in L at calibration (issue 16: 3.1, 3.2)."""
        if _by_value(obj):
            return _class_by_value(obj)
        return NotImplemented

    def persistent_id(self, obj):
        if type(obj) in _PLAIN_TYPES:
            return None
        if self.arrays is not None and type(obj) is _ndarray() and obj.dtype.kind in "biufc" and not obj.dtype.hasobject:
            return self._array_id(obj)
        if type(obj) is _LearnerHook:
            obj = obj.remote
        if isinstance(obj, Remote):  # a learner's object inside a test's (a hook in a module's dict)
            return ("bc-ref", object.__getattribute__(obj, "_rid"))
        if self.trefs is not None and not _by_value(obj) and (_local_callable(obj) or _is_hook_handle(obj)):
            # a lambda hook inside a test's module, a test's own object in a dict: called back here
            self.trefs[id(obj)] = obj
            return ("bc-tref", id(obj))
        # every module of a library, not only torch's own: one sent inside another's dump (a
        # TransformerLens block inside an nn.ModuleList, also named in the bridge's hook registry)
        # must stay one object in L, or hooks added through one copy never fire in the other
        if obj is not self.root and ((_is_module(obj) and type(obj).__module__ != "__main__")
                                     or _is_generator(obj) or _is_optimizer(obj)):
            return self._module_id(obj)
        if not _syncable(obj):
            return None
        key = self.sync.lkey_of(obj)
        if key is not None:  # T's copy of one of L's tensors (a learner's parameter): L's own, back
            return ("bc-ltensor", key)
        tid = self.sync.tkey(obj)
        if self.sent is not None:
            self.sent.append(obj)
        known = tid is not None and tid in self.sync.snaps
        if tid is None:
            tid = self.sync.new_tkey(obj)
        if known and _same(obj, self.sync.snaps[tid], content=False):
            return ("bc-tensor", tid, None, False)
        self.sync.snaps[tid] = _snapshot(obj)
        held = self.sync.held
        key = held.origin_of(obj) if held is not None and not known else None
        if key is not None:  # T's copy of a tensor L sent by key, unchanged: L builds it from its own bytes
            return ("bc-tensor", tid, ("lvalue", key), True)
        return ("bc-tensor", tid, _tensor_payload(obj), not known)  # not known: a new tensor


def _by_value(obj) -> bool:
    """A library's class defined in a function, or a library's lambda that closes over nothing
    (TransformerLens's ``gelu_new``): no name to import it by in L, and nothing of the test's in it."""
    t = type(obj)
    if t is type:
        return "<locals>" in obj.__qualname__ and (obj.__module__ or "").split(".")[0] in _BY_VALUE_LIBRARIES
    if t is _FunctionType:
        return "<" in obj.__qualname__ and obj.__closure__ is None and obj.__module__ not in (None, "__main__") \
            and (obj.__module__ or "").split(".")[0] in _BY_VALUE_LIBRARIES
    return False


_FunctionType = type(_by_value)
_BY_VALUE_LIBRARIES = ("transformer_lens", "torch", "numpy", "einops", "course")


def _class_by_value(cls):
    import cloudpickle  # in requirements.lock; imported only when a test sends such a class

    return pickle.loads, (cloudpickle.dumps(cls, protocol=5),)


def _ndarray():
    np = sys.modules.get("numpy")
    return np.ndarray if np is not None else None


def _t_dumps(obj, sync: _Sync, trefs: dict | None = None, sent: list | None = None,
             arrays: list | None = None) -> bytes:
    buf = io.BytesIO()
    pickler = _TPickler(buf, sync, trefs)
    pickler.sent = sent
    pickler.arrays = arrays
    pickler.dump(obj)
    return buf.getvalue()


_LEARNER_GRAPH = None


def _learner_graph():
    """An autograd Function whose forward is a value computed in L and whose backward asks L."""
    global _LEARNER_GRAPH
    if _LEARNER_GRAPH is None:
        import torch

        class LearnerGraph(torch.autograd.Function):
            @staticmethod
            def forward(ctx, value, conn, key, tids, dummy, *inputs):
                ctx.conn, ctx.key, ctx.tids = conn, key, tids
                ctx.like = [(x.shape, x.dtype) for x in inputs]
                return value.clone()

            @staticmethod
            def backward(ctx, grad):
                got = ctx.conn.vjp(ctx.key, grad, ctx.tids)
                out = []
                for i, (shape, dtype) in enumerate(ctx.like):
                    g = got[i] if i < len(got) else None
                    out.append(g.to(dtype) if g is not None and g.shape == shape else None)
                return (None, None, None, None, None, *out)

        _LEARNER_GRAPH = LearnerGraph
    return _LEARNER_GRAPH


class _LUnpickler(pickle.Unpickler):
    def __init__(self, f, sync: _Sync, learner=None):
        super().__init__(f)
        self.sync, self.learner = sync, learner

    def persistent_load(self, pid):
        if type(pid) is tuple and len(pid) == 5 and pid[0] == "bc-nd" and self.learner is not None:
            return self.learner.received_array(*pid[1:])  # before importing torch: a numpy lesson need not
        import torch

        if type(pid) is tuple and len(pid) == 2 and pid[0] == "bc-tref" and self.learner is not None:
            return _TRef(self.learner, pid[1])
        if type(pid) is tuple and len(pid) == 2 and pid[0] == "bc-ltensor":
            t = self.sync.get(pid[1])
            if t is None:
                raise ValueError("a tensor of yours the test held is gone")
            self.sync.touched.add(pid[1])
            return t
        if type(pid) is tuple and len(pid) == 2 and pid[0] == "bc-ref" and self.learner is not None:
            return self.learner.refs[pid[1]]
        if type(pid) is tuple and len(pid) == 3 and pid[0] == "bc-module":
            _, tid, inner = pid
            if inner is None:
                m = self.sync.get(tid)
                if m is None:
                    raise ValueError("a module the test never sent")
                return m
            m = _LUnpickler(io.BytesIO(inner), self.sync, self.learner).load()
            self.sync.put(tid, m)
            self.sync.snaps[tid] = _snapshot(m)
            return m
        _, tid, payload, fresh = pid
        t = self.sync.get(tid)
        if type(payload) is tuple and len(payload) == 2 and payload[0] == "lvalue" and self.learner is not None:
            t = self.learner.values.copy_of(payload[1])  # what L sent under that key, which T's tensor holds
            self.sync.put(tid, t)
            self.sync.snaps[tid] = _snapshot(t)
            self.sync.touched.add(tid)
            return t
        if payload is not None:
            if t is None or fresh:
                dtype, shape, raw, rg, param, grad = payload
                t = _tensor_build(dtype, shape, raw)
                t = torch.nn.Parameter(t, requires_grad=rg) if param else t.requires_grad_(rg and t.is_floating_point())
                self.sync.put(tid, t)
            _apply_payload(t, payload)
            self.sync.snaps[tid] = _snapshot(t)
        elif t is None:
            raise ValueError("a tensor the test never sent")
        self.sync.touched.add(tid)
        return t
