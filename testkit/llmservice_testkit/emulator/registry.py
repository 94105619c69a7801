"""Which resources the server serves: kmock's bundled built-ins plus CRDs registered at runtime.

kmock's ``ResourcesArray`` (loaded from its bundled discovery dump) answers discovery; this
module adds what serving needs beyond discovery: the CRD's schema, subresources, printer
columns and scale paths. Storage is keyed by group and plural, not version: all versions of
a resource share objects without conversion (autoscaling/v1 and v2 HPAs, for example).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import kmock

from llmservice_testkit.emulator.errors import ApiError


@dataclass
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    subresources: set[str] = field(default_factory=set)
    schema: dict[str, Any] | None = None  # CRDs only: the served version's openAPIV3Schema
    printer_columns: list[dict[str, Any]] = field(default_factory=list)
    scale: dict[str, Any] | None = None  # CRDs only: specReplicasPath & co.
    crd_name: str | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> tuple[str, str]:
        return (self.group, self.plural)


# Built-in kinds whose main resource ignores status (status subresource), as in Kubernetes.
_BUILTIN_STATUS = {"status"}


class Registry:
    def __init__(self, resources: Any) -> None:
        self._kmock = resources  # kmock ResourcesArray: the discovery view
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for res, info in resources.items():
            if res.group == "metrics.k8s.io":
                continue
            self._types[(res.group, res.version, res.plural)] = ResourceType(
                group=res.group,
                version=res.version,
                plural=res.plural,
                kind=info.kind or res.plural.capitalize(),
                namespaced=bool(info.namespaced),
                singular=info.singular or "",
                short_names=sorted(info.shortnames),
                categories=sorted(info.categories),
                subresources={s for s in info.subresources if s in ("status", "scale")},
            )

    def get(self, group: str, version: str, plural: str) -> ResourceType:
        found = self._types.get((group, version, plural))
        if found is None:
            gv = f"{group}/{version}" if group else version
            raise ApiError(
                404,
                "NotFound",
                f"the server could not find the requested resource ({plural} in {gv})",
            )
        return found

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        for rt in self._types.values():
            if rt.api_version == api_version and rt.kind == kind:
                return rt
        return None

    def register_crd(self, crd: dict[str, Any]) -> list[ResourceType]:
        spec = crd["spec"]
        names = spec["names"]
        added: list[ResourceType] = []
        self.unregister_crd(crd["metadata"]["name"])
        for version in spec.get("versions", []):
            if not version.get("served", True):
                continue
            subs = version.get("subresources") or {}
            rt = ResourceType(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular", names["kind"].lower()),
                short_names=list(names.get("shortNames") or []),
                categories=list(names.get("categories") or []),
                subresources={key for key in ("status", "scale") if key in subs},
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                printer_columns=list(version.get("additionalPrinterColumns") or []),
                scale=subs.get("scale"),
                crd_name=crd["metadata"]["name"],
            )
            self._types[(rt.group, rt.version, rt.plural)] = rt
            self._kmock[kmock.resource(rt.group, rt.version, rt.plural)] = kmock.ResourceInfo(
                namespaced=rt.namespaced,
                kind=rt.kind,
                singular=rt.singular,
                verbs={
                    "get",
                    "list",
                    "watch",
                    "create",
                    "update",
                    "patch",
                    "delete",
                    "deletecollection",
                },
                shortnames=set(rt.short_names),
                categories=set(rt.categories),
                subresources=rt.subresources,
            )
            added.append(rt)
        return added

    def unregister_crd(self, crd_name: str) -> list[ResourceType]:
        gone = [rt for rt in self._types.values() if rt.crd_name == crd_name]
        for rt in gone:
            del self._types[(rt.group, rt.version, rt.plural)]
            key = kmock.resource(rt.group, rt.version, rt.plural)
            if key in self._kmock:
                del self._kmock[key]
        return gone
