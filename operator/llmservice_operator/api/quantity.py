"""Kubernetes resource quantities (``500m``, ``2Gi``, ``1e3``) read exactly, in pure Python.

The API server compares quantities by value and prints them in a canonical form; the
checks it makes on the children that the CRD cannot afford in CEL (``api.childchecks``:
extended resources in whole units, a request equal to its limit, hugepage multiples,
downward-API divisors) need the same arithmetic without cel-python, which the operator's
image does not carry. ``tools.render.cel`` builds its ``quantity()`` on this module too.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Final, Literal

Family = Literal["binary", "decimal", "exponent"]

_QUANTITY_RE: Final = re.compile(
    r"^(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
BINARY_SUFFIXES: Final = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
DECIMAL_SUFFIXES: Final = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T"}
DECIMAL_SUFFIXES_BIG: Final = {15: "P", 18: "E"}
_DECIMAL_POWERS: Final = {
    suffix: power for power, suffix in {**DECIMAL_SUFFIXES, **DECIMAL_SUFFIXES_BIG}.items()
}


def is_quantity(text: str) -> bool:
    """Whether ``text`` is a quantity in Kubernetes' grammar (the sign included)."""
    return _QUANTITY_RE.match(text) is not None


def parse(text: str) -> tuple[Fraction, Family]:
    """The exact value of a quantity and its suffix family; ``ValueError`` if it is none."""
    match = _QUANTITY_RE.match(text)
    if match is None:
        raise ValueError(f"invalid quantity {text!r}")
    number = Fraction(match["num"])
    suffix = match["suffix"] or ""
    if suffix in BINARY_SUFFIXES[1:]:
        return number * 1024 ** BINARY_SUFFIXES.index(suffix), "binary"
    if suffix in _DECIMAL_POWERS:
        return number * Fraction(10) ** _DECIMAL_POWERS[suffix], "decimal"
    return number * Fraction(10) ** int(suffix[1:]), "exponent"


def value(text: str | int) -> Fraction:
    """The exact value of a quantity given as text or as a whole number."""
    if isinstance(text, int):
        return Fraction(text)
    return parse(text)[0]


def canonical(text: str | int) -> str:
    """The quantity as the API server prints it (``1000m`` is ``1``, ``1024Ki`` is ``1Mi``,
    ``1e3`` stays ``1e3``): what it compares with lists of allowed spellings.

    A binary amount of at least 1024 that is a whole number keeps a binary suffix; other
    amounts are written as a whole number times a power of 1000, fractions below ``1n``
    rounded up, as the API server does.
    """
    amount, family = (Fraction(text), "decimal") if isinstance(text, int) else parse(text)
    if family == "binary" and abs(amount) >= 1024 and amount.denominator == 1:
        whole, step = int(amount), 0
        while whole % 1024 == 0 and step < len(BINARY_SUFFIXES) - 1:
            whole, step = whole // 1024, step + 1
        return f"{whole}{BINARY_SUFFIXES[step]}"
    power = 0
    while amount.denominator != 1 and power > -9:
        amount, power = amount * 1000, power - 3
    whole = -((-amount.numerator) // amount.denominator)  # rounded up, as Kubernetes does
    while whole != 0 and whole % 1000 == 0 and power < 18:
        whole, power = whole // 1000, power + 3
    if family == "exponent":
        return f"{whole}e{power}" if power else str(whole)
    suffix = {**DECIMAL_SUFFIXES, **DECIMAL_SUFFIXES_BIG}[power]
    return f"{whole}{suffix}"
