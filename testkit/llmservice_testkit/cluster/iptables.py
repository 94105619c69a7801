"""The iptables chains a real node's kubelet and kube-proxy make, found and removed.

kube-proxy removes its own with ``kube-proxy --cleanup``; the kubelet never removes the
few it keeps (a hint of the iptables flavour, a canary to notice a flush, and a firewall
rule against martian packets to 127.0.0.0/8), so the node's stop does. These names are
machine-wide: the node refuses to start where any exists already, so what it removes at
stop is what it made.
"""

from __future__ import annotations

import shutil
import subprocess

FAMILIES = ("iptables", "ip6tables")
# (table, chain) the kubelet makes in both families (KUBE-FIREWALL in IPv4 only).
KUBELET_CHAINS = (
    ("filter", "KUBE-FIREWALL"),
    ("filter", "KUBE-KUBELET-CANARY"),
    ("nat", "KUBE-KUBELET-CANARY"),
    ("mangle", "KUBE-KUBELET-CANARY"),
    ("mangle", "KUBE-IPTABLES-HINT"),
)
# What kube-proxy in iptables mode makes first.
KUBE_PROXY_CHAINS = (("nat", "KUBE-SERVICES"), ("filter", "KUBE-SERVICES"))


def _run(family: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([family, "-w", *args], capture_output=True, text=True, check=False)


def rules(family: str, table: str) -> list[str]:
    """The table's rules as ``-S`` prints them (``-N CHAIN``, ``-A CHAIN ...``)."""
    done = _run(family, "-t", table, "-S")
    return done.stdout.splitlines() if done.returncode == 0 else []


def existing(chains: tuple[tuple[str, str], ...], family: str = "iptables") -> list[str]:
    """Which of ``chains`` exist, as ``table/chain``."""
    found = []
    for table, chain in chains:
        if f"-N {chain}" in rules(family, table):
            found.append(f"{table}/{chain}")
    return found


def remove(chains: tuple[tuple[str, str], ...]) -> list[str]:
    """Remove each chain in both families: the jumps to it, its rules, the chain; what was
    removed, as ``family table/chain``."""
    removed = []
    for family in FAMILIES:
        if shutil.which(family) is None:
            continue
        for table, chain in chains:
            lines = rules(family, table)
            if f"-N {chain}" not in lines:
                continue
            for line in lines:
                words = line.split()
                if words[:1] == ["-A"] and words[-2:] == ["-j", chain]:
                    _run(family, "-t", table, "-D", *words[1:])
            _run(family, "-t", table, "-F", chain)
            if _run(family, "-t", table, "-X", chain).returncode == 0:
                removed.append(f"{family} {table}/{chain}")
    return removed


def tables() -> set[tuple[str, str]]:
    """The nftables tables iptables-nft works in, as (family, table): ``("ip", "nat")``.
    Empty where ``nft`` is missing (then nothing is removed either)."""
    if shutil.which("nft") is None:
        return set()
    done = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False)
    found = set()
    for line in done.stdout.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "table":
            found.add((words[1], words[2]))
    return found


def remove_new_empty_tables(before: set[tuple[str, str]]) -> list[str]:
    """Delete the tables that appeared since ``before`` and hold no rule (iptables-nft
    makes a table the first time anything lists or touches it, and never removes it)."""
    removed = []
    family_of = {"ip": "iptables", "ip6": "ip6tables"}
    for family, table in sorted(tables() - before):
        program = family_of.get(family)
        if program is None or shutil.which(program) is None:
            continue
        if any(not line.startswith("-P ") for line in rules(program, table)):
            continue  # rules or chains of someone's: not ours to remove
        done = subprocess.run(
            ["nft", "delete", "table", family, table], capture_output=True, check=False
        )
        if done.returncode == 0:
            removed.append(f"{family} {table}")
    return removed
