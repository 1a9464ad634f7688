//! Waiting for input. `console::v1::read` returns what is buffered, possibly nothing, so the
//! shell polls: right after input it only yields the processor a few times (the rest of a pasted
//! line or a scripted session is usually already on its way), then it sleeps a short while
//! through the timer server between polls, so an idle shell costs almost nothing. Without a
//! timer it can only yield.

use ipc_schema::interfaces::common::Ticks;

/// Polls that only yield after input, before the shell starts sleeping.
pub const QUICK_POLLS: u32 = 16;
/// Polls per second while idle (so typing is echoed within 1 / `IDLE_POLL_HZ` s). The timer
/// serves nobody else during a sleep, so the sleep is kept short.
pub const IDLE_POLL_HZ: u64 = 50;

/// What to do before the next poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Yield the processor once.
    Yield,
    /// Sleep this many timer ticks.
    Sleep(Ticks),
}

/// Counts empty polls and says how to wait.
#[derive(Clone, Copy, Debug)]
pub struct Idle {
    empty_polls: u32,
    sleep: Option<Ticks>,
}

impl Idle {
    /// `ticks_per_second`: the timer's frequency, `None` without a timer.
    pub fn new(ticks_per_second: Option<u64>) -> Idle {
        Idle {
            empty_polls: 0,
            sleep: ticks_per_second.map(|f| (f / IDLE_POLL_HZ).max(1)),
        }
    }

    /// A poll returned input.
    pub fn input(&mut self) {
        self.empty_polls = 0;
    }

    /// A poll returned nothing: how to wait before the next.
    pub fn wait(&mut self) -> Wait {
        self.empty_polls = self.empty_polls.saturating_add(1);
        match self.sleep {
            Some(ticks) if self.empty_polls > QUICK_POLLS => Wait::Sleep(ticks),
            _ => Wait::Yield,
        }
    }

    /// Without a timer, or when a sleep failed: yield from now on.
    pub fn stop_sleeping(&mut self) {
        self.sleep = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_then_sleeps_until_input() {
        let mut idle = Idle::new(Some(1_000_000_000));
        for _ in 0..QUICK_POLLS {
            assert_eq!(idle.wait(), Wait::Yield);
        }
        assert_eq!(idle.wait(), Wait::Sleep(20_000_000));
        assert_eq!(idle.wait(), Wait::Sleep(20_000_000));
        idle.input();
        assert_eq!(idle.wait(), Wait::Yield);
    }

    #[test]
    fn without_a_timer_it_only_yields() {
        let mut idle = Idle::new(None);
        for _ in 0..QUICK_POLLS * 4 {
            assert_eq!(idle.wait(), Wait::Yield);
        }
        let mut idle = Idle::new(Some(100));
        idle.stop_sleeping();
        for _ in 0..QUICK_POLLS * 4 {
            assert_eq!(idle.wait(), Wait::Yield);
        }
    }

    #[test]
    fn a_slow_timer_still_sleeps_a_tick() {
        let mut idle = Idle::new(Some(10));
        for _ in 0..QUICK_POLLS {
            idle.wait();
        }
        assert_eq!(idle.wait(), Wait::Sleep(1));
    }
}
