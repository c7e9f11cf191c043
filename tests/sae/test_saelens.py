"""SAELens interop: export -> sae_lens.SAE.load_from_disk gives the same features and reconstructions;
export -> import_saelens round-trips every recipe. The SAELens half needs the `interop` extra."""
import dataclasses
import json

import pytest
import torch

from monosem_lib.config import SAEConfig
from monosem_lib.lm.model import TinyLM
from monosem_lib.sae.saelens import HOOK_NAME, export_saelens, import_saelens
from monosem_lib.sae.train import train_sae
from tests.helpers import TINY_LM, tiny_split

RECIPES = {"paper": {}, "2024": {"l1_coeff": 0.01}, "topk": {"k": 6}, "batchtopk": {"k": 6}}


@pytest.fixture(scope="module")
def real_acts():
    """MLP activations of a (random-weight) tiny LM on token windows: real activations, not synthetic ones."""
    torch.manual_seed(0)
    lm = TinyLM(TINY_LM).eval()
    tokens = torch.from_numpy(tiny_split(n_docs=80).tokens.astype("int64"))
    windows = tokens[: len(tokens) // 16 * 16].view(-1, 16)
    with torch.no_grad():
        return lm.mlp_acts(windows).reshape(-1, TINY_LM.d_mlp)


@pytest.fixture(scope="module")
def trained(real_acts, tmp_path_factory):
    """One small SAE per recipe, trained on the real activations."""
    out = {}
    for recipe, extra in RECIPES.items():
        cfg = dataclasses.replace(SAEConfig(n_features=64, batch_size=128, n_acts=128 * 30, lr=3e-3, l1_coeff=0.003,
                                            recipe=recipe), **extra)
        batches = lambda start, cfg=cfg: (real_acts[(i * cfg.batch_size) % 1024:][:cfg.batch_size]  # noqa: E731
                                          for i in range(start, cfg.n_acts // cfg.batch_size))
        out[recipe], _ = train_sae(tmp_path_factory.mktemp(recipe), batches, TINY_LM.d_mlp, cfg, real_acts[:512])
    return out


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_export_import_round_trip(trained, real_acts, tmp_path, recipe):
    sae = trained[recipe]
    folder = export_saelens(sae, tmp_path / "sl")
    cfg = json.loads((folder / "cfg.json").read_text())
    assert cfg["metadata"]["hook_name"] == HOOK_NAME and cfg["normalize_activations"] == "none"
    assert cfg["metadata"]["monosem_input_scale_folded"] == pytest.approx(float(sae.scale))
    back = import_saelens(folder)
    x = real_acts[:2000]
    assert (back.encode(x) - sae.encode(x)).abs().max() <= 1e-5
    assert (back(x) - sae(x)).abs().max() <= 1e-5


def test_import_refuses_what_it_cannot_represent(trained, tmp_path):
    folder = export_saelens(trained["paper"], tmp_path / "sl")
    cfg = json.loads((folder / "cfg.json").read_text())
    (folder / "cfg.json").write_text(json.dumps({**cfg, "architecture": "gated"}))
    with pytest.raises(ValueError, match="architecture 'gated' is not supported"):
        import_saelens(folder)
    with pytest.raises(FileNotFoundError, match="not an SAELens folder"):
        import_saelens(tmp_path / "nothing")


@pytest.mark.parametrize("recipe", ["paper", "topk", "batchtopk", "2024"])
def test_saelens_loads_the_export_and_agrees(trained, real_acts, tmp_path, recipe):
    sae_lens = pytest.importorskip("sae_lens", reason="SAELens is an optional extra: pip install '.[interop]'")
    sae = trained[recipe]
    theirs = sae_lens.SAE.load_from_disk(export_saelens(sae, tmp_path / "sl"), device="cpu")
    assert theirs.cfg.architecture() == {"paper": "standard", "2024": "standard"}.get(recipe, recipe.replace("batchtopk", "jumprelu"))
    x = real_acts[:2000]
    with torch.no_grad():
        f_theirs, f_ours = theirs.encode(x), sae.encode(x)
        assert (f_theirs - f_ours).abs().max() <= 1e-5
        assert (theirs.decode(f_theirs) - sae.decode(f_ours)).abs().max() <= 1e-5
        assert (theirs(x) - sae(x)).abs().max() <= 1e-5
    assert (f_ours > 0).float().sum(1).mean() > 0                   # a real, non-trivial comparison
