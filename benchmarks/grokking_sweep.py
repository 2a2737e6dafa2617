"""The sweep that chose lesson 4.1's recipe: does the test loss sit on a plateau while the
progress measures move? One thread, short runs (stopped 200 epochs after test accuracy passes 99%).

    .venv/bin/python benchmarks/grokking_sweep.py P,FRAC,WD,LR,MAX_EPOCHS[,SEED] ...
    .venv/bin/python benchmarks/grokking_sweep.py 53,0.3,3,3e-3,2500 53,0.5,2,3e-3,1500

For each run it prints one JSON line: the epoch memorisation ends (train accuracy 1.0), the
grokking epoch (test accuracy > 99%), the final key frequencies, and where the restricted
loss has fallen 10x (r10) with the test loss then (test_at_r10) against its memorisation
level (M). Lesson 4.1's table of recipes comes from these lines (seed 0, as measured on a
shared 2-core machine; the epochs do not depend on the machine, the seconds do).
"""

from __future__ import annotations

import json
import sys
import time

import torch

from course.models import grokking
from course.models.grokking import GrokConfig, GrokTrainConfig, GrokTransformer


def run(p: int, frac: float, wd: float, lr: float, max_epochs: int, seed: int = 0, snap: int = 25) -> dict:
    cfg = GrokConfig(p=p)
    tc = GrokTrainConfig(epochs=max_epochs, frac_train=frac, lr=lr, weight_decay=wd, seed=seed, data_seed=seed)
    data = grokking.make_data(p, frac, seed)
    t, y = data["tokens"], data["labels"]
    xtr, ytr, xte, yte = t[data["train_idx"]], y[data["train_idx"]], t[data["test_idx"]], y[data["test_idx"]]
    torch.manual_seed(seed)
    model = GrokTransformer(cfg)
    opt, sched = grokking.make_optimizer(model, tc)
    curve = {"epoch": [], "train_loss": [], "test_loss": [], "train_acc": [], "test_acc": []}
    snaps, grok, start = [], None, time.perf_counter()
    for e in range(max_epochs + 1):
        if e % 10 == 0:
            (trl, tra), (tel, tea) = grokking.evaluate(model, xtr, ytr), grokking.evaluate(model, xte, yte)
            for k, v in zip(curve, (e, trl, tel, tra, tea)):
                curve[k].append(v)
            grok = e if grok is None and tea > 0.99 else grok
            if grok is not None and e >= grok + 200:
                break
        if e % snap == 0:
            snaps.append((e, {k: v.detach().clone() for k, v in model.state_dict().items()}))
        if e == max_epochs:
            break
        loss = grokking.loss_fn(model(xtr), ytr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    seconds = time.perf_counter() - start
    freqs = grokking.key_frequencies(model.W_E.detach(), p)
    pm = grokking.snapshot_measures(cfg, data, snaps, freqs)
    out = {"p": p, "frac": frac, "wd": wd, "lr": lr, "seed": seed, "secs": round(seconds, 1), "epochs": curve["epoch"][-1],
           "grok": grok, "freqs": freqs, **grokking.phase_summary(curve, pm)}
    out["M"] = out.get("test_at_mem")
    return out


if __name__ == "__main__":
    torch.set_num_threads(1)
    for arg in sys.argv[1:]:
        fields = arg.split(",")
        p, frac, wd, lr, me = int(fields[0]), float(fields[1]), float(fields[2]), float(fields[3]), int(fields[4])
        print(json.dumps(run(p, frac, wd, lr, me, seed=int(fields[5]) if len(fields) > 5 else 0)), flush=True)
