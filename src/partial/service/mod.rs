//! Partial states of the service logs (tickets, contacts, satisfaction scores): what each
//! function's result is derived from, condensed per part of a log, in a form that travels (an
//! Arrow record batch, versioned like the other partial states) and merges. Groups, customers,
//! departments and products travel as their values, so that equal values in two parts are one
//! group, customer, department or product after the merge.
//!
//! - "ticket_cells" (`tickets`' summary): per kind × `by` values (× period of opening) the
//!   tickets, the earliest opening among the open ones and every resolved ticket's time to
//!   resolve (the median and p90 are exact).
//! - "open_tickets" (`tickets`' open list): the open tickets' id, kind, `by` and opening.
//! - "contact_counts" (`contacts`): per customer, department, product and period, the contacts.
//! - "customer_scores" (`satisfaction`): per `by` values and customer, the scores' compensated
//!   sum and their count.
//!
//! A ticket state is cut at `as_of` when it is given; otherwise it holds the log as recorded
//! and its latest day, and the merged state is read at the latest day of all parts.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, DictionaryArray, Int32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use super::{check_kind, column, labels_coded_together, marker, not_partial};
use crate::error::{CrmError, Result};
use crate::ingest::named::concat_chunks;
use crate::ingest::Groups;
use crate::periods::Period;

pub const TICKET_CELLS: &str = "ticket_cells";
pub const OPEN_TICKETS: &str = "open_tickets";
pub const CONTACT_COUNTS: &str = "contact_counts";
pub const CUSTOMER_SCORES: &str = "customer_scores";
/// The kinds of this module, for callers that dispatch on a state's kind.
pub const KINDS: [&str; 4] = [TICKET_CELLS, OPEN_TICKETS, CONTACT_COUNTS, CUSTOMER_SCORES];

/// Schema metadata: how many group (label) columns a state has, where that varies.
const LABEL_COLUMNS_KEY: &str = "crm.label_columns";
/// The day a ticket state was cut at (absent: the log as recorded).
const AS_OF_KEY: &str = "crm.as_of";
/// The score column's name.
const SCORE_KEY: &str = "crm.score_column";
/// The period code ("W", "M", "Q", "Y") of a state by period.
const PERIOD_KEY: &str = "crm.period";

/// Named columns, one value per state row.
pub type Labels = Vec<(String, ArrayRef)>;

/// The rows of several parts in key order: `(key, part, row)`, rows with equal keys in part
/// order, so that merging the same parts in the same order gives the same bits.
fn in_key_order<K: Ord + Copy + Send>(keys: Vec<Vec<K>>) -> Vec<(K, u32, u32)> {
    let mut all: Vec<(K, u32, u32)> = keys
        .into_iter()
        .enumerate()
        .flat_map(|(p, ks)| {
            ks.into_iter()
                .enumerate()
                .map(move |(r, k)| (k, p as u32, r as u32))
        })
        .collect();
    all.par_sort_unstable();
    all
}

/// Per-row codes of label columns (the value combinations, sorting like the values) and
/// their `Groups`; all 0 and `None` without label columns.
pub fn label_codes(labels: &Labels, rows: usize) -> Result<(Vec<u32>, Option<Groups>)> {
    if rows == 0 && !labels.is_empty() {
        // No chunks rather than empty ones: the encoders read the values of a chunk.
        let names: Vec<String> = labels.iter().map(|l| l.0.clone()).collect();
        // The labels' value types, as coding them gives them.
        let value_type = |t: &DataType| match t {
            DataType::Dictionary(_, values) => values.as_ref().clone(),
            t => t.clone(),
        };
        let types: Vec<DataType> = labels.iter().map(|l| value_type(l.1.data_type())).collect();
        let groups = Groups::encode(&vec![vec![]; labels.len()], &names, &types)?;
        return Ok((vec![], Some(groups)));
    }
    match labels_coded_together(&[labels.as_slice()])? {
        None => Ok((vec![0; rows], None)),
        Some(mut groups) => {
            let codes = std::mem::take(&mut groups.codes).concat();
            Ok((codes, Some(groups)))
        }
    }
}

/// Label columns of the parts' rows, coded together: per part its rows' codes, and the
/// `Groups` that label them (`None` without label columns).
fn merged_label_codes(
    labels: &[&Labels],
    rows: &[usize],
) -> Result<(Vec<Vec<u32>>, Option<Groups>)> {
    let parts: Vec<&[(String, ArrayRef)]> = labels.iter().map(|l| l.as_slice()).collect();
    match labels_coded_together(&parts)? {
        None => Ok((rows.iter().map(|&n| vec![0; n]).collect(), None)),
        Some(mut groups) => Ok((std::mem::take(&mut groups.codes), Some(groups))),
    }
}

/// The labels of group codes (none without groups).
fn labels_of(groups: Option<&Groups>, codes: &[u32]) -> Result<Labels> {
    groups.map_or(Ok(vec![]), |g| g.labels(codes))
}

/// The labels of group codes as dictionary columns over the distinct groups' labels (none
/// without groups): many entries, few groups.
fn coded_labels(groups: Option<&Groups>, codes: &[u32]) -> Result<Labels> {
    let Some(groups) = groups else {
        return Ok(vec![]);
    };
    let mut distinct = codes.to_vec();
    distinct.par_sort_unstable();
    distinct.dedup();
    let keys: Vec<u32> = codes
        .par_iter()
        .map(|c| distinct.binary_search(c).unwrap_or_default() as u32)
        .collect();
    groups
        .labels(&distinct)?
        .into_iter()
        .map(|(name, values)| Ok((name, coded_column(keys.clone(), &values)?)))
        .collect()
}

/// Every part's labels carry the same column names.
fn same_labels(parts: &[&Labels]) -> bool {
    let names = |l: &Labels| l.iter().map(|c| c.0.clone()).collect::<Vec<_>>();
    parts.windows(2).all(|w| names(w[0]) == names(w[1]))
}

fn different_parameters() -> CrmError {
    CrmError::InvalidArgument(
        "partial states made with different columns, period or as_of cannot be merged".to_string(),
    )
}

fn metadata_value<T: std::str::FromStr>(schema: &Schema, key: &str) -> Result<Option<T>> {
    schema
        .metadata()
        .get(key)
        .map(|v| v.parse::<T>().map_err(|_| not_partial()))
        .transpose()
}

fn period_code(period: Period) -> &'static str {
    match period {
        Period::Week => "W",
        Period::Month => "M",
        Period::Quarter => "Q",
        Period::Year => "Y",
    }
}

/// A state's batch: `columns` under the marker of `kind`, with `metadata` entries.
fn state_batch(kind: &str, columns: Labels, metadata: Vec<(&str, String)>) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, c)| Field::new(name, c.data_type().clone(), true))
        .collect();
    let mut meta = marker(kind);
    meta.extend(metadata.into_iter().map(|(k, v)| (k.to_string(), v)));
    let schema = Schema::new(fields).with_metadata(meta);
    let arrays = columns.into_iter().map(|(_, c)| c).collect();
    Ok(RecordBatch::try_new(Arc::new(schema), arrays)?)
}

/// A state's columns read back: refuse another kind or version, or other columns than
/// `labels` leading ones (any names) followed by `fixed`.
fn read_columns(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    kind: &str,
    labels: usize,
    fixed: &[&str],
) -> Result<Labels> {
    check_kind(schema, kind)?;
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if names.len() != labels + fixed.len() || names[labels..] != *fixed {
        return Err(not_partial());
    }
    (0..names.len())
        .map(|i| Ok((names[i].to_string(), column(schema, batches, i)?)))
        .collect()
}

/// Column `name` of `columns`, which `read_columns` checked is there.
fn take_column(columns: &mut Labels, name: &str) -> ArrayRef {
    let i = columns
        .iter()
        .position(|c| c.0 == name)
        .expect("read_columns checked the column names");
    columns.remove(i).1
}

/// The values of an integer or float state column.
fn numbers<T: arrow_array::ArrowPrimitiveType>(column: &ArrayRef) -> Result<Vec<T::Native>> {
    let values = column.as_primitive_opt::<T>().ok_or_else(not_partial)?;
    Ok(values.values().to_vec())
}

/// Columns of several parts concatenated (a column's values brought to the first part's type
/// when another part has them in another string layout or integer width).
fn concat_parts(parts: &[&Labels]) -> Result<Labels> {
    let Some(first) = parts.first() else {
        return Ok(vec![]);
    };
    first
        .iter()
        .enumerate()
        .map(|(j, (name, column))| {
            let dtype = column.data_type();
            let chunks = parts
                .iter()
                .map(|p| {
                    let c = &p[j].1;
                    if c.data_type() == dtype {
                        Ok(c.clone())
                    } else {
                        Ok(arrow_cast::cast(c, dtype)?)
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((name.clone(), concat_chunks(&chunks, dtype, name)?))
        })
        .collect()
}

/// Values given by codes into `values`, as a dictionary column: a state's entries repeat few
/// departments, products or groups, which then travel and merge as codes.
fn coded_column(codes: Vec<u32>, values: &ArrayRef) -> Result<ArrayRef> {
    let keys = Int32Array::from_iter_values(codes.into_iter().map(|c| c as i32));
    Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
        keys,
        values.clone(),
    )?))
}

/// Refuse a state of a kind `merge_states` does not merge.
pub fn check_service_kind(schema: &Schema) -> Result<&str> {
    match crate::partial::kind_of(schema) {
        Some(kind) if KINDS.contains(&kind) => Ok(kind),
        Some(other) => Err(CrmError::InvalidArgument(format!(
            "a partial state of kind '{other}' where one of a service function is needed"
        ))),
        None => Err(not_partial()),
    }
}

/// The batch of the merged state of `parts` (tables of one service kind).
pub fn merge_states(parts: &[(SchemaRef, Vec<RecordBatch>)]) -> Result<RecordBatch> {
    let Some((schema, _)) = parts.first() else {
        return Err(CrmError::InvalidArgument(
            "no partial states to merge".into(),
        ));
    };
    let kind = check_service_kind(schema)?.to_string();
    fn read<T>(
        parts: &[(SchemaRef, Vec<RecordBatch>)],
        read: fn(&SchemaRef, &[RecordBatch]) -> Result<T>,
    ) -> Result<Vec<T>> {
        parts.iter().map(|(s, b)| read(s, b)).collect()
    }
    match kind.as_str() {
        TICKET_CELLS => TicketCells::merge(read(parts, TicketCells::from_batches)?)?.to_batch(),
        OPEN_TICKETS => OpenTickets::merge(read(parts, OpenTickets::from_batches)?)?.to_batch(),
        CONTACT_COUNTS => {
            ContactCounts::merge(read(parts, ContactCounts::from_batches)?)?.to_batch()
        }
        _ => CustomerScores::merge(read(parts, CustomerScores::from_batches)?)?.to_batch(),
    }
}

mod contacts;
mod satisfaction;
#[cfg(test)]
mod tests;
mod tickets;

pub use contacts::*;
pub use satisfaction::*;
pub use tickets::*;
