"""The API reference (docs/api.md), generated from the CRD's openAPIV3Schema.

The CRD is what the API server enforces and what ``kubectl explain`` shows, so the reference
is written from it rather than from the pydantic models: every field path with its type,
default, bounds, enum, pattern and description, then the CEL rules with their messages.
``make api-docs`` regenerates the file; tests/unit/test_apidoc.py fails when it is stale.

    python -m llmservice_operator.tools.apidoc [--crd FILE] > docs/api.md
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Schema = Mapping[str, Any]


@dataclass(frozen=True)
class Field:
    path: str
    type: str
    description: str = ""
    default: str = ""
    constraints: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class Rule:
    path: str  # where the rule is attached; ``self`` in the rule is this field
    rule: str
    message: str
    reason: str = ""
    field_path: str = ""


@dataclass
class Reference:
    fields: list[Field] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)


def _is_quantity(node: Schema) -> bool:
    """An int-or-string constrained by the Kubernetes quantity pattern (``512Mi``, ``0.5``)."""
    return bool(node.get("x-kubernetes-int-or-string")) and "[KMGTPE]i" in str(
        node.get("pattern", "")
    )


def type_of(node: Schema) -> str:
    """A reader's name for a schema node's type: ``[]object``, ``map[string]string``, ..."""
    if _is_quantity(node):
        return "quantity"
    if node.get("x-kubernetes-int-or-string"):
        return "integer or string"
    kind = str(node.get("type", ""))
    if kind == "array":
        return "[]" + type_of(node.get("items") or {})
    if kind == "object" and "additionalProperties" in node and "properties" not in node:
        values = node["additionalProperties"]
        return "map[string]" + (type_of(values) if isinstance(values, Mapping) else "any")
    if kind == "object" and node.get("x-kubernetes-preserve-unknown-fields"):
        return "object (free-form)"
    return kind or "any"


def constraints_of(node: Schema, rule_count: int) -> tuple[str, ...]:
    """Enum, bounds, lengths, sizes, pattern and list semantics, each as a short phrase."""
    out: list[str] = []
    if "enum" in node:
        out.append("one of " + ", ".join(f"`{v}`" for v in node["enum"]))
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        out.append(f"{low} to {high}")
    elif low is not None:
        out.append(f"at least {low}")
    elif high is not None:
        out.append(f"at most {high}")
    for key, phrase, unit in (
        ("minLength", "at least", "character"),
        ("maxLength", "at most", "character"),
        ("minItems", "at least", "item"),
        ("maxItems", "at most", "item"),
        ("minProperties", "at least", "entry"),
        ("maxProperties", "at most", "entry"),
    ):
        if key in node:
            count = node[key]
            plural = unit if count == 1 else ("entries" if unit == "entry" else unit + "s")
            out.append(f"{phrase} {count} {plural}")
    if "pattern" in node and not _is_quantity(node):
        out.append(f"pattern `{node['pattern']}`")
    if node.get("x-kubernetes-list-type") == "map":
        keys = ", ".join(node.get("x-kubernetes-list-map-keys") or ())
        out.append(f"a list keyed by {keys}")
    elif node.get("x-kubernetes-list-type"):
        out.append(f"list type {node['x-kubernetes-list-type']}")
    if node.get("nullable"):
        out.append("may be null")
    if rule_count:
        out.append(f"{rule_count} CEL rule{'s' if rule_count > 1 else ''} (below)")
    return tuple(out)


def _default(node: Schema) -> str:
    if "default" not in node or node["default"] in ({}, []):
        return ""  # an object defaulted to {} only means: may be left out
    return json.dumps(node["default"], separators=(", ", ": "))


def walk(node: Schema, path: str, required: bool = False) -> Iterator[Field | Rule]:
    """Every field under ``node`` (depth first, in schema order), and every CEL rule."""
    rules = list(node.get("x-kubernetes-validations") or ())
    yield Field(
        path,
        type_of(node),
        " ".join(str(node.get("description", "")).split()),
        _default(node),
        constraints_of(node, len(rules)),
        required,
    )
    for rule in rules:
        yield _rule(rule, path)
    needed = set(node.get("required") or ())
    for name, child in (node.get("properties") or {}).items():
        yield from walk(child, f"{path}.{name}" if path else name, name in needed)
    items = node.get("items")
    if isinstance(items, Mapping) and (
        items.get("properties") or items.get("x-kubernetes-validations")
    ):
        yield from _below(items, f"{path}[]")
    values = node.get("additionalProperties")
    if isinstance(values, Mapping) and (
        values.get("properties") or values.get("x-kubernetes-validations")
    ):
        yield from _below(values, f"{path}.<key>")


def _rule(raw: Schema, path: str) -> Rule:
    return Rule(
        path,
        " ".join(str(raw["rule"]).split()),
        " ".join(str(raw.get("message") or raw.get("messageExpression") or "").split()),
        str(raw.get("reason", "")),
        str(raw.get("fieldPath", "")),
    )


def _below(node: Schema, path: str) -> Iterator[Field | Rule]:
    """The fields of list items or map values (the item itself is described by its list)."""
    for entry in walk(node, path):
        if not (isinstance(entry, Field) and entry.path == path):
            yield entry


def reference(schema: Schema) -> Reference:
    ref = Reference(rules=[_rule(r, "") for r in schema.get("x-kubernetes-validations") or ()])
    for section in ("metadata", "spec", "status"):
        node = (schema.get("properties") or {}).get(section)
        if node is None:
            continue
        for entry in walk(node, section):
            if isinstance(entry, Field):
                ref.fields.append(entry)
            else:
                ref.rules.append(entry)
    return ref


def _cell(text: str) -> str:
    """Text for a Markdown table cell: pipes escaped (code spans too: GitHub tables need
    it), and ``<``/``>`` outside code spans as entities, so ``hugepages-<size>`` is not
    taken for an HTML tag."""
    parts = text.replace("|", "\\|").replace("\n", " ").split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def render(crd: Mapping[str, Any]) -> str:
    """docs/api.md for one CRD (its storage version)."""
    spec = crd["spec"]
    names = spec["names"]
    version = next(v for v in spec["versions"] if v.get("storage", True))
    schema = version["schema"]["openAPIV3Schema"]
    ref = reference(schema)
    lines = [
        f"# {names['kind']} API reference",
        "",
        "<!-- Generated from the CRD by `make api-docs` (llmservice_operator.tools.apidoc);",
        "     do not edit: tests/unit/test_apidoc.py fails when this file is stale. -->",
        "",
        " ".join(str(schema.get("description", "")).split()),
        "",
        f"- API version: `{spec['group']}/{version['name']}`, kind `{names['kind']}`, "
        f"{spec['scope'].lower()}",
        f"- Names: `{names['plural']}`, `{names.get('singular', '')}`"
        + "".join(f", `{s}`" for s in names.get("shortNames") or ())
        + (f"; categories {', '.join(names['categories'])}" if names.get("categories") else ""),
    ]
    subresources = version.get("subresources") or {}
    if "status" in subresources:
        lines.append("- Subresource `status`: the operator writes `status` only through it.")
    scale = subresources.get("scale")
    if scale:
        lines.append(
            f"- Subresource `scale` (`kubectl scale`): replicas at `{scale['specReplicasPath']}`, "
            f"observed at `{scale['statusReplicasPath']}`, selector at "
            f"`{scale.get('labelSelectorPath', '')}`."
        )
    columns = version.get("additionalPrinterColumns") or []
    if columns:
        lines += ["", "## `kubectl get` columns", ""]
        lines += _table(
            ["Column", "From", "Meaning"],
            [
                [
                    c["name"].upper() + (" (`-o wide`)" if c.get("priority") else ""),
                    f"`{c['jsonPath']}`",
                    c.get("description", ""),
                ]
                for c in columns
            ],
        )
    for section, title in (
        ("metadata", "Metadata"),
        ("spec", "Spec: what you write"),
        ("status", "Status: what the operator reports"),
    ):
        rows = [
            [
                f"`{f.path}`",
                f.type,
                f"`{f.default}`" if f.default else "",
                "; ".join(("required",) * f.required + f.constraints),
                f.description,
            ]
            for f in ref.fields
            if f.path.split(".")[0].split("[")[0] == section and f.path != section
        ]
        if rows:
            lines += ["", f"## {title}", ""]
            lines += _table(["Field", "Type", "Default", "Validation", "Description"], rows)
    if ref.rules:
        lines += [
            "",
            "## Validation rules (CEL)",
            "",
            "Rules the API server evaluates on every create and update, across fields. A "
            "failed rule is reported at the field in the first column with its message (what "
            "`kubectl apply` prints); in the rule, `self` is the object in the second column.",
            "",
        ]
        lines += _table(
            ["Field", "`self`", "Message", "Reason", "Rule"],
            [
                [
                    f"`{(r.path + r.field_path).lstrip('.') or r.path or '(the object)'}`",
                    f"`{r.path}`" if r.path else "the LLMService",
                    r.message,
                    r.reason,
                    f"`{r.rule}`",
                ]
                for r in ref.rules
            ],
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llmservice_operator.tools.apidoc",
        description="Print the API reference (Markdown) of the LLMService CRD.",
    )
    parser.add_argument(
        "--crd", type=Path, default=None, help="a CRD file (default: the CRD this version makes)"
    )
    args = parser.parse_args(argv)
    if args.crd is None:
        from llmservice_operator.api.crd import crd_manifest

        crd = crd_manifest()
    else:
        try:
            crd = yaml.safe_load(args.crd.read_text())
        except (OSError, yaml.YAMLError) as exc:
            print(f"apidoc: cannot read {args.crd}: {exc}", file=sys.stderr)
            return 2
    sys.stdout.write(render(crd))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
