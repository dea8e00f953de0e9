"""Typed readers for environment variables that fail loudly at start-up.

Every setting has a safe embedded default; a value that is present but malformed stops
the process with one line naming the variable, rather than running half-configured.
"""

import os


class ConfigurationError(SystemExit):
    """A malformed environment variable. A SystemExit by construction: raised anywhere in
    settings, it ends the process with one line naming the variable, never a traceback."""

    def __init__(self, message: str):
        super().__init__(f"eventsite: configuration error: {message}")
        self.message = message


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be a boolean (true/false/1/0), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        if not raw.strip().isascii():  # int() also reads "٣" and "３" as digits
            raise ValueError(raw)
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip()
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]
