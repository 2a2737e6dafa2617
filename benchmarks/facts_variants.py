"""The variants behind lesson 4.5's table "What we tried to make the paper's picture appear":
train one variant of the facts model and trace it as exercise 4 does. One thread.

    .venv/bin/python benchmarks/facts_variants.py NAME [--names 150 --syl 10 --mlp 64 --bio 64
                                                       --steps 2000 --layers 6 --window 1,2,2,0,0,0]
    .venv/bin/python benchmarks/facts_variants.py ctrl --window none          # the table's "bio 64, MLP 64" row
    .venv/bin/python benchmarks/facts_variants.py win --window 1,2,2,0,0,0 --mlp 192

``--window`` is ``GPTConfig.attn_window``, one entry per layer (0 = global), or ``none``. The model is
saved as /tmp/facts_variants/NAME.pt (``--trace-only`` traces a saved one again, e.g. with another
``--seed`` for the noise). The trace: the six paraphrases of exercise 4 (city 0 and 2, job 1 and 3,
language 0 and 1) on the first ``--n`` names with the prefix "so then", one noise draw (3 sigma of the
subject tokens' embeddings). It prints one JSON line, the means over the six paraphrases of the
indirect effect on P(object) of restoring, by layer: the MLP output at the last subject token
(``mlp_lastsubj``), the MLP outputs of two consecutive layers there (``mlp2_lastsubj``, layers l and
l+1), the residual stream there (``resid_lastsubj``) and the MLP output at the last token
(``mlp_lasttok``). 4-10 minutes a variant on a shared 2-core machine.

``--rome 0,1,2,3,4`` (with ``--trace-only`` to skip the trace's training) also runs the lesson's
twelve edits with ROME at those layers, and ``--ft 3`` with FT and FT+L (bound 0.1) too, using the
solution notebook's own functions (``rome_edit``, ``finetune_edit``, ``edit_scores``, ...), read
from solutions/4.5-rome/4.5-rome.py; it prints efficacy / paraphrase / neighbourhood per layer.
On the shipped model (``shipped --rome 2 --ft 2``) it gives the lesson's numbers.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from course.models import facts
from course.models.gpt import GPT

PARAPHRASES = [("city", 0), ("city", 2), ("job", 1), ("job", 3), ("language", 0), ("language", 1)]
OUT = Path("/tmp/facts_variants")
SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "4.5-rome" / "4.5-rome.py"
EDIT_FUNCTIONS = {"edit_prompts", "subject_key", "key_second_moment", "solve_delta", "p_of", "rank_one_update",
                  "rome_edit", "edit_scores", "neighbours_of", "finetune_edit"}


def p_object(model: GPT, batch: dict, restores=(), cache: dict | None = None) -> torch.Tensor:
    """P(target) at the end, noise on the subject's embeddings, the states ``(name, pos)`` restored from ``cache``."""
    def corrupt(x):
        x = x.clone()
        x[:, batch["subject_pos"]] = x[:, batch["subject_pos"]] + batch["noise"]
        return x

    def put_back(name, pos):
        def put(x):
            x = x.clone()
            x[:, pos] = cache[name][:, pos]
            return x
        return put

    hooks = {"hook_embed": corrupt} | {name: put_back(name, pos) for name, pos in restores}
    rows = torch.arange(len(batch["end"]))
    return facts.run_with_hooks(model, batch["tokens"], hooks)[rows, batch["end"]].softmax(-1)[rows, batch["target"]]


@torch.no_grad()
def trace(model: GPT, n: int = 150, seed: int = 1) -> dict:
    L, D = model.cfg.n_layers, model.cfg.d_model
    subject_tokens = torch.tensor(sorted({facts.TOKEN[w] for s in facts.SUBJECTS for w in s}))
    noise_scale = 3 * model.wte.weight[subject_tokens].std().item()
    n = min(n, facts.N_SUBJECTS)
    mlp, resid = "blocks.{}.hook_mlp_out", "blocks.{}.hook_resid_post"
    res: dict[str, list] = {k: [] for k in ("mlp_lastsubj", "mlp2_lastsubj", "resid_lastsubj", "mlp_lasttok",
                                           "clean", "corrupted")}
    for relation, template in PARAPHRASES:
        prompts = [facts.encode(s, relation, template, ("so", "then")) for s in range(n)]
        tokens, end = facts.pad(prompts)
        batch = {"tokens": tokens, "end": end, "target": torch.tensor([facts.answer(s, relation) for s in range(n)]),
                 "subject_pos": prompts[0].subject_pos,
                 "noise": noise_scale * torch.randn(n, 3, D, generator=torch.Generator().manual_seed(seed))}
        cache: dict = {}
        logits = facts.run_with_hooks(model, tokens, cache=cache)
        res["clean"].append(logits[torch.arange(n), end].softmax(-1)[torch.arange(n), batch["target"]].mean().item())
        base = p_object(model, batch)
        res["corrupted"].append(base.mean().item())
        last, e = prompts[0].subject_pos[-1], int(end[0])
        grids = {"mlp_lastsubj": [[(mlp.format(i), last)] for i in range(L)],
                 "mlp2_lastsubj": [[(mlp.format(i), last), (mlp.format(i + 1), last)] for i in range(L - 1)],
                 "resid_lastsubj": [[(resid.format(i), last)] for i in range(L)],
                 "mlp_lasttok": [[(mlp.format(i), e)] for i in range(L)]}
        for key, runs in grids.items():
            res[key].append([(p_object(model, batch, r, cache) - base).mean().item() for r in runs])
    return {k: [round(x, 4) for x in torch.tensor(v).mean(0).tolist()] if k not in ("clean", "corrupted")
            else round(sum(v) / len(v), 4) for k, v in res.items()}


def edit_comparison(model: GPT, layers: list[int], ft_layers: list[int]) -> dict:
    """The lesson's twelve edits at each layer: {layer: {method: [efficacy, paraphrase, neighbourhood]}}."""
    ns = {"torch": torch, "F": F, "copy": copy, "np": np, "facts": facts, "model": model,
          "D": model.cfg.d_model, "cfg": model.cfg, "EDIT_LAYER": 2}
    for node in ast.parse(SOLUTION.read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name in EDIT_FUNCTIONS:
            exec(compile(ast.Module([node], []), str(SOLUTION), "exec"), ns)  # the solution's own code
    text_tokens, _, _ = facts.training_batch(600, torch.Generator().manual_seed(5))
    cases = []
    for i in range(12):  # as the lesson's comparison cell
        subject, relation = 11 * i + 3, facts.REL_NAMES[i % 3]
        objects = facts.OBJECT_IDS[relation]
        shift = 1 + i if (1 + i) % len(objects) else 2 + i
        cases.append((subject, relation, facts.answer(subject, relation),
                      int(objects[(facts.FACTS[relation][subject] + shift) % len(objects)])))
    out = {}
    for layer in layers:
        C = ns["key_second_moment"](model, layer, text_tokens)
        C = C + 1e-4 * C.diagonal().mean() * torch.eye(model.cfg.d_mlp)
        make = {"ROME": lambda s, r, new, layer=layer, C=C: ns["rome_edit"](model, s, r, new, layer=layer, C=C),
                "FT": lambda s, r, new, layer=layer: ns["finetune_edit"](model, layer, ns["edit_prompts"](s, r), new),
                "FT+L": lambda s, r, new, layer=layer: ns["finetune_edit"](model, layer, ns["edit_prompts"](s, r), new,
                                                                          max_change=0.1)}
        out[layer] = {}
        for method in ["ROME"] + (["FT", "FT+L"] if layer in ft_layers else []):
            rows = [ns["edit_scores"](make[method](s, r, new), s, r, old, new, ns["neighbours_of"](s, r, new))
                    for s, r, old, new in cases]
            out[layer][method] = [round(float(np.mean([row[k] for row in rows])), 2)
                                  for k in ("efficacy", "paraphrase", "neighbourhood")]
        print(json.dumps({"layer": layer, **out[layer]}), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("--names", type=int, default=150, help="facts.use_subjects(names, syl)")
    ap.add_argument("--syl", type=int, default=10)
    ap.add_argument("--mlp", type=int, default=64)
    ap.add_argument("--bio", type=int, default=64)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--window", default="none", help="per-layer attention windows, 0 = global; or none")
    ap.add_argument("--trace-only", action="store_true")
    ap.add_argument("--seed", type=int, default=1, help="the noise draw")
    ap.add_argument("--n", type=int, default=150, help="names traced")
    ap.add_argument("--rome", default="", help="layers for the twelve ROME edits, e.g. 0,1,2,3,4")
    ap.add_argument("--ft", default="", help="layers for FT and FT+L too")
    a = ap.parse_args()
    torch.set_num_threads(1)
    facts.use_subjects(a.names, a.syl)
    window = None if a.window == "none" else tuple(int(w) or None for w in a.window.split(","))
    cfg = replace(facts.model_config(), d_mlp=a.mlp, n_layers=a.layers, attn_window=window)
    path = OUT / f"{a.name}.pt"
    start = time.time()
    if a.name == "shipped":
        from course.models import load

        model = load("facts-gpt")
    elif a.trace_only:
        model = GPT(cfg)
        model.load_state_dict(torch.load(path, weights_only=True))
        model.eval()
    else:
        model, _ = facts.train(cfg, facts.FactsTrainConfig(steps=a.steps, bio=a.bio), progress=False)
        OUT.mkdir(exist_ok=True)
        torch.save(model.state_dict(), path)
    for p in model.parameters():
        p.requires_grad_(False)
    if a.rome:
        edit_comparison(model, [int(x) for x in a.rome.split(",")], [int(x) for x in a.ft.split(",") if x])
        return
    out = {"args": vars(a), "metrics": facts.metrics(model), **trace(model, a.n, a.seed),
           "seconds": round(time.time() - start)}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
