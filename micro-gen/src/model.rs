use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use syn::{Type, Visibility};

/// The four RPC kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    ServerStreaming,
    /// A stream of requests, one response.
    ClientStreaming,
    /// Streams both ways.
    Bidi,
}

impl Kind {
    /// From the two streaming flags of a `.proto` method.
    pub fn from_flags(client_streaming: bool, server_streaming: bool) -> Self {
        match (client_streaming, server_streaming) {
            (false, false) => Kind::Unary,
            (false, true) => Kind::ServerStreaming,
            (true, false) => Kind::ClientStreaming,
            (true, true) => Kind::Bidi,
        }
    }

    pub(crate) fn tokens(self, rt: &TokenStream) -> TokenStream {
        match self {
            Kind::Unary => quote!(#rt::endpoint::CallKind::Unary),
            Kind::ServerStreaming => quote!(#rt::endpoint::CallKind::ServerStreaming),
            Kind::ClientStreaming => quote!(#rt::endpoint::CallKind::ClientStreaming),
            Kind::Bidi => quote!(#rt::endpoint::CallKind::Bidi),
        }
    }
}

/// How message codecs are obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codecs {
    /// Generated proto messages: prost + serde, both codecs.
    ProstSerde,
    /// Code-first types: whatever each type supports, picked at compile time.
    Probe,
}

/// Where the JSON Schemas of a service's messages come from (for
/// `Debug.Describe`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schemas {
    /// A proto package: the module the service is generated in holds the
    /// package's `FILE_DESCRIPTOR_SET` and `JSON_SCHEMAS` (micro-codegen
    /// writes both); the string is the package name.
    Package(String),
    /// Code-first types: each type's schema is picked at compile time
    /// (`schemars::JsonSchema` with micro-runtime's `schemars` feature, else
    /// "any JSON object").
    Probe,
}

/// One method of a service.
#[derive(Clone, Debug)]
pub struct Method {
    /// Rust method name, e.g. `hello`.
    pub ident: Ident,
    /// Method part of the endpoint name, e.g. `Hello`.
    pub wire_name: String,
    /// Request message type.
    pub request: Type,
    /// Response message type.
    pub response: Type,
    /// Request type name advertised, e.g. `greeter.v1.Request`.
    pub request_name: String,
    /// Response type name advertised.
    pub response_name: String,
    /// The RPC kind.
    pub kind: Kind,
    /// Documentation, one line per entry.
    pub docs: Vec<String>,
    /// Safe to retry after a timeout.
    pub idempotent: bool,
    /// Default timeout in milliseconds.
    pub timeout_ms: Option<u64>,
}

/// A method subscribed to a topic (`#[subscriber]`).
#[derive(Clone, Debug)]
pub struct SubscriberMethod {
    /// Rust method name.
    pub ident: Ident,
    /// The topic.
    pub topic: String,
    /// Queue group, if any.
    pub queue: Option<String>,
    /// Messages handled at once, if set.
    pub concurrency: Option<usize>,
    /// The message type.
    pub message: Type,
    /// Name advertised in the registry, e.g. `Notifier.OnSignup`.
    pub name: String,
}

/// A service: what both generators know about it.
#[derive(Clone, Debug)]
pub struct ServiceDef {
    /// Handler part of the endpoint names, e.g. `Greeter`.
    pub handler: String,
    /// Rust name of the service: the handler trait, and `<ident>Client`.
    pub ident: Ident,
    /// Documentation, one line per entry.
    pub docs: Vec<String>,
    /// The methods.
    pub methods: Vec<Method>,
    /// The subscriber methods (code-first services only).
    pub subscribers: Vec<SubscriberMethod>,
    /// Where codecs come from.
    pub codecs: Codecs,
    /// Where message schemas come from.
    pub schemas: Schemas,
    /// Path of the runtime crate, normally `::micro_runtime`.
    pub runtime: TokenStream,
    /// Visibility of the generated items.
    pub vis: Visibility,
}

impl ServiceDef {
    /// `GreeterClient`.
    pub fn client_ident(&self) -> Ident {
        format_ident!("{}Client", self.ident)
    }

    /// `Greeter.Hello`.
    pub(crate) fn endpoint_name(&self, method: &Method) -> String {
        format!("{}.{}", self.handler, method.wire_name)
    }

    pub(crate) fn codec(&self, ty: &Type) -> TokenStream {
        let rt = &self.runtime;
        match self.codecs {
            Codecs::ProstSerde => quote!(#rt::codec::MessageCodec::<#ty>::prost_serde()),
            Codecs::Probe => quote!({
                #[allow(unused_imports)]
                use #rt::__private::{ViaProst as _, ViaProstSerde as _, ViaSerde as _};
                // Autoref picks the most capable codec: the borrows are the point.
                #[allow(clippy::needless_borrow)]
                let codec = (&&&#rt::__private::Probe::<#ty>::new()).codec();
                codec
            }),
        }
    }
}

impl ServiceDef {
    /// The builder steps handing the handler its message schemas: the
    /// package's descriptor set and schemas, or one probed schema per type.
    pub(crate) fn schema_steps(&self) -> TokenStream {
        let rt = &self.runtime;
        match &self.schemas {
            Schemas::Package(package) => quote! {
                .proto_package(#package, FILE_DESCRIPTOR_SET, JSON_SCHEMAS)
            },
            Schemas::Probe => {
                let mut seen = std::collections::BTreeSet::new();
                let types = self
                    .methods
                    .iter()
                    .flat_map(|m| {
                        [
                            (m.request_name.clone(), &m.request),
                            (m.response_name.clone(), &m.response),
                        ]
                    })
                    .chain(
                        self.subscribers
                            .iter()
                            .map(|s| (type_name(&s.message), &s.message)),
                    )
                    .filter(|(name, _)| seen.insert(name.clone()));
                let steps = types.map(|(name, ty)| {
                    quote! {
                        .message_schema(#name, {
                            #[allow(unused_imports)]
                            use #rt::__private::{ViaAnything as _, ViaJsonSchema as _};
                            // Autoref picks the schemars schema when there is one.
                            #[allow(clippy::needless_borrow)]
                            let schema = (&&#rt::__private::Probe::<#ty>::new()).schema();
                            schema
                        })
                    }
                });
                quote!(#(#steps)*)
            }
        }
    }
}

/// A type's name as advertised for code-first services: its tokens, no spaces.
pub fn type_name(ty: &Type) -> String {
    quote!(#ty).to_string().replace(' ', "")
}

/// `#[doc = "..."]` attributes for documentation lines.
pub(crate) fn doc_attrs(docs: &[String]) -> TokenStream {
    let lines = docs.iter().map(|l| {
        let l = if l.starts_with(' ') || l.is_empty() {
            l.clone()
        } else {
            format!(" {l}")
        };
        quote!(#[doc = #l])
    });
    quote!(#(#lines)*)
}

/// The descriptor of a method.
pub(crate) fn descriptor(def: &ServiceDef, method: &Method) -> TokenStream {
    let rt = &def.runtime;
    let name = def.endpoint_name(method);
    let package = match &def.schemas {
        Schemas::Package(package) => package.as_str(),
        Schemas::Probe => "",
    };
    let rust_name = method.ident.to_string();
    let request = &method.request_name;
    let response = &method.response_name;
    let kind = method.kind.tokens(rt);
    let docs = method.docs.join("\n").trim().to_owned();
    let idempotent = method.idempotent;
    let timeout = match method.timeout_ms {
        Some(ms) => quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#ms))),
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #rt::endpoint::EndpointDescriptor {
            name: #name,
            package: #package,
            method: #rust_name,
            request_type: #request,
            response_type: #response,
            kind: #kind,
            docs: #docs,
            idempotent: #idempotent,
            timeout: #timeout,
        }
    }
}

/// `__endpoint_hello`: the accessor of a method's typed endpoint.
pub(crate) fn endpoint_fn(method: &Method) -> Ident {
    format_ident!("__endpoint_{}", method.ident)
}
