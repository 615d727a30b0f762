"""The web app: FastAPI, server-rendered pages with JSON twins, live queries and jobs.

``babellens serve`` runs it; ``create_app`` builds it for tests or for another ASGI server.
"""

from babellens.web.app import create_app
from babellens.web.pages import NAV, PAGES, NavEntry, PageInfo, page
from babellens.web.settings import WebSettings

__all__ = ["NAV", "PAGES", "NavEntry", "PageInfo", "WebSettings", "create_app", "page"]
