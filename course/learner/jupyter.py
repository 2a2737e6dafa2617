"""Submit from JupyterLab, without a terminal: a button under every lesson, and ``submit()``.

The last cell of every lesson calls ``lesson_summary("0.1")`` (course/learner/progress.py),
which, inside JupyterLab, also shows a **Submit for grading** button (ipywidgets). A click
(or ``submit("0.1")`` in a cell of your own):

1. saves the notebook: the page's JupyterLab runs ``docmanager:save`` (``bootcamp lab``
   starts JupyterLab with ``--LabApp.expose_app_in_browser=True`` so that a cell's output can
   reach the app), and the kernel waits until the file on disk changes;
2. sends the saved notebook to the grading service (``course/learner/client.py``: the same
   request as ``bootcamp submit``);
3. shows the result under the button: score, and every exercise's message in full.

If the save cannot be triggered (another front end), it says so and sends the notebook as
last saved, with the time of that save. Headless runs (``bootcamp check``, the grader) never
submit: the button only acts on a click, and ``submit()`` only in a kernel that a Jupyter
server started (``JPY_SESSION_NAME`` is set).
"""

from __future__ import annotations

import html
import os
import time
from datetime import datetime
from pathlib import Path

from course.authoring.lessons import ROOT, find_lesson

SAVE_JS = ("(function(){var app = window.jupyterapp;"
           "if (app && app.commands.hasCommand('docmanager:save')) { app.commands.execute('docmanager:save'); }"
           "})();")


def notebook_of(lesson: str) -> Path:
    """The notebook this kernel belongs to if a Jupyter server says so, else the lesson's workspace copy."""
    session = os.environ.get("JPY_SESSION_NAME", "")
    if session.endswith(".ipynb") and Path(session).is_absolute() and Path(session).is_file():
        return Path(session)
    from course.learner import workspace

    return workspace.open_lesson(find_lesson(lesson).slug, ROOT)


def save_notebook(path: Path, wait: float = 15.0) -> bool:
    """Ask the JupyterLab page to save; True once the file on disk changed."""
    from IPython.display import Javascript, display

    before = path.stat().st_mtime_ns if path.exists() else 0
    display(Javascript(SAVE_JS))
    end = time.monotonic() + wait
    while time.monotonic() < end:
        time.sleep(0.2)
        if path.exists() and path.stat().st_mtime_ns != before:
            time.sleep(0.2)  # let the write finish
            return True
    return False


class Submitted:
    """The result, shown as HTML in a notebook and as ``bootcamp submit``'s text elsewhere."""

    def __init__(self, got: dict, note: str = ""):
        self.got, self.note = got, note

    def __str__(self) -> str:
        from course.learner.client import format_result

        return (self.note + "\n" if self.note else "") + format_result(self.got, width=100)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        g = self.got
        score = f", score <b>{g['score']:g}/{g['max_score']:g}</b>" if g.get("score") is not None else ""
        rows = "".join(
            f"<tr><td><code>{html.escape(r['exercise'])}</code></td><td>{r['points']:g}/{r['max_points']:g}</td>"
            f"<td>{html.escape(r['status'])}</td><td style='text-align:left'><pre style='white-space:pre-wrap;margin:0'>"
            f"{html.escape(r.get('message') or '')}</pre></td></tr>" for r in g.get("results", []))
        flags = "".join(f"<li>{html.escape(f['kind'])}: {html.escape(f['detail'])}</li>" for f in g.get("flags", []))
        return ("<div class='bootcamp-submitted'>"
                + (f"<p>{html.escape(self.note)}</p>" if self.note else "")
                + f"<p>submission <code>{html.escape(str(g['id']))}</code> of {html.escape(g['lesson'])}: "
                f"{html.escape(g['status'])}{score}</p>"
                + (f"<p>{html.escape(g['message'])}</p>" if g.get("message") else "")
                + (f"<table><tr><th>exercise</th><th>points</th><th>result</th><th>message</th></tr>{rows}</table>"
                   if rows else "")
                + (f"<ul>{flags}</ul>" if flags else "") + "</div>")


def _submit(lesson: str, save: bool, timeout: float, log=print) -> Submitted:
    from course.learner import client

    path = notebook_of(lesson)
    note = ""
    if save:
        log("saving the notebook ...")
        if not save_notebook(path):
            when = datetime.fromtimestamp(path.stat().st_mtime).strftime("%H:%M:%S") if path.exists() else "never"
            note = (f"could not save from here: sent {path.name} as last saved ({when}); if you changed it since, "
                    "save (Ctrl-S) and submit again")
    log(f"sending {path.name} to the grading service ...")
    ack = client.submit(lesson, path)
    log(f"submitted: id {ack['id']}; grading ...")
    got = client.wait(ack["id"], timeout=timeout)
    if got["status"] in ("queued", "grading"):
        note = (note + "; " if note else "") + f"still {got['status']}: `bootcamp status {got['id']}` later"
    return Submitted(got, note)


def submit(lesson: str, save: bool = True, timeout: float = 120.0) -> Submitted | None:
    """From a cell: save this notebook, submit it, return the result (shown in full)."""
    if not os.environ.get("JPY_SESSION_NAME"):
        print("submit() acts only in JupyterLab; in a headless run (bootcamp check, the grader) it does nothing. "
              f"From a terminal: `bootcamp submit {lesson}`")
        return None
    from course.learner.client import ServiceError

    try:
        return _submit(lesson, save, timeout)
    except ServiceError as err:
        print(f"not submitted: {err}")
        return None


def submit_button(lesson: str, timeout: float = 120.0):
    """A "Submit for grading" button with its output area (ipywidgets); None without ipywidgets."""
    try:
        import ipywidgets as widgets
        from IPython.display import display
    except ImportError:
        return None
    button = widgets.Button(description=f"Submit {lesson} for grading", icon="paper-plane", button_style="primary",
                            tooltip="save this notebook, send it to the grading service, show the result",
                            layout=widgets.Layout(width="auto"))
    out = widgets.Output()

    def click(_):
        button.disabled = True
        out.clear_output()
        with out:
            try:
                display(_submit(lesson, True, timeout))
            except Exception as err:  # noqa: BLE001  (shown to the learner, never a dead button)
                print(f"not submitted: {err}")
            finally:
                button.disabled = False

    button.on_click(click)
    box = widgets.VBox([button, out])
    box.add_class("bootcamp-submit")
    return box
