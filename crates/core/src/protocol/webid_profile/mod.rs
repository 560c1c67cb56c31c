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
//! Every grant that ends logged in calls [`check_login`] before it stores anything, unless the
//! login turned the check off ([`WebIdCheck::Skip`]); a login by WebID finds its issuer with
//! [`choose_issuer`]. Failures are a [`WebIdError`] of their own, which the crate's `Error`
//! carries as `Error::WebId`: a profile is not the identity provider, so none of the other
//! variants words it right.

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
    /// A login by WebID without an issuer, and the profile names no identity provider to send
    /// the user to.
    #[error("the WebID profile of {} names no identity provider (solid:oidcIssuer) to log in with; pass one as oidcIssuer", quote::text(.webid))]
    NoIssuer { webid: String },
    /// A login by WebID without an issuer, and the profile names several: the login must say
    /// which.
    #[error("the WebID {} names {} identity providers (solid:oidcIssuer), so the login must say which one to use: pass it as oidcIssuer ({})", quote::text(.webid), .listed.len(), listed_text(.listed))]
    IssuerChoice {
        webid: String,
        /// The issuers the profile lists for the WebID, in document order.
        listed: Vec<String>,
    },
}

/// Whether a login checks that its WebID's profile names the provider that logged it in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WebIdCheck {
    /// The default: the login fails unless the profile lists the issuer.
    #[default]
    Verify,
    /// Turned off by the app (`verifyWebIdIssuer: false`), for providers whose users' profiles
    /// cannot be changed: whatever WebID the provider puts in its tokens is the session's.
    Skip,
}

impl WebIdCheck {
    /// The check an app's `verifyWebIdIssuer` option asks for: only `false` turns it off.
    pub fn from_option(verify: Option<bool>) -> Self {
        match verify {
            Some(false) => WebIdCheck::Skip,
            _ => WebIdCheck::Verify,
        }
    }
}

/// The check that ends a login, made before anything of it is stored: with [`WebIdCheck::Verify`],
/// the profile of `webid` must name `issuer` (the discovered issuer, which the tokens' `iss`
/// equals). The issuer the session record is marked with as verified; `None` when the check is
/// off, and the record must then carry no mark.
pub async fn check_login(
    cache: &WebIdCache,
    http: &dyn Http,
    now_ms: u64,
    check: WebIdCheck,
    webid: &str,
    issuer: &str,
) -> Result<Option<String>, WebIdError> {
    match check {
        WebIdCheck::Skip => Ok(None),
        WebIdCheck::Verify => {
            cache.verify(http, now_ms, webid, issuer).await?;
            Ok(Some(issuer.to_owned()))
        }
    }
}

/// The issuer a login by WebID sends the user to, from the issuers its profile `listed`: the one
/// there is; an error when there is none, or several (the login must then name one).
pub fn choose_issuer(webid: &str, listed: &[String]) -> Result<String, WebIdError> {
    match listed {
        [one] => Ok(one.clone()),
        [] => Err(WebIdError::NoIssuer {
            webid: webid.to_owned(),
        }),
        several => Err(WebIdError::IssuerChoice {
            webid: webid.to_owned(),
            listed: several.to_vec(),
        }),
    }
}

impl WebIdError {
    /// The WebID the error is about.
    pub fn webid(&self) -> &str {
        match self {
            WebIdError::Profile { webid, .. }
            | WebIdError::IssuerMismatch { webid, .. }
            | WebIdError::NoIssuer { webid }
            | WebIdError::IssuerChoice { webid, .. } => webid,
        }
    }
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
