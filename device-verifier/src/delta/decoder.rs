//! The range decoder of `Codec::RANGE_CM` and the per-field models on top of it (FORMATS
//! §Delta, "Payload coding").
//!
//! Written by hand rather than taken from a crate: the decoder must be `no_std`, allocation-free
//! and panic-free, hold its state in a few KiB the caller owns, and pull its input in small
//! chunks; the available LZMA/deflate crates need an allocator or a 32 KiB+ window.
//!
//! Termination: every renormalisation consumes one payload byte and the payload is bounded by
//! `payload_len`; a decision leaves the range at least `2^13` (probabilities stay within
//! `1..=2047`), so at most three renormalisations follow it and the range never reaches 0;
//! every record produces at least one byte and the result is bounded by `result_size`. A hostile
//! payload therefore ends in an error, never in a hang or an out-of-bounds write.

use manifest::delta::model;

use super::{ApplyError, ApplyErrorKind as Kind, PatchSource};

pub(super) struct Decoder<'a, S> {
    source: &'a mut S,
    buf: &'a mut [u8],
    pos: usize,
    filled: usize,
    /// Payload bytes consumed so far.
    taken: u32,
    /// `payload_len` from the header: the coder may never read past it.
    limit: u32,
    range: u32,
    code: u32,
    shift: u8,
    /// Patch offset of the payload's first byte (for error offsets).
    base_offset: u32,
}

impl<'a, S: PatchSource> Decoder<'a, S> {
    pub(super) fn new(
        source: &'a mut S,
        buf: &'a mut [u8],
        limit: u32,
        adapt_shift: u8,
        base_offset: u32,
    ) -> Result<Self, ApplyError> {
        let mut d = Self {
            source,
            buf,
            pos: 0,
            filled: 0,
            taken: 0,
            limit,
            range: u32::MAX,
            code: 0,
            shift: adapt_shift,
            base_offset,
        };
        // FORMATS §Delta, payload coding: the coder's first byte is always 0 (the encoder's
        // empty carry cache); anything else is not our payload.
        if d.next_byte()? != 0 {
            return Err(d.error(Kind::Corrupt));
        }
        for _ in 0..4 {
            d.code = d.code.wrapping_shl(8) | u32::from(d.next_byte()?);
        }
        // The code value always lies below the range; equal means a corrupt stream.
        if d.code == u32::MAX {
            return Err(d.error(Kind::Corrupt));
        }
        Ok(d)
    }

    pub(super) fn error(&self, kind: Kind) -> ApplyError {
        ApplyError::new(kind, self.base_offset.saturating_add(self.taken))
    }

    fn next_byte(&mut self) -> Result<u8, ApplyError> {
        // FORMATS §Delta: the payload is exactly payload_len bytes; never read past it.
        if self.taken >= self.limit {
            return Err(self.error(Kind::Truncated));
        }
        if self.pos >= self.filled {
            let remaining = usize::try_from(self.limit.saturating_sub(self.taken)).unwrap_or(usize::MAX);
            let want = remaining.min(self.buf.len());
            let chunk = self.buf.get_mut(..want).unwrap_or_default();
            let n = self
                .source
                .read(chunk)
                .map_err(|_| ApplyError::new(Kind::PatchRead, self.base_offset.saturating_add(self.taken)))?;
            if n == 0 {
                return Err(self.error(Kind::Truncated));
            }
            self.filled = n.min(want);
            self.pos = 0;
        }
        let byte = self.buf.get(self.pos).copied().ok_or(self.error(Kind::Truncated))?;
        self.pos = self.pos.saturating_add(1);
        self.taken = self.taken.saturating_add(1);
        Ok(byte)
    }

    fn normalize(&mut self) -> Result<(), ApplyError> {
        // At most three rounds: after any decision the range is at least 2^13 (p stays in
        // 1..=2047, see `model::adapt`), and each round consumes a payload byte.
        while self.range < model::RANGE_TOP {
            self.range = self.range.wrapping_shl(8);
            self.code = self.code.wrapping_shl(8) | u32::from(self.next_byte()?);
        }
        Ok(())
    }

    /// One adaptive binary decision with probability `probs[index]` of a 0.
    pub(super) fn bit(&mut self, probs: &mut [u16], index: usize) -> Result<u32, ApplyError> {
        let cell = probs.get_mut(index).ok_or(ApplyError::new(Kind::Corrupt, 0))?;
        let p = *cell & model::PROB_MASK;
        // range >> 11 < 2^21 and p < 2^11, so the product fits in 32 bits.
        let bound = self.range.wrapping_shr(model::PROB_BITS).wrapping_mul(u32::from(p));
        let bit = self.code >= bound;
        if bit {
            self.range = self.range.wrapping_sub(bound);
            self.code = self.code.wrapping_sub(bound);
        } else {
            self.range = bound;
        }
        *cell = model::adapt(*cell, bit, self.shift);
        self.normalize()?;
        Ok(u32::from(bit))
    }

    /// One decision at probability one half (the low bits of a field).
    fn direct_bit(&mut self) -> Result<u64, ApplyError> {
        self.range = self.range.wrapping_shr(1);
        let bit = if self.code >= self.range {
            self.code = self.code.wrapping_sub(self.range);
            1
        } else {
            0
        };
        self.normalize()?;
        Ok(bit)
    }

    /// A `bits`-bit value coded most significant bit first through a binary tree of
    /// probabilities at `base + 1 .. base + 2^bits`.
    pub(super) fn tree(&mut self, probs: &mut [u16], base: usize, bits: u32) -> Result<u32, ApplyError> {
        let mut node: u32 = 1;
        for _ in 0..bits {
            let index = base.saturating_add(usize::try_from(node).unwrap_or(usize::MAX));
            let bit = self.bit(probs, index)?;
            node = node.wrapping_shl(1) | bit;
        }
        Ok(node.wrapping_sub(1u32.wrapping_shl(bits)))
    }

    /// A record field: its bit length through the field's tree, then the bits below the
    /// leading one as direct bits.
    pub(super) fn field(&mut self, probs: &mut [u16], field: usize) -> Result<u64, ApplyError> {
        let len = self.tree(probs, model::field_base(field), model::FIELD_TREE_BITS)?;
        // FORMATS §Delta: a field has at most 33 significant bits.
        if len > model::MAX_FIELD_BITS {
            return Err(self.error(Kind::Corrupt));
        }
        if len == 0 {
            return Ok(0);
        }
        let mut value: u64 = 1;
        for _ in 1..len {
            value = value.wrapping_shl(1) | self.direct_bit()?;
        }
        Ok(value)
    }

    /// FORMATS §Delta: after the last record the coder has consumed the payload exactly.
    pub(super) fn finish(self) -> Result<(), ApplyError> {
        if self.taken != self.limit || self.pos != self.filled {
            return Err(self.error(Kind::TrailingBytes));
        }
        // The encoder's flush writes out its `low` exactly, so a canonical payload leaves the
        // code at 0 (as LZMA's end check); any other final bytes are not the encoder's.
        if self.code != 0 {
            return Err(self.error(Kind::Corrupt));
        }
        // And the patch ends with the payload: a source with more bytes is not this patch.
        let mut probe = [0u8; 1];
        match self.source.read(&mut probe) {
            Ok(0) => Ok(()),
            Ok(_) => Err(self.error(Kind::TrailingBytes)),
            Err(_) => Err(self.error(Kind::PatchRead)),
        }
    }
}
