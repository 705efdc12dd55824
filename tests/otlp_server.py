#!/usr/bin/env python3
"""A small OTLP/HTTP logs receiver for the tests: it decodes every request
with the official OpenTelemetry protos (the `opentelemetry-proto` package)
and writes each log record as one JSON line.

    python3 tests/otlp_server.py [--port 0] [--out FILE] [--requests FILE]
                                 [--fail-first K] [--fail-status 503]
                                 [--retry-after N]

It prints the port it listens on (on 127.0.0.1) as the first line of
stdout, then serves until killed. With --fail-first K, the first K
requests are answered --fail-status (default 503), with `Retry-After: N`
when --retry-after is given, and their records are not written. Anything
that is not a valid request (wrong path, method, content type, or a body
the protos cannot decode) is answered 4xx and logged in --requests.

Record lines (--out, default stdout), flushed one by one:
    {"request": 1, "resource": {"host.name": ..., "service.name": ...},
     "scope": {"name": ..., "version": ...},
     "time_unix_nano": int, "observed_time_unix_nano": int,
     "severity_number": int, "severity_text": str, "body": str,
     "attributes": {key: value, ...}, "dropped_attributes_count": int}
Attribute values are JSON strings, ints, bools, floats, lists or objects,
as their AnyValue says; bytes are base64.

Request lines (--requests), one per request:
    {"request": 1, "at": unix_seconds, "status": 200, "records": 1000,
     "path": "/v1/logs", "error": null}
"""

import argparse
import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)


def any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "string_value":
        return v.string_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "int_value":
        return v.int_value
    if kind == "double_value":
        return v.double_value
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return attributes(v.kvlist_value.values)
    return {"unsupported": kind}


def attributes(kvs):
    out = {}
    for kv in kvs:
        if kv.key in out:
            raise ValueError(f"attribute {kv.key!r} appears twice")
        out[kv.key] = any_value(kv.value)
    return out


def records(request, number):
    for rl in request.resource_logs:
        resource = attributes(rl.resource.attributes)
        for sl in rl.scope_logs:
            scope = {"name": sl.scope.name, "version": sl.scope.version}
            for r in sl.log_records:
                yield {
                    "request": number,
                    "resource": resource,
                    "scope": scope,
                    "time_unix_nano": r.time_unix_nano,
                    "observed_time_unix_nano": r.observed_time_unix_nano,
                    "severity_number": r.severity_number,
                    "severity_text": r.severity_text,
                    "body": any_value(r.body) if r.HasField("body") else None,
                    "attributes": attributes(r.attributes),
                    "dropped_attributes_count": r.dropped_attributes_count,
                }


class Receiver:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.count = 0
        self.out = open(args.out, "a") if args.out else sys.stdout
        self.requests = open(args.requests, "a") if args.requests else None

    def log_request(self, number, status, n, path, error):
        if self.requests is None:
            return
        line = {
            "request": number,
            "at": time.time(),
            "status": status,
            "records": n,
            "path": path,
            "error": error,
        }
        self.requests.write(json.dumps(line) + "\n")
        self.requests.flush()


def handler(receiver):
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, as a collector does: the exporter reuses connections.
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, body=b"", content_type="text/plain", headers=()):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            length = self.headers.get("Content-Length")
            body = self.rfile.read(int(length)) if length else b""
            with receiver.lock:
                receiver.count += 1
                number = receiver.count
                if self.path.split("?")[0] != "/v1/logs":
                    receiver.log_request(number, 404, 0, self.path, "wrong path")
                    return self.answer(404, b"no such path\n")
                ctype = self.headers.get("Content-Type", "")
                if ctype != "application/x-protobuf":
                    receiver.log_request(number, 415, 0, self.path, f"content type {ctype!r}")
                    return self.answer(415, b"not protobuf\n")
                if length is None:
                    receiver.log_request(number, 411, 0, self.path, "no Content-Length")
                    return self.answer(411, b"length required\n")
                try:
                    request = ExportLogsServiceRequest()
                    request.ParseFromString(body)
                    lines = [json.dumps(r) for r in records(request, number)]
                except (DecodeError, ValueError) as e:
                    receiver.log_request(number, 400, 0, self.path, str(e))
                    return self.answer(400, f"cannot decode: {e}\n".encode())
                if number <= receiver.args.fail_first:
                    headers = []
                    if receiver.args.retry_after is not None:
                        headers.append(("Retry-After", str(receiver.args.retry_after)))
                    status = receiver.args.fail_status
                    receiver.log_request(number, status, len(lines), self.path, None)
                    return self.answer(status, b"try again later\n", headers=headers)
                for line in lines:
                    receiver.out.write(line + "\n")
                receiver.out.flush()
                receiver.log_request(number, 200, len(lines), self.path, None)
            self.answer(
                200,
                ExportLogsServiceResponse().SerializeToString(),
                content_type="application/x-protobuf",
            )

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--out", help="file the records are appended to (default stdout)")
    p.add_argument("--requests", help="file a line per request is appended to")
    p.add_argument("--fail-first", type=int, default=0, metavar="K")
    p.add_argument("--fail-status", type=int, default=503)
    p.add_argument("--retry-after", type=int, metavar="N")
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(Receiver(args)))
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
