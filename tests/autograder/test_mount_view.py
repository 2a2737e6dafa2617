"""Issue 16, class 2 (files): the learner's process sees only what a run needs.

A root of its own for L (a tmpfs with the interpreter, the course's packages, the shared
libraries, a few /etc files, three device nodes, the run's /proc and the run's scratch), so
the rest of the machine (other checkouts, /home, the checkout's solutions/ and tests/,
/etc, /var, ...) is not there to read or list. Each probe runs as a hostile notebook through
the real sandbox."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from autograder.settings import REPO_ROOT

from .conftest import SLUG, needs_root, outputs_text

SYSTEM = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr", "var"}


def grade(grader, sub):
    return grader.grade_bytes(SLUG, sub.bytes())


def probe(grader, sub, paths: list[str], extra: str = "") -> tuple[dict, object]:
    """What the learner's code gets for each path: a listing, the first bytes, or the error's name."""
    code = f'''
        import json, os
        seen = {{}}
        for p in {paths!r}:
            try:
                seen[p] = sorted(os.listdir(p)) if os.path.isdir(p) else open(p, "rb").read(64).decode("latin-1")
            except Exception as e:
                seen[p] = "!" + type(e).__name__
        {extra}
        print("SEEN", json.dumps(seen))
    '''
    r = grade(grader, sub().solve().after("double", code))
    line = next((x for x in outputs_text(r).splitlines() if x.startswith("SEEN ")), None)
    assert line is not None, outputs_text(r)
    assert r.score == 5, r.results  # probing costs nothing and breaks nothing
    return json.loads(line[5:]), r


def _top(path: str) -> str:
    return Path(os.path.realpath(path)).parts[1]


def _refused(value) -> bool:
    return isinstance(value, str) and value.startswith("!")


@needs_root
def test_the_checkout_shows_only_its_importable_packages(grader, sub):
    root = Path(REPO_ROOT)
    files = [root / "README.md", root / "pyproject.toml", root / "tests" / "autograder" / "conftest.py",
             root / "solutions", root / "mutants", root / ".git"]
    seen, r = probe(grader, sub, [str(root)] + [str(f) for f in files if f.exists()] + [str(root / "course")],
                    extra="import course.models.gpt; seen['course import'] = course.models.gpt.__name__")
    venv = {Path(p).relative_to(root).parts[0] for p in (sys.prefix, sys.base_prefix) if Path(p).is_relative_to(root)}
    assert set(seen[str(root)]) <= {"course", "autograder"} | venv, f"the learner's code lists the checkout: {seen[str(root)]}"
    for f in files:
        if f.exists():
            assert _refused(seen[str(f)]) or seen[str(f)] == [], f"{f} is readable by the learner: {seen[str(f)]!r}"
    assert "__init__.py" in seen[str(root / "course")]
    assert seen["course import"] == "course.models.gpt"
    assert r.isolation["files"] == "minimal root", r.isolation


@needs_root
def test_the_machine_beyond_the_run_is_not_there(grader, sub):
    g = grader.settings
    other = "/work/main/README.md"  # another checkout on a machine that has one
    paths = ["/", "/home", "/root", "/etc", "/var", "/opt", "/srv", "/mnt", "/etc/shadow", "/etc/hostname",
             "/proc/1/environ", str(Path(REPO_ROOT).parent), str(g.data_path), str(g.course_dir / "solutions")]
    if os.path.exists(other) and not Path(other).resolve().is_relative_to(Path(REPO_ROOT).resolve()):
        paths.append(other)
    seen, r = probe(grader, sub, paths)
    allowed = SYSTEM | {_top(p) for p in (sys.prefix, sys.base_prefix, REPO_ROOT)}
    assert set(seen["/"]) <= allowed, f"/ shows {sorted(set(seen['/']) - allowed)}"
    for p in ("/home", "/opt", "/srv", "/mnt", "/etc/shadow", "/etc/hostname", "/proc/1/environ", str(g.data_path),
              str(g.course_dir / "solutions"), other):
        if p in seen:
            assert _refused(seen[p]) or seen[p] == [], f"{p}: {seen[p]!r}"
    assert set(seen["/etc"]) <= {"ld.so.cache", "localtime", "passwd", "group", "nsswitch.conf", "hosts"}, seen["/etc"]
    assert set(seen["/var"]) <= {"tmp"}, seen["/var"]
    if not _refused(seen["/root"]):
        assert set(seen["/root"]) <= {".pyenv"}, seen["/root"]
    parent = seen[str(Path(REPO_ROOT).parent)]
    assert _refused(parent) or set(parent) <= {Path(REPO_ROOT).name, *[Path(p).relative_to(Path(REPO_ROOT).parent).parts[0]
        for p in (sys.prefix, sys.base_prefix) if Path(p).is_relative_to(Path(REPO_ROOT).parent)]}, parent
    assert r.isolation["files"] == "minimal root", r.isolation


@needs_root
def test_the_view_is_read_only_and_what_lessons_use_still_works(grader, sub):
    code = '''
        import getpass, json, os, subprocess, sys, tempfile, time
        got = {}
        for p in ("/", "/usr", "/etc", os.path.dirname(os.__file__), "/var/tmp", "/dev/shm", "/tmp"):
            try:
                open(os.path.join(p, "written-by-learner"), "w").write("x")
                got[p] = "written"
            except OSError as e:
                got[p] = type(e).__name__
        got["child"] = subprocess.run([sys.executable, "-c", "import numpy; print(numpy.zeros(2).sum())"],
                                      capture_output=True, text=True).stdout.strip()
        import matplotlib.pyplot as plt
        plt.plot([1, 2]); plt.savefig("fig.png"); got["figure"] = os.path.getsize("fig.png") > 0
        with tempfile.TemporaryDirectory() as d:
            got["tempdir"] = os.path.isdir(d)
        got["time"] = time.strftime("%Z", time.localtime(0)) != ""
        got["urandom"] = len(os.urandom(8)) and len(open("/dev/urandom", "rb").read(4))
        open("/dev/null", "w").write("x")
        print("GOT", json.dumps(got))
    '''
    r = grade(grader, sub().solve().after("double", code))
    line = next((x for x in outputs_text(r).splitlines() if x.startswith("GOT ")), None)
    assert line is not None, outputs_text(r)
    got = json.loads(line[4:])
    for p in ("/", "/usr", "/etc"):
        assert got[p] != "written", f"the learner's code wrote into {p}"
    for p in ("/var/tmp", "/dev/shm", "/tmp"):
        assert got[p] == "written", (p, got[p])
    assert got["child"] == "0.0" and got["figure"] and got["tempdir"] and got["time"] and got["urandom"], got
    assert r.score == 5


_AS_USER = r"""
import json, os, sys
from autograder.grading.sandbox.isolation import _isolate, _learner_view
from autograder.grading.sandbox import isolation
iso = _isolate({"scratch_bytes": 16 << 20, "hide": []})
isolation._c().prctl(isolation.PR_SET_DUMPABLE, 0, 0, 0, 0)  # as the zygote is, and all it forks
parent = os.getpid()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    seen = {"view": _learner_view(iso, {"root": 0}), "iso": iso}
    isolation._drop_caps()  # as L does (_drop_to)
    try:  # "root" in the user namespace, but without CAP_SYS_ADMIN
        isolation._mount("none", "/usr", "", isolation.MS_BIND | isolation.MS_REMOUNT | isolation.MS_NOSUID | isolation.MS_NODEV)
        seen["remount"] = "remounted /usr read-write"
    except OSError as e:
        seen["remount"] = "!" + e.strerror
    try:  # the machine's /proc here: the pair's processes' view of the machine is not reachable through it
        seen["through /proc"] = os.listdir(f"/proc/{parent}/root/")
    except OSError as e:
        seen["through /proc"] = "!" + type(e).__name__
    for p in sys.argv[1:]:
        try:
            seen[p] = sorted(os.listdir(p)) if os.path.isdir(p) else open(p, "rb").read(64).decode("latin-1")
        except Exception as e:
            seen[p] = "!" + type(e).__name__
    for p in ("/", "/usr", "/etc"):
        try:
            open(os.path.join(p, "written"), "w").write("x")
            seen["wrote " + p] = True
        except OSError as e:
            seen["wrote " + p] = type(e).__name__
    import autograder.grading.sandbox.channel  # the course's packages still import
    os.write(w, json.dumps(seen).encode())
    os._exit(0)
os.close(w)
data = b""
while chunk := os.read(r, 65536):
    data += chunk
os.waitpid(pid, 0)
seen = json.loads(data)
r, w = os.pipe()
if os.fork() == 0:  # where the kernel refuses a step: the pair's view, said so, nothing left behind
    from autograder.grading.sandbox import isolation
    def refuse(new_root):
        raise OSError(1, "pivot_root: refused here")
    isolation._pivot_root = refuse
    fell = {"view": isolation._learner_view(iso, {"root": 0}), "/": sorted(os.listdir("/")), "/tmp": os.listdir("/tmp")}
    os.write(w, json.dumps(fell).encode())
    os._exit(0)
os.close(w)
seen["fallback"] = json.loads(os.read(r, 1 << 20))
print(json.dumps(seen))
"""


@needs_root
def test_as_an_ordinary_user_the_same_view_inside_a_user_namespace(tmp_path):
    """The worker as an ordinary user (nobody): the same narrowing, inside the user namespace that
    _isolate makes. Run with the system's interpreter (the course's venv may sit in root's home)."""
    import shutil
    import subprocess

    import pytest

    python, setpriv = shutil.which("python3", path="/usr/bin:/bin"), shutil.which("setpriv")
    if not python or not setpriv:
        pytest.skip("needs /usr/bin/python3 and setpriv")
    root = Path(REPO_ROOT)
    if any(os.stat(p).st_mode & 0o005 != 0o005 for p in [root, *root.parents]):
        pytest.skip("the checkout is not readable by other users")
    paths = ["/", "/etc", str(root), str(root / "README.md"), "/home", "/root", "/etc/hostname"]
    done = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", python, "-c", _AS_USER, *paths],
                          capture_output=True, text=True, timeout=60, cwd="/",
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    if not seen["iso"]["mounts"]:
        pytest.skip(f"no user namespaces here: {seen['iso']}")
    assert seen["view"] == "minimal root", seen
    assert set(seen["/"]) <= SYSTEM | {_top(root)}, seen["/"]
    assert set(seen[str(root)]) <= {"course", "autograder"}, seen[str(root)]
    for p in (str(root / "README.md"), "/home", "/root", "/etc/hostname"):
        assert _refused(seen[p]) or seen[p] == [], (p, seen[p])
    assert set(seen["/etc"]) <= {"ld.so.cache", "localtime", "passwd", "group"}, seen["/etc"]
    for p in ("/", "/usr", "/etc"):  # "root" inside the namespace, yet the view is read-only
        assert seen["wrote " + p] is not True, p
    assert _refused(seen["remount"]), seen["remount"]
    assert _refused(seen["through /proc"]), seen["through /proc"]
    fell = seen["fallback"]
    assert fell["view"] == "private tmp only (pivot_root: refused here)", fell
    assert not set(fell["/"]) <= SYSTEM | {_top(root)}, fell["/"]  # the pair's view: the machine's /
    assert not any(n.startswith(".root-") for n in fell["/tmp"]), fell["/tmp"]


_ZYGOTE_AS_USER = r"""
import json, sys
from autograder.grading.sandbox import Zygote
probe = '''
import ctypes, os
seen = {}
init = os.getppid()  # the run's init; its parent is P, now T
t = int(open(f"/proc/{init}/stat").read().rsplit(")", 1)[1].split()[1])
for p in ["/", sys_root, f"/proc/{init}/root", f"/proc/{t}/root", f"/proc/{t}/cwd", "/home"]:
    try:
        seen[p] = sorted(os.listdir(p))
    except OSError as e:
        seen[p] = "!" + type(e).__name__
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.mount(b"none", b"/usr", None, ctypes.c_ulong(4096 | 32 | 2 | 4), None)  # bind, remount: read-write
seen["remount"] = "remounted" if rc == 0 else "!" + os.strerror(ctypes.get_errno())
print("SEEN " + repr(seen))
'''.replace("sys_root", repr(sys.argv[1]))
job = {"slot": 0, "uid_base": 61000, "cpu_seconds": 20, "memory_bytes": 2 << 30, "max_processes": 64,
       "max_file_bytes": 1 << 24, "scratch_bytes": 64 << 20, "output_bytes": 1 << 20, "trusted_imports": "",
       "files_from": "", "mode": "split", "hide": [], "fallback_scratch": sys.argv[2]}
cells = [{"index": 0, "kind": "code", "source": probe, "in_learner": False, "visible": ""},
         {"index": 1, "kind": "code", "source": "def f(x):\n    return 2 * x", "in_learner": False, "visible": ""},
         {"index": 2, "kind": "test", "source": "assert f(3) == 6", "in_learner": False, "visible": ""}]
z = Zygote([])
z.start()
try:
    out = z.run(job, cells, 30)
finally:
    z.stop()
print(json.dumps({"status": out.status, "reason": out.reason, "isolation": out.isolation, "ok": out.cells.get(2, {}).get("ok"),
                  "text": "".join(o.get("text", "") for c in out.cells.values() for o in c.get("outputs", []))}))
"""


@needs_root
def test_as_an_ordinary_user_a_whole_run_gets_its_root_and_cannot_reach_t(tmp_path):
    """The real zygote and pair as nobody (system interpreter, stdlib only): L's root is built inside
    the user namespace; L, "root" there, holds no capability, and T (same uid) is out of its reach."""
    import shutil
    import subprocess

    import pytest

    python, setpriv = shutil.which("python3", path="/usr/bin:/bin"), shutil.which("setpriv")
    root = Path(REPO_ROOT)
    if not python or not setpriv or any(os.stat(p).st_mode & 0o005 != 0o005 for p in [root, *root.parents]):
        pytest.skip("needs /usr/bin/python3, setpriv and a checkout other users can read")
    scratch = tmp_path / "fallback"
    scratch.mkdir(mode=0o777)
    os.chmod(tmp_path, 0o755)
    os.chmod(scratch, 0o777)
    done = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", python, "-c", _ZYGOTE_AS_USER,
                           str(root), str(scratch)], capture_output=True, text=True, timeout=120, cwd="/",
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if not out["isolation"].get("mounts"):
        pytest.skip(f"no user namespaces here: {out['isolation']}")
    assert out["status"] == "done" and out["ok"], out
    assert out["isolation"]["files"] == "minimal root", out["isolation"]
    seen = eval(out["text"].split("SEEN ", 1)[1].strip())  # a dict of str -> list | str, printed by repr
    assert set(seen["/"]) <= SYSTEM | {_top(root)}, seen["/"]
    assert set(seen[str(root)]) <= {"course", "autograder"}, seen[str(root)]
    for key in seen:
        if key.startswith("/proc/") or key in ("/home", "remount"):
            assert _refused(seen[key]) or seen[key] == [], (key, seen[key])
