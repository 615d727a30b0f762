"""Pages: every HTML page is one function that returns a pydantic model, registered with
:func:`page`, which also serves the same model as JSON at the path plus ``.json`` (and to any
request that sends ``Accept: application/json``).

Adding a page is one decorated function and one template; ``nav=`` puts it in the menu::

    @page(router, "/steering", "steering.html", title="Steering", nav=40)
    def steering(db: DbDep) -> SteeringPage: ...

Pages are an extension point like job kinds and metrics: every ``@page`` lands in :data:`PAGES`
(a :class:`~babellens.registry.Registry` of :class:`PageInfo`), which is what a test walks to
check that every page answers its JSON twin.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from babellens.registry import Registry
from babellens.web.queries import model_slug

__all__ = ["NAV", "PAGES", "NavEntry", "PageInfo", "page", "render", "templates", "wants_json"]


@dataclass(frozen=True)
class NavEntry:
    title: str
    path: str
    order: int


@dataclass(frozen=True)
class PageInfo:
    """A registered page: where it is served, what it renders, and the model behind both."""

    name: str
    path: str
    json_path: str
    template: str
    title: str
    model: type[BaseModel]
    nav: int | None = None


NAV: list[NavEntry] = []
PAGES: Registry[PageInfo] = Registry("page")

templates = Jinja2Templates(directory=str(files("babellens.web") / "templates"))


def _number(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 10**-(digits):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def _visible(token: str) -> str:
    """Whitespace a reader can see: newlines and tabs as symbols, spaces kept."""
    return token.replace("\n", "↵").replace("\t", "⇥")


def _jsonable(models: list[BaseModel]) -> list[Any]:
    """Models as JSON values the way the twin writes them (non-finite floats as null)."""
    return [json.loads(m.model_dump_json()) for m in models]


templates.env.filters["num"] = _number
templates.env.filters["jsonable"] = _jsonable
templates.env.filters["by_id"] = lambda charts: {c.id: c for c in charts}
templates.env.filters["slug"] = model_slug
templates.env.filters["visible"] = _visible
templates.env.globals["nav"] = NAV


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.url.path.endswith(".json") or (
        "application/json" in accept and "text/html" not in accept
    )


def render(request: Request, template: str, data: BaseModel, **context: Any) -> Response:
    if wants_json(request):  # pydantic's encoder: non-finite floats become null, as in the twins
        return Response(data.model_dump_json(), media_type="application/json")
    return templates.TemplateResponse(request, template, {"data": data, **context})


def page(
    router: APIRouter,
    path: str,
    template: str,
    *,
    title: str,
    nav: int | None = None,
    json_path: str | None = None,
) -> Callable[[Callable[..., BaseModel]], Callable[..., BaseModel]]:
    """Register ``fn`` as the HTML page at ``path`` and its JSON twin at ``path + '.json'``."""

    def decorator(fn: Callable[..., BaseModel]) -> Callable[..., BaseModel]:
        signature = inspect.signature(fn, eval_str=True)
        info = PageInfo(
            name=fn.__name__,
            path=path,
            json_path=json_path or f"{path}.json",
            template=template,
            title=title,
            model=signature.return_annotation,
            nav=nav,
        )
        _register(info)
        # the twin first: '/models/{slug}' would otherwise also match '/models/x.json'
        _add_json_route(router, info, fn)
        _add_html_route(router, info, fn, signature)
        return fn

    return decorator


def _register(info: PageInfo) -> None:
    known = PAGES.get(info.name)
    if known is not None and known.path != info.path:
        raise ValueError(f"two pages called {info.name!r}: {known.path} and {info.path}")
    PAGES.add(info.name, info)
    if info.nav is not None and all(e.path != info.path for e in NAV):
        NAV.append(NavEntry(title=info.title, path=info.path, order=info.nav))
        NAV.sort(key=lambda e: e.order)


def _add_json_route(router: APIRouter, info: PageInfo, fn: Callable[..., BaseModel]) -> None:
    router.add_api_route(
        info.json_path,
        fn,
        methods=["GET"],
        response_model=info.model,
        name=f"{fn.__name__}_json",
        summary=f"{info.title} (JSON)",
        tags=["pages"],
    )


def _add_html_route(
    router: APIRouter,
    info: PageInfo,
    fn: Callable[..., BaseModel],
    signature: inspect.Signature,
) -> None:
    """The HTML page takes the request first (for the template), then the model function's
    parameters, so FastAPI validates both routes' parameters the same way."""

    def html(request: Request, **kwargs: Any) -> Response:
        return render(request, info.template, fn(**kwargs), title=info.title)

    params = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)
    ]
    html.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*params, *signature.parameters.values()], return_annotation=HTMLResponse
    )
    html.__name__ = fn.__name__
    router.add_api_route(
        info.path,
        html,
        methods=["GET"],
        response_class=HTMLResponse,
        include_in_schema=False,
        name=fn.__name__,
    )
