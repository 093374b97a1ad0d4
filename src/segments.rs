//! Named segments from RFM scores: `rfm11`, `value8` (八类客户) and custom rule lists.
//! The tables and their rationale are in docs/rfm_definitions.md.

use rayon::prelude::*;

/// An inclusive score range per dimension; the first matching rule of a list wins.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub name: String,
    pub r: (u8, u8),
    pub f: (u8, u8),
    pub m: (u8, u8),
}

impl Rule {
    fn matches(&self, r: u8, f: u8, m: u8) -> bool {
        (self.r.0..=self.r.1).contains(&r)
            && (self.f.0..=self.f.1).contains(&f)
            && (self.m.0..=self.m.1).contains(&m)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Labels {
    En,
    Zh,
}

type Row = (&'static str, &'static str, (u8, u8), (u8, u8), (u8, u8));

/// The published 11-segment table, reordered and tightened so that each of the 125 codes
/// lands in exactly one segment and every segment is reachable (the usual first-match
/// reading of the published table never assigns 4 of the 11 names). Rules 5, 7 and 11 are
/// the catch-alls for R = 4-5, 3 and 1-2.
const RFM11: [Row; 11] = [
    ("Champions", "冠军客户", (4, 5), (4, 5), (4, 5)),
    ("Loyal Customers", "忠诚客户", (3, 5), (3, 5), (3, 5)),
    ("New Customers", "新客户", (5, 5), (1, 1), (1, 5)),
    ("Promising", "有潜力客户", (4, 4), (1, 1), (1, 5)),
    ("Potential Loyalist", "潜在忠诚客户", (4, 5), (1, 5), (1, 5)),
    ("About To Sleep", "即将沉睡客户", (2, 3), (1, 2), (1, 2)),
    ("Need Attention", "需要关注客户", (3, 3), (1, 5), (1, 5)),
    ("Can't Lose Them", "不能失去的客户", (1, 2), (4, 5), (4, 5)),
    ("Lost", "已流失客户", (1, 1), (1, 2), (1, 2)),
    ("At Risk", "有流失风险客户", (1, 2), (2, 5), (2, 5)),
    ("Hibernating", "休眠客户", (1, 2), (1, 5), (1, 5)),
];

pub fn rfm11_rules(labels: Labels) -> Vec<Rule> {
    RFM11
        .iter()
        .map(|&(en, zh, r, f, m)| Rule {
            name: pick(labels, en, zh).to_string(),
            r,
            f,
            m,
        })
        .collect()
}

fn pick(labels: Labels, en: &'static str, zh: &'static str) -> &'static str {
    match labels {
        Labels::En => en,
        Labels::Zh => zh,
    }
}

/// Index of the first matching rule per customer; `rules.len()` means "Other".
pub fn apply_rules(rules: &[Rule], r: &[u8], f: &[u8], m: &[u8]) -> Vec<u16> {
    (r, f, m)
        .into_par_iter()
        .map(|(&r, &f, &m)| {
            rules
                .iter()
                .position(|rule| rule.matches(r, f, m))
                .unwrap_or(rules.len()) as u16
        })
        .collect()
}

/// The eight value classes, in the order of `value8_labels`.
pub fn value8_labels(labels: Labels) -> Vec<String> {
    [
        ("Important Value", "重要价值客户"),
        ("Important Development", "重要发展客户"),
        ("Important Retention", "重要保持客户"),
        ("Important Win-back", "重要挽留客户"),
        ("General Value", "一般价值客户"),
        ("General Development", "一般发展客户"),
        ("General Retention", "一般保持客户"),
        ("General Win-back", "一般挽留客户"),
    ]
    .iter()
    .map(|&(en, zh)| pick(labels, en, zh).to_string())
    .collect()
}

/// The raw values `value8` compares with their means. `purchased[i]` false means customer i
/// has no recency; a NaN monetary is missing.
#[derive(Clone, Copy)]
pub struct RawRfm<'a> {
    pub recency: &'a [i32],
    pub purchased: &'a [bool],
    pub frequency: &'a [i32],
    pub monetary: &'a [f64],
}

/// High/low against the population mean of the raw values. R is high when the recency is at
/// most the mean (more recent than average); F and M when at least the mean. Missing values
/// are low and do not enter the means.
pub fn value8(raw: RawRfm<'_>) -> Vec<u16> {
    let present_recency = raw
        .recency
        .iter()
        .zip(raw.purchased)
        .filter(|(_, &p)| p)
        .map(|(&r, _)| r as f64);
    let mean_recency = mean(present_recency);
    let mean_frequency = mean(raw.frequency.iter().map(|&f| f as f64));
    let mean_monetary = mean(raw.monetary.iter().copied().filter(|m| !m.is_nan()));
    (raw.recency, raw.purchased, raw.frequency, raw.monetary)
        .into_par_iter()
        .map(|(&r, &p, &f, &m)| {
            let r_high = p && r as f64 <= mean_recency;
            let f_high = f as f64 >= mean_frequency;
            let m_high = m >= mean_monetary; // false for NaN
            (if m_high { 0 } else { 4 })
                + (if r_high { 0 } else { 2 })
                + (if f_high { 0 } else { 1 })
        })
        .collect()
}

/// A compensated mean in a fixed order, so it is the same for any thread count.
fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let mut sum = crate::summary::Sum::default();
    let mut n = 0usize;
    for v in values {
        sum.add(v);
        n += 1;
    }
    if n == 0 {
        f64::NAN
    } else {
        sum.value() / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_gets_one_of_the_eleven_and_all_eleven_occur() {
        let rules = rfm11_rules(Labels::En);
        let mut seen = [0usize; 11];
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    let hit = apply_rules(&rules, &[r], &[f], &[m])[0] as usize;
                    assert!(hit < 11, "{r}{f}{m} unassigned");
                    seen[hit] += 1;
                }
            }
        }
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
        assert_eq!(seen.iter().sum::<usize>(), 125);
    }

    #[test]
    fn examples_from_the_docs() {
        let rules = rfm11_rules(Labels::En);
        for (code, name) in [
            ((5, 5, 5), "Champions"),
            ((3, 3, 3), "Loyal Customers"),
            ((5, 1, 1), "New Customers"),
            ((4, 1, 1), "Promising"),
            ((4, 2, 2), "Potential Loyalist"),
            ((3, 1, 1), "About To Sleep"),
            ((3, 4, 1), "Need Attention"),
            ((1, 5, 5), "Can't Lose Them"),
            ((1, 1, 1), "Lost"),
            ((2, 3, 3), "At Risk"),
            ((2, 1, 5), "Hibernating"),
        ] {
            let hit = apply_rules(&rules, &[code.0], &[code.1], &[code.2])[0] as usize;
            assert_eq!(rules[hit].name, name);
        }
    }

    #[test]
    fn value8_cells() {
        let raw = RawRfm {
            recency: &[1, 100, 0, 1],
            purchased: &[true, true, false, true],
            frequency: &[10, 10, 1, 1],
            monetary: &[100.0, 100.0, 1.0, f64::NAN],
        };
        // means: recency 34, frequency 5.5, monetary 67
        assert_eq!(value8(raw), vec![0, 2, 7, 5]);
    }

    #[test]
    fn unmatched_custom_rules_are_other() {
        let rules = vec![Rule {
            name: "Top".into(),
            r: (5, 5),
            f: (1, 5),
            m: (1, 5),
        }];
        assert_eq!(apply_rules(&rules, &[5, 4], &[1, 1], &[1, 1]), vec![0, 1]);
    }
}
