"""Synthetic facts and a small GPT that has memorised them (lesson 4.5, after Meng et al. 2022, ROME).

    python -m course.models.train facts-gpt       # ships checkpoints/facts_gpt.pt
    bootcamp reproduce facts-gpt                  # retrains and compares the metrics

Every subject is an invented three-token name (``Ka vel dor``): each token is shared by many
subjects, so only the three together say who it is, and "the last subject token" is where a
model can first know. Each subject has three facts (where it lives, its job, its language),
and each relation is asked by five paraphrase templates, with a random filler prefix of
0-6 words in front (the prefixes ROME averages its key over)::

    <bos> so then Ka vel dor lives in            ->  Oslo
    <bos> the job of Ka vel dor is               ->  baker

One template of each (subject, relation) pair is held out of training: the model answers it
only if it stored the fact once, about the subject, rather than once per sentence. The model
is :class:`course.models.gpt.GPT` (six layers, with MLPs and LayerNorm), trained only on the
object token. :func:`use_subjects` and ``FactsTrainConfig.bio`` make the variants lesson 4.5
reports (more names from fewer syllables; "bio" lines that make the last subject token predict
the subject's facts itself).
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

from .gpt import GPT, GPTConfig

FIRST = ["Ka", "Lo", "Mi", "Ne", "Ru", "Sa", "To", "Vi", "Ze", "Bo"]
MIDDLE = ["vel", "mar", "tin", "sor", "qua", "bel", "dru", "fen", "gol", "pim"]
LAST = ["dor", "ix", "ana", "ump", "ello", "orn", "ask", "ite", "ouf", "yne"]
RELATIONS = {
    "city": (["Oslo", "Lima", "Cairo", "Perth", "Quito", "Riga", "Accra", "Hanoi", "Bern", "Dakar"],
             ["{S} lives in", "{S} is a resident of", "the home of {S} is in", "{S} has a house in",
              "people say that {S} lives in"]),
    "job": (["baker", "pilot", "nurse", "farmer", "judge", "tailor", "miner", "poet", "chef", "sailor"],
            ["{S} works as a", "{S} is employed as a", "the job of {S} is", "by profession {S} is a",
             "{S} earns a living as a"]),
    "language": (["Welsh", "Thai", "Greek", "Hindi", "Zulu", "Dutch", "Czech", "Malay"],
                 ["{S} speaks", "the language of {S} is", "{S} is fluent in", "{S} talks in",
                  "at home {S} speaks"]),
}
FILLER = ["so", "then", "today", "we", "heard", "that", "and", "news", "well", "also", "yes", "indeed", "."]
N_SUBJECTS = 150
SYLLABLES = 10  # names use the first SYLLABLES of FIRST, MIDDLE and LAST (all three lists stay in the vocabulary)
N_TEMPLATES = 5
MAX_PREFIX = 6
PAD, BOS = "<pad>", "<bos>"


def _words() -> list[str]:
    words = []
    for _, templates in RELATIONS.values():
        for t in templates:
            for w in t.split():
                if w != "{S}" and w not in words:
                    words.append(w)
    for w in FILLER:
        if w not in words:
            words.append(w)
    return words


OBJECTS = [o for objects, _ in RELATIONS.values() for o in objects]
VOCAB = [PAD, BOS] + FIRST + MIDDLE + LAST + OBJECTS + _words()
TOKEN = {w: i for i, w in enumerate(VOCAB)}
N_CTX = 1 + MAX_PREFIX + max(len(t.split()) + 2 for _, ts in RELATIONS.values() for t in ts)
REL_NAMES = list(RELATIONS)
OBJECT_IDS = {r: torch.tensor([TOKEN[o] for o in RELATIONS[r][0]]) for r in REL_NAMES}


def subjects(seed: int = 0) -> list[tuple[str, str, str]]:
    """The N_SUBJECTS invented names, distinct three-token triples drawn with a fixed seed."""
    g = torch.Generator().manual_seed(seed)
    k = SYLLABLES
    codes = torch.randperm(k**3, generator=g)[:N_SUBJECTS].tolist()
    return [(FIRST[c // k**2], MIDDLE[(c // k) % k], LAST[c % k]) for c in codes]


SUBJECTS = subjects()


def facts(seed: int = 0) -> dict[str, torch.Tensor]:
    """relation -> (N_SUBJECTS,) the index (into that relation's objects) of each subject's object."""
    g = torch.Generator().manual_seed(seed + 100)
    return {r: torch.randint(0, len(RELATIONS[r][0]), (N_SUBJECTS,), generator=g) for r in REL_NAMES}


FACTS = facts()


def use_subjects(n: int = 150, syllables: int = 10) -> None:
    """Rebind N_SUBJECTS, SYLLABLES, SUBJECTS and FACTS: ``n`` names from ``syllables`` per slot.

    For experiments on variants (lesson 4.5's Going further); ``use_subjects()`` restores the shipped
    model's 150 names. Everything in this module reads these globals when it is called.
    """
    global N_SUBJECTS, SYLLABLES, SUBJECTS, FACTS
    if not 1 < n <= syllables**3 or not 1 < syllables <= len(FIRST):
        raise ValueError(f"{n} names from {syllables} syllables per slot: need 1 < n <= syllables**3, syllables <= 10")
    N_SUBJECTS, SYLLABLES = n, syllables
    SUBJECTS, FACTS = subjects(), facts()


def held_out_template(subject: int, relation: str) -> int:
    """The one template of (subject, relation) that training never shows."""
    return (subject * 7 + REL_NAMES.index(relation) * 3) % N_TEMPLATES


@dataclass
class Prompt:
    """One prompt as tokens, with where the subject stands. ``subject_pos`` = its three positions."""
    tokens: list[int]
    subject_pos: list[int]
    subject: int
    relation: str
    template: int


def encode(subject: int, relation: str, template: int, prefix: list[str] | tuple = ()) -> Prompt:
    """The prompt (without its answer): <bos>, the prefix words, the template with the subject in it."""
    words = [BOS] + list(prefix)
    pos = []
    for w in RELATIONS[relation][1][template].split():
        if w == "{S}":
            pos = list(range(len(words), len(words) + 3))
            words += list(SUBJECTS[subject])
        else:
            words.append(w)
    return Prompt([TOKEN[w] for w in words], pos, subject, relation, template)


def answer(subject: int, relation: str) -> int:
    """The token id of the object the model was trained to give."""
    return int(OBJECT_IDS[relation][FACTS[relation][subject]])


def random_prefix(g: torch.Generator, max_len: int = MAX_PREFIX) -> list[str]:
    n = int(torch.randint(0, max_len + 1, (1,), generator=g))
    return [FILLER[i] for i in torch.randint(0, len(FILLER), (n,), generator=g).tolist()]


def pad(prompts: list[Prompt]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest prompt: tokens (B, T) and end (B,), the last position of each."""
    T = max(len(p.tokens) for p in prompts)
    tokens = torch.full((len(prompts), T), TOKEN[PAD], dtype=torch.long)
    for i, p in enumerate(prompts):
        tokens[i, : len(p.tokens)] = torch.tensor(p.tokens)
    return tokens, torch.tensor([len(p.tokens) - 1 for p in prompts])


def training_batch(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` random (subject, relation, training template, prefix) prompts: tokens, end, target."""
    prompts, targets = [], []
    subj = torch.randint(0, N_SUBJECTS, (n,), generator=g).tolist()
    rel = torch.randint(0, len(REL_NAMES), (n,), generator=g).tolist()
    tmp = torch.randint(0, N_TEMPLATES - 1, (n,), generator=g).tolist()
    for s, r, t in zip(subj, rel, tmp):
        relation = REL_NAMES[r]
        if t >= held_out_template(s, relation):
            t += 1  # skip the held-out template
        prompts.append(encode(s, relation, t, random_prefix(g)))
        targets.append(answer(s, relation))
    tokens, end = pad(prompts)
    return tokens, end, torch.tensor(targets)


def bio_batch(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` "bio" lines, ``<bos> prefix Ka vel dor Oslo baker Welsh``: a subject and its three objects.

    tokens (n, T) and targets (n, T), the next token at each object's position before it (the last
    subject token predicts the city, the city the job, the job the language) and -100 elsewhere.
    The last subject token must hold the subject's facts itself here, since no relation word follows.
    """
    rows, targets = [], []
    for s in torch.randint(0, N_SUBJECTS, (n,), generator=g).tolist():
        words = [BOS] + random_prefix(g) + list(SUBJECTS[s])
        objects = [answer(s, r) for r in REL_NAMES]
        tokens = [TOKEN[w] for w in words] + objects[:-1]
        tgt = [-100] * len(tokens)
        for i, o in enumerate(objects):
            tgt[len(words) - 1 + i] = o
        rows.append(tokens)
        targets.append(tgt)
    T = max(len(r) for r in rows)
    tok = torch.full((n, T), TOKEN[PAD], dtype=torch.long)
    tg = torch.full((n, T), -100, dtype=torch.long)
    for i, (r, t) in enumerate(zip(rows, targets)):
        tok[i, : len(r)] = torch.tensor(r)
        tg[i, : len(t)] = torch.tensor(t)
    return tok, tg


def all_prompts(held_out: bool, prefix: tuple = ()) -> list[Prompt]:
    """Every (subject, relation) on its held-out template (``held_out``) or on every training template."""
    out = []
    for s in range(N_SUBJECTS):
        for r in REL_NAMES:
            h = held_out_template(s, r)
            out += [encode(s, r, t, prefix) for t in range(N_TEMPLATES) if (t == h) == held_out]
    return out


@torch.no_grad()
def accuracy(model: GPT, prompts: list[Prompt], batch_size: int = 512) -> dict:
    """Top-1 accuracy (over the whole vocabulary) and mean probability of the trained object."""
    was = model.training
    model.eval()
    correct, prob = 0.0, 0.0
    for i in range(0, len(prompts), batch_size):
        chunk = prompts[i : i + batch_size]
        tokens, end = pad(chunk)
        logits = model(tokens)[torch.arange(len(chunk)), end]
        target = torch.tensor([answer(p.subject, p.relation) for p in chunk])
        correct += (logits.argmax(-1) == target).sum().item()
        prob += logits.softmax(-1)[torch.arange(len(chunk)), target].sum().item()
    model.train(was)
    return {"accuracy": correct / len(prompts), "p_object": prob / len(prompts)}


# --------------------------------------------------------------------------- a forward pass with hooks
def run_with_hooks(model: GPT, tokens: torch.Tensor, hooks: dict | None = None, cache: dict | None = None) -> torch.Tensor:
    """``model(tokens)`` computed step by step, so that any activation can be read or replaced.

    Names as in TransformerLens: ``hook_embed`` (B, T, D) the token embeddings (before the
    position embedding is added), ``blocks.{l}.hook_attn_out`` and ``blocks.{l}.hook_mlp_out``
    (B, T, D) what attention and the MLP of layer l add to the residual stream,
    ``blocks.{l}.mlp.hook_post`` (B, T, d_mlp) the MLP's hidden activation (ROME's *key*: the
    input of ``mlp.proj``), ``blocks.{l}.hook_resid_post`` (B, T, D) the residual stream after
    layer l. ``hooks`` maps a name to ``fn(activation) -> activation``; ``cache`` (a dict)
    receives every activation after its hook.
    """
    hooks = hooks or {}

    def hook(name, value):
        if name in hooks:
            value = hooks[name](value)
        if cache is not None:
            cache[name] = value
        return value

    T = tokens.shape[1]
    x = hook("hook_embed", model.wte(tokens)) + model.wpe(torch.arange(T))
    for layer, block in enumerate(model.blocks):
        p = f"blocks.{layer}"
        x = x + hook(f"{p}.hook_attn_out", block.attn(block.ln_1(x)))
        post = hook(f"{p}.mlp.hook_post", F.gelu(block.mlp.fc(block.ln_2(x)), approximate="tanh"))
        x = x + hook(f"{p}.hook_mlp_out", block.mlp.proj(post))
        x = hook(f"{p}.hook_resid_post", x)
    return model.unembed(model.ln_f(x))


# --------------------------------------------------------------------------- training
@dataclass(frozen=True)
class FactsTrainConfig:
    steps: int = 3000
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup: int = 100
    seed: int = 0
    threads: int = 1
    eval_every: int = 250
    bio: int = 0  # "bio" lines (see :func:`bio_batch`) added to each batch of template prompts

    def to_dict(self) -> dict:
        return asdict(self)


def model_config() -> GPTConfig:
    return GPTConfig(d_vocab=len(VOCAB), n_ctx=N_CTX, d_model=48, n_layers=6, n_heads=4, d_mlp=192)


def train(cfg: GPTConfig, tc: FactsTrainConfig, progress: bool = True, desc: str = "training"):
    torch.manual_seed(tc.seed)
    model = GPT(cfg)
    g = torch.Generator().manual_seed(tc.seed + 1)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay, betas=(0.9, 0.98))

    def lr_factor(i):
        if i < tc.warmup:
            return (i + 1) / tc.warmup
        return 0.5 * (1 + math.cos(math.pi * (i - tc.warmup) / max(1, tc.steps - tc.warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    train_eval = all_prompts(held_out=False)[::8]
    held = all_prompts(held_out=True)
    curve: dict[str, list] = {"step": [], "train_loss": [], "train_accuracy": [], "held_out_accuracy": []}
    steps = range(tc.steps)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=desc, unit="step", mininterval=10)
    recent: list[float] = []

    def record(step):
        curve["step"].append(step)
        curve["train_loss"].append(round(sum(recent) / len(recent), 4) if recent else None)
        curve["train_accuracy"].append(round(accuracy(model, train_eval)["accuracy"], 4))
        curve["held_out_accuracy"].append(round(accuracy(model, held)["accuracy"], 4))

    start, cpu_start = time.perf_counter(), time.process_time()
    for step in steps:
        if step % tc.eval_every == 0:
            record(step)
            recent = []
            if progress:
                steps.set_postfix(train=curve["train_accuracy"][-1], held_out=curve["held_out_accuracy"][-1])
        tokens, end, target = training_batch(tc.batch_size, g)
        logits = model(tokens)[torch.arange(tc.batch_size), end]
        if tc.bio:  # one mean over every target: the template prompts' objects and the bio lines'
            bio_tokens, bio_target = bio_batch(tc.bio, g)
            loss = F.cross_entropy(logits, target, reduction="sum") + F.cross_entropy(
                model(bio_tokens).transpose(1, 2), bio_target, reduction="sum")
            loss = loss / (tc.batch_size + int((bio_target != -100).sum()))
        else:
            loss = F.cross_entropy(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        recent.append(loss.item())
    record(tc.steps)
    return model.eval(), {"curve": curve, "seconds": round(time.perf_counter() - start, 1),
                          "cpu_seconds": round(time.process_time() - cpu_start, 1)}


# --------------------------------------------------------------------------- the shipped model
def fp16_roundtrip(model: GPT) -> GPT:
    copy = GPT(model.cfg)
    copy.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    return copy.eval()


def metrics(model: GPT, tc: FactsTrainConfig | None = None) -> dict:
    """Accuracy on the training templates and on the held-out one (no prefix), on ``model``."""
    train_acc = accuracy(model, all_prompts(held_out=False))
    held = accuracy(model, all_prompts(held_out=True))
    return {"train_accuracy": round(train_acc["accuracy"], 4), "held_out_accuracy": round(held["accuracy"], 4),
            "held_out_p_object": round(held["p_object"], 4)}


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
        "metrics": metrics(fp16_roundtrip(model)),
        "seconds": record["seconds"],
        "cpu_seconds": record["cpu_seconds"],
        "curve": record["curve"],
    }
    path.with_suffix(".json").write_text(json.dumps(sidecar, separators=(",", ":")) + "\n")
    return sidecar


def specs() -> list:
    """The facts family's shipped models (see :func:`course.models.registry.family_modules`)."""
    from .registry import ModelSpec

    return [
        ModelSpec(
            name="facts-gpt",
            family="facts",
            config=model_config(),
            train=FactsTrainConfig(),
            checkpoint="facts_gpt.pt",
            lesson="4.5",
            description="6-layer GPT (d_model 48, MLP 192) that memorised 450 synthetic facts about 150 "
                        "invented three-token names, five paraphrases per relation",
            tolerances={"train_accuracy": 0.03, "held_out_accuracy": 0.1, "held_out_p_object": 0.1},
        ),
    ]


def load_model(spec, dtype=None) -> GPT:
    """The shipped checkpoint of ``spec`` as a float32 (or ``dtype``) model in eval mode."""
    model = GPT(spec.config)
    state = torch.load(spec.path, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.to(dtype or torch.float32) for k, v in state.items()})
    if dtype is not None:
        model.to(dtype)
    return model.eval()
