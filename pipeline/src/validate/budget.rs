//! What decoding an image costs in memory, from its header alone (dimensions, bit depth,
//! channels, coding), so that an image whose decode would not fit the memory budget is
//! refused before a byte of pixels is allocated.
//!
//! The figures are upper bounds of what the decoders this crate drives allocate: the decoder's
//! output, what it keeps besides (a progressive JPEG's coefficients, a lossless WebP's ARGB
//! buffer, a GIF frame larger than its canvas), and the conversion to the RGB8 / RGBA8 that
//! processing works on. `scripts/bench-memory.sh` measures the peak RSS of the worst accepted
//! images against them (BENCHMARKS.md).

use super::header::Layout;
use super::{ImageFormat, Probe};

/// Bytes in a mebibyte.
pub const MIB: u64 = 1024 * 1024;
/// Default [`super::Limits::max_memory_bytes`]: 1 GiB, which leaves a 1 769 MB Lambda (one
/// vCPU, one image at a time) room for the runtime, the input and the encoded variants.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 1024 * MIB;
/// Allocations of a decoder besides its pixel buffers (tables, row buffers, ICC profiles).
pub const DECODER_HEADROOM_BYTES: u64 = 32 * MIB;

/// The memory decoding one image takes at its peak, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeCost {
    /// The decoder's own peak: its output and whatever it holds besides while decoding.
    pub decoder: u64,
    /// A second buffer when the decoder's output is not yet RGB8 or RGBA8 (gray, 16-bit or
    /// float TIFF, CMYK), alive together with the output while converting.
    pub conversion: u64,
    /// The RGB8 / RGBA8 image processing then works on.
    pub image: u64,
}

impl DecodeCost {
    /// The peak while decoding and converting, with the decoder's headroom.
    pub fn peak(&self) -> u64 {
        self.decoder
            .saturating_add(self.conversion)
            .saturating_add(DECODER_HEADROOM_BYTES)
    }
}

/// `ceil(side / shrink)`: a side after a DCT-domain reduction.
pub(crate) fn shrunk_side(side: u32, shrink: u32) -> u32 {
    side.div_ceil(shrink.max(1))
}

/// The cost of decoding `probe` (laid out as `layout`) at `1/shrink` of its size; `shrink`
/// above 1 applies to JPEG only (the others decode in full).
pub fn decode_cost(probe: &Probe, layout: &Layout, shrink: u32) -> DecodeCost {
    let pixels = probe.pixels();
    let per = |bytes: u64| pixels.saturating_mul(bytes);
    let channels = u64::from(layout.channels.max(1));
    match probe.format {
        ImageFormat::Png => {
            // 16-bit samples are reduced to 8 bits as rows are decoded; rows go straight
            // into RGB8 (gray) or RGBA8 (gray + alpha, RGBA). An interlaced image is decoded
            // whole in its own channels first.
            let target = if matches!(layout.channels, 1 | 3) {
                3
            } else {
                4
            };
            let rows = u64::from(probe.width).saturating_mul(16);
            let decoder = if layout.interlaced {
                per(channels).saturating_add(per(target))
            } else {
                per(target).saturating_add(rows)
            };
            DecodeCost {
                decoder,
                conversion: 0,
                image: per(target),
            }
        }
        ImageFormat::Jpeg => {
            let padded = (u64::from(probe.width) + 32) * (u64::from(probe.height) + 32);
            let coefficients = if layout.progressive {
                channels * 2 * padded
            } else {
                0
            };
            let (width, height) = (
                shrunk_side(probe.width, shrink),
                shrunk_side(probe.height, shrink),
            );
            let decoded = u64::from(width) * u64::from(height);
            // Output of the decoder: gray stays one channel, color is RGB (CMYK: four).
            let out = decoded.saturating_mul(if channels == 1 { 1 } else { channels.min(4) });
            let planes = if shrink > 1 {
                channels * (u64::from(width) + 32) * (u64::from(height) + 32)
            } else {
                0
            };
            let conversion = if channels == 3 { 0 } else { decoded * 3 };
            DecodeCost {
                decoder: coefficients.saturating_add(planes).saturating_add(out),
                conversion,
                image: decoded * 3,
            }
        }
        ImageFormat::Gif => DecodeCost {
            // The canvas in RGBA8, and the first frame's own buffer when it is not the canvas.
            decoder: per(4).saturating_add(layout.frame_pixels.saturating_mul(4)),
            conversion: 0,
            image: per(4),
        },
        ImageFormat::Webp => {
            // Lossless (and alpha) data goes through a 32-bit ARGB buffer; lossy through
            // YUV 4:2:0 planes.
            let decoder = if layout.webp_argb {
                per(8)
            } else {
                per(3).saturating_add(pixels.saturating_mul(3) / 2)
            };
            DecodeCost {
                decoder,
                conversion: 0,
                image: per(if layout.webp_argb { 4 } else { 3 }),
            }
        }
        ImageFormat::Tiff => {
            let sample = u64::from(layout.bits).div_ceil(8).max(1);
            let native = layout.bits == 8 && matches!(layout.channels, 3 | 4);
            DecodeCost {
                decoder: per(channels.saturating_mul(sample)),
                conversion: if native { 0 } else { per(4) },
                image: per(4),
            }
        }
    }
}

/// A byte count in whole mebibytes, rounded up, as messages show it.
pub fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(MIB)
}

/// How `layout` reads in a message: "16-bit RGBA", "progressive 3-channel".
pub fn describe(format: ImageFormat, layout: &Layout) -> String {
    match format {
        ImageFormat::Png | ImageFormat::Tiff => {
            let channels = match layout.channels {
                1 => "gray".to_owned(),
                2 => "gray + alpha".to_owned(),
                3 => "RGB".to_owned(),
                4 => "RGBA".to_owned(),
                n => format!("{n}-channel"),
            };
            format!("{}-bit {channels}", layout.bits)
        }
        ImageFormat::Jpeg => format!(
            "{}{}-component",
            if layout.progressive {
                "progressive "
            } else {
                ""
            },
            layout.channels
        ),
        ImageFormat::Gif => "RGBA".to_owned(),
        ImageFormat::Webp if layout.webp_argb => "lossless or alpha".to_owned(),
        ImageFormat::Webp => "lossy".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{validate, Limits, RejectCode};

    /// A PNG whose IHDR declares `width` × `height` at `depth` bits of color type `color`,
    /// with a tRNS chunk when `trns`; no image data.
    fn png_header(width: u32, height: u32, depth: u8, color: u8, trns: bool) -> Vec<u8> {
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut typed = kind.to_vec();
            typed.extend(data);
            let mut out = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
            out.extend(&typed);
            out.extend(crate::validate::crc32(&typed).to_be_bytes());
            out
        };
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend(height.to_be_bytes());
        ihdr.extend([depth, color, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        out.extend(chunk(b"IHDR", &ihdr));
        if trns {
            out.extend(chunk(b"tRNS", &[0, 0]));
        }
        out.extend(chunk(b"IDAT", &[]));
        out
    }

    fn cost_of(bytes: &[u8]) -> DecodeCost {
        let probe = validate(bytes, &Limits::default()).expect("valid");
        decode_cost(&probe, &super::super::layout(&probe, bytes), 1)
    }

    #[test]
    fn a_16_bit_png_costs_what_its_8_bit_pixels_take() {
        // 7000×7000 RGBA: 196 MB at 8 bits a sample, which is how it is decoded.
        let sixteen = cost_of(&png_header(7000, 7000, 16, 6, false));
        let eight = cost_of(&png_header(7000, 7000, 8, 6, false));
        assert_eq!(sixteen.image, 7000 * 7000 * 4);
        assert_eq!(sixteen, eight);
        // Gray goes straight to RGB, gray + alpha to RGBA; a tRNS chunk adds the alpha.
        assert_eq!(cost_of(&png_header(100, 100, 8, 0, false)).image, 30_000);
        assert_eq!(cost_of(&png_header(100, 100, 8, 0, true)).image, 40_000);
        assert_eq!(cost_of(&png_header(100, 100, 8, 2, true)).image, 40_000);
        assert_eq!(cost_of(&png_header(100, 100, 4, 3, false)).image, 30_000);
    }

    #[test]
    fn the_budget_refuses_from_the_header_naming_depth_channels_and_the_fix() {
        let png = png_header(7000, 7000, 16, 6, false);
        assert!(validate(&png, &Limits::default()).is_ok());
        let tight = Limits {
            max_memory_bytes: 128 * MIB,
            ..Limits::default()
        };
        let rejection = validate(&png, &tight).expect_err("over the budget");
        assert_eq!(rejection.code, RejectCode::MemoryBudgetExceeded);
        assert_eq!(
            rejection.message,
            "decoding this 7000×7000 16-bit RGBA PNG needs about 220 MiB, above the 128 MiB \
             memory budget (raise it with --memory-budget or IMGLAKE_MEMORY_BUDGET, or send a \
             smaller image)"
        );
        // A TIFF of 64-bit float samples of the same size does not fit the default budget.
        let mut tiff = b"II*\x00\x08\x00\x00\x00".to_vec();
        let entries: [(u16, u16, u32, u32); 4] = [
            (256, 4, 1, 7000),
            (257, 4, 1, 7000),
            (258, 3, 1, 64),
            (277, 3, 1, 4),
        ];
        tiff.extend(u16::try_from(entries.len()).unwrap().to_le_bytes());
        for (tag, kind, count, value) in entries {
            tiff.extend(tag.to_le_bytes());
            tiff.extend(kind.to_le_bytes());
            tiff.extend(count.to_le_bytes());
            tiff.extend(value.to_le_bytes());
        }
        tiff.extend(0u32.to_le_bytes());
        let tiffs = Limits {
            allow_tiff: true,
            ..Limits::default()
        };
        let rejection = validate(&tiff, &tiffs).expect_err("a 1.6 GB decode");
        assert_eq!(rejection.code, RejectCode::MemoryBudgetExceeded);
        assert!(
            rejection.message.contains("64-bit RGBA TIFF"),
            "{}",
            rejection.message
        );
    }
}
