//! `node_uname_info` from `uname(2)` and `node_time_seconds` from the
//! system clock (node_exporter's `uname` and `time` collectors).
//!
//! `uname(2)` answers for the collector's UTS namespace: run it with the
//! host's (`hostNetwork`/`--uts=host`) for the host's `nodename`.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Metric, SourceError};

pub(super) fn collect(out: &mut Vec<Metric>) -> Result<(), SourceError> {
    let uts = rustix::system::uname();
    let sysname = uts.sysname().to_string_lossy();
    let release = uts.release().to_string_lossy();
    let version = uts.version().to_string_lossy();
    let machine = uts.machine().to_string_lossy();
    let nodename = uts.nodename().to_string_lossy();
    let domainname = uts.domainname().to_string_lossy();
    out.push(Metric::new(
        "node_uname_info",
        &[
            ("sysname", &sysname),
            ("release", &release),
            ("version", &version),
            ("machine", &machine),
            ("nodename", &nodename),
            ("domainname", &domainname),
        ],
        1.0,
    ));
    // A clock before 1970 is a broken clock, not a reason to fail: it
    // shows as a negative time, which alerting on clock skew will catch.
    let now = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    };
    out.push(Metric::new("node_time_seconds", &[], now));
    Ok(())
}
