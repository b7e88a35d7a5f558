//! `berth skills` against a real workspace: add a folder, a lone SKILL.md, a .tar.gz and a .zip;
//! refuse invalid skills and bad names with nothing written; list valid and invalid skills;
//! show the exact text; rename, export, remove, create from the template; another skills folder.

use std::path::Path;
use std::process::Command;

use berth_tests::{create, sh, TestEnv, BUSYBOX};
use serde_json::{json, Value};

/// The names in `berth skills ls --json`.
fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}

/// A .zip holding `entries` (name, text).
fn write_zip(path: &Path, entries: &[(&str, &str)]) {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, text) in entries {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(text.as_bytes()).unwrap();
    }
    z.finish().unwrap();
}

const HELLO: &str = "---\nname: hello\ndescription: Says hello.\n---\nSay hello.\n";

fn skill_folder(root: &Path, folder: &str, text: &str) -> std::path::PathBuf {
    let dir = root.join(folder);
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::write(dir.join("SKILL.md"), text).unwrap();
    std::fs::write(dir.join("scripts/run.sh"), "echo run\n").unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn skills_through_the_cli() {
    let Some(env) = TestEnv::new("mcp-skills") else {
        return;
    };
    let berth = env.berth().await;
    let bot = "skilled";
    create(&berth, bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    let host = tempfile::tempdir().unwrap();
    let hello = skill_folder(host.path(), "hello", HELLO);
    let skills = |env: &TestEnv| -> Value {
        serde_json::from_str(&env.cli_ok(&["skills", "ls", bot, "--json"])).unwrap()
    };
    assert_eq!(skills(&env), json!([]));

    env.cli_ok(&["skills", "add", bot, hello.to_str().unwrap()]);
    assert_eq!(
        sh(&berth, bot, "cat /data/.skills/hello/scripts/run.sh").await,
        "echo run\n"
    );
    assert_eq!(env.cli_ok(&["skills", "show", bot, "hello"]), HELLO);
    env.cli_fails(&["skills", "add", bot, hello.to_str().unwrap()], "exists");

    // refused: nothing is written, not even a hidden folder
    let before = sh(&berth, bot, "ls -A /data/.skills").await;
    let wrong = skill_folder(host.path(), "other", HELLO);
    env.cli_fails(
        &["skills", "add", bot, wrong.to_str().unwrap()],
        "differs from its folder",
    );
    let nodesc = skill_folder(host.path(), "nodesc", "---\nname: nodesc\n---\n");
    env.cli_fails(
        &["skills", "add", bot, nodesc.to_str().unwrap()],
        "no `description`",
    );
    env.cli_fails(&["skills", "add", bot, "/nonexistent"], "cannot read");
    assert_eq!(sh(&berth, bot, "ls -A /data/.skills").await, before);
    for bad in [".", "..", "a/b", "../x"] {
        env.cli_fails(&["skills", "rm", bot, bad], "may hold only");
        env.cli_fails(&["skills", "show", bot, bad], "name");
    }

    // a lone SKILL.md names its folder; an invalid skill made by the bot is listed as such
    let lone = host.path().join("SKILL.md");
    std::fs::write(&lone, HELLO.replace("hello", "lone-one")).unwrap();
    env.cli_ok(&["skills", "add", bot, lone.to_str().unwrap()]);
    sh(
        &berth,
        bot,
        "mkdir -p /data/.skills/broken && echo nope > /data/.skills/broken/SKILL.md",
    )
    .await;
    let list = skills(&env);
    assert_eq!(names(&list), ["broken", "hello", "lone-one"]);
    assert_eq!(list[0]["valid"], false);
    assert!(list[0]["problem"]
        .as_str()
        .unwrap()
        .contains("must start with"));
    assert_eq!(list[1]["description"], "Says hello.");
    let table = env.cli_ok(&["skills", "ls", bot]);
    assert!(
        table.contains("broken") && table.contains("invalid:"),
        "{table}"
    );

    // archives: a folder in a .tar.gz, a SKILL.md at the root of a .zip
    let tarred = skill_folder(host.path(), "tarred", &HELLO.replace("hello", "tarred"));
    let tgz = host.path().join("tarred.tar.gz");
    let made = Command::new("tar")
        .arg("-C")
        .arg(host.path())
        .arg("-czf")
        .arg(&tgz)
        .arg("tarred")
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::remove_dir_all(&tarred).unwrap();
    env.cli_ok(&["skills", "add", bot, tgz.to_str().unwrap()]);
    assert_eq!(
        sh(&berth, bot, "cat /data/.skills/tarred/scripts/run.sh").await,
        "echo run\n"
    );
    let zip = host.path().join("zipped.zip");
    let zipped = HELLO.replace("hello", "zipped");
    write_zip(&zip, &[("SKILL.md", &zipped), ("assets/a.txt", "a")]);
    env.cli_ok(&["skills", "add", bot, zip.to_str().unwrap()]);
    assert_eq!(
        sh(&berth, bot, "cat /data/.skills/zipped/assets/a.txt").await,
        "a"
    );
    let two = host.path().join("two.zip");
    write_zip(&two, &[("x/SKILL.md", HELLO)]);
    let before = sh(&berth, bot, "ls -A /data/.skills").await;
    env.cli_fails(
        &["skills", "add", bot, two.to_str().unwrap()],
        "differs from its folder",
    );
    assert_eq!(sh(&berth, bot, "ls -A /data/.skills").await, before);
    env.cli_ok(&["skills", "rm", bot, "tarred"]);
    env.cli_ok(&["skills", "rm", bot, "zipped"]);

    env.cli_ok(&["skills", "rename", bot, "lone-one", "renamed"]);
    assert_eq!(
        env.cli_ok(&["skills", "show", bot, "renamed"]),
        "---\nname: renamed\ndescription: Says lone-one.\n---\nSay lone-one.\n"
    );
    let archive = host.path().join("hello.tar.gz");
    env.cli_ok(&["skills", "export", bot, "hello", archive.to_str().unwrap()]);
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(&archive)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains("hello/SKILL.md") && listing.contains("hello/scripts/run.sh"),
        "{listing}"
    );
    env.cli_ok(&["skills", "rm", bot, "hello"]);
    env.cli_fails(&["skills", "rm", bot, "hello"], "no skill");
    // another skills folder: set, used, refused when not a normal absolute path, back to default
    assert_eq!(env.cli_ok(&["skills", "root", bot]), "/data/.skills\n");
    assert_eq!(
        env.cli_ok(&["skills", "root", bot, "/data/agent/skills/"]),
        "/data/agent/skills\n"
    );
    env.cli_ok(&["skills", "new", bot, "elsewhere"]);
    assert!(sh(&berth, bot, "cat /data/agent/skills/elsewhere/SKILL.md")
        .await
        .contains("name: elsewhere"));
    assert_eq!(
        skills(&env)[0]["path"],
        "/data/agent/skills/elsewhere/SKILL.md"
    );
    for bad in ["relative", "/data/../etc", "/run/berth/x", "/"] {
        env.cli_fails(&["skills", "root", bot, bad], "skills folder");
    }
    assert_eq!(
        env.cli_ok(&["skills", "root", bot, "--default"]),
        "/data/.skills\n"
    );
    env.cli_ok(&["skills", "new", bot, "fresh"]);
    let list = skills(&env);
    assert_eq!(names(&list), ["broken", "fresh", "renamed"]);
    assert_eq!(list[1]["valid"], true);
    berth.delete_bot(bot).await.expect("delete");
}
