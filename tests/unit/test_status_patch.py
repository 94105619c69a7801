"""The status write is a JSON merge patch that turns the stored status into the computed
one at every depth: stale nested keys are removed, not left behind."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from llmservice_operator.core.status import merge_patch


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, as the API server applies a merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = apply_merge_patch(out.get(key), value)
    return out


def test_autoscaling_turned_off_removes_its_nested_keys() -> None:
    stored = {
        "phase": "Ready",
        "autoscaling": {"state": "AtMinimum", "minReplicas": 1, "maxReplicas": 2},
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    computed = {"autoscaling": {"state": "Disabled"}, "conditions": []}
    patch = merge_patch(stored, computed)
    assert patch == {
        "autoscaling": {"state": "Disabled", "minReplicas": None, "maxReplicas": None},
        "conditions": [],
        "phase": None,
    }
    assert apply_merge_patch(stored, patch) == computed


# Statuses as JSON objects without nulls (the operator never reports a null).
leaves = st.one_of(st.integers(), st.text(max_size=5), st.booleans(), st.lists(st.integers()))
keys = st.sampled_from(["phase", "ready", "autoscaling", "model", "state", "min", "max"])
statuses = st.recursive(
    st.dictionaries(keys, leaves, max_size=4),
    lambda inner: st.dictionaries(keys, st.one_of(leaves, inner), max_size=4),
    max_leaves=12,
)


@given(statuses, statuses)
def test_the_patch_turns_any_stored_status_into_the_computed_one(
    stored: dict[str, Any], computed: dict[str, Any]
) -> None:
    assert apply_merge_patch(stored, merge_patch(stored, computed)) == computed
