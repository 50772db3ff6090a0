"""A provider's analytics: GET /providers/{provider_id}/stats?from&to."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from services.booking_api import policy, stats
from services.booking_api.analytics import rate, resolve_window
from services.booking_api.models import ProviderStats, StatsQuery
from services.booking_api.routes.common import caller
from shared.http.lifecycle import DATABASE
from shared.http.openapi import operation
from shared.http.validation import json_response, parse_query


@operation(
    "A provider's booking requests in [from, to) (default: the last 30 days): counts, "
    "acceptance, rejection, cancellation and expiry rates, median answer time",
    query=StatsQuery,
    response=ProviderStats,
)
async def provider_stats(request: web.Request) -> web.Response:
    principal = caller(request, "provider", "admin")
    provider_id = policy.provider_in_path(principal, request.match_info["provider_id"])
    query = parse_query(request, StatsQuery)
    window = resolve_window(query.starts_from, query.ends_before, datetime.now(UTC))
    async with request.app[DATABASE].acquire() as conn:
        found = await stats.figures(conn, provider_id, window)
    return json_response(
        ProviderStats(
            provider_id=provider_id,
            starts_from=window.start,
            ends_before=window.end,
            requests=found.requests,
            accepted=found.accepted,
            rejected=found.rejected,
            cancelled=found.cancelled,
            cancelled_by_provider=found.cancelled_by_provider,
            expired=found.expired,
            pending=found.pending,
            acceptance_rate=rate(found.accepted, found.requests),
            rejection_rate=rate(found.rejected, found.requests),
            cancellation_rate=rate(found.cancelled, found.requests),
            expiry_rate=rate(found.expired, found.requests),
            answers=found.answers,
            median_answer_seconds=found.median_answer_seconds,
        )
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/providers/{provider_id}/stats", provider_stats)
