//! Network counters of a network namespace, read from `/proc/<pid>/net/dev`
//! of a process inside it, as cAdvisor reads them.
//!
//! cAdvisor keeps four counters per direction (bytes, packets, errors,
//! drops) and leaves out interfaces whose lower-cased name starts with
//! `lo`, `veth`, `docker` or `nerdctl`: loopback, and the host ends of
//! container links, which would count the containers' traffic again.
//! Where a pod's counters are emitted is decided in the module above.

/// Interface name prefixes cAdvisor leaves out (compared lower-cased).
const IGNORED_PREFIXES: [&str; 4] = ["lo", "veth", "docker", "nerdctl"];

/// One interface's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Interface {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// Whether cAdvisor leaves `name` out.
pub(crate) fn is_ignored(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    IGNORED_PREFIXES.iter().any(|p| lower.starts_with(p))
}

/// Parses `net/dev`: two header lines, then `name: 16 counters` per
/// interface (8 receive, 8 transmit). A malformed line makes the whole
/// file untrusted, as in cAdvisor; ignored interfaces are dropped.
pub(crate) fn parse_net_dev(text: &str) -> Result<Vec<Interface>, String> {
    let mut lines = text.lines();
    for header in ["title", "column"] {
        if lines.next().is_none() {
            return Err(format!("missing {header} header"));
        }
    }
    let mut out = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        // The name ends at the last ':'; a wide counter may touch it
        // (`eth0:12345678901`).
        let (name, counters) = line
            .rsplit_once(':')
            .ok_or_else(|| format!("line {line:?} has no `name:`"))?;
        let name = name.trim();
        let values = counters
            .split_ascii_whitespace()
            .map(str::parse::<u64>)
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|e| format!("line {line:?}: {e}"))?;
        let [rx_bytes, rx_packets, rx_errors, rx_dropped, _, _, _, _, tx_bytes, tx_packets, tx_errors, tx_dropped, _, _, _, _] =
            values[..]
        else {
            return Err(format!("line {line:?}: {} counters, not 16", values.len()));
        };
        if name.is_empty() {
            return Err(format!("line {line:?} has no interface name"));
        }
        if is_ignored(name) {
            continue;
        }
        out.push(Interface {
            name: name.to_string(),
            rx_bytes,
            rx_packets,
            rx_errors,
            rx_dropped,
            tx_bytes,
            tx_packets,
            tx_errors,
            tx_dropped,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";

    #[test]
    fn keeps_the_four_counters_and_skips_cadvisors_ignored_names() {
        let text = format!(
            "{HEADER}    lo:  100 1 0 0 0 0 0 0  100 1 0 0 0 0 0 0\n  eth0:12345678901 20 1 2 3 4 5 6 3000 15 7 8 9 10 11 12\nvethab12: 5 5 5 5 0 0 0 0 5 5 5 5 0 0 0 0\nDocker0: 5 5 5 5 0 0 0 0 5 5 5 5 0 0 0 0\n  cni0: 1 2 3 4 0 0 0 0 5 6 7 8 0 0 0 0\n"
        );
        let got = parse_net_dev(&text).unwrap();
        assert_eq!(
            got,
            vec![
                Interface {
                    name: "eth0".into(),
                    rx_bytes: 12_345_678_901,
                    rx_packets: 20,
                    rx_errors: 1,
                    rx_dropped: 2,
                    tx_bytes: 3000,
                    tx_packets: 15,
                    tx_errors: 7,
                    tx_dropped: 8,
                },
                Interface {
                    name: "cni0".into(),
                    rx_bytes: 1,
                    rx_packets: 2,
                    rx_errors: 3,
                    rx_dropped: 4,
                    tx_bytes: 5,
                    tx_packets: 6,
                    tx_errors: 7,
                    tx_dropped: 8,
                },
            ]
        );
    }

    #[test]
    fn malformed_files_are_refused_whole() {
        assert!(parse_net_dev("").is_err());
        assert!(parse_net_dev("only a title\n").is_err());
        assert_eq!(parse_net_dev(HEADER).unwrap(), vec![]);
        for bad in [
            "eth0 1 2 3\n",
            "eth0: 1 2 3\n",
            "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n",
            ": 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
            "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
        ] {
            assert!(parse_net_dev(&format!("{HEADER}{bad}")).is_err(), "{bad:?}");
        }
    }
}
