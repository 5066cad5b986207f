//! `service logs` flags (docker's) and the request they make.

use clap::Args;

/// `service logs`: docker's flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct ServiceLogs {
    /// Follow log output
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(long, short = 'n', default_value = "all", value_parser = parse_tail)]
    pub tail: Tail,
    /// Show timestamps
    #[arg(long, short = 't')]
    pub timestamps: bool,
    /// Do not include task IDs in output
    #[arg(long)]
    pub no_task_ids: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Do not neatly format logs
    #[arg(long)]
    pub raw: bool,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Show logs since timestamp (e.g. 2026-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Service or task
    pub service: String,
}

/// `--tail`: every line, or the last N of each task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Tail {
    #[default]
    All,
    Last(u64),
}

impl ServiceLogs {
    /// `--since` as a filter on lines (a line the engine did not stamp is kept); Err names
    /// the bad value. `now_ms`: the wall clock, for relative values.
    pub fn since_filter(&self, now_ms: u64) -> Result<impl Fn(&crate::proto::LogLine) -> bool, String> {
        let since_ms = match &self.since {
            None => None,
            Some(s) => {
                let secs = crate::engine_api::events::timestamp_arg("since", s, now_ms)?;
                Some(crate::engine_api::events::parse_time_ms("since", &secs).map_err(|e| e.to_string())?)
            }
        };
        Ok(move |l: &crate::proto::LogLine| match (since_ms, crate::engine_api::convert::ms_of_time(&l.timestamp)) {
            (Some(s), Some(t)) => t >= s,
            _ => true,
        })
    }

    /// The `Logs.ServiceLogs` request these flags ask for (the CLI and the simulator send it).
    pub fn request(&self) -> crate::proto::ServiceLogsRequest {
        let tail = match self.tail {
            Tail::All => None,
            Tail::Last(n) => Some(n),
        };
        crate::proto::ServiceLogsRequest { service: self.service.clone(), follow: self.follow, tail: tail.unwrap_or(0), has_tail: tail.is_some() }
    }
}

fn parse_tail(s: &str) -> Result<Tail, String> {
    match s {
        "all" => Ok(Tail::All),
        n => n.parse().map(Tail::Last).map_err(|_| format!("{n:?} is not a number of lines: use a count such as 20, or all")),
    }
}
