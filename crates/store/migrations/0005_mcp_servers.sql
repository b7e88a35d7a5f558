-- Berth schema, version 5: the MCP servers a bot runs inside its workspace, which
-- `berth mcp serve` starts through the bridge and proxies to the agent. `args` and `env` are
-- JSON (an array of strings, an object of strings): they reach the process as argv and
-- environment, never through a shell.
CREATE TABLE mcp_servers (
    bot     TEXT NOT NULL REFERENCES bots(name) ON UPDATE CASCADE ON DELETE CASCADE,
    name    TEXT NOT NULL,
    command TEXT NOT NULL,
    args    TEXT NOT NULL DEFAULT '[]',
    env     TEXT NOT NULL DEFAULT '{}',
    cwd     TEXT,
    PRIMARY KEY (bot, name)
);
