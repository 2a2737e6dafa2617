"""The lessons' static diagrams (course/diagrams.py) draw, and say what the lessons say."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course import diagrams  # noqa: E402


def _texts(fig) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts + [ax.title])


# Words each diagram must show: the shape names and formulae the lessons use.
EXPECTED = {
    "residual_stream": ["embed", "unembed", "attn0", "mlp1", "resid[batch, seq, d_model]"],
    "attention_shapes": ["[batch, n_heads, q_pos, k_pos]", "softmax", "sqrt(d_head)", "-inf", "c_attn"],
    "patching": ["clean run", "corrupted run", "logit difference"],
    "induction_circuit": ["prev-token head", "induction head", "K-composition"],
    "sparse_autoencoder": ["ReLU((x - b_dec) W_enc", "f W_dec", "lambda"],
}


@pytest.mark.parametrize("name", diagrams.__all__)
def test_each_diagram_draws_with_its_labels(name):
    fig = getattr(diagrams, name)()
    try:
        text = _texts(fig)
        missing = [w for w in EXPECTED[name] if w not in text]
        assert not missing, f"{name} no longer shows {missing}"
        fig.canvas.draw()
    finally:
        plt.close(fig)


def test_every_diagram_is_used_by_a_lesson():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sources = "\n".join(p.read_text() for p in (root / "solutions").glob("*/*.py"))
    unused = [n for n in diagrams.__all__ if f"diagrams.{n}(" not in sources]
    assert unused == [], f"diagrams no lesson shows: {unused}"
