"""Seeds a fresh moto server (Cognito IDP + Secrets Manager + IAM) for the Apache → Cognito stack
and writes what the tests need to DATA_DIR/cognito.json.

    python setup.py MOTO_ORIGIN DATA_DIR        # e.g. http://127.0.0.1:4566 /tmp/x

moto must have been started with INITIAL_NO_AUTH_ACTION_COUNT=3 in its environment: the first
three actions it serves (here: iam CreateUser, PutUserPolicy, CreateAccessKey for an admin
user) are not checked, every later one must be SigV4-signed by an IAM user's access key with a
policy that allows it. Everything after the bootstrap is signed with the admin key; the
"smokegate" IAM user (cognito-idp:* + secretsmanager:GetSecretValue only) is what the tests
sign with. The script ends by proving the enforcement is on (a call with an unknown key must be
refused) and fails otherwise.
"""
import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
SMOKEGATE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "cognito-idp:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
    ],
}
SERVICE_USER = {"username": "svc-smokegate", "password": "Svc-Passw0rd!-smoke", "note": "pre-created, confirmed service user"}


def client(service, origin, key_id, secret):
    return boto3.client(
        service,
        endpoint_url=origin,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def main(origin, data_dir):
    # 1-3: the unchecked bootstrap (any credentials; moto does not look at them yet).
    iam0 = client("iam", origin, "AKIABOOTSTRAP0000000", "bootstrap")
    iam0.create_user(UserName="admin")
    iam0.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=json.dumps(ALLOW_ALL))
    admin_key = iam0.create_access_key(UserName="admin")["AccessKey"]
    ak = (admin_key["AccessKeyId"], admin_key["SecretAccessKey"])

    # From here on every call is signed and checked.
    iam = client("iam", origin, *ak)
    idp = client("cognito-idp", origin, *ak)
    sm = client("secretsmanager", origin, *ak)

    iam.create_user(UserName="smokegate")
    iam.put_user_policy(UserName="smokegate", PolicyName="smokegate", PolicyDocument=json.dumps(SMOKEGATE_POLICY))
    sg_key = iam.create_access_key(UserName="smokegate")["AccessKey"]

    pool = idp.create_user_pool(
        PoolName="smokegate",
        Policies={"PasswordPolicy": {"MinimumLength": 8, "RequireUppercase": False, "RequireLowercase": False,
                                     "RequireNumbers": False, "RequireSymbols": False}},
    )["UserPool"]
    app = idp.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName="smokegate",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH"],
    )["UserPoolClient"]

    idp.admin_create_user(
        UserPoolId=pool["Id"],
        Username=SERVICE_USER["username"],
        TemporaryPassword="Temp-Passw0rd!-1",
        MessageAction="SUPPRESS",
    )
    idp.admin_set_user_password(
        UserPoolId=pool["Id"], Username=SERVICE_USER["username"], Password=SERVICE_USER["password"], Permanent=True
    )
    secret = sm.create_secret(Name="smokegate/service-user", SecretString=json.dumps(SERVICE_USER))

    # Enforcement must be on now: an unknown key is refused.
    try:
        client("cognito-idp", origin, "AKIANOTAKNOWNKEY0000", "nope").list_user_pools(MaxResults=1)
        sys.exit("setup: moto accepted an unknown access key: start it with INITIAL_NO_AUTH_ACTION_COUNT=3")
    except ClientError as e:
        # moto answers auth failures of JSON-protocol services with the IAM-style XML body
        # (403, text/html), which botocore cannot parse: its "Code" is just "403".
        err = e.response
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 403, err
        assert "InvalidClientTokenId" in err["Error"]["Message"], err

    out = {
        "moto": origin,
        "region": REGION,
        "user_pool_id": pool["Id"],
        "client_id": app["ClientId"],
        "issuer": f"https://cognito-idp.{REGION}.amazonaws.com/{pool['Id']}",
        "jwks_uri": f"{origin}/{pool['Id']}/.well-known/jwks.json",
        "openid_configuration": f"{origin}/{pool['Id']}/.well-known/openid-configuration",
        "secret_arn": secret["ARN"],
        "secret_name": secret["Name"],
        "service_user": SERVICE_USER["username"],
        "access_key_id": sg_key["AccessKeyId"],
        "secret_access_key": sg_key["SecretAccessKey"],
        "admin_access_key_id": ak[0],
        "admin_secret_access_key": ak[1],
    }
    os.makedirs(data_dir, exist_ok=True)
    path = os.path.join(data_dir, "cognito.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
    print(path)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1].rstrip("/"), sys.argv[2])
