//! Where spans go and how many: the part of `[tracing]` both the edge and
//! the origins read. (The edge adds whom it believes a `traceparent` from;
//! origins believe the edge's credential.)

use serde::Deserialize;

/// OTLP export settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// OTLP/HTTP traces endpoint (protobuf), e.g.
    /// `http://127.0.0.1:4318/v1/traces`: a collector agent on the node.
    pub endpoint: String,
    /// Share of the traces this process starts that are recorded (0..=1).
    /// A continued trace follows its parent's decision.
    #[serde(default = "default_ratio")]
    pub sample_ratio: f64,
    /// Name spans carry as `service.name`; by default the binary's.
    #[serde(default)]
    pub service_name: Option<String>,
}

/// `sample_ratio` when unset: every trace (OpenTelemetry's own default,
/// parent-based always-on). The edge's `[tracing]` uses it too.
pub fn default_ratio() -> f64 {
    1.0
}

impl Export {
    /// Problems as (key, message), the key relative to `[tracing]`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        validate_endpoint(&self.endpoint).map_err(|m| ("endpoint", m))?;
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err((
                "sample_ratio",
                format!("must be between 0 and 1, got {}", self.sample_ratio),
            ));
        }
        if self
            .service_name
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            return Err(("service_name", "must not be empty".into()));
        }
        Ok(())
    }
}

/// `key` (as `Export::validate` names it) under the `[tracing]` table
/// both sides read these settings from.
pub fn qualified(key: &'static str) -> &'static str {
    match key {
        "endpoint" => "tracing.endpoint",
        "sample_ratio" => "tracing.sample_ratio",
        "service_name" => "tracing.service_name",
        _ => "tracing",
    }
}

/// An `http://host:port/path` URL. Plain HTTP only: the exporter talks to
/// a collector agent on the same node or pod (the OpenTelemetry
/// Collector's usual deployment), which forwards over TLS.
fn validate_endpoint(endpoint: &str) -> Result<(), String> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e| format!("{endpoint:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "{endpoint:?}: https is not supported; send to a collector agent over \
                 http on the node (it forwards over TLS)"
            ))
        }
        _ => return Err(format!("{endpoint:?} must start with http://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{endpoint:?} has no host"));
    }
    if uri.path() == "/" {
        return Err(format!(
            "{endpoint:?} has no path; the OTLP/HTTP traces path is /v1/traces"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Export, String> {
        toml::from_str::<Export>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn settings_are_validated_by_key() {
        let cases: [(&str, Result<(), &str>); 8] = [
            (r#"endpoint = "http://127.0.0.1:4318/v1/traces""#, Ok(())),
            (
                "endpoint = \"http://otel-agent:4318/v1/traces\"\nsample_ratio = 0.25",
                Ok(()),
            ),
            (
                r#"endpoint = "https://collector:4318/v1/traces""#,
                Err("endpoint"),
            ),
            (r#"endpoint = "collector:4318""#, Err("endpoint")),
            (r#"endpoint = "http://collector:4318""#, Err("endpoint")),
            (
                "endpoint = \"http://c:4318/v1/traces\"\nsample_ratio = 1.5",
                Err("sample_ratio"),
            ),
            (
                "endpoint = \"http://c:4318/v1/traces\"\nsample_ratio = -0.1",
                Err("sample_ratio"),
            ),
            (
                "endpoint = \"http://c:4318/v1/traces\"\nservice_name = \" \"",
                Err("service_name"),
            ),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap().validate().map_err(|(key, _)| key);
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn unknown_keys_and_a_missing_endpoint_are_refused() {
        assert!(parse("endpoint = \"http://c/v1/traces\"\nratio = 1").is_err());
        assert!(parse("sample_ratio = 1").is_err());
        assert_eq!(
            parse(r#"endpoint = "http://c:4318/v1/traces""#)
                .unwrap()
                .sample_ratio,
            1.0
        );
    }
}
