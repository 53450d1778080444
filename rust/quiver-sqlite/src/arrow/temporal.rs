//! Dates, times and timestamps as ISO-8601 text, written without allocating (the hot
//! path of timestamp columns).

use std::fmt::Write as _;

use arrow_array::timezone::Tz;
use arrow_schema::TimeUnit;
use chrono::{NaiveTime, Offset, TimeZone};

use crate::arrow::text::InlineText;

#[derive(Debug, Clone, Copy)]
pub enum Temporal {
    Second,
    Milli,
    Micro,
    Nano,
}

impl From<&TimeUnit> for Temporal {
    fn from(unit: &TimeUnit) -> Self {
        match unit {
            TimeUnit::Second => Temporal::Second,
            TimeUnit::Millisecond => Temporal::Milli,
            TimeUnit::Microsecond => Temporal::Micro,
            TimeUnit::Nanosecond => Temporal::Nano,
        }
    }
}

impl Temporal {
    pub(crate) fn digits(self) -> usize {
        match self {
            Temporal::Second => 0,
            Temporal::Milli => 3,
            Temporal::Micro => 6,
            Temporal::Nano => 9,
        }
    }
}

pub(crate) fn write_fraction(out: &mut InlineText, nanos: u32, unit: Temporal) {
    let digits = unit.digits();
    if digits > 0 {
        out.push_ascii(b".");
        let mut scaled = nanos / 10u32.pow(9 - digits as u32);
        let mut buf = [b'0'; 9];
        for i in (0..digits).rev() {
            buf[i] = b'0' + (scaled % 10) as u8;
            scaled /= 10;
        }
        out.push_ascii(&buf[..digits]);
    }
}

/// (seconds, nanoseconds) of a count of `unit`s. One arm per unit, so every divisor is a
/// constant (a multiplication, not a 64-bit division per value).
pub(crate) fn split(value: i64, unit: Temporal) -> (i64, u32) {
    match unit {
        Temporal::Second => (value, 0),
        Temporal::Milli => (
            value.div_euclid(1_000),
            (value.rem_euclid(1_000) * 1_000_000) as u32,
        ),
        Temporal::Micro => (
            value.div_euclid(1_000_000),
            (value.rem_euclid(1_000_000) * 1_000) as u32,
        ),
        Temporal::Nano => (
            value.div_euclid(1_000_000_000),
            value.rem_euclid(1_000_000_000) as u32,
        ),
    }
}

/// 'YYYY-MM-DD HH:MM:SS[.fff]' in the column's unit, plus '+HH:MM' when it has a zone.
/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's civil_from_days).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub(crate) fn push2(out: &mut InlineText, v: u32) {
    out.push_ascii(&[b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8]);
}

/// 'YYYY-MM-DD' for years 0..=9999, else chrono's rendering (with a sign).
pub(crate) fn write_date(out: &mut InlineText, days: i64) -> Option<()> {
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        let y = y as u32;
        push2(out, y / 100);
        push2(out, y % 100);
        out.push_ascii(b"-");
        push2(out, m);
        out.push_ascii(b"-");
        push2(out, d);
    } else {
        let date =
            chrono::NaiveDate::from_num_days_from_ce_opt(i32::try_from(days + 719_163).ok()?)?;
        let _ = write!(out, "{}", date.format("%Y-%m-%d"));
    }
    Some(())
}

pub(crate) fn format_date(days: i64) -> Option<InlineText> {
    let mut out = InlineText::new();
    write_date(&mut out, days)?;
    Some(out)
}

/// "00" to "99": the two ASCII digits of every number below 100.
const DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut table = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        table[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    table
};

/// Two decimal digits of `v` (0..=99) at `buf[at..at + 2]`.
#[inline(always)]
pub(crate) fn put2(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 2].copy_from_slice(&DIGIT_PAIRS[(v % 100) as usize]);
}

/// Days since 1970-01-01 of 0000-01-01 and of 9999-12-31: the range of `civil_fast`.
const FAST_DAYS: std::ops::RangeInclusive<i64> = -719_528..=2_932_896;

/// (year, month, day) of a day count in `FAST_DAYS`, with 32-bit multiplications only
/// (Neri and Schneider, "Euclidean affine functions and their application to calendar
/// algorithms", 2022). Same results as `civil_from_days` on that range (tested).
#[inline(always)]
pub(crate) fn civil_fast(days: i64) -> (u32, u32, u32) {
    // Shift by 82 whole 400-year cycles so that every intermediate is unsigned.
    const CYCLES: u32 = 82;
    const SHIFT: u32 = 719_468 + 146_097 * CYCLES;
    let n = (days as i32 as u32).wrapping_add(SHIFT);
    let n1 = 4 * n + 3;
    let century = n1 / 146_097;
    let n2 = (n1 % 146_097) | 3;
    let p2 = 2_939_745u64 * u64::from(n2);
    let year_of_century = (p2 >> 32) as u32;
    let day_of_year = (p2 as u32) / 2_939_745 / 4;
    let n3 = 2_141 * day_of_year + 197_913;
    let month = n3 >> 16;
    let day = (n3 & 0xffff) / 2_141 + 1;
    let january_or_february = day_of_year >= 306;
    let year = 100 * century + year_of_century + u32::from(january_or_february) - 400 * CYCLES;
    let month = if january_or_february {
        month - 12
    } else {
        month
    };
    (year, month, day)
}

/// Local seconds since the epoch (UTC, or shifted into `tz`) -> 'YYYY-MM-DD HH:MM:SS[.f]'.
///
/// Years 0..=9999 are written in one go into a fixed template (the hot path of
/// timestamp columns); other years go through `write_date`.
pub(crate) fn write_local(
    out: &mut InlineText,
    secs: i64,
    nanos: u32,
    unit: Temporal,
) -> Option<()> {
    let days = secs.div_euclid(86_400);
    if FAST_DAYS.contains(&days) {
        let (y, m, d) = civil_fast(days);
        let sod = (secs - days * 86_400) as u32;
        // Written in place (no template copy: a wide load right after byte stores
        // stalls store forwarding).
        let start = out.len as usize;
        let b = out.buf.get_mut(start..start + 29)?;
        b[4] = b'-';
        b[7] = b'-';
        b[10] = b' ';
        b[13] = b':';
        b[16] = b':';
        b[19] = b'.';
        put2(b, 0, y / 100);
        put2(b, 2, y % 100);
        put2(b, 5, m);
        put2(b, 8, d);
        put2(b, 11, sod / 3600);
        put2(b, 14, sod / 60 % 60);
        put2(b, 17, sod % 60);
        let len = match unit {
            Temporal::Second => 19,
            Temporal::Milli => {
                let ms = nanos / 1_000_000;
                b[20] = b'0' + (ms / 100) as u8;
                put2(b, 21, ms % 100);
                23
            }
            Temporal::Micro => {
                let us = nanos / 1_000;
                put2(b, 20, us / 10_000);
                put2(b, 22, us / 100 % 100);
                put2(b, 24, us % 100);
                26
            }
            Temporal::Nano => {
                b[20] = b'0' + (nanos / 100_000_000) as u8;
                let rest = nanos % 100_000_000;
                put2(b, 21, rest / 1_000_000);
                put2(b, 23, rest / 10_000 % 100);
                put2(b, 25, rest / 100 % 100);
                put2(b, 27, rest % 100);
                29
            }
        };
        out.len = (start + len) as u8;
        return Some(());
    }
    write_date(out, days)?;
    let sod = secs.rem_euclid(86_400) as u32;
    out.push_ascii(b" ");
    push2(out, sod / 3600);
    out.push_ascii(b":");
    push2(out, sod / 60 % 60);
    out.push_ascii(b":");
    push2(out, sod % 60);
    write_fraction(out, nanos, unit);
    Some(())
}

/// 'YYYY-MM-DD HH:MM:SS[.fff]' in the column's unit, plus '+HH:MM' when it has a zone.
pub fn format_timestamp(value: i64, unit: Temporal, tz: Option<&Tz>) -> Option<InlineText> {
    let (secs, nanos) = split(value, unit);
    let mut out = InlineText::new();
    match tz {
        None => write_local(&mut out, secs, nanos, unit)?,
        Some(tz) => {
            let utc = chrono::DateTime::from_timestamp(secs, nanos)?.naive_utc();
            let offset = tz.offset_from_utc_datetime(&utc).fix();
            write_local(
                &mut out,
                secs + i64::from(offset.local_minus_utc()),
                nanos,
                unit,
            )?;
            let _ = write!(out, "{offset}");
        }
    }
    Some(out)
}

pub(crate) fn format_time(value: i64, unit: Temporal) -> Option<InlineText> {
    let (secs, nanos) = split(value, unit);
    let t = NaiveTime::from_num_seconds_from_midnight_opt(u32::try_from(secs).ok()?, nanos)?;
    let mut out = InlineText::new();
    let _ = write!(out, "{}", t.format("%H:%M:%S"));
    write_fraction(&mut out, nanos, unit);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_dates_match_chrono() {
        for days in (-800_000i64..3_000_000).step_by(997) {
            let expected = chrono::NaiveDate::from_num_days_from_ce_opt((days + 719_163) as i32)
                .map(|d| d.format("%Y-%m-%d").to_string());
            assert_eq!(
                format_date(days).map(|t| t.as_str().to_string()),
                expected,
                "{days}"
            );
        }
    }

    #[test]
    fn fast_timestamps_match_chrono() {
        let units = [
            (Temporal::Second, 1i64, "%Y-%m-%d %H:%M:%S"),
            (Temporal::Milli, 1_000, "%Y-%m-%d %H:%M:%S%.3f"),
            (Temporal::Micro, 1_000_000, "%Y-%m-%d %H:%M:%S%.6f"),
            (Temporal::Nano, 1_000_000_000, "%Y-%m-%d %H:%M:%S%.9f"),
        ];
        // Seconds from year -100 to 10100 (both sides of the fast path's 0..=9999).
        let mut secs = -65_000_000_000i64;
        while secs < 256_000_000_000 {
            for (unit, per, format) in units {
                let sub = (secs.rem_euclid(997) * 7_919) % per;
                let Some(value) = secs.checked_mul(per).map(|v| v + sub) else {
                    continue;
                };
                let expected = chrono::DateTime::from_timestamp(
                    value.div_euclid(per),
                    (value.rem_euclid(per) * (1_000_000_000 / per)) as u32,
                )
                .map(|t| t.naive_utc().format(format).to_string());
                assert_eq!(
                    format_timestamp(value, unit, None).map(|t| t.as_str().to_string()),
                    expected,
                    "{value} {unit:?}"
                );
            }
            secs += 86_400 * 3 + 3_671;
        }
    }

    #[test]
    fn timestamps() {
        let us = Temporal::Micro;
        assert_eq!(
            format_timestamp(0, us, None).as_deref(),
            Some("1970-01-01 00:00:00.000000")
        );
        assert_eq!(
            format_timestamp(-1, us, None).as_deref(),
            Some("1969-12-31 23:59:59.999999")
        );
        let tz: Tz = "+05:30".parse().unwrap();
        assert_eq!(
            format_timestamp(0, Temporal::Second, Some(&tz)).as_deref(),
            Some("1970-01-01 05:30:00+05:30")
        );
    }
}
