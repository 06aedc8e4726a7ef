"""The one settings object, read from the environment once at the entry point and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[tuple[str, ...], NoDecode]


class Settings(BaseSettings):
    """Every knob Switchboard has. Each has a default, so a fresh checkout runs as it is.

    Environment names are the aliases (``DATABASE_URL``, ``SWITCHBOARD_DATA_DIR``…); code and
    tests may pass the field names instead.
    """

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, frozen=True
    )

    # Storage
    database_url: SecretStr | None = Field(None, alias="DATABASE_URL")
    data_dir: Path = Field(Path(".switchboard"), alias="SWITCHBOARD_DATA_DIR")
    redis_url: SecretStr | None = Field(None, alias="REDIS_URL")
    db_pool_min: int = Field(1, alias="SWITCHBOARD_DB_POOL_MIN", ge=1)
    db_pool_max: int = Field(20, alias="SWITCHBOARD_DB_POOL_MAX", ge=1)

    # Server
    host: str = Field("127.0.0.1", alias="SWITCHBOARD_HOST")
    port: int = Field(3978, alias="PORT", ge=0, le=65535)
    log_level: str = Field("INFO", alias="SWITCHBOARD_LOG_LEVEL")
    log_format: Literal["json", "console"] = Field("json", alias="SWITCHBOARD_LOG_FORMAT")
    max_body_bytes: int = Field(1_000_000, alias="SWITCHBOARD_MAX_BODY_BYTES", ge=1024)

    # Knowledge
    sample_knowledge: Path | None = Field(
        Path("examples/knowledge"), alias="SWITCHBOARD_SAMPLE_KNOWLEDGE"
    )
    domains_file: Path | None = Field(None, alias="SWITCHBOARD_DOMAINS_FILE")
    chunk_size: int = Field(1200, alias="SWITCHBOARD_CHUNK_SIZE", ge=200)
    chunk_overlap: int = Field(150, alias="SWITCHBOARD_CHUNK_OVERLAP", ge=0)
    retrieval_k: int = Field(5, alias="SWITCHBOARD_RETRIEVAL_K", ge=1, le=50)
    retrieval_candidates: int = Field(40, alias="SWITCHBOARD_RETRIEVAL_CANDIDATES", ge=1)

    # Questions
    max_question_chars: int = Field(4000, alias="SWITCHBOARD_MAX_QUESTION_CHARS", ge=10)
    history_turns: int = Field(10, alias="SWITCHBOARD_HISTORY_TURNS", ge=0)

    # Model (used only when given; otherwise the offline paths answer)
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL")
    openai_api_key: SecretStr | None = Field(None, alias="OPENAI_API_KEY")
    chat_model: str | None = Field(None, alias="SWITCHBOARD_CHAT_MODEL")
    embedding_model: str | None = Field(None, alias="SWITCHBOARD_EMBEDDING_MODEL")
    embedding_dimensions: int | None = Field(None, alias="SWITCHBOARD_EMBEDDING_DIMENSIONS")

    # Slack
    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_client_id: str | None = Field(None, alias="SLACK_CLIENT_ID")
    slack_client_secret: SecretStr | None = Field(None, alias="SLACK_CLIENT_SECRET")
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")

    # Microsoft Teams
    microsoft_app_id: str | None = Field(None, alias="MICROSOFT_APP_ID")
    microsoft_app_password: SecretStr | None = Field(None, alias="MICROSOFT_APP_PASSWORD")
    microsoft_app_tenant_id: str | None = Field(None, alias="MICROSOFT_APP_TENANT_ID")

    # People
    admins: CommaList = Field((), alias="SWITCHBOARD_ADMINS")

    @field_validator("admins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def model_configured(self) -> bool:
        return bool(self.openai_base_url or self.openai_api_key) and bool(self.chat_model)

    @property
    def embeddings_configured(self) -> bool:
        return bool(self.openai_base_url or self.openai_api_key) and bool(self.embedding_model)

    @property
    def slack_configured(self) -> bool:
        return self.slack_signing_secret is not None and (
            self.slack_bot_token is not None or self.slack_client_id is not None
        )

    @property
    def teams_configured(self) -> bool:
        return self.microsoft_app_id is not None
