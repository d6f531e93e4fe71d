from flask import Blueprint

bp = Blueprint("participant", __name__, url_prefix="/r")

from app.web.participant import views  # noqa: E402,F401
