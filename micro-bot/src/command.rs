//! What the bot can do: a [`Command`] has a name of one or more words
//! (`ping`, `list services`), a usage line for `help`, and runs with the
//! words that follow its name.

use async_trait::async_trait;

/// One thing the bot does when a message starts with its name.
///
/// # Examples
///
/// ```
/// use micro_bot::Command;
///
/// struct Echo;
///
/// #[async_trait::async_trait]
/// impl Command for Echo {
///     fn name(&self) -> &str { "echo" }
///     fn usage(&self) -> String { "echo WORDS... — says them back".into() }
///     async fn run(&self, args: Vec<String>) -> micro_runtime::Result<String> {
///         Ok(args.join(" "))
///     }
/// }
/// ```
#[async_trait]
pub trait Command: Send + Sync + 'static {
    /// The words that name it, lower case, separated by one space.
    fn name(&self) -> &str;

    /// One line for `help`: how to call it and what it does.
    fn usage(&self) -> String;

    /// Runs it with the words after its name; the reply's text (lines
    /// separated by `\n`).
    ///
    /// # Errors
    ///
    /// An error the bot replies with as one line (`error: <status>
    /// (<code>): <detail>`): 400 for wrong arguments, or what failed.
    async fn run(&self, args: Vec<String>) -> micro_runtime::Result<String>;
}
