"""What the tests' and the learner's cells define, read from their source (never run): which names a
test cell's visible part leaves for later cells, and the earlier definitions a cell needs, in the
order they ran. Used by tests.py (T) to keep L's names in step with one kernel."""

from __future__ import annotations

import ast
import functools
import re

# Every reader here is a function of a source's text alone, so each parses a text once per process
# and keeps the answer keyed by the exact text (a str, compared whole): never by a name or anything
# L says. The same text comes back often: a test cell's names are read for the names T asks L for
# and again for the cell itself; a rule check reads every submitted cell once per check (code.py).
_CACHE = 1024


def _names_in(src: str) -> frozenset[str]:
    return _names_in_text(src) if type(src) is str else _names_in_text.__wrapped__(src)


@functools.lru_cache(maxsize=_CACHE)
def _names_in_text(src: str) -> frozenset[str]:
    tree = _tree(src)
    return frozenset() if tree is None else frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))


@functools.lru_cache(maxsize=256)
def _tree(src: str) -> ast.Module | None:
    """One parse per text for the readers here and ``code._top_bindings``, which only read the tree (a
    test cell's names and its definitions, a learner's cell's names and bindings: one parse each);
    None when it does not parse."""
    try:
        return ast.parse(src)
    except SyntaxError:
        return None


_DEFINITION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


def _assigned(node) -> list[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    names = [t.id for t in targets if isinstance(t, ast.Name)]
    return names + [e.id for t in targets if isinstance(t, (ast.Tuple, ast.List)) for e in t.elts
                    if isinstance(e, ast.Name)]  # W_Q, W_K = ...


def _top_level_definitions(src: str) -> dict[str, str]:
    """name -> source of the top-level statement that defines it (def, class, import, ``name = ...``)."""
    if type(src) is not str:
        return dict(_top_level_definitions_text.__wrapped__(src))
    return dict(_top_level_definitions_text(src))


_NEWLINE = re.compile(r"\r\n|\r|\n")  # the line ends ast.get_source_segment splits at (not \f, \v, ...)


def _segment(src: str, starts: list[int], node) -> str | None:
    """``ast.get_source_segment(src, node)``, with the lines' starts found once per source, not once
    per node (ast splits the whole source again, character by character, for every segment)."""
    end, end_col = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
    if end is None or end_col is None:
        return None
    first, last = node.lineno - 1, end - 1

    def line(i: int) -> str:
        return src[starts[i]:starts[i + 1] if i + 1 < len(starts) else len(src)]

    if first == last:
        return line(first).encode()[node.col_offset:end_col].decode()
    return (line(first).encode()[node.col_offset:].decode() + src[starts[first + 1]:starts[last]]
            + line(last).encode()[:end_col].decode())


@functools.lru_cache(maxsize=_CACHE)
def _top_level_definitions_text(src: str) -> tuple[tuple[str, str], ...]:
    tree = _tree(src)
    if tree is None:
        return ()
    starts = [0] + [m.end() for m in _NEWLINE.finditer(src)]
    out = {}
    for node in tree.body:
        if isinstance(node, _DEFINITION_NODES):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [(a.asname or a.name).split(".")[0] for a in node.names]
            else:
                names = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            names = _assigned(node)
        elif isinstance(node, ast.With):  # ``with torch.no_grad(): ld = ...`` (3.3): the whole statement
            names = [n for child in node.body if isinstance(child, (ast.Assign, ast.AnnAssign)) for n in _assigned(child)]
        else:
            continue
        segment = _segment(src, starts, node)
        for name in names:
            if segment:
                out[name] = segment
    return tuple(out.items())


_CODE_NAMES: dict[int, tuple] = {}


def _code_names(cells) -> list:
    """(index, names) of the learner's code cells, parsed once per run."""
    got = _CODE_NAMES.get(id(cells))
    if got is None or got[0] is not cells:
        _CODE_NAMES.clear()
        got = _CODE_NAMES[id(cells)] = (cells, [(c["index"], _names_in(c["source"])) for c in cells
                                                if c["kind"] == "code"])
    return got[1]


def _redefine(definitions: dict[str, str], new: dict[str, str]) -> None:
    """Add a test's definitions after every earlier one, a name defined again included: the order of
    ``definitions`` is the order in which they ran (4.6: ``READ = ...`` ran before ``_w, _b = f(READ)``,
    but ``_w`` kept the place of an earlier test's ``_w``, so the prelude used READ before defining it)."""
    for name in new:
        definitions.pop(name, None)
    definitions.update(new)


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
