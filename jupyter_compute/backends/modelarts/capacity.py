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

from ...models import Cluster, Environment
from .json_fields import as_list, as_mapping

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
        for name, value in as_mapping(data).items():
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
    nodes = as_mapping(data.get("nodes"))
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
    """The pool's id-like name (``metadata.name``); empty when it has none."""
    return str(as_mapping(pool.get("metadata")).get("name") or "")


def pool_display_name(pool: Mapping[str, Any]) -> str:
    """The name people gave the pool (its ``os.modelarts/name`` label), else its ``metadata.name``."""
    metadata = as_mapping(pool.get("metadata"))
    labels = as_mapping(metadata.get("labels"))
    return str(labels.get(POOL_NAME_LABEL) or metadata.get("name") or "")


def _flavor_entries(pool: Mapping[str, Any]) -> list[Any]:
    """The entries of ``spec.resources`` and of every bucket of ``status.resources``, in that order."""
    entries = list(as_list(as_mapping(pool.get("spec")).get("resources")))
    for bucket in as_mapping(as_mapping(pool.get("status")).get("resources")).values():
        entries.extend(bucket if isinstance(bucket, list) else [bucket])
    return entries


def pool_flavors(pool: Mapping[str, Any]) -> list[str]:
    """The flavors a pool offers: its ``spec.resources`` and every bucket of ``status.resources``."""
    flavors: list[str] = []
    for entry in _flavor_entries(pool):
        flavor = as_mapping(entry).get("flavor")
        if isinstance(flavor, str) and flavor and flavor not in flavors:
            flavors.append(flavor)
    return flavors


def _node_status(node: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_mapping(node.get("status"))


def node_flavor(node: Mapping[str, Any]) -> str:
    """The flavor of a pool node (``spec.flavor``); empty when it names none."""
    return str(as_mapping(node.get("spec")).get("flavor") or "")


def pool_cluster(backend: str, pool: Mapping[str, Any], nodes: Sequence[Mapping[str, Any]]) -> Cluster:
    """A v2 pool with the capacity of its nodes (total, and what is free now)."""
    total, free = Resources(), Resources()
    for node in nodes:
        total.add(Resources.parse(_node_status(node).get("resources")))
        free.add(Resources.parse(_node_status(node).get("availableResources")))
    status = as_mapping(pool.get("status"))
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


#: A pool and its nodes, as read from the platform.
PoolNodes = tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]


def _add_once(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _flavor_pools(pools: Iterable[PoolNodes]) -> dict[str, list[str]]:
    """Flavor → the names of the pools offering it (listed by the pool or run by one of its nodes)."""
    offered: dict[str, list[str]] = {}
    for pool, nodes in pools:
        node_flavors = [flavor for flavor in map(node_flavor, nodes) if flavor]
        for flavor in pool_flavors(pool) + node_flavors:
            _add_once(offered.setdefault(flavor, []), pool_name(pool))
    return offered


def _flavor_sizes(pools: Iterable[PoolNodes]) -> dict[str, Resources]:
    """Flavor → the resources of the first node of that flavor."""
    sizes: dict[str, Resources] = {}
    for _, nodes in pools:
        for node in nodes:
            flavor = node_flavor(node)
            if flavor and flavor not in sizes:
                sizes[flavor] = Resources.parse(_node_status(node).get("resources"))
    return sizes


def _flavor_environment(backend: str, flavor: str, pool_names: Sequence[str], size: Resources | None) -> Environment:
    """The environment of one flavor; its size is left unknown when no node of the flavor was seen."""
    pools = f"pool{'s' if len(pool_names) > 1 else ''} {', '.join(pool_names)}"
    environment = Environment(
        id=flavor, name=flavor, backend=backend, description=f"ModelArts flavor offered by {pools}",
        raw={"flavor": flavor, "pools": [f"{POOL_PREFIX}{p}" for p in pool_names]},
    )  # fmt: skip
    if size is not None:
        environment.cpus, environment.memory_gb = _round(size.cpus), _round(size.memory_gb)
        environment.gpus, environment.gpu_type = size.accelerators, size.gpu_type
    return environment


def flavor_environments(backend: str, pools: Iterable[PoolNodes]) -> list[Environment]:
    """One environment per flavor the pools offer, sized from a node of that flavor when one exists."""
    read = list(pools)  # walked twice
    sizes = _flavor_sizes(read)
    return [
        _flavor_environment(backend, flavor, pool_names, sizes.get(flavor))
        for flavor, pool_names in _flavor_pools(read).items()
    ]
