//! `shoal snapshot -o FILE`: the swarm's committed state at one raft index, written for a
//! what-if planner (`shoal-sim plan --snapshot FILE …`) or a simulated twin. The leader reads
//! every table at once (a linearizable read); what must not leave the managers — secrets'
//! and configs' data, the CA key, the join tokens — is removed before the file is written
//! (core/src/plan/snapshot.rs).

use crate::{call, objects};
use clap::Parser;
use shoal_core::model::Kind;
use shoal_core::proto::{self, control_request::Op};

#[derive(Debug, Parser)]
#[command(name = "shoal snapshot", about = "Write the swarm's committed state to a file (secrets' and configs' data, the CA key and join tokens removed)")]
pub struct SnapshotCli {
    /// The file to write
    #[arg(long, short = 'o')]
    pub output: String,
}

pub async fn run(host: &str, c: &SnapshotCli) -> Result<(), String> {
    let kinds = Kind::ALL.into_iter().map(|k| k.as_str().to_string()).collect();
    let r = call(host, Op::ReadTables(proto::ReadTables { kinds })).await?;
    let list = objects(&r);
    let n = list.len();
    let bytes = shoal_core::plan::snapshot::export(r.index, list).map_err(|e| format!("Error: the swarm's tables are inconsistent: {e}"))?;
    write_private(&c.output, &bytes).map_err(|e| format!("Error: cannot write {}: {e}", c.output))?;
    println!("Wrote {n} objects at raft index {} to {}.", r.index, c.output);
    Ok(())
}

/// Writes `bytes` readable by this user only (the file names every node and service).
fn write_private(path: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
