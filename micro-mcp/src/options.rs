//! What the MCP server exposes and how it calls.

use micro_runtime::endpoint::name_matches;
use std::time::Duration;

/// Options of an [`McpServer`](crate::McpServer).
///
/// # Examples
///
/// ```
/// use micro_mcp::{Filter, McpOptions};
///
/// let options = McpOptions::default()
///     .services(Filter::parse(["com.example.*"]))
///     .max_stream_items(10);
/// assert!(options.tools.allows("Greeter.Hello"));
/// assert!(!options.tools.allows("Debug.Health"));
/// ```
#[derive(Debug, Clone)]
pub struct McpOptions {
    /// Which services become tools (by service name).
    pub services: Filter,
    /// Which endpoints become tools (by endpoint name, `Greeter.Hello`, or
    /// by tool name). The default leaves out `Debug.*`.
    pub tools: Filter,
    /// How many messages a server-streaming tool collects before it stops
    /// (default 100).
    pub max_stream_items: usize,
    /// The deadline of each call; `None` keeps the client's.
    pub timeout: Option<Duration>,
    /// The server's name in `initialize` (default `micro`).
    pub name: String,
}

impl Default for McpOptions {
    fn default() -> Self {
        Self {
            services: Filter::default(),
            tools: Filter::parse(["!Debug.*"]),
            max_stream_items: 100,
            timeout: None,
            name: "micro".into(),
        }
    }
}

impl McpOptions {
    /// Sets the service filter.
    pub fn services(mut self, filter: Filter) -> Self {
        self.services = filter;
        self
    }

    /// Sets the tool filter (replacing the default, which leaves out `Debug.*`).
    pub fn tools(mut self, filter: Filter) -> Self {
        self.tools = filter;
        self
    }

    /// Sets how many messages a server-streaming tool collects.
    pub fn max_stream_items(mut self, items: usize) -> Self {
        self.max_stream_items = items.max(1);
        self
    }

    /// Sets the deadline of each call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Include and exclude patterns: `*` matches any run of characters, a
/// leading `!` excludes. A name passes when it matches an include pattern
/// (or there is none) and no exclude pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Patterns a name must match one of (all pass when empty).
    pub include: Vec<String>,
    /// Patterns a name must match none of.
    pub exclude: Vec<String>,
}

impl Filter {
    /// A filter from patterns like `com.example.*` and `!Debug.*`; empty
    /// patterns are ignored.
    pub fn parse<I, S>(patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut filter = Self::default();
        for pattern in patterns {
            let pattern = pattern.as_ref().trim();
            match pattern.strip_prefix('!') {
                Some(rest) if !rest.is_empty() => filter.exclude.push(rest.to_owned()),
                Some(_) => {}
                None if !pattern.is_empty() => filter.include.push(pattern.to_owned()),
                None => {}
            }
        }
        filter
    }

    /// Adds the patterns of `other`.
    pub fn and(mut self, other: Filter) -> Self {
        self.include.extend(other.include);
        self.exclude.extend(other.exclude);
        self
    }

    /// Whether `name` passes.
    pub fn allows(&self, name: &str) -> bool {
        self.allows_any(&[name])
    }

    /// Whether the thing known by all of `names` passes: one of them
    /// matches an include pattern and none matches an exclude pattern.
    pub fn allows_any(&self, names: &[&str]) -> bool {
        let included = self.include.is_empty()
            || self
                .include
                .iter()
                .any(|p| names.iter().any(|n| name_matches(p, n)));
        included
            && !self
                .exclude
                .iter()
                .any(|p| names.iter().any(|n| name_matches(p, n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let all = Filter::default();
        assert!(all.allows("anything"));
        let some = Filter::parse(["com.example.*", "!*.internal", ""]);
        assert!(some.allows("com.example.greeter"));
        assert!(!some.allows("com.example.internal"));
        assert!(!some.allows("org.other"));
        let tools = McpOptions::default().tools;
        assert!(!tools.allows_any(&["Debug.Describe", "svc_Debug_Describe"]));
        assert!(tools.allows_any(&["Greeter.Hello", "svc_Greeter_Hello"]));
    }
}
