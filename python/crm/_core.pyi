"""Type stubs for the native module ``crm._core`` (private: use the wrappers in ``crm``)."""

from typing import Any, Literal, Sequence, final

__all__ = [
    "__version__",
    "DEBUG_BUILD",
    "keep_freed_memory_for",
    "rfm",
    "segment",
    "StateFold",
    "partial_state",
    "merge_partial_states",
    "rfm_from_partial",
    "summary_from_partial",
    "calibration_holdout_from_partial",
    "repurchase_from_partial",
    "interpurchase_from_partial",
    "lifecycle_from_partial",
    "churn_risk_from_partial",
    "cohorts_from_partial",
    "acquisition_from_partial",
    "activity_from_partial",
    "profitability_from_partial",
    "performance_from_partial",
    "loyalty_from_partial",
    "tickets_partial",
    "contacts_partial",
    "satisfaction_partial",
    "merge_service_states",
    "tickets_from_partial",
    "contacts_from_partial",
    "satisfaction_from_partial",
    "repurchase",
    "interpurchase",
    "lifecycle",
    "churn_risk",
    "cohorts",
    "acquisition",
    "activity",
    "profitability",
    "performance",
    "loyalty",
    "summary",
    "calibration_holdout",
    "fit_btyd",
    "predict_btyd",
    "expected_purchases_new",
    "fit_gamma_gamma",
    "expected_spend",
    "clv",
    "model_to_json",
    "model_from_json",
    "frequent_itemsets",
    "basket_rules",
    "cross_sell",
    "tickets",
    "contacts",
    "satisfaction",
    "kmeans",
    "choose_k",
    "num_threads",
    "basket_state",
    "merge_basket_states",
    "frequent_itemsets_from_partial",
    "basket_rules_from_partial",
    "cross_sell_from_partial",
]

__version__: str
DEBUG_BUILD: bool

_Range = tuple[int, int]
_Rule = tuple[str, _Range, _Range, _Range]
_Period = Literal["W", "M", "Q", "Y"]
_OnInvalid = Literal["raise", "drop"]
# Every retention function returns (arrow_array_stream capsule, rows dropped); days are
# counted since 1970-01-01.
_Result = tuple[Any, int]

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

def partial_state(
    data: Any,
    *,
    customer: str,
    date: str,
    amount: str,
    order: str | None = None,
    by: Sequence[str] = ...,
    extra: Sequence[str] = ...,
    purchase_sums: Sequence[str] = ...,
    on_invalid: Literal["raise", "drop"] = "raise",
    kind: Literal["customer_states", "customer_days"] = "customer_states",
) -> tuple[Any, int]:
    """Partial state of an Arrow stream (a table with the crm.partial schema): one row per customer
    ("customer_states") or per customer, group of the ``by`` columns and day ("customer_days", which
    alone takes ``by``, ``extra`` (summed over all rows) and ``purchase_sums`` (summed over the rows
    with a positive amount)); returns (capsule, rows dropped)."""

@final
class StateFold:
    """The state of a log read slice by slice (kept in Rust between slices)."""

    def __new__(
        cls,
        *,
        customer: str,
        date: str,
        amount: str,
        order: str | None = None,
        on_invalid: Literal["raise", "drop"] = "raise",
    ) -> StateFold: ...
    def add(self, data: Any) -> None:
        """Fold the rows of a table into the state."""
    @property
    def dropped(self) -> int:
        """Rows dropped so far by ``on_invalid="drop"``."""
    def state(self) -> Any:
        """The state folded so far (capsule), None before the first slice."""

def keep_freed_memory_for(milliseconds: int) -> None:
    """Keep memory crm has freed for this long before returning it to the system."""

def merge_partial_states(parts: list[Any]) -> Any:
    """The state of the union of the parts' rows (capsule)."""

def rfm_from_partial(
    state: Any,
    *,
    as_of: int | None = None,
    bins: int = 5,
    monetary: Literal["sum", "mean"] = "sum",
    segments: Literal["rfm11", "value8"] | Sequence[_Rule] | None = None,
    labels: Literal["en", "zh"] = "en",
) -> Any:
    """RFM table of a merged state (capsule), as ``rfm`` gives it for the whole log."""

# The functions of the customers' histories from a merged "customer_days" state (capsule),
# as the in-memory calls give them for the whole log; days since 1970-01-01.
def summary_from_partial(
    state: Any, *, time_unit: Literal["D", "W", "M"] = "W", observation_end: int | None = None
) -> Any: ...
def calibration_holdout_from_partial(
    state: Any,
    *,
    calibration_end: int,
    observation_end: int | None = None,
    time_unit: Literal["D", "W", "M"] = "W",
) -> Any: ...
def repurchase_from_partial(state: Any, *, period: _Period | None = None) -> Any: ...
def interpurchase_from_partial(
    state: Any, *, output: Literal["customers", "distribution"] = "customers"
) -> Any: ...
def lifecycle_from_partial(
    state: Any,
    *,
    as_of: int | None = None,
    thresholds: tuple[int, int, int] = ...,
    labels: Literal["en", "zh"] = "en",
) -> Any: ...
def churn_risk_from_partial(
    state: Any, *, as_of: int | None = None, window: int = 90, overdue_factor: float = 2.0
) -> Any: ...
def cohorts_from_partial(
    state: Any,
    *,
    period: _Period = "M",
    metric: Literal["retention", "active_customers", "revenue", "cumulative_revenue_per_customer"] = "retention",
    format: Literal["long", "wide"] = "long",
) -> Any: ...
def acquisition_from_partial(
    state: Any, *, period: _Period = "M", lapse_days: int = 180, as_of: int | None = None
) -> Any: ...
def activity_from_partial(
    state: Any,
    *,
    as_of: int | None = None,
    half_life_days: float = 90.0,
    weights: tuple[float, float, float] = ...,
    extra_weights: Sequence[float] = ...,
) -> Any: ...
def profitability_from_partial(
    state: Any,
    *,
    cost_rate: float | None = None,
    tiers: Sequence[tuple[str, float]],
    output: Literal["customers", "deciles", "tiers"] = "customers",
) -> Any: ...
def performance_from_partial(
    state: Any,
    *,
    period: _Period | None = None,
    values: Sequence[str],
    shape: Literal["long", "wide"] = "long",
) -> Any: ...
def loyalty_from_partial(
    state: Any,
    *,
    as_of: int | None = None,
    window_days: int | None = None,
    points_per_unit: float = 1.0,
    tiers: Sequence[tuple[str, float]],
    near: float = 0.1,
    output: Literal["customers", "tiers"] = "customers",
) -> Any: ...

# Partial states of the service logs (crm.dask): each returns (state capsule, rows dropped).
def tickets_partial(
    data: Any,
    *,
    id: str,
    kind: str,
    by: Sequence[str],
    opened: str,
    closed: str,
    period: _Period | None = None,
    as_of: int | None = None,
    output: Literal["summary", "open"] = "summary",
    on_invalid: _OnInvalid = "raise",
) -> _Result: ...
def contacts_partial(
    data: Any,
    *,
    customer: str,
    department: str,
    product: str | None,
    date: str,
    period: _Period = "W",
    on_invalid: _OnInvalid = "raise",
) -> _Result: ...
def satisfaction_partial(
    scores: Any, *, customer: str, score: str, by: Sequence[str], on_invalid: _OnInvalid = "raise"
) -> _Result: ...
def merge_service_states(parts: list[Any]) -> Any: ...
def tickets_from_partial(state: Any) -> Any: ...
def contacts_from_partial(
    state: Any, *, fatigue_departments: int = 2, output: Literal["summary", "fatigue"] = "summary"
) -> Any: ...
def satisfaction_from_partial(
    state: Any,
    *,
    share: float = 0.2,
    customers: Any | None = None,
    higher_is_better: bool = True,
    output: Literal["members", "profile"] = "members",
) -> Any: ...

def segment(
    data: Any,
    *,
    scheme: Literal["rfm11", "value8"] | Sequence[_Rule],
    labels: Literal["en", "zh"] = "en",
) -> Any:
    """Segment column (arrow_array_stream capsule) of an RFM table given as an Arrow stream."""

def repurchase(
    data: Any,
    *,
    customer: str,
    date: str,
    amount: str,
    order: str | None = None,
    period: _Period | None = None,
    by: Sequence[str] = ...,
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """Repurchase windows of an Arrow stream."""

def interpurchase(
    data: Any,
    *,
    customer: str,
    date: str,
    amount: str,
    output: Literal["customers", "distribution"] = "customers",
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """Gaps between purchase days, per customer or as a distribution."""

def lifecycle(
    data: Any,
    *,
    customer: str,
    date: str,
    amount: str,
    as_of: int | None = None,
    thresholds: tuple[int, int, int] = ...,
    labels: Literal["en", "zh"] = "en",
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """Lifecycle stage per customer."""

def churn_risk(
    data: Any,
    *,
    customer: str,
    date: str,
    amount: str,
    order: str | None = None,
    as_of: int | None = None,
    window: int = 90,
    overdue_factor: float = 2.0,
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """Churn early-warning signals per customer."""

def cohorts(
    data: Any,
    *,
    customer: str,
    date: str,
    amount: str,
    period: _Period = "M",
    metric: Literal["retention", "active_customers", "revenue", "cumulative_revenue_per_customer"] = "retention",
    format: Literal["long", "wide"] = "long",
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """The cohort matrix."""

def acquisition(
    data: Any,
    *,
    customer: str,
    date: str,
    amount: str,
    period: _Period = "M",
    lapse_days: int = 180,
    as_of: int | None = None,
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """New, reactivated, lost and retained customers per period."""

def activity(
    data: Any,
    *,
    customer: str,
    date: str,
    amount: str,
    order: str | None = None,
    as_of: int | None = None,
    half_life_days: float = 90.0,
    weights: tuple[float, float, float] = ...,
    extra: Sequence[str] = ...,
    extra_weights: Sequence[float] = ...,
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """Member activity score per customer."""

def profitability(
    data: Any,
    *,
    customer: str,
    date: str,
    amount: str,
    cost_column: str | None = None,
    cost_rate: float | None = None,
    tiers: Sequence[tuple[str, float]],
    output: Literal["customers", "deciles", "tiers"] = "customers",
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """Revenue, cost, margin, rank, Pareto shares, deciles and tiers per customer."""

def performance(
    data: Any,
    *,
    customer: str,
    date: str,
    amount: str,
    order: str | None = None,
    by: Sequence[str] = ...,
    period: Literal["W", "M", "Q", "Y"] | None = None,
    values: Sequence[str],
    quantity: str | None = None,
    shape: Literal["long", "wide"] = "long",
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """Quantity, revenue, customers and orders by group x period."""

def loyalty(
    data: Any,
    *,
    customer: str,
    date: str,
    amount: str,
    as_of: int | None = None,
    window_days: int | None = None,
    points_per_unit: float = 1.0,
    tiers: Sequence[tuple[str, float]],
    near: float = 0.1,
    bonus: str | None = None,
    output: Literal["customers", "tiers"] = "customers",
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """Loyalty points and tiers per customer."""

def summary(
    data: Any,
    *,
    customer: str,
    date: str,
    amount: str,
    time_unit: Literal["D", "W", "M"] = "W",
    observation_end: int | None = None,
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """The BTYD summary (frequency, recency, T, monetary_value) per customer."""

def calibration_holdout(
    data: Any,
    *,
    customer: str,
    date: str,
    amount: str,
    calibration_end: int,
    observation_end: int | None = None,
    time_unit: Literal["D", "W", "M"] = "W",
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """Calibration summary and holdout purchases per customer."""

_Model = Literal["BetaGeo", "ParetoNbd", "ModifiedBetaGeo"]

def fit_btyd(
    data: Any,
    *,
    model: _Model,
    frequency: str,
    recency: str,
    T: str,
    weights: str | None = None,
    penalizer: float = 0.0,
) -> dict[str, Any]:
    """Fit a transaction model; a dict of params, log_likelihood, standard_errors, iterations,
    gradient_norm, converged (and message when the fit failed)."""

def predict_btyd(
    data: Any,
    *,
    model: _Model,
    params: Sequence[float],
    what: Literal["expected_purchases", "p_alive"],
    frequency: str,
    recency: str,
    T: str,
    t: float = 0.0,
) -> Any:
    """Per-customer predictions as a one-column arrow_array_stream capsule."""

def expected_purchases_new(*, model: _Model, params: Sequence[float], t: float) -> float:
    """Unconditional expected purchases in (0, t]."""

def fit_gamma_gamma(
    data: Any,
    *,
    frequency: str,
    monetary_value: str,
    weights: str | None = None,
    penalizer: float = 0.0,
) -> dict[str, Any]:
    """Fit the Gamma-Gamma spend model (same dict as fit_btyd)."""

def expected_spend(data: Any, *, params: Sequence[float], frequency: str, monetary_value: str) -> Any:
    """Conditional expected spend per transaction, as a one-column capsule."""

def clv(
    data: Any,
    *,
    model: _Model,
    params: Sequence[float],
    spend_params: Sequence[float],
    frequency: str,
    recency: str,
    T: str,
    monetary_value: str,
    horizon: int,
    period_length: float,
    discount_rate: float,
    margin: float,
) -> Any:
    """Discounted customer lifetime value, as a one-column capsule."""

def model_to_json(
    *,
    model: str,
    penalizer: float,
    params: Sequence[float],
    log_likelihood: float,
    standard_errors: Sequence[float],
    iterations: int,
    gradient_norm: float,
    converged: bool,
) -> str:
    """A fitted model as versioned JSON."""

def model_from_json(text: str) -> dict[str, Any]:
    """A model read from JSON written by model_to_json (refuses other files)."""

def tickets(
    data: Any,
    *,
    id: str,
    kind: str,
    by: Sequence[str],
    opened: str,
    closed: str,
    period: _Period | None = None,
    as_of: int | None = None,
    output: Literal["summary", "open"] = "summary",
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """Ticket summary or open tickets; returns (arrow_array_stream capsule, rows dropped). ``as_of`` in days since 1970-01-01."""

def contacts(
    data: Any,
    *,
    customer: str,
    department: str,
    product: str | None,
    date: str,
    period: _Period = "W",
    fatigue_departments: int = 2,
    output: Literal["summary", "fatigue"] = "summary",
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """Contacts per department x product x period, or fatigue cases; returns (arrow_array_stream capsule, rows dropped)."""

def satisfaction(
    scores: Any,
    *,
    customer: str,
    score: str,
    by: Sequence[str],
    share: float = 0.2,
    customers: Any | None = None,
    higher_is_better: bool = True,
    output: Literal["members", "profile"] = "members",
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """Top and bottom customers per group, or their profile; returns (arrow_array_stream capsule, rows dropped)."""
def kmeans(
    data: Any,
    *,
    columns: Sequence[str],
    key: Sequence[str] = ...,
    k: int = 5,
    seed: int = 0,
    standardize: bool = True,
    log: Sequence[str] = ...,
    max_iter: int = 300,
    tol: float = 1e-4,
    n_init: int = 1,
    init: Sequence[Sequence[float]] | None = None,
) -> tuple[Any, Any, Any, float, int, bool]:
    """k-means of the feature columns; returns (labels, centers, profiles capsules, inertia, n_iter, converged)."""

def choose_k(
    data: Any,
    *,
    columns: Sequence[str],
    ks: Sequence[int],
    sample: int = 20_000,
    seed: int = 0,
    standardize: bool = True,
    log: Sequence[str] = ...,
    max_iter: int = 300,
    tol: float = 1e-4,
    n_init: int = 1,
) -> Any:
    """Inertia and silhouette per k on a sample; returns an arrow_array_stream capsule."""

def num_threads() -> int: ...

def frequent_itemsets(
    data: Any,
    *,
    order: str,
    item: str,
    min_support: float = 0.01,
    max_len: int | None = None,
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """Frequent itemsets (FP-growth) of the order lines of an Arrow stream."""

def basket_rules(
    data: Any,
    *,
    order: str,
    item: str,
    min_support: float = 0.01,
    min_confidence: float = 0.2,
    min_lift: float | None = None,
    max_len: int | None = None,
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """Association rules of the order lines of an Arrow stream."""

def cross_sell(
    data: Any,
    rules: Any,
    *,
    customer: str,
    item: str,
    top_n: int = 3,
    metric: Literal["confidence", "lift"] = "confidence",
    on_invalid: _OnInvalid = "raise",
) -> _Result:
    """Top cross-sell items per customer of an Arrow stream, from a rules table (Arrow stream)."""

# The "baskets" partial state: the distinct items of each order (or customer) of part of a
# log, merged, and the basket functions of the union of the states' lines (the last merge
# happens in the ``*_from_partial`` call).
def basket_state(data: Any, *, key: str, item: str, on_invalid: _OnInvalid = "raise") -> _Result:
    """Baskets partial state of (``key``, ``item``) lines; returns (capsule, rows dropped)."""

def merge_basket_states(parts: list[Any]) -> Any:
    """The baskets state of the union of the parts' lines (capsule)."""

def frequent_itemsets_from_partial(states: list[Any], *, min_support: float = 0.01, max_len: int | None = None) -> Any: ...
def basket_rules_from_partial(
    states: list[Any],
    *,
    min_support: float = 0.01,
    min_confidence: float = 0.2,
    min_lift: float | None = None,
    max_len: int | None = None,
) -> Any: ...
def cross_sell_from_partial(
    states: list[Any], rules: Any, *, item: str, top_n: int = 3, metric: Literal["confidence", "lift"] = "confidence"
) -> Any: ...
