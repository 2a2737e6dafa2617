"""Which code a rule check judges (issue 16, class 4): the code L runs, matched in the submitted cells.

A rule check (``checks.assert_no_loops``, the tensor puzzles' ``check_rules``) reads the source
of the learner's function. In T that function is a proxy; the source T reads must be the source
of the code that runs in L, not of whatever a name, a line number or ``__wrapped__`` points at.
So, when a check asks (``Remote.__judged__``):

* L describes the function (:func:`describe`): the fingerprint of every code object it had when T
  called it and of the one it has now (bytecode, names, constants; not its name, file or lines), the
  library functions and the learner's functions its globals, closure and defaults bind, whether its
  builtins are the real ones, and the same for a ``__wrapped__`` function with the closure variable
  that holds it. Anything that is not a plain function (a library function, a partial, an object
  with ``__call__``) is described as nothing: the check refuses it with a message.
* T compiles the submitted cells itself and looks there for a code object with each fingerprint
  (:func:`judged`). It builds, from its own compilation, functions that are never called, with those
  bindings: the check reads their source (``course/checks/code.py``). A fingerprint that matches no
  code in the cells (``exec``, ``types.CodeType``, ``code.replace``) fails the check.

What L says about its own code is not simply believed (``judged``): a notebook that reaches into
the interpreter (``_REACHING_IN``: the grader's modules, ``gc``, ``ctypes``, ``sys.modules``, frames)
passes no rule check; and when the cells bind the checked name (or a helper's) only with plain
``def`` statements, L's description must be of T's own compilation of the last one. Left: a name
bound otherwise (a lambda, a decorator, an assignment) in a notebook that rewrites L's grader side
without any of those words; there L's description is believed as far as it matches the cells.
"""

from __future__ import annotations

import ast
import builtins
import functools
import re
import sys
import types

from .definitions import _tree

_FUTURE_FLAGS = 0xFFEF  # what code does: not __future__ flags (they differ by compiler call), not CO_NESTED
EMPTY = "\x00bc-empty"


def fingerprint(code: types.CodeType) -> tuple:
    """What a code object does, without where it says it comes from (the same in L and T)."""
    consts = tuple(fingerprint(c) if isinstance(c, types.CodeType) else (type(c).__name__, repr(c)[:10000])
                   for c in code.co_consts)
    return (code.co_code, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars, code.co_argcount,
            code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags & _FUTURE_FLAGS, consts)


def _code_objects(code):
    yield code
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _code_objects(c)


def _binding(v):
    """A value a rule check may resolve a name to: functions, classes, modules and objects of the
    notebook's own classes (whose methods a checked function may call: ``_ops.mm(a, b)``); None
    for data."""
    if callable(v) or isinstance(v, types.ModuleType):
        return v
    return v if getattr(type(v), "__module__", None) == "__main__" else None


# ------------------------------------------------------------------------------------------ in L
def describe(obj, ran, refs, depth: int = 0):
    if type(obj) is types.MethodType and depth == 0:  # a method of one of the notebook's objects: its function
        obj = obj.__func__
    if type(obj) is not types.FunctionType or depth > 4:
        return None
    codes = list(ran)
    if all(c is not obj.__code__ for c in codes):
        codes.append(obj.__code__)
    names = sorted({n for c in codes for cc in _code_objects(c) for n in cc.co_names})
    g = obj.__globals__
    b = g.get("__builtins__")
    closure = []
    for cell in obj.__closure__ or ():
        try:
            closure.append(_binding(cell.cell_contents))
        except ValueError:
            closure.append(EMPTY)
    wrapped = obj.__dict__.get("__wrapped__")
    forward = None
    if type(wrapped) is types.FunctionType:
        for i, cell in enumerate(obj.__closure__ or ()):
            try:
                if cell.cell_contents is wrapped:
                    forward = i
            except ValueError:
                pass
    return {
        "codes": [fingerprint(c) for c in codes],
        "globals": {n: _binding(g[n]) for n in names if n in g and type(n) is str},
        "builtins": b is builtins or b is vars(builtins),
        "closure": closure,
        "defaults": [_binding(v) for v in obj.__defaults__ or ()],
        "kwdefaults": {k: _binding(v) for k, v in (obj.__kwdefaults__ or {}).items() if type(k) is str},
        "wrapped": describe(wrapped, (), refs, depth + 1) if type(wrapped) is types.FunctionType else None,
        "forward": forward,
    }


# ------------------------------------------------------------------------------------------ in T
class _Index:
    """fingerprint -> code object, over T's own compilation of the submitted cells."""

    def __init__(self, conn):
        self.conn, self.seen, self.by_print = conn, set(), {}

    def find(self, fp):
        for f in list(self.conn.sources):
            if f in self.seen:
                continue
            self.seen.add(f)
            top = self.conn.compiled(f)
            if top is not None:
                for c in _code_objects(top):
                    self.by_print[fingerprint(c)] = c  # the last definition wins, as when the cell ran
        return self.by_print.get(fp)


def _fp(x):
    """A fingerprint as sent (lists where tuples were) back to tuples, bytes checked."""
    if type(x) in (list, tuple):
        return tuple(_fp(y) for y in x)
    if type(x) in (bytes, str, int):
        return x
    raise ValueError("malformed fingerprint")


# What reaches into the interpreter, and so into the grader's side of L (its reports): a notebook
# that uses any of it gets no rule check passed, as T cannot tell what runs (fails closed). Read
# token by token: a comment never counts, a string does (it may be exec'd), and two harmless uses a
# learner makes (``gc.collect()``, ``importlib.metadata``) are allowed.
_REACHING_IN = re.compile(r"\b(autograder|ctypes|gc|importlib|__import__|sys\s*\.\s*modules|_getframe|"
                          r"__subclasses__|__globals__|__closure__|__builtins__|f_globals|f_locals|f_back|"
                          r"tb_frame|gi_frame|cr_frame|__self__|import_module|__loader__|__spec__)\b")
_HARMLESS = {"gc": ("collect",), "importlib": ("metadata",)}


@functools.lru_cache(maxsize=1024)
def _reaching_in_source(src: str) -> str | None:
    """The first word of ``_REACHING_IN`` that the code uses, or None. A function of the text alone,
    kept per exact text: every rule check reads every submitted cell (``_reaching_in``)."""
    import io
    import tokenize

    try:
        toks = [t for t in tokenize.generate_tokens(io.StringIO(src).readline)
                if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                  tokenize.DEDENT, tokenize.ENDMARKER)]
    except (tokenize.TokenError, SyntaxError, ValueError):  # not Python the tokenizer reads: the whole text
        m = _REACHING_IN.search(src)
        return m.group(1) if m else None
    for i, t in enumerate(toks):
        if t.type == tokenize.STRING or t.type not in (tokenize.NAME, tokenize.OP):
            m = _REACHING_IN.search(t.string)
            if m:
                return m.group(1)
            continue
        if t.type != tokenize.NAME:
            continue
        word = t.string
        if word == "sys" and i + 2 < len(toks) and toks[i + 1].string == "." and toks[i + 2].string == "modules":
            return "sys.modules"
        if word == "modules" and i >= 1 and toks[i - 1].string == "import" and any(
                x.string == "sys" for x in toks[max(0, i - 6):i]):
            return "sys.modules"
        if not _REACHING_IN.fullmatch(word):
            continue
        allowed = _HARMLESS.get(word, ())
        nxt = [x.string for x in toks[i + 1:i + 4]]
        prev = toks[i - 1].string if i else ""
        if allowed and nxt[:1] == ["."] and nxt[1:2] and nxt[1] in allowed:
            continue  # gc.collect(...), importlib.metadata...
        if allowed and prev == "import" and (len(nxt) == 0 or nxt[0] not in ("as", ".")):
            continue  # `import gc` (a bare name: every later use is read here too)
        if allowed and prev == "from" and nxt[:1] == ["import"] and nxt[1:2] and nxt[1] in allowed \
                and (len(nxt) < 3 or nxt[2] != ","):
            continue  # from importlib import metadata
        if allowed and prev == "from" and nxt[:2] == [".", allowed[0]]:
            continue  # from importlib.metadata import version
        return word
    return None


def _reaching_in(conn) -> str | None:
    for f, src in list(conn.sources.items()):
        word = _reaching_in_source(src)
        if word:
            return f"`{word}` in {f.strip('<>')}"
    return None


def static_def(conn, name: str):
    """T's own compilation of ``def name`` when the submitted cells bind ``name`` at top level only
    with plain ``def`` statements (no decorator, no assignment, import or ``global name``): the
    code of the last one, which is what ``name`` runs. None when the cells bind it any other way."""
    last = None
    for f, src in list(conn.sources.items()):
        read = _top_bindings(src) if type(src) is str else None
        if read is None:
            continue
        declared, statements = read
        if name in declared:
            return None
        for def_name, decorated, lineno, bound in statements:
            if def_name == name:
                if decorated:
                    return None
                last = (f, lineno)
            elif name in bound:
                return None
    if last is None:
        return None
    top = conn.compiled(last[0])
    if top is None:
        return None
    for c in top.co_consts:
        if isinstance(c, types.CodeType) and c.co_name == name and c.co_firstlineno == last[1]:
            return c
    return None


@functools.lru_cache(maxsize=1024)
def _top_bindings(src: str):
    """What one cell's text binds, for :func:`static_def`, read once per text (every rule check asks of
    every cell): (the names a ``global`` or ``nonlocal`` statement names anywhere, and per top-level
    statement (the name of a def or None, whether that def is decorated, its line, the names the
    statement binds otherwise)); None when the text does not parse."""
    tree = _tree(src)  # (the same text's parse as the readers of definitions.py: one per text)
    if tree is None:
        return None
    declared = frozenset(n for node in ast.walk(tree) if isinstance(node, (ast.Global, ast.Nonlocal))
                         for n in node.names)
    statements = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            statements.append((node.name, bool(node.decorator_list), node.lineno, frozenset()))
            continue
        bound = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))
                 and not isinstance(node, ast.ClassDef)}
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        if isinstance(node, ast.ClassDef):
            bound.add(node.name)
        statements.append((None, False, node.lineno, frozenset(bound)))
    return declared, tuple(statements)


def judged(conn, remote) -> list:
    """The functions whose code a rule check reads for the learner's function ``remote``.

    What L says about its code is checked against what T knows without L (issue 16: T does not
    believe L's reports): a notebook that reaches into the interpreter (``_REACHING_IN``) fails
    closed; when the cells bind the function's name only with plain ``def`` statements, the code L
    reports must be T's own compilation of the last one, and a check reads that."""
    rid = object.__getattribute__(remote, "_rid")
    where = _reaching_in(conn)
    if where is not None:
        raise TypeError(f"the notebook reaches into the interpreter ({where}), so the rule check cannot tell what "
                        "code runs: remove that")
    desc = conn.request(("code", rid))
    if desc is None:
        tname = object.__getattribute__(remote, "_tname")
        raise TypeError(f"it is an object of class {tname}, not a function written with def (or lambda) in "
                        "the notebook: write it as a function")
    index = getattr(conn, "code_index", None)
    if index is None:
        index = conn.code_index = _Index(conn)
    name = _name_of(conn, remote)
    static = static_def(conn, name) if name else None
    if static is not None:
        want = fingerprint(static)
        try:
            said = [_fp(fp) for fp in desc["codes"]] if type(desc) is dict and type(desc.get("codes")) is list else []
        except ValueError:
            said = []
        if not said or any(fp != want for fp in said):
            raise TypeError(f"the code that runs as `{name}` is not the code of `def {name}` in the notebook's cells "
                            "(it was replaced while the notebook ran): define it once, with def")
    return _build(conn, index, desc)


def name_remote(conn, remote, name: str) -> None:
    """T got ``remote`` under ``name`` (a test's name, or a global of a function it judges)."""
    names = getattr(conn, "bound_names", None)
    if names is None:
        names = conn.bound_names = {}
    if type(name) is str and name.isidentifier():
        names[id(remote)] = (remote, name)


def _name_of(conn, remote) -> str | None:
    got = getattr(conn, "bound_names", {}).get(id(remote))
    return got[1] if got is not None and got[0] is remote else None


def _build(conn, index, desc) -> list:
    if type(desc) is not dict or type(desc.get("codes")) is not list or not desc["codes"]:
        raise ValueError("the learner process described its code in a way the grader cannot read")
    if desc.get("builtins") is not True:
        raise TypeError("it runs with builtins of its own, so its names cannot be told apart")
    glob = {"__builtins__": builtins}
    for k, v in (desc.get("globals") or {}).items():
        if type(k) is str and v is not None:
            glob[k] = _module(v)
            if hasattr(type(glob[k]), "__judged__"):  # a helper of the notebook's: judged by its name too
                name_remote(conn, glob[k], k)
    closure = desc.get("closure") if type(desc.get("closure")) is list else []
    defaults = tuple(_module(v) for v in desc.get("defaults") or [])
    kwdefaults = {k: _module(v) for k, v in (desc.get("kwdefaults") or {}).items() if type(k) is str}
    wrapped = desc.get("wrapped")
    inner = _build(conn, index, wrapped)[-1] if wrapped is not None else None
    out = []
    for fp in desc["codes"]:
        code = index.find(_fp(fp))
        if code is None:
            raise TypeError("the code it runs is not in the notebook's cells (it was made with exec, or its code "
                            "object was built or changed while the notebook ran): define it with def")
        cells = []
        for i, _var in enumerate(code.co_freevars):
            v = closure[i] if i < len(closure) and len(closure) == len(code.co_freevars) else EMPTY
            if inner is not None and desc.get("forward") == i:
                v = inner
            cells.append(types.CellType() if v is EMPTY or v is None else types.CellType(_module(v)))
        argdefs = defaults if defaults and len(defaults) <= code.co_argcount else None
        f = types.FunctionType(code, glob, code.co_name, argdefs, tuple(cells))
        f.__kwdefaults__ = kwdefaults or None
        if inner is not None:
            f.__wrapped__ = inner
        out.append(f)
    return out


def _module(v):
    from .values import SYMBOL_LIBRARIES, _TrustedModuleName

    if isinstance(v, _TrustedModuleName):
        return sys.modules.get(str(v)) if str(v).split(".")[0] in SYMBOL_LIBRARIES else None
    return v
