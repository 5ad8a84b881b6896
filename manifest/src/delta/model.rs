//! The context models of [`Codec::RANGE_CM`](super::Codec::RANGE_CM), shared by the host
//! encoder and the device decoder so both index the same probabilities (FORMATS §Delta,
//! "Payload coding").
//!
//! All probabilities live in one `[u16; PROBS]` table, initialised to [`PROB_INIT`]:
//!
//! | range | model |
//! |---|---|
//! | `FIELD_BASE + 64*f` | bit-length tree (6 bits) of record field `f` (seek, diff_len, extra_len) |
//! | `ZERO_BASE` (16) | "diff byte is zero", context: last two zero flags, output position mod 4 |
//! | `DIFF_BASE` (2×256) | 8-bit tree of a non-zero diff byte, context: previous diff byte non-zero |
//! | `LITERAL_BASE` (4×256) | 8-bit tree of an extra byte, context: top bits of the previous output byte |

/// Probabilities are 11-bit fixed point (LZMA's `kNumBitModelTotalBits`).
pub const PROB_BITS: u32 = 11;
/// 1.0 in probability units.
pub const PROB_ONE: u16 = 1 << PROB_BITS;
/// Every probability starts at one half.
pub const PROB_INIT: u16 = PROB_ONE / 2;
/// The range is renormalised (shifted by a byte) whenever it drops below this.
pub const RANGE_TOP: u32 = 1 << 24;

pub const MIN_ADAPT_SHIFT: u8 = 4;
pub const MAX_ADAPT_SHIFT: u8 = 6;
pub const MAX_LITERAL_CONTEXT_BITS: u8 = 2;

/// Record fields, in stream order.
pub const FIELD_SEEK: usize = 0;
pub const FIELD_DIFF_LEN: usize = 1;
pub const FIELD_EXTRA_LEN: usize = 2;
/// Bits of a field's bit-length tree; a field value has at most [`MAX_FIELD_BITS`] bits.
pub const FIELD_TREE_BITS: u32 = 6;
pub const MAX_FIELD_BITS: u32 = 33;

pub const FIELD_BASE: usize = 0;
pub const FIELD_SIZE: usize = 1 << FIELD_TREE_BITS;
pub const ZERO_BASE: usize = FIELD_BASE + 3 * FIELD_SIZE;
pub const ZERO_SIZE: usize = 16;
pub const DIFF_BASE: usize = ZERO_BASE + ZERO_SIZE;
pub const DIFF_SIZE: usize = 2 * 256;
pub const LITERAL_BASE: usize = DIFF_BASE + DIFF_SIZE;
pub const LITERAL_SIZE: usize = (1 << MAX_LITERAL_CONTEXT_BITS) * 256;
/// Length of the probability table.
pub const PROBS: usize = LITERAL_BASE + LITERAL_SIZE;

/// First probability of field `field`'s bit-length tree.
pub const fn field_base(field: usize) -> usize {
    FIELD_BASE + (field % 3) * FIELD_SIZE
}

/// Index of the zero-flag probability. `history` holds the last zero flags (bit 0 = most
/// recent, 1 = that diff byte was zero); `out_pos` is the result offset being produced.
pub const fn zero_index(history: u8, out_pos: u32) -> usize {
    // Both operands are masked to two bits, so the index stays below ZERO_SIZE.
    ZERO_BASE + (((history & 3) as usize) | (((out_pos & 3) as usize) << 2))
}

/// First probability of the 8-bit tree coding a non-zero diff byte.
pub const fn diff_base(prev_nonzero: bool) -> usize {
    DIFF_BASE + if prev_nonzero { 256 } else { 0 }
}

/// First probability of the 8-bit tree coding an extra byte after `prev` (the previous output
/// byte, 0 at the start), with `context_bits` ≤ [`MAX_LITERAL_CONTEXT_BITS`].
pub const fn literal_base(prev: u8, context_bits: u8) -> usize {
    let ctx = if context_bits == 0 || context_bits > MAX_LITERAL_CONTEXT_BITS {
        0
    } else {
        (prev >> (8 - context_bits)) as usize
    };
    LITERAL_BASE + ctx * 256
}

/// Number of significant bits of `v` (0 for 0).
pub const fn bit_length(v: u64) -> u32 {
    u64::BITS - v.leading_zeros()
}

/// Seeks are signed; they are coded zig-zag (0, -1, 1, -2, ... → 0, 1, 2, 3, ...).
pub const fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub const fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}
