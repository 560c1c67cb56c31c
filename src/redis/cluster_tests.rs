//! Batches on a cluster without a cluster: commands grouped by slot, each group's pipeline, the
//! replies put back in order whatever each group got, and URLs refused without their password.

use super::*;
use crate::redis::commands::spread;
use crate::redis::tests::{closed_port, runtime};
use crate::redis::{RedisOptions, RedisStore, RedisTarget};

fn get(k: &str) -> Command {
    Command::Get(k.into())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

#[test]
fn a_batch_is_grouped_by_the_slot_of_each_prefixed_key_in_order() {
    // "a" and "b" hash to different slots; "{a}x" shares "a"'s (its hash tag is "a").
    assert_ne!(Slot::for_key("a"), Slot::for_key("b"));
    let sent = [
        get("a"),
        get("b"),
        Command::Set("{a}x".into(), "v".into()),
        Command::Delete("b".into()),
        Command::SetIfAbsent("a".into(), "v".into(), 5),
    ];
    assert_eq!(by_slot("", &sent), vec![vec![0, 2, 4], vec![1, 3]]);
    // The slot is the prefixed key's: a prefix with a hash tag puts every key in one slot.
    assert_eq!(by_slot("{app}:", &sent), vec![vec![0, 1, 2, 3, 4]]);
    // One key, one group, whatever the batch does to it: its commands keep their order.
    let one_key = [get("k"), Command::Set("k".into(), "v".into()), get("k")];
    assert_eq!(by_slot("p:", &one_key), vec![vec![0, 1, 2]]);
    assert!(by_slot("p:", &[]).is_empty());
}

#[test]
fn the_keys_of_a_session_restore_span_slots() {
    // Why splitting is needed at all: a refreshing restore's record and lease are in different
    // slots (with the reference's key names and no hash tag).
    let record = Slot::for_key("solidClientAuthenticationUser:s1");
    let lease = Slot::for_key("solidClientAuthn:refreshLease:s1");
    assert_ne!(record, lease);
}

#[test]
fn each_group_is_one_pipeline_of_its_own_commands() {
    let sent = [get("a"), get("b"), Command::Set("{a}x".into(), "v".into())];
    let groups = by_slot("", &sent);
    let packed: Vec<String> = groups
        .iter()
        .map(|g| text(&pipeline("", g.iter().map(|&i| &sent[i])).get_packed_pipeline()))
        .collect();
    assert_eq!(
        packed,
        vec![
            "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*3\r\n$3\r\nSET\r\n$4\r\n{a}x\r\n$1\r\nv\r\n".to_owned(),
            "*2\r\n$3\r\nGET\r\n$1\r\nb\r\n".to_owned(),
        ]
    );
}

#[test]
fn replies_go_back_in_the_batch_order_and_a_failed_slot_fails_alone() {
    let groups = vec![vec![0, 2, 4], vec![1, 3]];
    let replies = reassemble(
        5,
        &groups,
        vec![
            Ok(vec![bulk("A"), Value::Okay, bulk("E")]),
            Err(StorageFailure::Failed(
                "the connection to Redis was lost".into(),
            )),
        ],
    );
    let lost = || {
        Err(StorageFailure::Failed(
            "the connection to Redis was lost".into(),
        ))
    };
    assert_eq!(
        replies,
        vec![
            Ok(bulk("A")),
            lost(),
            Ok(Value::Okay),
            lost(),
            Ok(bulk("E"))
        ]
    );
    // A group answered short: its missing places fail, the rest stand.
    let short = reassemble(
        3,
        &[vec![0, 2], vec![1]],
        vec![Ok(vec![bulk("A")]), Ok(vec![bulk("B")])],
    );
    assert_eq!(short[0], Ok(bulk("A")));
    assert_eq!(short[1], Ok(bulk("B")));
    assert!(matches!(short[2], Err(StorageFailure::Failed(_))));
    // A place no group covers fails rather than answering nothing.
    let unsent = reassemble(2, &[vec![0]], vec![Ok(vec![bulk("A")])]);
    assert!(matches!(unsent[1], Err(StorageFailure::Failed(_))));
}

#[test]
fn a_batch_with_pauses_is_answered_in_its_own_order() {
    // `execute` sends the batch without its pauses; the replies come back in the sent order,
    // and `spread` puts the pauses back.
    let batch = [
        get("b"),
        Command::Sleep(5),
        Command::SetIfAbsent("a".into(), "v".into(), 9),
        get("a"),
    ];
    let sent: Vec<Command> = batch
        .iter()
        .filter(|c| !matches!(c, Command::Sleep(_)))
        .cloned()
        .collect();
    let groups = by_slot("", &sent);
    assert_eq!(groups, vec![vec![0], vec![1, 2]]);
    let replies = reassemble(
        sent.len(),
        &groups,
        vec![Ok(vec![Value::Nil]), Ok(vec![Value::Okay, bulk("v")])],
    );
    assert_eq!(
        spread(&batch, replies),
        vec![
            Ok(None),
            Ok(None),
            Ok(Some("set".into())),
            Ok(Some("v".into()))
        ]
    );
}

#[test]
fn cluster_urls_are_refused_without_their_password() {
    for urls in [
        vec![],
        vec!["redis://:hunter2@host:notaport".to_owned()],
        vec!["unix:///tmp/redis.sock".to_owned()],
        vec![
            "redis://:hunter2@127.0.0.1:7000".to_owned(),
            "redis://:other@127.0.0.1:7001".to_owned(),
        ],
        vec![
            "redis://127.0.0.1:7000".to_owned(),
            "rediss://127.0.0.1:7001".to_owned(),
        ],
    ] {
        let message = client_for(&urls).expect_err("refused");
        assert!(message.starts_with("RedisStorage: "), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(!message.contains("other"), "{message}");
    }
    assert!(client_for(&[
        "redis://127.0.0.1:7000".to_owned(),
        "redis://127.0.0.1:7001/".to_owned()
    ])
    .is_ok());
}

#[test]
fn a_cluster_that_cannot_be_reached_fails_within_the_timeout() {
    runtime().block_on(async {
        let port = closed_port();
        let store = RedisStore::open(RedisOptions {
            target: RedisTarget::Cluster(vec![format!("redis://127.0.0.1:{port}")]),
            key_prefix: "t:".to_owned(),
            command_timeout_ms: Some(1_000),
            connect_timeout_ms: None,
        })
        .expect("a store");
        let started = std::time::Instant::now();
        let execution = store
            .execute(vec![get("a"), Command::Set("b".into(), "v".into())])
            .await;
        let waited = started.elapsed().as_millis();
        assert!(waited < 2_000, "{waited} ms");
        assert!(
            execution.answers.iter().all(Result::is_err),
            "{:?}",
            execution.answers
        );
        assert_eq!(
            execution.answers[0],
            Err(StorageFailure::Failed(
                "no node of the Redis Cluster could be reached (down, refusing, or its TLS \
                 certificate not accepted)"
                    .into()
            ))
        );
        store.close();
        let closed = store.execute(vec![get("a")]).await;
        assert_eq!(
            closed.answers,
            vec![Err(StorageFailure::Failed(
                "the RedisStorage is closed".into()
            ))]
        );
    });
}

#[test]
fn a_set_nx_answered_taken_is_stored_when_the_key_holds_its_own_value() {
    let sent = [
        Command::SetIfAbsent("mine".into(), "owner-a".into(), 5),
        get("x"),
        Command::SetIfAbsent("theirs".into(), "owner-a".into(), 5),
        Command::SetIfAbsent("won".into(), "owner-a".into(), 5),
        Command::SetIfAbsent("unread".into(), "owner-a".into(), 5),
    ];
    let mut replies = vec![
        Ok(Value::Nil),
        Ok(Value::Nil),
        Ok(Value::Nil),
        Ok(Value::Okay),
        Ok(Value::Nil),
    ];
    let taken = taken_leases(&sent, &replies);
    assert_eq!(
        taken,
        vec![0, 2, 4],
        "only the SET NXs answered taken are read back"
    );
    // The crate sent "mine" again after a lost connection: the key holds its value.
    let read = vec![
        Ok(bulk("owner-a")),
        Ok(bulk("owner-b")),
        Err(StorageFailure::Failed(
            "the connection to Redis was lost".into(),
        )),
    ];
    confirm_leases(&sent, &mut replies, &taken, read);
    assert_eq!(
        replies,
        vec![
            Ok(Value::Okay),
            Ok(Value::Nil),
            Ok(Value::Nil),
            Ok(Value::Okay),
            Ok(Value::Nil)
        ]
    );
}
