"""The FastAPI application: pages, their JSON twins, live queries and jobs over one database."""

from __future__ import annotations

from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from babellens import __version__
from babellens.jobs import LocalRunner
from babellens.jobs.ray_scan import RayOptions
from babellens.store import Database, open_database
from babellens.web.errors import install_error_handlers
from babellens.web.live import LiveQueries
from babellens.web.routes import ROUTERS
from babellens.web.security import SameOriginGuard
from babellens.web.settings import WebSettings

__all__ = ["create_app", "plotly_js"]


def plotly_js() -> Path:
    """Plotly.js from the installed ``plotly`` package: the app needs no CDN and no build step."""
    try:
        import plotly
    except ImportError as exc:  # pragma: no cover - a dependency
        raise RuntimeError("the web app needs plotly: pip install plotly") from exc
    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def create_app(settings: WebSettings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or WebSettings.from_env()
    database = db or open_database(settings.db)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        app.state.runner.shutdown(wait=False)

    app = FastAPI(
        title="BabelLens",
        version=__version__,
        description="Neuron dashboards, live prompts and jobs for any Hugging Face causal LM.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.live = LiveQueries(settings)
    ray = (
        RayOptions(address=settings.ray_address, workers=settings.ray_workers)
        if settings.executor == "ray"
        else None
    )
    app.state.runner = LocalRunner(database, max_workers=settings.job_workers, ray=ray)
    install_error_handlers(app)
    app.add_middleware(SameOriginGuard, loopback=settings.loopback)
    for router in ROUTERS:
        app.include_router(router)
    app.mount(
        "/static", StaticFiles(directory=str(files("babellens.web") / "static")), name="static"
    )

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def _plotly() -> FileResponse:
        return FileResponse(
            plotly_js(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    return app
