"""Local files named in a spec: only under the folders the server shares, never the server's own files."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_compute.backends.base import Backend
from jupyter_compute.errors import InvalidSpec


@pytest.fixture
def shared(tmp_path: Path) -> tuple[Backend, Path, Path]:
    root, outside = tmp_path / "root", tmp_path / "elsewhere"
    for folder in (root, outside):
        folder.mkdir()
        (folder / "data.csv").write_text("x\n1\n")
    backend = Backend("b")
    backend.local_roots = (root.resolve(),)
    return backend, root, outside


def test_a_file_under_a_shared_folder_is_local(shared) -> None:
    backend, root, _ = shared
    assert backend.local_source(str(root / "data.csv"), field="inputs") == (root / "data.csv").resolve()
    assert backend.local_source(f"file://{root / 'data.csv'}", field="inputs") == (root / "data.csv").resolve()
    assert backend.local_source("data.csv", field="inputs") == (root / "data.csv").resolve(), "relative to the root"


def test_a_path_outside_is_a_platform_path_unless_it_can_only_be_local(shared) -> None:
    backend, _, outside = shared
    assert backend.local_source(str(outside / "data.csv"), field="inputs") is None
    assert backend.local_source("/bucket/key.csv", field="inputs") is None
    with pytest.raises(InvalidSpec) as refused:
        backend.local_source(f"file://{outside / 'data.csv'}", field="inputs")
    assert refused.value.field == "inputs" and "not a file this server shares" in refused.value.message
    with pytest.raises(InvalidSpec) as refused:
        backend.local_source(str(outside / "data.csv"), field="script", required=True)
    assert refused.value.field == "script"


@pytest.mark.parametrize("path", ["/proc/self/environ", "file:///proc/self/environ", "/dev/null", "../elsewhere/data.csv"])
def test_the_servers_own_files_are_never_read(shared, path: str) -> None:
    backend, _, _ = shared
    with pytest.raises(InvalidSpec):
        backend.local_source(path, field="script", required=True)
    unrooted = Backend("script-use")  # no server: any path but the system's own
    if "proc" in path or "dev" in path:
        with pytest.raises(InvalidSpec):
            unrooted.local_source(path, field="script", required=True)


def test_a_missing_file_is_named(shared) -> None:
    backend, root, _ = shared
    with pytest.raises(InvalidSpec, match="does not exist"):
        backend.local_source(f"file://{root / 'nope.csv'}", field="inputs")
    with pytest.raises(InvalidSpec, match="does not exist"):
        backend.local_source(str(root / "nope.csv"), field="script", required=True)


def test_hidden_folders_other_hosts_and_encoded_paths(shared) -> None:
    backend, root, _ = shared
    (root / ".ssh").mkdir()
    (root / ".ssh" / "id_rsa").write_text("private\n")
    (root / "my data.csv").write_text("x\n1\n")
    assert backend.local_source(str(root / ".ssh" / "id_rsa"), field="inputs") is None
    with pytest.raises(InvalidSpec, match="hidden"):
        backend.local_source(str(root / ".ssh" / "id_rsa"), field="script", required=True)
    with pytest.raises(InvalidSpec, match="another host"):
        backend.local_source(f"file://elsewhere{root / 'data.csv'}", field="inputs")
    assert backend.local_source(f"file://localhost{root / 'data.csv'}", field="inputs") == (root / "data.csv").resolve()
    encoded = f"file://{root}/my%20data.csv"
    assert backend.local_source(encoded, field="inputs") == (root / "my data.csv").resolve()
    with pytest.raises(InvalidSpec):
        backend.local_source("file://localhost/proc/self/environ", field="inputs")


def test_a_symbolic_link_is_judged_by_where_it_leads(shared) -> None:
    backend, root, outside = shared
    (root / "to-environ").symlink_to("/proc/self/environ")
    (root / "to-outside.csv").symlink_to(outside / "data.csv")
    (root / "to-inside.csv").symlink_to(root / "data.csv")
    for name in ("to-environ", "to-outside.csv"):
        with pytest.raises(InvalidSpec):
            backend.local_source(str(root / name), field="script", required=True)
    assert backend.local_source(str(root / "to-inside.csv"), field="inputs") == (root / "data.csv").resolve()
