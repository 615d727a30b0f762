"""Requests from other sites. On loopback the app has no token, so two browser tricks must fail:
a page on another site posting a form to http://127.0.0.1:8000 (its ``Origin`` is not ours), and
DNS rebinding (a foreign name resolving to 127.0.0.1: its ``Host`` is not a loopback name)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["LOOPBACK_HOSTS", "SameOriginGuard"]

LOOPBACK_HOSTS = {
    "127.0.0.1",
    "localhost",
    "::1",
    "testserver",
}  # testserver: in-process test clients
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _hostname(netloc: str) -> str:
    return (urlsplit(f"//{netloc}").hostname or "").lower()


class SameOriginGuard(BaseHTTPMiddleware):
    def __init__(self, app, loopback: bool) -> None:  # type: ignore[no-untyped-def]
        super().__init__(app)
        self.loopback = loopback

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        host = request.headers.get("host", "")
        if self.loopback and _hostname(host) not in LOOPBACK_HOSTS:
            return JSONResponse(
                {
                    "error": f"unknown host {host!r}: open the app at http://127.0.0.1",
                    "status": 400,
                },
                status_code=400,
            )
        origin = request.headers.get("origin")
        if (
            request.method in _UNSAFE
            and origin
            and origin != "null"
            and urlsplit(origin).netloc.lower() != host.lower()
        ):
            return JSONResponse(
                {
                    "error": "cross-site request refused: use the app's own pages or send no Origin header",
                    "status": 403,
                },
                status_code=403,
            )
        if request.method in _UNSAFE and origin == "null":
            return JSONResponse(
                {"error": "cross-site request refused", "status": 403}, status_code=403
            )
        return await call_next(request)
