-- Every resource of every kind, keyed by (kind, mesh, name). Text columns use the "C" collation
-- so that ORDER BY name, mesh is byte order, the order of the memory store and of the API (D4).
-- The primary key (kind, name, mesh) serves lists of one kind across meshes in list order; the
-- (mesh, kind, name) index serves lists of one kind in one mesh and the cascade of a mesh delete.
-- fillfactor leaves room on each page so updates (spec, version, time: no indexed column) stay
-- HOT updates.
CREATE TABLE resources (
    kind              text COLLATE "C" NOT NULL,
    mesh              text COLLATE "C" NOT NULL,
    name              text COLLATE "C" NOT NULL,
    version           bigint NOT NULL,
    creation_time     timestamptz NOT NULL,
    modification_time timestamptz NOT NULL,
    spec              json NOT NULL,
    PRIMARY KEY (kind, name, mesh)
) WITH (fillfactor = 90);

CREATE INDEX resources_by_mesh ON resources (mesh, kind, name);
