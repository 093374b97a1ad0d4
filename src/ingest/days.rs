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
const SECONDS_PER_DAY: i64 = 86_400;

/// Days since the epoch for every row of `array`; zero-copy for `date32`.
/// `row_offset` is the global index of the array's first row, for error messages.
pub fn day_numbers(array: &ArrayRef, column: &str, row_offset: usize) -> Result<ScalarBuffer<i32>> {
    match array.data_type() {
        DataType::Date32 => Ok(array.as_primitive::<Date32Type>().values().clone()),
        DataType::Date64 => convert(
            array.as_primitive::<Date64Type>().values(),
            1000,
            None,
            column,
            row_offset,
        ),
        DataType::Timestamp(unit, tz) => {
            let per_second = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            let zone = tz
                .as_deref()
                .map(|name| parse_zone(name, column))
                .transpose()?;
            // Every timestamp unit shares the i64 layout: view the buffer without copying.
            let data = array.to_data();
            let raw =
                ScalarBuffer::<i64>::new(data.buffers()[0].clone(), data.offset(), data.len());
            convert(&raw, per_second, zone.as_ref(), column, row_offset)
        }
        other => Err(CrmError::ColumnType {
            column: column.to_string(),
            dtype: crate::error::dtype_name(other),
            expected: "a date or timestamp (parse strings first, e.g. pd.to_datetime or \
                       pl.col(...).str.to_datetime)"
                .to_string(),
        }),
    }
}

#[derive(Clone)]
pub enum Zone {
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

fn parse_zone(name: &str, column: &str) -> Result<Zone> {
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
    fn offset_seconds(&self, utc_seconds: i64) -> i64 {
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
const OFFSET_BUCKET_SECONDS: i64 = 900;

fn convert(
    values: &[i64],
    per_second: i64,
    zone: Option<&Zone>,
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
                let local = match zone {
                    None => v,
                    Some(z) => {
                        let seconds = v.div_euclid(per_second);
                        let bucket = seconds.div_euclid(OFFSET_BUCKET_SECONDS);
                        if bucket != cached_bucket {
                            cached_bucket = bucket;
                            cached_offset = z.offset_seconds(seconds);
                        }
                        v.saturating_add(cached_offset * per_second)
                    }
                };
                match i32::try_from(local.div_euclid(per_day)) {
                    Ok(day) => *d = day,
                    Err(_) => return Some(chunk * CHUNK + i),
                }
            }
            None
        })
        .min();
    if let Some(row) = first_bad {
        return Err(CrmError::InvalidData(format!(
            "column '{column}': row {} is outside the supported date range",
            row_offset + row
        )));
    }
    Ok(ScalarBuffer::from(out))
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
        assert_eq!(&days[..], &[0, 0, 1, -1]);
    }

    #[test]
    fn tz_aware_counts_on_local_day() {
        // 2024-01-01T20:00Z is 2024-01-02 04:00 in Shanghai.
        let utc = 1_704_139_200_i64 * 1_000_000;
        let a: ArrayRef =
            Arc::new(TimestampMicrosecondArray::from(vec![utc]).with_timezone("Asia/Shanghai"));
        let days = day_numbers(&a, "d", 0).unwrap();
        assert_eq!(days[0], 19_724); // 2024-01-02
        let fixed: ArrayRef =
            Arc::new(TimestampMicrosecondArray::from(vec![utc]).with_timezone("-05:00"));
        assert_eq!(day_numbers(&fixed, "d", 0).unwrap()[0], 19_723);
    }

    #[test]
    fn dst_transition_uses_the_offset_in_force() {
        // New York: 2024-03-10 07:00Z is 03:00 EDT; 06:59Z is 01:59 EST; both 2024-03-10.
        let a: ArrayRef = Arc::new(
            TimestampSecondArray::from(vec![1_710_053_940, 1_710_054_000, 1_710_039_600 - 1])
                .with_timezone("America/New_York"),
        );
        let days = day_numbers(&a, "d", 0).unwrap();
        assert_eq!(&days[..], &[19_792, 19_792, 19_791]);
    }

    #[test]
    fn date32_is_zero_copy() {
        let a: ArrayRef = Arc::new(Date32Array::from(vec![5, 6]));
        let days = day_numbers(&a, "d", 0).unwrap();
        assert_eq!(
            days.as_ptr(),
            a.as_primitive::<Date32Type>().values().as_ptr()
        );
    }

    #[test]
    fn strings_are_a_type_error_naming_the_column() {
        let a: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["2024-01-01"]));
        let err = day_numbers(&a, "order_date", 0).unwrap_err();
        assert!(matches!(err, CrmError::ColumnType { ref column, .. } if column == "order_date"));
    }
}
