-- Nothing lost between raw and processed: for each entity, the data rows raw-to-processed read from the run
-- date's raw files (the load manifest's rows_read, counted by the job's exact CSV reader) = rows in processed
-- + rows in the quarantine + rows of files quarantined whole + duplicates removed. The processed and
-- quarantined rows are counted from their tables, not taken from the manifest. The raw CSV is not counted
-- here: Athena's CSV readers split a quoted newline (clients' addresses and names may hold one) where the
-- contract's reader does not, so a count of the raw table would disagree on AWS alone. An entity without a
-- manifest row (the job never read it) fails.
WITH entities AS (
    SELECT entity FROM (VALUES ('providers'), ('clients'), ('transactions')) AS e (entity)
),
processed_rows AS (
    SELECT 'providers' AS entity, count(*) AS n FROM processed.providers WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
    UNION ALL
    SELECT 'clients', count(*) FROM processed.clients WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
    UNION ALL
    SELECT 'transactions', count(*) FROM processed.transactions WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
),
quarantined_rows AS (
    SELECT entity, count(*) AS n
    FROM processed.quarantine
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}' AND line_number IS NOT NULL
    GROUP BY entity
),
manifest AS (
    SELECT entity,
           sum(rows_read) AS rows_read,
           sum(CASE WHEN status = 'quarantined' THEN rows_read ELSE 0 END) AS whole_file_rows,
           sum(CASE WHEN status = 'quarantined' THEN 0 ELSE rows_duplicate END) AS duplicate_rows
    FROM processed.load_manifest
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
    GROUP BY entity
)
SELECT 'raw_reconciliation' AS check_name,
       'processed.' || e.entity AS table_name,
       CASE
           WHEN m.entity IS NULL THEN 1
           ELSE abs(m.rows_read - (coalesce(p.n, 0) + coalesce(q.n, 0) + m.whole_file_rows + m.duplicate_rows))
       END AS failures
FROM entities AS e
LEFT JOIN manifest AS m ON m.entity = e.entity
LEFT JOIN processed_rows AS p ON p.entity = e.entity
LEFT JOIN quarantined_rows AS q ON q.entity = e.entity
