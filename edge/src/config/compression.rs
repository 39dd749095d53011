//! `[compression]`: which responses the edge compresses and how hard.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompressionConfig {
    #[serde(default = "super::yes")]
    pub enabled: bool,
    /// Bodies shorter than this (bytes, when their length is known) are
    /// sent as they are: below about a packet, compression saves nothing.
    /// A route's `compress_min_bytes` overrides it.
    #[serde(default = "default_min_bytes")]
    pub min_bytes: u64,
    /// Codings offered, in the edge's order of preference among those a
    /// client accepts equally: `br`, `zstd`, `gzip`.
    #[serde(default = "default_prefer")]
    pub prefer: Vec<String>,
    /// Compressible media types: `text/` (every subtype), `+json` (a
    /// suffix) or an exact type.
    #[serde(default = "default_types")]
    pub types: Vec<String>,
    /// Levels for proxied bodies, compressed as they stream through.
    #[serde(default = "default_stream_level")]
    pub stream_level: Levels,
    /// Levels for cached bodies, compressed once per coding and served
    /// many times, so worth a slower, tighter level.
    #[serde(default = "default_stored_level")]
    pub stored_level: Levels,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Levels {
    pub gzip: u32,
    pub br: u32,
    pub zstd: u32,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_bytes: default_min_bytes(),
            prefer: default_prefer(),
            types: default_types(),
            stream_level: default_stream_level(),
            stored_level: default_stored_level(),
        }
    }
}

impl CompressionConfig {
    /// `(key, message)` of the first invalid setting.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let invalid = |key: &str, message: String| Err((format!("compression.{key}"), message));
        let mut seen = Vec::new();
        for (i, name) in self.prefer.iter().enumerate() {
            if crate::coding::Encoding::from_name(name).is_none() {
                return invalid(
                    &format!("prefer[{i}]"),
                    format!("unknown coding {name:?} (use br, zstd or gzip)"),
                );
            }
            if seen.contains(&name) {
                return invalid(&format!("prefer[{i}]"), format!("{name:?} is listed twice"));
            }
            seen.push(name);
        }
        if self.enabled && self.prefer.is_empty() {
            return invalid(
                "prefer",
                "name at least one coding, or set enabled = false".into(),
            );
        }
        for (i, t) in self.types.iter().enumerate() {
            let shaped = t.ends_with('/') || t.starts_with('+') || t.contains('/');
            if t.is_empty() || !shaped || t.contains([';', ' ', ',']) {
                return invalid(
                    &format!("types[{i}]"),
                    format!("{t:?} is not a media type (`text/`, `+json` or `type/subtype`)"),
                );
            }
        }
        for (key, levels) in [
            ("stream_level", self.stream_level),
            ("stored_level", self.stored_level),
        ] {
            for (coding, level, range) in [
                ("gzip", levels.gzip, 1..=9),
                ("br", levels.br, 0..=11),
                ("zstd", levels.zstd, 1..=19),
            ] {
                if !range.contains(&level) {
                    return invalid(
                        &format!("{key}.{coding}"),
                        format!("must be within {}..={}", range.start(), range.end()),
                    );
                }
            }
        }
        Ok(())
    }
}

fn default_min_bytes() -> u64 {
    1024
}

fn default_prefer() -> Vec<String> {
    // Brotli packs text best and every browser takes it; zstd is as good
    // and cheaper to make; gzip is the fallback everything reads.
    ["br", "zstd", "gzip"].map(String::from).to_vec()
}

fn default_types() -> Vec<String> {
    [
        "text/",
        "application/json",
        "+json",
        "application/javascript",
        "application/xml",
        "+xml",
        "image/svg+xml",
        "application/wasm",
        "font/ttf",
        "font/otf",
    ]
    .map(String::from)
    .to_vec()
}

fn default_stream_level() -> Levels {
    // Cheap levels for bytes made per request: close to the best ratio on
    // JSON for a fraction of the CPU (`cargo bench -p meridian-bench --bench
    // compression` times both sets).
    Levels {
        gzip: 5,
        br: 4,
        zstd: 3,
    }
}

fn default_stored_level() -> Levels {
    Levels {
        gzip: 9,
        br: 9,
        zstd: 15,
    }
}
