"""Draw Kiln's icon: a kiln-orange rounded square with a white "K".

    python packaging/make_icon.py        writes resources/icons/kiln.png (256×256, the app's window
                                         icon and the Linux menu icon), packaging/kiln.ico and kiln.icns

Only Pillow is needed. All three are committed; build.py re-creates them when one is missing.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
PNG = HERE.parent / "resources" / "icons" / "kiln.png"
ORANGE = (226, 106, 44, 255)
DARK = (176, 72, 22, 255)
WHITE = (255, 255, 255, 255)


def draw(size: int = 256) -> Image.Image:
    scale = 4  # draw large, shrink: smooth edges without font files
    s = size * scale
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    m = s * 0.04
    d.rounded_rectangle((m, m + s * 0.015, s - m, s - m + s * 0.015), radius=s * 0.2, fill=DARK)  # shadow edge
    d.rounded_rectangle((m, m, s - m, s - m), radius=s * 0.2, fill=ORANGE)
    # The "K", drawn as polygons so no font is needed and it looks the same everywhere.
    x0, y0, y1 = s * 0.30, s * 0.22, s * 0.78
    stem = s * 0.12
    d.rectangle((x0, y0, x0 + stem, y1), fill=WHITE)
    mid = (y0 + y1) / 2
    arm = s * 0.125
    d.polygon([(x0 + stem, mid - arm * 0.55), (s * 0.60, y0), (s * 0.60 + arm * 1.25, y0),
               (x0 + stem + arm * 0.55, mid + arm * 0.35), (x0 + stem, mid + arm * 0.6)], fill=WHITE)
    d.polygon([(x0 + stem + arm * 0.15, mid - arm * 0.05), (x0 + stem + arm * 1.05, mid - arm * 0.75),
               (s * 0.62 + arm * 1.3, y1), (s * 0.62, y1)], fill=WHITE)
    return img.resize((size, size), Image.LANCZOS)


def main() -> None:
    img = draw(256)
    PNG.parent.mkdir(parents=True, exist_ok=True)
    img.save(PNG)
    img.save(HERE / "kiln.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    draw(512).save(HERE / "kiln.icns")
    print("wrote", PNG, HERE / "kiln.ico", HERE / "kiln.icns")


if __name__ == "__main__":
    main()
