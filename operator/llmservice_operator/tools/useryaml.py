"""Reading YAML a user wrote (LLMService files) the way kubectl reads it.

kubectl turns YAML into JSON before anything else sees it (``sigs.k8s.io/yaml``, which
resolves plain scalars with go-yaml v2's rules, the same in kubectl 1.32 and 1.37), and
PyYAML's YAML 1.1 rules differ from those in ways that matter for an LLMService:

====================  ==========================  ==========================
plain scalar          PyYAML's safe loader        kubectl
====================  ==========================  ==========================
``n``, ``y``, ``N``   the string                  false, true
``0o3``, ``0b_1``     the string                  the integer 3, 1
``08``                the string                  8 (not octal: read as a number)
``1:20``, ``1:2:3``   80, 3723 (base 60)          the string
``1e100``, ``2e-5``   the string (no dot)         the float
``1.0e5``             the string (no exponent     the float 100000
                      sign)
``2024-01-01``        a date                      the string
``1e400``             infinity                    the string (out of range)
``.inf``, ``.nan``    infinity, NaN               an error: no JSON number
``!foo bar``          an error (unknown tag)      the string ``bar``
====================  ==========================  ==========================

So every plain scalar is resolved here by go-yaml v2's rules (:func:`resolve_scalar`), map
keys become strings as ``sigs.k8s.io/yaml`` makes them (``true``, ``1``, ``1.5``; a null
key is an error), and values JSON cannot hold are errors naming the line. Every reader of
user YAML goes through :func:`load_all`, so a file means the same thing to ``render``, the
tests and ``kubectl apply``; ``tests/unit/test_useryaml.py`` holds the table above against
kubectl itself where it is installed.

What JSON then does to numbers (an integral float is an integer to the API server, an
integer beyond 64 bits is not) is :func:`llmservice_operator.api.validation.as_api_numbers`.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from typing import Any, Final

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# The tag every untagged plain scalar gets, so that one constructor resolves it.
PLAIN_TAG: Final = "tag:llmservice.dev,2026:plain"
_CORE: Final = "tag:yaml.org,2002:"
MERGE_TAG: Final = _CORE + "merge"
INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1

# go-yaml v2: the words that are not strings, and the first characters worth a closer look.
_WORDS: Final[dict[str, Any]] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE"), True),
    **dict.fromkeys(("on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE"), False),
    **dict.fromkeys(("off", "Off", "OFF"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_NUMERIC_START: Final = frozenset("+-0123456789")
_WORD_START: Final = frozenset("yYnNtTfFoO~")
# A decimal float as go-yaml v2 accepts it once underscores are removed.
_FLOAT: Final = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
# What Go's ParseFloat takes from text that starts with a dot (underscores between digits).
_DOT_FLOAT: Final = re.compile(r"\.[0-9]+(_[0-9]+)*([eE][-+]?[0-9]+(_[0-9]+)*)?")
_GO_PREFIXES: Final = {"0x": 16, "0X": 16, "0o": 8, "0O": 8, "0b": 2, "0B": 2}
_DIGITS: Final = {16: "0123456789abcdefABCDEF", 8: "01234567", 2: "01", 10: "0123456789"}


class NotJSONError(ValueError):
    """A YAML value with no JSON form (``.inf``, ``.nan``, a null map key): kubectl refuses
    the whole file, and so do we."""


def _go_int(text: str, *, signed: bool) -> int | None:
    """Go's ``strconv.ParseInt(text, 0, 64)`` (or ``ParseUint``): None where Go errs."""
    sign, body = 1, text
    if signed and body[:1] in ("+", "-"):
        sign, body = (-1 if body[0] == "-" else 1), body[1:]
    base = 10
    if body[:2] in _GO_PREFIXES:
        base, body = _GO_PREFIXES[body[:2]], body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, body = 8, body[1:]
    if not body or any(c not in _DIGITS[base] for c in body):
        return None
    value = sign * int(body, base)
    low, high = (INT64_MIN, INT64_MAX) if signed else (0, UINT64_MAX)
    return value if low <= value <= high else None


def _go_float(text: str) -> float | None:
    """Go's ``strconv.ParseFloat(text, 64)`` for decimal text: None on a range error (an
    overflow to infinity; an underflow is 0, as in Go)."""
    value = float(text)
    return None if math.isinf(value) else value


def resolve_scalar(text: str) -> Any:
    """What go-yaml v2 makes of an untagged plain scalar: None, a bool, an int, a float
    (``nan``/``inf`` included, refused later) or the string itself.

    Timestamps stay strings (go-yaml hands them to kubectl as text), and base-60 numbers
    do not exist. ``<<`` (a merge key) is the resolver's business, not this function's.
    """
    first = text[:1]
    if text in _WORDS:
        return _WORDS[text]
    if first == ".":
        return _go_float(text) if _DOT_FLOAT.fullmatch(text) else text
    if first not in _NUMERIC_START:
        return text
    plain = text.replace("_", "")
    for signed in (True, False):
        number = _go_int(plain, signed=signed)
        if number is not None:
            return number
    if _FLOAT.fullmatch(plain):
        value = _go_float(plain)
        if value is not None:
            return value
    if plain.startswith(("0b", "-0b")):
        digits = plain.removeprefix("-").removeprefix("0b")
        if digits and set(digits) <= {"0", "1"}:
            value = int(digits, 2) * (-1 if plain[0] == "-" else 1)
            if INT64_MIN <= value <= UINT64_MAX:
                return value
    return text


def _float32_g(value: float) -> str:
    """Go's ``strconv.FormatFloat(value, 'g', -1, 32)``: the shortest digits that read back
    as the same 32-bit float, in exponent form below 1e-4 and from 1e6 on."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    single = struct.unpack("f", struct.pack("f", value))[0]
    if single == 0:
        return "-0" if math.copysign(1.0, single) < 0 else "0"
    for digits in range(1, 10):
        text = f"{single:.{digits - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            break
    mantissa, exponent = text.split("e")
    power = int(exponent)
    significant = mantissa.replace(".", "").lstrip("-").rstrip("0") or "0"
    sign = "-" if single < 0 else ""
    if power < -4 or power >= 6:
        head, tail = significant[0], significant[1:]
        return (
            f"{sign}{head}{'.' + tail if tail else ''}e{'-' if power < 0 else '+'}{abs(power):02d}"
        )
    if power < 0:
        return f"{sign}0.{'0' * (-power - 1)}{significant}"
    whole = significant.ljust(power + 1, "0")
    head, tail = whole[: power + 1], whole[power + 1 :]
    return f"{sign}{head}{'.' + tail if tail else ''}"


def _key_text(key: Any, node: Node) -> str:
    """A map key as ``sigs.k8s.io/yaml`` writes it into JSON."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int) and INT64_MIN <= key <= INT64_MAX:
        return str(key)
    if isinstance(key, float):
        return _float32_g(key)
    raise ConstructorError(
        None, None, f"a map key must be a string, not {key!r} (kubectl refuses it)", node.start_mark
    )


class UserYAMLLoader(yaml.SafeLoader):
    """The safe loader with kubectl's reading of scalars and keys."""

    def construct_plain(self, node: ScalarNode) -> Any:
        value = resolve_scalar(str(self.construct_scalar(node)))
        if isinstance(value, float) and not math.isfinite(value):
            raise ConstructorError(
                None,
                None,
                f"{node.value} is no JSON number (kubectl refuses the file)",
                node.start_mark,
            )
        return value

    def construct_tagged(self, node: Node) -> Any:
        """A scalar with a core tag (``!!int "7"``): resolved as go-yaml v2 does, and refused
        when it is not what the tag says."""
        assert isinstance(node, ScalarNode)
        text = str(self.construct_scalar(node))
        kind = node.tag.removeprefix(_CORE)
        if kind in ("str", "timestamp"):
            return text
        value = resolve_scalar(text)
        if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        wanted = {"int": int, "float": float, "bool": bool, "null": type(None)}[kind]
        if not isinstance(value, wanted) or (kind == "int" and isinstance(value, bool)):
            raise ConstructorError(
                None, None, f"cannot read {text!r} as a !!{kind}", node.start_mark
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ConstructorError(
                None, None, f"{text} is no JSON number (kubectl refuses the file)", node.start_mark
            )
        return value

    def construct_binary_text(self, node: Node) -> str:
        """``!!binary``: the decoded bytes as text, as kubectl passes them on."""
        assert isinstance(node, ScalarNode)
        try:
            data = base64.b64decode(str(self.construct_scalar(node)).encode("ascii"))
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise ConstructorError(
                None, None, f"bad base64 in a !!binary value: {exc}", node.start_mark
            ) from None
        return data.decode("utf-8", errors="replace")

    def construct_untagged(self, tag_suffix: str, node: Node) -> Any:
        """A local tag (``!foo``): kubectl ignores it; a scalar so tagged is a string
        (``!foo 5`` is ``"5"``), a collection is read as if untagged."""
        if isinstance(node, ScalarNode):
            return str(self.construct_scalar(node))
        if isinstance(node, SequenceNode):
            return self.construct_sequence(node, deep=True)
        if isinstance(node, MappingNode):
            return self.construct_json_mapping(node)
        raise ConstructorError(None, None, f"unexpected node {node!r}", node.start_mark)

    def construct_json_mapping(self, node: Node) -> dict[str, Any]:
        """A mapping with keys as kubectl writes them into JSON (merge keys applied)."""
        assert isinstance(node, MappingNode)
        self.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            out[_key_text(key, key_node)] = self.construct_object(value_node, deep=True)
        return out


# Every plain scalar but a merge key goes to construct_plain; nothing else is implicit.
UserYAMLLoader.yaml_implicit_resolvers = {
    "<": [(MERGE_TAG, re.compile(r"^(?:<<)$"))],
    None: [(PLAIN_TAG, re.compile(r"(?s).*"))],
}
UserYAMLLoader.add_constructor(PLAIN_TAG, UserYAMLLoader.construct_plain)
for _kind in ("int", "float", "bool", "null", "timestamp", "str"):
    UserYAMLLoader.add_constructor(_CORE + _kind, UserYAMLLoader.construct_tagged)
UserYAMLLoader.add_constructor(_CORE + "binary", UserYAMLLoader.construct_binary_text)
UserYAMLLoader.add_constructor(_CORE + "map", UserYAMLLoader.construct_json_mapping)
UserYAMLLoader.add_multi_constructor("!", UserYAMLLoader.construct_untagged)


def load_all(text: str) -> list[Any]:
    """Every YAML document of ``text`` (empty ones as None); raises ``yaml.YAMLError``."""
    return list(yaml.load_all(text, Loader=UserYAMLLoader))


def load(text: str) -> Any:
    """The single YAML document of ``text``; raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=UserYAMLLoader)
