"""Seed data of the ModelArts sandbox: v1 clusters, v2 pools with their nodes, public training flavors,
and the apps of app authentication (whose answers carry an ``app_secret``).

Every call answers fresh copies, so a caller may change what it gets. Pool counts
(``spec.resources``, ``status.resources``) are derived from the nodes, so they always agree.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

AZ = "cn-north-7c"
WORKSPACE_DEFAULT = "0"
WORKSPACE_RESEARCH = "ws-research-01"

CPU_POOL, GPU_POOL, NPU_POOL = "pool-cpu-a1b2c3", "pool-gpu-d4e5f6", "pool-npu-g7h8i9"
CPU_FLAVOR, GPU_FLAVOR, NPU_FLAVOR = "modelarts.vm.cpu.8u", "modelarts.vm.gpu.t4", "modelarts.bm.npu.arm.8snt9.d"
#: A pool offering two flavors: a job on it must say which.
MIXED_POOL = "pool-mix-j1k2l3"
SMALL_FLAVOR, MEDIUM_FLAVOR = "modelarts.vm.cpu.2u", "modelarts.vm.cpu.4u"

# status bucket of a pool's status.resources for each node phase
_BUCKET = {"Available": "available", "Creating": "creating", "Deleting": "deleting", "Abnormal": "abnormal",
           "Checking": "abnormal"}


def clusters(project_id: str) -> list[dict[str, Any]]:
    """The v1 dedicated clusters (services): five, in creation order."""
    rows = [
        ("ff8080817a1c2b3d017a1c2b9e010001", "infer-cpu-prod", "running", 1657000000000,
         "modelarts.vm.cpu.8ud", 4, 4, 30.5, 122880, 0.0, "production CPU inference"),
        ("ff8080817a1c2b3d017a1c2b9e010002", "infer-gpu-batch", "deploying", 1662000000000,
         "modelarts.vm.gpu.p4", 2, 0, 0.0, 0, 0.0, "batch GPU inference (scaling out)"),
        ("ff8080817a1c2b3d017a1c2b9e010003", "edge-gateway", "abnormal", 1665000000000,
         "modelarts.vm.cpu.2ud", 3, 1, 1.5, 3072, 0.0, "edge relay"),
        ("ff8080817a1c2b3d017a1c2b9e010004", "ascend-serving", "concerning", 1670000000000,
         "modelarts.bm.npu.arm.8snt3.d", 2, 2, 140.0, 458752, 0.0, "Ascend 310 serving (alarm raised)"),
        ("ff8080817a1c2b3d017a1c2b9e010005", "analytics-small", "running", 1675000000000,
         "modelarts.vm.cpu.4ud", 1, 1, 3.5, 12288, 0.5, ""),
    ]
    out = []
    for cid, name, status, created, spec, count, avail, cpus, mem, gpus, desc in rows:
        out.append({
            "cluster_id": cid, "cluster_name": name, "description": desc, "tenant": "sandbox-tenant",
            "project": project_id, "owner": "sandbox-owner", "created_at": created, "status": status,
            "nodes": {"specification": spec, "count": count, "available_count": avail},
            "allocatable_cpu_cores": cpus, "allocatable_memory": mem, "allocatable_gpus": gpus,
        })
    return out


def _node(name: str, flavor: str, phase: str, ip: str, created: str, resources: dict[str, str],
          available: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": "Node", "apiVersion": "v2",
        "metadata": {"name": name, "creationTimestamp": created,
                     "labels": {"os.modelarts.node/flavor": flavor}},
        "spec": {"flavor": flavor},
        "status": {"phase": phase, "az": AZ, "privateIp": ip, "resources": dict(resources),
                   "availableResources": dict(available)},
    }


def nodes() -> dict[str, list[dict[str, Any]]]:
    """Pool id → its nodes, in listing order."""
    cpu_full = {"cpu": "7800m", "memory": "30Gi"}
    cpu_nodes = []
    for i, (suffix, phase) in enumerate([("zlncn", "Available"), ("q8w2e", "Available"), ("h4k9d", "Available"),
                                         ("p0x7v", "Creating"), ("m3b6t", "Available"),
                                         ("r5y1u", "Abnormal"), ("c2n8f", "Available")]):
        free = {"cpu": f"{7800 - 850 * (i % 3 + 1)}m", "memory": f"{30720 - 4096 * (i % 4 + 1)}Mi"}
        if phase != "Available":
            free = {"cpu": "0", "memory": "0"}
        cpu_nodes.append(_node(f"os-node-created-{suffix}", CPU_FLAVOR, phase, f"192.168.0.{11 + i}",
                               f"2024-03-01T08:{10 + i:02d}:00Z", cpu_full, free))
    gpu_full = {"cpu": "7920m", "memory": "6270Mi", "nvidia.com/gpu": "1"}
    gpu_nodes = [
        _node("os-node-created-g1a2b", GPU_FLAVOR, "Available", "192.168.1.21", "2024-04-02T09:00:00Z",
              gpu_full, {"cpu": "6970m", "memory": "4558Mi", "nvidia.com/gpu": "1"}),
        _node("os-node-created-g3c4d", GPU_FLAVOR, "Available", "192.168.1.22", "2024-04-02T09:01:00Z",
              gpu_full, {"cpu": "2970m", "memory": "1024Mi", "nvidia.com/gpu": "0"}),
    ]
    npu_full = {"cpu": "191", "memory": "1500Gi", "huawei.com/ascend-snt9": "8"}
    npu_nodes = [
        _node("os-node-created-n5e6f", NPU_FLAVOR, "Available", "192.168.2.31", "2024-05-10T10:00:00Z",
              npu_full, {"cpu": "180", "memory": "1400Gi", "huawei.com/ascend-snt9": "6"}),
        _node("os-node-created-n7g8h", NPU_FLAVOR, "Checking", "192.168.2.32", "2024-05-10T10:02:00Z",
              npu_full, {"cpu": "0", "memory": "0", "huawei.com/ascend-snt9": "0"}),
    ]
    mixed_nodes = [
        _node("os-node-created-x1s2m", SMALL_FLAVOR, "Available", "192.168.3.41", "2024-06-20T07:05:00Z",
              {"cpu": "1900m", "memory": "7Gi"}, {"cpu": "1500m", "memory": "6Gi"}),
        _node("os-node-created-x3m4d", MEDIUM_FLAVOR, "Available", "192.168.3.42", "2024-06-20T07:06:00Z",
              {"cpu": "3900m", "memory": "15Gi"}, {"cpu": "3900m", "memory": "15Gi"}),
    ]
    return {CPU_POOL: cpu_nodes, GPU_POOL: gpu_nodes, NPU_POOL: npu_nodes, MIXED_POOL: mixed_nodes}


def _status_resources(pool_nodes: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """A pool's ``status.resources``: per status bucket, the node count of each flavor (available ones per AZ)."""
    buckets: dict[str, Counter[str]] = {}
    for node in pool_nodes:
        buckets.setdefault(_BUCKET[node["status"]["phase"]], Counter())[node["spec"]["flavor"]] += 1
    return {bucket: [_bucket_entry(bucket, flavor, count) for flavor, count in by_flavor.items()]
            for bucket, by_flavor in buckets.items()}


def _bucket_entry(bucket: str, flavor: str, count: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"flavor": flavor, "count": count}
    if bucket == "available":
        entry["azs"] = [{"az": AZ, "count": count}]
    return entry


def _pool(pool_id: str, display: str, workspace: str, created: str, scope: list[str], description: str,
          pool_nodes: list[dict[str, Any]]) -> dict[str, Any]:
    totals = Counter(node["spec"]["flavor"] for node in pool_nodes)
    return {
        "kind": "Pool", "apiVersion": "v2",
        "metadata": {
            "name": pool_id, "creationTimestamp": created,
            "labels": {"os.modelarts/name": display, "os.modelarts/workspace.id": workspace,
                       "os.modelarts/resource.id": f"maos-{display}-{pool_id[-6:]}"},
            "annotations": {"os.modelarts/description": description, "os.modelarts/billing.mode": "0"},
        },
        "spec": {"type": "Dedicate", "scope": list(scope),
                 "resources": [{"flavor": f, "count": c} for f, c in totals.items()],
                 "network": {"name": f"network-{pool_id}"}},
        "status": {"phase": "Running", "root": pool_id,
                   "scope": [{"scopeType": s, "state": "Enabled"} for s in scope],
                   "resources": _status_resources(pool_nodes)},
    }


def pools() -> list[dict[str, Any]]:
    """The four v2 pools, in listing order (creation order)."""
    by_pool = nodes()
    return [
        _pool(CPU_POOL, "cpu-pool", WORKSPACE_DEFAULT, "2024-03-01T08:00:00Z", ["Train", "Infer"],
              "general CPU training and inference", by_pool[CPU_POOL]),
        _pool(GPU_POOL, "gpu-pool", WORKSPACE_DEFAULT, "2024-04-02T08:55:00Z", ["Train"],
              "NVIDIA T4 training", by_pool[GPU_POOL]),
        _pool(NPU_POOL, "npu-pool", WORKSPACE_RESEARCH, "2024-05-10T09:50:00Z", ["Train", "Infer"],
              "Ascend snt9 research pool", by_pool[NPU_POOL]),
        _pool(MIXED_POOL, "mixed-pool", WORKSPACE_DEFAULT, "2024-06-20T07:00:00Z", ["Train"],
              "small and medium CPU nodes side by side", by_pool[MIXED_POOL]),
    ]


def pool_state(pool: dict[str, Any]) -> str:
    """The ``status`` filter value of a pool (created | failed | creating) from its phase."""
    phase = pool["status"]["phase"]
    return {"Creating": "creating", "Error": "failed"}.get(phase, "created")


def public_flavors() -> list[dict[str, Any]]:
    """Flavors of the public resource pool (``GET /v2/{project_id}/training-job-flavors``)."""
    def flavor(fid: str, name: str, kind: str, max_num: int, arch: str, cores: int, mem_gb: int,
               gpu: dict[str, Any] | None = None) -> dict[str, Any]:
        info: dict[str, Any] = {"max_num": max_num, "cpu": {"arch": arch, "core_num": cores},
                                "memory": {"value": mem_gb, "unit": "GB"}, "disk": {"size": 50, "unit": "GB"}}
        if gpu:
            info["gpu"] = gpu
        return {"flavor_id": fid, "flavor_name": name, "max_num": max_num, "flavor_type": kind,
                "billing": {"code": fid, "unit_num": 1}, "flavor_info": info, "attributes": {}}

    return [
        flavor("modelarts.vm.cpu.2u", "Computing CPU(2U) instance", "CPU", 1, "x86", 2, 8),
        flavor("modelarts.vm.cpu.8u", "Computing CPU(8U) instance", "CPU", 16, "x86", 8, 32),
        flavor("modelarts.vm.gpu.t4", "GPU: 1*NVIDIA-T4(16GB) | CPU: 8 vCPUs 32GB", "GPU", 4, "x86", 8, 32,
               {"unit_num": 1, "product_name": "NVIDIA-T4", "memory": "16GB"}),
    ]


def apps(project_id: str) -> list[dict[str, Any]]:
    """The apps of app authentication (``GET /v1/{project_id}/app-auth/apps``), each with its secret."""
    rows = [
        ("8a1c3e5f7b9d0f2e4a6c8e0b2d4f6a8c", "infer-clients", "APIG", 1680000000000, 1690000000000, 2),
        ("9b2d4f6a8c0e1a3c5e7a9c1e3a5c7e9a", "batch-callers", "DEDICATE_APIG", 1685000000000, 1685000000000, 0),
    ]
    return [{
        "app_id": app_id, "app_name": name, "app_remark": "", "app_key": f"sandbox-app-key-{app_id[:8]}",
        "app_secret": f"sandbox-app-secret-{app_id[-12:]}", "app_codes": [], "app_type": kind,
        "user_id": "sandbox-user-id", "project_id": project_id, "created_at": created, "updated_at": updated,
        "bounded_api_count": bound,
    } for app_id, name, kind, created, updated, bound in rows]
