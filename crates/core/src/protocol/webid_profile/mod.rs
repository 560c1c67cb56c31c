//! WebID profiles: which identity providers a WebID names as its own (`solid:oidcIssuer`), read
//! from the profile document, and the check that a token's issuer is one of them.
//!
//! Any identity provider can put any WebID in the tokens it issues; the profile is what says
//! which providers may speak for it. [`issuers_of`] fetches the profile through the HTTP seam
//! (no credentials, the identity-provider timeout of the host's engine, at most
//! [`MAX_PROFILE_BYTES`], redirects followed a few hops since a WebID often answers 303 with
//! its document elsewhere) and reads it with the Oxigraph project's parsers (`rdf`);
//! [`verify_issuer`] checks an issuer against what it found; [`WebIdCache`] keeps verified
//! (WebID, issuer) pairs for a while and makes concurrent lookups of one profile share a
//! request.
//!
//! Failures are a [`WebIdError`] of their own, not one of the crate's `Error` variants yet:
//! a profile is not the identity provider, so none of the existing variants words it right, and
//! each new variant needs its JS code in the binding.

mod cache;
mod rdf;

#[cfg(test)]
mod properties;

pub use cache::{WebIdCache, MAX_VERIFIED, VERIFIED_LIFETIME_MS};

use crate::http::{Http, HttpFailure, HttpRequest, HttpResponse};
use crate::quote;

/// The predicate a profile names its WebID's identity providers with.
pub const OIDC_ISSUER: &str = "http://www.w3.org/ns/solid/terms#oidcIssuer";
/// What a profile request asks for: Turtle first, which every Solid server serves, then the
/// other formats `rdf` reads.
pub const ACCEPT: &str = "text/turtle, application/ld+json;q=0.9, application/n-triples;q=0.8";
/// A profile larger than this is refused unread: profiles are a few kilobytes, and the document
/// is parsed on the thread that runs JS.
pub const MAX_PROFILE_BYTES: usize = 1024 * 1024;
/// How many redirects a profile request follows (a WebID answering 303 See Other with its
/// document's URL is the common one).
pub const MAX_REDIRECTS: usize = 4;
/// More identity providers than this for one WebID is not a profile anyone wrote by hand; it is
/// refused rather than kept.
pub const MAX_ISSUERS: usize = 64;
/// How many listed issuers an error message names.
const ISSUERS_SHOWN: usize = 5;

/// Why a WebID's identity providers could not be found, or do not include an issuer. Messages
/// name the WebID and what went wrong, and quote outside text only through `quote`; a profile
/// is public, and no request for one carries a credential, so there is nothing secret to leave
/// out beyond what `quote` already does.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebIdError {
    /// The profile could not be read: the WebID is not a URL a request can go to, the request
    /// failed or was refused, or the answer is not an RDF document this crate reads. A check
    /// fails closed on it.
    #[error("the WebID profile of {} could not be read: {}", quote::text(.webid), quote::reason(.problem))]
    Profile { webid: String, problem: String },
    /// The profile does not name the issuer as an identity provider of the WebID.
    #[error("the WebID {} does not name {} as its identity provider (solid:oidcIssuer): {}", quote::text(.webid), quote::text(.issuer), listed_text(.listed))]
    IssuerMismatch {
        webid: String,
        issuer: String,
        /// The issuers the profile lists for the WebID, in document order.
        listed: Vec<String>,
    },
}

impl WebIdError {
    fn profile(webid: &str, problem: impl Into<String>) -> Self {
        WebIdError::Profile {
            webid: webid.to_owned(),
            problem: problem.into(),
        }
    }
}

fn listed_text(listed: &[String]) -> String {
    if listed.is_empty() {
        return "its profile lists none".to_owned();
    }
    let shown: Vec<String> = listed
        .iter()
        .take(ISSUERS_SHOWN)
        .map(|issuer| quote::text(issuer))
        .collect();
    let more = listed.len().saturating_sub(ISSUERS_SHOWN);
    let rest = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("its profile lists {}{rest}", shown.join(", "))
}

/// Whether two issuer URLs are the same issuer: equal but for a trailing slash (a provider's
/// `iss` and what a profile lists often differ by one).
pub fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Whether `issuer` is among the issuers `listed` for `webid`; if not, the error naming all three.
pub fn verify_issuer(webid: &str, issuer: &str, listed: &[String]) -> Result<(), WebIdError> {
    if listed.iter().any(|l| same_issuer(l, issuer)) {
        return Ok(());
    }
    Err(WebIdError::IssuerMismatch {
        webid: webid.to_owned(),
        issuer: issuer.to_owned(),
        listed: listed.to_vec(),
    })
}

/// A WebID as a profile request needs it: the URL of its document (the WebID without its
/// fragment) and the names the profile may give it as a subject (as written, and as a URL
/// parser writes it).
struct WebId {
    document: url::Url,
    names: Vec<String>,
}

impl WebId {
    fn parse(webid: &str) -> Result<Self, WebIdError> {
        // A URL parser drops tabs and line breaks; a WebID holding them is not what it seems.
        if webid.chars().any(char::is_control) {
            return Err(WebIdError::profile(
                webid,
                "the WebID holds control characters",
            ));
        }
        let parsed = url::Url::parse(webid)
            .map_err(|_| WebIdError::profile(webid, "the WebID is not a URL"))?;
        check_fetchable(&parsed)
            .map_err(|problem| WebIdError::profile(webid, format!("the WebID {problem}")))?;
        let mut names = vec![webid.to_owned()];
        if parsed.as_str() != webid {
            names.push(parsed.as_str().to_owned());
        }
        let mut document = parsed;
        document.set_fragment(None);
        Ok(Self { document, names })
    }
}

/// Why no profile request may go to `url`, if none may: only http and https, and no user name or
/// password (it would be sent as Basic authentication, and a profile request carries none).
fn check_fetchable(url: &url::Url) -> Result<(), &'static str> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err("is not an http or https URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("carries a user name or password");
    }
    Ok(())
}

/// The identity providers the profile of `webid` names for it (`<webid> solid:oidcIssuer ?o`,
/// each `?o` that is an IRI), in document order, without repeats. An empty list is an answer:
/// the profile names none.
pub async fn issuers_of(http: &dyn Http, webid: &str) -> Result<Vec<String>, WebIdError> {
    let parsed = WebId::parse(webid)?;
    let (document_url, response) = fetch(http, webid, parsed.document).await?;
    let names: Vec<&str> = parsed.names.iter().map(String::as_str).collect();
    let issuers = rdf::issuers_in(&response, document_url.as_str(), &names)
        .map_err(|problem| WebIdError::profile(webid, located(&document_url, &problem)))?;
    if issuers.len() > MAX_ISSUERS {
        return Err(WebIdError::profile(
            webid,
            format!("the profile lists more than {MAX_ISSUERS} identity providers"),
        ));
    }
    Ok(issuers)
}

/// `problem`, naming the document's URL (a redirect may have led elsewhere).
fn located(url: &url::Url, problem: &str) -> String {
    format!("{} {problem}", quote::text(url.as_str()))
}

/// GETs the profile document at `url`, following redirects: the URL the document came from and
/// the answer.
async fn fetch(
    http: &dyn Http,
    webid: &str,
    mut url: url::Url,
) -> Result<(url::Url, HttpResponse), WebIdError> {
    for _ in 0..=MAX_REDIRECTS {
        // A request of our own making: no cookie, no authorization, no DPoP proof.
        let request = HttpRequest::get(url.as_str()).header("accept", ACCEPT);
        let response = http
            .send(request)
            .await
            .map_err(|failure| WebIdError::profile(webid, unanswered(&url, failure)))?;
        match response.status {
            200 => return Ok((url, response)),
            301 | 302 | 303 | 307 | 308 => url = redirect_target(webid, &url, &response)?,
            status => {
                return Err(WebIdError::profile(
                    webid,
                    located(&url, &format!("answered HTTP {status}, expected 200")),
                ))
            }
        }
    }
    Err(WebIdError::profile(
        webid,
        format!("the profile request was redirected more than {MAX_REDIRECTS} times"),
    ))
}

/// Where a redirect from `url` leads, if a profile request may go there.
fn redirect_target(
    webid: &str,
    url: &url::Url,
    response: &HttpResponse,
) -> Result<url::Url, WebIdError> {
    let refuse = |problem: &str| WebIdError::profile(webid, located(url, problem));
    let location = response.header("location").ok_or_else(|| {
        refuse(&format!(
            "answered HTTP {} without a Location",
            response.status
        ))
    })?;
    if location.chars().any(char::is_control) {
        return Err(refuse(
            "redirected to a Location holding control characters",
        ));
    }
    let mut target = url
        .join(location)
        .map_err(|_| refuse("redirected to a Location that is not a URL"))?;
    check_fetchable(&target).map_err(|problem| {
        refuse(&format!(
            "redirected to {}, which {problem}",
            quote::text(target.as_str())
        ))
    })?;
    target.set_fragment(None);
    Ok(target)
}

/// What a profile request that got no answer met, in words.
fn unanswered(url: &url::Url, failure: HttpFailure) -> String {
    let url = quote::text(url.as_str());
    match failure {
        HttpFailure::Unreachable(reason) => {
            format!("{url} could not be reached: {}", quote::text(&reason))
        }
        HttpFailure::TimedOut(millis) => format!("{url} did not answer within {millis} ms"),
        HttpFailure::Invalid(reason) => {
            format!(
                "no request could be made to {url}: {}",
                quote::text(&reason)
            )
        }
        HttpFailure::Blocked {
            host,
            resolved,
            kind,
        } => format!(
            "{url} was not fetched: {} {} {kind}, and requests to private networks are blocked",
            quote::text(&host),
            if resolved { "resolves to" } else { "is" },
        ),
    }
}

#[cfg(test)]
mod tests;
