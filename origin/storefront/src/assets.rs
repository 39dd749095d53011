//! Static assets under content-hashed names (`app.3f2a9c1b0d4e.css`), so
//! they can be cached forever (`immutable`): a changed file gets a new name,
//! and pages name the current one. The bytes are compiled in; names are
//! computed once at start-up from the bytes themselves.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

pub struct Asset {
    /// The hashed file name (`app.<hash>.css`).
    pub name: String,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// Every asset, and the URL paths pages use for them.
pub struct Assets {
    pub all: Vec<Asset>,
    pub css: String,
    pub js: String,
    pub icons: String,
}

fn asset(stem: &str, ext: &str, content_type: &'static str, bytes: &'static [u8]) -> Asset {
    let digest = hex::encode(Sha256::digest(bytes));
    Asset {
        name: format!("{stem}.{}.{ext}", &digest[..12]),
        content_type,
        bytes,
    }
}

pub static ASSETS: LazyLock<Assets> = LazyLock::new(|| {
    let all = vec![
        asset(
            "app",
            "css",
            "text/css; charset=utf-8",
            include_bytes!("../assets/app.css"),
        ),
        asset(
            "app",
            "js",
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/app.js"),
        ),
        asset(
            "icons",
            "svg",
            "image/svg+xml",
            include_bytes!("../assets/icons.svg"),
        ),
    ];
    let path = |i: usize| format!("/assets/{}", all[i].name);
    Assets {
        css: path(0),
        js: path(1),
        icons: path(2),
        all,
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_a_hash_of_the_bytes() {
        let css = &ASSETS.all[0];
        assert!(css.name.starts_with("app.") && css.name.ends_with(".css"));
        assert_eq!(css.name.len(), "app.".len() + 12 + ".css".len());
        let again = asset("app", "css", "text/css", css.bytes);
        assert_eq!(again.name, css.name);
        assert_ne!(asset("app", "css", "text/css", b"x").name, css.name);
        assert_eq!(ASSETS.css, format!("/assets/{}", css.name));
    }
}
