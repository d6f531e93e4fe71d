"""gunicorn settings; every value can be overridden from the environment."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", min(4, multiprocessing.cpu_count() * 2)))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# gunicorn's own threaded worker: while one thread waits on the database, another serves.
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# The app writes its own JSON line per request, with the request id (REQUEST_LOG); gunicorn's
# access log is off unless asked for (then set REQUEST_LOG=0 to keep one line per request).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
# A worker is replaced after this many requests, against slow leaks. Rarely: booting one
# costs ~2 s of CPU (imports, app factory), and a new worker starts with cold caches (compiled
# templates and SQL, rendered pages); at 2,000 a worker was replaced every few seconds of a
# registration rush.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "50000"))
max_requests_jitter = max_requests // 10
# Participants' links (/r/<token>, /feeds/…, /j/…) and reset tokens are keys: both gunicorn
# logs show them masked (app/gunicorn_logging.py), whatever access_log_format is chosen.
logger_class = "app.gunicorn_logging.MaskingLogger"
