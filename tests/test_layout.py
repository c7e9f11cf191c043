"""The package's shape, read from its import graph: stages import only earlier stages, no cycles.

monosem_lib/ holds one sub-package per notebook stage plus a few shared modules. A stage may import
the shared modules and the stages before it; `pipeline` may import every stage; shared modules import
no stage. Lazy imports inside functions count too.
"""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "monosem_lib"
STAGES = ["text", "lm", "harvest", "sae", "toy", "interpret", "universality", "steering", "pipeline"]
SHARED = {"config", "setting_rules", "io", "checkpoint", "parallel", "exercises", "distributed", "exports", "reuse", "machine"}
ENTRY = {"__init__", "__main__"}                 # the public API and `python -m`: may import anything


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every monosem_lib module that `path` imports (relative or absolute, at any depth)."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" and "." in name else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "monosem_lib":
                target = node.module.split(".")[1:]
            else:
                continue
            # `from .pkg import module` names sub-modules; `from .module import name` names the module
            for alias in node.names:
                sub = target + [alias.name]
                out.add(".".join(sub) if (PKG / Path(*sub)).with_suffix(".py").exists()
                        or (PKG / Path(*sub)).is_dir() else ".".join(target))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "monosem_lib":
                    out.add(".".join(alias.name.split(".")[1:]))
    return {m for m in out if m}


GRAPH = {module_name(p): imported_modules(p) for p in PKG.rglob("*.py")}


def stage_of(module: str) -> str:
    return module.split(".")[0]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Edges that break the stage order (a shared module importing a stage counts)."""
    bad = []
    for module, targets in graph.items():
        here = stage_of(module)
        if here in ENTRY:
            continue
        for target in targets:
            there = stage_of(target)
            if here in SHARED and there not in SHARED:
                bad.append(f"shared module {module} imports stage module {target}")
            elif here not in SHARED and there not in SHARED and STAGES.index(there) > STAGES.index(here):
                bad.append(f"{module} imports later stage {target}")
    return bad


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> list[str] | None:
        state[m] = 1
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                return path + [m, t]
            if t not in state and (found := visit(t, path + [m])):
                return found
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m, [])):
            return found
    return None


def test_top_level_holds_only_shared_modules_and_stage_packages():
    top = {p.stem for p in PKG.glob("*.py")} - ENTRY
    assert top == SHARED, f"put stage modules into their stage's folder: {sorted(top - SHARED)}"
    packages = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(STAGES)


def test_imports_go_only_to_earlier_stages_or_shared_modules():
    assert upward_imports(GRAPH) == []


def test_no_import_cycles():
    assert find_cycle(GRAPH) is None


def test_the_checks_catch_an_upward_import_and_a_cycle():
    bad = {"text.corpus": {"sae.model"}, "sae.model": {"text.corpus"}, "io": {"lm.model"}}
    assert upward_imports(bad) == ["text.corpus imports later stage sae.model",
                                   "shared module io imports stage module lm.model"]
    assert find_cycle(bad) == ["sae.model", "text.corpus", "sae.model"]


def test_known_edges_are_seen():
    assert {"sae.model", "harvest.store"} <= GRAPH["sae.jobs"]
    assert "text.splits" in GRAPH["lm.train"]                     # a lazy import inside a function
    assert "lm.model" in GRAPH["__init__"]


def test_tests_mirror_the_package():
    tests = Path(__file__).resolve().parent
    missing = [stage for stage in STAGES if not (tests / stage).is_dir()]
    assert not missing, f"tests/<stage>/ missing for {missing}"


def test_every_stage_export_resolves_and_none_hides_a_module():
    import importlib

    for stage in STAGES:
        pkg = importlib.import_module(f"monosem_lib.{stage}")
        modules = {p.stem for p in (PKG / stage).glob("*.py")}
        assert not set(pkg.__all__) & modules, f"{stage} exports a name that is also a module"
        for name in pkg.__all__:
            assert getattr(pkg, name) is not None, f"monosem_lib.{stage}.{name}"
