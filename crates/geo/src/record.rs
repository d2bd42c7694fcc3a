//! Borrowed views of MMDB records: strings point into the database, nothing is allocated until
//! the caller copies the few fields an event keeps.
//!
//! One struct per question covers both location layouts:
//! - DB-IP flat (`@ip-location-db/dbip-*-mmdb`): `country_code`, `state1` (a region *name*),
//!   `city` (a string);
//! - MaxMind GeoIP2 nested: `country.iso_code` (else `registered_country.iso_code`),
//!   `subdivisions[0].iso_code`, `city.names.en`.
//!
//! Fields a question does not name are skipped by the decoder without being read.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// `{"iso_code": …}`, the shape of GeoIP2's `country`, `registered_country` and subdivisions.
#[derive(Deserialize)]
pub(crate) struct IsoCode<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

/// Enough of a location record to answer "which country".
#[derive(Deserialize)]
pub(crate) struct CountryRecord<'a> {
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    country: Option<IsoCode<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<IsoCode<'a>>,
}

impl<'a> CountryRecord<'a> {
    pub(crate) fn country(&self) -> Option<&'a str> {
        pick_country(
            self.country_code,
            self.country.as_ref(),
            self.registered_country.as_ref(),
        )
    }
}

/// The flat code, else GeoIP2's country, else the country the network is registered in (for
/// anycast and satellite networks MaxMind leaves `country` out).
fn pick_country<'a>(
    flat: Option<&'a str>,
    nested: Option<&IsoCode<'a>>,
    registered: Option<&IsoCode<'a>>,
) -> Option<&'a str> {
    flat.or_else(|| nested.and_then(|c| c.iso_code))
        .or_else(|| registered.and_then(|c| c.iso_code))
        .filter(|code| !code.is_empty())
}

/// A location record read down to region and city. (The country fields are repeated rather
/// than `#[serde(flatten)]`ed: flattening buffers the whole record.)
#[derive(Deserialize)]
pub(crate) struct LocationRecord<'a> {
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    country: Option<IsoCode<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<IsoCode<'a>>,
    /// DB-IP: the first-level subdivision's name.
    #[serde(borrow, default)]
    state1: Option<&'a str>,
    /// GeoIP2: the ISO code of the first (largest) subdivision.
    #[serde(default, deserialize_with = "first_subdivision_code")]
    subdivisions: Option<&'a str>,
    #[serde(default, deserialize_with = "city_name")]
    city: Option<&'a str>,
}

impl<'a> LocationRecord<'a> {
    pub(crate) fn country(&self) -> Option<&'a str> {
        pick_country(
            self.country_code,
            self.country.as_ref(),
            self.registered_country.as_ref(),
        )
    }

    pub(crate) fn region(&self) -> Option<&'a str> {
        self.subdivisions
            .or(self.state1)
            .filter(|region| !region.is_empty())
    }

    pub(crate) fn city(&self) -> Option<&'a str> {
        self.city.filter(|city| !city.is_empty())
    }
}

/// An ASN record in MaxMind's GeoLite2-ASN layout.
#[derive(Deserialize)]
pub(crate) struct AsnRecord<'a> {
    #[serde(default)]
    pub(crate) autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    pub(crate) autonomous_system_organization: Option<&'a str>,
}

/// `city` is a plain string in DB-IP files and `{"names": {"en": …}}` in GeoIP2 files.
fn city_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<&'de str>, D::Error> {
    struct CityVisitor;

    impl<'de> Visitor<'de> for CityVisitor {
        type Value = Option<&'de str>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a city name or a GeoIP2 city record")
        }

        fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Self::Value, E> {
            Ok(Some(name))
        }

        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            // The MMDB decoder always lends strings from the database; a copy we cannot keep
            // means no city rather than a failed lookup.
            Ok(None)
        }

        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
            let mut english = None;
            while let Some(key) = map.next_key::<&'de str>()? {
                if key == "names" {
                    english = map.next_value::<Names<'de>>()?.en;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(english)
        }
    }

    deserializer.deserialize_any(CityVisitor)
}

#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

/// Reads the first subdivision's ISO code and skips the rest without collecting them.
fn first_subdivision_code<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'de str>, D::Error> {
    struct FirstVisitor;

    impl<'de> Visitor<'de> for FirstVisitor {
        type Value = Option<&'de str>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of GeoIP2 subdivisions")
        }

        fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
            let first = seq.next_element::<IsoCode<'de>>()?.and_then(|s| s.iso_code);
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(first)
        }
    }

    deserializer.deserialize_seq(FirstVisitor)
}
