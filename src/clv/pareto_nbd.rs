//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987): while alive a customer buys at a
//! Poisson rate λ ~ gamma(r, α); the lifetime is exponential with rate μ ~ gamma(s, β).
//! Parameters [r, α, s, β]. Formulas from Fader & Hardie, "A note on deriving the Pareto/NBD
//! model and related expressions" (2005), as lifetimes and BTYD implement them.

use super::special::{digamma, expm1_over, ln_gamma, ln_hyp2f1_c_is_a_plus_1, log_add_exp};
use super::CountModel;

pub struct ParetoNbd {
    r: f64,
    alpha: f64,
    s: f64,
    beta: f64,
    ln_alpha: f64,
    ln_beta: f64,
    ln_gamma_r: f64,
    digamma_r: f64,
    /// `ln_a0_part(0, 0)`, shared by every customer without repeat purchases.
    a0_part_at_start: Term,
}

/// A log-term of the likelihood with its gradient in [r, α, s, β].
type Term = (f64, [f64; 4]);

impl ParetoNbd {
    pub fn new([r, alpha, s, beta]: [f64; 4]) -> ParetoNbd {
        let mut model = ParetoNbd {
            r,
            alpha,
            s,
            beta,
            ln_alpha: alpha.ln(),
            ln_beta: beta.ln(),
            ln_gamma_r: ln_gamma(r),
            digamma_r: digamma(r),
            a0_part_at_start: (0.0, [0.0; 4]),
        };
        model.a0_part_at_start = model.ln_a0_part(0.0, 0.0);
        model
    }

    /// ln of the history's likelihood if alive throughout:
    /// B = −(r+x) ln(α+T) − s ln(β+T), without the factor the two cases share.
    fn alive_term(&self, x: f64, big_t: f64) -> Term {
        let (ln_at, ln_bt) = ((self.alpha + big_t).ln(), (self.beta + big_t).ln());
        let rx = self.r + x;
        let value = -rx * ln_at - self.s * ln_bt;
        let gradient = [
            -ln_at,
            -rx / (self.alpha + big_t),
            -ln_bt,
            -self.s / (self.beta + big_t),
        ];
        (value, gradient)
    }

    /// The same for having died between t_x and T: C = ln(s / (r+s+x)) + ln A0, with
    /// A0 = 2F1(r+s+x, b1; r+s+x+1; z(t_x)) / (m+t_x)^(r+s+x) − the same at T, where
    /// m = max(α, β), z(t) = |α−β| / (m+t) and b1 = s+1 if α ≥ β, else r+x (the note's
    /// two branches, which keep 0 ≤ z < 1). The difference is taken in logs.
    /// −∞ when t_x = T.
    fn dead_term(&self, x: f64, t_x: f64, big_t: f64) -> Term {
        let (r, s) = (self.r, self.s);
        let rsx = r + s + x;
        let (u1, g1) = if x == 0.0 && t_x == 0.0 {
            self.a0_part_at_start
        } else {
            self.ln_a0_part(x, t_x)
        };
        let (u2, g2) = self.ln_a0_part(x, big_t);
        let d = u2 - u1;
        if d.is_nan() {
            return (f64::NAN, [f64::NAN; 4]);
        }
        if d >= 0.0 {
            return (f64::NEG_INFINITY, [0.0; 4]);
        }
        // ln(e^u1 − e^u2) = u1 + ln(1 − e^d); its gradient weighs g1 and g2 accordingly.
        let ln_a0 = u1 + (-d.exp_m1()).ln();
        let k = d.exp() / -d.exp_m1();
        let mut gradient: [f64; 4] = std::array::from_fn(|j| g1[j] + k * (g1[j] - g2[j]));
        gradient[0] -= 1.0 / rsx;
        gradient[2] += 1.0 / s - 1.0 / rsx;
        ((s / rsx).ln() + ln_a0, gradient)
    }

    /// ln[2F1(r+s+x, b1; r+s+x+1; z(t)) / (m+t)^(r+s+x)] and its gradient.
    fn ln_a0_part(&self, x: f64, t: f64) -> Term {
        let (r, alpha, s, beta) = (self.r, self.alpha, self.s, self.beta);
        let rsx = r + s + x;
        let alpha_larger = alpha >= beta;
        let (m, other, b1) = if alpha_larger {
            (alpha, beta, s + 1.0)
        } else {
            (beta, alpha, r + x)
        };
        let mt = m + t;
        let ln_mt = mt.ln();
        let h = ln_hyp2f1_c_is_a_plus_1(rsx, b1, (m - other) / mt);
        // z = (m − other)/(m + t): ∂z/∂m = (other + t)/(m + t)², ∂z/∂other = −1/(m + t).
        let d_m = h.d_z * (other + t) / (mt * mt) - rsx / mt;
        let d_other = -h.d_z / mt;
        let mut gradient = [h.d_a - ln_mt, 0.0, h.d_a - ln_mt, 0.0];
        if alpha_larger {
            gradient[2] += h.d_b;
            gradient[1] += d_m;
            gradient[3] += d_other;
        } else {
            gradient[0] += h.d_b;
            gradient[3] += d_m;
            gradient[1] += d_other;
        }
        (h.value - rsx * ln_mt, gradient)
    }
}

impl CountModel for ParetoNbd {
    /// ln L = A1 + ln(e^B + e^C), A1 = ln Γ(r+x) − ln Γ(r) + r ln α + s ln β (the note's
    /// equation 18 in logs).
    fn log_likelihood(&self, x: f64, t_x: f64, big_t: f64) -> (f64, [f64; 4]) {
        let rx = self.r + x;
        // ln Γ(r+x) − ln Γ(r) and its r-derivative: 0 for the many customers with x = 0.
        let (ln_rising, d_ln_rising) = if x == 0.0 {
            (0.0, 0.0)
        } else {
            (ln_gamma(rx) - self.ln_gamma_r, digamma(rx) - self.digamma_r)
        };
        let a1 = ln_rising + self.r * self.ln_alpha + self.s * self.ln_beta;
        let d_a1 = [
            d_ln_rising + self.ln_alpha,
            self.r / self.alpha,
            self.ln_beta,
            self.s / self.beta,
        ];
        let (b, d_b) = self.alive_term(x, big_t);
        let (c, d_c) = self.dead_term(x, t_x, big_t);
        let w_c = if c == f64::NEG_INFINITY {
            0.0
        } else {
            1.0 / (1.0 + (b - c).exp())
        };
        let gradient = std::array::from_fn(|j| d_a1[j] + (1.0 - w_c) * d_b[j] + w_c * d_c[j]);
        (a1 + log_add_exp(b, c), gradient)
    }

    /// 1 / (1 + e^(C − B)) (the note's equation 36).
    fn p_alive(&self, x: f64, t_x: f64, big_t: f64) -> f64 {
        let (b, _) = self.alive_term(x, big_t);
        let (c, _) = self.dead_term(x, t_x, big_t);
        1.0 / (1.0 + (c - b).exp())
    }

    /// P(alive) · (r+x)(β+T) / ((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)] (the note's
    /// equation 41), with its limit at s = 1.
    fn expected(&self, horizons: &[f64], x: f64, t_x: f64, big_t: f64, out: &mut [f64]) {
        let rate =
            self.p_alive(x, t_x, big_t) * (self.r + x) * (self.beta + big_t) / (self.alpha + big_t);
        for (e, &t) in out.iter_mut().zip(horizons) {
            let ln_ratio = (t / (self.beta + big_t)).ln_1p();
            *e = rate * expm1_over(1.0 - self.s, ln_ratio);
        }
    }
}
