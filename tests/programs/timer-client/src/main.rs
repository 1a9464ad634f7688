//! The client of the `timer-deadline` scenario: drives the timer server (`servers/timer`)
//! through `timer::v1` and checks what it promises. It makes a notification from its Untyped,
//! registers a badged copy of it (the capability travels with the request), then sets
//! deadlines and waits on the notification: each wake-up must find `now()` past the deadline,
//! a cancelled deadline must not fire, one beyond the x86_64 PIT's range (60 ms) fires on time,
//! a deadline already passed is signalled before the reply,
//! short sleeps are served and long ones refused, and the client-side `timer::sleep_for` works.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use axolotl_rt::{Cap, CapRights, Endpoint, Notification, ObjectType, ServerInfo, time};
use ipc_schema::timer::v1::{Client, TimerError};
use ipc_schema::{CallError, CapSlot};
use test_support::Checks;

axolotl_rt::declare_server!(main);

/// The badge of the notification capability the timer gets.
const WAKE_BADGE: u64 = 0x5;

fn main(server: &'static ServerInfo) {
    let mut c = Checks::new("timer-deadline");
    run(&mut c, server);
    c.finish(server);
}

fn run(c: &mut Checks, server: &'static ServerInfo) {
    let (Some(endpoint), Some((untyped, _)), Some(cnode)) =
        (server.client("timer"), server.untyped(), server.own_cnode())
    else {
        c.fail(
            "setup",
            "needs calls = [\"timer\"], an Untyped and its own CNode",
        );
        return;
    };
    let timer = Client::new(endpoint);
    let frequency = server.counter_frequency;
    c.check_eq(
        "frequency() is the counter's",
        timer.frequency(),
        Ok(frequency),
    );
    let ms = frequency / 1000;

    let t0 = timer.now();
    let mine = time::counter();
    let t1 = timer.now();
    c.check(
        matches!((t0, t1), (Ok(a), Ok(b)) if a <= mine && mine <= b),
        "now() reads the counter this client reads",
        format_args!("{t0:?} {mine} {t1:?}"),
    );
    c.check_eq(
        "a deadline before register is refused",
        timer.set_deadline(Some(0)),
        Err(CallError::Op(TimerError::NotRegistered)),
    );

    // The notification, and the badged copy (signal right only) the timer keeps.
    let mut free = server.empty_slots();
    let (Some(wake_slot), Some(given_slot)) = (free.next(), free.next()) else {
        c.fail("setup", "no empty slots");
        return;
    };
    let root = Cap::invoker_root();
    let made = untyped
        .retype(ObjectType::Notification, 0, root, wake_slot, 1)
        .and_then(|()| cnode.mint(given_slot, root, wake_slot, CapRights::WRITE, WAKE_BADGE));
    if !c.check(
        made.is_ok(),
        "a badged notification is made",
        format_args!("{made:?}"),
    ) {
        return;
    }
    let wake = Cap::<Notification>::from_cptr(wake_slot);
    c.check_eq(
        "register() takes the notification",
        timer.register(CapSlot(given_slot)),
        Ok(()),
    );

    // One deadline, 2 ms ahead.
    let deadline = now(&timer) + 2 * ms;
    c.check_eq(
        "set_deadline(+2 ms)",
        timer.set_deadline(Some(deadline)),
        Ok(()),
    );
    let word = wake.wait();
    let woke = now(&timer);
    c.check_eq(
        "the notification is signalled with its badge",
        word,
        Ok(WAKE_BADGE),
    );
    c.check(
        woke >= deadline && time::counter() >= deadline,
        "after the wake-up now() is past the deadline",
        format_args!("now {woke}, deadline {deadline}"),
    );

    // A cancelled deadline does not fire; the next one does, not earlier. The cancelled one is
    // far enough ahead (200 ms) that a slow host cannot let it pass before the cancel arrives.
    let start = now(&timer);
    let cancelled = timer
        .set_deadline(Some(start + 200 * ms))
        .and_then(|()| timer.set_deadline(None));
    let second = start + 3 * ms;
    let set = timer.set_deadline(Some(second));
    let word = wake.wait();
    let woke = now(&timer);
    c.check(
        cancelled.is_ok() && set.is_ok() && word == Ok(WAKE_BADGE) && woke >= second,
        "a cancelled deadline does not fire, the next one does on time",
        format_args!("{cancelled:?} {set:?} {word:?}: now {woke}, deadline {second}"),
    );

    // Beyond the x86_64 PIT's range (about 55 ms): the server re-arms until it is due.
    let far = now(&timer) + 60 * ms;
    let set = timer.set_deadline(Some(far));
    let word = wake.wait();
    let woke = now(&timer);
    c.check(
        set.is_ok() && word == Ok(WAKE_BADGE) && woke >= far,
        "a 60 ms deadline fires on time",
        format_args!("{set:?} {word:?}: now {woke}, deadline {far}"),
    );

    // A deadline already passed is signalled before set_deadline returns.
    let set = timer.set_deadline(Some(now(&timer) - 1));
    let polled = wake.poll();
    c.check(
        set.is_ok() && polled == Ok(Some(WAKE_BADGE)),
        "a passed deadline is signalled at once",
        format_args!("{set:?}, poll {polled:?}"),
    );

    // sleep: served by the server up to its limit, refused beyond.
    let before = now(&timer);
    let slept = timer.sleep(ms / 10);
    let after = now(&timer);
    c.check(
        slept.is_ok() && after >= before + ms / 10,
        "a short sleep(100 us) returns after it",
        format_args!("{slept:?}: {before} -> {after}"),
    );
    c.check_eq(
        "a long sleep(1 s) is refused: TooLong",
        timer.sleep(frequency),
        Err(CallError::Op(TimerError::TooLong)),
    );

    // Long waits the client's way: deadline + notification, through the library helper.
    let before = now(&timer);
    let slept = timer::sleep_for(&timer, 5 * ms, || wake.wait().map(drop));
    c.check(
        matches!(slept, Ok(woke) if woke >= before + 5 * ms),
        "timer::sleep_for(5 ms) wakes after 5 ms",
        format_args!("{slept:?}, from {before}"),
    );
}

fn now(timer: &Client<Cap<Endpoint>>) -> u64 {
    timer.now().unwrap_or(0)
}
