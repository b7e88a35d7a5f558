//! Unit tests for the whole store: migrations and the open guard, then each table.

use crate::{Store, StoreError, StoreErrorKind, SCHEMA_VERSION};
use rusqlite::Connection;
use std::thread::sleep;
use std::time::Duration;

fn mem() -> Store {
    Store::open_in_memory().unwrap()
}

#[test]
fn migrations_apply_in_memory() {
    let s = mem();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(s.list_bots().unwrap().is_empty());
    assert!(s.list_workspaces().unwrap().is_empty());
    assert!(s.all_settings().unwrap().is_empty());
}

#[test]
fn open_creates_parent_dirs_uses_wal_and_reopens_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/berth.db");
    {
        let s = Store::open(&path).unwrap();
        s.create_bot("alpha").unwrap();
        s.set_setting("theme", "dark").unwrap();
        let conn = s.conn();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let busy: i64 = conn
            .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
            .unwrap();
        assert_eq!(busy, 5000);
    }
    for _ in 0..2 {
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(s.list_bots().unwrap().len(), 1);
        assert_eq!(s.get_setting("theme").unwrap().as_deref(), Some("dark"));
    }
}

#[test]
fn too_new_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path).unwrap_err();
    match &err {
        StoreError::TooNew { found, supported } => {
            assert_eq!((*found, *supported), (99, SCHEMA_VERSION));
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    assert_eq!(err.kind(), StoreErrorKind::Unsupported);
    let msg = err.to_string();
    assert!(
        msg.contains("newer Berth") && msg.contains("must not be opened"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "file must be unchanged"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["berth.db"], "no WAL/SHM files created");
}

#[test]
fn store_is_clone_send_sync() {
    fn check<T: Clone + Send + Sync>() {}
    check::<Store>();
    let s = mem();
    let s2 = s.clone();
    std::thread::spawn(move || s2.create_bot("from-thread").unwrap())
        .join()
        .unwrap();
    assert!(s.get_bot("from-thread").unwrap().is_some());
}

#[test]
fn bots_crud_and_duplicates() {
    let s = mem();
    let b = s.create_bot("zeta").unwrap();
    assert_eq!(b.name, "zeta");
    assert_eq!(b.created_at.len(), 24);
    s.create_bot("alpha").unwrap();
    let err = s.create_bot("zeta").unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    assert_eq!(err.kind(), StoreErrorKind::AlreadyExists);

    let names: Vec<_> = s.list_bots().unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(names, ["alpha", "zeta"]);
    assert_eq!(s.get_bot("zeta").unwrap(), Some(b));
    assert_eq!(s.get_bot("nope").unwrap(), None);

    s.set_image_pref("alpha", "busybox:1").unwrap();
    assert_eq!(
        s.get_bot("alpha").unwrap().unwrap().image_pref.as_deref(),
        Some("busybox:1")
    );
    s.clear_image_pref("alpha").unwrap();
    assert_eq!(s.get_bot("alpha").unwrap().unwrap().image_pref, None);
    assert_eq!(
        s.set_image_pref("nope", "x").unwrap_err().kind(),
        StoreErrorKind::NotFound
    );

    assert!(!s.get_bot("alpha").unwrap().unwrap().host_network);
    s.set_host_network("alpha", true).unwrap();
    assert!(s.get_bot("alpha").unwrap().unwrap().host_network);
    s.set_host_network("alpha", false).unwrap();
    assert!(!s.get_bot("alpha").unwrap().unwrap().host_network);
    assert_eq!(
        s.set_host_network("nope", true).unwrap_err().kind(),
        StoreErrorKind::NotFound
    );

    assert!(!s.get_bot("alpha").unwrap().unwrap().block_private_networks);
    s.set_block_private_networks("alpha", true).unwrap();
    assert!(s.get_bot("alpha").unwrap().unwrap().block_private_networks);
    s.set_block_private_networks("alpha", false).unwrap();
    assert!(!s.get_bot("alpha").unwrap().unwrap().block_private_networks);
    assert_eq!(
        s.set_block_private_networks("nope", true)
            .unwrap_err()
            .kind(),
        StoreErrorKind::NotFound
    );

    let limits = crate::BotLimits {
        memory: Some(2 << 30),
        cpu_millis: Some(1500),
        pids: None,
    };
    s.set_limits("alpha", &limits).unwrap();
    assert_eq!(s.get_bot("alpha").unwrap().unwrap().limits, limits);
    s.set_limits("alpha", &Default::default()).unwrap();
    assert_eq!(
        s.get_bot("alpha").unwrap().unwrap().limits,
        Default::default()
    );

    s.delete_bot("alpha").unwrap();
    assert_eq!(
        s.delete_bot("alpha").unwrap_err().kind(),
        StoreErrorKind::NotFound
    );
}

#[test]
fn rename_cascades_to_workspace_and_events() {
    let s = mem();
    s.create_bot("old").unwrap();
    s.create_bot("taken").unwrap();
    s.upsert_workspace("old", "berth-old", "busybox:1", "running")
        .unwrap();
    s.add_event("old", "created", "workspace created").unwrap();
    s.add_event("other", "created", "unrelated").unwrap();

    assert_eq!(
        s.rename_bot("missing", "x").unwrap_err().kind(),
        StoreErrorKind::NotFound
    );
    assert_eq!(
        s.rename_bot("old", "taken").unwrap_err().kind(),
        StoreErrorKind::AlreadyExists
    );
    s.rename_bot("old", "old").unwrap();

    s.rename_bot("old", "new").unwrap();
    assert!(s.get_bot("old").unwrap().is_none());
    assert!(s.get_bot("new").unwrap().is_some());
    assert!(s.get_workspace("old").unwrap().is_none());
    let ws = s.get_workspace("new").unwrap().unwrap();
    assert_eq!(
        ws.container_id, "berth-old",
        "container id is the caller's to change"
    );
    assert!(s.list_events("old", 10).unwrap().is_empty());
    let ev = s.list_events("new", 10).unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].bot, "new");
    assert_eq!(s.list_events("other", 10).unwrap().len(), 1);
}

#[test]
fn delete_bot_removes_workspace_but_keeps_events() {
    let s = mem();
    s.create_bot("b").unwrap();
    s.upsert_workspace("b", "berth-b", "img", "created")
        .unwrap();
    s.add_event("b", "deleted", "bye").unwrap();
    s.delete_bot("b").unwrap();
    assert!(s.get_workspace("b").unwrap().is_none());
    assert!(s.list_workspaces().unwrap().is_empty());
    assert_eq!(s.list_events("b", 10).unwrap()[0].message, "bye");
}

#[test]
fn workspace_upsert_state_timestamps_and_network() {
    let s = mem();
    let err = s
        .upsert_workspace("ghost", "c", "i", "created")
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound, "{err:?}");
    assert_eq!(
        s.set_workspace_state("ghost", "running", None)
            .unwrap_err()
            .kind(),
        StoreErrorKind::NotFound
    );

    s.create_bot("b").unwrap();
    s.upsert_workspace("b", "berth-b", "img:1", "created")
        .unwrap();
    let w0 = s.get_workspace("b").unwrap().unwrap();
    assert_eq!(w0.state, "created");
    assert_eq!(w0.created_at, w0.updated_at);
    assert_eq!(
        (w0.last_started_at.as_ref(), w0.last_stopped_at.as_ref()),
        (None, None)
    );

    sleep(Duration::from_millis(3));
    s.set_workspace_state("b", "running", None).unwrap();
    let w1 = s.get_workspace("b").unwrap().unwrap();
    assert_eq!(w1.state, "running");
    assert!(w1.updated_at > w0.updated_at);
    assert_eq!(w1.last_started_at.as_ref(), Some(&w1.updated_at));
    assert_eq!(w1.last_stopped_at, None);
    assert_eq!(w1.created_at, w0.created_at);

    sleep(Duration::from_millis(3));
    s.set_workspace_state("b", "stopped", Some("exit 137"))
        .unwrap();
    let w2 = s.get_workspace("b").unwrap().unwrap();
    assert_eq!(w2.last_error.as_deref(), Some("exit 137"));
    assert_eq!(w2.last_started_at, w1.last_started_at, "start stamp kept");
    assert_eq!(w2.last_stopped_at.as_ref(), Some(&w2.updated_at));

    s.set_workspace_state("b", "error", None).unwrap();
    let w3 = s.get_workspace("b").unwrap().unwrap();
    assert_eq!(w3.last_error, None);
    assert_eq!(
        (w3.last_started_at, w3.last_stopped_at),
        (w2.last_started_at, w2.last_stopped_at)
    );

    s.set_workspace_network("b", Some("berth0")).unwrap();
    assert_eq!(
        s.get_workspace("b").unwrap().unwrap().network.as_deref(),
        Some("berth0")
    );

    s.set_workspace_state("b", "stopped", Some("boom")).unwrap();
    s.upsert_workspace("b", "berth-b2", "img:2", "running")
        .unwrap();
    let w4 = s.get_workspace("b").unwrap().unwrap();
    assert_eq!(
        (w4.container_id.as_str(), w4.image.as_str()),
        ("berth-b2", "img:2")
    );
    assert_eq!(w4.created_at, w0.created_at);
    assert_eq!(w4.network.as_deref(), Some("berth0"));
    assert_eq!(w4.last_error, None);
    assert_eq!(w4.last_started_at.as_ref(), Some(&w4.updated_at));

    s.set_workspace_network("b", None).unwrap();
    assert_eq!(s.get_workspace("b").unwrap().unwrap().network, None);

    s.create_bot("a").unwrap();
    s.upsert_workspace("a", "berth-a", "img", "creating")
        .unwrap();
    let bots: Vec<_> = s
        .list_workspaces()
        .unwrap()
        .into_iter()
        .map(|w| w.bot)
        .collect();
    assert_eq!(bots, ["a", "b"]);

    s.delete_workspace("b").unwrap();
    assert!(s.get_workspace("b").unwrap().is_none());
    assert!(
        s.get_bot("b").unwrap().is_some(),
        "bot survives its workspace"
    );
    assert_eq!(
        s.delete_workspace("b").unwrap_err().kind(),
        StoreErrorKind::NotFound
    );
}

#[test]
fn events_newest_first_with_limit() {
    let s = mem();
    for i in 0..5 {
        s.add_event("b", "k", &format!("m{i}")).unwrap();
    }
    let ev = s.list_events("b", 3).unwrap();
    let msgs: Vec<_> = ev.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(msgs, ["m4", "m3", "m2"]);
    assert!(ev[0].id > ev[1].id);
    assert_eq!(s.list_events("b", usize::MAX).unwrap().len(), 5);
    assert!(s.list_events("b", 0).unwrap().is_empty());
}

#[test]
fn settings_round_trip() {
    let s = mem();
    assert_eq!(s.get_setting("lang").unwrap(), None);
    s.set_setting("lang", "en").unwrap();
    s.set_setting("lang", "zh").unwrap();
    s.set_setting("theme", "dark").unwrap();
    assert_eq!(s.get_setting("lang").unwrap().as_deref(), Some("zh"));
    assert_eq!(
        s.all_settings().unwrap(),
        [
            ("lang".to_owned(), "zh".to_owned()),
            ("theme".to_owned(), "dark".to_owned())
        ]
    );
    assert!(s.delete_setting("lang").unwrap());
    assert!(!s.delete_setting("lang").unwrap());
}

#[test]
fn recent_images_newest_first() {
    let s = mem();
    // No sleeps: touches within one millisecond must still order by recency.
    s.touch_recent_image("a").unwrap();
    s.touch_recent_image("b").unwrap();
    s.touch_recent_image("c").unwrap();
    s.touch_recent_image("a").unwrap();
    assert_eq!(s.recent_images(10).unwrap(), ["a", "c", "b"]);
    assert_eq!(s.recent_images(2).unwrap(), ["a", "c"]);
    assert!(s.forget_recent_image("c").unwrap());
    assert_eq!(s.recent_images(10).unwrap(), ["a", "b"]);
}

#[test]
fn sqlite_errors_are_internal() {
    let err = StoreError::from(rusqlite::Error::InvalidQuery);
    assert_eq!(err.kind(), StoreErrorKind::Internal);
}

#[test]
fn mcp_servers_add_replace_remove_and_follow_the_bot() {
    let s = mem();
    s.create_bot("b").unwrap();
    let row = |name: &str, command: &str| crate::McpServerRow {
        bot: "b".into(),
        name: name.into(),
        command: command.into(),
        args: "[\"-y\"]".into(),
        env: "{}".into(),
        cwd: None,
    };
    s.put_mcp_servers(&[row("fs", "npx"), row("git", "uvx")], false)
        .unwrap();
    // a clash writes nothing, not even the new server before it in the same call
    let e = s
        .put_mcp_servers(&[row("new", "x"), row("fs", "other")], false)
        .unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::AlreadyExists);
    let names = |s: &Store| {
        s.list_mcp_servers("b")
            .unwrap()
            .into_iter()
            .map(|r| (r.name, r.command))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&s),
        [("fs".into(), "npx".into()), ("git".into(), "uvx".into())]
    );
    s.put_mcp_servers(&[row("fs", "node")], true).unwrap();
    assert_eq!(names(&s)[0], ("fs".to_string(), "node".to_string()));
    let e = s.put_mcp_servers(
        &[crate::McpServerRow {
            bot: "nobody".into(),
            ..row("x", "y")
        }],
        false,
    );
    assert_eq!(e.unwrap_err().kind(), StoreErrorKind::NotFound);
    s.rename_bot("b", "c").unwrap();
    assert_eq!(s.list_mcp_servers("c").unwrap().len(), 2);
    s.delete_mcp_server("c", "git").unwrap();
    assert_eq!(
        s.delete_mcp_server("c", "git").unwrap_err().kind(),
        StoreErrorKind::NotFound
    );
    s.delete_bot("c").unwrap();
    assert!(s.list_mcp_servers("c").unwrap().is_empty());
}
