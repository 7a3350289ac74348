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
//! The file cannot hurt the server, whatever is at its path:
//!
//! - It is read on a thread of its own, never one that serves requests, so
//!   a start never waits on it; it is opened without blocking
//!   (`O_NONBLOCK`: a FIFO does not hang the open) and without following a
//!   symbolic link (`O_NOFOLLOW`), checked with `fstat` to be a regular file,
//!   and at most [`MAX_BYTES`] of it are read.
//! - Every number read is checked (finite, non-negative, plausible) and the
//!   arithmetic on it saturates.
//! - It is written once, at exit: to a temporary file created exclusively
//!   (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600) under an unpredictable name
//!   in the same directory, flushed to disk, then renamed over the path, so
//!   a reader sees the old file or the new one, never half of one, and a
//!   link planted beside it is never followed.
//! - A file it does not own is left alone and nothing is saved over it: one
//!   that is not a regular file, a symbolic link, a file of a newer format
//!   version, one larger than [`MAX_BYTES`], or one that is not a state file
//!   at all. A missing file, or a corrupt state file of this version, is
//!   replaced at exit.
//!
//! Reading and writing never fail the server: every problem is one warning
//! line, and the server runs with what it has.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::policy::{Histogram, Learning};

/// The first line; a different version is read as no history.
const MAGIC: &str = "idle-state 1";
/// What every version's first line starts with.
const MAGIC_PREFIX: &str = "idle-state ";
/// This format's version.
const VERSION: u64 = 1;
/// The most that is read of the file. A state file is at most a few KiB
/// (one line per histogram bin).
pub(crate) const MAX_BYTES: u64 = 64 * 1024;
/// The largest weight a bin can reach: the decayed total of all weights is
/// below 1 / (1 − `DECAY`) = 128. Anything above is not a state file's.
const MAX_WEIGHT: f64 = 1.0e6;
/// The largest sum of gaps a bin can hold: weight × gaps far longer than a
/// server lives.
const MAX_SUM: f64 = 1.0e15;

/// Why a state file was not used.
#[derive(Debug, PartialEq)]
pub(crate) struct Unusable {
    /// The warning line's text.
    pub(crate) warning: String,
    /// Whether the file must be left as it is at exit: it is not ours to
    /// replace (not a regular file, a newer version, not a state file).
    pub(crate) leave_alone: bool,
}

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
        Some((_, line)) if line.starts_with(MAGIC_PREFIX) => {
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
        let (weight, sum) = (real(number, weight)?, real(number, sum)?);
        if weight > MAX_WEIGHT || sum > MAX_SUM {
            return Err(format!(
                "line {number}: bin {bin} holds more than any history can"
            ));
        }
        if !histogram.set(bin, weight, sum) {
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

/// The version a file's first line declares, if it is a state file's.
fn version(text: &str) -> Option<u64> {
    let first = text.lines().next()?;
    first.strip_prefix(MAGIC_PREFIX)?.trim().parse().ok()
}

/// Opens `path` for reading without blocking and without following a
/// symbolic link, and checks that it is a regular file of at most
/// [`MAX_BYTES`].
fn open_regular(path: &Path) -> Result<File, Unusable> {
    let leave = |what: String| Unusable {
        warning: format!(
            "the state file {} {what}; it is left alone, and what is learned is not saved",
            path.display()
        ),
        leave_alone: true,
    };
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO with no writer would block for good.
        // O_NOFOLLOW: a symbolic link at the path is refused (ELOOP).
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    let file = options.open(path).map_err(|error| {
        #[cfg(unix)]
        if error.raw_os_error() == Some(libc::ELOOP) {
            return leave("is a symbolic link".to_owned());
        }
        match error.kind() {
            std::io::ErrorKind::NotFound => Unusable {
                warning: format!(
                    "no state file at {} yet; starting with no history",
                    path.display()
                ),
                leave_alone: false,
            },
            _ => Unusable {
                warning: format!(
                    "cannot read the state file {}: {error}; starting with no history",
                    path.display()
                ),
                leave_alone: false,
            },
        }
    })?;
    // fstat on the open file: what was opened, not what the path names now.
    let metadata = file.metadata().map_err(|error| Unusable {
        warning: format!(
            "cannot read the state file {}: {error}; starting with no history",
            path.display()
        ),
        leave_alone: false,
    })?;
    if !metadata.is_file() {
        return Err(leave("is not a regular file".to_owned()));
    }
    if metadata.len() > MAX_BYTES {
        return Err(leave(format!(
            "is larger than {} KiB, which no state file is",
            MAX_BYTES / 1024
        )));
    }
    Ok(file)
}

/// Reads at most [`MAX_BYTES`] of the file, without blocking on it.
fn read_bounded(path: &Path) -> Result<Vec<u8>, Unusable> {
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    // One byte more than allowed, to tell a file that grew since `fstat`.
    let read = file.take(MAX_BYTES + 1).read_to_end(&mut bytes);
    match read {
        Ok(_) if bytes.len() as u64 <= MAX_BYTES => Ok(bytes),
        Ok(_) => Err(Unusable {
            warning: format!(
                "the state file {} is larger than {} KiB, which no state file is; it is left \
                 alone, and what is learned is not saved",
                path.display(),
                MAX_BYTES / 1024
            ),
            leave_alone: true,
        }),
        Err(error) => Err(Unusable {
            warning: format!(
                "cannot read the state file {}: {error}; starting with no history",
                path.display()
            ),
            leave_alone: false,
        }),
    }
}

/// Reads and decodes the file. Blocking: call it off the serving threads.
///
/// # Errors
///
/// Why the file was not used: missing, unreadable, corrupt, or not ours.
pub(crate) fn load(path: &Path, cold_start_cost: Duration) -> Result<Saved, Unusable> {
    let bytes = read_bounded(path)?;
    let not_ours = |what: &str| Unusable {
        warning: format!(
            "the state file {} {what}; it is left alone, and what is learned is not saved",
            path.display()
        ),
        leave_alone: true,
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Err(not_ours("is not a state file (not UTF-8)"));
    };
    match version(text) {
        Some(VERSION) => {}
        Some(newer) if newer > VERSION => {
            return Err(not_ours(&format!(
                "was written by a newer version (format {newer}; this one reads {VERSION})"
            )))
        }
        // Empty: a state file that was never written whole. Replace it.
        None if text.is_empty() => {}
        _ => {
            return Err(not_ours(&format!(
                "is not a state file (no {MAGIC:?} line)"
            )))
        }
    }
    decode(text, cold_start_cost).map_err(|reason| Unusable {
        warning: format!(
            "the state file {} is corrupt ({reason}); starting with no history",
            path.display()
        ),
        leave_alone: false,
    })
}

/// Whether the file now at `path` must not be replaced: a newer version
/// written since it was read, or anything that is not a regular file.
fn newer_or_foreign(path: &Path) -> bool {
    match read_bounded(path) {
        Ok(bytes) => match std::str::from_utf8(&bytes).ok().and_then(version) {
            Some(version) => version > VERSION,
            None => !bytes.is_empty(),
        },
        Err(unusable) => unusable.leave_alone,
    }
}

/// An unpredictable name for the temporary file beside `path`.
fn temporary_name(path: &Path, attempt: u32) -> PathBuf {
    use std::hash::{BuildHasher, RandomState};
    // RandomState's keys come from the operating system's random source.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let noise = RandomState::new().hash_one((std::process::id(), nanos, attempt));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.{noise:016x}.tmp"))
}

/// Creates a new temporary file beside `path`: exclusively (never an
/// existing file, never through a link), readable by the owner only.
fn create_temporary(path: &Path) -> std::io::Result<(PathBuf, File)> {
    let mut last = None;
    for attempt in 0..8 {
        let temporary = temporary_name(path, attempt);
        let mut options = OpenOptions::new();
        // create_new: O_CREAT | O_EXCL, which also refuses a link.
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
        }
        match options.open(&temporary) {
            Ok(file) => return Ok((temporary, file)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => last = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no temporary name was free")))
}

/// Writes the file atomically: a temporary file in the same directory,
/// flushed to disk, then renamed over `path`. A file of a newer version
/// (or one that is not a regular file) found at `path` is left alone.
///
/// # Errors
///
/// The warning line's text.
pub(crate) fn save(path: &Path, text: &str) -> Result<(), String> {
    if newer_or_foreign(path) {
        return Err(format!(
            "the state file {} was replaced by a newer version or another kind of file; it is \
             left alone, and what was learned is lost",
            path.display()
        ));
    }
    let mut temporary = None;
    let written = create_temporary(path).and_then(|(name, mut file)| {
        temporary = Some(name.clone());
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&name, path)
    });
    written.map_err(|error| {
        if let Some(temporary) = temporary {
            let _ = std::fs::remove_file(temporary);
        }
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

    fn saved() -> Saved {
        Saved {
            went_idle_unix_ms: 42,
            timeout: C,
            learning: learned(),
        }
    }

    #[test]
    fn files_are_written_atomically_and_problems_are_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let missing = load(&path, C).unwrap_err();
        assert!(missing.warning.contains("no state file"), "{missing:?}");
        assert!(!missing.leave_alone);

        save(&path, &encode(&saved())).unwrap();
        assert_eq!(load(&path, C).unwrap().went_idle_unix_ms, 42);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "readable by the owner only");
        }

        let unwritable = dir.path().join("no-such-dir").join("state");
        let error = save(&unwritable, "x").unwrap_err();
        assert!(error.contains("cannot write the state file"), "{error}");
        let error = load(dir.path(), C).unwrap_err();
        assert!(error.warning.contains("not a regular file"), "{error:?}");
        for message in [missing.warning, error.warning] {
            assert!(!message.contains('\n'));
        }
    }

    #[test]
    fn a_corrupt_state_file_is_replaced_and_a_foreign_one_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        // Ours, corrupt: replaced at exit.
        std::fs::write(&path, "idle-state 1\ngarbage\n").unwrap();
        let error = load(&path, C).unwrap_err();
        assert!(error.warning.contains("is corrupt"), "{error:?}");
        assert!(!error.leave_alone);
        // Empty: replaced.
        std::fs::write(&path, "").unwrap();
        assert!(!load(&path, C).unwrap_err().leave_alone);
        // Not UTF-8, or no magic line: not ours.
        for text in [&[0xff, 0xfe][..], b"my notes\n"] {
            std::fs::write(&path, text).unwrap();
            let error = load(&path, C).unwrap_err();
            assert!(error.warning.contains("not a state file"), "{error:?}");
            assert!(error.leave_alone);
            assert!(save(&path, &encode(&saved())).is_err());
            assert_eq!(std::fs::read(&path).unwrap(), text, "left alone");
        }
    }

    #[test]
    fn a_newer_version_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let newer = "idle-state 2\nsomething we do not know\n";
        std::fs::write(&path, newer).unwrap();
        let error = load(&path, C).unwrap_err();
        assert!(error.warning.contains("newer version"), "{error:?}");
        assert!(error.leave_alone);
        // Also when it appears between the start and the exit.
        let error = save(&path, &encode(&saved())).unwrap_err();
        assert!(error.contains("newer version"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), newer);
    }

    #[test]
    fn more_than_the_bound_is_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let mut text = encode(&saved());
        while text.len() as u64 <= MAX_BYTES {
            text.push_str("# padding\n");
        }
        std::fs::write(&path, &text).unwrap();
        let error = load(&path, C).unwrap_err();
        assert!(error.warning.contains("larger than 64 KiB"), "{error:?}");
        assert!(error.leave_alone);
    }

    #[cfg(unix)]
    #[test]
    fn fifos_devices_and_links_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success(), "mkfifo");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "precious").unwrap();
        let link_to_file = dir.path().join("link-to-file");
        std::os::unix::fs::symlink(&target, &link_to_file).unwrap();
        for (path, expected) in [
            (&fifo, "not a regular file"),
            (&PathBuf::from("/dev/zero"), "not a regular file"),
            (&link, "symbolic link"),
            (&link_to_file, "symbolic link"),
        ] {
            // Returns at once: a blocking open of the FIFO would hang here.
            let error = load(path, C).unwrap_err();
            assert!(error.warning.contains(expected), "{path:?}: {error:?}");
            assert!(error.leave_alone, "{path:?}");
        }
        // A save through a link refuses too, leaving its target alone.
        assert!(save(&link_to_file, &encode(&saved())).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    }

    #[test]
    fn temporary_names_are_unpredictable() {
        let path = Path::new("/var/lib/app/idle.state");
        let (a, b) = (temporary_name(path, 0), temporary_name(path, 0));
        assert_ne!(a, b);
        assert_eq!(a.parent(), path.parent(), "in the same directory");
        assert!(!a
            .to_string_lossy()
            .contains(&std::process::id().to_string()));
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_link_is_never_followed() {
        // Whatever name the attacker guesses, creation is exclusive and
        // refuses links: here every name is taken by a link.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let target = dir.path().join("target");
        std::fs::write(&target, "precious").unwrap();
        let (temporary, file) = create_temporary(&path).unwrap();
        drop(file);
        std::fs::remove_file(&temporary).unwrap();
        std::os::unix::fs::symlink(&target, &temporary).unwrap();
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        let error = options.open(&temporary).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::AlreadyExists);
        save(&path, &encode(&saved())).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
    }

    #[test]
    fn counts_saturate() {
        let text = encode(&saved())
            .lines()
            .map(|line| match line.starts_with("gaps ") {
                true => "gaps 18446744073709551615",
                false => line,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut read = decode(&text, C).unwrap().learning;
        read.observe(Duration::from_secs(5));
        assert_eq!(read.gaps(), u64::MAX);
        let huge = encode(&saved()) + "bin 3 1e300 1\n";
        assert!(decode(&huge, C)
            .unwrap_err()
            .contains("more than any history"));
    }
}
