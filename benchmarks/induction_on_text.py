"""Does lesson 3.2's model form induction heads when trained on text? (issue 19: measure before choosing)

Trains the `induction-2l` architecture and optimiser (seed 0, AdamW lr 3e-3, batch 64, one
thread) on windows of the standard-library corpus in the model's 64-token vocabulary (the 62
most common bytes as tokens 1-62, every other byte as 63), with a fraction MIX of the rows
replaced by a text block of period 8-32 tiled to 64 tokens. Every 50 steps it prints the
layer-1 induction scores and the best layer-0 previous-token score on the lesson's repeated
random tokens, the loss on both halves, the loss on held-out source, and the ICL score (the
loss of token 60 minus token 6, and minus token 10) on 512 held-out windows.

    .venv/bin/python benchmarks/induction_on_text.py MIX STEPS      # e.g. 0.5 1500 (~75 s of CPU)

Measured 2026-12-06 (shared machine, 1 thread, ~74 s CPU / ~420 s wall each), 1500 steps:
  MIX 0.0: no induction head (best score 0.00), previous-token score 0.29, held-out loss 1.85,
           ICL 60-6 -0.16 but 60-10 +0.02 (no gain beyond the first few tokens).
  MIX 0.5: one head's induction score rises slowly from step ~900 to 0.36 at 1500 (no sharp
           phase change), repeated-half loss 3.47, held-out loss 2.03, ICL 60-6 -0.09, 60-10 -0.01.
So within a CPU budget the lesson keeps its synthetic periodic data (phase change at step 300).
"""

import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from course.data import stdlib_corpus
from course.models import attn_only

torch.set_num_threads(1)
mix = float(sys.argv[1])
steps = int(sys.argv[2])
corp = stdlib_corpus()
tr = np.frombuffer(corp.train, dtype=np.uint8)
va = np.frombuffer(corp.val, dtype=np.uint8)
counts = np.bincount(tr, minlength=256)
order = np.argsort(-counts)
lut = np.full(256, 63, dtype=np.int64)
lut[order[:62]] = np.arange(1, 63)
TR = torch.from_numpy(lut[tr])
VA = torch.from_numpy(lut[va])


def text_rows(src, b, g):
    s = torch.randint(0, len(src) - 64, (b,), generator=g)
    return torch.stack([src[i:i + 64] for i in s.tolist()])


def batch(b, g):
    body = text_rows(TR, b, g)
    if mix > 0:
        periods = torch.randint(8, 33, (b, 1), generator=g)
        idx = torch.arange(64)[None] % periods
        tiled = body.gather(1, idx)
        use = torch.rand(b, 1, generator=g) < mix
        body = torch.where(use, tiled, body)
    return torch.cat([torch.zeros(b, 1, dtype=torch.long), body], 1)


gv = torch.Generator().manual_seed(5)
val = torch.cat([torch.zeros(512, 1, dtype=torch.long), text_rows(VA, 512, gv)], 1)
cfg = attn_only.AttnOnlyConfig()
tc = attn_only.InductionTrainConfig()
torch.manual_seed(0)
m = attn_only.AttnOnlyTransformer(cfg)
g = torch.Generator().manual_seed(1)
opt = torch.optim.AdamW(m.parameters(), lr=3e-3, weight_decay=0.0)
evals = attn_only.eval_tokens(tc, 64)
t0, c0 = time.time(), time.process_time()
for step in range(steps + 1):
    if step % 50 == 0:
        ev = attn_only.evaluate(m, evals, 32)
        with torch.no_grad():
            losses = attn_only.per_token_loss(m(val), val)
        pos = losses.mean(0)
        print(step, "ind", [round(x, 2) for x in ev["induction_scores"][1].tolist()],
              "prev", round(ev["prev_token_scores"][0].max().item(), 2), "rep", round(ev["repeated_loss"], 2),
              "first", round(ev["first_half_loss"], 2), "textval", round(losses.mean().item(), 3),
              "ICL60-6", round((pos[59] - pos[5]).item(), 3), "ICL60-10", round((pos[59] - pos[9]).item(), 3), flush=True)
    if step == steps:
        break
    tk = batch(64, g)
    loss = F.cross_entropy(m(tk)[:, :-1].reshape(-1, 64), tk[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
print("wall", time.time() - t0, "cpu", time.process_time() - c0)
