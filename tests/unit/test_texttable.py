"""The plain-text table layout that ``loadtest`` and ``report`` share."""

from __future__ import annotations

from llmservice_operator.tools.texttable import table


def test_words_are_left_aligned_and_columns_fit_their_widest_cell() -> None:
    lines = table(["POD", "STATUS"], [["web-1", "Running"], ["w", "CrashLoopBackOff"]])
    assert lines == [
        "  POD    STATUS",
        "  web-1  Running",
        "  w      CrashLoopBackOff",
    ]


def test_numeric_columns_line_up_by_their_last_digit() -> None:
    lines = table(
        ["requests", "sent", "ok"], [["chats", "120", "7"], ["total", "5", "-"]], numeric=True
    )
    assert lines == [
        "  requests  sent  ok",
        "  chats      120   7",
        "  total        5   -",
    ]


def test_no_trailing_blanks_and_a_custom_indent() -> None:
    lines = table(["A", "B"], [["long value", ""]], indent="")
    assert lines == ["A           B", "long value"]
