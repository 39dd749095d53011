//! `Accept-Encoding` → the coding to send (RFC 9110 §12.5.3), as a pure,
//! allocation-free function over the header's bytes.
//!
//! The client's q-values rank the codings; among equal q-values the
//! server's preference order decides. `*` stands for every coding the
//! header does not name, `q=0` excludes one, and a client that names no
//! acceptable coding gets the identity body (nginx does the same: sending
//! an uncompressed body is always safer than a 406).

use super::Encoding;

/// q-values in thousandths (the RFC allows three decimals).
type Q = u16;

/// The coding to send for `accept` (the raw header, if any), among the
/// server's `prefer`red codings; `None` means the identity body.
pub fn negotiate(accept: Option<&[u8]>, prefer: &[Encoding]) -> Option<Encoding> {
    // No header: any coding is acceptable, but clients that send none are
    // tools and old proxies that often cannot decode one; nginx sends
    // identity too.
    let accept = accept?;
    let mut best: Option<(Encoding, Q)> = None;
    for encoding in prefer {
        let q = quality(accept, *encoding);
        // Strictly greater: the earlier (preferred) coding wins ties.
        if q > 0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((*encoding, q));
        }
    }
    best.map(|(e, _)| e)
}

/// The q-value `accept` gives `encoding`: its own entry, else `*`'s, else 0.
fn quality(accept: &[u8], encoding: Encoding) -> Q {
    let mut wildcard = None;
    for item in accept.split(|b| *b == b',') {
        let mut parts = item.split(|b| *b == b';');
        let coding = parts.next().unwrap_or_default().trim_ascii();
        let q = parts.find_map(q_param).unwrap_or(1000);
        if encoding
            .names()
            .iter()
            .any(|n| coding.eq_ignore_ascii_case(n))
        {
            return q;
        }
        if coding == b"*" {
            wildcard = Some(q);
        }
    }
    wildcard.unwrap_or(0)
}

/// `q=0.5` → 500; anything that is not a valid weight → `None` (ignored,
/// leaving the default of 1).
fn q_param(param: &[u8]) -> Option<Q> {
    let param = param.trim_ascii();
    let (name, value) = param.split_at_checked(2)?;
    if !name.eq_ignore_ascii_case(b"q=") {
        return None;
    }
    let (int, frac) = match value.iter().position(|b| *b == b'.') {
        Some(dot) => (&value[..dot], &value[dot + 1..]),
        None => (value, &[][..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths: Q = 0;
    for i in 0..3 {
        let digit = frac.get(i).map_or(0, |d| Q::from(d - b'0'));
        thousandths = thousandths * 10 + digit;
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Encoding::{Brotli, Gzip, Zstd};

    const PREFER: [Encoding; 3] = [Brotli, Zstd, Gzip];

    #[test]
    fn picks_by_q_value_then_server_preference() {
        let cases: [(Option<&str>, Option<Encoding>); 18] = [
            (None, None),
            (Some(""), None),
            (Some("identity"), None),
            (Some("gzip"), Some(Gzip)),
            (Some("x-gzip"), Some(Gzip)),
            (Some("GZIP"), Some(Gzip)),
            (Some("gzip, deflate, br, zstd"), Some(Brotli)),
            (Some("gzip, zstd"), Some(Zstd)),
            (Some("br;q=0.5, gzip"), Some(Gzip)),
            (Some("br;q=1.0, gzip;q=0.999"), Some(Brotli)),
            (Some("gzip;q=0, br;q=0"), None),
            (Some("*"), Some(Brotli)),
            (Some("*;q=0.1, gzip;q=0.2"), Some(Gzip)),
            (Some("br;q=0, *"), Some(Zstd)),
            (Some("deflate, compress"), None),
            (Some(" gzip ; q=0.8 , br ; q=0.9 "), Some(Brotli)),
            // Malformed weights are ignored (default 1), not fatal.
            (Some("br;q=2, gzip;q=0.5"), Some(Brotli)),
            (Some("br;q=0.1234, gzip;q=0.5"), Some(Brotli)),
        ];
        for (header, want) in cases {
            assert_eq!(
                negotiate(header.map(str::as_bytes), &PREFER),
                want,
                "Accept-Encoding: {header:?}"
            );
        }
    }

    #[test]
    fn only_the_servers_codings_are_offered() {
        assert_eq!(negotiate(Some(b"br, zstd"), &[Gzip]), None);
        assert_eq!(negotiate(Some(b"br, gzip"), &[Gzip, Brotli]), Some(Gzip));
        assert_eq!(negotiate(Some(b"*"), &[]), None);
    }

    #[test]
    fn q_values_parse_to_thousandths() {
        assert_eq!(q_param(b"q=1"), Some(1000));
        assert_eq!(q_param(b"Q=0.25"), Some(250));
        assert_eq!(q_param(b"q=0."), Some(0));
        assert_eq!(q_param(b"q=0"), Some(0));
        assert_eq!(q_param(b"q=1.5"), None);
        assert_eq!(q_param(b"q=x"), None);
        assert_eq!(q_param(b"level=1"), None);
    }
}
