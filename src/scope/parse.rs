//! Reading a `scope` claim: the byte rule (RFC 6749 §3.3), splitting on spaces eight bytes
//! at a time, and the sort of the tokens by their text.

use super::InvalidScope;

/// [`BYTE_CLASS`]: an RFC 6749 §3.3 scope-token byte.
pub(super) const TOKEN_BYTE: u8 = 1;
/// [`BYTE_CLASS`]: the separator between scope tokens.
const SPACE: u8 = 2;
/// Each byte's class in a `scope` claim: [`TOKEN_BYTE`] (`%x21 / %x23-5B / %x5D-7E`),
/// [`SPACE`], or 0 (invalid).
pub(super) const BYTE_CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    let mut b = 0x21;
    while b <= 0x7e {
        if b != 0x22 && b != 0x5c {
            class[b] = TOKEN_BYTE;
        }
        b += 1;
    }
    class[b' ' as usize] = SPACE;
    class
};

/// The ranges of the space-separated tokens of a `scope` claim, or `None` when a byte is
/// neither a scope-token byte nor a space. Eight bytes at a time: a word with no space and
/// no invalid byte (most of them) costs a handful of instructions.
pub(super) fn token_ranges(bytes: &[u8]) -> Option<Vec<(usize, usize)>> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const LOW7: u64 = u64::from_le_bytes([0x7f; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    // The high bit of each byte of `x` (no byte above 0x7f) that equals `b`: exact per
    // byte, nothing carries across bytes.
    let equal = |x: u64, b: u8| {
        let v = x ^ (ONES * u64::from(b));
        !(((v & LOW7).wrapping_add(LOW7)) | v | LOW7)
    };
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().ok()?);
        // Any byte with the high bit set, or below 0x20, or 0x7f, or `"`, or `\`.
        if x & HIGH != 0
            || x.wrapping_sub(ONES * 0x20) & !x & HIGH != 0
            || x.wrapping_add(ONES) & HIGH != 0
            || equal(x, b'"') | equal(x, b'\\') != 0
        {
            return None;
        }
        let mut spaces = equal(x, b' ');
        while spaces != 0 {
            let at = offset + spaces.trailing_zeros() as usize / 8;
            if start < at {
                ranges.push((start, at));
            }
            start = at + 1;
            spaces &= spaces - 1;
        }
        offset += 8;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        match BYTE_CLASS[usize::from(b)] {
            TOKEN_BYTE => {}
            SPACE => {
                if start < offset + i {
                    ranges.push((start, offset + i));
                }
                start = offset + i + 1;
            }
            _ => return None,
        }
    }
    if start < bytes.len() {
        ranges.push((start, bytes.len()));
    }
    Some(ranges)
}

/// Bytes of each window the sort compares as one integer.
const WINDOW: usize = 12;
/// Past this many equal leading bytes, ties are sorted by comparing the rest of the text:
/// the radix levels (and their recursion) stay bounded whatever the token holds.
const RADIX_DEPTH: usize = 4 * WINDOW;

/// The indices of `ranges` in the order of the text they cover, equal texts adjacent.
///
/// An MSD radix sort with 12-byte digits: each range gets a key, its next 12 bytes
/// (big-endian, zero-padded) above its index, and the keys sort as plain integers; ranges
/// that tie on all 12 bytes and go on sort again on their next 12. Scope-token bytes are
/// never 0, so a padded window sorts as its text does. `Err` when there are more ranges
/// than a `u32` counts.
pub(super) fn sort_by_text(
    bytes: &[u8],
    ranges: &[(usize, usize)],
) -> Result<Vec<usize>, InvalidScope> {
    if u32::try_from(ranges.len()).is_err() {
        return Err(InvalidScope);
    }
    let mut keys: Vec<u128> = (0..ranges.len())
        .map(|i| window(bytes, ranges, i, 0))
        .collect();
    sort_level(bytes, ranges, &mut keys, 0);
    Ok(keys.iter().map(|k| key_index(*k)).collect())
}

/// The key of range `i` at `depth`: 12 bytes from there, big-endian, above the index.
fn window(bytes: &[u8], ranges: &[(usize, usize)], i: usize, depth: usize) -> u128 {
    let (start, end) = ranges[i];
    let from = (start + depth).min(end);
    let n = (end - from).min(WINDOW);
    let text = match bytes.get(from..from + 16) {
        // 16 bytes at once (past the token's end is masked off below).
        Some(word) => u128::from_be_bytes(word.try_into().unwrap_or([0; 16])),
        None => {
            let mut word = [0u8; 16];
            word[..n].copy_from_slice(&bytes[from..from + n]);
            u128::from_be_bytes(word)
        }
    };
    let mask = if n == 0 {
        0
    } else {
        u128::MAX << (8 * (16 - n))
    };
    (text & mask) | i as u128
}

/// The range index a key carries.
fn key_index(key: u128) -> usize {
    (key as u32) as usize
}

/// One level of [`sort_by_text`]: sort `keys` (windows at `depth`), then each run that ties
/// on its window and is longer than it, one level deeper.
fn sort_level(bytes: &[u8], ranges: &[(usize, usize)], keys: &mut [u128], depth: usize) {
    keys.sort_unstable();
    let next = depth + WINDOW;
    let longer = |k: &u128| {
        let (start, end) = ranges[key_index(*k)];
        end - start > next
    };
    let mut run = 0;
    while run < keys.len() {
        let digit = keys[run] >> 32;
        let end = run + keys[run..].partition_point(|k| k >> 32 == digit);
        let tied = &mut keys[run..end];
        if tied.len() > 1 && tied.iter().any(longer) {
            if next >= RADIX_DEPTH {
                tied.sort_unstable_by(|a, b| {
                    let text = |k: &u128| {
                        let (start, end) = ranges[key_index(*k)];
                        &bytes[start + next..end]
                    };
                    text(a).cmp(text(b))
                });
            } else {
                for k in tied.iter_mut() {
                    *k = window(bytes, ranges, key_index(*k), next);
                }
                sort_level(bytes, ranges, tied, next);
            }
        }
        run = end;
    }
}
