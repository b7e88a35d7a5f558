//! Skills and agents IPC: the bot's skills (`/data/.skills`), the configuration a local agent
//! needs, and the MCP servers run inside the workspace.
import { invoke } from "@tauri-apps/api/core";
import { toAppError } from "./errors";
import type { AgentConfig } from "./generated/AgentConfig";
import type { McpProbe } from "./generated/McpProbe";
import type { McpServer } from "./generated/McpServer";
import type { SavedFile } from "./generated/SavedFile";
import type { SkillInfo } from "./generated/SkillInfo";
import type { TextFile } from "./generated/TextFile";

export type { AgentConfig } from "./generated/AgentConfig";
export type { McpProbe } from "./generated/McpProbe";
export type { McpServer } from "./generated/McpServer";
export type { McpToolInfo } from "./generated/McpToolInfo";
export type { SkillInfo } from "./generated/SkillInfo";

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (raw) {
    throw toAppError(raw);
  }
}

export const skills = {
  list: (bot: string) => call<SkillInfo[]>("skill_list", { bot }),
  /** The exact text of its SKILL.md, with the revision to save against. */
  read: (bot: string, name: string) => call<TextFile>("skill_read", { bot, name }),
  /** Why `text` is not a valid skill named `name`, or null. */
  check: (name: string, text: string) => call<string | null>("skill_check", { name, text }),
  /** Refused when invalid; `Conflict` when the file changed since `expectedRevision`. */
  save: (bot: string, name: string, content: string, expectedRevision: string | null) =>
    call<SavedFile>("skill_save", { bot, name, content, expectedRevision }),
  create: (bot: string, name: string) => call<SavedFile>("skill_new", { bot, name }),
  rename: (bot: string, name: string, newName: string) => call<SkillInfo>("skill_rename", { bot, name, newName }),
  delete: (bot: string, name: string) => call<null>("skill_delete", { bot, name }),
  /** Where the bot's workspace keeps its skills. */
  root: (bot: string) => call<string>("skill_root_get", { bot }),
  /** Sets it (`null`: the default, /data/.skills); the skills already there are not moved. */
  setRoot: (bot: string, root: string | null) => call<string>("skill_root_set", { bot, root }),
  /** Adds what was dropped on the window (folders, SKILL.md files, .zip / .tar.gz). */
  addDropped: (bot: string, dropId: string) => call<SkillInfo[]>("skill_add_dropped", { bot, dropId }),
};

export const agents = {
  config: (bot: string) => call<AgentConfig>("agent_config", { bot }),
  servers: (bot: string) => call<McpServer[]>("mcp_server_list", { bot }),
  /** Adds a server; with `replace` one of the same name is replaced. */
  put: (bot: string, server: McpServer, replace: boolean) => call<null>("mcp_server_put", { bot, server, replace }),
  delete: (bot: string, name: string) => call<null>("mcp_server_delete", { bot, name }),
  /** Adds the servers of a pasted `{"mcpServers": …}` configuration, all or none. */
  import: (bot: string, json: string, replace: boolean) => call<McpServer[]>("mcp_server_import", { bot, json, replace }),
  /** Starts the server in the workspace, lists its tools and stops it. */
  probe: (bot: string, name: string) => call<McpProbe>("mcp_server_probe", { bot, name }),
};
