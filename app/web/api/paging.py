"""Pages of a list (`?page=&per_page=`, a `Link` header and a `meta` object) and ETags.

Every successful JSON answer to a GET carries a weak ETag, a hash of its body: a client
that sends it back in If-None-Match gets 304 without the body. A PATCH may send it in
If-Match; when the resource has changed meanwhile it is refused with 412, so that nobody
overwrites a change they have not seen.

The tags are weak, and If-Match compares them weakly: they stand for the JSON document, and
a proxy that compresses the answer keeps them valid (RFC 9110 asks strong tags of If-Match
to protect byte ranges, which this API does not serve).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, cast

from flask import Response, jsonify, request, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select

from app.database import SessionLike
from app.web.api import bp
from app.web.errors import problem_response

PER_PAGE_CHOICES = (25, 50, 100)
DEFAULT_PER_PAGE = 50


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    def with_items(self, items: list[Any]) -> Page:
        return Page(items, self.total, self.page, self.per_page)


def clamp(page: int, per_page: int, total: int) -> int:
    """A page past the end answers the last one, as the console's lists do."""
    return min(max(page, 1), max(1, math.ceil(total / per_page)))


def paginate_query(session: SessionLike, query: Select[Any], page: int, per_page: int) -> Page:
    total = int(session.execute(
        select(func.count()).select_from(query.order_by(None).subquery())).scalar_one())
    page = clamp(page, per_page, total)
    items = list(session.execute(query.limit(per_page).offset((page - 1) * per_page)).scalars())
    return Page(items, total, page, per_page)


def paginate_list(items: list[Any], page: int, per_page: int) -> Page:
    page = clamp(page, per_page, len(items))
    return Page(items[(page - 1) * per_page:page * per_page], len(items), page, per_page)


def envelope(page: Page) -> tuple[dict[str, Any], dict[str, str]]:
    """The body ({"data": [...], "meta": {...}}) and the Link header of one page."""
    args = {**(request.view_args or {}), **request.args.to_dict()}

    def link(number: int, rel: str) -> str:
        target = url_for(request.endpoint or "", **{**args, "page": number,
                                                    "per_page": page.per_page})
        return f'<{target}>; rel="{rel}"'

    links = [link(1, "first")]
    if page.page > 1:
        links.append(link(page.page - 1, "prev"))
    if page.page < page.pages:
        links.append(link(page.page + 1, "next"))
    links.append(link(page.pages, "last"))
    meta = {"page": page.page, "per_page": page.per_page, "total": page.total,
            "pages": page.pages}
    return {"data": page.items, "meta": meta}, {"Link": ", ".join(links)}


def etag_of(data: Any) -> str:
    """The tag of the body `data` makes, computed the way the answer is written."""
    return hashlib.sha256(jsonify(data).get_data()).hexdigest()[:32]


def check_if_match(current: Any) -> Response | None:
    """412 when If-Match names another version than `current` (the resource's JSON)."""
    if not request.if_match:
        return None
    if request.if_match.star_tag or request.if_match.contains_weak(etag_of(current)):
        return None
    return problem_response(412, _l("This record has changed since you read it. Please "
                                    "read it again (GET), then send your change with its "
                                    "new ETag."))


@bp.after_request
def add_etag(response: Response) -> Response:
    if (request.method != "GET" or response.status_code != 200
            or response.mimetype != "application/json" or response.is_streamed):
        return response
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32], weak=True)
    # A match turns the answer into 304 Not Modified, without its body.
    return cast(Response, response.make_conditional(request))
