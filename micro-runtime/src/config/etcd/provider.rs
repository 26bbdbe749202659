//! The figment provider of the etcd source: a snapshot of the tree at a
//! path, read (asynchronously) just before each merge.

use figment::value::{Dict, Map};
use figment::{Metadata, Profile, Provider};
use serde_json::Value;

/// The configuration tree read from etcd, as a figment provider.
pub(crate) struct EtcdProvider {
    /// `etcd /micro/config/app/`, named in errors.
    pub(crate) name: String,
    /// The tree (an object).
    pub(crate) tree: Value,
}

impl Provider for EtcdProvider {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        figment::providers::Serialized::defaults(&self.tree).data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Figment;

    #[test]
    fn the_tree_becomes_fields() {
        #[derive(serde::Deserialize)]
        struct Db {
            host: String,
            port: u16,
        }
        #[derive(serde::Deserialize)]
        struct App {
            db: Db,
        }
        let provider = EtcdProvider {
            name: "etcd /c/app/".into(),
            tree: serde_json::json!({"db": {"host": "h", "port": 5432}}),
        };
        let app: App = Figment::from(provider).extract().unwrap();
        assert_eq!((app.db.host.as_str(), app.db.port), ("h", 5432));
    }
}
