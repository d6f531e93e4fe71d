"""Regenerate static/favicon.ico from static/favicon.svg (Debian's Chromium draws it).

    .venv/bin/python scripts/build_favicon.py

The .ico holds PNG images of 16, 32 and 48 pixels (an ICO may carry PNGs since Windows
Vista; every current browser reads them). Pages link the SVG; the .ico answers the browsers
that ask for /favicon.ico whatever the page says.
"""

from __future__ import annotations

import struct
from pathlib import Path

from playwright.sync_api import sync_playwright

STATIC = Path(__file__).resolve().parent.parent / "static"
SIZES = (16, 32, 48)


def render(svg: str, size: int) -> bytes:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--headless=new", "--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": size, "height": size})
            page.set_content(
                f'<body style="margin:0"><img src="data:image/svg+xml;utf8,{svg}" '
                f'width="{size}" height="{size}"></body>')
            return page.screenshot(omit_background=True, type="png")
        finally:
            browser.close()


def ico(images: list[tuple[int, bytes]]) -> bytes:
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries, payload = b"", b""
    for size, png in images:
        entries += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(png),
                               offset + len(payload))
        payload += png
    return header + entries + payload


def main() -> None:
    svg = (STATIC / "favicon.svg").read_text().replace("#", "%23").replace('"', "'")
    (STATIC / "favicon.ico").write_bytes(ico([(size, render(svg, size)) for size in SIZES]))


if __name__ == "__main__":
    main()
