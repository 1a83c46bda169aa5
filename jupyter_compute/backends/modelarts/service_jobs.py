"""Inference service jobs on ModelArts (v1 services API): submit, status, stop, delete, events as the log,
and a batch service's output folder. What a spec may hold is in :mod:`.services`; the HTTP and OBS
plumbing is the backend's (:mod:`.backend`)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import BackendError, ComputeError, InvalidSpec, NotFound, NotSupported
from ...models import JobState, LogChunk, RemoteStatus
from ..base import JobDetail, Submission
from .apps import masked_app, shown_api
from .auth import segment
from .common import DESCRIPTION_PREFIX
from .json_fields import as_list, as_mapping
from .refusals import field_hint
from .storage import display_url
from .services import (
    BATCH,
    ServicePlan,
    create_body,
    dest_path,
    event_lines,
    service_description,
    service_facts,
    service_id_of,
    service_remote_id,
    service_status,
    split_csv_to_temp,
    stopped_by_schedule,
)

if TYPE_CHECKING:
    from .backend import ModelArtsBackend

#: Services asked for per page of the v1 listing (its ``offset`` is a page index).
SERVICE_PAGE = 100
#: Apps, and APIs of an app, read for a service's detail.
APP_PAGE = 1000
#: Pages of the service listing read at most (a platform that ignored ``offset`` would never end).
MAX_PAGES = 1000
#: Events read for a service's log and for who stopped it.
EVENT_PAGE = 1000
#: Words in ModelArts' refusal of a service → the spec field they are about (first match wins).
SERVICE_FIELD_HINTS: tuple[tuple[str, str], ...] = (
    ("model_id", "extra.model_id"), ("model ", "extra.model_id"), ("custom_spec", "extra.custom_spec"),
    ("specification", "environment"),
    ("instance_count", "extra.instance_count"), ("cluster", "cluster"), ("schedule", "extra.duration"),
    ("src_path", "inputs"), ("dest_path", "output"), ("mapping_rule", "extra.mapping_rule"),
    ("mapping_type", "extra.mapping_type"), ("req_uri", "extra.req_uri"), ("envs", "params"),
    ("service_name", "name"),
)


class ServiceJobs:
    """The service job kinds of one ModelArts backend."""

    def __init__(self, backend: ModelArtsBackend) -> None:
        self.backend = backend

    def _path(self, *parts: str) -> str:
        return self.backend._path("v1", "services", *parts)

    # submit ---------------------------------------------------------------------------
    async def submit(self, plan: ServicePlan, job_id: str) -> Submission:
        """Upload a local input, then create the service; a refusal removes the uploads."""
        b = self.backend
        if plan.source_obs and b.obs_endpoint:
            await self._check_input(plan.source_obs)
        source, rule = await self._input(plan, job_id)
        output = plan.output
        if plan.kind == BATCH and output is None:
            output = b._job_folder(job_id, "output", field="output")
        body = create_body(plan, job_id=job_id, source=source, output=output, mapping_rule=rule)
        data = await self._create(plan, job_id, body)
        service_id = data.get("service_id") if isinstance(data, dict) else None
        if not isinstance(service_id, str) or not service_id:
            raise BackendError("ModelArts created the service but answered no service_id", backend=b.name)
        b.log.info("modelarts backend '%s': job %s is %s %s", b.name, job_id, plan.kind, service_id)
        return Submission(service_remote_id(service_id), RemoteStatus(JobState.QUEUED, "deploying", "submitted"))

    async def _check_input(self, folder: str) -> None:
        """The OBS input folder holds files (the platform would fail the service later otherwise)."""
        b = self.backend
        if not await b._obs_exists(b._store(), folder, what="checking the input folder"):
            raise InvalidSpec(f"{display_url(folder)} is empty or missing on OBS", field="inputs[0]", backend=b.name)

    async def _input(self, plan: ServicePlan, job_id: str) -> tuple[str | None, dict[str, Any] | None]:
        """(the input folder on OBS, the mapping rule): a local input is uploaded first (and removed when
        the upload fails)."""
        if plan.source_local is None:
            return plan.source_obs, plan.mapping_rule
        try:
            source, made_rule = await self._upload_input(plan, job_id)
        except ComputeError:
            await self.backend._remove_job_folder(job_id)
            raise
        return source, plan.mapping_rule or made_rule

    async def _create(self, plan: ServicePlan, job_id: str, body: dict[str, Any]) -> Any:
        """The create call's answer; a refusal names the spec field and removes the uploads."""
        b = self.backend
        try:
            return await b._json("POST", self._path(), what=f"creating the service of {job_id}", json_body=body,
                                 field_hints=SERVICE_FIELD_HINTS)  # fmt: skip
        except (InvalidSpec, NotFound) as exc:  # refused: nothing uses the uploads
            if plan.source_local is not None:
                await b._remove_job_folder(job_id)
            if isinstance(exc, NotFound):  # what the body names does not exist (a model, a cluster)
                raise InvalidSpec(exc.message, field=field_hint(exc.message, SERVICE_FIELD_HINTS),
                                  backend=b.name) from None  # fmt: skip
            raise

    async def _upload_input(self, plan: ServicePlan, job_id: str) -> tuple[str, dict[str, Any] | None]:
        """The local input uploaded to ``<job>/inputs/``: (that folder, the mapping rule a CSV's header makes)."""
        b = self.backend
        local = plan.source_local
        assert local is not None
        folder = b._job_folder(job_id, "inputs", field="inputs[0]")
        if not plan.csv_from_local:
            await b._upload(local, folder, what="the input")
            return folder, None
        body, rule = await asyncio.to_thread(split_csv_to_temp, local)
        try:
            await b._upload(body, folder, what="the input")
        finally:
            await asyncio.to_thread(shutil.rmtree, body.parent, True)
        return folder, rule

    # status ---------------------------------------------------------------------------
    async def show(self, remote_id: str) -> dict[str, Any]:
        service_id = service_id_of(remote_id)
        data = await self.backend._json("GET", self._path(segment(service_id)), what=f"reading service {service_id}")
        if not isinstance(data, dict):
            raise BackendError(f"ModelArts answered service {service_id} with no service object",
                               backend=self.backend.name)  # fmt: skip
        return data

    async def _events(self, remote_id: str) -> list[Any]:
        """The service's newest ``EVENT_PAGE`` events, oldest first."""
        service_id = service_id_of(remote_id)
        data = await self.backend._json(
            "GET", self._path(segment(service_id), "events"), what=f"reading the events of service {service_id}",
            params=[("limit", EVENT_PAGE), ("sort_by", "occur_time"), ("order", "desc")],
        )  # fmt: skip
        return list(reversed(as_list(data.get("events") if isinstance(data, dict) else None)))

    async def status_of(self, remote_id: str, service: dict[str, Any]) -> RemoteStatus:
        """The status of a service read already; a stopped real-time one asks its events who stopped it."""
        by_schedule = False
        if service.get("status") == "failed" and not service.get("error_msg"):  # the listing leaves it out
            service = await self.show(remote_id)
        if service.get("infer_type") == "real-time" and service.get("status") == "stopped":
            by_schedule = stopped_by_schedule(await self._events(remote_id))
        return service_status(service, self.backend._scrub, by_schedule=by_schedule)

    async def status(self, remote_id: str) -> RemoteStatus:
        return await self.status_of(remote_id, await self.show(remote_id))

    async def listing(self) -> AsyncIterator[dict[str, Any]]:
        """Every service of the project, newest first, page by page (``offset`` is the page index)."""
        for page in range(MAX_PAGES):
            data = await self.backend._json("GET", self._path(), what="listing services",
                                            params=[("offset", page), ("limit", SERVICE_PAGE)])  # fmt: skip
            items = as_list(data.get("services") if isinstance(data, dict) else None)
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("service_id"), str):
                    yield item
            if len(items) < SERVICE_PAGE:
                return
        self.backend.log.warning("modelarts backend '%s': service listing cut at %d pages", self.backend.name,
                                 MAX_PAGES)

    async def status_many(self, remote_ids: Sequence[str]) -> dict[str, RemoteStatus]:
        """One listing for all of them; an id left out is one the platform no longer has."""
        wanted = set(remote_ids)
        found: dict[str, RemoteStatus] = {}
        async for item in self.listing():
            remote_id = service_remote_id(item["service_id"])
            if remote_id in wanted:
                found[remote_id] = await self.status_of(remote_id, item)
        return found

    async def list_jobs(self) -> list[tuple[str, RemoteStatus]]:
        jobs = []
        async for item in self.listing():
            remote_id = service_remote_id(item["service_id"])
            jobs.append((remote_id, await self.status_of(remote_id, item)))
        return jobs

    async def recover(self, job_id: str) -> str | None:
        """The service created for our ``job_id`` (its description names it), if any."""
        description = f"{DESCRIPTION_PREFIX}{job_id}"
        async for item in self.listing():
            if service_description(item) == description:
                return service_remote_id(item["service_id"])
        return None

    # detail ---------------------------------------------------------------------------
    async def detail(self, remote_id: str) -> JobDetail:
        """The service's facts; for a real-time service also its APIs and the apps allowed to call them."""
        service = await self.show(remote_id)
        facts = service_facts(service)
        if service.get("infer_type") == "real-time":
            facts["app authentication"] = await self._app_auth(service)
        return JobDetail(facts, [])

    async def _app_auth(self, service: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Each API of the service with an app allowed to call it (secrets masked)."""
        b, service_id = self.backend, service.get("service_id")
        data = await b._json("GET", b._path("v1", "app-auth", "apps"), what="listing the apps of app authentication",
                             params=[("limit", APP_PAGE)])  # fmt: skip
        shown = []
        for app in as_list(data.get("apps") if isinstance(data, dict) else None):
            app_id = as_mapping(app).get("app_id")
            if not isinstance(app_id, str):
                continue
            apis = await b._json("GET", b._path("v1", "app-auth", "apps", segment(app_id), "auth-apis"),
                                 what=f"listing the APIs app {app_id} may call",
                                 params=[("service_name", service.get("service_name") or ""), ("limit", APP_PAGE)])
            for api in as_list(apis.get("apis") if isinstance(apis, dict) else None):
                if as_mapping(api).get("service_id") == service_id:
                    shown.append({**shown_api(api), "app": masked_app(app)})
        return shown

    # actions --------------------------------------------------------------------------
    async def act(self, remote_id: str, action: str, values: Mapping[str, Any]) -> RemoteStatus:
        """A service offers no action beyond cancel and delete."""
        raise NotSupported(f"service {service_id_of(remote_id)} offers no action '{action}'",
                           backend=self.backend.name)  # fmt: skip

    async def cancel(self, remote_id: str) -> None:
        """Stop the service (a real-time one is undeployed; a batch one stops where it is)."""
        service_id = service_id_of(remote_id)
        await self.backend._call("PUT", self._path(segment(service_id)), what=f"stopping service {service_id}",
                                 json_body={"status": "stopped"})  # fmt: skip

    async def delete(self, remote_id: str) -> None:
        service_id = service_id_of(remote_id)
        await self.backend._call("DELETE", self._path(segment(service_id)), what=f"deleting service {service_id}")

    async def logs(self, remote_id: str, offset: int = 0) -> LogChunk:
        """The service's events as lines, from byte ``offset``; complete once the job ended."""
        service = await self.show(remote_id)
        events = await self._events(remote_id)
        done = service_status(service).state.is_terminal  # stopped is an end whoever stopped it: no second events read
        data = self.backend._scrub(event_lines(events)).encode()
        start = min(max(0, offset), len(data))
        return LogChunk(data[start:].decode(errors="replace"), len(data), complete=done)

    async def output_folders(self, remote_id: str) -> dict[str, str]:
        """A batch service's output folder (none for a real-time service)."""
        service = await self.show(remote_id)
        try:
            folder = dest_path(service)
        except InvalidSpec as exc:
            raise BackendError(f"ModelArts answered service {service_id_of(remote_id)} with an output folder that is "
                               f"not an OBS path: {exc.message}", backend=self.backend.name) from None
        return {"output": folder} if folder else {}

