"""How values cross between L and T: the encoder (L's side), what each kind of object becomes, and the
small checks on decoded fields. What may cross into a verdict is in boundary.py."""

from __future__ import annotations

import datetime
import io
import pathlib
import pickle
import sys
import types
from collections import OrderedDict

from . import boundary

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
    if _own_class(t):  # an instance of the learner's own class (1.1's Tensor): a reference, at once
        return _ref(v, t, refs)
    if t in (list, set, dict, OrderedDict):
        if id(v) in memo:
            return (TAG, "same", memo[id(v)])
        memo[id(v)] = n = len(memo)
        if t is dict or t is OrderedDict:  # an OrderedDict (a state_dict) arrives as one: T builds it
            return (TAG, "dict" if t is dict else "odict", [(encode(k, refs, depth + 1, memo), encode(x, refs, depth + 1, memo))
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
    return _ref(v, t, refs)


def _ref(v, t, refs):
    rid = id(v)
    refs[rid] = v
    try:
        tname = str(t.__qualname__)
    except Exception:
        tname = "object"
    note = getattr(refs, "note", None)
    if note is not None:
        note(v)  # its attributes may go with the message (plain_attributes)
    if t is type:
        made = _constructs(v)
        if made is not None:
            return (TAG, "ref", rid, tname, True, made)
    return (TAG, "ref", rid, tname, bool(callable(v)))


def _constructs(cls):
    """(qualname, whether instances are callable) when calling ``cls`` can only make a new instance of
    it or raise: the learner's own class (``_own_class``) with object's ``__new__``. T may then send
    such a call without waiting for its reply (tests._Conn.construct); else None."""
    if not _own_class(cls):
        return None
    try:
        dicts = [type.__dict__["__dict__"].__get__(k) for k in _mro(cls)[:-1]]
        if any("__new__" in d for d in dicts):
            return None
        return (str(type.__dict__["__qualname__"].__get__(cls)), any("__call__" in d for d in dicts))
    except Exception:
        return None


_OWN_CLASSES: dict[int, tuple] = {}  # id(cls) -> (its MRO when judged, the verdict); the MRO holds cls


def _own_class(t) -> bool:
    """Whether every class in ``t``'s MRO but ``object`` is the learner's own (``__main__``) under
    metaclass ``type``: no value type (list, float, ndarray, tensor), date, path, module or library
    class among its bases, so that none of encode's other kinds applies to an instance and it is a
    reference. Kept per class while its MRO is the same tuple (``__bases__ =`` makes a new one)."""
    try:
        if type(t) is not type:
            return False
        mro = _mro(t)
        got = _OWN_CLASSES.get(id(t))
        if got is not None and got[0] is mro:
            return got[1]
        ok = len(mro) >= 2 and mro[-1] is object and all(
            type(k) is type and type.__dict__["__module__"].__get__(k) == "__main__" for k in mro[:-1])
        if len(_OWN_CLASSES) < 10000:
            _OWN_CLASSES[id(t)] = (mro, ok)
        return ok
    except Exception:
        return False


# An instance of a plain class (1.1's ``Tensor``: data, parents, grad) crosses as a reference
# *and* a copy of its instance attributes, so that ``node.parents`` and ``node.data`` in a test
# cost no round trip. The copy answers only what ``getattr`` would have answered without running
# any of the learner's code: the class keeps object's ``__getattribute__``, and no class in its MRO
# has a data descriptor (a property) of that name. T keeps the copies of one reply until it next
# sends anything to L (only then can the learner's code run and change them), and decodes a fresh
# value on every read, exactly as it would decode a fresh reply. A torch tensor is left out (it
# crosses by identity, kept in step), and so is an array over SNAPSHOT_ARRAY_BYTES.
SNAPSHOT_ARRAY_BYTES = 1 << 16
SNAPSHOT_ATTRIBUTES = 64


def _mro(cls) -> tuple:
    mro = type.__dict__["__mro__"].__get__(cls)
    return mro if type(mro) is tuple else ()


def _is_data_descriptor(d) -> bool:
    for k in _mro(type(d)):
        kd = type.__dict__["__dict__"].__get__(k)
        if "__set__" in kd or "__delete__" in kd:
            return True
    return False


def _small_plain(v, depth: int = 0, cache: dict | None = None) -> bool:
    """A value whose encoding has no side effect in L and stays small: primitives, small arrays,
    references to other objects, and tuples/lists/dicts of these."""
    t = type(v)
    if v is None or t in (bool, int, float, complex, str, bytes):
        return t not in (str, bytes) or len(v) <= 4096
    if depth > 3:
        return False
    if t in (tuple, list, frozenset, set):
        return len(v) <= 64 and all(_small_plain(x, depth + 1, cache) for x in v)
    if t is dict:
        return len(v) <= 64 and all(_small_plain(k, depth + 1, cache) and _small_plain(x, depth + 1, cache)
                                    for k, x in v.items())
    np = sys.modules.get("numpy")
    if np is not None and t is np.ndarray:
        return v.dtype.kind in _SAFE_NP_KINDS and v.nbytes <= SNAPSHOT_ARRAY_BYTES
    if np is not None and t in (np.float64, np.float32, np.int64, np.int32, np.bool_):
        return True
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(v, torch.Tensor):
        return False  # by identity, kept in step: never a copy
    if t is types.FunctionType:
        return True
    return _plain_class(t, cache)  # another plain object of the learner's: a reference


def _plain_class(cls, cache: dict | None = None) -> bool:
    """A class of the learner's whose instances' attributes are read without running its code:
    metaclass ``type``, no ``__getattribute__``/``__getattr__`` of its own, the standard instance dict.
    ``cache`` keeps verdicts for one message only (L's ``_Refs``): L runs no code while it encodes
    one, and its code may change a class's dict between two."""
    if cache is not None:
        got = cache.get(id(cls))
        if got is None:
            got = cache[id(cls)] = (cls, _plain_class(cls))
        return got[1]
    try:
        if type(cls) is not type or type.__dict__["__module__"].__get__(cls) != "__main__":
            return False
        mro = _mro(cls)
        for k in mro[:-1]:
            kd = type.__dict__["__dict__"].__get__(k)
            if "__getattribute__" in kd or "__getattr__" in kd:
                return False
        for k in mro:
            kd = type.__dict__["__dict__"].__get__(k)
            if "__dict__" in kd:
                return type(kd["__dict__"]) is types.GetSetDescriptorType
        return False
    except Exception:
        return False


def plain_attributes(v, refs):
    """In L: ``([(name, encoded value)], [ids of its plain classes])`` for an instance of a plain
    class of the learner's, else None (see above). The objects its attributes refer to are noted
    in ``refs`` in turn (L's ``_Refs`` decides how far to follow them)."""
    cls = type(v)
    cache = getattr(refs, "classes", None)
    try:
        if not _plain_class(cls, cache):
            return None
        mro = _mro(cls)
        d = object.__getattribute__(v, "__dict__")
        if type(d) is not dict or len(d) > SNAPSHOT_ATTRIBUTES:
            return None
        class_dicts = [type.__dict__["__dict__"].__get__(k) for k in mro]
        out = []
        for name, x in list(d.items()):
            if type(name) is not str or name.startswith("__"):
                continue
            shadowed = False
            for kd in class_dicts:
                if name in kd and _is_data_descriptor(kd[name]):
                    shadowed = True
                    break
            if shadowed or not _small_plain(x, 0, cache):
                continue
            out.append((name, encode(x, refs)))
        return out, [id(k) for k in mro if _plain_class(k, cache)]
    except Exception:
        return None


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


def plain_data(v, depth: int = 0) -> bool:
    """T: a value that is data and nothing else (numbers, strings, arrays and plain tensors, in lists,
    tuples and dicts): what a test's visible part may hand to L by value (tests._share_visible_definitions)."""
    t = type(v)
    if v is None or t in (bool, int, float, complex, str, bytes):
        return True
    if depth > 4:
        return False
    if t in (list, tuple):
        return len(v) <= 100_000 and all(plain_data(x, depth + 1) for x in v)
    if t is dict:
        return len(v) <= 100_000 and all(type(k) in (str, int) and plain_data(x, depth + 1) for k, x in v.items())
    np = sys.modules.get("numpy")
    if np is not None and (t is np.ndarray or isinstance(v, np.generic)):
        return v.dtype.kind in "biufc"
    torch = sys.modules.get("torch")
    return torch is not None and t is torch.Tensor and not v.requires_grad and _syncable(v)


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


def _is_tag(v, kind: str) -> bool:
    return type(v) is tuple and len(v) >= 2 and type(v[0]) is str and v[0] == TAG and v[1] == kind


# In one kernel, a test and the learner's code share the random generators and the test's
# tensors: ``sgd_step(model.parameters(), lr)`` changes the test's parameters in place, and
# ``torch.manual_seed(0)`` in a test decides what the learner's ``nn.Linear`` draws. Split
# over two processes, every message carries what changed since the other side last saw it:
# the generators' states, and the contents and gradients of the test's tensors that were
# passed to L (sent by identity: the same tensor twice is one tensor in L).
_SYNC_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
                "complex64", "complex128")


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


def _syncable(obj) -> bool:
    torch = sys.modules.get("torch")
    return (torch is not None and type(obj) in (torch.Tensor, torch.nn.Parameter) and obj.device.type == "cpu"
            and obj.layout == torch.strided and str(obj.dtype).split(".")[-1] in _SYNC_DTYPES)


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


_BUILTIN_EXCEPTIONS = {name: obj for name, obj in vars(__import__("builtins")).items()
                       if isinstance(obj, type) and issubclass(obj, BaseException)}


class LearnerTimeout(BaseException):
    """The learner process did not answer before the notebook's deadline (not catchable by tests)."""


class LearnerCrashed(BaseException):
    pass


_PASSTHROUGH = (LearnerTimeout, LearnerCrashed)


def _local_callable(v) -> bool:
    """A function of the test's own (a lambda, a closure, a method): it cannot be pickled by name."""
    if isinstance(v, types.MethodType):
        return True
    if isinstance(v, type):
        return v.__module__ == "__main__"  # a class the test defined: L calls it back here
    if isinstance(v, types.FunctionType):
        return v.__module__ in (None, "__main__") or "<" in v.__qualname__
    return type(v).__module__ == "__main__"  # an instance of a class the test defined (callable or not)
