//! OpenAPI building blocks shared by every service's document.

use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// The body of every error response.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `out_of_stock`.
    code: String,
    /// Human-readable explanation.
    message: String,
    /// Per-field problems (422 `validation_failed` only).
    fields: Option<Vec<FieldProblem>>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FieldProblem {
    field: String,
    message: String,
}

/// Characters free text never contains: control characters (one line:
/// all of them; text: all but the line feed), as `crate::text` and the
/// services' name rules check.
const LINE_CONTROLS: &str = "\\x00-\\x1f\\x7f-\\x9f";
const TEXT_CONTROLS: &str = "\\x00-\\x09\\x0b-\\x1f\\x7f-\\x9f";

/// For `#[schema(schema_with = meridian_common::openapi::text::<MIN, MAX>)]`:
/// free text that may span lines, trimmed, at most `MAX` characters; with
/// `MIN` ≥ 1 at least one visible character (JSON Schema cannot count
/// after trimming, so that is what "not empty" means here).
pub fn text<const MIN: usize, const MAX: usize>() -> Object {
    free_text(TEXT_CONTROLS, MIN, MAX)
}

/// As `text`, on one line (names).
pub fn line<const MIN: usize, const MAX: usize>() -> Object {
    free_text(LINE_CONTROLS, MIN, MAX)
}

fn free_text(controls: &str, min: usize, max: usize) -> Object {
    let pattern = if min == 0 {
        format!("^[^{controls}]*$")
    } else {
        format!("^[^{controls}]*[^\\s{controls}][^{controls}]*$")
    };
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max))
        .pattern(Some(pattern))
        .build()
}

/// For `#[schema(schema_with = meridian_common::openapi::count::<MIN, MAX>)]`
/// on a `u32`: the bounds as the handler checks them, from its constants
/// (`{ LIMIT }` as a generic argument) instead of a literal beside them.
pub fn count<const MIN: u32, const MAX: u32>() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int32,
        )))
        .minimum(Some(MIN))
        .maximum(Some(MAX))
        .build()
}

/// A `#[openapi(modifiers(...))]` that gives the named body schemas
/// `minProperties: 1` (PATCH bodies: at least one field). The derive's own
/// `min_properties` cannot be used: utoipa-gen 5.5.0 writes it out as
/// `maxProperties` (component/features.rs, `Feature::MinProperties`).
pub struct AtLeastOneField(pub &'static [&'static str]);

impl utoipa::Modify for AtLeastOneField {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let Some(components) = doc.components.as_mut() else {
            return;
        };
        for name in self.0 {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(*name) {
                object.min_properties = Some(1);
            }
        }
    }
}

/// A string schema with a fixed set of values, for query parameters whose
/// handler matches strings (the document then lists what is accepted
/// instead of naming it in prose).
fn string_enum(values: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .into()
}

/// Declares a parameter type documented as `string_enum(values)`.
macro_rules! string_param {
    ($(#[$doc:meta])* $name:ident, $values:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                string_enum($values)
            }
        }

        impl ToSchema for $name {}
    };
}

string_param!(
    /// A category slug of the fixed taxonomy.
    CategorySlug,
    crate::taxonomy::CATEGORIES.iter().map(|(slug, _)| *slug)
);
string_param!(
    /// How reviews are ordered.
    ReviewSort,
    ["newest", "helpful"]
);

#[cfg(test)]
mod tests {
    use super::*;

    fn values<T: PartialSchema>() -> Vec<String> {
        let json = serde_json::to_value(T::schema()).unwrap();
        json["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn categories_are_the_taxonomy() {
        let slugs: Vec<_> = crate::taxonomy::CATEGORIES.iter().map(|c| c.0).collect();
        assert_eq!(values::<CategorySlug>(), slugs);
        assert_eq!(values::<ReviewSort>(), ["newest", "helpful"]);
    }
}
