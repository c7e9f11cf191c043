"""What a setting may be, written beside the setting itself: `setting(default, rule)` in each stage's dataclass.

A `Rule` is a number range (ends included unless open) or a set of choices; `check_value` gives the one-line
error (with a hint of the profiles' range) for a value that breaks it, before anything is written, so a value
that fails is never pinned. A field without a rule is an error here, not a silent pass.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

INF = float("inf")
RECIPES = ("paper", "2024", "topk", "batchtopk")        # sae.recipe: the registry's names (sae/recipes.py)
RESAMPLING = ("auto", "none", "paper", "reinit")        # sae.resampling (sae/resampling.py)


@dataclass(frozen=True)
class Rule:
    """The valid values of one setting: a number range (ends included unless open), or a set of choices."""
    lo: float = -INF
    hi: float = INF
    lo_open: bool = False
    choices: tuple | None = None
    optional: bool = False            # None allowed
    integer: bool = False
    text: bool = False                # a string (a path)
    hint: str = ""                    # appended to the error, e.g. the range the profiles use

    def describe(self, plural: bool = False) -> str:
        if self.text:
            return f"{'paths' if plural else 'a path'}{' (or null)' if self.optional else ''}"
        if self.choices:
            if set(self.choices) == {True, False}:
                return "true or false"
            return "one of " + ", ".join(map(str, self.choices))
        kind = ("integers" if plural else "an integer") if self.integer else ("finite numbers" if plural else "a finite number")
        lo = "" if self.lo == -INF else f"{'>' if self.lo_open else '>='} {_fmt(self.lo)}"
        hi = "" if self.hi == INF else f"<= {_fmt(self.hi)}"
        bounds = " and ".join(b for b in (lo, hi) if b)
        return f"{kind}{' ' + bounds if bounds else ''}{' (or null)' if self.optional else ''}"

    def allows(self, v: Any) -> bool:
        """Is one value (one element, for a tuple setting) valid?"""
        if v is None and self.optional:
            return True
        if self.text:
            return isinstance(v, str)
        if self.choices is not None:
            return any(v == c and type(v) is type(c) for c in self.choices)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        return (math.isfinite(v) and (not self.integer or float(v).is_integer())
                and (v > self.lo if self.lo_open else v >= self.lo) and v <= self.hi)


def _fmt(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


# ---- the rules the dataclasses use
def integer(lo: float = 1, hi: float = INF, optional: bool = False) -> Rule:
    """An integer in [lo, hi]."""
    return Rule(lo, hi, integer=True, optional=optional)


def number(lo: float = -INF, hi: float = INF, lo_open: bool = False, hint: str = "") -> Rule:
    """A finite number in [lo, hi] ((lo, hi] with lo_open)."""
    return Rule(lo, hi, lo_open=lo_open, hint=hint)


def fraction(lo_open: bool = True, hi: float = 1.0) -> Rule:
    """A fraction in (0, 1] ([0, 1] with lo_open=False)."""
    return Rule(0.0, hi, lo_open=lo_open)


def one_of(*choices: Any) -> Rule:
    """One of a fixed set of values."""
    return Rule(choices=tuple(choices))


def text(optional: bool = True) -> Rule:
    """A string (a path), or None."""
    return Rule(text=True, optional=optional)


FLAG = one_of(True, False)
SEED = integer(0)


def setting(default: Any, rule: Rule) -> Any:
    """A dataclass field with its valid values beside it (field metadata 'rule')."""
    return field(default=default, metadata={"rule": rule})


def rule_of(stage: str, f: dataclasses.Field) -> Rule:
    """The rule of one field; a field declared without one is a programming error."""
    if "rule" not in f.metadata:
        raise TypeError(f"setting {stage}.{f.name} has no rule: declare it with setting(default, rule)")
    return f.metadata["rule"]


def check_value(key: str, value: Any, rule: Rule) -> None:
    """One-line ValueError if `value` is not valid for setting `key` (tuples: every element)."""
    for v in (value if isinstance(value, (tuple, list)) else (value,)):
        if not rule.allows(v):
            raise ValueError(f"{key}={v!r} is not valid: it must be {rule.describe()}{rule.hint}")


def validate_stage(stage: str, settings: Any) -> None:
    """Every setting of one stage's dataclass against its rule (for a stage config built without get_config)."""
    for f in dataclasses.fields(settings):
        check_value(f"{stage}.{f.name}", getattr(settings, f.name), rule_of(stage, f))
