//! Product images: content type sniffed from the bytes (never trusted from
//! the client), size bounded, stored by id in an `ImageStore`.

use std::path::PathBuf;

use async_trait::async_trait;
use serde::Serialize;
use uuid::Uuid;

pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageType {
    Jpeg,
    Png,
    Webp,
}

impl ImageType {
    pub fn content_type(self) -> &'static str {
        match self {
            ImageType::Jpeg => "image/jpeg",
            ImageType::Png => "image/png",
            ImageType::Webp => "image/webp",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ImageType::Jpeg => "jpg",
            ImageType::Png => "png",
            ImageType::Webp => "webp",
        }
    }

    const ALL: [ImageType; 3] = [ImageType::Jpeg, ImageType::Png, ImageType::Webp];
}

/// The image type from its magic bytes, or `None` for anything else.
pub fn sniff(bytes: &[u8]) -> Option<ImageType> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageType::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageType::Png)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(ImageType::Webp)
    } else {
        None
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image store unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait ImageStore: Send + Sync + 'static {
    async fn put(&self, id: Uuid, kind: ImageType, bytes: &[u8]) -> Result<(), ImageError>;
    async fn get(&self, id: Uuid) -> Result<Option<(ImageType, Vec<u8>)>, ImageError>;
    async fn ping(&self) -> Result<(), ImageError>;
}

/// Embedded image store: one file per image in a local directory. Writes go
/// to a temporary file renamed into place, so a reader never sees half an
/// image.
pub struct LocalDirImageStore {
    dir: PathBuf,
}

impl LocalDirImageStore {
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn path(&self, id: Uuid, kind: ImageType) -> PathBuf {
        self.dir.join(format!("{id}.{}", kind.extension()))
    }
}

fn io(e: std::io::Error) -> ImageError {
    ImageError::Unavailable(e.to_string())
}

#[async_trait]
impl ImageStore for LocalDirImageStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "filesystem"))]
    async fn put(&self, id: Uuid, kind: ImageType, bytes: &[u8]) -> Result<(), ImageError> {
        let tmp = self.dir.join(format!(".{id}.tmp"));
        tokio::fs::write(&tmp, bytes).await.map_err(io)?;
        tokio::fs::rename(&tmp, self.path(id, kind))
            .await
            .map_err(io)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "filesystem"))]
    async fn get(&self, id: Uuid) -> Result<Option<(ImageType, Vec<u8>)>, ImageError> {
        for kind in ImageType::ALL {
            match tokio::fs::read(self.path(id, kind)).await {
                Ok(bytes) => return Ok(Some((kind, bytes))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(e)),
            }
        }
        Ok(None)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "filesystem"))]
    async fn ping(&self) -> Result<(), ImageError> {
        tokio::fs::metadata(&self.dir).await.map(|_| ()).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_only_the_three_formats() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(ImageType::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(ImageType::Png));
        assert_eq!(
            sniff(b"RIFF\x10\x00\x00\x00WEBPVP8 "),
            Some(ImageType::Webp)
        );
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(sniff(b"<svg></svg>"), None);
        assert_eq!(sniff(b""), None);
    }
}
