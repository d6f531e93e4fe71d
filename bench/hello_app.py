"""The page baseline of bench/bench_signup.py: the smallest Flask answer there is.

    gunicorn bench.hello_app:app

GET /hello returns a short text with no template, no database and no session: the cost of
gunicorn + Flask alone, which an event page (templates, a few queries, security headers)
is measured against.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello() -> str:
    return "Hello, World!"
