"""The HTTP Data Sources API (extra ``server``): ``create_app()`` builds the FastAPI app;
``bearer_guard()`` puts the same guard around another ASGI app (MCP over HTTP)."""

from nlquery.service.app import Settings, create_app
from nlquery.service.middleware import bearer_guard

__all__ = ["Settings", "bearer_guard", "create_app"]
