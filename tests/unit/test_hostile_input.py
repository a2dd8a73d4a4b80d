"""Generated hostile input for every parser that takes bytes from outside (hypothesis).

Each parser may raise only its typed error; anything else escaping fails the test. Listed:

| parser | input from | may raise |
|---|---|---|
| ``ingest.protocol.parse_hello`` | a client's first message | ProtocolError |
| ``ingest.protocol.parse_text`` | a client's text message | ProtocolError, UnknownMessage |
| ``FrameSerializer.headers_from_kafka`` / ``FRAMES.serializer.loads`` | Kafka | ContractError |
| ``processors.vision.imaging.decode_frame`` | a frame's JPEG | BadImageError |
| ``processors.decide.policy_file.parse_policy`` | the policy file | PolicyError |
| ``vigil.core.settings.load_settings`` | the TOML settings file | SettingsError |

The ``@example`` cases are the inputs that escaped before (RecursionError, ValueError,
TOMLDecodeError, UnicodeDecodeError). Bounded for a 2-core CI: a few hundred examples each.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import get_args

import cv2
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ingest.protocol import Hello, ProtocolError, UnknownMessage, parse_hello, parse_text
from processors.decide.policy_file import PolicyError, parse_policy
from processors.vision.imaging import BadImageCode, BadImageError, decode_frame
from schemas.events import FrameHeaders, Reason
from schemas.serializers import ContractError, FrameSerializer
from vigil.core.flow import FRAMES
from vigil.core.settings import Settings, SettingsError, flat_names, load_settings

BOUNDED = settings(max_examples=150, deadline=3000, database=None,
                   suppress_health_check=[HealthCheck.too_slow])
DEEP_JSON = "[" * 100_000
HUGE_INT = "1" * 5000

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=40))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                           max_leaves=12)


# --- the protocol -------------------------------------------------------------------------
hello_fields = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["hello", "frame", "Hello", ""]) | json_values,
    "protocol": st.sampled_from([1, 1.0, True, "1", 2]) | json_values,
    "client_id": st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,130}", fullmatch=True)
    | json_values,
    "token": st.text(max_size=600) | json_values,
})
messages = st.one_of(hello_fields.map(json.dumps), json_values.map(json.dumps),
                     st.text(max_size=200), st.binary(max_size=200))


@BOUNDED
@given(messages)
@example(DEEP_JSON)
@example('{"type": "hello", "protocol": ' + HUGE_INT + "}")
@example('{"type": "hello", "protocol": 1, "client_id": "a", "token": "\\ud800"}')
def test_hello_parser_raises_only_protocol_error(raw: str | bytes) -> None:
    try:
        hello = parse_hello(raw)
    except ProtocolError:
        return
    assert isinstance(hello, Hello) and hello.token and len(hello.client_id) <= 128


def test_a_well_formed_hello_parses() -> None:  # the property above is not vacuous
    raw = json.dumps({"type": "hello", "protocol": 1, "client_id": "a.b-c", "token": "t"})
    assert parse_hello(raw) == Hello("a.b-c", "t")


frame_messages = st.fixed_dictionaries({"type": st.just("frame")}, optional={
    "seq": st.integers() | json_values, "captured_at": st.integers() | json_values,
}).map(json.dumps)


@BOUNDED
@given(st.one_of(frame_messages, messages.filter(lambda m: isinstance(m, str))))
@example(DEEP_JSON)
@example('{"type": "frame", "seq": ' + HUGE_INT + ', "captured_at": 1}')
def test_text_parser_raises_only_protocol_error_or_unknown_message(raw: str) -> None:
    try:
        info = parse_text(raw)
    except (ProtocolError, UnknownMessage):
        return
    assert info.seq >= 0 and info.captured_at >= 0


# --- frame headers ------------------------------------------------------------------------
VALID_HEADERS = {"frame_id": "f-1", "client_id": "alice", "session_id": "s-1", "seq": "3",
                 "captured_at": "1700000000000", "received_at": "1700000000010",
                 "content_type": "image/jpeg", "schema_version": "1"}
header_names = st.sampled_from(sorted(FrameHeaders.model_fields)) | st.text(max_size=16)
header_values = st.one_of(st.none(), st.binary(max_size=40), st.text(max_size=40),
                          st.integers().map(str), st.sampled_from(["²", "\u0661", HUGE_INT, ""]))
header_lists = st.lists(st.tuples(header_names, header_values), max_size=12)
# Valid headers with one to three values replaced: mostly near-valid, some valid.
near_valid = st.dictionaries(st.sampled_from(sorted(VALID_HEADERS)), header_values,
                             max_size=3).map(lambda bad: list({**VALID_HEADERS, **bad}.items()))


@BOUNDED
@given(st.one_of(header_lists, near_valid, st.dictionaries(header_names, header_values)))
@example([("schema_version", "²")])
@example([*VALID_HEADERS.items(), ("schema_version", HUGE_INT)])
def test_frame_headers_raise_only_contract_error(headers: object) -> None:
    try:
        parsed = FrameSerializer.headers_from_kafka(headers)  # type: ignore[arg-type]
    except ContractError:
        return
    assert isinstance(parsed, FrameHeaders)


@BOUNDED
@given(near_valid, st.binary(max_size=64) | st.none())
def test_frames_loads_raises_only_contract_error(headers: list[tuple[str, object]],
                                                 value: bytes | None) -> None:
    try:
        frame = FRAMES.serializer.loads(value, headers)  # type: ignore[arg-type]
    except ContractError:
        return
    assert frame.jpeg == value


def test_valid_frame_headers_parse() -> None:
    assert FrameSerializer.headers_from_kafka(list(VALID_HEADERS.items())).seq == 3


# --- JPEG decode --------------------------------------------------------------------------
def _sample_jpeg() -> bytes:
    y, x = np.mgrid[0:48, 0:64]
    image = np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.uint8)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert ok
    return buffer.tobytes()


JPEG = _sample_jpeg()
MAX_PIXELS = 320 * 240


def _flip(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for position, mask in flips:
        out[position % len(out)] ^= mask
    return bytes(out)


def _segment(marker: int, payload: bytes, length: int | None = None) -> bytes:
    size = len(payload) + 2 if length is None else length
    return bytes([0xFF, marker]) + (size % 65536).to_bytes(2, "big") + payload


sof = st.builds(lambda h, w: _segment(0xC0, b"\x08" + h.to_bytes(2, "big") + w.to_bytes(2, "big")
                                      + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"),
                st.integers(0, 65535), st.integers(0, 65535))
segments = st.one_of(sof, st.builds(_segment, st.integers(0, 255), st.binary(max_size=30),
                                    st.none() | st.integers(0, 70000)))
jpegs = st.one_of(
    st.binary(max_size=300),
    st.integers(0, len(JPEG)).map(lambda n: JPEG[:n]),
    st.lists(st.tuples(st.integers(0, len(JPEG) - 1), st.integers(1, 255)), min_size=1,
             max_size=8).map(lambda flips: _flip(JPEG, flips)),
    st.tuples(st.integers(2, len(JPEG)), st.binary(max_size=200)).map(
        lambda cut: JPEG[:cut[0]] + cut[1]),
    st.lists(segments, max_size=6).map(lambda parts: b"\xff\xd8" + b"".join(parts)
                                       + b"\xff\xda\x00\x02" + bytes(40) + b"\xff\xd9"),
)


@BOUNDED
@given(jpegs)
@example(b"\xff\xd8" + _segment(0xC0, b"\x08\xff\xff\xff\xff\x03") + b"\xff\xd9")
@example(b"\xff\xd8" + _segment(0xE0, b"", length=0) * 3 + b"\xff\xd9")
@example(JPEG[:len(JPEG) // 2])
def test_decode_raises_only_bad_image_and_never_passes_the_pixel_limit(data: bytes) -> None:
    try:
        image = decode_frame(data, max_pixels=MAX_PIXELS)
    except BadImageError as exc:
        assert exc.code in get_args(BadImageCode)
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[0] * image.shape[1] <= MAX_PIXELS


def test_two_frame_headers_cannot_smuggle_a_large_image() -> None:
    small = b"\x08\x00\x20\x00\x20\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    large = b"\x08\x3a\x98\x3a\x98\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    soi_end = JPEG.index(b"\xff\xc0")
    crafted = JPEG[:soi_end] + _segment(0xC0, large) + _segment(0xC0, small) + JPEG[soi_end:]
    with pytest.raises(BadImageError):
        decode_frame(crafted, max_pixels=MAX_PIXELS)
    assert decode_frame(JPEG, max_pixels=MAX_PIXELS).shape == (48, 64, 3)


# --- the policy file ----------------------------------------------------------------------
REASONS = [r.value for r in Reason if r is not Reason.OK]
policy_scalars = st.one_of(scalars, st.floats(), st.sampled_from(
    ["lock_screen", "sign_out", "block", "allow", "1", "v2"]))
policy_docs = st.fixed_dictionaries({}, optional={
    "version": policy_scalars,
    "thresholds": st.dictionaries(st.sampled_from(["liveness", "verify", "phone", "x"]),
                                  policy_scalars, max_size=4) | policy_scalars,
    "actions": st.dictionaries(st.sampled_from([*REASONS, "ok", "x"]), policy_scalars,
                               max_size=4),
    "debounce": st.dictionaries(st.sampled_from([*REASONS, "x"]), policy_scalars, max_size=3),
    "escalation": st.dictionaries(st.sampled_from(["sign_outs", "window_s", "x"]),
                                  policy_scalars, max_size=3),
    "extra": policy_scalars,
})
SETTINGS = load_settings(state_dir=Path(tempfile.gettempdir()) / "vigil-hostile")


@BOUNDED
@given(st.one_of(policy_docs.map(yaml.safe_dump), st.text(max_size=300)))
@example("[" * 1100)  # just past the recursion limit: PyYAML takes about 1 s
@example("version: a\ndebounce: {spoof: " + HUGE_INT + "}")
@example("a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
         "version: [*d, *d, *d, *d, *d, *d, *d, *d]\n")
def test_policy_file_raises_only_policy_error(text: str) -> None:
    try:
        policy = parse_policy(text, SETTINGS, "fuzzed.yaml")
    except PolicyError as exc:
        assert "fuzzed.yaml" in str(exc) and len(str(exc)) < 2000
        return
    assert 0.0 <= policy.liveness_threshold <= 1.0 and "@" in policy.version


# --- the settings file --------------------------------------------------------------------
def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)  # a basic string: JSON's escapes are TOML's


bare_keys = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)
toml_values = st.recursive(
    st.one_of(st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=30)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(bare_keys, inner, max_size=3),
    max_leaves=6)
setting_keys = st.sampled_from(sorted(flat_names()) + sorted(Settings.model_fields)) | bare_keys
toml_docs = st.dictionaries(setting_keys, toml_values, max_size=6).map(
    lambda doc: "".join(f"{k} = {_toml(v)}\n" for k, v in doc.items()).encode())


@BOUNDED
@given(st.one_of(toml_docs, st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
@example(b"x = = 1")
@example(b"\xff\xfe = 1")
@example(b"partitions = " + b"[" * 3000)
def test_settings_file_raises_only_settings_error(document: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vigil.toml"
        path.write_bytes(document)
        try:
            loaded = load_settings(path)
        except SettingsError:
            return
    assert isinstance(loaded, Settings)
