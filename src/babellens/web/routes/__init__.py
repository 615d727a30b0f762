"""Route modules, one per area of the app; :data:`ROUTERS` lists them in menu order."""

from babellens.web.routes import (
    api_docs,
    crossling,
    dictionaries,
    glossary,
    graphs,
    home,
    jobs,
    live,
    lookups,
    models,
    safety,
    search,
    steering,
)

ROUTERS = [
    home.router,
    models.router,
    live.router,
    steering.router,
    crossling.router,
    safety.router,
    dictionaries.router,
    lookups.router,
    graphs.router,
    search.router,
    jobs.router,
    glossary.router,
    api_docs.router,
]

__all__ = ["ROUTERS"]
