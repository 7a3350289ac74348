//! Each key's value, checked on its own: one parser per key, each with the
//! messages of its mistakes. Combinations of keys are checked in `mod.rs`,
//! once every key is known.

use std::net::SocketAddr;
use std::time::Duration;

use idle_duration::Timeout;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::{Lit, LitStr, Token};

use super::keys::example;

/// Where to listen: `addr = "ip:port"` or `addr = "unix:/path"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Addr {
    Ip(SocketAddr),
    /// An absolute path.
    Unix(String),
}

/// A value, checked; `store` puts it in its key's slot.
pub(super) enum Value {
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

/// The value of `key`, one of `KEYS`, checked on its own.
pub(super) fn parse_value(key: &str, input: ParseStream) -> syn::Result<Value> {
    match key {
        "timeout" => timeout(input).map(Value::Timeout),
        "cold_start_cost" => cold_start_cost(input).map(Value::Duration),
        "state" => state(input).map(Value::State),
        "grace" | "max_lifetime" => duration(key, input).map(Value::Duration),
        "addr" => addr(input).map(Value::Addr),
        "ignore" => ignore_paths(input).map(Value::Ignore),
        "ignore_header" => header_names(input).map(Value::IgnoreHeader),
        "status" => status(input).map(Value::Status),
        "on_shutdown" => hook(input).map(Value::Hook),
        "crate" => crate_path(input).map(Value::Crate),
        _ => unreachable!("checked against KEYS"),
    }
}

/// `timeout = "30s"` or `"auto"`.
fn timeout(input: ParseStream) -> syn::Result<Timeout> {
    let lit = string_literal("timeout", input)?;
    idle_duration::parse_timeout(&lit.value()).map_err(|error| {
        syn::Error::new(
            lit.span(),
            format!(
                "invalid `timeout`: {error}; expected {}",
                idle_duration::TIMEOUT_EXPECTED
            ),
        )
    })
}

/// `cold_start_cost = "30s"`, within 1 s to 1 h.
fn cold_start_cost(input: ParseStream) -> syn::Result<Duration> {
    let lit = string_literal("cold_start_cost", input)?;
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
    Ok(duration)
}

/// `state = "/absolute/path"`.
fn state(input: ParseStream) -> syn::Result<String> {
    let lit = string_literal("state", input)?;
    let path = lit.value();
    if !std::path::Path::new(&path).is_absolute() {
        return Err(syn::Error::new(
            lit.span(),
            format!("invalid `state`: {path:?} is not an absolute path; expected a file path such as \"/var/lib/app/idle.state\""),
        ));
    }
    Ok(path)
}

/// `grace` or `max_lifetime`: a duration.
fn duration(key: &str, input: ParseStream) -> syn::Result<Duration> {
    let lit = string_literal(key, input)?;
    idle_duration::parse(&lit.value()).map_err(|error| {
        syn::Error::new(
            lit.span(),
            format!(
                "invalid `{key}`: {error}; expected {}",
                idle_duration::EXPECTED
            ),
        )
    })
}

/// `addr = "ip:port"` or `"unix:/absolute/path"`.
fn addr(input: ParseStream) -> syn::Result<Addr> {
    let lit = string_literal("addr", input)?;
    let value = lit.value();
    match value.strip_prefix("unix:") {
        Some(path) if path.starts_with('/') => Ok(Addr::Unix(path.to_owned())),
        Some(_) => Err(syn::Error::new(
            lit.span(),
            "invalid `addr`: a Unix socket path must be absolute, as in \"unix:/run/app.sock\"",
        )),
        None => value.parse::<SocketAddr>().map(Addr::Ip).map_err(|_| {
            syn::Error::new(
                lit.span(),
                "invalid `addr`: expected an IP address and port such as \"0.0.0.0:8080\" or \"[::]:8080\" (host names are not resolved), or \"unix:\" and an absolute path",
            )
        }),
    }
}

/// `status = "/path"`.
fn status(input: ParseStream) -> syn::Result<String> {
    let lit = string_literal("status", input)?;
    let path = lit.value();
    if !path.starts_with('/') {
        return Err(syn::Error::new(
            lit.span(),
            format!("the `status` route must start with `/`: write \"/{path}\""),
        ));
    }
    Ok(path)
}

/// `on_shutdown = path::to::async_fn`, without quotes.
fn hook(input: ParseStream) -> syn::Result<syn::Path> {
    if input.peek(LitStr) {
        return Err(input.error(
            "expected a path to an async fn for `on_shutdown`, without quotes, such as `on_shutdown = flush_cache`",
        ));
    }
    input.parse().map_err(|_| {
        input.error(
            "expected a path to an async fn for `on_shutdown`, such as `on_shutdown = flush_cache`",
        )
    })
}

/// `crate = "path::to::idle_runtime"`.
fn crate_path(input: ParseStream) -> syn::Result<syn::Path> {
    let lit = string_literal("crate", input)?;
    lit.parse::<syn::Path>().map_err(|_| {
        syn::Error::new(
            lit.span(),
            "invalid `crate`: expected a path to the runtime crate such as \"::idle_runtime\" or \"my_crate::idle\"",
        )
    })
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
