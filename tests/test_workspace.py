"""The learner's workspace (issue 18): a learner's answers live apart from the release, so the
release checks never see them and no course tool can overwrite them.

The end-to-end test works on a real git clone of a one-lesson course (lesson 0.1 and the
``course`` package, copied from this checkout), as a learner would: open the lesson, write two
answers, run them; then everything that checks or changes the release (`bootcamp build --check`,
the stub verification that `./run.sh test` runs, `bootcamp build`, `git status`, a new upstream
release taken with `bootcamp update`), and the answers must come through byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course.authoring.lessons import ROOT, SOLUTION_BEGIN, SOLUTION_END, read_source
from course.learner import workspace

SLUG = "0.1-numpy"
ANSWERED = ("broadcast_shape", "standardise")  # the two exercises the learner answers
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env=dict(os.environ, **GIT_ENV)).stdout


def bootcamp(root: Path, *args: str, check_rc: int | None = 0) -> subprocess.CompletedProcess:
    """`bootcamp ARGS` run in the course copy at ``root`` (its own `course` package), as a learner types it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOTCAMP_")}
    env.update(PYTHONPATH=str(root), MPLBACKEND="Agg", BOOTCAMP_URL="http://127.0.0.1:9", COLUMNS="100", **GIT_ENV)
    got = subprocess.run([sys.executable, "-m", "course", *args], cwd=root, capture_output=True, text=True, env=env)
    if check_rc is not None:
        assert got.returncode == check_rc, f"bootcamp {' '.join(args)} -> {got.returncode}\n{got.stdout}\n{got.stderr}"
    return got


def copy_course(dest: Path) -> None:
    """The course package, lesson 0.1 (source and release) and the config: as the files are now."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "course", f"solutions/{SLUG}",
                             f"exercises/{SLUG}", "pyproject.toml", "nbgrader_config.py", ".gitignore"],
                            cwd=ROOT, check=True, capture_output=True, text=True).stdout.splitlines()
    for rel in listed:
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)


def solution_code(grade_id: str) -> str:
    """What a learner who got it right writes: the solution cell without nbgrader's markers."""
    nb = read_source(ROOT / "solutions" / SLUG / f"{SLUG}.py")
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return "\n".join(line for line in cell.source.splitlines() if line.strip() not in (SOLUTION_BEGIN, SOLUTION_END))


def answer(path: Path, answers: dict[str, str]) -> None:
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell["source"] = answers[gid]
    path.write_text(json.dumps(nb, indent=1) + "\n")


def answer_sources(path: Path) -> dict[str, str]:
    nb = json.loads(path.read_text())
    out = {}
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in ANSWERED:
            src = cell["source"]
            out[gid] = "".join(src) if isinstance(src, list) else src
    return out


@pytest.fixture(scope="module")
def course_clone(tmp_path_factory):
    """An upstream course repository (lesson 0.1) and a learner's clone of it."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    base = tmp_path_factory.mktemp("ws")
    up = base / "upstream"
    copy_course(up)
    git(up, "init", "-q", "-b", "main")
    git(up, "add", ".")
    git(up, "commit", "-qm", "release 1")
    git(base, "clone", "-q", str(up), "learner")
    return up, base / "learner"


@pytest.mark.notebooks
def test_answers_in_the_workspace_survive_every_release_check_build_and_update(course_clone):
    up, learner = course_clone
    # the learner opens the lesson: their copy is made from the release
    mine = learner / "workspace" / SLUG / f"{SLUG}.ipynb"
    out = bootcamp(learner, "progress", "--no-png").stdout
    assert f"workspace/{SLUG}/{SLUG}.ipynb" in out  # where `next:` sends them
    subprocess.run([sys.executable, "-c", f"from course.learner import workspace; workspace.open_lesson({SLUG!r})"],
                   cwd=learner, check=True, env=dict(os.environ, PYTHONPATH=str(learner)))
    assert mine.read_bytes() == (learner / "exercises" / SLUG / f"{SLUG}.ipynb").read_bytes()
    answers = {gid: solution_code(gid) for gid in ANSWERED}
    answer(mine, answers)
    written = answer_sources(mine)
    assert written == answers

    # they run it: the two answered exercises pass, the others are still to do
    got = bootcamp(learner, "check", SLUG, check_rc=1)
    rows = {line.split()[0]: line.split()[2] for line in got.stdout.splitlines() if line[:1].isalpha() and
            len(line.split()) > 2}
    assert rows["broadcast_shape"] == "pass" and rows["standardise"] == "pass" and rows["softmax"] == "todo", got.stdout
    assert str(mine.relative_to(learner)) in got.stdout

    # everything that checks the release: clean, and it never mentions the learner's work
    assert git(learner, "status", "--porcelain") == ""  # nothing for `git pull` to trip on
    check = bootcamp(learner, "build", "--check", SLUG)
    assert "current and leaks nothing" in check.stdout
    verify = subprocess.run(
        [sys.executable, "-c", "from course.authoring import lessons, verify; "
         f"v = verify.verify_stubs(lessons.find_lesson({SLUG!r})); print(len(v.results)); print(*v.problems, sep='\\n')"],
        cwd=learner, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(learner)))
    assert verify.returncode == 0 and verify.stdout.strip() == "10", verify.stdout + verify.stderr  # no problem lines
    before = mine.read_bytes()
    bootcamp(learner, "build", SLUG)
    assert mine.read_bytes() == before and git(learner, "status", "--porcelain") == ""

    # a new release upstream changes lesson 0.1's text; the learner takes it with `bootcamp update`
    src = up / "solutions" / SLUG / f"{SLUG}.py"
    src.write_text(src.read_text().replace("# ## Exercise 1", "# A sentence new in release 2.\n#\n# ## Exercise 1", 1))
    assert "new in release 2" in src.read_text()
    bootcamp(up, "build", SLUG)
    git(up, "commit", "-qam", "release 2")
    got = bootcamp(learner, "update")
    assert "2 answer(s) kept" in got.stdout and "backup of your notebooks" in got.stdout, got.stdout
    assert answer_sources(mine) == written  # every character of both answers
    assert "new in release 2" in mine.read_text()  # and the new text around them
    assert git(learner, "status", "--porcelain") == ""
    assert git(learner, "rev-parse", "HEAD") == git(up, "rev-parse", "HEAD")
    bootcamp(learner, "build", "--check", SLUG)


def test_work_written_in_exercises_moves_to_the_workspace_with_a_backup(course_clone, tmp_path):
    _, learner0 = course_clone
    learner = tmp_path / "old-learner"
    git(tmp_path, "clone", "-q", str(learner0), str(learner))
    release = learner / "exercises" / SLUG / f"{SLUG}.ipynb"
    answer(release, {"broadcast_shape": "def broadcast_shape(a, b):\n    return 'mine, ünïcode kept'  # ✓\n"})
    (release.parent / "scratch.txt").write_text("my notes\n")
    theirs = release.read_bytes()
    got = bootcamp(learner, "update", "--no-fetch")
    assert "now lives in workspace/" in got.stdout and "backup" in got.stdout, got.stdout
    mine = learner / "workspace" / SLUG / f"{SLUG}.ipynb"
    assert mine.read_bytes() == theirs  # not a character lost
    assert (mine.parent / "scratch.txt").read_text() == "my notes\n"
    assert git(learner, "status", "--porcelain") == ""  # exercises/ is the release again
    backups = list((learner / ".bootcamp" / "learner" / "backups").rglob(f"{SLUG}.ipynb"))
    assert any(b.read_bytes() == theirs for b in backups), backups
    # a second run finds nothing to move, and never overwrites the workspace copy
    again = bootcamp(learner, "update", "--no-fetch")
    assert "now lives in" not in again.stdout and mine.read_bytes() == theirs


def test_a_lesson_is_copied_once_and_never_overwritten(tmp_path, monkeypatch):
    root = tmp_path / "course"
    (root / "exercises" / "9.1-tiny").mkdir(parents=True)
    (root / "exercises" / "9.1-tiny" / "9.1-tiny.ipynb").write_text('{"cells": []}')
    (root / "exercises" / "9.1-tiny" / "data.txt").write_text("shipped with the lesson\n")
    monkeypatch.delenv(workspace.ENV, raising=False)
    path = workspace.open_lesson("9.1-tiny", root)
    assert path == root / "workspace" / "9.1-tiny" / "9.1-tiny.ipynb"
    assert (path.parent / "data.txt").is_file()
    path.write_text('{"cells": [1]}')
    (root / "exercises" / "9.1-tiny" / "9.1-tiny.ipynb").write_text('{"cells": [2]}')
    assert workspace.open_lesson("9.1-tiny", root).read_text() == '{"cells": [1]}'
    assert workspace.open_all(root) == []
    monkeypatch.setenv(workspace.ENV, str(tmp_path / "elsewhere"))
    assert workspace.notebook_path("9.1-tiny", root) == tmp_path / "elsewhere" / "9.1-tiny" / "9.1-tiny.ipynb"


def test_the_workspace_is_ignored_by_git_and_ruff():
    ignored = subprocess.run(["git", "check-ignore", "-q", "workspace/0.1-numpy/0.1-numpy.ipynb"], cwd=ROOT)
    assert ignored.returncode == 0, ".gitignore must ignore workspace/"
    assert '"workspace"' in (ROOT / "pyproject.toml").read_text().split("extend-exclude", 1)[1].splitlines()[0]


def test_an_authors_fresh_build_in_exercises_is_not_taken_for_learner_work(course_clone, tmp_path):
    _, learner0 = course_clone
    author = tmp_path / "author"
    git(tmp_path, "clone", "-q", str(learner0), str(author))
    release = author / "exercises" / SLUG / f"{SLUG}.ipynb"
    nb = json.loads(release.read_text())
    md = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    md["source"] = "# a reworded title, as `bootcamp build` writes it\n"
    release.write_text(json.dumps(nb, indent=1) + "\n")
    built = release.read_bytes()
    assert not workspace.holds_learner_work(release)
    assert workspace.migrate(author).moved == {}
    assert release.read_bytes() == built and not (author / "workspace").exists()
