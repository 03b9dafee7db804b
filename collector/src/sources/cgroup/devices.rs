//! Block device names for the `device` label: cAdvisor reports `/dev/sda`
//! where cgroups say `8:0`.

use std::collections::HashMap;
use std::path::PathBuf;

use super::parse::DeviceIo;
use super::stats::DeviceStats;

/// Most devices remembered; a machine has far fewer.
const MAX_CACHED: usize = 4096;

/// Resolves `major:minor` through `/sys/dev/block/<major>:<minor>/uevent`
/// (`DEVNAME=sda`), remembering answers. Devices without a name (gone, or
/// sysfs not mounted) fall back to `/dev/block/<major>:<minor>`, the path
/// udev links to the same device, so series never collapse.
#[derive(Debug)]
pub(crate) struct DeviceNames {
    sys_dev_block: PathBuf,
    cache: HashMap<(u32, u32), String>,
}

impl DeviceNames {
    pub fn new(sys_dev_block: PathBuf) -> Self {
        Self {
            sys_dev_block,
            cache: HashMap::new(),
        }
    }

    pub fn name(&mut self, major: u32, minor: u32) -> String {
        if let Some(name) = self.cache.get(&(major, minor)) {
            return name.clone();
        }
        let uevent = self
            .sys_dev_block
            .join(format!("{major}:{minor}"))
            .join("uevent");
        let named = std::fs::read_to_string(uevent).ok().and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("DEVNAME="))
                .map(|n| format!("/dev/{}", n.trim()))
        });
        let name = named
            .clone()
            .unwrap_or_else(|| format!("/dev/block/{major}:{minor}"));
        // Only names from sysfs are remembered: a device seen before udev
        // or sysfs caught up gets another chance next round.
        if named.is_some() && self.cache.len() < MAX_CACHED {
            self.cache.insert((major, minor), name.clone());
        }
        name
    }

    pub fn name_all(&mut self, io: &[DeviceIo]) -> Vec<DeviceStats> {
        io.iter()
            .map(|d| DeviceStats {
                device: self.name(d.major, d.minor),
                read_bytes: d.read_bytes,
                write_bytes: d.write_bytes,
                reads: d.reads,
                writes: d.writes,
            })
            .collect()
    }
}
