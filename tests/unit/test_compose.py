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


def test_sandbox_and_bot_are_built_from_the_dockerfile_and_run_cli_commands() -> None:
    for name, expected in (("sandbox", "sandbox"), ("bot", "run")):
        service = SERVICES[name]
        build = service["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        assert (ROOT / context / dockerfile).resolve() == ROOT / "Dockerfile", name
        args = command(service)
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
