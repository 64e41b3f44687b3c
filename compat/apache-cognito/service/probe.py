"""Raw-HTTP reference client for the stack: sends every Cognito IDP / Secrets Manager call that
smokegate makes itself (no boto3: `requests` for HTTP, botocore's SigV4Auth only to compute the
signature) and prints one JSON line per call: the request's shape and moto's exact answer.
NOTES.md was written from its output.

    python probe.py DATA_DIR/cognito.json [GATEWAY_ORIGIN]
"""
import base64
import json
import sys
import time

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CFG = json.load(open(sys.argv[1]))
MOTO = CFG["moto"]
GATEWAY = sys.argv[2] if len(sys.argv) > 2 else None
IDP = "AWSCognitoIdentityProviderService."
CT = "application/x-amz-json-1.1"


def call(target, body, sign=None, region=None, service=None, label=None, show_headers=False):
    """POST / with X-Amz-Target; sign=(key_id, secret) signs with SigV4 (service/region of the scope)."""
    data = json.dumps(body)
    headers = {"Content-Type": CT, "X-Amz-Target": target}
    if sign:
        svc = service or ("secretsmanager" if target.startswith("secretsmanager.") else "cognito-idp")
        req = AWSRequest(method="POST", url=MOTO + "/", data=data, headers=headers)
        SigV4Auth(Credentials(*sign), svc, region or CFG["region"]).add_auth(req)
        headers = dict(req.headers.items())
    r = requests.post(MOTO + "/", data=data, headers=headers)
    try:
        answer = r.json()
    except ValueError:
        answer = r.text
    rec = {"label": label or target.split(".")[-1], "status": r.status_code,
           "content_type": r.headers.get("Content-Type"), "answer": answer}
    if show_headers:
        rec["request_headers"] = headers
    print(json.dumps(rec))
    return r.status_code, answer


def claims(tok):
    def part(s):
        return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    h, p, _ = tok.split(".")
    return part(h), part(p)


SG = (CFG["access_key_id"], CFG["secret_access_key"])
POOL, CLIENT = CFG["user_pool_id"], CFG["client_id"]
U = f"probe-{int(time.time())}"
PW = "Probe-Passw0rd!-1"

# --- admin (signed) user lifecycle -----------------------------------------------------------
call(IDP + "AdminCreateUser", {"UserPoolId": POOL, "Username": U, "TemporaryPassword": "Temp-Passw0rd!-9",
                               "MessageAction": "SUPPRESS",
                               "UserAttributes": [{"Name": "email", "Value": f"{U}@example.test"}]},
     sign=SG, show_headers=True)
call(IDP + "InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": CLIENT,
                            "AuthParameters": {"USERNAME": U, "PASSWORD": "Temp-Passw0rd!-9"}},
     label="InitiateAuth temp password (FORCE_CHANGE_PASSWORD)")
call(IDP + "AdminSetUserPassword", {"UserPoolId": POOL, "Username": U, "Password": PW, "Permanent": True}, sign=SG)
call(IDP + "AdminGetUser", {"UserPoolId": POOL, "Username": U}, sign=SG)
st, auth = call(IDP + "InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": CLIENT,
                                       "AuthParameters": {"USERNAME": U, "PASSWORD": PW}},
                label="InitiateAuth USER_PASSWORD_AUTH unsigned")
res = auth["AuthenticationResult"]
for name in ("AccessToken", "IdToken"):
    h, p = claims(res[name])
    print(json.dumps({"label": f"decoded {name}", "header": h, "claims": p, "lifetime": p["exp"] - p["iat"]}))
call(IDP + "InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": CLIENT,
                            "AuthParameters": {"USERNAME": U, "PASSWORD": "wrong-password"}},
     label="InitiateAuth wrong password")
call(IDP + "InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": "nosuchclient",
                            "AuthParameters": {"USERNAME": U, "PASSWORD": PW}},
     label="InitiateAuth unknown client id")
call(IDP + "InitiateAuth", {"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": CLIENT,
                            "AuthParameters": {"REFRESH_TOKEN": res["RefreshToken"]}},
     label="InitiateAuth REFRESH_TOKEN_AUTH unsigned")
call(IDP + "InitiateAuth", {"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": CLIENT,
                            "AuthParameters": {"REFRESH_TOKEN": "not-a-refresh-token"}},
     label="InitiateAuth REFRESH_TOKEN_AUTH bogus token")
call(IDP + "AdminInitiateAuth", {"UserPoolId": POOL, "AuthFlow": "ADMIN_USER_PASSWORD_AUTH", "ClientId": CLIENT,
                                 "AuthParameters": {"USERNAME": U, "PASSWORD": PW}}, sign=SG,
     label="AdminInitiateAuth ADMIN_USER_PASSWORD_AUTH signed")
call(IDP + "GetUser", {"AccessToken": res["AccessToken"]}, label="GetUser unsigned (access token)")
call(IDP + "AdminDeleteUser", {"UserPoolId": POOL, "Username": U}, sign=SG)
call(IDP + "InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": CLIENT,
                            "AuthParameters": {"USERNAME": U, "PASSWORD": PW}},
     label="InitiateAuth deleted user")
call(IDP + "InitiateAuth", {"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": CLIENT,
                            "AuthParameters": {"REFRESH_TOKEN": res["RefreshToken"]}},
     label="InitiateAuth REFRESH_TOKEN_AUTH of deleted user")
call(IDP + "GetUser", {"AccessToken": res["AccessToken"]}, label="GetUser with deleted user's token")
call(IDP + "AdminGetUser", {"UserPoolId": POOL, "Username": U}, sign=SG, label="AdminGetUser deleted user")
call(IDP + "AdminDeleteUser", {"UserPoolId": POOL, "Username": U}, sign=SG, label="AdminDeleteUser again")

# --- self sign-up (unsigned) + admin confirm -------------------------------------------------
S = U + "-signup"
call(IDP + "SignUp", {"ClientId": CLIENT, "Username": S, "Password": PW,
                      "UserAttributes": [{"Name": "email", "Value": f"{S}@example.test"}]}, label="SignUp unsigned")
call(IDP + "InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": CLIENT,
                            "AuthParameters": {"USERNAME": S, "PASSWORD": PW}}, label="InitiateAuth unconfirmed user")
call(IDP + "SignUp", {"ClientId": CLIENT, "Username": S, "Password": PW}, label="SignUp existing user")
call(IDP + "AdminConfirmSignUp", {"UserPoolId": POOL, "Username": S}, sign=SG)
call(IDP + "InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": CLIENT,
                            "AuthParameters": {"USERNAME": S, "PASSWORD": PW}}, label="InitiateAuth after confirm")
call(IDP + "AdminDeleteUser", {"UserPoolId": POOL, "Username": S}, sign=SG, label="AdminDeleteUser signup user")

# --- Secrets Manager ---------------------------------------------------------------------------
call("secretsmanager.GetSecretValue", {"SecretId": CFG["secret_arn"]}, sign=SG, show_headers=True)
call("secretsmanager.GetSecretValue", {"SecretId": "no/such/secret"}, sign=SG, label="GetSecretValue unknown id")
call("secretsmanager.CreateSecret", {"Name": "x", "SecretString": "y"}, sign=SG,
     label="CreateSecret by the smokegate user (not in its policy)")

# --- SigV4 enforcement -------------------------------------------------------------------------
call(IDP + "AdminGetUser", {"UserPoolId": POOL, "Username": CFG["service_user"]}, label="AdminGetUser unsigned")
call(IDP + "AdminGetUser", {"UserPoolId": POOL, "Username": CFG["service_user"]},
     sign=("AKIANOTAKNOWNKEY0000", "whatever"), label="AdminGetUser unknown key id")
call(IDP + "AdminGetUser", {"UserPoolId": POOL, "Username": CFG["service_user"]},
     sign=(SG[0], "wrong-secret"), label="AdminGetUser known key id, wrong secret")
call(IDP + "AdminGetUser", {"UserPoolId": POOL, "Username": CFG["service_user"]},
     sign=SG, region="eu-west-1", label="AdminGetUser signed for region eu-west-1")
call(IDP + "AdminGetUser", {"UserPoolId": POOL, "Username": CFG["service_user"]},
     sign=SG, service="secretsmanager", label="AdminGetUser signed with service secretsmanager")
call("secretsmanager.GetSecretValue", {"SecretId": CFG["secret_arn"]}, sign=SG, service="cognito-idp",
     label="GetSecretValue signed with service cognito-idp")
call(IDP + "InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": CLIENT,
                            "AuthParameters": {"USERNAME": CFG["service_user"], "PASSWORD": "Svc-Passw0rd!-smoke"}},
     sign=("AKIANOTAKNOWNKEY0000", "whatever"), label="InitiateAuth signed with an unknown key (public op)")
call(IDP + "ListUserPools", {"MaxResults": 5}, sign=(CFG["admin_access_key_id"], CFG["admin_secret_access_key"]),
     label="ListUserPools by admin")
