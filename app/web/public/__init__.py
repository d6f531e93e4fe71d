from flask import Blueprint

bp = Blueprint("public", __name__)

from app.web.public import calendar, confirm, join, media, views  # noqa: E402,F401
