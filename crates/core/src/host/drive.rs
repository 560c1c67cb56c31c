//! Runs an operation on the host's thread, step by step.
//!
//! An operation is a future. Polling it runs it until it needs something from outside: answers
//! from a host-implemented store (it then hands out the calls it queued), or a key lock held by
//! another operation (it then waits for a wake). Everything happens on the thread that polls, so
//! an operation on a store implemented in JS never crosses threads, and one on the native store
//! finishes in its first poll unless it waits on the network.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::error::Result;
use crate::host::{HostAnswer, HostCall, HostQueue, Ticket};

/// Tells an operation's owner that it can make progress again.
pub struct WakeSignal {
    woken: AtomicBool,
    notify: Box<dyn Fn() + Send + Sync>,
}

impl WakeSignal {
    pub fn new(notify: impl Fn() + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            woken: AtomicBool::new(false),
            notify: Box::new(notify),
        })
    }

    /// Whether a wake came since the last poll.
    pub fn is_woken(&self) -> bool {
        self.woken.load(Ordering::Acquire)
    }
}

impl Wake for WakeSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        (self.notify)();
    }
}

/// What an operation needs after a poll.
#[derive(Debug)]
pub enum Step {
    /// It has finished; `Driven::take_output` has the result.
    Done,
    /// It needs these calls made on the host store, with their answers handed back.
    Calls(Vec<(Ticket, HostCall)>),
    /// It waits for something else (a key lock); poll again once its wake signal fires.
    Waiting,
}

type LocalFuture<T> = Pin<Box<dyn Future<Output = Result<T>>>>;

pub struct Driven<T> {
    future: Option<LocalFuture<T>>,
    queue: Rc<HostQueue>,
    wake: Arc<WakeSignal>,
    output: Option<Result<T>>,
}

impl<T> Driven<T> {
    /// `queue` is the queue of the host storage that `future` uses, if it uses one.
    pub fn new(
        future: impl Future<Output = Result<T>> + 'static,
        queue: Rc<HostQueue>,
        wake: Arc<WakeSignal>,
    ) -> Self {
        Self {
            future: Some(Box::pin(future)),
            queue,
            wake,
            output: None,
        }
    }

    pub fn wake_signal(&self) -> &Arc<WakeSignal> {
        &self.wake
    }

    /// Hands back answers to earlier calls, then runs the operation as far as it can go.
    pub fn poll(&mut self, answers: impl IntoIterator<Item = (Ticket, HostAnswer)>) -> Step {
        for (ticket, answer) in answers {
            self.queue.answer(ticket, answer);
        }
        let Some(future) = self.future.as_mut() else {
            return Step::Done;
        };
        let waker = Waker::from(self.wake.clone());
        let mut cx = Context::from_waker(&waker);
        loop {
            self.wake.woken.store(false, Ordering::Release);
            // A panic is a bug; it ends this operation with a typed error, not the process or
            // the other operations (see `crate::panics`).
            let polled = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx)));
            let output = match polled {
                Ok(Poll::Ready(result)) => Some(result),
                Ok(Poll::Pending) => None,
                Err(payload) => Some(Err(crate::panics::caught(payload))),
            };
            if let Some(result) = output {
                self.output = Some(result);
                // Drop the future now: it may hold key locks' borrows and storage handles. One
                // that panicked may panic again as it is dropped; that is caught too.
                let future = self.future.take();
                if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(future))) {
                    std::mem::forget(payload);
                }
                return Step::Done;
            }
            if self.queue.has_calls() {
                return Step::Calls(self.queue.take_calls());
            }
            if !self.wake.is_woken() {
                return Step::Waiting;
            }
        }
    }

    /// Hands back the answer to one call without running the operation (that happens at the
    /// next `poll`): for answers that arrive on their own, like HTTP responses.
    pub fn deliver(&self, ticket: Ticket, answer: HostAnswer) {
        self.queue.answer(ticket, answer);
    }

    /// Whether the answer to `ticket` has been handed back and not yet taken.
    pub fn has_answer(&self, ticket: Ticket) -> bool {
        self.queue.has_answer(ticket)
    }

    /// Runs an operation that waits for a key lock once more, telling the wait to give up
    /// (it then fails with `Error::LockWaitTimeout`) unless the lock is free by now.
    pub fn give_up_waiting(&mut self, waited_millis: u64) -> Step {
        self.queue.give_up_lock_waits(Some(waited_millis));
        let step = self.poll([]);
        self.queue.give_up_lock_waits(None);
        step
    }

    /// The result, once `poll` has said `Done`; `None` before that, or if already taken.
    pub fn take_output(&mut self) -> Option<Result<T>> {
        self.output.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{StorageFailure, StorageMethod};
    use crate::host::HostStorage;
    use crate::storage::{KeyLocks, Storage};

    fn quiet() -> Arc<WakeSignal> {
        WakeSignal::new(|| {})
    }

    /// A host store over `queue` whose locks no other store shares.
    fn lone_store(queue: &Rc<HostQueue>) -> Rc<HostStorage> {
        Rc::new(HostStorage::new(
            queue.clone(),
            Arc::new(KeyLocks::new()),
            1,
        ))
    }

    #[test]
    fn a_panic_ends_the_operation_with_a_typed_error() {
        let queue = HostQueue::new();
        let storage = lone_store(&queue);
        let s = storage.clone();
        let mut op = Driven::new(
            async move {
                let _guard = s.locks().lock("k").await?;
                let seconds: u64 = s.get("k").await?.map_or(0, |v| v.len() as u64);
                // What `expires_in` of 2^63 once did.
                let _ = std::time::SystemTime::now()
                    + std::time::Duration::from_secs(u64::MAX - seconds);
                Ok(())
            },
            queue,
            quiet(),
        );
        let Step::Calls(calls) = op.poll([]) else {
            panic!("expected a call")
        };
        let answers = calls
            .into_iter()
            .map(|(t, _)| (t, HostAnswer::Storage(Ok(None))));
        assert!(matches!(op.poll(answers), Step::Done));
        let error = op.take_output().unwrap().unwrap_err();
        assert!(
            matches!(error, crate::error::Error::Internal { .. }),
            "{error:?}"
        );
        assert!(error.to_string().starts_with("internal error"), "{error}");
        // Its lock was released with it.
        let mut again = Driven::new(
            async move { storage.locks().lock("k").await.map(drop) },
            HostQueue::new(),
            quiet(),
        );
        assert!(matches!(again.poll([]), Step::Done));
    }

    #[test]
    fn concurrent_calls_are_handed_out_together() {
        let queue = HostQueue::new();
        let storage = lone_store(&queue);
        let s = storage.clone();
        let mut op = Driven::new(
            async move {
                let (a, b) = crate::tests::support::join(s.get("a"), s.get("b")).await;
                Ok(format!("{:?}{:?}", a?, b?))
            },
            queue,
            quiet(),
        );
        let Step::Calls(calls) = op.poll([]) else {
            panic!("expected calls")
        };
        assert_eq!(calls.len(), 2);
        let answers = calls.into_iter().map(|(t, c)| match c {
            HostCall::Storage(c) if c.method == StorageMethod::Get => {
                (t, HostAnswer::Storage(Ok(Some(c.key.to_uppercase()))))
            }
            other => panic!("unexpected {other:?}"),
        });
        assert!(matches!(op.poll(answers), Step::Done));
        assert_eq!(
            op.take_output(),
            Some(Ok("Some(\"A\")Some(\"B\")".to_owned()))
        );
    }

    #[test]
    fn waits_on_a_held_lock_and_resumes_after_the_wake() {
        let locks = Arc::new(KeyLocks::new());
        let woken = Arc::new(AtomicBool::new(false));
        let flag = woken.clone();

        // The first operation takes the lock and then waits for a storage answer.
        let queue1 = HostQueue::new();
        let s1 = Rc::new(HostStorage::new(queue1.clone(), locks.clone(), 1));
        let mut first = Driven::new(
            async move {
                let _guard = s1.locks().lock("k").await?;
                s1.get("k").await
            },
            queue1,
            quiet(),
        );
        let Step::Calls(calls) = first.poll([]) else {
            panic!("expected a call")
        };

        let queue2 = HostQueue::new();
        let s2 = Rc::new(HostStorage::new(queue2.clone(), locks.clone(), 2));
        let mut second = Driven::new(
            async move {
                let _guard = s2.locks().lock("k").await?;
                Ok(())
            },
            queue2,
            WakeSignal::new(move || flag.store(true, Ordering::SeqCst)),
        );
        assert!(matches!(second.poll([]), Step::Waiting));

        assert!(matches!(
            first.poll([(calls[0].0, HostAnswer::Storage(Ok(None)))]),
            Step::Done
        ));
        assert!(
            woken.load(Ordering::SeqCst),
            "releasing the lock wakes the waiter"
        );
        assert!(matches!(second.poll([]), Step::Done));
        assert_eq!(second.take_output(), Some(Ok(())));
    }

    #[test]
    fn a_wait_told_to_give_up_fails_and_the_next_one_waits_again() {
        let locks = Arc::new(KeyLocks::new());
        let holder_queue = HostQueue::new();
        let holder = Rc::new(HostStorage::new(holder_queue.clone(), locks.clone(), 1));
        let mut first = Driven::new(
            async move {
                let _guard = holder.locks().lock("k").await?;
                holder.get("k").await
            },
            holder_queue,
            quiet(),
        );
        let Step::Calls(calls) = first.poll([]) else {
            panic!("expected a call")
        };
        let holder_call = calls[0].0;

        let make_waiter = || {
            let queue = HostQueue::new();
            let s = Rc::new(HostStorage::new(queue.clone(), locks.clone(), 2));
            Driven::new(
                async move {
                    let _guard = s.locks().lock("k").await?;
                    Ok(())
                },
                queue,
                quiet(),
            )
        };
        let mut waiter = make_waiter();
        assert!(matches!(waiter.poll([]), Step::Waiting));
        assert!(matches!(waiter.give_up_waiting(40), Step::Done));
        let error = waiter.take_output().and_then(Result::err);
        assert!(matches!(
            error,
            Some(crate::error::Error::LockWaitTimeout { millis: 40, .. })
        ));

        let mut next = make_waiter();
        assert!(
            matches!(next.poll([]), Step::Waiting),
            "the signal is not left set"
        );

        // The holder's call times out while `next` waits for its lock: the error says that
        // this may be a deadlock.
        let answer = (
            holder_call,
            HostAnswer::Storage(Err(StorageFailure::TimedOut(9))),
        );
        assert!(matches!(first.poll([answer]), Step::Done));
        let message = first
            .take_output()
            .and_then(Result::err)
            .map(|e| e.to_string());
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.contains("9 ms (meanwhile another operation")),
            "{message:?}"
        );
    }
}
