"""Finite-state automata: a planted two-state automaton (a lead piece and its continuation that predict each other) is
found with the right edges, on the dense (few units) and the sparse (many units) counter alike."""
import matplotlib
import numpy as np
import pytest
import torch

from monosem_lib.harvest.eval_tokens import EvalTokens
from monosem_lib.interpret import automata, automata_report

matplotlib.use("Agg")
LEAD, CONT, V, N_CTX = 5, 6, 50, 32


def _stream(n_windows: int = 300, p: float = 0.15, seed: int = 0) -> EvalTokens:
    """Windows of filler tokens (10..49) with the pair LEAD CONT planted at rate p."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n_windows * N_CTX:
        out += [LEAD, CONT] if rng.random() < p else [int(rng.integers(10, V))]
    windows = np.array(out[:n_windows * N_CTX], np.int64).reshape(n_windows, N_CTX)
    return EvalTokens(windows, np.zeros(n_windows, np.int8), np.arange(n_windows) * N_CTX)


def _planted(ev: EvalTokens, n_units: int = 2):
    """Codes where unit 0 fires on LEAD and unit 1 on CONT; logits: 0 predicts CONT, 1 predicts LEAD."""
    tok = torch.from_numpy(ev.token_ids)
    dense = torch.zeros(len(tok), n_units)
    dense[:, 0], dense[:, 1] = (tok == LEAD).float(), 2.0 * (tok == CONT).float()
    logits = torch.randn(n_units, V, generator=torch.Generator().manual_seed(0)) * 0.1
    logits[0, CONT], logits[1, LEAD] = 5.0, 5.0
    c = dense.to_sparse_csr()         # int32 indices, as the cached codes have (scipy shares such arrays)
    return torch.sparse_csr_tensor(c.crow_indices().int(), c.col_indices().int(), c.values(), size=c.shape), logits


def _bytes() -> list[bytes]:
    tb = [bytes([65 + i % 26]) for i in range(V)]
    tb[LEAD], tb[CONT] = b"\xd8", b"\xa7"            # the two halves of an Arabic letter
    return tb


@pytest.mark.parametrize("n_units", [2, 1100], ids=["dense", "sparse"])
def test_a_planted_two_state_automaton_is_found_with_its_edges(n_units):
    ev = _stream()
    codes, logits = _planted(ev, n_units)
    cats = np.zeros(ev.n_tokens, np.int64)
    before = [t.clone() for t in (codes.crow_indices(), codes.col_indices(), codes.values())]
    tr = automata.count_codes(codes, ev, cats, 1, logits, automata.token_pieces(_bytes()), k=1)
    assert all(torch.equal(x, y) for x, y in zip(before, (codes.crow_indices(), codes.col_indices(), codes.values())))
    rep = automata_report.find_systems(tr, ["arabic"])
    assert rep.split == ["arabic"]
    system = rep.systems["arabic"]
    assert system.kind == automata_report.LEAD_CONT
    assert [(e["i"], e["j"]) for e in system.edges] == [(0, 1), (1, 0)]
    assert all(e["rate"] == 1.0 and e["ratio"] >= 5 for e in system.edges)
    assert rep.n_self_loops == 0 and len(rep.strong["i"]) == 2        # nothing else reaches the yardstick
    card = automata_report.fsa_entries(rep)
    assert card["fsa.n_self_loops"] == 0 and card["fsa.arabic.system"] == "lead/continuation"
    assert card["fsa.arabic.edges"].startswith("#0->#1 rate 1.00 vs base ")


def test_a_self_exciting_unit_is_a_self_loop_and_the_figure_draws():
    ev = _stream(p=0.0)
    tok = torch.from_numpy(ev.token_ids)
    codes = torch.stack([(tok < 15).float(), (tok >= 40).float()], 1).to_sparse_csr()  # unit 0: tokens 10..14
    logits = torch.zeros(2, V)
    logits[0, 10:15] = 1.0                                    # it predicts its own tokens
    tr = automata.count_codes(codes, ev, np.zeros(ev.n_tokens, np.int64), 1, logits,
                              automata.token_pieces(_bytes()), k=5)
    rep = automata_report.find_systems(tr, ["base64"])
    assert rep.n_self_loops == 1 and rep.self_loops["base64"][0]["i"] == 0
    panels = automata_report.fsa_panels(rep)
    labels = automata_report.fsa_labels(codes, panels, ev.token_ids, [str(i) for i in range(V)])
    assert automata_report.plot_fsa(panels, labels).axes and set(labels) == {0}


def test_codes_that_are_not_whole_windows_are_a_one_line_error():
    ev = _stream(n_windows=4)
    _, logits = _planted(ev)
    with pytest.raises(ValueError, match="not whole windows"):
        automata.count_codes(torch.zeros(40, 2).to_sparse_csr(), ev,
                             np.zeros(ev.n_tokens, np.int64), 1, logits, automata.token_pieces(_bytes()))


def test_token_pieces_reads_utf8_lead_and_continuation_bytes():
    lead, cont = automata.token_pieces([b"a", b"\xd8", b"\xa7", "\u0627".encode(), b"\xe4\xb8", b"\xad x"])
    assert lead.tolist() == [False, True, False, False, True, False]
    assert cont.tolist() == [False, False, True, False, False, True]


def test_the_sparse_count_table_turns_dense_when_that_is_smaller_and_counts_the_same(monkeypatch):
    ev = _stream()
    codes, logits = _planted(ev, 1100)
    cats = np.zeros(ev.n_tokens, np.int64)
    args = (codes, ev, cats, 1, logits, automata.token_pieces(_bytes()))
    sparse = automata.count_codes(*args, k=1, block_windows=50)
    monkeypatch.setattr(automata, "SPARSE_ENTRY_BYTES", 10 ** 9)      # any stored pair costs more than a dense table
    dense = automata.count_codes(*args, k=1, block_windows=50)
    assert (sparse.co != dense.co).nnz == 0 and sparse.co.sum() > 0
    assert all((a != b).nnz == 0 for a, b in zip(sparse.by_cat + [sparse.lead], dense.by_cat + [dense.lead]))


def test_the_mlp_path_control_says_whether_the_mlp_carries_the_continuation():
    """With W_out zero the MLP adds nothing: P(continuation) is the same with its neurons zeroed; with a large
    W_out it moves. The verdict words both cases from the numbers."""
    from monosem_lib.config import LMConfig
    from monosem_lib.lm.model import TinyLM
    ev = _stream(n_windows=20)
    torch.manual_seed(0)
    lm = TinyLM(LMConfig(d_model=16, n_heads=2, d_mlp=32, n_ctx=N_CTX, vocab_size=V)).eval()
    pieces, cats = automata.token_pieces(_bytes()), np.zeros(ev.n_tokens, np.int64)
    with torch.no_grad():
        lm.mlp.W_out.weight.zero_()
    (full, without, n), = automata.continuation_paths(lm, ev, cats, ["arabic"], pieces).values()
    assert n == int(((ev.windows[:, 1:-1]) == LEAD).sum()) > 0 and 0 < full < 1 and abs(full - without) < 1e-6
    with torch.no_grad():
        lm.mlp.W_out.weight.normal_(0, 3.0)
        lm.W_U.weight[CONT] += 5 * lm.mlp.W_out.weight.sum(1)      # the MLP's output now points at CONT
    (full2, without2, _), = automata.continuation_paths(lm, ev, cats, ["arabic"], pieces, limit=10 * (N_CTX - 1)).values()
    assert abs(full2 - without2) > 0.05
    rep = automata_report.FsaReport({}, ["arabic"], {"arabic": automata_report.System("arabic", "none")}, {}, {})
    lines, card = automata_report.continuation_verdict({"arabic": (0.97, 0.97, 100)}, rep)
    assert "predicts the continuation by itself" in lines[0] and card["fsa.continuation_drop_without_mlp"] == 0.0
    lines, card = automata_report.continuation_verdict({"arabic": (0.99, 0.46, 100)}, rep)
    assert "the MLP carries part" in lines[0] and card["fsa.arabic.p_continuation_without_mlp"] == 0.46
