"""The public site as a resident sees it: an event's image and flyer (uploaded by its
organisers, with words for people who cannot see them), cards that say who organises, until
when and how many seats are left, a month filter in words, the way back to the list, and
the site's icon."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, EventMedia
from app.models.enums import EventStatus, MediaKind, RegistrationMode
from app.orm import utcnow
from app.services.event_media import file_name
from app.storage import StoredFileMissing, get_storage
from tests.factories import AuthActions, make_event, make_user

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ALT = "東京区政会館の展示会場。パネルの前で話す来場者"
FLYER_TEXT = "日時、会場、申込方法を記載したチラシです。"


def photo(size: tuple[int, int] = (3000, 2000), with_gps: bool = True) -> bytes:
    """A JPEG as a phone takes it: large, with the camera and the place in its EXIF."""
    image = Image.new("RGB", size, (30, 90, 160))
    exif = Image.Exif()
    if with_gps:
        exif[0x010F] = "PhoneMaker"  # Make
        exif[0x8825] = {1: "N", 2: (35.0, 41.0, 0.0)}  # GPSInfo: latitude
    output = io.BytesIO()
    image.save(output, format="JPEG", exif=exif)
    return output.getvalue()


@pytest.fixture(autouse=True)
def storage_in(tmp_path: Path, app: Flask) -> Iterator[Path]:
    """Uploaded files in a folder of this test's own."""
    app.config["STORAGE_LOCAL_PATH"] = str(tmp_path / "uploads")
    yield tmp_path / "uploads"


@pytest.fixture
def organiser(client, app):
    event = make_event(organizer_name="特別区協議会", summary="多文化共生の講演会です。")
    make_user(events=[event])
    auth = AuthActions(client)
    auth.login()
    return event


def media_form(client, event_id: int, kind: str) -> str:
    """The CSRF token of the image's or the flyer's form (each has its prefix)."""
    page = client.get(f"/console/events/{event_id}/media")
    assert page.status_code == 200
    token = re.search(rf'name="{kind}-csrf_token" type="hidden" value="([^"]+)"', page.text)
    assert token, page.text
    return token.group(1)


def upload(client, event_id: int, kind: str, data: bytes | None, filename: str,
           description: str):
    fields: dict[str, object] = {f"{kind}-csrf_token": media_form(client, event_id, kind),
                                 f"{kind}-description": description}
    if data is not None:
        fields[f"{kind}-file"] = (io.BytesIO(data), filename)
    return client.post(f"/console/events/{event_id}/media/{kind}", data=fields,
                       content_type="multipart/form-data")


def stored(event_id: int, kind: MediaKind) -> EventMedia | None:
    db.session.expire_all()
    return db.session.scalar(select(EventMedia).where(EventMedia.event_id == event_id,
                                                      EventMedia.kind == kind))


# --- The image ------------------------------------------------------------------------------


def test_an_uploaded_image_is_shown_with_its_words_and_without_its_metadata(client, organiser):
    answer = upload(client, organiser.id, "image", photo(), "会場の写真.JPG", ALT)
    assert answer.status_code == 302, answer.text
    media = stored(organiser.id, MediaKind.IMAGE)
    assert media is not None and media.description == ALT
    # Saved again: smaller, no EXIF (camera, GPS position).
    kept = get_storage().load(media.storage_key)
    with Image.open(io.BytesIO(kept)) as image:
        assert max(image.size) <= 2400 and not image.getexif()
    assert (media.content_type, media.filename) == ("image/jpeg", "会場の写真.jpg")

    # The public page and the card show it, with the alternative text.
    url = f"/events/{organiser.slug}/media/{file_name(media)}"
    page = unescape(client.get(f"/events/{organiser.slug}").text)
    assert f'<img src="{url}" alt="{ALT}"' in page
    card = unescape(client.get("/").text)
    assert f'<img src="{url}" alt="{ALT}"' in card
    served = client.get(url)
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert served.data == kept
    assert "sandbox" in served.headers["Content-Security-Policy"]
    assert served.headers["Cache-Control"] == "public, max-age=3600"


def test_an_image_needs_its_words_and_a_real_image(client, organiser, storage_in):
    empty = upload(client, organiser.id, "image", None, "", "  ")
    assert empty.status_code == 422
    text = unescape(empty.text)
    # Both missing pieces named, in the error summary that takes focus.
    summary = text[text.index('id="error-summary"'):]
    assert "Please choose a file." in summary
    assert "Please describe the image for people who cannot see it." in summary

    no_words = upload(client, organiser.id, "image", photo(), "hall.jpg", "")
    assert no_words.status_code == 422
    assert "Please describe the image" in unescape(no_words.text)

    page = b"<html><script>alert(1)</script></html>"
    disguised = upload(client, organiser.id, "image", page, "hall.png", ALT)
    assert disguised.status_code == 422
    assert "The file's name does not match what it contains." in unescape(disguised.text)
    pdf_as_image = upload(client, organiser.id, "image", PDF, "hall.pdf", ALT)
    assert "Please upload a JPEG, PNG, GIF or WebP image." in unescape(pdf_as_image.text)
    # Nothing kept: no row, no file left in storage.
    assert stored(organiser.id, MediaKind.IMAGE) is None
    assert not [path for path in storage_in.rglob("*") if path.is_file()]


def test_too_large_a_file_is_refused_with_the_limit(client, app, organiser):
    # (Small figures: the test client spools a larger upload to a file it never closes.)
    app.config["UPLOAD_MAX_BYTES"] = 200 * 1024
    big = upload(client, organiser.id, "image", b"\xff\xd8" + b"0" * (200 * 1024 + 10),
                 "hall.jpg", ALT)
    assert big.status_code == 422
    assert "The file is larger than 200 KB." in unescape(big.text)
    assert stored(organiser.id, MediaKind.IMAGE) is None


def test_a_new_image_replaces_the_old_one_everywhere(client, organiser):
    upload(client, organiser.id, "image", photo(), "first.jpg", ALT)
    first = stored(organiser.id, MediaKind.IMAGE)
    assert first is not None
    first_name, first_key = file_name(first), first.storage_key
    client.get(f"/events/{organiser.slug}")  # the page is now cached

    assert upload(client, organiser.id, "image", photo((800, 600), with_gps=False),
                  "second.jpg", "新しい説明").status_code == 302
    second = stored(organiser.id, MediaKind.IMAGE)
    assert second is not None and file_name(second) != first_name
    second_key = second.storage_key
    with pytest.raises(StoredFileMissing):
        get_storage().load(first_key)
    page = unescape(client.get(f"/events/{organiser.slug}").text)
    assert f"/media/{file_name(second)}" in page and f"/media/{first_name}" not in page
    assert 'alt="新しい説明"' in page
    assert client.get(f"/events/{organiser.slug}/media/{first_name}").status_code == 404

    # The words alone can change, without a new file.
    assert upload(client, organiser.id, "image", None, "", "もう一度新しい説明").status_code == 302
    assert stored(organiser.id, MediaKind.IMAGE).description == "もう一度新しい説明"

    # Removed: gone from the page and from storage.
    token = re.search(r'name="csrf_token" value="([^"]+)"',  # the remove button's form
                      client.get(f"/console/events/{organiser.id}/media").text).group(1)
    assert client.post(f"/console/events/{organiser.id}/media/image/delete",
                       data={"csrf_token": token}).status_code == 302
    assert stored(organiser.id, MediaKind.IMAGE) is None
    with pytest.raises(StoredFileMissing):
        get_storage().load(second_key)
    assert "<img" not in client.get(f"/events/{organiser.slug}").text
    actions = db.session.scalars(select(AuditEntry.action).where(
        AuditEntry.action.like("media.%")).order_by(AuditEntry.id)).all()
    assert actions == ["media.image", "media.image", "media.image_describe",
                       "media.image_remove"]


# --- The flyer ------------------------------------------------------------------------------


def test_a_flyer_is_a_pdf_offered_with_what_it_says(client, organiser):
    misnamed = upload(client, organiser.id, "flyer", photo((200, 100)), "チラシ.pdf",
                      FLYER_TEXT)
    assert misnamed.status_code == 422
    image = upload(client, organiser.id, "flyer", photo((200, 100)), "チラシ.jpg", FLYER_TEXT)
    assert "Please upload the flyer as a PDF file." in unescape(image.text)
    no_words = upload(client, organiser.id, "flyer", PDF, "チラシ.pdf", "")
    assert "Please write in a sentence or two what the flyer says." in unescape(no_words.text)

    assert upload(client, organiser.id, "flyer", PDF, "チラシ.pdf", FLYER_TEXT).status_code == 302
    flyer = stored(organiser.id, MediaKind.FLYER)
    assert flyer is not None
    page = unescape(client.get(f"/events/{organiser.slug}").text)
    assert FLYER_TEXT in page
    assert re.search(rf'<a href="/events/{organiser.slug}/media/{file_name(flyer)}" '
                     r'type="application/pdf">Open the flyer \(PDF, \d+ Bytes\)</a>', page)
    served = client.get(f"/events/{organiser.slug}/media/{file_name(flyer)}")
    assert served.status_code == 200 and served.mimetype == "application/pdf"
    assert served.data == PDF
    assert "filename*=UTF-8''%E3%83%81%E3%83%A9%E3%82%B7.pdf" in served.headers[
        "Content-Disposition"]


# --- Who may ----------------------------------------------------------------------------------


def test_a_drafts_files_are_for_its_members_only(client, organiser):
    upload(client, organiser.id, "image", photo((400, 300)), "hall.jpg", ALT)
    media = stored(organiser.id, MediaKind.IMAGE)
    assert media is not None
    organiser.status = EventStatus.DRAFT
    db.session.commit()
    assert client.get(f"/events/{organiser.slug}/media/{file_name(media)}").status_code == 404
    member = client.get(f"/console/events/{organiser.id}/media/file/{file_name(media)}")
    assert member.status_code == 200 and "no-store" in member.headers["Cache-Control"]
    assert "public" not in member.headers["Cache-Control"]
    preview = unescape(client.get(f"/console/events/{organiser.id}/preview").text)
    assert (f'src="/console/events/{organiser.id}/media/file/{file_name(media)}" alt="{ALT}"'
            in preview)


def test_an_unknown_kind_of_file_is_not_found(client, organiser):
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get(f"/console/events/{organiser.id}/media").text).group(1)
    for path in ("media/poster", "media/poster/delete"):
        assert client.post(f"/console/events/{organiser.id}/{path}",
                           data={"csrf_token": token}).status_code == 404


def test_viewers_and_strangers_cannot_upload(client, app):
    event = make_event()
    make_user("viewer@example.lg.jp", events=[event], event_role="viewer")
    make_user("stranger@example.lg.jp")
    for email, status in (("viewer@example.lg.jp", 403), ("stranger@example.lg.jp", 404)):
        auth = AuthActions(client)
        auth.login(email)
        token = auth.csrf_token()
        answer = client.post(f"/console/events/{event.id}/media/image", data={
            "image-csrf_token": token, "image-description": ALT,
            "image-file": (io.BytesIO(photo((100, 100))), "x.jpg")},
            content_type="multipart/form-data")
        assert answer.status_code == status
        assert client.get(f"/console/events/{event.id}/media").status_code == status
        client.post("/console/logout", data={"csrf_token": token})
    assert stored(event.id, MediaKind.IMAGE) is None


# --- Cards, filters, the way back, the icon ------------------------------------------------


def test_cards_say_who_organises_until_when_and_when_seats_are_few(client, app):
    roomy = make_event(title="ゆったり講演会", organizer_name="台東区", capacity=100)
    few = make_event(title="残りわずか講演会", organizer_name="千代田区", capacity=100)
    few.seat_pools[0].taken = 95
    lottery = make_event(title="抽選のまつり", capacity=10,
                         registration_mode=RegistrationMode.LOTTERY,
                         lottery_draw_at=utcnow() + timedelta(days=9, hours=1))
    lottery.seat_pools[0].taken = 9
    db.session.commit()
    client.set_cookie("lang", "en")
    page = unescape(client.get("/").text)
    cards = {title: card for card in page.split('<li class="event-card">')[1:]
             for title in (roomy.title, few.title, lottery.title) if title in card}
    assert re.search(r'<dd class="event-organizer">(<span lang="ja">)?台東区', cards[roomy.title])
    assert re.search(r'<dt>Deadline</dt><dd class="event-deadline">\w{3} \d', cards[roomy.title])
    assert "Few seats left" not in cards[roomy.title]
    assert '<span class="badge badge-few_seats">Few seats left</span>' in cards[few.title]
    assert "5 of 100 seats left" in cards[few.title]
    # A lottery's places are drawn, not taken in turn.
    assert "Few seats left" not in cards[lottery.title] and "By lottery" in cards[lottery.title]


def test_the_month_filter_speaks_the_language_and_the_format_words_match_the_tags(client, app):
    make_event()
    japanese = unescape(client.get("/").text)
    months = re.findall(r'<option value="(\d{4})-(\d{2})"[^>]*>([^<]+)</option>', japanese)
    assert len(months) == 6
    for year, month, label in months:
        assert label == f"{year}年{int(month)}月"
    english = unescape(client.get("/?lang=en").text)
    labels = re.findall(r'<option value="\d{4}-\d{2}"[^>]*>([^<]+)</option>', english)
    assert all(re.fullmatch(r"(January|February|March|April|May|June|July|August|September|"
                            r"October|November|December) \d{4}", label) for label in labels)
    # 「オンライン開催」 in the filter as on the tags (not 「オンライン参加」, one person's way).
    assert '<option value="online" >オンライン開催</option>' in japanese
    assert '<span class="tag">会場開催</span>' in japanese
    assert '<option value="in_person" >会場開催</option>' in japanese
    assert "オンライン参加" not in japanese


def test_an_event_leads_back_to_the_list(client, app):
    event = make_event()
    page = unescape(client.get(f"/events/{event.slug}?lang=en").text)
    crumbs = page[page.index('<nav class="breadcrumbs"'):page.index("</nav>", page.index(
        '<nav class="breadcrumbs"'))]
    assert '<a href="/">Upcoming events</a>' in crumbs
    assert f'<span aria-current="page"><span lang="ja">{event.title}</span></span>' in crumbs
    assert '<p class="back-link"><a href="/">Back to the list of events</a></p>' in page
    signup = unescape(client.get(f"/events/{event.slug}/register?lang=en").text)
    assert f'<a href="/events/{event.slug}"><span lang="ja">{event.title}</span></a>' in signup


def test_the_site_has_an_icon(client, app):
    with client.get("/favicon.ico") as icon:
        assert icon.status_code == 200 and icon.mimetype == "image/vnd.microsoft.icon"
        assert icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    page = client.get("/").text
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    with client.get("/static/favicon.svg") as svg:
        assert svg.status_code == 200
