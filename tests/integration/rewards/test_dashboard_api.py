"""The console's JSON routes answer bad input with 400 or 422 problems and a broker that is
away with 503, never a 500."""

from __future__ import annotations

from services.reward_worker.app import create_app
from shared.config import Settings
from shared.http.auth import mint_token
from tests.support.http import bearer, serve

BAD = [
    ("GET", "/dashboard/api/jobs?state=sleeping", None, 422),
    ("GET", "/dashboard/api/jobs?state=failed&limit=0", None, 422),
    ("GET", "/dashboard/api/jobs?state=failed&cursor=forged", None, 400),
    ("GET", "/dashboard/api/jobs?state=failed&field=data.x", None, 400),
    ("GET", "/dashboard/api/jobs?state=failed&colour=red", None, 422),
    ("GET", "/dashboard/api/chart?minutes=1000", None, 422),
    ("POST", "/dashboard/api/clean", {"state": "waiting", "older_than": 1}, 422),
    ("POST", "/dashboard/api/clean", {"state": "failed", "older_than": -1}, 422),
    ("POST", "/dashboard/api/clean", "not an object", 422),
    ("POST", "/dashboard/api/retry-class", {"error_class": ""}, 422),
    ("POST", "/dashboard/api/retry-class", None, 400),
    ("POST", "/dashboard/api/dead-letters/elsewhere/redrive", None, 404),
    ("POST", "/dashboard/api/dead-letters/booking-request/redrive", {"max": 0}, 422),
    ("GET", "/dashboard/api/jobs/" + "x" * 300, None, 404),
    ("POST", "/dashboard/api/jobs/nobody/promote", None, 404),
    ("DELETE", "/dashboard/api/schedules/nothing", None, 404),
    ("GET", "/dashboard/nothing.js", None, 404),
]


async def test_bad_input_is_a_client_error_with_a_problem(worker_settings: Settings) -> None:
    async with serve(create_app(worker_settings)) as client:
        admin = bearer(mint_token(worker_settings.jwt_secret, "ops", "admin"))
        for method, path, body, status in BAD:
            async with client.request(method, path, json=body, headers=admin) as response:
                assert response.status == status, (method, path, await response.text())
                assert response.content_type == "application/problem+json", path


async def test_a_broker_that_is_away_is_a_503_not_a_500(worker_settings: Settings) -> None:
    settings = worker_settings.model_copy(update={"redis_url": "redis://127.0.0.1:9/0"})
    async with serve(create_app(settings)) as client:
        admin = bearer(mint_token(settings.jwt_secret, "ops", "admin"))
        for path in ("/dashboard/api/jobs?state=failed", "/dashboard/api/status"):
            async with client.get(path, headers=admin) as response:
                assert response.status == 503, (path, await response.text())
        async with client.post("/dashboard/api/pause", headers=admin) as response:
            assert response.status == 503
