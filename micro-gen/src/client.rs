use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::model::{Kind, Method, ServiceDef, descriptor, doc_attrs, endpoint_fn};

/// The typed client `<Handler>Client` with one method per endpoint (and a
/// `_with` variant taking per-call options), plus the endpoint descriptors.
pub fn client(def: &ServiceDef) -> TokenStream {
    let rt = &def.runtime;
    let vis = &def.vis;
    let ident = def.client_ident();
    let handler = &def.handler;
    let struct_doc = format!(
        " Typed client of the `{handler}` endpoints, calling through a \
         [`Client`]({rt}::Client) (discovery, balancing, retries, deadlines).",
        rt = rt.to_string().replace(' ', "")
    );
    let descriptors = def.methods.iter().map(|m| descriptor(def, m));
    let accessors = def.methods.iter().enumerate().map(|(i, m)| {
        let f = endpoint_fn(m);
        let (req, rsp) = (&m.request, &m.response);
        let (req_codec, rsp_codec) = (def.codec(req), def.codec(rsp));
        quote! {
            #[doc(hidden)]
            pub fn #f() -> #rt::endpoint::TypedEndpoint<#req, #rsp> {
                #rt::endpoint::TypedEndpoint {
                    descriptor: Self::ENDPOINTS[#i],
                    request: #req_codec,
                    response: #rsp_codec,
                }
            }
        }
    });
    let methods = def.methods.iter().map(|m| client_method(def, m));
    quote! {
        #[doc = #struct_doc]
        #[derive(Clone, Debug)]
        #vis struct #ident {
            service: ::std::sync::Arc<str>,
            client: #rt::Client,
            options: #rt::CallOptions,
        }

        impl #ident {
            /// The endpoints of this service, as advertised in the registry.
            pub const ENDPOINTS: &'static [#rt::endpoint::EndpointDescriptor] = &[#(#descriptors),*];

            /// A client of the service registered as `service`.
            pub fn new(service: impl ::core::convert::Into<::std::sync::Arc<str>>, client: #rt::Client) -> Self {
                Self { service: service.into(), client, options: #rt::CallOptions::new() }
            }

            /// Options applied to every call of this client (a call's own
            /// options win).
            pub fn with_options(mut self, options: #rt::CallOptions) -> Self {
                self.options = options;
                self
            }

            /// The service name called.
            pub fn service(&self) -> &str {
                &self.service
            }

            #(#accessors)*
            #(#methods)*
        }
    }
}

fn client_method(def: &ServiceDef, m: &Method) -> TokenStream {
    let rt = &def.runtime;
    let name = &m.ident;
    let with = format_ident!("{}_with", m.ident);
    let endpoint = endpoint_fn(m);
    let (req, rsp) = (&m.request, &m.response);
    let docs = doc_attrs(&m.docs);
    let with_doc = format!(" Like [`{name}`](Self::{name}), with options for this call.");
    let (args, ret, body) = match m.kind {
        Kind::Unary => (
            quote!(request: #req,),
            quote!(#rt::Result<#rsp>),
            quote!(self.client.call(&self.service, &Self::#endpoint(), &request, &options).await),
        ),
        Kind::ServerStreaming => (
            quote!(request: #req,),
            quote!(#rt::Result<#rt::Receiver<#rsp>>),
            quote!(self.client.server_stream(&self.service, &Self::#endpoint(), request, &options).await),
        ),
        Kind::ClientStreaming => (
            quote!(),
            quote!(#rt::Result<#rt::ClientStreaming<#req, #rsp>>),
            quote!(self.client.client_stream(&self.service, &Self::#endpoint(), &options).await),
        ),
        Kind::Bidi => (
            quote!(),
            quote!(#rt::Result<#rt::BidiStream<#req, #rsp>>),
            quote!(self.client.bidi_stream(&self.service, &Self::#endpoint(), &options).await),
        ),
    };
    let forward = match m.kind {
        Kind::Unary | Kind::ServerStreaming => quote!(request,),
        Kind::ClientStreaming | Kind::Bidi => quote!(),
    };
    quote! {
        #docs
        pub async fn #name(&self, #args) -> #ret {
            self.#with(#forward #rt::CallOptions::new()).await
        }

        #[doc = #with_doc]
        pub async fn #with(&self, #args options: #rt::CallOptions) -> #ret {
            let options = self.options.overlay(&options);
            #body
        }
    }
}
