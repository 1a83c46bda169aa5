"""Inference services of the ModelArts stand-in (v1: real-time and batch) and app authentication.

Follows the ModelArts API reference ("Service Management", "App Authentication Management") and
``shared/specs/modelarts.md`` to the field name. Batch services really run (``service_runner``): the
worker reads the inputs from OBS (the sandbox's S3 store), asks the seeded model and writes the results
back. Real-time services answer at their predict URL, served by the sandbox itself.

Huawei's Python SDK (``huaweicloudsdkmodelarts`` 3.1.x) has no calls for the v1 service API (its
``*_infer_service*`` calls are the newer v2 API, ``/v2/{project_id}/services``, another resource shape,
not served here); a v1 call is made with the SDK core's signer and HTTP client
(``tests/test_client_huawei_sdk_services.py``).

Routes (behind the gateway's checks, see ``server``; errors are ``{"error_code", "error_msg"}``)
---------------------------------------------------------------------------------------------
- ``POST /v1/{project_id}/services`` → 200 ``{"service_id", "resource_ids"}``. Body: ``service_name``
  (required, 1-64 letters, digits, ``-``, ``_``; unique), ``description`` (≤ 100 chars, none of
  ``!<>+&"'``), ``infer_type`` (required: ``real-time`` | ``batch``; ``edge`` is refused), ``workspace_id``,
  ``cluster_id`` (a seeded v1 cluster in state running or concerning; others are refused), ``schedule``
  (real-time only: at most one ``{"type": "stop", "time_unit": "DAYS"|"HOURS"|"MINUTES", "duration": >0}``),
  ``config`` (required, non-empty; one entry for batch): ``model_id`` (a seeded model), ``specification``
  (``modelarts.vm.cpu.2u`` | ``modelarts.vm.gpu.pnt004`` | ``modelarts.vm.ai1.snt3`` | ``custom``, the latter
  with ``custom_spec {cpu ≥ 0.01, memory MB, gpu_p4?}`` and a cluster), ``instance_count`` (1-128),
  ``envs`` (string map), ``cluster_id``; real-time: ``weight`` (0-100, integer or numeric string; the
  weights add up to 100); batch: ``src_path``, ``dest_path`` (OBS folders as
  ``https://<bucket>.obs.<region>.myhuaweicloud.com/<path>/``, ``obs://<bucket>/<path>/`` or
  ``/<bucket>/<path>/``), ``req_uri`` (starts with ``/``), ``mapping_type`` (``file`` | ``csv``),
  ``mapping_rule`` (required for csv; see ``service_models``).
- ``GET /v1/{project_id}/services?service_id&service_name&model_id&workspace_id&infer_type&status&offset&
  limit&sort_by&order`` → ``{total_count, count, services}``; filters match exactly, ``offset`` is a page
  index (default 0), ``limit`` default 1000, ``sort_by`` publish_at (default) | service_name |
  transition_at, ``order`` desc (default) | asc.
- ``GET /v1/{project_id}/services/{service_id}`` → the service: ``service_id, service_name, description,
  tenant, project, owner, publish_at, update_time, transition_at, operation_time, infer_type,
  workspace_id, cluster_id?, status, progress, error_msg, config [{model_id, model_name, model_version,
  specification, custom_spec?, instance_count, weight | src_path, dest_path, req_uri, mapping_type,
  mapping_rule?, start_time?, finished_time?, envs, status, …}], schedule?, due_time? (running with a
  schedule), access_address (a running real-time service: its predict URL), invocation_times,
  failed_times, is_shared, shared_count, is_free, additional_properties``.
- ``PUT /v1/{project_id}/services/{service_id}`` ``{"status": "stopped" | "running"}`` (stop / start;
  status wins over other fields), or ``{"description"}`` / ``{"schedule"}`` (real-time) → 200 ``{}``.
  Stop from deploying, running, concerning, pending, waiting; start from stopped, failed, finished (a
  batch service runs again). ``config`` updates are refused (the sandbox does not redeploy).
- ``DELETE /v1/{project_id}/services/{service_id}[,{service_id}…]`` → 200 ``{}``; the service is
  ``deleting`` for ``step_delay_s``, then gone (404).
- ``GET /v1/{project_id}/services/{service_id}/events?event_type&event_info&start_time&end_time&offset&
  limit&sort_by=occur_time&order`` → ``{service_id, service_name, total_count, count, events: [{event_type
  (normal | abnormal), event_info, occur_time (ms)}]}``, newest first by default: the lifecycle (deploy
  steps, running, the schedule's stop, stopping, stopped, finished, the failure's error).
- ``GET /v1/{project_id}/app-auth/apps/{app_id}/auth-apis?service_name&offset&limit&order`` → ``{apis:
  [{api_id, api_name, api_method: "ANY", api_remark, auth_type: "APP", predict_url, service_id,
  service_name, support_app_code: true}], count, total_count}``: the APIs of real-time services the app
  is authorised to call.
- ``GET /v1/{project_id}/services/{service_id}/app-auth-apis/{api_id}/api-auths?show_only=AUTH|UNAUTH&
  app_name&offset&limit&sort_by&order`` → ``{auths: [{app: ApigAppDetailInfo, authed}], count,
  total_count}``.
- Predict: ``{access_address}[/<path>]``, i.e. ``POST {base}/v1/infers/{service_id}[/…]`` with a JSON
  body → 200 with the model's answer (``{"sum": …}``). Credentials as APIG checks them: an IAM token
  (``X-Auth-Token``) or an AK/SK signature of the project (IAM authentication), or app authentication:
  the same ``SDK-HMAC-SHA256`` signature made with an app's ``app_key``/``app_secret``, or
  ``X-Apig-AppCode`` with one of the app's ``app_codes`` (none seeded). The app must be authorised for
  the service's API.

App authentication rule: every real-time service gets one API with ``auth_type`` APP, authorised for the
first seeded app (``infer-clients``, ``APP_AUTHED``), not for the second (``batch-callers``). Neither an
``app_secret`` nor a token ever appears in a log line or an error message.

Errors
------
::

    what                                                   answer
    -----------------------------------------------------  ------------------------------------------
    a create field missing, ill-typed or out of range      400 ModelArts.0101 "Invalid Argument: <field> …"
    infer_type edge                                        400 ModelArts.3518 (not enabled)
    an unknown cluster_id                                  400 ModelArts.3547 "Cluster … does not exist"
    src_path / dest_path not an OBS folder URL             400 ModelArts.3572 "Invalid OBS URL …"
    the same model twice in config                         400 ModelArts.3516
    an unknown model_id                                    404 ModelArts.3507 "Model … does not exist"
    a service_name already used                            409 ModelArts.3503 "Service … already exists"
    an unknown service                                     404 ModelArts.3502 "Service … does not exist"
    stop / start not allowed in the service's state        400 ModelArts.3519 (sandbox's use of the code)
    a bad query value (offset, limit, sort_by, order, …)   400 ModelArts.0101
    an unknown app_id / api_id                             404 ModelArts.0102 (sandbox's choice)
    predict: no or wrong credentials                       401 APIGW.0301
    predict: an app not authorised for the API             403 APIG.0302
    predict: unknown service / not running                 404 APIG.0101 / 503 ModelArts.4503
    predict: a body that is not JSON                       400 ModelArts.4302 (sandbox's choice)

Status sequences (each step waits ``sb.step_delay_s``)
-----------------------------------------------------
- batch: deploying → running → finished | failed (``error_msg``: a model that does not start, a missing
  or empty ``src_path`` "… does not exist or is empty"); a stop: stopping → stopped.
- real-time: deploying → running; a stop (or the schedule: event "the service is stopped by its
  schedule …") → stopping → stopped; start → deploying → running again.
- delete: deleting → gone.

Time scale: a schedule's ``duration`` lasts ``duration × time_unit_s[time_unit]`` seconds; tests may set
``sb.services.time_unit_s["MINUTES"] = 2``.

Seeds: models ``ROW_SUM_MODEL_ID`` (row-sum), ``SLOW_ROW_SUM_MODEL_ID`` (slow-row-sum),
``FAILING_MODEL_ID`` (always-fails) in ``service_models``; clusters and apps in ``seed``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from typing import TYPE_CHECKING, Any

import tornado.ioloop

from .auth import AUTH_ERROR_CODE, AuthFailure, authenticate
from .handlers import Api, Base
from .jobs import ApiError, now_ms
from .service_body import E_INVALID, check_create, check_description, check_schedule
from .service_models import FAILING_MODEL_ID, ROW_SUM_MODEL_ID, SLOW_ROW_SUM_MODEL_ID, predict
from .service_runner import CAN_START, CAN_STOP, Runner, Service
from .service_views import api_view, detail, list_api_auths, list_auth_apis, list_events, list_services, summary

if TYPE_CHECKING:
    from .server import ModelArtsSandbox

__all__ = ["APP_AUTHED", "FAILING_MODEL_ID", "ROW_SUM_MODEL_ID", "SLOW_ROW_SUM_MODEL_ID", "Services"]

E_SERVICE_NOT_FOUND = "ModelArts.3502"
E_SERVICE_EXISTS = "ModelArts.3503"
E_STATE = "ModelArts.3519"
E_NO_RESOURCE = "ModelArts.0102"
E_BACKEND_DOWN = "ModelArts.4503"
E_PREDICT_BODY = "ModelArts.4302"
#: The seeded app every real-time service's API is authorised for (``seed.apps``'s first).
APP_AUTHED = "8a1c3e5f7b9d0f2e4a6c8e0b2d4f6a8c"


class Services:
    """State and routes of the services API; one per sandbox."""

    def __init__(self, sb: ModelArtsSandbox) -> None:
        self.sb = sb
        self.time_unit_s: dict[str, float] = {"MINUTES": 60, "HOURS": 3600, "DAYS": 86400}
        self._services: dict[str, Service] = {}
        self._runners: list[Runner] = []

    def routes(self, handler_args: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The tornado routes this part serves."""
        p = r"([^/]+)"
        services = rf"/v1/{p}/services"
        return [
            (rf"{services}/?", ServicesHandler, handler_args),
            (rf"{services}/{p}/events/?", EventsHandler, handler_args),
            (rf"{services}/{p}/app-auth-apis/{p}/api-auths/?", ApiAuthsHandler, handler_args),
            (rf"{services}/{p}/?", ServiceHandler, handler_args),
            (rf"/v1/{p}/app-auth/apps/{p}/auth-apis/?", AuthApisHandler, handler_args),
            (r"/v1/infers/([^/]+)(/.*)?", PredictHandler, handler_args),
        ]

    def stop(self) -> None:
        """Ask background work to end (called on the sandbox's loop at shutdown)."""
        for svc in self._services.values():
            svc.stop.set()

    def join(self, timeout_s: float) -> None:
        """Wait for background threads after the loop has stopped."""
        for runner in self._runners:
            runner.thread.join(timeout_s)

    # ------------------------------------------------------------------ operations (on the loop)
    def find(self, service_id: str) -> Service:
        svc = self._services.get(service_id)
        if svc is None:
            raise ApiError(404, E_SERVICE_NOT_FOUND, f"Service {service_id} does not exist.")
        return svc

    def create(self, body: Any) -> Service:
        normal = check_create(body, self.sb._clusters)
        if any(s.name == normal["service_name"] for s in self._services.values()):
            raise ApiError(409, E_SERVICE_EXISTS, f"Service {normal['service_name']} already exists.")
        service_id = str(uuid.uuid4())
        svc = Service(id=service_id, body=normal, api_id=uuid.uuid4().hex,
                      predict_url=f"{self.sb.base_url}/v1/infers/{service_id}")
        if svc.kind == "real-time":
            svc.authed_apps.add(APP_AUTHED)
        self._services[service_id] = svc
        self._run(svc)
        return svc

    def _run(self, svc: Service) -> None:
        runner = Runner(svc, self.sb._store, self.sb.workdir / "services", lambda: self.sb.step_delay_s,
                        lambda unit: self.time_unit_s[unit])
        self._runners.append(runner)
        runner.thread.start()

    def update(self, svc: Service, body: Any) -> None:
        if not isinstance(body, dict):
            raise ApiError(400, E_INVALID, "Invalid Argument: body must be a JSON object")
        if "status" in body:
            return self._change_status(svc, body["status"])
        if "config" in body:
            raise ApiError(400, E_INVALID, "Invalid Argument: config updates are not supported by the sandbox "
                                           "(delete and create the service instead)")
        with svc.lock:
            if "description" in body:
                svc.body["description"] = check_description(body["description"])
            if "schedule" in body:
                svc.body["schedule"] = check_schedule(body["schedule"], svc.kind)
            svc.update_time = now_ms()

    def _change_status(self, svc: Service, target: Any) -> None:
        if target not in ("running", "stopped"):
            raise ApiError(400, E_INVALID, f"Invalid Argument: status {target!r} must be running or stopped")
        allowed = CAN_STOP if target == "stopped" else CAN_START
        with svc.lock:
            if svc.status not in allowed:
                verb = "stopped" if target == "stopped" else "started"
                raise ApiError(400, E_STATE, f"Service {svc.id} is {svc.status}: only services in one of states "
                                             f"[{', '.join(sorted(allowed))}] can be {verb}.")
            svc.update_time = now_ms()
            if target == "stopped":
                svc.set_status("stopping")
                svc.event("stopping service")
                svc.stop.set()
                return
            svc.stop = threading.Event()
            svc.set_status("deploying")
            svc.progress, svc.error_msg, svc.finished_time, svc.due_time = 0, "", None, None
        self._run(svc)

    def delete(self, svc: Service) -> None:
        with svc.lock:
            svc.set_status("deleting")
            svc.event("deleting service")
            svc.deleted = True
            svc.stop.set()
        tornado.ioloop.IOLoop.current().call_later(self.sb.step_delay_s, self._services.pop, svc.id, None)

    def apis_of(self, app_id: str) -> list[dict[str, Any]]:
        if not any(a["app_id"] == app_id for a in self.sb._apps):
            raise ApiError(404, E_NO_RESOURCE, f"The app {app_id} does not exist.")
        return [api_view(s) for s in self._services.values()
                if s.kind == "real-time" and not s.deleted and app_id in s.authed_apps]

    def rows(self) -> list[tuple[dict[str, Any], Service]]:
        out = []
        for svc in self._services.values():
            with svc.lock:
                out.append((summary(svc, self.sb.project_id), svc))
        return out



# ---------------------------------------------------------------------- handlers
class ServicesApi(Api):
    @property
    def services(self) -> Services:
        return self.sb.services


class ServicesHandler(ServicesApi):
    def post(self, _project: str) -> None:
        svc = self.services.create(self.json_body())
        self.send(200, {"service_id": svc.id, "resource_ids": [f"INF-{svc.id[:16]}@{svc.created_ms}"]})

    def get(self, _project: str) -> None:
        args = self.args("service_id", "service_name", "model_id", "workspace_id", "infer_type", "status",
                         "offset", "limit", "sort_by", "order")
        self.send(200, list_services(self.services.rows(), args))


class ServiceHandler(ServicesApi):
    def get(self, _project: str, service_id: str) -> None:
        svc = self.services.find(service_id)
        with svc.lock:
            view = detail(svc, self.sb.project_id)
        self.send(200, view)

    def put(self, _project: str, service_id: str) -> None:
        self.services.update(self.services.find(service_id), self.json_body())
        self.send(200, {})

    def delete(self, _project: str, service_ids: str) -> None:
        found = [self.services.find(sid.strip()) for sid in service_ids.split(",") if sid.strip()]
        for svc in found:
            self.services.delete(svc)
        self.send(200, {})


class EventsHandler(ServicesApi):
    def get(self, _project: str, service_id: str) -> None:
        svc = self.services.find(service_id)
        args = self.args("event_type", "event_info", "start_time", "end_time", "offset", "limit", "sort_by", "order")
        with svc.lock:
            answer = list_events(svc, args)
        self.send(200, answer)


class AuthApisHandler(ServicesApi):
    def get(self, _project: str, app_id: str) -> None:
        apis = self.services.apis_of(app_id)
        self.send(200, list_auth_apis(apis, self.args("service_name", "offset", "limit", "sort_by", "order")))


class ApiAuthsHandler(ServicesApi):
    def get(self, _project: str, service_id: str, api_id: str) -> None:
        svc = self.services.find(service_id)
        if svc.kind != "real-time" or api_id != svc.api_id:
            raise ApiError(404, E_NO_RESOURCE, f"The API {api_id} of service {service_id} does not exist.")
        args = self.args("show_only", "app_name", "offset", "limit", "sort_by", "order")
        self.send(200, list_api_auths(self.sb._apps, set(svc.authed_apps), args))


class PredictHandler(Base):
    """A real-time service's predict URL, behind APIG's IAM or app authentication."""

    async def post(self, service_id: str, _path: str | None) -> None:
        svc = self.sb.services._services.get(service_id)
        if svc is None or svc.kind != "real-time" or svc.deleted:
            return self.gateway_error(404, "APIG.0101", "The API does not exist or has not been published in "
                                                        "the environment")
        if not self._authorised(svc):
            return
        with svc.lock:
            running = svc.status in ("running", "concerning")
            svc.invocation_times += 1
            if not running:
                svc.failed_times += 1
        if not running:
            return self.send(503, {"error_code": E_BACKEND_DOWN, "error_msg": "Failed to respond due to backend "
                                                                              "service not found"})
        try:
            request = json.loads(self.request.body or b"null")
        except ValueError:
            with svc.lock:
                svc.failed_times += 1
            return self.send(400, {"error_code": E_PREDICT_BODY, "error_msg": "the request body is not JSON"})
        model = svc.model()
        answer = await asyncio.get_running_loop().run_in_executor(None, predict, model, request)
        self.send(200, answer)

    def _authorised(self, svc: Service) -> bool:
        """Check the caller as APIG does; answer the refusal and False when it fails."""
        app_code = self.request.headers.get("X-Apig-AppCode")
        if app_code is not None and self.request.headers.get("Authorization") is None:
            return self._app_code_allowed(svc, app_code)
        req = self.request
        keys = {a["app_key"]: a["app_id"] for a in self.sb._apps}
        secrets = {a["app_key"]: a["app_secret"] for a in self.sb._apps}
        try:
            caller = authenticate(req.method or "POST", req.path, req.query, req.headers, req.body or b"",
                                  credentials={**self.sb.credentials, **secrets}, tokens=self.sb.tokens)
        except AuthFailure as exc:
            self.gateway_error(401, AUTH_ERROR_CODE, str(exc))
            return False
        if caller.access_key in keys:
            return self._app_allowed(svc, keys[caller.access_key])
        return True

    def _app_code_allowed(self, svc: Service, app_code: str) -> bool:
        app = next((a for a in self.sb._apps if app_code in a["app_codes"]), None)
        if app is None:
            self.gateway_error(401, AUTH_ERROR_CODE, "Incorrect app authentication information: app code not found")
            return False
        return self._app_allowed(svc, app["app_id"])

    def _app_allowed(self, svc: Service, app_id: str) -> bool:
        if app_id in svc.authed_apps:
            return True
        self.gateway_error(403, "APIG.0302", "The app is not authorized to access the API")
        return False
