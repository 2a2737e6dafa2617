"""The command line's rough edges (issue 18): `list` is quick, a closed pipe is not an error,
`check` wraps every message and `-v` shows it whole."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from course.authoring.lessons import ROOT
from course.authoring.runner import CellResult, format_table


def run(cmd: str, **env) -> subprocess.CompletedProcess:
    full = dict(os.environ, MPLBACKEND="Agg", BOOTCAMP_URL="http://127.0.0.1:9", **env)
    return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=ROOT, env=full)


def test_list_prints_the_lessons_without_heavy_imports():
    start = time.perf_counter()
    got = run(f"{sys.executable} -X importtime -m course list")
    took = time.perf_counter() - start
    assert got.returncode == 0 and "0.1   0.1-numpy" in got.stdout
    imported = {line.split("|")[-1].strip() for line in got.stderr.splitlines() if "|" in line}
    assert not imported & {"jupytext", "nbformat", "torch", "matplotlib", "numpy"}, imported & {"jupytext", "torch"}
    assert took < 5, f"bootcamp list took {took:.1f} s (it reads the lesson headers only)"


def test_a_reader_that_stops_early_is_not_an_error():
    got = run(f"{sys.executable} -m course progress --no-png --no-service | head -1; echo rc=${{PIPESTATUS[0]}}",
              BOOTCAMP_DATA_DIR=str(ROOT / ".bootcamp-test-none"))
    assert "BrokenPipeError" not in got.stderr and "Traceback" not in got.stderr, got.stderr
    assert got.stdout.strip().endswith("rc=0"), got.stdout


def failing(message: str) -> CellResult:
    return CellResult("standardise", "standardise_test", 2, False, "CheckFailure", message.splitlines()[0], message)


def test_check_table_wraps_messages_and_verbose_shows_them_whole():
    long = ("[standardise] wrong values: " + "the per-row mean was subtracted along the wrong axis " * 3
            + "\n    first differing index (0, 1): got 0.5, expected -1.0\n    likely cause: keepdims\n    hint: rows")
    table = format_table([failing(long)], width=70)
    assert all(len(line) <= 70 for line in table.splitlines()), table
    assert " ".join(table.split()).count("along the wrong axis") == 3  # nothing cut
    assert "first differing index" not in table and "-v" in table  # the details wait for -v
    full = format_table([failing(long)], verbose=True, width=70)
    flat = " ".join(full.split())
    assert "first differing index (0, 1): got 0.5, expected -1.0" in flat and "hint: rows" in flat
    assert all(len(line) <= 70 for line in full.splitlines()), full
