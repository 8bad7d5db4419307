//! Type detection from magic bytes alone.

use std::fmt;

use super::ImageFormat;

/// How far into a text document to look for the `<svg` root element.
const SVG_SCAN_BYTES: usize = 64 * 1024;

/// What the first bytes of an input say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// A format the pipeline can accept (TIFF subject to [`super::Limits::allow_tiff`]).
    Image(ImageFormat),
    /// A recognised type that is never accepted.
    Refused(Refused),
    /// Nothing recognised.
    Unknown,
}

/// A recognised type that is refused; [`fmt::Display`] names it for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// SVG: scriptable XML, never served as an image upload.
    Svg,
    /// HEIC: ISO-BMFF with an HEVC brand (`heic`, `heix`, `hevc`, …).
    Heic,
    /// HEIF: ISO-BMFF with a generic image brand (`mif1`, `msf1`).
    Heif,
    /// AVIF: ISO-BMFF with an AV1 image brand (`avif`, `avis`).
    Avif,
    /// PDF (`%PDF-`).
    Pdf,
    /// A program: binary or script.
    Executable(Executable),
    /// A ZIP archive (also DOCX, JAR, APK, …).
    Zip,
    /// Windows bitmap (`BM`).
    Bmp,
}

/// The kind of a refused executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executable {
    /// ELF (`\x7fELF`): Linux and most Unix binaries.
    Elf,
    /// PE / DOS (`MZ`): Windows binaries.
    Pe,
    /// Mach-O, thin or fat: macOS binaries.
    MachO,
    /// A script with an interpreter line (`#!`).
    Script,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Svg => "SVG",
            Self::Heic => "HEIC",
            Self::Heif => "HEIF",
            Self::Avif => "AVIF",
            Self::Pdf => "PDF",
            Self::Executable(Executable::Elf) => "an executable (ELF binary)",
            Self::Executable(Executable::Pe) => "an executable (Windows PE binary)",
            Self::Executable(Executable::MachO) => "an executable (Mach-O binary)",
            Self::Executable(Executable::Script) => "an executable (#! script)",
            Self::Zip => "a ZIP archive",
            Self::Bmp => "BMP",
        })
    }
}

/// Identifies `bytes` from their magic numbers; never looks at names or declared types.
pub fn sniff(bytes: &[u8]) -> Sniffed {
    if let Some(format) = image_format(bytes) {
        return Sniffed::Image(format);
    }
    match refused(bytes) {
        Some(refused) => Sniffed::Refused(refused),
        None => Sniffed::Unknown,
    }
}

fn image_format(b: &[u8]) -> Option<ImageFormat> {
    let format = if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        ImageFormat::Jpeg
    } else if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        ImageFormat::Png
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        ImageFormat::Gif
    } else if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        ImageFormat::Webp
    } else if [b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"]
        .iter()
        .any(|magic| b.starts_with(*magic))
    {
        // Classic TIFF and BigTIFF, either byte order.
        ImageFormat::Tiff
    } else {
        return None;
    };
    Some(format)
}

fn refused(b: &[u8]) -> Option<Refused> {
    const MACH_O: [[u8; 4]; 5] = [
        [0xFE, 0xED, 0xFA, 0xCE],
        [0xFE, 0xED, 0xFA, 0xCF],
        [0xCE, 0xFA, 0xED, 0xFE],
        [0xCF, 0xFA, 0xED, 0xFE],
        [0xCA, 0xFE, 0xBA, 0xBE],
    ];
    let refused = if b.starts_with(b"%PDF-") {
        Refused::Pdf
    } else if b.starts_with(b"\x7fELF") {
        Refused::Executable(Executable::Elf)
    } else if b.starts_with(b"MZ") {
        Refused::Executable(Executable::Pe)
    } else if MACH_O.iter().any(|magic| b.starts_with(magic)) {
        Refused::Executable(Executable::MachO)
    } else if b.starts_with(b"#!") {
        Refused::Executable(Executable::Script)
    } else if [b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"]
        .iter()
        .any(|magic| b.starts_with(*magic))
    {
        Refused::Zip
    } else if b.starts_with(b"BM") && b.len() >= 14 && b.get(6..10) == Some(&[0; 4]) {
        // File header: "BM", file size, two reserved zero words, pixel data offset.
        Refused::Bmp
    } else if let Some(refused) = iso_media_image(b) {
        refused
    } else if is_svg(b) {
        Refused::Svg
    } else {
        return None;
    };
    Some(refused)
}

/// HEIC / HEIF / AVIF: an ISO-BMFF `ftyp` box whose major or compatible brands name them.
fn iso_media_image(b: &[u8]) -> Option<Refused> {
    if b.get(4..8) != Some(b"ftyp") {
        return None;
    }
    let box_size = usize::try_from(u32::from_be_bytes(b.get(..4)?.try_into().ok()?)).ok()?;
    // Major brand at 8..12, minor version at 12..16, compatible brands after.
    let brands_end = box_size.min(b.len());
    let major = b.get(8..12)?;
    let compatible = b.get(16..brands_end).unwrap_or_default().chunks_exact(4);
    let mut found = None;
    for brand in std::iter::once(major).chain(compatible) {
        let kind = match brand {
            b"avif" | b"avis" => Refused::Avif,
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"hevm" | b"hevs" => {
                Refused::Heic
            }
            b"mif1" | b"msf1" => Refused::Heif,
            _ => continue,
        };
        // The specific brands (AVIF, HEIC) win over the generic HEIF ones.
        if kind != Refused::Heif {
            return Some(kind);
        }
        found = Some(kind);
    }
    found
}

/// Text that starts (after an optional UTF-8 BOM and whitespace) with an XML prolog, comment,
/// doctype or the `<svg` element itself, and contains `<svg` near the start.
fn is_svg(b: &[u8]) -> bool {
    let text = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    let start = text
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(text.len());
    let text = text.get(start..).unwrap_or_default();
    if text.starts_with(b"<svg") {
        return true;
    }
    let prologue = [b"<?xml".as_slice(), b"<!--", b"<!DOCTYPE", b"<!doctype"];
    if !prologue.iter().any(|p| text.starts_with(p)) {
        return false;
    }
    let head = text.get(..SVG_SCAN_BYTES).unwrap_or(text);
    head.windows(4).any(|window| window == b"<svg")
}
