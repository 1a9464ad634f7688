//! The shell server: the bare-metal glue around the `shell` library.
//!
//! Finds its capabilities in the server-info page: clients `console`, `kv`, `supervisor` and
//! `timer`, the system-control capability (`poweroff = true`), and, to sleep between polls, an
//! Untyped (`untyped_bits = 12`) and its own CNode (`own_cnode = true`). Prints the banner and
//! the prompt, then polls `console::v1::read` for ever: input goes to [`shell::Shell::input`],
//! its echo and output go back out through `console::v1::write` in chunks of
//! `console::v1::CHUNK_LEN` bytes. Between empty polls ([`shell::idle`]) it first yields, then
//! sleeps: it makes a notification from its Untyped, registers a badged copy with the timer, and
//! waits on it for a deadline 1 / `IDLE_POLL_HZ` s ahead (the timer's own `sleep` busy-waits in
//! the timer server and is meant for microseconds). Without those grants it only yields.
//! `poweroff` powers the machine off with status 0. Without a console capability it says so on
//! the debug console and stops.
//!
//! On the host this file is an empty program: the logic lives in the library and its tests.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
axolotl_rt::declare_server!(program::main);

#[cfg(target_os = "none")]
mod program {
    use axolotl_rt::{Cap, Endpoint, ServerInfo, debug_put_char, yield_now};
    use ipc_schema::{console, inject, kv, patch, snapshot, supervisor, timer as timer_if};
    use log::{error, info, warn};
    use shell::idle::{Idle, Wait};
    use shell::{ChunkWriter, Outcome, Services, Shell, Terminal};
    use timer::alarm::{Alarm, AlarmError};

    type Console = console::v1::Client<Cap<Endpoint>>;
    type Timer = timer_if::v1::Client<Cap<Endpoint>>;

    /// The badge of the shell's copy of its wake-up notification held by the timer (nonzero, so
    /// a signal that comes before the wait is kept).
    const WAKE_BADGE: u64 = 1;

    /// Writes one chunk of output: through the console server, or straight to the debug console
    /// if that failed.
    fn send(console: &Console, chunk: &[u8]) {
        if let Ok(bytes) = console::v1::Bytes::from_slice(chunk)
            && console.write(bytes).is_ok()
        {
            return;
        }
        chunk.iter().copied().for_each(debug_put_char);
    }

    /// Makes the shell's alarm; `None` (logged) if the image does not grant what that takes.
    fn alarm(server: &ServerInfo, timer: Timer) -> Option<Alarm> {
        Alarm::new(server, timer, WAKE_BADGE)
            .map_err(|e| match e {
                AlarmError::NotGranted => info!("shell: {e}: polling by yielding"),
                _ => warn!("shell: {e}: polling by yielding"),
            })
            .ok()
    }

    fn wait(idle: &mut Idle, alarm: Option<&Alarm>) {
        match (idle.wait(), alarm) {
            (Wait::Sleep(ticks), Some(alarm)) => {
                if alarm.sleep(ticks).is_err() {
                    warn!("shell: sleeping through the timer failed: polling by yielding");
                    idle.stop_sleeping();
                }
            }
            _ => yield_now(),
        }
    }

    pub fn main(server: &'static ServerInfo) {
        let console = server.client("console").map(Console::new);
        let timer = server.client("timer").map(Timer::new);
        let services = Services {
            console,
            kv: server.client("kv").map(kv::v2::Client::new),
            supervisor: server.client("supervisor").map(supervisor::v1::Client::new),
            inject: server.client("supervisor").map(inject::v1::Client::new),
            snapshot: server.client("supervisor").map(snapshot::v1::Client::new),
            upgrader: server
                .client("upgrader")
                .map(ipc_schema::lifecycle::v1::Client::new),
            patch: server.client("supervisor").map(patch::v1::Client::new),
        };
        let granted = |present: bool, name: &'static str| if present { name } else { "" };
        info!(
            "shell: calls{}{}{}{}{}",
            granted(services.console.is_some(), " console"),
            granted(services.kv.is_some(), " kv"),
            granted(services.supervisor.is_some(), " supervisor"),
            granted(timer.is_some(), " timer"),
            granted(server.sys_control().is_some(), "; may power off"),
        );
        let Some(input) = console else {
            error!("shell: the image grants no 'console' to read from; stopping");
            return;
        };
        let frequency = timer.and_then(|t| t.frequency().ok());
        let alarm = timer.and_then(|t| alarm(server, t));
        let mut idle = Idle::new(frequency.filter(|_| alarm.is_some()));
        let mut out =
            ChunkWriter::<_, { console::v1::CHUNK_LEN }>::new(|chunk: &[u8]| send(&input, chunk));
        let mut shell = Shell::new(services, server.sys_control().is_some());
        shell.start(&mut out);
        out.flush();
        let mut read_failed = false;
        loop {
            match input.read(console::v1::CHUNK_LEN as u16) {
                Ok(bytes) if !bytes.is_empty() => {
                    read_failed = false;
                    idle.input();
                    // Between a patch's steps: a millisecond's sleep (or a yield), so that the
                    // server being patched, below the shell, runs and its threads come back to
                    // their receive points.
                    let step_ticks = frequency.map_or(0, |hz| (hz / 1000).max(1));
                    let mut pause = || match alarm.as_ref() {
                        Some(alarm) if step_ticks > 0 && alarm.sleep(step_ticks).is_ok() => {}
                        _ => yield_now(),
                    };
                    let outcome = shell.input_paced(&bytes, &mut out, &mut pause);
                    out.flush();
                    if outcome == Outcome::Poweroff
                        && let Some(sys_control) = server.sys_control()
                    {
                        sys_control.poweroff(0);
                    }
                }
                Ok(_) => wait(&mut idle, alarm.as_ref()),
                Err(e) => {
                    if !read_failed {
                        warn!("shell: console read failed: {e}; retrying");
                        read_failed = true;
                    }
                    wait(&mut idle, alarm.as_ref());
                }
            }
        }
    }
}
