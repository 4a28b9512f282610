from __future__ import annotations

from pathlib import Path

import pytest

from firstline.errors import ConfigError
from firstline.settings import load_settings, redacted


def test_defaults_are_embedded(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.knowledge.store == "chroma"
    assert settings.knowledge.retrieval.default_mode == "hybrid"
    assert settings.index_dir == tmp_path / "data" / "index"
    assert settings.service.port == 8000


def test_toml_then_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "firstline.toml"
    config.write_text('[knowledge]\nstore = "memory"\n[knowledge.retrieval]\ncandidates = 50\nbm25_weight = 0.7\n')
    assert load_settings().knowledge.retrieval.candidates == 50  # ./firstline.toml is found
    monkeypatch.setenv("FIRSTLINE_KNOWLEDGE__RETRIEVAL__CANDIDATES", "80")
    settings = load_settings(config)
    assert settings.knowledge.store == "memory"
    assert settings.knowledge.retrieval.candidates == 80
    assert settings.knowledge.retrieval.bm25_weight == 0.7


def test_env_config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text("[service]\nport = 9000\n")
    monkeypatch.setenv("FIRSTLINE_CONFIG", str(config))
    assert load_settings().service.port == 9000


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[knowledge]\nstore = "pinecone"', "knowledge.store"),
        ("[knowledge.retrieval]\ncandidates = 1", "knowledge.retrieval.candidates"),
        ("[knowledge]\nunknown_key = 1", "knowledge.unknown_key"),
        ('[knowledge.embedder]\nkind = "openai"', "needs both `url` and `model`"),
        ('[knowledge.rerank]\nkind = "tei"', "needs `url`"),
        ('[knowledge]\nchroma_url = "localhost:8000"', "http://"),
        ("[knowledge\nstore=", "not valid TOML"),
    ],
)
def test_bad_config_names_the_setting(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert message in str(info.value)


def test_secrets_in_the_file_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "firstline.toml"
    config.write_text('[knowledge]\nqdrant_api_key = "hunter2"\n')
    with pytest.raises(ConfigError, match="FIRSTLINE_KNOWLEDGE__QDRANT_API_KEY"):
        load_settings(config)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_secrets_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRSTLINE_KNOWLEDGE__QDRANT_API_KEY", "hunter2")
    settings = load_settings()
    assert settings.knowledge.qdrant_api_key is not None
    assert settings.knowledge.qdrant_api_key.get_secret_value() == "hunter2"
    assert "hunter2" not in str(redacted(settings))
    assert redacted(settings)["knowledge"]["qdrant_api_key"] == "**********"
