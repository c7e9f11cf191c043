"""Student notebooks: copies of the numbered notebooks in which every implement-and-check exercise asks.

The shipped notebooks stay solved (nbval runs them). In a student copy each `# exercise:` cell that defines a
function holds its stub instead, the one folded as "Stub" in the text above it, made to raise
NotImplementedError with the steps it leaves out, so that the check under it fails naming them; the solution is
folded in a hidden markdown cell right under the stub. `python -m monosem_lib student --out DIR`, `make student`.
"""
from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path

from ..io import atomic_write

MARK = "# exercise:"
SHIPPED = "The cell below holds a solution; in the student copy (`make student`) it holds the stub."
STUDENT = "Write it in the cell below: it holds the stub, which raises until you fill it in; the solution is folded under it."
STUB_BLOCK = re.compile(r"<details><summary>Stub</summary>\s*```python\n(.*?)```\s*</details>\n?", re.S)
STUDENT_MARK = "# exercise: write this function (the stub raises until you do; the check below names what is missing)"


def exercise_cells(nb: dict) -> list[int]:
    """Indices of the implement-and-check exercise cells: code cells marked `# exercise:` that define a function."""
    return [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
            and MARK in (src := "".join(c["source"])) and re.search(r"^\s*def \w+\(", src, re.M)]


def stub_of(nb: dict, i: int) -> str:
    """The stub folded in the markdown above exercise cell i."""
    for j in range(i - 1, -1, -1):
        if nb["cells"][j]["cell_type"] == "markdown" and (m := STUB_BLOCK.search("".join(nb["cells"][j]["source"]))):
            return m.group(1)
    raise ValueError(f"exercise cell {i} has no folded stub above it (<details><summary>Stub</summary>)")


def raising_stub(stub: str) -> str:
    """The stub with `raise NotImplementedError(<the steps it leaves out>)` as the first statement of its function
    (after the docstring): the step comments of its `...` lines, or its docstring, name what is missing."""
    fn = next(n for n in ast.parse(stub).body if isinstance(n, ast.FunctionDef))
    steps = [f"{m.group(1).rstrip(' =')} ({m.group(2).strip()})" if m.group(1).strip() else m.group(2).strip()
             for m in re.finditer(r"^\s*(.*?)\.\.\.\s*#\s*(.*)$", stub, re.M)]
    doc = ast.get_docstring(fn) or ""
    what = "; ".join(steps) if steps else doc or "the whole function"
    body0 = fn.body[1] if doc and len(fn.body) > 1 else fn.body[0]
    lines = stub.splitlines()
    indent = re.match(r"\s*", lines[body0.lineno - 1]).group(0)
    if doc and len(fn.body) == 1:                      # only a docstring: raise after it
        at, indent = fn.body[0].end_lineno, re.match(r"\s*", lines[fn.body[0].lineno - 1]).group(0)
    else:
        at = body0.lineno - 1
    lines.insert(at, f"{indent}raise NotImplementedError({f'{fn.name}: {what}'!r})   # delete this line, then write it")
    return "\n".join(lines) + "\n"


def solution_cell(solution: str) -> dict:
    """A markdown cell folding the solution, its source hidden in JupyterLab."""
    code = "\n".join(ln for ln in solution.splitlines() if MARK not in ln).strip("\n")
    return {"cell_type": "markdown", "metadata": {"jupyter": {"source_hidden": True}, "tags": ["solution"]},
            "source": f"<details><summary>Solution (open it once your check passes, or when stuck)</summary>\n\n"
                      f"```python\n{code}\n```\n</details>".splitlines(keepends=True)}


def student_notebook(nb: dict) -> dict:
    """A copy of a solved notebook in which every implement-and-check exercise asks (see the module doc)."""
    nb = copy.deepcopy(nb)
    for i in reversed(exercise_cells(nb)):
        cell = nb["cells"][i]
        solution = "".join(cell["source"])
        stub = raising_stub(stub_of(nb, i))
        cell["source"] = (STUDENT_MARK + "\n" + stub).splitlines(keepends=True)
        cell["outputs"], cell["execution_count"] = [], None
        nb["cells"].insert(i + 1, solution_cell(solution))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown" and "solution" not in cell["metadata"].get("tags", []):
            text = STUB_BLOCK.sub("", "".join(cell["source"])).replace(SHIPPED, STUDENT)
            cell["source"] = text.splitlines(keepends=True)
    for k, cell in enumerate(nb["cells"]):
        cell["id"] = f"s{k:02d}"                       # unique ids after the inserted cells
    return nb


def write_student_notebooks(out: str | Path, notebooks: list[Path]) -> list[Path]:
    """Write the student copy of each notebook into `out` (same file names); returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for path in notebooks:
        nb = student_notebook(json.loads(path.read_text(encoding="utf-8")))
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        paths.append(atomic_write(out / path.name, lambda tmp, text=text: Path(tmp).write_text(text, encoding="utf-8")))
    return paths
