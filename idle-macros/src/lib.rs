//! The `#[idle_server]` attribute. Depend on `idle-runtime`, which re-exports
//! it as `idle_runtime::idle_server` and documents it; this crate only parses
//! and checks the attribute and emits code that calls into `idle-runtime`.
//!
//! Three stages, one module each: `args` collects the keys with their
//! spans, `signature` checks the function, `expand` writes the code.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use proc_macro::TokenStream;

mod args;
mod expand;
mod signature;

/// Turns `async fn main() -> axum::Router` into a `main` that serves the
/// router until it is idle. See `idle_runtime::idle_server` for the docs.
#[proc_macro_attribute]
pub fn idle_server(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::idle_server(args.into(), item.into()).into()
}
