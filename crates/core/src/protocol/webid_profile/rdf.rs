//! Reading a profile document: its content type says which of the Oxigraph project's parsers
//! reads it (Turtle, N-Triples, JSON-LD), relative IRIs resolve against the URL it came from, and
//! of all it says only `<webid> solid:oidcIssuer <iri>` is kept. The parsers stream, so a
//! document costs its size and the issuers found, not a graph.
//!
//! JSON-LD is read without a document loader: a remote `@context` is never fetched, and a
//! profile that needs one is refused as unreadable (its terms would otherwise mean nothing, and
//! the profile would seem to list no issuer).

use oxjsonld::{JsonLdErrorCode, JsonLdParser};
use oxrdf::{GraphName, NamedOrBlankNode, Term};
use oxttl::{NTriplesParser, TurtleParser};

use super::{MAX_PROFILE_BYTES, OIDC_ISSUER};
use crate::http::HttpResponse;
use crate::quote;

/// How deep a JSON-LD profile may nest its arrays and objects. The JSON-LD expansion recurses
/// for each nested object, with frames of ~90 KB a level in a debug build (~2 KB in a release
/// one): a document nested a few dozen deep, a few hundred bytes, would overflow the stack of the
/// thread running JS and end the process. A profile nests four or five levels.
pub const MAX_JSON_DEPTH: usize = 10;

/// A triple as this module needs it: its subject and predicate IRIs (if the subject is one) and
/// its object if it is an IRI.
struct Statement<'a> {
    subject: Option<&'a str>,
    predicate: &'a str,
    object: Option<&'a str>,
}

/// The formats a profile is read in, by media type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Turtle,
    NTriples,
    JsonLd,
}

impl Format {
    fn of(media_type: &str) -> Option<Self> {
        match media_type {
            "text/turtle" | "application/x-turtle" => Some(Format::Turtle),
            "application/n-triples" => Some(Format::NTriples),
            "application/ld+json" => Some(Format::JsonLd),
            _ => None,
        }
    }
}

/// The media type of a `Content-Type` value, in lower case, without its parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The IRIs that the profile in `response`, fetched from `base`, gives as `solid:oidcIssuer` of
/// any of `subjects`, in document order, without repeats. The error says what is wrong with the
/// document, as a phrase that follows its URL ("is larger than ...").
pub fn issuers_in(
    response: &HttpResponse,
    base: &str,
    subjects: &[&str],
) -> Result<Vec<String>, String> {
    if response.body.len() > MAX_PROFILE_BYTES {
        return Err(format!("is larger than {MAX_PROFILE_BYTES} bytes"));
    }
    let Some(content_type) = response.header("content-type") else {
        return Err("was served without a content type".to_owned());
    };
    let media_type = media_type(content_type);
    let Some(format) = Format::of(&media_type) else {
        return Err(format!(
            "was served as {}, not as Turtle, N-Triples or JSON-LD",
            quote::text(&media_type)
        ));
    };
    let mut issuers: Vec<String> = Vec::new();
    let mut keep = |statement: Statement<'_>| {
        let about_webid = statement.subject.is_some_and(|s| subjects.contains(&s));
        if about_webid && statement.predicate == OIDC_ISSUER {
            if let Some(issuer) = statement.object {
                if !issuers.iter().any(|known| known == issuer) {
                    issuers.push(issuer.to_owned());
                }
            }
        }
    };
    read(format, &response.body, base, &mut keep)?;
    Ok(issuers)
}

/// Hands each triple of `body`'s default graph to `keep`; the first syntax error ends the
/// reading.
fn read(
    format: Format,
    body: &[u8],
    base: &str,
    keep: &mut dyn FnMut(Statement<'_>),
) -> Result<(), String> {
    let bad_base = |_| "came from a URL that is not an IRI".to_owned();
    match format {
        Format::Turtle => {
            let parser = TurtleParser::new().with_base_iri(base).map_err(bad_base)?;
            for triple in parser.for_slice(body) {
                let triple = triple.map_err(|e| not_readable("Turtle", &e.to_string()))?;
                keep(statement(
                    &triple.subject,
                    triple.predicate.as_str(),
                    &triple.object,
                ));
            }
        }
        // N-Triples has no relative IRIs: no base.
        Format::NTriples => {
            for triple in NTriplesParser::new().for_slice(body) {
                let triple = triple.map_err(|e| not_readable("N-Triples", &e.to_string()))?;
                keep(statement(
                    &triple.subject,
                    triple.predicate.as_str(),
                    &triple.object,
                ));
            }
        }
        Format::JsonLd => {
            if json_depth(body) > MAX_JSON_DEPTH {
                return Err(format!(
                    "is JSON nested more than {MAX_JSON_DEPTH} levels deep"
                ));
            }
            let parser = JsonLdParser::new().with_base_iri(base).map_err(bad_base)?;
            for quad in parser.for_slice(body) {
                let quad = quad.map_err(|e| {
                    if matches!(e.code(), Some(JsonLdErrorCode::LoadingRemoteContextFailed)) {
                        "is JSON-LD with a remote @context, which is not fetched: a profile in JSON-LD must carry its context in itself".to_owned()
                    } else {
                        not_readable("JSON-LD", &e.to_string())
                    }
                })?;
                // A profile's statements about its WebID are in its default graph.
                if quad.graph_name == GraphName::DefaultGraph {
                    keep(statement(
                        &quad.subject,
                        quad.predicate.as_str(),
                        &quad.object,
                    ));
                }
            }
        }
    }
    Ok(())
}

/// How deep the arrays and objects of a JSON text nest, at most. Brackets inside strings do not
/// count; whether the text is JSON at all is the parser's to say.
fn json_depth(body: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0_usize, 0_usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn statement<'a>(
    subject: &'a NamedOrBlankNode,
    predicate: &'a str,
    object: &'a Term,
) -> Statement<'a> {
    Statement {
        subject: match subject {
            NamedOrBlankNode::NamedNode(node) => Some(node.as_str()),
            NamedOrBlankNode::BlankNode(_) => None,
        },
        predicate,
        object: match object {
            Term::NamedNode(node) => Some(node.as_str()),
            _ => None,
        },
    }
}

/// A parser's complaint: the format, and its words (which say where), quoted.
fn not_readable(format: &str, complaint: &str) -> String {
    format!("is not readable as {format}: {}", quote::text(complaint))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://alice.example/profile/card";
    const WEBID: &str = "https://alice.example/profile/card#me";

    fn served(content_type: &str, body: &str) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn issuers(content_type: &str, body: &str) -> Result<Vec<String>, String> {
        issuers_in(&served(content_type, body), BASE, &[WEBID])
    }

    #[test]
    fn turtle_with_prefixes_and_relative_iris() {
        let body = r"
            @prefix solid: <http://www.w3.org/ns/solid/terms#> .
            @prefix foaf: <http://xmlns.com/foaf/0.1/> .
            <> a foaf:PersonalProfileDocument; foaf:primaryTopic <#me> .
            <#me> a foaf:Person;
                solid:oidcIssuer <https://idp.example/>, </idp/> ;
                foaf:name 'Alice' .
        ";
        assert_eq!(
            issuers("text/turtle; charset=utf-8", body),
            Ok(vec![
                "https://idp.example/".to_owned(),
                "https://alice.example/idp/".to_owned()
            ])
        );
    }

    #[test]
    fn only_iri_objects_of_the_webid_count() {
        let body = r#"
            PREFIX solid: <http://www.w3.org/ns/solid/terms#>
            <#me> solid:oidcIssuer "https://literal.example/" .
            <#me> solid:oidcIssuer [ a solid:Thing ] .
            <#bob> solid:oidcIssuer <https://bobs-idp.example/> .
            _:x solid:oidcIssuer <https://blank.example/> .
            <#me> <http://www.w3.org/ns/solid/terms#oidcIssuerX> <https://near-miss.example/> .
            <#me> solid:oidcIssuer <https://idp.example/> .
            <#me> solid:oidcIssuer <https://idp.example/> .
        "#;
        assert_eq!(
            issuers("text/turtle", body),
            Ok(vec!["https://idp.example/".to_owned()])
        );
        assert_eq!(
            issuers(
                "text/turtle",
                "<#me> <http://xmlns.com/foaf/0.1/name> 'Alice' ."
            ),
            Ok(Vec::new())
        );
        assert_eq!(issuers("text/turtle", ""), Ok(Vec::new()));
    }

    #[test]
    fn n_triples() {
        let body = format!("<{WEBID}> <{OIDC_ISSUER}> <https://idp.example/> .\n");
        assert_eq!(
            issuers("application/n-triples", &body),
            Ok(vec!["https://idp.example/".to_owned()])
        );
    }

    #[test]
    fn json_ld_compacted_with_a_context_object() {
        let body = r##"{
            "@context": {
                "solid": "http://www.w3.org/ns/solid/terms#",
                "oidcIssuer": { "@id": "solid:oidcIssuer", "@type": "@id" }
            },
            "@graph": [
                { "@id": "#me", "oidcIssuer": ["https://idp.example/", "/idp/"] },
                { "@id": "#bob", "oidcIssuer": "https://bobs-idp.example/" },
                { "@id": "#me", "solid:oidcIssuer": "https://a-literal.example/" }
            ]
        }"##;
        assert_eq!(
            issuers("application/ld+json", body),
            Ok(vec![
                "https://idp.example/".to_owned(),
                "https://alice.example/idp/".to_owned()
            ])
        );
        // Expanded, as Community Solid Server serves it.
        let expanded =
            format!(r#"[{{"@id":"{WEBID}","{OIDC_ISSUER}":[{{"@id":"https://idp.example/"}}]}}]"#);
        assert_eq!(
            issuers("application/ld+json", &expanded),
            Ok(vec!["https://idp.example/".to_owned()])
        );
        // Statements in a named graph are not the profile's own.
        let named = format!(
            r#"{{"@id":"https://elsewhere.example/g","@graph":[{{"@id":"{WEBID}","{OIDC_ISSUER}":{{"@id":"https://idp.example/"}}}}]}}"#
        );
        assert_eq!(issuers("application/ld+json", &named), Ok(Vec::new()));
    }

    #[test]
    fn a_remote_json_ld_context_is_never_fetched_and_says_so() {
        let body = r##"{"@context":"https://www.w3.org/ns/solid/context","@id":"#me","oidcIssuer":"https://idp.example/"}"##;
        let problem = issuers("application/ld+json", body).unwrap_err();
        assert!(
            problem.contains("remote @context, which is not fetched"),
            "{problem}"
        );
    }

    #[test]
    fn garbage_wrong_types_and_huge_documents_are_refused() {
        let cases = [
            (
                "text/turtle",
                "<#me> solid:oidcIssuer <https://idp/> .",
                "is not readable as Turtle",
            ),
            (
                "text/turtle",
                "\u{0}\u{1b}[2J garbage",
                "is not readable as Turtle",
            ),
            (
                "application/ld+json",
                "{\"@id\": ",
                "is not readable as JSON-LD",
            ),
            (
                "application/ld+json",
                "<html></html>",
                "is not readable as JSON-LD",
            ),
            (
                "application/n-triples",
                "<#me> <p> <o> .",
                "is not readable as N-Triples",
            ),
            (
                "text/html",
                "<html></html>",
                "was served as text/html, not as Turtle",
            ),
            ("application/json", "{}", "was served as application/json"),
        ];
        for (content_type, body, expected) in cases {
            let problem = issuers(content_type, body).unwrap_err();
            assert!(
                problem.contains(expected),
                "{content_type} {body}: {problem}"
            );
            assert!(
                !problem.contains('\u{1b}') && !problem.contains('\n'),
                "{problem}"
            );
        }
        let mut untyped = served("text/turtle", "");
        untyped.headers.clear();
        assert_eq!(
            issuers_in(&untyped, BASE, &[WEBID]),
            Err("was served without a content type".to_owned())
        );
        let huge = format!(
            "<#me> <{OIDC_ISSUER}> <https://idp.example/> .\n{}",
            "# padding\n".repeat(MAX_PROFILE_BYTES / 10 + 1)
        );
        assert_eq!(
            issuers("text/turtle", &huge),
            Err(format!("is larger than {MAX_PROFILE_BYTES} bytes"))
        );
    }

    #[test]
    fn json_depth_counts_brackets_outside_strings() {
        assert_eq!(json_depth(b"{}"), 1);
        assert_eq!(json_depth(br#"{"a":[{"b":"[[[{{"},[]]}"#), 3);
        assert_eq!(json_depth(br#"["\"[[[", [1]]"#), 2);
        assert_eq!(json_depth(b"]]]]["), 1);
        let nested = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH + 1),
            "]".repeat(MAX_JSON_DEPTH + 1)
        );
        assert_eq!(
            issuers("application/ld+json", &nested),
            Err(format!(
                "is JSON nested more than {MAX_JSON_DEPTH} levels deep"
            ))
        );
    }

    #[test]
    fn json_ld_nested_as_deep_as_allowed_is_read_on_a_small_stack() {
        let shapes = [
            ("[", "]"),
            ("{\"a\":", "}"),
            ("{\"@id\":\"#me\",\"p\":", "}"),
            ("[{\"k\":[", "]}]"),
        ];
        for (open, close) in shapes {
            let levels = open.matches(['[', '{']).count();
            let repeats = MAX_JSON_DEPTH / levels;
            let body = format!("{}1{}", open.repeat(repeats), close.repeat(repeats));
            assert!(json_depth(body.as_bytes()) <= MAX_JSON_DEPTH);
            // In this debug build (frames of ~90 KB a level), on a stack of 1 MiB: a quarter of
            // what a Node worker thread has by default, an eighth of the main thread's.
            let read = std::thread::Builder::new()
                .stack_size(1024 * 1024)
                .spawn(move || issuers("application/ld+json", &body).map(|_| ()))
                .expect("a thread")
                .join();
            assert!(
                read.is_ok(),
                "{open}: the stack overflowed or the reader panicked"
            );
        }
    }

    #[test]
    fn deep_nesting_is_read_or_refused_without_a_crash() {
        // Each document just under the size limit, so that the parser does read it.
        let fit = |unit: usize| (MAX_PROFILE_BYTES - 64) / unit;
        let lists = format!("<#me> <p> {}{} .", "(".repeat(fit(2)), ")".repeat(fit(2)));
        let blanks = format!(
            "<#me> <p> {}<o>{} .",
            "[ <p> ".repeat(fit(8)),
            " ]".repeat(fit(8))
        );
        let arrays = format!("{}{}", "[".repeat(fit(2)), "]".repeat(fit(2)));
        let unit = "{\"@id\":\"#me\",\"p\":";
        let depth = fit(unit.len() + 1);
        let objects = format!("{}1{}", unit.repeat(depth), "}".repeat(depth));
        for (content_type, body) in [
            ("text/turtle", &lists),
            ("text/turtle", &blanks),
            ("application/ld+json", &arrays),
            ("application/ld+json", &objects),
        ] {
            assert!(body.len() <= MAX_PROFILE_BYTES);
            let read = issuers(content_type, body);
            assert!(
                matches!(&read, Ok(found) if found.is_empty()) || read.is_err(),
                "{read:?}"
            );
        }
    }
}
