"""The self-paced learner's commands: ``map``, ``placement``, ``progress``, ``update``, ``hint``.

    bootcamp map [LESSON]              the prerequisite graph coloured by your status (and a PNG); one lesson's card
    bootcamp placement [MODULE]        grade a module's placement quiz: what to skip, where to start, where to go back
    bootcamp progress                  exercises passed per lesson, last attempt, hints, the next lesson (and a PNG)
    bootcamp update [--from DIR]       take a new release of the course, keeping every answer (see course/learner/update.py)
    bootcamp hint LESSON [EXERCISE]    show an exercise's hint and count it (never penalised)
    bootcamp hint LESSON EXERCISE --walkthrough   the annotated walkthrough (third tier, counted)

``course.cli`` registers them with :func:`add_subcommands`. Nothing heavy is imported
until a command runs (matplotlib only to draw a picture).
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from course.authoring.lessons import ROOT

LEGEND = "✓ done  » skipped (placement)  ◐ in progress  ○ ready  · locked  - planned   → next"


# --------------------------------------------------------------------------- map
def _status_progress(args, root: Path):
    from course.learner.progress import collect

    return collect(root, use_service=not getattr(args, "no_service", False))


def format_map(p) -> str:
    from course.authoring.timing import measured_text
    from course.learner.progress import STATUS_MARK, _hours

    syl = p.syllabus
    width = max(len(i.title) + (10 if i.planned else 0) for i in syl.lessons.values())
    lines = [f"Course map   {LEGEND}", ""]
    for mod in syl.modules.values():
        lines.append(f"Module {mod.id} · {mod.title}")
        for lid in mod.lessons:
            lp = p.lessons[lid]
            info = lp.info
            title = info.title + (" (planned)" if info.planned else "")
            needs = f"needs {', '.join(info.prerequisites)}" if info.prerequisites else "no prerequisites"
            arrow = "→" if p.next == lid else " "
            lines.append(f"  {STATUS_MARK[lp.status]} {arrow} {lid:<4} {title:<{width}}  {info.level:<12}  "
                         f"{_hours(info.minutes):>7}  {needs}{measured_text(lid)}")
        lines.append("")
    from course.learner.progress import next_line

    lines.append(next_line(p))
    return "\n".join(lines)


def plot_map(p, path: Path) -> Path:
    """The prerequisite graph, left to right by depth, each lesson coloured by its status."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

    from course.learner.progress import STATUS_COLOUR, STATUS_TEXT

    syl = p.syllabus
    pos, columns = map_layout(syl)
    tallest = max(len(c) for c in columns.values())
    fig, ax = plt.subplots(figsize=(2.4 * len(columns) + 1, 1.6 * tallest + 1.6))
    w, h = 2.05, 0.8
    from matplotlib.path import Path as MPath

    routes = edge_routes(syl, pos, w, h)
    for (_pre, lid), (p0, c, p1) in routes.items():
        info = syl.lessons[lid]
        ax.add_patch(FancyArrowPatch(path=MPath([p0, c, p1], [MPath.MOVETO, MPath.CURVE3, MPath.CURVE3]),
                                     arrowstyle="-|>", mutation_scale=10, color="#78909c", lw=1,
                                     linestyle="--" if info.planned else "-", zorder=1))
    for lid, info in syl.lessons.items():
        x, y = pos[lid]
        lp = p.lessons[lid]
        colour = STATUS_COLOUR[lp.status]
        edge = "#d32f2f" if p.next == lid else "#455a64"
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                                    facecolor=colour, edgecolor=edge, lw=2.2 if p.next == lid else 1,
                                    linestyle="--" if info.planned else "-", zorder=2))
        dark = lp.status in ("done", "ready")
        text_colour = "#9e9e9e" if info.planned else ("white" if dark else "#212121")
        title = textwrap.fill(info.title, 22)
        extra = ""
        if lp.exercises and not info.planned:
            extra = f"\n{len(lp.passed)}/{len(lp.exercises)}"
        ax.text(x, y, f"{lid}  {title}{extra}", ha="center", va="center", fontsize=7.5, color=text_colour, zorder=3)
    handles = [Patch(facecolor=STATUS_COLOUR[s], edgecolor="#455a64", label=STATUS_TEXT[s])
               for s in ("done", "placed", "started", "ready", "locked", "planned")]
    handles.append(Patch(facecolor="white", edgecolor="#d32f2f", lw=2, label="next"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=7, fontsize=8, frameon=False)
    xs = [v[0] for v in pos.values()]
    ys = [v[1] for v in pos.values()] + [y for r in routes.values() for _, y in _bezier(*r, n=10)]
    ax.set_xlim(min(xs) - w / 2 - 0.2, max(xs) + w / 2 + 0.2)
    ax.set_ylim(min(ys) - h / 2 - 0.2, max(ys) + h / 2 + 0.2)
    ax.axis("off")
    nxt = f" — next: {p.next} {syl.lessons[p.next].title}" if p.next else ""
    ax.set_title(f"Course map{nxt}", fontsize=11, loc="left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


COL, ROW = 3.0, 1.35  # box centres: the gaps between boxes are lanes that edges can take


def map_layout(syl) -> tuple[dict[str, tuple[float, float]], dict[int, list[str]]]:
    """Each lesson's box centre: columns by depth in the prerequisite graph, each column centred on y = 0."""
    from course.authoring.syllabus import depth

    d = depth(syl)
    columns: dict[int, list[str]] = {}
    for lid in syl.order():
        columns.setdefault(d[lid], []).append(lid)
    pos = {}
    for x, ids in columns.items():
        for k, lid in enumerate(ids):
            pos[lid] = (x * COL, ((len(ids) - 1) / 2 - k) * ROW)
    return pos, columns


def _bezier(p0, c, p1, n: int = 40):
    for k in range(n + 1):
        t = k / n
        yield ((1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * c[0] + t * t * p1[0],
               (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * c[1] + t * t * p1[1])


def edge_routes(syl, pos: dict, w: float, h: float) -> dict:
    """{(prerequisite, lesson): (start, control, end)}: a curve per edge that passes no other box.

    A straight edge from 2.1 to 3.1 would run under 2.2's box and read as 2.2 → 3.1; each edge
    bends (a quadratic curve, in data coordinates, so what is checked is what is drawn) by the
    smallest amount that clears every box but its two ends."""
    routes = {}
    pad = 0.06
    for lid, info in syl.lessons.items():
        for pre in info.prerequisites:
            if pre not in pos or lid not in pos:
                continue
            (x0, y0), (x1, y1) = pos[pre], pos[lid]
            p0, p1 = (x0 + w / 2, y0), (x1 - w / 2, y1)
            others = [pos[o] for o in pos if o not in (pre, lid)]
            mid, d = ((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2), (p1[0] - p0[0], p1[1] - p0[1])
            best = None
            for bend in [0.0] + [s * k / 20 for k in range(1, 25) for s in (1, -1)]:
                c = (mid[0] + bend * d[1], mid[1] - bend * d[0])
                if not any(abs(x - bx) < w / 2 + pad and abs(y - by) < h / 2 + pad
                           for x, y in _bezier(p0, c, p1) for bx, by in others):
                    best = c
                    break
            routes[(pre, lid)] = (p0, best or mid, p1)
    return routes


def format_card(p, lid: str) -> str:
    from course.authoring.timing import measured_text
    from course.learner.progress import STATUS_TEXT, _hours

    syl = p.syllabus
    info = syl.lessons[lid]
    lp = p.lessons[lid]
    mod = syl.module_of(lid)
    lines = [f"{lid} {info.title}" + ("  (planned: not written yet)" if info.planned else ""),
             f"Module {mod.id} · {mod.title} · {info.level} · about {_hours(info.minutes)}{measured_text(lid)} · "
             f"{STATUS_TEXT[lp.status]}"]
    if info.available:
        from course.learner.workspace import notebook_path, shown

        lines.append(f"notebook: {shown(notebook_path(info.slug, ROOT), ROOT)}  ({len(lp.passed)}/{len(lp.exercises)} "
                     "exercises pass)")
    pre = [f"{x} {syl.lessons[x].title} ({STATUS_TEXT[p.lessons[x].status]})" for x in info.prerequisites]
    lines.append("needs: " + ("; ".join(pre) if pre else "nothing"))
    after = syl.dependents(lid)
    if after:
        lines.append("leads to: " + "; ".join(f"{x} {syl.lessons[x].title}" for x in after))
    lines.append("you will be able to:")
    lines += [f"  - {o}" for o in info.objectives]
    if info.reproduces:
        lines.append(f"reproduces: {info.reproduces}")
    if info.papers:
        lines.append("papers:")
        lines += [f"  - {paper}" + (f" <{paper.url}>" if paper.url else "") for paper in info.papers]
    return "\n".join(lines)


def cmd_map(args) -> int:
    from course.learner.progress import data_dir

    p = _status_progress(args, ROOT)
    if args.lesson:
        print(format_card(p, p.syllabus.lesson(args.lesson).id))
        return 0
    print(format_map(p))
    for note in p.syllabus.problems:
        print(f"syllabus problem: {note}", file=sys.stderr)
    if not args.no_png:
        path = plot_map(p, Path(args.png) if args.png else data_dir(ROOT) / "map.png")
        print(f"wrote {_shown(path)}")
    return 0


def _shown(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT.resolve()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- progress
def cmd_progress(args) -> int:
    from course.learner.progress import data_dir, format_progress, plot_progress

    p = _status_progress(args, ROOT)
    if args.json:
        out = {lid: {"status": lp.status, "passed": lp.passed, "exercises": lp.exercises,
                     "last_attempt": lp.attempt.at.isoformat() if lp.attempt else None,
                     "source": lp.attempt.source if lp.attempt else None, "attempts": lp.attempts,
                     "hints": lp.hints} for lid, lp in p.lessons.items()}
        print(json.dumps({"lessons": out, "next": p.next, "sources": p.sources}, indent=1))
        return 0
    print(format_progress(p))
    if not args.no_png:
        path = plot_progress(p, Path(args.png) if args.png else data_dir(ROOT) / "progress.png")
        print(f"wrote {_shown(path)}")
    return 0


# --------------------------------------------------------------------------- placement
def cmd_placement(args) -> int:
    from course.authoring.syllabus import load
    from course.learner import placement

    syl = load(ROOT)
    if args.build:
        modules = [syl.module(args.module).id] if args.module else list(placement.available(ROOT))
        for m in modules:
            print(f"wrote {_shown(placement.build(m, ROOT))}")
            for leak in placement.leaks(m, ROOT):
                print(f"LEAK: {leak}", file=sys.stderr)
                return 1
        return 0
    if not args.module:
        quizzes = placement.available(ROOT)
        print("Placement quizzes (fill one in, save it, then `bootcamp placement MODULE`):")
        for mod in syl.modules.values():
            if mod.id in quizzes:
                q = placement.read_quiz(mod.id, ROOT, syl)
                print(f"  {mod.id}  {mod.title:<32} {_shown(placement.learner_copy(q, ROOT, create=False))}  "
                      f"({len(q.items)} items, ~{q.minutes} min)")
            else:
                print(f"  {mod.id}  {mod.title:<32} (no quiz yet)")
        return 0
    quiz = placement.read_quiz(args.module, ROOT, syl)
    nb = Path(args.notebook) if args.notebook else placement.learner_copy(quiz, ROOT)
    print(f"grading {_shown(nb)} ...", flush=True)
    results = placement.grade(quiz, nb, timeout=args.timeout)
    verdict = placement.decide(syl, quiz.module, results)
    print(placement.format_verdict(syl, quiz, results, verdict, notebook=_shown(nb)))
    if verdict.answered and not args.no_record:
        placement.record(verdict, results, ROOT)
        from course.learner.progress import collect, next_line

        print("recorded: `bootcamp map` and `bootcamp progress` count the skipped lessons as done")
        print(next_line(collect(ROOT, use_service=False)))
    return 0


# --------------------------------------------------------------------------- update
def cmd_update(args) -> int:
    from course.learner import update, workspace

    moved = workspace.migrate(ROOT, dry_run=args.dry_run)
    for line in moved.lines(ROOT):
        print(line)
    if args.source:
        plan, saved = update.update_from_dir(Path(args.source), ROOT, dry_run=args.dry_run)
        notes, header = [], f"update from {args.source}"
    else:
        out = update.update_from_git(ROOT, ref=args.ref, fetch=not args.no_fetch, dry_run=args.dry_run)
        plan, saved, notes = out.plan, out.backup, out.notes
        header = f"update {out.old[:10]} → {out.new[:10]}"
    print(header + (" (dry run: nothing written)" if args.dry_run else ""))
    for n in notes:
        print(f"  {n}")
    for r in plan.reports:
        print("  " + r.line())
    if saved:
        print(f"backup of your notebooks before the update: {_shown(saved)}")
    for problem in plan.problems:
        print(f"NOT UPDATED: {problem}", file=sys.stderr)
    return 0 if plan.ok else 1


# --------------------------------------------------------------------------- hint
def cmd_hint(args) -> int:
    from course.authoring.syllabus import load
    from course.learner.hints import format_hint, hint_table, take_hint
    from course.learner.progress import hint_counts

    if not args.exercise:
        info = load(ROOT).lesson(args.lesson)
        counts = hint_counts(ROOT).get(info.id, {})
        print(f"exercises of {info.id} {info.title} (`bootcamp hint {info.id} EXERCISE`, by name or number):")
        for n, (name, text) in enumerate(hint_table(info, ROOT).items(), 1):
            shown = counts.get(name)
            print(f"  {n:>2}  {name}" + ("" if text else "  (no hint)") + (f"  (hint shown {shown}×)" if shown else ""))
        return 0
    if args.walkthrough:
        from course.learner.walkthrough import format_walkthrough, take_walkthrough

        print(format_walkthrough(take_walkthrough(args.lesson, args.exercise, ROOT, record=not args.no_record)))
        return 0
    got = take_hint(args.lesson, args.exercise, ROOT, record=not args.no_record)
    print(format_hint(got))
    return 0


# --------------------------------------------------------------------------- registration
def add_subcommands(sub) -> None:
    """Register map, placement, progress, update, hint and timing on `bootcamp`'s subparsers."""
    s = sub.add_parser("map", help="the prerequisite map, coloured by your status (also a PNG); or one lesson's card")
    s.add_argument("lesson", nargs="?", metavar="LESSON", help="show this lesson's card: objectives, papers, prerequisites")
    s.add_argument("--png", metavar="PATH", help="where to write the picture (default .bootcamp/learner/map.png)")
    s.add_argument("--no-png", action="store_true", help="print only")
    s.add_argument("--no-service", action="store_true", help="use local results only")
    s.set_defaults(func=cmd_map)

    s = sub.add_parser("placement", help="grade a module's placement quiz: which lessons to skip, where to start")
    s.add_argument("module", nargs="?", metavar="MODULE", help="module number, e.g. 0 (default: list the quizzes)")
    s.add_argument("--notebook", metavar="PATH", help="the filled-in quiz (default: your copy, workspace/placement/<module>/placement-<module>.ipynb)")
    s.add_argument("--timeout", type=int, default=120, help="seconds per cell (default 120)")
    s.add_argument("--no-record", action="store_true", help="grade only; do not mark lessons as skipped")
    s.add_argument("--build", action="store_true", help="(authors) write the quiz notebooks from their sources")
    s.set_defaults(func=cmd_placement)

    s = sub.add_parser("progress", help="exercises passed per lesson, last attempt, the next lesson (also a PNG)")
    s.add_argument("--png", metavar="PATH", help="where to write the picture (default .bootcamp/learner/progress.png)")
    s.add_argument("--no-png", action="store_true", help="print only")
    s.add_argument("--no-service", action="store_true", help="use local results only (bootcamp check, saved notebooks)")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(func=cmd_progress)

    s = sub.add_parser("update", help="take a new release of the course, keeping your answers (a backup first)")
    s.add_argument("--from", dest="source", metavar="DIR",
                   help="the new release: a directory of <lesson>/<lesson>.ipynb or a course checkout (no git)")
    s.add_argument("--ref", metavar="REF", help="git: take the release from REF (default: the upstream branch)")
    s.add_argument("--no-fetch", action="store_true", help="git: do not fetch; use what was fetched before")
    s.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")
    s.set_defaults(func=cmd_update)

    s = sub.add_parser("hint", help="show an exercise's hint and count it in your progress (never penalised)")
    s.add_argument("lesson", metavar="LESSON")
    s.add_argument("exercise", nargs="?", metavar="EXERCISE", help="its name or number (default: list them)")
    s.add_argument("--no-record", action="store_true", help="show it without counting it")
    s.add_argument("--walkthrough", action="store_true",
                   help="the third tier: an annotated walkthrough of the exercise (counted; best read after it passes)")
    s.set_defaults(func=cmd_hint)

    from course.learner.timing import add_subcommand as add_timing

    add_timing(sub)  # timing [LESSON]: measured active time beside the estimates
