"""What reward_worker is called, where it keeps its data, and its application's keys."""

from __future__ import annotations

from aiohttp import web

from shared.workqueue import WorkQueue

SERVICE = "reward_worker"  # the process, in logs, metrics and /healthz
# The checkout context's schema: the worker is its background half (rewards, points, levels).
SCHEMA = "checkout"
SOURCE = SERVICE  # the CloudEvents `source` of the events it records
QUEUE = web.AppKey("work_queue", WorkQueue)  # the reward work queue, open for the app's life
