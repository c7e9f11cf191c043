"""Worker for tests/test_distributed.py: a data-parallel harvest of LM A in RUN_DIR under torchrun.

    python -m torch.distributed.run --nproc_per_node 2 tests/ddp_harvest_worker.py RUN_DIR [--slow-rank1]

--slow-rank1: rank 1 reads every JSON file a second late, as a loaded machine may let it (the ranks' manifest
files must still be there when it reads them: rank 0 may only drop them once every rank has merged them).
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
torch.set_num_threads(1)

import monosem_lib.harvest.activations as activations  # noqa: E402
from monosem_lib.distributed import from_env  # noqa: E402
from tests.harvest.test_activations import CFG  # noqa: E402

run_dir, args = sys.argv[1], sys.argv[2:]
dist = from_env()
if "--slow-rank1" in args and dist.rank == 1:
    load_json = activations.load_json

    def late_load_json(*a, **k):
        time.sleep(1.0)
        return load_json(*a, **k)
    activations.load_json = late_load_json
store = activations.harvest_mlp_activations(run_dir, "A", CFG, dist=dist)
print(f"rank {dist.rank} of {dist.world}: {store.n_rows} rows, complete {store.manifest['complete']}", flush=True)
