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
        refork = "import os, time\\nwhile True:\\n    if os.fork():\\n        os._exit(0)\\n    os.setsid()\\n"
        for _ in range(6):
            subprocess.Popen([sys.executable, "-c", refork, "{marker}"], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import time
        time.sleep(1.5)  # the chains are running when the run ends
        import os
        def mine(p):
            try:
                return "{marker}" in open(f"/proc/{{p}}/cmdline").read()
            except OSError:
                return False
        print("CHAINS", sum(1 for p in os.listdir("/proc") if p.isdigit() and mine(p)))
    '''
    try:
        r = grade(grader, sub().solve().after("double", code))
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
