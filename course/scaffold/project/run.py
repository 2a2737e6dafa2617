"""The experiment runner: it logs every run's settings and results, and plots them.

    python run.py list                               the experiments in config.toml, with their runs so far
    python run.py run reproduce                      run one experiment (every combination of its sweep)
    python run.py run weight_noise --set seed=3 --sweep noise=[0,0.5]
    python run.py table [EXPERIMENT]                 the runs so far, one line each
    python run.py plot [EXPERIMENT]                  runs/plots/<experiment>.png from the runs so far

An experiment is a function of ``experiments.py``, ``name(settings: dict) -> dict``, and a
table ``[experiments.name]`` in ``config.toml``. Its settings are ``[defaults]``, then its
own table, then ``--set KEY=VALUE`` (a TOML value; dotted keys reach into sub-tables:
``--set train.weight_decay=0.3``). Its ``sweep`` table gives lists of values: one run per
combination. ``--sweep KEY=[...]`` replaces or adds a list.

Every run, failed ones included, appends one JSON line to ``runs/runs.jsonl``: its id, the
experiment, the full settings, the results, the status (and the error), the seconds, the
time, the Python/torch versions and the hashes of ``experiments.py`` and ``config.toml``.
``runs/runs.csv`` is rewritten from it after each run, one column per setting and per
numeric result (lists, such as curves, stay in the JSON lines). With ``tracker`` set in
``[project]``, runs also go to TensorBoard, MLflow or Weights & Biases (offline unless
WANDB_MODE says otherwise), but only if that package is installed.
"""

from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import importlib
import importlib.util
import itertools
import json
import os
import platform
import sys
import time
import tomllib
import traceback
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESERVED = {"description", "function", "sweep"}  # keys of an experiment's table that are not settings
TRACKERS = ("tensorboard", "mlflow", "wandb")  # the order "auto" tries them in


class ExperimentError(Exception):
    """A problem with config.toml or the command line that the user must fix."""


# --------------------------------------------------------------------------- settings
def load_config(path: Path | str = HERE / "config.toml") -> dict:
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExperimentError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as err:
        raise ExperimentError(f"{path}: not valid TOML: {err}") from None


def parse_value(text: str):
    """A --set value as TOML ("0.1" -> 0.1, "[1, 2]" -> [1, 2], "true" -> True); anything else is a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_assignments(items: list[str]) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ExperimentError(f"expected KEY=VALUE, got {item!r}")
        out[key.strip()] = parse_value(value.strip())
    return out


def set_dotted(settings: dict, key: str, value) -> None:
    """``settings["a"]["b"] = value`` for the key ``"a.b"`` (sub-tables are created as needed)."""
    *parents, last = key.split(".")
    for part in parents:
        settings = settings.setdefault(part, {})
        if not isinstance(settings, dict):
            raise ExperimentError(f"cannot set {key!r}: {part!r} is a value, not a table")
    settings[last] = value


def merge(base: dict, extra: dict) -> dict:
    """A deep copy of ``base`` with ``extra`` laid over it (sub-tables are merged, not replaced)."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def settings_for(config: dict, name: str, overrides: dict | None = None,
                 sweep_overrides: dict | None = None) -> tuple[dict, dict]:
    """(settings, sweep) of experiment ``name``: [defaults] < [experiments.name] < overrides."""
    experiments = config.get("experiments", {})
    if name not in experiments:
        known = ", ".join(experiments) or "none"
        raise ExperimentError(f"no experiment called {name!r} in config.toml (it has: {known})")
    table = experiments[name]
    settings = merge(config.get("defaults", {}), {k: v for k, v in table.items() if k not in RESERVED})
    sweep = dict(table.get("sweep", {}))
    for key, value in (overrides or {}).items():
        sweep.pop(key, None)  # --set fixes a swept setting to one value
        set_dotted(settings, key, value)
    for key, values in (sweep_overrides or {}).items():
        sweep[key] = values if isinstance(values, list) else [values]
    return settings, sweep


def expand_sweep(settings: dict, sweep: dict) -> list[dict]:
    """One settings dict per combination of the sweep's values (the last key varies fastest)."""
    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise ExperimentError(f"sweep {key!r} needs a non-empty list of values, got {values!r}")
    runs = []
    for combination in itertools.product(*sweep.values()):
        one = copy.deepcopy(settings)
        for key, value in zip(sweep, combination):
            set_dotted(one, key, value)
        runs.append(one)
    return runs


# --------------------------------------------------------------------------- logging
def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else ""


def environment() -> dict:
    env = {"python": platform.python_version(), "platform": platform.platform()}
    if "torch" in sys.modules:
        env["torch"] = sys.modules["torch"].__version__
    return env


def read_runs(runs_dir: Path | str) -> list[dict]:
    """Every run logged in ``runs_dir/runs.jsonl`` (a damaged line is skipped with a warning)."""
    path = Path(runs_dir) / "runs.jsonl"
    if not path.is_file():
        return []
    runs = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            runs.append(json.loads(line))
        except json.JSONDecodeError:
            print(f"warning: {path}:{lineno} is not valid JSON; skipped", file=sys.stderr)
    return runs


def flatten(d: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    out = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _is_number(v) -> bool:
    return isinstance(v, (int, float))  # bool is an int: a pass/fail result plots as 0/1


def write_csv(runs_dir: Path | str) -> Path:
    """runs.csv from runs.jsonl: one row per run, one column per setting and per scalar result."""
    runs_dir = Path(runs_dir)
    rows, columns = [], ["run_id", "experiment", "status", "started", "seconds"]
    for run in read_runs(runs_dir):
        row = {k: run.get(k) for k in columns}
        row.update({f"settings.{k}": v for k, v in flatten(run.get("settings", {})).items()
                    if not isinstance(v, list)})
        row.update({f"results.{k}": v for k, v in flatten(run.get("results") or {}).items()
                    if not isinstance(v, list)})
        rows.append(row)
    extra = sorted({k for row in rows for k in row} - set(columns), key=lambda k: (not k.startswith("settings."), k))
    path = runs_dir / "runs.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns + extra)
        writer.writeheader()
        writer.writerows(rows)
    return path


# --------------------------------------------------------------------------- trackers
class Tracker:
    """Sends each finished run to an experiment tracker. Failures warn; they never fail a run."""

    name = "none"

    def log(self, record: dict, runs_dir: Path, project: str) -> None:
        settings = {k: str(v) if isinstance(v, list) else v for k, v in flatten(record["settings"]).items()}
        metrics = {k: float(v) for k, v in flatten(record.get("results") or {}).items() if _is_number(v)}
        try:
            self.send(record["run_id"], settings, metrics, runs_dir, project)
        except Exception as err:  # a tracker must never lose a run that runs.jsonl already holds
            print(f"warning: logging to {self.name} failed ({type(err).__name__}: {err})", file=sys.stderr)

    def send(self, run_id, settings, metrics, runs_dir, project) -> None:
        pass


class TensorBoardTracker(Tracker):
    name = "tensorboard"

    def send(self, run_id, settings, metrics, runs_dir, project):
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(log_dir=str(runs_dir / "tensorboard" / run_id)) as writer:
            writer.add_text("settings", json.dumps(settings, indent=1))
            for key, value in metrics.items():
                writer.add_scalar(key, value, 0)


class MLflowTracker(Tracker):
    name = "mlflow"

    def send(self, run_id, settings, metrics, runs_dir, project):
        import mlflow

        mlflow.set_tracking_uri((runs_dir / "mlruns").resolve().as_uri())
        mlflow.set_experiment(project)
        with mlflow.start_run(run_name=run_id):
            mlflow.log_params(settings)
            mlflow.log_metrics(metrics)


class WandbTracker(Tracker):
    name = "wandb"

    def send(self, run_id, settings, metrics, runs_dir, project):
        import wandb

        run = wandb.init(project=project, name=run_id, config=settings, dir=str(runs_dir),
                         mode=os.environ.get("WANDB_MODE", "offline"))
        run.summary.update(metrics)
        run.finish()


def make_tracker(choice: str | None) -> Tracker | None:
    """The tracker ``choice`` names ("none", "auto", or one of TRACKERS), if it is installed."""
    choice = (choice or "none").lower()
    if choice == "none":
        return None
    if choice not in TRACKERS + ("auto",):
        raise ExperimentError(f"tracker {choice!r} is not one of none, auto, {', '.join(TRACKERS)}")
    classes = {"tensorboard": TensorBoardTracker, "mlflow": MLflowTracker, "wandb": WandbTracker}
    for name in TRACKERS if choice == "auto" else (choice,):
        if importlib.util.find_spec(name) is not None:
            return classes[name]()
    if choice != "auto":
        print(f"note: tracker {choice!r} is not installed; runs are logged to runs/ only", file=sys.stderr)
    return None


# --------------------------------------------------------------------------- running
def run_experiment(name: str, config: dict, overrides: dict | None = None, sweep_overrides: dict | None = None,
                   runs_dir: Path | str | None = None, module=None, tracker: Tracker | None = None,
                   quiet: bool = False) -> list[dict]:
    """Run every combination of experiment ``name``'s sweep; log each run; return their records."""
    settings, sweep = settings_for(config, name, overrides, sweep_overrides)
    module = module or importlib.import_module("experiments")
    function = config["experiments"][name].get("function", name)
    fn = getattr(module, function, None)
    if not callable(fn):
        raise ExperimentError(f"experiment {name!r} calls {function}(), which experiments.py does not define")
    runs_dir = Path(runs_dir or HERE / config.get("project", {}).get("runs_dir", "runs"))
    runs_dir.mkdir(parents=True, exist_ok=True)
    code = {"experiments.py": _sha(Path(getattr(module, "__file__", "") or "")), "config.toml": _sha(HERE / "config.toml")}
    project = config.get("project", {}).get("name", HERE.name)
    all_settings = expand_sweep(settings, sweep)
    records = []
    for i, one in enumerate(all_settings):
        started = datetime.now().astimezone()
        record = {"run_id": f"{started:%Y%m%d-%H%M%S}-{name}-{i:03d}-{os.urandom(2).hex()}", "experiment": name,
                  "function": function, "started": started.isoformat(timespec="seconds"), "settings": one}
        if not quiet:
            varying = {k: v for k, v in flatten(one).items() if k in sweep}
            print(f"[{i + 1}/{len(all_settings)}] {name} {varying or ''}".rstrip(), flush=True)
        t0 = time.perf_counter()
        try:
            results = fn(copy.deepcopy(one))
            if not isinstance(results, dict):
                raise TypeError(f"{function}() returned {type(results).__name__}; an experiment returns a dict")
            record.update(status="ok", results=results)
        except Exception as err:
            traceback.print_exc()
            record.update(status="error", results={}, error=f"{type(err).__name__}: {err}")
        record["seconds"] = round(time.perf_counter() - t0, 3)
        record["environment"] = environment()
        record["code"] = code
        with (runs_dir / "runs.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=str) + "\n")
        if tracker is not None:
            tracker.log(record, runs_dir, project)
        records.append(record)
    write_csv(runs_dir)
    return records


# --------------------------------------------------------------------------- reading the runs
def _varying(runs: list[dict]) -> list[str]:
    """Settings (flattened) whose value is not the same in every run, "seed" last."""
    values: dict[str, set] = {}
    for run in runs:
        for k, v in flatten(run.get("settings", {})).items():
            values.setdefault(k, set()).add(json.dumps(v, sort_keys=True, default=str))
    keys = sorted(k for k, vs in values.items() if len(vs) > 1)
    return sorted(keys, key=lambda k: k == "seed")


def _scalars(run: dict) -> dict:
    return {k: v for k, v in flatten(run.get("results") or {}).items() if _is_number(v)}


def format_table(runs: list[dict], max_results: int = 8) -> str:
    """One line per run: its id, status, the settings that differ between runs, and the first
    numeric results in the order the experiment returned them."""
    if not runs:
        return "no runs yet"
    varying = _varying(runs)
    results = list(dict.fromkeys(k for run in runs for k in _scalars(run)))[:max_results]
    header = ["run_id", "status", *varying, *results]
    lines = []
    for run in runs:
        s, r = flatten(run.get("settings", {})), _scalars(run)
        cells = [run["run_id"], run.get("status", "?")] + [str(s.get(k, "")) for k in varying]
        cells += [f"{r[k]:.4g}" if k in r else "" for k in results]
        lines.append(cells)
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header)] + [fmt.format(*row) for row in lines])


def plot(runs_dir: Path | str, experiment: str | None = None, max_panels: int = 9) -> list[Path]:
    """runs/plots/<experiment>.png: each numeric result against the swept setting (mean over seeds
    as a line), and <experiment>_curves.png for results that are lists (one line per run)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt

    runs_dir = Path(runs_dir)
    by_experiment: dict[str, list[dict]] = {}
    for run in read_runs(runs_dir):
        if run.get("status") == "ok" and (experiment is None or run["experiment"] == experiment):
            by_experiment.setdefault(run["experiment"], []).append(run)
    out_dir = runs_dir / "plots"
    written = []
    for name, runs in by_experiment.items():
        if len(runs) < 2:
            continue  # one run is a row of `python run.py table`, not a plot
        out_dir.mkdir(parents=True, exist_ok=True)
        varying = [k for k in _varying(runs) if k != "seed"]
        x_key = varying[0] if varying else None
        metrics = sorted({k for run in runs for k in _scalars(run)})
        changing = [m for m in metrics if len({_scalars(run).get(m) for run in runs}) > 1]
        metrics = (changing or metrics)[:max_panels]  # a result that never changes needs no panel
        if metrics:
            cols = min(3, len(metrics))
            rows = -(-len(metrics) // cols)
            fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
            for ax, metric in zip(axes.flat, metrics):
                points = [(flatten(run["settings"]).get(x_key) if x_key else i, _scalars(run).get(metric))
                          for i, run in enumerate(runs)]
                points = [(x, y) for x, y in points if y is not None]
                if not points:
                    continue
                if not all(_is_number(x) for x, _ in points):  # a setting such as a model name: categories
                    names = sorted({str(x) for x, _ in points})
                    points = [(names.index(str(x)), y) for x, y in points]
                    ax.set_xticks(range(len(names)), names, rotation=20, fontsize=7)
                xs, ys = zip(*points)
                ax.scatter(xs, ys, s=14, alpha=0.6)
                means = {x: sum(y for x2, y in points if x2 == x) / sum(1 for x2, _ in points if x2 == x)
                         for x in sorted(set(xs))}
                if len(means) > 1:
                    ax.plot(list(means), list(means.values()), "-", lw=1.5)
                ax.set_title(metric, fontsize=9)
                ax.set_xlabel(x_key or "run")
            for ax in list(axes.flat)[len(metrics):]:
                ax.axis("off")
            fig.suptitle(f"{name}: {len(runs)} run(s)" + (f", {', '.join(varying[1:])} also varied" if varying[1:] else ""))
            fig.tight_layout()
            path = out_dir / f"{name}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
        curves = _curves(runs)
        if curves:
            keys = sorted(curves)[:max_panels]
            cols = min(3, len(keys))
            rows = -(-len(keys) // cols)
            fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
            for ax, key in zip(axes.flat, keys):
                for label, x, y in curves[key][:20]:
                    ax.plot(x, y, lw=1, label=label)
                ax.set_title(key, fontsize=9)
                if any(v > 0 for _, _, y in curves[key] for v in y) and all(v >= 0 for _, _, y in curves[key] for v in y):
                    if "loss" in key:
                        ax.set_yscale("log")
            for ax in list(axes.flat)[len(keys):]:
                ax.axis("off")
            axes.flat[0].legend(fontsize=7)
            fig.tight_layout()
            path = out_dir / f"{name}_curves.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
    return written


def _curves(runs: list[dict]) -> dict[str, list[tuple[str, list, list]]]:
    """Numeric list results, each with its x axis (a sibling list named step/epoch/*_step of the same length)."""
    out: dict[str, list] = {}
    varying = _varying(runs)
    for i, run in enumerate(runs):
        flat = flatten(run.get("results") or {})
        lists = {k: v for k, v in flat.items() if isinstance(v, list) and v and all(_is_number(e) for e in v)}
        axes = {k for k in lists if k.rsplit(".", 1)[-1].split("_")[-1] in ("step", "epoch")}
        s = flatten(run.get("settings", {}))
        label = ", ".join(f"{k}={s.get(k)}" for k in varying) or f"run {i}"
        for key, y in lists.items():
            if key in axes:
                continue
            prefix, leaf = key.rpartition(".")[0], key.rpartition(".")[2]
            candidates = [a for a in axes if a.rpartition(".")[0] == prefix and len(lists[a]) == len(y)]
            same = [a for a in candidates if a.rpartition(".")[2].split("_")[0] == leaf.split("_")[0]]
            x = lists[(same or candidates)[0]] if (same or candidates) else list(range(len(y)))
            out.setdefault(key, []).append((label, x, y))
    return out


# --------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python run.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the experiments in config.toml")
    s = sub.add_parser("run", help="run an experiment (every combination of its sweep)")
    s.add_argument("experiment")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    s.add_argument("--sweep", action="append", default=[], metavar="KEY=[V1,V2]", help="sweep a setting")
    s.add_argument("--tracker", help="override [project] tracker: none, auto, " + ", ".join(TRACKERS))
    s = sub.add_parser("table", help="the runs so far")
    s.add_argument("experiment", nargs="?")
    s = sub.add_parser("plot", help="plots of the runs so far, in runs/plots/")
    s.add_argument("experiment", nargs="?")
    parser.add_argument("--config", default=str(HERE / "config.toml"), help="default: config.toml next to run.py")
    args = parser.parse_args(argv)

    try:
        config = load_config(args.config)
        runs_dir = HERE / config.get("project", {}).get("runs_dir", "runs")
        if args.command == "list":
            counts: dict[str, int] = {}
            for run in read_runs(runs_dir):
                counts[run["experiment"]] = counts.get(run["experiment"], 0) + 1
            for name, table in config.get("experiments", {}).items():
                n = len(expand_sweep({}, table.get("sweep", {})))
                print(f"{name:<18} {n} run(s) per call, {counts.get(name, 0)} logged  {table.get('description', '')}")
            return 0
        if args.command == "run":
            tracker = make_tracker(args.tracker or config.get("project", {}).get("tracker", "none"))
            if HERE not in map(Path, sys.path):
                sys.path.insert(0, str(HERE))
            records = run_experiment(args.experiment, config, parse_assignments(args.set),
                                     parse_assignments(args.sweep), runs_dir, tracker=tracker)
            print(format_table(records))
            print(f"logged {len(records)} run(s) to {runs_dir / 'runs.jsonl'} and runs.csv")
            return 0 if all(r["status"] == "ok" for r in records) else 1
        if args.command == "table":
            runs = [r for r in read_runs(runs_dir) if args.experiment in (None, r["experiment"])]
            print(format_table(runs))
            return 0
        if args.command == "plot":
            paths = plot(runs_dir, args.experiment)
            for path in paths:
                print(f"wrote {path.relative_to(HERE) if path.is_relative_to(HERE) else path}")
            if not paths:
                print("nothing to plot yet: an experiment needs two runs or more (e.g. python run.py run weight_noise)")
            return 0
    except ExperimentError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
