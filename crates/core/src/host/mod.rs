//! The host: the queue of calls that only the embedding program can make (storage calls on a
//! JS store, HTTP requests, sleeps) and the driver that runs an operation until it needs them.

pub mod drive;
pub mod queue;

pub use queue::{HostAnswer, HostCall, HostHttp, HostQueue, HostStorage, StorageCall, Ticket};
