"""Input that once made the server answer 500 with a traceback: each is now a 4xx naming the field,
and nothing is recorded. Limits on a job spec: the whole body (413) and each field (400)."""

from __future__ import annotations

import json

import pytest

from conftest import wait_for_state
from jupyter_compute.models import MAX_SPEC_BYTES, SPEC_LIST_LIMITS, SPEC_TEXT_LIMITS

SURROGATE = "\\ud800"  # a lone surrogate, as JSON writes it: valid JSON, not Unicode


async def job_count(api) -> int:
    return (await api("GET", "jobs")).body["total"]


def refused(reply, status: int, field: str) -> None:
    """Refused with ``status``, naming ``field`` (or one of the '|'-separated fields)."""
    assert reply.status == status, (reply.status, reply.body)
    assert isinstance(reply.body, dict) and reply.body["error"]["field"] in field.split("|"), reply.body
    assert "Traceback" not in json.dumps(reply.body)


@pytest.mark.parametrize(("raw", "field"), [
    ('{"command": "true", "name": "' + SURROGATE + '"}', "name"),
    ('{"command": "true", "tags": ["ok", "' + SURROGATE + '"]}', "tags"),
    ('{"command": "echo ' + SURROGATE + '"}', "command"),
    ('{"command": "true", "idempotency_key": "k' + SURROGATE + '"}', "idempotency_key"),
    ('{"command": "true", "params": {"' + SURROGATE + '": 1}}', "params"),
    ('{"command": "true", "params": {"n": ' + "9" * 5000 + '}}', "body"),  # past Python's int-digit limit
    # Deeper than the parser goes (or, when the interpreter's stack allows it, than a spec may nest)
    ('{"command": "true", "params": ' + "[" * 1000 + "]" * 1000 + '}', "body|params"),
    ('{"command": "true", "params": ' + "[" * 40 + "]" * 40 + '}', "params"),  # deeper than a spec needs
])
async def test_a_body_that_cannot_be_kept_is_refused_at_its_field(api, raw: str, field: str):
    before = await job_count(api)
    refused(await api("POST", "jobs", raw_body=raw.encode()), 400, field)
    assert await job_count(api) == before, "nothing recorded"


async def test_a_spec_larger_than_the_server_takes_is_413_and_each_field_has_a_limit(api):
    before = await job_count(api)
    huge = {"command": "x" * (MAX_SPEC_BYTES + 1)}
    refused(await api("POST", "jobs", body=huge), 413, "body")
    for name, limit in SPEC_TEXT_LIMITS.items():
        refused(await api("POST", "jobs", body={"command": "true", name: "x" * (limit + 1)}), 400, name)
    refused(await api("POST", "jobs", body={"command": "true", "tags": ["t"] * (SPEC_LIST_LIMITS["tags"] + 1)}),
            400, "tags")
    refused(await api("POST", "jobs", body={"command": "true", "inputs": [1] * (SPEC_LIST_LIMITS["inputs"] + 1)}),
            400, "inputs")
    refused(await api("POST", "jobs", body={"command": "true", "tags": ["t" * 101]}), 400, "tags[0]")
    assert await job_count(api) == before, "nothing recorded"
    at_limit = await api("POST", "jobs", body={"command": "true #" + "x" * (SPEC_TEXT_LIMITS["command"] - 7)})
    assert at_limit.status == 201, at_limit.body


async def test_a_far_log_offset_and_a_foreign_callback_token_are_4xx(api):
    job = await api("POST", "jobs", body={"command": "echo hello"})
    assert job.status == 201, job.body
    await wait_for_state(api, job.body["id"], {"SUCCEEDED"})
    refused(await api("GET", "jobs", job.body["id"], "logs", params={"offset": "999999999999999"}), 400, "offset")
    past_end = await api("GET", "jobs", job.body["id"], "logs", params={"offset": str(2**40)})
    assert past_end.status == 200 and past_end.body["text"] == "" and past_end.body["complete"], past_end.body

    for token in ("abc.é", "é.é", f"{job.body['id']}.ünïcode"):
        callback = await api("POST", "webhooks", "local", token, body={"status": "done"})
        assert callback.status == 403, (token, callback.status, callback.body)


async def test_lists_and_events_carry_a_summary_of_a_long_spec_and_the_job_has_it_whole(api):
    command = "true #" + "x" * 200_000
    job = await api("POST", "jobs", body={"command": command, "tags": ["long"], "params": {"p": list(range(100))}})
    assert job.status == 201, job.body
    listed = (await api("GET", "jobs", params={"tag": "long"})).body["jobs"][0]
    assert listed["spec_summarised"] is True
    assert len(listed["spec"]["command"]) <= 501 and listed["spec"]["command"].endswith("…")
    assert len(listed["spec"]["params"]["p"]) == 20
    whole = (await api("GET", "jobs", job.body["id"])).body
    assert whole["spec"]["command"] == command and whole["spec"]["params"]["p"] == list(range(100))
    short = await api("POST", "jobs", body={"command": "true", "tags": ["short"]})
    assert (await api("GET", "jobs", params={"tag": "short"})).body["jobs"][0]["spec_summarised"] is False, short.body
