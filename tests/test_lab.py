"""`bootcamp lab` serves the learner's workspace in JupyterLab (the README's first command ends here)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from course.authoring.lessons import all_lessons


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lab_serves_the_workspace(tmp_path):
    port, token = free_port(), "test-token"
    ws = tmp_path / "ws"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"),
               BOOTCAMP_WORKSPACE=str(ws))
    bootcamp = Path(sys.executable).parent / "bootcamp"
    proc = subprocess.Popen(
        [str(bootcamp), "lab", "--no-browser", "--port", str(port), f"--IdentityProvider.token={token}",
         "--ServerApp.ip=127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/contents/?token={token}"
        deadline, listing = time.time() + 60, None
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    listing = json.load(r)
                break
            except OSError:
                time.sleep(0.5)
        if listing is None:
            proc.terminate()
            raise AssertionError(f"JupyterLab did not answer within 60 s:\n{proc.communicate(timeout=20)[0][-3000:]}")
        names = {item["name"] for item in listing["content"]}
        assert {lesson.slug for lesson in all_lessons()} <= names, names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=5) as r:
            assert r.status == 200 and b"JupyterLab" in r.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert str(ws) in out  # it says where it serves from
    for lesson in all_lessons():  # every lesson copied from the release the first time, byte for byte
        assert (ws / lesson.slug / f"{lesson.slug}.ipynb").read_bytes() == lesson.exercise_notebook.read_bytes()
