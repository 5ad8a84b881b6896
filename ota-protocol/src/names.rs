//! Wire names: string enums that keep unknown values representable.
//!
//! A name the server or a device sends is one of a known set today, but a newer peer may send
//! one this version does not know (a new `no_update_reason`, a new error code). Each such name
//! is a newtype over the string with one constant per known value (as rustls does for its wire
//! enums), so an unknown value deserializes, compares unequal to every constant and serializes
//! back unchanged, and a typo in a known one is a compile error.

/// Declares a wire-name newtype: the doc comment, `pub struct Name;`, then `CONST = "wire";`
/// entries, each with its doc comment (the OpenAPI description lists them).
macro_rules! wire_name {
    (
        $(#[doc = $doc:literal])*
        pub struct $name:ident;
        $(
            $(#[doc = $cdoc:literal])*
            $konst:ident = $wire:literal;
        )*
    ) => {
        $(#[doc = $doc])*
        ///
        /// A wire name: unknown values stay representable (see [`crate::names`]); compare with
        /// the constants (`==`), never by matching on the string.
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(::std::borrow::Cow<'static, str>);

        impl $name {
            $(
                $(#[doc = $cdoc])*
                pub const $konst: Self = Self(::std::borrow::Cow::Borrowed($wire));
            )*

            /// Every name this version knows, in declaration order.
            pub const KNOWN: &'static [Self] = &[$(Self::$konst),*];

            /// The name on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Whether this version knows the name (it is one of [`Self::KNOWN`]).
            pub fn is_known(&self) -> bool {
                Self::KNOWN.contains(self)
            }

            fn known(name: &str) -> Option<Self> {
                Self::KNOWN.iter().find(|k| k.as_str() == name).cloned()
            }
        }

        impl From<&str> for $name {
            fn from(name: &str) -> Self {
                Self::known(name).unwrap_or_else(|| Self(::std::borrow::Cow::Owned(name.to_owned())))
            }
        }

        impl From<String> for $name {
            fn from(name: String) -> Self {
                Self::known(&name).unwrap_or(Self(::std::borrow::Cow::Owned(name)))
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.as_str()).finish()
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map(Self::from)
            }
        }

        #[cfg(feature = "utoipa")]
        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                use ::utoipa::openapi::schema::{ObjectBuilder, Type};
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some($crate::names::doc_text(concat!(
                        $($doc, "\n",)*
                        "\nKnown values (a peer must accept one it does not know):\n",
                        $("- `", $wire, "`:", $($cdoc,)* "\n",)*
                    ))))
                    .enum_values(Some([$($wire),*]))
                    .into()
            }
        }

        #[cfg(feature = "utoipa")]
        impl ::utoipa::ToSchema for $name {}
    };
}

pub(crate) use wire_name;

/// Doc comment text as a schema description: each line without the one space `///` leaves.
#[cfg(feature = "utoipa")]
pub(crate) fn doc_text(raw: &str) -> String {
    let lines: Vec<&str> = raw.lines().map(|l| l.strip_prefix(' ').unwrap_or(l)).collect();
    lines.join("\n").trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    wire_name! {
        /// A test name.
        pub struct Colour;
        /// Red.
        RED = "red";
        /// Dark blue.
        DARK_BLUE = "dark-blue";
    }

    #[test]
    fn known_and_unknown_names_round_trip() {
        assert_eq!(serde_json::to_string(&Colour::DARK_BLUE).unwrap(), r#""dark-blue""#);
        let red: Colour = serde_json::from_str(r#""red""#).unwrap();
        assert_eq!(red, Colour::RED);
        assert!(red.is_known());
        let new: Colour = serde_json::from_str(r#""ultraviolet""#).unwrap();
        assert!(!new.is_known());
        assert_ne!(new, Colour::RED);
        assert_eq!(new, "ultraviolet");
        assert_eq!(serde_json::to_string(&new).unwrap(), r#""ultraviolet""#);
        assert_eq!(format!("{new} {new:?}"), r#"ultraviolet Colour("ultraviolet")"#);
        assert_eq!(Colour::KNOWN, [Colour::RED, Colour::DARK_BLUE]);
        assert!(serde_json::from_str::<Colour>("5").is_err());
    }
}
