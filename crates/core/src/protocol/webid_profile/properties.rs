//! Property tests of profile reading (`rdf::issuers_in`, `issuers_of`) and the issuer check:
//! any bytes under any content type are read or refused without a panic, with a short one-line
//! problem; generated profiles (Turtle, N-Triples, expanded JSON-LD, and edits that break them)
//! give exactly the issuers they state for the WebID; any answer to the profile request is a
//! list or a typed error naming the WebID.

use std::fmt::Write as _;

use proptest::prelude::*;
use proptest::sample::select;

use super::rdf::issuers_in;
use super::{issuers_of, same_issuer, verify_issuer, WebIdError, MAX_REDIRECTS, OIDC_ISSUER};
use crate::http::HttpResponse;
use crate::tests::property_support::{any_bytes, config, edited, url, Answers};
use crate::tests::support::block_on;

const WEBID: &str = "https://alice.example/profile/card#me";
const BASE: &str = "https://alice.example/profile/card";
const CONTENT_TYPES: &[&str] = &[
    "text/turtle",
    "text/turtle; charset=utf-8",
    "application/n-triples",
    "application/ld+json",
    "TEXT/TURTLE",
    "text/html",
    "",
];

/// One statement of a generated profile.
#[derive(Clone, Debug)]
struct Statement {
    subject: &'static str,
    predicate: &'static str,
    object: Object,
}

#[derive(Clone, Debug)]
enum Object {
    Iri(String),
    Literal(String),
}

fn statement() -> impl Strategy<Value = Statement> {
    const SUBJECTS: &[&str] = &[WEBID, WEBID, "https://alice.example/profile/card#you", BASE];
    const PREDICATES: &[&str] = &[
        OIDC_ISSUER,
        OIDC_ISSUER,
        "http://www.w3.org/ns/solid/terms#oidcIssuers",
        "http://xmlns.com/foaf/0.1/name",
    ];
    let object = prop_oneof![
        3 => "https://[a-z]{1,6}\\.example/[a-z/]{0,6}".prop_map(Object::Iri),
        1 => "[a-zA-Z0-9 :/.]{0,12}".prop_map(Object::Literal),
    ];
    (select(SUBJECTS), select(PREDICATES), object).prop_map(|(subject, predicate, object)| {
        Statement {
            subject,
            predicate,
            object,
        }
    })
}

/// What a reader must find: the IRI objects of `WEBID solid:oidcIssuer`, in order, once each.
fn expected(statements: &[Statement]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for s in statements {
        if let (WEBID, OIDC_ISSUER, Object::Iri(iri)) = (s.subject, s.predicate, &s.object) {
            if !found.contains(iri) {
                found.push(iri.clone());
            }
        }
    }
    found
}

fn n_triples(statements: &[Statement]) -> String {
    let mut out = String::new();
    for s in statements {
        let object = match &s.object {
            Object::Iri(iri) => format!("<{iri}>"),
            Object::Literal(text) => format!("\"{text}\""),
        };
        let _ = writeln!(out, "<{}> <{}> {object} .", s.subject, s.predicate);
    }
    out
}

/// Turtle with prefixes, the WebID written relative to the document.
fn turtle(statements: &[Statement]) -> String {
    let mut out = String::from("@prefix solid: <http://www.w3.org/ns/solid/terms#> .\n");
    for s in statements {
        let subject = s
            .subject
            .strip_prefix(BASE)
            .map_or_else(|| format!("<{}>", s.subject), |rest| format!("<{rest}>"));
        let predicate = s
            .predicate
            .strip_prefix("http://www.w3.org/ns/solid/terms#")
            .map_or_else(
                || format!("<{}>", s.predicate),
                |local| format!("solid:{local}"),
            );
        let object = match &s.object {
            Object::Iri(iri) => format!("<{iri}>"),
            Object::Literal(text) => format!("'{text}'"),
        };
        let _ = writeln!(out, "{subject} {predicate} {object} .");
    }
    out
}

fn json_ld(statements: &[Statement]) -> String {
    let nodes: Vec<serde_json::Value> = statements
        .iter()
        .map(|s| {
            let object = match &s.object {
                Object::Iri(iri) => serde_json::json!({ "@id": iri }),
                Object::Literal(text) => serde_json::json!({ "@value": text }),
            };
            serde_json::json!({ "@id": s.subject, s.predicate: [object] })
        })
        .collect();
    serde_json::Value::Array(nodes).to_string()
}

fn served(content_type: &str, body: Vec<u8>) -> HttpResponse {
    let headers = if content_type.is_empty() {
        Vec::new()
    } else {
        vec![("content-type".to_owned(), content_type.to_owned())]
    };
    HttpResponse {
        status: 200,
        headers,
        body,
    }
}

/// A problem fit for a message: short, one line.
fn well_worded(problem: &str) -> bool {
    problem.chars().count() < 1_500 && !problem.chars().any(char::is_control)
}

proptest! {
    #![proptest_config(config(1))]

    /// Any bytes, under any content type: a list of http(s) IRIs, or a short one-line problem.
    #[test]
    fn any_bytes_are_read_or_refused(bytes in any_bytes(), content_type in select(CONTENT_TYPES)) {
        match issuers_in(&served(content_type, bytes), BASE, &[WEBID]) {
            Ok(issuers) => prop_assert!(issuers.iter().all(|i| oxrdf::NamedNode::new(i.as_str()).is_ok()), "{issuers:?}"),
            Err(problem) => prop_assert!(well_worded(&problem), "{problem}"),
        }
    }

    /// A generated profile gives exactly the issuers it states for the WebID, in every format.
    #[test]
    fn generated_profiles_give_exactly_their_issuers(
        statements in prop::collection::vec(statement(), 0..12),
    ) {
        let want = expected(&statements);
        for (content_type, body) in [
            ("text/turtle", turtle(&statements)),
            ("application/n-triples", n_triples(&statements)),
            ("application/ld+json", json_ld(&statements)),
        ] {
            let found = issuers_in(&served(content_type, body.clone().into_bytes()), BASE, &[WEBID]);
            prop_assert_eq!(found.as_ref(), Ok(&want), "{}\n{}", content_type, body);
        }
    }

    /// A generated profile with edits that break it is read or refused, never with a panic.
    #[test]
    fn edited_profiles_are_read_or_refused(
        text in edited(prop::collection::vec(statement(), 0..8).prop_map(|s| turtle(&s))),
    ) {
        match issuers_in(&served("text/turtle", text.clone().into_bytes()), BASE, &[WEBID]) {
            Ok(issuers) => prop_assert!(issuers.iter().all(|i| oxrdf::NamedNode::new(i.as_str()).is_ok())),
            Err(problem) => prop_assert!(well_worded(&problem), "{problem}"),
        }
    }

    /// Whatever the profile request is answered with, and whatever the WebID: a list, or a
    /// typed error naming the WebID, worded short on one line.
    #[test]
    fn any_answer_is_a_list_or_a_typed_error(
        webid in prop_oneof![3 => Just(WEBID.to_owned()), 1 => url()],
        status in prop_oneof![3 => Just(200_u16), 1 => select(&[301_u16, 303, 404, 500][..]), 1 => any::<u16>()],
        content_type in select(CONTENT_TYPES),
        location in prop_oneof![Just(None), url().prop_map(Some)],
        bytes in any_bytes(),
    ) {
        let mut answer = served(content_type, bytes);
        answer.status = status;
        if let Some(location) = location {
            answer.headers.push(("location".to_owned(), location));
        }
        // Enough for every redirect it may follow, and one more.
        let http = Answers::new(vec![answer; MAX_REDIRECTS + 2]);
        match block_on(issuers_of(&http, &webid)) {
            Ok(_) => prop_assert!(http.sent.get() >= 1),
            Err(error) => {
                let WebIdError::Profile { webid: named, .. } = &error else {
                    return Err(TestCaseError::fail(format!("{error:?}")));
                };
                prop_assert_eq!(named, &webid);
                prop_assert!(well_worded(&error.to_string()), "{error}");
            }
        }
        prop_assert!(http.sent.get() <= MAX_REDIRECTS + 1);
    }

    /// The check passes exactly for issuers equal to a listed one but for trailing slashes.
    #[test]
    fn the_check_is_equality_but_for_trailing_slashes(
        listed in prop::collection::vec("https://[ab]\\.example(/[ab]?)?/{0,2}", 0..4),
        issuer in "https://[ab]\\.example(/[ab]?)?/{0,2}",
    ) {
        let passes = verify_issuer(WEBID, &issuer, &listed).is_ok();
        let bare = issuer.trim_end_matches('/');
        prop_assert_eq!(passes, listed.iter().any(|l| l.trim_end_matches('/') == bare));
        prop_assert!(listed.iter().all(|l| same_issuer(l, l)));
    }
}
