//! Synthetic images shared by the unit tests of several modules.

use image::{Rgb, RgbImage};

pub const RED: [u8; 3] = [220, 30, 30];
pub const GREEN: [u8; 3] = [30, 200, 40];
pub const BLUE: [u8; 3] = [30, 40, 210];
pub const YELLOW: [u8; 3] = [230, 220, 40];

/// TL red, TR green, BL blue, BR yellow.
pub fn quadrants(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb(match (x < width / 2, y < height / 2) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => YELLOW,
        })
    })
}

/// For each EXIF orientation, the displayed (top-left, top-right) colours of [`quadrants`]
/// stored with it, per the EXIF specification.
pub const ORIENTED_CORNERS: [(u16, [u8; 3], [u8; 3]); 8] = [
    (1, RED, GREEN),
    (2, GREEN, RED),
    (3, YELLOW, BLUE),
    (4, BLUE, YELLOW),
    (5, RED, BLUE),
    (6, BLUE, RED),
    (7, YELLOW, GREEN),
    (8, GREEN, YELLOW),
];
