"""The ModelArts submit form follows what the user chose, through the Jupyter server's REST API against the
ModelArts sandbox: each job kind shows only its own fields; a workflow execution offers every workflow of the
project (all pages of the listing) and, once one is chosen, its parameters as typed fields with their defaults
and its data as inputs; a spec made from that form is submitted and runs; a value the form cannot follow is
refused naming it."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Recorder, free_port, started, wait_for_state
from test_modelarts_server import BUCKET, ENV, SECRETS, TERMINAL, backend_config, submit
from test_modelarts_workflows_server import on_platform, waiting

from jupyter_compute.backends.modelarts import ModelArtsBackend
from jupyter_compute.backends.modelarts.forms import SPECIFICATIONS, list_workflows
from jupyter_compute.forms import Form, check_values, spec_from_values
from jupyter_compute.sandbox.modelarts import ModelArtsSandbox
from jupyter_compute.sandbox.modelarts.workflows import QUICK_CHECK_ID, TRAIN_APPROVE_ID, filler_id

#: Every workflow the sandbox seeds: three demos and twenty fillers.
SEEDED = 23
REFRESH_ON = ["extra.kind", "extra.workflow_id", "cluster"]


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def compute_config(modelarts: ModelArtsSandbox, obs: str, secret_env: None) -> dict[str, Any]:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there: every call fails
    return {"backends": {"ma": backend_config(modelarts.base_url, obs), "ma-down": backend_config(down, obs)}}


async def form_of(rec: Recorder, **values: str) -> Form:
    """``GET backends/ma/form`` with the values chosen so far (``extra_kind`` for ``extra.kind``)."""
    reply = await rec("GET", "backends", "ma", "form",
                      params={name.replace("extra_", "extra."): value for name, value in values.items()})
    assert reply.status == 200, reply.body
    assert reply.body["refresh_on"] == REFRESH_ON, reply.body
    return Form.from_dict(reply.body)


def names(form: Form) -> list[str]:
    return [f.name for f in form.fields]


async def test_the_full_form_says_what_it_changes_with(rec: Recorder) -> None:
    reply = await rec("GET", "backends", "ma", "form")
    assert reply.status == 200 and reply.body["refresh_on"] == REFRESH_ON, reply.body
    assert "script" in names(Form.from_dict(reply.body)), "no kind chosen: a training job's form"
    rec.assert_free_of(SECRETS)


async def test_a_training_job_shows_the_training_fields_only(rec: Recorder) -> None:
    form = await form_of(rec, extra_kind="training")
    assert names(form) == ["extra.kind", "script", "extra.code_dir", "extra.boot_file", "algorithm",
                           "extra.image_url", "command", "extra.engine", "environment", "cluster",
                           "extra.node_count", "inputs", "params", "output", "name", "tags"]  # fmt: skip
    assert form.field("extra.kind").default == "training"
    assert form.field("extra.node_count").label == "Nodes", "no kind qualifier in a kind's own form"


async def test_a_batch_service_shows_what_a_batch_service_takes(rec: Recorder) -> None:
    form = await form_of(rec, extra_kind="batch-service")
    assert names(form) == ["extra.kind", "extra.model_id", "extra.instance_count", "extra.custom_spec",
                           "extra.req_uri", "extra.mapping_type", "extra.mapping_rule", "environment", "cluster",
                           "params", "inputs", "output", "name", "tags"]  # fmt: skip
    assert form.field("extra.kind").default == "batch-service"
    assert form.field("extra.model_id").required and form.field("inputs").required
    environment = form.field("environment")
    assert environment.type == "choice" and environment.choices == SPECIFICATIONS
    assert environment.default == "modelarts.vm.cpu.2u" and environment.choice_labels is not None
    assert all(spec in environment.help for spec in SPECIFICATIONS), environment.help
    assert form.field("params").label == "Environment variables"


async def test_a_real_time_service_shows_its_schedule_and_no_folders(rec: Recorder) -> None:
    form = await form_of(rec, extra_kind="real-time-service")
    assert names(form) == ["extra.kind", "extra.model_id", "extra.instance_count", "extra.custom_spec",
                           "extra.duration", "extra.time_unit", "environment", "cluster", "params", "name",
                           "tags"]  # fmt: skip
    assert form.field("extra.time_unit").choices == ("MINUTES", "HOURS", "DAYS")
    assert "modelarts.vm.gpu.pnt004" in form.field("environment").help


async def test_the_workflow_choice_lists_every_workflow_of_the_project(rec: Recorder) -> None:
    form = await form_of(rec, extra_kind="workflow")
    assert names(form) == ["extra.kind", "extra.workflow_id", "name", "tags"], "no workflow chosen: no parameters"
    choice = form.field("extra.workflow_id")
    assert choice.type == "choice" and choice.required
    assert choice.choices is not None and len(set(choice.choices)) == SEEDED
    assert {TRAIN_APPROVE_ID, QUICK_CHECK_ID, filler_id(1), filler_id(20)} <= set(choice.choices)
    assert choice.choice_label(TRAIN_APPROVE_ID) == f"train-then-approve — {TRAIN_APPROVE_ID}"
    assert choice.choice_label(filler_id(7)) == f"nightly-report-07 — {filler_id(7)}"


async def test_the_listing_reads_every_page(modelarts: ModelArtsSandbox, obs: str) -> None:
    """Pages of ten (the item offset moving by ten): all 23 in three pages; one page only when bounded to one."""
    config = {k: v for k, v in backend_config(modelarts.base_url, obs).items() if k != "kind"}
    async with started(ModelArtsBackend("ma", config)) as backend:
        workflows, cut = await list_workflows(backend, page_size=10)
        assert not cut and len({w["workflow_id"] for w in workflows}) == SEEDED
        first, cut = await list_workflows(backend, page_size=10, pages=1)
        assert cut and len(first) == 10


async def test_a_chosen_workflow_shows_its_parameters_typed_with_their_defaults(rec: Recorder) -> None:
    form = await form_of(rec, extra_kind="workflow", extra_workflow_id=TRAIN_APPROVE_ID)
    assert names(form) == ["extra.kind", "extra.workflow_id", "params.learning_rate", "params.epochs",
                           "params.use_gpu", "params.optimizer", "params.approved_model_name", "inputs", "name",
                           "tags"]  # fmt: skip
    typed = {f.name: (f.type, f.default, f.required) for f in form.fields if f.name.startswith("params.")}
    assert typed == {
        "params.learning_rate": ("number", 0.01, False), "params.epochs": ("integer", 3, False),
        "params.use_gpu": ("boolean", False, False), "params.optimizer": ("choice", "adam", False),
        "params.approved_model_name": ("string", None, False),  # delayed: a person gives it when asked
    }  # fmt: skip
    assert form.field("params.optimizer").choices == ("adam", "sgd")
    assert form.field("params.epochs").help == "passes over the training data"
    assert "when its step asks" in form.field("params.approved_model_name").help
    inputs = form.field("inputs")
    assert "training_data (default obs://sandbox-workflows/data/train/)" in inputs.help, inputs.help
    assert form.field("extra.kind").default == "workflow"
    quick = await form_of(rec, extra_kind="workflow", extra_workflow_id=QUICK_CHECK_ID)
    assert names(quick) == ["extra.kind", "extra.workflow_id", "params.fail_step", "params.threshold", "name",
                            "tags"], "a workflow without data has no inputs field"  # fmt: skip


async def test_a_spec_made_from_the_form_is_submitted_and_runs(rec: Recorder, modelarts: ModelArtsSandbox) -> None:
    form = await form_of(rec, extra_kind="workflow", extra_workflow_id=TRAIN_APPROVE_ID)
    values = {f.name: f.default for f in form.fields}
    values.update({"extra.workflow_id": TRAIN_APPROVE_ID, "params.epochs": 2, "name": "from the form",
                   "inputs": [f"training_data=obs://{BUCKET}/data/train/"]})  # fmt: skip
    assert check_values(form, values) == {}
    spec = spec_from_values(form, values)
    assert spec["params"] == {"learning_rate": 0.01, "epochs": 2, "use_gpu": False, "optimizer": "adam"}
    job = await submit(rec, {"backend": "ma", **spec})
    workflow_id, _, execution_id = job["remote_id"].removeprefix("execution:").partition("/")
    assert workflow_id == TRAIN_APPROVE_ID
    held = await waiting(rec, job["id"])
    assert held["state"] == "RUNNING" and "release" in held["message"], held
    await on_platform(modelarts, "PUT", f"{workflow_id}/executions/{execution_id}",
                      {"parameters": [{"name": "approved_model_name", "value": "from-the-form"}]})  # a person answers
    done = await wait_for_state(rec, job["id"], TERMINAL)
    assert done["state"] == "SUCCEEDED" and done["name"] == "from the form", done
    rec.assert_free_of(SECRETS)


@pytest.mark.parametrize(("params", "field"), [
    pytest.param({"environment": "modelarts.vm.cpu.2u"}, "environment", id="a field the form does not change with"),
    pytest.param({"extra.kind": "notebook"}, "extra.kind", id="a kind ModelArts has not"),
    pytest.param({"extra.kind": "workflow", "extra.workflow_id": "no-such-workflow"}, "extra.workflow_id",
                 id="a workflow the project has not"),
])  # fmt: skip
async def test_values_the_form_cannot_follow_are_refused_naming_them(rec: Recorder, params: dict[str, str],
                                                                     field: str) -> None:  # fmt: skip
    reply = await rec("GET", "backends", "ma", "form", params=params)
    assert reply.status == 400, reply.body
    assert reply.body["error"]["field"] == field, reply.body
    assert field in reply.body["error"]["message"] or "workflow" in reply.body["error"]["message"], reply.body


async def test_a_platform_failure_is_a_502_in_words(rec: Recorder) -> None:
    """A backend whose platform does not answer: the kinds that need no call still answer; the workflow list,
    which does, is a 502 saying what failed."""
    assert (await rec("GET", "backends", "ma-down", "form", params={"extra.kind": "batch-service"})).status == 200
    reply = await rec("GET", "backends", "ma-down", "form", params={"extra.kind": "workflow"})
    assert reply.status == 502, reply.body
    assert reply.body["error"]["backend"] == "ma-down", reply.body
    assert "ModelArts did not answer (listing the workflows)" in reply.body["error"]["message"], reply.body
    rec.assert_free_of(SECRETS)
