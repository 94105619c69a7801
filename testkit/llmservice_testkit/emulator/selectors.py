"""Label and field selectors as list, watch and delete-collection requests send them.

Parsing errors raise ``ValueError`` naming the bad term, which the server turns into a
400 Bad Request like a real API server does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_SET_TERM = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_TERM = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector: ``key op values``."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        # "!=" and "notin" match objects without the label too, as Kubernetes does.
        return not present or value not in self.values


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside the parentheses of an ``in (...)`` set."""
    terms: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term for term in (t.strip() for t in terms) if term]


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse ``a=b,c!=d,e in (f,g),h notin (i),j,!k``."""
    if not text:
        return []
    requirements: list[Requirement] = []
    for term in _split_terms(text):
        eq = _EQ_TERM.match(term)
        if eq:
            key, op, value = eq.groups()
            requirements.append(Requirement(key, "!=" if op == "!=" else "=", frozenset({value})))
            continue
        st = _SET_TERM.match(term)
        if st:
            bang, key, set_op, values = st.groups()
            if set_op:
                if bang:
                    raise ValueError(f"invalid label selector term {term!r}")
                items = frozenset(v.strip() for v in values.split(",") if v.strip())
                requirements.append(Requirement(key, set_op, items))
            else:
                requirements.append(Requirement(key, "!exists" if bang else "exists"))
            continue
        raise ValueError(f"invalid label selector term {term!r}")
    return requirements


def match_labels(requirements: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    return all(req.matches(labels or {}) for req in requirements)


def selector_from_label_selector(selector: Mapping[str, Any] | None) -> list[Requirement]:
    """Turn a ``metav1.LabelSelector`` (matchLabels/matchExpressions) into requirements."""
    if not selector:
        return []
    reqs = [
        Requirement(key, "=", frozenset({str(value)}))
        for key, value in (selector.get("matchLabels") or {}).items()
    ]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expr in selector.get("matchExpressions") or []:
        reqs.append(
            Requirement(expr["key"], ops[expr["operator"]], frozenset(expr.get("values") or []))
        )
    return reqs


# Field selectors: real servers support metadata.name and metadata.namespace for every kind
# plus a few kind-specific fields (pods, events); we accept those for every kind and reject
# the rest with 400.
def _getter(path: str) -> Callable[[Mapping[str, Any]], str]:
    def get(obj: Mapping[str, Any]) -> str:
        node: Any = obj
        for part in path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        return "" if node is None else str(node)

    return get


_SUPPORTED_FIELDS = (
    "metadata.name",
    "metadata.namespace",
    "status.phase",
    "spec.nodeName",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.podIP",
    "type",
    "reason",
    "source",
    "reportingComponent",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
)
_FIELD_GETTERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    field: _getter(field) for field in _SUPPORTED_FIELDS
}


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    negate: bool
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        actual = _FIELD_GETTERS[self.field](obj)
        return (actual != self.value) if self.negate else (actual == self.value)


def parse_field_selector(text: str | None) -> list[FieldRequirement]:
    if not text:
        return []
    reqs: list[FieldRequirement] = []
    for term in _split_terms(text):
        match = _EQ_TERM.match(term)
        if not match:
            raise ValueError(f"invalid field selector term {term!r}")
        field, op, value = match.groups()
        if field not in _FIELD_GETTERS:
            raise ValueError(f'field label not supported: "{field}"')
        reqs.append(FieldRequirement(field, op == "!=", value))
    return reqs


def match_fields(requirements: list[FieldRequirement], obj: Mapping[str, Any]) -> bool:
    return all(req.matches(obj) for req in requirements)
