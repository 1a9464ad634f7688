//! [`TimerService`]: `timer::v1` over one hardware one-shot timer, and the server loop's handler.
//!
//! **Clients** are told apart by the badge they call with (the root task mints each caller's
//! capability with its own badge). `register` moves the notification capability that came with
//! the request into the client's own slot of the server's CNode (a table of at most
//! [`MAX_CLIENTS`] entries; registering again replaces the capability and keeps a pending
//! deadline). `set_deadline` puts the client's one deadline in the [`DeadlineQueue`].
//!
//! **The hardware** ([`OneShot`]) is armed for the earliest pending deadline. After every message
//! the server handles, [`TimerService::handle`] signals every client whose deadline has passed
//! and re-arms (or stops) the hardware for the next one, so a deadline already passed when it is
//! set is signalled before the reply. The device's interrupt reaches the same receive as the
//! requests (its notification is bound to the server's thread): the kernel delivers it as a
//! message with label 0, no words and the IRQ's bit in the badge. Such a message is serviced as
//! an interrupt (the hardware is stopped, due deadlines signalled, the next one armed, the IRQ
//! acknowledged) and then dispatched like any other: label 0 names no interface, so the reply is
//! `UnknownInterface`, which goes nowhere after a notification (there is no caller) and is the
//! right answer to a client that really sent such a message (it merely caused an early check).
//!
//! **Sleeping.** The kernel has no way to keep a caller waiting for a reply while the server
//! serves others (no saved reply capabilities), so a sleeping caller holds up the server.
//! `sleep(ticks)` therefore busy-waits for at most [`MAX_SLEEP_US`] and answers anything longer
//! with `TooLong`; longer waits are client-side: register a notification once, then
//! `set_deadline` and wait on the notification ([`crate::client::sleep_until`]). The server never
//! signals a deadline before its own `now()` has reached it, so a woken client sees time past
//! its deadline even on hardware that counts another clock than the counter (the PIT).

use crate::queue::{ClientId, DeadlineQueue};
use crate::ticks_from_micros;
use ipc_schema::interfaces::common::Ticks;
use ipc_schema::timer::v1::{self, TimerError};
use ipc_schema::{Caller, CapSlot, MSG_WORDS, Never};

/// The most clients one timer serves.
pub const MAX_CLIENTS: usize = 16;
/// The longest `sleep` the server busy-waits for, in microseconds.
pub const MAX_SLEEP_US: u64 = 1_000;

/// The platform's one-shot timer and the counter it is compared with.
pub trait OneShot {
    /// The counter: ticks since boot, at the frequency the server reports.
    fn now(&self) -> Ticks;
    /// Raises the interrupt once the counter reaches `deadline` (at once if it has). Hardware
    /// with a shorter range may interrupt earlier; the service then re-arms.
    fn arm(&mut self, deadline: Ticks);
    /// Stops the timer: its interrupt is no longer raised.
    fn disarm(&mut self);
    /// Acknowledges the interrupt, so that the next one is delivered.
    fn acknowledge(&mut self);
    /// Called on each turn of a busy-wait.
    fn relax(&mut self) {}
}

/// A capability operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapFailed;

/// The clients' notification capabilities, in slots of the server's CNode.
pub trait Notifiers {
    /// Moves the capability that came with a request, in `received`, into the empty `slot`.
    fn keep(&mut self, received: CapSlot, slot: CapSlot) -> Result<(), CapFailed>;
    /// Empties `slot`.
    fn discard(&mut self, slot: CapSlot);
    /// Signals the notification in `slot` (with the badge of the capability there).
    fn signal(&mut self, slot: CapSlot);
}

/// One registered client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Client {
    badge: u64,
}

/// The timer: clients, their deadlines, and the hardware armed for the earliest one.
pub struct TimerService<H, N> {
    hardware: H,
    notifiers: N,
    frequency: u64,
    max_sleep: Ticks,
    irq_badge: u64,
    /// Client `i` owns `slots[i]`.
    slots: heapless::Vec<CapSlot, MAX_CLIENTS>,
    clients: [Option<Client>; MAX_CLIENTS],
    queue: DeadlineQueue<MAX_CLIENTS>,
    /// The deadline the hardware is armed for.
    armed: Option<Ticks>,
    signals: u64,
    interrupts: u64,
}

impl<H: OneShot, N: Notifiers> TimerService<H, N> {
    /// A timer counting at `frequency` Hz whose interrupt sets `irq_badge` in the badge of the
    /// messages it arrives as. Client `i` keeps its notification in `slots[i]`: there are as
    /// many client entries as slots given (at most [`MAX_CLIENTS`]). The hardware is stopped.
    pub fn new(
        mut hardware: H,
        notifiers: N,
        frequency: u64,
        irq_badge: u64,
        slots: &[CapSlot],
    ) -> Self {
        hardware.disarm();
        let slots = slots.iter().copied().take(MAX_CLIENTS).collect();
        TimerService {
            hardware,
            notifiers,
            frequency,
            max_sleep: ticks_from_micros(frequency, MAX_SLEEP_US),
            irq_badge,
            slots,
            clients: [None; MAX_CLIENTS],
            queue: DeadlineQueue::new(),
            armed: None,
            signals: 0,
            interrupts: 0,
        }
    }

    /// Handles one received message, a request or the interrupt, and returns the reply label
    /// and words (the shape of a `dispatch` function, for `axolotl_rt::ipc_transport::serve`).
    pub fn handle(
        &mut self,
        caller: &mut Caller,
        label: u64,
        request: &[u64],
        reply: &mut [u64; MSG_WORDS],
    ) -> (u64, usize) {
        if self.is_interrupt(caller, label, request) {
            self.interrupt();
        }
        let answer = v1::dispatch(self, caller, label, request, reply);
        self.update();
        answer
    }

    /// Whether a message is what the kernel delivers for a signal of the bound notification.
    fn is_interrupt(&self, caller: &Caller, label: u64, request: &[u64]) -> bool {
        label == 0
            && request.is_empty()
            && caller.received_cap().is_none()
            && caller.badge() & self.irq_badge != 0
    }

    /// The timer interrupted: stop it (a level-triggered interrupt stays raised while the
    /// deadline is past), acknowledge, then signal what is due and arm the next deadline.
    /// Acknowledging before arming matters for an edge-triggered line (the x86_64 PIT): the
    /// interrupt stays masked until acknowledged, and an edge of a deadline armed close ahead
    /// that came while it was masked would be lost, with nothing left to re-arm the timer.
    fn interrupt(&mut self) {
        self.interrupts += 1;
        self.hardware.disarm();
        self.armed = None;
        self.hardware.acknowledge();
        self.update();
    }

    /// Signals every client whose deadline has passed and arms the hardware for the next one.
    fn update(&mut self) {
        let now = self.hardware.now();
        while let Some(client) = self.queue.pop_due(now) {
            if let Some(&slot) = self.slots.get(client) {
                self.notifiers.signal(slot);
                self.signals += 1;
            }
        }
        let next = self.queue.next();
        if next != self.armed {
            match next {
                Some(deadline) => self.hardware.arm(deadline),
                None => self.hardware.disarm(),
            }
            self.armed = next;
        }
    }

    /// The entry of the client calling with `badge`.
    fn client_of(&self, badge: u64) -> Option<ClientId> {
        self.clients[..self.slots.len()]
            .iter()
            .position(|c| c.is_some_and(|c| c.badge == badge))
    }

    fn free_entry(&self) -> Option<ClientId> {
        self.clients[..self.slots.len()]
            .iter()
            .position(Option::is_none)
    }

    /// Registered clients.
    pub fn clients(&self) -> usize {
        self.clients.iter().flatten().count()
    }

    /// Pending deadlines.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// The deadline the hardware is armed for.
    pub fn armed(&self) -> Option<Ticks> {
        self.armed
    }

    /// Notifications signalled so far.
    pub fn signals(&self) -> u64 {
        self.signals
    }

    /// Interrupts handled so far.
    pub fn interrupts(&self) -> u64 {
        self.interrupts
    }

    /// The longest sleep served by busy-waiting.
    pub fn max_sleep(&self) -> Ticks {
        self.max_sleep
    }

    pub fn hardware(&self) -> &H {
        &self.hardware
    }

    pub fn hardware_mut(&mut self) -> &mut H {
        &mut self.hardware
    }

    pub fn notifiers(&self) -> &N {
        &self.notifiers
    }
}

impl<H: OneShot, N: Notifiers> v1::Server for TimerService<H, N> {
    fn now(&mut self, _: &mut Caller) -> Result<Ticks, Never> {
        Ok(self.hardware.now())
    }

    fn frequency(&mut self, _: &mut Caller) -> Result<u64, Never> {
        Ok(self.frequency)
    }

    fn sleep(&mut self, _: &mut Caller, ticks: Ticks) -> Result<(), TimerError> {
        if ticks > self.max_sleep {
            return Err(TimerError::TooLong);
        }
        let end = self.hardware.now().saturating_add(ticks);
        while self.hardware.now() < end {
            self.hardware.relax();
        }
        Ok(())
    }

    fn register(&mut self, caller: &mut Caller) -> Result<(), TimerError> {
        let badge = caller.badge();
        let existing = self.client_of(badge);
        // Without an entry the capability stays unclaimed: the server loop deletes it.
        let id = existing
            .or_else(|| self.free_entry())
            .ok_or(TimerError::Full)?;
        // `dispatch` answers MissingCapability before calling us without one.
        let received = caller.take_cap().ok_or(TimerError::NotRegistered)?;
        let slot = self.slots[id];
        if existing.is_some() {
            self.notifiers.discard(slot);
        }
        if self.notifiers.keep(received, slot).is_err() {
            self.notifiers.discard(received);
            self.clients[id] = None;
            self.queue.cancel(id);
            return Err(TimerError::Full);
        }
        self.clients[id] = Some(Client { badge });
        Ok(())
    }

    fn set_deadline(
        &mut self,
        caller: &mut Caller,
        deadline: Option<Ticks>,
    ) -> Result<(), TimerError> {
        let id = self
            .client_of(caller.badge())
            .ok_or(TimerError::NotRegistered)?;
        match deadline {
            // One entry per client and at most as many clients as entries: it always fits.
            Some(deadline) => self.queue.set(id, deadline).map_err(|_| TimerError::Full)?,
            None => {
                self.queue.cancel(id);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ipc_schema::IpcError;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// What the fake hardware and capabilities saw, shared with the test.
    #[derive(Debug, Default)]
    pub struct World {
        pub now: Ticks,
        /// Added to `now` on each read (so busy-waits end).
        pub step: Ticks,
        pub armed: Option<Ticks>,
        pub arms: u32,
        pub acks: u32,
        /// Slot -> the capability in it (a number standing for the object).
        pub slots: std::collections::BTreeMap<u64, u64>,
        /// Signalled slots, in order, with the capability they held.
        pub signalled: Vec<(u64, u64)>,
        pub fail_keep: bool,
    }

    #[derive(Clone, Default)]
    pub struct Fake(pub Rc<RefCell<World>>);

    impl OneShot for Fake {
        fn now(&self) -> Ticks {
            let mut w = self.0.borrow_mut();
            w.now += w.step;
            w.now
        }
        fn arm(&mut self, deadline: Ticks) {
            let mut w = self.0.borrow_mut();
            w.armed = Some(deadline);
            w.arms += 1;
        }
        fn disarm(&mut self) {
            self.0.borrow_mut().armed = None;
        }
        fn acknowledge(&mut self) {
            self.0.borrow_mut().acks += 1;
        }
    }

    impl Notifiers for Fake {
        fn keep(&mut self, received: CapSlot, slot: CapSlot) -> Result<(), CapFailed> {
            let mut w = self.0.borrow_mut();
            if w.fail_keep || w.slots.contains_key(&slot.0) {
                return Err(CapFailed);
            }
            let cap = w.slots.remove(&received.0).ok_or(CapFailed)?;
            w.slots.insert(slot.0, cap);
            Ok(())
        }
        fn discard(&mut self, slot: CapSlot) {
            self.0.borrow_mut().slots.remove(&slot.0);
        }
        fn signal(&mut self, slot: CapSlot) {
            let mut w = self.0.borrow_mut();
            let cap = w.slots.get(&slot.0).copied().unwrap_or(0);
            w.signalled.push((slot.0, cap));
        }
    }

    pub const FREQ: u64 = 1_000_000;
    pub const IRQ_BADGE: u64 = 1 << 30;
    /// Where received capabilities land.
    pub const RECEIVE: CapSlot = CapSlot(9);
    const FIRST_CLIENT_SLOT: u64 = 20;

    pub type Service = TimerService<Fake, Fake>;

    pub fn service(clients: usize) -> (Service, Fake) {
        let fake = Fake::default();
        let slots: Vec<CapSlot> = (0..clients as u64)
            .map(|i| CapSlot(FIRST_CLIENT_SLOT + i))
            .collect();
        let s = TimerService::new(fake.clone(), fake.clone(), FREQ, IRQ_BADGE, &slots);
        (s, fake)
    }

    /// Sends one request as `badge` through `handle`; `cap` puts a capability (object number)
    /// in the receive slot first. Returns the reply label and the decoded result.
    fn request<A: ipc_schema::serde::Serialize>(
        s: &mut Service,
        fake: &Fake,
        badge: u64,
        op: u16,
        args: &A,
        cap: Option<u64>,
    ) -> (u64, Vec<u64>) {
        let mut words = [0u64; MSG_WORDS];
        let n = ipc_schema::wire::encode(args, &mut words).unwrap();
        if let Some(object) = cap {
            fake.0.borrow_mut().slots.insert(RECEIVE.0, object);
        }
        let mut caller = Caller::new(badge, cap.map(|_| RECEIVE));
        let mut reply = [0u64; MSG_WORDS];
        let (label, len) = s.handle(&mut caller, v1::label(op), &words[..n], &mut reply);
        if caller.received_cap().is_some() {
            // The server loop deletes an unclaimed capability.
            fake.0.borrow_mut().slots.remove(&RECEIVE.0);
        }
        (label, reply[..len].to_vec())
    }

    fn decode<T: ipc_schema::serde::de::DeserializeOwned>(words: &[u64]) -> T {
        ipc_schema::wire::decode(words).unwrap()
    }

    fn register(s: &mut Service, fake: &Fake, badge: u64, object: u64) -> Result<(), TimerError> {
        let (label, words) = request(s, fake, badge, v1::op::register, &(), Some(object));
        assert_eq!(label, 0);
        decode(&words)
    }

    fn set_deadline(
        s: &mut Service,
        fake: &Fake,
        badge: u64,
        deadline: Option<Ticks>,
    ) -> Result<(), TimerError> {
        let (label, words) = request(s, fake, badge, v1::op::set_deadline, &(deadline,), None);
        assert_eq!(label, 0);
        decode(&words)
    }

    /// The interrupt as the kernel delivers it: label 0, no words, the IRQ's bit in the badge.
    fn interrupt(s: &mut Service) -> u64 {
        let mut caller = Caller::new(IRQ_BADGE, None);
        let mut reply = [0u64; MSG_WORDS];
        s.handle(&mut caller, 0, &[], &mut reply).0
    }

    fn at(fake: &Fake, now: Ticks) {
        fake.0.borrow_mut().now = now;
    }

    fn signalled(fake: &Fake) -> Vec<(u64, u64)> {
        core::mem::take(&mut fake.0.borrow_mut().signalled)
    }

    #[test]
    fn now_and_frequency() {
        let (mut s, fake) = service(2);
        at(&fake, 1234);
        let (label, words) = request(&mut s, &fake, 3, v1::op::now, &(), None);
        assert_eq!(
            (label, decode::<Result<Ticks, Never>>(&words)),
            (0, Ok(1234))
        );
        let (_, words) = request(&mut s, &fake, 3, v1::op::frequency, &(), None);
        assert_eq!(decode::<Result<u64, Never>>(&words), Ok(FREQ));
    }

    #[test]
    fn deadlines_signal_in_order_and_drive_the_hardware() {
        let (mut s, fake) = service(4);
        assert_eq!(
            set_deadline(&mut s, &fake, 2, Some(5)),
            Err(TimerError::NotRegistered)
        );
        register(&mut s, &fake, 2, 100).unwrap();
        register(&mut s, &fake, 3, 101).unwrap();
        assert_eq!(s.clients(), 2);
        // The received capabilities were moved out of the receive slot.
        assert!(!fake.0.borrow().slots.contains_key(&RECEIVE.0));
        at(&fake, 1000);
        set_deadline(&mut s, &fake, 2, Some(3000)).unwrap();
        assert_eq!(fake.0.borrow().armed, Some(3000));
        set_deadline(&mut s, &fake, 3, Some(2000)).unwrap();
        assert_eq!((fake.0.borrow().armed, s.armed()), (Some(2000), Some(2000)));
        assert_eq!(s.pending(), 2);

        // An early (stale) interrupt signals nothing and re-arms the same deadline.
        at(&fake, 1500);
        assert_eq!(interrupt(&mut s), IpcError::UnknownInterface.code());
        assert_eq!(signalled(&fake), []);
        assert_eq!(fake.0.borrow().armed, Some(2000));
        assert_eq!(fake.0.borrow().acks, 1);

        at(&fake, 2000);
        interrupt(&mut s);
        assert_eq!(signalled(&fake), [(21, 101)]);
        assert_eq!(fake.0.borrow().armed, Some(3000));
        at(&fake, 9000);
        interrupt(&mut s);
        assert_eq!(signalled(&fake), [(20, 100)]);
        // Nothing pending: the hardware is stopped.
        assert_eq!((fake.0.borrow().armed, s.pending()), (None, 0));
        assert_eq!((s.signals(), s.interrupts()), (2, 3));
    }

    #[test]
    fn a_passed_deadline_is_signalled_before_the_reply() {
        let (mut s, fake) = service(1);
        register(&mut s, &fake, 5, 100).unwrap();
        at(&fake, 500);
        set_deadline(&mut s, &fake, 5, Some(500)).unwrap();
        assert_eq!(signalled(&fake), [(20, 100)]);
        assert_eq!(fake.0.borrow().armed, None);
        set_deadline(&mut s, &fake, 5, Some(0)).unwrap();
        assert_eq!(signalled(&fake), [(20, 100)]);
    }

    #[test]
    fn cancel_and_replace() {
        let (mut s, fake) = service(2);
        register(&mut s, &fake, 2, 100).unwrap();
        set_deadline(&mut s, &fake, 2, Some(50)).unwrap();
        set_deadline(&mut s, &fake, 2, None).unwrap();
        assert_eq!((s.pending(), fake.0.borrow().armed), (0, None));
        at(&fake, 60);
        interrupt(&mut s);
        assert_eq!(signalled(&fake), []);
        // A new deadline replaces the old one.
        set_deadline(&mut s, &fake, 2, Some(100)).unwrap();
        set_deadline(&mut s, &fake, 2, Some(200)).unwrap();
        assert_eq!((s.pending(), fake.0.borrow().armed), (1, Some(200)));
        at(&fake, 150);
        interrupt(&mut s);
        assert_eq!(signalled(&fake), []);
        at(&fake, 200);
        interrupt(&mut s);
        assert_eq!(signalled(&fake), [(20, 100)]);
    }

    #[test]
    fn registering_again_replaces_the_notification() {
        let (mut s, fake) = service(2);
        register(&mut s, &fake, 2, 100).unwrap();
        set_deadline(&mut s, &fake, 2, Some(10)).unwrap();
        register(&mut s, &fake, 2, 200).unwrap();
        assert_eq!(s.clients(), 1);
        at(&fake, 10);
        interrupt(&mut s);
        // The pending deadline is kept and signals the new capability.
        assert_eq!(signalled(&fake), [(20, 200)]);
    }

    #[test]
    fn full_table_and_failures() {
        let (mut s, fake) = service(2);
        register(&mut s, &fake, 1, 100).unwrap();
        register(&mut s, &fake, 2, 101).unwrap();
        assert_eq!(register(&mut s, &fake, 3, 102), Err(TimerError::Full));
        // The refused capability was left to the server loop, which deleted it.
        assert!(!fake.0.borrow().slots.contains_key(&RECEIVE.0));
        // A registered client may still re-register.
        assert_eq!(register(&mut s, &fake, 2, 103), Ok(()));
        // Without a capability: the dispatcher answers before the server is called.
        let (label, _) = request(&mut s, &fake, 4, v1::op::register, &(), None);
        assert_eq!(label, IpcError::MissingCapability.code());
        // A capability that cannot be kept: refused, the client is forgotten, the slot emptied.
        fake.0.borrow_mut().fail_keep = true;
        assert_eq!(register(&mut s, &fake, 2, 104), Err(TimerError::Full));
        assert_eq!(s.clients(), 1);
        assert_eq!(
            set_deadline(&mut s, &fake, 2, Some(1)),
            Err(TimerError::NotRegistered)
        );
        assert!(!fake.0.borrow().slots.contains_key(&RECEIVE.0));
        // No client slots at all: every registration is refused.
        let (mut none, fake) = service(0);
        assert_eq!(register(&mut none, &fake, 1, 1), Err(TimerError::Full));
    }

    #[test]
    fn short_sleeps_busy_wait_and_long_ones_are_refused() {
        let (mut s, fake) = service(1);
        assert_eq!(s.max_sleep(), FREQ * MAX_SLEEP_US / 1_000_000);
        fake.0.borrow_mut().step = 7;
        at(&fake, 100);
        let (_, words) = request(&mut s, &fake, 1, v1::op::sleep, &(500u64,), None);
        assert_eq!(decode::<Result<(), TimerError>>(&words), Ok(()));
        assert!(fake.0.borrow().now >= 100 + 500);
        let too_long = s.max_sleep() + 1;
        let (_, words) = request(&mut s, &fake, 1, v1::op::sleep, &(too_long,), None);
        assert_eq!(
            decode::<Result<(), TimerError>>(&words),
            Err(TimerError::TooLong)
        );
        let (_, words) = request(&mut s, &fake, 1, v1::op::sleep, &(0u64,), None);
        assert_eq!(decode::<Result<(), TimerError>>(&words), Ok(()));
    }

    #[test]
    fn only_a_bare_message_with_the_irq_bit_is_an_interrupt() {
        let (mut s, fake) = service(1);
        let mut reply = [0u64; MSG_WORDS];
        // A client's label-0 message without the bit, or with words: no interrupt.
        s.handle(&mut Caller::new(2, None), 0, &[], &mut reply);
        s.handle(&mut Caller::new(IRQ_BADGE, None), 0, &[1], &mut reply);
        assert_eq!((s.interrupts(), fake.0.borrow().acks), (0, 0));
        // Other bits of the notification word may be set too.
        s.handle(&mut Caller::new(IRQ_BADGE | 1, None), 0, &[], &mut reply);
        assert_eq!((s.interrupts(), fake.0.borrow().acks), (1, 1));
        // A request with a request label is never an interrupt, whatever its badge.
        let (label, _) = request(&mut s, &fake, IRQ_BADGE, v1::op::now, &(), None);
        assert_eq!((label, s.interrupts()), (0, 1));
    }

    #[test]
    fn every_label_gets_an_answer() {
        let (mut s, fake) = service(1);
        let mut reply = [0u64; MSG_WORDS];
        for label in [
            1,
            v1::label(99),
            ipc_schema::label(v1::INTERFACE, 2, 0),
            u64::MAX,
        ] {
            let (code, words) = s.handle(&mut Caller::new(1, None), label, &[1, 2], &mut reply);
            assert!(code != 0 && words == 0, "{label:#x}");
        }
        assert_eq!(fake.0.borrow().acks, 0);
    }
}
