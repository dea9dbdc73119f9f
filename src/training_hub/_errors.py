"""Exception classes. Each says what went wrong, where, and how to fix it.

:class:`UserError` and its subclasses are mistakes a user can fix (the CLI
prints them as one paragraph and exits with code 2). Registry lookups that
fail raise subclasses of ``ValueError``, as the registry API documents.
"""

from __future__ import annotations

__all__ = [
    "AlgorithmNotFoundError",
    "BackendNotFoundError",
    "BackendUnavailableError",
    "ConfigError",
    "DataError",
    "ParameterError",
    "PluginError",
    "TrainingError",
    "TrainingHubError",
    "UserError",
]


class TrainingHubError(Exception):
    """Base class of every error this package raises on purpose."""


class UserError(TrainingHubError):
    """A mistake the user can fix; the CLI exits with code 2."""

    exit_code = 2


class ParameterError(UserError, ValueError):
    """A parameter is unknown, missing or of the wrong type."""


class ConfigError(UserError, ValueError):
    """A config file cannot be read or holds invalid values."""


class DataError(UserError, ValueError):
    """A training data file is malformed; the message names the file and line."""


class AlgorithmNotFoundError(UserError, ValueError):
    """No algorithm of that name is registered or advertised."""


class BackendNotFoundError(UserError, ValueError):
    """The algorithm exists but has no backend of that name."""


class BackendUnavailableError(UserError, ValueError):
    """The backend is known but its library is missing or too old."""


class PluginError(UserError, ValueError):
    """A plugin needed for a lookup failed to load; the message says why."""


class TrainingError(TrainingHubError):
    """Training started and failed; the CLI exits with code 1."""

    exit_code = 1
