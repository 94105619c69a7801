"""What the operator watches, declared once.

Every watch comes from :data:`WATCHED`: :mod:`.handlers` registers one kopf event handler
per entry, :func:`.main.kopf_settings` gives kopf the label selectors the API server applies,
and :mod:`.startup` lists the same kinds with the same selectors when the operator starts.

Watched: the LLMServices; every object of a child's kind, ours or not (one of them could be
in a child's way: a name conflict, reported rather than overwritten); and the pods of
LLMServices, which say why a service is degraded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from llmservice_operator.api import naming
from llmservice_operator.runtime.kube import CHILD_KINDS, LLMSERVICE, POD, Kind


@dataclass(frozen=True)
class Watch:
    kind: Kind
    # A label selector the API server applies: objects outside it never reach the
    # operator, and one that leaves it (its label removed) is reported as DELETED.
    selector: str | None = None


WATCHED: Final[tuple[Watch, ...]] = (
    Watch(LLMSERVICE),
    *(Watch(kind) for kind in CHILD_KINDS.values()),
    Watch(POD, selector=naming.SERVICE_LABEL),  # the label is present
)
