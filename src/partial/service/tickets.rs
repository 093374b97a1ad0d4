//! The ticket states: "ticket_cells" (`tickets`' summary) and "open_tickets" (its open list).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, Int64Array, LargeListArray, RecordBatch, UInt32Array};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::{
    concat_parts, different_parameters, in_key_order, label_codes, labels_of, merged_label_codes,
    metadata_value, numbers, period_code, read_columns, same_labels, state_batch, take_column,
    Labels, AS_OF_KEY, LABEL_COLUMNS_KEY, OPEN_TICKETS, PERIOD_KEY, TICKET_CELLS,
};
use crate::emit;
use crate::error::{CrmError, Result};
use crate::ingest::instants::Instants;
use crate::ingest::keys;
use crate::partial::{check_kind, not_partial, MAX_DAY_KEY};
use crate::periods::Period;
use crate::service::tickets::{self, Cells};

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
