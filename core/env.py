"""Reading settings from the environment: typed values, and errors that name the variable.

Each deployable (the search Function, the indexer) builds its own frozen settings from these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


@dataclass(frozen=True)
class EnvReader:
    env: Mapping[str, str]

    def text(self, name: str, default: str | None = None) -> str | None:
        """The stripped value, or ``default`` when unset or blank."""
        value = self.env.get(name, "").strip()
        return value or default

    def required(self, name: str, why: str) -> str:
        value = self.text(name)
        if value is None:
            raise SettingsError(f"{name} is not set ({why})")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
        return value

    def number(
        self, name: str, default: float, low: float = float("-inf"), high: float = float("inf")
    ) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a number, got {raw!r}") from None
        if not low <= value <= high:  # NaN fails too
            raise SettingsError(f"{name} must be between {low:g} and {high:g}, got {value:g}")
        return value
