//! BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive a
//! customer buys at a Poisson rate λ ~ gamma(r, α); after each repeat purchase they drop out
//! with probability p ~ beta(a, b). Parameters [r, α, a, b].

use super::histories::Histories;
use super::special::{bg_expected_factor, digamma, ln_gamma, log_add_exp_with_share};
use super::CountModel;

pub struct BgNbd {
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
}

impl BgNbd {
    pub fn new([r, alpha, a, b]: [f64; 4]) -> BgNbd {
        BgNbd { r, alpha, a, b }
    }

    /// ln of the odds of having dropped out after the last purchase, for x > 0.
    fn ln_odds_dead(&self, x: f64, t_x: f64, big_t: f64) -> f64 {
        (self.a / (self.b + x - 1.0)).ln()
            + (self.r + x) * ((self.alpha + big_t).ln() - (self.alpha + t_x).ln())
    }
}

impl CountModel for BgNbd {
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

/// The log-likelihood of the BG/NBD, or of the MBG/NBD: the same formula with one more
/// chance to drop out, right after the first purchase. Equation (6) of the paper in logs:
/// ln L = A1 + A2 + ln(e^A3 + e^A4), with A1 = ln Γ(r+x) − ln Γ(r) + r ln α,
/// A2 = ln B(a, b+x+k) − ln B(a, b), A3 = −(r+x) ln(α+T) (alive at T) and
/// A4 = ln a − ln(b+x+k−1) − (r+x) ln(α+t_x) (dropped out after the last purchase), where
/// k = 1 for the MBG/NBD and 0 for the BG/NBD, which has no A4 at x = 0.
pub struct Likelihood {
    histories: Histories,
    modified: bool,
}

/// What the log-likelihood of a history needs of its x.
struct CountTerms {
    /// r + x.
    rx: f64,
    /// ln a − ln(b+x+k−1): −∞ where no dropout is possible.
    ln_dead_odds: f64,
    /// 1 / (b+x+k−1), or 0 where no dropout is possible.
    inv_b_x: f64,
    /// A1 − r ln α + A2, and its gradient.
    value: f64,
    gradient: [f64; 4],
}

impl Likelihood {
    pub fn new(histories: Histories, modified: bool) -> Likelihood {
        Likelihood {
            histories,
            modified,
        }
    }
}

impl super::Likelihood for Likelihood {
    fn at(&self, &[r, alpha, a, b]: &[f64; 4]) -> (f64, [f64; 4]) {
        let h = &self.histories;
        let k = if self.modified { 1.0 } else { 0.0 };
        let (ln_gamma_r, digamma_r) = (ln_gamma(r), digamma(r));
        let (ln_gamma_ab_b, digamma_ab, digamma_b) =
            (ln_gamma(a + b) - ln_gamma(b), digamma(a + b), digamma(b));
        let counts = h.per_count(|x| {
            let big_b = b + x + k;
            let (psi_big_b, psi_a_big_b) = (digamma(big_b), digamma(a + big_b));
            let dropout = x > 0.0 || self.modified;
            CountTerms {
                rx: r + x,
                ln_dead_odds: if dropout {
                    (a / (big_b - 1.0)).ln()
                } else {
                    f64::NEG_INFINITY
                },
                inv_b_x: if dropout { 1.0 / (big_b - 1.0) } else { 0.0 },
                value: ln_gamma(r + x) - ln_gamma_r + ln_gamma_ab_b + ln_gamma(big_b)
                    - ln_gamma(a + big_b),
                gradient: [
                    digamma(r + x) - digamma_r,
                    0.0,
                    digamma_ab - psi_a_big_b,
                    digamma_ab - digamma_b + psi_big_b - psi_a_big_b,
                ],
            }
        });
        let ages = h.per_age(|t| ((alpha + t).ln(), 1.0 / (alpha + t)));
        // ln(e^A3 + e^A4), with the share w4 of the dropped-out history.
        let (mix, d_mix) = h.sum(|_, row| {
            let c = &counts[row.x as usize];
            let (ln_at, inv_at) = ages[row.t as usize];
            let (ln_atx, inv_atx) = ages[row.t_x as usize];
            let (value, w4) = log_add_exp_with_share(-c.rx * ln_at, c.ln_dead_odds - c.rx * ln_atx);
            let w3 = 1.0 - w4;
            let gradient = [
                -(w3 * ln_at + w4 * ln_atx),
                -c.rx * (w3 * inv_at + w4 * inv_atx),
                w4,
                w4 * c.inv_b_x,
            ];
            (value, gradient)
        });
        let (by_count, d_by_count) = h.sum_by_count(|i| (counts[i].value, counts[i].gradient));
        let (w, ln_alpha) = (h.total_weight(), alpha.ln());
        let gradient = [
            d_by_count[0] + w * ln_alpha + d_mix[0],
            w * r / alpha + d_mix[1],
            d_by_count[2] + d_mix[2] / a,
            d_by_count[3] - d_mix[3],
        ];
        (by_count + w * r * ln_alpha + mix, gradient)
    }
}
