-- Control-plane secrets (signing keys, CA roots, revocation entries): created once, shared by
-- every instance, never updated. See store::secrets.
CREATE TABLE secrets (
    name          text COLLATE "C" PRIMARY KEY,
    value         bytea NOT NULL,
    creation_time timestamptz NOT NULL DEFAULT now()
);
