"""The database bootstrap (function_app/bootstrap.py) played by the operator against a real PostgreSQL.

The operator here is a plain login role with CREATEROLE and CREATEDB, as the members of Azure's
azure_pg_admin are, and not a superuser. Two things stand in for what only Azure can do:
``pgaadauth_create_principal`` (it looks the principal up in Microsoft Entra) is replaced by a plain
CREATE ROLE, and the pgvector extension is created by the local superuser beforehand, where Azure's
``azure.extensions`` allow-list lets the administrator create it. Everything else (database and role
checks, ownership checks, the schema, the grants, a second run) is the code that runs in Azure.
"""

from __future__ import annotations

import uuid

import psycopg2
import psycopg2.errors
import pytest
from psycopg2 import sql

from core.database import Connection
from function_app.bootstrap import (
    BootstrapError,
    BootstrapSettings,
    Connect,
    bootstrap,
    ensure_database,
    main,
)


def plain_role(conn: Connection, role: str) -> None:
    """Stands in for pgaadauth_create_principal, which exists only on Azure."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))


def as_superuser(admin_dsn: str, statement: sql.Composable, database: str = "postgres") -> None:
    conn = psycopg2.connect(admin_dsn, dbname=database)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement)
    conn.close()


@pytest.fixture
def operator(pg_admin_dsn: str) -> str:
    """A new operator login role; the space in its name is there as in a group's display name."""
    name = f"search operators {uuid.uuid4().hex[:8]}"
    as_superuser(
        pg_admin_dsn, sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB").format(sql.Identifier(name))
    )
    return name


def new_database(admin_dsn: str, owner: str | None) -> str:
    """A database with pgvector (Azure's allow-list lets the operator create it; here the superuser must)."""
    name = f"search_{uuid.uuid4().hex[:10]}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if owner:
        statement = sql.SQL("{} OWNER {}").format(statement, sql.Identifier(owner))
    as_superuser(admin_dsn, statement)
    as_superuser(admin_dsn, sql.SQL("CREATE EXTENSION vector"), database=name)
    return name


def connector(admin_dsn: str, user: str) -> Connect:
    """Connections as ``user`` (the local server trusts local logins; Azure's wants an Entra token)."""
    return lambda database: psycopg2.connect(admin_dsn, dbname=database, user=user)


@pytest.fixture
def app_role() -> str:
    return f"id-search-{uuid.uuid4().hex[:8]}"


def test_bootstrap_twice_gives_the_app_read_access_and_changes_nothing_the_second_time(
    pg_admin_dsn: str, operator: str, app_role: str
) -> None:
    database = new_database(pg_admin_dsn, owner=operator)
    connect = connector(pg_admin_dsn, operator)

    first = bootstrap(connect, database=database, app_role=app_role, create_principal=plain_role)
    second = bootstrap(connect, database=database, app_role=app_role, create_principal=plain_role)

    assert (first.database_created, first.role_created) == (False, True)
    assert (second.database_created, second.role_created) == (False, False)
    conn = connect(database)
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
        assert cur.fetchall() == [(operator,)]  # the schema's tables belong to the operator
        cur.execute("CREATE TABLE later (id int)")  # a table the operator adds after the bootstrap
    conn.commit()
    conn.close()

    app = psycopg2.connect(pg_admin_dsn, dbname=database, user=app_role)
    with app.cursor() as cur:
        cur.execute("SELECT count(*) FROM images")
        assert cur.fetchone() == (0,)
        cur.execute("SELECT count(*) FROM later")  # default privileges cover tables made later
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("INSERT INTO clusters (bundle_version, cluster_id, centroid) VALUES ('v', 0, '[1]')")
    app.close()


def test_bootstrap_creates_a_missing_database_owned_by_the_operator(pg_admin_dsn: str, operator: str) -> None:
    database = f"search_{uuid.uuid4().hex[:10]}"
    conn = connector(pg_admin_dsn, operator)("postgres")
    assert ensure_database(conn, database) is True
    assert ensure_database(conn, database) is False
    with conn.cursor() as cur:
        cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (database,))
        assert cur.fetchone() == (operator,)
    conn.close()


def refusal(admin_dsn: str, operator: str, database: str, app_role: str) -> str:
    """The message of the BootstrapError that the operator's bootstrap of ``database`` raises."""
    with pytest.raises(BootstrapError) as caught:
        bootstrap(
            connector(admin_dsn, operator), database=database, app_role=app_role, create_principal=plain_role
        )
    return str(caught.value)


def test_a_database_the_operator_does_not_own_is_refused_with_the_fix(
    pg_admin_dsn: str, operator: str, app_role: str
) -> None:
    """What Azure does to a database created before the Entra administrator: azuresu owns it."""
    database = new_database(pg_admin_dsn, owner=None)
    assert refusal(pg_admin_dsn, operator, database, app_role).startswith(
        f'role "{operator}" cannot create tables in schema public of database "{database}" '
        '(owned by "postgres"; on PostgreSQL 15+ only the owner may)'
    )


def test_tables_owned_by_another_role_are_named(pg_admin_dsn: str, operator: str, app_role: str) -> None:
    """E.g. a member who once migrated under their own name instead of the administrator's."""
    database = new_database(pg_admin_dsn, owner=operator)
    as_superuser(pg_admin_dsn, sql.SQL("CREATE TABLE skipped (image_id text)"), database=database)
    assert refusal(pg_admin_dsn, operator, database, app_role).startswith(
        f'role "{operator}" does not own these tables in "{database}": skipped (owner "postgres"); '
    )


SETTINGS = {
    "POSTGRES_HOST": "psql-search.postgres.database.azure.com",
    "POSTGRES_DATABASE": "search",
    "OPERATOR_PRINCIPAL_NAME": "caption-search-operators",
    "APP_IDENTITY_NAME": "id-search-abc",
}


def test_settings_read_the_administrator_name_and_default_to_tls() -> None:
    settings = BootstrapSettings.from_env(SETTINGS)
    assert (settings.operator, settings.app_role, settings.sslmode) == (
        "caption-search-operators",
        "id-search-abc",
        "require",
    )


@pytest.mark.parametrize("missing", sorted(SETTINGS))
def test_a_missing_setting_stops_before_connecting_and_names_it(missing: str) -> None:
    env = {name: value for name, value in SETTINGS.items() if name != missing}
    env[missing] = "  "
    with pytest.raises(SystemExit) as caught:
        main({**env, "PGPASSWORD": "token"})
    assert str(caught.value).startswith(f"bootstrap: {missing} is not set: ")


def test_the_missing_operator_name_says_which_name_to_use() -> None:
    env = {name: value for name, value in SETTINGS.items() if name != "OPERATOR_PRINCIPAL_NAME"}
    with pytest.raises(SystemExit) as caught:
        main({**env, "PGPASSWORD": "token"})
    message = str(caught.value)
    assert "the group's display name when the operator is a group" in message
    assert "the identity's name for a managed identity" in message
