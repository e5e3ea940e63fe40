"""What a reviewer checks in docker-compose.yml, the Dockerfile and deploy/, without a Docker
engine (`docker compose config` cannot run here): the file is parsed with PyYAML."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from activities.stuck import TASK_PROBLEMS_AFTER
from repatriation import metrics
from repatriation.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
APP_SERVICES = ("migrate", "worker", "api")
EXPECTED = {"postgresql", "temporal", "temporal-init", "temporal-ui", "mailpit", *APP_SERVICES}
SECRET_KEY = re.compile(r"PASSWORD|PASSWD|PWD|SECRET|TOKEN|API_KEY|_KEYS$", re.IGNORECASE)
REFERENCE = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return [node] if isinstance(node, str) else []


def host_port(mapping: str) -> str | None:
    """The host side of a ports entry ("127.0.0.1:8025:8025" -> "8025"), None when unpublished."""
    parts = mapping.split(":")
    return parts[-2] if len(parts) >= 2 else None


def test_the_stack_has_every_service() -> None:
    assert EXPECTED <= SERVICES.keys()


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_pinned_image_or_a_build(name: str) -> None:
    service = SERVICES[name]
    assert "image" in service or "build" in service, f"{name}: neither image nor build"
    if "build" in service:
        return
    image = service["image"]
    if "@sha256:" in image:
        return
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    assert tag and tag != "latest", f"{name}: {image} is not pinned to a version"
    assert re.search(r"\d+\.\d+", tag), f"{name}: {image}: pin a release (major.minor at least)"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_health_check(name: str) -> None:
    check = SERVICES[name].get("healthcheck") or {}
    assert check.get("test") and not check.get("disable"), f"{name} has no health check"
    assert check["test"][0] in ("CMD", "CMD-SHELL"), f"{name}: health check is not a command"


def test_the_app_services_get_temporal_and_the_database() -> None:
    for name in APP_SERVICES:
        env = environment(SERVICES[name])
        assert (
            env.get("REPATRIATION_TEMPORAL_ADDRESS") == "${REPATRIATION_TEMPORAL_ADDRESS:-temporal:7233}"
        ), name
        url = env.get("REPATRIATION_DATABASE_URL", "")
        assert url.startswith("postgresql://") and "@postgresql:5432/" in url, name
        assert env.get("REPATRIATION_ENVIRONMENT") == "production", name
        assert env.get("REPATRIATION_DATA_DIR") == "/data", name
        assert "app-data:/data" in SERVICES[name]["volumes"], f"{name}: documents need the shared volume"


def test_the_database_url_names_the_database_the_init_script_creates() -> None:
    url = environment(SERVICES["worker"])["REPATRIATION_DATABASE_URL"]
    user, database = re.fullmatch(r"postgresql://(\w+):\$\{\w+:\?[^}]*\}@postgresql:5432/(\w+)", url).groups()  # type: ignore[union-attr]
    script = (ROOT / "deploy/postgres/init-databases.sh").read_text(encoding="utf-8")
    assert f"CREATE ROLE {user} LOGIN" in script
    assert f"CREATE DATABASE {database} OWNER {user}" in script
    temporal = environment(SERVICES["temporal"])
    assert f"CREATE ROLE {temporal['POSTGRES_USER']} LOGIN" in script
    for key in ("DBNAME", "VISIBILITY_DBNAME"):
        assert f"CREATE DATABASE {temporal[key]} OWNER {temporal['POSTGRES_USER']}" in script


def test_the_worker_scales() -> None:
    worker = SERVICES["worker"]
    assert "ports" not in worker, "a fixed host port stops --scale worker=N"
    assert "container_name" not in worker, "a container name stops --scale worker=N"
    assert "build" in worker
    assert worker["command"] == ["python", "worker.py"]


def test_the_worker_serves_its_metrics_on_the_port_prometheus_scrapes() -> None:
    address = environment(SERVICES["worker"])["REPATRIATION_METRICS_ADDRESS"]
    _, port = metrics.parse_address(address)
    assert str(port) in [str(p) for p in SERVICES["worker"]["expose"]]
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    assert jobs["repatriation-worker"]["dns_sd_configs"][0] == {
        "names": ["worker"],
        "type": "A",
        "port": port,
    }
    api_port = int(environment(SERVICES["api"])["REPATRIATION_HTTP_PORT"])
    assert jobs["repatriation-api"]["dns_sd_configs"][0] == {"names": ["api"], "type": "A", "port": api_port}
    for job in jobs.values():
        for target in job.get("static_configs", [{}])[0].get("targets", []):
            assert target.split(":")[0] in SERVICES


def test_the_api_serves_on_the_port_it_publishes() -> None:
    api = SERVICES["api"]
    env = environment(api)
    assert api["command"] == ["repatriation", "serve"]
    assert env["REPATRIATION_HTTP_HOST"] == "0.0.0.0"
    container_ports = [p.rsplit(":", 1)[-1] for p in api["ports"]]
    assert env["REPATRIATION_HTTP_PORT"] in container_ports
    assert env["REPATRIATION_HTTP_PORT"] in " ".join(api["healthcheck"]["test"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_repatriation_command_the_stack_runs_is_one_the_cli_has(name: str) -> None:
    """A command or health check calling a subcommand the CLI does not define would stop the
    container at its start (as `repatriation serve` once did, unregistered)."""
    from repatriation.cli import build_parser

    service = SERVICES[name]
    candidates = [service.get("command") or [], service["healthcheck"]["test"][1:]]
    called = [c for c in candidates if c and c[0] == "repatriation"]
    assert called, f"{name}: no repatriation command to check"
    for command in called:
        try:
            parsed = build_parser().parse_args(command[1:])
        except SystemExit:
            pytest.fail(f"{name}: `{' '.join(command)}` is not a command of the CLI")
        assert callable(parsed.func), command


def test_published_ports_do_not_collide() -> None:
    published = [host_port(p) for s in SERVICES.values() for p in s.get("ports", [])]
    assert len(published) == len(set(published)), published


def test_migrations_run_before_the_worker_and_the_api() -> None:
    assert SERVICES["migrate"]["command"] == ["repatriation", "db", "upgrade"]
    for name in ("worker", "api"):
        assert SERVICES[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert SERVICES["worker"]["depends_on"]["temporal-init"] == {
        "condition": "service_completed_successfully"
    }


def test_dependencies_name_services_that_exist() -> None:
    for name, service in SERVICES.items():
        for other in service.get("depends_on", {}):
            assert other in SERVICES, f"{name} depends on a service that does not exist: {other}"
            assert not set(SERVICES[other].get("profiles", [])) - set(service.get("profiles", [])), (
                f"{name} depends on {other}, which only starts with a profile"
            )


def test_named_volumes_are_declared_and_bind_mounts_exist() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    used = set()
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert used == declared, f"declared but unused: {declared - used}"


def test_no_literal_secrets() -> None:
    for name, service in SERVICES.items():
        for key, value in environment(service).items():
            if SECRET_KEY.search(key):
                match = REFERENCE.fullmatch(value)
                assert match, f"{name}: {key} must come from the environment (${{...}}), not the file"
                assert match.group(2) == "?", f"{name}: {key} must be required (${{{match.group(1)}:?...}})"
            for password in re.findall(r"://[^:/@\s]+:([^@\s]+)@", value):
                assert REFERENCE.fullmatch(password), f"{name}: {key} has a literal password"
                assert REFERENCE.fullmatch(password).group(2) == "?"  # type: ignore[union-attr]


def compose_references() -> list[tuple[str, str, str]]:
    """Every ${NAME}, ${NAME:-default} and ${NAME:?message} in the compose file (not in comments)."""
    return [ref for text in strings(COMPOSE) for ref in REFERENCE.findall(text)]


def test_every_required_variable_is_in_env_example() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?\s*(\w+)=", example, re.MULTILINE))
    for name, kind, _ in compose_references():
        if kind == "?":
            assert re.search(rf"^{name}=", example, re.MULTILINE), (
                f"{name} is required: add it to .env.example"
            )
        assert name in listed, f"{name} is read by docker-compose.yml: document it in .env.example"


def test_app_variables_are_settings_and_defaults_agree_with_settings_py() -> None:
    known = {f"REPATRIATION_{name.upper()}" for name in Settings.model_fields}
    for service in SERVICES.values():
        for name in environment(service):
            if name.startswith("REPATRIATION_"):
                assert name in known, f"{name} is not a setting of repatriation/settings.py"
    for name, kind, default in compose_references():
        assert not name.startswith("REPATRIATION_") or name in known, f"{name} is not a setting"
        field = name.removeprefix("REPATRIATION_").lower()
        if kind == "-" and name.startswith("REPATRIATION_") and field in Settings.model_fields:
            expected = Settings.model_fields[field].default
            if field in ("smtp_url", "temporal_address"):  # the stack's own Mailpit and Temporal
                continue
            assert str(default).lower() == str(expected).lower(), (
                f"docker-compose.yml defaults {name} to {default!r}, settings.py to {expected!r}"
            )


def test_search_attributes_registered_at_start_are_the_ones_the_workflow_upserts() -> None:
    source = (ROOT / "workflows/journey.py").read_text(encoding="utf-8")
    kinds = {"keyword": "Keyword", "bool": "Bool", "datetime": "Datetime", "int": "Int", "float": "Double"}
    upserted = {
        f"{name}={kinds[kind]}"
        for kind, name in re.findall(r'SearchAttributeKey\.for_(\w+)\("(\w+)"\)', source)
    }
    assert upserted, "no search attributes found in workflows/journey.py"
    script = (ROOT / "deploy/temporal/search-attributes.sh").read_text(encoding="utf-8")
    registered = set(re.search(r"for spec in ([^;]+);", script).group(1).split())  # type: ignore[union-attr]
    assert registered == upserted
    init = SERVICES["temporal-init"]
    assert any("search-attributes.sh" in v for v in init["volumes"])
    assert "search-attributes.sh" in " ".join(init["entrypoint"])
    assert environment(SERVICES["temporal"])["SKIP_ADD_CUSTOM_SEARCH_ATTRIBUTES"] == "true"


def test_temporal_has_updates_on_and_its_dynamic_config_mounted() -> None:
    temporal = SERVICES["temporal"]
    path = environment(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    assert any(v.split(":")[1].endswith(path) for v in temporal["volumes"])
    config = yaml.safe_load((ROOT / "deploy/temporal/dynamicconfig.yaml").read_text(encoding="utf-8"))
    assert config["frontend.enableUpdateWorkflowExecution"] == [{"value": True}]
    # The server flags a stalled workflow at the count the stuck sweep flags its case.
    key = "system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute"
    assert config[key] == [{"value": TASK_PROBLEMS_AFTER}]


def test_the_dockerfile_installs_the_fonts_and_the_app() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^FROM (\S+)", dockerfile, re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert re.search(r":\d+\.\d+\.\d+", base), f"pin the base image: {base}"
    fonts = re.search(r"RUNTIME_PACKAGES=\(([^)]*)\)", (ROOT / "dev").read_text(encoding="utf-8")).group(1)  # type: ignore[union-attr]
    for package in fonts.split():
        assert package in dockerfile, f"the Dockerfile does not install {package}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert re.search(rf"^COPY {package} {package}$", dockerfile, re.MULTILINE), f"COPY {package} missing"
    for module in project["tool"]["setuptools"].get("py-modules", []):
        assert f"{module}.py" in dockerfile
    assert "pip install ." in dockerfile
    assert re.search(r"^USER (?!root)\S+", dockerfile, re.MULTILINE), "run as an unprivileged user"
    assert 'CMD ["python", "worker.py"]' in dockerfile


def test_the_grafana_dashboard_queries_metrics_that_exist() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/repatriation.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs
    app = {m.name for m in metrics.REGISTRY.collect()}
    sdk = {  # the Temporal SDK's worker metrics the dashboard uses
        "temporal_activity_schedule_to_start_latency",
        "temporal_workflow_task_schedule_to_start_latency",
        "temporal_worker_task_slots_used",
        "temporal_activity_execution_latency",
        "temporal_activity_execution_failed",
        "temporal_workflow_task_execution_failed",
        "temporal_workflow_completed",
        "temporal_workflow_failed",
        "temporal_sticky_cache_size",
        "temporal_request",
    }
    for expr in exprs:
        for name in re.findall(r"\b((?:repatriation|temporal)_\w+)", expr):
            base = re.sub(r"_(bucket|count|sum|total)$", "", name)
            assert base in app | sdk, f"the dashboard queries {name}, which nothing exports"
    provisioning = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/repatriation.yml").read_text(encoding="utf-8")
    )
    mounted = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["grafana"]["volumes"] if v.startswith(".")}
    folder = provisioning["providers"][0]["options"]["path"]
    assert (ROOT / mounted[folder] / "repatriation.json").exists()
