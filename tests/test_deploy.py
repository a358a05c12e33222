"""docker-compose.yml and the Dockerfile, checked against the code (Docker itself does not run here)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from client.cli import build_parser as client_parser
from client.remote.embedded import REPO_ROOT
from mvstylizer_common.healthcheck import check
from services.interpolator.__main__ import build_parser as interpolator_parser
from services.interpolator.server import SERVICE_NAME as INTERPOLATOR_SERVICE
from services.stylizer.__main__ import build_parser as stylizer_parser
from services.stylizer.server import SERVICE_NAME as STYLIZER_SERVICE

MODULES = {
    "services.stylizer": (stylizer_parser, STYLIZER_SERVICE),
    "services.interpolator": (interpolator_parser, INTERPOLATOR_SERVICE),
    "client": (client_parser, None),
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def parsed_command(service: dict):
    command = service["command"]
    assert command[:2] == ["python", "-m"], command
    module = command[2]
    assert module in MODULES, f"unknown module {module}"
    parser, service_name = MODULES[module]
    return module, parser().parse_args(command[3:]), service_name  # SystemExit here = a bad flag


def container_ports(service: dict) -> set[int]:
    return {int(str(mapping).split(":")[-1]) for mapping in service.get("ports", [])}


def test_every_command_runs_a_real_module_with_valid_flags(compose):
    for name, service in compose["services"].items():
        module, args, _ = parsed_command(service)
        if module.startswith("services."):
            assert args.host == "0.0.0.0", f"{name} must listen beyond the container's loopback"


def test_ports_and_health_checks_match_the_servers(compose):
    for name, service in compose["services"].items():
        _, args, service_name = parsed_command(service)
        if service_name is None:
            continue
        assert container_ports(service) == {args.port}, name
        test = service["healthcheck"]["test"]
        assert test[:4] == ["CMD", "python", "-m", "mvstylizer_common.healthcheck"], name
        assert test[4] == f"127.0.0.1:{args.port}" and test[5] == service_name, name


def test_gpu_and_cpu_stylizers(compose):
    services = compose["services"]
    _, gpu, _ = parsed_command(services["stylizer"])
    _, cpu, _ = parsed_command(services["stylizer-cpu"])
    assert gpu.device == "cuda" and cpu.device == "cpu"
    devices = services["stylizer"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert services["stylizer"]["profiles"] == ["gpu"] and services["stylizer-cpu"]["profiles"] == ["cpu"]
    assert "stylizer" in services["stylizer-cpu"]["networks"]["default"]["aliases"]


def test_the_demo_client_reaches_the_services_it_waits_for(compose):
    services = compose["services"]
    _, args, _ = parsed_command(services["demo"])
    assert args.command == "demo"
    names = {alias for name, s in services.items() for alias in [name, *_aliases(s)]}
    for target in (args.stylizer, args.interpolator):
        host, port = target.split(":")
        assert host in names, target
        servers = [n for n in services if n == host or host in _aliases(services[n])]
        for server in servers:
            assert container_ports(services[server]) == {int(port)}
            assert services["demo"]["depends_on"][server]["condition"] == "service_healthy"


def _aliases(service: dict) -> list[str]:
    return service.get("networks", {}).get("default", {}).get("aliases", [])


def test_the_dockerfile_ships_what_the_commands_import_and_exposes_their_ports(compose):
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+) ", dockerfile, re.MULTILINE))
    for package in ("mvstylizer_common", "protos", "services", "client"):
        assert package in copied
    exposed = {int(p) for p in re.findall(r"^EXPOSE (.+)$", dockerfile, re.MULTILINE)[0].split()}
    served = set().union(*(container_ports(s) for s in compose["services"].values()))
    assert served <= exposed
    for service in compose["services"].values():
        requirements = service["build"].get("args", {}).get("REQUIREMENTS", "requirements.txt")
        assert (REPO_ROOT / requirements).is_file()
    assert re.search(r"^torch==", (REPO_ROOT / "requirements.txt").read_text(), re.MULTILINE)


def test_health_probe_against_a_real_server(stylizer_address):
    assert check(stylizer_address, STYLIZER_SERVICE) == "SERVING"
    assert check(stylizer_address, "") == "SERVING"
    assert check(stylizer_address, "no.such.Service") == "NOT_FOUND"
    probe = [sys.executable, "-m", "mvstylizer_common.healthcheck"]
    ok = subprocess.run([*probe, stylizer_address, STYLIZER_SERVICE], cwd=REPO_ROOT, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip() == "SERVING"
    unknown = subprocess.run([*probe, stylizer_address, "no.such.Service"], cwd=REPO_ROOT, capture_output=True)
    assert unknown.returncode == 1


def test_health_probe_fails_when_nothing_listens():
    assert check("127.0.0.1:1", timeout=1.0) in {"UNAVAILABLE", "DEADLINE_EXCEEDED"}


def test_compose_file_is_where_the_readme_says(compose):
    assert Path(REPO_ROOT / "docker-compose.yml").is_file() and set(compose["services"]) >= {
        "stylizer",
        "stylizer-cpu",
        "interpolator",
        "demo",
    }
