//! MBG/NBD (Batislam, Denizel & Filiztekin 2007): the BG/NBD where a customer may also drop
//! out right after the first purchase, so one without repeat purchases need not be alive.
//! Parameters [r, α, a, b]; formulas as lifetimes' ModifiedBetaGeoFitter. The likelihood is
//! the BG/NBD's with that one more chance to drop out: `bg_nbd::Likelihood`.

use super::special::bg_expected_factor;
use super::CountModel;

pub struct MbgNbd {
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
}

impl MbgNbd {
    pub fn new([r, alpha, a, b]: [f64; 4]) -> MbgNbd {
        MbgNbd { r, alpha, a, b }
    }
}

impl CountModel for MbgNbd {
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
