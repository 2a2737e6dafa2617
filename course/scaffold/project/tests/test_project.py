"""Tests of this project's own code: `python -m pytest -q` (about 10-20 s on a CPU).

They check that the copied model code and checkpoints are intact and load, that the first
experiment reproduces the lesson's headline numbers, and that the runner logs, tabulates
and plots every run. Add a test for each function you add to experiments.py.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
run = importlib.import_module("run")  # the project root is on sys.path (pyproject.toml: pythonpath)
experiments = importlib.import_module("experiments")
registry = importlib.import_module("replication.models.registry")

CONFIG = run.load_config(ROOT / "config.toml")
PROVENANCE = json.loads((ROOT / "replication" / "PROVENANCE.json").read_text())


def test_checkpoints_are_the_ones_the_project_started_from():
    for model in PROVENANCE["models"]:
        for name, digest in model["files"].items():
            path = ROOT / "replication" / "models" / "checkpoints" / name
            assert path.is_file(), f"{path} is missing"
            got = hashlib.sha256(path.read_bytes()).hexdigest()
            assert got == digest, (f"{path.name} changed since the project was scaffolded; if you retrained it on "
                                   f"purpose, record the new sha256 in replication/PROVENANCE.json")


def test_every_model_loads_in_eval_mode():
    for model in PROVENANCE["models"]:
        spec = registry.get(model["name"])
        net = registry.load(spec.name)
        assert not net.training
        n_params = sum(p.numel() for p in net.parameters())
        assert n_params == spec.sidecar().get("n_params", n_params), "the checkpoint does not match its config"


def test_every_experiment_names_a_function():
    for name, table in CONFIG["experiments"].items():
        function = table.get("function", name)
        assert callable(getattr(experiments, function, None)), f"[experiments.{name}] calls {function}(): not defined"


def test_settings_merge_and_overrides():
    settings, sweep = run.settings_for({"defaults": {"seed": 0, "train": {"lr": 1.0, "wd": 0.1}},
                                        "experiments": {"e": {"noise": 0.1, "train": {"lr": 2.0},
                                                              "sweep": {"seed": [0, 1]}}}},
                                       "e", overrides={"train.wd": 0.5, "seed": 7}, sweep_overrides={"noise": [1, 2]})
    assert settings == {"seed": 7, "noise": 0.1, "train": {"lr": 2.0, "wd": 0.5}}
    assert sweep == {"noise": [1, 2]}, "--set fixes a swept setting; --sweep adds one"
    assert run.parse_value("0.1") == 0.1 and run.parse_value("[0, 1]") == [0, 1]
    assert run.parse_value("true") is True and run.parse_value("grokking-p53") == "grokking-p53"
    with pytest.raises(run.ExperimentError):
        run.settings_for({"experiments": {}}, "missing")


def test_sweep_expands_to_every_combination():
    runs = run.expand_sweep({"a": 1, "t": {"x": 0}}, {"b": [1, 2, 3], "t.x": [0.5, 1.5]})
    assert len(runs) == 6
    assert runs[0] == {"a": 1, "b": 1, "t": {"x": 0.5}} and runs[-1] == {"a": 1, "b": 3, "t": {"x": 1.5}}
    assert run.expand_sweep({"a": 1}, {}) == [{"a": 1}]
    with pytest.raises(run.ExperimentError):
        run.expand_sweep({}, {"b": []})


def test_runner_logs_every_run_and_plots_them(tmp_path):
    def toy(settings):
        if settings["x"] < 0:
            raise ValueError("negative x")
        return {"y": settings["x"] ** 2 + settings["seed"], "curve": {"step": [0, 1, 2], "loss": [3.0, 2.0, 1.0]}}

    module = types.SimpleNamespace(toy=toy, __file__=str(ROOT / "experiments.py"))
    config = {"defaults": {"seed": 0}, "experiments": {"toy": {"sweep": {"x": [-1, 1, 2], "seed": [0, 1]}}}}
    records = run.run_experiment("toy", config, runs_dir=tmp_path, module=module, quiet=True)
    assert [r["status"] for r in records].count("error") == 2, "the runs with x < 0 fail and are logged as failures"
    logged = run.read_runs(tmp_path)
    assert len(logged) == 6 and logged[-1]["settings"] == {"seed": 1, "x": 2} and logged[-1]["results"]["y"] == 5
    assert "ValueError: negative x" in logged[0]["error"]
    rows = (tmp_path / "runs.csv").read_text().splitlines()
    assert len(rows) == 7 and "settings.x" in rows[0] and "results.y" in rows[0]
    assert "curve" not in rows[0], "lists stay in runs.jsonl"
    assert "y" in run.format_table(logged)
    paths = run.plot(tmp_path)
    assert {p.name for p in paths} == {"toy.png", "toy_curves.png"} and all(p.stat().st_size > 0 for p in paths)


def test_first_experiment_reproduces_the_headline_numbers():
    settings, _ = run.settings_for(CONFIG, "reproduce")
    try:
        results = experiments.reproduce(settings)
    except NotImplementedError as err:
        pytest.skip(f"write headline() in experiments.py first: {err}")
    assert results["reproduced"] == 1.0, f"outside tolerance: {results['outside_tolerance']} ({results})"


def test_training_code_runs_a_few_steps(tmp_path):
    spec = registry.get(CONFIG["defaults"]["model"])
    # two steps, and the evaluation-only sizes of the training config made small where it has them
    small = {f"train.{k}": v for k, v in {"eval_windows": 8, "eval_batch": 8}.items() if hasattr(spec.train, k)}
    settings, _ = run.settings_for(CONFIG, "retrain", overrides={"steps": 2, "progress": False, "out": str(tmp_path),
                                                                  **small})
    results = experiments.retrain(settings)
    assert Path(results["checkpoint"]).is_file() and results["train_seconds"] >= 0
