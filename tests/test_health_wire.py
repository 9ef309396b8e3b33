"""The hand-written health messages against grpcio-health-checking's generated ones."""

import pytest
from grpc_health.v1 import health_pb2
from healthprobes.probes import health_wire

Response = health_pb2.HealthCheckResponse


@pytest.mark.parametrize("service", ["", "a", "grpc.health.v1.Health", "ü" * 100, "x" * 300])
def test_check_request_matches_protobuf(service):
    expected = health_pb2.HealthCheckRequest(service=service).SerializeToString()
    assert health_wire.encode_check_request(service) == expected
    assert health_pb2.HealthCheckRequest.FromString(
        health_wire.encode_check_request(service)).service == service


@pytest.mark.parametrize("status", ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"])
def test_check_response_matches_protobuf(status):
    data = Response(status=Response.ServingStatus.Value(status)).SerializeToString()
    assert health_wire.decode_check_response(data) == status


def test_unknown_fields_and_future_statuses():
    # A newer server may add fields or statuses; neither may break the check.
    data = b"\x08\x01" + b"\x12\x03abc" + b"\x18\x96\x01" + b"\x25\x00\x00\x00\x00"
    assert health_wire.decode_check_response(data) == "SERVING"
    assert health_wire.decode_check_response(b"\x08\x07") == "UNKNOWN"


def test_list_response_matches_protobuf():
    statuses = {"": Response.SERVING, "a": Response.NOT_SERVING, "b": Response.UNKNOWN,
                "c.d": Response.SERVICE_UNKNOWN}
    data = health_pb2.HealthListResponse(statuses={
        name: Response(status=status) for name, status in statuses.items()}).SerializeToString()
    assert health_wire.decode_list_response(data) == {
        "": "SERVING", "a": "NOT_SERVING", "b": "UNKNOWN", "c.d": "SERVICE_UNKNOWN"}
    assert health_wire.encode_list_request() == health_pb2.HealthListRequest().SerializeToString()


@pytest.mark.parametrize("garbage", [b"\x08", b"\x0a\x05ab", b"\x0f", b"\x08\xff\xff\xff\xff"
                                     b"\xff\xff\xff\xff\xff\xff\xff"])
def test_malformed_bytes_raise_wire_error(garbage):
    with pytest.raises(health_wire.WireError):
        health_wire.decode_check_response(garbage)
