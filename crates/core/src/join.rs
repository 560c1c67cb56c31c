//! Waits for many futures at once, so that calls to a host store go out as one batch.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

/// Polls every future until all are done; results come back in input order.
pub async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<Option<Pin<Box<F>>>> =
        futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    let mut remaining = pending.len();
    poll_fn(|cx| {
        for (slot, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                if let Poll::Ready(value) = future.as_mut().poll(cx) {
                    *output = Some(value);
                    *slot = None;
                    remaining -= 1;
                }
            }
        }
        if remaining == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::support::block_on;

    /// Ready on its `polls`-th poll, asking to be polled again before that.
    struct ReadyAfter {
        polls: u32,
        value: u32,
        log: std::rc::Rc<std::cell::RefCell<Vec<u32>>>,
    }

    impl Future for ReadyAfter {
        type Output = u32;
        fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<u32> {
            self.log.borrow_mut().push(self.value);
            self.polls -= 1;
            if self.polls == 0 {
                Poll::Ready(self.value)
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[test]
    fn waits_for_the_slowest_and_polls_none_after_it_is_done() {
        let log = std::rc::Rc::default();
        let futures = [(3, 10), (1, 20), (2, 30)].map(|(polls, value)| ReadyAfter {
            polls,
            value,
            log: std::rc::Rc::clone(&log),
        });
        assert_eq!(block_on(join_all(futures)), [10, 20, 30]);
        // Round 1 polls all three; round 2 the two pending; round 3 the last.
        assert_eq!(*log.borrow(), [10, 20, 30, 10, 30, 10]);
    }

    #[test]
    fn keeps_input_order() {
        let out = block_on(join_all((0..5).map(|i| async move { i * 2 })));
        assert_eq!(out, [0, 2, 4, 6, 8]);
        let empty: Vec<i32> = block_on(join_all(Vec::<std::future::Ready<i32>>::new()));
        assert!(empty.is_empty());
    }
}
