//! Every SQL statement of the PostgreSQL store. Writes report their outcome as a row so that no
//! per-change failure raises an error (which would abort the whole transaction), and each
//! applied write announces itself with `pg_notify` in the same statement.

/// `LISTEN` on the channel every applied change is announced on.
pub(super) const LISTEN: &str = "LISTEN ursa_changes";

/// Insert one resource unless the key is taken. `$1..$7`: kind, mesh, name, version,
/// creation_time, modification_time, spec; `$8`: notification payload. One row: how many
/// were inserted (0 → the key was taken).
pub(super) const INSERT: &str = "\
WITH ins AS (
    INSERT INTO resources (kind, mesh, name, version, creation_time, modification_time, spec)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT DO NOTHING
    RETURNING 1)
SELECT (SELECT count(*) FROM (SELECT pg_notify('ursa_changes', $8) FROM ins) AS n) AS applied";

/// Replace a resource whose stored version is `$4`. `$1..$3`: kind, mesh, name; `$5..$7`:
/// new version, modification_time, spec; `$8`: payload. One row: how many were updated, and
/// whether the key existed before (0 and true → version conflict; 0 and false → not found).
pub(super) const UPDATE: &str = "\
WITH upd AS (
    UPDATE resources SET version = $5, modification_time = $6, spec = $7
    WHERE kind = $1 AND mesh = $2 AND name = $3 AND version = $4
    RETURNING 1)
SELECT (SELECT count(*) FROM (SELECT pg_notify('ursa_changes', $8) FROM upd) AS n) AS applied,
       EXISTS (SELECT 1 FROM resources WHERE kind = $1 AND mesh = $2 AND name = $3) AS present";

/// Delete a resource that owns nothing. `$1..$3`: kind, mesh, name; `$4`: payload; `$5`: the
/// version it must be at (NULL: any). One row: how many were deleted, and whether the key
/// existed (0 and true → version conflict; 0 and false → not found).
pub(super) const DELETE: &str = "\
WITH del AS (
    DELETE FROM resources WHERE kind = $1 AND mesh = $2 AND name = $3
        AND ($5::bigint IS NULL OR version = $5)
    RETURNING 1)
SELECT (SELECT count(*) FROM (SELECT pg_notify('ursa_changes', $4) FROM del) AS n) AS applied,
       EXISTS (SELECT 1 FROM resources WHERE kind = $1 AND mesh = $2 AND name = $3) AS present";

/// Delete a mesh and, when it existed, everything in it. `$1`: kind (`Mesh`), `$2`: mesh,
/// `$3`: name, `$4`: payload, `$5`: version (as in [`DELETE`]).
pub(super) const DELETE_MESH: &str = "\
WITH del AS (
    DELETE FROM resources WHERE kind = $1 AND mesh = $2 AND name = $3
        AND ($5::bigint IS NULL OR version = $5)
    RETURNING 1),
owned AS (
    DELETE FROM resources
    WHERE mesh = $2 AND NOT (kind = $1 AND name = $3) AND EXISTS (SELECT 1 FROM del))
SELECT (SELECT count(*) FROM (SELECT pg_notify('ursa_changes', $4) FROM del) AS n) AS applied,
       EXISTS (SELECT 1 FROM resources WHERE kind = $1 AND mesh = $2 AND name = $3) AS present";

/// Delete a resource and, when it existed, what it owns (`Kind::owned`: a Dataplane's
/// insight). `$1..$5` as in [`DELETE`]; `$6`: the owned kinds, which share its mesh and name.
pub(super) const DELETE_OWNER: &str = "\
WITH del AS (
    DELETE FROM resources WHERE kind = $1 AND mesh = $2 AND name = $3
        AND ($5::bigint IS NULL OR version = $5)
    RETURNING 1),
owned AS (
    DELETE FROM resources
    WHERE kind = ANY($6::text[]) AND mesh = $2 AND name = $3 AND EXISTS (SELECT 1 FROM del))
SELECT (SELECT count(*) FROM (SELECT pg_notify('ursa_changes', $4) FROM del) AS n) AS applied,
       EXISTS (SELECT 1 FROM resources WHERE kind = $1 AND mesh = $2 AND name = $3) AS present";

/// One resource. `$1..$3`: kind, mesh, name.
pub(super) const GET: &str = "\
SELECT version, creation_time, modification_time, spec
FROM resources WHERE kind = $1 AND mesh = $2 AND name = $3";

/// A page of one kind across meshes, with the total, in one snapshot. `$1`: kind, `$2`:
/// limit (NULL = all), `$3`: offset. At least one row: with no item on the page, the item
/// columns are NULL.
pub(super) const LIST_ALL: &str = "\
SELECT t.total, r.mesh, r.name, r.version, r.creation_time, r.modification_time, r.spec
FROM (SELECT count(*) AS total FROM resources WHERE kind = $1) AS t
LEFT JOIN LATERAL (
    SELECT mesh, name, version, creation_time, modification_time, spec
    FROM resources WHERE kind = $1
    ORDER BY name, mesh LIMIT $2 OFFSET $3) AS r ON true
ORDER BY r.name, r.mesh";

/// A page of one kind in one mesh, with the total. `$1`: kind, `$2`: mesh, `$3`: limit,
/// `$4`: offset.
pub(super) const LIST_MESH: &str = "\
SELECT t.total, r.mesh, r.name, r.version, r.creation_time, r.modification_time, r.spec
FROM (SELECT count(*) AS total FROM resources WHERE kind = $1 AND mesh = $2) AS t
LEFT JOIN LATERAL (
    SELECT mesh, name, version, creation_time, modification_time, spec
    FROM resources WHERE kind = $1 AND mesh = $2
    ORDER BY name LIMIT $3 OFFSET $4) AS r ON true
ORDER BY r.name";

/// Everything.
pub(super) const LOAD_ALL: &str = "\
SELECT kind, mesh, name, version, creation_time, modification_time, spec FROM resources";

/// Stores a secret unless one of that name exists. `$1`: name, `$2`: value.
pub(super) const INSERT_SECRET: &str =
    "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";

/// One secret. `$1`: name.
pub(super) const GET_SECRET: &str = "SELECT value FROM secrets WHERE name = $1";

/// Deletes the secrets whose names start with `$1`.
pub(super) const DELETE_SECRETS: &str = "DELETE FROM secrets WHERE starts_with(name, $1)";

/// The secrets whose names start with `$1`, by name.
pub(super) const LIST_SECRETS: &str =
    "SELECT name, value FROM secrets WHERE starts_with(name, $1) ORDER BY name";

/// Serialises schema migrations between instances starting together (released at COMMIT).
pub(super) const MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock($1)";

/// The key of [`MIGRATION_LOCK`]: "ursa-mig" in ASCII.
pub(super) const MIGRATION_LOCK_KEY: i64 = 0x7572_7361_2d6d_6967;

/// The table that records applied migrations.
pub(super) const CREATE_MIGRATIONS_TABLE: &str = "\
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     bigint PRIMARY KEY,
    description text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now())";

/// The newest applied migration (0 for none).
pub(super) const SCHEMA_VERSION: &str = "SELECT coalesce(max(version), 0) FROM schema_migrations";

/// Records one applied migration. `$1`: version, `$2`: description.
pub(super) const RECORD_MIGRATION: &str =
    "INSERT INTO schema_migrations (version, description) VALUES ($1, $2)";

/// Creates or renews the lease of instance `$1`, by the server's clock.
pub(super) const RENEW_LEASE: &str = "\
INSERT INTO control_plane_instances (id) VALUES ($1)
ON CONFLICT (id) DO UPDATE SET renewed_at = now()";

/// The instances whose lease was last renewed more than `$1` seconds ago.
pub(super) const EXPIRED_LEASES: &str = "\
SELECT id FROM control_plane_instances
WHERE renewed_at < now() - make_interval(secs => $1::float8)
ORDER BY id";

/// Deletes the lease of instance `$1` if it was last renewed more than `$2` seconds ago.
pub(super) const FORGET_LEASE: &str = "\
DELETE FROM control_plane_instances
WHERE id = $1 AND renewed_at < now() - make_interval(secs => $2::float8)";
