//! The node's proto files and symbols, from its own `Debug.Describe`: what
//! reflection answers and how a request's package is checked.

use std::collections::{BTreeSet, HashMap};

use prost::Message;
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet};

use super::debug_pb::ServiceDescription;
use crate::transport::Dispatcher;

/// The files of the descriptor sets a node describes, indexed.
#[derive(Default)]
pub(crate) struct Catalog {
    /// Every file by name.
    files: HashMap<String, FileDescriptorProto>,
    /// Fully qualified symbol (message, enum, service, method, extension)
    /// -> the file defining it.
    symbols: HashMap<String, String>,
    /// Extensions: (extended message, number) -> the file defining it.
    extensions: HashMap<(String, i32), String>,
    /// The proto services whose methods the node serves, e.g. `greeter.v1.Greeter`.
    services: BTreeSet<String>,
}

impl Catalog {
    /// The catalog of `description`; only services with a method the
    /// dispatcher serves count as served.
    pub(crate) fn new(description: &ServiceDescription, dispatcher: &dyn Dispatcher) -> Self {
        let mut catalog = Catalog::default();
        for set in &description.descriptor_sets {
            let Ok(set) = FileDescriptorSet::decode(&set.file_descriptor_set[..]) else {
                tracing::warn!(package = %set.package, "descriptor set does not decode; not reflected");
                continue;
            };
            for file in set.file {
                catalog.add(file, dispatcher);
            }
        }
        catalog
    }

    fn add(&mut self, file: FileDescriptorProto, dispatcher: &dyn Dispatcher) {
        let name = file.name().to_owned();
        if self.files.contains_key(&name) {
            return;
        }
        let package = file.package();
        let prefix = if package.is_empty() {
            String::new()
        } else {
            format!("{package}.")
        };
        let mut symbols = Vec::new();
        for message in &file.message_type {
            self.message_symbols(&prefix, message, &name, &mut symbols);
        }
        for e in &file.enum_type {
            symbols.push(format!("{prefix}{}", e.name()));
        }
        for extension in &file.extension {
            self.extension(&prefix, extension, &name, &mut symbols);
        }
        for service in &file.service {
            let full = format!("{prefix}{}", service.name());
            for method in &service.method {
                symbols.push(format!("{full}.{}", method.name()));
                let endpoint = format!("{}.{}", service.name(), method.name());
                if dispatcher.kind(&endpoint).is_some() {
                    self.services.insert(full.clone());
                }
            }
            symbols.push(full);
        }
        for symbol in symbols {
            self.symbols.entry(symbol).or_insert_with(|| name.clone());
        }
        self.files.insert(name, file);
    }

    fn message_symbols(
        &mut self,
        prefix: &str,
        message: &DescriptorProto,
        file: &str,
        out: &mut Vec<String>,
    ) {
        let full = format!("{prefix}{}", message.name());
        let inner = format!("{full}.");
        for nested in &message.nested_type {
            self.message_symbols(&inner, nested, file, out);
        }
        for e in &message.enum_type {
            out.push(format!("{inner}{}", e.name()));
        }
        for extension in &message.extension {
            self.extension(&inner, extension, file, out);
        }
        out.push(full);
    }

    fn extension(
        &mut self,
        prefix: &str,
        extension: &FieldDescriptorProto,
        file: &str,
        out: &mut Vec<String>,
    ) {
        out.push(format!("{prefix}{}", extension.name()));
        let extendee = extension.extendee().trim_start_matches('.').to_owned();
        self.extensions
            .entry((extendee, extension.number()))
            .or_insert_with(|| file.to_owned());
    }

    /// The proto services the node serves.
    pub(crate) fn services(&self) -> impl Iterator<Item = &str> {
        self.services.iter().map(String::as_str)
    }

    /// True when `service` (fully qualified) is served.
    pub(crate) fn serves(&self, service: &str) -> bool {
        self.services.contains(service)
    }

    /// True when a served proto service has the short name `short`.
    pub(crate) fn has_short_name(&self, short: &str) -> bool {
        self.services
            .iter()
            .any(|s| s.rsplit('.').next() == Some(short))
    }

    /// The file defining `symbol`.
    pub(crate) fn file_of_symbol(&self, symbol: &str) -> Option<&str> {
        self.symbols
            .get(symbol.trim_start_matches('.'))
            .map(String::as_str)
    }

    /// The file defining extension `number` of `message`.
    pub(crate) fn file_of_extension(&self, message: &str, number: i32) -> Option<&str> {
        self.extensions
            .get(&(message.trim_start_matches('.').to_owned(), number))
            .map(String::as_str)
    }

    /// The extension numbers of `message`, `None` when it is not known.
    pub(crate) fn extension_numbers(&self, message: &str) -> Option<Vec<i32>> {
        let message = message.trim_start_matches('.');
        self.symbols.get(message)?;
        let mut numbers: Vec<i32> = self
            .extensions
            .keys()
            .filter(|(m, _)| m == message)
            .map(|(_, n)| *n)
            .collect();
        numbers.sort_unstable();
        Some(numbers)
    }

    /// The file `name` and every file it imports, transitively, each
    /// serialized as a `FileDescriptorProto`; `None` when it is not known.
    pub(crate) fn file_with_imports(&self, name: &str) -> Option<Vec<Vec<u8>>> {
        self.files.get(name)?;
        let mut seen = BTreeSet::new();
        let mut order = Vec::new();
        let mut pending = vec![name.to_owned()];
        while let Some(next) = pending.pop() {
            if !seen.insert(next.clone()) {
                continue;
            }
            // An import missing from the sets is left out: the client asks
            // for it by name and gets NOT_FOUND then.
            if let Some(file) = self.files.get(&next) {
                pending.extend(file.dependency.iter().cloned());
                order.push(file.encode_to_vec());
            }
        }
        Some(order)
    }
}

#[cfg(test)]
mod tests {
    use prost_types::{MethodDescriptorProto, ServiceDescriptorProto};

    use super::*;
    use crate::endpoint::CallKind;
    use crate::transport::IncomingCall;
    use crate::transport::grpc::server::debug_pb::DescriptorSet;

    struct Serves(&'static str);

    impl Dispatcher for Serves {
        fn dispatch(
            &self,
            _: IncomingCall,
        ) -> futures_util::future::BoxFuture<'static, crate::Result<Option<bytes::Bytes>>> {
            unreachable!()
        }
        fn kind(&self, endpoint: &str) -> Option<CallKind> {
            (endpoint == self.0).then_some(CallKind::Unary)
        }
    }

    fn file(
        name: &str,
        package: &str,
        deps: &[&str],
        service: Option<&str>,
    ) -> FileDescriptorProto {
        FileDescriptorProto {
            name: Some(name.into()),
            package: Some(package.into()),
            dependency: deps.iter().map(|d| d.to_string()).collect(),
            message_type: vec![DescriptorProto {
                name: Some("Msg".into()),
                nested_type: vec![DescriptorProto {
                    name: Some("Inner".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            service: service
                .map(|s| ServiceDescriptorProto {
                    name: Some(s.into()),
                    method: vec![MethodDescriptorProto {
                        name: Some("Do".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn symbols_files_and_imports() {
        let set = FileDescriptorSet {
            file: vec![
                file("base.proto", "base", &[], None),
                file("a.proto", "pkg.v1", &["base.proto"], Some("Svc")),
                file("b.proto", "pkg.v1", &[], Some("Other")),
            ],
        };
        let description = ServiceDescription {
            descriptor_sets: vec![DescriptorSet {
                package: "pkg.v1".into(),
                file_descriptor_set: set.encode_to_vec(),
            }],
        };
        let catalog = Catalog::new(&description, &Serves("Svc.Do"));
        assert_eq!(catalog.services().collect::<Vec<_>>(), ["pkg.v1.Svc"]);
        assert!(catalog.has_short_name("Svc") && !catalog.has_short_name("Other"));
        assert_eq!(catalog.file_of_symbol("pkg.v1.Svc.Do"), Some("a.proto"));
        assert_eq!(
            catalog.file_of_symbol(".base.Msg.Inner"),
            Some("base.proto")
        );
        assert_eq!(catalog.file_of_symbol("pkg.v1.Nope"), None);
        let files = catalog.file_with_imports("a.proto").unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| {
                FileDescriptorProto::decode(&f[..])
                    .unwrap()
                    .name()
                    .to_owned()
            })
            .collect();
        assert_eq!(names, ["a.proto", "base.proto"]);
        assert_eq!(catalog.extension_numbers("base.Msg"), Some(vec![]));
        assert!(catalog.file_with_imports("missing.proto").is_none());
    }
}
