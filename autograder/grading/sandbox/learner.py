"""L, the learner process: runs the learner's cells and answers T's requests on its objects."""

from __future__ import annotations

import ast
import io
import os
import pickle
import socket
import sys
import traceback
import types

from .channel import ChannelClosed, recv_msg, send_framed
from .keyed import SentValues
from .proxies import _BINOPS, _UNOPS
from .state import _hook_dicts, _LUnpickler, _same, _snapshot, _Sync, _tensor_payload
from .values import (
    _BUILTIN_EXCEPTIONS,
    _PASSTHROUGH,
    TAG,
    _as_list,
    _is_tag,
    _library_symbol,
    _syncable,
    _TRef,
    encode,
    plain_attributes,
)


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


class _Refs(dict):
    """L's objects that T holds by reference (id -> object), how L's tensors cross, and which plain
    objects' attributes go with the message being encoded (values.plain_attributes): those of the
    objects the reply names; after a ``getattr`` that T could not answer itself (a walk over a
    learner's graph: ``node.parents``), those of every plain object they lead to, breadth first,
    up to ``DEEP`` objects."""

    tensor_hook = None
    key_of = None
    DEEP = 4096
    SHALLOW = 20000
    BYTES = 8 << 20

    def __init__(self):
        super().__init__()
        self.begin(False)

    def begin(self, deep: bool) -> None:
        self.deep, self.table, self.queue, self.level, self.size = deep, {}, [], 0, 0
        self.classes = {}  # values._plain_class's verdicts for this message (L's code may change a class's dict)

    def note(self, v) -> None:
        if self.level > 0 and not self.deep:
            return
        if id(v) not in self.table and len(self.queue) < (self.DEEP if self.level else self.SHALLOW):
            self.table[id(v)] = None
            self.queue.append(v)

    def drain(self) -> dict:
        """``{id: (attributes, classes)}`` for the objects noted, as far as this message goes."""
        out, done = {}, 0
        while self.queue and done < (self.DEEP if self.deep else self.SHALLOW) and self.size < self.BYTES:
            batch, self.queue = self.queue, []
            for v in batch:
                snap = plain_attributes(v, self)
                if snap is not None:
                    out[id(v)] = snap
                    self.size += sum(len(x[4]) for _n, x in snap[0] if _is_tag(x, "nd") and len(x) > 4)
                done += 1
            self.level += 1
            if not self.deep:
                break
        self.begin(False)
        return out


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
        self.values = SentValues()  # large tensors T holds a copy of: by key (keyed.py)
        self.sync.pack_hooks = lambda m: encode({a: list(d.items()) for a, d in _hook_dicts(m).items()}, self.refs)
        self.sync.unpack_hooks = lambda raw: _LUnpickler(io.BytesIO(raw), self.sync, self).load() \
            if type(raw) is bytes else None
        self.hold = False  # the reply being made answers a constructor call T did not wait for
        self.outbox: list[bytes] = []  # replies held until the next that T waits for
        self._nd: list = []  # the numpy arguments of the call being answered: (array, bytes as sent)
        self.ran: dict[int, list] = {}  # id of a function T called -> the code objects it had when called
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
            # the test's tensors this call was given, as L's copies: backward() may come after the
            # test dropped them (``loss(a @ w, b @ w).backward()``: T forgets the products first)
            self.sync.graph_inputs[key] = {tid: self.sync.get(tid) for tid in self.sync.touched if tid > 0}
            return (TAG, "ptg", key, _tensor_payload(v))
        if not v.requires_grad:  # a plain value (an activation): not state to keep in step
            return self.values.tag(v)  # by value, or by key when T holds a copy (keyed.py)
        known = self.sync.get(key) is v and key in self.sync.snaps
        if not known:
            self.sync.put(key, v)
        elif _same(v, self.sync.snaps[key]):
            return (TAG, "ptl", key, None, False)
        self.sync.snaps[key] = _snapshot(v)
        return (TAG, "ptl", key, _tensor_payload(v), not known)

    def received_array(self, i, dtype, shape, raw):
        """One of the test's numpy arrays, as a call's argument: a copy, remembered as it was sent."""
        import numpy as np

        if dtype is None:
            return self._nd[i][0]
        a = np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()
        self._nd.append((a, raw, a.shape, a.dtype))
        return a

    def arguments_after(self, arrays) -> list:
        """(number, value now) of every one of the call's numpy arguments: T compares them with its own
        (L does not say which changed: T decides, and a reply without all of them fails the test)."""
        return [(i, encode(a, self.refs)) for i, (a, _raw, _shape, _dtype) in enumerate(arrays)]

    def describe_code(self, obj, depth: int = 0):
        """What T needs to judge the code ``obj`` runs (code.py): None unless it is a plain function."""
        from .code import describe

        return describe(obj, self.ran.get(id(obj), ()), self.refs, depth)

    def vjp(self, key, grad, tids):
        """T's backward() reached a result of L's code: backpropagate it here. L's own leaves (the
        learner's parameters) accumulate their .grad here, as in one kernel; for T's tensors that
        went into the call, the gradient goes back to T, whose autograd adds it where it belongs."""
        import torch

        out = self.sync.graphs.get(key)
        if out is None:
            raise RuntimeError("the result of your code that backward() reached is gone")
        held = self.sync.graph_inputs.get(key, {})
        xs = [held.get(t) if type(t) is int else None for t in _as_list(tids)]
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

    @staticmethod
    def subclass(name, bases, body):
        """Make, here, a class that a test derived from the learner's classes. A function of the test's
        body arrives as a _TRef (it runs in T) and is wrapped in a plain function, so that it binds
        to an instance as a method does."""
        if type(name) is not str or type(bases) is not list or type(body) is not dict:
            raise TypeError("malformed class")

        def method(tref):
            def call(*args, **kwargs):
                return tref(*args, **kwargs)
            return call

        ns = {k: method(v) if type(v) is _TRef else v for k, v in body.items() if type(k) is str}
        return types.new_class(name, tuple(bases), exec_body=lambda d: d.update(ns))

    def recv(self):
        try:
            data = recv_msg(self.sock)
        except ChannelClosed:
            os._exit(0)
        try:
            _, sync, inner = pickle.loads(data)
            self.sync.incoming(sync)  # first: what T forgot, then what this message sends
            self._nd = []
            return _LUnpickler(io.BytesIO(inner), self.sync, self).load()
        except Exception as err:  # a test object this process cannot rebuild (a class defined in a test)
            return ("unreadable", f"{type(err).__name__}: {err}")

    def send(self, reply):
        try:
            sync = self.sync.outgoing(only_known=True)
        except Exception:
            sync = None
        try:
            attrs = self.refs.drain()
        except Exception:
            attrs = {}
        hold, self.hold = self.hold, False
        values = self.values.envelope()
        try:
            data = pickle.dumps(("env", reply, sync, attrs, values) if values else
                                ("env", reply, sync, attrs) if attrs else ("env", reply, sync), protocol=5)
        except Exception as e:  # an unencodable value: say so instead of dying
            self.values.abandon(values)
            data = pickle.dumps(("env", ("raise", "TypeError", f"the grader could not send back a value: {e}",
                                         ["TypeError"]), None), protocol=5)
        self.outbox.append(data)
        self.sync.storages_may_change()  # (from here on L's code may run)
        if hold:  # the reply to a constructor call T did not wait for: with the next reply, in one write
            return
        out, self.outbox = self.outbox, []
        try:
            send_framed(self.sock, out)
        except (ChannelClosed, OSError):
            os._exit(0)

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
            self.refs.begin(False)
            on, self.values.on = self.values.on, False  # a callback's arguments: by value
            try:
                self.send(("callback", tid, encode(args, self.refs), encode(kwargs, self.refs)))
            finally:
                self.values.on = on
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
        self.refs.begin(op in ("getattr", "get"))
        on = self.values.on  # (a message handled inside a callback: the outer reply keys as it did)
        self.values.begin(op)
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
            if op == "call":
                arrays = self._nd
                result = self.op(op, msg)
                if len(msg) > 4 and type(msg[4]) is int and msg[4] < 0:  # T's key for a constructor call it did not wait for
                    self.refs[msg[4]] = result
                    self.hold = True
                value = encode(result, self.refs)
                return ("value", value, self.arguments_after(arrays)) if arrays else ("value", value)
            if op == "assign":  # what a test's visible part bound, as the test computed it (tests.py)
                for name, value in msg[1].items() if type(msg[1]) is dict else ():
                    if type(name) is str:
                        self.ns[name] = value
                return ("value", None)
            if op == "flush":  # T wants the replies held (tests._Conn.collect): runs no code of the learner's
                return ("value", None)
            if op == "names":  # what T may ask for next: every name, so that the next request names no test's own
                return ("value", [n for n in self.ns if type(n) is str])
            if op == "cputime":
                t = os.times()
                return ("value", float(t.user + t.system + t.children_user + t.children_system))
            if op == "code":
                return ("value", encode(self.describe_code(self.refs[msg[1]]), self.refs))
            if op == "globals":
                return ("value", encode({n: v for n, v in self.ns.items() if type(n) is str and not n.startswith("_")
                                         and (callable(v) or isinstance(v, types.ModuleType))}, self.refs))
            out = ("value", encode(self.op(op, msg), self.refs))
            if op == "getattr":  # T will likely read more of this object, and of what it leads to
                self.refs.note(self.refs[msg[1]])
            return out
        except BaseException as e:  # noqa: BLE001
            if isinstance(e, SystemExit):
                e = RuntimeError("your code called exit()")
            tid = getattr(e, "_bc_tid", None)
            return ("raise", type(e).__name__, str(e)[:self.cap],
                    [c.__name__ for c in type(e).__mro__ if c.__module__ == "builtins"],
                    tid if type(tid) is int else None)
        finally:
            self.values.on = on

    def op(self, op, msg):
        obj = self.refs[msg[1]]
        out = CappedText(self.cap)
        old = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out  # print() inside an exercise function is not a test result
        try:
            if op == "call":
                code = getattr(obj, "__code__", None) if type(obj) is types.FunctionType else None
                if code is not None:  # the code that ran, for a rule check (code.py)
                    seen = self.ran.setdefault(id(obj), [])
                    if all(c is not code for c in seen) and len(seen) < 20:
                        seen.append(code)
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
            if op == "subclass":  # a class a test derives from learner's classes (proxies._LearnerSubclassMaker)
                return self.subclass(msg[2], self.dec(msg[3]), self.dec(msg[4]))
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
