//! `#[service(...)]` arguments and `#[micro(...)]` method options.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, LitBool, LitStr, Token};

/// Arguments of `#[service(...)]`.
#[derive(Default)]
pub(crate) struct ServiceArgs {
    /// Handler name (code-first), default the type's name.
    pub(crate) name: Option<LitStr>,
    /// Path of the runtime crate, default `::micro_runtime`.
    pub(crate) krate: Option<syn::Path>,
}

impl ServiceArgs {
    pub(crate) fn runtime(&self) -> TokenStream {
        match &self.krate {
            Some(path) => quote!(#path),
            None => quote!(::micro_runtime),
        }
    }
}

impl Parse for ServiceArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = ServiceArgs::default();
        while !input.is_empty() {
            let key: syn::Ident = if input.peek(Token![crate]) {
                let kw: Token![crate] = input.parse()?;
                syn::Ident::new("crate", kw.span)
            } else {
                input.parse()?
            };
            input.parse::<Token![=]>()?;
            let value: LitStr = input.parse()?;
            match key.to_string().as_str() {
                "name" => args.name = Some(value),
                "crate" => args.krate = Some(value.parse()?),
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        "unknown #[service] argument; expected `name = \"...\"` or `crate = \"...\"`",
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// Options of one method from its `#[micro(...)]` attributes.
#[derive(Default)]
pub(crate) struct MethodAttrs {
    pub(crate) idempotent: Option<bool>,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) name: Option<String>,
    pub(crate) skip: bool,
}

/// Reads and removes the `#[micro(...)]` attributes of a method.
pub(crate) fn take_method_attrs(attrs: &mut Vec<Attribute>) -> syn::Result<MethodAttrs> {
    let mut out = MethodAttrs::default();
    let mut error: Option<syn::Error> = None;
    attrs.retain(|attr| {
        if !attr.path().is_ident("micro") {
            return true;
        }
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("idempotent") {
                out.idempotent = Some(if meta.input.peek(Token![=]) {
                    meta.value()?.parse::<LitBool>()?.value
                } else {
                    true
                });
            } else if meta.path.is_ident("timeout") {
                let lit: LitStr = meta.value()?.parse()?;
                out.timeout_ms = Some(parse_millis(&lit.value()).ok_or_else(|| {
                    syn::Error::new(lit.span(), "expected a duration such as \"250ms\", \"2s\" or \"1m\"")
                })?);
            } else if meta.path.is_ident("name") {
                out.name = Some(meta.value()?.parse::<LitStr>()?.value());
            } else if meta.path.is_ident("skip") {
                out.skip = true;
            } else {
                return Err(meta.error(
                    "unknown micro option; expected `idempotent`, `timeout = \"..\"`, `name = \"..\"` or `skip`",
                ));
            }
            Ok(())
        });
        if let Err(e) = parsed {
            match &mut error {
                Some(first) => first.combine(e),
                None => error = Some(e),
            }
        }
        false
    });
    match error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// `"250ms"`, `"2s"`, `"1m"`, `"1h"` in milliseconds.
fn parse_millis(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => None,
    }
}

/// A `#[subscriber(topic = "..", queue = "..", concurrency = N)]` attribute.
pub(crate) struct SubscriberAttrs {
    pub(crate) topic: String,
    pub(crate) queue: Option<String>,
    pub(crate) concurrency: Option<usize>,
}

fn is_subscriber(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "subscriber")
}

/// Reads and removes a `#[subscriber(...)]` attribute of a method.
pub(crate) fn take_subscriber_attr(
    attrs: &mut Vec<Attribute>,
) -> syn::Result<Option<SubscriberAttrs>> {
    let Some(index) = attrs.iter().position(is_subscriber) else {
        return Ok(None);
    };
    let attr = attrs.remove(index);
    let mut topic: Option<String> = None;
    let mut queue = None;
    let mut concurrency = None;
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("topic") {
            topic = Some(meta.value()?.parse::<LitStr>()?.value());
        } else if meta.path.is_ident("queue") {
            queue = Some(meta.value()?.parse::<LitStr>()?.value());
        } else if meta.path.is_ident("concurrency") {
            let n: syn::LitInt = meta.value()?.parse()?;
            concurrency = Some(n.base10_parse()?);
        } else {
            return Err(meta.error(
                "unknown subscriber option; expected `topic = \"..\"`, `queue = \"..\"` or `concurrency = N`",
            ));
        }
        Ok(())
    })?;
    let topic = topic
        .filter(|t| !t.is_empty())
        .ok_or_else(|| syn::Error::new_spanned(&attr, "a subscriber needs `topic = \"...\"`"))?;
    Ok(Some(SubscriberAttrs {
        topic,
        queue,
        concurrency,
    }))
}

/// Documentation lines of the `#[doc]` attributes.
pub(crate) fn docs(attrs: &[Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_millis;

    #[test]
    fn millis() {
        assert_eq!(parse_millis("250ms"), Some(250));
        assert_eq!(parse_millis("2s"), Some(2000));
        assert_eq!(parse_millis("1m"), Some(60_000));
        assert_eq!(parse_millis("2 s"), None);
        assert_eq!(parse_millis("s"), None);
    }
}
