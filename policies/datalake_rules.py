"""The design's rules that cfn-lint and checkov do not check, over the parsed CloudFormation templates.

Each rule has a stable id and looks at one template at a time (as decoded by ``energy_datalake.templates``,
intrinsic functions unresolved). A resource may skip a rule only with a reason, next to it:

    Metadata:
      datalake-rules:
        skip:
          - id: S3_SSE_KMS
            reason: why this resource cannot follow the rule

Run ``python policies/datalake_rules.py cloudformation/*.yaml cloudformation/bootstrap/*.yaml`` for a report; tests/cloudformation holds
every rule to a known-bad template in tests/cloudformation/bad/ that it must reject.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from energy_datalake.templates import PRINCIPAL_TAG, QUALITY_GATE, decode
from glue_jobs.lib.contract import CONTRACT

SKIP_KEY = "datalake-rules"
PERSONAL_COLUMNS = {t: set(e.personal_columns) for t, e in CONTRACT.items() if e.personal_columns}
# processed.quarantine keeps each rejected row's original text, personal data included: no persona reads
# it; the quality gate counts its rows with that column cut out.
QUARANTINE = ("processed", "quarantine")
QUARANTINE_PERSONAL_COLUMNS = {"raw_record"}
KMS_ALGORITHMS = {"aws:kms", "aws:kms:dsse"}
PASSWORD_NAME = re.compile(r"password|secret|token|apikey", re.IGNORECASE)
DYNAMIC_SECRET = re.compile(r"^\{\{resolve:(secretsmanager|ssm-secure):")


@dataclass(frozen=True)
class Finding:
    rule: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule} {self.resource}: {self.message}"


Check = Callable[[dict], Iterator[Finding]]
RULES: dict[str, tuple[str, Check]] = {}


def rule(rule_id: str, description: str):
    def register(check: Check) -> Check:
        RULES[rule_id] = (description, check)
        return check

    return register


def resources(template: dict, *types: str) -> Iterator[tuple[str, dict]]:
    for logical, resource in template.get("Resources", {}).items():
        if resource.get("Type") in types:
            yield logical, resource


def props(resource: dict) -> dict:
    return resource.get("Properties") or {}


def refers_to(value, logical: str) -> bool:
    """Whether a value is ``!Ref logical`` (or its ``GetAtt``)."""
    if isinstance(value, dict):
        if value.get("Ref") == logical:
            return True
        getatt = value.get("Fn::GetAtt")
        if getatt is not None:
            return (getatt.split(".")[0] if isinstance(getatt, str) else getatt[0]) == logical
    return False


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def is_true(value) -> bool:
    return value is True or str(value).lower() == "true"


# --- S3 ---------------------------------------------------------------------------------------------


@rule("S3_SSE_KMS", "buckets are encrypted with SSE-KMS (not AES256) and S3 bucket keys")
def s3_sse_kms(template: dict) -> Iterator[Finding]:
    for logical, bucket in resources(template, "AWS::S3::Bucket"):
        configs = props(bucket).get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        if not configs:
            yield Finding("S3_SSE_KMS", logical, "no default encryption")
        for config in configs:
            default = config.get("ServerSideEncryptionByDefault", {})
            if default.get("SSEAlgorithm") not in KMS_ALGORITHMS:
                yield Finding(
                    "S3_SSE_KMS", logical, f"SSEAlgorithm is {default.get('SSEAlgorithm')!r}, not aws:kms"
                )
            elif not default.get("KMSMasterKeyID"):
                yield Finding("S3_SSE_KMS", logical, "aws:kms without a customer-managed KMSMasterKeyID")
            if not is_true(config.get("BucketKeyEnabled")):
                yield Finding("S3_SSE_KMS", logical, "BucketKeyEnabled is not true")


def _denies_insecure_transport(statement: dict, logical: str) -> bool:
    principal = statement.get("Principal")
    actions = as_list(statement.get("Action", []))
    condition = statement.get("Condition", {}).get("Bool", {})
    resources_ = as_list(statement.get("Resource", []))
    covers_objects = any(
        isinstance(r, dict) and isinstance(r.get("Fn::Sub"), str) and r["Fn::Sub"] == f"${{{logical}.Arn}}/*"
        for r in resources_
    )
    covers_bucket = any(refers_to(r, logical) for r in resources_)
    return (
        statement.get("Effect") == "Deny"
        and principal in ("*", {"AWS": "*"})
        and ("s3:*" in actions or "*" in actions)
        and str(condition.get("aws:SecureTransport")).lower() == "false"
        and covers_bucket
        and covers_objects
    )


@rule("S3_TLS_ONLY", "every bucket has a policy that denies any request not made over TLS")
def s3_tls_only(template: dict) -> Iterator[Finding]:
    policies = [props(p) for _, p in resources(template, "AWS::S3::BucketPolicy")]
    for logical, _ in resources(template, "AWS::S3::Bucket"):
        statements = [
            s
            for p in policies
            if refers_to(p.get("Bucket"), logical)
            for s in as_list(p.get("PolicyDocument", {}).get("Statement", []))
        ]
        if not any(_denies_insecure_transport(s, logical) for s in statements):
            yield Finding(
                "S3_TLS_ONLY",
                logical,
                "no bucket policy statement denies s3:* when aws:SecureTransport is false",
            )


def _lake_bucket(bucket: dict) -> bool:
    return props(bucket).get("BucketName") == {"Fn::Sub": "${ProjectName}-${Environment}"}


def _default(template: dict, value):
    """A literal, or the default of the parameter it refers to."""
    if isinstance(value, dict) and "Ref" in value:
        return template.get("Parameters", {}).get(value["Ref"], {}).get("Default")
    return value


@rule("S3_LIFECYCLE", "buckets abort incomplete uploads and expire old versions; raw expires; results expire")
def s3_lifecycle(template: dict) -> Iterator[Finding]:
    for logical, bucket in resources(template, "AWS::S3::Bucket"):
        p = props(bucket)
        rules = [
            r for r in p.get("LifecycleConfiguration", {}).get("Rules", []) if r.get("Status") == "Enabled"
        ]
        if not any("AbortIncompleteMultipartUpload" in r for r in rules):
            yield Finding("S3_LIFECYCLE", logical, "no rule aborts incomplete multipart uploads")
        versioned = p.get("VersioningConfiguration", {}).get("Status") == "Enabled"
        if versioned and not any("NoncurrentVersionExpiration" in r for r in rules):
            yield Finding("S3_LIFECYCLE", logical, "versioned, but noncurrent versions never expire")
        if _lake_bucket(bucket):
            raw = [r for r in rules if (r.get("Prefix") or r.get("Filter", {}).get("Prefix")) == "raw/"]
            days = [_default(template, r.get("ExpirationInDays")) for r in raw]
            if not any(d is not None and int(d) <= 90 for d in days):
                yield Finding("S3_LIFECYCLE", logical, "raw/ objects do not expire within 90 days")
        if "athena-results" in str(p.get("BucketName")) and not any(
            "ExpirationInDays" in r and not (r.get("Prefix") or r.get("Filter")) for r in rules
        ):
            yield Finding("S3_LIFECYCLE", logical, "Athena query results never expire")


@rule("S3_PRIVATE_RETAINED", "buckets block public access, are versioned, logged and kept on stack deletion")
def s3_private_retained(template: dict) -> Iterator[Finding]:
    flags = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    for logical, bucket in resources(template, "AWS::S3::Bucket"):
        p = props(bucket)
        block = p.get("PublicAccessBlockConfiguration", {})
        if not all(is_true(block.get(f)) for f in flags):
            yield Finding("S3_PRIVATE_RETAINED", logical, "public access is not blocked on all four settings")
        if p.get("VersioningConfiguration", {}).get("Status") != "Enabled":
            yield Finding("S3_PRIVATE_RETAINED", logical, "versioning is not enabled")
        if bucket.get("DeletionPolicy") != "Retain" or bucket.get("UpdateReplacePolicy") != "Retain":
            yield Finding(
                "S3_PRIVATE_RETAINED", logical, "DeletionPolicy and UpdateReplacePolicy are not Retain"
            )


# --- Athena -----------------------------------------------------------------------------------------


@rule("ATHENA_RESULTS_ENCRYPTED", "workgroups enforce their settings and encrypt results with KMS")
def athena_results_encrypted(template: dict) -> Iterator[Finding]:
    for logical, wg in resources(template, "AWS::Athena::WorkGroup"):
        conf = props(wg).get("WorkGroupConfiguration", {})
        if not is_true(conf.get("EnforceWorkGroupConfiguration")):
            yield Finding("ATHENA_RESULTS_ENCRYPTED", logical, "EnforceWorkGroupConfiguration is not true")
        encryption = conf.get("ResultConfiguration", {}).get("EncryptionConfiguration", {})
        if encryption.get("EncryptionOption") not in ("SSE_KMS", "CSE_KMS") or not encryption.get("KmsKey"):
            yield Finding("ATHENA_RESULTS_ENCRYPTED", logical, "results are not encrypted with a KMS key")


@rule("ATHENA_SCAN_CUTOFF", "workgroups cancel a query past a bytes-scanned cutoff and publish metrics")
def athena_scan_cutoff(template: dict) -> Iterator[Finding]:
    for logical, wg in resources(template, "AWS::Athena::WorkGroup"):
        conf = props(wg).get("WorkGroupConfiguration", {})
        cutoff = _default(template, conf.get("BytesScannedCutoffPerQuery"))
        if cutoff is None or int(cutoff) <= 0:
            yield Finding("ATHENA_SCAN_CUTOFF", logical, "no BytesScannedCutoffPerQuery")
        if not is_true(conf.get("PublishCloudWatchMetricsEnabled")):
            yield Finding("ATHENA_SCAN_CUTOFF", logical, "CloudWatch metrics are not published")
        if conf.get("EngineVersion", {}).get("SelectedEngineVersion") != "Athena engine version 3":
            yield Finding("ATHENA_SCAN_CUTOFF", logical, "engine version 3 is not selected")


# --- Glue ---------------------------------------------------------------------------------------------


@rule(
    "GLUE_CRAWLER_POLICY", "crawlers state their schema-change and recrawl policies, consistently, encrypted"
)
def glue_crawler_policy(template: dict) -> Iterator[Finding]:
    for logical, crawler in resources(template, "AWS::Glue::Crawler"):
        p = props(crawler)
        schema = p.get("SchemaChangePolicy", {})
        recrawl = p.get("RecrawlPolicy", {}).get("RecrawlBehavior")
        if "UpdateBehavior" not in schema or "DeleteBehavior" not in schema:
            yield Finding(
                "GLUE_CRAWLER_POLICY",
                logical,
                "SchemaChangePolicy must state UpdateBehavior and DeleteBehavior",
            )
        if recrawl is None:
            yield Finding("GLUE_CRAWLER_POLICY", logical, "no RecrawlPolicy")
        if recrawl == "CRAWL_NEW_FOLDERS_ONLY" and (
            schema.get("UpdateBehavior"),
            schema.get("DeleteBehavior"),
        ) != (
            "LOG",
            "LOG",
        ):
            yield Finding(
                "GLUE_CRAWLER_POLICY",
                logical,
                "CRAWL_NEW_FOLDERS_ONLY needs UpdateBehavior and DeleteBehavior LOG",
            )
        if schema.get("DeleteBehavior") == "DELETE_FROM_DATABASE":
            yield Finding(
                "GLUE_CRAWLER_POLICY", logical, "DELETE_FROM_DATABASE drops tables when data expires"
            )
        if not p.get("CrawlerSecurityConfiguration"):
            yield Finding("GLUE_CRAWLER_POLICY", logical, "no CrawlerSecurityConfiguration")


@rule(
    "GLUE_JOB_SETTINGS", "Glue jobs: 5.x, security configuration, timeout, one run at a time, logs, bookmarks"
)
def glue_job_settings(template: dict) -> Iterator[Finding]:
    for logical, job in resources(template, "AWS::Glue::Job"):
        p = props(job)
        args = p.get("DefaultArguments", {})
        if not str(p.get("GlueVersion", "")).startswith("5."):
            yield Finding("GLUE_JOB_SETTINGS", logical, "GlueVersion is not 5.x")
        if not p.get("SecurityConfiguration"):
            yield Finding("GLUE_JOB_SETTINGS", logical, "no SecurityConfiguration")
        if not p.get("Timeout"):
            yield Finding("GLUE_JOB_SETTINGS", logical, "no Timeout")
        if p.get("ExecutionProperty", {}).get("MaxConcurrentRuns") != 1:
            yield Finding("GLUE_JOB_SETTINGS", logical, "MaxConcurrentRuns is not 1")
        if args.get("--enable-continuous-cloudwatch-log") != "true":
            yield Finding("GLUE_JOB_SETTINGS", logical, "continuous logging is off")
        if "--job-bookmark-option" not in args:
            yield Finding("GLUE_JOB_SETTINGS", logical, "--job-bookmark-option is left to the default")


@rule("GLUE_ENCRYPTION", "Glue security configurations and the Data Catalog encrypt with KMS")
def glue_encryption(template: dict) -> Iterator[Finding]:
    for logical, sc in resources(template, "AWS::Glue::SecurityConfiguration"):
        enc = props(sc).get("EncryptionConfiguration", {})
        s3 = [e.get("S3EncryptionMode") for e in enc.get("S3Encryptions", [])]
        if s3 != ["SSE-KMS"]:
            yield Finding("GLUE_ENCRYPTION", logical, "S3 output is not SSE-KMS")
        if enc.get("CloudWatchEncryption", {}).get("CloudWatchEncryptionMode") != "SSE-KMS":
            yield Finding("GLUE_ENCRYPTION", logical, "CloudWatch logs are not SSE-KMS")
        if enc.get("JobBookmarksEncryption", {}).get("JobBookmarksEncryptionMode") != "CSE-KMS":
            yield Finding("GLUE_ENCRYPTION", logical, "job bookmarks are not CSE-KMS")
    for logical, settings in resources(template, "AWS::Glue::DataCatalogEncryptionSettings"):
        s = props(settings).get("DataCatalogEncryptionSettings", {})
        if s.get("EncryptionAtRest", {}).get("CatalogEncryptionMode") != "SSE-KMS":
            yield Finding("GLUE_ENCRYPTION", logical, "the Data Catalog is not SSE-KMS")
        if not is_true(s.get("ConnectionPasswordEncryption", {}).get("ReturnConnectionPasswordEncrypted")):
            yield Finding("GLUE_ENCRYPTION", logical, "connection passwords are not encrypted")


# --- Lake Formation -----------------------------------------------------------------------------------


@rule("LF_NO_IAM_ALLOWED_PRINCIPALS", "Lake Formation alone grants access: no IAMAllowedPrincipals defaults")
def lf_no_iam_allowed_principals(template: dict) -> Iterator[Finding]:
    for logical, settings in resources(template, "AWS::LakeFormation::DataLakeSettings"):
        p = props(settings)
        if not p.get("Admins"):
            yield Finding("LF_NO_IAM_ALLOWED_PRINCIPALS", logical, "no Lake Formation admins")
        for key in ("CreateDatabaseDefaultPermissions", "CreateTableDefaultPermissions"):
            if p.get(key) != []:
                yield Finding(
                    "LF_NO_IAM_ALLOWED_PRINCIPALS", logical, f"{key} must be an explicit empty list"
                )
    for logical, db in resources(template, "AWS::Glue::Database"):
        if props(db).get("DatabaseInput", {}).get("CreateTableDefaultPermissions") != []:
            yield Finding("LF_NO_IAM_ALLOWED_PRINCIPALS", logical, "CreateTableDefaultPermissions must be []")
    for logical, grant in resources(
        template, "AWS::LakeFormation::PrincipalPermissions", "AWS::LakeFormation::Permissions"
    ):
        principal = props(grant).get("Principal") or props(grant).get("DataLakePrincipal") or {}
        if "IAM_ALLOWED_PRINCIPALS" in str(principal.get("DataLakePrincipalIdentifier")):
            yield Finding("LF_NO_IAM_ALLOWED_PRINCIPALS", logical, "grants to IAM_ALLOWED_PRINCIPALS")


def _persona(template: dict, grant: dict) -> str | None:
    """The datalake:principal tag of the role a grant names (None when it names no tagged role)."""
    identifier = props(grant).get("Principal", {}).get("DataLakePrincipalIdentifier")
    getatt = identifier.get("Fn::GetAtt") if isinstance(identifier, dict) else None
    if getatt is None:
        return None
    logical = getatt.split(".")[0] if isinstance(getatt, str) else getatt[0]
    role = template.get("Resources", {}).get(logical, {})
    tags = {t.get("Key"): t.get("Value") for t in props(role).get("Tags", [])}
    return tags.get(PRINCIPAL_TAG)


def _grant_target(grant: dict) -> tuple[str, str | None, str, dict]:
    """(database, table or None for a wildcard, resource kind, resource body) of a grant."""
    resource = props(grant).get("Resource", {})
    for kind in ("Table", "TableWithColumns"):
        if kind in resource:
            body = resource[kind]
            table = None if "TableWildcard" in body else body.get("Name")
            return body.get("DatabaseName"), table, kind, body
    if "Database" in resource:
        return resource["Database"].get("Name"), None, "Database", resource["Database"]
    return "", None, "DataLocation", resource.get("DataLocation", {})


@rule(
    "LF_PRINCIPALS_TAGGED",
    "grants use PrincipalPermissions on a role of the template tagged with its persona",
)
def lf_principals_tagged(template: dict) -> Iterator[Finding]:
    for logical, _ in resources(template, "AWS::LakeFormation::Permissions"):
        yield Finding("LF_PRINCIPALS_TAGGED", logical, "use AWS::LakeFormation::PrincipalPermissions")
    for logical, grant in resources(template, "AWS::LakeFormation::PrincipalPermissions"):
        if _persona(template, grant) is None:
            yield Finding(
                "LF_PRINCIPALS_TAGGED", logical, f"the principal is not a role tagged {PRINCIPAL_TAG}"
            )


@rule("LF_RAW_ETL_ONLY", "only the ETL roles are granted anything on the raw database")
def lf_raw_etl_only(template: dict) -> Iterator[Finding]:
    for logical, grant in resources(template, "AWS::LakeFormation::PrincipalPermissions"):
        database, _, _, _ = _grant_target(grant)
        if database == "raw" and _persona(template, grant) != "etl":
            yield Finding("LF_RAW_ETL_ONLY", logical, "a role other than the ETL ones is granted on raw")


def _personal_columns_granted(table: str, kind: str, body: dict, personal: set[str]) -> Iterator[str]:
    """Why a grant on ``table`` lets its principal read one of the ``personal`` columns (nothing if not)."""
    if kind == "Table":
        yield f"processed.{table} granted with every column"
    elif "ColumnWildcard" in body:
        missing = personal - set(body["ColumnWildcard"].get("ExcludedColumnNames", []))
        if missing:
            yield f"personal columns not excluded: {sorted(missing)}"
    elif personal & set(body.get("ColumnNames", [])):
        yield "personal columns are granted by name"


@rule(
    "LF_PERSONAL_DATA",
    "no persona nor the quality gate reads personal-data columns or passes grants on; "
    "personas never get the quarantine, the quality gate only without raw_record",
)
def lf_personal_data(template: dict) -> Iterator[Finding]:
    for logical, grant in resources(template, "AWS::LakeFormation::PrincipalPermissions"):
        principal = _persona(template, grant)
        if principal == "etl":
            continue
        if props(grant).get("PermissionsWithGrantOption"):
            yield Finding("LF_PERSONAL_DATA", logical, f"{principal} may not pass its permissions on")
        database, table, kind, body = _grant_target(grant)
        if database != "processed" or kind in ("Database", "DataLocation"):
            continue
        if table is None:
            yield Finding(
                "LF_PERSONAL_DATA", logical, "a table wildcard on processed includes clients and quarantine"
            )
        elif (database, table) == QUARANTINE and principal != QUALITY_GATE:
            yield Finding("LF_PERSONAL_DATA", logical, f"processed.{table} holds personal data in raw_record")
        elif (database, table) == QUARANTINE or table in PERSONAL_COLUMNS:
            personal = QUARANTINE_PERSONAL_COLUMNS if table == QUARANTINE[1] else PERSONAL_COLUMNS[table]
            for message in _personal_columns_granted(table, kind, body, personal):
                yield Finding("LF_PERSONAL_DATA", logical, message)


# --- Secrets, IAM, KMS, audit, warehouse ---------------------------------------------------------------


def _literal_secret(value) -> bool:
    return isinstance(value, str) and not DYNAMIC_SECRET.match(value)


def _walk_properties(node, path="") -> Iterator[tuple[str, object]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}" if path else key, value
            yield from _walk_properties(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_properties(value, f"{path}[{i}]")


@rule("NO_PLAINTEXT_PASSWORD", "no password in a parameter default or a property; Redshift manages its own")
def no_plaintext_password(template: dict) -> Iterator[Finding]:
    for name, spec in template.get("Parameters", {}).items():
        if PASSWORD_NAME.search(name):
            if "Default" in spec:
                yield Finding("NO_PLAINTEXT_PASSWORD", name, "a secret parameter has a default value")
            if not is_true(spec.get("NoEcho")):
                yield Finding("NO_PLAINTEXT_PASSWORD", name, "a secret parameter is not NoEcho")
    for logical, resource in template.get("Resources", {}).items():
        for path, value in _walk_properties(props(resource)):
            key = path.rsplit(".", 1)[-1]
            if (
                PASSWORD_NAME.search(key)
                and key.endswith(("Password", "password"))
                and _literal_secret(value)
            ):
                yield Finding(
                    "NO_PLAINTEXT_PASSWORD", logical, f"{path} is a literal; use a managed password"
                )
    for logical, ns in resources(template, "AWS::RedshiftServerless::Namespace"):
        if not is_true(props(ns).get("ManageAdminPassword")):
            yield Finding("NO_PLAINTEXT_PASSWORD", logical, "ManageAdminPassword is not true")
    for logical, cluster in resources(template, "AWS::Redshift::Cluster"):
        if not is_true(props(cluster).get("ManageMasterPassword")):
            yield Finding("NO_PLAINTEXT_PASSWORD", logical, "ManageMasterPassword is not true")


def _policy_documents(resource: dict) -> Iterator[dict]:
    p = props(resource)
    for key in ("PolicyDocument", "KeyPolicy"):
        if key in p:
            yield p[key]
    for policy in p.get("Policies", []):
        yield policy.get("PolicyDocument", {})


@rule("IAM_NO_WILDCARD_ACTIONS", "no Allow statement grants a wildcard action or uses NotAction")
def iam_no_wildcard_actions(template: dict) -> Iterator[Finding]:
    for logical, resource in template.get("Resources", {}).items():
        for document in _policy_documents(resource):
            for statement in as_list(document.get("Statement", [])):
                if statement.get("Effect") != "Allow":
                    continue
                if "NotAction" in statement:
                    yield Finding("IAM_NO_WILDCARD_ACTIONS", logical, "an Allow statement uses NotAction")
                wild = [a for a in as_list(statement.get("Action", [])) if isinstance(a, str) and "*" in a]
                if wild:
                    yield Finding("IAM_NO_WILDCARD_ACTIONS", logical, f"wildcard actions {wild}")


@rule(
    "AUDIT_TRAIL",
    "KMS keys rotate; the trail is multi-region, validated, encrypted and logs lake data events",
)
def audit_trail(template: dict) -> Iterator[Finding]:
    for logical, key in resources(template, "AWS::KMS::Key"):
        if not is_true(props(key).get("EnableKeyRotation")):
            yield Finding("AUDIT_TRAIL", logical, "key rotation is off")
    for logical, trail in resources(template, "AWS::CloudTrail::Trail"):
        p = props(trail)
        for flag in ("IsMultiRegionTrail", "EnableLogFileValidation", "IsLogging"):
            if not is_true(p.get(flag)):
                yield Finding("AUDIT_TRAIL", logical, f"{flag} is not true")
        if not p.get("KMSKeyId"):
            yield Finding("AUDIT_TRAIL", logical, "log files are not KMS-encrypted")
        data = [d for s in p.get("EventSelectors", []) for d in s.get("DataResources", [])]
        if not any(d.get("Type") == "AWS::S3::Object" for d in data):
            yield Finding("AUDIT_TRAIL", logical, "no S3 data events")


@rule("REDSHIFT_PRIVATE", "the warehouse is KMS-encrypted, private, TLS-only and audit-logged")
def redshift_private(template: dict) -> Iterator[Finding]:
    for logical, ns in resources(template, "AWS::RedshiftServerless::Namespace"):
        p = props(ns)
        if not p.get("KmsKeyId"):
            yield Finding("REDSHIFT_PRIVATE", logical, "not encrypted with a customer-managed KMS key")
        if not {"connectionlog", "useractivitylog", "userlog"} <= set(p.get("LogExports", [])):
            yield Finding("REDSHIFT_PRIVATE", logical, "audit logs are not all exported")
    for logical, wg in resources(template, "AWS::RedshiftServerless::Workgroup"):
        p = props(wg)
        if p.get("PubliclyAccessible") is not False:
            yield Finding("REDSHIFT_PRIVATE", logical, "PubliclyAccessible is not false")
        config = {
            c.get("ParameterKey"): str(c.get("ParameterValue")).lower() for c in p.get("ConfigParameters", [])
        }
        if config.get("require_ssl") != "true":
            yield Finding("REDSHIFT_PRIVATE", logical, "require_ssl is not true")
        if config.get("enable_user_activity_logging") != "true":
            yield Finding("REDSHIFT_PRIVATE", logical, "user activity logging is off")


@rule("OUTPUTS_DESCRIBED", "every output has a description")
def outputs_described(template: dict) -> Iterator[Finding]:
    for name, output in template.get("Outputs", {}).items():
        if not output.get("Description"):
            yield Finding("OUTPUTS_DESCRIBED", name, "no Description")


# --- running them ---------------------------------------------------------------------------------------


def _skips(template: dict) -> tuple[dict[tuple[str, str], str], list[Finding]]:
    skips, problems = {}, []
    for logical, resource in template.get("Resources", {}).items():
        for skip in (resource.get("Metadata") or {}).get(SKIP_KEY, {}).get("skip", []):
            if not str(skip.get("reason", "")).strip():
                problems.append(
                    Finding("SKIP_WITHOUT_REASON", logical, f"skip of {skip.get('id')} has no reason")
                )
            elif skip.get("id") not in RULES:
                problems.append(
                    Finding("SKIP_WITHOUT_REASON", logical, f"skip of unknown rule {skip.get('id')}")
                )
            else:
                skips[(skip["id"], logical)] = skip["reason"]
    return skips, problems


def check_template(template: dict) -> list[Finding]:
    """Every finding of every rule on one decoded template, minus the reasoned skips."""
    skips, findings = _skips(template)
    for _, check in RULES.values():
        findings.extend(f for f in check(template) if (f.rule, f.resource) not in skips)
    return findings


def check_file(path: Path) -> list[Finding]:
    return check_template(decode(Path(path)))


def main(paths: list[str]) -> int:
    failed = 0
    for path in paths:
        for finding in check_file(Path(path)):
            print(f"{path}: {finding}")
            failed += 1
    print(f"{failed} finding(s) in {len(paths)} template(s), {len(RULES)} rules")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
