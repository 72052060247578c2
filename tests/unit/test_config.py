"""Bootstrap configuration: defaults, file, environment, and one clear error per wrong value."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import voluptuous as vol

from chrontainer_core.config import Config, load_config
from chrontainer_core.errors import ConfigError
from chrontainer_core.models import HostSpec
from chrontainer_core.validate import DockerUrl, HostName, Slug, format_path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chrontainer.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(environ={})
    data_dir = (tmp_path / "data").absolute()
    assert cfg.bind_host == "127.0.0.1"
    assert cfg.port == 5000
    assert cfg.data_dir == data_dir
    assert cfg.database_url == f"sqlite+aiosqlite:///{data_dir}/chrontainer.db"
    assert cfg.is_sqlite
    assert cfg.sqlite_path == data_dir / "chrontainer.db"
    assert cfg.secret_key is None
    assert cfg.trusted_proxies == ()
    assert cfg.log_level == "INFO"
    assert cfg.hosts == ()
    assert cfg.default_docker_url == "unix:///var/run/docker.sock"
    assert cfg.host_poll_interval == 1.0
    assert cfg.docker_connect_timeout == 5.0
    assert cfg.docker_request_timeout == 30.0


def test_dataclass_default_database_url_is_absolute() -> None:
    cfg = Config()
    assert cfg.database_url == f"sqlite+aiosqlite:///{Path('data').absolute()}/chrontainer.db"


def test_file_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
bind: 0.0.0.0
port: 8080
data_dir: {tmp_path}/state
secret_key: s3cret
trusted_proxies: [10.0.0.0/8, "fd00::/8", 192.168.1.7]
log_level: debug
host_poll_interval: 0.5
hosts:
  - {{slug: local, url: "unix:///var/run/docker.sock"}}
  - {{slug: nas-2, name: "  The NAS  ", url: "tcp://192.168.1.20:2375"}}
docker:
  url: tcp://127.0.0.1:2375
  connect_timeout: 2
  request_timeout: 60
""",
    )
    cfg = load_config(path, environ={})
    assert cfg.bind_host == "0.0.0.0"
    assert cfg.port == 8080
    assert cfg.data_dir == tmp_path / "state"
    assert cfg.database_url == f"sqlite+aiosqlite:///{tmp_path}/state/chrontainer.db"
    assert cfg.secret_key == "s3cret"
    assert cfg.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
        ipaddress.ip_network("192.168.1.7/32"),
    )
    assert cfg.log_level == "DEBUG"
    assert cfg.host_poll_interval == 0.5
    assert cfg.hosts == (
        HostSpec(slug="local", name="local", url="unix:///var/run/docker.sock"),
        HostSpec(slug="nas-2", name="The NAS", url="tcp://192.168.1.20:2375"),
    )
    assert cfg.default_docker_url == "tcp://127.0.0.1:2375"
    assert cfg.docker_connect_timeout == 2.0
    assert cfg.docker_request_timeout == 60.0


def test_env_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "port: 8080\nlog_level: DEBUG\nbind: 0.0.0.0\n")
    cfg = load_config(
        environ={
            "CHRONTAINER_CONFIG": str(path),
            "CHRONTAINER_PORT": "9090",
            "CHRONTAINER_BIND": "::1",
            "CHRONTAINER_DATA_DIR": str(tmp_path / "d"),
            "CHRONTAINER_SECRET_KEY": "k",
            "CHRONTAINER_TRUSTED_PROXIES": "10.0.0.0/8, 172.16.0.0/12,",
            "CHRONTAINER_LOG_LEVEL": "warning",
            "CHRONTAINER_DATABASE_URL": "postgresql://u:p@db/chron",
            "DOCKER_HOST": "tcp://docker:2376",
            "CHRONTAINER_UNRELATED": "ignored",
        }
    )
    assert cfg.port == 9090
    assert cfg.bind_host == "::1"
    assert cfg.data_dir == tmp_path / "d"
    assert cfg.secret_key == "k"
    assert [str(n) for n in cfg.trusted_proxies] == ["10.0.0.0/8", "172.16.0.0/12"]
    assert cfg.log_level == "WARNING"
    # Plain spellings get the async driver the daemon needs.
    assert cfg.database_url == "postgresql+asyncpg://u:p@db/chron"
    assert not cfg.is_sqlite
    assert cfg.sqlite_path is None
    assert cfg.default_docker_url == "tcp://docker:2376"


def test_empty_env_value_counts_as_unset(tmp_path: Path) -> None:
    path = write(tmp_path, "port: 8080\n")
    assert load_config(path, environ={"CHRONTAINER_PORT": ""}).port == 8080


def test_data_dir_from_env_moves_default_database(tmp_path: Path) -> None:
    cfg = load_config(environ={"CHRONTAINER_DATA_DIR": str(tmp_path / "x")})
    assert cfg.sqlite_path == tmp_path / "x" / "chrontainer.db"


def test_secret_key_and_database_url_not_in_repr() -> None:
    cfg = Config(secret_key="hunter2", database_url="postgresql+asyncpg://u:pw@h/db")
    assert "hunter2" not in repr(cfg)
    assert "pw" not in repr(cfg)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("port: abc\n", "port"),
        ("port: 70000\n", "port"),
        ("port: true\n", "port"),
        ("log_level: LOUD\n", "log_level"),
        ("trusted_proxies: [10.0.0.0/8, 10.0.0.0/33]\n", "trusted_proxies[1]"),
        ("trusted_proxies: [not-a-network]\n", "trusted_proxies[0]"),
        (
            "hosts:\n  - {slug: a, url: 'unix:///s'}\n  - {slug: a, url: 'unix:///t'}\n",
            "hosts[1].slug",
        ),
        ("hosts:\n  - {slug: Bad_Slug, url: 'unix:///s'}\n", "hosts[0].slug"),
        (
            "hosts:\n  - {slug: ok, url: 'unix:///s'}\n  - {slug: b, url: 'http://x'}\n",
            "hosts[1].url",
        ),
        ("hosts:\n  - {slug: ok}\n", "hosts[0].url"),
        ("hosts:\n  - {slug: ok, name: '   ', url: 'unix:///s'}\n", "hosts[0].name"),
        ("frobnicate: 1\n", "frobnicate"),
        ("docker: {url: 'tcp://h'}\n", "docker.url"),
        ("docker: {request_timeout: 0}\n", "docker.request_timeout"),
        ("docker: {colour: red}\n", "docker.colour"),
        ("host_poll_interval: -1\n", "host_poll_interval"),
        ("metrics: {interval: 0}\n", "metrics.interval"),
        ("metrics: {interval: soon}\n", "metrics.interval"),
        ("metrics: {concurrency: 0}\n", "metrics.concurrency"),
        ("metrics: {concurrency: 2.5}\n", "metrics.concurrency"),
        ("metrics: {concurrency: yes}\n", "metrics.concurrency"),
        ("metrics: {rate: 1}\n", "metrics.rate"),
        ("database_url: 'mysql://u@h/db'\n", "database_url"),
        ("data_dir: ''\n", "data_dir"),
    ],
)
def test_wrong_file_value(tmp_path: Path, text: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={})
    assert info.value.path == path
    assert str(tmp_path / "chrontainer.yaml") in info.value.message


def test_wrong_value_messages_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="1 to 65535"):
        load_config(write(tmp_path, "port: 70000\n"), environ={})
    with pytest.raises(ConfigError, match="DEBUG, INFO, WARNING, ERROR"):
        load_config(write(tmp_path, "log_level: LOUD\n"), environ={})
    with pytest.raises(ConfigError, match="duplicate host slug 'a'"):
        load_config(
            write(tmp_path, "hosts: [{slug: a, url: 'unix:///s'}, {slug: a, url: 'unix:///t'}]"),
            environ={},
        )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CHRONTAINER_PORT", "abc"),
        ("CHRONTAINER_PORT", "70000"),
        ("CHRONTAINER_LOG_LEVEL", "LOUD"),
        ("CHRONTAINER_TRUSTED_PROXIES", "10.0.0.0/8,bogus"),
        ("CHRONTAINER_DATABASE_URL", "not a url"),
        ("CHRONTAINER_BIND", "a b"),
        ("DOCKER_HOST", "ssh://me@host"),
    ],
)
def test_wrong_env_value(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(environ={name: value})
    assert info.value.path == name
    assert str(info.value).startswith(f"{name}: ")


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "port: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line") as info:
        load_config(path, environ={})
    assert str(path) in str(info.value)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="cannot read config file") as info:
        load_config(path, environ={})
    assert str(path) in str(info.value)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path, "- port\n"), environ={})


def test_empty_file_and_null_values_mean_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), environ={}).port == 5000
    cfg = load_config(write(tmp_path, "port:\nsecret_key:\ndocker:\n  url:\n"), environ={})
    assert cfg.port == 5000
    assert cfg.secret_key is None


def test_does_not_create_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "never"
    path = write(tmp_path, f"data_dir: {data_dir}\n")
    load_config(path, environ={"CHRONTAINER_DATA_DIR": str(tmp_path / "never-either")})
    load_config(path, environ={})
    assert not data_dir.exists()
    assert not (tmp_path / "never-either").exists()


# --- shared validators ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a", "local", "nas-2", "0", "a" * 63])
def test_slug_accepts(value: str) -> None:
    assert Slug()(value) == value


@pytest.mark.parametrize("value", ["", "-a", "Bad_Slug", "a b", "a" * 64, "a\n", 5, None])
def test_slug_rejects(value: object) -> None:
    with pytest.raises(vol.Invalid, match="lowercase letters, digits and '-'"):
        Slug()(value)


@pytest.mark.parametrize(
    "value",
    ["unix:///var/run/docker.sock", "tcp://10.0.0.2:2375", "tcp://[::1]:2376", " tcp://h:1 "],
)
def test_docker_url_accepts(value: str) -> None:
    assert DockerUrl()(value) == value.strip()


@pytest.mark.parametrize(
    "value",
    [
        "",
        "http://x",
        "https://h:2376",
        "tcp://host",
        "tcp://host:0",
        "tcp://host:99999",
        "tcp://:2375",
        "tcp://u:p@host:2375",
        "tcp://host:2375/path",
        "unix://var/run/docker.sock",
        "unix:///",
        "/var/run/docker.sock",
        None,
    ],
)
def test_docker_url_rejects(value: object) -> None:
    with pytest.raises(vol.Invalid, match=r"unix:///.* or tcp://host:port"):
        DockerUrl()(value)


def test_host_name() -> None:
    assert vol.Schema(HostName)("  NAS ") == "NAS"
    for bad in ("", "   ", "x" * 101, 3):
        with pytest.raises(vol.Invalid):
            vol.Schema(HostName)(bad)


def test_format_path() -> None:
    assert format_path(["hosts", 1, "url"]) == "hosts[1].url"
    assert format_path([0, "a"]) == "[0].a"
    assert format_path([]) == ""
    assert format_path([vol.Required("port")]) == "port"


def test_metrics_settings(tmp_path: Path) -> None:
    assert (Config().metrics_interval, Config().metrics_concurrency) == (15.0, 16)
    cfg = load_config(write(tmp_path, "metrics: {interval: 2.5, concurrency: 8}\n"), environ={})
    assert (cfg.metrics_interval, cfg.metrics_concurrency) == (2.5, 8)
    # An empty section or null values mean the defaults.
    cfg = load_config(write(tmp_path, "metrics:\n  interval:\n"), environ={})
    assert (cfg.metrics_interval, cfg.metrics_concurrency) == (15.0, 16)
    with pytest.raises(ConfigError, match="1 to 64"):
        load_config(write(tmp_path, "metrics: {concurrency: 65}\n"), environ={})
