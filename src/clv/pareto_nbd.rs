//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987): while alive a customer buys at a
//! Poisson rate λ ~ gamma(r, α); the lifetime is exponential with rate μ ~ gamma(s, β).
//! Parameters [r, α, s, β]. Formulas from Fader & Hardie, "A note on deriving the Pareto/NBD
//! model and related expressions" (2005), as lifetimes and BTYD implement them.

use std::ops::Range;

use rayon::prelude::*;

use super::histories::Histories;
use super::special::{digamma, expm1_over, ln_gamma, Hyp2f1Series};
use super::CountModel;

pub struct ParetoNbd {
    r: f64,
    alpha: f64,
    s: f64,
    beta: f64,
    /// `ln_a0_part(0, 0)`, shared by every customer without repeat purchases.
    a0_part_at_start: Term,
}

/// A log-term of the likelihood with its gradient in [r, α, s, β].
type Term = (f64, [f64; 4]);

/// What the terms of a history need of its x: r + x, and ln(s / (r+s+x)) with its
/// derivatives in r and s.
struct CountTerms {
    rx: f64,
    ln_s_rsx: f64,
    d_ln_s_rsx: [f64; 2],
}

/// What they need of an age t: ln(α+t), 1/(α+t), ln(β+t), 1/(β+t).
type AgeTerms = [f64; 4];

impl ParetoNbd {
    pub fn new([r, alpha, s, beta]: [f64; 4]) -> ParetoNbd {
        let mut model = ParetoNbd {
            r,
            alpha,
            s,
            beta,
            a0_part_at_start: (0.0, [0.0; 4]),
        };
        model.a0_part_at_start = model.ln_a0_part(0.0, 0.0);
        model
    }

    fn count_terms(&self, x: f64) -> CountTerms {
        let rsx = self.r + self.s + x;
        CountTerms {
            rx: self.r + x,
            ln_s_rsx: (self.s / rsx).ln(),
            d_ln_s_rsx: [-1.0 / rsx, 1.0 / self.s - 1.0 / rsx],
        }
    }

    fn age_terms(&self, t: f64) -> AgeTerms {
        let (at, bt) = (self.alpha + t, self.beta + t);
        [at.ln(), 1.0 / at, bt.ln(), 1.0 / bt]
    }

    /// ln of the history's likelihood if alive throughout:
    /// B = −(r+x) ln(α+T) − s ln(β+T), without the factor the two cases share.
    fn alive_term(&self, rx: f64, [ln_at, inv_at, ln_bt, inv_bt]: &AgeTerms) -> Term {
        let value = -rx * ln_at - self.s * ln_bt;
        (value, [-ln_at, -rx * inv_at, -ln_bt, -self.s * inv_bt])
    }

    /// ln(e^B + e^C), the history's likelihood without the factor A1, with its gradient and
    /// the share e^B / (e^B + e^C) of being alive. C is for having died between t_x and T:
    /// C = ln(s / (r+s+x)) + ln A0, with A0 = 2F1(r+s+x, b1; r+s+x+1; z(t_x)) / (m+t_x)^(r+s+x)
    /// − the same at T, where m = max(α, β), z(t) = |α−β| / (m+t) and b1 = s+1 if α ≥ β, else
    /// r+x (the note's two branches, which keep 0 ≤ z < 1). From the logs u1 and u2 of the two
    /// parts of A0 (`ln_a0_part` at t_x and at T) and d = u2 − u1 ≤ 0, the sum is
    /// e^C0 · (e^(B − C0) + 1 − e^d) with C0 = ln(s / (r+s+x)) + u1: two positive terms, so
    /// nothing cancels even when t_x is near T.
    fn mixture(
        &self,
        c: &CountTerms,
        (b, g_b): Term,
        (u1, g1): Term,
        (u2, g2): Term,
    ) -> (Term, f64) {
        let d = u2 - u1;
        if d.is_nan() {
            return ((f64::NAN, [f64::NAN; 4]), f64::NAN);
        }
        if d >= 0.0 {
            return ((b, g_b), 1.0); // t_x = T: no time to have died in
        }
        let dead = -d.exp_m1(); // 1 − e^d
        let c0 = c.ln_s_rsx + u1;
        // Both terms scaled by the larger of e^B and e^C0, so that neither overflows.
        let (base, alive, scale) = if b <= c0 {
            (c0, (b - c0).exp(), 1.0)
        } else {
            (b, 1.0, (c0 - b).exp())
        };
        let total = alive + scale * dead;
        let (w_b, w_c) = (alive / total, scale * dead / total);
        // w_c ∇C = w_c ∇ln(s / (r+s+x)) + (scale / total) (∇u1 − e^d ∇u2).
        let (k, e_d) = (scale / total, 1.0 - dead);
        let mut gradient: [f64; 4] =
            std::array::from_fn(|j| w_b * g_b[j] + k * (g1[j] - e_d * g2[j]));
        gradient[0] += w_c * c.d_ln_s_rsx[0];
        gradient[2] += w_c * c.d_ln_s_rsx[1];
        ((base + total.ln(), gradient), w_b)
    }

    /// The 2F1 of x's A0 parts: 2F1(r+s+x, b1; r+s+x+1; ·).
    fn a0_series(&self, x: f64) -> Hyp2f1Series {
        let b1 = if self.alpha >= self.beta {
            self.s + 1.0
        } else {
            self.r + x
        };
        Hyp2f1Series::new(self.r + self.s + x, b1)
    }

    fn ln_a0_part(&self, x: f64, t: f64) -> Term {
        self.a0_part(x, t, &mut self.a0_series(x))
    }

    /// ln[2F1(r+s+x, b1; r+s+x+1; z(t)) / (m+t)^(r+s+x)] and its gradient, `series` being
    /// x's `a0_series`.
    fn a0_part(&self, x: f64, t: f64, series: &mut Hyp2f1Series) -> Term {
        let (r, alpha, s, beta) = (self.r, self.alpha, self.s, self.beta);
        let rsx = r + s + x;
        let alpha_larger = alpha >= beta;
        let (m, other) = if alpha_larger {
            (alpha, beta)
        } else {
            (beta, alpha)
        };
        let mt = m + t;
        let ln_mt = mt.ln();
        let h = series.at((m - other) / mt);
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
    /// e^B / (e^B + e^C) (the note's equation 36).
    fn p_alive(&self, x: f64, t_x: f64, big_t: f64) -> f64 {
        let c = self.count_terms(x);
        let start = if x == 0.0 && t_x == 0.0 {
            self.a0_part_at_start
        } else {
            self.ln_a0_part(x, t_x)
        };
        let alive = self.alive_term(c.rx, &self.age_terms(big_t));
        self.mixture(&c, alive, start, self.ln_a0_part(x, big_t)).1
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

/// The log-likelihood: ln L = A1 + ln(e^B + e^C), A1 = ln Γ(r+x) − ln Γ(r) + r ln α + s ln β
/// (the note's equation 18 in logs). The A0 parts, each a 2F1 series, are the cost: they are
/// computed once per distinct (x, age) that a row needs, x by x so that the ages of an x share
/// the series' coefficients.
pub struct Likelihood {
    histories: Histories,
    /// Per x (an index into the counts) with rows, its range in `part_ages`.
    groups: Vec<(usize, Range<usize>)>,
    /// The ages (indices) an x needs its A0 part at, t_x and T alike, ascending within an x:
    /// so its largest z comes first and extends the series' coefficients once.
    part_ages: Vec<u32>,
    /// Each row's parts at t_x and at T: indices into `part_ages`.
    row_parts: Vec<[u32; 2]>,
}

impl Likelihood {
    pub fn new(histories: Histories) -> Likelihood {
        let mut groups = Vec::new();
        let mut part_ages: Vec<u32> = Vec::new();
        let mut row_parts = Vec::with_capacity(histories.rows.len());
        let mut slot = vec![0; histories.ages.len()];
        for rows in histories.rows.chunk_by(|u, v| u.x == v.x) {
            let mut ages: Vec<u32> = rows.iter().flat_map(|row| [row.t_x, row.t]).collect();
            ages.sort_unstable();
            ages.dedup();
            let first = part_ages.len();
            for (k, &age) in ages.iter().enumerate() {
                slot[age as usize] = (first + k) as u32;
            }
            part_ages.extend(ages);
            groups.push((rows[0].x as usize, first..part_ages.len()));
            row_parts.extend(
                rows.iter()
                    .map(|row| [slot[row.t_x as usize], slot[row.t as usize]]),
            );
        }
        Likelihood {
            histories,
            groups,
            part_ages,
            row_parts,
        }
    }
}

impl super::Likelihood for Likelihood {
    fn at(&self, p: &[f64; 4]) -> (f64, [f64; 4]) {
        let h = &self.histories;
        let model = &ParetoNbd::new(*p);
        let [r, alpha, s, beta] = *p;
        let parts: Vec<Term> = crate::pool::install(|| {
            self.groups
                .par_iter()
                .with_max_len(1) // an x's work varies with its number of ages
                .flat_map_iter(|(count, range)| {
                    let x = h.counts[*count];
                    let mut series = model.a0_series(x);
                    self.part_ages[range.clone()]
                        .iter()
                        .map(move |&age| model.a0_part(x, h.ages[age as usize], &mut series))
                })
                .collect()
        });
        let (ln_gamma_r, digamma_r) = (ln_gamma(r), digamma(r));
        let counts = h.per_count(|x| model.count_terms(x));
        let ages = h.per_age(|t| model.age_terms(t));
        let (mix, d_mix): Term = h.sum(|i, row| {
            let c = &counts[row.x as usize];
            let [start, end] = self.row_parts[i];
            let alive = model.alive_term(c.rx, &ages[row.t as usize]);
            model
                .mixture(c, alive, parts[start as usize], parts[end as usize])
                .0
        });
        // ln Γ(r+x) − ln Γ(r): 0 for the many customers with x = 0.
        let (rising, d_rising) = h.sum_by_count(|i| {
            let x = h.counts[i];
            if x == 0.0 {
                (0.0, [0.0])
            } else {
                (ln_gamma(r + x) - ln_gamma_r, [digamma(r + x) - digamma_r])
            }
        });
        let (w, ln_alpha, ln_beta) = (h.total_weight(), alpha.ln(), beta.ln());
        let gradient = [
            d_rising[0] + w * ln_alpha + d_mix[0],
            w * r / alpha + d_mix[1],
            w * ln_beta + d_mix[2],
            w * s / beta + d_mix[3],
        ];
        (rising + w * (r * ln_alpha + s * ln_beta) + mix, gradient)
    }
}
