"""The page's protobuf code (client/browser/gen/, bundled in dist/messages.js) speaks the v1 messages
exactly as the Python stubs do: same descriptors, and bytes that cross between the two unchanged."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from protos.mvstylizer.v1 import media_pb2, stylizer_pb2
from tests.client.browser.jsbridge import NODE, require_node

BROWSER = Path(__file__).resolve().parents[3] / "client" / "browser"
GENERATED = BROWSER / "gen" / "protos" / "mvstylizer" / "v1"


@pytest.mark.parametrize("module", [media_pb2, stylizer_pb2], ids=["media", "stylizer"])
def test_generated_js_carries_the_protos_descriptors(module):
    """A proto changed without `make web` fails here."""
    name = Path(module.DESCRIPTOR.name).stem
    for source in (GENERATED / f"{name}_pb.js", BROWSER / "dist" / "messages.js"):
        found = re.findall(r'"([A-Za-z0-9+/_-]{200,})"', source.read_text())  # fileDesc's argument
        embedded = [
            descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(b + "=" * (-len(b) % 4))) for b in found
        ]
        expected = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(expected)
        del expected.dependency[:]  # protoc-gen-es links dependencies as JS imports instead
        assert expected in embedded, f"{source.name} is stale: run make web"


ROUND_TRIP_JS = """
import * as m from %(bundle)s;
const response = m.fromBinary(m.StylizeResponseSchema, Buffer.from(process.argv[1], 'hex'));
const answer = response.kind.value;
const request = m.create(m.StylizeRequestSchema, { kind: { case: 'keyFrame', value: {
  index: answer.index + 1n, pts: answer.pts, image: { ...answer.image, width: answer.image.width + 1 } } } });
const config = m.create(m.StylizeRequestSchema, { kind: { case: 'config', value: {
  style: { encoding: m.FrameEncoding.JPEG, data: new Uint8Array([255, 216]) }, strength: 0.25, model: 'x' } } });
console.log(Buffer.from(m.toBinary(m.StylizeRequestSchema, request)).toString('hex'));
console.log(Buffer.from(m.toBinary(m.StylizeRequestSchema, config)).toString('hex'));
"""


def test_the_bundle_reads_and_writes_the_bytes_python_does():
    require_node()
    image = media_pb2.EncodedImage(encoding=media_pb2.FRAME_ENCODING_JPEG, data=bytes(range(256)), width=7, height=5)
    answer = stylizer_pb2.StylizeResponse(
        key_frame=stylizer_pb2.StylizedKeyFrame(index=2**40 + 3, pts=-9, image=image)
    ).SerializeToString()
    script = ROUND_TRIP_JS % {"bundle": repr((BROWSER / "dist" / "messages.js").as_uri())}
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", script, answer.hex()], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    key_hex, config_hex = done.stdout.split()
    key = stylizer_pb2.StylizeRequest.FromString(bytes.fromhex(key_hex)).key_frame
    assert (key.index, key.pts, key.image.data, key.image.width) == (2**40 + 4, -9, bytes(range(256)), 8)
    config = stylizer_pb2.StylizeRequest.FromString(bytes.fromhex(config_hex)).config
    assert config.HasField("strength") and config.strength == pytest.approx(0.25)
    assert (config.model, config.style.data) == ("x", b"\xff\xd8")
