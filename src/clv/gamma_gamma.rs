//! Gamma-Gamma model of the spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV";
//! Fader & Hardie, "The Gamma-Gamma model of monetary value", 2013): each purchase's value is
//! gamma(p, ν) with ν ~ gamma(q, v) across customers. Fitted to the customers with repeat
//! purchases: x ≥ 1 and their mean repeat spend m > 0. Parameters [p, q, v].

use super::estimate::{self, per_customer, weighted_sum, Problem};
use super::special::{digamma, ln_gamma};
use super::{check_weights, first_bad, Fit, FitError};

struct GammaGamma {
    p: f64,
    q: f64,
    v: f64,
    ln_v: f64,
    ln_gamma_q: f64,
    digamma_q: f64,
}

impl GammaGamma {
    fn new(params: &[f64]) -> Option<GammaGamma> {
        let [p, q, v]: [f64; 3] = params.try_into().ok()?;
        if !params.iter().all(|x| x.is_finite() && *x > 0.0) {
            return None;
        }
        Some(GammaGamma {
            p,
            q,
            v,
            ln_v: v.ln(),
            ln_gamma_q: ln_gamma(q),
            digamma_q: digamma(q),
        })
    }

    /// ln of the density of the mean m of x purchases (the note's equation 1a):
    /// ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln v + (px−1) ln m + px ln x − (px+q) ln(v + xm).
    fn log_likelihood(&self, x: f64, m: f64) -> (f64, [f64; 3]) {
        let (p, q, v) = (self.p, self.q, self.v);
        let px = p * x;
        let (ln_m, ln_x, ln_total) = (m.ln(), x.ln(), (v + x * m).ln());
        let value = ln_gamma(px + q) - ln_gamma(px) - self.ln_gamma_q
            + q * self.ln_v
            + (px - 1.0) * ln_m
            + px * ln_x
            - (px + q) * ln_total;
        let psi_pxq = digamma(px + q);
        let gradient = [
            x * (psi_pxq - digamma(px) + ln_m + ln_x - ln_total),
            psi_pxq - self.digamma_q + self.ln_v - ln_total,
            q / v - (px + q) / (v + x * m),
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
    let log_likelihood = |params: &[f64; 3]| {
        let model = GammaGamma::new(params).expect("positive finite parameters");
        weighted_sum(frequency.len(), weights, |i| {
            model.log_likelihood(frequency[i], monetary[i])
        })
    };
    // Each start has the population mean spend p·v/(q−1) equal to the sample's.
    let problem = Problem {
        name: "Gamma-Gamma",
        log_likelihood: &log_likelihood,
        total_weight,
        penalizer,
        penalty_scale: [1.0; 3],
        starts: vec![[1.0, 2.0, mean], [5.0, 3.0, 0.4 * mean], [0.5, 1.5, mean]],
    };
    estimate::maximize(&problem)
}

/// Total (weighted) log-likelihood at `params`; NaN for parameters that are not positive.
pub fn log_likelihood(
    params: &[f64],
    frequency: &[f64],
    monetary: &[f64],
    weights: Option<&[f64]>,
) -> f64 {
    let Some(model) = GammaGamma::new(params) else {
        return f64::NAN;
    };
    weighted_sum(frequency.len(), weights, |i| {
        (model.log_likelihood(frequency[i], monetary[i]).0, [])
    })
    .0
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
    let Some(GammaGamma { p, q, v, .. }) = GammaGamma::new(params) else {
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
            let model = GammaGamma::new(&p).unwrap();
            for (x, m) in customers {
                let (_, analytic) = model.log_likelihood(x, m);
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
