//! The content codings the edge speaks, by name: a pure leaf that the
//! config (which names them), the metrics (which label by them) and the
//! compressor share.

/// The codings the edge produces. `as usize` indexes per-coding arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gzip = 0,
    Brotli = 1,
    Zstd = 2,
}

pub const ENCODINGS: [Encoding; 3] = [Encoding::Gzip, Encoding::Brotli, Encoding::Zstd];

impl Encoding {
    /// The `Content-Encoding` token (also the metrics label).
    pub fn as_str(self) -> &'static str {
        ["gzip", "br", "zstd"][self as usize]
    }

    /// Names a client may use for it in `Accept-Encoding`.
    pub fn names(self) -> &'static [&'static [u8]] {
        match self {
            Self::Gzip => &[b"gzip", b"x-gzip"],
            Self::Brotli => &[b"br"],
            Self::Zstd => &[b"zstd"],
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        ENCODINGS.into_iter().find(|e| e.as_str() == name)
    }
}
