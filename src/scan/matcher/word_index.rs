//! The word-start index: literals that can only occur at word starts, looked up in one pass over
//! the text with a Bloom filter and hash buckets, 64 bytes at a time.

use super::Literal;

/// Literals that can only occur at word starts (positions whose previous byte is not an ASCII
/// alphanumeric), looked up by a hash of their first eight bytes (literals of 8 bytes or more),
/// four bytes (4 to 7) or all their bytes (shorter ones). Keying long literals on eight bytes
/// keeps a common first word (`how `, `jak `, `wie `, shared by thousands of multilingual
/// literals) from sending every occurrence of that word to the comparison loop.
#[derive(Debug)]
pub(super) struct WordIndex {
    /// `2^HASH_BITS`-bit Bloom filter over key hashes.
    bloom: Box<[u64]>,
    /// `2^BUCKET_BITS + 1` offsets into `entries`.
    offsets: Box<[u32]>,
    /// Literals grouped by bucket.
    entries: Box<[Entry]>,
    /// Bit `l` set when some literal is keyed on `l` bytes: 1, 2, 3, 4 (literals of 4 to 7
    /// bytes) or 8 (8 bytes or more).
    key_lens: u16,
    /// Whether every literal starts with an ASCII alphanumeric or a
    /// non-ASCII byte, so other positions need not be looked up.
    word_first: bool,
}

/// A literal in the word index: its first (up to) eight bytes for a quick
/// inline comparison, then the literal id for the full one.
#[derive(Debug, Clone, Copy)]
struct Entry {
    head: u64,
    mask: u64,
    len: u32,
    id: u32,
}

/// Bits of a key hash: the Bloom filter has `2^HASH_BITS` bits (128 KiB).
const HASH_BITS: u32 = 20;
const BUCKET_BITS: u32 = 16;

/// The key of the first `len` (1 to 8) bytes of `head`, tagged with its length.
#[inline]
fn key_of(head: u64, len: u32) -> u64 {
    let masked = if len >= 8 {
        head
    } else {
        head & ((1u64 << (8 * len)) - 1)
    };
    masked ^ u64::from(len).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[inline]
fn key_hash(key: u64) -> u32 {
    (key.wrapping_mul(0xD6E8_FEB8_6659_FD93) >> (64 - HASH_BITS)) as u32
}

/// The first (up to) `N` bytes, zero padded.
#[inline]
fn load_padded<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut k = [0u8; N];
    for (d, s) in k.iter_mut().zip(bytes) {
        *d = *s;
    }
    k
}

/// Bytes of one 64-byte block plus lookahead for eight-byte keys.
const WINDOW: usize = 64 + 8;

impl WordIndex {
    pub(super) fn new(literals: &[Literal], ids: &[u32]) -> WordIndex {
        let mut bloom = vec![0u64; 1 << (HASH_BITS - 6)];
        let mut buckets: Vec<Vec<Entry>> = vec![Vec::new(); 1 << BUCKET_BITS];
        let mut key_lens = 0u16;
        let mut word_first = true;
        for &id in ids {
            let Some(lit) = literals.get(id as usize) else {
                continue;
            };
            let len = lit.bytes.len();
            if len == 0 {
                continue;
            }
            if lit
                .bytes
                .first()
                .is_some_and(|&b| b < 0x80 && !b.is_ascii_alphanumeric())
            {
                word_first = false;
            }
            let head = u64::from_le_bytes(load_padded::<8>(&lit.bytes));
            let entry = Entry {
                head,
                mask: if len >= 8 {
                    u64::MAX
                } else {
                    (1u64 << (8 * len)) - 1
                },
                len: u32::try_from(len).unwrap_or(u32::MAX),
                id,
            };
            // Keys of 1, 2, 3, 4 (literals of 4 to 7 bytes) or 8 bytes (8 or more).
            let key_len = match len {
                1..=3 => u32::try_from(len).unwrap_or(3),
                4..=7 => 4,
                _ => 8,
            };
            key_lens |= 1 << key_len;
            let h = key_hash(key_of(head, key_len));
            if let Some(w) = bloom.get_mut((h >> 6) as usize) {
                *w |= 1 << (h & 63);
            }
            if let Some(b) = buckets.get_mut((h >> (HASH_BITS - BUCKET_BITS)) as usize) {
                b.push(entry);
            }
        }
        let mut offsets = Vec::with_capacity(buckets.len() + 1);
        let mut entries = Vec::with_capacity(ids.len());
        for b in &buckets {
            offsets.push(u32::try_from(entries.len()).unwrap_or(u32::MAX));
            entries.extend_from_slice(b);
        }
        offsets.push(u32::try_from(entries.len()).unwrap_or(u32::MAX));
        WordIndex {
            bloom: bloom.into_boxed_slice(),
            offsets: offsets.into_boxed_slice(),
            entries: entries.into_boxed_slice(),
            key_lens,
            word_first,
        }
    }

    #[inline]
    fn bloom_bit(&self, h: u32) -> bool {
        self.bloom
            .get((h >> 6) as usize)
            .is_some_and(|w| (w >> (h & 63)) & 1 == 1)
    }

    /// Compare the literals of bucket `h` against the text at `pos` and report those that occur
    /// there.
    #[inline(never)]
    fn verify(
        &self,
        literals: &[Literal],
        bytes: &[u8],
        pos: usize,
        head: u64,
        h: u32,
        hit: &mut impl FnMut(u32, usize, usize),
    ) {
        let bucket = (h >> (HASH_BITS - BUCKET_BITS)) as usize;
        let (Some(&lo), Some(&hi)) = (self.offsets.get(bucket), self.offsets.get(bucket + 1))
        else {
            return;
        };
        let entries = self.entries.get(lo as usize..hi as usize).unwrap_or(&[]);
        for e in entries {
            if head & e.mask != e.head {
                continue;
            }
            let end = pos + e.len as usize;
            if end > bytes.len() {
                continue;
            }
            let full = e.len <= 8
                || literals
                    .get(e.id as usize)
                    .is_some_and(|lit| bytes.get(pos..end) == Some(&lit.bytes[..]));
            if full {
                hit(e.id, pos, end);
            }
        }
    }

    /// Report every occurrence of an indexed literal at a position whose
    /// previous byte is not an ASCII alphanumeric.
    pub(super) fn scan(
        &self,
        literals: &[Literal],
        text: &str,
        mut hit: impl FnMut(u32, usize, usize),
    ) {
        let bytes = text.as_bytes();
        let len = bytes.len();
        let mut carry = 0u64;
        let mut base = 0usize;
        // Key lengths to probe at each candidate, longest (rarest) first.
        let lens: Vec<u32> = (1..=8u32)
            .rev()
            .filter(|l| self.key_lens & (1 << l) != 0)
            .collect();
        while base < len {
            // The block and 8 bytes of lookahead, zero padded past the end.
            let padded;
            let window: &[u8; WINDOW] = match bytes
                .get(base..base + WINDOW)
                .and_then(|w| <&[u8; WINDOW]>::try_from(w).ok())
            {
                Some(w) => w,
                None => {
                    padded = load_padded::<WINDOW>(bytes.get(base..).unwrap_or(&[]));
                    &padded
                }
            };
            let (block, _) = window.as_chunks::<64>();
            let Some(block) = block.first() else {
                break;
            };
            let (alnum, non_ascii) = masks64(block);
            // Candidate starts: previous byte is not alphanumeric (and, when
            // all literals start with one, this byte is alphanumeric or
            // non-ASCII). Positions past the end are masked off.
            let mut starts = !((alnum << 1) | carry);
            if self.word_first {
                starts &= alnum | non_ascii;
            }
            if len - base < 64 {
                starts &= (1u64 << (len - base)) - 1;
            }
            carry = alnum >> 63;
            let mut rest = starts;
            while rest != 0 {
                let j = (rest.trailing_zeros() & 63) as usize;
                rest &= rest - 1;
                let Some(&[a, b, c, d, e, f, g, h8]) = window.get(j..j + 8) else {
                    continue;
                };
                let head = u64::from_le_bytes([a, b, c, d, e, f, g, h8]);
                for &l in &lens {
                    let h = key_hash(key_of(head, l));
                    if self.bloom_bit(h) {
                        self.verify(literals, bytes, base + j, head, h, &mut hit);
                    }
                }
            }
            base += 64;
        }
    }
}

/// Bit `i` of the first mask set iff `block[i]` is an ASCII alphanumeric;
/// of the second iff it is not ASCII.
#[inline]
pub(super) fn masks64(block: &[u8; 64]) -> (u64, u64) {
    let (words, _) = block.as_chunks::<8>();
    let mut alnum = 0u64;
    let mut high = 0u64;
    for (i, w) in words.iter().enumerate() {
        let x = u64::from_le_bytes(*w);
        alnum |= alnum_mask8(x) << (8 * i);
        high |= gather_high_bits(x) << (8 * i);
    }
    (alnum, high)
}

/// Bit `i` of the result set iff the high bit of byte `i` of `x` is set.
#[inline]
fn gather_high_bits(x: u64) -> u64 {
    ((x & 0x8080_8080_8080_8080) >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// SWAR: bit `i` of the result set iff byte `i` of `x` is ASCII alphanumeric.
#[inline]
fn alnum_mask8(x: u64) -> u64 {
    use crate::scan::normalize::{HI, LO7, in_range, splat};
    let ascii = !x & HI;
    let v = x & LO7;
    let digit = in_range(v, b'0', b'9');
    let alpha = in_range(v | splat(0x20), b'a', b'z');
    gather_high_bits((digit | alpha) & ascii)
}
