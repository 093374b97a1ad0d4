"""crm: customer intelligence from a transaction log, computed by a Rust core.

>>> import crm
>>> log = crm.datasets.synthetic(1_000, seed=0)        # a pandas DataFrame of transactions
>>> table = crm.rfm(log)                                 # one row per customer
>>> sorted(table.columns)[:4]
['customer_id', 'f_score', 'first_purchase', 'frequency']
"""

from __future__ import annotations

import warnings as _warnings

from . import _core, datasets, plot
from ._baskets import basket_rules, cross_sell, frequent_itemsets
from ._clv import calibration_holdout, summary
from ._cluster import KMeansResult, choose_k, kmeans
from ._models import BetaGeo, GammaGamma, ModifiedBetaGeo, ParetoNBD, clv
from ._report import report
from ._retention import acquisition, activity, churn_risk, cohorts, interpurchase, lifecycle, repurchase
from ._rfm import rfm, segment
from ._value import loyalty, performance, profitability
from ._service import contacts, satisfaction, tickets
from .errors import (
    ColumnNotFoundError,
    ColumnTypeError,
    ConvergenceError,
    CrmError,
    InvalidArgumentError,
    InvalidDataError,
)

__version__: str = _core.__version__

__all__ = [
    "rfm",
    "segment",
    "repurchase",
    "interpurchase",
    "lifecycle",
    "churn_risk",
    "cohorts",
    "acquisition",
    "activity",
    "summary",
    "calibration_holdout",
    "BetaGeo",
    "ParetoNBD",
    "ModifiedBetaGeo",
    "GammaGamma",
    "clv",
    "frequent_itemsets",
    "basket_rules",
    "cross_sell",
    "profitability",
    "performance",
    "loyalty",
    "report",
    "plot",
    "tickets",
    "contacts",
    "satisfaction",
    "kmeans",
    "choose_k",
    "KMeansResult",
    "ConvergenceError",
    "datasets",
    "num_threads",
    "CrmError",
    "ColumnNotFoundError",
    "ColumnTypeError",
    "InvalidDataError",
    "InvalidArgumentError",
    "__version__",
]


def num_threads() -> int:
    """Threads ``crm`` computes with: ``CRM_NUM_THREADS`` if set when first used, else all cores."""
    return _core.num_threads()


if _core.DEBUG_BUILD:
    _warnings.warn("crm was built in debug mode and will be slow; reinstall with `pip install .`", stacklevel=2)
