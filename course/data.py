"""Offline data sets the lessons use. Nothing here downloads anything.

- :func:`digits`: scikit-learn's bundled 8x8 handwritten digits (1,797 images, shipped
  inside the scikit-learn package), split into train and test with a fixed seed.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Split:
    """Features and labels for train and test. Images are float32 in [0, 1]."""

    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any

    def __iter__(self):
        return iter((self.x_train, self.y_train, self.x_test, self.y_test))


def _digits_table() -> np.ndarray:
    """The (1797, 65) table behind ``sklearn.datasets.load_digits`` (64 pixels, then the label).

    Read straight from the CSV that scikit-learn ships, without importing scikit-learn,
    which costs seconds per notebook; the values are identical to ``load_digits()``'s.
    """
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz" if spec else None
    if path is None or not path.is_file():  # an unusual install: fall back to the public API
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return np.column_stack([bunch.data, bunch.target])
    return np.loadtxt(path, delimiter=",")


def digits(test_fraction: float = 0.2, seed: int = 0, images: bool = False, torch: bool = False) -> Split:
    """scikit-learn's digits, split reproducibly.

    Returns x of shape (n, 64) (or (n, 1, 8, 8) with ``images=True``), float32 scaled to
    [0, 1], and integer labels 0-9 of shape (n,). With ``torch=True`` the arrays are
    torch tensors (float32 and int64). The split is stratified by label and the same
    for the same ``seed``: 1,438 training and 359 test images at the default fraction.
    """
    raw = _digits_table()
    x = (raw[:, :-1] / 16.0).astype(np.float32)
    y = raw[:, -1].astype(np.int64)
    rng = np.random.default_rng(seed)
    test_idx = []
    for label in range(10):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        test_idx.append(idx[: int(round(len(idx) * test_fraction))])
    test = np.zeros(len(y), dtype=bool)
    test[np.concatenate(test_idx)] = True
    order_train = rng.permutation(np.flatnonzero(~test))
    order_test = np.flatnonzero(test)
    if images:
        x = x.reshape(-1, 1, 8, 8)
    parts = [x[order_train], y[order_train], x[order_test], y[order_test]]
    if torch:
        import torch as _torch

        parts = [_torch.from_numpy(np.ascontiguousarray(p)) for p in parts]
    return Split(*parts)
