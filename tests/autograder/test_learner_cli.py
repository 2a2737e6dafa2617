"""`bootcamp submit` and `bootcamp status` against a live service (issue 18): the exit status of a
partial score, the list of submissions, and every message in full, wrapped to the terminal."""

from __future__ import annotations

import pytest

from .test_service import live  # noqa: F401  (fixture)


@pytest.fixture
def learner_cli(service, live, monkeypatch):  # noqa: F811
    import course.learner.client as mod
    from course.authoring import lessons

    monkeypatch.setenv("BOOTCAMP_URL", live)
    monkeypatch.setenv("BOOTCAMP_TOKEN", service.tokens["lea"])
    monkeypatch.setenv("COLUMNS", "72")
    monkeypatch.setattr(mod, "find_lesson", lambda name: lessons.find_lesson(name, service.settings.course_dir))
    return mod


def test_submit_exits_0_on_a_partial_score_and_status_lists_every_submission(learner_cli, worker, sub, tmp_path,
                                                                              capsys):
    from course.cli import main

    wrong = sub().solve(norm="def norm(x):\n    return (x ** 2).sum()  # forgot the square root").bytes()
    path = tmp_path / "mine.ipynb"
    path.write_bytes(wrong)
    assert main(["submit", "9.8", "--notebook", str(path), "--timeout", "90"]) == 0  # graded: 2/5 is feedback
    out = capsys.readouterr().out
    assert "score 2/5" in out
    lines = out.splitlines()
    assert all(len(line) <= 72 for line in lines), "\n".join(x for x in lines if len(x) > 72)
    body = " ".join(" ".join(lines).split())
    assert "[norm] result differs: expected 5, got 25 max abs error 20" in body  # in full: wrapped, not cut
    path.write_bytes(sub().solve().bytes())
    assert main(["submit", "9.8", "--notebook", str(path), "--timeout", "90"]) == 0
    capsys.readouterr()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if "9.8" in line and ("/5" in line)]
    assert len(table) == 2 and "5/5" in table[0] and "2/5" in table[1], out  # newest first
    assert "`bootcamp status ID`" in out


def test_status_with_no_submissions_says_how_to_make_one(learner_cli, capsys):
    from course.cli import main

    assert main(["status"]) == 0
    assert "no submissions yet: `bootcamp submit LESSON`" in capsys.readouterr().out
