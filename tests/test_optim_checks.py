"""course.checks.optim: the messages are the product, so these tests make deliberate
mistakes in hand-written optimisers and read what the comparison says about them."""

import pytest
import torch
from torch import nn

from course.checks import CheckFailure
from course.checks import optim as optim_checks


def message(*args, **kwargs) -> str:
    with pytest.raises(CheckFailure) as info:
        optim_checks.compare_with_torch(*args, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------- optimisers
class Base:
    """Right unless a flag says otherwise; each flag is one mistake a learner makes."""

    def __init__(self, params, **hyper):
        self.params = list(params)
        self.hyper = hyper
        self.state = [{} for _ in self.params]
        self.t = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None


class SGD(Base):
    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, bug=None):
        super().__init__(params)
        self.lr, self.mu, self.damp, self.wd, self.nesterov, self.bug = lr, momentum, dampening, weight_decay, nesterov, bug

    @torch.no_grad()
    def step(self):
        for p, st in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = p.grad
            if self.wd and self.bug != "no_wd" and self.bug != "wd_after":
                g = g + self.wd * p
            if self.mu:
                buf = st.get("buf") if self.bug != "buffer_not_kept" else None
                if buf is None:
                    buf = (1 - self.damp) * g.clone() if self.bug == "damp_first" else g.clone()
                else:
                    buf = self.mu * buf + (1 - self.damp) * g
                st["buf"] = buf
                g = g + self.mu * buf if self.nesterov and self.bug != "no_nesterov" else buf
            if self.bug == "no_lr":
                p -= g
            elif self.bug == "sign":
                p += self.lr * g
            else:
                p -= self.lr * g
            if self.bug == "wd_after":
                p -= self.lr * self.wd * p


class Adam(Base):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False, bug=None):
        super().__init__(params)
        self.lr, self.betas, self.eps, self.wd, self.decoupled, self.bug = lr, betas, eps, weight_decay, decoupled, bug

    @torch.no_grad()
    def step(self):
        b1, b2 = self.betas
        self.t = 1 if self.bug == "nothing_kept" else self.t + 1
        t = self.t - 1 if self.bug == "t_from_zero" else self.t
        for p, st in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = p.grad
            if self.wd and self.decoupled and self.bug == "l2":
                g = g + self.wd * p
            elif self.wd and self.decoupled and self.bug == "wd_no_lr":
                p.mul_(1 - self.wd)
            elif self.wd and self.decoupled and self.bug != "wd_after":
                p.mul_(1 - self.lr * self.wd)
            elif self.wd and not self.decoupled:
                g = g + self.wd * p
            if self.bug in ("state_not_kept", "nothing_kept") or "m" not in st:
                st["m"] = torch.zeros_like(p, dtype=torch.float32 if self.bug == "float32_state" else p.dtype)
                st["v"] = torch.zeros_like(st["m"])
            if self.bug == "float32_state":  # in place, so the float32 buffers stay float32
                st["m"].mul_(b1).add_((1 - b1) * g)
                st["v"].mul_(b2).add_((1 - b2) * g * g)
            else:
                st["m"] = b1 * st["m"] + (1 - b1) * g
                st["v"] = b2 * st["v"] + (1 - b2) * g * g
            if self.bug == "no_bias_correction":
                m_hat, v_hat = st["m"], st["v"]
            else:
                m_hat, v_hat = st["m"] / (1 - b1**t), st["v"] / (1 - b2**t)
            if self.bug == "eps_inside":
                p -= self.lr * m_hat / torch.sqrt(v_hat + self.eps)
            else:
                p -= self.lr * m_hat / (v_hat.sqrt() + self.eps)
            if self.wd and self.decoupled and self.bug == "wd_after":
                p.mul_(1 - self.lr * self.wd)


class RMSprop(Base):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, bug=None):
        super().__init__(params)
        self.lr, self.alpha, self.eps, self.wd, self.bug = lr, alpha, eps, weight_decay, bug

    @torch.no_grad()
    def step(self):
        self.t += 1
        for p, st in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = p.grad + self.wd * p if self.wd else p.grad
            v = torch.zeros_like(p) if self.bug == "v_not_kept" else st.get("v", torch.zeros_like(p))
            if self.bug == "alpha_swapped":
                v = (1 - self.alpha) * v + self.alpha * g * g
            else:
                v = self.alpha * v + (1 - self.alpha) * g * g
            st["v"] = v
            if self.bug == "bias_correction":
                v = v / (1 - self.alpha**self.t)
            if self.bug == "eps_inside":
                p -= self.lr * g / (v + self.eps).sqrt()
            else:
                p -= self.lr * g / (v.sqrt() + self.eps)


def adamw(params, bug=None, **hyper):
    return Adam(params, decoupled=True, bug=bug, **hyper)


def with_bug(cls, bug):
    return lambda params, **hyper: cls(params, bug=bug, **hyper)


SGD_FULL = dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.05, nesterov=True)


# --------------------------------------------------------------------------- right answers pass
@pytest.mark.parametrize("mine, reference, hyper", [
    (SGD, torch.optim.SGD, dict(lr=0.1)),
    (SGD, torch.optim.SGD, SGD_FULL),
    (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    (Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    (adamw, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.2)),
    (RMSprop, torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, weight_decay=0.1)),
])
def test_a_correct_optimiser_passes_and_reports_how_close_it_was(mine, reference, hyper):
    result = optim_checks.compare_with_torch("ex", mine, reference, hyper)
    assert result.steps == 20 and len(result.max_abs_error) == 20 and len(result.losses) == 20
    assert max(result.max_abs_error) < 1e-12
    assert result.losses[-1] < result.losses[0]
    assert "20 steps" in str(result) and "torch.optim." in str(result)


def test_float32_parameters_use_looser_tolerances():
    optim_checks.compare_with_torch("ex", Adam, torch.optim.Adam, dict(lr=0.01), dtype=torch.float32)


# --------------------------------------------------------------------------- the message format
def test_first_line_names_exercise_step_parameter_and_both_values():
    msg = message("sgd", with_bug(SGD, "sign"), torch.optim.SGD, dict(lr=0.1))
    first = msg.splitlines()[0]
    assert first.startswith("[sgd] parameters differ from torch.optim.SGD(lr=0.1) at step 1 of 20, "
                            "first in '0.weight' (shape (16, 6)) at index (0, 0): expected ")
    assert "6 of 6 parameters differ; max abs error" in msg
    assert "the sign is flipped" in msg


def test_a_hint_is_appended():
    msg = message("sgd", with_bug(SGD, "sign"), torch.optim.SGD, dict(lr=0.1), hint="read the equation again")
    assert msg.splitlines()[-1].strip() == "hint: read the equation again"


def test_not_implemented_passes_through():
    class Stub(Base):
        def step(self):
            raise NotImplementedError("replace this line with your code")

    with pytest.raises(NotImplementedError):
        optim_checks.compare_with_torch("ex", Stub, torch.optim.SGD, dict(lr=0.1))


def test_the_global_random_state_is_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    optim_checks.compare_with_torch("ex", SGD, torch.optim.SGD, dict(lr=0.1), steps=2)
    assert torch.equal(torch.rand(3), expected)


# --------------------------------------------------------------------------- generic mistakes
def test_a_step_that_changes_nothing():
    class Rebinds(Base):
        @torch.no_grad()
        def step(self):
            for p in self.params:
                p = p - 0.1 * p.grad  # noqa: PLW2901 (the mistake under test)

    msg = message("plain_sgd", Rebinds, torch.optim.SGD, dict(lr=0.1))
    assert "at step 1 of 20" in msg
    assert "step() did not change any parameter" in msg and "only gives a local name" in msg


def test_keeping_the_generator_breaks_at_step_two():
    class KeepsGenerator:
        def __init__(self, params, lr):
            self.params, self.lr = params, lr  # a generator: empty the second time

        def zero_grad(self):
            pass

        @torch.no_grad()
        def step(self):
            for p in self.params:
                p -= self.lr * p.grad
                p.grad = None

    msg = message("plain_sgd", KeepsGenerator, torch.optim.SGD, dict(lr=0.1))
    assert "at step 2 of 20" in msg and "steps 1 to 1 matched" in msg
    assert "model.parameters() is a generator" in msg


def test_a_loop_that_skips_a_parameter():
    class SkipsLast(SGD):
        @torch.no_grad()
        def step(self):
            for p in self.params[:-1]:
                p -= self.lr * p.grad

    msg = message("plain_sgd", SkipsLast, torch.optim.SGD, dict(lr=0.1))
    assert "first in '4.bias'" in msg and "left '4.bias' unchanged" in msg


def test_zero_grad_that_does_nothing():
    class NoZero(SGD):
        def zero_grad(self):
            pass

    msg = message("plain_sgd", NoZero, torch.optim.SGD, dict(lr=0.1))
    assert "after zero_grad() at step 2, parameter '0.weight' still has a non-zero .grad" in msg


def test_missing_learning_rate_and_doubled_learning_rate():
    msg = message("sgd", with_bug(SGD, "no_lr"), torch.optim.SGD, dict(lr=0.1))
    assert "the learning rate is not applied" in msg

    class Twice(SGD):
        @torch.no_grad()
        def step(self):
            for p in self.params:
                p -= self.lr * self.lr * p.grad

    assert "applied twice" in message("sgd", Twice, torch.optim.SGD, dict(lr=0.1))


def test_update_outside_no_grad_is_explained():
    class NoNoGrad(Base):
        def step(self):
            for p in self.params:
                p -= 0.1 * p.grad

    msg = message("plain_sgd", NoNoGrad, torch.optim.SGD, dict(lr=0.1))
    assert "step() raised RuntimeError at step 1" in msg and "torch.no_grad()" in msg


def test_a_frozen_parameter_must_be_skipped():
    class NoSkip(Base):
        @torch.no_grad()
        def step(self):
            for p in self.params:
                p -= 0.1 * p.grad

    def problem():
        mlp, loss_fn = optim_checks.default_problem()
        model = nn.ModuleDict({"mlp": mlp, "unused": nn.Linear(2, 2).double()})  # "unused" never gets a .grad
        return model, lambda m: loss_fn(m["mlp"])

    msg = message("plain_sgd", NoSkip, torch.optim.SGD, dict(lr=0.1), problem=problem)
    assert "step() raised TypeError at step 1" in msg and "if p.grad is None: continue" in msg
    optim_checks.compare_with_torch("plain_sgd", SGD, torch.optim.SGD, dict(lr=0.1), problem=problem)


# --------------------------------------------------------------------------- SGD
@pytest.mark.parametrize("bug, hyper, step, cause", [
    ("no_nesterov", SGD_FULL, 1, "Nesterov look-ahead missing?"),
    ("buffer_not_kept", dict(lr=0.1, momentum=0.9), 2, "momentum has no effect"),
    ("damp_first", dict(lr=0.1, momentum=0.9, dampening=0.5), 1, "dampening applied at the first step?"),
    ("no_wd", SGD_FULL, 1, "weight decay missing?"),
    ("wd_after", dict(lr=0.1, weight_decay=0.05), 1, "weight decay applied after the update?"),
])
def test_sgd_mistakes_are_named(bug, hyper, step, cause):
    msg = message("sgd", with_bug(SGD, bug), torch.optim.SGD, hyper)
    assert f"at step {step} of 20" in msg
    assert f"likely cause: {cause}" in msg


def test_dampening_ignored():
    class NoDampening(SGD):
        def __init__(self, params, **hyper):
            super().__init__(params, **{**hyper, "dampening": 0.0})

    msg = message("sgd", NoDampening, torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.5))
    assert "at step 2 of 20" in msg and "dampening ignored?" in msg


def test_an_unknown_mistake_after_step_one_points_at_the_state():
    class DecayOutsideBuffer(SGD):
        """weight decay added after the momentum buffer: right at step 1, wrong from step 2."""

        @torch.no_grad()
        def step(self):
            for p, st in zip(self.params, self.state):
                buf = st.get("buf")
                st["buf"] = p.grad.clone() if buf is None else self.mu * buf + p.grad
                p -= self.lr * (st["buf"] + self.wd * p)

    msg = message("sgd", DecayOutsideBuffer, torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.05))
    assert "at step 2 of 20" in msg
    assert "step 1 was right, so the update rule is right for a fresh state" in msg


# --------------------------------------------------------------------------- Adam and AdamW
@pytest.mark.parametrize("bug, step, cause", [
    ("no_bias_correction", 1, "bias correction missing?"),
    ("state_not_kept", 2, "m and v are not kept between steps (they restart from zero)?"),
    ("nothing_kept", 2, "m, v and the step count t are not kept between steps"),
])
def test_adam_mistakes_are_named(bug, step, cause):
    msg = message("adam", with_bug(Adam, bug), torch.optim.Adam, dict(lr=0.01))
    assert f"at step {step} of 20" in msg and f"likely cause: {cause}" in msg


def test_adam_swapped_betas_and_partial_bias_correction():
    class Swapped(Adam):
        def __init__(self, params, lr, betas):
            super().__init__(params, lr=lr, betas=betas[::-1])

    assert "beta1 and beta2 swapped?" in message("adam", Swapped, torch.optim.Adam, dict(lr=0.01, betas=(0.9, 0.999)))

    class OnlyM(Adam):
        @torch.no_grad()
        def step(self):
            for p, st in zip(self.params, self.state):
                st["m"] = 0.1 * p.grad
                st["v"] = 0.001 * p.grad**2
                p -= self.lr * (st["m"] / 0.1) / (st["v"].sqrt() + self.eps)

    assert "v is not bias-corrected?" in message("adam", OnlyM, torch.optim.Adam, dict(lr=0.01))


def test_adam_counting_steps_from_zero_gives_a_nan_message():
    msg = message("adam", with_bug(Adam, "t_from_zero"), torch.optim.Adam, dict(lr=0.01))
    assert "at step 1 of 20" in msg and "NaN or inf" in msg and "t counted from 1" in msg


def test_adam_with_decoupled_decay_is_told_it_is_adamw():
    msg = message("adam", adamw, torch.optim.Adam, dict(lr=0.01, weight_decay=0.1))
    assert "that is AdamW" in msg


@pytest.mark.parametrize("mine, reference, hyper", [
    (with_bug(Adam, "eps_inside"), torch.optim.Adam, dict(lr=0.01, weight_decay=0.1)),
    (lambda params, **h: adamw(params, bug="eps_inside", **h), torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
    (with_bug(RMSprop, "eps_inside"), torch.optim.RMSprop, dict(lr=0.01, alpha=0.9)),
])
def test_eps_inside_the_square_root(mine, reference, hyper):
    msg = message("ex", mine, reference, hyper)
    assert "at step 1 of 20" in msg and "likely cause: eps inside the square root?" in msg


def test_small_differences_are_called_small():
    msg = message("adam", with_bug(Adam, "float32_state"), torch.optim.Adam, dict(lr=0.01))
    assert "your update is close to torch's" in msg and "torch.zeros_like(p)" in msg


@pytest.mark.parametrize("bug, cause", [
    ("wd_after", "weight decay applied after the update?"),
    ("l2", "weight decay added to the gradient (that is Adam's L2 penalty)?"),
    ("wd_no_lr", "weight decay not scaled by the learning rate?"),
    ("no_bias_correction", "bias correction missing?"),
])
def test_adamw_mistakes_are_named(bug, cause):
    msg = message("adamw", lambda params, **h: adamw(params, bug=bug, **h), torch.optim.AdamW,
                  dict(lr=0.01, weight_decay=0.1))
    assert "at step 1 of 20" in msg and f"likely cause: {cause}" in msg


# --------------------------------------------------------------------------- RMSprop
@pytest.mark.parametrize("bug, step, cause", [
    ("alpha_swapped", 1, "alpha used the wrong way round?"),
    ("v_not_kept", 2, "the running average v is not kept between steps"),
    ("bias_correction", 1, "torch's RMSprop has none"),
])
def test_rmsprop_mistakes_are_named(bug, step, cause):
    msg = message("rmsprop", with_bug(RMSprop, bug), torch.optim.RMSprop, dict(lr=0.01, alpha=0.9))
    assert f"at step {step} of 20" in msg and cause in msg
