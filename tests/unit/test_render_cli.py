"""``llmservice-operator render``: output formats, namespaces, and errors that name the field."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import support
import yaml
from llmservice_operator.tools.render import command as render

EXAMPLES = support.EXAMPLES_DIR

VALID = """\
apiVersion: llmservice.dev/v1alpha1
kind: LLMService
metadata:
  name: chat
spec:
  autoscaling: {enabled: true, minReplicas: 2, maxReplicas: 4}
"""

INVALID = """\
apiVersion: llmservice.dev/v1alpha1
kind: LLMService
metadata:
  name: broken
spec:
  backend:
    port: 0
  autoscaling:
    targetCPUUtilizationPercentage: fast
  surprise: true
"""


def run(
    filename: str, output: str = "yaml", namespace: str | None = None, stdin: str = ""
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = render.main(
        filename, output, namespace, stdin=io.StringIO(stdin), stdout=out, stderr=err
    )
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, text: str, name: str = "svc.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def kinds(documents: list[dict[str, Any]]) -> list[str]:
    return [d["kind"] for d in documents]


def test_valid_file_renders_all_children_as_yaml_documents(tmp_path: Path) -> None:
    code, out, err = run(write(tmp_path, VALID))
    assert (code, err) == (0, "")
    assert out.startswith("---\n")
    documents = list(yaml.safe_load_all(out))
    assert kinds(documents) == [
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ]
    assert documents[2]["spec"]["maxReplicas"] == 4


def test_json_output_is_a_v1_list(tmp_path: Path) -> None:
    code, out, err = run(write(tmp_path, VALID), output="json")
    assert (code, err) == (0, "")
    listing = json.loads(out)
    assert (listing["apiVersion"], listing["kind"]) == ("v1", "List")
    assert kinds(listing["items"]) == [
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ]


def test_stdin_is_read_for_dash() -> None:
    code, out, err = run("-", stdin=VALID)
    assert (code, err) == (0, "")
    assert kinds(list(yaml.safe_load_all(out)))[0] == "Deployment"


def test_several_documents_render_in_order(tmp_path: Path) -> None:
    second = VALID.replace("name: chat", "name: other").replace("enabled: true", "enabled: false")
    code, out, _ = run(write(tmp_path, VALID + "---\n" + second + "---\n"))
    assert code == 0
    documents = list(yaml.safe_load_all(out))
    assert [(d["kind"], d["metadata"]["name"]) for d in documents] == [
        ("Deployment", "chat"),
        ("Service", "chat"),
        ("HorizontalPodAutoscaler", "chat"),
        ("PodDisruptionBudget", "chat"),
        ("Deployment", "other"),
        ("Service", "other"),
        ("PodDisruptionBudget", "other"),
    ]


@pytest.mark.parametrize(
    ("document_namespace", "flag", "expected"),
    [("team-a", "team-b", "team-a"), (None, "team-b", "team-b"), (None, None, "default")],
)
def test_namespace_is_the_documents_then_the_flag_then_default(
    tmp_path: Path, document_namespace: str | None, flag: str | None, expected: str
) -> None:
    text = VALID
    if document_namespace:
        text = text.replace("  name: chat\n", f"  name: chat\n  namespace: {document_namespace}\n")
    code, out, _ = run(write(tmp_path, text), namespace=flag)
    assert code == 0
    assert {d["metadata"]["namespace"] for d in yaml.safe_load_all(out)} == {expected}


def test_rendered_offline_children_have_no_owner_reference(tmp_path: Path) -> None:
    _, out, _ = run(write(tmp_path, VALID))
    assert all("ownerReferences" not in d["metadata"] for d in yaml.safe_load_all(out))


def test_a_stored_object_keeps_its_owner_reference(tmp_path: Path) -> None:
    text = VALID.replace("  name: chat\n", "  name: chat\n  uid: abc-123\n  generation: 4\n")
    _, out, _ = run(write(tmp_path, text))
    refs = [d["metadata"]["ownerReferences"][0]["uid"] for d in yaml.safe_load_all(out)]
    assert refs == ["abc-123"] * 4


def test_invalid_service_names_each_field_and_prints_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, INVALID)
    code, out, err = run(path)
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    prefix = f"{path}: LLMService/broken: "
    assert all(line.startswith(prefix) for line in lines), lines
    fields = {line[len(prefix) :].split(":")[0] for line in lines}
    assert {
        "spec.backend.port",
        "spec.autoscaling.targetCPUUtilizationPercentage",
        "spec.surprise",
    } <= fields
    assert "Traceback" not in err


def test_one_invalid_document_stops_all_output(tmp_path: Path) -> None:
    code, out, err = run(write(tmp_path, VALID + "---\n" + INVALID))
    assert code == 1
    assert out == ""
    assert "LLMService/broken" in err
    assert "LLMService/chat" not in err


def test_bad_yaml_is_reported_with_its_position(tmp_path: Path) -> None:
    code, out, err = run(write(tmp_path, "metadata:\n  name: [unclosed\n"))
    assert (code, out) == (1, "")
    assert "invalid YAML" in err
    assert "line " in err
    assert "Traceback" not in err


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    code, out, err = run(missing)
    assert (code, out) == (1, "")
    assert err.startswith(f"{missing}: cannot read: ")


def test_directory_is_a_clear_error(tmp_path: Path) -> None:
    code, out, err = run(str(tmp_path))
    assert (code, out) == (1, "")
    assert "cannot read" in err


def test_binary_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "blob.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    code, out, err = run(str(path))
    assert (code, out) == (1, "")
    assert "cannot read" in err


def test_empty_input_is_an_error() -> None:
    code, out, err = run("-", stdin="# nothing here\n---\n")
    assert (code, out) == (1, "")
    assert "no LLMService" in err


def test_a_document_that_is_not_an_object_is_an_error() -> None:
    code, out, err = run("-", stdin=VALID + "---\n- just\n- a list\n")
    assert (code, out) == (1, "")
    assert err.startswith("<stdin>: document 2: ")


def test_another_kind_is_named_in_the_error() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n"
    code, out, err = run("-", stdin=text)
    assert (code, out) == (1, "")
    assert "<stdin>: ConfigMap/settings: kind: " in err


def test_missing_name_is_named_in_the_error() -> None:
    text = "apiVersion: llmservice.dev/v1alpha1\nkind: LLMService\nmetadata: {}\n"
    code, _, err = run("-", stdin=text)
    assert code == 1
    assert "<stdin>: document 1: metadata.name: " in err


def test_duplicate_names_in_one_file_are_an_error() -> None:
    code, out, err = run("-", stdin=VALID + "---\n" + VALID)
    assert (code, out) == (1, "")
    assert "LLMService/chat: metadata.name: " in err


def test_the_command_line_entry_point(tmp_path: Path) -> None:
    # Through `python -m llmservice_operator`, as a user runs it: exit codes and streams.
    command = [sys.executable, "-m", "llmservice_operator", "render"]
    ok = subprocess.run(
        [*command, "-f", str(EXAMPLES / "minimal.yaml"), "-o", "json", "-n", "prod"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (ok.returncode, ok.stderr) == (0, "")
    assert {i["metadata"]["namespace"] for i in json.loads(ok.stdout)["items"]} == {"prod"}

    bad = subprocess.run(
        [*command, "-f", write(tmp_path, INVALID)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert "spec.backend.port" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_kubectl_get_output_renders(tmp_path: Path) -> None:
    # `kubectl get llms chat -o yaml | llmservice-operator render -f -`: server fields and a
    # status are no spec errors.
    text = VALID.replace(
        "  name: chat\n",
        "  name: chat\n  namespace: prod\n  uid: 9a1b\n  resourceVersion: '12'\n"
        "  creationTimestamp: '2026-01-01T00:00:00Z'\n"
        "  managedFields: [{manager: kubectl, operation: Apply}]\n",
    )
    text += "status:\n  phase: Ready\n  ready: 2/2\n"
    code, out, err = run("-", stdin=text)
    assert (code, err) == (0, "")
    documents = list(yaml.safe_load_all(out))
    assert {d["metadata"]["namespace"] for d in documents} == {"prod"}
    assert {d["metadata"]["ownerReferences"][0]["uid"] for d in documents} == {"9a1b"}


DATED = """\
apiVersion: llmservice.dev/v1alpha1
kind: LLMService
metadata:
  name: dated
  annotations:
    deployed-on: 2024-01-01
spec:
  service:
    annotations:
      example.com/since: 2024-01-01T10:00:00Z
  pod:
    annotations:
      deployed-on: 2024-01-01
    tolerations:
      - {key: maintenance, operator: Equal, value: 2024-02-29, effect: NoSchedule}
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
            - matchExpressions:
                - {key: example.com/batch, operator: In, values: [2024-03-01, 2024-03-02]}
"""


@pytest.mark.parametrize("output", ["yaml", "json"])
def test_unquoted_dates_stay_strings_as_kubectl_keeps_them(output: str) -> None:
    """kubectl reads an unquoted ``2024-01-01`` as the string it looks like; so does render,
    in every output format (a date object would crash ``-o json`` and fail as a label)."""
    code, out, err = run("-", output=output, stdin=DATED)
    assert (code, err) == (0, "")
    # quoted in YAML output, so even a loader that reads dates keeps them as strings
    children = json.loads(out)["items"] if output == "json" else list(yaml.safe_load_all(out))
    deployment, service = children[0], children[1]
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["annotations"]["deployed-on"] == "2024-01-01"
    assert service["metadata"]["annotations"]["example.com/since"] == "2024-01-01T10:00:00Z"
    (toleration,) = pod["spec"]["tolerations"]
    assert toleration["value"] == "2024-02-29"
    (term,) = pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert term["matchExpressions"][0]["values"] == ["2024-03-01", "2024-03-02"]


def test_explicitly_tagged_timestamps_stay_strings_too() -> None:
    text = DATED.replace(
        "deployed-on: 2024-01-01\nspec", "deployed-on: !!timestamp 2024-01-01\nspec"
    )
    code, out, err = run("-", output="json", stdin=text)
    assert (code, err) == (0, "")
    assert json.loads(out)["items"]


def test_without_the_render_extra_it_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cel-python is an optional extra (the operator image does not need it): render
    without it refuses to validate less than it promises, and names the extra."""
    monkeypatch.setitem(sys.modules, "celpy", None)  # `import celpy` fails as if absent
    for module in ("cel", "validation"):
        monkeypatch.delitem(sys.modules, f"llmservice_operator.tools.render.{module}", False)
    code, out, err = run(write(tmp_path, VALID))
    assert code == render.EXIT_NO_EXTRA
    assert out == ""
    assert "pip install 'llmservice-operator[render]'" in err


def test_the_operator_process_never_imports_the_cel_engine() -> None:
    """The operator trusts the API server's admission: its reconcile path reads specs
    through the models only, so cel-python need not be in its image."""
    probe = (
        "import sys\n"
        "from llmservice_operator.runtime import handlers, main\n"
        "from llmservice_operator.cli import main as cli\n"
        "assert not [m for m in sys.modules if m.startswith(('celpy', 'lark'))], 'CEL loaded'\n"
        "assert not [m for m in sys.modules if m.startswith('llmservice_testkit')], 'test kit'\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=120)


# --- the children against Kubernetes' own schemas -----------------------------------------


def _with_pod_field(monkeypatch: pytest.MonkeyPatch, name: str, value: Any) -> None:
    """Builders that add ``name`` to the pod spec: what a builder bug would look like."""
    build = render.build_children

    def built(service: Any) -> list[dict[str, Any]]:
        children = build(service)
        children[0]["spec"]["template"]["spec"][name] = value
        return children

    monkeypatch.setattr(render, "build_children", built)


def test_every_supported_version_is_checked() -> None:
    from llmservice_operator.tools.render import upstream

    versions = upstream.versions()
    assert versions[0] == "1.29"
    assert versions[-1] == support.KUBERNETES_VERSIONS[-1].rsplit(".", 1)[0]
    assert len(versions) == int(versions[-1].split(".")[1]) - 29 + 1


def test_a_child_the_upstream_schemas_refuse_is_reported_with_the_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _with_pod_field(monkeypatch, "terminationGracePeriodSeconds", "soon")
    code, out, err = run("-", stdin=VALID)
    assert (code, out) == (render.EXIT_INVALID, "")
    assert err.splitlines() == [
        "<stdin>: LLMService/chat: Deployment/chat: spec.template.spec."
        "terminationGracePeriodSeconds: 'soon' is not of type 'integer', 'null' "
        "(refused by the Kubernetes 1.29 to 1.37 schemas)"
    ]


def test_a_field_newer_than_the_oldest_version_is_refused_by_the_older_schemas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pod-level resources came with Kubernetes 1.32: older API servers would drop them."""
    _with_pod_field(monkeypatch, "resources", {"limits": {"cpu": "2"}})
    code, _, err = run("-", stdin=VALID)
    assert code == render.EXIT_INVALID
    assert "(refused by the Kubernetes 1.29 to 1.31 schemas)" in err
    assert "Additional properties are not allowed ('resources' was unexpected)" in err
    # checked against one version only, the newest, it passes
    out, err_io = io.StringIO(), io.StringIO()
    code = render.main(
        "-", "yaml", None, "1.37", stdin=io.StringIO(VALID), stdout=out, stderr=err_io
    )
    assert (code, err_io.getvalue()) == (render.EXIT_OK, "")


def test_an_unknown_kubernetes_version_is_a_usage_error() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = render.main("-", "yaml", None, "1.20", stdin=io.StringIO(VALID), stdout=out, stderr=err)
    assert code == render.EXIT_NO_EXTRA
    assert "--kubernetes-version 1.20: the schemas cover 1.29 to 1.37" in err.getvalue()


def test_without_kubernetes_validate_it_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import llmservice_operator.tools.render as package

    monkeypatch.setitem(sys.modules, "kubernetes_validate", None)
    monkeypatch.delitem(sys.modules, "llmservice_operator.tools.render.upstream", False)
    monkeypatch.delattr(package, "upstream", raising=False)
    code, out, err = run(write(tmp_path, VALID))
    assert (code, out) == (render.EXIT_NO_EXTRA, "")
    assert "pip install 'llmservice-operator[render]'" in err
