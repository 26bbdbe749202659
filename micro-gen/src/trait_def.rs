use proc_macro2::TokenStream;
use quote::quote;

use crate::model::{Kind, ServiceDef, doc_attrs};
use crate::register::register_handler;

/// The handler trait users implement (proto-first services): one `async fn`
/// per method, plus the hidden registration `#[service]` calls.
pub fn handler_trait(def: &ServiceDef) -> TokenStream {
    let rt = &def.runtime;
    let vis = &def.vis;
    let ident = &def.ident;
    let client = def.client_ident();
    let docs = doc_attrs(&def.docs);
    let how = format!(
        " Implement it with `async fn`s and annotate the impl with \
         `#[micro_runtime::service]`; then `service.handle(...)` serves it and \
         [`{client}`] calls it."
    );
    let methods = def.methods.iter().map(|m| {
        let name = &m.ident;
        let (req, rsp) = (&m.request, &m.response);
        let docs = doc_attrs(&m.docs);
        let (args, output) = match m.kind {
            Kind::Unary => (quote!(request: #req), quote!(#rt::Result<#rsp>)),
            Kind::ServerStreaming => (
                quote!(request: #req, responses: #rt::Sender<#rsp>),
                quote!(#rt::Result<()>),
            ),
            Kind::ClientStreaming => (
                quote!(requests: #rt::Receiver<#req>),
                quote!(#rt::Result<#rsp>),
            ),
            Kind::Bidi => (
                quote!(requests: #rt::Receiver<#req>, responses: #rt::Sender<#rsp>),
                quote!(#rt::Result<()>),
            ),
        };
        quote! {
            #docs
            fn #name(&self, ctx: #rt::Context, #args)
                -> impl ::core::future::Future<Output = #output> + ::core::marker::Send;
        }
    });
    let register = register_handler(
        def,
        quote!(self),
        quote!(Self),
        quote!(#client),
        quote!(options),
    );
    quote! {
        #docs
        #[doc = ""]
        #[doc = #how]
        #vis trait #ident: ::core::marker::Send + ::core::marker::Sync + 'static {
            #(#methods)*

            /// Builds the handler serving this implementation (what
            /// `#[micro_runtime::service]` calls).
            #[doc(hidden)]
            fn into_micro_handler(self, options: &[#rt::endpoint::MethodOptions]) -> #rt::server::Handler
            where
                Self: ::core::marker::Sized,
            {
                #register
            }
        }
    }
}
