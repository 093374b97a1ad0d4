"""The exceptions ``crm`` raises. Every one is a :class:`CrmError`; input errors are also
the built-in exception a Python user would expect (``KeyError``, ``TypeError``, ``ValueError``)."""

from __future__ import annotations

__all__ = [
    "CrmError",
    "ColumnNotFoundError",
    "ColumnTypeError",
    "InvalidDataError",
    "InvalidArgumentError",
    "ConvergenceError",
]


class CrmError(Exception):
    """Base class of every error raised by ``crm``."""


class ColumnNotFoundError(CrmError, KeyError):
    """A column named in the call is not in the input; the message lists the columns present."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class ColumnTypeError(CrmError, TypeError):
    """A column has a type the computation cannot use (the message names column and dtype)."""


class InvalidDataError(CrmError, ValueError):
    """Rows hold unusable values: nulls, NaN or infinite amounts, dates out of range."""


class InvalidArgumentError(CrmError, ValueError):
    """A parameter is outside its domain (e.g. ``bins=0``, ``as_of`` before the last purchase)."""


class ConvergenceError(CrmError):
    """A model fit did not converge. ``diagnostics`` holds the best attempt: its parameters,
    log-likelihood, iterations, gradient norm and converged flag."""

    def __init__(self, message: str, diagnostics: dict | None = None) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics or {}
