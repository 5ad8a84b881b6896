//! bsdiff-family match finding (Colin Percival, "Naive differences of executable code", 2003):
//! a suffix array of the old image, a binary search for the longest exact match at each new
//! position, and approximate extension of matches forwards and backwards so that a shifted
//! block of code (same bytes, changed addresses) becomes one long "diff" run whose byte
//! differences are mostly zero.
//!
//! The suffix array comes from the `divsufsort` crate; the scan below is ours, written from the
//! paper's description.

use super::DeltaError;

/// One record before coding: `diff_len` bytes added to `old[old_start..]`, then `extra_len`
/// literal bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    pub old_start: usize,
    pub diff_len: usize,
    pub extra_len: usize,
}

/// How much better than the current alignment a new exact match must be to start a new
/// record. bsdiff uses 8; our records cost only a few bytes after range coding, and 4 gave
/// smaller patches on every pair of the delta benchmark (fixture −5%, liblzma −11%, libcrypto
/// −1%, libssl +0.5%).
const MIN_GAIN: usize = 4;

pub(crate) fn records(old: &[u8], new: &[u8], progress: &dyn Fn(u64, u64)) -> Result<Vec<Record>, DeltaError> {
    let total = u64::try_from(new.len()).unwrap_or(u64::MAX);
    progress(0, total);
    if old.is_empty() || new.is_empty() {
        return Ok(if new.is_empty() {
            Vec::new()
        } else {
            vec![Record {
                old_start: 0,
                diff_len: 0,
                extra_len: new.len(),
            }]
        });
    }
    if i32::try_from(old.len()).is_err() {
        return Err(DeltaError::TooLarge);
    }
    let mut sa = vec![0i32; old.len()];
    divsufsort::sort_in_place(old, &mut sa);
    let sa: Vec<usize> = sa.into_iter().map(|i| usize::try_from(i).unwrap_or(0)).collect();

    let mut out = Vec::new();
    let (mut scan, mut len, mut pos) = (0usize, 0usize, 0usize);
    let (mut last_scan, mut last_pos, mut last_offset) = (0usize, 0usize, 0isize);
    let mut last_report = 0usize;
    while scan < new.len() {
        let mut old_score = 0usize;
        scan += len;
        let mut scsc = scan;
        while scan < new.len() {
            (pos, len) = search(&sa, old, &new[scan..]);
            // Score how well the previous alignment (last_offset) explains new[scan..scan+len].
            while scsc < scan + len {
                if agrees(old, new, scsc, last_offset) {
                    old_score += 1;
                }
                scsc += 1;
            }
            if (len == old_score && len != 0) || len > old_score + MIN_GAIN {
                break;
            }
            if agrees(old, new, scan, last_offset) {
                old_score = old_score.saturating_sub(1);
            }
            scan += 1;
        }
        if scan - last_report >= 1 << 16 {
            last_report = scan;
            progress(u64::try_from(scan).unwrap_or(u64::MAX), total);
        }
        if len == old_score && scan != new.len() {
            continue;
        }
        // Extend the previous match forwards while it is right at least half the time...
        let (mut s, mut best, mut len_f) = (0isize, 0isize, 0usize);
        let mut i = 0usize;
        while last_scan + i < scan && last_pos + i < old.len() {
            if old[last_pos + i] == new[last_scan + i] {
                s += 1;
            }
            i += 1;
            if s * 2 - as_isize(i) > best * 2 - as_isize(len_f) {
                best = s;
                len_f = i;
            }
        }
        // ...and the new match backwards likewise.
        let mut len_b = 0usize;
        if scan < new.len() {
            let (mut s, mut best) = (0isize, 0isize);
            let mut i = 1usize;
            while scan >= last_scan + i && pos >= i {
                if old[pos - i] == new[scan - i] {
                    s += 1;
                }
                if s * 2 - as_isize(i) > best * 2 - as_isize(len_b) {
                    best = s;
                    len_b = i;
                }
                i += 1;
            }
        }
        // If the extensions overlap, split the overlap where the two alignments do best.
        if last_scan + len_f > scan - len_b {
            let overlap = (last_scan + len_f) - (scan - len_b);
            let (mut s, mut best, mut lens) = (0isize, 0isize, 0usize);
            for i in 0..overlap {
                if new[last_scan + len_f - overlap + i] == old[last_pos + len_f - overlap + i] {
                    s += 1;
                }
                if new[scan - len_b + i] == old[pos - len_b + i] {
                    s -= 1;
                }
                if s > best {
                    best = s;
                    lens = i + 1;
                }
            }
            len_f = len_f + lens - overlap;
            len_b -= lens;
        }
        let extra_len = (scan - len_b) - (last_scan + len_f);
        if len_f + extra_len > 0 {
            out.push(Record {
                old_start: last_pos,
                diff_len: len_f,
                extra_len,
            });
        }
        last_scan = scan - len_b;
        last_pos = pos - len_b;
        last_offset = as_isize(pos) - as_isize(scan);
    }
    progress(total, total);
    Ok(out)
}

fn as_isize(v: usize) -> isize {
    isize::try_from(v).unwrap_or(isize::MAX)
}

/// Does `new[at]` equal the old byte the alignment `offset` maps it to?
fn agrees(old: &[u8], new: &[u8], at: usize, offset: isize) -> bool {
    at.checked_add_signed(offset)
        .and_then(|o| old.get(o))
        .is_some_and(|b| Some(b) == new.get(at))
}

fn match_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Longest prefix of `new` found in `old`, by binary search over the suffix array.
fn search(sa: &[usize], old: &[u8], new: &[u8]) -> (usize, usize) {
    let (mut st, mut en) = (0usize, sa.len() - 1);
    while en - st >= 2 {
        let x = st + (en - st) / 2;
        let suffix = &old[sa[x]..];
        let n = suffix.len().min(new.len());
        if suffix[..n] < new[..n] {
            st = x;
        } else {
            en = x;
        }
    }
    let x = match_len(&old[sa[st]..], new);
    let y = match_len(&old[sa[en]..], new);
    if x > y {
        (sa[st], x)
    } else {
        (sa[en], y)
    }
}
