//! BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive a
//! customer buys at a Poisson rate λ ~ gamma(r, α); after each repeat purchase they drop out
//! with probability p ~ beta(a, b). Parameters [r, α, a, b].

use super::special::{bg_expected_factor, digamma, ln_gamma, log_add_exp};
use super::CountModel;

pub struct BgNbd {
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
    ln_alpha: f64,
    ln_gamma_r: f64,
    digamma_r: f64,
    /// ln Γ(a+b) − ln Γ(b), ψ(a+b), ψ(b).
    ln_gamma_ab_b: f64,
    digamma_ab: f64,
    digamma_b: f64,
}

impl BgNbd {
    pub fn new([r, alpha, a, b]: [f64; 4]) -> BgNbd {
        BgNbd {
            r,
            alpha,
            a,
            b,
            ln_alpha: alpha.ln(),
            ln_gamma_r: ln_gamma(r),
            digamma_r: digamma(r),
            ln_gamma_ab_b: ln_gamma(a + b) - ln_gamma(b),
            digamma_ab: digamma(a + b),
            digamma_b: digamma(b),
        }
    }

    /// ln of the odds of having dropped out after the last purchase, for x > 0.
    fn ln_odds_dead(&self, x: f64, t_x: f64, big_t: f64) -> f64 {
        (self.a / (self.b + x - 1.0)).ln()
            + (self.r + x) * ((self.alpha + big_t).ln() - (self.alpha + t_x).ln())
    }
}

impl CountModel for BgNbd {
    /// Equation (6) of the paper in logs: ln L = A1 + A2 + ln(e^A3 + [x>0] e^A4), with
    /// A1 = ln Γ(r+x) − ln Γ(r) + r ln α, A2 = ln B(a, b+x) − ln B(a, b),
    /// A3 = −(r+x) ln(α+T), A4 = ln a − ln(b+x−1) − (r+x) ln(α+t_x).
    fn log_likelihood(&self, x: f64, t_x: f64, big_t: f64) -> (f64, [f64; 4]) {
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let ln_at = (alpha + big_t).ln();
        if x == 0.0 {
            // A2 = 0 and no A4: (α / (α+T))^r, alive throughout.
            let value = r * (self.ln_alpha - ln_at);
            let gradient = [
                self.ln_alpha - ln_at,
                r / alpha - r / (alpha + big_t),
                0.0,
                0.0,
            ];
            return (value, gradient);
        }
        let rx = r + x;
        let (abx, bx) = (a + b + x, b + x);
        let a1 = ln_gamma(rx) - self.ln_gamma_r + r * self.ln_alpha;
        let a2 = self.ln_gamma_ab_b + ln_gamma(bx) - ln_gamma(abx);
        let ln_atx = (alpha + t_x).ln();
        let a3 = -rx * ln_at;
        let a4 = (a / (bx - 1.0)).ln() - rx * ln_atx;
        // Shares of the two histories (alive at T, dead after the last purchase) in L.
        let w4 = 1.0 / (1.0 + (a3 - a4).exp());
        let w3 = 1.0 - w4;
        let (psi_abx, psi_bx) = (digamma(abx), digamma(bx));
        let gradient = [
            digamma(rx) - self.digamma_r + self.ln_alpha - w3 * ln_at - w4 * ln_atx,
            r / alpha - rx * (w3 / (alpha + big_t) + w4 / (alpha + t_x)),
            self.digamma_ab - psi_abx + w4 / a,
            self.digamma_ab + psi_bx - self.digamma_b - psi_abx - w4 / (bx - 1.0),
        ];
        (a1 + a2 + log_add_exp(a3, a4), gradient)
    }

    /// 1 / (1 + a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)) for x > 0, else 1 (Fader, Hardie & Lee,
    /// "Computing P(alive) using the BG/NBD model", 2008).
    fn p_alive(&self, x: f64, t_x: f64, big_t: f64) -> f64 {
        if x == 0.0 {
            1.0
        } else {
            1.0 / (1.0 + self.ln_odds_dead(x, t_x, big_t).exp())
        }
    }

    /// Equation (10) of the paper: P(alive) times (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x)
    /// 2F1(r+x, b+x; a+b+x−1; t/(α+T+t))].
    fn expected(&self, horizons: &[f64], x: f64, t_x: f64, big_t: f64, out: &mut [f64]) {
        let alive = self.p_alive(x, t_x, big_t);
        for (e, &t) in out.iter_mut().zip(horizons) {
            let ln_y = -(t / (self.alpha + big_t)).ln_1p();
            *e = alive * bg_expected_factor(self.r + x, self.b + x, self.a, ln_y);
        }
    }
}
