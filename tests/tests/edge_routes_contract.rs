//! The deployed edge's route table against the API document: every
//! documented operation reaches its service, the edge asks for a session
//! exactly where the document says one is required, and a method the
//! document does not list is never answered 401 by the edge (the origin,
//! which knows its routes, answers 405).

use std::path::Path;

use meridian_edge::config::{AuthMode, EdgeConfig};
use meridian_edge::request::routing::{Resolved, RouteTable, PROXIED_METHODS};
use reqwest::Method;
use serde_json::Value;

/// Keys of a path item that are operations (others: `parameters`, …).
const OPERATION_KEYS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

const SAMPLE_ID: &str = "0190a8d0-0000-7000-8000-000000000001";

fn table() -> RouteTable {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/edge.toml");
    let config = EdgeConfig::load(&path).expect("the deployed edge.toml is valid");
    RouteTable::for_config(&config)
}

/// `/api/orders/{id}` → `/api/orders/<uuid>`.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|s| if s.starts_with('{') { SAMPLE_ID } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the operation cannot be called without a session (every
/// alternative of its `security` names `session` or its cookie).
fn needs_session(operation: &Value) -> bool {
    let Some(alternatives) = operation["security"].as_array() else {
        return false;
    };
    !alternatives.is_empty()
        && alternatives.iter().all(|a| {
            a.as_object()
                .is_some_and(|o| o.contains_key("session") || o.contains_key("session_cookie"))
        })
}

#[test]
fn the_edge_routes_every_documented_operation_as_the_document_says() {
    let doc: Value = serde_json::from_str(meridian_server::openapi::merged().unwrap()).unwrap();
    let table = table();
    let mut problems = Vec::new();
    let mut operations = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        let path = concrete(template);
        let documented: Vec<Method> = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| OPERATION_KEYS.contains(&k.as_str()))
            .filter_map(|m| Method::from_bytes(m.to_uppercase().as_bytes()).ok())
            .collect();
        for method in &documented {
            operations += 1;
            let operation = &item[method.as_str().to_lowercase()];
            match table.resolve(method, &path) {
                Resolved::Route(route) => {
                    let required = route.auth == AuthMode::Required;
                    if required != needs_session(operation) {
                        problems.push(format!(
                            "{method} {template}: edge auth {:?}, document needs_session {}",
                            route.auth,
                            needs_session(operation)
                        ));
                    }
                }
                other => problems.push(format!("{method} {template}: edge answers {other:?}")),
            }
        }
        for method in PROXIED_METHODS.iter().chain([&Method::TRACE]) {
            let implied = *method == Method::HEAD && documented.contains(&Method::GET);
            if documented.contains(method) || implied {
                continue;
            }
            if let Resolved::Route(route) = table.resolve(method, &path) {
                if route.auth == AuthMode::Required {
                    problems.push(format!(
                        "{method} {template} (undocumented): the edge asks for a session \
                         instead of letting the origin answer 405"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(operations >= 50, "only {operations} operations documented");
}
