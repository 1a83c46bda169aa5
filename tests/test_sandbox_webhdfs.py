"""The WebHDFS sandbox against fsspec's WebHDFS client, unchanged, over real HTTP."""
from __future__ import annotations

import pytest
import requests
from fsspec.implementations.webhdfs import WebHDFS

from jupyter_compute.sandbox.webhdfs import WebHdfsSandbox


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    with WebHdfsSandbox(root_dir=tmp_path_factory.mktemp("hdfs")) as s:
        yield s


@pytest.fixture()
def fs(sb):
    return WebHDFS(host="127.0.0.1", port=sb.port, user="alice", skip_instance_cache=True)


def test_attributes(sb):
    assert sb.host == "127.0.0.1" and sb.port > 0
    assert sb.url == f"http://127.0.0.1:{sb.port}/webhdfs/v1"


def test_write_read_list_info(fs, sb):
    with fs.open("/rt/data/a.csv", "wb") as f:
        f.write(b"a,b\n1,2\n3,4\n")
    assert sb.local_path("/rt/data/a.csv").read_bytes() == b"a,b\n1,2\n3,4\n"
    assert fs.cat("/rt/data/a.csv") == b"a,b\n1,2\n3,4\n"
    assert fs.ls("/rt/data") == ["/rt/data/a.csv"]
    detail = fs.ls("/rt", detail=True)
    assert detail[0]["name"] == "/rt/data" and detail[0]["type"] == "directory"
    info = fs.info("/rt/data/a.csv")
    assert info["type"] == "file" and info["size"] == 12 and info["owner"] == "alice"
    assert info["group"] == "supergroup" and info["permission"] == "644" and info["pathSuffix"] == ""
    assert fs.info("/rt")["type"] == "directory"
    assert fs.exists("/rt/data/a.csv") and not fs.exists("/rt/nope")


def test_open_with_offset(fs):
    fs.pipe_file("/off/f.bin", bytes(range(200)))
    with fs.open("/off/f.bin", "rb", block_size=16) as f:
        f.seek(50)
        assert f.read(10) == bytes(range(50, 60))
        f.seek(190)
        assert f.read() == bytes(range(190, 200))
    assert fs.cat_file("/off/f.bin", start=5, end=9) == bytes([5, 6, 7, 8])


def test_multi_chunk_write_and_append(fs):
    data = b"x" * 70000 + b"END"
    with fs.open("/big/f.txt", "wb", block_size=4096) as f:  # several APPEND POSTs
        for i in range(0, len(data), 1000):
            f.write(data[i:i + 1000])
    assert fs.cat("/big/f.txt") == data
    # fsspec's own "ab" mode never sets its upload location (an fsspec bug), so APPEND is checked raw
    r = fs._call("APPEND", "POST", "/big/f.txt", redirect=False)
    assert r.status_code == 307
    fs.session.post(r.headers["Location"], data=b"+more").raise_for_status()
    assert fs.cat("/big/f.txt").endswith(b"END+more")


def test_mkdir_rename_delete(fs):
    fs.mkdir("/m/a/b")
    assert fs.info("/m/a/b")["type"] == "directory"
    fs.pipe_file("/m/a/b/f.txt", b"hi")
    fs.mv("/m/a/b/f.txt", "/m/a/g.txt")
    assert fs.cat("/m/a/g.txt") == b"hi" and not fs.exists("/m/a/b/f.txt")
    fs.mv("/m/a", "/m/z")
    assert sorted(fs.ls("/m/z")) == ["/m/z/b", "/m/z/g.txt"]
    with pytest.raises(RuntimeError):  # non-empty folder without recursive
        fs.rm("/m/z")
    fs.rm("/m/z", recursive=True)
    assert not fs.exists("/m/z")
    fs.rm_file("/off/f.bin") if fs.exists("/off/f.bin") else None


def test_raw_protocol_redirects_and_booleans(sb):
    base = sb.url
    r = requests.put(f"{base}/raw/x.txt", params={"op": "CREATE", "user.name": "bob", "overwrite": "true"},
                     allow_redirects=False)
    assert r.status_code == 307 and "/webhdfs/datanode/v1/raw/x.txt" in r.headers["Location"]
    r2 = requests.put(r.headers["Location"], data=b"hello world")
    assert r2.status_code == 201
    r = requests.get(f"{base}/raw/x.txt", params={"op": "OPEN", "user.name": "bob", "offset": 6, "length": 3},
                     allow_redirects=False)
    assert r.status_code == 307
    assert requests.get(r.headers["Location"]).content == b"wor"
    r = requests.get(f"{base}/raw/x.txt", params={"op": "OPEN", "offset": 6, "noredirect": "true"})
    assert r.status_code == 200 and requests.get(r.json()["Location"]).content == b"world"
    r = requests.get(f"{base}/raw/x.txt", params={"op": "OPEN"})  # redirects followed
    assert r.content == b"hello world"
    st = requests.get(f"{base}/raw/x.txt", params={"op": "GETFILESTATUS"}).json()["FileStatus"]
    assert st["owner"] == "bob" and st["type"] == "FILE" and st["length"] == 11
    assert requests.put(f"{base}/raw/d", params={"op": "MKDIRS", "user.name": "bob"}).json() == {"boolean": True}
    assert requests.put(f"{base}/raw/x.txt", params={"op": "RENAME", "user.name": "bob",
                                                    "destination": "/raw/y.txt"}).json() == {"boolean": True}
    assert requests.put(f"{base}/raw/nope", params={"op": "RENAME", "user.name": "bob",
                                                   "destination": "/raw/q"}).json() == {"boolean": False}
    assert requests.delete(f"{base}/raw", params={"op": "DELETE", "user.name": "bob",
                                                 "recursive": "true"}).json() == {"boolean": True}
    assert requests.delete(f"{base}/raw", params={"op": "DELETE", "user.name": "bob"}).json() == {"boolean": False}


def _remote(r):
    body = r.json()["RemoteException"]
    assert set(body) == {"exception", "javaClassName", "message"}
    return body


def test_remote_exceptions(sb, fs):
    base = sb.url
    r = requests.get(f"{base}/missing", params={"op": "GETFILESTATUS", "user.name": "alice"})
    assert r.status_code == 404
    e = _remote(r)
    assert e["exception"] == "FileNotFoundException" and e["javaClassName"] == "java.io.FileNotFoundException"
    assert "/missing" in e["message"]
    r = requests.get(f"{base}/", params={"op": "BOGUS"})
    assert r.status_code == 400 and _remote(r)["exception"] == "IllegalArgumentException"
    r = requests.put(f"{base}/nouser", params={"op": "MKDIRS"})
    assert r.status_code == 403 and _remote(r)["exception"] == "AccessControlException"
    fs.pipe_file("/exists.txt", b"1")
    r = requests.put(f"{base}/exists.txt", params={"op": "CREATE", "user.name": "alice"}, allow_redirects=False)
    assert r.status_code == 403 and _remote(r)["exception"] == "FileAlreadyExistsException"
    r = requests.get(f"{base}/exists.txt", params={"op": "OPEN", "offset": "-1"}, allow_redirects=False)
    assert r.status_code == 400 and _remote(r)["exception"] == "IllegalArgumentException"
    with pytest.raises(FileNotFoundError):
        fs.info("/missing")
    with pytest.raises(FileNotFoundError):
        fs.cat("/missing")
    with pytest.raises(PermissionError):
        WebHDFS(host="127.0.0.1", port=sb.port, skip_instance_cache=True).mkdir("/anon")


def test_root_dir_is_real_folder(tmp_path):
    with WebHdfsSandbox(root_dir=tmp_path) as s:
        (tmp_path / "pre.txt").write_bytes(b"made outside")
        fs = WebHDFS(host="127.0.0.1", port=s.port, user="carol", skip_instance_cache=True)
        assert fs.cat("/pre.txt") == b"made outside"
        assert fs.info("/pre.txt")["owner"] == "hdfs"
    assert tmp_path.exists()  # a given root_dir is kept


def test_cli_help():
    from jupyter_compute.sandbox import webhdfs
    with pytest.raises(SystemExit):
        webhdfs.main(["--help"])
