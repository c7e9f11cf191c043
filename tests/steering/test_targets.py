"""What notebook 06 steers with: notebook 04's choice (a one-line error without it) and column statistics of codes."""
import pytest
import torch

from monosem_lib.io import save_json
from monosem_lib.sae.codes import csr
from monosem_lib.steering import targets


def test_category_features_come_from_notebook_04(tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebook 04_interpret_features first"):
        targets.load_category_features(tmp_path)
    save_json(tmp_path / "eval" / "category_features.json", {"arabic": {"feature": 3, "max_act": 2.0}})
    assert targets.load_category_features(tmp_path)["arabic"]["feature"] == 3


def test_column_statistics_of_csr_codes():
    dense = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [1.0, 0.5, 0.0]])
    rows, cols = torch.nonzero(dense, as_tuple=True)
    crow = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(torch.bincount(rows, minlength=4), 0)])
    codes = csr(crow.int(), cols.int(), dense[rows, cols], (4, 3))
    assert targets.column_stats(codes, 1) == {"max": 3.0, "row": 2, "mean": pytest.approx(4.5 / 4)}
    assert targets.column_stats(codes, 2) == {"max": 0.0, "row": -1, "mean": 0.0}
    assert torch.equal(targets.column_max(codes), torch.tensor([2.0, 3.0, 0.0]))
