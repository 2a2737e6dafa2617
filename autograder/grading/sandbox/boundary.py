"""What may cross from the learner's process (L) into a verdict, and how.

The rule (issue 16, class 1). A learner's result reaches the test process (T) **by value**,
before any check touches it: as a plain, base-class numpy array or scalar, torch tensor,
``int``/``float``/``complex``/``str``/``bytes``, or a ``list``/``tuple``/``dict``/``set`` of
these (an exact ``collections.OrderedDict``, a ``state_dict()``, arrives as an OrderedDict T builds). T builds each of them itself from bytes (``proxies._Decoder``); nothing of the learner's
class survives the crossing, so none of its methods (``__eq__``, ``__array_ufunc__``,
``__torch_function__``, ``astype``, ``__float__``, ...) runs when a check compares it.

What is not a value (a learner's function, class, module or other object) crosses as a proxy
(``proxies.Remote``) whose calls run in L. The proxy

* never passes for a value: its ``__class__`` is never an array, tensor, number or string
  class (:func:`honest_class`), and numpy refuses to make an array of it (``__array__``
  raises), so ``np.testing.assert_allclose(proxy, expected)`` fails instead of asking L to
  compare its elements with the expected ones;
* is refused by every ``course.checks`` helper (they look at ``type(x)``, which a proxy cannot
  fake), with a message that says what to return instead.

What goes the other way. T sends into L only what a test hands to the learner's code: the
arguments of a call (the test's inputs, its own modules and tensors), a value a test assigns
to a learner's attribute, the other operand of an operator the test applies to a learner's
object, the body of a class a test derives from a learner's class (its functions stay in T as
callbacks: proxies._LearnerSubclassMaker). A check never does any of these with an expected value, because a check never holds a
proxy. Known limit: a gradient that a test's ``backward()`` sends back through a learner's
result (autograd kept in step) is computed from whatever loss the test built.

Everything here imports only the standard library at module level (the zygote starts clean);
numpy and torch are looked up in ``sys.modules``.
"""

from __future__ import annotations

import sys

NOT_A_VALUE = object()

# Built-in value types whose subclasses cross as the base value. A subclass of ``tuple`` (a
# namedtuple) or ``dict`` (a model's output, ``out.logits``) is not in the list: it stays a
# proxy so that its attributes still work; its items cross by value when a test reads them, and
# no check accepts the proxy as a value.
_BUILTIN_COPIES = (
    (bool, None),  # cannot be subclassed
    (int, int.__index__),
    (float, float.__float__),
    (complex, complex.__complex__),
    (str, str.__str__),
    (bytes, bytes.__bytes__),
    (list, list.copy),
    (set, set.copy),
    (frozenset, frozenset().union),
)


def plain_copy(v):
    """In L: the plain value of an instance of a *subclass* of a value type, read with the base
    class's own methods; ``NOT_A_VALUE`` for anything else. (Exact value types never get here:
    the encoder sends them as they are.) What L's code does to this function does not matter for
    T: T rebuilds every value from bytes; this only spares a learner's correct answer in a
    subclass (``np.matrix``, an ``IntEnum``, a tensor subclass) from being refused."""
    t = type(v)
    for base, copy in _BUILTIN_COPIES:
        if copy is not None and issubclass(t, base) and t is not base:
            out = copy(v)
            return out if type(out) is base else NOT_A_VALUE
    np = sys.modules.get("numpy")
    if np is not None:
        if issubclass(t, np.ndarray) and t is not np.ndarray:
            out = np.array(np.ndarray.view(v, np.ndarray), copy=True, subok=False)
            return out if type(out) is np.ndarray else NOT_A_VALUE
    torch = sys.modules.get("torch")
    if torch is not None and issubclass(t, torch.Tensor) and t not in (torch.Tensor, torch.nn.Parameter):
        if issubclass(t, torch.nn.Parameter):
            return NOT_A_VALUE  # a parameter type of a library (kept in step by identity)
        with torch._C.DisableTorchFunctionSubclass():
            out = torch.Tensor.as_subclass(v, torch.Tensor).detach().clone()
        return out if type(out) is torch.Tensor else NOT_A_VALUE
    return NOT_A_VALUE


def value_classes() -> tuple[type, ...]:
    """The classes a proxy of a learner's object may never claim as its ``__class__``."""
    out: list[type] = [int, float, complex, str, bytes, list, dict, set, frozenset]
    np = sys.modules.get("numpy")
    if np is not None:
        out += [np.ndarray, np.generic]
    torch = sys.modules.get("torch")
    if torch is not None:
        out.append(torch.Tensor)
    return tuple(out)


def honest_class(cls, fallback: type) -> type:
    """In T: the class a proxy reports (``isinstance(model, nn.Module)`` must still work), unless
    it would make a learner's object pass for a value: then the proxy's own type."""
    if not isinstance(cls, type):
        return fallback
    try:
        if issubclass(cls, value_classes()):
            return fallback
    except TypeError:
        return fallback
    return cls


def not_an_array(tname: str) -> TypeError:
    return TypeError(f"a learner's {tname} is not an array: return a numpy array, a torch tensor or a number "
                     "(its own methods are not used to compare it)")
