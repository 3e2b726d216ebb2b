"""Settings of the search API, read from the environment once, at start-up.

The shared parts (model share, database, image store, strategy) come from core/settings.py, so they
mean the same as for the indexer; this module adds the query options. A missing or malformed setting
fails at start-up naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.env import EnvReader, SettingsError
from core.settings import (
    DatabaseSettings,
    ImageStoreSettings,
    model_share_from_env,
    running_in_azure,
    strategy_from_env,
)
from function_app.planner import (
    DEFAULT_EF_SEARCH,
    DEFAULT_EXACT_BELOW,
    DEFAULT_NPROBE,
    MAX_EF_SEARCH,
    MAX_NPROBE,
    PlanOptions,
)
from function_app.ranking import AUTO, DEFAULT_TEXT_WEIGHT, RankingOptions, Threshold

__all__ = ["SearchSettings", "Settings", "SettingsError"]

DEFAULT_K = 10
MAX_K = 100
MAX_QUERY_CHARS = 512
# A query's database work (every statement on its borrowed connection) must end within this, and a
# request waits at most POOL_WAIT_SECONDS for a free connection: a frozen or overloaded database gives a
# 503 instead of a hung request (docs/reliability.md). A query takes a few ms (docs/benchmarks.md).
QUERY_TIMEOUT_SECONDS = 2.0
POOL_WAIT_SECONDS = 2.0
# Database connections one process keeps at most. Every instance has its own pool, so in Azure the
# deployment sets SEARCH_POOL_SIZE from the server's connection limit and the instance count
# (infra/main.bicep); the default suits one local process.
POOL_SIZE = 8


@dataclass(frozen=True)
class SearchSettings:
    """How queries are answered: the plan (strategy and its knobs), limits, and the ranking."""

    plan: PlanOptions  # strategy, nprobe, ef_search, exact_below: the plan unless a call passes its own
    default_k: int
    max_k: int
    max_query_chars: int
    ranking: RankingOptions

    @classmethod
    def from_env(cls, reader: EnvReader) -> SearchSettings:
        text, integer, number = reader.text, reader.integer, reader.number
        max_k = integer("SEARCH_MAX_K", MAX_K, 1, 1000)

        def similarity(name: str) -> Threshold:  # "auto" (default): the bundle's gate; "off": none
            word = (text(name) or AUTO).lower()
            if word in (AUTO, "off"):
                return AUTO if word == AUTO else None
            try:
                float(word)
            except ValueError:
                raise SettingsError(f"{name} must be a cosine, 'auto' or 'off', got {text(name)!r}") from None
            return number(name, 0.0, -1.0, 1.0)

        ranking = RankingOptions(
            number("SEARCH_TEXT_WEIGHT", DEFAULT_TEXT_WEIGHT, 0.0, 1.0),
            similarity("SEARCH_MIN_SIMILARITY"),
            answer_similarity=similarity("SEARCH_ANSWER_SIMILARITY"),
        )
        return cls(
            plan=PlanOptions(
                strategy=strategy_from_env(reader),
                nprobe=integer("SEARCH_NPROBE", DEFAULT_NPROBE, 1, MAX_NPROBE),
                ef_search=integer("SEARCH_EF_SEARCH", DEFAULT_EF_SEARCH, 1, MAX_EF_SEARCH),
                exact_below=integer("SEARCH_EXACT_BELOW", DEFAULT_EXACT_BELOW, 0, 10_000_000),
            ),
            default_k=integer("SEARCH_DEFAULT_K", DEFAULT_K, 1, max_k),
            max_k=max_k,
            max_query_chars=integer("SEARCH_MAX_QUERY_CHARS", MAX_QUERY_CHARS, 1, 100_000),
            ranking=ranking,
        )


@dataclass(frozen=True)
class Settings:
    model_share: Path
    database: DatabaseSettings
    images: ImageStoreSettings
    search: SearchSettings
    bundle_check_seconds: float
    query_timeout_seconds: float  # the database work of one request, all its statements together
    pool_wait_seconds: float  # the longest wait for a free pooled connection
    pool_size: int  # the most database connections this process holds at once
    cors_allowed_origins: tuple[str, ...]
    serve_web: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        in_azure = running_in_azure(env)
        reader = EnvReader(env)
        origins = reader.text("CORS_ALLOWED_ORIGINS", "") or ""
        return cls(
            model_share=model_share_from_env(reader, in_azure=in_azure),
            database=DatabaseSettings.from_env(reader, in_azure=in_azure),
            images=ImageStoreSettings.from_env(reader, in_azure=in_azure),
            search=SearchSettings.from_env(reader),
            bundle_check_seconds=reader.number("BUNDLE_CHECK_SECONDS", 10.0),
            query_timeout_seconds=reader.number(
                "SEARCH_QUERY_TIMEOUT_SECONDS", QUERY_TIMEOUT_SECONDS, 0.01, 600.0
            ),
            pool_wait_seconds=reader.number("SEARCH_POOL_WAIT_SECONDS", POOL_WAIT_SECONDS, 0.0, 600.0),
            pool_size=reader.integer("SEARCH_POOL_SIZE", POOL_SIZE, 1, 1000),
            cors_allowed_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            serve_web=not in_azure,
        )
