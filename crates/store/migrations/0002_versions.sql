-- Berth schema, version 2: workspace versions (snapshots).
-- A version belongs to a bot's workspace; its number is per bot, max+1, never reused (even after
-- the highest version is deleted): version_counters remembers the last number handed out.

CREATE TABLE versions (
    bot           TEXT NOT NULL REFERENCES bots(name) ON UPDATE CASCADE ON DELETE CASCADE,
    number        INTEGER NOT NULL,
    name          TEXT NULL,
    -- containerd's snapshot name (stable; never renamed).
    snapshot      TEXT NOT NULL,
    -- the version number this one was taken on top of, when known.
    parent        INTEGER NULL,
    -- 'manual' | 'before-rollback' | 'adopted'
    source        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    -- 1 when containerd no longer has the snapshot (found at reconcile); shown, never dropped.
    missing       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bot, number)
);

CREATE TABLE version_counters (
    bot   TEXT PRIMARY KEY NOT NULL REFERENCES bots(name) ON UPDATE CASCADE ON DELETE CASCADE,
    last  INTEGER NOT NULL
);
