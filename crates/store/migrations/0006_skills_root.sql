-- Berth schema, version 6: where a bot's workspace keeps its skills; NULL is the default,
-- /data/.skills (the reference system's place).
ALTER TABLE bots ADD COLUMN skills_root TEXT;
