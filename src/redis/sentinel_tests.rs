//! Sentinel options without a Sentinel: URLs refused without their password, what goes together,
//! what a demoted master's answer looks like, the waits between tries, and a store whose
//! sentinels are all down failing at once, in our words.

use super::*;
use crate::redis::tests::{closed_port, runtime};
use crate::redis::{RedisOptions, RedisStore, RedisTarget};
use crate::secret::Secret;

fn target(nodes: &[&str]) -> SentinelTarget {
    SentinelTarget {
        nodes: nodes.iter().map(|&n| n.to_owned()).collect(),
        master_name: "mymaster".to_owned(),
        username: None,
        password: Some(Secret::new("master-s3cret")),
        db: None,
    }
}

fn refused(target: &SentinelTarget) -> String {
    match client_for(target) {
        Ok(_) => panic!("{:?} was accepted", target.nodes),
        Err(message) => message,
    }
}

#[test]
fn usable_sentinel_urls_make_a_client() {
    assert!(client_for(&target(&["redis://127.0.0.1:26379"])).is_ok());
    assert!(client_for(&target(&[
        "redis://:sentinel-pw@10.0.0.1:26379",
        "redis://:sentinel-pw@10.0.0.2:26379",
    ]))
    .is_ok());
    assert!(client_for(&target(&["rediss://s1:26380", "rediss://s2:26380"])).is_ok());
    let mut with_db = target(&["redis://127.0.0.1:26379"]);
    with_db.db = Some(2);
    with_db.username = Some("app".to_owned());
    assert!(client_for(&with_db).is_ok());
}

#[test]
fn unusable_options_are_refused_without_a_password() {
    for nodes in [
        &["redis://:hunter2@host:notaport"][..],
        &["http://:hunter2@host/"],
        &["nonsense"],
        &["unix:///tmp/sentinel.sock"],
        &["redis://:hunter2@127.0.0.1:26379/3"],
    ] {
        let message = refused(&target(nodes));
        assert!(
            message.starts_with("RedisStorage: the sentinel url"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }
    for nodes in [
        &["redis://:hunter2@s1:26379", "redis://:other@s2:26379"][..],
        &["redis://s1:26379", "rediss://s2:26379"],
        &[
            "redis://alice:hunter2@s1:26379",
            "redis://bob:hunter2@s2:26379",
        ],
    ] {
        let message = refused(&target(nodes));
        assert!(
            message.contains("same user, password and TLS mode"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }
    assert!(refused(&target(&[])).contains("at least one sentinel"));
    let mut nameless = target(&["redis://s1:26379"]);
    nameless.master_name = String::new();
    assert!(refused(&nameless).contains("masterName"));
}

fn reply(resp: &[u8]) -> Value {
    redis::parse_redis_value(resp).expect("a RESP reply")
}

#[test]
fn a_demoted_master_is_known_by_its_readonly_answer() {
    assert!(is_read_only(&reply(
        b"-READONLY You can't write against a read only replica.\r\n"
    )));
    assert!(!is_read_only(&reply(b"-ERR wrong number of arguments\r\n")));
    assert!(!is_read_only(&Value::Okay));
    assert!(!is_read_only(&Value::Nil));
}

#[test]
fn the_waits_between_tries_double_up_to_a_quarter_second() {
    let mut wait = Duration::from_millis(MIN_RETRY_WAIT_MS);
    let mut waits = Vec::new();
    for _ in 0..6 {
        waits.push(wait.as_millis());
        wait = next_wait(wait);
    }
    assert_eq!(waits, vec![25, 50, 100, 200, 250, 250]);
}

#[test]
fn a_store_whose_sentinels_are_all_down_fails_at_once_without_a_password() {
    runtime().block_on(async {
        let closed = closed_port;
        let nodes = [
            format!("redis://:hunter2@127.0.0.1:{}", closed()),
            format!("redis://:hunter2@127.0.0.1:{}", closed()),
        ];
        let store = RedisStore::open(RedisOptions {
            target: RedisTarget::Sentinel(target(&[&nodes[0], &nodes[1]])),
            key_prefix: "t:".to_owned(),
            command_timeout_ms: Some(5_000),
            connect_timeout_ms: None,
        })
        .expect("a store");
        let started = Instant::now();
        let execution = store.execute(vec![Command::Get("a".into())]).await;
        assert!(started.elapsed() < Duration::from_secs(2), "it waited");
        let [Err(StorageFailure::Failed(message))] = &execution.answers[..] else {
            panic!("{:?}", execution.answers)
        };
        assert_eq!(
            message,
            "no sentinel answered (Redis refused the connection)"
        );
        assert!(execution.late.is_empty());
    });
}

fn fields(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn the_newest_configuration_names_the_master() {
    let old = fields(&[("ip", "10.0.0.1"), ("port", "6379"), ("config-epoch", "0")]);
    let new = fields(&[("ip", "10.0.0.2"), ("port", "6380"), ("config-epoch", "1")]);
    assert_eq!(
        configuration(&new),
        Some((1, ("10.0.0.2".to_owned(), 6380)))
    );
    assert_eq!(configuration(&fields(&[("ip", "x"), ("port", "1")])), None);
    assert_eq!(
        configuration(&fields(&[
            ("ip", "x"),
            ("port", "no"),
            ("config-epoch", "1")
        ])),
        None
    );
    // A sentinel that has not heard of the failover yet names the old master: outvoted by epoch,
    // whatever the order of the answers; one that did not answer counts for nothing.
    let answers = vec![
        configuration(&old),
        None,
        configuration(&new),
        configuration(&old),
    ];
    assert_eq!(newest(answers), Some(("10.0.0.2".to_owned(), 6380)));
    assert_eq!(newest(vec![None, None]), None);
    assert_eq!(
        newest(vec![configuration(&old), configuration(&old)]),
        Some(("10.0.0.1".to_owned(), 6379))
    );
}

#[test]
fn a_master_moved_to_another_address_keeps_its_tls_settings() {
    use redis::ConnectionAddr;
    let plain = ConnectionAddr::Tcp("10.0.0.1".into(), 6379);
    assert_eq!(address_of(&plain), ("10.0.0.1".to_owned(), 6379));
    let moved = moved_to(&plain, ("10.0.0.2".to_owned(), 6380));
    assert_eq!(moved, ConnectionAddr::Tcp("10.0.0.2".into(), 6380));
    let tls = ConnectionAddr::TcpTls {
        host: "10.0.0.1".into(),
        port: 6379,
        insecure: true,
        tls_params: None,
    };
    let ConnectionAddr::TcpTls {
        host,
        port,
        insecure,
        ..
    } = moved_to(&tls, ("10.0.0.2".to_owned(), 6380))
    else {
        panic!("TLS was dropped")
    };
    assert_eq!((host.as_str(), port, insecure), ("10.0.0.2", 6380, true));
}
