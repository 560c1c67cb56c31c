//! The Redis engine without a Redis: commands from calls, the pipeline they become, answers and
//! failures mapped back, and the timeout against a server that accepts and never answers.

use super::*;
use crate::error::StorageMethod;
use crate::host::StorageCall;
use crate::redis::commands::lossy_json_string;

fn call(method: StorageMethod, key: &str, value: Option<&str>, ttl: Option<u64>) -> StorageCall {
    StorageCall {
        method,
        key: key.to_owned(),
        key_is_json: false,
        value: value.map(str::to_owned),
        ttl_ms: ttl,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn each_call_becomes_its_command() {
    use StorageMethod::{Delete, Get, Set, SetIfAbsent, Sleep};
    assert_eq!(
        Command::of(&call(Get, "k", None, None)),
        Command::Get("k".into())
    );
    assert_eq!(
        Command::of(&call(Set, "k", Some("v"), None)),
        Command::Set("k".into(), "v".into())
    );
    assert_eq!(
        Command::of(&call(Delete, "k", None, None)),
        Command::Delete("k".into())
    );
    assert_eq!(
        Command::of(&call(SetIfAbsent, "k", Some("v"), Some(15_000))),
        Command::SetIfAbsent("k".into(), "v".into(), 15_000)
    );
    // PX 0 is an error in Redis: a lease lives at least a millisecond.
    assert_eq!(
        Command::of(&call(SetIfAbsent, "k", Some("v"), Some(0))),
        Command::SetIfAbsent("k".into(), "v".into(), 1)
    );
    assert_eq!(
        Command::of(&call(Sleep, "", None, Some(50))),
        Command::Sleep(50)
    );
}

#[test]
fn a_key_given_as_json_is_looked_up_as_node_redis_wrote_it() {
    let mut escaped = call(
        StorageMethod::Delete,
        r#""solidClientAuthenticationUser:a\ud800b""#,
        None,
        None,
    );
    escaped.key_is_json = true;
    assert_eq!(
        Command::of(&escaped),
        Command::Delete("solidClientAuthenticationUser:a\u{FFFD}b".into())
    );
    assert_eq!(
        lossy_json_string(r#""x\"y\\z\u00e9\ud83d\ude00""#),
        "x\"y\\z\u{e9}\u{1F600}"
    );
}

#[test]
fn a_batch_is_one_pipeline_under_the_prefix_and_sleeps_send_nothing() {
    let commands = [
        Command::Get("solidClientAuthenticationUser:s1".into()),
        Command::Sleep(50),
        Command::SetIfAbsent(
            "solidClientAuthn:refreshLease:s1".into(),
            "owner".into(),
            15_000,
        ),
        Command::Set("k".into(), "v".into()),
        Command::Delete("gone".into()),
    ];
    let packed = text(&pipeline("app:", &commands).get_packed_pipeline());
    let expected = [
        "*2\r\n$3\r\nGET\r\n$36\r\napp:solidClientAuthenticationUser:s1\r\n",
        "*6\r\n$3\r\nSET\r\n$36\r\napp:solidClientAuthn:refreshLease:s1\r\n$5\r\nowner\r\n$2\r\nNX\r\n$2\r\nPX\r\n$5\r\n15000\r\n",
        "*3\r\n$3\r\nSET\r\n$5\r\napp:k\r\n$1\r\nv\r\n",
        "*2\r\n$3\r\nDEL\r\n$8\r\napp:gone\r\n",
    ]
    .concat();
    assert_eq!(packed, expected);
}

#[test]
fn values_never_show_in_debug_output() {
    let set = Command::Set("k".into(), "refresh-token-secret".into());
    let lease = Command::SetIfAbsent("k".into(), "refresh-token-secret".into(), 5);
    for command in [set, lease] {
        let printed = format!("{command:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }
}

fn reply(resp: &[u8]) -> Value {
    redis::parse_redis_value(resp).expect("a RESP reply")
}

#[test]
fn replies_become_the_answers_the_core_reads() {
    let get = Command::Get("k".into());
    assert_eq!(answer_of(&get, Value::Nil), Ok(None));
    assert_eq!(
        answer_of(&get, reply(b"$2\r\nhi\r\n")),
        Ok(Some("hi".into()))
    );
    assert_eq!(
        answer_of(&get, Value::BulkString(vec![0xff, 0xfe])),
        Err(StorageFailure::WrongType("bytes that are not UTF-8".into()))
    );
    assert_eq!(
        answer_of(&get, Value::Int(3)),
        Err(StorageFailure::WrongType("a Redis integer".into()))
    );
    let lease = Command::SetIfAbsent("k".into(), "v".into(), 10);
    assert_eq!(answer_of(&lease, Value::Okay), Ok(Some("set".into())));
    assert_eq!(answer_of(&lease, Value::Nil), Ok(None), "the key was taken");
    assert_eq!(
        answer_of(&Command::Set("k".into(), "v".into()), Value::Okay),
        Ok(None)
    );
    assert_eq!(
        answer_of(&Command::Delete("k".into()), Value::Int(0)),
        Ok(None)
    );
}

#[test]
fn a_server_error_names_its_code_and_nothing_of_its_text() {
    let wrong = reply(b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    assert_eq!(
        answer_of(&Command::Get("k".into()), wrong),
        Err(StorageFailure::Failed(
            "Redis answered the error WRONGTYPE".into()
        ))
    );
}

#[test]
fn replies_are_spread_over_the_calls_in_order() {
    let commands = [
        Command::Get("a".into()),
        Command::Sleep(5),
        Command::Get("b".into()),
    ];
    let answers = spread(
        &commands,
        each(2, Ok(vec![Value::Nil, reply(b"$1\r\nB\r\n")])),
    );
    assert_eq!(answers, vec![Ok(None), Ok(None), Ok(Some("B".into()))]);
    let short = spread(&commands, each(2, Ok(vec![Value::Nil])));
    assert!(matches!(short[2], Err(StorageFailure::Failed(_))));
    let failed = spread(&commands, each(2, Err(StorageFailure::TimedOut(7))));
    assert_eq!(
        failed,
        vec![
            Err(StorageFailure::TimedOut(7)),
            Ok(None),
            Err(StorageFailure::TimedOut(7))
        ]
    );
}

#[test]
fn client_errors_are_described_without_their_own_message() {
    let refused = RedisError::from(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "connect to redis://:hunter2@10.0.0.1 refused",
    ));
    assert_eq!(
        failure_of(&refused),
        StorageFailure::Failed("Redis refused the connection".into())
    );
    let reset = RedisError::from(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "x",
    ));
    let StorageFailure::Failed(message) = failure_of(&reset) else {
        panic!("a failure")
    };
    assert!(!message.contains('x'), "{message}");
}

#[test]
fn a_bad_url_is_refused_without_its_password() {
    for url in [
        "redis://:hunter2@host:notaport",
        "http://:hunter2@host/",
        "nonsense",
    ] {
        let message = client_for(url).expect_err(url);
        assert!(message.starts_with("RedisStorage: the url"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
    assert!(client_for("redis://127.0.0.1:6379/2").is_ok());
    assert!(client_for("unix:///tmp/redis.sock").is_ok());
}

/// A runtime for a test's store (the Redis thread's is not started in tests).
pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A port on 127.0.0.1 that nothing listens on: bound, then closed.
pub(super) fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn store(url: &str, timeout_ms: u64, connect_timeout_ms: Option<u64>) -> Arc<RedisStore> {
    RedisStore::open(RedisOptions {
        target: RedisTarget::Server(url.to_owned()),
        key_prefix: "t:".to_owned(),
        command_timeout_ms: Some(timeout_ms),
        connect_timeout_ms,
    })
    .expect("a store")
}

#[test]
fn a_server_that_never_answers_times_out_and_keeps_the_written_keys() {
    let rt = runtime();
    rt.block_on(async {
        // Accepts and reads, never answers: a frozen Redis.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let url = format!("redis://127.0.0.1:{port}");
        let batch = || {
            vec![
                Command::Get("a".into()),
                Command::Set("b".into(), "v".into()),
            ]
        };
        // Cut off by the batch's timeout: the write may have gone out, so its key stays locked.
        let started = std::time::Instant::now();
        let execution = store(&url, 200, Some(5_000)).execute(batch()).await;
        let waited = started.elapsed().as_millis();
        assert!((200..2_000).contains(&waited), "{waited} ms");
        let timed_out = vec![
            Err(StorageFailure::TimedOut(200)),
            Err(StorageFailure::TimedOut(200)),
        ];
        assert_eq!(execution.answers, timed_out);
        assert_eq!(execution.late, vec!["b".to_owned()]);
        // Cut off while connecting: a timeout too, and nothing was sent.
        let execution = store(&url, 200, Some(100)).execute(batch()).await;
        let connect_timed_out = vec![
            Err(StorageFailure::TimedOut(100)),
            Err(StorageFailure::TimedOut(100)),
        ];
        assert_eq!(execution.answers, connect_timed_out);
        assert!(execution.late.is_empty());
    });
}

#[test]
fn a_refused_connection_fails_at_once_and_a_closed_store_fails_every_call() {
    let rt = runtime();
    rt.block_on(async {
        let store = store(&format!("redis://127.0.0.1:{}", closed_port()), 5_000, None);
        let started = std::time::Instant::now();
        let execution = store.clone().execute(vec![Command::Get("a".into())]).await;
        assert!(started.elapsed().as_millis() < 2_000);
        assert_eq!(
            execution.answers,
            vec![Err(StorageFailure::Failed(
                "Redis refused the connection".into()
            ))]
        );
        assert!(execution.late.is_empty());
        store.close();
        let execution = store
            .clone()
            .execute(vec![Command::Sleep(1), Command::Get("a".into())])
            .await;
        assert_eq!(
            execution.answers,
            vec![
                Ok(None),
                Err(StorageFailure::Failed("the RedisStorage is closed".into()))
            ]
        );
    });
}
