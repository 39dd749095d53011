//! Request paths as the edge compares them: pure functions over `&str`.
//!
//! Routes, cache rules and purges all match paths on whole segments, and
//! every path is checked once for tricks that would make an origin resolve
//! it differently from the edge. Route patterns may name a segment
//! (`/api/orders/{id}/cancel`), as the API document does.

/// Whether `prefix` covers `path` on whole path segments.
pub fn segment_prefix(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'),
        None => false,
    }
}

/// A route's path pattern, compiled once: literal segments, `{name}`
/// segments that stand for any one non-empty segment, and whether it
/// covers deeper paths too (a prefix) or only its own (exact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    text: Box<str>,
    params: bool,
    exact: bool,
    depth: u16,
    literals: u16,
}

/// Whether a pattern segment is a `{name}` parameter.
pub fn is_param(segment: &str) -> bool {
    segment.len() > 2 && segment.starts_with('{') && segment.ends_with('}')
}

impl PathPattern {
    pub fn new(text: &str, exact: bool) -> Self {
        let segments = text.split('/').filter(|s| !s.is_empty());
        let (depth, literals) = segments.fold((0u16, 0u16), |(d, l), s| {
            (d + 1, l + u16::from(!is_param(s)))
        });
        Self {
            text: text.into(),
            params: literals < depth,
            exact,
            depth,
            literals,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// Segments in the pattern (`/` has none).
    pub fn depth(&self) -> u16 {
        self.depth
    }

    /// How specific the pattern is; more specific sorts greater: deeper
    /// first, then more literal segments (`/orders/quote` beats
    /// `/orders/{id}`), then exact before prefix.
    pub fn specificity(&self) -> (u16, u16, bool, usize) {
        (self.depth, self.literals, self.exact, self.text.len())
    }

    /// Whether the pattern covers `path` (allocation-free).
    pub fn covers(&self, path: &str) -> bool {
        if !self.params {
            return if self.exact {
                path == &*self.text
            } else {
                segment_prefix(path, &self.text)
            };
        }
        let mut segments = path.split('/');
        for want in self.text.split('/') {
            match segments.next() {
                Some(got) if is_param(want) && !got.is_empty() => {}
                Some(got) if got == want => {}
                _ => return false,
            }
        }
        match segments.next() {
            None => true,
            // A trailing slash or deeper segments: only a prefix covers them.
            Some(_) => !self.exact,
        }
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
    fn patterns_name_segments_and_may_be_exact() {
        let id = PathPattern::new("/api/orders/{id}", false);
        assert!(id.covers("/api/orders/abc"));
        assert!(id.covers("/api/orders/abc/cancel"));
        assert!(id.covers("/api/orders/abc/"));
        assert!(!id.covers("/api/orders"));
        assert!(!id.covers("/api/orders/"));
        assert!(!id.covers("/api/ordersx/abc"));
        let exact = PathPattern::new("/api/orders/{id}", true);
        assert!(exact.covers("/api/orders/abc"));
        assert!(!exact.covers("/api/orders/abc/cancel"));
        assert!(!exact.covers("/api/orders/abc/"));
        let nested = PathPattern::new("/api/orders/{id}/sub-orders/{sub}/ship", true);
        assert!(nested.covers("/api/orders/1/sub-orders/2/ship"));
        assert!(!nested.covers("/api/orders/1/sub-orders/2/cancel"));
        assert!(!nested.covers("/api/orders/1/sub-orders//ship"));
        let literal = PathPattern::new("/api/orders", true);
        assert!(literal.covers("/api/orders"));
        assert!(!literal.covers("/api/orders/1"));
        assert!(PathPattern::new("/api/orders", false).covers("/api/orders/1"));
        assert!(PathPattern::new("/", false).covers("/anything"));
        assert!(PathPattern::new("/", true).covers("/"));
        assert!(!PathPattern::new("/", true).covers("/x"));
    }

    #[test]
    fn literal_segments_are_more_specific_than_parameters() {
        let spec = |p: &str, exact| PathPattern::new(p, exact).specificity();
        assert!(spec("/api/orders/quote", false) > spec("/api/orders/{id}", false));
        assert!(spec("/api/orders/{id}", false) > spec("/api/orders", false));
        assert!(spec("/api/orders", true) > spec("/api/orders", false));
        assert!(spec("/api/orders/{id}/cancel", false) > spec("/api/orders/quote", false));
        assert_eq!(PathPattern::new("/", false).depth(), 0);
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
