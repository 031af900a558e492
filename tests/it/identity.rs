//! Verified identity (JWT mode): the resolver on its own (valid HS256 / RS256 / ES256 tokens;
//! expired, wrongly signed, wrong audience or issuer, `alg: none`, algorithm confusion), the
//! `[identity]` config section, and the gateway binary over real sockets: a forged
//! `x-tenant-id` cannot change the tenant, the upstream never sees client-sent identity, and a
//! missing or invalid token is a 401 problem that reaches no upstream.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use raigate::context::{
    ContextResolver, JwtAlgorithm, JwtKey, JwtKeyError, JwtResolver, RequestContext, ResolveError,
    ResolveErrorKind,
};
use raigate::gateway::{GatewayConfig, GatewayConfigError};
use serde_json::{Value, json};

const ISS: &str = "https://auth.example.com/";
const AUD: &str = "raigate";
const SECRET: &[u8] = b"test-only hs256 secret, 32+ bytes long";
const CHAT: &str = "/v1/chat/completions";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_path("tests/fixtures/jwt").join(name)).unwrap()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

/// Valid claims for `tenant`, user `user-1`, valid for five minutes.
fn claims(tenant: &str) -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "user-1", "tenant_id": tenant, "iat": now(), "exp": now() + 300})
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    encode(&Header::new(alg), claims, key).unwrap()
}

fn hs256(claims: &Value) -> String {
    sign(Algorithm::HS256, &EncodingKey::from_secret(SECRET).unwrap(), claims)
}

/// An RSA signing key from a PKCS#8 PEM fixture (jsonwebtoken takes PKCS#1 DER).
fn rsa_key(name: &str) -> EncodingKey {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    let pem = String::from_utf8(fixture(name)).unwrap();
    let key = rsa::PrivateKey::from_pkcs8_pem(&pem).unwrap();
    EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
}

/// A P-256 signing key from a PKCS#8 PEM fixture (jsonwebtoken takes PKCS#8 DER).
fn ec_key(name: &str) -> EncodingKey {
    use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
    let pem = String::from_utf8(fixture(name)).unwrap();
    let key = p256::SecretKey::from_pkcs8_pem(&pem).unwrap();
    EncodingKey::from_ec_der(key.to_pkcs8_der().unwrap().as_bytes())
}

fn rs256(claims: &Value) -> String {
    sign(Algorithm::RS256, &rsa_key("rs256-private.pem"), claims)
}

fn rs256_other(claims: &Value) -> String {
    sign(
        Algorithm::RS256,
        &rsa_key("rs256-other-private.pem"),
        claims,
    )
}

fn es256(claims: &Value) -> String {
    sign(Algorithm::ES256, &ec_key("es256-private.pem"), claims)
}

fn es256_other(claims: &Value) -> String {
    sign(Algorithm::ES256, &ec_key("es256-other-private.pem"), claims)
}

fn b64(bytes: &[u8]) -> String {
    // base64url without padding, enough for tests.
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// An unsigned token: `{"alg":"none"}`, empty signature.
fn alg_none(claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    )
}

/// The RS256 public key used as an HS256 secret: the classic algorithm-confusion forgery.
fn hs256_with_public_key(claims: &Value) -> String {
    let key = EncodingKey::from_secret(&fixture("rs256-public.pem")).unwrap();
    sign(Algorithm::HS256, &key, claims)
}

fn hs_resolver() -> JwtResolver {
    JwtResolver::new(JwtKey::hs256(SECRET).unwrap(), ISS, AUD)
}

fn rs_resolver() -> JwtResolver {
    let key = JwtKey::rs256_pem(&fixture("rs256-public.pem")).unwrap();
    JwtResolver::new(key, ISS, AUD)
}

fn es_resolver() -> JwtResolver {
    let key = JwtKey::es256_pem(&fixture("es256-public.pem")).unwrap();
    JwtResolver::new(key, ISS, AUD)
}

fn parts(headers: &[(&str, &str)]) -> http::request::Parts {
    let mut req = http::Request::builder().method("POST").uri(CHAT);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(()).unwrap().into_parts().0
}

fn resolve(
    r: &JwtResolver,
    token: &str,
    extra: &[(&str, &str)],
) -> Result<RequestContext, ResolveError> {
    let auth = format!("Bearer {token}");
    let mut h = vec![("authorization", auth.as_str())];
    h.extend_from_slice(extra);
    r.resolve(&parts(&h))
}

#[track_caller]
fn rejected(r: Result<RequestContext, ResolveError>, why: &str) -> ResolveError {
    let e = r.expect_err(why);
    assert_eq!(e.kind, ResolveErrorKind::Unauthenticated, "{why}: {e}");
    assert!(e.is_unauthenticated());
    assert_eq!(e.header, "authorization");
    e
}

#[test]
fn valid_tokens_of_every_algorithm_give_tenant_and_user() {
    let c = claims("acme");
    let declared = [
        ("x-ai-purpose", "content-moderation"),
        ("x-data-class", "public"),
    ];
    for (r, token) in [
        (hs_resolver(), hs256(&c)),
        (rs_resolver(), rs256(&c)),
        (es_resolver(), es256(&c)),
    ] {
        let ctx =
            resolve(&r, &token, &declared).unwrap_or_else(|e| panic!("{}: {e}", r.algorithm()));
        assert_eq!(ctx.tenant.as_deref(), Some("acme"));
        assert_eq!(ctx.user.as_deref(), Some("user-1"));
        // The other items still come from the headers, parsed the same way.
        assert_eq!(ctx.purpose.as_deref(), Some("content-moderation"));
        assert_eq!(ctx.data_class.as_str(), "public");
    }
    // `sub` is optional; the scheme is case-insensitive; `aud` may be a list.
    let c = with(without(claims("acme"), "sub"), "aud", json!(["other", AUD]));
    let ctx = rs_resolver()
        .resolve(&parts(&[(
            "authorization",
            &format!("bearer {}", rs256(&c)),
        )]))
        .unwrap();
    assert_eq!((ctx.tenant.as_deref(), ctx.user), (Some("acme"), None));
}

#[test]
fn a_forged_tenant_header_does_not_change_the_tenant_and_is_stripped() {
    let r = rs_resolver();
    let token = rs256(&claims("hooli"));
    let forged = [("x-tenant-id", "acme"), ("x-user-id", "mallory")];
    let ctx = resolve(&r, &token, &forged).unwrap();
    assert_eq!(ctx.tenant.as_deref(), Some("hooli"));
    assert_eq!(ctx.user.as_deref(), Some("user-1"));

    let auth = format!("Bearer {token}");
    let mut p = parts(&[
        ("authorization", &auth),
        ("x-tenant-id", "acme"),
        ("x-tenant-id", "initech"),
        ("x-user-id", "mallory"),
        ("x-ai-purpose", "content-moderation"),
    ]);
    r.strip(&mut p);
    assert!(p.headers.get("x-tenant-id").is_none());
    assert!(p.headers.get("x-user-id").is_none());
    assert_eq!(p.headers.get("authorization").unwrap(), auth.as_str());
    assert!(p.headers.get("x-ai-purpose").is_some());

    // Without a token, the header alone is worth nothing.
    let e = r.resolve(&parts(&[("x-tenant-id", "acme")])).unwrap_err();
    assert_eq!(e.kind, ResolveErrorKind::MissingCredentials);
}

#[test]
fn expired_and_not_yet_valid_tokens_are_unauthenticated() {
    let r = rs_resolver();
    let e = rejected(
        resolve(
            &r,
            &rs256(&with(claims("acme"), "exp", json!(now() - 120))),
            &[],
        ),
        "expired",
    );
    assert!(e.reason.contains("expired"), "{e}");
    // Within the 30 s leeway: accepted.
    resolve(
        &r,
        &rs256(&with(claims("acme"), "exp", json!(now() - 5))),
        &[],
    )
    .unwrap();
    // A stricter leeway refuses it.
    let strict = rs_resolver().leeway(std::time::Duration::ZERO);
    rejected(
        resolve(
            &strict,
            &rs256(&with(claims("acme"), "exp", json!(now() - 5))),
            &[],
        ),
        "expired, no leeway",
    );
    rejected(
        resolve(
            &r,
            &rs256(&with(claims("acme"), "nbf", json!(now() + 600))),
            &[],
        ),
        "not before",
    );
    let e = rejected(
        resolve(&r, &rs256(&without(claims("acme"), "exp")), &[]),
        "no exp",
    );
    assert!(e.reason.contains("`exp`"), "{e}");
}

#[test]
fn wrongly_signed_tokens_are_unauthenticated() {
    let c = claims("acme");
    let e = rejected(
        resolve(&rs_resolver(), &rs256_other(&c), &[]),
        "other RSA key",
    );
    assert!(e.reason.contains("signature"), "{e}");
    rejected(
        resolve(&es_resolver(), &es256_other(&c), &[]),
        "other EC key",
    );
    let other = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"another secret, also 32 bytes long!!").unwrap(),
        &c,
    );
    rejected(resolve(&hs_resolver(), &other, &[]), "other secret");

    // A valid token whose payload was swapped for another tenant's.
    let good = rs256(&claims("hooli"));
    let forged_payload = b64(claims("acme").to_string().as_bytes());
    let mut pieces: Vec<&str> = good.split('.').collect();
    pieces[1] = &forged_payload;
    rejected(
        resolve(&rs_resolver(), &pieces.join("."), &[]),
        "tampered payload",
    );
}

#[test]
fn wrong_audience_or_issuer_is_unauthenticated() {
    let r = rs_resolver();
    let e = rejected(
        resolve(
            &r,
            &rs256(&with(claims("acme"), "aud", json!("someone-else"))),
            &[],
        ),
        "wrong audience",
    );
    assert!(e.reason.contains("audience"), "{e}");
    rejected(
        resolve(&r, &rs256(&without(claims("acme"), "aud")), &[]),
        "no audience",
    );
    let e = rejected(
        resolve(
            &r,
            &rs256(&with(claims("acme"), "iss", json!("https://evil.example/"))),
            &[],
        ),
        "wrong issuer",
    );
    assert!(e.reason.contains("issuer"), "{e}");
    rejected(
        resolve(&r, &rs256(&without(claims("acme"), "iss")), &[]),
        "no issuer",
    );
}

#[test]
fn alg_none_and_algorithm_confusion_are_refused() {
    let c = claims("acme");
    for r in [hs_resolver(), rs_resolver(), es_resolver()] {
        rejected(resolve(&r, &alg_none(&c), &[]), "alg none");
    }
    // The RS256 public key (which is public) used as an HS256 secret.
    let e = rejected(
        resolve(&rs_resolver(), &hs256_with_public_key(&c), &[]),
        "HS256 signed with the RS256 public key",
    );
    assert!(e.reason.contains("RS256"), "{e}");
    // Every other cross-algorithm pairing.
    rejected(
        resolve(&rs_resolver(), &es256(&c), &[]),
        "ES256 token, RS256 key",
    );
    rejected(
        resolve(&es_resolver(), &rs256(&c), &[]),
        "RS256 token, ES256 key",
    );
    rejected(
        resolve(&hs_resolver(), &rs256(&c), &[]),
        "RS256 token, HS256 key",
    );
    rejected(
        resolve(&rs_resolver(), &hs256(&c), &[]),
        "HS256 token, RS256 key",
    );
}

#[test]
fn missing_or_malformed_credentials() {
    let r = hs_resolver();
    let e = r.resolve(&parts(&[])).unwrap_err();
    assert_eq!(e.kind, ResolveErrorKind::MissingCredentials);
    assert!(e.is_unauthenticated());
    let token = hs256(&claims("acme"));
    for bad in [
        format!("Basic {token}"),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer not a jwt".to_owned(),
        "Bearer a.b.c".to_owned(),
        format!("Bearer {}", "a".repeat(9000)),
    ] {
        rejected(r.resolve(&parts(&[("authorization", &bad)])), &bad);
    }
    let auth = format!("Bearer {token}");
    rejected(
        r.resolve(&parts(&[
            ("authorization", &auth),
            ("authorization", &auth),
        ])),
        "two authorization headers",
    );
    // A bad declared header is still malformed (400), once the token is good.
    let e = resolve(&r, &token, &[("x-data-class", "secret")]).unwrap_err();
    assert_eq!(e.kind, ResolveErrorKind::Malformed);
    // ... but the token is checked first.
    let e = r
        .resolve(&parts(&[("x-data-class", "secret")]))
        .unwrap_err();
    assert_eq!(e.kind, ResolveErrorKind::MissingCredentials);
}

#[test]
fn the_tenant_claim_must_be_a_valid_tenant_id() {
    let r = hs_resolver();
    let e = rejected(
        resolve(&r, &hs256(&without(claims("acme"), "tenant_id")), &[]),
        "no claim",
    );
    assert!(e.reason.contains("tenant_id"), "{e}");
    for bad in [
        json!(""),
        json!(42),
        json!(["acme"]),
        json!("acme corp"),
        json!("a".repeat(200)),
    ] {
        rejected(
            resolve(
                &r,
                &hs256(&with(claims("acme"), "tenant_id", bad.clone())),
                &[],
            ),
            &bad.to_string(),
        );
    }
    rejected(
        resolve(&r, &hs256(&with(claims("acme"), "sub", json!(7))), &[]),
        "numeric sub",
    );
    // A custom claim name; the default one is then ignored.
    let custom = hs_resolver().tenant_claim("org");
    let c = with(claims("acme"), "org", json!("globex"));
    assert_eq!(
        resolve(&custom, &hs256(&c), &[]).unwrap().tenant.as_deref(),
        Some("globex")
    );
    rejected(
        resolve(&custom, &hs256(&claims("acme")), &[]),
        "custom claim missing",
    );
}

#[test]
fn unusable_keys_are_refused_up_front() {
    assert_eq!(
        JwtKey::hs256(b"short").unwrap_err(),
        JwtKeyError::SecretTooShort(5)
    );
    let private = fixture("rs256-private.pem");
    assert!(matches!(
        JwtKey::rs256_pem(&private),
        Err(JwtKeyError::BadPublicKey { .. })
    ));
    assert!(
        JwtKey::rs256_pem(&fixture("es256-public.pem")).is_err(),
        "EC key as RSA"
    );
    assert!(
        JwtKey::es256_pem(&fixture("rs256-public.pem")).is_err(),
        "RSA key as EC"
    );
    assert!(
        JwtKey::es256_pem(&fixture("es384-public.pem")).is_err(),
        "P-384 key as ES256"
    );
    assert!(JwtKey::es256_pem(b"not pem").is_err());
    assert_eq!(
        JwtKey::public_key_pem(JwtAlgorithm::Hs256, &fixture("rs256-public.pem")).unwrap_err(),
        JwtKeyError::SecretExpected
    );
    assert_eq!(JwtAlgorithm::parse("none"), None);
    assert_eq!(JwtAlgorithm::parse("RS256"), Some(JwtAlgorithm::Rs256));
}

// ---- the [identity] config section ----

const BASE: &str = "[server]\nregion = \"eu-central-1\"\n";

fn config(dir: &Path, identity: &str) -> Result<GatewayConfig, GatewayConfigError> {
    let text = format!("{BASE}\n[identity]\n{identity}\n");
    GatewayConfig::parse(&text, &dir.join("raigate.toml"), dir)
}

/// The key named by the error building the resolver (or parsing the file).
fn config_error(dir: &Path, identity: &str) -> String {
    let err = match config(dir, identity) {
        Err(e) => e,
        Ok(c) => c
            .identity
            .jwt_resolver(&c.file)
            .err()
            .unwrap_or_else(|| panic!("accepted: {identity}")),
    };
    match &err {
        GatewayConfigError::Invalid { key, .. } => key.clone(),
        other => other.to_string(),
    }
}

#[test]
fn identity_config_is_validated_with_errors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("jwt.secret"), [SECRET, b"\n"].concat()).unwrap();
    std::fs::write(d.join("short.secret"), b"too short\n").unwrap();
    std::fs::copy(
        repo_path("tests/fixtures/jwt/es256-public.pem"),
        d.join("es.pem"),
    )
    .unwrap();

    // Default: headers; no resolver.
    let c = GatewayConfig::parse(BASE, &d.join("raigate.toml"), d).unwrap();
    assert!(c.identity.jwt_resolver(&c.file).unwrap().is_none());

    // Relative paths resolve against the config file's directory.
    let ok = "mode = \"jwt\"\nissuer = \"i\"\naudience = \"a\"\nalgorithm = \"HS256\"\nsecret_file = \"jwt.secret\"";
    let c = config(d, ok).unwrap();
    assert_eq!(
        c.identity.secret_file.as_deref(),
        Some(d.join("jwt.secret").as_path())
    );
    let r = c.identity.jwt_resolver(&c.file).unwrap().unwrap();
    assert_eq!(r.algorithm(), JwtAlgorithm::Hs256);
    let es = "mode = \"jwt\"\nissuer = \"i\"\naudience = \"a\"\nalgorithm = \"ES256\"\npublic_key_file = \"es.pem\"\ntenant_claim = \"org\"\nleeway_seconds = 5";
    let c = config(d, es).unwrap();
    assert_eq!(
        c.identity
            .jwt_resolver(&c.file)
            .unwrap()
            .unwrap()
            .algorithm(),
        JwtAlgorithm::Es256
    );

    let jwt = "mode = \"jwt\"\nissuer = \"i\"\naudience = \"a\"\n";
    for (identity, key) in [
        ("mode = \"headers\"\nissuer = \"i\"", "identity.issuer"),
        ("tenant_claim = \"org\"", "identity.tenant_claim"),
        (
            "mode = \"jwt\"\naudience = \"a\"\nalgorithm = \"HS256\"\nsecret_file = \"jwt.secret\"",
            "identity.issuer",
        ),
        (
            "mode = \"jwt\"\nissuer = \"i\"\nalgorithm = \"HS256\"\nsecret_file = \"jwt.secret\"",
            "identity.audience",
        ),
        (
            &format!("{jwt}secret_file = \"jwt.secret\""),
            "identity.algorithm",
        ),
        (&format!("{jwt}algorithm = \"none\""), "identity.algorithm"),
        (&format!("{jwt}algorithm = \"hs256\""), "identity.algorithm"),
        (
            &format!("{jwt}algorithm = \"HS256\""),
            "identity.secret_file",
        ),
        (
            &format!("{jwt}algorithm = \"HS256\"\nsecret_file = \"short.secret\""),
            "identity.secret_file",
        ),
        (
            &format!("{jwt}algorithm = \"HS256\"\nsecret_file = \"missing\""),
            "identity.secret_file",
        ),
        (
            &format!(
                "{jwt}algorithm = \"HS256\"\nsecret_file = \"jwt.secret\"\npublic_key_file = \"es.pem\""
            ),
            "identity.public_key_file",
        ),
        (
            &format!("{jwt}algorithm = \"RS256\""),
            "identity.public_key_file",
        ),
        (
            &format!("{jwt}algorithm = \"RS256\"\npublic_key_file = \"es.pem\""),
            "identity.public_key_file",
        ),
        (
            &format!("{jwt}algorithm = \"ES256\"\nsecret_file = \"jwt.secret\""),
            "identity.secret_file",
        ),
        (
            &format!("{ok}\ntenant_claim = \" \""),
            "identity.tenant_claim",
        ),
        (
            &format!("{ok}\nleeway_seconds = 3600"),
            "identity.leeway_seconds",
        ),
    ] {
        assert_eq!(config_error(d, identity), key, "for:\n{identity}");
    }
    // Unknown keys and modes are parse errors naming them.
    let e = config_error(d, &format!("{ok}\nalgorithms = [\"RS256\"]"));
    assert!(e.contains("algorithms"), "{e}");
    let e = config_error(d, "mode = \"oauth\"");
    assert!(e.contains("oauth"), "{e}");
}

// ---- the gateway over real sockets ----

struct Gw {
    _dir: tempfile::TempDir,
    trace: std::path::PathBuf,
    gw: Proc,
    us: Upstream,
    eu: Upstream,
}

impl Gw {
    fn hits(&self) -> usize {
        self.us.hits.count() + self.eu.hits.count()
    }
}

/// A JWT-mode gateway in eu-central-1 (RS256), US upstream first, EU second.
async fn jwt_gateway() -> Gw {
    let us = upstream("ai-us").await;
    let eu = upstream("ai-eu").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jwt.pem"), fixture("rs256-public.pem")).unwrap();
    let identity = format!(
        "\n[identity]\nmode = \"jwt\"\nissuer = \"{ISS}\"\naudience = \"{AUD}\"\nalgorithm = \"RS256\"\npublic_key_file = \"jwt.pem\"\n"
    );
    let cfg = gateway_config(
        dir.path(),
        "eu-central-1",
        &[
            ("ai-us", us.addr, "us-east-1"),
            ("ai-eu", eu.addr, "eu-central-1"),
        ],
        &identity,
    );
    let gw = gateway(&cfg);
    Gw {
        trace: dir.path().join("decisions.jsonl"),
        _dir: dir,
        gw,
        us,
        eu,
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A denied request: the problem, and nothing forwarded.
async fn denied(g: &Gw, headers: &[(&str, &str)], status: u16, kind: &str) -> Resp {
    let before = g.hits();
    let r = post_json(
        &g.gw.url(CHAT),
        headers,
        &chat("Summarise our meeting notes."),
    )
    .await;
    let p = r.problem(status, kind);
    assert_eq!(g.hits(), before, "a denied request ({kind}) was forwarded");
    assert_eq!(r.header("raigate-decision-id"), p["decision_id"].as_str());
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn gateway_in_jwt_mode_takes_identity_from_the_token_only() {
    let g = jwt_gateway().await;
    let hello = chat("Summarise our meeting notes.");
    let mut requests = 0;

    // hooli has AI off: a forged x-tenant-id naming acme does not get around it.
    let hooli = bearer(&rs256(&claims("hooli")));
    let r = denied(
        &g,
        &[("authorization", &hooli), ("x-tenant-id", "acme")],
        403,
        "ai-opted-out",
    )
    .await;
    assert_eq!(r.json()["rule"], "tenant-ai-opt-out", "{}", r.text());
    requests += 1;

    // sg-only is pinned to sg; this instance runs in the EU: still pinned, whatever the header.
    let sg = bearer(&rs256(&claims("sg-only")));
    let r = denied(
        &g,
        &[("authorization", &sg), ("x-tenant-id", "acme")],
        403,
        "region-pinned",
    )
    .await;
    assert_eq!(r.json()["required_region"], "sg");
    requests += 1;

    // globex is pinned to eu: its request goes to the EU upstream, not to the first (US) one
    // that acme (named by the forged header) would get.
    let globex = bearer(&rs256(&claims("globex")));
    let r = post_json(
        &g.gw.url(CHAT),
        &[("authorization", &globex), ("x-tenant-id", "acme")],
        &hello,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-upstream"), Some("ai-eu"));
    requests += 1;

    // acme, with forged identity headers: allowed, and the upstream sees none of them.
    let acme = bearer(&rs256(&claims("acme")));
    let before = g.us.hits.count();
    let r = post_json(
        &g.gw.url(CHAT),
        &[
            ("authorization", &acme),
            ("x-tenant-id", "hooli"),
            ("x-user-id", "mallory"),
        ],
        &hello,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-upstream"), Some("ai-us"));
    assert_eq!(g.us.hits.count(), before + 1);
    let (path, headers, _) = g.us.hits.last().unwrap();
    assert_eq!(path, CHAT);
    assert!(
        headers.get("x-tenant-id").is_none(),
        "client x-tenant-id reached the upstream"
    );
    assert!(
        headers.get("x-user-id").is_none(),
        "client x-user-id reached the upstream"
    );
    assert_eq!(
        headers.get("authorization").unwrap(),
        acme.as_str(),
        "Authorization is forwarded"
    );
    requests += 1;

    // No token at all (only the plain header): 401 with a bare Bearer challenge.
    let r = denied(&g, &[("x-tenant-id", "acme")], 401, "unauthenticated").await;
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(r.json()["rule"], "request-unauthenticated");
    requests += 1;

    // Invalid tokens: 401 with error="invalid_token", never forwarded.
    let c = claims("acme");
    for (why, token) in [
        (
            "expired",
            rs256(&with(c.clone(), "exp", json!(now() - 600))),
        ),
        ("wrongly signed", rs256_other(&c)),
        (
            "wrong audience",
            rs256(&with(c.clone(), "aud", json!("another-service"))),
        ),
        (
            "wrong issuer",
            rs256(&with(c.clone(), "iss", json!("https://evil.example/"))),
        ),
        ("alg none", alg_none(&c)),
        (
            "HS256 with the public key as secret",
            hs256_with_public_key(&c),
        ),
    ] {
        let auth = bearer(&token);
        let r = denied(
            &g,
            &[("authorization", &auth), ("x-tenant-id", "acme")],
            401,
            "unauthenticated",
        )
        .await;
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#),
            "{why}"
        );
        let p = r.json();
        assert_eq!(p["rule"], "request-unauthenticated", "{why}: {p}");
        assert!(
            !p["detail"].as_str().unwrap().contains(&token),
            "{why}: the detail quotes the token"
        );
        requests += 1;
    }
    assert_eq!(g.hits(), 2, "only the two allowed requests were forwarded");

    // One decision record per request; identity from the token; 401s name no tenant.
    let recs = records(&g.trace);
    assert_eq!(recs.len(), requests, "{recs:?}");
    let tenants: Vec<&Value> = recs.iter().map(|r| &r["tenant"]).collect();
    assert_eq!(
        tenants[..4],
        [
            &json!("hooli"),
            &json!("sg-only"),
            &json!("globex"),
            &json!("acme")
        ]
    );
    assert!(recs[4..].iter().all(|r| r["tenant"].is_null()
        && r["outcome"] == "deny"
        && r["rule"] == "request-unauthenticated"));
    // The subject is the pseudonym of the token's `sub`, not of the forged x-user-id.
    let subject = recs[3]["subject"].as_str().unwrap();
    assert_eq!(
        recs[0]["subject"].as_str(),
        Some(subject),
        "same sub, same pseudonym"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gateway_in_headers_mode_is_unchanged() {
    // The default mode still trusts x-tenant-id (set by a trusted hop) and forwards it.
    let us = upstream("ai-us").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = gateway_config(
        dir.path(),
        "us-east-1",
        &[("ai-us", us.addr, "us-east-1")],
        "",
    );
    let gw = gateway(&cfg);
    let r = post_json(&gw.url(CHAT), &[("x-tenant-id", "acme")], &chat("hi")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (_, headers, _) = us.hits.last().unwrap();
    assert_eq!(headers.get("x-tenant-id").unwrap(), "acme");
    let r = post_json(&gw.url(CHAT), &[("x-tenant-id", "hooli")], &chat("hi")).await;
    r.problem(403, "ai-opted-out");
}
