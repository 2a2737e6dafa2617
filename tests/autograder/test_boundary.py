"""Class 1 of issue 16: a learner's result crosses into the test process by value.

Every case here is a wrong answer dressed up so that a check comparing it with the expected
value would be fooled if the check ever called into the learner's object (a subclass's
``__array_ufunc__``, ``__eq__``, ``astype``, ``__torch_function__``, a float subclass's
``__sub__``, an object's ``__array__``). Each must score zero, and no expected value may ever
reach the learner's code (a spy records every argument its methods receive)."""

from __future__ import annotations

from .conftest import SLUG, outputs_text, result


def grade(grader, sub):
    return grader.grade_bytes(SLUG, sub.bytes())


MIRROR = '''
import numpy as np
SEEN = []

def _spy(args):
    for a in args:
        if isinstance(a, np.ndarray) and not isinstance(a, Mirror):
            SEEN.append(np.asarray(a).tolist())
        elif isinstance(a, (int, float)) and not isinstance(a, Mirror):
            SEEN.append(a)

class Mirror(np.ndarray):
    """Answers every comparison with the other side's own values."""
    def __array_ufunc__(self, ufunc, method, *inputs, **kw):
        _spy(inputs)
        kw.pop("out", None)
        other = next((np.asarray(x) for x in inputs if not isinstance(x, Mirror)), None)
        args = [other if isinstance(x, Mirror) and other is not None else
                (x.view(np.ndarray) if isinstance(x, Mirror) else x) for x in inputs]
        return getattr(ufunc, method)(*args, **kw)
    def __array_function__(self, func, types, args, kwargs):
        _spy(args)
        other = next((np.asarray(x) for x in args if isinstance(x, np.ndarray) and not isinstance(x, Mirror)), None)
        args = [other if isinstance(x, Mirror) and other is not None else x for x in args]
        return func(*args, **kwargs)
    def __eq__(self, other):
        _spy([other])
        return np.ones(np.shape(other), bool)
    def astype(self, *a, **k):
        _spy(a)
        return self
    def __array__(self, *a, **k):
        return np.asarray(SEEN[-1]) if SEEN else self.view(np.ndarray)

class Liar(float):
    def __eq__(self, o):
        _spy([o])
        return True
    __ne__ = lambda self, o: False
    def __sub__(self, o):
        _spy([o])
        return 0.0
    __rsub__ = __sub__
    __abs__ = lambda self: 0.0
    def __float__(self):
        return SEEN[-1] if SEEN and isinstance(SEEN[-1], float) else 5.0
    def __array__(self, *a, **k):
        return np.asarray(float(self))

def double(x):
    return np.zeros(np.shape(x), dtype=np.asarray(x).dtype).view(Mirror)

def norm(x):
    return Liar(-1.0)
'''


def test_a_wrong_answer_in_a_subclass_that_mirrors_the_expected_value_scores_zero(grader, sub):
    r = grade(grader, sub().solve(double=MIRROR, norm="pass").after("norm_test", 'print("SEEN", SEEN)'))
    assert r.score == 0, [(x.exercise, x.status, x.message) for x in r.results]
    assert result(r, "double").status == "fail" and result(r, "norm").status == "fail"
    seen = outputs_text(r).split("SEEN", 1)[-1]
    # what reached the learner's code: nothing but the test's inputs ([0, 1, 2], [-3, 7], ...)
    for expected in ("[0, 2, 4]", "[-6, 14]", "5.0", "2.0"):
        assert expected not in seen, f"the expected value {expected} was sent into the learner's process: {seen}"


def test_an_object_that_claims_to_be_an_array_is_not_one(grader, sub):
    r = grade(grader, sub().solve(double='''
        import numpy as np
        class Claim:
            """Not an array: says it is one, and agrees with whatever it is compared with."""
            shape = (3,)
            dtype = np.dtype("int64")
            def __array__(self, *a, **k):
                return np.array([0, 2, 4])
            def __eq__(self, o):
                return True
            def __sub__(self, o):
                return 0 * o
            __rsub__ = __sub__
            def astype(self, *a, **k):
                return self
        def double(x):
            return Claim()
    '''))
    d = result(r, "double")
    assert d.status == "fail" and d.points == 0, d.message
    assert "not an array" in d.message or "Claim" in d.message, d.message


def test_subclasses_of_a_number_string_or_list_cross_as_the_plain_value(grader, sub):
    # a correct answer in a subclass is still correct: it is read by value, its methods unused
    r = grade(grader, sub().solve(double='''
        import numpy as np
        class Mine(np.ndarray):
            pass
        class Num(float):
            pass
        def double(x):
            return (2 * np.asarray(x)).view(Mine)
        def norm(x):
            return Num(np.sqrt((x ** 2).sum()))
    '''))
    assert r.score == 5, [(x.exercise, x.message) for x in r.results]


def test_a_tensor_subclass_has_no_say_in_the_verdict(torch_grader, sub, monkeypatch):
    import autograder.grading.pipeline as grading

    spec = torch_grader.catalogue.spec(SLUG)
    tensor_test = ("import torch\n"
                   "checks.assert_close('double', double(torch.arange(3.0)), torch.tensor([0.0, 2.0, 4.0]))\n"
                   "torch.testing.assert_close(double(torch.ones(2)), torch.tensor([2.0, 2.0]))\n")
    monkeypatch.setitem(spec.tests, "double_test", tensor_test)
    monkeypatch.setattr(grading, "build_spec", lambda *a: spec)
    r = grade(torch_grader, sub().solve(double='''
        import torch
        class Echo(torch.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                plain = [a for a in args if type(a) is torch.Tensor]
                if plain and func.__name__ in ("sub", "__sub__", "eq", "__eq__", "isclose", "allclose", "abs", "to",
                                                 "type_as", "expand_as", "view_as", "reshape_as"):
                    return torch.zeros_like(plain[0]) if "sub" in func.__name__ else plain[0]
                with torch._C.DisableTorchFunctionSubclass():
                    return func(*args, **kwargs)
        def double(x):
            return torch.zeros_like(x).as_subclass(Echo)
    '''))
    d = result(r, "double")
    assert d.status == "fail" and d.points == 0, d.message
    r = grade(torch_grader, sub().solve(double='''
        import torch
        class Fine(torch.Tensor):
            pass
        def double(x):
            return (2 * x).as_subclass(Fine)
    '''))
    assert result(r, "double").points == 2, result(r, "double").message


def test_the_checks_judge_by_type_not_by_what_an_object_says_it_is():
    """course.checks, in one process: an object's own __class__, __bool__ or __array__ decides nothing."""
    import numpy as np
    import pytest

    from course import checks

    class Claims:
        __class__ = np.ndarray  # isinstance(x, np.ndarray) is True; type(x) is not
        shape, dtype = (3,), np.dtype("int64")

        def __array__(self, *a, **k):
            return np.array([0, 2, 4])

        def __bool__(self):
            return True

    x = Claims()
    assert isinstance(x, np.ndarray)
    with pytest.raises(checks.CheckFailure, match="not an array"):
        checks.assert_close("double", x, np.array([0, 2, 4]))
    with pytest.raises(checks.CheckFailure, match="not True or False"):
        checks.assert_true("double", x, "should be true")
    checks.assert_true("double", np.bool_(True), "a numpy bool is fine")
    checks.assert_close("double", np.array([0, 2, 4]).view(np.matrix), np.array([[0, 2, 4]]))
