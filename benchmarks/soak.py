"""Soak the grading service with faults injected: a bounded burst on loopback only.

Starts its own service (`python -m autograder serve` on a free 127.0.0.1 port, one supervised
worker process with BOOTCAMP_WORKERS slots) on a temporary gradebook: a PostgreSQL server it
starts itself when Debian's postgresql is installed (else SQLite, and the database restart is
skipped). N learners' submissions of a lesson go out from 8 threads through `bootcamp submit`'s
own client (an Idempotency-Key each, sent again on connection loss or 503). While they are
graded it kills the grading worker with SIGKILL (`serve` starts another; leases bring its jobs
back), and, once the new worker is up, stops the database for 5 s and starts it again. Then it
waits (bounded) and prints:

  accepted    submissions the API acknowledged with an id
  graded      of those, graded with the lesson's full marks
  lost        acknowledged but not graded by the end (missing, failed or still waiting)
  duplicated  rows in the gradebook beyond one per acknowledged submission

    .venv/bin/python benchmarks/soak.py [-n 24] [--lesson 0.1] [--sqlite] [--timeout 600]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.modules.setdefault("rfc3987_syntax", None)  # see autograder/__main__.py

from course.authoring.lessons import ROOT, find_lesson  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    def __init__(self, base: Path):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/"))
        self.initdb, self.pg_ctl = bins[-1] + "initdb", bins[-1] + "pg_ctl"
        self.base, self.data, self.port = base, base / "pg", free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(base, "postgres", "postgres")
        self._run([self.initdb, "-D", str(self.data), "-U", "bootcamp", "--auth=trust", "--no-instructions"])
        self.start()
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=bootcamp dbname=postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE gradebook")
        self.url = f"postgresql+psycopg://bootcamp@127.0.0.1:{self.port}/gradebook"

    def _run(self, argv):
        subprocess.run(self.as_user + argv, check=True, capture_output=True, timeout=120)

    def start(self):
        self._run([self.pg_ctl, "-D", str(self.data), "-l", str(self.base / "pg.log"), "-w", "-o",
                   f"-h 127.0.0.1 -p {self.port} -k {self.base} -c fsync=off -c max_connections=200", "start"])

    def stop(self, mode="fast"):
        subprocess.run(self.as_user + [self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"],
                       capture_output=True, timeout=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=24, help="submissions in the burst (default 24)")
    ap.add_argument("--lesson", default="0.1")
    ap.add_argument("--sqlite", action="store_true", help="SQLite even if PostgreSQL is installed")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the grades (default 600)")
    args = ap.parse_args()

    from autograder.grading.pipeline import solved_notebook
    from course.learner import client

    lesson = find_lesson(args.lesson)
    raw = json.dumps(solved_notebook(lesson)).encode()
    base = Path(tempfile.mkdtemp(prefix="bootcamp-soak-"))
    data = base / "data"
    pg = None
    if not args.sqlite and glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"):
        pg = Postgres(base)
    port = free_port()
    env = dict(os.environ, BOOTCAMP_DATA_DIR=str(data), BOOTCAMP_COURSE_DIR=str(ROOT), BOOTCAMP_LEASE_SECONDS="10")
    if pg:
        env["BOOTCAMP_DATABASE_URL"] = pg.url
    serve = subprocess.Popen([sys.executable, "-m", "autograder", "serve", "--port", str(port)], env=env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=open(base / "serve.log", "w"), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    faults: list[str] = []
    try:
        end = time.monotonic() + 180
        while not (data / "local.token").is_file() or not list(data.glob("worker-*.health")):
            if time.monotonic() > end or serve.poll() is not None:
                raise SystemExit(f"the service did not start; see {base / 'serve.log'}")
            time.sleep(0.5)
        tok = (data / "local.token").read_text().strip()
        print(f"lesson {lesson.slug}, {args.n} submissions, gradebook {'PostgreSQL' if pg else 'SQLite'}, "
              f"service on {url}", flush=True)
        t0 = time.monotonic()

        def send(i):
            try:
                return client.post_notebook(lesson.slug, raw, tok=tok, url=url, delays=(1, 2, 4, 8, 8, 8))["id"]
            except client.ServiceError as err:
                print(f"  submission {i} refused: {err}", flush=True)
                return None

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(send, i) for i in range(args.n)]
            time.sleep(3.0)  # some accepted, some grading
            health = sorted(data.glob("worker-*.health"))
            if health:
                pid = int(health[0].stem.split("-")[1])
                os.kill(pid, signal.SIGKILL)
                faults.append(f"worker {pid} killed at {time.monotonic() - t0:.1f} s")
            if pg:  # when the new worker is grading, so that the outage hits it, not only the API
                wait = time.monotonic() + 240
                while time.monotonic() < wait and not [p for p in data.glob("worker-*.health")
                                                        if p.stem != f"worker-{pid}"]:
                    time.sleep(0.5)
                time.sleep(2.0)
                pg.stop()
                faults.append(f"PostgreSQL stopped at {time.monotonic() - t0:.1f} s")
                time.sleep(5.0)
                pg.start()
                faults.append(f"started again at {time.monotonic() - t0:.1f} s")
            ids = [f.result() for f in futures]
        accepted = [i for i in ids if i]
        for line in faults:
            print(f"  fault: {line}", flush=True)
        final = {}
        end = time.monotonic() + args.timeout
        while time.monotonic() < end:
            final = {i: client.request("GET", f"/api/submissions/{i}", tok=tok, url=url) for i in set(accepted)}
            if all(g["status"] not in ("queued", "grading") for g in final.values()):
                break
            time.sleep(2.0)
        rows = client.request("GET", "/api/submissions?limit=500", tok=tok, url=url)
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=10) as r:
                health = json.loads(r.read())
        except urllib.error.HTTPError as err:
            health = json.loads(err.read())
        for w in health["workers"]:
            print(f"  worker {w['pid']}: {w['graded']} graded, {w['db_errors']} database errors retried "
                  f"({w['last_db_error'][:80] or 'none'})", flush=True)
        full = [g for g in final.values() if g["status"] == "graded" and g["score"] == g["max_score"]]
        lost = len(set(accepted)) - len(full)
        print(f"accepted {len(accepted)}  graded {len(full)}  lost {lost}  duplicated {len(rows) - len(set(accepted))}"
              f"  (of {args.n} sent; {time.monotonic() - t0:.0f} s; attempts per job: "
              f"{sorted(g['attempts'] for g in final.values())})", flush=True)
        return 0 if lost == 0 and len(rows) == len(set(accepted)) == args.n else 1
    finally:
        os.killpg(serve.pid, signal.SIGINT)
        try:
            serve.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
        if pg:
            pg.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
