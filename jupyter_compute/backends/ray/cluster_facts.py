"""A Ray cluster's nodes and use (the state API's node list and the cluster status) in our vocabulary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...models import Cluster, Environment

GIB = 2**30
#: Ray's own resources, in every node's totals; the others are custom resources.
BUILTIN_RESOURCES = frozenset({"CPU", "GPU", "memory", "objectStoreMemory", "object_store_memory"})


def _totals(node: Mapping[str, Any]) -> dict[str, float]:
    """A node's total resources (``resources_total``), without the ``node:<address>`` markers."""
    totals = node.get("resources_total")
    if not isinstance(totals, Mapping):
        return {}
    return {str(k): float(v) for k, v in totals.items()
            if isinstance(v, (int, float)) and not str(k).startswith("node:")}  # fmt: skip


def _alive(node: Mapping[str, Any]) -> bool:
    return node.get("state") == "ALIVE"


def node_totals(nodes: Sequence[Mapping[str, Any]]) -> list[dict[str, float]]:
    """The total resources of each alive node."""
    return [_totals(node) for node in nodes if _alive(node)]


def _custom(totals: Mapping[str, float]) -> dict[str, float]:
    return {k: v for k, v in totals.items() if k not in BUILTIN_RESOURCES and not k.startswith("accelerator_type:")}


def _gpu_type(totals: Mapping[str, float]) -> str | None:
    kinds = [k.removeprefix("accelerator_type:") for k in totals if k.startswith("accelerator_type:")]
    return kinds[0] if kinds else None


def _kind(totals: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    """What tells kinds of node apart: their resources, memory to the GiB (Ray gives each node the memory it
    found free at its start, so two nodes of one kind differ by a little)."""
    kind = {k: v for k, v in totals.items() if k not in ("objectStoreMemory", "object_store_memory")}
    kind["memory"] = round(kind.get("memory", 0.0) / GIB)
    return tuple(sorted(kind.items()))


def environments_of(nodes: Sequence[Mapping[str, Any]], *, backend: str, running_jobs: int) -> list[Environment]:
    """One environment per kind of alive node: what one job's entrypoint (and each task) can ask for at most
    (the least memory of a kind's nodes)."""
    kinds: dict[tuple[tuple[str, float], ...], list[dict[str, float]]] = {}
    for totals in node_totals(nodes):
        kinds.setdefault(_kind(totals), []).append(totals)
    return [_environment(index, members, backend, running_jobs)
            for index, (_, members) in enumerate(sorted(kinds.items(), key=lambda item: item[0]))]  # fmt: skip


def _environment(index: int, members: list[dict[str, float]], backend: str, running_jobs: int) -> Environment:
    totals = {**members[0], "memory": min(m.get("memory", 0.0) for m in members)}
    cpus, gpus, memory = totals.get("CPU", 0.0), int(totals.get("GPU", 0)), totals["memory"] / GIB
    custom = _custom(totals)
    words = [f"{cpus:g} CPU", f"{gpus} GPU" if gpus else "", f"{memory:.1f} GiB"]
    words += [f"{amount:g} {name}" for name, amount in custom.items()]
    count = len(members)
    return Environment(
        id=f"node-kind-{index + 1}", name=" · ".join(w for w in words if w) + f" (× {count} node{'s' * (count > 1)})",
        backend=backend, description="What one node of this kind offers a job and its tasks.",
        cpus=cpus, gpus=gpus, gpu_type=_gpu_type(totals), memory_gb=round(memory, 2), running_jobs=running_jobs,
        raw={"nodes": count, "resources": totals, "custom_resources": custom},
    )  # fmt: skip


def _usage(status: Any) -> Mapping[str, Any]:
    """``clusterStatus.loadMetricsReport.usage`` of a cluster status answer: resource → [used, total]."""
    data = status.get("data") if isinstance(status, Mapping) else None
    cluster = data.get("clusterStatus") if isinstance(data, Mapping) else None
    report = cluster.get("loadMetricsReport") if isinstance(cluster, Mapping) else None
    usage = report.get("usage") if isinstance(report, Mapping) else None
    return usage if isinstance(usage, Mapping) else {}


def _free(usage: Mapping[str, Any], name: str) -> float | None:
    pair = usage.get(name)
    if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(v, (int, float)) for v in pair):
        return float(pair[1]) - float(pair[0])
    return None


def _node_fact(node: Mapping[str, Any]) -> dict[str, Any]:
    return {"node_id": node.get("node_id"), "address": node.get("node_ip"), "head": bool(node.get("is_head_node")),
            "state": node.get("state"), "resources": _totals(node)}  # fmt: skip


def _first_gpu_type(nodes: Sequence[Mapping[str, float]]) -> str | None:
    return next((kind for kind in map(_gpu_type, nodes) if kind), None)


def _gib(value: float | None) -> float | None:
    return round(value / GIB, 2) if value is not None else None


def cluster_of(name: str, url: str, nodes: Sequence[Mapping[str, Any]], status: Any) -> Cluster:
    """The Ray cluster as one Cluster: its nodes (alive or not) and its resources, total and free now."""
    alive = node_totals(nodes)
    usage = _usage(status)
    gpus = int(sum(t.get("GPU", 0.0) for t in alive))
    free_gpus = _free(usage, "GPU") if gpus else None
    return Cluster(
        id=name, name=f"Ray cluster at {url}", backend=name, status="healthy" if alive else "no node alive",
        nodes=len(nodes), nodes_available=len(alive), cpus=sum(t.get("CPU", 0.0) for t in alive),
        cpus_allocatable=_free(usage, "CPU"), memory_gb=_gib(sum(t.get("memory", 0.0) for t in alive)),
        memory_gb_allocatable=_gib(_free(usage, "memory")), gpus=gpus or None,
        gpus_allocatable=int(free_gpus) if free_gpus is not None else None,
        gpu_type=_first_gpu_type(alive), raw={"nodes": [_node_fact(node) for node in nodes]},
    )  # fmt: skip
