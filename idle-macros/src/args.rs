//! Stage one: read the attribute's keys, each with the span of its value, and
//! check each value on its own.
//!
//! Every problem becomes a `syn::Error` on the offending token; all of them
//! are collected (with `Error::combine`) so that one build reports them all.

use std::net::SocketAddr;
use std::time::Duration;

use idle_duration::Timeout;
use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Lit, LitStr, Token};

/// The keys, in the order the docs list them.
pub(crate) const KEYS: [&str; 11] = [
    "timeout",
    "cold_start_cost",
    "state",
    "grace",
    "addr",
    "ignore",
    "ignore_header",
    "status",
    "max_lifetime",
    "on_shutdown",
    "crate",
];

/// Where to listen: `addr = "ip:port"` or `addr = "unix:/path"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Addr {
    Ip(SocketAddr),
    /// An absolute path.
    Unix(String),
}

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

enum Value {
    Timeout(Timeout),
    Duration(Duration),
    State(String),
    Addr(Addr),
    Ignore(Vec<String>),
    IgnoreHeader(Vec<String>),
    Status(String),
    Hook(syn::Path),
    Crate(syn::Path),
}

fn parse_value(key: &str, input: ParseStream) -> syn::Result<Value> {
    let value = match key {
        "timeout" => {
            let lit = string_literal(key, input)?;
            let timeout = idle_duration::parse_timeout(&lit.value()).map_err(|error| {
                syn::Error::new(
                    lit.span(),
                    format!(
                        "invalid `timeout`: {error}; expected {}",
                        idle_duration::TIMEOUT_EXPECTED
                    ),
                )
            })?;
            Value::Timeout(timeout)
        }
        "cold_start_cost" => {
            let lit = string_literal(key, input)?;
            let duration = idle_duration::parse(&lit.value()).map_err(|error| {
                syn::Error::new(
                    lit.span(),
                    format!(
                        "invalid `cold_start_cost`: {error}; expected {}",
                        idle_duration::EXPECTED
                    ),
                )
            })?;
            // The adaptive timeout chooses within 1 s to 1 h (see
            // idle_runtime::adaptive::{MIN_TIMEOUT, MAX_TIMEOUT}); its 2x
            // guarantee needs break-even, the cost itself, in that range.
            if duration < Duration::from_secs(1) || duration > Duration::from_secs(3600) {
                return Err(syn::Error::new(
                    lit.span(),
                    format!(
                        "invalid `cold_start_cost`: {:?} is outside 1s to 1h, the range the adaptive timeout chooses from",
                        lit.value()
                    ),
                ));
            }
            Value::Duration(duration)
        }
        "state" => {
            let lit = string_literal(key, input)?;
            let path = lit.value();
            if !std::path::Path::new(&path).is_absolute() {
                return Err(syn::Error::new(
                    lit.span(),
                    format!("invalid `state`: {path:?} is not an absolute path; expected a file path such as \"/var/lib/app/idle.state\""),
                ));
            }
            Value::State(path)
        }
        "grace" | "max_lifetime" => {
            let lit = string_literal(key, input)?;
            let duration = idle_duration::parse(&lit.value()).map_err(|error| {
                syn::Error::new(
                    lit.span(),
                    format!(
                        "invalid `{key}`: {error}; expected {}",
                        idle_duration::EXPECTED
                    ),
                )
            })?;
            Value::Duration(duration)
        }
        "addr" => {
            let lit = string_literal(key, input)?;
            let value = lit.value();
            let addr = match value.strip_prefix("unix:") {
                Some(path) if path.starts_with('/') => Addr::Unix(path.to_owned()),
                Some(_) => {
                    return Err(syn::Error::new(
                        lit.span(),
                        "invalid `addr`: a Unix socket path must be absolute, as in \"unix:/run/app.sock\"",
                    ))
                }
                None => Addr::Ip(value.parse::<SocketAddr>().map_err(|_| {
                    syn::Error::new(
                        lit.span(),
                        "invalid `addr`: expected an IP address and port such as \"0.0.0.0:8080\" or \"[::]:8080\" (host names are not resolved), or \"unix:\" and an absolute path",
                    )
                })?),
            };
            Value::Addr(addr)
        }
        "ignore" => Value::Ignore(ignore_paths(input)?),
        "ignore_header" => Value::IgnoreHeader(header_names(input)?),
        "status" => {
            let lit = string_literal(key, input)?;
            let path = lit.value();
            if !path.starts_with('/') {
                return Err(syn::Error::new(
                    lit.span(),
                    format!("the `status` route must start with `/`: write \"/{path}\""),
                ));
            }
            Value::Status(path)
        }
        "on_shutdown" => {
            if input.peek(LitStr) {
                return Err(input.error(
                    "expected a path to an async fn for `on_shutdown`, without quotes, such as `on_shutdown = flush_cache`",
                ));
            }
            let path: syn::Path = input.parse().map_err(|_| {
                input.error("expected a path to an async fn for `on_shutdown`, such as `on_shutdown = flush_cache`")
            })?;
            Value::Hook(path)
        }
        "crate" => {
            let lit = string_literal(key, input)?;
            let path = lit.parse::<syn::Path>().map_err(|_| {
                syn::Error::new(
                    lit.span(),
                    "invalid `crate`: expected a path to the runtime crate such as \"::idle_runtime\" or \"my_crate::idle\"",
                )
            })?;
            Value::Crate(path)
        }
        _ => unreachable!("checked against KEYS"),
    };
    Ok(value)
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

/// What a key's value looks like, for messages.
fn example(key: &str) -> &'static str {
    match key {
        "timeout" => "\"30s\"",
        "cold_start_cost" => "\"30s\"",
        "state" => "\"/var/lib/app/idle.state\"",
        "grace" => "\"10s\"",
        "addr" => "\"0.0.0.0:8080\"",
        "ignore" => "[\"/healthz\"]",
        "ignore_header" => "\"fly-healthcheck\"",
        "status" => "\"/_idle\"",
        "max_lifetime" => "\"12h\"",
        "on_shutdown" => "flush_cache",
        _ => "\"::idle_runtime\"",
    }
}

/// A string literal, or an error that names the key and shows an example.
fn string_literal(key: &str, input: ParseStream) -> syn::Result<LitStr> {
    if input.peek(LitStr) {
        return input.parse();
    }
    let found = describe_token(input);
    Err(input.error(format!(
        "expected a string literal for `{key}`, such as `{key} = {}`{found}",
        example(key)
    )))
}

fn describe_token(input: ParseStream) -> String {
    if input.is_empty() {
        return ", found nothing".to_owned();
    }
    match input.fork().parse::<Lit>() {
        Ok(Lit::Int(_)) => ", found an integer (durations need a unit, in quotes)".to_owned(),
        Ok(Lit::Float(_)) => ", found a number".to_owned(),
        Ok(Lit::Bool(_)) => ", found a boolean".to_owned(),
        Ok(Lit::Char(_)) => ", found a character literal".to_owned(),
        Ok(_) => ", found another kind of literal".to_owned(),
        Err(_) => String::new(),
    }
}

/// `["/a", "/b"]`: each a string literal that starts with `/`.
fn ignore_paths(input: ParseStream) -> syn::Result<Vec<String>> {
    if !input.peek(syn::token::Bracket) {
        let found = describe_token(input);
        let found = if input.peek(LitStr) {
            ", found a single string (put it in brackets)".to_owned()
        } else {
            found
        };
        return Err(input.error(format!(
            "expected an array of paths for `ignore`, such as `ignore = [\"/healthz\"]`{found}"
        )));
    }
    let content;
    syn::bracketed!(content in input);
    let items = Punctuated::<syn::Expr, Token![,]>::parse_terminated(&content)?;
    let mut paths = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for item in items {
        let result = match &item {
            syn::Expr::Lit(syn::ExprLit {
                lit: Lit::Str(lit), ..
            }) => {
                let path = lit.value();
                if path.starts_with('/') {
                    paths.push(path);
                    Ok(())
                } else {
                    Err(syn::Error::new(
                        lit.span(),
                        format!("ignored paths must start with `/`: write \"/{path}\""),
                    ))
                }
            }
            other => Err(syn::Error::new_spanned(
                other,
                "expected a string literal path for `ignore`, such as \"/healthz\"",
            )),
        };
        if let Err(error) = result {
            match &mut errors {
                Some(errors) => errors.combine(error),
                None => errors = Some(error),
            }
        }
    }
    match errors {
        Some(errors) => Err(errors),
        None => Ok(paths),
    }
}

/// `"name"` or `["name", ...]`: HTTP header names, returned lowercased.
fn header_names(input: ParseStream) -> syn::Result<Vec<String>> {
    let literals: Vec<LitStr> = if input.peek(LitStr) {
        vec![input.parse()?]
    } else if input.peek(syn::token::Bracket) {
        let content;
        syn::bracketed!(content in input);
        let items = Punctuated::<syn::Expr, Token![,]>::parse_terminated(&content)?;
        items
            .into_iter()
            .map(|item| match item {
                syn::Expr::Lit(syn::ExprLit {
                    lit: Lit::Str(lit), ..
                }) => Ok(lit),
                other => Err(syn::Error::new_spanned(
                    other,
                    "expected a string literal header name such as \"fly-healthcheck\"",
                )),
            })
            .collect::<syn::Result<_>>()?
    } else {
        let found = describe_token(input);
        return Err(input.error(format!(
            "expected a header name or an array of them for `ignore_header`, such as `ignore_header = \"fly-healthcheck\"`{found}"
        )));
    };
    let mut names = Vec::new();
    for lit in literals {
        let name = lit.value();
        // RFC 9110 token characters.
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid {
            return Err(syn::Error::new(
                lit.span(),
                format!("invalid header name {name:?} for `ignore_header`: expected letters, digits and `-` such as \"fly-healthcheck\""),
            ));
        }
        names.push(name.to_ascii_lowercase());
    }
    Ok(names)
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

fn unknown_key(key: &syn::Ident) -> syn::Error {
    let name = key.to_string();
    let known = KEYS.map(|k| format!("`{k}`")).join(", ");
    let message = match closest(&name) {
        Some(near) => format!("unknown key `{name}`; did you mean `{near}`? The keys are {known}"),
        None => format!("unknown key `{name}`; the keys are {known}"),
    };
    syn::Error::new(key.span(), message)
}

/// The known key within edit distance 2 of `name` (or `name` with `_`
/// removed), if one is.
fn closest(name: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|key| (edit_distance(name, key), *key))
        .filter(|(distance, key)| *distance <= 2.min(key.len() - 1))
        .min()
        .map(|(_, key)| key)
}

/// Levenshtein distance, for "did you mean". Keys are short ASCII words.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
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

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("timeout", "timeout"), 0);
        assert_eq!(edit_distance("timout", "timeout"), 1);
        assert_eq!(edit_distance("tiemout", "timeout"), 2);
        assert_eq!(edit_distance("", "addr"), 4);
    }
}
