use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use prost::Message;
use prost_build::Module;

use crate::embed::package_items;
use crate::error::{Error, describe_protox};
use crate::json_schema::SchemaIndex;
use crate::service_gen::MicroServiceGenerator;

/// Configures code generation. [`crate::compile_protos`] is
/// `Builder::new().compile(..)`.
///
/// # Examples
///
/// ```no_run
/// micro_codegen::Builder::new()
///     .type_attribute(".greeter.v1.Request", "#[derive(Eq, Hash)]")
///     .compile(&["proto/greeter.proto"], &["proto"])?;
/// # Ok::<(), micro_codegen::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    out_dir: Option<PathBuf>,
    extern_paths: Vec<(String, String)>,
    type_attributes: Vec<(String, String)>,
    field_attributes: Vec<(String, String)>,
    runtime: String,
    emit_rerun_if_changed: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// Default settings: output to `OUT_DIR`, runtime `::micro_runtime`.
    pub fn new() -> Self {
        Self {
            out_dir: None,
            extern_paths: Vec::new(),
            type_attributes: Vec::new(),
            field_attributes: Vec::new(),
            runtime: "::micro_runtime".to_owned(),
            emit_rerun_if_changed: true,
        }
    }

    /// Writes the generated files into `dir` instead of `OUT_DIR`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Uses existing Rust types for a proto package or message
    /// (`.my.common` -> `::my_common_crate::pb`). The types must implement
    /// prost's `Message` and serde's traits.
    pub fn extern_path(
        mut self,
        proto_path: impl Into<String>,
        rust_path: impl Into<String>,
    ) -> Self {
        self.extern_paths
            .push((proto_path.into(), rust_path.into()));
        self
    }

    /// Adds an attribute to matching messages and enums (prost-build paths).
    pub fn type_attribute(mut self, path: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.type_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Adds an attribute to matching fields (prost-build paths).
    pub fn field_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Self {
        self.field_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Path of the runtime crate in generated code (default `::micro_runtime`).
    pub fn runtime_crate(mut self, path: impl Into<String>) -> Self {
        self.runtime = path.into();
        self
    }

    /// Whether to print `cargo:rerun-if-changed` for the inputs (default on).
    pub fn emit_rerun_if_changed(mut self, yes: bool) -> Self {
        self.emit_rerun_if_changed = yes;
        self
    }

    /// Generates `<package>.rs` for every package of `protos` and their imports.
    ///
    /// # Errors
    ///
    /// [`Error::Proto`] with `file:line:column: reason` for an invalid
    /// `.proto`; [`Error::Io`] when output cannot be written.
    pub fn compile(
        &self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<(), Error> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or_else(|| {
                    Error::Generate("OUT_DIR is not set (run from build.rs, or set out_dir)".into())
                })?,
        };
        if self.emit_rerun_if_changed {
            for path in protos.iter().map(AsRef::as_ref) {
                println!("cargo:rerun-if-changed={}", path.display());
            }
            for path in includes.iter().map(AsRef::as_ref) {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        for (file, content) in self.generate(protos, includes)? {
            write_if_changed(&out_dir.join(file), content.as_bytes())?;
        }
        Ok(())
    }

    /// The generated files (name, content) without writing them.
    ///
    /// # Errors
    ///
    /// As [`Builder::compile`].
    pub fn generate(
        &self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<BTreeMap<String, String>, Error> {
        let mut compiler = protox::Compiler::new(includes.iter().map(AsRef::as_ref))
            .map_err(|e| Error::Proto(describe_protox(&e)))?;
        compiler.include_source_info(true).include_imports(true);
        compiler
            .open_files(protos.iter().map(AsRef::as_ref))
            .map_err(|e| Error::Proto(describe_protox(&e)))?;
        let fds = compiler.file_descriptor_set();
        let own_files: Vec<_> = fds
            .file
            .iter()
            .filter(|f| f.package() != "google.protobuf")
            .cloned()
            .collect();

        let runtime = &self.runtime;
        let errors = Rc::new(RefCell::new(Vec::new()));
        let mut config = prost_build::Config::new();
        config
            .prost_path(format!("{runtime}::__private::prost"))
            .prost_types_path(format!("{runtime}::__private::pbjson_types"))
            .service_generator(Box::new(MicroServiceGenerator {
                runtime: runtime
                    .parse()
                    .map_err(|e| Error::Generate(format!("runtime path {runtime}: {e}")))?,
                errors: errors.clone(),
            }));
        for (proto, rust) in &self.extern_paths {
            config.extern_path(proto, rust);
        }
        for (proto, rust) in well_known_paths(&fds, runtime) {
            if !self.extern_paths.iter().any(|(p, _)| *p == proto) {
                config.extern_path(proto, rust);
            }
        }
        for (path, attribute) in &self.type_attributes {
            config.type_attribute(path, attribute);
        }
        for (path, attribute) in &self.field_attributes {
            config.field_attribute(path, attribute);
        }
        let requests = own_files
            .iter()
            .map(|f| (Module::from_protobuf_package_name(f.package()), f.clone()))
            .collect();
        let modules = config.generate(requests)?;
        if let Some(first) = errors.borrow().first() {
            return Err(Error::Generate(first.clone()));
        }

        let serde = self.serde_impls(&fds, &own_files)?;
        let index = SchemaIndex::new(&fds);
        let sources: Vec<&str> = own_files.iter().map(|f| f.name()).collect();
        let mut files = BTreeMap::new();
        for (module, code) in modules {
            let file = module.to_file_name_or("_");
            let package = file.trim_end_matches(".rs").to_owned();
            let mut content = format!(
                "// @generated by micro-codegen from {}. Do not edit.\n\
                 #[allow(unused_imports)]\n\
                 use {runtime}::__private::{{pbjson, serde}};\n\n",
                sources.join(", ")
            );
            content
                .push_str(code.trim_start_matches("// This file is @generated by prost-build.\n"));
            if let Some(impls) = serde.get(&package) {
                content.push('\n');
                content.push_str(&relative_crate_paths(impls));
            }
            let package = if package == "_" { "" } else { &package };
            content.push('\n');
            content.push_str(&package_items(package, &fds, &index));
            files.insert(file, content);
        }
        Ok(files)
    }

    /// proto3 JSON (serde) impls per package, by pbjson.
    fn serde_impls(
        &self,
        fds: &prost_types::FileDescriptorSet,
        own_files: &[prost_types::FileDescriptorProto],
    ) -> Result<BTreeMap<String, String>, Error> {
        let mut prefixes: Vec<String> = own_files
            .iter()
            .map(|f| format!(".{}", f.package()))
            .collect();
        prefixes.sort();
        prefixes.dedup();
        let mut builder = pbjson_build::Builder::new();
        builder
            .register_descriptors(&fds.encode_to_vec())?
            .extern_path(
                ".google.protobuf",
                format!("{}::__private::pbjson_types", self.runtime),
            );
        for (proto, rust) in &self.extern_paths {
            builder.extern_path(proto, rust);
        }
        let written = builder.generate(&prefixes, |_| Ok(Vec::<u8>::new()))?;
        let mut out = BTreeMap::new();
        for (package, bytes) in written {
            let text = String::from_utf8(bytes)
                .map_err(|e| Error::Generate(format!("pbjson output is not UTF-8: {e}")))?;
            out.insert(package.to_string(), text);
        }
        Ok(out)
    }
}

/// Exact extern paths for the well-known types the files use, into the
/// runtime's pbjson-types re-export. prost-build resolves a package prefix by
/// snake-casing each segment, which would turn `__private` into `private`;
/// an exact path is used as written. The wrappers and `Empty`, which prost
/// maps to Rust primitives itself, are left to it.
fn well_known_paths(fds: &prost_types::FileDescriptorSet, runtime: &str) -> Vec<(String, String)> {
    const NATIVE: &[&str] = &[
        "BoolValue",
        "BytesValue",
        "DoubleValue",
        "Empty",
        "FloatValue",
        "Int32Value",
        "Int64Value",
        "StringValue",
        "UInt32Value",
        "UInt64Value",
    ];
    let files = fds.file.iter().filter(|f| f.package() == "google.protobuf");
    let names = files.flat_map(|f| {
        let messages = f.message_type.iter().map(|m| m.name());
        messages.chain(f.enum_type.iter().map(|e| e.name()))
    });
    names
        .filter(|name| !NATIVE.contains(name))
        .map(|name| {
            (
                format!(".google.protobuf.{name}"),
                format!("{runtime}::__private::pbjson_types::{name}"),
            )
        })
        .collect()
}

/// pbjson writes some paths as `::pbjson::…`, which only resolve when the
/// user's crate depends on pbjson itself; make them resolve through the
/// `use` of the runtime's re-exports at the top of the file instead.
fn relative_crate_paths(code: &str) -> String {
    let next = |s: &str| {
        ["::pbjson::", "::serde::"]
            .iter()
            .filter_map(|p| s.find(p))
            .min()
    };
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(i) = next(rest) {
        let (before, after) = rest.split_at(i);
        out.push_str(before);
        // `a::pbjson::x` is someone else's path: keep its `::`.
        if before
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            out.push_str("::");
        }
        rest = &after[2..];
    }
    out.push_str(rest);
    out
}

fn write_if_changed(path: &Path, content: &[u8]) -> Result<(), Error> {
    if std::fs::read(path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    let mut file = std::fs::File::create(path)?;
    file.write_all(content)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::relative_crate_paths;

    #[test]
    fn absolute_pbjson_and_serde_paths_become_relative() {
        assert_eq!(
            relative_crate_paths("x::<::pbjson::A>(::serde::B) y::serde::C ::pbjson::D"),
            "x::<pbjson::A>(serde::B) y::serde::C pbjson::D"
        );
    }
}
