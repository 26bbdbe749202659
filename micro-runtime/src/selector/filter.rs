/// Which nodes a call may go to, beyond the service name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeFilter {
    /// Only nodes running this version.
    pub version: Option<String>,
    /// Only nodes whose metadata — the node's own, else its service
    /// version's — has all these entries.
    pub metadata: Vec<(String, String)>,
}

impl NodeFilter {
    /// True when nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.version.is_none() && self.metadata.is_empty()
    }

    /// True when `node` passes.
    pub fn matches(&self, node: &super::NodeInfo) -> bool {
        self.version
            .as_deref()
            .is_none_or(|v| node.service.version == v)
            && self.metadata.iter().all(|(k, v)| {
                node.node
                    .metadata
                    .get(k)
                    .or_else(|| node.service.metadata.get(k))
                    == Some(v)
            })
    }
}

impl std::fmt::Display for NodeFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(v) = &self.version {
            parts.push(format!("version {v}"));
        }
        for (k, v) in &self.metadata {
            parts.push(format!("{k}={v}"));
        }
        f.write_str(&parts.join(", "))
    }
}
