//! The names of the fields of a session record (and of the `state` mapping record): every name
//! this package reads or writes, and the reference's that it only carries through.

// The reference's fields.
pub const ISSUER: &str = "issuer";
pub const CLIENT_ID: &str = "clientId";
pub const CLIENT_SECRET: &str = "clientSecret";
pub const CLIENT_NAME: &str = "clientName";
/// `static`, `dynamic` or `solid-oidc` (a Client ID document).
pub const CLIENT_TYPE: &str = "clientType";
/// When a dynamically registered client's secret expires (seconds; `0`: never).
pub const CLIENT_SECRET_EXPIRES_AT: &str = "expiresAt";
pub const ID_TOKEN_SIGNED_RESPONSE_ALG: &str = "idTokenSignedResponseAlg";
pub const REDIRECT_URL: &str = "redirectUrl";
pub const DPOP: &str = "dpop";
pub const KEEP_ALIVE: &str = "keepAlive";
pub const CLIENT_APP_ID: &str = "clientAppId";
pub const WEB_ID: &str = "webId";
pub const IS_LOGGED_IN: &str = "isLoggedIn";
pub const REFRESH_TOKEN: &str = "refreshToken";
pub const PUBLIC_KEY: &str = "publicKey";
pub const PRIVATE_KEY: &str = "privateKey";
pub const CODE_VERIFIER: &str = "codeVerifier";
/// The one field of the record stored under an OAuth `state`: the session it belongs to.
pub const SESSION_ID: &str = "sessionId";

// Our own (the reference carries unknown fields through its merges). The latest access
// token, its type, and when it expires and was stored (ms since the epoch): with them, a
// restore within the token's lifetime sends nothing to the provider.
pub const ACCESS_TOKEN: &str = "accessToken";
pub const ACCESS_TOKEN_TYPE: &str = "accessTokenType";
pub const ACCESS_TOKEN_EXPIRES_AT: &str = "accessTokenExpiresAt";
pub const ACCESS_TOKEN_ISSUED_AT: &str = "accessTokenIssuedAt";
/// The latest ID token, so that a session restored with its stored access token can still
/// hand the provider an `id_token_hint` at an IdP logout.
pub const ID_TOKEN: &str = "idToken";
/// A JSON array (as a string, like every value) of the OAuth `state` values whose mapping
/// records point at this session. `IStorage` cannot list keys, so this is how clearing a
/// session finds them in a store implemented in JS.
pub const AUTHORIZATION_STATES: &str = "authorizationStates";
/// The issuer the session's WebID profile was found to name (`solid:oidcIssuer`) when this
/// package logged it in. A record without it (the reference's, or one logged in with the check
/// off) has a WebID nobody checked; a restore checks it once, then writes it.
pub const WEB_ID_VERIFIED_ISSUER: &str = "webIdVerifiedIssuer";

// The reference's, which this package carries through but does not read.
pub const CLIENT_APP_SECRET: &str = "clientAppSecret";
pub const CLIENT_EXPIRES_AT: &str = "clientExpiresAt";
pub const EXPIRATION_DATE: &str = "expirationDate";
pub const TOKEN_TYPE: &str = "tokenType";

/// Every name above: a record's `Debug` prints the names of these and hides any other (a name
/// it does not know is stored data like the values).
pub const ALL: &[&str] = &[
    ISSUER,
    CLIENT_ID,
    CLIENT_SECRET,
    CLIENT_NAME,
    CLIENT_TYPE,
    CLIENT_SECRET_EXPIRES_AT,
    ID_TOKEN_SIGNED_RESPONSE_ALG,
    REDIRECT_URL,
    DPOP,
    KEEP_ALIVE,
    CLIENT_APP_ID,
    WEB_ID,
    IS_LOGGED_IN,
    REFRESH_TOKEN,
    PUBLIC_KEY,
    PRIVATE_KEY,
    CODE_VERIFIER,
    SESSION_ID,
    ACCESS_TOKEN,
    ACCESS_TOKEN_TYPE,
    ACCESS_TOKEN_EXPIRES_AT,
    ACCESS_TOKEN_ISSUED_AT,
    ID_TOKEN,
    AUTHORIZATION_STATES,
    WEB_ID_VERIFIED_ISSUER,
    CLIENT_APP_SECRET,
    CLIENT_EXPIRES_AT,
    EXPIRATION_DATE,
    TOKEN_TYPE,
];
