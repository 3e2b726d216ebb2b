"""The PostgreSQL server as the app needs it on first deployment (issue 16 items 2 and 11): the Entra
administrator exists before the database, and the version offers pgvector 0.8 and pg_diskann, both
allow-listed."""

from __future__ import annotations

from tests.infra.bicep import DATABASE, MAIN, decorators, defaults, depends_on, parse, resources

# Azure Database for PostgreSQL flexible server ships pgvector 0.8 (iterative index scans, halfvec)
# and Microsoft's pg_diskann on these majors (issue 16 item 11; 14 and 15 are older than we want).
VERSIONS_WITH_PGVECTOR_08_AND_DISKANN = {"16", "17"}


def by_type(type_: str) -> str:
    found = resources(DATABASE, type_)
    assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
    return next(iter(found))


def test_the_entra_administrator_exists_before_the_database() -> None:
    """A database created before the Entra admin is owned by azuresu, and on PostgreSQL 15+ only the
    owner may create tables in public: the first migration would fail."""
    admin = by_type("Microsoft.DBforPostgreSQL/flexibleServers/administrators")
    database = by_type("Microsoft.DBforPostgreSQL/flexibleServers/databases")
    assert admin in depends_on(DATABASE, database)
    assert database not in depends_on(DATABASE, admin), "a dependency cycle"


def test_server_children_are_applied_one_at_a_time() -> None:
    """The server takes one change at a time: every child but the first waits for another one."""
    children = [
        name
        for name, r in parse(DATABASE)["resources"].items()
        if r["type"].startswith("Microsoft.DBforPostgreSQL/flexibleServers/") and not r["existing"]
    ]
    first = [name for name in children if not depends_on(DATABASE, name)]
    assert first == [by_type("Microsoft.DBforPostgreSQL/flexibleServers/administrators")]
    for a in children:
        for b in children:
            if a < b:
                assert a in depends_on(DATABASE, b) or b in depends_on(DATABASE, a), (a, b)


def test_the_version_offers_pgvector_08_and_diskann() -> None:
    for path, name in ((MAIN, "postgresVersion"), (DATABASE, "version")):
        allowed = set(decorators(parse(path)["parameters"][name])["allowed"])
        assert allowed <= VERSIONS_WITH_PGVECTOR_08_AND_DISKANN, (path.name, allowed)
        assert defaults(path)[name] == "17"


def test_vector_and_diskann_are_allow_listed() -> None:
    configs = resources(DATABASE, "Microsoft.DBforPostgreSQL/flexibleServers/configurations")
    extensions = [c for c in configs.values() if c["name"] == "azure.extensions"]
    assert len(extensions) == 1
    listed = {e.strip().upper() for e in extensions[0]["properties"]["value"].split(",")}
    assert {"VECTOR", "PG_DISKANN"} <= listed
