"""POSIX ACLs the way HDFS keeps them: base entries live in the permission bits (the group bits hold
the mask once an ACL is extended); named entries, the unnamed group entry of an extended ACL and the
default ACL are stored beside them."""
from __future__ import annotations

import functools
import operator
from typing import NamedTuple

from .params import HdfsError

_TYPES = ("user", "group", "mask", "other")


class Entry(NamedTuple):
    """One ACL entry; ``perm`` is ``rwx``-style, or ``None`` in a removal spec."""

    default: bool
    type: str
    name: str
    perm: str | None

    @property
    def key(self) -> tuple[bool, str, str]:
        return self.default, self.type, self.name

    def __str__(self) -> str:
        text = f"{'default:' if self.default else ''}{self.type}:{self.name}"
        return text + (f":{self.perm}" if self.perm is not None else "")


def bits(perm: str) -> int:
    return (4 if perm[0] == "r" else 0) | (2 if perm[1] == "w" else 0) | (1 if perm[2] == "x" else 0)


def symbol(n: int) -> str:
    return ("r" if n & 4 else "-") + ("w" if n & 2 else "-") + ("x" if n & 1 else "-")


def mode_string(is_dir: bool, permission: int) -> str:
    """``drwxr-xr-x`` style, sticky bit as ``t``/``T``."""
    text = "".join(symbol(permission >> s & 7) for s in (6, 3, 0))
    if permission & 0o1000:
        text = text[:-1] + ("t" if text[-1] == "x" else "T")
    return ("d" if is_dir else "-") + text


def parse(spec: str, with_perm: bool = True) -> list[Entry]:
    """Entries of an ``aclspec`` (already matched against Hadoop's pattern)."""
    entries = []
    for text in spec.split(","):
        parts = text.split(":")
        default = parts[0] == "default"
        parts = parts[1:] if default else parts
        perm = parts[2] if len(parts) > 2 else None
        if with_perm and perm is None:
            raise HdfsError("HadoopIllegalArgumentException", f"Invalid <aclSpec> : {text}")
        entries.append(Entry(default, parts[0], parts[1] if len(parts) > 1 else "", perm if with_perm else None))
    return entries


def full(permission: int, stored: list[Entry]) -> list[Entry]:
    """The whole ACL of an inode: base entries from ``permission`` and the ``stored`` ones."""
    defaults = [e for e in stored if e.default]
    return [*_access_acl(permission, [e for e in stored if not e.default]), *defaults]


def _access_acl(permission: int, stored: list[Entry]) -> list[Entry]:
    """The access entries: owner, named ones, group (and mask), other."""
    unnamed_group = next((e.perm for e in stored if _is_unnamed_group(e)), None)
    return [
        Entry(False, "user", "", symbol(permission >> 6 & 7)),
        *[e for e in stored if not _is_unnamed_group(e)],
        *_group_entries(permission, unnamed_group),
        Entry(False, "other", "", symbol(permission & 7)),
    ]


def _is_unnamed_group(e: Entry) -> bool:
    return e.type == "group" and not e.name


def _group_entries(permission: int, unnamed_group: str | None) -> list[Entry]:
    """The group entry; in an extended ACL the group bits of ``permission`` are the mask instead."""
    group_bits = symbol(permission >> 3 & 7)
    if unnamed_group is None:
        return [Entry(False, "group", "", group_bits)]
    return [Entry(False, "group", "", unnamed_group), Entry(False, "mask", "", group_bits)]


def _order(e: Entry) -> tuple[bool, int, bool, str]:
    return e.default, _TYPES.index(e.type), bool(e.name), e.name


def _capped_by_mask(e: Entry) -> bool:
    """The group class: named users and every group entry."""
    return e.type == "group" or (e.type == "user" and bool(e.name))


def _mask(scope: list[Entry], default: bool) -> Entry:
    """A mask granting what the group class of ``scope`` is granted."""
    union = functools.reduce(operator.or_, (bits(e.perm or "---") for e in scope if _capped_by_mask(e)), 0)
    return Entry(default, "mask", "", symbol(union))


def _mask_due(scope: list[Entry], recompute: bool) -> bool:
    """Whether a scope's mask is to be (re)computed: it has entries and no mask, or ``recompute``."""
    return bool(scope) and (recompute or not any(e.type == "mask" for e in scope))


def _with_mask(entries: list[Entry], default: bool, recompute: bool) -> list[Entry]:
    """Add (or recompute) the mask of one scope when it has named entries."""
    scope = [e for e in entries if e.default == default]
    if not _mask_due(scope, recompute):
        return entries
    kept = [e for e in entries if not (e.default == default and e.type == "mask")]
    return [*kept, _mask(scope, default)] if any(e.name for e in scope) else kept


_BASE = frozenset({("user", ""), ("group", ""), ("other", "")})


def _check_unique(entries: list[Entry]) -> None:
    keys = [e.key for e in entries]
    if len(keys) != len(set(keys)):
        raise HdfsError("AclException", "Invalid ACL: multiple entries with same scope, type and name.")


def _check_scope(entries: list[Entry], default: bool) -> None:
    """The access (or a non-empty default) ACL has its base entries, and a mask when it has named ones."""
    scope = {(e.type, e.name) for e in entries if e.default == default}
    if default and not scope:
        return
    if not _BASE.issubset(scope):
        which = "default " if default else ""
        raise HdfsError("AclException", f"Invalid {which}ACL: the user, group and other entries are required.")
    if any(name for _, name in scope) and ("mask", "") not in scope:
        raise HdfsError("AclException", "Invalid ACL: mask is required and cannot be deleted.")


def _validate(entries: list[Entry], is_dir: bool) -> None:
    _check_unique(entries)
    _check_scope(entries, False)
    _check_scope(entries, True)
    if not is_dir and any(e.default for e in entries):
        raise HdfsError("AclException", "Invalid ACL: only directories may have a default ACL.")
    unnamed_only = next((e for e in entries if e.type in ("mask", "other") and e.name), None)
    if unnamed_only is not None:
        raise HdfsError("AclException", f"Invalid ACL: this entry type must not have a name: {unnamed_only}.")


def _permission_bits(permission: int, entries: list[Entry], extended: bool) -> int:
    """Owner, group (the mask when ``extended``) and other bits from the entries; the sticky bit kept."""
    perm = {e.key: e.perm or "---" for e in entries}
    group = perm[(False, "mask", "")] if extended else perm[(False, "group", "")]
    owner, other = bits(perm[(False, "user", "")]), bits(perm[(False, "other", "")])
    return (permission & 0o1000) | owner << 6 | bits(group) << 3 | other


def _stored(e: Entry, extended: bool) -> bool:
    """Kept beside the bits: the default ACL and, when extended, the named entries and the unnamed group."""
    return e.default or (extended and e.type != "mask" and (bool(e.name) or e.type == "group"))


def store(permission: int, entries: list[Entry], is_dir: bool, recompute: bool) -> tuple[int, list[Entry]]:
    """New permission bits and stored entries for the whole ACL ``entries``."""
    entries = _with_mask(_with_mask(entries, False, recompute), True, recompute)
    _validate(entries, is_dir)
    entries.sort(key=_order)
    extended = any(not e.default and e.name for e in entries)
    return _permission_bits(permission, entries, extended), [e for e in entries if _stored(e, extended)]


def modify(current: list[Entry], spec: list[Entry]) -> list[Entry]:
    """``current`` with the entries of ``spec`` added or replaced (a default ACL gets its base entries)."""
    merged = {e.key: e for e in current}
    merged.update({e.key: e for e in spec})
    if any(e.default for e in spec):
        for e in current:
            if not e.default and not e.name and (True, e.type, "") not in merged and e.type != "mask":
                merged[(True, e.type, "")] = Entry(True, e.type, "", e.perm)
    return list(merged.values())


def remove(current: list[Entry], spec: list[Entry]) -> list[Entry]:
    """``current`` without the entries ``spec`` names (permissions in ``spec`` are ignored)."""
    gone = {e.key for e in spec}
    return [e for e in current if e.key not in gone]
