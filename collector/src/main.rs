//! `sightline-collector`: the node agent.

fn main() {}
