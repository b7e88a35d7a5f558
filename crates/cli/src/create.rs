//! `berth create` and `berth change-image`: one operation each, shown with live progress on the
//! terminal and cancelled by Ctrl-C; the bot's network and limits for a new workspace.

use berth_core::model::{PullPolicy, WorkspaceInfo, WorkspaceState};
use berth_core::{Berth, Error};
use clap::ValueEnum;

use crate::{limits, network, progress, state_word};

#[derive(Clone, Copy, ValueEnum)]
pub enum Pull {
    Always,
    IfNotPresent,
    Never,
}

pub async fn create(
    berth: &Berth,
    bot: &str,
    image: Option<String>,
    pull: Option<Pull>,
    network: &network::NetworkArgs,
    limits: &limits::LimitArgs,
) -> Result<i32, Error> {
    if berth.bots()?.iter().all(|b| b.name != bot) {
        berth.create_bot(bot)?;
    }
    let info = berth.info(bot).await?;
    // Settings for a new workspace only: with one there, the create's own error says so.
    if info.state == WorkspaceState::Absent {
        network.apply(berth, bot).await?;
        if limits.any() {
            berth.set_limits(bot, limits.apply(info.limits)).await?;
        }
    }
    if berth.info(bot).await?.host_network {
        eprintln!(
            "warning: {bot} uses the host's network: it reaches the host's services and your LAN \
             as you do"
        );
    }
    let shown = Shown::start(berth, bot);
    let result = berth
        .create_workspace(bot, image.as_deref(), policy(pull), &|e| shown.view.show(e))
        .await;
    shown.end();
    print_ready(bot, result?);
    Ok(0)
}

pub async fn change_image(
    berth: &Berth,
    bot: &str,
    image: &str,
    pull: Option<Pull>,
) -> Result<i32, Error> {
    let shown = Shown::start(berth, bot);
    let result = berth
        .change_image(bot, image, policy(pull), &|e| shown.view.show(e))
        .await;
    shown.end();
    print_ready(bot, result?);
    Ok(0)
}

fn policy(pull: Option<Pull>) -> Option<PullPolicy> {
    pull.map(|p| match p {
        Pull::Always => PullPolicy::Always,
        Pull::IfNotPresent => PullPolicy::IfNotPresent,
        Pull::Never => PullPolicy::Never,
    })
}

/// A create or change of image shown on the terminal; Ctrl-C cancels it (it then removes what
/// it made).
struct Shown {
    view: progress::CreateView,
    ctrl_c: tokio::task::JoinHandle<()>,
}

impl Shown {
    fn start(berth: &Berth, bot: &str) -> Self {
        let canceller = berth.clone();
        let name = bot.to_string();
        let ctrl_c = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                canceller.cancel_create(&name);
            }
        });
        Self {
            view: progress::CreateView::new(),
            ctrl_c,
        }
    }

    fn end(self) {
        self.ctrl_c.abort();
        self.view.finish();
    }
}

fn print_ready(bot: &str, info: WorkspaceInfo) {
    println!(
        "{} is {} ({})",
        bot,
        state_word(info.state),
        info.image.unwrap_or_default()
    );
    if info.data_restored == Some(true) {
        println!("kept data restored into /data");
    }
}
