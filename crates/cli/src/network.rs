//! `berth network BOT` and the network options of `berth create`: the isolated bridge or the
//! host's network, and whether the workspace is kept off private networks.

use berth_core::model::{NetworkApply, NetworkMode, WorkspaceInfo};
use berth_core::{Berth, Error};
use clap::{Args, ValueEnum};

/// A workspace's network.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NetworkArg {
    /// Its own network namespace on the isolated bridge (the default).
    Bridge,
    /// The host's network namespace: no isolation from the host, its services or the LAN.
    Host,
}

/// Network options, shared by `berth create` and `berth network`.
#[derive(Args, Default)]
pub struct NetworkArgs {
    /// The workspace's network; remembered for the bot (default: the bot's last choice, else
    /// the isolated bridge). A workspace that exists keeps its network until it is created again.
    #[arg(long, value_enum)]
    pub network: Option<NetworkArg>,
    /// Keep the workspace off private networks: your LAN, VPNs, 10/8, 172.16/12, 192.168/16,
    /// 100.64/10, link-local and cloud metadata (169.254.169.254); DNS still works.
    #[arg(long, conflicts_with = "allow_private")]
    pub block_private: bool,
    /// Let the workspace reach private networks again (the default).
    #[arg(long)]
    pub allow_private: bool,
}

impl NetworkArgs {
    /// Applies what was given, the network choice first (host networking refuses the block).
    /// Returns when a change of the private-network setting takes effect.
    pub async fn apply(&self, berth: &Berth, bot: &str) -> Result<Option<NetworkApply>, Error> {
        if self.block_private && self.network == Some(NetworkArg::Host) {
            return Err(Error::invalid(
                "--block-private needs the isolated network, not --network host",
            ));
        }
        // Leaving the block before choosing the host's network, and choosing the bridge before
        // blocking, so that either order of settings on the command line works.
        if self.allow_private {
            berth.set_block_private_networks(bot, false).await?;
        }
        if let Some(n) = self.network {
            berth.set_host_network(bot, n == NetworkArg::Host)?;
        }
        if self.block_private {
            return Ok(Some(berth.set_block_private_networks(bot, true).await?));
        }
        Ok(None)
    }

    fn any(&self) -> bool {
        self.network.is_some() || self.block_private || self.allow_private
    }
}

/// The settings as `berth network --json` prints them.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Shown {
    /// The bot's choice for its next workspace: `bridge` or `host`.
    network: &'static str,
    /// The network of the workspace that exists: `bridge`, `host`, or null.
    workspace_network: Option<&'static str>,
    block_private_networks: bool,
}

/// `berth network BOT [options] [--json]`: shows the settings, or changes them and says when
/// the change takes effect.
pub async fn run(berth: &Berth, bot: &str, args: &NetworkArgs, json: bool) -> Result<i32, Error> {
    if args.any() {
        let applies = args.apply(berth, bot).await?;
        if !json {
            if let Some(a) = applies {
                eprintln!("{}", when(a));
            }
            if args.allow_private && berth.info(bot).await?.network == Some(NetworkMode::Cni) {
                eprintln!("private networks are reachable again");
            }
        }
    }
    let info = berth.info(bot).await?;
    if json {
        crate::print_json(&shown(&info));
    } else {
        print!("{}", show(&info));
    }
    Ok(0)
}

fn when(a: NetworkApply) -> &'static str {
    match a {
        NetworkApply::Now => "applied to the running workspace",
        NetworkApply::NextStart => "applies when the workspace starts",
        NetworkApply::NextCreate => "the workspace gets it when it is created",
    }
}

fn shown(info: &WorkspaceInfo) -> Shown {
    Shown {
        network: if info.host_network { "host" } else { "bridge" },
        workspace_network: info.network.map(|n| match n {
            NetworkMode::Cni => "bridge",
            NetworkMode::Host => "host",
        }),
        block_private_networks: info.block_private_networks,
    }
}

/// The settings as `berth network` prints them.
fn show(info: &WorkspaceInfo) -> String {
    let s = shown(info);
    let describe = |n: &str| match n {
        "host" => "host (no isolation from this computer's services or your LAN)",
        _ => "bridge (isolated)",
    };
    let mut out = format!("network:           {}\n", describe(s.network));
    if let Some(w) = s.workspace_network.filter(|w| *w != s.network) {
        out += &format!(
            "workspace:         {} until it is created again\n",
            describe(w)
        );
    }
    out += if s.block_private_networks {
        "private networks:  blocked (LAN, VPN, link-local, cloud metadata; DNS excepted)\n"
    } else {
        "private networks:  reachable\n"
    };
    out
}
