"""Analytics settings, from `ANALYTICS_*` environment variables and `DATABASE_URL`."""

from pathlib import Path

from pydantic import Field, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

from paneas.services.runtime.settings import InsecureSecret, url_password_problem

# The async driver SQLAlchemy needs for each URL scheme people usually write.
_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


class AnalyticsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore")

    enabled: bool = True
    # Where events are stored: a local SQLite file unless a PostgreSQL URL is given. A
    # password in it must be at least 16 characters and no placeholder, or the gateway
    # refuses to start.
    database_url: str = Field(
        "sqlite+aiosqlite:///./.state/analytics.db", validation_alias="DATABASE_URL", repr=False
    )
    # Events waiting for the writer; when full, new events are dropped (and counted).
    queue_size: PositiveInt = 10000
    # Most events per INSERT.
    batch_size: PositiveInt = 500
    # How often the writer flushes what has queued up, seconds.
    flush_interval_seconds: PositiveFloat = 0.5
    # How long shutdown waits for queued events to be written, seconds.
    shutdown_timeout_seconds: PositiveFloat = 5.0
    # Longest pause between migration attempts while the database is down at start, seconds.
    migration_retry_seconds: PositiveFloat = 10.0
    # Widest window GET /api/v1/analytics summarises; wider ones get 400, days.
    max_window_days: PositiveInt = 31

    def model_post_init(self, context: object) -> None:
        # Compose and Kubernetes build the URL from POSTGRES_PASSWORD: name what people set.
        name = "POSTGRES_PASSWORD (the password in DATABASE_URL)"
        if problem := url_password_problem(name, self.database_url):
            raise InsecureSecret(problem)

    def async_url(self) -> URL:
        return async_database_url(self.database_url)


def async_database_url(database_url: str) -> URL:
    """`postgresql://...` and `sqlite:///...` with the async driver the gateway uses."""
    url = make_url(database_url)
    return url.set(drivername=_ASYNC_DRIVERS.get(url.drivername, url.drivername))


def ensure_sqlite_folder(url: URL) -> None:
    """SQLite creates the file but not its folder (`./.state/` on a fresh checkout)."""
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
