"""The HTTP Data Sources API (extra ``server``): ``create_app()`` builds the FastAPI app."""

from nlquery.service.app import Settings, create_app

__all__ = ["Settings", "create_app"]
