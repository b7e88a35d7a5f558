-- Berth schema, version 1.
-- Timestamps are RFC 3339 UTC strings with milliseconds, written by the store.

CREATE TABLE bots (
    name        TEXT PRIMARY KEY NOT NULL,
    created_at  TEXT NOT NULL,
    image_pref  TEXT NULL
);

CREATE TABLE workspaces (
    bot              TEXT PRIMARY KEY NOT NULL
                     REFERENCES bots(name) ON UPDATE CASCADE ON DELETE CASCADE,
    container_id     TEXT NOT NULL,
    image            TEXT NOT NULL,
    state            TEXT NOT NULL,
    network          TEXT NULL,
    last_error       TEXT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    last_started_at  TEXT NULL,
    last_stopped_at  TEXT NULL
);

-- No foreign key on purpose: the activity log outlives a deleted bot.
CREATE TABLE events (
    id       INTEGER PRIMARY KEY,
    bot      TEXT NOT NULL,
    at       TEXT NOT NULL,
    kind     TEXT NOT NULL,
    message  TEXT NOT NULL
);
CREATE INDEX events_bot_id ON events (bot, id);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY NOT NULL,
    value  TEXT NOT NULL
);

CREATE TABLE recent_images (
    image    TEXT PRIMARY KEY NOT NULL,
    used_at  TEXT NOT NULL
);
