"""The report as text for people (pure: a function of the :class:`~.data.Report`)."""

from __future__ import annotations

from llmservice_operator.tools.report.data import Report
from llmservice_operator.tools.texttable import table


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _opt(value: int | None, suffix: str = "") -> str:
    return "-" if value is None else f"{value}{suffix}"


def render_text(r: Report) -> str:
    lines = [f"LLMService {r.namespace}/{r.name}: model {r.model}, age {r.age}"]
    lines.append(f"  phase       {r.phase} (ready {r.ready})")
    service = ""
    if r.service_type:
        service = f" (Service {r.service_type}, port {_opt(r.service_port)}"
        if r.node_ports:
            service += ", nodePort " + ", ".join(str(p) for p in r.node_ports)
        service += ")"
    lines.append(f"  endpoint    {r.endpoint}{service}")
    lines.append(
        f"  pods        {r.pods_ready}/{r.pods_total} ready"
        f" (desired {_opt(r.desired_replicas)}, updated {_opt(r.updated_replicas)},"
        f" available {_opt(r.available_replicas)})"
    )
    lines.append(
        f"  containers  {r.containers_ready}/{r.containers_total} ready"
        " (regular containers and native sidecars)"
    )
    lines.append(f"  restarts    {r.restarts}")
    if r.pods:
        lines.append("")
        lines += table(
            ["POD", "READY", "STATUS", "RESTARTS", "AGE", "NODE"],
            [
                [
                    p.name,
                    f"{p.containers_ready}/{p.containers_total}",
                    p.status,
                    str(p.restarts),
                    p.age,
                    p.node,
                ]
                for p in r.pods
            ],
        )
    lines.append("")
    a = r.autoscaling
    if not a.enabled:
        lines.append("  autoscaling off (spec.replicas sets the pod count)")
    else:
        lines.append(
            f"  autoscaling {_opt(a.min_replicas)}..{_opt(a.max_replicas)} pods,"
            f" current {_opt(a.current_replicas)}, desired {_opt(a.desired_replicas)}"
            f" ({a.state})"
        )
        for u in a.utilization:
            lines.append(
                f"    {u.resource:<8}  {_opt(u.current, '%')} of requests"
                f" (target {_opt(u.target, '%')})"
            )
        if a.last_scale_time:
            lines.append(f"    last scaled at {a.last_scale_time}")
        for c in a.conditions:
            lines.append(f"    HPA {c.type}={c.status} {c.reason}: {c.message}".rstrip(": "))
    if r.conditions:
        lines.append("")
        lines += table(
            ["CONDITION", "STATUS", "REASON", "SINCE", "MESSAGE"],
            [[c.type, c.status, c.reason, c.since, c.message] for c in r.conditions],
        )
    if r.probe is not None:
        p = r.probe
        lines.append("")
        lines.append(
            f"  health check through the API server's service proxy: {p.ok}/{p.samples} ok,"
            f" p50 {_ms(p.p50_seconds)}, max {_ms(p.max_seconds)}"
        )
        for failure in dict.fromkeys(p.failures):
            lines.append(f"    failed: {failure} (x{p.failures.count(failure)})")
    if r.notes or r.missing:
        lines.append("")
    for note in r.notes:
        lines.append(f"  note: {note}")
    for item in r.missing:
        lines.append(f"  missing: {item} (not found; the operator creates it)")
    return "\n".join(lines) + "\n"
