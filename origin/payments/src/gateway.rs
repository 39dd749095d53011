//! The card processor behind a trait. The embedded one is a simulator with
//! test tokens: `tok_visa` approves, `tok_declined` declines,
//! `tok_insufficient_funds` declines for funds, `tok_timeout` times out.
//! It is idempotent by key, like a real processor's API.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use meridian_common::Money;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayAnswer {
    Approved,
    Declined(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("the card processor did not answer in time")]
    Timeout,
    #[error("unknown payment token")]
    UnknownToken,
}

#[async_trait]
pub trait PaymentGateway: Send + Sync + 'static {
    async fn authorize(
        &self,
        key: &str,
        token: &str,
        amount: Money,
    ) -> Result<GatewayAnswer, GatewayError>;
}

pub struct SimulatedGateway {
    timeout: Duration,
    answers: Mutex<HashMap<String, Result<GatewayAnswer, GatewayError>>>,
}

impl SimulatedGateway {
    /// `timeout`: how long a `tok_timeout` authorization hangs before failing.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            answers: Mutex::new(HashMap::new()),
        }
    }
}

pub const TEST_TOKENS: [&str; 4] = [
    "tok_visa",
    "tok_declined",
    "tok_insufficient_funds",
    "tok_timeout",
];

#[async_trait]
impl PaymentGateway for SimulatedGateway {
    async fn authorize(
        &self,
        key: &str,
        token: &str,
        _amount: Money,
    ) -> Result<GatewayAnswer, GatewayError> {
        if let Some(answer) = self.answers.lock().expect("gateway lock").get(key) {
            return answer.clone();
        }
        let answer = match token {
            "tok_visa" => Ok(GatewayAnswer::Approved),
            "tok_declined" => Ok(GatewayAnswer::Declined("card_declined".into())),
            "tok_insufficient_funds" => Ok(GatewayAnswer::Declined("insufficient_funds".into())),
            "tok_timeout" => {
                tokio::time::sleep(self.timeout).await;
                Err(GatewayError::Timeout)
            }
            _ => Err(GatewayError::UnknownToken),
        };
        self.answers
            .lock()
            .expect("gateway lock")
            .insert(key.to_owned(), answer.clone());
        answer
    }
}
