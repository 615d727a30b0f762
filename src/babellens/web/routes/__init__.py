"""Route modules, one per area of the app; :data:`ROUTERS` lists them in menu order."""

from babellens.web.routes import (
    api_docs,
    crossling,
    dictionaries,
    glossary,
    home,
    jobs,
    live,
    lookups,
    models,
    steering,
)

ROUTERS = [
    home.router,
    models.router,
    live.router,
    steering.router,
    crossling.router,
    dictionaries.router,
    lookups.router,
    jobs.router,
    glossary.router,
    api_docs.router,
]

__all__ = ["ROUTERS"]
