"""The scorecard: merged records and the markdown table."""
from monosem_lib.pipeline.scorecard import record, write_markdown


def test_scorecard_merges_and_renders(tmp_path):
    record(tmp_path, {"lm.A.val_loss": 4.0})
    card = record(tmp_path, {"sae.A.loss_recovered": 0.81, "x.nan": float("nan")})
    assert card == {"lm.A.val_loss": 4.0, "sae.A.loss_recovered": 0.81, "x.nan": None}
    md = write_markdown(tmp_path).read_text()
    assert "| `sae.A.loss_recovered` | 0.81 | 0.79 |" in md
    assert "| `univ.median_max_corr.features` | not run | 0.72 |" in md
