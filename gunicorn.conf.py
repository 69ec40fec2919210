"""gunicorn in production: ``uv run gunicorn -c gunicorn.conf.py config.wsgi`` (README, Production web server).

Threaded workers (gthread): a client that trickles its body holds one thread, not a whole worker,
so two slow uploads no longer take every worker and /healthz keeps answering (tests/test_faults.py).
With sync workers each of them held a worker until the 120 s timeout. The proxy in front must still
buffer request bodies (nginx ``proxy_request_buffering on``, its default) with short client timeouts:
gunicorn has no read timeout of its own, so without the proxy workers × threads slow clients still
exhaust it. Each thread keeps its own database connection (CONN_MAX_AGE 60 s): PostgreSQL's
``max_connections`` must cover workers × threads for every web process, plus the Celery workers.

Every value can be overridden from the environment (``GUNICORN_*``) or the command line.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# A worker that does not report in this long is killed and replaced (gthread: the main loop, not a request).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# Idle keep-alive connections are closed after this many seconds, so idle clients do not pin threads.
keepalive = 5
# Connections a worker holds at once, open or waiting: beyond it new ones wait in the listen backlog.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "100"))
# gunicorn's own limits (its defaults, stated here): beyond them it answers 400, 414 or 431 itself,
# as plain text, before Django sees the request (README lists them).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# The proxy sets REMOTE_ADDR and X-Forwarded-Proto; only trust forwarding headers from it.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")


def post_worker_init(worker):
    """Import the broker's transport now: its first import (~0.5 s) would otherwise land in a request."""
    from celery import current_app

    current_app.connection_for_write()


# The token evaluator (tokens v2) beside gunicorn when RISKSHARE_EVALUATOR_SEED_FILE names its seeds: its own
# process, started by the master before the workers, stopped with it. The web workers only reach its socket
# (RISKSHARE_EVALUATOR_SOCKET). Better still, run it as its own service under a user of its own that alone can
# read the seed file (docs/operations.md, "The token evaluator"); then leave the variable unset here.
_evaluator = None


def on_starting(server):
    global _evaluator
    seed_file = os.environ.get("RISKSHARE_EVALUATOR_SEED_FILE")
    socket_path = os.environ.get("RISKSHARE_EVALUATOR_SOCKET")
    if seed_file and socket_path:
        import subprocess
        import sys

        _evaluator = subprocess.Popen(  # noqa: S603 - the project's own module
            [sys.executable, "-m", "sharing.tokens.evaluator", "--socket", socket_path, "--seed-file", seed_file]
        )


def on_exit(server):
    if _evaluator is not None:
        _evaluator.terminate()
        _evaluator.wait(10)
