//! Checks on handler method signatures, with errors at the user's span.

use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, PathArguments, ReturnType, Signature, Type};

/// The method must be `async fn` taking `&self`.
pub(crate) fn check_async_ref_self(sig: &Signature) -> syn::Result<()> {
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            format!("handler method `{}` must be an `async fn`", sig.ident),
        ));
    }
    match sig.inputs.first() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => Ok(()),
        Some(other) => Err(syn::Error::new(
            other.span(),
            format!("handler method `{}` must take `&self`", sig.ident),
        )),
        None => Err(syn::Error::new(
            sig.ident.span(),
            format!("handler method `{}` must take `&self`", sig.ident),
        )),
    }
}

/// The last path segment of a type, e.g. `Sender` for `micro_runtime::Sender<T>`.
fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        _ => None,
    }
}

/// `T` when `ty` is `<name><T, ...>`.
pub(crate) fn generic_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let segment = last_segment(ty)?;
    if segment.ident != name {
        return None;
    }
    match &segment.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        }),
        _ => None,
    }
}

/// `T` of a `-> Result<T>` return type.
pub(crate) fn result_ok_type(sig: &Signature) -> syn::Result<&Type> {
    let ReturnType::Type(_, ty) = &sig.output else {
        return Err(syn::Error::new(
            sig.paren_token.span.close(),
            format!(
                "handler method `{}` must return `micro_runtime::Result<_>`",
                sig.ident
            ),
        ));
    };
    generic_arg(ty, "Result").ok_or_else(|| {
        syn::Error::new(
            ty.span(),
            format!(
                "handler method `{}` must return `micro_runtime::Result<_>`",
                sig.ident
            ),
        )
    })
}

/// True for the unit type `()`.
pub(crate) fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}
