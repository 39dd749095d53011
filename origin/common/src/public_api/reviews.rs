//! Reviews and ratings (`/api/reviews`).

use axum::http::Method;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{bodiless, found, get, json, with_query, Actor, PublicApi};
use crate::client::ClientError;
use crate::rating::RatingSummary;
use crate::{ProductId, UserId};

#[derive(Debug, Clone, Deserialize)]
pub struct Review {
    pub id: Uuid,
    pub product_id: ProductId,
    pub user_id: UserId,
    pub rating: u8,
    pub text: String,
    pub reply: Option<ReviewReply>,
    pub helpful: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReviewReply {
    pub text: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReviewPage {
    pub items: Vec<Review>,
    pub summary: RatingSummary,
    /// Offset of the next page, when there is one.
    pub next_offset: Option<u32>,
}

/// `GET /api/reviews/products/{id}` parameters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReviewQuery {
    /// `newest` or `helpful`.
    pub sort: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

impl PublicApi {
    pub async fn reviews(
        &self,
        actor: &Actor,
        product: ProductId,
        query: &ReviewQuery,
    ) -> Result<ReviewPage, ClientError> {
        let path = with_query(&format!("/api/reviews/products/{product}"), query);
        get(&self.reviews, actor, &path).await
    }

    /// The actor's own review of `product`, if they wrote one.
    pub async fn my_review(
        &self,
        actor: &Actor,
        product: ProductId,
    ) -> Result<Option<Review>, ClientError> {
        let path = format!("/api/reviews/products/{product}/mine");
        found(get(&self.reviews, actor, &path).await)
    }

    /// Writes or rewrites the actor's review (verified buyers only).
    pub async fn submit_review(
        &self,
        actor: &Actor,
        product: ProductId,
        rating: u8,
        text: &str,
    ) -> Result<Review, ClientError> {
        let path = format!("/api/reviews/products/{product}");
        let body = json!({ "rating": rating, "text": text });
        json(&self.reviews, actor, Method::POST, &path, &body).await
    }

    /// Counts the actor's helpful vote once; `false` if already counted.
    pub async fn vote_helpful(&self, actor: &Actor, review: Uuid) -> Result<bool, ClientError> {
        #[derive(Deserialize)]
        struct Counted {
            counted: bool,
        }
        let path = format!("/api/reviews/{review}/helpful");
        let answer: Counted = bodiless(&self.reviews, actor, Method::POST, &path).await?;
        Ok(answer.counted)
    }

    /// The product's seller answers a review.
    pub async fn reply_to_review(
        &self,
        actor: &Actor,
        review: Uuid,
        text: &str,
    ) -> Result<Review, ClientError> {
        let path = format!("/api/reviews/{review}/reply");
        json(
            &self.reviews,
            actor,
            Method::POST,
            &path,
            &json!({ "text": text }),
        )
        .await
    }
}
