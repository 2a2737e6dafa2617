"""Offline data sets the lessons use. Nothing here downloads anything.

- :func:`digits`: scikit-learn's bundled 8x8 handwritten digits (1,797 images, shipped
  inside the scikit-learn package), split into train and test with a fixed seed.
- :func:`stdlib_corpus`: Python's own standard-library source as a byte-level text corpus
  with a fixed train/validation split and a sha256 (lesson 2.2 and ``course.models``).
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


# --------------------------------------------------------------------------------------
# The text corpus: Python's own standard-library source
# --------------------------------------------------------------------------------------

# A fixed list of pure-Python standard-library modules, in the order they are concatenated.
# Every one exists in CPython 3.10-3.13 (modules removed by PEP 594 are left out), so the
# list is the same everywhere; the *contents* still change between Python versions, which
# is why the corpus carries its sha256 and the shipped checkpoint records the hash it was
# trained on. About 5.1 MB of source on CPython 3.11 (5.11 MB train, 0.14 MB validation).
STDLIB_TRAIN_FILES: tuple[str, ...] = (
    "abc.py", "argparse.py", "ast.py", "base64.py", "bdb.py", "cmd.py", "code.py", "codecs.py",
    "codeop.py", "collections/__init__.py", "colorsys.py", "configparser.py", "contextlib.py",
    "copy.py", "copyreg.py", "cProfile.py", "dataclasses.py", "datetime.py", "decimal.py", "difflib.py",
    "dis.py", "doctest.py", "enum.py", "filecmp.py", "fileinput.py", "fnmatch.py", "ftplib.py",
    "functools.py", "genericpath.py", "getopt.py", "gettext.py", "glob.py", "gzip.py", "hashlib.py",
    "hmac.py", "http/client.py", "http/cookies.py", "http/server.py", "imaplib.py", "inspect.py",
    "io.py", "ipaddress.py", "json/__init__.py", "json/decoder.py", "json/encoder.py", "keyword.py",
    "linecache.py", "locale.py", "logging/__init__.py", "logging/handlers.py", "lzma.py", "mailbox.py",
    "mimetypes.py", "netrc.py", "ntpath.py", "numbers.py", "opcode.py", "operator.py", "optparse.py",
    "os.py", "pathlib.py", "pdb.py", "pickle.py", "pickletools.py", "pkgutil.py", "platform.py",
    "plistlib.py", "poplib.py", "posixpath.py", "pprint.py", "profile.py", "pstats.py", "py_compile.py",
    "pyclbr.py", "pydoc.py", "queue.py", "quopri.py", "random.py", "re/__init__.py", "re/_compiler.py",
    "re/_parser.py", "reprlib.py", "rlcompleter.py", "runpy.py", "sched.py", "secrets.py",
    "selectors.py", "shutil.py", "signal.py", "site.py", "smtplib.py", "socket.py", "socketserver.py",
    "sre_compile.py", "ssl.py", "stat.py", "statistics.py", "string.py", "stringprep.py", "struct.py",
    "subprocess.py", "symtable.py", "sysconfig.py", "tabnanny.py", "tarfile.py", "tempfile.py",
    "threading.py", "timeit.py", "token.py", "tokenize.py", "trace.py", "traceback.py", "tracemalloc.py",
    "types.py", "typing.py", "uuid.py", "warnings.py", "wave.py", "weakref.py", "webbrowser.py",
    "zipapp.py", "zipimport.py", "_pydecimal.py", "_pyio.py", "_strptime.py", "_threading_local.py",
    "unittest/case.py", "unittest/mock.py", "unittest/loader.py", "unittest/runner.py",
    "asyncio/base_events.py", "asyncio/events.py", "asyncio/futures.py", "asyncio/locks.py",
    "asyncio/queues.py", "asyncio/streams.py", "asyncio/tasks.py", "email/message.py",
    "email/utils.py", "email/_header_value_parser.py", "urllib/parse.py", "urllib/request.py",
    "xml/dom/minidom.py", "xml/etree/ElementTree.py", "sqlite3/__init__.py",
)
# Held-out modules: the validation split is whole files, so a model cannot score well by
# memorising neighbouring lines of the files it trained on.
STDLIB_VALIDATION_FILES: tuple[str, ...] = (
    "bisect.py", "calendar.py", "csv.py", "fractions.py", "graphlib.py", "heapq.py", "shlex.py",
    "textwrap.py",
)
# sha256 of the corpus as built on CPython 3.11.7 (the one the shipped checkpoint saw).
STDLIB_CORPUS_SHA256 = "6e478494a5426e028bc8fb8cc438882cecbe6a1bed1f07fc18857eeae98310f6"


@dataclass
class TextCorpus:
    """A byte-level text corpus with a fixed train/validation split.

    ``train`` and ``val`` are ``bytes`` (UTF-8 source; the stdlib is almost all ASCII, so one
    byte is one character). ``sha256`` hashes both splits; ``matches_reference`` says whether
    it is the corpus the shipped checkpoint was trained on. ``missing`` lists files of the
    fixed list that this Python does not have (they are skipped, which changes the hash).
    """

    train: bytes
    val: bytes
    sha256: str
    python: str
    files: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def matches_reference(self) -> bool:
        return self.sha256 == STDLIB_CORPUS_SHA256

    def describe(self) -> str:
        """One line: which corpus this is, so a log or a test report can say which was used."""
        same = "the reference corpus" if self.matches_reference else "NOT the reference corpus"
        return (f"stdlib corpus of Python {self.python}: {len(self.train):,} train + {len(self.val):,} "
                f"validation bytes, sha256 {self.sha256[:12]}... ({same}; {len(self.missing)} file(s) missing)")

    def tokens(self, split: str = "train", torch: bool = False):
        """The split as a 1-D array of byte values 0-255 (uint8 numpy, or int64 torch with ``torch=True``)."""
        data = {"train": self.train, "val": self.val}[split]
        arr = np.frombuffer(data, dtype=np.uint8)
        if torch:
            import torch as _torch

            return _torch.from_numpy(arr.astype(np.int64))
        return arr


def corpus_sha256(train: bytes, val: bytes) -> str:
    """The corpus hash: sha256 of the train bytes, a NUL separator, then the validation bytes."""
    import hashlib

    return hashlib.sha256(train + b"\x00" + val).hexdigest()


def stdlib_corpus(stdlib_dir: str | Path | None = None) -> TextCorpus:
    """Python's standard-library source as a text corpus, split into train and validation files.

    Reads the fixed lists :data:`STDLIB_TRAIN_FILES` and :data:`STDLIB_VALIDATION_FILES` from
    ``sysconfig.get_paths()["stdlib"]`` (or ``stdlib_dir``) and joins each list, in order, with a
    blank line. Nothing is downloaded; it takes a few milliseconds. The stdlib differs between
    Python versions, so check ``corpus.matches_reference`` (or print ``corpus.describe()``)
    before comparing a loss with a recorded one.
    """
    import sys
    import sysconfig

    root = Path(stdlib_dir) if stdlib_dir is not None else Path(sysconfig.get_paths()["stdlib"])
    missing: list[str] = []

    def read(names: tuple[str, ...]) -> bytes:
        parts = []
        for name in names:
            path = root / name
            if path.is_file():
                # newline normalisation keeps the corpus identical on Windows checkouts
                parts.append(path.read_bytes().replace(b"\r\n", b"\n"))
            else:
                missing.append(name)
        return b"\n\n".join(parts)

    train, val = read(STDLIB_TRAIN_FILES), read(STDLIB_VALIDATION_FILES)
    version = ".".join(map(str, sys.version_info[:3])) if stdlib_dir is None else f"? ({root})"
    return TextCorpus(train=train, val=val, sha256=corpus_sha256(train, val), python=version,
                      files=STDLIB_TRAIN_FILES + STDLIB_VALIDATION_FILES, missing=tuple(missing))
