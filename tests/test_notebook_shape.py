"""The notebooks' shape (issue #15, DESIGN.md house rules): short code cells, a check for every exercise.

Median code cell <= 8 lines and none over 15 except the imports cell; every implement-and-check exercise cell
(marked `# exercise:`) is followed by a cell calling a `check_*` helper; every end-of-notebook exercise check
reads its target (a `check_target(...)` call).
"""
import json
import re
import statistics
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def code_cells(nb: Path) -> list[list[str]]:
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    return [[line for line in "".join(c["source"]).strip().splitlines()] for c in cells if c["cell_type"] == "code"]


def is_imports(lines: list[str]) -> bool:
    """Only imports (and their continuation lines, comments, blanks)."""
    return all(re.match(r"\s*(import |from |#|$|\s+\w|\))", ln) or ln.rstrip().endswith((",", "(")) for ln in lines)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_are_short(nb):
    cells = code_cells(nb)
    lengths = [len(c) for c in cells]
    long = [i for i, c in enumerate(cells) if len(c) > 15 and not is_imports(c)]
    assert statistics.median(lengths) <= 8, (nb.name, statistics.median(lengths))
    assert not long, f"{nb.name}: code cells over 15 lines: {[(i, lengths[i]) for i in long]}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_a_check(nb):
    cells = code_cells(nb)
    marked = [i for i, c in enumerate(cells) if any("# exercise:" in ln for ln in c)]
    for i in marked:
        assert i + 1 < len(cells) and any("check_" in ln for ln in cells[i + 1]), \
            f"{nb.name}: the exercise in code cell {i} is not followed by a check_* call"
    assert any("check_target(" in ln for c in cells for ln in c), f"{nb.name}: no exercise with a numeric target"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_imports_are_few_and_artifacts_come_from_the_run(nb):
    """Each notebook imports under 10 names (the library as `ms`, its stages as `ms.<stage>`) and reaches the
    run's artifacts through `Run` (run.lm / run.sae / run.store / run.tokens / run.path), never by building paths."""
    import ast

    imports = ast.parse("\n".join(code_cells(nb)[1]))
    names = [a.asname or a.name for node in imports.body if isinstance(node, (ast.Import, ast.ImportFrom))
             for a in node.names]
    assert len(names) < 10, f"{nb.name}: {len(names)} names imported: {names}"
    built = [ln for c in code_cells(nb)[2:] for ln in c if re.search(r"run_dir\s*/", ln)]
    assert not built, f"{nb.name}: artifact paths built by hand (use the Run): {built}"
