"""Evaluate a CRD schema's ``x-kubernetes-validations`` (CEL) rules without an API server.

Kubernetes evaluates these rules in the API server; we evaluate the very same rule text with
cel-python so that ``render``, the unit tests and the local API server in
``llmservice_testkit.emulator`` reject what a real cluster would reject, with the same
messages. Nothing here knows about LLMService: give it any structural openAPIV3Schema.

What follows the API server's behaviour:

- a rule runs at its schema node, once per value present there (every list item, every map
  value), with ``self`` bound to that value; absent and null values are not checked;
- object properties are reachable by their CEL-escaped names (``self.__namespace__``,
  ``self.foo__dash__bar``), map keys by index (``self.labels['a/b']``);
- strings with ``format: date-time`` / ``duration`` become timestamps / durations;
- the error names ``fieldPath`` when the rule gives one, else the node's path; the message is
  ``messageExpression``'s result, else ``message``, else ``failed rule: <rule>``;
- Kubernetes' CEL libraries that cel-python lacks are added (``quantity()`` and its methods,
  the ``strings``/``lists``/``regex`` extensions): see :data:`KUBERNETES_FUNCTIONS`.

Known differences: transition rules (those naming ``oldSelf``) are evaluated only when an
old object is passed, correlated through object properties and map keys (not through list
items, where they are skipped); ``optionalOldSelf`` is not honoured (such a rule is skipped
on create like any other transition rule, where the API server would run it with
``oldSelf`` empty); no cost estimation is done (the API server's limits are
respected by the CRD generator through maxLength/maxItems/maxProperties); the optional-type
syntax (``?.``) is not supported by cel-python's parser.
"""

from __future__ import annotations

import collections
import functools
import itertools
import pickle
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

import celpy
import lark
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, CELUnsupportedError

from llmservice_operator.api import quantity as quantities
from llmservice_operator.api.validation import FieldError

__all__ = [
    "KUBERNETES_FUNCTIONS",
    "CELRuleError",
    "FieldError",
    "MemoStats",
    "Quantity",
    "RuleMemo",
    "check_schema_rules",
    "compile_rule",
    "evaluate_validations",
    "set_memo_size",
]


class CELRuleError(ValueError):
    """A rule whose expression does not compile."""

    def __init__(self, expression: str, detail: str) -> None:
        super().__init__(f"CEL rule {expression!r} does not compile: {detail}")
        self.expression = expression
        self.detail = detail


# --------------------------------------------------------------------------------------
# Kubernetes' quantity library (k8s.io/apiserver/pkg/cel/library/quantity.go), written from
# its documented behaviour: quantity("1Gi"), isQuantity(s) and methods on the result. The
# arithmetic is llmservice_operator.api.quantity's, which the operator shares.


class Quantity:
    """An exact Kubernetes resource quantity (``500m``, ``2Gi``, ``1e3``), as a Fraction."""

    __slots__ = ("text", "value")

    def __init__(self, text: str) -> None:
        self.text = text
        self.value = quantities.value(text)

    @classmethod
    def of(cls, value: Fraction) -> Quantity:
        quantity = cls("0")
        quantity.value = value
        quantity.text = str(value)
        return quantity

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"Quantity({self.text!r})"


def _quantity(text: Any) -> Quantity:
    if not isinstance(text, str):
        raise TypeError("quantity() takes a string")
    return Quantity(text)


def _is_quantity(text: Any) -> celtypes.BoolType:
    return celtypes.BoolType(isinstance(text, str) and quantities.is_quantity(text))


def _as_quantity(value: Any) -> Quantity:
    if isinstance(value, Quantity):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Quantity.of(Fraction(value))
    raise TypeError(f"not a quantity: {value!r}")


def _compare(a: Any, b: Any) -> int:
    left, right = _as_quantity(a).value, _as_quantity(b).value
    return (left > right) - (left < right)


def _q_compare_to(a: Any, b: Any) -> celtypes.IntType:
    return celtypes.IntType(_compare(a, b))


def _q_is_less_than(a: Any, b: Any) -> celtypes.BoolType:
    return celtypes.BoolType(_compare(a, b) < 0)


def _q_is_greater_than(a: Any, b: Any) -> celtypes.BoolType:
    return celtypes.BoolType(_compare(a, b) > 0)


def _q_sign(a: Any) -> celtypes.IntType:
    value = _as_quantity(a).value
    return celtypes.IntType((value > 0) - (value < 0))


def _q_is_integer(a: Any) -> celtypes.BoolType:
    return celtypes.BoolType(_as_quantity(a).value.denominator == 1)


def _q_as_integer(a: Any) -> celtypes.IntType:
    value = _as_quantity(a).value
    if value.denominator != 1:
        raise ValueError("quantity is not an integer")
    return celtypes.IntType(int(value))


def _q_as_approximate_float(a: Any) -> celtypes.DoubleType:
    return celtypes.DoubleType(float(_as_quantity(a).value))


def _q_add(a: Any, b: Any) -> Quantity:
    return Quantity.of(_as_quantity(a).value + _as_quantity(b).value)


def _q_sub(a: Any, b: Any) -> Quantity:
    return Quantity.of(_as_quantity(a).value - _as_quantity(b).value)


# --------------------------------------------------------------------------------------
# The strings, lists and regex extensions Kubernetes enables, for what cel-python lacks.


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _index_of(receiver: Any, needle: Any, start: Any = 0) -> celtypes.IntType:
    if isinstance(receiver, str):
        return celtypes.IntType(receiver.find(_str(needle), int(start)))
    if isinstance(receiver, list):
        return celtypes.IntType(receiver.index(needle) if needle in receiver else -1)
    raise TypeError("indexOf takes a string or a list")


def _last_index_of(receiver: Any, needle: Any) -> celtypes.IntType:
    if isinstance(receiver, str):
        return celtypes.IntType(receiver.rfind(_str(needle)))
    if isinstance(receiver, list):
        for index in range(len(receiver) - 1, -1, -1):
            if receiver[index] == needle:
                return celtypes.IntType(index)
        return celtypes.IntType(-1)
    raise TypeError("lastIndexOf takes a string or a list")


def _substring(receiver: Any, start: Any, end: Any = None) -> celtypes.StringType:
    text = _str(receiver)
    stop = len(text) if end is None else int(end)
    if not 0 <= int(start) <= stop <= len(text):
        raise ValueError(f"substring({start}, {stop}) out of range for length {len(text)}")
    return celtypes.StringType(text[int(start) : stop])


def _split(receiver: Any, separator: Any, limit: Any = -1) -> celtypes.ListType:
    text, sep, count = _str(receiver), _str(separator), int(limit)
    if count == 0:
        return celtypes.ListType([])
    parts = list(text) if sep == "" else text.split(sep, count - 1 if count > 0 else -1)
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def _join(receiver: Any, separator: Any = "") -> celtypes.StringType:
    return celtypes.StringType(_str(separator).join(_str(item) for item in receiver))


def _replace(receiver: Any, old: Any, new: Any, limit: Any = -1) -> celtypes.StringType:
    return celtypes.StringType(_str(receiver).replace(_str(old), _str(new), int(limit)))


def _is_sorted(receiver: Any) -> celtypes.BoolType:
    items = list(receiver)
    return celtypes.BoolType(all(a <= b for a, b in itertools.pairwise(items)))


def _sum(receiver: Any) -> Any:
    items = list(receiver)
    total: Any = items[0] if items else celtypes.IntType(0)
    for item in items[1:]:
        total = total + item
    return total


def _min(receiver: Any) -> Any:
    if not receiver:
        raise ValueError("min() of an empty list")
    return min(receiver)


def _max(receiver: Any) -> Any:
    if not receiver:
        raise ValueError("max() of an empty list")
    return max(receiver)


def _find(receiver: Any, pattern: Any) -> celtypes.StringType:
    match = re.search(_str(pattern), _str(receiver))
    return celtypes.StringType(match.group(0) if match else "")


def _find_all(receiver: Any, pattern: Any, limit: Any = -1) -> celtypes.ListType:
    found = [m.group(0) for m in re.finditer(_str(pattern), _str(receiver))]
    if int(limit) >= 0:
        found = found[: int(limit)]
    return celtypes.ListType([celtypes.StringType(s) for s in found])


KUBERNETES_FUNCTIONS: Final[Mapping[str, Callable[..., Any]]] = {
    # quantity library
    "quantity": _quantity,
    "isQuantity": _is_quantity,
    "compareTo": _q_compare_to,
    "isLessThan": _q_is_less_than,
    "isGreaterThan": _q_is_greater_than,
    "sign": _q_sign,
    "isInteger": _q_is_integer,
    "asInteger": _q_as_integer,
    "asApproximateFloat": _q_as_approximate_float,
    "add": _q_add,
    "sub": _q_sub,
    # strings extension
    "charAt": lambda s, i: celtypes.StringType(_str(s)[int(i)] if int(i) < len(s) else ""),
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "lowerAscii": lambda s: celtypes.StringType(_str(s).lower()),
    "upperAscii": lambda s: celtypes.StringType(_str(s).upper()),
    "replace": _replace,
    "split": _split,
    "substring": _substring,
    "trim": lambda s: celtypes.StringType(_str(s).strip()),
    "join": _join,
    # lists extension
    "isSorted": _is_sorted,
    "sum": _sum,
    "min": _min,
    "max": _max,
    # regex extension
    "find": _find,
    "findAll": _find_all,
}


# --------------------------------------------------------------------------------------
# compiling

_ENVIRONMENT: Final = celpy.Environment()
_OLD_SELF: Final = re.compile(r"\boldSelf\b")


@functools.lru_cache(maxsize=4096)
def compile_rule(expression: str) -> celpy.Runner:
    """Parse and bind one expression; cached because the same rules run on every object."""
    try:
        ast = _ENVIRONMENT.compile(expression)
        return _ENVIRONMENT.program(ast, functions=dict(KUBERNETES_FUNCTIONS))
    except (CELParseError, CELUnsupportedError) as exc:
        line, column = getattr(exc, "line", None), getattr(exc, "column", None)
        where = f"syntax error at line {line}, column {column}" if line else "syntax error"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CELRuleError(expression, f"{where}: {first}" if first else where) from exc


def _rules_at(schema: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    rules = schema.get("x-kubernetes-validations") or ()
    return [rule for rule in rules if isinstance(rule, Mapping)]


def _walk_schema(schema: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, schema
    for name, child in (schema.get("properties") or {}).items():
        yield from _walk_schema(child, _join_path(path, name))
    if isinstance(schema.get("items"), Mapping):
        yield from _walk_schema(schema["items"], f"{path}[*]")
    if isinstance(schema.get("additionalProperties"), Mapping):
        yield from _walk_schema(schema["additionalProperties"], f"{path}[*]")


def check_schema_rules(schema: Mapping[str, Any], root_path: str = "") -> list[FieldError]:
    """Compile every rule (and messageExpression) in a schema; one error per bad expression.

    The API server refuses a CRD whose rules do not compile; the local API server calls this
    when a CRD is registered.
    """
    errors: list[FieldError] = []
    for path, node in _walk_schema(schema, root_path):
        for rule in _rules_at(node):
            for key in ("rule", "messageExpression"):
                expression = rule.get(key)
                if expression is None:
                    continue
                try:
                    compile_rule(expression)
                except CELRuleError as exc:
                    errors.append(
                        FieldError(_join_path(path, "x-kubernetes-validations"), f"{key}: {exc}")
                    )
    return errors


# --------------------------------------------------------------------------------------
# JSON -> CEL values, guided by the schema

_CEL_RESERVED: Final = frozenset(
    {
        *("true", "false", "null", "in", "as", "break", "const", "continue", "else"),
        *("for", "function", "if", "import", "let", "loop", "package", "namespace"),
        *("return", "var", "void", "while"),
    }
)
_CEL_IDENT: Final = re.compile(r"^[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*$")


def escape_property_name(name: str) -> str | None:
    """The name under which CEL sees an object property, or None when it is unreachable."""
    if name in _CEL_RESERVED:
        return f"__{name}__"
    if not _CEL_IDENT.match(name):
        return None
    return (
        name.replace("__", "__underscores__")
        .replace(".", "__dot__")
        .replace("-", "__dash__")
        .replace("/", "__slash__")
    )


def _to_cel(schema: Mapping[str, Any] | None, value: Any) -> Any:
    schema = schema or {}
    if value is None:
        return None
    if isinstance(value, Mapping):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        if properties is not None:
            converted: dict[Any, Any] = {}
            for key, item in value.items():
                if item is None:
                    continue  # Kubernetes treats a null field as an absent one
                if key in properties:
                    escaped = escape_property_name(key)
                    if escaped is not None:
                        converted[celtypes.StringType(escaped)] = _to_cel(properties[key], item)
                elif schema.get("x-kubernetes-preserve-unknown-fields"):
                    converted[celtypes.StringType(key)] = json_to_cel(item)
            return celtypes.MapType(converted)
        if isinstance(additional, Mapping):
            return celtypes.MapType(
                {celtypes.StringType(k): _to_cel(additional, v) for k, v in value.items()}
            )
        return json_to_cel(dict(value))
    if isinstance(value, list):
        items = schema.get("items")
        return celtypes.ListType([_to_cel(items, item) for item in value])
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        if schema.get("type") == "number":
            return celtypes.DoubleType(value)
        return celtypes.IntType(value)
    if isinstance(value, float):
        if schema.get("type") == "integer" and value.is_integer():
            return celtypes.IntType(int(value))
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        fmt = schema.get("format")
        try:
            if fmt == "date-time":
                return celtypes.TimestampType(value)
            if fmt == "duration":
                return celtypes.DurationType(value)
        except (ValueError, TypeError):
            pass  # a malformed value: the schema's own format check reports it
        return celtypes.StringType(value)
    return json_to_cel(value)


def _to_python(value: Any) -> Any:
    """A CEL result as plain Python, for messageExpression results and tests."""
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.IntType):
        return int(value)
    return value


# --------------------------------------------------------------------------------------
# evaluating

_MISSING: Final = object()


def _join_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_FIELD_PATH_PART: Final = re.compile(r"\.([A-Za-z0-9_\-/]+)|\[['\"]([^'\"]*)['\"]\]|\[(\d+)\]")


def _apply_field_path(path: str, field_path: str) -> str:
    """``.spec.foo['a.b']`` relative to ``path``, as a dotted path."""
    position = 0
    result = path
    while position < len(field_path):
        match = _FIELD_PATH_PART.match(field_path, position)
        if match is None:  # not a path we understand: show it as given
            return _join_path(path, field_path.lstrip("."))
        name, key, index = match.groups()
        if name is not None:
            result = _join_path(result, name)
        else:
            result = f"{result}[{key if key is not None else index}]"
        position = match.end()
    return result


def _evaluate(expression: str, bindings: Mapping[str, Any]) -> Any:
    runner = compile_rule(expression)
    return runner.evaluate(dict(bindings))


@dataclass(frozen=True)
class _Failure:
    """A failed rule at a node, before the node's path is known (what the memo keeps)."""

    message: str
    reason: str
    field_path: str | None  # the rule's fieldPath, relative to the node


def _rule_failure(rule: Mapping[str, Any], value: Any, old_value: Any) -> _Failure | None:
    expression = rule.get("rule")
    if not isinstance(expression, str):
        message = f"x-kubernetes-validations entry without a rule: {rule!r}"
        return _Failure(message, "FieldValueInvalid", None)
    bindings: dict[str, Any] = {"self": value}
    if _OLD_SELF.search(expression):
        if old_value is _MISSING:
            return None  # a transition rule: nothing to compare against on create
        bindings["oldSelf"] = old_value
    field_path = str(rule["fieldPath"]) if rule.get("fieldPath") else None
    reason = str(rule.get("reason") or "FieldValueInvalid")
    try:
        result = _evaluate(expression, bindings)
    except CELRuleError as exc:
        return _Failure(f"{exc}", reason, field_path)
    except CELEvalError as exc:
        detail = exc.args[0] if exc.args else str(exc)
        return _Failure(f"{expression}: evaluation error: {detail}", reason, field_path)
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        return _Failure(f"{expression}: evaluation error: {exc}", reason, field_path)
    if not isinstance(result, celtypes.BoolType | bool):
        return _Failure(f"{expression}: rule returned {result!r}, not a bool", reason, field_path)
    if result:
        return None
    return _Failure(_message(rule, expression, bindings), reason, field_path)


def _message(rule: Mapping[str, Any], expression: str, bindings: Mapping[str, Any]) -> str:
    message_expression = rule.get("messageExpression")
    if isinstance(message_expression, str):
        try:
            text = _to_python(_evaluate(message_expression, bindings))
        except (CELRuleError, CELEvalError):
            text = None
        if isinstance(text, str) and text.strip():
            return text
    message = rule.get("message")
    if isinstance(message, str) and message:
        return message
    return f"failed rule: {expression}"


def _node_failures(
    schema: Mapping[str, Any], rules: Sequence[Mapping[str, Any]], value: Any, old_value: Any
) -> tuple[_Failure, ...]:
    """Every failed rule of one schema node for one value: a pure function of its arguments."""
    cel_value = _to_cel(schema, value)
    cel_old = _MISSING if old_value is _MISSING or old_value is None else _to_cel(schema, old_value)
    failures = (_rule_failure(rule, cel_value, cel_old) for rule in rules)
    return tuple(failure for failure in failures if failure is not None)


# --------------------------------------------------------------------------------------
# the memo
#
# The same rules run on the same values over and over: a status write re-checks an unchanged
# spec, a thousand objects share the same defaulted sub-objects. What a rule decides depends
# only on its schema node (its rules, and the types and formats that shape the CEL value),
# the value there and, for a transition rule, the old value; so verdicts are kept in a
# bounded LRU keyed by those contents. Keys are pickles, which tell apart what JSON would
# merge (1 and "1" as map keys, tuples and lists, True and 1), so a hit can only be a value
# the uncached evaluation would treat identically. A value that cannot be pickled is simply
# evaluated.
#
# A rule that reads ``self`` only through field selections (``self.metadata.name``,
# ``has(self.a.b)``, ``self.spec.x.matches(...)``) is keyed by, and evaluated on, the part
# of the value those selections reach: the root rule on ``metadata.name`` then does not
# depend on the status, which changes on every status write. Selections missing from the
# value stay missing in the part (same result, same "no such member" error); CEL's errors
# name the member, never the enclosing map, so messages are the same too.


def _self_paths(tree: Any) -> set[tuple[str, ...]] | None:
    """The field-selection chains from ``self`` in a parsed expression; None when ``self``
    is also used otherwise (as a whole, as a macro target, as a function argument)."""
    paths: set[tuple[str, ...]] = set()

    def is_self(node: Any) -> bool:
        return (
            isinstance(node, lark.Tree)
            and node.data == "primary"
            and len(node.children) == 1
            and isinstance(node.children[0], lark.Tree)
            and node.children[0].data == "ident"
            and [str(t) for t in node.children[0].children] == ["self"]
        )

    def walk(node: Any) -> bool:
        if not isinstance(node, lark.Tree):
            return True
        if node.data == "member_dot":
            names: list[str] = []
            current: Any = node
            while isinstance(current, lark.Tree) and current.data == "member_dot":
                inner, name = current.children
                names.append(str(name))
                current = inner.children[0] if isinstance(inner, lark.Tree) else inner
            if is_self(current):
                paths.add(tuple(reversed(names)))
                return True
            return walk(current)
        if node.data == "ident" and [str(t) for t in node.children] == ["self"]:
            return False
        return all(walk(child) for child in node.children)

    return paths if walk(tree) else None


@functools.lru_cache(maxsize=4096)
def _rule_paths(
    rule_text: str, message_expression: str | None
) -> frozenset[tuple[str, ...]] | None:
    """What of ``self`` a rule (and its messageExpression) can read, or None: all of it."""
    found: set[tuple[str, ...]] = set()
    for expression in (rule_text, message_expression):
        if expression is None:
            continue
        try:
            paths = _self_paths(_ENVIRONMENT.compile(expression))
        except (CELParseError, CELUnsupportedError):
            return None
        if paths is None:
            return None
        found |= paths
    return frozenset(found)


def _selection_trie(paths: frozenset[tuple[str, ...]]) -> dict[str, Any]:
    """The selections as a tree of CEL names; True where a selection ends (all below kept)."""
    trie: dict[str, Any] = {}
    for path in sorted(paths, key=len):
        node = trie
        for name in path[:-1]:
            if node.get(name) is True:
                break  # a shorter selection already keeps all of this
            node = node.setdefault(name, {})
        else:
            node[path[-1]] = True
    return trie


def _project(raw: Mapping[str, Any], trie: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``raw`` the selections reach (raw keys matched as written or escaped),
    in the value's own key order."""
    kept: dict[str, Any] = {}
    for key, item in raw.items():
        sub = trie.get(key)
        if sub is None and isinstance(key, str):
            escaped = escape_property_name(key)
            sub = trie.get(escaped) if escaped is not None else None
        if sub is None:
            continue
        kept[key] = _project(item, sub) if sub is not True and isinstance(item, Mapping) else item
    return kept


@dataclass(frozen=True)
class MemoStats:
    hits: int
    misses: int
    entries: int
    key_bytes: int
    max_entries: int
    max_key_bytes: int


@dataclass(frozen=True)
class _Plan:
    """What the memo needs to know of a rule, worked out once per schema node."""

    transition: bool  # reads oldSelf
    selections: dict[str, Any] | None  # what of self it reads (a _selection_trie); None: all


@dataclass(frozen=True)
class _NodeInfo:
    fingerprint: bytes  # the node's schema, pickled
    plans: tuple[_Plan, ...]  # one per rule at the node
    rules_below: bool  # rules at the node or under it: else nothing to check there
    transition_below: bool  # transition rules at the node or under it: the old value matters


def _children(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = [c for c in (schema.get("properties") or {}).values() if isinstance(c, Mapping)]
    for key in ("additionalProperties", "items"):
        if isinstance(schema.get(key), Mapping):
            found.append(schema[key])
    return found


# Where the paths of a memoized subtree's errors start; replaced by the subtree's real path.
_BASE: Final = "\x00"


def _rebase(error: FieldError, path: str) -> FieldError:
    """An error of a memoized subtree at the subtree's path: the same text _join_path and
    _apply_field_path would have produced from ``path``."""
    relative = error.path[len(_BASE) :]
    if not path:
        relative = relative.removeprefix(".")
    return FieldError(path + relative, error.message, error.reason)


class RuleMemo:
    """A bounded LRU of rule verdicts, bounded both in entries and in the bytes of its keys."""

    def __init__(self, max_entries: int = 8192, max_key_bytes: int = 16 << 20) -> None:
        self.max_entries = max_entries
        self.max_key_bytes = max_key_bytes
        # (node fingerprint, rule index or -1 for a whole subtree, value key, old value key)
        # -> the rule's failure or None, or the subtree's errors
        self._entries: collections.OrderedDict[tuple[bytes, int, bytes, bytes], Any]
        self._entries = collections.OrderedDict()
        self._key_bytes = 0
        self.hits = 0
        self.misses = 0
        # schema node id -> (the node, what is known of it); the node is held so its id
        # cannot be reused while the entry lives.
        self._nodes: collections.OrderedDict[int, tuple[Mapping[str, Any], _NodeInfo]]
        self._nodes = collections.OrderedDict()
        # The operator's sync handlers may validate from several threads at once.
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_key_bytes > 0

    def resize(self, max_entries: int, max_key_bytes: int | None = None) -> None:
        """Change the bounds (0 entries turns the memo off) and evict down to them."""
        with self._lock:
            self.max_entries = max_entries
            if max_key_bytes is not None:
                self.max_key_bytes = max_key_bytes
            self._evict()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._nodes.clear()
            self._key_bytes = 0
            self.hits = self.misses = 0

    def stats(self) -> MemoStats:
        return MemoStats(
            self.hits,
            self.misses,
            len(self._entries),
            self._key_bytes,
            self.max_entries,
            self.max_key_bytes,
        )

    def node(self, schema: Mapping[str, Any]) -> _NodeInfo:
        with self._lock:
            known = self._nodes.get(id(schema))
            if known is not None and known[0] is schema:
                self._nodes.move_to_end(id(schema))
                return known[1]
        fingerprint = pickle.dumps(schema, pickle.HIGHEST_PROTOCOL)
        plans = []
        for rule in _rules_at(schema):
            text = rule.get("rule")
            message_expression = rule.get("messageExpression")
            if not isinstance(text, str):
                plans.append(_Plan(False, None))
                continue
            transition = _OLD_SELF.search(text) is not None
            paths = _rule_paths(
                text, message_expression if isinstance(message_expression, str) else None
            )
            selections = None if transition or paths is None else _selection_trie(paths)
            plans.append(_Plan(transition, selections))
        children = [self.node(child) for child in _children(schema)]
        info = _NodeInfo(
            fingerprint,
            tuple(plans),
            bool(plans) or any(c.rules_below for c in children),
            any(p.transition for p in plans) or any(c.transition_below for c in children),
        )
        with self._lock:
            self._nodes[id(schema)] = (schema, info)
            while len(self._nodes) > 4096:
                self._nodes.popitem(last=False)
        return info

    def subtree(
        self, schema: Mapping[str, Any], info: _NodeInfo, value: Any, old_value: Any
    ) -> tuple[FieldError, ...] | None:
        """The errors of a whole subtree, paths based at _BASE; None: not memoizable."""
        try:
            value_key = b"t" + pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
            old_key = b""
            if info.transition_below:
                old_key = (
                    b"m"
                    if old_value is _MISSING
                    else b"o" + pickle.dumps(old_value, pickle.HIGHEST_PROTOCOL)
                )
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
            return None
        key = (info.fingerprint, -1, value_key, old_key)
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self.hits += 1
                self._entries.move_to_end(key)
                return tuple(cached)
            self.misses += 1
        found: list[FieldError] = []
        _check_here(schema, value, old_value, _BASE, found)
        with self._lock:
            if key not in self._entries:
                self._entries[key] = tuple(found)
                self._key_bytes += len(value_key) + len(old_key)
                self._evict()
        return tuple(found)

    def failures(
        self,
        schema: Mapping[str, Any],
        rules: Sequence[Mapping[str, Any]],
        value: Any,
        old_value: Any,
    ) -> tuple[_Failure, ...]:
        if not self.enabled:
            return _node_failures(schema, rules, value, old_value)
        try:
            return self._failures(schema, rules, value, old_value)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
            return _node_failures(schema, rules, value, old_value)

    def _failures(
        self,
        schema: Mapping[str, Any],
        rules: Sequence[Mapping[str, Any]],
        value: Any,
        old_value: Any,
    ) -> tuple[_Failure, ...]:
        info = self.node(schema)
        fingerprint, plans = info.fingerprint, info.plans
        no_old = old_value is _MISSING or old_value is None
        whole: list[Any] = []  # the value's pickle and CEL form, made when first needed
        old: list[Any] = []  # the old value's pickle and CEL form
        found: list[_Failure] = []
        for index, (rule, plan) in enumerate(zip(rules, plans, strict=True)):
            if plan.transition and no_old:
                continue  # a transition rule on create: skipped, as _rule_failure does
            part: Any = _MISSING
            if plan.selections is not None and isinstance(value, Mapping):
                part = _project(value, plan.selections)
                value_key = b"p" + pickle.dumps(part, pickle.HIGHEST_PROTOCOL)
            else:
                if not whole:
                    whole.append(b"w" + pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
                value_key = whole[0]
            old_key = b""
            if plan.transition:
                if not old:
                    old.append(b"o" + pickle.dumps(old_value, pickle.HIGHEST_PROTOCOL))
                old_key = old[0]
            key = (fingerprint, index, value_key, old_key)
            cached: Any
            with self._lock:
                cached = self._entries.get(key, _MISSING)
                if cached is not _MISSING:
                    self.hits += 1
                    self._entries.move_to_end(key)
                else:
                    self.misses += 1
            if cached is _MISSING:
                if part is not _MISSING:
                    cel_value = _to_cel(schema, part)
                else:
                    if len(whole) == 1:
                        whole.append(_to_cel(schema, value))
                    cel_value = whole[1]
                cel_old: Any = _MISSING
                if plan.transition:
                    if len(old) == 1:
                        old.append(_to_cel(schema, old_value))
                    cel_old = old[1]
                cached = _rule_failure(rule, cel_value, cel_old)
                with self._lock:
                    if key not in self._entries:
                        self._entries[key] = cached
                        self._key_bytes += len(value_key) + len(old_key)
                        self._evict()
            if cached is not None:
                found.append(cached)
        return tuple(found)

    def _evict(self) -> None:
        while self._entries and (
            len(self._entries) > self.max_entries or self._key_bytes > self.max_key_bytes
        ):
            (_, _, value_key, old_key), _ = self._entries.popitem(last=False)
            self._key_bytes -= len(value_key) + len(old_key)


RULE_MEMO: Final = RuleMemo()


def set_memo_size(max_entries: int, max_key_bytes: int | None = None) -> None:
    """Bound the rule memo (0 turns it off: every rule is evaluated every time)."""
    RULE_MEMO.resize(max_entries, max_key_bytes)


def _check(
    schema: Mapping[str, Any],
    value: Any,
    old_value: Any,
    path: str,
    errors: list[FieldError],
    top: bool = False,
) -> None:
    if value is None:
        return
    memo = RULE_MEMO
    if memo.enabled:
        info = memo.node(schema)
        if not info.rules_below:
            return  # no rule at or under this node
        if not top and isinstance(value, (Mapping, list)):
            # The top value (a whole object) changes with every write; its parts seldom do.
            found = memo.subtree(schema, info, value, old_value)
            if found is not None:
                errors.extend(_rebase(error, path) for error in found)
                return
    _check_here(schema, value, old_value, path, errors)


def _check_here(
    schema: Mapping[str, Any], value: Any, old_value: Any, path: str, errors: list[FieldError]
) -> None:
    rules = _rules_at(schema)
    if rules:
        for failure in RULE_MEMO.failures(schema, rules, value, old_value):
            where = path
            if failure.field_path is not None:
                where = _apply_field_path(path, failure.field_path)
            errors.append(FieldError(where, failure.message, failure.reason))
    if isinstance(value, Mapping):
        old_map = old_value if isinstance(old_value, Mapping) else {}
        properties = schema.get("properties") or {}
        for name, child in properties.items():
            if name in value:
                _check(
                    child, value[name], old_map.get(name, _MISSING), _join_path(path, name), errors
                )
        additional = schema.get("additionalProperties")
        if isinstance(additional, Mapping):
            for key, item in value.items():
                if key not in properties:
                    _check(additional, item, old_map.get(key, _MISSING), f"{path}[{key}]", errors)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            _check(schema["items"], item, _MISSING, f"{path}[{index}]", errors)


def evaluate_validations(
    schema: Mapping[str, Any],
    obj: Any,
    root_path: str = "",
    *,
    old_obj: Any = _MISSING,
) -> list[FieldError]:
    """Every failed ``x-kubernetes-validations`` rule of ``schema`` on ``obj``, in schema order.

    ``root_path`` prefixes the reported paths (pass ``"spec"`` with the spec's own schema).
    ``old_obj`` is the stored object on an update; without it transition rules are skipped,
    as the API server does on create. Rules that fail to compile or to evaluate are reported
    as errors at their node rather than raised, so one bad rule cannot hide the others.
    Verdicts are memoized (see :class:`RuleMemo`); :func:`set_memo_size` bounds or disables it.
    """
    errors: list[FieldError] = []
    _check(schema, obj, old_obj, root_path, errors, top=True)
    return errors
