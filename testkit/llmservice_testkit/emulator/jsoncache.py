"""The JSON text of stored objects, kept by version.

A stored version of an object never changes (a write stores a new dict under a new
resourceVersion), so its JSON text can be made once and reused: by every list that
includes it (a client listing a thousand objects twice a second re-sent mostly unchanged
ones), by GETs and by watch frames. The text is what ``json.dumps`` gives; lists and frames
are assembled around it exactly as ``json.dumps`` would lay them out.

Only stored versions may go through here: a dry-run answer carries the resourceVersion of
the stored object it was derived from, with other content.
"""

from __future__ import annotations

import json
from typing import Any

from llmservice_testkit.emulator.lru import BoundedLRU


class JsonCache:
    def __init__(self, max_entries: int = 20000, max_bytes: int = 64 << 20) -> None:
        self._texts: BoundedLRU[tuple[str, str, str], str] = BoundedLRU(max_entries, max_bytes)

    @property
    def hits(self) -> int:
        return self._texts.hits

    def clear(self) -> None:
        self._texts.clear()

    def dumps(self, obj: dict[str, Any]) -> str:
        """``json.dumps(obj)`` for a stored version of an object."""
        meta = obj.get("metadata") or {}
        uid, version = meta.get("uid"), meta.get("resourceVersion")
        if not uid or not version:
            return json.dumps(obj)
        key = (str(uid), str(version), str(obj.get("apiVersion", "")))
        text = self._texts.get(key)
        if text is None:
            text = json.dumps(obj)
            self._texts.put(key, text, len(text))
        return text


def list_body(envelope: dict[str, Any], item_texts: list[str]) -> bytes:
    """``json.dumps({**envelope, "items": items})``, from the items' texts (``envelope``
    not empty: kind, apiVersion, metadata)."""
    if not envelope:
        raise ValueError("a list needs its kind, apiVersion and metadata")
    head = json.dumps(envelope)[:-1] + ', "items": ['
    return (head + ", ".join(item_texts) + "]}").encode()


def watch_frame(kind: str, object_text: str) -> bytes:
    """One watch event line, as ``json.dumps({"type": kind, "object": obj})`` + newline."""
    return ('{"type": ' + json.dumps(kind) + ', "object": ' + object_text + "}\n").encode()
