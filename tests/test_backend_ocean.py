"""The ocean backend: its tables and signing rules alone, then against the Ocean Provider sandbox
over real HTTP on loopback (both the code-true and the docs variant) — the backend alone, no
Jupyter server. Keys are Hardhat's well-known public test accounts, never a real wallet's."""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import logging
import pickle
import socket
import threading
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import HARDHAT_ADDRESSES, HARDHAT_KEYS, read_result, run, started, until, wait_status
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak

from jupyter_compute.backends import ocean as ocean_module
from jupyter_compute.backends.base import backend_class
from jupyter_compute.backends.ocean import OceanBackend, provider_words, split_remote_id
from jupyter_compute.backends.ocean_signing import (
    SIGNED_FIELDS,
    ConsumerKey,
    NonceCounter,
    now_ms,
    parse_nonce,
    signed_text,
)
from jupyter_compute.backends.ocean_status import (
    ENV_FIELDS,
    STATUS_MAP,
    STATUS_TABLE,
    environment_list,
    job_status,
    normalise_environment,
    parse_date,
    result_entries,
)
from jupyter_compute.errors import AuthError, BackendError, InvalidSpec, NotFound
from jupyter_compute.forms import check_spec
from jupyter_compute.models import JobSpec, JobState
from jupyter_compute.results import read_frame
from jupyter_compute.sandbox.ocean import (
    DEMO_ALGORITHM_DID,
    DEMO_DATASET_DID,
    DEMO_DATASET_SERVICE_ID,
    FREE_ENVIRONMENT_ID,
    PAID_ENVIRONMENT_ID,
    OceanProviderSandbox,
)


KEY_0, KEY_1 = HARDHAT_KEYS
ADDRESS_0, ADDRESS_1 = HARDHAT_ADDRESSES
KEY_ENV = "OCEAN_TEST_KEY"
DID = "did:op:" + "ab" * 32
ALGO_DID = "did:op:" + "cd" * 32
# Orders: the serviceId ordered and the order's transaction (the sandbox has no chain; a hash pays any environment).
TX = "0x" + "0d" * 32
ORDER = {"serviceId": DEMO_DATASET_SERVICE_ID, "transferTxId": TX}
ALGO_ORDER = {"serviceId": "access", "transferTxId": "0x" + "a1" * 32}


@pytest.fixture(autouse=True)
def consumer_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY_0)


def offline(**config: Any) -> OceanBackend:
    """A backend pointed at a closed port: for what needs no provider."""
    return OceanBackend("ocean", {"url": "http://127.0.0.1:1", "private_key_env": KEY_ENV, **config})


def spec(**fields: Any) -> JobSpec:
    return JobSpec(backend="ocean", **fields)


def ordered(did: str = DEMO_DATASET_DID, **order: Any) -> dict[str, Any]:
    """A dataset input with its order (an order serves one dataset: each DID but the demo's gets its own)."""
    tx = TX if did == DEMO_DATASET_DID else "0x" + keccak(text=did).hex()
    return {"documentId": did, **ORDER, "transferTxId": tx, **order}


DEMO = ordered()


# --- signing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "values", "expected"),
    [
        ("computeStart", {"consumerAddress": ADDRESS_0, "documentId": DID}, ADDRESS_0 + DID + "42"),
        ("computeStop", {"consumerAddress": ADDRESS_0, "jobId": "j1", "documentId": DID},
         ADDRESS_0 + "j1" + DID + "42"),
        ("computeStop", {"consumerAddress": ADDRESS_0, "jobId": "j1"}, ADDRESS_0 + "j1" + "42"),
        ("computeDelete", {"consumerAddress": ADDRESS_0, "jobId": "j1", "documentId": DID},
         ADDRESS_0 + "j1" + DID + "42"),
        ("computeDelete", {"consumerAddress": ADDRESS_0}, ADDRESS_0 + "42"),
        ("computeResult", {"consumerAddress": ADDRESS_0, "jobId": "j1", "index": 0}, ADDRESS_0 + "j1" + "0" + "42"),
        ("computeResult", {"consumerAddress": ADDRESS_0, "jobId": "j1", "index": 3, "documentId": DID},
         ADDRESS_0 + "j1" + "3" + "42"),
    ],
)  # fmt: skip
def test_signed_text_table(endpoint: str, values: dict[str, Any], expected: str) -> None:
    assert signed_text(endpoint, values, 42) == expected


def test_signed_endpoints_are_exactly_the_spec_table() -> None:
    assert dict(SIGNED_FIELDS) == {
        "computeStart": ("consumerAddress", "documentId"),
        "computeStop": ("consumerAddress", "jobId", "documentId"),
        "computeDelete": ("consumerAddress", "jobId", "documentId"),
        "computeResult": ("consumerAddress", "jobId", "index"),
    }


def test_consumer_key_signs_the_keccak_of_the_message_and_never_shows_the_key() -> None:
    key = ConsumerKey(bytes.fromhex(KEY_0[2:]))
    assert key.address == ADDRESS_0  # EIP-55 checksummed
    signature = key.sign("hello1")
    assert signature.startswith("0x") and len(signature) == 132 and int(signature[-2:], 16) in (27, 28)
    recovered = Account.recover_message(encode_defunct(primitive=keccak(text="hello1")), signature=signature)
    assert recovered == ADDRESS_0
    as_text = Account.recover_message(encode_defunct(text="hello1"), signature=signature)
    assert as_text != ADDRESS_0, "the raw text is not what is signed"
    for shown in (repr(key), str(key)):
        assert KEY_0[2:] not in shown.lower() and ADDRESS_0 in shown
    assert key.scrub(f"x {KEY_0} y {KEY_0[2:].upper()}") == "x 0x*** y ***"
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        vars(key)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "set the environment variable"),
        ("", "set the environment variable"),
        ("not-a-key", "64 hex"),
        (KEY_0[:-2], "64 hex"),
        (KEY_0 + "00", "64 hex"),
        ("0x" + "00" * 32, "valid secp256k1"),
        ("0x" + "ff" * 32, "valid secp256k1"),
    ],
    ids=["unset", "empty", "not-hex", "short", "long", "zero", "past-the-curve-order"],
)
def test_missing_or_malformed_key_is_an_auth_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str | None, why: str
) -> None:
    if value is None:
        monkeypatch.delenv(KEY_ENV)
    else:
        monkeypatch.setenv(KEY_ENV, value)
    with pytest.raises(AuthError) as caught:
        offline()
    message = str(caught.value)
    assert KEY_ENV in message and why in message and "signs every compute request" in message
    if value:
        for part in (value, value[2:10], value[-8:]):
            assert part not in message


@pytest.mark.parametrize("written", [KEY_0, KEY_0[2:], KEY_0.upper().replace("0X", "0x"), f"  {KEY_0}\n"],
                         ids=["0x", "bare", "upper", "spaced"])  # ids: never the key in a test's name
def test_key_with_or_without_0x(monkeypatch: pytest.MonkeyPatch, written: str) -> None:
    monkeypatch.setenv(KEY_ENV, written)
    assert offline().address == ADDRESS_0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 0), ("", 0), (0, 0), (5, 5), ("5", 5), (1683116843125, 1683116843125),
        ("1683116843125.0", 1683116843125), (1683116843125.4, 1683116843126), ("1.7e12", 1700000000000),
        ("1701699999999999999", 1701699999999999999),  # 19 digits stay exact (never through a float)
    ],
)  # fmt: skip
def test_parse_nonce(value: Any, expected: int) -> None:
    assert parse_nonce(value) == expected


@pytest.mark.parametrize("bad", ["abc", "nan", "inf", True])
def test_parse_nonce_refuses_non_numbers(bad: Any) -> None:
    with pytest.raises((ValueError, ArithmeticError)):
        parse_nonce(bad)


def test_nonce_counter_is_milliseconds_strictly_increasing_and_above_the_stored_one() -> None:
    counter = NonceCounter()
    before = datetime.now(UTC).timestamp() * 1000
    first = counter.next(0)
    assert isinstance(first, int) and len(str(first)) == 13 and first >= int(before)
    assert counter.next(0, clock_ms=5) == first + 1  # a clock going back never repeats a nonce
    ahead = first + 10_000_000
    assert counter.next(ahead) == ahead + 1
    assert counter.next(0, floor=ahead + 50) == ahead + 51
    assert counter.next(0, clock_ms=ahead + 1000) == ahead + 1000


# --- status table -----------------------------------------------------------------------------

STATUS_ROWS = [
    (1, 0, JobState.QUEUED, ""),
    (10, 0, JobState.RUNNING, ""),
    (20, 0, JobState.RUNNING, ""),
    (30, 0, JobState.RUNNING, ""),
    (40, 0, JobState.RUNNING, ""),
    (50, 0, JobState.RUNNING, ""),
    (60, 0, JobState.RUNNING, ""),
    (31, 0, JobState.FAILED, "data provisioning failed: the provider could not fetch the dataset"),
    (32, 0, JobState.FAILED, "algorithm provisioning failed"),
    (70, 0, JobState.SUCCEEDED, ""),
    (70, 1, JobState.CANCELLED, "stopped by the user"),
    (70, 2, JobState.TIMED_OUT, "time limit"),
    (7, 0, JobState.CANCELLED, "stopped"),
    (8, 0, JobState.CANCELLED, "deleted"),
    (99, 0, JobState.UNKNOWN, "unknown Ocean status 99"),
]


@pytest.mark.parametrize(("code", "stopreq", "state", "words"), STATUS_ROWS)
def test_status_table(code: int, stopreq: int, state: JobState, words: str) -> None:
    outputs = [{"filename": "out.csv", "filesize": 3, "type": "output"}]
    for written in (code, str(code)):  # a code may arrive as text
        status = job_status({"jobId": "j", "status": written, "statusText": "Some text ", "stopreq": stopreq,
                             "results": outputs, "dateCreated": "1683116843.125146"})  # fmt: skip
        assert status.state is state
        assert status.native_status == f"{code} Some text"
        assert words in status.message
    if stopreq == 0 and code in STATUS_TABLE:
        assert STATUS_MAP[str(code)] is state


def test_status_table_has_every_row() -> None:
    assert set(STATUS_TABLE) == {code for code, stopreq, _, _ in STATUS_ROWS if stopreq == 0 and code != 99}


def test_status_dates_epoch_strings_and_iso() -> None:
    finished = {"status": 70, "statusText": "Job finished", "dateCreated": "1683116843.125146",
                "dateFinished": "1683117001.2", "results": ""}  # fmt: skip
    status = job_status(finished)
    assert status.started == datetime.fromtimestamp(1683116843.125146, UTC)
    assert status.finished == datetime.fromtimestamp(1683117001.2, UTC)
    assert status.message == ("finished without output files: the algorithm may have failed, or wrote nothing to "
                              "$OUTPUTS — read its log (jobs/{id}/logs)") and status.state is JobState.SUCCEEDED
    docs = {"status": 70, "statusText": "Job completed", "dateCreated": "2020-10-01T01:00:00Z",
            "dateFinished": "2020-10-01T01:05:00Z"}  # fmt: skip
    status = job_status(docs)
    assert status.started == datetime(2020, 10, 1, 1, 0, tzinfo=UTC)
    assert status.finished == datetime(2020, 10, 1, 1, 5, tzinfo=UTC)
    running = job_status({"status": 40, "statusText": "Running algorithm ", "dateCreated": 1683116843,
                          "dateFinished": None, "stopreq": 1})  # fmt: skip
    assert running.finished is None and running.native_status == "40 Running algorithm"
    assert "stopping" in running.message
    assert parse_date("not a date") is None and parse_date(None) is None and parse_date("") is None


def test_result_entries_by_index_with_types() -> None:
    job = {"results": [
        {"filename": "out.csv", "filesize": 12, "type": "output"},
        {"filename": "algorithm.log", "filesize": "88", "type": "algorithmLog"},
        {"filename": "algorithm.log", "filesize": 5, "type": "output"},
        {"filename": "configure.log", "filesize": 9, "type": "configrationLog"},
    ]}  # fmt: skip
    entries = result_entries(job)
    assert [(e.name, e.index, e.type, e.size) for e in entries] == [
        ("out.csv", 0, "output", 12),
        ("algorithm.log", 1, "algorithmLog", 88),
        ("output/algorithm.log", 2, "output", 5),
        ("configure.log", 3, "configrationLog", 9),
    ]
    files = [e.to_result_file() for e in entries]
    assert [f.kind for f in files] == ["output", "log", "output", "log"]
    assert files[0].media_type == "text/csv"
    assert result_entries({"results": ""}) == [] and result_entries({}) == []


# --- environments -----------------------------------------------------------------------------

ENV_ROWS = [
    # field, code-true key and value, docs key and value, expected
    ("cpus", ("cpuNumber", 2), ("nCPU", "2"), 2.0),
    ("gpus", ("gpuNumber", 1), ("nGPU", "1"), 1),
    ("gpu_type", ("gpuType", "nvidia-t4"), ("gpuType", "nvidia-t4"), "nvidia-t4"),
    ("memory_gb", ("ramGB", "64"), ("ramGB", 64), 64.0),
    ("disk_gb", ("diskGB", 10.5), ("diskGB", "10.5"), 10.5),
    ("price", ("priceMin", 0), ("priceMin", "0"), 0.0),
    ("max_jobs", ("maxJobs", "10"), ("maxJobs", 10), 10),
    ("running_jobs", ("currentJobs", 3), ("currentJobs", "3"), 3),
    ("max_duration_s", ("maxJobDuration", 3600), ("maxJobDuration", "3600"), 3600.0),
    ("description", ("desc", "Free tier"), ("description", "Free tier"), "Free tier"),
]


@pytest.mark.parametrize(("field", "code", "docs", "expected"), ENV_ROWS)
def test_environment_field_table(field: str, code: tuple[str, Any], docs: tuple[str, Any], expected: Any) -> None:
    for key, value in (code, docs):
        env = normalise_environment({"id": "env-1", key: value}, "ocean")
        assert getattr(env, field) == expected and type(getattr(env, field)) is type(expected)
        assert env.id == "env-1" and env.name == "env-1" and env.backend == "ocean" and env.raw[key] == value
    empty = normalise_environment({"id": "env-1", code[0]: ""}, "o").to_dict()[field]
    assert empty in (None, "Ocean compute environment")


def test_environment_field_table_is_complete() -> None:
    assert set(ENV_FIELDS) == {row[0] for row in ENV_ROWS}


def test_environment_list_both_shapes() -> None:
    a, b = {"id": "a"}, {"id": "b"}
    assert environment_list({"8996": [a], "137": [b]}, 8996) == [a]
    assert environment_list({"8996": [a], "137": [b]}, 137) == [b]
    assert environment_list({"8996": [a]}, 1) == []
    assert environment_list({"8996": [a]}, None) == [a]
    assert environment_list([a, b, {"no": "id"}, "x"], 8996) == [a, b]
    assert environment_list("nonsense", 8996) == []


# --- provider errors and config ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (400, {"message": "Validation error", "errors": {"signature": ["Invalid signature provided. x"]},
               "success": False}, "Validation error: signature: Invalid signature provided. x"),
        (400, {"error": {"dataset": "no_raw_algo_allowed"}}, "dataset: no_raw_algo_allowed"),
        (400, {"error": "Environment invalid or does not exist"}, "Environment invalid or does not exist"),
        (404, "No such index 4 in this compute job", "No such index 4 in this compute job"),
        (400, {"error": "Invalid signature expected nonce (5) > current nonce (4)."},
         "Invalid signature expected nonce (5) > current nonce (4)."),
    ],
)  # fmt: skip
def test_provider_words_from_every_error_shape(status: int, body: Any, words: str) -> None:
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    assert provider_words(httpx.Response(status, content=content)) == words


def test_config_is_checked_and_kind_is_registered() -> None:
    assert backend_class("ocean") is OceanBackend
    b = offline(chain_id=8996, timeout_s=5, poll_interval_s=0.5)
    assert b.chain_id == 8996 and b.poll_interval == 0.5 and b.batch_status
    assert b.address == ADDRESS_0 and b.describe()["consumer_address"] == ADDRESS_0
    assert KEY_0[2:] not in json.dumps(b.describe()).lower() and KEY_0[2:] not in repr(vars(b)).lower()
    for bad, field in (({"url": "ftp://x"}, "url"), ({"chain_id": "8996"}, "chain_id"),
                       ({"chain_id": True}, "chain_id"),
                       ({"timeout_s": 0}, "timeout_s"), ({"token_env": "X"}, "token_env"),
                       ({"private_key_env": ""}, "private_key_env")):  # fmt: skip
        with pytest.raises(InvalidSpec) as caught:
            offline(**bad)
        assert caught.value.field == field, caught.value
    with pytest.raises(InvalidSpec) as caught:
        OceanBackend("ocean", {"private_key_env": KEY_ENV})
    assert caught.value.field == "url"


def test_remote_ids_keep_the_document_id() -> None:
    assert split_remote_id(f"abc|{DID}") == ("abc", DID)
    assert split_remote_id("abc") == ("abc", "")
    with pytest.raises(NotFound):
        split_remote_id("|x")


# --- the spec check ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"code": "print(1)"}, "inputs"),
        ({"inputs": ["  "], "code": "print(1)"}, "inputs"),
        ({"inputs": [{"serviceId": "0"}], "code": "print(1)"}, "inputs[0].documentId"),
        ({"inputs": [{"documentId": " "}], "code": "print(1)"}, "inputs[0].documentId"),
        ({"inputs": [{"documentId": DID, "orderId": "x"}], "code": "print(1)"}, "inputs[0].orderId"),
        ({"inputs": [DID, {"documentId": DID, "userdata": 3}], "code": "print(1)"}, "inputs[1].userdata"),
        ({"inputs": [DID, 5], "code": "print(1)"}, "inputs[1]"),
        # datasets are DIDs: never a local file, an uploaded DataFrame's server path or a URL
        ({"inputs": ["/srv/jupyter/uploads/input-0.csv"], "code": "print(1)", "extra": {"dataset": ORDER}},
         "inputs[0]"),
        ({"inputs": ["rain.csv"], "code": "print(1)", "extra": {"dataset": ORDER}}, "inputs[0]"),
        ({"inputs": [ordered(DID), "s3://bucket/rain.csv"], "code": "print(1)"}, "inputs[1]"),
        ({"inputs": [ordered("file:///data/rain.csv")], "code": "print(1)"}, "inputs[0].documentId"),
        ({"inputs": [ordered(DID), ordered("did:")], "code": "print(1)"}, "inputs[1].documentId"),
        ({"inputs": [DID]}, "algorithm"),
        ({"inputs": [DID], "algorithm": "  "}, "algorithm"),
        ({"inputs": [DID], "algorithm": ALGO_DID, "code": "print(1)"}, "code"),
        ({"inputs": [DID], "code": "   "}, "code"),
        ({"inputs": [DID], "code": "print(1)", "script": "/x.py"}, "script"),
        ({"inputs": [DID], "script": "/no/such/file.py"}, "script"),
        ({"inputs": [DID], "script": "/proc/self/environ"}, "script"),
        ({"inputs": [DID], "script": "  "}, "script"),
        ({"inputs": [DID], "code": f"KEY = '{KEY_0}'"}, "code"),
        ({"inputs": [DID], "code": "print(1)", "command": "ls"}, "command"),
        ({"inputs": [DID], "code": "print(1)", "notebook": "a.ipynb"}, "notebook"),
        ({"inputs": [DID], "code": "print(1)", "timeout_s": 60}, "timeout_s"),
        ({"inputs": [DID], "code": "print(1)", "cluster": "c"}, "cluster"),
        ({"inputs": [DID], "code": "print(1)", "output": "/x"}, "output"),
        ({"inputs": [DID], "code": "print(1)", "extra": {"gpu": 1}}, "extra.gpu"),
        ({"inputs": [DID], "code": "print(1)", "extra": {"container": {"img": "x"}}}, "extra.container.img"),
        ({"inputs": [DID], "code": "print(1)", "extra": {"container": "python"}}, "extra.container"),
        ({"inputs": [DID], "code": "print(1)", "extra": {"algorithm": {"serviceId": "0"}}}, "extra.algorithm"),
        ({"inputs": [DID], "algorithm": ALGO_DID, "extra": {"container": {"image": "x"}}}, "extra.container"),
        ({"inputs": [DID], "algorithm": ALGO_DID, "extra": {"algorithm": {"transferTxId": 5}}},
         "extra.algorithm.transferTxId"),
        ({"inputs": [{"documentId": DID}], "code": "print(1)", "extra": {"dataset": {"serviceId": "0"}}},
         "extra.dataset"),
        ({"inputs": [DID], "code": "print(1)", "params": {"x": object()}}, "params"),
        # the order of every asset (checked last: a spec is first checked for its shape)
        ({"inputs": [DID], "code": "print(1)"}, "extra.dataset.serviceId"),
        ({"inputs": [DID], "code": "print(1)", "extra": {"dataset": {"serviceId": "compute"}}},
         "extra.dataset.transferTxId"),
        ({"inputs": [{"documentId": DID, "transferTxId": TX}], "code": "print(1)"}, "inputs[0].serviceId"),
        ({"inputs": [{"documentId": DID, "serviceId": "compute", "transferTxId": " "}], "code": "print(1)"},
         "inputs[0].transferTxId"),
        ({"inputs": [DID, "did:op:2"], "code": "print(1)", "extra": {"dataset": ORDER}}, "inputs[1]"),
        ({"inputs": [ordered(DID), {"documentId": "did:op:2", "serviceId": "c"}], "code": "print(1)"},
         "inputs[1].transferTxId"),
        ({"inputs": [ordered(DID)], "algorithm": ALGO_DID}, "extra.algorithm.serviceId"),
        ({"inputs": [ordered(DID)], "algorithm": ALGO_DID, "extra": {"algorithm": {"serviceId": "access"}}},
         "extra.algorithm.transferTxId"),
    ],
)  # fmt: skip
def test_validation_names_the_field(fields: dict[str, Any], field: str) -> None:
    b = offline()
    with pytest.raises(InvalidSpec) as caught:
        b.validate(spec(**fields))
    assert caught.value.field == field, caught.value

    async def body() -> None:
        try:
            with pytest.raises(InvalidSpec) as caught:
                await b.submit(spec(**fields), "job-x")  # refused before any call
            assert caught.value.field == field
        finally:
            await b.close()

    run(body)


def test_a_missing_order_is_explained_before_anything_is_sent(sandbox: OceanProviderSandbox) -> None:
    async def body() -> None:
        async with ocean(sandbox) as b:
            before = len(job_requests(sandbox))
            for job_spec, field, asset in (
                (spec(inputs=[DEMO_DATASET_DID], code="print(1)"), "extra.dataset.serviceId", "dataset"),
                (spec(inputs=[{"documentId": DEMO_DATASET_DID, "serviceId": DEMO_DATASET_SERVICE_ID}],
                      code="print(1)"), "inputs[0].transferTxId", "dataset"),
                (spec(inputs=[DEMO], algorithm=DEMO_ALGORITHM_DID), "extra.algorithm.serviceId", "algorithm"),
            ):  # fmt: skip
                with pytest.raises(InvalidSpec) as caught:
                    await b.submit(job_spec, "o1")
                assert caught.value.field == field
                assert caught.value.message.startswith(f"the Provider needs the order of the {asset}: give {field}")
            assert len(job_requests(sandbox)) == before, "nothing reached the provider"

    run(body)


def test_validation_normalises_and_reads_a_script(tmp_path: Any) -> None:
    script = tmp_path / "algo.py"
    script.write_text("print('from a file')\n", encoding="utf-8")
    b = offline()
    b.local_roots = (tmp_path.resolve(),)
    checked = b.validate(spec(inputs=[f" {DID} ", "", {"documentId": f" {ALGO_DID}", "serviceId": "1",
                                                        "transferTxId": "0x1"}],
                              script=str(script), environment=" env-1 ", extra={"dataset": ORDER}))  # fmt: skip
    assert checked.inputs == [DID, {"documentId": ALGO_DID, "serviceId": "1", "transferTxId": "0x1"}]
    assert checked.extra == {"dataset": ORDER}
    assert checked.code == "print('from a file')\n" and checked.script is None and checked.environment == "env-1"
    assert b.validate(checked) == checked  # idempotent: the server checks, then submit checks again


def test_datasets_must_be_dids_and_the_refusal_says_why() -> None:
    b = offline()
    for inputs, field in (([str(Path.home() / "rain.csv")], "inputs[0]"), ([ordered(DID), "rain.csv"], "inputs[1]"),
                          ([ordered("/tmp/rain.csv")], "inputs[0].documentId")):  # fmt: skip
        with pytest.raises(InvalidSpec) as caught:
            b.validate(spec(inputs=inputs, code="print(1)", extra={"dataset": ORDER} if field == "inputs[0]" else {}))
        assert caught.value.field == field
        assert caught.value.message == (
            "Ocean computes only on published datasets: give the dataset's DID (did:op:…); local files and "
            "DataFrames cannot be sent to a Provider")
    assert b.validate(spec(inputs=[f" {DID}"], code="print(1)", extra={"dataset": ORDER})).inputs == [DID]


def test_a_script_is_read_only_under_the_shared_folders(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    for folder in (root, outside):
        folder.mkdir()
        (folder / "algo.py").write_text("print('algo')\n")
    b = offline()
    b.local_roots = (root.resolve(),)
    job = spec(inputs=[DID], extra={"dataset": ORDER})
    assert b.validate(job.replace(script=str(root / "algo.py"))).code == "print('algo')\n"
    assert b.validate(job.replace(script="algo.py")).code == "print('algo')\n", "relative to the first root"
    for path in (str(outside / "algo.py"), f"file://{outside / 'algo.py'}", "/proc/self/environ", "../outside/algo.py"):
        with pytest.raises(InvalidSpec) as caught:
            b.validate(job.replace(script=path))
        assert caught.value.field == "script" and "not a file this server shares" in caught.value.message, path
    (root / "folder.py").mkdir()
    with pytest.raises(InvalidSpec, match="is not a file") as caught:
        b.validate(job.replace(script="folder.py"))
    assert caught.value.field == "script"


@pytest.mark.parametrize("written", [KEY_0, KEY_0[2:], KEY_0[2:].upper(), "0x" + KEY_0[2:].upper()],
                         ids=["0x", "bare", "upper", "0x-upper"])
def test_raw_code_or_anything_sent_that_carries_the_key_is_refused_without_repeating_it(
    tmp_path: Path, written: str
) -> None:
    b = offline()
    b.local_roots = (tmp_path.resolve(),)
    (tmp_path / "leak.py").write_text(f"print('{written}')\n")
    job = spec(inputs=[DID], extra={"dataset": ORDER})
    for fields, field in (({"code": f"key = '{written}'"}, "code"), ({"script": "leak.py"}, "script"),
                          ({"code": "print(1)", "params": {"k": written}}, "params"),
                          ({"code": "print(1)", "extra": {"dataset": {**ORDER, "userdata": {"k": written}}}},
                           "extra")):  # fmt: skip
        with pytest.raises(InvalidSpec) as caught:
            b.validate(job.replace(**fields))
        assert caught.value.field == field and "private key" in caught.value.message
        shown = json.dumps(caught.value.to_dict()).lower() + str(caught.value).lower()
        assert KEY_0[2:].lower() not in shown and KEY_0[2:26].lower() not in shown
    assert b.validate(job.replace(code=f"print('{KEY_1}')")).code, "another key is the user's own business"


def test_start_body_fields() -> None:
    b = offline()
    raw = b.validate(spec(inputs=[DID, ordered("did:op:2"), {"documentId": "did:op:3", "serviceId": "3",
                                                             "transferTxId": "0x3"}],
                          code="print(1)", params={"n": 3},
                          extra={"dataset": {"serviceId": "1", "transferTxId": "0x1"},
                                 "container": {"tag": "3.12"}}))  # fmt: skip
    body = b._start_body(raw, "env-1")
    assert body == {
        "environment": "env-1",
        "dataset": {"documentId": DID, "serviceId": "1", "transferTxId": "0x1"},
        "algorithm": {"meta": {"rawcode": "print(1)", "language": "python",
                               "container": {"image": "python", "tag": "3.12", "entrypoint": "python $ALGO"}},
                      "algocustomdata": {"n": 3}},
        "additionalDatasets": [ordered("did:op:2"),
                               {"documentId": "did:op:3", "serviceId": "3", "transferTxId": "0x3"}],
    }  # fmt: skip
    published = b.validate(spec(inputs=[DID], algorithm=ALGO_DID, extra={"algorithm": ALGO_ORDER, "dataset": ORDER}))
    body = b._start_body(published, "env-2")
    assert body["algorithm"] == {"documentId": ALGO_DID, **ALGO_ORDER} and "additionalDatasets" not in body
    assert body["dataset"] == {"documentId": DID, **ORDER}


def test_form_declares_the_fields() -> None:
    form = offline().form()
    assert form.field("inputs").required and form.field("inputs").type == "tags"
    assert form.field("code").type == "code" and form.field("script").type == "path"
    assert "first free environment" in form.field("environment").help
    assert form.field("params").type == "mapping" and form.has("extra.algorithm") and form.has("extra.container")
    assert not form.has("timeout_s") and ("algorithm", "code", "script") in form.one_of
    ordinary = spec(inputs=[DID, ALGO_DID], code="print(1)", params={"n": 1}, extra={"container": {"tag": "3.12"}},
                    environment="env-1")  # fmt: skip
    check_spec(form, ordinary.to_dict())  # what the server checks before validate()
    with pytest.raises(InvalidSpec) as caught:
        check_spec(form, spec(inputs=[DID], code="print(1)", algorithm=ALGO_DID).to_dict())
    assert caught.value.field == "algorithm"


# --- against the Provider sandbox, over HTTP --------------------------------------------------

TEMPERATURES = [12, 15, 11, 17, 14, 19, 13, 16, 18, 20]  # the demo dataset's column, day 1..10
SCALE_CODE = """\
import csv, json, os
from pathlib import Path

inputs = Path(os.environ.get("INPUTS", "/data/inputs"))  # the pod's variables, as on a real Provider
custom = json.loads((inputs / "algoCustomData.json").read_text())
did = json.loads(os.environ["DIDS"])[0]
with (inputs / did / "0").open(newline="") as fh:
    rows = list(csv.DictReader(fh))
scale = custom.get("scale", 1)
with (Path(os.environ.get("OUTPUTS", "/data/outputs")) / "scaled.csv").open("w") as fh:
    fh.write("day,temperature_scaled\\n")
    for row in rows:
        fh.write(f"{row['day']},{float(row['temperature']) * scale}\\n")
print(f"scaled {len(rows)} rows by {scale} with {os.environ['ALGO'].rsplit('/', 1)[-1]}")
"""
SLEEP_CODE = "import time\nprint('sleeping', flush=True)\ntime.sleep(60)\n"


@pytest.fixture(scope="module", params=["code", "docs"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[OceanProviderSandbox]:
    with OceanProviderSandbox(variant=request.param, step_delay_s=0.05) as sb:
        yield sb


def ocean(sb: OceanProviderSandbox, **config: Any) -> AbstractAsyncContextManager[OceanBackend]:
    b = OceanBackend("ocean", {"url": sb.base_url, "private_key_env": KEY_ENV, "timeout_s": 20, **config})
    b.sandbox_under_test = sb  # type: ignore[attr-defined]  # for failure messages only
    return started(b)


async def wait_for(b: OceanBackend, remote_id: str, states: Any = None, timeout: float = 30.0) -> Any:
    """Poll until the job is terminal (or in one of ``states``); a failure shows the sandbox's record of it."""
    return await wait_status(b, remote_id, states, timeout=timeout, explain=lambda: _sandbox_view(b, remote_id))


def _sandbox_view(b: OceanBackend, remote_id: str) -> Any:
    """The sandbox's own record of a job, for a failure message."""
    sandbox = getattr(b, "sandbox_under_test", None)
    try:
        return sandbox.job(split_remote_id(remote_id)[0]) if sandbox else None
    except KeyError:
        return None


def algorithm_log_on_the_sandbox(sb: OceanProviderSandbox, job_id: str) -> str:
    """What the algorithm wrote so far, read from the sandbox's job folder (the provider's side)."""
    path = Path(sb.job(job_id)["folder"]) / "data" / "logs" / "algorithm.log"
    return path.read_text() if path.is_file() else ""


def job_requests(sb: OceanProviderSandbox) -> list[tuple[str, str, dict[str, str]]]:
    """The requests about jobs (nonces and compute calls): all but the warm-up's root and environments."""
    return [r for r in sb.requests if r[1] not in ("/", "/api/services/computeEnvironments")]


def compute_gets(sb: OceanProviderSandbox) -> list[dict[str, str]]:
    return [query for method, path, query in sb.requests if method == "GET" and path == "/api/services/compute"]


async def push_nonce(sb: OceanProviderSandbox, nonce: int, key: str = KEY_0) -> None:
    """Another client of the same wallet makes a signed call (a stop of no job) with ``nonce``."""
    address = Account.from_key(key).address
    message = address + "no-such-job" + str(nonce)
    signature = Account.sign_message(encode_defunct(primitive=keccak(text=message)), key).signature.hex()
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.put(sb.base_url + "/api/services/compute", params={
            "consumerAddress": address, "jobId": "no-such-job", "nonce": nonce, "signature": signature})
    assert response.status_code == 200, response.text
    assert sb.nonce_of(address) == nonce


def test_environments_are_listed_and_normalised(sandbox: OceanProviderSandbox) -> None:
    async def body() -> None:
        async with ocean(sandbox) as b:
            envs = {e.id: e for e in await b.environments()}
            assert set(envs) == {FREE_ENVIRONMENT_ID, PAID_ENVIRONMENT_ID}
            free, paid = envs[FREE_ENVIRONMENT_ID], envs[PAID_ENVIRONMENT_ID]
            assert (free.cpus, free.gpus, free.memory_gb, free.disk_gb, free.price) == (2.0, 0, 4.0, 10.0, 0.0)
            assert free.max_jobs == 8 and free.max_duration_s == 3600.0 and free.running_jobs is not None
            assert (paid.cpus, paid.gpus, paid.gpu_type, paid.memory_gb, paid.price) == (8.0, 1, "NVIDIA T4", 32.0, 1.5)
            assert paid.description == "GPU environment, paid (sandbox)" and paid.backend == "ocean"
            assert b.chain_id == 8996 and b.describe()["provider_address"] == sandbox.provider_address
            assert b.form().field("environment").choices == (FREE_ENVIRONMENT_ID, PAID_ENVIRONMENT_ID)
        async with ocean(sandbox, chain_id=137) as b:
            with pytest.raises(InvalidSpec) as caught:
                await b.environments()
            assert caught.value.field == "chain_id" and "8996" in caught.value.message

    run(body)


def test_raw_algorithm_job_succeeds_and_its_output_is_a_dataframe(sandbox: OceanProviderSandbox) -> None:
    async def body() -> None:
        async with ocean(sandbox) as b:
            submission = await b.submit(spec(inputs=[DEMO], code=SCALE_CODE, params={"scale": 2}), "j1")
            rid = submission.remote_id
            job_id, document_id = split_remote_id(rid)
            assert document_id == DEMO_DATASET_DID and submission.status.state is JobState.QUEUED
            assert submission.status.native_status == "1 Warming up"
            assert sandbox.job(job_id)["environment"] == FREE_ENVIRONMENT_ID  # the first free one
            final = await wait_for(b, rid)
            assert final.state is JobState.SUCCEEDED, final
            assert final.native_status == ("70 Job finished" if sandbox.variant == "code" else "70 Job completed")
            assert final.started and final.finished and final.started <= final.finished

            results = await b.results(rid)
            assert [(r.name, r.kind) for r in results] == [
                ("scaled.csv", "output"), ("algorithm.log", "log"), ("configure.log", "log")]
            assert results[0].media_type == "text/csv" and results[0].size and results[0].size > 0
            frame = read_frame(await read_result(b, rid, "scaled.csv"), "scaled.csv")
            assert list(frame["day"]) == list(range(1, 11))
            assert list(frame["temperature_scaled"]) == [2.0 * t for t in TEMPERATURES]

            log = await b.logs(rid)
            assert log.text == "scaled 10 rows by 2 with algorithm\n" and log.complete
            assert log.offset == len(log.text.encode())
            rest = await b.logs(rid, log.offset)
            assert rest.text == "" and rest.complete and rest.offset == log.offset
            assert (await b.logs(rid, 7)).text == log.text[7:]
            with pytest.raises(NotFound):
                await read_result(b, rid, "nothing.csv")

            fresh = OceanBackend("ocean", {"url": sandbox.base_url, "private_key_env": KEY_ENV})
            try:  # after a restart the remote id alone finds the job and its results
                assert (await fresh.status(rid)).state is JobState.SUCCEEDED
                assert read_frame(await read_result(fresh, rid, "scaled.csv"), "scaled.csv").equals(frame)
            finally:
                await fresh.close()

    run(body)


def test_published_algorithm_with_custom_data(sandbox: OceanProviderSandbox) -> None:
    async def body() -> None:
        async with ocean(sandbox) as b:
            submission = await b.submit(
                spec(inputs=[DEMO], algorithm=DEMO_ALGORITHM_DID, params={"columns": ["rainfall"]},
                     environment=FREE_ENVIRONMENT_ID, extra={"algorithm": ALGO_ORDER}), "j2")  # fmt: skip
            assert (await wait_for(b, submission.remote_id)).state is JobState.SUCCEEDED
            frame = read_frame(await read_result(b, submission.remote_id, "summary.csv"), "summary.csv")
            assert list(frame["column"]) == ["rainfall"]
            row = frame.iloc[0]
            assert (row["count"], row["sum"], row["mean"], row["min"], row["max"]) == (10, 15, 1.5, 0, 4.5)

    run(body)


def test_text_signatures_are_refused_and_the_backends_pass_on_every_signed_endpoint(
    sandbox: OceanProviderSandbox,
) -> None:
    async def body() -> None:
        nonce = now_ms() + 1_000
        message = ADDRESS_1 + DEMO_DATASET_DID + str(nonce)
        wrong = Account.sign_message(encode_defunct(text=message), KEY_1).signature.hex()
        start = {"consumerAddress": ADDRESS_1, "nonce": nonce, "signature": wrong,
                 "environment": FREE_ENVIRONMENT_ID, "dataset": ordered(),
                 "algorithm": {"meta": {"rawcode": "print(1)"}}}  # fmt: skip
        async with httpx.AsyncClient(timeout=10) as client:
            refused = await client.post(sandbox.base_url + "/api/services/compute", json=start)
        assert refused.status_code == 400 and "Invalid signature provided" in refused.text
        assert sandbox.nonce_of(ADDRESS_1) == 0

        async with ocean(sandbox) as b:
            calls: list[tuple[str, int]] = []

            async def note(response: httpx.Response) -> None:
                if response.request.url.path in ("/api/services/compute", "/api/services/computeResult"):
                    calls.append((f"{response.request.method} {response.request.url.path}", response.status_code))

            (await b._client()).event_hooks["response"].append(note)
            done = await b.submit(spec(inputs=[DEMO], code="print('hi')"), "j3")  # start
            assert (await wait_for(b, done.remote_id)).state is JobState.SUCCEEDED
            assert (await b.logs(done.remote_id)).text == "hi\n"  # computeResult
            running = await b.submit(spec(inputs=[DEMO], code=SLEEP_CODE), "j4")
            job_id, _ = split_remote_id(running.remote_id)
            await until(lambda: "sleeping" in algorithm_log_on_the_sandbox(sandbox, job_id))
            await b.cancel(running.remote_id)  # stop
            await b.delete(done.remote_id)  # delete
            signed = {(call, status) for call, status in calls if call != "GET /api/services/compute"}
            assert signed == {("POST /api/services/compute", 200), ("GET /api/services/computeResult", 200),
                              ("PUT /api/services/compute", 200), ("DELETE /api/services/compute", 200)}  # fmt: skip
            assert sandbox.nonce_of(ADDRESS_0) == b._nonces.last
            await wait_for(b, running.remote_id)

    run(body)


def test_stop_delete_and_provisioning_failures(sandbox: OceanProviderSandbox) -> None:
    async def body() -> None:
        async with ocean(sandbox) as b:
            running = await b.submit(spec(inputs=[DEMO], code=SLEEP_CODE), "s1")
            job_id, _ = split_remote_id(running.remote_id)
            await until(lambda: "sleeping" in algorithm_log_on_the_sandbox(sandbox, job_id))  # it really runs
            status = await b.status(running.remote_id)
            assert status.state is JobState.RUNNING and status.native_status.startswith("40 Running algorith")
            log = await b.logs(running.remote_id)
            assert (log.text, log.complete) == ("", False), "no log is listed before the job publishes"
            await b.cancel(running.remote_id)
            final = await wait_for(b, running.remote_id)
            assert final.state is JobState.CANCELLED and final.message == "stopped by the user"
            assert sandbox.job(job_id)["stopreq"] == 1 and final.native_status.startswith("70 ")
            assert (await b.logs(running.remote_id)).text == "sleeping\n"

            await b.delete(running.remote_id)
            with pytest.raises(NotFound):
                await b.status(running.remote_id)
            assert await b.status_many([running.remote_id]) == {}
            with pytest.raises(KeyError):
                sandbox.job(job_id)

            with pytest.raises(InvalidSpec) as caught:  # the Provider refuses an unknown DID at the start
                await b.submit(spec(inputs=[ordered("did:op:" + "00" * 32)], code="print(1)"), "s2")
            assert caught.value.field == "inputs" and "dataset.documentId: did_not_found" in caught.value.message
            assert "the provider knows no asset with this DID" in caught.value.message
            with pytest.raises(InvalidSpec) as caught:
                await b.submit(spec(inputs=[DEMO], algorithm="did:op:" + "11" * 32,
                                    extra={"algorithm": ALGO_ORDER}), "s3")  # fmt: skip
            assert caught.value.field == "algorithm" and "algorithm: did_not_found" in caught.value.message

            node = await b.submit(spec(inputs=[DEMO], code="console.log(1)",
                                       extra={"container": {"entrypoint": "node $ALGO", "image": "node",
                                                            "tag": "20"}}), "s4")  # fmt: skip
            failed = await wait_for(b, node.remote_id)  # the sandbox runs Python only: provisioning fails
            assert failed.state is JobState.FAILED and failed.native_status == "32 Algorithm provisioning failed"
            assert failed.message.startswith("algorithm provisioning failed") and failed.finished is not None
            log = await b.logs(node.remote_id)
            assert (log.text, log.complete) == ("", True)

    run(body)


def test_status_many_is_one_request_for_many_jobs(sandbox: OceanProviderSandbox) -> None:
    async def body() -> None:
        async with ocean(sandbox) as b:
            ids = [(await b.submit(spec(inputs=[DEMO], code=SLEEP_CODE), f"m{i}")).remote_id
                   for i in range(3)]  # fmt: skip
            try:
                before = len(compute_gets(sandbox))
                gone = "0" * 32 + "|" + DEMO_DATASET_DID
                statuses = await b.status_many([*ids, gone])
                after = compute_gets(sandbox)
                assert len(after) == before + 1 and after[-1] == {"consumerAddress": ADDRESS_0}
                assert set(statuses) == set(ids), "an id the provider did not list is left out"
                assert all(not s.state.is_terminal for s in statuses.values())
            finally:
                for rid in ids:
                    await b.delete(rid)

    run(body)


def test_provider_refusals_are_reported_in_its_own_words(sandbox: OceanProviderSandbox, tmp_path: Any) -> None:
    no_raw = "did:op:" + "77" * 32
    trusted_only = "did:op:" + "78" * 32
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    sandbox.register_dataset(no_raw, data, allow_raw_algorithm=False)
    sandbox.register_dataset(trusted_only, data, trusted_algorithms=[DEMO_ALGORITHM_DID])
    untrusted = "did:op:" + "12" * 32
    sandbox.register_algorithm(untrusted, "print('untrusted')\n")

    async def body() -> None:
        async with ocean(sandbox) as b:
            cases = [
                (spec(inputs=[DEMO], code="print(1)", environment="no-such-env"), "environment",
                 "Environment invalid or does not exist"),
                (spec(inputs=[ordered(no_raw)], code="print(1)"), "code", "no_raw_algo_allowed"),
                (spec(inputs=[ordered(trusted_only)], algorithm=untrusted, extra={"algorithm": ALGO_ORDER}),
                 "algorithm", "not_trusted_algo"),
                (spec(inputs=[ordered("did:op:" + "79" * 32)], code="print(1)"), "inputs", "did_not_found"),
                (spec(inputs=[DEMO], algorithm=DEMO_DATASET_DID, extra={"algorithm": ALGO_ORDER}), "algorithm",
                 "this DID is not an algorithm"),
                (spec(inputs=[ordered(transferTxId="an order that paid no provider fee")], code="print(1)",
                      environment=PAID_ENVIRONMENT_ID), "inputs", "fees_not_paid"),
                (spec(inputs=[ordered(serviceId="no-such-service")], code="print(1)"), "inputs",
                 "dataset.serviceId: not_found"),
            ]  # fmt: skip
            for job_spec, field, words in cases:
                with pytest.raises(InvalidSpec) as caught:
                    await b.submit(job_spec, "r")
                assert caught.value.field == field and words in caught.value.message, caught.value
            paid_order = {**ORDER, "transferTxId": "0x" + "ab" * 32}  # a transaction hash: the fee was paid
            paid = await b.submit(spec(inputs=[DEMO_DATASET_DID], code="print(1)", environment=PAID_ENVIRONMENT_ID,
                                       extra={"dataset": paid_order}), "r")  # fmt: skip
            assert (await wait_for(b, paid.remote_id)).state is JobState.SUCCEEDED
            job_id, _ = split_remote_id(paid.remote_id)
            assert sandbox.job(job_id)["agreementId"] == "0x" + "ab" * 32
            assert sandbox.job(job_id)["environment"] == PAID_ENVIRONMENT_ID

    run(body)


def test_another_consumers_order_is_refused(sandbox: OceanProviderSandbox,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCEAN_OTHER_KEY", KEY_1)
    order = ordered(transferTxId="0x" + "0c" * 32)

    async def body() -> None:
        async with ocean(sandbox) as mine, ocean(sandbox, private_key_env="OCEAN_OTHER_KEY") as other:
            job = await mine.submit(spec(inputs=[order], code="print(1)"), "o1")
            with pytest.raises(InvalidSpec) as caught:  # an order names its consumer
                await other.submit(spec(inputs=[order], code="print(1)"), "o2")
            assert caught.value.field == "inputs" and "order_invalid" in caught.value.message
            assert "not valid for this dataset and this consumer" in caught.value.message
            await wait_for(mine, job.remote_id)
            await mine.delete(job.remote_id)

    run(body)


def test_nonces_are_increasing_milliseconds_and_a_stale_nonce_is_recovered(sandbox: OceanProviderSandbox) -> None:
    async def body() -> None:
        async with ocean(sandbox) as b:
            used: list[int] = []
            first = await b.submit(spec(inputs=[DEMO], code="print('n')"), "n1")
            used.append(sandbox.nonce_of(ADDRESS_0))
            await wait_for(b, first.remote_id)
            for _ in range(3):
                await read_result(b, first.remote_id, "algorithm.log")
                used.append(sandbox.nonce_of(ADDRESS_0))
            assert all(isinstance(n, int) and len(str(n)) == 13 for n in used), used
            assert used == sorted(set(used)), "strictly increasing"
            assert used[0] >= now_ms() - 60_000 and used[-1] <= now_ms() + 60_000

            ahead = now_ms() + 10_000_000  # another client pushed the stored nonce far ahead
            await push_nonce(sandbox, ahead)
            await read_result(b, first.remote_id, "algorithm.log")
            assert sandbox.nonce_of(ADDRESS_0) == ahead + 1

            pushed: list[int] = []

            async def race(request: httpx.Request) -> None:  # pushes between our nonce read and our call
                if request.method == "POST" and not pushed:
                    pushed.append(now_ms() + 20_000_000)
                    await push_nonce(sandbox, pushed[0])

            (await b._client()).event_hooks["request"].append(race)
            before = len([r for r in sandbox.requests if r[0] == "POST"])
            second = await b.submit(spec(inputs=[DEMO], code="print('n')"), "n2")
            assert len([r for r in sandbox.requests if r[0] == "POST"]) == before + 2, "refused once, then signed again"
            assert sandbox.nonce_of(ADDRESS_0) == pushed[0] + 1
            assert (await wait_for(b, second.remote_id)).state is JobState.SUCCEEDED

    run(body)


def test_the_private_key_appears_nowhere(sandbox: OceanProviderSandbox, caplog: pytest.LogCaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    async def body() -> None:
        for written in (KEY_0, KEY_0[2:]):
            monkeypatch.setenv(KEY_ENV, written)
            async with ocean(sandbox) as b:
                seen.extend([repr(b), repr(vars(b)), json.dumps(b.describe()), repr(b.form().to_dict())])
                seen.append(repr(await b.environments()))
                submission = await b.submit(spec(inputs=[DEMO], code="print('k')"), "k1")
                seen.append(repr(submission))
                seen.append(repr(await wait_for(b, submission.remote_id)))
                seen.append(repr(await b.results(submission.remote_id)))
                seen.append(repr(await b.logs(submission.remote_id)))
                seen.append(repr(await read_result(b, submission.remote_id, "algorithm.log")))
                seen.append(repr(await b.status_many([submission.remote_id])))
                for failing in (
                    b.submit(spec(inputs=[DEMO], code="x", environment="nope"), "k2"),
                    read_result(b, submission.remote_id, "nope.csv"),
                    b.status("nope|x"),
                ):
                    with pytest.raises(Exception) as caught:
                        await failing
                    seen.extend([str(caught.value), repr(caught.value), json.dumps(caught.value.to_dict())])
                await b.delete(submission.remote_id)
        monkeypatch.setenv(KEY_ENV, "0x" + KEY_0[2:-1] + "g")
        with pytest.raises(AuthError) as caught:
            offline()
        seen.append(str(caught.value))

    run(body)
    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(repr(record.__dict__) for record in caplog.records)
    seen.extend(repr(query) for _, _, query in sandbox.requests)
    text = "\n".join(seen).lower()
    assert ADDRESS_0.lower() in text and "k\\n" in text  # the address and the job's log were collected
    assert KEY_0[2:].lower() not in text and KEY_0[2:42].lower() not in text and KEY_0[-24:].lower() not in text


class _StubProvider:
    """A minimal provider root on loopback that names one endpoint elsewhere and leaves others out."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.queries: list[str] = []
        self.authorizations: list[str] = []
        paths, queries, authorizations = self.paths, self.queries, self.authorizations

        class Handler(http.server.BaseHTTPRequestHandler):
            def _send(self, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                route, _, query = self.path.partition("?")
                paths.append("GET " + route)
                if query:
                    queries.append(query)
                if self.headers.get("Authorization"):
                    authorizations.append(self.headers["Authorization"])
                if route == "/":
                    self._send({"serviceEndpoints": {"computeEnvironments": ["GET", "/v9/envs"],
                                                     "nonce": ["GET", "https://elsewhere.example/nonce"]},
                                "chainIds": [5], "providerAddress": "0x" + "12" * 20})  # fmt: skip
                elif self.path.startswith("/v9/envs"):
                    self._send([{"id": "e1", "nCPU": "1", "priceMin": "0"}])
                else:
                    self._send({"nonce": "7"})

            def do_PUT(self) -> None:
                paths.append("PUT " + self.path.split("?")[0])
                self._send([])

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_endpoint_paths_come_from_the_root_document_with_the_spec_defaults() -> None:
    stub = _StubProvider()

    async def body() -> None:
        b = OceanBackend("ocean", {"url": stub.url + "/", "private_key_env": KEY_ENV})
        try:
            assert [e.id for e in await b.environments()] == ["e1"] and b.chain_id == 5
            await b.cancel("job-1|" + DID)
            assert b.describe()["provider_address"] == "0x" + "12" * 20
        finally:
            await b.close()

    try:
        run(body)
    finally:
        stub.close()
    # the root once; the declared environments path; another host's nonce URL refused for the default
    assert stub.paths == ["GET /", "GET /v9/envs", "GET /api/services/nonce", "PUT /api/services/compute"]


# --- a provider that never answers; the URL as shown ------------------------------------------


@pytest.fixture
def silent_provider() -> Iterator[socket.socket]:
    """A loopback socket that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock


def test_start_does_not_wait_for_a_provider_that_never_answers(silent_provider: socket.socket) -> None:
    port = silent_provider.getsockname()[1]

    async def body() -> None:
        b = OceanBackend("ocean", {"url": f"http://127.0.0.1:{port}", "private_key_env": KEY_ENV, "timeout_s": 30})
        await asyncio.wait_for(b.start(), 5)  # the warm-up alone would take 3 × 30 s
        silent_provider.settimeout(10)
        connection, _ = await asyncio.to_thread(silent_provider.accept)  # the warm-up asks in the background
        with connection:
            connection.settimeout(10)
            sent = b""
            while b"\r\n\r\n" not in sent:
                sent += await asyncio.to_thread(connection.recv, 4096)
            assert sent.startswith(b"GET / HTTP/1.1"), "the root document is asked for"
            await asyncio.wait_for(b.close(), 5)  # and close() cancels the warm-up: the connection ends
            assert await asyncio.to_thread(connection.recv, 4096) == b""

    run(body)


def test_a_timeout_is_reported_in_words(silent_provider: socket.socket) -> None:
    port = silent_provider.getsockname()[1]

    async def body() -> None:
        b = OceanBackend("ocean", {"url": f"http://127.0.0.1:{port}", "private_key_env": KEY_ENV, "timeout_s": 0.2})
        try:
            with pytest.raises(BackendError) as caught:
                await b.environments()
        finally:
            await b.close()
        assert caught.value.message == ("the Ocean Provider did not answer (reading its root document): no answer "
                                        "within 0.2 s (tried 3 times)")  # fmt: skip

    run(body)


def test_describe_shows_the_url_without_credentials_or_query_but_requests_keep_them() -> None:
    stub = _StubProvider()
    host = stub.url.removeprefix("http://")

    async def body() -> None:
        url = f"http://reader:pa55word@{host}/?tenant=t-secret"
        b = OceanBackend("ocean", {"url": url, "private_key_env": KEY_ENV})
        try:
            shown = json.dumps(b.describe())
            assert b.describe()["url"] == stub.url and "pa55word" not in shown and "t-secret" not in shown
            assert [e.id for e in await b.environments()] == ["e1"]
        finally:
            await b.close()

    try:
        run(body)
    finally:
        stub.close()
    assert stub.queries == ["tenant=t-secret", "tenant=t-secret&chainId=5"]
    assert stub.authorizations == ["Basic " + base64.b64encode(b"reader:pa55word").decode()] * 2


# --- logs of finished jobs; a job without outputs ---------------------------------------------


def result_gets(sb: OceanProviderSandbox) -> int:
    return len([path for method, path, _ in sb.requests if method == "GET" and path == "/api/services/computeResult"])


def test_a_finished_jobs_log_is_downloaded_once(sandbox: OceanProviderSandbox,
                                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(ocean_module, "LOG_CACHE_JOBS", 1)  # kept for one job: the second evicts the first

    async def body() -> None:
        async with ocean(sandbox) as b:
            first = await b.submit(spec(inputs=[DEMO], code="print('first log')"), "c1")
            second = await b.submit(spec(inputs=[DEMO], code="print('second log')"), "c2")
            for submission in (first, second):
                assert (await wait_for(b, submission.remote_id)).state is JobState.SUCCEEDED
            assert (await b.logs(first.remote_id)).text == "first log\n"
            before = result_gets(sandbox)
            again = await b.logs(first.remote_id)
            assert (again.text, again.offset, again.complete) == ("first log\n", 10, True)
            assert (await b.logs(first.remote_id, 6)).text == "log\n"
            assert (await b.logs(first.remote_id, 10)).text == ""
            assert result_gets(sandbox) == before, "a finished job's log is not downloaded again"
            assert (await b.logs(second.remote_id)).text == "second log\n"
            assert result_gets(sandbox) == before + 1
            assert (await b.logs(first.remote_id)).text == "first log\n"
            assert result_gets(sandbox) == before + 2, "evicted by the second job: downloaded again"
            await b.delete(first.remote_id)
            with pytest.raises(NotFound):
                await b.logs(first.remote_id)  # a deleted job's kept log is gone too
            await b.delete(second.remote_id)

    run(body)


def test_a_finished_job_without_outputs_says_to_read_its_log(sandbox: OceanProviderSandbox) -> None:
    async def body() -> None:
        async with ocean(sandbox) as b:
            job = await b.submit(spec(inputs=[DEMO], code="raise ValueError('no such column: rain')"), "f1")
            final = await wait_for(b, job.remote_id)
            assert final.state is JobState.SUCCEEDED and final.native_status.startswith("70 ")
            assert final.message == ("finished without output files: the algorithm may have failed, or wrote "
                                     "nothing to $OUTPUTS — read its log (jobs/{id}/logs)")  # fmt: skip
            assert "ValueError: no such column: rain" in (await b.logs(job.remote_id)).text
            assert [r.kind for r in await b.results(job.remote_id)] == ["log", "log"]

    run(body)
