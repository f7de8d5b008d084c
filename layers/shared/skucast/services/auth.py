"""Tenancy and authentication use cases, one function each.

Every tenant-side call takes the client id from the verified principal and hands it to the
repositories, which build every key from it. Only login (by e-mail) and credential lookups (by
hash) read global items, by exact key (an e-mail's partition holds its identities).

Identities are per tenant: one e-mail may be a user of several tenants, each with its own
password, so creating a user answers the same whether other tenants have that e-mail or not.
Login checks the password against every identity of the e-mail with one Argon2 computation (they
share a salt) and signs in to the one that matches; `client_id` picks one when the same password
matches in several. No answer, and no count of hash computations, depends on other tenants.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from skucast import clock, ids
from skucast.auth.keyring import Keyring, KeyringError, SigningKey
from skucast.auth.passwords import Passwords, new_salt, passwords, salt_of
from skucast.auth.settings import AuthSettings
from skucast.auth.tokens import (
    API_KEY_PREFIX,
    REFRESH_PREFIX,
    AccessClaims,
    UnknownKey,
    digest,
    issue_access_token,
    new_id,
    new_secret,
    verify_access_token,
)
from skucast.errors import Conflict, NotFound, NotReady, Throttled, Unauthorized
from skucast.observability import logger
from skucast.pagination import decode_after, encode_after
from skucast.records import ApiKeyRecord, Role, UserRecord
from skucast.repositories import api_keys as api_keys_repo
from skucast.repositories import clients as clients_repo
from skucast.repositories import signing_keys, throttle, usage_plans
from skucast.repositories import tokens as sessions_repo
from skucast.repositories import users as users_repo
from skucast.repositories.users import EmailTaken
from skucast.schemas.auth import (
    ApiKey,
    ApiKeyList,
    CreateApiKeyRequest,
    CreateClientRequest,
    CreatedApiKey,
    CreatedClient,
    CreateUserRequest,
    Jwks,
    LoginRequest,
    Me,
    TokenPair,
    User,
    UserList,
)
from skucast.settings import Settings

WRONG_CREDENTIALS = (
    "The e-mail address or the password is wrong. An e-mail that signs in to several clients "
    "with one password signs in to one of them with client_id."
)
BAD_REFRESH = "The refresh token is not valid."


class Caller(Protocol):
    """The verified principal (skucast.api.Principal)."""

    @property
    def client_id(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def kind(self) -> str: ...


@dataclass(frozen=True)
class Authorized:
    client_id: str
    role: str
    subject: str  # user id or API key id
    kind: str  # "user" | "api_key"
    usage_key: str  # the client's usage-plan key value (API Gateway's usageIdentifierKey)


def _text_digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- signing keys
_parsed: dict[str, Keyring] = {}
_last_forced_read = [0.0]


def _keyring(settings: Settings, force: bool = False) -> Keyring:
    text = signing_keys.keyring_text(settings.signing_keys_secret_id, settings.secret_cache_seconds, force)
    ring = _parsed.get(text)
    if ring is None:
        try:
            ring = Keyring.parse(text)
        except KeyringError:
            logger.exception("the signing keyring secret is not usable")
            raise NotReady("Access tokens cannot be issued or verified right now.") from None
        _parsed.clear()  # keep only the current keyring
        _parsed[text] = ring
    return ring


def _signing_key(settings: Settings, now: datetime) -> SigningKey:
    key = _keyring(settings).signing_key(now)
    if key is None:
        logger.error("the signing keyring holds no active key (run skucast.admin rotate-signing-key)")
        raise NotReady("Access tokens cannot be issued right now.")
    return key


def _verify(settings: Settings, auth: AuthSettings, token: str) -> AccessClaims:
    now = clock.now()

    def verify(ring: Keyring) -> AccessClaims:
        key_for: Callable[[str], Ed25519PublicKey | None] = lambda kid: ring.verification_key(kid, now)  # noqa: E731
        return verify_access_token(token, key_for, issuer=settings.token_issuer, audience=settings.token_audience)

    try:
        return verify(_keyring(settings))
    except UnknownKey:
        # A rotation newer than our cached keyring? Re-read it, but not for every forged kid.
        if time.monotonic() - _last_forced_read[0] < auth.keyring_refetch_seconds:
            raise
        _last_forced_read[0] = time.monotonic()
        return verify(_keyring(settings, force=True))


def jwks(settings: Settings) -> Jwks:
    return Jwks.model_validate(_keyring(settings).jwks(clock.now()))


# ---------------------------------------------------------------- clients
def create_client(settings: Settings, auth: AuthSettings, request: CreateClientRequest) -> CreatedClient:
    """The client, its first admin and its usage-plan key in the tier's plan (operator only)."""
    plan = usage_plans.plan_id(settings.usage_plan_prefix + request.tier)
    if plan is None:
        logger.error("no usage plan for tier", extra={"tier": request.tier})
        raise NotReady(f"The {request.tier} tier is not available right now.")
    now = clock.now()
    client_id, user_id = new_id("cli"), new_id("usr")
    email_digest = _text_digest(request.admin_email)
    salt = _email_salt(settings, email_digest)
    password_hash = passwords(auth.password_params).hash(request.admin_password, salt)
    usage_key = secrets.token_urlsafe(30)
    usage_key_id = usage_plans.add_key(plan, f"{settings.usage_plan_prefix}{client_id}", usage_key)
    client = {
        "client_id": client_id,
        "name": request.name,
        "tier": request.tier,
        "usage_key": usage_key,
        "usage_key_id": usage_key_id,
        "created_at": clock.iso(now),
    }
    admin = _user(user_id, request.admin_email, "admin", password_hash, now)
    try:
        clients_repo.create_client(settings.table_name, client, admin, email_digest, salt)
    except Exception:
        usage_plans.delete_key(usage_key_id)  # no orphan key in the plan
        raise
    return CreatedClient(client_id=client_id, name=request.name, tier=request.tier, admin_user_id=user_id)


def _email_salt(settings: Settings, email_digest: str) -> bytes:
    """The salt every password hash of this e-mail's identities shares (a new one for a new
    e-mail). A schema-1 identity keeps the salt inside its own hash."""
    found = users_repo.identities(settings.table_name, email_digest)
    for identity in found:
        if identity.salt is not None:
            return identity.salt
    for _, user in users_repo.get_users(settings.table_name, found):
        salt = salt_of(user.password_hash)
        if salt is not None:
            return salt
    return new_salt()


def _user(user_id: str, email: str, role: Role, password_hash: str, now: datetime) -> UserRecord:
    return UserRecord(user_id=user_id, email=email, role=role, password_hash=password_hash, created_at=clock.iso(now))


def _user_out(user: UserRecord) -> User:
    return User(user_id=user.user_id, email=user.email, role=user.role, created_at=user.created_at)


# ---------------------------------------------------------------- sessions
def login(settings: Settings, auth: AuthSettings, request: LoginRequest, source_ip: str) -> TokenPair:
    now = clock.now()
    stamp = int(now.timestamp())
    window = stamp // auth.login_window_seconds
    window_end = (window + 1) * auth.login_window_seconds
    counters = {"email": _text_digest(request.email), "ip": _text_digest(source_ip or "unknown")}
    limits = {"email": auth.login_max_failures_per_email, "ip": auth.login_max_failures_per_ip}
    if any(throttle.failures(settings.table_name, s, d, window) >= limits[s] for s, d in counters.items()):
        raise Throttled("Too many failed sign-ins; try again later.", retry_after=window_end - stamp)

    hasher = passwords(auth.password_params)
    signed_in = _identity_of(settings, hasher, request)
    if signed_in is None:
        for scope, subject in counters.items():
            throttle.add_failure(settings.table_name, scope, subject, window, window_end + 60)
        raise Unauthorized(WRONG_CREDENTIALS)

    identity, user, rehash = signed_in
    client_id, user_id = identity.client_id, identity.user_id
    if rehash:  # new parameters, the same (shared) salt
        new_hash = hasher.hash(request.password, salt_of(user.password_hash))
        users_repo.set_password_hash(settings.table_name, client_id, user_id, new_hash)
    throttle.clear(settings.table_name, "email", counters["email"], window)
    key = _signing_key(settings, now)
    refresh_token = new_secret(REFRESH_PREFIX)
    session_id = new_id("ses")
    sessions_repo.start_session(
        settings.table_name,
        client_id,
        session_id,
        user_id,
        digest(refresh_token),
        stamp + settings.refresh_token_ttl_seconds,
        clock.iso(now),
    )
    return _pair(settings, key, client_id, user_id, user.role, session_id, refresh_token, now)


def _identity_of(
    settings: Settings, hasher: Passwords, request: LoginRequest
) -> tuple[users_repo.Identity, UserRecord, bool] | None:
    """The one identity of the e-mail (in `client_id` when given) whose password matches, with
    its user item and whether to rehash; None when none or several match (the same 401)."""
    found = users_repo.identities(settings.table_name, _text_digest(request.email), request.client_id)
    users = users_repo.get_users(settings.table_name, found)
    # One Argon2 computation for all of them (a shared salt), one even when there are none.
    verdicts = hasher.verify_all([user.password_hash for _, user in users], request.password)
    matching = [(i, u, rehash) for (i, u), (ok, rehash) in zip(users, verdicts, strict=True) if ok]
    return matching[0] if len(matching) == 1 else None


def _pair(
    settings: Settings,
    key: SigningKey,
    client_id: str,
    user_id: str,
    role: str,
    session_id: str,
    refresh_token: str,
    now: datetime,
) -> TokenPair:
    access = issue_access_token(
        key,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        subject=user_id,
        client_id=client_id,
        role=role,
        session_id=session_id,
        ttl_seconds=settings.access_token_ttl_seconds,
        now=now,
    )
    return TokenPair(access_token=access, refresh_token=refresh_token, expires_in=settings.access_token_ttl_seconds)


def refresh(settings: Settings, refresh_token: str) -> TokenPair:
    """Rotate: a new pair for a current token; a rotated one revokes its whole login (reuse)."""
    now = clock.now()
    presented = digest(refresh_token)
    found = sessions_repo.find_refresh_token(settings.table_name, presented)
    if found is None:
        raise Unauthorized(BAD_REFRESH)
    client_id, session_id = str(found["client_id"]), str(found["session_id"])
    session = sessions_repo.get_session(settings.table_name, client_id, session_id)
    if session is None or session.get("revoked") or int(session["expires_at"]) <= now.timestamp():
        raise Unauthorized(BAD_REFRESH)
    if session.get("current_digest") != presented:
        _revoke(settings, client_id, session_id, now, reason="refresh token reuse")
        raise Unauthorized(BAD_REFRESH)
    user = users_repo.get_user(settings.table_name, client_id, str(session["user_id"]))
    if user is None:
        _revoke(settings, client_id, session_id, now, reason="user is gone")
        raise Unauthorized(BAD_REFRESH)
    key = _signing_key(settings, now)
    new_token = new_secret(REFRESH_PREFIX)
    try:
        sessions_repo.rotate(
            settings.table_name,
            client_id,
            session_id,
            presented,
            digest(new_token),
            int(session["expires_at"]),
        )
    except sessions_repo.NotCurrent:
        # Lost a race with another refresh of the same token: that is reuse too.
        _revoke(settings, client_id, session_id, now, reason="concurrent refresh")
        raise Unauthorized(BAD_REFRESH) from None
    return _pair(settings, key, client_id, user.user_id, user.role, session_id, new_token, now)


def _revoke(settings: Settings, client_id: str, session_id: str, now: datetime, reason: str) -> None:
    logger.warning("revoking a login session", extra={"client_id": client_id, "reason": reason})
    sessions_repo.revoke_session(settings.table_name, client_id, session_id, clock.iso(now))


def logout(settings: Settings, refresh_token: str) -> None:
    """Revoke the login the token belongs to; unknown tokens are ignored (no oracle)."""
    found = sessions_repo.find_refresh_token(settings.table_name, digest(refresh_token))
    if found is not None:
        _revoke(settings, str(found["client_id"]), str(found["session_id"]), clock.now(), reason="logout")


def me(settings: Settings, caller: Caller) -> Me:
    if caller.kind == "api_key":
        return Me(
            user_id=None,
            email=None,
            client_id=caller.client_id,
            role=caller.role,  # type: ignore[arg-type]
            kind="api_key",
            key_id=caller.subject,
        )
    user = users_repo.get_user(settings.table_name, caller.client_id, caller.subject)
    if user is None:
        raise Unauthorized("This user no longer exists.")
    return Me(user_id=user.user_id, email=user.email, client_id=caller.client_id, role=user.role, kind="user")


# ---------------------------------------------------------------- users
def create_user(settings: Settings, auth: AuthSettings, client_id: str, request: CreateUserRequest) -> User:
    """A user of this tenant. 409 only when this tenant already has the e-mail (its admin can list
    its users anyway); another tenant's user with the e-mail changes nothing in the answer."""
    now = clock.now()
    email_digest = _text_digest(request.email)
    salt = _email_salt(settings, email_digest)
    user = _user(
        new_id("usr"),
        request.email,
        request.role,
        passwords(auth.password_params).hash(request.password, salt),
        now,
    )
    try:
        users_repo.create_user(settings.table_name, client_id, user, email_digest, salt)
    except EmailTaken:
        raise Conflict("A user of this client already signs in with this e-mail address.") from None
    return _user_out(user)


def list_users(settings: Settings, client_id: str, limit: int, cursor: str | None) -> UserList:
    after = decode_after(cursor, "users", lambda v: ids.is_id(v, "usr"))
    items, last = users_repo.list_users(settings.table_name, client_id, limit, after)
    return UserList(items=[_user_out(u) for u in items], next_cursor=encode_after("users", last))


# ---------------------------------------------------------------- API keys
def create_api_key(settings: Settings, client_id: str, request: CreateApiKeyRequest) -> CreatedApiKey:
    secret = new_secret(API_KEY_PREFIX)
    key = ApiKeyRecord(key_id=new_id("key"), name=request.name, role=request.role, created_at=clock.now_iso())
    api_keys_repo.create_api_key(settings.table_name, client_id, key, digest(secret))
    return CreatedApiKey(**asdict(key), api_key=secret)


def list_api_keys(settings: Settings, client_id: str, limit: int, cursor: str | None) -> ApiKeyList:
    after = decode_after(cursor, "api-keys", lambda v: ids.is_id(v, "key"))
    items, last = api_keys_repo.list_api_keys(settings.table_name, client_id, limit, after)
    return ApiKeyList(items=[ApiKey(**asdict(k)) for k in items], next_cursor=encode_after("api-keys", last))


def revoke_api_key(settings: Settings, client_id: str, key_id: str) -> None:
    if not ids.is_id(key_id, "key") or not api_keys_repo.delete_api_key(settings.table_name, client_id, key_id):
        raise NotFound("No such API key.")


# ---------------------------------------------------------------- the authorizer
_usage_keys: dict[str, str] = {}  # client_id -> its usage-plan key value (never changes)


def authorize(settings: Settings, auth: AuthSettings, *, bearer: str | None, api_key: str | None) -> Authorized:
    """Who is calling: a current access token (of a live login) or an existing API key."""
    if bearer:
        claims = _verify(settings, auth, bearer)
        session = sessions_repo.get_session(settings.table_name, claims.client_id, claims.session_id)
        if session is None or session.get("revoked") or session.get("user_id") != claims.subject:
            raise Unauthorized("The login was revoked.")
        return Authorized(claims.client_id, claims.role, claims.subject, "user", _usage_key(settings, claims.client_id))
    if api_key and api_key.startswith(API_KEY_PREFIX) and len(api_key) <= 256:
        found = api_keys_repo.find_api_key(settings.table_name, digest(api_key))
        if found is not None:
            usage_key = _usage_key(settings, found.client_id)
            return Authorized(found.client_id, found.role, found.key_id, "api_key", usage_key)
    raise Unauthorized("No valid credential.")


def _usage_key(settings: Settings, client_id: str) -> str:
    if client_id not in _usage_keys:
        profile = clients_repo.get_client(settings.table_name, client_id)
        if profile is None or not profile.get("usage_key"):
            raise Unauthorized("Unknown client.")
        if len(_usage_keys) > 10_000:
            _usage_keys.clear()
        _usage_keys[client_id] = str(profile["usage_key"])
    return _usage_keys[client_id]
