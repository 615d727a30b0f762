"""Every error a request can meet becomes a 4xx with a one-line JSON body (or an HTML page)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from babellens.errors import BabelLensError, InvalidParametersError, ModelNotAvailableError
from babellens.web.pages import templates, wants_json
from babellens.web.queries import NotFoundError

__all__ = ["install_error_handlers"]


def _answer(request: Request, status: int, message: str) -> Response:
    if wants_json(request) or request.url.path.startswith("/api/"):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


# most specific first: each error class answers with its status
_STATUSES: list[tuple[type[Exception], int]] = [
    (NotFoundError, 404),
    (InvalidParametersError, 422),
    (ModelNotAvailableError, 409),
    (BabelLensError, 400),
]


def _handler(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> Response:
        return _answer(request, status, str(exc))

    return handle


def install_error_handlers(app: FastAPI) -> None:
    for error, status in _STATUSES:
        app.add_exception_handler(error, _handler(status))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return _answer(request, 422, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return _answer(request, exc.status_code, str(exc.detail))
