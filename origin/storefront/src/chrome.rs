//! What every page shows around its content: the header (with its
//! personal part), the categories, the footer, and the hashed assets.

use meridian_common::taxonomy::CATEGORIES;

use crate::assets::ASSETS;

/// The personal part of the header.
#[derive(Debug, Clone, Default)]
pub struct Personal {
    /// Display name; `None` when signed out.
    pub name: Option<String>,
    pub cart_count: u32,
}

/// The frame of a page.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    pub description: String,
    /// Rendered into the header on pages made for one person; `None` on
    /// shared pages, whose script fetches it (`/fragments/header`).
    pub personal: Option<Personal>,
    /// The category being browsed (highlighted in the menu).
    pub category: Option<String>,
    /// What the search box shows.
    pub query: String,
    /// A confirmation after a form was handled (fixed texts only).
    pub notice: Option<&'static str>,
    pub css: &'static str,
    pub js: &'static str,
    pub icons: &'static str,
}

impl Chrome {
    pub fn plain(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            description: "Meridian: handmade and independent goods from shops across the US."
                .to_owned(),
            personal: None,
            category: None,
            query: String::new(),
            notice: None,
            css: &ASSETS.css,
            js: &ASSETS.js,
            icons: &ASSETS.icons,
        }
    }

    pub fn personal(title: &str, personal: Personal) -> Self {
        Self {
            personal: Some(personal),
            ..Self::plain(title)
        }
    }

    pub fn categories(&self) -> &'static [(&'static str, &'static str)] {
        CATEGORIES
    }

    pub fn is_category(&self, slug: &str) -> bool {
        self.category.as_deref() == Some(slug)
    }

    /// An icon of the sprite, as an `href`.
    pub fn icon(&self, name: &str) -> String {
        format!("{}#{name}", self.icons)
    }
}
