//! The OCI / Docker image formats Berth reads: media types, manifests, indexes, configs.

use serde::{Deserialize, Serialize};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Every manifest type we accept, for the registry's `Accept` header.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(deserialize_with = "blob_size")]
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// Larger than any real layer: a descriptor claiming more (or a negative size) comes from a
/// broken or hostile registry, and would otherwise size buffers and progress totals.
pub const MAX_BLOB_SIZE: i64 = 1 << 40;

fn blob_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let size = i64::deserialize(d)?;
    if !(0..=MAX_BLOB_SIZE).contains(&size) {
        return Err(serde::de::Error::custom(format!(
            "descriptor size {size} is out of range (0 to 1 TiB)"
        )));
    }
    Ok(size)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

/// An image manifest (OCI or Docker schema 2; the fields we use are the same).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// An image index / manifest list.
#[derive(Debug, Clone, Deserialize)]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

/// The parts of an image config Berth applies to the workspace process.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub config: Option<RunConfig>,
    pub rootfs: RootFs,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default)]
    pub env: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    pub diff_ids: Vec<String>,
}

/// The host platform in OCI terms.
pub fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    };
    ("linux", arch)
}

/// Picks the host platform's manifest from an index.
pub fn select_platform(index: &Index) -> Option<&Descriptor> {
    let (os, arch) = host_platform();
    index.manifests.iter().find(|d| {
        is_manifest(&d.media_type)
            && d.platform
                .as_ref()
                .is_some_and(|p| p.os == os && p.architecture == arch)
    })
}

/// Chain ids of a layer stack (the names of the unpacked snapshots), per the OCI image spec:
/// chain(0) = diff(0); chain(n) = sha256(chain(n-1) + " " + diff(n)).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    use sha2::{Digest, Sha256};
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => format!(
                "sha256:{}",
                hex::encode(Sha256::digest(format!("{prev} {d}")))
            ),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_id_of_two_layers_matches_the_spec() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        use sha2::{Digest, Sha256};
        let want = hex::encode(Sha256::digest(format!("{a} {b}")));
        assert_eq!(ids[1], format!("sha256:{want}"));
    }

    #[test]
    fn selects_the_host_platform_not_the_first() {
        let (os, arch) = host_platform();
        let idx: Index = serde_json::from_value(serde_json::json!({"manifests": [
            {"mediaType": OCI_MANIFEST, "digest": "sha256:1", "size": 1,
             "platform": {"os": "linux", "architecture": "s390x"}},
            {"mediaType": OCI_MANIFEST, "digest": "sha256:2", "size": 1,
             "platform": {"os": os, "architecture": arch}},
        ]}))
        .unwrap();
        assert_eq!(select_platform(&idx).unwrap().digest, "sha256:2");
    }
}
