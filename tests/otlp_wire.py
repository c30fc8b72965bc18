"""OTLP as a collector reads it, for tests: OTLP/JSON parsed with opentelemetry-proto, and a loopback OTLP/HTTP
endpoint that decodes each ExportTraceServiceRequest it receives."""

import base64
import copy
import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _ids_to_base64(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ID_FIELDS and isinstance(item, str):
                value[key] = base64.b64encode(bytes.fromhex(item)).decode()
            else:
                _ids_to_base64(item)
    elif isinstance(value, list):
        for item in value:
            _ids_to_base64(item)


def parse_otlp_json(document: dict) -> ExportTraceServiceRequest:
    """OTLP/JSON into the proto message: hex ids back to bytes (the one OTLP/JSON difference), then protobuf's
    JSON parser, which refuses unknown fields and malformed values."""
    document = copy.deepcopy(document)
    _ids_to_base64(document)
    return json_format.ParseDict(document, ExportTraceServiceRequest())


def spans_of(request: ExportTraceServiceRequest) -> list:
    return [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]


def attributes_of(span) -> dict:
    """A proto span's (or resource's) attributes as plain values."""
    values = {}
    for kv in span.attributes:
        kind = kv.value.WhichOneof("value")
        value = getattr(kv.value, kind)
        if kind == "array_value":
            value = [getattr(v, v.WhichOneof("value")) for v in value.values]
        values[kv.key] = value
    return values


class OtlpReceiver:
    """A loopback OTLP/HTTP endpoint (protobuf): records every request it decodes. The attempts numbered in
    `failing` (1 is the first request) are refused with `fail_status` (400: the exporter does not retry it)."""

    def __init__(self, failing=(), fail_status: int = 400):
        self.requests: list[ExportTraceServiceRequest] = []
        self.headers: list[dict] = []
        self.failing = set(failing)
        self.fail_status = fail_status
        self.attempts = 0
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                with receiver.changed:
                    receiver.attempts += 1
                    failing = receiver.attempts in receiver.failing
                    if not failing:
                        receiver.requests.append(ExportTraceServiceRequest.FromString(body))
                        receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                    receiver.changed.notify_all()
                answer = b"" if failing else ExportTraceServiceResponse().SerializeToString()
                self.send_response(receiver.fail_status if failing else 200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def spans(self) -> list:
        return [span for request in self.requests for span in spans_of(request)]

    def wait_for(self, requests: int, timeout: float = 10.0) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.requests) >= requests, timeout):
                raise AssertionError(f"{len(self.requests)} OTLP requests received, {requests} expected")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
