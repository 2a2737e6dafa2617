"""The project's experiments: one function each, ``name(settings: dict) -> dict of results``.

``python run.py run NAME`` calls the function of ``[experiments.NAME]`` in config.toml with
its settings and logs what it returns: numbers (in runs.csv and the plots), strings, and
lists of numbers (curves: in runs.jsonl and ``python run.py plot``). Add an experiment by
writing a function here and a table there.

The model code is the course's own, copied into ``replication/`` by ``bootcamp new-project``
(read it: it is short). ``registry.get(name)`` is a model's spec (config, training config,
checkpoint, tolerances, ``spec.sidecar()`` with the metrics and curves recorded when it was
trained), ``registry.load(name)`` is the shipped checkpoint in eval mode, and
``registry.family(spec)`` is the module that defines, trains and evaluates it.
"""

from __future__ import annotations

from replication.models import registry


def setup(settings: dict) -> None:
    """Fix the thread count and seed torch, so that a run repeats to the last bit on one machine."""
    import torch

    torch.set_num_threads(int(settings.get("threads", 1)))
    torch.manual_seed(int(settings.get("seed", 0)))


def headline(model, spec) -> dict[str, float]:
    """The lesson's headline numbers, measured on ``model`` by evaluation alone (no training).

    The keys are those of the checkpoint's sidecar metrics (``spec.sidecar()["metrics"]``).
    """
    raise NotImplementedError("bootcamp new-project writes this function for the lesson's model family")


def compare(measured: dict, shipped: dict, tolerances: dict) -> list[tuple]:
    """(metric, measured, shipped, |diff|, tolerance, ok) for each toleranced metric measured here."""
    rows = []
    for metric, tol in tolerances.items():
        if metric in measured and metric in shipped:
            diff = abs(measured[metric] - shipped[metric])
            rows.append((metric, measured[metric], shipped[metric], diff, tol, diff <= tol))
    return rows


def reproduce(settings: dict) -> dict:
    """The first experiment: evaluate the shipped checkpoint and compare with its sidecar.

    Results: each headline metric, the shipped value as ``<metric>_shipped``, and
    ``reproduced`` (1 if every toleranced metric that evaluation can measure is within its
    tolerance). Metrics only training can measure (the epoch a curve crossed a threshold,
    a mean over the last training steps) are compared by the ``retrain`` experiment instead.
    """
    setup(settings)
    spec = registry.get(settings["model"])
    measured = headline(registry.load(spec.name), spec)
    shipped = spec.sidecar().get("metrics", {})
    other_data = measured.get("corpus_is_reference") == 0.0 and spec.tolerances_other_corpus
    rows = compare(measured, shipped, spec.tolerances_other_corpus if other_data else spec.tolerances)
    print(f"{spec.name}: {spec.description}")
    print(f"{'metric':<20}{'measured':>12}{'shipped':>12}{'|diff|':>10}{'tolerance':>11}")
    for metric, got, want, diff, tol, ok in rows:
        print(f"{metric:<20}{got:>12.5g}{want:>12.5g}{diff:>10.3g}{tol:>11.3g}  {'ok' if ok else 'OUTSIDE'}")
    results = dict(measured)
    results.update({f"{metric}_shipped": want for metric, _, want, _, _, _ in rows})
    results["reproduced"] = float(bool(rows) and all(row[-1] for row in rows))
    results["outside_tolerance"] = ", ".join(row[0] for row in rows if not row[-1])
    return results


def weight_noise(settings: dict) -> dict:
    """An example extension: how fast do the headline numbers degrade when every weight
    tensor gets Gaussian noise of standard deviation ``noise`` times its own?

    Sweep ``noise`` and ``seed`` (config.toml does): the spread over seeds at one noise level
    says how large an effect must be before you can believe it.
    """
    import torch

    setup(settings)
    spec = registry.get(settings["model"])
    model = registry.load(spec.name)
    generator = torch.Generator().manual_seed(int(settings.get("seed", 0)))
    with torch.no_grad():
        for param in model.parameters():
            scale = param.float().std() if param.numel() > 1 else param.float().abs()
            param.add_(float(settings["noise"]) * scale * torch.randn(param.shape, generator=generator))
    return headline(model, spec)


def retrain(settings: dict) -> dict:
    """Train the model from scratch with the course's training code, changed as the settings say.

    ``train`` and ``model_config`` (tables in config.toml, or ``--set train.FIELD=VALUE``)
    override fields of the training and model configs; ``seed`` sets the training config's
    seed (the shipped checkpoints used 0); ``steps`` (0: the full run) shortens it. The checkpoint and its sidecar go to ``runs/checkpoints/<model>-<time>/``; the
    results are the sidecar's metrics and curves.
    """
    from dataclasses import replace
    from datetime import datetime
    from pathlib import Path

    setup(settings)
    spec = registry.get(settings["model"])
    train = {"seed": int(settings["seed"])} if "seed" in settings and hasattr(spec.train, "seed") else {}
    train.update(settings.get("train", {}))
    spec = replace(spec, config=replace(spec.config, **settings.get("model_config", {})),
                   train=replace(spec.train, **train))
    out = Path(settings.get("out") or Path(__file__).resolve().parent / "runs" / "checkpoints")
    out = out / f"{spec.name}-{datetime.now():%Y%m%d-%H%M%S}-seed{settings.get('seed', 0)}"
    sidecar = registry.family(spec).run_spec(spec, out_dir=out, steps=int(settings.get("steps", 0)) or None,
                                             progress=bool(settings.get("progress", True)))
    return {**sidecar["metrics"], "train_seconds": sidecar["seconds"], "checkpoint": str(out / spec.checkpoint),
            "curve": sidecar.get("curve", {})}
