"""The access token the MCP server asks for once it listens beyond loopback.

An agent on another machine may start jobs, so every HTTP request then carries
``Authorization: Bearer TOKEN`` (the same token as ``babellens serve --token``); a missing or
wrong token gets a 401 before the MCP transport sees the request. A plain ASGI wrapper, not a
Starlette ``BaseHTTPMiddleware``, because the transport streams its answers (server-sent events).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from typing import Any

from babellens.errors import InvalidInputError

__all__ = ["BearerTokenGuard", "check_bind", "is_loopback"]

Scope = dict[str, Any]


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to expose the tools beyond loopback without a token (a one-line fix in the error)."""
    if not is_loopback(host) and not token:
        raise InvalidInputError(
            f"binding the MCP server to {host!r} exposes it: give --token or set BABELLENS_TOKEN"
        )


class BearerTokenGuard:
    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    def _authorised(self, scope: Scope) -> bool:
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        return hmac.compare_digest(given, self._expected)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self._authorised(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {"error": "missing or wrong access token: send Authorization: Bearer TOKEN"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
