"""T's side of the crossing: the decoder that builds plain values and, for a learner's other objects,
the proxies (Remote) whose calls run in L; a learner's hook on a test's module."""

from __future__ import annotations

import datetime
import pathlib
import sys

from . import boundary
from .values import (
    _SAFE_NP_KINDS,
    _TORCH_DTYPES,
    SYMBOL_LIBRARIES,
    TAG,
    _as_list,
    _bytes,
    _int,
    _is_generator,
    _is_module,
    _is_optimizer,
    _pair,
    _str,
    _syncable,
    _TrustedModuleName,
)


class RemoteError(Exception):
    pass


class Remote:
    """In T: an object that lives in L. Calling it runs the call in L."""

    __slots__ = ("_conn", "_rid", "_tname", "_callable", "_stub")

    def __init__(self, conn, rid, tname, is_callable, stub=None):
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_rid", rid)
        object.__setattr__(self, "_tname", tname)
        object.__setattr__(self, "_callable", is_callable)
        object.__setattr__(self, "_stub", stub)

    @property
    def __wrapped__(self):
        """A never-called function compiled from the learner's cell: inspect.getsource/signature use it."""
        stub = object.__getattribute__(self, "_stub")
        if stub is None:
            raise AttributeError("__wrapped__")
        return stub

    @property
    def __judged__(self):
        """For rule checks: functions compiled from the submitted cells whose code is the code this
        learner's function runs (code.py); TypeError, with a message, when there is none."""
        from .code import judged

        try:
            return judged(object.__getattribute__(self, "_conn"), self)
        except AttributeError as err:  # not "no such attribute": a description the grader could not use
            raise TypeError(f"the grader could not read its description ({err})") from None

    @property
    def __code__(self):  # compiled from the submitted source, never run: for tests that inspect it
        return self.__wrapped__.__code__

    @property
    def __globals__(self):
        """The learner's functions, classes and modules by name (no data), for rule checks."""
        if not object.__getattribute__(self, "_callable"):
            raise AttributeError("__globals__")
        conn = object.__getattribute__(self, "_conn")
        names = conn.epoch.get("globals")
        if names is None:  # L's names change only when L runs: once per reply, not per read
            names = conn.epoch["globals"] = conn.request(("globals", 0))
        if type(names) is not dict:
            return {}
        out = {}
        for k, x in names.items():
            if isinstance(x, _TrustedModuleName):
                x = sys.modules.get(str(x)) if str(x).split(".")[0] in SYMBOL_LIBRARIES else None
                if x is None:
                    continue
            out[k] = x
        return out

    @property
    def __closure__(self):  # the stub is compiled at top level: no closure (rule checks look for one)
        return self.__wrapped__.__closure__

    @property
    def __name__(self):
        stub = object.__getattribute__(self, "_stub")
        return stub.__name__ if stub is not None else object.__getattribute__(self, "_tname")

    def __call__(self, *args, **kwargs):
        conn = self._conn
        if self._rid in conn.constructors:  # the learner's own class: maybe without waiting (tests._Conn.construct)
            return conn.construct(self, args, kwargs)
        return conn.request(("call", self._rid, args, kwargs))

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        conn = object.__getattribute__(self, "_conn")
        if conn.pending:  # its attributes come with the replies not read yet
            conn.collect()
        rid = object.__getattribute__(self, "_rid")
        attrs = conn.attributes.get(rid)
        if attrs is not None and name in attrs[0]:  # read in the last reply; L has not run since
            conn.stats["attribute_hits"] += 1
            return conn.decode(attrs[0][name])
        return conn.request(("getattr", rid, name))

    def __getitem__(self, key):
        return self._conn.request(("getitem", self._rid, key))

    def __len__(self):
        n = self._conn.request(("len", self._rid))
        if type(n) is not int:
            raise TypeError("len() of a learner object did not return an int")
        return n

    def __iter__(self):
        items = self._conn.request(("list", self._rid))
        if type(items) is not list:
            raise TypeError("could not iterate over a learner object")
        return iter(items)

    def __repr__(self):
        return f"<learner's {self._tname}>"

    def __deepcopy__(self, memo):
        return self._conn.request(("deepcopy", self._rid))

    def __copy__(self):
        return self._conn.request(("copy", self._rid))

    def __reduce_ex__(self, protocol):
        raise TypeError(f"a learner's {object.__getattribute__(self, '_tname')} cannot be copied into the test")

    def __setattr__(self, name, value):
        self._conn.request(("setattr", self._rid, name, value))

    def __setitem__(self, key, value):
        self._conn.request(("setitem", self._rid, key, value))

    def __contains__(self, item):
        return bool(self._conn.request(("binop", self._rid, "contains", item)) is True)

    def __bool__(self):
        return self._conn.request(("bool", self._rid)) is True

    def __float__(self):
        x = self._conn.request(("float", self._rid))
        if type(x) is not float:
            raise TypeError("float() of a learner object did not return a float")
        return x

    def __instancecheck__(self, obj):
        """``isinstance(x, LearnersClass)``: asked in L, where both live (known here when the last
        reply said that this plain class is in the MRO of ``x``'s class: no code of L's decides that)."""
        if not isinstance(obj, Remote):
            return False  # an object of the test's own is never an instance of a learner's class
        conn = object.__getattribute__(self, "_conn")
        if conn.pending:
            conn.collect()
        attrs = conn.attributes.get(object.__getattribute__(obj, "_rid"))
        if attrs is not None and object.__getattribute__(self, "_rid") in attrs[1]:
            conn.stats["attribute_hits"] += 1
            return True
        return self._conn.request(("isinstance", object.__getattribute__(obj, "_rid"), self._rid)) is True

    def __subclasscheck__(self, cls):
        if not isinstance(cls, Remote):
            return False
        return self._conn.request(("issubclass", object.__getattribute__(cls, "_rid"), self._rid)) is True

    @property
    def __class__(self):
        """The nearest library class of the learner's object (``nn.Module`` for a learner's module),
        so that ``isinstance(model, nn.Module)`` in a test sees what the learner built; never an
        array, tensor, number or string class (boundary.honest_class)."""
        conn, rid = object.__getattribute__(self, "_conn"), object.__getattribute__(self, "_rid")
        try:
            key = ("classof", rid)
            if key in conn.epoch:  # asked since T last sent anything: L has not run since
                cls = conn.epoch[key]
            else:
                cls = conn.epoch[key] = conn.request(("classof", rid))
        except Exception:
            return type(self)
        return boundary.honest_class(cls, type(self))

    def __array__(self, *args, **kwargs):
        """numpy makes no array of a learner's object: it would ask the object for its items and
        then hand it the expected values to compare with (boundary)."""
        raise boundary.not_an_array(object.__getattribute__(self, "_tname"))

    def __mro_entries__(self, bases):
        """``class Probe(LearnersModule): ...`` in a test: the class is made in L, where its base
        lives (``_LearnerSubclass``), and the test gets a proxy of it."""
        return (_LearnerSubclass,)


class _LearnerSubclassMaker(type):
    """The metaclass of a class statement whose bases include a learner's class. It makes the
    class in L (L's ``subclass`` operation) from the learner's bases and the test's class body, and
    returns a proxy of it. The body's functions stay the test's: L calls them back in T, where
    they run on proxies of the learner's objects (issue 16: a test's code may run in L, but here
    it need not). Known limit: ``super()`` in such a method has no class to work with in T."""

    def __new__(mcls, name, bases, ns, **kwargs):
        orig = ns.get("__orig_bases__")
        if orig is None:  # _LearnerSubclass itself
            return super().__new__(mcls, name, bases, ns, **kwargs)
        remotes = [b for b in orig if isinstance(b, Remote)]
        if kwargs or len(remotes) != len(orig):
            raise TypeError("a test's class can derive from a learner's class only (no keywords, no test's class "
                            "among its bases)")
        body = {k: v for k, v in ns.items() if k not in ("__orig_bases__", "__classcell__")}
        cls = remotes[0]._conn.request(("subclass", object.__getattribute__(remotes[0], "_rid"), str(name),
                                        list(orig), body))
        cell = ns.get("__classcell__")
        if cell is not None:
            cell.cell_contents = cls
        return cls


class _LearnerSubclass(metaclass=_LearnerSubclassMaker):
    pass


def _binop(name: str, reflected: bool = False):
    def method(self, other):
        return self._conn.request(("rbinop" if reflected else "binop", self._rid, name, other))
    method.__name__ = f"__{'r' if reflected else ''}{name}__"
    return method


def _unop(name: str):
    def method(self):
        return self._conn.request(("unop", self._rid, name))
    method.__name__ = f"__{name}__"
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"):
    setattr(Remote, f"__{_name}__", _binop(_name))
    setattr(Remote, f"__r{_name}__", _binop(_name, reflected=True))


for _name in ("lt", "le", "gt", "ge"):
    setattr(Remote, f"__{_name}__", _binop(_name))


for _name in ("neg", "pos", "abs"):
    setattr(Remote, f"__{_name}__", _unop(_name))


_BINOPS = {"add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "lt", "le", "gt", "ge", "contains"}


_UNOPS = {"neg", "pos", "abs"}


class _Decoder:
    skip_keyed = False  # a value the test cell does not use: L's keyed tensors need no clone (tests.decode_all)

    def __init__(self, conn):
        self.conn = conn

    def __call__(self, v, depth: int = 0):
        if depth == 0:
            self.memo = {}
        if depth > 60:
            raise ValueError("value nested too deeply")
        t = type(v)
        if v is None or t in (bool, int, float, complex, str, bytes):
            return v
        if t is not tuple or len(v) < 2 or type(v[0]) is not str or v[0] != TAG:
            raise ValueError(f"unexpected value of type {t.__name__} from the learner process")
        kind = v[1]
        if kind == "same":
            n = _int(v[2])
            if n not in self.memo:
                raise ValueError("a value refers to one not sent before it")
            return self.memo[n]
        if kind in ("list", "tuple", "set", "frozenset"):
            items = [self(x, depth + 1) for x in _as_list(v[2])]
            out = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[kind](items)
            if len(v) > 3 and kind in ("list", "set"):
                self.memo[_int(v[3])] = out
            return out
        if kind in ("dict", "odict"):
            out = {self(k, depth + 1): self(x, depth + 1) for k, x in (_pair(p) for p in _as_list(v[2]))}
            if kind == "odict":
                import collections

                out = collections.OrderedDict(out)
            if len(v) > 3:
                self.memo[_int(v[3])] = out
            return out
        if kind == "slice":
            a, b, c = (self(x, depth + 1) for x in _as_list(v[2]))
            return slice(a, b, c)
        if kind == "ellipsis":
            return Ellipsis
        if kind in ("nd", "npg", "npdtype"):
            import numpy as np

            dt = np.dtype(_str(v[2]))
            if dt.kind not in _SAFE_NP_KINDS or dt.hasobject:
                raise ValueError("refused a numpy dtype")
            if kind == "npdtype":
                return dt
            if kind == "npg":
                return np.frombuffer(_bytes(v[3]), dtype=dt)[0]
            shape = tuple(_int(n) for n in _as_list(v[3]))
            return np.frombuffer(_bytes(v[4]), dtype=dt).reshape(shape).copy()
        if kind in ("date", "datetime", "time"):
            return getattr(datetime, kind).fromisoformat(_str(v[2])[:64])
        if kind == "timedelta":
            d, sec, us = (_int(x) for x in _as_list(v[2]))
            return datetime.timedelta(days=d, seconds=sec, microseconds=us)
        if kind == "path":
            return (pathlib.Path if v[3] is True else pathlib.PurePath)(_str(v[2]))
        if kind == "tobj":
            tid = _int(v[2])
            if tid not in self.conn.trefs:
                raise ValueError("the learner process named an object the test never gave it")
            return self.conn.trefs[tid]
        if kind == "ptt":  # one of the test's own tensors (modules, ...), back from L
            t = self.conn.sync.get(_int(v[2]))
            if t is None or not (_syncable(t) or _is_module(t) or _is_generator(t) or _is_optimizer(t)):
                raise ValueError("the learner process returned a tensor the test no longer holds")
            return t
        if kind == "ptview":
            base = self.conn.sync.get(_int(v[2]))
            if base is None:
                raise ValueError("the learner process returned a view of a tensor the test no longer holds")
            if not base.is_contiguous():  # L's copy is contiguous: the same values, not the same memory
                base = base.contiguous()
            shape, stride = [_int(n) for n in _as_list(v[4])], [_int(n) for n in _as_list(v[5])]
            offset = _int(v[3])
            need = offset + sum((n - 1) * st for n, st in zip(shape, stride)) + 1 if all(shape) else 0
            if offset < 0 or any(st < 0 for st in stride) or len(shape) != len(stride) or need > base.numel():
                raise ValueError("refused a view outside the test's tensor")
            return base.as_strided(shape, stride, base.storage_offset() + offset)
        if kind == "ptk":  # a large tensor of L's, sent before: a clone of T's copy (keyed.py)
            return self.conn.held.get(v[2], clone=not self.skip_keyed)
        if kind == "ptl":
            return self.conn.learner_tensor(_int(v[2]), v[3], v[4] is True)
        if kind == "ptg":
            return self.conn.learner_result(_int(v[2]), v[3])
        if kind == "ptmeta":
            import torch

            name = _str(v[2])
            if name not in _TORCH_DTYPES:
                raise ValueError("refused a torch dtype")
            out = torch.empty(tuple(_int(n) for n in _as_list(v[3])), dtype=getattr(torch, name), device="meta")
            return out.requires_grad_(True) if v[4] is True and out.is_floating_point() else out
        if kind in ("pt", "ptdtype", "ptsize"):
            import numpy as np
            import torch

            if kind == "ptsize":
                return torch.Size([_int(n) for n in _as_list(v[2])])
            name = _str(v[2])
            if name not in _TORCH_DTYPES:
                raise ValueError("refused a torch dtype")
            dtype = getattr(torch, name)
            if kind == "ptdtype":
                return dtype
            shape = tuple(_int(n) for n in _as_list(v[3]))
            raw = _bytes(v[4])
            np_dtype = np.int16 if name == "bfloat16" else torch.empty(0, dtype=dtype).numpy().dtype
            arr = np.frombuffer(raw, dtype=np_dtype).reshape(shape).copy()
            out = torch.from_numpy(arr)
            if name == "bfloat16":
                out = out.view(torch.bfloat16)
            if v[5] is True and out.is_floating_point():
                out.requires_grad_(True)
            return out
        if kind == "mod":
            return _TrustedModuleName(_str(v[2]))
        if kind == "sym":
            module, name = _str(v[2]), _str(v[3])
            mod = sys.modules.get(module) if module.split(".")[0] in SYMBOL_LIBRARIES else None
            if mod is None or not hasattr(mod, name):
                raise ValueError(f"unknown library symbol {module}.{name}")
            return getattr(mod, name)
        if kind == "ref":
            rid = _int(v[2])
            known = self.conn.remotes.get(rid)  # one L object is one object in T: ``order[-1] is root``
            if known is not None:
                return known
            tname = _str(v[3])[:100]
            out = self.conn.remotes[rid] = _remote_type(tname)(self.conn, rid, tname, bool(v[4]))
            if len(v) > 5 and tname == "type" and type(v[5]) is tuple and len(v[5]) == 2 and type(v[5][0]) is str:
                self.conn.constructors[rid] = (v[5][0][:100], v[5][1] is True)  # what calling it makes
            return out
        if kind == "fn":
            rid = _int(v[2])
            known = self.conn.remotes.get(rid)
            if known is not None:
                return known
            name = _str(v[3])[:200]
            out = self.conn.remotes[rid] = _remote_type("function")(
                self.conn, rid, "function", True, self.conn.stub(name, _str(v[4]), _int(v[5])))
            return out
        raise ValueError(f"unknown value kind {kind!r}")


_REMOTE_TYPES: dict[str, type] = {}


def _remote_type(tname: str) -> type:
    """A subclass of Remote named after the learner's class: ``type(layer).__name__`` in a test
    reads "ReLU" (or "GPT"), as it would in one kernel."""
    cls = _REMOTE_TYPES.get(tname)
    if cls is None:
        name = tname.rsplit(".", 1)[-1]
        if not name.isidentifier():
            name = "Remote"
        cls = type(name, (Remote,), {"__slots__": (), "__qualname__": tname, "__module__": "learner"})
        if len(_REMOTE_TYPES) < 1000:
            _REMOTE_TYPES[tname] = cls
    return cls


class _LearnerHook:
    """In T: a hook the learner's code put on one of the test's modules. It runs the learner's
    hook on copies of the arguments and returns None: the learner's code sees what the module
    computes, and cannot change it (a forged reference output)."""

    __slots__ = ("remote",)

    def __init__(self, remote):
        self.remote = remote

    def __call__(self, *args, **kwargs):
        torch = sys.modules.get("torch")

        def copy(x):
            if torch is not None and isinstance(x, torch.Tensor) and type(x) in (torch.Tensor, torch.nn.Parameter):
                return x.detach().clone()
            if type(x) in (tuple, list):
                return type(x)(copy(y) for y in x)
            return x

        self.remote(*copy(args), **{k: copy(v) for k, v in kwargs.items()})
        return None
