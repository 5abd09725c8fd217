"""moto server handling one request at a time.

moto's own server is threaded and its backends take no locks, so concurrent UpdateItem calls on
one item can lose increments, which DynamoDB's atomic ADD never does. Served serially, moto is
atomic per request again, and the conformance suite can still tell an atomic ADD from a
read-modify-write made by the client (whose reads and writes would interleave).

Usage: python moto_serial.py HOST PORT
"""

import os
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

host, port = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(port))
run_simple(host, port, DomainDispatcherApplication(create_backend_app), threaded=False, use_reloader=False)
