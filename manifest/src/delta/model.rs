//! The context models of [`Codec::RANGE_CM`](super::Codec::RANGE_CM), shared by the host
//! encoder and the device decoder so both index the same probabilities (FORMATS §Delta,
//! "Payload coding").
//!
//! All probabilities live in one `[u16; PROBS]` table, initialised to [`PROB_INIT`]. A cell
//! holds the 11-bit probability of a 0 in its low bits and an adaptation count above them
//! (see [`adapt`]):
//!
//! | range | model |
//! |---|---|
//! | `FIELD_BASE + 64*f` | bit-length tree (6 bits) of record field `f` (seek, diff_len, extra_len) |
//! | `ZERO_BASE` (512) | "diff byte is non-zero"; context: diff flags 1, 2 and 4 bytes back, output position mod 4, high nibble of the old byte |
//! | `DIFF_BASE` (2×256) | 8-bit tree of a non-zero diff byte; context: output position mod 2 |
//! | `LITERAL_BASE` (2×256) | 8-bit tree of an extra byte; context: top bit of the previous output byte |

/// Probabilities are 11-bit fixed point (LZMA's `kNumBitModelTotalBits`).
pub const PROB_BITS: u32 = 11;
/// 1.0 in probability units.
pub const PROB_ONE: u16 = 1 << PROB_BITS;
/// Every probability starts at one half.
pub const PROB_INIT: u16 = PROB_ONE / 2;
/// The range is renormalised (shifted by a byte) while it is below this.
pub const RANGE_TOP: u32 = 1 << 24;
/// Mask of the probability bits of a cell.
pub const PROB_MASK: u16 = PROB_ONE - 1;

pub const MIN_ADAPT_SHIFT: u8 = 4;
pub const MAX_ADAPT_SHIFT: u8 = 6;
pub const MAX_LITERAL_CONTEXT_BITS: u8 = 1;

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
pub const ZERO_SIZE: usize = 512;
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

/// Index of the zero-flag probability. `history` holds the previous flags (bit 0 = the byte
/// just before, 1 = that diff byte was non-zero), `out_pos` is the result offset being produced
/// and `old` the base byte it is added to.
pub const fn zero_index(history: u8, out_pos: u32, old: u8) -> usize {
    let flags = (history & 3) | ((history >> 1) & 4);
    // flags < 8, lane < 4, old >> 4 < 16: the index stays below ZERO_BASE + ZERO_SIZE.
    ZERO_BASE + (flags as usize) + (((out_pos & 3) as usize) << 3) + (((old >> 4) as usize) << 5)
}

/// First probability of the 8-bit tree coding a non-zero diff byte at result offset `out_pos`.
pub const fn diff_base(out_pos: u32) -> usize {
    DIFF_BASE + ((out_pos & 1) as usize) * 256
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

/// One adaptation step of a probability cell after coding `bit`, with the header's
/// `adapt_shift` as the slowest rate. A fresh cell adapts fast (shift 1, 2, ...) and settles at
/// `adapt_shift`, so sparse contexts learn quickly. The probability stays within 1..=2047.
pub const fn adapt(cell: u16, bit: bool, adapt_shift: u8) -> u16 {
    let p = cell & PROB_MASK;
    let count = cell >> PROB_BITS;
    let shift = if count + 1 < adapt_shift as u16 {
        count + 1
    } else {
        adapt_shift as u16
    };
    let p = if bit {
        p - (p >> shift)
    } else {
        p + ((PROB_ONE - p) >> shift)
    };
    let count = if count + 1 < adapt_shift as u16 {
        count + 1
    } else {
        count
    };
    p | (count << PROB_BITS)
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
