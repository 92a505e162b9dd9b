"""``POST /v1/traces``: OTLP/HTTP traces from any OpenTelemetry SDK or collector.

Protobuf (``application/x-protobuf``) or JSON (``application/json``), optionally gzip.
Replies follow the OTLP/HTTP specification rather than the envelope: an
``ExportTraceServiceResponse`` on success, a ``google.rpc.Status`` on failure, each
encoded like the request; 429 and 503 carry ``Retry-After`` (OTLP exporters honour it).
"""

from __future__ import annotations

from fastapi import APIRouter
from google.protobuf import json_format  # type: ignore[import-untyped]
from google.rpc import code_pb2, status_pb2  # type: ignore[import-untyped]
from starlette.requests import Request
from starlette.responses import Response

from moxtrace.server.body import read_body
from moxtrace.server.errors import ApiError
from moxtrace.server.offload import off_loop
from moxtrace.server.otlp import decode_json, decode_protobuf, export_response, request_to_events
from moxtrace.server.services import services_of

__all__ = ["router"]

router = APIRouter(tags=["otlp"])

_PROTOBUF = frozenset({"application/x-protobuf", "application/protobuf"})
_GRPC_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    413: code_pb2.INVALID_ARGUMENT,
    415: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
}


def _status_response(error: ApiError, json_reply: bool) -> Response:
    status = status_pb2.Status(
        code=_GRPC_CODES.get(error.status_code, code_pb2.UNKNOWN), message=error.message
    )
    if json_reply:
        body = json_format.MessageToJson(status, indent=None).encode()
        media_type = "application/json"
    else:
        body, media_type = status.SerializeToString(), "application/x-protobuf"
    return Response(body, error.status_code, headers=error.headers, media_type=media_type)


@router.post(
    "/v1/traces",
    summary="OTLP/HTTP trace export (protobuf or JSON, gzip allowed)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def export_traces(request: Request) -> Response:
    """Store every span of an ``ExportTraceServiceRequest``, all or nothing."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    json_request = media_type == "application/json"
    try:
        if not json_request and media_type not in _PROTOBUF:
            raise ApiError(
                415,
                "unsupported_media_type",
                f"Content-Type {media_type or 'missing'!r}: use application/x-protobuf "
                "or application/json",
            )
        services = services_of(request)
        tenant = await services.auth.authenticate(request)
        services.check_rate(tenant)
        async with services.gate.slot():
            body = await read_body(request, services.settings.max_body_bytes)
            decode = decode_json if json_request else decode_protobuf
            events = await off_loop(len(body), lambda: request_to_events(decode(body)))
            await services.ingestor.ingest(tenant, events)
    except ApiError as error:
        return _status_response(error, json_request)
    payload, reply_type = export_response(json_request)
    return Response(payload, 200, media_type=reply_type)
