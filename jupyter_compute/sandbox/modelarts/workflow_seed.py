"""The seeded workflows of the ModelArts stand-in: three that show the platform's behaviours (a person
answering a delayed parameter, a manual confirmation, a step that fails on request) and twenty plain
one-step ones so that listings page. Fixed ids; definitions only (the runs live in ``workflow_runner``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .workflow_common import SERVICE_TZ, USER_NAME, iso

#: Train (typed parameters, an OBS input), then wait for ``approved_model_name`` (a delayed parameter).
TRAIN_APPROVE_ID = "5f0c3a1e-7b2d-4c8e-9a10-3e5d7c9b0001"
TRAIN_APPROVE_NAME = "train-then-approve"
#: Train, then hold until a person confirms the deployment (step action ``continue``).
TRAIN_CONFIRM_ID = "5f0c3a1e-7b2d-4c8e-9a10-3e5d7c9b0002"
TRAIN_CONFIRM_NAME = "train-then-confirm"
#: One step; it fails (the execution ends abnormal) when the parameter ``fail_step`` is true.
QUICK_CHECK_ID = "5f0c3a1e-7b2d-4c8e-9a10-3e5d7c9b0003"
QUICK_CHECK_NAME = "quick-check"
FILLER_COUNT = 20
DATA_URL = "/sandbox-workflows/data/train/"
OUTPUT_URL = "/sandbox-workflows/output/"

#: Step properties the runner reads: ``manual_confirm`` "true" holds the step before it starts;
#: ``fails_if`` names a bool parameter that, when true, makes the step fail.
MANUAL_CONFIRM = "manual_confirm"
FAILS_IF = "fails_if"

_EPOCH = dt.datetime(2024, 3, 1, 9, 0, tzinfo=SERVICE_TZ).timestamp()


def filler_id(n: int) -> str:
    return f"5f0c3a1e-7b2d-4c8e-9a10-3e5d7c9b{1000 + n:04d}"


def _param(name: str, typ: str, description: str, default: Any = None, *, steps: list[str],
           delay: bool = False, enum: list[Any] | None = None) -> dict[str, Any]:
    return {"name": name, "type": typ, "format": "", "description": description, "example": default,
            "delay": delay, "default": default, "value": default, "enum": enum or [], "used_steps": steps,
            "constraint": {}}


def _data(name: str, url: str, steps: list[str]) -> dict[str, Any]:
    return {"name": name, "type": "obs", "value": {"obs_url": url}, "used_steps": steps}


def _step(name: str, typ: str, title: str, *, after: list[str], properties: dict[str, str],
          inputs: list[dict[str, Any]] | None = None, output: bool = False) -> dict[str, Any]:
    outputs = [{"name": f"{name}_output", "type": "obs", "config": {"obs_url": f"{OUTPUT_URL}{name}/"}}]
    return {"name": name, "type": typ, "title": title, "description": "", "inputs": inputs or [],
            "outputs": outputs if output else [], "properties": properties, "depend_steps": after,
            "conditions": [], "if_then_steps": [], "else_then_steps": [], "policy": {}}


def _obs_input(data_name: str) -> list[dict[str, Any]]:
    return [{"name": data_name, "type": "obs", "data": f"$ref/data_requirements/{data_name}"}]


def _train_step() -> dict[str, Any]:
    return _step("train", "job", "Train the model", after=[], inputs=_obs_input("training_data"), output=True,
                 properties={"algorithm": "sandbox-trainer", "learning_rate": "$ref/parameters/learning_rate",
                             "epochs": "$ref/parameters/epochs", "use_gpu": "$ref/parameters/use_gpu",
                             "optimizer": "$ref/parameters/optimizer"})


def _train_params() -> list[dict[str, Any]]:
    return [_param("learning_rate", "float", "learning rate of the optimiser", 0.01, steps=["train"]),
            _param("epochs", "int", "passes over the training data", 3, steps=["train"]),
            _param("use_gpu", "bool", "train on a GPU flavor", False, steps=["train"]),
            _param("optimizer", "str", "the optimiser", "adam", steps=["train"], enum=["adam", "sgd"])]


def _workflow(wid: str, name: str, description: str, n: int, *, steps: list[dict[str, Any]],
              parameters: list[dict[str, Any]], data: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    created = iso(_EPOCH + n * 3600)
    return {"workflow_id": wid, "name": name, "description": description, "created_at": created,
            "last_modified_at": created, "user_name": USER_NAME, "workspace_id": "0", "labels": labels,
            "data": data,
            "data_requirements": [{"name": d["name"], "type": d["type"], "conditions": [], "value": d["value"],
                                   "used_steps": d["used_steps"], "delay": False} for d in data],
            "parameters": parameters, "steps": steps,
            "sub_graphs": [{"name": "main", "steps": [s["name"] for s in steps]}],
            "policy": {"use_scene": "", "scene_id": "", "scenes": []}, "source_workflow_id": "", "source": "",
            "storages": [], "assets": [], "extend": {}, "with_subscription": False, "smn_switch": False,
            "subscription_id": "", "exeml_template_id": ""}


def _train_approve() -> dict[str, Any]:
    release = _step("release", "model", "Approve and release the model", after=["train"],
                    inputs=[{"name": "model_input", "type": "obs", "data": "$ref/steps/train/outputs/train_output"}],
                    properties={"model_name": "$ref/parameters/approved_model_name"})
    params = [*_train_params(), _param("approved_model_name", "str", "the name the approved model is released "
                                       "under; a person gives it when the release step asks", steps=["release"],
                                       delay=True)]
    return _workflow(TRAIN_APPROVE_ID, TRAIN_APPROVE_NAME, "Train a model, then wait for a person to approve "
                     "its release", 0, steps=[_train_step(), release], parameters=params,
                     data=[_data("training_data", DATA_URL, ["train"])], labels=["demo", "approval"])


def _train_confirm() -> dict[str, Any]:
    deploy = _step("deploy", "service", "Deploy after a manual confirmation", after=["train"],
                   properties={MANUAL_CONFIRM: "true", "service_name": "sandbox-service"})
    return _workflow(TRAIN_CONFIRM_ID, TRAIN_CONFIRM_NAME, "Train a model, then hold the deployment until a "
                     "person confirms it", 1, steps=[_train_step(), deploy], parameters=_train_params(),
                     data=[_data("training_data", DATA_URL, ["train"])], labels=["demo", "confirmation"])


def _quick_check() -> dict[str, Any]:
    check = _step("check", "job", "Check the data", after=[], properties={FAILS_IF: "fail_step"})
    params = [_param("fail_step", "bool", "make the step fail (for trying failures)", False, steps=["check"]),
              _param("threshold", "float", "the share of rows that must pass", 0.5, steps=["check"])]
    return _workflow(QUICK_CHECK_ID, QUICK_CHECK_NAME, "One quick step", 2, steps=[check], parameters=params,
                     data=[], labels=["demo"])


def _filler(n: int) -> dict[str, Any]:
    step = _step("report", "job", "Build the report", after=[], properties={})
    return _workflow(filler_id(n), f"nightly-report-{n:02d}", f"Nightly report number {n}", 2 + n,
                     steps=[step], parameters=[], data=[], labels=["filler"])


def workflows() -> list[dict[str, Any]]:
    """Every seeded workflow definition (fresh copies)."""
    return [_train_approve(), _train_confirm(), _quick_check(), *(_filler(n) for n in range(1, FILLER_COUNT + 1))]
