//! GeoIP and ASN lookups from MMDB files, reloaded on change
