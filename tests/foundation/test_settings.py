import subprocess
import sys

import pytest

from core.settings import ConfigError, Settings, load_settings
from tests.helpers.production import safe_production


def test_defaults_use_the_app_home(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=None)
    assert settings.db_url == f"sqlite:///{(tmp_path / 'var' / 'sge.db').resolve()}"
    assert settings.temporal_address == "127.0.0.1:7233"
    assert settings.eth_rpc_urls == ["http://127.0.0.1:8545"]
    assert settings.cors_origins == []


def test_environment_and_csv_lists(monkeypatch):
    monkeypatch.setenv("SGE_ETH_RPC_URLS", "http://a:1, http://b:2")
    monkeypatch.setenv("SGE_CORS_ORIGINS", "https://app.example.com")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.example.com/sge")
    settings = Settings(_env_file=None)
    assert settings.eth_rpc_urls == ["http://a:1", "http://b:2"]
    assert settings.cors_origins == ["https://app.example.com"]
    # plain postgresql:// is normalised to the psycopg 3 driver
    assert settings.db_url == "postgresql+psycopg://u@db.example.com/sge"


def test_secret_from_file_is_never_shown(tmp_path, monkeypatch):
    key = "0x" + "ab" * 32
    (tmp_path / "k").write_text(key + "\n")
    monkeypatch.setenv("SGE_RELAYER_PRIVATE_KEY_FILE", str(tmp_path / "k"))
    settings = Settings(_env_file=None)
    assert settings.require_relayer_key() == key
    assert "ab" * 32 not in repr(settings)
    assert "ab" * 32 not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"database_url": "not a url"}, "DATABASE_URL"),
        ({"database_url": "mysql://u@h/db"}, "DATABASE_URL"),
        ({"temporal_address": "no-port"}, "SGE_TEMPORAL_ADDRESS"),
        ({"eth_rpc_urls": "ftp://x"}, "SGE_ETH_RPC_URLS"),
        ({"relayer_private_key": "0x1234"}, "SGE_RELAYER_PRIVATE_KEY"),
        ({"api_port": 70000}, "SGE_API_PORT"),
    ],
)
def test_invalid_settings_name_the_setting(overrides, setting):
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None, **overrides)
    assert err.value.setting == setting
    assert "\n" not in str(err.value)


def test_bad_key_is_not_echoed():
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None, relayer_private_key="0xdeadbeefcafe")
    assert "deadbeefcafe" not in str(err.value)


def test_missing_relayer_key():
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None).require_relayer_key()
    assert err.value.setting == "SGE_RELAYER_PRIVATE_KEY"


def _sge(args, env_overrides, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SGE_HOME": str(tmp_path / "var")}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["db", "current"], {"DATABASE_URL": "nonsense"}, "DATABASE_URL: not a database URL"),
        (["worker"], {}, "SGE_RELAYER_PRIVATE_KEY: not set"),
        (
            ["worker"],
            {"SGE_RELAYER_PRIVATE_KEY": "0x" + "11" * 32, "SGE_TEMPORAL_ADDRESS": "127.0.0.1:1"},
            "SGE_TEMPORAL_ADDRESS: cannot reach Temporal at 127.0.0.1:1",
        ),
        (
            ["db", "current"],
            {"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x"},
            "DATABASE_URL: cannot connect",
        ),
    ],
)
@pytest.mark.integration  # runs the `sge` CLI as a process
def test_cli_config_errors_are_one_line(tmp_path, args, env, expected):
    if args == ["worker"] and "SGE_TEMPORAL_ADDRESS" in env:
        # the worker checks the database before Temporal: give it a migrated one
        assert _sge(["db", "upgrade"], {}, tmp_path).returncode == 0
    result = _sge(args, env, tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_production_refuses_too_few_confirmations():
    prod = safe_production(database_url="postgresql+psycopg://u@db.example/sge", chain_id=1)
    del prod["confirmations"]
    with pytest.raises(ConfigError) as err:
        load_settings(**prod, confirmations=1)
    assert err.value.setting == "SGE_CONFIRMATIONS" and "12" in str(err.value)
    assert load_settings(**prod, confirmations=12).confirmations == 12
    assert load_settings(**prod, confirmations=2, production_min_confirmations=2).confirmations == 2
    assert load_settings(_env_file=None, confirmations=1).confirmations == 1  # dev and test: one block is enough


def test_any_setting_from_a_mounted_file(tmp_path, monkeypatch):
    # Kubernetes mounts Secrets as files: DATABASE_URL_FILE, SGE_REDIS_URL_FILE, SGE_ETH_RPC_URLS_FILE.
    for name in ("DATABASE_URL", "SGE_DATABASE_URL", "SGE_REDIS_URL", "SGE_ETH_RPC_URLS"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "db").write_text("postgresql://app:pw@db.internal/sge\n")
    (tmp_path / "redis").write_text("redis://:pw@redis.internal:6379/0")
    (tmp_path / "rpc").write_text("https://a.example/v3/k, https://b.example/v3/k")
    monkeypatch.setenv("DATABASE_URL_FILE", str(tmp_path / "db"))
    monkeypatch.setenv("SGE_REDIS_URL_FILE", str(tmp_path / "redis"))
    monkeypatch.setenv("SGE_ETH_RPC_URLS_FILE", str(tmp_path / "rpc"))
    settings = Settings(_env_file=None)
    assert settings.db_url == "postgresql+psycopg://app:pw@db.internal/sge"
    assert settings.redis_url == "redis://:pw@redis.internal:6379/0"
    assert settings.eth_rpc_urls == ["https://a.example/v3/k", "https://b.example/v3/k"]
    # the variable itself wins over its file
    monkeypatch.setenv("DATABASE_URL", "postgresql://direct@db.internal/sge")
    assert Settings(_env_file=None).db_url == "postgresql+psycopg://direct@db.internal/sge"


def test_unreadable_setting_file_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("SGE_REDIS_URL", raising=False)
    monkeypatch.setenv("SGE_REDIS_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="SGE_REDIS_URL_FILE: cannot read"):
        load_settings(_env_file=None)
