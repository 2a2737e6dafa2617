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
PR_SET_NAME = 15


_libc = None


def _c():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _set_name(name: str) -> None:
    """This process's name in ps, top and perf (PR_SET_NAME, at most 15 bytes): which part of a run uses
    the machine (``perf report --sort comm`` splits a grading's CPU by it; README, issue 25)."""
    _c().prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


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


# --------------------------------------------------------------------------- the learner's view
MS_NOEXEC, MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 8, 1024, 2048, 1 << 21
MNT_DETACH = 2
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "ppc64": 203, "s390x": 217,
                   "i686": 217, "armv7l": 218}
# statvfs's flags that a read-only bind must keep (a mount from a less privileged namespace has them locked)
_KEEP_FLAGS = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
               (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME))
# what a run's /: the system's software (no user data: /usr and its links), three kinds of devices,
# and from /etc only what the dynamic loader and the clock read (passwd and group are written for the run)
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime")
_DEVICES = ("null", "zero", "full", "random", "urandom")
_NOT_IMPORTED = {"tests", "solutions", "mutants"}  # a checkout on sys.path: its packages only, never these


def _importable(directory: str) -> list[str]:
    """What of a sys.path directory outside the interpreter's prefixes L may see: its packages
    (directories with ``__init__.py``) and modules, not the rest of a checkout (README, solutions/,
    tests/, .git)."""
    out = []
    for name in sorted(os.listdir(directory)):
        full = os.path.join(directory, name)
        if name.startswith(".") or name in _NOT_IMPORTED:
            continue
        if os.path.isdir(full) and os.path.isfile(os.path.join(full, "__init__.py")):
            out.append(full)
        elif os.path.isfile(full) and name.endswith((".py", ".so", ".pth")) and name != "setup.py" \
                and not name.endswith("_config.py"):
            out.append(full)
    return out


def _view_paths() -> list[str]:
    """The interpreter's installation (sys.base_prefix, sys.prefix: stdlib, site-packages) and the
    importable packages of every other sys.path directory (the course's: ``course``, ``autograder``)."""
    prefixes = sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix)})
    out = set(prefixes)
    for p in _python_paths():
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in prefixes):
            out.update(_importable(p))
    out = sorted(out)
    return [p for p in out if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in out)]


def _bind(src: str, dst: str, *, rec: bool = True, writable: bool = False) -> None:
    if os.path.isdir(src):
        os.makedirs(dst, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), mode=0o755, exist_ok=True)
        os.close(os.open(dst, os.O_WRONLY | os.O_CREAT, 0o644))
    _mount(src, dst, "", MS_BIND | (MS_REC if rec else 0))
    if not writable:
        f = os.statvfs(dst).f_flag
        keep = sum(ms for st, ms in _KEEP_FLAGS if f & st)
        _mount("none", dst, "", MS_BIND | MS_REMOUNT | MS_RDONLY | keep)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)


def _pivot_root(new_root: str) -> None:
    """Make ``new_root`` the process's / and detach the old one: nothing of it stays reachable."""
    machine = os.uname().machine  # not the platform module: importing it costs 30 ms a run
    nr = _SYS_PIVOT_ROOT.get(machine)
    if nr is None:
        raise OSError(38, f"pivot_root: unknown system call number on {machine}")
    os.chdir(new_root)
    _check(_c().syscall(nr, b".", b"."), "pivot_root")  # the old root is now stacked on the new one...
    _check(_c().umount2(b".", MNT_DETACH), "umount old root")  # ...and gone
    os.chdir("/")


def _narrow_view(own_proc: bool, users: dict[str, int]) -> str:
    """In the run's init, before it forks L: a mount namespace of its own whose / is a new tmpfs
    holding, read-only, only what a run needs (``_view_paths``, the system's software and shared
    libraries, the dynamic loader's cache and the clock's zone from /etc, /etc/passwd and
    /etc/group written for the run's uids, /dev/null, zero, full, random, urandom), the run's
    scratch tmpfs as /tmp, /var/tmp and /dev/shm, and /proc: a fresh one of the run's PID namespace
    (``own_proc``) or else the machine's. Then pivot_root into it and detach the old root.
    T keeps the pair's namespace (the course's own code; it reaches L's files through /tmp).
    The same calls work as root and inside a user namespace (binds keep their locked flags).
    Returns what the run got; an OSError leaves the caller to fall back to the pair's view."""
    _check(_c().unshare(CLONE_NEWNS), "unshare")
    _mount("none", "/", "", MS_REC | MS_PRIVATE)
    os.umask(0o022)
    stage = f"/tmp/.root-{os.getpid()}"
    os.mkdir(stage, 0o700)
    try:
        _mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
        os.chmod(stage, 0o755)
        # the scratch first: what is bound below it next (a checkout under /tmp) stays on top
        _bind("/tmp", stage + "/tmp", rec=False, writable=True)
        for d in ("/var/tmp", "/dev/shm"):
            if os.path.isdir(d):
                _bind(d, stage + d, rec=False, writable=True)
        for d in _SYSTEM_DIRS:
            if os.path.islink(d):
                os.symlink(os.readlink(d), stage + d)
            elif os.path.isdir(d):
                _bind(d, stage + d)
        for p in _view_paths():
            _bind(p, stage + p)
        os.makedirs(stage + "/etc", mode=0o755, exist_ok=True)
        for f in _ETC_FILES:
            if os.path.islink(f):
                os.symlink(os.readlink(f), stage + f)
            elif os.path.isfile(f):
                _bind(f, stage + f)
        _write(stage + "/etc/passwd", "".join(f"{n}:x:{u}:{u}:{n}:/tmp/{n}:/usr/sbin/nologin\n" for n, u in users.items()))
        _write(stage + "/etc/group", "".join(f"{n}:x:{u}:\n" for n, u in users.items()))
        os.makedirs(stage + "/dev", mode=0o755, exist_ok=True)
        for name in _DEVICES:
            if os.path.exists("/dev/" + name):
                _bind("/dev/" + name, stage + "/dev/" + name, rec=False, writable=True)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                             ("stderr", "/proc/self/fd/2")):
            os.symlink(target, f"{stage}/dev/{name}")
        os.makedirs(stage + "/proc", mode=0o555)
        if own_proc:
            _mount("proc", stage + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        else:
            _bind("/proc", stage + "/proc", writable=True)
        _mount("none", stage, "", MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        _pivot_root(stage)
    except OSError:
        try:
            _c().umount2(stage.encode(), MNT_DETACH)
            os.rmdir(stage)
        except OSError:
            pass
        raise
    try:
        os.rmdir(stage)  # the staging directory in the run's /tmp (no longer a mount point)
    except OSError:
        pass
    return "minimal root"


def _learner_view(isolation: dict, users: dict[str, int]) -> str:
    """In the run's init: narrow the view (``_narrow_view``) or, where the kernel refuses, keep the
    pair's (a private /tmp, hidden paths; the run's own /proc where it has a PID namespace)."""
    if not isolation["mounts"]:
        return "scratch directory only"
    try:
        return _narrow_view(isolation["pids"], users)
    except OSError as err:
        if isolation["pids"]:
            _private_proc()
        return f"private tmp only ({err.strerror or err})"


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


PR_CAPBSET_DROP, PR_SET_SECUREBITS = 24, 28
SECBITS_LOCKED_NOROOT = 0x3f  # keep-caps off, no set-uid fixup, no root privileges on exec: each locked


def _drop_caps() -> None:
    """No capability left, none to regain on exec. As root the uid change already cleared them;
    in a user namespace the process is "root" there, and with CAP_SYS_ADMIN it could remount the
    read-only view read-write, or mount over it."""
    libc = _c()
    libc.prctl(PR_SET_SECUREBITS, SECBITS_LOCKED_NOROOT, 0, 0, 0)
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:  # EINVAL: past the last
            break
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: twice 32 bits, all zero
    libc.capset(header, data)


def _drop_to(uid: int, home: str) -> None:
    if os.geteuid() == 0 and uid:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    _c().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _drop_caps()
    os.environ.clear()
    os.environ.update({"HOME": home, "TMPDIR": home, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                       "MPLBACKEND": "Agg", "MPLCONFIGDIR": os.path.join(home, ".matplotlib"),
                       "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "PYTHONDONTWRITEBYTECODE": "1"})
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
