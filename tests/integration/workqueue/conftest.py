"""A work queue of each backend per test, with a unique name, deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from shared.config import Settings
from shared.workqueue import WorkQueue, create_work_queue
from shared.workqueue.base import admin

BACKENDS = ["redis", "amqp"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def queue_settings(settings: Settings, backend: str) -> Settings:
    return settings.model_copy(
        update={
            "work_queue_backend": backend,
            "work_queue_name": f"test-{uuid.uuid4().hex[:12]}",
            "work_queue_visibility_timeout": 1.0,
        }
    )


@pytest.fixture
async def queue(queue_settings: Settings) -> AsyncIterator[WorkQueue]:
    queue = create_work_queue(queue_settings)
    yield queue
    await admin(queue).delete_everything()
    await queue.close()
