//! Sub-day times of a date or timestamp column, for durations (hours to resolve a ticket).
//!
//! Beside `days` (calendar days only), each row gets its instant in microseconds since
//! 1970-01-01 — the UTC instant for tz-aware timestamps, so that a duration across a DST
//! change is the time that really passed; the value as written for naive timestamps; midnight
//! for dates — and its calendar day, counted like `days` does (a tz-aware time on its local
//! day). Null rows get 0 for both; callers read the column's validity themselves.

use arrow_array::{cast::AsArray, types::*, Array, ArrayRef};
use arrow_schema::{DataType, TimeUnit};
use rayon::prelude::*;

use super::days::{self, OFFSET_BUCKET_SECONDS, SECONDS_PER_DAY};
use crate::error::Result;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = SECONDS_PER_DAY * MICROS_PER_SECOND;
const CHUNK: usize = 1 << 16;

/// Instants and calendar days of every row of a column (all its chunks, in order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Instants {
    pub micros: Vec<i64>,
    pub days: Vec<i32>,
    /// Whether each row has a value (`None`: no nulls).
    pub valid: Option<Vec<bool>>,
}

impl Instants {
    pub fn is_valid(&self, row: usize) -> bool {
        self.valid.as_ref().is_none_or(|v| v[row])
    }
}

/// The instants of the chunks of column `column`.
pub fn instants(chunks: &[ArrayRef], column: &str) -> Result<Instants> {
    let mut out = Instants::default();
    let mut any_null = false;
    for chunk in chunks {
        let offset = out.micros.len();
        let (micros, days) = chunk_instants(chunk, column, offset)?;
        out.micros.extend(micros);
        out.days.extend(days);
        any_null |= chunk.null_count() > 0;
    }
    if any_null {
        out.valid = Some(
            chunks
                .iter()
                .flat_map(|c| (0..c.len()).map(move |i| c.is_valid(i)))
                .collect(),
        );
    }
    Ok(out)
}

fn chunk_instants(
    array: &ArrayRef,
    column: &str,
    row_offset: usize,
) -> Result<(Vec<i64>, Vec<i32>)> {
    let (per_second, zone) = match array.data_type() {
        DataType::Date32 => {
            let d = array.as_primitive::<Date32Type>().values();
            let micros = d.iter().map(|&d| d as i64 * MICROS_PER_DAY).collect();
            return Ok((micros, d.to_vec()));
        }
        DataType::Date64 => (1_000, None),
        DataType::Timestamp(unit, tz) => {
            let per_second = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            let zone = tz
                .as_deref()
                .map(|name| days::parse_zone(name, column))
                .transpose()?;
            (per_second, zone)
        }
        other => return Err(days::not_a_time(column, other)),
    };
    // Every timestamp unit (and date64) shares the i64 layout: view it without copying.
    let data = array.to_data();
    let raw = arrow_buffer::ScalarBuffer::<i64>::new(
        data.buffers()[0].clone(),
        data.offset(),
        data.len(),
    );
    let nulls = array.nulls();
    let n = raw.len();
    let mut micros = vec![0i64; n];
    let mut days = vec![0i32; n];
    let first_bad = micros
        .par_chunks_mut(CHUNK)
        .zip(days.par_chunks_mut(CHUNK))
        .enumerate()
        .filter_map(|(chunk, (micros, days))| {
            let start = chunk * CHUNK;
            let mut cached_bucket = i64::MIN;
            let mut cached_offset = 0i64;
            for (i, (m, d)) in micros.iter_mut().zip(days.iter_mut()).enumerate() {
                let row = start + i;
                if nulls.is_some_and(|n| n.is_null(row)) {
                    continue;
                }
                let Some(utc) = to_micros(raw[row], per_second) else {
                    return Some(row);
                };
                let local = match &zone {
                    None => utc,
                    Some(zone) => {
                        let seconds = utc.div_euclid(MICROS_PER_SECOND);
                        let bucket = seconds.div_euclid(OFFSET_BUCKET_SECONDS);
                        if bucket != cached_bucket {
                            cached_bucket = bucket;
                            cached_offset = zone.offset_seconds(seconds);
                        }
                        utc.saturating_add(cached_offset * MICROS_PER_SECOND)
                    }
                };
                *m = utc;
                // Any i64 of microseconds is within ±1.1e8 days: always an i32.
                *d = local.div_euclid(MICROS_PER_DAY) as i32;
            }
            None
        })
        .min();
    match first_bad {
        Some(row) => Err(days::out_of_range(column, row_offset + row)),
        None => Ok((micros, days)),
    }
}

/// A tick count as microseconds (`None` when it does not fit an i64).
fn to_micros(value: i64, per_second: i64) -> Option<i64> {
    if per_second <= MICROS_PER_SECOND {
        value.checked_mul(MICROS_PER_SECOND / per_second)
    } else {
        Some(value.div_euclid(per_second / MICROS_PER_SECOND))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Date32Array, TimestampNanosecondArray, TimestampSecondArray};
    use std::sync::Arc;

    const HOUR: i64 = 3_600 * MICROS_PER_SECOND;

    #[test]
    fn naive_seconds_and_nanoseconds_become_microseconds_and_days() {
        let a: ArrayRef = Arc::new(TimestampSecondArray::from(vec![
            Some(86_399),
            None,
            Some(-1),
        ]));
        let t = instants(&[a], "t").unwrap();
        assert_eq!(
            t.micros,
            vec![86_399 * MICROS_PER_SECOND, 0, -MICROS_PER_SECOND]
        );
        assert_eq!(t.days, vec![0, 0, -1]);
        assert_eq!(t.valid, Some(vec![true, false, true]));
        let ns: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![-1, 1_999]));
        assert_eq!(instants(&[ns], "t").unwrap().micros, vec![-1, 1]);
    }

    #[test]
    fn tz_aware_instants_are_utc_and_days_local() {
        // New York, 2024-03-10: 06:30Z is 01:30 EST, 07:30Z is 03:30 EDT: one hour apart.
        let a: ArrayRef = Arc::new(
            TimestampSecondArray::from(vec![1_710_052_200, 1_710_055_800])
                .with_timezone("America/New_York"),
        );
        let t = instants(&[a], "t").unwrap();
        assert_eq!(t.micros[1] - t.micros[0], HOUR);
        assert_eq!(t.days, vec![19_792, 19_792]);
        assert!(t.valid.is_none());
    }

    #[test]
    fn dates_are_midnight_and_chunks_concatenate() {
        let a: ArrayRef = Arc::new(Date32Array::from(vec![1]));
        let b: ArrayRef = Arc::new(Date32Array::from(vec![2]));
        let t = instants(&[a, b], "d").unwrap();
        assert_eq!(t.micros, vec![MICROS_PER_DAY, 2 * MICROS_PER_DAY]);
        assert_eq!(t.days, vec![1, 2]);
    }

    #[test]
    fn seconds_that_overflow_name_their_row_and_strings_are_a_type_error() {
        let a: ArrayRef = Arc::new(TimestampSecondArray::from(vec![0, i64::MAX / 2]));
        let err = instants(&[a.clone(), a], "opened").unwrap_err();
        assert_eq!(err, days::out_of_range("opened", 1));
        let s: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["x"]));
        assert!(matches!(
            instants(&[s], "opened").unwrap_err(),
            crate::error::CrmError::ColumnType { .. }
        ));
    }
}
