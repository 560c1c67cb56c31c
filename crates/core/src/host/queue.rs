//! A storage, and an HTTP client, whose calls are answered by the host program.
//!
//! A store implemented in JS can only be called on the JS thread, and a trip from a Rust thread
//! to the JS thread and back costs ~100 µs. So an operation on such a store does not call it:
//! it queues the calls it needs, suspends, and whoever drives the operation makes the calls on
//! its own thread and hands the answers back (see `crate::host::drive`). Calls issued together (for
//! example by `join_all`) are handed out together, so the host can run them concurrently.
//!
//! HTTP requests go through the same queue: one kind of call among others, so that a storage
//! read and a request issued together are handed out together.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::{Error, Result, StorageFailure, StorageMethod};
use crate::http::{Http, HttpFailure, HttpRequest, HttpResponse};
use crate::storage::{Family, GiveUp, KeyLocks, Locker, OwnLeases, Storage, UnsavedRecords};

/// Identifies one queued call so that its answer finds its way back.
pub type Ticket = u64;

/// A call the host must make for an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostCall {
    Storage(StorageCall),
    Http(HttpRequest),
}

/// A call the host must make on the store.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageCall {
    pub method: StorageMethod,
    pub key: String,
    /// Whether `key` is a JSON string literal rather than the key itself: for keys that hold an
    /// unpaired UTF-16 surrogate, which a Rust string cannot.
    pub key_is_json: bool,
    /// The value to store, for `set` and `setIfAbsent`.
    pub value: Option<String>,
    /// The expiry of a `setIfAbsent` value, or the length of a `sleep`, in milliseconds.
    pub ttl_ms: Option<u64>,
}

impl std::fmt::Debug for StorageCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageCall")
            .field("method", &self.method)
            .field("key", &self.key)
            .field("key_is_json", &self.key_is_json)
            .field("value", &self.value.as_ref().map(|_| "[redacted]"))
            .field("ttl_ms", &self.ttl_ms)
            .finish()
    }
}

/// The answer to a `HostCall`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostAnswer {
    /// The value for `get` (`None` for set and delete), or why it failed.
    Storage(std::result::Result<Option<String>, StorageFailure>),
    Http(std::result::Result<HttpResponse, HttpFailure>),
}

/// Calls waiting to be handed to the host, and answers waiting to be picked up.
#[derive(Default, Debug)]
pub struct HostQueue {
    next_ticket: std::cell::Cell<Ticket>,
    outgoing: RefCell<Vec<(Ticket, HostCall)>>,
    answers: RefCell<HashMap<Ticket, HostAnswer>>,
    give_up: Rc<GiveUp>,
}

impl HostQueue {
    pub fn new() -> Rc<Self> {
        Rc::new(Self::default())
    }

    fn enqueue(&self, call: HostCall) -> Ticket {
        let ticket = self.next_ticket.get();
        self.next_ticket.set(ticket + 1);
        self.outgoing.borrow_mut().push((ticket, call));
        ticket
    }

    /// The calls queued since the last time, in the order they were made.
    pub fn take_calls(&self) -> Vec<(Ticket, HostCall)> {
        std::mem::take(&mut *self.outgoing.borrow_mut())
    }

    pub fn has_calls(&self) -> bool {
        !self.outgoing.borrow().is_empty()
    }

    /// Hands back the answer to a call.
    pub fn answer(&self, ticket: Ticket, answer: HostAnswer) {
        self.answers.borrow_mut().insert(ticket, answer);
    }

    pub fn has_answer(&self, ticket: Ticket) -> bool {
        self.answers.borrow().contains_key(&ticket)
    }

    fn take_answer(&self, ticket: Ticket) -> Option<HostAnswer> {
        self.answers.borrow_mut().remove(&ticket)
    }

    /// Tells the operation's lock waits to give up (`Some(millis)`, how long they waited), or
    /// to wait again (`None`).
    /// The signal `give_up_lock_waits` sets, for a store whose locks are not the queue's own.
    pub fn give_up(&self) -> Rc<GiveUp> {
        self.give_up.clone()
    }

    pub fn give_up_lock_waits(&self, millis: Option<u64>) {
        self.give_up.set(millis);
    }
}

/// A handle onto a host-implemented store for one operation. The queue belongs to the operation;
/// the locks belong to the store and are shared by every operation on it.
pub struct HostStorage {
    queue: Rc<HostQueue>,
    locks: Arc<KeyLocks>,
    family: Family,
    /// Whether the JS store has the optional atomic `setIfAbsent`.
    atomic: bool,
    unsaved: Rc<UnsavedRecords>,
    own_leases: Rc<OwnLeases>,
}

impl HostStorage {
    /// `family` is the operation's family: its own, or that of the operation from inside whose
    /// storage call it was started (see `KeyLocks`).
    pub fn new(queue: Rc<HostQueue>, locks: Arc<KeyLocks>, family: Family) -> Self {
        Self {
            queue,
            locks,
            family,
            atomic: false,
            unsaved: Rc::default(),
            own_leases: Rc::default(),
        }
    }

    /// The leases this process left in the store (shared by its operations).
    #[must_use]
    pub fn with_own_leases(mut self, own_leases: Rc<OwnLeases>) -> Self {
        self.own_leases = own_leases;
        self
    }

    /// The store's records that could not be written yet (shared by its operations).
    #[must_use]
    pub fn with_unsaved(mut self, unsaved: Rc<UnsavedRecords>) -> Self {
        self.unsaved = unsaved;
        self
    }

    /// The store has the optional atomic `setIfAbsent(key, value, ttlMs)`.
    #[must_use]
    pub fn with_set_if_absent(mut self, atomic: bool) -> Self {
        self.atomic = atomic;
        self
    }

    async fn call(
        &self,
        method: StorageMethod,
        key: &str,
        value: Option<&str>,
    ) -> Result<Option<String>> {
        self.call_with(method, key, false, value, None).await
    }

    async fn call_with(
        &self,
        method: StorageMethod,
        key: &str,
        key_is_json: bool,
        value: Option<&str>,
        ttl_ms: Option<u64>,
    ) -> Result<Option<String>> {
        let call = HostCall::Storage(StorageCall {
            method,
            key: key.to_owned(),
            key_is_json,
            value: value.map(str::to_owned),
            ttl_ms,
        });
        let answer = match (PendingCall {
            queue: &self.queue,
            call: Some(call),
            ticket: None,
        })
        .await
        {
            HostAnswer::Storage(answer) => answer,
            HostAnswer::Http(_) => Err(StorageFailure::Failed(
                "the host answered a storage call with an HTTP response".to_owned(),
            )),
        };
        answer.map_err(|failure| match Error::from_failure(method, key, failure) {
            Error::StorageTimeout {
                method,
                key,
                millis,
                ..
            } => Error::StorageTimeout {
                method,
                key,
                millis,
                blocking_others: self.locks.others_wait_on(self.family),
            },
            other => other,
        })
    }
}

struct PendingCall<'a> {
    queue: &'a HostQueue,
    call: Option<HostCall>,
    ticket: Option<Ticket>,
}

impl Future for PendingCall<'_> {
    type Output = HostAnswer;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<HostAnswer> {
        // The driver polls again whenever it hands answers back, so no waker is needed here.
        if let Some(call) = self.call.take() {
            let ticket = self.queue.enqueue(call);
            self.ticket = Some(ticket);
            return Poll::Pending;
        }
        match self.ticket.and_then(|t| self.queue.take_answer(t)) {
            Some(answer) => Poll::Ready(answer),
            None => Poll::Pending,
        }
    }
}

/// Requests made by the host for one operation.
pub struct HostHttp {
    queue: Rc<HostQueue>,
}

impl HostHttp {
    pub fn new(queue: Rc<HostQueue>) -> Self {
        Self { queue }
    }
}

#[async_trait::async_trait(?Send)]
impl Http for HostHttp {
    async fn send(&self, request: HttpRequest) -> std::result::Result<HttpResponse, HttpFailure> {
        match (PendingCall {
            queue: &self.queue,
            call: Some(HostCall::Http(request)),
            ticket: None,
        })
        .await
        {
            HostAnswer::Http(answer) => answer,
            HostAnswer::Storage(_) => Err(HttpFailure::Invalid(
                "the host answered an HTTP request with a storage value".to_owned(),
            )),
        }
    }
}

#[async_trait::async_trait(?Send)]
impl Storage for HostStorage {
    async fn get(&self, key: &str) -> Result<Option<String>> {
        self.call(StorageMethod::Get, key, None).await
    }

    async fn set(&self, key: &str, value: &str) -> Result<()> {
        self.call(StorageMethod::Set, key, Some(value))
            .await
            .map(drop)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.call(StorageMethod::Delete, key, None).await.map(drop)
    }

    async fn delete_escaped(&self, key_json: &str) -> Result<()> {
        self.call_with(StorageMethod::Delete, key_json, true, None, None)
            .await
            .map(drop)
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn unsaved(&self) -> Option<&UnsavedRecords> {
        Some(&self.unsaved)
    }

    fn own_leases(&self) -> Option<Rc<OwnLeases>> {
        Some(self.own_leases.clone())
    }

    async fn set_if_absent(&self, key: &str, value: &str, ttl_ms: u64) -> Result<Option<bool>> {
        if !self.atomic {
            return Ok(None);
        }
        let answer = self
            .call_with(
                StorageMethod::SetIfAbsent,
                key,
                false,
                Some(value),
                Some(ttl_ms),
            )
            .await?;
        Ok(Some(answer.is_some()))
    }

    async fn pause(&self, ms: u64) -> Result<()> {
        self.call_with(StorageMethod::Sleep, "", false, None, Some(ms))
            .await
            .map(drop)
    }

    fn locks(&self) -> Locker<'_> {
        Locker::new(&self.locks, self.family, Some(&*self.queue.give_up))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn a_call_is_queued_then_completed_by_its_answer() {
        let queue = HostQueue::new();
        let storage = HostStorage::new(queue.clone(), Arc::new(KeyLocks::new()), 1);
        let mut fut = Box::pin(async { storage.get("k").await });
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        let calls = queue.take_calls();
        assert_eq!(calls.len(), 1);
        let HostCall::Storage(call) = &calls[0].1 else {
            panic!("a storage call")
        };
        assert_eq!(call.method, StorageMethod::Get);
        assert_eq!(call.key, "k");
        assert!(fut.as_mut().poll(&mut cx).is_pending(), "no answer yet");
        queue.answer(calls[0].0, HostAnswer::Storage(Ok(Some("v".into()))));
        assert_eq!(
            fut.as_mut().poll(&mut cx),
            Poll::Ready(Ok(Some("v".into())))
        );
    }

    #[test]
    fn a_failed_answer_becomes_an_error_naming_the_call() {
        let queue = HostQueue::new();
        let storage = HostStorage::new(queue.clone(), Arc::new(KeyLocks::new()), 1);
        let mut fut = Box::pin(async { storage.set("k", "secret").await });
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        let calls = queue.take_calls();
        let HostCall::Storage(call) = &calls[0].1 else {
            panic!("a storage call")
        };
        assert_eq!(call.value.as_deref(), Some("secret"));
        assert!(!format!("{:?}", calls[0].1).contains("secret"));
        queue.answer(
            calls[0].0,
            HostAnswer::Storage(Err(StorageFailure::TimedOut(10))),
        );
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(Err(e)) => assert_eq!(
                e.to_string(),
                "storage.set(\"k\") did not settle within 10 ms"
            ),
            other => panic!("unexpected {other:?}"),
        }
    }
}
