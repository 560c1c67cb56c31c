//! `issuers_of` and `verify_issuer` against profiles served in process (`support::profiles`).

use super::*;
use crate::tests::support::block_on;
use crate::tests::support::profiles::{document_of, Answer, Profiles};

const WEBID: &str = "https://alice.example/profile/card#me";
const DOCUMENT: &str = "https://alice.example/profile/card";
const IDP: &str = "https://idp.example/";

fn issuers(profiles: &Profiles, webid: &str) -> Result<Vec<String>, WebIdError> {
    block_on(issuers_of(profiles, webid))
}

/// The problem of a `Profile` error; a panic for anything else.
fn problem(result: Result<Vec<String>, WebIdError>) -> String {
    match result {
        Err(WebIdError::Profile { webid, problem }) => {
            assert_eq!(webid, WEBID);
            problem
        }
        other => panic!("not a profile error: {other:?}"),
    }
}

#[test]
fn a_profile_is_asked_for_as_rdf_without_credentials_and_read() {
    let profiles = Profiles::new();
    profiles.serve_turtle(WEBID, &[IDP, "https://other-idp.example"]);
    assert_eq!(
        issuers(&profiles, WEBID),
        Ok(vec![IDP.to_owned(), "https://other-idp.example".to_owned()])
    );
    let seen = profiles.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].url, DOCUMENT, "the fragment is not sent");
    assert_eq!(seen[0].headers, [("accept".to_owned(), ACCEPT.to_owned())]);
    assert!(seen[0].body.is_none());
}

#[test]
fn a_profile_that_lists_none_is_an_answer() {
    let profiles = Profiles::new();
    profiles.serve_turtle(WEBID, &[]);
    assert_eq!(issuers(&profiles, WEBID), Ok(Vec::new()));
    let error = verify_issuer(WEBID, IDP, &[]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the WebID https://alice.example/profile/card#me does not name https://idp.example/ as its identity provider (solid:oidcIssuer): its profile lists none"
    );
}

#[test]
fn a_webid_without_a_fragment_is_its_own_document() {
    let webid = "https://id.example/alice";
    let profiles = Profiles::new();
    profiles.answer(
        webid,
        Answer::Document {
            content_type: "text/turtle",
            body: format!("<> <{OIDC_ISSUER}> <{IDP}> ."),
        },
    );
    assert_eq!(issuers(&profiles, webid), Ok(vec![IDP.to_owned()]));
}

#[test]
fn redirects_are_followed_and_relative_iris_resolve_against_the_last_url() {
    let profiles = Profiles::new();
    profiles.answer(
        DOCUMENT,
        Answer::Redirect {
            status: 303,
            location: "https://storage.example/alice/profile#ignored".to_owned(),
        },
    );
    profiles.answer(
        "https://storage.example/alice/profile",
        Answer::Document {
            content_type: "text/turtle",
            body: format!("<{WEBID}> <{OIDC_ISSUER}> </idp/>, <{IDP}> ."),
        },
    );
    assert_eq!(
        issuers(&profiles, WEBID),
        Ok(vec![
            "https://storage.example/idp/".to_owned(),
            IDP.to_owned()
        ])
    );
    assert_eq!(profiles.seen().len(), 2);

    // A relative Location, and every redirect status.
    for status in [301, 302, 307, 308] {
        let profiles = Profiles::new();
        profiles.answer(
            DOCUMENT,
            Answer::Redirect {
                status,
                location: "card.ttl".to_owned(),
            },
        );
        profiles.answer(
            "https://alice.example/profile/card.ttl",
            Answer::Document {
                content_type: "text/turtle",
                body: format!("<card#me> <{OIDC_ISSUER}> <{IDP}> ."),
            },
        );
        assert_eq!(
            issuers(&profiles, WEBID),
            Ok(vec![IDP.to_owned()]),
            "{status}"
        );
    }
}

#[test]
fn redirects_that_go_nowhere_a_request_may_go_are_refused() {
    let cases = [
        ("javascript:alert(1)", "which is not an http or https URL"),
        (
            "https://user:hunter2@storage.example/p",
            "which carries a user name or password",
        ),
        (
            "https://storage.example/\r\nX-Injected: 1",
            "holding control characters",
        ),
    ];
    for (location, expected) in cases {
        let profiles = Profiles::new();
        profiles.answer(
            DOCUMENT,
            Answer::Redirect {
                status: 302,
                location: location.to_owned(),
            },
        );
        let message = problem(issuers(&profiles, WEBID));
        assert!(message.contains(expected), "{location}: {message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert_eq!(profiles.seen().len(), 1, "{location}");
    }
    let profiles = Profiles::new();
    profiles.answer(DOCUMENT, Answer::Status(302));
    assert!(problem(issuers(&profiles, WEBID)).contains("answered HTTP 302 without a Location"));
}

#[test]
fn a_redirect_loop_ends() {
    let profiles = Profiles::new();
    profiles.answer(
        DOCUMENT,
        Answer::Redirect {
            status: 302,
            location: DOCUMENT.to_owned(),
        },
    );
    let message = problem(issuers(&profiles, WEBID));
    assert_eq!(
        message,
        format!("the profile request was redirected more than {MAX_REDIRECTS} times")
    );
    assert_eq!(profiles.seen().len(), MAX_REDIRECTS + 1);
}

#[test]
fn a_profile_out_of_reach_fails_closed_naming_the_webid() {
    let cases = [
        (
            Answer::Status(404),
            "https://alice.example/profile/card answered HTTP 404, expected 200",
        ),
        (Answer::Status(500), "answered HTTP 500, expected 200"),
        (
            Answer::Unreachable,
            "https://alice.example/profile/card could not be reached: connection refused",
        ),
        (
            Answer::TimedOut(3500),
            "https://alice.example/profile/card did not answer within 3500 ms",
        ),
    ];
    for (answer, expected) in cases {
        let profiles = Profiles::new();
        profiles.answer(DOCUMENT, answer);
        let error = issuers(&profiles, WEBID).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(
                "the WebID profile of https://alice.example/profile/card#me could not be read: "
            ),
            "{message}"
        );
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn a_blocked_profile_says_why() {
    struct Blocking;
    #[async_trait::async_trait(?Send)]
    impl Http for Blocking {
        async fn send(&self, _: HttpRequest) -> Result<HttpResponse, HttpFailure> {
            Err(HttpFailure::Blocked {
                host: "alice.example".to_owned(),
                resolved: true,
                kind: "a loopback address",
            })
        }
    }
    let message = problem(block_on(issuers_of(&Blocking, WEBID)));
    assert_eq!(
        message,
        "https://alice.example/profile/card was not fetched: alice.example resolves to a loopback address, and requests to private networks are blocked"
    );
}

#[test]
fn webids_no_request_may_go_to_are_refused_without_one() {
    let cases = [
        ("did:example:alice", "the WebID is not an http or https URL"),
        (
            "file:///etc/passwd#me",
            "the WebID is not an http or https URL",
        ),
        (
            "https://alice:hunter2@alice.example/card#me",
            "the WebID carries a user name or password",
        ),
        ("not a url", "the WebID is not a URL"),
        (
            "https://alice.example/card\n#me",
            "the WebID holds control characters",
        ),
    ];
    for (webid, expected) in cases {
        let profiles = Profiles::new();
        let error = issuers(&profiles, webid).unwrap_err();
        let WebIdError::Profile { problem, .. } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(problem, expected, "{webid}");
        let message = error.to_string();
        assert!(
            !message.contains("hunter2") && !message.contains('\n'),
            "{message}"
        );
        assert!(profiles.seen().is_empty(), "{webid}");
    }
}

#[test]
fn the_subject_may_be_written_as_a_url_parser_writes_the_webid() {
    let webid = "HTTPS://Alice.Example:443/profile/card#me";
    let profiles = Profiles::new();
    profiles.serve_turtle(WEBID, &[IDP]);
    assert_eq!(issuers(&profiles, webid), Ok(vec![IDP.to_owned()]));
    assert_eq!(document_of(WEBID), DOCUMENT);
}

#[test]
fn unreadable_documents_name_their_url() {
    let profiles = Profiles::new();
    profiles.answer(
        DOCUMENT,
        Answer::Document {
            content_type: "text/html",
            body: "<html>".to_owned(),
        },
    );
    assert_eq!(
        problem(issuers(&profiles, WEBID)),
        "https://alice.example/profile/card was served as text/html, not as Turtle, N-Triples or JSON-LD"
    );
    profiles.answer(
        DOCUMENT,
        Answer::Document {
            content_type: "text/turtle",
            body: "x".repeat(MAX_PROFILE_BYTES + 1),
        },
    );
    assert_eq!(
        problem(issuers(&profiles, WEBID)),
        format!("https://alice.example/profile/card is larger than {MAX_PROFILE_BYTES} bytes")
    );
}

#[test]
fn a_profile_listing_too_many_issuers_is_refused() {
    let many: Vec<String> = (0..=MAX_ISSUERS)
        .map(|n| format!("https://idp-{n}.example/"))
        .collect();
    let listed: Vec<&str> = many.iter().map(String::as_str).collect();
    let profiles = Profiles::new();
    profiles.serve_turtle(WEBID, &listed);
    assert_eq!(
        problem(issuers(&profiles, WEBID)),
        format!("the profile lists more than {MAX_ISSUERS} identity providers")
    );
    profiles.serve_turtle(WEBID, &listed[..MAX_ISSUERS]);
    assert_eq!(issuers(&profiles, WEBID).map(|l| l.len()), Ok(MAX_ISSUERS));
}

#[test]
fn the_issuer_check_ignores_trailing_slashes_and_nothing_else() {
    let listed = vec![
        "https://idp.example".to_owned(),
        "https://other.example/a/".to_owned(),
    ];
    for issuer in [
        "https://idp.example",
        "https://idp.example/",
        "https://other.example/a",
        "https://other.example/a/",
    ] {
        assert_eq!(verify_issuer(WEBID, issuer, &listed), Ok(()), "{issuer}");
    }
    for issuer in [
        "http://idp.example/",
        "https://idp.example/a",
        "https://IDP.example/",
        "https://idp.example.evil/",
        "https://other.example/",
        "",
    ] {
        let Err(WebIdError::IssuerMismatch {
            webid,
            issuer: named,
            listed: shown,
        }) = verify_issuer(WEBID, issuer, &listed)
        else {
            panic!("{issuer} must not pass")
        };
        assert_eq!((webid.as_str(), named.as_str()), (WEBID, issuer));
        assert_eq!(shown, listed);
    }
}

#[test]
fn a_mismatch_names_the_webid_the_issuer_and_a_few_listed_ones() {
    let listed: Vec<String> = (1..=7)
        .map(|n| format!("https://idp-{n}.example/"))
        .collect();
    let error =
        verify_issuer(WEBID, "https://evil.example/\u{1b}[2J\nforged", &listed).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the WebID https://alice.example/profile/card#me does not name https://evil.example/\\u{1b}[2J\\u{a}forged as its identity provider (solid:oidcIssuer): its profile lists https://idp-1.example/, https://idp-2.example/, https://idp-3.example/, https://idp-4.example/, https://idp-5.example/ and 2 more"
    );
}

#[test]
fn a_hostile_webid_is_quoted_short() {
    let webid = format!("https://alice.example/{}#me", "x".repeat(100_000));
    let profiles = Profiles::new();
    let message = issuers(&profiles, &webid).unwrap_err().to_string();
    assert!(message.len() < 2_000, "{} bytes", message.len());
}
