//! `string_enum!`: an enum whose wire form is a fixed string per variant, with `as_str`,
//! `FromStr` (the error lists the allowed values), `Display`, serde, and an OpenAPI schema
//! that lists exactly the wire values.

/// Declares a string enum. Callers need `serde` and `utoipa` as dependencies.
///
/// ```ignore
/// pitboss_core::string_enum!(
///     /// Whether the account may play.
///     PlayerStatus { Active => "active", Blocked => "blocked" }
/// );
/// ```
#[macro_export]
macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            /// The value for a wire name, if it is one.
            pub fn from_name(name: &str) -> Option<$name> {
                match name { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::from_name(s).ok_or_else(|| format!("'{s}' is not one of: {}", [$($text),+].join(", ")))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                ::utoipa::openapi::ObjectBuilder::new()
                    .schema_type(::utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl ::utoipa::ToSchema for $name {}
    };
}
