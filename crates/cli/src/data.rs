//! `berth export`, `berth import`, `berth rm --keep-data`, `berth restore` (issue 6): thin calls
//! into `berth_core::data`. Ctrl-C cancels an export or import; nothing partial remains.

use std::path::Path;

use berth_core::data::{validate::DEFAULT_MAX_EXPANDED, ImportOptions};
use berth_core::{Berth, CancellationToken, Error};
use indicatif::{ProgressBar, ProgressStyle};

fn bytes_bar(total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::new_spinner(),
    };
    let tpl = if total.is_some() {
        "[{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{spinner} {bytes} {bytes_per_sec}"
    };
    bar.set_style(
        ProgressStyle::with_template(tpl)
            .unwrap()
            .progress_chars("=> "),
    );
    bar
}

fn ctrl_c_cancels() -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let h = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            c.cancel();
        }
    });
    (cancel, h)
}

pub async fn export(berth: &Berth, bot: &str, file: &Path) -> Result<i32, Error> {
    let bar = bytes_bar(None);
    let (cancel, h) = ctrl_c_cancels();
    let p = bar.clone();
    let r = berth
        .export_data(bot, file, &move |n| p.set_position(n), &cancel)
        .await;
    h.abort();
    bar.finish_and_clear();
    let n = r?;
    println!("exported {bot}'s /data to {} ({n} bytes)", file.display());
    Ok(0)
}

pub async fn import(
    berth: &Berth,
    bot: &str,
    file: &Path,
    replace: bool,
    max_size: Option<u64>,
) -> Result<i32, Error> {
    let size = std::fs::metadata(file).map(|m| m.len()).ok();
    let bar = bytes_bar(size);
    let (cancel, h) = ctrl_c_cancels();
    let p = bar.clone();
    let opts = ImportOptions {
        replace,
        max_expanded: max_size.unwrap_or(DEFAULT_MAX_EXPANDED),
    };
    let r = berth
        .import_data(bot, file, &opts, &move |n| p.set_position(n), &cancel)
        .await;
    h.abort();
    bar.finish_and_clear();
    let r = r?;
    println!(
        "imported {} file(s), {} folder(s), {} link(s) ({} bytes) into {bot}'s /data ({})",
        r.files,
        r.dirs,
        r.links,
        r.bytes,
        if r.replaced { "replaced" } else { "merged" }
    );
    Ok(0)
}

pub async fn rm(berth: &Berth, bot: &str, keep_data: bool) -> Result<i32, Error> {
    if keep_data {
        let has_workspace =
            berth.info(bot).await?.state != berth_core::model::WorkspaceState::Absent;
        if has_workspace {
            eprintln!("Preserving {bot}'s /data");
            let bar = bytes_bar(None);
            let p = bar.clone();
            let kept = berth
                .delete_workspace_keeping(bot, true, &move |n| p.set_position(n))
                .await;
            bar.finish_and_clear();
            if let Some(k) = kept? {
                println!(
                    "kept {bot}'s data in {} ({} bytes); `berth create {bot}` restores it",
                    k.path.display(),
                    k.size
                );
            }
        }
    }
    berth.delete_bot(bot).await?;
    Ok(0)
}

pub async fn restore(berth: &Berth, bot: &str) -> Result<i32, Error> {
    if berth.kept_data(bot).is_none() {
        return Err(Error::not_found(format!("{bot} has no kept data")));
    }
    let bar = bytes_bar(berth.kept_data(bot).map(|k| k.size));
    let p = bar.clone();
    let r = berth
        .restore_kept_data(bot, &move |n| p.set_position(n))
        .await;
    bar.finish_and_clear();
    r?;
    println!("restored {bot}'s kept data into /data (replaced)");
    Ok(0)
}
