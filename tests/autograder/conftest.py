"""Fixtures for the grading service: a tiny two-exercise lesson in a temporary course
directory, one warm grader (zygote) for the whole session, the app against a real SQLite
file, and helpers that turn the released notebook into a submission."""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from course.authoring.lessons import ROOT, Lesson, build

SLUG = "9.8-grading"
HEADER = """\
# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   course:
#     id: "9.8"
#     title: A lesson to grade
#     minutes: 5
# ---
"""
BODY = '''
# %% [markdown]
# # A lesson to grade

# %%
import numpy as np
from course import checks

# %% nbgrader={"solution": true, "grade_id": "double"} exercise={"difficulty": 1, "importance": 1, "minutes": 1}
def double(x):
    """Return 2 * x."""
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "double_test", "points": 2}
checks.assert_equal("double", double(np.arange(3)), np.array([0, 2, 4]))
### BEGIN HIDDEN TESTS
checks.assert_equal("double", double(np.array([-3, 7])), np.array([-6, 14]))  # SECRET-DOUBLE-CHECK
### END HIDDEN TESTS

# %% nbgrader={"solution": true, "grade_id": "norm"} exercise={"difficulty": 1, "importance": 1, "minutes": 1}
def norm(x):
    """The Euclidean norm of a vector."""
    ### BEGIN SOLUTION
    return np.sqrt((x ** 2).sum())
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "norm_test", "points": 3}
checks.assert_close("norm", norm(np.array([3.0, 4.0])), 5.0)
### BEGIN HIDDEN TESTS
np.testing.assert_allclose(norm(np.zeros(3)), 0.0)
checks.assert_close("norm", norm(np.ones(4)), 2.0)  # SECRET-NORM-CHECK
### END HIDDEN TESTS
'''
SOLUTIONS = {
    "double": "def double(x):\n    return 2 * x",
    "norm": "def norm(x):\n    return np.sqrt((x ** 2).sum())",
}
STATEFUL = "9.9-stateful"
STATEFUL_BODY = '''
# %%
from course import checks

# %% nbgrader={"solution": true, "grade_id": "counter"} exercise={"difficulty": 1, "importance": 1, "minutes": 1}
class Counter:
    """Counts calls to inc()."""

    def __init__(self):
        ### BEGIN SOLUTION
        self.n = 0
        ### END SOLUTION

    def inc(self):
        ### BEGIN SOLUTION
        self.n += 1
        ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "counter_test", "points": 1}
def expect(exercise, ok, message):  # a helper that a later test uses too
    checks.assert_true(exercise, ok, message)


c = Counter()
c.inc()
checks.assert_true("counter", isinstance(c, Counter) and c.n == 1, f"after one inc(), n is {c.n}")
### BEGIN HIDDEN TESTS
c.inc()
checks.assert_true("counter", c.n == 2, "after two inc(), n should be 2")  # SECRET-COUNTER
### END HIDDEN TESTS

# %% nbgrader={"solution": true, "grade_id": "fill"} exercise={"difficulty": 1, "importance": 1, "minutes": 1}
def fill(items, n):
    """Append 0, 1, ..., n-1 to the list `items`, in place."""
    ### BEGIN SOLUTION
    items.extend(range(n))
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "fill_test", "points": 1}
items = [9]
fill(items, 2)
expect("fill", items == [9, 0, 1], f"after fill(items, 2) on [9], items is {items}")  # SECRET-FILL
'''
FAST_WARM = "numpy,course.checks"  # the grading tests do not need torch warm; one test checks it is


@pytest.fixture(scope="session")
def course_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gradingcourse") / "course"
    (root / "solutions" / SLUG).mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "solutions" / SLUG / f"{SLUG}.py").write_text(HEADER + "\n" + textwrap.dedent(BODY).lstrip("\n"))
    (root / "solutions" / STATEFUL).mkdir(parents=True)
    (root / "solutions" / STATEFUL / f"{STATEFUL}.py").write_text(
        HEADER.replace("9.8", "9.9").replace("A lesson to grade", "Objects") + "\n" + textwrap.dedent(STATEFUL_BODY).lstrip("\n"))
    build([Lesson(SLUG, root), Lesson(STATEFUL, root)], root=root)
    (root / "exercises" / SLUG / "data.txt").write_text("a data file shipped with the lesson\n")
    return root


@pytest.fixture(scope="session")
def release(course_root) -> nbformat.NotebookNode:
    return nbformat.read(str(course_root / "exercises" / SLUG / f"{SLUG}.ipynb"), as_version=4)


def make_settings(course_root: Path, data_dir: Path, **kw):
    from autograder.settings import Settings

    base = dict(course_dir=course_root, data_dir=data_dir, wall_seconds=8, cpu_seconds=20, workers=2,
                warm_imports=FAST_WARM, lease_seconds=6, poll_seconds=0.05,
                submissions_per_minute=0, upload_bytes_per_day=0)  # the limits' own tests set them (test_fairness)
    base.update(kw)
    return Settings(**base)


@pytest.fixture(scope="session")
def grader(course_root, tmp_path_factory):
    from autograder.grading.pipeline import Grader

    settings = make_settings(course_root, tmp_path_factory.mktemp("graderdata"))
    g = Grader(settings)
    g.start()
    yield g
    g.stop()


@pytest.fixture(scope="session")
def torch_grader(course_root, tmp_path_factory):
    """A grader with the service's default warm imports (torch included)."""
    from autograder.grading.pipeline import Grader
    from autograder.settings import Settings

    settings = make_settings(course_root, tmp_path_factory.mktemp("torchdata"),
                             warm_imports=Settings().warm_imports)
    g = Grader(settings)
    g.start()
    yield g
    g.stop()


@pytest.fixture
def settings(course_root, tmp_path):
    return make_settings(course_root, tmp_path / "data")


class Sub:
    """Build a submission from the released notebook."""

    def __init__(self, release):
        self.nb = copy.deepcopy(release)

    def index(self, grade_id: str) -> int:
        for i, c in enumerate(self.nb.cells):
            if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
                return i
        raise KeyError(grade_id)

    def solve(self, **sources) -> Sub:
        for gid, src in {**SOLUTIONS, **sources}.items():
            self.nb.cells[self.index(gid)].source = textwrap.dedent(src).strip("\n")
        return self

    def set(self, grade_id: str, source: str) -> Sub:
        self.nb.cells[self.index(grade_id)].source = textwrap.dedent(source).strip("\n")
        return self

    def after(self, grade_id: str, source: str) -> Sub:
        self.nb.cells.insert(self.index(grade_id) + 1, nbformat.v4.new_code_cell(textwrap.dedent(source).strip("\n")))
        return self

    def delete(self, grade_id: str) -> Sub:
        del self.nb.cells[self.index(grade_id)]
        return self

    def bytes(self) -> bytes:
        return json.dumps(self.nb).encode()


@pytest.fixture
def sub(release):
    return lambda: Sub(release)


def outputs_text(report) -> str:
    parts = []
    for cell in report.notebook.cells:
        for o in cell.get("outputs", []):
            parts.append(o.get("text", "") + o.get("evalue", "") + str(o.get("data", {})))
    return "\n".join(parts)


def result(report, exercise: str):
    return next(r for r in report.results if r.exercise == exercise)


def is_root() -> bool:
    return os.geteuid() == 0


needs_root = pytest.mark.skipif(not is_root() or sys.platform != "linux",
                                reason="full isolation (uids, mount and network namespaces) needs a root worker on Linux")


class Service:
    """The app against a real SQLite file, with users in two cohorts and their tokens."""

    def __init__(self, settings):
        from fastapi.testclient import TestClient

        from autograder.app import create_app
        from autograder.gradebook import accounts
        from autograder.gradebook.db import Database

        self.settings = settings
        self.db = Database(settings)
        self.app = create_app(settings, self.db)
        self.client = TestClient(self.app)
        self.tokens: dict[str, str] = {}
        with self.db.session() as s:
            for cohort in ("alpha", "beta"):
                accounts.create_cohort(s, cohort)
            for name, role in (("ines", "instructor"), ("mo", "mentor"), ("mia", "mentor")):
                self.tokens[name] = accounts.issue_token(s, accounts.ensure_user(s, name, role))
            accounts.assign_mentor(s, "mo", "alpha")
            accounts.assign_mentor(s, "mia", "beta")
            for cohort, csv_text in (("alpha", "username,first_name\nlea,Lea\nleo,Leo\n"), ("beta", "username\nlia\n")):
                for user, token in accounts.enrol_csv(s, cohort, csv_text):
                    self.tokens[user] = token

    def h(self, who: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def submit(self, who: str, body: bytes, lesson: str = "9.8"):
        return self.client.post(f"/api/submissions?lesson={lesson}", content=body, headers=self.h(who))

    def count(self) -> int:
        from sqlalchemy import func, select

        from autograder.gradebook.models import Submission

        with self.db.session() as s:
            return s.scalar(select(func.count()).select_from(Submission))


@pytest.fixture
def service(settings):
    svc = Service(settings)
    yield svc
    svc.db.dispose()


@pytest.fixture
def worker(service, grader):
    """An in-process worker that shares the session's warm grader."""
    from autograder.grading.worker import Worker

    w = Worker(service.settings, service.db, grader)
    w.release_dead_leases()
    import threading

    threads = [threading.Thread(target=w._loop, args=(slot,), daemon=True) for slot in range(2)]
    for t in threads:
        t.start()
    yield w
    w.stopping.set()
    for t in threads:
        t.join(15)
