//! Stage two: check that the function has the one shape the attribute
//! accepts: `async fn NAME() -> T` with no generics and no arguments. Whether
//! `T` is a `Router` or `Result<Router, E>` is left to the type checker (so
//! that aliases such as `anyhow::Result<Router>` work); the generated code
//! puts that error on `T` itself.

use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{GenericArgument, ItemFn, PathArguments, ReturnType, Signature, Type};

const SHAPE: &str =
    "`async fn main() -> axum::Router` or `async fn main() -> Result<axum::Router, E>`";

/// Every problem with the signature, combined into one error.
pub(crate) fn check(sig: &Signature) -> Result<(), syn::Error> {
    let mut errors: Vec<syn::Error> = Vec::new();
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span,
            format!("`#[idle_server]` functions must be `async`: {SHAPE}"),
        ));
    }
    if let Some(constness) = &sig.constness {
        errors.push(syn::Error::new(
            constness.span,
            "`#[idle_server]` functions cannot be `const`",
        ));
    }
    if let syn::Safety::Unsafe(token) = &sig.safety {
        errors.push(syn::Error::new(
            token.span,
            "`#[idle_server]` functions cannot be `unsafe`",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new(
            abi.span(),
            "`#[idle_server]` functions cannot declare an ABI",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let span = if sig.generics.params.is_empty() {
            sig.generics.where_clause.span()
        } else {
            sig.generics.params.span()
        };
        errors.push(syn::Error::new(
            span,
            "`#[idle_server]` functions cannot be generic: the server's `main` has no caller to choose the types",
        ));
    }
    if let Some(first) = sig.inputs.first() {
        errors.push(syn::Error::new(
            first.span(),
            "`#[idle_server]` functions take no arguments: read configuration inside the function (for example from the environment)",
        ));
    } else if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new(
            variadic.span(),
            "`#[idle_server]` functions take no arguments",
        ));
    }
    match &sig.output {
        ReturnType::Default => errors.push(syn::Error::new(
            sig.ident.span(),
            format!("`#[idle_server]` functions must return the router to serve: {SHAPE}"),
        )),
        // A generic function is reported as such; its `Router<S>` follows.
        ReturnType::Type(_, ty) if sig.generics.params.is_empty() => {
            errors.extend(router_with_state(ty));
        }
        ReturnType::Type(..) => {}
    }
    let mut errors = errors.into_iter();
    match errors.next() {
        None => Ok(()),
        Some(mut first) => {
            errors.for_each(|error| first.combine(error));
            Err(first)
        }
    }
}

/// `Router<S>` with a state type other than `()`, as the return type or as
/// the `Ok` type of a `Result`: the router has not been given its state.
/// Seen in the tokens, so that the message can name the fix; a state hidden
/// behind an alias is still caught by the type checker, less precisely.
fn router_with_state(ty: &Type) -> Option<syn::Error> {
    let segment = last_segment(ty)?;
    if segment.ident == "Result" {
        let ok = generic_types(segment).next()?;
        return router_with_state(ok);
    }
    if segment.ident != "Router" {
        return None;
    }
    let state = generic_types(segment).next()?;
    if matches!(state, Type::Tuple(unit) if unit.elems.is_empty()) {
        return None;
    }
    let state = state.to_token_stream().to_string();
    Some(syn::Error::new_spanned(
        ty,
        format!(
            "a `Router<{state}>` still needs its state: `#[idle_server]` serves a `Router` (that is, `Router<()>`); return `Router` and give the router its state with `.with_state(state)`, which turns a `Router<{state}>` into a `Router`"
        ),
    ))
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        Type::Group(group) => last_segment(&group.elem),
        Type::Paren(paren) => last_segment(&paren.elem),
        _ => None,
    }
}

fn generic_types(segment: &syn::PathSegment) -> impl Iterator<Item = &Type> {
    let args = match &segment.arguments {
        PathArguments::AngleBracketed(args) => Some(args.args.iter()),
        _ => None,
    };
    args.into_iter().flatten().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

/// `#[tokio::main]` on the same function: both attributes build a runtime.
/// Below `#[idle_server]` it is still among the function's attributes;
/// above, it has already run, and left a function that is no longer `async`
/// and whose body builds a tokio runtime and blocks on the old body.
pub(crate) fn tokio_main(function: &ItemFn) -> Option<syn::Error> {
    const MESSAGE: &str = "`#[tokio::main]` and `#[idle_server]` both build a tokio runtime: remove `#[tokio::main]` (`#[idle_server]` starts a multi-threaded runtime itself)";
    if let Some(attr) = function.attrs.iter().find(|attr| is_tokio_main(attr)) {
        return Some(syn::Error::new_spanned(attr, MESSAGE));
    }
    if function.sig.asyncness.is_none() {
        let body = function.block.to_token_stream().to_string();
        if body.contains("runtime :: Builder") && body.contains("block_on") {
            return Some(syn::Error::new(function.sig.ident.span(), MESSAGE));
        }
    }
    None
}

/// `#[tokio::main]`, `#[::tokio::main(...)]`, or a renamed tokio's `main`
/// (`#[rt::main]` is not recognised: nothing says `rt` is tokio).
pub(crate) fn is_tokio_main(attr: &syn::Attribute) -> bool {
    let path = attr.path();
    path.segments.len() == 2
        && path.segments[0].ident == "tokio"
        && path.segments[1].ident == "main"
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::{parse_quote, ItemFn};

    fn errors(function: ItemFn) -> Vec<String> {
        match check(&function.sig) {
            Ok(()) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn accepts_both_return_shapes_and_aliases() {
        assert!(errors(parse_quote!(
            async fn main() -> axum::Router {
                todo!()
            }
        ))
        .is_empty());
        assert!(errors(parse_quote!(
            async fn main() -> Result<Router, Error> {
                todo!()
            }
        ))
        .is_empty());
        assert!(errors(parse_quote!(
            async fn serve() -> anyhow::Result<Router> {
                todo!()
            }
        ))
        .is_empty());
    }

    #[test]
    fn reports_each_problem() {
        let found = errors(parse_quote!(
            fn main<T>(port: u16) {}
        ));
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].contains("must be `async`"));
        assert!(found[1].contains("cannot be generic"));
        assert!(found[2].contains("take no arguments"));
        assert!(found[3].contains("must return the router"));
    }

    #[test]
    fn a_router_with_state_is_reported_with_the_fix() {
        for function in [
            parse_quote!(
                async fn main() -> Router<AppState> {
                    todo!()
                }
            ),
            parse_quote!(
                async fn main() -> Result<axum::Router<AppState>, Error> {
                    todo!()
                }
            ),
        ] {
            let found = errors(function);
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(found[0].contains(".with_state(state)"), "{found:?}");
            assert!(found[0].contains("Router<AppState>"), "{found:?}");
        }
        assert!(errors(parse_quote!(
            async fn main() -> Router<()> {
                todo!()
            }
        ))
        .is_empty());
    }

    #[test]
    fn tokio_main_is_reported_in_either_order() {
        let below: ItemFn = parse_quote!(
            #[tokio::main]
            async fn main() -> Router {
                todo!()
            }
        );
        assert!(tokio_main(&below).is_some());
        // What `#[tokio::main]` leaves when it runs first.
        let above: ItemFn = parse_quote!(
            fn main() -> Router {
                let body = async { todo!() };
                return ::tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                    .expect("Failed building the Runtime")
                    .block_on(body);
            }
        );
        assert!(tokio_main(&above).is_some());
        let plain: ItemFn = parse_quote!(
            async fn main() -> Router {
                todo!()
            }
        );
        assert!(tokio_main(&plain).is_none());
    }

    #[test]
    fn where_clauses_count_as_generics() {
        let found = errors(parse_quote!(
            async fn main() -> Router
            where
                (): Sized,
            {
                todo!()
            }
        ));
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("cannot be generic"));
    }
}
