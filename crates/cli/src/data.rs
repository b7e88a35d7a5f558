//! `berth export`, `berth import`, `berth rm --keep-data`, `berth restore`: thin calls
//! into `berth_core::data`. Ctrl-C cancels an export or import; nothing partial remains.

use std::path::Path;
use std::time::Duration;

use berth_core::data::{validate::DEFAULT_MAX_EXPANDED, DataProgress, ImportOptions};
use berth_core::{Berth, CancellationToken, Error};
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

/// A bar over `total` bytes with speed and time left.
const BAR: &str = "[{bar:24}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}";
/// While the total is unknown: how much has moved, and how fast.
const SPINNER: &str = "{spinner} {bytes} {bytes_per_sec} {msg}";

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("a valid progress template")
        .progress_chars("=> ")
}

/// A bar when the total is known, else a spinner that [`on_bar`] turns into a bar once it is.
fn bytes_bar(total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(t) => ProgressBar::new(t).with_style(style(BAR)),
        None => ProgressBar::new_spinner().with_style(style(SPINNER)),
    };
    bar.enable_steady_tick(Duration::from_millis(100));
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

/// Shows a transfer's progress on `bar`: source bytes of the known total (an export's bar also
/// names the archive's size so far), else the archive bytes on a spinner.
fn on_bar(bar: &ProgressBar) -> impl Fn(DataProgress) + Send + Sync {
    let bar = bar.clone();
    move |p| {
        if p.total == 0 {
            bar.set_position(p.archive);
            return;
        }
        if bar.length().is_none() {
            // The total just became known: from spinner to bar, speed and time left afresh.
            bar.set_length(p.total);
            bar.reset();
            bar.set_style(style(BAR));
        }
        bar.set_length(p.total);
        bar.set_position(p.done);
        if p.archive != p.done {
            bar.set_message(format!("(archive {})", HumanBytes(p.archive)));
        }
    }
}

pub async fn export(berth: &Berth, bot: &str, file: &Path) -> Result<i32, Error> {
    let bar = bytes_bar(None);
    let (cancel, h) = ctrl_c_cancels();
    let r = berth.export_data(bot, file, &on_bar(&bar), &cancel).await;
    h.abort();
    bar.finish_and_clear();
    let r = r?;
    println!(
        "exported {bot}'s /data to {}: {} file(s), {} folder(s), {} link(s) ({})",
        file.display(),
        r.files,
        r.dirs,
        r.links,
        HumanBytes(r.bytes)
    );
    if r.skipped > 0 {
        eprintln!(
            "left out {} FIFO(s), socket(s) or device(s): they cannot be archived",
            r.skipped
        );
    }
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
    let opts = ImportOptions {
        replace,
        max_expanded: max_size.unwrap_or(DEFAULT_MAX_EXPANDED),
    };
    let r = berth
        .import_data(bot, file, &opts, &on_bar(&bar), &cancel)
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
            let kept = berth
                .delete_workspace_keeping(bot, true, &on_bar(&bar))
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
    let r = berth.restore_kept_data(bot, &on_bar(&bar)).await;
    bar.finish_and_clear();
    r?;
    println!("restored {bot}'s kept data into /data (replaced)");
    Ok(0)
}
