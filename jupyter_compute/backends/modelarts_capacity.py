"""ModelArts capacity as the common vocabulary: v1 clusters and v2 pools → Cluster, flavors → Environment.

Pool nodes report their size as Kubernetes quantity strings (``3920m`` CPU, ``6270Mi`` memory,
``nvidia.com/gpu: "1"``); :func:`parse_quantity` reads them. Memory is reported in GB of 2³⁰
bytes (``30Gi`` → 30.0). Cluster ids name their kind: ``cluster:<cluster_id>`` for a v1 cluster
(inference services), ``pool:<metadata.name>`` for a v2 resource pool (where training jobs run).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ..models import Cluster, Environment

CLUSTER_PREFIX = "cluster:"
POOL_PREFIX = "pool:"
POOL_NAME_LABEL = "os.modelarts/name"
GB = 2**30

#: Suffix → multiplier of a Kubernetes quantity (binary, decimal SI, and the milli/micro/nano units).
QUANTITY_SUFFIXES: Mapping[str, Decimal] = {
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
}  # fmt: skip
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([a-zA-Z]{0,2})$")

#: Accelerator resource names → the type shown to people. Other ``huawei.com/ascend-*`` and
#: ``nvidia.com/*`` resources are accelerators too (see :func:`accelerator_type`).
ACCELERATORS: Mapping[str, str] = {
    "nvidia.com/gpu": "NVIDIA GPU",
    "huawei.com/ascend-snt3": "Ascend snt3",
    "huawei.com/ascend-snt9": "Ascend snt9",
}


def parse_quantity(value: Any) -> float:
    """A Kubernetes quantity in its base unit: ``3920m`` → 3.92, ``6270Mi`` → 6574571520.0, ``1G`` → 1e9.

    Numbers are taken as they are. ValueError for anything else (empty, negative, unknown suffix).
    """
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, (int, float)):
        number = Decimal(str(value))
    else:
        found = _QUANTITY.match(str(value).strip()) if isinstance(value, str) else None
        if not found or found.group(2) not in QUANTITY_SUFFIXES:
            raise ValueError(f"not a Kubernetes quantity: {value!r}")
        try:
            number = Decimal(found.group(1)) * QUANTITY_SUFFIXES[found.group(2)]
        except InvalidOperation:
            raise ValueError(f"not a Kubernetes quantity: {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"a quantity must be a finite number ≥ 0: {value!r}")
    return float(number)


def accelerator_type(resource: str) -> str | None:
    """The accelerator a resource name counts (``nvidia.com/gpu`` → ``NVIDIA GPU``), or None."""
    if resource in ACCELERATORS:
        return ACCELERATORS[resource]
    vendor, _, kind = resource.partition("/")
    if vendor == "huawei.com" and kind.startswith("ascend-"):
        return f"Ascend {kind[len('ascend-'):]}"
    if vendor == "nvidia.com" and kind:
        return f"NVIDIA {kind}"
    return None


@dataclass
class Resources:
    """CPU cores, memory (GB) and accelerators of one node or of a sum of nodes."""

    cpus: float = 0.0
    memory_gb: float = 0.0
    accelerators: int = 0
    types: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, data: Any) -> Resources:
        """A node's ``resources``/``availableResources`` map; unreadable entries are left out."""
        found = cls()
        for name, value in (data or {}).items() if isinstance(data, Mapping) else ():
            try:
                amount = parse_quantity(value)
            except ValueError:
                continue
            kind = accelerator_type(str(name))
            if name == "cpu":
                found.cpus += amount
            elif name == "memory":
                found.memory_gb += amount / GB
            elif kind:
                found.accelerators += int(amount)
                if kind not in found.types:
                    found.types.append(kind)
        return found

    def add(self, other: Resources) -> None:
        self.cpus += other.cpus
        self.memory_gb += other.memory_gb
        self.accelerators += other.accelerators
        self.types.extend(t for t in other.types if t not in self.types)

    @property
    def gpu_type(self) -> str | None:
        return ", ".join(self.types) or None


def _round(value: float) -> float:
    return round(value, 3)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _whole(value: Any) -> Any:
    """A count as an int when it is whole (fractional GPUs of a v1 cluster stay as they are)."""
    number = _number(value)
    return int(number) if number is not None and number.is_integer() else number


def v1_cluster(backend: str, data: Mapping[str, Any]) -> Cluster:
    """A v1 dedicated cluster (for inference services); only what is allocatable is reported."""
    nodes = data.get("nodes") if isinstance(data.get("nodes"), Mapping) else {}
    memory_mb = _number(data.get("allocatable_memory"))
    return Cluster(
        id=f"{CLUSTER_PREFIX}{data.get('cluster_id', '')}",
        name=str(data.get("cluster_name") or data.get("cluster_id") or ""),
        backend=backend,
        status=str(data.get("status") or ""),
        nodes=_whole(nodes.get("count")),
        nodes_available=_whole(nodes.get("available_count")),
        cpus_allocatable=_number(data.get("allocatable_cpu_cores")),
        memory_gb_allocatable=_round(memory_mb / 1024) if memory_mb is not None else None,
        gpus_allocatable=_whole(data.get("allocatable_gpus")),
        raw=dict(data),
    )


def pool_name(pool: Mapping[str, Any]) -> str:
    metadata = pool.get("metadata") if isinstance(pool.get("metadata"), Mapping) else {}
    return str(metadata.get("name") or "")


def pool_display_name(pool: Mapping[str, Any]) -> str:
    metadata = pool.get("metadata") if isinstance(pool.get("metadata"), Mapping) else {}
    labels = metadata.get("labels") if isinstance(metadata.get("labels"), Mapping) else {}
    return str(labels.get(POOL_NAME_LABEL) or metadata.get("name") or "")


def pool_flavors(pool: Mapping[str, Any]) -> list[str]:
    """The flavors a pool offers: its ``spec.resources`` and every bucket of ``status.resources``."""
    flavors: list[str] = []
    spec = pool.get("spec") if isinstance(pool.get("spec"), Mapping) else {}
    status = pool.get("status") if isinstance(pool.get("status"), Mapping) else {}
    entries: list[Any] = list(spec.get("resources") or []) if isinstance(spec.get("resources"), list) else []
    buckets = status.get("resources") if isinstance(status.get("resources"), Mapping) else {}
    for bucket in buckets.values():
        entries.extend(bucket if isinstance(bucket, list) else [bucket])
    for entry in entries:
        flavor = entry.get("flavor") if isinstance(entry, Mapping) else None
        if isinstance(flavor, str) and flavor and flavor not in flavors:
            flavors.append(flavor)
    return flavors


def _node_status(node: Mapping[str, Any]) -> Mapping[str, Any]:
    status = node.get("status")
    return status if isinstance(status, Mapping) else {}


def node_flavor(node: Mapping[str, Any]) -> str:
    spec = node.get("spec") if isinstance(node.get("spec"), Mapping) else {}
    return str(spec.get("flavor") or "")


def pool_cluster(backend: str, pool: Mapping[str, Any], nodes: Sequence[Mapping[str, Any]]) -> Cluster:
    """A v2 pool with the capacity of its nodes (total, and what is free now)."""
    total, free = Resources(), Resources()
    for node in nodes:
        total.add(Resources.parse(_node_status(node).get("resources")))
        free.add(Resources.parse(_node_status(node).get("availableResources")))
    status = pool.get("status") if isinstance(pool.get("status"), Mapping) else {}
    return Cluster(
        id=f"{POOL_PREFIX}{pool_name(pool)}",
        name=pool_display_name(pool),
        backend=backend,
        status=str(status.get("phase") or ""),
        nodes=len(nodes),
        nodes_available=sum(1 for n in nodes if _node_status(n).get("phase") == "Available"),
        cpus=_round(total.cpus),
        cpus_allocatable=_round(free.cpus),
        memory_gb=_round(total.memory_gb),
        memory_gb_allocatable=_round(free.memory_gb),
        gpus=total.accelerators,
        gpus_allocatable=free.accelerators,
        gpu_type=total.gpu_type,
        raw={**pool, "node_count": len(nodes)},
    )


def flavor_environments(
    backend: str, pools: Iterable[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]]
) -> list[Environment]:
    """One environment per flavor the pools offer, sized from a node of that flavor when one exists."""
    offered: dict[str, list[str]] = {}
    sizes: dict[str, Resources] = {}
    for pool, nodes in pools:
        for flavor in pool_flavors(pool):
            offered.setdefault(flavor, [])
            if pool_name(pool) not in offered[flavor]:
                offered[flavor].append(pool_name(pool))
        for node in nodes:
            flavor = node_flavor(node)
            if flavor and flavor not in sizes:
                sizes[flavor] = Resources.parse(_node_status(node).get("resources"))
            if flavor and pool_name(pool) not in offered.setdefault(flavor, []):
                offered[flavor].append(pool_name(pool))
    environments = []
    for flavor, pool_names in offered.items():
        size = sizes.get(flavor)
        environments.append(Environment(
            id=flavor, name=flavor, backend=backend,
            description=f"ModelArts flavor offered by pool{'s' if len(pool_names) > 1 else ''} {', '.join(pool_names)}",
            cpus=_round(size.cpus) if size else None,
            memory_gb=_round(size.memory_gb) if size else None,
            gpus=size.accelerators if size else None,
            gpu_type=size.gpu_type if size else None,
            raw={"flavor": flavor, "pools": [f"{POOL_PREFIX}{p}" for p in pool_names]},
        ))  # fmt: skip
    return environments
