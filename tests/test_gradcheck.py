"""course.checks.gradcheck: the messages are what a learner reads, so the tests read them."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from course.checks import CheckFailure, gradcheck


def message(fn, *args, **kwargs) -> str:
    with pytest.raises(CheckFailure) as info:
        fn(*args, **kwargs)
    return str(info.value)


RNG = np.random.default_rng(0)
A, B = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 4))
SQ_A, SQ_B = RNG.standard_normal((3, 3)), RNG.standard_normal((3, 3))


def good_matmul(g, a, b):
    return g @ b.T, a.T @ g


def good_add(g, a, b):
    def unbroadcast(grad, shape):
        grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
        return grad.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)
    return unbroadcast(g, a.shape), unbroadcast(g, b.shape)


# --------------------------------------------------------------------------- check_backward
def test_correct_backward_functions_pass():
    gradcheck.check_backward("matmul", good_matmul, torch.matmul, {"a": A, "b": B})
    gradcheck.check_backward("add", good_add, torch.add, {"a": A, "b": RNG.standard_normal(3)})
    gradcheck.check_backward("exp", lambda g, a, out: g * out, torch.exp, {"a": A}, args=(np.exp(A),))


def test_transposed_gradient_names_the_input_and_suggests_transpose():
    msg = message(gradcheck.check_backward, "matmul", lambda g, a, b: (g @ b.T, g.T @ a), torch.matmul,
                  {"a": SQ_A, "b": SQ_B})
    first = msg.splitlines()[0]
    assert first.startswith("[matmul] gradient of b (input 2) differs at")
    assert "first at index" in first and "expected" in first and "got" in first
    assert "expected values from torch.autograd" in msg
    assert "did you transpose" in msg


def test_transposed_shape_is_reported_as_a_transpose():
    msg = message(gradcheck.check_backward, "matmul", lambda g, a, b: (g @ b.T, g.T @ a), torch.matmul,
                  {"a": A, "b": B})
    assert "[matmul] gradient of b (input 2) has the wrong shape: expected (3, 4) (the shape of b), got (4, 3)" in msg
    assert "did you transpose?" in msg


def test_missing_unbroadcast_is_diagnosed():
    msg = message(gradcheck.check_backward, "add", lambda g, a, b: (g, g), torch.add,
                  {"a": A, "b": RNG.standard_normal(3)})
    assert "[add] gradient of b (input 2) has the wrong shape: expected (3,) (the shape of b), got (2, 3)" in msg
    assert "unbroadcast" in msg and "broadcast from (3,) to (2, 3)" in msg


def test_dropped_dimension_is_diagnosed():
    msg = message(gradcheck.check_backward, "add", lambda g, a, b: (g, g.sum(axis=1)), torch.add,
                  {"a": A, "b": RNG.standard_normal((2, 1))})
    assert "expected (2, 1)" in msg and "got (2,)" in msg and "keepdims" in msg


def test_wrong_values_give_index_both_values_and_hint():
    msg = message(gradcheck.check_backward, "mul", lambda g, a, b: (g * a, g * b), torch.mul,
                  {"a": A, "b": RNG.standard_normal((2, 3))}, hint="multiply by the other input")
    assert msg.startswith("[mul] gradient of a (input 1) differs at 6 of 6 positions; first at index (0, 0)")
    assert "max abs error" in msg
    assert msg.rstrip().endswith("hint: multiply by the other input")


def test_none_and_wrong_arity_are_reported():
    msg = message(gradcheck.check_backward, "add", lambda g, a, b: None, torch.add, {"a": A, "b": A})
    assert "add_backward" not in msg and "returned None: did you forget to `return`" in msg
    msg = message(gradcheck.check_backward, "add", lambda g, a, b: (g,), torch.add, {"a": A, "b": A})
    assert "returned 1 gradient(s) for 2 inputs" in msg and "(grad_a, grad_b)" in msg
    msg = message(gradcheck.check_backward, "add", lambda g, a, b: g, torch.add, {"a": A, "b": A})
    assert "expected a tuple of 2 gradients" in msg
    msg = message(gradcheck.check_backward, "exp", lambda g, a: (g, g), torch.exp, {"a": A})
    assert "returned a tuple of 2; expected one array" in msg
    msg = message(gradcheck.check_backward, "exp", lambda g, a: None, torch.exp, {"a": A})
    assert "returned None" in msg


def test_a_gradient_of_the_wrong_type_is_reported():
    msg = message(gradcheck.check_backward, "exp", lambda g, a: torch.as_tensor(g), torch.exp, {"a": A})
    assert "gradient of a (input 1) is a Tensor, not a numpy array" in msg


def test_in_place_modification_is_reported():
    def sloppy(g, a):
        g *= 2
        return g
    msg = message(gradcheck.check_backward, "double", sloppy, lambda t: 2 * t, {"a": A})
    assert "changed grad_out in place" in msg


def test_exception_in_learner_code_shows_shapes_and_keeps_the_cause():
    with pytest.raises(CheckFailure) as info:
        gradcheck.check_backward("matmul", lambda g, a, b: (b @ g, a.T @ g), torch.matmul, {"a": A, "b": B})
    msg = str(info.value)
    assert "raised ValueError" in msg
    assert "grad_out (2, 4), a (2, 3), b (3, 4)" in msg
    assert isinstance(info.value.__cause__, ValueError)


def test_not_implemented_passes_through():
    def stub(g, a, b):
        raise NotImplementedError
    with pytest.raises(NotImplementedError):
        gradcheck.check_backward("add", stub, torch.add, {"a": A, "b": A})


def test_zero_size_inputs_work():
    gradcheck.check_backward("matmul", good_matmul, torch.matmul,
                             {"a": np.zeros((0, 3)), "b": RNG.standard_normal((3, 2))})


# --------------------------------------------------------------------------- pieces
def test_vjp_and_numerical_gradients_agree_with_calculus():
    x = RNG.standard_normal((2, 3))
    out, grads, g = gradcheck.vjp(lambda t: t * t, {"x": x}, seed=1)
    np.testing.assert_allclose(out, x * x)
    np.testing.assert_allclose(grads["x"], 2 * x * g)
    numeric = gradcheck.numerical_gradients(lambda v: (v ** 3).sum(), {"x": x})
    np.testing.assert_allclose(numeric["x"], 3 * x ** 2, rtol=1e-6)


def test_vjp_gives_zeros_for_an_unused_input():
    _, grads, _ = gradcheck.vjp(lambda a, b: a * 2, {"a": A, "b": B})
    np.testing.assert_array_equal(grads["b"], np.zeros_like(B))


def test_compare_gradients_reports_the_first_wrong_input_in_order():
    expected = {"w": np.ones(2), "b": np.ones(2)}
    msg = message(gradcheck.compare_gradients, "ex", {"w": np.zeros(2), "b": np.zeros(2)}, expected)
    assert msg.startswith("[ex] gradient of w (input 1)")
    msg = message(gradcheck.compare_gradients, "ex", {"w": np.ones(2)}, expected, source="finite differences")
    assert msg.startswith("[ex] gradient of b (input 2) is None: no gradient reached it")
    msg = message(gradcheck.compare_gradients, "ex", {"w": np.ones(2), "b": np.zeros(2)}, expected,
                  source="finite differences", numbered=False)
    assert msg.startswith("[ex] gradient of b differs")
    assert "expected values from finite differences" in msg
    msg = message(gradcheck.compare_gradients, "ex", {}, {"x": 1.0}, numbered=False, if_none="did f return it?")
    assert msg.startswith("[ex] gradient of x is None: did f return it?")


# --------------------------------------------------------------------------- whole graphs
class Mini:
    """A three-op engine, enough to exercise check_graph."""

    def __init__(self, data, parents=(), backward_fn=None, op=""):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad, self.parents, self.backward_fn, self.op, self.name = None, tuple(parents), backward_fn, op, ""

    def __add__(self, other):
        return Mini(self.data + other.data, (self, other), lambda g: (g, g), "add")

    def __mul__(self, other):
        a, b = self.data, other.data
        return Mini(a * b, (self, other), lambda g: (g * b, g * a), "mul")

    def sum(self):
        a = self.data
        return Mini(a.sum(), (self,), lambda g: (np.broadcast_to(g, a.shape).copy(),), "sum")

    def backward(self):
        order, seen = [], set()

        def visit(n):
            if id(n) not in seen:
                seen.add(id(n))
                for p in n.parents:
                    visit(p)
                order.append(n)
        visit(self)
        self.grad = np.ones_like(self.data)
        for n in reversed(order):
            if n.backward_fn is not None:
                for p, g in zip(n.parents, n.backward_fn(n.grad)):
                    p.grad = g if p.grad is None else p.grad + g


class BrokenMul(Mini):
    def __mul__(self, other):
        a, b = self.data, other.data
        return BrokenMul(a * b, (self, other), lambda g: (g * a, g * b), "mul")

    def __add__(self, other):
        return BrokenMul(self.data + other.data, (self, other), lambda g: (g, g), "add")

    def sum(self):
        a = self.data
        return BrokenMul(a.sum(), (self,), lambda g: (np.broadcast_to(g, a.shape).copy(),), "sum")


def test_check_graph_passes_and_returns_the_errors():
    x, w = RNG.standard_normal(3), RNG.standard_normal(3)
    errors = gradcheck.check_graph("g", lambda x, w: (x * w + x * x).sum(), {"x": x, "w": w}, Mini)
    assert set(errors) == {"x", "w"} and errors["x"]["torch"] < 1e-12 and errors["w"]["numeric"] < 1e-7
    table = gradcheck.gradient_table(errors)
    assert table.splitlines()[0].split()[0] == "input" and len(table.splitlines()) == 3


def test_check_graph_weights_a_non_scalar_output():
    gradcheck.check_graph("g", lambda x, w: x * w + x, {"x": RNG.standard_normal(3), "w": RNG.standard_normal(3)}, Mini)


def test_check_graph_names_the_wrong_input():
    x, w = RNG.standard_normal(3), RNG.standard_normal(3)
    msg = message(gradcheck.check_graph, "g", lambda x, w: (x * w).sum(), {"x": x, "w": w}, BrokenMul, hint="graph 0")
    assert msg.startswith("[g] gradient of x (input 1) differs")
    assert "torch.autograd" in msg and "hint: graph 0" in msg


def test_check_graph_checks_the_forward_value_first():
    x = RNG.standard_normal(3)
    msg = message(gradcheck.check_graph, "g", lambda x: (x * x).sum(), {"x": x}, Mini, torch_fn=lambda t: t.sum())
    assert "the output (forward pass) differs" in msg


def test_check_graph_reports_none_other_types_and_unreached_leaves():
    x = RNG.standard_normal(3)
    assert "returned None" in message(gradcheck.check_graph, "g", lambda x: None, {"x": x}, Mini,
                                      torch_fn=lambda t: t.sum())
    assert "returned a float, not a Mini" in message(gradcheck.check_graph, "g", lambda x: 1.0, {"x": x}, Mini,
                                                      torch_fn=lambda t: t.sum())
    msg = message(gradcheck.check_graph, "g", lambda x: Mini(x.data.sum()), {"x": x}, Mini, torch_fn=lambda t: t.sum())
    assert "gradient of x (input 1) is None: no gradient reached it" in msg


class HalfMul(Mini):
    """A mul whose backward forgets the second factor's gradient."""

    def __mul__(self, other):
        a, b = self.data, other.data
        return HalfMul(a * b, (self, other), lambda g: (g * b, np.zeros_like(b)), "mul")

    def sum(self):
        a = self.data
        return HalfMul(a.sum(), (self,), lambda g: (np.broadcast_to(g, a.shape).copy(),), "sum")


def test_check_graph_finite_differences_catch_what_the_reference_misses():
    # the torch reference detaches w, so it agrees with the broken engine; the finite
    # differences of the engine's own forward pass do not
    x, w = RNG.standard_normal(3), RNG.standard_normal(3)
    msg = message(gradcheck.check_graph, "g", lambda x, w: (x * w).sum(), {"x": x, "w": w}, HalfMul,
                  torch_fn=lambda x, w: (x * w.detach()).sum())
    assert msg.startswith("[g] gradient of w (input 2) differs")
    assert "central finite differences (eps=1e-06)" in msg


class CountingSums(Mini):
    sums = 0

    def __add__(self, other):
        return CountingSums(self.data + other.data, (self, other), lambda g: (g, g), "add")

    def __mul__(self, other):
        a, b = self.data, other.data
        return CountingSums(a * b, (self, other), lambda g: (g * b, g * a), "mul")

    def sum(self):
        CountingSums.sums += 1
        a = self.data
        return CountingSums(a.sum(), (self,), lambda g: (np.broadcast_to(g, a.shape).copy(),), "sum")


def test_finite_differences_run_only_the_functions_forward_pass():
    """A non-scalar output is reduced to (out * W).sum() with the engine's ops once, for backward; the
    finite differences need only the forward value, reduced in numpy (each engine op is a call into
    the learner's process when graded: 1.1 made hundreds of them for nothing)."""
    CountingSums.sums = 0
    errors = gradcheck.check_graph("g", lambda x: x * x + x, {"x": RNG.standard_normal(4)}, CountingSums)
    assert CountingSums.sums == 1 and errors["x"]["numeric"] < 1e-7, (CountingSums.sums, errors)


# --------------------------------------------------------------------------- topological order
def test_topological_order_messages():
    a, b = Mini(1.0), Mini(2.0)
    a.name, b.name = "a", "b"
    d = a * b
    root = d + a
    gradcheck.check_topological_order("topo", [a, b, d, root], root)
    gradcheck.check_topological_order("topo", [b, a, d, root], root)
    assert "is None" in message(gradcheck.check_topological_order, "topo", None, root)
    assert "is a tuple" in message(gradcheck.check_topological_order, "topo", (a, b, d, root), root)
    msg = message(gradcheck.check_topological_order, "topo", [a, b, a, d, root], root)
    assert "node 'a' () appears 2 times" in msg and "visited" in msg
    msg = message(gradcheck.check_topological_order, "topo", [a, d, root], root)
    assert "node 'b' () is missing: 3 nodes in the order, 4 reachable" in msg
    msg = message(gradcheck.check_topological_order, "topo", [a, d, b, root], root)
    assert "node 'mul' () at position 1 comes before its parent 'b' () at position 2" in msg
    msg = message(gradcheck.check_topological_order, "topo", [a, b, d, Mini(0.0), root], root)
    assert "not reachable from the root" in msg


def test_reachable_nodes_handles_deep_graphs():
    node = Mini(0.0)
    for _ in range(5000):
        node = Mini(node.data, (node,), lambda g: (g,), "step")
    assert len(gradcheck.reachable_nodes(node)) == 5001


def test_importing_gradcheck_does_not_import_torch():
    code = "import sys, course.checks.gradcheck; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
