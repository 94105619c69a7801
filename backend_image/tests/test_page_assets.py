"""The chat page's files, without a browser: self-contained, shipped, and safe with replies.

The browser tests (test_page.py) show the page works; these hold the rules that keep it
deployable anywhere: no CDN, no external fonts, no build step, and model output never parsed
as HTML.
"""

from __future__ import annotations

import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest

BACKEND = Path(__file__).resolve().parents[1]
STATIC = BACKEND / "llmservice_backend" / "static"
FILES = ("index.html", "app.css", "app.js")


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags() -> list[tuple[str, dict[str, str | None]]]:
    parser = _Collect()
    parser.feed((STATIC / "index.html").read_text())
    return parser.tags


@pytest.mark.parametrize("name", FILES)
def test_page_loads_nothing_from_other_hosts(name: str) -> None:
    text = (STATIC / name).read_text()
    assert not re.search(r"""(https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", text, re.IGNORECASE), (
        f"{name} refers to another host"
    )
    assert "@import" not in text
    assert "@font-face" not in text


def test_page_scripts_and_styles_are_the_shipped_files() -> None:
    tags = _tags()
    scripts = [attrs.get("src") for tag, attrs in tags if tag == "script"]
    styles = [
        attrs.get("href")
        for tag, attrs in tags
        if tag == "link" and attrs.get("rel") == "stylesheet"
    ]
    assert scripts == ["/static/app.js"]
    assert styles == ["/static/app.css"]


def test_page_is_set_up_for_phones_and_screen_readers() -> None:
    tags = _tags()
    viewport = [a for t, a in tags if t == "meta" and a.get("name") == "viewport"]
    assert viewport
    assert "width=device-width" in (viewport[0].get("content") or "")
    assert any(t == "html" and a.get("lang") for t, a in tags)
    log = [a for t, a in tags if a.get("id") == "messages"]
    assert log
    assert log[0].get("aria-live") == "polite"
    assert log[0].get("role") == "log"
    labelled = {a.get("for") for t, a in tags if t == "label"}
    fields = {a.get("id") for t, a in tags if t in {"textarea", "input"}}
    assert fields <= labelled, f"fields without a label: {fields - labelled}"


def test_script_never_parses_text_as_html() -> None:
    script = (STATIC / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, f"app.js uses {sink}"


def test_api_key_is_kept_only_for_the_tab() -> None:
    script = (STATIC / "app.js").read_text()
    assert "localStorage" not in script
    assert "sessionStorage.setItem(API_KEY_KEY" in script


def test_page_files_are_packaged() -> None:
    config = tomllib.loads((BACKEND / "pyproject.toml").read_text())
    package_data = config["tool"]["setuptools"]["package-data"]["llmservice_backend"]
    assert "static/*" in package_data
    for name in FILES:
        assert (STATIC / name).is_file()
