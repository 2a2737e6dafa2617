"""The syllabus (course/authoring/syllabus.toml) against solutions/, and `bootcamp map`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from course.authoring import syllabus
from course.authoring.lessons import ROOT
from course.authoring.syllabus import SyllabusError, find_cycle
from course.cli import main


def test_the_syllabus_agrees_with_solutions():
    errors, notes = syllabus.check()
    for n in notes:
        print("note:", n)  # a planned lesson that has landed: not an error (see course/authoring/syllabus.py)
    assert errors == [], "\n".join(errors)


def test_every_lesson_in_solutions_is_listed_with_its_slug():
    syl = syllabus.load()
    slugs = {info.slug for info in syl.lessons.values() if info.slug}
    on_disk = {d.name for d in (ROOT / "solutions").iterdir() if (d / f"{d.name}.py").is_file()}
    assert slugs == on_disk


def test_each_lesson_has_a_module_level_objectives_and_known_prerequisites():
    syl = syllabus.load()
    for lid, info in syl.lessons.items():
        assert lid.split(".")[0] == info.module and info.level in syl.levels and info.objectives
        assert all(p in syl.lessons for p in info.prerequisites)
    assert find_cycle({i: list(x.prerequisites) for i, x in syl.lessons.items()}) is None
    assert syl.lessons["3.2"].prerequisites == ("3.1",) and "4.2" in syl.lessons["4.3"].prerequisites


# --------------------------------------------------------------------------- a made-up course
ENTRY = """
[[module.lesson]]
id = "{id}"
title = "{title}"
minutes = {minutes}
prerequisites = {prereqs}
level = "introductory"
objectives = ["do a thing"]
{extra}
"""


def make_course(tmp_path: Path, entries: list[dict], sources: dict[str, dict]) -> tuple[Path, Path]:
    """A course root with lesson sources (headers only) and a syllabus file listing `entries`."""
    root = tmp_path / "course"
    for slug, header in sources.items():
        (root / "solutions" / slug).mkdir(parents=True)
        prereqs = ", ".join(f'"{p}"' for p in header.get("prerequisites", []))
        (root / "solutions" / slug / f"{slug}.py").write_text(textwrap.dedent(f"""\
            # ---
            # jupyter:
            #   course:
            #     id: "{slug.split('-')[0]}"
            #     title: {header.get('title', 'A lesson')}
            #     minutes: {header.get('minutes', 60)}
            #     prerequisites: [{prereqs}]
            # ---

            # %%
            x = 1
            """))
    modules = sorted({e["id"].split(".")[0] for e in entries})
    text = 'levels = ["introductory", "advanced"]\n'
    for m in modules:
        text += f'\n[[module]]\nid = "{m}"\ntitle = "Module {m}"\n'
        for e in entries:
            if e["id"].split(".")[0] == m:
                text += ENTRY.format(id=e["id"], title=e.get("title", "A lesson"), minutes=e.get("minutes", 60),
                                     prereqs=str(list(e.get("prerequisites", []))).replace("'", '"'),
                                     extra=e.get("extra", ""))
    path = tmp_path / "syllabus.toml"
    path.write_text(text)
    return root, path


def test_a_lesson_missing_from_the_syllabus_is_an_error(tmp_path):
    root, path = make_course(tmp_path, [{"id": "0.1"}], {"0.1-a": {}, "0.2-b": {"prerequisites": ["0.1"]}})
    errors, _ = syllabus.check(root, path)
    assert any("solutions/0.2-b/0.2-b.py is not in the syllabus" in e for e in errors)


def test_a_header_that_disagrees_is_an_error_naming_both(tmp_path):
    root, path = make_course(tmp_path, [{"id": "0.1", "minutes": 90}], {"0.1-a": {"minutes": 60}})
    errors, _ = syllabus.check(root, path)
    assert errors == ["0.1: minutes: header 60, syllabus 90 (the header of solutions/0.1-a/0.1-a.py and "
                      "syllabus.toml must agree)"]


def test_a_planned_lesson_is_fine_before_and_after_it_lands(tmp_path):
    entries = [{"id": "0.1"}, {"id": "1.1", "prerequisites": ["0.1"], "minutes": 200, "extra": "planned = true"}]
    root, path = make_course(tmp_path, entries, {"0.1-a": {}})
    errors, notes = syllabus.check(root, path)
    assert errors == [] and notes == []
    assert syllabus.load(root, path).lessons["1.1"].planned
    # the lesson lands with a different estimate: a note, not an error, and the header wins
    (tmp_path / "course2").mkdir()
    root, path = make_course(tmp_path / "course2", entries,
                             {"0.1-a": {}, "1.1-b": {"minutes": 240, "prerequisites": ["0.1"]}})
    errors, notes = syllabus.check(root, path)
    assert errors == []
    assert notes == ["1.1 has landed in solutions/1.1-b/1.1-b.py: drop `planned = true` from its syllabus entry "
                     "and copy the header's values (minutes: header 240, syllabus 200)"]
    info = syllabus.load(root, path).lessons["1.1"]
    assert info.available and info.minutes == 240 and info.slug == "1.1-b"


def test_a_listed_lesson_without_source_must_be_marked_planned(tmp_path):
    root, path = make_course(tmp_path, [{"id": "0.1"}, {"id": "0.2"}], {"0.1-a": {}})
    errors, _ = syllabus.check(root, path)
    assert len(errors) == 1 and "0.2" in errors[0] and "planned = true" in errors[0]


def test_cycles_unknown_and_later_prerequisites_are_errors(tmp_path):
    entries = [{"id": "0.1", "prerequisites": ["0.3"], "extra": "planned = true"},
               {"id": "0.2", "prerequisites": ["0.1"], "extra": "planned = true"},
               {"id": "0.3", "prerequisites": ["0.2", "9.9"], "extra": "planned = true"},
               {"id": "0.4", "prerequisites": ["1.1"], "extra": "planned = true"},
               {"id": "1.1", "extra": "planned = true"}]
    root, path = make_course(tmp_path, entries, {})
    errors, _ = syllabus.check(root, path)
    assert "0.3: prerequisite '9.9' is not a lesson in the syllabus" in errors
    assert "0.4: prerequisite 1.1 is in a later module (1)" in errors
    assert any(e.startswith("the prerequisites form a cycle: ") and "0.1" in e and "0.3" in e for e in errors)


def test_unknown_keys_and_levels_are_errors(tmp_path):
    root, path = make_course(tmp_path, [{"id": "0.1", "extra": 'prereqs = ["0.0"]\nlevel2 = "x"'}], {"0.1-a": {}})
    errors, _ = syllabus.check(root, path)
    assert any("unknown key 'prereqs'" in e for e in errors)


def test_malformed_toml_is_a_clear_error(tmp_path):
    path = tmp_path / "syllabus.toml"
    path.write_text("levels = [\n")
    with pytest.raises(SyllabusError, match="not valid TOML"):
        syllabus.load(tmp_path, path)


def test_lookup_by_id_slug_or_path_and_unknown_names():
    syl = syllabus.load()
    assert syl.lesson("0.1").slug == "0.1-numpy"
    assert syl.lesson("0.1-numpy").id == "0.1"
    assert syl.lesson("exercises/0.1-numpy/0.1-numpy.ipynb").id == "0.1"
    assert syl.lesson("4.3").title == "Sparse autoencoders"
    assert syl.module("Module 1").id == "1" and syl.module("0").title == "From Python to tensors"
    with pytest.raises(SyllabusError, match="no lesson called '9.9'"):
        syl.lesson("9.9")
    with pytest.raises(SyllabusError, match="no module called '7'"):
        syl.module("7")


def test_depth_puts_each_lesson_after_its_prerequisites():
    syl = syllabus.load()
    d = syllabus.depth(syl)
    for lid, info in syl.lessons.items():
        assert all(d[p] < d[lid] for p in info.prerequisites)


# --------------------------------------------------------------------------- bootcamp map
@pytest.fixture
def learner_env(tmp_path, monkeypatch):
    """No grading service, and the learner's records in a scratch folder."""
    monkeypatch.setenv("BOOTCAMP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BOOTCAMP_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("BOOTCAMP_TOKEN", raising=False)
    return tmp_path / "data" / "learner"


def test_map_prints_the_graph_and_writes_a_png(learner_env, capsys):
    assert main(["map", "--png", str(learner_env / "map.png")]) == 0
    out = capsys.readouterr().out
    assert "Module 0 · From Python to tensors" in out
    assert "0.2  einops, einsum and tensor puzzles" in out and "needs 0.1" in out
    if any(info.planned for info in syllabus.load().lessons.values()):
        assert "(planned)" in out  # lessons not written yet are listed, greyed in the picture
    assert "next: 0.1 NumPy and vectorisation" in out
    png = learner_env / "map.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_map_of_one_lesson_shows_its_card(learner_env, capsys):
    assert main(["map", "3.2", "--no-png"]) == 0
    out = capsys.readouterr().out
    assert "3.2 Induction heads" in out and "Olsson et al." in out and "needs: 3.1 TransformerLens" in out


@pytest.mark.parametrize("argv, message", [
    (["map", "9.9"], "no lesson called '9.9'"),
    (["placement", "7"], "no module called '7'"),
    (["placement", "5"], "module 5 (Research extension) has no placement quiz yet"),
    (["hint", "9.9", "x"], "no lesson called '9.9'"),
    (["hint", "0.1", "no_such_exercise"], "lesson 0.1 has no exercise called 'no_such_exercise'"),
])
def test_unknown_lesson_or_module_is_bad_input(learner_env, capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_importing_the_learner_modules_stays_light():
    code = ("import sys, course.learner.commands, course.learner.progress, course.authoring.syllabus, course.learner.update, course.learner.placement, "
            "course.learner.hints; print(sorted(m for m in ('torch', 'matplotlib', 'nbformat', 'nbgrader', 'jupytext') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
