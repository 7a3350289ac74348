//! `idle_duration::parse` on arbitrary input: it never panics, and whatever
//! it accepts is a whole, non-zero number of milliseconds that `format`
//! prints in a form that parses back to the same duration.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The environment may hold any bytes; the runtime rejects non-UTF-8
    // before parsing, so only strings reach the parser.
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(duration) = idle_duration::parse(input) else {
        return;
    };
    assert!(!duration.is_zero(), "{input:?} parsed as zero");
    assert_eq!(duration.subsec_nanos() % 1_000_000, 0, "{input:?}");
    let printed = idle_duration::format(duration).to_string();
    assert_eq!(
        idle_duration::parse(&printed),
        Ok(duration),
        "{input:?} printed as {printed:?}"
    );
});
