//! The models on the CDNOW sample (tests/data), against published estimates and against
//! formulas written out here independently: the textbook forms with a plain 2F1 series, and
//! the Pareto/NBD likelihood by numerical integration instead of 2F1.

use rand::{Rng, SeedableRng};

use super::*;

/// The numeric columns of a CSV file of tests/data, header skipped.
fn columns(name: &str) -> Vec<Vec<f64>> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(|v| v.trim().parse().unwrap()).collect())
        .collect();
    (0..rows[0].len())
        .map(|j| rows.iter().map(|r| r[j]).collect())
        .collect()
}

/// x, t_x, T of the 2,357 CDNOW customers, in weeks.
fn cdnow() -> [Vec<f64>; 3] {
    let mut c = columns("cdnow_customers_summary.csv");
    assert_eq!(c[0].len(), 2357);
    [c.remove(1), c.remove(1), c.remove(1)]
}

fn customers(c: &[Vec<f64>; 3]) -> Customers<'_> {
    Customers {
        frequency: &c[0],
        recency: &c[1],
        t: &c[2],
        weights: None,
    }
}

/// |got − published| within half a unit of the last printed digit.
fn assert_published(what: &str, got: f64, published: f64, decimals: i32) {
    let half_unit = 0.5 * 10f64.powi(-decimals);
    assert!(
        (got - published).abs() <= half_unit,
        "{what}: got {got}, published {published}"
    );
}

#[test]
fn bg_nbd_reproduces_fader_hardie_lee_2005() {
    let c = cdnow();
    let fit = fit(Model::BetaGeo, &customers(&c), 0.0).unwrap();
    let published = [("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)];
    for ((name, want), got) in published.iter().zip(&fit.params) {
        assert_published(name, *got, *want, 3);
    }
    assert_published("log-likelihood", fit.log_likelihood, -9582.4, 1);
    assert!(fit.converged && fit.gradient_norm <= CONVERGED_TOLERANCE);
    // lifetimes' BetaGeoFitter summary on the same data (from its Hessian by autograd).
    let lifetimes = [0.012557, 0.378221, 0.185719, 0.705345];
    for (got, want) in fit.standard_errors.iter().zip(lifetimes) {
        assert!((got - want).abs() < 2e-6, "{:?}", fit.standard_errors);
    }
}

#[test]
fn pareto_nbd_reproduces_the_published_cdnow_fit() {
    let c = cdnow();
    let fit = fit(Model::ParetoNbd, &customers(&c), 0.0).unwrap();
    let published = [0.553, 10.578, 0.606, 11.669];
    for (name, j) in [("r", 0), ("alpha", 1), ("s", 2)] {
        assert_published(name, fit.params[j], published[j], 3);
    }
    // β is the flattest direction (standard error 6.2): the optimum is at 11.6679, where the
    // likelihood is higher than at the published values, rounded from a solver's.
    assert!((fit.params[3] - published[3]).abs() < 0.002, "{fit:?}");
    let at_published = log_likelihood(Model::ParetoNbd, &published, &customers(&c));
    assert!(fit.log_likelihood > at_published);
    assert_published("log-likelihood", fit.log_likelihood, -9595.0, 1);
    assert!(fit.converged);
    assert!(fit
        .standard_errors
        .iter()
        .all(|s| s.is_finite() && *s > 0.0));
}

#[test]
fn mbg_nbd_fits_cdnow_at_least_as_well_as_bg_nbd() {
    let c = cdnow();
    let bg = fit(Model::BetaGeo, &customers(&c), 0.0).unwrap();
    let mbg = fit(Model::ModifiedBetaGeo, &customers(&c), 0.0).unwrap();
    assert!(mbg.converged);
    assert!(mbg.log_likelihood >= bg.log_likelihood, "{mbg:?} vs {bg:?}");
    let at = log_likelihood(Model::ModifiedBetaGeo, &mbg.params, &customers(&c));
    assert_eq!(at, mbg.log_likelihood);
}

/// The 946 CDNOW customers with repeat purchases: x and their mean repeat spend zbar.
fn cdnow_spend() -> (Vec<f64>, Vec<f64>) {
    let c = columns("cdnow_customers_summary_with_transactions.csv");
    let repeat: Vec<usize> = (0..c[1].len()).filter(|&i| c[1][i] > 0.0).collect();
    assert_eq!(repeat.len(), 946);
    (
        repeat.iter().map(|&i| c[1][i]).collect(),
        repeat.iter().map(|&i| c[4][i]).collect(),
    )
}

#[test]
fn gamma_gamma_reproduces_fader_hardie_2013() {
    let (x, m) = cdnow_spend();
    let fit = gamma_gamma::fit(&x, &m, None, 0.0).unwrap();
    let published = [6.25, 3.74, 15.44];
    assert_published("p", fit.params[0], published[0], 2);
    assert_published("q", fit.params[1], published[1], 2);
    // The optimum has γ = 15.448 (lifetimes prints 15.45), with a higher likelihood than the
    // note's rounded values; γ's standard error is 4.2.
    assert!((fit.params[2] - published[2]).abs() < 0.01, "{fit:?}");
    let at_published = gamma_gamma::log_likelihood(&published, &x, &m, None);
    assert!(fit.log_likelihood > at_published);
    assert_published("log-likelihood", fit.log_likelihood, -4055.9, 1);
    assert!(fit.converged);
    // E(spend) of a customer with one repeat purchase of $z: the weighted mean of z and the
    // population mean p·v/(q−1), with weight p·x/(p·x + q − 1) on z.
    let [p, q, v] = [fit.params[0], fit.params[1], fit.params[2]];
    let weight = p / (p + q - 1.0);
    for z in [5.0, 35.0, 300.0] {
        let want = weight * z + (1.0 - weight) * p * v / (q - 1.0);
        let got = gamma_gamma::expected_spend(&fit.params, &[1.0], &[z])[0];
        assert!((got - want).abs() < 1e-12 * want, "{got} vs {want}");
    }
    let new = gamma_gamma::expected_spend(&fit.params, &[0.0], &[123.0])[0];
    assert!((new - p * v / (q - 1.0)).abs() < 1e-12 * new);
}

/// 2F1(a, b; c; z) by its plain series, for the checks below.
fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let (mut term, mut sum) = (1.0, 1.0);
    for n in 0..100_000 {
        let n = n as f64;
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        if term.abs() < 1e-17 * sum.abs() && n > 10.0 {
            break;
        }
    }
    sum
}

/// (x, t_x, T) of a few CDNOW-like customers, the first the one of Fader, Hardie & Lee's
/// worked example.
const HISTORIES: [(f64, f64, f64); 4] = [
    (2.0, 30.43, 38.86),
    (0.0, 0.0, 38.86),
    (7.0, 35.71, 37.0),
    (1.0, 1.71, 32.14),
];
const BG_PUBLISHED: [f64; 4] = [0.243, 4.414, 0.793, 2.426];

#[test]
fn bg_nbd_predictions_match_the_textbook_formulas() {
    let [r, alpha, a, b] = BG_PUBLISHED;
    for (x, t_x, big_t) in HISTORIES {
        let odds = if x > 0.0 {
            a / (b + x - 1.0) * ((alpha + big_t) / (alpha + t_x)).powf(r + x)
        } else {
            0.0
        };
        let want_alive = 1.0 / (1.0 + odds);
        let got = p_alive(Model::BetaGeo, &BG_PUBLISHED, &[x], &[t_x], &[big_t])[0];
        assert!((got - want_alive).abs() < 1e-14, "{got} vs {want_alive}");
        for t in [1.0, 39.0, 150.0] {
            let z = t / (alpha + big_t + t);
            let y = (alpha + big_t) / (alpha + big_t + t);
            let hyp = hyp2f1(r + x, b + x, a + b + x - 1.0, z);
            let want = (a + b + x - 1.0) / (a - 1.0) * (1.0 - y.powf(r + x) * hyp) * want_alive;
            let got =
                expected_purchases(Model::BetaGeo, &BG_PUBLISHED, t, &[x], &[t_x], &[big_t])[0];
            assert!((got - want).abs() < 1e-10 * want, "t={t}: {got} vs {want}");
        }
    }
    // Fader, Hardie & Lee (2005), section 5: 1.226 purchases in the next 39 weeks.
    let e = expected_purchases(
        Model::BetaGeo,
        &BG_PUBLISHED,
        39.0,
        &[2.0],
        &[30.43],
        &[38.86],
    );
    assert_published("E[X(39)]", e[0], 1.226, 3);
    // Equation (9) for a new customer.
    let t = 39.0;
    let hyp = hyp2f1(r, b, a + b - 1.0, t / (alpha + t));
    let want = (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t)).powf(r) * hyp);
    let got = expected_purchases_new(Model::BetaGeo, &BG_PUBLISHED, t);
    assert!((got - want).abs() < 1e-12 * want);
}

#[test]
fn mbg_nbd_predictions_match_the_textbook_formulas() {
    let params = [0.525, 6.183, 0.891, 1.614];
    let [r, alpha, a, b] = params;
    for (x, t_x, big_t) in HISTORIES {
        let odds = a / (b + x) * ((alpha + big_t) / (alpha + t_x)).powf(r + x);
        let want_alive = 1.0 / (1.0 + odds);
        let got = p_alive(Model::ModifiedBetaGeo, &params, &[x], &[t_x], &[big_t])[0];
        assert!((got - want_alive).abs() < 1e-14);
        let t = 39.0;
        let z = t / (alpha + big_t + t);
        let y = (alpha + big_t) / (alpha + big_t + t);
        let hyp = hyp2f1(r + x, b + x + 1.0, a + b + x, z);
        let want = (a + b + x) / (a - 1.0) * (1.0 - y.powf(r + x) * hyp) * want_alive;
        let got = expected_purchases(Model::ModifiedBetaGeo, &params, t, &[x], &[t_x], &[big_t])[0];
        assert!((got - want).abs() < 1e-10 * want, "{got} vs {want}");
    }
    let t = 20.0;
    let hyp = hyp2f1(r, b + 1.0, a + b, t / (alpha + t));
    let want = b / (a - 1.0) * (1.0 - (alpha / (alpha + t)).powf(r) * hyp);
    let got = expected_purchases_new(Model::ModifiedBetaGeo, &params, t);
    assert!((got - want).abs() < 1e-12 * want);
}

/// The Pareto/NBD likelihood without 2F1: Γ(r+x)α^r β^s / Γ(r) · [(α+T)^−(r+x) (β+T)^−s +
/// s ∫_{t_x}^T (α+τ)^−(r+x) (β+τ)^−(s+1) dτ] (alive at T, or died at τ), the integral by
/// Simpson's rule. Returns (ln L without the Gamma-function factor, P(alive)).
fn pareto_by_quadrature(p: [f64; 4], x: f64, t_x: f64, big_t: f64) -> (f64, f64) {
    let [r, alpha, s, beta] = p;
    let f = |tau: f64| (alpha + tau).powf(-(r + x)) * (beta + tau).powf(-(s + 1.0));
    let n = 20_000;
    let h = (big_t - t_x) / n as f64;
    let integral = (0..=n)
        .map(|i| {
            let weight = if i == 0 || i == n {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            weight * f(t_x + i as f64 * h)
        })
        .sum::<f64>()
        * h
        / 3.0;
    let alive = (alpha + big_t).powf(-(r + x)) * (beta + big_t).powf(-s);
    let total = alive + s * integral;
    let ln_l = r * alpha.ln() + s * beta.ln() + total.ln();
    (ln_l, alive / total)
}

#[test]
fn pareto_nbd_matches_its_likelihood_by_quadrature() {
    // α < β (CDNOW), α > β, and α = β: both branches of the 2F1 formula and their seam.
    let cases = [
        [0.553, 10.578, 0.606, 11.669],
        [0.9, 20.0, 1.4, 6.0],
        [0.4, 8.0, 0.7, 8.0],
    ];
    for p in cases {
        for (x, t_x, big_t) in HISTORIES {
            let (want_ll, want_alive) = pareto_by_quadrature(p, x, t_x, big_t);
            let gammas = special::ln_gamma(p[0] + x) - special::ln_gamma(p[0]);
            let data = [vec![x], vec![t_x], vec![big_t]];
            let got = log_likelihood(Model::ParetoNbd, &p, &customers(&data)) - gammas;
            assert!(
                (got - want_ll).abs() < 1e-10,
                "{p:?} {x}: {got} vs {want_ll}"
            );
            let alive = p_alive(Model::ParetoNbd, &p, &[x], &[t_x], &[big_t])[0];
            assert!(
                (alive - want_alive).abs() < 1e-11,
                "{alive} vs {want_alive}"
            );
            // E[X(T, T+t)] = P(alive) · (r+x)(β+T)/((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)].
            let [r, alpha, s, beta] = p;
            let t = 52.0;
            let want = want_alive * (r + x) * (beta + big_t) / ((alpha + big_t) * (s - 1.0))
                * (1.0 - ((beta + big_t) / (beta + big_t + t)).powf(s - 1.0));
            let got = expected_purchases(Model::ParetoNbd, &p, t, &[x], &[t_x], &[big_t])[0];
            assert!((got - want).abs() < 1e-10 * want, "{got} vs {want}");
        }
    }
    let [r, alpha, s, beta] = cases[0];
    let t = 39.0;
    let want = r * beta / (alpha * (s - 1.0)) * (1.0 - (beta / (beta + t)).powf(s - 1.0));
    let got = expected_purchases_new(Model::ParetoNbd, &cases[0], t);
    assert!((got - want).abs() < 1e-13 * want);
}

/// Central differences of one customer's log-likelihood in each parameter.
fn numeric_gradient(model: Model, p: &[f64], x: f64, t_x: f64, big_t: f64) -> Vec<f64> {
    let data = [vec![x], vec![t_x], vec![big_t]];
    let ll = |q: &[f64]| log_likelihood(model, q, &customers(&data));
    (0..p.len())
        .map(|j| {
            let h = 1e-6 * p[j];
            let (mut up, mut down) = (p.to_vec(), p.to_vec());
            up[j] += h;
            down[j] -= h;
            (ll(&up) - ll(&down)) / (2.0 * h)
        })
        .collect()
}

#[test]
fn gradients_match_finite_differences() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let c = cdnow();
    let mut histories: Vec<(f64, f64, f64)> = HISTORIES.to_vec();
    histories.push((3.0, 20.0, 20.0)); // last purchase at T
    histories.extend((0..20).map(|_| {
        let i = rng.random_range(0..c[0].len());
        (c[0][i], c[1][i], c[2][i])
    }));
    for model in [Model::BetaGeo, Model::ParetoNbd, Model::ModifiedBetaGeo] {
        for trial in 0..20 {
            let mut p: [f64; 4] = std::array::from_fn(|_| (rng.random::<f64>() * 5.0 - 2.5).exp());
            if trial == 0 {
                p[3] = p[1]; // α = β
            }
            for &(x, t_x, big_t) in &histories {
                let data = [vec![x], vec![t_x], vec![big_t]];
                let one = Histories::new(&customers(&data));
                let (_, analytic) = likelihood(model, one).at(&p);
                let numeric = numeric_gradient(model, &p, x, t_x, big_t);
                for j in 0..4 {
                    let scale = 1.0 + numeric[j].abs();
                    assert!(
                        (analytic[j] - numeric[j]).abs() < 1e-6 * scale,
                        "{model:?} {p:?} ({x}, {t_x}, {big_t}) d{j}: {} vs {}",
                        analytic[j],
                        numeric[j]
                    );
                }
            }
        }
    }
}

#[test]
fn weights_stand_for_repeated_customers() {
    // Each distinct history once, weighted by its count: the same fit as the full list.
    let c = cdnow();
    let mut counts = std::collections::BTreeMap::<[u64; 3], f64>::new();
    for ((x, t_x), t) in c[0].iter().zip(&c[1]).zip(&c[2]) {
        *counts
            .entry([x.to_bits(), t_x.to_bits(), t.to_bits()])
            .or_default() += 1.0;
    }
    assert!(counts.len() < c[0].len());
    let column = |j: usize| -> Vec<f64> { counts.keys().map(|k| f64::from_bits(k[j])).collect() };
    let (x, t_x, big_t) = (column(0), column(1), column(2));
    let weights: Vec<f64> = counts.values().copied().collect();
    let grouped = Customers {
        frequency: &x,
        recency: &t_x,
        t: &big_t,
        weights: Some(&weights),
    };
    for model in [Model::BetaGeo, Model::ParetoNbd] {
        let full = fit(model, &customers(&c), 0.0).unwrap();
        let weighted = fit(model, &grouped, 0.0).unwrap();
        assert!((full.log_likelihood - weighted.log_likelihood).abs() < 1e-6);
        for (a, b) in full.params.iter().zip(&weighted.params) {
            assert!((a - b).abs() < 1e-5 * a, "{full:?} vs {weighted:?}");
        }
    }
}

#[test]
fn the_penalizer_shrinks_the_parameters() {
    let c = cdnow();
    let plain = fit(Model::BetaGeo, &customers(&c), 0.0).unwrap();
    let penalized = fit(Model::BetaGeo, &customers(&c), 0.1).unwrap();
    let size = |f: &Fit| {
        f.params[0].powi(2)
            + (f.params[1] / 38.86).powi(2)
            + f.params[2].powi(2)
            + f.params[3].powi(2)
    };
    assert!(size(&penalized) < size(&plain));
    assert!(penalized.log_likelihood < plain.log_likelihood);
}

#[test]
fn clv_sums_the_discounted_expected_purchases() {
    let c = cdnow();
    let (x, t_x, big_t) = (&c[0][..50], &c[1][..50], &c[2][..50]);
    let spend_params = [6.25, 3.74, 15.44];
    let monetary: Vec<f64> = x
        .iter()
        .map(|&x| if x > 0.0 { 30.0 } else { 0.0 })
        .collect();
    let spend = gamma_gamma::expected_spend(&spend_params, x, &monetary);
    for model in [Model::BetaGeo, Model::ParetoNbd, Model::ModifiedBetaGeo] {
        let params = match model {
            Model::ParetoNbd => [0.553, 10.578, 0.606, 11.669],
            _ => BG_PUBLISHED,
        };
        let (periods, length, rate, margin) = (12, 4.345, 0.01, 0.3);
        let got = clv(
            model,
            &params,
            &spend_params,
            x,
            t_x,
            big_t,
            &monetary,
            periods,
            length,
            rate,
            margin,
        );
        let e = |t: f64| expected_purchases(model, &params, t, x, t_x, big_t);
        for i in 0..x.len() {
            let mut want = 0.0;
            for k in 1..=periods {
                let bought = e(k as f64 * length)[i] - e((k - 1) as f64 * length)[i];
                want += bought * spend[i] * margin / (1.0 + rate).powi(k as i32);
            }
            assert!((got[i] - want).abs() < 1e-12 * want, "{got:?} vs {want}");
        }
    }
}

#[test]
fn invalid_summaries_are_refused_with_a_reason() {
    let bad = |x: &[f64], t_x: &[f64], t: &[f64]| {
        let data = Customers {
            frequency: x,
            recency: t_x,
            t,
            weights: None,
        };
        let e = fit(Model::BetaGeo, &data, 0.0).unwrap_err();
        assert!(e.best.is_none());
        e.message
    };
    assert!(bad(&[1.0], &[5.0], &[4.0]).contains("recency must be <= T"));
    assert!(bad(&[0.0], &[1.0], &[4.0]).contains("recency must be 0 when frequency is 0"));
    assert!(bad(&[1.5], &[1.0], &[4.0]).contains("whole number"));
    assert!(bad(&[1.0, 2.0], &[1.0], &[4.0]).contains("one value per customer"));
    assert!(bad(&[1.0, f64::NAN], &[1.0, 1.0], &[4.0, 4.0]).contains("position 1"));
    let e = gamma_gamma::fit(&[0.0, 2.0], &[0.0, 10.0], None, 0.0).unwrap_err();
    assert!(e.to_string().contains("frequency > 0"), "{e}");
    assert!(log_likelihood(Model::BetaGeo, &[1.0, -1.0, 1.0, 1.0], &customers(&cdnow())).is_nan());
}

#[test]
fn a_fit_that_cannot_converge_reports_its_best_attempt() {
    // Every customer spends the same: the spread of spend goes to 0 and the likelihood grows
    // without bound as p and q do.
    let x: Vec<f64> = (1..=50).map(|i| f64::from(i % 5 + 1)).collect();
    let m = vec![20.0; 50];
    let e = gamma_gamma::fit(&x, &m, None, 0.0).unwrap_err();
    let best = e.best.expect("the best attempt");
    assert!(!best.converged && best.gradient_norm > CONVERGED_TOLERANCE);
    assert!(e.message.contains("did not converge"), "{}", e.message);
}

/// Gamma(shape, 1) by Marsaglia & Tsang (2000).
fn gamma_sample(rng: &mut impl Rng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u: f64 = rng.random();
        return gamma_sample(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let (u1, u2): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let v = (1.0 + c * z).powi(3);
        let u: f64 = 1.0 - rng.random::<f64>();
        if v > 0.0 && u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

fn exponential(rng: &mut impl Rng, rate: f64) -> f64 {
    -(1.0 - rng.random::<f64>()).ln() / rate
}

/// Summaries of `n` customers drawn from `model` at `params`, observed for 27 to 39 weeks.
fn simulate(model: Model, params: [f64; 4], n: usize, seed: u64) -> [Vec<f64>; 3] {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let [r, alpha, a_or_s, b_or_beta] = params;
    let mut out: [Vec<f64>; 3] = Default::default();
    for _ in 0..n {
        let big_t = 27.0 + 12.0 * rng.random::<f64>();
        let rate = gamma_sample(&mut rng, r) / alpha;
        // BG/NBD: a dropout probability after each repeat purchase; Pareto/NBD: a lifetime.
        let (p, lifetime) = match model {
            Model::ParetoNbd => {
                let mu = gamma_sample(&mut rng, a_or_s) / b_or_beta;
                (0.0, exponential(&mut rng, mu))
            }
            _ => {
                let g = gamma_sample(&mut rng, a_or_s);
                (g / (g + gamma_sample(&mut rng, b_or_beta)), f64::INFINITY)
            }
        };
        let (mut t, mut x, mut t_x) = (0.0, 0.0, 0.0);
        loop {
            t += exponential(&mut rng, rate);
            if t > big_t.min(lifetime) {
                break;
            }
            x += 1.0;
            t_x = t;
            if rng.random::<f64>() < p {
                break;
            }
        }
        out[0].push(x);
        out[1].push(t_x);
        out[2].push(big_t);
    }
    out
}

#[test]
fn fits_recover_the_parameters_of_simulated_customers() {
    for (model, truth) in [
        (Model::BetaGeo, BG_PUBLISHED),
        (Model::ParetoNbd, [0.553, 10.578, 0.606, 11.669]),
    ] {
        let data = simulate(model, truth, 20_000, 11);
        let fit = fit(model, &customers(&data), 0.0).unwrap();
        for ((got, want), se) in fit.params.iter().zip(truth).zip(&fit.standard_errors) {
            assert!((got - want).abs() < 4.0 * se, "{model:?} {fit:?}");
        }
    }
}

#[test]
fn a_first_look_at_a_sample_finds_the_optimum_of_all_the_starts() {
    let all_starts = usize::MAX; // no sample
    for (model, truth) in [
        (Model::BetaGeo, BG_PUBLISHED),
        (Model::ParetoNbd, [0.553, 10.578, 0.606, 11.669]),
        (Model::ModifiedBetaGeo, BG_PUBLISHED),
    ] {
        let data = simulate(model, truth, 30_000, 17);
        let sampled = fit_sampling(model, &customers(&data), 0.0, 2048).unwrap();
        let direct = fit_sampling(model, &customers(&data), 0.0, all_starts).unwrap();
        for (a, b) in sampled.params.iter().zip(&direct.params) {
            assert!(
                (a / b - 1.0).abs() < 1e-7,
                "{model:?} {sampled:?} vs {direct:?}"
            );
        }
        for (a, b) in sampled.standard_errors.iter().zip(&direct.standard_errors) {
            assert!(
                (a / b - 1.0).abs() < 1e-5,
                "{model:?} {sampled:?} vs {direct:?}"
            );
        }
    }
    // Gamma-Gamma: mean spends of x purchases, each gamma(p, ν), ν ~ gamma(q, v).
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let [p, q, v] = [6.25, 3.74, 15.44];
    let (x, m): (Vec<f64>, Vec<f64>) = (0..30_000)
        .map(|_| {
            let x = f64::from(rng.random_range(1..20));
            let nu = gamma_sample(&mut rng, q) / v;
            (x, gamma_sample(&mut rng, p * x) / (x * nu))
        })
        .unzip();
    let sampled = gamma_gamma::fit_sampling(&x, &m, None, 0.0, 2048).unwrap();
    let direct = gamma_gamma::fit_sampling(&x, &m, None, 0.0, all_starts).unwrap();
    for (a, b) in sampled.params.iter().zip(&direct.params) {
        assert!((a / b - 1.0).abs() < 1e-7, "{sampled:?} vs {direct:?}");
    }
}

#[test]
fn the_time_unit_only_rescales_alpha_and_beta() {
    // In days instead of weeks: α and β × 7; the likelihood of the purchase times, a density in
    // time, changes by 7^−x per customer.
    let c = cdnow();
    let in_days = |v: &Vec<f64>| v.iter().map(|t| 7.0 * t).collect::<Vec<f64>>();
    let days = [c[0].clone(), in_days(&c[1]), in_days(&c[2])];
    let purchases: f64 = c[0].iter().sum();
    for model in [Model::BetaGeo, Model::ParetoNbd] {
        let weeks = fit(model, &customers(&c), 0.0).unwrap();
        let in_days = fit(model, &customers(&days), 0.0).unwrap();
        for (j, time) in model.time_parameters().into_iter().enumerate() {
            let unit = if time { 7.0 } else { 1.0 };
            let relative = in_days.params[j] / (unit * weeks.params[j]) - 1.0;
            assert!(relative.abs() < 1e-5, "{model:?} {j}: {relative}");
        }
        let shift = in_days.log_likelihood - (weeks.log_likelihood - purchases * 7f64.ln());
        assert!(shift.abs() < 1e-6, "{shift}");
        // A penalizer acts on α and β in units of the largest T: the same in both units.
        let a = fit(model, &customers(&c), 0.05).unwrap();
        let b = fit(model, &customers(&days), 0.05).unwrap();
        assert!((b.params[0] / a.params[0] - 1.0).abs() < 1e-5);
    }
}

/// Fit times on CDNOW and on simulated summaries of 100,000 and 1,000,000 customers:
/// `cargo test --release --lib clv::tests::fit_times -- --ignored --nocapture`.
#[test]
#[ignore]
fn fit_times() {
    let c = cdnow();
    for model in [Model::BetaGeo, Model::ParetoNbd, Model::ModifiedBetaGeo] {
        let start = std::time::Instant::now();
        let f = fit(model, &customers(&c), 0.0).unwrap();
        eprintln!(
            "CDNOW {model:?}: {:.2?}, {} iterations",
            start.elapsed(),
            f.iterations
        );
    }
    let (x, m) = cdnow_spend();
    let start = std::time::Instant::now();
    let f = gamma_gamma::fit(&x, &m, None, 0.0).unwrap();
    eprintln!(
        "CDNOW Gamma-Gamma: {:.2?}, {} iterations",
        start.elapsed(),
        f.iterations
    );
    for n in [100_000, 1_000_000] {
        for (truth_model, truth) in [
            (Model::BetaGeo, BG_PUBLISHED),
            (Model::ParetoNbd, [0.553, 10.578, 0.606, 11.669]),
        ] {
            let data = simulate(truth_model, truth, n, 5);
            for model in [Model::BetaGeo, Model::ParetoNbd, Model::ModifiedBetaGeo] {
                let start = std::time::Instant::now();
                let f = fit(model, &customers(&data), 0.0);
                let elapsed = start.elapsed();
                let f = f.unwrap_or_else(|e| e.best.unwrap());
                eprintln!(
                    "{n} customers from {truth_model:?}, fit {model:?}: {:.2?}, {} iterations, \
                     params {:.4?}, LL {:.2}, gradient {:.1e}",
                    elapsed, f.iterations, f.params, f.log_likelihood, f.gradient_norm
                );
            }
        }
    }
}
