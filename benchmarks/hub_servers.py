"""How many learners' servers one machine holds: N simulated learners on the course's hub.

    python benchmarks/hub_servers.py [--users 50] [--wave 5] [--cull-seconds 30]

Starts the real hub (autograder/hub/launch.py: configurable-http-proxy, the local process
spawner, the grading service, jupyterhub-idle-culler), makes N users, starts each one's
JupyterLab through the hub's REST API (as a sign-in does), and prints:

* how long the N servers took to be ready;
* memory per server: RSS and USS (memory unique to the process, psutil) of each
  jupyterhub-singleuser process, mean and max; and the machine's used memory before and after;
* the culler: with nobody using them, how long until jupyterhub-idle-culler (--timeout=--cull-seconds,
  checking every 10 s) has stopped every server, and the memory after.

No kernel is started: a learner running a lesson adds that lesson's kernel (numpy, torch) on
top. Measured numbers go in README's "Cohorts on JupyterHub".
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from autograder.hub import launch  # noqa: E402


def used_mib() -> float:
    vm = psutil.virtual_memory()
    return (vm.total - vm.available) / 2**20


def server_pids(hub: launch.Hub, names: list[str]) -> dict[str, int]:
    pids = {}
    for n in names:
        model = hub.api("GET", f"/users/{n}")
        state = (model.get("servers", {}).get("") or {}).get("state") or {}
        if state.get("pid"):
            pids[n] = state["pid"]
    return pids


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--cull-seconds", type=int, default=30)
    ap.add_argument("--wave", type=int, default=5, help="servers started at once")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # killed: still stop the hub and its servers
    names = [f"learner{i:03d}" for i in range(args.users)]
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        hub = launch.Hub(Path(tmp), groups={"cohort-bench": names})  # its own culler: an hour
        before_hub = used_mib()
        t0 = time.time()
        hub.start()
        print(f"hub, proxy, grading service and culler up in {time.time() - t0:.1f} s; "
              f"machine memory used {before_hub:.0f} -> {used_mib():.0f} MiB", flush=True)
        try:
            base = used_mib()
            t0 = time.time()
            # learners arriving a few at a time (all at once overloads a small machine's CPUs, not its memory)
            ready: set[str] = set()
            for k in range(0, len(names), args.wave):
                wave = names[k:k + args.wave]
                with ThreadPoolExecutor(max_workers=len(wave)) as pool:
                    list(pool.map(lambda n: hub.api("POST", f"/users/{n}/server", timeout=300), wave))
                while not set(wave) <= ready and time.time() - t0 < 1800:
                    for n in wave:
                        if n not in ready and (hub.api("GET", f"/users/{n}")["servers"].get("") or {}).get("ready"):
                            ready.add(n)
                    time.sleep(1)
                print(f"  {len(ready)} servers ready after {time.time() - t0:.0f} s", flush=True)
            took = time.time() - t0
            time.sleep(10)  # let start-up garbage settle
            pids = server_pids(hub, names)
            rss, uss = [], []
            for pid in pids.values():
                try:
                    info = psutil.Process(pid).memory_full_info()
                except psutil.Error:
                    continue
                if os.environ.get("BENCH_DEBUG"):
                    print(pid, psutil.Process(pid).cmdline()[:4], info.rss / 2**20)
                rss.append(info.rss / 2**20)
                uss.append(info.uss / 2**20)
            after = used_mib()
            print(f"{len(ready)}/{len(names)} servers ready in {took:.0f} s "
                  f"({psutil.cpu_count()} CPU cores, {psutil.virtual_memory().total / 2**30:.0f} GiB)")
            if rss:
                print(f"memory per server (jupyterhub-singleuser, JupyterLab, no kernel), {len(rss)} servers: "
                      f"RSS mean {statistics.mean(rss):.0f} MiB (max {max(rss):.0f}), "
                      f"USS mean {statistics.mean(uss):.0f} MiB (max {max(uss):.0f})")
            if uss:
                print(f"all {len(uss)} servers together: RSS {sum(rss):.0f} MiB, USS {sum(uss):.0f} MiB; machine memory "
                      f"used {base:.0f} MiB before them, {after:.0f} MiB with them (shared machine: other work moves this)",
                      flush=True)

            # the culler: nobody uses the servers. jupyterhub-idle-culler (the hub runs one with
            # BOOTCAMP_HUB_CULL_SECONDS) is run here with --timeout=cull-seconds, so the run need not wait an hour
            t1 = time.time()
            env = dict(os.environ, JUPYTERHUB_API_TOKEN=hub.admin_token())
            culler = subprocess.Popen([sys.executable, "-m", "jupyterhub_idle_culler", f"--url={hub.url}/hub/api",
                                       f"--timeout={args.cull_seconds}", "--cull-every=10"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                running = names
                while time.time() - t1 < args.cull_seconds + 600:
                    running = [n for n in names if hub.api("GET", f"/users/{n}")["servers"].get("")]
                    if not running:
                        break
                    time.sleep(5)
            finally:
                culler.terminate()
                culler.wait(20)
            time.sleep(5)
            print(f"idle culler (--timeout={args.cull_seconds}): {len(names) - len(running)}/{len(names)} servers "
                  f"stopped {time.time() - t1:.0f} s after it started; machine memory used now {used_mib():.0f} MiB",
                  flush=True)
        finally:
            hub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
