//! The client side of long waits: sleeping on a deadline without holding up the timer.
//!
//! Once: `register` a notification capability with the timer (a badged one: the kernel keeps a
//! signal that arrives before the wait only if its badge is nonzero). Then per wait:
//! [`sleep_until`] sets the deadline and blocks in `wait` (the caller's wait on that
//! notification) until a wake-up finds the timer's `now()` at or past the deadline; an earlier
//! wake-up (a signal left over from an earlier deadline) is waited past.

use ipc_schema::interfaces::common::Ticks;
use ipc_schema::timer::v1::{Client, TimerError};
use ipc_schema::{CallError, Transport};

/// Why a sleep failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SleepError<E> {
    /// A call to the timer failed (`NotRegistered`: register a notification first).
    Timer(CallError<TimerError>),
    /// Waiting on the notification failed.
    Wait(E),
}

/// Waits until the timer's clock reaches `deadline`; returns the time seen on waking (at or
/// past `deadline`). `wait` blocks until the registered notification is signalled.
pub fn sleep_until<T: Transport, E>(
    timer: &Client<T>,
    deadline: Ticks,
    mut wait: impl FnMut() -> Result<(), E>,
) -> Result<Ticks, SleepError<E>> {
    timer
        .set_deadline(Some(deadline))
        .map_err(SleepError::Timer)?;
    loop {
        wait().map_err(SleepError::Wait)?;
        let now = timer
            .now()
            .map_err(|e| SleepError::Timer(CallError::Ipc(e.into_ipc())))?;
        if now >= deadline {
            return Ok(now);
        }
    }
}

/// [`sleep_until`] `ticks` from now.
pub fn sleep_for<T: Transport, E>(
    timer: &Client<T>,
    ticks: Ticks,
    wait: impl FnMut() -> Result<(), E>,
) -> Result<Ticks, SleepError<E>> {
    let now = timer
        .now()
        .map_err(|e| SleepError::Timer(CallError::Ipc(e.into_ipc())))?;
    sleep_until(timer, now.saturating_add(ticks), wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::MAX_CLIENTS;
    use crate::service::tests::{FREQ, Fake, Service, service};
    use ipc_schema::{Caller, CapSlot, IpcError, Local, MSG_WORDS};

    /// The client's notification capability, as sent with `register`.
    const NOTIFICATION: CapSlot = CapSlot(9);

    fn timer() -> (Client<Local<Service>>, Fake) {
        let (s, fake) = service(MAX_CLIENTS);
        (Client::new(Local::new(s, Service::handle)), fake)
    }

    /// The kernel's side of a wait: time passes to the next armed deadline (or by `idle` if none
    /// is armed), the timer takes its interrupt; the wait returns once a signal has arrived.
    fn wait_on(
        timer: &Client<Local<Service>>,
        fake: &Fake,
        idle: Ticks,
    ) -> impl FnMut() -> Result<(), &'static str> {
        move || {
            for _ in 0..100 {
                if !fake.0.borrow_mut().signalled.is_empty() {
                    fake.0.borrow_mut().signalled.clear();
                    return Ok(());
                }
                let mut w = fake.0.borrow_mut();
                w.now = w.armed.unwrap_or(w.now + idle).max(w.now);
                drop(w);
                let mut server = timer.transport().server();
                let mut reply = [0u64; MSG_WORDS];
                server.handle(&mut Caller::new(1 << 30, None), 0, &[], &mut reply);
            }
            Err("never signalled")
        }
    }

    #[test]
    fn sleeps_until_the_deadline() {
        let (t, fake) = timer();
        fake.0.borrow_mut().slots.insert(NOTIFICATION.0, 55);
        // Registered first, or the deadline is refused.
        assert_eq!(
            sleep_for(&t, 10, wait_on(&t, &fake, 1)),
            Err(SleepError::Timer(CallError::Op(TimerError::NotRegistered)))
        );
        t.register(NOTIFICATION).unwrap();
        fake.0.borrow_mut().now = 5_000;
        let woke = sleep_for(&t, FREQ / 100, wait_on(&t, &fake, 1)).unwrap();
        assert!(woke >= 5_000 + FREQ / 100, "{woke}");
        let woke = sleep_until(&t, 20_000, wait_on(&t, &fake, 1)).unwrap();
        assert!(woke >= 20_000);
        // A deadline already passed returns after the signal sent at once.
        let woke = sleep_until(&t, 0, wait_on(&t, &fake, 1)).unwrap();
        assert!(woke >= 20_000);
    }

    #[test]
    fn an_early_wakeup_is_waited_past() {
        let (t, fake) = timer();
        fake.0.borrow_mut().slots.insert(NOTIFICATION.0, 55);
        t.register(NOTIFICATION).unwrap();
        let mut wakeups = 0;
        let mut inner = wait_on(&t, &fake, 1);
        let woke = sleep_until(&t, 1_000, || {
            wakeups += 1;
            if wakeups == 1 {
                // A stale signal: returns before any time passed.
                return Ok(());
            }
            inner()
        })
        .unwrap();
        assert!(woke >= 1_000 && wakeups == 2);
    }

    #[test]
    fn failures_are_reported() {
        let (t, fake) = timer();
        fake.0.borrow_mut().slots.insert(NOTIFICATION.0, 55);
        t.register(NOTIFICATION).unwrap();
        assert_eq!(
            sleep_until(&t, 1_000, || Err("interrupted")),
            Err(SleepError::Wait("interrupted"))
        );
        let busy = t.transport().server();
        // The server is in use (a call into itself): the transport's failure comes back.
        assert_eq!(
            sleep_until(&t, 1_000, || Ok::<(), ()>(())),
            Err(SleepError::Timer(CallError::Ipc(
                IpcError::ServerUnavailable
            )))
        );
        drop(busy);
    }
}
