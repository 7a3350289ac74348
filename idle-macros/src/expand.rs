//! Stage three: write the code. The user's function is kept whole, renamed
//! `__idle_server_<name>`, inside a plain `fn <name>() -> ExitCode` that hands
//! it to `<crate>::__private::run`. Generated code names only
//! `<crate>::__private::...`, `::core` and `::std`.
//!
//! On any error the user's function is still emitted (under the hidden name,
//! so IDEs keep working) with a stub `fn <name>() {}` beside it, so that the
//! only errors are ours: no cascade such as "`main` function not found".

use std::net::SocketAddr;
use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType, Signature};

use crate::args::Addr;
use crate::{args, signature};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_GRACE: Duration = Duration::from_secs(10);
const DEFAULT_COLD_START_COST: Duration = Duration::from_secs(30);
const DEFAULT_ADDR: &str = "0.0.0.0:8080";

pub(crate) fn idle_server(args: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "`#[idle_server]` goes on a function: `async fn main() -> axum::Router { ... }`",
            );
            let error = error.into_compile_error();
            return quote!(#error #item);
        }
    };
    let args = args::parse(args);
    // With `#[tokio::main]` the rest of the signature is tokio's, not the
    // user's: report that alone.
    let signature = match signature::tokio_main(&function) {
        Some(error) => Err(error),
        None => signature::check(&function.sig),
    };
    match (args, signature) {
        (Ok(args), Ok(())) => generate(function, args),
        (Err(mut errors), Err(more)) => {
            errors.combine(more);
            with_errors(function, errors)
        }
        (Err(errors), Ok(())) | (Ok(_), Err(errors)) => with_errors(function, errors),
    }
}

/// The `fn <name>() -> ExitCode` that holds the user's function, renamed,
/// and hands it to `<crate>::__private::run` with the attribute's values.
fn generate(function: ItemFn, args: args::Args) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
        ..
    } = function;
    let name = sig.ident.clone();
    let inner = format_ident!("__idle_server_{}", name);
    let mut inner_sig = sig.clone();
    inner_sig.ident = inner.clone();

    let krate = args
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::idle_runtime));
    let macro_config = macro_config(&args, &krate);
    let setup = setup_future(&sig, &krate, &inner);

    quote! {
        #(#attrs)*
        #vis fn #name() -> ::std::process::ExitCode {
            #inner_sig #block

            #krate::__private::run(
                #macro_config,
                #setup,
            )
        }
    }
}

/// The attribute's values as a `MacroConfig` literal, defaults filled in:
/// plain numbers and strings, nothing left to parse at run time.
fn macro_config(args: &args::Args, krate: &syn::Path) -> TokenStream {
    let (timeout_ms, auto_timeout) = timeout(args);
    let state = option(args.state.as_ref());
    let grace_ms = millis(args.grace.unwrap_or(DEFAULT_GRACE));
    let addr = listen_addr(args.addr.as_ref(), krate);
    let ignore = args.ignore.as_deref().unwrap_or_default();
    let ignore_headers = args.ignore_header.as_deref().unwrap_or_default();
    let max_lifetime = option(args.max_lifetime.map(millis));
    let status = option(args.status.as_ref());
    let on_shutdown = shutdown_hook(args.on_shutdown.as_ref(), krate);
    quote! {
        #krate::__private::MacroConfig {
            timeout_ms: #timeout_ms,
            auto_cold_start_cost_ms: #auto_timeout,
            state: #state,
            grace_ms: #grace_ms,
            addr: #addr,
            ignore: &[#(#ignore),*],
            ignore_headers: &[#(#ignore_headers),*],
            max_lifetime_ms: #max_lifetime,
            status: #status,
            on_shutdown: #on_shutdown,
        }
    }
}

/// `timeout_ms` (the default with `auto`) and `auto_cold_start_cost_ms`
/// (`Some` with `auto` only).
fn timeout(args: &args::Args) -> (u64, TokenStream) {
    match args.timeout {
        Some(idle_duration::Timeout::Auto) => {
            let cost = millis(
                args.cold_start_cost
                    .map_or(DEFAULT_COLD_START_COST, |(cost, _)| cost),
            );
            (
                millis(DEFAULT_TIMEOUT),
                quote!(::core::option::Option::Some(#cost)),
            )
        }
        Some(idle_duration::Timeout::Fixed(timeout)) => {
            (millis(timeout), quote!(::core::option::Option::None))
        }
        None => (
            millis(DEFAULT_TIMEOUT),
            quote!(::core::option::Option::None),
        ),
    }
}

/// `addr` as a `ListenAddr`, built from its parts.
fn listen_addr(addr: Option<&Addr>, krate: &syn::Path) -> TokenStream {
    match addr {
        Some(Addr::Unix(path)) => {
            quote!(#krate::__private::ListenAddr::Unix(::std::path::PathBuf::from(#path)))
        }
        Some(Addr::Ip(addr)) => {
            let addr = socket_addr(*addr);
            quote!(#krate::__private::ListenAddr::Tcp(#addr))
        }
        None => {
            let addr = socket_addr(DEFAULT_ADDR.parse().expect("the default address parses"));
            quote!(#krate::__private::ListenAddr::Tcp(#addr))
        }
    }
}

/// `on_shutdown`, boxed by a function whose bound checks its signature.
fn shutdown_hook(path: Option<&syn::Path>, krate: &syn::Path) -> TokenStream {
    match path {
        // The hook's signature is checked where the user named it.
        Some(path) => {
            let span = path.span();
            let krate = respan(krate.to_token_stream(), span);
            quote_spanned!(span=> ::core::option::Option::Some(#krate::__private::shutdown_hook(#path)))
        }
        None => quote!(::core::option::Option::None),
    }
}

/// The future `run` awaits for the router: the user's function, its
/// `Router` or `Result<Router, E>` unified, `E` described as a message.
fn setup_future(sig: &Signature, krate: &syn::Path, inner: &syn::Ident) -> TokenStream {
    // The glue that depends on the return type is spanned on it, so that a
    // wrong type is reported on the user's `-> T`, not in generated code.
    let return_span = match &sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => sig.ident.span(),
    };
    // Every token of these, the crate path included, must carry the return
    // type's span, or the compiler reports the error on the attribute.
    let spanned_krate = respan(krate.to_token_stream(), return_span);
    let output = syn::Ident::new("__idle_output", return_span);
    let into_result = quote_spanned!(return_span=>
        #spanned_krate::__private::SetupOutput::into_setup_result(#output)
    );
    let describe = quote_spanned!(return_span=>
        (&#spanned_krate::__private::SetupError(&error)).via().describe(&error)
    );
    quote! {
        async {
            #[allow(unused_imports)]
            use #krate::__private::{ViaDebug as _, ViaDisplay as _};
            let #output = #inner().await;
            match #into_result {
                ::core::result::Result::Ok(router) => ::core::result::Result::Ok(router),
                ::core::result::Result::Err(error) => ::core::result::Result::Err(#describe),
            }
        }
    }
}

/// `Some(value)` or `None`, as tokens.
fn option(value: Option<impl ToTokens>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}

fn with_errors(mut function: ItemFn, errors: syn::Error) -> TokenStream {
    let name = function.sig.ident.clone();
    let vis = function.vis.clone();
    function.sig.ident = format_ident!("__idle_server_{}", name);
    // Reported already; left in, it would report errors of its own.
    function
        .attrs
        .retain(|attr| !signature::is_tokio_main(attr));
    let errors = errors.into_compile_error();
    quote! {
        #[allow(dead_code)]
        #function
        #vis fn #name() {}
        #errors
    }
}

/// `tokens` with every span, nested ones included, set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(group) = &tree {
                let mut new =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                new.set_span(span);
                tree = proc_macro2::TokenTree::Group(new);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

fn millis(duration: Duration) -> u64 {
    // Durations come from `idle_duration::parse`, which counts in u64 ms.
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `SocketAddr` built from its parts, so nothing is parsed at run time.
fn socket_addr(addr: SocketAddr) -> TokenStream {
    match addr {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            let port = v4.port();
            quote! {
                ::std::net::SocketAddr::V4(::std::net::SocketAddrV4::new(
                    ::std::net::Ipv4Addr::new(#a, #b, #c, #d), #port,
                ))
            }
        }
        SocketAddr::V6(v6) => {
            let segments = v6.ip().segments();
            let (port, flowinfo, scope) = (v6.port(), v6.flowinfo(), v6.scope_id());
            quote! {
                ::std::net::SocketAddr::V6(::std::net::SocketAddrV6::new(
                    ::std::net::Ipv6Addr::new(#(#segments),*), #port, #flowinfo, #scope,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(args: TokenStream, item: TokenStream) -> String {
        idle_server(args, item).to_token_stream().to_string()
    }

    #[test]
    fn generated_code_uses_only_the_crate_path_and_std() {
        let code = expand(
            quote!(crate = "my::rt", timeout = "1m", ignore = ["/healthz"]),
            quote!(
                async fn main() -> axum::Router {
                    axum::Router::new()
                }
            ),
        );
        assert!(code.contains("my :: rt :: __private :: run"), "{code}");
        assert!(!code.contains("idle_runtime"), "{code}");
        assert!(code.contains("timeout_ms : 60000u64"), "{code}");
        assert!(code.contains("\"/healthz\""), "{code}");
        assert!(
            code.contains("async fn __idle_server_main () -> axum :: Router"),
            "{code}"
        );
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let code = expand(
            quote!(),
            quote!(
                async fn main() -> Router {
                    Router::new()
                }
            ),
        );
        assert!(
            code.contains(":: idle_runtime :: __private :: run"),
            "{code}"
        );
        assert!(code.contains("timeout_ms : 30000u64"), "{code}");
        assert!(code.contains("grace_ms : 10000u64"), "{code}");
        assert!(
            code.contains("Ipv4Addr :: new (0u8 , 0u8 , 0u8 , 0u8) , 8080u16"),
            "{code}"
        );
    }

    #[test]
    fn auto_passes_the_cold_start_cost_and_the_state_file() {
        let code = expand(
            quote!(timeout = "auto", cold_start_cost = "2s", state = "/s/idle"),
            quote!(
                async fn main() -> Router {
                    Router::new()
                }
            ),
        );
        assert!(
            code.contains(
                "auto_cold_start_cost_ms : :: core :: option :: Option :: Some (2000u64)"
            ),
            "{code}"
        );
        assert!(
            code.contains("state : :: core :: option :: Option :: Some (\"/s/idle\")"),
            "{code}"
        );
        let default = expand(
            quote!(timeout = "auto"),
            quote!(
                async fn main() -> Router {
                    Router::new()
                }
            ),
        );
        assert!(default.contains("Some (30000u64)"), "{default}");
    }

    #[test]
    fn errors_keep_the_function_and_stub_main() {
        let code = expand(
            quote!(timeout = "soon"),
            quote!(
                async fn main() -> Router {
                    Router::new()
                }
            ),
        );
        assert!(code.contains("compile_error"), "{code}");
        assert!(code.contains("async fn __idle_server_main"), "{code}");
        assert!(code.contains("fn main () { }"), "{code}");
    }
}
