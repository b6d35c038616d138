"""docker-compose.yml, the Dockerfile and .env.example agree with the settings and the CLI.

Docker is not run here: the files are parsed and checked against the code they start.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import _parser
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# docs/architecture.md §8: the environment names scripts outside the code rely on.
CONTRACT = (
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_URL",
    "SKIPLINO_API_URL",
    "SKIPLINO_API_KEY",
    "SKIPLINO_TIMEZONE",
    "REDIS_URL",
    "BOT_DEFAULT_LOCALE",
)
INTERPOLATION = re.compile(r"^\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?P<rest>[^}]*)\}$")


def load_compose() -> dict[str, Any]:
    """Parse docker-compose.yml."""
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    assert isinstance(data, dict)
    return data


COMPOSE = load_compose()
SERVICES: dict[str, Any] = COMPOSE["services"]


def setting_aliases() -> set[str]:
    """Return the environment names Settings reads."""
    return {field.alias for field in Settings.model_fields.values() if field.alias}


def environment(service: dict[str, Any]) -> dict[str, str]:
    """Return a service's environment as a mapping, whichever YAML form it is written in."""
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(name): str(value) for name, value in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    """Return a service's command as a list of arguments."""
    value = service.get("command", [])
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def default_of(value: str) -> str:
    """Return the default of a ``${NAME:-default}`` value, or the value itself."""
    match = INTERPOLATION.match(value)
    if match is None:
        return value
    rest = match.group("rest")
    return rest[2:] if rest.startswith(":-") else rest[1:] if rest.startswith("-") else ""


def dockerfile_final_stage() -> list[str]:
    """Return the instructions of the Dockerfile's last stage, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text("utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    last_from = max(i for i, line in enumerate(instructions) if line.upper().startswith("FROM "))
    return instructions[last_from:]


def volume_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Return a service's mounts as target -> source, short or long YAML syntax."""
    mounts: dict[str, str] = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            mounts[str(volume["target"])] = str(volume.get("source", ""))
        else:
            source, _, rest = str(volume).partition(":")
            mounts[rest.split(":", 1)[0]] = source
    return mounts


def test_redis_keeps_its_data_in_a_named_volume_with_append_only_on() -> None:
    redis = SERVICES["redis"]
    args = command(redis)
    assert args[args.index("--appendonly") + 1] == "yes"
    source = volume_mounts(redis).get("/data")
    assert source in (COMPOSE.get("volumes") or {}), "/data is a named volume"


def test_one_service_builds_the_image_from_the_dockerfile_and_both_run_it() -> None:
    builders = {name: service for name, service in SERVICES.items() if "build" in service}
    assert list(builders) == ["bot"], "the image is built once"
    build = builders["bot"]["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context / dockerfile).resolve() == ROOT / "Dockerfile"
    assert SERVICES["sandbox"]["image"] == SERVICES["bot"]["image"]
    # Built locally, never pulled: a pull would fail or, worse, fetch someone else's image.
    assert SERVICES["sandbox"].get("pull_policy") == "never"
    for name, expected in (("sandbox", "sandbox"), ("bot", "run")):
        args = command(SERVICES[name])
        assert args[0] == expected
        _parser().parse_args(args)  # exits (SystemExit) if the CLI does not take these


def test_the_image_runs_as_a_non_root_user_through_the_console_script() -> None:
    stage = dockerfile_final_stage()
    users = [line.split(None, 1)[1].strip() for line in stage if line.upper().startswith("USER ")]
    assert users, "the runtime stage sets USER"
    user = users[-1].split(":", 1)[0]
    assert user not in ("root", "0")
    assert any(
        re.search(rf"\b(useradd|adduser)\b.*\b{re.escape(user)}\b", line) for line in stage
    ), f"user {user!r} is created in the runtime stage"
    entrypoint = [line for line in stage if line.upper().startswith("ENTRYPOINT ")]
    assert entrypoint
    assert "skiplino-bot" in entrypoint[-1]


def test_the_bots_environment_names_are_the_settings_contract() -> None:
    env = environment(SERVICES["bot"])
    assert set(env) == set(CONTRACT)
    assert set(env) <= setting_aliases()


@pytest.mark.parametrize("name", CONTRACT)
def test_each_bot_variable_is_taken_from_the_env_file_under_its_own_name(name: str) -> None:
    value = environment(SERVICES["bot"])[name]
    match = INTERPOLATION.match(value)
    assert match is not None, value
    assert match.group("name") == name


def test_the_bot_reaches_the_sandbox_and_redis_services_by_default() -> None:
    env = environment(SERVICES["bot"])
    sandbox_args = command(SERVICES["sandbox"])
    port = sandbox_args[sandbox_args.index("--port") + 1]
    assert default_of(env["SKIPLINO_API_URL"]) == f"http://sandbox:{port}/external/v1"
    assert default_of(env["REDIS_URL"]).startswith("redis://redis:6379")
    depends = SERVICES["bot"]["depends_on"]
    assert {"redis", "sandbox"} <= set(depends)
    # The bot and the sandbox must accept the same key, or every customer call is a 401.
    sandbox_env = environment(SERVICES["sandbox"])
    assert default_of(sandbox_env["SKIPLINO_API_KEY"]) == default_of(env["SKIPLINO_API_KEY"])


def test_the_design_contract_names_are_settings_aliases() -> None:
    assert set(CONTRACT) <= setting_aliases()


def test_env_example_lists_every_contract_variable() -> None:
    lines = (ROOT / ".env.example").read_text("utf-8").splitlines()
    listed = {
        line.split("=", 1)[0].strip()
        for line in lines
        if "=" in line and not line.lstrip().startswith("#")
    }
    assert set(CONTRACT) <= listed
    assert listed <= setting_aliases(), "every listed variable is read by the settings"


LOCK = ROOT / "requirements.lock"
BUILD_LOCK = ROOT / "requirements-build.lock"
PINNED = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")


def dockerfile_instructions() -> list[str]:
    """Return every Dockerfile instruction, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text("utf-8").replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def locked(path: Path) -> dict[str, str]:
    """Return the lock's packages (normalised name -> version); fail on any unpinned line."""
    packages: dict[str, str] = {}
    for line in path.read_text("utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith(("#", "--hash")):
            continue
        match = PINNED.match(line)
        assert match is not None, f"not an exact pin: {line!r}"
        packages[re.sub(r"[-_.]+", "-", match.group("name")).lower()] = match.group("version")
    return packages


def requirement_name(requirement: str) -> str:
    """Return the normalised distribution name of a requirement string."""
    name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def test_base_images_are_pinned_to_exact_versions() -> None:
    bases = [
        line.split()[1] for line in dockerfile_instructions() if line.upper().startswith("FROM ")
    ]
    assert bases
    for base in bases:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base), base
    assert re.fullmatch(r"redis:7\.\d+\.\d+-alpine", SERVICES["redis"]["image"])


def test_the_lock_pins_every_runtime_dependency_with_hashes_and_tzdata() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    packages = locked(LOCK)
    assert {requirement_name(r) for r in project["dependencies"]} <= set(packages)
    # Zone data from the lock, not from whatever the base image happens to carry.
    assert "tzdata" in packages
    text = LOCK.read_text("utf-8")
    assert text.count("--hash=sha256:") >= len(packages)
    assert "pytest" not in packages, "no dev tools in the image"
    assert "setuptools" in locked(BUILD_LOCK)


def test_the_dockerfile_installs_the_locks_with_hashes_and_copies_every_package() -> None:
    import tomllib

    instructions = dockerfile_instructions()
    runs = [line for line in instructions if line.upper().startswith("RUN ")]
    assert any("--require-hashes" in run and "-r requirements.lock" in run for run in runs)
    assert any("--require-hashes" in run and "-r requirements-build.lock" in run for run in runs)
    # The project itself adds no dependency the lock did not pin.
    assert all("--no-deps" in run for run in runs if "/wheels/" in run and "install" in run)
    copied = " ".join(line for line in instructions if line.upper().startswith("COPY "))
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    includes = config["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in sorted({pattern.split(".")[0].rstrip("*") for pattern in includes}):
        assert re.search(rf"\bCOPY {package} ", copied), f"the image build lacks {package}/"


def test_dockerignore_keeps_secrets_environments_and_caches_out_of_the_context() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".env", ".mypy_cache", ".ruff_cache", ".pytest_cache"} <= ignored
    assert any("__pycache__" in line for line in ignored)
    kept = ("pyproject.toml", "README.md", "requirements.lock", "requirements-build.lock")
    for name in (*kept, "bot", "conversations", "sandbox", "locales"):
        assert name not in ignored, f"{name} is needed by the build"


def test_every_service_has_a_healthcheck_and_the_bot_waits_for_healthy_ones() -> None:
    for name, service in SERVICES.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    depends = SERVICES["bot"]["depends_on"]
    assert {name: spec["condition"] for name, spec in depends.items()} == {
        "redis": "service_healthy",
        "sandbox": "service_healthy",
    }
    # The sandbox is an optional profile: without it the bot starts against the real API.
    assert depends["sandbox"]["required"] is False


def test_the_bots_healthcheck_is_the_check_command() -> None:
    test = SERVICES["bot"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert test[1:] == ["skiplino-bot", "check"]
    _parser().parse_args(test[2:])


def test_the_sandbox_healthcheck_gets_its_health_route_with_python() -> None:
    from sandbox import Sandbox

    test = SERVICES["sandbox"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], "the slim image has no curl"
    url = re.search(r"http://[^'\"]+", test[3])
    assert url is not None
    args = command(SERVICES["sandbox"])
    port = args[args.index("--port") + 1]
    assert url.group(0) == f"http://127.0.0.1:{port}/healthz"
    paths = {getattr(route, "path", None) for route in Sandbox().app.routes}
    assert "/healthz" in paths
    compile(test[3], "<healthcheck>", "exec")


def test_the_sandbox_is_an_unpublished_profile_with_its_admin_key_from_the_environment() -> None:
    sandbox = SERVICES["sandbox"]
    assert sandbox["profiles"] == ["sandbox"]
    assert "ports" not in sandbox, "only on the compose network"
    assert "SANDBOX_ADMIN_KEY" in environment(sandbox)
    assert "--admin-key" not in command(sandbox), "a key on the command line shows in ps"
    assert "profiles" not in SERVICES["bot"]
    assert "profiles" not in SERVICES["redis"]


def test_nothing_is_a_required_interpolation_so_any_subset_starts_without_a_token() -> None:
    text = (ROOT / "docker-compose.yml").read_text("utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    for found in re.finditer(r"\$\{([^}]*)\}", "\n".join(lines)):
        assert "?" not in found.group(1), found.group(0)
    token = environment(SERVICES["bot"])["TELEGRAM_BOT_TOKEN"]
    assert default_of(token) == "", "an unset token is empty: check and run name it missing"
    env_files = SERVICES["bot"]["env_file"]
    assert all(isinstance(f, dict) and f.get("required") is False for f in env_files)


def test_every_service_rotates_its_logs() -> None:
    for name, service in SERVICES.items():
        logging = service.get("logging", {})
        assert logging.get("driver") == "json-file", name
        options = logging.get("options", {})
        assert options.get("max-size"), name
        assert options.get("max-file"), name
