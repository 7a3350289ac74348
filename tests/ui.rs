//! Compile-time behaviour of `#[idle_server]`: the forms it accepts
//! (`tests/ui/pass/`) and what the compiler says for each mistake
//! (`tests/ui/fail/`, one diagnostic per file, with its checked-in `.stderr`).
//!
//! After changing a message, regenerate with
//! `TRYBUILD=overwrite cargo test -p idle --test ui` and review the `.stderr` diff:
//! each error must point at the user's token, not at generated code. The
//! text follows the installed stable compiler.

#[test]
fn ui() {
    // trybuild runs each pass case as well as building it. Every pass case
    // picks a loopback address with port 0 and a timeout of milliseconds, so
    // it serves briefly and exits 0; overrides left in the developer's shell
    // must not change that.
    for name in [
        idle_runtime::ENV_TIMEOUT,
        idle_runtime::ENV_STATE,
        idle_runtime::ENV_GRACE,
        idle_runtime::ENV_PORT,
        idle_runtime::ENV_MODE,
        idle_runtime::ENV_SOCKET_MODE,
    ] {
        std::env::remove_var(name);
    }
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
