//! The record format: a line's body and hash, heads, hex.

use std::fmt;
use std::str::FromStr;

/// `prev` of the first record of a chain: 32 zero bytes.
pub(crate) const GENESIS: [u8; 32] = [0; 32];
/// Bytes after a record's body: `,"hash":"` + 64 hex digits + `"}`.
const SUFFIX_LEN: usize = 9 + 64 + 2;

/// A position in the chain: a record's sequence number and hash. Publish it somewhere the
/// file's writer cannot change (another log sink, a ticket, a transparency log) and pass it to
/// [`Verifier::anchor`](super::Verifier::anchor): that is what detects a cut-off tail.
///
/// Written and parsed as `SEQ:HEX`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Head {
    /// The record's `seq`.
    pub seq: u64,
    /// The record's `hash`.
    pub hash: [u8; 32],
}

impl Head {
    /// The hash as 64 lowercase hex digits, as written in the file.
    pub fn hash_hex(&self) -> String {
        let mut s = Vec::with_capacity(64);
        push_hex(&mut s, &self.hash);
        String::from_utf8(s).expect("hex is ASCII")
    }
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash_hex())
    }
}

impl fmt::Debug for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The error of [`Head::from_str`].
#[derive(Debug, thiserror::Error)]
#[error("expected SEQ:HASH (a decimal sequence number, a colon, 64 hex digits)")]
pub struct ParseHeadError;

impl FromStr for Head {
    type Err = ParseHeadError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (seq, hash) = s.split_once(':').ok_or(ParseHeadError)?;
        Ok(Self {
            seq: seq.parse().map_err(|_| ParseHeadError)?,
            hash: parse_hex(hash.as_bytes()).ok_or(ParseHeadError)?,
        })
    }
}

pub(crate) fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 15)]);
    }
}

/// 64 lowercase hex digits, nothing else (one spelling per hash, so a record has one form).
pub(crate) fn parse_hex(s: &[u8]) -> Option<[u8; 32]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if s.len() != 64 {
        return None;
    }
    let mut out = [0; 32];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// 128 lowercase hex digits: an Ed25519 signature.
pub(crate) fn parse_hex_sig(s: &[u8]) -> Option<[u8; 64]> {
    if s.len() != 128 {
        return None;
    }
    let (a, b) = (parse_hex(&s[..64])?, parse_hex(&s[64..])?);
    let mut out = [0; 64];
    out[..32].copy_from_slice(&a);
    out[32..].copy_from_slice(&b);
    Some(out)
}

/// One line, split into what its hash covers and the hash it carries.
pub(crate) struct Line<'a> {
    pub(crate) body: &'a [u8],
    pub(crate) hash: [u8; 32],
}

/// The fields of a record's body the chain checks.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fields<'a> {
    pub(crate) seq: u64,
    #[allow(dead_code)]
    ts: serde::de::IgnoredAny,
    #[serde(borrow)]
    pub(crate) prev: &'a str,
    #[allow(dead_code)]
    event: serde::de::IgnoredAny,
}

/// Splits `line` (without its newline) into body and hash; `None` when it does not end
/// with `,"hash":"<64 hex>"}`.
pub(crate) fn split_line(line: &[u8]) -> Option<Line<'_>> {
    let at = line.len().checked_sub(SUFFIX_LEN)?;
    let (body, suffix) = line.split_at(at);
    let hex = suffix.strip_prefix(b",\"hash\":\"")?.strip_suffix(b"\"}")?;
    Some(Line {
        body,
        hash: parse_hex(hex)?,
    })
}

/// Parses a body (which lacks its closing brace) into its fields; `scratch` is reused.
pub(crate) fn parse_body<'a>(
    body: &[u8],
    scratch: &'a mut Vec<u8>,
) -> Option<(Fields<'a>, [u8; 32])> {
    scratch.clear();
    scratch.extend_from_slice(body);
    scratch.push(b'}');
    let fields: Fields<'a> = serde_json::from_slice(scratch).ok()?;
    let prev = parse_hex(fields.prev.as_bytes())?;
    Some((fields, prev))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_splits_into_body_and_hash() {
        let hash = [0xab; 32];
        let mut line = b"{\"seq\":0,\"ts\":\"x\",\"prev\":\"".to_vec();
        push_hex(&mut line, &GENESIS);
        line.extend_from_slice(b"\",\"event\":{}");
        let body_len = line.len();
        line.extend_from_slice(b",\"hash\":\"");
        push_hex(&mut line, &hash);
        line.extend_from_slice(b"\"}");
        let l = split_line(&line).unwrap();
        assert_eq!(l.body.len(), body_len);
        assert_eq!(l.hash, hash);
        let mut scratch = Vec::new();
        let (f, prev) = parse_body(l.body, &mut scratch).unwrap();
        assert_eq!((f.seq, prev), (0, GENESIS));
        // Uppercase hex is a second spelling of the same hash: refused.
        let upper = String::from_utf8(line.clone())
            .unwrap()
            .replace("abab", "ABAB");
        assert!(split_line(upper.as_bytes()).is_none());
        assert!(split_line(&line[..line.len() - 1]).is_none());
    }

    #[test]
    fn heads_round_trip_and_bad_ones_are_refused() {
        let h = Head {
            seq: 42,
            hash: [7; 32],
        };
        assert_eq!(h.to_string().parse::<Head>().unwrap(), h);
        for bad in ["42", "x:0707", "42:07", &format!("42:{}", "G".repeat(64))] {
            assert!(bad.parse::<Head>().is_err(), "{bad}");
        }
    }
}
