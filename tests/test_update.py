"""`bootcamp update`: learner notebooks merged into a new release, keyed by grade_id."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from course.authoring.lessons import ROOT
from course.cli import main
from course.learner import update  # before nbformat: it keeps a slow optional module out of nbformat's import
from course.learner.update import merge_notebook, notebook_text, update_from_dir, update_from_git


# --------------------------------------------------------------------------- tiny releases
def md(text, cid):
    return {"cell_type": "markdown", "id": cid, "metadata": {}, "source": text}


def answer(gid, body="    raise NotImplementedError()", fn=None):
    fn = fn or gid
    cell = {"cell_type": "code", "id": gid, "execution_count": None, "outputs": [],
            "source": f"def {fn}(x):\n    \"\"\"{gid}.\"\"\"\n    # YOUR CODE HERE\n{body}",
            "metadata": {"exercise": {"difficulty": 1, "importance": 1, "minutes": 1},
                         "nbgrader": {"grade": False, "solution": True, "locked": False, "grade_id": gid,
                                      "schema_version": 3, "cell_type": "code"}}}
    return _checksummed(cell)


def graded(gid, call, points=1):
    cell = {"cell_type": "code", "id": f"{gid}_test", "execution_count": None, "outputs": [],
            "source": f"assert {call}", "metadata": {
                "nbgrader": {"grade": True, "solution": False, "locked": True, "grade_id": f"{gid}_test",
                             "points": points, "schema_version": 3, "cell_type": "code"}}}
    return _checksummed(cell)


def _checksummed(cell):
    import nbformat
    from nbgrader.utils import compute_checksum

    cell["metadata"]["nbgrader"]["checksum"] = compute_checksum(nbformat.from_dict(json.loads(json.dumps(cell))))
    return cell


def notebook(cells):
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                        "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def release_v1():
    return notebook([md("# Tiny lesson v1", "a0a0a0a0a0"),
                     md("## Exercise: double", "b1b1b1b1b1"), answer("double"), graded("double", "double(2) == 4"),
                     md("## Exercise: square", "c2c2c2c2c2"), answer("square"), graded("square", "square(3) == 9"),
                     md("## Exercise: negate", "d3d3d3d3d3"), answer("negate"), graded("negate", "negate(1) == -1")])


def fill(nb, gid, body):
    """The learner writes an answer in the cell with this grade_id."""
    nb = json.loads(json.dumps(nb))
    for c in nb["cells"]:
        if c["metadata"].get("nbgrader", {}).get("grade_id") == gid:
            c["source"] = c["source"].replace("    # YOUR CODE HERE\n    raise NotImplementedError()", body)
            c["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "ran\n"}]
            c["execution_count"] = 3
    return nb


def learner_v1():
    nb = release_v1()
    nb = fill(nb, "double", "    return 2 * x  # mine")
    nb = fill(nb, "square", "    return x * x  # mine")
    nb = fill(nb, "negate", "    return -x  # mine")
    return nb


def cells_by_id(nb):
    return {c.get("id"): c for c in nb["cells"]}


def src(cell):
    s = cell["source"]
    return "".join(s) if isinstance(s, list) else s


def ids(nb):
    return [c.get("id") for c in nb["cells"]]


# --------------------------------------------------------------------------- the merge itself
def test_answers_kept_instructions_and_tests_take_the_new_version():
    new = release_v1()
    new["cells"][1]["source"] = "## Exercise: double (clearer wording)"
    new["cells"][1]["id"] = "e4e4e4e4e4"  # a changed markdown cell gets a new content id
    new["cells"][3]["source"] = "assert double(2) == 4 and double(0) == 0"  # a stricter test
    merged, report = merge_notebook(learner_v1(), new)
    by = cells_by_id(merged)
    assert "return 2 * x  # mine" in src(by["double"])
    assert by["double"]["outputs"] and by["double"]["execution_count"] == 3  # the learner's outputs stay
    assert by["double"]["metadata"]["nbgrader"] == new["cells"][2]["metadata"]["nbgrader"]
    assert src(by["double_test"]) == "assert double(2) == 4 and double(0) == 0"
    assert src(by["e4e4e4e4e4"]) == "## Exercise: double (clearer wording)" and "b1b1b1b1b1" not in by
    assert sorted(report.kept) == ["double", "negate", "square"]
    assert report.extra_cells == 0 and not report.removed


def test_untouched_answers_take_the_new_stub():
    new = release_v1()
    new["cells"][5] = answer("square", fn="square")
    new["cells"][5]["source"] = new["cells"][5]["source"].replace('"""square."""', '"""square, now documented."""')
    new["cells"][5] = _checksummed(new["cells"][5])
    learner = fill(release_v1(), "double", "    return 2 * x  # mine")  # square never started
    merged, report = merge_notebook(learner, new)
    assert "now documented" in src(cells_by_id(merged)["square"])
    assert report.kept == ["double"]


def test_added_exercise_appears_as_its_stub():
    new = release_v1()
    new["cells"][8:8] = [md("## Exercise: halve", "f5f5f5f5f5"), answer("halve"), graded("halve", "halve(2) == 1")]
    merged, report = merge_notebook(learner_v1(), new)
    assert report.added == ["halve"]
    assert ids(merged) == ids(new)
    assert "raise NotImplementedError" in src(cells_by_id(merged)["halve"])
    assert "return -x  # mine" in src(cells_by_id(merged)["negate"])


def test_removed_exercise_answer_goes_to_the_appendix():
    new = release_v1()
    del new["cells"][4:7]  # square, its markdown and its test
    merged, report = merge_notebook(learner_v1(), new, when="2026-11-22")
    assert report.removed == ["square"]
    tail = merged["cells"][-2:]
    assert tail[0]["id"] == "bootcamp-appendix" and "Appendix" in src(tail[0])
    assert "return x * x  # mine" in src(tail[1]) and "square" in src(tail[1])
    assert "nbgrader" not in tail[1]["metadata"]  # not graded, no duplicate grade_id
    assert tail[1]["metadata"]["bootcamp"]["removed_exercise"] == "square"
    assert "square_test" not in cells_by_id(merged)


def test_removed_exercise_never_started_is_not_kept():
    new = release_v1()
    del new["cells"][4:7]
    learner = fill(release_v1(), "double", "    return 2 * x")
    merged, report = merge_notebook(learner, new)
    assert report.removed == [] and report.dropped_stubs == ["square"]
    assert not any(c.get("id") == "bootcamp-appendix" for c in merged["cells"])


def test_renamed_exercise_found_by_its_function_name():
    new = release_v1()
    new["cells"][2] = answer("twice", fn="double")  # grade_id double -> twice, same function
    new["cells"][3] = graded("twice", "double(2) == 4")
    merged, report = merge_notebook(learner_v1(), new)
    assert report.renamed == [("double", "twice")]
    assert "return 2 * x  # mine" in src(cells_by_id(merged)["twice"])
    assert not report.removed and "bootcamp-appendix" not in ids(merged)


def test_renamed_exercise_found_by_renamed_from():
    new = release_v1()
    cell = answer("times_two", fn="times_two")  # a new function name too: only the metadata can tell
    cell["metadata"]["exercise"]["renamed_from"] = "double"
    new["cells"][2] = _checksummed(cell)
    new["cells"][3] = graded("times_two", "times_two(2) == 4")
    merged, report = merge_notebook(learner_v1(), new)
    assert report.renamed == [("double", "times_two")]
    assert "return 2 * x  # mine" in src(cells_by_id(merged)["times_two"])


def test_reordered_exercises_follow_the_new_order():
    old = release_v1()
    new = notebook([old["cells"][0], *old["cells"][7:10], *old["cells"][4:7], *old["cells"][1:4]])
    merged, report = merge_notebook(learner_v1(), new)
    assert ids(merged) == ids(new)
    by = cells_by_id(merged)
    assert "# mine" in src(by["negate"]) and "# mine" in src(by["square"]) and "# mine" in src(by["double"])
    assert sorted(report.kept) == ["double", "negate", "square"]


def test_learner_cells_stay_after_the_cell_they_followed():
    learner = learner_v1()
    mine_top = {"cell_type": "markdown", "id": "7d0c3b5e-1111-4a2b-9c3d-000000000001", "metadata": {},
                "source": "my notes at the top"}
    mine_after_double = {"cell_type": "code", "id": "7d0c3b5e-1111-4a2b-9c3d-000000000002", "metadata": {},
                         "source": "double(21)", "outputs": [], "execution_count": 4}
    mine_after_square_test = {"cell_type": "code", "id": "7d0c3b5e-1111-4a2b-9c3d-000000000003", "metadata": {},
                              "source": "print('square scratch')", "outputs": [], "execution_count": 5}
    learner["cells"].insert(0, mine_top)
    learner["cells"].insert(4, mine_after_double)  # after the `double` answer (index 3 now)
    learner["cells"].insert(9, mine_after_square_test)  # after square_test
    new = release_v1()
    old = release_v1()
    new = notebook([old["cells"][0], *old["cells"][7:10], *old["cells"][1:7]])  # negate moved first
    del new["cells"][7:10]  # and square removed
    merged, report = merge_notebook(learner, new)
    order = ids(merged)
    assert order[0] == mine_top["id"]
    assert order[order.index("double") + 1] == mine_after_double["id"]
    # square's cells are gone: the scratch cell moves to the nearest earlier surviving cell (double_test)
    assert order[order.index("double_test") + 1] == mine_after_square_test["id"]
    assert report.extra_cells == 3 and report.removed == ["square"]


def test_a_copied_graded_cell_is_kept_without_its_grade_id():
    learner = learner_v1()
    copy_cell = json.loads(json.dumps(learner["cells"][2]))
    copy_cell["id"] = "0f0f0f0f-copy"
    copy_cell["source"] = "def double(x):\n    return x + x  # an experiment"
    learner["cells"].insert(3, copy_cell)
    merged, report = merge_notebook(learner, release_v1())
    kept = cells_by_id(merged)["0f0f0f0f-copy"]
    assert "nbgrader" not in kept["metadata"] and "experiment" in src(kept)
    assert "return 2 * x  # mine" in src(cells_by_id(merged)["double"])
    gids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in merged["cells"]]
    assert len([g for g in gids if g]) == len({g for g in gids if g})


def test_merge_is_idempotent_and_the_appendix_survives_a_second_update():
    new = release_v1()
    del new["cells"][4:7]
    once, _ = merge_notebook(learner_v1(), new, when="2026-11-22")
    twice, report = merge_notebook(once, new, when="2026-12-01")
    assert twice == once and report.removed == []
    newer = json.loads(json.dumps(new))
    newer["cells"][0]["source"] = "# Tiny lesson v3"
    newer["cells"][0]["id"] = "9e9e9e9e9e"
    third, _ = merge_notebook(twice, newer)
    assert [c["id"] for c in third["cells"][-2:]] == ["bootcamp-appendix", "appendix-square"]
    assert "return x * x  # mine" in src(third["cells"][-1])


def test_merged_notebook_is_a_valid_notebook():
    import nbformat

    new = release_v1()
    del new["cells"][4:7]
    merged, _ = merge_notebook(learner_v1(), new)
    nbformat.validate(nbformat.reads(notebook_text(merged), as_version=4))


# --------------------------------------------------------------------------- files
@pytest.fixture
def course_dir(tmp_path, monkeypatch):
    """A learner's course directory with one tiny lesson, and a new release beside it."""
    monkeypatch.setenv("BOOTCAMP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BOOTCAMP_WORKSPACE", raising=False)
    root = tmp_path / "course"
    (root / "workspace" / "9.1-tiny").mkdir(parents=True)
    (root / "workspace" / "9.1-tiny" / "9.1-tiny.ipynb").write_text(notebook_text(learner_v1()))
    return root


def write_release(path: Path, nbs: dict[str, dict]) -> Path:
    for slug, nb in nbs.items():
        (path / slug).mkdir(parents=True, exist_ok=True)
        (path / slug / f"{slug}.ipynb").write_text(notebook_text(nb))
    return path


def test_update_from_dir_backs_up_first_and_merges(course_dir, tmp_path):
    new = release_v1()
    del new["cells"][4:7]
    rel = write_release(tmp_path / "new", {"9.1-tiny": new, "9.2-more": release_v1()})
    before = (course_dir / "workspace/9.1-tiny/9.1-tiny.ipynb").read_bytes()
    plan, saved = update_from_dir(rel, course_dir)
    assert plan.ok
    assert (saved / "workspace/9.1-tiny/9.1-tiny.ipynb").read_bytes() == before
    assert saved.parent == tmp_path / "data" / "learner" / "backups"
    merged = json.loads((course_dir / "workspace/9.1-tiny/9.1-tiny.ipynb").read_text())
    assert "return x * x  # mine" in src(merged["cells"][-1])
    assert (course_dir / "workspace/9.2-more/9.2-more.ipynb").is_file()  # a new lesson arrives
    assert {r.status for r in plan.reports} == {"merged", "new"}


def test_corrupt_learner_notebook_is_named_and_left_alone(cli_root, tmp_path, capsys):
    course_dir = cli_root
    broken = course_dir / "workspace" / "9.0-broken" / "9.0-broken.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"cells": [ {"cell_type": "code", ')  # cut off mid-save
    rel = write_release(tmp_path / "new", {"9.1-tiny": release_v1(), "9.0-broken": release_v1()})
    code = main(["update", "--from", str(rel)])
    out = capsys.readouterr()
    assert code == 1
    assert broken.read_text() == '{"cells": [ {"cell_type": "code", '
    assert "workspace/9.0-broken/9.0-broken.ipynb" in out.out + out.err and "not valid JSON" in out.out + out.err
    # the other notebook was still updated
    assert "# mine" in (course_dir / "workspace/9.1-tiny/9.1-tiny.ipynb").read_text()


@pytest.fixture
def cli_root(course_dir, monkeypatch):
    monkeypatch.setattr(update, "ROOT", course_dir)
    from course.learner import commands as learner
    monkeypatch.setattr(learner, "ROOT", course_dir)
    return course_dir


def test_update_cli_dry_run_writes_nothing(cli_root, tmp_path, capsys):
    new = release_v1()
    del new["cells"][4:7]
    rel = write_release(tmp_path / "new", {"9.1-tiny": new})
    before = (cli_root / "workspace/9.1-tiny/9.1-tiny.ipynb").read_bytes()
    assert main(["update", "--from", str(rel), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "removed (your answer is in the appendix): square" in out and "dry run" in out
    assert (cli_root / "workspace/9.1-tiny/9.1-tiny.ipynb").read_bytes() == before
    assert not (tmp_path / "data" / "learner" / "backups").exists()


def test_update_from_a_missing_directory_is_bad_input(cli_root, tmp_path, capsys):
    assert main(["update", "--from", str(tmp_path / "nowhere")]) == 2
    assert "no such directory" in capsys.readouterr().err


# --------------------------------------------------------------------------- a real lesson
def test_real_lesson_answers_survive_a_release_that_renames_and_removes(tmp_path, monkeypatch):
    monkeypatch.setenv("BOOTCAMP_DATA_DIR", str(tmp_path / "data"))
    slug = "0.1-numpy"
    released = json.loads((ROOT / "exercises" / slug / f"{slug}.ipynb").read_text())
    learner = json.loads(json.dumps(released))
    for c in learner["cells"]:
        gid = c["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in ("softmax", "one_hot"):
            c["source"] = re.sub(r"raise NotImplementedError\(.*\)", f"return 'my {gid}'", "".join(c["source"]))
    learner["cells"].insert(5, {"cell_type": "code", "id": "aa11bb22-learner", "metadata": {},
                                "source": "print('my scratch')", "outputs": [], "execution_count": None})
    new = json.loads(json.dumps(released))
    for c in new["cells"]:
        nbg = c["metadata"].get("nbgrader", {})
        if nbg.get("grade_id") == "softmax":  # renamed in the new release
            nbg["grade_id"] = c["id"] = "stable_softmax"
        if nbg.get("grade_id") == "softmax_test":
            nbg["grade_id"] = c["id"] = "stable_softmax_test"
    new["cells"] = [c for c in new["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id")
                    not in ("one_hot", "one_hot_test")]
    monkeypatch.delenv("BOOTCAMP_WORKSPACE", raising=False)
    root = tmp_path / "course"
    (root / "workspace" / slug).mkdir(parents=True)
    (root / "workspace" / slug / f"{slug}.ipynb").write_text(notebook_text(learner))
    rel = write_release(tmp_path / "new", {slug: new})
    plan, _ = update_from_dir(rel, root)
    (report,) = plan.reports
    assert report.renamed == [("softmax", "stable_softmax")] and report.removed == ["one_hot"]
    assert report.extra_cells == 1
    merged = json.loads((root / "workspace" / slug / f"{slug}.ipynb").read_text())
    by = cells_by_id(merged)
    assert "return 'my softmax'" in src(by["stable_softmax"])
    assert "return 'my one_hot'" in src(merged["cells"][-1])
    assert ids(merged)[5] == "aa11bb22-learner"


# --------------------------------------------------------------------------- git
def git(cwd, *args):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env).stdout


@pytest.fixture
def clone(tmp_path, monkeypatch):
    """An upstream course repository at v1 and a learner's clone of it."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    monkeypatch.setenv("BOOTCAMP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BOOTCAMP_WORKSPACE", raising=False)
    up = tmp_path / "upstream"
    write_release(up / "exercises", {"9.1-tiny": release_v1(), "9.3-other": release_v1()})
    (up / "README.md").write_text("v1\n")
    (up / ".gitignore").write_text("/workspace/\n")
    git(up, "init", "-q", "-b", "main")
    git(up, "add", ".")
    git(up, "commit", "-qm", "v1")
    git(tmp_path, "clone", "-q", str(up), "clone")
    learner = tmp_path / "clone"
    (learner / "workspace/9.1-tiny").mkdir(parents=True)
    (learner / "workspace/9.1-tiny/9.1-tiny.ipynb").write_text(notebook_text(learner_v1()))
    return up, learner


def release_v2(up):
    new = release_v1()
    del new["cells"][4:7]
    new["cells"][0]["source"] = "# Tiny lesson v2"
    new["cells"][0]["id"] = "1a1a1a1a1a"
    write_release(up / "exercises", {"9.1-tiny": new, "9.3-other": new})
    (up / "README.md").write_text("v2\n")
    git(up, "add", ".")
    git(up, "commit", "-qm", "v2")


def test_git_update_fast_forwards_and_keeps_answers(clone):
    up, learner = clone
    release_v2(up)
    out = update_from_git(learner)
    assert out.plan.ok
    assert git(learner, "rev-parse", "HEAD") == git(up, "rev-parse", "HEAD")
    assert (learner / "README.md").read_text() == "v2\n"
    merged = json.loads((learner / "workspace/9.1-tiny/9.1-tiny.ipynb").read_text())
    assert src(merged["cells"][0]) == "# Tiny lesson v2"
    assert "return 2 * x  # mine" in src(cells_by_id(merged)["double"])
    assert "return x * x  # mine" in src(merged["cells"][-1])  # removed upstream: in the appendix
    other = json.loads((learner / "exercises/9.3-other/9.3-other.ipynb").read_text())
    assert src(other["cells"][0]) == "# Tiny lesson v2"  # never opened by the learner: git brought the new one
    assert not (learner / "workspace/9.3-other").exists()
    assert (out.backup / "workspace/9.1-tiny/9.1-tiny.ipynb").is_file()
    # the learner's work is git-ignored: the clone is exactly the new commit
    assert git(learner, "status", "--porcelain").strip() == ""


def test_git_update_with_a_corrupt_notebook_names_it_and_leaves_it_alone(clone):
    up, learner = clone
    release_v2(up)
    broken = learner / "workspace/9.3-other/9.3-other.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text("{ not json")
    out = update_from_git(learner)
    assert broken.read_text() == "{ not json"
    assert any("workspace/9.3-other/9.3-other.ipynb" in p and "not valid JSON" in p for p in out.plan.problems)
    merged = json.loads((learner / "workspace/9.1-tiny/9.1-tiny.ipynb").read_text())
    assert src(merged["cells"][0]) == "# Tiny lesson v2"  # the other notebook was still updated
    assert git(learner, "rev-parse", "HEAD") == git(up, "rev-parse", "HEAD")


def test_git_update_that_cannot_fast_forward_changes_nothing(clone):
    up, learner = clone
    release_v2(up)
    (learner / "README.md").write_text("my edit of a course file\n")  # the release changes it too
    mine = (learner / "workspace/9.1-tiny/9.1-tiny.ipynb").read_bytes()
    head = git(learner, "rev-parse", "HEAD")
    with pytest.raises(update.UpdateError, match="nothing was changed"):
        update_from_git(learner)
    assert (learner / "workspace/9.1-tiny/9.1-tiny.ipynb").read_bytes() == mine
    assert git(learner, "rev-parse", "HEAD") == head


def test_git_update_refuses_a_diverged_branch(clone):
    up, learner = clone
    release_v2(up)
    (learner / "notes.txt").write_text("mine\n")
    git(learner, "add", "notes.txt")
    git(learner, "commit", "-qm", "my notes")
    with pytest.raises(update.UpdateError, match="cannot simply move forward"):
        update_from_git(learner)


def test_git_update_when_up_to_date(clone):
    _, learner = clone
    out = update_from_git(learner)
    assert not out.plan.writes and any("already up to date" in n for n in out.notes)


def test_git_update_cli_in_a_clone(clone, monkeypatch, capsys):
    up, learner = clone
    from course.learner import commands as learner_cli

    monkeypatch.setattr(learner_cli, "ROOT", learner)
    assert main(["update"]) == 0
    assert "already up to date" in capsys.readouterr().out
    release_v2(up)
    assert main(["update", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out and "removed (your answer is in the appendix): square" in out
    assert (learner / "README.md").read_text() == "v1\n"
    assert main(["update"]) == 0
    out = capsys.readouterr().out
    assert "workspace/9.1-tiny/9.1-tiny.ipynb: 2 answer(s) kept" in out and "backup of your notebooks" in out
    assert (learner / "README.md").read_text() == "v2\n"


def test_git_update_keeps_a_notebook_the_release_did_not_change(clone):
    up, learner = clone
    (up / "README.md").write_text("v2\n")
    git(up, "commit", "-qam", "only the README")
    mine = (learner / "workspace/9.1-tiny/9.1-tiny.ipynb").read_bytes()
    update_from_git(learner)
    assert (learner / "README.md").read_text() == "v2\n"
    assert (learner / "workspace/9.1-tiny/9.1-tiny.ipynb").read_bytes() == mine


def test_git_update_keeps_a_notebook_whose_lesson_the_release_dropped(clone):
    up, learner = clone
    git(up, "rm", "-rq", "exercises/9.1-tiny")
    git(up, "commit", "-qm", "drop 9.1")
    mine = (learner / "workspace/9.1-tiny/9.1-tiny.ipynb").read_bytes()
    out = update_from_git(learner)
    assert [r.status for r in out.plan.reports] == ["kept (not in the release)"]
    assert (learner / "workspace/9.1-tiny/9.1-tiny.ipynb").read_bytes() == mine
    assert git(learner, "rev-parse", "HEAD") == git(up, "rev-parse", "HEAD")
