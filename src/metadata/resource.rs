//! The resource server's own identity: its canonical resource URIs (RFC 8707 §2, RFC 9728
//! §1.2), how a token's `aud` is compared with them, and the metadata URL derived from each.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::ConfigError;
use crate::scope::Scope;

/// The most scopes the validator's advertised-scope catalog keeps (see
/// [`Validator::advertise`](crate::Validator::advertise)): guards are built once at start-up,
/// so more than this is a bug (e.g. building guards per request), not a configuration.
pub const MAX_ADVERTISED_SCOPES: usize = 1024;

/// RFC 9728 §3: the well-known path segment of Protected Resource Metadata.
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// A canonical resource URI, checked at build time.
///
/// Compared with a token's `aud` after RFC 3986 §6.2.2.1 / §6.2.3 normalisation of exactly
/// three things: the scheme's case, the host's case, and a default port (`:443` for
/// `https`, `:80` for `http`, or an empty port). Nothing else is widened: path case,
/// percent-encoding, dot segments, a trailing slash, an empty path versus `/`, query and
/// userinfo all keep the values apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceUri {
    /// As configured (what the metadata's `resource` member says).
    pub(crate) configured: String,
    /// Normalised for comparison.
    normalized: String,
    /// `scheme://authority` as configured, for the metadata URL.
    origin_len: usize,
}

impl ResourceUri {
    /// Check a configured resource URI: absolute `http`/`https` with a host, no userinfo,
    /// no fragment (RFC 8707 §2), no query (RFC 9728 §1.2 discourages one, and §3.1's
    /// path-inserted metadata URL could not be routed with it).
    pub(crate) fn parse(uri: &str) -> Result<ResourceUri, ConfigError> {
        let bad = |reason| ConfigError::InvalidUrl {
            url: uri.to_owned(),
            reason,
        };
        check_uri_chars(uri).map_err(bad)?;
        let parsed = url::Url::parse(uri).map_err(|_| bad("not an absolute URI"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(bad("a resource URI must use https (or http)"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad("a resource URI needs a host"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad("a resource URI must not carry userinfo"));
        }
        if uri.contains('#') {
            return Err(bad("a resource URI must not have a fragment (RFC 8707 §2)"));
        }
        if uri.contains('?') {
            return Err(bad(
                "a resource URI with a query is not supported (RFC 9728 §1.2)",
            ));
        }
        let (normalized, origin_len) =
            normalize(uri).ok_or_else(|| bad("not an absolute URI with an authority"))?;
        Ok(ResourceUri {
            configured: uri.to_owned(),
            normalized,
            origin_len,
        })
    }

    /// Whether a token audience names this resource.
    pub(crate) fn matches(&self, aud: &str) -> bool {
        aud == self.configured || normalize(aud).is_some_and(|(n, _)| n == self.normalized)
    }

    /// The path as configured, `""` for none or `/`.
    pub(crate) fn path(&self) -> &str {
        match &self.configured[self.origin_len..] {
            "/" => "",
            p => p,
        }
    }

    /// RFC 9728 §3.1: the well-known string goes between the host component and the path;
    /// a terminating `/` right after the host is dropped first.
    pub(crate) fn metadata_url(&self) -> String {
        format!(
            "{}{WELL_KNOWN_PATH}{}",
            &self.configured[..self.origin_len],
            self.path()
        )
    }

    /// Whether a `Host` header names this resource's authority (case and default port aside).
    pub(crate) fn authority_matches(&self, host: &str) -> bool {
        let scheme = &self.normalized[..self.normalized.find("://").unwrap_or(0)];
        normalize(&format!("{scheme}://{host}")).is_some_and(|(n, _)| {
            n.strip_prefix(scheme)
                .and_then(|r| r.strip_prefix("://"))
                .is_some_and(|a| a == self.authority())
        })
    }

    /// The normalised authority (`host[:port]`, lower case, default port dropped).
    pub(crate) fn authority(&self) -> &str {
        let rest = &self.normalized[self.normalized.find("://").map_or(0, |i| i + 3)..];
        rest.split('/').next().unwrap_or(rest)
    }
}

/// The resource a request path belongs to: the index of the longest configured path that is
/// a segment prefix of it, the first configured resource otherwise.
pub(crate) fn index_for_path<'a>(
    uris: impl IntoIterator<Item = &'a ResourceUri>,
    path: &str,
) -> Option<usize> {
    let covers = |r: &ResourceUri| {
        let p = r.path().trim_end_matches('/');
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || p.is_empty())
    };
    let mut best: Option<(usize, usize)> = None;
    let mut any = false;
    for (i, r) in uris.into_iter().enumerate() {
        any = true;
        // The first of equally long matches wins (configuration order).
        if covers(r) && best.is_none_or(|(_, len)| r.path().len() > len) {
            best = Some((i, r.path().len()));
        }
    }
    best.map(|(i, _)| i).or(any.then_some(0))
}

/// RFC 3986 §2: only unreserved, reserved and `%` characters. Keeps quotes, spaces,
/// braces and control characters out of challenges, metadata and axum routes.
pub(crate) fn check_uri_chars(s: &str) -> Result<(), &'static str> {
    let ok = |b: u8| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b);
    if s.is_empty() || !s.bytes().all(ok) {
        return Err("contains characters not allowed in a URI (RFC 3986 §2)");
    }
    Ok(())
}

/// Lower-case scheme and host, drop a default or empty port; the rest stays byte for byte.
/// Returns the normalised text and the length of `scheme://authority` in the input. `None`
/// when `s` has no `scheme://authority` shape or carries userinfo (which is never widened).
fn normalize(s: &str) -> Option<(String, usize)> {
    let (scheme, rest) = s.split_once("://")?;
    let mut chars = scheme.chars();
    if !chars.next()?.is_ascii_alphabetic()
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') || authority.is_empty() {
        return None;
    }
    // An IP-literal is bracketed (RFC 3986 §3.2.2); the port follows the last `:` after it.
    let split = match authority.rfind(']') {
        Some(close) => authority[close..].find(':').map(|i| close + i),
        None => authority.rfind(':'),
    };
    let (host, port) = match split {
        Some(i) => (&authority[..i], Some(&authority[i + 1..])),
        None => (authority, None),
    };
    if host.is_empty() || !port.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "https" => Some("443"),
        "http" => Some("80"),
        _ => None,
    };
    let mut out = String::with_capacity(s.len());
    out.push_str(&scheme);
    out.push_str("://");
    out.push_str(&host.to_ascii_lowercase());
    if let Some(p) = port.filter(|p| !p.is_empty() && Some(*p) != default) {
        out.push(':');
        out.push_str(p);
    }
    out.push_str(tail);
    Some((out, scheme.len() + 3 + authority.len()))
}

/// What the validator knows about its own identity: the resource URIs and the scopes its
/// route guards advertise. Shared by every clone of the validator.
#[derive(Debug, Default)]
pub(crate) struct Resources {
    pub(crate) uris: Vec<ResourceUri>,
    /// Scopes registered by [`Validator::advertise`](crate::Validator::advertise), for the
    /// metadata's `scopes_supported` and agent cards. Bounded by [`MAX_ADVERTISED_SCOPES`].
    pub(crate) advertised: Arc<Mutex<BTreeSet<Scope>>>,
}

impl Resources {
    pub(crate) fn new(uris: Vec<ResourceUri>) -> Self {
        Resources {
            uris,
            advertised: Default::default(),
        }
    }

    /// Whether a token audience names one of the resources.
    pub(crate) fn matches(&self, aud: &str) -> bool {
        self.uris.iter().any(|r| r.matches(aud))
    }

    pub(crate) fn advertise<'a>(&self, scopes: impl IntoIterator<Item = &'a Scope>) {
        let mut set = self
            .advertised
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for s in scopes {
            if set.len() >= MAX_ADVERTISED_SCOPES {
                crate::layer::misconfigured_once!(
                    limit = MAX_ADVERTISED_SCOPES,
                    "more advertised scopes than the catalog keeps: are guards built per request?"
                );
                break;
            }
            // Never publish what is not a scope token (RFC 6749 §3.3).
            if crate::scope::Scope::parse(s.as_str()).is_ok() {
                set.insert(s.clone());
            }
        }
    }

    pub(crate) fn advertised(&self) -> Vec<Scope> {
        self.advertised
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_insert_the_well_known_path() {
        let u = |s: &str| ResourceUri::parse(s).unwrap().metadata_url();
        assert_eq!(
            u("https://api.example"),
            "https://api.example/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            u("https://api.example/"),
            "https://api.example/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            u("https://api.example:8443/mcp"),
            "https://api.example:8443/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            u("http://[::1]:8080/a/b"),
            "http://[::1]:8080/.well-known/oauth-protected-resource/a/b"
        );
    }

    #[test]
    fn ipv6_ports_and_authority() {
        let r = ResourceUri::parse("https://[::1]:443/x").unwrap();
        assert!(r.matches("https://[::1]/x"));
        assert_eq!(r.authority(), "[::1]");
        assert!(!r.matches("https://[::2]/x"));
        assert_eq!(
            ResourceUri::parse("https://API.example:8443/")
                .unwrap()
                .authority(),
            "api.example:8443"
        );
    }

    #[test]
    fn request_paths_pick_the_longest_resource() {
        let rs = [
            ResourceUri::parse("https://a.example/").unwrap(),
            ResourceUri::parse("https://a.example/mcp").unwrap(),
        ];
        let pick = |p| rs[index_for_path(&rs, p).unwrap()].path();
        assert_eq!(pick("/mcp/tools"), "/mcp");
        assert_eq!(pick("/mcp"), "/mcp");
        assert_eq!(pick("/mcpx"), "");
        assert_eq!(pick("/other"), "");
        assert_eq!(index_for_path([], "/x"), None);
    }
}
