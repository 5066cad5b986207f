//! Draws a [`Timeline`] as one HTML page with an inline SVG: no script, no outside file, so it
//! opens anywhere and can be attached to a bug report. Every mark carries a `<title>` (the
//! browser's tooltip) with the trace's own words.

use super::{Outcome, State, Timeline};
use std::fmt::Write;

const WIDTH: f64 = 1400.0;
const LABEL_W: f64 = 150.0;
const ROW_H: f64 = 30.0;
const AXIS_H: f64 = 24.0;

/// `&`, `<`, `>` and quotes as entities (written by hand: five replacements need no crate).
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn color(s: State) -> &'static str {
    match s {
        State::Up => "#cfe8d4",
        State::Down => "#d5d5d5",
        State::Paused => "#f6e3a1",
        State::Locked => "#f4b183",
    }
}

/// A tick spacing of 1, 2 or 5 times a power of ten giving at most about 12 ticks.
fn tick_step(end: f64) -> f64 {
    let raw = (end / 12.0).max(1e-3);
    let pow = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * pow).find(|s| *s >= raw).unwrap_or(10.0 * pow)
}

/// The page for `tl` and how the run ended.
pub fn render(tl: &Timeline, outcome: &Outcome) -> String {
    let end = tl.end_secs.max(outcome.violation.as_ref().map(|v| v.0).unwrap_or(0.0)).max(0.001);
    let x = |t: f64| LABEL_W + (t.clamp(0.0, end) / end) * (WIDTH - LABEL_W - 20.0);
    let rows = 2 + tl.rows.len();
    let height = AXIS_H + rows as f64 * ROW_H + 10.0;
    let max_tasks = tl.rows.iter().flat_map(|r| r.tasks.iter().map(|(_, n)| *n)).max().unwrap_or(0).max(1);
    let mut svg = String::new();
    let _ = write!(svg, r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="11">"#);
    // Time axis.
    let step = tick_step(end);
    let mut t = 0.0;
    while t <= end + 1e-9 {
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" y1="{AXIS_H}" x2="{0:.1}" y2="{height}" stroke="#eee"/><text x="{0:.1}" y="14" text-anchor="middle">{1}s</text>"##,
            x(t),
            if step < 1.0 { format!("{t:.1}") } else { format!("{t:.0}") }
        );
        t += step;
    }
    let row_y = |k: usize| AXIS_H + k as f64 * ROW_H;
    let label = |svg: &mut String, k: usize, text: &str| {
        let _ = write!(svg, r#"<text x="4" y="{:.1}">{}</text>"#, row_y(k) + ROW_H / 2.0 + 4.0, esc(text));
    };
    // Row 0: network faults.
    label(&mut svg, 0, "network");
    for (from, to, what) in &tl.net {
        let _ = write!(
            svg,
            r##"<rect class="fault" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#e53e3e" fill-opacity="0.35"><title>{:.3}s–{:.3}s: {}</title></rect>"##,
            x(*from),
            row_y(0) + 4.0,
            (x(*to) - x(*from)).max(1.0),
            ROW_H - 8.0,
            from,
            to,
            esc(what)
        );
    }
    // Row 1: steps and expectations.
    label(&mut svg, 1, "steps / expected");
    for (t, what) in &tl.steps {
        let _ = write!(svg, r##"<line class="step" x1="{0:.1}" y1="{1:.1}" x2="{0:.1}" y2="{2:.1}" stroke="#888"><title>{3:.3}s {4}</title></line>"##, x(*t), row_y(1) + 4.0, row_y(1) + ROW_H - 4.0, t, esc(what));
    }
    for (t, what) in &tl.met {
        let (cx, cy) = (x(*t), row_y(1) + ROW_H / 2.0);
        let _ = write!(
            svg,
            r##"<polygon class="met" points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="#1a7f37"><title>{:.3}s expectation met: {}</title></polygon>"##,
            cx, cy - 6.0, cx + 5.0, cy, cx, cy + 6.0, cx - 5.0, cy, t, esc(what)
        );
    }
    // One row per machine.
    for (k, r) in tl.rows.iter().enumerate() {
        let k = k + 2;
        let y = row_y(k);
        let _ = write!(svg, r#"<g class="row" data-node="{}">"#, esc(&r.name));
        label(&mut svg, k, &r.name);
        for (from, to, s) in &r.states {
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {:?} {:.3}s–{:.3}s</title></rect>"#,
                x(*from),
                y + 3.0,
                (x(*to) - x(*from)).max(0.5),
                ROW_H - 6.0,
                color(*s),
                esc(&r.name),
                s,
                from,
                to
            );
        }
        for (from, to) in &r.leader {
            let _ = write!(
                svg,
                r##"<rect class="leader" x="{:.1}" y="{:.1}" width="{:.1}" height="4" fill="#2b6cb0"><title>{} leads {:.3}s–{:.3}s</title></rect>"##,
                x(*from),
                y + 3.0,
                (x(*to) - x(*from)).max(1.0),
                esc(&r.name),
                from,
                to
            );
        }
        if !r.tasks.is_empty() {
            // A step line: the count holds until the next change.
            let yv = |n: u32| y + ROW_H - 4.0 - f64::from(n) / f64::from(max_tasks) * (ROW_H - 12.0);
            let mut pts = String::new();
            let mut last: Option<u32> = None;
            for (t, n) in &r.tasks {
                if let Some(prev) = last {
                    let _ = write!(pts, "{:.1},{:.1} ", x(*t), yv(prev));
                }
                let _ = write!(pts, "{:.1},{:.1} ", x(*t), yv(*n));
                last = Some(*n);
            }
            let _ = write!(pts, "{:.1},{:.1}", x(end), yv(last.unwrap_or(0)));
            let _ = write!(
                svg,
                r##"<polyline class="tasks" points="{pts}" fill="none" stroke="#1a7f37" stroke-width="1.5"><title>{} running containers (at most {})</title></polyline>"##,
                esc(&r.name),
                r.tasks.iter().map(|(_, n)| *n).max().unwrap_or(0)
            );
        }
        for (t, what) in &r.events {
            let _ = write!(svg, r##"<line class="event" x1="{0:.1}" y1="{1:.1}" x2="{0:.1}" y2="{2:.1}" stroke="#000" stroke-width="2"><title>{3:.3}s {4}</title></line>"##, x(*t), y + 3.0, y + ROW_H - 3.0, t, esc(what));
        }
        svg.push_str("</g>");
    }
    if let Some((at, checker, message)) = &outcome.violation {
        let _ = write!(
            svg,
            r##"<g id="violation"><line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#c00" stroke-width="2"/><circle cx="{0:.1}" cy="{1}" r="5" fill="#c00"/><title>{3:.3}s [{4}] {5}</title></g>"##,
            x(*at),
            AXIS_H,
            height,
            at,
            esc(checker),
            esc(message)
        );
    }
    svg.push_str("</svg>");

    let mut page = String::new();
    let status = if outcome.passed { "<b style=\"color:#1a7f37\">PASSED</b>".to_string() } else { "<b style=\"color:#c00\">FAILED</b>".to_string() };
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{0}</title>\n<style>body{{font-family:sans-serif;margin:16px}}code{{background:#f3f3f3;padding:2px 4px}}.legend span{{display:inline-block;width:14px;height:10px;margin:0 4px 0 12px}}</style></head><body>\n<h1>{0}</h1>\n<p>{1} after {2:.3} virtual s</p>\n",
        esc(&outcome.title),
        status,
        tl.end_secs
    );
    if let Some((at, checker, message)) = &outcome.violation {
        let _ = write!(page, "<p>At {at:.3}s, checker <b>{}</b>: {}</p>\n", esc(checker), esc(message));
    }
    if !outcome.replay.is_empty() {
        let _ = write!(page, "<p>Replay: <code>{}</code></p>\n", esc(&outcome.replay));
    }
    page.push_str(
        "<p class=\"legend\">machines:<span style=\"background:#cfe8d4\"></span>up<span style=\"background:#d5d5d5\"></span>down\
         <span style=\"background:#f6e3a1\"></span>paused<span style=\"background:#f4b183\"></span>locked\
         <span style=\"background:#2b6cb0\"></span>raft leader<span style=\"background:#1a7f37\"></span>running containers \
         (line) / expectation met (diamond)<span style=\"background:#e53e3e;opacity:.4\"></span>network fault \
         <span style=\"background:#000;width:3px\"></span>crash, restart, pause… \
         <span style=\"background:#c00;width:3px\"></span>violation. Hover a mark for the trace's words.</p>\n",
    );
    page.push_str(&svg);
    page.push_str("\n</body></html>\n");
    page
}
