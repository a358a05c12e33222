"""The committed generated code must match what `make proto` produces from the .proto files."""

from pathlib import Path

from protos.generate import REPO_ROOT, generate


def test_generated_code_is_fresh(tmp_path: Path):
    generate(tmp_path)
    fresh = sorted((tmp_path / "protos/mvstylizer/v1").glob("*_pb2*.py*"))
    assert fresh, "protoc produced nothing"
    stale = []
    for path in fresh:
        committed = REPO_ROOT / path.relative_to(tmp_path)
        if not committed.exists() or committed.read_bytes() != path.read_bytes():
            stale.append(str(committed.relative_to(REPO_ROOT)))
    assert not stale, f"generated code is stale, run `make proto`: {stale}"


def test_every_proto_field_is_commented():
    """The contract documents itself: each field and enum value has a comment line above it."""
    missing = []
    for proto in (REPO_ROOT / "protos/mvstylizer/v1").glob("*.proto"):
        lines = proto.read_text().splitlines()
        for number, line in enumerate(lines):
            stripped = line.strip()
            is_field = stripped.endswith(";") and "=" in stripped and not stripped.startswith(("syntax", "option"))
            if is_field and not lines[number - 1].strip().startswith("//"):
                missing.append(f"{proto.name}:{number + 1}: {stripped}")
    assert not missing, missing
