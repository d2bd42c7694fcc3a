//! Browser, OS and device category from woothee, with names as `&'static str`.

use std::collections::HashSet;
use std::sync::LazyLock;

use woothee::parser::Parser;

/// What kind of device sent the request (woothee's category).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceCategory {
    Pc,
    Smartphone,
    /// Feature phones.
    Mobilephone,
    /// Consoles, TVs, e-readers.
    Appliance,
    Crawler,
    Unknown,
}

impl DeviceCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceCategory::Pc => "pc",
            DeviceCategory::Smartphone => "smartphone",
            DeviceCategory::Mobilephone => "mobilephone",
            DeviceCategory::Appliance => "appliance",
            DeviceCategory::Crawler => "crawler",
            DeviceCategory::Unknown => "unknown",
        }
    }

    fn from_woothee(category: &str) -> DeviceCategory {
        match category {
            "pc" => DeviceCategory::Pc,
            "smartphone" => DeviceCategory::Smartphone,
            "mobilephone" => DeviceCategory::Mobilephone,
            "appliance" => DeviceCategory::Appliance,
            "crawler" => DeviceCategory::Crawler,
            // "misc" (tools, libraries) and "UNKNOWN".
            _ => DeviceCategory::Unknown,
        }
    }
}

/// Name used when woothee does not know the browser or OS.
pub const UNKNOWN: &str = "unknown";

/// The woothee verdict on a User-Agent, in a form that outlives the string it came from: names
/// are interned, the version is kept as its position in the User-Agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AgentInfo {
    pub(crate) browser: &'static str,
    pub(crate) os: &'static str,
    pub(crate) device: DeviceCategory,
    /// Byte range of the browser version within the User-Agent.
    version: Option<(usize, usize)>,
}

impl AgentInfo {
    pub(crate) fn parse(ua: &str) -> AgentInfo {
        let Some(result) = Parser::new().parse(ua) else {
            return AgentInfo {
                browser: UNKNOWN,
                os: UNKNOWN,
                device: DeviceCategory::Unknown,
                version: None,
            };
        };
        AgentInfo {
            browser: intern(result.name),
            os: intern(result.os),
            device: DeviceCategory::from_woothee(result.category),
            version: if result.version == woothee::woothee::VALUE_UNKNOWN {
                None
            } else {
                span_within(ua, result.version)
            },
        }
    }

    /// The browser version, borrowed from the same User-Agent this was parsed from.
    pub(crate) fn version<'a>(&self, ua: &'a str) -> Option<&'a str> {
        self.version
            .and_then(|(start, end)| ua.get(start..end))
            .filter(|version| !version.is_empty())
    }
}

/// Every browser and OS name woothee can return comes from its dataset; keeping the dataset's
/// `&'static str` lets a cached verdict serve any later event without copying names.
static NAMES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    woothee::dataset::DATASET
        .values()
        .flat_map(|entry| [entry.name, entry.os])
        .filter(|name| !name.is_empty())
        .collect()
});

fn intern(name: &str) -> &'static str {
    NAMES.get(name).copied().unwrap_or(UNKNOWN)
}

/// Where `inner` lies within `outer`, when it is a slice of it (woothee's version is a slice of
/// the User-Agent, or a constant such as `UNKNOWN` which is not).
fn span_within(outer: &str, inner: &str) -> Option<(usize, usize)> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    let end = start.checked_add(inner.len())?;
    (end <= outer.len()).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chrome_on_windows_is_a_pc_with_version() {
        let ua =
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                  Chrome/124.0.0.0 Safari/537.36";
        let info = AgentInfo::parse(ua);
        assert_eq!(info.browser, "Chrome");
        assert_eq!(info.os, "Windows 10");
        assert_eq!(info.device, DeviceCategory::Pc);
        assert_eq!(info.version(ua), Some("124.0.0.0"));
    }

    #[test]
    fn iphone_is_a_smartphone() {
        let ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 \
                  (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
        let info = AgentInfo::parse(ua);
        assert_eq!(info.browser, "Safari");
        assert_eq!(info.os, "iPhone");
        assert_eq!(info.device, DeviceCategory::Smartphone);
        assert_eq!(info.version(ua), Some("17.4"));
    }

    #[test]
    fn unknown_agent_has_unknown_names_and_no_version() {
        let ua = "definitely not a browser";
        let info = AgentInfo::parse(ua);
        assert_eq!(info.browser, UNKNOWN);
        assert_eq!(info.os, UNKNOWN);
        assert_eq!(info.device, DeviceCategory::Unknown);
        assert_eq!(info.version(ua), None);
    }

    #[test]
    fn span_is_only_found_for_slices_of_the_outer_string() {
        let outer = String::from("abc/1.2 x");
        let copy = String::from("1.2");
        assert_eq!(span_within(&outer, &outer[4..7]), Some((4, 7)));
        assert_eq!(span_within(&outer, &copy), None);
    }
}
