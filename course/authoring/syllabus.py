"""The syllabus as data: modules, lessons, prerequisites, levels, objectives, papers.

``course/authoring/syllabus.toml`` lists every lesson, the planned ones included. Each lesson's
header (the ``course:`` block of ``solutions/<slug>/<slug>.py``) carries its id, title,
minutes and prerequisites too, because the notebook shows them; the syllabus carries
those *and* what the header does not (module, level, objectives, papers), so that it
reads as one complete syllabus and describes lessons that do not exist yet.

Which one wins: for a lesson whose source exists, the header. :func:`check` (run by
``tests/test_syllabus.py`` in CI) makes sure the two agree, so in practice they never
differ. An entry marked ``planned = true`` has no source yet; when its source lands the
header's values are used and :func:`check` only *notes* that the entry should drop
``planned`` and copy the header's values, so a lesson can land before the syllabus is
touched without turning CI red. A lesson in ``solutions/`` that the syllabus does not
list is an error, as are unknown prerequisites, cycles, and a prerequisite in a later
module.

Reading the syllabus costs one TOML file and the first lines of each lesson source (no
jupytext, no nbformat), so ``bootcamp map`` and ``progress`` start at once.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from course.authoring.lessons import ROOT, LessonError, all_lessons

SYLLABUS_PATH = Path(__file__).resolve().parent / "syllabus.toml"

_LESSON_KEYS = {"id", "title", "minutes", "prerequisites", "level", "objectives", "papers", "planned", "reproduces"}
_MODULE_KEYS = {"id", "title", "summary", "lesson"}
_PAPER_KEYS = {"title", "authors", "year", "url"}


class SyllabusError(LessonError):
    """The syllabus file is malformed, or a lesson/module name is unknown (exit status 2)."""


@dataclass(frozen=True)
class Paper:
    title: str
    authors: str = ""
    year: int | None = None
    url: str = ""

    def __str__(self) -> str:
        year = f" ({self.year})" if self.year else ""
        return f"{self.authors}{year}, {self.title}" if self.authors else f"{self.title}{year}"


@dataclass(frozen=True)
class LessonInfo:
    id: str
    module: str
    title: str
    minutes: int
    prerequisites: tuple[str, ...]
    level: str
    objectives: tuple[str, ...] = ()
    papers: tuple[Paper, ...] = ()
    reproduces: str = ""
    planned_flag: bool = False  # `planned = true` in the syllabus
    slug: str | None = None  # the directory in solutions/, None while the lesson has no source

    @property
    def available(self) -> bool:
        """The lesson has a source in solutions/ (and so an exercise notebook)."""
        return self.slug is not None

    @property
    def planned(self) -> bool:
        return not self.available

    def exercise_notebook(self, root: Path = ROOT) -> Path | None:
        return root / "exercises" / self.slug / f"{self.slug}.ipynb" if self.slug else None

    def label(self) -> str:
        return f"{self.id} {self.title}"


@dataclass(frozen=True)
class Module:
    id: str
    title: str
    summary: str
    lessons: tuple[str, ...]  # lesson ids in course order


@dataclass
class Syllabus:
    levels: tuple[str, ...]
    modules: dict[str, Module]
    lessons: dict[str, LessonInfo]  # course order: module by module, as listed
    problems: list[str] = field(default_factory=list)  # errors found while merging headers (see check())
    notes: list[str] = field(default_factory=list)

    def lesson(self, name: str) -> LessonInfo:
        """A lesson by id ("0.1"), slug ("0.1-numpy") or a path ending in either."""
        key = name.strip().rstrip("/")
        p = Path(key)
        if p.suffix in (".ipynb", ".py"):
            key = p.stem
        elif len(p.parts) > 1:
            key = p.name
        for info in self.lessons.values():
            if key in (info.id, info.slug):
                return info
        listing = "\n".join(f"  {i.id:<5} {i.title}" + ("  (planned)" if i.planned else "")
                            for i in self.lessons.values())
        from course.authoring.lessons import did_you_mean, lesson_names

        hint = did_you_mean(key, lesson_names((i.id, i.slug) for i in self.lessons.values()))
        raise SyllabusError(f"no lesson called {name!r}. The lessons are:\n{listing}"
                            + (f"\n{hint}" if hint else ""))

    def module(self, name: str) -> Module:
        key = str(name).strip().lower().removeprefix("module").strip()
        if key in self.modules:
            return self.modules[key]
        listing = "\n".join(f"  {m.id}  {m.title}" for m in self.modules.values())
        raise SyllabusError(f"no module called {name!r}. The modules are:\n{listing}")

    def module_of(self, lesson_id: str) -> Module:
        return self.modules[self.lessons[lesson_id].module]

    def order(self) -> list[str]:
        return list(self.lessons)

    def dependents(self, lesson_id: str) -> list[str]:
        return [i for i, info in self.lessons.items() if lesson_id in info.prerequisites]

    def ancestors(self, lesson_id: str) -> set[str]:
        """Every lesson that must come before this one (prerequisites, transitively)."""
        seen: set[str] = set()
        stack = list(self.lessons[lesson_id].prerequisites)
        while stack:
            x = stack.pop()
            if x in seen or x not in self.lessons:
                continue
            seen.add(x)
            stack.extend(self.lessons[x].prerequisites)
        return seen


# --------------------------------------------------------------------------- reading
def read_header(source: Path) -> dict:
    """The ``course:`` block of a lesson source's YAML header, read without jupytext."""
    import yaml  # pyyaml comes with jupytext

    lines = source.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].strip() != "# ---":
        return {}
    body = []
    for line in lines[1:]:
        if line.strip() == "# ---":
            break
        body.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
    try:
        header = yaml.safe_load("\n".join(body)) or {}
    except yaml.YAMLError as err:
        raise SyllabusError(f"{source}: the YAML header does not parse: {err}") from err
    course = (header.get("jupyter") or {}).get("course") or {}
    return dict(course) if isinstance(course, dict) else {}


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SyllabusError(f"{path}: the syllabus file is missing") from None
    except tomllib.TOMLDecodeError as err:
        raise SyllabusError(f"{path}: not valid TOML: {err}") from err


def _entries(data: dict, path: Path) -> tuple[tuple[str, ...], list[Module], list[LessonInfo], list[str]]:
    """Parse the TOML structure; malformed entries raise, softer problems are returned."""
    problems: list[str] = []
    levels = tuple(data.get("levels") or ())
    if not levels or not all(isinstance(x, str) for x in levels):
        raise SyllabusError(f"{path}: `levels` must be a non-empty list of strings")
    modules, lessons = [], []
    for m in data.get("module") or []:
        mid = str(m.get("id", ""))
        if not re.fullmatch(r"\d+", mid) or not m.get("title"):
            raise SyllabusError(f"{path}: every [[module]] needs an id (a number, as a string) and a title; got {m!r:.80}")
        for k in set(m) - _MODULE_KEYS:
            problems.append(f"{path}: module {mid}: unknown key {k!r} (known: {', '.join(sorted(_MODULE_KEYS))})")
        ids = []
        for entry in m.get("lesson") or []:
            lid = str(entry.get("id", ""))
            where = f"{path}: lesson {lid or '?'}"
            if not re.fullmatch(r"\d+\.\d+", lid):
                raise SyllabusError(f"{where}: id must look like \"1.2\"")
            for k in set(entry) - _LESSON_KEYS:
                problems.append(f"{where}: unknown key {k!r} (known: {', '.join(sorted(_LESSON_KEYS))})")
            if lid.split(".")[0] != mid:
                problems.append(f"{where}: listed under module {mid}, but its id says module {lid.split('.')[0]}")
            title, minutes = entry.get("title"), entry.get("minutes")
            if not isinstance(title, str) or not title:
                raise SyllabusError(f"{where}: needs a title")
            if not isinstance(minutes, int) or minutes <= 0:
                problems.append(f"{where}: minutes must be a positive whole number, not {minutes!r}")
                minutes = 0
            prereqs = entry.get("prerequisites", [])
            if not isinstance(prereqs, list) or not all(isinstance(p, str) for p in prereqs):
                raise SyllabusError(f"{where}: prerequisites must be a list of lesson ids (strings)")
            level = entry.get("level")
            if level not in levels:
                problems.append(f"{where}: level {level!r} is not one of {list(levels)}")
            objectives = entry.get("objectives") or []
            if not objectives or not all(isinstance(o, str) and o for o in objectives):
                problems.append(f"{where}: needs a non-empty list of objectives (what the learner can do afterwards)")
            papers = []
            for p in entry.get("papers") or []:
                if not isinstance(p, dict) or not p.get("title"):
                    problems.append(f"{where}: each paper needs at least a title: {p!r:.80}")
                    continue
                for k in set(p) - _PAPER_KEYS:
                    problems.append(f"{where}: paper {p['title']!r:.40}: unknown key {k!r}")
                papers.append(Paper(str(p["title"]), str(p.get("authors", "")), p.get("year"), str(p.get("url", ""))))
            lessons.append(LessonInfo(
                id=lid, module=mid, title=title, minutes=minutes, prerequisites=tuple(prereqs),
                level=str(level), objectives=tuple(objectives), papers=tuple(papers),
                reproduces=str(entry.get("reproduces", "")), planned_flag=bool(entry.get("planned", False)),
            ))
            ids.append(lid)
        modules.append(Module(mid, str(m["title"]), str(m.get("summary", "")), tuple(ids)))
    if not lessons:
        raise SyllabusError(f"{path}: lists no lessons ([[module.lesson]] entries)")
    return levels, modules, lessons, problems


def load(root: Path = ROOT, path: Path | None = None) -> Syllabus:
    """The syllabus merged with the lessons that exist under ``root/solutions``.

    Raises SyllabusError only when the file cannot be understood at all; everything else
    (a header that disagrees, a missing lesson, a cycle) is collected for :func:`check`.
    """
    path = Path(path or SYLLABUS_PATH)
    levels, modules, entries, problems = _entries(_read_toml(path), path)
    notes: list[str] = []
    lessons: dict[str, LessonInfo] = {}
    for info in entries:
        if info.id in lessons:
            problems.append(f"{path}: lesson {info.id} is listed twice")
            continue
        lessons[info.id] = info

    by_id: dict[str, list] = {}
    for lesson in all_lessons(root):
        by_id.setdefault(lesson.id, []).append(lesson)
    for lid, found in sorted(by_id.items()):
        if len(found) > 1:
            problems.append(f"solutions/: {len(found)} lessons share the id {lid}: "
                            + ", ".join(x.slug for x in found))
        lesson = found[0]
        src = f"solutions/{lesson.slug}/{lesson.slug}.py"
        if lid not in lessons:
            problems.append(f"{src} is not in the syllabus: add a [[module.lesson]] entry with id = \"{lid}\" "
                            f"to {path.name} (under module {lid.split('.')[0]})")
            continue
        info = lessons[lid]
        try:
            header = read_header(lesson.source)
        except SyllabusError as err:
            problems.append(str(err))
            header = {}
        merged, differences = _merge_header(info, header)
        lessons[lid] = replace(merged, slug=lesson.slug)
        if info.planned_flag:
            notes.append(f"{lid} has landed in {src}: drop `planned = true` from its syllabus entry"
                         + (f" and copy the header's values ({'; '.join(differences)})" if differences else ""))
        else:
            problems += [f"{lid}: {d} (the header of {src} and {path.name} must agree)" for d in differences]
    for info in lessons.values():
        if info.slug is None and not info.planned_flag:
            problems.append(f"{info.id} {info.title!r}: no source in solutions/ (expected "
                            f"solutions/{info.id}-<name>/{info.id}-<name>.py); add it, or mark the entry "
                            f"`planned = true`")
    syl = Syllabus(levels, {m.id: m for m in modules}, lessons, problems, notes)
    syl.problems += _graph_problems(syl)
    return syl


def _merge_header(info: LessonInfo, header: dict) -> tuple[LessonInfo, list[str]]:
    """Header values win; return the merged lesson and a line per field that differs."""
    diffs, updates = [], {}
    if "id" in header and str(header["id"]) != info.id:
        diffs.append(f"the header's id is {header['id']!r}, the directory's {info.id!r}")
    for key in ("title", "minutes", "prerequisites"):
        if key not in header:
            continue
        value = header[key]
        if key == "prerequisites":
            value = tuple(str(x) for x in (value or []))
        ours = getattr(info, key)
        if value != ours:
            shown = list(value) if key == "prerequisites" else value
            diffs.append(f"{key}: header {shown!r}, syllabus {list(ours) if key == 'prerequisites' else ours!r}")
            updates[key] = value
    return replace(info, **updates), diffs


def _graph_problems(syl: Syllabus) -> list[str]:
    problems = []
    module_rank = {m: n for n, m in enumerate(syl.modules)}
    for info in syl.lessons.values():
        for p in info.prerequisites:
            if p not in syl.lessons:
                problems.append(f"{info.id}: prerequisite {p!r} is not a lesson in the syllabus")
            elif p == info.id:
                problems.append(f"{info.id}: lists itself as a prerequisite")
            elif module_rank.get(syl.lessons[p].module, 0) > module_rank.get(info.module, 0):
                problems.append(f"{info.id}: prerequisite {p} is in a later module ({syl.lessons[p].module})")
    cycle = find_cycle({i: [p for p in x.prerequisites if p in syl.lessons] for i, x in syl.lessons.items()})
    if cycle:
        problems.append("the prerequisites form a cycle: " + " -> ".join(cycle))
    return problems


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle in ``graph`` (node -> the nodes it needs) as a list ending where it starts, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    for start in graph:
        if colour[start] != WHITE:
            continue
        stack = [(start, iter(graph[start]))]
        path = [start]
        colour[start] = GREY
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = BLACK
                stack.pop()
                path.pop()
            elif colour.get(child, BLACK) == GREY:
                return path[path.index(child):] + [child]
            elif colour.get(child) == WHITE:
                colour[child] = GREY
                stack.append((child, iter(graph[child])))
                path.append(child)
    return None


def check(root: Path = ROOT, path: Path | None = None) -> tuple[list[str], list[str]]:
    """(errors, notes) for CI: every lesson listed, headers agree, no cycle, prerequisites exist."""
    syl = load(root, path)
    return syl.problems, syl.notes


def topological_order(syl: Syllabus) -> list[str]:
    """Lesson ids so that each comes after its prerequisites; ties keep course order."""
    order, done = [], set()
    pending = list(syl.lessons)
    while pending:
        for lid in pending:
            if all(p in done or p not in syl.lessons for p in syl.lessons[lid].prerequisites):
                order.append(lid)
                done.add(lid)
                pending.remove(lid)
                break
        else:  # a cycle: check() reports it; keep going in course order
            order += pending
            break
    return order


def depth(syl: Syllabus) -> dict[str, int]:
    """The longest chain of prerequisites below each lesson (0 for a lesson with none)."""
    out: dict[str, int] = {}
    for lid in topological_order(syl):
        pre = [out.get(p, 0) for p in syl.lessons[lid].prerequisites if p in syl.lessons]
        out[lid] = 1 + max(pre) if pre else 0
    return out
