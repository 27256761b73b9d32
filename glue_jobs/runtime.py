"""What every Glue entry script needs: its arguments read the Glue way, a Spark session, failure reporting.

On AWS Glue the ``awsglue`` library is present: arguments come from ``getResolvedOptions`` and the session
from the ``GlueContext``. Anywhere else (``spark-submit glue_jobs/<job>.py --arg value`` on the local target,
or any Spark cluster) the same script parses the same ``--arg value`` pairs itself and builds a local
SparkSession configured like Glue 5. Kept out of ``glue_jobs/lib`` so that the lib never imports awsglue.

Every entry script has one shape: ``arguments(argv)`` (resolved and validated, no Spark) → ``start_job`` →
one call → ``commit`` → ``stop`` in ``finally``, run by ``run_script(main)``. No script touches ``sys.path``:
``glue_jobs`` is imported as a package, from ``--extra-py-files`` on Glue and from the ``PYTHONPATH`` the
local runner sets (``energy_datalake.emulator.glue_etl``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Settings every job relies on, whichever the platform: UTC timestamps, run-date partitions replaced
# (never the whole table), Snappy Parquet.
SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.parquet.compression.codec": "snappy",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
}

# The exit code of a DeterministicJobFailure off Glue: the local runner tells it from a crash by it.
DETERMINISTIC_EXIT_CODE = 3


class DeterministicJobFailure(Exception):
    """A failure that running the job again on the same inputs cannot fix: bad or missing arguments, a
    quarantine threshold passed, a warehouse not set up.

    Its class name is the contract with the orchestrator, which does not retry it: on Glue it propagates
    uncaught, so the job run's ErrorMessage names it; elsewhere ``run_script`` turns it into one line on
    stderr and ``DETERMINISTIC_EXIT_CODE``.
    """


def resolve_options(
    argv: Sequence[str], required: Sequence[str], optional: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``getResolvedOptions`` semantics on every platform: ``--name value`` pairs after ``argv[0]``.

    ``required`` names must be given, ``optional`` ones fall back to their default, other arguments (Glue's
    own: ``--job-bookmark-option``, ``--enable-metrics``, ...) are ignored. On Glue the platform's parser
    reads them; it is never asked for a name it registers itself (``glue_reserved_names``, an argparse
    conflict), yet returns those names' values whenever they are given. A missing required name, or a value
    Glue's parser refuses, is a DeterministicJobFailure naming it.
    """
    optional = dict(optional or {})
    given = _pairs(argv)
    missing = [name for name in required if name not in given]
    if missing:
        raise DeterministicJobFailure(
            f"missing required job arguments: {', '.join('--' + name for name in missing)}"
        )
    try:
        from awsglue.utils import GlueArgumentError, getResolvedOptions
    except ImportError:
        wanted = {*required, *optional}
        return {**optional, **{name: value for name, value in given.items() if name in wanted}}

    reserved = glue_reserved_names()
    asked = [name for name in (*required, *optional) if name not in reserved and name in given]
    try:
        parsed = getResolvedOptions(list(argv), asked)
    except (GlueArgumentError, RuntimeError) as error:
        raise DeterministicJobFailure(f"bad job arguments: {error}") from None
    resolved = {**optional, **{name: value for name, value in parsed.items() if value is not None}}
    for name in reserved & {*required, *optional}:
        # Hyphenated options come back under argparse's names (job-bookmark-option → job_bookmark_option).
        value = parsed.get(name.replace("-", "_"))
        if value is not None:
            resolved[name] = value
    return resolved


def glue_reserved_names() -> frozenset[str]:
    """The options Glue's ``getResolvedOptions`` registers itself, read from its own ``Job`` class (the same
    calls its parser makes), so a new Glue library cannot drift from this list. Needs awsglue."""
    from awsglue.job import Job

    flags = [
        Job.job_bookmark_options()[0],
        Job.continuation_options()[0],
        *Job.job_bookmark_range_options(),
        # id_params()[0] is JOB_NAME, which the parser leaves to the script.
        *Job.id_params()[1:],
        Job.encryption_type_options()[0],
        Job.data_lineage_options()[0],
        "--RedshiftTempDir",
        "--TempDir",
    ]
    return frozenset(flag.removeprefix("--") for flag in flags)


def _pairs(argv: Sequence[str]) -> dict[str, str]:
    """Every ``--name value`` / ``--name=value`` after ``argv[0]``; a later repeat wins, as in argparse."""
    pairs: dict[str, str] = {}
    args = list(argv[1:])
    i = 0
    while i < len(args):
        if args[i].startswith("--"):
            name, eq, value = args[i][2:].partition("=")
            if not eq:
                value = args[i + 1] if i + 1 < len(args) else ""
                i += 1
            pairs[name] = value
        i += 1
    return pairs


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def run_date(args: Mapping[str, str]) -> dt.date:
    """The run's ``--run_date``: the one place it is validated, for every job."""
    value = args["run_date"]
    try:
        if _DATE.fullmatch(value):
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise DeterministicJobFailure(f"--run_date must be a date YYYY-MM-DD, not {value!r}")


def fraction(args: Mapping[str, str], name: str) -> float:
    """A share between 0 and 1 (a threshold), or a DeterministicJobFailure naming ``--name``."""
    value = args[name]
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 <= number <= 1:
        raise DeterministicJobFailure(f"--{name} must be a number between 0 and 1, not {value!r}")
    return number


def on_glue(argv: Sequence[str] | None = None) -> bool:
    """True inside a Glue job run: Glue always starts a script with its run id and its library; the local
    runner (and spark-submit by hand) never passes ``--JOB_RUN_ID``."""
    if "JOB_RUN_ID" not in _pairs(sys.argv if argv is None else argv):
        return False
    try:
        import awsglue.utils  # noqa: F401
    except ImportError:
        return False
    return True


def run_script(main: Callable[[list[str]], object], argv: Sequence[str] | None = None) -> None:
    """Run an entry script's ``main(argv)``. A DeterministicJobFailure propagates uncaught on Glue (the run's
    ErrorMessage then carries its class name and message); elsewhere it is one line on stderr, no traceback,
    and the exit code ``DETERMINISTIC_EXIT_CODE``."""
    argv = list(sys.argv if argv is None else argv)
    if on_glue(argv):
        main(argv)
        return
    try:
        main(argv)
    except DeterministicJobFailure as failure:
        message = " ".join(str(failure).splitlines())
        print(f"{DeterministicJobFailure.__name__}: {message}", file=sys.stderr, flush=True)
        raise SystemExit(DETERMINISTIC_EXIT_CODE) from None


@dataclass
class JobContext:
    spark: Any
    glue_context: Any = None
    job: Any = None
    # False when the session is lent by a session_host, whose context outlives the job.
    owns_spark: bool = True

    def commit(self) -> None:
        if self.job is not None:
            self.job.commit()

    def stop(self) -> None:
        # On Glue the platform owns the SparkContext and stops it after the script; a session host keeps
        # its context for the next job and cleans up after this one itself.
        if self.glue_context is None and self.owns_spark:
            self.spark.stop()


# Set by a process that runs many jobs on one SparkContext (the local target's warm Glue runtime,
# energy_datalake.emulator.glue_runtime): called with the job's name, it lends the job a session of its own.
session_host: Callable[[str], Any] | None = None


def start_job(args: Mapping[str, str], app_name: str) -> JobContext:
    """The GlueContext's session on Glue, a local SparkSession elsewhere (lent by ``session_host`` when one
    is set). ``args`` is everything ``resolve_options`` returned: ``Job.init`` wants Glue's own options too."""
    if on_glue():
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from pyspark.context import SparkContext

        sc = SparkContext.getOrCreate()
        glue_context = GlueContext(sc)
        spark = glue_context.spark_session
        for key, value in SPARK_CONF.items():
            spark.conf.set(key, value)
        job = Job(glue_context)
        job.init(args.get("JOB_NAME", app_name), dict(args))
        return JobContext(spark=spark, glue_context=glue_context, job=job)

    name = args.get("JOB_NAME", app_name)
    if session_host is not None:
        # The host's context was built by local_session_builder; set the session's own settings as on Glue.
        spark = session_host(name)
        for key, value in SPARK_CONF.items():
            spark.conf.set(key, value)
        return JobContext(spark=spark, owns_spark=False)
    return JobContext(spark=local_session_builder(name).getOrCreate())


def local_session_builder(app_name: str):
    """The builder of the local SparkSession: Glue 5's settings and LOCAL_CONF, on DATALAKE_SPARK_MASTER
    unless spark-submit was given a master."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if not os.environ.get("SPARK_MASTER") and "spark.master" not in os.environ.get("PYSPARK_SUBMIT_ARGS", ""):
        builder = builder.master(os.environ.get("DATALAKE_SPARK_MASTER", "local[*]"))
    for key, value in {**SPARK_CONF, **LOCAL_CONF}.items():
        builder = builder.config(key, value)
    return builder


# Only for local mode: a small machine, so few shuffle partitions and no UI.
LOCAL_CONF = {
    "spark.sql.shuffle.partitions": os.environ.get("DATALAKE_SHUFFLE_PARTITIONS", "8"),
    "spark.ui.enabled": "false",
    "spark.driver.memory": os.environ.get("DATALAKE_SPARK_DRIVER_MEMORY", "4g"),
    "spark.sql.adaptive.enabled": "true",
    # The contract's rules make generated methods above HotSpot's 8000-byte limit, which it would leave
    # interpreted (about twice as slow on raw-to-processed at 1 M rows). Takes effect only where this
    # process starts the JVM (pyspark, not spark-submit).
    "spark.driver.extraJavaOptions": "-XX:-DontCompileHugeMethods",
}
