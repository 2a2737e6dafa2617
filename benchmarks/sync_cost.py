"""What keeping the shared state in step costs per message, on each side (sandbox/state.py).

After every message, T compares every object of the test's that it handed to L, and L compares its
copies of them (L byte for byte: a learner may write a weight through ``.data``). A test that hands
its own model to the learner's code (3.1: ``ablate_head(_bridge2, ...)``) keeps a TransformerLens
bridge in both tables: some 180 modules and 40 weights of 50,000 floats. This builds those tables
as a grading does (the test's pickler, the learner's unpickler) and times one message's comparison:

    .venv/bin/python benchmarks/sync_cost.py [--models 2]

No sandbox, no cgroup: wall time of one process, so a loaded machine inflates it.
"""

from __future__ import annotations

import argparse
import io
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=int, default=1, help="bridges handed to the learner's code (default 1)")
    ap.add_argument("-n", type=int, default=200, help="messages timed (default 200)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    import course.models
    from autograder.grading.sandbox.state import _LUnpickler, _Sync, _t_dumps
    from course.models import tlens

    bridges = [tlens.to_bridge(course.models.load("stdlib-gpt")) for _ in range(args.models)]
    tokens = torch.zeros(4, 25, dtype=torch.long)
    t_sync, l_sync, trefs = _Sync(weak=True), _Sync(), {}

    class Learner:
        refs: dict = {}

    held = [_LUnpickler(io.BytesIO(_t_dumps(("call", 1, (b, tokens), {}), t_sync, trefs)), l_sync, Learner()).load()
            for b in bridges]
    t_sync.outgoing(only_known=True)
    l_sync.outgoing(only_known=True)
    for side, sync in (("T", t_sync), ("L", l_sync)):
        start = time.perf_counter()
        for _ in range(args.n):
            sync.touched.clear()
            sync.outgoing(only_known=True)
        print(f"{side}: {len(sync.tensors)} objects kept in step, "
              f"{(time.perf_counter() - start) / args.n * 1e3:.3f} ms a message")
    del held


if __name__ == "__main__":
    main()
