//! Entry point for the fuzz target of the gateway's path resolver (`fuzz/`,
//! feature `fuzzing`). Not a stable API.

use crate::resolve;

/// Resolves a path against registered names, all taken from `data`: the
/// path, the namespace, then `service=Endpoint.A,Endpoint.B` lines. The
/// answer is one of the registered names, or a 404.
pub fn resolve_path(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let path = lines.next().unwrap_or_default();
    let namespace = lines.next().unwrap_or_default();
    let registered: Vec<(&str, Vec<&str>)> = lines
        .map(|line| {
            let (service, endpoints) = line.split_once('=').unwrap_or((line, ""));
            (
                service,
                endpoints.split(',').filter(|e| !e.is_empty()).collect(),
            )
        })
        .collect();
    let names = registered.iter().map(|(name, _)| *name);
    let result = resolve::wanted(path).and_then(|wanted| {
        let service = resolve::service(&wanted.service, namespace, names.clone())?;
        assert!(names.clone().any(|n| n == service));
        let endpoints = registered
            .iter()
            .find(|(name, _)| *name == service)
            .map(|(_, e)| e.as_slice())
            .unwrap_or_default();
        let endpoint = resolve::endpoint(service, &wanted, endpoints.iter().copied())?;
        assert!(endpoints.contains(&endpoint));
        Ok(())
    });
    if let Err(err) = result {
        assert!(err.is_not_found(), "{err}");
    }
}
