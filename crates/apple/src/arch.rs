//! Which CPU architecture a workspace runs, and whether the bridge can be its PID 1 there.
//!
//! The bridge is a static Linux binary built for one architecture. On Apple silicon the
//! workspaces are `linux/arm64` VMs and need an arm64 bridge; with only an x86-64 bridge they can
//! run as `linux/amd64` under Rosetta (`CONTAINER_DEFAULT_PLATFORM=linux/amd64`), slower. A
//! bridge of the wrong architecture would fail at start with an exec error deep in the VM, so
//! create checks it first and says what to do.

use std::io::Read;
use std::path::Path;

use berth_runtime::{Result, RuntimeError};

/// `amd64` or `arm64` of an `os/arch[/variant]` platform.
pub fn of_platform(platform: &str) -> &str {
    platform.split('/').nth(1).unwrap_or("")
}

/// The Mac's (or this machine's) architecture in OCI's words.
pub fn host() -> &'static str {
    oci_name(std::env::consts::ARCH)
}

fn oci_name(rust_arch: &'static str) -> &'static str {
    match rust_arch {
        "aarch64" => "arm64",
        "x86_64" => "amd64",
        other => other,
    }
}

/// Whether a workspace of `platform` on a host of `host_arch` runs translated by Rosetta:
/// amd64 on an arm64 Mac.
pub fn needs_rosetta(platform: &str, host_arch: &str) -> bool {
    of_platform(platform) == "amd64" && host_arch == "arm64"
}

/// The architecture of a Linux ELF executable (`e_machine`): `amd64`, `arm64`, or `None` when
/// it is another or not an ELF file.
pub fn of_binary(path: &Path) -> std::io::Result<Option<&'static str>> {
    let mut head = [0u8; 20];
    std::fs::File::open(path)?.read_exact(&mut head)?;
    if &head[..4] != b"\x7fELF" {
        return Ok(None);
    }
    // Little-endian (EI_DATA 1) is all either architecture uses.
    Ok(match u16::from_le_bytes([head[18], head[19]]) {
        62 => Some("amd64"),
        183 => Some("arm64"),
        _ => None,
    })
}

/// Refuses to create a workspace whose bridge (`<runtime dir>/bridge`) cannot run on
/// `platform`, naming the fix.
pub fn check_bridge(runtime_dir: &Path, platform: &str) -> Result<()> {
    let bridge = runtime_dir.join("bridge");
    let found = of_binary(&bridge).map_err(|e| {
        RuntimeError::invalid(format!("reading the bridge {}: {e}", bridge.display()))
    })?;
    let want = of_platform(platform);
    match found {
        Some(arch) if arch == want => Ok(()),
        Some("amd64") => Err(RuntimeError::invalid(format!(
            "workspaces here run {platform}, but the installed bridge is built for x86-64: build \
             the arm64 bridge (scripts/build-bridge.sh --arch aarch64), or run workspaces as \
             linux/amd64 under Rosetta with CONTAINER_DEFAULT_PLATFORM=linux/amd64"
        ))),
        other => Err(RuntimeError::invalid(format!(
            "workspaces here run {platform}, but the installed bridge is built for {}: build it \
             for {want} (scripts/build-bridge.sh --arch {})",
            other.unwrap_or("another architecture"),
            if want == "arm64" { "aarch64" } else { "x86_64" }
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(machine: u16) -> tempfile::NamedTempFile {
        let mut head = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
        head.resize(18, 0);
        head.extend(machine.to_le_bytes());
        head.resize(64, 0);
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), head).unwrap();
        f
    }

    #[test]
    fn reads_the_bridge_architecture_and_refuses_a_mismatch_with_the_fix() {
        let x86 = elf(62);
        let arm = elf(183);
        assert_eq!(of_binary(x86.path()).unwrap(), Some("amd64"));
        assert_eq!(of_binary(arm.path()).unwrap(), Some("arm64"));
        assert_eq!(of_binary(elf(40).path()).unwrap(), None, "32-bit ARM");

        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(x86.path(), dir.path().join("bridge")).unwrap();
        check_bridge(dir.path(), "linux/amd64").unwrap();
        let e = check_bridge(dir.path(), "linux/arm64").unwrap_err();
        assert!(
            e.message.contains("--arch aarch64") && e.message.contains("Rosetta"),
            "{e}"
        );
        std::fs::copy(arm.path(), dir.path().join("bridge")).unwrap();
        check_bridge(dir.path(), "linux/arm64/v8").unwrap();
        let e = check_bridge(dir.path(), "linux/amd64").unwrap_err();
        assert!(e.message.contains("--arch x86_64"), "{e}");
        std::fs::write(dir.path().join("bridge"), "#!/bin/sh\n").unwrap();
        assert!(check_bridge(dir.path(), "linux/amd64").is_err());
    }

    #[test]
    fn rosetta_only_for_amd64_on_arm64() {
        assert!(needs_rosetta("linux/amd64", "arm64"));
        assert!(!needs_rosetta("linux/arm64", "arm64"));
        assert!(!needs_rosetta("linux/amd64", "amd64"));
        assert_eq!(oci_name("aarch64"), "arm64");
    }
}
