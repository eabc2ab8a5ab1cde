#!/usr/bin/env python3
"""A stand-in OpenTelemetry collector for the tour: listens on loopback, accepts OTLP/HTTP posts
to /v1/traces and writes one line per post (path, content type, bytes) to the file it is given.

    otlp_sink.py PORTFILE LOGFILE

PORTFILE receives the port it bound. It checks only what the exporter must send (a POST of
protobuf to /v1/traces); it does not decode spans.
"""
import http.server
import sys


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the name http.server calls
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with open(sys.argv[2], "a") as log:
            log.write(f"{self.path} {self.headers.get('Content-Type')} {len(body)}\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
with open(sys.argv[1], "w") as port_file:
    port_file.write(str(server.server_address[1]))
server.serve_forever()
