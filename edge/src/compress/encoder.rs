//! Encoders over the well-kept crates Pingora itself compresses with
//! (flate2, brotli, zstd — already in the build): one streaming encoder per
//! proxied response, and a one-shot call for cached bodies.

use std::io::Write;

use bytes::Bytes;

use super::Encoding;

/// Output buffers start at this size at most: most proxied bodies are a
/// few KiB, and a compressed one is smaller than its input.
const MAX_INITIAL_BUFFER: usize = 16 * 1024;

/// A streaming encoder writing into a buffer that each call drains.
pub enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    /// `None` once finished: brotli's writer ends its stream (ISLAST) only
    /// when consumed.
    Brotli(Option<Box<brotli::CompressorWriter<Vec<u8>>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

/// brotli's window (lgwin): 22 is its default and what browsers expect.
const BROTLI_WINDOW: u32 = 22;
const BROTLI_BUFFER: usize = 4096;

fn finished() -> std::io::Error {
    std::io::Error::other("the compressed stream already ended")
}

impl Encoder {
    pub fn new(encoding: Encoding, level: u32) -> std::io::Result<Self> {
        Ok(match encoding {
            Encoding::Gzip => Self::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(level.min(9)),
            )),
            Encoding::Brotli => Self::Brotli(Some(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER,
                level.min(11),
                BROTLI_WINDOW,
            )))),
            Encoding::Zstd => Self::Zstd(zstd::stream::write::Encoder::new(
                Vec::new(),
                level.min(22) as i32,
            )?),
        })
    }

    /// Feeds `input`; returns what is ready to send. `end` finishes the
    /// stream (its trailer included). Between chunks the encoder keeps
    /// what it has not emitted yet: a proxied body is usually one or two
    /// chunks, and flushing each would only cost ratio.
    pub fn encode(&mut self, input: &[u8], end: bool) -> std::io::Result<Bytes> {
        let reserve = input.len().min(MAX_INITIAL_BUFFER);
        let out = match self {
            Self::Gzip(e) => {
                e.get_mut().reserve(reserve);
                e.write_all(input)?;
                if end {
                    e.try_finish()?;
                }
                std::mem::take(e.get_mut())
            }
            Self::Brotli(slot) => {
                let e = slot.as_mut().ok_or_else(finished)?;
                e.get_mut().reserve(reserve);
                e.write_all(input)?;
                if end {
                    slot.take().ok_or_else(finished)?.into_inner()
                } else {
                    std::mem::take(e.get_mut())
                }
            }
            Self::Zstd(e) => {
                e.get_mut().reserve(reserve);
                e.write_all(input)?;
                if end {
                    e.do_finish()?;
                }
                std::mem::take(e.get_mut())
            }
        };
        Ok(Bytes::from(out))
    }
}

/// `body` encoded whole (cached entries: compressed once, served many times).
pub fn encode_all(encoding: Encoding, level: u32, body: &[u8]) -> std::io::Result<Bytes> {
    let mut encoder = Encoder::new(encoding, level)?;
    encoder.encode(body, true)
}

#[cfg(test)]
pub fn decode(encoding: Encoding, data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    match encoding {
        Encoding::Gzip => flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .map(drop),
        Encoding::Brotli => brotli::Decompressor::new(data, 4096)
            .read_to_end(&mut out)
            .map(drop),
        Encoding::Zstd => zstd::stream::read::Decoder::new(data)
            .and_then(|mut d| d.read_to_end(&mut out))
            .map(drop),
    }
    .expect("a valid stream");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..2000)
            .flat_map(|i| format!("{{\"id\":{i},\"title\":\"Walnut bowl {i}\"}},").into_bytes())
            .collect()
    }

    #[test]
    fn streams_decode_to_the_input_in_every_encoding() {
        let body = sample();
        for encoding in [Encoding::Gzip, Encoding::Brotli, Encoding::Zstd] {
            let mut encoder = Encoder::new(encoding, 4).unwrap();
            let mut out = Vec::new();
            let chunks: Vec<&[u8]> = body.chunks(5000).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                out.extend_from_slice(&encoder.encode(chunk, false).unwrap());
                if i == chunks.len() - 1 {
                    out.extend_from_slice(&encoder.encode(&[], true).unwrap());
                }
            }
            assert!(out.len() < body.len() / 4, "{encoding:?}: {}", out.len());
            assert_eq!(decode(encoding, &out), body, "{encoding:?}");
        }
    }

    #[test]
    fn one_shot_matches_and_empty_bodies_are_valid_streams() {
        let body = sample();
        for encoding in [Encoding::Gzip, Encoding::Brotli, Encoding::Zstd] {
            let whole = encode_all(encoding, 9, &body).unwrap();
            assert_eq!(decode(encoding, &whole), body);
            let empty = encode_all(encoding, 9, b"").unwrap();
            assert!(decode(encoding, &empty).is_empty());
        }
    }
}
