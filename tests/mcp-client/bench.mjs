// Times `berth mcp serve` through the official TypeScript SDK, as an agent drives it:
// `exec {command: "true"}` round trips, `read_file` of a 1 MiB file, and the server's memory
// when idle. Usage (scripts/bench-mcp.sh runs it): node bench.mjs BERTH BOT [ROUNDS]
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [berth, bot, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 200);
const transport = new StdioClientTransport({ command: berth, args: ["mcp", "serve", bot], env: process.env, stderr: "inherit" });
const client = new Client({ name: "berth-bench", version: "1.0.0" });
await client.connect(transport);
const call = async (name, args) => {
  const r = await client.callTool({ name, arguments: args });
  if (r.isError) throw new Error(`${name}: ${r.content.map((c) => c.text).join(" ")}`);
  return r;
};
const time = async (n, f) => {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await f();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const q = (p) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))];
  return { p50: q(0.5), p99: q(0.99), best: ms[0] };
};
const f = (x) => x.toFixed(2);

const first = await time(1, () => call("exec", { command: "true" }));
const exec = await time(rounds, () => call("exec", { command: "true" }));
await call("exec", { command: "yes 012345678901234567890123456789012345678901234567890123456789 | head -n 16384 > /data/bench-1m.txt" });
const r = await call("read_file", { path: "bench-1m.txt", limit: 20000 });
if (r.content[0].text.length !== 16384 * 61) throw new Error(`read ${r.content[0].text.length} bytes`);
const read = await time(Math.max(20, rounds / 10), () => call("read_file", { path: "bench-1m.txt", limit: 20000 }));
// A folder listing after the first: the core call the Files tab makes, on the kept connection.
const list = await time(rounds, () => call("list_dir", { path: "/data" }));

// Idle memory of the server process (the `berth` child of the transport).
await new Promise((ok) => setTimeout(ok, 1000));
const status = readFileSync(`/proc/${transport.pid}/status`, "utf8");
const rollup = readFileSync(`/proc/${transport.pid}/smaps_rollup`, "utf8");
const kib = (text, key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? NaN);
const rss = kib(status, "VmRSS") / 1024;
const pss = kib(rollup, "Pss") / 1024;
await client.close();
console.log(`first exec (opens Berth, connects): ${f(first.p50)} ms`);
console.log(`exec true: p50 ${f(exec.p50)} ms, p99 ${f(exec.p99)} ms, best ${f(exec.best)} ms (${rounds} calls)`);
console.log(`read_file 1 MiB: p50 ${f(read.p50)} ms, p99 ${f(read.p99)} ms, best ${f(read.best)} ms`);
console.log(`list_dir /data: p50 ${f(list.p50)} ms, p99 ${f(list.p99)} ms, best ${f(list.best)} ms`);
console.log(`idle memory of berth mcp serve: RSS ${f(rss)} MiB, PSS ${f(pss)} MiB`);
console.log(`BENCH mcp exec_p50_ms=${f(exec.p50)} exec_p99_ms=${f(exec.p99)} read1m_p50_ms=${f(read.p50)} list_p50_ms=${f(list.p50)} idle_rss_mib=${f(rss)} idle_pss_mib=${f(pss)}`);
