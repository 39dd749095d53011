//! The request-body schemas of seller writes whose rules the derive cannot
//! say: a product's price bounds, its attributes' names and values, and its
//! image URLs — each built from the same limits `writes` checks, so the
//! document and the checks cannot drift apart.

use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, Type};
use utoipa::openapi::RefOr;
use utoipa::PartialSchema;

use crate::limits::{
    MAX_ATTRIBUTES, MAX_ATTRIBUTE_KEY, MAX_ATTRIBUTE_VALUE, MAX_IMAGES, MAX_IMAGE_URL, MAX_PRICE,
};

/// A price: 1 to `MAX_PRICE` minor units.
pub fn price() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "amount",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Int64,
                )))
                .minimum(Some(1))
                .maximum(Some(MAX_PRICE)),
        )
        .property("currency", meridian_common::money::Currency::schema())
        .required("amount")
        .required("currency")
        .description(Some("Minor units (cents) with the currency."))
        .build()
}

/// Up to `MAX_ATTRIBUTES` name → value pairs (names are stored lower-cased).
pub fn attributes() -> Object {
    let value: RefOr<_> = meridian_common::openapi::text::<0, MAX_ATTRIBUTE_VALUE>().into();
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            meridian_common::openapi::text::<1, MAX_ATTRIBUTE_KEY>(),
        ))
        .additional_properties(Some(value))
        .max_properties(Some(MAX_ATTRIBUTES))
        .build()
}

/// Up to `MAX_IMAGES` URLs: an uploaded image's path or an https URL.
pub fn image_urls() -> utoipa::openapi::schema::Array {
    let url = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_IMAGE_URL))
        .pattern(Some(
            r"^(/api/sellers/images/|https://)[^\s\x00-\x1f\x7f-\x9f]*$",
        ))
        .build();
    ArrayBuilder::new()
        .items(url)
        .max_items(Some(MAX_IMAGES))
        .build()
}
