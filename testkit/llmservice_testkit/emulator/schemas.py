"""What the API server does with a CRD's openAPIV3Schema: prune, default, validate.

Order as in the API server: unknown fields are pruned, defaults are applied, then the
structural schema and the CEL rules (``llmservice_operator.tools.render.cel``) are checked. Errors
come back as ``(field path, message)`` worded like the API server's field errors.
Not covered: ``format`` checks other than int-or-string, ``x-kubernetes-list-type`` uniqueness,
``x-kubernetes-embedded-resource`` metadata checks.
"""

from __future__ import annotations

import json
import re
from typing import Any

from llmservice_operator.tools.render.cel import evaluate_validations

from llmservice_testkit.emulator.clone import clone

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def prune(
    schema: dict[str, Any],
    value: Any,
    root: bool = False,
    path: str = "",
    dropped: list[str] | None = None,
) -> Any:
    """Drop fields the schema does not declare (unless it preserves unknown fields).

    The dotted paths of dropped fields are appended to ``dropped``: a request with
    ``fieldValidation=Strict`` is rejected with them, as the API server does.
    """
    dropped = dropped if dropped is not None else []
    if isinstance(value, dict) and schema.get("type", "object") == "object":
        if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
            return value
        props = schema.get("properties")
        additional = schema.get("additionalProperties")
        result: dict[str, Any] = {}
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            if root and key in ("apiVersion", "kind", "metadata"):
                result[key] = item
            elif props is not None and key in props:
                result[key] = prune(props[key], item, False, sub, dropped)
            elif isinstance(additional, dict):
                result[key] = prune(additional, item, False, sub, dropped)
            elif schema.get("x-kubernetes-preserve-unknown-fields") or additional is True:
                result[key] = item
            else:
                dropped.append(sub)
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [
            prune(schema["items"], item, False, f"{path}[{i}]", dropped)
            for i, item in enumerate(value)
        ]
    return value


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Fill absent properties that declare a default, recursively inside present values.

    A null in a property that is not ``nullable`` is dropped first, so its default (if any)
    applies, as the API server prunes such nulls before defaulting. Works in place.
    """
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key in value and value[key] is None and not sub.get("nullable"):
                del value[key]
            if key not in value and "default" in sub:
                value[key] = clone(sub["default"])
            if key in value:
                value[key] = apply_defaults(sub, value[key])
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            props = schema.get("properties") or {}
            for key in list(value):
                if key not in props:
                    value[key] = apply_defaults(additional, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(schema["items"], item) for item in value]
    return value


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else json.dumps(value, default=str)


def _invalid(where: str, shown: str, should: str) -> tuple[str, str]:
    """The API server's wording for a value that breaks a bound: what it is, what it should."""
    return (where, f"Invalid value: {shown}: {where} in body should {should}")


def _type_ok(schema: dict[str, Any], value: Any) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    wanted = schema.get("type")
    if wanted is None:
        return True
    if isinstance(value, bool) and wanted in ("integer", "number"):
        return False
    if wanted == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(wanted, (object,)))


def validate(schema: dict[str, Any], value: Any, path: str) -> list[tuple[str, str]]:
    """Structural checks, in the wording the API server uses."""
    errors: list[tuple[str, str]] = []
    where = path or "<root>"
    if value is None:
        if not schema.get("nullable"):
            errors.append(
                (
                    where,
                    f'Invalid value: "null": {where} in body must be of type '
                    f'{schema.get("type", "object")}: "null"',
                )
            )
        return errors
    if not _type_ok(schema, value):
        wanted = "integer-or-string" if schema.get("x-kubernetes-int-or-string") else schema["type"]
        got = type(value).__name__.replace("dict", "object").replace("list", "array")
        got = got.replace("str", "string").replace("int", "integer").replace("float", "number")
        errors.append(
            (where, f'Invalid value: "{got}": {where} in body must be of type {wanted}: "{got}"')
        )
        return errors
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(_show(v) for v in schema["enum"])
        errors.append((where, f"Unsupported value: {_show(value)}: supported values: {allowed}"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and (value < low or (schema.get("exclusiveMinimum") and value == low)):
            errors.append(_invalid(where, _show(value), f"be greater than or equal to {low}"))
        if high is not None and (
            value > high or (schema.get("exclusiveMaximum") and value == high)
        ):
            errors.append(_invalid(where, _show(value), f"be less than or equal to {high}"))
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            least = schema["minLength"]
            errors.append(_invalid(where, _show(value), f"be at least {least} chars long"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append((where, f"Too long: may not be more than {schema['maxLength']} bytes"))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(_invalid(where, _show(value), f"match '{schema['pattern']}'"))
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            least = schema["minItems"]
            errors.append(_invalid(where, str(len(value)), f"have at least {least} items"))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(
                (where, f"Too many: {len(value)}: must have at most {schema['maxItems']} items")
            )
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                errors += validate(items, item, f"{path}[{index}]")
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key in schema.get("required") or []:
            if key not in value:
                sub = f"{path}.{key}" if path else key
                errors.append((sub, "Required value"))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            errors.append(
                (
                    where,
                    f"Too many: {len(value)}: must have at most {schema['maxProperties']} items",
                )
            )
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            if key in props:
                errors += validate(props[key], item, sub)
            elif isinstance(additional, dict):
                errors += validate(additional, item, sub)
    return errors


# schema id -> (the schema, its body schema, the schema the CEL rules see); the schema is
# held so that its id is not reused while cached.
_VIEWS: dict[int, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {}


def _views(schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schema without apiVersion/kind/metadata, and the one the CEL rules run against.

    Built once per CRD schema: the rule memo recognises a schema node by identity first,
    and building these per request would make every root node new.
    """
    known = _VIEWS.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1], known[2]
    body_schema = dict(schema)
    body_schema["properties"] = {
        k: v
        for k, v in (schema.get("properties") or {}).items()
        if k not in ("apiVersion", "kind", "metadata")
    }
    body_schema["required"] = [
        k for k in schema.get("required") or [] if k not in ("apiVersion", "kind", "metadata")
    ]
    # Root rules may read metadata.name and metadata.generateName, and nothing else of it.
    cel_schema = dict(body_schema)
    cel_schema["properties"] = {
        **body_schema["properties"],
        "metadata": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "generateName": {"type": "string"}},
        },
    }
    if len(_VIEWS) >= 64:
        _VIEWS.clear()
    _VIEWS[id(schema)] = (schema, body_schema, cel_schema)
    return body_schema, cel_schema


def admit(
    schema: dict[str, Any],
    obj: dict[str, Any],
    old: dict[str, Any] | None = None,
    dropped: list[str] | None = None,
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Prune, default and validate a custom object; return it and its field errors."""
    result = prune(schema, clone(obj), root=True, dropped=dropped)
    result = apply_defaults(schema, result)
    body = {k: v for k, v in result.items() if k not in ("apiVersion", "kind", "metadata")}
    body_schema, cel_schema = _views(schema)
    errors = validate(body_schema, body, "")
    if not errors:
        visible_meta = {
            k: v for k, v in (result.get("metadata") or {}).items() if k in ("name", "generateName")
        }
        cel_obj = {**body, "metadata": visible_meta}
        kwargs: dict[str, Any] = {}
        if old is not None:
            old_meta = {
                k: v
                for k, v in (old.get("metadata") or {}).items()
                if k in ("name", "generateName")
            }
            kwargs["old_obj"] = {
                **{k: v for k, v in old.items() if k not in ("apiVersion", "kind", "metadata")},
                "metadata": old_meta,
            }
        for error in evaluate_validations(cel_schema, cel_obj, "", **kwargs):
            errors.append((error.path, f'Invalid value: "object": {error.message}'))
    return result, errors
