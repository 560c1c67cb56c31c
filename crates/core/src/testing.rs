//! Helpers for unit tests: a minimal executor and a host that answers from a map.

// Test helpers: a panic is how they fail a test, and the maps are the tests' own.
#![allow(clippy::missing_panics_doc, clippy::implicit_hasher)]

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::error::{Result, StorageMethod};
use crate::host::drive::{Driven, Step};
use crate::host::{HostAnswer, HostCall};

/// Runs a future that never waits on anything outside itself (the native store).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1000 {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("the future did not finish")
}

/// Polls two futures together, as `join` would.
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = Box::pin(a);
    let mut b = Box::pin(b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    match (ra, rb) {
        (Some(a), Some(b)) => (a, b),
        _ => unreachable!("both are set before the poll_fn returns Ready"),
    }
}

/// Drives a host-storage operation to its end, answering its calls from `map`. Returns the
/// result and the number of driver round trips it took.
pub fn drive_with_map<T>(
    mut op: Driven<T>,
    map: &mut HashMap<String, String>,
) -> (Result<T>, usize) {
    let mut rounds = 0;
    let mut answers = Vec::new();
    loop {
        match op.poll(std::mem::take(&mut answers)) {
            Step::Done => {
                return (op.take_output().expect("output after Done"), rounds);
            }
            Step::Waiting => panic!("nothing else runs here, so nothing can wake it"),
            Step::Calls(calls) => {
                rounds += 1;
                for (ticket, call) in calls {
                    let HostCall::Storage(call) = call else {
                        panic!("this host answers storage calls only")
                    };
                    let answer = match call.method {
                        StorageMethod::Get => map.get(&call.key).cloned(),
                        StorageMethod::Set => {
                            map.insert(call.key, call.value.unwrap_or_default());
                            None
                        }
                        StorageMethod::Delete => {
                            map.remove(&call.key);
                            None
                        }
                        StorageMethod::SetIfAbsent => match map.entry(call.key) {
                            std::collections::hash_map::Entry::Occupied(_) => None,
                            std::collections::hash_map::Entry::Vacant(slot) => {
                                slot.insert(call.value.unwrap_or_default());
                                Some("set".to_owned())
                            }
                        },
                        StorageMethod::Sleep => None,
                    };
                    answers.push((ticket, HostAnswer::Storage(Ok(answer))));
                }
            }
        }
    }
}
