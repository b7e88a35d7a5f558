//! Skills: folders `<root>/<name>/` (by default `/data/.skills`, a per-bot setting) holding a `SKILL.md` (the Agent Skills format, see
//! [`format`]), kept in the workspace so the bot uses and edits them itself. Every change is
//! checked before anything is written: an invalid skill is refused and the workspace keeps what
//! it had; names are checked by [`format::check_name`], so `.`, `..` and paths never reach a
//! file operation.

mod archive;
pub mod format;

use std::path::Path;
use std::sync::Arc;

use berth_runtime::CancellationToken;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::files::{OnExists, SavedFile, TextFile};
use crate::model::ErrorCode;
use crate::{Berth, Error, Result};
use format::{check_name, SKILL_FILE};

mod root;

pub use root::{check_root, DEFAULT_SKILLS_ROOT};

/// One skill as the Skills tab, `berth skills ls` and the MCP server list it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SkillInfo {
    /// The folder's name (the skill's name when valid).
    pub name: String,
    /// The description, empty when the skill is invalid.
    pub description: String,
    pub valid: bool,
    /// Why the skill is invalid.
    pub problem: Option<String>,
    /// The path of its `SKILL.md` in the workspace.
    pub path: String,
}

fn skill_dir(root: &str, name: &str) -> Result<String> {
    check_name(name).map_err(Error::invalid)?;
    Ok(format!("{root}/{name}"))
}

fn skill_file(root: &str, name: &str) -> Result<String> {
    Ok(format!("{}/{SKILL_FILE}", skill_dir(root, name)?))
}

impl Berth {
    /// The bot's skills, valid or not, by name. No skills folder means no skills.
    pub async fn skills_list(&self, bot: &str) -> Result<Vec<SkillInfo>> {
        let root = &self.skills_root(bot)?;
        let listing = match self.file_list(bot, root).await {
            Ok(l) => l,
            Err(e) if e.code == ErrorCode::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in listing.entries {
            if entry.name.starts_with('.') {
                continue; // Berth's own incoming folders, editors' temp files
            }
            let path = format!("{root}/{}/{SKILL_FILE}", entry.name);
            let checked = if entry.lossy {
                Err("the folder's name is not UTF-8".to_string())
            } else if let Err(e) = check_name(&entry.name) {
                Err(e)
            } else {
                match self.skill_text(bot, &entry.name).await {
                    Ok(t) => format::parse(&entry.name, &t.content),
                    Err(e) => Err(e.message),
                }
            };
            out.push(match checked {
                Ok(meta) => SkillInfo {
                    name: entry.name,
                    description: meta.description,
                    valid: true,
                    problem: None,
                    path,
                },
                Err(problem) => SkillInfo {
                    name: entry.name,
                    description: String::new(),
                    valid: false,
                    problem: Some(problem),
                    path,
                },
            });
        }
        Ok(out)
    }

    /// The exact text of a skill's `SKILL.md`, with its revision for a checked save.
    pub async fn skill_text(&self, bot: &str, name: &str) -> Result<TextFile> {
        let root = &self.skills_root(bot)?;
        let path = skill_file(root, name)?;
        match self.file_read_text(bot, &path).await {
            Err(e) if e.code == ErrorCode::NotFound => Err(Error::not_found(format!(
                "the skill {name:?} has no {SKILL_FILE} in {root}/{name}"
            ))),
            r => r,
        }
    }

    /// Saves a skill's `SKILL.md` (creating the skill when `expected_revision` is `None` and it
    /// does not exist). The text must be a valid skill named `name`; with `expected_revision`
    /// the save fails with `conflict` when the file changed since it was read.
    pub async fn skill_save(
        &self,
        bot: &str,
        name: &str,
        content: String,
        expected_revision: Option<String>,
    ) -> Result<SavedFile> {
        let root = &self.skills_root(bot)?;
        let path = skill_file(root, name)?;
        format::parse(name, &content)
            .map_err(|e| Error::invalid(format!("the skill is not valid: {e}")))?;
        if expected_revision.is_none() {
            self.file_mkdir_all(bot, &skill_dir(root, name)?).await?;
        }
        self.file_save_text(bot, &path, content, expected_revision)
            .await
    }

    /// Creates a new skill from the template; fails when one of that name exists.
    pub async fn skill_new(&self, bot: &str, name: &str) -> Result<SavedFile> {
        let root = &self.skills_root(bot)?;
        let dir = skill_dir(root, name)?;
        self.file_mkdir_all(bot, root).await?;
        self.file_mkdir(bot, root, name)
            .await
            .map_err(|e| exists_as_skill(e, name))?;
        let r = self
            .skill_save(bot, name, format::template(name), None)
            .await;
        if r.is_err() {
            let _ = self.file_delete(bot, &[dir], true).await;
        }
        r
    }

    /// Adds a skill from the host: a skill folder (named as the skill), a lone `SKILL.md` (its
    /// folder is named from its front-matter), or a .zip / .tar.gz of either. Checked on the
    /// host first; the skill is put together under a hidden name in the workspace and renamed
    /// into place, so a failed or refused add leaves the skills as they were.
    pub async fn skill_add(&self, bot: &str, source: &Path) -> Result<SkillInfo> {
        let root = &self.skills_root(bot)?;
        let (name, kind) = checked_source(source)?;
        let dir = skill_dir(root, &name)?;
        self.file_mkdir_all(bot, root).await?;
        if self.file_stat(bot, &dir).await.is_ok() {
            return Err(exists(&name));
        }
        let incoming = format!("{root}/.berth-incoming-{name}-{}", std::process::id());
        let _ = self
            .file_delete(bot, std::slice::from_ref(&incoming), true)
            .await;
        let placed = async {
            let ready = self.assemble(bot, source, &kind, &incoming).await?;
            self.file_move(bot, &ready, &dir, false)
                .await
                .map_err(|e| exists_as_skill(e, &name))
        }
        .await;
        let _ = self.file_delete(bot, &[incoming], true).await;
        placed?;
        let list = self.skills_list(bot).await?;
        list.into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::internal(format!("the skill {name:?} vanished once added")))
    }

    /// Puts the skill's folder together under `incoming`; returns its path there.
    async fn assemble(
        &self,
        bot: &str,
        source: &Path,
        kind: &Source,
        incoming: &str,
    ) -> Result<String> {
        let upload = |into_dir: bool, dest: String| async move {
            let none = Arc::new(|_| {});
            let cancel = CancellationToken::new();
            let sum = self
                .upload_to(
                    bot,
                    &[source.to_path_buf()],
                    &dest,
                    into_dir,
                    OnExists::Fail,
                    &cancel,
                    none,
                )
                .await?;
            if sum.failed > 0 {
                return Err(Error::internal(format!(
                    "{} of the skill's files could not be uploaded",
                    sum.failed
                )));
            }
            Ok(())
        };
        match kind {
            Source::Folder => {
                upload(false, incoming.to_string()).await?;
                Ok(incoming.to_string())
            }
            Source::File => {
                let text = read_host_skill_file(source)?;
                self.file_mkdir_all(bot, incoming).await?;
                self.file_save_text(bot, &format!("{incoming}/{SKILL_FILE}"), text, None)
                    .await?;
                Ok(incoming.to_string())
            }
            Source::Archive(layout) => {
                self.file_mkdir_all(bot, incoming).await?;
                upload(true, incoming.to_string()).await?;
                let file_name = source.file_name().unwrap_or_default().to_string_lossy();
                let extracted = self
                    .file_extract(bot, &format!("{incoming}/{file_name}"))
                    .await?
                    .dir;
                Ok(match layout {
                    archive::Layout::Root => extracted,
                    archive::Layout::Folder(f) => format!("{extracted}/{f}"),
                })
            }
        }
    }

    /// Renames a skill: its folder and the `name` in its front-matter, checked like a save.
    pub async fn skill_rename(&self, bot: &str, name: &str, new_name: &str) -> Result<SkillInfo> {
        let root = &self.skills_root(bot)?;
        let (from, to) = (skill_dir(root, name)?, skill_dir(root, new_name)?);
        let text = self.skill_text(bot, name).await?;
        let renamed = rename_in_front_matter(&text.content, name, new_name)?;
        format::parse(new_name, &renamed)
            .map_err(|e| Error::invalid(format!("the renamed skill is not valid: {e}")))?;
        self.file_move(bot, &from, &to, false)
            .await
            .map_err(|e| exists_as_skill(e, new_name))?;
        let path = format!("{to}/{SKILL_FILE}");
        if let Err(e) = self
            .file_save_text(bot, &path, renamed, Some(text.revision))
            .await
        {
            let _ = self.file_move(bot, &to, &from, false).await;
            return Err(e);
        }
        let list = self.skills_list(bot).await?;
        list.into_iter()
            .find(|s| s.name == new_name)
            .ok_or_else(|| Error::internal("the renamed skill vanished"))
    }

    /// Deletes a skill's folder.
    pub async fn skill_remove(&self, bot: &str, name: &str) -> Result<()> {
        let dir = self.existing_skill_dir(bot, name).await?;
        self.file_delete(bot, &[dir], true).await
    }

    /// The folder of an existing skill, or `NotFound`.
    async fn existing_skill_dir(&self, bot: &str, name: &str) -> Result<String> {
        let dir = skill_dir(&self.skills_root(bot)?, name)?;
        self.file_stat(bot, &dir)
            .await
            .map_err(|_| Error::not_found(format!("there is no skill {name:?}")))?;
        Ok(dir)
    }

    /// Writes a skill's folder as a .tar.gz to `file` on the host (temp file + rename).
    pub async fn skill_export(&self, bot: &str, name: &str, file: &Path) -> Result<u64> {
        let dir = self.existing_skill_dir(bot, name).await?;
        let parent = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile_in(parent)?;
        let reopened = tmp
            .reopen()
            .map_err(|e| Error::internal(format!("reopening a temp file: {e}")))?;
        let out = tokio::fs::File::from_std(reopened);
        let n = self.archive_to(bot, &[dir], out).await?;
        tmp.persist(file)
            .map_err(|e| Error::internal(format!("writing {}: {}", file.display(), e.error)))?;
        Ok(n)
    }
}

fn tempfile_in(dir: &Path) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".berth-skill-")
        .tempfile_in(dir)
        .map_err(|e| Error::invalid(format!("cannot write in {}: {e}", dir.display())))
}

fn exists(name: &str) -> Error {
    Error::new(
        ErrorCode::AlreadyExists,
        format!("a skill named {name:?} exists; remove or rename it first"),
    )
}

fn exists_as_skill(e: Error, name: &str) -> Error {
    if e.code == ErrorCode::AlreadyExists {
        exists(name)
    } else {
        e
    }
}

/// What a skill is added from.
enum Source {
    Folder,
    File,
    Archive(archive::Layout),
}

/// The skill's name and what it comes in; checks its `SKILL.md` on the host.
fn checked_source(source: &Path) -> Result<(String, Source)> {
    let meta = std::fs::metadata(source)
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", source.display())))?;
    let invalid =
        |e: String| Error::invalid(format!("{} is not a valid skill: {e}", source.display()));
    if meta.is_dir() {
        let folder = source
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::invalid("the skill folder's name is not UTF-8"))?
            .to_string();
        let text = read_host_skill_file(&source.join(SKILL_FILE))?;
        let m = format::parse(&folder, &text).map_err(invalid)?;
        return Ok((m.name, Source::Folder));
    }
    if archive::is_archive(source) {
        let (m, layout) = archive::scan(source)?;
        return Ok((m.name, Source::Archive(layout)));
    }
    if source.file_name().and_then(|n| n.to_str()) != Some(SKILL_FILE) {
        return Err(Error::new(
            ErrorCode::Unsupported,
            format!(
                "{} is not a skill: give a skill folder, a {SKILL_FILE}, or a .zip / .tar.gz of one",
                source.display()
            ),
        ));
    }
    // A lone SKILL.md names its folder.
    let m = format::parse_alone(&read_host_skill_file(source)?).map_err(invalid)?;
    Ok((m.name, Source::File))
}

fn read_host_skill_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let f = std::fs::File::open(path)
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
    let mut buf = Vec::new();
    f.take(format::MAX_SKILL_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
    if buf.len() as u64 > format::MAX_SKILL_FILE {
        return Err(Error::invalid(format!(
            "{} is larger than {} KiB",
            path.display(),
            format::MAX_SKILL_FILE >> 10
        )));
    }
    String::from_utf8(buf)
        .map_err(|_| Error::invalid(format!("{} is not UTF-8 text", path.display())))
}

/// The text with the front-matter's `name: old` line changed to `new`, nothing else touched.
fn rename_in_front_matter(text: &str, old: &str, new: &str) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut done = false;
    let mut in_front = false;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\r', '\n']);
        let bare_nobom = bare.strip_prefix('\u{feff}').unwrap_or(bare);
        if i == 0 && bare_nobom == "---" {
            in_front = true;
        } else if in_front && bare == "---" {
            in_front = false;
        } else if in_front && !done {
            let value = bare.strip_prefix("name:").map(|v| v.trim());
            let value = value.map(|v| v.trim_matches(|c| c == '"' || c == '\''));
            if value == Some(old) {
                out.push_str(&format!("name: {new}"));
                out.push_str(&line[bare.len()..]);
                done = true;
                continue;
            }
        }
        out.push_str(line);
    }
    if !done {
        return Err(Error::invalid(format!(
            "the front-matter has no plain `name: {old}` line to rename; edit it instead"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_changes_only_the_name_line() {
        let t = "---\r\nname: 'old'\r\ndescription: name: old\r\n---\r\nname: old\r\n";
        let r = rename_in_front_matter(t, "old", "new").unwrap();
        assert_eq!(
            r,
            "---\r\nname: new\r\ndescription: name: old\r\n---\r\nname: old\r\n"
        );
        assert!(rename_in_front_matter("---\nname: [old]\n---\n", "old", "n").is_err());
    }

    #[test]
    fn names_that_are_not_skill_names_never_become_paths() {
        for bad in [".", "..", "a/b", "/", "", "../x"] {
            assert_eq!(
                skill_dir(DEFAULT_SKILLS_ROOT, bad).unwrap_err().code,
                ErrorCode::InvalidArgument
            );
        }
    }
}
