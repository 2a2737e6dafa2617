"""``bootcamp models`` and ``bootcamp reproduce MODEL``.

course/cli.py wires these in with one call: ``add_subcommands(sub)``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


def add_subcommands(subparsers) -> None:
    """Register ``models`` and ``reproduce`` on the ``bootcamp`` argparse sub-parsers."""
    s = subparsers.add_parser("models", help="list the course's shipped models with size, metrics and lesson")
    s.set_defaults(func=cmd_models)
    s = subparsers.add_parser("reproduce", help="retrain a shipped model from scratch and compare its metrics")
    s.add_argument("model", help="a model name (bootcamp models lists them)")
    s.add_argument("--out", type=Path, default=None,
                   help="where to keep the retrained checkpoint (default: a temporary folder)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_reproduce)


def _fmt_metrics(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()) or "no sidecar"


def cmd_models(args) -> int:
    from .registry import SIZE_BUDGET_BYTES, all_models

    print(f"{len(all_models())} model(s); size budget {SIZE_BUDGET_BYTES / 2**20:.0f} MiB per checkpoint")
    for spec in all_models():
        side = spec.sidecar()
        size = spec.size_bytes()
        if size:
            over = "  OVER THE SIZE BUDGET" if size > SIZE_BUDGET_BYTES else ""
            state = f"{size / 1e6:.2f} MB {side.get('dtype', '')}, {side.get('n_params', 0):,} parameters{over}"
        else:
            state = "checkpoint MISSING"
        print(f"{spec.name:<14} lesson {spec.lesson:<5} {state}")
        print(f"    {spec.description}")
        print(f"    metrics: {_fmt_metrics(side.get('metrics', {}))}")
        tol = ", ".join(f"{k} ±{v}" for k, v in spec.tolerances.items())
        print(f"    reproduce: bootcamp reproduce {spec.name}  (tolerances {tol})")
    return 0


def compare(shipped: dict, new: dict, tolerances: dict[str, float]) -> tuple[list[tuple], bool]:
    """Rows (metric, shipped, retrained, |diff|, tolerance, ok) for every toleranced metric."""
    rows, ok_all = [], True
    for metric, tol in tolerances.items():
        a, b = shipped.get(metric), new.get(metric)
        if a is None or b is None:
            rows.append((metric, a, b, None, tol, False))
            ok_all = False
            continue
        diff = abs(a - b)
        ok = diff <= tol
        ok_all &= ok
        rows.append((metric, a, b, diff, tol, ok))
    return rows, ok_all


def format_rows(rows: list[tuple]) -> str:
    w = max([14] + [len(r[0]) + 2 for r in rows])
    lines = [f"{'metric':<{w}}{'shipped':>10}{'retrained':>11}{'|diff|':>9}{'tolerance':>11}  result"]
    for metric, a, b, diff, tol, ok in rows:
        fa = "-" if a is None else f"{a:.4f}"
        fb = "-" if b is None else f"{b:.4f}"
        fd = "-" if diff is None else f"{diff:.4f}"
        lines.append(f"{metric:<{w}}{fa:>10}{fb:>11}{fd:>9}{tol:>11.4f}  {'ok' if ok else 'OUTSIDE'}")
    return "\n".join(lines)


def reproduce_spec(spec, out_dir: Path | None = None, progress: bool = True) -> int:
    """Retrain ``spec`` from scratch into ``out_dir`` and compare with its shipped sidecar; 0 ok, 1 not."""
    from .registry import family

    shipped = spec.sidecar()
    if not shipped:
        print(f"{spec.name}: no shipped sidecar at {spec.sidecar_path}: nothing to compare with")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        new = family(spec).run_spec(spec, Path(out_dir or tmp), progress=progress)
    has_corpus = "corpus" in new
    same_corpus = not has_corpus or new["corpus"]["sha256"] == shipped.get("corpus", {}).get("sha256")
    tolerances = spec.tolerances if same_corpus else (spec.tolerances_other_corpus or spec.tolerances)
    rows, ok = compare(shipped.get("metrics", {}), new["metrics"], tolerances)
    print(f"{spec.name}: retrained in {new['seconds']} s with seed {new['seed']} (torch {new['torch']})")
    if has_corpus:
        print("corpus: " + ("the same as the shipped checkpoint's" if same_corpus else
                            f"DIFFERENT from the shipped checkpoint's (Python {new['corpus']['python']} vs "
                            f"{shipped.get('corpus', {}).get('python', '?')}): using the looser tolerances"))
    print(format_rows(rows))
    print("reproduced within tolerance" if ok else "NOT reproduced: a metric is outside its tolerance")
    return 0 if ok else 1


def cmd_reproduce(args) -> int:
    from .registry import get

    try:
        spec = get(args.model)
    except KeyError as e:
        print(e.args[0])
        return 2
    return reproduce_spec(spec, args.out, progress=not args.no_progress)
