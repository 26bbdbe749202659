use proc_macro2::TokenStream;
use quote::quote;

use crate::model::{Kind, ServiceDef, endpoint_fn, type_name};

/// An expression building the `Handler` that routes every endpoint of `def`
/// to the methods of `this` (an expression of the implementing type), with
/// `options` (an expression of type `&[MethodOptions]`) applied.
/// `self_ty` is the implementing type and `client` the generated client type
/// holding the endpoint accessors.
pub fn register_handler(
    def: &ServiceDef,
    this: TokenStream,
    self_ty: TokenStream,
    client: TokenStream,
    options: TokenStream,
) -> TokenStream {
    let rt = &def.runtime;
    let steps = def.methods.iter().map(|m| {
        let name = &m.ident;
        let endpoint = endpoint_fn(m);
        let (req, rsp) = (&m.request, &m.response);
        let arc = quote!(::std::sync::Arc<#self_ty>);
        match m.kind {
            Kind::Unary => quote! {
                .unary(#client::#endpoint(), |this: #arc, ctx: #rt::Context, request: #req| async move {
                    this.#name(ctx, request).await
                })
            },
            Kind::ServerStreaming => quote! {
                .server_streaming(#client::#endpoint(), |this: #arc, ctx: #rt::Context, request: #req, responses: #rt::Sender<#rsp>| async move {
                    this.#name(ctx, request, responses).await
                })
            },
            Kind::ClientStreaming => quote! {
                .client_streaming(#client::#endpoint(), |this: #arc, ctx: #rt::Context, requests: #rt::Receiver<#req>| async move {
                    this.#name(ctx, requests).await
                })
            },
            Kind::Bidi => quote! {
                .bidi(#client::#endpoint(), |this: #arc, ctx: #rt::Context, requests: #rt::Receiver<#req>, responses: #rt::Sender<#rsp>| async move {
                    this.#name(ctx, requests, responses).await
                })
            },
        }
    });
    let subscribers = def.subscribers.iter().map(|s| {
        let name = &s.ident;
        let message = &s.message;
        let codec = def.codec(message);
        let topic = &s.topic;
        let advertised = &s.name;
        let message_name = type_name(message);
        let queue = s.queue.as_ref().map(|q| quote!(.queue(#q)));
        let concurrency = s.concurrency.map(|n| quote!(.concurrency(#n)));
        quote! {
            .subscriber(
                #topic,
                #codec,
                |this: ::std::sync::Arc<#self_ty>, ctx: #rt::Context, message: #message| async move {
                    this.#name(ctx, message).await
                },
                |s: #rt::broker::Subscriber| s.name(#advertised).message_type(#message_name) #queue #concurrency,
            )
        }
    });
    let schemas = def.schema_steps();
    quote! {
        #rt::server::HandlerBuilder::new(#this)
            .options(#options)
            #schemas
            #(#steps)*
            #(#subscribers)*
            .build()
    }
}
