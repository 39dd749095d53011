//! AWS SDK configuration shared by the DynamoDB and S3 stores.
//!
//! Every call has connect and per-attempt timeouts and a bounded number of
//! retries, so an endpoint that stops answering becomes a 503 within a few
//! seconds instead of a hung request.
//!
//! `endpoint` selects a local server (DynamoDB Local, an S3 emulator); it may
//! carry static credentials as `http://KEY:SECRET@host:port`, which local
//! servers need. Without credentials in the endpoint the SDK's default chain
//! (environment, profile, instance role) applies, as in production.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(8);

/// Splits `http://KEY:SECRET@host:port` into the bare endpoint and the
/// credentials; an endpoint without user info is returned as it is.
pub fn split_endpoint(endpoint: &str) -> (String, Option<(String, String)>) {
    let Some((scheme, rest)) = endpoint.split_once("://") else {
        return (endpoint.to_owned(), None);
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((key, secret)) => (
                format!("{scheme}://{host}"),
                Some((key.to_owned(), secret.to_owned())),
            ),
            None => (endpoint.to_owned(), None),
        },
        None => (endpoint.to_owned(), None),
    }
}

pub async fn sdk_config(endpoint: Option<&str>, region: &str) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if let Some(endpoint) = endpoint {
        let (url, credentials) = split_endpoint(endpoint);
        loader = loader.endpoint_url(url);
        if let Some((key, secret)) = credentials {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                key, secret, None, None, "endpoint",
            ));
        } else if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            // Local servers accept any key; the chain would otherwise probe
            // for an instance role and stall.
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                // DynamoDB Local accepts only letters and digits here.
                "meridianlocal",
                "meridianlocal",
                None,
                None,
                "local",
            ));
        }
    }
    loader.load().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_credentials_are_split_off() {
        assert_eq!(
            split_endpoint("http://ak:sk@127.0.0.1:9000"),
            (
                "http://127.0.0.1:9000".to_owned(),
                Some(("ak".to_owned(), "sk".to_owned()))
            )
        );
        assert_eq!(
            split_endpoint("http://127.0.0.1:9000"),
            ("http://127.0.0.1:9000".to_owned(), None)
        );
    }
}
