"""`container list|inspect|start|stop|kill|delete|stats|logs` over the recorded containers."""

import json
import os
import sys

from . import config, ctr
from .args import DEBUG, one, parse
from .output import compact, fail, fixture, pretty, usage_error
from .state import all_records, is_running, load, record_path, save, set_state, snapshot, state_dir


def cmd_list(argv):
    values, _ = parse(argv, {"--format": "format"},
                      {"-a": "all", "--all": "all", "-q": "quiet", "--quiet": "quiet", **DEBUG})
    tasks = ctr.tasks()
    snaps = [snapshot(r, tasks) for r in all_records()]
    if not values.get("all"):
        snaps = [s for s in snaps if s["status"]["state"] == "running"]
    if one(values, "format", "table") == "json":
        print(compact(snaps))
    elif values.get("quiet"):
        for s in snaps:
            print(s["id"])
    else:
        print("ID  IMAGE  STATE")
        for s in snaps:
            print(f"{s['id']}  {s['configuration']['image']['reference']}  {s['status']['state']}")


def cmd_inspect(argv):
    _, ids = parse(argv, {}, DEBUG)
    tasks = ctr.tasks()
    found = {r["snapshot"]["id"]: r for r in all_records()}
    missing = sorted(set(ids) - set(found))
    if missing:
        fail(f"container not found: {', '.join(missing)}")
    print(pretty([snapshot(found[i], tasks) for i in dict.fromkeys(ids)]))


def cmd_start(argv):
    _, ids = parse(argv, {}, {"-a": "attach", "--attach": "attach", "-i": "interactive",
                              "--interactive": "interactive", **DEBUG})
    if len(ids) != 1:
        usage_error("Missing expected argument '<container-id>'")
    record = load(ids[0])
    if not record:
        fail(f"get failed: container {ids[0]} not found")
    if "start" in config.FAIL:
        fail(f"internalError: \"failed to bootstrap container {ids[0]} (simulated by the fake)\"")
    if not is_running(record, ctr.tasks()):
        if config.CTR:
            ctr.start(record)
        set_state(record["snapshot"], True)
        save(record)
    print(ids[0])


def each_container(ids, action):
    """stop/kill/delete gather their errors (AggregateError: `code: "message"` per line)."""
    errors = []
    for cid in ids:
        record = load(cid)
        if not record:
            errors.append(f'notFound: "container with ID {cid} not found"')
            continue
        problem = action(record)
        if problem:
            errors.append(problem)
        else:
            print(cid)
    if errors:
        sys.stderr.write("Error: " + "\n".join(errors) + "\n")
        sys.exit(1)


def cmd_stop(argv):
    values, ids = parse(argv, {"-s": "signal", "--signal": "signal", "-t": "time", "--time": "time"},
                        {"-a": "all", "--all": "all", **DEBUG})
    if "stop" in config.FAIL:
        fail("internalError: \"failed to stop container (simulated by the fake)\"")
    signal_name, seconds = one(values, "signal", "SIGTERM"), int(one(values, "time", "5"))

    def stop(record):
        if config.CTR:
            ctr.stop(record, signal_name, seconds)
        set_state(record["snapshot"], False)
        save(record)

    each_container(ids, stop)


def cmd_kill(argv):
    values, ids = parse(argv, {"-s": "signal", "--signal": "signal"}, {"-a": "all", "--all": "all", **DEBUG})
    signal_name = one(values, "signal", "KILL")

    def kill(record):
        if not is_running(record, ctr.tasks()):
            return 'invalidState: "no runtime client exists: container is stopped"'
        if config.CTR:
            ctr.ctr("tasks", "kill", "-s", signal_name, record["snapshot"]["id"], check=False)
        # SIGKILL to the init process ends the container (ContainersService.kill).
        if signal_name.upper().removeprefix("SIG") == "KILL":
            if config.CTR:
                ctr.stop(record, "SIGKILL", 10)
            set_state(record["snapshot"], False)
            save(record)
        return None

    each_container(ids, kill)


def cmd_delete(argv):
    values, ids = parse(argv, {}, {"-f": "force", "--force": "force", "-a": "all", "--all": "all", **DEBUG})

    def delete(record):
        cid = record["snapshot"]["id"]
        if is_running(record, ctr.tasks()) and not values.get("force"):
            return f'invalidState: "container {cid} is running and can not be deleted"'
        if config.CTR:
            ctr.delete(record)
        for s in record["create"]["sockets"]:
            if os.path.lexists(s["host"]):
                os.unlink(s["host"])
        os.unlink(record_path(cid))
        return None

    each_container(list(dict.fromkeys(ids)), delete)


def cmd_stats(argv):
    """The release's recorded sample, for each running container asked for."""
    values, ids = parse(argv, {"--format": "format"}, {"--no-stream": "noStream", **DEBUG})
    tasks = ctr.tasks()
    records = {r["snapshot"]["id"]: r for r in all_records()}
    for cid in ids:
        if cid not in records:
            fail(f"no such container: {cid}")
    sample = json.loads(fixture("stats.json"))[0]
    wanted = ids or list(records)
    out = [dict(sample, id=cid) for cid in wanted if is_running(records[cid], tasks)]
    print(compact(out) if one(values, "format", "table") == "json" else "\n".join(s["id"] for s in out))


def cmd_logs(argv):
    """Real mode: what the workspace printed (ctr's --log-uri file)."""
    _, ids = parse(argv, {"-n": "lines"}, {"--boot": "boot", "-f": "follow", "--follow": "follow", **DEBUG})
    if len(ids) != 1 or not load(ids[0]):
        fail(f"container with ID {ids[0] if ids else ''} not found")
    path = state_dir("logs", f"{ids[0]}.log")
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            sys.stdout.write(f.read())
