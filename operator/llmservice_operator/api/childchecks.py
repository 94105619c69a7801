"""What the API server checks in the children that the CRD cannot afford to check itself.

The CRD refuses at apply everything its schema and CEL rules can say within the API
server's cost budget (``rules.py``). A few checks need quantities parsed and compared in a
loop over a map, which that budget does not allow; the API server makes them only when the
operator writes the Deployment. They are made here instead, on the spec, so that the field
at fault is named in the user's terms (``spec.ollama.resources.requests[example.com/fpga]``)
before any child is written: the operator reports a spec that fails them as InvalidSpec
(``runtime.desired``), and ``render`` refuses it.

- an extended resource (``example.com/fpga``) is counted in whole units;
- a hugepages amount is a whole number of pages of its size, and the size is a quantity;
- hugepages and extended resources cannot be overcommitted: a request equals its limit;
- a downward-API divisor is one the API server allows for its resource (``1m`` or ``1``
  for cpu), compared in the API server's canonical spelling (``1000m`` is ``1``).
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import Final

from llmservice_operator.api import quantity
from llmservice_operator.api.models import EnvVar, LLMService, ResourceRequirements
from llmservice_operator.api.validation import FieldError, InvalidLLMServiceError, field_path

_HUGEPAGES: Final = "hugepages-"
_SIZES: Final = ("1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei")
DIVISORS: Final = {"cpu": ("1m", "1"), "memory": _SIZES, "ephemeral-storage": _SIZES}


def is_extended(name: str) -> bool:
    """An extended resource: a name with a domain outside kubernetes.io."""
    return "/" in name and "kubernetes.io/" not in name


def overcommittable(name: str) -> bool:
    """cpu, memory, ephemeral-storage (and Kubernetes' own domain): a request may stay
    below its limit. Hugepages and extended resources may not."""
    return not name.startswith(_HUGEPAGES) and not is_extended(name)


def _page_size(name: str) -> Fraction | None:
    try:
        size = quantity.value(name.removeprefix(_HUGEPAGES))
    except ValueError:
        return None
    return size if size > 0 else None


def _ceil(amount: Fraction) -> int:
    return -((-amount.numerator) // amount.denominator)


def _resource_errors(where: str, resources: ResourceRequirements) -> Iterator[FieldError]:
    sections = {"requests": resources.requests, "limits": resources.limits}
    for section, amounts in sections.items():
        for name, text in amounts.items():
            path = field_path((*where.split("."), section, name))
            amount = quantity.value(text)
            if is_extended(name) and _ceil(amount * 1000) % 1000 != 0:
                yield FieldError(
                    path, f"must be a whole number, not {text}: {name} is counted in units"
                )
            if name.startswith(_HUGEPAGES):
                page = _page_size(name)
                if page is None:
                    yield FieldError(
                        path,
                        f"{name} names no page size: hugepages-<size>, the size a quantity "
                        "such as 2Mi or 1Gi",
                    )
                elif _ceil(amount) % page != 0:
                    yield FieldError(
                        path, f"must be a whole number of {name.removeprefix(_HUGEPAGES)} pages"
                    )
    for name, text in resources.requests.items():
        limit = resources.limits.get(name)
        if overcommittable(name) or limit is None:
            continue  # a missing limit is the CRD's rule (rules.py)
        if quantity.value(text) != quantity.value(limit):
            yield FieldError(
                field_path((*where.split("."), "requests", name)),
                f"must equal its limit ({limit}), not {text}: {name} cannot be overcommitted",
            )


def _divisor_errors(where: str, env: list[EnvVar]) -> Iterator[FieldError]:
    for index, var in enumerate(env):
        source = var.value_from.resource_field_ref if var.value_from else None
        if source is None or source.divisor is None:
            continue
        resource = source.resource.split(".", 1)[1]
        allowed = DIVISORS.get(resource, _SIZES)  # hugepages take the sizes too
        if quantity.canonical(source.divisor) not in allowed:
            yield FieldError(
                f"{where}[{index}].valueFrom.resourceFieldRef.divisor",
                f"must be one of {', '.join(allowed)} for {resource}, not {source.divisor}",
            )


def child_errors(service: LLMService) -> list[FieldError]:
    """What the API server would refuse in the children built from ``service``, on the
    LLMService's own fields; empty when the children can be written."""
    spec = service.spec
    errors: list[FieldError] = []
    for name, container in (("backend", spec.backend), ("ollama", spec.ollama)):
        errors.extend(_resource_errors(f"spec.{name}.resources", container.resources))
        errors.extend(_divisor_errors(f"spec.{name}.env", container.env))
    return errors


def check_children(service: LLMService) -> LLMService:
    """``service`` itself, or :class:`InvalidLLMServiceError` naming every field the API
    server would refuse in its children."""
    errors = child_errors(service)
    if errors:
        raise InvalidLLMServiceError(errors)
    return service
