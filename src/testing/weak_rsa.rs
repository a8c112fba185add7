//! A fixed 1024-bit RSA key, signed with by hand.
//!
//! aws-lc-rs refuses to generate or load RSA signing keys under 2048 bits, yet a resource server
//! must be tested against exactly such keys (RFC 7518 §3.3 requires 2048 bits or more). This file
//! holds one publicly known 1024-bit key and a small, variable-time modular exponentiation —
//! acceptable only because the key is a test fixture whose secret is printed below.

use crate::Algorithm;
use aws_lc_rs::digest;

/// The modulus `n` of the fixed key, big-endian hex (1024 bits, `e` = 65537).
const N_HEX: &str = concat!(
    "e287fd8614849331e5acdfbc94c355e92ed90b7b9254e7cf1eab32644c5f8148",
    "da2a425784fab8df31c910d6a2ecb733de6fe414e6969882f5c31008ab72ef8f",
    "632fc465a6a2066197118651a7953dc043b316cde52935d809959c0bc1e6afdd",
    "ece6bbdf09dc10679cf0d5285428ca8e70511f20ae806201b660f91183f4f607",
);

/// The private exponent `d` of the fixed key, big-endian hex. Public on purpose: test use only.
const D_HEX: &str = concat!(
    "0df7c6a922d0bde6c0bbb51c02ac3cbae1199efca29c3ba2e8c833963da351ec",
    "750f5001e780323008f8d5e1f62fd4680d5a26dd270eb81eb31ab0fd67dcf16a",
    "6f477b852ddbb3b4a9c544a9875e693e86fb388a4929f18356d9220db54510a4",
    "01ce6ed7c63524c9e559e5c379f26e3955b92eba36fbfe2d1ea5258a019c54a9",
);

/// The public exponent, 65537, big-endian.
pub(super) const E: [u8; 3] = [0x01, 0x00, 0x01];

/// Modulus length in bytes.
const K: usize = 128;

/// The modulus, big-endian, without leading zeros.
pub(super) fn modulus() -> Vec<u8> {
    hex_bytes(N_HEX)
}

/// An RSASSA-PKCS1-v1_5 signature (RFC 8017 §8.2.1) over `msg` for `RS256`/`RS384`/`RS512`;
/// `None` for any other algorithm (PSS is not implemented for this key).
pub(super) fn sign_pkcs1(alg: Algorithm, msg: &[u8]) -> Option<Vec<u8>> {
    // RFC 8017 §9.2 note 1: DER DigestInfo prefixes.
    let (digest_alg, prefix): (_, &[u8]) = match alg {
        Algorithm::RS256 => (
            &digest::SHA256,
            &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
        ),
        Algorithm::RS384 => (
            &digest::SHA384,
            &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
        ),
        Algorithm::RS512 => (
            &digest::SHA512,
            &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        ),
        _ => return None,
    };
    let hash = digest::digest(digest_alg, msg);
    // EMSA-PKCS1-v1_5 (RFC 8017 §9.2): 0x00 0x01 PS(0xff..) 0x00 DigestInfo.
    let t_len = prefix.len() + hash.as_ref().len();
    let mut em = vec![0xffu8; K];
    em[0] = 0x00;
    em[1] = 0x01;
    em[K - t_len - 1] = 0x00;
    em[K - t_len..K - hash.as_ref().len()].copy_from_slice(prefix);
    em[K - hash.as_ref().len()..].copy_from_slice(hash.as_ref());

    let n = limbs(&hex_bytes(N_HEX));
    let d = hex_bytes(D_HEX);
    let s = mod_pow(&limbs(&em), &d, &n);
    Some(to_be_bytes(&s, K))
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            digit(pair[0]) << 4 | pair.get(1).map_or(0, |&c| digit(c))
        })
        .collect()
}

/// Big-endian bytes → little-endian 64-bit limbs, `K / 8` of them.
fn limbs(be: &[u8]) -> Vec<u64> {
    let mut out = vec![0u64; K / 8];
    for (i, &byte) in be.iter().rev().enumerate().take(K) {
        out[i / 8] |= u64::from(byte) << (8 * (i % 8));
    }
    out
}

fn to_be_bytes(limbs: &[u64], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for (i, slot) in out.iter_mut().rev().enumerate() {
        *slot = (limbs[i / 8] >> (8 * (i % 8))) as u8;
    }
    out
}

/// `a >= b` for equal-length limb slices.
fn ge(a: &[u64], b: &[u64]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x > y;
        }
    }
    true
}

/// `a -= b`, returning the borrow.
fn sub_in_place(a: &mut [u64], b: &[u64]) -> bool {
    let mut borrow = false;
    for (x, &y) in a.iter_mut().zip(b) {
        let (d1, b1) = x.overflowing_sub(y);
        let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
        *x = d2;
        borrow = b1 || b2;
    }
    borrow
}

/// Montgomery product `a * b * R^-1 mod n` (CIOS), with `R = 2^(64 * len)`.
fn mont_mul(a: &[u64], b: &[u64], n: &[u64], n0_inv: u64) -> Vec<u64> {
    let k = n.len();
    let mut t = vec![0u64; k + 2];
    for &bi in b {
        let mut carry: u128 = 0;
        for j in 0..k {
            let s = u128::from(t[j]) + u128::from(a[j]) * u128::from(bi) + carry;
            t[j] = s as u64;
            carry = s >> 64;
        }
        let s = u128::from(t[k]) + carry;
        t[k] = s as u64;
        t[k + 1] = (s >> 64) as u64;

        let m = t[0].wrapping_mul(n0_inv);
        let mut carry = (u128::from(t[0]) + u128::from(m) * u128::from(n[0])) >> 64;
        for j in 1..k {
            let s = u128::from(t[j]) + u128::from(m) * u128::from(n[j]) + carry;
            t[j - 1] = s as u64;
            carry = s >> 64;
        }
        let s = u128::from(t[k]) + carry;
        t[k - 1] = s as u64;
        t[k] = t[k + 1] + (s >> 64) as u64;
        t[k + 1] = 0;
    }
    let mut result = t[..k].to_vec();
    if t[k] != 0 || ge(&result, n) {
        sub_in_place(&mut result, n);
    }
    result
}

/// `base^exp mod n` for odd `n`; `exp` is big-endian bytes. Variable time: test keys only.
fn mod_pow(base: &[u64], exp: &[u8], n: &[u64]) -> Vec<u64> {
    let k = n.len();
    // -n^-1 mod 2^64 by Newton iteration (each step doubles the correct low bits).
    let mut inv: u64 = 1;
    for _ in 0..6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(n[0].wrapping_mul(inv)));
    }
    let n0_inv = inv.wrapping_neg();

    // R^2 mod n, by doubling 1 modulo n 2 * 64 * k times.
    let mut r2 = vec![0u64; k];
    r2[0] = 1;
    for _ in 0..2 * 64 * k {
        let top = r2[k - 1] >> 63;
        for i in (1..k).rev() {
            r2[i] = r2[i] << 1 | r2[i - 1] >> 63;
        }
        r2[0] <<= 1;
        if top == 1 || ge(&r2, n) {
            sub_in_place(&mut r2, n);
        }
    }

    let base_m = mont_mul(base, &r2, n, n0_inv);
    let mut one = vec![0u64; k];
    one[0] = 1;
    let mut acc = mont_mul(&one, &r2, n, n0_inv);
    for byte in exp {
        for bit in (0..8).rev() {
            acc = mont_mul(&acc, &acc, n, n0_inv);
            if byte >> bit & 1 == 1 {
                acc = mont_mul(&acc, &base_m, n, n0_inv);
            }
        }
    }
    mont_mul(&acc, &one, n, n0_inv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{self, RsaPublicKeyComponents};

    #[test]
    fn fixed_key_signatures_verify_with_the_legacy_1024_bit_verifier() {
        let pk = RsaPublicKeyComponents {
            n: modulus(),
            e: E.to_vec(),
        };
        for (alg, params) in [
            (
                Algorithm::RS256,
                &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            ),
            (
                Algorithm::RS512,
                &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
            ),
        ] {
            let sig = sign_pkcs1(alg, b"header.payload").expect("RS* is supported");
            assert_eq!(sig.len(), K);
            assert!(pk.verify(params, b"header.payload", &sig).is_ok(), "{alg}");
            assert!(pk.verify(params, b"header.payloaX", &sig).is_err(), "{alg}");
        }
        assert!(sign_pkcs1(Algorithm::PS256, b"x").is_none());
    }

    #[test]
    fn mod_pow_round_trips_with_the_public_exponent() {
        let n = limbs(&modulus());
        let m = limbs(&[0x12, 0x34, 0x56, 0x78, 0x9a]);
        let c = mod_pow(&m, &E, &n);
        assert_eq!(mod_pow(&c, &hex_bytes(D_HEX), &n), m);
    }
}
