//! Mock skills and agents for the mock backend: skills per bot in memory (checked by a small
//! copy of the Rust rules: a `---` front-matter with `name` equal to the folder and a
//! `description`), revisions, the agent configuration, in-workspace servers and a probe that
//! answers for `sh`/`node` commands and fails for `npx` the way a busybox image does.
import { AppError } from "./errors";
import type { McpServer } from "./generated/McpServer";
import type { SkillInfo } from "./generated/SkillInfo";
import type { WorkspaceState } from "./generated/WorkspaceState";

type Args = Record<string, unknown>;

const NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/** The mock's version of `skills::format::parse`. */
export function checkSkill(folder: string, text: string): string | null {
  const m = /^\uFEFF?---\r?\n([\s\S]*?)\r?\n---\r?(\n|$)/.exec(text);
  if (!m) return "SKILL.md must start with a `---` line opening its YAML front-matter";
  const fields = new Map<string, string>();
  for (const line of m[1].split(/\r?\n/)) {
    const kv = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
    if (kv) fields.set(kv[1], kv[2].replace(/^["']|["']$/g, ""));
  }
  const name = fields.get("name");
  if (!name) return "the front-matter has no `name`";
  if (name.length > 64 || !NAME.test(name)) return `the name "${name}" may hold only a-z, 0-9 and single '-' inside`;
  if (name !== folder) return `the name "${name}" differs from its folder's name "${folder}"`;
  const d = fields.get("description");
  if (d === undefined) return "the front-matter has no `description`";
  if (!d.trim()) return "the description is empty";
  if ([...d].length > 1024) return `the description has ${[...d].length} characters; at most 1024 are allowed`;
  return null;
}

export function fakeAgentCommands(stateOf: (bot: string) => WorkspaceState | undefined) {
  const skills = new Map<string, Map<string, { text: string; rev: number }>>();
  const roots = new Map<string, string>();
  const rootOf = (bot: unknown) => roots.get(String(bot)) ?? "/data/.skills";
  const servers = new Map<string, Map<string, McpServer>>();
  const exists = (bot: unknown) => {
    if (stateOf(String(bot)) === undefined) throw new AppError("NotFound", `no bot named "${bot}"`);
  };
  const running = (bot: unknown) => {
    exists(bot);
    if (stateOf(String(bot)) !== "running")
      throw new AppError("Conflict", `${bot}'s workspace is not running; start it first`);
  };
  const skillsOf = (bot: unknown) => {
    running(bot);
    // Per bot and folder: another folder has other skills; the default one starts with one.
    const key = `${bot}\n${rootOf(bot)}`;
    let m = skills.get(key);
    if (!m) {
      const seed = rootOf(bot) === "/data/.skills";
      m = new Map(seed ? [["hello", { text: "---\nname: hello\ndescription: Greets the user.\n---\n\n# hello\n\nSay hello.\n", rev: 1 }]] : []);
      skills.set(key, m);
    }
    return m;
  };
  const serversOf = (bot: unknown) => {
    exists(bot);
    let m = servers.get(String(bot));
    if (!m) servers.set(String(bot), (m = new Map()));
    return m;
  };
  const checkName = (name: unknown) => {
    const n = String(name);
    if (!NAME.test(n) || n.length > 64) throw new AppError("InvalidArgument", `the name "${n}" may hold only a-z, 0-9 and '-'`);
    return n;
  };
  const info = (bot: unknown, name: string, text: string): SkillInfo => {
    const problem = checkSkill(name, text);
    const d = /\ndescription:\s*(.*)/.exec(text)?.[1] ?? "";
    return { name, description: problem ? "" : d, valid: !problem, problem, path: `${rootOf(bot)}/${name}/SKILL.md` };
  };
  const file = (bot: unknown, name: string, s: { text: string; rev: number }) => ({
    info: { path: `${rootOf(bot)}/${name}/SKILL.md`, name: "SKILL.md", lossy: false, kind: "file", size: s.text.length, mode: 0o644, modifiedMs: Date.now(), linkTarget: null, targetKind: null, uid: 0, gid: 0 },
    revision: `sha256:${s.rev}`,
  });
  const template = (n: string) => `---\nname: ${n}\ndescription: What this skill does and when to use it.\n---\n\n# ${n}\n\nSteps the agent follows.\n`;
  const checkServer = (s: McpServer) => {
    if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(s.name) || s.name.includes("__"))
      throw new AppError("InvalidArgument", `the MCP server name "${s.name}" must be 1 to 32 of a-z, 0-9, '-' and '_'`);
    if (!s.command.trim()) throw new AppError("InvalidArgument", `the MCP server ${s.name} has no command`);
  };

  const commands: Record<string, (a: Args) => unknown> = {
    skill_list: (a) => [...skillsOf(a.bot)].sort(([x], [y]) => x.localeCompare(y)).map(([n, s]) => info(a.bot, n, s.text)),
    skill_read: (a) => {
      const s = skillsOf(a.bot).get(checkName(a.name));
      if (!s) throw new AppError("NotFound", `the skill "${a.name}" has no SKILL.md`);
      return { ...file(a.bot, String(a.name), s), content: s.text };
    },
    skill_check: (a) => checkSkill(String(a.name), String(a.text)),
    skill_save: (a) => {
      const m = skillsOf(a.bot);
      const name = checkName(a.name);
      const problem = checkSkill(name, String(a.content));
      if (problem) throw new AppError("InvalidArgument", `the skill is not valid: ${problem}`);
      const cur = m.get(name);
      if (a.expectedRevision && cur && `sha256:${cur.rev}` !== a.expectedRevision)
        throw new AppError("Conflict", `/data/.skills/${name}/SKILL.md changed on disk since it was read`);
      const s = { text: String(a.content), rev: (cur?.rev ?? 0) + 1 };
      m.set(name, s);
      return file(a.bot, name, s);
    },
    skill_new: (a) => {
      const m = skillsOf(a.bot);
      const name = checkName(a.name);
      if (m.has(name)) throw new AppError("AlreadyExists", `a skill named "${name}" exists; remove or rename it first`);
      const s = { text: template(name), rev: 1 };
      m.set(name, s);
      return file(a.bot, name, s);
    },
    skill_rename: (a) => {
      const m = skillsOf(a.bot);
      const [from, to] = [checkName(a.name), checkName(a.newName)];
      const s = m.get(from);
      if (!s) throw new AppError("NotFound", `there is no skill "${from}"`);
      if (m.has(to)) throw new AppError("AlreadyExists", `a skill named "${to}" exists; remove or rename it first`);
      m.delete(from);
      const text = s.text.replace(new RegExp(`\\nname:\\s*${from}\\b`), `\nname: ${to}`);
      m.set(to, { text, rev: s.rev + 1 });
      return info(a.bot, to, text);
    },
    skill_delete: (a) => {
      if (!skillsOf(a.bot).delete(checkName(a.name))) throw new AppError("NotFound", `there is no skill "${a.name}"`);
      return null;
    },
    skill_root_get: (a) => {
      exists(a.bot);
      return rootOf(a.bot);
    },
    skill_root_set: (a) => {
      exists(a.bot);
      const r = a.root === null || a.root === undefined ? null : String(a.root).replace(/\/+$/, "");
      if (r !== null && (!r.startsWith("/") || r === "" || /(^|\/)\.\.?(\/|$)/.test(r)))
        throw new AppError("InvalidArgument", `the skills folder "${a.root}" must be an absolute, normal path`);
      if (r === null) roots.delete(String(a.bot));
      else roots.set(String(a.bot), r);
      return rootOf(a.bot);
    },
    skill_add_dropped: (a) => {
      running(a.bot);
      throw new AppError("NotFound", `that drop (${a.dropId}) is gone; drop the skill again`);
    },
    agent_config: (a) => {
      exists(a.bot);
      const key = `berth-${a.bot}`;
      const json = JSON.stringify({ mcpServers: { [key]: { command: "/usr/bin/berth", args: ["mcp", "serve", a.bot] } } }, null, 2);
      return { berth: "/usr/bin/berth", installed: true, json, claudeCode: `claude mcp add ${key} -- /usr/bin/berth mcp serve ${a.bot}` };
    },
    mcp_server_list: (a) => [...serversOf(a.bot).values()].sort((x, y) => x.name.localeCompare(y.name)),
    mcp_server_put: (a) => {
      const m = serversOf(a.bot);
      const s = a.server as McpServer;
      checkServer(s);
      if (m.has(s.name) && !a.replace) throw new AppError("AlreadyExists", `MCP server "${s.name}" of bot "${a.bot}" already exists`);
      m.set(s.name, { ...s });
      return null;
    },
    mcp_server_delete: (a) => {
      if (!serversOf(a.bot).delete(String(a.name))) throw new AppError("NotFound", `MCP server "${a.name}" of bot "${a.bot}" not found`);
      return null;
    },
    mcp_server_import: (a) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(String(a.json));
      } catch (e) {
        throw new AppError("InvalidArgument", `the configuration is not valid JSON: ${(e as Error).message}`);
      }
      const obj = (parsed as { mcpServers?: unknown }).mcpServers ?? parsed;
      if (!obj || typeof obj !== "object" || Array.isArray(obj))
        throw new AppError("InvalidArgument", 'the configuration must be an object with "mcpServers": {NAME: {"command": ...}}');
      const list = Object.entries(obj as Record<string, Partial<McpServer>>).map(([name, e]) => ({
        name,
        command: String(e.command ?? ""),
        args: e.args ?? [],
        env: e.env ?? {},
        cwd: e.cwd ?? null,
      }));
      list.forEach(checkServer);
      const m = serversOf(a.bot);
      if (!a.replace) for (const s of list) if (m.has(s.name)) throw new AppError("AlreadyExists", `MCP server "${s.name}" already exists`);
      for (const s of list) m.set(s.name, s);
      return list;
    },
    mcp_server_probe: (a) => {
      running(a.bot);
      const s = serversOf(a.bot).get(String(a.name));
      if (!s) throw new AppError("NotFound", `${a.bot} has no MCP server "${a.name}"`);
      if (s.command === "npx" || s.command === "uvx")
        return { name: s.name, ok: false, error: `the MCP server ${s.name} could not start: the workspace has no \`${s.command}\``, tools: [], stderr: [], elapsedMs: 12 };
      return {
        name: s.name,
        ok: true,
        error: null,
        tools: [
          { name: "echo", description: "Echo text", readOnly: true },
          { name: "grow", description: "Add a tool", readOnly: false },
        ],
        stderr: [`${s.name}: started`],
        elapsedMs: 41,
      };
    },
  };
  return commands;
}
