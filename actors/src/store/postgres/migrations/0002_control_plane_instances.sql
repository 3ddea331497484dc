-- One row per control-plane instance sharing the database: its lease. An instance inserts its
-- row at start and renews renewed_at every few seconds, always with the database's now(), so
-- the instances' own clocks never matter. A row renewed longer ago than the lease timeout is
-- a dead instance: a survivor stamps disconnectTime on its open dataplane subscriptions, then
-- deletes the row. A restarted instance has a new id, hence a new row.
CREATE TABLE control_plane_instances (
    id         text COLLATE "C" PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    renewed_at timestamptz NOT NULL DEFAULT now()
);
