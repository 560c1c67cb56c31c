//! WebID profiles served in process, behind the HTTP seam: what the WebID profile tests read
//! instead of a Solid server's.
//!
//! Each URL (a document's, without fragment) answers as a test set it: a document with its
//! content type, a redirect, a status, or no answer at all; any other URL answers 404. Every
//! request is kept, so tests count them and see their headers. [`WithIdp`] puts these profiles
//! beside the provider in process (`fake_idp`), so that a login's requests to either are answered.

// A test helper: a panic is how it fails a test.
#![allow(clippy::missing_panics_doc)]

use std::cell::RefCell;
use std::collections::HashMap;

use super::fake_idp::{FakeIdp, ISSUER, WEB_ID};
use crate::http::{Http, HttpFailure, HttpRequest, HttpResponse};

/// How one URL answers.
#[derive(Clone, Debug)]
pub enum Answer {
    /// 200 with this body, served as this content type.
    Document {
        content_type: &'static str,
        body: String,
    },
    /// A redirect (`status`) to `location`.
    Redirect { status: u16, location: String },
    /// This status and an empty body.
    Status(u16),
    /// No answer: the host could not connect.
    Unreachable,
    /// No answer within the host's limit, in milliseconds.
    TimedOut(u64),
}

/// The profiles, and the requests they received.
#[derive(Default)]
pub struct Profiles {
    answers: RefCell<HashMap<String, Answer>>,
    seen: RefCell<Vec<HttpRequest>>,
}

/// The Turtle profile of `webid`'s document, naming `issuers` as its identity providers, with the
/// WebID written relative to the document.
pub fn turtle_profile(webid: &str, issuers: &[&str]) -> String {
    let fragment = webid.split_once('#').map_or("", |(_, f)| f);
    let objects: Vec<String> = issuers.iter().map(|i| format!("<{i}>")).collect();
    let mut body = String::from(
        "@prefix foaf: <http://xmlns.com/foaf/0.1/> .\n\
         @prefix solid: <http://www.w3.org/ns/solid/terms#> .\n\
         <> a foaf:PersonalProfileDocument; foaf:primaryTopic <#",
    );
    body.push_str(fragment);
    body.push_str("> .\n<#");
    body.push_str(fragment);
    body.push_str("> a foaf:Person");
    if !objects.is_empty() {
        body.push_str(";\n  solid:oidcIssuer ");
        body.push_str(&objects.join(", "));
    }
    body.push_str(" .\n");
    body
}

/// A document URL: the WebID without its fragment.
pub fn document_of(webid: &str) -> &str {
    webid
        .split_once('#')
        .map_or(webid, |(document, _)| document)
}

impl Profiles {
    pub fn new() -> Self {
        Self::default()
    }

    /// Profiles where the fake provider's WebID (`fake_idp::WEB_ID`) names the fake provider.
    pub fn for_fake_idp() -> Self {
        let profiles = Self::new();
        profiles.serve_turtle(WEB_ID, &[ISSUER]);
        profiles
    }

    /// Makes `url` answer so from now on.
    pub fn answer(&self, url: &str, answer: Answer) {
        self.answers.borrow_mut().insert(url.to_owned(), answer);
    }

    /// Serves the Turtle profile of `webid` naming `issuers`, at its document's URL.
    pub fn serve_turtle(&self, webid: &str, issuers: &[&str]) {
        self.answer(
            document_of(webid),
            Answer::Document {
                content_type: "text/turtle",
                body: turtle_profile(webid, issuers),
            },
        );
    }

    /// Every request received, in order.
    pub fn seen(&self) -> Vec<HttpRequest> {
        self.seen.borrow().clone()
    }

    /// How many requests `url` received.
    pub fn requests_to(&self, url: &str) -> usize {
        self.seen.borrow().iter().filter(|r| r.url == url).count()
    }
}

#[async_trait::async_trait(?Send)]
impl Http for Profiles {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        self.seen.borrow_mut().push(request.clone());
        let answer = self.answers.borrow().get(&request.url).cloned();
        let (status, headers, body) = match answer {
            None => (404, Vec::new(), String::new()),
            Some(Answer::Document { content_type, body }) => (
                200,
                vec![("content-type".to_owned(), content_type.to_owned())],
                body,
            ),
            Some(Answer::Redirect { status, location }) => (
                status,
                vec![("location".to_owned(), location)],
                String::new(),
            ),
            Some(Answer::Status(status)) => (status, Vec::new(), String::new()),
            Some(Answer::Unreachable) => {
                return Err(HttpFailure::Unreachable("connection refused".to_owned()))
            }
            Some(Answer::TimedOut(millis)) => return Err(HttpFailure::TimedOut(millis)),
        };
        Ok(HttpResponse {
            status,
            headers,
            body: body.into_bytes(),
        })
    }
}

/// The provider in process and the profiles, as one host: requests to the provider's URLs go to
/// it, every other to the profiles.
pub struct WithIdp<'a> {
    pub idp: &'a FakeIdp,
    pub profiles: &'a Profiles,
}

#[async_trait::async_trait(?Send)]
impl Http for WithIdp<'_> {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        if request.url.starts_with(ISSUER) {
            self.idp.send(request).await
        } else {
            self.profiles.send(request).await
        }
    }
}
