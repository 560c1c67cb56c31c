//! Helpers for unit tests: a minimal executor, a host that answers from a map, a host that runs
//! several operations at once, a store on the test's clock (`clock`), an ES256 signer (`es256`)
//! and an OpenID provider in process (`fake_idp`).

// Test helpers: a panic is how they fail a test, and the maps are the tests' own.
#![allow(clippy::missing_panics_doc, clippy::implicit_hasher)]

pub mod clock;
pub mod es256;
pub mod fake_idp;
pub mod profiles;

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::error::{Result, StorageMethod};
use crate::host::drive::{Driven, Step};
use crate::host::{HostAnswer, HostCall, StorageCall, Ticket};
use crate::http::Http;
use crate::storage::MemoryStorage;

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

/// The contents of a store a test host answers storage calls from.
trait Backing {
    fn read(&self, key: &str) -> Option<String>;
    fn write(&mut self, key: String, value: String);
    fn remove(&mut self, key: &str);
}

impl Backing for HashMap<String, String> {
    fn read(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
    fn write(&mut self, key: String, value: String) {
        self.insert(key, value);
    }
    fn remove(&mut self, key: &str) {
        HashMap::remove(self, key);
    }
}

impl Backing for &MemoryStorage {
    fn read(&self, key: &str) -> Option<String> {
        self.get_now(key)
    }
    fn write(&mut self, key: String, value: String) {
        self.set_now(&key, &value);
    }
    fn remove(&mut self, key: &str) {
        self.delete_now(key);
    }
}

/// Makes one storage call on `backing`, as a JS store would: at once, and without expiring
/// what `setIfAbsent` stores (no test here runs long enough for that to matter). A `sleep` ends
/// at once.
fn answer_storage(backing: &mut impl Backing, call: StorageCall) -> HostAnswer {
    let answer = match call.method {
        StorageMethod::Get => backing.read(&call.key),
        StorageMethod::Set => {
            backing.write(call.key, call.value.unwrap_or_default());
            None
        }
        StorageMethod::Delete => {
            backing.remove(&call.key);
            None
        }
        StorageMethod::SetIfAbsent => {
            if backing.read(&call.key).is_some() {
                None
            } else {
                backing.write(call.key, call.value.unwrap_or_default());
                Some("set".to_owned())
            }
        }
        StorageMethod::Sleep => None,
    };
    HostAnswer::Storage(Ok(answer))
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
                    answers.push((ticket, answer_storage(map, call)));
                }
            }
        }
    }
}

/// Drives several operations at once, as a host running them concurrently does: each in turn
/// runs as far as it can, its calls are made (storage calls on `store`, which every operation's
/// store stands for; HTTP requests by `http`), and their answers are handed back at its next
/// turn. Returns each operation's result, in the order given.
pub fn drive_together<T>(
    ops: Vec<Driven<T>>,
    store: &MemoryStorage,
    http: &dyn Http,
) -> Vec<Result<T>> {
    drive_together_logged(ops, store, http).0
}

/// `drive_together`, with the storage calls the host made, in order: method and key.
pub fn drive_together_logged<T>(
    mut ops: Vec<Driven<T>>,
    store: &MemoryStorage,
    http: &dyn Http,
) -> (Vec<Result<T>>, Vec<(StorageMethod, String)>) {
    let mut made = Vec::new();
    let mut answers: Vec<Vec<(Ticket, HostAnswer)>> = ops.iter().map(|_| Vec::new()).collect();
    let mut outputs: Vec<Option<Result<T>>> = ops.iter().map(|_| None).collect();
    for _ in 0..100_000 {
        if outputs.iter().all(Option::is_some) {
            return (outputs.into_iter().flatten().collect(), made);
        }
        for ((op, output), pending) in ops.iter_mut().zip(&mut outputs).zip(&mut answers) {
            if output.is_some() {
                continue;
            }
            match op.poll(std::mem::take(pending)) {
                Step::Done => *output = Some(op.take_output().expect("output after Done")),
                // Polled again next round: whatever it waits for may be free by then.
                Step::Waiting => {}
                Step::Calls(calls) => {
                    *pending = calls
                        .into_iter()
                        .map(|(ticket, call)| match call {
                            HostCall::Storage(call) => {
                                made.push((call.method, call.key.clone()));
                                (ticket, answer_storage(&mut &*store, call))
                            }
                            HostCall::Http(request) => {
                                (ticket, HostAnswer::Http(block_on(http.send(request))))
                            }
                        })
                        .collect();
                }
            }
        }
    }
    panic!("the operations did not finish: each waits for another")
}
