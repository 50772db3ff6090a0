"""Outbox destinations, named for what they carry. No transport here: which queue or broker
serves each one is the publishers' business (shared.messaging.sqs, shared.workqueue)."""

from __future__ import annotations

# Everything the provider's side must know of a booking (the booking-request SQS queue).
PROVIDER_EVENTS = "booking-request"
# What users and customers are told (the booking-confirmation SQS queue).
USER_NOTICES = "booking-confirmation"
# Reward jobs of checkouts and refunds (the work queue).
REWARD_JOBS = "reward-jobs"
