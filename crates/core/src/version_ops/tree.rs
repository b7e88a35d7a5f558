//! The version list: the database's rows joined with the runtime's snapshots into a tree.

use std::collections::HashMap;

use berth_runtime::{SnapshotInfo, SnapshotKind};
use berth_store::VersionRow;

use crate::versions::{VersionInfo, VersionList, VersionSource};

use super::EMPTY_LAYER;

/// The workspace's writable layer: the newest active snapshot.
pub(super) fn current_active(snaps: &[SnapshotInfo]) -> Option<&SnapshotInfo> {
    snaps
        .iter()
        .filter(|s| s.kind == SnapshotKind::Active)
        .max_by_key(|s| s.created_at)
}

/// Joins the database's rows with containerd's snapshots: lineage and sizes come from
/// containerd, names and sources from the database.
pub(super) fn build_list(rows: &[VersionRow], snaps: &[SnapshotInfo]) -> VersionList {
    let by_snapshot: HashMap<&str, u32> = rows
        .iter()
        .map(|r| (r.snapshot.as_str(), r.number))
        .collect();
    let active = current_active(snaps);
    let current = active
        .and_then(|a| a.parent.as_deref())
        .and_then(|p| by_snapshot.get(p).copied());
    let mut versions: Vec<VersionInfo> = rows
        .iter()
        .map(|r| {
            let snap = snaps.iter().find(|s| s.name == r.snapshot);
            let parent = match snap {
                Some(s) => s
                    .parent
                    .as_deref()
                    .and_then(|p| by_snapshot.get(p).copied()),
                None => r.parent,
            };
            info_of(
                r,
                snap.and_then(|s| s.size),
                parent,
                current == Some(r.number),
                snap.is_none(),
            )
        })
        .collect();
    link_children(&mut versions);
    VersionList {
        available: true,
        unavailable_reason: None,
        current,
        unsaved_bytes: active
            .and_then(|a| a.size)
            .map(|s| s.saturating_sub(EMPTY_LAYER)),
        versions,
        only_data: None,
    }
}

/// A stored version as the list shows it (`children` are filled in by [`link_children`]).
pub(super) fn info_of(
    r: &VersionRow,
    size: Option<u64>,
    parent: Option<u32>,
    current: bool,
    missing: bool,
) -> VersionInfo {
    VersionInfo {
        version: r.number,
        name: r.name.clone(),
        display_name: r
            .name
            .clone()
            .unwrap_or_else(|| format!("Version {}", r.number)),
        source: VersionSource::parse(&r.source),
        created_at: r.created_at.clone(),
        size,
        parent,
        children: vec![],
        current,
        missing,
    }
}

/// Fills each version's `children` from the others' `parent`.
pub(super) fn link_children(versions: &mut [VersionInfo]) {
    let links: Vec<(u32, u32)> = versions
        .iter()
        .filter_map(|v| v.parent.map(|p| (p, v.version)))
        .collect();
    for (p, c) in links {
        if let Some(v) = versions.iter_mut().find(|v| v.version == p) {
            v.children.push(c);
        }
    }
}
