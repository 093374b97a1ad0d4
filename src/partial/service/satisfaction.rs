//! The "customer_scores" state (`satisfaction`).

use std::sync::Arc;

use arrow_array::types::{Float64Type, UInt64Type};
use arrow_array::{ArrayRef, Float64Array, RecordBatch, UInt64Array};
use arrow_schema::SchemaRef;
use rayon::prelude::*;

use super::{
    coded_labels, different_parameters, in_key_order, label_codes, merged_label_codes,
    metadata_value, numbers, read_columns, same_labels, state_batch, take_column, Labels,
    CUSTOMER_SCORES, LABEL_COLUMNS_KEY, SCORE_KEY,
};
use crate::error::{CrmError, Result};
use crate::ingest::keys::{KeyIndex, SpanPerRow};
use crate::ingest::named::shared_customers;
use crate::ingest::Groups;
use crate::partial::{check_kind, not_partial};
use crate::service::satisfaction::CustomerScore;
use crate::summary::Sum;

const SCORE_COLUMNS: [&str; 3] = ["score_hi", "score_lo", "scores"];

/// The "customer_scores" state: per `by` values and customer, the sum and count of scores.
pub struct CustomerScores {
    /// The `by` columns' values per entry (none without `by`).
    pub labels: Labels,
    /// The customer key column's name and each entry's key.
    pub key: (String, ArrayRef),
    /// The score column's name (the members table names the mean score after it).
    pub score: String,
    pub sums: Vec<Sum>,
    pub counts: Vec<u64>,
}

impl CustomerScores {
    /// The state of `scores` (sorted by group then customer), labelled by `groups` and keyed
    /// by `index`.
    pub fn new(
        scores: &[CustomerScore],
        groups: Option<&Groups>,
        (key_name, index): (&str, &KeyIndex),
        score: &str,
    ) -> Result<Self> {
        let field = |f: fn(&CustomerScore) -> u32| scores.iter().map(f).collect::<Vec<_>>();
        Ok(CustomerScores {
            labels: coded_labels(groups, &field(|s| s.group))?,
            key: (key_name.to_string(), index.keys(&field(|s| s.customer))?),
            score: score.to_string(),
            sums: scores.iter().map(|s| s.sum).collect(),
            counts: scores.iter().map(|s| s.count).collect(),
        })
    }

    pub fn to_batch(&self) -> Result<RecordBatch> {
        let mut columns = self.labels.clone();
        columns.push(self.key.clone());
        let part = |f: fn(&Sum) -> f64| -> ArrayRef {
            Arc::new(Float64Array::from_iter_values(self.sums.iter().map(f)))
        };
        columns.extend([
            (SCORE_COLUMNS[0].to_string(), part(|s| s.parts().0)),
            (SCORE_COLUMNS[1].to_string(), part(|s| s.parts().1)),
            (
                SCORE_COLUMNS[2].to_string(),
                Arc::new(UInt64Array::from(self.counts.clone())) as ArrayRef,
            ),
        ]);
        let metadata = vec![
            (LABEL_COLUMNS_KEY, (self.labels.len() + 1).to_string()),
            (SCORE_KEY, self.score.clone()),
        ];
        state_batch(CUSTOMER_SCORES, columns, metadata)
    }

    pub fn from_batches(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Self> {
        check_kind(schema, CUSTOMER_SCORES)?;
        let n = metadata_value::<usize>(schema, LABEL_COLUMNS_KEY)?.ok_or_else(not_partial)?;
        if n < 1 {
            return Err(not_partial());
        }
        let mut columns = read_columns(schema, batches, CUSTOMER_SCORES, n, &SCORE_COLUMNS)?;
        let counts = numbers::<UInt64Type>(&take_column(&mut columns, SCORE_COLUMNS[2]))?;
        let lo = numbers::<Float64Type>(&take_column(&mut columns, SCORE_COLUMNS[1]))?;
        let hi = numbers::<Float64Type>(&take_column(&mut columns, SCORE_COLUMNS[0]))?;
        let key = columns.pop().ok_or_else(not_partial)?;
        Ok(CustomerScores {
            labels: columns,
            key,
            score: metadata_value(schema, SCORE_KEY)?.ok_or_else(not_partial)?,
            sums: hi
                .iter()
                .zip(&lo)
                .map(|(&h, &l)| Sum::from_parts(h, l))
                .collect(),
            counts,
        })
    }

    /// The scores of the union of the parts' rows, sorted by group then customer; the sums
    /// of one group and customer are added in part order.
    pub fn merge(parts: Vec<CustomerScores>) -> Result<CustomerScores> {
        let Some(first) = parts.first() else {
            return Err(CrmError::InvalidArgument(
                "no partial states to merge".into(),
            ));
        };
        let labels: Vec<&Labels> = parts.iter().map(|p| &p.labels).collect();
        let key_name = first.key.0.clone();
        let same_names = |p: &CustomerScores| p.key.0 == key_name && p.score == first.score;
        if !same_labels(&labels) || !parts.iter().all(same_names) {
            return Err(different_parameters());
        }
        let score = first.score.clone();
        let mut parts = parts;
        if parts.iter().all(|p| p.counts.is_empty()) {
            parts.truncate(1);
            return Ok(parts.remove(0));
        }
        parts.retain(|p| !p.counts.is_empty());
        let labels: Vec<&Labels> = parts.iter().map(|p| &p.labels).collect();
        let rows: Vec<usize> = parts.iter().map(|p| p.counts.len()).collect();
        let (group_codes, groups) = merged_label_codes(&labels, &rows)?;
        let key_chunks: Vec<[ArrayRef; 1]> = parts.iter().map(|p| [p.key.1.clone()]).collect();
        let key_columns: Vec<(&[ArrayRef], &str)> = key_chunks
            .iter()
            .map(|k| (&k[..], key_name.as_str()))
            .collect();
        let (index, customer_codes) = shared_customers(&key_columns, SpanPerRow::Double)?;
        let keys = group_codes
            .into_iter()
            .zip(&customer_codes)
            .map(|(g, c)| g.into_iter().zip(c.iter().copied()).collect())
            .collect();
        let order = in_key_order(keys);
        let scores: Vec<CustomerScore> = order
            .chunk_by(|a, b| a.0 == b.0)
            .map(|run| {
                let (group, customer) = run[0].0;
                let mut sum = Sum::default();
                let mut count = 0;
                for &(_, p, r) in run {
                    let part = &parts[p as usize];
                    sum.merge(&part.sums[r as usize]);
                    count += part.counts[r as usize];
                }
                CustomerScore {
                    group,
                    customer,
                    sum,
                    count,
                }
            })
            .collect();
        CustomerScores::new(&scores, groups.as_ref(), (&key_name, &index), &score)
    }

    /// The customers' scores per group, with customer codes given by `customer_codes` (one
    /// per entry, sorting like the keys), sorted by group then customer; and the groups.
    pub fn scores(&self, customer_codes: &[u32]) -> Result<(Vec<CustomerScore>, Option<Groups>)> {
        let (group_codes, groups) = label_codes(&self.labels, self.counts.len())?;
        let mut scores: Vec<CustomerScore> = (0..self.counts.len())
            .map(|i| CustomerScore {
                group: group_codes[i],
                customer: customer_codes[i],
                sum: self.sums[i],
                count: self.counts[i],
            })
            .collect();
        scores.par_sort_unstable_by_key(|s| (s.group, s.customer));
        Ok((scores, groups))
    }
}
