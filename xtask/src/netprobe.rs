//! The latency-over-time probe and the HTML report of `cargo xtask bench net`.
//!
//! redis-benchmark reports percentiles per run, not each request's latency over time. So next to
//! its 50 clients, xtask runs one more client of its own, [`Probe`]: one TCP connection that
//! sends `GET probe` (a key never set: one `kv::v2` call, a fixed-size reply) back to back and
//! times each round trip with the host's clock. Its samples, with the times the host script typed
//! `inject kv null`, `upgrade kv kv2` and `patch resp resp-v2` (the script prints them), make the chart of
//! [`write_html`]: an inline SVG, readable offline. The probe is a 51st client, so it adds a
//! little load of its own; the table's figures are still redis-benchmark's.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One probe request: when it was sent (Unix ms), its round trip (ms), whether it was answered
/// without an error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub at_ms: f64,
    pub latency_ms: f64,
    pub ok: bool,
}

/// The probe client, running in a thread until [`Probe::finish`].
pub struct Probe {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    thread: JoinHandle<()>,
}

/// Unix time in milliseconds (what the host script's `date +%s%3N` prints).
pub fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

const REQUEST: &[u8] = b"*2\r\n$3\r\nGET\r\n$5\r\nprobe\r\n";

impl Probe {
    /// Starts probing 127.0.0.1:`port` (connecting again until the guest answers).
    pub fn start(port: u16) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (s, out) = (stop.clone(), samples.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port)) else {
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                };
                let _ = conn.set_nodelay(true);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                while !s.load(Ordering::Relaxed) {
                    let at = now_ms();
                    let Some(ok) = round_trip(&mut conn) else {
                        break;
                    };
                    let sample = Sample {
                        at_ms: at,
                        latency_ms: now_ms() - at,
                        ok,
                    };
                    out.lock().expect("not poisoned").push(sample);
                    // A short pause: a sample every few ms is plenty for the chart.
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        });
        Probe {
            stop,
            samples,
            thread,
        }
    }

    /// Stops the probe and returns its samples.
    pub fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        std::mem::take(&mut *self.samples.lock().expect("not poisoned"))
    }
}

/// Sends one request and reads its reply (one line: `$-1`, or an error); `None` if the
/// connection failed; else whether the reply was not an error.
fn round_trip(conn: &mut TcpStream) -> Option<bool> {
    conn.write_all(REQUEST).ok()?;
    let mut reply = Vec::new();
    let mut byte = [0u8; 64];
    while !reply.ends_with(b"\r\n") {
        let n = conn.read(&mut byte).ok()?;
        if n == 0 {
            return None;
        }
        reply.extend_from_slice(&byte[..n]);
    }
    Some(!reply.starts_with(b"-"))
}

/// Something the host script did, at a Unix time in ms.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub at_ms: f64,
    pub what: String,
}

/// The `EVENT <ms> <what>` lines the host script printed (after `[host] `).
pub fn events(host_text: &str) -> Vec<Event> {
    host_text
        .lines()
        .filter_map(|l| l.strip_prefix("EVENT "))
        .filter_map(|l| {
            let (ms, what) = l.split_once(' ')?;
            Some(Event {
                at_ms: ms.trim().parse().ok()?,
                what: what.trim().to_string(),
            })
        })
        .collect()
}

/// One table row of the report.
pub struct Row {
    pub test: String,
    pub phase: String,
    pub rps: f64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chart: probe latency (log scale) over time, phases shaded, events as vertical lines.
pub fn svg(samples: &[Sample], events: &[Event]) -> String {
    const W: f64 = 960.0;
    const H: f64 = 360.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 20.0;
    const BOTTOM: f64 = 40.0;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">"#
    );
    let start = events
        .iter()
        .map(|e| e.at_ms)
        .chain(samples.iter().map(|s| s.at_ms))
        .fold(f64::INFINITY, f64::min);
    let end = events
        .iter()
        .map(|e| e.at_ms)
        .chain(samples.iter().map(|s| s.at_ms + s.latency_ms))
        .fold(f64::NEG_INFINITY, f64::max);
    if !start.is_finite() || !end.is_finite() || end <= start {
        out.push_str(r#"<text x="20" y="40">no samples</text></svg>"#);
        return out;
    }
    let max = samples.iter().map(|s| s.latency_ms).fold(1.0f64, f64::max);
    let (lo, hi) = (0.1f64.log10(), (max * 1.2).log10());
    let x = |ms: f64| LEFT + (ms - start) / (end - start) * (W - LEFT - RIGHT);
    let y = |ms: f64| {
        let v = ms.max(0.1).log10();
        TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM)
    };
    // Phases: from each "phase NAME" event to the next.
    let phases: Vec<&Event> = events
        .iter()
        .filter(|e| e.what.starts_with("phase "))
        .collect();
    let shades = ["#eef6ee", "#fdf0e6", "#e9eef9", "#f6eef6"];
    for (i, p) in phases.iter().enumerate() {
        let until = phases.get(i + 1).map_or(end, |n| n.at_ms);
        out.push_str(&format!(
            r##"<rect x="{:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" fill="#555">{}</text>"##,
            x(p.at_ms),
            (x(until) - x(p.at_ms)).max(0.0),
            H - TOP - BOTTOM,
            shades[i % shades.len()],
            x(p.at_ms) + 4.0,
            TOP + 12.0,
            escape(&p.what["phase ".len()..])
        ));
    }
    // Axes and gridlines: decades of ms, seconds.
    let mut decade = 0.1f64;
    while decade.log10() <= hi {
        let yy = y(decade);
        out.push_str(&format!(
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ccc"/><text x="{:.1}" y="{:.1}" text-anchor="end">{decade} ms</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            yy + 4.0
        ));
        decade *= 10.0;
    }
    let seconds = ((end - start) / 1000.0).ceil() as u64;
    let step = (seconds / 12).max(1);
    for s in (0..=seconds).step_by(step as usize) {
        let xx = x(start + s as f64 * 1000.0);
        out.push_str(&format!(
            r##"<text x="{xx:.1}" y="{:.1}" text-anchor="middle">{s} s</text>"##,
            H - BOTTOM + 14.0
        ));
    }
    // Samples.
    for s in samples {
        let colour = if s.ok { "#1f5fbf" } else { "#000" };
        out.push_str(&format!(
            r#"<circle cx="{:.1}" cy="{:.1}" r="1.3" fill="{colour}"/>"#,
            x(s.at_ms),
            y(s.latency_ms)
        ));
    }
    // Events.
    for e in events.iter().filter(|e| !e.what.starts_with("phase ")) {
        let colour = if e.what.contains("upgrade") {
            "#0a8a2a"
        } else if e.what.starts_with("patch") {
            "#7a2ab8"
        } else {
            "#d62020"
        };
        let xx = x(e.at_ms);
        out.push_str(&format!(
            r#"<line x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{:.1}" stroke="{colour}" stroke-dasharray="3,2"><title>{}</title></line>"#,
            H - BOTTOM,
            escape(&e.what)
        ));
        if e.what.contains("upgrade") || e.what.starts_with("patch") {
            out.push_str(&format!(
                r#"<text x="{:.1}" y="{:.1}" fill="{colour}">{}</text>"#,
                xx + 3.0,
                TOP + 26.0,
                escape(&e.what)
            ));
        }
    }
    out.push_str(&format!(
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">time since the first phase began</text><text x="12" y="{:.1}" transform="rotate(-90 12 {:.1})" text-anchor="middle">probe latency (log)</text></svg>"##,
        (LEFT + W - RIGHT) / 2.0,
        H - 6.0,
        H / 2.0,
        H / 2.0
    ));
    out
}

/// The whole report: heading, table, chart, what the chart is.
pub fn html(
    title: &str,
    summary: &str,
    rows: &[Row],
    samples: &[Sample],
    events: &[Event],
) -> String {
    let mut table = String::from(
        "<table><tr><th>test</th><th>phase</th><th>requests/s</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th></tr>",
    );
    for r in rows {
        table.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>",
            escape(&r.test),
            escape(&r.phase),
            r.rps,
            r.p50,
            r.p99,
            r.p999
        ));
    }
    table.push_str("</table>");
    let failed = samples.iter().filter(|s| !s.ok).count();
    let injects = events.iter().filter(|e| e.what.contains("inject")).count();
    format!(
        r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{t}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}table{{border-collapse:collapse}}td,th{{border:1px solid #bbb;padding:2px 8px;text-align:right}}</style>
</head><body>
<h1>{t}</h1>
<p>{s}</p>
{table}
<h2>Latency over time</h2>
{chart}
<p>Each dot is one request of xtask's probe client: one extra connection (next to redis-benchmark's
50) sending <code>GET probe</code> back to back, each round trip timed on the host ({n} samples,
{failed} answered with an error). Red dashed lines: <code>inject kv null</code> typed ({injects});
green: <code>upgrade kv kv2</code> typed; purple: <code>patch resp resp-v2</code> typed (a
wait-free code patch of the RESP front end). Shaded: the phases (one redis-benchmark run each). The
table is redis-benchmark's own figures (wall clock under TCG on a shared host: compare phases of the
same run, not runs).</p>
</body></html>
"#,
        t = escape(title),
        s = escape(summary),
        chart = svg(samples, events),
        n = samples.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_from_the_script() {
        let e = events("EVENT 1000 phase steady\nx\nEVENT 1500.5 inject kv null\nEVENT bad\n");
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].at_ms, 1500.5);
        assert_eq!(e[1].what, "inject kv null");
    }

    #[test]
    fn the_chart_places_samples_and_events() {
        let samples = [
            Sample {
                at_ms: 1000.0,
                latency_ms: 1.0,
                ok: true,
            },
            Sample {
                at_ms: 2000.0,
                latency_ms: 100.0,
                ok: false,
            },
        ];
        let events = events(
            "EVENT 1000 phase steady\nEVENT 1500 upgrade kv kv2\nEVENT 1800 patch resp resp-v2\n",
        );
        let chart = svg(&samples, &events);
        assert_eq!(chart.matches("<circle").count(), 2);
        assert!(chart.contains("upgrade kv kv2"));
        assert!(chart.contains("stroke=\"#7a2ab8\"") && chart.contains(">patch resp resp-v2<"));
        assert!(chart.contains(">steady<"));
        assert!(svg(&[], &[]).contains("no samples"));
        let page = html("t <x>", "s", &[], &samples, &events);
        assert!(page.contains("t &lt;x&gt;") && page.contains("1 answered with an error"));
    }
}
