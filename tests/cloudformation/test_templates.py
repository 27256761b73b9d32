"""templates.py: the names and settings the rest of the code reads from cloudformation/, per environment."""

from __future__ import annotations

import json
import shutil

import pytest

from energy_datalake import config, templates
from glue_jobs.lib.contract import CONTRACT
from glue_jobs.lib.curated_tables import CURATED_TABLES

ENVIRONMENTS = ("dev", "prod")
JOBS = ("raw-to-processed", "processed-to-curated", "curated-to-redshift")
PERSONAS = ("analysts", "reporting", "data-science")
QUALITY_GATE = templates.QUALITY_GATE
# Contract types as the Glue (Hive) catalog spells them.
HIVE_TYPES = {
    "string": "string",
    "enum": "string",
    "boolean": "boolean",
    "timestamp": "timestamp",
    "date": "date",
}


# The stacks' templates and the bootstrap one (the deploy role, deployed by a person before the others).
ALL_TEMPLATES = [
    *templates.template_paths(),
    *sorted((config.CLOUDFORMATION_DIR / "bootstrap").glob("*.yaml")),
]


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def env(request):
    return templates.load(request.param)


def test_buckets_follow_the_naming_convention(env):
    prefix = f"energy-trading-datalake-{env.name}"
    assert env.lake_bucket == prefix
    assert env.buckets["athena_results"] == f"{prefix}-athena-results"
    assert env.buckets["glue_scripts"] == f"{prefix}-glue-scripts"
    assert env.buckets["access_logs"] == f"{prefix}-access-logs"


def test_databases_and_their_zones(env):
    assert set(env.databases) == {"raw", "processed", "curated"}
    for name, db in env.databases.items():
        assert db["LocationUri"] == f"s3://{env.lake_bucket}/{name}/"


def test_crawlers_target_the_zones(env):
    lake = f"s3://{env.lake_bucket}"
    raw = env.crawlers["raw-data-crawler"]
    assert raw.database == "raw"
    assert raw.s3_targets == [f"{lake}/raw/{e}/" for e in ("providers", "clients", "transactions")]
    processed = env.crawlers["processed-data-crawler"]
    assert processed.database == "processed"
    assert {f"{lake}/processed/{t}/" for t in ("quarantine", "load_manifest")} <= set(processed.s3_targets)
    # Only partitions are added to the declared processed tables; their schema is the contract's.
    assert processed.schema_change_policy == {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}
    assert processed.recrawl_policy == {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"}
    curated = env.crawlers["curated-data-crawler"]
    assert curated.database == "curated"
    # One target per KPI table: from the zone's root Glue merges same-shaped tables into one.
    assert curated.s3_targets == [f"{lake}/curated/{t}/" for t in CURATED_TABLES]


def test_jobs_and_the_arguments_the_scripts_read(env):
    assert set(env.jobs) == set(JOBS)
    lake, scripts = env.lake_bucket, env.buckets["glue_scripts"]
    expected = {
        "raw-to-processed": {
            "--raw_path": f"s3://{lake}/raw/",
            "--processed_path": f"s3://{lake}/processed/",
            "--quarantine_threshold": "0.05",
        },
        "processed-to-curated": {
            "--processed_path": f"s3://{lake}/processed/",
            "--curated_path": f"s3://{lake}/curated/",
        },
        "curated-to-redshift": {
            "--curated_path": f"s3://{lake}/curated/",
            "--processed_path": f"s3://{lake}/processed/",
            "--connection_name": f"energy-trading-datalake-{env.name}-redshift",
            "--database": env.warehouse["database"],
        },
    }
    # Unversioned until the deploy step sets GlueCodeVersion to the uploaded code's hash.
    code = f"s3://{scripts}/glue_jobs/unversioned"
    for name, job in env.jobs.items():
        assert job.script_location == f"{code}/{name.replace('-', '_')}.py"
        assert job.glue_version == "5.0"
        assert job.max_concurrent_runs == 1
        args = job.default_arguments
        assert expected[name].items() <= args.items()
        assert args["--extra-py-files"] == f"{code}/glue_jobs.zip"
        assert args["--enable-continuous-cloudwatch-log"] == "true"
        assert args["--job-bookmark-option"] == "job-bookmark-disable"
        assert args["--TempDir"].startswith("s3://")
    assert env.jobs["curated-to-redshift"].default_arguments["--redshift_tmp_dir"].endswith("/redshift/")


def test_parameters_differ_per_environment():
    dev, prod = templates.load("dev"), templates.load("prod")
    assert dev.jobs["raw-to-processed"].number_of_workers < prod.jobs["raw-to-processed"].number_of_workers
    assert dev.workgroups["analysts"].bytes_scanned_cutoff < prod.workgroups["analysts"].bytes_scanned_cutoff


def test_workgroups(env):
    assert set(env.workgroups) == {*PERSONAS, QUALITY_GATE}
    for name, wg in env.workgroups.items():
        assert wg.principal == name
        assert wg.enforce
        assert wg.bytes_scanned_cutoff and wg.bytes_scanned_cutoff > 0
        assert wg.output_location == f"s3://{env.buckets['athena_results']}/{name}/"
        assert wg.encryption_option == "SSE_KMS"
        assert wg.engine_version == "Athena engine version 3"


def test_warehouse(env):
    assert env.warehouse == {"schema": "energy", "database": "energy"}


def _readers(env, database, table):
    return {g.principal for g in env.grants if g.database == database and g.table in (None, table)}


def test_grants_follow_the_access_table_of_the_design(env):
    assert {g.principal for g in env.grants} == {*PERSONAS, "etl", QUALITY_GATE}
    assert _readers(env, "raw", "clients") == {"etl"}
    assert _readers(env, "processed", "quarantine") == {"etl", QUALITY_GATE}
    assert _readers(env, "processed", "transactions") == {"etl", "analysts", "data-science", QUALITY_GATE}
    assert _readers(env, "curated", "daily_energy_balance") == {"etl", QUALITY_GATE, *PERSONAS}
    # The quality gate counts the quarantine's rows; the original row text stays ETL-only.
    (quarantine,) = [g for g in env.grants if (g.principal, g.table) == (QUALITY_GATE, "quarantine")]
    assert (quarantine.excluded_columns, quarantine.columns) == (("raw_record",), None)
    # Every grant that lets a persona read processed rows names the table (no wildcard over quarantine).
    persona_processed = [g for g in env.grants if g.database == "processed" and g.principal != "etl"]
    assert persona_processed and all(g.table is not None for g in persona_processed)


def test_personal_columns_are_excluded_exactly_as_the_contract_flags_them(env):
    personal = set(CONTRACT["clients"].personal_columns)
    assert personal == {"tax_id", "full_name", "email"}
    client_grants = [g for g in env.grants if (g.database, g.table) == ("processed", "clients")]
    assert {g.principal for g in client_grants} == {"analysts", "data-science", QUALITY_GATE}
    for grant in client_grants:
        assert set(grant.excluded_columns) == personal
        assert grant.columns is None


def test_declared_processed_tables_match_the_contract(env):
    for entity in CONTRACT.values():
        table = env.tables[f"processed.{entity.name}"]
        expected = [(c.name, HIVE_TYPES.get(c.type, c.type)) for c in entity.columns] + [
            ("source_file", "string")
        ]
        assert list(table.columns) == expected
        assert table.partition_keys == ("year", "month", "day")
        assert table.location == f"s3://{env.lake_bucket}/processed/{entity.name}/"
    quarantine = env.tables["processed.quarantine"]
    assert [c for c, _ in quarantine.columns] == [
        "source_file",
        "line_number",
        "raw_record",
        "rule",
        "detail",
    ]
    assert quarantine.partition_keys == ("entity", "year", "month", "day")


def test_stacks_deploy_in_dependency_order(env):
    order = [s.template.stem for s in env.stacks]
    assert order[:3] == ["security", "storage", "catalog"]
    assert order.index("warehouse") < order.index("etl")
    for stack in env.stacks:
        assert stack.name == f"energy-trading-datalake-{env.name}-{stack.template.stem}"
        declared = set(templates.decode(stack.template).get("Parameters", {}))
        assert {p["ParameterKey"] for p in stack.parameters} == declared
    capabilities = {s.template.stem: s.capabilities for s in env.stacks}
    assert capabilities["etl"] == ("CAPABILITY_IAM",)
    assert capabilities["storage"] == ()
    # A RolePolicy names an existing role: no named IAM entity to acknowledge.
    assert capabilities["orchestration"] == ("CAPABILITY_IAM",)
    # Secrets Manager's transform expands into a nested stack with an unnamed role.
    assert capabilities["warehouse"] == ("CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND")
    transforms = {s.template.stem: s.transforms for s in env.stacks}
    assert transforms["warehouse"] == ("AWS::SecretsManager-2020-07-23",)
    assert {stem for stem, t in transforms.items() if t} == {"warehouse"}


def test_the_cfn_lint_decoder_reads_the_templates_the_same_way():
    from cfnlint.decode import decode_str

    for path in ALL_TEMPLATES:
        decoded, matches = decode_str(path.read_text())
        assert not matches
        assert json.loads(json.dumps(decoded)) == templates.decode(path), path.name


def _copy_templates(tmp_path):
    target = tmp_path / "cloudformation"
    shutil.copytree(templates.template_paths()[0].parent, target)
    return target


def test_a_parameter_outside_its_allowed_values_is_an_error(tmp_path):
    directory = _copy_templates(tmp_path)
    params_file = directory / "parameters" / "dev.json"
    params = json.loads(params_file.read_text())
    for p in params:
        if p["ParameterKey"] == "GlueWorkerType":
            p["ParameterValue"] = "G.huge"
    params_file.write_text(json.dumps(params))
    with pytest.raises(ValueError, match="GlueWorkerType='G.huge' is not one of"):
        templates.load("dev", directory)


def test_a_parameter_no_template_declares_is_an_error(tmp_path):
    directory = _copy_templates(tmp_path)
    params_file = directory / "parameters" / "dev.json"
    params = json.loads(params_file.read_text()) + [{"ParameterKey": "LakeBuckett", "ParameterValue": "x"}]
    params_file.write_text(json.dumps(params))
    with pytest.raises(ValueError, match="no template declares LakeBuckett"):
        templates.load("dev", directory)


def test_an_unknown_environment_is_an_error():
    with pytest.raises(FileNotFoundError, match="no parameters for environment 'staging'"):
        templates.load("staging")


def test_load_is_cached_and_follows_template_changes(tmp_path):
    directory = _copy_templates(tmp_path)
    first = templates.load("dev", directory)
    assert templates.load("dev", directory) is first
    storage = directory / "storage.yaml"
    storage.write_text(
        storage.read_text().replace(
            '"${ProjectName}-${Environment}-glue-scripts"', '"${ProjectName}-${Environment}-code"'
        )
    )
    assert templates.load("dev", directory).buckets["glue_scripts"] == "energy-trading-datalake-dev-code"


def test_quarantine_and_manifest_tables_match_what_raw_to_processed_writes(env):
    from glue_jobs.lib.raw_processing import MANIFEST_SCHEMA, QUARANTINE_SCHEMA

    for table, schema in (("quarantine", QUARANTINE_SCHEMA), ("load_manifest", MANIFEST_SCHEMA)):
        written = [(f.name, f.dataType.simpleString()) for f in schema.fields]
        assert list(env.tables[f"processed.{table}"].columns) == written, table


def test_the_deployment_guide_gives_the_deployment_order():
    guide = (config.REPO_ROOT / "docs" / "deployment.md").read_text()
    order = " → ".join(s.template.stem for s in templates.load("dev").stacks)
    assert f"    {order}\n" in guide


def _imported_names(template, resolve) -> set[str]:
    found = set()

    def walk(node):
        if isinstance(node, dict):
            if "Fn::ImportValue" in node:
                found.add(resolve(node["Fn::ImportValue"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(template.get("Resources", {}))
    return found


def test_every_export_is_imported_by_another_stack():
    def resolve(value):
        name = value["Fn::Sub"] if isinstance(value, dict) else value
        return name.replace("${ProjectName}", "P").replace("${Environment}", "E")

    exported, imported = {}, {}
    for path in templates.template_paths():
        template = templates.decode(path)
        for output in template.get("Outputs", {}).values():
            if "Export" in output:
                exported[resolve(output["Export"]["Name"])] = path.stem
        imported[path.stem] = _imported_names(template, resolve)
    for name, exporter in exported.items():
        importers = [stem for stem, names in imported.items() if name in names and stem != exporter]
        assert importers, f"{exporter} exports {name}, which no other stack imports"


def test_names_are_derived_from_the_project_and_environment_parameters():
    for path in ALL_TEMPLATES:
        text = path.read_text()
        assert text.count("energy-trading-datalake") == 1, path.name  # the ProjectName default only
        assert "-dev" not in text and "-prod" not in text, path.name


def test_an_intrinsic_function_it_cannot_resolve_is_an_error(tmp_path):
    directory = _copy_templates(tmp_path)
    storage = directory / "storage.yaml"
    storage.write_text(storage.read_text().replace("LogFilePrefix: lake/", "LogFilePrefix: !Base64 lake/"))
    with pytest.raises(ValueError, match="storage: Fn::Base64 is not supported"):
        templates.load("dev", directory)
