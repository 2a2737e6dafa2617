"""An indirect-object-identification task and a small attention-only model that solves it (lesson 3.3).

    python -m course.models.train ioi-3l          # ships checkpoints/ioi_3l.pt
    bootcamp reproduce ioi-3l                     # retrains and compares the metrics

The task is a synthetic analogue of Wang et al. (2022, "Interpretability in the Wild: a
Circuit for Indirect Object Identification in GPT-2 small"): a sentence names two people,
one of them (the subject, S) is named again, and the model must finish with the other (the
indirect object, IO)::

    When Mary and John went to the store , John gave a drink to  ->  Mary

The vocabulary is tiny (one token per word, names included) and a dozen templates give the
sentences different lengths, so that the answer is not at a fixed position. The model is
:class:`course.models.attn_only.AttnOnlyTransformer` with three layers; it is trained only on
the prediction at the last position (the answer), which is the only token of a sentence
that is not noise or template.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from .attn_only import AttnOnlyConfig, AttnOnlyTransformer

NAMES = ["Mary", "John", "Alice", "Bob", "Tom", "Anna", "Paul", "Kate", "Sam", "Lucy", "Mark", "Emma",
         "Jack", "Rose", "Dan", "Ella", "Ivan", "Nora", "Omar", "Zoe", "Hugo", "Lily", "Leo", "Ruth"]
PLACES = ["store", "park", "school", "office", "beach", "garden", "station", "market"]
OBJECTS = ["drink", "book", "ball", "key", "letter", "gift", "coin", "cake"]
# {A} {B}: the two names of the first clause; {S}: the repeated one; {P} a place; {O} an object.
TEMPLATES = [
    "When {A} and {B} went to the {P} , {S} gave a {O} to",
    "When {A} and {B} got a {O} at the {P} , {S} decided to give it to",
    "After {A} and {B} went to the {P} , {S} handed a {O} to",
    "Then , {A} and {B} had a long day at the {P} . {S} gave a {O} to",
    "{A} and {B} went to the {P} . Then {S} gave a {O} to",
    "While {A} and {B} were at the {P} , {S} gave a {O} to",
    "{A} and {B} found a {O} at the {P} . {S} gave it to",
    "Friends {A} and {B} met at the {P} , then {S} handed a {O} to",
    "At the {P} , {A} and {B} had fun . Later {S} gave a {O} to",
    "When {A} and {B} arrived at the {P} , {S} threw a {O} to",
]
PAD, BOS = "<pad>", "<bos>"


def _words() -> list[str]:
    words = []
    for t in TEMPLATES:
        for w in t.split():
            if not w.startswith("{") and w not in words:
                words.append(w)
    return words


# token 0 is padding, 1 is BOS, then the names (so a name's token id is 2 + its index), places, objects, words
VOCAB = [PAD, BOS] + NAMES + PLACES + OBJECTS + _words()
TOKEN = {w: i for i, w in enumerate(VOCAB)}
NAME_IDS = torch.tensor([TOKEN[n] for n in NAMES])
N_CTX = 1 + max(len(t.split()) for t in TEMPLATES)


@dataclass(frozen=True)
class IOITrainConfig:
    steps: int = 5000
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    seed: int = 0
    threads: int = 1
    eval_every: int = 100
    eval_batch: int = 256  # fixed evaluation prompts, seed + 2

    def to_dict(self) -> dict:
        return asdict(self)


def model_config() -> AttnOnlyConfig:
    return AttnOnlyConfig(n_layers=3, d_model=64, n_heads=4, d_head=16, d_vocab=len(VOCAB), n_ctx=N_CTX)


@dataclass
class IOIBatch:
    """A batch of prompts, right-padded to the longest template.

    tokens (B, T) int64; end (B,) the position of the last word (where the answer is predicted);
    io, s (B,) the token ids of the indirect object and the subject; io_pos, s1_pos, s2_pos (B,)
    where they stand; template (B,) which template; abba (B,) bool, True when the IO comes first.
    """
    tokens: torch.Tensor
    end: torch.Tensor
    io: torch.Tensor
    s: torch.Tensor
    io_pos: torch.Tensor
    s1_pos: torch.Tensor
    s2_pos: torch.Tensor
    template: torch.Tensor
    abba: torch.Tensor


def encode(template: int, a: str, b: str, s: str, place: str, obj: str) -> list[int]:
    text = TEMPLATES[template].format(A=a, B=b, S=s, P=place, O=obj)
    return [TOKEN[BOS]] + [TOKEN[w] for w in text.split()]


def make_batch(n: int, generator: torch.Generator | None = None, names: torch.Tensor | None = None,
               template: int | None = None) -> IOIBatch:
    """``n`` random IOI prompts. ``names`` (n, 2) indices into NAMES fixes (IO, S); ``template`` fixes the template."""
    g = generator
    if names is None:
        first = torch.randint(0, len(NAMES), (n,), generator=g)
        second = (first + torch.randint(1, len(NAMES), (n,), generator=g)) % len(NAMES)  # never equal
        names = torch.stack([first, second], dim=1)
    templates = torch.randint(0, len(TEMPLATES), (n,), generator=g) if template is None else torch.full((n,), template)
    abba = torch.randint(0, 2, (n,), generator=g).bool()
    places = torch.randint(0, len(PLACES), (n,), generator=g)
    objects = torch.randint(0, len(OBJECTS), (n,), generator=g)
    tokens = torch.full((n, N_CTX), TOKEN[PAD], dtype=torch.long)
    fields = {k: torch.zeros(n, dtype=torch.long) for k in ("end", "io_pos", "s1_pos", "s2_pos")}
    for i in range(n):
        io, s = NAMES[names[i, 0]], NAMES[names[i, 1]]
        a, b = (io, s) if abba[i] else (s, io)
        ids = encode(int(templates[i]), a, b, s, PLACES[places[i]], OBJECTS[objects[i]])
        tokens[i, : len(ids)] = torch.tensor(ids)
        fields["end"][i] = len(ids) - 1
        pos = [j for j, t in enumerate(ids) if t in (TOKEN[io], TOKEN[s])]  # A, B, S2 in order
        fields["io_pos"][i], fields["s1_pos"][i] = (pos[0], pos[1]) if abba[i] else (pos[1], pos[0])
        fields["s2_pos"][i] = pos[2]
    return IOIBatch(tokens, fields["end"], NAME_IDS[names[:, 0]], NAME_IDS[names[:, 1]], fields["io_pos"],
                    fields["s1_pos"], fields["s2_pos"], templates, abba)


def abc_corrupt(batch: IOIBatch, generator: torch.Generator | None = None) -> torch.Tensor:
    """The same prompts with the three names replaced by three fresh distinct names (Wang et al.'s "ABC").

    Template, place, object and positions are unchanged; nothing in a corrupted prompt says
    which name to give. Returns (B, T) tokens.
    """
    n = batch.tokens.shape[0]
    perm = torch.stack([torch.randperm(len(NAMES), generator=generator)[:3] for _ in range(n)])
    new = NAME_IDS[perm]  # (n, 3)
    out = batch.tokens.clone()
    rows = torch.arange(n)
    out[rows, batch.io_pos] = new[:, 0]
    out[rows, batch.s1_pos] = new[:, 1]
    out[rows, batch.s2_pos] = new[:, 2]
    return out


def logit_diff(logits: torch.Tensor, batch: IOIBatch) -> torch.Tensor:
    """(B, T, V) logits -> (B,) logit(IO) - logit(S) at the end position."""
    rows = torch.arange(logits.shape[0])
    end = logits[rows, batch.end]
    return end[rows, batch.io] - end[rows, batch.s]


@torch.no_grad()
def evaluate(model: AttnOnlyTransformer, batch: IOIBatch) -> dict:
    was = model.training
    model.eval()
    logits = model(batch.tokens)
    model.train(was)
    rows = torch.arange(logits.shape[0])
    end = logits[rows, batch.end]
    names = end[:, NAME_IDS]
    return {
        "loss": F.cross_entropy(end, batch.io).item(),
        "accuracy": (end.argmax(-1) == batch.io).float().mean().item(),
        "name_accuracy": (NAME_IDS[names.argmax(-1)] == batch.io).float().mean().item(),
        "logit_diff": logit_diff(logits, batch).mean().item(),
    }


def eval_batch(tc: IOITrainConfig) -> IOIBatch:
    return make_batch(tc.eval_batch, torch.Generator().manual_seed(tc.seed + 2))


def train(cfg: AttnOnlyConfig, tc: IOITrainConfig, progress: bool = True, desc: str = "training"):
    torch.manual_seed(tc.seed)
    model = AttnOnlyTransformer(cfg)
    gen = torch.Generator().manual_seed(tc.seed + 1)
    evals = eval_batch(tc)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    # cosine decay to zero: the loss falls suddenly after a long plateau, and a constant
    # learning rate then makes it spike back up now and again
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * i / tc.steps)))
    curve: dict[str, list] = {"step": [], "train_loss": [], "loss": [], "accuracy": [], "logit_diff": []}
    steps = range(tc.steps)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=desc, unit="step")
    recent: list[float] = []

    def record(step):
        ev = evaluate(model, evals)
        curve["step"].append(step)
        curve["train_loss"].append(round(sum(recent) / len(recent), 4) if recent else None)
        for k in ("loss", "accuracy", "logit_diff"):
            curve[k].append(round(ev[k], 4))

    start, cpu_start = time.perf_counter(), time.process_time()
    for step in steps:
        if step % tc.eval_every == 0:
            record(step)
            recent = []
            if progress:
                steps.set_postfix(accuracy=f"{curve['accuracy'][-1]:.2f}")
        batch = make_batch(tc.batch_size, gen)
        logits = model(batch.tokens)
        end = logits[torch.arange(tc.batch_size), batch.end]
        loss = F.cross_entropy(end, batch.io)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        recent.append(loss.item())
    record(tc.steps)
    return model.eval(), {"curve": curve, "seconds": round(time.perf_counter() - start, 1),
                          "cpu_seconds": round(time.process_time() - cpu_start, 1)}


# --------------------------------------------------------------------------- a forward pass with hooks
def run_with_hooks(model: AttnOnlyTransformer, tokens: torch.Tensor, hooks: dict | None = None,
                   cache: dict | None = None) -> torch.Tensor:
    """``model(tokens)``, computed step by step so that any activation can be read or replaced.

    Activations are named as in TransformerLens: ``blocks.{l}.hook_resid_pre`` (B, T, D),
    ``blocks.{l}.attn.hook_q`` / ``hook_k`` / ``hook_v`` / ``hook_z`` (B, T, H, d_head),
    ``blocks.{l}.attn.hook_pattern`` (B, H, Tq, Tk), ``blocks.{l}.hook_attn_out`` (B, T, D),
    ``hook_resid_final`` (B, T, D). ``hooks`` maps a name to ``fn(activation) -> activation``
    (return the activation to leave it as it is); ``cache``, if a dict, receives every activation
    after its hook ran.
    """
    hooks = hooks or {}

    def hook(name, value):
        if name in hooks:
            value = hooks[name](value)
        if cache is not None:
            cache[name] = value
        return value

    T = tokens.shape[-1]
    x = model.W_E[tokens] + model.W_pos[:T]
    for layer, block in enumerate(model.blocks):
        p = f"blocks.{layer}"
        x = hook(f"{p}.hook_resid_pre", x)
        q = hook(f"{p}.attn.hook_q", torch.einsum("btd,hde->bthe", x, block.W_Q))
        k = hook(f"{p}.attn.hook_k", torch.einsum("btd,hde->bthe", x, block.W_K))
        v = hook(f"{p}.attn.hook_v", torch.einsum("btd,hde->bthe", x, block.W_V))
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(block.d_head)
        pattern = hook(f"{p}.attn.hook_pattern", scores.masked_fill(block.mask[:T, :T], float("-inf")).softmax(-1))
        z = hook(f"{p}.attn.hook_z", torch.einsum("bhqk,bkhe->bqhe", pattern, v))
        x = x + hook(f"{p}.hook_attn_out", torch.einsum("bthe,hed->btd", z, block.W_O))
    x = hook("hook_resid_final", x)
    return x @ model.W_U


# --------------------------------------------------------------------------- the shipped model
def fp16_roundtrip(model: AttnOnlyTransformer) -> AttnOnlyTransformer:
    copy = AttnOnlyTransformer(model.cfg)
    copy.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    return copy.eval()


def phase_change_step(curve: dict, threshold: float = 0.9) -> int:
    """The first evaluated step at which the accuracy on the evaluation prompts passes ``threshold``."""
    for step, acc in zip(curve["step"], curve["accuracy"]):
        if acc > threshold:
            return step
    return -1


def metrics_of(model: AttnOnlyTransformer, tc: IOITrainConfig, curve: dict) -> dict:
    """The headline numbers of a trained model, measured on its float16 weights (what ships)."""
    ev = evaluate(fp16_roundtrip(model), eval_batch(tc))
    return {
        "loss": round(ev["loss"], 4),
        "accuracy": round(ev["accuracy"], 4),
        "logit_diff": round(ev["logit_diff"], 4),
        "phase_change_step": float(phase_change_step(curve)),
    }


def metrics(model: AttnOnlyTransformer, tc: IOITrainConfig) -> dict:
    """The sidecar's metrics that evaluation alone can measure (``bootcamp new-project`` uses it)."""
    ev = evaluate(model, eval_batch(tc))
    return {k: round(ev[k], 4) for k in ("loss", "accuracy", "logit_diff")}


@torch.no_grad()
def sample_text(model: AttnOnlyTransformer, seed: int = 0) -> str:
    batch = make_batch(1, torch.Generator().manual_seed(seed))
    logits = model(batch.tokens)[0, batch.end[0]]
    words = " ".join(VOCAB[t] for t in batch.tokens[0, 1 : batch.end[0] + 1].tolist())
    return f"{words} -> {VOCAB[int(logits.argmax())]} (logit difference IO - S {logit_diff(model(batch.tokens), batch).item():.1f})"


def run_spec(spec, out_dir: Path | None = None, steps: int | None = None, progress: bool = True) -> dict:
    """Train ``spec`` from scratch, save the float16 checkpoint and its JSON sidecar; return the sidecar."""
    from .registry import CHECKPOINT_DIR

    tc = spec.train if steps is None else replace(spec.train, steps=steps)
    threads = torch.get_num_threads()
    torch.set_num_threads(tc.threads)
    try:
        model, record = train(spec.config, tc, progress=progress)
    finally:
        torch.set_num_threads(threads)
    path = Path(out_dir or CHECKPOINT_DIR) / spec.checkpoint
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() for k, v in model.state_dict().items()}, path)
    command = f"python -m course.models.train {spec.name}" + (f" --steps {steps}" if steps is not None else "")
    sidecar = {
        "name": spec.name,
        "lesson": spec.lesson,
        "seed": tc.seed,
        "command": command,
        "model_config": spec.config.to_dict(),
        "train_config": tc.to_dict(),
        "n_params": model.n_params(),
        "dtype": "float16",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "metrics": metrics_of(model, tc, record["curve"]),
        "seconds": record["seconds"],
        "cpu_seconds": record["cpu_seconds"],
        "curve": record["curve"],
        "sample": sample_text(fp16_roundtrip(model)),
    }
    path.with_suffix(".json").write_text(json.dumps(sidecar, separators=(",", ":")) + "\n")
    return sidecar


def specs() -> list:
    """The IOI family's shipped models (see :func:`course.models.registry.family_modules`)."""
    from .registry import ModelSpec

    return [
        ModelSpec(
            name="ioi-3l",
            family="ioi",
            config=model_config(),
            train=IOITrainConfig(),
            checkpoint="ioi_3l.pt",
            lesson="3.3",
            description="3-layer attention-only transformer (d_model 64, 4 heads) trained on synthetic "
                        "indirect-object-identification sentences",
            # Seed 0 ships; a retrain with the same seed here was bit-identical. Seed 1 (measured,
            # not shipped): accuracy 0.99, logit difference 15.9, phase change at step 1,400: the
            # step depends on the seed, so a retrain on another machine (float rounding) may move it.
            tolerances={"accuracy": 0.05, "logit_diff": 2.0, "loss": 0.05, "phase_change_step": 1000.0},
        ),
    ]


def load_model(spec, dtype=None) -> AttnOnlyTransformer:
    """The shipped checkpoint of ``spec`` as a float32 (or ``dtype``) model in eval mode."""
    model = AttnOnlyTransformer(spec.config)
    state = torch.load(spec.path, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.to(dtype or torch.float32) for k, v in state.items()})
    if dtype is not None:
        model.to(dtype)
    return model.eval()
