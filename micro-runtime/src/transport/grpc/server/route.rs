//! What a gRPC request path names: `/{package}.{Service}/{Method}` is the
//! endpoint `{Service}.{Method}`; the health and reflection services are
//! answered by the transport itself.

/// The proto name of the health service.
pub(crate) const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
/// The proto names of the reflection services (v1 and the older v1alpha,
/// which has the same messages).
pub(crate) const REFLECTION_SERVICES: [&str; 2] = [
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// `grpc.health.v1.Health/Check`.
    HealthCheck,
    /// `grpc.health.v1.Health/Watch`.
    HealthWatch,
    /// `ServerReflectionInfo` of either reflection service.
    Reflection,
    /// A method of the node's service.
    Method {
        /// The full proto service name, e.g. `greeter.v1.Greeter`.
        service: &'a str,
        /// The endpoint, e.g. `Greeter.Hello`.
        endpoint: String,
    },
}

/// The route of `path`; `None` when it is not `/{service}/{method}`.
pub(crate) fn route(path: &str) -> Option<Route<'_>> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    let valid = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    };
    if !valid(service) || !valid(method) || method.contains('.') {
        return None;
    }
    Some(match (service, method) {
        (HEALTH_SERVICE, "Check") => Route::HealthCheck,
        (HEALTH_SERVICE, "Watch") => Route::HealthWatch,
        (s, "ServerReflectionInfo") if REFLECTION_SERVICES.contains(&s) => Route::Reflection,
        _ => {
            let short = service.rsplit('.').next()?;
            if short.is_empty() {
                return None;
            }
            Route::Method {
                service,
                endpoint: format!("{short}.{method}"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proto_method_is_its_service_and_method() {
        assert_eq!(
            route("/greeter.v1.Greeter/Hello"),
            Some(Route::Method {
                service: "greeter.v1.Greeter",
                endpoint: "Greeter.Hello".into()
            })
        );
        // A service without a package (code-first services have none).
        assert_eq!(
            route("/Greeter/Hello"),
            Some(Route::Method {
                service: "Greeter",
                endpoint: "Greeter.Hello".into()
            })
        );
    }

    #[test]
    fn health_and_reflection_are_the_transports_own() {
        assert_eq!(
            route("/grpc.health.v1.Health/Check"),
            Some(Route::HealthCheck)
        );
        assert_eq!(
            route("/grpc.health.v1.Health/Watch"),
            Some(Route::HealthWatch)
        );
        for service in REFLECTION_SERVICES {
            assert_eq!(
                route(&format!("/{service}/ServerReflectionInfo")),
                Some(Route::Reflection)
            );
        }
        assert!(matches!(
            route("/grpc.health.v1.Health/List"),
            Some(Route::Method { .. })
        ));
    }

    #[test]
    fn anything_else_is_no_route() {
        for bad in [
            "",
            "/",
            "/greeter.v1.Greeter",
            "/greeter.v1.Greeter/",
            "//Hello",
            "/greeter.v1.Greeter/Hello/extra",
            "/greeter.v1.Greeter/Greeter.Hello",
            "/greeter.v1./Hello",
            "/greeter v1.Greeter/Hello",
            "greeter.v1.Greeter/Hello",
        ] {
            assert_eq!(route(bad), None, "{bad:?}");
        }
    }
}
