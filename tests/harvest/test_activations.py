"""The activation store: round trip, shuffled reader, held-out slice, corruption, mixing, disk space."""
from __future__ import annotations

import shutil
from collections import namedtuple

import numpy as np
import pytest
import torch

from monosem_lib.config import HarvestConfig, LMConfig
from monosem_lib.harvest.activations import harvest_mlp_activations, plan_contexts
from monosem_lib.harvest.store import ActivationStore, open_store
from monosem_lib.io import CorruptFileError
from monosem_lib.lm.model import TinyLM, save_lm
from monosem_lib.text.splits import TokenSplit, load_split, save_split

torch.set_num_threads(1)
LM_CFG = dict(d_model=16, n_heads=2, d_mlp=32, n_ctx=16, vocab_size=300)
CFG = HarvestConfig(n_rows=3000, heldout_rows=500, positions_per_context=4, shard_rows=1024,
                    dtype="float16", batch_contexts=64, seed=0)


def _split(rng: np.random.Generator, n_docs: int, lo: int, hi: int) -> TokenSplit:
    """Random documents (token ids in [lo, hi)), each preceded by EOT=0, two categories."""
    lengths = rng.integers(20, 120, n_docs)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    tokens = rng.integers(lo, hi, int(lengths.sum())).astype(np.uint16)
    tokens[starts] = 0
    return TokenSplit(tokens, starts.astype(np.int64), np.arange(n_docs, dtype=np.int64) + 1000 * (lo > 1),
                      (np.arange(n_docs) % 2).astype(np.int16), ["english", "python"])


def _save_model(run_dir, name: str, seed: int) -> TinyLM:
    torch.manual_seed(seed)
    lm = TinyLM(LMConfig(**LM_CFG)).eval()
    save_lm(lm, run_dir / "lm" / name)
    return lm


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run dir with train/val splits (disjoint token ranges), LMs A and B, and both stores."""
    run_dir = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(0)
    save_split(_split(rng, 60, 1, 150), run_dir / "tokens" / "train")   # ~4k tokens: the plan needs 3 passes
    save_split(_split(rng, 30, 150, 300), run_dir / "tokens" / "val")
    lms = {name: _save_model(run_dir, name, seed) for name, seed in (("A", 0), ("B", 1))}
    stores = {name: harvest_mlp_activations(run_dir, name, CFG) for name in lms}
    return namedtuple("Run", "dir lms stores")(run_dir, lms, stores)


def _all_rows(store: ActivationStore, part: str) -> np.ndarray:
    return np.concatenate([np.load(store.folder / s["acts"]["file"]) for s in store.manifest["parts"][part]["shards"]])


def test_round_trip_matches_mlp_acts(run):
    store, lm = run.stores["A"], run.lms["A"]
    assert store.n_rows == CFG.n_rows and store.n_heldout == CFG.heldout_rows and store.d_mlp == 32
    assert store.stats["tokens_per_s"] > 0 and store.stats["bytes"] > 0
    for part, tok_split in (("train", "train"), ("heldout", "val")):
        split = load_split(run.dir / "tokens" / tok_split)
        info, acts = store.row_info(part), _all_rows(store, part)
        assert acts.dtype == np.float16 and len(info["token_index"]) == len(acts)
        assert store.manifest["parts"][part]["token_split"] == tok_split
        ti, cp = info["token_index"], info["ctx_pos"].astype(np.int64)
        assert (cp >= 1).all() and (cp < 16).all()           # position 0 of a window is never taken
        assert (split.tokens[ti] == info["token_id"]).all()
        doc = split.doc_index(ti)
        assert (split.doc_ids[doc] == info["doc_id"]).all() and (split.doc_category[doc] == info["category"]).all()
        assert (ti - split.doc_starts[doc] == info["position"]).all()
        assert len(np.unique(ti * 16 + cp)) == len(ti)       # no (token, context position) pair twice
        pick = np.random.default_rng(1).choice(len(ti), 200, replace=False)
        win = split.tokens[(ti[pick] - cp[pick])[:, None] + np.arange(16)].astype(np.int64)
        ref = lm.mlp_acts(torch.from_numpy(win))[torch.arange(200), torch.from_numpy(cp[pick])]
        torch.testing.assert_close(torch.from_numpy(acts[pick]).float(), ref, atol=2e-3, rtol=2e-3)
    every = torch.from_numpy(_all_rows(store, "heldout")).float()
    torch.testing.assert_close(store.heldout(), every)
    torch.testing.assert_close(store.heldout(n_rows=123), every[:123])           # a head, across no shard edge
    torch.testing.assert_close(store.heldout(n_rows=10**9), every)
    torch.testing.assert_close(store.heldout_mean(), every.mean(0), atol=1e-5, rtol=1e-5)


def test_one_epoch_returns_every_row_once_and_never_heldout(run):
    store = run.stores["A"]
    batches = list(store.iter_batches(256, seed=3))
    assert all(b.dtype == torch.float32 and b.shape[1] == 32 for b in batches)
    assert [len(b) for b in batches[:-1]] == [256] * (len(batches) - 1)
    got = torch.cat(batches).numpy().astype(np.float16)
    want = _all_rows(store, "train")
    order = lambda a: a[np.lexsort(a.T)]  # noqa: E731
    assert np.array_equal(order(got), order(want))           # a permutation of the stored rows
    assert not np.array_equal(got, want)                     # ... and actually shuffled
    train = {r.tobytes() for r in want}
    assert not any(r.tobytes() in train for r in _all_rows(store, "heldout"))
    again = list(store.iter_batches(256, seed=3))
    assert all(torch.equal(a, b) for a, b in zip(batches, again))         # seeded
    resumed = list(store.iter_batches(256, seed=3, start_batch=5))
    assert all(torch.equal(a, b) for a, b in zip(batches[5:], resumed)) and len(resumed) == len(batches) - 5


def test_second_epoch_warns(run):
    store = run.stores["A"]
    with pytest.warns(UserWarning, match="without replacement"):
        n = sum(len(b) for b in store.iter_batches(1000, epochs=2))
    assert n == 2 * store.n_rows


def test_sample_rows_are_training_rows(run):
    store = run.stores["A"]
    s = store.sample(100, seed=1)
    assert s.shape == (100, 32) and s.dtype == torch.float32
    train = {r.tobytes() for r in _all_rows(store, "train")}
    assert all(r.tobytes() in train for r in s.numpy().astype(np.float16))
    assert len({r.tobytes() for r in s.numpy()}) > 90


def test_two_models_share_row_order(run):
    a, b = run.stores["A"], run.stores["B"]
    for part in ("train", "heldout"):
        ia, ib = a.row_info(part), b.row_info(part)
        assert all(np.array_equal(ia[k], ib[k]) for k in ia)
    assert a.manifest["model"]["sha256"] != b.manifest["model"]["sha256"]
    assert not np.array_equal(_all_rows(a, "train"), _all_rows(b, "train"))


def test_plan_depends_on_seed_and_split_only():
    s1, p1 = plan_contexts(1000, 16, 3000, 4, seed=0)
    s2, p2 = plan_contexts(1000, 16, 3000, 4, seed=0)
    s3, _ = plan_contexts(1000, 16, 3000, 4, seed=1)
    assert np.array_equal(s1, s2) and np.array_equal(p1, p2) and not np.array_equal(s1, s3)
    assert (s1 + 16 <= 1000).all() and (p1 >= 1).all()
    assert len(np.unique((s1[:, None] + p1) * 16 + p1)) == p1.size
    with pytest.raises(ValueError, match="n_rows"):
        plan_contexts(100, 16, 100_000, 4, seed=0)


def test_reuse_and_resume(run, tmp_path):
    run_dir = tmp_path / "r"
    shutil.copytree(run.dir / "tokens", run_dir / "tokens")
    shutil.copytree(run.dir / "lm" / "A", run_dir / "lm" / "A")
    store = harvest_mlp_activations(run_dir, "A", CFG)
    first = store.folder / "train_00001.npy"
    mtime = first.stat().st_mtime_ns
    assert harvest_mlp_activations(run_dir, "A", CFG).n_rows == CFG.n_rows
    assert first.stat().st_mtime_ns == mtime                 # a complete store is reused, not rewritten
    crc = store.manifest["parts"]["train"]["shards"][1]["acts"]["crc32"]
    first.unlink()
    again = harvest_mlp_activations(run_dir, "A", CFG)       # resumes: redoes only the missing shard
    assert again.manifest["parts"]["train"]["shards"][1]["acts"]["crc32"] == crc
    assert again.stats["rows_written"] == 1024
    again.verify()


def test_corruption_is_detected_and_named(run, tmp_path):
    folder = tmp_path / "acts" / "A"
    shutil.copytree(run.stores["A"].folder, folder)
    store = ActivationStore(folder)
    store.verify()
    path = folder / "train_00001.npy"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError, match="train_00001.npy"):
        store.verify()
    with pytest.raises(CorruptFileError, match="train_00001.npy"):
        list(store.iter_batches(512))
    with open(folder / "heldout_00000.npy", "r+b") as fh:
        fh.truncate(1000)
    with pytest.raises(CorruptFileError, match="heldout_00000.npy.*truncated"):
        store.verify(("heldout",))


def test_different_model_refuses_to_mix(run, tmp_path):
    run_dir = tmp_path / "r"
    shutil.copytree(run.dir / "tokens", run_dir / "tokens")
    shutil.copytree(run.dir / "acts" / "A", run_dir / "acts" / "A")
    _save_model(run_dir, "A", seed=7)                        # other weights under the same name
    with pytest.raises(ValueError, match=r"another model.*delete"):
        harvest_mlp_activations(run_dir, "A", CFG)
    shutil.copytree(run.dir / "lm" / "A", run_dir / "lm" / "A", dirs_exist_ok=True)
    with pytest.raises(ValueError, match="n_rows"):
        harvest_mlp_activations(run_dir, "A", HarvestConfig(**{**vars(CFG), "n_rows": 2000}))


def test_disk_space_checked_before_writing(run, tmp_path, monkeypatch):
    run_dir = tmp_path / "r"
    shutil.copytree(run.dir / "tokens", run_dir / "tokens")
    shutil.copytree(run.dir / "lm" / "A", run_dir / "lm" / "A")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(OSError, match=r"need .* GB, .* GB free"):
        harvest_mlp_activations(run_dir, "A", CFG)
    assert not (run_dir / "acts").exists()


def test_missing_inputs_name_the_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="01_train_tiny_lm"):
        harvest_mlp_activations(tmp_path, "A", CFG)
    with pytest.raises(FileNotFoundError, match="02_harvest_activations"):
        open_store(tmp_path, "A")


def test_float16_overflow_is_refused_float32_works(run, tmp_path):
    run_dir = tmp_path / "r"
    shutil.copytree(run.dir / "tokens", run_dir / "tokens")
    lm = _save_model(run_dir, "A", seed=0)
    lm.mlp.W_in.weight.data *= 1e6                           # activations far above 65,504
    save_lm(lm, run_dir / "lm" / "A")
    small = dict(vars(CFG), n_rows=200, heldout_rows=40)
    with pytest.raises(OverflowError, match="float32"):
        harvest_mlp_activations(run_dir, "A", HarvestConfig(**small))
    shutil.rmtree(run_dir / "acts")
    store = harvest_mlp_activations(run_dir, "A", HarvestConfig(**{**small, "dtype": "float32"}))
    assert store.heldout().max() > 65_504 and np.load(store.folder / "train_00000.npy").dtype == np.float32


def test_train_saes_writes_the_artifact_layout(run, tmp_path):
    import dataclasses

    from monosem_lib.config import SAEConfig
    from monosem_lib.pipeline.run import Run
    from monosem_lib.sae.jobs import train_saes

    cfg = SAEConfig(recipe="paper", n_features=48, l1_coeff=0.01, lr=3e-3, batch_size=256, n_acts=1024, resample_pool=256)
    jobs = {"A": ("A", cfg), "B": ("B", cfg), "A_16": ("A", dataclasses.replace(cfg, n_features=16))}
    hists = train_saes(run.dir, jobs, parallel=True)           # spawned processes, one thread each
    assert set(hists) == set(jobs) and all(h["n_steps"] == 4 for h in hists.values())
    for name in jobs:
        assert {"sae.safetensors", "config.json", "history.json"} <= {p.name for p in (run.dir / "sae" / name).iterdir()}
    r = Run(run.dir)
    assert r.sae("A_16").n_features == 16 and r.sae("A_16") is r.sae("A_16")          # loaded once, then kept
    assert r.store("A").n_rows == run.stores["A"].n_rows and r.lm("B").cfg.d_mlp == 32
    assert r.tokens(r.store("A").token_split("heldout")).tokens.shape == load_split(run.dir / "tokens" / "val").tokens.shape
    assert r.path("sae", "A") == run.dir / "sae" / "A" and r.metrics == {}
    assert r.record({"x.y": 1.0}) == {"x.y": 1.0} == r.metrics
    again = train_saes(run.dir, {"A": ("A", cfg)}, parallel=False)     # finished: reloaded, not retrained
    assert again["A"] == hists["A"]
    with pytest.raises(FileNotFoundError, match="02_harvest_activations"):
        train_saes(tmp_path, {"A": ("A", cfg)})


def test_rank_parts_of_each_batch_tile_it(run):
    """iter_batches(part=(r, w)): rank r's contiguous slice of every batch; the parts together are the batch."""
    store = run.stores["A"]
    full = list(store.iter_batches(256, seed=3))
    parts = [list(store.iter_batches(256, seed=3, part=(r, 3))) for r in range(3)]
    for k, batch in enumerate(full):
        assert torch.equal(torch.cat([p[k] for p in parts]), batch)
    assert store.fingerprint() == ActivationStore(store.folder).fingerprint() != run.stores["B"].fingerprint()


def test_rank_manifests_are_merged_into_one(run, tmp_path):
    """Shards recorded by ranks in .manifest.rank<r>.json (a data-parallel harvest killed before rank 0 merged
    them) are kept on the next start: nothing is harvested again."""
    import json
    from monosem_lib.io import save_json
    run_dir = tmp_path / "r"
    shutil.copytree(run.dir / "tokens", run_dir / "tokens")
    shutil.copytree(run.dir / "lm" / "A", run_dir / "lm" / "A")
    store = harvest_mlp_activations(run_dir, "A", CFG)
    manifest = json.loads((store.folder / "manifest.json").read_text())
    moved = manifest["parts"]["train"]["shards"].pop(1)
    save_json(store.folder / "manifest.json", manifest)                    # as a data-parallel harvest leaves them
    save_json(store.folder / ".manifest.rank1.json", {"train": [moved], "heldout": []})
    again = harvest_mlp_activations(run_dir, "A", CFG)
    assert again.n_rows == CFG.n_rows and not list(store.folder.glob(".manifest.rank*"))
    again.verify()
