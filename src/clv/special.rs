//! Special functions of the buy-till-you-die formulas, for the positive real arguments they
//! take there: ln Γ, digamma, and the two Gauss hypergeometric (2F1) series the models need.
//! Each series is summed term by term until a bound on its tail is negligible; one that would
//! need more than `MAX_TERMS` terms gives NaN, which the callers treat as "no value here".

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
/// Below this the argument is shifted up by the recurrences; from here on the asymptotic series
/// below are accurate to about 1e-17.
const ASYMPTOTIC_FROM: f64 = 10.0;
/// A series stops once its remaining tail is below this fraction of its sum.
const SERIES_TOLERANCE: f64 = 1e-16;
/// The series converge like z^n: this many terms is z ≈ 0.9996 at full precision.
const MAX_TERMS: usize = 100_000;

/// ln Γ(x) for x > 0: Stirling's series after shifting x to at least 10.
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    let (mut x, mut product) = (x, 1.0);
    while x < ASYMPTOTIC_FROM {
        product *= x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv
        * (1.0 / 12.0
            + inv2
                * (-1.0 / 360.0
                    + inv2
                        * (1.0 / 1260.0
                            + inv2
                                * (-1.0 / 1680.0
                                    + inv2
                                        * (1.0 / 1188.0
                                            + inv2 * (-691.0 / 360_360.0 + inv2 / 156.0))))));
    (x - 0.5) * x.ln() - x + LN_SQRT_2PI + series - product.ln()
}

/// ψ(x) = d ln Γ(x) / dx for x > 0: the asymptotic series after shifting x to at least 10.
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    let (mut x, mut shift) = (x, 0.0);
    while x < ASYMPTOTIC_FROM {
        shift += 1.0 / x;
        x += 1.0;
    }
    let inv2 = 1.0 / (x * x);
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2
                        * (1.0 / 252.0
                            - inv2
                                * (1.0 / 240.0
                                    - inv2
                                        * (1.0 / 132.0
                                            - inv2 * (691.0 / 32_760.0 - inv2 / 12.0))))));
    x.ln() - 0.5 / x - series - shift
}

/// (e^(k·x) − 1) / k, which tends to x as k → 0.
pub fn expm1_over(k: f64, x: f64) -> f64 {
    if k == 0.0 {
        x
    } else {
        (k * x).exp_m1() / k
    }
}

/// ln(e^u + e^v) and the share e^v / (e^u + e^v) of the second; exact when either is −∞.
pub fn log_add_exp_with_share(u: f64, v: f64) -> (f64, f64) {
    let (hi, lo) = (u.max(v), u.min(v));
    if hi == f64::NEG_INFINITY {
        return (hi, 0.0);
    }
    let ratio = (lo - hi).exp(); // 0 when lo is −∞
    let share_of_hi = 1.0 / (1.0 + ratio);
    let share_of_v = if v > u {
        share_of_hi
    } else {
        ratio * share_of_hi
    };
    // ln(1 + ratio) rather than ln_1p(ratio): an error of at most an ulp of 1 is nothing in a
    // log-likelihood, and ln is much faster.
    (hi + (1.0 + ratio).ln(), share_of_v)
}

/// ln 2F1(a, b; a + 1; z) and its partial derivatives, for a > 0, 0 < b < a + 1, 0 ≤ z < 1.
#[derive(Clone, Copy, Debug)]
pub struct LnHyp2f1 {
    pub value: f64,
    /// With respect to a, c = a + 1 moving with it.
    pub d_a: f64,
    pub d_b: f64,
    pub d_z: f64,
}

const NAN_HYP2F1: LnHyp2f1 = LnHyp2f1 {
    value: f64::NAN,
    d_a: f64::NAN,
    d_b: f64::NAN,
    d_z: f64::NAN,
};

/// ln 2F1(a, b; a + 1; z) for one (a, b) and any number of z. Euler's transformation
/// 2F1(a, b; a+1; z) = (1−z)^(1−b) 2F1(1, a+1−b; a+1; z) gives a series Σ c_n z^n whose
/// coefficients are all positive and fall from the first one on (c_(n+1) = c_n (a+1−b+n) /
/// (a+1+n) < c_n), so it has no cancellation and its tail after a term t is below t·z/(1−z).
/// The coefficients and their derivatives in a and b do not depend on z: they are made once,
/// as far as the largest z needs, and each z then costs a polynomial.
pub struct Hyp2f1Series {
    b: f64,
    /// a + 1 − b and c = a + 1.
    e: f64,
    c: f64,
    valid: bool,
    /// c_n, ∂c_n/∂a, ∂c_n/∂b.
    coefficients: Vec<[f64; 3]>,
}

impl Hyp2f1Series {
    pub fn new(a: f64, b: f64) -> Hyp2f1Series {
        let e = a + 1.0 - b;
        Hyp2f1Series {
            b,
            e,
            c: a + 1.0,
            valid: a > 0.0 && b > 0.0 && e > 0.0,
            coefficients: vec![[1.0, 0.0, 0.0]],
        }
    }

    /// Appends c_n for the next n.
    fn extend(&mut self) {
        let n = (self.coefficients.len() - 1) as f64;
        let [t, t_a, t_b] = self.coefficients[self.coefficients.len() - 1];
        let inv_cn = 1.0 / (self.c + n);
        let q = (self.e + n) * inv_cn;
        self.coefficients.push([
            t * q,
            t_a * q + t * self.b * inv_cn * inv_cn,
            t_b * q - t * inv_cn,
        ]);
    }

    pub fn at(&mut self, z: f64) -> LnHyp2f1 {
        if !(self.valid && (0.0..1.0).contains(&z)) {
            return NAN_HYP2F1;
        }
        // The sums of c_n z^n, of its derivatives in a and b, and in z (n c_n z^(n−1)).
        let (mut s, mut s_a, mut s_b, mut s_z) = (1.0, 0.0, 0.0, 0.0);
        let mut power = 1.0; // z^(n−1)
                             // Bounds the tails of the sum and of its z-derivative (whose terms are n·t_n / z).
        let tolerance = SERIES_TOLERANCE * (1.0 - z) * (1.0 - z);
        let mut n = 1;
        loop {
            if n == self.coefficients.len() {
                if n > MAX_TERMS {
                    return NAN_HYP2F1;
                }
                self.extend();
            }
            let [t, t_a, t_b] = self.coefficients[n];
            s_z += n as f64 * t * power;
            power *= z;
            let term = t * power;
            s += term;
            s_a += t_a * power;
            s_b += t_b * power;
            if term * (n + 1) as f64 <= tolerance * s {
                break;
            }
            n += 1;
        }
        let ln_1mz = (-z).ln_1p();
        LnHyp2f1 {
            value: (1.0 - self.b) * ln_1mz + s.ln(),
            d_a: s_a / s,
            d_b: -ln_1mz + s_b / s,
            d_z: (self.b - 1.0) / (1.0 - z) + s_z / s,
        }
    }
}

/// C/(a−1) · [1 − y^k 2F1(k, B; C; 1−y)] with C = a + B − 1, given ln y ≤ 0: the factor of
/// the BG/NBD and MBG/NBD expected purchases (y = (α+T)/(α+T+t), k = r + x).
///
/// Euler's transformation makes y^k 2F1(k, B; C; 1−y) = y^(a−1) 2F1(C−k, a−1; C; 1−y), whose
/// terms past the first all carry the factor (a − 1). Dividing it out by hand leaves
/// (1 − y^(a−1))/(a−1) − y^(a−1) S with S = Σ_{n≥1} (C−k)_n (a)_(n−1) z^n / ((C)_n n!) and
/// z = 1 − y: exact at a = 1, where the textbook form is 0/0.
pub fn bg_expected_factor(k: f64, big_b: f64, a: f64, ln_y: f64) -> f64 {
    let c = a + big_b - 1.0;
    let z = -ln_y.exp_m1();
    let (mut term, mut sum) = ((c - k) / c * z, 0.0);
    let mut converged = term == 0.0;
    for n in 1..MAX_TERMS {
        sum += term;
        let nf = n as f64;
        let ratio = (c - k + nf) * (a + nf - 1.0) / ((c + nf) * (nf + 1.0)) * z;
        term *= ratio;
        // Once the ratio is below 1 it only moves toward z, so the tail is a geometric one.
        let bound = ratio.abs().max(z);
        if bound < 1.0 && term.abs() <= SERIES_TOLERANCE * sum.abs() * (1.0 - bound) {
            converged = true;
            break;
        }
    }
    if !converged || !sum.is_finite() {
        return f64::NAN;
    }
    let am1 = a - 1.0;
    c * (-expm1_over(am1, ln_y) - (am1 * ln_y).exp() * sum)
}

#[cfg(test)]
// Reference values are printed to mpmath's 17 significant digits.
#[allow(clippy::excessive_precision)]
mod tests {
    use super::*;

    fn ln_hyp2f1_c_is_a_plus_1(a: f64, b: f64, z: f64) -> LnHyp2f1 {
        Hyp2f1Series::new(a, b).at(z)
    }

    fn close(got: f64, want: f64, rel: f64) -> bool {
        (got - want).abs() <= rel * want.abs().max(1e-300)
    }

    #[test]
    fn ln_gamma_and_digamma_match_known_values() {
        // Reference values from mpmath at 30 digits.
        let cases = [
            (1e-8, 18.420680738180209, -100000000.57721565),
            (0.243, 1.3180435846996698, -4.3510938644232106),
            (0.5, 0.57236494292470009, -1.9635100260214235),
            (1.0, 0.0, -0.57721566490153286),
            (2.426, 0.23400811688731612, 0.66620791496879618),
            (9.99, 12.779315214350193, 2.2507003728312011),
            (10.0, 12.80182748008147, 2.2517525890667211),
            (123.456, 469.60554712992947, 4.8118293238289854),
            (1e6, 12815504.569147612, 13.815510057964191),
        ];
        for (x, lg, psi) in cases {
            assert!(close(ln_gamma(x), lg, 1e-14) || (ln_gamma(x) - lg).abs() < 1e-14);
            assert!(
                close(digamma(x), psi, 1e-13),
                "digamma({x}) = {}",
                digamma(x)
            );
        }
        assert!(ln_gamma(0.0).is_nan() && digamma(-1.0).is_nan());
    }

    #[test]
    fn log_add_exp_with_share_handles_the_extremes() {
        let (value, share) = log_add_exp_with_share(1.0, 2.0);
        assert!(close(value, (1f64.exp() + 2f64.exp()).ln(), 1e-15));
        assert!(close(share, 2f64.exp() / (1f64.exp() + 2f64.exp()), 1e-15));
        let (value, share) = log_add_exp_with_share(2.0, 1.0);
        assert!(close(share, 1f64.exp() / (1f64.exp() + 2f64.exp()), 1e-15));
        assert!(close(value, (1f64.exp() + 2f64.exp()).ln(), 1e-15));
        assert_eq!(log_add_exp_with_share(-3.0, f64::NEG_INFINITY), (-3.0, 0.0));
        assert_eq!(log_add_exp_with_share(f64::NEG_INFINITY, -3.0), (-3.0, 1.0));
        // Far apart: no overflow, and the share of the small one does not round to 1 − 1.
        let (value, share) = log_add_exp_with_share(-800.0, 800.0);
        assert_eq!(value, 800.0);
        assert!(share == 1.0 && log_add_exp_with_share(800.0, -800.0).1 == 0.0);
        assert!(close(
            log_add_exp_with_share(0.0, -40.0).1,
            (-40f64).exp(),
            1e-15
        ));
    }

    #[test]
    fn a_hyp2f1_series_gives_the_same_values_in_any_order() {
        // The coefficients are made as far as the largest z needs, whichever z comes first.
        let zs = [0.1, 0.9, 0.0, 0.5, 0.99, 0.3];
        let mut shared = Hyp2f1Series::new(3.7, 1.6);
        for z in zs {
            let (got, want) = (shared.at(z), ln_hyp2f1_c_is_a_plus_1(3.7, 1.6, z));
            assert_eq!(
                (got.value, got.d_a, got.d_b, got.d_z),
                (want.value, want.d_a, want.d_b, want.d_z)
            );
        }
        assert!(
            shared.at(1.0).value.is_nan() && Hyp2f1Series::new(1.0, 2.5).at(0.5).value.is_nan()
        );
    }

    #[test]
    fn hyp2f1_matches_closed_forms() {
        // 2F1(1, 1; 2; z) = −ln(1−z)/z and 2F1(1/2, 1; 3/2; z) = atanh(√z)/√z.
        for z in [0.0, 1e-9, 0.1, 0.5, 0.9, 0.99] {
            let f = ln_hyp2f1_c_is_a_plus_1(1.0, 1.0, z).value.exp();
            let want = if z == 0.0 { 1.0 } else { -(-z).ln_1p() / z };
            assert!(close(f, want, 1e-14), "z={z}: {f} vs {want}");
            let f = ln_hyp2f1_c_is_a_plus_1(0.5, 1.0, z).value.exp();
            let want = if z == 0.0 {
                1.0
            } else {
                z.sqrt().atanh() / z.sqrt()
            };
            assert!(close(f, want, 1e-14), "z={z}: {f} vs {want}");
        }
    }

    #[test]
    fn hyp2f1_matches_mpmath() {
        // (a, b, z, ln 2F1(a, b; a+1; z)) from mpmath.hyp2f1 at 30 digits.
        let cases = [
            (2.159, 1.606, 0.0914, 0.10461053914383691),
            (0.8, 0.3, 0.5, 0.083015146576187745),
            (40.6, 38.55, 0.2, 8.3938786314488769),
            (150.2, 3.0, 0.95, 8.6891944797684045),
            (0.05, 1.01, 0.999, 0.30336890545739611),
        ];
        for (a, b, z, want) in cases {
            let got = ln_hyp2f1_c_is_a_plus_1(a, b, z).value;
            // At z = 0.999 the series has 40,000 terms, each adding its rounding.
            let tolerance = if z > 0.99 { 1e-12 } else { 1e-13 };
            assert!(
                close(got, want, tolerance),
                "({a}, {b}, {z}): {got} vs {want}"
            );
        }
    }

    #[test]
    fn hyp2f1_derivatives_match_finite_differences() {
        for (a, b, z) in [(2.159, 1.606, 0.0914), (40.6, 38.55, 0.2), (0.8, 0.3, 0.7)] {
            let f = ln_hyp2f1_c_is_a_plus_1(a, b, z);
            let h = 1e-6;
            let da = (ln_hyp2f1_c_is_a_plus_1(a + h, b, z).value
                - ln_hyp2f1_c_is_a_plus_1(a - h, b, z).value)
                / (2.0 * h);
            let db = (ln_hyp2f1_c_is_a_plus_1(a, b + h, z).value
                - ln_hyp2f1_c_is_a_plus_1(a, b - h, z).value)
                / (2.0 * h);
            let dz = (ln_hyp2f1_c_is_a_plus_1(a, b, z + h).value
                - ln_hyp2f1_c_is_a_plus_1(a, b, z - h).value)
                / (2.0 * h);
            assert!(
                (f.d_a - da).abs() < 1e-7 * (1.0 + da.abs()),
                "{} {}",
                f.d_a,
                da
            );
            assert!(
                (f.d_b - db).abs() < 1e-7 * (1.0 + db.abs()),
                "{} {}",
                f.d_b,
                db
            );
            assert!(
                (f.d_z - dz).abs() < 1e-7 * (1.0 + dz.abs()),
                "{} {}",
                f.d_z,
                dz
            );
        }
        // At z = 0: F = 1, and d ln F / dz = ab/c.
        let f = ln_hyp2f1_c_is_a_plus_1(2.0, 0.5, 0.0);
        assert_eq!((f.value, f.d_a, f.d_b), (0.0, 0.0, 0.0));
        assert!(close(f.d_z, 2.0 * 0.5 / 3.0, 1e-15));
    }

    #[test]
    fn bg_expected_factor_matches_mpmath() {
        // (k, B, a, y, C/(a−1)·[1 − y^k 2F1(k, B; C; 1−y)]) from mpmath at 30 digits; a = 1 is
        // the limit (mpmath at a = 1 + 1e−30, 60 digits).
        let cases = [
            (2.243, 4.426, 0.793, 0.5, 1.8423021043577381),
            (0.243, 2.426, 0.793, 0.9, 0.026556157545848649),
            (5.5, 12.3, 3.7, 0.05, 5.521297907940223),
            (1.2, 1.7, 1.0000001, 0.3, 1.591383396644189),
            (1.2, 1.7, 1.0, 0.3, 1.5913834527423624),
            (30.1, 31.2, 45.0, 0.6, 1.7089699212197814),
        ];
        for (k, big_b, a, y, want) in cases {
            let got = bg_expected_factor(k, big_b, a, f64::ln(y));
            assert!(
                close(got, want, 1e-13),
                "({k}, {big_b}, {a}, {y}): {got} vs {want}"
            );
        }
        assert_eq!(bg_expected_factor(2.0, 3.0, 0.5, 0.0), 0.0);
    }
}
