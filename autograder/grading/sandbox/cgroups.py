"""Limits for a run as a whole: a control group per run (memory, processes, CPU).

A run's learner side (its init, the learner's process and everything they start) joins one
cgroup, so memory, the number of processes and CPU are counted for all of them together (an
rlimit counts per process: forked children added up past the limit). Pages the run writes to
its tmpfs are charged to its memory too.

Which hierarchy: for each controller, cgroup v2 when the unified hierarchy has it, otherwise
the v1 hierarchy that mounts it (what a typical server has: systemd's v2, or v1 on older
distributions and in many containers). The run's group is made under the group the worker
itself is in, so a worker that a service manager placed in a slice stays inside it.

Needs root (or a delegated subtree). Where no controller can be used (an ordinary user, an
unprivileged container without delegation, v2 with the worker in a non-leaf group that cannot
enable controllers for its children), ``create`` returns an empty description and the run keeps
the per-process rlimits only; ``isolation["cgroup"]`` in every result says which.

Standard library only: this runs in the zygote's children.
"""

from __future__ import annotations

import os
import signal
import time

ROOT = "/sys/fs/cgroup"
CONTROLLERS = ("memory", "pids", "cpu")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _write(path: str, value: str) -> bool:
    try:
        with open(path, "w") as f:
            f.write(value)
        return True
    except OSError:
        return False


def _own_paths() -> dict[str, str]:
    """Controller (or "" for v2) -> this process's group path, from /proc/self/cgroup."""
    out = {}
    for line in _read("/proc/self/cgroup").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, names, path = parts
        if names == "":
            out[""] = path
        for name in names.split(","):
            out[name] = path
    return out


def _mounts() -> dict[str, str]:
    """Controller (or "" for v2) -> where its hierarchy is mounted."""
    out = {}
    for line in _read("/proc/self/mounts").splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        where, fstype, opts = parts[1], parts[2], parts[3].split(",")
        if fstype == "cgroup2":
            out.setdefault("", where)
        elif fstype == "cgroup":
            for c in CONTROLLERS:
                if c in opts:
                    out.setdefault(c, where)
    return out


def groups(name: str) -> dict[str, tuple[int, str]]:
    """Controller -> (version, directory of the run's group ``name``), for the controllers found."""
    own, mounts = _own_paths(), _mounts()
    out: dict[str, tuple[int, str]] = {}
    if "" in mounts:
        base = os.path.join(mounts[""], own.get("", "/").lstrip("/"))
        available = _read(os.path.join(base, "cgroup.controllers")).split()
        for c in CONTROLLERS:
            if c in available:
                out[c] = (2, os.path.join(base, name))
    for c in CONTROLLERS:
        if c not in out and c in mounts and c in own:
            out[c] = (1, os.path.join(mounts[c], own[c].lstrip("/"), name))
    return out


def _settings(c: str, version: int, memory_bytes: int, max_processes: int, cpus: float) -> dict[str, str]:
    period = 100_000
    if c == "memory":
        return {"memory.max": str(memory_bytes), "memory.swap.max": "0"} if version == 2 else \
            {"memory.limit_in_bytes": str(memory_bytes)}
    if c == "pids":
        return {"pids.max": str(max_processes)}
    quota = str(max(1000, int(cpus * period)))
    return {"cpu.max": f"{quota} {period}"} if version == 2 else \
        {"cpu.cfs_period_us": str(period), "cpu.cfs_quota_us": quota}


def create(name: str, memory_bytes: int, max_processes: int, cpus: float = 1.0) -> dict[str, str]:
    """Make the run's group in each hierarchy found, with its limits. Returns the directories
    made (controller -> directory); empty where none could be used."""
    remove(name)  # a group of this name left by a worker that died: its uid lease is ours now
    made: dict[str, str] = {}
    for c, (version, d) in groups(name).items():
        if version == 2:
            _write(os.path.join(os.path.dirname(d), "cgroup.subtree_control"), f"+{c}")
        try:
            os.makedirs(d, exist_ok=True)
        except OSError:
            continue
        ok = True
        for key, value in _settings(c, version, memory_bytes, max_processes, cpus).items():
            if os.path.exists(os.path.join(d, key)) and not _write(os.path.join(d, key), value):
                ok = ok and key == "memory.swap.max"  # no swap accounting: the limit still holds for RAM
        if ok:
            made[c] = d
        else:
            _rmdir(d)
    return made


def join(dirs: dict[str, str], pid: int = 0) -> list[str]:
    """Put ``pid`` (0: the caller) in the run's groups; the controllers it joined."""
    joined = []
    for c, d in dirs.items():
        if _write(os.path.join(d, "cgroup.procs"), str(pid or os.getpid())):
            joined.append(c)
    return joined


def describe(dirs: dict[str, str]) -> str:
    if not dirs:
        return "none (per-process limits only)"
    versions = {c: ("v2" if os.path.exists(os.path.join(os.path.dirname(d), "cgroup.controllers")) else "v1")
                for c, d in dirs.items()}
    return ", ".join(f"{c} ({v})" for c, v in sorted(versions.items()))


def _rmdir(d: str) -> bool:
    try:
        os.rmdir(d)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def remove(name: str, wait: float = 2.0) -> bool:
    """End every process still in the run's groups and remove them. True when all are gone."""
    dirs = {d for _, d in groups(name).values() if os.path.isdir(d)}
    deadline = time.monotonic() + wait
    while dirs:
        for d in list(dirs):
            if os.path.exists(os.path.join(d, "cgroup.kill")):
                _write(os.path.join(d, "cgroup.kill"), "1")
            for pid in _read(os.path.join(d, "cgroup.procs")).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            if _rmdir(d):
                dirs.discard(d)
        if not dirs or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    return not dirs
