"""OpenAPI links: how the answer of one operation feeds the next (a created slot's id into
a booking, a checkout's transaction id into its refund).

A route declares them in `@operation(links=(Link(...), ...))`; the generator writes them on
the operation's success response, each target named by an `operationRef`, so clients and
schemathesis's stateful runs can follow the flows the API is built for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Link:
    """From this operation's success answer to `target` ("METHOD /path/{param}").

    `parameters` maps a path or query parameter of the target to a runtime expression
    (`$response.body#/id`, `$request.body#/product_id`); `body` gives fields of the target's
    request body the same way (nested dicts and lists allowed).
    """

    name: str
    target: str
    description: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None

    @property
    def method(self) -> str:
        return self.target.split(" ", 1)[0].lower()

    @property
    def path(self) -> str:
        return self.target.split(" ", 1)[1]


def operation_ref(path: str, method: str) -> str:
    """The JSON pointer of an operation in the document (RFC 6901 escaping)."""
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"#/paths/{escaped}/{method}"


def render_links(
    source: str, links: tuple[Link, ...], operations: set[tuple[str, str]]
) -> dict[str, Any]:
    """The `links` object of a response; a link to an operation the app lacks is a bug of
    the declaration, refused when the document is built."""
    rendered: dict[str, Any] = {}
    for link in links:
        if (link.path, link.method) not in operations:
            raise ValueError(f"{source}: link {link.name!r} targets unknown {link.target!r}")
        if link.name in rendered:
            raise ValueError(f"{source}: link {link.name!r} declared twice")
        doc: dict[str, Any] = {
            "operationRef": operation_ref(link.path, link.method),
            "description": link.description,
        }
        if link.parameters:
            doc["parameters"] = dict(link.parameters)
        if link.body is not None:
            doc["requestBody"] = link.body
        rendered[link.name] = doc
    return rendered
