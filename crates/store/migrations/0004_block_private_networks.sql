-- Berth schema, version 4: whether the bot's workspace is kept off private networks (its LAN,
-- VPNs, link-local addresses and cloud metadata services), DNS excepted. Off by default.
ALTER TABLE bots ADD COLUMN block_private INTEGER NOT NULL DEFAULT 0 CHECK (block_private IN (0, 1));
