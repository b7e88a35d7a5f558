//! Berth's own files on the host are private, and a bot name from outside cannot reach a path
//! outside Berth's directories.

mod common;

use std::os::unix::fs::PermissionsExt;

use berth_core::model::ErrorCode;
use common::Harness;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_data_directory_and_database_are_private() {
    let Some(h) = Harness::new("host_files_private").await else {
        return;
    };
    let data = h.berth.paths().data_dir.clone();
    assert_eq!(mode(&data), 0o700);
    let db = h.berth.paths().database();
    assert_eq!(mode(&db), 0o600);
    assert_eq!(
        mode(std::path::Path::new(&format!("{}-wal", db.display()))),
        0o600
    );

    // A directory and database made by an older Berth with wide modes are narrowed at open.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let again = h.reopen().await;
    assert_eq!(mode(&again.paths().data_dir), 0o700);
    assert_eq!(mode(&db), 0o600);
}

#[tokio::test]
async fn kept_data_refuses_names_that_are_not_bot_names() {
    let Some(h) = Harness::new("host_files_names").await else {
        return;
    };
    let outside = h.dir.path().join("outside.tar.gz");
    std::fs::write(&outside, b"not Berth's").unwrap();
    for bad in ["../../outside", "../outside", "a/b", "", "A"] {
        assert!(h.berth.kept_data(bad).is_none(), "{bad:?}");
        let e = h.berth.delete_kept_data(bad).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument, "{bad:?}: {e:?}");
    }
    assert!(
        outside.exists(),
        "a kept-data delete reached outside backups/"
    );
}
