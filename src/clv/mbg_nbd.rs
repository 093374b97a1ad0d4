//! MBG/NBD (Batislam, Denizel & Filiztekin 2007): the BG/NBD where a customer may also drop
//! out right after the first purchase, so one without repeat purchases need not be alive.
//! Parameters [r, α, a, b]; formulas as lifetimes' ModifiedBetaGeoFitter.

use super::special::{bg_expected_factor, digamma, ln_gamma, log_add_exp};
use super::CountModel;

pub struct MbgNbd {
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

impl MbgNbd {
    pub fn new([r, alpha, a, b]: [f64; 4]) -> MbgNbd {
        MbgNbd {
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
}

impl MbgNbd {
    /// A2 = ln B(a, b+x+1) − ln B(a, b) and its derivatives in a and b; at x = 0 (most
    /// customers) that is ln(b / (a+b)).
    fn beta_ratio(&self, x: f64) -> (f64, f64, f64) {
        let (a, b) = (self.a, self.b);
        if x == 0.0 {
            let ab = a + b;
            return ((b / ab).ln(), -1.0 / ab, 1.0 / b - 1.0 / ab);
        }
        let (abx1, bx1) = (a + b + x + 1.0, b + x + 1.0);
        let psi_abx1 = digamma(abx1);
        (
            self.ln_gamma_ab_b + ln_gamma(bx1) - ln_gamma(abx1),
            self.digamma_ab - psi_abx1,
            self.digamma_ab + digamma(bx1) - self.digamma_b - psi_abx1,
        )
    }
}

impl CountModel for MbgNbd {
    /// ln L = A1 + A2 + ln(e^A3 + e^A4), with A1 = ln Γ(r+x) − ln Γ(r) + r ln α,
    /// A2 = ln B(a, b+x+1) − ln B(a, b), A3 = −(r+x) ln(α+T) (alive at T) and
    /// A4 = ln a − ln(b+x) − (r+x) ln(α+t_x) (dropped out after the last purchase).
    fn log_likelihood(&self, x: f64, t_x: f64, big_t: f64) -> (f64, [f64; 4]) {
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let rx = r + x;
        let (ln_rising, d_ln_rising) = if x == 0.0 {
            (0.0, 0.0)
        } else {
            (ln_gamma(rx) - self.ln_gamma_r, digamma(rx) - self.digamma_r)
        };
        let a1 = ln_rising + r * self.ln_alpha;
        let (a2, d_a2_a, d_a2_b) = self.beta_ratio(x);
        let (ln_at, ln_atx) = ((alpha + big_t).ln(), (alpha + t_x).ln());
        let a3 = -rx * ln_at;
        let a4 = (a / (b + x)).ln() - rx * ln_atx;
        let w4 = 1.0 / (1.0 + (a3 - a4).exp());
        let w3 = 1.0 - w4;
        let gradient = [
            d_ln_rising + self.ln_alpha - w3 * ln_at - w4 * ln_atx,
            r / alpha - rx * (w3 / (alpha + big_t) + w4 / (alpha + t_x)),
            d_a2_a + w4 / a,
            d_a2_b - w4 / (b + x),
        ];
        (a1 + a2 + log_add_exp(a3, a4), gradient)
    }

    /// 1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x)) (Batislam et al., appendix A, eq. 5).
    fn p_alive(&self, x: f64, t_x: f64, big_t: f64) -> f64 {
        let rx = self.r + x;
        let ln_odds = (self.a / (self.b + x)).ln()
            + rx * ((self.alpha + big_t).ln() - (self.alpha + t_x).ln());
        1.0 / (1.0 + ln_odds.exp())
    }

    /// P(alive) times (a+b+x)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x)
    /// 2F1(r+x, b+x+1; a+b+x; t/(α+T+t))] (Wagner & Hoppe 2008, as lifetimes).
    fn expected(&self, horizons: &[f64], x: f64, t_x: f64, big_t: f64, out: &mut [f64]) {
        let alive = self.p_alive(x, t_x, big_t);
        for (e, &t) in out.iter_mut().zip(horizons) {
            let ln_y = -(t / (self.alpha + big_t)).ln_1p();
            *e = alive * bg_expected_factor(self.r + x, self.b + x + 1.0, self.a, ln_y);
        }
    }
}
