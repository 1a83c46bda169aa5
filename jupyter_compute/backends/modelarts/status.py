"""The status tables: each ModelArts job kind's native statuses → our states, and what they mean in words.

Every row is tested (``tests/test_modelarts_status.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ...models import JobState

#: ModelArts training-job phases → our states (``secondary_phase`` is kept in the native status only).
TRAINING_PHASES: Mapping[str, JobState] = {
    "Creating": JobState.QUEUED,
    "Pending": JobState.QUEUED,
    "Running": JobState.RUNNING,
    "Completed": JobState.SUCCEEDED,
    "Failed": JobState.FAILED,
    "Abnormal": JobState.FAILED,
    "Terminating": JobState.CANCELLED,
    "Terminated": JobState.CANCELLED,
}
#: What a phase means, in words, when the platform says nothing more.
PHASE_WORDS: Mapping[str, str] = {
    "Creating": "being created",
    "Pending": "waiting for resources",
    "Running": "running",
    "Completed": "",
    "Failed": "the job failed; its log says why",
    "Abnormal": "the job became abnormal",
    "Terminating": "being stopped",
    "Terminated": "stopped",
}

#: Inference service statuses (v1 ``status``) → our states. A batch service ends ``finished``; a real-time
#: service is a long-running job that runs while deployed and ends ``stopped``, which is SUCCEEDED when its
#: auto-stop schedule stopped it (``services.service_status`` tells which).
SERVICE_STATUS: Mapping[str, JobState] = {
    "pending": JobState.QUEUED,
    "waiting": JobState.QUEUED,
    "deploying": JobState.QUEUED,
    "running": JobState.RUNNING,
    "concerning": JobState.RUNNING,
    "finished": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "stopping": JobState.RUNNING,  # not ended yet: who stopped it is told once it is stopped
    "stopped": JobState.CANCELLED,
    "deleting": JobState.CANCELLED,
}
#: What a service status means, in words, when the platform says nothing more.
SERVICE_WORDS: Mapping[str, str] = {
    "pending": "waiting to be deployed",
    "waiting": "waiting for resources",
    "deploying": "being deployed",
    "running": "running",
    "concerning": "running, but some instances are unhealthy",
    "finished": "",
    "failed": "the service failed",
    "stopping": "being stopped",
    "stopped": "stopped",
    "deleting": "being deleted",
}

#: Workflow execution statuses → our states.
EXECUTION_STATUS: Mapping[str, JobState] = {
    "init": JobState.QUEUED,
    "running": JobState.RUNNING,
    "completed": JobState.SUCCEEDED,
    "stopped": JobState.CANCELLED,
    "abnormal": JobState.FAILED,
}
#: Workflow step statuses in words (each step's status is shown in the job's message).
STEP_WORDS: Mapping[str, str] = {
    "init": "not started",
    "wait_inputs": "waiting for input",
    "pending": "waiting for resources",
    "creating": "being created",
    "created": "created",
    "create_failed": "could not be created",
    "running": "running",
    "stopping": "being stopped",
    "stopped": "stopped",
    "timeout": "timed out",
    "completed": "completed",
    "failed": "failed",
    "hold": "waiting for a person to go on",
    "skipped": "skipped",
}
#: Step statuses where the execution waits for a person.
WAITING_STEPS = frozenset({"wait_inputs", "hold"})
