"""Builds the search service from settings, once: the bundle provider, the pool, the image store."""

from __future__ import annotations

from core.connect import database_connector, open_images
from core.database import ConnectionPool
from function_app.bundles import BundleProvider
from function_app.service import SearchService
from function_app.settings import Settings


def build_service(settings: Settings) -> SearchService:
    return SearchService(
        BundleProvider(settings.model_share, check_seconds=settings.bundle_check_seconds),
        ConnectionPool(
            database_connector(settings.database),
            settings.pool_size,
            wait_seconds=settings.pool_wait_seconds,
            query_timeout=settings.query_timeout_seconds,
        ),
        open_images(settings.images),
        settings.search,
    )
