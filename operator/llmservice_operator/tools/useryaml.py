"""Reading YAML a user wrote (LLMService files) the way kubectl reads it.

PyYAML's safe loader turns an unquoted ``2024-01-01`` into a ``date``, which is no JSON
value: ``render -o json`` would crash on it, and an annotation holding it would fail as "not
a string". kubectl keeps such scalars as the strings they look like, so this loader does
too (implicit and ``!!timestamp``-tagged ones alike). Every reader of user YAML goes
through :func:`load_all`, so a file means the same thing to ``render``, the tests and
``kubectl apply``.
"""

from __future__ import annotations

from typing import Any, Final

import yaml

TIMESTAMP_TAG: Final = "tag:yaml.org,2002:timestamp"


class UserYAMLLoader(yaml.SafeLoader):
    """The safe loader, with timestamps kept as strings."""


UserYAMLLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _timestamp_as_text(loader: UserYAMLLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


UserYAMLLoader.add_constructor(TIMESTAMP_TAG, _timestamp_as_text)


def load_all(text: str) -> list[Any]:
    """Every YAML document of ``text`` (empty ones as None); raises ``yaml.YAMLError``."""
    return list(yaml.load_all(text, Loader=UserYAMLLoader))


def load(text: str) -> Any:
    """The single YAML document of ``text``; raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=UserYAMLLoader)
