"""POSIX ACLs the way HDFS keeps them: base entries live in the permission bits (the group bits hold
the mask once an ACL is extended); named entries, the unnamed group entry of an extended ACL and the
default ACL are stored beside them."""
from __future__ import annotations

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
    named = [e for e in stored if not e.default]
    group = next((e.perm for e in named if e.type == "group" and not e.name), None)
    out = [Entry(False, "user", "", symbol(permission >> 6 & 7))]
    out += [e for e in named if e.name or e.type != "group"]
    if group is None:
        out.append(Entry(False, "group", "", symbol(permission >> 3 & 7)))
    else:
        out += [Entry(False, "group", "", group), Entry(False, "mask", "", symbol(permission >> 3 & 7))]
    out.append(Entry(False, "other", "", symbol(permission & 7)))
    return out + [e for e in stored if e.default]


def _order(e: Entry) -> tuple[bool, int, bool, str]:
    return e.default, _TYPES.index(e.type), bool(e.name), e.name


def _with_mask(entries: list[Entry], default: bool, recompute: bool) -> list[Entry]:
    """Add (or recompute) the mask of one scope when it has named entries."""
    scope = [e for e in entries if e.default == default]
    if not scope:
        return entries
    if recompute or not any(e.type == "mask" for e in scope):
        entries = [e for e in entries if not (e.default == default and e.type == "mask")]
        if any(e.name for e in scope):
            union = 0
            for e in scope:
                if e.type == "group" or (e.type == "user" and e.name):
                    union |= bits(e.perm or "---")
            entries.append(Entry(default, "mask", "", symbol(union)))
    return entries


def _validate(entries: list[Entry], is_dir: bool) -> None:
    keys = [e.key for e in entries]
    if len(keys) != len(set(keys)):
        raise HdfsError("AclException", "Invalid ACL: multiple entries with same scope, type and name.")
    for default in (False, True):
        scope = {(e.type, e.name) for e in entries if e.default == default}
        if default and not scope:
            continue
        if not {("user", ""), ("group", ""), ("other", "")} <= scope:
            which = "default " if default else ""
            raise HdfsError("AclException", f"Invalid {which}ACL: the user, group and other entries are required.")
        if any(n for _, n in scope) and ("mask", "") not in scope:
            raise HdfsError("AclException", "Invalid ACL: mask is required and cannot be deleted.")
    if not is_dir and any(e.default for e in entries):
        raise HdfsError("AclException", "Invalid ACL: only directories may have a default ACL.")
    for e in entries:
        if e.type in ("mask", "other") and e.name:
            raise HdfsError("AclException", f"Invalid ACL: this entry type must not have a name: {e}.")


def store(permission: int, entries: list[Entry], is_dir: bool, recompute: bool) -> tuple[int, list[Entry]]:
    """New permission bits and stored entries for the whole ACL ``entries``."""
    entries = _with_mask(_with_mask(entries, False, recompute), True, recompute)
    _validate(entries, is_dir)
    entries.sort(key=_order)
    get = {e.key: e.perm or "---" for e in entries}
    extended = any(not e.default and e.name for e in entries)
    group = get[(False, "mask", "")] if extended else get[(False, "group", "")]
    new = (permission & 0o1000) | bits(get[(False, "user", "")]) << 6 | bits(group) << 3
    new |= bits(get[(False, "other", "")])
    kept = [e for e in entries if e.default or (extended and e.type != "mask" and (e.name or e.type == "group"))]
    return new, kept


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
