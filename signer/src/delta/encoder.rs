//! The range encoder of `Codec::RANGE_CM` (an LZMA-style carry-propagating range coder) and
//! the record-stream coding that mirrors `device_verifier::delta`'s decoder decision for
//! decision (FORMATS §Delta, "Payload coding").

use manifest::delta::{model, CodecParams};

use super::matcher::Record;

struct RangeEncoder {
    low: u64,
    range: u32,
    cache: u8,
    cache_size: u64,
    out: Vec<u8>,
    shift: u8,
}

impl RangeEncoder {
    fn new(shift: u8) -> Self {
        Self {
            low: 0,
            range: u32::MAX,
            cache: 0,
            cache_size: 1,
            out: Vec::new(),
            shift,
        }
    }

    fn shift_low(&mut self) {
        if self.low < 0xFF00_0000 || self.low > 0xFFFF_FFFF {
            let carry = u8::from(self.low > 0xFFFF_FFFF);
            let mut byte = self.cache;
            while self.cache_size > 0 {
                self.out.push(byte.wrapping_add(carry));
                byte = 0xFF;
                self.cache_size -= 1;
            }
            self.cache = ((self.low >> 24) & 0xFF) as u8;
        }
        self.cache_size += 1;
        self.low = (self.low & 0x00FF_FFFF) << 8;
    }

    fn normalize(&mut self) {
        while self.range < model::RANGE_TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    fn bit(&mut self, cell: &mut u16, bit: bool) {
        let p = *cell & model::PROB_MASK;
        let bound = (self.range >> model::PROB_BITS) * u32::from(p);
        if bit {
            self.low += u64::from(bound);
            self.range -= bound;
        } else {
            self.range = bound;
        }
        *cell = model::adapt(*cell, bit, self.shift);
        self.normalize();
    }

    fn direct_bit(&mut self, bit: bool) {
        self.range >>= 1;
        if bit {
            self.low += u64::from(self.range);
        }
        self.normalize();
    }

    fn finish(mut self) -> Vec<u8> {
        for _ in 0..5 {
            self.shift_low();
        }
        self.out
    }
}

struct Models {
    rc: RangeEncoder,
    probs: Vec<u16>,
}

impl Models {
    fn tree(&mut self, base: usize, bits: u32, value: u32) {
        let mut node = 1usize;
        for i in (0..bits).rev() {
            let bit = (value >> i) & 1 == 1;
            self.rc.bit(&mut self.probs[base + node], bit);
            node = (node << 1) | usize::from(bit);
        }
    }

    fn field(&mut self, field: usize, value: u64) {
        let len = model::bit_length(value);
        self.tree(model::field_base(field), model::FIELD_TREE_BITS, len);
        for i in (0..len.saturating_sub(1)).rev() {
            self.rc.direct_bit((value >> i) & 1 == 1);
        }
    }
}

/// Codes `records` (which must reproduce `new` from `old`) into a payload.
pub(crate) fn encode(old: &[u8], new: &[u8], records: &[Record], params: CodecParams) -> Vec<u8> {
    let mut m = Models {
        rc: RangeEncoder::new(params.adapt_shift),
        probs: vec![model::PROB_INIT; model::PROBS],
    };
    let (mut old_pos, mut new_pos) = (0usize, 0usize);
    let mut history = 0u8;
    let mut prev_out = 0u8;
    for r in records {
        let seek = r.old_start as i64 - old_pos as i64;
        m.field(model::FIELD_SEEK, model::zigzag(seek));
        m.field(model::FIELD_DIFF_LEN, r.diff_len as u64);
        m.field(model::FIELD_EXTRA_LEN, r.extra_len as u64);
        for i in 0..r.diff_len {
            let byte = new[new_pos];
            let delta = byte.wrapping_sub(old[r.old_start + i]);
            let nonzero = delta != 0;
            let at = new_pos as u32;
            let ctx = model::zero_index(history, at, old[r.old_start + i]);
            m.rc.bit(&mut m.probs[ctx], nonzero);
            if nonzero {
                m.tree(model::diff_base(at), 8, u32::from(delta));
            }
            history = (history << 1) | u8::from(nonzero);
            prev_out = byte;
            new_pos += 1;
        }
        old_pos = r.old_start + r.diff_len;
        for _ in 0..r.extra_len {
            let byte = new[new_pos];
            m.tree(
                model::literal_base(prev_out, params.literal_context_bits),
                8,
                u32::from(byte),
            );
            prev_out = byte;
            new_pos += 1;
        }
    }
    debug_assert_eq!(new_pos, new.len());
    m.rc.finish()
}
