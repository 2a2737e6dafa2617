"""Classes 2 and 3 of issue 16: every process of a run dies with the run, a run sees no
process but its own, and the run's limits hold for the run as a whole."""

from __future__ import annotations

import os
import signal
import time
import uuid

from .conftest import SLUG, needs_root, outputs_text


def grade(grader, sub):
    return grader.grade_bytes(SLUG, sub.bytes())


def _pids_with(marker: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        out.append(int(entry))
            except OSError:
                pass
    return out


@needs_root
def test_a_process_that_leaves_its_session_and_keeps_reforking_dies_with_the_run(grader, sub):
    marker = f"survivor-{uuid.uuid4().hex}"
    code = f'''
        import subprocess, sys
        # a fork refused (the run's process limit, while its init reaps the last ones) is tried again,
        # as a determined learner would: the chains must still be alive when the run ends
        refork = ("import os, time\\nwhile True:\\n    try:\\n        pid = os.fork()\\n    except OSError:\\n"
                  "        time.sleep(0.01)\\n        continue\\n    if pid:\\n        os._exit(0)\\n    os.setsid()\\n")
        for _ in range(6):
            subprocess.Popen([sys.executable, "-c", refork, "{marker}"], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import os, time
        def mine(p):
            try:
                return "{marker}" in open(f"/proc/{{p}}/cmdline").read()
            except OSError:
                return False
        deadline = time.time() + 20
        while time.time() < deadline:  # the chains are running when the run ends
            time.sleep(0.2)
            if sum(1 for p in os.listdir("/proc") if p.isdigit() and mine(p)) >= 3:
                break
        print("CHAINS", sum(1 for p in os.listdir("/proc") if p.isdigit() and mine(p)))
    '''
    try:
        grader.settings.wall_seconds, wall = 40, grader.settings.wall_seconds
        try:
            r = grade(grader, sub().solve().after("double", code))
        finally:
            grader.settings.wall_seconds = wall
        assert r.score == 5, r.results
        assert "CHAINS" in outputs_text(r) and "CHAINS 0" not in outputs_text(r), outputs_text(r)
        time.sleep(1.0)
        left = _pids_with(marker)
        assert left == [], f"{len(left)} process(es) of the run outlived it"
    finally:
        for _ in range(50):  # whatever this test started and outlived the run: end it, by pid
            pids = _pids_with(marker)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)


@needs_root
def test_a_run_sees_only_its_own_processes(grader, sub):
    me = os.getpid()
    r = grade(grader, sub().solve().after("double", '''
        import os
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        print("PIDS", len(pids), pids[:20])
    '''))
    text = outputs_text(r)
    line = next(x for x in text.splitlines() if x.startswith("PIDS"))
    n = int(line.split()[1])
    assert n <= 4, f"the learner's code sees {n} processes: {line}"
    assert str(me) not in line.split(" ", 2)[2] or n <= 4


@needs_root
def test_memory_is_limited_for_the_run_not_per_process(grader, sub, monkeypatch):
    """Three forked children, each under the per-process limit, together over the run's."""
    monkeypatch.setattr(grader.settings, "memory_bytes", 400 * 1024**2)
    r = grade(grader, sub().solve().after("double", '''
        import os, select
        r, w = os.pipe()
        release_r, release_w = os.pipe()
        kids = []
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                try:
                    os.close(release_w)
                    with open("/proc/self/oom_score_adj", "w") as f:  # the kernel kills a child, not the parent
                        f.write("1000")
                    block = b"x" * (250 * 1024**2)  # written, so resident
                    os.write(w, b"1")
                    os.read(release_r, 1)  # hold it until the parent has counted (not a fixed sleep: load varies)
                finally:
                    os._exit(0)
            kids.append(pid)
        os.close(w)
        held = 0
        while held < 3 and select.select([r], [], [], 8.0)[0]:  # 8 s without news: nobody else got there
            if not os.read(r, 1):
                break
            held += 1
        os.close(release_w)
        for pid in kids:
            os.waitpid(pid, 0)
        print("HELD", held)
    '''))
    text = outputs_text(r)
    assert "HELD" in text, text[-2000:]
    held = int(text.split("HELD", 1)[1].split()[0])
    assert held <= 1, f"{held} x 250 MiB held at once under a 400 MiB limit for the run"
    assert "memory" in r.isolation.get("cgroup", ""), r.isolation


@needs_root
def test_the_run_has_one_scratch_budget_not_one_per_directory(grader, sub, monkeypatch):
    monkeypatch.setattr(grader.settings, "scratch_bytes", 64 * 1024**2)
    r = grade(grader, sub().solve().after("double", '''
        written = 0
        for d in ("/tmp", "/var/tmp", "/dev/shm"):
            try:
                with open(d + "/fill.bin", "wb") as f:
                    for _ in range(48):
                        f.write(b"x" * 1024**2)
                        written += 1
            except OSError:
                pass
        print("WRITTEN", written)
    '''))
    text = outputs_text(r)
    written = int(text.split("WRITTEN", 1)[1].split()[0])
    assert written <= 64, f"{written} MiB written in scratch under a 64 MiB budget for the run"
