"""The learner's workspace: their own copy of each lesson, apart from the release.

As nbgrader keeps a student's fetched copy apart from ``release/``, the course keeps the
learner's notebooks in ``workspace/<lesson>/<lesson>.ipynb`` (git-ignored; set
``BOOTCAMP_WORKSPACE`` to put it elsewhere) and the release in ``exercises/``, which only
``bootcamp build`` and ``git pull`` write. So:

* the first time a lesson is opened (``bootcamp lab`` copies every lesson not there yet;
  ``bootcamp check/submit LESSON`` copy that one), its release folder is copied over;
* ``bootcamp check/submit/progress/update`` read and write the workspace copy;
* the release checks (``./run.sh test``, ``bootcamp build --check``, ``verify``) read
  ``exercises/`` only, so a learner's answers can never make them fail, and ``git pull``
  never meets a learner's edit.

A learner who wrote in ``exercises/`` before the workspace existed is moved over by
:func:`migrate` (``bootcamp update``, ``bootcamp lab``, or the first ``check``/``submit``
of that lesson): every file of theirs is backed up under ``.bootcamp/learner/backups/``,
copied into the workspace byte for byte, and ``exercises/`` is put back to the release
(``git checkout``). Nothing is ever overwritten: if the workspace already holds that
lesson, the ``exercises/`` copy arrives beside it as ``<lesson>.from-exercises.ipynb``.

The workspace also remembers which release each notebook came from (``.release.json``:
a SHA-256 per lesson), so ``bootcamp update`` merges a notebook only when its release
changed, after a ``git pull`` by hand as well.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from course.authoring.lessons import ROOT

ENV = "BOOTCAMP_WORKSPACE"
RELEASE_RECORD = ".release.json"


def workspace_dir(root: Path = ROOT) -> Path:
    """``$BOOTCAMP_WORKSPACE`` or ``<course>/workspace``."""
    env = os.environ.get(ENV)
    return Path(env).expanduser() if env else Path(root) / "workspace"


def release_dir(root: Path = ROOT) -> Path:
    return Path(root) / "exercises"


def notebook_path(slug: str, root: Path = ROOT) -> Path:
    """Where the learner's notebook of a lesson lives (it may not exist yet)."""
    return workspace_dir(root) / slug / f"{slug}.ipynb"


def shown(path: Path, root: Path = ROOT) -> str:
    """A path as the learner should type it: relative to the course when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- which release each copy came from
def read_bases(root: Path = ROOT) -> dict[str, str]:
    try:
        data = json.loads((workspace_dir(root) / RELEASE_RECORD).read_text())
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def record_base(slug: str, release_bytes: bytes | None, root: Path = ROOT) -> None:
    bases = read_bases(root)
    if release_bytes is None:
        bases.pop(slug, None)
    else:
        bases[slug] = sha(release_bytes)
    path = workspace_dir(root) / RELEASE_RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bases, indent=1, sort_keys=True) + "\n")


# --------------------------------------------------------------------------- copying a lesson in
def open_lesson(slug: str, root: Path = ROOT, migrate_first: bool = True) -> Path:
    """The learner's notebook of a lesson, copied from the release the first time.

    Everything in ``exercises/<slug>/`` that the workspace does not have yet is copied
    (data files a lesson reads sit beside its notebook); nothing there is overwritten.
    """
    if migrate_first:
        migrate(root, slugs=[slug])
    target = notebook_path(slug, root)
    if target.is_file():
        return target
    src = release_dir(root) / slug
    if not (src / f"{slug}.ipynb").is_file():
        return target  # no such release: the caller says so
    for path in sorted(src.rglob("*")):
        if path.is_dir() or ".ipynb_checkpoints" in path.parts or "__pycache__" in path.parts:
            continue
        dest = target.parent / path.relative_to(src)
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
    record_base(slug, (src / f"{slug}.ipynb").read_bytes(), root)
    return target


def open_all(root: Path = ROOT) -> list[str]:
    """Copy every released lesson the workspace does not hold yet; return their slugs."""
    base = release_dir(root)
    new = []
    for d in sorted(base.iterdir()) if base.is_dir() else []:
        if d.is_dir() and (d / f"{d.name}.ipynb").is_file() and not notebook_path(d.name, root).is_file():
            open_lesson(d.name, root, migrate_first=False)
            new.append(d.name)
    return new


def learner_notebooks(root: Path = ROOT) -> dict[str, Path]:
    """{slug: path} of every lesson notebook in the workspace."""
    base = workspace_dir(root)
    if not base.is_dir():
        return {}
    return {d.name: d / f"{d.name}.ipynb" for d in sorted(base.iterdir())
            if d.is_dir() and (d / f"{d.name}.ipynb").is_file()}


# --------------------------------------------------------------------------- moving work out of exercises/
@dataclass
class Migration:
    moved: dict[str, list[str]] = field(default_factory=dict)  # slug -> files copied into the workspace
    beside: list[str] = field(default_factory=list)  # files that arrived beside an existing workspace copy
    restored: list[str] = field(default_factory=list)  # release files put back in exercises/
    backup: Path | None = None
    problems: list[str] = field(default_factory=list)

    def lines(self, root: Path = ROOT) -> list[str]:
        if not self.moved and not self.problems:
            return []
        out = []
        if self.moved:
            ws = shown(workspace_dir(root), root)
            out.append(f"Your work in exercises/ now lives in {ws}/ (the course's own copy stays clean, so "
                       "`git pull`, `bootcamp build` and the tests never touch your answers):")
            for slug, files in self.moved.items():
                out.append(f"  {slug}: " + ", ".join(files) + f" -> {ws}/{slug}/")
            for b in self.beside:
                out.append(f"  {b}: the workspace already had this lesson, so your exercises/ copy is beside it")
            if self.backup:
                out.append(f"  backup of every moved file: {shown(self.backup, root)}")
            if self.restored:
                out.append(f"  exercises/ is back to the release ({len(self.restored)} file(s) restored)")
        out += [f"  NOT MOVED: {p}" for p in self.problems]
        return out


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True)


def _in_git(root: Path) -> bool:
    if shutil.which("git") is None:
        return False
    got = _git(root, "rev-parse", "--show-toplevel")
    return got.returncode == 0 and Path(got.stdout.decode().strip()).resolve() == Path(root).resolve()


def holds_learner_work(path: Path) -> bool:
    """A release notebook someone answered or ran: a code cell with outputs, or an answer cell that is
    no longer the released stub (its nbgrader checksum). A fresh `bootcamp build` is neither, so an
    author's uncommitted build is never taken for a learner's work."""
    try:
        cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return False
    for c in cells:
        if c.get("cell_type") == "code" and (c.get("outputs") or c.get("execution_count")):
            return True
        nbg = (c.get("metadata") or {}).get("nbgrader") or {}
        if nbg.get("solution") and nbg.get("checksum") and not is_stub(c):
            return True
    return False


def is_stub(cell: dict) -> bool:
    """True when an answer cell is still the released stub (its nbgrader checksum matches)."""
    want = ((cell.get("metadata") or {}).get("nbgrader") or {}).get("checksum")
    if not want:
        return False
    try:
        import copy

        import nbformat
        from nbgrader.utils import compute_checksum

        plain = copy.deepcopy(cell)
        src = plain.get("source", "")
        plain["source"] = "".join(src) if isinstance(src, list) else str(src or "")  # saved notebooks keep lines
        return compute_checksum(nbformat.from_dict(plain)) == want
    except Exception:
        return False


def edited_release_files(root: Path = ROOT, slugs: list[str] | None = None) -> dict[str, list[tuple[str, str]]]:
    """{slug: [(git status, path relative to the course)]} for the learner's work found in exercises/.

    A lesson counts when its notebook holds learner work (:func:`holds_learner_work`); then its
    other changed or untracked (not ignored) files move with it. Without git, only the notebook,
    and only while the workspace has no copy of that lesson yet.
    """
    root = Path(root)
    paths = [f"exercises/{s}" for s in slugs] if slugs else ["exercises"]
    out: dict[str, list[tuple[str, str]]] = {}
    if _in_git(root):
        got = _git(root, "status", "--porcelain", "-z", "--untracked-files=all", "--", *paths)
        entries = got.stdout.decode("utf-8", "replace").split("\0")
        for entry in entries:
            if len(entry) < 4:
                continue
            code, rel = entry[:2], entry[3:]
            parts = Path(rel).parts
            if len(parts) < 3 or parts[0] != "exercises":
                continue
            out.setdefault(parts[1], []).append((code, rel))
        return {slug: files for slug, files in out.items()
                if holds_learner_work(root / "exercises" / slug / f"{slug}.ipynb")}
    base = release_dir(root)
    for d in sorted(base.iterdir()) if base.is_dir() else []:
        nb = d / f"{d.name}.ipynb"
        if (slugs and d.name not in slugs) or not nb.is_file() or notebook_path(d.name, root).is_file():
            continue  # without git, a lesson already in the workspace was moved before
        if holds_learner_work(nb):
            out[d.name] = [(" M", f"exercises/{d.name}/{d.name}.ipynb")]
    return out


def migrate(root: Path = ROOT, slugs: list[str] | None = None, dry_run: bool = False) -> Migration:
    """Move the learner's edits in exercises/ into the workspace (backup first), then restore the release."""
    root = Path(root)
    found = edited_release_files(root, slugs)
    m = Migration()
    if not found:
        return m
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    data = os.environ.get("BOOTCAMP_DATA_DIR")  # as course.learner.progress.data_dir (this module imports none)
    backup = (Path(data) if data else root / ".bootcamp") / "learner" / "backups" / f"{stamp}-exercises"
    with_git = _in_git(root)
    for slug, entries in sorted(found.items()):
        files = []
        for code, rel in entries:
            src = root / rel
            if code.strip() == "D" or not src.is_file():
                if with_git and not dry_run:  # a deleted release file: only put it back
                    _git(root, "checkout", "--", rel)
                    m.restored.append(rel)
                continue
            inside = Path(rel).relative_to(Path("exercises") / slug)
            dest = workspace_dir(root) / slug / inside
            if dest.exists() and dest.read_bytes() != src.read_bytes():
                dest = dest.with_name(dest.stem.split(".")[0] + ".from-exercises" + "".join(dest.suffixes))
                m.beside.append(shown(dest, root))
            files.append(str(inside))
            if dry_run:
                continue
            (backup / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, backup / rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
            if dest.read_bytes() != src.read_bytes():  # never lose a character
                m.problems.append(f"{rel}: the copy in the workspace differs; left in exercises/ as well")
                continue
            if not with_git:
                continue  # nothing to restore it from: the file stays, and the workspace copy is the one used
            if code == "??":
                src.unlink()
            else:
                got = _git(root, "checkout", "--", rel)
                if got.returncode != 0:
                    m.problems.append(f"{rel}: copied, but git could not restore the release "
                                      f"({got.stderr.decode(errors='replace').strip()})")
                    continue
            m.restored.append(rel)
        if files:
            m.moved[slug] = files
            nb = release_dir(root) / slug / f"{slug}.ipynb"
            if not dry_run and with_git and nb.is_file() and slug not in read_bases(root):
                record_base(slug, nb.read_bytes(), root)  # the release it was written against
    if m.moved and not dry_run:
        m.backup = backup
    return m
