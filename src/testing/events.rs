//! [`TestIssuer`] as a Security Event Token transmitter (RFC 8417, RFC 8935 push), so an
//! agent's revocation path can be tested end to end.

use serde_json::json;

use super::{TestIssuer, TokenBuilder, random_hex};

impl TestIssuer {
    /// A Security Event Token from this issuer (`typ` `secevent+jwt`, `aud`, a fresh `jti`,
    /// `iat` now, no `exp`/`sub`/`scope`) carrying one event about the subject `sub`
    /// (`sub_id` in the `iss_sub` format). Adjust it like any [`TokenBuilder`], then sign.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// use a2a_guard::revocation::CAEP_SESSION_REVOKED;
    /// let issuer = a2a_guard::testing::TestIssuer::start().await?;
    /// let set = issuer
    ///     .security_event("https://api.example.com", CAEP_SESSION_REVOKED, "billing-agent")
    ///     .sign();
    /// assert_eq!(set.split('.').count(), 3);
    /// # Ok(()) }
    /// ```
    pub fn security_event(&self, audience: &str, event: &str, sub: &str) -> TokenBuilder {
        self.token()
            .typ("secevent+jwt")
            .remove_claim("exp")
            .remove_claim("sub")
            .remove_claim("scope")
            .audience(audience)
            .claim("jti", random_hex(32))
            .claim(
                "sub_id",
                json!({"format": "iss_sub", "iss": self.issuer(), "sub": sub}),
            )
            .claim("events", json!({ event: {} }))
    }

    /// Push a signed SET to a receiver (RFC 8935 §2: `POST`, `Content-Type:
    /// application/secevent+jwt`) and return the HTTP status it answered (202 on success).
    ///
    /// ```no_run
    /// # async fn demo(issuer: a2a_guard::testing::TestIssuer) -> std::io::Result<()> {
    /// use a2a_guard::revocation::CAEP_SESSION_REVOKED;
    /// let set = issuer.security_event("https://api.example.com", CAEP_SESSION_REVOKED, "a").sign();
    /// assert_eq!(issuer.push_event("http://127.0.0.1:8080/events", set).await?, 202);
    /// # Ok(()) }
    /// ```
    pub async fn push_event(&self, receiver_url: &str, set: String) -> std::io::Result<u16> {
        let res = reqwest::Client::new()
            .post(receiver_url)
            .header(http::header::CONTENT_TYPE, "application/secevent+jwt")
            .header(http::header::ACCEPT, "application/json")
            .body(set)
            .send()
            .await
            .map_err(std::io::Error::other)?;
        Ok(res.status().as_u16())
    }
}
