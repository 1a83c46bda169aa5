"""The namespace behind the sandbox: real files under ``root`` (HDFS ``/`` is ``root``) and, beside
them in memory, what HDFS keeps per inode and a disk does not (owner, group, permission, replication,
block size, access time, ACL, snapshots). Every method is one NameNode operation, with its refusals."""
from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import acl as acls
from .access import AccessChecker
from .checksum import file_checksum
from .params import HdfsError

SUPERUSER = "hdfs"  # the NameNode's own user; paths made outside the API belong to it
SUPERGROUP = "supergroup"
BLOCK_SIZE = 134217728
MIN_BLOCK_SIZE = 1048576  # dfs.namenode.fs-limits.min-block-size
DEFAULT_REPLICATION = 1  # dfs.replication of a one-DataNode cluster
MAX_REPLICATION = 512  # dfs.replication.max
DIR_DEFAULT, FILE_DEFAULT = 0o755, 0o644
SNAPSHOT = ".snapshot"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Inode:
    """HDFS metadata of one path."""

    owner: str
    group: str
    permission: int
    file_id: int
    replication: int = 0
    block_size: int = 0
    access_time: int = 0
    acl: list[acls.Entry] = field(default_factory=list)
    snapshot_dir: str | None = None  # where the snapshots of a snapshottable folder are kept
    snapshots: list[str] = field(default_factory=list)


@dataclass
class Loc:
    """A normalised HDFS path, the real path behind it, and whether it is inside a snapshot."""

    norm: str
    real: Path
    in_snapshot: bool = False
    snapshottable: bool = False

    @property
    def parent(self) -> str:
        return self.norm.rsplit("/", 1)[0] or "/"

    @property
    def name(self) -> str:
        return self.norm.rsplit("/", 1)[1]


def norm_path(path: str | None) -> str:
    """``/a/b`` form; ``..`` and ``.`` are not valid HDFS path components."""
    parts = [p for p in (path or "/").split("/") if p]
    if any(p in (".", "..") or ":" in p for p in parts):
        raise HdfsError("InvalidPathException", f"Invalid path name {path}")
    return "/" + "/".join(parts)


def _prefixes(norm: str) -> list[str]:
    parts = [p for p in norm.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


class Namespace:
    """The file tree and its inodes; thread-safe (one lock)."""

    def __init__(self, root: Path, snapshot_root: Path, *, permissions: bool = False) -> None:
        self.root, self.snapshot_root = root, snapshot_root
        self.access = AccessChecker(self, permissions)
        self.lock = threading.RLock()
        self._inodes: dict[str, Inode] = {}
        self._next_id = 16386
        self._snap_seq = 0

    # ------------------------------------------------------------------ paths and inodes
    def locate(self, path: str | None) -> Loc:
        norm = norm_path(path)
        parts = [p for p in norm.split("/") if p]
        if SNAPSHOT not in parts:
            return Loc(norm, self.root.joinpath(*parts))
        i = parts.index(SNAPSHOT)
        owner = "/" + "/".join(parts[:i])
        node = self._inodes.get(owner)
        if node is None or node.snapshot_dir is None:
            return Loc(norm, self.snapshot_root / "none" / SNAPSHOT, True)  # never exists
        return Loc(norm, Path(node.snapshot_dir).joinpath(*parts[i + 1:]), True, True)

    def existing(self, path: str | None, message: str = "File does not exist: {}") -> Loc:
        loc = self.locate(path)
        if not loc.real.exists():
            raise HdfsError("FileNotFoundException", message.format(loc.norm))
        return loc

    def inode(self, loc: Loc) -> Inode:
        """The inode of an existing path (made on first sight for files put there outside the API)."""
        with self.lock:
            node = self._inodes.get(loc.norm)
            if node is None:
                is_dir = loc.real.is_dir()
                mtime = int(loc.real.stat().st_mtime * 1000)
                node = Inode(SUPERUSER, SUPERGROUP, DIR_DEFAULT if is_dir else FILE_DEFAULT, self._new_id(),
                             0 if is_dir else DEFAULT_REPLICATION, 0 if is_dir else BLOCK_SIZE, mtime)
                self._inodes[loc.norm] = node
            return node

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _set(self, norm: str, node: Inode) -> None:
        with self.lock:
            self._inodes[norm] = node

    def _move(self, src: str, dst: str) -> None:
        with self.lock:
            for key in [k for k in self._inodes if k == src or k.startswith(src + "/")]:
                self._inodes[dst + key[len(src):]] = self._inodes.pop(key)

    def _forget(self, norm: str) -> None:
        with self.lock:
            for key in [k for k in self._inodes if k == norm or k.startswith(norm + "/")]:
                del self._inodes[key]

    @staticmethod
    def groups_of(user: str) -> set[str]:
        """Each user is in the group of its own name; the superuser also in ``supergroup``."""
        return {user, SUPERGROUP} if user == SUPERUSER else {user}

    def is_super(self, user: str) -> bool:
        return SUPERGROUP in self.groups_of(user)

    def check_owner(self, loc: Loc, user: str) -> Inode:
        self.access.check(loc, user)
        node = self.inode(loc)
        if user != node.owner and not self.is_super(user):
            raise HdfsError("AccessControlException",
                            f"Permission denied. user={user} is not the owner of inode={loc.norm}")
        return node

    def check_super(self, user: str) -> None:
        if not self.is_super(user):
            raise HdfsError("AccessControlException",
                            f"Access denied for user {user}. Superuser privilege is required")

    @staticmethod
    def writable(loc: Loc) -> None:
        """Nothing inside a snapshot may change; ``.snapshot`` is reserved elsewhere."""
        if loc.snapshottable:
            raise HdfsError("SnapshotAccessControlException", "Modification on a read-only snapshot is disallowed")
        if loc.in_snapshot:
            raise HdfsError("HadoopIllegalArgumentException", f'"{SNAPSHOT}" is a reserved name.')

    def inode_text(self, norm: str) -> str:
        """``"/a":owner:group:drwxr-xr-x`` of the nearest existing ancestor (AccessControlException text)."""
        for anc in reversed(["/", *_prefixes(norm)]):
            loc = self.locate(anc)
            if loc.real.exists():
                node = self.inode(loc)
                return f'"{anc}":{node.owner}:{node.group}:{acls.mode_string(loc.real.is_dir(), node.permission)}'
        return f'"{norm}"'  # pragma: no cover - "/" always exists

    # ------------------------------------------------------------------ reading
    def status(self, loc: Loc, suffix: str = "") -> dict[str, Any]:
        st = loc.real.stat()
        is_dir = loc.real.is_dir()
        node = self.inode(loc)
        out: dict[str, Any] = {
            "accessTime": 0 if is_dir else node.access_time,
            "blockSize": 0 if is_dir else node.block_size,
            "childrenNum": sum(1 for _ in loc.real.iterdir()) if is_dir else 0,
            "fileId": node.file_id,
            "group": node.group,
            "length": 0 if is_dir else st.st_size,
            "modificationTime": int(st.st_mtime * 1000),
            "owner": node.owner,
            "pathSuffix": suffix,
            "permission": format(node.permission, "o"),
            "replication": 0 if is_dir else node.replication,
            "storagePolicy": 0,
            "type": "DIRECTORY" if is_dir else "FILE",
        }
        if node.acl:
            out["aclBit"] = True
        if node.snapshot_dir is not None:
            out["snapshotEnabled"] = True
        return out

    def file_status(self, path: str | None, user: str) -> dict[str, Any]:
        loc = self.existing(path)
        self.access.check(loc, user)
        return self.status(loc)

    def list_status(self, path: str | None, user: str) -> list[dict[str, Any]]:
        """LISTSTATUS: the statuses of a folder's entries (sorted by name), or of a file itself."""
        loc = self.existing(path, "File {} does not exist.")
        self.access.check(loc, user, access="READ_EXECUTE" if loc.real.is_dir() else None)
        if loc.real.is_file():
            return [self.status(loc)]
        base = loc.norm.rstrip("/")
        return [self.status(self.locate(f"{base}/{c.name}"), c.name) for c in sorted(loc.real.iterdir())]

    def content_summary(self, path: str | None, user: str) -> dict[str, Any]:
        loc = self.existing(path)
        self.access.check(loc, user, sub="READ_EXECUTE")
        items = [loc.real] + (sorted(loc.real.rglob("*")) if loc.real.is_dir() else [])
        files = [p for p in items if p.is_file()]
        length = consumed = 0
        for p in files:
            size = p.stat().st_size
            rel = p.relative_to(loc.real).as_posix()
            node = self.inode(self.locate(loc.norm if rel == "." else f"{loc.norm.rstrip('/')}/{rel}"))
            length, consumed = length + size, consumed + size * node.replication
        return {"directoryCount": len(items) - len(files), "fileCount": len(files), "length": length,
                "quota": -1, "spaceConsumed": consumed, "spaceQuota": -1, "typeQuota": {}}

    def readable_file(self, path: str | None, user: str) -> Loc:
        """An existing file the user may read (OPEN, GETFILECHECKSUM)."""
        loc = self.existing(path)
        if loc.real.is_dir():
            raise HdfsError("FileNotFoundException", f"Path is not a file: {loc.norm}")
        self.access.check(loc, user, access="READ")
        return loc

    def checksum(self, path: str | None, user: str) -> dict[str, Any]:
        loc = self.readable_file(path, user)
        return file_checksum(loc.real, self.inode(loc).block_size or BLOCK_SIZE)

    def acl_status(self, path: str | None, user: str) -> dict[str, Any]:
        loc = self.existing(path)
        self.access.check(loc, user)
        node = self.inode(loc)
        return {"entries": [str(e) for e in node.acl], "group": node.group, "owner": node.owner,
                "permission": format(node.permission, "o"), "stickyBit": bool(node.permission & 0o1000)}

    # ------------------------------------------------------------------ directories and files
    def _walk_parents(self, loc: Loc, *, last_is_dir: bool) -> list[Loc]:
        """The missing folders of ``loc`` (the path itself when ``last_is_dir``), refusing files on the way."""
        missing = []
        prefixes = _prefixes(loc.norm)
        for i, prefix in enumerate(prefixes):
            cur = self.locate(prefix)
            last = i == len(prefixes) - 1
            if cur.real.is_file():
                if last and last_is_dir:
                    raise HdfsError("FileAlreadyExistsException", f"Path is not a directory: {loc.norm}")
                if not last:
                    raise HdfsError("ParentNotDirectoryException", f"{prefix} (is not a directory)")
            elif not cur.real.exists() and (not last or last_is_dir):
                missing.append(cur)
        return missing

    def _make_dirs(self, missing: list[Loc], user: str, last_perm: int, implicit: int) -> None:
        for i, cur in enumerate(missing):
            cur.real.mkdir()
            group = self.inode(self.locate(cur.parent)).group
            perm = last_perm if i == len(missing) - 1 and last_perm >= 0 else implicit
            self._set(cur.norm, Inode(user, group, perm, self._new_id(), access_time=now_ms()))

    def mkdirs(self, path: str | None, user: str, permission: int | None) -> bool:
        loc = self.locate(path)
        self.writable(loc)
        perm = DIR_DEFAULT if permission is None else permission
        missing = self._walk_parents(loc, last_is_dir=True)
        self.access.check(loc, user, ancestor="WRITE")
        self._make_dirs(missing, user, perm, perm | 0o300)
        return True

    def check_create(self, path: str | None, user: str, overwrite: bool, replication: int | None,
                     block_size: int | None, client: str) -> Loc:
        """The NameNode's checks before it sends a CREATE to a DataNode."""
        loc = self.locate(path)
        self.writable(loc)
        if loc.real.is_dir():
            raise HdfsError("FileAlreadyExistsException", f"{loc.norm} already exists as a directory")
        self._walk_parents(loc, last_is_dir=False)
        if loc.real.exists() and not overwrite:
            raise HdfsError("FileAlreadyExistsException", f"{loc.norm} for client {client} already exists")
        self.access.check(loc, user, ancestor="WRITE", access="WRITE")
        self.check_replication(loc.norm, replication)
        if block_size is not None and block_size < MIN_BLOCK_SIZE:
            raise HdfsError("IOException", "Specified block size is less than configured minimum value "
                            f"(dfs.namenode.fs-limits.min-block-size): {block_size} < {MIN_BLOCK_SIZE}")
        return loc

    @staticmethod
    def check_replication(norm: str, replication: int | None) -> None:
        if replication is not None and replication < 1:
            raise HdfsError("IOException", f"Requested replication factor of {replication} is less than "
                            f"the required minimum of 1 for {norm}")
        if replication is not None and replication > MAX_REPLICATION:
            raise HdfsError("IOException", f"Requested replication factor of {replication} exceeds maximum "
                            f"of {MAX_REPLICATION} for {norm}")

    def create(self, path: str | None, user: str, data: bytes, *, overwrite: bool, permission: int | None,
               replication: int | None, block_size: int | None, client: str) -> Loc:
        """The DataNode's CREATE: a new inode (new id, owner, permission) holding ``data``."""
        loc = self.check_create(path, user, overwrite, replication, block_size, client)
        perm = FILE_DEFAULT if permission is None else permission
        self._make_dirs(self._walk_parents(loc, last_is_dir=False), user, -1, perm | 0o300)
        loc.real.write_bytes(data)
        group = self.inode(self.locate(loc.parent)).group
        self._set(loc.norm, Inode(user, group, perm, self._new_id(), replication or DEFAULT_REPLICATION,
                                  block_size or BLOCK_SIZE, now_ms()))
        return loc

    def appendable(self, path: str | None, user: str, client: str) -> Loc:
        loc = self.locate(path)
        self.writable(loc)
        if loc.real.is_dir():
            raise HdfsError("FileAlreadyExistsException",
                            f"Cannot append to directory {loc.norm}; already exists as a directory.")
        if not loc.real.exists():
            raise HdfsError("FileNotFoundException",
                            f"Failed to append to non-existent file {loc.norm} for client {client}")
        self.access.check(loc, user, access="WRITE")
        return loc

    def append(self, path: str | None, user: str, data: bytes, client: str) -> None:
        loc = self.appendable(path, user, client)
        with loc.real.open("ab") as fh:
            fh.write(data)

    def delete(self, path: str | None, user: str, recursive: bool) -> bool:
        loc = self.locate(path)
        self.writable(loc)
        if not loc.real.exists():
            return False
        if loc.real.is_dir() and not recursive and any(loc.real.iterdir()):
            raise HdfsError("PathIsNotEmptyDirectoryException", f"`{loc.norm} is non empty': Directory is not empty")
        if loc.norm == "/":
            return False
        self.access.check(loc, user, parent="WRITE", sub="ALL")
        self.access.sticky(loc, user)
        self._refuse_snapshotted(loc)
        if loc.real.is_dir():
            shutil.rmtree(loc.real)
        else:
            loc.real.unlink()
        self._forget(loc.norm)
        return True

    def _refuse_snapshotted(self, loc: Loc) -> None:
        with self.lock:
            held = [k for k, n in self._inodes.items() if n.snapshots and (k == loc.norm or k.startswith(
                loc.norm.rstrip("/") + "/"))]
        if held:
            raise HdfsError("SnapshotException", f"The directory {held[0]} cannot be deleted since {held[0]} "
                            "is snapshottable and already has snapshots")

    def rename(self, path: str | None, user: str, destination: str) -> bool:
        src, dst = self.locate(path), self.locate(destination)
        self.writable(src)
        self.writable(dst)
        if not src.real.exists():
            return False
        if src.norm == "/":
            raise HdfsError("IOException", "rename source cannot be the root")
        if dst.norm == src.norm:
            return True
        if dst.norm.startswith(src.norm + "/"):
            raise HdfsError("IOException", f"Rename destination {dst.norm} is a directory or file under "
                            f"source {src.norm}")
        self.access.check(src, user, parent="WRITE")
        self.access.sticky(src, user)
        if dst.real.is_dir():
            dst = self.locate(f"{dst.norm.rstrip('/')}/{src.name}")
        if dst.real.exists() or not dst.real.parent.is_dir():
            return False
        self.access.check(dst, user, ancestor="WRITE")
        src.real.rename(dst.real)
        self._move(src.norm, dst.norm)
        return True

    # ------------------------------------------------------------------ attributes
    def set_permission(self, path: str | None, user: str, permission: int) -> None:
        loc = self.existing(path)
        self.writable(loc)
        node = self.check_owner(loc, user)
        node.permission = permission

    def set_owner(self, path: str | None, user: str, owner: str | None, group: str | None) -> None:
        loc = self.existing(path)
        self.writable(loc)
        node = self.check_owner(loc, user)
        if not self.is_super(user):
            if owner is not None and owner != user:
                raise HdfsError("AccessControlException",
                                f"User {user} is not a super user (non-super user cannot change owner).")
            if group is not None and group not in self.groups_of(user):
                raise HdfsError("AccessControlException", f"User {user} does not belong to {group}")
        node.owner = owner or node.owner
        node.group = group or node.group

    def set_replication(self, path: str | None, user: str, replication: int) -> bool:
        loc = self.locate(path)
        self.writable(loc)
        self.check_replication(loc.norm, replication)
        if not loc.real.is_file():
            return False
        self.access.check(loc, user, access="WRITE")
        self.inode(loc).replication = replication
        return True

    def set_times(self, path: str | None, user: str, mtime: int | None, atime: int | None) -> None:
        loc = self.existing(path, "File/Directory {} does not exist.")
        self.writable(loc)
        self.access.check(loc, user, access="WRITE")
        node = self.inode(loc)
        if mtime is not None and mtime != -1:
            st = loc.real.stat()
            os.utime(loc.real, (st.st_atime, mtime / 1000))
        if atime is not None and atime != -1:
            node.access_time = atime

    # ------------------------------------------------------------------ ACLs
    def change_acl(self, path: str | None, user: str, how: str, spec: list[acls.Entry]) -> None:
        """SETACL (``set``), MODIFYACLENTRIES (``modify``), REMOVEACLENTRIES (``remove``),
        REMOVEDEFAULTACL (``nodefault``), REMOVEACL (``none``)."""
        loc = self.existing(path)
        self.writable(loc)
        node = self.check_owner(loc, user)
        current = acls.full(node.permission, node.acl)
        if how == "none":
            group = next(e.perm for e in current if not e.default and e.type == "group" and not e.name)
            node.permission = (node.permission & ~0o70) | acls.bits(group or "---") << 3
            node.acl = []
            return
        entries = {"set": lambda: spec, "modify": lambda: acls.modify(current, spec),
                   "remove": lambda: acls.remove(current, spec),
                   "nodefault": lambda: [e for e in current if not e.default]}[how]()
        recompute = not any(e.type == "mask" for e in spec)
        node.permission, node.acl = acls.store(node.permission, list(entries), loc.real.is_dir(), recompute)

    # ------------------------------------------------------------------ snapshots
    def _snapshot_dir(self, path: str | None) -> tuple[Loc, Inode]:
        loc = self.existing(path, "Directory does not exist: {}")
        if not loc.real.is_dir():
            raise HdfsError("PathIsNotDirectoryException", f"`{loc.norm}': Is not a directory")
        return loc, self.inode(loc)

    def allow_snapshot(self, path: str | None, user: str) -> None:
        self.check_super(user)
        _, node = self._snapshot_dir(path)
        if node.snapshot_dir is None:
            with self.lock:
                self._snap_seq += 1
                folder = self.snapshot_root / str(self._snap_seq)
            folder.mkdir(parents=True)
            node.snapshot_dir = str(folder)

    def disallow_snapshot(self, path: str | None, user: str) -> None:
        self.check_super(user)
        loc, node = self._snapshot_dir(path)
        if node.snapshots:
            raise HdfsError("SnapshotException", f"The directory {loc.norm} has snapshot(s). Please redo the "
                            "operation after removing all the snapshots.")
        if node.snapshot_dir is not None:
            shutil.rmtree(node.snapshot_dir, ignore_errors=True)
            node.snapshot_dir = None

    def _snapshottable(self, path: str | None, user: str) -> tuple[Loc, Inode]:
        loc, node = self._snapshot_dir(path)
        self.check_owner(loc, user)
        if node.snapshot_dir is None:
            raise HdfsError("SnapshotException", f"Directory is not a snapshottable directory: {loc.norm}")
        return loc, node

    def create_snapshot(self, path: str | None, user: str, name: str | None) -> str:
        loc, node = self._snapshottable(path, user)
        stamp = time.gmtime()
        name = name or time.strftime("s%Y%m%d-%H%M%S", stamp) + f".{now_ms() % 1000:03d}"
        if name in node.snapshots:
            raise HdfsError("SnapshotException",
                            f'Failed to add snapshot: there is already a snapshot with the same name "{name}".')
        shutil.copytree(loc.real, Path(node.snapshot_dir or "") / name, copy_function=shutil.copy2)
        node.snapshots.append(name)
        base = loc.norm.rstrip("/")
        with self.lock:
            for key, other in list(self._inodes.items()):
                if key.startswith(base + "/") and f"/{SNAPSHOT}/" not in key[len(base):]:
                    self._inodes[f"{base}/{SNAPSHOT}/{name}{key[len(base):]}"] = replace(other, acl=list(other.acl))
        return f"{base}/{SNAPSHOT}/{name}"

    def delete_snapshot(self, path: str | None, user: str, name: str) -> None:
        loc, node = self._snapshottable(path, user)
        if name not in node.snapshots:
            raise HdfsError("SnapshotException",
                            f"Cannot delete snapshot {name} from path {loc.norm}: the snapshot does not exist.")
        shutil.rmtree(Path(node.snapshot_dir or "") / name)
        node.snapshots.remove(name)
        self._forget(f"{loc.norm.rstrip('/')}/{SNAPSHOT}/{name}")

    def rename_snapshot(self, path: str | None, user: str, old: str, new: str) -> None:
        loc, node = self._snapshottable(path, user)
        if old not in node.snapshots:
            raise HdfsError("SnapshotException", f"The snapshot {old} does not exist for directory {loc.norm}")
        if new in node.snapshots:
            raise HdfsError("SnapshotException", f"The snapshot {new} already exists for directory {loc.norm}")
        folder = Path(node.snapshot_dir or "")
        (folder / old).rename(folder / new)
        node.snapshots[node.snapshots.index(old)] = new
        base = f"{loc.norm.rstrip('/')}/{SNAPSHOT}/"
        self._move(base + old, base + new)
