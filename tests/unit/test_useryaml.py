"""User YAML is read as kubectl reads it (``llmservice_operator.tools.useryaml``).

kubectl converts YAML to JSON with go-yaml v2's scalar rules, which differ from PyYAML's
YAML 1.1 ones; each divergence issue 17 found has its own test here, through ``render``
and through the CRD's checks (the four ``test_issue_17_*``), the rest of the table is held
against the rules, and where kubectl is installed the whole table is held against kubectl
itself (``kubectl annotate --local -o json`` prints what it read, without a cluster).
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import support
import yaml
from llmservice_operator.api.validation import as_api_numbers
from llmservice_operator.tools import useryaml
from llmservice_operator.tools.render import command as render

KUBECTL = shutil.which("kubectl")

# plain scalar -> what kubectl reads (after JSON, as the API server sees it)
SCALARS: list[tuple[str, Any]] = [
    # booleans: go-yaml v2 adds y/Y/n/N to YAML 1.1's words
    ("n", False),
    ("N", False),
    ("y", True),
    ("Y", True),
    ("yes", True),
    ("No", False),
    ("on", True),
    ("OFF", False),
    ("True", True),
    ("tRUE", "tRUE"),
    ("nULL", "nULL"),
    ("~", None),
    ("Null", None),
    # integers: Go's base prefixes, underscores dropped, a leading 0 is octal
    ("0o3", 3),
    ("0O7", 7),
    ("-0o7", -7),
    ("0b101", 5),
    ("-0b11", -3),
    ("0b_1", 1),
    ("0x1F", 31),
    ("0x_FF", 255),
    ("012", 10),
    ("08", 8),
    ("00", 0),
    ("+12", 12),
    ("1_000", 1000),
    ("1__0", 10),
    ("1_", 1),
    ("_1", "_1"),
    ("0x", "0x"),
    ("0o", "0o"),
    ("0b2", "0b2"),
    ("-0b", "-0b"),
    ("+", "+"),
    ("9223372036854775807", 9223372036854775807),
    # base 60 does not exist
    ("1:20", "1:20"),
    ("19:59", "19:59"),
    ("1:2:3", "1:2:3"),
    ("190:20:30", "190:20:30"),
    # floats: an exponent needs no dot and no sign
    ("1e100", 1e100),
    ("1e3", 1000),
    ("1E3", 1000),
    ("2e-5", 2e-5),
    ("1.0e5", 100000),
    ("1.5e+3", 1500),
    ("12e3_0", 1.2e31),
    ("1_e3", 1000),
    ("1e21", 1e21),
    ("1e-400", 0),
    ("1e400", "1e400"),
    (".5", 0.5),
    (".5_0", 0.5),
    ("+.5", 0.5),
    ("-.5e3", -500),
    ("5.", 5),
    ("0.", 0),
    ("1.0", 1),
    ("1_0.5", 10.5),
    ("1e", "1e"),
    ("1.2.3", "1.2.3"),
    ("0x1p-2", "0x1p-2"),
    # timestamps stay text
    ("2024-01-01", "2024-01-01"),
    ("2001-12-14t21:59:43.10-05:00", "2001-12-14t21:59:43.10-05:00"),
]


def _doc(entries: list[tuple[str, str]]) -> str:
    lines = "".join(f"  k{index}: {text}\n" for index, (_, text) in enumerate(entries))
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n{lines}"


def _same(ours: Any, theirs: Any) -> bool:
    """Equal as the API server would read them: numbers compared as JSON numbers."""
    ours = as_api_numbers(ours)
    if isinstance(ours, (int, float)) and not isinstance(ours, bool):
        return (
            isinstance(theirs, (int, float))
            and not isinstance(theirs, bool)
            and (float(ours) == float(theirs) if isinstance(theirs, float) else ours == theirs)
        )
    return type(ours) is type(theirs) and ours == theirs


@pytest.mark.parametrize(("text", "expected"), SCALARS, ids=[t for t, _ in SCALARS])
def test_plain_scalars_resolve_as_kubectl_reads_them(text: str, expected: Any) -> None:
    (value,) = useryaml.load(f"v: {text}\n").values()
    assert _same(value, expected), (value, expected)


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_the_table_is_what_kubectl_reads(tmp_path: Path) -> None:
    """kubectl itself (its local mode: no cluster) reads every scalar of the table as the
    table says, so the table is no guess about go-yaml."""
    entries = [(expected, text) for text, expected in SCALARS]
    path = tmp_path / "scalars.yaml"
    path.write_text(_doc([(str(e), t) for e, t in entries]))
    done = subprocess.run(
        [str(KUBECTL), "annotate", "--local", "-f", str(path), "probe=1", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    read = json.loads(done.stdout)["data"]
    ours = useryaml.load(path.read_text())["data"]
    for index, (expected, text) in enumerate(entries):
        key = f"k{index}"
        assert _same(ours[key], read[key]), (text, ours[key], read[key])
        assert _same(expected, read[key]), (text, expected, read[key])


def test_map_keys_become_strings_as_kubectl_writes_them() -> None:
    """Even the key ``y`` is a boolean to kubectl, written back as ``true``."""
    loaded = useryaml.load("1: a\n1.5: b\nyes: c\nn: d\n2001-01-01: e\n1e6: f\n")
    assert loaded == {"1": "a", "1.5": "b", "true": "c", "false": "d", "2001-01-01": "e"} | {
        "1e+06": "f"
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("v: .inf\n", ".inf is no JSON number"),
        ("v: -.Inf\n", "-.Inf is no JSON number"),
        ("v: .nan\n", ".nan is no JSON number"),
        ("~: x\n", "a map key must be a string, not None"),
        ("v: !!int abc\n", "cannot read 'abc' as a !!int"),
    ],
)
def test_what_kubectl_cannot_turn_into_json_is_an_error(text: str, problem: str) -> None:
    with pytest.raises(yaml.YAMLError, match=re.escape(problem)):
        useryaml.load(text)


def test_tags_are_read_as_kubectl_reads_them() -> None:
    loaded = useryaml.load(
        'a: !!int "7"\nb: !!float "3"\nc: !!str 5\nd: !foo 5\ne: !!binary aGVsbG8=\n'
        "f: !!bool yes\ng: |\n  5\n"
    )
    assert loaded == {"a": 7, "b": 3.0, "c": "5", "d": "5", "e": "hello", "f": True, "g": "5\n"}
    assert isinstance(loaded["b"], float)


def test_anchors_merges_and_duplicates_as_kubectl() -> None:
    loaded = useryaml.load("base: &b {x: 1}\nm:\n  <<: *b\n  z: 2\nd: 1\nd: 2\nq: '<<'\n")
    assert loaded == {"base": {"x": 1}, "m": {"x": 1, "z": 2}, "d": 2, "q": "<<"}


def test_numbers_reach_the_api_server_as_json_numbers() -> None:
    """A whole float is an integer to the API server, unless it is beyond 64 bits; an
    integer beyond 64 bits is a float."""
    assert as_api_numbers({"a": 2.0, "b": 1e100, "c": 2**63, "d": [1e3, True]}) == {
        "a": 2,
        "b": 1e100,
        "c": float(2**63),
        "d": [1000, True],
    }
    assert isinstance(as_api_numbers(2**63), float)
    assert isinstance(as_api_numbers(-(2**63)), int)
    assert math.isclose(as_api_numbers(1e21), 1e21)


# --- the four divergences issue 17 found, through render and through the CRD -----------

SERVICE = """\
apiVersion: llmservice.dev/v1alpha1
kind: LLMService
metadata:
  name: chat
spec:
{spec}"""


def _render(spec: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = render.main(
        "-", "json", None, stdin=io.StringIO(SERVICE.format(spec=spec)), stdout=out, stderr=err
    )
    return code, out.getvalue(), err.getvalue()


def _accepted_by_the_crd(spec: str) -> bool:
    return support.crd_accepts(as_api_numbers(useryaml.load(SERVICE.format(spec=spec))))


def test_issue_17_enabled_n_is_false() -> None:
    spec = "  replicas: 1\n  autoscaling:\n    enabled: n\n"
    code, out, err = _render(spec)
    assert (code, err) == (0, "")
    assert [c["kind"] for c in json.loads(out)["items"]] == ["Deployment", "Service"]
    assert _accepted_by_the_crd(spec)


def test_issue_17_replicas_0o3_is_three() -> None:
    spec = "  replicas: 0o3\n  autoscaling:\n    enabled: false\n"
    code, out, err = _render(spec)
    assert (code, err) == (0, "")
    assert json.loads(out)["items"][0]["spec"]["replicas"] == 3
    assert _accepted_by_the_crd(spec)


def test_issue_17_model_name_1_20_is_the_text() -> None:
    spec = "  model:\n    name: 1:20\n"
    code, out, err = _render(spec)
    assert (code, err) == (0, "")
    assert "1:20" in out  # the model's name reaches the backend's environment
    assert _accepted_by_the_crd(spec)


def test_issue_17_unquoted_cpu_1e100_is_a_float_and_refused() -> None:
    spec = "  backend:\n    resources:\n      requests: {cpu: 1e100, memory: 128Mi}\n"
    code, out, err = _render(spec)
    assert code == render.EXIT_INVALID
    assert out == ""
    assert "spec.backend.resources.requests.cpu: must be a string or an integer" in err
    assert not _accepted_by_the_crd(spec)
    # quoted, it is the quantity "1e100", which both accept
    quoted = spec.replace("1e100", '"1e100"')
    assert _render(quoted)[0] == 0
    assert _accepted_by_the_crd(quoted)
