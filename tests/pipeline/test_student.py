"""Student notebooks (`make student`): every implement-and-check exercise holds a stub that its check fails, naming
what is left to write, and the solution folded under it passes the same check; the shipped notebooks stay solved."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import rankdata

import monosem_lib as ms
from monosem_lib.interpret import autointerp
from monosem_lib.interpret import feature_stats as fs
from monosem_lib.lm.model import TinyLM
from monosem_lib.pipeline.cli import main
from monosem_lib.pipeline.runner import list_notebooks
from monosem_lib.pipeline.student import MARK, exercise_cells, student_notebook
from monosem_lib.sae.model import SAE
from monosem_lib.universality.matching import encode_sparse
from tests.helpers import TINY_LM
from tests.interpret.common import planted
from tests.sae.common import DATA, make_sae

L1, LR = 0.01, 1e-3
EXERCISES = {"toy_forward", "mmcs", "my_train_step", "my_resample", "explain_tokens", "spearman", "max_corr",
             "shuffled_control", "pin_feature", "ablate_feature"}


def source(cell: dict) -> str:
    return "".join(cell["source"])


def pairs() -> list[tuple[str, str, str, dict]]:
    """(function name, stub cell, solution cell, shipped notebook) for every implement exercise of every notebook."""
    out = []
    for path in list_notebooks():
        shipped = json.loads(path.read_text(encoding="utf-8"))
        student = student_notebook(shipped)
        stubs = [source(student["cells"][i]) for i in exercise_cells(student)]
        solutions = [source(shipped["cells"][i]) for i in exercise_cells(shipped)]
        assert len(stubs) == len(solutions), path.name
        for stub, solution in zip(stubs, solutions):
            name = solution.split("def ", 1)[1].split("(", 1)[0]
            out.append((name, stub, solution, shipped))
    return out


PAIRS = pairs()


def defined(code: str, name: str, **names) -> object:
    """The function `name` defined by a cell's code, run with the notebook's imports and `names` in scope."""
    scope = {"torch": torch, "np": np, "ms": ms, "rankdata": rankdata, **names}
    exec(compile(code, f"<{name}>", "exec"), scope)          # the notebooks' own cells
    return scope[name]


def tiny_steering():
    torch.manual_seed(0)
    lm, sae = TinyLM(TINY_LM).eval(), SAE(32, 64, seed=0)
    with torch.no_grad():
        sae.b_dec.normal_(0, 0.1), sae.b_enc.fill_(0.05), sae.scale.fill_(1.7)
    tokens = torch.randint(1, 300, (2, 16))
    with torch.no_grad():
        i = int(sae.encode(lm.mlp_acts(tokens)).flatten(0, 1).sum(0).argmax())
    return lm, sae, tokens, i


def sparse_pair():
    g = torch.Generator().manual_seed(0)
    x = torch.relu(torch.randn(2000, 24, generator=g))
    sae_a, sae_b = SAE(24, 40, seed=0), SAE(24, 40, seed=1)
    with torch.no_grad():
        sae_a.b_enc.fill_(-0.5), sae_b.b_enc.fill_(-0.5)
    return encode_sparse(sae_a, x), encode_sparse(sae_b, x + 0.3 * torch.relu(torch.randn(2000, 24, generator=g)))


def run_check(name: str, code: str, shipped: dict) -> None:
    """Define the exercise's function from `code` and run its notebook's check on small fixtures."""
    if name in ("toy_forward", "mmcs"):
        check = ms.toy.check_toy_forward if name == "toy_forward" else ms.toy.check_mean_max_cosine
        return check(defined(code, name))
    if name in ("my_train_step", "my_resample"):
        ref = next(source(c) for c in shipped["cells"] if "def reference_sae_loss" in source(c))
        fn, sae = defined(code, name, reference_sae_loss=defined(ref, "reference_sae_loss")), make_sae()
        if name == "my_train_step":
            return ms.sae.check_train_step(fn, sae, DATA.sample(256, seed=3) * sae.scale, L1, LR)
        return ms.sae.check_resample(fn, sae, DATA.sample(512, seed=7) * sae.scale, L1, LR, seed=4)
    if name in ("explain_tokens", "spearman"):
        _, _, tokens, coef = planted(n_rows=6000)
        ua, text = fs.UnitActs.from_dense(coef), autointerp.HeldoutText.from_tokens(tokens, window=32)
        check = ms.interpret.check_explain_tokens if name == "explain_tokens" else ms.interpret.check_spearman
        return check(defined(code, name), ua, text)
    if name in ("max_corr", "shuffled_control"):
        fa, fb = sparse_pair()
        solved = next(sol for n, _, sol, _ in PAIRS if n == "max_corr")
        max_corr = defined(solved, "max_corr")
        if name == "max_corr":
            return ms.universality.check_max_corr(defined(code, name), fa, fb)
        return ms.universality.check_shuffled_control(defined(code, name, max_corr=max_corr), max_corr, fa, fb)
    lm, sae, tokens, i = tiny_steering()
    if name == "pin_feature":
        return ms.steering.check_pin_feature(defined(code, name, sae=sae), lm, sae, tokens, i)
    return ms.steering.check_ablate_feature(defined(code, name, sae=sae), lm, sae, tokens, i, 0.3)


def test_every_implement_exercise_has_a_stub_and_a_folded_solution():
    assert {name for name, *_ in PAIRS} == EXERCISES
    for path in list_notebooks():
        shipped = json.loads(path.read_text(encoding="utf-8"))
        student = student_notebook(shipped)
        for i in exercise_cells(student):
            assert "raise NotImplementedError(" in source(student["cells"][i])
            folded = student["cells"][i + 1]
            assert folded["cell_type"] == "markdown" and folded["metadata"]["jupyter"]["source_hidden"]
            assert "<details>" in source(folded) and MARK not in source(folded)
        assert not any("raise NotImplementedError(" in source(c) for c in shipped["cells"]), path.name
        assert len({c["id"] for c in student["cells"]}) == len(student["cells"])
        assert "<summary>Stub</summary>" not in "".join(source(c) for c in student["cells"])


@pytest.mark.parametrize("name, stub, solution, shipped", PAIRS, ids=[p[0] for p in PAIRS])
def test_the_check_fails_the_stub_naming_the_missing_step_and_passes_the_solution(name, stub, solution, shipped,
                                                                                  capsys):
    with pytest.raises(AssertionError) as err:
        run_check(name, stub, shipped)
    msg = str(err.value)
    assert msg.startswith(f"✗ not written yet: {name}: ") and "\n" not in msg and len(msg) > len(name) + 25
    run_check(name, solution, shipped)
    assert capsys.readouterr().out.startswith("✓")


def test_the_command_writes_the_student_copies(tmp_path):
    assert main(["student", "--out", str(tmp_path / "student")]) == 0
    written = sorted(p.name for p in (tmp_path / "student").glob("*.ipynb"))
    assert written == [p.name for p in list_notebooks()]
    nb = json.loads((tmp_path / "student" / "03_train_sae.ipynb").read_text(encoding="utf-8"))
    assert sum("raise NotImplementedError(" in source(c) for c in nb["cells"]) == 2
    assert Path(list_notebooks()[3]).read_text(encoding="utf-8").count("raise NotImplementedError(") == 0
