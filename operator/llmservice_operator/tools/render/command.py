"""``llmservice-operator render``: the children of LLMServices in a file, offline.

For GitOps review and diffs: the same builders the operator runs, without a cluster. Every
document is validated as the API server would (:mod:`.validation`: the models, then the
CRD's CEL rules), then as the API server would validate its children: the checks the CRD
cannot afford (:mod:`llmservice_operator.api.childchecks`, on the LLMService's fields), and
the built children against Kubernetes' own schemas of every supported version
(:mod:`.upstream`). Everything is checked before anything is written, so a bad file prints
errors only (one line per problem, naming the file, the object and the field) and never
half of the output. The CEL rules and the schemas need the ``render`` extra (cel-python,
kubernetes-validate); without it the command says how to install it rather than validate
less than it promises.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, TextIO

import yaml

from llmservice_operator.api.childchecks import check_children
from llmservice_operator.api.models import KIND, LLMService
from llmservice_operator.api.validation import InvalidLLMServiceError
from llmservice_operator.builders import build_children
from llmservice_operator.tools import useryaml

DEFAULT_NAMESPACE = "default"
EXIT_OK, EXIT_INVALID, EXIT_NO_EXTRA = 0, 1, 2
NEEDS_EXTRA = (
    "llmservice-operator render: the CRD's CEL rules and Kubernetes' schemas need cel-python "
    "and kubernetes-validate, the optional 'render' extra: "
    "pip install 'llmservice-operator[render]'"
)
_EXTRA_MODULES = ("celpy", "lark", "kubernetes_validate", "jsonschema", "referencing")


class MissingExtraError(Exception):
    """The ``render`` extra is not installed: render cannot check what the API server
    checks."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, printed as ``<file>: <object>: <path>: <message>``."""

    where: str
    path: str
    message: str

    def format(self, filename: str) -> str:
        parts = [filename, self.where, self.path, self.message]
        return ": ".join(p for p in parts if p)


class RenderError(Exception):
    """The input cannot be rendered; ``problems`` says why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.where} {p.path}: {p.message}" for p in problems))
        self.problems = problems


def validate(document: dict[str, Any], where: str) -> LLMService:
    """The document as a validated LLMService, or :class:`RenderError` naming each field.

    The API server's checks (fields, then the CRD's CEL rules), then what it would refuse
    in the children but the CRD cannot check (:func:`check_children`).
    """
    try:
        from llmservice_operator.tools.render.validation import validate_llmservice
    except ModuleNotFoundError as missing:
        if missing.name not in _EXTRA_MODULES:
            raise
        raise MissingExtraError(NEEDS_EXTRA) from None
    try:
        return check_children(validate_llmservice(document))
    except InvalidLLMServiceError as error:
        raise RenderError(
            [Problem(where, e.path or "(document)", e.message) for e in error.errors]
        ) from None


def _describe(document: dict[str, Any], index: int) -> str:
    """``Kind/name`` of a document for error lines, as far as it can be told."""
    kind = document.get("kind") if isinstance(document.get("kind"), str) else None
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if isinstance(name, str) and name:
        return f"{kind or KIND}/{name}"
    return f"document {index}"


def load_documents(text: str) -> list[Any]:
    """The YAML documents of ``text``, empty ones dropped; bad YAML is a RenderError."""
    try:
        documents = useryaml.load_all(text)
    except yaml.YAMLError as error:
        where = ""
        mark = getattr(error, "problem_mark", None)
        if mark is not None:
            where = f"line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(error, "problem", None) or str(error)
        raise RenderError([Problem("invalid YAML", where, str(problem))]) from None
    return [doc for doc in documents if doc is not None]


def check_upstream(
    service: LLMService, children: list[dict[str, Any]], kubernetes: str | None
) -> list[Problem]:
    """The children against Kubernetes' own schemas (every supported version, or only
    ``kubernetes``), as problems of the LLMService they come from."""
    try:
        from llmservice_operator.tools.render import upstream
    except ModuleNotFoundError as missing:
        if missing.name not in _EXTRA_MODULES:
            raise
        raise MissingExtraError(NEEDS_EXTRA) from None
    where = f"{KIND}/{service.metadata.name}"
    return [
        Problem(
            where,
            error.child,
            f"{error.path or '(object)'}: {error.message} "
            f"(refused by the {upstream.describe(error.versions)})",
        )
        for error in upstream.check(children, only=kubernetes)
    ]


def known_versions() -> tuple[str, ...]:
    """The Kubernetes versions whose schemas ``render`` checks the children against."""
    try:
        from llmservice_operator.tools.render import upstream
    except ModuleNotFoundError as missing:
        if missing.name not in _EXTRA_MODULES:
            raise
        raise MissingExtraError(NEEDS_EXTRA) from None
    return upstream.versions()


def render_documents(
    documents: list[Any], namespace: str | None, kubernetes: str | None = None
) -> list[dict[str, Any]]:
    """Validate every document, then build the children of all of them and check those.

    The namespace of each LLMService is its own, else ``namespace``, else ``default``.
    Every problem in every document is collected before giving up, so one run reports all.
    ``kubernetes`` (``1.33``) checks the children against that version's schema only.
    """
    if not documents:
        raise RenderError([Problem("", "", "no LLMService found (the input is empty)")])
    problems: list[Problem] = []
    services: list[LLMService] = []
    seen: set[tuple[str, str]] = set()
    for index, document in enumerate(documents, start=1):
        if not isinstance(document, dict):
            kind = type(document).__name__
            problems.append(
                Problem(f"document {index}", "", f"expected an LLMService object, got a {kind}")
            )
            continue
        where = _describe(document, index)
        document = dict(document)
        metadata = document.get("metadata")
        if isinstance(metadata, dict) and not metadata.get("namespace"):
            document["metadata"] = {**metadata, "namespace": namespace or DEFAULT_NAMESPACE}
        try:
            service = validate(document, where)
        except RenderError as error:
            problems.extend(error.problems)
            continue
        key = (service.metadata.namespace or DEFAULT_NAMESPACE, service.metadata.name)
        if key in seen:
            problems.append(
                Problem(
                    where,
                    "metadata.name",
                    f"another LLMService in namespace {key[0]} has the same name",
                )
            )
            continue
        seen.add(key)
        services.append(service)
    rendered: list[dict[str, Any]] = []
    for service in services:
        children = build_children(service)
        problems.extend(check_upstream(service, children, kubernetes))
        rendered.extend(children)
    if problems:
        raise RenderError(problems)
    return rendered


def format_children(children: list[dict[str, Any]], output: str) -> str:
    """YAML: one ``---`` document per child. JSON: a ``v1`` ``List``, as kubectl prints."""
    if output == "json":
        listing = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": children}
        return json.dumps(listing, indent=2) + "\n"
    if output == "yaml":
        return yaml.safe_dump_all(children, explicit_start=True, sort_keys=False)
    raise ValueError(f"unknown output format {output!r}: use yaml or json")


def _read(filename: str, stdin: TextIO) -> str:
    if filename == "-":
        return stdin.read()
    try:
        with open(filename, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise RenderError([Problem("cannot read", "", error.strerror or str(error))]) from None
    except UnicodeDecodeError:
        raise RenderError([Problem("cannot read", "", "not UTF-8 text")]) from None


def main(
    filename: str,
    output: str,
    namespace: str | None,
    kubernetes: str | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Render ``filename`` (``-`` for stdin) to stdout; 0 on success, 1 with errors on
    stderr, 2 when the ``render`` extra is missing or ``kubernetes`` is no version it
    knows."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    shown = "<stdin>" if filename == "-" else filename
    try:
        if kubernetes is not None and kubernetes not in (known := known_versions()):
            stderr.write(
                f"llmservice-operator render: --kubernetes-version {kubernetes}: the schemas "
                f"cover {known[0]} to {known[-1]} (major.minor)\n"
            )
            return EXIT_NO_EXTRA
        text = _read(filename, stdin)
        children = render_documents(load_documents(text), namespace, kubernetes)
        rendered = format_children(children, output)
    except RenderError as error:
        for problem in error.problems:
            stderr.write(problem.format(shown) + "\n")
        return EXIT_INVALID
    except MissingExtraError as missing:
        stderr.write(f"{missing}\n")
        return EXIT_NO_EXTRA
    stdout.write(rendered)
    return EXIT_OK
