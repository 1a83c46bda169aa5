"""The WebHDFS sandbox against fsspec's WebHDFS client, unchanged, over real HTTP."""
from __future__ import annotations

import pytest
import requests
from fsspec.implementations.webhdfs import WebHDFS
from hdfs import InsecureClient
from hdfs.util import HdfsError

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
    assert r.status_code == 307  # as Hadoop's NameNode: the DataNode's create is what refuses
    r = requests.put(r.headers["Location"], data=b"2")
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


# ---------------------------------------------------------------------- refusals, one case per rule
# Each id is a row of the table in jupyter_compute/sandbox/webhdfs/__init__.py.
GET, PUT, POST, DELETE = "GET", "PUT", "POST", "DELETE"
REFUSALS = [
    # id, method, path, params (user.name=alice unless given), status, exception, words of the message
    ("unknown-op", GET, "/r/file.txt", {"op": "BOGUS"}, 400, "IllegalArgumentException",
     'Invalid value for webhdfs parameter "op": '
     "No enum constant org.apache.hadoop.hdfs.web.resources.GetOpParam.Op.BOGUS"),
    ("unknown-op-put", PUT, "/r/file.txt", {"op": "bogus"}, 400, "IllegalArgumentException",
     "No enum constant org.apache.hadoop.hdfs.web.resources.PutOpParam.Op.BOGUS"),
    ("op-wrong-method", GET, "/r/x", {"op": "MKDIRS"}, 400, "IllegalArgumentException",
     "No enum constant org.apache.hadoop.hdfs.web.resources.GetOpParam.Op.MKDIRS"),
    ("op-missing", GET, "/r", {}, 400, "UnsupportedOperationException", "op=NULL is not supported"),
    ("op-not-in-sandbox", GET, "/r", {"op": "GETXATTRS"}, 400, "UnsupportedOperationException",
     "op=GETXATTRS is not supported"),
    ("bad-user-name", GET, "/r", {"op": "GETFILESTATUS", "user.name": "1 bad"}, 400, "IllegalArgumentException",
     'Invalid value for webhdfs parameter "user.name": Invalid value: "1 bad" does not belong to the domain'),
    ("anonymous-write", PUT, "/r/anon", {"op": "MKDIRS", "user.name": None}, 403, "AccessControlException",
     'Permission denied: user=dr.who, access=WRITE, inode="/r":alice:supergroup:drwxr-xr-x'),
    ("bad-path", GET, "/r/a:b", {"op": "GETFILESTATUS"}, 400, "InvalidPathException", "Invalid path name /r/a:b"),
    ("missing-status", GET, "/r/missing", {"op": "GETFILESTATUS"}, 404, "FileNotFoundException",
     "File does not exist: /r/missing"),
    ("missing-list", GET, "/r/missing", {"op": "LISTSTATUS"}, 404, "FileNotFoundException",
     "File /r/missing does not exist."),
    ("missing-open", GET, "/r/missing", {"op": "OPEN"}, 404, "FileNotFoundException", "File /r/missing not found."),
    ("missing-checksum", GET, "/r/missing", {"op": "GETFILECHECKSUM"}, 404, "FileNotFoundException",
     "File /r/missing not found."),
    ("missing-summary", GET, "/r/missing", {"op": "GETCONTENTSUMMARY"}, 404, "FileNotFoundException",
     "File does not exist: /r/missing"),
    ("missing-acl", GET, "/r/missing", {"op": "GETACLSTATUS"}, 404, "FileNotFoundException",
     "File does not exist: /r/missing"),
    ("missing-setpermission", PUT, "/r/missing", {"op": "SETPERMISSION", "permission": "600"}, 404,
     "FileNotFoundException", "File does not exist: /r/missing"),
    ("missing-setowner", PUT, "/r/missing", {"op": "SETOWNER", "group": "alice"}, 404,
     "FileNotFoundException", "File does not exist: /r/missing"),
    ("missing-settimes", PUT, "/r/missing", {"op": "SETTIMES", "modificationtime": "1"}, 404,
     "FileNotFoundException", "File/Directory /r/missing does not exist."),
    ("missing-append", POST, "/r/missing", {"op": "APPEND"}, 404, "FileNotFoundException",
     "File /r/missing not found."),
    ("open-folder", GET, "/r/full", {"op": "OPEN"}, 404, "FileNotFoundException", "Path is not a file: /r/full"),
    ("checksum-folder", GET, "/r/full", {"op": "GETFILECHECKSUM"}, 404, "FileNotFoundException",
     "Path is not a file: /r/full"),
    ("append-folder", POST, "/r/full", {"op": "APPEND"}, 403, "FileAlreadyExistsException",
     "Cannot append to directory /r/full; already exists as a directory."),
    ("create-exists", PUT, "/r/file.txt", {"op": "CREATE"}, 403, "FileAlreadyExistsException",
     "/r/file.txt for client 127.0.0.1 already exists"),
    ("create-over-folder", PUT, "/r/full", {"op": "CREATE", "overwrite": "true"}, 403, "FileAlreadyExistsException",
     "/r/full already exists as a directory"),
    ("create-under-file", PUT, "/r/file.txt/x", {"op": "CREATE"}, 403, "ParentNotDirectoryException",
     "/r/file.txt (is not a directory)"),
    ("mkdirs-over-file", PUT, "/r/file.txt", {"op": "MKDIRS"}, 403, "FileAlreadyExistsException",
     "Path is not a directory: /r/file.txt"),
    ("mkdirs-under-file", PUT, "/r/file.txt/d", {"op": "MKDIRS"}, 403, "ParentNotDirectoryException",
     "/r/file.txt (is not a directory)"),
    ("delete-non-empty", DELETE, "/r/full", {"op": "DELETE"}, 403, "PathIsNotEmptyDirectoryException",
     "`/r/full is non empty': Directory is not empty"),
    ("rename-under-itself", PUT, "/r/full", {"op": "RENAME", "destination": "/r/full/sub"}, 403, "IOException",
     "Rename destination /r/full/sub is a directory or file under source /r/full"),
    ("rename-root", PUT, "/", {"op": "RENAME", "destination": "/elsewhere"}, 403, "IOException",
     "rename source cannot be the root"),
    ("rename-no-destination", PUT, "/r/file.txt", {"op": "RENAME"}, 400, "IllegalArgumentException",
     "Required param destination for op: RENAME is null or empty"),
    ("rename-relative-destination", PUT, "/r/file.txt", {"op": "RENAME", "destination": "x"}, 400,
     "IllegalArgumentException", 'Invalid value for webhdfs parameter "destination": Invalid parameter value: '
     'destination = "x" is not an absolute path.'),
    ("bad-permission-octal", PUT, "/r/file.txt", {"op": "SETPERMISSION", "permission": "999"}, 400,
     "IllegalArgumentException",
     'Invalid value for webhdfs parameter "permission": Failed to parse "999" as a radix-8 short integer.'),
    ("permission-out-of-range", PUT, "/r/d2", {"op": "MKDIRS", "permission": "2000"}, 400,
     "IllegalArgumentException", "Invalid parameter range: permission = 2000 > 1777"),
    ("bad-boolean", PUT, "/r/new.txt", {"op": "CREATE", "overwrite": "maybe"}, 400, "IllegalArgumentException",
     'Invalid value for webhdfs parameter "overwrite": Failed to parse "maybe" to Boolean.'),
    ("negative-offset", GET, "/r/file.txt", {"op": "OPEN", "offset": "-1"}, 400, "IllegalArgumentException",
     'Invalid value for webhdfs parameter "offset": Invalid parameter range: offset = -1 < 0'),
    ("bad-length", GET, "/r/file.txt", {"op": "OPEN", "length": "ten"}, 400, "IllegalArgumentException",
     'Failed to parse "ten" as a radix-10 long integer.'),
    ("offset-beyond-end", GET, "/r/file.txt", {"op": "OPEN", "offset": "100"}, 403, "IOException",
     "Offset=100 out of the range [0, 3); OPEN, path=/r/file.txt"),
    ("bad-replication", PUT, "/r/file.txt", {"op": "SETREPLICATION", "replication": "x"}, 400,
     "IllegalArgumentException", 'Failed to parse "x" as a radix-10 short integer.'),
    ("replication-zero", PUT, "/r/file.txt", {"op": "SETREPLICATION", "replication": "0"}, 403, "IOException",
     "Requested replication factor of 0 is less than the required minimum of 1 for /r/file.txt"),
    ("replication-too-high", PUT, "/r/new.txt", {"op": "CREATE", "replication": "513"}, 403, "IOException",
     "Requested replication factor of 513 exceeds maximum of 512 for /r/new.txt"),
    ("small-blocksize", PUT, "/r/new.txt", {"op": "CREATE", "blocksize": "1024"}, 403, "IOException",
     "Specified block size is less than configured minimum value (dfs.namenode.fs-limits.min-block-size): "
     "1024 < 1048576"),
    ("not-owner-setpermission", PUT, "/r/file.txt", {"op": "SETPERMISSION", "permission": "777", "user.name": "bob"},
     403, "AccessControlException", "Permission denied. user=bob is not the owner of inode=/r/file.txt"),
    ("not-owner-setacl", PUT, "/r/file.txt", {"op": "SETACL", "aclspec": "user::rwx,group::---,other::---",
                                              "user.name": "bob"},
     403, "AccessControlException", "Permission denied. user=bob is not the owner of inode=/r/file.txt"),
    ("setowner-not-super", PUT, "/r/file.txt", {"op": "SETOWNER", "owner": "bob"}, 403, "AccessControlException",
     "User alice is not a super user (non-super user cannot change owner)."),
    ("setowner-foreign-group", PUT, "/r/file.txt", {"op": "SETOWNER", "group": "staff"}, 403,
     "AccessControlException", "User alice does not belong to staff"),
    ("setowner-empty", PUT, "/r/file.txt", {"op": "SETOWNER"}, 400, "IllegalArgumentException",
     "Both owner and group are empty."),
    ("bad-aclspec", PUT, "/r/file.txt", {"op": "SETACL", "aclspec": "everyone:rwx"}, 400,
     "IllegalArgumentException", 'Invalid value for webhdfs parameter "aclspec": Invalid value: "everyone:rwx"'),
    ("acl-without-base", PUT, "/r/file.txt", {"op": "SETACL", "aclspec": "user:bob:rwx"}, 403, "AclException",
     "Invalid ACL: the user, group and other entries are required."),
    ("default-acl-on-file", PUT, "/r/file.txt", {"op": "MODIFYACLENTRIES", "aclspec": "default:user:bob:rwx"}, 403,
     "AclException", "Invalid ACL: only directories may have a default ACL."),
    ("allow-snapshot-not-super", PUT, "/r/plain", {"op": "ALLOWSNAPSHOT"}, 403, "AccessControlException",
     "Access denied for user alice. Superuser privilege is required"),
    ("allow-snapshot-on-file", PUT, "/r/file.txt", {"op": "ALLOWSNAPSHOT", "user.name": "hdfs"}, 403,
     "PathIsNotDirectoryException", "`/r/file.txt': Is not a directory"),
    ("snapshot-not-snapshottable", PUT, "/r/plain", {"op": "CREATESNAPSHOT"}, 403, "SnapshotException",
     "Directory is not a snapshottable directory: /r/plain"),
    ("write-in-snapshot", PUT, "/r/snap/.snapshot/s1/new", {"op": "MKDIRS"}, 403, "SnapshotAccessControlException",
     "Modification on a read-only snapshot is disallowed"),
    ("reserved-snapshot-name", PUT, "/r/plain/.snapshot", {"op": "MKDIRS"}, 400, "HadoopIllegalArgumentException",
     '".snapshot" is a reserved name.'),
    ("delete-snapshotted-folder", DELETE, "/r", {"op": "DELETE", "recursive": "true"}, 403, "SnapshotException",
     "The directory /r/snap cannot be deleted since /r/snap is snapshottable and already has snapshots"),
    ("disallow-with-snapshots", PUT, "/r/snap", {"op": "DISALLOWSNAPSHOT", "user.name": "hdfs"}, 403,
     "SnapshotException", "The directory /r/snap has snapshot(s). Please redo the operation after removing all"),
    ("duplicate-snapshot", PUT, "/r/snap", {"op": "CREATESNAPSHOT", "snapshotname": "s1"}, 403, "SnapshotException",
     'Failed to add snapshot: there is already a snapshot with the same name "s1".'),
    ("delete-missing-snapshot", DELETE, "/r/snap", {"op": "DELETESNAPSHOT", "snapshotname": "nope"}, 403,
     "SnapshotException", "Cannot delete snapshot nope from path /r/snap: the snapshot does not exist."),
    ("rename-missing-snapshot", PUT, "/r/snap", {"op": "RENAMESNAPSHOT", "oldsnapshotname": "nope",
                                                 "snapshotname": "x"}, 403,
     "SnapshotException", "The snapshot nope does not exist for directory /r/snap"),
    ("renew-token", PUT, "/", {"op": "RENEWDELEGATIONTOKEN", "token": "abc"}, 403, "InvalidToken",
     "security is off"),
    ("renew-token-missing", PUT, "/", {"op": "CANCELDELEGATIONTOKEN"}, 400, "IllegalArgumentException",
     "Required param token for op: CANCELDELEGATIONTOKEN is null or empty"),
]
FALSE_ANSWERS = [  # refusals a NameNode answers with {"boolean": false}
    ("rename-onto-file", PUT, "/r/full/x.txt", {"op": "RENAME", "destination": "/r/file.txt"}),
    ("rename-missing-source", PUT, "/r/missing", {"op": "RENAME", "destination": "/r/other"}),
    ("rename-missing-parent", PUT, "/r/file.txt", {"op": "RENAME", "destination": "/r/no/such/dir"}),
    ("delete-missing", DELETE, "/r/missing", {"op": "DELETE"}),
    ("delete-root", DELETE, "/", {"op": "DELETE", "recursive": "true"}),
    ("setreplication-folder", PUT, "/r/full", {"op": "SETREPLICATION", "replication": "2"}),
    ("setreplication-missing", PUT, "/r/missing", {"op": "SETREPLICATION", "replication": "2"}),
]


@pytest.fixture(scope="module")
def tree(sb):
    """/r/file.txt ("abc"), /r/full/x.txt, /r/plain/ (alice's); /r/snap/ snapshottable with snapshot s1."""
    alice = WebHDFS(host="127.0.0.1", port=sb.port, user="alice", skip_instance_cache=True)
    alice.mkdir("/r")
    alice.pipe({"/r/file.txt": b"abc", "/r/full/x.txt": b"x", "/r/snap/in.txt": b"in"})
    alice.mkdir("/r/plain")
    root = WebHDFS(host="127.0.0.1", port=sb.port, user="hdfs", skip_instance_cache=True)
    root._call("ALLOWSNAPSHOT", "put", "/r/snap")
    alice._call("CREATESNAPSHOT", "put", "/r/snap", snapshotname="s1")
    return sb


def _call(sb, method: str, path: str, params: dict, prefix: str = "/webhdfs/v1"):
    params = {"user.name": "alice", **params}
    params = {k: v for k, v in params.items() if v is not None}
    return requests.request(method, f"{sb.base_url}{prefix}{path}", params=params, timeout=60)  # 307s followed


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_refusals(tree, case):
    _id, method, path, params, status, exception, words = case
    r = _call(tree, method, path, params)
    assert r.status_code == status, r.text
    body = _remote(r)
    assert body["exception"] == exception and words in body["message"]
    assert body["javaClassName"].endswith("." + exception) or body["javaClassName"].endswith("$" + exception)


@pytest.mark.parametrize("case", FALSE_ANSWERS, ids=[c[0] for c in FALSE_ANSWERS])
def test_refusals_answered_false(tree, case):
    _id, method, path, params = case
    r = _call(tree, method, path, params)
    assert r.status_code == 200 and r.json() == {"boolean": False}


def test_refusals_leave_the_tree_unchanged(tree):
    fs = WebHDFS(host="127.0.0.1", port=tree.port, user="alice", skip_instance_cache=True)
    assert fs.cat("/r/file.txt") == b"abc" and fs.cat("/r/full/x.txt") == b"x"
    info = fs.info("/r/file.txt")
    assert (info["owner"], info["group"], info["permission"], info["replication"]) == ("alice", "supergroup", "644", 1)
    assert sorted(fs.ls("/r")) == ["/r/file.txt", "/r/full", "/r/plain", "/r/snap"]


def test_datanode_refuses_unknown_op(sb):
    r = _call(sb, "GET", "/x", {"op": "MKDIRS"}, prefix="/webhdfs/datanode/v1")
    assert r.status_code == 400 and "No enum constant" in _remote(r)["message"]


def test_ops_are_case_insensitive_and_noredirect(sb, fs):
    fs.pipe_file("/ci/f.txt", b"data")
    r = _call(sb, "GET", "/ci/f.txt", {"op": "getfilestatus"})
    assert r.status_code == 200 and r.json()["FileStatus"]["length"] == 4
    r = _call(sb, "GET", "/ci/f.txt", {"op": "GETFILECHECKSUM", "noredirect": "true"})
    assert r.status_code == 200
    check = requests.get(r.json()["Location"], timeout=60).json()["FileChecksum"]
    assert check["algorithm"] == "MD5-of-0MD5-of-512CRC32C" and check["length"] == 28


def test_module_docstring_lists_every_refusal():
    from jupyter_compute.sandbox import webhdfs
    doc = webhdfs.__doc__ or ""
    for case in REFUSALS + FALSE_ANSWERS + DENIED:
        assert f"``{case[0]}``" in doc, case[0]


# ---------------------------------------------------------------------- permissions=True (dfs.permissions.enabled)
@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """A sandbox checking permission bits: /p (hdfs, 777) holds alice's /p/alice (755) with secret.txt (600),
    shared.txt (640, group bob), /p/alice/locked (700), /p/sticky (1777, hdfs) and /p/tree/ro (500)."""
    with WebHdfsSandbox(root_dir=tmp_path_factory.mktemp("strict"), permissions=True) as s:
        root = WebHDFS(host="127.0.0.1", port=s.port, user="hdfs", skip_instance_cache=True)
        root._call("MKDIRS", "put", "/p", permission="777")
        root._call("MKDIRS", "put", "/p/sticky", permission="1777")
        alice = WebHDFS(host="127.0.0.1", port=s.port, user="alice", skip_instance_cache=True)
        alice.mkdir("/p/alice")
        for name, mode in (("secret.txt", "600"), ("shared.txt", "640")):
            alice.pipe_file(f"/p/alice/{name}", b"data")
            alice.chmod(f"/p/alice/{name}", mode)
        root.chown("/p/alice/shared.txt", group="bob")
        alice._call("MKDIRS", "put", "/p/alice/locked", permission="700")
        alice.pipe_file("/p/alice/locked/inner.txt", b"x")
        alice.pipe_file("/p/sticky/alice.txt", b"a")
        alice.pipe_file("/p/tree/ro/f.txt", b"f")
        alice.chmod("/p/tree/ro", "500")
        yield s


DENIED = [
    # id, user, method, path, params, words of the message
    ("create-in-others-folder", "bob", PUT, "/p/alice/bob.txt", {"op": "CREATE"},
     'Permission denied: user=bob, access=WRITE, inode="/p/alice":alice:supergroup:drwxr-xr-x'),
    ("mkdir-in-others-folder", "bob", PUT, "/p/alice/d/e", {"op": "MKDIRS"},
     'user=bob, access=WRITE, inode="/p/alice":alice:supergroup:drwxr-xr-x'),
    ("read-private-file", "bob", GET, "/p/alice/secret.txt", {"op": "OPEN"},
     'user=bob, access=READ, inode="/p/alice/secret.txt":alice:supergroup:-rw-------'),
    ("checksum-private-file", "bob", GET, "/p/alice/secret.txt", {"op": "GETFILECHECKSUM"},
     "access=READ"),
    ("group-may-not-write", "bob", POST, "/p/alice/shared.txt", {"op": "APPEND"},
     'user=bob, access=WRITE, inode="/p/alice/shared.txt":alice:bob:-rw-r-----'),
    ("list-private-folder", "bob", GET, "/p/alice/locked", {"op": "LISTSTATUS"},
     'user=bob, access=READ_EXECUTE, inode="/p/alice/locked":alice:supergroup:drwx------'),
    ("traverse-private-folder", "bob", GET, "/p/alice/locked/inner.txt", {"op": "GETFILESTATUS"},
     'user=bob, access=EXECUTE, inode="/p/alice/locked"'),
    ("delete-in-others-folder", "bob", DELETE, "/p/alice/secret.txt", {"op": "DELETE"},
     'user=bob, access=WRITE, inode="/p/alice"'),
    ("rename-out-of-others-folder", "bob", PUT, "/p/alice/secret.txt", {"op": "RENAME", "destination": "/p/x"},
     'user=bob, access=WRITE, inode="/p/alice"'),
    ("delete-read-only-subtree", "alice", DELETE, "/p/tree", {"op": "DELETE", "recursive": "true"},
     'user=alice, access=ALL, inode="/p/tree/ro":alice:supergroup:dr-x------'),
    ("sticky-folder", "bob", DELETE, "/p/sticky/alice.txt", {"op": "DELETE"},
     'Permission denied by sticky bit: user=bob, path="/p/sticky/alice.txt":alice:supergroup:-rw-r--r--, '
     'parent="/p/sticky":hdfs:supergroup:drwxrwxrwt'),
    ("settimes-without-write", "bob", PUT, "/p/alice/shared.txt", {"op": "SETTIMES", "modificationtime": "1"},
     "user=bob, access=WRITE"),
    ("content-summary-private", "bob", GET, "/p/alice", {"op": "GETCONTENTSUMMARY"},
     'access=READ_EXECUTE, inode="/p/alice/locked"'),
]


@pytest.mark.parametrize("case", DENIED, ids=[c[0] for c in DENIED])
def test_permission_checks(strict, case):
    _id, user, method, path, params, words = case
    r = _call(strict, method, path, {**params, "user.name": user})
    assert r.status_code == 403, r.text
    body = _remote(r)
    assert body["exception"] == "AccessControlException" and words in body["message"], body["message"]


def test_permission_checks_let_the_right_users_in(strict):
    bob = WebHDFS(host="127.0.0.1", port=strict.port, user="bob", skip_instance_cache=True)
    assert bob.cat("/p/alice/shared.txt") == b"data"  # group bob may read 640
    bob.pipe_file("/p/bob.txt", b"b")  # /p is 777
    alice = WebHDFS(host="127.0.0.1", port=strict.port, user="alice", skip_instance_cache=True)
    alice._call("MODIFYACLENTRIES", "put", "/p/alice/secret.txt", aclspec="user:carol:r--")
    carol = WebHDFS(host="127.0.0.1", port=strict.port, user="carol", skip_instance_cache=True)
    assert carol.cat("/p/alice/secret.txt") == b"data"  # a named ACL entry
    with pytest.raises(PermissionError):
        bob.cat("/p/alice/secret.txt")
    alice._call("MODIFYACLENTRIES", "put", "/p/alice/secret.txt", aclspec="mask::---")
    with pytest.raises(PermissionError):  # the mask caps named entries
        carol.cat("/p/alice/secret.txt")
    root = WebHDFS(host="127.0.0.1", port=strict.port, user="hdfs", skip_instance_cache=True)
    assert root.cat("/p/alice/locked/inner.txt") == b"x"  # the superuser passes
    alice.rm("/p/sticky/alice.txt")  # its owner may, in a sticky folder
    with pytest.raises(HdfsError) as err:  # refused by the DataNode's create, as HDFS does
        InsecureClient(strict.base_url, user="bob").write("/p/alice/nope.txt", data=b"1")
    assert err.value.exception == "AccessControlException"


def test_permissions_are_not_checked_by_default(sb):
    alice = WebHDFS(host="127.0.0.1", port=sb.port, user="alice", skip_instance_cache=True)
    alice.pipe_file("/lax/secret.txt", b"s")
    alice.chmod("/lax/secret.txt", "600")
    assert WebHDFS(host="127.0.0.1", port=sb.port, user="bob", skip_instance_cache=True).cat("/lax/secret.txt") == b"s"
