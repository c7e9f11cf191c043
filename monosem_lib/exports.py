"""Curated exports of a stage package, imported on first use.

`ms.sae.train_saes` finds `train_saes` in sae/jobs.py and imports that module the first time it is asked for,
so importing a package does nothing (a spawned worker or the command line does not pay for matplotlib and scipy
it never uses) while a notebook reaches every public name of a stage as `ms.<stage>.<name>`.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]]) -> tuple[Callable, Callable, list[str]]:
    """(__getattr__, __dir__, __all__) for a package exporting {submodule: (name, ...)}."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f".{where[name]}", package), name)

    def __dir__() -> list[str]:
        return sorted(where)
    return __getattr__, __dir__, sorted(where)
