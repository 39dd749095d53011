//! `GET /api/openapi.json`: every public service's OpenAPI 3.1 document,
//! generated from the handlers' annotations and merged once.

use std::sync::OnceLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use meridian_common::ApiError;
use serde_json::{json, Value};

/// The merged public document, as served.
pub fn merged() -> Result<&'static str, String> {
    static DOC: OnceLock<Result<String, String>> = OnceLock::new();
    DOC.get_or_init(|| {
        // Public services only; internal APIs (payments, …) are served at
        // /internal/openapi.json to callers holding the edge credential.
        let mut doc = meridian_auth::openapi();
        for part in [
            meridian_catalog::openapi(),
            meridian_search::openapi(),
            meridian_sellers::openapi(),
            meridian_cart::openapi(),
            meridian_orders::openapi(),
            meridian_logistics::openapi(),
            meridian_reviews::openapi(),
            meridian_analytics::openapi(),
        ] {
            doc.merge(part);
        }
        doc.info = utoipa::openapi::InfoBuilder::new()
            .title("Meridian marketplace API")
            .version(env!("CARGO_PKG_VERSION"))
            .description(Some(
                "Every service behind the Meridian edge. Errors are JSON: {\"error\":{\"code\",\"message\"}}.",
            ))
            .build();
        let mut json = serde_json::to_value(&doc).map_err(|e| e.to_string())?;
        add_edge_answers(&mut json);
        add_security(&mut json);
        serde_json::to_string_pretty(&json).map_err(|e| e.to_string())
    })
    .as_deref()
    .map_err(Clone::clone)
}

/// What the edge in front of every operation answers itself, added to
/// each operation so the document covers every status a client can get:
/// `400 bad_path` (dot or empty segments, encoded separators), `429
/// rate_limited` with `Retry-After` (the route's rate-limit group), `413`
/// on a body over the route's limit, and `415` wherever a JSON body is
/// expected (its content type is checked).
fn add_edge_answers(doc: &mut Value) {
    let error = json!({ "$ref": "#/components/schemas/ErrorBody" });
    let answer = |description: &str| json!({ "description": description, "content": { "application/json": { "schema": error } } });
    for operation in operations_mut(doc) {
        let body = operation.get("requestBody").is_some();
        let json_body = operation
            .pointer("/requestBody/content/application~1json")
            .is_some();
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        match responses
            .get_mut("400")
            .and_then(|r| r.get_mut("description"))
        {
            Some(Value::String(d)) => d.push_str(" / bad_path"),
            _ => {
                responses.insert("400".into(), answer("bad_path"));
            }
        }
        responses.entry("429").or_insert_with(|| {
            let mut limited =
                answer("rate_limited: the route's rate limit; retry after the given seconds");
            limited["headers"] = json!({ "Retry-After": {
                "description": "seconds until a request may succeed",
                "schema": { "type": "integer", "minimum": 0 }
            }});
            limited
        });
        if body {
            responses
                .entry("413")
                .or_insert_with(|| answer("body_too_large: over the route's body limit"));
        }
        if json_body {
            responses.entry("415").or_insert_with(|| {
                answer("unsupported_media_type: send Content-Type: application/json")
            });
        }
    }
}

/// The credentials operations declare (`security`), defined once here. An
/// operation names `session`; the edge takes that session from the
/// `meridian_session` cookie as well, so each `session` requirement gets the
/// cookie as an alternative instead of every operation listing both.
fn add_security(doc: &mut Value) {
    doc["components"]["securitySchemes"] = json!({
        "session": {
            "type": "http",
            "scheme": "bearer",
            "description": "A session token from POST /api/auth/login, or a seller API key (`mk_…`, POST /api/sellers/me/keys) where the operation takes one; a key is limited to its scopes (403 insufficient_scope). A token that is presented but not valid is answered 401 even where signing in is optional."
        },
        "session_cookie": {
            "type": "apiKey",
            "in": "cookie",
            "name": "meridian_session",
            "description": "The same session token, as the storefront's cookie."
        },
        "ops_token": {
            "type": "apiKey",
            "in": "header",
            "name": "x-admin-token",
            "description": "The operators' credential (analytics.admin_token); 403 when it does not match or none is configured."
        },
        "carrier_secret": {
            "type": "apiKey",
            "in": "header",
            "name": "x-carrier-secret",
            "description": "The carriers' shared secret (logistics.carrier_secret)."
        }
    });
    let session = json!({ "session": [] });
    for operation in operations_mut(doc) {
        if let Some(security) = operation.get_mut("security").and_then(Value::as_array_mut) {
            if security.contains(&session) {
                security.push(json!({ "session_cookie": [] }));
            }
        }
    }
}

/// Every operation of the document's paths.
fn operations_mut(doc: &mut Value) -> impl Iterator<Item = &mut Value> {
    doc.get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.iter_mut())
        .filter(|(method, _)| METHODS.contains(&method.as_str()))
        .map(|(_, operation)| operation)
}

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

pub async fn document() -> Response {
    match merged() {
        Ok(json) => (
            [
                (CONTENT_TYPE, "application/json"),
                (CACHE_CONTROL, "public, max-age=300"),
            ],
            json,
        )
            .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// `GET /internal/openapi.json`: the service-to-service APIs.
pub async fn internal_document() -> Response {
    static DOC: OnceLock<Result<String, String>> = OnceLock::new();
    let doc = DOC.get_or_init(|| {
        let mut doc = meridian_payments::openapi();
        doc.info = utoipa::openapi::InfoBuilder::new()
            .title("Meridian internal APIs")
            .version(env!("CARGO_PKG_VERSION"))
            .build();
        doc.to_pretty_json().map_err(|e| e.to_string())
    });
    match doc {
        Ok(json) => ([(CONTENT_TYPE, "application/json")], json.clone()).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_json::from_str(merged().unwrap()).unwrap()
    }

    fn operations(doc: &Value) -> impl Iterator<Item = (String, &Value)> {
        doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .iter()
                    .filter(|(m, _)| METHODS.contains(&m.as_str()))
                    .map(move |(m, op)| (format!("{m} {path}"), op))
            })
    }

    #[test]
    fn every_operation_lists_what_the_edge_answers() {
        let doc = doc();
        for (name, op) in operations(&doc) {
            let responses = &op["responses"];
            let limited = &responses["429"];
            assert!(limited["headers"]["Retry-After"].is_object(), "{name}");
            let bad = responses["400"]["description"].as_str().unwrap_or_default();
            assert!(bad.contains("bad_path"), "{name}: {bad}");
            if op
                .pointer("/requestBody/content/application~1json")
                .is_some()
            {
                assert!(responses["415"].is_object(), "{name}");
                assert!(responses["413"].is_object(), "{name}");
            }
        }
    }

    #[test]
    fn operations_that_need_a_credential_declare_it() {
        let doc = doc();
        let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
        for (name, op) in operations(&doc) {
            let security = op["security"].as_array().cloned().unwrap_or_default();
            for requirement in &security {
                for scheme in requirement.as_object().unwrap().keys() {
                    assert!(schemes.contains_key(scheme), "{name}: {scheme}");
                }
            }
            let has = |scheme: &str| security.iter().any(|r| r.get(scheme).is_some());
            assert_eq!(has("session"), has("session_cookie"), "{name}");
            // A documented `401 unauthorized` means a credential is needed
            // (login's 401 is a wrong password, not a missing credential).
            let unauthorized = op["responses"]["401"]["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("unauthorized"));
            if unauthorized {
                assert!(
                    !security.is_empty(),
                    "{name} answers 401 but declares no security"
                );
            }
        }
        // PATCH bodies need a field (utoipa's own attribute for this writes
        // maxProperties instead; see meridian_common::openapi::AtLeastOneField).
        for (name, op) in operations(&doc).filter(|(name, _)| name.starts_with("patch ")) {
            let body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches("#/components/schemas/");
            let schema = &doc["components"]["schemas"][body];
            assert_eq!(schema["minProperties"], 1, "{name}: {schema}");
            assert!(schema["maxProperties"].is_null(), "{name}");
        }
        let optional = &doc["paths"]["/api/cart"]["get"]["security"];
        assert_eq!(optional[0], json!({}), "a guest cart needs no session");
    }

    #[test]
    fn parameters_say_where_they_go_and_what_is_accepted() {
        let doc = doc();
        for (name, op) in operations(&doc) {
            let path = name.split(' ').nth(1).unwrap();
            for p in op["parameters"].as_array().into_iter().flatten() {
                let pname = p["name"].as_str().unwrap();
                if p["in"] == "path" {
                    // A path parameter must be a template of its path.
                    assert!(path.contains(&format!("{{{pname}}}")), "{name}: {pname}");
                    if pname != "slug" {
                        assert_eq!(p["schema"]["format"], "uuid", "{name}: {pname}");
                    }
                }
                if pname == "limit" {
                    assert_eq!(p["schema"]["minimum"], 1, "{name}");
                    assert_eq!(p["schema"]["maximum"], 100, "{name}");
                }
                if pname == "sort" || pname == "category" {
                    assert!(p["schema"]["enum"].is_array(), "{name}: {pname}");
                }
            }
        }
        // Emails in bodies refer to the one schema beside the parser.
        let schemas = &doc["components"]["schemas"];
        assert!(schemas["Email"]["pattern"].is_string());
        for body in ["RegisterRequest", "OpenShop"] {
            let email = &schemas[body]["properties"];
            let email = &email[if body == "OpenShop" {
                "contact_email"
            } else {
                "email"
            }];
            assert_eq!(email["$ref"], "#/components/schemas/Email", "{body}");
        }
        // Counts carry the bounds of the constants the handlers check.
        for (body, field, min, max) in [
            ("AddItem", "quantity", 1, 99),
            ("CartLineRef", "quantity", 1, 99),
            ("SetStock", "stock", 0, 1_000_000),
            ("NewProduct", "stock", 0, 1_000_000),
        ] {
            let count = &schemas[body]["properties"][field];
            assert_eq!(
                (&count["minimum"], &count["maximum"]),
                (&json!(min), &json!(max)),
                "{body}.{field}"
            );
        }
        let upload = &doc["paths"]["/api/sellers/me/images"]["post"]["requestBody"];
        let schema = &upload["content"]["multipart/form-data"]["schema"];
        assert!(schema.is_object(), "{upload}");
    }
}
