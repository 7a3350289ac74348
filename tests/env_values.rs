//! Bad values of `IDLE_TIMEOUT` and `IDLE_GRACE`: each makes the server exit
//! with code 2 before binding anything, with exactly one line on stderr that
//! names the variable.

mod support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use support::{run_to_exit, run_to_exit_os};

/// Values that are not durations, with what makes each one bad.
fn bad_values() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("negative", "-1s".into()),
        ("a fraction", "1.5s".into()),
        ("zero", "0s".into()),
        ("zero in two units", "0m0s".into()),
        ("no unit", "30".into()),
        ("no number", "s".into()),
        ("an unknown unit", "30sec".into()),
        ("an upper-case unit", "30S".into()),
        ("units out of order", "30s1m".into()),
        ("a repeated unit", "1s1s".into()),
        ("a space inside", "30 s".into()),
        ("a leading space", " 30s".into()),
        ("a trailing space", "30s ".into()),
        ("a tab", "30s\t".into()),
        ("overflow", "99999999999999h".into()),
        ("more digits than u64", "99999999999999999999999ms".into()),
        ("full-width digits", "３０s".into()),
        ("a Cyrillic unit", "30с".into()),
        ("an emoji", "⏱️".into()),
        ("a combining accent", "30s\u{301}".into()),
        ("a right-to-left mark", "\u{200f}30s".into()),
        ("10k digits", "9".repeat(10_000)),
        ("10k digits and a unit", format!("{}s", "1".repeat(10_000))),
        ("10k letters", "h".repeat(10_000)),
        ("10k multi-byte characters", "é".repeat(10_000)),
        ("a newline", "30s\nIDLE_GRACE=1s".into()),
        ("a carriage return", "30s\r".into()),
        ("an escape sequence", "\u{1b}[31m30s".into()),
        ("a humantime duration", "30 seconds".into()),
        ("an ISO 8601 duration", "PT30S".into()),
    ]
}

#[track_caller]
fn assert_config_error(variable: &str, what: &str, status: std::process::ExitStatus, stderr: &str) {
    assert_eq!(status.code(), Some(2), "{variable} = {what}: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{variable} = {what}: exactly one line, got {stderr:?}"
    );
    assert!(stderr.ends_with('\n'), "{variable} = {what}: {stderr:?}");
    let line = stderr.trim_end_matches('\n');
    assert!(
        line.starts_with(&format!("idle: error: invalid {variable}=\"")),
        "{variable} = {what}: {line:?}"
    );
    assert!(
        line.contains("expected a duration"),
        "{variable} = {what}: {line:?}"
    );
    assert!(
        line.chars().count() < 600,
        "{variable} = {what}: a long value is shortened, got {} characters",
        line.chars().count()
    );
    assert!(
        !line.chars().any(|c| c.is_control()),
        "{variable} = {what}: control characters are escaped: {line:?}"
    );
}

#[test]
fn each_bad_duration_exits_2_with_one_line_naming_the_variable() {
    let values = bad_values();
    // Two processes at a time: each starts and exits at once.
    std::thread::scope(|scope| {
        for variable in ["IDLE_TIMEOUT", "IDLE_GRACE"] {
            let values = &values;
            scope.spawn(move || {
                for (what, value) in values {
                    let (status, stderr) = run_to_exit(&[(variable, value)]);
                    assert_config_error(variable, what, status, &stderr);
                }
            });
        }
    });
}

#[test]
fn a_bad_grace_is_reported_even_with_a_good_timeout() {
    let (status, stderr) = run_to_exit(&[("IDLE_TIMEOUT", "1s"), ("IDLE_GRACE", "1.5s")]);
    assert_config_error("IDLE_GRACE", "1.5s", status, &stderr);
    assert!(stderr.contains("IDLE_GRACE=\"1.5s\""), "{stderr}");
}

#[test]
fn a_value_that_is_not_utf8_exits_2_naming_the_variable() {
    for variable in ["IDLE_TIMEOUT", "IDLE_GRACE"] {
        for bytes in [&b"\xff"[..], b"30\xffs", b"\xc3\x28", b"30s\x80"] {
            let what = format!("{:?}", bytes.escape_ascii().to_string());
            let (status, stderr) = run_to_exit_os(&[(variable, OsStr::from_bytes(bytes))]);
            assert_config_error(variable, &what, status, &stderr);
            assert!(stderr.contains("UTF-8"), "{variable} = {what}: {stderr}");
        }
    }
}

/// The README shows the very lines the server prints for a bad duration and
/// a bad port (they drifted apart once).
#[test]
fn the_readme_quotes_the_errors_as_printed() {
    let readme = include_str!("../README.md");
    for env in [[("IDLE_TIMEOUT", "1.5s")], [("PORT", "+8080")]] {
        let (status, stderr) = run_to_exit(&env);
        assert_eq!(status.code(), Some(2), "{stderr}");
        let line = stderr.trim_end();
        assert!(
            readme.lines().any(|quoted| quoted == line),
            "README.md does not quote the line as printed:\n{line}"
        );
    }
}
