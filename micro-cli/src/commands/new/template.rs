//! The new crate's files: templates embedded in the binary, with `{{key}}`
//! placeholders filled in.

/// A template: the file's path in the new crate and its text (both may
/// hold placeholders).
struct Template {
    path: &'static str,
    text: &'static str,
}

macro_rules! template {
    ($path:literal, $file:literal) => {
        Template {
            path: $path,
            text: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/templates/new/",
                $file
            )),
        }
    };
}

/// Every file of a new crate, in the order they are listed.
const TEMPLATES: &[Template] = &[
    template!("Cargo.toml", "Cargo.toml.tmpl"),
    template!("README.md", "README.md.tmpl"),
    template!(".gitignore", "gitignore.tmpl"),
    template!("build.rs", "build.rs.tmpl"),
    template!("proto/{{proto_file}}", "proto/service.proto.tmpl"),
    template!("src/lib.rs", "src/lib.rs.tmpl"),
    template!("src/main.rs", "src/main.rs.tmpl"),
    template!("tests/call.rs", "tests/call.rs.tmpl"),
];

/// A file to write: its path relative to the crate's directory (with `/`)
/// and its contents.
#[derive(Debug)]
pub(super) struct File {
    pub(super) path: String,
    pub(super) contents: String,
}

/// Every file, the placeholders replaced by `values` (`key` -> text).
///
/// # Errors
///
/// A placeholder without a value or without its closing `}}`: a bug in
/// the templates.
pub(super) fn render(values: &[(&str, String)]) -> Result<Vec<File>, String> {
    TEMPLATES
        .iter()
        .map(|t| {
            Ok(File {
                path: fill(t.path, values)?,
                contents: fill(t.text, values)?,
            })
        })
        .collect()
}

/// `text` with each `{{key}}` replaced by its value.
fn fill(text: &str, values: &[(&str, String)]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("template: unclosed placeholder in {text:?}"))?;
        let key = &after[..end];
        let (_, value) = values
            .iter()
            .find(|(k, _)| *k == key)
            .ok_or_else(|| format!("template: no value for {{{{{key}}}}}"))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled() {
        let values = [("a", "1".to_owned()), ("bb", "{{a}}".to_owned())];
        assert_eq!(fill("x{{a}}y{{bb}}z", &values).unwrap(), "x1y{{a}}z");
        assert!(fill("{{c}}", &values).unwrap_err().contains("{{c}}"));
        assert!(fill("{{a", &values).is_err());
    }

    #[test]
    fn every_template_renders_with_the_values_run_gives() {
        let name = super::super::name::parse("order-book").unwrap();
        let values = super::super::values(&name, "\"0.1\"", "\"0.1\"");
        let files = render(&values).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert!(paths.contains(&"proto/order_book.proto"), "{paths:?}");
        for file in &files {
            assert!(!file.contents.contains("{{"), "{}", file.path);
        }
    }
}
