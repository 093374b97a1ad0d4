//! Gamma-Gamma model of the spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV";
//! Fader & Hardie, "The Gamma-Gamma model of monetary value", 2013): each purchase's value is
//! gamma(p, ν) with ν ~ gamma(q, v) across customers. Fitted to the customers with repeat
//! purchases: x ≥ 1 and their mean repeat spend m > 0. Parameters [p, q, v].

use super::estimate::{self, per_customer, weighted_sum, Problem, SAMPLE_ROWS};
use super::special::{digamma, ln_gamma};
use super::{check_weights, first_bad, Fit, FitError};

struct GammaGamma {
    p: f64,
    q: f64,
    v: f64,
}

impl GammaGamma {
    fn new(params: &[f64]) -> Option<GammaGamma> {
        let [p, q, v]: [f64; 3] = params.try_into().ok()?;
        if !params.iter().all(|x| x.is_finite() && *x > 0.0) {
            return None;
        }
        Some(GammaGamma { p, q, v })
    }
}

/// The log-likelihood: the sum over customers of ln the density of the mean m of x purchases
/// (the note's equation 1a),
/// ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln v + (px−1) ln m + px ln x − (px+q) ln(v + xm).
/// Only ln(v + xm) needs both x and m: the Γ terms are computed once per distinct x, and the
/// sums of ln m and ln x once per fit.
struct Likelihood<'a> {
    frequency: &'a [f64],
    monetary: &'a [f64],
    weights: Option<&'a [f64]>,
    /// The distinct x (of positive weight) and their total weights.
    counts: Vec<(f64, f64)>,
    total_weight: f64,
    /// Σ w ln m, Σ w x ln m and Σ w x ln x.
    sum_ln_m: f64,
    sum_x_ln_m: f64,
    sum_x_ln_x: f64,
}

impl<'a> Likelihood<'a> {
    fn new(frequency: &'a [f64], monetary: &'a [f64], weights: Option<&'a [f64]>) -> Self {
        let mut counts: Vec<(f64, f64)> = Vec::new();
        let mut index = hashbrown::HashMap::<u64, usize>::new();
        for (i, &x) in frequency.iter().enumerate() {
            let w = weights.map_or(1.0, |w| w[i]);
            if w != 0.0 {
                let x = x + 0.0; // −0 and 0 are one value
                let k = *index.entry(x.to_bits()).or_insert_with(|| {
                    counts.push((x, 0.0));
                    counts.len() - 1
                });
                counts[k].1 += w;
            }
        }
        let (sum_ln_m, [sum_x_ln_m]) = weighted_sum(frequency.len(), weights, |i| {
            let ln_m = monetary[i].ln();
            (ln_m, [frequency[i] * ln_m])
        });
        Likelihood {
            frequency,
            monetary,
            weights,
            total_weight: counts.iter().map(|c| c.1).sum(),
            sum_x_ln_x: counts.iter().map(|&(x, w)| w * x * x.ln()).sum(),
            counts,
            sum_ln_m,
            sum_x_ln_m,
        }
    }

    fn at(&self, params: &[f64]) -> (f64, [f64; 3]) {
        let Some(GammaGamma { p, q, v }) = GammaGamma::new(params) else {
            return (f64::NAN, [f64::NAN; 3]);
        };
        // Σ w ln(v + xm) and the sums its terms need: Σ w x ln(v + xm), Σ w / (v + xm) and
        // Σ w x / (v + xm).
        let (ln_total, [x_ln_total, inv_total, x_inv_total]) =
            weighted_sum(self.frequency.len(), self.weights, |i| {
                let x = self.frequency[i];
                let total = v + x * self.monetary[i];
                let (ln, inv) = (total.ln(), 1.0 / total);
                (ln, [x * ln, inv, x * inv])
            });
        let (mut gammas, mut d_p, mut d_q) = (0.0, 0.0, 0.0);
        for &(x, w) in &self.counts {
            let px = p * x;
            let psi_pxq = digamma(px + q);
            gammas += w * (ln_gamma(px + q) - ln_gamma(px));
            d_p += w * x * (psi_pxq - digamma(px));
            d_q += w * psi_pxq;
        }
        let (w, ln_v) = (self.total_weight, v.ln());
        let value = gammas + w * (q * ln_v - ln_gamma(q)) + p * (self.sum_x_ln_m + self.sum_x_ln_x)
            - self.sum_ln_m
            - p * x_ln_total
            - q * ln_total;
        let gradient = [
            d_p + self.sum_x_ln_m + self.sum_x_ln_x - x_ln_total,
            d_q - w * digamma(q) + w * ln_v - ln_total,
            w * q / v - p * x_inv_total - q * inv_total,
        ];
        (value, gradient)
    }
}

fn validate(frequency: &[f64], monetary: &[f64], weights: Option<&[f64]>) -> Result<f64, String> {
    let n = frequency.len();
    if monetary.len() != n {
        return Err(format!(
            "frequency and monetary must have one value per customer: got {n} and {}",
            monetary.len()
        ));
    }
    if n == 0 {
        return Err("there are no customers".into());
    }
    if let Some(at) = first_bad(n, |i| !(frequency[i] >= 1.0 && frequency[i].is_finite())) {
        return Err(format!(
            "the Gamma-Gamma model is fitted to customers with repeat purchases: frequency \
             must be >= 1, not so for {at}; select the customers with frequency > 0 first"
        ));
    }
    if let Some(at) = first_bad(n, |i| !(monetary[i] > 0.0 && monetary[i].is_finite())) {
        return Err(format!("monetary must be finite and > 0: not so for {at}"));
    }
    check_weights(n, weights)
}

/// Maximum likelihood estimates [p, q, v]. `penalizer` adds penalizer · (p² + q² + v²) to the
/// mean negative log-likelihood, as lifetimes' GammaGammaFitter.
pub fn fit(
    frequency: &[f64],
    monetary: &[f64],
    weights: Option<&[f64]>,
    penalizer: f64,
) -> Result<Fit, FitError> {
    fit_sampling(frequency, monetary, weights, penalizer, SAMPLE_ROWS)
}

/// `fit`, first on a sample of about `sample_rows` customers when there are at least twice as
/// many (see `estimate::Problem::sample`).
pub(super) fn fit_sampling(
    frequency: &[f64],
    monetary: &[f64],
    weights: Option<&[f64]>,
    penalizer: f64,
    sample_rows: usize,
) -> Result<Fit, FitError> {
    let invalid = |message: String| FitError {
        message: format!("Gamma-Gamma: {message}"),
        best: None,
    };
    let total_weight = validate(frequency, monetary, weights).map_err(invalid)?;
    if !(penalizer.is_finite() && penalizer >= 0.0) {
        return Err(invalid(format!(
            "penalizer must be finite and >= 0, got {penalizer}"
        )));
    }
    let (spend, _) = weighted_sum(frequency.len(), weights, |i| (monetary[i], []));
    let mean = spend / total_weight;
    let likelihood = Likelihood::new(frequency, monetary, weights);
    let log_likelihood = |params: &[f64; 3]| likelihood.at(params);
    let sample = sample(frequency, monetary, weights, sample_rows);
    let on_sample = sample
        .as_ref()
        .map(|(x, m, w)| Likelihood::new(x, m, w.as_deref()));
    let sample_log_likelihood = on_sample
        .as_ref()
        .map(|l| (l.total_weight, move |params: &[f64; 3]| l.at(params)));
    // Each start has the population mean spend p·v/(q−1) equal to the sample's.
    let problem = Problem {
        name: "Gamma-Gamma",
        log_likelihood: &log_likelihood,
        total_weight,
        penalizer,
        penalty_scale: [1.0; 3],
        starts: vec![[1.0, 2.0, mean], [5.0, 3.0, 0.4 * mean], [0.5, 1.5, mean]],
        sample: None,
    };
    let problem = match &sample_log_likelihood {
        Some((weight, l)) => problem.with_sample(l, *weight),
        None => problem,
    };
    estimate::maximize(&problem)
}

/// Every k-th customer (frequency, monetary, weights), k the largest that leaves at least
/// `rows`; `None` unless k ≥ 2.
#[allow(clippy::type_complexity)]
fn sample(
    frequency: &[f64],
    monetary: &[f64],
    weights: Option<&[f64]>,
    rows: usize,
) -> Option<(Vec<f64>, Vec<f64>, Option<Vec<f64>>)> {
    let step = frequency.len() / rows.max(1);
    let every = |v: &[f64]| -> Vec<f64> { v.iter().step_by(step).copied().collect() };
    (step >= 2).then(|| (every(frequency), every(monetary), weights.map(every)))
}

/// Total (weighted) log-likelihood at `params`; NaN for parameters that are not positive.
pub fn log_likelihood(
    params: &[f64],
    frequency: &[f64],
    monetary: &[f64],
    weights: Option<&[f64]>,
) -> f64 {
    Likelihood::new(frequency, monetary, weights).at(params).0
}

/// E[spend per purchase | x, m] = (v + x·m)·p / (p·x + q − 1): a weighted mean of the
/// customer's own mean spend and the population's, p·v/(q−1) (the note's equation 5). For
/// x = 0 that is the population mean, which needs q > 1.
pub fn expected_spend(params: &[f64], frequency: &[f64], monetary: &[f64]) -> Vec<f64> {
    assert_eq!(
        frequency.len(),
        monetary.len(),
        "frequency and monetary must have the same length"
    );
    let Some(GammaGamma { p, q, v }) = GammaGamma::new(params) else {
        return vec![f64::NAN; frequency.len()];
    };
    per_customer(frequency.len(), |i| {
        let x = frequency[i];
        let m = if x > 0.0 { monetary[i] } else { 0.0 };
        (v + x * m) * p / (p * x + q - 1.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let customers = [(1.0, 12.5), (2.0, 35.0), (7.0, 18.2), (30.0, 250.0)];
        for p in [[6.25, 3.74, 15.44], [0.3, 1.2, 2.0], [40.0, 0.5, 300.0]] {
            for (x, m) in customers {
                let (_, analytic) = Likelihood::new(&[x], &[m], None).at(&p);
                for j in 0..3 {
                    let h = 1e-6 * p[j];
                    let (mut up, mut down) = (p, p);
                    up[j] += h;
                    down[j] -= h;
                    let ll = |q: &[f64]| log_likelihood(q, &[x], &[m], None);
                    let numeric = (ll(&up) - ll(&down)) / (2.0 * h);
                    assert!(
                        (analytic[j] - numeric).abs() < 1e-6 * (1.0 + numeric.abs()),
                        "{p:?} ({x}, {m}) d{j}: {} vs {numeric}",
                        analytic[j]
                    );
                }
            }
        }
    }
}
