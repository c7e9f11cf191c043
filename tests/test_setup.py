"""The two-command setup: pyproject and environment.yml agree; the Makefile pins torch first."""
import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[]", req, maxsplit=1)[0].lower()


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert sorted(pip) == sorted(wanted)
    assert "torch==2.13.0" in wanted
    assert {"torch", "numpy", "tokenizers", "safetensors", "tqdm", "matplotlib", "plotly", "ipywidgets",
            "jupyterlab", "papermill", "nbval", "pytest"} <= {_name(r) for r in wanted}


def test_makefile_installs_pinned_torch_before_the_package():
    make = (ROOT / "Makefile").read_text()
    assert make.index("torch==2.13.0") < make.index('pip install -e ".[dev]"')
    assert re.search(r"^test:", make, re.M) and re.search(r"^replicate:", make, re.M)


def test_ci_calls_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


def test_notebooks_are_committed_without_outputs():
    import json
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        assert not any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), path.name
        assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb["cells"]), path.name


def test_make_test_lints_with_the_ruff_rules_of_pyproject():
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: venv lint$", make, re.M) and re.search(r"^lint: venv\n\t\$\(PY\) -m ruff check \.$", make, re.M)
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert {"F", "E4", "E7", "E9", "W"} <= set(lint["select"])
    assert "ruff" in {_name(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
                      ["optional-dependencies"]["dev"]}


def test_readme_is_short_and_every_link_stays_in_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 12_000
    for doc in ("README.md", "docs/USAGE.md", "docs/RESULTS.md"):
        text = (ROOT / doc).read_text()
        assert "../" not in text.replace("](../", "]("), doc              # nothing outside the clone
        for link in re.findall(r"\]\(([^)#]+)\)", text):
            assert link.startswith("http") or (ROOT / doc).parent.joinpath(link).exists(), (doc, link)
