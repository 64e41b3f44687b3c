"""Proves what the Apache gateway lets through: one JSON line per case (status, WWW-Authenticate,
what the upstream saw). Tokens that moto would never hand out are minted here: with moto's own
signing key (moto ships one fixed RSA key, kid "dummy", in moto/cognitoidp/resources) for an
expired token and a wrong-issuer token, with a fresh RSA key for a foreign-signed one.

    python gwcheck.py DATA_DIR/cognito.json GATEWAY_ORIGIN
"""
import base64
import json
import sys
import time

import requests
from joserfc import jwk, jwt
from moto.utilities.utils import load_resource

CFG = json.load(open(sys.argv[1]))
GW = sys.argv[2].rstrip("/")
MOTO_KEY = jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
FOREIGN_KEY = jwk.RSAKey.generate_key(2048)


def login(username, password):
    r = requests.post(CFG["moto"] + "/", headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth"},
        data=json.dumps({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": CFG["client_id"],
                         "AuthParameters": {"USERNAME": username, "PASSWORD": password}}))
    r.raise_for_status()
    return r.json()["AuthenticationResult"]


def claims_of(tok):
    p = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


def mint(claims, key, kid="dummy", alg="RS256"):
    return jwt.encode({"kid": kid, "alg": alg, "typ": "JWT"}, claims, key)


def get(label, path="/api/items", token=None, scheme="Bearer", extra=None):
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    headers.update(extra or {})
    r = requests.get(GW + path, headers=headers)
    try:
        body = r.json()
        seen = {"remote_user": body.get("remote_user"), "claim_headers": sorted(body.get("claims", {}))} \
            if isinstance(body, dict) and "path" in body else body
    except ValueError:
        seen = r.text[:80]
    print(json.dumps({"case": label, "status": r.status_code,
                      "www_authenticate": r.headers.get("WWW-Authenticate"),
                      "served_by": r.headers.get("X-Served-By"), "upstream": r.headers.get("X-Upstream"),
                      "seen": seen}))
    return r.status_code


# The service user's credentials (also in the Secrets Manager secret): setup.py's constant.
from setup import SERVICE_USER  # noqa: E402  (same directory)

res = login(SERVICE_USER["username"], SERVICE_USER["password"])
access, idtok = res["AccessToken"], res["IdToken"]
good = claims_of(access)
now = int(time.time())

get("health, no token", "/health")
get("no token")
get("garbage token", token="not-a-jwt")
get("valid access token", token=access)
get("valid access token, scheme lower-case bearer", token=access, scheme="bearer")
get("valid access token as Authorization: JWT", token=access, scheme="JWT")
get("id token (token_use id)", token=idtok)
get("expired, moto-signed", token=mint({**good, "iat": now - 7200, "exp": now - 3600}, MOTO_KEY))
get("expired by 5 s, moto-signed", token=mint({**good, "iat": now - 3605, "exp": now - 5}, MOTO_KEY))
no_exp = mint({k: v for k, v in good.items() if k != "exp"}, MOTO_KEY)
get("no exp claim, moto-signed", token=no_exp)
get("no exp claim + client-sent OIDC_CLAIM_exp header", token=no_exp, extra={"OIDC_CLAIM_exp": str(now + 600)})
get("token_use id but with a username claim, moto-signed", token=mint({**good, "token_use": "id"}, MOTO_KEY))
get("valid token + client-sent X-Remote-User: admin", token=access, extra={"X-Remote-User": "admin"})
get("foreign-signed (fresh RSA key, kid dummy)", token=mint(good, FOREIGN_KEY))
get("foreign-signed (fresh RSA key, kid other)", token=mint(good, FOREIGN_KEY, kid="other"))
get("wrong iss (another pool), moto-signed",
    token=mint({**good, "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"}, MOTO_KEY))
get("tampered payload (signature of the real token)",
    token=access.split(".")[0] + "." + base64.urlsafe_b64encode(json.dumps({**good, "username": "admin"}).encode())
    .decode().rstrip("=") + "." + access.split(".")[2])
hs = jwk.OctKey.import_key(b"k" * 32)
get("HS256 token (alg confusion)", token=jwt.encode({"alg": "HS256", "kid": "dummy"}, good, hs))
none_tok = (base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=") + "."
            + base64.urlsafe_b64encode(json.dumps(good).encode()).decode().rstrip("=") + ".")
get("alg none", token=none_tok)
