"""course.checks.gpt: the messages are the product, so these tests build GPTs with one
deliberate mistake each and read what the layer-by-layer comparison says about them."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course.checks import CheckFailure
from course.checks import gpt as gpt_checks
from course.checks.gpt import GPTConfig

CFG = GPTConfig(d_vocab=40, n_ctx=12, d_model=32, n_heads=4, n_layers=2, d_mlp=128)


# --------------------------------------------------------------------------- a GPT with switchable bugs
class LayerNorm(nn.Module):
    def __init__(self, d, eps=1e-5, bugs=()):
        super().__init__()
        self.weight, self.bias, self.eps, self.bugs = nn.Parameter(torch.ones(d)), nn.Parameter(torch.zeros(d)), eps, bugs

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True, unbiased="ln_unbiased" in self.bugs)
        eps = 0.0 if "ln_no_eps" in self.bugs else 1e-6 if "ln_eps_1e-6" in self.bugs else self.eps
        y = (x - mean) / torch.sqrt(var + eps) * self.weight
        return y if "ln_no_bias" in self.bugs else y + self.bias


class Attention(nn.Module):
    def __init__(self, cfg, bugs=()):
        super().__init__()
        self.cfg, self.bugs = cfg, bugs
        self.q, self.k, self.v = (nn.Linear(cfg.d_model, cfg.d_model) for _ in range(3))
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x):
        B, T, D = x.shape
        H = self.cfg.n_heads
        q, k, v = self.q(x), self.k(x), self.v(x)
        if "bad_heads" in self.bugs:  # reshape straight into (B, H, T, d_head): mixes positions and heads
            q, k, v = (t.reshape(B, H, T, D // H) for t in (q, k, v))
        else:
            q, k, v = (t.reshape(B, T, H, D // H).transpose(1, 2) for t in (q, k, v))
        scale = {"no_scale": 1.0, "scale_d_head": 1 / (D // H)}.get(
            next((b for b in self.bugs if b.startswith(("no_scale", "scale_d_head"))), ""), 1 / math.sqrt(D // H))
        scores = q @ k.transpose(-1, -2) * scale
        if "no_mask" not in self.bugs:
            scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        z = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
        if "attn_no_proj_bias" in self.bugs:
            return F.linear(z, self.proj.weight)
        return self.proj(z)


class MLP(nn.Module):
    def __init__(self, cfg, bugs=()):
        super().__init__()
        self.bugs = bugs
        self.fc = nn.Linear(cfg.d_model, cfg.d_mlp)
        self.proj = nn.Linear(cfg.d_mlp, cfg.d_model)

    def forward(self, x):
        h = self.fc(x)
        h = F.relu(h) if "relu" in self.bugs else F.gelu(h) if "exact_gelu" in self.bugs else F.gelu(h, approximate="tanh")
        return self.proj(h)


class Block(nn.Module):
    def __init__(self, cfg, bugs=()):
        super().__init__()
        self.bugs = bugs
        self.ln_1, self.attn = LayerNorm(cfg.d_model, bugs=bugs), Attention(cfg, bugs)
        self.ln_2, self.mlp = LayerNorm(cfg.d_model, bugs=bugs), MLP(cfg, bugs)

    def forward(self, x):
        if "post_ln" in self.bugs:
            x = self.ln_1(x + self.attn(x))
            return self.ln_2(x + self.mlp(x))
        if "no_attn_residual" in self.bugs:
            x = self.attn(self.ln_1(x))
        else:
            x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg, bugs=(), block_bugs=()):
        super().__init__()
        self.bugs = bugs
        self.wte, self.wpe = nn.Embedding(cfg.d_vocab, cfg.d_model), nn.Embedding(cfg.n_ctx, cfg.d_model)
        self.blocks = nn.ModuleList([Block(cfg, block_bugs if i == 0 else ()) for i in range(cfg.n_layers)])
        self.ln_f = LayerNorm(cfg.d_model)
        self.unembed = nn.Linear(cfg.d_model, cfg.d_vocab, bias=False)

    def forward(self, tokens):
        x = self.wte(tokens)
        if "no_pos" not in self.bugs:
            x = x + self.wpe(torch.arange(tokens.shape[1]))
        for block in self.blocks:
            x = block(x)
        if "ln_f_inline" in self.bugs:
            x = F.layer_norm(x, x.shape[-1:], self.ln_f.weight, self.ln_f.bias, 1e-5)
        elif "no_ln_f" not in self.bugs:
            x = self.ln_f(x)
        return self.unembed(x)


@pytest.fixture(scope="module")
def ref():
    return gpt_checks.reference_gpt2(CFG, seed=0)


@pytest.fixture(scope="module")
def x():
    torch.manual_seed(0)
    x = torch.randn(2, 9, CFG.d_model)
    x[0, :3] *= 1e-3  # low-variance rows, where LayerNorm's epsilon matters
    return x


@pytest.fixture(scope="module")
def tokens():
    return torch.randint(0, CFG.d_vocab, (2, 10), generator=torch.Generator().manual_seed(1))


def module_message(mine, ref_module, x, exercise="ex") -> str:
    with pytest.raises(CheckFailure) as info:
        gpt_checks.compare_module(exercise, mine, ref_module, x)
    return str(info.value)


def gpt_message(model, ref, tokens) -> str:
    with pytest.raises(CheckFailure) as info:
        gpt_checks.compare_gpt("gpt", model, ref, tokens)
    return str(info.value)


# --------------------------------------------------------------------------- the reference
def test_reference_is_deterministic_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = gpt_checks.reference_gpt2(CFG, seed=5)
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = gpt_checks.reference_gpt2(CFG, seed=5)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), n
    ln = a.transformer.h[0].ln_1
    assert not torch.allclose(ln.weight, torch.ones_like(ln.weight)), "LayerNorm gains must be randomised"
    assert a.transformer.h[0].attn.c_proj.bias.abs().min() > 0, "biases must be randomised"


def test_copy_weights_splits_c_attn_and_transposes_conv1d(ref):
    attn = Attention(CFG)
    fused = ref.transformer.h[0].attn.c_attn
    gpt_checks.copy_weights("ex", attn, ref.transformer.h[0].attn)
    d = CFG.d_model
    for i, part in enumerate((attn.q, attn.k, attn.v)):
        assert torch.equal(part.weight, fused.weight[:, i * d:(i + 1) * d].T)
        assert torch.equal(part.bias, fused.bias[i * d:(i + 1) * d])
    assert torch.equal(attn.proj.weight, ref.transformer.h[0].attn.c_proj.weight.T)


def test_gpt2_name_maps_every_course_parameter():
    assert gpt_checks.gpt2_name("blocks.1.attn.v.weight") == ("h.1.attn.c_attn.weight", 2)
    assert gpt_checks.gpt2_name("q.bias") == ("c_attn.bias", 0)
    assert gpt_checks.gpt2_name("blocks.0.mlp.fc.weight") == ("h.0.mlp.c_fc.weight", None)
    assert gpt_checks.gpt2_name("blocks.0.attn.proj.bias") == ("h.0.attn.c_proj.bias", None)
    assert gpt_checks.gpt2_name("unembed.weight") == ("wte.weight", None)
    assert gpt_checks.gpt2_name("ln_f.weight") == ("ln_f.weight", None)


def test_the_course_model_equals_gpt2_and_so_does_its_state_dict(ref, tokens):
    """The model 2.2 on uses is 2.1's model: course.models.gpt.GPT, given GPT-2's weights, gives GPT-2's
    logits, and the test GPT's state_dict (course names) loads into it strictly with the same logits."""
    from course.models.gpt import GPT as CourseGPT

    course = CourseGPT(CFG).eval()
    result = gpt_checks.compare_gpt("gpt", course, ref, tokens)
    assert result.rows[-1][0] == "logits" and result.rows[-1][1] < 1e-4
    mine = GPT(CFG)
    gpt_checks.copy_weights("gpt", mine, ref)
    fresh = CourseGPT(CFG).eval()
    fresh.load_state_dict(mine.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(fresh(tokens), ref(tokens).logits, rtol=1e-4, atol=1e-5)
        assert torch.equal(fresh.unembed.weight, fresh.wte.weight)  # GPT-2's tied matrix, copied into both


# --------------------------------------------------------------------------- correct modules pass
def test_correct_modules_pass(ref, x):
    h0 = ref.transformer.h[0]
    assert gpt_checks.compare_module("ln", LayerNorm(CFG.d_model), h0.ln_1, x) < 1e-4
    assert gpt_checks.compare_module("attn", Attention(CFG), h0.attn, x) < 1e-4
    assert gpt_checks.compare_module("mlp", MLP(CFG), h0.mlp, x) < 1e-4
    assert gpt_checks.compare_module("block", Block(CFG), h0, x) < 1e-4
    assert gpt_checks.compare_module("attn", Attention(CFG), h0.attn, torch.randn(32, 5, 2).permute(2, 1, 0)) < 1e-4


def test_correct_gpt_passes_and_prints_a_table(ref, tokens):
    result = gpt_checks.compare_gpt("gpt", GPT(CFG), ref, tokens)
    text = str(result)
    assert "block 1 MLP (blocks.1.mlp)" in text and "logits" in text
    assert all(err < 1e-4 for _, err in result.rows)


# --------------------------------------------------------------------------- attention mistakes
@pytest.mark.parametrize("bug, cause", [
    ("no_mask", "causal mask is missing"),
    ("no_scale", "not divided by sqrt(d_head)"),
    ("scale_d_head", "divided by d_head; divide by sqrt(d_head)"),
    ("attn_no_proj_bias", "bias of proj (the output projection) is left out"),
    ("bad_heads", "check the split into heads"),
])
def test_attention_mistakes_are_named(ref, x, bug, cause):
    msg = module_message(Attention(CFG, bugs=(bug,)), ref.transformer.h[0].attn, x, "attention")
    assert msg.startswith("[attention] Attention output differs"), msg
    assert cause in msg, msg


def test_layernorm_mistakes_are_named(ref, x):
    ln = ref.transformer.h[0].ln_1
    for bug, cause in [("ln_unbiased", "unbiased"), ("ln_no_eps", "epsilon is missing"),
                       ("ln_eps_1e-6", "1e-6?"), ("ln_no_bias", "bias is not added")]:
        msg = module_message(LayerNorm(CFG.d_model, bugs=(bug,)), ln, x, "layernorm")
        assert msg.startswith("[layernorm] LayerNorm output differs"), msg
        assert cause in msg, (bug, msg)


def test_mlp_mistakes_are_named(ref, x):
    for bug, cause in [("exact_gelu", "tanh approximation"), ("relu", "ReLU")]:
        msg = module_message(MLP(CFG, bugs=(bug,)), ref.transformer.h[0].mlp, x, "mlp")
        assert cause in msg, (bug, msg)


def test_block_mistakes_are_named(ref, x):
    for bug, cause in [("post_ln", "post-LN"), ("no_attn_residual", "residual connection around attention")]:
        msg = module_message(Block(CFG, bugs=(bug,)), ref.transformer.h[0], x, "block")
        assert cause in msg, (bug, msg)


def test_module_returning_none(ref, x):
    class Silent(LayerNorm):
        def forward(self, x):
            return None

    assert "is None" in module_message(Silent(CFG.d_model), ref.transformer.h[0].ln_1, x)


# --------------------------------------------------------------------------- the whole model
def test_gpt_names_the_first_differing_submodule(ref, tokens):
    msg = gpt_message(GPT(CFG, block_bugs=("no_mask",)), ref, tokens)
    first = msg.splitlines()[0]
    assert first.startswith("[gpt] block 0 attention (blocks.0.attn) output differs"), msg
    assert "these match: token embedding (wte), position embedding (wpe), embeddings (input of blocks.0), block 0 ln_1" in msg
    assert "causal mask is missing" in msg


def test_gpt_exact_gelu_in_block_0(ref, tokens):
    msg = gpt_message(GPT(CFG, block_bugs=("exact_gelu",)), ref, tokens)
    assert msg.startswith("[gpt] block 0 MLP (blocks.0.mlp) output differs"), msg
    assert "tanh approximation" in msg


def test_gpt_missing_position_embedding(ref, tokens):
    msg = gpt_message(GPT(CFG, bugs=("no_pos",)), ref, tokens)
    assert "never called 'wpe'" in msg, msg


def test_gpt_missing_final_layernorm(ref, tokens):
    msg = gpt_message(GPT(CFG, bugs=("no_ln_f",)), ref, tokens)
    assert "never called 'ln_f'" in msg, msg


def test_gpt_wrong_residual_in_block(ref, tokens):
    msg = gpt_message(GPT(CFG, block_bugs=("no_attn_residual",)), ref, tokens)
    assert msg.startswith("[gpt] block 0 stream after attention"), msg
    assert "block 0 attention (blocks.0.attn)" in msg  # listed among what matched


def test_gpt_wrong_names_and_shapes(ref, tokens):
    model = GPT(CFG)
    model.extra = nn.Linear(2, 2)
    assert "do not have the course model's names" in gpt_message(model, ref, tokens)
    model = GPT(CFG)
    model.blocks[0].attn.k = nn.Linear(CFG.d_model, 2 * CFG.d_model)
    msg = gpt_message(model, ref, tokens)
    assert "blocks.0.attn.k.weight' has shape (64, 32)" in msg and "(k third)" in msg and "(32, 32)" in msg, msg
    model = GPT(CFG)
    model.blocks[0].attn.c_attn = model.blocks[0].attn.q  # GPT-2's fused name, the old layout
    del model.blocks[0].attn.q
    msg = gpt_message(model, ref, tokens)
    assert "missing: blocks.0.attn.q.bias, blocks.0.attn.q.weight" in msg and "blocks.0.attn.c_attn" in msg, msg


def test_gpt_layernorm_off_by_less_than_the_tolerance_is_blamed_later(ref, tokens):
    # eps 1e-6 passes ln_1's own check (the embeddings have a large variance) and shows up, amplified, after it
    msg = gpt_message(GPT(CFG, block_bugs=("ln_eps_1e-6",)), ref, tokens)
    assert "block 0 ln_1 is slightly off" in msg and "1e-6?" in msg, msg
    assert "errors are tiny" not in msg, msg


def test_named_cause_replaces_float_precision_guess(ref, x):
    msg = module_message(MLP(CFG, bugs=("exact_gelu",)), ref.transformer.h[0].mlp, x)
    assert "tanh approximation" in msg and "errors are tiny" not in msg, msg


def test_block_with_a_broken_part_names_the_part(ref, x):
    msg = module_message(Block(CFG, bugs=("no_mask",)), ref.transformer.h[0], x, "block")
    assert "the block's attn (Attention) already differs" in msg and "causal mask" in msg, msg
    assert "residual" not in msg, msg
