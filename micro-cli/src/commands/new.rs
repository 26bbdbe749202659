//! `micro new NAME`: scaffolds a service crate that builds and whose test
//! passes: a `.proto` with one endpoint, the build script generating its
//! code, the handler, a `main` serving it, an end-to-end test and a README.

mod name;
mod source;
mod template;
mod write;

use std::path::{Path, PathBuf};

use serde_json::json;

use self::name::Name;
use self::source::Source;
use crate::args::NewArgs;
use crate::failure::{Failure, Outcome};
use crate::session::Session;

/// Creates the crate `args.name` in `args.path` (default `./NAME`).
pub(crate) fn run(session: &Session, args: &NewArgs) -> Outcome {
    let name = name::parse(&args.name).map_err(Failure::bad_request)?;
    let dir = match &args.path {
        Some(path) if path.as_os_str().is_empty() => {
            return Err(Failure::bad_request("--path is empty"));
        }
        Some(path) => path.clone(),
        None => PathBuf::from(&name.krate),
    };
    write::check_empty(&dir)?;
    let source = Source::find(args.micro_path.as_deref())?;
    let values = values(
        &name,
        &source.dependency("micro-runtime")?,
        &source.dependency("micro-codegen")?,
    );
    let files = template::render(&values).map_err(Failure::local)?;
    write::all(&dir, &files)?;
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    report(session, &name, &dir, &paths, &source)
}

/// What the templates' placeholders stand for.
fn values(name: &Name, runtime: &str, codegen: &str) -> Vec<(&'static str, String)> {
    vec![
        ("crate", name.krate.clone()),
        ("crate_ident", name.ident.clone()),
        ("Service", name.camel.clone()),
        ("service_name", name.krate.clone()),
        ("proto_package", format!("{}.v1", name.ident)),
        ("proto_file", format!("{}.proto", name.ident)),
        ("runtime_dep", runtime.to_owned()),
        ("codegen_dep", codegen.to_owned()),
    ]
}

/// Prints what was written and what to do next (or one JSON object).
fn report(session: &Session, name: &Name, dir: &Path, files: &[&str], source: &Source) -> Outcome {
    let out = &session.out;
    let absolute = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let call = format!(
        "micro call {} {}.Call '{{\"name\":\"John\"}}'",
        name.krate, name.camel
    );
    let micro = match source {
        Source::Checkout(path) => json!({ "path": path }),
        Source::Version(version) => json!({ "version": version }),
    };
    if out.json() {
        return out.print_json(&json!({
            "name": name.krate,
            "service": name.krate,
            "path": absolute,
            "files": files,
            "micro": micro,
            "call": call,
        }));
    }
    let from = match source {
        Source::Checkout(path) => format!("micro from {}", path.display()),
        Source::Version(version) => format!("micro {version} from crates.io"),
    };
    out.line(&format!(
        "Created {} in {} ({from}):",
        out.bold(&name.krate),
        absolute.display()
    ))?;
    for file in files {
        out.line(&format!("  {file}"))?;
    }
    out.line("")?;
    out.line("Next:")?;
    let cd = format!("cd {}", shell_word(&dir.display().to_string()));
    let steps = [
        (format!("{cd} && cargo test"), "builds it and runs its test"),
        ("cargo run".to_owned(), "serves it until Ctrl-C"),
        (call, "calls it, from another terminal"),
    ];
    let width = steps
        .iter()
        .map(|(c, _)| c.chars().count())
        .max()
        .unwrap_or(0);
    for (command, what) in steps {
        let comment = out.dim(&format!("# {what}"));
        out.line(&format!("  {command:<width$}   {comment}"))?;
    }
    Ok(())
}

/// `word` quoted for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:@%,=".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn paths_are_quoted_for_the_shell_when_needed() {
        assert_eq!(shell_word("/tmp/orders"), "/tmp/orders");
        assert_eq!(shell_word("my orders"), "'my orders'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
