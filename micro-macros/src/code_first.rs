//! `#[service]` on an inherent impl: endpoints and a client without a .proto.

use heck::ToUpperCamelCase;
use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{FnArg, ImplItem, ItemImpl, Type, Visibility};

use crate::attrs::{ServiceArgs, SubscriberAttrs, docs, take_method_attrs, take_subscriber_attr};
use crate::signature::{check_async_ref_self, generic_arg, is_unit, result_ok_type};
use micro_gen::{Codecs, Kind, Method, Schemas, ServiceDef, SubscriberMethod, type_name};

const SHAPES: &str = "expected one of:\n  \
    async fn m(&self, ctx: Context, request: Req) -> Result<Rsp>\n  \
    async fn m(&self, ctx: Context, request: Req, responses: Sender<Rsp>) -> Result<()>\n  \
    async fn m(&self, ctx: Context, requests: Receiver<Req>) -> Result<Rsp>\n  \
    async fn m(&self, ctx: Context, requests: Receiver<Req>, responses: Sender<Rsp>) -> Result<()>";

pub(crate) fn expand(args: ServiceArgs, item: &mut ItemImpl) -> syn::Result<TokenStream> {
    let rt = args.runtime();
    let mut methods = Vec::new();
    let mut subscribers: Vec<(syn::Ident, SubscriberAttrs, Type)> = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        match take_subscriber_attr(&mut method.attrs) {
            Ok(Some(sub)) => {
                match subscriber_method(method, sub) {
                    Ok(s) => subscribers.push(s),
                    Err(e) => match &mut errors {
                        Some(first) => first.combine(e),
                        None => errors = Some(e),
                    },
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                match &mut errors {
                    Some(first) => first.combine(e),
                    None => errors = Some(e),
                }
                continue;
            }
        }
        let outcome = take_method_attrs(&mut method.attrs).and_then(|attrs| {
            if attrs.skip {
                return Ok(None);
            }
            check_async_ref_self(&method.sig)?;
            let (kind, request, response) = classify(&method.sig)?;
            Ok(Some(Method {
                wire_name: attrs
                    .name
                    .unwrap_or_else(|| method.sig.ident.to_string().to_upper_camel_case()),
                ident: method.sig.ident.clone(),
                request_name: type_name(&request),
                response_name: type_name(&response),
                request,
                response,
                kind,
                docs: docs(&method.attrs),
                idempotent: attrs.idempotent.unwrap_or(false),
                timeout_ms: attrs.timeout_ms,
            }))
        });
        match outcome {
            Ok(Some(m)) => methods.push(m),
            Ok(None) => {}
            Err(e) => match &mut errors {
                Some(first) => first.combine(e),
                None => errors = Some(e),
            },
        }
    }
    if let Some(errors) = errors {
        return Err(errors);
    }
    let type_ident = match &*item.self_ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.clone()),
        _ => None,
    };
    let (handler, ident) = match (&args.name, type_ident) {
        (Some(name), Some(ident)) => (name.value(), ident),
        (None, Some(ident)) => (ident.to_string(), ident),
        (_, None) => {
            return Err(syn::Error::new(
                item.self_ty.span(),
                "#[service] needs a named type here, or `#[service(name = \"...\")]`",
            ));
        }
    };
    if !item.generics.params.is_empty() {
        return Err(syn::Error::new(
            item.generics.span(),
            "code-first #[service] impls cannot be generic",
        ));
    }

    if methods.is_empty() && subscribers.is_empty() {
        return Err(syn::Error::new(
            item.self_ty.span(),
            "#[service] found no `async fn` endpoint or `#[subscriber]` in this impl",
        ));
    }

    let def = ServiceDef {
        handler: handler.clone(),
        ident,
        docs: Vec::new(),
        subscribers: subscribers
            .into_iter()
            .map(|(ident, attrs, message)| SubscriberMethod {
                name: format!("{handler}.{}", ident.to_string().to_upper_camel_case()),
                ident,
                topic: attrs.topic,
                queue: attrs.queue,
                concurrency: attrs.concurrency,
                message,
            })
            .collect(),
        methods,
        codecs: Codecs::Probe,
        schemas: Schemas::Probe,
        runtime: rt.clone(),
        vis: Visibility::Public(Default::default()),
    };
    let client = micro_gen::client(&def);
    let client_ident = def.client_ident();
    let register = micro_gen::register_handler(
        &def,
        quote!(self),
        quote!(Self),
        quote!(#client_ident),
        quote!(&[]),
    );
    let self_ty = &item.self_ty;
    Ok(quote! {
        impl #rt::server::IntoHandler for #self_ty {
            fn into_handler(self) -> #rt::server::Handler {
                #register
            }
        }

        #client
    })
}

/// The types of the arguments after `self`.
fn typed_args(sig: &syn::Signature) -> Vec<&Type> {
    sig.inputs
        .iter()
        .skip(1)
        .filter_map(|a| match a {
            FnArg::Typed(t) => Some(&*t.ty),
            FnArg::Receiver(_) => None,
        })
        .collect()
}

/// Checks a `#[subscriber]` method: `async fn(&self, ctx, event: T) -> Result<()>`.
fn subscriber_method(
    method: &syn::ImplItemFn,
    attrs: SubscriberAttrs,
) -> syn::Result<(syn::Ident, SubscriberAttrs, Type)> {
    let sig = &method.sig;
    check_async_ref_self(sig)?;
    let args = typed_args(sig);
    let ok = result_ok_type(sig)?;
    match args.as_slice() {
        [_ctx, event] if is_unit(ok) => Ok((sig.ident.clone(), attrs, (*event).clone())),
        _ => Err(syn::Error::new(
            sig.inputs.span(),
            format!(
                "subscriber `{}` must be `async fn {}(&self, ctx: Context, event: Event) -> Result<()>`",
                sig.ident, sig.ident
            ),
        )),
    }
}

/// The kind, request and response types of a method, from its signature.
fn classify(sig: &syn::Signature) -> syn::Result<(Kind, Type, Type)> {
    let args = typed_args(sig);
    let ok = result_ok_type(sig)?;
    let wrong = |span: proc_macro2::Span| {
        syn::Error::new(
            span,
            format!(
                "handler method `{}` has an unsupported signature; {SHAPES}",
                sig.ident
            ),
        )
    };
    let (kind, request, response) = match args.as_slice() {
        [_ctx, first] => match generic_arg(first, "Receiver") {
            Some(req) => (Kind::ClientStreaming, req.clone(), ok.clone()),
            None => (Kind::Unary, (*first).clone(), ok.clone()),
        },
        [_ctx, first, last] => {
            let rsp = generic_arg(last, "Sender").ok_or_else(|| wrong(last.span()))?;
            if !is_unit(ok) {
                return Err(syn::Error::new(
                    ok.span(),
                    format!("streaming method `{}` must return `Result<()>`", sig.ident),
                ));
            }
            match generic_arg(first, "Receiver") {
                Some(req) => (Kind::Bidi, req.clone(), rsp.clone()),
                None => (Kind::ServerStreaming, (*first).clone(), rsp.clone()),
            }
        }
        _ => return Err(wrong(sig.inputs.span())),
    };
    Ok((kind, request, response))
}
