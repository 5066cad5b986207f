//! The run's trace: one line per event — virtual time, node, event — and its 64-bit hash.
//!
//! Written with `tracing`: every event whose target starts with `shoal` becomes a line
//! `<secs.micros> <node> <message> <k=v>…`. The hash covers every line, so two runs with the
//! same trace hash behaved identically at this level of detail. Lines are kept in memory only
//! when asked (a trace file, or a determinism check that must show the first difference).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use xxhash_rust::xxh3::Xxh3;

#[derive(Default)]
struct TraceInner {
    hasher: Xxh3,
    events: u64,
    lines: Option<Vec<String>>,
    echo: bool,
    last_secs: f64,
}

/// Collects the trace of one run. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Trace {
    inner: Arc<Mutex<TraceInner>>,
}

impl Trace {
    /// `keep_lines`: remember every line (for files and diffs); `echo`: print lines to stderr.
    pub fn new(keep_lines: bool, echo: bool) -> Trace {
        let t = Trace::default();
        {
            let mut i = t.inner.lock().unwrap();
            i.lines = keep_lines.then(Vec::new);
            i.echo = echo;
        }
        t
    }

    pub fn record(&self, line: String) {
        let mut i = self.inner.lock().unwrap();
        i.last_secs = now_secs();
        i.hasher.update(line.as_bytes());
        i.hasher.update(b"\n");
        i.events += 1;
        if i.echo {
            eprintln!("{line}");
        }
        if let Some(lines) = &mut i.lines {
            lines.push(line);
        }
    }

    pub fn hash(&self) -> u64 {
        self.inner.lock().unwrap().hasher.digest()
    }

    /// Virtual time of the last event (for a run that ended in a panic, where time went).
    pub fn last_secs(&self) -> f64 {
        self.inner.lock().unwrap().last_secs
    }

    pub fn events(&self) -> u64 {
        self.inner.lock().unwrap().events
    }

    pub fn lines(&self) -> Vec<String> {
        self.inner.lock().unwrap().lines.clone().unwrap_or_default()
    }

    /// A tracing layer feeding this trace.
    pub fn layer(&self) -> TraceLayer {
        TraceLayer { trace: self.clone() }
    }
}

/// Virtual seconds since the simulation started.
/// Virtual milliseconds since the simulation started.
pub fn now_ms() -> u64 {
    madsim::time::TimeHandle::try_current().map(|h| h.elapsed().as_millis() as u64).unwrap_or(0)
}

pub fn now_secs() -> f64 {
    madsim::time::TimeHandle::try_current().map(|h| h.elapsed().as_secs_f64()).unwrap_or(0.0)
}

pub struct TraceLayer {
    trace: Trace,
}

#[derive(Default)]
struct LineVisitor {
    node: String,
    message: String,
    fields: String,
}

impl Visit for LineVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "node" => {
                let _ = write!(self.node, "{value:?}");
            }
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "node" => self.node.push_str(value),
            name => {
                let _ = write!(self.fields, " {name}={value}");
            }
        }
    }
}

/// `SHOAL_SIM_DEBUG=1` adds openraft's warnings to the trace (read once: this is on the path
/// of every tracing call site).
fn debug_mode() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("SHOAL_SIM_DEBUG").is_some())
}

fn wanted(meta: &Metadata<'_>) -> bool {
    (meta.target().starts_with("shoal") && *meta.level() <= tracing::Level::INFO)
        || (debug_mode() && *meta.level() <= tracing::Level::WARN)
}

impl<S: Subscriber> Layer<S> for TraceLayer {
    /// Decided once per call site and cached by tracing: openraft's many debug events and
    /// spans then cost nothing.
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        if wanted(metadata) {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        wanted(metadata)
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !wanted(event.metadata()) {
            return;
        }
        let mut v = LineVisitor::default();
        event.record(&mut v);
        let node = if v.node.is_empty() { "-".to_string() } else { v.node };
        self.trace.record(format!("{:.6} {} {}{}", now_secs(), node, v.message, v.fields));
    }
}
