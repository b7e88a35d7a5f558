-- Berth schema, version 3: per-bot settings for the bot's workspace.
-- network NULL: the isolated bridge (the default); 'host': the host's network namespace, chosen
-- explicitly by the user (never a silent fallback).
-- memory (bytes), cpu_millis (thousandths of a CPU), pids: NULL takes the runtime's default.
ALTER TABLE bots ADD COLUMN network TEXT NULL CHECK (network IN ('host'));
ALTER TABLE bots ADD COLUMN memory INTEGER NULL CHECK (memory > 0);
ALTER TABLE bots ADD COLUMN cpu_millis INTEGER NULL CHECK (cpu_millis > 0);
ALTER TABLE bots ADD COLUMN pids INTEGER NULL CHECK (pids > 0);
