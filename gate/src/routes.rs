//! Route rules: which scopes a method and path require. The most specific matching route
//! wins, whatever the order in the file; only exact ties fall back to the order.

use a2a_guard::scope::ScopeRequirement;
use a2a_guard::{AuthError, Principal};
use http::Method;

use crate::config::{Requirement, RouteConfig};

/// A path pattern: literal segments, `*` (one segment), `{name}` (one segment, named so a
/// scope template can use it), a final `**` (any remainder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    segments: Vec<Segment>,
    rest: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
    Param(String),
}

impl Pattern {
    /// Parse a pattern; the error says what is wrong.
    ///
    /// ```
    /// use a2a_guard_gate::routes::Pattern;
    /// let p = Pattern::parse("/customers/*/orders/**").unwrap();
    /// assert!(p.matches("/customers/42/orders"));
    /// assert!(p.matches("/customers/42/orders/7/lines"));
    /// assert!(!p.matches("/customers/42"));
    /// assert!(Pattern::parse("/a/**/b").is_err());
    /// ```
    pub fn parse(path: &str) -> Result<Pattern, String> {
        let Some(body) = path.strip_prefix('/') else {
            return Err("a path pattern starts with `/`".into());
        };
        let mut segments = Vec::new();
        let mut rest = false;
        if !body.is_empty() {
            let parts: Vec<&str> = body.split('/').collect();
            for (i, s) in parts.iter().enumerate() {
                match *s {
                    "**" if i + 1 == parts.len() => rest = true,
                    "**" => return Err("`**` only as the last segment".into()),
                    "*" => segments.push(Segment::One),
                    "" => return Err("empty segment (`//` or a trailing `/`)".into()),
                    s if s.starts_with('{') && s.ends_with('}') => {
                        let name = &s[1..s.len() - 1];
                        let ok = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                            && (name.chars())
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                        if !ok {
                            return Err(format!("a parameter is `{{name}}` in [a-z0-9_]: {s:?}"));
                        }
                        if segments.contains(&Segment::Param(name.to_owned())) {
                            return Err(format!("the parameter {s} appears twice"));
                        }
                        segments.push(Segment::Param(name.to_owned()));
                    }
                    s if s.contains(['{', '}']) => {
                        return Err(format!("a parameter stands alone in a segment: {s:?}"));
                    }
                    s if s.contains('*') => {
                        return Err(format!("`*` stands alone in a segment: {s:?}"));
                    }
                    s => segments.push(Segment::Literal(s.to_owned())),
                }
            }
        }
        Ok(Pattern { segments, rest })
    }

    /// Whether a request path (already checked by [`normalized`]) matches.
    pub fn matches(&self, path: &str) -> bool {
        let body = path.strip_prefix('/').unwrap_or(path);
        let mut parts = if body.is_empty() {
            Vec::new()
        } else {
            body.split('/').collect()
        };
        // A trailing slash names the same resource as without it.
        if parts.last() == Some(&"") {
            parts.pop();
        }
        if parts.len() < self.segments.len() || (!self.rest && parts.len() != self.segments.len()) {
            return false;
        }
        self.segments
            .iter()
            .zip(&parts)
            .all(|(seg, part)| match seg {
                Segment::Literal(l) => l == part,
                Segment::One | Segment::Param(_) => true,
            })
    }

    /// The names of the `{name}` segments, in order.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// The value of each `{name}` segment in `path` (which [`matches`](Self::matches)).
    fn captures<'p>(&self, path: &'p str) -> Vec<(&str, &'p str)> {
        let body = path.strip_prefix('/').unwrap_or(path);
        (self.segments.iter())
            .zip(body.split('/'))
            .filter_map(|(seg, part)| match seg {
                Segment::Param(n) => Some((n.as_str(), part)),
                _ => None,
            })
            .collect()
    }

    /// Ordering key: more literal segments, then more segments, then an exact length over
    /// `**` — larger is more specific.
    fn specificity(&self) -> (usize, usize, bool) {
        let literals = (self.segments.iter())
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        (literals, self.segments.len(), !self.rest)
    }
}

/// Why a request path is refused before any route is looked at.
///
/// A proxy and the agent behind it may read a path differently (dot segments, encoded
/// slashes, backslashes); a path where they could disagree is refused rather than matched.
///
/// ```
/// use a2a_guard_gate::routes::normalized;
/// assert_eq!(normalized("/a/b?x=1"), Ok("/a/b"));
/// assert!(normalized("/a/../admin").is_err());
/// assert!(normalized("/a/%2e%2e/admin").is_err());
/// assert!(normalized("/a%2Fb").is_err());
/// assert!(normalized("/a//b").is_err());
/// ```
pub fn normalized(uri: &str) -> Result<&str, &'static str> {
    let path = uri.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err("the path is not absolute");
    }
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2e")
        || lower.contains("%2f")
        || lower.contains("%5c")
        || path.contains('\\')
    {
        return Err("the path encodes a dot, slash or backslash");
    }
    if path.contains("//") {
        return Err("the path has an empty segment");
    }
    if path.split('/').any(|s| s == "." || s == "..") {
        return Err("the path has a dot segment");
    }
    if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err("the path has control characters");
    }
    Ok(path)
}

/// What a matched route asks of the request.
#[derive(Debug, Clone)]
pub struct Route {
    /// The route's pattern as written (the audit event's route template).
    pub template: String,
    method: Option<Method>,
    pattern: Pattern,
    /// `None`: any valid token will do (or no token for a public route). For a route whose
    /// scopes name path parameters, see [`Route::requirement_for`].
    pub requirement: Option<ScopeRequirement>,
    /// The requirement as written, when its scopes are templates (`read:customers:{id}`).
    scope_template: Option<Requirement>,
    /// No token needed.
    pub public: bool,
    /// What the route asks of the token besides scopes: binding, delegation, actors.
    pub rules: RouteRules,
}

/// What a path segment bound into a scope may hold: RFC 3986 unreserved characters, so it
/// can never add a scope level (`:`), a wildcard (`*`) or a second scope (space).
fn scope_safe(value: &str) -> bool {
    !value.is_empty()
        && (value.bytes())
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Replace every `{name}` in `scope` by its value.
fn fill(scope: &str, values: &[(&str, &str)]) -> String {
    let mut out = scope.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

impl Route {
    /// The scope requirement for this request `path` (which the route matched): the
    /// configured one, or, when its scopes are templates, those scopes with the path's
    /// values — `read:customers:{id}` on `/customers/42` requires `read:customers:42`
    /// (which `read:customers` covers, hierarchically). A bound segment must be RFC 3986
    /// unreserved characters only, else the request is refused (`Err`): a `:` in it would
    /// otherwise name a child scope of another resource.
    ///
    /// ```
    /// let c = a2a_guard_gate::Config::parse(r#"
    ///     audiences = ["a"]
    ///     [listen]
    ///     forward_auth = "127.0.0.1:0"
    ///     [[issuer]]
    ///     issuer = "https://i.example"
    ///     [[route]]
    ///     path = "/customers/{id}/**"
    ///     all = ["read:customers:{id}"]
    /// "#).unwrap();
    /// let routes = a2a_guard_gate::routes::Routes::new(&c.routes).unwrap();
    /// let route = routes.find(&http::Method::GET, "/customers/42/orders").unwrap();
    /// let req = route.requirement_for("/customers/42/orders").unwrap().unwrap();
    /// assert_eq!(req.to_string(), "read:customers:42");
    /// assert!(route.requirement_for("/customers/4:2/orders").is_err());
    /// ```
    pub fn requirement_for(
        &self,
        path: &str,
    ) -> Result<Option<std::borrow::Cow<'_, ScopeRequirement>>, AuthError> {
        let Some(template) = &self.scope_template else {
            return Ok(self.requirement.as_ref().map(std::borrow::Cow::Borrowed));
        };
        let values = self.pattern.captures(path);
        if !values.iter().all(|(_, v)| scope_safe(v)) {
            return Err(AuthError::InvalidRequest(
                "a path segment bound to a scope holds characters other than A-Z a-z 0-9 - . _ ~",
            ));
        }
        let filled = template.map_scopes(&|s| fill(s, &values));
        Ok(Some(std::borrow::Cow::Owned(filled.to_requirement())))
    }
}

/// The sender constraint a route requires (`[[route]] binding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// RFC 9449: a DPoP-bound token (`cnf.jkt`) with a valid proof.
    Dpop,
    /// RFC 8705: a certificate-bound token (`cnf.x5t#S256`) with its certificate.
    Mtls,
    /// Either of the two.
    Any,
}

impl Binding {
    fn parse(s: &str) -> Option<Binding> {
        match s {
            "dpop" => Some(Binding::Dpop),
            "mtls" => Some(Binding::Mtls),
            "any" => Some(Binding::Any),
            _ => None,
        }
    }
}

/// A route's rules on the token beyond scopes: checked after the token is validated and its
/// binding verified by a2a-guard, so `cnf` here is already proven.
///
/// ```
/// use a2a_guard_gate::routes::{Binding, Routes};
/// let c = a2a_guard_gate::Config::parse(r#"
///     audiences = ["a"]
///     [listen]
///     forward_auth = "127.0.0.1:0"
///     [[issuer]]
///     issuer = "https://i.example"
///     [[route]]
///     path = "/payments/**"
///     binding = "mtls"
///     max_delegation_depth = 1
///     actors = ["agent:orchestrator"]
/// "#).unwrap();
/// let routes = Routes::new(&c.routes).unwrap();
/// let route = routes.find(&http::Method::POST, "/payments/7").unwrap();
/// assert_eq!(route.rules.binding, Some(Binding::Mtls));
/// assert_eq!(route.rules.max_delegation_depth, Some(1));
/// ```
#[derive(Debug, Clone, Default)]
pub struct RouteRules {
    /// The binding the token must have; `None`: bearer tokens too.
    pub binding: Option<Binding>,
    /// The longest `act` chain accepted.
    pub max_delegation_depth: Option<usize>,
    /// The accepted current actors (`act.sub`); empty: no actor rule.
    pub actors: Vec<String>,
}

impl RouteRules {
    /// Check one `[[route]]`'s rule keys; the error names the key and says what is wrong.
    /// `dpop_configured`: whether the file has a `[dpop]` section.
    pub(crate) fn check(
        r: &RouteConfig,
        dpop_configured: bool,
    ) -> Result<(), (&'static str, String)> {
        if let Some(b) = &r.binding {
            let Some(binding) = Binding::parse(b) else {
                return Err((
                    "binding",
                    format!("{b:?}: expected \"dpop\", \"mtls\" or \"any\""),
                ));
            };
            if binding == Binding::Dpop && !dpop_configured {
                return Err((
                    "binding",
                    "\"dpop\" needs a [dpop] section with the origins clients sign".into(),
                ));
            }
        }
        if r.actors.iter().any(|a| a.is_empty()) {
            return Err(("actors", "an actor's `sub` cannot be empty".into()));
        }
        if r.public
            && (r.binding.is_some() || r.max_delegation_depth.is_some() || !r.actors.is_empty())
        {
            return Err((
                "public",
                "a public route takes no token: no binding, max_delegation_depth or actors".into(),
            ));
        }
        Ok(())
    }

    fn new(r: &RouteConfig) -> Result<RouteRules, String> {
        let binding = match &r.binding {
            Some(b) => Some(Binding::parse(b).ok_or_else(|| format!("binding {b:?}"))?),
            None => None,
        };
        Ok(RouteRules {
            binding,
            max_delegation_depth: r.max_delegation_depth,
            actors: r.actors.clone(),
        })
    }

    /// Whether a validated token, whose binding a2a-guard has verified, meets these rules.
    pub fn admits<C>(&self, p: &Principal<C>) -> Result<(), AuthError> {
        let cnf = p.registered().cnf.as_ref();
        let dpop = cnf.is_some_and(|c| c.jkt.is_some());
        let mtls = cnf.is_some_and(|c| c.x5t_s256.is_some());
        let bound = match self.binding {
            None => true,
            Some(Binding::Dpop) => dpop,
            Some(Binding::Mtls) => mtls,
            Some(Binding::Any) => dpop || mtls,
        };
        if !bound {
            return Err(AuthError::ProofOfPossession(match self.binding {
                Some(Binding::Dpop) => "this route requires a DPoP-bound token",
                Some(Binding::Mtls) => "this route requires a certificate-bound token",
                _ => "this route requires a DPoP- or certificate-bound token",
            }));
        }
        // RFC 8693 §4.1: the chain is current actor first; its length is the depth.
        if let Some(max) = self.max_delegation_depth
            && p.delegation_chain().count() > max
        {
            return Err(AuthError::Delegation(
                "the delegation chain is deeper than this route allows",
            ));
        }
        // Only the current actor decides; nested ones are informational (RFC 8693 §4.1).
        if !self.actors.is_empty()
            && !p
                .actor()
                .and_then(|a| a.sub.as_deref())
                .is_some_and(|sub| self.actors.iter().any(|a| a == sub))
        {
            return Err(AuthError::ActorNotAllowed);
        }
        Ok(())
    }
}

/// The routes of a configuration, ready to match.
#[derive(Debug, Clone, Default)]
pub struct Routes(Vec<Route>);

impl Routes {
    /// Build from checked configuration (`Config::parse` has refused bad patterns and
    /// scopes, so nothing here fails on a checked file).
    pub fn new(routes: &[RouteConfig]) -> Result<Routes, String> {
        let mut out = Vec::with_capacity(routes.len());
        for r in routes {
            let written = r.requirement();
            let templated = written
                .as_ref()
                .is_some_and(|w| w.scopes().iter().any(|s| s.contains('{')));
            let (requirement, scope_template) = match written {
                Some(w) if templated => (None, Some(w)),
                Some(w) => (Some(w.to_requirement()), None),
                None => (None, None),
            };
            out.push(Route {
                template: r.path.clone(),
                method: match r.method.as_str() {
                    "*" => None,
                    m => Some(Method::from_bytes(m.as_bytes()).map_err(|e| e.to_string())?),
                },
                pattern: Pattern::parse(&r.path)?,
                requirement,
                scope_template,
                public: r.public,
                rules: RouteRules::new(r)?,
            });
        }
        // Most specific first; `sort_by` is stable, so exact ties keep the file's order.
        out.sort_by(|a, b| {
            let key = |r: &Route| (r.pattern.specificity(), r.method.is_some());
            key(b).cmp(&key(a))
        });
        Ok(Routes(out))
    }

    /// The most specific route for a method and a checked path.
    ///
    /// ```
    /// use a2a_guard_gate::Config;
    /// use a2a_guard_gate::routes::Routes;
    /// let c = Config::parse(r#"
    ///     audiences = ["a"]
    ///     [listen]
    ///     forward_auth = "127.0.0.1:0"
    ///     [[issuer]]
    ///     issuer = "https://i.example"
    ///     [[route]]
    ///     path = "/**"
    ///     all = ["read"]
    ///     [[route]]
    ///     method = "POST"
    ///     path = "/payments/*"
    ///     all = ["execute:payment"]
    /// "#).unwrap();
    /// let routes = Routes::new(&c.routes).unwrap();
    /// assert_eq!(routes.find(&http::Method::POST, "/payments/7").unwrap().template, "/payments/*");
    /// assert_eq!(routes.find(&http::Method::GET, "/payments/7").unwrap().template, "/**");
    /// ```
    pub fn find(&self, method: &Method, path: &str) -> Option<&Route> {
        self.0
            .iter()
            .find(|r| r.method.as_ref().is_none_or(|m| m == method) && r.pattern.matches(path))
    }
}
