//! `berth skills`: a bot's skills in `/data/.skills` — list, show, add, remove, export.

use std::path::PathBuf;

use berth_core::{Berth, Error};
use clap::Subcommand;

use crate::escape::escape;
use crate::json::print_json;

#[derive(Subcommand)]
pub enum SkillsCommand {
    /// List the bot's skills: name, description, and what is wrong with an invalid one.
    Ls {
        bot: String,
        #[arg(long)]
        json: bool,
    },
    /// Print a skill's SKILL.md exactly as it is.
    Show { bot: String, name: String },
    /// Add a skill from a folder holding SKILL.md, or from a lone SKILL.md; an invalid skill
    /// is refused and nothing is written.
    Add { bot: String, path: PathBuf },
    /// Create a skill from the template.
    New { bot: String, name: String },
    /// Rename a skill (its folder and the name in its front-matter).
    Rename {
        bot: String,
        name: String,
        new_name: String,
    },
    /// Delete a skill's folder.
    Rm { bot: String, name: String },
    /// Show where the bot's workspace keeps its skills, or set it (the skills already there are
    /// not moved).
    Root {
        bot: String,
        /// The new folder, an absolute path in the workspace.
        path: Option<String>,
        /// Back to the default, /data/.skills.
        #[arg(long, conflicts_with = "path")]
        default: bool,
    },
    /// Write a skill's folder as a .tar.gz to FILE.
    Export {
        bot: String,
        name: String,
        file: PathBuf,
    },
}

pub async fn run(berth: &Berth, cmd: SkillsCommand) -> Result<i32, Error> {
    match cmd {
        SkillsCommand::Ls { bot, json } => {
            let skills = berth.skills_list(&bot).await?;
            if json {
                print_json(&skills);
            } else if skills.is_empty() {
                eprintln!("{bot} has no skills (add one with `berth skills add {bot} PATH`)");
            } else {
                let w = skills
                    .iter()
                    .map(|s| s.name.len())
                    .max()
                    .unwrap_or(4)
                    .max(4);
                println!("{:w$}  DESCRIPTION", "NAME");
                for s in &skills {
                    let about = match &s.problem {
                        None => first_line(&s.description),
                        Some(p) => format!("invalid: {p}"),
                    };
                    println!("{:w$}  {}", escape(&s.name), escape(&about));
                }
            }
            Ok(0)
        }
        SkillsCommand::Show { bot, name } => {
            use std::io::Write;
            let t = berth.skill_text(&bot, &name).await?;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(t.content.as_bytes());
            let _ = out.flush();
            Ok(0)
        }
        SkillsCommand::Add { bot, path } => {
            let s = berth.skill_add(&bot, &path).await?;
            eprintln!("added the skill {}", escape(&s.name));
            Ok(0)
        }
        SkillsCommand::New { bot, name } => {
            let f = berth.skill_new(&bot, &name).await?;
            eprintln!("created {}", escape(&f.info.path));
            Ok(0)
        }
        SkillsCommand::Rename {
            bot,
            name,
            new_name,
        } => {
            berth.skill_rename(&bot, &name, &new_name).await?;
            Ok(0)
        }
        SkillsCommand::Rm { bot, name } => {
            berth.skill_remove(&bot, &name).await?;
            Ok(0)
        }
        SkillsCommand::Root { bot, path, default } => {
            let root = match (path, default) {
                (Some(p), _) => berth.set_skills_root(&bot, Some(&p))?,
                (None, true) => berth.set_skills_root(&bot, None)?,
                (None, false) => berth.skills_root(&bot)?,
            };
            println!("{}", escape(&root));
            Ok(0)
        }
        SkillsCommand::Export { bot, name, file } => {
            let n = berth.skill_export(&bot, &name, &file).await?;
            eprintln!("wrote {} ({n} bytes)", file.display());
            Ok(0)
        }
    }
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > 100 {
        format!("{}…", line.chars().take(99).collect::<String>())
    } else {
        line.to_string()
    }
}
