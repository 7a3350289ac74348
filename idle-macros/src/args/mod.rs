//! Stage one: read the attribute's keys, each with the span of its value, and
//! check each value on its own.
//!
//! Every problem becomes a `syn::Error` on the offending token; all of them
//! are collected (with `Error::combine`) so that one build reports them all.
//!
//! STYLE.md's model parses with `syn::meta::parser`; that stops at the first
//! error, so `parse_all` walks the `key = value` pairs itself and goes on
//! after a bad one. This file holds that walk and the checks of key
//! combinations; `value.rs` one parser per key; `keys.rs` the key names and
//! "did you mean".

use std::time::Duration;

use idle_duration::Timeout;
use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::Token;

mod keys;
mod value;

use keys::{example, unknown_key, KEYS};
pub(crate) use value::Addr;
use value::{parse_value, Value};

/// The attribute's values after checking. `None`: the key was not given.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) timeout: Option<Timeout>,
    /// With the span of its key, for the check that it goes with `auto`.
    pub(crate) cold_start_cost: Option<(Duration, Span)>,
    /// The adaptive timeout's state file, an absolute path.
    pub(crate) state: Option<String>,
    pub(crate) grace: Option<Duration>,
    pub(crate) addr: Option<Addr>,
    pub(crate) ignore: Option<Vec<String>>,
    /// Header names, lowercased.
    pub(crate) ignore_header: Option<Vec<String>>,
    /// Path of the status route.
    pub(crate) status: Option<String>,
    pub(crate) max_lifetime: Option<Duration>,
    /// The shutdown hook, a path to an async fn.
    pub(crate) on_shutdown: Option<syn::Path>,
    pub(crate) krate: Option<syn::Path>,
}

/// Parses the attribute's arguments, collecting every error.
pub(crate) fn parse(tokens: TokenStream) -> Result<Args, syn::Error> {
    let mut args = Args::default();
    let mut errors: Option<syn::Error> = None;
    let mut report = |error: syn::Error| match &mut errors {
        Some(errors) => errors.combine(error),
        None => errors = Some(error),
    };
    let parser = |input: ParseStream| parse_all(input, &mut args, &mut report);
    if let Err(error) = parser.parse2(tokens) {
        report(error);
    }
    // Combinations, once every key is known.
    if let Some((_, span)) = args.cold_start_cost {
        if args.timeout != Some(Timeout::Auto) {
            report(syn::Error::new(
                span,
                "`cold_start_cost` applies only to the adaptive timeout: add `timeout = \"auto\"`, or remove `cold_start_cost`",
            ));
        }
    }
    match errors {
        Some(errors) => Err(errors),
        None => Ok(args),
    }
}

/// `key = value, ...`: like `syn::meta::parser`, but it keeps going after a
/// bad value so that every mistake is reported in one build.
fn parse_all(
    input: ParseStream,
    args: &mut Args,
    report: &mut impl FnMut(syn::Error),
) -> syn::Result<()> {
    // Keys given so far, valid or not, so that a duplicate is reported even
    // when the first value was rejected.
    let mut seen: Vec<String> = Vec::new();
    while !input.is_empty() {
        let key: syn::Ident = input.call(syn::ext::IdentExt::parse_any)?;
        let name = key.to_string();
        if seen.contains(&name) && KEYS.contains(&name.as_str()) {
            report(syn::Error::new(
                key.span(),
                format!("duplicate key `{name}`: give each key once"),
            ));
            skip_value(input)?;
        } else if !KEYS.contains(&name.as_str()) {
            report(unknown_key(&key));
            skip_value(input)?;
        } else if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                key.span(),
                format!("expected `{name} = {}`", example(&name)),
            ));
        } else {
            seen.push(name.clone());
            input.parse::<Token![=]>()?;
            match parse_value(&name, input) {
                Ok(value) => {
                    if let Err(error) = store(args, &key, value) {
                        report(error);
                    }
                }
                Err(error) => {
                    report(error);
                    // Skip what is left of the bad value.
                    while !input.is_empty() && !input.peek(Token![,]) {
                        input.parse::<proc_macro2::TokenTree>()?;
                    }
                }
            }
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(())
}

fn store(args: &mut Args, key: &syn::Ident, value: Value) -> syn::Result<()> {
    fn set<T>(slot: &mut Option<T>, key: &syn::Ident, value: T) -> syn::Result<()> {
        if slot.is_some() {
            return Err(syn::Error::new(
                key.span(),
                format!("duplicate key `{key}`: give each key once"),
            ));
        }
        *slot = Some(value);
        Ok(())
    }
    match (key.to_string().as_str(), value) {
        ("timeout", Value::Timeout(t)) => set(&mut args.timeout, key, t),
        ("cold_start_cost", Value::Duration(d)) => {
            set(&mut args.cold_start_cost, key, (d, key.span()))
        }
        ("state", Value::State(path)) => set(&mut args.state, key, path),
        ("grace", Value::Duration(d)) => set(&mut args.grace, key, d),
        ("max_lifetime", Value::Duration(d)) => set(&mut args.max_lifetime, key, d),
        ("status", Value::Status(path)) => set(&mut args.status, key, path),
        ("on_shutdown", Value::Hook(path)) => set(&mut args.on_shutdown, key, path),
        ("addr", Value::Addr(a)) => set(&mut args.addr, key, a),
        ("ignore", Value::Ignore(paths)) => set(&mut args.ignore, key, paths),
        ("ignore_header", Value::IgnoreHeader(names)) => set(&mut args.ignore_header, key, names),
        ("crate", Value::Crate(path)) => set(&mut args.krate, key, path),
        _ => unreachable!("parse_value returns the kind of its key"),
    }
}

fn skip_value(input: ParseStream) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
    }
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn error_of(tokens: TokenStream) -> String {
        match parse(tokens) {
            Ok(_) => panic!("expected an error"),
            Err(errors) => errors
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn reads_every_key() {
        let args = parse(quote!(
            timeout = "1m30s",
            grace = "500ms",
            addr = "127.0.0.1:3000",
            ignore = ["/healthz", "/ready"],
            crate = "my::rt"
        ))
        .unwrap();
        assert_eq!(
            args.timeout.unwrap(),
            Timeout::Fixed(Duration::from_secs(90))
        );
        assert_eq!(args.grace.unwrap(), Duration::from_millis(500));
        assert_eq!(
            args.addr.unwrap(),
            Addr::Ip("127.0.0.1:3000".parse().unwrap())
        );
        assert_eq!(args.ignore.unwrap(), ["/healthz", "/ready"]);
        let krate = args.krate.unwrap();
        assert_eq!(quote!(#krate).to_string(), "my :: rt");
    }

    #[test]
    fn nothing_is_fine_and_a_trailing_comma_too() {
        assert!(parse(quote!()).unwrap().timeout.is_none());
        assert!(parse(quote!(timeout = "1s",)).unwrap().timeout.is_some());
        assert_eq!(parse(quote!(ignore = [])).unwrap().ignore.unwrap().len(), 0);
    }

    #[test]
    fn unknown_keys_suggest_the_near_one() {
        assert!(error_of(quote!(timout = "1s")).contains("did you mean `timeout`?"));
        assert!(error_of(quote!(grase = "1s")).contains("did you mean `grace`?"));
        assert!(error_of(quote!(ignored = ["/a"])).contains("did you mean `ignore`?"));
        let far = error_of(quote!(port = 8080));
        assert!(!far.contains("did you mean"), "{far}");
        assert!(
            far.contains("`timeout`, `cold_start_cost`, `state`, `grace`, `addr`, `ignore`, `ignore_header`, `status`, `max_lifetime`, `on_shutdown`, `crate`"),
            "{far}"
        );
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let errors = error_of(quote!(
            timeout = "0s",
            grace = 10,
            colour = "red",
            timeout = "1s"
        ));
        assert_eq!(errors.lines().count(), 4, "{errors}");
        assert!(
            errors.contains("duplicate key `timeout`"),
            "even after a bad first value: {errors}"
        );
    }

    #[test]
    fn values_are_checked() {
        assert!(error_of(quote!(timeout = "30")).contains("has no unit"));
        assert!(error_of(quote!(timeout = "0ms")).contains("greater than zero"));
        assert!(error_of(quote!(grace = 10)).contains("found an integer"));
        assert!(error_of(quote!(addr = "localhost:80")).contains("host names"));
        assert!(error_of(quote!(addr = "unix:run/app.sock")).contains("must be absolute"));
        assert!(error_of(quote!(ignore = "/healthz")).contains("put it in brackets"));
        assert!(error_of(quote!(ignore = ["healthz"])).contains("write \"/healthz\""));
        assert!(error_of(quote!(crate = "not a path")).contains("invalid `crate`"));
        assert!(error_of(quote!(timeout)).contains("expected `timeout = \"30s\"`"));
        assert!(
            error_of(quote!(timeout = "1s", timeout = "2s")).contains("duplicate key `timeout`")
        );
    }

    #[test]
    fn lifecycle_keys() {
        let args = parse(quote!(
            status = "/_idle",
            max_lifetime = "12h",
            on_shutdown = state::flush
        ))
        .unwrap();
        assert_eq!(args.status.unwrap(), "/_idle");
        assert_eq!(args.max_lifetime.unwrap(), Duration::from_secs(12 * 3600));
        let hook = args.on_shutdown.unwrap();
        assert_eq!(quote!(#hook).to_string(), "state :: flush");
        assert!(error_of(quote!(status = "_idle")).contains("must start with `/`"));
        assert!(error_of(quote!(on_shutdown = "flush")).contains("without quotes"));
        assert!(error_of(quote!(max_lifetime = "0s")).contains("greater than zero"));
    }

    #[test]
    fn header_names_are_one_or_many_and_lowercased() {
        let one = parse(quote!(ignore_header = "Fly-Healthcheck")).unwrap();
        assert_eq!(one.ignore_header.unwrap(), ["fly-healthcheck"]);
        let many = parse(quote!(ignore_header = ["x-a", "X-B"])).unwrap();
        assert_eq!(many.ignore_header.unwrap(), ["x-a", "x-b"]);
        assert!(error_of(quote!(ignore_header = "bad header")).contains("invalid header name"));
        assert!(error_of(quote!(ignore_header = 1)).contains("found an integer"));
        assert!(error_of(quote!(ignore_headers = "x")).contains("did you mean `ignore_header`?"));
    }

    #[test]
    fn adaptive_keys() {
        let args = parse(quote!(
            timeout = "auto",
            cold_start_cost = "2s",
            state = "/var/lib/app/idle.state"
        ))
        .unwrap();
        assert_eq!(args.timeout, Some(Timeout::Auto));
        assert_eq!(args.cold_start_cost.unwrap().0, Duration::from_secs(2));
        assert_eq!(args.state.unwrap(), "/var/lib/app/idle.state");
        // `state` alone is fine: IDLE_TIMEOUT=auto may turn auto on.
        assert!(parse(quote!(timeout = "30s", state = "/s")).is_ok());
        let without_auto = error_of(quote!(cold_start_cost = "2s"));
        assert!(
            without_auto.contains("add `timeout = \"auto\"`"),
            "{without_auto}"
        );
        assert!(error_of(quote!(timeout = "10s", cold_start_cost = "2s")).contains("applies only"));
        assert!(error_of(quote!(timeout = "Auto")).contains("or \"auto\""));
        assert!(
            error_of(quote!(timeout = "auto", cold_start_cost = "500ms"))
                .contains("outside 1s to 1h")
        );
        assert!(
            error_of(quote!(timeout = "auto", cold_start_cost = "2h")).contains("outside 1s to 1h")
        );
        assert!(error_of(quote!(state = "idle.state")).contains("not an absolute path"));
        assert!(
            error_of(quote!(cold_start_costs = "2s")).contains("did you mean `cold_start_cost`?")
        );
    }
}
