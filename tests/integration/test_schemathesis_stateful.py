"""Both HTTP APIs walked along their OpenAPI links by schemathesis's state machine.

Each scenario starts from an operation that needs no earlier answer (publish a slot, list
slots or bookings; register a customer, add a product) and follows the links of each answer:
a slot is booked, the booking read, answered, cancelled or moved; a product goes into the
cart, the cart is paid, the transaction read and refunded. Every answer must pass the same
checks as the stateless run: no 5xx, a documented status and content type, a body matching
its schema. Each operation is called with the token of the role its flow needs.

Each scenario has a world of its own (a new provider and user, a new funded customer), so
the same generated steps meet the same answers whenever Hypothesis replays a prefix; the
runs are derandomized and bounded. The test also asserts the flows got deep (a booking
accepted, a checkout refunded), so a run that only met 404s and 422s fails too.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis.stateful import Bundle
from schemathesis.generation.feedback import NO_FEEDBACK
from schemathesis.generation.stateful.state_machine import StepInput, normalize_name
from schemathesis.specs.openapi.stateful import _step_case_strategy, is_root_allowed, transition

from services.booking_api.app import create_app as booking_app
from services.checkout_api.app import create_app as checkout_app
from shared.config import Settings
from tests.integration import test_schemathesis as stateless

RUN_SETTINGS = hypothesis.settings(
    max_examples=20,  # scenarios of a run (each run sets its own)
    stateful_step_count=8,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)

SLOTS = "POST /providers/{provider_id}/slots"
BOOKING_ROLES = {
    SLOTS: "provider",
    "DELETE /providers/{provider_id}/slots/{slot_id}": "provider",
    "GET /providers/{provider_id}/bookings": "provider",
    "GET /providers/{provider_id}/stats": "provider",
    "POST /providers/{provider_id}/bookings/{booking_id}/accept": "provider",
    "POST /providers/{provider_id}/bookings/{booking_id}/reject": "provider",
    "POST /providers/{provider_id}/bookings/{booking_id}/cancel": "provider",
}
CHECKOUT_ROLES = {
    "POST /carts/me/items": "customer",
    "GET /carts/me": "customer",
    "DELETE /carts/me/items/{product_id}": "customer",
    "POST /checkout": "customer",
    "GET /transactions/{transaction_id}": "customer",
}
BodyFix = Callable[[dict[str, Any]], None]


@dataclass
class World:
    """The principals of one scenario: a token per role, the parameters that name them (the
    provider in a path, whose id only the token gives), and fixes of generated bodies."""

    by_role: dict[str, dict[str, str]]
    pinned: dict[str, str] = field(default_factory=dict)
    fix_body: dict[str, BodyFix] = field(default_factory=dict)


@dataclass
class Walk:
    """One API's stateful run: the roles its operations need, where scenarios start, and
    what the run saw."""

    base_url: str
    new_world: Callable[[], World]
    roles: dict[str, str]
    default_role: str
    world: World | None = None
    session: requests.Session = field(default_factory=requests.Session)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def run(self, roots: tuple[str, ...], scenarios: int) -> None:
        """`scenarios` scenarios, each starting at one of `roots`."""
        document = requests.get(f"{self.base_url}/openapi.json", timeout=10).json()
        schema = schemathesis.openapi.from_dict(document)
        # Only the declared links: none inferred from names (the test is about ours).
        schema.config.phases.stateful.inference.algorithms = []
        # Valid data only: derandomized, schemathesis's one-in-ten share of invalid steps
        # becomes most of them, and invalid data is the stateless run's part.
        schema.config.generation.modes = [stateless.POSITIVE]
        self.machine(schema, roots).run(
            settings=hypothesis.settings(RUN_SETTINGS, max_examples=scenarios)
        )

    def machine(self, schema: Any, roots: tuple[str, ...]) -> type:
        """The state machine of `schema` with `roots` as the only scenario starts (schemathesis
        starts nowhere a path names a resource no operation creates, such as a provider,
        whose id comes from the token), each call made, checked and counted by this walk."""
        base = schema.as_state_machine()
        walk = self
        # A subclass attribute of None hides a rule: schemathesis's own starts go.
        rules: dict[str, Any] = dict.fromkeys(base.root_rules)
        operations = {result.ok().label: result.ok() for result in schema.get_all_operations()}
        starts = []
        for label in roots:
            operation = operations[label]
            modes = schema.config.generation_for(operation=operation, phase="stateful").modes
            assert modes == [stateless.POSITIVE], modes
            name = normalize_name(f"START -> {label}")
            # Built as schemathesis builds its own start rules (its rule factory).
            cases = _step_case_strategy(operation, modes, feedback=NO_FEEDBACK)
            rules[name] = transition(
                name=name,
                target=Bundle("catch_all"),
                precondition=is_root_allowed(label),
                input=cases.map(StepInput.initial),
            )
            starts.append(name)

        class Flows(base):  # type: ignore[valid-type, misc]
            root_rules = frozenset(starts)
            _root_labels = frozenset(roots)

            def setup(self) -> None:
                walk.world = walk.new_world()

            def before_call(self, case: schemathesis.Case) -> None:
                walk.prepare(case)

            def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
                assert walk.world is not None
                role = walk.roles.get(case.operation.label, walk.default_role)
                headers = walk.world.by_role[role]
                kwargs = {"base_url": walk.base_url, "session": walk.session, "timeout": 15}
                return {**kwargs, "headers": headers}

            def validate_response(
                self, response: Any, case: schemathesis.Case, *args: Any, **kwargs: Any
            ) -> None:
                walk.check(self, response, case, kwargs)

        for name, rule in rules.items():
            setattr(Flows, name, rule)
        return Flows

    def prepare(self, case: schemathesis.Case) -> None:
        """The token of the role replaces whatever the generator put there; each idempotent
        call gets a fresh key (a key repeated across scenarios would replay an old answer);
        the scenario's principals fill the parameters that name them; bodies are fixed
        where random data cannot succeed (a slot window in the future)."""
        assert self.world is not None
        case.headers = {
            k: v
            for k, v in (case.headers or {}).items()
            if k.lower() not in ("authorization", "idempotency-key")
        }
        if any(p.name == "Idempotency-Key" for p in case.operation.headers):
            case.headers["Idempotency-Key"] = str(uuid.uuid4())
        for name, value in self.world.pinned.items():
            if case.path_parameters is not None and name in case.path_parameters:
                case.path_parameters[name] = value
            if any(p.name == name for p in case.operation.query):
                case.query = {**(case.query or {}), name: value}
        fix = self.world.fix_body.get(case.operation.label)
        if fix is not None and isinstance(case.body, dict):
            fix(case.body)

    def check(self, machine: Any, response: Any, case: schemathesis.Case, kw: Any) -> None:
        self.statuses[(case.operation.label, response.status_code)] += 1
        try:
            case.validate_response(
                response,
                checks=stateless.CHECKS,
                headers=kw.get("headers"),
                transport_kwargs=kw,
                recorder=machine.recorder,
            )
        # Collected rather than raised: a failure would be shrunk against a database that
        # has moved on, and every flow should run.
        except (Exception, BaseExceptionGroup) as exc:
            self.failures.append(f"{case.operation.label}: {exc}"[:3000])

    def assert_clean(self, deep: tuple[str, ...]) -> None:
        assert sum(self.statuses.values()) > 100, self.statuses
        reached = {label for (label, code), n in self.statuses.items() if code < 300}
        shallow = [label for label in deep if label not in reached]
        assert not shallow, f"never succeeded: {shallow}\n{sorted(self.statuses.items())}"
        failures = self.failures
        assert not failures, f"{len(failures)} failures:\n" + "\n\n".join(failures[:20])


def slot_windows() -> BodyFix:
    """A generated slot gets the next hour two days ahead (and a real time zone if it has
    one), so publishing succeeds and the link to a booking has a slot to book."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    hours = count()

    def fix(body: dict[str, Any]) -> None:
        at = start + timedelta(hours=next(hours))
        body["starts_at"] = at.isoformat()
        body["ends_at"] = (at + timedelta(minutes=30)).isoformat()
        if body.get("time_zone") is not None:
            body["time_zone"] = "Europe/Paris"

    return fix


def test_booking_flows_along_the_links_conform_for_every_role(settings: Settings) -> None:
    def new_world() -> World:
        """A provider with three slots published, the first booked by the user: the lists
        that start scenarios have something to link to (the second slot is the first open
        one listed), and a move has a slot to go to (the third)."""
        provider = f"provider-{uuid.uuid4().hex[:8]}"
        subjects = {"user": f"user-{uuid.uuid4().hex[:8]}", "provider": provider}
        by_role = stateless.tokens(settings, {**subjects, "admin": "admin-1", "customer": "c"})
        windows = slot_windows()
        slots = []
        for _ in range(3):
            body: dict[str, Any] = {}
            windows(body)
            path = f"/providers/{provider}/slots"
            slots.append(stateless.post(base_url, path, by_role["provider"], body)["id"])
        stateless.post(base_url, "/bookings", by_role["user"], {"slot_id": slots[0]})

        def move_to_third(body: dict[str, Any]) -> None:
            body["slot_id"] = slots[2]

        fixes = {SLOTS: windows, "POST /bookings/{booking_id}/reschedule": move_to_third}
        return World(by_role, {"provider_id": provider}, fixes)

    with stateless.served(booking_app(settings)) as base_url:
        walk = Walk(base_url, new_world, BOOKING_ROLES, "user")
        walk.run((SLOTS, "GET /available-slots", "GET /bookings"), scenarios=25)
    walk.assert_clean(
        deep=(
            SLOTS,
            "POST /bookings",
            "GET /bookings/{booking_id}",
            "GET /bookings/{booking_id}/history",
            "POST /providers/{provider_id}/bookings/{booking_id}/accept",
        )
    )


def test_checkout_flows_along_the_links_conform_for_every_role(settings: Settings) -> None:
    subjects = {"user": "user-1", "provider": "p-1", "admin": "admin-1", "customer": "c-1"}
    admin = stateless.tokens(settings, subjects)["admin"]

    def new_world() -> World:
        customer = stateless.post(base_url, "/customers", admin, {"name": "Walker"})["id"]
        # Enough for a checkout at the highest price of every line the generator may send.
        for _ in range(2):
            top_up = {"customer_id": customer, "amount": 10_000_000_000}
            stateless.post(base_url, "/wallet/top-ups", admin, top_up)
        return World(stateless.tokens(settings, {**subjects, "customer": customer}))

    with stateless.served(checkout_app(settings)) as base_url:
        walk = Walk(base_url, new_world, CHECKOUT_ROLES, "admin")
        # One run per flow, so neither takes the other's budget.
        walk.run(("POST /products",), scenarios=15)
        walk.run(("POST /customers",), scenarios=10)
    walk.assert_clean(
        deep=(
            "POST /customers",
            "POST /products",
            "POST /carts/me/items",
            "POST /checkout",
            "GET /transactions/{transaction_id}",
            "POST /transactions/{transaction_id}/refunds",
        )
    )


pytestmark = pytest.mark.timeout(300)
