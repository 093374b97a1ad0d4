"""Market-basket analysis: frequent itemsets, association rules and cross-sell, computed by
the Rust core (FP-growth). Thin wrappers: they only shape arguments and results.
Definitions: docs/basket_definitions.md.

The input is order lines: one row per (order, item), several rows per order; the same item
twice in an order counts once. A *basket* is the set of distinct items of an order. With N
the number of orders (baskets), the support of an itemset X is s(X) = (orders holding every
item of X) / N. Rules follow mlxtend's ``association_rules``: each frequent itemset X of two
or more items, split every way into a non-empty antecedent A and consequent C = X \\ A, gives
A -> C with support s(X), confidence s(X) / s(A) and lift confidence / s(C).
"""

from __future__ import annotations

import warnings
from typing import Any, Literal, TypeVar

from . import _core
from ._frames import from_arrow, kind_of, to_arrow

Frame = TypeVar("Frame")
OnInvalid = Literal["raise", "drop"]

RULE_COLUMNS = ["antecedent", "consequent", "confidence", "lift"]


def _call(name: str, data: Any, columns: list[str], list_columns: list[str], **kwargs: Any) -> Any:
    """Run ``_core.<name>``; warn about dropped rows; same kind of frame back, with the
    item lists of a pandas frame as Python lists."""
    kind = kind_of(data)
    capsule, dropped = getattr(_core, name)(to_arrow(data, list(dict.fromkeys(columns))), **kwargs)
    warn_dropped(f"crm.{name}", dropped, stacklevel=4)
    out = from_arrow(capsule, kind)
    return with_python_lists(out, list_columns) if kind == "pandas" else out


def warn_dropped(function: str, dropped: int, stacklevel: int) -> None:
    """Warn about the rows ``on_invalid="drop"`` dropped; ``stacklevel`` as ``warnings.warn``
    counts it from here (4: the caller of the public function that called the caller)."""
    if dropped:
        warnings.warn(f"{function}: dropped {dropped} row(s) with a null in a used column", stacklevel=stacklevel)


def with_python_lists(frame: Any, list_columns: list[str]) -> Any:
    """A pandas result with its item lists as Python lists (Arrow gives numpy arrays)."""
    for column in list_columns:
        frame[column] = [items.tolist() for items in frame[column]]
    return frame


def frequent_itemsets(
    data: Frame,
    *,
    order: str = "order_id",
    item: str = "product",
    min_support: float = 0.01,
    max_len: int | None = None,
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """The itemsets bought together in at least ``min_support`` of the orders (FP-growth).

    Parameters
    ----------
    data : order lines, one row per (order, item): a pandas or polars DataFrame, a pyarrow
        Table or a dict of numpy arrays. ``order``: integers or strings; ``item``: strings
        (any Arrow layout), a categorical or integers. A null in either is an error, or the
        row is dropped with a warning when ``on_invalid="drop"``.
    min_support : the smallest share of orders, in (0, 1]: an itemset is kept when
        ``count / orders >= min_support``. Default 0.01.
    max_len : the most items in an itemset (default: no limit).

    Returns
    -------
    One row per frequent itemset: ``itemset`` (its items, sorted, in the item column's type;
    Python lists for pandas), ``length`` (items), ``count`` (orders holding all of them) and
    ``support`` (count / orders, 0..1). Sorted by length, then count (descending), then
    items. No frequent itemset: an empty frame with these columns.

    Examples
    --------
    >>> import crm, pandas as pd
    >>> lines = pd.DataFrame({
    ...     "order_id": [1, 1, 2, 2, 2, 3, 4, 4],
    ...     "product": ["tea", "milk", "tea", "milk", "cake", "tea", "milk", "cake"],
    ... })
    >>> crm.frequent_itemsets(lines, min_support=0.5)
            itemset  length  count  support
    0        [milk]       1      3     0.75
    1         [tea]       1      3     0.75
    2        [cake]       1      2     0.50
    3  [cake, milk]       2      2     0.50
    4   [milk, tea]       2      2     0.50
    """
    return _call(
        "frequent_itemsets",
        data,
        [order, item],
        ["itemset"],
        order=order,
        item=item,
        min_support=min_support,
        max_len=max_len,
        on_invalid=on_invalid,
    )


def basket_rules(
    data: Frame,
    *,
    order: str = "order_id",
    item: str = "product",
    min_support: float = 0.01,
    min_confidence: float = 0.2,
    min_lift: float | None = None,
    max_len: int | None = None,
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """Association rules A -> C between items bought together (market-basket analysis).

    Every frequent itemset X (support >= ``min_support``, at most ``max_len`` items, as in
    :func:`frequent_itemsets`) of two or more items, split every way into a non-empty
    antecedent A and consequent C = X minus A, gives the rule A -> C, kept when its
    confidence >= ``min_confidence`` (default 0.2, in [0, 1]) and, if given, its lift >=
    ``min_lift``. These are mlxtend's ``fpgrowth`` + ``association_rules`` definitions, so
    the rules are the same.

    Returns
    -------
    One row per rule: ``antecedent`` and ``consequent`` (item lists, sorted),
    ``antecedent_support`` s(A), ``consequent_support`` s(C), ``support`` s(X) (shares of
    orders, 0..1), ``confidence`` = s(X) / s(A) (the share of orders with A that also hold
    C), ``lift`` = confidence / s(C) (above 1: bought together more often than by chance)
    and ``count`` (orders holding X). Sorted by lift (descending), confidence (descending),
    then antecedent and consequent items. No rule: an empty frame with these columns.

    Examples
    --------
    >>> import crm, pandas as pd
    >>> lines = pd.DataFrame({
    ...     "order_id": [1, 1, 2, 2, 2, 3, 4, 4],
    ...     "product": ["tea", "milk", "tea", "milk", "cake", "tea", "milk", "cake"],
    ... })
    >>> rules = crm.basket_rules(lines, min_support=0.5, min_confidence=0.6)
    >>> rules[["antecedent", "consequent", "support", "confidence", "lift", "count"]]
      antecedent consequent  support  confidence      lift  count
    0     [cake]     [milk]      0.5    1.000000  1.333333      2
    1     [milk]     [cake]      0.5    0.666667  1.333333      2
    2     [milk]      [tea]      0.5    0.666667  0.888889      2
    3      [tea]     [milk]      0.5    0.666667  0.888889      2
    """
    return _call(
        "basket_rules",
        data,
        [order, item],
        ["antecedent", "consequent"],
        order=order,
        item=item,
        min_support=min_support,
        min_confidence=min_confidence,
        min_lift=min_lift,
        max_len=max_len,
        on_invalid=on_invalid,
    )


def cross_sell(
    data: Frame,
    rules: Any,
    *,
    customer: str = "customer_id",
    item: str = "product",
    top_n: int = 3,
    metric: Literal["confidence", "lift"] = "confidence",
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """Cross-sell recommendations: per customer, the items the rules most associate with
    what they bought and that they have not bought yet.

    A customer's items are every item of their rows in ``data`` (any order). Only rules
    with a single-item consequent {c} count; such a rule fires for a customer who bought
    every item of its antecedent and not c. Each candidate item c scores the best
    ``metric`` (``"confidence"``, default, or ``"lift"``) over the rules that fire with
    consequent c; the customer's candidates are ranked by score, then by the other metric,
    then by item, and the first ``top_n`` (default 3, at least 1) kept.

    Parameters
    ----------
    data : lines with a ``customer`` and an ``item`` column (any frame, as for
        :func:`basket_rules`).
    rules : a frame as returned by :func:`basket_rules` (pandas, polars or pyarrow): the
        columns ``antecedent``, ``consequent`` (item lists), ``confidence`` and ``lift`` are
        read. Its items may be absent from ``data``.

    Returns
    -------
    One row per (customer, rank), sorted by customer then rank: the customer column (keys in
    their original type), ``rank`` (1 = best), the item column (the recommended item),
    ``score`` (the metric of the best rule), that rule's ``confidence`` and ``lift``, and
    its ``antecedent`` (the items bought that triggered it). A customer for whom no rule
    fires gets no row.

    Examples
    --------
    >>> import crm, pandas as pd
    >>> lines = pd.DataFrame({
    ...     "order_id": [1, 1, 2, 2, 2, 3, 4, 4],
    ...     "customer_id": [10, 10, 11, 11, 11, 12, 13, 13],
    ...     "product": ["tea", "milk", "tea", "milk", "cake", "tea", "milk", "cake"],
    ... })
    >>> rules = crm.basket_rules(lines, min_support=0.5, min_confidence=0.6)
    >>> crm.cross_sell(lines, rules)
       customer_id  rank product     score  confidence      lift antecedent
    0           10     1    cake  0.666667    0.666667  1.333333     [milk]
    1           12     1    milk  0.666667    0.666667  0.888889      [tea]
    2           13     1     tea  0.666667    0.666667  0.888889     [milk]
    """
    return _call(
        "cross_sell",
        data,
        [customer, item],
        ["antecedent"],
        rules=to_arrow(rules, RULE_COLUMNS),
        customer=customer,
        item=item,
        top_n=top_n,
        metric=metric,
        on_invalid=on_invalid,
    )
