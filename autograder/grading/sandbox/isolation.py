"""Isolation on Linux: namespaces (network, mount, PID), mounts, uids (leased machine-wide), rlimits.
The run's cgroup is in cgroups.py."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
import time

CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x40000000, 0x10000000, 0x20000000


MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18


PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 1, 38, 4, 36


_libc = None


def _c():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _mount(src, target, fstype, flags, data=""):
    _check(_c().mount(src.encode(), target.encode(), fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                      data.encode() if data else None), f"mount {target}")


def _python_paths() -> list[str]:
    """Directories the sandbox must read: the interpreter, its stdlib, site-packages, the course."""
    paths = {sys.base_prefix, sys.prefix, *[p for p in sys.path if p and os.path.isdir(p)]}
    paths = sorted({os.path.realpath(p) for p in paths})
    return [p for p in paths if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in paths)]


def _blocking_ancestor(path: str) -> str | None:
    """The topmost ancestor that other users cannot enter (e.g. /root, mode 0700)."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        a = "/" + "/".join(parts[:i])
        try:
            if not os.stat(a).st_mode & 0o001:
                return a
        except OSError:
            return None
    return None


def _expose_python(paths: list[str]) -> None:
    """Python installed in root's home (pyenv): hide the home, bind the installation back, read-only."""
    blocked: dict[str, list[str]] = {}
    for p in paths:
        a = _blocking_ancestor(p)
        if a:
            blocked.setdefault(a, []).append(p)
    for ancestor, inside in blocked.items():
        fds = [(p, os.open(p, os.O_RDONLY | os.O_DIRECTORY)) for p in inside]
        _mount("tmpfs", ancestor, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
        for p, fd in fds:
            os.makedirs(p, mode=0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", p, "", MS_BIND | MS_REC)
            _mount("none", p, "", MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)
            os.close(fd)


def _isolate(job: dict) -> dict:
    """Namespaces and mounts for the pair (called in P before it forks L). Returns what it got."""
    got = {"root": os.geteuid() == 0, "network": False, "mounts": False, "uids": False, "pids": False}
    libc = _c()
    if os.geteuid() != 0:
        uid, gid = os.getuid(), os.getgid()
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET) != 0:
            return got
        try:
            with open("/proc/self/setgroups", "w") as f:
                f.write("deny")
            with open("/proc/self/uid_map", "w") as f:
                f.write(f"0 {uid} 1")
            with open("/proc/self/gid_map", "w") as f:
                f.write(f"0 {gid} 1")
        except OSError:
            return got
        got["network"] = True
    else:
        # A PID namespace whose init is the next child (the run's init, see pair_main): when it
        # ends, the kernel ends every process of the run, and the run sees no other process.
        # Root only: in a user namespace every process is "root", so L could signal its init.
        if libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID) == 0:
            got["pids"] = True
        else:
            _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
        got["network"] = True
    try:
        _mount("none", "/", "", MS_REC | MS_PRIVATE)
        size = int(job["scratch_bytes"])
        scratch_roots = [d for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(d)]
        # A checkout (and its .venv) under /tmp must stay readable once /tmp is private:
        # hold those directories open, then bind them back read-only over the new tmpfs.
        keep = [(p, os.open(p, os.O_RDONLY | os.O_DIRECTORY)) for p in _python_paths()
                if any(os.path.realpath(p).startswith(os.path.realpath(d) + "/") for d in scratch_roots)]
        # One tmpfs for the run (its pages count against the run's memory too): /tmp, with
        # /var/tmp and /dev/shm bound to directories in it, so the three share one budget.
        if scratch_roots and scratch_roots[0] == "/tmp":
            _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
            for d in scratch_roots[1:]:
                inside = "/tmp/.run" + d.replace("/", "-")
                os.makedirs(inside)
                os.chmod(inside, 0o1777)
                _mount(inside, d, "", MS_BIND)
        else:
            for d in scratch_roots:
                _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
        for p, fd in keep:
            os.makedirs(p, mode=0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", p, "", MS_BIND | MS_REC)
            _mount("none", p, "", MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)
            os.close(fd)
        for d in job.get("hide", []):
            if os.path.isdir(d):
                _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=0555")
            elif os.path.isfile(d):
                _mount("/dev/null", d, "", MS_BIND)
        if got["root"]:
            _expose_python(_python_paths())
        got["mounts"] = True
    except OSError:
        pass
    return got


def _private_proc() -> None:
    """In the run's init: a /proc of the run's PID namespace only (in a mount namespace of its own,
    so T keeps the machine's /proc)."""
    try:
        _check(_c().unshare(CLONE_NEWNS), "unshare")
        _mount("none", "/", "", MS_REC | MS_PRIVATE)
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | 8)  # 8: MS_NOEXEC
    except OSError:
        pass


def _init_loop(learner: int) -> int:
    """The run's init: reap every orphan of the run until L ends, then end (and with it, the
    kernel ends every other process of the namespace). The exit status says how L ended:
    its own status, or 128 + the signal that ended it."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
        if pid == learner:
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 0


def _limits(job: dict) -> None:
    vm = _vm_size()
    for res, value in ((resource.RLIMIT_CPU, int(job["cpu_seconds"])),
                       (resource.RLIMIT_AS, vm + int(job["memory_bytes"])),
                       (resource.RLIMIT_FSIZE, int(job["max_file_bytes"])),
                       (resource.RLIMIT_NOFILE, 256),
                       (resource.RLIMIT_CORE, 0)):
        try:
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError):
            pass
    try:
        n = int(job["max_processes"])
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
    except (ValueError, OSError):
        pass


def _vm_size() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _drop_to(uid: int, home: str) -> None:
    if os.geteuid() == 0 and uid:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    _c().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    os.environ.clear()
    os.environ.update({"HOME": home, "TMPDIR": home, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                       "MPLBACKEND": "Agg", "MPLCONFIGDIR": os.path.join(home, ".matplotlib"),
                       "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = None
    os.chdir(home)


def _share_tempdirs(path: str | None) -> None:
    """A test's temporary directory (``tempfile.mkdtemp``, ``TemporaryDirectory``) is one the
    learner's code can write into, and the reverse, as when both ran in one kernel
    (``save_checkpoint(tmp/...)`` in a test; a project the learner scaffolded in a temp dir that a
    test adds to). ``path``: where T's go (L's stay in its home, which T may enter)."""
    import tempfile

    if path is not None:
        tempfile.tempdir = path
    make = tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        d = make(*args, **kwargs)
        os.chmod(d, 0o777)
        return d

    tempfile.mkdtemp = mkdtemp


def _scratch(path: str, uid: int, copy_from: str | None = None) -> str:
    os.makedirs(path, mode=0o700, exist_ok=True)
    if copy_from and os.path.isdir(copy_from):
        import shutil

        for name in os.listdir(copy_from):
            src = os.path.join(copy_from, name)
            if name.endswith(".ipynb") or name.startswith("."):
                continue
            dst = os.path.join(path, name)
            (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, dst)
    if os.geteuid() == 0 and uid:
        for dirpath, _dirnames, filenames in os.walk(path):
            os.chown(dirpath, uid, uid)
            for n in filenames:
                os.chown(os.path.join(dirpath, n), uid, uid)
    os.chmod(path, 0o700)
    return path


def _close_fds(keep: set[int]) -> None:
    for fd in range(3, 1024):
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _stdio_to_null() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)


class UidLease:
    """A pair of sandbox uids (base+i for L, base+i+1000 for T) that no other run on this machine
    holds: an flock on ``/tmp/.bootcamp-sandbox-uids/<uid>`` for as long as the run lasts.

    After a run the worker kills every process of its uids; two workers (or two graders in one
    process) that picked uids by their own slot number alone would kill each other's sandboxes
    (seen as "the sandbox ended without a result" whenever two graded at once)."""

    DIR = "/tmp/.bootcamp-sandbox-uids"
    SIZE = 1000

    def __init__(self, base: int):
        self.base, self.fd, self.index = base, None, 0

    def __enter__(self) -> int:
        if os.geteuid() != 0:
            return 0  # without root every process runs as the worker's own uid: nothing is killed by uid
        import fcntl

        os.makedirs(self.DIR, mode=0o700, exist_ok=True)
        while True:
            for i in range(self.SIZE):
                fd = os.open(os.path.join(self.DIR, str(self.base + i)), os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
                self.fd, self.index = fd, i
                return i
            time.sleep(0.05)  # all taken (a thousand sandboxes at once): wait for one

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock, after the run's processes were killed
            self.fd = None


def kill_uids(uids: set[int]) -> int:
    n = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid in uids:
                os.kill(int(entry), signal.SIGKILL)
                n += 1
        except OSError:
            pass
    return n
