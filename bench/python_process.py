"""Python baselines for the imglake image-processing benchmark.

The same work as imglake's default recipe, done the way a careful Python user
would with each library, from JPEG bytes in memory to JPEG bytes in memory:
decode once at reduced size, apply the EXIF orientation, make
`display` (fit within 1024x1024, never enlarged, JPEG q85) and `thumb`
(256x256 centre-cropped cover, JPEG q82) with a Lanczos filter, write no
metadata.

- pyvips (libvips): `thumbnail_buffer` decodes with JPEG shrink-on-load and
  autorotates; the display is kept in memory so the thumb is made from it
  without decoding again (libvips' operation cache is off so no run reuses
  another's work).
- Pillow: `thumbnail` first (it calls `draft`, so libjpeg decodes at 1/2, 1/4
  or 1/8 scale, then `reduce` + Lanczos), then `exif_transpose` on the small
  image (transposing first would decode at full size), thumb by `ImageOps.fit`.

Usage:  python bench/python_process.py pyvips|pillow IMAGE REPEATS

One warm-up run, then REPEATS timed runs in this process. Imports and reading
the file are not timed. Prints one JSON line:
  {"impl":..,"seconds":[..],"peak_rss_kb":K,"variants":[{"name","width","height","bytes"}]}
"""

import io
import json
import resource
import sys
import time

DISPLAY = (1024, 1024)
THUMB = (256, 256)
DISPLAY_Q = 85
THUMB_Q = 82


def make_pyvips():
    import pyvips

    pyvips.cache_set_max(0)

    def run(data):
        display = pyvips.Image.thumbnail_buffer(
            data, DISPLAY[0], height=DISPLAY[1], size="down"
        ).copy_memory()
        thumb = display.thumbnail_image(
            THUMB[0], height=THUMB[1], crop="centre", size="down"
        )
        return [
            ("thumb", thumb.width, thumb.height,
             thumb.jpegsave_buffer(Q=THUMB_Q, keep="none")),
            ("display", display.width, display.height,
             display.jpegsave_buffer(Q=DISPLAY_Q, keep="none")),
        ]

    return run


def make_pillow():
    from PIL import Image, ImageOps

    lanczos = Image.Resampling.LANCZOS

    def run(data):
        with Image.open(io.BytesIO(data)) as im:
            im.thumbnail(DISPLAY, resample=lanczos)  # draft + reduce + Lanczos
            display = ImageOps.exif_transpose(im)
        if display.mode != "RGB":
            display = display.convert("RGB")
        thumb = ImageOps.fit(display, THUMB, method=lanczos, centering=(0.5, 0.5))
        out = []
        for name, img, q in (("thumb", thumb, THUMB_Q), ("display", display, DISPLAY_Q)):
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=q)
            out.append((name, img.width, img.height, buf.getvalue()))
        return out

    return run


def main(argv):
    if len(argv) != 4 or argv[1] not in ("pyvips", "pillow"):
        sys.exit(f"usage: {argv[0]} pyvips|pillow IMAGE REPEATS")
    run = make_pyvips() if argv[1] == "pyvips" else make_pillow()
    with open(argv[2], "rb") as f:
        data = f.read()
    repeats = int(argv[3])
    variants = run(data)  # warm-up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        variants = run(data)
        seconds.append(round(time.perf_counter() - start, 6))
    print(json.dumps({
        "impl": argv[1],
        "seconds": seconds,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "variants": [
            {"name": n, "width": w, "height": h, "bytes": len(b)}
            for n, w, h, b in variants
        ],
    }, separators=(",", ":")))


if __name__ == "__main__":
    main(sys.argv)
