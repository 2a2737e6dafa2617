"""Run one submission's cells in a sandbox: learner code in one process, tests in another.

Why two processes. A test cell and the learner's code that it tests cannot share a
process safely: anything the learner's code runs first can replace what the test calls
(``numpy.testing.assert_allclose = lambda *a: None``), read the test when it arrives, or
forge the report of its result. So a submission runs as a pair:

* **L, the learner process**, runs the learner's cells, in order, and nothing else. It
  never receives a test cell (visible or hidden), and its reports are never believed.
* **T, the test process**, runs the graded test cells with its own, untouched copies of
  ``course.checks``, numpy and torch. When a test names something the learner defined
  (``double``, ``x``), T fetches it from L: data comes by value through a decoder that
  builds only plain values, numpy arrays and torch tensors; functions and other objects
  become proxies whose calls run in L. Whatever the learner's code patches, it patches
  in L, where no test runs. Only T reports results to the worker, over a socket L has no
  handle on.

Both are forked from a **zygote**: a process started once per worker that has already
imported numpy, torch and ``course.checks``, so a submission pays for a fork (a few
milliseconds), not for a kernel start and ``import torch`` (seconds).

Isolation, when the worker runs as root (CI, a server): the pair gets a new network
namespace (no network, not even loopback traffic to the service) and a new mount
namespace with a private, size-limited tmpfs on /tmp, /var/tmp and /dev/shm, and the
course's solutions/, the service's data directory and any other listed path hidden under
empty read-only mounts. L runs as a uid of its own (``sandbox_uid_base + i``, leased machine-wide: UidLease), T as
another, so L can neither signal nor trace T, the worker or another submission, and can
write only in its scratch directory. Both have setrlimit limits on CPU time, address
space, processes, file size and open files, and the worker enforces the notebook's total
wall-clock time. Without root, the pair gets what an unprivileged user namespace allows
(network and mount namespaces) when the kernel permits it, and otherwise only limits and
a scratch directory; ``isolation`` in every result says which.

This module imports only the standard library at module level: the zygote must start
with nothing of the service in it.
"""

from __future__ import annotations

import ast
import ctypes
import datetime
import io
import json
import os
import pathlib
import pickle
import resource
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import types
from dataclasses import dataclass, field

from . import boundary, cgroups

# --------------------------------------------------------------------------- framing
_LEN = struct.Struct(">I")
MAX_MESSAGE = 256 * 1024 * 1024


class ChannelClosed(Exception):
    pass


class ChannelTimeout(Exception):
    pass


def send_msg(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_LEN.pack(len(payload)) + payload)


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout()
            sock.settimeout(remaining)
        else:
            sock.settimeout(None)
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except TimeoutError as err:
            raise ChannelTimeout() from err
        except OSError as err:
            raise ChannelClosed(str(err)) from err
        if not chunk:
            raise ChannelClosed("the other end closed the channel")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_msg(sock: socket.socket, deadline: float | None = None, limit: int = MAX_MESSAGE) -> bytes:
    (n,) = _LEN.unpack(_recv_exact(sock, 4, deadline))
    if n > limit:
        raise ChannelClosed(f"message of {n} bytes is over the limit of {limit}")
    return _recv_exact(sock, n, deadline)


def send_json(sock, obj) -> None:
    send_msg(sock, json.dumps(obj).encode())


def recv_json(sock, deadline=None):
    return json.loads(recv_msg(sock, deadline))


# --------------------------------------------------------------------------- values between L and T
TAG = "\x00bc"
_SAFE_NP_KINDS = set("biufcmMSU")
_TORCH_DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
                 "complex64", "complex128")


class _SafeUnpickler(pickle.Unpickler):
    """Builds only what pickle builds without importing anything (plus complex)."""

    def find_class(self, module, name):
        if module == "builtins" and name == "complex":
            return complex
        raise pickle.UnpicklingError(f"refused to load {module}.{name}")


def safe_loads(data: bytes):
    return _SafeUnpickler(io.BytesIO(data)).load()


def encode(v, refs: dict, depth: int = 0, memo: dict | None = None):
    """Turn a value into plain data: primitives, tagged containers, arrays, or a reference.

    A list, dict or set that appears twice in one value arrives as one object twice
    (``results, best`` with ``best`` one of ``results``)."""
    if depth > 50:
        raise ValueError("value nested too deeply to send")
    t = type(v)
    if v is None or t in (bool, int, float, complex, str, bytes):
        return v
    if memo is None:
        memo = {}
    if t in (list, set, dict):
        if id(v) in memo:
            return (TAG, "same", memo[id(v)])
        memo[id(v)] = n = len(memo)
        if t is dict:
            return (TAG, "dict", [(encode(k, refs, depth + 1, memo), encode(x, refs, depth + 1, memo))
                                  for k, x in v.items()], n)
        return (TAG, t.__name__, [encode(x, refs, depth + 1, memo) for x in v], n)
    if t in (tuple, frozenset):
        return (TAG, t.__name__, [encode(x, refs, depth + 1, memo) for x in v])
    if t is slice:
        return (TAG, "slice", [encode(v.start, refs), encode(v.stop, refs), encode(v.step, refs)])
    if v is Ellipsis:
        return (TAG, "ellipsis")
    np = sys.modules.get("numpy")
    if np is not None:
        if t is np.ndarray and v.dtype.kind in _SAFE_NP_KINDS:
            return (TAG, "nd", v.dtype.str, list(v.shape), np.ascontiguousarray(v).tobytes())
        if isinstance(v, np.generic) and v.dtype.kind in _SAFE_NP_KINDS:
            return (TAG, "npg", v.dtype.str, v.tobytes())
        if isinstance(v, np.dtype) and v.kind in _SAFE_NP_KINDS:
            return (TAG, "npdtype", v.str)
    torch = sys.modules.get("torch")
    if torch is not None:
        hook = getattr(refs, "tensor_hook", None)
        if hook is not None and t in (torch.Tensor, torch.nn.Parameter):
            tagged = hook(v)
            if tagged is not None:
                return tagged
        if t in (torch.Tensor, torch.nn.Parameter) and not v.is_sparse and str(v.dtype).split(".")[-1] in _TORCH_DTYPES:
            if v.device.type == "meta":  # shape and dtype only: a meta tensor has no data
                return (TAG, "ptmeta", str(v.dtype).split(".")[-1], list(v.shape), bool(v.requires_grad))
            d = v.detach().cpu().contiguous()
            name = str(d.dtype).split(".")[-1]
            raw = (d.view(torch.int16) if name == "bfloat16" else d).numpy().tobytes()
            return (TAG, "pt", name, list(d.shape), raw, bool(v.requires_grad))
        if t is torch.dtype:
            return (TAG, "ptdtype", str(v).split(".")[-1])
        if t is torch.Size:
            return (TAG, "ptsize", [int(x) for x in v])
    try:  # a subclass of a value type (an ndarray, tensor, float, list subclass): by value, as its base
        plain = boundary.plain_copy(v)
    except Exception:
        plain = boundary.NOT_A_VALUE
    if plain is not boundary.NOT_A_VALUE:
        return encode(plain, refs, depth + 1, memo)
    if t in (datetime.date, datetime.datetime, datetime.time, datetime.timedelta):
        if t is datetime.timedelta:
            return (TAG, "timedelta", [int(v.days), int(v.seconds), int(v.microseconds)])
        if getattr(v, "tzinfo", None) is None:
            return (TAG, t.__name__, str(v.isoformat()))
    if isinstance(v, pathlib.PurePath) and type(v).__module__ == "pathlib":
        return (TAG, "path", str(v), isinstance(v, pathlib.Path))
    if t is _TRef:
        return (TAG, "tobj", v._tid)  # the test's own object, back to the test
    if isinstance(v, types.ModuleType):
        return (TAG, "mod", str(getattr(v, "__name__", "")))
    sym = _library_symbol(v)
    if sym is not None:
        return (TAG, "sym", *sym)
    if t is types.FunctionType:
        refs[id(v)] = v
        code = v.__code__
        return (TAG, "fn", id(v), str(v.__name__), str(code.co_filename), int(code.co_firstlineno))
    key_of = getattr(refs, "key_of", None)
    if key_of is not None and (_is_module(v) or _is_generator(v) or _is_optimizer(v)):
        tid = key_of(v)
        if tid is not None:  # the test's own module (optimiser, generator), back as itself
            return (TAG, "ptt", tid)
    rid = id(v)
    refs[rid] = v
    try:
        tname = str(type(v).__qualname__)
    except Exception:
        tname = "object"
    return (TAG, "ref", rid, tname, bool(callable(v)))


# Libraries whose functions and classes cross the channel by name: T resolves its own copy,
# so `isinstance(x, torch.Tensor)` and "is this torch.arange?" work on the test's side.
SYMBOL_LIBRARIES = ("torch", "numpy", "einops", "math", "builtins", "functools", "itertools", "collections",
                    "random", "operator", "transformer_lens")


def _library_symbol(v) -> tuple[str, str] | None:
    """(module, name) when ``v`` is exactly ``module.name`` of a library T also has, else None."""
    if not callable(v):
        return None
    try:
        module, name = v.__module__, v.__name__
    except Exception:
        return None
    if type(module) is not str or type(name) is not str or module.split(".")[0] not in SYMBOL_LIBRARIES:
        return None
    mod = sys.modules.get(module)
    try:
        if mod is None or getattr(mod, name, None) is not v:
            return None
    except Exception:
        return None
    return module, name


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
    def __code__(self):  # compiled from the submitted source, never run: for tests that inspect it
        return self.__wrapped__.__code__

    @property
    def __globals__(self):
        """The learner's functions, classes and modules by name (no data), for rule checks."""
        if not object.__getattribute__(self, "_callable"):
            raise AttributeError("__globals__")
        names = object.__getattribute__(self, "_conn").request(("globals", 0))
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
        return self._conn.request(("call", self._rid, args, kwargs))

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._conn.request(("getattr", self._rid, name))

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
        """``isinstance(x, LearnersClass)``: asked in L, where both live."""
        if not isinstance(obj, Remote):
            return False  # an object of the test's own is never an instance of a learner's class
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
        try:
            cls = object.__getattribute__(self, "_conn").request(("classof", object.__getattribute__(self, "_rid")))
        except Exception:
            return type(self)
        return boundary.honest_class(cls, type(self))

    def __array__(self, *args, **kwargs):
        """numpy makes no array of a learner's object: it would ask the object for its items and
        then hand it the expected values to compare with (boundary)."""
        raise boundary.not_an_array(object.__getattribute__(self, "_tname"))


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
        if kind == "dict":
            out = {self(k, depth + 1): self(x, depth + 1) for k, x in (_pair(p) for p in _as_list(v[2]))}
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


class _TrustedModuleName(str):
    """A module the learner process holds; T substitutes its own copy of the module."""


def _as_list(x):
    if type(x) is not list:
        raise ValueError("malformed value")
    return x


def _pair(p):
    if type(p) not in (tuple, list) or len(p) != 2:
        raise ValueError("malformed value")
    return p


def _str(x):
    if type(x) is not str:
        raise ValueError("malformed value")
    return x


def _bytes(x):
    if type(x) is not bytes:
        raise ValueError("malformed value")
    return x


def _int(x):
    if type(x) is not int:
        raise ValueError("malformed value")
    return x


# --------------------------------------------------------------------------- output capture
class CappedText(io.TextIOBase):
    def __init__(self, cap: int):
        self.cap, self.parts, self.size, self.truncated = cap, [], 0, False

    def writable(self):
        return True

    def write(self, s):
        s = str(s)
        if self.size < self.cap:
            keep = s[: self.cap - self.size]
            self.parts.append(keep)
            self.size += len(keep)
        if len(s) and self.size >= self.cap:
            self.truncated = True
        return len(s)

    def flush(self):
        pass

    def value(self) -> str:
        text = "".join(self.parts)
        return text + ("\n... output truncated ..." if self.truncated else "")


def _error_output(err: BaseException, cap: int) -> dict:
    tb = traceback.format_exception(type(err), err, err.__traceback__)
    return {"output_type": "error", "ename": type(err).__name__, "evalue": str(err)[:cap],
            "traceback": [line[:cap] for line in tb[-20:]]}


def _run_code(src: str, ns: dict, filename: str, cap: int) -> tuple[list[dict], bool]:
    """exec ``src`` in ``ns`` with stdout/stderr captured; the value of a last expression is shown."""
    out, err = CappedText(cap), CappedText(cap)
    outputs: list[dict] = []
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    ok = True
    result = None
    try:
        tree = ast.parse(src, filename=filename)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, filename, "exec"), ns)
        if last is not None:
            result = eval(compile(last, filename, "eval"), ns)
    except _PASSTHROUGH:
        raise
    except BaseException as e:  # noqa: BLE001 - everything the cell raises is its result
        ok = False
        outputs.append(_error_output(e, cap))
    finally:
        sys.stdout, sys.stderr = old
    streams = []
    if out.size or out.truncated:
        streams.append({"output_type": "stream", "name": "stdout", "text": out.value()})
    if err.size or err.truncated:
        streams.append({"output_type": "stream", "name": "stderr", "text": err.value()})
    if ok and result is not None:
        try:
            text = repr(result)[:cap]
        except Exception:
            text = "<unprintable>"
        streams.append({"output_type": "execute_result", "execution_count": None, "metadata": {},
                        "data": {"text/plain": text}})
    return streams + outputs, ok


# --------------------------------------------------------------------------- L: the learner process
class _IPythonStub:
    """Enough of get_ipython() for the magics a lesson notebook may contain."""

    def __init__(self, ns):
        self.user_ns = ns

    def run_line_magic(self, name, line, *a, **k):
        if name in ("matplotlib", "config", "load_ext", "autoreload", "pip", "conda"):
            return None
        print(f"(the grader ignores %{name})")

    def run_cell_magic(self, name, line, cell, *a, **k):
        if name in ("time", "timeit", "capture"):
            exec(cell, self.user_ns)
            return None
        print(f"(the grader ignores %%{name})")

    def system(self, cmd, *a, **k):
        print("(shell commands do not run when a notebook is graded)")

    getoutput = system

    def __getattr__(self, name):
        return lambda *a, **k: None


def _transform(src: str) -> str:
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(src)
    except Exception:
        return src


# What the zygote checks after every learner cell. A change is reported to T as a
# suspected patch; it changes nothing for the grade's correctness (tests do not run in L),
# but the exercise is scored 0 and the submission flagged, as the course's rules say.
WATCHED_MODULES = ("course.checks", "numpy", "numpy.testing", "numpy.linalg", "torch.testing",
                   "torch.nn.functional", "math", "builtins", "unittest")


def _fingerprint() -> dict:
    snap = {}
    for modname in WATCHED_MODULES:
        mod = sys.modules.get(modname)
        if mod is None:
            continue
        for name, obj in list(vars(mod).items()):
            if isinstance(obj, types.ModuleType) or not callable(obj):
                continue
            code = getattr(obj, "__code__", None)
            snap[f"{modname}.{name}"] = (id(obj), id(code) if code is not None else None,
                                         id(getattr(obj, "__defaults__", None)))
    for name in ("__import__", "isinstance", "len", "abs", "print", "AssertionError", "Exception"):
        obj = getattr(__import__("builtins"), name)
        snap[f"builtins.{name}"] = (id(obj), None, None)
    return snap


def _patches(before: dict) -> list[str]:
    now = _fingerprint()
    return sorted(k for k, v in before.items() if now.get(k) != v)


def _is_tag(v, kind: str) -> bool:
    return type(v) is tuple and len(v) >= 2 and type(v[0]) is str and v[0] == TAG and v[1] == kind


# --------------------------------------------------------------------------- state both processes share
# In one kernel, a test and the learner's code share the random generators and the test's
# tensors: ``sgd_step(model.parameters(), lr)`` changes the test's parameters in place, and
# ``torch.manual_seed(0)`` in a test decides what the learner's ``nn.Linear`` draws. Split
# over two processes, every message carries what changed since the other side last saw it:
# the generators' states, and the contents and gradients of the test's tensors that were
# passed to L (sent by identity: the same tensor twice is one tensor in L).
_SYNC_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
                "complex64", "complex128")


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


def _rng_fingerprint():
    """Cheap to take after every message (about 25 us, against 230 us for the full states): what
    changes when any of the generators draws. numpy's is its Mersenne Twister's raw memory (its
    cached second normal, which a draw can use without moving the twister, is not in it)."""
    torch, np = sys.modules.get("torch"), sys.modules.get("numpy")
    import random

    t = torch.get_rng_state().numpy().tobytes() if torch is not None else None
    n = None
    if np is not None:
        try:
            n = ctypes.string_at(np.random.mtrand._rand._bit_generator.ctypes.state_address, 624 * 4 + 8)
        except Exception:
            n = _rng_state()[1]
    return (t, n, random.getstate())


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


def _plain(t):
    return t.detach().to("cpu").contiguous()


def _tensor_payload(t, pack_hooks=None):
    if _is_module(t):
        return ("module", bool(t.training), pack_hooks(t) if pack_hooks is not None else None)
    if _is_generator(t) or _is_optimizer(t):
        return _snapshot(t)
    d = _plain(t)
    g = t.grad
    grad = None if g is None else (str(g.dtype).split(".")[-1], list(g.shape), _plain(g).numpy().tobytes())
    return (str(d.dtype).split(".")[-1], list(d.shape), d.numpy().tobytes(), bool(t.requires_grad),
            type(t).__name__ == "Parameter", grad)


def _tensor_build(dtype: str, shape, raw):
    import numpy as np
    import torch

    if type(dtype) is not str or dtype not in _SYNC_DTYPES or type(raw) is not bytes:
        raise ValueError("refused a tensor")
    shape = tuple(_int(n) for n in _as_list(shape))
    np_dtype = torch.empty(0, dtype=getattr(torch, dtype)).numpy().dtype
    return torch.from_numpy(np.frombuffer(raw, dtype=np_dtype).reshape(shape).copy())


# Contents are compared for small tensors (a test's parameters, inputs, gradients); a large
# one (a model's weight) counts as changed when its version counter, storage or gradient
# does: in-place writes through ``.data`` to a large tensor are not seen. Comparing every
# large tensor's contents after every message made a lesson whose tests call the learner's
# model thousands of times 15x slower.
_COMPARE_NUMEL = 1 << 16


def _meta(t):
    g = t.grad
    return (t._version, t.data_ptr(), tuple(t.shape), t.dtype, bool(t.requires_grad),
            None if g is None else (id(g), g._version, g.data_ptr(), tuple(g.shape)))


def _is_module(obj) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _is_hook_handle(obj) -> bool:
    """A handle from ``register_forward_hook`` on one of the test's modules: ``.remove()`` runs there."""
    torch = sys.modules.get("torch")
    return torch is not None and type(obj) is torch.utils.hooks.RemovableHandle


def _is_generator(obj) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and type(obj) is torch.Generator and obj.device.type == "cpu"


def _is_optimizer(obj) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.optim.Optimizer) and \
        type(obj).__module__.split(".")[0] == "torch"


_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
               "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called")


def _hook_dicts(m) -> dict:
    return {a: d for a in _HOOK_DICTS if type(d := m.__dict__.get(a)) in (dict, __import__("collections").OrderedDict)}


def _snapshot(t):
    if _is_optimizer(t):
        return ("optim", None)  # by identity only: its state (momentum) lives where step() runs
    if _is_module(t):  # its mode and its hooks (a test's counter, a learner's forgotten hook)
        return ("module", bool(t.training),
                tuple((a, tuple((k, id(h)) for k, h in d.items())) for a, d in _hook_dicts(t).items()))
    if _is_generator(t):
        return ("gen", bytes(t.get_state().numpy().tobytes()))
    g = t.grad
    small = t.numel() <= _COMPARE_NUMEL
    return (_meta(t), _plain(t).clone() if small else None,
            _plain(g).clone() if small and g is not None else None)


def _same(t, snap, content: bool = True) -> bool:
    """Whether ``t`` still holds what ``snap`` saw. With ``content`` False, an unchanged version
    counter, storage and gradient count as unchanged: only a write through ``.data`` escapes that,
    which the course's tests never do (T), and which learner code does (L: its side compares)."""
    import torch

    if type(snap[0]) is str:  # a module or a generator
        return (_is_module(t) or _is_generator(t) or _is_optimizer(t)) and _snapshot(t) == snap
    meta, data, grad = snap
    now = _meta(t)
    if now == meta:
        if data is None or not content:
            return True
    elif data is None or now[2:5] != meta[2:5] or (now[5] is None) != (meta[5] is None):
        return False
    if not torch.equal(_plain(t), data):
        return False
    g = t.grad
    if g is None:
        return True
    return grad is not None and g.shape == grad.shape and g.dtype == grad.dtype and torch.equal(_plain(g), grad)


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
    dtype, shape, raw, _rg, _param, grad = payload
    new = _tensor_build(dtype, shape, raw)
    with torch.no_grad():
        if new.shape == t.shape and new.dtype == t.dtype:
            t.copy_(new)
        else:
            t.data = new
    if grad is None:
        t.grad = None
    elif grad == "keep":
        pass
    elif t.requires_grad:
        t.grad = _tensor_build(*grad)


def _syncable(obj) -> bool:
    torch = sys.modules.get("torch")
    return (torch is not None and type(obj) in (torch.Tensor, torch.nn.Parameter) and obj.device.type == "cpu"
            and obj.layout == torch.strided and str(obj.dtype).split(".")[-1] in _SYNC_DTYPES)


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

    def get(self, tid):
        t = self.tensors.get(tid)
        return t() if self.weak and t is not None else t

    def put(self, tid, t) -> None:
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

    def forget(self, tids) -> None:
        for tid in tids:
            old = self.tensors.pop(tid, None)
            if old is not None and not self.weak and self.rev.get(id(old)) == tid:
                del self.rev[id(old)]
            self.snaps.pop(tid, None)
            self.graphs.pop(tid, None)
            self.alias.pop(tid, None)
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
        for tid, t in self.tensors.items():
            if tid > 0 and _syncable(t) and t is not v and t.untyped_storage().data_ptr() == ptr and ptr:
                return tid
        return None

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

    def __init__(self, f, sync: _Sync, trefs: dict | None = None, root=None):
        super().__init__(f, protocol=5)
        self.sync, self.trefs, self.root = sync, trefs, root

    def _module_id(self, obj):
        """A library module (nn.Sequential, nn.Linear), optimizer or generator of the test's: by
        identity, like its tensors, with a module's training flag and a generator's state kept in
        step on both sides (an optimizer's momentum stays with the copy that steps)."""
        tid = id(obj)
        if self.sync.get(tid) is obj and tid in self.sync.snaps:
            return ("bc-module", tid, None)
        self.sync.put(tid, obj)
        self.sync.snaps[tid] = _snapshot(obj)
        buf = io.BytesIO()
        inner = _TPickler(buf, self.sync, self.trefs, root=obj)
        inner.sent = self.sent
        inner.dump(obj)
        return ("bc-module", tid, buf.getvalue())

    def persistent_id(self, obj):
        if type(obj) in _PLAIN_TYPES:
            return None
        if type(obj) is _LearnerHook:
            obj = obj.remote
        if isinstance(obj, Remote):  # a learner's object inside a test's (a hook in a module's dict)
            return ("bc-ref", object.__getattribute__(obj, "_rid"))
        if self.trefs is not None and (_local_callable(obj) or _is_hook_handle(obj)):
            # a lambda hook inside a test's module, a test's own object in a dict: called back here
            self.trefs[id(obj)] = obj
            return ("bc-tref", id(obj))
        if obj is not self.root and ((_is_module(obj) and type(obj).__module__.split(".")[0] == "torch")
                                     or _is_generator(obj) or _is_optimizer(obj)):
            return self._module_id(obj)
        if not _syncable(obj):
            return None
        key = self.sync.lkey_of(obj)
        if key is not None:  # T's copy of one of L's tensors (a learner's parameter): L's own, back
            return ("bc-ltensor", key)
        tid = id(obj)
        if self.sent is not None:
            self.sent.append(obj)
        known = self.sync.get(tid) is obj and tid in self.sync.snaps
        if not known:
            self.sync.put(tid, obj)
        if known and _same(obj, self.sync.snaps[tid], content=False):
            return ("bc-tensor", tid, None, False)
        self.sync.snaps[tid] = _snapshot(obj)
        return ("bc-tensor", tid, _tensor_payload(obj), not known)  # not known: a new tensor (an id may be reused)


def _t_dumps(obj, sync: _Sync, trefs: dict | None = None, sent: list | None = None) -> bytes:
    buf = io.BytesIO()
    pickler = _TPickler(buf, sync, trefs)
    pickler.sent = sent
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


class _Refs(dict):
    """L's objects that T holds by reference (id -> object), and how L's tensors cross."""

    tensor_hook = None
    key_of = None


class _TRef:
    """In L: a function of the test process (a clock, a callback); calling it asks T to run it."""

    def __init__(self, learner, tid):
        self._learner, self._tid = learner, tid

    def __call__(self, *args, **kwargs):
        return self._learner.callback(self._tid, args, kwargs)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._learner.callback(self._tid, (), {}, attr=name)

    def __repr__(self):
        return "<an object from the test>"


class _Learner:
    def __init__(self, sock, cap, fingerprint):
        self.sock, self.cap, self.fingerprint = sock, cap, fingerprint
        self.ns: dict = {"__name__": "__main__", "__builtins__": __import__("builtins")}
        stub = _IPythonStub(self.ns)
        self.ns["get_ipython"] = lambda: stub
        self.refs = _Refs()
        self.refs.tensor_hook = self.tensor_tag
        self.reported: set[str] = set()
        self.sync = _Sync()
        self.refs.key_of = self.sync.key_of
        self.sync.pack_hooks = lambda m: encode({a: list(d.items()) for a, d in _hook_dicts(m).items()}, self.refs)
        self.sync.unpack_hooks = lambda raw: _LUnpickler(io.BytesIO(raw), self.sync, self).load() \
            if type(raw) is bytes else None
        torch = sys.modules.get("torch")
        if torch is not None:  # hook ids of L's own never meet T's in one module's hook dict
            torch.utils.hooks.RemovableHandle.next_id = max(torch.utils.hooks.RemovableHandle.next_id, 1 << 40)

    def tensor_tag(self, v):
        """How one of L's tensors crosses to T: T's own tensor (or a view of it) back by its key; a
        result with an autograd graph as a value T can backpropagate through (L keeps the graph);
        a leaf that requires grad (a parameter) by identity, kept in step both ways like T's
        tensors; anything else by value."""
        if not _syncable(v):
            return None
        tid = self.sync.key_of(v)
        if tid is not None:
            return (TAG, "ptt", tid)
        base = self.sync.base_of(v)
        if base is not None:  # a view of T's tensor (x.as_strided, x.unfold): a view of it in T too
            return (TAG, "ptview", base, int(v.storage_offset()), list(v.shape), list(v.stride()))
        key = -id(v)
        if v.requires_grad and v.grad_fn is not None:
            self.sync.graphs[key] = v
            return (TAG, "ptg", key, _tensor_payload(v))
        if not v.requires_grad:
            return None  # a plain result (an activation): by value, as it is not state to keep in step
        known = self.sync.get(key) is v and key in self.sync.snaps
        if not known:
            self.sync.put(key, v)
        elif _same(v, self.sync.snaps[key]):
            return (TAG, "ptl", key, None, False)
        self.sync.snaps[key] = _snapshot(v)
        return (TAG, "ptl", key, _tensor_payload(v), not known)

    def vjp(self, key, grad, tids):
        """T's backward() reached a result of L's code: backpropagate it here. L's own leaves (the
        learner's parameters) accumulate their .grad here, as in one kernel; for T's tensors that
        went into the call, the gradient goes back to T, whose autograd adds it where it belongs."""
        import torch

        out = self.sync.graphs.get(key)
        if out is None:
            raise RuntimeError("the result of your code that backward() reached is gone")
        xs = [self.sync.get(t) if type(t) is int else None for t in _as_list(tids)]
        xs = [x if isinstance(x, torch.Tensor) and x.requires_grad and x.is_leaf else None for x in xs]
        saved = [x.grad if x is not None else None for x in xs]
        for x in xs:
            if x is not None:
                x.grad = None
        try:
            torch.autograd.backward(out, grad, retain_graph=True)
            return [x.grad if x is not None else None for x in xs]
        finally:
            for x, g in zip(xs, saved):
                if x is not None:
                    x.grad = g

    def recv(self):
        try:
            data = recv_msg(self.sock)
        except ChannelClosed:
            os._exit(0)
        try:
            _, sync, inner = pickle.loads(data)
            self.sync.incoming(sync)  # first: what T forgot, then what this message sends
            return _LUnpickler(io.BytesIO(inner), self.sync, self).load()
        except Exception as err:  # a test object this process cannot rebuild (a class defined in a test)
            return ("unreadable", f"{type(err).__name__}: {err}")

    def send(self, reply):
        try:
            sync = self.sync.outgoing(only_known=True)
        except Exception:
            sync = None
        try:
            send_msg(self.sock, pickle.dumps(("env", reply, sync), protocol=5))
        except (ChannelClosed, OSError):
            os._exit(0)
        except Exception as e:  # an unencodable value: say so instead of dying
            send_msg(self.sock, pickle.dumps(("env", ("raise", "TypeError", f"the grader could not send back a value: "
                                                      f"{e}", ["TypeError"]), None), protocol=5))

    def serve(self):
        while True:
            self.send(self.handle(self.recv()))

    def dec(self, v):
        if _is_tag(v, "ref"):
            return self.refs[v[2]]
        if _is_tag(v, "tref"):
            return _TRef(self, v[2])
        if type(v) in (list, tuple):
            return type(v)(self.dec(x) for x in v)
        if type(v) is dict:
            return {self.dec(k): self.dec(x) for k, x in v.items()}
        return v

    def callback(self, tid, args, kwargs, attr=None):
        if attr is not None:
            self.send(("tgetattr", tid, str(attr)))
        else:
            self.send(("callback", tid, encode(args, self.refs), encode(kwargs, self.refs)))
        while True:
            msg = self.recv()
            if msg[0] == "cbvalue":
                return self.dec(msg[1])
            if msg[0] == "cbraise":
                err = _BUILTIN_EXCEPTIONS.get(msg[1], RuntimeError)(msg[2])
                if len(msg) > 3 and type(msg[3]) is int:
                    err._bc_tid = msg[3]  # the test's own exception: if it gets back to T, T raises it
                raise err
            self.send(self.handle(msg))  # the callback called back into this process

    def handle(self, msg):
        op = msg[0]
        try:
            if op == "unreadable":
                raise TypeError(f"the grader could not pass a test's value to your code ({msg[1]})")
            if op == "exec":
                _, index, src = msg
                outputs, ok = _run_code(_transform(src), self.ns, f"<cell {index}>", self.cap)
                new = [p for p in _patches(self.fingerprint) if p not in self.reported]
                self.reported.update(new)
                return ("done", outputs, ok, new)
            if op == "get":
                return ("values", {n: encode(self.ns[n], self.refs) for n in msg[1] if n in self.ns})
            if op == "vjp":
                _, key, grad, tids = msg
                return ("value", encode(self.vjp(key, grad, tids), self.refs))
            if op == "globals":
                return ("value", encode({n: v for n, v in self.ns.items() if type(n) is str and not n.startswith("_")
                                         and (callable(v) or isinstance(v, types.ModuleType))}, self.refs))
            return ("value", encode(self.op(op, msg), self.refs))
        except BaseException as e:  # noqa: BLE001
            if isinstance(e, SystemExit):
                e = RuntimeError("your code called exit()")
            tid = getattr(e, "_bc_tid", None)
            return ("raise", type(e).__name__, str(e)[:self.cap],
                    [c.__name__ for c in type(e).__mro__ if c.__module__ == "builtins"],
                    tid if type(tid) is int else None)

    def op(self, op, msg):
        obj = self.refs[msg[1]]
        out = CappedText(self.cap)
        old = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out  # print() inside an exercise function is not a test result
        try:
            if op == "call":
                return obj(*self.dec(msg[2]), **self.dec(msg[3]))
            if op == "getattr":
                return getattr(obj, msg[2])
            if op == "getitem":
                return obj[self.dec(msg[2])]
            if op == "len":
                return len(obj)
            if op == "list":
                return list(obj)
            if op == "setattr":
                setattr(obj, str(msg[2]), self.dec(msg[3]))
                return None
            if op == "setitem":
                obj[self.dec(msg[2])] = self.dec(msg[3])
                return None
            if op in ("binop", "rbinop") and msg[2] in _BINOPS:
                import operator

                other = self.dec(msg[3])
                fn = getattr(operator, msg[2])
                return fn(other, obj) if op == "rbinop" else fn(obj, other)
            if op == "unop" and msg[2] in _UNOPS:
                import operator

                return getattr(operator, msg[2])(obj)
            if op == "bool":
                return bool(obj)
            if op == "float":
                return float(obj)
            if op in ("deepcopy", "copy"):
                import copy

                return (copy.deepcopy if op == "deepcopy" else copy.copy)(obj)
            if op in ("isinstance", "issubclass"):
                cls = self.refs[msg[2]]
                return (isinstance if op == "isinstance" else issubclass)(obj, cls) is True
            if op == "classof":
                for c in type(obj).__mro__:
                    if _library_symbol(c) is not None:
                        return c
                return None
            raise ValueError(f"unknown operation {op}")
        finally:
            sys.stdout, sys.stderr = old


def learner_main(sock: socket.socket, cap: int, fingerprint: dict) -> None:
    _Learner(sock, cap, fingerprint).serve()


# --------------------------------------------------------------------------- T: the test process
_BUILTIN_EXCEPTIONS = {name: obj for name, obj in vars(__import__("builtins")).items()
                       if isinstance(obj, type) and issubclass(obj, BaseException)}


class LearnerTimeout(BaseException):
    """The learner process did not answer before the notebook's deadline (not catchable by tests)."""


class LearnerCrashed(BaseException):
    pass


_PASSTHROUGH = (LearnerTimeout, LearnerCrashed)


class _Conn:
    """T's side of the channel to L."""

    def __init__(self, sock, deadline, limit):
        self.sock, self.deadline, self.limit = sock, deadline, limit
        self.decode = _Decoder(self)
        self.trefs: dict[int, object] = {}
        self.sources: dict[str, str] = {}  # "<cell N>" -> the learner's source, as run
        self.sync = _Sync(weak=True)
        self._compiled: dict[str, types.CodeType | None] = {}
        self.grad_inputs: list = []  # the test's tensors that went into the request being answered
        self.raised: dict[int, BaseException] = {}  # exceptions of the test's callbacks, by id
        self.remotes: dict[int, Remote] = {}  # L keeps every object it sent (its refs): one proxy each
        self.hook_wrappers: dict[int, _LearnerHook] = {}
        self.sync.pack_hooks = lambda m: _t_dumps({a: list(d.items()) for a, d in _hook_dicts(m).items()},
                                                  self.sync, self.trefs)
        self.sync.unpack_hooks = self.learner_hooks

    def learner_hooks(self, raw):
        """The hooks of one of the test's modules as L holds them now. Those the learner's code
        added run as _LearnerHook: the learner's hook sees copies and its return value is dropped,
        so it can record (capture_activations) but never change what the test's module computes."""
        hooks = self.decode(raw)
        if type(hooks) is not dict:
            return None
        out = {}
        for a, items in hooks.items():
            if a not in _HOOK_DICTS or type(items) is not list:
                continue
            fixed = []
            for item in items:
                if type(item) is not tuple or len(item) != 2 or type(item[0]) is not int:
                    continue
                k, h = item
                if isinstance(h, Remote):
                    h = self.hook_wrappers.get(id(h)) or self.hook_wrappers.setdefault(id(h), _LearnerHook(h))
                elif a.endswith(("_with_kwargs", "_always_called")):
                    h = h is True
                elif not (callable(h) and any(h is v for v in self.trefs.values())):
                    continue  # only the test's own hooks, back, or the learner's, wrapped
                fixed.append((k, h))
            out[a] = fixed
        return out

    def learner_tensor(self, key: int, payload, fresh: bool):
        """T's copy of one of L's tensors (a parameter, a buffer): the same object every time L
        sends it, kept in step both ways (``layer.weight.zero_()`` in a test reaches L)."""
        import torch

        if key >= 0:
            raise ValueError("refused a tensor key")
        t = self.sync.get(key)
        if t is not None and not _syncable(t):
            raise ValueError("refused a tensor key")
        if payload is None:
            if t is None:
                raise ValueError("the learner process sent a tensor the test has forgotten")
            return t
        if type(payload) is not tuple or len(payload) != 6:
            raise ValueError("refused a tensor")
        if t is None or fresh:
            dtype, shape, raw, rg, param, _grad = payload
            t = _tensor_build(dtype, shape, raw)
            t = torch.nn.Parameter(t, requires_grad=rg is True) if param is True else \
                t.requires_grad_(rg is True and t.is_floating_point())
            self.sync.put(key, t)
        _apply_payload(t, payload)
        self.sync.snaps[key] = _snapshot(t)
        return t

    def learner_result(self, key: int, payload):
        """A result of the learner's code with an autograd graph (L keeps the graph). In T it is a
        tensor whose backward asks L for the vector-Jacobian product: ``layer(x).sum().backward()``
        fills the learner's ``layer.weight.grad`` in L and ``x.grad`` here."""
        import torch

        if key >= 0 or type(payload) is not tuple or len(payload) != 6:
            raise ValueError("refused a tensor")
        value = _tensor_build(*payload[:3])
        if not value.is_floating_point() or not torch.is_grad_enabled():
            return value
        inputs = [x for x in self.grad_inputs if x.requires_grad]
        tids = [id(x) for x in inputs]
        dummy = torch.zeros((), requires_grad=True)  # so the result has a grad_fn even with no T input
        out = _learner_graph().apply(value, self, key, tids, dummy, *inputs)
        self.sync.put(key, out.grad_fn)  # held weakly: when the test drops the graph, L drops its own
        return out

    def vjp(self, key: int, grad, tids: list[int]):
        import torch

        got = self.request(("vjp", key, grad.detach(), tids))
        got = list(got) if type(got) is list else []
        return [g.detach().clone() if type(g) in (torch.Tensor, torch.nn.Parameter) else None for g in got]

    def add_source(self, filename: str, src: str) -> None:
        import linecache

        self.sources[filename] = src
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)

    def stub(self, name: str, filename: str, lineno: int):
        """The learner's function, compiled (never run) from the submitted source, for inspect."""
        candidates = [filename] if filename in self.sources else []
        candidates += [f for f in reversed(list(self.sources)) if f != filename]
        for f in candidates:
            if f not in self._compiled:
                try:
                    self._compiled[f] = compile(self.sources[f], f, "exec", dont_inherit=True)
                except (SyntaxError, ValueError):
                    self._compiled[f] = None
            code = self._compiled[f]
            found = _find_code(code, name, lineno if f == filename else None) if code else None
            if found is not None:
                return types.FunctionType(found, {}, None, None, tuple(types.CellType() for _ in found.co_freevars))
        return None

    def _enc(self, v):
        if isinstance(v, Remote):
            return (TAG, "ref", object.__getattribute__(v, "_rid"))
        if isinstance(v, types.GeneratorType):  # model.parameters(): what L iterates over, as a list
            v = list(v)
        if _local_callable(v):
            self.trefs[id(v)] = v
            return (TAG, "tref", id(v))
        if type(v) in (list, tuple):
            return type(v)(self._enc(x) for x in v)
        if type(v) is dict:
            return {self._enc(k): self._enc(x) for k, x in v.items()}
        return v

    def _pack(self, msg, sent: list | None = None) -> bytes:
        inner = _t_dumps(msg, self.sync, self.trefs, sent)  # first: registers the tensors this message sends
        return pickle.dumps(("env", self.sync.outgoing(only_known=True), inner), protocol=5)

    def _unpack(self, data: bytes):
        env = safe_loads(data)
        if type(env) is not tuple or len(env) != 3 or env[0] != "env":
            raise LearnerCrashed("the learner process sent something unreadable")
        self.sync.incoming(env[2])
        return env[1]

    def raw(self, msg, sent: list | None = None):
        try:
            payload = self._pack(msg, sent)
        except Exception as err:
            raise TypeError(f"the grader cannot pass this value to the learner's code ({err})") from None
        try:
            send_msg(self.sock, payload)
            while True:
                reply = self._unpack(recv_msg(self.sock, self.deadline, self.limit))
                if type(reply) is not tuple or not reply:
                    raise LearnerCrashed("the learner process sent something unreadable")
                if reply[0] not in ("callback", "tgetattr"):
                    return reply
                answer = self._run_callback(reply)
                try:
                    payload = self._pack(answer)
                except Exception as err:  # a test's value the learner's process could not rebuild
                    payload = self._pack(("cbraise", "TypeError",
                                          f"the grader cannot pass this value to the learner's code ({err})"))
                send_msg(self.sock, payload)
        except ChannelTimeout as err:
            raise LearnerTimeout() from err
        except (ChannelClosed, BrokenPipeError, ConnectionError) as err:
            raise LearnerCrashed(str(err)) from err
        except _PASSTHROUGH:
            raise
        except Exception as err:
            raise LearnerCrashed(f"the learner process sent something unreadable ({err})") from err

    def _run_callback(self, reply):
        """The learner's code called a function the test gave it (a clock, say): run it here."""
        try:
            if reply[0] == "tgetattr":
                _, tid, name = reply
                obj = self.trefs[tid] if type(tid) is int else None
                if obj is None or type(name) is not str or name.startswith("__"):
                    raise AttributeError("unknown attribute of a test's object")
                return ("cbvalue", self._enc(getattr(obj, name)))
            _, tid, args, kwargs = reply
            fn = self.trefs[tid] if type(tid) is int else None
            if fn is None:
                raise KeyError("unknown callback")
            result = fn(*self.decode(args), **self.decode(kwargs))
            return ("cbvalue", self._enc(result))
        except _PASSTHROUGH:
            raise
        except Exception as e:
            if len(self.raised) > 100:
                self.raised.clear()
            self.raised[id(e)] = e
            base = next((c.__name__ for c in type(e).__mro__ if c.__name__ in _BUILTIN_EXCEPTIONS
                         and c.__module__ == "builtins"), "RuntimeError")
            return ("cbraise", base, str(e)[:2000], id(e))

    def request(self, msg):
        if msg[0] == "call":
            msg = (msg[0], msg[1], self._enc(tuple(msg[2])), self._enc(dict(msg[3])))
        elif msg[0] == "getitem":
            msg = (msg[0], msg[1], self._enc(msg[2]))
        elif msg[0] == "setitem":
            msg = (msg[0], msg[1], self._enc(msg[2]), self._enc(msg[3]))
        elif msg[0] in ("setattr", "binop", "rbinop"):
            msg = (msg[0], msg[1], msg[2], self._enc(msg[3]))
        sent: list = []
        reply = self.raw(msg, sent)
        if reply[0] == "value":
            torch = sys.modules.get("torch")
            outer, self.grad_inputs = self.grad_inputs, [x for x in sent if torch is not None and x.requires_grad]
            try:
                return self.decode(reply[1])
            finally:
                self.grad_inputs = outer
        if reply[0] == "raise":
            _, ename, evalue, mro, *rest = reply
            own = self.raised.get(rest[0]) if rest and type(rest[0]) is int else None
            if own is not None:  # the test's own exception (raised in a callback), through the learner's code
                raise own
            ename, evalue = str(ename)[:100], str(evalue)
            base = next((_BUILTIN_EXCEPTIONS[n] for n in (mro if type(mro) is list else [])
                         if type(n) is str and n in _BUILTIN_EXCEPTIONS and n not in ("BaseException",
                                                                                      "SystemExit",
                                                                                      "KeyboardInterrupt",
                                                                                      "GeneratorExit")),
                        RemoteError)
            if base.__name__ == ename:
                raise base(evalue)
            raise type(ename, (base,), {})(evalue)
        raise LearnerCrashed("the learner process sent something unreadable")


def _local_callable(v) -> bool:
    """A function of the test's own (a lambda, a closure, a method): it cannot be pickled by name."""
    if isinstance(v, types.MethodType):
        return True
    if isinstance(v, type):
        return v.__module__ == "__main__"  # a class the test defined: L calls it back here
    if isinstance(v, types.FunctionType):
        return v.__module__ in (None, "__main__") or "<" in v.__qualname__
    return type(v).__module__ == "__main__"  # an instance of a class the test defined (callable or not)


def _find_code(code, name: str, lineno: int | None):
    found = None
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_name == name and (lineno is None or const.co_firstlineno == lineno):
                found = const  # the last definition wins, as when the cell ran
            elif lineno is not None:
                inner = _find_code(const, name, lineno)
                found = inner or found
    return found


def _names_in(src: str) -> set[str]:
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


_DEFINITION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


def _top_level_definitions(src: str) -> dict[str, str]:
    """name -> source of the top-level statement that defines it (def, class, import, ``name = ...``)."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return {}
    out = {}
    for node in tree.body:
        if isinstance(node, _DEFINITION_NODES):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [(a.asname or a.name).split(".")[0] for a in node.names]
            else:
                names = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
        else:
            continue
        segment = ast.get_source_segment(src, node)
        for name in names:
            if segment:
                out[name] = segment
    return out


def _definitions_for(src: str, definitions: dict[str, str]) -> str:
    """The definitions (from earlier tests) that ``src`` needs, with what they need in turn, in order."""
    wanted, todo, order = set(), list(_names_in(src)), list(definitions)
    while todo:
        name = todo.pop()
        if name in definitions and name not in wanted:
            wanted.add(name)
            todo.extend(_names_in(definitions[name]))
    seen, parts = set(), []
    for name in order:
        if name in wanted and definitions[name] not in seen:
            seen.add(definitions[name])
            parts.append(definitions[name])
    return "\n".join(parts)


def tests_main(worker: socket.socket, learner: socket.socket, learner_pid: int, job: dict) -> None:
    job = {**job, **json.loads(recv_msg(worker, time.monotonic() + 60))}  # the cells, from the worker
    cap = int(job["output_bytes"])
    deadline = time.monotonic() + float(job["wall_seconds"])
    conn = _Conn(learner, deadline, MAX_MESSAGE)
    trusted: dict = {"__name__": "__main__", "__builtins__": __import__("builtins")}
    outputs, ok = _run_code(job.get("trusted_imports", ""), trusted, "<trusted imports>", cap)
    trusted_names = set(trusted) - {"__name__", "__builtins__"}
    send_json(worker, {"event": "started", "learner_pid": learner_pid, "tests_pid": os.getpid(),
                       "trusted_imports_ok": ok})
    exec_start = time.monotonic()
    definitions: dict[str, str] = {}  # name -> the source that defined it, in tests run here
    for cell in job["cells"]:
        index = cell["index"]
        try:
            if cell["kind"] == "test" and cell.get("in_learner") and job.get("mode") == "mixed":
                # The helpers this test uses that earlier tests defined here (functions, classes,
                # imports, names): their definitions only, never an earlier test's assertions.
                prelude = _definitions_for(cell["source"], definitions)
                if prelude:
                    reply = conn.raw(("exec", index, prelude))
                    if reply[0] != "done" or len(reply) != 4:
                        raise LearnerCrashed("the learner process sent something unreadable")
            if cell["kind"] == "test" and (job.get("mode") == "shared" or cell.get("in_learner")):
                # This test needs the learner's own objects in ways a proxy cannot give (autograd
                # through a learner's module, in-place changes to the test's objects): it runs in L,
                # as in nbgrader. Which tests do is measured per lesson on its own solution (mode
                # "mixed"); every other test still runs here. L gets the test only now, patches are
                # still detected (reported after every cell), but L's report of the result is taken
                # as it is.
                reply = conn.raw(("exec", index, cell["source"]))
                if reply[0] != "done" or len(reply) != 4:
                    raise LearnerCrashed("the learner process sent something unreadable")
                patched = [str(p)[:200] for p in reply[3]] if type(reply[3]) is list else []
                send_json(worker, {"event": "test", "index": index, "outputs": _sanitise_outputs(reply[1], cap),
                                   "ok": bool(reply[2]), "patched": patched[:50], "in_learner": True})
            elif cell["kind"] == "code":
                conn.add_source(f"<cell {index}>", _transform(cell["source"]))
                reply = conn.raw(("exec", index, cell["source"]))
                if reply[0] != "done" or len(reply) != 4:
                    raise LearnerCrashed("the learner process sent something unreadable")
                cell_outputs = _sanitise_outputs(reply[1], cap)
                patched = [str(p)[:200] for p in reply[3]] if type(reply[3]) is list else []
                send_json(worker, {"event": "cell", "index": index, "outputs": cell_outputs,
                                   "ok": bool(reply[2]), "patched": patched[:50]})
            else:
                ns = trusted
                names = _names_in(cell["source"])
                values = conn.raw(("get", sorted(names)))
                rebound = []
                if values[0] == "values" and type(values[1]) is dict:
                    for name, enc in values[1].items():
                        if type(name) is not str or name not in names:
                            continue
                        value = conn.decode(enc)
                        if name in trusted_names:
                            expected = trusted[name]
                            if isinstance(expected, types.ModuleType) and (
                                    not isinstance(value, _TrustedModuleName) or value != expected.__name__):
                                rebound.append(name)
                            continue  # the test uses T's own object, whatever L holds
                        if isinstance(value, _TrustedModuleName):
                            mod = sys.modules.get(str(value))
                            if mod is None:
                                continue
                            value = mod
                        ns[name] = value
                cell_outputs, ok = _run_code(cell["source"], ns, "<test cell>", cap)
                definitions.update(_top_level_definitions(cell["source"]))
                send_json(worker, {"event": "test", "index": index, "outputs": cell_outputs, "ok": ok,
                                   "rebound": rebound})
        except LearnerTimeout:
            send_json(worker, {"event": "timeout", "index": index})
            return
        except LearnerCrashed as err:
            send_json(worker, {"event": "crashed", "index": index, "reason": _death_reason(learner_pid, str(err))})
            return
    send_json(worker, {"event": "done", "seconds": time.monotonic() - exec_start})


_SIGNALS = {int(s) for s in signal.Signals}


def _death_reason_signal(sig: int) -> str:
    why = {signal.SIGXCPU: "it used up its CPU time", signal.SIGKILL: "it was killed (memory?)",
           signal.SIGSEGV: "it crashed (segmentation fault)", signal.SIGXFSZ: "it wrote a file over the size limit"}
    return f"your code's process ended: {why.get(sig, signal.Signals(sig).name)}"


def _death_reason(pid: int, fallback: str) -> str:
    try:
        for _ in range(20):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.01)
        else:
            return fallback
    except ChildProcessError:
        return fallback
    if os.WIFSIGNALED(status):
        return _death_reason_signal(os.WTERMSIG(status))
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) > 128 and os.WEXITSTATUS(status) - 128 in _SIGNALS:
        status = os.WEXITSTATUS(status) - 128  # how the run's init reports a signal that ended L
        return _death_reason_signal(status)
    if os.WIFEXITED(status):
        return f"your code's process exited with status {os.WEXITSTATUS(status)} (did it call os._exit?)"
    return fallback


def _sanitise_outputs(outputs, cap: int) -> list[dict]:
    """L's outputs are the learner's own text: keep only well-formed, capped fields."""
    clean = []
    if type(outputs) is not list:
        return clean
    for o in outputs[:10]:
        if type(o) is not dict:
            continue
        kind = o.get("output_type")
        if kind == "stream" and o.get("name") in ("stdout", "stderr") and type(o.get("text")) is str:
            clean.append({"output_type": "stream", "name": o["name"], "text": o["text"][:cap + 100]})
        elif kind == "error":
            tb = o.get("traceback") if type(o.get("traceback")) is list else []
            clean.append({"output_type": "error", "ename": str(o.get("ename", ""))[:100],
                          "evalue": str(o.get("evalue", ""))[:cap],
                          "traceback": [str(x)[:cap] for x in tb[:20]]})
        elif kind == "execute_result" and type(o.get("data")) is dict:
            clean.append({"output_type": "execute_result", "execution_count": None, "metadata": {},
                          "data": {"text/plain": str(o["data"].get("text/plain", ""))[:cap]}})
    return clean


# --------------------------------------------------------------------------- isolation (Linux)
CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x40000000, 0x10000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 1, 38, 4, 36

_libc = None


def _c():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _mount(src, target, fstype, flags, data=""):
    _check(_c().mount(src.encode(), target.encode(), fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                      data.encode() if data else None), f"mount {target}")


def _python_paths() -> list[str]:
    """Directories the sandbox must read: the interpreter, its stdlib, site-packages, the course."""
    paths = {sys.base_prefix, sys.prefix, *[p for p in sys.path if p and os.path.isdir(p)]}
    paths = sorted({os.path.realpath(p) for p in paths})
    return [p for p in paths if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in paths)]


def _blocking_ancestor(path: str) -> str | None:
    """The topmost ancestor that other users cannot enter (e.g. /root, mode 0700)."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        a = "/" + "/".join(parts[:i])
        try:
            if not os.stat(a).st_mode & 0o001:
                return a
        except OSError:
            return None
    return None


def _expose_python(paths: list[str]) -> None:
    """Python installed in root's home (pyenv): hide the home, bind the installation back, read-only."""
    blocked: dict[str, list[str]] = {}
    for p in paths:
        a = _blocking_ancestor(p)
        if a:
            blocked.setdefault(a, []).append(p)
    for ancestor, inside in blocked.items():
        fds = [(p, os.open(p, os.O_RDONLY | os.O_DIRECTORY)) for p in inside]
        _mount("tmpfs", ancestor, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
        for p, fd in fds:
            os.makedirs(p, mode=0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", p, "", MS_BIND | MS_REC)
            _mount("none", p, "", MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)
            os.close(fd)


def _isolate(job: dict) -> dict:
    """Namespaces and mounts for the pair (called in P before it forks L). Returns what it got."""
    got = {"root": os.geteuid() == 0, "network": False, "mounts": False, "uids": False, "pids": False}
    libc = _c()
    if os.geteuid() != 0:
        uid, gid = os.getuid(), os.getgid()
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET) != 0:
            return got
        try:
            with open("/proc/self/setgroups", "w") as f:
                f.write("deny")
            with open("/proc/self/uid_map", "w") as f:
                f.write(f"0 {uid} 1")
            with open("/proc/self/gid_map", "w") as f:
                f.write(f"0 {gid} 1")
        except OSError:
            return got
        got["network"] = True
    else:
        # A PID namespace whose init is the next child (the run's init, see pair_main): when it
        # ends, the kernel ends every process of the run, and the run sees no other process.
        # Root only: in a user namespace every process is "root", so L could signal its init.
        if libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID) == 0:
            got["pids"] = True
        else:
            _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
        got["network"] = True
    try:
        _mount("none", "/", "", MS_REC | MS_PRIVATE)
        size = int(job["scratch_bytes"])
        scratch_roots = [d for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(d)]
        # A checkout (and its .venv) under /tmp must stay readable once /tmp is private:
        # hold those directories open, then bind them back read-only over the new tmpfs.
        keep = [(p, os.open(p, os.O_RDONLY | os.O_DIRECTORY)) for p in _python_paths()
                if any(os.path.realpath(p).startswith(os.path.realpath(d) + "/") for d in scratch_roots)]
        # One tmpfs for the run (its pages count against the run's memory too): /tmp, with
        # /var/tmp and /dev/shm bound to directories in it, so the three share one budget.
        if scratch_roots and scratch_roots[0] == "/tmp":
            _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
            for d in scratch_roots[1:]:
                inside = "/tmp/.run" + d.replace("/", "-")
                os.makedirs(inside)
                os.chmod(inside, 0o1777)
                _mount(inside, d, "", MS_BIND)
        else:
            for d in scratch_roots:
                _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
        for p, fd in keep:
            os.makedirs(p, mode=0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", p, "", MS_BIND | MS_REC)
            _mount("none", p, "", MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)
            os.close(fd)
        for d in job.get("hide", []):
            if os.path.isdir(d):
                _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=0555")
            elif os.path.isfile(d):
                _mount("/dev/null", d, "", MS_BIND)
        if got["root"]:
            _expose_python(_python_paths())
        got["mounts"] = True
    except OSError:
        pass
    return got


def _private_proc() -> None:
    """In the run's init: a /proc of the run's PID namespace only (in a mount namespace of its own,
    so T keeps the machine's /proc)."""
    try:
        _check(_c().unshare(CLONE_NEWNS), "unshare")
        _mount("none", "/", "", MS_REC | MS_PRIVATE)
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | 8)  # 8: MS_NOEXEC
    except OSError:
        pass


def _init_loop(learner: int) -> int:
    """The run's init: reap every orphan of the run until L ends, then end (and with it, the
    kernel ends every other process of the namespace). The exit status says how L ended:
    its own status, or 128 + the signal that ended it."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
        if pid == learner:
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 0


def _limits(job: dict) -> None:
    vm = _vm_size()
    for res, value in ((resource.RLIMIT_CPU, int(job["cpu_seconds"])),
                       (resource.RLIMIT_AS, vm + int(job["memory_bytes"])),
                       (resource.RLIMIT_FSIZE, int(job["max_file_bytes"])),
                       (resource.RLIMIT_NOFILE, 256),
                       (resource.RLIMIT_CORE, 0)):
        try:
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError):
            pass
    try:
        n = int(job["max_processes"])
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
    except (ValueError, OSError):
        pass


def _vm_size() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _drop_to(uid: int, home: str) -> None:
    if os.geteuid() == 0 and uid:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    _c().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    os.environ.clear()
    os.environ.update({"HOME": home, "TMPDIR": home, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                       "MPLBACKEND": "Agg", "MPLCONFIGDIR": os.path.join(home, ".matplotlib"),
                       "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = None
    os.chdir(home)


def _share_tempdirs(path: str | None) -> None:
    """A test's temporary directory (``tempfile.mkdtemp``, ``TemporaryDirectory``) is one the
    learner's code can write into, and the reverse, as when both ran in one kernel
    (``save_checkpoint(tmp/...)`` in a test; a project the learner scaffolded in a temp dir that a
    test adds to). ``path``: where T's go (L's stay in its home, which T may enter)."""
    import tempfile

    if path is not None:
        tempfile.tempdir = path
    make = tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        d = make(*args, **kwargs)
        os.chmod(d, 0o777)
        return d

    tempfile.mkdtemp = mkdtemp


def _scratch(path: str, uid: int, copy_from: str | None = None) -> str:
    os.makedirs(path, mode=0o700, exist_ok=True)
    if copy_from and os.path.isdir(copy_from):
        import shutil

        for name in os.listdir(copy_from):
            src = os.path.join(copy_from, name)
            if name.endswith(".ipynb") or name.startswith("."):
                continue
            dst = os.path.join(path, name)
            (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, dst)
    if os.geteuid() == 0 and uid:
        for dirpath, _dirnames, filenames in os.walk(path):
            os.chown(dirpath, uid, uid)
            for n in filenames:
                os.chown(os.path.join(dirpath, n), uid, uid)
    os.chmod(path, 0o700)
    return path


def _close_fds(keep: set[int]) -> None:
    for fd in range(3, 1024):
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _stdio_to_null() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)


def pair_main(worker_fd: int, job: dict) -> None:
    """P: set up the namespaces, fork L, become T. Never returns."""
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _c().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        worker = socket.socket(fileno=worker_fd)
        root = os.geteuid() == 0  # before _isolate: inside a user namespace everyone is "root"
        files_fd = None
        if job.get("files_from") and os.path.isdir(job["files_from"]):
            files_fd = os.open(job["files_from"], os.O_RDONLY | os.O_DIRECTORY)  # still readable once /tmp is replaced
        own_pids = os.open("/proc/self/ns/pid", os.O_RDONLY)  # to give T's later children its own again
        isolation = _isolate(job)
        base = int(job["uid_base"]) + int(job["uid_index"])
        uid_l, uid_t = (base, base + 1000) if root else (0, 0)
        isolation["uids"] = root
        # the run's learner side (its init, L, all they start) in one cgroup: limits for it as a whole
        run_groups = cgroups.create(f"bootcamp-run-{base}", int(job["memory_bytes"]), int(job["max_processes"]),
                                    float(job.get("cpus", 1.0))) if root else {}
        isolation["cgroup"] = cgroups.describe(run_groups)
        tmp = "/tmp" if isolation["mounts"] else job["fallback_scratch"]
        home_l = _scratch(os.path.join(tmp, "learner"), uid_l,
                          f"/proc/self/fd/{files_fd}" if files_fd is not None else None)
        if files_fd is not None:
            os.close(files_fd)
        home_t = _scratch(os.path.join(tmp, "tests"), uid_t)
        exchange = _scratch(os.path.join(tmp, "exchange"), uid_t)
        os.chmod(exchange, 0o711)  # L may enter the directories a test makes for it, not list or add to this one
        a, b = socket.socketpair()
        fingerprint = _fingerprint()
        pid = os.fork()
        if pid == 0:  # I, the run's init (pid 1 of its PID namespace), then L under it
            try:
                worker.close()
                a.close()
                _close_fds({b.fileno()})
                _stdio_to_null()
                _c().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                if isolation["pids"]:
                    _private_proc()
                cgroups.join(run_groups)
                lpid = os.fork()
                if lpid:
                    b.close()
                    os._exit(_init_loop(lpid))
                _drop_to(uid_l, home_l)
                os.chmod(home_l, 0o711)  # T may enter a temp dir of L's code, not list L's home
                _share_tempdirs(None)
                os.umask(0)  # what it writes into a test's directory, the test can read and clean up
                _limits(job)
                _c().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                learner_main(b, int(job["output_bytes"]), fingerprint)
            finally:
                os._exit(0)
        b.close()
        if isolation["pids"]:
            _c().setns(own_pids, CLONE_NEWPID)  # a test's own subprocesses are not the learner's
        os.close(own_pids)
        _close_fds({a.fileno(), worker.fileno()})
        _stdio_to_null()
        _drop_to(uid_t, home_t)
        _share_tempdirs(exchange)
        os.umask(0)  # what a test makes in a temp dir (a project to run), the learner's code may write in
        _limits({**job, "max_processes": 4})
        _c().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        send_json(worker, {"event": "isolation", **isolation})
        tests_main(worker, a, pid, job)
    except BaseException as err:  # noqa: BLE001
        try:
            send_json(socket.socket(fileno=worker_fd), {"event": "error", "reason": f"{type(err).__name__}: {err}"})
        except Exception:
            pass
    finally:
        os._exit(0)


# --------------------------------------------------------------------------- the zygote
def zygote_main(fd: int) -> None:
    """Import the heavy modules once, then fork a pair for each request on ``fd``."""
    ctl = socket.socket(fileno=fd)
    cfg = json.loads(recv_msg(ctl))
    sys.path[:0] = [p for p in cfg.get("sys_path", []) if p not in sys.path]
    warm_start = time.monotonic()
    failed = []
    for name in ["tempfile", "IPython.core.inputtransformer2"] + [m for m in cfg.get("warm_imports", []) if m]:
        try:
            __import__(name)
        except Exception as err:
            failed.append(f"{name}: {err}")
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the pairs...
    _c().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # ...and their orphans (no zombies left in a slot's uid)
    send_json(ctl, {"event": "ready", "seconds": time.monotonic() - warm_start, "failed": failed,
                    "pid": os.getpid()})
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ctl, 1 << 20, 1)
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)
        job = json.loads(msg)
        if not fds:
            continue
        pid = os.fork()
        if pid == 0:
            ctl.close()
            pair_main(fds[0], job)
        os.close(fds[0])
        ctl.sendall(_LEN.pack(pid))


# --------------------------------------------------------------------------- the worker's side
@dataclass
class RunOutcome:
    cells: dict[int, dict] = field(default_factory=dict)  # index -> {"outputs", "ok", ...}
    status: str = "done"  # done | timeout | crashed | error
    index: int | None = None  # the cell that timed out or crashed
    reason: str = ""
    seconds: float = 0.0  # wall time of the cells themselves
    isolation: dict = field(default_factory=dict)
    patched: list[tuple[int, list[str]]] = field(default_factory=list)
    rebound: list[tuple[int, list[str]]] = field(default_factory=list)


class Zygote:
    """The worker's pre-warmed forker. Thread-safe; restarts itself if it dies."""

    def __init__(self, warm_imports: list[str], sys_path: list[str] | None = None):
        self.warm_imports = warm_imports
        self.sys_path = sys_path or []
        self.lock = threading.Lock()
        self.proc = None
        self.ctl: socket.socket | None = None
        self.warm_seconds = 0.0

    def start(self) -> None:
        import subprocess

        ours, theirs = socket.socketpair()
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
               "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "HOME": "/nonexistent"}
        # The zygote's environment is what every sandbox inherits: nothing of the service's
        # (database URL, secret key) may be in it.
        code = ("import sys; from autograder.sandbox import zygote_main; zygote_main(int(sys.argv[1]))")
        pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = pkg_parent
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(theirs.fileno())], pass_fds=[theirs.fileno()],
                                     env=env, cwd="/", stdin=subprocess.DEVNULL)
        theirs.close()
        self.ctl = ours
        send_json(ours, {"warm_imports": self.warm_imports, "sys_path": self.sys_path})
        ready = recv_json(ours, time.monotonic() + 300)
        self.warm_seconds = ready["seconds"]
        self.warm_failed = ready["failed"]

    def stop(self) -> None:
        if self.ctl:
            self.ctl.close()
        if self.proc:
            self.proc.kill()
            self.proc.wait()
        self.ctl = self.proc = None

    def spawn(self, job: dict) -> tuple[int, socket.socket]:
        ours, theirs = socket.socketpair()
        with self.lock:
            for attempt in range(2):
                if self.proc is None or self.proc.poll() is not None:
                    self.stop()
                    self.start()
                try:
                    socket.send_fds(self.ctl, [json.dumps(job).encode()], [theirs.fileno()])
                    (pid,) = _LEN.unpack(_recv_exact(self.ctl, 4, time.monotonic() + 30))
                    break
                except (OSError, ChannelClosed, ChannelTimeout):
                    if attempt:
                        raise
                    self.stop()
        theirs.close()
        return pid, ours

    def run(self, job: dict, cells: list[dict], wall_seconds: float) -> RunOutcome:
        with UidLease(int(job["uid_base"])) as index:
            return self._run({**job, "uid_index": index}, cells, wall_seconds)

    def _run(self, job: dict, cells: list[dict], wall_seconds: float) -> RunOutcome:
        job = {**job, "wall_seconds": wall_seconds}
        trusted = {"trusted_imports": job.pop("trusted_imports", ""), "cells": cells}
        pid, sock = self.spawn(job)  # the zygote sees limits and paths only, never a cell
        try:
            send_msg(sock, json.dumps(trusted).encode())  # to T, over the channel only it holds
        except OSError:
            pass
        out = RunOutcome()
        start = time.monotonic()
        hard_deadline = start + wall_seconds + 5.0
        learner_pid = None
        last_index = None
        try:
            while True:
                try:
                    ev = json.loads(recv_msg(sock, hard_deadline, 64 * 1024 * 1024))
                except ChannelTimeout:
                    out.status, out.index = "timeout", _next_index(cells, last_index)
                    break
                except ChannelClosed:
                    out.status, out.index = "error", _next_index(cells, last_index)
                    out.reason = "the sandbox ended without a result"
                    break
                kind = ev.get("event")
                if kind == "isolation":
                    out.isolation = {k: v for k, v in ev.items() if k != "event"}
                elif kind == "started":
                    learner_pid = ev.get("learner_pid")
                    out.isolation["trusted_imports_ok"] = ev.get("trusted_imports_ok")
                elif kind in ("cell", "test"):
                    last_index = ev["index"]
                    out.cells[ev["index"]] = ev
                    if ev.get("patched"):
                        out.patched.append((ev["index"], ev["patched"]))
                    if ev.get("rebound"):
                        out.rebound.append((ev["index"], ev["rebound"]))
                elif kind == "done":
                    out.seconds = float(ev.get("seconds", 0.0))
                    break
                elif kind in ("timeout", "crashed", "error"):
                    out.status = kind
                    out.index = ev.get("index")
                    out.reason = str(ev.get("reason", ""))
                    break
        finally:
            sock.close()
            self.kill(pid, learner_pid, job)
        if not out.seconds:
            out.seconds = time.monotonic() - start
        return out

    @staticmethod
    def kill(pid: int, learner_pid: int | None, job: dict) -> None:
        for target in (pid, learner_pid):
            if target:
                try:
                    os.killpg(target, signal.SIGKILL)
                except OSError:
                    pass
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass
        if os.geteuid() == 0:  # a slot's uids belong to this submission only: end all their processes
            base = int(job["uid_base"]) + int(job["uid_index"])
            kill_uids({base, base + 1000})
            cgroups.remove(f"bootcamp-run-{base}")


class UidLease:
    """A pair of sandbox uids (base+i for L, base+i+1000 for T) that no other run on this machine
    holds: an flock on ``/tmp/.bootcamp-sandbox-uids/<uid>`` for as long as the run lasts.

    After a run the worker kills every process of its uids; two workers (or two graders in one
    process) that picked uids by their own slot number alone would kill each other's sandboxes
    (seen as "the sandbox ended without a result" whenever two graded at once)."""

    DIR = "/tmp/.bootcamp-sandbox-uids"
    SIZE = 1000

    def __init__(self, base: int):
        self.base, self.fd, self.index = base, None, 0

    def __enter__(self) -> int:
        if os.geteuid() != 0:
            return 0  # without root every process runs as the worker's own uid: nothing is killed by uid
        import fcntl

        os.makedirs(self.DIR, mode=0o700, exist_ok=True)
        while True:
            for i in range(self.SIZE):
                fd = os.open(os.path.join(self.DIR, str(self.base + i)), os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
                self.fd, self.index = fd, i
                return i
            time.sleep(0.05)  # all taken (a thousand sandboxes at once): wait for one

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock, after the run's processes were killed
            self.fd = None


def kill_uids(uids: set[int]) -> int:
    n = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid in uids:
                os.kill(int(entry), signal.SIGKILL)
                n += 1
        except OSError:
            pass
    return n


def _next_index(cells: list[dict], last: int | None) -> int | None:
    if last is None:
        return cells[0]["index"] if cells else None
    later = [c["index"] for c in cells if c["index"] > last]
    return later[0] if later else last
