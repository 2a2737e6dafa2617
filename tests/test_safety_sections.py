"""Issue 22: every lesson says why its skill matters for AI safety, in its own words, with a citation.

Each lesson source has exactly one Markdown section headed `## Why this matters for safety`:
at least three sentences, at least one citation (an author and a year, e.g. "Wang et al. 2022"
or "(2022)"), and no sentence copied from another lesson's section (no boilerplate).
Also: every lesson with a `rubric.toml` grades exactly its manually graded cells.
"""

from __future__ import annotations

import re
from itertools import combinations

import pytest

from course.authoring import lessons
from course.learner import newproject

HEADING = "## Why this matters for safety"
MIN_SENTENCES = 3
MIN_CHARS = 250
# "Wang et al. 2022", "Wang et al. (2022)", "Elhage et al., 2021", "Nanda and Lieberum 2022", "Olah (2020)"
_CITATION = re.compile(
    r"\(\s*(?:19|20)\d\d[a-z]?\s*\)"
    r"|[A-Z][\w'-]+(?: et al\.| and [A-Z][\w'-]+)?,? \(?(?:19|20)\d\d[a-z]?\b")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")


def safety_section(cells) -> tuple[list[str], str]:
    """(problems, text) for one lesson's cells: the text of its safety section, heading excluded."""
    found = []
    for cell in cells:
        lines = cell.source.splitlines()
        for i, line in enumerate(lines):
            if line.strip() == HEADING:
                if cell.cell_type != "markdown":
                    return [f"'{HEADING}' is in a {cell.cell_type} cell; put it in a Markdown cell"], ""
                body = []
                for rest in lines[i + 1:]:
                    if re.match(r"#{1,2} ", rest):  # the next section of the same or a higher level
                        break
                    body.append(rest)
                found.append("\n".join(body).strip())
    if not found:
        return [f"no '{HEADING}' section: add one (3-8 sentences, specific to the lesson, with a citation)"], ""
    if len(found) > 1:
        return [f"'{HEADING}' appears {len(found)} times; keep one"], ""
    text = found[0]
    problems = []
    prose = re.sub(r"\$[^$]*\$|`[^`]*`|\([^()]*\)|\bet al\.|\be\.g\.|\bi\.e\.|\bvs\.", " ", text)
    n = len(_SENTENCE_END.findall(prose))
    if n < MIN_SENTENCES or len(text) < MIN_CHARS:
        problems.append(f"the safety section has {n} sentence(s) and {len(text)} characters; "
                        f"write at least {MIN_SENTENCES} sentences ({MIN_CHARS}+ characters) saying what a "
                        "researcher uses this skill for")
    if not _CITATION.search(text):
        problems.append("the safety section cites nothing: name the work that shows it, with its authors and "
                        "year, e.g. 'Wang et al. (2022), \"Interpretability in the Wild\"'")
    return problems, text


def _sentences(text: str) -> set[str]:
    flat = " ".join(text.split())
    return {s.strip() for s in re.split(r"(?<=[.!?])\s+", flat) if len(s.strip()) >= 60}


# --------------------------------------------------------------------------- the rule, on made-up lessons
class _Cell:
    def __init__(self, cell_type: str, source: str):
        self.cell_type, self.source = cell_type, source


GOOD = ("## Why this matters for safety\n\nAuditing a model starts with finding the components that "
        "drive a behaviour. Wang et al. (2022) did this for indirect object identification in GPT-2 small. "
        "Conmy et al. 2023 automated the search. A learner who can patch activations can check such claims "
        "on their own models.\n\n## Going further\n\nMore.")


def test_a_good_section_passes():
    problems, text = safety_section([_Cell("markdown", "# 9.9 A lesson"), _Cell("markdown", GOOD)])
    assert problems == [] and text.startswith("Auditing") and "Going further" not in text


@pytest.mark.parametrize("cells, expected", [
    ([_Cell("markdown", "# 9.9\n\n## Going further\nx")], "no '## Why this matters for safety' section"),
    ([_Cell("markdown", GOOD.replace("Wang et al. (2022)", "Someone").replace("Conmy et al. 2023", "Others"))],
     "cites nothing"),
    ([_Cell("markdown", "## Why this matters for safety\nIt helps safety (Wang et al. 2022).")], "1 sentence(s)"),
    ([_Cell("markdown", GOOD), _Cell("markdown", GOOD)], "appears 2 times"),
    ([_Cell("code", "x = 1\n" + GOOD)], "in a code cell"),
])
def test_a_missing_uncited_short_or_repeated_section_is_named(cells, expected):
    problems, _ = safety_section(cells)
    assert any(expected in p for p in problems), problems


# --------------------------------------------------------------------------- the rule, on the real lessons
def test_every_lesson_has_a_cited_safety_section_of_its_own():
    texts, problems = {}, []
    for lesson in lessons.all_lessons():
        found, text = safety_section(lessons.read_source(lesson.source).cells)
        problems += [f"{lesson.source.relative_to(lesson.root)}: {p}" for p in found]
        texts[lesson.id] = text
    for (a, ta), (b, tb) in combinations(texts.items(), 2):
        shared = _sentences(ta) & _sentences(tb)
        if shared:
            problems.append(f"lessons {a} and {b} share a sentence in their safety sections (boilerplate): "
                            f"{sorted(shared)[0][:100]!r}")
    assert not problems, "\n".join(problems)


def test_every_rubric_grades_exactly_its_lessons_manual_cells():
    with_rubric = [lesson for lesson in lessons.all_lessons() if (lesson.source.parent / "rubric.toml").is_file()]
    assert with_rubric, "lessons 5.0 and 5.1 have rubrics"
    for lesson in with_rubric:
        nb = lessons.read_source(lesson.source)
        manual = [(c.metadata["nbgrader"]["grade_id"], c.metadata["nbgrader"]["points"]) for c in nb.cells
                  if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")]
        rubric = newproject.load_rubric(lesson.source.parent / "rubric.toml")
        assert [(c["grade_id"], c["points"]) for c in rubric] == manual, lesson.slug
