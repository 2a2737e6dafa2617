"""Which code a rule check reads: the code that runs when the learner's function is called.

A rule check ("no loops", "no matmul", "only arange and where") reads a function's source. The
source that ``inspect.getsource`` finds for a name is not always the code that runs: a code
object can claim a decoy's line, a name can be an alias of ``np.matmul``, a ``functools.partial``
or an object with ``__call__``, a decorator can hide what runs behind ``__wrapped__``. So:

* :func:`judged_functions` returns the plain functions whose code runs (a decorator is looked
  through only when its own code just forwards: ``return f(*args, **kwargs)``) and refuses, with
  a message, anything else that is called (a library function, a partial, a callable object);
* :func:`source_of` returns a function's source only after compiling it and finding the very
  code object the function runs (same bytecode, names and constants): a source that does not
  compile to the code that runs is refused, never read;
* :func:`resolve` says what a name in that code refers to when it runs: the function's own
  closure, defaults, globals and builtins.

In the grading service the function lives in the learner's process; the test process gets, in
its place, functions compiled from the submitted cells whose code matches what the learner's
process runs (``autograder/grading/sandbox/code.py``), and the same rules apply to them.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import textwrap
import types
from typing import Any

_NOTHING = MISSING = object()


class NotInspectable(Exception):
    """The rule check cannot read the code that runs; the message says why, to the learner."""


def fingerprint(code: types.CodeType) -> tuple:
    """What a code object does, without where it claims to come from (name, file, lines)."""
    consts = tuple(fingerprint(c) if isinstance(c, types.CodeType) else (type(c).__name__, repr(c))
                   for c in code.co_consts)
    return (code.co_code, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars,
            code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags & 0xFFEF, consts)


def shape(code: types.CodeType) -> tuple:
    """What a code object does, instruction by instruction, up to how the compiler chose to call a
    method: ``np.array(...)`` compiles to LOAD_METHOD in a cell that does not import ``np`` and to
    PUSH_NULL, LOAD_ATTR in one that does, so a def compiled on its own may differ there from the
    same def in its cell. Used to check that a source is the source of a code object (:func:`source_of`)."""
    import dis

    ins = list(dis.get_instructions(code))
    index, kept = {}, 0
    for i in ins:  # a jump's target, counted in the instructions kept
        index[i.offset] = kept
        kept += i.opname != "PUSH_NULL"
    jumps = set(dis.hasjrel) | set(dis.hasjabs)
    ops = []
    for i in ins:
        if i.opname == "PUSH_NULL":  # how a call is set up, not what it calls
            continue
        if i.opcode in jumps:
            arg = index.get(i.argval, -1)
        elif isinstance(i.argval, types.CodeType):
            arg = shape(i.argval)
        else:
            arg = repr(i.argval)
        ops.append(("LOAD_ATTR" if i.opname == "LOAD_METHOD" else i.opname, arg))
    return (tuple(ops), code.co_varnames, code.co_freevars, code.co_cellvars, code.co_argcount,
            code.co_posonlyargcount, code.co_kwonlyargcount)


def code_objects(code: types.CodeType):
    """``code`` and every code object nested in it, outermost first."""
    yield code
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from code_objects(c)


def describe(obj: Any) -> str:
    """What a called object is, in words, for a refusal."""
    module, name = getattr(obj, "__module__", None), getattr(obj, "__name__", None)
    if isinstance(obj, (types.BuiltinFunctionType, types.BuiltinMethodType)) or type(obj).__name__ == "ufunc" or \
            (type(module) is str and module.split(".")[0] in ("numpy", "torch", "einops", "math", "builtins")):
        return f"the library function {module or ''}{'.' if module else ''}{name or type(obj).__name__}"
    if type(obj).__name__ == "partial":
        return "a functools.partial"
    if isinstance(obj, type):
        return f"the class {name}"
    return f"an object of class {type(obj).__name__}"


def _context(source: str, code: types.CodeType) -> str:
    """``source`` (one def or lambda statement) placed where its free variables are closed over."""
    body = textwrap.dedent(source)
    if "__class__" in code.co_freevars:  # a method that uses super() or __class__
        body = "class _BcClass:\n" + textwrap.indent(body, "    ")
    free = [v for v in code.co_freevars if v != "__class__"]
    if free:
        body = "def _bc_outer():\n    " + " = ".join(free) + " = None\n" + textwrap.indent(body, "    ")
    return body


def source_of(fn: types.FunctionType) -> tuple[str, int]:
    """(source, first line) of the code ``fn`` runs; NotInspectable when no source compiles to it."""
    code = fn.__code__
    try:
        source = inspect.getsource(code)
    except (OSError, TypeError) as err:
        raise NotInspectable("its source cannot be read (was it made with exec, or typed into a plain "
                             "interpreter?)") from err
    want = shape(code)
    try:
        compiled = compile(_context(source, code), "<rule check>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as err:
        raise NotInspectable("its source does not compile on its own (is it part of a larger expression?)") from err
    if not any(shape(c) == want for c in code_objects(compiled)):
        raise NotInspectable(f"the code that runs is not the code at line {code.co_firstlineno} of its cell "
                             "(its code object was replaced or changed)")
    return source, code.co_firstlineno


def _forwards_to(fn: types.FunctionType) -> Any:
    """The function ``fn`` only forwards to (``def wrapper(*args, **kwargs): return f(*args, **kwargs)``
    with ``f`` its ``__wrapped__``), else ``_NOTHING``."""
    target = fn.__dict__.get("__wrapped__", _NOTHING) if hasattr(fn, "__dict__") else _NOTHING
    if target is _NOTHING:
        return _NOTHING
    try:
        source, _ = source_of(fn)
        tree = ast.parse(textwrap.dedent(source))
    except (NotInspectable, SyntaxError):
        return _NOTHING
    node = tree.body[0] if tree.body else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return _NOTHING
    a = node.args
    if a.posonlyargs or a.args or a.kwonlyargs or a.vararg is None or a.kwarg is None:
        return _NOTHING
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and len(body) > 1:
        body = body[1:]  # a docstring
    if len(body) != 1 or not isinstance(body[0], ast.Return) or not isinstance(body[0].value, ast.Call):
        return _NOTHING
    call = body[0].value
    if not (isinstance(call.func, ast.Name) and len(call.args) == 1 and isinstance(call.args[0], ast.Starred)
            and isinstance(call.args[0].value, ast.Name) and call.args[0].value.id == a.vararg.arg
            and len(call.keywords) == 1 and call.keywords[0].arg is None
            and isinstance(call.keywords[0].value, ast.Name) and call.keywords[0].value.id == a.kwarg.arg):
        return _NOTHING
    value = resolve(fn, call.func.id)
    return target if value is target else _NOTHING


def judged_functions(fn: Any) -> list[types.FunctionType]:
    """The plain functions whose code runs when ``fn`` is called; NotInspectable for anything else.

    ``fn`` is the learner's function, or the grader's stand-in for it (an object whose class has
    ``__judged__``: the functions compiled from the submitted cells that the learner's process runs)."""
    judged = getattr(type(fn), "__judged__", None)
    if isinstance(judged, property):
        try:
            found = list(fn.__judged__)
        except (TypeError, ValueError) as err:
            raise NotInspectable(str(err)) from None
    elif type(fn) is types.FunctionType:
        found = [fn]
    else:
        raise NotInspectable(f"it is {describe(fn)}, not a function written with def (or lambda) in the "
                             "notebook: write it as a function")
    if not found or any(type(f) is not types.FunctionType for f in found):
        raise NotInspectable("the grader was given no code to read for it")
    out = []
    for f in found:
        for _ in range(5):  # decorators that only forward, looked through
            target = _forwards_to(f)
            if target is _NOTHING:
                break
            if type(target) is not types.FunctionType:
                raise NotInspectable(f"it forwards to {describe(target)}, not to a function written in the notebook")
            f = target
        out.append(f)
    return out


MAX_HELPER_DEPTH = 4  # helpers of helpers of ... followed this deep
MAX_HELPERS = 40


def _is_learners(obj: Any, home: types.FunctionType) -> bool:
    """Written in the notebook (the learner's), not a library's or the course's: the grader's
    stand-in for a learner's object, or a function or class of the notebook's own module."""
    if hasattr(type(obj), "__judged__"):
        return True
    if library_name(obj) is not None or isinstance(obj, types.ModuleType):
        return False
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if type(obj) is types.FunctionType:
        return obj.__globals__ is home.__globals__ or obj.__module__ == "__main__"
    if type(obj).__name__ == "partial" and hasattr(obj, "func"):
        return _is_learners(obj.func, home)
    module = getattr(obj if isinstance(obj, type) else type(obj), "__module__", None)
    return module == "__main__" or module == home.__module__


def _referenced(fn: types.FunctionType):
    """(name, called) for every bare name and ``name.attr`` the code of ``fn`` (nested code
    included) reads; ``called``: it is what a call calls."""
    try:
        source, _ = source_of(fn)
        tree = ast.parse(textwrap.dedent(source))
    except (NotInspectable, SyntaxError):
        return
    local = {v for c in code_objects(fn.__code__) for v in c.co_varnames + c.co_cellvars}
    params = defaults(fn)
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in local:
                if node.id in params:
                    yield node.id, params[node.id], id(node) in called
                continue
            yield node.id, resolve(fn, node.id), id(node) in called
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id not in local \
                and id(node) in called:
            owner = resolve(fn, node.value.id)
            if owner is not _NOTHING and _is_learners(owner, fn) and not isinstance(owner, types.ModuleType):
                try:
                    yield f"{node.value.id}.{node.attr}", getattr(owner, node.attr), True
                except Exception:  # noqa: BLE001 - what cannot be read fails below, named
                    yield f"{node.value.id}.{node.attr}", _NOTHING, True


def _key(f: types.FunctionType) -> tuple:
    """One function, however often the grader rebuilt it: its code and what its closure holds."""
    held = []
    for cell in f.__closure__ or ():
        try:
            held.append(id(cell.cell_contents))
        except ValueError:
            held.append(None)
    return (id(f.__code__), tuple(held))


def with_helpers(fn: Any) -> list[tuple[types.FunctionType, str | None]]:
    """(function, how it is reached) for the code that runs when ``fn`` is called: the functions of
    :func:`judged_functions`, then, transitively (``MAX_HELPER_DEPTH`` deep), the notebook's own
    functions and methods their code refers to (a helper where the loop lives counts). A helper
    that cannot be read (an object with ``__call__``, a partial, a class) fails closed when it is
    called: NotInspectable, naming it. ``how`` is None for ``fn`` itself, else ``"called by bmm"``."""
    out: list[tuple[types.FunctionType, str | None]] = []
    seen: set[int] = set()
    frontier: list[tuple[types.FunctionType, str | None]] = [(f, None) for f in judged_functions(fn)]
    for depth in range(MAX_HELPER_DEPTH + 1):
        nxt: list[tuple[types.FunctionType, str | None]] = []
        for f, how in frontier:
            if _key(f) in seen:
                continue
            seen.add(_key(f))
            out.append((f, how))
            if len(out) > MAX_HELPERS:
                raise NotInspectable(f"it calls more than {MAX_HELPERS} functions of the notebook: the rule check "
                                     "does not follow that many")
            for name, obj, called in _referenced(f):
                if obj is _NOTHING or obj is f or not _is_learners(obj, f):
                    continue
                if isinstance(obj, types.MethodType):
                    obj = obj.__func__
                if type(obj) is not types.FunctionType and not hasattr(type(obj), "__judged__") and not called:
                    continue  # a class or object of the notebook's that is only read
                try:
                    found = judged_functions(obj)
                except NotInspectable as err:
                    if not called:
                        continue  # an object of the notebook's that is only read (``_ops`` in ``_ops.mm(a)``)
                    raise NotInspectable(f"it calls `{name}`, which the rule check cannot read: {err}") from None
                if depth == MAX_HELPER_DEPTH and any(_key(g) not in seen for g in found):
                    raise NotInspectable(f"its helpers call each other more than {MAX_HELPER_DEPTH} deep (through "
                                         f"`{name}`): the rule check does not follow that far; call fewer layers")
                nxt += [(g, f"called by {f.__name__}") for g in found]
        frontier = nxt
        if not frontier:
            break
    return out


def resolve(fn: types.FunctionType, name: str) -> Any:
    """What ``name`` (a bare name in ``fn``'s code) refers to when ``fn`` runs, as far as can be
    told without running it: a closure cell, then the globals, then the builtins ``fn`` sees.
    A parameter's default is not a binding of the name in the body; see :func:`defaults`."""
    code = fn.__code__
    if name in code.co_freevars and fn.__closure__:
        cell = fn.__closure__[code.co_freevars.index(name)]
        try:
            return cell.cell_contents
        except ValueError:
            return _NOTHING
    g = fn.__globals__
    if name in g:
        return g[name]
    b = g.get("__builtins__", builtins)
    b = vars(b) if isinstance(b, types.ModuleType) else b
    return b.get(name, _NOTHING) if isinstance(b, dict) else _NOTHING


def defaults(fn: types.FunctionType) -> dict[str, Any]:
    """parameter name -> its default value."""
    code = fn.__code__
    names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
    out = dict(zip(names[code.co_argcount - len(fn.__defaults__ or ()):code.co_argcount], fn.__defaults__ or ()))
    out.update(fn.__kwdefaults__ or {})
    return out


LIBRARIES = ("numpy", "torch", "einops", "scipy", "math", "operator", "functools", "builtins", "itertools")


def library_name(obj: Any) -> str | None:
    """``numpy.matmul`` for a library function (or a partial of one), else None."""
    for _ in range(3):
        if type(obj).__name__ == "partial" and hasattr(obj, "func"):
            obj = obj.func
    try:
        name, module = getattr(obj, "__name__", None), getattr(obj, "__module__", None)
    except Exception:
        return None
    if type(name) is not str or type(module) is not str or module.split(".")[0] not in LIBRARIES:
        return None
    return f"{module}.{name}"
