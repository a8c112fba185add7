//! The parameters of one auth layer's `WWW-Authenticate` challenges, shared (one `Arc`) by
//! the layer, every request it lets through, and the guards and extractors behind it, so a
//! 403 from a route guard carries the same `realm` and `resource_metadata` as a 401 from the
//! layer.

use std::sync::Arc;

use crate::Challenge;
use crate::metadata::{ResourceUri, index_for_path};

#[derive(Debug, Clone)]
pub(crate) struct ChallengeConfig {
    pub(crate) realm: Arc<str>,
    /// `scope` on the layer's 401s ([`AuthLayer::challenge_scope`](crate::AuthLayer::challenge_scope)).
    pub(crate) scope: Option<Arc<str>>,
    /// `algs` of `DPoP` challenges (the layer's DPoP configuration).
    pub(crate) dpop_algs: Arc<str>,
    /// The configured resources and their RFC 9728 metadata URLs, in configuration order.
    resources: Arc<[(ResourceUri, Box<str>)]>,
}

impl ChallengeConfig {
    pub(crate) fn new(realm: Arc<str>, resources: &[ResourceUri]) -> Self {
        ChallengeConfig {
            realm,
            scope: None,
            dpop_algs: Arc::from(crate::DEFAULT_DPOP_ALGS),
            resources: resources
                .iter()
                .map(|r| (r.clone(), r.metadata_url().into_boxed_str()))
                .collect(),
        }
    }

    /// RFC 9728 §5.1: the metadata URL of the resource a request path belongs to. Only
    /// configured URLs: nothing from the request reaches the challenge.
    pub(crate) fn metadata_url(&self, path: &str) -> Option<&str> {
        let i = index_for_path(self.resources.iter().map(|(r, _)| r), path)?;
        Some(&self.resources[i].1)
    }

    /// The challenge for a request to `path`; `dpop` when the request used the DPoP scheme
    /// (RFC 9449 §7.1). `scope` overrides the layer's challenge scope (a route guard knows
    /// its own requirement).
    pub(crate) fn for_request<'a>(
        &'a self,
        path: &str,
        dpop: bool,
        scope: Option<&'a str>,
    ) -> Challenge<'a> {
        let mut c = Challenge::bearer(&self.realm);
        if dpop {
            c = c.dpop(&self.dpop_algs);
        }
        if let Some(url) = self.metadata_url(path) {
            c = c.resource_metadata(url);
        }
        if let Some(s) = scope.or(self.scope.as_deref()) {
            c = c.scope(s);
        }
        c
    }

    /// The settings of a request that met no auth layer (a wiring mistake).
    pub(crate) fn unconfigured() -> Arc<ChallengeConfig> {
        static NONE: std::sync::OnceLock<Arc<ChallengeConfig>> = std::sync::OnceLock::new();
        NONE.get_or_init(|| {
            Arc::new(ChallengeConfig {
                realm: Arc::from(super::DEFAULT_REALM),
                scope: None,
                dpop_algs: Arc::from(crate::DEFAULT_DPOP_ALGS),
                resources: Arc::from([]),
            })
        })
        .clone()
    }
}
