//! prost-build's hook for services: emits micro's handler trait and typed
//! client through the shared generator.

use micro_gen::{Codecs, Kind, Method, Schemas, ServiceDef};
use prost_build::{Service, ServiceGenerator};
use prost_types::method_options::IdempotencyLevel;
use quote::quote;

pub(crate) struct MicroServiceGenerator {
    pub(crate) runtime: proc_macro2::TokenStream,
    pub(crate) errors: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
}

impl ServiceGenerator for MicroServiceGenerator {
    fn generate(&mut self, service: Service, buf: &mut String) {
        match self.service_def(&service) {
            Ok(def) => {
                let trait_def = micro_gen::handler_trait(&def);
                let client = micro_gen::client(&def);
                buf.push_str(&quote!(#trait_def #client).to_string());
                buf.push('\n');
            }
            Err(why) => self.errors.borrow_mut().push(format!(
                "service {}.{}: {why}",
                service.package, service.proto_name
            )),
        }
    }
}

impl MicroServiceGenerator {
    fn service_def(&self, service: &Service) -> Result<ServiceDef, String> {
        let methods = service
            .methods
            .iter()
            .map(|m| {
                let parse_type = |path: &str| {
                    syn::parse_str::<syn::Type>(path)
                        .map_err(|e| format!("type {path} of {}: {e}", m.proto_name))
                };
                let idempotent = matches!(
                    m.options.idempotency_level(),
                    IdempotencyLevel::Idempotent | IdempotencyLevel::NoSideEffects
                );
                Ok(Method {
                    ident: syn::parse_str(&m.name)
                        .map_err(|e| format!("method name {}: {e}", m.name))?,
                    wire_name: m.proto_name.clone(),
                    request: parse_type(&m.input_type)?,
                    response: parse_type(&m.output_type)?,
                    request_name: m.input_proto_type.trim_start_matches('.').to_owned(),
                    response_name: m.output_proto_type.trim_start_matches('.').to_owned(),
                    kind: Kind::from_flags(m.client_streaming, m.server_streaming),
                    docs: m.comments.leading.clone(),
                    idempotent,
                    timeout_ms: None,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(ServiceDef {
            handler: service.proto_name.clone(),
            ident: syn::parse_str(&service.name)
                .map_err(|e| format!("service name {}: {e}", service.name))?,
            docs: service.comments.leading.clone(),
            methods,
            subscribers: Vec::new(),
            codecs: Codecs::ProstSerde,
            schemas: Schemas::Package(service.package.clone()),
            runtime: self.runtime.clone(),
            vis: syn::parse_quote!(pub),
        })
    }
}
