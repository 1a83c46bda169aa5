"""Job changes reach a subscriber of compute/api/events without it polling."""

from __future__ import annotations

import asyncio
import json

from jupyter_server.utils import url_path_join


async def test_state_changes_are_pushed(api, jp_serverapp, http_server_client, jp_base_url, jp_auth_header):
    received: list[dict] = []
    buffer = bytearray()
    finished = asyncio.Event()
    connected = asyncio.Event()

    def on_chunk(chunk: bytes) -> None:
        connected.set()
        buffer.extend(chunk)
        while b"\n\n" in buffer:
            raw, _, rest = bytes(buffer).partition(b"\n\n")
            buffer[:] = rest
            lines = raw.decode().splitlines()
            data = [line[6:] for line in lines if line.startswith("data: ")]
            if "event: job" in lines and data:
                event = json.loads(data[0])
                received.append(event)
                if event["state"] == "SUCCEEDED":
                    finished.set()

    stream = asyncio.ensure_future(http_server_client.fetch(
        url_path_join(jp_base_url, "compute/api/events"), headers=jp_auth_header, streaming_callback=on_chunk,
        request_timeout=60, raise_error=False))
    await asyncio.wait_for(connected.wait(), 10)

    try:
        reply = await api("POST", "jobs", body={"command": "sleep 0.5; echo pushed"})
        await asyncio.wait_for(finished.wait(), 30)
    finally:
        stream.cancel()
    states = [e["state"] for e in received if e["id"] == reply.body["id"]]
    assert states[0] == "QUEUED" and "RUNNING" in states and states[-1] == "SUCCEEDED", states
    assert received[-1]["results"], "the terminal event carries the results"
