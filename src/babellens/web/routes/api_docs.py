"""``/docs``: the API reference, rendered here from the OpenAPI schema (FastAPI's default page
loads Swagger UI from a CDN, which an offline machine cannot reach). The schema itself is at
``/openapi.json``."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from babellens.web.pages import templates

router = APIRouter()


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            params = [
                p["name"] + ("" if p.get("required") else "?") for p in op.get("parameters", [])
            ]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "")
            rows.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "params": params,
                    "body": ref.rsplit("/", 1)[-1],
                    "tag": (op.get("tags") or ["other"])[0],
                }
            )
    return sorted(rows, key=lambda r: (r["tag"], r["path"], r["method"]))


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def api_docs(request: Request) -> Response:
    schema = request.app.openapi()
    return templates.TemplateResponse(
        request,
        "api_docs.html",
        {"operations": _operations(schema), "title": "API", "schema": schema},
    )
