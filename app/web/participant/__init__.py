from flask import Blueprint

bp = Blueprint("participant", __name__, url_prefix="/r")

from app.web.participant import privacy, views  # noqa: E402,F401
