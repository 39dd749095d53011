//! Production image store: S3 (or an S3-compatible server). One object per
//! image, `images/<id>`, with its content type; S3 writes are atomic per
//! object, so a reader never sees half an image.

use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use uuid::Uuid;

use crate::images::{sniff, ImageError, ImageStore, ImageType};

pub struct S3ImageStore {
    client: Client,
    bucket: String,
}

fn failed<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> ImageError {
    let detail = match e.code() {
        Some(code) => format!("{code}: {}", e.message().unwrap_or("")),
        None => format!("{e:?}"),
    };
    ImageError::Unavailable(format!("s3: {detail}"))
}

impl S3ImageStore {
    /// Connects and creates the bucket when it does not exist.
    pub async fn connect(
        endpoint: Option<&str>,
        region: &str,
        bucket: &str,
    ) -> Result<Self, ImageError> {
        let shared = meridian_common::aws::sdk_config(endpoint, region).await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared);
        if endpoint.is_some() {
            // Local servers have no per-bucket DNS names.
            config = config.force_path_style(true);
        }
        let client = Client::from_conf(config.build());
        match client.head_bucket().bucket(bucket).send().await {
            Ok(_) => {}
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                match client.create_bucket().bucket(bucket).send().await {
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.code(),
                            Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                        ) => {}
                    Err(e) => return Err(failed(e)),
                }
            }
            Err(e) => return Err(failed(e)),
        }
        Ok(Self {
            client,
            bucket: bucket.to_owned(),
        })
    }

    fn key(id: Uuid) -> String {
        format!("images/{id}")
    }
}

#[async_trait]
impl ImageStore for S3ImageStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "s3"))]
    async fn put(&self, id: Uuid, kind: ImageType, bytes: &[u8]) -> Result<(), ImageError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(Self::key(id))
            .content_type(kind.content_type())
            .cache_control("public, max-age=31536000, immutable")
            .body(ByteStream::from(bytes.to_vec()))
            .send()
            .await
            .map_err(failed)?;
        Ok(())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "s3"))]
    async fn get(&self, id: Uuid) -> Result<Option<(ImageType, Vec<u8>)>, ImageError> {
        let object = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(Self::key(id))
            .send()
            .await
        {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(failed(e)),
        };
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| ImageError::Unavailable(format!("s3: reading body: {e}")))?
            .into_bytes()
            .to_vec();
        // The type is sniffed again rather than trusted from the object's
        // metadata: only what was validated at upload can come back.
        match sniff(&bytes) {
            Some(kind) => Ok(Some((kind, bytes))),
            None => Err(ImageError::Unavailable(format!(
                "s3: object {} is not an image",
                Self::key(id)
            ))),
        }
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "s3"))]
    async fn ping(&self) -> Result<(), ImageError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(failed)?;
        Ok(())
    }
}
