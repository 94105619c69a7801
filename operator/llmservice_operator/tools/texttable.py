"""Plain-text tables for the CLI's reports (``loadtest`` and ``report``).

One layout for both, so the two commands' output reads alike: each column as wide as its
widest cell, two spaces between columns, no trailing blanks.
"""

from __future__ import annotations

from collections.abc import Sequence


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    indent: str = "  ",
    numeric: bool = False,
) -> list[str]:
    """The header and rows as lines. With ``numeric``, every column after the first is
    right-aligned so figures line up by their last digit; otherwise every column is
    left-aligned, the way kubectl prints names and words. Every row must have as many
    cells as the header."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        out = indent + first.ljust(widths[0])
        for cell, width in zip(rest, widths[1:], strict=True):
            out += "  " + (cell.rjust(width) if numeric else cell.ljust(width))
        return out.rstrip()

    return [line(r) for r in [header, *rows]]
