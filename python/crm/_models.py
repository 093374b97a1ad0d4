"""The buy-till-you-die models (BG/NBD, Pareto/NBD, MBG/NBD, Gamma-Gamma) and CLV.

scikit-learn habits: settings in the constructor, ``fit`` returns the model, learned values
end in ``_``. Summaries come from :func:`crm.summary` (or any frame with the same columns:
pandas, polars or pyarrow). The likelihoods, fits and predictions run in the Rust core.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa

from . import _core
from ._frames import _Capsule, to_arrow
from .errors import ConvergenceError, InvalidArgumentError, InvalidDataError

__all__ = ["BetaGeo", "ParetoNBD", "ModifiedBetaGeo", "GammaGamma", "clv"]


def _column(capsule: Any, name: str) -> np.ndarray:
    return pa.table(_Capsule(capsule)).column(name).to_numpy()


def _fitted(result: dict, names: tuple[str, ...], model: str) -> dict:
    if "message" in result and not result["params"]:
        raise InvalidDataError(result["message"])
    if not result["converged"]:
        raise ConvergenceError(
            f"{model} fit did not converge (gradient norm {result['gradient_norm']:.3g} after "
            f"{result['iterations']} iterations{': ' + result['message'] if 'message' in result else ''}); "
            "try a penalizer or check the summary",
            diagnostics=dict(result, params=dict(zip(names, result["params"]))),
        )
    return result


class _Fitted:
    """What every fitted model keeps, and how it saves."""

    _model: ClassVar[str]
    _names: ClassVar[tuple[str, ...]]

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def _keep(self, result: dict) -> None:
        self.params_ = dict(zip(self._names, result["params"]))
        self.log_likelihood_ = result["log_likelihood"]
        self.standard_errors_ = dict(zip(self._names, result["standard_errors"]))
        self.iterations_ = result["iterations"]
        self.gradient_norm_ = result["gradient_norm"]
        self.converged_ = result["converged"]

    def _params(self) -> list[float]:
        if not hasattr(self, "params_"):
            raise InvalidArgumentError(f"this {type(self).__name__} is not fitted yet: call fit first")
        return [self.params_[n] for n in self._names]

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model as versioned JSON (no pickle)."""
        text = _core.model_to_json(
            model=self._model,
            penalizer=self.penalizer,
            params=self._params(),
            log_likelihood=self.log_likelihood_,
            standard_errors=[self.standard_errors_[n] for n in self._names],
            iterations=self.iterations_,
            gradient_norm=self.gradient_norm_,
            converged=self.converged_,
        )
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Any:
        """Read a model written by :meth:`save`; a file of another model, version or shape
        is refused with an error saying why."""
        with open(path, encoding="utf-8") as f:
            loaded = _core.model_from_json(f.read())
        if loaded["model"] != cls._model:
            raise InvalidArgumentError(f"{path} holds a {loaded['model']} model, not {cls._model}")
        model = cls(penalizer=loaded["penalizer"])
        model._keep(loaded)
        return model

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"{type(self).__name__}(penalizer={self.penalizer})"
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"{type(self).__name__}({shown}, log_likelihood={self.log_likelihood_:.2f})"


def _names_in(summary: Any, frequency: str | None, recency: str | None, T: str | None) -> tuple[str, str, str]:
    """The summary's column names: as given, else ``frequency``/``recency``/``T``, or the
    ``_cal`` columns of :func:`crm.calibration_holdout` when those are what the frame has."""
    present = set(getattr(summary, "column_names", None) or getattr(summary, "columns", []))
    suffix = "_cal" if "frequency" not in present and "frequency_cal" in present else ""
    return (
        frequency or "frequency" + suffix,
        recency or "recency" + suffix,
        T or "T" + suffix,
    )


class _TransactionModel(_Fitted):
    """A model of the repeat-purchase process (BG/NBD and its relatives)."""

    def fit(
        self,
        summary: Any,
        *,
        frequency: str | None = None,
        recency: str | None = None,
        T: str | None = None,
        weights: str | None = None,
    ) -> Any:
        """Fit by maximum likelihood from several starting points; returns the model.

        ``summary`` has one row per customer (``crm.summary``, or ``crm.calibration_holdout``
        whose ``_cal`` columns are used by default); ``weights`` names a column counting
        identical customers (rows standing for many). Raises :class:`crm.ConvergenceError`
        (with ``diagnostics``) when no start converges, and :class:`crm.InvalidDataError`
        for a summary the model cannot take (e.g. recency > T).
        """
        frequency, recency, T = _names_in(summary, frequency, recency, T)
        columns = [frequency, recency, T] + ([weights] if weights else [])
        result = _core.fit_btyd(
            to_arrow(summary, columns),
            model=self._model,
            frequency=frequency,
            recency=recency,
            T=T,
            weights=weights,
            penalizer=self.penalizer,
        )
        self._keep(_fitted(result, self._names, self._model))
        return self

    def _per_customer(
        self, what: str, summary: Any, frequency: str | None, recency: str | None, T: str | None, **extra: Any
    ) -> np.ndarray:
        frequency, recency, T = _names_in(summary, frequency, recency, T)
        capsule = _core.predict_btyd(
            to_arrow(summary, [frequency, recency, T]),
            model=self._model,
            params=self._params(),
            what=what,
            frequency=frequency,
            recency=recency,
            T=T,
            **extra,
        )
        return _column(capsule, what)

    def predict(
        self, t: float, summary: Any, *, frequency: str | None = None, recency: str | None = None, T: str | None = None
    ) -> np.ndarray:
        """Expected purchases of each customer in the next ``t`` periods (the summary's time
        unit), given their history: E[X(T, T + t) | frequency, recency, T]."""
        return self._per_customer("expected_purchases", summary, frequency, recency, T, t=float(t))

    def p_alive(
        self, summary: Any, *, frequency: str | None = None, recency: str | None = None, T: str | None = None
    ) -> np.ndarray:
        """Probability that each customer is still active at the end of their observation."""
        return self._per_customer("p_alive", summary, frequency, recency, T)

    def expected_purchases_new(self, t: float) -> float:
        """Expected purchases in the first ``t`` periods of a customer just acquired: E[X(t)]."""
        return _core.expected_purchases_new(model=self._model, params=self._params(), t=float(t))


class BetaGeo(_TransactionModel):
    """BG/NBD (Fader, Hardie & Lee 2005): purchases at Poisson rate λ ~ Gamma(r, α); after each
    purchase the customer drops out with probability p ~ Beta(a, b).

    Examples
    --------
    >>> import crm, pandas as pd
    >>> s = crm.summary(crm.datasets.synthetic(2_000, seed=1))
    >>> m = crm.BetaGeo().fit(s)
    >>> sorted(m.params_)
    ['a', 'alpha', 'b', 'r']
    >>> bool(m.converged_) and m.p_alive(s).shape == (len(s),)
    True
    """

    _model = "BetaGeo"
    _names = ("r", "alpha", "a", "b")


class ModifiedBetaGeo(_TransactionModel):
    """MBG/NBD (Batislam, Denizel & Filiztekin 2007): as BG/NBD, but a customer may also drop
    out right after the first purchase, so customers without repeat purchases can be dead.

    Examples
    --------
    >>> import crm
    >>> s = crm.summary(crm.datasets.synthetic(2_000, seed=1))
    >>> m = crm.ModifiedBetaGeo().fit(s)
    >>> float(m.p_alive(s).min()) < 1.0      # unlike BG/NBD, one-time buyers may be gone
    True
    """

    _model = "ModifiedBetaGeo"
    _names = ("r", "alpha", "a", "b")


class ParetoNBD(_TransactionModel):
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987): purchases at rate λ ~ Gamma(r, α) while
    alive; lifetimes exponential with rate μ ~ Gamma(s, β).

    Examples
    --------
    >>> import crm
    >>> s = crm.summary(crm.datasets.synthetic(2_000, seed=1), time_unit="W")
    >>> m = crm.ParetoNBD().fit(s)
    >>> sorted(m.params_)
    ['alpha', 'beta', 'r', 's']
    >>> m.predict(13, s).shape == (len(s),)     # purchases expected in the next 13 weeks
    True
    """

    _model = "ParetoNbd"
    _names = ("r", "alpha", "s", "beta")


class GammaGamma(_Fitted):
    """Gamma-Gamma model of spend per transaction (Fader & Hardie 2013), fitted on customers
    with repeat purchases: ``GammaGamma().fit(s[s.frequency > 0])``. Parameters p, q and v
    (v is the γ of the paper); amounts in the currency of the log.

    Examples
    --------
    >>> import crm
    >>> s = crm.summary(crm.datasets.synthetic(2_000, seed=1))
    >>> gg = crm.GammaGamma().fit(s[s.frequency > 0])
    >>> spend = gg.expected_spend(s)          # per transaction, shrunk towards the population mean
    >>> bool((spend > 0).all())
    True
    """

    _model = "GammaGamma"
    _names = ("p", "q", "v")

    def fit(
        self,
        summary: Any,
        *,
        frequency: str = "frequency",
        monetary_value: str = "monetary_value",
        weights: str | None = None,
    ) -> GammaGamma:
        """Fit by maximum likelihood on customers with ``frequency > 0``; returns the model."""
        columns = [frequency, monetary_value] + ([weights] if weights else [])
        result = _core.fit_gamma_gamma(
            to_arrow(summary, columns),
            frequency=frequency,
            monetary_value=monetary_value,
            weights=weights,
            penalizer=self.penalizer,
        )
        self._keep(_fitted(result, self._names, self._model))
        return self

    def expected_spend(
        self, summary: Any, *, frequency: str = "frequency", monetary_value: str = "monetary_value"
    ) -> np.ndarray:
        """Conditional expected mean spend per transaction of each customer."""
        capsule = _core.expected_spend(
            to_arrow(summary, [frequency, monetary_value]),
            params=self._params(),
            frequency=frequency,
            monetary_value=monetary_value,
        )
        return _column(capsule, "expected_spend")


_PERIOD_DAYS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12}
_UNIT_DAYS = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}


def clv(
    model: _TransactionModel,
    spend_model: GammaGamma,
    summary: Any,
    *,
    horizon: int = 12,
    time_unit: Literal["days", "weeks", "months"] = "months",
    summary_time_unit: Literal["D", "W", "M"] = "W",
    discount_rate: float = 0.01,
    margin: float = 1.0,
    frequency: str = "frequency",
    recency: str = "recency",
    T: str = "T",
    monetary_value: str = "monetary_value",
) -> np.ndarray:
    """Customer lifetime value over ``horizon`` periods of ``time_unit``, discounted at
    ``discount_rate`` per period: Σᵢ (E[X(i)] − E[X(i−1)]) × expected spend × margin /
    (1 + discount_rate)ⁱ, as lifetimes' ``customer_lifetime_value``. ``summary_time_unit`` is
    the unit the summary (and so the model) counts time in. Returns one value per summary row,
    in the currency of the log.

    Examples
    --------
    >>> import crm
    >>> s = crm.summary(crm.datasets.synthetic(2_000, seed=1), time_unit="W")
    >>> m, gg = crm.BetaGeo().fit(s), crm.GammaGamma().fit(s[s.frequency > 0])
    >>> value = crm.clv(m, gg, s, horizon=12, time_unit="months", discount_rate=0.01, margin=0.3)
    >>> value.shape == (len(s),) and bool((value >= 0).all())
    True
    """
    if time_unit not in _PERIOD_DAYS:
        raise InvalidArgumentError(f"time_unit must be 'days', 'weeks' or 'months', got {time_unit!r}")
    if summary_time_unit not in _UNIT_DAYS:
        raise InvalidArgumentError(f"summary_time_unit must be 'D', 'W' or 'M', got {summary_time_unit!r}")
    capsule = _core.clv(
        to_arrow(summary, [frequency, recency, T, monetary_value]),
        model=model._model,
        params=model._params(),
        spend_params=spend_model._params(),
        frequency=frequency,
        recency=recency,
        T=T,
        monetary_value=monetary_value,
        horizon=horizon,
        period_length=_PERIOD_DAYS[time_unit] / _UNIT_DAYS[summary_time_unit],
        discount_rate=discount_rate,
        margin=margin,
    )
    return _column(capsule, "clv")
