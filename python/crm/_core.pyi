"""Type stubs for the native module ``crm._core`` (private: use the wrappers in ``crm``)."""

from typing import Any, Literal, Sequence

__all__ = ["__version__", "DEBUG_BUILD", "rfm", "segment", "num_threads"]

__version__: str
DEBUG_BUILD: bool

_Range = tuple[int, int]
_Rule = tuple[str, _Range, _Range, _Range]

def rfm(
    data: Any,
    *,
    customer: str,
    date: str,
    amount: str,
    order: str | None = None,
    as_of: int | None = None,
    bins: int = 5,
    monetary: Literal["sum", "mean"] = "sum",
    segments: Literal["rfm11", "value8"] | Sequence[_Rule] | None = None,
    labels: Literal["en", "zh"] = "en",
    on_invalid: Literal["raise", "drop"] = "raise",
) -> tuple[Any, int]:
    """RFM of an Arrow stream; returns (arrow_array_stream capsule, rows dropped). ``as_of`` in days since 1970-01-01."""

def segment(
    data: Any,
    *,
    scheme: Literal["rfm11", "value8"] | Sequence[_Rule],
    labels: Literal["en", "zh"] = "en",
) -> Any:
    """Segment column (arrow_array_stream capsule) of an RFM table given as an Arrow stream."""

def num_threads() -> int: ...
