"""moto server handling one request at a time, with DynamoDB's idempotent transactions.

moto's own server is threaded and its backends take no locks, so concurrent UpdateItem calls on
one item can lose increments, which DynamoDB's atomic ADD never does. Served serially, moto is
atomic per request again, and the conformance suite can still tell an atomic ADD from a
read-modify-write made by the client (whose reads and writes would interleave).

moto ignores TransactWriteItems' ClientRequestToken, which the AWS SDK fills in and repeats on
its retries. DynamoDB answers a repeat within 10 minutes as the first call was answered; moto
would run it again and, its conditions now failing, cancel a transaction that had committed (the
SDK retries when a queued request outlives its attempt timeout). The middleware below answers
repeats from the first answer, as DynamoDB does.

Usage: python moto_serial.py HOST PORT
"""

import io
import json
import os
import sys
import time

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

TRANSACT_WRITE = "DynamoDB_20120810.TransactWriteItems"
IDEMPOTENCY_WINDOW = 600


class IdempotentTransactions:
    def __init__(self, app):
        self.app = app
        self.answers = {}  # token -> (request body, time, status, headers, body)

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET") != TRANSACT_WRITE:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        request = json.loads(body or b"{}")
        token = request.pop("ClientRequestToken", None)
        if token is None:
            return self.app(environ, start_response)
        now = time.monotonic()
        self.answers = {k: v for k, v in self.answers.items() if now - v[1] < IDEMPOTENCY_WINDOW}
        if token in self.answers:
            first, _, status, headers, answer = self.answers[token]
            if first != request:
                status, headers = "400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")]
                answer = json.dumps({
                    "__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                    "message": "the request differs from the first one with this ClientRequestToken",
                }).encode()
            start_response(status, headers)
            return [answer]
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return start_response(status, headers, exc_info)

        answer = b"".join(self.app(environ, capture))
        if captured["status"].startswith("200"):
            self.answers[token] = (request, now, captured["status"], captured["headers"], answer)
        return [answer]


host, port = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(port))
app = IdempotentTransactions(DomainDispatcherApplication(create_backend_app))
run_simple(host, port, app, threaded=False, use_reloader=False)
