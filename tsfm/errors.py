"""Exception types raised by tsfm-adapt.

Every error a user can cause derives from :class:`TsfmError`, so the CLI can turn
it into a one-line message and exit code 2, and callers can catch one type.
"""

from __future__ import annotations


class TsfmError(Exception):
    """Base class of every error that tsfm-adapt raises on purpose."""


class InputError(TsfmError, ValueError):
    """User-supplied data or arguments are invalid (shape, type, range, content)."""


class UnknownModelError(TsfmError, LookupError):
    """A model name is neither registered nor a local checkpoint folder."""

    def __str__(self) -> str:  # LookupError would repr() the message; keep it readable
        return str(self.args[0]) if self.args else ""


class CheckpointError(TsfmError, ValueError):
    """A folder or file that was given as a model is not a loadable checkpoint."""


class CovariatesIgnoredWarning(UserWarning):
    """Covariates were passed to a model that cannot use them; it forecast from the target alone."""


def one_line(exc: BaseException) -> str:
    """``exc``'s message on one line: its first two non-empty lines, and how many more there were.

    Upstream strict-load errors list one mismatched weight per line; an error the CLI prints on
    one line keeps the first mismatch and says how many follow.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    more = f" (and {len(lines) - 2} more lines)" if len(lines) > 2 else ""
    return " ".join(lines[:2]) + more
