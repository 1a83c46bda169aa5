"""Job detail, job actions and job discovery, through the real server: ``GET jobs/{id}/detail`` says what a
backend with ``has_detail`` tells of a job (and nothing, without an error, where there is nothing to tell);
``POST jobs/{id}/actions/{action}`` runs an action (authorised as ``execute``), records the status it leaves
and pushes it, a finished job run again being followed to its new end; a backend that ``discovers_jobs`` has
the jobs its platform started recorded once each, pushed and followed, and its failures logged without
their text and tried again.

The platform is :class:`echo_backend.ScheduleBackend`, whose jobs move when a test says so."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from conftest import until, wait_for_state
from echo_backend import SCHEDULE_SECRET, ScheduleBackend
from jsonschema import Draft202012Validator
from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.utils import url_path_join
from traitlets.config import Config

from jupyter_compute.models import Job, JobSpec, JobState

#: Actions the test authorizer refuses on the resource 'compute' (empty: it allows everything).
REFUSED: set[str] = set()


class RefusingAuthorizer(Authorizer):
    """Allows every action but those in REFUSED on jupyter-compute's resource."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not (resource == "compute" and action in REFUSED)


@pytest.fixture
def compute_config(server_log: list[str]) -> dict[str, Any]:
    return {"backends": {
        "local": {"kind": "local"},
        "sched": {"kind": "echo_backend:ScheduleBackend", "discover_interval_s": 0.1},
        "sched-odd": {"kind": "echo_backend:ScheduleBackend", "discover_interval_s": "often"},
    }}


@pytest.fixture
def jp_server_config(compute_config: dict[str, Any]) -> Config:
    return Config({
        "ServerApp": {"jpserver_extensions": {"jupyter_compute": True}, "authorizer_class": RefusingAuthorizer},
        "ComputeApp": compute_config,
    })


@pytest.fixture
def app(jp_serverapp: Any) -> Any:
    """The extension (its service, store and monitor)."""
    return jp_serverapp.web_app.settings["jupyter_compute"]


@pytest.fixture
def platform(app: Any) -> ScheduleBackend:
    backend = app.service.backends["sched"]
    assert isinstance(backend, ScheduleBackend)
    return backend


class Events:
    """The events of compute/api/events received so far."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.connected = asyncio.Event()
        self._buffer = bytearray()

    def on_chunk(self, chunk: bytes) -> None:
        self.connected.set()
        self._buffer.extend(chunk)
        while b"\n\n" in self._buffer:
            raw, _, rest = bytes(self._buffer).partition(b"\n\n")
            self._buffer[:] = rest
            lines = raw.decode().splitlines()
            kinds = [line[7:] for line in lines if line.startswith("event: ")]
            data = [line[6:] for line in lines if line.startswith("data: ")]
            if kinds and data:
                self.received.append((kinds[0], json.loads(data[0])))

    def states(self, job_id: str) -> list[str]:
        """The states pushed for one job, in order."""
        return [data["state"] for kind, data in self.received if kind == "job" and data["id"] == job_id]


@contextlib.asynccontextmanager
async def events(http_server_client: Any, jp_base_url: str, jp_auth_header: Any) -> AsyncIterator[Events]:
    """Subscribed to the event stream while the block runs."""
    found = Events()
    stream = asyncio.ensure_future(http_server_client.fetch(
        url_path_join(jp_base_url, "compute/api/events"), headers=jp_auth_header, streaming_callback=found.on_chunk,
        request_timeout=120, raise_error=False))
    await asyncio.wait_for(found.connected.wait(), 30)
    try:
        yield found
    finally:
        stream.cancel()


async def submitted(api: Any, platform: ScheduleBackend, name: str) -> tuple[dict[str, Any], str]:
    """A job submitted to the schedule platform, and its remote id."""
    reply = await api("POST", "jobs", body={"backend": "sched", "name": name, "tags": ["detail-test"]})
    assert reply.status == 201, reply.body
    return reply.body, reply.body["remote_id"]


async def recorded(app: Any, job: Job) -> str:
    """``job`` put in the store as it is (not through a platform); its id."""
    created, new = await app.service.store.create(job)
    assert new
    return created.id


async def jobs_of(api: Any, remote_id: str) -> list[dict[str, Any]]:
    reply = await api("GET", "jobs", params={"backend": "sched", "q": remote_id, "limit": "100"})
    assert reply.status == 200, reply.body
    return [job for job in reply.body["jobs"] if job["remote_id"] == remote_id]


def conforms(document: dict[str, Any], schema_name: str, value: Any) -> None:
    """``value`` fits the served document's component ``schema_name``."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    Draft202012Validator(schema).validate(value)


# --- detail ------------------------------------------------------------------------------------------


async def test_the_detail_of_a_job_says_what_its_platform_tells(api, platform) -> None:
    job, remote_id = await submitted(api, platform, "told")
    reply = await api("GET", "jobs", job["id"], "detail")
    assert reply.status == 200, reply.body
    assert reply.body == {"detail": {
        "facts": {"runs": 1, "notes": [], "schedule": None},
        "actions": [{"name": "note", "label": "Add a note", "help": "", "fields": [{
            "name": "text", "label": "Note", "type": "string", "required": True, "default": None, "choices": None,
            "min": None, "max": None, "help": "", "pattern": None, "choice_labels": None}]}],
    }}
    document = (await api("GET", "openapi.json")).body
    conforms(document, "JobDetail", reply.body["detail"])

    platform.statuses[remote_id] = "DONE"
    await wait_for_state(api, job["id"], {"SUCCEEDED"})
    ended = (await api("GET", "jobs", job["id"], "detail")).body["detail"]
    assert [action["name"] for action in ended["actions"]] == ["rerun"]
    assert ended["actions"][0]["fields"][0]["name"] == "reason"
    conforms(document, "JobDetail", ended)


async def test_nothing_to_tell_is_an_empty_detail_not_an_error(api, app, platform) -> None:
    local = (await api("POST", "jobs", body={"command": "true", "name": "plain"})).body
    not_sent = await recorded(app, Job(id=uuid.uuid4().hex, backend="sched", spec=JobSpec(backend="sched"),
                                       state=JobState.FAILED, native_status="submission failed"))
    read_only = await recorded(app, Job(id=uuid.uuid4().hex, backend="gone", spec=JobSpec(backend="gone"),
                                        remote_id="gone-1", state=JobState.SUCCEEDED, native_status="done"))
    for job_id in (local["id"], not_sent, read_only):
        reply = await api("GET", "jobs", job_id, "detail")
        assert reply.status == 200, reply.body
        assert reply.body == {"detail": {"facts": {}, "actions": []}}, job_id
    assert (await api("GET", "jobs", "0" * 32, "detail")).status == 404


async def test_a_platform_failure_in_the_detail_is_a_502(api, platform) -> None:
    job, _ = await submitted(api, platform, "outage")
    platform.outage = True
    reply = await api("GET", "jobs", job["id"], "detail")
    assert reply.status == 502, reply.body
    assert reply.body["error"]["type"] == "BackendError" and "503" in reply.body["error"]["message"]


# --- actions -----------------------------------------------------------------------------------------


async def moved(api: Any, platform: ScheduleBackend, job_id: str, remote_id: str, native: str) -> dict[str, Any]:
    """The job once the platform moved it to ``native`` and the monitor saw it."""
    platform.statuses[remote_id] = native
    return await wait_for_state(api, job_id, {platform.status_map[native].value})


async def test_an_action_reaches_the_platform_with_its_values_and_answers_the_job(api, app, platform) -> None:
    job, remote_id = await submitted(api, platform, "noted")
    await moved(api, platform, job["id"], remote_id, "RUNNING")
    noted = await api("POST", "jobs", job["id"], "actions", "note", body={"values": {"text": "looks fine"}})
    assert noted.status == 200, noted.body
    assert (noted.body["id"], noted.body["state"]) == (job["id"], "RUNNING")
    assert platform.notes[remote_id] == ["looks fine"]
    facts = (await api("GET", "jobs", job["id"], "detail")).body["detail"]["facts"]
    assert facts["notes"] == ["looks fine"]
    assert job["id"] in app.monitor.watched
    conforms((await api("GET", "openapi.json")).body, "Job", noted.body)


async def test_a_finished_job_run_again_is_recorded_pushed_and_followed_to_its_new_end(
        api, app, platform, http_server_client, jp_base_url, jp_auth_header) -> None:
    async with events(http_server_client, jp_base_url, jp_auth_header) as pushed:
        job, remote_id = await submitted(api, platform, "rerun me")
        first_end = await moved(api, platform, job["id"], remote_id, "DONE")
        assert first_end["finished"] is not None
        assert job["id"] not in app.monitor.watched

        again = await api("POST", "jobs", job["id"], "actions", "rerun", body={"values": {"reason": "new data"}})
        assert again.status == 200, again.body
        assert (again.body["state"], again.body["native_status"], again.body["finished"]) == ("RUNNING", "RUNNING",
                                                                                               None)
        stored = (await api("GET", "jobs", job["id"])).body
        assert (stored["state"], stored["finished"]) == ("RUNNING", None), "the store keeps it running"
        assert job["id"] in app.monitor.watched, "the monitor follows it again"
        await until(lambda: pushed.states(job["id"])[-1:] == ["RUNNING"], "the run again to be pushed", timeout=60)

        second_end = await moved(api, platform, job["id"], remote_id, "DONE")
        assert second_end["finished"] >= first_end["finished"]
        await until(lambda: pushed.states(job["id"])[-1:] == ["SUCCEEDED"], "the new end to be pushed", timeout=60)
    states = pushed.states(job["id"])
    assert states[-3:] == ["SUCCEEDED", "RUNNING", "SUCCEEDED"] and states.count("RUNNING") == 1, states
    assert (await api("GET", "jobs", job["id"], "detail")).body["detail"]["facts"]["runs"] == 2


@pytest.mark.parametrize(("body", "field"), [
    (b"[1]", "body"), (b"null", "body"), (b"{", "body"), (b'"values"', "body"),
    (b'{"values": 3}', "values"), (b'{"values": null}', "values"), (b'{"values": {}, "reason": "x"}', "reason"),
    (b'{"values": {}}', "reason"), (b"", "reason"), (b'{"values": {"reason": "  "}}', "reason"),
    (b'{"values": {"reason": 5}}', "reason"),
])
async def test_a_bad_action_request_is_a_400_naming_the_field(api, platform, body: bytes, field: str) -> None:
    job, remote_id = await submitted(api, platform, "bad request")
    platform.statuses[remote_id] = "DONE"
    await wait_for_state(api, job["id"], {"SUCCEEDED"})
    reply = await api("POST", "jobs", job["id"], "actions", "rerun", raw_body=body)
    assert reply.status == 400, reply.body
    assert reply.body["error"]["field"] == field, reply.body
    assert platform.runs[remote_id] == 1 and (await api("GET", "jobs", job["id"])).body["state"] == "SUCCEEDED"


async def test_an_action_the_job_does_not_offer_is_a_405(api, app, platform) -> None:
    job, remote_id = await submitted(api, platform, "not now")
    for action in ("rerun", "explode"):  # rerun: offered only once the job ended; explode: never
        reply = await api("POST", "jobs", job["id"], "actions", action, body={"values": {"reason": "why not"}})
        assert reply.status == 405, reply.body
        assert reply.body["error"]["type"] == "NotSupported" and action in reply.body["error"]["message"]
    assert platform.runs[remote_id] == 1

    local = (await api("POST", "jobs", body={"command": "true", "name": "plain"})).body
    not_sent = await recorded(app, Job(id=uuid.uuid4().hex, backend="sched", spec=JobSpec(backend="sched"),
                                       state=JobState.FAILED, native_status="submission failed"))
    read_only = await recorded(app, Job(id=uuid.uuid4().hex, backend="gone", spec=JobSpec(backend="gone"),
                                        remote_id="gone-1", state=JobState.SUCCEEDED, native_status="done"))
    for job_id, words in ((local["id"], "no job actions"), (not_sent, "not on its platform"),
                          (read_only, "not configured")):
        reply = await api("POST", "jobs", job_id, "actions", "rerun", body={"values": {"reason": "x"}})
        assert reply.status == 405, reply.body
        assert words in reply.body["error"]["message"], reply.body
    assert (await api("POST", "jobs", "0" * 32, "actions", "rerun", body={})).status == 404


async def test_actions_are_authorised_as_execute_like_a_submission(api, platform) -> None:
    job, remote_id = await submitted(api, platform, "authorised")
    note = {"values": {"text": "hi"}}
    try:
        REFUSED.clear()
        REFUSED.add("execute")
        assert (await api("POST", "jobs", body={"backend": "sched", "name": "refused"})).status == 403
        refused = await api("POST", "jobs", job["id"], "actions", "note", body=note)
        assert refused.status == 403, refused.body
        assert remote_id not in platform.notes, "the platform was not asked"
        assert (await api("GET", "jobs", job["id"], "detail")).status == 200, "reading needs no execute"

        REFUSED.clear()
        REFUSED.add("write")  # what POST jobs needs is execute, not write: so for an action
        assert (await api("POST", "jobs", body={"backend": "sched", "name": "allowed"})).status == 201
        assert (await api("POST", "jobs", job["id"], "actions", "note", body=note)).status == 200
        assert platform.notes[remote_id] == ["hi"]

        REFUSED.clear()
        REFUSED.add("read")
        assert (await api("GET", "jobs", job["id"], "detail")).status == 403
    finally:
        REFUSED.clear()


# --- discovery ---------------------------------------------------------------------------------------


async def more_discoveries(platform: ScheduleBackend, count: int = 2) -> None:
    """Wait for ``count`` discovery cycles more than so far."""
    calls = platform.discover_calls
    await until(lambda: platform.discover_calls >= calls + count, f"{count} more discoveries", timeout=60)


async def test_a_job_the_platform_started_is_recorded_once_and_pushed(
        api, app, platform, http_server_client, jp_base_url, jp_auth_header) -> None:
    async with events(http_server_client, jp_base_url, jp_auth_header) as pushed:
        platform.start_on_platform("nightly-1", ["nightly", "from-schedule"])
        found = await until(lambda: [data for kind, data in pushed.received
                                     if kind == "job" and data["remote_id"] == "nightly-1"],
                            "the discovered job to be pushed", timeout=60)
    await more_discoveries(platform)
    [job] = await jobs_of(api, "nightly-1")
    assert job["id"] == found[0]["id"]
    assert (job["backend"], job["name"], job["state"]) == ("sched", "nightly nightly-1", "RUNNING")
    assert job["tags"] == ["nightly", "from-schedule"]
    assert (job["spec"]["backend"], job["spec"]["algorithm"]) == ("sched", "nightly")
    tagged = (await api("GET", "jobs", params={"tag": "from-schedule"})).body
    assert [j["id"] for j in tagged["jobs"]] == [job["id"]]


async def test_the_monitor_follows_a_discovered_job_to_its_end_and_it_stays_one(
        api, app, platform, http_server_client, jp_base_url, jp_auth_header) -> None:
    platform.start_on_platform("nightly-5", ["nightly"])
    job = await until_recorded(api, "nightly-5")
    assert job["id"] in app.monitor.watched
    async with events(http_server_client, jp_base_url, jp_auth_header) as pushed:
        await moved(api, platform, job["id"], "nightly-5", "DONE")
        await until(lambda: pushed.states(job["id"])[-1:] == ["SUCCEEDED"], "its end to be pushed", timeout=60)
    await more_discoveries(platform)
    assert [j["id"] for j in await jobs_of(api, "nightly-5")] == [job["id"]]


async def overlapping_discoveries(app: Any, platform: ScheduleBackend, meanwhile: Callable[[], None]) -> list[Job]:
    """Three discoveries run at once (with the monitor's own); ``meanwhile`` is called once all three are
    under way, before any reads the platform's jobs. The jobs they recorded."""
    platform.gate = asyncio.Event()
    waiting = platform.discover_waiting
    overlapping = [asyncio.ensure_future(app.monitor.discover("sched")) for _ in range(3)]
    try:
        await until(lambda: platform.discover_waiting >= waiting + 3, "three discoveries under way", timeout=60)
        meanwhile()
    finally:
        platform.gate.set()
        platform.gate = None
    return [job for batch in await asyncio.gather(*overlapping) for job in batch]


async def test_overlapping_discoveries_record_a_job_once_while_it_is_refreshed(api, app, platform) -> None:
    platform.ignores_known = True  # the platform answers every scheduled job, recorded or not: the store decides
    platform.start_on_platform("nightly-2", ["nightly"])
    first = await until_recorded(api, "nightly-2")
    # The monitor refreshes the job (to its end) while discoveries overlap: none records it again.
    assert await overlapping_discoveries(app, platform, lambda: platform.statuses.update({"nightly-2": "DONE"})) == []
    await wait_for_state(api, first["id"], {"SUCCEEDED"})
    # A job started while discoveries overlap: each one finds it, one records it (or the monitor's own).
    made = await overlapping_discoveries(app, platform, lambda: platform.start_on_platform("nightly-3", ["nightly"]))
    second = await until_recorded(api, "nightly-3")
    assert [job.id for job in made] in ([], [second["id"]])
    await more_discoveries(platform)
    for remote_id, kept in (("nightly-2", first), ("nightly-3", second)):
        assert [j["id"] for j in await jobs_of(api, remote_id)] == [kept["id"]], remote_id


async def until_recorded(api: Any, remote_id: str) -> dict[str, Any]:
    """The one job recorded for ``remote_id``, once there is one."""
    for _ in range(600):
        jobs = await jobs_of(api, remote_id)
        if jobs:
            assert len(jobs) == 1, jobs
            return jobs[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no job recorded for {remote_id} within 60 s")


async def test_a_failing_discovery_is_logged_without_its_text_and_tried_again(
        rec, app, platform, server_log: list[str]) -> None:
    platform.discover_failures = 2
    platform.start_on_platform("nightly-4", ["nightly"])
    job = await until_recorded(rec, "nightly-4")
    assert platform.discover_failures == 0
    failures = [line for line in server_log if "discovering jobs of backend 'sched' failed" in line]
    assert len(failures) >= 2, server_log[-20:]
    assert all(line.endswith("it will be tried again (RuntimeError)") for line in failures), failures
    assert not [line for line in server_log if SCHEDULE_SECRET in line], "no secret in the log"
    assert (await rec("GET", "jobs", job["id"])).status == 200
    rec.assert_free_of([SCHEDULE_SECRET])


async def test_a_discovery_interval_that_is_no_number_is_said_and_the_default_kept(
        api, app, server_log: list[str]) -> None:
    said = [line for line in server_log if "backend 'sched-odd'" in line and "discover_interval_s" in line]
    assert said and "asked for new jobs every 60 s" in said[0], server_log[-20:]
    assert app.monitor.discover_interval(app.service.backends["sched-odd"]) == 60.0
    assert app.monitor.discover_interval(app.service.backends["sched"]) == 0.1


async def test_the_backends_say_their_new_capabilities_and_the_document_lists_them(api) -> None:
    backends = {b["name"]: b for b in (await api("GET", "backends")).body["backends"]}
    assert backends["sched"]["capabilities"]["has_detail"] and backends["sched"]["capabilities"]["discovers_jobs"]
    assert not backends["local"]["capabilities"]["has_detail"]
    assert not backends["local"]["capabilities"]["discovers_jobs"]
    document = (await api("GET", "openapi.json")).body
    capabilities = document["components"]["schemas"]["Capabilities"]
    assert {"has_detail", "discovers_jobs"} <= set(capabilities["required"])
    for backend in backends.values():
        conforms(document, "Backend", backend)
    action = document["paths"]["/api/jobs/{job_id}/actions/{action}"]["post"]
    assert action["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ActionRequest"}
    assert {"200", "400", "403", "404", "405", "502"} <= set(action["responses"])
    detail = document["paths"]["/api/jobs/{job_id}/detail"]["get"]
    assert detail["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["detail"] == {
        "$ref": "#/components/schemas/JobDetail"}
