//! Firmware input: raw binary, Intel HEX (`.hex`), or ELF (detected by its magic).
//!
//! HEX and ELF are laid out as flat images from their lowest load address with gaps filled by
//! 0xFF (erased flash); ELF uses each loadable segment's physical (load) address and file bytes,
//! as `objcopy -O binary` does.

use std::path::Path;

use object::read::elf::{FileHeader, ProgramHeader};
use object::Endianness;

use crate::error::Error;

/// Largest flattened image accepted (gap-filled span), to bound memory on hostile input.
pub const MAX_FLAT_IMAGE: u64 = 256 * 1024 * 1024;

/// Largest input file read at all (an ELF with debug sections is far larger than its image).
pub const MAX_INPUT_FILE: u64 = 1024 * 1024 * 1024;

/// Which kind of input file was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    Raw,
    Hex,
    Elf,
}

/// A flat firmware image and the address its first byte loads at, when the input says.
#[derive(Debug, Clone)]
pub struct Firmware {
    pub bytes: Vec<u8>,
    pub base_addr: Option<u32>,
    pub format: InputFormat,
}

/// Reads and flattens `path`; the firmware may be at most `max_image` bytes (the slot size
/// when the caller knows it). Empty inputs are refused, and nothing larger than the limits is
/// read into memory: a raw binary is bounded by `max_image` itself, HEX and ELF files (text,
/// debug sections) by [`MAX_INPUT_FILE`].
pub fn load(path: &Path, max_image: u64) -> Result<Firmware, Error> {
    let is_hex = path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("hex"));
    let is_elf = !is_hex && starts_with_elf_magic(path)?;
    let limit = if is_hex || is_elf { MAX_INPUT_FILE } else { max_image };
    let data = read_bounded(path, limit, "input")?;
    let firmware = if is_elf {
        flatten_elf(&data).map_err(|m| bad_input(path, "ELF", &m))?
    } else if is_hex {
        flatten_hex(&data).map_err(|m| bad_input(path, "Intel HEX", &m))?
    } else {
        Firmware {
            bytes: data,
            base_addr: None,
            format: InputFormat::Raw,
        }
    };
    if firmware.bytes.is_empty() {
        return Err(Error::input(format!("input {} is empty", path.display()))
            .with_hint("is it the right file? a failed build can leave an empty output"));
    }
    if firmware.bytes.len() as u64 > max_image {
        return Err(too_big(path, firmware.bytes.len() as u64, max_image));
    }
    Ok(firmware)
}

fn too_big(path: &Path, len: u64, max_image: u64) -> Error {
    Error::input(format!(
        "input {} holds {len} bytes of firmware: exceeds the slot size ({max_image} bytes)",
        path.display()
    ))
    .with_hint("use a larger -S/--slot-size (the flash layout's slot), or check this is the application image")
}

fn starts_with_elf_magic(path: &Path) -> Result<bool, Error> {
    use std::io::Read as _;
    let mut magic = [0u8; 4];
    let mut file =
        std::fs::File::open(path).map_err(|e| Error::io(format_args!("cannot read input {}", path.display()), &e))?;
    let n = file
        .read(&mut magic)
        .map_err(|e| Error::io(format_args!("cannot read input {}", path.display()), &e))?;
    Ok(n == 4 && magic == *b"\x7fELF")
}

/// Reads `path` (a `what`: input, image, key...) whole if it is at most `limit` bytes; refuses
/// a larger one before reading it (by its length, and by reading at most `limit + 1` bytes
/// should the length lie, as a pipe's does).
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, Error> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| Error::io(format_args!("cannot read {what} {}", path.display()), &e);
    let file = std::fs::File::open(path).map_err(cannot)?;
    let refuse = || {
        Error::input(format!("{what} {} is larger than {limit} bytes", path.display()))
            .with_hint("is it the right file? the limit is the slot size for firmware, 256 MiB for images")
    };
    if file.metadata().map_err(cannot)?.len() > limit {
        return Err(refuse());
    }
    let mut data = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(cannot)?;
    if data.len() as u64 > limit {
        return Err(refuse());
    }
    Ok(data)
}

fn bad_input(path: &Path, kind: &str, message: &str) -> Error {
    Error::input(format!("cannot read {} as {kind}: {message}", path.display()))
        .with_hint("inputs may be raw binaries, Intel HEX files ending in .hex, or ELF executables")
}

/// Lays out `(address, bytes)` chunks into one buffer filled with 0xFF. Chunks that overlap
/// are refused: which one wins would be a guess, and a build that loads two things at one
/// address is broken.
fn flatten(chunks: &[(u64, &[u8])]) -> Result<(Vec<u8>, u64), String> {
    let mut ranges: Vec<(u64, u64)> = chunks
        .iter()
        .filter(|(_, b)| !b.is_empty())
        .map(|(a, b)| (*a, a.saturating_add(b.len() as u64)))
        .collect();
    ranges.sort_unstable();
    if let Some(w) = ranges.windows(2).find(|w| w[1].0 < w[0].1) {
        return Err(format!(
            "data at 0x{:x}..0x{:x} overlaps data at 0x{:x}..0x{:x} (every byte must be loaded once)",
            w[1].0, w[1].1, w[0].0, w[0].1
        ));
    }
    let non_empty = chunks.iter().filter(|(_, b)| !b.is_empty());
    let start = non_empty.clone().map(|(a, _)| *a).min().ok_or("no loadable data")?;
    let end = non_empty
        .map(|(a, b)| a.checked_add(b.len() as u64).ok_or("address overflow"))
        .try_fold(0u64, |acc, e| e.map(|e| acc.max(e)))?;
    let span = end - start;
    if span > MAX_FLAT_IMAGE {
        return Err(format!(
            "loadable data spans {span} bytes from 0x{start:x} to 0x{end:x} (limit {MAX_FLAT_IMAGE}); is a RAM segment marked loadable?"
        ));
    }
    let mut flat = vec![0xffu8; span as usize];
    for (addr, bytes) in chunks {
        let at = (addr - start) as usize;
        flat[at..at + bytes.len()].copy_from_slice(bytes);
    }
    Ok((flat, start))
}

fn to_u32_addr(addr: u64) -> Result<u32, String> {
    u32::try_from(addr).map_err(|_| format!("load address 0x{addr:x} does not fit 32 bits"))
}

fn flatten_elf(data: &[u8]) -> Result<Firmware, String> {
    let kind = object::FileKind::parse(data).map_err(|e| e.to_string())?;
    let chunks = match kind {
        object::FileKind::Elf32 => elf_chunks::<object::elf::FileHeader32<Endianness>>(data)?,
        object::FileKind::Elf64 => elf_chunks::<object::elf::FileHeader64<Endianness>>(data)?,
        other => return Err(format!("unsupported object kind {other:?}")),
    };
    let refs: Vec<(u64, &[u8])> = chunks.iter().map(|(a, b)| (*a, *b)).collect();
    let (bytes, start) = flatten(&refs)?;
    Ok(Firmware {
        bytes,
        base_addr: Some(to_u32_addr(start)?),
        format: InputFormat::Elf,
    })
}

/// `PT_LOAD` segments with file contents, at their physical (load) addresses.
fn elf_chunks<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> Result<Vec<(u64, &[u8])>, String> {
    let header = Elf::parse(data).map_err(|e| e.to_string())?;
    let endian = header.endian().map_err(|e| e.to_string())?;
    let mut chunks = Vec::new();
    for segment in header.program_headers(endian, data).map_err(|e| e.to_string())? {
        if segment.p_type(endian) != object::elf::PT_LOAD {
            continue;
        }
        let bytes = segment
            .data(endian, data)
            .map_err(|()| "segment data lies outside the file".to_string())?;
        if !bytes.is_empty() {
            chunks.push((segment.p_paddr(endian).into(), bytes));
        }
    }
    Ok(chunks)
}

fn flatten_hex(data: &[u8]) -> Result<Firmware, String> {
    let text = std::str::from_utf8(data).map_err(|_| "not text".to_string())?;
    let mut upper: u64 = 0;
    let mut owned: Vec<(u64, Vec<u8>)> = Vec::new();
    for (line, record) in ihex::Reader::new(text).enumerate() {
        let record = record.map_err(|e| format!("line {}: {e}", line + 1))?;
        match record {
            ihex::Record::Data { offset, value } => owned.push((upper + u64::from(offset), value)),
            ihex::Record::ExtendedLinearAddress(hi) => upper = u64::from(hi) << 16,
            ihex::Record::ExtendedSegmentAddress(seg) => upper = u64::from(seg) << 4,
            ihex::Record::EndOfFile => break,
            ihex::Record::StartLinearAddress(_) | ihex::Record::StartSegmentAddress { .. } => {}
        }
    }
    let refs: Vec<(u64, &[u8])> = owned.iter().map(|(a, b)| (*a, b.as_slice())).collect();
    let (bytes, start) = flatten(&refs)?;
    Ok(Firmware {
        bytes,
        base_addr: Some(to_u32_addr(start)?),
        format: InputFormat::Hex,
    })
}

/// Writes `bytes` as Intel HEX starting at `base` (for `.hex` outputs).
pub fn to_hex(bytes: &[u8], base: u32) -> Result<String, Error> {
    let mut records = Vec::new();
    let mut upper: Option<u16> = None;
    let mut addr = u64::from(base);
    for chunk in bytes.chunks(16) {
        if addr + chunk.len() as u64 > 1 << 32 {
            return Err(Error::usage("image does not fit the 32-bit Intel HEX address space"));
        }
        // A record must not cross a 64 KiB boundary: split the chunk there.
        let mut rest = chunk;
        while !rest.is_empty() {
            let hi = (addr >> 16) as u16;
            if upper != Some(hi) {
                records.push(ihex::Record::ExtendedLinearAddress(hi));
                upper = Some(hi);
            }
            let room = (0x1_0000 - (addr & 0xffff)) as usize;
            let (now, later) = rest.split_at(rest.len().min(room));
            records.push(ihex::Record::Data {
                offset: (addr & 0xffff) as u16,
                value: now.to_vec(),
            });
            addr += now.len() as u64;
            rest = later;
        }
    }
    records.push(ihex::Record::EndOfFile);
    ihex::create_object_file_representation(&records)
        .map(|s| s + "\n")
        .map_err(|e| Error::internal(format!("cannot encode Intel HEX: {e}")))
}
