"""deploy/: the docker-compose, Kubernetes and OpenTelemetry Collector files, checked
against the code that will run them.

There is no container engine here, so nothing in deploy/ is started. Instead every file
is parsed, and every moxtrace command line in it goes through the real ``moxtrace``
argument parser, every ``MOXN_*``/``OTEL_*`` variable is looked up in the settings
classes, the settings are built from both (as the CLI builds them, validators included),
the plugin chains the collectors mount are loaded with ``load_plugins``, the sinks are
parsed, and every address, port, topic and health route is matched against the service,
container or route it points at. Images are pinned to the versions the test suite runs
(Kafka from deploy/kafka/pom.xml, Phoenix from deploy/phoenix/install.sh, moxtrace from
pyproject.toml).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
import yaml

from moxtrace.cli import build_parser
from moxtrace.pipeline.config import load_plugins
from moxtrace.settings import Settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "compose" / "compose.yaml"
DOCKERFILE = DEPLOY / "compose" / "Dockerfile"
K8S = DEPLOY / "k8s"
OTELCOL_FILE = DEPLOY / "otelcol" / "otelcol.yaml"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
MOXTRACE_IMAGE = re.compile(r"^(?:.*/)?moxtrace:(?P<tag>[^/]+)$")
OTELCOL_ENV = re.compile(r"\$\{env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
K8S_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
TOPIC_CREATE = re.compile(r"--topic\s+(?P<topic>\S+)\s+--partitions\s+(?P<partitions>\d+)")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


# -- what the code knows -------------------------------------------------------------------


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:  # argparse keeps its subparsers here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("moxtrace's parser has no subcommands")


def require_subcommand(name: str) -> None:
    if name not in subcommands():
        pytest.fail(
            f"`moxtrace {name}` does not exist in moxtrace/cli.py (subcommands: "
            f"{', '.join(sorted(subcommands()))}), but deploy/ runs it: the deploy files "
            "cannot be checked until it does",
            pytrace=False,
        )


def parse_cli(args: list[str], where: str) -> argparse.Namespace:
    """``args`` through moxtrace's real parser; a clear failure if it rejects them."""
    if args:
        require_subcommand(args[0])
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            return build_parser().parse_args(args)
        except SystemExit:
            pass
    pytest.fail(
        f"{where}: `moxtrace {shlex.join(args)}` is rejected by the CLI: "
        f"{stderr.getvalue().strip()}",
        pytrace=False,
    )


def settings_classes() -> dict[str, type[Any]]:
    from moxtrace.pipeline.settings import CollectorSettings
    from moxtrace.server.settings import ServerSettings

    return {"serve": ServerSettings, "collector": CollectorSettings, "keys": ServerSettings}


def env_names(cls: type[Any]) -> set[str]:
    """The environment variables a pydantic-settings class reads."""
    prefix = cls.model_config.get("env_prefix", "")
    names: set[str] = set()
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias
        if alias is None:
            names.add((prefix + field_name).upper())
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.update(str(choice).upper() for choice in alias.choices)
    return names


def known_env() -> set[str]:
    """Every MOXN_* and OTEL_* variable moxtrace or the OpenTelemetry SDK reads."""
    import opentelemetry.environment_variables as api_env
    import opentelemetry.sdk.environment_variables as sdk_env

    names = env_names(Settings)
    for cls in settings_classes().values():
        names |= env_names(cls)
    for module in (api_env, sdk_env):
        names.update(
            value
            for key, value in vars(module).items()
            if key.isupper() and isinstance(value, str) and value.startswith("OTEL_")
        )
    return names


def check_env(env: Mapping[str, str], where: str) -> None:
    known = known_env()
    for name in env:
        if name.startswith(("MOXN_", "OTEL_")):
            assert name in known, f"{where}: {name} is not a setting of moxtrace (nor of OTel)"


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Exactly these MOXN_*/OTEL_* variables set (the container's view)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("MOXN_", "OTEL_")):
                patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        yield


def build_settings(
    args: list[str], env: Mapping[str, str], where: str, *, config: Path | None = None
) -> Any:
    """The settings ``moxtrace <args>`` would run with in that environment.

    Built as the CLI builds them (flags over ``MOXN_*`` variables); for a collector the
    plugin chain is loaded (from ``config``, the file mounted at its ``--config`` path)
    and the sinks are parsed, as ``moxtrace collector`` does before it starts.
    """
    namespace = parse_cli(args, where)
    cls = settings_classes()[args[0]]
    given = {
        key: value
        for key, value in vars(namespace).items()
        if key in cls.model_fields and value is not None
    }
    with environment(env):
        try:
            settings = cls(**given)
        except ValueError as exc:
            pytest.fail(f"{where}: `moxtrace {shlex.join(args)}`: invalid settings: {exc}")
        if args[0] == "collector":
            from moxtrace.pipeline.run import build_sinks

            build_sinks(settings)
            if settings.config is not None:
                assert config is not None, f"{where}: --config {settings.config} is not mounted"
                load_plugins(config)
    return settings


def server_routes() -> set[str]:
    from moxtrace.server.routes.health import router

    return {getattr(route, "path", "") for route in router.routes}


def collector_routes() -> set[str]:
    from moxtrace.pipeline.receiver import HttpListener

    listener = HttpListener(cast(Any, None), "127.0.0.1", 0)
    return {getattr(route, "path", "") for route in listener.app.routes}


def kafka_version() -> str:
    match = re.search(
        r"<kafka\.version>([^<]+)</kafka\.version>", (DEPLOY / "kafka" / "pom.xml").read_text()
    )
    assert match is not None
    return match.group(1)


def phoenix_version() -> str:
    match = re.search(
        r'^PHOENIX_VERSION="([^"]+)"', (DEPLOY / "phoenix" / "install.sh").read_text(), re.M
    )
    assert match is not None
    return match.group(1)


def image_tag(image: str) -> str:
    return image.rsplit(":", 1)[1]


def topic_url(url: str) -> Any:
    from moxtrace.pipeline.topic import KafkaTopicUrl

    return KafkaTopicUrl.parse(url)


# -- every file ----------------------------------------------------------------------------


def test_every_yaml_file_in_deploy_parses() -> None:
    files = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    assert {COMPOSE_FILE, OTELCOL_FILE, K8S / "kustomization.yaml"} <= set(files)
    for path in files:
        try:
            documents = load_all(path)
        except yaml.YAMLError as exc:
            pytest.fail(f"{rel(path)} is not valid YAML: {exc}")
        assert documents, f"{rel(path)} is empty"
        assert all(isinstance(doc, dict) for doc in documents), f"{rel(path)}: not mappings"


def test_the_cli_has_every_subcommand_the_deploy_files_run() -> None:
    for name in ("serve", "collector", "keys"):
        require_subcommand(name)


# -- docker compose ------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    data = load(COMPOSE_FILE)
    assert isinstance(data.get("services"), dict), "compose.yaml has no services"
    return cast(dict[str, Any], data)


def service_env(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def service_command(service: Mapping[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def moxtrace_services() -> dict[str, dict[str, Any]]:
    found = {
        name: service
        for name, service in compose()["services"].items()
        if MOXTRACE_IMAGE.match(str(service.get("image", "")))
    }
    assert {"ingest", "collector", "keys"} <= set(found)
    return found


def mounted(service: Mapping[str, Any], container_path: str) -> Path | None:
    """The host file a compose volume mounts at ``container_path``."""
    for volume in service.get("volumes") or ():
        source, _, rest = str(volume).partition(":")
        target = rest.split(":")[0]
        if target == container_path and source.startswith("."):
            return (COMPOSE_FILE.parent / source).resolve()
    return None


def published(service: Mapping[str, Any]) -> set[int]:
    """Container ports a compose service publishes."""
    ports = set()
    for entry in service.get("ports") or ():
        container = str(entry).rsplit(":", 1)[-1].split("/")[0]
        ports.add(int(container))
    return ports


def healthcheck_port(service: Mapping[str, Any]) -> tuple[int, str]:
    test = " ".join(map(str, service["healthcheck"]["test"]))
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", test)
    assert match is not None, f"no HTTP health check in {test!r}"
    return int(match.group(1)), match.group(2)


def compose_settings() -> dict[str, Any]:
    out = {}
    for name, service in moxtrace_services().items():
        args = service_command(service)
        env = service_env(service)
        where = f"{rel(COMPOSE_FILE)} service {name}"
        check_env(env, where)
        config = None
        if args[0] == "collector":
            namespace = parse_cli(args, where)
            config_path = namespace.config or env.get("MOXN_COLLECTOR_CONFIG")
            config = mounted(service, str(config_path)) if config_path else None
        out[name] = build_settings(args, env, where, config=config)
    return out


def test_compose_commands_flags_and_variables_are_moxtraces() -> None:
    settings = compose_settings()
    assert settings["ingest"].queue is not None, "ingest must write to Kafka (--queue)"
    assert settings["collector"].kafka is not None
    assert settings["collector"].config is not None


def test_compose_ports_addresses_and_health_routes_match() -> None:
    services = compose()["services"]
    settings = compose_settings()
    ingest, collector = settings["ingest"], settings["collector"]

    # ingest: listens on all interfaces at the port it publishes and health-checks.
    assert ingest.host == "0.0.0.0"
    assert published(services["ingest"]) == {ingest.port}
    port, route = healthcheck_port(services["ingest"])
    assert (port, route in server_routes()) == (ingest.port, True)

    # collector: its --listen port is the one health-checked, on a route it serves.
    from moxtrace.pipeline.settings import parse_listen

    host, listen_port = parse_listen(collector.listen)
    assert host == "0.0.0.0"
    port, route = healthcheck_port(services["collector"])
    assert (port, route in collector_routes()) == (listen_port, True)

    # Kafka: every broker address is the kafka service's advertised listener.
    advertised = service_env(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    listeners = {urlsplit(u).netloc for u in advertised.split(",")}
    for url in (ingest.queue, collector.kafka):
        for broker in topic_url(url).hosts:
            assert broker in listeners, f"{url}: {broker} is not a listener of kafka ({advertised})"

    # PostgreSQL: the same database, user and password as the postgres service's.
    from sqlalchemy.engine import make_url

    pg_env = service_env(services["postgres"])
    sinks = dict(sink.split(":", 1) for sink in collector.sinks)
    for url in (ingest.database_url, sinks["store"]):
        parsed = make_url(url)
        assert (parsed.host, parsed.port) == ("postgres", 5432)
        assert (parsed.username, parsed.password, parsed.database) == (
            pg_env["POSTGRES_USER"],
            pg_env["POSTGRES_PASSWORD"],
            pg_env["POSTGRES_DB"],
        )
    assert "5432" in " ".join(services["postgres"]["healthcheck"]["test"])

    # Phoenix: the OTLP sink is its OTLP/HTTP endpoint.
    otlp = urlsplit(sinks["otlp"])
    phoenix_port = int(service_env(services["phoenix"]).get("PHOENIX_PORT", "6006"))
    assert (otlp.hostname, otlp.port, otlp.path) == ("phoenix", phoenix_port, "/v1/traces")
    assert phoenix_port in published(services["phoenix"])


def test_compose_topic_partitions_and_otel_collector_agree() -> None:
    services = compose()["services"]
    settings = compose_settings()
    created = {
        m["topic"]: int(m["partitions"])
        for m in TOPIC_CREATE.finditer(" ".join(service_command(services["kafka-topics"])))
    }
    topic = topic_url(settings["ingest"].queue).topic
    assert topic_url(settings["collector"].kafka).topic == topic
    assert topic in created, f"topic {topic} is not created by kafka-topics ({created})"
    assert settings["collector"].dead_letters in created
    replicas = services["collector"].get("deploy", {}).get("replicas", 1)
    assert 1 <= replicas <= created[topic], "more collectors than partitions would idle"

    otel = services["otel-collector"]
    assert mounted(otel, "/etc/otelcol-contrib/config.yaml") == OTELCOL_FILE
    assert "--config=/etc/otelcol-contrib/config.yaml" in service_command(otel)
    env = service_env(otel)
    config = resolve_otelcol(env)
    kafka = config["exporters"]["kafka"]
    assert kafka["traces"]["topic"] == topic
    advertised = service_env(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    for broker in kafka["brokers"]:
        assert broker in advertised
    receiver_ports = {
        int(p["endpoint"].rsplit(":", 1)[1])
        for p in config["receivers"]["otlp"]["protocols"].values()
    }
    assert receiver_ports <= published(otel)
    for name in ("kafka-topics", "ingest", "collector", "otel-collector"):
        depends = services[name].get("depends_on", {})
        assert "kafka" in depends or "kafka-topics" in depends, f"{name} starts before Kafka"


def test_compose_images_are_the_versions_the_tests_run() -> None:
    services = compose()["services"]
    version = PYPROJECT["project"]["version"]
    for name, service in moxtrace_services().items():
        assert image_tag(service["image"]) == version, name
        build = service["build"]
        assert (COMPOSE_FILE.parent / build["context"]).resolve() == REPO
        assert (REPO / build["dockerfile"]).resolve() == DOCKERFILE
    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version()}"
    assert services["kafka-topics"]["image"] == services["kafka"]["image"]
    assert services["phoenix"]["image"] == f"arizephoenix/phoenix:version-{phoenix_version()}"


def test_the_dockerfile_builds_what_the_compose_file_runs() -> None:
    text = DOCKERFILE.read_text()
    instructions = [line for line in text.splitlines() if line and not line.startswith("#")]
    copied = [
        part
        for line in instructions
        if line.startswith("COPY") and "--from" not in line
        for part in line.split()[1:-1]
    ]
    assert copied, "the Dockerfile copies nothing"
    for source in copied:
        assert (REPO / source).exists(), f"Dockerfile: COPY {source}: no such path in the repo"
    extras = re.search(r'pip install [^\n]*"\.\[([^\]]+)\]"', text)
    assert extras is not None, "the Dockerfile does not pip install the project with extras"
    for extra in extras.group(1).split(","):
        assert extra in PYPROJECT["project"]["optional-dependencies"], extra
    assert re.search(r'ENTRYPOINT \["moxtrace"\]', text)
    assert "moxtrace" in PYPROJECT["project"]["scripts"]
    env = dict(re.findall(r"(MOXN_[A-Z_]+)=(\S+)", text))
    check_env(env, rel(DOCKERFILE))
    exposed = {
        int(p) for line in instructions if line.startswith("EXPOSE") for p in line.split()[1:]
    }
    settings = compose_settings()
    from moxtrace.pipeline.settings import parse_listen

    assert exposed == {settings["ingest"].port, parse_listen(settings["collector"].listen)[1]}


# -- Kubernetes ----------------------------------------------------------------------------


def kustomization() -> dict[str, Any]:
    return cast(dict[str, Any], load(K8S / "kustomization.yaml"))


def k8s_objects() -> list[dict[str, Any]]:
    objects = []
    for resource in kustomization()["resources"]:
        path = K8S / resource
        assert path.is_file(), f"kustomization.yaml lists {resource}: no such file"
        objects.extend(load_all(path))
    return objects


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in k8s_objects() if o["kind"] == kind}


def generated_config_maps() -> dict[str, dict[str, Path]]:
    out = {}
    for generator in kustomization().get("configMapGenerator", []):
        files = {}
        for entry in generator.get("files", []):
            key, _, source = str(entry).rpartition("=")
            path = K8S / source
            assert path.is_file(), f"configMapGenerator {generator['name']}: no file {source}"
            files[key or Path(source).name] = path
        out[generator["name"]] = files
    return out


def container_env(container: Mapping[str, Any]) -> dict[str, str]:
    """A container's environment, secrets and config maps resolved from the manifests."""
    config_maps = by_kind("ConfigMap")
    secrets = by_kind("Secret")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        assert name in config_maps, f"envFrom: no ConfigMap {name}"
        env.update({k: str(v) for k, v in config_maps[name]["data"].items()})
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] in secrets, f"env {item['name']}: no Secret {ref['name']}"
            env[item["name"]] = str(secrets[ref["name"]]["stringData"][ref["key"]])
    return env


def moxtrace_containers() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """``{deployment: (deployment, container)}`` for the moxtrace containers."""
    out = {}
    for name, deployment in by_kind("Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            if MOXTRACE_IMAGE.match(container["image"]):
                out[name] = (deployment, container)
    assert set(out) == {"moxtrace-ingest", "moxtrace-collector"}
    return out


def k8s_settings() -> dict[str, Any]:
    generated = generated_config_maps()
    out = {}
    for name, (deployment, container) in moxtrace_containers().items():
        env = container_env(container)
        where = f"deploy/k8s Deployment {name}"
        check_env(env, where)
        args = [expand(str(arg), env) for arg in container["args"]]
        config = None
        if args[0] == "collector":
            config_path = parse_cli(args, where).config or env.get("MOXN_COLLECTOR_CONFIG")
            config = mounted_config_map(deployment, container, str(config_path), generated)
        out[name] = build_settings(args, env, where, config=config)
    return out


def expand(arg: str, env: Mapping[str, str]) -> str:
    """``$(NAME)`` in a container argument, as Kubernetes expands it from the env."""
    return K8S_VAR.sub(lambda m: env[m.group(1)], arg)


def mounted_config_map(
    deployment: Mapping[str, Any],
    container: Mapping[str, Any],
    path: str,
    generated: Mapping[str, Mapping[str, Path]],
) -> Path | None:
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"].get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix):
            config_map = volumes[mount["name"]]["configMap"]["name"]
            assert config_map in generated, f"volume {mount['name']}: no ConfigMap {config_map}"
            return Path(generated[config_map][path[len(prefix) :]])
    return None


def test_k8s_resources_exist_and_share_the_namespace() -> None:
    namespace = kustomization()["namespace"]
    objects = k8s_objects()
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "Secret", "Job"} <= kinds
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == namespace, obj["metadata"]["name"]
    assert generated_config_maps()


def test_k8s_commands_flags_and_variables_are_moxtraces() -> None:
    settings = k8s_settings()
    assert settings["moxtrace-ingest"].queue is not None
    assert settings["moxtrace-collector"].config is not None


def test_k8s_ports_probes_services_and_budgets_match() -> None:
    from moxtrace.pipeline.settings import parse_listen

    settings = k8s_settings()
    listen = {
        "moxtrace-ingest": (settings["moxtrace-ingest"].host, settings["moxtrace-ingest"].port),
        "moxtrace-collector": parse_listen(settings["moxtrace-collector"].listen),
    }
    routes = {"moxtrace-ingest": server_routes(), "moxtrace-collector": collector_routes()}
    services = by_kind("Service")
    budgets = by_kind("PodDisruptionBudget")
    for name, (deployment, container) in moxtrace_containers().items():
        host, port = listen[name]
        assert host == "0.0.0.0", f"{name} listens on {host} only"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert set(ports.values()) == {port}, f"{name}: containerPort is not the port it listens on"
        for probe in ("readinessProbe", "livenessProbe"):
            check = container[probe]["httpGet"]
            assert check["port"] in ports or check["port"] in ports.values(), (name, probe)
            assert check["path"] in routes[name], f"{name} {probe}: no route {check['path']}"
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        selecting = [
            b
            for b in budgets.values()
            if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(selecting) == 1, f"{name}: {len(selecting)} PodDisruptionBudgets select it"
        for service in services.values():
            if service["spec"]["selector"].items() <= labels.items():
                for entry in service["spec"]["ports"]:
                    target = entry["targetPort"]
                    assert ports.get(target, target) == port
    assert any(
        s["spec"]["selector"]["app.kubernetes.io/component"] == "ingest" for s in services.values()
    )
    # Grace periods outlast the graceful shutdowns they allow for.
    ingest, _ = moxtrace_containers()["moxtrace-ingest"]
    collector, _ = moxtrace_containers()["moxtrace-collector"]
    assert (
        ingest["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        > settings["moxtrace-ingest"].graceful_timeout
    )
    assert (
        collector["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        > settings["moxtrace-collector"].shutdown_timeout
    )


def test_k8s_collectors_are_sized_by_the_topics_partitions() -> None:
    settings = k8s_settings()
    [job] = by_kind("Job").values()
    [container] = job["spec"]["template"]["spec"]["containers"]
    script = " ".join([*container.get("command", []), *container.get("args", [])])
    created = {m["topic"]: int(m["partitions"]) for m in TOPIC_CREATE.finditer(script)}
    queue = topic_url(settings["moxtrace-ingest"].queue)
    source = topic_url(settings["moxtrace-collector"].kafka)
    assert (queue.topic, queue.hosts) == (source.topic, source.hosts)
    for broker in queue.hosts:
        assert f"--bootstrap-server {broker}" in script
    assert queue.topic in created and settings["moxtrace-collector"].dead_letters in created
    collector, _ = moxtrace_containers()["moxtrace-collector"]
    assert 1 <= collector["spec"]["replicas"] <= created[queue.topic]
    assert container["image"] == f"apache/kafka:{kafka_version()}"


def test_k8s_images_are_this_version() -> None:
    version = PYPROJECT["project"]["version"]
    for name, (_, container) in moxtrace_containers().items():
        assert image_tag(container["image"]) == version, name


def test_k8s_plugin_chain_loads() -> None:
    [files] = generated_config_maps().values()
    for path in files.values():
        names = [type(p).name for p in load_plugins(path)]
        assert names == ["genai_normalize", "redact", "cost", "tail_sampling"]


# -- the OpenTelemetry Collector -----------------------------------------------------------


def resolve_otelcol(env: Mapping[str, str]) -> dict[str, Any]:
    """otelcol.yaml with its ``${env:NAME:-default}`` references resolved against ``env``."""
    text = OTELCOL_FILE.read_text()
    missing = [
        m["name"]
        for m in OTELCOL_ENV.finditer(text)
        if m["name"] not in env and m["default"] is None
    ]
    assert not missing, f"otelcol.yaml needs {missing}, which nobody sets"
    text = OTELCOL_ENV.sub(lambda m: env.get(m["name"], m["default"] or ""), text)
    return cast(dict[str, Any], yaml.safe_load(text))


def test_otelcol_pipeline_is_complete() -> None:
    config = resolve_otelcol({})
    for pipeline in config["service"]["pipelines"].values():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline.get(section, []):
                assert component in config[section], f"{section}.{component} is not configured"
    for extension in config["service"].get("extensions", []):
        assert extension in config["extensions"]
    referenced = {m["name"] for m in OTELCOL_ENV.finditer(OTELCOL_FILE.read_text())}
    assert referenced <= set(service_env(compose()["services"]["otel-collector"]))


def test_otelcol_kafka_exporter_writes_what_the_collector_reads() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    from moxtrace.pipeline.records import decode_record
    from moxtrace.pipeline.topic import (
        CONTENT_TYPE_HEADER,
        CONTENT_TYPE_OTLP_PROTOBUF,
        TENANT_HEADER,
    )

    kafka = resolve_otelcol({})["exporters"]["kafka"]
    assert kafka["traces"]["encoding"] == "otlp_proto"
    assert kafka["partition_traces_by_id"] is True  # a whole trace reaches one collector
    assert kafka["producer"]["required_acks"] == -1
    assert kafka["producer"]["max_message_bytes"] <= 1_000_000  # Kafka's default topic limit
    import aiokafka.codec

    codecs = {
        "none": True,
        "gzip": aiokafka.codec.has_gzip(),
        "snappy": aiokafka.codec.has_snappy(),
        "lz4": aiokafka.codec.has_lz4(),
        "zstd": aiokafka.codec.has_zstd(),
    }
    assert codecs[kafka["producer"].get("compression", "none")], (
        "the collector cannot decompress it"
    )

    headers = kafka["record_headers"]
    assert set(headers) == {CONTENT_TYPE_HEADER, TENANT_HEADER}
    assert headers[CONTENT_TYPE_HEADER] == CONTENT_TYPE_OTLP_PROTOBUF
    # A record as the exporter writes it: one trace's ExportTraceServiceRequest.
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            Span(
                                trace_id=bytes(range(16)),
                                span_id=bytes(range(8)),
                                name="GET /",
                                start_time_unix_nano=1,
                                end_time_unix_nano=2,
                            )
                        ]
                    )
                ]
            )
        ]
    )
    record = decode_record(
        request.SerializeToString(),
        [(key, str(value).encode()) for key, value in headers.items()],
        default_tenant="unused",
    )
    assert record.tenant == headers[TENANT_HEADER]
    assert [span.name for span in record.spans or ()] == ["GET /"]


# -- docs/deploy.md ------------------------------------------------------------------------


def test_docs_deploy_describes_the_files_and_services_that_exist() -> None:
    text = (REPO / "docs" / "deploy.md").read_text()
    for path in set(re.findall(r"`(deploy/[^`\s]+)`", text)):
        assert (REPO / path).exists(), f"docs/deploy.md names {path}: no such file"
    rows = re.findall(r"^\| `([a-z-]+)`(?: \u00d7 \d+)? \|", text, flags=re.M)
    services = set(compose()["services"])
    k8s_files = {
        *kustomization()["resources"],
        *(
            f
            for files in generated_config_maps().values()
            for f in (p.name for p in files.values())
        ),
    }
    documented_services = {r for r in rows if not r.endswith(".yaml")}
    assert documented_services == services
    documented_files = set(re.findall(r"^\| `([a-z-]+\.yaml)` \|", text, flags=re.M))
    assert documented_files == k8s_files - {"namespace.yaml"}
