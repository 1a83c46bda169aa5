"""The NameNode's and the DataNode's operations: parse the parameters, call the namespace, answer.

Each operation is ``fn(req) -> Answer``; the tables say which HTTP method carries which op. Ops Hadoop
knows but this sandbox does not implement answer 400 ``UnsupportedOperationException``; names Hadoop
does not know (or a known op with the wrong method) answer Hadoop's ``No enum constant`` 400.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from . import acl as acls
from .fs import Namespace
from .params import ACL_PATTERN, USER_PATTERN, HdfsError, Params, bad_param

ANONYMOUS = "dr.who"

# Every op of Hadoop 3's GetOpParam / PutOpParam / PostOpParam / DeleteOpParam enums.
KNOWN = {
    "GET": {"OPEN", "GETFILESTATUS", "LISTSTATUS", "GETCONTENTSUMMARY", "GETQUOTAUSAGE", "GETFILECHECKSUM",
            "GETHOMEDIRECTORY", "GETDELEGATIONTOKEN", "GET_BLOCK_LOCATIONS", "GETFILEBLOCKLOCATIONS",
            "GETACLSTATUS", "GETXATTRS", "GETTRASHROOT", "LISTXATTRS", "NULL", "CHECKACCESS", "LISTSTATUS_BATCH",
            "GETSERVERDEFAULTS", "GETSTORAGEPOLICY", "GETALLSTORAGEPOLICY", "GETECPOLICY", "GETSNAPSHOTDIFF",
            "GETSNAPSHOTDIFFLISTING", "GETSNAPSHOTTABLEDIRECTORYLIST", "GETSNAPSHOTLIST", "GETLINKTARGET",
            "GETFILELINKSTATUS", "GETSTATUS", "GETECPOLICIES", "GETECCODECS", "GETTRASHROOTS"},
    "PUT": {"CREATE", "MKDIRS", "CREATESYMLINK", "RENAME", "SETREPLICATION", "SETOWNER", "SETPERMISSION",
            "SETTIMES", "RENEWDELEGATIONTOKEN", "CANCELDELEGATIONTOKEN", "MODIFYACLENTRIES", "REMOVEACLENTRIES",
            "REMOVEDEFAULTACL", "REMOVEACL", "SETACL", "SETXATTR", "REMOVEXATTR", "ENABLEECPOLICY",
            "DISABLEECPOLICY", "SETECPOLICY", "ALLOWSNAPSHOT", "DISALLOWSNAPSHOT", "CREATESNAPSHOT",
            "RENAMESNAPSHOT", "SETQUOTA", "SETQUOTABYSTORAGETYPE", "SETSTORAGEPOLICY", "SATISFYSTORAGEPOLICY", "NULL"},
    "POST": {"APPEND", "CONCAT", "TRUNCATE", "UNSETECPOLICY", "UNSETSTORAGEPOLICY", "NULL"},
    "DELETE": {"DELETE", "DELETESNAPSHOT", "NULL"},
}
_ENUM = {"GET": "GetOpParam", "PUT": "PutOpParam", "POST": "PostOpParam", "DELETE": "DeleteOpParam"}
# Parameters a NameNode puts into the DataNode URL it redirects to.
_CARRIED = ("user.name", "offset", "length", "overwrite", "permission", "replication", "blocksize", "buffersize")


@dataclass
class Request:
    """One call: method, path, parsed query, body, the client's address and where this server is."""

    ns: Namespace
    method: str
    path: str | None
    params: Params
    body: bytes
    client: str
    base_url: str
    datanode_prefix: str
    user: str = ANONYMOUS

    def redirect(self, op: str) -> Answer:
        """307 to the DataNode (or 200 ``{"Location"}`` with ``noredirect=true``)."""
        norm = self.ns.locate(self.path).norm
        args = {k: v for k, v in self.params.raw.items() if k in _CARRIED}
        loc = f"{self.base_url}{self.datanode_prefix}{quote(norm)}?" + urlencode({"op": op, **args})
        if self.params.boolean("noredirect"):
            return Answer(200, {"Location": loc})
        return Answer(307, None, {"Location": loc})


@dataclass
class Answer:
    """A reply: status, body and headers."""

    status: int
    body: Any = None  # dict → JSON, bytes → octet-stream, None → empty
    headers: dict[str, str] = field(default_factory=dict)


def json(body: Any) -> Answer:
    """200 with a JSON body."""
    return Answer(200, body)


def boolean(value: bool) -> Answer:
    """200 ``{"boolean": value}``."""
    return Answer(200, {"boolean": value})


# ---------------------------------------------------------------------- GET
def _offsets(req: Request) -> tuple[int, int | None]:
    return req.params.number("offset", lo=0) or 0, req.params.number("length", lo=0)


def _chosen_length(req: Request) -> int:
    """The NameNode's look-up before it picks a DataNode for OPEN, GETFILECHECKSUM and APPEND: the path
    must exist (a folder passes, with length 0: the DataNode refuses it)."""
    loc = req.ns.locate(req.path)
    if not loc.real.exists():
        raise HdfsError("FileNotFoundException", f"File {loc.norm} not found.")
    size = 0 if loc.real.is_dir() else loc.real.stat().st_size
    req.ns.access.check(loc, req.user, access="READ" if size else None)  # getFileInfo, getBlockLocations
    return size


def op_open(req: Request) -> Answer:
    size = _chosen_length(req)
    offset, _ = _offsets(req)
    if size > 0 and offset >= size:
        norm = req.ns.locate(req.path).norm
        raise HdfsError("IOException", f"Offset={offset} out of the range [0, {size}); OPEN, path={norm}")
    req.params.number("buffersize", "integer", lo=1)
    return req.redirect("OPEN")


def op_getfilestatus(req: Request) -> Answer:
    return json({"FileStatus": req.ns.file_status(req.path, req.user)})


def op_liststatus(req: Request) -> Answer:
    return json({"FileStatuses": {"FileStatus": req.ns.list_status(req.path, req.user)}})


def op_getcontentsummary(req: Request) -> Answer:
    return json({"ContentSummary": req.ns.content_summary(req.path, req.user)})


def op_getfilechecksum(req: Request) -> Answer:
    _chosen_length(req)
    return req.redirect("GETFILECHECKSUM")


def op_gethomedirectory(req: Request) -> Answer:
    return json({"Path": f"/user/{req.user}"})


def op_gettrashroot(req: Request) -> Answer:
    return json({"Path": f"/user/{req.user}/.Trash"})


def op_getdelegationtoken(req: Request) -> Answer:
    """Security is off: no secret manager runs, so there is no token (Hadoop answers ``null``)."""
    return json({"Token": None})


def op_getaclstatus(req: Request) -> Answer:
    return json({"AclStatus": req.ns.acl_status(req.path, req.user)})


# ---------------------------------------------------------------------- PUT
def op_create(req: Request) -> Answer:
    """Hadoop's NameNode only parses the parameters: the DataNode's create refuses what it refuses."""
    p = req.params
    p.permission(), p.boolean("overwrite"), p.number("replication", "short"), p.number("blocksize", lo=1)
    p.number("buffersize", "integer", lo=1)
    return req.redirect("CREATE")


def op_mkdirs(req: Request) -> Answer:
    return boolean(req.ns.mkdirs(req.path, req.user, req.params.permission()))


def op_rename(req: Request) -> Answer:
    dest = req.params.required("destination", "RENAME")
    if not dest.startswith("/"):
        raise bad_param("destination", f'Invalid parameter value: destination = "{dest}" is not an absolute path.')
    return boolean(req.ns.rename(req.path, req.user, dest))


def op_setreplication(req: Request) -> Answer:
    replication = req.params.number("replication", "short")
    return boolean(req.ns.set_replication(req.path, req.user, 1 if replication is None else replication))


def op_setowner(req: Request) -> Answer:
    owner, group = req.params.text("owner"), req.params.text("group")
    if owner is None and group is None:
        raise HdfsError("IllegalArgumentException", "Both owner and group are empty.")
    req.ns.set_owner(req.path, req.user, owner, group)
    return Answer(200)


def op_setpermission(req: Request) -> Answer:
    permission = req.params.permission()
    req.ns.set_permission(req.path, req.user, 0o755 if permission is None else permission)
    return Answer(200)


def op_settimes(req: Request) -> Answer:
    mtime = req.params.number("modificationtime", lo=-1)
    atime = req.params.number("accesstime", lo=-1)
    req.ns.set_times(req.path, req.user, mtime, atime)
    return Answer(200)


def _token_op(name: str) -> Callable[[Request], Answer]:
    def op(req: Request) -> Answer:
        token = req.params.required("token", name)
        raise HdfsError("InvalidToken", f"Token {token!r} was not issued by this NameNode (security is off: "
                        "it issues no delegation tokens)")
    return op


def _acl_op(how: str, name: str) -> Callable[[Request], Answer]:
    def op(req: Request) -> Answer:
        spec: list[acls.Entry] = []
        if how in ("set", "modify", "remove"):
            text = req.params.text("aclspec", ACL_PATTERN)
            if text is None:
                raise HdfsError("IllegalArgumentException", f"Required param aclspec for op: {name} is null or empty")
            spec = acls.parse(text, with_perm=how != "remove")
        req.ns.change_acl(req.path, req.user, how, spec)
        return Answer(200)
    return op


def op_allowsnapshot(req: Request) -> Answer:
    req.ns.allow_snapshot(req.path, req.user)
    return Answer(200)


def op_disallowsnapshot(req: Request) -> Answer:
    req.ns.disallow_snapshot(req.path, req.user)
    return Answer(200)


def op_createsnapshot(req: Request) -> Answer:
    return json({"Path": req.ns.create_snapshot(req.path, req.user, req.params.text("snapshotname"))})


def op_renamesnapshot(req: Request) -> Answer:
    old = req.params.required("oldsnapshotname", "RENAMESNAPSHOT")
    new = req.params.required("snapshotname", "RENAMESNAPSHOT")
    req.ns.rename_snapshot(req.path, req.user, old, new)
    return Answer(200)


# ---------------------------------------------------------------------- POST / DELETE
def op_append(req: Request) -> Answer:
    req.params.number("buffersize", "integer", lo=1)
    _chosen_length(req)
    return req.redirect("APPEND")


def op_delete(req: Request) -> Answer:
    return boolean(req.ns.delete(req.path, req.user, req.params.boolean("recursive")))


def op_deletesnapshot(req: Request) -> Answer:
    req.ns.delete_snapshot(req.path, req.user, req.params.required("snapshotname", "DELETESNAPSHOT"))
    return Answer(200)


NAMENODE: dict[str, dict[str, Callable[[Request], Answer]]] = {
    "GET": {"OPEN": op_open, "GETFILESTATUS": op_getfilestatus, "LISTSTATUS": op_liststatus,
            "GETCONTENTSUMMARY": op_getcontentsummary, "GETFILECHECKSUM": op_getfilechecksum,
            "GETHOMEDIRECTORY": op_gethomedirectory, "GETTRASHROOT": op_gettrashroot,
            "GETDELEGATIONTOKEN": op_getdelegationtoken, "GETACLSTATUS": op_getaclstatus},
    "PUT": {"CREATE": op_create, "MKDIRS": op_mkdirs, "RENAME": op_rename, "SETREPLICATION": op_setreplication,
            "SETOWNER": op_setowner, "SETPERMISSION": op_setpermission, "SETTIMES": op_settimes,
            "RENEWDELEGATIONTOKEN": _token_op("RENEWDELEGATIONTOKEN"),
            "CANCELDELEGATIONTOKEN": _token_op("CANCELDELEGATIONTOKEN"),
            "SETACL": _acl_op("set", "SETACL"), "MODIFYACLENTRIES": _acl_op("modify", "MODIFYACLENTRIES"),
            "REMOVEACLENTRIES": _acl_op("remove", "REMOVEACLENTRIES"),
            "REMOVEDEFAULTACL": _acl_op("nodefault", "REMOVEDEFAULTACL"), "REMOVEACL": _acl_op("none", "REMOVEACL"),
            "ALLOWSNAPSHOT": op_allowsnapshot, "DISALLOWSNAPSHOT": op_disallowsnapshot,
            "CREATESNAPSHOT": op_createsnapshot, "RENAMESNAPSHOT": op_renamesnapshot},
    "POST": {"APPEND": op_append},
    "DELETE": {"DELETE": op_delete, "DELETESNAPSHOT": op_deletesnapshot},
}
_READS = {"OPEN", "GETFILESTATUS", "LISTSTATUS", "GETCONTENTSUMMARY", "GETFILECHECKSUM", "GETHOMEDIRECTORY",
          "GETTRASHROOT", "GETDELEGATIONTOKEN", "GETACLSTATUS"}


def _no_enum(method: str, op: str) -> HdfsError:
    """What Hadoop answers for an op name its enum for ``method`` does not hold."""
    enum = _ENUM.get(method, "GetOpParam")
    return bad_param("op", f"No enum constant org.apache.hadoop.hdfs.web.resources.{enum}.Op.{op}")


def namenode(req: Request) -> Answer:
    """Dispatch one NameNode request: op, user, then the op itself."""
    op = (req.params.raw.get("op") or "NULL").upper()
    if op not in KNOWN.get(req.method, set()):
        raise _no_enum(req.method, op)
    if op == "NULL":
        raise HdfsError("UnsupportedOperationException", "op=NULL is not supported")
    fn = NAMENODE[req.method].get(op)
    if fn is None:
        raise HdfsError("UnsupportedOperationException", f"op={op} is not supported by this sandbox")
    user = req.params.text("user.name", USER_PATTERN)
    if user is None and op not in _READS:
        norm = req.ns.locate(req.path).norm
        raise HdfsError("AccessControlException", f"Permission denied: user={ANONYMOUS}, access=WRITE, "
                        f"inode={req.ns.inode_text(norm)}")
    req.user = user or ANONYMOUS
    return fn(req)


# ---------------------------------------------------------------------- DataNode
def datanode(req: Request) -> Answer:
    """The DataNode end of OPEN, CREATE, APPEND and GETFILECHECKSUM."""
    op = (req.params.raw.get("op") or "NULL").upper()
    user = req.params.text("user.name", USER_PATTERN) or ANONYMOUS
    p = req.params
    if (req.method, op) == ("GET", "OPEN"):
        loc = req.ns.readable_file(req.path, user)
        offset, length = _offsets(req)
        if offset > loc.real.stat().st_size:
            raise HdfsError("IOException", "Cannot seek after EOF")
        with loc.real.open("rb") as fh:
            fh.seek(offset)
            return Answer(200, fh.read() if length is None else fh.read(length))
    if (req.method, op) == ("GET", "GETFILECHECKSUM"):
        return json({"FileChecksum": req.ns.checksum(req.path, user)})
    if (req.method, op) == ("PUT", "CREATE"):
        loc = req.ns.create(req.path, user, req.body, overwrite=p.boolean("overwrite"), permission=p.permission(),
                            replication=p.number("replication", "short"), block_size=p.number("blocksize", lo=1),
                            client=req.client)
        return Answer(201, None, {"Location": f"hdfs://{req.base_url.split('://', 1)[1]}{loc.norm}"})
    if (req.method, op) == ("POST", "APPEND"):
        req.ns.append(req.path, user, req.body, req.client)
        return Answer(200)
    raise _no_enum(req.method, op)
