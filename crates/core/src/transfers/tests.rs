//! The registry's bookkeeping and expiry, on a clock moved by hand.

use super::*;

/// A clock that only moves when told to.
fn manual_clock() -> (Clock, Arc<Mutex<Instant>>) {
    let now = Arc::new(Mutex::new(Instant::now()));
    let n = now.clone();
    (Arc::new(move || *n.lock().unwrap()), now)
}

fn advance(now: &Mutex<Instant>, by: Duration) {
    *now.lock().unwrap() += by;
}

#[test]
fn a_drop_is_used_once_and_an_empty_drop_is_ignored() {
    let t = Transfers::new();
    let d = t
        .add_drop(vec![
            PathBuf::from("/tmp/a b.txt"),
            PathBuf::from("/tmp/dir"),
        ])
        .unwrap();
    assert_eq!(d.names, ["a b.txt", "dir"]);
    assert_eq!(t.dropped(&d.drop_id).unwrap().len(), 2, "peeking keeps it");
    assert_eq!(t.take_drop(&d.drop_id, "x").unwrap().len(), 2);
    let gone = t.take_drop(&d.drop_id, "the files").unwrap_err();
    assert_eq!(gone.code, crate::model::ErrorCode::NotFound);
    assert!(gone.message.contains("drop the files again"));
    assert!(t.add_drop(vec![]).is_none());
    let d2 = t.add_drop(vec![PathBuf::from("/x")]).unwrap();
    assert_ne!(d2.drop_id, d.drop_id);
}

#[test]
fn an_unused_drop_expires_after_its_time_to_live() {
    let (clock, now) = manual_clock();
    let t = Transfers::with_clock(clock);
    let d = t.add_drop(vec![PathBuf::from("/x")]).unwrap();
    advance(&now, DROP_TTL - Duration::from_secs(1));
    assert!(t.dropped(&d.drop_id).is_some());
    advance(&now, Duration::from_secs(1));
    assert!(t.dropped(&d.drop_id).is_none());
    assert_eq!(t.counts(), (0, 0, 0, 0));
}

#[test]
fn a_picked_archive_expires_and_parked_values_are_bounded() {
    let (clock, now) = manual_clock();
    let t = Transfers::with_clock(clock);
    let ids: Vec<String> = (0..MAX_PARKED + 1)
        .map(|i| {
            advance(&now, Duration::from_millis(1));
            let (mut reg, at) = t.registry();
            let id = reg.new_id("archive");
            reg.archives
                .put(id.clone(), PathBuf::from(format!("/a{i}.tgz")), at);
            id
        })
        .collect();
    assert_eq!(t.counts().2, MAX_PARKED, "the oldest made room");
    assert!(t.registry().0.archives.get(&ids[0]).is_none());
    assert!(t.registry().0.archives.get(&ids[1]).is_some());
    advance(&now, ARCHIVE_TTL);
    t.expire();
    assert_eq!(t.counts().2, 0);
}

/// An idle pipe expires, a touched one lives on, and one in the middle of a chunk (locked) is
/// kept however long the chunk takes.
#[test]
fn idle_pipes_expire_but_busy_ones_stay() {
    let (clock, now) = manual_clock();
    let mut pipes: Parked<Arc<tokio::sync::Mutex<()>>> = Parked::new(PIPE_IDLE, 8);
    let start = clock();
    let busy = Arc::new(tokio::sync::Mutex::new(()));
    pipes.put("idle".into(), Arc::default(), start);
    pipes.put("touched".into(), Arc::default(), start);
    pipes.put("busy".into(), busy.clone(), start);
    let _chunk = busy.try_lock().unwrap();
    advance(&now, PIPE_IDLE - Duration::from_secs(1));
    pipes.touch("touched", clock());
    advance(&now, Duration::from_secs(1));
    pipes.expire(clock(), |p| p.try_lock().is_err());
    assert!(pipes.get("idle").is_none());
    assert!(pipes.get("touched").is_some());
    assert!(pipes.get("busy").is_some());
}

#[test]
fn a_cancel_token_lives_as_long_as_its_transfer() {
    let t = Transfers::new();
    let running = t.start("transfer-1");
    assert!(!running.token().is_cancelled());
    assert!(t.cancel("transfer-1"));
    assert!(running.token().is_cancelled());
    assert_eq!(t.counts().0, 1);
    drop(running);
    assert_eq!(t.counts().0, 0);
    assert!(
        !t.cancel("transfer-1"),
        "nothing runs under that id any more"
    );
    assert!(!t.cancel("never"));
}

#[test]
fn an_older_transfer_ending_keeps_a_newer_one_under_the_same_id() {
    let t = Transfers::new();
    let old = t.start("same");
    let new = t.start("same");
    drop(old);
    assert!(t.cancel("same"));
    assert!(new.token().is_cancelled());
    drop(new);
    assert_eq!(t.counts().0, 0);
}

#[tokio::test]
async fn an_upload_id_that_does_not_exist_is_refused() {
    let t = Transfers::new();
    let e = t.upload_chunk("upload-9", b"x").await.unwrap_err();
    assert_eq!(e.code, crate::model::ErrorCode::NotFound);
    let e = t.upload_end("upload-9", false).await.unwrap_err();
    assert_eq!(e.code, crate::model::ErrorCode::NotFound);
}
