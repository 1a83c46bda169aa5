"""Kernels hand job inputs (files, DataFrames) to the server through compute/api/uploads."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd


async def test_upload_keeps_the_bytes_and_refuses_odd_names(api, jp_serverapp):
    stored = await api("POST", "uploads", params={"name": "data.csv"}, raw_body=b"a,b\n1,2\n")
    assert stored.status == 201 and stored.body["size"] == 8
    path = Path(stored.body["path"])
    uploads = Path(jp_serverapp.web_app.settings["jupyter_compute"].data_dir) / "uploads"
    assert path.read_bytes() == b"a,b\n1,2\n" and path.is_relative_to(uploads) and path.name == "data.csv"
    for name in ("", "../x.csv", "a/b.csv", ".hidden", "..", "x" * 300):
        refused = await api("POST", "uploads", params={"name": name}, raw_body=b"x")
        assert refused.status == 400 and refused.body["error"]["field"] == "name", name


async def test_a_dataframe_input_is_uploaded_by_the_client(api, jp_serverapp, jp_http_port, jp_base_url):
    from jupyter_compute.client import Client

    frame = pd.DataFrame({"species": ["oak", "pine"], "height_m": [21.5, 30.0]})

    def submit():
        with Client(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token) as c:
            return c.submit(command="true", name="with a frame", inputs=[frame, "already/a/path.csv"])

    job = await asyncio.to_thread(submit)
    uploaded, kept = job.spec.inputs
    assert kept == "already/a/path.csv"
    assert pd.read_csv(uploaded).equals(frame), "the server holds the frame as CSV"
