"""Every model the course ships: its config, its checkpoint, the lesson that uses it, its metrics.

The registry is plain data (no torch import at module import): ``bootcamp models`` reads it
to list the models, ``bootcamp reproduce`` to retrain one and compare, and :func:`load` to
give a lesson a ready model. Metrics come from each checkpoint's JSON sidecar, written by
:mod:`course.models.train`; tolerances live here, next to the config they belong to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
SIZE_BUDGET_BYTES = 2 * 1024 * 1024  # per checkpoint; the README states the same budget


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # the module under course.models that defines it
    config: object  # the family's config dataclass
    train: object  # course.models.train.TrainConfig
    checkpoint: str  # file name under CHECKPOINT_DIR
    lesson: str  # the lesson that trains / introduces it
    description: str
    # metric -> allowed absolute difference between a retrained run and the shipped sidecar
    tolerances: dict[str, float] = field(default_factory=dict)
    # looser tolerances when the corpus hash differs from the shipped one (another Python)
    tolerances_other_corpus: dict[str, float] = field(default_factory=dict)
    module: str = ""  # the family module under course.models (filled in by the registry)
    # later lessons that use it as shipped (`bootcamp new-project <lesson>` copies it for them too)
    used_in: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return CHECKPOINT_DIR / self.checkpoint

    @property
    def sidecar_path(self) -> Path:
        return self.path.with_suffix(".json")

    def sidecar(self) -> dict:
        """The metrics and provenance recorded when the checkpoint was trained ({} if missing)."""
        return json.loads(self.sidecar_path.read_text()) if self.sidecar_path.is_file() else {}

    def size_bytes(self) -> int:
        return self.path.stat().st_size if self.path.is_file() else 0


# Modules of this package that are not model families.
_NOT_FAMILIES = {"registry", "cli", "tlens", "__init__", "__main__"}


def family_modules() -> list[str]:
    """Every module of course.models that defines ``specs()``: one family of models each.

    A family module is the one place its models are defined, trained and loaded; it provides

    - ``specs() -> list[ModelSpec]``: its shipped models;
    - ``run_spec(spec, out_dir=None, steps=None, progress=True) -> dict``: train ``spec`` from
      scratch, save the checkpoint and its JSON sidecar (with ``metrics``, ``seconds``,
      ``seed``, ``torch``, ``command``; ``corpus`` where a corpus can differ between
      machines), return the sidecar;
    - ``load_model(spec, dtype=None)``: the shipped checkpoint as an eval-mode module.

    Adding a family is adding a file: nothing here lists them.
    """
    import pkgutil

    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name not in _NOT_FAMILIES)


def _specs() -> dict[str, ModelSpec]:
    # Imported here, not at module import, so `import course.models` stays free of torch.
    import importlib
    from dataclasses import replace

    specs = {}
    for name in family_modules():
        module = importlib.import_module(f"{__package__}.{name}")
        if not hasattr(module, "specs"):
            continue
        for spec in module.specs():
            if spec.name in specs:
                raise ValueError(f"two models called {spec.name!r} ({specs[spec.name].module} and {name})")
            specs[spec.name] = replace(spec, module=name)
    return specs


def family(spec: ModelSpec):
    """The module that trains and loads ``spec``."""
    import importlib

    return importlib.import_module(f"{__package__}.{spec.module or 'train'}")


_CACHE: dict[str, ModelSpec] = {}


def all_models() -> list[ModelSpec]:
    if not _CACHE:
        _CACHE.update(_specs())
    return list(_CACHE.values())


def names() -> list[str]:
    return [s.name for s in all_models()]


def get(name: str) -> ModelSpec:
    for spec in all_models():
        if spec.name == name:
            return spec
    raise KeyError(f"no model called {name!r}; the course ships: {', '.join(names())}")


def load(name: str, dtype=None):
    """The shipped model ``name``, in eval mode, as float32 (or ``dtype``). No network."""
    spec = get(name)
    if not spec.path.is_file():
        raise FileNotFoundError(f"{spec.path} is missing: run `python -m course.models.train {name}`")
    return family(spec).load_model(spec, dtype=dtype)
