"""The Environments table and the Clusters view against live servers: the embedded local backend and a
ModelArts backend on its sandbox (pools and v1 clusters in every status the platform has).

The widgets live in the test process (ipywidgets works without a front end); a click is ``button.click()``
on the very button the browser shows (tests/ui/test_ui_pickers.py clicks them in JupyterLab).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from conftest import LiveServer, start_live_server
from IPython.core.formatters import DisplayFormatter

from jupyter_compute.backends.base import CLUSTER_MEANINGS
from jupyter_compute.backends.local import LocalBackend
from jupyter_compute.backends.modelarts.backend import ModelArtsBackend
from jupyter_compute.backends.ray.backend import RayBackend
from jupyter_compute.client import Client
from jupyter_compute.models import Cluster, Environment
from jupyter_compute.widgets import ClusterPicker, EnvironmentPicker
from jupyter_compute.widgets.environments_table import ENV_COLUMNS, sort_environments
from test_modelarts_server import ENV as MA_ENV
from test_modelarts_server import backend_config as ma_backend_config

TAGS = re.compile(r"<[^>]+>")


def text(markup: str) -> str:
    return html.unescape(TAGS.sub("", markup))


@pytest.fixture(scope="module")
def server(module_server: LiveServer) -> LiveServer:
    return module_server


@pytest.fixture
def client(server: LiveServer) -> Iterator[Client]:
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def ma_server(tmp_path_factory, modelarts, obs) -> Iterator[LiveServer]:
    """A live server with the local backend and a ModelArts backend "ma" on the sandbox (keys in its env only)."""
    mp = pytest.MonkeyPatch()
    for name, value in MA_ENV.items():
        mp.setenv(name, value)
    server = start_live_server(tmp_path_factory.mktemp("ma-pickers") / "jupyter",
                               backends={"local": {"kind": "local"}, "ma": ma_backend_config(modelarts.base_url, obs)})
    mp.undo()
    yield server
    server.stop()


@pytest.fixture
def ma_client(ma_server: LiveServer) -> Iterator[Client]:
    with ma_server.client() as c:
        yield c


def env(id_: str, **kw) -> Environment:
    return Environment(id=id_, name=kw.pop("name", id_), backend=kw.pop("backend", "made-up"), **kw)


MADE_UP = [
    env("small", cpus=2, memory_gb=4, disk_gb=20, price=0.1, gpus=0, max_jobs=4, running_jobs=1),
    env("ascend", name="a very long environment name that must wrap, never be cut", cpus=192, memory_gb=1536,
        gpus=8, gpu_type="Ascend 910B", disk_gb=3000, price=41.5, max_jobs=2, running_jobs=2),
    env("t4", backend="another", cpus=8, memory_gb=32, gpus=1, gpu_type="NVIDIA T4", disk_gb=100, price=1.2,
        max_jobs=10, running_jobs=0),
    env("mystery"),
]


def row_texts(picker: EnvironmentPicker) -> list[list[str]]:
    """The rows as the table shows them now, in order (the texts of the cells after the mark)."""
    return [[cell.description for cell in row.children[1:]] for row in picker.table.children[1:]]


def marked_rows(picker: EnvironmentPicker) -> list[str]:
    return [row.children[2].description for row in picker.table.children[1:] if "jc-selected" in row._dom_classes]


# --- environments ---------------------------------------------------------------------------------


def sorted_by_heading(picker: EnvironmentPicker, key: str, descending: bool) -> list[list[str]]:
    """Click the heading of column ``key`` until the table sorts by it in that direction; the rows shown."""
    heading = picker.table.headings[key]
    for _ in range(2):
        if (picker.table.sort_by, picker.table.descending) != (key, descending):
            heading.click()
    assert (picker.table.sort_by, picker.table.descending) == (key, descending)
    arrows = {k: h.description[len(c.heading):] for (k, h), c in zip(picker.table.headings.items(), ENV_COLUMNS,
                                                                      strict=True)}
    assert arrows == {k: (" ▼" if descending else " ▲") if k == key else "" for k in arrows}
    assert "jc-sorted" in heading._dom_classes
    return row_texts(picker)


def test_every_column_sorts_both_ways_from_its_heading(client):
    picker = EnvironmentPicker(client)
    picker.environments = [*picker.environments, *MADE_UP]
    for column in ENV_COLUMNS:
        for descending in (False, True):
            expected = sort_environments(picker.environments, column.key, descending)
            rows = sorted_by_heading(picker, column.key, descending)
            assert rows == [[c.text(e) for c in ENV_COLUMNS] for e in expected], column.key
            if column.sort(MADE_UP[3]) is None:  # unknown values last whichever the direction
                assert rows[-1][1] == "mystery"
    picker.close()


def test_filter_keeps_rows_with_every_word_and_the_choice(client):
    picker = EnvironmentPicker(client)
    (local,) = picker.environments
    picker.environments = [local, *MADE_UP]
    picker.table.rows[("local", "local")].children[3].click()  # a click on the CPUs cell of the local row
    assert picker.value == "local" and picker.environment.cpus == local.cpus
    picker.filter.value = "ascend 910b"
    assert [r[1] for r in row_texts(picker)] == ["a very long environment name that must wrap, never be cut"]
    picker.filter.value = "made-up"
    assert sorted(r[1] for r in row_texts(picker)) == ["a very long environment name that must wrap, never be cut",
                                                       "mystery", "small"]
    assert picker.value == "local" and marked_rows(picker) == []  # chosen, filtered out
    assert "chosen: This machine" in text(picker.details.value)
    picker.filter.value = ""
    assert len(row_texts(picker)) == 5 and marked_rows(picker) == ["This machine"]
    picker.close()


def test_nothing_is_cut(client):
    picker = EnvironmentPicker(client)
    picker.environments = [*picker.environments, *MADE_UP]
    assert [picker.table.cells(e) for e in picker.environments] == [
        [c.text(e) for c in ENV_COLUMNS] for e in picker.environments]
    long_row = picker.table.cells(MADE_UP[1])
    assert "8 × Ascend 910B" in long_row and MADE_UP[1].name in long_row
    assert "…" not in "".join(cell for row in row_texts(picker) for cell in row)
    assert "…" not in picker._repr_html_() and "8 × Ascend 910B" in text(picker._repr_html_())
    picker.close()


def test_a_click_on_a_row_chooses_it_and_marks_only_it(client):
    picker = EnvironmentPicker(client)
    picker.environments = [*picker.environments, *MADE_UP]
    seen = []
    picker.observe(lambda change: seen.append(change["new"]), "value")
    picker.table.rows[("another", "t4")].children[1].click()
    assert picker.value == "t4" and seen == ["t4"] and picker.environment.gpu_type == "NVIDIA T4"
    assert marked_rows(picker) == ["t4"]
    assert [row.children[0].description for row in picker.table.children[1:]].count("✓") == 1
    picker.choose("small", backend="made-up")
    assert marked_rows(picker) == ["small"] and "chosen: small" in text(picker.details.value)
    picker.close()


def test_environments_of_a_platform_fill_the_table(ma_client):
    picker = EnvironmentPicker(ma_client)
    ma = [e for e in picker.environments if e.backend == "ma"]
    assert ma and {e.backend for e in picker.environments} == {"local", "ma"}
    npu = next(e for e in ma if e.gpus and "snt9" in (e.gpu_type or ""))
    cells = picker.table.cells(npu)
    assert f"{npu.gpus} × {npu.gpu_type}" in cells and npu.name in cells
    assert len(row_texts(picker)) == len(picker.environments)
    picker.close()


# --- clusters -------------------------------------------------------------------------------------


def cluster_rows(picker: ClusterPicker) -> list:
    return [w for w in picker.rows.children if "jc-cluster-row" in w._dom_classes]


def card_of(picker: ClusterPicker, cluster_id: str):
    for (cluster, _), row in zip(picker._buttons, cluster_rows(picker), strict=True):
        if cluster.id == cluster_id:
            return row.children[1].children[0]
    raise AssertionError(f"no card for {cluster_id}")


def test_each_backend_says_what_its_statuses_mean(tmp_path):
    for backend in (LocalBackend("local", data_dir=tmp_path),):
        assert backend.cluster_meaning("running") == "healthy"
    assert set(ModelArtsBackend.cluster_status_meanings.values()) == {"healthy", "busy", "failing"}
    for table in (LocalBackend.cluster_status_meanings, RayBackend.cluster_status_meanings,
                  ModelArtsBackend.cluster_status_meanings):
        assert set(table.values()) <= set(CLUSTER_MEANINGS) and all(k == k.lower() for k in table)
    assert LocalBackend("local", data_dir=tmp_path).cluster_meaning("Frozen solid") == "unknown"


def test_the_server_says_what_each_modelarts_status_means(ma_client):
    health = {c.name: c.health for c in ma_client.clusters("ma")}
    # v1 clusters (running, deploying, abnormal, concerning) and v2 pools (Running)
    assert health == {"infer-cpu-prod": "healthy", "infer-gpu-batch": "busy", "edge-gateway": "failing",
                      "ascend-serving": "busy", "analytics-small": "healthy", "cpu-pool": "healthy",
                      "gpu-pool": "healthy", "npu-pool": "healthy", "mixed-pool": "healthy"}


@pytest.fixture
def ma_clusters(ma_client) -> Iterator[tuple[ClusterPicker, dict[str, Cluster]]]:
    """The Clusters view of the ModelArts server, and its clusters by name."""
    picker = ClusterPicker(ma_client)
    yield picker, {c.name: c for c in picker.clusters if c.backend == "ma"}
    picker.close()


def test_clusters_are_grouped_by_backend(ma_clusters):
    picker, ma = ma_clusters
    headings = [text(w.value) for w in picker.rows.children if "jc-cluster-heading" in w._dom_classes]
    assert headings == ["local 1 cluster", f"ma {len(ma)} clusters"]
    kinds = ["heading" if "jc-cluster-heading" in w._dom_classes else "row" for w in picker.rows.children]
    assert kinds == ["heading", "row", "heading"] + ["row"] * len(ma)


def test_status_colour_follows_its_meaning(ma_clusters):
    picker, ma = ma_clusters
    abnormal = card_of(picker, ma["edge-gateway"].id)
    assert "jc-health-failing" in abnormal._dom_classes and "var(--jp-error-color1" in abnormal.value
    assert "● abnormal" in text(abnormal.value)
    assert "jc-health-busy" in card_of(picker, ma["infer-gpu-batch"].id)._dom_classes
    assert "var(--jp-warn-color1" in card_of(picker, ma["ascend-serving"].id).value
    assert "jc-health-healthy" in card_of(picker, ma["cpu-pool"].id)._dom_classes


def test_the_name_is_shown_the_id_on_hover_and_absent_resources_left_out(ma_clusters):
    picker, ma = ma_clusters
    pool = ma["cpu-pool"]
    card = card_of(picker, pool.id).value
    assert f'title="ma/{pool.id}"' in card and pool.id not in text(card) and "cpu-pool" in text(card)
    assert pool.gpus == 0 and "GPU" not in text(card) and "CPU free" in text(card)
    gpu_pool = ma["gpu-pool"]
    gpu_line = f"{gpu_pool.gpus_allocatable} / {gpu_pool.gpus} GPU ({gpu_pool.gpu_type}) free"
    assert gpu_line in text(card_of(picker, gpu_pool.id).value)
    v1_card = card_of(picker, ma["infer-cpu-prod"].id).value  # v1 clusters report only what is free
    assert "30.5 CPU free" in text(v1_card) and "reports only what is free" in v1_card
    assert "/ 0 " not in "".join(text(card_of(picker, c.id).value) for c in ma.values())


def marks(picker: ClusterPicker) -> dict[str, list[str]]:
    """Which clusters look chosen: by their row's mark, their button's state, and its label."""
    rows = dict(zip((c.id for c, _ in picker._buttons), cluster_rows(picker), strict=True))
    return {
        "row": [cid for cid, row in rows.items() if "jc-selected" in row._dom_classes],
        "pressed": [c.id for c, b in picker._buttons if b.value],
        "says chosen": [c.id for c, b in picker._buttons if b.description == "chosen" and b.icon == "check"],
    }


def test_only_the_chosen_cluster_is_marked(ma_clusters):
    picker, ma = ma_clusters
    assert marks(picker) == {"row": [], "pressed": [], "says chosen": []}
    assert {b.description for _, b in picker._buttons} == {"choose"}
    pool = ma["cpu-pool"]
    {c.id: b for c, b in picker._buttons}[pool.id].value = True  # a click on its toggle
    assert picker.value == pool.id and picker.cluster.name == "cpu-pool"
    assert marks(picker) == {"row": [pool.id], "pressed": [pool.id], "says chosen": [pool.id]}
    other = ma["infer-cpu-prod"]
    picker.choose(other.id)
    assert marks(picker) == {"row": [other.id], "pressed": [other.id], "says chosen": [other.id]}


def test_an_unknown_status_is_grey_and_the_list_is_observable(client):
    picker = ClusterPicker(client)
    (local,) = picker.clusters
    assert local.health == "healthy" and "jc-health-healthy" in card_of(picker, "localhost")._dom_classes
    assert local.gpus is None and "GPU" not in text(card_of(picker, "localhost").value)
    heard = []
    picker.observe(lambda change: heard.append([c.id for c in change["new"]]), "clusters")
    odd = Cluster(id="odd-one", name="odd", backend="elsewhere", status="Hibernating", cpus=4, cpus_allocatable=4)
    picker.clusters = [local, odd]
    assert heard == [["localhost", "odd-one"]]
    card = card_of(picker, "odd-one")
    assert "jc-health-unknown" in card._dom_classes and "● Hibernating" in text(card.value)
    assert "var(--jp-ui-font-color2" in card.value
    picker.choose("localhost")
    picker.refresh()  # the server's list again: heard, the choice kept
    assert heard[-1] == ["localhost"] and picker.cluster is not None and picker.cluster.id == "localhost"
    picker.close()


def test_static_fallbacks_and_reprs(ma_client):
    formatter = DisplayFormatter()
    environments, clusters = EnvironmentPicker(ma_client), ClusterPicker(ma_client)
    clusters.choose("localhost")
    for widget, words in ((environments, ["<table", "This machine", "CPUs", "×"]),
                          (clusters, ["<table", "edge-gateway", "● abnormal</span> (failing)", "✓", "CPU free"])):
        data, _ = formatter.format(widget)
        assert "application/vnd.jupyter.widget-view+json" in data
        for word in words:
            assert word in data["text/html"], (type(widget).__name__, word)
        assert "…" not in data["text/html"]
        assert data["text/plain"] == repr(widget)
    assert repr(clusters).startswith("<ClusterPicker all backends: ") and "chosen 'localhost'" in repr(clusters)
    assert repr(environments).startswith("<EnvironmentPicker all backends: ")
    environments.close()
    clusters.close()
