"""The ModelArts backend's job detail, actions and discovery against the ModelArts sandbox over real HTTP:
a real-time service's predict URL and the apps allowed to call it, their ``app_secret`` masked (in the
detail, the log lines, the errors); a workflow execution's steps and to-do item, its 'continue' action
built from the step's missing inputs, 'rerun' once it ended, and the workflow's schedule set through an
action, whose runs discovery then finds, tagged as scheduled."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from test_backend_modelarts import backend, secrets  # noqa: F401 — the autouse fixture of the secrets' variables

from jupyter_compute.backends.modelarts import ModelArtsBackend
from jupyter_compute.backends.modelarts.training import training_facts
from jupyter_compute.errors import InvalidSpec, NotSupported
from jupyter_compute.models import JobSpec, JobState, RemoteStatus
from jupyter_compute.sandbox.modelarts import ModelArtsSandbox
from jupyter_compute.sandbox.modelarts.service_models import ROW_SUM_MODEL_ID
from jupyter_compute.sandbox.modelarts.workflows import QUICK_CHECK_ID, TRAIN_APPROVE_ID, TRAIN_CONFIRM_ID

APP_SECRETS = ("sandbox-app-secret-", "sandbox-app-key-")


async def until_status(b: ModelArtsBackend, remote_id: str, check: Callable[[RemoteStatus], bool],
                       what: str, timeout: float = 60) -> RemoteStatus:  # fmt: skip
    deadline = time.monotonic() + timeout
    while not check(status := await b.status(remote_id)):
        assert time.monotonic() < deadline, f"{what}: still {status} after {timeout} s"
        await asyncio.sleep(0.1)
    return status


async def until(probe: Callable[[], Awaitable[Any]], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := await probe()):
        assert time.monotonic() < deadline, f"{what}: not after {timeout} s"
        await asyncio.sleep(0.2)
    return value


async def test_a_real_time_service_shows_its_predict_url_and_apps_with_secrets_masked(
        modelarts: ModelArtsSandbox, obs: str, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    async with backend(modelarts, obs) as b:
        spec = JobSpec(backend="ma", name="predictor", extra={"kind": "real-time-service", "model_id": ROW_SUM_MODEL_ID,
                                                             "duration": 2, "time_unit": "HOURS"})  # fmt: skip
        submitted = await b.submit(spec, "job-rt-detail")
        await until_status(b, submitted.remote_id, lambda s: s.state is JobState.RUNNING, "the service running")
        detail = await b.detail(submitted.remote_id)
        facts = detail.facts
        assert facts["kind"] == "real-time" and facts["status"] == "running"
        assert facts["predict URL"].startswith(modelarts.base_url) and facts["auto-stop"] == "stops after 2 hours"
        apis = facts["app authentication"]
        assert [(a["auth_type"], a["app"]["app_name"]) for a in apis] == [("APP", "infer-clients")]
        assert apis[0]["predict_url"] == facts["predict URL"]
        assert apis[0]["app"]["app_secret"] == "••••••••" and apis[0]["app"]["app_key"] == "sand••••••••"
        assert detail.actions == []
        shown = json.dumps(detail.to_dict(), ensure_ascii=False)
        await b.cancel(submitted.remote_id)
    for secret in APP_SECRETS:
        assert secret not in shown
        assert secret not in caplog.text


async def test_an_execution_offers_continue_with_the_missing_inputs_then_rerun(
        modelarts: ModelArtsSandbox, obs: str) -> None:  # fmt: skip
    async with backend(modelarts, obs) as b:
        spec = JobSpec(backend="ma", params={"epochs": 1}, extra={"kind": "workflow", "workflow_id": TRAIN_APPROVE_ID})
        remote_id = (await b.submit(spec, "job-wf-detail")).remote_id
        await until_status(b, remote_id, lambda s: "waiting for input" in s.message, "the step waiting")
        detail = await b.detail(remote_id)
        assert detail.facts["to-do"] == "step 'Approve and release the model' is wait_inputs"
        assert detail.facts["parameters"]["epochs"] in (1, "1")
        answer = next(a for a in detail.actions if a.name == "continue")
        assert [(f.name, f.type, f.required) for f in answer.fields] == [("approved_model_name", "string", True)]
        assert "rerun" not in [a.name for a in detail.actions]  # it has not ended

        with pytest.raises(InvalidSpec) as missing:
            await b.act(remote_id, "continue", {})
        assert missing.value.field == "approved_model_name"
        with pytest.raises(InvalidSpec) as unknown:
            await b.act(remote_id, "continue", {"approved_model_name": "m", "colour": "red"})
        assert unknown.value.field == "colour"
        with pytest.raises(NotSupported):
            await b.act(remote_id, "rerun", {})

        await b.act(remote_id, "continue", {"approved_model_name": "model-v3"})
        done = await until_status(b, remote_id, lambda s: s.state.is_terminal, "the execution ended")
        assert done.state is JobState.SUCCEEDED, done
        assert "rerun" in [a.name for a in (await b.detail(remote_id)).actions]
        again = await b.act(remote_id, "rerun", {})
        assert not again.state.is_terminal, again


async def test_a_held_step_is_answered_with_a_confirmation(modelarts: ModelArtsSandbox, obs: str) -> None:
    async with backend(modelarts, obs) as b:
        spec = JobSpec(backend="ma", extra={"kind": "workflow", "workflow_id": TRAIN_CONFIRM_ID})
        remote_id = (await b.submit(spec, "job-wf-hold")).remote_id
        await until_status(b, remote_id, lambda s: "waiting for input" in s.message, "the step held")
        answer = next(a for a in (await b.detail(remote_id)).actions if a.name == "continue")
        assert answer.fields == ()
        await b.act(remote_id, "continue", {})
        done = await until_status(b, remote_id, lambda s: s.state.is_terminal, "the execution ended")
        assert done.state is JobState.SUCCEEDED, done


async def test_a_schedule_set_through_an_action_starts_runs_that_discovery_finds(
        modelarts: ModelArtsSandbox, obs: str) -> None:  # fmt: skip
    async with backend(modelarts, obs) as b:
        spec = JobSpec(backend="ma", extra={"kind": "workflow", "workflow_id": QUICK_CHECK_ID})
        ours = (await b.submit(spec, "job-wf-schedule")).remote_id
        with pytest.raises(InvalidSpec) as bad_cron:
            await b.act(ours, "schedule", {"cron": "every day"})
        assert bad_cron.value.field == "cron", bad_cron.value
        await b.act(ours, "schedule", {"cron": "*/2 * * * * *"})
        assert (await b.detail(ours)).facts["schedules"][0]["cron"] == "*/2 * * * * *"

        found = await until(lambda: b.discover({ours}), "a scheduled run discovered")
        job = found[0]
        assert job.remote_id != ours and job.remote_id.startswith(f"execution:{QUICK_CHECK_ID}/")
        assert job.tags[0] == "scheduled" and job.tags[1].startswith("schedule:")
        assert job.spec.extra == {"kind": "workflow", "workflow_id": QUICK_CHECK_ID}
        assert job.remote_id not in {j.remote_id for j in await b.discover({ours, job.remote_id})}

        await b.act(ours, "schedule", {"cron": "*/2 * * * * *", "enable": False})
        assert (await b.detail(ours)).facts["schedules"][0]["enabled"] is False


def test_a_training_job_answer_as_facts() -> None:
    job = {"metadata": {"id": "t-1", "name": "fit"}, "status": {"phase": "Running", "secondary_phase": "Running",
           "tasks": ["worker-0"]}, "spec": {"resource": {"flavor_id": "modelarts.vm.cpu.8u", "node_count": 2}},
           "algorithm": {"outputs": [{"name": "train_url", "remote": {"obs": {"obs_url": "/b/out/"}}}]}}  # fmt: skip
    assert training_facts(job) == {
        "training job": "fit", "training job id": "t-1", "phase": "Running", "secondary phase": "Running",
        "flavor": "modelarts.vm.cpu.8u", "nodes": 2, "tasks": ["worker-0"], "outputs": {"train_url": "b/out/"}}
