"""Large tensors of L's that T already holds a private copy of: the second time, by key only.

Before every test cell T asks L for every name any test of the notebook uses (tests.tests_main: the
requests must say nothing about which test runs next), so a learner's activation cache (3.3: 84 MB)
or data set (4.3's ``toy_x``, ``val_windows``) crossed by value once per test cell: 1-1.5 GB a
grading. Now L gives each large plain tensor it sends (no autograd graph, not a parameter: those
cross by identity, state.py) a key, and T keeps its own copy of the bytes under that key; the next
time L sends the same tensor, unchanged, it sends the key, and T hands the test a fresh clone of its
copy. What a test does to the tensor it gets never reaches the copy, and a change L's code made in
between, however it was made (``.data``, a numpy view: no version counter moves), means new bytes
under a new key, as L compares every byte with what it sent.

The boundary stays where it was: a key resolves only to bytes L itself sent (its own table, apart
from the test's tensors), so naming a key can give a test nothing L could not have sent by value.
T refuses a key it does not hold, a key sent twice, a malformed payload, and more than ``CAP_BYTES``
held at once; L keeps its table within the same bound (it evicts its oldest entries that the message
being made does not name, and says so in that message). Everything is per grading: both tables die
with their processes."""

from __future__ import annotations

import ctypes
import weakref
from collections import OrderedDict

from .state import _tensor_build
from .values import TAG, _as_list, _int, _syncable

MIN_BYTES = 1 << 16  # smaller tensors go by value every time: cheaper than keeping them
CAP_BYTES = 256 << 20  # what either side holds at most
# The replies whose tensors are likely to cross again: a global's value, an attribute, an item. A
# call's result is a new tensor almost every time: keeping it would only cost a copy on each side.
KEYED_OPS = frozenset({"get", "getattr", "getitem", "list"})

_MEMCMP: list = []


def _holds(d, raw: bytes) -> bool:
    """Whether the contiguous CPU tensor ``d`` holds exactly the bytes ``raw`` (memcmp: no copy)."""
    n = d.numel() * d.element_size()
    if n != len(raw):
        return False
    if not _MEMCMP:
        try:
            fn = ctypes.CDLL(None).memcmp
            fn.restype, fn.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
            _MEMCMP.append(fn)
        except Exception:
            _MEMCMP.append(None)
    fn = _MEMCMP[0]
    if fn is None:
        return ctypes.string_at(d.data_ptr(), n) == raw
    return fn(d.data_ptr(), raw, n) == 0


class SentValues:
    """L: the large tensors it sent by key, while T holds them."""

    def __init__(self):
        self.entries: OrderedDict[int, tuple] = OrderedDict()  # key -> (weakref, the bytes sent, nbytes, payload)
        self.by_id: dict[int, int] = {}  # id(tensor) -> its key
        self.ids: dict[int, int] = {}  # key -> id(tensor)
        self.size = 0
        self.next_key = 0
        self.on = False  # whether the message being made may key its tensors (KEYED_OPS)
        self.new: dict[int, tuple] = {}  # key -> payload, for the message being made
        self.used: set[int] = set()  # keys the message being made names
        self.gone: list[int] = []  # keys to tell T to drop, with the next message
        self.dead: list[int] = []  # keys whose tensor L's code dropped (weakref callbacks)

    def begin(self, op) -> None:
        self.on = op in KEYED_OPS

    def tag(self, v):
        """``(TAG, "ptk", key)`` for a large plain tensor (its bytes go with the message the first
        time), or None: by value, as before."""
        if not self.on or not _syncable(v) or v.requires_grad:
            return None
        n = v.numel() * v.element_size()
        if n < MIN_BYTES or n > CAP_BYTES // 2:
            return None
        d = v.detach().contiguous()
        if d.is_conj() or d.is_neg():
            return None
        key = self.by_id.get(id(v))
        if key is not None:
            ref, raw, _n, _p = self.entries.get(key, (None, None, 0, None))
            if ref is not None and ref() is v and _holds(d, raw):
                self.entries.move_to_end(key)
                self.used.add(key)
                return (TAG, "ptk", key)
            self._drop(key)  # changed, or another tensor at a freed address: T's copy goes
        if not self._room(n):
            return None
        raw = d.numpy().tobytes()  # what T gets, and what L compares with next time
        self.next_key += 1
        key = self.next_key
        payload = (str(d.dtype).split(".")[-1], list(d.shape), raw)
        self.entries[key] = (weakref.ref(v, lambda _r, key=key: self.dead.append(key)), raw, n, payload)
        self.by_id[id(v)], self.ids[key] = key, id(v)
        self.size += n
        self.new[key] = payload
        self.used.add(key)
        return (TAG, "ptk", key)

    def _drop(self, key) -> None:
        entry = self.entries.pop(key, None)
        if entry is None:
            return
        self.size -= entry[2]
        if key in self.new:  # sent with no message yet: T never heard of it
            del self.new[key]
        else:
            self.gone.append(key)
        i = self.ids.pop(key, None)
        if self.by_id.get(i) == key:
            del self.by_id[i]

    def _room(self, n: int) -> bool:
        """Evict the oldest entries the message being made does not name, until ``n`` more bytes fit."""
        for key in [k for k in self.entries if k not in self.used]:
            if self.size + n <= CAP_BYTES:
                break
            self._drop(key)
        return self.size + n <= CAP_BYTES

    def envelope(self):
        """What goes with the message just made: ``(new payloads, keys T may drop)``, or None."""
        for key in self.dead:
            if key not in self.used and key in self.entries and self.entries[key][0]() is None:
                self._drop(key)
        self.dead = [k for k in self.dead if k in self.entries]
        out = (self.new, self.gone) if self.new or self.gone else None
        self.new, self.gone, self.used = {}, [], set()
        return out

    def copy_of(self, key):
        """A new tensor holding what L sent under ``key``: a test passes back its copy, unchanged."""
        entry = self.entries.get(key) if type(key) is int else None
        if entry is None:
            raise ValueError("the test passed a value the learner's process no longer keeps")
        return _tensor_build(*entry[3])

    def abandon(self, sent) -> None:
        """The message could not be sent: forget the keys it would have given T."""
        if sent is None:
            return
        new, gone = sent
        self.gone.extend(gone)
        for key in new:
            if key in self.entries:
                self.new[key] = None  # (so that _drop does not tell T of a key it never had)
                self._drop(key)


class HeldValues:
    """T: its private copies of L's large tensors, by L's key."""

    def __init__(self):
        self.copies: dict[int, object] = {}
        self.size = 0
        self.last_key = 0
        self.origins: dict[int, tuple] = {}  # id of a clone given to a test -> (key, weakref, what it held)

    def receive(self, table) -> None:
        """Apply what came with one of L's messages: first the keys L dropped, then the new ones."""
        if type(table) is not tuple or len(table) != 2 or type(table[0]) is not dict:
            raise ValueError("malformed keyed values")
        new, gone = table
        for key in _as_list(gone):
            t = self.copies.pop(_int(key), None)
            if t is not None:
                self.size -= t.numel() * t.element_size()
        for key, payload in new.items():
            key = _int(key)
            if key <= self.last_key:  # a key is never reused: it can name only the bytes it came with
                raise ValueError("the learner process sent a value under a key it had used")
            if type(payload) is not tuple or len(payload) != 3:
                raise ValueError("malformed keyed values")
            t = _tensor_build(*payload)
            n = t.numel() * t.element_size()
            if self.size + n > CAP_BYTES:
                raise ValueError("the learner process sent more values to keep than the grader holds")
            self.copies[key], self.last_key = t, key
            self.size += n

    def get(self, key, clone: bool = True):
        """A fresh copy for the test (None when ``clone`` is False: a value no test reads, checked)."""
        key = _int(key)
        t = self.copies.get(key)
        if t is None:
            raise ValueError("the learner process named a value by a key it never sent (or had dropped)")
        if not clone:
            return None
        c = t.clone()
        if len(self.origins) > 4 * len(self.copies) + 64:  # (clones the test dropped)
            self.origins = {i: o for i, o in self.origins.items() if o[1]() is not None}
        self.origins[id(c)] = (key, weakref.ref(c), c._version, c.data_ptr(), c.shape)
        return c

    def origin_of(self, t):
        """The key of L's tensor that ``t``, a clone T gave a test, still holds, unchanged (its version
        counter, memory and shape, as T judges its own tensors: state._same), while L keeps it; else None."""
        o = self.origins.get(id(t))
        if o is None or o[1]() is not t:
            return None
        key, _ref, version, ptr, shape = o
        if key not in self.copies or t._version != version or t.data_ptr() != ptr or t.shape != shape or \
                t.requires_grad or t.grad is not None or type(t) is not type(self.copies[key]):
            return None
        return key
