"""The grpc.health.v1 messages in protobuf wire format, without the protobuf runtime.

Importing protobuf and the generated health_pb2 costs about 24 ms here, an eighth of a
whole check run, for messages that are one string or one enum (and a map for List).
Their wire form is fixed by proto3 and is encoded and decoded here; the tests compare
every function with grpcio-health-checking's generated health_pb2.

    HealthCheckRequest  { string service = 1; }
    HealthCheckResponse { ServingStatus status = 1; }
    HealthListRequest   { }
    HealthListResponse  { map<string, HealthCheckResponse> statuses = 1; }
"""

STATUS_NAMES = ("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class WireError(ValueError):
    """The bytes are not a well-formed message."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while position < len(data):
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift > 63:
            break
    raise WireError("truncated or overlong varint")


def fields(data: bytes):
    """Yield (field number, wire type, value) for each field; unknown ones included."""
    position = 0
    while position < len(data):
        key, position = _read_varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            value, position = _read_varint(data, position)
        elif wire_type == _LEN:
            length, position = _read_varint(data, position)
            if position + length > len(data):
                raise WireError("length-delimited field runs past the end")
            value, position = data[position:position + length], position + length
        elif wire_type in (_I64, _I32):
            width = 8 if wire_type == _I64 else 4
            if position + width > len(data):
                raise WireError("fixed-width field runs past the end")
            value, position = data[position:position + width], position + width
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        yield number, wire_type, value


def encode_check_request(service: str) -> bytes:
    if not service:
        return b""  # proto3 leaves a default-valued field out
    raw = service.encode("utf-8")
    return b"\x0a" + _varint(len(raw)) + raw


def encode_list_request() -> bytes:
    return b""


def decode_check_response(data: bytes) -> str:
    """The status name; a number this version does not know reads as UNKNOWN."""
    status = 0  # absent means the default, UNKNOWN
    for number, wire_type, value in fields(data):
        if number == 1 and wire_type == _VARINT:
            status = value
    return STATUS_NAMES[status] if status < len(STATUS_NAMES) else "UNKNOWN"


def decode_list_response(data: bytes) -> dict[str, str]:
    statuses: dict[str, str] = {}
    for number, wire_type, entry in fields(data):
        if number != 1 or wire_type != _LEN:
            continue
        name, answer = "", b""
        for key, key_type, value in fields(entry):
            if key == 1 and key_type == _LEN:
                name = value.decode("utf-8", "replace")
            elif key == 2 and key_type == _LEN:
                answer = value
        statuses[name] = decode_check_response(answer)
    return statuses
