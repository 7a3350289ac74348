//! The state file (`state = "/path"`, env `IDLE_STATE`): what the adaptive
//! timeout has learned, carried across restarts.
//!
//! A small versioned text file, for example:
//!
//! ```text
//! idle-state 1
//! cold_start_cost_ms 30000
//! went_idle_unix_ms 1764480000000
//! timeout_ms 5218
//! gaps 12
//! totals 310.5 402.25
//! bin 37 2.9530 14.25
//! bin 192 0.8890 3.1e4
//! ```
//!
//! `went_idle_unix_ms` is when the server last went idle (its last activity
//! ended), so that the next start can learn the gap that has just ended;
//! `timeout_ms` is the timeout that was in force then; `totals` are the
//! safety net's two sums; each `bin` line is a non-empty histogram bin (its
//! index, weight, and sum of gaps in seconds). Lines are in this order.
//!
//! The file is written once, at exit, to a temporary file beside it and
//! renamed over it, so a reader sees the old file or the new one, never half
//! of one. Reading and writing never fail the server: a file that is missing,
//! unreadable, corrupt or unwritable is one warning line, and the server runs
//! with what it has.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use super::policy::{Histogram, Learning};

/// The first line; a different version is read as no history.
const MAGIC: &str = "idle-state 1";

/// What the file holds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Saved {
    /// When the server went idle, in milliseconds since the Unix epoch.
    pub(crate) went_idle_unix_ms: u64,
    /// The timeout in force then, to price the gap that ends at the next
    /// start.
    pub(crate) timeout: Duration,
    pub(crate) learning: Learning,
}

/// The file's text for `saved`.
pub(crate) fn encode(saved: &Saved) -> String {
    let learning = &saved.learning;
    let (auto, break_even) = learning.totals();
    let mut text = String::with_capacity(512);
    let _ = writeln!(text, "{MAGIC}");
    let _ = writeln!(
        text,
        "cold_start_cost_ms {}",
        learning.cold_start_cost().as_millis()
    );
    let _ = writeln!(text, "went_idle_unix_ms {}", saved.went_idle_unix_ms);
    let _ = writeln!(text, "timeout_ms {}", saved.timeout.as_millis());
    let _ = writeln!(text, "gaps {}", learning.gaps());
    // `{}` prints the shortest text that reads back as the same f64.
    let _ = writeln!(text, "totals {auto} {break_even}");
    for (bin, weight, sum) in learning.histogram().bins() {
        let _ = writeln!(text, "bin {bin} {weight} {sum}");
    }
    text
}

/// Reads the file's text. `cold_start_cost` is the one configured now: if
/// the file was written with another, the history of gaps is kept but the
/// safety net starts afresh (its sums were priced with the old cost).
///
/// # Errors
///
/// What is wrong with the text, for the warning line.
pub(crate) fn decode(text: &str, cold_start_cost: Duration) -> Result<Saved, String> {
    let mut lines = text.lines().enumerate().map(|(i, line)| (i + 1, line));
    match lines.next() {
        Some((_, MAGIC)) => {}
        Some((_, line)) if line.starts_with("idle-state ") => {
            return Err(format!("unsupported version {line:?}, expected {MAGIC:?}"))
        }
        _ => return Err(format!("the first line is not {MAGIC:?}")),
    }
    let mut field = |name: &str| -> Result<(usize, Vec<&str>), String> {
        let (number, line) = lines
            .next()
            .ok_or_else(|| format!("ends before `{name}`"))?;
        let mut words = line.split(' ');
        if words.next() != Some(name) {
            return Err(format!("line {number}: expected `{name}`"));
        }
        Ok((number, words.collect()))
    };
    let int = |(number, words): (usize, Vec<&str>)| -> Result<u64, String> {
        match words[..] {
            [word] => word
                .parse()
                .map_err(|_| format!("line {number}: {word:?} is not a whole number")),
            _ => Err(format!("line {number}: expected one number")),
        }
    };
    let saved_cost = Duration::from_millis(int(field("cold_start_cost_ms")?)?);
    let went_idle_unix_ms = int(field("went_idle_unix_ms")?)?;
    let timeout = Duration::from_millis(int(field("timeout_ms")?)?);
    let gaps = int(field("gaps")?)?;
    let (number, words) = field("totals")?;
    let totals = match words[..] {
        [auto, break_even] => (real(number, auto)?, real(number, break_even)?),
        _ => return Err(format!("line {number}: expected two numbers")),
    };
    let mut histogram = Histogram::default();
    for (number, line) in lines {
        let words: Vec<&str> = line.split(' ').collect();
        let ["bin", bin, weight, sum] = words[..] else {
            return Err(format!("line {number}: expected `bin INDEX WEIGHT SUM`"));
        };
        let bin: usize = bin
            .parse()
            .map_err(|_| format!("line {number}: bad bin index {bin:?}"))?;
        if !histogram.set(bin, real(number, weight)?, real(number, sum)?) {
            return Err(format!("line {number}: no bin {bin}"));
        }
    }
    let totals = if saved_cost == cold_start_cost {
        totals
    } else {
        (0.0, 0.0)
    };
    Ok(Saved {
        went_idle_unix_ms,
        timeout,
        learning: Learning::restore(cold_start_cost, histogram, gaps, totals),
    })
}

/// A finite, non-negative number.
fn real(number: usize, word: &str) -> Result<f64, String> {
    match word.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!(
            "line {number}: {word:?} is not a non-negative number"
        )),
    }
}

/// Reads and decodes the file.
///
/// # Errors
///
/// The warning line's text: the file is missing, unreadable or corrupt.
pub(crate) fn load(path: &Path, cold_start_cost: Duration) -> Result<Saved, String> {
    let bytes = std::fs::read(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => format!(
            "no state file at {} yet; starting with no history",
            path.display()
        ),
        _ => format!(
            "cannot read the state file {}: {error}; starting with no history",
            path.display()
        ),
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        format!(
            "the state file {} is corrupt (not UTF-8); starting with no history",
            path.display()
        )
    })?;
    decode(text, cold_start_cost).map_err(|reason| {
        format!(
            "the state file {} is corrupt ({reason}); starting with no history",
            path.display()
        )
    })
}

/// Writes the file atomically: a temporary file in the same directory,
/// flushed to disk, then renamed over `path`.
///
/// # Errors
///
/// The warning line's text.
pub(crate) fn save(path: &Path, text: &str) -> Result<(), String> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp{}", std::process::id()));
    let temporary = std::path::PathBuf::from(temporary);
    let written = std::fs::File::create(&temporary)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, path));
    written.map_err(|error| {
        let _ = std::fs::remove_file(&temporary);
        format!(
            "cannot write the state file {}: {error}; what was learned is lost",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: Duration = Duration::from_secs(30);

    fn learned() -> Learning {
        let mut learning = Learning::new(C);
        for gap in [2.0, 3.5, 900.0, 2.5, 5000.0, 0.2] {
            learning.observe(Duration::from_secs_f64(gap));
        }
        learning
    }

    #[test]
    fn a_saved_state_reads_back_the_same() {
        let learning = learned();
        let saved = Saved {
            went_idle_unix_ms: 1_764_480_000_123,
            timeout: Duration::from_millis(4321),
            learning: learning.clone(),
        };
        let text = encode(&saved);
        assert!(text.starts_with("idle-state 1\n"), "{text}");
        assert!(text.len() < 1024, "small: {} bytes", text.len());
        let read = decode(&text, C).unwrap();
        assert_eq!(read, saved);
    }

    #[test]
    fn a_different_cold_start_cost_keeps_the_gaps_but_not_the_totals() {
        let learning = learned();
        let saved = Saved {
            went_idle_unix_ms: 5,
            timeout: C,
            learning: learning.clone(),
        };
        let read = decode(&encode(&saved), Duration::from_secs(10)).unwrap();
        assert_eq!(read.learning.histogram(), learning.histogram());
        assert_eq!(read.learning.gaps(), learning.gaps());
        assert_eq!(read.learning.totals(), (0.0, 0.0));
    }

    #[test]
    fn corrupt_files_say_what_is_wrong() {
        let good = encode(&Saved {
            went_idle_unix_ms: 5,
            timeout: C,
            learning: learned(),
        });
        let with_line = |prefix: &str, line: &str| {
            good.lines()
                .map(|l| if l.starts_with(prefix) { line } else { l })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "first line"),
            ("garbage".into(), "first line"),
            ("idle-state 2\n".into(), "unsupported version"),
            (good.replace("gaps ", "gasp "), "expected `gaps`"),
            (
                good.replace("timeout_ms ", "timeout_ms -"),
                "not a whole number",
            ),
            (
                with_line("totals", "totals NaN 1"),
                "not a non-negative number",
            ),
            (
                with_line("totals", "totals -1 1"),
                "not a non-negative number",
            ),
            (with_line("totals", "totals 1"), "expected two numbers"),
            (good.clone() + "bin 193 1 1\n", "no bin 193"),
            (good.clone() + "bin 3 inf 1\n", "not a non-negative number"),
            (good.clone() + "bin 3 1\n", "expected `bin"),
            (
                good.lines().take(3).collect::<Vec<_>>().join("\n"),
                "ends before",
            ),
        ];
        for (text, expected) in cases {
            let error = decode(&text, C).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    proptest::proptest! {
        /// Whatever the file holds, reading it returns a state or a reason;
        /// it never panics. Arbitrary text, and a good file with one line
        /// replaced by arbitrary text.
        #[test]
        fn reading_never_panics(
            text in ".{0,300}",
            line in 0usize..12,
            replacement in "[a-z_ 0-9.eE+-]{0,40}",
        ) {
            let _ = decode(&text, C);
            let good = encode(&Saved {
                went_idle_unix_ms: 5,
                timeout: C,
                learning: learned(),
            });
            let mut lines: Vec<&str> = good.lines().collect();
            if line < lines.len() {
                lines[line] = &replacement;
            }
            if let Ok(saved) = decode(&lines.join("\n"), C) {
                let timeout = saved.learning.timeout();
                proptest::prop_assert!(timeout >= super::super::MIN_TIMEOUT);
                proptest::prop_assert!(timeout <= super::super::MAX_TIMEOUT);
            }
        }
    }

    #[test]
    fn files_are_written_atomically_and_problems_are_one_line() {
        let dir = std::env::temp_dir().join(format!("idle-state-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        let missing = load(&path, C).unwrap_err();
        assert!(missing.contains("no state file"), "{missing}");

        let saved = Saved {
            went_idle_unix_ms: 42,
            timeout: C,
            learning: learned(),
        };
        save(&path, &encode(&saved)).unwrap();
        assert_eq!(load(&path, C).unwrap().went_idle_unix_ms, 42);
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");

        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(load(&path, C).unwrap_err().contains("not UTF-8"));

        let unwritable = dir.join("no-such-dir").join("state");
        let error = save(&unwritable, "x").unwrap_err();
        assert!(error.contains("cannot write the state file"), "{error}");
        let error = load(&dir, C).unwrap_err();
        assert!(error.contains("cannot read the state file"), "{error}");
        for message in [missing, error] {
            assert!(!message.contains('\n'));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
