"""Read an LLMService into the models, and say what is wrong in the user's terms.

:func:`parse_llmservice` is what the operator runs on every spec it reconciles: the pydantic
models check each field (types, enums, bounds, patterns, map keys) and fill in the defaults.
The CRD's cross-field rules are not evaluated here: the API server enforced them when the
object was written, and the operator trusts its admission. ``render``, which has no API
server behind it, adds them (``llmservice_operator.tools.render.validation``).

Errors name the field with the dotted camelCase path a user writes in YAML
(``spec.service.nodePort``), never pydantic's internals.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from llmservice_operator.api import models, rules
from llmservice_operator.api.models import LLMService

__all__ = [
    "FieldError",
    "InvalidLLMServiceError",
    "as_api_numbers",
    "field_path",
    "parse_llmservice",
]


@dataclass(frozen=True)
class FieldError:
    """One rejected field: ``path`` is dotted (``spec.autoscaling.minReplicas``)."""

    path: str
    message: str
    # Kubernetes' cause type for the field (FieldValueInvalid, FieldValueForbidden,
    # FieldValueRequired, FieldValueDuplicate): rules may set it with ``reason``.
    reason: str = "FieldValueInvalid"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidLLMServiceError(ValueError):
    """An LLMService the API server would reject; ``errors`` lists every reason."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors: list[FieldError] = list(errors)
        super().__init__("\n".join(str(error) for error in self.errors))

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)


# What each pattern in the models means, for messages a user can act on.
_PATTERN_MEANING: Final[Mapping[str, str]] = {
    models.QUANTITY_PATTERN: (
        "must be a Kubernetes quantity of 0 or more, such as 500m, 1, 512Mi or 2Gi"
    ),
    models.POSITIVE_QUANTITY_PATTERN: (
        "must be a Kubernetes quantity above 0, such as 512Mi, 10Gi or 1"
    ),
    models.IMAGE_PATTERN: (
        "must be an image reference such as ollama/ollama:0.12.6 or "
        "registry.example:5000/team/app@sha256:<digest>: [host[:port]/]path[:tag][@digest], "
        "the path in lowercase, no spaces"
    ),
    models.TOLERATION_KEY_PATTERN: f"must be empty or {rules.QUALIFIED_NAME_MEANING}",
    models.FIELD_PATH_PATTERN: (
        "must be a pod field a variable can read: metadata.name, metadata.namespace, "
        "metadata.uid, metadata.labels['<key>'], metadata.annotations['<key>'], "
        "spec.nodeName, spec.serviceAccountName, status.hostIP, status.hostIPs, "
        "status.podIP or status.podIPs"
    ),
    models.RESOURCE_FIELD_PATTERN: (
        "must be limits.<resource> or requests.<resource>, the resource cpu, memory, "
        "ephemeral-storage or hugepages-<size>"
    ),
    models.MODEL_NAME_PATTERN: (
        "must be an Ollama model reference such as tinyllama, llama3.2:1b or hf.co/owner/repo:quant"
    ),
    models.KEEP_ALIVE_PATTERN: "must be a duration such as 5m or 1h30m, a number of seconds, or -1",
    models.RESOURCE_NAME_PATTERN: (
        "must be an extended resource name with a domain, such as nvidia.com/gpu"
    ),
    models.DNS1123_SUBDOMAIN_PATTERN: (
        "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and "
        "ending with a letter or digit"
    ),
    models.DNS1035_LABEL_PATTERN: (
        "must be a DNS-1035 label: lowercase letters, digits and '-', starting with a letter "
        "and ending with a letter or digit"
    ),
    models.QUALIFIED_NAME_PATTERN: f"must be {rules.QUALIFIED_NAME_MEANING}",
    models.CONTAINER_RESOURCE_NAME_PATTERN: f"must be {rules.RESOURCE_NAME_MEANING}",
    models.LABEL_VALUE_PATTERN: (
        "must be a label value: at most 63 letters, digits, dashes, underscores or dots, "
        "starting and ending with a letter or digit, or empty"
    ),
    models.DNS1123_LABEL_PATTERN: (
        "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending "
        "with a letter or digit"
    ),
    models.SECRET_KEY_PATTERN: "must be a Secret key: letters, digits, '-', '_' and '.'",
    models.ENV_NAME_PATTERN: (
        "must be an environment variable name: letters, digits, '_', '-' and '.', not "
        "starting with a digit"
    ),
}

# pydantic's type errors, in YAML words.
_TYPE_WORDS: Final[Mapping[str, str]] = {
    "dict_type": "an object (a mapping)",
    "model_type": "an object (a mapping)",
    "model_attributes_type": "an object (a mapping)",
    "list_type": "a list",
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}

_PLAIN_KEY: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def field_path(loc: Sequence[int | str]) -> str:
    """pydantic's loc as a YAML path: ``spec.backend.env[0].name``, ``requests[nvidia.com/gpu]``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            path = f"{path}.{part}" if path else part
        else:
            path += f"[{part}]"
    return path


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 80 else text[:77] + "..."


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    value = error.get("input")
    if kind in (
        models.QUANTITY_FLOAT_ERROR,
        models.ANNOTATIONS_SIZE_ERROR,
        models.INT_OR_PERCENT_ERROR,
    ):
        return error["msg"]
    if kind == models.KEY_PREFIX_ERROR:
        return f"{error['msg']}, not {_shown(value)}"
    if kind == "extra_forbidden":
        return "unknown field (fields are camelCase, as in the CRD; see kubectl explain llmservice)"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, not {_shown(value)}"
    if kind == "string_pattern_mismatch":
        meaning = _PATTERN_MEANING.get(str(ctx.get("pattern")))
        if meaning is None:
            meaning = f"must match {ctx.get('pattern')}"
        return f"{meaning}, not {_shown(value)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = next(iter(ctx.values()), None)
        words = {
            "greater_than_equal": "at least",
            "greater_than": "more than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }[kind]
        return f"must be {words} {bound}, not {_shown(value)}"
    expected = _TYPE_WORDS.get(kind)
    if expected is not None:
        return f"must be {expected}, not {_shown(value)}"
    if kind in ("string_too_short", "string_too_long", "too_short", "too_long"):
        return f"{error['msg'][0].lower()}{error['msg'][1:]}"
    return f"{error['msg'][0].lower()}{error['msg'][1:]} (got {_shown(value)})"


def field_errors(exc: ValidationError) -> list[FieldError]:
    """pydantic's errors as FieldErrors with YAML paths and plain messages."""
    errors: list[FieldError] = []
    for error in exc.errors(include_url=False):
        loc = [part for part in error["loc"] if not _is_pydantic_tag(part)]
        reason = "FieldValueRequired" if error["type"] == "missing" else "FieldValueInvalid"
        if error["type"] == "extra_forbidden":
            reason = "FieldValueForbidden"
        if loc and loc[-1] == _KEY_LOC and len(loc) >= 2:
            # A bad map key: reported at the map, as the CRD's key rules do.
            errors.append(FieldError(field_path(loc[:-2]), _key_message(error), reason))
            continue
        errors.append(FieldError(field_path(loc), _message(error), reason))
    return errors


_KEY_LOC: Final = "[key]"


def _key_message(error: ErrorDetails) -> str:
    shown = _shown(error.get("input"))
    if error["type"] == models.KEY_PREFIX_ERROR:
        return f"key {shown}: {error['msg']}"
    if error["type"] == "string_pattern_mismatch":
        ctx: Mapping[str, Any] = error.get("ctx") or {}
        meaning = _PATTERN_MEANING.get(str(ctx.get("pattern")), f"must match {ctx.get('pattern')}")
        return f"key {shown} {meaning}"
    return f"key {shown}: {_message(error)}"


def _is_pydantic_tag(part: int | str) -> bool:
    """pydantic names union members and validators in loc (``function-before[...]``)."""
    return isinstance(part, str) and ("[" in part and part.endswith("]") and "-" in part)


def _check_type(obj: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if api_version != models.GROUP_VERSION:
        errors.append(
            FieldError(
                "apiVersion",
                f"must be {models.GROUP_VERSION} for an LLMService, not {_shown(api_version)}",
                "FieldValueRequired" if api_version is None else "FieldValueInvalid",
            )
        )
    if kind != models.KIND:
        errors.append(
            FieldError(
                "kind",
                f"must be {models.KIND}, not {_shown(kind)}",
                "FieldValueRequired" if kind is None else "FieldValueInvalid",
            )
        )
    return errors


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def as_api_numbers(value: Any) -> Any:
    """``value`` with its numbers as the API server reads them from JSON.

    JSON has a single number type, and the API server reads a number as an integer when
    its text is one that fits in 64 bits: a whole float (``replicas: 2.0``, ``1e3``) is an
    integer there, as kubectl writes it without a fraction, while ``1e21`` (written in
    exponent form) and any integer beyond 64 bits are floats, refused where an integer or
    a quantity is due. Other floats stay floats.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer() and _INT64_MIN <= value <= _INT64_MAX:
        return int(value)
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        return float(value)
    if isinstance(value, Mapping):
        return {key: as_api_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_api_numbers(item) for item in value]
    return value


def parse_llmservice(obj: Mapping[str, Any]) -> LLMService:
    """The object as a defaulted LLMService, or :class:`InvalidLLMServiceError` with every
    error the models find.

    Order: apiVersion/kind, then each field. Nulls and defaults are handled as the API server
    does (by the models). A ``status`` is read leniently: it is the operator's to write, and a
    user file may carry a stale one from ``kubectl get``.
    """
    if not isinstance(obj, Mapping):
        raise InvalidLLMServiceError(
            [FieldError("", f"an LLMService must be a mapping, not {type(obj).__name__}")]
        )
    errors = _check_type(obj)
    if errors:
        raise InvalidLLMServiceError(errors)
    document = {k: as_api_numbers(v) for k, v in obj.items() if k != "status"}
    try:
        # strict: the API server takes no "2" for an integer nor "true" for a boolean.
        service = LLMService.model_validate(document, strict=True)
    except ValidationError as exc:
        raise InvalidLLMServiceError(field_errors(exc)) from None
    if isinstance(obj.get("status"), Mapping):
        try:
            service.status = models.LLMServiceStatus.model_validate(obj["status"])
        except ValidationError:
            service.status = None  # an unreadable status is recomputed, never a spec error
    return service
