//! Request paths as the edge compares them: pure functions over `&str`.
//!
//! Routes, cache rules and purges all match paths on whole segments, and
//! every path is checked once for tricks that would make an origin resolve
//! it differently from the edge.

/// Whether `prefix` covers `path` on whole path segments.
pub fn segment_prefix(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'),
        None => false,
    }
}

/// Rejects paths an origin or a later proxy might resolve differently from
/// us (dot segments, empty segments, encoded slashes or dots), so a route's
/// auth rule cannot be sidestepped with `/api/catalog/../auth/me`.
pub fn is_clean_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    if path.contains('\\') {
        return false;
    }
    let encoded_separator = path.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (w[1], w[2].to_ascii_lowercase()),
                (b'2', b'f' | b'e') | (b'5', b'c')
            )
    });
    if encoded_separator {
        return false;
    }
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment == "." || segment == ".." || (segment.is_empty() && !last) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unclean_paths_are_detected() {
        for ok in ["/", "/api/auth/me", "/api/catalog/products/", "/api/x%20y"] {
            assert!(is_clean_path(ok), "{ok}");
        }
        for bad in [
            "api",
            "/api/catalog/../auth/me",
            "/api/./auth",
            "/api//auth",
            "/api/%2e%2e/auth",
            "/api/catalog%2F..%2Fauth",
            "/api\\auth",
        ] {
            assert!(!is_clean_path(bad), "{bad}");
        }
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(segment_prefix("/api/auth/me", "/api/auth"));
        assert!(segment_prefix("/api/auth", "/api/auth"));
        assert!(segment_prefix("/assets/app.css", "/assets/"));
        assert!(!segment_prefix("/api/authx", "/api/auth"));
        assert!(!segment_prefix("/api", "/api/auth"));
    }
}
