//! Property tests of the duration grammar, checked against an independent
//! specification: a regular expression for the syntax and 128-bit
//! arithmetic for the value.
//!
//! The same `parse` checks the `#[idle_server]` attribute at compile time and
//! `IDLE_TIMEOUT` / `IDLE_GRACE` at run time, so these properties hold for
//! both.

use std::sync::LazyLock;
use std::time::Duration;

use idle_duration::{format, parse, DurationError};
use proptest::prelude::*;

/// The grammar: one or more `<digits><unit>` groups, units largest first,
/// each at most once.
static GRAMMAR: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"\A(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?\z").unwrap()
});

const UNIT_MS: [u128; 4] = [3_600_000, 60_000, 1_000, 1];

/// What `parse` must return, from the specification alone: `None` when the
/// string is not of the grammar (any error will do), else the exact result.
fn expected(input: &str) -> Option<Result<Duration, DurationError>> {
    let captures = GRAMMAR.captures(input)?;
    if input.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    for (group, unit_ms) in UNIT_MS.iter().enumerate() {
        let Some(digits) = captures.get(group + 1) else {
            continue;
        };
        let significant = digits.as_str().trim_start_matches('0');
        // More than 20 significant digits exceeds u64 (and u128 room).
        if significant.len() > 20 {
            return Some(Err(DurationError::Overflow));
        }
        let value: u128 = if significant.is_empty() {
            0
        } else {
            significant.parse().unwrap()
        };
        if value > u128::from(u64::MAX) {
            return Some(Err(DurationError::Overflow));
        }
        total += value * unit_ms;
    }
    Some(match u64::try_from(total) {
        Err(_) => Err(DurationError::Overflow),
        Ok(0) => Err(DurationError::Zero),
        Ok(millis) => Ok(Duration::from_millis(millis)),
    })
}

/// Digit strings: mostly small numbers, sometimes huge or zero-padded ones.
fn digits() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0u64..10_000).prop_map(|n| n.to_string()),
        2 => any::<u64>().prop_map(|n| n.to_string()),
        1 => "0{1,30}[0-9]{1,5}",
        1 => "[1-9][0-9]{18,30}",
    ]
}

/// Strings of the grammar: a non-empty ordered subset of the units.
fn grammatical() -> impl Strategy<Value = String> {
    (
        proptest::option::of(digits()),
        proptest::option::of(digits()),
        proptest::option::of(digits()),
        proptest::option::of(digits()),
    )
        .prop_filter("at least one group", |groups| {
            groups.0.is_some() || groups.1.is_some() || groups.2.is_some() || groups.3.is_some()
        })
        .prop_map(|(h, m, s, ms)| {
            let mut text = String::new();
            for (digits, unit) in [(h, "h"), (m, "m"), (s, "s"), (ms, "ms")] {
                if let Some(digits) = digits {
                    text.push_str(&digits);
                    text.push_str(unit);
                }
            }
            text
        })
}

/// Strings close to the grammar, where a parser is most likely to slip:
/// digits, unit letters, look-alikes and separators in any order.
fn near_grammar() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            6 => "[0-9]{1,3}",
            6 => prop::sample::select(vec!["h", "m", "s", "ms", "sm", "mm", "hh", "d", "us", "µs", "S", "H", "M"])
                .prop_map(str::to_owned),
            1 => prop::sample::select(vec![" ", ".", "-", "+", "_", ",", "\n", "\t", "\0", "é", "٣", "３", "ｓ", "\u{200b}"])
                .prop_map(str::to_owned),
        ],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

/// A grammatical string with one character inserted, removed or replaced.
fn mutated() -> impl Strategy<Value = String> {
    (
        grammatical(),
        any::<prop::sample::Index>(),
        any::<char>(),
        0..3u8,
    )
        .prop_map(|(text, index, c, how)| {
            let mut chars: Vec<char> = text.chars().collect();
            let at = index.index(chars.len() + 1);
            match how {
                0 => chars.insert(at, c),
                1 if at < chars.len() => {
                    chars.remove(at);
                }
                _ if at < chars.len() => chars[at] = c,
                _ => chars.push(c),
            }
            chars.into_iter().collect()
        })
}

#[track_caller]
fn check_against_the_specification(input: &str) {
    let result = parse(input);
    match expected(input) {
        Some(expected) => assert_eq!(result, expected, "{input:?}"),
        None => assert!(
            result.is_err(),
            "{input:?} is not of the grammar but parsed as {result:?}"
        ),
    }
    if let Err(error) = result {
        let message = error.to_string();
        assert!(
            !message.is_empty() && !message.contains('\n'),
            "{input:?}: {message:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Every whole number of milliseconds formats to a string that parses
    /// back to it, and that string is of the grammar.
    #[test]
    fn format_then_parse_round_trips(millis in 1..=u64::MAX) {
        let duration = Duration::from_millis(millis);
        let text = format(duration).to_string();
        prop_assert!(GRAMMAR.is_match(&text), "{text:?}");
        prop_assert_eq!(parse(&text), Ok(duration));
    }

    /// Sub-millisecond parts are truncated by `format`, never rounded up.
    #[test]
    fn format_truncates_to_milliseconds(secs in 0..1_000_000_000u64, nanos in 0..1_000_000_000u32) {
        let duration = Duration::new(secs, nanos);
        let text = format(duration).to_string();
        let whole = Duration::from_millis(u64::try_from(duration.as_millis()).unwrap());
        if whole.is_zero() {
            prop_assert_eq!(text, "0ms");
        } else {
            prop_assert_eq!(parse(&text), Ok(whole));
        }
    }

    /// Strings of the grammar parse to exactly the value the specification
    /// gives, or to `Overflow` / `Zero`; parsing is canonical: formatting
    /// the result and parsing again gives the same duration.
    #[test]
    fn grammatical_strings_parse_to_their_value(input in grammatical()) {
        check_against_the_specification(&input);
        if let Ok(duration) = parse(&input) {
            prop_assert_eq!(parse(&format(duration).to_string()), Ok(duration));
        }
    }

    /// Strings near the grammar: accepted exactly when the specification
    /// accepts them.
    #[test]
    fn near_misses_are_rejected(input in near_grammar()) {
        check_against_the_specification(&input);
    }

    /// One character away from a valid string.
    #[test]
    fn mutated_strings_follow_the_specification(input in mutated()) {
        check_against_the_specification(&input);
    }

    /// Arbitrary Unicode: never a panic, and an error unless the string
    /// happens to be of the grammar.
    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        check_against_the_specification(&input);
    }

    /// Groups that each fit but whose sum does not: an error, exactly when
    /// the specification says so.
    #[test]
    fn overflow_of_the_sum_is_an_error(
        hours in (u64::MAX / 3_600_000 - 2)..=(u64::MAX / 3_600_000),
        minutes in 0..100u64,
        millis in prop_oneof![0..10_000_000u64, (u64::MAX - 10_000_000)..=u64::MAX],
    ) {
        let input = std::format!("{hours}h{minutes}m{millis}ms");
        check_against_the_specification(&input);
    }

    /// Any number of a unit whose milliseconds exceed `u64` is an error.
    #[test]
    fn overflow_is_an_error(unit in 0..4usize, extra in 0..u64::MAX) {
        let unit_ms = UNIT_MS[unit];
        let names = ["h", "m", "s", "ms"];
        // The smallest count of this unit that overflows, plus some.
        let smallest = u128::from(u64::MAX) / unit_ms + 1;
        let count = smallest + u128::from(extra);
        let input = std::format!("{count}{}", names[unit]);
        prop_assert_eq!(parse(&input), Err(DurationError::Overflow), "{}", input);
    }
}

#[test]
fn known_overflows_and_limits() {
    for input in [
        "99999999999999h",
        "5124095576031h",
        "18446744073709551616ms",
        "99999999999999999999999999999999999999999999ms",
        "5124095576030h25m51s616ms",
    ] {
        assert_eq!(parse(input), Err(DurationError::Overflow), "{input}");
    }
    // The largest durations that fit.
    assert_eq!(
        parse("18446744073709551615ms"),
        Ok(Duration::from_millis(u64::MAX))
    );
    assert_eq!(
        parse("5124095576030h25m51s615ms"),
        Ok(Duration::from_millis(u64::MAX))
    );
    // Leading zeros do not count towards overflow.
    assert_eq!(
        parse("000000000000000000000000000000001s"),
        Ok(Duration::from_secs(1))
    );
}
