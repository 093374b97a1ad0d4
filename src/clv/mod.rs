//! Buy-till-you-die models of customer lifetime value, fitted to the per-customer summary:
//! BG/NBD, Pareto/NBD and MBG/NBD for the number of future purchases and P(alive),
//! Gamma-Gamma for the spend per purchase, and CLV from the two.
//!
//! The summary follows lifetimes: `frequency` = repeat purchases x, `recency` = age at the last
//! purchase t_x, `t` = age at the end of the calibration period T, all in one time unit
//! (days, weeks...). The scale parameters (α, and β of the Pareto/NBD) are in that unit.
//!
//! Fitting maximises the log-likelihood over the logs of the parameters (BFGS, analytic
//! gradients, several starts, a first look at a sample; see `estimate`), with identical
//! histories merged and what depends on x or on one age alone computed once per distinct value
//! (see `histories`). With `penalizer` > 0 it minimises
//! −LL / Σw + penalizer · Σ p_j² instead, like lifetimes: α and β enter the penalty in units
//! of the largest T, as lifetimes scales time, so the penalty does not depend on the unit.
//! (lifetimes' Pareto/NBD divides the negative log-likelihood by the mean weight instead of the
//! total: its penalizer is ours times the number of customers.)

mod bg_nbd;
mod estimate;
pub mod gamma_gamma;
mod histories;
mod mbg_nbd;
mod optimize;
mod pareto_nbd;
pub mod saved;
mod special;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use estimate::CONVERGED_TOLERANCE;
use estimate::{per_customer, weighted_sum, Problem, SAMPLE_ROWS};
use histories::Histories;

/// The calibration summary of the customers to fit.
pub struct Customers<'a> {
    /// Repeat purchases x: whole numbers ≥ 0.
    pub frequency: &'a [f64],
    /// Age at the last purchase t_x (0 when x = 0).
    pub recency: &'a [f64],
    /// Age at the end of the calibration period T ≥ t_x.
    pub t: &'a [f64],
    /// How many customers each row stands for (default 1 each).
    pub weights: Option<&'a [f64]>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Model {
    /// Parameters [r, α, a, b] (Fader, Hardie & Lee 2005).
    BetaGeo,
    /// Parameters [r, α, s, β] (Schmittlein, Morrison & Colombo 1987).
    ParetoNbd,
    /// Parameters [r, α, a, b] (Batislam, Denizel & Filiztekin 2007).
    ModifiedBetaGeo,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fit {
    pub params: Vec<f64>,
    /// Total (weighted) log-likelihood at `params`, without the penalty.
    pub log_likelihood: f64,
    pub standard_errors: Vec<f64>,
    /// BFGS iterations of the start that was kept (on the sample, then on every customer, when
    /// the fit looked at a sample first).
    pub iterations: usize,
    /// max |∂f/∂ln p_j| at `params`, f the penalised mean negative log-likelihood.
    pub gradient_norm: f64,
    /// `gradient_norm` ≤ `CONVERGED_TOLERANCE`.
    pub converged: bool,
}

#[derive(Debug)]
pub struct FitError {
    pub message: String,
    /// The best attempt, when there was one with a finite likelihood.
    pub best: Option<Fit>,
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FitError {}

impl FitError {
    fn invalid(message: String) -> FitError {
        FitError {
            message,
            best: None,
        }
    }
}

/// One count model at given parameters: what a customer's history (x, t_x, T) implies.
trait CountModel: Sync {
    fn p_alive(&self, x: f64, t_x: f64, big_t: f64) -> f64;
    /// E[X(T, T+t) | history] for each t of `horizons`, into `out`.
    fn expected(&self, horizons: &[f64], x: f64, t_x: f64, big_t: f64, out: &mut [f64]);
}

/// A count model's log-likelihood of a set of histories, summed, with its gradient in the
/// parameters: what a fit evaluates many times over.
trait Likelihood: Sync {
    /// At positive finite parameters.
    fn at(&self, params: &[f64; 4]) -> (f64, [f64; 4]);

    /// NaN where the parameters are not positive and finite.
    fn at_any(&self, params: &[f64; 4]) -> (f64, [f64; 4]) {
        match positive(params) {
            Some(p) => self.at(&p),
            None => (f64::NAN, [f64::NAN; 4]),
        }
    }
}

fn likelihood(model: Model, histories: Histories) -> Box<dyn Likelihood> {
    match model {
        Model::BetaGeo => Box::new(bg_nbd::Likelihood::new(histories, false)),
        Model::ParetoNbd => Box::new(pareto_nbd::Likelihood::new(histories)),
        Model::ModifiedBetaGeo => Box::new(bg_nbd::Likelihood::new(histories, true)),
    }
}

/// Four positive finite parameters, or `None`.
fn positive(params: &[f64]) -> Option<[f64; 4]> {
    let p: [f64; 4] = params.try_into().ok()?;
    p.iter().all(|v| v.is_finite() && *v > 0.0).then_some(p)
}

fn count_model(model: Model, params: &[f64]) -> Option<Box<dyn CountModel>> {
    let p = positive(params)?;
    Some(match model {
        Model::BetaGeo => Box::new(bg_nbd::BgNbd::new(p)),
        Model::ParetoNbd => Box::new(pareto_nbd::ParetoNbd::new(p)),
        Model::ModifiedBetaGeo => Box::new(mbg_nbd::MbgNbd::new(p)),
    })
}

impl Model {
    fn name(self) -> &'static str {
        match self {
            Model::BetaGeo => "BG/NBD",
            Model::ParetoNbd => "Pareto/NBD",
            Model::ModifiedBetaGeo => "MBG/NBD",
        }
    }

    /// Starting points, with time in units of the largest T and `rate` the mean repeat
    /// purchase rate in those units: a generic one, one near the CDNOW estimates, one
    /// matching the rate.
    fn starts(self, rate: f64) -> Vec<[f64; 4]> {
        let rate = if rate > 0.0 { rate } else { 1.0 };
        match self {
            Model::BetaGeo | Model::ModifiedBetaGeo => vec![
                [1.0, 1.0, 1.0, 1.0],
                [0.25, 0.1, 0.8, 2.5],
                [1.0, 1.0 / rate, 1.0, 3.0],
            ],
            Model::ParetoNbd => vec![
                [1.0, 1.0, 1.0, 1.0],
                [0.5, 0.25, 0.5, 0.3],
                [1.0, 1.0 / rate, 1.0, 1.0],
            ],
        }
    }

    /// Which parameters are times (α, and β of the Pareto/NBD).
    fn time_parameters(self) -> [bool; 4] {
        match self {
            Model::BetaGeo | Model::ModifiedBetaGeo => [false, true, false, false],
            Model::ParetoNbd => [false, true, false, true],
        }
    }
}

/// The first position where `bad` holds, and how many there are, as a message tail.
fn first_bad(n: usize, bad: impl Fn(usize) -> bool) -> Option<String> {
    let first = (0..n).find(|&i| bad(i))?;
    let count = (first..n).filter(|&i| bad(i)).count();
    Some(format!(
        "{count} customer(s), the first at position {first}"
    ))
}

/// Checks that `weights`, if any, are finite, non-negative and not all zero, with one per
/// customer; returns their total.
fn check_weights(n: usize, weights: Option<&[f64]>) -> Result<f64, String> {
    let Some(w) = weights else {
        return Ok(n as f64);
    };
    if w.len() != n {
        return Err(format!("{} weights for {n} customers", w.len()));
    }
    if let Some(at) = first_bad(n, |i| !(w[i].is_finite() && w[i] >= 0.0)) {
        return Err(format!("weights must be finite and >= 0: not so for {at}"));
    }
    let total: f64 = w.iter().sum();
    if total > 0.0 {
        Ok(total)
    } else {
        Err("the weights are all zero".into())
    }
}

/// What a summary must satisfy, as lifetimes checks it, in the order the checks are reported.
const RULES: [&str; 5] = [
    "frequency, recency and T must be finite",
    "frequency must be a whole number >= 0",
    "recency must be >= 0",
    "recency must be <= T",
    "recency must be 0 when frequency is 0",
];

/// The first of `RULES` that a customer's (x, t_x, T) breaks.
fn broken_rule(x: f64, t_x: f64, t: f64) -> Option<usize> {
    // Doubles from 2^52 on are whole; below, the cast truncates (without a call to trunc).
    let whole = x >= 4_503_599_627_370_496.0 || (x as u64) as f64 == x;
    // `&` rather than `&&`: no branch on the data, which would be mispredicted.
    let broken = [
        !(x.is_finite() & t_x.is_finite() & t.is_finite()),
        !((x >= 0.0) & whole),
        t_x < 0.0,
        t_x > t,
        (x == 0.0) & (t_x != 0.0),
    ];
    broken.iter().position(|&b| b)
}

impl Customers<'_> {
    /// Checks the summary as lifetimes does; returns the total weight.
    pub fn validate(&self) -> Result<f64, String> {
        let (x, t_x, t) = (self.frequency, self.recency, self.t);
        let n = x.len();
        if t_x.len() != n || t.len() != n {
            return Err(format!(
                "frequency, recency and T must have one value per customer: got {}, {} and {}",
                n,
                t_x.len(),
                t.len()
            ));
        }
        if n == 0 {
            return Err("there are no customers".into());
        }
        let broken = |i: usize| broken_rule(x[i], t_x[i], t[i]);
        // The first rule anyone breaks: nobody breaks an earlier one, so it is the first
        // broken rule of every customer who breaks it.
        if let Some(rule) = (0..n).filter_map(broken).min() {
            let at = first_bad(n, |i| broken(i) == Some(rule)).expect("a customer breaks it");
            return Err(format!("{}: not so for {at}", RULES[rule]));
        }
        if !t.iter().any(|&v| v > 0.0) {
            return Err("T is 0 for every customer".into());
        }
        check_weights(n, self.weights)
    }
}

/// Maximum likelihood estimates of `model` (parameter order in `Model`).
pub fn fit(model: Model, data: &Customers, penalizer: f64) -> Result<Fit, FitError> {
    fit_sampling(model, data, penalizer, SAMPLE_ROWS)
}

/// `fit`, first on a sample of about `sample_rows` distinct histories when there are at least
/// twice as many (see `estimate::Problem::sample`).
fn fit_sampling(
    model: Model,
    data: &Customers,
    penalizer: f64,
    sample_rows: usize,
) -> Result<Fit, FitError> {
    let name = model.name();
    let total_weight = data
        .validate()
        .map_err(|m| FitError::invalid(format!("{name}: {m}")))?;
    if !(penalizer.is_finite() && penalizer >= 0.0) {
        return Err(FitError::invalid(format!(
            "{name}: penalizer must be finite and >= 0, got {penalizer}"
        )));
    }
    let max_t = data.t.iter().fold(0.0_f64, |m, &v| m.max(v));
    let (purchases, exposure) = weighted_sum(data.t.len(), data.weights, |i| {
        (data.frequency[i], [data.t[i] / max_t])
    });
    let times = model.time_parameters();
    let unit = |j: usize| if times[j] { max_t } else { 1.0 };
    let histories = Histories::new(data);
    let sample = histories
        .sample(sample_rows)
        .map(|s| (s.total_weight(), likelihood(model, s)));
    let likelihood = likelihood(model, histories);
    let log_likelihood = |p: &[f64; 4]| likelihood.at_any(p);
    let sample_log_likelihood = sample
        .as_ref()
        .map(|(weight, l)| (*weight, move |p: &[f64; 4]| l.at_any(p)));
    let problem = Problem {
        name,
        log_likelihood: &log_likelihood,
        total_weight,
        penalizer,
        penalty_scale: std::array::from_fn(unit),
        starts: model
            .starts(purchases / exposure[0])
            .into_iter()
            .map(|s| std::array::from_fn(|j| s[j] * unit(j)))
            .collect(),
        sample: None,
    };
    let problem = match &sample_log_likelihood {
        Some((weight, l)) => problem.with_sample(l, *weight),
        None => problem,
    };
    estimate::maximize(&problem)
}

/// Total (weighted) log-likelihood of the customers under `model` at `params`, unpenalised;
/// NaN for parameters that are not positive.
pub fn log_likelihood(model: Model, params: &[f64], data: &Customers) -> f64 {
    let Some(p) = positive(params) else {
        return f64::NAN;
    };
    likelihood(model, Histories::new(data)).at(&p).0
}

fn check_lengths(frequency: &[f64], recency: &[f64], big_t: &[f64]) {
    assert!(
        frequency.len() == recency.len() && recency.len() == big_t.len(),
        "frequency, recency and T must have the same length"
    );
}

/// E[X(T, T+t) | x, t_x, T]: each customer's expected purchases in the next `t` time units.
/// Slices of equal length; NaN everywhere for parameters that are not positive.
pub fn expected_purchases(
    model: Model,
    params: &[f64],
    t: f64,
    frequency: &[f64],
    recency: &[f64],
    big_t: &[f64],
) -> Vec<f64> {
    check_lengths(frequency, recency, big_t);
    let Some(m) = count_model(model, params) else {
        return vec![f64::NAN; frequency.len()];
    };
    per_customer(frequency.len(), |i| {
        let mut out = [0.0];
        m.expected(&[t], frequency[i], recency[i], big_t[i], &mut out);
        out[0]
    })
}

/// E[X(t)]: the expected repeat purchases of a newly acquired customer in their first `t`
/// time units.
pub fn expected_purchases_new(model: Model, params: &[f64], t: f64) -> f64 {
    // A history of no repeat purchase observed for no time: the prior expectation.
    expected_purchases(model, params, t, &[0.0], &[0.0], &[0.0])[0]
}

/// P(alive | x, t_x, T) for each customer.
pub fn p_alive(
    model: Model,
    params: &[f64],
    frequency: &[f64],
    recency: &[f64],
    big_t: &[f64],
) -> Vec<f64> {
    check_lengths(frequency, recency, big_t);
    let Some(m) = count_model(model, params) else {
        return vec![f64::NAN; frequency.len()];
    };
    per_customer(frequency.len(), |i| {
        m.p_alive(frequency[i], recency[i], big_t[i])
    })
}

/// Each customer's lifetime value over `horizon_periods` periods of `period_length` time
/// units, as lifetimes' `customer_lifetime_value`: Σ_{i=1..horizon} (E[X(i·len)] −
/// E[X((i−1)·len)]) · E[spend] · margin / (1 + discount_rate)^i, with E[X] the conditional
/// expected purchases of `model` and E[spend] the Gamma-Gamma conditional expected spend.
#[allow(clippy::too_many_arguments)]
pub fn clv(
    model: Model,
    model_params: &[f64],
    spend_params: &[f64],
    frequency: &[f64],
    recency: &[f64],
    big_t: &[f64],
    monetary: &[f64],
    horizon_periods: usize,
    period_length: f64,
    discount_rate: f64,
    margin: f64,
) -> Vec<f64> {
    check_lengths(frequency, recency, big_t);
    let spend = gamma_gamma::expected_spend(spend_params, frequency, monetary);
    let Some(m) = count_model(model, model_params) else {
        return vec![f64::NAN; frequency.len()];
    };
    let horizons: Vec<f64> = (1..=horizon_periods)
        .map(|i| i as f64 * period_length)
        .collect();
    let discounts: Vec<f64> = (1..=horizon_periods)
        .map(|i| margin / (1.0 + discount_rate).powi(i as i32))
        .collect();
    per_customer(frequency.len(), |i| {
        let mut cumulative = vec![0.0; horizon_periods];
        m.expected(
            &horizons,
            frequency[i],
            recency[i],
            big_t[i],
            &mut cumulative,
        );
        let mut before = 0.0;
        let mut value = 0.0;
        for (e, d) in cumulative.iter().zip(&discounts) {
            value += (e - before) * d;
            before = *e;
        }
        value * spend[i]
    })
}
