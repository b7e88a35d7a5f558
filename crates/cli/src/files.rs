//! `berth cp` and `berth ls BOT:/path`: copy files and folders between the host and a
//! running workspace, and list a workspace directory. Thin calls into `berth_core::files`.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use berth_core::files::{
    base_of, decode_path, encode_path, FileInfo, FileType, OnExists, TransferItem, TransferState,
};
use berth_core::model::ErrorCode;
use berth_core::{Berth, CancellationToken, Error};

use crate::escape::escape;

/// `BOT:/path` → (bot, path bytes). Anything else is a host path.
pub fn parse_remote(s: &OsStr) -> Option<(String, Vec<u8>)> {
    let b = s.as_bytes();
    let i = b.iter().position(|&c| c == b':')?;
    let (bot, rest) = (&b[..i], &b[i + 1..]);
    if bot.is_empty() || bot.contains(&b'/') || !rest.starts_with(b"/") {
        return None;
    }
    Some((String::from_utf8(bot.to_vec()).ok()?, rest.to_vec()))
}

fn token(p: &[u8]) -> String {
    encode_path(p)
}

/// Prints per-file failures and skips as they happen.
fn reporter() -> Arc<dyn Fn(TransferItem) + Send + Sync> {
    Arc::new(|t: TransferItem| match t.state {
        TransferState::Failed | TransferState::Skipped => eprintln!(
            "berth: {}: {}",
            escape(&t.name),
            escape(&t.error.unwrap_or_default())
        ),
        _ => {}
    })
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

pub async fn cp(berth: &Berth, src: OsString, dst: OsString) -> Result<i32, Error> {
    match (parse_remote(&src), parse_remote(&dst)) {
        (Some(_), Some(_)) => Err(Error::invalid(
            "copying between two workspaces is not supported; one side must be a host path",
        )),
        (None, None) => Err(Error::invalid(
            "one side must be BOT:/path (e.g. `berth cp ./notes.txt mybot:/data/`)",
        )),
        (None, Some((bot, path))) => upload(berth, &bot, Path::new(&src), &path).await,
        (Some((bot, path)), None) => download(berth, &bot, &path, Path::new(&dst)).await,
    }
}

async fn upload(berth: &Berth, bot: &str, src: &Path, dest: &[u8]) -> Result<i32, Error> {
    if src == Path::new("-") {
        return Err(Error::new(
            berth_core::model::ErrorCode::Unsupported,
            "uploading a tar stream from stdin (`-`) is not supported yet; copy a file or folder instead",
        ));
    }
    let meta = std::fs::metadata(src)
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", src.display())))?;
    let dest_tok = token(dest);
    let into_dir = match berth.file_stat(bot, &dest_tok).await {
        Ok(e) => is_dir_like(&e) || dest.ends_with(b"/"),
        // The workspace is not running or its bridge is gone: say so rather than "missing".
        Err(e) if matches!(e.code, ErrorCode::Conflict | ErrorCode::Unavailable) => return Err(e),
        Err(_) if dest.ends_with(b"/") => {
            return Err(Error::not_found(format!(
                "{bot}:{} does not exist",
                String::from_utf8_lossy(dest)
            )))
        }
        Err(_) => false,
    };
    let sources = if !into_dir && meta.is_dir() {
        // `cp DIR BOT:/new` makes /new the copy of DIR.
        berth.file_mkdir_all(bot, &dest_tok).await?;
        std::fs::read_dir(src)
            .map_err(|e| Error::invalid(format!("cannot read {}: {e}", src.display())))?
            .filter_map(|d| d.ok().map(|d| d.path()))
            .collect()
    } else {
        vec![src.to_path_buf()]
    };
    let into_dir = into_dir || meta.is_dir();
    let (cancel, h) = ctrl_c_cancels();
    let sum = berth
        .upload_to(
            bot,
            &sources,
            &dest_tok,
            into_dir,
            OnExists::Replace,
            &cancel,
            reporter(),
        )
        .await;
    h.abort();
    finish(sum?)
}

fn is_dir_like(e: &FileInfo) -> bool {
    e.kind == FileType::Dir || e.target_kind == Some(FileType::Dir)
}

fn finish(sum: berth_core::files::TransferSummary) -> Result<i32, Error> {
    if sum.cancelled {
        return Err(Error::cancelled());
    }
    Ok(if sum.failed > 0 { 1 } else { 0 })
}

async fn download(berth: &Berth, bot: &str, path: &[u8], dst: &Path) -> Result<i32, Error> {
    let tok = token(path);
    if dst == Path::new("-") {
        // A tar.gz of the path on stdout.
        berth.archive_to(bot, &[tok], tokio::io::stdout()).await?;
        return Ok(0);
    }
    let e = berth.file_stat(bot, &tok).await?;
    let name = OsStr::from_bytes(&base_of(&decode_path(&e.path)?)).to_os_string();
    let target = if dst.is_dir() {
        dst.join(&name)
    } else {
        dst.to_path_buf()
    };
    if is_dir_like(&e) {
        if target.exists() {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!(
                    "{} already exists; remove it or choose another destination",
                    target.display()
                ),
            ));
        }
        berth.download_dir(bot, &tok, &target).await?;
        return Ok(0);
    }
    let (cancel, h) = ctrl_c_cancels();
    let sum = berth
        .download(bot, &[tok], &target, &cancel, reporter())
        .await;
    h.abort();
    finish(sum?)
}

pub async fn ls(
    berth: &Berth,
    bot: &str,
    path: &[u8],
    json: bool,
    all: bool,
) -> Result<i32, Error> {
    let tok = token(path);
    let st = berth.file_stat(bot, &tok).await?;
    let dirlike = st.kind == FileType::Dir || st.target_kind == Some(FileType::Dir);
    let mut listing = if dirlike {
        berth.file_list(bot, &tok).await?
    } else {
        berth_core::files::DirListing {
            dir: st.clone(),
            entries: vec![st],
        }
    };
    if !all {
        listing.entries.retain(|e| !e.name.starts_with('.'));
    }
    if json {
        crate::print_json(&listing);
        return Ok(0);
    }
    let mut out = std::io::stdout().lock();
    for e in &listing.entries {
        let _ = writeln!(out, "{}", line(e));
    }
    let _ = decode_path(&tok);
    Ok(0)
}

fn kind_char(e: &FileInfo) -> char {
    match e.kind {
        FileType::Dir => 'd',
        FileType::Symlink => 'l',
        FileType::File => '-',
        FileType::Other => '?',
    }
}

fn perms(mode: u32) -> String {
    let mut s = String::new();
    for shift in [6, 3, 0] {
        let b = (mode >> shift) & 7;
        s.push(if b & 4 != 0 { 'r' } else { '-' });
        s.push(if b & 2 != 0 { 'w' } else { '-' });
        s.push(if b & 1 != 0 { 'x' } else { '-' });
    }
    s
}

fn line(e: &FileInfo) -> String {
    let secs = e.modified_ms.div_euclid(1000);
    let when = format_time(secs);
    let mut s = format!(
        "{}{} {:>12} {} {}",
        kind_char(e),
        perms(e.mode),
        e.size,
        when,
        escape(&e.name)
    );
    if e.kind == FileType::Dir {
        s.push('/');
    }
    if let Some(t) = &e.link_target {
        s.push_str(" -> ");
        s.push_str(&escape(t));
    }
    s
}

/// `YYYY-MM-DD HH:MM` in UTC (no time-zone database needed).
fn format_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil-from-days (H. Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_syntax() {
        assert_eq!(
            parse_remote(OsStr::new("bot:/data/x")),
            Some(("bot".into(), b"/data/x".to_vec()))
        );
        assert_eq!(parse_remote(OsStr::new("./bot:/x")), None);
        assert_eq!(parse_remote(OsStr::new("bot:rel")), None);
        assert_eq!(parse_remote(OsStr::new("/tmp/a")), None);
        assert_eq!(format_time(0), "1970-01-01 00:00");
        assert_eq!(format_time(1_700_000_000), "2023-11-14 22:13");
        assert_eq!(perms(0o754), "rwxr-xr--");
    }
}
