"""Checks of an Ocean job spec, and the ``computeStart`` body built from a checked one.

Only what needs no backend state lives here: the spec's shape, the datasets, the order objects
and the choice of one algorithm. ``OceanBackend.validate`` adds what needs the backend: reading a
``script`` it is allowed to read, and refusing the consumer wallet's private key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidSpec
from ..models import JobSpec

DATASET_KEYS = ("documentId", "serviceId", "transferTxId", "userdata")
ORDER_KEYS = ("serviceId", "transferTxId", "userdata")
CONTAINER_KEYS = ("image", "tag", "entrypoint", "checksum")
TEXT_KEYS = ("serviceId", "transferTxId", "image", "tag", "entrypoint", "checksum")
DEFAULT_CONTAINER: Mapping[str, str] = {"image": "python", "tag": "3.11", "entrypoint": "python $ALGO"}
EXTRA_KEYS = ("algorithm", "container", "dataset")
NOT_TAKEN: Mapping[str, str] = {
    "command": "Ocean runs an algorithm DID or raw Python code, not a command",
    "notebook": "Ocean runs an algorithm DID or raw Python code, not a notebook",
    "cluster": "Ocean has no clusters to choose; pick a compute environment",
    "output": "Ocean keeps the results on the provider; there is no output location to choose",
    "timeout_s": "Ocean takes no time limit per job: the environment's maxJobDuration applies",
}
#: What each order key is, in the words of an error naming it.
ORDER_MEANINGS: Mapping[str, str] = {
    "serviceId": "the id of the {asset}'s service that was ordered",
    "transferTxId": "the transaction id of that order on chain",
}

MAX_SCRIPT_BYTES = 1024 * 1024
DID = re.compile(r"did:[a-z0-9]+:\S+")
NOT_A_DID = ("Ocean computes only on published datasets: give the dataset's DID (did:op:…); local files and "
             "DataFrames cannot be sent to a Provider")


def refuse_not_taken(spec: JobSpec) -> None:
    """InvalidSpec for the first spec field Ocean has no use for."""
    for name, why in NOT_TAKEN.items():
        if getattr(spec, name) is not None:
            raise InvalidSpec(why, field=name)


def checked_extra(extra: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``extra`` with known keys only: the dataset and algorithm orders, the raw code's container."""
    for key in extra:
        if key not in EXTRA_KEYS:
            raise InvalidSpec(f"unknown key '{key}' (known: {', '.join(EXTRA_KEYS)})", field=f"extra.{key}")
    return {key: check_keys(value, CONTAINER_KEYS if key == "container" else ORDER_KEYS, f"extra.{key}")
            for key, value in extra.items()}  # fmt: skip


def check_keys(value: Any, allowed: Sequence[str], field: str) -> dict[str, Any]:
    """``value`` as a dict, when it is an object of ``allowed`` keys whose values have the right types."""
    if not isinstance(value, Mapping):
        raise InvalidSpec(f"'{field}' must be an object with keys {', '.join(allowed)}", field=field)
    for key in value:
        if key not in allowed:
            raise InvalidSpec(f"unknown key '{key}' (known: {', '.join(allowed)})", field=f"{field}.{key}")
    for key in TEXT_KEYS:
        if key in value and not isinstance(value[key], str):
            raise InvalidSpec(f"'{field}.{key}' must be a string", field=f"{field}.{key}")
    if "userdata" in value and not isinstance(value["userdata"], Mapping):
        raise InvalidSpec(f"'{field}.userdata' must be an object", field=f"{field}.userdata")
    return dict(value)


def checked_datasets(inputs: Sequence[Any], extra: Mapping[str, Any]) -> list[Any]:
    """The datasets (blank inputs left out), each a DID or an object with a documentId."""
    given = [item for item in inputs if not (isinstance(item, str) and not item.strip())]
    if not given:
        raise InvalidSpec("give the dataset to compute on: its DID (did:op:…) first in inputs", field="inputs")
    datasets = [dataset(item, index) for index, item in enumerate(given)]
    if "dataset" in extra and not isinstance(datasets[0], str):
        raise InvalidSpec("the first dataset is an object: put its order in it", field="extra.dataset")
    return datasets


def dataset(item: Any, index: int) -> Any:
    """A checked dataset input: a DID (stripped) or an object with a documentId."""
    field = f"inputs[{index}]"
    if isinstance(item, str):
        return _did(item, field)
    data = check_keys(item, DATASET_KEYS, field)
    document_id = data.get("documentId")
    if not isinstance(document_id, str) or not document_id.strip():
        raise InvalidSpec("the dataset object needs its documentId (the dataset's DID)", field=f"{field}.documentId")
    return {**data, "documentId": _did(document_id, f"{field}.documentId")}


def _did(text: str, field: str) -> str:
    """``text`` stripped, when it is a DID."""
    if not DID.fullmatch(text.strip()):
        raise InvalidSpec(NOT_A_DID, field=field)
    return text.strip()


def check_one_algorithm(algorithm: str | None, code: str | None) -> None:
    """InvalidSpec unless exactly one of an algorithm DID and raw code is given."""
    if code is not None and algorithm:
        raise InvalidSpec("give either an algorithm DID or raw code, not both", field="code")
    if code is None and not algorithm:
        raise InvalidSpec("give the algorithm to run: an algorithm DID, or raw Python code", field="algorithm")


def check_algorithm_extra(algorithm: str | None, code: str | None, extra: Mapping[str, Any]) -> None:
    """An algorithm order goes with a published algorithm only, a container with raw code only."""
    if code is not None and "algorithm" in extra:
        raise InvalidSpec("an algorithm order goes with an algorithm DID, not raw code", field="extra.algorithm")
    if algorithm and "container" in extra:
        raise InvalidSpec("a container goes with raw code; a published algorithm has its own",
                          field="extra.container")  # fmt: skip


def check_params(params: Any) -> None:
    """The custom data must be JSON: it reaches the algorithm as ``algoCustomData.json``."""
    try:
        json.dumps(params)
    except (TypeError, ValueError) as exc:
        raise InvalidSpec(f"custom data must be JSON values: {exc}", field="params") from None


def environment_id(environment: str | None) -> str | None:
    """The environment id given, stripped; None when none is (the first free one is taken then)."""
    return (environment.strip() or None) if environment is not None else None


def need_order(order: Mapping[str, Any], where: str, asset: str) -> None:
    """InvalidSpec naming ``<where>.serviceId`` / ``.transferTxId`` when the order of ``asset`` lacks one."""
    for key, meaning in ORDER_MEANINGS.items():
        value = order.get(key)
        if not isinstance(value, str) or not value.strip():
            raise InvalidSpec(f"the Provider needs the order of the {asset}: give {where}.{key} "
                              f"({meaning.format(asset=asset)})", field=f"{where}.{key}")  # fmt: skip


def check_orders(datasets: Sequence[Any], algorithm: str | None, extra: Mapping[str, Any]) -> None:
    """Every dataset and a published algorithm must come with their order (serviceId, transferTxId)."""
    first = datasets[0]
    if isinstance(first, str):
        need_order(extra.get("dataset", {}), "extra.dataset", "dataset")
    else:
        need_order(first, "inputs[0]", "dataset")
    for index, item in enumerate(datasets[1:], start=1):
        if isinstance(item, str):
            raise InvalidSpec("the Provider needs the order of the dataset: give an additional dataset as "
                              "{documentId, serviceId, transferTxId}", field=f"inputs[{index}]")  # fmt: skip
        need_order(item, f"inputs[{index}]", "dataset")
    if algorithm:
        need_order(extra.get("algorithm", {}), "extra.algorithm", "algorithm")


def read_script(path: Path, path_text: str) -> str:
    """The text of a local algorithm file (one ``Backend.local_source`` allowed)."""
    if not path.is_file():
        raise InvalidSpec(f"the algorithm file '{path_text}' is not a file", field="script")
    if path.stat().st_size > MAX_SCRIPT_BYTES:
        raise InvalidSpec(f"the algorithm file is larger than {MAX_SCRIPT_BYTES // 1024} KiB", field="script")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidSpec(f"cannot read the algorithm file: {exc}", field="script") from None


def start_body(spec: JobSpec, environment: str) -> dict[str, Any]:
    """The ``computeStart`` body of a checked spec (without the consumer's signature)."""
    first, *more = spec.inputs
    body: dict[str, Any] = {"environment": environment, "dataset": _first_dataset(first, spec.extra),
                            "algorithm": _algorithm(spec)}  # fmt: skip
    if more:  # not ocean.py's additionalInputs, which providers ignore
        body["additionalDatasets"] = [{"documentId": d} if isinstance(d, str) else dict(d) for d in more]
    return body


def _first_dataset(first: Any, extra: Mapping[str, Any]) -> dict[str, Any]:
    """The first dataset as an object: a bare DID gets its order from ``extra.dataset``."""
    return {"documentId": first, **extra.get("dataset", {})} if isinstance(first, str) else dict(first)


def _algorithm(spec: JobSpec) -> dict[str, Any]:
    """The algorithm object: raw code in its container, or a published algorithm with its order."""
    algorithm: dict[str, Any]
    if spec.code is not None:
        container = {**DEFAULT_CONTAINER, **spec.extra.get("container", {})}
        algorithm = {"meta": {"rawcode": spec.code, "language": "python", "container": container}}
    else:
        algorithm = {"documentId": spec.algorithm, **spec.extra.get("algorithm", {})}
    if spec.params:
        algorithm["algocustomdata"] = dict(spec.params)
    return algorithm
