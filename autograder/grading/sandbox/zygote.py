"""The zygote (forks a pair per submission: P sets up isolation, forks the run's init and L, becomes T)
and the worker's side (Zygote, RunOutcome)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import cgroups
from .channel import _LEN, ChannelClosed, ChannelTimeout, _recv_exact, recv_json, recv_msg, send_json, send_msg
from .isolation import (
    CLONE_NEWPID,
    PR_SET_CHILD_SUBREAPER,
    PR_SET_DUMPABLE,
    PR_SET_PDEATHSIG,
    UidLease,
    _c,
    _close_fds,
    _drop_to,
    _init_loop,
    _isolate,
    _learner_view,
    _limits,
    _scratch,
    _set_name,
    _share_tempdirs,
    _stdio_to_null,
    kill_uids,
)
from .learner import _fingerprint, learner_main
from .tests import tests_main


def pair_main(worker_fd: int, job: dict) -> None:
    """P: set up the namespaces, fork L, become T. Never returns."""
    try:
        _set_name("grade-pair")
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _c().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        worker = socket.socket(fileno=worker_fd)
        root = os.geteuid() == 0  # before _isolate: inside a user namespace everyone is "root"
        files_fd = None
        if job.get("files_from") and os.path.isdir(job["files_from"]):
            files_fd = os.open(job["files_from"], os.O_RDONLY | os.O_DIRECTORY)  # still readable once /tmp is replaced
        own_pids = os.open("/proc/self/ns/pid", os.O_RDONLY)  # to give T's later children its own again
        isolation = _isolate(job)
        # From here not dumpable (P, T, the run's init; after the user namespace's maps are written,
        # which needs it): without root L has T's uid and, its capabilities dropped, could otherwise
        # reach T's view of the machine through /proc/<T>/root, cwd or fd, or ptrace T
        _c().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        base = int(job["uid_base"]) + int(job["uid_index"])
        uid_l, uid_t = (base, base + 1000) if root else (0, 0)
        isolation["uids"] = root
        # the run's learner side (its init, L, all they start) in one cgroup: limits for it as a whole
        run_groups = cgroups.create(f"bootcamp-run-{base}", int(job["memory_bytes"]), int(job["max_processes"]),
                                    float(job.get("cpus", 1.0))) if root else {}
        isolation["cgroup"] = cgroups.describe(run_groups)
        tmp = "/tmp" if isolation["mounts"] else job["fallback_scratch"]
        home_l = _scratch(os.path.join(tmp, "learner"), uid_l,
                          f"/proc/self/fd/{files_fd}" if files_fd is not None else None)
        if files_fd is not None:
            os.close(files_fd)
        home_t = _scratch(os.path.join(tmp, "tests"), uid_t)
        exchange = _scratch(os.path.join(tmp, "exchange"), uid_t)
        os.chmod(exchange, 0o711)  # L may enter the directories a test makes for it, not list or add to this one
        a, b = socket.socketpair()
        fingerprint = _fingerprint()
        users = {"root": 0, "learner": uid_l, "tests": uid_t} if root else {"root": 0}
        view_r, view_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # I, the run's init (pid 1 of its PID namespace), then L under it
            try:
                worker.close()
                a.close()
                os.close(view_r)
                _close_fds({b.fileno(), view_w})
                _stdio_to_null()
                _c().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                # L's own root: only what a run needs (T keeps the pair's view)
                os.write(view_w, _learner_view(isolation, users).encode()[:512])
                os.close(view_w)
                cgroups.join(run_groups)
                _set_name("grade-init")
                lpid = os.fork()
                if lpid:
                    b.close()
                    os._exit(_init_loop(lpid))
                _drop_to(uid_l, home_l)
                os.chmod(home_l, 0o711)  # T may enter a temp dir of L's code, not list L's home
                _share_tempdirs(None)
                os.umask(0)  # what it writes into a test's directory, the test can read and clean up
                _limits(job)
                _c().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                _set_name("grade-learner")
                learner_main(b, int(job["output_bytes"]), fingerprint)
            finally:
                os._exit(0)
        b.close()
        os.close(view_w)
        isolation["files"] = _read_view(view_r)
        os.close(view_r)
        if isolation["pids"]:
            _c().setns(own_pids, CLONE_NEWPID)  # a test's own subprocesses are not the learner's
        os.close(own_pids)
        _close_fds({a.fileno(), worker.fileno()})
        _stdio_to_null()
        _drop_to(uid_t, home_t)
        _share_tempdirs(exchange)
        os.umask(0)  # what a test makes in a temp dir (a project to run), the learner's code may write in
        _limits({**job, "max_processes": 4})
        _c().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        send_json(worker, {"event": "isolation", **isolation})
        _set_name("grade-tests")
        tests_main(worker, a, pid, job)
    except BaseException as err:  # noqa: BLE001
        try:
            send_json(socket.socket(fileno=worker_fd), {"event": "error", "reason": f"{type(err).__name__}: {err}"})
        except Exception:
            pass
    finally:
        os._exit(0)


def _read_view(fd: int, seconds: float = 30.0) -> str:
    """What view of the files the run's init gave L (``isolation._learner_view``)."""
    import select

    if not select.select([fd], [], [], seconds)[0]:
        return "unknown (the run's init did not say)"
    return os.read(fd, 512).decode(errors="replace") or "unknown (the run's init ended)"


# What torch imports on first use, in a process that has imported torch: each run (L and T, both
# forked from here) would import them again. Measured on 2 cores: torch._dynamo 1.2 s (every
# ``optimizer.step()`` imports it), torch.fx.experimental.symbolic_shapes 0.4-0.9 s (sympy: every
# ``torch.autograd.grad`` with ``grad_outputs``, in L's backward and in the checks' own).
TORCH_LAZY_IMPORTS = ("torch._dynamo", "torch.fx.experimental.symbolic_shapes")
# The same for other libraries the zygote imported (a lesson imports them): what their first use
# imports. transformer_lens.model_bridge (and the transformers modules under it): 1.0-1.5 s in
# each process that builds a bridge, i.e. in L and, since 3.1's tests run in T, in T as well.
LIBRARY_LAZY_IMPORTS = {"transformer_lens": ("transformer_lens.model_bridge",)}


def zygote_main(fd: int) -> None:
    """Import the heavy modules once, then fork a pair for each request on ``fd``."""
    ctl = socket.socket(fileno=fd)
    _set_name("grade-zygote")  # and its pairs: grade-pair (becomes grade-tests), grade-init, grade-learner
    cfg = json.loads(recv_msg(ctl))
    sys.path[:0] = [p for p in cfg.get("sys_path", []) if p not in sys.path]
    warm_start = time.monotonic()
    failed = []
    for name in ["tempfile", "IPython.core.inputtransformer2"] + [m for m in cfg.get("warm_imports", []) if m]:
        try:
            __import__(name)
        except Exception as err:
            failed.append(f"{name}: {err}")
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
        for name in TORCH_LAZY_IMPORTS:  # else every run pays them again, in L and in T (issue 25)
            try:
                __import__(name)
            except Exception as err:
                failed.append(f"{name}: {err}")
    for library, names in LIBRARY_LAZY_IMPORTS.items():
        if library in sys.modules:
            for name in names:
                try:
                    __import__(name)
                except Exception as err:
                    failed.append(f"{name}: {err}")
    if "matplotlib" in sys.modules:
        try:  # the mathtext grammar (pyparsing: 0.6-0.8 s) is built on a plot's first label and kept on the
            # class: built here, once, instead of in every run whose notebook draws a label (0.1, issue 25)
            import logging

            from matplotlib.mathtext import MathTextParser

            fonts = logging.getLogger("matplotlib.font_manager")  # "findfont: ... not found" for each fallback
            level, fonts.level = fonts.level, logging.ERROR
            try:
                MathTextParser("path").parse("$x^2$")
            finally:
                fonts.setLevel(level)
        except Exception as err:
            failed.append(f"matplotlib.mathtext: {err}")
    import gc

    gc.collect()
    gc.freeze()  # what was imported above stays out of every run's garbage collections (and its pages unwritten)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the pairs...
    _c().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # ...and their orphans (no zombies left in a slot's uid)
    send_json(ctl, {"event": "ready", "seconds": time.monotonic() - warm_start, "failed": failed,
                    "pid": os.getpid()})
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ctl, 1 << 20, 1)
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)
        job = json.loads(msg)
        if not fds:
            continue
        pid = os.fork()
        if pid == 0:
            ctl.close()
            pair_main(fds[0], job)
        os.close(fds[0])
        ctl.sendall(_LEN.pack(pid))


@dataclass
class RunOutcome:
    cells: dict[int, dict] = field(default_factory=dict)  # index -> {"outputs", "ok", ...}
    status: str = "done"  # done | timeout | crashed | error
    index: int | None = None  # the cell that timed out or crashed
    reason: str = ""
    seconds: float = 0.0  # wall time of the cells themselves
    cpu_seconds: float = 0.0  # CPU time of L (and what it waited for) and T over the cells: not inflated by load
    isolation: dict = field(default_factory=dict)
    patched: list[tuple[int, list[str]]] = field(default_factory=list)
    rebound: list[tuple[int, list[str]]] = field(default_factory=list)
    channel: dict = field(default_factory=dict)  # T's round trips to L: count, bytes, seconds waited


class Zygote:
    """The worker's pre-warmed forker. Thread-safe; restarts itself if it dies."""

    def __init__(self, warm_imports: list[str], sys_path: list[str] | None = None):
        self.warm_imports = warm_imports
        self.sys_path = sys_path or []
        self.lock = threading.Lock()
        self.proc = None
        self.ctl: socket.socket | None = None
        self.warm_seconds = 0.0

    def start(self) -> None:
        import subprocess

        ours, theirs = socket.socketpair()
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
               "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "HOME": "/nonexistent",
               # A run has one CPU (its cgroup's quota), but a notebook may ask torch for more threads
               # (1.4 compares 1 thread with 2). OpenMP's idle threads then spin on a CPU another
               # slot needs: two such runs at once took 6.0 s each instead of 4.1 s; waiting
               # passively, 4.6 s. Read once, when the zygote's torch loads libgomp (issue 25).
               "OMP_WAIT_POLICY": "PASSIVE"}
        # The zygote's environment is what every sandbox inherits: nothing of the service's
        # (database URL, secret key) may be in it.
        code = ("import sys; from autograder.grading.sandbox import zygote_main; zygote_main(int(sys.argv[1]))")
        pkg_parent = str(Path(__file__).resolve().parents[3])  # the repository: autograder/grading/sandbox/zygote.py
        env["PYTHONPATH"] = pkg_parent
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(theirs.fileno())], pass_fds=[theirs.fileno()],
                                     env=env, cwd="/", stdin=subprocess.DEVNULL)
        theirs.close()
        self.ctl = ours
        send_json(ours, {"warm_imports": self.warm_imports, "sys_path": self.sys_path})
        ready = recv_json(ours, time.monotonic() + 300)
        self.warm_seconds = ready["seconds"]
        self.warm_failed = ready["failed"]

    def stop(self) -> None:
        if self.ctl:
            self.ctl.close()
        if self.proc:
            self.proc.kill()
            self.proc.wait()
        self.ctl = self.proc = None

    def spawn(self, job: dict) -> tuple[int, socket.socket]:
        ours, theirs = socket.socketpair()
        with self.lock:
            for attempt in range(2):
                if self.proc is None or self.proc.poll() is not None:
                    self.stop()
                    self.start()
                try:
                    socket.send_fds(self.ctl, [json.dumps(job).encode()], [theirs.fileno()])
                    (pid,) = _LEN.unpack(_recv_exact(self.ctl, 4, time.monotonic() + 30))
                    break
                except (OSError, ChannelClosed, ChannelTimeout):
                    if attempt:
                        raise
                    self.stop()
        theirs.close()
        return pid, ours

    def run(self, job: dict, cells: list[dict], wall_seconds: float) -> RunOutcome:
        with UidLease(int(job["uid_base"])) as index:
            return self._run({**job, "uid_index": index}, cells, wall_seconds)

    def _run(self, job: dict, cells: list[dict], wall_seconds: float) -> RunOutcome:
        job = {**job, "wall_seconds": wall_seconds}
        trusted = {"trusted_imports": job.pop("trusted_imports", ""), "cells": cells}
        pid, sock = self.spawn(job)  # the zygote sees limits and paths only, never a cell
        try:
            send_msg(sock, json.dumps(trusted).encode())  # to T, over the channel only it holds
        except OSError:
            pass
        out = RunOutcome()
        start = time.monotonic()
        hard_deadline = start + wall_seconds + 5.0
        learner_pid = None
        last_index = None
        try:
            while True:
                try:
                    ev = json.loads(recv_msg(sock, hard_deadline, 64 * 1024 * 1024))
                except ChannelTimeout:
                    out.status, out.index = "timeout", _next_index(cells, last_index)
                    break
                except ChannelClosed:
                    out.status, out.index = "error", _next_index(cells, last_index)
                    out.reason = "the sandbox ended without a result"
                    break
                kind = ev.get("event")
                if kind == "isolation":
                    out.isolation = {k: v for k, v in ev.items() if k != "event"}
                elif kind == "started":
                    learner_pid = ev.get("learner_pid")
                    out.isolation["trusted_imports_ok"] = ev.get("trusted_imports_ok")
                elif kind in ("cell", "test"):
                    last_index = ev["index"]
                    out.cells[ev["index"]] = ev
                    if ev.get("patched"):
                        out.patched.append((ev["index"], ev["patched"]))
                    if ev.get("rebound"):
                        out.rebound.append((ev["index"], ev["rebound"]))
                elif kind == "done":
                    out.seconds = float(ev.get("seconds", 0.0))
                    try:
                        out.cpu_seconds = max(0.0, float(ev.get("cpu_seconds", 0.0)))
                    except (TypeError, ValueError):
                        out.cpu_seconds = 0.0
                    if type(ev.get("channel")) is dict:
                        out.channel = ev["channel"]
                    break
                elif kind in ("timeout", "crashed", "error"):
                    out.status = kind
                    out.index = ev.get("index")
                    out.reason = str(ev.get("reason", ""))
                    break
        finally:
            sock.close()
            self.kill(pid, learner_pid, job)
        if not out.seconds:
            out.seconds = time.monotonic() - start
        return out

    @staticmethod
    def kill(pid: int, learner_pid: int | None, job: dict) -> None:
        for target in (pid, learner_pid):
            if target:
                try:
                    os.killpg(target, signal.SIGKILL)
                except OSError:
                    pass
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass
        if os.geteuid() == 0:  # a slot's uids belong to this submission only: end all their processes
            base = int(job["uid_base"]) + int(job["uid_index"])
            kill_uids({base, base + 1000})
            # one try, not a wait: processes still dying keep the group a moment, and the next run
            # that leases these uids removes it (cgroups.create) before making its own
            cgroups.remove(f"bootcamp-run-{base}", wait=0.0)


def _next_index(cells: list[dict], last: int | None) -> int | None:
    if last is None:
        return cells[0]["index"] if cells else None
    later = [c["index"] for c in cells if c["index"] > last]
    return later[0] if later else last
