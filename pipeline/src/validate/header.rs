//! Width and height from each format's header, reading nothing past it and allocating nothing.
//!
//! The parsers agree with what the `image` decoders report as the image size: PNG's IHDR,
//! JPEG's first frame header (SOF), GIF's logical screen, WebP's canvas (VP8X) or frame
//! (VP8 / VP8L), and TIFF's first image directory.

use super::{ImageFormat, Rejection};

const CUT_SHORT: &str = "it ends inside the header";

/// The dimensions `bytes` declare; `format` must be what [`super::sniff`] found.
pub(super) fn dimensions(format: ImageFormat, bytes: &[u8]) -> Result<(u32, u32), Rejection> {
    match format {
        ImageFormat::Jpeg => jpeg(bytes),
        ImageFormat::Png => png(bytes),
        ImageFormat::Gif => gif(bytes),
        ImageFormat::Webp => webp(bytes),
        ImageFormat::Tiff => tiff(bytes),
    }
}

/// Why data that passed [`dimensions`] cannot hold a whole image, for formats whose decoder
/// would otherwise fill a missing tail in silently: JPEG (no end-of-image marker after the
/// scan data) and WebP (shorter than its RIFF size).
pub(super) fn missing_end(probe: &super::Probe, bytes: &[u8]) -> Option<&'static str> {
    match probe.format {
        ImageFormat::Jpeg => {
            let scan = jpeg_segments(bytes).find_map(|segment| match segment {
                Ok(Segment::StartOfScan(at)) => Some(at),
                _ => None,
            });
            let Some(scan) = scan else {
                return Some("it ends before the scan data");
            };
            let after_scan = bytes.get(scan..).unwrap_or_default();
            let has_end = after_scan.windows(2).rev().any(|w| w == [0xFF, 0xD9]);
            if !has_end {
                return Some("there is no end-of-image marker after the scan data");
            }
            // Every 8×8 block of the full-resolution component codes its DC value in at least
            // one bit, in any mode: less scan data than that cannot be the declared image, and
            // the decoder would fill the rest in silently (a 600-byte file claiming
            // 7000×7000 decoded to black).
            let blocks = u64::from(probe.width.div_ceil(8)) * u64::from(probe.height.div_ceil(8));
            let scan_bytes = u64::try_from(after_scan.len()).unwrap_or(u64::MAX);
            (scan_bytes < blocks / 8)
                .then_some("its scan data is too short for the size its header declares")
        }
        ImageFormat::Webp => {
            let riff_size = u64::from(le32(bytes, 4)?);
            let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
            (len < riff_size.saturating_add(8)).then_some("it is shorter than its RIFF size")
        }
        ImageFormat::Gif => gif_first_frame_cut(bytes),
        ImageFormat::Png | ImageFormat::Tiff => None,
    }
}

/// How many scans the image has, as a decoder reads them: a marker walk from the first
/// start-of-scan to the end-of-image marker. Segments before the first scan (an EXIF
/// thumbnail, an MPF preview) and between scans (tables) are skipped by their length, and data
/// after the image (the video of a "motion photo") is not read. In entropy-coded data a 0xFF
/// byte is always followed by a stuffed 0x00, a restart marker or the next marker.
pub(super) fn jpeg_scans(bytes: &[u8]) -> usize {
    let Some(mut at) = jpeg_segments(bytes).find_map(|segment| match segment {
        Ok(Segment::StartOfScan(at)) => Some(at),
        _ => None,
    }) else {
        return 0;
    };
    let mut scans = 1;
    // `at` is just past a marker that has a length: skip its segment, then look for the next
    // marker (through the scan's entropy-coded data after a start-of-scan).
    loop {
        let Some(length) = be16(bytes, at) else {
            return scans;
        };
        at += usize::from(length);
        let marker = loop {
            let Some(ff) = bytes.get(at..).and_then(|rest| memchr::memchr(0xFF, rest)) else {
                return scans;
            };
            let mut m = at + ff + 1;
            while bytes.get(m) == Some(&0xFF) {
                m += 1;
            }
            let Some(&marker) = bytes.get(m) else {
                return scans;
            };
            at = m + 1;
            if !matches!(marker, 0x00 | 0x01 | 0xD0..=0xD7) {
                break marker;
            }
        };
        match marker {
            0xD9 => return scans,
            0xDA => scans += 1,
            _ => {}
        }
    }
}

/// Walks a GIF's blocks to the end of its first frame's data; the decoder would report a cut
/// there only as a generic format error. Ending exactly where the frame's block terminator
/// belongs counts as complete, as decoders accept it; other malformations are left to them.
fn gif_first_frame_cut(b: &[u8]) -> Option<&'static str> {
    const CUT: &str = "it ends inside the first frame";
    /// Skips data sub-blocks from `at`; `None` if the input ends inside one.
    fn skip_sub_blocks(b: &[u8], mut at: usize) -> Option<usize> {
        while let Some(&size) = b.get(at) {
            at += 1 + usize::from(size);
            if size == 0 || at > b.len() {
                break;
            }
        }
        (at <= b.len()).then_some(at)
    }
    let color_table = |flags: u8| {
        if flags & 0x80 != 0 {
            3 << ((flags & 7) + 1)
        } else {
            0
        }
    };
    let mut at = 13 + color_table(*b.get(10)?);
    loop {
        match b.get(at) {
            None => return Some("it ends before the first frame"),
            // Extension: introducer, label, sub-blocks.
            Some(0x21) => match skip_sub_blocks(b, at + 2) {
                Some(next) => at = next,
                None => return Some("it ends inside an extension before the first frame"),
            },
            // Image descriptor (10 bytes), local color table, LZW code size, sub-blocks.
            Some(0x2C) => {
                let Some(&flags) = b.get(at + 9) else {
                    return Some(CUT);
                };
                let data = at + 10 + color_table(flags) + 1;
                let complete = b.get(data).is_some() && skip_sub_blocks(b, data).is_some();
                return (!complete).then_some(CUT);
            }
            Some(_) => return None,
        }
    }
}

/// How a validated image's pixels are laid out, as far as its header says: what the memory
/// budget needs besides width and height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Channels the decoder puts out before processing turns them into RGB8 or RGBA8 (PNG:
    /// after palette and transparency expansion; JPEG: frame components; GIF: 4).
    pub channels: u8,
    /// Bits per sample as stored (PNG 1..16, TIFF 1..64, 8 for the others).
    pub bits: u8,
    /// A progressive JPEG (every DCT coefficient is kept until the last scan).
    pub progressive: bool,
    /// An interlaced PNG (decoded whole, then converted).
    pub interlaced: bool,
    /// A lossless or alpha WebP (decoded through a 32-bit ARGB buffer).
    pub webp_argb: bool,
    /// Pixels of a GIF's first frame (allocated whole before it is clipped to the canvas).
    pub frame_pixels: u64,
}

/// The layout `bytes` declare; `format` and the dimensions were validated. Where a header
/// does not say (a field past a cut, an odd TIFF), the most expensive layout is assumed.
pub(super) fn layout(format: ImageFormat, bytes: &[u8]) -> Layout {
    let mut layout = Layout {
        channels: 4,
        bits: 8,
        progressive: false,
        interlaced: false,
        webp_argb: true,
        frame_pixels: 0,
    };
    match format {
        ImageFormat::Png => {
            if let Some(&[depth, color, _, _, interlace]) = bytes.get(24..29) {
                let trns = png_has_trns(bytes);
                layout.channels = match color {
                    0 => 1 + u8::from(trns),
                    4 => 2,
                    2 | 3 => 3 + u8::from(trns),
                    _ => 4,
                };
                layout.bits = depth;
                layout.interlaced = interlace == 1;
            }
        }
        ImageFormat::Jpeg => {
            let frame = jpeg_segments(bytes).find_map(|segment| match segment {
                Ok(Segment::Frame(marker, payload)) => Some((marker, payload)),
                _ => None,
            });
            if let Some((marker, payload)) = frame {
                layout.progressive = marker == 0xC2;
                layout.channels = bytes.get(payload + 5).copied().unwrap_or(4).clamp(1, 4);
            }
        }
        ImageFormat::Gif => {
            layout.frame_pixels = gif_first_frame(bytes)
                .map(|(w, h)| u64::from(w) * u64::from(h))
                .unwrap_or(0);
        }
        ImageFormat::Webp => {
            layout.webp_argb = match bytes.get(12..16) {
                Some(b"VP8 ") => false,
                // VP8X: the alpha flag; lossless data inside it is decoded as ARGB too, so
                // only a VP8X without alpha whose image is lossy is cheaper: not told here.
                _ => true,
            };
            layout.channels = if layout.webp_argb { 4 } else { 3 };
        }
        ImageFormat::Tiff => {
            let (channels, bits) = tiff_samples(bytes).unwrap_or((4, 32));
            layout.channels = channels;
            layout.bits = bits;
        }
    }
    layout
}

/// Whether a PNG has a tRNS chunk before its image data (it adds an alpha channel).
fn png_has_trns(b: &[u8]) -> bool {
    let mut at = 8;
    while let (Some(length), Some(kind)) = (be32(b, at), b.get(at + 4..at + 8)) {
        match kind {
            b"tRNS" => return true,
            b"IDAT" | b"IEND" => return false,
            _ => {}
        }
        let Some(next) = usize::try_from(length)
            .ok()
            .and_then(|l| at.checked_add(12)?.checked_add(l))
        else {
            return false;
        };
        at = next;
    }
    false
}

/// A TIFF's byte order (`II` little-endian, else `MM` big-endian) and its integer reads.
#[derive(Clone, Copy)]
struct TiffOrder {
    little: bool,
}

impl TiffOrder {
    fn of(b: &[u8]) -> Self {
        Self {
            little: b.starts_with(b"II"),
        }
    }

    /// The `N`-byte integer at `at`, read in this order; `None` past the end.
    fn int<const N: usize, T>(
        self,
        b: &[u8],
        at: usize,
        le: fn([u8; N]) -> T,
        be: fn([u8; N]) -> T,
    ) -> Option<T> {
        array(b, at).map(if self.little { le } else { be })
    }

    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        self.int(b, at, u16::from_le_bytes, u16::from_be_bytes)
    }

    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        self.int(b, at, u32::from_le_bytes, u32::from_be_bytes)
    }

    fn u64(self, b: &[u8], at: usize) -> Option<u64> {
        self.int(b, at, u64::from_le_bytes, u64::from_be_bytes)
    }
}

/// SamplesPerPixel (277, default 1) and the first BitsPerSample (258, default 1) of a TIFF's
/// first directory; `None` when the directory cannot be read.
fn tiff_samples(b: &[u8]) -> Option<(u8, u8)> {
    let order = TiffOrder::of(b);
    let u16_at = |at: usize| order.u16(b, at);
    let u32_at = |at: usize| order.u32(b, at);
    let u64_at = |at: usize| order.u64(b, at);
    let big = u16_at(2)? == 43;
    let (ifd, count_width, entry_size, inline) = if big {
        (usize::try_from(u64_at(8)?).ok()?, 8, 20, 8)
    } else {
        (usize::try_from(u32_at(4)?).ok()?, 2, 12, 4)
    };
    let count = if big {
        u64_at(ifd)?
    } else {
        u64::from(u16_at(ifd)?)
    };
    let entries = ifd + count_width;
    let (mut samples, mut bits) = (1u16, 1u16);
    for index in 0..usize::try_from(count).ok()?.min(4096) {
        let entry = entries + index * entry_size;
        let tag = u16_at(entry)?;
        if tag != 258 && tag != 277 {
            continue;
        }
        let values = if big {
            u64_at(entry + 4)?
        } else {
            u64::from(u32_at(entry + 4)?)
        };
        let value_at = entry + if big { 12 } else { 8 };
        // SHORTs: inline when they fit in the value field, else at the offset it holds.
        let first = if values.saturating_mul(2) <= inline {
            value_at
        } else if big {
            usize::try_from(u64_at(value_at)?).ok()?
        } else {
            usize::try_from(u32_at(value_at)?).ok()?
        };
        let value = u16_at(first)?;
        if tag == 258 {
            bits = value;
        } else {
            samples = value;
        }
    }
    Some((
        u8::try_from(samples.clamp(1, 8)).ok()?,
        u8::try_from(bits.clamp(1, 64)).ok()?,
    ))
}

/// Width and height of a GIF's first frame (its image descriptor), when the blocks before it
/// are whole. The decoder allocates a buffer of the frame's size before clipping it to the
/// logical screen, so a 1×1 screen with a 65535×65535 frame costs the frame's pixels.
pub(super) fn gif_first_frame(b: &[u8]) -> Option<(u32, u32)> {
    let color_table = |flags: u8| {
        if flags & 0x80 != 0 {
            3usize << ((flags & 7) + 1)
        } else {
            0
        }
    };
    let mut at = 13 + color_table(*b.get(10)?);
    loop {
        match *b.get(at)? {
            0x21 => {
                // Extension: introducer, label, then data sub-blocks up to a zero size.
                at += 2;
                loop {
                    let size = usize::from(*b.get(at)?);
                    at += 1 + size;
                    if size == 0 {
                        break;
                    }
                }
            }
            0x2C => {
                let width = le16(b, at + 5)?;
                let height = le16(b, at + 7)?;
                return Some((u32::from(width), u32::from(height)));
            }
            _ => return None,
        }
    }
}

/// The CRC-32 of PNG chunks (ISO 3309, reflected polynomial 0xEDB88320).
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn corrupt(format: ImageFormat, detail: impl std::fmt::Display) -> Rejection {
    Rejection::corrupt_header(format, detail)
}

fn array<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..)?.get(..N)?.try_into().ok()
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    array(b, at).map(u16::from_be_bytes)
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_be_bytes)
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    array(b, at).map(u16::from_le_bytes)
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_le_bytes)
}

/// PNG: the signature, then an IHDR chunk with a valid CRC and a legal pixel format.
fn png(b: &[u8]) -> Result<(u32, u32), Rejection> {
    const F: ImageFormat = ImageFormat::Png;
    let cut = || corrupt(F, CUT_SHORT);
    let length = be32(b, 8).ok_or_else(cut)?;
    if b.get(12..16).ok_or_else(cut)? != b"IHDR" {
        return Err(corrupt(F, "the first chunk is not IHDR"));
    }
    if length != 13 {
        return Err(corrupt(F, format!("IHDR is {length} bytes long, not 13")));
    }
    let typed_data = b.get(12..29).ok_or_else(cut)?;
    let crc = be32(b, 29).ok_or_else(cut)?;
    if crc32(typed_data) != crc {
        return Err(corrupt(F, "IHDR checksum mismatch"));
    }
    let ihdr = b.get(16..29).ok_or_else(cut)?;
    let (width, height) = (
        be32(ihdr, 0).ok_or_else(cut)?,
        be32(ihdr, 4).ok_or_else(cut)?,
    );
    if width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(corrupt(
            F,
            format!("{width}×{height} exceeds PNG's 2³¹−1 limit"),
        ));
    }
    let &[depth, color, compression, filter, interlace] = ihdr.get(8..).ok_or_else(cut)? else {
        return Err(cut());
    };
    let legal_depth = match color {
        0 => matches!(depth, 1 | 2 | 4 | 8 | 16),
        3 => matches!(depth, 1 | 2 | 4 | 8),
        2 | 4 | 6 => matches!(depth, 8 | 16),
        _ => return Err(corrupt(F, format!("color type {color} does not exist"))),
    };
    if !legal_depth {
        return Err(corrupt(
            F,
            format!("bit depth {depth} is illegal for color type {color}"),
        ));
    }
    if compression != 0 || filter != 0 || interlace > 1 {
        return Err(corrupt(
            F,
            "unknown compression, filter or interlace method",
        ));
    }
    Ok((width, height))
}

/// GIF: the logical screen descriptor after the 6-byte signature.
fn gif(b: &[u8]) -> Result<(u32, u32), Rejection> {
    // Signature (6) + logical screen descriptor (7).
    if b.len() < 13 {
        return Err(corrupt(ImageFormat::Gif, CUT_SHORT));
    }
    let cut = || corrupt(ImageFormat::Gif, CUT_SHORT);
    let width = le16(b, 6).ok_or_else(cut)?;
    let height = le16(b, 8).ok_or_else(cut)?;
    Ok((u32::from(width), u32::from(height)))
}

/// WebP: the first chunk after `RIFF....WEBP` is VP8X (canvas), VP8L or VP8 (frame).
fn webp(b: &[u8]) -> Result<(u32, u32), Rejection> {
    const F: ImageFormat = ImageFormat::Webp;
    let cut = || corrupt(F, CUT_SHORT);
    let chunk = b.get(12..16).ok_or_else(cut)?;
    // Chunk payload starts at 20, after the fourcc and the chunk size.
    match chunk {
        b"VP8X" => {
            let canvas = array::<6>(b, 24).ok_or_else(cut)?;
            let width = u32::from_le_bytes([canvas[0], canvas[1], canvas[2], 0]) + 1;
            let height = u32::from_le_bytes([canvas[3], canvas[4], canvas[5], 0]) + 1;
            Ok((width, height))
        }
        b"VP8L" => {
            if *b.get(20).ok_or_else(cut)? != 0x2F {
                return Err(corrupt(F, "the lossless signature byte is wrong"));
            }
            let bits = le32(b, 21).ok_or_else(cut)?;
            if bits >> 29 != 0 {
                return Err(corrupt(F, "unknown lossless version"));
            }
            Ok(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8 " => {
            let tag = *b.get(20).ok_or_else(cut)?;
            if tag & 1 != 0 {
                return Err(corrupt(F, "the first frame is not a key frame"));
            }
            if b.get(23..26).ok_or_else(cut)? != [0x9D, 0x01, 0x2A] {
                return Err(corrupt(F, "the key frame start code is wrong"));
            }
            let width = le16(b, 26).ok_or_else(cut)? & 0x3FFF;
            let height = le16(b, 28).ok_or_else(cut)? & 0x3FFF;
            Ok((u32::from(width), u32::from(height)))
        }
        _ => Err(corrupt(F, "the first chunk is not VP8X, VP8L or VP8")),
    }
}

/// One step of a JPEG marker walk up to the first scan.
enum Segment {
    /// A frame header: its marker and its payload (after the length field).
    Frame(u8, usize),
    /// The first start-of-scan marker; the offset just past it.
    StartOfScan(usize),
}

/// The JPEG marker walk from SOI up to and including the first SOS, tolerant like the
/// decoder: fill bytes and stray bytes between segments are skipped.
fn jpeg_segments(b: &[u8]) -> impl Iterator<Item = Result<Segment, &'static str>> + '_ {
    let mut at = 2; // past SOI
    let mut done = false;
    std::iter::from_fn(move || {
        while !done {
            let Some(ff) = b.get(at..)?.iter().position(|&byte| byte == 0xFF) else {
                done = true;
                return Some(Err(CUT_SHORT));
            };
            let rest = b.get(at + ff..).unwrap_or_default();
            let Some(fill) = rest.iter().position(|&byte| byte != 0xFF) else {
                done = true;
                return Some(Err(CUT_SHORT));
            };
            let marker_at = at + ff + fill;
            let marker = *b.get(marker_at)?;
            at = marker_at + 1;
            match marker {
                // Stuffed zero, temporary marker, restart markers, a repeated SOI: no length.
                0x00 | 0x01 | 0xD0..=0xD8 => continue,
                0xD9 => {
                    done = true;
                    return Some(Err("it ends (EOI) before a frame header"));
                }
                0xDA => {
                    done = true;
                    return Some(Ok(Segment::StartOfScan(at)));
                }
                _ => {}
            }
            let Some(length) = be16(b, at) else {
                done = true;
                return Some(Err(CUT_SHORT));
            };
            if length < 2 {
                done = true;
                return Some(Err("a segment length is below 2"));
            }
            let payload = at + 2;
            at += usize::from(length);
            // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC).
            if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
                return Some(Ok(Segment::Frame(marker, payload)));
            }
        }
        None
    })
}

/// JPEG: the first frame header (SOF) before the scan; only modes the decoder supports.
fn jpeg(b: &[u8]) -> Result<(u32, u32), Rejection> {
    const F: ImageFormat = ImageFormat::Jpeg;
    let (marker, payload) = match jpeg_segments(b).next() {
        Some(Ok(Segment::Frame(marker, payload))) => (marker, payload),
        Some(Ok(Segment::StartOfScan(_))) => {
            return Err(corrupt(F, "scan data starts before a frame header"))
        }
        Some(Err(detail)) => return Err(corrupt(F, detail)),
        None => return Err(corrupt(F, CUT_SHORT)),
    };
    if !matches!(marker, 0xC0..=0xC2) {
        let mode = match marker {
            0xC3 | 0xC7 | 0xCB | 0xCF => "lossless",
            0xC5 | 0xC6 | 0xCD | 0xCE => "hierarchical",
            _ => "arithmetic-coded",
        };
        return Err(Rejection::unsupported(format!("a {mode} JPEG")));
    }
    let cut = || corrupt(F, CUT_SHORT);
    let precision = *b.get(payload).ok_or_else(cut)?;
    let height = be16(b, payload + 1).ok_or_else(cut)?;
    let width = be16(b, payload + 3).ok_or_else(cut)?;
    if precision != 8 {
        return Err(Rejection::unsupported(format!("a {precision}-bit JPEG")));
    }
    Ok((u32::from(width), u32::from(height)))
}

/// TIFF and BigTIFF: ImageWidth (256) and ImageLength (257) in the first image directory.
fn tiff(b: &[u8]) -> Result<(u32, u32), Rejection> {
    const F: ImageFormat = ImageFormat::Tiff;
    let cut = || corrupt(F, CUT_SHORT);
    let order = TiffOrder::of(b);
    let u16_at = |at: usize| order.u16(b, at);
    let u32_at = |at: usize| order.u32(b, at);
    let u64_at = |at: usize| order.u64(b, at);
    let big = u16_at(2).ok_or_else(cut)? == 43;
    // Directory offset; entry count width; entry size; value field width.
    let (ifd, count_width, entry_size) = if big {
        (u64_at(8).ok_or_else(cut)?, 8, 20)
    } else {
        (u64::from(u32_at(4).ok_or_else(cut)?), 2, 12)
    };
    let ifd =
        usize::try_from(ifd).map_err(|_| corrupt(F, "the first directory is out of range"))?;
    let count = if big {
        u64_at(ifd)
    } else {
        u16_at(ifd).map(u64::from)
    }
    .ok_or_else(|| corrupt(F, "the first directory is out of range"))?;
    let entries = ifd + count_width;
    let available = b.len().saturating_sub(entries) / entry_size;
    if count > u64::try_from(available).unwrap_or(u64::MAX) {
        return Err(corrupt(F, "the first directory runs past the end"));
    }
    let (mut width, mut height) = (None, None);
    // `count` entries fit in the input, so this loop is bounded by its length.
    for index in 0..usize::try_from(count).unwrap_or(0) {
        let entry = entries + index * entry_size;
        let tag = u16_at(entry).ok_or_else(cut)?;
        if tag != 256 && tag != 257 {
            continue;
        }
        let value_at = entry + if big { 12 } else { 8 };
        let value = match u16_at(entry + 2).ok_or_else(cut)? {
            3 => u16_at(value_at).map(u64::from),
            4 => u32_at(value_at).map(u64::from),
            16 if big => u64_at(value_at),
            kind => return Err(corrupt(F, format!("tag {tag} has field type {kind}"))),
        }
        .ok_or_else(cut)?;
        let value = u32::try_from(value)
            .map_err(|_| corrupt(F, format!("tag {tag} declares {value} pixels")))?;
        if tag == 256 {
            width = Some(value);
        } else {
            height = Some(value);
        }
    }
    match (width, height) {
        (Some(width), Some(height)) => Ok((width, height)),
        _ => Err(corrupt(F, "the first directory has no width or height")),
    }
}
