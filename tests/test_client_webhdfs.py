"""HdfsCLI (``hdfs`` 2.7) and fsspec's ``WebHDFS``, both unchanged, against the WebHDFS sandbox over HTTP.

Every operation each library offers is driven through it, and what is set (permission, owner, group,
replication, times, ACL) is read back through GETFILESTATUS and LISTSTATUS.
"""
from __future__ import annotations

import hashlib
import itertools
import struct
from pathlib import Path

import pytest
import requests
from fsspec.implementations.webhdfs import WebHDFS
from hdfs import InsecureClient
from hdfs.util import HdfsError

from jupyter_compute.sandbox.webhdfs import WebHdfsSandbox

_seq = itertools.count()


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    with WebHdfsSandbox(root_dir=tmp_path_factory.mktemp("hdfs")) as s:
        yield s


@pytest.fixture()
def base() -> str:
    """A fresh folder name for one test."""
    return f"/t{next(_seq)}"


@pytest.fixture()
def cli(sb) -> InsecureClient:
    return InsecureClient(sb.base_url, user="alice", timeout=60)


@pytest.fixture()
def su(sb) -> InsecureClient:
    """HdfsCLI as the NameNode's superuser (``hdfs``)."""
    return InsecureClient(sb.base_url, user="hdfs", timeout=60)


@pytest.fixture()
def fs(sb) -> WebHDFS:
    return WebHDFS(host="127.0.0.1", port=sb.port, user="alice", skip_instance_cache=True)


def listed(cli: InsecureClient, path: str) -> dict:
    """The LISTSTATUS entry of ``path`` (as its parent lists it)."""
    parent, name = path.rsplit("/", 1)
    return dict(cli.list(parent or "/", status=True))[name]


# ---------------------------------------------------------------------- an independent HDFS checksum
def _crc_table() -> list[int]:
    """The byte table of CRC-32C (reflected polynomial 0x82F63B78)."""
    out = []
    for n in range(256):
        for _ in range(8):
            n = (n >> 1) ^ (0x82F63B78 & -(n & 1))
        out.append(n)
    return out


_CRC = _crc_table()


def _crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def expected_checksum(data: bytes, block_size: int) -> dict:
    """MD5-of-MD5-of-CRC32C as HDFS computes it (MD5 over a 32·2ⁿ-byte, zero-padded buffer)."""
    blocks = [data[i:i + block_size] for i in range(0, len(data), block_size)]
    md5s = b"".join(hashlib.md5(b"".join(struct.pack(">I", _crc32c(b[j:j + 512]))
                                         for j in range(0, len(b), 512))).digest() for b in blocks)
    cap = 32
    while cap < len(md5s):
        cap *= 2
    per_block = block_size // 512 if len(blocks) > 1 else 0
    raw = struct.pack(">iq", 512, per_block) + hashlib.md5(md5s + bytes(cap - len(md5s))).digest()
    return {"algorithm": f"MD5-of-{per_block}MD5-of-512CRC32C", "bytes": raw.hex(), "length": 28}


def test_checksum_helper_is_crc32c():
    assert _crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value


# ---------------------------------------------------------------------- HdfsCLI
def test_hdfscli_write_read_offsets_append_overwrite(cli, base):
    path = f"{base}/data/f.txt"
    cli.write(path, data=b"hello world")
    with cli.read(path) as r:
        assert r.read() == b"hello world"
    with cli.read(path, offset=6, length=3) as r:
        assert r.read() == b"wor"
    with cli.read(path, offset=6) as r:
        assert r.read() == b"world"
    with cli.read(path, chunk_size=4) as chunks:
        assert list(chunks) == [b"hell", b"o wo", b"rld"]
    cli.write(path, data=b"\nagain", append=True)
    with cli.read(path, encoding="utf-8", delimiter="\n") as lines:
        assert list(lines) == ["hello world", "again"]
    with pytest.raises(HdfsError) as err:
        cli.write(path, data=b"x")
    assert err.value.exception == "FileAlreadyExistsException"
    cli.write(path, data=b"new", overwrite=True)
    with cli.write(f"{base}/data/g.txt", encoding="utf-8") as writer:  # streamed (chunked) upload
        writer.write("streamed text")
    with cli.read(path) as r, cli.read(f"{base}/data/g.txt", encoding="utf-8") as g:
        assert r.read() == b"new" and g.read() == "streamed text"
    progress: list[int] = []
    with cli.read(path, chunk_size=1, progress=lambda _p, n: progress.append(n)) as chunks:
        assert b"".join(chunks) == b"new"
    assert progress == [1, 2, 3, -1]


def test_hdfscli_write_keeps_permission_replication_blocksize(cli, base):
    path = f"{base}/sub/f.bin"
    cli.write(path, data=b"x" * 10, permission="600", replication=2, blocksize=1048576)
    st = cli.status(path)
    assert (st["permission"], st["replication"], st["blockSize"], st["owner"]) == ("600", 2, 1048576, "alice")
    assert listed(cli, path)["permission"] == "600"
    assert cli.status(f"{base}/sub")["permission"] == "700"  # implicit parents: the file's mode + u+wx
    cli.write(path, data=b"y", overwrite=True)  # overwriting makes a new file with default attributes
    st = cli.status(path)
    assert (st["permission"], st["replication"], st["blockSize"]) == ("644", 1, 134217728)


def test_hdfscli_status_list_content(cli, base):
    cli.write(f"{base}/a.csv", data=b"1,2\n")
    cli.write(f"{base}/d/b.csv", data=b"3,4\n5,6\n", replication=3)
    st = cli.status(f"{base}/a.csv")
    assert st["type"] == "FILE" and st["length"] == 4 and st["pathSuffix"] == "" and st["group"] == "supergroup"
    assert cli.status(f"{base}/nope", strict=False) is None
    assert cli.list(base) == ["a.csv", "d"]
    names = dict(cli.list(base, status=True))
    assert names["d"]["type"] == "DIRECTORY" and names["d"]["childrenNum"] == 1
    with pytest.raises(HdfsError, match="not a directory"):
        cli.list(f"{base}/a.csv")
    summary = cli.content(base)
    assert summary["directoryCount"] == 2 and summary["fileCount"] == 2 and summary["length"] == 12
    assert summary["spaceConsumed"] == 4 + 8 * 3 and summary["quota"] == -1 and summary["spaceQuota"] == -1
    assert cli.content(f"{base}/nope", strict=False) is None


def test_hdfscli_makedirs_with_permission(cli, base):
    cli.makedirs(f"{base}/x/y/z", permission="750")
    assert cli.status(f"{base}/x/y/z")["permission"] == "750"
    assert listed(cli, f"{base}/x/y")["permission"] == "750"
    cli.makedirs(f"{base}/p/q", permission="444")
    assert cli.status(f"{base}/p/q")["permission"] == "444"
    assert cli.status(f"{base}/p")["permission"] == "744"  # u+wx on implicit parents
    cli.makedirs(f"{base}/plain")
    assert cli.status(f"{base}/plain")["permission"] == "755"
    cli.makedirs(f"{base}/x/y/z", permission="700")  # already there: unchanged
    assert cli.status(f"{base}/x/y/z")["permission"] == "750"


def test_hdfscli_checksum_is_hdfs_md5_of_md5_of_crc32c(cli, base):
    data = b"hello world\n" * 100
    cli.write(f"{base}/one.txt", data=data)
    assert cli.checksum(f"{base}/one.txt") == expected_checksum(data, 134217728)
    big = bytes(range(256)) * 8192 + b"tail"  # three blocks of 1 MiB, the last one 4 bytes
    cli.write(f"{base}/three.bin", data=big, blocksize=1048576)
    got = cli.checksum(f"{base}/three.bin")
    assert got == expected_checksum(big, 1048576) and got["algorithm"] == "MD5-of-2048MD5-of-512CRC32C"
    cli.write(f"{base}/empty", data=b"")
    assert cli.checksum(f"{base}/empty") == {  # what every HDFS answers for an empty file
        "algorithm": "MD5-of-0MD5-of-0CRC32", "bytes": "00000000000000000000000070bc8f4b72a86921468bf8e8441dce51",
        "length": 28}
    with pytest.raises(HdfsError) as err:
        cli.checksum(base)
    assert err.value.exception == "FileNotFoundException" and "Path is not a file" in str(err.value)


def test_hdfscli_set_permission_replication_times(cli, base):
    path = f"{base}/f.txt"
    cli.write(path, data=b"abc")
    cli.set_permission(path, "640")
    cli.set_replication(path, 3)
    cli.set_times(path, access_time=1_600_000_000_000, modification_time=1_500_000_000_000)
    for st in (cli.status(path), listed(cli, path)):
        assert st["permission"] == "640" and st["replication"] == 3
        assert st["accessTime"] == 1_600_000_000_000 and st["modificationTime"] == 1_500_000_000_000
    cli.set_times(path, modification_time=1_500_000_001_000)  # access time unchanged
    st = cli.status(path)
    assert st["accessTime"] == 1_600_000_000_000 and st["modificationTime"] == 1_500_000_001_000
    cli.set_permission(base, "1777")  # sticky bit kept and shown
    assert cli.status(base)["permission"] == "1777"
    with pytest.raises(HdfsError, match="is not a file"):
        cli.set_replication(base, 2)  # a folder has no replication
    with cli.read(path) as r:
        assert r.read() == b"abc"


def test_hdfscli_set_owner(cli, su, base):
    path = f"{base}/f.txt"
    cli.write(path, data=b"abc")
    cli.set_owner(path, group="alice")  # the owner may give a file to its own group
    assert cli.status(path)["group"] == "alice"
    with pytest.raises(HdfsError) as err:
        cli.set_owner(path, owner="bob")
    assert err.value.exception == "AccessControlException" and "non-super user cannot change owner" in str(err.value)
    su.set_owner(path, owner="bob", group="analysts")
    for st in (cli.status(path), listed(cli, path)):
        assert st["owner"] == "bob" and st["group"] == "analysts"
    with pytest.raises(HdfsError) as err:
        cli.set_permission(path, "600")  # alice no longer owns it
    assert err.value.exception == "AccessControlException"


def test_hdfscli_acls(cli, base):
    cli.makedirs(f"{base}/d")
    path = f"{base}/d"
    assert cli.acl_status(path) == {"entries": [], "group": "supergroup", "owner": "alice",
                                    "permission": "755", "stickyBit": False}
    cli.set_acl(path, "user::rwx,user:bob:rw-,group::r-x,other::---")
    acl = cli.acl_status(path)
    assert acl["entries"] == ["user:bob:rw-", "group::r-x"] and acl["permission"] == "770"  # group bits = mask
    assert cli.status(path)["aclBit"] is True and listed(cli, path)["permission"] == "770"
    cli.set_acl(path, "group:staff:r--,default:user:carol:rwx", clear=False)
    acl = cli.acl_status(path)
    assert acl["entries"] == ["user:bob:rw-", "group::r-x", "group:staff:r--", "default:user::rwx",
                              "default:user:carol:rwx", "default:group::r-x", "default:mask::rwx",
                              "default:other::---"]
    cli.remove_acl_entries(path, "user:bob")
    assert "user:bob:rw-" not in cli.acl_status(path)["entries"]
    cli.remove_default_acl(path)
    assert cli.acl_status(path)["entries"] == ["group::r-x", "group:staff:r--"]
    cli.remove_acl(path)
    st = cli.status(path)
    assert cli.acl_status(path)["entries"] == [] and "aclBit" not in st and st["permission"] == "750"


def test_hdfscli_rename_and_delete(cli, base):
    cli.write(f"{base}/a/f.txt", data=b"1")
    cli.makedirs(f"{base}/b")
    cli.rename(f"{base}/a/f.txt", f"{base}/b")  # into an existing folder
    assert cli.list(f"{base}/b") == ["f.txt"]
    cli.rename(f"{base}/b/f.txt", f"{base}/b/g.txt")
    cli.write(f"{base}/b/h.txt", data=b"2")
    with pytest.raises(HdfsError, match="Unable to rename"):
        cli.rename(f"{base}/b/g.txt", f"{base}/b/h.txt")  # onto an existing file
    with pytest.raises(HdfsError, match="Unable to rename"):
        cli.rename(f"{base}/nope", f"{base}/q")
    with pytest.raises(HdfsError) as err:
        cli.delete(f"{base}/b")
    assert err.value.exception == "PathIsNotEmptyDirectoryException"
    assert cli.delete(f"{base}/b", recursive=True) is True
    assert cli.delete(f"{base}/b") is False
    assert cli.status(f"{base}/b", strict=False) is None


def test_hdfscli_delete_to_trash(cli, base):
    cli.write(f"{base}/old.txt", data=b"bye")
    assert cli.delete(f"{base}/old.txt", skip_trash=False) is True
    assert cli.status(f"{base}/old.txt", strict=False) is None
    trashed = [f"{d}/{f}" for d, _, files in cli.walk("/user/alice/.Trash") for f in files]
    assert len(trashed) >= 1 and any(p.endswith("/old.txt") for p in trashed)
    with cli.read(next(p for p in trashed if p.endswith("/old.txt"))) as r:
        assert r.read() == b"bye"


def test_hdfscli_upload_download_walk_parts(cli, base, tmp_path):
    local = tmp_path / "out"
    (local / "sub").mkdir(parents=True)
    (local / "part-00000.csv").write_text("a\n1\n")
    (local / "part-00001.csv").write_text("a\n2\n")
    (local / "sub" / "notes.txt").write_text("n")
    assert cli.upload(f"{base}/up", str(local), n_threads=3) == f"{base}/up"
    assert cli.upload(f"{base}/up", str(local), overwrite=True) == f"{base}/up/out"  # into the folder
    walked = list(cli.walk(f"{base}/up"))
    assert walked[0] == (f"{base}/up", ["out", "sub"], ["part-00000.csv", "part-00001.csv"])
    assert cli.parts(f"{base}/up") == ["part-00000.csv", "part-00001.csv"]
    assert [(n, s["length"]) for n, s in cli.parts(f"{base}/up", parts=[1], status=True)] == [("part-00001.csv", 4)]
    got = cli.download(f"{base}/up", str(tmp_path / "down"), n_threads=0)  # one thread per file
    assert (Path(got) / "sub" / "notes.txt").read_text() == "n"
    assert (Path(got) / "out" / "part-00000.csv").read_text() == "a\n1\n"
    cli.write(f"{base}/up/zz-latest.txt", data=b"!")
    assert cli.resolve(f"{base}/up/#LATEST") == f"{base}/up/zz-latest.txt"


def test_hdfscli_relative_paths_use_home(cli):
    cli.write("rel/f.txt", data=b"home")
    assert cli.resolve("rel/f.txt") == "/user/alice/rel/f.txt"
    assert cli.status("/user/alice/rel/f.txt")["length"] == 4


def test_hdfscli_snapshots(cli, su, base):
    cli.write(f"{base}/d/f.txt", data=b"v1")
    with pytest.raises(HdfsError) as err:
        cli.allow_snapshot(f"{base}/d")
    assert err.value.exception == "AccessControlException"
    su.allow_snapshot(f"{base}/d")
    assert cli.status(f"{base}/d")["snapshotEnabled"] is True
    assert cli.create_snapshot(f"{base}/d", "s1") == f"{base}/d/.snapshot/s1"
    cli.write(f"{base}/d/f.txt", data=b"v2", overwrite=True)
    with cli.read(f"{base}/d/.snapshot/s1/f.txt") as r:
        assert r.read() == b"v1"
    assert cli.list(f"{base}/d/.snapshot") == ["s1"]
    auto = cli.create_snapshot(f"{base}/d")
    assert auto.startswith(f"{base}/d/.snapshot/s")
    cli.rename_snapshot(f"{base}/d", "s1", "first")
    assert sorted(cli.list(f"{base}/d/.snapshot")) == sorted(["first", auto.rsplit("/", 1)[1]])
    with pytest.raises(HdfsError) as err:
        su.disallow_snapshot(f"{base}/d")
    assert err.value.exception == "SnapshotException"
    cli.delete_snapshot(f"{base}/d", "first")
    cli.delete_snapshot(f"{base}/d", auto.rsplit("/", 1)[1])
    su.disallow_snapshot(f"{base}/d")
    assert "snapshotEnabled" not in cli.status(f"{base}/d")


# ---------------------------------------------------------------------- fsspec
def test_fsspec_ls_info_find_glob_du_walk(fs, base):
    fs.pipe({f"{base}/a.csv": b"1,2\n", f"{base}/d/b.csv": b"3\n", f"{base}/d/e/c.txt": b"xyz"})
    assert fs.ls(base) == [f"{base}/a.csv", f"{base}/d"]
    detail = {i["name"]: i for i in fs.ls(base, detail=True)}
    assert detail[f"{base}/d"]["type"] == "directory" and detail[f"{base}/a.csv"]["size"] == 4
    info = fs.info(f"{base}/a.csv")
    assert info["type"] == "file" and info["owner"] == "alice" and info["permission"] == "644"
    assert fs.find(base) == [f"{base}/a.csv", f"{base}/d/b.csv", f"{base}/d/e/c.txt"]
    assert fs.glob(f"{base}/**/*.csv") == [f"{base}/a.csv", f"{base}/d/b.csv"]
    assert fs.du(base) == 9 and fs.du(base, total=False)[f"{base}/d/e/c.txt"] == 3
    assert [w[0] for w in fs.walk(base)] == [base, f"{base}/d", f"{base}/d/e"]
    assert fs.isdir(f"{base}/d") and fs.isfile(f"{base}/a.csv") and not fs.exists(f"{base}/nope")
    assert fs.size(f"{base}/d/e/c.txt") == 3
    summary = fs.content_summary(base)
    assert (summary["directoryCount"], summary["fileCount"], summary["length"]) == (3, 3, 9)
    assert fs.modified(f"{base}/a.csv") == fs.created(f"{base}/a.csv")


def test_fsspec_open_read_write_cat_pipe(fs, base):
    data = bytes(range(256)) * 40
    with fs.open(f"{base}/f.bin", "wb", block_size=1000, replication=2) as f:
        for i in range(0, len(data), 333):
            f.write(data[i:i + 333])
    assert fs.info(f"{base}/f.bin")["replication"] == 2
    with fs.open(f"{base}/f.bin", "rb", block_size=100) as f:
        f.seek(5000)
        assert f.read(10) == data[5000:5010]
    assert fs.cat_file(f"{base}/f.bin", start=10, end=20) == data[10:20]
    assert fs.cat_ranges([f"{base}/f.bin"] * 2, [0, 100], [4, 104]) == [data[:4], data[100:104]]
    assert fs.read_block(f"{base}/f.bin", 10, 5) == data[10:15]
    fs.pipe_file(f"{base}/t.txt", b"line1\nline2\n")
    assert fs.cat(f"{base}/t.txt") == b"line1\nline2\n" and fs.head(f"{base}/t.txt", 5) == b"line1"
    assert fs.tail(f"{base}/t.txt", 6) == b"line2\n"
    with fs.open(f"{base}/t.txt", "r") as f:
        assert f.readlines() == ["line1\n", "line2\n"]
    fs.touch(f"{base}/empty")
    assert fs.info(f"{base}/empty")["size"] == 0


def test_fsspec_transaction_writes_then_renames(fs, base):
    fs.mkdir(base)
    with fs.transaction:  # autocommit off: written under a temporary path, renamed on commit
        with fs.open(f"{base}/late.txt", "wb") as f:
            f.write(b"committed")
        assert not fs.exists(f"{base}/late.txt")
    assert fs.cat(f"{base}/late.txt") == b"committed"
    f = fs.open(f"{base}/dropped.txt", "wb", autocommit=False)
    f.write(b"never")
    f.close()
    f.discard()
    assert not fs.exists(f"{base}/dropped.txt")


def test_fsspec_append_mode_is_broken_in_fsspec_itself(fs, base):
    """fsspec's ``WebHDFile`` never sets ``location`` in ``ab`` mode (an fsspec bug): the APPEND it asks
    for is answered, but it then POSTs to ``None``. The same APPEND step works when driven by hand."""
    fs.pipe_file(f"{base}/log.txt", b"one\n")
    with pytest.raises(requests.exceptions.MissingSchema), fs.open(f"{base}/log.txt", "ab") as f:
        f.write(b"two\n")
    r = fs._call("APPEND", "POST", f"{base}/log.txt", redirect=False)
    assert r.status_code == 307
    fs.session.post(r.headers["Location"], data=b"two\n").raise_for_status()
    assert fs.cat(f"{base}/log.txt") == b"one\ntwo\n"


def test_fsspec_mkdir_makedirs_rm_mv_cp(fs, base, tmp_path):
    fs.mkdir(f"{base}/a/b")
    fs.makedirs(f"{base}/c", exist_ok=True)
    with pytest.raises(FileExistsError):
        fs.makedirs(f"{base}/c")
    fs.pipe_file(f"{base}/a/b/f.txt", b"hi")
    fs.cp(f"{base}/a/b/f.txt", f"{base}/c/g.txt")  # fsspec streams to a temp file and renames it
    assert fs.cat(f"{base}/c/g.txt") == b"hi" and fs.ls(f"{base}/c") == [f"{base}/c/g.txt"]
    fs.mv(f"{base}/a", f"{base}/z")
    assert fs.cat(f"{base}/z/b/f.txt") == b"hi" and not fs.exists(f"{base}/a")
    local = tmp_path / "in.txt"
    local.write_bytes(b"local bytes")
    fs.put(str(local), f"{base}/put.txt")
    fs.get(f"{base}/put.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_bytes() == b"local bytes"
    with pytest.raises(RuntimeError, match="Directory is not empty"):
        fs.rm(f"{base}/z")
    fs.rm(f"{base}/z", recursive=True)
    fs.rm_file(f"{base}/put.txt")
    assert fs.ls(base) == [f"{base}/c"]


def test_fsspec_chmod_chown_replication_ukey(fs, sb, base):
    fs.pipe_file(f"{base}/f.txt", b"checksummed")
    fs.chmod(f"{base}/f.txt", "600")
    fs.set_replication(f"{base}/f.txt", 5)
    with pytest.raises(PermissionError, match="non-super user cannot change owner"):
        fs.chown(f"{base}/f.txt", owner="bob")
    root = WebHDFS(host="127.0.0.1", port=sb.port, user="hdfs", skip_instance_cache=True)
    root.chown(f"{base}/f.txt", owner="bob", group="staff")
    for info in (fs.info(f"{base}/f.txt"), fs.ls(base, detail=True)[0]):
        assert (info["permission"], info["replication"], info["owner"], info["group"]) == ("600", 5, "bob", "staff")
    assert fs.ukey(f"{base}/f.txt") == expected_checksum(b"checksummed", 134217728)
    assert fs.checksum(f"{base}/f.txt") == fs.checksum(f"{base}/f.txt")
    with pytest.raises(PermissionError, match="is not the owner"):
        fs.chmod(f"{base}/f.txt", "644")
    with pytest.raises(ValueError, match="radix-8"):
        root.chmod(f"{base}/f.txt", "rwx")


def test_fsspec_home_and_tokens(fs):
    assert fs.home_directory() == "/user/alice"
    with pytest.raises(ValueError, match="No token available"):  # security off: no delegation tokens
        fs.get_delegation_token()
    with pytest.raises(RuntimeError):
        fs.renew_delegation_token("not-a-token")
    with pytest.raises(RuntimeError):
        fs.cancel_delegation_token("not-a-token")


def test_fsspec_errors_map_to_python_exceptions(fs, sb, base):
    with pytest.raises(FileNotFoundError):
        fs.info(f"{base}/missing")
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{base}/missing")
    with pytest.raises(FileNotFoundError):
        fs.ukey(f"{base}/missing")
    with pytest.raises(PermissionError):
        WebHDFS(host="127.0.0.1", port=sb.port, skip_instance_cache=True).mkdir(f"{base}/anon")
    fs.pipe_file(f"{base}/file", b"1")
    with pytest.raises(RuntimeError, match="Path is not a directory"):
        fs.mkdir(f"{base}/file")
    with pytest.raises(RuntimeError, match="less than the required minimum of 1"):
        fs.set_replication(f"{base}/file", 0)
    with pytest.raises(ValueError, match="No enum constant"):
        fs._call("NOSUCHOP", path=f"{base}/file")


def test_both_libraries_see_the_same_tree(cli, fs, base):
    cli.write(f"{base}/from-cli.txt", data=b"c", permission="640")
    fs.pipe_file(f"{base}/from-fsspec.txt", b"f")
    assert sorted(cli.list(base)) == [p.rsplit("/", 1)[1] for p in fs.ls(base)]
    assert fs.info(f"{base}/from-cli.txt")["permission"] == "640"
    assert cli.checksum(f"{base}/from-fsspec.txt") == fs.ukey(f"{base}/from-fsspec.txt")
