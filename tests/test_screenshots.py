"""Screenshots of the main pages, so that a broken layout is seen and not only a broken DOM.

The demo events (`flask demo load`), about a hundred sign-ups to the online lecture, and a
breakout round run over them; then every main page of the participant's and the organiser's
day, in Japanese and English, on a desktop (1280×800) and a phone (390×844). Each page must
answer 200, show Japanese glyphs (not the empty boxes of a missing font: Debian's
fonts-noto-cjk, which `.ci/run` installs) and, on the phone, not scroll sideways. The
screenshots go to test-results/screens/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SIZES,
    Scene,
    showcase_server,
    signed_in,
)

pytestmark = pytest.mark.browser

SCREENS = Path(__file__).resolve().parent.parent / "test-results" / "screens"



@pytest.fixture(scope="module")
def scene(migrated_database: str) -> Iterator[Scene]:
    with showcase_server(migrated_database) as served:
        yield served


def main_pages(scene: Scene) -> list[tuple[str, str]]:
    show = scene.show
    lecture, event = f"/events/{show.lecture_slug}", f"/console/events/{show.lecture_id}"
    return [
        ("public-list", "/"),
        ("public-event", lecture),
        ("signup-form", f"{lecture}/register"),
        ("outcome", f"{show.manage_path}?new=1"),
        ("manage", show.manage_path),
        ("console-dashboard", "/console/"),
        ("console-event", event),
        ("console-registrants", f"{event}/registrants"),
        ("console-breakout-round", f"{event}/breakouts/{show.round_id}"),
        ("console-checkin", f"/console/events/{show.exhibition_id}/checkin"),
    ]


# --- What a person would notice --------------------------------------------------------------

# Draws each string on a canvas in the page's own font and returns the pixels' fingerprints.
# A font without Japanese draws every character as the same box (or nothing at all).
_GLYPHS = """texts => {
  const canvas = document.createElement('canvas');
  canvas.width = 64; canvas.height = 64;
  const context = canvas.getContext('2d', {willReadFrequently: true});
  const family = getComputedStyle(document.body).fontFamily;
  return texts.map(text => {
    context.clearRect(0, 0, 64, 64);
    context.font = `48px ${family}`;
    context.fillStyle = '#000';
    context.textBaseline = 'top';
    context.fillText(text, 4, 4);
    const pixels = context.getImageData(0, 0, 64, 64).data;
    let inked = 0, hash = 0;
    for (let i = 3; i < pixels.length; i += 4) {
      if (pixels[i] > 0) { inked += 1; }
      hash = (hash * 31 + pixels[i]) >>> 0;
    }
    return [inked, hash];
  });
}"""
# Kana, kanji and a private-use character that no font draws (the "missing glyph" reference).
_SAMPLES = ["あ", "い", "集", "申", "\ue000"]


def japanese_glyphs_problem(page: Page) -> str | None:
    """None when kana and kanji are drawn as distinct glyphs, unlike a missing one."""
    drawn = page.evaluate(_GLYPHS, _SAMPLES)
    *japanese, missing = [tuple(item) for item in drawn]
    if any(inked == 0 for inked, _hash in japanese):
        return f"Japanese characters draw nothing: {dict(zip(_SAMPLES, drawn, strict=True))}"
    if len(set(japanese)) < len(japanese) or missing in japanese:
        return f"Japanese characters draw as missing-glyph boxes: {drawn}"
    return None


def sideways_scroll(page: Page) -> list[int] | None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    return widths if widths[0] > widths[1] else None


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_main_pages_read_well(browser: Browser, scene: Scene, lang: str, size: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with signed_in(browser, scene.url, lang, SIZES[size]) as page:
        for name, path in main_pages(scene):
            response = page.goto(scene.url + path)
            assert response is not None and response.status == 200, (path, response)
            expect(page.locator("html")).to_have_attribute("lang", lang)
            page.screenshot(path=str(SCREENS / f"{name}-{lang}-{size}.png"), full_page=True)
            if (glyphs := japanese_glyphs_problem(page)) is not None:
                problems.append(f"{name}: {glyphs}")
            if size == "phone" and (widths := sideways_scroll(page)) is not None:
                problems.append(f"{name} scrolls sideways on a phone: {widths}")
    assert not problems, "\n".join(problems)


def _fonts_without_japanese() -> list[str]:
    """The machine's font files that have no Japanese (Chromium will not start with none)."""
    def files(*pattern: str) -> set[str]:
        listed = subprocess.run(["fc-list", "--format", "%{file}\\n", *pattern],
                                capture_output=True, text=True, check=True)
        return set(listed.stdout.split())

    return sorted(files() - files(":lang=ja"))


def test_the_glyph_check_sees_a_missing_japanese_font(browser: Browser, scene: Scene) -> None:
    """The same check in a Chromium whose fontconfig knows only the fonts without Japanese
    reports the boxes: the check above can fail."""
    latin = _fonts_without_japanese()
    if not latin:
        pytest.skip("every font on this machine has Japanese")
    with tempfile.TemporaryDirectory() as folder:
        fonts = Path(folder) / "fonts"
        fonts.mkdir()
        for number, file in enumerate(latin):
            (fonts / f"{number}-{Path(file).name}").symlink_to(file)
        config = Path(folder) / "fonts.conf"
        config.write_text(
            '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
            f"<dir>{fonts}</dir><cachedir>{folder}/cache</cachedir></fontconfig>")
        fontless = browser.browser_type.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            env={"FONTCONFIG_FILE": str(config), "HOME": folder, "PATH": "/usr/bin:/bin"})
        try:
            page = fontless.new_page()
            page.goto(scene.url + "/")
            assert japanese_glyphs_problem(page) is not None
            page.screenshot(path=str(SCREENS / "public-list-without-japanese-fonts.png"))
        finally:
            fontless.close()


def test_ci_installs_the_browser_and_a_japanese_font() -> None:
    """A fresh CI machine has neither: .ci/run installs both before the tests."""
    script = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    for package in ("chromium", "fonts-noto-cjk", "fontconfig"):
        assert re.search(rf"missing\+=\({package}\)", script), package
    assert 'apt-get install -y -qq "${missing[@]}"' in script
