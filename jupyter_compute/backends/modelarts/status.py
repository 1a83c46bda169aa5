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
