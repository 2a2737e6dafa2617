"""``bootcamp update``: take a new release of the course without losing a line of learner work.

The problem. A learner's notebooks change, and so does the release they came from.
``git pull`` over edited notebooks refuses ("your local changes would be overwritten") or
conflicts inside the notebook's JSON. So the learner works in their workspace
(``workspace/<lesson>/<lesson>.ipynb``, git-ignored: see ``course/learner/workspace.py``),
never in ``exercises/``, and ``bootcamp update`` first moves any work still found in
``exercises/`` into the workspace (backup first; ``exercises/`` back to the release).

Where the new release comes from:

* **a git clone** (the default): ``bootcamp update`` runs ``git fetch`` and
  ``git merge --ff-only`` to the upstream branch (course code, solutions, data and the
  release together; the workspace is git-ignored, so git never meets the learner's
  work), then merges each workspace notebook whose release changed into the new release.
  If the fast-forward fails (the learner committed work of their own, or edited a course
  file the update changes), nothing is written. ``--ref REF`` takes another ref (a tag),
  ``--no-fetch`` works offline from what was fetched before. After a ``git pull`` by hand,
  ``bootcamp update`` merges the notebooks whose release changed (the workspace records
  which release each copy came from).
* **a directory** (``--from DIR``): a fresh clone, a downloaded release or a freshly
  built ``exercises/`` (``bootcamp build`` into another checkout). Only the notebooks are
  merged; git is not touched.

The merge, per notebook, keyed by nbgrader's ``grade_id`` (see :func:`merge_notebook`):

* answer cells (nbgrader ``solution``) keep the learner's code and outputs, in the new
  version's place, with the new version's metadata; an answer the learner never touched
  (its nbgrader checksum still matches) takes the new stub;
* everything else (instructions, demos, test cells) takes the new version;
* an exercise whose ``grade_id`` changed is found by ``exercise.renamed_from`` in the new
  cell's metadata, or else by the function or class it defines; an exercise the new
  version removed keeps the learner's answer in an appendix at the end of the notebook
  (never dropped), and the appendix survives later updates;
* cells the learner added stay right after the cell they followed (or the nearest
  earlier cell that still exists).

Before anything is written, every learner notebook is copied to
``.bootcamp/learner/backups/<time>/workspace/``. A notebook that is not valid JSON is never
overwritten: the update names it and leaves it alone.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from course.authoring.lessons import ROOT, LessonError, exercise_of
from course.learner.progress import data_dir

# As in course/authoring/runner.py: keep jsonschema's optional IRI checker (seconds to import, unused by
# notebooks) out of nbformat's import.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

RELEASED_ID = re.compile(r"^[0-9a-f]{10}(-\d+)?$")  # the ids `bootcamp build` gives ungraded cells
APPENDIX_KEY = "bootcamp"


class UpdateError(LessonError):
    """The update cannot start (no git clone, no upstream, diverged branch): exit status 2."""


# --------------------------------------------------------------------------- cells
def _src(cell: dict) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else str(s or "")


def _nbg(cell: dict) -> dict:
    return (cell.get("metadata") or {}).get("nbgrader") or {}


def _gid(cell: dict) -> str | None:
    g = _nbg(cell).get("grade_id")
    return str(g) if g else None


def _is_answer(cell: dict) -> bool:
    return bool(_nbg(cell).get("solution"))


def _is_appendix(cell: dict) -> bool:
    return bool(((cell.get("metadata") or {}).get(APPENDIX_KEY) or {}).get("appendix"))


def _untouched(cell: dict) -> bool:
    """True when an answer cell is still the released stub (its nbgrader checksum matches)."""
    from course.learner.workspace import is_stub

    return is_stub(cell)


def _defined_names(source: str) -> set[str]:
    """Top-level functions and classes a cell defines (for spotting a renamed exercise)."""
    try:
        tree = ast.parse(source)
        return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    except SyntaxError:
        return set(re.findall(r"^(?:def|class)\s+(\w+)", source, re.M))


def _listify(x) -> list[str]:
    if not x:
        return []
    return [str(v) for v in x] if isinstance(x, list | tuple) else [str(x)]


@dataclass
class MergeReport:
    path: str
    kept: list[str] = field(default_factory=list)  # answers carried into the new version
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (old grade_id, new grade_id)
    added: list[str] = field(default_factory=list)  # exercises new in this version (their stub)
    removed: list[str] = field(default_factory=list)  # answers moved to the appendix
    dropped_stubs: list[str] = field(default_factory=list)  # removed exercises never started: nothing to keep
    stub_changed: list[str] = field(default_factory=list)  # answered exercises whose stub or points changed
    extra_cells: int = 0  # the learner's own cells, kept
    status: str = "merged"  # merged | unchanged | new | left alone | kept (not in the release)
    reason: str = ""

    def line(self) -> str:
        if self.status in ("left alone", "kept (not in the release)", "new", "unchanged"):
            return f"{self.path}: {self.status}" + (f": {self.reason}" if self.reason else "")
        parts = [f"{len(self.kept)} answer(s) kept"]
        if self.renamed:
            parts.append("renamed " + ", ".join(f"{a} → {b}" for a, b in self.renamed))
        if self.added:
            parts.append("new: " + ", ".join(self.added))
        if self.removed:
            parts.append("removed (your answer is in the appendix): " + ", ".join(self.removed))
        if self.extra_cells:
            parts.append(f"{self.extra_cells} cell(s) of your own kept")
        out = f"{self.path}: " + "; ".join(parts)
        if self.stub_changed:
            out += ("\n    changed in this version, check your answer against the new docstring: "
                    + ", ".join(self.stub_changed))
        return out


# --------------------------------------------------------------------------- the merge
def merge_notebook(learner: dict, new: dict, when: str = "", path: str = "") -> tuple[dict, MergeReport]:
    """Merge a learner notebook into a new release of it. Pure: returns a new dict."""
    report = MergeReport(path)
    new_cells = new.get("cells") or []
    new_by_gid = {g: c for c in new_cells if (g := _gid(c))}
    new_ids = {c.get("id") for c in new_cells if c.get("id")}
    new_answers = [g for g, c in new_by_gid.items() if _is_answer(c)]

    # 1. what each learner cell is
    kinds: list[tuple[str, str | None]] = []
    answers: dict[str, dict] = {}
    seen: set[str] = set()
    for c in learner.get("cells") or []:
        g = _gid(c)
        if _is_appendix(c):
            kinds.append(("appendix", None))
        elif g and g not in seen:
            seen.add(g)
            if _is_answer(c):
                answers[g] = c
                kinds.append(("answer", g))
            else:
                kinds.append(("graded", g))
        elif not g and c.get("id") and (c["id"] in new_ids or RELEASED_ID.match(str(c["id"]))):
            kinds.append(("released", c["id"]))
        else:  # the learner's own cell (or a copy of a graded cell: the grade_id already seen)
            kinds.append(("extra", None))

    # 2. renamed exercises: explicit `exercise.renamed_from`, else the same function/class defined
    old_only = [g for g in answers if g not in new_by_gid]
    new_only = [g for g in new_answers if g not in answers]
    rename: dict[str, str] = {}
    for g in new_only:
        for old in _listify(((new_by_gid[g].get("metadata") or {}).get("exercise") or {}).get("renamed_from")):
            if old in old_only and old not in rename:
                rename[old] = g
                break
    for g in new_only:
        if g in rename.values():
            continue
        names = _defined_names(_src(new_by_gid[g]))
        cands = [o for o in old_only if o not in rename and names & _defined_names(_src(answers[o]))]
        if names and len(cands) == 1:
            rename[cands[0]] = g
    report.renamed = [(o, n) for o, n in rename.items()]

    def new_key(kind: str, ident: str | None) -> tuple[str, str] | None:
        """The key of the new-version cell that a learner cell corresponds to, if it survives."""
        if kind in ("answer", "graded") and ident:
            if ident in new_by_gid:
                return ("g", ident)
            ex = exercise_of(ident)
            if ident in rename:
                return ("g", rename[ident])
            if ex in rename and ("g", rename[ex] + ident[len(ex):])[1] in new_by_gid:
                return ("g", rename[ex] + ident[len(ex):])
            return None
        if kind == "released" and ident in new_ids:
            return ("c", ident)
        return None

    # 3. the learner's own cells, attached to the nearest earlier cell that survives
    after: dict[tuple[str, str] | None, list[dict]] = {}
    old_appendix: list[dict] = []
    anchor: tuple[str, str] | None = None
    for c, (kind, ident) in zip(learner.get("cells") or [], kinds):
        if kind == "appendix":
            old_appendix.append(copy.deepcopy(c))
        elif kind == "extra":
            cell = copy.deepcopy(c)
            if _gid(cell):  # a copy of a graded cell: keep the code, not a duplicate grade_id
                cell["metadata"].pop("nbgrader", None)
            after.setdefault(anchor, []).append(cell)
            report.extra_cells += 1
        else:
            anchor = new_key(kind, ident) or anchor

    # 4. the new version, with the learner's answers and cells
    answer_for = {g: answers[g] for g in new_answers if g in answers}
    answer_for.update({n: answers[o] for o, n in rename.items()})
    out_cells = list(after.get(None, []))
    for nc in new_cells:
        g = _gid(nc)
        cell = copy.deepcopy(nc)
        if g and _is_answer(nc):
            lc = answer_for.get(g)
            if lc is None:
                report.added.append(g)
            elif not _untouched(lc):
                cell["source"] = lc.get("source", "")
                if cell.get("cell_type") == "code" and lc.get("cell_type") == "code":
                    cell["outputs"] = copy.deepcopy(lc.get("outputs") or [])
                    cell["execution_count"] = lc.get("execution_count")
                report.kept.append(g)
                if _gid(lc) == g and _nbg(lc).get("checksum") and _nbg(lc).get("checksum") != _nbg(nc).get("checksum"):
                    report.stub_changed.append(g)
        out_cells.append(cell)
        out_cells += after.get(("g", g) if g else ("c", nc.get("id")), [])

    # 5. the appendix: answers to removed exercises, never dropped
    removed = [o for o in old_only if o not in rename]
    fresh = []
    for o in removed:
        lc = answers[o]
        if _untouched(lc):
            report.dropped_stubs.append(o)
            continue
        report.removed.append(o)
        meta = {APPENDIX_KEY: {"appendix": True, "removed_exercise": o, "updated": when}}
        note = f"Your answer to `{o}`, an exercise that the version of {when or 'this update'} removed."
        if lc.get("cell_type") == "code":
            src = f"# {note}\n# Kept by `bootcamp update`; it is not graded.\n" + _src(lc)
            fresh.append({"cell_type": "code", "id": _unique_id(f"appendix-{o}", out_cells + old_appendix + fresh),
                          "metadata": meta, "source": src, "outputs": [], "execution_count": None})
        else:
            fresh.append({"cell_type": "markdown", "id": _unique_id(f"appendix-{o}", out_cells + old_appendix + fresh),
                          "metadata": meta, "source": f"*{note}*\n\n" + _src(lc)})
    appendix = old_appendix
    if fresh and not any(c.get("id") == "bootcamp-appendix" for c in old_appendix):
        appendix = [{"cell_type": "markdown", "id": "bootcamp-appendix",
                     "metadata": {APPENDIX_KEY: {"appendix": True}},
                     "source": "## Appendix: your answers to removed exercises\n\n"
                               "A course update removed the exercises below. `bootcamp update` kept your answers "
                               "here so that nothing you wrote is lost; they are not graded."}] + appendix
    out_cells += appendix + fresh

    merged = copy.deepcopy({k: v for k, v in new.items() if k != "cells"})
    merged["cells"] = out_cells
    return merged, report


def _unique_id(base: str, cells: list[dict]) -> str:
    used = {c.get("id") for c in cells}
    cid, n = base[:64], 1
    while cid in used:
        n += 1
        cid = f"{base[:58]}-{n}"
    return cid


# --------------------------------------------------------------------------- files
def read_notebook_json(path: Path) -> tuple[dict | None, str]:
    """(notebook dict, "") or (None, why it is unreadable)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 text ({err.reason})"
    except json.JSONDecodeError as err:
        return None, f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
    except OSError as err:
        return None, f"cannot be read ({err.strerror})"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return None, "JSON, but not a notebook (no list of cells)"
    return data, ""


def notebook_text(nb: dict) -> str:
    import nbformat

    return nbformat.writes(nbformat.from_dict(nb)) + "\n"


def _release_from_dir(src: Path) -> dict[str, bytes]:
    """{slug: notebook bytes} from DIR/<slug>/<slug>.ipynb (DIR may also be a course root)."""
    src = Path(src)
    if (src / "exercises").is_dir():
        src = src / "exercises"
    if not src.is_dir():
        raise UpdateError(f"{src}: no such directory (expected a release: <lesson>/<lesson>.ipynb inside)")
    out = {}
    for d in sorted(p for p in src.iterdir() if p.is_dir()):
        nb = d / f"{d.name}.ipynb"
        if nb.is_file():
            out[d.name] = nb.read_bytes()
    if not out:
        raise UpdateError(f"{src}: holds no lesson notebooks (<lesson>/<lesson>.ipynb)")
    return out


def learner_notebooks(root: Path) -> dict[str, Path]:
    """{slug: path} of the learner's notebooks: the workspace (course/learner/workspace.py)."""
    from course.learner import workspace

    return workspace.learner_notebooks(root)


def backup(paths: list[Path], root: Path, stamp: str) -> Path:
    """Copy each file to .bootcamp/learner/backups/<stamp>/<path relative to the course>."""
    from course.learner import workspace

    dest = data_dir(root) / "backups" / stamp
    ws = workspace.workspace_dir(root).resolve()
    for p in paths:
        p = Path(p).resolve()
        rel = Path("workspace") / p.relative_to(ws) if p.is_relative_to(ws) else p.relative_to(Path(root).resolve())
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)
    return dest


@dataclass
class Plan:
    """What an update will write: {path: text}, and a report per notebook."""

    writes: dict[Path, str] = field(default_factory=dict)
    reports: list[MergeReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why notebooks were left alone
    left_alone: set[str] = field(default_factory=set)  # their slugs

    @property
    def ok(self) -> bool:
        return not self.problems


def plan_merge(root: Path, release: dict[str, bytes], learner: dict[str, bytes | None], when: str) -> Plan:
    """Decide every write. ``learner`` maps slug -> the learner's bytes (None: no notebook)."""
    from course.learner import workspace

    plan = Plan()
    for slug in sorted(set(release) | {s for s, b in learner.items() if b is not None}):
        path = workspace.notebook_path(slug, root)
        rel = workspace.shown(path, root)
        mine = learner.get(slug)
        if slug not in release:
            plan.reports.append(MergeReport(rel, status="kept (not in the release)",
                                            reason="this lesson is not in the new release; your notebook stays"))
            continue
        try:
            new = json.loads(release[slug].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            plan.problems.append(f"{rel}: the NEW release of this notebook is not valid JSON ({err}); left alone")
            plan.left_alone.add(slug)
            plan.reports.append(MergeReport(rel, status="left alone", reason="the new release is broken"))
            continue
        if mine is None:
            plan.writes[path] = release[slug].decode("utf-8")
            plan.reports.append(MergeReport(rel, status="new", reason="a lesson new in this release"))
            continue
        try:
            nb = json.loads(mine.decode("utf-8"))
            if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
                raise ValueError("JSON, but not a notebook (no list of cells)")
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as err:
            why = (f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
                   if isinstance(err, json.JSONDecodeError) else str(err))
            plan.problems.append(f"{rel} is {why}: NOT updated, left exactly as it is. Repair it (or move it "
                                 f"away to get the new version) and run `bootcamp update` again")
            plan.left_alone.add(slug)
            plan.reports.append(MergeReport(rel, status="left alone", reason=why))
            continue
        merged, report = merge_notebook(nb, new, when, rel)
        text = notebook_text(merged)
        if text == mine.decode("utf-8"):
            report.status, report.reason = "unchanged", "already the new version"
        else:
            plan.writes[path] = text
        plan.reports.append(report)
    return plan


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def update_from_dir(src: Path, root: Path = ROOT, dry_run: bool = False) -> tuple[Plan, Path | None]:
    """Merge every learner notebook in the workspace into the release in ``src``."""
    from course.learner import workspace

    release = _release_from_dir(src)
    mine = learner_notebooks(root)
    learner = {slug: p.read_bytes() for slug, p in mine.items()}
    when = datetime.now().strftime("%Y-%m-%d")
    plan = plan_merge(root, release, learner, when)
    if dry_run:
        return plan, None
    stamp = _stamp()
    saved = backup(list(mine.values()), root, stamp) if mine else None
    for path, text in plan.writes.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for slug in release:
        if slug not in plan.left_alone and workspace.notebook_path(slug, root).is_file():
            workspace.record_base(slug, release[slug], root)
    return plan, saved


# --------------------------------------------------------------------------- git
def _git(root: Path, *args: str, check: bool = True, binary: bool = False):
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=not binary)
    if check and proc.returncode != 0:
        err = proc.stderr if not binary else proc.stderr.decode(errors="replace")
        raise UpdateError(f"git {' '.join(args)} failed: {err.strip().splitlines()[-1] if err.strip() else proc.returncode}")
    return proc


@dataclass
class GitOutcome:
    plan: Plan
    backup: Path | None
    old: str
    new: str
    notes: list[str]


def update_from_git(root: Path = ROOT, ref: str | None = None, fetch: bool = True,
                    dry_run: bool = False) -> GitOutcome:
    root = Path(root)
    if shutil.which("git") is None:
        raise UpdateError("git is not installed: use `bootcamp update --from DIR` with a new copy of the course")
    inside = _git(root, "rev-parse", "--is-inside-work-tree", check=False)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise UpdateError(f"{root} is not a git clone: use `bootcamp update --from DIR` with a new copy of the course")
    notes = []
    if ref is None:
        up = _git(root, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}", check=False)
        if up.returncode != 0:
            raise UpdateError("this branch follows no upstream branch: pass --ref REF (e.g. origin/main) or "
                              "--from DIR")
        ref = up.stdout.strip()
    if fetch:
        remote = ref.split("/", 1)[0] if "/" in ref else None
        got = _git(root, "fetch", "--quiet", *([remote] if remote else []), check=False)
        if got.returncode != 0:
            notes.append(f"could not fetch ({(got.stderr.strip().splitlines() or ['?'])[-1]}); "
                         f"using {ref} as it was last fetched")
    new = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False).stdout.strip()
    if not new:
        raise UpdateError(f"no such ref: {ref!r}")
    old = _git(root, "rev-parse", "HEAD").stdout.strip()
    if old == new:
        notes.append(f"the course is already up to date with {ref}")
    if old != new and _git(root, "merge-base", "--is-ancestor", old, new, check=False).returncode != 0:
        raise UpdateError(f"your branch has commits that {ref} does not have, so it cannot simply move forward. "
                          f"Either move your commits aside (`git branch my-work; git reset --keep {ref}` keeps your "
                          f"uncommitted notebooks), or run `bootcamp update --from DIR` with a fresh copy of the course")

    # the new release, from git objects
    listed = _git(root, "ls-tree", "-r", "--name-only", new, "--", "exercises").stdout.splitlines()
    release = {}
    for path in listed:
        parts = Path(path).parts
        if len(parts) == 3 and parts[2] == f"{parts[1]}.ipynb":
            release[parts[1]] = _git(root, "show", f"{new}:{path}", binary=True).stdout
    changed, notes2 = _workspace_changes(root, release, old)
    notes += notes2
    mine = learner_notebooks(root)
    learner = {slug: mine[slug].read_bytes() for slug in changed}
    when = datetime.now().strftime("%Y-%m-%d")
    # the workspace is git-ignored, so git moves the release forward without touching it; then each
    # learner notebook whose release changed is merged into the new release
    plan = plan_merge(root, {s: release[s] for s in changed}, learner, when)
    from course.learner import workspace

    for slug in sorted(set(mine) - set(release)):
        plan.reports.append(MergeReport(workspace.shown(mine[slug], root), status="kept (not in the release)",
                                        reason="this lesson is not in the new release; your notebook stays"))
    if dry_run:
        return GitOutcome(plan, None, old, new, notes)
    stamp = _stamp()
    saved = backup([mine[s] for s in sorted(mine)], root, stamp) if mine else None
    if old != new:
        ff = _git(root, "merge", "--ff-only", "--quiet", new, check=False)
        if ff.returncode != 0:
            raise UpdateError("git could not move to the new version, so nothing was changed:\n  "
                              + "\n  ".join(ff.stderr.strip().splitlines()[-6:]))
    _write_plan(plan, release, root)
    return GitOutcome(plan, saved, old, new, notes)


def _workspace_changes(root: Path, release: dict[str, bytes], old: str) -> tuple[set[str], list[str]]:
    """The workspace lessons whose release changed since their copy was made (or last merged)."""
    from course.learner import workspace

    bases = workspace.read_bases(root)
    changed, same = set(), 0
    for slug in learner_notebooks(root):
        if slug not in release:
            continue  # a lesson this release does not have: the notebook stays as it is
        base = bases.get(slug)
        if base is None:  # copied before the workspace kept a record: the release as of HEAD
            got = _git(root, "show", f"{old}:exercises/{slug}/{slug}.ipynb", check=False, binary=True)
            base = workspace.sha(got.stdout) if got.returncode == 0 else None
        if base != workspace.sha(release[slug]):
            changed.add(slug)
        else:
            same += 1
    notes = [f"{same} notebook(s) of yours whose lesson this release does not change: kept as they are"] if same else []
    return changed, notes


def _write_plan(plan: Plan, release: dict[str, bytes], root: Path) -> None:
    from course.learner import workspace

    for path, text in plan.writes.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for r in plan.reports:
        slug = Path(r.path).parent.name if hasattr(r, "path") else None
        if slug in release and slug not in plan.left_alone:
            workspace.record_base(slug, release[slug], root)
