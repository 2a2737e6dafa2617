"""What the hub's spawner runs for each learner: copy the released lessons the learner's
workspace does not hold yet (their own copies are never overwritten), then become
``jupyterhub-singleuser`` (JupyterLab) on that workspace.

The learner's directory is the spawner's home (``<hub dir>/users/<name>``); the workspace is
``workspace/`` inside it and the learner's own course data (hints, progress) ``.bootcamp/``.
``bootcamp submit`` and the submit button reach the grading service at ``$BOOTCAMP_URL`` with
the server's own hub token (``$JUPYTERHUB_API_TOKEN``): no token to copy.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    home = Path(os.environ.get("HOME") or Path.cwd())
    ws = Path(os.environ.setdefault("BOOTCAMP_WORKSPACE", str(home / "workspace")))
    os.environ.setdefault("BOOTCAMP_DATA_DIR", str(home / ".bootcamp"))
    os.environ.setdefault("BOOTCAMP_RECORD_CELLS", "1")  # exercise times, in the learner's own folder
    ws.mkdir(parents=True, exist_ok=True)
    from course.authoring.lessons import ROOT
    from course.learner import placement, workspace

    workspace.open_all(ROOT)
    placement.open_all(ROOT)  # the placement quizzes in the workspace too (their copies never overwritten)
    argv = [sys.executable, "-m", "jupyterhub.singleuser", f"--ServerApp.root_dir={ws}", *sys.argv[1:]]
    os.execv(sys.executable, argv)


if __name__ == "__main__":
    main()
