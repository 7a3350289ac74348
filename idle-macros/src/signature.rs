//! Stage two: check that the function has the one shape the attribute
//! accepts: `async fn NAME() -> T` with no generics and no arguments. Whether
//! `T` is a `Router` or `Result<Router, E>` is left to the type checker (so
//! that aliases such as `anyhow::Result<Router>` work); the generated code
//! puts that error on `T` itself.

use syn::spanned::Spanned;
use syn::{ReturnType, Signature};

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
    if let ReturnType::Default = sig.output {
        errors.push(syn::Error::new(
            sig.ident.span(),
            format!("`#[idle_server]` functions must return the router to serve: {SHAPE}"),
        ));
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
