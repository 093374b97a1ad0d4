//! Normalise a date or timestamp column to calendar days since 1970-01-01.
//!
//! A tz-aware timestamp counts on its *local* calendar day in its own zone (an order placed
//! at 23:30 in Shanghai is that day's order, whatever the UTC date). Naive timestamps count
//! as written.

use arrow_array::{cast::AsArray, types::*, Array, ArrayRef};
use arrow_buffer::ScalarBuffer;
use arrow_schema::{DataType, TimeUnit};
use chrono::{FixedOffset, Offset, TimeZone};
use rayon::prelude::*;

use crate::error::{CrmError, Result};

const CHUNK: usize = 1 << 16;
pub(crate) const SECONDS_PER_DAY: i64 = 86_400;

/// Calendar days of a column's rows, read without copying where the day is a plain
/// division of the stored value.
#[derive(Clone, Debug)]
pub enum Days {
    /// `date32`: the day itself.
    Date(ScalarBuffer<i32>),
    /// Naive timestamps or `date64`: `floor(value / ticks per day)`.
    Ticks {
        values: ScalarBuffer<i64>,
        unit: Tick,
    },
    /// Tz-aware timestamps, converted once to local calendar days.
    Local(ScalarBuffer<i32>),
}

impl Days {
    #[inline(always)]
    pub fn day(&self, i: usize) -> i32 {
        match self {
            Days::Date(d) | Days::Local(d) => d[i],
            Days::Ticks { values, unit } => unit.day(values[i]),
        }
    }

    /// The days of rows `start..end`: the column itself for dates, else converted into
    /// `buf` with the tick's divisor known to the compiler (a multiply, not a division).
    pub fn slice<'a>(&'a self, start: usize, end: usize, buf: &'a mut Vec<i32>) -> &'a [i32] {
        let (values, unit) = match self {
            Days::Date(d) | Days::Local(d) => return &d[start..end],
            Days::Ticks { values, unit } => (&values[start..end], *unit),
        };
        buf.clear();
        match unit {
            Tick::Second => buf.extend(values.iter().map(|&v| Tick::Second.day(v))),
            Tick::Milli => buf.extend(values.iter().map(|&v| Tick::Milli.day(v))),
            Tick::Micro => buf.extend(values.iter().map(|&v| Tick::Micro.day(v))),
            Tick::Nano => buf.extend(values.iter().map(|&v| Tick::Nano.day(v))),
        }
        buf
    }

    pub fn len(&self) -> usize {
        match self {
            Days::Date(d) | Days::Local(d) => d.len(),
            Days::Ticks { values, .. } => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The earliest and latest day (`None` when empty).
    pub fn range(&self) -> Option<(i32, i32)> {
        fn pick<T: Ord + Copy + Send + Sync>(values: &[T]) -> Option<(T, T)> {
            let both = |a: (T, T), b: (T, T)| (a.0.min(b.0), a.1.max(b.1));
            values
                .par_chunks(CHUNK)
                .map(|c| c.iter().fold((c[0], c[0]), |r, &v| both(r, (v, v))))
                .reduce_with(both)
        }
        match self {
            Days::Date(d) | Days::Local(d) => pick(d),
            Days::Ticks { values, unit } => pick(values).map(|(a, b)| (unit.day(a), unit.day(b))),
        }
    }
}

/// A timestamp unit, as a type the compiler can turn into constant divisions.
#[derive(Clone, Copy, Debug)]
pub enum Tick {
    Second,
    Milli,
    Micro,
    Nano,
}

impl Tick {
    fn per_second(self) -> i64 {
        match self {
            Tick::Second => 1,
            Tick::Milli => 1_000,
            Tick::Micro => 1_000_000,
            Tick::Nano => 1_000_000_000,
        }
    }

    /// The day of a tick count; callers have checked that it fits (`ticks`).
    #[inline(always)]
    pub fn day(self, v: i64) -> i32 {
        (match self {
            Tick::Second => v.div_euclid(SECONDS_PER_DAY),
            Tick::Milli => v.div_euclid(SECONDS_PER_DAY * 1_000),
            Tick::Micro => v.div_euclid(SECONDS_PER_DAY * 1_000_000),
            Tick::Nano => v.div_euclid(SECONDS_PER_DAY * 1_000_000_000),
        }) as i32
    }
}

/// The days of every row of `array`. `row_offset` is the global index of the array's first
/// row, for error messages.
pub fn day_numbers(array: &ArrayRef, column: &str, row_offset: usize) -> Result<Days> {
    match array.data_type() {
        DataType::Date32 => Ok(Days::Date(
            array.as_primitive::<Date32Type>().values().clone(),
        )),
        DataType::Date64 => ticks(
            array.as_primitive::<Date64Type>().values().clone(),
            Tick::Milli,
            column,
            row_offset,
        ),
        DataType::Timestamp(unit, tz) => {
            let tick = match unit {
                TimeUnit::Second => Tick::Second,
                TimeUnit::Millisecond => Tick::Milli,
                TimeUnit::Microsecond => Tick::Micro,
                TimeUnit::Nanosecond => Tick::Nano,
            };
            // Every timestamp unit shares the i64 layout: view the buffer without copying.
            let data = array.to_data();
            let raw =
                ScalarBuffer::<i64>::new(data.buffers()[0].clone(), data.offset(), data.len());
            match tz.as_deref() {
                None => ticks(raw, tick, column, row_offset),
                Some(name) => {
                    let zone = parse_zone(name, column)?;
                    Ok(Days::Local(local_days(
                        &raw,
                        tick.per_second(),
                        &zone,
                        column,
                        row_offset,
                    )?))
                }
            }
        }
        other => Err(not_a_time(column, other)),
    }
}

pub(crate) fn not_a_time(column: &str, dtype: &DataType) -> CrmError {
    CrmError::ColumnType {
        column: column.to_string(),
        dtype: crate::error::dtype_name(dtype),
        expected: "a date or timestamp (parse strings first, e.g. pd.to_datetime or \
                   pl.col(...).str.to_datetime)"
            .to_string(),
    }
}

/// Ticks whose every day fits in an i32 (checked once here, so `Tick::day` cannot overflow;
/// an i64 of microseconds or nanoseconds always fits, so only seconds and milliseconds pay
/// for the scan).
fn ticks(values: ScalarBuffer<i64>, unit: Tick, column: &str, row_offset: usize) -> Result<Days> {
    if matches!(unit, Tick::Second | Tick::Milli) {
        let per_day = unit.per_second() * SECONDS_PER_DAY;
        let fits = |v: i64| i32::try_from(v.div_euclid(per_day)).is_ok();
        if let Some(row) = values.par_iter().position_first(|&v| !fits(v)) {
            return Err(out_of_range(column, row_offset + row));
        }
    }
    Ok(Days::Ticks { values, unit })
}

pub(crate) fn out_of_range(column: &str, row: usize) -> CrmError {
    CrmError::InvalidData(format!(
        "column '{column}': row {row} is outside the supported date range"
    ))
}

#[derive(Clone, Debug)]
pub enum Zone {
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

pub(crate) fn parse_zone(name: &str, column: &str) -> Result<Zone> {
    if let Ok(tz) = name.parse::<chrono_tz::Tz>() {
        return Ok(Zone::Named(tz));
    }
    parse_fixed_offset(name)
        .map(Zone::Fixed)
        .ok_or_else(|| CrmError::ColumnType {
            column: column.to_string(),
            dtype: format!("timestamp with time zone '{name}'"),
            expected: "a time zone name (e.g. 'Asia/Shanghai') or a fixed offset ('+08:00')"
                .to_string(),
        })
}

fn parse_fixed_offset(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

impl Zone {
    /// Seconds to add to a UTC instant to get local wall-clock time.
    pub(crate) fn offset_seconds(&self, utc_seconds: i64) -> i64 {
        let Some(instant) = chrono::DateTime::from_timestamp(utc_seconds, 0) else {
            return 0;
        };
        let naive = instant.naive_utc();
        let offset = match self {
            Zone::Fixed(f) => f.offset_from_utc_datetime(&naive).fix(),
            Zone::Named(tz) => tz.offset_from_utc_datetime(&naive).fix(),
        };
        offset.local_minus_utc() as i64
    }
}

/// Zone offsets only change on quarter-hour instants, so one lookup per 15-minute UTC
/// bucket suffices; rows of an append log hit the same bucket over and over.
pub(crate) const OFFSET_BUCKET_SECONDS: i64 = 900;

fn local_days(
    values: &[i64],
    per_second: i64,
    zone: &Zone,
    column: &str,
    row_offset: usize,
) -> Result<ScalarBuffer<i32>> {
    let per_day = per_second * SECONDS_PER_DAY;
    let mut out = vec![0i32; values.len()];
    let first_bad = out
        .par_chunks_mut(CHUNK)
        .zip(values.par_chunks(CHUNK))
        .enumerate()
        .filter_map(|(chunk, (dst, src))| {
            let mut cached_bucket = i64::MIN;
            let mut cached_offset = 0i64;
            for (i, (d, &v)) in dst.iter_mut().zip(src).enumerate() {
                let seconds = v.div_euclid(per_second);
                let bucket = seconds.div_euclid(OFFSET_BUCKET_SECONDS);
                if bucket != cached_bucket {
                    cached_bucket = bucket;
                    cached_offset = zone.offset_seconds(seconds);
                }
                let local = v.saturating_add(cached_offset * per_second);
                match i32::try_from(local.div_euclid(per_day)) {
                    Ok(day) => *d = day,
                    Err(_) => return Some(chunk * CHUNK + i),
                }
            }
            None
        })
        .min();
    match first_bad {
        Some(row) => Err(out_of_range(column, row_offset + row)),
        None => Ok(ScalarBuffer::from(out)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Date32Array, TimestampMicrosecondArray, TimestampSecondArray};
    use std::sync::Arc;

    #[test]
    fn naive_timestamps_floor_to_days_including_before_1970() {
        let a: ArrayRef = Arc::new(TimestampSecondArray::from(vec![0, 86_399, 86_400, -1]));
        let days = day_numbers(&a, "d", 0).unwrap();
        assert!(matches!(days, Days::Ticks { .. }));
        assert_eq!(
            (0..4).map(|i| days.day(i)).collect::<Vec<_>>(),
            vec![0, 0, 1, -1]
        );
    }

    #[test]
    fn tz_aware_counts_on_local_day() {
        // 2024-01-01T20:00Z is 2024-01-02 04:00 in Shanghai.
        let utc = 1_704_139_200_i64 * 1_000_000;
        let a: ArrayRef =
            Arc::new(TimestampMicrosecondArray::from(vec![utc]).with_timezone("Asia/Shanghai"));
        let days = day_numbers(&a, "d", 0).unwrap();
        assert_eq!(days.day(0), 19_724); // 2024-01-02
        let fixed: ArrayRef =
            Arc::new(TimestampMicrosecondArray::from(vec![utc]).with_timezone("-05:00"));
        assert_eq!(day_numbers(&fixed, "d", 0).unwrap().day(0), 19_723);
    }

    #[test]
    fn dst_transition_uses_the_offset_in_force() {
        // New York: 2024-03-10 07:00Z is 03:00 EDT; 06:59Z is 01:59 EST; both 2024-03-10.
        let a: ArrayRef = Arc::new(
            TimestampSecondArray::from(vec![1_710_053_940, 1_710_054_000, 1_710_039_600 - 1])
                .with_timezone("America/New_York"),
        );
        let days = day_numbers(&a, "d", 0).unwrap();
        assert_eq!(
            (0..3).map(|i| days.day(i)).collect::<Vec<_>>(),
            vec![19_792, 19_792, 19_791]
        );
    }

    #[test]
    fn date32_is_zero_copy() {
        let a: ArrayRef = Arc::new(Date32Array::from(vec![5, 6]));
        let Days::Date(days) = day_numbers(&a, "d", 0).unwrap() else {
            panic!("date32 is read as is")
        };
        assert_eq!(
            days.as_ptr(),
            a.as_primitive::<Date32Type>().values().as_ptr()
        );
    }

    #[test]
    fn seconds_far_out_of_range_are_an_error_naming_the_row() {
        let a: ArrayRef = Arc::new(TimestampSecondArray::from(vec![0, i64::MAX / 2]));
        let err = day_numbers(&a, "d", 10).err().unwrap();
        assert_eq!(
            err,
            CrmError::InvalidData("column 'd': row 11 is outside the supported date range".into())
        );
    }

    #[test]
    fn strings_are_a_type_error_naming_the_column() {
        let a: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["2024-01-01"]));
        let err = day_numbers(&a, "order_date", 0).unwrap_err();
        assert!(matches!(err, CrmError::ColumnType { ref column, .. } if column == "order_date"));
    }
}
