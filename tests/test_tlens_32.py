"""course.models.tlens.attn_only_bridge: the induction model of lesson 3.2 inside a TransformerBridge."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformer_lens")

from course.models import attn_only as ao  # noqa: E402
from course.models import registry, tlens  # noqa: E402


@pytest.fixture(scope="module")
def shipped():
    model = registry.load("induction-2l")
    return model, tlens.attn_only_bridge(model)


@pytest.fixture(scope="module")
def tokens():
    return ao.repeated_tokens(4, 32, generator=torch.Generator().manual_seed(0))


def test_bridge_logits_equal_the_course_model(shipped, tokens):
    model, bridge = shipped
    with torch.no_grad():
        ours, (theirs, cache) = model.run_with_patterns(tokens), bridge.run_with_cache(tokens)
    logits, patterns = ours
    assert theirs.shape == logits.shape == (4, 65, 64)
    assert torch.allclose(theirs, logits, atol=1e-4), f"max |diff| {(theirs - logits).abs().max():.2e}"
    for layer in range(2):
        assert torch.allclose(cache[f"blocks.{layer}.attn.hook_pattern"], patterns[layer], atol=1e-5)
    assert cache["blocks.0.attn.hook_z"].shape == (4, 65, 4, 16)


def test_bridge_weights_are_the_models(shipped):
    model, bridge = shipped
    for name in ("W_Q", "W_K", "W_V", "W_O"):
        ours = torch.stack([getattr(block, name) for block in model.blocks])
        assert torch.equal(getattr(bridge, name).detach(), ours.detach()), name
    assert torch.equal(bridge.W_E.detach(), model.W_E.detach())
    assert torch.equal(bridge.W_pos.detach(), model.W_pos.detach())
    assert torch.equal(bridge.W_U.detach(), model.W_U.detach())
    assert bridge.cfg.attn_only and bridge.cfg.normalization_type is None


def test_zeroing_hook_z_is_removing_the_head(shipped, tokens):
    """Ablating a head through the bridge's hook equals zeroing its W_O in the course model."""
    model, bridge = shipped

    def zero_head(z, hook):
        z[:, :, 2] = 0.0
        return z

    with torch.no_grad():
        hooked = bridge.run_with_hooks(tokens, fwd_hooks=[("blocks.1.attn.hook_z", zero_head)])
        edited = ao.AttnOnlyTransformer(model.cfg)
        edited.load_state_dict(model.state_dict())
        edited.blocks[1].W_O[2] = 0.0
        assert torch.allclose(hooked, edited(tokens), atol=1e-4)
        assert not torch.allclose(hooked, model(tokens), atol=1e-2)


def test_a_random_model_maps_too():
    torch.manual_seed(1)
    model = ao.AttnOnlyTransformer(ao.AttnOnlyConfig(n_ctx=20, n_heads=2, d_head=8, d_model=32)).eval()
    bridge = tlens.attn_only_bridge(model)
    x = torch.randint(0, 64, (2, 20))
    with torch.no_grad():
        assert torch.allclose(bridge(x), model(x), atol=1e-5)


def test_load_bridge_dispatches_on_the_model_family():
    import torch

    from course.models import load, tlens

    bridge = tlens.load_bridge("induction-2l")
    model = load("induction-2l")
    tokens = torch.randint(1, 64, (2, 12))
    torch.testing.assert_close(bridge(tokens), model(tokens), atol=1e-4, rtol=1e-4)
