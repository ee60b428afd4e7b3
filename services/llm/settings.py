"""LLM service settings: `LLM_*` environment variables over the YAML model catalogue.

The catalogue file is `LLM_CATALOGUE` (the packaged embedded default when unset); any of its
fields can be overridden from the environment with `__` between levels, e.g.
`LLM_ROUTER__COOLDOWN_SECONDS=10` or `LLM_ENGINES__OPENAI__BASE_URL=http://10.0.0.5:8000/v1`.
"""

import os
from pathlib import Path

from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from paneas.services.llm.catalogue import PACKAGED_CATALOGUE, EngineSpec, ModelEntry, RouterSpec
from paneas.services.runtime import wire
from paneas.services.runtime.settings import ServerSettings


class LlmSettings(ServerSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_", env_nested_delimiter="__", extra="ignore")

    port: int = wire.DEFAULT_PORTS["llm"]
    metrics_port: int = wire.DEFAULT_METRICS_PORTS["llm"]
    catalogue: Path = PACKAGED_CATALOGUE
    engines: dict[str, EngineSpec] = {}
    models: list[ModelEntry] = []
    router: RouterSpec = RouterSpec()
    # Seconds a refused caller is told to wait before retrying.
    retry_after_seconds: float = 1.0
    # Generate a few tokens at start so the first request pays no warm-up.
    warmup: bool = True
    # The data-residency switch: whether the router may send prompts to remote engines
    # (`kind: openai`: OpenAI or any endpoint over HTTP) on its own, as the `auto` tier, a
    # fallback or a context-window fallback; live-call insights (model `auto`) included.
    # False: prompts stay on local engines unless a request names a remote model itself.
    allow_external: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        catalogue = os.environ.get("LLM_CATALOGUE") or PACKAGED_CATALOGUE
        if not Path(catalogue).is_file():
            raise FileNotFoundError(f"LLM_CATALOGUE={catalogue}: no such file")
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=catalogue)
        return init_settings, env_settings, yaml_source
