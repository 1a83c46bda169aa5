"""A local stand-in of an HDFS cluster's WebHDFS REST API (NameNode + one "DataNode" on one server).

Follows ``shared/specs/storage.md`` (Apache Hadoop 3's WebHDFS REST API, security off); imports nothing
else of jupyter_compute. HdfsCLI's ``hdfs.InsecureClient(sb.base_url, user="alice")`` and fsspec's
``WebHDFS(host="127.0.0.1", port=sb.port, user="alice")`` work against it unchanged
(``tests/test_client_webhdfs.py`` drives every operation of both).

What it refuses (each row is a case of ``tests/test_sandbox_webhdfs.py::test_refusals[<id>]``, or of
``test_refusals_answered_false[<id>]`` where the answer is ``{"boolean": false}``)
---------------------------------------------------------------------------------------------------
Errors are ``{"RemoteException": {"exception", "javaClassName", "message"}}`` worded as Hadoop words
them; statuses follow Hadoop's ExceptionHandler: FileNotFoundException 404, bad arguments 400, any
other IOException (AccessControl, FileAlreadyExists, Acl, Snapshot …) 403. As on a real cluster, the
NameNode only parses CREATE's parameters and redirects: the DataNode's create (step two) is what refuses
an existing file, a folder, a file as parent, a bad replication or block size; OPEN and
GETFILECHECKSUM of a folder pass the NameNode too and are refused by the DataNode.

=====================================================================  ======  ===============================
request                                                                answer  id
=====================================================================  ======  ===============================
op Hadoop does not know for that method (``No enum constant …``)       400     ``unknown-op`` ``unknown-op-put``
known op sent with another method (GET ``MKDIRS``)                     400     ``op-wrong-method``
no ``op``                                                              400     ``op-missing``
an op Hadoop knows but the sandbox does not implement (XATTRs …)       400     ``op-not-in-sandbox``
``user.name`` not a user name                                          400     ``bad-user-name``
a write (PUT/POST/DELETE op) without ``user.name`` (``dr.who``)        403     ``anonymous-write``
a path component with ``:`` (or ``.``/``..``)                          400     ``bad-path``
a missing path: GETFILESTATUS, LISTSTATUS, OPEN, GETFILECHECKSUM,      404     ``missing-status`` ``missing-list``
GETCONTENTSUMMARY, GETACLSTATUS, SETPERMISSION, SETOWNER, SETTIMES,            ``missing-open`` ``missing-checksum``
APPEND                                                                         ``missing-summary`` ``missing-acl``
                                                                               ``missing-setpermission``
                                                                               ``missing-setowner``
                                                                               ``missing-settimes`` ``missing-append``
OPEN, GETFILECHECKSUM of a folder (by the DataNode)                   404     ``open-folder`` ``checksum-folder``
APPEND to a folder                                                     403     ``append-folder``
CREATE of an existing file without ``overwrite=true``                  403     ``create-exists``
CREATE over a folder                                                   403     ``create-over-folder``
CREATE / MKDIRS below a file                                           403     ``create-under-file``
                                                                               ``mkdirs-under-file``
MKDIRS over a file                                                     403     ``mkdirs-over-file``
DELETE of a non-empty folder without ``recursive=true``                403     ``delete-non-empty``
RENAME into its own subtree; RENAME of ``/``                           403     ``rename-under-itself`` ``rename-root``
RENAME without ``destination``, or a relative one                      400     ``rename-no-destination``
                                                                               ``rename-relative-destination``
RENAME onto an existing file, of a missing source, into a missing      false   ``rename-onto-file``
folder                                                                         ``rename-missing-source``
                                                                               ``rename-missing-parent``
DELETE of a missing path, or of ``/``                                  false   ``delete-missing`` ``delete-root``
SETREPLICATION of a folder or a missing path                           false   ``setreplication-folder``
                                                                               ``setreplication-missing``
``permission`` not octal, or above 1777                                400     ``bad-permission-octal``
                                                                               ``permission-out-of-range``
a boolean that is not true/false; a number that is not one or is       400     ``bad-boolean`` ``bad-length``
below its minimum (offset, length, replication …)                              ``negative-offset`` ``bad-replication``
OPEN ``offset`` at or past the end of a non-empty file                403     ``offset-beyond-end``
replication below 1 or above 512 (SETREPLICATION, CREATE)              403     ``replication-zero``
                                                                               ``replication-too-high``
CREATE ``blocksize`` below 1 MiB                                       403     ``small-blocksize``
SETPERMISSION / ACL change by someone other than the owner             403     ``not-owner-setpermission``
(superuser ``hdfs`` excepted)                                                  ``not-owner-setacl``
SETOWNER: a new owner by a non-superuser; a group the user is not in;  403     ``setowner-not-super``
neither owner nor group (400)                                                  ``setowner-foreign-group``
                                                                               ``setowner-empty``
``aclspec`` not matching Hadoop's pattern                              400     ``bad-aclspec``
an ACL without its user/group/other entries; a default ACL on a file   403     ``acl-without-base``
                                                                               ``default-acl-on-file``
ALLOWSNAPSHOT by a non-superuser, or on a file                         403     ``allow-snapshot-not-super``
                                                                               ``allow-snapshot-on-file``
CREATESNAPSHOT on a folder not snapshottable; a name taken;            403     ``snapshot-not-snapshottable``
DELETESNAPSHOT / RENAMESNAPSHOT of a missing snapshot                          ``duplicate-snapshot``
                                                                               ``delete-missing-snapshot``
                                                                               ``rename-missing-snapshot``
any change inside ``<dir>/.snapshot/<name>``                           403     ``write-in-snapshot``
``.snapshot`` as a name under a folder not snapshottable               400     ``reserved-snapshot-name``
DELETE of (a tree holding) a folder that has snapshots;                403     ``delete-snapshotted-folder``
DISALLOWSNAPSHOT while it has some                                             ``disallow-with-snapshots``
RENEW/CANCELDELEGATIONTOKEN (security off: no token exists);           403     ``renew-token``
without ``token`` (400)                                                        ``renew-token-missing``
=====================================================================  ======  ===============================

Users and permissions: the owner of a new path is its ``user.name``, its group the parent folder's
(HDFS's rule); ``hdfs`` is the superuser (and owns paths made outside the API, and ``/``, 755); each
user is in the group of its own name, ``hdfs`` also in ``supergroup``. Permission bits, owner, group,
replication, block size, times and ACLs are always kept and reported, and the owner/superuser rules
above always hold. Read/write/execute bits are checked only with ``WebHdfsSandbox(permissions=True)``
(``--permissions``; HDFS's ``dfs.permissions.enabled``), because with them on, as on a real cluster,
nobody but ``hdfs`` may create anything under ``/`` until it opens a folder. Then (each row a case of
``test_permission_checks[<id>]``; the superuser passes everything, ACL entries and their mask count):

=====================================================================  =========================================
needs                                                                  id
=====================================================================  =========================================
WRITE on the nearest existing folder above, for CREATE and MKDIRS      ``create-in-others-folder``
                                                                       ``mkdir-in-others-folder``
READ on the file: OPEN, GETFILECHECKSUM (and APPEND's look-up)         ``read-private-file``
                                                                       ``checksum-private-file``
WRITE on the file: APPEND, SETTIMES, SETREPLICATION, CREATE over it    ``group-may-not-write``
                                                                       ``settimes-without-write``
READ_EXECUTE on a folder to list it; on every folder to summarise it   ``list-private-folder``
                                                                       ``content-summary-private``
EXECUTE on every folder on the way                                     ``traverse-private-folder``
WRITE on the parent to DELETE or RENAME; ALL on a deleted subtree      ``delete-in-others-folder``
                                                                       ``rename-out-of-others-folder``
                                                                       ``delete-read-only-subtree``
in a sticky folder, only the entry's or the folder's owner             ``sticky-folder``
=====================================================================  =========================================

Metadata lives in memory: a restarted sandbox sees the files of ``root_dir`` with default owners.

Starting it
-----------
::

    from jupyter_compute.sandbox.webhdfs import WebHdfsSandbox
    with WebHdfsSandbox() as sb:          # or sb = WebHdfsSandbox().start() ... sb.stop()
        sb.host, sb.port                  # "127.0.0.1", PORT
        sb.url                            # "http://127.0.0.1:PORT/webhdfs/v1"
        sb.root_dir                       # the real folder holding HDFS "/"

    python -m jupyter_compute.sandbox.webhdfs --port 9870 [--root-dir DIR] [--permissions]  # Ctrl-C stops

``WebHdfsSandbox(root_dir=None, port=0, *, host="127.0.0.1", permissions=False)``: files live under ``root_dir`` (a temp
dir, removed on ``stop()``, when not given); HDFS path ``/a/b`` is ``root_dir/a/b``; snapshots are
copies kept in a temp dir of their own.

Routes
------
NameNode: ``/webhdfs/v1/<path>?op=<OP>&user.name=<user>[&…]`` (op names in any case)

=====================  ======  ========================================================================
op                     method  answer
=====================  ======  ========================================================================
GETFILESTATUS          GET     ``{"FileStatus": {accessTime, blockSize, childrenNum, fileId, group, length,
                               modificationTime, owner, pathSuffix: "", permission ("644", "1777"),
                               replication, storagePolicy, type: FILE|DIRECTORY[, aclBit][, snapshotEnabled]}}``
LISTSTATUS             GET     ``{"FileStatuses": {"FileStatus": [… pathSuffix = child name …]}}`` (a file
                               lists itself with ``pathSuffix`` "")
OPEN                   GET     307 ``Location: <datanode url>`` (``offset``/``length`` carried over);
                               ``noredirect=true`` → 200 ``{"Location": …}`` (so for every redirecting op)
GETFILECHECKSUM        GET     307 to the DataNode → ``{"FileChecksum": {"algorithm":
                               "MD5-of-0MD5-of-512CRC32C", "bytes": <28 bytes hex>, "length": 28}}`` —
                               HDFS's real value (see ``checksum.py``)
GETCONTENTSUMMARY      GET     ``{"ContentSummary": {directoryCount, fileCount, length, quota: -1,
                               spaceConsumed (length × replication), spaceQuota: -1, typeQuota: {}}}``
GETHOMEDIRECTORY       GET     ``{"Path": "/user/<user>"}``; GETTRASHROOT ``{"Path": "/user/<user>/.Trash"}``
GETACLSTATUS           GET     ``{"AclStatus": {entries: ["user:bob:rw-", "group::r-x", "default:…"], group,
                               owner, permission, stickyBit}}``
GETDELEGATIONTOKEN     GET     ``{"Token": null}`` (security off)
CREATE                 PUT     307 ``Location`` (parameters parsed, nothing else checked); ``overwrite``,
                               ``permission`` (default 644), ``replication`` (default 1), ``blocksize``
                               (default 128 MiB) carried to the DataNode, whose create checks them;
                               missing parents made with the file's mode + u+wx
MKDIRS                 PUT     ``{"boolean": true}``; ``permission`` (default 755) on the new folder,
                               its mode + u+wx on the implicit parents; existing folders unchanged
RENAME                 PUT     ``destination=<abs path>`` → ``{"boolean": …}`` (into an existing folder =
                               move inside it)
SETPERMISSION          PUT     ``permission`` (octal, sticky bit allowed) → 200 empty
SETOWNER               PUT     ``owner`` and/or ``group`` → 200 empty
SETREPLICATION         PUT     ``replication`` → ``{"boolean": true}`` (false: not a file)
SETTIMES               PUT     ``modificationtime`` / ``accesstime`` (ms, -1 = unchanged) → 200 empty
SETACL                 PUT     ``aclspec`` → 200 empty; also MODIFYACLENTRIES, REMOVEACLENTRIES,
                               REMOVEDEFAULTACL, REMOVEACL. Once an ACL has named entries the group bits
                               of ``permission`` are its mask; REMOVEACL gives the group entry back
ALLOWSNAPSHOT          PUT     200 empty (superuser only); also DISALLOWSNAPSHOT
CREATESNAPSHOT         PUT     ``[snapshotname]`` → ``{"Path": "/d/.snapshot/<name>"}``; read-only copy
                               readable at that path; RENAMESNAPSHOT ``oldsnapshotname``/``snapshotname``
APPEND                 POST    307 ``Location`` (404 ``File … not found.`` for a missing path)
DELETE                 DELETE  ``recursive`` → ``{"boolean": …}``; DELETESNAPSHOT ``snapshotname``
=====================  ======  ========================================================================

DataNode: ``/webhdfs/datanode/v1/<path>?op=OPEN|CREATE|APPEND|GETFILECHECKSUM&user.name=…`` — ``OPEN``
200 bytes (``offset``, ``length``), ``CREATE`` PUT body → 201 ``Location: hdfs://…`` (a new file: new
fileId, owner, attributes), ``APPEND`` POST body → 200, ``GETFILECHECKSUM`` → the JSON above. Hadoop
puts the DataNode on another port; here it shares the NameNode's.
"""
from __future__ import annotations

from .fs import BLOCK_SIZE, DEFAULT_REPLICATION, SUPERGROUP, SUPERUSER
from .params import HdfsError
from .server import DN_PREFIX, NN_PREFIX, WebHdfsSandbox, main

__all__ = ["BLOCK_SIZE", "DEFAULT_REPLICATION", "DN_PREFIX", "NN_PREFIX", "SUPERGROUP", "SUPERUSER", "HdfsError",
           "WebHdfsSandbox", "main"]
