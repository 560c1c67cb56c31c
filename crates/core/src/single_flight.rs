//! One request at a time per key: calls that find the same fetch in flight wait for its outcome
//! instead of sending the request again.
//!
//! A process that starts under load (a server restarting with requests queued) restores many
//! sessions at once, each needing the provider's discovery document and keys before anything is
//! cached. Without this each would fetch them; with it one does and the others share its answer,
//! a failure included (an unreachable provider then costs one timeout, not one per session).

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::error::Result;

struct Flight<T> {
    outcome: Option<Result<T>>,
    /// The fetching call went away without an outcome: a waiter fetches instead.
    abandoned: bool,
    waiters: Vec<Waker>,
}

impl<T> Flight<T> {
    fn land(&mut self) {
        for waker in self.waiters.drain(..) {
            waker.wake();
        }
    }
}

/// The fetches in flight, by key, for one Node environment.
pub struct SingleFlight<T> {
    flights: RefCell<HashMap<String, Rc<RefCell<Flight<T>>>>>,
}

impl<T> Default for SingleFlight<T> {
    fn default() -> Self {
        Self {
            flights: RefCell::new(HashMap::new()),
        }
    }
}

impl<T: Clone> SingleFlight<T> {
    /// The outcome of `fetch()` for `key`: this call's own, or that of the call already fetching
    /// it. `fetch` is only called when no other call is fetching `key`.
    pub async fn run<F, Fut>(&self, key: &str, fetch: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        loop {
            let in_flight = self.flights.borrow().get(key).cloned();
            if let Some(flight) = in_flight {
                match (Landing { flight }).await {
                    Some(outcome) => return outcome,
                    None => continue, // abandoned: try again, perhaps fetching ourselves
                }
            }
            let flight = Rc::new(RefCell::new(Flight {
                outcome: None,
                abandoned: false,
                waiters: Vec::new(),
            }));
            self.flights
                .borrow_mut()
                .insert(key.to_owned(), Rc::clone(&flight));
            let mut pilot = Pilot {
                flights: &self.flights,
                key,
                flight,
                landed: false,
            };
            let outcome = fetch().await;
            pilot.land(outcome.clone());
            return outcome;
        }
    }
}

/// The fetching call's hold on its flight: lands it with the outcome, or, dropped before that
/// (the call was cancelled), marks it abandoned so that a waiter takes over.
struct Pilot<'a, T> {
    flights: &'a RefCell<HashMap<String, Rc<RefCell<Flight<T>>>>>,
    key: &'a str,
    flight: Rc<RefCell<Flight<T>>>,
    landed: bool,
}

impl<T> Pilot<'_, T> {
    fn finish(&mut self, outcome: Option<Result<T>>) {
        let mut flights = self.flights.borrow_mut();
        if flights
            .get(self.key)
            .is_some_and(|f| Rc::ptr_eq(f, &self.flight))
        {
            flights.remove(self.key);
        }
        drop(flights);
        let mut flight = self.flight.borrow_mut();
        match outcome {
            Some(outcome) => flight.outcome = Some(outcome),
            None => flight.abandoned = true,
        }
        flight.land();
        self.landed = true;
    }

    fn land(&mut self, outcome: Result<T>) {
        self.finish(Some(outcome));
    }
}

impl<T> Drop for Pilot<'_, T> {
    fn drop(&mut self) {
        if !self.landed {
            self.finish(None);
        }
    }
}

/// Waits for a flight another call is making: its outcome, or `None` if it was abandoned.
struct Landing<T> {
    flight: Rc<RefCell<Flight<T>>>,
}

impl<T: Clone> Future for Landing<T> {
    type Output = Option<Result<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut flight = self.flight.borrow_mut();
        if let Some(outcome) = &flight.outcome {
            return Poll::Ready(Some(outcome.clone()));
        }
        if flight.abandoned {
            return Poll::Ready(None);
        }
        if !flight.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            flight.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::cell::Cell;
    use std::task::Wake;

    /// A future that is pending until `open` is set.
    struct Gate<'a>(&'a Cell<bool>);
    impl Future for Gate<'_> {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0.get() {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    struct Noop;
    impl Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }

    fn poll<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        let waker = Waker::from(std::sync::Arc::new(Noop));
        future.poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn concurrent_calls_share_one_fetch_and_its_failure() {
        let flights = SingleFlight::<u32>::default();
        let fetches = Cell::new(0);
        let open = Cell::new(false);
        let fetch = || async {
            fetches.set(fetches.get() + 1);
            Gate(&open).await;
            Err::<u32, _>(Error::InvalidRequest {
                reason: "unreachable".to_owned(),
            })
        };
        let mut first = Box::pin(flights.run("k", fetch));
        let mut second = Box::pin(flights.run("k", fetch));
        let mut other = Box::pin(flights.run("other", fetch));
        assert!(poll(first.as_mut()).is_pending());
        assert!(poll(second.as_mut()).is_pending());
        assert!(poll(other.as_mut()).is_pending());
        assert_eq!(fetches.get(), 2, "one per key");
        open.set(true);
        assert!(matches!(poll(first.as_mut()), Poll::Ready(Err(_))));
        assert!(matches!(poll(second.as_mut()), Poll::Ready(Err(_))));
        assert!(matches!(poll(other.as_mut()), Poll::Ready(Err(_))));
        // Landed: the next call fetches again.
        let mut later = Box::pin(flights.run("k", || async { Ok(7) }));
        assert!(matches!(poll(later.as_mut()), Poll::Ready(Ok(7))));
        assert!(flights.flights.borrow().is_empty());
    }

    #[test]
    fn a_waiter_fetches_itself_when_the_fetching_call_is_dropped() {
        let flights = SingleFlight::<u32>::default();
        let open = Cell::new(false);
        let mut first = Box::pin(flights.run("k", || async {
            Gate(&open).await;
            Ok(1)
        }));
        let mut second = Box::pin(flights.run("k", || async { Ok(2) }));
        assert!(poll(first.as_mut()).is_pending());
        assert!(poll(second.as_mut()).is_pending());
        drop(first);
        assert!(matches!(poll(second.as_mut()), Poll::Ready(Ok(2))));
        assert!(flights.flights.borrow().is_empty());
    }
}
