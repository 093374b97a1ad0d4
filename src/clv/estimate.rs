//! Maximum likelihood for every model: minimise the penalised mean negative log-likelihood
//! over the logs of the parameters (so they stay positive) by BFGS from several starts, keep
//! the best, and take standard errors from the Hessian at the optimum. With many customers the
//! starts run on a sample of them, and BFGS on all of them goes on from the best of those
//! optima: most evaluations are of the cheap sample.

use rayon::prelude::*;

use super::optimize::{self, max_abs, Minimum, Settings};
use super::{Fit, FitError};

/// Customers per piece of a parallel sum. Fixed, and the pieces are added in order, so a sum
/// does not depend on the number of threads.
const CHUNK: usize = 2048;
/// `Fit::converged` requires max |∂f/∂ln p| at most this, f the penalised mean negative
/// log-likelihood: the criterion and tolerance lifetimes gives scipy's BFGS.
pub const CONVERGED_TOLERANCE: f64 = 1e-7;
/// Rows of the sample a fit first looks at, at least (see `Problem::sample`).
pub const SAMPLE_ROWS: usize = 4096;
/// BFGS goes on toward this (or until rounding stops it) for more exact parameters.
const TARGET_TOLERANCE: f64 = 1e-10;
const MAX_ITERATIONS: usize = 1000;
/// At most a factor e^3 on any parameter in one step.
const MAX_STEP: f64 = 3.0;
/// Step in ln p of the central differences of the gradient behind the Hessian.
const HESSIAN_STEP: f64 = 1e-4;

/// Σ_i w_i · term(i) over customers 0..n (a value and its gradient), in parallel. Rows of
/// weight 0 are skipped, so a NaN there does not spread.
pub fn weighted_sum<const N: usize>(
    n: usize,
    weights: Option<&[f64]>,
    term: impl Fn(usize) -> (f64, [f64; N]) + Sync,
) -> (f64, [f64; N]) {
    let pieces: Vec<(f64, [f64; N])> = crate::pool::install(|| {
        (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|piece| {
                let mut sum = (0.0, [0.0; N]);
                for i in piece * CHUNK..((piece + 1) * CHUNK).min(n) {
                    let w = weights.map_or(1.0, |w| w[i]);
                    if w != 0.0 {
                        add(&mut sum, w, term(i));
                    }
                }
                sum
            })
            .collect()
    });
    pieces.into_iter().fold((0.0, [0.0; N]), |mut sum, piece| {
        add(&mut sum, 1.0, piece);
        sum
    })
}

fn add<const N: usize>(sum: &mut (f64, [f64; N]), w: f64, (value, gradient): (f64, [f64; N])) {
    sum.0 += w * value;
    sum.1
        .iter_mut()
        .zip(gradient)
        .for_each(|(s, g)| *s += w * g);
}

/// `f(i)` for customers 0..n, in parallel.
pub fn per_customer(n: usize, f: impl Fn(usize) -> f64 + Sync) -> Vec<f64> {
    crate::pool::install(|| (0..n).into_par_iter().with_min_len(CHUNK).map(&f).collect())
}

/// Total weighted log-likelihood and its gradient in the parameters.
pub type LogLikelihood<'a, const N: usize> = dyn Fn(&[f64; N]) -> (f64, [f64; N]) + 'a;

/// What a model gives the estimator.
pub struct Problem<'a, const N: usize> {
    /// "BG/NBD", ... for messages.
    pub name: &'static str,
    pub log_likelihood: &'a LogLikelihood<'a, N>,
    pub total_weight: f64,
    /// The penalty is penalizer · Σ (p_j / penalty_scale_j)², added to the mean negative
    /// log-likelihood.
    pub penalizer: f64,
    pub penalty_scale: [f64; N],
    /// Starting parameters, tried in order.
    pub starts: Vec<[f64; N]>,
    /// The same problem on a sample of the customers, for a cheap first look: when given, the
    /// starts are tried there and only the best optimum goes on with every customer.
    pub sample: Option<Box<Problem<'a, N>>>,
}

impl<'a, const N: usize> Problem<'a, N> {
    /// With the same problem on a sample: its log-likelihood and total weight.
    pub fn with_sample(self, log_likelihood: &'a LogLikelihood<'a, N>, total_weight: f64) -> Self {
        let sample = Problem {
            log_likelihood,
            total_weight,
            starts: self.starts.clone(),
            sample: None,
            ..self
        };
        Problem {
            sample: Some(Box::new(sample)),
            ..self
        }
    }

    /// The penalised mean negative log-likelihood and its gradient in θ = ln p.
    fn objective(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let p: [f64; N] = std::array::from_fn(|j| theta[j].exp());
        let (ll, d_ll) = (self.log_likelihood)(&p);
        let w = self.total_weight;
        let mut value = -ll / w;
        let mut gradient = vec![0.0; N];
        for j in 0..N {
            let scaled = p[j] / self.penalty_scale[j];
            value += self.penalizer * scaled * scaled;
            gradient[j] = -p[j] * d_ll[j] / w + 2.0 * self.penalizer * scaled * scaled;
        }
        (value, gradient)
    }
}

fn settings() -> Settings {
    Settings {
        gradient_tolerance: TARGET_TOLERANCE,
        max_iterations: MAX_ITERATIONS,
        max_step: MAX_STEP,
    }
}

/// BFGS from each start until two reach the same converged optimum; the best point found.
fn best_of_starts<const N: usize>(problem: &Problem<N>) -> Option<Minimum> {
    let mut objective = |theta: &[f64]| problem.objective(theta);
    let mut best: Option<Minimum> = None;
    let mut agreeing = 0;
    for start in &problem.starts {
        let theta0: Vec<f64> = start.iter().map(|p| p.ln()).collect();
        let m = optimize::minimize(&mut objective, &theta0, None, &settings());
        if !m.value.is_finite() {
            continue;
        }
        match &best {
            Some(b) if (m.value - b.value).abs() <= 1e-10 * b.value.abs().max(1.0) => {
                agreeing += 1;
                if m.value < b.value {
                    best = Some(m);
                }
            }
            Some(b) if m.value >= b.value => {}
            _ => {
                best = Some(m);
                agreeing = 0;
            }
        }
        // Two starts reaching the same converged optimum settle it.
        let settled = best.as_ref().unwrap();
        if agreeing >= 1 && max_abs(&settled.gradient) <= CONVERGED_TOLERANCE {
            break;
        }
    }
    best
}

/// The starts on the sample, then BFGS on every customer from the best optimum there, with its
/// curvature: a few evaluations of the full likelihood instead of a whole run per start.
/// `None` if that does not converge.
fn from_the_sample<const N: usize>(problem: &Problem<N>) -> Option<Minimum> {
    let sample = problem.sample.as_ref()?;
    let rough = best_of_starts(sample)?;
    let mut objective = |theta: &[f64]| problem.objective(theta);
    let m = optimize::minimize(
        &mut objective,
        &rough.x,
        Some(rough.inverse_hessian),
        &settings(),
    );
    (max_abs(&m.gradient) <= CONVERGED_TOLERANCE).then_some(Minimum {
        iterations: rough.iterations + m.iterations,
        ..m
    })
}

/// Fit by maximum likelihood: the best of the starts, or an error with the best attempt.
pub fn maximize<const N: usize>(problem: &Problem<N>) -> Result<Fit, FitError> {
    let Some(best) = from_the_sample(problem).or_else(|| best_of_starts(problem)) else {
        return Err(FitError {
            message: format!(
                "{}: the log-likelihood is not finite at any starting point; check that the \
                 data are valid (frequency, recency and T finite, 0 <= recency <= T)",
                problem.name
            ),
            best: None,
        });
    };
    let params: [f64; N] = std::array::from_fn(|j| best.x[j].exp());
    let gradient_norm = max_abs(&best.gradient);
    let fit = Fit {
        params: params.to_vec(),
        log_likelihood: (problem.log_likelihood)(&params).0,
        standard_errors: standard_errors(problem, &best.x, &best.gradient),
        iterations: best.iterations,
        gradient_norm,
        converged: gradient_norm <= CONVERGED_TOLERANCE,
    };
    if fit.converged {
        Ok(fit)
    } else {
        Err(FitError {
            message: format!(
                "{} did not converge: the gradient norm is {gradient_norm:.1e} (tolerance \
                 {CONVERGED_TOLERANCE:.0e}) after {} iterations at parameters {:?}; a small \
                 penalizer (such as 0.001) often helps",
                problem.name, fit.iterations, fit.params
            ),
            best: Some(fit),
        })
    }
}

/// Standard errors: the square roots of the diagonal of the inverse Hessian, in the parameters,
/// of the total objective (the negative log-likelihood, plus the penalty times the total
/// weight), given the objective's gradient at θ. The Hessian comes from central differences
/// of the analytic gradient in θ = ln p, where ∂G_i/∂θ_j = p_i p_j H_ij + δ_ij G_i. NaN where
/// it is not positive definite.
fn standard_errors<const N: usize>(
    problem: &Problem<N>,
    theta: &[f64],
    objective_gradient: &[f64],
) -> Vec<f64> {
    let total = |g: &[f64]| -> Vec<f64> { g.iter().map(|g| g * problem.total_weight).collect() };
    let gradient = |t: &[f64]| total(&problem.objective(t).1);
    let g0 = total(objective_gradient);
    let mut d_g = [[0.0; N]; N]; // d_g[j][i] = ∂G_i/∂θ_j
    for (j, row) in d_g.iter_mut().enumerate() {
        let shifted = |h: f64| {
            let mut t = theta.to_vec();
            t[j] += h;
            gradient(&t)
        };
        let (up, down) = (shifted(HESSIAN_STEP), shifted(-HESSIAN_STEP));
        for i in 0..N {
            row[i] = (up[i] - down[i]) / (2.0 * HESSIAN_STEP);
        }
    }
    let p: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
    let hessian: [[f64; N]; N] = std::array::from_fn(|i| {
        std::array::from_fn(|j| {
            let symmetric = 0.5 * (d_g[i][j] + d_g[j][i]);
            let diagonal = if i == j { g0[i] } else { 0.0 };
            (symmetric - diagonal) / (p[i] * p[j])
        })
    });
    match inverse_diagonal(&hessian) {
        Some(d) => d.iter().map(|v| v.sqrt()).collect(),
        None => vec![f64::NAN; N],
    }
}

/// The diagonal of the inverse of a symmetric positive definite matrix, by Cholesky
/// factorisation A = L Lᵀ: (A⁻¹)_ii = Σ_k (L⁻¹)_ki². `None` if A is not positive definite.
fn inverse_diagonal<const N: usize>(a: &[[f64; N]; N]) -> Option<[f64; N]> {
    let mut l = [[0.0; N]; N];
    for i in 0..N {
        for j in 0..=i {
            let s = a[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            if i == j {
                if s.is_nan() || s <= 0.0 {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    // Columns of L⁻¹ by forward substitution: L x = e_c.
    Some(std::array::from_fn(|c| {
        let mut x = [0.0; N];
        for i in c..N {
            let rhs = if i == c { 1.0 } else { 0.0 };
            x[i] = (rhs - (c..i).map(|k| l[i][k] * x[k]).sum::<f64>()) / l[i][i];
        }
        x.iter().map(|v| v * v).sum()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_diagonal_of_a_known_matrix() {
        let a = [[4.0, 2.0, 0.6], [2.0, 5.0, 1.0], [0.6, 1.0, 3.0]];
        // The diagonal of the inverse, from the adjugate: cofactors / det.
        let det = 4.0 * (15.0 - 1.0) - 2.0 * (6.0 - 0.6) + 0.6 * (2.0 - 3.0);
        let want = [14.0 / det, (12.0 - 0.36) / det, 16.0 / det];
        let got = inverse_diagonal(&a).unwrap();
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{got:?} vs {want:?}");
        }
        assert!(inverse_diagonal(&[[1.0, 2.0], [2.0, 1.0]]).is_none());
    }

    #[test]
    fn parallel_sums_equal_the_serial_sum_in_the_same_pieces() {
        // Bit for bit: which thread adds which piece cannot change the result.
        let n = 10 * CHUNK + 17;
        let term = |i: usize| ((i as f64).sqrt().sin(), [1.0 / (1.0 + i as f64)]);
        let mut serial = (0.0, [0.0]);
        for start in (0..n).step_by(CHUNK) {
            let mut piece = (0.0, [0.0]);
            (start..(start + CHUNK).min(n)).for_each(|i| add(&mut piece, 1.0, term(i)));
            add(&mut serial, 1.0, piece);
        }
        for _ in 0..5 {
            assert_eq!(weighted_sum(n, None, term), serial);
        }
    }

    #[test]
    fn recovers_a_gamma_shape_and_rate_with_standard_errors() {
        // Gamma(k, θ) data: the MLE and its standard errors, against their textbook forms.
        let xs: Vec<f64> = (1..=200)
            .map(|i| 1.0 + (i as f64 * 0.37).sin().abs() * 3.0)
            .collect();
        let n = xs.len() as f64;
        let (sum, sum_ln) = (
            xs.iter().sum::<f64>(),
            xs.iter().map(|x| x.ln()).sum::<f64>(),
        );
        let ll = |p: &[f64; 2]| {
            let (k, rate) = (p[0], p[1]);
            let value = n * (k * rate.ln() - super::super::special::ln_gamma(k))
                + (k - 1.0) * sum_ln
                - rate * sum;
            let d_k = n * (rate.ln() - super::super::special::digamma(k)) + sum_ln;
            (value, [d_k, n * k / rate - sum])
        };
        let problem = Problem {
            name: "gamma",
            log_likelihood: &ll,
            total_weight: n,
            penalizer: 0.0,
            penalty_scale: [1.0; 2],
            starts: vec![[1.0, 1.0], [10.0, 0.1]],
            sample: None,
        };
        let fit = maximize(&problem).unwrap();
        let (k, rate) = (fit.params[0], fit.params[1]);
        assert!(
            (rate - k * n / sum).abs() < 1e-6,
            "the rate MLE is k / mean"
        );
        // Fisher information n·[[ψ'(k), −1/rate], [−1/rate, k/rate²]].
        let trigamma = (super::super::special::digamma(k + 1e-5)
            - super::super::special::digamma(k - 1e-5))
            / 2e-5;
        let det = n * n * (trigamma * k / (rate * rate) - 1.0 / (rate * rate));
        let se_k = (n * k / (rate * rate) / det).sqrt();
        let se_rate = (n * trigamma / det).sqrt();
        assert!((fit.standard_errors[0] / se_k - 1.0).abs() < 1e-5);
        assert!((fit.standard_errors[1] / se_rate - 1.0).abs() < 1e-5);
        assert!(fit.converged && fit.gradient_norm <= CONVERGED_TOLERANCE);
    }
}
