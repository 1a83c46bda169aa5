"""HDFS's permission checker (``FSPermissionChecker``), used when the sandbox runs with
``permissions=True`` (``dfs.permissions.enabled``): traverse, ancestor, parent, path and subtree access,
POSIX ACLs with their mask, the sticky bit; the superuser passes everything."""
from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from . import acl as acls
from .params import HdfsError

if TYPE_CHECKING:
    from .fs import Inode, Loc, Namespace

ACTIONS = {"READ": 4, "WRITE": 2, "EXECUTE": 1, "READ_EXECUTE": 5, "ALL": 7}


class AccessChecker:
    """Checks one user's access to paths of a :class:`Namespace`; does nothing when not ``enforce``."""

    def __init__(self, ns: Namespace, enforce: bool) -> None:
        self.ns, self.enforce = ns, enforce

    def allowed(self, node: Inode, user: str, want: int) -> bool:
        """POSIX ACL order: owner, named user, groups (any entry granting), other; the mask caps the middle."""
        if user == node.owner:
            return _grants(node.permission >> 6, want)
        groups = self.ns.groups_of(user)
        named = [e for e in node.acl if not e.default]
        if named:
            return _acl_allows(node, named, user, groups, want)
        return _grants(node.permission >> 3 if node.group in groups else node.permission, want)

    def _text(self, loc: Loc) -> str:
        node = self.ns.inode(loc)
        return f'"{loc.norm}":{node.owner}:{node.group}:{acls.mode_string(loc.real.is_dir(), node.permission)}'

    def demand(self, loc: Loc, user: str, action: str) -> None:
        if not self.allowed(self.ns.inode(loc), user, ACTIONS[action]):
            raise HdfsError("AccessControlException",
                            f"Permission denied: user={user}, access={action}, inode={self._text(loc)}")

    def check(self, loc: Loc, user: str, *, access: str | None = None, parent: str | None = None,
              ancestor: str | None = None, sub: str | None = None) -> None:
        """``FSPermissionChecker.checkPermission``: EXECUTE on every folder above ``loc``, then ``ancestor``
        on the nearest existing one above it, ``parent`` on its parent, ``access`` on ``loc`` itself and
        ``sub`` on every non-empty folder of its subtree."""
        if not self.enforce or self.ns.is_super(user):
            return
        self._check_above(loc, user, parent, ancestor)
        if access and loc.real.exists():
            self.demand(loc, user, access)
        if sub and loc.real.is_dir():
            self._check_subtree(loc, user, sub)

    def _check_above(self, loc: Loc, user: str, parent: str | None, ancestor: str | None) -> None:
        """EXECUTE on the folders above ``loc``, ``ancestor`` on the nearest existing one, ``parent`` on its parent."""
        above = [self.ns.locate(p) for p in self._above(loc.norm)]
        existing = self._traverse(above, user)
        if ancestor and existing:
            self.demand(existing[-1], user, ancestor)
        if parent and above and above[-1].real.is_dir():
            self.demand(above[-1], user, parent)

    def _traverse(self, above: list[Loc], user: str) -> list[Loc]:
        """EXECUTE on each folder from the root down, to the first path that is not one; answer those folders."""
        existing = list(itertools.takewhile(lambda cur: cur.real.is_dir(), above))
        for cur in existing:
            self.demand(cur, user, "EXECUTE")
        return existing

    @staticmethod
    def _above(norm: str) -> list[str]:
        parts = [p for p in norm.split("/") if p]
        return ["/" + "/".join(parts[:i]) for i in range(len(parts))]

    def _check_subtree(self, loc: Loc, user: str, action: str) -> None:
        folders = [loc.real, *sorted(p for p in loc.real.rglob("*") if p.is_dir())]
        for real in folders:
            if any(real.iterdir()):
                rel = real.relative_to(loc.real).as_posix()
                self.demand(self.ns.locate(loc.norm if rel == "." else f"{loc.norm.rstrip('/')}/{rel}"), user, action)

    def sticky(self, loc: Loc, user: str) -> None:
        """In a sticky-bit folder only the folder's or the entry's owner may remove or rename an entry."""
        if not self.enforce or self.ns.is_super(user) or loc.norm == "/":
            return
        parent = self.ns.locate(loc.parent)
        pnode, node = self.ns.inode(parent), self.ns.inode(loc)
        if pnode.permission & 0o1000 and user not in (pnode.owner, node.owner):
            raise HdfsError("AccessControlException", f"Permission denied by sticky bit: user={user}, "
                            f"path={self._text(loc)}, parent={self._text(parent)}")


def _grants(granted: int, want: int) -> bool:
    """Whether ``granted`` holds every bit of ``want`` (an ``rwx`` triple)."""
    return granted & want == want


def _acl_allows(node: Inode, named: list[acls.Entry], user: str, groups: set[str], want: int) -> bool:
    """An extended ACL: the named user's entry, else the matching group entries, else other; masked."""
    mask = node.permission >> 3 & 7
    own = next((e for e in named if e.type == "user" and e.name == user), None)
    if own is not None:
        return _grants(acls.bits(own.perm or "---") & mask, want)
    matching = _group_grants(node, named, groups)
    if matching:
        return any(_grants(m & mask, want) for m in matching)
    return _grants(node.permission, want)


def _group_grants(node: Inode, named: list[acls.Entry], groups: set[str]) -> list[int]:
    """The bits of each group entry for one of ``groups`` (the unnamed one stands for the owning group)."""
    return [acls.bits(e.perm or "---") for e in named if e.type == "group" and _names_group(e, node, groups)]


def _names_group(e: acls.Entry, node: Inode, groups: set[str]) -> bool:
    return e.name in groups or (not e.name and node.group in groups)
