//! `#[service]` on `impl pb::Greeter for MyGreeter`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ImplItem, ItemImpl};

use crate::attrs::{ServiceArgs, take_method_attrs};
use crate::signature::check_async_ref_self;

pub(crate) fn expand(args: ServiceArgs, item: &mut ItemImpl) -> syn::Result<TokenStream> {
    let rt = args.runtime();
    if let Some(name) = &args.name {
        return Err(syn::Error::new(
            name.span(),
            "`name` applies to code-first services; a handler trait's endpoint names come from the .proto",
        ));
    }
    let mut errors: Option<syn::Error> = None;
    let mut options = Vec::new();
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        if let Ok(Some(_)) | Err(_) = crate::attrs::take_subscriber_attr(&mut method.attrs) {
            let e = syn::Error::new(
                method.sig.ident.span(),
                "#[subscriber] methods go in a code-first #[service] impl, not in a handler trait impl",
            );
            match &mut errors {
                Some(first) => first.combine(e),
                None => errors = Some(e),
            }
            continue;
        }
        let outcome = take_method_attrs(&mut method.attrs).and_then(|attrs| {
            check_async_ref_self(&method.sig)?;
            if attrs.name.is_some() || attrs.skip {
                return Err(syn::Error::new(
                    method.sig.ident.span(),
                    "`name` and `skip` apply to code-first services only",
                ));
            }
            Ok(attrs)
        });
        match outcome {
            Ok(attrs) => {
                if attrs.idempotent.is_some() || attrs.timeout_ms.is_some() {
                    let name = method.sig.ident.to_string();
                    let idempotent = match attrs.idempotent {
                        Some(b) => quote!(::core::option::Option::Some(#b)),
                        None => quote!(::core::option::Option::None),
                    };
                    let timeout = match attrs.timeout_ms {
                        Some(ms) => quote!(::core::option::Option::Some(
                            ::core::time::Duration::from_millis(#ms)
                        )),
                        None => quote!(::core::option::Option::None),
                    };
                    options.push(quote!(#rt::endpoint::MethodOptions {
                        method: #name,
                        idempotent: #idempotent,
                        timeout: #timeout,
                    }));
                }
            }
            Err(e) => match &mut errors {
                Some(first) => first.combine(e),
                None => errors = Some(e),
            },
        }
    }
    if let Some(errors) = errors {
        return Err(errors);
    }
    let (_, trait_path, _) = item.trait_.as_ref().expect("checked by the caller");
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #rt::server::IntoHandler for #self_ty #where_clause {
            fn into_handler(self) -> #rt::server::Handler {
                <Self as #trait_path>::into_micro_handler(self, &[#(#options),*])
            }
        }
    })
}
