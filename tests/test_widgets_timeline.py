"""The job timeline and the capacity chart against a real `jupyter server`: bars follow jobs live.

Widgets run in the test process without a kernel (ipywidgets works without a comm). Every test has
its own server (two local backends, ``local`` and ``batch``), so a timeline sees only its test's jobs.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from conftest import LiveServer, start_live_server
from conftest import wait_for as poll

from jupyter_compute.client import Client
from jupyter_compute.models import Cluster, JobState
from jupyter_compute.widgets import CapacityChart, ComputePanel, JobTimeline
from jupyter_compute.widgets._util import state_colour
from jupyter_compute.widgets.timeline import BLOCK

TIMEOUT = 120.0
wait_for = functools.partial(poll, timeout=TIMEOUT, every=0.05)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = start_live_server(tmp_path / "jupyter", backends={"local": {"kind": "local", "max_jobs": 4},
                                                             "batch": {"kind": "local", "max_jobs": 4}})
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[Client]:
    with server.client() as client:
        yield client


@pytest.fixture
def timeline(client: Client) -> Iterator[JobTimeline]:
    made = JobTimeline(client)
    yield made
    made.close()


def bar_state(timeline: JobTimeline, job_id: str) -> str | None:
    bar = timeline.bar(job_id)
    return bar.state if bar is not None else None


def mark_data(timeline: JobTimeline) -> list[tuple[np.ndarray, np.ndarray, list[str]]]:
    """Every mark's arrays, copied."""
    return [(np.array(m.x), np.array(m.y), list(m.colors)) for m in timeline.figure.marks]


def test_bar_grows_while_running_and_freezes_in_the_end_colour(client, timeline):
    assert timeline.job_ids == [] and "no jobs" in timeline._repr_html_()
    job = client.submit(command="sleep 5", name="grows")
    wait_for(lambda: bar_state(timeline, job.id) == "RUNNING", "the job's bar to show it running")
    first = timeline.bar(job.id)
    assert first is not None and first.started is not None and first.colour == state_colour("RUNNING")
    assert first.created <= first.started <= first.end
    ticks = timeline.ticks
    wait_for(lambda: (timeline.ticks > ticks and (timeline.bar(job.id) or first).end > first.end)
             or bar_state(timeline, job.id) == "SUCCEEDED", "the running bar's end to grow")
    assert timeline.bar(job.id).end > first.end, "the bar grew while the job ran"

    wait_for(lambda: bar_state(timeline, job.id) == "SUCCEEDED", "the bar to show the job succeeded")
    done = timeline.bar(job.id)
    finished = client.job(job.id).finished
    assert done.colour == state_colour("SUCCEEDED") and done.end == finished
    ticks = timeline.ticks
    other = client.submit(command="sleep 30", name="keeps the ticks going")
    wait_for(lambda: timeline.ticks >= ticks + 2, "two more ticks while another job runs")
    assert timeline.bar(job.id) == done, "an ended job's bar no longer moves"
    client.cancel(other.id)


def test_bars_grouped_by_backend_and_deleted_bar_removed(client, timeline):
    jobs = [client.submit(command="true", name=f"j{i}", backend=backend)
            for i, backend in enumerate(["local", "batch", "local", "batch", "local"])]
    for job in jobs:
        wait_for(lambda job=job: bar_state(timeline, job.id) == "SUCCEEDED", "every job's bar, ended")
    for backend in ("local", "batch"):
        first, last = timeline.band(backend)
        rows = {timeline.bar(j.id).row for j in jobs if j.backend == backend}
        assert rows and all(first <= row <= last for row in rows), f"{backend}'s bars lie in its band"
    local, batch = timeline.band("local"), timeline.band("batch")
    assert local[0] > batch[1], "bands do not overlap (batch first: name order)"
    labels = set(timeline.y_axis.tick_labels.values())
    assert labels == {"local", "batch"}, "each band is labelled with its backend"

    svg = timeline._repr_html_()
    assert svg.count('class="jc-tl-bar"') == len(jobs), "the static fallback has one bar per job"
    assert ">local<" in svg and ">batch<" in svg

    gone = jobs[1]
    client.delete(gone.id)
    wait_for(lambda: timeline.bar(gone.id) is None, "the deleted job's bar to go")
    assert gone.id not in timeline.job_ids
    assert timeline._repr_html_().count('class="jc-tl-bar"') == len(jobs) - 1
    assert all(timeline.bar(j.id) is not None for j in jobs if j is not gone), "the others stay"


def test_one_change_of_many_touches_only_its_entries(client, timeline):
    jobs = [client.submit(command="true", name=f"many-{i}") for i in range(BLOCK + 6)]
    for job in jobs:
        wait_for(lambda job=job: bar_state(timeline, job.id) == "SUCCEEDED", "every job's bar, ended")
    timeline.flush()
    marks = list(timeline.figure.marks)
    assert len(marks) == 4, "two blocks of bars: two marks each"
    before = mark_data(timeline)
    updates = timeline.updates

    # a later state of one job, as an event brings it (the server said FAILED a second later)
    target = client.job(jobs[3].id)
    changed = dataclasses.replace(target, state=JobState.FAILED, finished=target.finished + timedelta(seconds=1),
                                  updated=target.updated + timedelta(seconds=1))
    timeline.on_job(changed)
    wait_for(lambda: timeline.updates > updates, "the change to be sent")
    assert all(a is b for a, b in zip(marks, timeline.figure.marks, strict=True)), "the marks were kept (in place)"
    after = mark_data(timeline)
    slot = timeline._slot[target.id]
    block, index = divmod(slot, BLOCK)
    for m, ((x0, y0, c0), (x1, y1, c1)) in enumerate(zip(before, after, strict=True)):
        others = [i for i in range(len(x0)) if not (m // 2 == block and i == index)]
        assert len(x1) == len(x0) and np.array_equal(x0[others], x1[others]), "other bars' times unchanged"
        assert np.array_equal(y0[others], y1[others]), "other bars' rows unchanged"
        assert [c0[i] for i in others] == [c1[i] for i in others], "other bars' colours unchanged"
    running_x, _, running_colours = after[2 * block + 1]
    assert running_colours[index] == state_colour("FAILED") != before[2 * block + 1][2][index], "its colour changed"
    assert running_x[index][1] > before[2 * block + 1][0][index][1], "its end moved"
    assert timeline.bar(target.id).colour == state_colour("FAILED")
    assert timeline.bar(target.id).end == changed.finished
    assert re.search(r"<JobTimeline all backends: \d+ jobs>", repr(timeline))


def _cluster(**kwargs) -> Cluster:
    return Cluster(**{"id": "c", "name": "c", "backend": "x", **kwargs})


def test_capacity_chart_used_and_free_per_resource():
    gpu_pool = _cluster(id="gpu-pool", name="gpu pool", backend="ocean", cpus=64, cpus_allocatable=16,
                        memory_gb=256, memory_gb_allocatable=200, gpus=8, gpus_allocatable=2, gpu_type="A100",
                        nodes=4, nodes_available=1)
    cpu_only = _cluster(id="cpu-only", name="cpu box", backend="local", cpus=8, cpus_allocatable=8, gpus=0,
                        memory_gb=16, memory_gb_allocatable=None)
    chart = CapacityChart([gpu_pool, cpu_only])
    try:
        rows = {(r.cluster, r.resource): r for r in chart.rows}
        assert set(rows) == {("gpu pool", "CPU"), ("gpu pool", "memory"), ("gpu pool", "GPU"), ("gpu pool", "nodes"),
                             ("cpu box", "CPU"), ("cpu box", "memory")}, "resources a cluster lacks are left out"
        assert rows[("gpu pool", "GPU")].used == 6 and rows[("gpu pool", "GPU")].free == 2
        assert rows[("gpu pool", "CPU")].text == "48 used · 16 free of 64 CPU"
        assert rows[("cpu box", "memory")].text == "16 GB (free: unknown)"
        # the figure: one bar per row, stacked used / free / unknown shares
        assert len(chart.bars.x) == len(chart.rows) == 6 and chart.bars.y.shape == (3, 6)
        gpu = next(i for i, label in enumerate(chart.bars.x) if label.startswith("gpu pool · GPU"))
        assert list(chart.bars.y[:, gpu]) == [75.0, 25.0, 0.0]
        assert not any("cpu box · GPU" in label for label in chart.bars.x)
        assert chart.rows[0].backend == "local", "grouped by backend"
        page = chart._repr_html_()
        assert page.count('class="jc-capacity-bar"') == 6 and "6 used · 2 free of 8 GPU (A100)" in page

        bars = chart.bars
        chart.set_clusters([cpu_only])
        assert chart.bars is bars and len(bars.x) == 2, "refreshed in place"
        chart.set_clusters([])
        assert chart.rows == [] and "no clusters" in chart._repr_html_() and chart.figure.layout.display == "none"
        assert repr(chart) == "<CapacityChart: 0 clusters, 0 bars>"
    finally:
        chart.close()


def test_panel_places_the_timeline_and_the_capacity_chart(client):
    panel = ComputePanel(client)
    try:
        assert type(panel.monitor).__name__ == "JobMonitor" and type(panel.clusters).__name__ == "ClusterPicker"
        assert isinstance(panel.timeline, JobTimeline) and isinstance(panel.capacity, CapacityChart)
        assert panel.capacity.rows and {r.resource for r in panel.capacity.rows} >= {"CPU", "memory"}
        assert "GPU" not in {r.resource for r in panel.capacity.rows}, "the local machine has no GPU"
        bars = panel.capacity.bars
        panel.clusters.refresh()
        wait_for(lambda: panel.capacity.rows, "the chart to follow the refreshed cluster list")
        assert panel.capacity.bars is bars
        job = client.submit(command="true", name="in the panel")
        wait_for(lambda: panel.timeline.bar(job.id) is not None, "the panel's timeline to show the job")
        page = panel._repr_html_()
        assert 'class="jc-tl-bar"' in page and 'class="jc-capacity-bar"' in page
    finally:
        panel.close()
