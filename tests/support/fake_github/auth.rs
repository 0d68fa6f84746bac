//! App authentication as GitHub checks it: an RS256 JWT signed with the App's private key buys
//! installation tokens, and installation tokens (valid one hour) authorise everything else.
//! The checks are as strict as GitHub's so that a JWT the App builds wrongly (clock skew,
//! `exp` too far out, wrong issuer) fails here before it fails in production.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::state::{AuthKind, State, Token, sha_like};

/// The credential a request presented in its `Authorization` header.
pub(super) enum Presented {
    None,
    Jwt(String),
    Token(String),
}

impl Presented {
    pub(super) fn parse(header: Option<&str>) -> Presented {
        let Some((scheme, credential)) = header.map(str::trim).and_then(|h| h.split_once(' '))
        else {
            return Presented::None;
        };
        let credential = credential.trim().to_string();
        if credential.is_empty() {
            return Presented::None;
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            if credential.split('.').count() == 3 {
                Presented::Jwt(credential)
            } else {
                Presented::Token(credential)
            }
        } else if scheme.eq_ignore_ascii_case("token") {
            Presented::Token(credential)
        } else {
            Presented::None
        }
    }

    pub(super) fn kind(&self) -> AuthKind {
        match self {
            Presented::None => AuthKind::None,
            Presented::Jwt(_) => AuthKind::Jwt,
            Presented::Token(_) => AuthKind::Token,
        }
    }
}

pub(super) const CANNOT_DECODE: &str = "A JSON web token could not be decoded";
const BAD_IAT: &str = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.";
const BAD_EXP: &str = "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.";
const EXP_TOO_FAR: &str = "'Expiration time' claim ('exp') is too far in the future.";

/// Verifies an App JWT the way GitHub does; the error is GitHub's message for the failure.
pub(super) fn verify_jwt(
    key: &DecodingKey,
    app_id: u64,
    jwt: &str,
    now: u64,
) -> Result<(), &'static str> {
    // Time claims are checked by hand below, with GitHub's rules rather than the library's.
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(jwt, key, &validation)
        .map_err(|_| CANNOT_DECODE)?
        .claims;

    // GitHub accepts the App id as a JSON number or as a string.
    let iss = match &claims["iss"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    if iss != Some(app_id) {
        return Err(CANNOT_DECODE);
    }
    let iat = claims["iat"].as_u64().ok_or(BAD_IAT)?;
    if iat > now + 60 {
        return Err(BAD_IAT);
    }
    let exp = claims["exp"].as_u64().ok_or(BAD_EXP)?;
    if exp <= now {
        return Err(BAD_EXP);
    }
    if exp.saturating_sub(iat) > 600 {
        return Err(EXP_TOO_FAR);
    }
    Ok(())
}

/// The installation a live token belongs to, or `None` if the token is unknown, expired or its
/// installation is gone.
pub(super) fn token_installation(st: &State, token: &str, now: u64) -> Option<u64> {
    let t = st.tokens.get(token)?;
    let live =
        !t.revoked && now < t.expires_at && st.installations.contains_key(&t.installation_id);
    live.then_some(t.installation_id)
}

/// Mints a token for an installation, valid for one hour as GitHub's are.
pub(super) fn issue_token(st: &mut State, installation_id: u64, now: u64) -> (String, u64) {
    let n = st.fresh_id(0);
    let token = format!(
        "ghs_{}",
        &sha_like(&format!("token {installation_id} {n}"))[..36]
    );
    let expires_at = now + 3600;
    st.tokens.insert(
        token.clone(),
        Token {
            installation_id,
            expires_at,
            revoked: false,
        },
    );
    (token, expires_at)
}
