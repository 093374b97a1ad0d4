//! BFGS with a strong-Wolfe line search (Nocedal & Wright, "Numerical Optimization", 2nd ed.,
//! algorithms 6.1, 3.5 and 3.6), for the few unconstrained parameters of a model. A point where
//! the objective is not finite counts as +∞: the line search backs away from it.

/// Sufficient decrease and curvature constants of the Wolfe conditions (the book's choice for
/// quasi-Newton methods).
const C1: f64 = 1e-4;
const C2: f64 = 0.9;
const MAX_LINE_SEARCH_STEPS: usize = 50;
/// Relative rounding error of an objective value: a sum over many customers.
const NOISE: f64 = 1e-13;

/// The objective: its value and gradient at a point.
pub type Objective<'a> = dyn FnMut(&[f64]) -> (f64, Vec<f64>) + 'a;

pub struct Settings {
    /// Stop once max |gradient| is at most this.
    pub gradient_tolerance: f64,
    pub max_iterations: usize,
    /// Longest move of any coordinate in one step: keeps a far first step from overflowing.
    pub max_step: f64,
}

pub struct Minimum {
    pub x: Vec<f64>,
    pub value: f64,
    pub gradient: Vec<f64>,
    pub iterations: usize,
    /// The last estimate of the inverse Hessian.
    pub inverse_hessian: Vec<Vec<f64>>,
}

pub fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

fn dot(u: &[f64], v: &[f64]) -> f64 {
    u.iter().zip(v).map(|(a, b)| a * b).sum()
}

fn identity(n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect()
}

/// Minimise `f`, which returns the value and gradient at a point, from `x0`, with
/// `inverse_hessian` as the first estimate of the inverse Hessian if given (else the identity,
/// scaled after the first step).
pub fn minimize(
    f: &mut Objective,
    x0: &[f64],
    inverse_hessian: Option<Vec<Vec<f64>>>,
    settings: &Settings,
) -> Minimum {
    let n = x0.len();
    let mut x = x0.to_vec();
    let (mut value, mut gradient) = f(&x);
    let mut fresh = inverse_hessian.is_none(); // the identity, not yet scaled
    let mut inverse_hessian = inverse_hessian.unwrap_or_else(|| identity(n));
    let mut iterations = 0;
    while value.is_finite()
        && iterations < settings.max_iterations
        && max_abs(&gradient) > settings.gradient_tolerance
    {
        let mut direction: Vec<f64> = inverse_hessian
            .iter()
            .map(|row| -dot(row, &gradient))
            .collect();
        if dot(&direction, &gradient) >= 0.0 {
            inverse_hessian = identity(n);
            fresh = true;
            direction = gradient.iter().map(|g| -g).collect();
        }
        let longest = settings.max_step / max_abs(&direction);
        let Some(step) = line_search(
            f,
            &x,
            value,
            &gradient,
            &direction,
            longest.min(1.0),
            longest,
        ) else {
            if fresh {
                break; // not even steepest descent makes progress: as good as it gets
            }
            inverse_hessian = identity(n);
            fresh = true;
            continue;
        };
        let s: Vec<f64> = direction.iter().map(|d| step.alpha * d).collect();
        let y: Vec<f64> = step
            .gradient
            .iter()
            .zip(&gradient)
            .map(|(a, b)| a - b)
            .collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&s, &s).sqrt() * dot(&y, &y).sqrt() {
            if fresh {
                // Scale the first guess to the curvature seen (Nocedal & Wright eq. 6.20).
                let scale = sy / dot(&y, &y);
                inverse_hessian.iter_mut().for_each(|row| {
                    row.iter_mut().for_each(|h| *h *= scale);
                });
                fresh = false;
            }
            bfgs_update(&mut inverse_hessian, &s, &y, sy);
        }
        x.iter_mut().zip(&s).for_each(|(xi, si)| *xi += si);
        value = step.value;
        gradient = step.gradient;
        iterations += 1;
    }
    Minimum {
        x,
        value,
        gradient,
        iterations,
        inverse_hessian,
    }
}

/// H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ with ρ = 1 / (yᵀ s).
fn bfgs_update(h: &mut [Vec<f64>], s: &[f64], y: &[f64], sy: f64) {
    let rho = 1.0 / sy;
    let hy: Vec<f64> = h.iter().map(|row| dot(row, y)).collect();
    let yhy = dot(y, &hy);
    for (i, row) in h.iter_mut().enumerate() {
        for (j, hij) in row.iter_mut().enumerate() {
            *hij += -rho * (s[i] * hy[j] + hy[i] * s[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
        }
    }
}

struct Step {
    alpha: f64,
    value: f64,
    gradient: Vec<f64>,
}

/// A point on the line x + α·d with its value and slope (the directional derivative).
struct Probe {
    alpha: f64,
    value: f64,
    slope: f64,
    gradient: Vec<f64>,
}

/// A step length satisfying the strong Wolfe conditions, or failing that one with sufficient
/// decrease; `None` when no step decreases the objective.
fn line_search(
    f: &mut Objective,
    x: &[f64],
    value0: f64,
    gradient0: &[f64],
    direction: &[f64],
    alpha_initial: f64,
    alpha_max: f64,
) -> Option<Step> {
    let slope0 = dot(gradient0, direction);
    let mut probe = |alpha: f64| {
        let point: Vec<f64> = x
            .iter()
            .zip(direction)
            .map(|(x, d)| x + alpha * d)
            .collect();
        let (value, gradient) = f(&point);
        let value = if value.is_finite() && gradient.iter().all(|g| g.is_finite()) {
            value
        } else {
            f64::INFINITY
        };
        Probe {
            alpha,
            value,
            slope: dot(&gradient, direction),
            gradient,
        }
    };
    // Near a minimum the decrease falls below the rounding of the objective itself; there the
    // approximate Wolfe condition of Hager & Zhang (2005) judges by the slope instead.
    let noise = NOISE * value0.abs();
    let sufficient = |p: &Probe| {
        p.value <= value0 + C1 * p.alpha * slope0
            || (p.value <= value0 + noise && p.slope <= (2.0 * C1 - 1.0) * slope0)
    };
    let curvature = |p: &Probe| p.slope.abs() <= -C2 * slope0;
    let start = Probe {
        alpha: 0.0,
        value: value0,
        slope: slope0,
        gradient: gradient0.to_vec(),
    };
    let mut previous = start;
    let mut alpha = alpha_initial;
    for i in 0..MAX_LINE_SEARCH_STEPS {
        let p = probe(alpha);
        if !sufficient(&p) || (i > 0 && p.value > previous.value + noise) {
            return zoom(&mut probe, previous, p, &sufficient, &curvature, noise);
        }
        if curvature(&p) {
            return Some(p.into());
        }
        if p.slope >= 0.0 {
            return zoom(&mut probe, p, previous, &sufficient, &curvature, noise);
        }
        if alpha >= alpha_max {
            return Some(p.into()); // decreasing all the way to the longest step allowed
        }
        previous = p;
        alpha = (2.0 * alpha).min(alpha_max);
    }
    (previous.alpha > 0.0).then(|| previous.into())
}

impl From<Probe> for Step {
    fn from(p: Probe) -> Step {
        Step {
            alpha: p.alpha,
            value: p.value,
            gradient: p.gradient,
        }
    }
}

/// Narrow [lo, hi] (lo: the best point so far with sufficient decrease) to a strong-Wolfe step.
fn zoom(
    probe: &mut dyn FnMut(f64) -> Probe,
    mut lo: Probe,
    mut hi: Probe,
    sufficient: &dyn Fn(&Probe) -> bool,
    curvature: &dyn Fn(&Probe) -> bool,
    noise: f64,
) -> Option<Step> {
    for _ in 0..MAX_LINE_SEARCH_STEPS {
        let p = probe(trial_step(&lo, &hi));
        if !sufficient(&p) || p.value > lo.value + noise {
            hi = p;
        } else {
            if curvature(&p) {
                return Some(p.into());
            }
            if p.slope * (hi.alpha - lo.alpha) >= 0.0 {
                hi = lo;
            }
            lo = p;
        }
        if (hi.alpha - lo.alpha).abs() <= 1e-14 * lo.alpha.abs().max(1e-300) {
            break;
        }
    }
    (lo.alpha > 0.0).then(|| lo.into())
}

/// The minimiser of the cubic through both ends (values and slopes), kept at least a tenth of
/// the interval away from either end; the midpoint when the cubic is unusable.
fn trial_step(lo: &Probe, hi: &Probe) -> f64 {
    let (a, b) = (lo.alpha, hi.alpha);
    let midpoint = 0.5 * (a + b);
    if !hi.value.is_finite() {
        return midpoint;
    }
    let d1 = lo.slope + hi.slope - 3.0 * (lo.value - hi.value) / (a - b);
    let discriminant = d1 * d1 - lo.slope * hi.slope;
    if discriminant < 0.0 {
        return midpoint;
    }
    let d2 = (b - a).signum() * discriminant.sqrt();
    let t = b - (b - a) * (hi.slope + d2 - d1) / (hi.slope - lo.slope + 2.0 * d2);
    let (low, high) = (a.min(b), a.max(b));
    let margin = 0.1 * (high - low);
    if t.is_finite() && t >= low + margin && t <= high - margin {
        t
    } else {
        midpoint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            gradient_tolerance: 1e-10,
            max_iterations: 500,
            max_step: 5.0,
        }
    }

    #[test]
    fn minimizes_rosenbrock() {
        let mut f = |x: &[f64]| {
            let (a, b) = (x[0], x[1]);
            let value = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
            let gradient = vec![
                -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
                200.0 * (b - a * a),
            ];
            (value, gradient)
        };
        let m = minimize(&mut f, &[-1.2, 1.0], None, &settings());
        assert!(
            (m.x[0] - 1.0).abs() < 1e-8 && (m.x[1] - 1.0).abs() < 1e-8,
            "{:?}",
            m.x
        );
        assert!(max_abs(&m.gradient) <= 1e-10 && m.iterations < 100);
    }

    #[test]
    fn backs_away_from_where_the_objective_is_undefined() {
        // ln is undefined below 0, where the first step from 5 (to −4.8) lands.
        let mut f = |x: &[f64]| {
            let value = if x[0] > 0.0 {
                10.0 * x[0] - x[0].ln()
            } else {
                f64::NAN
            };
            (value, vec![10.0 - 1.0 / x[0]])
        };
        let wide = Settings {
            max_step: 100.0,
            ..settings()
        };
        let m = minimize(&mut f, &[5.0], None, &wide);
        assert!((m.x[0] - 0.1).abs() < 1e-10, "{:?}", m.x);
    }
}
