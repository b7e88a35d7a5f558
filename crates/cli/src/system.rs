//! `berth system status|start|stop`: the containerd Berth talks to, and Berth's own.

use berth_core::model::{NetworkMode, SystemStatus};
use berth_core::{Berth, Error};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum SystemCommand {
    /// Whether containerd answers, whose it is, and what is missing to run Berth's own.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Start Berth's own containerd (detached; state under the data directory) and use it.
    Start {
        #[arg(long)]
        json: bool,
    },
    /// Stop Berth's own containerd: its running workspaces first, then the daemon and every
    /// process it started.
    Stop,
}

pub async fn run(berth: &Berth, command: SystemCommand) -> Result<i32, Error> {
    match command {
        SystemCommand::Status { json } => {
            show(&berth.status().await, json);
            Ok(0)
        }
        SystemCommand::Start { json } => {
            show(&berth.start_managed_containerd().await?, json);
            Ok(0)
        }
        SystemCommand::Stop => {
            if berth.stop_managed_containerd().await? {
                eprintln!("Berth's containerd stopped");
            } else {
                eprintln!("Berth's containerd was not running");
            }
            Ok(0)
        }
    }
}

fn show(s: &SystemStatus, json: bool) {
    if json {
        crate::print_json(s);
    } else {
        print!("{}", text(s));
    }
}

fn text(s: &SystemStatus) -> String {
    let yes = |b: bool| if b { "yes" } else { "no" };
    let b = &s.backend;
    let state = match (&s.version, &s.error) {
        (Some(v), _) => format!("connected ({b} {v})"),
        (None, Some(e)) => format!("not reachable: {e}"),
        (None, None) => "not reachable".into(),
    };
    let mut out = format!(
        "backend:     {b}\nstate:       {state}\nsocket:      {}\nnamespace:   {}\nmanaged:     {}\nrootless:    {}\n",
        s.socket,
        s.namespace,
        yes(s.managed),
        yes(s.rootless),
    );
    if s.connected {
        out += match s.network {
            NetworkMode::Cni => "network:     isolated bridge\n",
            NetworkMode::Host => {
                "network:     no bridge (CNI plugins missing): only host-network bots\n"
            }
        };
    } else if let Some(m) = &s.missing {
        out += &format!("own daemon:  cannot run here: {m}\n");
    } else {
        out += "own daemon:  start it with `berth system start`\n";
    }
    for l in &s.limitations {
        out += &format!("limitation:  {}\n", l.reason);
    }
    for n in &s.notes {
        out += &format!("note:        {n}\n");
    }
    out
}
