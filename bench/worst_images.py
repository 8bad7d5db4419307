"""The largest images imglake accepts by default (50 MP, 10 MB), as PNGs small on disk:
7000x7000 16-bit RGBA (the hostile-client report's image), 7071x7071 8-bit RGBA and RGB.
Every row differs (a vertical gradient, alpha included, so nothing is opaque), so the decoder
works each row. Usage: python3 bench/worst_images.py OUT_DIR"""

import struct
import sys
import zlib
from pathlib import Path


def png(path: Path, width: int, height: int, depth: int, color_type: int, channels: int) -> None:
    comp = zlib.compressobj(6)
    data = bytearray()
    for y in range(height):
        v = y * 65535 // max(height - 1, 1)
        px = struct.pack(">H", v) * channels if depth == 16 else bytes([v >> 8]) * channels
        data += comp.compress(b"\x00" + px * width)
    data += comp.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", bytes(data)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    png(out / "rgba16-7000.png", 7000, 7000, 16, 6, 4)
    png(out / "rgba8-7071.png", 7071, 7071, 8, 6, 4)
    png(out / "rgb8-7071.png", 7071, 7071, 8, 2, 3)
