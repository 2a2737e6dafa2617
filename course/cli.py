"""`bootcamp`: the course's command line.

    bootcamp list                      the lessons, with ids and titles
    bootcamp build [LESSON...]         exercises/ from solutions/ (nbgrader generate_assignment)
    bootcamp build --check             fail if exercises/ is stale or leaks a solution
    bootcamp check LESSON [-v] [--notebook PATH]   run your notebook headlessly, print a table
    bootcamp lab [--no-browser]        JupyterLab on your workspace (workspace/, your copy of exercises/)
    bootcamp submit LESSON [--notebook PATH]  send a notebook to the grading service, print the result
    bootcamp status [ID]               your submissions and their grades
    bootcamp serve                     the grading service (API, worker, mentor dashboard)
    bootcamp admin ...                 cohorts, enrolment from CSV, tokens
    bootcamp models                    the course's models: size, metrics, the lesson that uses each
    bootcamp reproduce MODEL           retrain a shipped checkpoint from scratch and compare its metrics
    bootcamp map [LESSON]              the course map with your status; one lesson's objectives and papers
    bootcamp placement MODULE          grade a module's placement quiz: what to skip, start with, go back to
    bootcamp progress                  exercises passed per lesson, last attempt, the next lesson
    bootcamp update [--from DIR]       take course updates, keeping your answers (backup first)
    bootcamp hint LESSON [EXERCISE]    an exercise's hint, counted in your progress (never in your grade)
    bootcamp timing [LESSON]           your active time per lesson and exercise, beside the estimates
    bootcamp transcript [--out FILE] [--html FILE]   your signed transcript (and the service's public key)
    bootcamp verify FILE [--public-key FILE]         check a transcript offline (exit 1 if invalid)
    bootcamp proposals | claim ID | peers            project proposals, claiming one, peer matching
    bootcamp new-project LESSON DIR    a standalone research project from a replication's model and checkpoint

Exit status: 0 success, 1 a check or test failed, 2 bad input (unknown lesson, not a
notebook, malformed source).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from course.authoring.lessons import ROOT, LessonError, all_lessons, find_lesson
from course.learner.client import add_subcommands as add_service_subcommands
from course.learner.commands import add_subcommands as add_learner_subcommands
from course.learner.newproject import add_subcommands as add_project_subcommands
from course.learner.proposals import add_subcommands as add_proposal_subcommands
from course.learner.transcript import add_subcommands as add_transcript_subcommands
from course.models.cli import add_subcommands as add_model_subcommands


def _lessons_from(names: list[str]):
    return [find_lesson(n) for n in names] if names else all_lessons()


def cmd_list(args) -> int:
    from course.authoring.syllabus import read_header  # the header only: no jupytext, no validation (fast)

    for lesson in all_lessons():
        meta = read_header(lesson.source)
        print(f"{lesson.id:<5} {lesson.slug:<28} {meta.get('title', '')}  (~{meta.get('minutes', '?')} min)")
    return 0


def cmd_build(args) -> int:
    from course.authoring.lessons import build, leaks, stale_exercises

    lessons = _lessons_from(args.lessons)
    if args.check:
        problems = stale_exercises(lessons)
        for lesson in lessons:
            problems += leaks(lesson)
        for p in problems:
            print(p)
        print(f"{len(lessons)} lesson(s) checked: " + ("exercises/ is current and leaks nothing" if not problems
                                                       else f"{len(problems)} problem(s)"))
        return 1 if problems else 0
    start = time.perf_counter()
    for path in build(lessons):
        print(f"wrote {path.relative_to(ROOT)}")
    problems = [p for lesson in lessons for p in leaks(lesson)]
    for p in problems:
        print(f"LEAK: {p}", file=sys.stderr)
    print(f"built {len(lessons)} lesson(s) in {time.perf_counter() - start:.1f} s")
    return 1 if problems else 0


def cmd_check(args) -> int:
    from course.authoring.runner import format_table, run_notebook

    lesson = find_lesson(args.lesson)
    path = Path(args.notebook) if args.notebook else _learner_notebook(lesson)
    run = run_notebook(path, timeout=args.timeout)
    print(f"{lesson.id} {run.title or lesson.slug}: {path}")
    print(format_table(run.results, verbose=args.verbose, width=_width(), lesson=lesson.id))
    for line in _outside_notes(run.errors_outside_tests):
        print(line)
    print(f"ran in {run.seconds:.1f} s")
    # issue 9: keep the result for `bootcamp progress` when no grading service runs
    from course.learner.progress import record_check

    record_check(lesson, run, path)
    return 0 if all(r.passed for r in run.results) else 1


def _outside_notes(errors: list[str], most: int = 5) -> list[str]:
    """Errors in cells that are not tests: real ones first, each on a line; the cells that only
    stopped at an exercise not written yet (demos, plots) in one line, since that is expected."""
    waiting = [e.split(" (", 1)[0].removeprefix("cell ") for e in errors if e.endswith(": not implemented yet")]
    real = [e for e in errors if not e.endswith(": not implemented yet")]
    lines = [f"note: an error outside the tests, {e}" for e in real[:most]]
    if len(real) > most:
        lines.append(f"note: {len(real) - most} more error(s) outside the tests")
    if waiting:
        lines.append(f"note: {len(waiting)} other cell(s) ({', '.join(waiting)}; numbered from the top, Markdown "
                     "included) call an exercise not written yet; they run once it is")
    return lines


def _width() -> int:
    import shutil

    return max(60, shutil.get_terminal_size((100, 24)).columns)


def _learner_notebook(lesson) -> Path:
    """The learner's copy in the workspace (copied from exercises/ the first time; earlier work moved)."""
    from course.learner import workspace

    moved = workspace.migrate(ROOT, slugs=[lesson.slug])
    for line in moved.lines(ROOT):
        print(line, file=sys.stderr)
    path = workspace.open_lesson(lesson.slug, ROOT, migrate_first=False)
    if not path.is_file():
        raise LessonError(f"{lesson.slug} has no released notebook (exercises/{lesson.slug}/): "
                          f"run `bootcamp build {lesson.id}`")
    return path


def cmd_lab(args) -> int:
    from course.learner import workspace

    moved = workspace.migrate(ROOT)
    for line in moved.lines(ROOT):
        print(line, flush=True)
    workspace.open_all(ROOT)
    from course.learner import placement

    placement.open_all(ROOT)  # the placement quizzes too: JupyterLab shows only the workspace
    target = workspace.workspace_dir(ROOT)
    argv = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={target}"]
    if args.no_browser:
        argv.append("--no-browser")
    if args.port:
        argv.append(f"--port={args.port}")
    # the submit button (course.learner.submit) saves the notebook through the page's app object
    argv.append("--LabApp.expose_app_in_browser=True")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")  # containers and CI machines often run as root
    argv += args.extra
    os.environ.setdefault("BOOTCAMP_RECORD_CELLS", "1")  # exercise times, kept in your own folder (learner/timing.py)
    print(f"JupyterLab on {target} (Ctrl-C to stop)", flush=True)
    os.execv(sys.executable, argv)
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bootcamp", description="The interpretability bootcamp course.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="list the lessons")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("build", help="generate exercises/ from solutions/ with nbgrader")
    s.add_argument("lessons", nargs="*", metavar="LESSON", help="lesson ids or names (default: all)")
    s.add_argument("--check", action="store_true", help="fail if exercises/ is stale or leaks solutions")
    s.set_defaults(func=cmd_build)

    s = sub.add_parser("check", help="run a lesson notebook headlessly and print a table of its tests")
    s.add_argument("lesson", metavar="LESSON")
    s.add_argument("--notebook", metavar="PATH",
                   help="notebook to run (default: your copy, workspace/<lesson>/<lesson>.ipynb)")
    s.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    s.add_argument("-v", "--verbose", action="store_true",
                   help="every message in full: the numbers, the likely cause and the hint (passing tests too)")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("lab", help="open the course in JupyterLab")
    s.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    s.add_argument("--port", type=int)
    s.set_defaults(func=cmd_lab)  # any other --Option=value is passed on to jupyter lab

    add_service_subcommands(sub)  # submit, status, serve, admin: HTTP to the service (course/learner/client.py)
    add_model_subcommands(sub)  # models, reproduce MODEL (course/models/)
    add_learner_subcommands(sub)  # map, placement, progress, update, hint (course/learner/commands.py)
    add_transcript_subcommands(sub)  # transcript, verify (course/learner/transcript.py)
    add_project_subcommands(sub)  # new-project LESSON NAME (course/learner/newproject.py)
    add_proposal_subcommands(sub)  # proposals, claim, peers (course/learner/proposals.py)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["admin"]:  # everything after `admin` belongs to the service's own parser
        args = parser.parse_args(["admin"])
        args.admin_args = argv[1:]
        extra = []
    else:
        args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return args.func(args)
    except BrokenPipeError:  # `bootcamp progress | head`: the reader has what it wanted
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        except OSError:
            pass
        return 0
    except LessonError as err:
        print(f"bootcamp: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
