"""The Datastory task API sandbox over real HTTP, with real HDFS (WebHDFS sandbox) and CEPH (moto S3)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests
from fsspec.implementations.webhdfs import WebHDFS

from jupyter_compute.sandbox.datastory import DatastorySandbox

TOKEN = "sandbox-token"
H = {"Authorization": TOKEN}
CSV = b"species,height,diameter\noak,10,30\npine,20,25\noak,30,35\nbirch,,20\n"


@pytest.fixture(scope="module")
def ds():
    with DatastorySandbox() as s:
        yield s


@pytest.fixture(scope="module")
def fs(hdfs):
    return WebHDFS(host="127.0.0.1", port=hdfs.port, user="alice", skip_instance_cache=True)


def hdfs_info(hdfs, path, **extra):
    return {"fileSystemType": "HDFS", "host": "127.0.0.1", "port": str(hdfs.port), "spareHost": "",
            "userName": "alice", **path, **extra}


def submit(ds, body, headers=H):
    return requests.post(ds.submit_url, json=body, headers=headers, timeout=10)


def wait(ds, task_id, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = requests.get(ds.get_url, params={"taskId": task_id}, headers=H, timeout=10)
        assert r.status_code == 200
        if r.json()["status"] in ("FINISHED", "ERROR"):
            return r.json()
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not end")


def rows(data: bytes):
    return list(csv.DictReader(io.StringIO(data.decode())))


def test_hdfs_column_summary_round_trip(ds, hdfs, fs):
    fs.pipe_file("/in/trees.csv", CSV)
    body = {"algorithm": "column-summary", "params": {}, "email": "a@example.org",
            "inputFileSystemInfo": hdfs_info(hdfs, {"inputPath": "/in/trees.csv"}),
            "outputFileSystemInfo": hdfs_info(hdfs, {"outputPath": "/out/summary"})}
    r = submit(ds, body)
    assert r.status_code == 200 and isinstance(r.json()["id"], int)
    task = wait(ds, r.json()["id"])
    assert task["status"] == "FINISHED", task
    assert task["message"] is None
    assert sorted(fs.ls("/out/summary")) == ["/out/summary/_SUCCESS", "/out/summary/part-00000.csv"]
    out = {row["column"]: row for row in rows(fs.cat("/out/summary/part-00000.csv"))}
    assert out["height"] == {"column": "height", "count": "3", "mean": "20", "min": "10", "max": "30"}
    assert out["diameter"]["count"] == "4" and out["diameter"]["mean"] == "27.5"
    assert out["species"] == {"column": "species", "count": "4", "mean": "", "min": "", "max": ""}
    assert fs.info("/out/summary/part-00000.csv")["owner"] == "alice"


def test_hdfs_folder_input_dedup_and_word_count(ds, hdfs, fs):
    fs.pipe_file("/multi/part-1.csv", b"k,v\na,1\nb,2\n")
    fs.pipe_file("/multi/part-2.csv", b"k,v\na,3\nc,4\n")
    fs.pipe_file("/multi/_SUCCESS", b"")
    body = {"algorithm": "dedup", "params": {"keys": ["k"]}, "email": "a@example.org",
            "inputFileSystemInfo": hdfs_info(hdfs, {"inputPath": "/multi"}),
            "outputFileSystemInfo": hdfs_info(hdfs, {"outputPath": "/out/dedup"})}
    task = wait(ds, submit(ds, body).json()["id"])
    assert task["status"] == "FINISHED", task
    assert fs.cat("/out/dedup/part-00000.csv") == b"k,v\na,1\nb,2\nc,4\n"

    fs.pipe_file("/text/t.txt", b"the cat and the hat\nThe end")
    body.update(algorithm="word-count", params={},
                inputFileSystemInfo=hdfs_info(hdfs, {"inputPath": "/text/t.txt"}),
                outputFileSystemInfo=hdfs_info(hdfs, {"outputPath": "/out/wc"}))
    task = wait(ds, submit(ds, body).json()["id"])
    assert task["status"] == "FINISHED", task
    got = rows(fs.cat("/out/wc/part-00000.csv"))
    assert got[0] == {"word": "the", "count": "3"}
    assert {r["word"] for r in got} == {"the", "cat", "and", "hat", "end"}


def _closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("spare", ["host:port", "host"])
def test_spare_host_fallback(ds, hdfs, fs, spare):
    fs.pipe_file("/spare/in.csv", b"x\n1\n3\n")
    if spare == "host:port":  # primary: a closed port; spareHost carries the sandbox's host:port
        primary = {"host": "127.0.0.1", "port": str(_closed_port()), "spareHost": f"127.0.0.1:{hdfs.port}"}
    else:  # primary: a host nothing listens on, same port; spareHost a bare host
        primary = {"host": "127.0.0.2", "port": str(hdfs.port), "spareHost": "127.0.0.1"}
    out = f"/spare/out-{spare.replace(':', '-')}"
    body = {"algorithm": "column-summary", "email": "a@example.org",
            "inputFileSystemInfo": hdfs_info(hdfs, {"inputPath": "/spare/in.csv"}, **primary),
            "outputFileSystemInfo": hdfs_info(hdfs, {"outputPath": out}, **primary)}
    task = wait(ds, submit(ds, body).json()["id"])
    assert task["status"] == "FINISHED", task
    assert rows(fs.cat(f"{out}/part-00000.csv"))[0]["mean"] == "2"


def test_unreachable_without_spare_is_error(ds, hdfs):
    body = {"algorithm": "column-summary", "email": "a@example.org",
            "inputFileSystemInfo": hdfs_info(hdfs, {"inputPath": "/x"}, port=str(_closed_port())),
            "outputFileSystemInfo": hdfs_info(hdfs, {"outputPath": "/y"})}
    task = wait(ds, submit(ds, body).json()["id"])
    assert task["status"] == "ERROR" and "does not answer" in task["message"]


@pytest.fixture(scope="module")
def moto(s3_endpoint):
    address = urlsplit(s3_endpoint)
    return address.hostname, address.port


def test_ceph_round_trip(ds, moto, caplog):
    import boto3
    host, port = moto
    secret = "ceph-secret-XYZ123"
    s3 = boto3.client("s3", endpoint_url=f"http://{host}:{port}", aws_access_key_id="AK",
                      aws_secret_access_key=secret, region_name="us-east-1")
    s3.create_bucket(Bucket="bkt")
    s3.put_object(Bucket="bkt", Key="input/data/trees.csv", Body=CSV)
    ceph = {"fileSystemType": "CEPH", "host": host, "port": str(port), "userName": "AK", "password": secret}
    body = {"algorithm": "column-summary", "params": {"columns": ["height"]}, "email": "a@example.org",
            "inputFileSystemInfo": {**ceph, "inputPath": "bkt#input/data"},
            "outputFileSystemInfo": {**ceph, "outputPath": "results#runs/r1"}}
    with caplog.at_level(logging.DEBUG):
        task = wait(ds, submit(ds, body).json()["id"])
    assert task["status"] == "FINISHED", task
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="results", Prefix="runs/r1/")["Contents"])
    assert keys == ["runs/r1/_SUCCESS", "runs/r1/part-00000.csv"]
    data = s3.get_object(Bucket="results", Key="runs/r1/part-00000.csv")["Body"].read()
    assert rows(data) == [{"column": "height", "count": "3", "mean": "20", "min": "10", "max": "30"}]
    assert secret not in caplog.text
    assert ds.submissions[-1]["inputFileSystemInfo"]["password"] == "***"

    # missing input prefix → ERROR, and the secret never appears in the message
    body["inputFileSystemInfo"] = {**ceph, "inputPath": "bkt#nothing/here"}
    task = wait(ds, submit(ds, body).json()["id"])
    assert task["status"] == "ERROR" and "not found" in task["message"] and secret not in task["message"]


def test_auth_errors(ds):
    for headers in ({}, {"Authorization": "wrong"}, {"Authorization": f"Bearer {TOKEN}"}):
        r = submit(ds, {"algorithm": "x"}, headers=headers)
        assert r.status_code == 401 and "message" in r.json()
        r = requests.get(ds.get_url, params={"taskId": 1}, headers=headers, timeout=10)
        assert r.status_code == 401


def test_validation_errors(ds, hdfs):
    good = {"algorithm": "column-summary", "email": "a@example.org",
            "inputFileSystemInfo": hdfs_info(hdfs, {"inputPath": "/in"}),
            "outputFileSystemInfo": hdfs_info(hdfs, {"outputPath": "/out"})}
    cases = [
        ({k: v for k, v in good.items() if k != "email"}, "email"),
        ({**good, "email": ""}, "email"),
        ({**good, "email": "not-an-address"}, "email"),
        ({k: v for k, v in good.items() if k != "algorithm"}, "algorithm"),
        ({**good, "params": [1]}, "params"),
        ({k: v for k, v in good.items() if k != "inputFileSystemInfo"}, "inputFileSystemInfo"),
        ({**good, "outputFileSystemInfo": {**good["outputFileSystemInfo"], "fileSystemType": "FTP"}}, "HDFS or CEPH"),
        ({**good, "inputFileSystemInfo": {"fileSystemType": "CEPH", "host": "h", "port": "1", "userName": "a",
                                          "password": "b", "inputPath": "no-hash"}}, "bucket#"),
    ]
    for body, needle in cases:
        r = submit(ds, body)
        assert r.status_code == 400, body
        assert needle in r.json()["message"]
    r = requests.post(ds.submit_url, data=b"{nope", headers=H, timeout=10)
    assert r.status_code == 400 and "message" in r.json()
    r = requests.post(ds.submit_url, json=[good], headers=H, timeout=10)
    assert r.status_code == 400 and "message" in r.json(), "a JSON array is not a submission"
    r = requests.get(ds.get_url, params={"taskId": "abc"}, headers=H, timeout=10)
    assert r.status_code == 400
    r = requests.get(ds.get_url, params={"taskId": 1}, headers=H, timeout=10)
    assert r.status_code == 404 and "message" in r.json()


@pytest.mark.parametrize("algorithm,params,path,content,needle", [
    ("no-such-algo", {}, "/err/a.csv", CSV, "unknown algorithm"),
    ("column-summary", {}, "/err/missing.csv", None, "not found"),
    ("column-summary", {}, "/err/bad.csv", b"a,b\n1,2,3\n", "bad CSV"),
    ("dedup", {"keys": ["zzz"]}, "/err/a.csv", CSV, "unknown key column"),
    ("fail", {"message": "boom"}, "/err/a.csv", CSV, "boom"),
])
def test_error_with_message(ds, hdfs, fs, algorithm, params, path, content, needle):
    if content is not None:
        fs.pipe_file(path, content)
    body = {"algorithm": algorithm, "params": params, "email": "a@example.org",
            "inputFileSystemInfo": hdfs_info(hdfs, {"inputPath": path}),
            "outputFileSystemInfo": hdfs_info(hdfs, {"outputPath": "/err/out"})}
    task = wait(ds, submit(ds, body).json()["id"])
    assert task["status"] == "ERROR"
    assert needle in task["message"]
    assert task["finishTime"] is not None


def test_statuses_and_utc8_times(hdfs, fs):
    fs.pipe_file("/st/in.csv", b"a\n1\n")
    with DatastorySandbox(token="t2", start_delay_s=0.6, submit_path="/custom/submit") as ds:
        assert ds.submit_url.endswith("/custom/submit")
        body = {"algorithm": "sleep", "params": {"seconds": 0.6}, "email": "a@example.org",
                "inputFileSystemInfo": hdfs_info(hdfs, {"inputPath": "/st/in.csv"}),
                "outputFileSystemInfo": hdfs_info(hdfs, {"outputPath": "/st/out"})}
        before = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(microsecond=0, tzinfo=None)
        r = requests.post(ds.submit_url, json=body, headers={"Authorization": "t2"}, timeout=10)
        task_id = r.json()["id"]

        def get():
            return requests.get(ds.get_url, params={"taskId": task_id}, headers={"Authorization": "t2"},
                                timeout=10).json()

        first = get()
        assert first["status"] == "INITIALING"
        assert first["startTime"] is None and first["finishTime"] is None
        assert set(first) == {"id", "status", "addTime", "startTime", "finishTime", "message"}
        seen = {first["status"]}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            t = get()
            seen.add(t["status"])
            if t["status"] == "RUNNING":
                assert t["startTime"] is not None and t["finishTime"] is None
            if t["status"] == "FINISHED":
                break
            time.sleep(0.05)
        assert seen == {"INITIALING", "RUNNING", "FINISHED"}
        fmt = "%Y-%m-%d %H:%M:%S"
        add, start, finish = (dt.datetime.strptime(t[k], fmt) for k in ("addTime", "startTime", "finishTime"))
        after = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None)
        assert before <= add <= start <= finish <= after
        assert abs((add - dt.datetime.now(dt.UTC).replace(tzinfo=None)).total_seconds() - 8 * 3600) < 60
        assert ds.tasks()[task_id]["status"] == "FINISHED"


def test_cli_help():
    from jupyter_compute.sandbox import datastory
    with pytest.raises(SystemExit):
        datastory.main(["--help"])
