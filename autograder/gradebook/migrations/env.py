"""Alembic environment: `python -m autograder migrate` or autograder.gradebook.db.upgrade() run it."""

from alembic import context
from sqlalchemy import engine_from_config, pool

import autograder.projects.models  # noqa: F401  (proposals, claims, milestones, peer opt-ins: tables on the same Base)
from autograder.gradebook.models import Base

config = context.config
target_metadata = Base.metadata
if not config.get_main_option("sqlalchemy.url"):  # alembic's CLI with autograder/gradebook/alembic.ini: the service's URL
    from autograder.settings import Settings

    config.set_main_option("sqlalchemy.url", Settings().db_url.replace("%", "%%"))


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
