"""The CloudFormation templates as the single source of truth for names and settings.

The local target and the DAG read bucket names, catalog databases, crawlers, Glue jobs and their default
arguments, Athena workgroups and the Lake Formation grants from ``cloudformation/`` (resolved with
``parameters/<env>.json``) instead of repeating them in Python.

API (implemented by the CloudFormation work; the signatures are what the rest of the code relies on):

- ``load(env=None) -> Environment``: parsed and resolved templates of one environment (cached).
- ``Environment.lake_bucket``: name of the lake bucket, e.g. ``energy-trading-datalake-dev``.
- ``Environment.buckets``: {logical purpose: bucket name} for ``lake``, ``athena_results``, ``glue_scripts``,
  ``access_logs``.
- ``Environment.databases``: {database name: {"Description": ..., "LocationUri": ...}}.
- ``Environment.crawlers``: {crawler name: Crawler(name, database, s3_targets: list[str],
  schema_change_policy: dict, recrawl_policy: dict, table_prefix: str | None)}.
- ``Environment.jobs``: {glue job name: GlueJob(name, script_location: str (s3 uri),
  default_arguments: dict[str, str], timeout_minutes: int, worker_type, number_of_workers, glue_version)}.
  The local target maps the job name to ``glue_jobs/<name with - → _>.py``.
- ``Environment.workgroups``: {name: Workgroup(name, bytes_scanned_cutoff: int | None,
  output_location: str, enforce: bool)}.
- ``Environment.grants``: list[Grant(principal: str (persona / workgroup name, or "etl"), database: str,
  table: str | None (None = every table of the database), permissions: tuple[str, ...],
  excluded_columns: tuple[str, ...])].
- ``Environment.warehouse``: {"schema": "energy", "database": ...}.
"""
