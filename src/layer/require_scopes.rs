use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::request::Parts;
use tower_layer::Layer;

use super::AuthContext;
use super::guard::{GuardService, RouteGuard};
use crate::AuthError;
use crate::scope::ScopeRequirement;

type ComputeFn = dyn Fn(&Parts) -> ScopeRequirement + Send + Sync;

#[derive(Clone)]
pub(crate) enum Source {
    /// The requirement and its rendering, computed once.
    Fixed(Arc<ScopeRequirement>, Arc<str>),
    Computed(Arc<ComputeFn>),
    #[cfg(feature = "axum")]
    Template(Arc<str>),
}

/// A route guard that requires scopes. Cheap to clone.
///
/// ```
/// use a2a_guard::RequireScopes;
/// use a2a_guard::scope::ScopeRequirement;
///
/// let read = RequireScopes::all(["read:data"]);
/// let write = RequireScopes::any(["write:reports", "admin"]);
/// let nested = RequireScopes::new(ScopeRequirement::all([
///     ScopeRequirement::from("read:data"),
///     ScopeRequirement::any(["write:reports", "admin"]),
/// ]));
/// // Computed from the request:
/// let by_method = RequireScopes::from_fn(|parts| match parts.method {
///     http::Method::GET => "read:orders".into(),
///     _ => "write:orders".into(),
/// });
/// ```
#[derive(Clone)]
pub struct RequireScopes {
    pub(crate) source: Source,
}

impl fmt::Debug for RequireScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Fixed(r, _) => f.debug_tuple("RequireScopes").field(r).finish(),
            Source::Computed(_) => f.write_str("RequireScopes(<fn>)"),
            #[cfg(feature = "axum")]
            Source::Template(t) => f.debug_tuple("RequireScopes").field(t).finish(),
        }
    }
}

impl RequireScopes {
    /// Require this requirement.
    pub fn new(req: impl Into<ScopeRequirement>) -> Self {
        {
            let req: ScopeRequirement = req.into();
            let text = req.to_string().into();
            RequireScopes {
                source: Source::Fixed(Arc::new(req), text),
            }
        }
    }

    /// Require every one of these scopes.
    pub fn all<I, R>(scopes: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<ScopeRequirement>,
    {
        Self::new(ScopeRequirement::all(scopes))
    }

    /// Require at least one of these scopes.
    pub fn any<I, R>(scopes: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<ScopeRequirement>,
    {
        Self::new(ScopeRequirement::any(scopes))
    }

    /// Compute the requirement from the request (method, URI, headers, extensions).
    ///
    /// ```
    /// use a2a_guard::RequireScopes;
    /// use a2a_guard::scope::ScopeRequirement;
    /// use axum::{Router, routing::get};
    /// // Reads need `read:orders`, everything else `write:orders`; a bulk export needs both.
    /// let orders = RequireScopes::from_fn(|parts| match (&parts.method, parts.uri.query()) {
    ///     (&http::Method::GET, Some(q)) if q.contains("export=all") => {
    ///         ScopeRequirement::all(["read:orders", "export:orders"])
    ///     }
    ///     (&http::Method::GET, _) => "read:orders".into(),
    ///     _ => "write:orders".into(),
    /// });
    /// let app: Router = Router::new().route(
    ///     "/orders",
    ///     get(|| async { "orders" }).post(|| async { "created" }).route_layer(orders),
    /// );
    /// ```
    pub fn from_fn<F>(f: F) -> Self
    where
        F: Fn(&Parts) -> ScopeRequirement + Send + Sync + 'static,
    {
        RequireScopes {
            source: Source::Computed(Arc::new(f)),
        }
    }

    /// Fill `{name}` placeholders from the route's path parameters (axum's `MatchedPath`):
    /// on `/customers/{region}`, `template("read:customers:{region}")` requires
    /// `read:customers:eu` for `/customers/eu`. A parameter that is not one plain scope
    /// segment (empty, `:`, `*`, `%`, characters outside RFC 6749 §3.3) can satisfy nothing.
    ///
    /// ```
    /// use a2a_guard::RequireScopes;
    /// use axum::{Router, routing::get};
    /// let app: Router = Router::new().route(
    ///     "/customers/{region}",
    ///     get(|| async { "ok" }).route_layer(RequireScopes::template("read:customers:{region}")),
    /// );
    /// ```
    #[cfg(feature = "axum")]
    pub fn template(template: impl Into<Arc<str>>) -> Self {
        RequireScopes {
            source: Source::Template(template.into()),
        }
    }

    /// The scopes this guard can name ahead of any request, for discovery: every scope of a
    /// fixed requirement, a template's prefix before its first placeholder, nothing for a
    /// computed one.
    pub(crate) fn advertised_scopes(&self) -> Vec<crate::scope::Scope> {
        match &self.source {
            Source::Fixed(r, _) => r.scopes().into_iter().cloned().collect(),
            Source::Computed(_) => Vec::new(),
            #[cfg(feature = "axum")]
            Source::Template(t) => {
                let prefix = t[..t.find('{').unwrap_or(t.len())].trim_end_matches(':');
                if prefix.is_empty() {
                    Vec::new()
                } else {
                    vec![crate::scope::Scope::new(prefix)]
                }
            }
        }
    }

    /// The requirement as far as it is known ahead of any request: a fixed one as is, a
    /// template's prefix before its first placeholder (which covers every value), `None` for
    /// a computed one or a template that starts with a placeholder.
    pub(crate) fn known_requirement(&self) -> Option<ScopeRequirement> {
        match &self.source {
            Source::Fixed(r, _) => Some((**r).clone()),
            Source::Computed(_) => None,
            #[cfg(feature = "axum")]
            Source::Template(_) => match &self.advertised_scopes()[..] {
                [prefix] => Some(ScopeRequirement::Scope(prefix.clone())),
                _ => None,
            },
        }
    }

    /// The requirement for this request and its rendering (fixed ones are not rebuilt).
    pub(crate) fn requirement(&self, parts: &Parts) -> (Cow<'_, ScopeRequirement>, Arc<str>) {
        let computed = match &self.source {
            Source::Fixed(r, text) => return (Cow::Borrowed(&**r), text.clone()),
            Source::Computed(f) => f(parts),
            #[cfg(feature = "axum")]
            Source::Template(t) => render_template(t, parts),
        };
        let text = computed.to_string().into();
        (Cow::Owned(computed), text)
    }
}

#[cfg(feature = "axum")]
fn render_template(template: &str, parts: &Parts) -> ScopeRequirement {
    let impossible = || ScopeRequirement::Any(Vec::new());
    let Some(pattern) = parts.extensions.get::<::axum::extract::MatchedPath>() else {
        return impossible();
    };
    let names: Vec<&str> = pattern.as_str().split('/').collect();
    let values: Vec<&str> = parts.uri.path().split('/').collect();
    if names.len() != values.len() {
        return impossible();
    }
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return impossible();
        };
        let name = &rest[open..open + close + 1];
        let Some(i) = names.iter().position(|n| *n == name) else {
            return impossible();
        };
        let v = values[i];
        let plain = |b: u8| {
            matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e) && !matches!(b, b':' | b'*' | b'%')
        };
        if v.is_empty() || !v.bytes().all(plain) {
            return impossible();
        }
        out.push_str(v);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    ScopeRequirement::from(out)
}

/// The service of [`RequireScopes`].
pub type RequireScopesService<S> = GuardService<S, RequireScopes>;

impl RouteGuard for RequireScopes {
    fn evaluate(&self, ctx: Option<&AuthContext>, parts: &Parts) -> (Arc<str>, Option<AuthError>) {
        let (required, text) = self.requirement(parts);
        let error = match ctx {
            Some(ctx) if ctx.satisfies(&required) => None,
            Some(_) => Some(AuthError::InsufficientScope {
                required: text.to_string(),
            }),
            None => Some(AuthError::MissingToken),
        };
        (text, error)
    }

    fn requires_scopes(&self) -> bool {
        true
    }
}

impl<S> Layer<S> for RequireScopes {
    type Service = RequireScopesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.clone(),
        }
    }
}
