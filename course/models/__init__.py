"""The course's own small models: definitions, training, shipped checkpoints, TransformerLens.

- :mod:`course.models.gpt`: a GPT-2-style byte-level language model (one file, one config).
- :mod:`course.models.toy`: the toy model of superposition (lessons 4.2, 4.3), and the family of
  ``toy-sticky``, the paper's 400-features-in-30-dimensions sparsity sweep (4.2).
- A family module (any module here with `specs()`, see `registry.family_modules`) defines,
  trains and loads its shipped models; adding a family is adding a file. The families:
  :mod:`course.models.train` (the GPT, lessons 2.2, 3.1), :mod:`course.models.attn_only`
  (induction heads, 3.2), :mod:`course.models.grokking` (modular addition, 4.1),
  :mod:`course.models.sae` (sparse autoencoders, 4.3), :mod:`course.models.ioi` (the IOI task and its
  3-layer attention-only model, 3.3), :mod:`course.models.othello` (a 6x6 Othello engine and a GPT
  trained on its games, 4.4), :mod:`course.models.facts` (synthetic facts about invented
  names and a 6-layer GPT that memorised them, 4.5), :mod:`course.models.truth` (true and false comparisons of numbers and a
  GPT that judges them, the contrast pairs of CCS, 4.6).
- :mod:`course.models.train`: the training script that made every shipped checkpoint
  (``python -m course.models.train NAME``).
- :mod:`course.models.registry`: each model's config, checkpoint, lesson, metrics, tolerances.
- :mod:`course.models.tlens`: the one module where the course meets TransformerLens.
- :mod:`course.models.cli`: ``bootcamp models`` and ``bootcamp reproduce MODEL``.

Importing this package is cheap (no torch): the submodules import torch when used.
"""

from __future__ import annotations


def load(name: str, dtype=None):
    """The shipped model ``name`` (e.g. ``"stdlib-gpt"``) in eval mode. No network."""
    from .registry import load as _load

    return _load(name, dtype=dtype)


def names() -> list[str]:
    from .registry import names as _names

    return _names()


__all__ = ["load", "names"]
