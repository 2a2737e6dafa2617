"""Grading one notebook: nbgrader's semantics, and every hostile case as a test.

Each test grades a submission built from the released notebook with the session's warm
grader (learner code in its sandbox process, tests in the trusted test process)."""

from __future__ import annotations

import os
import socket
import uuid

from .conftest import SLUG, needs_root, outputs_text, result


def grade(grader, sub):
    return grader.grade_bytes(SLUG, sub.bytes())


def test_correct_submission_scores_full_marks_without_flags(grader, sub):
    r = grade(grader, sub().solve())
    assert (r.status, r.score, r.max_score) == ("graded", 5.0, 5.0)
    assert [x.status for x in r.results] == ["pass", "pass"]
    assert r.flags == []


def test_untouched_stubs_are_todo(grader, sub):
    r = grade(grader, sub())
    assert r.score == 0
    assert {x.status for x in r.results} == {"todo"}
    assert result(r, "double").message == "not implemented yet"


def test_hidden_test_failure_scores_zero_and_message_hides_the_test(grader, sub):
    # passes the visible test (non-negative inputs) but not the hidden one
    r = grade(grader, sub().solve(double="def double(x):\n    return abs(2 * x)"))
    d = result(r, "double")
    assert (d.points, d.status) == (0, "fail")
    assert "SECRET" not in d.message and "np.array([-3, 7])" not in d.message
    assert "SECRET" not in outputs_text(r).replace(r.notebook.cells[0].source, "")  # only learner cells' outputs


def test_wrong_answer_message_says_what_is_wrong(grader, sub):
    r = grade(grader, sub().solve(norm="def norm(x):\n    return (x ** 2).sum()"))
    n = result(r, "norm")
    assert n.status == "fail" and n.message.startswith("[norm]")
    assert result(r, "double").status == "pass"


def test_warnings_on_stderr_do_not_zero_a_correct_answer(grader, sub):
    r = grade(grader, sub().solve(double='''
        import sys, warnings
        warnings.warn("a deprecation warning, as torch prints")
        print("noise on stderr", file=sys.stderr)
        def double(x):
            warnings.warn("a warning inside the exercise")
            print("more noise", file=sys.stderr)
            return 2 * x
    ''').after("double_test", 'import sys; print("a warning after the test", file=sys.stderr)'))
    assert r.score == 5.0, r.results
    assert "noise on stderr" in outputs_text(r)


def test_infinite_loop_after_correct_code_times_out_with_no_marks(grader, sub, monkeypatch):
    monkeypatch.setattr(grader.settings, "wall_seconds", 3.0)
    r = grade(grader, sub().solve(double="def double(x):\n    return 2 * x\nwhile True:\n    pass"))
    assert r.status == "timed_out"
    assert r.score == 0
    assert "did not finish within" in r.message
    assert all(x.status == "timed out" for x in r.results)


def test_infinite_loop_inside_the_exercise_function_times_out(grader, sub, monkeypatch):
    monkeypatch.setattr(grader.settings, "wall_seconds", 3.0)
    r = grade(grader, sub().solve(norm="def norm(x):\n    while True:\n        pass"))
    assert r.status == "timed_out" and r.score == 0


def test_deleted_test_cell_scores_zero_for_that_exercise(grader, sub):
    r = grade(grader, sub().solve().delete("norm_test"))
    assert result(r, "norm").status == "deleted" and result(r, "norm").points == 0
    assert result(r, "double").points == 2
    assert ("deleted_test_cell" in [k for k, _ in r.flags])


def test_tampered_test_cell_is_flagged_and_the_real_test_runs(grader, sub):
    s = sub().solve(norm="def norm(x):\n    return 0.0").set("norm_test", "pass  # nothing to see here")
    r = grade(grader, s)
    assert any(k == "tampered_test_cell" and "norm_test" in d for k, d in r.flags)
    assert result(r, "norm").points == 0 and result(r, "norm").status == "fail"
    # changing the points of a test cell is tampering too
    s = sub().solve()
    s.nb.cells[s.index("double_test")].metadata["nbgrader"]["points"] = 100
    r = grade(grader, s)
    assert r.max_score == 5 and any(k == "tampered_test_cell" for k, _ in r.flags)


def test_patched_assertion_helpers_are_detected_scored_zero_and_flagged(grader, sub):
    s = sub().solve(double="def double(x):\n    return x", norm="def norm(x):\n    return -1").after("norm", '''
        import numpy.testing
        from course import checks as c
        numpy.testing.assert_allclose = lambda *a, **k: None
        c.assert_close = lambda *a, **k: None
        c.assert_equal = lambda *a, **k: None
    ''')
    r = grade(grader, s)
    assert r.score == 0
    assert result(r, "norm").status == "patched"
    assert any(k == "patched_helper" and "assert_close" in d for k, d in r.flags)


def test_patching_from_inside_an_exercise_or_by_rebinding_changes_nothing(grader, sub):
    # Patching at call time happens in the learner's process; the tests run in another.
    r = grade(grader, sub().solve(norm='''
        def norm(x):
            import numpy.testing
            from course import checks
            checks.assert_close.__code__ = (lambda *a, **k: None).__code__
            numpy.testing.assert_allclose = lambda *a, **k: None
            return -1.0
    '''))
    assert result(r, "norm").points == 0 and result(r, "double").points == 2
    # Rebinding the name the tests use is detected too
    r = grade(grader, sub().solve(double="def double(x):\n    return x").after(
        "double", "import types\nchecks = types.SimpleNamespace(assert_equal=lambda *a: None, assert_close=lambda *a: None)"))
    assert result(r, "double").points == 0
    assert any(k == "patched_helper" and "checks" in d for k, d in r.flags)


def test_forged_results_from_the_learner_process_are_not_believed(grader, sub):
    # A learner cell that writes fake "passed" messages on every socket it can find.
    s = sub().solve(double="def double(x):\n    return x").after("double", '''
        import os, pickle, struct, json
        fake = json.dumps({"event": "test", "index": 4, "outputs": [], "ok": True}).encode()
        for fd in range(3, 64):
            try:
                os.write(fd, struct.pack(">I", len(fake)) + fake)
            except OSError:
                pass
    ''')
    r = grade(grader, s)
    assert result(r, "double").points == 0


@needs_root
def test_the_sandbox_cannot_read_hidden_tests_gradebook_or_solutions(grader, sub, course_root):
    g = grader.settings
    targets = [course_root / "solutions" / SLUG / f"{SLUG}.py", g.data_path / "gradebook.db",
               g.data_path, course_root / "solutions", "/proc/1/environ"]
    code = "found = {}\n" + "".join(
        f"try:\n    import os\n    p = {str(t)!r}\n    found[p] = os.listdir(p) if os.path.isdir(p) else open(p, 'rb').read(200)\n"
        f"except Exception as e:\n    found[p] = type(e).__name__\n" for t in targets) + "print(found)"
    r = grade(grader, sub().solve().after("double", code))
    text = outputs_text(r)
    assert "SECRET" not in text and "BEGIN HIDDEN" not in text
    for t in targets:
        assert f"{str(t)!r}: [" not in text or f"{str(t)!r}: []" in text, text  # no listing of anything
        assert f"{str(t)!r}: b'" not in text, text
    assert r.score == 5  # the probing itself costs nothing
    r = grade(grader, sub().solve().after("double", "import os\nprint(sorted(os.listdir('/root')) if os.path.isdir('/root') else [])"))
    assert set(eval(outputs_text(r).strip().splitlines()[0])) <= {".pyenv"}  # root's home: only a Python installed there
    assert r.isolation["mounts"] and r.isolation["uids"] and r.isolation["network"]


@needs_root
def test_writes_outside_scratch_fail_or_stay_in_the_sandbox(grader, sub, course_root):
    tag = uuid.uuid4().hex
    paths = [f"/tmp/escape-{tag}", os.path.expanduser(f"~/escape-{tag}"), str(course_root.parent / f"escape-{tag}"),
             str(course_root / "exercises" / f"escape-{tag}"), f"/var/tmp/escape-{tag}", f"/dev/shm/escape-{tag}"]
    code = "import os\nwrote = []\n" + "".join(
        f"try:\n    open({p!r}, 'w').write('x')\n    wrote.append({p!r})\nexcept OSError as e:\n    pass\n" for p in paths
    ) + "open('scratch-file', 'w').write('ok')\nprint('cwd', os.getcwd(), 'home', os.environ['HOME'], 'tmp', os.environ['TMPDIR'])"
    r = grade(grader, sub().solve().after("double", code))
    for p in paths:
        assert not os.path.exists(p), p
    assert "cwd /tmp/learner home /tmp/learner tmp /tmp/learner" in outputs_text(r)
    assert r.score == 5


@needs_root
def test_the_notebook_cannot_kill_the_worker_or_the_tests(grader, sub):
    me, zygote = os.getpid(), grader.zygote.proc.pid
    code = f'''
        import os, signal
        for pid in ({me}, {zygote}, os.getppid(), 1):
            for sig in (signal.SIGKILL, signal.SIGTERM):
                try:
                    os.kill(pid, sig)
                    print("killed", pid)
                except OSError as e:
                    print("refused", pid, type(e).__name__)
        for pid in os.listdir("/proc"):
            if pid.isdigit() and os.stat("/proc/" + pid).st_uid != os.getuid():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                    print("killed", pid)
                except OSError:
                    pass
    '''
    r = grade(grader, sub().solve().after("double", code))
    assert "killed" not in outputs_text(r)
    assert r.score == 5 and r.status == "graded"
    assert grader.zygote.proc.poll() is None


@needs_root
def test_no_network_from_the_sandbox(grader, sub):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        r = grade(grader, sub().solve().after("double", f'''
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2)
                print("CONNECTED")
            except OSError as e:
                print("no network:", type(e).__name__)
        '''))
    finally:
        server.close()
    assert "no network" in outputs_text(r) and "CONNECTED" not in outputs_text(r)


def test_limits_memory_file_size_and_output(grader, sub):
    r = grade(grader, sub().solve().after("double", '''
        try:
            big = bytearray(64 * 1024 ** 3)
            print("ALLOCATED")
        except MemoryError:
            print("memory refused")
        try:
            with open("big.bin", "wb") as f:
                f.write(b"x" * (200 * 1024 ** 2))
            print("WROTE")
        except OSError as e:
            print("file refused", e.errno)
        print("y" * 10_000_000)
    '''))
    text = outputs_text(r)
    assert "memory refused" in text and "ALLOCATED" not in text
    assert "file refused" in text and "WROTE" not in text
    assert len(text) < 200_000 and "truncated" in text
    assert r.score == 5


def test_a_learner_process_that_dies_gives_a_clear_result(grader, sub):
    r = grade(grader, sub().solve().after("double_test", "import os\nos._exit(3)"))
    assert result(r, "double").points == 2
    n = result(r, "norm")
    assert n.status == "not run" and "exited with status 3" in n.message


def test_lesson_files_are_in_scratch_and_magics_do_not_break_grading(grader, sub):
    r = grade(grader, sub().solve().after("double", "%matplotlib inline\nprint(open('data.txt').read())\n!ls /"))
    assert "a data file shipped with the lesson" in outputs_text(r)
    assert r.score == 5


def test_torch_is_warm_and_tensors_cross_between_the_processes(torch_grader, sub):
    # with torch imported once by the worker, `import torch` in a submission costs nothing
    # (a cold import takes longer than this lesson's whole 8 s budget on CI's machine)
    assert "torch" in torch_grader.settings.warm_imports
    r = grade(torch_grader, sub().solve(double='''
        import torch
        def double(x):
            return torch.as_tensor(x).mul(2).numpy()
        def norm(x):
            return torch.linalg.vector_norm(torch.as_tensor(x))   # a 0-d tensor, compared in the test process
    '''))
    assert r.score == 5, r.results


def test_a_run_starts_on_one_thread_and_extra_threads_wait_without_spinning(torch_grader, sub):
    # a run's cgroup gives it one CPU: torch starts on one thread, and threads a notebook asks for
    # (1.4 compares 1 with 2) sleep while idle instead of spinning on the other slot's CPU; libgomp
    # reads OMP_WAIT_POLICY once, when the zygote's torch loads it
    with open(f"/proc/{torch_grader.zygote.proc.pid}/environ", "rb") as f:
        env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
    assert env.get(b"OMP_WAIT_POLICY") == b"PASSIVE" and env.get(b"OMP_NUM_THREADS") == b"1", env
    r = grade(torch_grader, sub().solve().after("double", "import torch\nprint('threads', torch.get_num_threads())\n"
                                                          "torch.set_num_threads(2)\nprint(float(torch.ones(512, 512).sum()))"))
    assert "threads 1" in outputs_text(r) and "262144.0" in outputs_text(r), outputs_text(r)
    assert r.score == 5


def test_each_process_of_a_run_is_named_for_its_part(grader, sub):
    # ps, top and `perf report --sort comm` tell the parts of a grading apart (README: where a
    # grading's CPU goes, issue 25); the names say nothing a learner could use
    with open(f"/proc/{grader.zygote.proc.pid}/comm") as f:
        assert f.read().strip() == "grade-zygote"
    r = grade(grader, sub().solve().after("double", "import os\nprint('names', open('/proc/self/comm').read().strip(), "
                                                    "open(f'/proc/{os.getppid()}/comm').read().strip())"))
    assert "names grade-learner grade-init" in outputs_text(r), outputs_text(r)
    assert r.score == 5


def test_hidden_tests_can_inspect_source_and_pass_callbacks(grader, sub, monkeypatch):
    """Lesson 0.1's hidden tests read an exercise's source (inspect) and hand it a fake clock."""
    import autograder.grading.pipeline as grading

    spec = grader.catalogue.spec(SLUG)
    assert grader.mode_for(spec) == "split"  # measured on the lesson's own tests, before this test adds to them
    extra = ('import inspect\nassert "for " not in inspect.getsource(double), "no loops please"\n'
             'calls = []\nclass Clock:\n    def __call__(self):\n        calls.append(1)\n        return 1.0\n'
             'assert double(Clock()()) == 2.0 and calls == [1]\n'
             'assert double(lambda: 3) is not None\n')
    monkeypatch.setitem(spec.tests, "double_test", spec.tests["double_test"] + "\n" + extra)
    monkeypatch.setattr(grading, "build_spec", lambda *a: spec)
    r = grade(grader, sub().solve(double="def double(x):\n    return x() * 2 if callable(x) else 2 * x"))
    assert result(r, "double").points == 2, result(r, "double").message
    r = grade(grader, sub().solve(double="def double(x):\n    out = 0\n    for _ in range(2):\n        out = out + x\n    return out"))
    assert result(r, "double").message.startswith("AssertionError: no loops please")


def test_learner_objects_cross_with_operators_attributes_and_a_tests_temp_dir(grader, sub, monkeypatch):
    """In the separate test process a learner's object answers operators, attribute writes and
    isinstance; a test's own object answers the learner's attribute reads; a file the learner's
    code writes into the test's temporary directory is there for the test to read."""
    import autograder.grading.pipeline as grading

    spec = grader.catalogue.spec(SLUG)
    assert grader.mode_for(spec) == "split"
    extra = """
v = V(2) + V(3)
assert isinstance(v, V) and not isinstance(3, V) and v.x == 5, "add"
assert (1 + V(2)).x == 3 and (-V(4)).x == -4 and V(1) < V(2), "reflected and unary operators"
v.x = 7
assert v.x == 7, "attribute write"
class Box:
    size = 4
assert twice_size(Box()) == 8, "a test's object"
import os, tempfile
with tempfile.TemporaryDirectory() as d:
    write(os.path.join(d, "out.txt"), "hi")
    assert open(os.path.join(d, "out.txt")).read() == "hi", "temp dir"
"""
    monkeypatch.setitem(spec.tests, "double_test", spec.tests["double_test"] + "\n" + extra)
    monkeypatch.setattr(grading, "build_spec", lambda *a: spec)
    r = grade(grader, sub().solve(double='''
        class V:
            def __init__(self, x):
                self.x = x
            def __add__(self, o):
                return V(self.x + (o.x if isinstance(o, V) else o))
            __radd__ = __add__
            def __neg__(self):
                return V(-self.x)
            def __lt__(self, o):
                return self.x < o.x
        def twice_size(b):
            return 2 * b.size
        def write(path, text):
            with open(path, "w") as f:
                f.write(text)
        def double(x):
            return 2 * x
    '''))
    assert result(r, "double").points == 2, result(r, "double").message
    assert r.isolation["tests"] == "separate process"


def test_only_the_tests_that_need_the_learners_objects_run_in_the_learners_process(grader, course_root):
    """auto mode: graded with every test in a separate process, the lesson's own solution fails
    only fill (an in-place change to the test's own list cannot cross between processes). So
    fill's test alone runs in the learner's process (mode "mixed"), where a patched helper is
    still detected, and counter's test (a learner class: calls, attributes, isinstance) keeps its
    separate process, where nothing the learner's code forges changes the verdict. fill's test
    uses a helper that counter's test defined: the helper's definition goes with it, not counter's
    assertions."""
    import json

    import nbformat

    from autograder.grading.pipeline import solved_notebook
    from course.authoring.lessons import Lesson

    from .conftest import STATEFUL

    def cell_of(nb, gid):
        return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid)

    def copy(nb):
        return nbformat.from_dict(json.loads(json.dumps(nb)))

    lesson = Lesson(STATEFUL, course_root)
    spec = grader.catalogue.spec(STATEFUL)
    good = solved_notebook(lesson, spec.release)
    r = grader.grade_bytes(STATEFUL, json.dumps(good).encode())
    assert (spec.mode, spec.shared_tests) == ("mixed", frozenset({"fill_test"})), (spec.mode, spec.shared_tests)
    assert (r.score, r.flags) == (2, [])
    assert r.isolation["tests_in_learner_process"] == ["fill_test"]
    assert r.isolation["tests"] == "separate process, except 1 of 2 in the learner process (fill)"

    wrong = copy(good)
    i = cell_of(wrong, "counter")
    wrong.cells[i].source = wrong.cells[i].source.replace("self.n += 1", "self.n = 1")
    j = cell_of(wrong, "fill")
    wrong.cells[j].source = wrong.cells[j].source.replace("items.extend(range(n))", "items = list(range(n))")
    r = grader.grade_bytes(STATEFUL, json.dumps(wrong).encode())
    counter, fill = r.results
    assert counter.points == 0 and counter.message == "[counter] after two inc(), n should be 2"  # the check's words,
    assert "SECRET" not in counter.message and "checks.assert_true(" not in counter.message  # not its code
    assert fill.points == 0 and fill.message == "[fill] after fill(items, 2) on [9], items is [9]"

    patched = copy(wrong)
    patched.cells.insert(i + 1, nbformat.v4.new_code_cell(
        "from course import checks\nchecks.assert_true = lambda *a, **k: None"))
    r = grader.grade_bytes(STATEFUL, json.dumps(patched).encode())
    assert r.score == 0 and [x.status for x in r.results] == ["patched", "patched"]
    assert any(k == "patched_helper" for k, _ in r.flags)

    # A learner whose code rewrites the learner process's own grading machinery (so that its
    # reports say "passed" and "nothing patched"): the test that runs in the separate process
    # still fails the wrong counter.
    forged = copy(wrong)
    forged.cells.insert(i + 1, nbformat.v4.new_code_cell(
        "import sys\n"
        "for m in list(sys.modules.values()):\n"
        "    if hasattr(m, '_run_code') and hasattr(m, '_patches'):\n"
        "        run = m._run_code\n"
        "        m._run_code = lambda src, ns, fn, cap, run=run: (run(src, ns, fn, cap)[0], True)\n"
        "        m._patches = lambda before: []\n"))
    r = grader.grade_bytes(STATEFUL, json.dumps(forged).encode())
    assert r.results[0].points == 0 and r.results[0].message == "[counter] after two inc(), n should be 2"
    assert grader.mode_for(grader.catalogue.spec(SLUG)) == "split"  # the functional lesson keeps every test apart


def test_library_functions_and_classes_cross_by_name_learner_lookalikes_do_not():
    """T resolves torch/numpy symbols to its own objects (isinstance, rule checks); never a learner's."""
    import numpy as np
    import torch

    from autograder.grading.sandbox import _Decoder, encode

    decode = _Decoder(conn=None)
    for obj in (torch.arange, torch.Tensor, torch.nn.Linear, np.add, np.arange, len):
        assert decode(encode(obj, {})) is obj, obj

    def arange(*a):  # a learner's function that claims to be torch.arange
        return 0

    arange.__module__ = "torch"
    refs = {}
    assert encode(arange, refs)[1] == "fn" and id(arange) in refs


def test_the_tensor_puzzles_lesson_grades_its_tests_in_a_separate_process(tmp_path):
    """0.2's rule checks read the learner's function and its globals across the process boundary."""
    from autograder.grading.pipeline import Grader, solved_notebook
    from autograder.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", wall_seconds=240, cpu_seconds=480)
    g = Grader(settings)
    g.start()
    try:
        spec = g.catalogue.spec("0.2-einops")
        assert g.mode_for(spec) == "split", "0.2's solution should score full marks with tests in T"
        nb = solved_notebook(spec.lesson, spec.release)
        for cell in nb.cells:  # solve `eye` with the built-in: the rule check must see it from T
            if cell.metadata.get("nbgrader", {}).get("grade_id") == "eye":
                cell.source = "def eye(n):\n    return torch.eye(n, dtype=torch.long)"
        import json

        report = g._grade(spec, json.dumps(nb).encode(), 0, "split")
        eye = next(r for r in report.results if r.exercise == "eye")
        assert not eye.passed and "torch.eye" in eye.message, eye.message
    finally:
        g.stop()


def test_a_slow_lessons_wall_limit_follows_its_own_solution(grader):
    """A lesson whose solution takes 50 s must not time out at a 60 s default meant for fast ones."""
    from autograder.settings import Settings

    spec = grader.catalogue.spec(SLUG)
    s = Settings(wall_seconds=60, wall_factor=3, max_wall_seconds=600)
    saved = spec.solution_seconds
    try:
        spec.solution_seconds = None
        assert spec.wall_limit(s) == 60
        spec.solution_seconds = 5.0
        assert spec.wall_limit(s) == 60
        spec.solution_seconds = 50.0
        assert spec.wall_limit(s) == 150
        spec.solution_seconds = 400.0
        assert spec.wall_limit(s) == 600
    finally:
        spec.solution_seconds = saved


@needs_root
def test_two_graders_on_one_machine_never_end_each_others_sandboxes(grader, course_root, tmp_path, sub):
    """After each run a worker kills every process of that run's sandbox uids. Each run leases its
    uids machine-wide, so a second worker's clean-up never ends this worker's sandbox (with uids
    picked by slot number alone, two workers grading at once lost notebooks as "the sandbox ended
    without a result")."""
    from concurrent.futures import ThreadPoolExecutor

    from autograder.grading.pipeline import Grader

    from .conftest import make_settings

    other = Grader(make_settings(course_root, tmp_path))
    other.start()
    try:
        raw = sub().solve().bytes()
        with ThreadPoolExecutor(6) as pool:
            runs = [pool.submit(g.grade_bytes, SLUG, raw, slot) for slot in range(3) for g in (grader, other)]
            reports = [f.result() for f in runs]
    finally:
        other.stop()
    assert [(r.status, r.score) for r in reports] == [("graded", 5.0)] * 6, [r.message for r in reports]


def test_a_lessons_calibration_is_kept_for_the_next_worker(grader):
    """Where each test runs and how long the solution takes are measured once per lesson and
    kept in the data directory: a worker started later grades without re-running the solution,
    and a changed lesson is measured again."""
    import nbformat

    from autograder.grading.pipeline import Grader

    from .conftest import STATEFUL

    spec = grader.catalogue.spec(STATEFUL)
    assert grader.mode_for(spec) == "mixed"
    later = Grader(grader.settings, zygote=grader.zygote)

    def no_solution_runs(*a, **k):
        raise AssertionError("the later worker re-ran the lesson's solution")

    later._grade = no_solution_runs
    again = later.catalogue.spec(STATEFUL)
    assert again is not spec and again.mode is None
    assert later.mode_for(again) == "mixed"
    assert (again.shared_tests, again.solution_seconds) == (spec.shared_tests, spec.solution_seconds)
    again.mode = None
    again.release = nbformat.from_dict({**again.release, "metadata": {**again.release["metadata"], "changed": True}})
    try:
        later.mode_for(again)
    except AssertionError as err:
        assert "re-ran" in str(err)
    else:
        raise AssertionError("a changed lesson kept its old calibration")


def test_random_generators_and_a_tests_tensors_are_shared_as_in_one_kernel(torch_grader, sub, monkeypatch):
    """With the tests in their own process, a seed set by a test still decides what the learner's
    code draws (and the reverse), and a learner's in-place update of the test's parameters and
    gradients is seen by the test, as when both ran in one kernel."""
    import autograder.grading.pipeline as grading

    spec = torch_grader.catalogue.spec(SLUG)
    assert torch_grader.mode_for(spec) == "split"
    extra = """
import random
import torch
torch.manual_seed(5)
drawn = draw()
torch.manual_seed(5)
assert torch.equal(drawn, torch.rand(3)), "a test's seed decides the learner's draw"
assert torch.equal(torch.rand(2), draw()[:2]) is False, "the learner's draw moves the test's generator on"
np.random.seed(1)
random.seed(2)
assert draw_np() == (np.random.RandomState(1).rand(), random.Random(2).random()), "numpy and random too"
p = torch.nn.Parameter(torch.ones(2))
p.grad = torch.full((2,), 0.5)
step([p], 0.1)
assert torch.allclose(p.detach(), torch.full((2,), 0.95)), f"in-place update seen by the test: {p}"
p.grad = torch.full((2,), 1.0)
step([p], 0.1)
assert torch.allclose(p.detach(), torch.full((2,), 0.85)), f"a new gradient reaches the learner: {p}"
clear([p])
assert p.grad is None, "gradients cleared by the learner"
"""
    monkeypatch.setitem(spec.tests, "double_test", spec.tests["double_test"] + "\n" + extra)
    monkeypatch.setattr(grading, "build_spec", lambda *a: spec)
    r = grade(torch_grader, sub().solve(double='''
        import random
        import torch
        def draw():
            return torch.rand(3)
        def draw_np():
            return (np.random.rand(), random.random())
        def step(params, lr):
            for q in params:
                q.data.add_(q.grad, alpha=-lr)   # .data: no version bump, still seen
        def clear(params):
            for q in params:
                q.grad = None
        def double(x):
            return 2 * x
    '''))
    assert result(r, "double").points == 2, result(r, "double").message


def test_autograd_modules_hooks_and_identity_cross_as_in_one_kernel(torch_grader, sub, monkeypatch):
    """What calibration measured as sending tests into the learner's process, now kept in the
    split: backward() through the learner's module, a learner's parameter changed by the test,
    the test's module put in train mode or given a hook by the learner's code (and the reverse),
    optimisers and generators keeping their state between calls, views, one object being one
    object, the test's own exceptions, dates, paths and meta tensors."""
    import autograder.grading.pipeline as grading

    spec = torch_grader.catalogue.spec(SLUG)
    assert torch_grader.mode_for(spec) == "split"
    extra = '''
import copy
import datetime
import pathlib
import torch
from torch import nn
torch.manual_seed(0)
lin = make_linear(3, 2)
assert type(lin).__name__ == "MyLinear" and isinstance(lin, nn.Module)
x = torch.randn(4, 3, requires_grad=True)
lin(x).sum().backward()
assert lin.weight.grad is not None and lin.bias.grad is not None, "backward() reached the learner's parameters"
assert torch.allclose(x.grad, lin.weight.detach().sum(0).expand(4, 3)), f"and the test's input: {x.grad}"
g, = torch.autograd.grad(lin(x).pow(2).sum(), x)
assert g.shape == x.shape, "torch.autograd.grad through the learner's code"
assert lin.weight is lin.weight, "a learner's parameter is one tensor in the test"
with torch.no_grad():
    lin.weight.zero_()
assert torch.equal(lin(torch.ones(1, 3)).detach(), lin.bias.detach()[None]), "zeroing it reached the learner"
twin = copy.deepcopy(lin)
assert twin is not lin and torch.equal(twin.bias.detach(), lin.bias.detach()), "copy.deepcopy of a learner's module"
pair = listify(lin)
assert pair[0] is lin and pair[1] is lin, "one learner object is one object in the test"
results, best = results_and_best()
assert best is results[1], "a dict returned twice in one value is one dict"
net = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.1))
net.eval()
set_train(net)
assert net.training and net[1].training, "train() in the learner's code reaches the test's module"
assert give_back(net) is net and give_back(net[0].weight) is net[0].weight, "the test's own objects come back as themselves"
calls = []
handle = net.register_forward_pre_hook(lambda m, i: calls.append(1))
run(net, torch.ones(2, 3))
assert calls == [1], f"a hook the test registered runs in the learner's call: {calls}"
handle.remove()
leave_hook(net)
assert len(net._forward_hooks) == 1, "a hook the learner's code left behind is seen by the test"
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
step(net, opt)
step(net, opt)
assert len(opt_state(opt)) == 2, "the optimiser's momentum lives on between calls"
gen = torch.Generator().manual_seed(0)
assert not torch.equal(draw_with(gen), draw_with(gen)), "a generator's state moves on between calls"
base = torch.arange(6.0)
view = first_half(base)
view[0] = 100.0
assert base[0] == 100.0, "a view of the test's tensor is a view in the test"
with torch.no_grad():
    assert not grad_on(), "torch.no_grad() in the test reaches the learner's code"
assert grad_on()


class Boom(Exception):
    pass


def explode():
    raise Boom("from the test")


try:
    call_it(explode)
except Boom:
    pass
else:
    raise AssertionError("the test's own exception comes back through the learner's code as itself")
assert today() == datetime.date(2026, 1, 2) and where() == pathlib.Path("/tmp/x"), "dates and paths by value"
assert meta_zeros().device.type == "meta" and meta_zeros().shape == (2, 5)
'''
    monkeypatch.setitem(spec.tests, "double_test", spec.tests["double_test"] + "\n" + extra)
    monkeypatch.setattr(grading, "build_spec", lambda *a: spec)
    r = grade(torch_grader, sub().solve(double='''
        import datetime
        import pathlib
        import torch
        from torch import nn

        class MyLinear(nn.Module):
            def __init__(self, i, o):
                super().__init__()
                self.weight = nn.Parameter(torch.randn(o, i))
                self.bias = nn.Parameter(torch.randn(o))

            def forward(self, x):
                return x @ self.weight.T + self.bias

        def make_linear(i, o):
            return MyLinear(i, o)
        def listify(m):
            return [m, m]
        def results_and_best():
            r = [{"a": 1}, {"a": 0}]
            return r, r[1]
        def set_train(m):
            m.train()
        def run(m, x):
            return m(x)
        def give_back(m):
            return m
        def leave_hook(m):
            m.register_forward_hook(lambda *a: None)
        def step(m, opt):
            opt.zero_grad()
            m(torch.ones(2, 3)).sum().backward()
            opt.step()
        def opt_state(opt):
            return [k for k, v in opt.state.items() if "momentum_buffer" in v]
        def draw_with(g):
            return torch.rand(3, generator=g)
        def first_half(x):
            return x[:3]
        def grad_on():
            return torch.is_grad_enabled()
        def call_it(f):
            return f()
        def today():
            return datetime.date(2026, 1, 2)
        def where():
            return pathlib.Path("/tmp/x")
        def meta_zeros():
            return torch.zeros(2, 5, device="meta")
        def double(x):
            return 2 * x
    '''))
    assert result(r, "double").points == 2, result(r, "double").message


def test_a_learners_hook_on_a_tests_module_sees_its_output_but_cannot_change_it(torch_grader, sub, monkeypatch):
    """Hostile: a learner's function leaves a forward hook on the test's reference module that
    returns a forged output and writes into the real one. In the split the hook still runs (a
    learner's capture works, the test can see it is left behind) but on copies, its return
    value dropped: the test's reference stays its own."""
    import autograder.grading.pipeline as grading

    spec = torch_grader.catalogue.spec(SLUG)
    extra = '''
import torch
from torch import nn
torch.manual_seed(0)
ref = nn.Linear(3, 2)
x = torch.ones(1, 3)
want = ref(x).detach().clone()
seen = plant(ref)
assert len(ref._forward_hooks) == 1, "the learner's hook is left on the test's module, and the test sees it"
assert torch.equal(ref(x).detach(), want), f"the hook changed the test's module output: {ref(x)} vs {want}"
assert captured() == 1, "the learner's hook ran (on a copy)"
'''
    monkeypatch.setitem(spec.tests, "double_test", spec.tests["double_test"] + "\n" + extra)
    monkeypatch.setattr(grading, "build_spec", lambda *a: spec)
    r = grade(torch_grader, sub().solve(double='''
        import torch
        calls = []
        def forge(module, inputs, output):
            calls.append(1)
            output.mul_(0)                  # in place, on what the test's module computed
            return torch.full_like(output, 7.0)   # and a forged replacement
        def plant(m):
            m.register_forward_hook(forge)
        def captured():
            return len(calls)
        def double(x):
            return 2 * x
    '''))
    assert result(r, "double").points == 2, result(r, "double").message
