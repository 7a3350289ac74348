//! The one duration grammar of `idle`, shared by the `#[idle_server]` attribute
//! (checked at compile time) and the `IDLE_TIMEOUT` / `IDLE_GRACE` environment
//! overrides (checked at run time), so the two can never drift apart.
//!
//! A duration is one or more `<integer><unit>` groups with no spaces, units
//! from largest to smallest, each unit at most once:
//!
//! | unit | meaning      |
//! |------|--------------|
//! | `h`  | hours        |
//! | `m`  | minutes      |
//! | `s`  | seconds      |
//! | `ms` | milliseconds |
//!
//! `"500ms"`, `"30s"`, `"1m30s"` and `"2h"` are durations; `""`, `"30"`,
//! `"1.5s"`, `"30sec"`, `"30s1m"`, `" 30s"` and `"0s"` are not. The grammar is
//! deliberately smaller than [humantime]'s: what the attribute accepts, the
//! environment accepts, and [`format()`] prints, nothing more.
//!
//! ```
//! use std::time::Duration;
//!
//! assert_eq!(idle_duration::parse("1m30s"), Ok(Duration::from_secs(90)));
//! assert_eq!(idle_duration::format(Duration::from_millis(90_500)).to_string(), "1m30s500ms");
//! assert!(idle_duration::parse("0s").is_err());
//! ```
//!
//! [humantime]: https://docs.rs/humantime

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::time::Duration;

/// What a duration string must look like, for error messages.
pub const EXPECTED: &str = "a duration such as \"500ms\", \"30s\", \"1m30s\" or \"2h\"";

/// The units, largest first, with their length in milliseconds.
const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// Why a string is not a duration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DurationError {
    /// The string is empty.
    Empty,
    /// A group has no digits before its unit (`"s"`, `"1m s"`), or the string
    /// contains a character that is neither a digit nor a unit letter.
    ExpectedNumber {
        /// Byte offset of the offending character.
        at: usize,
    },
    /// The string contains whitespace (`"30 s"`, `" 30s"`).
    Whitespace {
        /// Byte offset of the first whitespace character.
        at: usize,
    },
    /// A number is not followed by a unit (`"30"`).
    MissingUnit {
        /// The number without its unit.
        number: String,
    },
    /// A unit other than `h`, `m`, `s`, `ms` (`"30sec"`, `"1d"`).
    UnknownUnit {
        /// The unit as written.
        unit: String,
    },
    /// Units out of order or repeated (`"30s1m"`, `"1s1s"`).
    UnitOrder {
        /// The unit that came too late.
        unit: &'static str,
    },
    /// The duration does not fit in 64 bits of milliseconds.
    Overflow,
    /// The duration is zero (`"0s"`).
    Zero,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Empty => f.write_str("the duration is empty"),
            DurationError::ExpectedNumber { at } => {
                write!(f, "expected a number at byte {at}")
            }
            DurationError::Whitespace { at } => write!(
                f,
                "unexpected whitespace at byte {at} (write durations without spaces, as in \"1m30s\")"
            ),
            DurationError::MissingUnit { number } if number.len() > 20 => {
                write!(f, "`{}…` has no unit", &number[..20])
            }
            DurationError::MissingUnit { number } => {
                write!(f, "`{number}` has no unit (write for example \"{number}s\")")
            }
            DurationError::UnknownUnit { unit } if unit.chars().count() > 20 => {
                f.write_str("unknown unit (the units are h, m, s, ms)")
            }
            DurationError::UnknownUnit { unit } => {
                write!(f, "unknown unit `{unit}` (the units are h, m, s, ms)")
            }
            DurationError::UnitOrder { unit } => write!(
                f,
                "unit `{unit}` is repeated or out of order (units go from largest to smallest, as in \"1m30s\")"
            ),
            DurationError::Overflow => f.write_str("the duration is too large"),
            DurationError::Zero => f.write_str("the duration must be greater than zero"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Parses a duration of the grammar described in the [crate docs](crate).
///
/// # Errors
///
/// Returns a [`DurationError`] saying what is wrong when `input` is not such a
/// duration, is zero, or does not fit in `u64` milliseconds. Never panics.
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    if input.is_empty() {
        return Err(DurationError::Empty);
    }
    let bytes = input.as_bytes();
    if let Some(at) = bytes.iter().position(u8::is_ascii_whitespace) {
        return Err(DurationError::Whitespace { at });
    }
    let mut total: u64 = 0;
    // Index into UNITS of the smallest unit allowed next.
    let mut next_unit = 0;
    let mut pos = 0;
    while pos < bytes.len() {
        let digits_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == digits_start {
            return Err(DurationError::ExpectedNumber { at: pos });
        }
        let number = &input[digits_start..pos];
        let unit_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let unit = &input[unit_start..pos];
        if unit.is_empty() {
            if pos < bytes.len() {
                return Err(DurationError::ExpectedNumber { at: pos });
            }
            return Err(DurationError::MissingUnit {
                number: number.to_owned(),
            });
        }
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(DurationError::UnknownUnit {
                unit: unit.to_owned(),
            });
        };
        if index < next_unit {
            return Err(DurationError::UnitOrder {
                unit: UNITS[index].0,
            });
        }
        next_unit = index + 1;
        // Any digit string too long for u64 overflows, so parse cannot fail
        // for another reason: the characters are all ASCII digits.
        let value: u64 = number.parse().map_err(|_| DurationError::Overflow)?;
        let millis = value
            .checked_mul(UNITS[index].1)
            .ok_or(DurationError::Overflow)?;
        total = total.checked_add(millis).ok_or(DurationError::Overflow)?;
    }
    if total == 0 {
        return Err(DurationError::Zero);
    }
    Ok(Duration::from_millis(total))
}

/// What a `timeout` value (`timeout = "..."`, env `IDLE_TIMEOUT`) must look
/// like, for error messages.
pub const TIMEOUT_EXPECTED: &str =
    "a duration such as \"500ms\", \"30s\", \"1m30s\" or \"2h\", or \"auto\"";

/// The keyword that turns on the adaptive timeout.
pub const AUTO: &str = "auto";

/// A `timeout` value: a duration, or [`AUTO`] for the adaptive timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// A fixed timeout.
    Fixed(Duration),
    /// `"auto"`: the server chooses the timeout from the idle gaps it sees.
    Auto,
}

/// Parses a `timeout` value: exactly `"auto"`, or a duration as [`parse`]
/// reads it. Shared by the attribute and the `IDLE_TIMEOUT` variable.
///
/// ```
/// use std::time::Duration;
/// use idle_duration::{parse_timeout, Timeout};
///
/// assert_eq!(parse_timeout("auto"), Ok(Timeout::Auto));
/// assert_eq!(parse_timeout("30s"), Ok(Timeout::Fixed(Duration::from_secs(30))));
/// assert!(parse_timeout("Auto").is_err());
/// ```
///
/// # Errors
///
/// As [`parse`], for anything but `"auto"`.
pub fn parse_timeout(input: &str) -> Result<Timeout, DurationError> {
    if input == AUTO {
        return Ok(Timeout::Auto);
    }
    parse(input).map(Timeout::Fixed)
}

/// Formats a duration in the grammar that [`parse`] reads, truncated to whole
/// milliseconds: `90.5 s` prints as `1m30s500ms`, zero as `0ms`.
///
/// `parse(&format(d).to_string())` returns `d` for every non-zero `d` that is
/// a whole number of milliseconds below `u64::MAX` milliseconds.
pub fn format(duration: Duration) -> impl fmt::Display {
    Formatted(duration)
}

struct Formatted(Duration);

impl fmt::Display for Formatted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut millis = self.0.as_millis();
        if millis == 0 {
            return f.write_str("0ms");
        }
        for (name, len) in UNITS {
            let len = u128::from(len);
            let count = millis / len;
            if count > 0 {
                write!(f, "{count}{name}")?;
                millis %= len;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_unit_and_combinations() {
        let cases = [
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("1m30s", 90_000),
            ("1h1m1s1ms", 3_661_001),
            ("0h10s", 10_000),
            ("1500ms", 1_500),
        ];
        for (input, millis) in cases {
            assert_eq!(parse(input), Ok(Duration::from_millis(millis)), "{input}");
        }
    }

    #[test]
    fn rejects_with_the_reason() {
        use DurationError::*;
        let cases = [
            ("", Empty),
            (
                "30",
                MissingUnit {
                    number: "30".into(),
                },
            ),
            ("s", ExpectedNumber { at: 0 }),
            (" 30s", Whitespace { at: 0 }),
            ("30 s", Whitespace { at: 2 }),
            ("30s ", Whitespace { at: 3 }),
            ("1.5s", ExpectedNumber { at: 1 }),
            ("-1s", ExpectedNumber { at: 0 }),
            ("30sec", UnknownUnit { unit: "sec".into() }),
            ("1d", UnknownUnit { unit: "d".into() }),
            ("30S", UnknownUnit { unit: "S".into() }),
            ("30s1m", UnitOrder { unit: "m" }),
            ("1s1s", UnitOrder { unit: "s" }),
            ("0s", Zero),
            ("0h0m", Zero),
            ("99999999999999h", Overflow),
            ("99999999999999999999999ms", Overflow),
            ("5é", ExpectedNumber { at: 1 }),
        ];
        for (input, error) in cases {
            assert_eq!(parse(input), Err(error), "{input:?}");
        }
    }

    #[test]
    fn format_round_trips() {
        for millis in [
            1,
            999,
            1_000,
            1_001,
            59_999,
            60_000,
            90_500,
            3_600_000,
            3_661_001,
            u64::MAX - 1,
        ] {
            let d = Duration::from_millis(millis);
            assert_eq!(parse(&format(d).to_string()), Ok(d), "{millis}");
        }
        assert_eq!(format(Duration::ZERO).to_string(), "0ms");
        assert_eq!(format(Duration::from_micros(1_500)).to_string(), "1ms");
    }
}
