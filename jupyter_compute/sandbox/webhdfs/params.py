"""WebHDFS query parameters as a NameNode parses them, and its error type (``RemoteException``).

Every refusal of a bad parameter is a 400 ``IllegalArgumentException`` worded as Hadoop words it:
``Invalid value for webhdfs parameter "<name>": <why>``.
"""
from __future__ import annotations

import re

_JAVA = {
    "FileNotFoundException": "java.io.FileNotFoundException",
    "AccessControlException": "org.apache.hadoop.security.AccessControlException",
    "IllegalArgumentException": "java.lang.IllegalArgumentException",
    "HadoopIllegalArgumentException": "org.apache.hadoop.HadoopIllegalArgumentException",
    "UnsupportedOperationException": "java.lang.UnsupportedOperationException",
    "FileAlreadyExistsException": "org.apache.hadoop.fs.FileAlreadyExistsException",
    "ParentNotDirectoryException": "org.apache.hadoop.fs.ParentNotDirectoryException",
    "PathIsNotEmptyDirectoryException": "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
    "AclException": "org.apache.hadoop.hdfs.protocol.AclException",
    "SnapshotException": "org.apache.hadoop.hdfs.protocol.SnapshotException",
    "SnapshotAccessControlException": "org.apache.hadoop.hdfs.protocol.SnapshotAccessControlException",
    "InvalidPathException": "org.apache.hadoop.fs.InvalidPathException",
    "PathIsNotDirectoryException": "org.apache.hadoop.fs.PathIsNotDirectoryException",
    "InvalidToken": "org.apache.hadoop.security.token.SecretManager$InvalidToken",
    "IOException": "java.io.IOException",
}

# Hadoop's ExceptionHandler: FileNotFoundException 404, any other IOException 403, bad arguments 400.
_STATUS = {"FileNotFoundException": 404, "IllegalArgumentException": 400, "HadoopIllegalArgumentException": 400,
           "InvalidPathException": 400,
           "UnsupportedOperationException": 400}

USER_PATTERN = r"^[A-Za-z_][A-Za-z0-9._-]*[$]?$"
_ACL_ENTRY = r"(default:)?(user|group|mask|other):([A-Za-z_][A-Za-z0-9._-]*)?(:[rwx-]{3})?"
ACL_PATTERN = rf"^{_ACL_ENTRY}(,{_ACL_ENTRY})*$"


class HdfsError(Exception):
    """A refusal, answered as ``{"RemoteException": {exception, javaClassName, message}}``."""

    def __init__(self, exception: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.exception, self.message = exception, message
        self.status = status or _STATUS.get(exception, 403)

    def body(self) -> dict[str, dict[str, str]]:
        """The JSON body a NameNode sends for this error."""
        return {"RemoteException": {"exception": self.exception,
                                    "javaClassName": _JAVA.get(self.exception, "java.io.IOException"),
                                    "message": self.message}}


def bad_param(name: str, why: str) -> HdfsError:
    """The 400 a NameNode answers for a parameter it cannot parse."""
    return HdfsError("IllegalArgumentException", f'Invalid value for webhdfs parameter "{name}": {why}')


class Params:
    """The query arguments of one request, parsed on demand with Hadoop's rules and messages."""

    def __init__(self, raw: dict[str, str]) -> None:
        self.raw = raw

    def text(self, name: str, pattern: str | None = None) -> str | None:
        value = self.raw.get(name)
        if value in (None, "", "null"):
            return None
        if pattern and not re.match(pattern, value):
            raise bad_param(name, f'Invalid value: "{value}" does not belong to the domain {pattern}')
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            raise bad_param(name, f'Failed to parse "{value}" to Boolean.')
        return value.lower() == "true"

    def number(self, name: str, kind: str = "long", *, radix: int = 10, lo: int | None = None,
               hi: int | None = None) -> int | None:
        """An integer parameter (``kind`` short/integer/long as Hadoop names it), range-checked."""
        value = self.text(name)
        if value is None:
            return None
        try:
            number = int(value, radix)
        except ValueError:
            word = "integer" if kind == "integer" else f"{kind} integer"
            raise bad_param(name, f'Failed to parse "{value}" as a radix-{radix} {word}.') from None
        show = (lambda n: format(n, "o")) if radix == 8 else str
        if lo is not None and number < lo:
            raise bad_param(name, f"Invalid parameter range: {name} = {show(number)} < {show(lo)}")
        if hi is not None and number > hi:
            raise bad_param(name, f"Invalid parameter range: {name} = {show(number)} > {show(hi)}")
        return number

    def permission(self) -> int | None:
        """``permission``: octal, 0 to 1777."""
        return self.number("permission", "short", radix=8, lo=0, hi=0o1777)

    def required(self, name: str, op: str) -> str:
        value = self.text(name)
        if value is None:
            raise HdfsError("IllegalArgumentException", f"Required param {name} for op: {op} is null or empty")
        return value
