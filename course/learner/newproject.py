"""``bootcamp new-project LESSON NAME``: a standalone research project started from a replication.

    bootcamp new-project 4.1 ~/grokking-weight-decay        # every model lesson 4.1 ships
    bootcamp new-project 4.1 wd --model grokking-p113       # one of them
    bootcamp new-project 4.1 wd --plan my-plan.md           # PLAN.md from a file (or a 5.1 notebook)

The project is a folder that runs offline, on a CPU, without the course installed:

- ``replication/``: the course's code for the lesson's model family, copied verbatim with
  every module of the course it imports (a family module, the registry, ``gpt.py``, ``data.py``
  ...: the closure of its relative imports), the shipped checkpoint(s) with their JSON
  sidecars, and ``PROVENANCE.json`` (course version and commit, sha256 of every file);
- ``config.toml``, ``experiments.py`` and ``run.py``: experiments as plain functions, a
  runner that logs every run's settings and results (``runs/runs.jsonl``, ``runs/runs.csv``)
  and plots them, optional logging to an experiment tracker if one is installed. The first
  experiment, ``reproduce``, evaluates the checkpoint and compares the lesson's headline
  numbers with its sidecar; ``weight_noise`` is an example sweep; ``retrain`` reruns the
  training recipe with changes;
- ``PLAN.md`` (the research plan of lesson 5.1: the learner's answers if their 5.1 notebook
  has them, else the template), ``RUBRIC.md`` (what a mentor grades the plan against),
  ``WRITEUP.md`` (question, method, results, limitations, next steps), ``README.md`` (with
  the lesson's "Going further" section), ``tests/`` (pytest, fast), ``pyproject.toml``.

Which models a lesson has comes from the registry (:mod:`course.models.registry`): the
specs whose ``lesson`` is the lesson's id. Nothing here lists families, except the few
lines that say how to measure a family's headline numbers by evaluation alone
(:data:`HEADLINES`); a family that defines ``metrics(model, train_config)`` needs none.

Bad input (an unknown lesson, a lesson that ships no model, a destination that exists or
sits inside the course's ``exercises/``/``solutions/``) raises :class:`ProjectError` before
anything is written; ``bootcamp`` prints it and exits with status 2. A failure part-way
removes the half-written folder, which this command created itself.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from course.authoring.lessons import ROOT, LessonError, LessonNotFound, find_lesson

COURSE_DIR = Path(__file__).resolve().parents[1]  # the `course` package
TEMPLATE_DIR = COURSE_DIR / "scaffold" / "project"
PACKAGE = "replication"  # the name the copied course code has inside a project
PLAN_LESSON = "5.1"  # the lesson whose manually graded cells are the research plan
PLAN_PREFIX = "plan_"  # grade_ids of those cells
STUB = "YOUR ANSWER HERE"  # nbgrader's text stub (nbgrader_config.py)
OPTIONAL_IMPORTS = {"mlflow", "wandb", "tensorboard"}  # trackers run.py uses only if installed
_SKIP = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}


class ProjectError(LessonError):
    """Bad input to ``bootcamp new-project``: nothing was written."""


# How to measure a family's headline numbers on a loaded model without training, keyed by the
# family module's name. Each is the body of ``headline(model, spec)`` in experiments.py.
HEADLINES = {
    "train": '''
    # Validation loss (nats per byte) and next-byte accuracy on the fixed held-out windows the
    # sidecar's numbers were measured on. The corpus is Python's own standard library, which
    # differs between Python versions: `corpus_is_reference` says whether it is the one the
    # checkpoint saw (reproduce then uses the looser tolerances if not).
    from replication import data

    family = registry.family(spec)
    corpus = data.stdlib_corpus()
    windows = family.eval_windows(corpus.tokens("val", torch=True), spec.config.n_ctx, spec.train.eval_windows)
    result = family.evaluate(model, windows)
    return {"val_loss": result["loss"], "val_accuracy": result["accuracy"],
            "corpus_is_reference": float(corpus.matches_reference)}''',
    "attn_only": '''
    # Loss on both halves of the fixed repeated-token sequences, and the best induction and
    # previous-token scores (attn_only.metrics_of). The phase-change step is a property of the
    # training curve, so only the retrain experiment measures it again.
    metrics = registry.family(spec).metrics_of(model, spec.train, {"step": [], "induction_scores": []})
    metrics.pop("phase_change_step", None)
    return metrics''',
}
_GENERIC_HEADLINE = '''
    # {module}.metrics(model, train_config): the numbers the course measured on the shipped
    # checkpoint and recorded in its sidecar.
    return registry.family(spec).metrics(model, spec.train)'''
_MISSING_HEADLINE = '''
    # The {module} family has no evaluation-only function that bootcamp new-project knows of.
    # Write one: load the data the lesson evaluates on, run `model`, and return the metrics of
    # spec.sidecar()["metrics"] that evaluation can measure.
    raise NotImplementedError("write headline() for the {module} family in experiments.py")'''


# --------------------------------------------------------------------------- what a lesson ships
def lesson_models(lesson_id: str) -> list:
    """The registry's model specs whose lesson is ``lesson_id`` or that it uses (``spec.used_in``), in registry order."""
    from course.models.registry import all_models

    return [spec for spec in all_models() if spec.lesson == lesson_id or lesson_id in spec.used_in]


def _lessons_with_models() -> dict[str, list[str]]:
    from course.models.registry import all_models

    out: dict[str, list[str]] = {}
    for spec in all_models():
        for lesson_id in (spec.lesson, *spec.used_in):
            out.setdefault(lesson_id, []).append(spec.name)
    return out


def _without_iri_checker() -> None:
    # Reading a lesson source imports jupytext -> nbformat -> jsonschema, which builds a large
    # grammar for an IRI format no notebook uses (seconds); course.authoring.runner skips it the same way.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def resolve_lesson(name: str):
    """(lesson id, title, Lesson or None) for a lesson id, slug or path.

    A lesson whose notebook is not written yet but whose models are in the registry is
    accepted by its id (the project then has no "Going further" section).
    """
    _without_iri_checker()
    try:
        lesson = find_lesson(name)
        return lesson.id, lesson.title, lesson
    except LessonNotFound as err:
        if name.strip() in _lessons_with_models():
            return name.strip(), f"lesson {name.strip()}", None
        with_models = ", ".join(f"{lid} ({', '.join(ms)})" for lid, ms in sorted(_lessons_with_models().items()))
        raise ProjectError(f"{err}\nLessons that ship a model to start a project from: {with_models or 'none'}") from None


def choose_models(lesson_id: str, model: str | None = None) -> list:
    """The specs to copy: ``model`` alone, or every model of the lesson that has a checkpoint."""
    specs = lesson_models(lesson_id)
    with_models = ", ".join(f"{lid} ({', '.join(ms)})" for lid, ms in sorted(_lessons_with_models().items()))
    if not specs:
        raise ProjectError(f"lesson {lesson_id} ships no model, so there is no checkpoint to start a project from "
                           f"(`bootcamp models` lists them). Lessons that do: {with_models or 'none'}")
    if model is not None:
        chosen = [s for s in specs if s.name == model]
        if not chosen:
            raise ProjectError(f"lesson {lesson_id} has no model called {model!r}; "
                               f"its models: {', '.join(s.name for s in specs)}")
        specs = chosen
    present = [s for s in specs if s.path.is_file()]
    if not present or (model is not None and not specs[0].path.is_file()):
        missing = ", ".join(f"`python -m course.models.train {s.name}`" for s in specs)
        raise ProjectError(f"the checkpoint of lesson {lesson_id}'s model(s) is not in this checkout "
                           f"({specs[0].path}); make it with {missing}")
    return present


# --------------------------------------------------------------------------- the course code to copy
def _module_file(module: str, root: Path = COURSE_DIR) -> Path | None:
    """course/a/b.py or course/a/b/__init__.py for the dotted name "a.b" (relative to course/)."""
    base = root.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _course_imports(path: Path, module: str, root: Path = COURSE_DIR) -> set[str]:
    """Modules of the course (dotted, relative to course/) that the file imports, at any depth
    (imports inside functions count: a family imports its registry lazily)."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] != "course":
                    continue
                base = parts[1:]
            else:
                parts = package.split(".") if package else []
                if node.level - 1 > len(parts):
                    raise ProjectError(f"{path}: a relative import goes above the course package")
                base = parts[: len(parts) - (node.level - 1)] + ((node.module or "").split(".") if node.module else [])
            base_name = ".".join(base)
            if base_name and _module_file(base_name, root):
                found.add(base_name)
            for alias in node.names:
                name = f"{base_name}.{alias.name}" if base_name else alias.name
                if _module_file(name, root):
                    found.add(name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "course" and len(parts) > 1 and _module_file(".".join(parts[1:]), root):
                    found.add(".".join(parts[1:]))
    return found


def module_closure(modules: list[str], root: Path = COURSE_DIR) -> list[str]:
    """``modules`` and every course module they import, directly or not, with the packages
    that hold them (their ``__init__``), sorted. Names are dotted and relative to course/."""
    todo, seen = list(modules), set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = _module_file(module, root)
        if path is None:
            raise ProjectError(f"course module {module!r} not found under {root}")
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts)) if _module_file(".".join(parts[:i]), root)]
        todo += sorted(_course_imports(path, module, root) - seen)
    return sorted(seen)


_ABSOLUTE = re.compile(r"^(\s*)(from|import)\s+course(\.|\s|$)", re.MULTILINE)


def _copy_module(module: str, dest_pkg: Path, root: Path = COURSE_DIR) -> tuple[Path, bool]:
    """Copy one course module into the project's package; absolute ``course`` imports (rare:
    the course's own modules import each other relatively) become ``replication`` ones."""
    src = _module_file(module, root)
    rel = src.relative_to(root)
    text = src.read_text(encoding="utf-8")
    new = _ABSOLUTE.sub(lambda m: f"{m.group(1)}{m.group(2)} {PACKAGE}{m.group(3)}", text)
    target = dest_pkg / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(new, encoding="utf-8")
    return target, new != text


def headline_source(specs: list) -> str:
    """The body of experiments.headline() for the families of ``specs``."""
    from course.models.registry import family

    modules = sorted({spec.module for spec in specs})
    branches = []
    for module in modules:
        spec = next(s for s in specs if s.module == module)
        if module in HEADLINES:
            body = HEADLINES[module]
        elif callable(getattr(family(spec), "metrics", None)):
            body = _GENERIC_HEADLINE.format(module=module)
        else:
            body = _MISSING_HEADLINE.format(module=module)
        branches.append((module, body.strip("\n")))
    if len(branches) == 1:
        return branches[0][1] + "\n"
    out = []
    for module, body in branches:
        out.append(f'    if spec.module == "{module}":')
        out.append("\n".join("    " + line if line.strip() else line for line in body.splitlines()))
    out.append('    raise NotImplementedError(f"no headline evaluation for the {spec.module} family")')
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- the plan, the rubric, the lesson's notes
_SOLUTION_MARKER = re.compile(r"^[ \t]*#{1,6}[ \t]*(BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)


def plan_cells(notebook: Path) -> list[tuple[str, str]]:
    """(grade_id, markdown) of the research-plan cells of a 5.1 notebook, in order (nbgrader's
    solution markers, present in the instructor's version, are left out)."""
    try:
        nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ProjectError(f"{notebook}: not a readable notebook ({type(err).__name__}: {err})") from None
    out = []
    for cell in cells:
        gid = str(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", ""))
        if cell.get("cell_type") == "markdown" and gid.startswith(PLAN_PREFIX):
            src = cell.get("source", "")
            out.append((gid, _SOLUTION_MARKER.sub("", "".join(src) if isinstance(src, list) else src)))
    return out


def plan_text(cells: list[tuple[str, str]]) -> str:
    return "\n\n".join(text.strip() for _, text in cells) + "\n"


def plan_is_filled(cells: list[tuple[str, str]]) -> bool:
    """True when at least one plan cell no longer holds nbgrader's stub."""
    return any(STUB not in text for _, text in cells)


def _plan_lesson():
    try:
        return find_lesson(PLAN_LESSON)
    except LessonNotFound:
        return None


def read_plan(plan: str | Path | None, project: str) -> tuple[str | None, str]:
    """(PLAN.md text or None for the template, where it came from).

    ``plan`` may be a 5.1 notebook (its plan cells) or a Markdown file; by default the
    learner's own 5.1 notebook is used if its plan cells are filled in.
    """
    header = f"# Research plan: {project}\n\n"
    if plan is not None:
        path = Path(plan).expanduser()
        if not path.is_file():
            raise ProjectError(f"--plan {plan}: no such file")
        if path.suffix == ".ipynb":
            cells = plan_cells(path)
            if not cells:
                raise ProjectError(f"--plan {plan}: the notebook has no research-plan cells (grade_id plan_*): "
                                   f"is it lesson {PLAN_LESSON}'s?")
            return header + f"*From {path.name}.*\n\n" + plan_text(cells), f"from {path.name}"
        try:
            return path.read_text(encoding="utf-8"), f"copied from {path.name}"
        except UnicodeDecodeError:
            raise ProjectError(f"--plan {plan}: not a text file") from None
    lesson = _plan_lesson()
    if lesson is not None and lesson.exercise_notebook.is_file():
        try:
            cells = plan_cells(lesson.exercise_notebook)
        except ProjectError:
            cells = []
        if cells and plan_is_filled(cells):
            return (header + f"*From your lesson {PLAN_LESSON} notebook.*\n\n" + plan_text(cells),
                    f"from your lesson {PLAN_LESSON} notebook")
    return None, f"the template of lesson {PLAN_LESSON}: fill it in"


def rubric_path() -> Path | None:
    """The rubric of lesson 5.1's manually graded plan (``rubric.toml`` beside its source)."""
    lesson = _plan_lesson()
    if lesson is None:
        return None
    path = lesson.source.parent / "rubric.toml"
    return path if path.is_file() else None


def load_rubric(path: Path | None = None) -> list[dict]:
    """The rubric's criteria: ``{"grade_id", "title", "points", "levels": {points: description}}``,
    in the order of the notebook. The dashboard and ``RUBRIC.md`` render it."""
    import tomllib

    path = path or rubric_path()
    if path is None:
        return []
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    out = []
    for item in data.get("criterion", []):
        levels = {int(k): v for k, v in item.get("levels", {}).items()}
        out.append({"grade_id": item["grade_id"], "title": item["title"], "points": item["points"],
                    "asks": item.get("asks", ""), "levels": dict(sorted(levels.items(), reverse=True))})
    return out


def rubric_markdown(criteria: list[dict]) -> str:
    """The rubric as Markdown: one table per criterion, best level first."""
    total = sum(c["points"] for c in criteria)
    lines = ["# Rubric: the research plan (lesson 5.1)", "",
             f"A mentor grades each of the {len(criteria)} answers of the plan against this rubric "
             f"({total} points in all). Read it before you write.", ""]
    for c in criteria:
        lines += [f"## {c['title']} ({c['points']} points, `{c['grade_id']}`)", ""]
        if c["asks"]:
            lines += [c["asks"], ""]
        lines += ["| points | what it takes |", "|---|---|"]
        lines += [f"| {pts} | {text} |" for pts, text in c["levels"].items()]
        lines.append("")
    return "\n".join(lines)


def going_further(lesson) -> str:
    """The lesson's "Going further" section (Markdown), or "" if it has none."""
    if lesson is None:
        return ""
    try:
        from course.authoring.lessons import read_source

        nb = read_source(lesson.source)
    except Exception:
        return ""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"^(#+)\s*Going further|^\*\*Going further", line, re.IGNORECASE)
            if not m:
                continue
            level = len(m.group(1)) if m.group(1) else 7
            body = []
            for nxt in lines[i + 1:]:
                h = re.match(r"^(#+)\s", nxt)
                if h and len(h.group(1)) <= level:
                    break
                body.append(nxt)
            text = "\n".join(body).strip()
            if text:
                return (f"## Open problems: lesson {lesson.id}'s \"Going further\"\n\n*Copied from the lesson. The "
                        f"course's `course/models/` is this project's `{PACKAGE}/models/`.*\n\n{text}\n")
    return ""


# --------------------------------------------------------------------------- the pieces of a project
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _course_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _third_party(paths: list[Path]) -> list[str]:
    """Pinned requirements (``name==version``) for the third-party imports of ``paths``."""
    from importlib import metadata

    roots = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
    roots -= set(sys.stdlib_module_names) | {PACKAGE, "course", "__future__", "experiments", "run"} | OPTIONAL_IMPORTS
    aliases = {"sklearn": ["scikit-learn"], "PIL": ["pillow"], "yaml": ["PyYAML"]}  # import name != distribution
    dists: dict | None = None
    out = {}
    for root in sorted(roots):
        names = aliases.get(root, [root])
        if _version(names[0]) is None:  # the slow general lookup only when the usual names fail
            dists = dists if dists is not None else metadata.packages_distributions()
            names = dists.get(root, names)
        for dist in names:
            try:  # "2.13.0+cpu" -> "2.13.0": the specifier then matches any build of that version
                out[dist] = f"{dist}=={metadata.version(dist).split('+')[0]}"
            except metadata.PackageNotFoundError:
                out[dist] = dist
    return sorted(out.values(), key=str.lower)


def _fill(text: str, fields: dict[str, str]) -> str:
    for key, value in fields.items():
        text = text.replace("{{" + key + "}}", value)
    left = re.findall(r"\{\{(\w+)\}\}", text)
    if left:
        raise RuntimeError(f"template field(s) not filled: {', '.join(sorted(set(left)))}")
    return text


def _models_table(specs: list) -> str:
    lines = ["| model | what it is | headline metrics (from its sidecar) | made by |", "|---|---|---|---|"]
    for spec in specs:
        side = spec.sidecar()
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in side.get("metrics", {}).items() if k in spec.tolerances)
        lines.append(f"| `{spec.name}` | {spec.description} | {metrics} | `{side.get('command', '?')}` "
                     f"(seed {side.get('seed', '?')}, {side.get('seconds', '?')} s) |")
    return "\n".join(lines)


def _check_destination(dest: Path) -> Path:
    dest = Path(os.path.abspath(Path(dest).expanduser()))
    if os.path.lexists(dest):
        kind = "folder" if dest.is_dir() else "file"
        raise ProjectError(f"{dest} already exists (a {kind}): bootcamp new-project never writes into an existing "
                           f"path. Choose another NAME, or move that one away yourself.")
    for inside in ("exercises", "solutions"):
        area = Path(os.path.abspath(ROOT / inside))
        if dest == area or area in dest.parents:
            raise ProjectError(f"{dest} is inside the course's {inside}/: a project lives outside it "
                               f"(e.g. bootcamp new-project LESSON ~/{dest.name})")
    if not dest.parent.is_dir():
        raise ProjectError(f"{dest.parent} does not exist: create it first, or choose another place")
    if not re.search(r"[A-Za-z0-9]", dest.name):
        raise ProjectError(f"{dest.name!r} is not a usable project name: use letters, digits, '-' or '_'")
    return dest


def scaffold(lesson: str, dest: str | Path, model: str | None = None, plan: str | Path | None = None) -> dict:
    """Write a new project for ``lesson`` at ``dest``; return a summary (paths, models, notes).

    Every check runs before the folder is created; the folder is created exclusively (it
    must not exist), and removed again if anything fails while it is being written.
    """
    lesson_id, title, lesson_obj = resolve_lesson(lesson)
    specs = choose_models(lesson_id, model)
    dest = _check_destination(Path(dest))
    plan_md, plan_source = read_plan(plan, dest.name)
    modules = module_closure([f"models.{spec.module}" for spec in specs] + ["models.registry"])

    os.mkdir(dest)  # exclusive: fails if something appeared since the check
    try:
        return _write(dest, lesson_id, title, lesson_obj, specs, modules, plan_md, plan_source)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _write(dest: Path, lesson_id: str, title: str, lesson_obj, specs: list, modules: list[str],
           plan_md: str | None, plan_source: str) -> dict:
    from course import __version__

    project = dest.name
    commit = _course_commit()
    pkg = dest / PACKAGE
    pkg.mkdir()
    # the course code: verbatim copies, in the course's own layout under replication/
    code, rewritten = {}, []
    for module in modules:
        target, changed = _copy_module(module, pkg)
        code[target.relative_to(dest).as_posix()] = _sha256(target)
        if changed:
            rewritten.append(target.relative_to(dest).as_posix())
    for folder in sorted({p.parent for p in pkg.rglob("*.py")} | {pkg}):
        init = folder / "__init__.py"
        if not init.exists():
            init.write_text(f'"""Copied from the course by bootcamp new-project (see {PACKAGE}/PROVENANCE.json)."""\n')
    (pkg / "__init__.py").write_text(
        f'"""The course code this project started from: lesson {lesson_id} ({title}).\n\n'
        f"Copied verbatim from the interpretability bootcamp's `course` package by `bootcamp new-project`;\n"
        f"PROVENANCE.json records the course version and the sha256 of every file. Change it freely:\n"
        f'it is yours now, and the course is not needed to run it.\n"""\n', encoding="utf-8")
    # the checkpoints and their sidecars (and any companion file such as *_snapshots.pt)
    ckpt_dir = pkg / "models" / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    models = []
    for spec in specs:
        files = {}
        for src in sorted(spec.path.parent.glob(f"{Path(spec.checkpoint).stem}*")):
            if src.is_file() and (src.name == spec.checkpoint or src.suffix in (".pt", ".json")):
                shutil.copy2(src, ckpt_dir / src.name)
                files[src.name] = _sha256(src)
        side = spec.sidecar()
        models.append({"name": spec.name, "family": spec.module, "lesson": spec.lesson, "checkpoint": spec.checkpoint,
                       "description": spec.description, "command": side.get("command"), "seed": side.get("seed"),
                       "metrics": side.get("metrics", {}), "tolerances": spec.tolerances, "files": files,
                       "model_config": side.get("model_config"), "train_config": side.get("train_config")})
    # the template: runner, experiments, tests, write-up, plan
    for src in sorted(TEMPLATE_DIR.rglob("*")):
        rel = src.relative_to(TEMPLATE_DIR)
        if src.is_dir() or any(part in _SKIP for part in rel.parts) or src.suffix == ".pyc":
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest / rel)
    experiments = dest / "experiments.py"
    marker = '    raise NotImplementedError("bootcamp new-project writes this function for the lesson\'s model family")\n'
    text = experiments.read_text(encoding="utf-8")
    if marker not in text:
        raise RuntimeError("experiments.py template: the headline() marker line is missing")
    experiments.write_text(text.replace(marker, headline_source(specs)), encoding="utf-8")

    notebook_row = ""
    if lesson_obj is not None and lesson_obj.exercise_notebook.is_file():
        (dest / "notebooks").mkdir()
        shutil.copy2(lesson_obj.exercise_notebook, dest / "notebooks" / lesson_obj.exercise_notebook.name)
        notebook_row = (f"| `notebooks/{lesson_obj.exercise_notebook.name}` | your lesson {lesson_id} notebook as it "
                        f"was when you scaffolded (it imports the course: open it where the course is installed) |")
    rubric = load_rubric() if rubric_path() else []
    if rubric:
        (dest / "RUBRIC.md").write_text(rubric_markdown(rubric), encoding="utf-8")
        notebook_row += ("\n" if notebook_row else "") + "| `RUBRIC.md` | what a mentor grades the plan against |"
    files_list = ", ".join(f"`{p}`" for p in sorted(code)) + "; " + ", ".join(
        f"`{name}`" for m in models for name in m["files"])
    fields = {
        "project": project,
        "package_name": re.sub(r"[^a-z0-9]+", "-", project.lower()).strip("-") or "project",
        "lesson": lesson_id,
        "lesson_title": title,
        "model": specs[0].name,
        "models_comment": ("the lesson's models: " + ", ".join(s.name for s in specs)) if len(specs) > 1 else
                          f"lesson {lesson_id}'s model",
        "created": datetime.now().strftime("%Y-%m-%d"),
        "course_version": __version__ + (f", commit {commit[:10]}" if commit else ""),
        "plan_source": plan_source,
        "files_list": files_list,
        "notebook_row": notebook_row,
        "models_table": _models_table(specs),
        "going_further": going_further(lesson_obj),
        "dependencies": "",
    }
    deps = _third_party([dest / p for p in code] + [dest / "run.py", dest / "experiments.py"]) + [
        f"matplotlib=={_version('matplotlib').split('+')[0]}" if _version("matplotlib") else "matplotlib"]
    fields["dependencies"] = '",\n    "'.join(sorted(set(deps), key=str.lower))  # inside "{{dependencies}}",
    for name in ("README.md", "WRITEUP.md", "config.toml", "pyproject.toml", "PLAN.md"):
        path = dest / name
        path.write_text(_fill(path.read_text(encoding="utf-8"), fields), encoding="utf-8")
    if plan_md is not None:
        (dest / "PLAN.md").write_text(plan_md, encoding="utf-8")
    (dest / ".gitignore").write_text("runs/\n__pycache__/\n.pytest_cache/\n", encoding="utf-8")
    provenance = {
        "project": project,
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
        "lesson": {"id": lesson_id, "title": title, "slug": lesson_obj.slug if lesson_obj else None},
        "course": {"version": __version__, "commit": commit, "python": sys.version.split()[0]},
        "models": models,
        "code": code,
        "imports_rewritten": rewritten,
        "plan": plan_source,
    }
    (pkg / "PROVENANCE.json").write_text(json.dumps(provenance, indent=1) + "\n", encoding="utf-8")
    return {"path": dest, "lesson": lesson_id, "title": title, "models": [s.name for s in specs],
            "code": sorted(code), "plan": plan_source, "rubric": bool(rubric)}


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- command line
def cmd_new_project(args) -> int:
    summary = scaffold(args.lesson, args.name, model=args.model, plan=args.plan)
    dest = summary["path"]
    try:
        shown = dest.relative_to(Path.cwd())
    except ValueError:
        shown = dest
    print(f"new project {shown}/ from lesson {summary['lesson']} ({summary['title']}), "
          f"model(s) {', '.join(summary['models'])}")
    print(f"  {PACKAGE}/             the course code it needs, copied: {', '.join(summary['code'])}; the checkpoint(s)")
    print("  config.toml, experiments.py, run.py   experiments reproduce, weight_noise, retrain; every run logged to runs/")
    print(f"  PLAN.md ({summary['plan']}), WRITEUP.md, README.md"
          + (", RUBRIC.md" if summary["rubric"] else "") + ", tests/")
    print("next:")
    print(f"  cd {shown}")
    print("  python -m pytest -q              # the project's own tests")
    print("  python run.py run reproduce      # the lesson's headline numbers, from the shipped checkpoint")
    return 0


def add_subcommands(subparsers) -> None:
    """Register ``new-project`` on the ``bootcamp`` argparse sub-parsers."""
    s = subparsers.add_parser(
        "new-project", help="scaffold a standalone research project from a replication lesson",
        description="Scaffold a standalone research project from a replication lesson: the lesson's model code and "
                    "checkpoint(s), an experiment runner that logs and plots every run, the research plan, a "
                    "write-up template and tests. It runs offline on a CPU without the course installed.")
    s.add_argument("lesson", metavar="LESSON", help="the lesson to start from (id or name), e.g. 4.1")
    s.add_argument("name", metavar="NAME", help="the new project's folder (must not exist), e.g. ~/grokking-wd")
    s.add_argument("--model", help="copy only this model of the lesson (default: all it ships)")
    s.add_argument("--plan", help=f"PLAN.md from this Markdown file or lesson {PLAN_LESSON} notebook "
                                  f"(default: your {PLAN_LESSON} notebook if its plan is filled in, else the template)")
    s.set_defaults(func=cmd_new_project)
