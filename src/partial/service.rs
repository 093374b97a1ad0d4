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
use arrow_array::types::{Float64Type, Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{
    Array, ArrayRef, DictionaryArray, Float64Array, Int32Array, Int64Array, LargeListArray,
    RecordBatch, UInt32Array, UInt64Array,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use super::{check_kind, column, concat, labels_coded_together, marker, not_partial, MAX_DAY_KEY};
use crate::emit;
use crate::error::{CrmError, Result};
use crate::ingest::instants::Instants;
use crate::ingest::keys::{self, KeyIndex, SpanPerRow};
use crate::ingest::named::shared_customers;
use crate::ingest::Groups;
use crate::periods::{Calendar, Period};
use crate::service::contacts::Contacts;
use crate::service::satisfaction::CustomerScore;
use crate::service::tickets::{self, Cells};
use crate::summary::Sum;

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
            let column = match dtype {
                DataType::Dictionary(_, _) if chunks.len() > 1 => {
                    concat_dictionaries(&chunks, dtype, name)?
                }
                _ => concat(&chunks, dtype)?,
            };
            Ok((name.clone(), column))
        })
        .collect()
}

/// Dictionary (categorical) chunks as one column with one dictionary: the chunks' own when
/// they share it (as the partitions of one frame do), else the sorted union of their values.
/// Arrow's concatenation would repeat the values of each chunk's dictionary.
fn concat_dictionaries(chunks: &[ArrayRef], dtype: &DataType, name: &str) -> Result<ArrayRef> {
    let dictionaries: Vec<_> = chunks.iter().map(|c| c.as_any_dictionary()).collect();
    let first = dictionaries[0].values();
    let shared = dictionaries
        .iter()
        .all(|d| d.values().as_ref() == first.as_ref());
    // Per chunk, the merged code of each of its dictionary's values.
    let (values, codes): (ArrayRef, Vec<Vec<i32>>) = if shared {
        let identity = (0..first.len() as i32).collect::<Vec<_>>();
        (first.clone(), vec![identity; chunks.len()])
    } else {
        let all: Vec<ArrayRef> = dictionaries.iter().map(|d| d.values().clone()).collect();
        let (codes, uniques) = keys::encode(&all, name)?;
        let codes = codes
            .into_iter()
            .map(|c| c.into_iter().map(|k| k as i32).collect())
            .collect();
        (uniques, codes)
    };
    let mut keys = Vec::with_capacity(chunks.iter().map(|c| c.len()).sum());
    for ((chunk, dictionary), codes) in chunks.iter().zip(&dictionaries).zip(&codes) {
        if dictionary.values().is_empty() {
            keys.extend(std::iter::repeat_n(None, chunk.len()));
            continue;
        }
        let normalized = dictionary.normalized_keys();
        keys.extend((0..chunk.len()).map(|i| chunk.is_valid(i).then(|| codes[normalized[i]])));
    }
    let merged = DictionaryArray::<Int32Type>::try_new(Int32Array::from(keys), values)?;
    Ok(arrow_cast::cast(&merged, dtype)?)
}

// --------------------------------------------------------------------------------- tickets

/// Where a ticket state stands in time.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cut {
    /// The latest day of an opening or closing of the part (`None`: no rows).
    pub max_day: Option<i32>,
    /// The day the part was cut at, when `as_of` was given.
    pub as_of: Option<i32>,
}

impl Cut {
    /// The day the rows are classified at in a part: `as_of`, or every row as recorded.
    pub fn row_day(as_of: Option<i32>) -> i32 {
        as_of.unwrap_or(i32::MAX)
    }

    /// The day the result is read at: `as_of`, or the latest day of the log.
    pub fn result_day(&self) -> i32 {
        self.as_of.or(self.max_day).unwrap_or(0)
    }

    fn metadata(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![];
        if let Some(day) = self.max_day {
            out.push((MAX_DAY_KEY, day.to_string()));
        }
        if let Some(day) = self.as_of {
            out.push((AS_OF_KEY, day.to_string()));
        }
        out
    }

    fn read(schema: &Schema) -> Result<Cut> {
        Ok(Cut {
            max_day: metadata_value(schema, MAX_DAY_KEY)?,
            as_of: metadata_value(schema, AS_OF_KEY)?,
        })
    }

    fn merge(cuts: &[Cut]) -> Result<Cut> {
        let as_of = cuts.first().and_then(|c| c.as_of);
        if cuts.iter().any(|c| c.as_of != as_of) {
            return Err(different_parameters());
        }
        Ok(Cut {
            max_day: cuts.iter().filter_map(|c| c.max_day).max(),
            as_of,
        })
    }
}

const TICKET_COLUMNS: [&str; 3] = ["tickets", "oldest_open", "durations"];

/// The "ticket_cells" state: the summary's cells, each labelled by its kind and `by` values.
pub struct TicketCells {
    /// Per cell, the kind and `by` columns' values (in the types the summary gives them).
    pub labels: Labels,
    /// The cells; their group codes sort like the labels.
    pub cells: Cells,
    pub period: Option<Period>,
    pub cut: Cut,
}

impl TicketCells {
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let c = &self.cells;
        let mut columns = self.labels.clone();
        if let Some(periods) = &c.periods {
            columns.push(("period".into(), emit::int32s(periods.clone())));
        }
        let offsets = OffsetBuffer::new(c.starts.iter().map(|&s| s as i64).collect());
        let durations = LargeListArray::new(
            Arc::new(Field::new("item", DataType::Int64, false)),
            offsets,
            Arc::new(Int64Array::from(c.durations.clone())),
            None,
        );
        columns.extend([
            ("tickets".to_string(), emit::int64(c.tickets.clone())),
            (
                "oldest_open".to_string(),
                emit::int32(c.oldest_open.clone()),
            ),
            ("durations".to_string(), Arc::new(durations) as ArrayRef),
        ]);
        let mut metadata = self.cut.metadata();
        metadata.push((LABEL_COLUMNS_KEY, self.labels.len().to_string()));
        if let Some(p) = self.period {
            metadata.push((PERIOD_KEY, period_code(p).to_string()));
        }
        state_batch(TICKET_CELLS, columns, metadata)
    }

    pub fn from_batches(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Self> {
        check_kind(schema, TICKET_CELLS)?;
        let n_labels =
            metadata_value::<usize>(schema, LABEL_COLUMNS_KEY)?.ok_or_else(not_partial)?;
        let period = metadata_value::<String>(schema, PERIOD_KEY)?
            .map(|p| Period::parse(&p))
            .transpose()?;
        let mut fixed = vec![];
        if period.is_some() {
            fixed.push("period");
        }
        fixed.extend(TICKET_COLUMNS);
        let mut columns = read_columns(schema, batches, TICKET_CELLS, n_labels, &fixed)?;
        let durations = take_column(&mut columns, "durations");
        let durations = durations.as_list_opt::<i64>().ok_or_else(not_partial)?;
        let oldest_open = take_column(&mut columns, "oldest_open");
        let oldest_open = oldest_open
            .as_primitive_opt::<Int32Type>()
            .ok_or_else(not_partial)?;
        let tickets = numbers::<Int64Type>(&take_column(&mut columns, "tickets"))?;
        let periods = match period {
            Some(_) => Some(numbers::<Int32Type>(&take_column(&mut columns, "period"))?),
            None => None,
        };
        let (groups, _) = label_codes(&columns, tickets.len())?;
        let first = durations.offsets()[0];
        Ok(TicketCells {
            cells: Cells {
                groups,
                periods,
                tickets,
                oldest_open: oldest_open.iter().collect(),
                starts: durations
                    .offsets()
                    .iter()
                    .map(|&o| (o - first) as usize)
                    .collect(),
                durations: numbers::<Int64Type>(&durations.values().slice(
                    first as usize,
                    (durations.offsets().last().unwrap_or(&first) - first) as usize,
                ))?,
            },
            labels: columns,
            period,
            cut: Cut::read(schema)?,
        })
    }

    /// The cells of the union of the parts' rows, sorted by group then period: counts added,
    /// durations side by side (in part order), the earliest open day kept.
    pub fn merge(parts: Vec<TicketCells>) -> Result<TicketCells> {
        let Some(first) = parts.first() else {
            return Err(CrmError::InvalidArgument(
                "no partial states to merge".into(),
            ));
        };
        let period = first.period;
        let labels: Vec<&Labels> = parts.iter().map(|p| &p.labels).collect();
        if !same_labels(&labels) || parts.iter().any(|p| p.period != period) {
            return Err(different_parameters());
        }
        let cut = Cut::merge(&parts.iter().map(|p| p.cut).collect::<Vec<_>>())?;
        // Parts without cells (empty partitions) may carry their labels in the input's types.
        let mut parts = parts;
        if parts.iter().all(|p| p.cells.is_empty()) {
            parts.truncate(1);
            parts[0].cut = cut;
            return Ok(parts.remove(0));
        }
        parts.retain(|p| !p.cells.is_empty());
        let labels: Vec<&Labels> = parts.iter().map(|p| &p.labels).collect();
        let rows: Vec<usize> = parts.iter().map(|p| p.cells.len()).collect();
        let (codes, groups) = merged_label_codes(&labels, &rows)?;
        let keys = parts
            .iter()
            .zip(codes)
            .map(|(p, codes)| {
                let periods = p.cells.periods.as_ref();
                (0..p.cells.len())
                    .map(|c| (codes[c], periods.map_or(0, |ps| ps[c])))
                    .collect()
            })
            .collect();
        let order = in_key_order(keys);
        let mut cells = Cells {
            periods: period.map(|_| vec![]),
            starts: vec![0],
            ..Cells::default()
        };
        for run in order.chunk_by(|a, b| a.0 == b.0) {
            let (group, period_start) = run[0].0;
            cells.groups.push(group);
            if let Some(periods) = &mut cells.periods {
                periods.push(period_start);
            }
            let (mut tickets, mut oldest) = (0, None::<i32>);
            for &(_, p, c) in run {
                let part = &parts[p as usize].cells;
                let c = c as usize;
                tickets += part.tickets[c];
                oldest = match (oldest, part.oldest_open[c]) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let durations = &part.durations[part.starts[c]..part.starts[c + 1]];
                cells.durations.extend_from_slice(durations);
            }
            cells.tickets.push(tickets);
            cells.oldest_open.push(oldest);
            cells.starts.push(cells.durations.len());
        }
        let labels = labels_of(groups.as_ref(), &cells.groups)?;
        Ok(TicketCells {
            labels,
            cells,
            period,
            cut,
        })
    }
}

const OPEN_COLUMNS: [&str; 2] = ["opened_micros", "opened_day"];

/// The "open_tickets" state: the open tickets' id, kind, `by` values and opening, in the
/// input's types, with the opening's instant and day.
pub struct OpenTickets {
    /// The id column, the kind and `by` columns, the opening column.
    pub columns: Labels,
    pub opened: Instants,
    pub cut: Cut,
}

impl OpenTickets {
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let mut columns = self.columns.clone();
        columns.extend([
            (
                OPEN_COLUMNS[0].to_string(),
                emit::int64(self.opened.micros.clone()),
            ),
            (
                OPEN_COLUMNS[1].to_string(),
                emit::int32s(self.opened.days.clone()),
            ),
        ]);
        let mut metadata = self.cut.metadata();
        metadata.push((LABEL_COLUMNS_KEY, self.columns.len().to_string()));
        state_batch(OPEN_TICKETS, columns, metadata)
    }

    pub fn from_batches(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Self> {
        check_kind(schema, OPEN_TICKETS)?;
        let n = metadata_value::<usize>(schema, LABEL_COLUMNS_KEY)?.ok_or_else(not_partial)?;
        // The id, at least the kind, the opening.
        if n < 3 {
            return Err(not_partial());
        }
        let mut columns = read_columns(schema, batches, OPEN_TICKETS, n, &OPEN_COLUMNS)?;
        let days = numbers::<Int32Type>(&take_column(&mut columns, OPEN_COLUMNS[1]))?;
        let micros = numbers::<Int64Type>(&take_column(&mut columns, OPEN_COLUMNS[0]))?;
        Ok(OpenTickets {
            columns,
            opened: Instants {
                micros,
                days,
                valid: None,
            },
            cut: Cut::read(schema)?,
        })
    }

    /// The open tickets of all parts, in part order.
    pub fn merge(parts: Vec<OpenTickets>) -> Result<OpenTickets> {
        let columns: Vec<&Labels> = parts.iter().map(|p| &p.columns).collect();
        if !same_labels(&columns) {
            return Err(different_parameters());
        }
        let cut = Cut::merge(&parts.iter().map(|p| p.cut).collect::<Vec<_>>())?;
        let mut parts = parts;
        if parts.iter().all(|p| p.opened.micros.is_empty()) {
            parts.truncate(1);
            parts[0].cut = cut;
            return Ok(parts.remove(0));
        }
        parts.retain(|p| !p.opened.micros.is_empty());
        let columns: Vec<&Labels> = parts.iter().map(|p| &p.columns).collect();
        Ok(OpenTickets {
            columns: concat_parts(&columns)?,
            opened: Instants {
                micros: parts.iter().flat_map(|p| p.opened.micros.clone()).collect(),
                days: parts.iter().flat_map(|p| p.opened.days.clone()).collect(),
                valid: None,
            },
            cut,
        })
    }

    /// The open list at `as_of`: oldest first, ties by kind and `by` values, then id (then
    /// row order): the id, kind, `by` and opening columns, and `open_days`.
    pub fn oldest_first(self, as_of: i32) -> Result<RecordBatch> {
        let n = self.opened.micros.len();
        let group_columns: Labels = self.columns[1..self.columns.len() - 1].to_vec();
        let (groups, _) = label_codes(&group_columns, n)?;
        let ids = &self.columns[0].1;
        let ranks = if n == 0 {
            vec![]
        } else {
            keys::encode(std::slice::from_ref(ids), &self.columns[0].0)?
                .0
                .concat()
        };
        let all: Vec<u32> = (0..n as u32).collect();
        let (rows, ages) = tickets::oldest_first(&all, &groups, &self.opened, as_of, &ranks);
        let index = UInt32Array::from(rows);
        let mut columns = self
            .columns
            .into_iter()
            .map(|(name, c)| Ok((name, arrow_select::take::take(c.as_ref(), &index, None)?)))
            .collect::<Result<Labels>>()?;
        columns.push(("open_days".into(), emit::int32s(ages)));
        emit::batch(
            columns
                .iter()
                .map(|(n, a)| (n.as_str(), a.clone()))
                .collect(),
        )
    }
}

// -------------------------------------------------------------------------------- contacts

/// A contact log in codes, as read from its rows or from a state: what `contacts` derives
/// its tables from.
pub struct CodedContacts {
    pub index: KeyIndex,
    pub customers: Vec<u32>,
    pub departments: Vec<u32>,
    /// The departments' values, by code.
    pub department_names: ArrayRef,
    /// All 0 without a product column.
    pub products: Vec<u32>,
    pub product_names: Option<ArrayRef>,
    pub days: Vec<i32>,
    /// The contacts each row stands for (`None`: one each).
    pub contacts: Option<Vec<u32>>,
}

impl CodedContacts {
    pub fn log(&self) -> Contacts<'_> {
        Contacts {
            customers: &self.customers,
            departments: &self.departments,
            products: &self.products,
            n_products: self
                .product_names
                .as_ref()
                .map_or(1, |p| p.len().max(1) as u32),
            days: &self.days,
            contacts: self.contacts.as_deref(),
        }
    }

    /// The periods from the first day's to the last day's.
    pub fn calendar(&self, period: Period) -> Calendar {
        let (first, last) = (self.days.iter().min(), self.days.iter().max());
        Calendar::new(
            period,
            first.copied().unwrap_or(0),
            last.copied().unwrap_or(0),
        )
    }
}

const CONTACT_COLUMNS: [&str; 2] = ["period", "contacts"];

/// An entry of a merge of contact counts: customer, department and product codes, period
/// (first day), contacts.
type ContactEntry = (u32, u32, u32, i32, u32);

/// The "contact_counts" state: per customer, department, product (when grouped by product)
/// and period (its first day), the number of contacts.
pub struct ContactCounts {
    /// The customer key, the department and (when given) product columns: per entry, their
    /// values.
    pub columns: Labels,
    pub periods: Vec<i32>,
    pub contacts: Vec<u32>,
    pub period: Period,
}

impl ContactCounts {
    /// The contacts of a log condensed per customer, department, product and period.
    /// `names`: the customer, department and (when given) product column names.
    pub fn from_log(log: &CodedContacts, names: &[&str], period: Period) -> Result<Self> {
        let calendar = log.calendar(period);
        let mut entries: Vec<(u32, u32, u32, u32)> = (0..log.days.len())
            .into_par_iter()
            .map(|r| {
                let local = calendar.of(log.days[r]) as u32;
                (log.customers[r], log.departments[r], log.products[r], local)
            })
            .collect();
        entries.par_sort_unstable();
        let runs: Vec<&[(u32, u32, u32, u32)]> = entries.chunk_by(|a, b| a == b).collect();
        let contacts = runs.iter().map(|r| r.len() as u32).collect();
        let entry = |f: fn(&(u32, u32, u32, u32)) -> u32| -> Vec<u32> {
            runs.iter().map(|r| f(&r[0])).collect()
        };
        let mut columns = vec![
            (names[0].to_string(), log.index.keys(&entry(|e| e.0))?),
            (
                names[1].to_string(),
                coded_column(entry(|e| e.1), &log.department_names)?,
            ),
        ];
        if let (Some(name), Some(values)) = (names.get(2), &log.product_names) {
            columns.push((name.to_string(), coded_column(entry(|e| e.2), values)?));
        }
        let starts = calendar.starts();
        Ok(ContactCounts {
            columns,
            periods: runs.iter().map(|r| starts[r[0].3 as usize]).collect(),
            contacts,
            period,
        })
    }

    pub fn to_batch(&self) -> Result<RecordBatch> {
        let mut columns = self.columns.clone();
        columns.extend([
            ("period".to_string(), emit::int32s(self.periods.clone())),
            (
                "contacts".to_string(),
                Arc::new(UInt32Array::from(self.contacts.clone())) as ArrayRef,
            ),
        ]);
        let metadata = vec![
            (LABEL_COLUMNS_KEY, self.columns.len().to_string()),
            (PERIOD_KEY, period_code(self.period).to_string()),
        ];
        state_batch(CONTACT_COUNTS, columns, metadata)
    }

    pub fn from_batches(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Self> {
        check_kind(schema, CONTACT_COUNTS)?;
        let n = metadata_value::<usize>(schema, LABEL_COLUMNS_KEY)?.ok_or_else(not_partial)?;
        let period = metadata_value::<String>(schema, PERIOD_KEY)?.ok_or_else(not_partial)?;
        if !(2..=3).contains(&n) {
            return Err(not_partial());
        }
        let mut columns = read_columns(schema, batches, CONTACT_COUNTS, n, &CONTACT_COLUMNS)?;
        let contacts = numbers::<UInt32Type>(&take_column(&mut columns, "contacts"))?;
        let periods = numbers::<Int32Type>(&take_column(&mut columns, "period"))?;
        Ok(ContactCounts {
            columns,
            periods,
            contacts,
            period: Period::parse(&period)?,
        })
    }

    /// The counts of the union of the parts' rows, sorted by customer, department, product,
    /// period.
    pub fn merge(parts: Vec<ContactCounts>) -> Result<ContactCounts> {
        let Some(first) = parts.first() else {
            return Err(CrmError::InvalidArgument(
                "no partial states to merge".into(),
            ));
        };
        let period = first.period;
        let columns: Vec<&Labels> = parts.iter().map(|p| &p.columns).collect();
        if !same_labels(&columns) || parts.iter().any(|p| p.period != period) {
            return Err(different_parameters());
        }
        let mut parts = parts;
        if parts.iter().all(|p| p.contacts.is_empty()) {
            parts.truncate(1);
            return Ok(parts.remove(0));
        }
        parts.retain(|p| !p.contacts.is_empty());
        let columns: Vec<&Labels> = parts.iter().map(|p| &p.columns).collect();
        let all = concat_parts(&columns)?;
        let periods: Vec<i32> = parts.iter().flat_map(|p| p.periods.clone()).collect();
        let contacts: Vec<u32> = parts.iter().flat_map(|p| p.contacts.clone()).collect();
        let coded = coded_contacts(&all, periods, Some(contacts))?;
        let names: Vec<&str> = all.iter().map(|c| c.0.as_str()).collect();
        let mut entries: Vec<ContactEntry> = (0..coded.days.len())
            .into_par_iter()
            .map(|r| {
                let n = coded.contacts.as_ref().map_or(1, |c| c[r]);
                let (c, d, p) = (coded.customers[r], coded.departments[r], coded.products[r]);
                (c, d, p, coded.days[r], n)
            })
            .collect();
        entries.par_sort_unstable();
        let runs: Vec<&[ContactEntry]> = entries
            .chunk_by(|a, b| (a.0, a.1, a.2, a.3) == (b.0, b.1, b.2, b.3))
            .collect();
        let entry =
            |f: fn(&ContactEntry) -> u32| -> Vec<u32> { runs.iter().map(|r| f(&r[0])).collect() };
        let mut columns = vec![
            (names[0].to_string(), coded.index.keys(&entry(|e| e.0))?),
            (
                names[1].to_string(),
                coded_column(entry(|e| e.1), &coded.department_names)?,
            ),
        ];
        if let (Some(name), Some(values)) = (names.get(2), &coded.product_names) {
            columns.push((name.to_string(), coded_column(entry(|e| e.2), values)?));
        }
        Ok(ContactCounts {
            columns,
            periods: runs.iter().map(|r| r[0].3).collect(),
            contacts: runs.iter().map(|r| r.iter().map(|e| e.4).sum()).collect(),
            period,
        })
    }

    /// The state as a coded log whose rows are its entries, each standing for its contacts.
    pub fn into_coded(self) -> Result<CodedContacts> {
        coded_contacts(&self.columns, self.periods, Some(self.contacts))
    }
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

/// Codes of a contact log's columns (customer key, department, optional product).
fn coded_contacts(
    columns: &Labels,
    days: Vec<i32>,
    contacts: Option<Vec<u32>>,
) -> Result<CodedContacts> {
    let (customer, department) = (&columns[0], &columns[1]);
    let (index, mut customers) = shared_customers(
        &[(std::slice::from_ref(&customer.1), customer.0.as_str())],
        SpanPerRow::Double,
    )?;
    let codes = |(name, values): &(String, ArrayRef)| -> Result<(Vec<u32>, ArrayRef)> {
        if values.is_empty() {
            return Ok((vec![], values.slice(0, 0)));
        }
        let (codes, uniques) = keys::encode(std::slice::from_ref(values), name)?;
        Ok((codes.concat(), uniques))
    };
    let (departments, department_names) = codes(department)?;
    let (products, product_names) = match columns.get(2) {
        Some(product) => {
            let (codes, names) = codes(product)?;
            (codes, Some(names))
        }
        None => (vec![0; days.len()], None),
    };
    Ok(CodedContacts {
        index,
        customers: customers.remove(0),
        departments,
        department_names,
        products,
        product_names,
        days,
        contacts,
    })
}

// ---------------------------------------------------------------------------- satisfaction

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

/// Refuse a state of a kind `merge_states` does not merge.
pub fn check_service_kind(schema: &Schema) -> Result<&str> {
    match super::kind_of(schema) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::instants::Instants;
    use crate::service::{contacts, satisfaction};
    use arrow_array::{Int64Array, StringArray};
    use rand::{Rng, SeedableRng};

    const HOUR: i64 = 3_600_000_000;
    const DAY: i64 = 24 * HOUR;

    /// A state sent through its batch form, as it travels.
    fn travelled<T>(batch: RecordBatch, read: fn(&SchemaRef, &[RecordBatch]) -> Result<T>) -> T {
        read(&batch.schema(), &[batch]).unwrap()
    }

    fn coded(values: &[i64], name: &str) -> (Vec<u32>, Groups) {
        let column: ArrayRef = Arc::new(Int64Array::from(values.to_vec()));
        let mut groups =
            Groups::encode(&[vec![column]], &[name.to_string()], &[DataType::Int64]).unwrap();
        (std::mem::take(&mut groups.codes).concat(), groups)
    }

    /// Tickets of kinds 0..3: opening, and closing (None while open).
    type Ticket = (i64, i64, Option<i64>);

    fn instants(micros: impl Iterator<Item = Option<i64>>) -> Instants {
        let micros: Vec<Option<i64>> = micros.collect();
        Instants {
            micros: micros.iter().map(|m| m.unwrap_or(0)).collect(),
            days: micros
                .iter()
                .map(|m| m.unwrap_or(0).div_euclid(DAY) as i32)
                .collect(),
            valid: Some(micros.iter().map(Option::is_some).collect()),
        }
    }

    fn ticket_cells(rows: &[Ticket], period: Option<Period>, as_of: Option<i32>) -> TicketCells {
        let kinds: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let (codes, groups) = coded(&kinds, "kind");
        let (opened, closed) = (
            instants(rows.iter().map(|r| Some(r.1))),
            instants(rows.iter().map(|r| r.2)),
        );
        let times = tickets::Times {
            opened: &opened,
            closed: &closed,
        };
        let cells = tickets::cells(&codes, &times, period, Cut::row_day(as_of));
        let state = TicketCells {
            labels: groups.labels(&cells.groups).unwrap(),
            cells,
            period,
            cut: Cut {
                max_day: times.latest_day(),
                as_of,
            },
        };
        travelled(state.to_batch().unwrap(), TicketCells::from_batches)
    }

    fn random_tickets(rng: &mut rand::rngs::StdRng) -> Vec<Ticket> {
        (0..rng.random_range(1..400))
            .map(|_| {
                let opened = rng.random_range(0..90) * DAY + rng.random_range(0..24) * HOUR;
                let closed = rng
                    .random_bool(0.7)
                    .then(|| opened + rng.random_range(0..300) * HOUR);
                (rng.random_range(0..3), opened, closed)
            })
            .collect()
    }

    #[test]
    fn merged_ticket_cells_of_a_random_split_give_the_whole_logs_summary() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for round in 0..20 {
            let rows = random_tickets(&mut rng);
            let (left, right): (Vec<Ticket>, Vec<Ticket>) =
                rows.iter().partition(|_| rng.random_bool(0.5));
            let period = (round % 2 == 0).then_some(Period::Week);
            let as_of = (round % 3 == 0).then_some(40);
            let whole = ticket_cells(&rows, period, as_of);
            let parts = vec![
                ticket_cells(&left, period, as_of),
                ticket_cells(&[], period, as_of),
                ticket_cells(&right, period, as_of),
            ];
            let merged = TicketCells::merge(parts).unwrap();
            let merged = travelled(merged.to_batch().unwrap(), TicketCells::from_batches);
            assert_eq!(merged.cut, whole.cut);
            let day = whole.cut.result_day();
            let kinds =
                |s: &TicketCells| s.labels[0].1.as_primitive::<Int64Type>().values().to_vec();
            assert_eq!(kinds(&merged), kinds(&whole));
            // Exact: counts, quantiles of the same durations, integer sums for the mean.
            assert_eq!(merged.cells.summary(day), whole.cells.summary(day));
        }
    }

    #[test]
    fn ticket_states_cut_at_different_days_or_periods_do_not_merge() {
        let rows = [(0, DAY, None)];
        for other in [
            ticket_cells(&rows, None, Some(3)),
            ticket_cells(&rows, Some(Period::Month), None),
        ] {
            let parts = vec![ticket_cells(&rows, None, None), other];
            let err = TicketCells::merge(parts).err().unwrap();
            assert!(err.to_string().contains("cannot be merged"), "{err}");
        }
    }

    /// Contacts: customer, department, product, day.
    type Contact = (i64, i64, i64, i32);

    fn contact_log(rows: &[Contact]) -> CodedContacts {
        let column = |f: fn(&Contact) -> i64| -> ArrayRef {
            Arc::new(Int64Array::from(rows.iter().map(f).collect::<Vec<_>>()))
        };
        let labels: Labels = vec![
            ("customer".into(), column(|r| r.0)),
            ("department".into(), column(|r| r.1)),
            ("product".into(), column(|r| r.2)),
        ];
        coded_contacts(&labels, rows.iter().map(|r| r.3).collect(), None).unwrap()
    }

    fn contact_counts(rows: &[Contact]) -> ContactCounts {
        let names = ["customer", "department", "product"];
        let state = ContactCounts::from_log(&contact_log(rows), &names, Period::Week).unwrap();
        travelled(state.to_batch().unwrap(), ContactCounts::from_batches)
    }

    #[test]
    fn merged_contact_counts_of_a_random_split_give_the_whole_logs_tables() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for _ in 0..20 {
            let rows: Vec<Contact> = (0..rng.random_range(1..500))
                .map(|_| {
                    let customer = rng.random_range(0..40) * rng.random_range(1..3);
                    let day = rng.random_range(19_000..19_100);
                    (
                        customer,
                        rng.random_range(0..4),
                        rng.random_range(0..3),
                        day,
                    )
                })
                .collect();
            let (left, right): (Vec<Contact>, Vec<Contact>) =
                rows.iter().partition(|_| rng.random_bool(0.5));
            let merged =
                ContactCounts::merge(vec![contact_counts(&left), contact_counts(&right)]).unwrap();
            let merged = travelled(merged.to_batch().unwrap(), ContactCounts::from_batches);
            let condensed = merged.into_coded().unwrap();
            let whole = contact_log(&rows);
            // The condensed log's days are its periods' first days: the same periods.
            let calendar = whole.calendar(Period::Week);
            assert_eq!(condensed.calendar(Period::Week).starts(), calendar.starts());
            let summary =
                |c: &CodedContacts| contacts::summary(&c.log(), &c.calendar(Period::Week));
            assert_eq!(summary(&condensed), summary(&whole));
            for min in [1, 2, 3] {
                let fatigue = |c: &CodedContacts| {
                    let calendar = c.calendar(Period::Week);
                    contacts::fatigue(&c.log(), &calendar, c.index.n_codes, min)
                        .into_iter()
                        .map(|f| {
                            let key = c.index.keys(&[f.customer]).unwrap();
                            let key = key.as_primitive::<Int64Type>().value(0);
                            (key, f.period, f.contacts, f.departments)
                        })
                        .collect::<Vec<_>>()
                };
                assert_eq!(fatigue(&condensed), fatigue(&whole));
            }
        }
    }

    fn customer_scores(rows: &[(u32, &str, f64)]) -> CustomerScores {
        let groups: Vec<i64> = rows.iter().map(|r| r.0 as i64).collect();
        let (group_codes, groups) = coded(&groups, "region");
        let keys: ArrayRef = Arc::new(StringArray::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        ));
        let (index, codes) =
            shared_customers(&[(std::slice::from_ref(&keys), "c")], SpanPerRow::Half).unwrap();
        let values: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let scores = satisfaction::customer_scores(&group_codes, &codes[0], &values);
        let state = CustomerScores::new(&scores, Some(&groups), ("c", &index), "score").unwrap();
        travelled(state.to_batch().unwrap(), CustomerScores::from_batches)
    }

    fn ranked_keys(state: &CustomerScores) -> Vec<(u32, String, f64, u32)> {
        let (index, codes) = shared_customers(
            &[(std::slice::from_ref(&state.key.1), "c")],
            SpanPerRow::Half,
        )
        .unwrap();
        let (scores, _) = state.scores(&codes[0]).unwrap();
        let members = satisfaction::ranked(&scores, 0.3, true);
        let keys = index
            .keys(&members.iter().map(|m| m.customer).collect::<Vec<_>>())
            .unwrap();
        let keys = keys.as_string::<i32>();
        members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.group, keys.value(i).to_string(), m.score, m.rank))
            .collect()
    }

    #[test]
    fn merged_customer_scores_of_a_random_split_rank_like_the_whole_log() {
        let names: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for _ in 0..20 {
            let rows: Vec<(u32, &str, f64)> = (0..rng.random_range(1..300))
                .map(|_| {
                    let customer = &names[rng.random_range(0..30)];
                    let score = rng.random_range(1..=10) as f64 / 4.0;
                    (rng.random_range(0..3), customer.as_str(), score)
                })
                .collect();
            let (left, right): (Vec<_>, Vec<_>) = rows.iter().partition(|_| rng.random_bool(0.5));
            let merged =
                CustomerScores::merge(vec![customer_scores(&left), customer_scores(&right)])
                    .unwrap();
            let merged = travelled(merged.to_batch().unwrap(), CustomerScores::from_batches);
            let whole = customer_scores(&rows);
            assert_eq!(merged.counts, whole.counts);
            assert_eq!(ranked_keys(&merged), ranked_keys(&whole));
        }
    }

    #[test]
    fn a_service_state_of_another_kind_or_version_is_refused() {
        let batch = contact_counts(&[(1, 0, 0, 19_000)]).to_batch().unwrap();
        let err = TicketCells::from_batches(&batch.schema(), std::slice::from_ref(&batch))
            .err()
            .unwrap();
        assert!(err.to_string().contains("kind 'contact_counts'"), "{err}");
        let mut meta = batch.schema().metadata().clone();
        meta.insert(super::super::VERSION_KEY.into(), "3".into());
        let old = Arc::new(batch.schema().as_ref().clone().with_metadata(meta));
        let err = ContactCounts::from_batches(&old, &[]).err().unwrap();
        assert!(err.to_string().contains("version 3"), "{err}");
    }
}
