"""Deep copies of JSON documents, several times faster than ``copy.deepcopy``.

Every write copies the stored object a few times (the patch base, the stored version, the
subresource merge); with ``copy.deepcopy`` those copies were a tenth of a write's cost.
``marshal`` copies dicts, lists, strings, numbers, booleans and None in C, exactly (types
kept: a tuple stays a tuple, True stays True). Anything else (a dict subclass, a datetime)
makes it refuse, and those documents go through ``copy.deepcopy`` as before.
"""

from __future__ import annotations

import copy
import marshal
from typing import Any, TypeVar, cast

T = TypeVar("T")


def clone(document: T) -> T:
    """A deep copy of ``document``, sharing nothing mutable with it."""
    try:
        copied = cast(T, marshal.loads(marshal.dumps(cast(Any, document))))
    except ValueError:  # not a plain JSON document: an object marshal cannot write
        return copy.deepcopy(document)
    return copied
