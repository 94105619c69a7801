"""The validation ``render`` promises: what the API server checks at admission, offline.

The models read the document (each field, the defaults: :func:`parse_llmservice`), then the
CRD's CEL rules run on the defaulted object with cel-python (:mod:`.cel`), so a file
``render`` accepts is one ``kubectl apply`` accepts, and the other way round. The operator
runs the first half only: the API server has run the rules before the operator sees an
object.

cel-python is the optional ``render`` extra of the distribution; importing this module
without it raises ``ModuleNotFoundError`` (the command says how to get it).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from llmservice_operator.api import crd
from llmservice_operator.api.models import LLMService
from llmservice_operator.api.validation import InvalidLLMServiceError, parse_llmservice
from llmservice_operator.tools.render.cel import evaluate_validations


@functools.lru_cache(maxsize=1)
def _schema() -> Mapping[str, Any]:
    return crd.openapi_schema()


def validate_llmservice(obj: Mapping[str, Any]) -> LLMService:
    """The object as a defaulted LLMService, or :class:`InvalidLLMServiceError` with every
    error: the models' first; the CEL rules only once the fields are valid (they assume
    well-typed values, as the API server's do after its schema check)."""
    service = parse_llmservice(obj)
    defaulted = service.to_api()
    defaulted.pop("status", None)
    cel_errors = evaluate_validations(_schema(), defaulted)
    if cel_errors:
        raise InvalidLLMServiceError(cel_errors)
    return service
