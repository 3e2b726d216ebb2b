"""Prepare the database for the search app, as the operator: idempotent, run by every deployment.

    python -m function_app.bootstrap

In order: create the database if it is missing (so the operator owns it), create the app identity's
login role if it is missing, check that the operator may create and alter the index's tables, apply
core/schema.sql, and give the app read access to the index, including tables created later. Running
it again changes nothing. infra/scripts/bootstrap-database.sh runs it from the deploy pipeline and the
azd hook, with the caller's address admitted in the server's firewall for the duration.

It signs in as the operator: the server's Microsoft Entra administrator, whose login name is the
administrator's own name whoever holds the token (OPERATOR_PRINCIPAL_NAME: a group's display name for
its members, a user's principal name, a managed identity's or service principal's name).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg2
from psycopg2 import sql

from core.database import Connection, apply_schema

# The one step that only Azure can run: pgaadauth_create_principal maps an Entra principal, looked up
# by name in the tenant, to a new login role. Tests play it with a plain CREATE ROLE.
CreatePrincipal = Callable[[Connection, str], None]
# Opens a connection to the named database of the server, as the operator.
Connect = Callable[[str], Connection]

ADMIN_DATABASE = "postgres"  # where Azure installs the pgaadauth functions
_CONNECT_ATTEMPTS = 12  # a firewall rule just created takes a few seconds to apply
_CONNECT_WAIT_SECONDS = 5.0


class BootstrapError(Exception):
    """The database cannot be prepared as it is; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class BootstrapReport:
    database_created: bool
    role_created: bool


def create_entra_principal(conn: Connection, role: str) -> None:
    """Azure only: a login role for the Entra principal named ``role`` (not an admin, no MFA claim)."""
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM pgaadauth_create_principal(%s, false, false)", (role,))


def ensure_database(conn: Connection, database: str) -> bool:
    """Create ``database`` unless it exists (``conn`` is to another database); True if it was created.

    The creator owns it, and on PostgreSQL 15+ only the owner may create tables in its schema public.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        exists = cur.fetchone() is not None
    conn.rollback()
    if exists:
        return False
    autocommit = conn.autocommit
    conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    finally:
        conn.autocommit = autocommit
    return True


def ensure_role(conn: Connection, role: str, create_principal: CreatePrincipal) -> bool:
    """Create the login role ``role`` with ``create_principal`` unless it exists; True if it was created."""
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        exists = cur.fetchone() is not None
    if not exists:
        create_principal(conn, role)
    conn.commit()
    return not exists


def check_ownership(conn: Connection) -> None:
    """Raise BootstrapError unless the signed-in role may create tables in public and owns those there.

    Applying the schema creates tables and alters existing ones (ADD COLUMN IF NOT EXISTS still needs
    ownership), and only an owner may grant on a table.
    """
    with conn.cursor() as cur:
        cur.execute(
            "SELECT current_user, current_database(), pg_get_userbyid(datdba),"
            " has_schema_privilege('public', 'CREATE')"
            " FROM pg_database WHERE datname = current_database()"
        )
        user, database, owner, can_create = cur.fetchone()
        cur.execute(
            "SELECT tablename, tableowner FROM pg_tables"
            " WHERE schemaname = 'public' AND tableowner <> current_user ORDER BY tablename"
        )
        foreign = cur.fetchall()
    conn.rollback()
    if not can_create:
        raise BootstrapError(
            f'role "{user}" cannot create tables in schema public of database "{database}" '
            f'(owned by "{owner}"; on PostgreSQL 15+ only the owner may): drop the empty database so '
            f"that the bootstrap creates it as the operator, or have its owner grant CREATE ON SCHEMA public"
        )
    if foreign:
        tables = ", ".join(f'{name} (owner "{by}")' for name, by in foreign)
        raise BootstrapError(
            f'role "{user}" does not own these tables in "{database}": {tables}; '
            f'as their owner, run ALTER TABLE ... OWNER TO "{user}" (or REASSIGN OWNED BY ... TO "{user}")'
        )


def grant_read(conn: Connection, role: str, database: str) -> None:
    """Let ``role`` read every table in public, including those the signed-in role creates later."""
    names = {"role": sql.Identifier(role), "database": sql.Identifier(database)}
    statements = (
        "GRANT CONNECT ON DATABASE {database} TO {role}",
        "GRANT USAGE ON SCHEMA public TO {role}",
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {role}",
    )
    with conn.cursor() as cur:
        for statement in statements:
            cur.execute(sql.SQL(statement).format(**names))
    conn.commit()


def bootstrap(
    connect: Connect,
    *,
    database: str,
    app_role: str,
    create_principal: CreatePrincipal = create_entra_principal,
) -> BootstrapReport:
    """Database, app role, schema and the app's read access, each only where missing."""
    conn = connect(ADMIN_DATABASE)
    try:
        database_created = ensure_database(conn, database)
        role_created = ensure_role(conn, app_role, create_principal)
    finally:
        conn.close()
    conn = connect(database)
    try:
        check_ownership(conn)
        apply_schema(conn)
        grant_read(conn, app_role, database)
    finally:
        conn.close()
    return BootstrapReport(database_created=database_created, role_created=role_created)


@dataclass(frozen=True)
class BootstrapSettings:
    host: str
    database: str
    operator: str  # the login name: the Entra administrator's name
    app_role: str
    sslmode: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BootstrapSettings:
        """Read the settings; a missing one raises BootstrapError naming it and where it comes from."""

        def required(name: str, what: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise BootstrapError(f"{name} is not set: {what}")
            return value

        return cls(
            host=required("POSTGRES_HOST", "the server's host name (a deployment output)"),
            database=required("POSTGRES_DATABASE", "the index's database (a deployment output)"),
            operator=required(
                "OPERATOR_PRINCIPAL_NAME",
                "the login name of the PostgreSQL Entra administrator: the group's display name when "
                "the operator is a group (also for its members and managed identities), the user "
                "principal name for a user, the identity's name for a managed identity; "
                "`az postgres flexible-server microsoft-entra-admin list` shows it",
            ),
            app_role=required("APP_IDENTITY_NAME", "the app's managed identity (a deployment output)"),
            sslmode=env.get("POSTGRES_SSLMODE", "").strip() or "require",
        )


def entra_connector(settings: BootstrapSettings, password: Callable[[], str]) -> Connect:
    """Connections as the operator with a fresh Entra token, retried while a new firewall rule applies."""

    def connect(database: str) -> Connection:
        for attempt in range(1, _CONNECT_ATTEMPTS + 1):
            try:
                return psycopg2.connect(
                    host=settings.host,
                    dbname=database,
                    user=settings.operator,
                    password=password(),
                    sslmode=settings.sslmode,
                    connect_timeout=10,
                )
            except psycopg2.OperationalError as exc:
                if attempt == _CONNECT_ATTEMPTS:
                    raise BootstrapError(
                        f'cannot sign in to {settings.host}/{database} as "{settings.operator}": '
                        f"{str(exc).strip().splitlines()[0]}"
                    ) from None
                print(f"attempt {attempt}: cannot connect yet, retrying", file=sys.stderr)
                time.sleep(_CONNECT_WAIT_SECONDS)
        raise AssertionError("unreachable")

    return connect


def token_source(env: Mapping[str, str]) -> Callable[[], str]:
    """PGPASSWORD when the caller has put an Entra token there (the script does, with `az account
    get-access-token`), else a token of this process's Azure credential (AZURE_CLIENT_ID's identity)."""
    token = env.get("PGPASSWORD", "")
    if token:
        return lambda: token
    from core.database import EntraTokenPassword, azure_credential

    credential: Any = azure_credential(env.get("AZURE_CLIENT_ID") or None)
    return EntraTokenPassword(credential)


def main(env: Mapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env
    try:
        settings = BootstrapSettings.from_env(env)
        connect = entra_connector(settings, token_source(env))
        report = bootstrap(connect, database=settings.database, app_role=settings.app_role)
    except BootstrapError as exc:
        raise SystemExit(f"bootstrap: {exc}") from None
    print(
        f'bootstrap: database "{settings.database}" '
        f"{'created' if report.database_created else 'exists'}, "
        f'role "{settings.app_role}" {"created" if report.role_created else "exists"}, '
        f"schema applied, read access granted"
    )


if __name__ == "__main__":
    main()
